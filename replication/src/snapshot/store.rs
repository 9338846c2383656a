//! The directory of snapshot files (`<data dir>/raft-snapshots` under `orbit serve`):
//!
//! - `built-N.snap`: a snapshot this node built, to send to a lagging follower;
//! - `received-N.part`: a snapshot arriving from a leader, chunk by chunk;
//! - `install.snap`: a received snapshot being installed;
//! - `installed-N.snap`: the last snapshot this node installed (its current one until it
//!   builds a newer one).
//!
//! Invariants: `install.snap` is synced, and its name made durable, before the engine is
//! changed for it, and it is renamed only after the install is durable: an install a crash
//! interrupted is finished from it at the next start. Every other file is rebuilt or resent
//! after a restart, so opening the store removes them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use orbit_env::{File, FileSystem, OpenMode};

use crate::error::Result;

const INSTALL: &str = "install.snap";

/// The snapshot directory.
#[derive(Debug)]
pub(crate) struct Store {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    /// The number the next file's name gets.
    next: AtomicU64,
}

impl Store {
    /// Opens (or creates) `dir`, removing every file but an interrupted install's.
    pub(crate) fn open(fs: Arc<dyn FileSystem>, dir: impl AsRef<Path>) -> Result<Store> {
        let dir = dir.as_ref().to_path_buf();
        fs.create_dir_all(&dir)?;
        for name in fs.list_dir(&dir)? {
            if name != INSTALL {
                fs.remove_file(&dir.join(&name))?;
            }
        }
        Ok(Store {
            fs,
            dir,
            next: AtomicU64::new(1),
        })
    }

    /// A new, empty file: `{kind}-N.{ext}`.
    pub(crate) fn create(&self, kind: &str, ext: &str) -> Result<(PathBuf, Arc<dyn File>)> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(format!("{kind}-{n}.{ext}"));
        let file = self.fs.open(&path, OpenMode::CreateNew)?;
        Ok((path, file))
    }

    /// Opens `path` to read it.
    pub(crate) fn read(&self, path: &Path) -> Result<Arc<dyn File>> {
        Ok(self.fs.open(path, OpenMode::Read)?)
    }

    /// Removes `path`; a file that cannot be removed is only logged (the next start removes
    /// it).
    pub(crate) fn remove(&self, path: &Path) {
        if let Err(e) = self.fs.remove_file(path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove a snapshot file");
        }
    }

    /// Removes the files of received snapshots other than `keep` (streams a leader gave up,
    /// or sent again while an install ran).
    pub(crate) fn remove_received_but(&self, keep: &Path) -> Result<()> {
        for name in self.fs.list_dir(&self.dir)? {
            let path = self.dir.join(&name);
            if name.ends_with(".part") && path != keep {
                self.remove(&path);
            }
        }
        Ok(())
    }

    /// Whether `path` is a received snapshot's file.
    pub(crate) fn is_received(&self, path: &Path) -> bool {
        path.parent() == Some(self.dir.as_path()) && path.extension().is_some_and(|e| e == "part")
    }

    /// Makes `file` the snapshot to install, `install.snap`, synced and its name durable;
    /// answers it open. A received file (at `path`) is renamed; any other (a snapshot this
    /// node built, which it may remove meanwhile) is copied.
    pub(crate) fn stage(&self, path: &Path, file: &Arc<dyn File>) -> Result<Arc<dyn File>> {
        let install = self.dir.join(INSTALL);
        self.unstage()?;
        let staged = match self.is_received(path) {
            true => {
                self.fs.rename(path, &install)?;
                Arc::clone(file)
            }
            false => {
                let copy = self.fs.open(&install, OpenMode::CreateNew)?;
                let mut buf = vec![0; super::BUFFER];
                let (len, mut at) = (file.len()?, 0);
                while at < len {
                    let n = buf
                        .len()
                        .min(usize::try_from(len - at).unwrap_or(usize::MAX));
                    let chunk = &mut buf[..n];
                    file.read_exact_at(chunk, at)?;
                    copy.write_all_at(chunk, at)?;
                    at += n as u64;
                }
                copy
            }
        };
        staged.sync_data()?;
        self.fs.sync_dir(&self.dir)?;
        Ok(staged)
    }

    /// The snapshot an interrupted install was applying, if there is one.
    pub(crate) fn staged(&self) -> Result<Option<Arc<dyn File>>> {
        let path = self.dir.join(INSTALL);
        match self.fs.exists(&path)? {
            true => Ok(Some(self.read(&path)?)),
            false => Ok(None),
        }
    }

    /// Removes a staged snapshot whose install never began.
    pub(crate) fn unstage(&self) -> Result<()> {
        let path = self.dir.join(INSTALL);
        if self.fs.exists(&path)? {
            self.fs.remove_file(&path)?;
        }
        Ok(())
    }

    /// After the install is durable: `install.snap` becomes `installed-N.snap`, whose path
    /// this answers.
    pub(crate) fn installed(&self) -> Result<PathBuf> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(format!("installed-{n}.snap"));
        self.fs.rename(&self.dir.join(INSTALL), &path)?;
        Ok(path)
    }
}
