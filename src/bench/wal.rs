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
use orbit_env::{FileSystem, RealFs};
use orbit_wal::{Backend, Wal, WalOptions};
use serde_json::json;

use super::report::{histogram, print, record, Line};
use crate::cli::BenchArgs;

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    for &backend in &args.backend {
        for &writers in &args.writers {
            run_one(args, backend, writers.max(1))?;
        }
    }
    Ok(())
}

fn run_one(args: &BenchArgs, backend: Backend, writers: usize) -> anyhow::Result<()> {
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
    let start = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|_| {
            let (wal, stop, payload) = (Arc::clone(&wal), Arc::clone(&stop), payload.clone());
            std::thread::spawn(
                move || -> anyhow::Result<(u64, hdrhistogram::Histogram<u64>)> {
                    let mut h = histogram();
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        wal.append_wait(payload.clone())?;
                        record(&mut h, t.elapsed());
                        n += 1;
                    }
                    Ok((n, h))
                },
            )
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(args.seconds.max(0.1)));
    stop.store(true, Ordering::Relaxed);
    let mut total = 0u64;
    let mut h = histogram();
    for t in threads {
        let (n, th) = t
            .join()
            .map_err(|_| anyhow::anyhow!("a writer thread panicked"))??;
        total += n;
        h.add(&th)
            .map_err(|e| anyhow::anyhow!("merging histograms: {e:?}"))?;
    }
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
            ("writers", json!(writers)),
            ("record_size", json!(args.record_size)),
            ("seconds", json!(elapsed)),
            ("ops", json!(total)),
            ("ops_per_sec", json!(ops.round())),
            ("mb_per_sec", json!((mb * 100.0).round() / 100.0)),
            ("p50_us", json!(p50)),
            ("p99_us", json!(p99)),
            ("p999_us", json!(p999)),
            ("avg_group_size", json!((group * 100.0).round() / 100.0)),
            ("syncs", json!(stats.syncs)),
        ],
        text: format!(
            "wal backend={backend_name:<5} sync={sync:<8} writers={writers:<4} size={:<5} : {ops:>10.0} appends/s {mb:>8.2} MB/s  p50 {p50:>6} us  p99 {p99:>6} us  p99.9 {p999:>6} us  avg group {group:>7.2}",
            args.record_size
        ),
    };
    print(&line, args.json);
    Ok(())
}
