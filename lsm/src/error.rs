//! The crate's error type.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error of the storage engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system operation failed.
    #[error("storage i/o failed")]
    Env(#[from] orbit_env::Error),
    /// A file's bytes are damaged or not what this version writes: never turned into data.
    #[error("corruption in \"{}\" at byte {offset}: {reason}", file.display())]
    Corruption {
        /// The file.
        file: PathBuf,
        /// Byte offset in the file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Keys given to a table builder out of order: a bug in the caller.
    #[error("internal error: keys added to a table out of order (likely a bug)")]
    KeysOutOfOrder,
    /// Compression or decompression failed.
    #[error("block compression failed")]
    Compression(#[source] std::io::Error),
    /// The write-ahead log failed.
    #[error(transparent)]
    Wal(#[from] orbit_wal::Error),
    /// No keyspace has this id (never created, or dropped).
    #[error("keyspace {0} does not exist")]
    UnknownKeyspace(u32),
    /// The default keyspace cannot be dropped.
    #[error("the default keyspace cannot be dropped")]
    DefaultKeyspace,
    /// A checkpoint's directory exists and is not empty.
    #[error("checkpoint directory \"{}\" exists and is not empty", .0.display())]
    CheckpointExists(std::path::PathBuf),
    /// Another process (or another open in this one) has the database directory.
    #[error("the data directory {} is in use by another process (its LOCK file is held)", .0.display())]
    InUse(std::path::PathBuf),
    /// A keyspace with this name exists already.
    #[error("keyspace \"{0}\" already exists")]
    KeyspaceExists(String),
    /// A key longer than the engine accepts.
    #[error("key of {len} bytes exceeds the maximum of {max}")]
    KeyTooLarge {
        /// The key's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A value longer than the engine accepts ([`crate::MAX_VALUE_LEN`]).
    #[error("value of {len} bytes exceeds the maximum of {max}")]
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A write batch with more operations or bytes than the log's format counts (more than
    /// `u32::MAX` operations, or records).
    #[error("write batch of {ops} operations ({bytes} bytes) exceeds what one batch may hold")]
    BatchTooLarge {
        /// Operations in the batch.
        ops: usize,
        /// Its encoded size.
        bytes: usize,
    },
    /// A write failed after its entries reached memory, or a flush failed: the database
    /// accepts no more writes until it is reopened (reads continue at the last good state).
    #[error("database is poisoned after an earlier failure ({cause}); reopen to recover")]
    Poisoned {
        /// The original failure.
        cause: String,
    },
    /// A replayed WAL record is not one the LSM writes, or not where it may be (a record of a
    /// batch split over several without the records before it).
    #[error("wal record at lsn {lsn}: {reason}")]
    BadLogRecord {
        /// Where the record starts.
        lsn: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A replayed WAL record writes to a keyspace the restored database does not have.
    #[error("wal record at lsn {lsn} names keyspace {keyspace}, which the restored database does not have")]
    ReplayUnknownKeyspace {
        /// Where the record starts.
        lsn: u64,
        /// The keyspace id in the log.
        keyspace: u32,
    },
    /// An invariant of the engine does not hold (a bug).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl Error {
    /// Whether this is a size limit of the engine (a key too long, a batch too large, a record
    /// the WAL refused for its size): the request is refused, nothing failed.
    pub fn is_size_limit(&self) -> bool {
        matches!(
            self,
            Error::KeyTooLarge { .. }
                | Error::ValueTooLarge { .. }
                | Error::BatchTooLarge { .. }
                | Error::Wal(orbit_wal::Error::RecordTooLarge { .. })
        )
    }

    pub(crate) fn corruption(
        file: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        Error::Corruption {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }
}

impl From<orbit_buffer::Error> for Error {
    fn from(e: orbit_buffer::Error) -> Self {
        match e {
            orbit_buffer::Error::Env(e) => Error::Env(e),
        }
    }
}
