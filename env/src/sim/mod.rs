//! The simulated disk: an in-memory file system that remembers what was made durable.
//!
//! Each file keeps two images: `data` (what reads see) and `durable` (what survives a crash),
//! plus the list of operations written since the last sync. A directory keeps its entries as
//! written and as last made durable by `sync_dir`. [`SimFs::crash`] returns the file system a
//! restarted process would find: durable names, durable contents, and, in [`CrashMode::Torn`],
//! any subset of the unsynced writes' sectors (disks may persist unsynced sectors in any order).
//!
//! Simplifications, stated so tests do not rely on more: directories themselves are durable as
//! soon as they are created; metadata other than names and length is not modelled.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, IoSlice};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::{Error, File, FileSystem, OpenMode, Result};

/// The granularity at which the simulated disk tears writes.
pub const SECTOR_SIZE: u64 = 512;

/// Which operation a scripted fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOp {
    /// `write_all_at` and `write_vectored_at`.
    Write,
    /// `sync_data`, `sync_all` and `sync_dir`.
    Sync,
}

/// The error a scripted fault returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// EIO: the device failed.
    Eio,
    /// ENOSPC: the device is full.
    Enospc,
}

impl FaultKind {
    fn to_io(self) -> io::Error {
        match self {
            FaultKind::Eio => io::Error::from_raw_os_error(rustix::io::Errno::IO.raw_os_error()),
            FaultKind::Enospc => {
                io::Error::from_raw_os_error(rustix::io::Errno::NOSPC.raw_os_error())
            }
        }
    }
}

/// What a crash keeps of the writes that were not made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Nothing: only synced data survives.
    DropUnsynced,
    /// Any subset of the unsynced writes' sectors, chosen by a seeded generator.
    Torn {
        /// Seed of the choice, so a failing run can be replayed.
        seed: u64,
    },
}

#[derive(Debug, Clone)]
enum Pending {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Clone, Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<Pending>,
}

fn apply(image: &mut Vec<u8>, op: &Pending) {
    match op {
        Pending::Write { offset, data } => write_into(image, *offset, data),
        Pending::SetLen(len) => image.resize(usize::try_from(*len).unwrap_or(usize::MAX), 0),
    }
}

fn write_into(image: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    let end = start.saturating_add(data.len());
    if image.len() < end {
        image.resize(end, 0);
    }
    if let Some(dst) = image.get_mut(start..end) {
        dst.copy_from_slice(data);
    }
}

#[derive(Debug, Clone)]
struct Fault {
    op: FaultOp,
    /// The 1-based count of matching operations at which the fault fires.
    at: u64,
    /// Matching operations seen since the fault was scripted.
    seen: u64,
    /// Keep failing every later matching operation too (a full disk stays full).
    sticky: bool,
    kind: FaultKind,
    /// Only operations on paths containing this match (`None`: every path).
    path: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    inodes: HashMap<u64, Inode>,
    next_inode: u64,
    names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
    faults: Vec<Fault>,
    writes: u64,
    syncs: u64,
    /// Paths held by [`FileSystem::lock_file`] (a crashed disk's successor starts with none).
    locks: BTreeSet<PathBuf>,
}

impl State {
    /// Counts one operation on `path` and returns the scripted error, if one is due.
    fn tick(&mut self, op: FaultOp, path: &Path) -> Option<FaultKind> {
        match op {
            FaultOp::Write => self.writes += 1,
            FaultOp::Sync => self.syncs += 1,
        }
        let path = path.to_string_lossy();
        let mut due = None;
        for f in &mut self.faults {
            if f.op != op || f.path.as_deref().is_some_and(|p| !path.contains(p)) {
                continue;
            }
            f.seen += 1;
            if f.seen == f.at || (f.sticky && f.seen >= f.at) {
                due = due.or(Some(f.kind));
            }
        }
        due
    }

    fn parent_exists(&self, path: &Path) -> bool {
        match path.parent() {
            None => true,
            Some(p) if p.as_os_str().is_empty() || p == Path::new("/") => true,
            Some(p) => self.dirs.contains(p),
        }
    }

    fn inode_mut(&mut self, id: u64) -> &mut Inode {
        self.inodes.entry(id).or_default()
    }
}

/// The simulated file system. Clones share one disk.
#[derive(Debug, Clone, Default)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock cannot leave the maps half-updated in a way that matters
    // to a test harness; keep going rather than cascade panics.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn not_found(op: &'static str, path: &Path) -> Error {
    Error::io(op, path, io::Error::from(io::ErrorKind::NotFound))
}

impl SimFs {
    /// An empty simulated disk.
    pub fn new() -> Self {
        Self::default()
    }

    /// The simulated disk as a shareable trait object (sharing this disk).
    pub fn shared(&self) -> Arc<dyn FileSystem> {
        Arc::new(self.clone())
    }

    /// Fails the `nth` next operation of kind `op` (1 = the very next one) with `kind`.
    /// With `sticky`, every later one fails too.
    pub fn inject(&self, op: FaultOp, nth: u64, kind: FaultKind, sticky: bool) {
        self.inject_on(op, nth, kind, sticky, None);
    }

    /// Like [`SimFs::inject`], counting only operations on paths that contain `path`, so a
    /// test can aim at one file while background threads use others.
    pub fn inject_on(
        &self,
        op: FaultOp,
        nth: u64,
        kind: FaultKind,
        sticky: bool,
        path: Option<&str>,
    ) {
        lock(&self.state).faults.push(Fault {
            op,
            at: nth.max(1),
            seen: 0,
            sticky,
            kind,
            path: path.map(str::to_string),
        });
    }

    /// Removes every scripted fault.
    pub fn clear_faults(&self) {
        lock(&self.state).faults.clear();
    }

    /// How many writes and syncs have been performed.
    pub fn op_counts(&self) -> (u64, u64) {
        let s = lock(&self.state);
        (s.writes, s.syncs)
    }

    /// The disk as a process restarted after a crash right now would find it.
    /// This disk is left untouched, so threads still using it are unaffected.
    pub fn crash(&self, mode: CrashMode) -> SimFs {
        let s = lock(&self.state);
        let mut rng = match mode {
            CrashMode::DropUnsynced => None,
            CrashMode::Torn { seed } => Some(StdRng::seed_from_u64(seed)),
        };
        let mut inodes = HashMap::new();
        for id in s.durable_names.values() {
            if inodes.contains_key(id) {
                continue;
            }
            let Some(inode) = s.inodes.get(id) else {
                continue;
            };
            let mut image = inode.durable.clone();
            if let Some(rng) = rng.as_mut() {
                for op in &inode.pending {
                    tear_into(&mut image, op, rng);
                }
            }
            inodes.insert(
                *id,
                Inode {
                    data: image.clone(),
                    durable: image,
                    pending: Vec::new(),
                },
            );
        }
        let state = State {
            inodes,
            next_inode: s.next_inode,
            names: s.durable_names.clone(),
            durable_names: s.durable_names.clone(),
            dirs: s.dirs.clone(),
            faults: Vec::new(),
            writes: 0,
            syncs: 0,
            locks: BTreeSet::new(),
        };
        SimFs {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Flips one bit of a file's contents, durably (a bad sector or a cosmic ray).
    pub fn flip_bit(&self, path: &Path, offset: u64, bit: u8) -> Result<()> {
        let mut s = lock(&self.state);
        let id = *s
            .names
            .get(path)
            .ok_or_else(|| not_found("corrupt", path))?;
        let inode = s.inode_mut(id);
        let at = usize::try_from(offset).unwrap_or(usize::MAX);
        for image in [&mut inode.data, &mut inode.durable] {
            if let Some(byte) = image.get_mut(at) {
                *byte ^= 1 << (bit % 8);
            }
        }
        Ok(())
    }

    /// A copy of a file's current contents (what reads see).
    pub fn contents(&self, path: &Path) -> Result<Vec<u8>> {
        let s = lock(&self.state);
        let id = s.names.get(path).ok_or_else(|| not_found("read", path))?;
        Ok(s.inodes.get(id).map(|i| i.data.clone()).unwrap_or_default())
    }
}

/// Applies to `image` whatever part of an unsynced operation a torn crash kept.
fn tear_into(image: &mut Vec<u8>, op: &Pending, rng: &mut StdRng) {
    match op {
        Pending::SetLen(_) => {
            if rng.random_bool(0.5) {
                apply(image, op);
            }
        }
        Pending::Write { offset, data } => match rng.random_range(0..3u8) {
            0 => {}
            1 => apply(image, op),
            _ => {
                // Keep an arbitrary subset of the sectors the write touched.
                let end = offset + data.len() as u64;
                let mut pos = *offset;
                while pos < end {
                    let sector_end = ((pos / SECTOR_SIZE) + 1) * SECTOR_SIZE;
                    let stop = sector_end.min(end);
                    if rng.random_bool(0.5) {
                        let from = usize::try_from(pos - offset).unwrap_or(usize::MAX);
                        let to = usize::try_from(stop - offset).unwrap_or(usize::MAX);
                        if let Some(part) = data.get(from..to) {
                            write_into(image, pos, part);
                        }
                    }
                    pos = stop;
                }
            }
        },
    }
}

/// A simulated lock: the path leaves the disk's lock set when dropped.
#[derive(Debug)]
struct SimLock {
    state: Arc<Mutex<State>>,
    path: PathBuf,
}

impl crate::FileLock for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        lock(&self.state).locks.remove(&self.path);
    }
}

impl FileSystem for SimFs {
    fn lock_file(&self, path: &Path) -> Result<Box<dyn crate::FileLock>> {
        if !lock(&self.state).locks.insert(path.to_path_buf()) {
            return Err(Error::io(
                "lock",
                path,
                io::Error::from(io::ErrorKind::WouldBlock),
            ));
        }
        Ok(Box::new(SimLock {
            state: Arc::clone(&self.state),
            path: path.to_path_buf(),
        }))
    }

    fn open(&self, path: &Path, mode: OpenMode) -> Result<Arc<dyn File>> {
        let mut s = lock(&self.state);
        if !s.parent_exists(path) {
            return Err(not_found("open", path));
        }
        let existing = s.names.get(path).copied();
        let inode = match (existing, mode) {
            (Some(_), OpenMode::CreateNew) => {
                return Err(Error::io(
                    "open",
                    path,
                    io::Error::from(io::ErrorKind::AlreadyExists),
                ));
            }
            (Some(id), _) => id,
            (None, OpenMode::Read | OpenMode::ReadWrite) => return Err(not_found("open", path)),
            (None, OpenMode::CreateNew | OpenMode::Create) => {
                s.next_inode += 1;
                let id = s.next_inode;
                s.inodes.insert(id, Inode::default());
                s.names.insert(path.to_path_buf(), id);
                id
            }
        };
        Ok(Arc::new(SimFile {
            state: Arc::clone(&self.state),
            inode,
            path: path.to_path_buf(),
            writable: mode != OpenMode::Read,
        }))
    }

    fn create_dir_all(&self, path: &Path) -> Result<()> {
        let mut s = lock(&self.state);
        for ancestor in path.ancestors() {
            if !ancestor.as_os_str().is_empty() {
                s.dirs.insert(ancestor.to_path_buf());
            }
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> Result<Vec<String>> {
        let s = lock(&self.state);
        if !s.dirs.contains(path) {
            return Err(not_found("list directory", path));
        }
        let files = s.names.keys();
        let dirs = s.dirs.iter();
        let mut names: Vec<String> = files
            .chain(dirs)
            .filter(|p| p.parent() == Some(path))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let mut s = lock(&self.state);
        if !s.parent_exists(to) {
            return Err(not_found("rename", to));
        }
        let id = s
            .names
            .remove(from)
            .ok_or_else(|| not_found("rename", from))?;
        s.names.insert(to.to_path_buf(), id);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        let mut s = lock(&self.state);
        s.names
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| not_found("remove", path))
    }

    fn hard_link(&self, from: &Path, to: &Path) -> Result<()> {
        let mut s = lock(&self.state);
        let id = *s
            .names
            .get(from)
            .ok_or_else(|| not_found("hard-link", from))?;
        if s.names.contains_key(to) {
            return Err(Error::io(
                "hard-link",
                to,
                io::Error::from(io::ErrorKind::AlreadyExists),
            ));
        }
        if !s.parent_exists(to) {
            return Err(not_found("hard-link", to));
        }
        s.names.insert(to.to_path_buf(), id);
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> Result<()> {
        let mut s = lock(&self.state);
        if !s.dirs.contains(path) {
            return Err(not_found("sync directory", path));
        }
        if let Some(kind) = s.tick(FaultOp::Sync, path) {
            return Err(Error::io("sync directory", path, kind.to_io()));
        }
        let in_dir = |p: &PathBuf| p.parent() == Some(path);
        s.durable_names.retain(|p, _| !in_dir(p));
        let now: Vec<(PathBuf, u64)> = s
            .names
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, id)| (p.clone(), *id))
            .collect();
        s.durable_names.extend(now);
        Ok(())
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        let s = lock(&self.state);
        Ok(s.names.contains_key(path) || s.dirs.contains(path))
    }
}

#[derive(Debug, Clone)]
struct SimFile {
    state: Arc<Mutex<State>>,
    inode: u64,
    path: PathBuf,
    writable: bool,
}

impl SimFile {
    fn check_writable(&self, op: &'static str) -> Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(Error::io(
                op,
                &self.path,
                io::Error::from_raw_os_error(rustix::io::Errno::BADF.raw_os_error()),
            ))
        }
    }

    fn write_op(&self, offset: u64, data: Vec<u8>) -> Result<()> {
        self.check_writable("write")?;
        let mut s = lock(&self.state);
        if let Some(kind) = s.tick(FaultOp::Write, &self.path) {
            return Err(Error::io("write", &self.path, kind.to_io()));
        }
        let inode = s.inode_mut(self.inode);
        write_into(&mut inode.data, offset, &data);
        inode.pending.push(Pending::Write { offset, data });
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        let mut s = lock(&self.state);
        let fault = s.tick(FaultOp::Sync, &self.path);
        let inode = s.inode_mut(self.inode);
        let pending = std::mem::take(&mut inode.pending);
        if let Some(kind) = fault {
            // Like Linux after a failed writeback: the dirty pages are dropped from the
            // writeback path; a later sync succeeds without ever writing them.
            return Err(Error::io("sync", &self.path, kind.to_io()));
        }
        for op in &pending {
            apply(&mut inode.durable, op);
        }
        Ok(())
    }

    fn set_len_op(&self, len: u64) -> Result<()> {
        self.check_writable("truncate")?;
        let mut s = lock(&self.state);
        let inode = s.inode_mut(self.inode);
        let op = Pending::SetLen(len);
        apply(&mut inode.data, &op);
        inode.pending.push(op);
        Ok(())
    }
}

impl File for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        let s = lock(&self.state);
        let data = s
            .inodes
            .get(&self.inode)
            .map(|i| i.data.as_slice())
            .unwrap_or_default();
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let Some(avail) = data.get(start..) else {
            return Ok(0);
        };
        let n = avail.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), avail.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.write_op(offset, buf.to_vec())
    }

    fn write_vectored_at(&self, bufs: &[IoSlice<'_>], offset: u64) -> Result<()> {
        let data: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        self.write_op(offset, data)
    }

    fn sync_data(&self) -> Result<()> {
        self.sync()
    }

    fn sync_all(&self) -> Result<()> {
        self.sync()
    }

    fn set_len(&self, len: u64) -> Result<()> {
        self.set_len_op(len)
    }

    fn allocate(&self, len: u64) -> Result<()> {
        if self.len()? < len {
            self.set_len_op(len)?;
        }
        Ok(())
    }

    fn len(&self) -> Result<u64> {
        let s = lock(&self.state);
        Ok(s.inodes
            .get(&self.inode)
            .map(|i| i.data.len() as u64)
            .unwrap_or(0))
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn map_writable(&self, len: u64) -> Result<Option<Arc<dyn crate::MappedFile>>> {
        self.check_writable("map")?;
        if len == 0 || len > self.len()? {
            return Err(Error::io(
                "map",
                &self.path,
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "mapping must be non-empty and inside the file",
                ),
            ));
        }
        Ok(Some(Arc::new(SimMapping {
            file: self.clone(),
            len,
        })))
    }

    fn raw_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

/// A simulated mapping: a write through it is a write of the file (unsynced until the file's
/// sync, subject to the same faults), as a store into a real shared mapping is.
#[derive(Debug)]
struct SimMapping {
    file: SimFile,
    len: u64,
}

impl crate::MappedFile for SimMapping {
    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|end| end > self.len)
        {
            return Err(Error::io(
                "write",
                &self.file.path,
                io::Error::new(io::ErrorKind::InvalidInput, "write past the mapping's end"),
            ));
        }
        self.file.write_op(offset, buf.to_vec())
    }

    fn len(&self) -> u64 {
        self.len
    }
}

#[cfg(test)]
mod tests;
