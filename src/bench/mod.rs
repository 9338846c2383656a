//! `orbit bench`: storage micro-benchmarks in the style of RocksDB's db_bench.
//!
//! Results are printed as text or, with `--json`, one JSON object per result line.

#[cfg(feature = "bench-compare")]
mod compare;
mod engine;
mod report;
mod storage;
mod ts;
mod txn;
mod wal;

use crate::cli::BenchArgs;

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let workloads: Vec<&str> = args
        .workloads
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect();
    if workloads == ["ts"] {
        return ts::run(&args);
    }
    for w in &workloads {
        if *w != "wal" && !storage::WORKLOADS.contains(w) && !txn::WORKLOADS.contains(w) {
            anyhow::bail!(
                "unknown workload \"{w}\" (available: wal, {}, {})",
                storage::WORKLOADS.join(", "),
                txn::WORKLOADS.join(", ")
            );
        }
    }
    if workloads.contains(&"wal") {
        wal::run(&args)?;
    }
    let txns: Vec<&str> = workloads
        .iter()
        .copied()
        .filter(|w| txn::WORKLOADS.contains(w))
        .collect();
    if !txns.is_empty() {
        txn::run(&args, &txns)?;
    }
    let db: Vec<&str> = workloads
        .iter()
        .copied()
        .filter(|w| storage::WORKLOADS.contains(w))
        .collect();
    if !db.is_empty() {
        storage::run(&args, &db)?;
    }
    Ok(())
}
