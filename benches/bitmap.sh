#!/bin/bash
# Bitmap index scans, one run: Orbit's `USING bitmap` indexes against Orbit's sequential scan
# and against a real PostgreSQL (Debian's 15) whose planner combines btree indexes with
# BitmapAnd / BitmapOr over the same data.
#   benches/bitmap.sh target/release/orbit        (ROWS=1000000 RUN_SECONDS=10 ROUNDS=3)
# Both servers get `events (id, status, region, kind, payload)`: status 10 values, region 50,
# kind 5 (independent), ROWS rows. Orbit: `events` with bitmap indexes on status, region and kind, and
# `events_plain` without; PostgreSQL: btree indexes on the three columns. All analyzed. Each
# query runs as a pgbench script (-c 1, RUN_SECONDS per run), ROUNDS rounds with the servers back
# to back; prints tps per run, the medians, and the median of per-round ratios. Every query's
# answer is compared across the three before timing.
set -eu
ORBIT=$(realpath "$1")
ROWS=${ROWS:-1000000}; SECONDS_PER_RUN=${RUN_SECONDS:-10}; ROUNDS=${ROUNDS:-3}
DIR=${DIR:-/tmp/orbit-bitmap}
OPORT=${OPORT:-17211}; PPORT=${PPORT:-17212}
source "$(dirname "$0")/pg_pair.sh"
start_pair "$ORBIT" "$DIR" "$OPORT" "$PPORT" shared_buffers=1GB

# Independent columns: status cycles fastest, region over blocks of 10 ids, kind over 500.
LOAD="SELECT x, 's' || (x % 10), x / 10 % 50, x / 500 % 5, md5(x::text) FROM generate_series(1, $ROWS) x"
for target in "orbit $OPORT bitmap" "postgresql $PPORT btree"; do
  set -- $target
  start=$(date +%s.%N)
  psql -p "$2" -qX -v ON_ERROR_STOP=1 > /dev/null <<SQL
CREATE TABLE events (id int PRIMARY KEY, status text, region int, kind int, payload text);
INSERT INTO events $LOAD;
CREATE INDEX events_status ON events USING $3 (status);
CREATE INDEX events_region ON events USING $3 (region);
CREATE INDEX events_kind ON events USING $3 (kind);
ANALYZE events;
SQL
  if [ "$1" = orbit ]; then
    psql -p "$2" -qX -v ON_ERROR_STOP=1 -c "CREATE TABLE events_plain AS SELECT * FROM events" \
      -c "ANALYZE events_plain" > /dev/null
  fi
  echo "$1 load and index $ROWS rows: $(echo "$(date +%s.%N) - $start" | bc) s"
done

QUERIES=(
  "and2|SELECT count(*), sum(id) FROM {t} WHERE status = 's3' AND region = 7"
  "and3|SELECT count(*), sum(id) FROM {t} WHERE status = 's3' AND region IN (7, 8) AND kind = 2"
  "or|SELECT count(*), sum(id) FROM {t} WHERE (region = 7 AND kind = 1) OR (region = 9 AND status = 's1')"
  "rows|SELECT id, payload FROM {t} WHERE status = 's5' AND region = 11 AND kind = 3 ORDER BY id"
)
declare -A results ratios_seq ratios_pg
for q in "${QUERIES[@]}"; do
  name=${q%%|*}; sql=${q#*|}
  a=$(psql -p $OPORT -qAtX -c "${sql//\{t\}/events}" | md5sum)
  b=$(psql -p $OPORT -qAtX -c "${sql//\{t\}/events_plain}" | md5sum)
  c=$(psql -p $PPORT -qAtX -c "${sql//\{t\}/events}" | md5sum)
  [ "$a" = "$b" ] && [ "$a" = "$c" ] || { echo "$name: answers differ"; exit 1; }
  echo "$name: $sql"
  echo "  orbit:      $(psql -p $OPORT -qAtX -c "EXPLAIN ${sql//\{t\}/events}" | grep -m1 -E 'Scan|Bitmap')"
  echo "  postgresql: $(psql -p $PPORT -qAtX -c "EXPLAIN ${sql//\{t\}/events}" | grep -m1 -E 'Scan|Bitmap' | sed 's/  (cost.*//')"
done
for round in $(seq 1 "$ROUNDS"); do
  for q in "${QUERIES[@]}"; do
    name=${q%%|*}; sql=${q#*|}
    declare -A last=()
    for target in "orbit-bitmap $OPORT events" "orbit-seqscan $OPORT events_plain" "postgresql $PPORT events"; do
      set -- $target
      echo "${sql//\{t\}/$3};" > "$DIR/$name.sql"
      cmd="pgbench -n -f $DIR/$name.sql -c 1 -T $SECONDS_PER_RUN -p $2"
      tps=$(pgbench_tps "$1" -n -f "$DIR/$name.sql" -c 1 -T "$SECONDS_PER_RUN" -p "$2")
      echo "round $round $name $1: tps $tps   ($cmd, script: ${sql//\{t\}/$3})"
      results["$name $1"]+="$tps "
      last[$1]=$tps
    done
    ratios_seq[$name]+="$(echo "scale=3; ${last[orbit-bitmap]} / ${last[orbit-seqscan]}" | bc) "
    ratios_pg[$name]+="$(echo "scale=3; ${last[orbit-bitmap]} / ${last[postgresql]}" | bc) "
  done
done

echo "== medians of $ROUNDS rounds (queries per second, one client)"
for q in "${QUERIES[@]}"; do
  name=${q%%|*}
  b=$(echo "${results["$name orbit-bitmap"]}" | median)
  s=$(echo "${results["$name orbit-seqscan"]}" | median)
  p=$(echo "${results["$name postgresql"]}" | median)
  echo "$name: orbit bitmap $b, orbit seq scan $s, postgresql $p; bitmap/seqscan $(echo "${ratios_seq[$name]}" | median), bitmap/postgresql $(echo "${ratios_pg[$name]}" | median) (medians of round ratios)"
done
