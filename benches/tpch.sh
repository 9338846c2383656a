#!/usr/bin/env bash
# TPC-H (benches/tpch.py): Orbit beside PostgreSQL 15 and DuckDB, same data, same machine.
# Usage: benches/tpch.sh path/to/orbit [--sf 1] [--timeout 300] [--queries 1,6]
# First use installs tpchgen-cli (cargo install, into ${TPCHGEN_ROOT:-/tmp/tpchgen}) and a
# venv in ${VENV:-/tmp/orbit-tpch-venv} with duckdb and psycopg. PostgreSQL comes from
# Debian's postgresql-15 package (PGBIN, default /usr/lib/postgresql/15/bin).
set -euo pipefail
bin=$(realpath "${1:?usage: benches/tpch.sh path/to/orbit [tpch.py flags]}")
shift
root=${TPCHGEN_ROOT:-/tmp/tpchgen}
if [ ! -x "$root/bin/tpchgen-cli" ]; then
    cargo install --locked --root "$root" tpchgen-cli
fi
venv=${VENV:-/tmp/orbit-tpch-venv}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q duckdb "psycopg[binary]"
fi
exec "$venv/bin/python" -u "$(dirname "$0")/tpch.py" --orbit "$bin" --tpchgen "$root/bin/tpchgen-cli" "$@"
