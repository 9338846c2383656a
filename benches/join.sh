#!/bin/bash
# Joins that look rows up by key (an application's "this order and its customer"), one run:
# Orbit's index nested loop, the same query forced to a hash join (its table read through
# `(SELECT * FROM t OFFSET 0)`, which Orbit does not look up), and a real PostgreSQL (Debian's
# 15) on the same data.
#   benches/join.sh target/release/orbit        (CUSTOMERS=100000 ORDERS=500000 RUN_SECONDS=10 ROUNDS=3)
# Tables: customer (id PRIMARY KEY, name, region), orders (id PRIMARY KEY, cust_id, amount)
# with an index on orders (cust_id); analyzed. Each query is a pgbench script with a random
# key (-c 1, RUN_SECONDS per run), ROUNDS rounds with the targets back to back; prints
# transactions per second per run, the medians, and the medians of per-round ratios.
set -eu
ORBIT=$(realpath "$1")
CUSTOMERS=${CUSTOMERS:-100000}; ORDERS=${ORDERS:-500000}
SECONDS_PER_RUN=${RUN_SECONDS:-10}; ROUNDS=${ROUNDS:-3}
DIR=${DIR:-/tmp/orbit-join}
OPORT=${OPORT:-17231}; PPORT=${PPORT:-17232}
source "$(dirname "$0")/pg_pair.sh"
start_pair "$ORBIT" "$DIR" "$OPORT" "$PPORT" shared_buffers=1GB

for target in "orbit $OPORT" "postgresql $PPORT"; do
  set -- $target
  start=$(date +%s.%N)
  psql -p "$2" -qX -v ON_ERROR_STOP=1 > /dev/null <<SQL
CREATE TABLE customer (id int PRIMARY KEY, name text, region int);
CREATE TABLE orders (id int PRIMARY KEY, cust_id int, amount int);
INSERT INTO customer SELECT x, 'customer ' || x, x % 25 FROM generate_series(1, $CUSTOMERS) x;
INSERT INTO orders SELECT x, (x * 17) % $CUSTOMERS + 1, x % 1000 FROM generate_series(1, $ORDERS) x;
CREATE INDEX orders_cust ON orders (cust_id);
ANALYZE;
SQL
  echo "$1 load: $(echo "$(date +%s.%N) - $start" | bc) s"
done

QUERIES=(
  "order|\\set k random(1, $ORDERS)
SELECT o.id, o.amount, c.name FROM orders o JOIN {customer} c ON c.id = o.cust_id WHERE o.id = :k;"
  "customer|\\set k random(1, $CUSTOMERS)
SELECT c.name, count(*), sum(o.amount) FROM customer c JOIN {orders} o ON o.cust_id = c.id WHERE c.id = :k GROUP BY c.name;"
)
held() { echo "(SELECT * FROM $1 OFFSET 0)"; }
for q in "${QUERIES[@]}"; do
  name=${q%%|*}; script=${q#*|}
  sql=$(echo "$script" | tail -1 | sed 's/:k/42/')
  a=$(psql -p $OPORT -qAtX -c "$(echo "$sql" | sed "s/{customer}/customer/; s/{orders}/orders/")" | md5sum)
  b=$(psql -p $OPORT -qAtX -c "$(echo "$sql" | sed "s/{customer}/$(held customer)/; s/{orders}/$(held orders)/")" | md5sum)
  c=$(psql -p $PPORT -qAtX -c "$(echo "$sql" | sed "s/{customer}/customer/; s/{orders}/orders/")" | md5sum)
  [ "$a" = "$b" ] && [ "$a" = "$c" ] || { echo "$name: answers differ"; exit 1; }
  echo "$name: $sql"
  psql -p $OPORT -qAtX -c "EXPLAIN $(echo "$sql" | sed "s/{customer}/customer/; s/{orders}/orders/")" | sed 's/^/  orbit: /'
done

declare -A results ratio_hash ratio_pg
for round in $(seq 1 "$ROUNDS"); do
  for q in "${QUERIES[@]}"; do
    name=${q%%|*}; script=${q#*|}
    declare -A last=()
    for target in "orbit-lookup $OPORT plain" "orbit-hash $OPORT held" "postgresql $PPORT plain"; do
      set -- $target
      if [ "$3" = held ]; then
        echo "$script" | sed "s/{customer}/$(held customer)/; s/{orders}/$(held orders)/" > "$DIR/$name.sql"
      else
        echo "$script" | sed "s/{customer}/customer/; s/{orders}/orders/" > "$DIR/$name.sql"
      fi
      cmd="pgbench -n -f $DIR/$name.sql -c 1 -T $SECONDS_PER_RUN -p $2"
      tps=$(pgbench_tps "$1" -n -f "$DIR/$name.sql" -c 1 -T "$SECONDS_PER_RUN" -p "$2")
      echo "round $round $name $1: tps $tps   ($cmd: $(tail -1 "$DIR/$name.sql"))"
      results["$name $1"]+="$tps "
      last[$1]=$tps
    done
    ratio_hash[$name]+="$(echo "scale=3; ${last[orbit-lookup]} / ${last[orbit-hash]}" | bc) "
    ratio_pg[$name]+="$(echo "scale=3; ${last[orbit-lookup]} / ${last[postgresql]}" | bc) "
  done
done

echo "== medians of $ROUNDS rounds (transactions per second, one client)"
for q in "${QUERIES[@]}"; do
  name=${q%%|*}
  l=$(echo "${results["$name orbit-lookup"]}" | median)
  h=$(echo "${results["$name orbit-hash"]}" | median)
  p=$(echo "${results["$name postgresql"]}" | median)
  echo "$name: orbit lookup $l, orbit hash $h, postgresql $p; lookup/hash $(echo "${ratio_hash[$name]}" | median), lookup/postgresql $(echo "${ratio_pg[$name]}" | median)"
done
