//! `orbit bench`: storage micro-benchmarks in the style of RocksDB's db_bench.
//!
//! Results are printed as text or, with `--json`, one JSON object per result line.

mod report;
mod wal;

use crate::cli::BenchArgs;

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    for workload in args
        .workloads
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
    {
        match workload {
            "wal" => wal::run(&args)?,
            other => anyhow::bail!("unknown workload \"{other}\" (available: wal)"),
        }
    }
    Ok(())
}
