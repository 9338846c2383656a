//! Configuration of a log: durability mode, backend, segment geometry, archiving.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use orbit_env::{Clock, SystemClock};

use crate::format::SEGMENT_HEADER_SIZE;

/// Default segment size: 64 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;
/// Smallest segment size accepted (tests use small segments to exercise switching).
pub const MIN_SEGMENT_SIZE: u64 = 16 << 10;
/// Largest record accepted, whatever the segment size.
pub const MAX_RECORD_LEN: u64 = 256 << 20;
/// A write group carries at most this many payload bytes (a larger single record goes alone).
pub const MAX_GROUP_BYTES: u64 = 4 << 20;
/// A write group carries at most this many records.
pub const MAX_GROUP_RECORDS: usize = 4096;
/// Appenders wait when this many bytes are queued and not yet written.
pub const MAX_QUEUED_BYTES: u64 = 64 << 20;

/// When an append is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// After the record is on disk (write + fdatasync). The default.
    Sync,
    /// After the record is written to the OS; fdatasync runs every `interval`.
    Periodic(Duration),
    /// After the record is written to the OS; never synced except on close and segment switch.
    None,
}

/// Which segment-I/O backend the writer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The backend measured fastest here (docs/BENCHMARKS.md, "WAL"): today `Std` in `sync`
    /// mode and `Mmap` otherwise.
    Auto,
    /// io_uring: in `sync` mode one `RWF_DSYNC` write of whole blocks on an `O_DIRECT`
    /// descriptor per group; otherwise a writev linked to an fdatasync. Fails to open without it.
    Uring,
    /// Through the `orbit-env` file trait: `pwritev` + `fdatasync` on a real disk.
    Std,
    /// In `none` and `periodic` modes, groups are copied into a shared memory mapping of the
    /// segment (no system call per group); `sync` mode writes as `Std`.
    Mmap,
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Backend::Auto),
            "uring" | "io_uring" => Ok(Backend::Uring),
            "std" | "portable" => Ok(Backend::Std),
            "mmap" => Ok(Backend::Mmap),
            other => Err(format!(
                "unknown wal backend \"{other}\" (expected auto, uring, std or mmap)"
            )),
        }
    }
}

/// Options of [`crate::Wal::open`].
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// Durability of an acknowledged append.
    pub sync_mode: SyncMode,
    /// Segment-I/O backend.
    pub backend: Backend,
    /// Size of each segment file.
    pub segment_size: u64,
    /// Released segments kept for reuse (renamed, not rewritten).
    pub max_spare_segments: usize,
    /// Copy each closed segment here (zstd-compressed, checksummed) before it may be reused.
    pub archive_dir: Option<PathBuf>,
    /// With archiving on: close the active segment (so it is archived) at least this often
    /// when it holds records, bounding how much committed data is outside the archive.
    pub archive_timeout: Option<Duration>,
    /// Source of the group timestamps and segment creation times.
    pub clock: Arc<dyn Clock>,
    /// Identity of a newly created log; random when `None`. Ignored when the log exists.
    pub new_log_id: Option<u64>,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            sync_mode: SyncMode::Sync,
            backend: Backend::Auto,
            segment_size: DEFAULT_SEGMENT_SIZE,
            max_spare_segments: 2,
            archive_dir: None,
            archive_timeout: None,
            clock: Arc::new(SystemClock::new()),
            new_log_id: None,
        }
    }
}

impl WalOptions {
    /// The largest payload accepted with these options: one record plus its group frame must
    /// fit in a segment.
    pub fn max_record_len(&self) -> u64 {
        let room = self
            .segment_size
            .saturating_sub(SEGMENT_HEADER_SIZE + crate::format::GROUP_FRAME_SIZE);
        room.saturating_sub(crate::format::RECORD_HEADER_SIZE)
            .min(MAX_RECORD_LEN)
    }

    pub(crate) fn validate(&self) -> crate::Result<()> {
        if self.segment_size < MIN_SEGMENT_SIZE || self.segment_size % 4096 != 0 {
            return Err(crate::Error::InvalidConfig(format!(
                "segment size {} must be a multiple of 4096 and at least {MIN_SEGMENT_SIZE}",
                self.segment_size
            )));
        }
        if let SyncMode::Periodic(d) = self.sync_mode {
            if d.is_zero() {
                return Err(crate::Error::InvalidConfig(
                    "periodic sync interval must be positive".into(),
                ));
            }
        }
        Ok(())
    }
}
