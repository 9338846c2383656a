//! What a commit hands back to wait on: a local write queued on the WAL, or a batch handed to
//! a replicated log and finished when the log says so.
//!
//! A replicated commit is finished by its [`Completion`]: the log completes it (from any
//! thread) with the batch's commit sequence number once it is committed and visible here, or
//! with why it failed. Whoever waits (blocking or async) learns the outcome; callbacks the
//! commit pipeline registers (settling the oracle's record, releasing row locks) run once,
//! when it completes, whether or not anyone waits.
//!
//! Invariant: a completion completes at most once; its callbacks run exactly once, outside
//! its lock.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use orbit_lsm::PendingWrite;

use crate::{Error, Result};

/// Why a replicated commit failed (cloneable: every waiter gets it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// This node is not the leader (any more); `leader` is where the leader is, if known.
    NotLeader { leader: Option<String> },
    /// The log failed for another reason; the commit may or may not have happened.
    Log(String),
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        match f {
            Failure::NotLeader { leader } => Error::NotLeader { leader },
            Failure::Log(msg) => Error::Replication(msg),
        }
    }
}

type Callback = Box<dyn FnOnce(Option<u64>) + Send>;

#[derive(Default)]
struct State {
    /// `Some` once completed: the commit sequence number, or the failure.
    outcome: Option<std::result::Result<u64, Failure>>,
    callbacks: Vec<Callback>,
    wakers: Vec<Waker>,
}

/// The outcome of a batch handed to a replicated log.
#[derive(Default)]
pub struct Completion {
    state: Mutex<State>,
    done: Condvar,
    /// Set once `state.outcome` is (after it, under the lock): `is_complete` reads this
    /// without the lock, as commands ask it of the writes in flight on their keys.
    completed: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion")
            .field("outcome", &self.lock().outcome)
            .finish()
    }
}

impl Completion {
    /// A completion not yet completed.
    pub fn new() -> Arc<Completion> {
        Arc::new(Completion::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Completes: `Ok(seq)` once the batch is committed and visible on this node, its last
    /// sequence number in this node's engine. Later calls are ignored.
    pub fn complete(&self, outcome: std::result::Result<u64, Failure>) {
        let (callbacks, wakers, seq) = {
            let mut st = self.lock();
            if st.outcome.is_some() {
                return;
            }
            let seq = outcome.as_ref().ok().copied();
            st.outcome = Some(outcome);
            self.completed
                .store(true, std::sync::atomic::Ordering::Release);
            (
                std::mem::take(&mut st.callbacks),
                std::mem::take(&mut st.wakers),
                seq,
            )
        };
        self.done.notify_all();
        for w in wakers {
            w.wake();
        }
        for f in callbacks {
            f(seq);
        }
    }

    /// Runs `f` with the commit sequence number (`None`: failed) once completed; at once if it
    /// already is.
    pub(crate) fn on_complete(&self, f: impl FnOnce(Option<u64>) + Send + 'static) {
        let seq = {
            let mut st = self.lock();
            match &st.outcome {
                None => {
                    st.callbacks.push(Box::new(f));
                    return;
                }
                Some(o) => o.as_ref().ok().copied(),
            }
        };
        f(seq);
    }

    /// Whether it has completed (either way).
    pub fn is_complete(&self) -> bool {
        self.completed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The commit sequence number, once completed successfully.
    fn seq(&self) -> Option<u64> {
        self.lock()
            .outcome
            .as_ref()
            .and_then(|o| o.as_ref().ok().copied())
    }

    /// Blocks until completed. Not for use inside an async runtime: `.await` a [`Pending`].
    fn wait(&self) -> Result<u64> {
        let mut st = self.lock();
        loop {
            if let Some(o) = &st.outcome {
                return o.clone().map_err(Error::from);
            }
            st = self.done.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<u64>> {
        let mut st = self.lock();
        match &st.outcome {
            Some(o) => Poll::Ready(o.clone().map_err(Error::from)),
            None => {
                if !st.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    st.wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

/// A submitted commit: durable and visible once waited for or awaited.
pub enum Pending {
    /// Queued on this node's WAL.
    Local(PendingWrite),
    /// Handed to a replicated log.
    Replicated(Arc<Completion>),
}

impl Pending {
    /// The commit's last sequence number: known at once for a local write (`None` for an
    /// empty batch), once completed for a replicated one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Pending::Local(p) => p.seq(),
            Pending::Replicated(c) => c.seq(),
        }
    }

    /// Awaited only until durable and published (see [`PendingWrite::durable`]); a replicated
    /// commit is visible when it completes, so nothing changes for it.
    pub fn durable(self) -> Pending {
        match self {
            Pending::Local(p) => Pending::Local(p.durable()),
            r => r,
        }
    }

    /// Blocks until durable and visible; returns the last sequence number (0 for an empty
    /// local batch). Not for use inside an async runtime: `.await`.
    pub fn wait(self) -> Result<u64> {
        match self {
            Pending::Local(p) => Ok(p.wait()?),
            Pending::Replicated(c) => c.wait(),
        }
    }
}

impl From<PendingWrite> for Pending {
    fn from(p: PendingWrite) -> Pending {
        Pending::Local(p)
    }
}

impl Future for Pending {
    type Output = Result<u64>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<u64>> {
        match self.get_mut() {
            Pending::Local(p) => Pin::new(p).poll(cx).map_err(Error::from),
            Pending::Replicated(c) => c.poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn callbacks_run_once_whenever_registered() {
        let c = Completion::new();
        let seen = Arc::new(AtomicU64::new(0));
        let s = Arc::clone(&seen);
        c.on_complete(move |seq| {
            s.fetch_add(seq.unwrap_or(1000), Ordering::SeqCst);
        });
        c.complete(Ok(7));
        c.complete(Ok(9));
        let s = Arc::clone(&seen);
        c.on_complete(move |seq| {
            s.fetch_add(seq.unwrap_or(1000), Ordering::SeqCst);
        });
        assert_eq!(seen.load(Ordering::SeqCst), 14);
        assert_eq!(Pending::Replicated(c).wait().unwrap(), 7);
    }

    #[test]
    fn a_blocked_waiter_learns_the_failure() {
        let c = Completion::new();
        let pending = Pending::Replicated(Arc::clone(&c));
        assert_eq!(pending.seq(), None);
        let waiter = std::thread::spawn(move || pending.wait());
        std::thread::sleep(std::time::Duration::from_millis(20));
        c.complete(Err(Failure::NotLeader {
            leader: Some("10.0.0.2:7000".into()),
        }));
        match waiter.join().unwrap() {
            Err(Error::NotLeader { leader }) => {
                assert_eq!(leader.as_deref(), Some("10.0.0.2:7000"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_awaiting_task_is_woken() {
        struct Flag(AtomicU64);
        impl std::task::Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let flag = Arc::new(Flag(AtomicU64::new(0)));
        let waker = Waker::from(Arc::clone(&flag));
        let mut cx = Context::from_waker(&waker);
        let c = Completion::new();
        let mut pending = Pending::Replicated(Arc::clone(&c));
        assert!(Pin::new(&mut pending).poll(&mut cx).is_pending());
        c.complete(Ok(3));
        assert_eq!(flag.0.load(Ordering::SeqCst), 1);
        assert!(matches!(
            Pin::new(&mut pending).poll(&mut cx),
            Poll::Ready(Ok(3))
        ));
        assert_eq!(pending.seq(), Some(3));
    }
}
