//! Clients blocked in BLPOP, BRPOP, BLMOVE, BZPOPMIN and BZPOPMAX, queued per key in the
//! order they blocked, as Redis serves them.
//!
//! A write to a key wakes only the first client in its queue waiting for each kind of value
//! (a list, a sorted set), not every client: the one that blocked first tries its command
//! again before the others are asked. When a client leaves the queue (served, timed out,
//! gone), the new first clients of its keys are woken in turn, so a push of three elements
//! reaches the first three clients one after the other. A woken client whose key now holds
//! another kind of value keeps waiting and keeps its place (`commands::blocking`).
//!
//! Invariants: a client is queued on its command's source keys only (BLMOVE's destination is
//! not one), at most once per key, and woken through a `Notify` that keeps a permit, so a
//! wake between its registration and its wait is not lost. Other clients' commands are not
//! held back while a woken client retries: one may still take the element first (Redis
//! serves blocked clients before running the next command).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::store::Kind;

/// One blocked client on one key.
struct Waiter {
    id: u64,
    /// What it waits for: a list or a sorted set.
    kind: Kind,
    wake: Arc<Notify>,
}

/// The queues of blocked clients, by (database, key).
#[derive(Default)]
pub(crate) struct Blocked {
    queues: HashMap<(u8, Vec<u8>), Vec<Waiter>>,
    /// How many clients are queued (`INFO clients`' `blocked_clients`).
    clients: usize,
}

/// A client just queued.
pub(crate) struct Queued {
    /// Its wake-up.
    pub wake: Arc<Notify>,
    /// Whether every one of its keys already had a client of its kind queued: a write to any
    /// of them wakes one of those, and the turn comes to this one in order (see `unblock`),
    /// so it need not try at once.
    pub behind: bool,
}

impl Blocked {
    /// Queues client `id`, waiting for `kind`, at the end of the queues of `keys`.
    pub(crate) fn block<'a>(
        &mut self,
        id: u64,
        kind: Kind,
        keys: impl IntoIterator<Item = (u8, &'a [u8])>,
    ) -> Queued {
        let wake = Arc::new(Notify::new());
        let mut behind = true;
        for (db, key) in keys {
            let queue = self.queues.entry((db, key.to_vec())).or_default();
            behind &= queue.iter().any(|w| w.kind == kind && w.id != id);
            if !queue.iter().any(|w| w.id == id) {
                queue.push(Waiter {
                    id,
                    kind,
                    wake: Arc::clone(&wake),
                });
            }
        }
        self.clients += 1;
        Queued { wake, behind }
    }

    /// Takes client `id` out of every queue, and wakes the new first client of its kind on
    /// each key it was queued on: an element it left behind (it was served from another key,
    /// or went away after being woken) goes to the next in line.
    pub(crate) fn unblock(&mut self, id: u64) {
        let mut found = false;
        self.queues.retain(|_, queue| {
            if let Some(at) = queue.iter().position(|w| w.id == id) {
                found = true;
                let left = queue.remove(at);
                if let Some(next) = queue.iter().find(|w| w.kind == left.kind) {
                    next.wake.notify_one();
                }
            }
            !queue.is_empty()
        });
        if found {
            self.clients = self.clients.saturating_sub(1);
        }
    }

    /// A write to `key`: wakes the first client of its queue for each kind of value.
    pub(crate) fn wake(&self, db: u8, key: &[u8]) {
        if let Some(queue) = self.queues.get(&(db, key.to_vec())) {
            wake_first(queue);
        }
    }

    /// How many keys have clients blocked on them.
    pub(crate) fn keys(&self) -> usize {
        self.queues.len()
    }

    /// How many clients are blocked.
    pub(crate) fn clients(&self) -> usize {
        self.clients
    }
}

/// Wakes the first waiter of each kind in `queue`.
fn wake_first(queue: &[Waiter]) {
    for kind in [Kind::List, Kind::ZSet] {
        if let Some(w) = queue.iter().find(|w| w.kind == kind) {
            w.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `n` holds a permit (a wake not yet waited for), taking it.
    fn woken(n: &Notify) -> bool {
        use std::future::Future;
        let f = std::pin::pin!(n.notified());
        let waker = std::task::Waker::noop();
        f.poll(&mut std::task::Context::from_waker(waker))
            .is_ready()
    }

    #[test]
    fn a_write_wakes_the_first_client_of_each_kind_and_leaving_passes_it_on() {
        let mut b = Blocked::default();
        let k: &[u8] = b"q";
        let first = b.block(1, Kind::List, [(0, k)]);
        let second = b.block(2, Kind::List, [(0, k)]);
        let zset = b.block(3, Kind::ZSet, [(0, k)]);
        let elsewhere = b.block(4, Kind::List, [(1, k)]);
        assert!(!first.behind && second.behind && !zset.behind && !elsewhere.behind);
        assert_eq!(b.clients(), 4);
        let [first, second, zset, elsewhere] = [first, second, zset, elsewhere].map(|q| q.wake);
        b.wake(0, k);
        assert!(woken(&first));
        assert!(woken(&zset));
        assert!(!woken(&second) && !woken(&elsewhere));
        // The first one served leaves: the next list client is asked.
        b.unblock(1);
        assert!(woken(&second));
        assert!(!woken(&zset), "the sorted-set client was asked already");
        b.unblock(2);
        b.unblock(3);
        assert_eq!(b.keys(), 1);
        b.unblock(4);
        b.unblock(4);
        assert_eq!((b.keys(), b.clients()), (0, 0));
    }

    #[test]
    fn a_client_is_queued_once_per_key() {
        let mut b = Blocked::default();
        let k: &[u8] = b"q";
        let first = b.block(1, Kind::List, [(0, k), (0, k)]).wake;
        let second = b.block(2, Kind::List, [(0, k)]).wake;
        b.unblock(1);
        assert!(
            woken(&second),
            "no second entry of client 1 stands in front"
        );
        assert!(!woken(&first));
    }

    #[test]
    fn a_client_is_behind_only_if_every_key_has_one_of_its_kind_ahead() {
        let mut b = Blocked::default();
        let (k1, k2): (&[u8], &[u8]) = (b"k1", b"k2");
        b.block(1, Kind::List, [(0, k1)]);
        b.block(2, Kind::ZSet, [(0, k2)]);
        // k2 has only a sorted-set client: a push there wakes no list client ahead.
        assert!(!b.block(3, Kind::List, [(0, k1), (0, k2)]).behind);
        assert!(b.block(4, Kind::List, [(0, k2), (0, k1)]).behind);
    }
}
