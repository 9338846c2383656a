//! Compaction: levels, the filter, trivial moves, write pacing, iterators holding tables.
use std::ops::Bound;
use std::sync::Arc;

use orbit_env::{CrashMode, SimFs};

use super::{open, opts, DIR};
use crate::db::*;

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
        crate::db::iter::prefix_successor(b"a\xff\xff"),
        Some(b"b".to_vec())
    );
    assert_eq!(crate::db::iter::prefix_successor(b"\xff"), None);
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

/// Two overlapping L0 tables stay below the table-count trigger until enough iterators have
/// had to search both; then L0 is compacted into one sorted run.
#[test]
fn iterators_over_several_l0_tables_make_l0_due() {
    for iterators in [0u64, crate::db::compact::l0_read_budget(0)] {
        let fs = SimFs::new();
        let o = DbOptions {
            l0_compaction_trigger: 4,
            ..opts(1 << 20)
        };
        let db = Db::open(fs.shared(), DIR, o).unwrap();
        for round in 0..2u8 {
            for k in 0..50u8 {
                db.put(DEFAULT_KEYSPACE, &[k], &[round]).unwrap();
            }
            db.flush().unwrap();
        }
        db.wait_for_compactions().unwrap();
        assert_eq!(db.stats().tables_per_level.first(), Some(&2));
        let snap = db.snapshot();
        for i in 0..iterators {
            let from = Bound::Included(vec![(i % 50) as u8]);
            let it = db.iter(
                DEFAULT_KEYSPACE,
                (from, Bound::Unbounded),
                Direction::Forward,
                &snap,
            );
            assert_eq!(it.unwrap().next().unwrap().unwrap().1, vec![1]);
        }
        db.wait_for_compactions().unwrap();
        let l0 = db.stats().tables_per_level.first().copied();
        if iterators == 0 {
            assert_eq!(l0, Some(2), "no reads: L0 waits for its trigger");
        } else {
            assert_eq!(l0, Some(0), "{iterators} iterators over two L0 tables");
        }
    }
}

/// A table compacted away takes its blocks out of the block cache with it: the memory goes
/// to live tables' blocks instead of waiting for eviction to reach blocks no read can want.
#[test]
fn obsolete_tables_leave_the_block_cache() {
    let fs = SimFs::new();
    let db = open(&fs, 64 << 10);
    let write = |round: u32| {
        for i in 0..300u32 {
            db.put(
                DEFAULT_KEYSPACE,
                format!("k{i:04}").as_bytes(),
                format!("v{round}-{i}").as_bytes(),
            )
            .unwrap();
        }
        db.flush().unwrap();
    };
    write(0);
    for i in 0..300u32 {
        assert!(db
            .get(DEFAULT_KEYSPACE, format!("k{i:04}").as_bytes())
            .unwrap()
            .is_some());
    }
    let cached = db.stats().cache.entries;
    assert!(cached > 10, "{cached} blocks cached");
    // Overwritten and compacted: every table read above is gone.
    write(1);
    db.wait_for_compactions().unwrap();
    let stats = db.stats();
    assert!(stats.compactions > 0, "{stats:?}");
    assert_eq!(stats.cache.entries, 0, "{stats:?}");
    assert_eq!(
        db.get(DEFAULT_KEYSPACE, b"k0007").unwrap(),
        Some(b"v1-7".to_vec())
    );
    assert!(db.stats().cache.entries > 0);
}
