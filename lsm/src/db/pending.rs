//! Writes in flight: a batch that has its sequence numbers, is queued on the WAL and sits in
//! the memtables, waiting for the WAL's acknowledgement to be published (made visible) in
//! sequence order, or to poison the database if the WAL failed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::Inner;
use crate::Result;

/// A write in flight: sequence numbers taken, queued on the WAL, in the memtables but not
/// visible. Wait for it (or `.await` it) to make it durable and visible; dropping it without
/// waiting still lets it complete, but leaves its sequence numbers unpublished until the WAL
/// acknowledges (readers never see it before that).
#[must_use = "a pending write is visible only once waited for"]
pub struct PendingWrite {
    pub(super) inner: Arc<Inner>,
    pub(super) state: Option<Pending>,
}

pub(super) struct Pending {
    pub(super) first: u64,
    pub(super) last: u64,
    pub(super) handle: orbit_wal::AppendHandle,
    pub(super) end_lsn: Arc<AtomicU64>,
    pub(super) record_len: u64,
    pub(super) user_bytes: u64,
}

impl PendingWrite {
    /// The batch's last sequence number (its commit sequence number); `None` for an empty
    /// batch.
    pub fn seq(&self) -> Option<u64> {
        self.state.as_ref().map(|p| p.last)
    }

    /// Blocks until the batch is durable (per the sync mode) and visible; returns its last
    /// sequence number (0 for an empty batch). Not for use inside an async runtime: `.await`.
    pub fn wait(mut self) -> Result<u64> {
        match self.state.take() {
            None => Ok(0),
            Some(p) => {
                let Pending {
                    first,
                    last,
                    handle,
                    end_lsn,
                    record_len,
                    user_bytes,
                } = p;
                let done = handle.wait();
                finish(
                    &self.inner,
                    done,
                    first,
                    last,
                    &end_lsn,
                    record_len,
                    user_bytes,
                )
            }
        }
    }
}

/// Publishes a write the WAL acknowledged, or poisons the database if it failed.
fn finish(
    inner: &Inner,
    done: orbit_wal::Result<u64>,
    first: u64,
    last: u64,
    end_lsn: &AtomicU64,
    record_len: u64,
    user_bytes: u64,
) -> Result<u64> {
    match done {
        Ok(lsn) => {
            inner
                .stats
                .user_bytes
                .fetch_add(user_bytes, Ordering::Relaxed);
            end_lsn.fetch_max(lsn + record_len, Ordering::AcqRel);
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
        let Some(p) = self.state.as_mut() else {
            return std::task::Poll::Ready(Ok(0));
        };
        let done = match std::pin::Pin::new(&mut p.handle).poll(cx) {
            std::task::Poll::Pending => return std::task::Poll::Pending,
            std::task::Poll::Ready(done) => done,
        };
        let inner = Arc::clone(&self.inner);
        match self.state.take() {
            Some(p) => std::task::Poll::Ready(finish(
                &inner,
                done,
                p.first,
                p.last,
                &p.end_lsn,
                p.record_len,
                p.user_bytes,
            )),
            None => std::task::Poll::Ready(Ok(0)),
        }
    }
}

impl Drop for PendingWrite {
    fn drop(&mut self) {
        // Abandoned (a cancelled future): publish it when the WAL acknowledges, so later
        // writes are not held invisible behind it. This blocks for at most one group commit.
        if let Some(p) = self.state.take() {
            let inner = Arc::clone(&self.inner);
            let done = p.handle.wait();
            let _ = finish(
                &inner,
                done,
                p.first,
                p.last,
                &p.end_lsn,
                p.record_len,
                p.user_bytes,
            );
        }
    }
}
