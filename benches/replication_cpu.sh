#!/bin/bash
# CPU per SET on each node, beside requests/s: a single node and a three-node cluster on
# loopback (all --sync sync, as benches/replication.sh starts them), redis-benchmark -t set
# -n N -d 100 -c 50 -r 1000000 -P P against the single node, then the leader. CPU is each
# process's user + system time (/proc/PID/stat) over the run, in ms per 1,000 SETs.
#   benches/replication_cpu.sh target/release/orbit     (N=400000 P=16)
# Needs Debian's redis-tools, python3 and curl.
set -u
ORBIT=$(realpath "$1"); N=${N:-400000}; P=${P:-16}
DIR=${DIR:-/tmp/orbit-repl-cpu}
rm -rf "$DIR"; mkdir -p "$DIR"
PIDS=()
trap 'kill ${PIDS[*]} 2>/dev/null; wait' EXIT
PEERS="1=127.0.0.1:17513,2=127.0.0.1:17523,3=127.0.0.1:17533"
for i in 1 2 3; do
  "$ORBIT" serve --data-dir "$DIR/n$i" --sync sync --resp-addr 127.0.0.1:175${i}0 --pg-addr '' \
    --http-addr 127.0.0.1:175${i}2 --node-id $i --raft-addr 127.0.0.1:175${i}3 --peers "$PEERS" 2>> "$DIR/n$i.log" &
  PIDS+=($!)
done
"$ORBIT" serve --data-dir "$DIR/single" --sync sync --resp-addr 127.0.0.1:17500 --pg-addr '' --http-addr '' 2>> "$DIR/single.log" &
PIDS+=($!)
for port in 17500 17510 17520 17530; do until redis-cli -p $port ping > /dev/null 2>&1; do sleep 0.05; done; done
leader=""
until [ -n "$leader" ]; do
  for i in 1 2 3; do
    curl -s http://127.0.0.1:175${i}2/cluster | grep -q '"role": "leader"' && leader=$i
  done
  sleep 0.1
done
ticks() { awk '{print $14 + $15}' /proc/$1/stat; }
hz=$(getconf CLK_TCK)
run() { # name port pids...
  local name=$1 port=$2; shift 2
  declare -A before
  for p in "$@"; do before[$p]=$(ticks $p); done
  local rps; rps=$(redis-benchmark -p $port -t set -n $N -d 100 -c 50 -P $P -r 1000000 --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
  local line="$name P$P requests/s=${rps%.*} cpu_ms_per_1000_sets:"
  for p in "$@"; do
    line="$line $(python3 -c "print(round(($(ticks $p) - ${before[$p]}) * 1e6 / $hz / $N, 1))")"
  done
  echo "$line"
}
run single 17500 "${PIDS[3]}"
run "cluster(leader=$leader)" 175${leader}0 "${PIDS[0]}" "${PIDS[1]}" "${PIDS[2]}"
