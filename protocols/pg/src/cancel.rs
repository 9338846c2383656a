//! CancelRequests: the backend keys handed out in BackendKeyData, each mapped to its
//! session's cancel flag (`orbit_exec::cancel`). A CancelRequest comes on a connection of its
//! own, often served by another worker thread than the session's, whose thread may be busy
//! running the very statement to cancel; setting the flag is all it does, and the statement
//! sees it at its next interrupt check.
//!
//! A session ended by `pg_terminate_backend` (from any session) is told so through its
//! connection's [`Ended`]: the connection loop closes it after the message it is serving, or
//! at once if it waits for its client.
//!
//! Invariant: a key is registered from the session's creation until its connection's
//! [`Registered`] guard drops, so a key never reaches a later connection's session.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use orbit_exec::cancel::Cancel;
use pgwire::api::cancel::CancelHandler;
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::startup::SecretKey;

type Key = (i32, Bytes);

/// The server's registry of backend keys.
#[derive(Debug, Default)]
pub struct Cancels {
    keys: Mutex<HashMap<Key, Arc<Cancel>>>,
}

impl Cancels {
    /// Registers `cancel` under a connection's key until the guard drops.
    pub fn register(
        self: &Arc<Self>,
        pid: i32,
        key: &SecretKey,
        cancel: Arc<Cancel>,
    ) -> Registered {
        let key = (pid, key.to_bytes());
        self.lock().insert(key.clone(), cancel);
        Registered {
            cancels: Arc::clone(self),
            key,
        }
    }

    /// Cancels the statement running on the session `pid` and `key` name; false if they name
    /// none (a wrong key does nothing, and the requester is told nothing, as PostgreSQL does)
    /// or no statement runs.
    pub fn cancel(&self, pid: i32, key: &SecretKey) -> bool {
        let found = self.lock().get(&(pid, key.to_bytes())).cloned();
        found.is_some_and(|c| c.cancel())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<Cancel>>> {
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A connection's key, unregistered when dropped.
#[derive(Debug)]
pub struct Registered {
    cancels: Arc<Cancels>,
    key: Key,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.cancels.lock().remove(&self.key);
    }
}

/// Whether a connection's session was terminated, and the wake-up of its idle loop.
#[derive(Debug, Default)]
pub struct Ended {
    ended: AtomicBool,
    /// A FATAL error response was already sent (the statement that saw the termination).
    told: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Ended {
    /// Marks the session terminated and wakes its connection's loop.
    pub fn end(&self) {
        self.ended.store(true, Ordering::SeqCst);
        // A permit is kept if the loop is not waiting: it is not lost.
        self.notify.notify_one();
    }

    pub fn is_ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// Records that the client was sent a FATAL error.
    pub fn tell(&self) {
        self.told.store(true, Ordering::SeqCst);
    }

    /// Whether the client was sent a FATAL error.
    pub fn told(&self) -> bool {
        self.told.load(Ordering::SeqCst)
    }

    /// Resolves once the session is terminated.
    pub async fn wait(&self) {
        while !self.is_ended() {
            self.notify.notified().await;
        }
    }
}

#[async_trait]
impl CancelHandler for Cancels {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let found = self.cancel(request.pid, &request.secret_key);
        tracing::debug!(pid = request.pid, found, "cancel request");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_end_wakes_a_loop_waiting_before_or_after_it() {
        let ended = Arc::new(Ended::default());
        assert!(!ended.is_ended());
        let waiter = tokio::spawn({
            let e = Arc::clone(&ended);
            async move { e.wait().await }
        });
        tokio::task::yield_now().await;
        ended.end();
        waiter.await.unwrap();
        // Ended before anyone waits: resolves at once.
        ended.wait().await;
        assert!(ended.is_ended());
    }

    #[test]
    fn a_key_cancels_its_own_session_only_while_registered() {
        let cancels = Arc::new(Cancels::default());
        let (a, b) = (Cancel::new(), Cancel::new());
        let ra = cancels.register(7, &SecretKey::I32(42), Arc::clone(&a));
        let _rb = cancels.register(8, &SecretKey::I32(43), Arc::clone(&b));
        let (ra_run, _rb_run) = (a.running(), b.running());
        // A wrong secret or pid does nothing.
        assert!(!cancels.cancel(7, &SecretKey::I32(43)));
        assert!(!cancels.cancel(9, &SecretKey::I32(42)));
        assert!(!a.canceled() && !b.canceled());
        assert!(cancels.cancel(7, &SecretKey::I32(42)));
        assert!(a.canceled() && !b.canceled());
        // Unregistered (its connection ended): its key no longer reaches the session.
        drop(ra_run);
        let _again = a.running();
        drop(ra);
        assert!(!cancels.cancel(7, &SecretKey::I32(42)));
        assert!(!a.canceled());
    }
}
