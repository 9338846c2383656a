//! A snapshot file as openraft's `SnapshotData`: a leader reads chunks from it to send
//! (`snapshot_max_chunk_size` at a time), a follower writes each chunk it receives at its
//! offset.
//!
//! The file is an `orbit-env` file (so crash tests run this code on the simulated disk), whose
//! calls are synchronous: each poll does its read or write and is ready at once. A call moves
//! at most one chunk (a few MiB, usually in the page cache), short enough to run on the Raft
//! runtime's threads.
//!
//! Invariant: the position only moves by what was read or written, or by a seek.

use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use orbit_env::File;
use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};

/// An open snapshot file and a position in it.
#[derive(Debug)]
pub struct SnapshotFile {
    file: Arc<dyn File>,
    pos: u64,
}

impl SnapshotFile {
    pub(crate) fn new(file: Arc<dyn File>) -> SnapshotFile {
        SnapshotFile { file, pos: 0 }
    }

    /// The file underneath.
    pub fn file(&self) -> &Arc<dyn File> {
        &self.file
    }
}

fn io_error(e: orbit_env::Error) -> io::Error {
    io::Error::new(e.kind(), e)
}

impl AsyncRead for SnapshotFile {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = this
            .file
            .read_at(buf.initialize_unfilled(), this.pos)
            .map_err(io_error)?;
        buf.advance(n);
        this.pos += n as u64;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for SnapshotFile {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.file.write_all_at(buf, this.pos).map_err(io_error)?;
        this.pos += buf.len() as u64;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Nothing to do: the installer syncs the file before it relies on it.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncSeek for SnapshotFile {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        let (base, delta) = match position {
            SeekFrom::Start(p) => (p, 0),
            SeekFrom::End(d) => (this.file.len().map_err(io_error)?, d),
            SeekFrom::Current(d) => (this.pos, d),
        };
        this.pos = base.checked_add_signed(delta).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "seek out of the file's range")
        })?;
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Poll::Ready(Ok(self.pos))
    }
}
