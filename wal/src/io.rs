//! Segment I/O backends: how the writer puts a group on disk.
//!
//! Two backends produce identical bytes (a test checks it):
//! - [`EnvIo`]: through the `orbit-env` file trait, i.e. `pwritev` + `fdatasync` on a real disk
//!   and the simulated disk in crash tests;
//! - [`UringIo`]: an io_uring ring owned by the writer thread. In `sync` mode each group is one
//!   `IORING_OP_WRITEV` with `RWF_DSYNC` on an `O_DIRECT` descriptor of the segment, covering
//!   whole 4 KiB blocks: the partial block before the group is kept in memory and rewritten with
//!   the same bytes, the rest of the last block is zero (what a prepared segment holds). Direct
//!   writes over already-written blocks complete from the device, whereas a buffered
//!   `IORING_OP_FSYNC` is always punted to an io-wq worker thread, one more thread hop per group
//!   (measured in docs/BENCHMARKS.md). Without direct I/O (tmpfs, other modes) each group is a
//!   buffered writev linked (`IOSQE_IO_LINK`) to an fdatasync, in one `io_uring_enter`.

use std::io::IoSlice;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use io_uring::{opcode, squeue, types, IoUring};
use orbit_env::{File, FileSystem, DIRECT_IO_ALIGN};

/// Puts write groups on disk.
pub(crate) trait SegmentIo: Send {
    /// The backend's name, for logs and statistics.
    fn name(&self) -> &'static str;
    /// Writes `buf` at `offset`; with `sync`, also makes it durable before returning.
    fn write(
        &mut self,
        file: &dyn File,
        offset: u64,
        buf: &[u8],
        sync: bool,
    ) -> orbit_env::Result<()>;
    /// Makes everything written to `file` durable.
    fn sync(&mut self, file: &dyn File) -> orbit_env::Result<()>;
    /// Whether the last write bypassed the page cache (`O_DIRECT`).
    fn direct_io(&self) -> bool {
        false
    }
}

/// The portable backend: the file trait's `write_vectored_at` and `sync_data`.
pub(crate) struct EnvIo;

impl SegmentIo for EnvIo {
    fn name(&self) -> &'static str {
        "std"
    }

    fn write(
        &mut self,
        file: &dyn File,
        offset: u64,
        buf: &[u8],
        sync: bool,
    ) -> orbit_env::Result<()> {
        file.write_vectored_at(&[IoSlice::new(buf)], offset)?;
        if sync {
            file.sync_data()?;
        }
        Ok(())
    }

    fn sync(&mut self, file: &dyn File) -> orbit_env::Result<()> {
        file.sync_data()
    }
}

/// The io_uring backend.
pub(crate) struct UringIo {
    ring: IoUring,
    fs: Arc<dyn FileSystem>,
    /// The direct descriptor of the segment being written.
    direct: Option<Direct>,
    /// Set once opening a direct descriptor failed: use the buffered path from then on.
    no_direct: bool,
    /// Backing memory of the aligned staging buffer.
    mem: Vec<u8>,
}

/// An `O_DIRECT` descriptor of the active segment, and the partial block at the log's end.
struct Direct {
    path: PathBuf,
    file: Arc<dyn File>,
    /// File offset of the block holding the end of the log.
    tail_at: u64,
    /// The bytes of that block before the end of the log.
    tail: Vec<u8>,
}

const WRITE: u64 = 1;
const FSYNC: u64 = 2;
const ALIGN: u64 = DIRECT_IO_ALIGN as u64;

impl UringIo {
    /// Sets up a small ring; fails where io_uring is unavailable (old kernel, seccomp, sysctl).
    pub(crate) fn new(fs: Arc<dyn FileSystem>) -> std::io::Result<UringIo> {
        Ok(UringIo {
            ring: IoUring::new(8)?,
            fs,
            direct: None,
            no_direct: false,
            mem: Vec::new(),
        })
    }

    fn fd(file: &dyn File) -> orbit_env::Result<types::Fd> {
        match file.raw_fd() {
            Some(fd) => Ok(types::Fd(fd.as_raw_fd())),
            None => Err(orbit_env::Error::io(
                "write",
                file.path(),
                std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "file has no descriptor for io_uring",
                ),
            )),
        }
    }

    /// Makes `self.direct` the direct descriptor of `file`, opening it on first use. False
    /// where direct I/O is unavailable.
    fn use_direct(&mut self, file: &dyn File) -> bool {
        if self.no_direct {
            return false;
        }
        if self.direct.as_ref().is_some_and(|d| d.path == file.path()) {
            return true;
        }
        match self.fs.open_direct(file.path()) {
            Ok(direct) => {
                self.direct = Some(Direct {
                    path: file.path().to_path_buf(),
                    file: direct,
                    tail_at: u64::MAX,
                    tail: Vec::new(),
                });
                true
            }
            Err(e) => {
                tracing::info!(error = %e, "no direct i/o for wal segments; io_uring uses buffered writes and fdatasync");
                self.no_direct = true;
                self.direct = None;
                false
            }
        }
    }

    /// A `sync` group as whole blocks with `RWF_DSYNC` on the direct descriptor.
    fn write_direct(&mut self, file: &dyn File, offset: u64, buf: &[u8]) -> orbit_env::Result<()> {
        let Some(direct) = self.direct.as_mut() else {
            return Err(orbit_env::Error::io(
                "write",
                file.path(),
                std::io::Error::other("no direct descriptor"),
            ));
        };
        let block = offset / ALIGN * ALIGN;
        let prefix = (offset - block) as usize;
        let total = prefix + buf.len();
        let padded = total.div_ceil(DIRECT_IO_ALIGN) * DIRECT_IO_ALIGN;
        if self.mem.len() < padded + DIRECT_IO_ALIGN {
            self.mem.resize(padded + DIRECT_IO_ALIGN, 0);
        }
        let start = self.mem.as_ptr().align_offset(DIRECT_IO_ALIGN);
        let stage = self.mem.get_mut(start..start + padded).ok_or_else(|| {
            orbit_env::Error::io(
                "write",
                file.path(),
                std::io::Error::other("staging buffer"),
            )
        })?;
        let (head, rest) = stage.split_at_mut(prefix);
        if direct.tail_at == block && direct.tail.len() == prefix {
            head.copy_from_slice(&direct.tail);
        } else if prefix > 0 {
            // Not the block this backend wrote last (first write after open): read it back.
            // Buffered reads see direct writes: the kernel drops cached pages they overwrite.
            file.read_exact_at(head, block)?;
        }
        let (body, pad) = rest.split_at_mut(buf.len());
        body.copy_from_slice(buf);
        pad.fill(0);
        let iov = [IoSlice::new(stage)];
        let dsync = i32::try_from(rustix::io::ReadWriteFlags::DSYNC.bits()).unwrap_or(0);
        let fd = Self::fd(direct.file.as_ref())?;
        let write = opcode::Writev::new(fd, iov.as_ptr().cast(), 1)
            .offset(block)
            .rw_flags(dsync)
            .build()
            .user_data(WRITE);
        let res = submit(&mut self.ring, file.path(), &[write])?
            .first()
            .map_or(-1, |r| r.1);
        if res < 0 {
            return Err(errno("write", file.path(), res));
        }
        let written = (res as usize).min(padded);
        if written < total {
            // A short write is not a failure: finish the log bytes through the trait, durably.
            file.write_all_at(
                stage.get(written..total).unwrap_or_default(),
                block + written as u64,
            )?;
            file.sync_data()?;
        }
        let end = offset + buf.len() as u64;
        direct.tail_at = end / ALIGN * ALIGN;
        direct.tail = stage
            .get((direct.tail_at - block) as usize..total)
            .unwrap_or_default()
            .to_vec();
        Ok(())
    }

    /// A group as a buffered writev, linked to an fdatasync when `sync`.
    fn write_buffered(
        &mut self,
        file: &dyn File,
        offset: u64,
        buf: &[u8],
        sync: bool,
    ) -> orbit_env::Result<()> {
        let fd = Self::fd(file)?;
        // `IoSlice` is guaranteed ABI-compatible with `struct iovec` on Unix.
        let iov = [IoSlice::new(buf)];
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        let write = opcode::Writev::new(fd, iov.as_ptr().cast(), 1)
            .offset(offset)
            .build()
            .user_data(WRITE);
        let results = if sync {
            let fsync = opcode::Fsync::new(fd)
                .flags(types::FsyncFlags::DATASYNC)
                .build()
                .user_data(FSYNC);
            submit(
                &mut self.ring,
                file.path(),
                &[write.flags(squeue::Flags::IO_LINK), fsync],
            )?
        } else {
            submit(&mut self.ring, file.path(), &[write])?
        };
        let mut written = None;
        let mut synced = !sync;
        for (what, res) in results {
            match what {
                WRITE if res < 0 => return Err(errno("write", file.path(), res)),
                WRITE => written = Some(res as u32),
                FSYNC if res >= 0 => synced = true,
                // A short write breaks the link and cancels the fsync; finished below.
                FSYNC if res == -(rustix::io::Errno::CANCELED.raw_os_error()) => {}
                FSYNC => return Err(errno("sync", file.path(), res)),
                _ => {}
            }
        }
        let written = written.unwrap_or(0);
        if written < len {
            // A short write is not a failure (nothing was lost); finish it through the trait.
            let rest = buf.get(written as usize..).unwrap_or_default();
            file.write_all_at(rest, offset + u64::from(written))?;
            synced = !sync;
        }
        if !synced {
            file.sync_data()?;
        }
        Ok(())
    }
}

/// Submits the prepared entries and waits for all of them; returns (user_data, result) pairs.
fn submit(
    ring: &mut IoUring,
    path: &Path,
    entries: &[squeue::Entry],
) -> orbit_env::Result<Vec<(u64, i32)>> {
    let fail = |e: std::io::Error| orbit_env::Error::io("submit io_uring", path, e);
    // SAFETY: every buffer and iovec the entries point to is owned by our caller and outlives
    // this call, and this call does not return before the kernel has completed every entry
    // (submit_and_wait below, then draining exactly that many completions). The ring is used
    // by one thread alone and is drained on every call, so it always has room.
    unsafe { ring.submission().push_multiple(entries) }
        .map_err(|_| fail(std::io::Error::other("submission queue full")))?;
    loop {
        match ring.submit_and_wait(entries.len()) {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fail(e)),
        }
    }
    let done: Vec<(u64, i32)> = ring
        .completion()
        .map(|c| (c.user_data(), c.result()))
        .collect();
    if done.len() != entries.len() {
        return Err(fail(std::io::Error::other("io_uring lost a completion")));
    }
    Ok(done)
}

fn errno(op: &'static str, path: impl AsRef<Path>, res: i32) -> orbit_env::Error {
    orbit_env::Error::io(op, path.as_ref(), std::io::Error::from_raw_os_error(-res))
}

impl SegmentIo for UringIo {
    fn name(&self) -> &'static str {
        "uring"
    }

    fn write(
        &mut self,
        file: &dyn File,
        offset: u64,
        buf: &[u8],
        sync: bool,
    ) -> orbit_env::Result<()> {
        // Direct I/O only where each write is made durable by RWF_DSYNC: a later fdatasync
        // need not flush the device cache for direct overwrites on every file system.
        if sync && self.use_direct(file) {
            self.write_direct(file, offset, buf)
        } else {
            self.write_buffered(file, offset, buf, sync)
        }
    }

    fn direct_io(&self) -> bool {
        self.direct.is_some()
    }

    fn sync(&mut self, file: &dyn File) -> orbit_env::Result<()> {
        let fd = Self::fd(file)?;
        let fsync = opcode::Fsync::new(fd)
            .flags(types::FsyncFlags::DATASYNC)
            .build()
            .user_data(FSYNC);
        for (_, res) in submit(&mut self.ring, file.path(), &[fsync])? {
            if res < 0 {
                return Err(errno("sync", file.path(), res));
            }
        }
        Ok(())
    }
}
