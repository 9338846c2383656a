//! `orbit-wal`: the write-ahead log.
//!
//! Owns the log's segment files, the framing of records in them, group commit, replay after a
//! crash, the recycling of released segments and their archive. It knows nothing of what the
//! records mean (the LSM encodes its write batches into them).
//!
//! ```text
//!  appenders ──append(payload)──▶ queue ──▶ writer thread ──▶ SegmentIo ─┬─ io_uring: O_DIRECT + RWF_DSYNC blocks
//!     ▲   (payload crc computed                (LSNs, group frames,         └─ std: pwritev + fdatasync (orbit-env)
//!     │    by the appender)                     one write per group)
//!     └──────────── every waiter of the group completed at once ◀──┘
//!  segment manager thread: spares ready ahead · archive closed segments · recycle released ones
//! ```
//!
//! Invariants:
//! - An LSN is the logical byte offset of a record; LSNs are contiguous across segments, and a
//!   segment ends exactly where the next begins.
//! - Every frame's checksum covers its LSN, so stale bytes in a recycled segment never validate.
//! - Every write group starts with a frame naming the LSN that was durable before it. Replay
//!   truncates a torn tail of the newest segment, but reports damage to anything a later
//!   group vouches for, and damage in any closed segment, as corruption naming file and offset.
//! - In `sync` mode an append is acknowledged only after its group's fdatasync succeeded.
//! - A failed write or sync poisons the log: its group learns the outcome is unknown, every
//!   later append is refused, and nothing is retried. Reopening (replay) is the way back.
//! - Every file operation goes through `orbit-env`; the io_uring backend only submits I/O on
//!   descriptors that `orbit-env` opened.
//!
//! The byte layout is documented in [`format`] and `docs/internals/wal.md`.

mod archive;
mod error;
pub mod format;
mod gather;
mod inspect;
mod io;
mod manager;
mod mapped_io;
mod options;
mod replay;
mod segment;
mod shared;
mod wal;
mod writer;

pub use archive::{
    archive_name, archive_timelines, parse_archive_name, read_archive, verify_archive,
    ArchiveSummary,
};
pub use error::{Error, Result};
pub use format::Lsn;
pub use inspect::{inspect_segment, FrameInfo, SegmentDump};
pub use options::{
    Backend, SyncMode, WalOptions, DEFAULT_SEGMENT_SIZE, MAX_GROUP_BYTES, MAX_GROUP_RECORDS,
    MAX_QUEUED_BYTES, MAX_RECORD_LEN, MIN_SEGMENT_SIZE,
};
pub use replay::Replay;
pub use segment::Record;
pub use wal::{AppendHandle, ArchiveStatus, Recovered, Wal, WalHold, WalStats};

/// Whether io_uring can be set up on this machine (for tests and diagnostics).
pub fn uring_available() -> bool {
    io::UringIo::new(orbit_env::RealFs::shared()).is_ok()
}

#[cfg(test)]
mod tests;
