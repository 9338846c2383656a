//! A hash join's index of its built side: the rows holding each equi-join key (the key's
//! memcomparable bytes, `row::append_key`), in a [`BytesMap`] (short keys packed into the
//! table's slots). A key held by one row keeps that row's position in its slot too: a probe
//! of a unique key costs one hash-table slot instead of three dependent loads (the slot, the
//! key's heap bytes to compare, the row list).
//!
//! An index of more keys than the caches hold also gets a bloom filter once built (`seal`),
//! which a scan filtered by the join asks first (`may_hold`): most of its rows' keys are
//! absent, and the filter answers them without the table's cache miss.
//!
//! Invariant: a key's positions are in insertion order; after `seal`, `may_hold` is true
//! for every key inserted.

use super::key_bloom::KeyBloom;
use crate::exec::bytes_map::{hash_key, BytesMap};

/// Keys from which a sealed index gets a filter (below, its table is small enough to stay
/// in the CPU's caches, and the filter would only add a hash).
const BLOOM_FROM: usize = 8192;

/// The positions of the rows holding one key.
enum Rows {
    One(usize),
    Many(Vec<usize>),
}

impl Rows {
    fn push(&mut self, i: usize) {
        match self {
            Rows::One(first) => *self = Rows::Many(vec![*first, i]),
            Rows::Many(v) => v.push(i),
        }
    }

    fn as_slice(&self) -> &[usize] {
        match self {
            Rows::One(i) => std::slice::from_ref(i),
            Rows::Many(v) => v,
        }
    }
}

/// See the module docs.
#[derive(Default)]
pub(super) struct KeyIndex {
    map: BytesMap<Rows>,
    bloom: Option<KeyBloom>,
}

impl KeyIndex {
    /// Adds row position `i` under `key`.
    pub(super) fn insert(&mut self, key: Vec<u8>, i: usize) {
        match self.map.get_mut(&key) {
            Some(rows) => rows.push(i),
            None => self.map.insert(key, Rows::One(i)),
        }
    }

    /// The positions of the rows holding `key`, in insertion order.
    pub(super) fn get(&self, key: &[u8]) -> &[usize] {
        self.map.get(key).map_or(&[], Rows::as_slice)
    }

    /// Ends the inserts (one made after would not be seen by `may_hold`): builds the filter
    /// if the index is large. Returns the filter's size in bytes.
    pub(super) fn seal(&mut self) -> usize {
        if self.map.len() < BLOOM_FROM {
            self.bloom = None;
            return 0;
        }
        let mut bloom = KeyBloom::new(self.map.len());
        self.map.hashes().for_each(|h| bloom.insert(h));
        let bytes = bloom.bytes();
        self.bloom = Some(bloom);
        bytes
    }

    /// False when `key` is certainly not in the index (true until it is sealed).
    pub(super) fn may_hold(&self, key: &[u8]) -> bool {
        self.bloom
            .as_ref()
            .is_none_or(|b| b.may_contain(hash_key(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        /// Against a map of each key's positions: few distinct keys (so most are held by
        /// several rows), short and long, every key's rows in insertion order.
        #[test]
        fn each_key_holds_its_rows_in_order(
            keys in proptest::collection::vec((0u8..6, prop_oneof![Just(2usize), Just(20)]), 0..100),
        ) {
            let mut index = KeyIndex::default();
            let mut model: BTreeMap<Vec<u8>, Vec<usize>> = BTreeMap::new();
            for (i, (k, len)) in keys.iter().enumerate() {
                let key = vec![*k; *len];
                index.insert(key.clone(), i);
                model.entry(key).or_default().push(i);
            }
            for (key, rows) in &model {
                prop_assert_eq!(index.get(key), rows.as_slice());
            }
            prop_assert_eq!(index.get(&[9, 9]), &[] as &[usize]);
        }
    }

    /// A sealed index large enough for a filter holds every key it was given, and turns
    /// away nearly all the others.
    #[test]
    fn a_sealed_index_may_hold_its_keys_and_few_others() {
        let mut index = KeyIndex::default();
        let keys = (BLOOM_FROM * 2) as u64;
        for k in 0..keys {
            index.insert(k.to_be_bytes().to_vec(), k as usize);
        }
        assert!(index.may_hold(&7u64.to_be_bytes()) && index.bloom.is_none());
        assert!(index.seal() > 0);
        assert!((0..keys).all(|k| index.may_hold(&k.to_be_bytes())));
        let through = (keys..keys * 11)
            .filter(|k| index.may_hold(&k.to_be_bytes()))
            .count();
        assert!(
            through * 100 < (keys * 10) as usize,
            "{through} absent keys through"
        );
        // A small index has no filter: it answers every key as maybe.
        let mut small = KeyIndex::default();
        small.insert(vec![1], 0);
        assert_eq!(small.seal(), 0);
        assert!(small.may_hold(&[2]));
    }
}
