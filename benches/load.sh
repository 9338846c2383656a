#!/usr/bin/env bash
# Bulk load alone: a fresh `orbit serve`, TPC-H's schema, COPY of lineitem.csv, then CREATE INDEX
# on l_partkey and l_suppkey; prints each phase's seconds and the server's peak RSS (sampled
# every 0.5 s). The CSV comes from a benches/tpch.sh run (its --dir).
# Usage: benches/load.sh path/to/orbit /tmp/orbit-tpch [pg port, default 15433]
set -euo pipefail
bin=$(realpath "${1:?usage: benches/load.sh path/to/orbit csv-dir [port]}")
csv=${2:?usage: benches/load.sh path/to/orbit csv-dir [port]}/lineitem.csv
port=${3:-15433}
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
"$bin" serve --data-dir "$dir/orbit" --resp-addr 127.0.0.1:0 --http-addr "" \
    --pg-addr "127.0.0.1:$port" --cache-size 2G > "$dir/log" 2>&1 &
pid=$!
P="psql -h 127.0.0.1 -p $port -U postgres -X -q"
for _ in $(seq 100); do $P -c "select 1" > /dev/null 2>&1 && break; sleep 0.2; done
$P -f "$(dirname "$0")/tpch/schema.sql"
( peak=0; while kill -0 $pid 2> /dev/null; do
    r=$(ps -o rss= -p $pid || echo 0); if [ "${r:-0}" -gt $peak ]; then peak=$r; echo $peak > "$dir/peak"; fi
    sleep 0.5; done ) &
timed() {
    local s e; s=$(date +%s.%N); $P -c "$2"; e=$(date +%s.%N)
    echo "$(basename "$bin") $1: $(echo "$e - $s" | bc) s, peak rss $(cat "$dir/peak") KB"
}
timed "copy lineitem" "\\copy lineitem from $csv with (delimiter '|')"
timed "create index l_partkey" "create index on lineitem (l_partkey)"
timed "create index l_suppkey" "create index on lineitem (l_suppkey)"
