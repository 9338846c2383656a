//! Tests of the memtable's skiplist: lookups and batch inserts against a model, concurrent
//! inserters and readers, heights.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The model's key: user ascending, trailer descending.
fn model_key(user: &[u8], trailer: u64) -> (Vec<u8>, std::cmp::Reverse<u64>) {
    (user.to_vec(), std::cmp::Reverse(trailer))
}

fn entry(n: Node<'_>) -> (Vec<u8>, u64, Vec<u8>) {
    (n.key().to_vec(), n.trailer(), n.value().to_vec())
}

/// Every level above the first is sorted and holds exactly the nodes taller than it, in the
/// first level's order.
fn assert_levels(list: &SkipList) {
    for level in 1..list.height.load(Atomic::Acquire) {
        let mut at_level = Vec::new();
        let mut x = list.head();
        while let Some(next) = x.next(level) {
            at_level.push(next.raw());
            x = next;
        }
        let tall: Vec<_> = std::iter::successors(list.first(), |n| n.successor())
            .filter(|n| n.height() > level)
            .map(|n| n.raw())
            .collect();
        assert_eq!(at_level, tall, "level {level}");
    }
}

proptest! {
    /// Every lookup agrees with a BTreeMap, keys of any length, values of any size.
    #[test]
    fn lookups_match_a_model(
        ops in proptest::collection::vec(
            (proptest::collection::vec(0u8..4, 0..4), 0u64..50, proptest::collection::vec(any::<u8>(), 0..40)),
            0..200),
        probes in proptest::collection::vec((proptest::collection::vec(0u8..4, 0..4), 0u64..50), 1..20),
        batch in 1usize..20,
    ) {
        let list = SkipList::new();
        let mut model = BTreeMap::new();
        let mut unique = Vec::new();
        for (user, trailer, value) in &ops {
            let k = model_key(user, *trailer);
            if model.contains_key(&k) {
                continue; // keys are unique in the engine
            }
            model.insert(k, value.clone());
            unique.push((user.as_slice(), *trailer, value.as_slice()));
        }
        // One at a time, or in batches whose searches interleave (and whose entries
        // often share a gap, or a user key).
        for chunk in unique.chunks(batch) {
            if batch == 1 {
                list.insert(chunk[0].0, chunk[0].1, chunk[0].2);
            } else {
                let made = list.insert_many(chunk);
                prop_assert_eq!(made.len(), chunk.len());
                for ((size, node), (user, trailer, value)) in made.iter().zip(chunk) {
                    prop_assert_eq!(entry(*node), (user.to_vec(), *trailer, value.to_vec()));
                    prop_assert_eq!(*size, node_size(node.height(), user.len()) + value.len());
                }
            }
        }
        prop_assert_eq!(list.len(), model.len());
        assert_levels(&list);
        let all: Vec<_> = std::iter::successors(list.first(), |n| n.successor()).map(entry).collect();
        let want: Vec<_> = model.iter().map(|((u, t), v)| (u.clone(), t.0, v.clone())).collect();
        prop_assert_eq!(&all, &want);
        prop_assert_eq!(list.last().map(entry), want.last().cloned());
        for (user, trailer) in &probes {
            let k = model_key(user, *trailer);
            let ge = model.range(k.clone()..).next().map(|((u, t), v)| (u.clone(), t.0, v.clone()));
            prop_assert_eq!(list.seek(user, *trailer, true).map(entry), ge);
            let gt = model
                .range((std::ops::Bound::Excluded(k.clone()), std::ops::Bound::Unbounded))
                .next()
                .map(|((u, t), v)| (u.clone(), t.0, v.clone()));
            prop_assert_eq!(list.seek(user, *trailer, false).map(entry), gt);
            let lt = model.range(..k).next_back().map(|((u, t), v)| (u.clone(), t.0, v.clone()));
            prop_assert_eq!(list.seek_before(user, *trailer).map(entry), lt);
        }
    }
}

#[test]
fn readers_see_a_sorted_prefix_while_a_writer_inserts() {
    let list = Arc::new(SkipList::new());
    let n = 20_000u64;
    let writer = {
        let list = Arc::clone(&list);
        std::thread::spawn(move || {
            for i in 0..n {
                // A scattered order, so inserts land all over the list.
                let k = (i * 7919) % n;
                list.insert(&k.to_be_bytes(), 1, &k.to_le_bytes());
            }
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let list = Arc::clone(&list);
            std::thread::spawn(move || {
                let mut rounds = 0;
                while list.len() < n as usize || rounds < 3 {
                    let mut prev: Option<Vec<u8>> = None;
                    let mut count = 0;
                    for node in std::iter::successors(list.first(), |n| n.successor()) {
                        assert_eq!(
                            node.value(),
                            &u64::from_be_bytes(node.key().try_into().unwrap()).to_le_bytes()
                        );
                        if let Some(p) = &prev {
                            assert!(p.as_slice() < node.key());
                        }
                        prev = Some(node.key().to_vec());
                        count += 1;
                    }
                    assert!(count <= n);
                    // Every key inserted before the lookup is found, while inserts land
                    // around it (a successor re-read after the walk could be a newer,
                    // smaller node: this caught it).
                    let inserted = list.len() as u64;
                    for i in (0..inserted).step_by(97) {
                        let probe = (i * 7919) % n;
                        let found = list.seek(&probe.to_be_bytes(), u64::MAX, true).unwrap();
                        assert_eq!(found.key(), &probe.to_be_bytes());
                    }
                    rounds += 1;
                }
            })
        })
        .collect();
    writer.join().unwrap();
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(list.len(), n as usize);
    assert!(list.arena_bytes() >= n as usize * (node_size(1, 8) + 8));
}

/// Inserters racing for the same links: every node ends up linked, at every level of its
/// tower, in order (a lost compare-and-swap retried from a stale successor would drop or
/// misplace nodes), while readers walk the list.
#[test]
fn concurrent_inserters_lose_nothing() {
    let list = Arc::new(SkipList::new());
    let (threads, per) = (4u64, 10_000u64);
    let inserters: Vec<_> = (0..threads)
        .map(|t| {
            let list = Arc::clone(&list);
            std::thread::spawn(move || {
                // Interleaved keys: neighbours come from different threads. Odd threads
                // insert in batches, whose searches interleave and go stale as the
                // other threads and the batch's own earlier entries link theirs.
                let keys: Vec<([u8; 8], [u8; 8])> = (0..per)
                    .map(|i| ((i * 7919) % per) * threads + t)
                    .map(|k| (k.to_be_bytes(), k.to_le_bytes()))
                    .collect();
                if t % 2 == 0 {
                    for (k, v) in &keys {
                        list.insert(k, 1, v);
                    }
                } else {
                    for chunk in keys.chunks(13) {
                        let batch: Vec<(&[u8], u64, &[u8])> =
                            chunk.iter().map(|(k, v)| (&k[..], 1, &v[..])).collect();
                        list.insert_many(&batch);
                    }
                }
            })
        })
        .collect();
    let reader = {
        let list = Arc::clone(&list);
        std::thread::spawn(move || {
            while list.len() < (threads * per) as usize {
                let keys: Vec<&[u8]> = std::iter::successors(list.first(), |n| n.successor())
                    .map(|n| n.key())
                    .collect();
                assert!(keys.windows(2).all(|w| w[0] < w[1]));
            }
        })
    };
    for i in inserters {
        i.join().unwrap();
    }
    reader.join().unwrap();
    let n = threads * per;
    assert_eq!(list.len(), n as usize);
    let keys: Vec<u64> = std::iter::successors(list.first(), |n| n.successor())
        .map(|n| u64::from_be_bytes(n.key().try_into().unwrap()))
        .collect();
    assert_eq!(keys, (0..n).collect::<Vec<_>>());
    assert_levels(&list);
    for k in (0..n).step_by(13) {
        let found = list.seek(&k.to_be_bytes(), u64::MAX, true).unwrap();
        assert_eq!(found.value(), &k.to_le_bytes());
    }
}

/// The race a concurrent test can only hit by luck, made to happen: while the walk looks
/// at the first key >= the target, a smaller key is inserted right before it. The result
/// is still the key the walk saw, never the newcomer below the target.
#[test]
fn a_seek_returns_the_successor_it_saw_not_one_inserted_behind_it() {
    let list = SkipList::new();
    list.insert(b"a", 1, b"");
    list.insert(b"m", 1, b"");
    let inserted = std::cell::Cell::new(false);
    let (before, after) = list.last_before(|n| {
        let past = n.key() >= &b"k"[..];
        if past && !inserted.replace(true) {
            list.insert(b"c", 1, b"");
        }
        past
    });
    assert!(inserted.get());
    assert_eq!(after.map(|n| n.key()), Some(&b"m"[..]));
    if before.key() == b"a" {
        // The newcomer sits between the two: re-reading the link would have returned it.
        assert_eq!(before.successor().map(|n| n.key()), Some(&b"c"[..]));
    }
    assert_eq!(
        list.seek(b"k", u64::MAX, true).map(|n| n.key()),
        Some(&b"m"[..])
    );
    assert_eq!(list.len(), 3);
}

#[test]
fn heights_follow_the_branching_factor() {
    let mut w = Writer {
        arena: Arena::new(),
        values: Arena::new(),
        rng: 1,
    };
    let heights: Vec<usize> = (0..100_000).map(|_| w.random_height()).collect();
    let tall = heights.iter().filter(|&&h| h >= 2).count();
    // P(h >= 2) = 1/4.
    assert!((20_000..30_000).contains(&tall), "{tall}");
    assert!(heights.iter().all(|&h| (1..=MAX_HEIGHT).contains(&h)));
}
