//! Spreading connections over the workers. Each worker accepts on its own `SO_REUSEPORT`
//! listener, but the kernel picks the listener by a hash of the connection's addresses, so a
//! client with two connections has even odds of landing both on one worker and leaving the
//! other core idle. A worker that accepts a connection sends it to the worker serving the
//! fewest (equals taken in turn), before reading a byte of it, through that worker's inbox;
//! the receiving worker owns it from then on.
//!
//! A worker running a long statement (a SQL query for minutes) cannot accept: connections
//! the kernel queues on its listener would wait for the statement, a CancelRequest for that
//! very statement among them. Each worker beats every [`BEAT`]; one that has not beaten for
//! [`STUCK`] is stuck, is passed over by [`Balance::pick`], and the rescuer (`serve`) accepts
//! on its listeners for it and takes what was handed to its inbox before it was found stuck.
//!
//! Invariant: `load[w]` counts the connections being served by worker `w` (a [`Served`]
//! guard per connection task); a handed-over connection counts only where it is served.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Which protocol a connection speaks (which listener accepted it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Protocol {
    Resp,
    Pg,
}

/// A connection on its way to another worker.
pub type Handoff = (Protocol, std::net::TcpStream);

/// How often a worker beats. An idle server's wake-ups (workers and rescuer together) cost
/// about 0.3% of a core at 25/100 ms: these periods keep a cancel's worst delay near 300 ms.
pub const BEAT: Duration = Duration::from_millis(50);
/// How long without a beat makes a worker stuck.
pub const STUCK: Duration = Duration::from_millis(200);
/// How often the rescuer looks for stuck workers.
pub const RESCUE_EVERY: Duration = Duration::from_millis(100);

/// Connections handed to one worker: taken by it, or by the rescuer while it is stuck.
#[derive(Debug, Default)]
struct Inbox {
    /// Closed (the worker stopped), and the connections waiting.
    queue: Mutex<(bool, VecDeque<Handoff>)>,
    ready: Notify,
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, (bool, VecDeque<Handoff>)> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The workers' loads, beats and inboxes.
#[derive(Debug)]
pub struct Balance {
    load: Vec<AtomicUsize>,
    /// Where the search for the least loaded worker starts (one after the previous pick).
    next: AtomicUsize,
    inbox: Vec<Inbox>,
    /// Each worker's last beat, in milliseconds since `epoch`.
    beats: Vec<AtomicU64>,
    epoch: Instant,
}

impl Balance {
    /// A balance over `workers` workers.
    pub fn new(workers: usize) -> Arc<Balance> {
        let inbox = (0..workers).map(|_| Inbox::default()).collect();
        let load = (0..workers).map(|_| AtomicUsize::new(0)).collect();
        let next = AtomicUsize::new(0);
        let beats = (0..workers).map(|_| AtomicU64::new(0)).collect();
        let epoch = Instant::now();
        let balance = Balance {
            load,
            next,
            inbox,
            beats,
            epoch,
        };
        Arc::new(balance)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Worker `w` is alive (called every [`BEAT`] from its runtime).
    pub fn beat(&self, w: usize) {
        if let Some(b) = self.beats.get(w) {
            b.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    /// Whether worker `w` has not beaten for [`STUCK`] (a worker that never beat is taken
    /// as starting, not stuck).
    pub fn stuck(&self, w: usize) -> bool {
        let Some(b) = self.beats.get(w) else {
            return false;
        };
        let last = b.load(Ordering::Relaxed);
        last != 0 && self.now_ms().saturating_sub(last) > STUCK.as_millis() as u64
    }

    /// The worker that should serve a connection accepted by worker `me`: the least loaded
    /// one that is not stuck; among equals, the one after the previous pick (so a client's
    /// connections alternate even when an idle connection of its own weighs on one
    /// worker). `me` if every worker is stuck.
    pub fn pick(&self, me: usize) -> usize {
        let n = self.load.len();
        let of = |w: usize| {
            self.load
                .get(w)
                .map_or(usize::MAX, |l| l.load(Ordering::Relaxed))
        };
        let start = self.next.load(Ordering::Relaxed) % n.max(1);
        let mut best = None;
        for w in (start..n).chain(0..start) {
            if !self.stuck(w) && best.is_none_or(|b| of(w) < of(b)) {
                best = Some(w);
            }
        }
        let Some(best) = best else { return me };
        self.next.store(best + 1, Ordering::Relaxed);
        best
    }

    /// Sends a connection to worker `to`; gives it back if that worker has stopped.
    pub fn hand_over(&self, to: usize, h: Handoff) -> Result<(), Handoff> {
        let Some(inbox) = self.inbox.get(to) else {
            return Err(h);
        };
        let mut queue = inbox.lock();
        if queue.0 {
            return Err(h);
        }
        queue.1.push_back(h);
        drop(queue);
        inbox.ready.notify_one();
        Ok(())
    }

    /// Resolves when something may have been handed to worker `w` (never for a worker
    /// without an inbox).
    pub async fn handed(&self, w: usize) {
        match self.inbox.get(w) {
            Some(inbox) => inbox.ready.notified().await,
            None => std::future::pending().await,
        }
    }

    /// The next connection handed to worker `w`.
    pub fn take(&self, w: usize) -> Option<Handoff> {
        self.inbox.get(w)?.lock().1.pop_front()
    }

    /// Worker `w` stops: nothing more is handed to it; gives back what waits.
    pub fn close(&self, w: usize) -> Vec<Handoff> {
        let Some(inbox) = self.inbox.get(w) else {
            return Vec::new();
        };
        let mut queue = inbox.lock();
        queue.0 = true;
        queue.1.drain(..).collect()
    }

    /// Counts a connection served by worker `w` until the guard drops.
    pub fn served(self: &Arc<Balance>, w: usize) -> Served {
        if let Some(l) = self.load.get(w) {
            l.fetch_add(1, Ordering::Relaxed);
        }
        Served {
            balance: Arc::clone(self),
            worker: w,
        }
    }
}

/// One connection served by a worker (see [`Balance::served`]).
#[derive(Debug)]
pub struct Served {
    balance: Arc<Balance>,
    worker: usize,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(l) = self.balance.load.get(self.worker) {
            l.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_go_to_the_least_loaded_worker_and_ties_rotate() {
        let b = Balance::new(3);
        assert_eq!((b.pick(1), b.pick(1), b.pick(1), b.pick(1)), (0, 1, 2, 0));
        let one = b.served(1);
        let zero = b.served(0);
        assert_eq!(b.pick(0), 2);
        let two = b.served(2);
        // All equal: the rotation goes on.
        assert_eq!((b.pick(2), b.pick(2)), (0, 1));
        drop(one);
        assert_eq!((b.pick(0), b.pick(0)), (1, 1));
        drop((zero, two));
        // A handed-over connection arrives in that worker's inbox.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let s = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        b.hand_over(2, (Protocol::Resp, s)).unwrap();
        assert!(b.take(1).is_none());
        assert!(matches!(b.take(2), Some((Protocol::Resp, _))));
        assert!(b.take(2).is_none());
        // A stopping worker gives back what waits, and takes nothing more.
        let s = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        b.hand_over(2, (Protocol::Pg, s)).unwrap();
        assert_eq!(b.close(2).len(), 1);
        let s = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        assert!(
            b.hand_over(2, (Protocol::Pg, s)).is_err(),
            "a stopped worker gives it back"
        );
        assert!(b.take(2).is_none());
    }

    #[test]
    fn stuck_workers_are_passed_over() {
        let mut b = Arc::try_unwrap(Balance::new(3)).unwrap();
        // A second into the past (a machine up for less has nothing to test this on).
        let Some(epoch) = Instant::now().checked_sub(Duration::from_secs(1)) else {
            return;
        };
        b.epoch = epoch;
        // Worker 1 last beat a second ago; 0 and 2 just now.
        b.beats[1].store(1, Ordering::Relaxed);
        b.beat(0);
        b.beat(2);
        assert!(b.stuck(1) && !b.stuck(0) && !b.stuck(2));
        let picks: Vec<usize> = (0..4).map(|_| b.pick(1)).collect();
        assert_eq!(picks, vec![0, 2, 0, 2]);
        // Worker 1 beats again: it is in the rotation again (0 and 2 beat again too: a
        // paused test machine may have let their beats age past the limit).
        b.beat(0);
        b.beat(1);
        b.beat(2);
        let picks: Vec<usize> = (0..3).map(|_| b.pick(0)).collect();
        assert_eq!(picks, vec![0, 1, 2]);
        // Every worker stuck: the caller keeps the connection.
        for w in 0..3 {
            b.beats[w].store(1, Ordering::Relaxed);
        }
        assert_eq!(b.pick(7), 7);
    }
}
