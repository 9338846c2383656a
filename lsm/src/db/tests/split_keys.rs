//! `Db::split_keys`: the pieces of a cut range hold every key of the range exactly once, in
//! order, whatever the range and the number of pieces; and they are of about equal size.

use std::ops::Bound;

use proptest::prelude::*;

use super::super::super::*;
use super::open;

fn key(i: u32) -> Vec<u8> {
    format!("k{i:05}").into_bytes()
}

fn keys_in(db: &Db, range: (Bound<Vec<u8>>, Bound<Vec<u8>>)) -> Vec<Vec<u8>> {
    let snap = db.snapshot();
    db.iter(DEFAULT_KEYSPACE, range, Direction::Forward, &snap)
        .unwrap()
        .map(|r| r.unwrap().0)
        .collect()
}

/// A database of keys 0..n (every `gap`th), most of them in tables, the newest in the
/// memtable.
fn filled(n: u32, gap: u32) -> (orbit_env::SimFs, Db) {
    let fs = orbit_env::SimFs::new();
    let db = open(&fs, 16 << 10);
    for i in (0..n).step_by(gap as usize) {
        db.put(DEFAULT_KEYSPACE, &key(i), &[7u8; 40]).unwrap();
    }
    db.flush().unwrap();
    db.wait_for_compactions().unwrap();
    for i in (n..n + 50).step_by(gap as usize) {
        db.put(DEFAULT_KEYSPACE, &key(i), &[7u8; 40]).unwrap();
    }
    (fs, db)
}

fn bound(b: u8, k: u32) -> Bound<Vec<u8>> {
    match b % 3 {
        0 => Bound::Included(key(k)),
        1 => Bound::Excluded(key(k)),
        _ => Bound::Unbounded,
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: orbit_env::testing::proptest_cases(24),
        ..ProptestConfig::default()
    })]

    #[test]
    fn pieces_hold_the_range_exactly_once(
        gap in 1u32..4,
        (lo_kind, lo) in (0u8..3, 0u32..3000),
        (hi_kind, hi) in (0u8..3, 0u32..3000),
        pieces in 1usize..9,
    ) {
        let (_fs, db) = filled(2500, gap);
        let range = (bound(lo_kind, lo), bound(hi_kind, hi));
        let split = db.split_keys(DEFAULT_KEYSPACE, &range, pieces).unwrap();
        prop_assert!(split.cuts.len() < pieces.max(1));
        prop_assert!(split.cuts.windows(2).all(|w| w[0] < w[1]));
        let whole = keys_in(&db, range.clone());
        let mut lower = range.0.clone();
        let mut joined = Vec::new();
        for cut in &split.cuts {
            // Each cut lies strictly inside the range.
            let inside = match (&range.0, &range.1) {
                (Bound::Included(l) | Bound::Excluded(l), _) if cut <= l => false,
                (_, Bound::Included(h) | Bound::Excluded(h)) if cut >= h => false,
                _ => true,
            };
            prop_assert!(inside, "cut {:?} outside {:?}", cut, range);
            joined.extend(keys_in(&db, (lower, Bound::Excluded(cut.clone()))));
            lower = Bound::Included(cut.clone());
        }
        joined.extend(keys_in(&db, (lower, range.1.clone())));
        prop_assert_eq!(joined, whole);
    }
}

#[test]
fn a_whole_keyspace_is_cut_into_pieces_of_about_equal_size() {
    let (_fs, db) = filled(20_000, 1);
    let all = (Bound::Unbounded, Bound::Unbounded);
    let split = db.split_keys(DEFAULT_KEYSPACE, &all, 4).unwrap();
    assert_eq!(split.cuts.len(), 3, "{split:?}");
    // Compressed blocks: well under the 1 MB written, well over nothing.
    assert!(split.bytes > 100_000, "{split:?}");
    let mut lower = Bound::Unbounded;
    let mut sizes = Vec::new();
    for cut in &split.cuts {
        sizes.push(keys_in(&db, (lower, Bound::Excluded(cut.clone()))).len());
        lower = Bound::Included(cut.clone());
    }
    sizes.push(keys_in(&db, (lower, Bound::Unbounded)).len());
    // 20,050 keys: each piece within a fifth of a quarter.
    for s in &sizes {
        assert!(s.abs_diff(5012) < 1000, "{sizes:?}");
    }
    // A range inside one block, or an empty keyspace, is not cut.
    let small = (Bound::Included(key(5)), Bound::Excluded(key(7)));
    assert!(db
        .split_keys(DEFAULT_KEYSPACE, &small, 4)
        .unwrap()
        .cuts
        .is_empty());
}
