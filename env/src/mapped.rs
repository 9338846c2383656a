//! Writable shared memory mappings of real files (`File::map_writable`), by `mmap(2)`.
//!
//! Invariants: the mapping is `MAP_SHARED` over `len` bytes the file holds (checked when
//! mapping) and is unmapped exactly once, on drop; no Rust reference into it is ever made
//! (bytes go in by raw copies only, serialized by a lock), so another process changing the
//! file cannot break Rust's aliasing rules.

use std::io;
use std::path::{Path, PathBuf};
use std::ptr::{self, NonNull};
use std::sync::Mutex;

use rustix::mm::{MapFlags, ProtFlags};

use crate::{Error, MappedFile, Result};

/// A mapping of a real file's first `len` bytes.
#[derive(Debug)]
pub(crate) struct RealMapping {
    ptr: NonNull<u8>,
    len: usize,
    path: PathBuf,
    /// Serializes copies into the mapping (two overlapping copies would be a data race).
    writes: Mutex<()>,
}

// SAFETY: the pointer addresses a shared file mapping this value owns; it is only written
// through `write_at`, under `writes`, and never read through by Rust code.
unsafe impl Send for RealMapping {}
// SAFETY: as for `Send`.
unsafe impl Sync for RealMapping {}

impl RealMapping {
    /// Maps the first `len` bytes of `file` (which must hold that many) for writing.
    pub(crate) fn new(file: &std::fs::File, path: &Path, len: u64) -> Result<RealMapping> {
        let bad = |why: &str| {
            Error::io(
                "map",
                path,
                io::Error::new(io::ErrorKind::InvalidInput, why),
            )
        };
        let file_len = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        if len == 0 || len > file_len {
            return Err(bad("mapping must be non-empty and inside the file"));
        }
        let len = usize::try_from(len).map_err(|_| bad("mapping larger than the address space"))?;
        // SAFETY: a new shared mapping placed by the kernel (no fixed address), so it overlaps
        // no memory Rust knows of; it covers bytes the file holds, and is unmapped only on drop.
        let raw = unsafe {
            rustix::mm::mmap(
                ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                file,
                0,
            )
        }
        .map_err(|e| Error::io("map", path, e.into()))?;
        let ptr = NonNull::new(raw.cast::<u8>()).ok_or_else(|| bad("mmap returned null"))?;
        Ok(RealMapping {
            ptr,
            len,
            path: path.to_path_buf(),
            writes: Mutex::new(()),
        })
    }
}

impl MappedFile for RealMapping {
    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        let start = usize::try_from(offset)
            .ok()
            .filter(|s| s.checked_add(buf.len()).is_some_and(|end| end <= self.len))
            .ok_or_else(|| {
                Error::io(
                    "write",
                    &self.path,
                    io::Error::new(io::ErrorKind::InvalidInput, "write past the mapping's end"),
                )
            })?;
        let _serial = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: `start + buf.len() <= len` (checked), so the copy stays inside the live
        // mapping; `buf` is ordinary memory, disjoint from it; copies are serialized.
        unsafe { ptr::copy_nonoverlapping(buf.as_ptr(), self.ptr.as_ptr().add(start), buf.len()) };
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len as u64
    }
}

impl Drop for RealMapping {
    fn drop(&mut self) {
        // SAFETY: exactly the region `mmap` returned in `new`, unmapped once; nothing points
        // into it (no references are ever made).
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use crate::{FileSystem, OpenMode, RealFs};

    #[test]
    fn writes_through_a_mapping_reach_the_file_and_stay_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m");
        let f = RealFs.open(&path, OpenMode::CreateNew).unwrap();
        f.allocate(8192).unwrap();
        assert!(f.map_writable(8193).is_err(), "mapping past the end");
        let m = f.map_writable(8192).unwrap().expect("real files map");
        assert_eq!(m.len(), 8192);
        m.write_at(b"hello", 4094).unwrap();
        m.write_at(b"!", 8191).unwrap();
        assert!(m.write_at(b"xy", 8191).is_err());
        assert!(m.write_at(b"x", u64::MAX).is_err());
        // Readers of the file see the bytes at once, through the page cache.
        let mut got = [0u8; 5];
        f.read_exact_at(&mut got, 4094).unwrap();
        assert_eq!(&got, b"hello");
        f.sync_data().unwrap();
        drop(m);
        drop(f);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 8192);
        assert_eq!(&bytes[4094..4099], b"hello");
        assert_eq!(bytes[8191], b'!');
        assert!(bytes[..4094].iter().all(|&b| b == 0));
    }
}
