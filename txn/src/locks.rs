//! Row locks: what makes a transaction that writes a row another open transaction is writing
//! wait for it (as PostgreSQL's row locks do) instead of both running on and one failing at
//! commit with a serialization error.
//!
//! A lock is taken by `get_for_update` on a key that exists, and held until the transaction
//! ends. Acquiring never blocks a thread: a lock held by another transaction answers
//! [`Acquire::Busy`], and the caller undoes its statement and runs it again after yielding
//! (the SQL session does this). A committed owner's write may still be on its way to
//! visibility when its locks go; a key released by a commit stays busy until that commit is
//! visible, so the next owner reads the committed row.
//!
//! Deadlocks: every busy answer records that the asking transaction waits for the owner; an
//! answer that would close a cycle is [`Acquire::Deadlock`] instead (PostgreSQL's 40P01).

use std::collections::HashMap;
use std::sync::Mutex;

use orbit_lsm::KeyspaceId;

/// A lock's key.
pub(crate) type LockKey = (KeyspaceId, Vec<u8>);

/// The answer to a lock request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acquire {
    /// Now held (or already held) by the asking transaction.
    Granted,
    /// Held by another transaction, or released by a commit not yet visible: try again later.
    Busy,
    /// Waiting would close a cycle of waiting transactions.
    Deadlock,
}

#[derive(Default)]
struct Inner {
    /// Key → owning transaction.
    held: HashMap<LockKey, u64>,
    /// Key → sequence number of the commit that released it, until that is visible.
    released: HashMap<LockKey, u64>,
    /// Transaction → the transaction it last found holding a lock it wants.
    waits_for: HashMap<u64, u64>,
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
    /// sequence number.
    pub(crate) fn acquire(&self, id: u64, key: &LockKey, visible: u64) -> Acquire {
        let mut inner = self.lock();
        if !inner.released.is_empty() {
            inner.released.retain(|_, seq| *seq > visible);
        }
        match inner.held.get(key).copied() {
            Some(owner) if owner == id => return Acquire::Granted,
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
                return Acquire::Busy;
            }
            None => {}
        }
        if inner.released.contains_key(key) {
            return Acquire::Busy;
        }
        // The wait edge stays until the transaction ends or gives up: a statement run again
        // takes some rows before reaching the busy one, and a cycle must stay visible then.
        inner.held.insert(key.clone(), id);
        Acquire::Granted
    }

    /// Releases `keys` held by `id` when it ends; `commit` is its commit's sequence number
    /// (None: rolled back, nothing to wait for).
    pub(crate) fn release(&self, id: u64, keys: &[LockKey], commit: Option<u64>) {
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
    }

    /// Forgets that `id` waits (its statement gave up, or ran).
    pub(crate) fn stop_waiting(&self, id: u64) {
        self.lock().waits_for.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::{Acquire, LockTable};

    fn key(k: &str) -> (u32, Vec<u8>) {
        (1, k.as_bytes().to_vec())
    }

    #[test]
    fn locks_wait_release_and_detect_deadlocks() {
        let t = LockTable::default();
        assert_eq!(t.acquire(1, &key("a"), 0), Acquire::Granted);
        assert_eq!(t.acquire(1, &key("a"), 0), Acquire::Granted);
        assert_eq!(t.acquire(2, &key("b"), 0), Acquire::Granted);
        assert_eq!(t.acquire(2, &key("a"), 0), Acquire::Busy);
        // 1 now wants b, held by 2, which waits for 1: a cycle.
        assert_eq!(t.acquire(1, &key("b"), 0), Acquire::Deadlock);
        // 1 rolls back: 2 gets a at once.
        t.release(1, &[key("a")], None);
        assert_eq!(t.acquire(2, &key("a"), 0), Acquire::Granted);
        // 2 commits at seq 10: its keys stay busy until 10 is visible.
        t.release(2, &[key("a"), key("b")], Some(10));
        assert_eq!(t.acquire(3, &key("a"), 9), Acquire::Busy);
        assert_eq!(t.acquire(3, &key("a"), 10), Acquire::Granted);
        assert_eq!(t.acquire(4, &key("b"), 10), Acquire::Granted);
        // Releasing a key one does not own changes nothing.
        t.release(9, &[key("b")], None);
        assert_eq!(t.acquire(5, &key("b"), 10), Acquire::Busy);
    }
}
