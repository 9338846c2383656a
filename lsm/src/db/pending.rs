//! Writes in flight: a batch that has its sequence numbers, is queued on the WAL (unless
//! unlogged: `Db::write_unlogged`) and sits in the memtables, waiting for the WAL's
//! acknowledgement (an unlogged one, for nothing) to be published (made visible) in sequence
//! order, or to poison the database if the WAL failed. An unlogged write's `wait` reports no
//! WAL failure of an earlier write: its number is then never visible (`Db::wait_visible`
//! says so).
//!
//! A write is visible once it and every write with a smaller sequence number are published;
//! those may belong to other threads still inserting or waiting for the same group commit.
//! Awaiting a write (`.await`) ends when it is visible, so a reader that starts afterwards sees
//! it at the visible sequence number (read-your-writes; an async caller holding several writes
//! awaits them in sequence order, since each is published only when its owner polls it). The
//! blocking [`PendingWrite::wait`] ends once the write is durable and published: a thread may
//! hold several writes and wait for them in any order, and 64 synced writer threads parking
//! until each other's publishes cost a third of their throughput. [`Db::write`] readers see
//! the write through `get_latest` at once, and at the visible number once the earlier writes
//! in flight are published.
//!
//! [`Db::write`]: super::Db::write

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::Inner;
use crate::Result;

/// A write in flight: sequence numbers taken, queued on the WAL, in the memtables but not
/// visible. `.await` it to make it durable and visible, or wait for it (durable and
/// published: see the module docs); dropping it without
/// waiting still lets it complete, but leaves its sequence numbers unpublished until the WAL
/// acknowledges (readers never see it before that).
#[must_use = "a pending write is visible only once waited for"]
pub struct PendingWrite {
    pub(super) inner: Arc<Inner>,
    pub(super) state: Option<Pending>,
    /// Published, waiting to become visible (async waits only): the last sequence number.
    pub(super) published: Option<u64>,
    /// Whether waiting ends only once the write is visible (see [`PendingWrite::durable`]).
    pub(super) until_visible: bool,
}

pub(super) struct Pending {
    /// The WAL's acknowledgement to wait for; `None` for an unlogged write
    /// ([`super::Db::write_unlogged`]), which waits for nothing.
    pub(super) handle: Option<orbit_wal::AppendHandle>,
    pub(super) write: Written,
}

impl Pending {
    /// Blocks until the WAL acknowledges the write (at once if unlogged); the LSN it was
    /// written at, if logged.
    fn wait_logged(&mut self) -> orbit_wal::Result<Option<u64>> {
        self.handle.take().map(|h| h.wait()).transpose()
    }
}

/// What publishing a write needs once the WAL acknowledged it.
pub(super) struct Written {
    pub(super) first: u64,
    pub(super) last: u64,
    pub(super) end_lsn: Arc<AtomicU64>,
    pub(super) record_len: u64,
    pub(super) user_bytes: u64,
}

impl Written {
    /// `batch`, numbered from `first`, whose (last) record is `record_len` bytes long.
    pub(super) fn of(
        batch: &crate::WriteBatch,
        first: u64,
        end_lsn: Arc<AtomicU64>,
        record_len: u64,
    ) -> Written {
        Written {
            first,
            last: first + batch.len() as u64 - 1,
            end_lsn,
            record_len,
            user_bytes: batch.payload_bytes() as u64,
        }
    }
}

impl PendingWrite {
    /// A write queued on the WAL (`handle`), to be published as `write` says.
    pub(super) fn new(inner: &Arc<Inner>, handle: orbit_wal::AppendHandle, write: Written) -> Self {
        PendingWrite {
            inner: Arc::clone(inner),
            state: Some(Pending {
                handle: Some(handle),
                write,
            }),
            published: None,
            until_visible: true,
        }
    }

    /// A write with no WAL record, to be published as `write` says as soon as it is.
    pub(super) fn unlogged(inner: &Arc<Inner>, write: Written) -> Self {
        PendingWrite {
            inner: Arc::clone(inner),
            state: Some(Pending {
                handle: None,
                write,
            }),
            published: None,
            until_visible: true,
        }
    }

    /// The write of an empty batch: nothing to wait for.
    pub(super) fn empty(inner: &Arc<Inner>) -> Self {
        PendingWrite {
            inner: Arc::clone(inner),
            state: None,
            published: None,
            until_visible: true,
        }
    }

    /// The batch's last sequence number (its commit sequence number); `None` for an empty
    /// batch.
    pub fn seq(&self) -> Option<u64> {
        self.state.as_ref().map(|p| p.write.last)
    }

    /// This write, awaited only until it is durable and published: a caller that waits for a
    /// whole batch of writes to be visible at once (`Db::visible_at` of the last one) saves a
    /// wake-up per write.
    pub fn durable(mut self) -> PendingWrite {
        self.until_visible = false;
        self
    }

    /// Blocks until the batch is durable (per the sync mode) and published (see the module
    /// docs for when that makes it visible); returns its last sequence number (0 for an empty
    /// batch). Not for use inside an async runtime: `.await`.
    pub fn wait(mut self) -> Result<u64> {
        match self.state.take() {
            None => Ok(0),
            Some(mut p) => finish(&self.inner, p.wait_logged(), p.write),
        }
    }
}

/// Publishes a write the WAL acknowledged (at `Some(lsn)`; `None`: an unlogged write), or
/// poisons the database if it failed.
fn finish(inner: &Inner, done: orbit_wal::Result<Option<u64>>, write: Written) -> Result<u64> {
    let Written {
        first,
        last,
        end_lsn,
        record_len,
        user_bytes,
    } = write;
    match done {
        Ok(lsn) => {
            inner
                .stats
                .user_bytes
                .fetch_add(user_bytes, Ordering::Relaxed);
            if let Some(lsn) = lsn {
                end_lsn.fetch_max(lsn + record_len, Ordering::AcqRel);
            }
            inner.publisher.done(first, last);
            Ok(last)
        }
        Err(e) => {
            // Its entries are in a memtable under sequence numbers that can never be
            // published: nothing after them may become visible either.
            inner.poison(format!("wal write failed: {e}"));
            Err(e.into())
        }
    }
}

impl std::future::Future for PendingWrite {
    type Output = Result<u64>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        if let Some(last) = self.published {
            return self.inner.poll_visible(last, cx).map_ok(|()| last);
        }
        let Some(p) = self.state.as_mut() else {
            return std::task::Poll::Ready(Ok(0));
        };
        let done = match p.handle.as_mut() {
            None => Ok(None),
            Some(handle) => match std::pin::Pin::new(handle).poll(cx) {
                std::task::Poll::Pending => return std::task::Poll::Pending,
                std::task::Poll::Ready(done) => done.map(Some),
            },
        };
        let inner = Arc::clone(&self.inner);
        let Some(p) = self.state.take() else {
            return std::task::Poll::Ready(Ok(0));
        };
        match finish(&inner, done, p.write) {
            Ok(last) if self.until_visible => {
                self.published = Some(last);
                self.poll(cx)
            }
            Ok(last) => std::task::Poll::Ready(Ok(last)),
            Err(e) => std::task::Poll::Ready(Err(e)),
        }
    }
}

impl Drop for PendingWrite {
    fn drop(&mut self) {
        // Abandoned (a cancelled future): publish it when the WAL acknowledges, so later
        // writes are not held invisible behind it. This blocks for at most one group commit.
        if let Some(mut p) = self.state.take() {
            let _ = finish(&self.inner, p.wait_logged(), p.write);
        }
    }
}
