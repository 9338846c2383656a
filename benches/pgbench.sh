#!/bin/bash
# pgbench side by side, one run: Orbit against a real PostgreSQL (Debian's 15) started here
# with comparable durability (fsync on, synchronous_commit on, full_page_writes on; Orbit's
# default --sync sync answers after fdatasync of the WAL).
#   benches/pgbench.sh target/release/orbit        (SCALE=10 SECONDS=30 ROUNDS=3 MODE=simple)
# MODE is pgbench's -M: simple, extended, or prepared (statements prepared once per
# connection, so Orbit's plan cache serves them).
# For each server: `pgbench -i -s SCALE`, then ROUNDS rounds (servers alternating) of the
# select-only script (-S) and the default TPC-B-like script, each with -c 1 and -c 8 -j 2, for
# SECONDS seconds. Prints one line per run (tps, mean latency), the medians, and the median of
# the per-round ratios (each round runs the two servers back to back); the command lines are
# printed as they run.
set -eu
ORBIT=$(realpath "$1")
SCALE=${SCALE:-10}; SECONDS_PER_RUN=${SECONDS:-30}; ROUNDS=${ROUNDS:-3}; MODE=${MODE:-simple}
DIR=${DIR:-/tmp/orbit-pgbench}
OPORT=${OPORT:-17201}; PPORT=${PPORT:-17202}
source "$(dirname "$0")/pg_pair.sh"
start_pair "$ORBIT" "$DIR" "$OPORT" "$PPORT" fsync=on synchronous_commit=on full_page_writes=on shared_buffers=1GB max_connections=100

for target in "orbit $OPORT" "postgresql $PPORT"; do
  set -- $target
  start=$(date +%s.%N)
  echo "+ pgbench -i -s $SCALE -p $2   ($1)"
  pgbench -i -s "$SCALE" -p "$2" -q > "$DIR/init-$1.log" 2>&1 || { cat "$DIR/init-$1.log"; exit 1; }
  echo "$1 init: $(echo "$(date +%s.%N) - $start" | bc) s"
done

declare -A results ratios last
for round in $(seq 1 "$ROUNDS"); do
  for script in "select-only -S" "tpcb-like -b tpcb-like"; do
    name=${script%% *}; flags=${script#* }
    for clients in "1 -c 1 -j 1" "8 -c 8 -j 2"; do
      c=${clients%% *}; cflags=${clients#* }
      for target in "orbit $OPORT" "postgresql $PPORT"; do
        set -- $target
        cmd="pgbench -n -M $MODE $flags $cflags -T $SECONDS_PER_RUN -p $2"
        out=$($cmd 2>&1) || { echo "$1: $cmd failed:"; echo "$out"; exit 1; }
        tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
        lat=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
        failed=$(echo "$out" | sed -n 's/^number of failed transactions: \(.*\)/\1/p')
        echo "round $round $name c=$c $1: tps $tps, latency ${lat} ms, failed ${failed:-0}   ($cmd)"
        results["$name c=$c $1"]+="$tps "
        last[$1]=$tps
      done
      # The two servers ran back to back: their ratio is less exposed to the machine's drift.
      ratios["$name c=$c"]+="$(echo "scale=3; ${last[orbit]} / ${last[postgresql]}" | bc) "
    done
  done
done

echo "== medians of $ROUNDS rounds (tps)"
for name in select-only tpcb-like; do
  for c in 1 8; do
    o=$(echo "${results["$name c=$c orbit"]}" | median)
    p=$(echo "${results["$name c=$c postgresql"]}" | median)
    r=$(echo "${ratios["$name c=$c"]}" | median)
    echo "$name c=$c: orbit $o, postgresql $p, ratio of medians $(echo "scale=2; $o / $p" | bc), median of round ratios $r"
  done
done
