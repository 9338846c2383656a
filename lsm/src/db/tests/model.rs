//! The database and its iterators against a `BTreeMap` model, through flushes, compactions,
//! reopenings and crashes, with batches small and larger than one WAL record.
use std::collections::BTreeMap;
use std::ops::Bound;

use orbit_env::{CrashMode, SimFs};

use super::open;
use crate::db::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Put(u8, u8),
    Delete(u8),
    DeleteRange(u8, u8),
    /// A batch larger than one WAL record: puts of `len` bytes to most keys, deletes of the rest.
    Big(u8, u16),
    /// A batch of puts (kind 0), deletes (1) and range deletes (2, to `k + v % 8`), applied in
    /// order: its entries go into the memtable together (`Memtable::insert_many`).
    Batch(Vec<(u8, u8, u8)>),
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
        1 => (any::<u8>(), 2000u16..4000).prop_map(|(seed, len)| Step::Big(seed, len)),
        2 => proptest::collection::vec((0u8..3, 0u8..40, any::<u8>()), 2..30).prop_map(Step::Batch),
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
        Step::Big(seed, len) => {
            let mut b = WriteBatch::new();
            for k in 0..40u8 {
                if (k as u32 + seed as u32) % 5 == 0 {
                    b.delete(DEFAULT_KEYSPACE, &key(k));
                    model.remove(&key(k));
                } else {
                    let v = vec![seed ^ k; usize::from(len)];
                    b.put(DEFAULT_KEYSPACE, &key(k), &v);
                    model.insert(key(k), v);
                }
            }
            // Larger than a record of the tests' 64 KiB segments: it is split.
            assert!(b.encoded_len() > db.inner.max_record());
            db.write(&b).unwrap();
        }
        Step::Batch(ops) => {
            let mut b = WriteBatch::new();
            for (kind, k, v) in ops {
                match kind {
                    0 => {
                        b.put(DEFAULT_KEYSPACE, &key(k), &[v]);
                        model.insert(key(k), vec![v]);
                    }
                    1 => {
                        b.delete(DEFAULT_KEYSPACE, &key(k));
                        model.remove(&key(k));
                    }
                    _ => {
                        let (lo, hi) = (key(k), key(k.saturating_add(v % 8)));
                        b.delete_range(DEFAULT_KEYSPACE, &lo, &hi);
                        model.retain(|x, _| !(lo <= *x && *x < hi));
                    }
                }
            }
            db.write(&b).unwrap();
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
    /// snapshots keep reading the state they were taken at until the database is reopened;
    /// `get_latest_many` answers as one `get` per key does.
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
            // The batched lookup, over every key and some twice.
            let keys: Vec<Vec<u8>> = (0..40u8).chain((0..40).step_by(7)).map(key).collect();
            let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            let many = db.get_latest_many(DEFAULT_KEYSPACE, &refs).unwrap();
            let want: Vec<Option<Vec<u8>>> = keys.iter().map(|k| model.get(k).cloned()).collect();
            prop_assert_eq!(many, want);
            for (snap, m) in &snapshots {
                for k in (0..40u8).step_by(5) {
                    prop_assert_eq!(db.get_at(DEFAULT_KEYSPACE, &key(k), snap).unwrap(), m.get(&key(k)).cloned());
                }
            }
        }
    }
}

/// A database after `steps`, with its model and the snapshots taken on the way (with theirs).
/// Reopen and crash steps become flushes: the iterators' snapshots must live.
fn applied(steps: Vec<Step>) -> (SimFs, Db, Model, Vec<(Snapshot, Model)>) {
    let fs = SimFs::new();
    let db = open(&fs, 1 << 10);
    let mut model: Model = BTreeMap::new();
    let mut snapshots: Vec<(Snapshot, Model)> = Vec::new();
    for s in steps {
        if apply(&db, &mut model, &mut snapshots, s).is_some() {
            db.flush().unwrap();
        }
    }
    (fs, db, model, snapshots)
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
        chunk in 1usize..8,
    ) {
        let (_fs, db, model, mut snapshots) = applied(steps);
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
                // In chunks (`fill`), each chunk followed by one pair taken by `next`.
                let mut it = db
                    .iter(DEFAULT_KEYSPACE, (lo.clone(), hi.clone()), Direction::Forward, snap)
                    .unwrap();
                prop_assert_eq!(&drain(&mut it, chunk), &want, "filled {:?}..{:?} by {}", lo, hi, chunk);
                // Filtered in place (`fill_where`): what the filter keeps, every pair looked at.
                let even = |k: &[u8], v: &[u8]| (k.last().copied().unwrap_or(0) ^ v.first().copied().unwrap_or(0)) % 2 == 0;
                for direction in [Direction::Forward, Direction::Backward] {
                    let mut it = db.iter(DEFAULT_KEYSPACE, (lo.clone(), hi.clone()), direction, snap).unwrap();
                    let (mut kept, mut looked) = (crate::Pairs::new(), 0);
                    loop {
                        let n = it.fill_where(&mut kept, chunk, even).unwrap();
                        prop_assert!(n <= chunk);
                        if n == 0 {
                            break;
                        }
                        looked += n;
                    }
                    prop_assert_eq!(looked, want.len());
                    let mut got: Vec<_> = kept.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
                    if direction == Direction::Backward {
                        got.reverse();
                    }
                    let want_kept: Vec<_> = want.iter().filter(|(k, v)| even(k, v)).cloned().collect();
                    prop_assert_eq!(got, want_kept, "{:?} {:?}..{:?}", direction, lo, hi);
                }
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

/// Every key of `universe` in `range`.
fn keys_in(universe: &Model, range: &(Bound<Vec<u8>>, Bound<Vec<u8>>)) -> Vec<Vec<u8>> {
    model_range(universe, &range.0, &range.1)
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// All pairs left in `it`, read in chunks of `chunk` (`fill`), each followed by one `next`.
fn drain(it: &mut DbIter, chunk: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let (mut filled, mut pairs) = (Vec::new(), crate::Pairs::new());
    loop {
        pairs.clear();
        it.fill(&mut pairs, chunk).unwrap();
        assert!(pairs.len() <= chunk);
        filled.extend(pairs.iter().map(|(k, v)| (k.to_vec(), v.to_vec())));
        match it.next() {
            Some(kv) => filled.push(kv.unwrap()),
            None => return filled,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: orbit_env::testing::proptest_cases(48), ..ProptestConfig::default() })]

    /// One iterator moved from range to range (`Db::iter_scoped`, `DbIter::reseek`), in key
    /// order (as an index nested loop's lookups come) or not, either way, reads each range as
    /// a new iterator would, range deletes included; it moves only within its scope.
    #[test]
    fn a_moved_iterator_matches_the_model(
        steps in proptest::collection::vec(step(), 1..120),
        scope in (any::<u8>(), 0u8..40, any::<u8>(), 0u8..40),
        ranges in proptest::collection::vec((any::<u8>(), 0u8..40, any::<u8>(), 0u8..6), 1..30),
        ordered in any::<bool>(),
        backward in any::<bool>(),
        chunk in 1usize..8,
    ) {
        let (_fs, db, model, _) = applied(steps);
        let direction = if backward { Direction::Backward } else { Direction::Forward };
        let read = |m: &Model, lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>| {
            let mut pairs = model_range(m, lo, hi);
            if backward {
                pairs.reverse();
            }
            pairs
        };
        let universe: Model = (0..=45u8).map(|k| (key(k), Vec::new())).collect();
        let scope = (bound(scope.0, scope.1), bound(scope.2, scope.3));
        let mut ranges: Vec<_> = ranges
            .into_iter()
            .map(|(lk, lo, hk, len)| (bound(lk, lo), bound(hk, lo.saturating_add(len))))
            .collect();
        if ordered {
            ranges.sort_by(|a, b| match (&a.0, &b.0) {
                (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => x.cmp(y),
                (Bound::Unbounded, Bound::Unbounded) => std::cmp::Ordering::Equal,
                (Bound::Unbounded, _) => std::cmp::Ordering::Less,
                (_, Bound::Unbounded) => std::cmp::Ordering::Greater,
            });
        }
        let snap = db.snapshot();
        // Made for the first range within the scope (or the scope): the range deletes it
        // must apply later are those of the scope.
        let first = ranges
            .iter()
            .find(|r| crate::db::iter::within(r, &scope))
            .unwrap_or(&scope)
            .clone();
        let mut it = db
            .iter_scoped(DEFAULT_KEYSPACE, scope.clone(), first.clone(), direction, &snap)
            .unwrap();
        prop_assert_eq!(drain(&mut it, chunk), read(&model, &first.0, &first.1));
        let in_scope = keys_in(&universe, &scope);
        for r in &ranges {
            if !it.reseek(r) {
                continue;
            }
            prop_assert!(keys_in(&universe, r).iter().all(|k| in_scope.contains(k)), "{:?} moved outside {:?}", r, scope);
            prop_assert_eq!(drain(&mut it, chunk), read(&model, &r.0, &r.1), "{:?}", r);
        }
        // A range reaching below the scope is refused.
        if let Bound::Included(lo) | Bound::Excluded(lo) = &scope.0 {
            prop_assert!(!it.reseek(&(Bound::Unbounded, Bound::Included(lo.clone()))));
        }
        // An iterator from `iter` is never moved.
        let mut plain = db
            .iter(DEFAULT_KEYSPACE, scope.clone(), Direction::Forward, &snap)
            .unwrap();
        prop_assert!(!plain.reseek(&scope));
    }
}
