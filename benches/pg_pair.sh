# Sourced by the benchmarks that run Orbit beside a real PostgreSQL (pgbench.sh, bitmap.sh,
# join.sh): starting both servers, running one pgbench script, and medians.
#
# start_pair ORBIT DIR OPORT PPORT [postgres -c options...]: a fresh DIR, Orbit serving
# PostgreSQL clients on OPORT, Debian's PostgreSQL (PGBIN) initialized and started on PPORT;
# both stopped when the script exits. PostgreSQL refuses to run as root: as root, its tools
# run as the postgres user.
start_pair() {
  local orbit=$1 dir=$2 oport=$3 pport=$4; shift 4
  PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
  rm -rf "$dir"; mkdir -p "$dir"
  AS_PG=()
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; AS_PG=(runuser -u postgres --); fi
  export PGUSER=postgres PGDATABASE=postgres PGHOST=127.0.0.1
  "$orbit" serve --data-dir "$dir/orbit" --resp-addr 127.0.0.1:0 --http-addr '' \
    --pg-addr 127.0.0.1:$oport 2> "$dir/orbit.log" &
  PAIR_ORBIT_PID=$!
  PAIR_DIR=$dir
  "${AS_PG[@]}" "$PGBIN/initdb" -D "$dir/pg" -U postgres --auth=trust > "$dir/initdb.log"
  local opts="-p $pport -k $dir -c listen_addresses=127.0.0.1"
  for o in "$@"; do opts+=" -c $o"; done
  "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w start -o "$opts"
  trap 'kill $PAIR_ORBIT_PID 2>/dev/null || true; "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PAIR_DIR/pg" -m fast stop > /dev/null 2>&1 || true' EXIT
  until psql -p "$oport" -qAtc 'select 1' > /dev/null 2>&1; do sleep 0.5; done
}

# pgbench_tps LABEL ARGS...: runs `pgbench ARGS`, prints its tps (exits with its output on
# failure; LABEL names the target in the message).
pgbench_tps() {
  local label=$1; shift
  local out
  out=$(pgbench "$@" 2>&1) || { echo "$label: pgbench $* failed:" >&2; echo "$out" >&2; exit 1; }
  echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}

# The median of whitespace-separated numbers on stdin.
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
