//! Commits through a replicated log: a test log holds each submitted batch until the test
//! releases it (applying it to the engine, as a Raft state machine would once the batch is
//! committed) or fails it, so the tests control what is in flight.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use orbit_env::SimFs;
use orbit_lsm::{Db, WriteBatch};

use super::{options, KS};
use crate::{CommitLog, Completion, Error, Failure, Isolation, Submitted, TxnDb};

/// Batches in flight, oldest first.
#[derive(Default)]
struct HeldLog {
    db: Mutex<Option<Arc<Db>>>,
    held: Mutex<VecDeque<(WriteBatch, Arc<Completion>)>>,
}

impl HeldLog {
    /// Commits the oldest batch in flight: applies it and completes it with its sequence
    /// number.
    fn release(&self) {
        let (batch, done) = self.held.lock().unwrap().pop_front().unwrap();
        let db = self.db.lock().unwrap().clone().unwrap();
        let seq = db.write_pending(&batch).unwrap().wait().unwrap();
        done.complete(Ok(seq));
    }

    /// Fails the oldest batch in flight (leadership lost before it committed).
    fn fail(&self) {
        let (_, done) = self.held.lock().unwrap().pop_front().unwrap();
        done.complete(Err(Failure::NotLeader {
            leader: Some("node 2".into()),
        }));
    }
}

impl CommitLog for Arc<HeldLog> {
    fn submit<'b>(
        &self,
        batch: &'b WriteBatch,
        _since: Option<u64>,
    ) -> crate::Result<Submitted<'b>> {
        let done = Completion::new();
        self.held
            .lock()
            .unwrap()
            .push_back((batch.clone(), Arc::clone(&done)));
        Ok(Submitted::Replicated(done))
    }
}

fn open() -> (TxnDb, Arc<HeldLog>) {
    let db = Arc::new(Db::open(SimFs::new().shared(), "/db", options(1 << 20)).unwrap());
    let log = Arc::new(HeldLog::default());
    *log.db.lock().unwrap() = Some(Arc::clone(&db));
    (TxnDb::with_log(db, Arc::new(Arc::clone(&log))), log)
}

#[test]
fn a_commit_in_flight_conflicts_with_every_open_snapshot_until_it_completes() {
    let (db, log) = open();
    let mut a = db.begin(Isolation::RepeatableRead).unwrap();
    let mut b = db.begin(Isolation::RepeatableRead).unwrap();
    a.put(KS, b"k", b"a").unwrap();
    let pending = a.commit_pending().unwrap().unwrap();
    // Its sequence number is not known yet, and the write is not visible.
    assert_eq!(pending.seq(), None);
    assert_eq!(db.get(KS, b"k").unwrap(), None);
    // b's snapshot cannot see a's write: first committer wins, even before a completes.
    b.put(KS, b"k", b"b").unwrap();
    assert!(matches!(b.commit(), Err(Error::SerializationFailure(_))));
    // A transaction that began while a was in flight conflicts too, even once a completes.
    let mut c = db.begin(Isolation::RepeatableRead).unwrap();
    log.release();
    let seq = pending.wait().unwrap();
    assert_eq!(db.get(KS, b"k").unwrap(), Some(b"a".to_vec()));
    c.put(KS, b"k", b"c").unwrap();
    assert!(matches!(c.commit(), Err(Error::SerializationFailure(_))));
    // One that begins after a completed sees it and commits.
    let mut d = db.begin(Isolation::RepeatableRead).unwrap();
    assert_eq!(d.get(KS, b"k").unwrap(), Some(b"a".to_vec()));
    d.put(KS, b"k", b"d").unwrap();
    let pending = d.commit_pending().unwrap().unwrap();
    log.release();
    assert!(pending.wait().unwrap() > seq);
    assert_eq!(db.get(KS, b"k").unwrap(), Some(b"d".to_vec()));
}

#[test]
fn a_write_outside_transactions_in_flight_is_recorded_with_no_transaction_open() {
    let (db, log) = open();
    let pending = db.submit(WriteBatch::new().put(KS, b"k", b"1")).unwrap();
    // No transaction was open when it was submitted; one begins before it completes and
    // writes the same key from a snapshot without it: that is a lost update, refused.
    let mut t = db.begin(Isolation::RepeatableRead).unwrap();
    assert_eq!(t.get(KS, b"k").unwrap(), None);
    t.put(KS, b"k", b"2").unwrap();
    log.release();
    pending.wait().unwrap();
    assert!(matches!(t.commit(), Err(Error::SerializationFailure(_))));
    // Settled: a transaction after it commits, and the oracle forgets it once nothing can
    // conflict with it.
    let mut u = db.begin(Isolation::RepeatableRead).unwrap();
    u.put(KS, b"k", b"3").unwrap();
    let p = u.commit_pending().unwrap().unwrap();
    log.release();
    p.wait().unwrap();
    let mut v = db.begin(Isolation::ReadCommitted).unwrap();
    v.put(KS, b"other", b"x").unwrap();
    let p = v.commit_pending().unwrap().unwrap();
    log.release();
    p.wait().unwrap();
    assert_eq!(
        db.tracked_commits(),
        1,
        "only the last commit is still recorded"
    );
    assert_eq!(db.get(KS, b"k").unwrap(), Some(b"3".to_vec()));
}

#[test]
fn a_row_lock_is_held_until_the_replicated_commit_completes() {
    let (db, log) = open();
    let p = db.submit(WriteBatch::new().put(KS, b"k", b"0")).unwrap();
    log.release();
    p.wait().unwrap();
    let mut a = db.begin(Isolation::ReadCommitted).unwrap();
    let mut b = db.begin(Isolation::ReadCommitted).unwrap();
    assert_eq!(a.get_for_update(KS, b"k").unwrap(), Some(b"0".to_vec()));
    a.put(KS, b"k", b"1").unwrap();
    let pending = a.commit_pending().unwrap().unwrap();
    // a has committed but its commit is in flight: b still finds the row locked.
    assert!(matches!(b.get_for_update(KS, b"k"), Err(Error::LockBusy)));
    log.release();
    pending.wait().unwrap();
    assert_eq!(b.get_for_update(KS, b"k").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn a_failed_commit_reports_the_leader_and_frees_its_locks() {
    let (db, log) = open();
    let mut a = db.begin(Isolation::ReadCommitted).unwrap();
    assert_eq!(a.get_for_update(KS, b"k").unwrap(), None);
    let p = db.submit(WriteBatch::new().put(KS, b"k", b"0")).unwrap();
    log.release();
    p.wait().unwrap();
    let mut a = db.begin(Isolation::ReadCommitted).unwrap();
    assert_eq!(a.get_for_update(KS, b"k").unwrap(), Some(b"0".to_vec()));
    a.put(KS, b"k", b"1").unwrap();
    let pending = a.commit_pending().unwrap().unwrap();
    log.fail();
    match pending.wait() {
        Err(e @ Error::NotLeader { .. }) => {
            assert_eq!(e.sqlstate(), "25006");
            assert!(e.to_string().contains("the leader is at node 2"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let mut b = db.begin(Isolation::ReadCommitted).unwrap();
    assert_eq!(b.get_for_update(KS, b"k").unwrap(), Some(b"0".to_vec()));
    b.rollback();
}
