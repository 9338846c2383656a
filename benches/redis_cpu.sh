#!/bin/bash
# Server CPU per request beside requests/s, in one run: Orbit (--sync periodic) and a real
# redis-server (appendonly yes, appendfsync everysec), redis-benchmark -d 100 -c 50 -r 1000000.
# CPU is the server process's user + system time (/proc/PID/stat) over the test, divided by
# its requests: unlike requests/s it does not move with what else the machine runs.
#   benches/redis_cpu.sh target/release/orbit     (N=300000 P=16 TESTS="set sadd hset lpush zadd")
# Needs Debian's redis-server and redis-tools.
set -u
ORBIT=$(realpath "$1"); N=${N:-300000}; P=${P:-16}; TESTS=${TESTS:-set sadd hset lpush zadd}
DIR=${DIR:-/tmp/orbit-redis-cpu}
rm -rf "$DIR"; mkdir -p "$DIR/redis"
"$ORBIT" serve --data-dir "$DIR/orbit" --sync periodic --resp-addr 127.0.0.1:7301 --pg-addr '' --http-addr '' 2> "$DIR/orbit.log" &
OPID=$!
redis-server --port 7302 --dir "$DIR/redis" --appendonly yes --appendfsync everysec --save "" --daemonize no > "$DIR/redis.log" 2>&1 &
RPID=$!
trap 'kill $OPID $RPID 2>/dev/null; wait' EXIT
for port in 7301 7302; do until redis-cli -p $port ping > /dev/null 2>&1; do sleep 0.05; done; done
ticks() { awk '{print $14 + $15}' /proc/$1/stat; }
hz=$(getconf CLK_TCK)
for t in $TESTS; do
  for who in orbit redis; do
    if [ $who = orbit ]; then port=7301; pid=$OPID; else port=7302; pid=$RPID; fi
    before=$(ticks $pid)
    rps=$(redis-benchmark -p $port -t $t -n $N -d 100 -c 50 -P $P -r 1000000 --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
    after=$(ticks $pid)
    echo "$t $who P$P requests/s=${rps%.*} cpu_us_per_request=$(python3 -c "print(round(($after - $before) * 1e6 / $hz / $N, 2))")"
  done
done
