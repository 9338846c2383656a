//! `orbit-env`: the one seam between Orbit and the operating system.
//!
//! Every byte Orbit writes to disk goes through [`FileSystem`] and [`File`]; every time that
//! matters (TTL, retention, periodic fsync, elections) comes from a [`Clock`]. Two backends exist
//! for each:
//!
//! ```text
//!   wal / lsm / txn ...  ──▶  dyn FileSystem ──┬─▶ RealFs   (std::fs + rustix: pwritev, fdatasync, fallocate)
//!                                              └─▶ SimFs    (memory: written vs durable images, crashes, faults)
//!                      ──▶  dyn Clock      ──┬─▶ SystemClock
//!                                              └─▶ ManualClock (tests advance it by hand; nothing sleeps)
//! ```
//!
//! Invariants the simulated disk upholds, so that crash tests mean something:
//! - a crash keeps only what was made durable (`sync_data`/`sync_all` for file contents, `sync_dir`
//!   for names), optionally with unsynced writes torn at sector granularity;
//! - a failed sync loses the writes it covered for good, as Linux does since 4.13 (pages are marked
//!   clean after the error), so retrying the sync proves nothing;
//! - scripted faults fail the Nth write or sync with EIO or ENOSPC.
//!
//! This crate knows nothing of logs, tables or keys.

mod clock;
mod error;
mod fs;
mod mapped;
mod real;
mod sim;
#[cfg(feature = "testing")]
pub mod testing;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Result};
pub use fs::{File, FileLock, FileSystem, MappedFile, OpenMode, DIRECT_IO_ALIGN};
pub use real::RealFs;
pub use sim::{CrashMode, FaultKind, FaultOp, SimFs, SECTOR_SIZE};
