//! Range deletes, checkpoints and dropped keyspaces.
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use orbit_env::{CrashMode, SimFs};

use super::{open, opts, DIR};
use crate::db::*;
use crate::Error;

#[test]
fn a_range_delete_hides_older_versions_everywhere_but_not_from_older_snapshots() {
    let fs = SimFs::new();
    let db = open(&fs, 1 << 20);
    for i in 0..100u32 {
        db.put(DEFAULT_KEYSPACE, format!("k{i:03}").as_bytes(), b"old")
            .unwrap();
    }
    db.flush().unwrap();
    let before = db.snapshot();
    db.put(DEFAULT_KEYSPACE, b"k050", b"in-memtable").unwrap();
    db.delete_range(DEFAULT_KEYSPACE, b"k020", b"k060").unwrap();
    db.put(DEFAULT_KEYSPACE, b"k030", b"after").unwrap();
    let live = |db: &Db| -> Vec<Vec<u8>> {
        db.iter(
            DEFAULT_KEYSPACE,
            (Bound::Unbounded, Bound::Unbounded),
            Direction::Forward,
            &db.snapshot(),
        )
        .unwrap()
        .map(|r| r.unwrap().0)
        .collect()
    };
    let check = |db: &Db| {
        assert_eq!(
            db.get(DEFAULT_KEYSPACE, b"k019").unwrap(),
            Some(b"old".to_vec())
        );
        assert_eq!(db.get(DEFAULT_KEYSPACE, b"k020").unwrap(), None);
        assert_eq!(db.get(DEFAULT_KEYSPACE, b"k050").unwrap(), None);
        assert_eq!(
            db.get(DEFAULT_KEYSPACE, b"k030").unwrap(),
            Some(b"after".to_vec())
        );
        assert_eq!(
            db.get(DEFAULT_KEYSPACE, b"k060").unwrap(),
            Some(b"old".to_vec())
        );
        assert_eq!(live(db).len(), 100 - 40 + 1);
    };
    check(&db);
    assert_eq!(
        db.get_at(DEFAULT_KEYSPACE, b"k050", &before).unwrap(),
        Some(b"old".to_vec())
    );
    db.flush().unwrap();
    check(&db);
    drop(before);
    drop(db);
    let db = open(&fs, 1 << 20);
    check(&db);
}

/// One batch whose ops alternate between two keyspaces, with runs of each and a range delete
/// inside a run: each op lands in its own keyspace at its own sequence number (the memtable
/// takes a run at a time), in memory and after a crash and recovery.
#[test]
fn a_batch_across_keyspaces_lands_op_by_op() {
    let fs = SimFs::new();
    let db = open(&fs, 1 << 20);
    let other = db.create_keyspace("other").unwrap();
    let mut b = WriteBatch::new();
    b.put(DEFAULT_KEYSPACE, b"a", b"d1");
    b.put(other, b"a", b"o1");
    b.put(other, b"b", b"o2");
    b.put(other, b"c", b"o3");
    b.delete_range(other, b"b", b"c");
    b.put(other, b"b", b"o4");
    b.put(DEFAULT_KEYSPACE, b"a", b"d2");
    b.put(DEFAULT_KEYSPACE, b"b", b"d3");
    b.put(other, b"d", b"o5");
    let before = db.snapshot();
    db.write(&b).unwrap();
    let check = |db: &Db| {
        let get = |ks, k: &[u8]| db.get(ks, k).unwrap();
        assert_eq!(get(DEFAULT_KEYSPACE, b"a"), Some(b"d2".to_vec()));
        assert_eq!(get(DEFAULT_KEYSPACE, b"b"), Some(b"d3".to_vec()));
        assert_eq!(get(other, b"a"), Some(b"o1".to_vec()));
        // Written before the range delete, then again after it.
        assert_eq!(get(other, b"b"), Some(b"o4".to_vec()));
        assert_eq!(get(other, b"c"), Some(b"o3".to_vec()));
        assert_eq!(get(other, b"d"), Some(b"o5".to_vec()));
    };
    check(&db);
    // The ops' sequence numbers follow the batch: the default keyspace's first put is the
    // batch's first number, its second the seventh.
    let first = before.seq() + 1;
    let at = |ks, k: &[u8], seq: u64| db.get_at_seq(ks, k, Some(seq)).unwrap();
    assert_eq!(at(DEFAULT_KEYSPACE, b"a", first), Some(b"d1".to_vec()));
    assert_eq!(at(DEFAULT_KEYSPACE, b"a", first + 6), Some(b"d2".to_vec()));
    assert_eq!(at(other, b"b", first + 2), Some(b"o2".to_vec()));
    // The range delete (the fifth op) hides "b" from there until the sixth rewrites it.
    assert_eq!(at(other, b"b", first + 4), None);
    assert_eq!(at(other, b"b", first + 5), Some(b"o4".to_vec()));
    assert_eq!(at(other, b"d", first + 7), None);
    assert_eq!(at(other, b"d", first + 8), Some(b"o5".to_vec()));
    drop(before);
    let crashed = fs.crash(CrashMode::DropUnsynced);
    drop(db);
    let db = open(&crashed, 1 << 20);
    check(&db);
}

/// An unlogged write is read and published like any other, lost by a crash before a flush,
/// kept after one, and numbered below every write that follows recovery.
#[test]
fn unlogged_writes_survive_a_crash_only_once_flushed() {
    let fs = SimFs::new();
    let db = open(&fs, 1 << 20);
    let unlogged = |db: &Db, k: &[u8], v: &[u8]| {
        let mut b = WriteBatch::new();
        b.put(DEFAULT_KEYSPACE, k, v);
        db.write_unlogged(&b).unwrap().wait().unwrap()
    };
    db.put(DEFAULT_KEYSPACE, b"a", b"logged").unwrap();
    let seq = unlogged(&db, b"b", b"unlogged");
    db.put(DEFAULT_KEYSPACE, b"c", b"logged").unwrap();
    assert_eq!(db.visible_seq(), seq + 1);
    assert_eq!(
        db.get(DEFAULT_KEYSPACE, b"b").unwrap(),
        Some(b"unlogged".to_vec())
    );
    let crashed = fs.crash(CrashMode::DropUnsynced);
    drop(db);
    let db = open(&crashed, 1 << 20);
    assert_eq!(
        db.get(DEFAULT_KEYSPACE, b"a").unwrap(),
        Some(b"logged".to_vec())
    );
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"b").unwrap(), None);
    assert_eq!(
        db.get(DEFAULT_KEYSPACE, b"c").unwrap(),
        Some(b"logged".to_vec())
    );
    // Flushed, it stays; a write after recovery is numbered above it.
    unlogged(&db, b"k", b"old");
    db.flush().unwrap();
    unlogged(&db, b"lost", b"x");
    let crashed = crashed.crash(CrashMode::DropUnsynced);
    drop(db);
    let db = open(&crashed, 1 << 20);
    assert_eq!(
        db.get(DEFAULT_KEYSPACE, b"k").unwrap(),
        Some(b"old".to_vec())
    );
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"lost").unwrap(), None);
    db.put(DEFAULT_KEYSPACE, b"k", b"new").unwrap();
    assert_eq!(
        db.get(DEFAULT_KEYSPACE, b"k").unwrap(),
        Some(b"new".to_vec())
    );
    drop(db);
    let db = open(&crashed, 1 << 20);
    assert_eq!(
        db.get(DEFAULT_KEYSPACE, b"k").unwrap(),
        Some(b"new".to_vec())
    );
}

#[test]
fn a_checkpoint_taken_during_writes_opens_to_a_consistent_prefix() {
    let fs = SimFs::new();
    let db = Arc::new(open(&fs, 2 << 10));
    let users = db.create_keyspace("users").unwrap();
    for i in 0..300u32 {
        let mut b = WriteBatch::new();
        b.put(DEFAULT_KEYSPACE, format!("d{i:04}").as_bytes(), b"1")
            .put(users, format!("u{i:04}").as_bytes(), b"2");
        db.write(&b).unwrap();
    }
    let writer = {
        let db = Arc::clone(&db);
        std::thread::spawn(move || {
            for i in 300..900u32 {
                let mut b = WriteBatch::new();
                b.put(DEFAULT_KEYSPACE, format!("d{i:04}").as_bytes(), b"1")
                    .put(users, format!("u{i:04}").as_bytes(), b"2");
                db.write(&b).unwrap();
            }
        })
    };
    let info = db.checkpoint("/backup").unwrap();
    writer.join().unwrap();
    assert!(info.tables >= 2, "{info:?}");
    assert_eq!(info.copied, 0, "the simulated disk links");
    assert!(matches!(
        db.checkpoint("/backup"),
        Err(Error::CheckpointExists(_))
    ));
    // The source goes on and can be compacted; the checkpoint's links keep their tables.
    db.flush().unwrap();
    drop(db);
    let copy = Db::open(fs.shared(), "/backup", opts(2 << 10)).unwrap();
    assert_eq!(copy.keyspace("users"), Some(users));
    let mut present = 0;
    for i in 0..900u32 {
        let d = copy
            .get(DEFAULT_KEYSPACE, format!("d{i:04}").as_bytes())
            .unwrap();
        let u = copy.get(users, format!("u{i:04}").as_bytes()).unwrap();
        assert_eq!(d.is_some(), u.is_some(), "batch {i} is half there");
        if i < 300 {
            assert!(
                d.is_some(),
                "write {i} acknowledged before the checkpoint is missing"
            );
        }
        // A prefix: nothing after a missing batch.
        if d.is_some() {
            assert_eq!(present, i, "batch {i} present after a missing one");
            present += 1;
        }
    }
    // The copy is a database of its own.
    copy.put(DEFAULT_KEYSPACE, b"new", b"x").unwrap();
    drop(copy);
    let db = open(&fs, 2 << 10);
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"new").unwrap(), None);
    assert!(db.get(DEFAULT_KEYSPACE, b"d0899").unwrap().is_some());
}

#[test]
fn a_dropped_keyspace_is_gone_with_its_files_and_its_id_is_not_reused() {
    let fs = SimFs::new();
    let db = open(&fs, 2 << 10);
    let a = db.create_keyspace("a").unwrap();
    let b = db.create_keyspace("b").unwrap();
    for i in 0..200u32 {
        db.put(b, format!("k{i}").as_bytes(), &[7; 50]).unwrap();
        db.put(a, format!("k{i}").as_bytes(), b"a").unwrap();
    }
    db.flush().unwrap();
    let tables_before = db.stats().tables;
    db.put(b, b"unflushed", b"x").unwrap();
    db.drop_keyspace(b).unwrap();
    assert!(matches!(
        db.drop_keyspace(b),
        Err(Error::UnknownKeyspace(_))
    ));
    assert!(matches!(
        db.drop_keyspace(DEFAULT_KEYSPACE),
        Err(Error::DefaultKeyspace)
    ));
    assert!(matches!(db.get(b, b"k1"), Err(Error::UnknownKeyspace(_))));
    assert!(db.stats().tables < tables_before);
    let ssts = |fs: &SimFs| {
        fs.list_dir(Path::new(DIR))
            .unwrap()
            .into_iter()
            .filter(|n| n.ends_with(".sst"))
            .count()
    };
    db.wait_for_compactions().unwrap();
    assert_eq!(
        ssts(&fs),
        db.stats().tables,
        "the dropped tables were deleted"
    );
    drop(db);
    let crashed = fs.crash(CrashMode::DropUnsynced);
    let db = open(&crashed, 2 << 10);
    assert_eq!(db.keyspace("b"), None);
    assert_eq!(db.get(a, b"k5").unwrap(), Some(b"a".to_vec()));
    let c = db.create_keyspace("b").unwrap();
    assert!(c > b, "id {c} reused");
    // The dropped keyspace's WAL records do not reappear in the new one.
    assert_eq!(db.get(c, b"unflushed").unwrap(), None);
    drop(db);
    let db = open(&crashed, 2 << 10);
    assert_eq!(db.get(c, b"unflushed").unwrap(), None);
    assert_eq!(db.keyspace("b"), Some(c));
}

#[test]
fn a_flush_leaves_out_versions_its_own_range_delete_hides_unless_a_snapshot_sees_them() {
    let fs = SimFs::new();
    let db = open(&fs, 1 << 20);
    let table_bytes = |db: &Db| db.stats().flush_bytes;
    // Incompressible values: what reaches a table shows in its size.
    let value: Vec<u8> = (0..1000u32)
        .map(|j| (j.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for i in 0..200u32 {
        db.put(DEFAULT_KEYSPACE, format!("a{i:03}").as_bytes(), &value)
            .unwrap();
    }
    db.delete_range(DEFAULT_KEYSPACE, b"a", b"b").unwrap();
    db.put(DEFAULT_KEYSPACE, b"kept", b"1").unwrap();
    db.flush().unwrap();
    // 200 KB written and hidden in the same memtable: none of it reached the table.
    assert!(table_bytes(&db) < 20_000, "{}", table_bytes(&db));
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"a007").unwrap(), None);
    // With a snapshot from before the delete, the versions it sees are kept.
    for i in 0..200u32 {
        db.put(DEFAULT_KEYSPACE, format!("c{i:03}").as_bytes(), &value)
            .unwrap();
    }
    let before = db.snapshot();
    db.delete_range(DEFAULT_KEYSPACE, b"c", b"d").unwrap();
    db.flush().unwrap();
    assert_eq!(
        db.get_at(DEFAULT_KEYSPACE, b"c007", &before).unwrap(),
        Some(value.clone())
    );
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"c007").unwrap(), None);
    assert!(table_bytes(&db) > 100_000, "{}", table_bytes(&db));
}

#[test]
fn a_flush_keeps_one_version_of_an_overwritten_key_unless_a_snapshot_needs_more() {
    let fs = SimFs::new();
    let db = open(&fs, 4 << 20);
    let value = |i: u32| -> Vec<u8> {
        (0..1000u32)
            .map(|j| ((i * 7919 + j).wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect()
    };
    for i in 0..300u32 {
        db.put(DEFAULT_KEYSPACE, b"hot", &value(i)).unwrap();
    }
    db.flush().unwrap();
    // 300 KB of versions in the memtable, one reached the table.
    let flushed = db.stats().flush_bytes;
    assert!(flushed < 10_000, "{flushed}");
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"hot").unwrap(), Some(value(299)));
    db.put(DEFAULT_KEYSPACE, b"hot", &value(1000)).unwrap();
    let snap = db.snapshot();
    db.put(DEFAULT_KEYSPACE, b"hot", &value(1001)).unwrap();
    db.delete(DEFAULT_KEYSPACE, b"hot").unwrap();
    db.flush().unwrap();
    assert_eq!(
        db.get_at(DEFAULT_KEYSPACE, b"hot", &snap).unwrap(),
        Some(value(1000))
    );
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"hot").unwrap(), None);
    drop(snap);
    drop(db);
    let db = open(&fs, 4 << 20);
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"hot").unwrap(), None);
}

#[test]
fn a_directory_is_opened_by_one_database_at_a_time() {
    let fs = SimFs::new();
    let db = open(&fs, 1 << 20);
    match Db::open(fs.shared(), DIR, opts(1 << 20)) {
        Err(Error::InUse(dir)) => assert_eq!(dir, Path::new(DIR)),
        other => panic!("a second open must fail: {:?}", other.map(|_| ())),
    }
    db.close().unwrap();
    // Closed, or crashed (a new process finds no holder): it opens again.
    let again = open(&fs, 1 << 20);
    let after_crash = fs.crash(CrashMode::DropUnsynced);
    let _reopened = open(&after_crash, 1 << 20);
    drop(again);
}

/// `may_hold` sees entries in the memtable, in immutable memtables and in tables (by their
/// key ranges), deletions too, and says no for a range nothing was ever written to.
#[test]
fn may_hold_finds_entries_wherever_they_are() {
    let fs = SimFs::new();
    let db = open(&fs, 1 << 20);
    let holds = |db: &Db, a: &[u8], b: &[u8]| db.may_hold(DEFAULT_KEYSPACE, a, b).unwrap();
    assert!(!holds(&db, b"", b"\xff"));
    db.put(DEFAULT_KEYSPACE, b"b1", b"v").unwrap();
    assert!(holds(&db, b"b", b"c"));
    assert!(holds(&db, b"b1", b"b2"));
    // End exclusive, start inclusive.
    assert!(!holds(&db, b"a", b"b1"));
    assert!(!holds(&db, b"b10", b"c"));
    db.flush().unwrap();
    db.delete(DEFAULT_KEYSPACE, b"d5").unwrap();
    assert!(holds(&db, b"b", b"c"), "a table's range");
    assert!(holds(&db, b"d", b"e"), "a deletion in the memtable");
    assert!(!holds(&db, b"c", b"d"));
    db.put(DEFAULT_KEYSPACE, b"f1", b"v").unwrap();
    db.put(DEFAULT_KEYSPACE, b"f9", b"v").unwrap();
    db.flush().unwrap();
    // Between the table's keys: it may hold one (no block is read to know).
    assert!(holds(&db, b"f5", b"f6"));
    assert!(!holds(&db, b"g", b"h"));
    drop(db);
    let db = open(&fs, 1 << 20);
    assert!(holds(&db, b"d", b"e"));
    assert!(!holds(&db, b"c", b"d"));
    assert!(matches!(
        db.may_hold(999, b"a", b"b"),
        Err(Error::UnknownKeyspace(999))
    ));
}
