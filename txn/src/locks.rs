//! Row locks: what makes a transaction that writes a row another open transaction is writing
//! wait for it (as PostgreSQL's row locks do) instead of both running on and one failing at
//! commit with a serialization error.
//!
//! A lock is taken by `get_for_update` on a key that exists, and held until the transaction
//! ends. Acquiring never blocks a thread: a lock held by another transaction answers
//! [`Acquire::Busy`] with what to wait for (see `lock_wait`), and the caller undoes its
//! statement, awaits that, and runs the statement again (the SQL session does this). A
//! committed owner's write may still be on its way to visibility when its locks go; a key
//! released by a commit stays busy until that commit is visible, so the next owner reads the
//! committed row.
//!
//! Deadlocks: every busy answer records that the asking transaction waits for the owner; an
//! answer that would close a cycle is [`Acquire::Deadlock`] instead (PostgreSQL's 40P01). A
//! request that will not wait (`NOWAIT`, `SKIP LOCKED`) is answered [`Acquire::Held`] and
//! records nothing: it never waits, so it is never part of a cycle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use orbit_lsm::KeyspaceId;

use crate::lock_wait::{Blocker, Gate};

/// A lock's key.
pub(crate) type LockKey = (KeyspaceId, Vec<u8>);

/// The answer to a lock request.
pub(crate) enum Acquire {
    /// Now held (or already held) by the asking transaction.
    Granted,
    /// Held by another transaction, or released by a commit not yet visible: try again once
    /// the blocker is gone.
    Busy(Blocker),
    /// Waiting would close a cycle of waiting transactions.
    Deadlock,
    /// Held by another transaction, asked by one that will not wait (NOWAIT, SKIP LOCKED):
    /// nothing is recorded.
    Held,
}

#[derive(Default)]
struct Inner {
    /// Key → owning transaction.
    held: HashMap<LockKey, u64>,
    /// Key → sequence number of the commit that released it, until that is visible.
    released: HashMap<LockKey, u64>,
    /// Transaction → the transaction it last found holding a lock it wants.
    waits_for: HashMap<u64, u64>,
    /// Owner → the gate its waiters await, opened when it ends (made on the first wait).
    gates: HashMap<u64, Arc<Gate>>,
}

/// The lock table of one database.
#[derive(Default)]
pub(crate) struct LockTable {
    inner: Mutex<Inner>,
}

impl LockTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks for `key` on behalf of transaction `id`; `visible` is the highest visible
    /// sequence number. One that will not `wait` is answered [`Acquire::Held`] where another
    /// open transaction holds the key, and records no wait.
    pub(crate) fn acquire(&self, id: u64, key: &LockKey, visible: u64, wait: bool) -> Acquire {
        let mut inner = self.lock();
        if !inner.released.is_empty() {
            inner.released.retain(|_, seq| *seq > visible);
        }
        match inner.held.get(key).copied() {
            Some(owner) if owner == id => return Acquire::Granted,
            Some(_) if !wait => return Acquire::Held,
            Some(owner) => {
                // Does the owner (transitively) wait for us?
                let mut at = owner;
                for _ in 0..inner.waits_for.len() + 1 {
                    match inner.waits_for.get(&at) {
                        Some(next) if *next == id => {
                            inner.waits_for.remove(&id);
                            return Acquire::Deadlock;
                        }
                        Some(next) => at = *next,
                        None => break,
                    }
                }
                inner.waits_for.insert(id, owner);
                let gate = Arc::clone(inner.gates.entry(owner).or_default());
                return Acquire::Busy(Blocker::Owner(gate));
            }
            None => {}
        }
        if let Some(seq) = inner.released.get(key) {
            return Acquire::Busy(Blocker::Commit(*seq));
        }
        // The wait edge stays until the transaction ends or gives up: a statement run again
        // takes some rows before reaching the busy one, and a cycle must stay visible then.
        inner.held.insert(key.clone(), id);
        Acquire::Granted
    }

    /// Releases `keys` held by `id` when it ends; `commit` is its commit's sequence number
    /// (None: rolled back, nothing to wait for).
    pub(crate) fn release(&self, id: u64, keys: &[LockKey], commit: Option<u64>) {
        let gate = self.release_keys(id, keys, commit);
        // Opened under no lock of the table: waking is the waiters' business.
        if let Some(g) = gate {
            g.open(commit);
        }
    }

    /// Drops `id`'s locks and wait edge; returns the gate its waiters await.
    fn release_keys(&self, id: u64, keys: &[LockKey], commit: Option<u64>) -> Option<Arc<Gate>> {
        let mut inner = self.lock();
        for k in keys {
            if inner.held.get(k) == Some(&id) {
                inner.held.remove(k);
                if let Some(seq) = commit {
                    inner.released.insert(k.clone(), seq);
                }
            }
        }
        inner.waits_for.remove(&id);
        inner.gates.remove(&id)
    }

    /// Forgets that `id` waits (its statement gave up, or ran).
    pub(crate) fn stop_waiting(&self, id: u64) {
        self.lock().waits_for.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    use super::{Acquire, LockTable};
    use crate::lock_wait::Blocker;

    fn key(k: &str) -> (u32, Vec<u8>) {
        (1, k.as_bytes().to_vec())
    }

    /// The answer, as text: "granted", "owner", "commit N", "deadlock" or "held".
    fn answer(a: Acquire) -> String {
        match a {
            Acquire::Granted => "granted".into(),
            Acquire::Held => "held".into(),
            Acquire::Busy(Blocker::Owner(_)) => "owner".into(),
            Acquire::Busy(Blocker::Commit(seq)) => format!("commit {seq}"),
            Acquire::Deadlock => "deadlock".into(),
        }
    }

    #[test]
    fn locks_wait_release_and_detect_deadlocks() {
        let t = LockTable::default();
        let ask = |id, k, visible| answer(t.acquire(id, &key(k), visible, true));
        assert_eq!(ask(1, "a", 0), "granted");
        assert_eq!(ask(1, "a", 0), "granted");
        assert_eq!(ask(2, "b", 0), "granted");
        // One that will not wait is told the key is held, and records no wait: had 1's ask
        // for b recorded one, 2 waiting for a next would be a deadlock.
        assert_eq!(answer(t.acquire(2, &key("a"), 0, false)), "held");
        assert_eq!(answer(t.acquire(1, &key("b"), 0, false)), "held");
        assert_eq!(ask(2, "a", 0), "owner");
        // 1 now wants b, held by 2, which waits for 1: a cycle.
        assert_eq!(ask(1, "b", 0), "deadlock");
        // 1 rolls back: 2 gets a at once.
        t.release(1, &[key("a")], None);
        assert_eq!(ask(2, "a", 0), "granted");
        // 2 commits at seq 10: its keys stay busy until 10 is visible.
        t.release(2, &[key("a"), key("b")], Some(10));
        assert_eq!(ask(3, "a", 9), "commit 10");
        assert_eq!(ask(3, "a", 10), "granted");
        assert_eq!(ask(4, "b", 10), "granted");
        // Releasing a key one does not own changes nothing.
        t.release(9, &[key("b")], None);
        assert_eq!(ask(5, "b", 10), "owner");
    }

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn waiters_are_woken_when_the_owner_ends_with_its_commit() {
        let t = LockTable::default();
        assert_eq!(answer(t.acquire(1, &key("a"), 0, true)), "granted");
        let gates: Vec<_> = (2..4)
            .map(|id| match t.acquire(id, &key("a"), 0, true) {
                Acquire::Busy(Blocker::Owner(g)) => g,
                other => panic!("expected a wait for the owner, got {}", answer(other)),
            })
            .collect();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        for g in &gates {
            assert_eq!(g.poll_open(&mut cx), Poll::Pending);
            // Polled again by the same task: registered once.
            assert_eq!(g.poll_open(&mut cx), Poll::Pending);
        }
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        t.release(1, &[key("a")], Some(7));
        // Both waiters share the owner's one gate: one wake for the task.
        assert!(Arc::ptr_eq(&gates[0], &gates[1]));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        for g in &gates {
            assert_eq!(g.poll_open(&mut cx), Poll::Ready(Some(7)));
        }
        // A new owner gets a new gate; a rollback opens it with no commit to wait for.
        assert_eq!(answer(t.acquire(2, &key("a"), 7, true)), "granted");
        let Acquire::Busy(Blocker::Owner(g)) = t.acquire(3, &key("a"), 7, true) else {
            panic!("expected a wait for the owner");
        };
        assert_eq!(g.poll_open(&mut cx), Poll::Pending);
        t.release(2, &[key("a")], None);
        assert_eq!(g.poll_open(&mut cx), Poll::Ready(None));
    }
}
