//! Waiting for a row lock: what a transaction that found a row locked awaits before it runs
//! its statement again, so the waiter wakes when the owner ends instead of polling for it.
//!
//! A [`Gate`] belongs to one lock owner and opens once, when that transaction ends (the lock
//! table opens it in `release`), carrying the owner's commit sequence number if it committed.
//! A [`LockWait`] resolves once the gate is open and, after a commit, once that commit is
//! visible (the next owner must read the committed row). Invariant: a gate is created and
//! handed out under the lock table's mutex while its owner holds the lock, and taken out of
//! the table under that mutex when the owner releases, then opened; a waiter checks and
//! registers under the gate's own mutex, so none can miss the opening.
//!
//! A `LockWait` never fails and never decides anything: when it resolves the lock may already
//! be taken by another waiter, and the statement simply finds it busy again.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use orbit_lsm::{Db, VisibleAt};

/// Opens when a lock owner ends.
#[derive(Default)]
pub(crate) struct Gate {
    state: Mutex<GateState>,
}

#[derive(Default)]
struct GateState {
    /// `Some(commit)` once the owner ended: its commit's sequence number, `None` if it rolled
    /// back or wrote nothing.
    ended: Option<Option<u64>>,
    wakers: Vec<Waker>,
}

impl Gate {
    fn state(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens the gate and wakes every waiter.
    pub(crate) fn open(&self, commit: Option<u64>) {
        let wakers = {
            let mut s = self.state();
            s.ended = Some(commit);
            std::mem::take(&mut s.wakers)
        };
        for w in wakers {
            w.wake();
        }
    }

    /// `Ready(commit)` once open; otherwise registers the task to be woken.
    pub(crate) fn poll_open(&self, cx: &mut Context<'_>) -> Poll<Option<u64>> {
        let mut s = self.state();
        if let Some(commit) = s.ended {
            return Poll::Ready(commit);
        }
        if !s.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            s.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// What a busy lock is waiting on.
pub(crate) enum Blocker {
    /// The owner, still open.
    Owner(Arc<Gate>),
    /// A commit that released the lock, until it is visible.
    Commit(u64),
}

/// A future that resolves when a row lock a statement found busy may be free: its owner ended
/// and, if the owner committed, the commit is visible. Taken with
/// [`Transaction::take_lock_wait`](crate::Transaction::take_lock_wait) after
/// [`Error::LockBusy`](crate::Error::LockBusy); dropping it stops nothing.
pub struct LockWait {
    db: Arc<Db>,
    gate: Option<Arc<Gate>>,
    visible: Option<VisibleAt>,
}

impl LockWait {
    pub(crate) fn new(db: &Arc<Db>, blocker: Blocker) -> LockWait {
        let (gate, visible) = match blocker {
            Blocker::Owner(g) => (Some(g), None),
            Blocker::Commit(seq) => (None, Some(db.visible_at(seq))),
        };
        LockWait {
            db: Arc::clone(db),
            gate,
            visible,
        }
    }
}

impl Future for LockWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if let Some(gate) = &this.gate {
            match gate.poll_open(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(commit) => {
                    this.gate = None;
                    this.visible = commit.map(|seq| this.db.visible_at(seq));
                }
            }
        }
        match &mut this.visible {
            // A poisoned database resolves too: the statement run again reports it.
            Some(v) => Pin::new(v).poll(cx).map(|_| ()),
            None => Poll::Ready(()),
        }
    }
}
