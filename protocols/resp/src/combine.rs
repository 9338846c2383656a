//! Combining: a run of commands on one key whose lock stripe another worker holds is handed to
//! that worker, which runs it together with its own, instead of this worker sleeping on the
//! stripe's lock.
//!
//! Why: `redis-benchmark`'s SADD, HSET, LPUSH, LPOP and ZADD (like any hot key) send every
//! command to one key. Two workers took turns on its stripe, each sleeping on the lock while
//! the other ran: a fifth of the server's CPU went to sleeping and waking. Now a worker that
//! finds the stripe held queues the run (a [`Job`]) on the stripe, and its connection awaits
//! the outcome ([`Handed`]) while the worker serves its other connections. The holder, before
//! it lets the stripe go, takes the queued runs that join its own (same database, protocol,
//! kind of run and key: `Queues::take_joining`) and runs them after its own as one run: one
//! engine write and one batched lookup for all, as a pipeline's run already is. Each run's
//! commands stay together and in order, so the outcome is that of the runs one after another.
//!
//! The protocol, so that no run stays queued: whoever lets a stripe go (a combiner's
//! `store::Hold`, or any `store::Held`) then looks at its queue, and tells the oldest run
//! there to try again (`Outcome::Retry`); a worker that queues a run tries the stripe once
//! more, and if it gets it, takes its own run back and runs it. Either the holder's look comes
//! after the queuing, or the queuer's second try comes after the holder let go: a `SeqCst`
//! fence sits between each side's two steps (`Queues::push`, `Queues::let_go`). A connection
//! told to try again owes the stripe that try: should it end first, it tells the next queued
//! run instead (`conn::Baton`).
//!
//! Only on a single node (`Engine::execute_run`): through a replicated log a write reaches the
//! engine later (`crate::inflight`), and a queued run would first have to wait for it.
//!
//! Invariants: a job leaves its queue exactly once (run and answered with `Outcome::Done`,
//! told to retry, or taken back by its own worker), and `queued` counts the jobs in all
//! queues; no stripe lock is held across an await.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use orbit_txn::Pending;
use tokio::sync::oneshot;

use crate::commands::runs::{self, Kind};
use crate::commands::Command;
use crate::reply::Reply;
use crate::store::{Hold, Store};
use crate::{Engine, Session};

/// What [`Engine::execute_run`] did with a run.
pub enum Ran {
    /// Ran it: each command's reply and the writes to await (fewer replies than commands
    /// when the run stopped short: see `execute_run`).
    Answers(Vec<(Reply, Vec<Pending>)>),
    /// Queued it for the worker holding its key's stripe: its replies come from there.
    Handed(Handed),
}

impl Engine {
    /// Runs `cmds`, a run of `kind` on one key (on a single node): at once if the key's
    /// stripe is free, together with the runs queued there that join it; otherwise queued for
    /// the stripe's holder.
    pub(crate) fn run_on_key(
        &self,
        session: &mut Session,
        cmd: &'static Command,
        kind: Kind,
        cmds: &[Vec<Vec<u8>>],
    ) -> Ran {
        let stripe = Store::stripe_of(session.db, run_key(cmds));
        // Before the stripe, as every command takes them: EXEC takes stripes while it holds
        // this exclusively.
        let _shared = self.exec_lock.read().unwrap_or_else(|p| p.into_inner());
        if let Some(hold) = self.store.try_hold(stripe) {
            return Ran::Answers(self.combine(hold, session, cmd, kind, Cow::Borrowed(cmds)));
        }
        let queues = self.store.queues();
        let shape = (session.db, session.protocol);
        let (ticket, handed) = queues.push(stripe, shape, kind, cmds.to_vec());
        if let Some(hold) = self.store.try_hold(stripe) {
            if let Some(mut job) = queues.take(stripe, ticket) {
                let own = std::mem::take(&mut job.cmds);
                return Ran::Answers(self.combine(hold, session, cmd, kind, Cow::Owned(own)));
            }
            // Already taken by the holder that let the stripe go: run, or told to retry; either
            // way its outcome is waiting.
        }
        Ran::Handed(handed)
    }

    /// Runs `own` (a run of `kind`, `cmd` its command) under `hold`, its key's stripe,
    /// followed by the queued runs that join it, as one run; answers those, and returns
    /// `own`'s replies, the write riding on the last (as `execute_run` gives them).
    fn combine(
        &self,
        hold: Hold<'_>,
        session: &mut Session,
        cmd: &'static Command,
        kind: Kind,
        own: Cow<'_, [Vec<Vec<u8>>]>,
    ) -> Vec<(Reply, Vec<Pending>)> {
        let shape = (session.db, session.protocol);
        let bounds = Queues::start(&own);
        let mut jobs =
            self.store
                .queues()
                .take_joining(hold.stripe(), shape, (kind, run_key(&own)), bounds);
        let own_len = own.len();
        let mut lens = Vec::with_capacity(jobs.len());
        let merged = if jobs.is_empty() {
            own
        } else {
            let mut all = own.into_owned();
            for job in &mut jobs {
                lens.push(job.cmds.len());
                all.append(&mut job.cmds);
            }
            Cow::Owned(all)
        };
        let n = merged.len();
        self.commands.fetch_add(n as u64, Ordering::Relaxed);
        let mut replies = Vec::new();
        let (failed, pending) = self.run_with(session, cmd, &[], false, |ctx| {
            replies = runs::run(ctx, kind, &merged)?;
            Ok(Reply::OK)
        });
        drop(hold);
        if replies.len() != n {
            // The run failed as a whole: every command gets its error.
            replies = vec![failed; n];
        }
        if !pending.is_empty() {
            // A command that answered an error wrote nothing: its keys are not announced.
            for (args, reply) in merged.iter().zip(&replies) {
                if !matches!(reply, Reply::Error(_)) {
                    self.announce(session.db, cmd.name, args);
                }
            }
        }
        self.runs_handed
            .fetch_add(jobs.len() as u64, Ordering::Relaxed);
        let mut rest = replies.split_off(own_len);
        for (job, len) in jobs.into_iter().zip(lens) {
            let tail = rest.split_off(len.min(rest.len()));
            job.finish(std::mem::replace(&mut rest, tail));
        }
        let last = replies.pop();
        let mut answers: Vec<(Reply, Vec<Pending>)> =
            replies.into_iter().map(|r| (r, Vec::new())).collect();
        answers.extend(last.map(|r| (r, pending)));
        answers
    }
}

/// The most commands one combined run carries, and the most argument bytes: a bound on its
/// write batch and on how long the other runs wait behind it.
const MAX_COMMANDS: usize = 4096;
const MAX_BYTES: usize = 4 << 20;

/// What a queued run learns.
#[derive(Debug)]
pub enum Outcome {
    /// Another worker ran it: each command's reply, in order. Its write was assigned before
    /// this was sent, so the connection's reply barrier (`Store::barrier`) covers it.
    Done(Vec<Reply>),
    /// The stripe was let go with the run still queued (it did not join the holder's): run it
    /// again.
    Retry,
}

/// A run queued on a stripe.
pub(crate) struct Job {
    ticket: u64,
    db: u8,
    protocol: u8,
    kind: Kind,
    cmds: Vec<Vec<Vec<u8>>>,
    bytes: usize,
    tx: oneshot::Sender<Outcome>,
}

impl Job {
    /// The run's key (every command of a one-key run names it).
    fn key(&self) -> &[u8] {
        run_key(&self.cmds)
    }

    /// Answers the run; a connection that went away meanwhile misses nothing it could see.
    fn finish(self, replies: Vec<Reply>) {
        let _ = self.tx.send(Outcome::Done(replies));
    }
}

/// The key a one-key run names (its first command's).
pub(crate) fn run_key(cmds: &[Vec<Vec<u8>>]) -> &[u8] {
    cmds.first()
        .and_then(|c| c.get(1))
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Argument bytes of a run, for the combined run's bound.
fn bytes_of(cmds: &[Vec<Vec<u8>>]) -> usize {
    cmds.iter().flatten().map(Vec::len).sum()
}

/// A queued run's outcome, to await.
pub struct Handed {
    rx: oneshot::Receiver<Outcome>,
    commands: usize,
    stripe: usize,
}

impl Handed {
    /// The stripe the run was queued on.
    pub fn stripe(&self) -> usize {
        self.stripe
    }

    /// Waits for the run to be answered or sent back. Should its answer never come (the
    /// worker running it failed mid-way), each command gets an error: whether it wrote is not
    /// known, so it is not run again.
    pub async fn outcome(self) -> Outcome {
        let commands = self.commands;
        self.rx.await.unwrap_or_else(|_| {
            Outcome::Done(vec![
                Reply::err("ERR the command's work was abandoned");
                commands
            ])
        })
    }
}

/// The runs queued on each stripe.
pub(crate) struct Queues {
    queues: Vec<Mutex<VecDeque<Job>>>,
    /// Jobs in all queues: letting a stripe go looks at its queue only when this is not 0.
    queued: AtomicUsize,
    tickets: AtomicU64,
}

impl Queues {
    pub(crate) fn new(stripes: usize) -> Queues {
        Queues {
            queues: (0..stripes).map(|_| Mutex::new(VecDeque::new())).collect(),
            queued: AtomicUsize::new(0),
            tickets: AtomicU64::new(0),
        }
    }

    fn queue(&self, stripe: usize) -> Option<MutexGuard<'_, VecDeque<Job>>> {
        let q = self.queues.get(stripe)?;
        Some(q.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Queues a run of `kind` (`cmds`, of a connection on database `db` speaking `protocol`)
    /// on `stripe`: its ticket (to take it back) and its outcome to await. The caller tries
    /// the stripe again next.
    pub(crate) fn push(
        &self,
        stripe: usize,
        (db, protocol): (u8, u8),
        kind: Kind,
        cmds: Vec<Vec<Vec<u8>>>,
    ) -> (u64, Handed) {
        let (tx, rx) = oneshot::channel();
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        let handed = Handed {
            rx,
            commands: cmds.len(),
            stripe,
        };
        let job = Job {
            ticket,
            db,
            protocol,
            kind,
            bytes: bytes_of(&cmds),
            cmds,
            tx,
        };
        match self.queue(stripe) {
            Some(mut q) => {
                q.push_back(job);
                self.queued.fetch_add(1, Ordering::SeqCst);
            }
            // No such stripe: nothing could ever run it, so it is sent back at once.
            None => {
                let _ = job.tx.send(Outcome::Retry);
            }
        }
        // The queuing before the caller's second try of the stripe (see the module doc).
        fence(Ordering::SeqCst);
        (ticket, handed)
    }

    /// Takes the job `ticket` back out of `stripe`'s queue, if no one took it yet.
    pub(crate) fn take(&self, stripe: usize, ticket: u64) -> Option<Job> {
        let mut q = self.queue(stripe)?;
        let at = q.iter().position(|j| j.ticket == ticket)?;
        let job = q.remove(at)?;
        self.queued.fetch_sub(1, Ordering::SeqCst);
        Some(job)
    }

    /// Takes, oldest first, the jobs queued on `stripe` that join a run of `kind` on `key`
    /// run by a connection on database `db` speaking `protocol`, while the combined run stays
    /// within its bounds (`commands` and `bytes` already in it).
    pub(crate) fn take_joining(
        &self,
        stripe: usize,
        (db, protocol): (u8, u8),
        (kind, key): (Kind, &[u8]),
        (mut commands, mut bytes): (usize, usize),
    ) -> Vec<Job> {
        if self.queued.load(Ordering::SeqCst) == 0 {
            return Vec::new();
        }
        let Some(mut q) = self.queue(stripe) else {
            return Vec::new();
        };
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(q.len());
        while let Some(job) = q.pop_front() {
            let joins = job.db == db
                && job.protocol == protocol
                && job.kind == kind
                && job.key() == key
                && commands + job.cmds.len() <= MAX_COMMANDS
                && bytes + job.bytes <= MAX_BYTES;
            if joins {
                commands += job.cmds.len();
                bytes += job.bytes;
                taken.push(job);
            } else {
                kept.push_back(job);
            }
        }
        *q = kept;
        self.queued.fetch_sub(taken.len(), Ordering::SeqCst);
        taken
    }

    /// After `stripes` were let go: on each, the oldest run queued there, if any, is told to
    /// try again (one whose connection went away is dropped, and the next one told). One
    /// fence and one load for all: a command that held many stripes (a run of SETs) pays
    /// them once.
    pub(crate) fn let_go(&self, stripes: &[usize]) {
        // The letting go before the look at the queues (see the module doc).
        fence(Ordering::SeqCst);
        if self.queued.load(Ordering::SeqCst) == 0 {
            return;
        }
        for &stripe in stripes {
            let Some(mut q) = self.queue(stripe) else {
                continue;
            };
            while let Some(job) = q.pop_front() {
                self.queued.fetch_sub(1, Ordering::SeqCst);
                if job.tx.send(Outcome::Retry).is_ok() {
                    break;
                }
            }
        }
    }

    /// Jobs queued on all stripes.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// Bounds of a combined run that begins with `cmds`.
    pub(crate) fn start(cmds: &[Vec<Vec<u8>>]) -> (usize, usize) {
        (cmds.len(), bytes_of(cmds))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sadd(key: &str, member: &str) -> Vec<Vec<Vec<u8>>> {
        cmds(&[&["SADD", key, member]])
    }

    fn done(o: Outcome) -> Vec<Reply> {
        match o {
            Outcome::Done(r) => r,
            Outcome::Retry => panic!("retry"),
        }
    }

    #[tokio::test]
    async fn joining_jobs_leave_in_order_and_others_stay() {
        let q = Queues::new(4);
        let (_, a) = q.push(1, (0, 2), Kind::SAdd, sadd("k", "a"));
        let (_, b) = q.push(1, (0, 2), Kind::HSet, sadd("k", "b"));
        let (_, c) = q.push(1, (0, 2), Kind::SAdd, sadd("k", "c"));
        let (_, d) = q.push(1, (1, 2), Kind::SAdd, sadd("k", "d"));
        let (_, e) = q.push(1, (0, 2), Kind::SAdd, sadd("other", "e"));
        let (_, f) = q.push(1, (0, 3), Kind::SAdd, sadd("k", "f"));
        let taken = q.take_joining(1, (0, 2), (Kind::SAdd, b"k"), (1, 10));
        let members: Vec<&[u8]> = taken.iter().map(|j| j.cmds[0][2].as_slice()).collect();
        assert_eq!(members, [b"a", b"c"]);
        assert_eq!(q.queued.load(Ordering::SeqCst), 4);
        for j in taken {
            j.finish(vec![Reply::Int(1)]);
        }
        assert_eq!(done(a.outcome().await), [Reply::Int(1)]);
        assert_eq!(done(c.outcome().await), [Reply::Int(1)]);
        // Letting go tells the oldest left to try again: b, then d, e, f.
        for (h, left) in [(b, 3), (d, 2), (e, 1), (f, 0)] {
            q.let_go(&[1]);
            assert!(matches!(h.outcome().await, Outcome::Retry));
            assert_eq!(q.queued.load(Ordering::SeqCst), left);
        }
        q.let_go(&[1]);
    }

    fn cmds(words: &[&[&str]]) -> Vec<Vec<Vec<u8>>> {
        words
            .iter()
            .map(|c| c.iter().map(|w| w.as_bytes().to_vec()).collect())
            .collect()
    }

    fn handed(r: Option<Ran>) -> Handed {
        match r {
            Some(Ran::Handed(h)) => h,
            _ => panic!("not handed on"),
        }
    }

    /// Runs queued while another thread holds their stripe: the oldest is sent back when it
    /// lets go, runs then with the runs that join it (after its own, in order), and the one
    /// that does not join (another kind) is sent back when that run lets go.
    fn outcome(h: Handed) -> Outcome {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(h.outcome())
    }

    #[test]
    fn queued_runs_join_the_next_holder_in_order() {
        let e = crate::tests::engine_on(&orbit_env::SimFs::new(), 1 << 20);
        let (mut a, mut b, mut d) = (
            e.connect("a".into()).unwrap(),
            e.connect("b".into()).unwrap(),
            e.connect("d".into()).unwrap(),
        );
        let (hold_tx, held_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::scope(|scope| {
            let e = &e;
            let holder = scope.spawn(move || {
                let hold = e.store.try_hold(Store::stripe_of(0, b"k")).unwrap();
                hold_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                drop(hold);
            });
            held_rx.recv().unwrap();
            let runs = (
                cmds(&[&["SADD", "k", "a"], &["SADD", "k", "b"]]),
                cmds(&[&["SADD", "k", "b"], &["SADD", "k", "c"]]),
                cmds(&[&["HSET", "k", "f", "v"]]),
            );
            let ha = handed(e.execute_run(&mut a, &runs.0));
            let hb = handed(e.execute_run(&mut b, &runs.1));
            let hd = handed(e.execute_run(&mut d, &runs.2));
            go_tx.send(()).unwrap();
            holder.join().unwrap();
            (ha, hb, hd, runs)
        });
        let (ha, hb, hd, runs) = holder;
        assert!(matches!(outcome(ha), Outcome::Retry));
        let replies: Vec<Reply> = crate::tests::ran(e.execute_run(&mut a, &runs.0))
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        assert_eq!(replies, [Reply::Int(1), Reply::Int(1)]);
        assert_eq!(done(outcome(hb)), [Reply::Int(0), Reply::Int(1)]);
        assert!(matches!(outcome(hd), Outcome::Retry));
        let replies = crate::tests::ran(e.execute_run(&mut d, &runs.2));
        assert!(matches!(&replies[0].0, Reply::Error(m) if m.starts_with("WRONGTYPE")));
        assert_eq!(e.store.queues().queued.load(Ordering::SeqCst), 0);
        assert_eq!(
            crate::tests::run(&e, &mut a, &["SCARD", "k"]),
            Reply::Int(3)
        );
        // The commands were counted once each, when they ran.
        assert_eq!(e.commands.load(Ordering::Relaxed), 5 + 1);
    }

    #[tokio::test]
    async fn a_job_taken_back_is_gone_and_a_dropped_waiter_is_skipped() {
        let q = Queues::new(2);
        let (t, _a) = q.push(0, (0, 2), Kind::SAdd, sadd("k", "a"));
        let (_, b) = q.push(0, (0, 2), Kind::SAdd, sadd("k", "b"));
        let (_, c) = q.push(0, (0, 2), Kind::SAdd, sadd("k", "c"));
        assert!(q.take(0, t).is_some());
        assert!(q.take(0, t).is_none());
        drop(b);
        q.let_go(&[0]);
        assert!(matches!(c.outcome().await, Outcome::Retry));
        assert_eq!(q.queued.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn the_bounds_stop_taking_and_an_abandoned_run_gets_errors() {
        let q = Queues::new(1);
        let big = vec![vec![b"SADD".to_vec(), b"k".to_vec(), vec![0; MAX_BYTES]]];
        let (_, a) = q.push(0, (0, 2), Kind::SAdd, big);
        let (_, b) = q.push(0, (0, 2), Kind::SAdd, sadd("k", "b"));
        let taken = q.take_joining(0, (0, 2), (Kind::SAdd, b"k"), (1, 10));
        assert_eq!(
            taken.len(),
            1,
            "the big run does not fit; the small one does"
        );
        drop(taken);
        assert!(
            matches!(b.outcome().await, Outcome::Done(r) if r.len() == 1 && matches!(r[0], Reply::Error(_)))
        );
        // A stripe that does not exist sends its run back at once.
        let (_, c) = q.push(7, (0, 2), Kind::SAdd, sadd("k", "c"));
        assert!(matches!(c.outcome().await, Outcome::Retry));
        drop(a);
    }
}
