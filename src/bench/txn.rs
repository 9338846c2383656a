//! `orbit bench txn`, `txnput`, `lsmput`: the transaction layer under load.
//!
//! - `txn`: `--num` transactions over `--threads` threads; each reads and rewrites
//!   `--ops-per-txn` random keys of `--keys` at `--isolation`, retrying serialization
//!   failures. Reports commits/s, the abort rate (failed attempts / attempts) and commit
//!   latency (the whole successful attempt).
//! - `txnput`: `--num` single-key writes through the transaction layer's fast path.
//! - `lsmput`: the same writes straight to the LSM (the anchor for the fast path's overhead).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use orbit_env::{FileSystem, RealFs};
use orbit_lsm::{Db, DbOptions, WriteBatch, DEFAULT_KEYSPACE};
use orbit_txn::{Error, TxnDb};
use orbit_wal::WalOptions;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::report::{histogram, print, record, Line};
use crate::cli::BenchArgs;

/// The workloads this module runs.
pub const WORKLOADS: &[&str] = &["txn", "txnput", "lsmput"];

fn key(k: u64) -> Vec<u8> {
    format!("{k:016}").into_bytes()
}

fn open(args: &BenchArgs, dir: &Path) -> anyhow::Result<TxnDb> {
    let fs: Arc<dyn FileSystem> = RealFs::shared();
    let opts = DbOptions {
        cache_bytes: args.cache_bytes,
        wal: WalOptions {
            sync_mode: args.sync.mode(1000),
            ..WalOptions::default()
        },
        ..DbOptions::default()
    };
    let db = Db::open(fs, dir, opts).context("cannot open the benchmark database")?;
    Ok(TxnDb::new(Arc::new(db)))
}

pub fn run(args: &BenchArgs, workloads: &[&str]) -> anyhow::Result<()> {
    for w in workloads {
        let dir: PathBuf = args
            .data_dir
            .join(format!("txn-bench-{w}-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        let result = open(args, &dir).and_then(|db| run_one(args, w, &db));
        let _ = std::fs::remove_dir_all(&dir);
        result?;
    }
    Ok(())
}

fn run_one(args: &BenchArgs, workload: &str, db: &TxnDb) -> anyhow::Result<()> {
    let threads = args.threads.max(1);
    let per = args.num / threads as u64;
    let keys = args.keys.max(1);
    let value = vec![b'v'; args.value_size];
    let attempts = AtomicU64::new(0);
    let start = Instant::now();
    let parts: Vec<anyhow::Result<hdrhistogram::Histogram<u64>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (value, attempts) = (&value, &attempts);
                s.spawn(move || -> anyhow::Result<_> {
                    let mut rng = StdRng::seed_from_u64(0x7a + t as u64);
                    let mut hist = histogram();
                    for _ in 0..per {
                        let t0 = Instant::now();
                        match workload {
                            "txn" => loop {
                                attempts.fetch_add(1, Ordering::Relaxed);
                                let mut txn = db.begin(args.isolation)?;
                                for _ in 0..args.ops_per_txn.max(1) {
                                    let k = key(rng.random_range(0..keys));
                                    let old = txn.get(DEFAULT_KEYSPACE, &k)?;
                                    let mut v = old.unwrap_or_default();
                                    v.truncate(args.value_size.saturating_sub(1));
                                    v.push(b'x');
                                    txn.put(DEFAULT_KEYSPACE, &k, &v)?;
                                }
                                match txn.commit() {
                                    Ok(_) => break,
                                    Err(Error::SerializationFailure(_)) => continue,
                                    Err(e) => return Err(e.into()),
                                }
                            },
                            "txnput" => {
                                attempts.fetch_add(1, Ordering::Relaxed);
                                db.put(DEFAULT_KEYSPACE, &key(rng.random_range(0..keys)), value)?;
                            }
                            _ => {
                                attempts.fetch_add(1, Ordering::Relaxed);
                                db.db().write(WriteBatch::new().put(
                                    DEFAULT_KEYSPACE,
                                    &key(rng.random_range(0..keys)),
                                    value,
                                ))?;
                            }
                        }
                        record(&mut hist, t0.elapsed());
                    }
                    Ok(hist)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a thread panicked")))
            })
            .collect()
    });
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    let mut hist = histogram();
    for p in parts {
        hist.add(&p?)
            .map_err(|e| anyhow::anyhow!("merging histograms: {e:?}"))?;
    }
    let commits = hist.len();
    let attempts = attempts.load(Ordering::Relaxed);
    let abort_rate = 1.0 - commits as f64 / attempts.max(1) as f64;
    let rate = commits as f64 / secs;
    let (p50, p99) = (hist.value_at_quantile(0.5), hist.value_at_quantile(0.99));
    let isolation = format!("{:?}", args.isolation);
    let line = Line {
        fields: vec![
            ("workload", json!(workload)),
            ("engine", json!("orbit")),
            ("threads", json!(threads)),
            ("keys", json!(keys)),
            ("ops_per_txn", json!(args.ops_per_txn)),
            ("isolation", json!(isolation)),
            ("sync", json!(format!("{:?}", args.sync).to_lowercase())),
            ("commits", json!(commits)),
            ("attempts", json!(attempts)),
            ("ops_per_sec", json!(rate.round())),
            ("abort_rate", json!((abort_rate * 10_000.0).round() / 10_000.0)),
            ("p50_us", json!(p50)),
            ("p99_us", json!(p99)),
        ],
        text: format!(
            "{workload:<8} {isolation:<15} threads {threads:>3}: {rate:>10.0} commits/s  aborts {:.2}%  p50 {p50:>6} us  p99 {p99:>6} us",
            abort_rate * 100.0
        ),
    };
    print(&line, args.json)?;
    Ok(())
}
