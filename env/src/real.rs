//! The real file system: `std::fs` plus `rustix` for `pwritev`, `fdatasync` and `fallocate`.

use std::fs;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{Error, File, FileLock, FileSystem, OpenMode, Result};

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

/// A `flock` held on an open file: closing the file releases it.
#[derive(Debug)]
struct RealLock {
    _file: fs::File,
}

impl FileLock for RealLock {}

impl RealFs {
    /// The real file system as a shareable trait object.
    pub fn shared() -> Arc<dyn FileSystem> {
        Arc::new(RealFs)
    }
}

impl FileSystem for RealFs {
    fn open(&self, path: &Path, mode: OpenMode) -> Result<Arc<dyn File>> {
        let mut opts = fs::OpenOptions::new();
        opts.read(true);
        match mode {
            OpenMode::Read => {}
            OpenMode::ReadWrite => {
                opts.write(true);
            }
            OpenMode::CreateNew => {
                opts.write(true).create_new(true);
            }
            OpenMode::Create => {
                opts.write(true).create(true);
            }
        }
        let file = opts.open(path).map_err(|e| Error::io("open", path, e))?;
        Ok(Arc::new(RealFile {
            file,
            path: path.to_path_buf(),
        }))
    }

    fn lock_file(&self, path: &Path) -> Result<Box<dyn FileLock>> {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io("open", path, e))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
            .map_err(|e| Error::io("lock", path, e.into()))?;
        Ok(Box::new(RealLock { _file: file }))
    }

    fn create_dir_all(&self, path: &Path) -> Result<()> {
        fs::create_dir_all(path).map_err(|e| Error::io("create directory", path, e))
    }

    fn list_dir(&self, path: &Path) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(path).map_err(|e| Error::io("list directory", path, e))? {
            let entry = entry.map_err(|e| Error::io("list directory", path, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        fs::rename(from, to).map_err(|e| Error::io("rename", from, e))
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        fs::remove_file(path).map_err(|e| Error::io("remove", path, e))
    }

    fn hard_link(&self, from: &Path, to: &Path) -> Result<()> {
        fs::hard_link(from, to).map_err(|e| Error::io("hard-link", from, e))
    }

    fn sync_dir(&self, path: &Path) -> Result<()> {
        let dir = fs::File::open(path).map_err(|e| Error::io("open directory", path, e))?;
        dir.sync_all()
            .map_err(|e| Error::io("sync directory", path, e))
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        path.try_exists().map_err(|e| Error::io("stat", path, e))
    }

    fn open_direct(&self, path: &Path) -> Result<Arc<dyn File>> {
        use std::os::unix::fs::OpenOptionsExt;
        let direct = i32::try_from(rustix::fs::OFlags::DIRECT.bits()).unwrap_or(0);
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(direct)
            .open(path)
            .map_err(|e| Error::io("open for direct i/o", path, e))?;
        Ok(Arc::new(RealFile {
            file,
            path: path.to_path_buf(),
        }))
    }
}

#[derive(Debug)]
struct RealFile {
    file: fs::File,
    path: PathBuf,
}

impl File for RealFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        loop {
            match self.file.read_at(buf, offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other.map_err(|e| Error::io("read", &self.path, e)),
            }
        }
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.file
            .write_all_at(buf, offset)
            .map_err(|e| Error::io("write", &self.path, e))
    }

    fn write_vectored_at(&self, bufs: &[IoSlice<'_>], offset: u64) -> Result<()> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let written = match rustix::io::pwritev(&self.file, bufs, offset) {
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => 0,
            Err(e) => return Err(Error::io("write", &self.path, e.into())),
        };
        if written == total {
            return Ok(());
        }
        // A short vectored write (rare: signals, full disks): finish with plain writes.
        let mut skip = written;
        let mut pos = offset + written as u64;
        for buf in bufs {
            if skip >= buf.len() {
                skip -= buf.len();
                continue;
            }
            let rest = buf.get(skip..).unwrap_or_default();
            self.write_all_at(rest, pos)?;
            pos += rest.len() as u64;
            skip = 0;
        }
        Ok(())
    }

    fn sync_data(&self) -> Result<()> {
        rustix::fs::fdatasync(&self.file).map_err(|e| Error::io("sync", &self.path, e.into()))
    }

    fn sync_all(&self) -> Result<()> {
        rustix::fs::fsync(&self.file).map_err(|e| Error::io("sync", &self.path, e.into()))
    }

    fn set_len(&self, len: u64) -> Result<()> {
        self.file
            .set_len(len)
            .map_err(|e| Error::io("truncate", &self.path, e))
    }

    fn allocate(&self, len: u64) -> Result<()> {
        match rustix::fs::fallocate(&self.file, rustix::fs::FallocateFlags::empty(), 0, len) {
            Ok(()) => Ok(()),
            // File systems without fallocate (tmpfs on old kernels, some FUSE): extend instead.
            Err(rustix::io::Errno::OPNOTSUPP) => {
                if self.len()? < len {
                    self.set_len(len)?;
                }
                Ok(())
            }
            Err(e) => Err(Error::io("allocate", &self.path, e.into())),
        }
    }

    fn len(&self) -> Result<u64> {
        self.file
            .metadata()
            .map(|m| m.len())
            .map_err(|e| Error::io("stat", &self.path, e))
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn raw_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.file.as_fd())
    }

    fn map_writable(&self, len: u64) -> Result<Option<Arc<dyn crate::MappedFile>>> {
        let mapping = crate::mapped::RealMapping::new(&self.file, &self.path, len)?;
        Ok(Some(Arc::new(mapping)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_file_is_held_until_its_guard_drops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("LOCK");
        let held = RealFs.lock_file(&path).unwrap();
        // flock: a second open of the file conflicts, even in the same process.
        let e = RealFs.lock_file(&path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}");
        drop(held);
        let _again = RealFs.lock_file(&path).unwrap();
    }

    #[test]
    fn real_files_round_trip_through_the_trait() {
        let dir = tempfile::tempdir().unwrap();
        let fs = RealFs;
        let path = dir.path().join("a");
        let f = fs.open(&path, OpenMode::CreateNew).unwrap();
        assert!(
            fs.open(&path, OpenMode::CreateNew).is_err(),
            "create_new must refuse an existing file"
        );
        f.allocate(8192).unwrap();
        assert_eq!(f.len().unwrap(), 8192);
        f.write_vectored_at(&[IoSlice::new(b"hello "), IoSlice::new(b"world")], 10)
            .unwrap();
        f.sync_data().unwrap();
        let mut buf = [0u8; 11];
        f.read_exact_at(&mut buf, 10).unwrap();
        assert_eq!(&buf, b"hello world");
        assert!(f.raw_fd().is_some());

        let moved = dir.path().join("b");
        fs.rename(&path, &moved).unwrap();
        fs.sync_dir(dir.path()).unwrap();
        assert!(!fs.exists(&path).unwrap());
        fs.hard_link(&moved, &dir.path().join("c")).unwrap();
        assert_eq!(
            fs.list_dir(dir.path()).unwrap(),
            vec!["b".to_string(), "c".to_string()]
        );
        fs.remove_file(&moved).unwrap();
        let err = fs.open(&moved, OpenMode::Read).unwrap_err();
        assert!(err.is_not_found());
        let mut short = [0u8; 4];
        assert!(
            f.read_exact_at(&mut short, 8190).is_err(),
            "reading past the end must fail"
        );
    }
}
