//! db_bench-style workloads on the storage engine: one database, workloads run in order.
//!
//! Keys are `--key-size` zero-padded decimal numbers in `[0, --num)`; values are half random,
//! half repeated bytes (compressible about 2:1, like db_bench's default). Every operation is
//! timed; results report ops/s, MB/s (key + value bytes), p50/p99 latency, and for the Orbit
//! engine SST write amplification ((flushed + compacted bytes) / user bytes), space
//! amplification (table bytes / live key+value bytes) and block-cache hit rate.

use std::ops::Bound;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use orbit_env::{FileSystem, RealFs};
use orbit_lsm::{Db, DbOptions, Direction, WriteBatch, DEFAULT_KEYSPACE};
use orbit_wal::WalOptions;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::report::{histogram, print, record, Line};
use crate::cli::BenchArgs;

/// The workloads this module runs.
pub const WORKLOADS: &[&str] = &[
    "fillseq",
    "fillrandom",
    "overwrite",
    "readrandom",
    "readmissing",
    "seekrandom",
    "readwhilewriting",
    "mix",
];

struct Bench<'a> {
    args: &'a BenchArgs,
    db: Arc<Db>,
    loaded: bool,
}

fn key(args: &BenchArgs, k: u64) -> Vec<u8> {
    let mut s = format!("{k:0width$}", width = args.key_size);
    s.truncate(args.key_size.max(1));
    s.into_bytes()
}

fn value(rng: &mut StdRng, size: usize) -> Vec<u8> {
    let half = size / 2;
    let mut v: Vec<u8> = (0..half).map(|_| rng.random()).collect();
    v.resize(size, b'v');
    v
}

/// What one thread did.
struct Part {
    ops: u64,
    found: u64,
    hist: Histogram<u64>,
}

impl<'a> Bench<'a> {
    fn write_keys(
        &self,
        keys: impl Iterator<Item = u64>,
        rng: &mut StdRng,
        hist: &mut Histogram<u64>,
    ) -> anyhow::Result<u64> {
        let mut batch = WriteBatch::new();
        let mut ops = 0;
        for k in keys {
            batch.put(
                DEFAULT_KEYSPACE,
                &key(self.args, k),
                &value(rng, self.args.value_size),
            );
            if batch.len() >= self.args.batch.max(1) {
                let t = Instant::now();
                self.db.write(&batch)?;
                record(hist, t.elapsed());
                ops += batch.len() as u64;
                batch = WriteBatch::new();
            }
        }
        if !batch.is_empty() {
            let t = Instant::now();
            self.db.write(&batch)?;
            record(hist, t.elapsed());
            ops += batch.len() as u64;
        }
        Ok(ops)
    }

    /// Runs `f(thread, rng)` on `--threads` threads and gathers their parts.
    fn parallel(
        &self,
        f: impl Fn(usize, &mut StdRng) -> anyhow::Result<Part> + Sync,
    ) -> anyhow::Result<(Part, Duration)> {
        let threads = self.args.threads.max(1);
        let start = Instant::now();
        let parts: Vec<anyhow::Result<Part>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let f = &f;
                    s.spawn(move || f(t, &mut StdRng::seed_from_u64(0x5eed + t as u64)))
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
        let elapsed = start.elapsed();
        let mut total = Part {
            ops: 0,
            found: 0,
            hist: histogram(),
        };
        for p in parts {
            let p = p?;
            total.ops += p.ops;
            total.found += p.found;
            total
                .hist
                .add(&p.hist)
                .map_err(|e| anyhow::anyhow!("merging histograms: {e:?}"))?;
        }
        Ok((total, elapsed))
    }

    fn share(&self, t: usize) -> std::ops::Range<u64> {
        let threads = self.args.threads.max(1) as u64;
        let per = self.args.num / threads;
        let start = t as u64 * per;
        let end = if t as u64 == threads - 1 {
            self.args.num
        } else {
            start + per
        };
        start..end
    }

    /// This thread's share of operations, each on a random key, timed one by one; `op` says
    /// whether it found something.
    fn timed_random_ops(
        &self,
        t: usize,
        rng: &mut StdRng,
        op: impl Fn(Vec<u8>, &mut StdRng) -> anyhow::Result<bool>,
    ) -> anyhow::Result<Part> {
        let mut p = Part {
            ops: 0,
            found: 0,
            hist: histogram(),
        };
        for _ in self.share(t) {
            let k = key(self.args, rng.random_range(0..self.args.num));
            let t0 = Instant::now();
            let found = op(k, rng)?;
            record(&mut p.hist, t0.elapsed());
            p.ops += 1;
            p.found += u64::from(found);
        }
        Ok(p)
    }

    /// This thread's share of timed point reads of random keys (made absent with `missing`).
    fn random_reads(&self, t: usize, rng: &mut StdRng, missing: bool) -> anyhow::Result<Part> {
        self.timed_random_ops(t, rng, |mut k, _| {
            if missing {
                k.push(b'.');
            }
            Ok(self.db.get(DEFAULT_KEYSPACE, &k)?.is_some())
        })
    }

    fn ensure_loaded(&mut self) -> anyhow::Result<()> {
        if !self.loaded {
            let mut rng = StdRng::seed_from_u64(1);
            let mut h = histogram();
            self.write_keys(0..self.args.num, &mut rng, &mut h)?;
            self.loaded = true;
        }
        Ok(())
    }

    fn run(&mut self, workload: &str) -> anyhow::Result<(Part, Duration)> {
        let num = self.args.num;
        match workload {
            "fillseq" => {
                let r = self.parallel(|t, rng| {
                    let mut hist = histogram();
                    let ops = self.write_keys(self.share(t), rng, &mut hist)?;
                    Ok(Part {
                        ops,
                        found: 0,
                        hist,
                    })
                })?;
                self.loaded = true;
                Ok(r)
            }
            "fillrandom" | "overwrite" => {
                if workload == "overwrite" {
                    self.ensure_loaded()?;
                }
                let r = self.parallel(|t, rng| {
                    let mut hist = histogram();
                    let n = self.share(t).count() as u64;
                    let keys: Vec<u64> = (0..n).map(|_| rng.random_range(0..num)).collect();
                    let ops = self.write_keys(keys.into_iter(), rng, &mut hist)?;
                    Ok(Part {
                        ops,
                        found: 0,
                        hist,
                    })
                })?;
                self.loaded = true;
                Ok(r)
            }
            "readrandom" | "readmissing" => {
                self.ensure_loaded()?;
                let missing = workload == "readmissing";
                self.parallel(|t, rng| self.random_reads(t, rng, missing))
            }
            "seekrandom" => {
                self.ensure_loaded()?;
                self.parallel(|t, rng| {
                    self.timed_random_ops(t, rng, |k, _| {
                        let snap = self.db.snapshot();
                        let range = (Bound::Included(k), Bound::Unbounded);
                        let mut n = 0;
                        for kv in self
                            .db
                            .iter(DEFAULT_KEYSPACE, range, Direction::Forward, &snap)?
                            .take(10)
                        {
                            kv?;
                            n += 1;
                        }
                        Ok(n > 0)
                    })
                })
            }
            "readwhilewriting" => {
                self.ensure_loaded()?;
                let stop = AtomicBool::new(false);
                std::thread::scope(|s| {
                    let writer = s.spawn(|| -> anyhow::Result<()> {
                        let mut rng = StdRng::seed_from_u64(99);
                        while !stop.load(Ordering::Relaxed) {
                            let k = key(self.args, rng.random_range(0..num));
                            self.db.put(
                                DEFAULT_KEYSPACE,
                                &k,
                                &value(&mut rng, self.args.value_size),
                            )?;
                        }
                        Ok(())
                    });
                    let readers = self.parallel(|t, rng| self.random_reads(t, rng, false));
                    stop.store(true, Ordering::Relaxed);
                    writer
                        .join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("the writer panicked")))?;
                    readers
                })
            }
            "mix" => {
                self.ensure_loaded()?;
                self.parallel(|t, rng| {
                    self.timed_random_ops(t, rng, |k, rng| {
                        if rng.random_range(0..10) == 0 {
                            self.db
                                .put(DEFAULT_KEYSPACE, &k, &value(rng, self.args.value_size))?;
                            Ok(false)
                        } else {
                            Ok(self.db.get(DEFAULT_KEYSPACE, &k)?.is_some())
                        }
                    })
                })
            }
            other => anyhow::bail!("unknown workload \"{other}\""),
        }
    }
}

pub fn run(args: &BenchArgs, workloads: &[&str]) -> anyhow::Result<()> {
    if args.engine != "orbit" {
        anyhow::bail!(
            "engine \"{}\" is not built in: comparison engines (rocksdb, fjall) need the bench-compare feature, not implemented yet",
            args.engine
        );
    }
    let fs: Arc<dyn FileSystem> = RealFs::shared();
    let dir: PathBuf = args
        .data_dir
        .join(format!("db-bench-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    let opts = DbOptions {
        cache_bytes: args.cache_bytes,
        wal: WalOptions {
            sync_mode: args.sync.mode(1000),
            ..WalOptions::default()
        },
        ..DbOptions::default()
    };
    let db = Arc::new(Db::open(fs, &dir, opts).context("cannot open the benchmark database")?);
    let mut bench = Bench {
        args,
        db: Arc::clone(&db),
        loaded: false,
    };
    let result = (|| -> anyhow::Result<()> {
        for w in workloads {
            let before = db.stats();
            let (part, elapsed) = bench.run(w)?;
            let after = db.stats();
            report(args, w, &part, elapsed, &before, &after, &dir)?;
        }
        Ok(())
    })();
    drop(bench);
    if let Ok(db) = Arc::try_unwrap(db) {
        db.close()?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".sst"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn report(
    args: &BenchArgs,
    workload: &str,
    part: &Part,
    elapsed: Duration,
    before: &orbit_lsm::DbStats,
    after: &orbit_lsm::DbStats,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let ops = part.ops as f64 / secs;
    let mb = ops * (args.key_size + args.value_size) as f64 / 1e6;
    let (p50, p99) = (
        part.hist.value_at_quantile(0.5),
        part.hist.value_at_quantile(0.99),
    );
    let written = (after.flush_bytes + after.compaction_write_bytes) as f64;
    let w_amp = written / after.user_bytes.max(1) as f64;
    let live = args.num as f64 * (args.key_size + args.value_size) as f64;
    let space_amp = dir_bytes(dir) as f64 / live.max(1.0);
    let lookups = (after.cache.hits + after.cache.misses)
        .saturating_sub(before.cache.hits + before.cache.misses);
    let hits = after.cache.hits.saturating_sub(before.cache.hits);
    let hit_rate = if lookups == 0 {
        0.0
    } else {
        hits as f64 / lookups as f64
    };
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    let line = Line {
        fields: vec![
            ("workload", json!(workload)),
            ("engine", json!("orbit")),
            ("num", json!(args.num)),
            ("threads", json!(args.threads)),
            ("batch", json!(args.batch)),
            ("sync", json!(format!("{:?}", args.sync).to_lowercase())),
            ("seconds", json!(round(secs))),
            ("ops", json!(part.ops)),
            ("found", json!(part.found)),
            ("ops_per_sec", json!(ops.round())),
            ("mb_per_sec", json!(round(mb))),
            ("p50_us", json!(p50)),
            ("p99_us", json!(p99)),
            ("write_amp", json!(round(w_amp))),
            ("space_amp", json!(round(space_amp))),
            ("cache_hit_rate", json!(round(hit_rate))),
            ("tables_per_level", json!(after.tables_per_level)),
        ],
        text: format!(
            "{workload:<16} orbit : {ops:>10.0} ops/s {mb:>8.2} MB/s  p50 {p50:>6} us  p99 {p99:>6} us  found {}/{}  w-amp {w_amp:.2}  space-amp {space_amp:.2}  cache hit {:.1}%",
            part.found,
            part.ops,
            hit_rate * 100.0
        ),
    };
    print(&line, args.json)?;
    Ok(())
}
