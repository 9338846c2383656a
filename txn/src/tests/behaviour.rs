//! Savepoints, scans with read-your-own-writes, write intents, the fast path, finished
//! transactions, and a transaction larger than a WAL record.

use std::ops::Bound;

use orbit_env::SimFs;
use orbit_lsm::Direction;

use super::{key, open, val, KS};
use crate::{Error, Isolation, LockPolicy};

fn keys_of(it: crate::TxnIter) -> Vec<Vec<u8>> {
    it.map(|r| r.unwrap().0).collect()
}

#[test]
fn scans_merge_own_writes_deletes_and_range_deletes_both_ways() {
    let db = open(&SimFs::new());
    for k in 0..10 {
        db.put(KS, &key(k), &val(i64::from(k))).unwrap();
    }
    let mut t = db.begin(Isolation::RepeatableRead).unwrap();
    t.put(KS, &key(3), b"mine").unwrap();
    t.put(KS, &key(20), b"new").unwrap();
    t.delete(KS, &key(5)).unwrap();
    t.delete_range(KS, &key(7), &key(9)).unwrap();
    t.put(KS, &key(8), b"back").unwrap();
    let want: Vec<Vec<u8>> = [0, 1, 2, 3, 4, 6, 8, 9, 20]
        .iter()
        .map(|k| key(*k))
        .collect();
    let all = (Bound::Unbounded, Bound::Unbounded);
    assert_eq!(
        keys_of(t.scan(KS, all.clone(), Direction::Forward).unwrap()),
        want
    );
    let mut back = keys_of(t.scan(KS, all, Direction::Backward).unwrap());
    back.reverse();
    assert_eq!(back, want);
    let bounded = (Bound::Excluded(key(2)), Bound::Included(key(8)));
    assert_eq!(
        keys_of(t.scan(KS, bounded, Direction::Forward).unwrap()),
        vec![key(3), key(4), key(6), key(8)]
    );
    assert_eq!(t.get(KS, &key(3)).unwrap(), Some(b"mine".to_vec()));
    assert_eq!(t.get(KS, &key(7)).unwrap(), None);
    // Others see nothing until the commit, everything after.
    assert_eq!(db.get(KS, &key(3)).unwrap(), Some(val(3)));
    t.commit().unwrap();
    assert_eq!(db.get(KS, &key(3)).unwrap(), Some(b"mine".to_vec()));
    assert_eq!(db.get(KS, &key(7)).unwrap(), None);
    assert_eq!(db.get(KS, &key(8)).unwrap(), Some(b"back".to_vec()));
}

/// The pairs of a scan taken in chunks of `n` (`TxnIter::fill`), each chunk followed by one
/// pair taken by `next`.
fn filled(mut it: crate::TxnIter, n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let (mut all, mut pairs) = (Vec::new(), orbit_lsm::Pairs::new());
    loop {
        pairs.clear();
        it.fill(&mut pairs, n).unwrap();
        assert!(pairs.len() <= n);
        all.extend(pairs.iter().map(|(k, v)| (k.to_vec(), v.to_vec())));
        match it.next() {
            Some(kv) => all.push(kv.unwrap()),
            None => return all,
        }
    }
}

#[test]
fn scans_in_chunks_yield_what_they_yield_pair_by_pair() {
    let db = open(&SimFs::new());
    for k in 0..40 {
        db.put(KS, &key(k), &val(i64::from(k))).unwrap();
    }
    let all = (Bound::Unbounded, Bound::Unbounded);
    // No own writes; puts and deletes (the buffered ones run out early in a forward scan,
    // which then goes on without merging); and a range delete too.
    for mine in 0..3 {
        let mut t = db.begin(Isolation::RepeatableRead).unwrap();
        if mine > 0 {
            t.put(KS, &key(3), b"mine").unwrap();
            // A key between two of the snapshot's: the scan looks at the next one before.
            t.put(KS, &[key(5), b"+".to_vec()].concat(), b"between")
                .unwrap();
            t.delete(KS, &key(5)).unwrap();
        }
        if mine > 1 {
            t.delete_range(KS, &key(17), &key(29)).unwrap();
            t.put(KS, &key(50), b"new").unwrap();
        }
        for direction in [Direction::Forward, Direction::Backward] {
            let want: Vec<_> = t
                .scan(KS, all.clone(), direction)
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            assert_eq!(want.len(), [40, 40, 29][mine]);
            for n in [1, 3, 7, 100] {
                let got = filled(t.scan(KS, all.clone(), direction).unwrap(), n);
                assert_eq!(got, want, "own writes {mine}, {direction:?}, chunks of {n}");
            }
        }
    }
}

#[test]
fn savepoints_roll_back_and_release_like_postgres() {
    let db = open(&SimFs::new());
    let mut t = db.begin(Isolation::ReadCommitted).unwrap();
    t.put(KS, b"a", b"1").unwrap();
    t.savepoint("s1").unwrap();
    t.put(KS, b"a", b"2").unwrap();
    t.savepoint("s2").unwrap();
    t.delete_range(KS, b"a", b"z").unwrap();
    assert_eq!(t.get(KS, b"a").unwrap(), None);
    t.rollback_to("s1").unwrap();
    assert_eq!(t.get(KS, b"a").unwrap(), Some(b"1".to_vec()));
    assert!(matches!(
        t.rollback_to("s2"),
        Err(Error::NoSuchSavepoint(_))
    ));
    // s1 survives its own rollback.
    t.put(KS, b"b", b"x").unwrap();
    t.rollback_to("s1").unwrap();
    assert_eq!(t.get(KS, b"b").unwrap(), None);
    t.put(KS, b"c", b"kept").unwrap();
    t.release("s1").unwrap();
    assert!(matches!(t.release("s1"), Err(Error::NoSuchSavepoint(e)) if e == "s1"));
    t.commit().unwrap();
    assert_eq!(db.get(KS, b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(db.get(KS, b"c").unwrap(), Some(b"kept".to_vec()));
}

#[test]
fn a_write_intent_fails_a_read_committed_commit_after_a_concurrent_update() {
    let db = open(&SimFs::new());
    db.put(KS, b"k", b"0").unwrap();
    let mut t = db.begin(Isolation::ReadCommitted).unwrap();
    assert_eq!(t.get_for_update(KS, b"k").unwrap(), Some(b"0".to_vec()));
    db.put(KS, b"k", b"other").unwrap();
    t.put(KS, b"k", b"1").unwrap();
    let err = t.commit().unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.sqlstate(), "40001");
    assert_eq!(db.get(KS, b"k").unwrap(), Some(b"other".to_vec()));
}

/// Rows `k` and `j` (both "0"), and two transactions: `a` holding `k`'s lock, and `b`.
fn k_locked_by_a(db: &crate::TxnDb) -> (crate::Transaction, crate::Transaction) {
    db.put(KS, b"k", b"0").unwrap();
    db.put(KS, b"j", b"0").unwrap();
    let mut a = db.begin(Isolation::ReadCommitted).unwrap();
    let b = db.begin(Isolation::ReadCommitted).unwrap();
    assert_eq!(a.get_for_update(KS, b"k").unwrap(), Some(b"0".to_vec()));
    (a, b)
}

#[test]
fn row_locks_make_a_second_writer_wait_then_see_the_first_ones_commit() {
    let db = open(&SimFs::new());
    let (mut a, mut b) = k_locked_by_a(&db);
    // b must wait: the row is locked (its own other rows are not).
    assert!(matches!(b.get_for_update(KS, b"k"), Err(Error::LockBusy)));
    assert_eq!(b.get_for_update(KS, b"j").unwrap(), Some(b"0".to_vec()));
    // a now wants j, held by b, which waits for a: a deadlock, reported to a.
    assert!(matches!(a.get_for_update(KS, b"j"), Err(Error::Deadlock)));
    a.put(KS, b"k", b"1").unwrap();
    a.commit().unwrap();
    // The lock is free and a's commit visible: b reads 1 and commits without a conflict.
    assert_eq!(b.get_for_update(KS, b"k").unwrap(), Some(b"1".to_vec()));
    b.put(KS, b"k", b"2").unwrap();
    b.commit().unwrap();
    assert_eq!(db.get(KS, b"k").unwrap(), Some(b"2".to_vec()));
    // A rolled-back holder frees its rows at once; keys that do not exist are not locked.
    let mut c = db.begin(Isolation::ReadCommitted).unwrap();
    let mut d = db.begin(Isolation::ReadCommitted).unwrap();
    assert_eq!(c.get_for_update(KS, b"k").unwrap(), Some(b"2".to_vec()));
    assert_eq!(c.get_for_update(KS, b"new").unwrap(), None);
    assert_eq!(d.get_for_update(KS, b"new").unwrap(), None);
    c.rollback();
    assert_eq!(d.get_for_update(KS, b"k").unwrap(), Some(b"2".to_vec()));
}

#[test]
fn nowait_fails_at_once_and_skip_locked_skips_without_waiting_for_the_owner() {
    let db = open(&SimFs::new());
    let (mut a, mut b) = k_locked_by_a(&db);
    assert_eq!(b.set_lock_policy(LockPolicy::NoWait), LockPolicy::Wait);
    let e = b.get_for_update(KS, b"k").unwrap_err();
    assert!(matches!(e, Error::LockNotAvailable), "{e}");
    assert_eq!(e.sqlstate(), "55P03");
    assert!(!e.is_lock_busy() && b.take_lock_wait().is_none());
    b.set_lock_policy(LockPolicy::SkipLocked);
    assert!(matches!(
        b.get_for_update(KS, b"k"),
        Err(Error::LockSkipped)
    ));
    // Free rows are locked as ever.
    assert_eq!(b.get_for_update(KS, b"j").unwrap(), Some(b"0".to_vec()));
    // b recorded no wait for a: a taking b's row waits (busy), it is not a deadlock.
    assert!(matches!(a.get_for_update(KS, b"j"), Err(Error::LockBusy)));
    // a now waits for b; b not waiting for a is no deadlock: NOWAIT answers 55P03.
    b.set_lock_policy(LockPolicy::NoWait);
    assert!(matches!(
        b.get_for_update(KS, b"k"),
        Err(Error::LockNotAvailable)
    ));
    // Waiting, b would wait for a, which waits for b: the deadlock is b's.
    b.set_lock_policy(LockPolicy::Wait);
    assert!(matches!(b.get_for_update(KS, b"k"), Err(Error::Deadlock)));
}

#[test]
fn a_lock_wait_resolves_once_the_owner_ends_and_its_commit_is_visible() {
    use std::future::Future;
    use std::task::{Context, Waker};
    let db = open(&SimFs::new());
    db.put(KS, b"k", b"0").unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let mut a = db.begin(Isolation::ReadCommitted).unwrap();
    let mut b = db.begin(Isolation::ReadCommitted).unwrap();
    assert!(a.get_for_update(KS, b"k").unwrap().is_some());
    assert!(matches!(b.get_for_update(KS, b"k"), Err(Error::LockBusy)));
    let mut wait = b.take_lock_wait().expect("a busy lock leaves a wait");
    assert!(b.take_lock_wait().is_none());
    assert!(std::pin::Pin::new(&mut wait).poll(&mut cx).is_pending());
    a.put(KS, b"k", b"1").unwrap();
    let commit = a.commit_pending().unwrap().expect("a wrote");
    commit.wait().unwrap();
    assert!(std::pin::Pin::new(&mut wait).poll(&mut cx).is_ready());
    assert_eq!(b.get_for_update(KS, b"k").unwrap(), Some(b"1".to_vec()));
    // A waiter for an owner that rolls back is released with nothing more to wait for.
    let mut c = db.begin(Isolation::ReadCommitted).unwrap();
    assert!(matches!(c.get_for_update(KS, b"k"), Err(Error::LockBusy)));
    let mut wait = c.take_lock_wait().expect("a busy lock leaves a wait");
    assert!(std::pin::Pin::new(&mut wait).poll(&mut cx).is_pending());
    b.rollback();
    assert!(std::pin::Pin::new(&mut wait).poll(&mut cx).is_ready());
    assert_eq!(c.get_for_update(KS, b"k").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn a_repeatable_read_writer_that_waited_for_a_lock_fails_at_once_if_the_row_changed() {
    let db = open(&SimFs::new());
    db.put(KS, b"k", b"0").unwrap();
    let mut a = db.begin(Isolation::RepeatableRead).unwrap();
    let mut b = db.begin(Isolation::RepeatableRead).unwrap();
    assert_eq!(a.get_for_update(KS, b"k").unwrap(), Some(b"0".to_vec()));
    assert!(matches!(b.get_for_update(KS, b"k"), Err(Error::LockBusy)));
    a.put(KS, b"k", b"1").unwrap();
    a.commit().unwrap();
    assert!(matches!(
        b.get_for_update(KS, b"k"),
        Err(Error::SerializationFailure(_))
    ));
    b.rollback();
    // Had a rolled back instead, b would have gone on with its snapshot's row.
    let mut c = db.begin(Isolation::RepeatableRead).unwrap();
    let mut d = db.begin(Isolation::RepeatableRead).unwrap();
    assert_eq!(c.get_for_update(KS, b"k").unwrap(), Some(b"1".to_vec()));
    assert!(matches!(d.get_for_update(KS, b"k"), Err(Error::LockBusy)));
    c.rollback();
    assert_eq!(d.get_for_update(KS, b"k").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn fast_path_writes_conflict_with_open_transactions_and_are_seen_by_later_ones() {
    let db = open(&SimFs::new());
    let mut t = db.begin(Isolation::RepeatableRead).unwrap();
    assert_eq!(t.get(KS, b"k").unwrap(), None);
    db.put(KS, b"k", b"fast").unwrap();
    t.put(KS, b"k", b"txn").unwrap();
    assert!(matches!(t.commit(), Err(Error::SerializationFailure(_))));
    // No transaction open: the fast path is not recorded, yet a later transaction sees it.
    assert_eq!(db.tracked_commits(), 0);
    db.put(KS, b"k", b"fast2").unwrap();
    let mut t = db.begin(Isolation::RepeatableRead).unwrap();
    assert_eq!(t.get(KS, b"k").unwrap(), Some(b"fast2".to_vec()));
    t.put(KS, b"k", b"txn").unwrap();
    t.commit().unwrap();
    assert_eq!(
        db.tracked_commits(),
        0,
        "nothing kept once no transaction is open"
    );
}

#[test]
fn range_deletes_conflict_with_writes_inside_them() {
    let db = open(&SimFs::new());
    let mut t = db.begin(Isolation::RepeatableRead).unwrap();
    t.delete_range(KS, b"a", b"m").unwrap();
    db.put(KS, b"c", b"concurrent").unwrap();
    assert!(matches!(t.commit(), Err(Error::SerializationFailure(_))));
    let mut t = db.begin(Isolation::RepeatableRead).unwrap();
    t.delete_range(KS, b"a", b"m").unwrap();
    db.put(KS, b"x", b"outside").unwrap();
    t.commit().unwrap();
    assert_eq!(db.get(KS, b"c").unwrap(), None);
    assert_eq!(db.get(KS, b"x").unwrap(), Some(b"outside".to_vec()));
}

#[test]
fn a_finished_transaction_refuses_everything() {
    let db = open(&SimFs::new());
    let mut t = db.begin(Isolation::Serializable).unwrap();
    t.put(KS, b"a", b"1").unwrap();
    let p = t.commit_pending().unwrap().unwrap();
    assert!(p.wait().unwrap() > 0);
    assert!(matches!(t.get(KS, b"a"), Err(Error::Finished("committed"))));
    assert!(matches!(t.put(KS, b"a", b"2"), Err(Error::Finished(_))));
    assert_eq!(t.get(KS, b"a").unwrap_err().sqlstate(), "25000");
    assert_eq!(
        Isolation::from_sql("REPEATABLE  read"),
        Some(Isolation::RepeatableRead)
    );
    assert_eq!(
        Isolation::from_sql("read uncommitted"),
        Some(Isolation::ReadCommitted)
    );
    assert_eq!(Isolation::from_sql("snapshot"), None);
}

/// A transaction whose writes are several times the largest WAL record (a bulk load) commits
/// as one, survives a crash whole, and conflicts like any other; a size limit of the engine is
/// SQLSTATE 54000, not an I/O error.
#[test]
fn a_transaction_larger_than_a_wal_record_commits_whole() {
    let fs = SimFs::new();
    let db = open(&fs);
    let mut t = db.begin(Isolation::RepeatableRead).unwrap();
    for k in 0..2000 {
        t.put(KS, &key(k), &[k as u8; 200]).unwrap();
    }
    let other = {
        let mut o = db.begin(Isolation::RepeatableRead).unwrap();
        o.get(KS, &key(7)).unwrap();
        o
    };
    let records = db.db().stats().wal.records;
    t.commit().unwrap();
    assert!(
        db.db().stats().wal.records - records >= 6,
        "400 KB in 64 KiB segments is several records"
    );
    let mut other = other;
    other.put(KS, &key(7), b"late").unwrap();
    assert_eq!(other.commit().unwrap_err().sqlstate(), "40001");
    let crashed = fs.crash(orbit_env::CrashMode::DropUnsynced);
    drop(db);
    let db = open(&crashed);
    for k in 0..2000 {
        assert_eq!(db.get(KS, &key(k)).unwrap(), Some(vec![k as u8; 200]));
    }
    let limit = |e: orbit_lsm::Error| Error::Lsm(e).sqlstate();
    assert_eq!(
        limit(orbit_lsm::Error::BatchTooLarge { ops: 1, bytes: 1 }),
        "54000"
    );
    assert_eq!(
        limit(orbit_lsm::Error::ValueTooLarge { len: 2, max: 1 }),
        "54000"
    );
    let wal = orbit_wal::Error::RecordTooLarge { len: 2, max: 1 };
    assert_eq!(limit(orbit_lsm::Error::Wal(wal)), "54000");
    let poisoned = orbit_lsm::Error::Poisoned {
        cause: "eio".into(),
    };
    assert_eq!(limit(poisoned), "58030");
}

#[test]
fn a_read_committed_statement_reads_one_snapshot_and_its_write_reads_the_latest() {
    let db = open(&SimFs::new());
    db.put(KS, b"a", b"0").unwrap();
    db.put(KS, b"b", b"0").unwrap();
    let mut t = db.begin(Isolation::ReadCommitted).unwrap();
    // Before any statement, every read takes a fresh snapshot.
    db.put(KS, b"a", b"1").unwrap();
    assert_eq!(t.get(KS, b"a").unwrap(), Some(b"1".to_vec()));
    t.begin_statement();
    let at_start = t.read_seq();
    db.put(KS, b"a", b"2").unwrap();
    db.put(KS, b"c", b"new").unwrap();
    // The statement's reads, point or scan, see what was committed when it began.
    assert_eq!(t.get(KS, b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(t.read_seq(), at_start);
    let all = (Bound::Unbounded, Bound::Unbounded);
    let seen: Vec<(Vec<u8>, Vec<u8>)> = t
        .scan(KS, all.clone(), Direction::Forward)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        seen,
        vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"0".to_vec())
        ]
    );
    // A write's reads see the latest commit.
    assert_eq!(t.get_latest(KS, b"c").unwrap(), Some(b"new".to_vec()));
    assert_eq!(t.get_for_update(KS, b"a").unwrap(), Some(b"2".to_vec()));
    // A write's search for its rows reads the latest commit while it asks to.
    assert!(!t.set_read_latest(true));
    assert_eq!(t.get(KS, b"a").unwrap(), Some(b"2".to_vec()));
    assert_eq!(
        keys_of(t.scan(KS, all.clone(), Direction::Forward).unwrap()).len(),
        3
    );
    assert!(t.set_read_latest(false));
    assert_eq!(t.get(KS, b"a").unwrap(), Some(b"1".to_vec()));
    // Its own writes show through the snapshot.
    t.put(KS, b"b", b"mine").unwrap();
    assert_eq!(t.get(KS, b"b").unwrap(), Some(b"mine".to_vec()));
    // The next statement sees everything committed before it.
    t.begin_statement();
    assert!(t.read_seq() > at_start);
    assert_eq!(t.get(KS, b"c").unwrap(), Some(b"new".to_vec()));
    assert_eq!(
        keys_of(t.scan(KS, all, Direction::Forward).unwrap()).len(),
        3
    );
    t.commit().unwrap();
}

#[test]
fn begin_statement_changes_nothing_under_a_transaction_snapshot() {
    let db = open(&SimFs::new());
    db.put(KS, b"a", b"0").unwrap();
    for isolation in [Isolation::RepeatableRead, Isolation::Serializable] {
        let mut t = db.begin(isolation).unwrap();
        db.put(KS, b"a", b"later").unwrap();
        t.begin_statement();
        assert_eq!(t.get(KS, b"a").unwrap(), Some(b"0".to_vec()));
        assert_eq!(t.get_latest(KS, b"a").unwrap(), Some(b"0".to_vec()));
        t.rollback();
        db.put(KS, b"a", b"0").unwrap();
    }
}

#[test]
fn a_horizon_waits_for_the_transactions_begun_before_it_only() {
    let fs = SimFs::new();
    let db = open(&fs);
    let first = db.begin(Isolation::ReadCommitted).expect("begin");
    let second = db.begin(Isolation::Serializable).expect("begin");
    let h = db.horizon();
    let later = db.begin(Isolation::RepeatableRead).expect("begin");
    assert!(!db.ended_before(h));
    drop(second);
    assert!(!db.ended_before(h));
    let mut first = first;
    first.put(KS, &key(1), &val(1)).expect("put");
    first.commit().expect("commit");
    // The one begun after the horizon does not hold it back.
    assert!(db.ended_before(h));
    assert!(!db.ended_before(db.horizon()));
    drop(later);
    assert!(db.ended_before(db.horizon()));
}

#[test]
fn read_views_change_with_every_write_and_each_statement_snapshot() {
    let db = open(&SimFs::new());
    db.put(KS, &key(1), &val(1)).unwrap();
    let mut t = db.begin(Isolation::ReadCommitted).unwrap();
    t.begin_statement();
    let first = t.read_view().unwrap();
    assert_eq!(t.read_view(), Some(first), "nothing changed");
    // A commit by another transaction is not seen until the next statement.
    db.put(KS, &key(2), &val(2)).unwrap();
    assert_eq!(t.read_view(), Some(first));
    t.begin_statement();
    let second = t.read_view().unwrap();
    assert_ne!(second, first, "a new statement snapshot");
    let mut seen = vec![second];
    t.savepoint("s").unwrap();
    t.put(KS, &key(3), b"x").unwrap();
    seen.push(t.read_view().unwrap());
    t.delete(KS, &key(1)).unwrap();
    seen.push(t.read_view().unwrap());
    t.delete_range(KS, &key(0), &key(9)).unwrap();
    seen.push(t.read_view().unwrap());
    t.put_sorted(KS, vec![(key(4), val(4))]).unwrap();
    seen.push(t.read_view().unwrap());
    t.rollback_to("s").unwrap();
    seen.push(t.read_view().unwrap());
    for (i, a) in seen.iter().enumerate() {
        for b in &seen[i + 1..] {
            assert_ne!(a, b, "every change to the write buffer is a new view");
        }
    }
    // Reads of the latest commit have no view to keep.
    t.set_read_latest(true);
    assert_eq!(t.read_view(), None);
    t.set_read_latest(false);
    assert!(t.read_view().is_some());
}

#[test]
fn a_moved_scan_merges_own_writes_made_since_and_keeps_to_its_snapshot() {
    let db = open(&SimFs::new());
    for k in 0..10 {
        db.put(KS, &key(k), &val(i64::from(k))).unwrap();
    }
    let pairs = |it: &mut crate::TxnIter| -> Vec<(Vec<u8>, Vec<u8>)> {
        it.by_ref().map(|r| r.unwrap()).collect()
    };
    let lookup = |a: u32, b: u32| (Bound::Included(key(a)), Bound::Excluded(key(b)));
    let all = (Bound::Unbounded, Bound::Unbounded);
    let mut t = db.begin(Isolation::ReadCommitted).unwrap();
    t.begin_statement();
    let mut it = t.scan_scoped(KS, all.clone(), lookup(2, 4)).unwrap();
    assert_eq!(pairs(&mut it), vec![(key(2), val(2)), (key(3), val(3))]);
    // Its own writes since, merged; another's commit since, not seen by the statement.
    t.put(KS, &key(5), b"mine").unwrap();
    t.delete(KS, &key(6)).unwrap();
    t.delete_range(KS, &key(7), &key(8)).unwrap();
    db.delete(KS, &key(4)).unwrap();
    assert!(t.rescan(&mut it, KS, &lookup(4, 10)).unwrap());
    assert_eq!(
        pairs(&mut it),
        vec![
            (key(4), val(4)),
            (key(5), b"mine".to_vec()),
            (key(8), val(8)),
            (key(9), val(9))
        ]
    );
    // Backwards in the keys too, and moved when only partly read (a pair looked at ahead
    // and own writes not yet reached are left behind).
    assert!(t.rescan(&mut it, KS, &lookup(0, 2)).unwrap());
    assert_eq!(pairs(&mut it), vec![(key(0), val(0)), (key(1), val(1))]);
    assert!(t.rescan(&mut it, KS, &lookup(4, 10)).unwrap());
    assert_eq!(it.next().unwrap().unwrap(), (key(4), val(4)));
    t.put(KS, &key(8), b"later").unwrap();
    assert!(t.rescan(&mut it, KS, &lookup(8, 9)).unwrap());
    assert_eq!(pairs(&mut it), vec![(key(8), b"later".to_vec())]);
    // The next statement reads a newer snapshot: the iterator is refused.
    t.begin_statement();
    assert!(!t.rescan(&mut it, KS, &lookup(4, 5)).unwrap());
    let mut fresh = t.scan_scoped(KS, all.clone(), lookup(4, 6)).unwrap();
    assert_eq!(pairs(&mut fresh), vec![(key(5), b"mine".to_vec())]);
    // Outside its scope, in another keyspace, or made by `scan`: refused.
    let mut narrow = t.scan_scoped(KS, lookup(0, 5), lookup(1, 2)).unwrap();
    assert!(!t.rescan(&mut narrow, KS, &lookup(4, 6)).unwrap());
    assert!(!t.rescan(&mut narrow, KS + 1, &lookup(1, 2)).unwrap());
    let mut plain = t.scan(KS, all.clone(), Direction::Forward).unwrap();
    assert!(!t.rescan(&mut plain, KS, &all).unwrap());
    assert!(t.scan_scoped(KS, lookup(0, 5), lookup(4, 6)).is_err());
    t.commit().unwrap();
}
