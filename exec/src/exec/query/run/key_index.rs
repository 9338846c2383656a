//! A hash join's index of its built side: the rows holding each equi-join key (the key's
//! memcomparable bytes, `row::append_key`), in a [`BytesMap`] (short keys packed into the
//! table's slots). A key held by one row keeps that row's position in its slot too: a probe
//! of a unique key costs one hash-table slot instead of three dependent loads (the slot, the
//! key's heap bytes to compare, the row list).
//!
//! Invariant: a key's positions are in insertion order.

use crate::exec::bytes_map::BytesMap;

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
}
