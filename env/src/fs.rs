//! The file-system trait: the narrow set of operations storage code may perform.

use std::fmt::Debug;
use std::io::IoSlice;
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::sync::Arc;

use crate::Result;

/// How to open a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Existing file, read only.
    Read,
    /// Existing file, read and write.
    ReadWrite,
    /// Create the file (it must not exist), read and write.
    CreateNew,
    /// Open or create, read and write, keeping existing contents.
    Create,
}

/// An exclusive hold on a lock file ([`FileSystem::lock_file`]), released when dropped.
pub trait FileLock: Send + Sync + Debug {}

/// A file system: real, or simulated for crash and fault tests.
///
/// Names become durable only through [`FileSystem::sync_dir`] on their parent directory; file
/// contents only through [`File::sync_data`] or [`File::sync_all`].
pub trait FileSystem: Send + Sync + Debug {
    /// Opens `path` in the given mode.
    fn open(&self, path: &Path, mode: OpenMode) -> Result<Arc<dyn File>>;
    /// Takes an exclusive lock on `path` (created if missing) while the returned guard lives;
    /// an error of kind `WouldBlock` if another holder has it (on the real disk: another open
    /// of the file, in this process or another, as `flock` does).
    fn lock_file(&self, path: &Path) -> Result<Box<dyn FileLock>>;
    /// Creates a directory and its parents; existing ones are fine.
    fn create_dir_all(&self, path: &Path) -> Result<()>;
    /// The names of the entries of a directory, sorted.
    fn list_dir(&self, path: &Path) -> Result<Vec<String>>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> Result<()>;
    /// Creates `to` as a hard link of `from`.
    fn hard_link(&self, from: &Path, to: &Path) -> Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, path: &Path) -> Result<()>;
    /// Whether `path` exists (file or directory).
    fn exists(&self, path: &Path) -> Result<bool>;
    /// Opens an existing file for direct I/O (`O_DIRECT`: no page cache), for backends that
    /// submit I/O on its descriptor. Offsets, lengths and buffer addresses of direct writes must
    /// be multiples of [`DIRECT_IO_ALIGN`]. File systems without it return `Unsupported`.
    fn open_direct(&self, path: &Path) -> Result<Arc<dyn File>> {
        Err(crate::Error::io(
            "open for direct i/o",
            path,
            std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "direct i/o is not supported here",
            ),
        ))
    }
}

/// Alignment that direct I/O needs on every device Orbit supports (4096 covers 512-byte and
/// 4 KiB logical sectors).
pub const DIRECT_IO_ALIGN: usize = 4096;

/// A writable memory mapping of a file's first bytes, from [`File::map_writable`]. A write is
/// a copy into the page cache: no system call, visible at once to every reader of the file,
/// kept if the process dies (the kernel owns the pages), and durable after the file's
/// `sync_data`, like a `pwrite`.
// As for `File`: `len` is the mapped length, there is no emptiness to ask about.
#[allow(clippy::len_without_is_empty)]
pub trait MappedFile: Send + Sync + Debug {
    /// Copies `buf` into the file at `offset`; fails if that reaches past the mapping.
    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()>;
    /// The mapped length.
    fn len(&self) -> u64;
}

/// An open file. All positions are absolute; there is no cursor, so one handle may be shared.
// `len` is a fallible file-size query, not a collection length: `is_empty` would mislead.
#[allow(clippy::len_without_is_empty)]
pub trait File: Send + Sync + Debug {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read (0 at the end).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize>;
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<()>;
    /// Writes all of `bufs`, back to back, at `offset` (one `pwritev` where possible).
    fn write_vectored_at(&self, bufs: &[IoSlice<'_>], offset: u64) -> Result<()>;
    /// Makes the file's data durable (`fdatasync`).
    fn sync_data(&self) -> Result<()>;
    /// Makes the file's data and metadata durable (`fsync`).
    fn sync_all(&self) -> Result<()>;
    /// Truncates or extends the file to `len` bytes.
    fn set_len(&self, len: u64) -> Result<()>;
    /// Reserves space so that the file is at least `len` bytes long (`fallocate`).
    fn allocate(&self, len: u64) -> Result<()>;
    /// The file's current length.
    fn len(&self) -> Result<u64>;
    /// The path the file was opened at (for error messages).
    fn path(&self) -> &Path;
    /// The operating-system descriptor, for backends (io_uring) that submit I/O themselves.
    /// `None` for simulated files.
    fn raw_fd(&self) -> Option<BorrowedFd<'_>>;
    /// Maps the file's first `len` bytes for writing through memory (see [`MappedFile`]). The
    /// file must already be at least `len` bytes long, with its blocks allocated (`allocate`),
    /// so that a store can never meet a full disk; nothing may shrink it while the mapping
    /// lives. `Ok(None)` where the file system does not map files.
    fn map_writable(&self, len: u64) -> Result<Option<Arc<dyn MappedFile>>> {
        let _ = len;
        Ok(None)
    }

    /// Reads exactly `buf.len()` bytes at `offset`, failing with `UnexpectedEof` if the file is
    /// shorter.
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> Result<()> {
        while !buf.is_empty() {
            let n = self.read_at(buf, offset)?;
            if n == 0 {
                return Err(crate::Error::io(
                    "read",
                    self.path(),
                    std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
                ));
            }
            let rest = std::mem::take(&mut buf);
            buf = rest.get_mut(n..).unwrap_or_default();
            offset += n as u64;
        }
        Ok(())
    }
}
