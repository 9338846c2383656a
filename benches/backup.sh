#!/bin/bash
# Backup and restore figures for docs/BENCHMARKS.md ("Backup and restore"), each beside its
# anchor in the same run: a plain `cp -r` of the same directory, and the server's own write
# throughput without a backup running. Needs Debian's redis-tools (redis-benchmark, redis-cli).
#   benches/backup.sh target/release/orbit            (DIR=/tmp/orbit-backup-bench, NUM=10000000)
# Steps: a >= 2 GB database (orbit bench fillseq, 400-byte half-random values, kept) served
# with --wal-archive; 3x base backup vs cp -r; 3x restore vs cp -r; SET throughput alone, while
# backups run, and while cp -r runs (alternating, 3x each), the archive lag sampled meanwhile;
# an incremental backup after 5% churn; the restore to a point 1,000,000 writes after a base
# backup.
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
  cp -r "$DIR/data" "$DIR/cp-$i"; t2=$(now)
  echo "base backup: $(secs $t0 $t1) s   cp -r: $(secs $t1 $t2) s   bytes: $(du -sb "$DIR/full-$i" | cut -f1)"
  rm -rf "$DIR/cp-$i"; [ $i = 1 ] || rm -rf "$DIR/full-$i"
done
for i in 1 2 3; do
  t0=$(now); "$ORBIT" restore --from "$DIR/full-1" --data-dir "$DIR/r-$i" --latest > /dev/null 2>&1; t1=$(now)
  cp -r "$DIR/full-1" "$DIR/rc-$i"; t2=$(now)
  echo "restore: $(secs $t0 $t1) s   cp -r: $(secs $t1 $t2) s"
  rm -rf "$DIR/r-$i" "$DIR/rc-$i"
done

# SET throughput (over a fixed key space, so compaction debt does not grow between runs) with
# nothing else running, with backups running back to back (default, and --max-rate 100M), and
# with `cp -r` of the data directory running back to back (the anchor: a plain copy's cost);
# alternating, 3x each. The archive lag is sampled every 200 ms throughout.
( while kill -0 $SERVER 2>/dev/null; do lag; sleep 0.2; done > "$DIR/lag.txt" ) &
SAMPLER=$!
for i in 1 2 3; do
  for mode in plain backup backup-100M cp-r; do
    rm -f "$DIR/stop"
    case $mode in
      backup) ARGS="";;
      backup-100M) ARGS="--max-rate 100M";;
    esac
    case $mode in
      backup*) ( n=0; while [ ! -e "$DIR/stop" ]; do n=$((n+1)); "$ORBIT" backup --server $HTTP --out "$DIR/during-$n" $ARGS > /dev/null 2>&1; rm -rf "$DIR/during-$n"; done ) & LOOP=$!;;
      cp-r) ( n=0; while [ ! -e "$DIR/stop" ]; do n=$((n+1)); cp -r "$DIR/data" "$DIR/cp-$n" 2>/dev/null; rm -rf "$DIR/cp-$n"; done ) & LOOP=$!;;
    esac
    rps=$(redis-benchmark -p $PORT -t set -n 600000 -r 100000 -d 100 -c 50 -P 16 --csv 2>/dev/null | awk -F, '/SET/{gsub(/"/,"",$2); print $2}')
    echo "SET -P16 while $mode: $rps requests/s"
    if [ $mode != plain ]; then touch "$DIR/stop"; wait $LOOP; fi
  done
done
kill $SAMPLER 2>/dev/null || true
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
