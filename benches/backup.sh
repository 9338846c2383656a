#!/bin/bash
# Backup and restore figures for docs/BENCHMARKS.md ("Backup and restore"), each beside its
# anchor in the same run: a plain `cp -r` of the same directory followed by `sync` (a backup's
# files are fsynced; a copy left in the page cache is not a backup), and the server's own write
# throughput without a backup running. Needs Debian's redis-tools (redis-benchmark, redis-cli).
#   benches/backup.sh target/release/orbit            (DIR=/tmp/orbit-backup-bench, NUM=10000000)
# Steps: a >= 2 GB database (orbit bench fillseq, 400-byte half-random values, kept) served
# with --wal-archive; 3x base backup vs cp -r; 3x restore vs cp -r; under a sustained SET load,
# the throughput while a backup runs and while cp -r runs against the phases alone beside them
# (3x each), the archive lag sampled meanwhile; an incremental backup after 5% churn; the
# restore to a point 1,000,000 writes after a base backup.
set -eu
ORBIT=$(realpath "$1"); DIR=${DIR:-/tmp/orbit-backup-bench}; NUM=${NUM:-10000000}
PORT=17001; HTTP=127.0.0.1:17002
rm -rf "$DIR"; mkdir -p "$DIR/gen"
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }
lag() { curl -s "http://$HTTP/metrics" | awk '/^orbit_wal_archive_lag_bytes /{print $2}'; }

"$ORBIT" bench fillseq --num "$NUM" --value-size 400 --batch 100 --sync none --keep --data-dir "$DIR/gen" 2>&1 | grep fillseq
mv "$DIR"/gen/db-bench-* "$DIR/data"
echo "database: $(du -sb "$DIR/data" | cut -f1) bytes"
"$ORBIT" serve --data-dir "$DIR/data" --resp-addr 127.0.0.1:$PORT --pg-addr "" --http-addr $HTTP \
  --wal-archive "$DIR/archive" --archive-timeout 1s 2> "$DIR/server.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
until curl -s "http://$HTTP/health" > /dev/null; do sleep 0.2; done

for i in 1 2 3; do
  t0=$(now); "$ORBIT" backup --server $HTTP --out "$DIR/full-$i" > /dev/null 2>&1; t1=$(now)
  cp -r "$DIR/data" "$DIR/cp-$i" && sync; t2=$(now)
  echo "base backup: $(secs $t0 $t1) s   cp -r: $(secs $t1 $t2) s   bytes: $(du -sb "$DIR/full-$i" | cut -f1)"
  rm -rf "$DIR/cp-$i"; [ $i = 1 ] || rm -rf "$DIR/full-$i"
done
for i in 1 2 3; do
  t0=$(now); "$ORBIT" restore --from "$DIR/full-1" --data-dir "$DIR/r-$i" --latest > /dev/null 2>&1; t1=$(now)
  cp -r "$DIR/full-1" "$DIR/rc-$i" && sync; t2=$(now)
  echo "restore: $(secs $t0 $t1) s   cp -r: $(secs $t1 $t2) s"
  rm -rf "$DIR/r-$i" "$DIR/rc-$i"
done

# Write throughput while a backup runs: one sustained SET load (a fixed key space, so
# compaction debt stays bounded); the server's command counter sampled every second, each
# second labelled with what ran beside the load: nothing, one full backup (run to its end,
# held to --backup-busy-rate while the server is busy), or one `cp -r` of the data directory
# (the anchor: a plain copy's cost). Three rounds; each loaded phase is compared with the mean
# of the unloaded phases before and after it, so this machine's drift cancels. The archive lag
# is sampled every 200 ms meanwhile.
( while kill -0 $SERVER 2>/dev/null; do lag; sleep 0.2; done > "$DIR/lag.txt" ) &
SAMPLER=$!
echo alone > "$DIR/phase"
redis-benchmark -p $PORT -t set -n 1000000000 -r 100000 -d 100 -c 50 -P 16 -q > /dev/null 2>&1 & LOAD=$!
( prev=""; while kill -0 $LOAD 2>/dev/null; do
    c=$(curl -s "http://$HTTP/metrics" | awk '/^orbit_commands_total /{print $2}')
    [ -n "$prev" ] && echo "$((c - prev)) $(cat "$DIR/phase")"; prev=$c; sleep 1
  done > "$DIR/tput.txt" ) &
TPUT=$!
sleep 20
for i in 1 2 3; do
  echo "backup-$i" > "$DIR/phase"
  t0=$(now); "$ORBIT" backup --server $HTTP --out "$DIR/loaded" > /dev/null 2>&1; t1=$(now)
  echo "alone-b$i" > "$DIR/phase"
  echo "base backup under the write load: $(secs $t0 $t1) s for $(du -sb "$DIR/loaded" | cut -f1) bytes"
  rm -rf "$DIR/loaded"; sleep 20
  echo "cp-r-$i" > "$DIR/phase"
  t0=$(now); cp -r "$DIR/data" "$DIR/cp-loaded" && sync; t1=$(now)
  echo "alone-c$i" > "$DIR/phase"
  echo "cp -r under the write load: $(secs $t0 $t1) s"
  rm -rf "$DIR/cp-loaded"; sleep 20
done
kill $LOAD; wait $LOAD 2>/dev/null || true; wait $TPUT || true
kill $SAMPLER 2>/dev/null || true
# Mean commands/s of each phase (the first second of each left out: it straddles a change).
awk '$2 != last { last = $2; order[++n] = $2; next } { sum[$2] += $1; cnt[$2]++ }
  END { for (i = 1; i <= n; i++) { p = order[i]; mean[i] = sum[p] / cnt[p] }
        for (i = 2; i < n; i++) if (order[i] !~ /^alone/)
          printf "SET -P16 while %s: %.0f requests/s over %d s; alone before %.0f, after %.0f: ratio %.3f\n",
            order[i], mean[i], cnt[order[i]], mean[i-1], mean[i+1], 2 * mean[i] / (mean[i-1] + mean[i+1]) }' "$DIR/tput.txt"
sort -n "$DIR/lag.txt" | awk '{a[NR]=$1} END {print "archive lag under load (bytes): median " a[int(NR/2)+1] ", p99 " a[int(NR*0.99)+1] ", max " a[NR] " (" NR " samples)"}'

# 5% churn (by bytes: NUM/20 writes of 400-byte half-random values), then an incremental.
python3 - "$((NUM / 20))" <<'PY' | redis-cli -p $PORT --pipe > /dev/null
import os, sys
out = sys.stdout.buffer
for i in range(int(sys.argv[1])):
    k = b"churn:%d" % i
    v = os.urandom(200) + b"v" * 200
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
PY
"$ORBIT" backup --server $HTTP --out "$DIR/inc" --incremental-from "$DIR/full-1" 2>/dev/null
echo "incremental after 5% churn: stored $(du -sb "$DIR/inc" | cut -f1) bytes of a full $(du -sb "$DIR/full-1" | cut -f1)"

# 1,000,000 writes after a base backup, then the restore to that point.
"$ORBIT" backup --server $HTTP --out "$DIR/base" > /dev/null 2>&1
redis-benchmark -p $PORT -t set -n 1000000 -r 1000000 -d 100 -c 50 -P 16 -q 2>/dev/null | tr '\r' '\n' | tail -1
target=$(curl -s "http://$HTTP/metrics" | awk '/^orbit_wal_written_lsn /{print $2}')
until [ "$(lag)" = 0 ]; do sleep 0.2; done
t0=$(now); "$ORBIT" restore --from "$DIR/base" --wal-archive "$DIR/archive" --data-dir "$DIR/pitr" --to-lsn "$target" --exclusive 2>&1 | grep -E "replayed|restored"; t1=$(now)
echo "restore to 1,000,000 writes after the base backup: $(secs $t0 $t1) s"
