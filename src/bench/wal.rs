//! `orbit bench wal`: concurrent appenders against the write-ahead log.
//!
//! Each writer thread appends `--record-size` byte records and waits for each acknowledgement
//! (durable in `sync` mode), for `--seconds`. Reports appends/s, MB/s of payload, latency
//! percentiles and the average number of records per write group (group commit at work).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use orbit_env::{FileSystem, RealFs};
use orbit_wal::{Backend, Wal, WalOptions};
use serde_json::json;

use super::report::{histogram, print, record, sig4, Line};
use crate::cli::{BenchArgs, WriterMode};

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    for &backend in &args.backend {
        for &mode in &args.mode {
            for &writers in &args.writers {
                run_one(args, mode, backend, writers.max(1))?;
            }
        }
    }
    Ok(())
}

fn run_one(
    args: &BenchArgs,
    mode: WriterMode,
    backend: Backend,
    writers: usize,
) -> anyhow::Result<()> {
    let fs: Arc<dyn FileSystem> = RealFs::shared();
    let dir: PathBuf = args
        .data_dir
        .join(format!("wal-bench-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    let opts = WalOptions {
        sync_mode: args.sync.mode(1000),
        backend,
        segment_size: args.wal_segment_size,
        ..WalOptions::default()
    };
    let wal = Arc::new(Wal::open(fs, &dir, opts).context("cannot open the benchmark wal")?);
    let backend_name = wal.stats().backend;
    let stop = Arc::new(AtomicBool::new(false));
    let payload: Vec<u8> = (0..args.record_size).map(|i| (i * 131 + 7) as u8).collect();
    let seconds = Duration::from_secs_f64(args.seconds.max(0.1));
    let start = Instant::now();
    let (total, h) = match mode {
        WriterMode::Threads => run_threads(&wal, writers, &payload, &stop, seconds)?,
        WriterMode::Tasks => run_tasks(&wal, writers, &payload, &stop, seconds)?,
    };
    let elapsed = start.elapsed().as_secs_f64();
    let stats = wal.stats();
    drop(wal);
    let _ = std::fs::remove_dir_all(&dir);

    let ops = total as f64 / elapsed;
    let mb = ops * args.record_size as f64 / 1e6;
    let group = stats.records as f64 / stats.groups.max(1) as f64;
    let (p50, p99, p999) = (
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
    );
    let sync = format!("{:?}", args.sync).to_lowercase();
    let line = Line {
        fields: vec![
            ("workload", json!("wal")),
            ("engine", json!("orbit")),
            ("backend", json!(backend_name)),
            ("sync", json!(sync)),
            ("mode", json!(mode.name())),
            ("writers", json!(writers)),
            ("record_size", json!(args.record_size)),
            ("seconds", json!(elapsed)),
            ("ops", json!(total)),
            ("ops_per_sec", json!(ops.round())),
            ("mb_per_sec", json!(sig4(mb))),
            ("p50_us", json!(p50)),
            ("p99_us", json!(p99)),
            ("p999_us", json!(p999)),
            ("avg_group_size", json!(sig4(group))),
            ("syncs", json!(stats.syncs)),
        ],
        text: format!(
            "wal backend={backend_name:<5} sync={sync:<8} mode={:<7} writers={writers:<4} size={:<5} : {ops:>10.0} appends/s {mb:>8.2} MB/s  p50 {p50:>6} us  p99 {p99:>6} us  p99.9 {p999:>6} us  avg group {group:>7.2}",
            mode.name(),
            args.record_size
        ),
    };
    print(&line, args.json)?;
    Ok(())
}

type Outcome = anyhow::Result<(u64, Histogram<u64>)>;

/// Each writer is an OS thread blocking on its acknowledgement.
fn run_threads(
    wal: &Arc<Wal>,
    writers: usize,
    payload: &[u8],
    stop: &Arc<AtomicBool>,
    seconds: Duration,
) -> Outcome {
    let threads: Vec<_> = (0..writers)
        .map(|_| {
            let (wal, stop, payload) = (Arc::clone(wal), Arc::clone(stop), payload.to_vec());
            std::thread::spawn(move || -> Outcome {
                let mut h = histogram();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    wal.append_wait(payload.clone())?;
                    record(&mut h, t.elapsed());
                    n += 1;
                }
                Ok((n, h))
            })
        })
        .collect();
    std::thread::sleep(seconds);
    stop.store(true, Ordering::Relaxed);
    merge(threads.into_iter().map(|t| {
        t.join()
            .map_err(|_| anyhow::anyhow!("a writer thread panicked"))?
    }))
}

/// Each writer is an async task awaiting its acknowledgement; the tasks are spread over one
/// single-threaded runtime per core, as the server's per-core workers will run them.
fn run_tasks(
    wal: &Arc<Wal>,
    writers: usize,
    payload: &[u8],
    stop: &Arc<AtomicBool>,
    seconds: Duration,
) -> Outcome {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(writers);
    let threads: Vec<_> = (0..cores)
        .map(|core| {
            let (wal, stop, payload) = (Arc::clone(wal), Arc::clone(stop), payload.to_vec());
            let tasks = writers / cores + usize::from(core < writers % cores);
            std::thread::spawn(move || -> Outcome {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async move {
                    let handles: Vec<_> = (0..tasks)
                        .map(|_| {
                            let (wal, stop, payload) =
                                (Arc::clone(&wal), Arc::clone(&stop), payload.clone());
                            tokio::spawn(async move {
                                let mut h = histogram();
                                let mut n = 0u64;
                                while !stop.load(Ordering::Relaxed) {
                                    let t = Instant::now();
                                    wal.append(payload.clone())?.await?;
                                    record(&mut h, t.elapsed());
                                    n += 1;
                                }
                                Ok::<_, anyhow::Error>((n, h))
                            })
                        })
                        .collect();
                    let mut results = Vec::new();
                    for handle in handles {
                        results.push(handle.await?);
                    }
                    merge(results.into_iter())
                })
            })
        })
        .collect();
    std::thread::sleep(seconds);
    stop.store(true, Ordering::Relaxed);
    merge(threads.into_iter().map(|t| {
        t.join()
            .map_err(|_| anyhow::anyhow!("a writer thread panicked"))?
    }))
}

fn merge(parts: impl Iterator<Item = Outcome>) -> Outcome {
    let mut total = 0u64;
    let mut h = histogram();
    for part in parts {
        let (n, ph) = part?;
        total += n;
        h.add(&ph)
            .map_err(|e| anyhow::anyhow!("merging histograms: {e:?}"))?;
    }
    Ok((total, h))
}
