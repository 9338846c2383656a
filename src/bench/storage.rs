//! db_bench-style workloads on the storage engine: one database, workloads run in order.
//!
//! Keys are `--key-size` zero-padded decimal numbers in `[0, --num)`; values are half random,
//! half repeated bytes (compressible about 2:1, like db_bench's default). Every operation is
//! timed; results report ops/s, MB/s (key + value bytes), p50/p99 latency, and for engines
//! that count them (Orbit's) SST write amplification ((flushed + compacted bytes) / user
//! bytes), space amplification (table bytes / live key+value bytes) and block-cache hit rate.
//! The engine is `--engine` (`engine.rs`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::engine::{self, Engine, EngineCounters};
use super::report::{histogram, print, record, sig4, Line};
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
    db: &'a dyn Engine,
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
        let mut batch = Vec::with_capacity(self.args.batch.max(1));
        let mut ops = 0;
        for k in keys {
            batch.push((key(self.args, k), value(rng, self.args.value_size)));
            if batch.len() >= self.args.batch.max(1) {
                let t = Instant::now();
                self.db.write(&batch)?;
                record(hist, t.elapsed());
                ops += batch.len() as u64;
                batch.clear();
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
            self.db.get(&k)
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
                    self.timed_random_ops(t, rng, |k, _| Ok(self.db.seek(&k, 10)? > 0))
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
                            self.db
                                .write(&[(k, value(&mut rng, self.args.value_size))])?;
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
                            self.db.write(&[(k, value(rng, self.args.value_size))])?;
                            Ok(false)
                        } else {
                            self.db.get(&k)
                        }
                    })
                })
            }
            other => anyhow::bail!("unknown workload \"{other}\""),
        }
    }
}

pub fn run(args: &BenchArgs, workloads: &[&str]) -> anyhow::Result<()> {
    let dir: PathBuf =
        args.data_dir
            .join(format!("db-bench-{}-{}", args.engine, std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = (|| -> anyhow::Result<()> {
        let db = engine::open(args, &dir).context("cannot open the benchmark database")?;
        let mut bench = Bench {
            args,
            db: db.as_ref(),
            loaded: false,
        };
        for w in workloads {
            let before = db.counters();
            let (part, elapsed) = bench.run(w)?;
            let after = db.counters();
            report(args, db.name(), w, &part, elapsed, before, after, &dir)?;
        }
        Ok(())
    })();
    if args.keep {
        eprintln!("database kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// Bytes of the engine's table files under `dir` (recursively; logs and metadata excluded).
fn table_bytes(dir: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(Result::ok)
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            match e.metadata() {
                Ok(m) if m.is_dir() => table_bytes(&e.path()),
                // Orbit and RocksDB tables end in .sst; fjall's segments are bare numbers.
                Ok(m) if name.ends_with(".sst") || name.bytes().all(|b| b.is_ascii_digit()) => {
                    m.len()
                }
                _ => 0,
            }
        })
        .sum()
}

#[allow(clippy::too_many_arguments)] // one result line's inputs
fn report(
    args: &BenchArgs,
    engine: &str,
    workload: &str,
    part: &Part,
    elapsed: Duration,
    before: Option<EngineCounters>,
    after: Option<EngineCounters>,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let ops = part.ops as f64 / secs;
    let mb = ops * (args.key_size + args.value_size) as f64 / 1e6;
    let (p50, p99) = (
        part.hist.value_at_quantile(0.5),
        part.hist.value_at_quantile(0.99),
    );
    let live = args.num as f64 * (args.key_size + args.value_size) as f64;
    let space_amp = table_bytes(dir) as f64 / live.max(1.0);
    let counted = before.zip(after).map(|(before, after)| {
        let w_amp = after.table_bytes_written as f64 / after.user_bytes.max(1) as f64;
        let hit_rate = before.cache.zip(after.cache).map(|(b, a)| {
            let lookups = (a.0 + a.1).saturating_sub(b.0 + b.1);
            a.0.saturating_sub(b.0) as f64 / lookups.max(1) as f64
        });
        (w_amp, hit_rate, after.tables_per_level)
    });
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    let line = Line {
        fields: vec![
            ("workload", json!(workload)),
            ("engine", json!(engine)),
            ("num", json!(args.num)),
            ("threads", json!(args.threads)),
            ("batch", json!(args.batch)),
            ("sync", json!(format!("{:?}", args.sync).to_lowercase())),
            ("seconds", json!(round(secs))),
            ("ops", json!(part.ops)),
            ("found", json!(part.found)),
            ("ops_per_sec", json!(ops.round())),
            ("mb_per_sec", json!(sig4(mb))),
            ("p50_us", json!(p50)),
            ("p99_us", json!(p99)),
            ("space_amp", json!(round(space_amp))),
            (
                "write_amp",
                json!(counted.as_ref().map(|c| round(c.0))),
            ),
            (
                "cache_hit_rate",
                json!(counted.as_ref().and_then(|c| c.1).map(round)),
            ),
            (
                "tables_per_level",
                json!(counted.as_ref().map(|c| c.2.clone())),
            ),
        ],
        text: format!(
            "{workload:<16} {engine:<7}: {ops:>10.0} ops/s {mb:>8.2} MB/s  p50 {p50:>6} us  p99 {p99:>6} us  found {}/{}  space-amp {space_amp:.2}{}",
            part.found,
            part.ops,
            counted.as_ref().map_or(String::new(), |c| format!(
                "  w-amp {:.2}{}",
                c.0,
                c.1.map_or(String::new(), |h| format!("  cache hit {:.1}%", h * 100.0))
            )),
        ),
    };
    print(&line, args.json)?;
    Ok(())
}
