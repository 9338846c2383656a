//! Publishing writes in sequence order: a batch becomes visible only when every batch with a
//! smaller sequence number is durable too, whatever order their fsyncs completed in.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Duration;

/// Tracks acknowledged sequence ranges and the visible prefix.
#[derive(Debug)]
pub(crate) struct Publisher {
    visible: AtomicU64,
    done: Mutex<BTreeMap<u64, u64>>,
    /// Waiters (async tasks, and threads in `wait_visible`): woken once the visible prefix
    /// reaches their sequence number.
    wakers: Mutex<Vec<(u64, Waker)>>,
}

impl Publisher {
    pub(crate) fn new(visible: u64) -> Self {
        Publisher {
            visible: AtomicU64::new(visible),
            done: Mutex::new(BTreeMap::new()),
            wakers: Mutex::new(Vec::new()),
        }
    }

    /// The largest sequence number such that it and all before it are durable.
    pub(crate) fn visible(&self) -> u64 {
        self.visible.load(Ordering::Acquire)
    }

    /// Marks `first..=last` durable and advances the visible prefix as far as possible.
    pub(crate) fn done(&self, first: u64, last: u64) {
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        done.insert(first, last);
        let mut visible = self.visible.load(Ordering::Acquire);
        while let Some(last) = done.remove(&(visible + 1)) {
            visible = last;
        }
        self.visible.store(visible, Ordering::Release);
        drop(done);
        let ready: Vec<Waker> = {
            let mut wakers = self.wakers.lock().unwrap_or_else(|p| p.into_inner());
            if wakers.is_empty() {
                return;
            }
            let (ready, waiting) = std::mem::take(&mut *wakers)
                .into_iter()
                .partition(|(seq, _)| *seq <= visible);
            *wakers = waiting;
            ready.into_iter().map(|(_, w)| w).collect()
        };
        ready.into_iter().for_each(Waker::wake);
    }

    /// Registers `waker` to be woken once `seq` is visible; false if it already is.
    pub(crate) fn register(&self, seq: u64, waker: &Waker) -> bool {
        let mut wakers = self.wakers.lock().unwrap_or_else(|p| p.into_inner());
        // Checked under the lock `done` takes after publishing: no wake-up is lost.
        if self.visible() >= seq {
            return false;
        }
        wakers.push((seq, waker.clone()));
        true
    }

    /// Wakes every async waiter (the database was poisoned: they must look again).
    pub(crate) fn wake_all(&self) {
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|p| p.into_inner()));
        wakers.into_iter().for_each(|(_, w)| w.wake());
    }

    /// Waits until `seq` is visible, or `give_up` says to stop waiting. True if visible. The
    /// thread parks and is woken only by the publish that makes `seq` visible (a condition
    /// variable woke every waiting thread on every publish: with 64 synced writers that herd
    /// cost more than half the throughput), or every 50 ms to ask `give_up`.
    pub(crate) fn wait_visible(&self, seq: u64, give_up: impl Fn() -> bool) -> bool {
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        loop {
            if self.visible() >= seq {
                return true;
            }
            if give_up() {
                return false;
            }
            if !self.register(seq, &waker) {
                return true;
            }
            std::thread::park_timeout(Duration::from_millis(50));
        }
    }
}

/// Wakes a thread parked in [`Publisher::wait_visible`].
struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_advances_only_through_a_contiguous_prefix() {
        let p = Publisher::new(0);
        p.done(3, 5);
        assert_eq!(p.visible(), 0, "1..=2 are not durable yet");
        p.done(1, 2);
        assert_eq!(p.visible(), 5);
        p.done(7, 7);
        assert_eq!(p.visible(), 5);
        p.done(6, 6);
        assert_eq!(p.visible(), 7);
        assert!(p.wait_visible(7, || false));
        assert!(!p.wait_visible(8, || true));
    }

    #[test]
    fn a_waiter_sees_a_publish_made_while_it_waits() {
        let p = std::sync::Arc::new(Publisher::new(0));
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let p = std::sync::Arc::clone(&p);
                std::thread::spawn(move || p.wait_visible(3, || false))
            })
            .collect();
        for seq in 1..=3 {
            std::thread::yield_now();
            p.done(seq, seq);
        }
        for w in waiters {
            assert!(w.join().unwrap());
        }
        // Every registration was woken and dropped.
        assert!(p.wakers.lock().unwrap().is_empty());
    }
}
