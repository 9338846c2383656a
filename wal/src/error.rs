//! The WAL's error type.

use std::path::PathBuf;

use crate::Lsn;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error of the write-ahead log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system operation failed before anything was written for the caller.
    #[error("wal i/o failed")]
    Env(#[from] orbit_env::Error),
    /// The write or sync that carried this record failed: the record may or may not be on disk.
    /// The log is poisoned; restart and replay to learn what survived.
    #[error("wal write failed, the record may or may not be durable: {cause}")]
    Indeterminate {
        /// What failed, as text (one failure is reported to many waiters).
        cause: String,
    },
    /// An earlier write or sync failed; the log accepts nothing more until it is reopened.
    #[error("wal is poisoned after an earlier i/o failure ({cause}); restart to recover")]
    Poisoned {
        /// The original failure.
        cause: String,
    },
    /// Acknowledged data is damaged: replay cannot continue past it.
    #[error("wal corruption in \"{}\" at byte {offset}: {reason}", segment.display())]
    Corruption {
        /// The segment (or archive) file.
        segment: PathBuf,
        /// Byte offset within the file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A record longer than the log accepts.
    #[error("wal record of {len} bytes exceeds the maximum of {max}")]
    RecordTooLarge {
        /// The record's length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// Replay was asked to start outside the log.
    #[error("lsn {lsn} is outside the log, which holds [{first}, {end})")]
    LsnOutOfRange {
        /// The requested LSN.
        lsn: Lsn,
        /// The oldest LSN still held.
        first: Lsn,
        /// The end of the log.
        end: Lsn,
    },
    /// Options that cannot work.
    #[error("invalid wal configuration: {0}")]
    InvalidConfig(String),
    /// The io_uring backend was requested but cannot be set up here.
    #[error("io_uring is unavailable")]
    UringUnavailable(#[source] std::io::Error),
    /// The log has been closed.
    #[error("wal is closed")]
    Closed,
}

impl Error {
    /// True when the operation's outcome is unknown (it may have reached the disk).
    /// Callers must not report such a failure as "not done".
    pub fn is_indeterminate(&self) -> bool {
        matches!(self, Error::Indeterminate { .. })
    }

    pub(crate) fn corruption(
        segment: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        Error::Corruption {
            segment: segment.into(),
            offset,
            reason: reason.into(),
        }
    }
}
