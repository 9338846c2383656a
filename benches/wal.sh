#!/usr/bin/env bash
# Reproduces the WAL table of docs/BENCHMARKS.md: the disk's own fdatasync limit (fio) beside
# `orbit bench wal` with both backends and both writer modes (OS threads, async tasks) at 1, 8,
# 64 and 256 writers in sync mode, REPS times,
# interleaved so that drift of the machine hits every row alike. JSON lines go to stdout.
# Usage: benches/wal.sh [REPS] [SECONDS]   (needs fio: apt-get install fio)
set -euo pipefail
reps=${1:-3}
secs=${2:-5}
dir=${ORBIT_BENCH_DIR:-./orbit-bench}
mkdir -p "$dir"
cargo build --release --quiet
for rep in $(seq 1 "$reps"); do
  fio --name=fdatasync-overwrite --filename="$dir/fio.dat" --size=64m --rw=write --bs=4k \
      --ioengine=sync --fdatasync=1 --runtime="$secs" --time_based --output-format=json \
    | python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; print(json.dumps({"workload":"fio-4k-fdatasync","rep":'"$rep"',"ops_per_sec":round(j["write"]["iops"]),"sync_p50_us":j["sync"]["lat_ns"]["percentile"]["50.000000"]/1000}))'
  ORBIT_LOG=warn ./target/release/orbit bench wal --writers 1,8,64,256 --backend uring,std --mode threads,tasks \
      --seconds "$secs" --record-size 100 --data-dir "$dir" --json
done
rm -f "$dir/fio.dat"
