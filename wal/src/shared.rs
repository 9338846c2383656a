//! State shared by the `Wal` handle, the writer thread and the segment manager thread.
//!
//! Lock order (never take an earlier one while holding a later one): `queue`, `segments`,
//! `manager`. The writer never holds `queue` while doing I/O.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use orbit_env::FileSystem;
use tokio::sync::oneshot;

use crate::format::Lsn;
use crate::{Error, Result, WalOptions};

/// Locks a mutex, ignoring poisoning: every critical section here leaves its data consistent
/// before anything that can panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A record waiting for the writer.
pub(crate) struct Pending {
    pub payload: Vec<u8>,
    pub payload_crc: u32,
    pub done: oneshot::Sender<Result<Lsn>>,
}

/// Work for the writer, in arrival order.
pub(crate) enum Op {
    Append(Pending),
    /// Make everything queued before this durable, then answer.
    Sync(oneshot::Sender<Result<Lsn>>),
    /// Write everything queued before this, close the active segment if it holds records,
    /// and answer with the LSN where the closed segments end.
    Switch(oneshot::Sender<Result<Lsn>>),
}

#[derive(Default)]
pub(crate) struct Queue {
    pub ops: VecDeque<Op>,
    pub bytes: u64,
    pub closing: bool,
    /// When non-zero, the writer is blocked on `work` until this many ops are queued: only the
    /// appender that reaches the count pays for a wake-up.
    pub wake_at: usize,
}

/// One segment file of the live log.
#[derive(Debug, Clone)]
pub(crate) struct SegInfo {
    pub first_lsn: Lsn,
    pub path: PathBuf,
    /// `None` while it is the active segment.
    pub end: Option<Lsn>,
    pub archived: bool,
    pub released: bool,
}

#[derive(Default)]
pub(crate) struct ManagerState {
    /// Prepared spare segments, ready for the writer.
    pub ready: VecDeque<PathBuf>,
    pub next_spare_id: u64,
    /// Closed segments to copy to the archive.
    pub to_archive: VecDeque<SegInfo>,
    /// Released (and, if archiving, archived) segments to recycle or delete.
    pub to_recycle: VecDeque<PathBuf>,
    /// The last failure to prepare a spare, handed to a writer waiting for one.
    pub spare_error: Option<String>,
    /// Segments whose archiving failed, and when to retry them.
    pub archive_failed: VecDeque<SegInfo>,
    pub archive_retry_at: Option<std::time::Instant>,
    pub shutdown: bool,
}

#[derive(Default)]
pub(crate) struct Stats {
    pub groups: AtomicU64,
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub syncs: AtomicU64,
    pub segment_switches: AtomicU64,
    pub spare_waits: AtomicU64,
    pub direct_io: AtomicBool,
    pub archived_segments: AtomicU64,
    pub archive_failures: AtomicU64,
}

pub(crate) struct Shared {
    pub fs: Arc<dyn FileSystem>,
    pub dir: PathBuf,
    pub opts: WalOptions,
    pub log_id: u64,
    pub backend: &'static str,
    pub queue: Mutex<Queue>,
    /// The writer waits here for work.
    pub work: Condvar,
    /// Appenders wait here for queue space.
    pub space: Condvar,
    /// End of the log as written to the OS.
    pub written_lsn: AtomicU64,
    /// End of the log as made durable.
    pub durable_lsn: AtomicU64,
    pub poisoned: AtomicBool,
    pub poison_cause: Mutex<Option<String>>,
    /// Set when the log starts closing: inline appenders stop.
    pub closed: AtomicBool,
    pub segments: Mutex<Vec<SegInfo>>,
    pub manager: Mutex<ManagerState>,
    /// Both the manager and a writer waiting for a spare wait here.
    pub manager_cv: Condvar,
    pub stats: Stats,
    /// Positions that backups still read from: no segment holding records at or after the
    /// smallest is released. `(hold id, lsn)`.
    pub holds: Mutex<Vec<(u64, Lsn)>>,
    pub next_hold: AtomicU64,
}

impl Shared {
    /// Records the first I/O failure; from now on every append fails.
    pub(crate) fn poison(&self, cause: &str) {
        let mut c = lock(&self.poison_cause);
        if c.is_none() {
            tracing::error!(
                cause,
                "wal poisoned: no further writes are accepted until restart"
            );
            *c = Some(cause.to_string());
        }
        self.poisoned.store(true, Ordering::SeqCst);
    }

    /// The poison error, if the log is poisoned.
    pub(crate) fn check_poison(&self) -> Result<()> {
        if self.poisoned.load(Ordering::SeqCst) {
            let cause = lock(&self.poison_cause).clone().unwrap_or_default();
            return Err(Error::Poisoned { cause });
        }
        Ok(())
    }
}
