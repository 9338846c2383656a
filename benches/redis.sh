#!/bin/bash
# Side by side, in one run: redis-benchmark against Orbit (--sync sync) and against a real
# redis-server (appendonly yes, appendfsync always): equal durability, every acknowledged write
# fdatasynced. Needs Debian's redis-server and redis-tools.
#   benches/redis.sh target/release/orbit results.csv      (N=requests per test, default 100000)
#   MODE=periodic benches/redis.sh ...   Orbit --sync periodic against appendfsync everysec
#   KEYS=one benches/redis.sh ...        without -r: every SET/GET/INCR... hits one key
# Writes redis-benchmark's CSV lines prefixed with the server and the pipeline depth.
set -u
ORBIT=$1; OUT=$2; N=${N:-100000}; MODE=${MODE:-sync}
if [ "${KEYS:-random}" = one ]; then RANDOM_KEYS=""; else RANDOM_KEYS="-r 1000000"; fi
if [ "$MODE" = periodic ]; then FSYNC=everysec; else FSYNC=always; fi
rm -rf /tmp/rb-orbit /tmp/rb-redis; mkdir -p /tmp/rb-redis
$ORBIT serve --data-dir /tmp/rb-orbit --resp-addr 127.0.0.1:7001 --pg-addr '' --http-addr '' --sync $MODE 2>/tmp/rb-orbit.log &
OPID=$!
redis-server --port 7002 --dir /tmp/rb-redis --appendonly yes --appendfsync $FSYNC --save "" --daemonize no > /tmp/rb-redis.log 2>&1 &
RPID=$!
sleep 2
for P in 1 16; do
  for port in 7001 7002; do
    name=$([ $port = 7001 ] && echo orbit || echo redis)
    redis-benchmark -p $port -t set,get,incr,lpush,lpop,sadd,hset,zadd -n $N -d 100 -c 50 -P $P $RANDOM_KEYS --csv 2>/dev/null | sed "s/^/$name,P$P,/" >> $OUT
    redis-cli -p $port flushall > /dev/null
  done
done
kill -TERM $OPID $RPID; wait
