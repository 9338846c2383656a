//! Replicated writes still in flight, per bucket of keys (finer than the lock stripes: a
//! key's stripe is its bucket modulo the stripe count, so a write is recorded in a bucket,
//! and waited for in it, only under that bucket's stripe lock).
//!
//! On a single node a submitted write is in the memtable at once and commands read the latest
//! submitted value (`Db::get_latest`). Through a replicated commit log a write reaches the
//! engine only once a majority holds it, so a command that read a key with a write in flight
//! would read the value before it: a pipelined `GET` after `SET` would miss the `SET`, and two
//! `INCR`s could both read the old number. So every replicated write is recorded on the lock
//! buckets of the keys its command holds (their stripes locked), and
//! - before a command runs, the connection awaits the latest write in flight on its keys'
//!   buckets (without blocking its worker thread: `Reply::Wait`);
//! - a command that locks stripes first waits (blocking, rarely: only when another worker
//!   raced a write in between) until none of its keys' buckets has a write in flight, so it
//!   reads the latest state while it holds them.
//!
//! Completions finish in log order, so the latest in a bucket covers the earlier ones.
//! Invariant: a write is recorded while its command holds the stripes (the thread's held
//! buckets are tracked in `HELD` between lock and unlock); in local mode nothing is recorded
//! and every check is one load (`InFlight::active`), not a bucket's lock.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use orbit_txn::{Completion, Pending};

thread_local! {
    /// The buckets this thread holds, one entry per hold (a multiset).
    static HELD: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// The latest replicated write per bucket.
pub(crate) struct InFlight {
    slots: Vec<Mutex<Option<Arc<Completion>>>>,
    /// Whether any replicated write was ever recorded: until then (always, on a single node)
    /// checks are one load, not a bucket's lock. Set by `record`, under the stripe lock its
    /// command holds, so a later holder of that stripe sees it.
    active: AtomicBool,
}

/// Marks buckets held by this thread (their stripes locked) until dropped.
pub(crate) struct Mark(Vec<usize>);

impl Drop for Mark {
    fn drop(&mut self) {
        HELD.with(|h| {
            let mut h = h.borrow_mut();
            // Marks drop in the reverse of their order (guards of one scope): the last ones.
            if h.ends_with(&self.0) {
                let keep = h.len() - self.0.len();
                h.truncate(keep);
                return;
            }
            for i in &self.0 {
                if let Some(at) = h.iter().rposition(|x| x == i) {
                    h.swap_remove(at);
                }
            }
        });
    }
}

impl InFlight {
    pub(crate) fn new(buckets: usize) -> InFlight {
        InFlight {
            slots: (0..buckets).map(|_| Mutex::new(None)).collect(),
            active: AtomicBool::new(false),
        }
    }

    fn slot(&self, i: usize) -> Option<Arc<Completion>> {
        let slot = self.slots.get(i)?;
        let mut s = slot.lock().unwrap_or_else(|p| p.into_inner());
        if s.as_ref().is_some_and(|c| c.is_complete()) {
            *s = None;
        }
        s.clone()
    }

    /// The latest write in flight in any of buckets `idx`.
    pub(crate) fn on(&self, idx: impl IntoIterator<Item = usize>) -> Option<Arc<Completion>> {
        if !self.active.load(Ordering::Acquire) {
            return None;
        }
        idx.into_iter().filter_map(|i| self.slot(i)).last()
    }

    /// Called with the stripes of buckets `idx` locked: waits until none has a write in
    /// flight, then marks them held by this thread.
    pub(crate) fn hold(&self, idx: Vec<usize>) -> Mark {
        let active = self.active.load(Ordering::Acquire);
        for &i in idx.iter().filter(|_| active) {
            if let Some(c) = self.slot(i) {
                // Its outcome is its writer's business; this command reads whatever it left.
                let _ = Pending::Replicated(c).wait();
            }
        }
        HELD.with(|h| h.borrow_mut().extend(idx.iter().copied()));
        Mark(idx)
    }

    /// Records `pending`, just submitted, in the buckets this thread holds.
    pub(crate) fn record(&self, pending: &Pending) {
        let Pending::Replicated(done) = pending else {
            return;
        };
        if !self.active.load(Ordering::Relaxed) {
            self.active.store(true, Ordering::Release);
        }
        HELD.with(|h| {
            for &i in h.borrow().iter() {
                if let Some(slot) = self.slots.get(i) {
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(done));
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_is_recorded_on_the_held_stripes_until_it_completes() {
        let f = InFlight::new(8);
        let done = Completion::new();
        {
            let _a = f.hold(vec![1, 3]);
            let _b = f.hold(vec![3]);
            f.record(&Pending::Replicated(Arc::clone(&done)));
        }
        assert!(f.on([0, 2]).is_none());
        assert!(Arc::ptr_eq(&f.on([2, 3]).unwrap(), &done));
        assert!(f.on([1]).is_some());
        // Released: a later write records nowhere.
        f.record(&Pending::Replicated(Completion::new()));
        assert!(Arc::ptr_eq(&f.on([1]).unwrap(), &done));
        // A holder of stripe 1 waits for it; completed, it is forgotten.
        let waiter = {
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let f2 = InFlight::new(8);
                *f2.slots[1].lock().unwrap() = Some(done);
                f2.active.store(true, Ordering::SeqCst);
                let _m = f2.hold(vec![1]);
                f2.on([1]).is_none()
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        done.complete(Ok(5));
        assert!(waiter.join().unwrap());
        assert!(f.on([1, 3]).is_none());
    }

    /// Until a replicated write is recorded (a single node: never), nothing is looked up: a
    /// slot set behind the recorder's back is not seen, and holds never wait.
    #[test]
    fn without_a_replicated_write_checks_look_at_nothing() {
        let f = InFlight::new(8);
        *f.slots[2].lock().unwrap() = Some(Completion::new());
        assert!(f.on([2]).is_none());
        drop(f.hold(vec![2]));
        {
            let _m = f.hold(vec![2]);
            f.record(&Pending::Replicated(Completion::new()));
        }
        assert!(f.on([2]).is_some());
    }
}
