//! Segment I/O backends: how the writer puts a group on disk.
//!
//! Two backends produce identical bytes (a test checks it):
//! - [`EnvIo`]: through the `orbit-env` file trait, i.e. `pwritev` + `fdatasync` on a real disk
//!   and the simulated disk in crash tests;
//! - [`UringIo`]: an io_uring ring owned by the writer thread; each group is one `IORING_OP_WRITEV`
//!   linked (`IOSQE_IO_LINK`) to one `IORING_OP_FSYNC` with `IORING_FSYNC_DATASYNC`, submitted
//!   and awaited with a single `io_uring_enter`.

use std::io::IoSlice;
use std::os::fd::AsRawFd;

use io_uring::{opcode, squeue, types, IoUring};
use orbit_env::File;

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
}

const WRITE: u64 = 1;
const FSYNC: u64 = 2;

impl UringIo {
    /// Sets up a small ring; fails where io_uring is unavailable (old kernel, seccomp, sysctl).
    pub(crate) fn new() -> std::io::Result<UringIo> {
        Ok(UringIo {
            ring: IoUring::new(8)?,
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

    /// Submits the prepared entries and waits for all of them; returns (user_data, result) pairs.
    fn run(
        &mut self,
        file: &dyn File,
        entries: &[squeue::Entry],
    ) -> orbit_env::Result<Vec<(u64, i32)>> {
        let fail = |e: std::io::Error| orbit_env::Error::io("submit io_uring", file.path(), e);
        // SAFETY: every buffer and iovec the entries point to is owned by our caller and outlives
        // this call, and this call does not return before the kernel has completed every entry
        // (submit_and_wait below, then draining exactly that many completions). The ring is
        // used by this thread alone and is drained on every call, so it always has room.
        unsafe { self.ring.submission().push_multiple(entries) }
            .map_err(|_| fail(std::io::Error::other("submission queue full")))?;
        loop {
            match self.ring.submit_and_wait(entries.len()) {
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(fail(e)),
            }
        }
        let done: Vec<(u64, i32)> = self
            .ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect();
        if done.len() != entries.len() {
            return Err(fail(std::io::Error::other("io_uring lost a completion")));
        }
        Ok(done)
    }
}

fn errno(op: &'static str, file: &dyn File, res: i32) -> orbit_env::Error {
    orbit_env::Error::io(op, file.path(), std::io::Error::from_raw_os_error(-res))
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
            self.run(file, &[write.flags(squeue::Flags::IO_LINK), fsync])?
        } else {
            self.run(file, &[write])?
        };
        let mut written = None;
        let mut synced = !sync;
        for (what, res) in results {
            match what {
                WRITE if res < 0 => return Err(errno("write", file, res)),
                WRITE => written = Some(res as u32),
                FSYNC if res >= 0 => synced = true,
                // A short write breaks the link and cancels the fsync; finished below.
                FSYNC if res == -(rustix::io::Errno::CANCELED.raw_os_error()) => {}
                FSYNC => return Err(errno("sync", file, res)),
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

    fn sync(&mut self, file: &dyn File) -> orbit_env::Result<()> {
        let fd = Self::fd(file)?;
        let fsync = opcode::Fsync::new(fd)
            .flags(types::FsyncFlags::DATASYNC)
            .build()
            .user_data(FSYNC);
        for (_, res) in self.run(file, &[fsync])? {
            if res < 0 {
                return Err(errno("sync", file, res));
            }
        }
        Ok(())
    }
}
