//! `orbit serve`: opens and recovers the data directory, then runs until SIGINT or SIGTERM.
//!
//! The protocol listeners arrive with their issues; today the server recovers the write-ahead
//! log, reports what it found, and shuts down cleanly (the WAL is synced and its threads joined).

use std::sync::Arc;

use anyhow::Context;
use orbit_env::{FileSystem, RealFs, SystemClock};
use orbit_wal::{Wal, WalOptions};

use crate::cli::ServeArgs;

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let fs: Arc<dyn FileSystem> = RealFs::shared();
    let data_dir = &args.data_dir;
    fs.create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let opts = WalOptions {
        sync_mode: args.storage.sync_mode(),
        backend: args.storage.wal_backend,
        segment_size: args.storage.wal_segment_size,
        clock: Arc::new(SystemClock::new()),
        ..WalOptions::default()
    };
    let wal = Wal::open(Arc::clone(&fs), data_dir.join("wal"), opts)
        .context("cannot open the write-ahead log")?;
    let mut records = 0u64;
    for record in wal
        .replay(wal.first_lsn())
        .context("cannot replay the write-ahead log")?
    {
        record.context("write-ahead log replay failed")?;
        records += 1;
    }
    let stats = wal.stats();
    tracing::info!(
        data_dir = %data_dir.display(), records, end_lsn = stats.written_lsn, backend = stats.backend,
        "recovered; waiting for SIGINT or SIGTERM"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(wait_for_shutdown())?;
    tracing::info!("shutting down");
    wal.close().context("closing the write-ahead log")?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn wait_for_shutdown() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    Ok(())
}
