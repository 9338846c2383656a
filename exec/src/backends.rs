//! The server's backends: the sessions a protocol layer named by the pid it gave their
//! client (PostgreSQL's BackendKeyData), so that SQL can reach another session:
//! `pg_cancel_backend` sets its cancel flag, `pg_terminate_backend` its termination and wakes
//! its connection (which may be idle, waiting for the client) so that it closes.
//!
//! Invariant: a pid is registered from [`crate::Session::set_backend`] until that session
//! drops, and an entry is removed only by the session that registered it (a pid reused by a
//! later session is never unregistered by an earlier one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::cancel::Cancel;

/// Wakes a terminated session's connection (the protocol layer's part).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

struct Backend {
    cancel: Arc<Cancel>,
    wake: Wake,
}

/// The registry of backends by pid.
#[derive(Default)]
pub struct Backends {
    map: Mutex<HashMap<i32, Backend>>,
}

impl Backends {
    fn lock(&self) -> MutexGuard<'_, HashMap<i32, Backend>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn register(&self, pid: i32, cancel: Arc<Cancel>, wake: Wake) {
        self.lock().insert(pid, Backend { cancel, wake });
    }

    /// Removes `pid` if `cancel` (its session's flag) registered it.
    pub(crate) fn unregister(&self, pid: i32, cancel: &Arc<Cancel>) {
        let mut map = self.lock();
        if map
            .get(&pid)
            .is_some_and(|b| Arc::ptr_eq(&b.cancel, cancel))
        {
            map.remove(&pid);
        }
    }

    /// Whether a session has `pid`.
    pub fn contains(&self, pid: i32) -> bool {
        self.lock().contains_key(&pid)
    }

    /// Whether the session `pid` is gone or, terminated, runs no statement: it runs none
    /// again, and its connection closes as soon as its thread is free (which may be the
    /// caller's, so waiting for more could wait for itself).
    pub fn stopped(&self, pid: i32) -> bool {
        self.lock()
            .get(&pid)
            .is_none_or(|b| b.cancel.terminated() && !b.cancel.is_running())
    }

    /// Cancels the statement `pid` runs, if any; false if no session has `pid`.
    pub fn cancel(&self, pid: i32) -> bool {
        match self.lock().get(&pid) {
            Some(b) => {
                b.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Terminates the session `pid` (its statement stops, its connection closes); false if
    /// no session has `pid`.
    pub fn terminate(&self, pid: i32) -> bool {
        let wake = match self.lock().get(&pid) {
            Some(b) => {
                b.cancel.terminate();
                Arc::clone(&b.wake)
            }
            None => return false,
        };
        wake();
        true
    }

    /// The pids of the sessions registered now, in order.
    pub fn pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self.lock().keys().copied().collect();
        pids.sort_unstable();
        pids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn signals_reach_the_registered_session_only() {
        let backends = Backends::default();
        let woken = Arc::new(AtomicUsize::new(0));
        let w = Arc::clone(&woken);
        let wake: Wake = Arc::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        });
        let (a, b) = (Cancel::new(), Cancel::new());
        backends.register(7, Arc::clone(&a), Arc::clone(&wake));
        backends.register(8, Arc::clone(&b), wake);
        let _running = a.running();
        assert!(backends.cancel(7));
        assert!(a.canceled() && !b.canceled());
        assert!(!backends.cancel(9) && !backends.terminate(9));
        assert!(!backends.stopped(8));
        assert!(backends.terminate(8));
        assert!(b.terminated() && !a.terminated());
        // Terminated and idle: stopped; a statement still running: not yet.
        assert!(backends.stopped(8) && backends.stopped(9));
        let running = b.running();
        assert!(!backends.stopped(8));
        drop(running);
        assert_eq!(woken.load(Ordering::SeqCst), 1);
        assert_eq!(backends.pids(), vec![7, 8]);
        // A pid taken over by another session is not removed by the first one.
        let c = Cancel::new();
        backends.register(7, Arc::clone(&c), Arc::new(|| {}));
        backends.unregister(7, &a);
        assert!(backends.contains(7));
        backends.unregister(7, &c);
        assert!(!backends.contains(7));
    }
}
