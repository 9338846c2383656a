//! The database against a `BTreeMap` model: writes, deletes, flushes, reopenings and crashes
//! of the simulated disk, at snapshots; atomicity of batches across keyspaces.

use std::collections::BTreeMap;
use std::sync::Arc;

use orbit_env::{CrashMode, ManualClock, SimFs};
use orbit_wal::{SyncMode, WalOptions, MIN_SEGMENT_SIZE};
use proptest::prelude::*;

use super::*;
use crate::sst::TableOptions;
use std::ops::Bound;

const DIR: &str = "/db";

fn opts(memtable_bytes: usize) -> DbOptions {
    DbOptions {
        memtable_bytes,
        max_immutable: 2,
        table: TableOptions {
            block_size: 256,
            ..TableOptions::default()
        },
        cache_bytes: 1 << 20,
        // Small levels and outputs, so the model tests reach deep levels and split outputs.
        l0_compaction_trigger: 2,
        level1_bytes: 128,
        level_ratio: 2,
        target_file_bytes: 256,
        wal: WalOptions {
            sync_mode: SyncMode::Sync,
            segment_size: MIN_SEGMENT_SIZE * 4,
            clock: Arc::new(ManualClock::new(0)),
            ..WalOptions::default()
        },
        ..DbOptions::default()
    }
}

fn open(fs: &SimFs, memtable_bytes: usize) -> Db {
    Db::open(fs.shared(), DIR, opts(memtable_bytes)).unwrap()
}

#[test]
fn writes_survive_flushes_reopen_and_crash() {
    let fs = SimFs::new();
    let db = open(&fs, 4 << 10);
    for i in 0..500u32 {
        db.put(
            DEFAULT_KEYSPACE,
            format!("k{i:04}").as_bytes(),
            &i.to_le_bytes(),
        )
        .unwrap();
    }
    for i in (0..500u32).step_by(3) {
        db.delete(DEFAULT_KEYSPACE, format!("k{i:04}").as_bytes())
            .unwrap();
    }
    db.flush().unwrap();
    assert!(db.stats().tables >= 2, "{:?}", db.stats().tables);
    let check = |db: &Db| {
        for i in 0..500u32 {
            let got = db
                .get(DEFAULT_KEYSPACE, format!("k{i:04}").as_bytes())
                .unwrap();
            let want = (i % 3 != 0).then(|| i.to_le_bytes().to_vec());
            assert_eq!(got, want, "key {i}");
        }
    };
    check(&db);
    db.put(DEFAULT_KEYSPACE, b"after-flush", b"x").unwrap();
    let crashed = fs.crash(CrashMode::DropUnsynced);
    drop(db);
    let db = open(&crashed, 4 << 10);
    check(&db);
    assert_eq!(
        db.get(DEFAULT_KEYSPACE, b"after-flush").unwrap(),
        Some(b"x".to_vec())
    );
}

#[test]
fn snapshots_read_the_past() {
    let fs = SimFs::new();
    let db = open(&fs, 1 << 20);
    db.put(DEFAULT_KEYSPACE, b"a", b"1").unwrap();
    let s1 = db.snapshot();
    db.put(DEFAULT_KEYSPACE, b"a", b"2").unwrap();
    db.flush().unwrap();
    db.delete(DEFAULT_KEYSPACE, b"a").unwrap();
    assert_eq!(
        db.get_at(DEFAULT_KEYSPACE, b"a", &s1).unwrap(),
        Some(b"1".to_vec())
    );
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"a").unwrap(), None);
}

#[test]
fn a_batch_across_keyspaces_is_all_or_nothing_after_a_crash() {
    let fs = SimFs::new();
    let db = open(&fs, 2 << 10);
    let users = db.create_keyspace("users").unwrap();
    assert!(matches!(
        db.create_keyspace("users"),
        Err(Error::KeyspaceExists(_))
    ));
    assert!(matches!(
        db.put(99, b"k", b"v"),
        Err(Error::UnknownKeyspace(99))
    ));
    for i in 0..200u32 {
        let mut b = WriteBatch::new();
        b.put(DEFAULT_KEYSPACE, format!("d{i}").as_bytes(), b"1")
            .put(users, format!("u{i}").as_bytes(), b"2");
        db.write(&b).unwrap();
    }
    // Crash with writes in flight on other threads: whatever survives, both halves of each
    // batch survive together.
    let db = Arc::new(db);
    let writer = {
        let db = Arc::clone(&db);
        std::thread::spawn(move || {
            for i in 200..400u32 {
                let mut b = WriteBatch::new();
                b.put(DEFAULT_KEYSPACE, format!("d{i}").as_bytes(), b"1")
                    .put(users, format!("u{i}").as_bytes(), b"2");
                if db.write(&b).is_err() {
                    break;
                }
            }
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(5));
    let crashed = fs.crash(CrashMode::Torn { seed: 7 });
    writer.join().unwrap();
    drop(db);
    let db = open(&crashed, 2 << 10);
    assert_eq!(db.keyspace("users"), Some(users));
    for i in 0..400u32 {
        let d = db
            .get(DEFAULT_KEYSPACE, format!("d{i}").as_bytes())
            .unwrap();
        let u = db.get(users, format!("u{i}").as_bytes()).unwrap();
        assert_eq!(d.is_some(), u.is_some(), "batch {i} is half-visible");
        if i < 200 {
            assert!(d.is_some(), "acknowledged batch {i} lost");
        }
    }
}

#[test]
fn a_failed_wal_sync_poisons_writes_but_reads_go_on() {
    let fs = SimFs::new();
    let db = open(&fs, 1 << 20);
    db.put(DEFAULT_KEYSPACE, b"a", b"1").unwrap();
    // Aim at the WAL's segments: flush, compaction and the segment manager sync other files.
    fs.inject_on(
        orbit_env::FaultOp::Sync,
        1,
        orbit_env::FaultKind::Eio,
        false,
        Some("/db/wal/0"),
    );
    assert!(db.put(DEFAULT_KEYSPACE, b"b", b"2").is_err());
    assert!(matches!(
        db.put(DEFAULT_KEYSPACE, b"c", b"3"),
        Err(Error::Poisoned { .. })
    ));
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(
        db.get(DEFAULT_KEYSPACE, b"b").unwrap(),
        None,
        "an unacknowledged write is invisible"
    );
    let crashed = fs.crash(CrashMode::DropUnsynced);
    drop(db);
    let db = open(&crashed, 1 << 20);
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"a").unwrap(), Some(b"1".to_vec()));
    db.put(DEFAULT_KEYSPACE, b"c", b"3").unwrap();
}

#[derive(Debug, Clone)]
enum Step {
    Put(u8, u8),
    Delete(u8),
    DeleteRange(u8, u8),
    Flush,
    Reopen,
    Crash(bool, u64),
    Snapshot,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0u8..40, any::<u8>()).prop_map(|(k, v)| Step::Put(k, v)),
        3 => (0u8..40).prop_map(Step::Delete),
        1 => (0u8..40, 0u8..12).prop_map(|(k, n)| Step::DeleteRange(k, k.saturating_add(n))),
        1 => Just(Step::Flush),
        1 => Just(Step::Reopen),
        1 => (any::<bool>(), any::<u64>()).prop_map(|(t, s)| Step::Crash(t, s)),
        1 => Just(Step::Snapshot),
    ]
}

/// Applies a step that keeps the database open, to it and to the model. Hands back the steps
/// that replace the database (reopen, crash) for the caller.
fn apply(
    db: &Db,
    model: &mut Model,
    snapshots: &mut Vec<(Snapshot, Model)>,
    step: Step,
) -> Option<Step> {
    match step {
        Step::Put(k, v) => {
            db.put(DEFAULT_KEYSPACE, &key(k), &[v]).unwrap();
            model.insert(key(k), vec![v]);
        }
        Step::Delete(k) => {
            db.delete(DEFAULT_KEYSPACE, &key(k)).unwrap();
            model.remove(&key(k));
        }
        Step::DeleteRange(a, b) => {
            db.delete_range(DEFAULT_KEYSPACE, &key(a), &key(b)).unwrap();
            model.retain(|k, _| !(key(a) <= *k && *k < key(b)));
        }
        Step::Flush => db.flush().unwrap(),
        Step::Snapshot => snapshots.push((db.snapshot(), model.clone())),
        other => return Some(other),
    }
    None
}

/// Key -> value, as the database should hold it.
type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn key(k: u8) -> Vec<u8> {
    format!("key-{k:03}").into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: orbit_env::testing::proptest_cases(48), ..ProptestConfig::default() })]

    /// Every acknowledged write (sync mode) survives flushes, reopenings and crashes, and
    /// snapshots keep reading the state they were taken at until the database is reopened.
    #[test]
    fn the_database_matches_a_model(steps in proptest::collection::vec(step(), 1..150)) {
        let mut fs = SimFs::new();
        let mut db = open(&fs, 1 << 10);
        let mut model: Model = BTreeMap::new();
        let mut snapshots: Vec<(Snapshot, Model)> = Vec::new();
        for s in steps {
            match apply(&db, &mut model, &mut snapshots, s) {
                None => {}
                Some(Step::Reopen) => {
                    drop(db);
                    db = open(&fs, 1 << 10);
                    snapshots.clear();
                }
                Some(Step::Crash(torn, seed)) => {
                    let mode = if torn { CrashMode::Torn { seed } } else { CrashMode::DropUnsynced };
                    let crashed = fs.crash(mode);
                    drop(db);
                    fs = crashed;
                    db = open(&fs, 1 << 10);
                    snapshots.clear();
                }
                Some(other) => unreachable!("apply applies {other:?} itself"),
            }
            for k in 0..40u8 {
                prop_assert_eq!(db.get(DEFAULT_KEYSPACE, &key(k)).unwrap(), model.get(&key(k)).cloned(), "key {}", k);
            }
            for (snap, m) in &snapshots {
                for k in (0..40u8).step_by(5) {
                    prop_assert_eq!(db.get_at(DEFAULT_KEYSPACE, &key(k), snap).unwrap(), m.get(&key(k)).cloned());
                }
            }
        }
    }
}

fn bound(kind: u8, k: u8) -> Bound<Vec<u8>> {
    match kind % 3 {
        0 => Bound::Included(key(k)),
        1 => Bound::Excluded(key(k)),
        _ => Bound::Unbounded,
    }
}

fn model_range(m: &Model, lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    // BTreeMap::range panics on an empty or inverted range; the database returns nothing.
    let inverted = match (lo, hi) {
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
            a > b
                || (a == b
                    && !(matches!(lo, Bound::Included(_)) && matches!(hi, Bound::Included(_))))
        }
        _ => false,
    };
    if inverted {
        return Vec::new();
    }
    m.range((lo.clone(), hi.clone()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: orbit_env::testing::proptest_cases(48), ..ProptestConfig::default() })]

    /// Bounded iteration both ways, now and at older snapshots, agrees with the model.
    #[test]
    fn iterators_match_the_model(
        steps in proptest::collection::vec(step(), 1..120),
        ranges in proptest::collection::vec((any::<u8>(), 0u8..40, any::<u8>(), 0u8..40), 1..6),
    ) {
        let fs = SimFs::new();
        let db = open(&fs, 1 << 10);
        let mut model: Model = BTreeMap::new();
        let mut snapshots: Vec<(Snapshot, Model)> = Vec::new();
        for s in steps {
            // Reopen and crash steps become flushes here: the iterator's snapshots must live.
            if apply(&db, &mut model, &mut snapshots, s).is_some() {
                db.flush().unwrap();
            }
        }
        snapshots.push((db.snapshot(), model.clone()));
        for (snap, m) in &snapshots {
            for (lk, lo, hk, hi) in &ranges {
                let (lo, hi) = (bound(*lk, *lo), bound(*hk, *hi));
                let want = model_range(m, &lo, &hi);
                let fwd: Vec<_> = db
                    .iter(DEFAULT_KEYSPACE, (lo.clone(), hi.clone()), Direction::Forward, snap)
                    .unwrap()
                    .map(|r| r.unwrap())
                    .collect();
                prop_assert_eq!(&fwd, &want, "forward {:?}..{:?}", lo, hi);
                let mut back: Vec<_> = db
                    .iter(DEFAULT_KEYSPACE, (lo.clone(), hi.clone()), Direction::Backward, snap)
                    .unwrap()
                    .map(|r| r.unwrap())
                    .collect();
                back.reverse();
                prop_assert_eq!(&back, &want, "backward {:?}..{:?}", lo, hi);
            }
        }
    }
}

#[test]
fn prefix_iteration_stops_at_the_prefix() {
    let fs = SimFs::new();
    let db = open(&fs, 1 << 20);
    for k in [&b"a"[..], b"ab", b"ab\xff", b"abc", b"ac", b"b"] {
        db.put(DEFAULT_KEYSPACE, k, k).unwrap();
    }
    db.flush().unwrap();
    db.put(DEFAULT_KEYSPACE, b"abd", b"abd").unwrap();
    let keys: Vec<Vec<u8>> = db
        .prefix(DEFAULT_KEYSPACE, b"ab", Direction::Forward)
        .unwrap()
        .map(|r| r.unwrap().0)
        .collect();
    // Bytewise order: 0xff sorts after every other byte.
    assert_eq!(
        keys,
        vec![
            b"ab".to_vec(),
            b"abc".to_vec(),
            b"abd".to_vec(),
            b"ab\xff".to_vec()
        ]
    );
    let back: Vec<Vec<u8>> = db
        .prefix(DEFAULT_KEYSPACE, b"ab", Direction::Backward)
        .unwrap()
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(
        back,
        vec![
            b"ab\xff".to_vec(),
            b"abd".to_vec(),
            b"abc".to_vec(),
            b"ab".to_vec()
        ]
    );
    assert_eq!(
        super::iter::prefix_successor(b"a\xff\xff"),
        Some(b"b".to_vec())
    );
    assert_eq!(super::iter::prefix_successor(b"\xff"), None);
}

/// Drops values that start with "expired".
#[derive(Debug)]
struct ExpireFilter;

impl CompactionFilter for ExpireFilter {
    fn filter(&self, _: KeyspaceId, _: &[u8], value: &[u8]) -> CompactionDecision {
        if value.starts_with(b"expired") {
            CompactionDecision::Remove
        } else {
            CompactionDecision::Keep
        }
    }
}

fn wait_for_compactions(db: &Db) {
    db.wait_for_compactions().unwrap();
}

#[test]
fn compaction_moves_data_down_reclaims_space_and_applies_the_filter() {
    let fs = SimFs::new();
    let mut o = opts(2 << 10);
    o.compaction_filter = Some(Arc::new(ExpireFilter));
    let db = Db::open(fs.shared(), DIR, o.clone()).unwrap();
    for round in 0..6u32 {
        for i in 0..300u32 {
            let value = if i % 10 == 0 {
                b"expired".to_vec()
            } else {
                format!("v{round}-{i}").into_bytes()
            };
            db.put(DEFAULT_KEYSPACE, format!("k{i:04}").as_bytes(), &value)
                .unwrap();
        }
        for i in (1..300u32).step_by(7) {
            db.delete(DEFAULT_KEYSPACE, format!("k{i:04}").as_bytes())
                .unwrap();
        }
        db.flush().unwrap();
    }
    wait_for_compactions(&db);
    let stats = db.stats();
    assert!(stats.compactions > 0, "{stats:?}");
    assert!(
        stats.tables_per_level.iter().skip(1).sum::<usize>() > 0,
        "nothing below L0: {stats:?}"
    );
    let check = |db: &Db| {
        for i in 0..300u32 {
            let got = db
                .get(DEFAULT_KEYSPACE, format!("k{i:04}").as_bytes())
                .unwrap();
            let want = if i % 7 == 1 || i % 10 == 0 {
                None
            } else {
                Some(format!("v5-{i}").into_bytes())
            };
            // Expired values may still be present until a compaction reaches them; anything
            // else must be exact.
            if i % 10 == 0 && i % 7 != 1 {
                assert!(
                    got.is_none() || got == Some(b"expired".to_vec()),
                    "key {i}: {got:?}"
                );
            } else {
                assert_eq!(got, want, "key {i}");
            }
        }
    };
    check(&db);
    // Obsolete tables are gone from the directory: only live tables remain.
    let ssts = fs
        .list_dir(std::path::Path::new(DIR))
        .unwrap()
        .iter()
        .filter(|n| n.ends_with(".sst"))
        .count();
    assert_eq!(ssts, db.stats().tables);
    // Six rounds of overwrites compacted down: far fewer live entries than were written.
    let w_amp =
        (stats.flush_bytes + stats.compaction_write_bytes) as f64 / stats.user_bytes.max(1) as f64;
    assert!(w_amp > 0.0);
    let crashed = fs.crash(CrashMode::DropUnsynced);
    drop(db);
    let db = Db::open(crashed.shared(), DIR, o).unwrap();
    check(&db);
}

#[test]
fn an_iterator_keeps_its_tables_through_a_compaction() {
    let fs = SimFs::new();
    let db = open(&fs, 1 << 10);
    for i in 0..200u32 {
        db.put(DEFAULT_KEYSPACE, format!("k{i:04}").as_bytes(), b"old")
            .unwrap();
    }
    db.flush().unwrap();
    let snap = db.snapshot();
    let it = db
        .iter(
            DEFAULT_KEYSPACE,
            (Bound::Unbounded, Bound::Unbounded),
            Direction::Forward,
            &snap,
        )
        .unwrap();
    for round in 0..4 {
        for i in 0..200u32 {
            db.put(
                DEFAULT_KEYSPACE,
                format!("k{i:04}").as_bytes(),
                format!("new{round}").as_bytes(),
            )
            .unwrap();
        }
        db.flush().unwrap();
    }
    wait_for_compactions(&db);
    let seen: Vec<_> = it.map(|r| r.unwrap()).collect();
    assert_eq!(seen.len(), 200);
    assert!(
        seen.iter().all(|(_, v)| v == b"old"),
        "the iterator must read its snapshot"
    );
    assert_eq!(
        db.get_at(DEFAULT_KEYSPACE, b"k0007", &snap).unwrap(),
        Some(b"old".to_vec())
    );
}

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
fn a_sequential_load_moves_tables_down_without_rewriting_them() {
    let fs = SimFs::new();
    let db = open(&fs, 2 << 10);
    for i in 0..2_000u32 {
        db.put(DEFAULT_KEYSPACE, format!("k{i:06}").as_bytes(), &[1; 20])
            .unwrap();
    }
    db.flush().unwrap();
    db.wait_for_compactions().unwrap();
    let stats = db.stats();
    assert!(stats.trivial_moves > 0, "{stats:?}");
    assert_eq!(stats.compaction_write_bytes, 0, "{stats:?}");
    assert!(
        stats.tables_per_level[0] < 2,
        "L0 at its trigger: {stats:?}"
    );
    drop(db);
    let db = open(&fs, 2 << 10);
    for i in (0..2_000u32).step_by(97) {
        assert!(db
            .get(DEFAULT_KEYSPACE, format!("k{i:06}").as_bytes())
            .unwrap()
            .is_some());
    }
}

#[test]
fn writes_are_paced_not_blocked_while_l0_is_behind() {
    let fs = SimFs::new();
    let mut o = opts(1 << 10);
    // Compaction never catches up (trigger out of reach), so pacing starts at 1 L0 table.
    o.l0_compaction_trigger = 1_000;
    o.l0_slowdown_writes = 1;
    o.l0_stop_writes = 1_000;
    o.delayed_write_rate = 1 << 20;
    let db = Db::open(fs.shared(), DIR, o).unwrap();
    for i in 0..400u32 {
        db.put(DEFAULT_KEYSPACE, format!("k{i:04}").as_bytes(), &[0; 32])
            .unwrap();
    }
    let stats = db.stats();
    assert!(stats.tables_per_level[0] >= 2, "{stats:?}");
    assert!(stats.delayed_writes > 0, "{stats:?}");
    assert_eq!(
        db.get(DEFAULT_KEYSPACE, b"k0399").unwrap(),
        Some(vec![0; 32])
    );
}

/// EIO or ENOSPC while a flush or compaction writes or syncs a table: the database stops
/// taking writes (never acknowledging one it cannot keep), and after a crash and reopen every
/// acknowledged write is there.
#[test]
fn faults_in_flush_and_compaction_lose_no_acknowledged_write() {
    use orbit_env::{FaultKind, FaultOp};
    for (i, (op, kind)) in [
        (FaultOp::Write, FaultKind::Eio),
        (FaultOp::Sync, FaultKind::Eio),
        (FaultOp::Write, FaultKind::Enospc),
    ]
    .into_iter()
    .enumerate()
    {
        for nth in [1u64, 3, 8, 20] {
            let fs = SimFs::new();
            let db = open(&fs, 1 << 10);
            fs.inject_on(op, nth, kind, true, Some(".sst"));
            let mut acked = Vec::new();
            let mut failed = false;
            for k in 0..600u32 {
                let key = format!("k{:04}", (k * 7919 + i as u32) % 1000);
                match db.put(DEFAULT_KEYSPACE, key.as_bytes(), &k.to_le_bytes()) {
                    Ok(()) => acked.push((key, k)),
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            assert!(failed, "{op:?}/{kind:?} #{nth}: the fault never surfaced");
            assert!(matches!(
                db.put(DEFAULT_KEYSPACE, b"after", b"x"),
                Err(Error::Poisoned { .. })
            ));
            let crashed = fs.crash(CrashMode::DropUnsynced);
            drop(db);
            let db = open(&crashed, 1 << 10);
            let mut want = BTreeMap::new();
            for (key, k) in acked {
                want.insert(key, k);
            }
            for (key, k) in &want {
                assert_eq!(
                    db.get(DEFAULT_KEYSPACE, key.as_bytes()).unwrap(),
                    Some(k.to_le_bytes().to_vec()),
                    "{op:?}/{kind:?} #{nth}: acknowledged {key} lost"
                );
            }
        }
    }
}

/// A flipped bit in a table is a corruption error naming the file, never wrong data.
#[test]
fn a_flipped_bit_in_a_table_is_an_error_not_wrong_data() {
    let fs = SimFs::new();
    let mut o = opts(1 << 20);
    o.table.zstd_level = None;
    o.cache_bytes = 0;
    let db = Db::open(fs.shared(), DIR, o.clone()).unwrap();
    for k in 0..200u32 {
        db.put(
            DEFAULT_KEYSPACE,
            format!("k{k:04}").as_bytes(),
            &[k as u8; 40],
        )
        .unwrap();
    }
    db.flush().unwrap();
    drop(db);
    let sst = fs
        .list_dir(Path::new(DIR))
        .unwrap()
        .into_iter()
        .find(|n| n.ends_with(".sst"))
        .unwrap();
    let path = Path::new(DIR).join(&sst);
    // A byte inside the first data block's values.
    fs.flip_bit(&path, 100, 3).unwrap();
    let db = Db::open(fs.shared(), DIR, o).unwrap();
    let mut errors = 0;
    for k in 0..200u32 {
        match db.get(DEFAULT_KEYSPACE, format!("k{k:04}").as_bytes()) {
            Ok(v) => assert_eq!(v, Some(vec![k as u8; 40]), "wrong data for k{k}"),
            Err(Error::Corruption { file, .. }) => {
                assert!(file.ends_with(&sst), "{}", file.display());
                errors += 1;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(errors > 0, "the damaged block was never read");
}
