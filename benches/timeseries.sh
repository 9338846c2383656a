#!/bin/bash
# Time series side by side, one run: `orbit bench ts` (the same client) against Orbit
# (--sync sync: every reply after fdatasync) and against a real RedisTimeSeries 1.12
# (../shared/tools/redistimeseries-server, a local reference only), once with equal durability
# (appendonly yes, appendfsync always) and once in memory only (its default, no persistence).
#   benches/timeseries.sh target/release/orbit      (SERIES=1000 SAMPLES=1000 BIG=1000000)
# Then on-disk bytes per sample: Orbit's tables after SAVE, RedisTimeSeries' RDB after SAVE.
set -eu
ORBIT=$(realpath "$1"); SERIES=${SERIES:-1000}; SAMPLES=${SAMPLES:-1000}; BIG=${BIG:-1000000}
RTS=${RTS:-$(dirname "$0")/../../shared/tools/redistimeseries-server}
DIR=${DIR:-/tmp/orbit-ts-bench}
rm -rf "$DIR"; mkdir -p "$DIR/aof" "$DIR/mem"
"$ORBIT" serve --data-dir "$DIR/orbit" --resp-addr 127.0.0.1:17101 --pg-addr '' --http-addr '' 2> "$DIR/orbit.log" &
P1=$!
"$RTS" 17102 --dir "$DIR/aof" --appendonly yes --appendfsync always --save "" > "$DIR/rts-aof.log" 2>&1 &
P2=$!
"$RTS" 17103 --dir "$DIR/mem" --appendonly no --save "" > "$DIR/rts-mem.log" 2>&1 &
P3=$!
trap 'kill $P1 $P2 $P3 2>/dev/null || true' EXIT
# Wait for each server; a server that died (or never answers in 30 s) stops the run with its log.
for pl in "17101 $P1 orbit.log" "17102 $P2 rts-aof.log" "17103 $P3 rts-mem.log"; do
  set -- $pl
  for _ in $(seq 60); do
    redis-cli -p "$1" ping > /dev/null 2>&1 && continue 2
    kill -0 "$2" 2>/dev/null || break
    sleep 0.5
  done
  echo "server on port $1 did not start:" >&2; tail -n 5 "$DIR/$3" >&2; exit 1
done
for run in "orbit 17101" "redistimeseries-aof-always 17102" "redistimeseries-in-memory 17103"; do
  set -- $run
  echo "== $1"
  "$ORBIT" bench ts --server 127.0.0.1:$2 --series "$SERIES" --samples "$SAMPLES" --big "$BIG" \
    --batch 100 --threads 2 --pipeline 16 2>/dev/null
done
total=$((SERIES * SAMPLES + BIG))
redis-cli -p 17101 save > /dev/null
echo "orbit on disk: $(cat "$DIR"/orbit/*.sst | wc -c) table bytes = $(echo "scale=2; $(cat "$DIR"/orbit/*.sst | wc -c) / $total" | bc) bytes/sample (after SAVE; sealed samples' range-deleted members included until compaction)"
redis-cli -p 17102 save > /dev/null
echo "redistimeseries on disk: $(wc -c < "$DIR/aof/dump.rdb") RDB bytes = $(echo "scale=2; $(wc -c < "$DIR/aof/dump.rdb") / $total" | bc) bytes/sample"
