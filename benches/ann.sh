#!/usr/bin/env bash
# ANN benchmark (benches/ann.py): Orbit's USING hnsw through SQL beside hnswlib and FAISS.
# Usage: benches/ann.sh path/to/orbit [extra ann.py flags, e.g. --n 1000000]
# With --pgvector "host=... user=... password=..." PostgreSQL with pgvector is measured too
# (a server you run with the extension installed; see docs/BENCHMARKS.md).
# Makes a venv in ${VENV:-/tmp/orbit-ann-venv} with numpy, psycopg, hnswlib and faiss-cpu
# from PyPI on first use.
set -euo pipefail
bin=${1:?usage: benches/ann.sh path/to/orbit [ann.py flags]}
shift
venv=${VENV:-/tmp/orbit-ann-venv}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q numpy "psycopg[binary]" hnswlib faiss-cpu
fi
exec "$venv/bin/python" "$(dirname "$0")/ann.py" --orbit "$bin" "$@"
