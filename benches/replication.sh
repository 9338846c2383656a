#!/bin/bash
# Replication, in one run on this machine: a three-node Orbit cluster on loopback against a
# single Orbit node, same binary, every node --sync sync (an acknowledged write is fdatasynced:
# on the cluster, in a majority's Raft logs; cluster nodes run --forward-writes).
#   benches/replication.sh target/release/orbit     (N=200000 ROUNDS=3 TRIALS=20 CATCHUP=1000000)
# 1. Throughput: redis-benchmark -t set, then -t get, -d 100 -c 50 -r 1000000 -n N, with -P 1
#    and -P 16, single node, cluster leader and a follower forwarding to it, in turn, ROUNDS
#    rounds (a GET on the leader waits for a read-index round; the follower forwards it); and
#    pgbench TPC-B (-s 1, -c 8 -j 2, 20 s) on each. Prints requests/s and p99 (ms) per run and
#    the median ratios.
# 2. Failover, TRIALS times: SIGKILL the leader, then SET on the other nodes (redis-cli, one
#    try per node every ~5 ms) until one answers OK; the killed node is restarted and caught
#    up before the next trial. Prints each time, the median and the max.
# 3. Catch-up: a follower is stopped (SIGTERM) while CATCHUP SETs (-P 16) go to the leader,
#    then started; the time until it has applied the leader's whole log, and whether it was
#    sent a snapshot (members run --raft-snapshot-every SNAPSHOT_EVERY, default 100000: a
#    follower further behind than the leader's log is sent a snapshot).
# ROUNDS=0 skips the throughput runs and pgbench, TRIALS=0 the failovers.
# Needs Debian's redis-tools and postgresql-client (pgbench), python3 and curl.
set -u
for tool in redis-cli redis-benchmark pgbench python3 curl; do
  command -v "$tool" > /dev/null || { echo "benches/replication.sh needs $tool" >&2; exit 1; }
done
ORBIT=$(realpath "$1")
N=${N:-200000}; ROUNDS=${ROUNDS:-3}; TRIALS=${TRIALS:-20}; CATCHUP=${CATCHUP:-1000000}
SNAPSHOT_EVERY=${SNAPSHOT_EVERY:-100000}
DIR=${DIR:-/tmp/orbit-repl-bench}
rm -rf "$DIR"; mkdir -p "$DIR"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT

# Node i: RESP 174i0, PG 174i1, HTTP 174i2, Raft 174i3; the single node is "node 0".
resp() { echo "174${1}0"; }
pg() { echo "174${1}1"; }
http() { echo "174${1}2"; }
raft() { echo "174${1}3"; }
PEERS="1=127.0.0.1:$(raft 1),2=127.0.0.1:$(raft 2),3=127.0.0.1:$(raft 3)"
declare -A NODE_PID

start_node() { # id [extra flags...]
  local id=$1; shift
  "$ORBIT" serve --data-dir "$DIR/n$id" --sync sync --resp-addr 127.0.0.1:$(resp $id) \
    --pg-addr 127.0.0.1:$(pg $id) --http-addr 127.0.0.1:$(http $id) "$@" \
    2>> "$DIR/n$id.log" &
  NODE_PID[$id]=$!; PIDS+=($!)
  until redis-cli -p $(resp $id) ping > /dev/null 2>&1; do sleep 0.05; done
}
start_member() {
  start_node "$1" --node-id "$1" --raft-addr 127.0.0.1:$(raft "$1") --peers "$PEERS" --forward-writes \
    --raft-snapshot-every "$SNAPSHOT_EVERY"
}
field() { # id field: from GET /cluster
  curl -s "http://127.0.0.1:$(http $1)/cluster" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])" 2>/dev/null
}
leader() { # the id of the node every running member agrees leads
  while true; do
    for id in 1 2 3; do
      [ "$(field $id role)" = leader ] && { echo $id; return; }
    done
    sleep 0.05
  done
}
caught_up() { # id: waits until node id has applied the leader's whole log
  local l; l=$(leader)
  local target; target=$(field $l last_log_index)
  until [ "$(field $1 applied_index 2>/dev/null)" -ge "$target" ] 2>/dev/null; do sleep 0.05; done
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

echo "# machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB; $(date -u +%FT%TZ); $("$ORBIT" --version)"
start_node 0
for id in 1 2 3; do start_member $id; done
L=$(leader); F=$(( L % 3 + 1 )); echo "leader: node $L; forwarding follower: node $F"

echo "## throughput (redis-benchmark -t set|get -n $N -d 100 -c 50 -r 1000000; GET on the leader waits for a read-index round)"
declare -A RPS P99
for round in $(seq 1 "$ROUNDS"); do
  for T in set get; do
    for P in 1 16; do
      for target in single cluster forwarded; do
        port=$(resp 0); [ $target = cluster ] && port=$(resp $L); [ $target = forwarded ] && port=$(resp $F)
        line=$(redis-benchmark -p $port -t $T -n $N -d 100 -c 50 -P $P -r 1000000 --csv 2>/dev/null | tail -1)
        rps=$(echo "$line" | cut -d, -f2 | tr -d '"'); p99=$(echo "$line" | cut -d, -f7 | tr -d '"')
        echo "round $round $T P$P $target: $rps req/s, p99 $p99 ms"
        RPS[$T,$P,$target]+="$rps "; P99[$T,$P,$target]+="$p99 "
      done
    done
  done
done
[ "$ROUNDS" -gt 0 ] && for T in set get; do
  for P in 1 16; do
    s=$(echo ${RPS[$T,$P,single]} | tr ' ' '\n' | median); c=$(echo ${RPS[$T,$P,cluster]} | tr ' ' '\n' | median)
    sp=$(echo ${P99[$T,$P,single]} | tr ' ' '\n' | median); cp=$(echo ${P99[$T,$P,cluster]} | tr ' ' '\n' | median)
    f=$(echo ${RPS[$T,$P,forwarded]} | tr ' ' '\n' | median); fp=$(echo ${P99[$T,$P,forwarded]} | tr ' ' '\n' | median)
    echo "median $T P$P: single $s req/s (p99 $sp ms), cluster $c req/s (p99 $cp ms), cluster/single $(echo "scale=2; $c / $s" | bc); through a follower $f req/s (p99 $fp ms), $(echo "scale=2; $f / $c" | bc)x the leader"
  done
done

echo "## pgbench TPC-B (-i -s 1; -c 8 -j 2 -T 20)"
export PGUSER=postgres PGDATABASE=postgres PGHOST=127.0.0.1
[ "$ROUNDS" -gt 0 ] && for target in single cluster forwarded; do
  port=$(pg 0); [ $target = cluster ] && port=$(pg $L); [ $target = forwarded ] && port=$(pg $F)
  pgbench -i -s 1 -q -p $port > "$DIR/pgbench-init-$target.log" 2>&1 || { echo "init failed:"; cat "$DIR/pgbench-init-$target.log"; }
  out=$(pgbench -n -b tpcb-like -c 8 -j 2 -T 20 -p $port -r 2>&1)
  echo "$target: tps $(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p'), mean latency $(echo "$out" | sed -n 's/^latency average = \(.*\)/\1/p')"
done

echo "## failover ($TRIALS trials: SIGKILL the leader, then SET until a node answers OK)"
TIMES=""
for t in $(seq 1 "$TRIALS"); do
  L=$(leader)
  kill -9 "${NODE_PID[$L]}"; wait "${NODE_PID[$L]}" 2>/dev/null
  start=$(date +%s%N); done_=""
  while [ -z "$done_" ]; do
    for id in 1 2 3; do
      [ $id = $L ] && continue
      if [ "$(timeout 1 redis-cli -p $(resp $id) set failover $t 2>/dev/null)" = OK ]; then done_=$id; break; fi
    done
    [ -z "$done_" ] && sleep 0.005
  done
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "trial $t: leader $L killed, node $done_ took a write after $ms ms"
  TIMES+="$ms "
  start_member $L; caught_up $L
done
[ "$TRIALS" -gt 0 ] && echo "failover median $(echo $TIMES | tr ' ' '\n' | median) ms, max $(echo $TIMES | tr ' ' '\n' | sort -g | tail -1) ms"

echo "## catch-up (a follower down for $CATCHUP SETs)"
L=$(leader); F=$(( L % 3 + 1 ))
kill -TERM "${NODE_PID[$F]}"; wait "${NODE_PID[$F]}" 2>/dev/null
echo "SET -P 16 on the leader: $(redis-benchmark -p $(resp $L) -t set -n "$CATCHUP" -d 100 -c 50 -P 16 -r 1000000 --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"') req/s"
start=$(date +%s%N)
start_member $F; caught_up $F
echo "node $F caught up with $(field $L last_log_index) entries in $(( ($(date +%s%N) - start) / 1000000 )) ms (from its start)"
echo "snapshots installed by node $F: $(ls "$DIR/n$F/raft-snapshots" | grep -c '^installed-'); its peak RSS $(grep VmHWM /proc/${NODE_PID[$F]}/status | awk '{print $2, $3}'), the leader's $(grep VmHWM /proc/${NODE_PID[$L]}/status | awk '{print $2, $3}')"
