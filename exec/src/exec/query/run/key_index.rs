//! A hash join's index of its built side: the rows holding each equi-join key (the key's
//! memcomparable bytes, `row::append_key`).
//!
//! Keys of up to 15 bytes (every integer, date or short text key) are packed, with their
//! length, into a `u128` held in the table itself, and a key held by one row keeps that
//! row's position there too: a probe of a unique key costs one hash-table slot instead of
//! three dependent loads (the slot, the key's heap bytes to compare, the row list). Longer
//! keys use a map of byte strings.
//!
//! Packed keys are hashed by a full 128-bit mix (`Mix`): FxHash of a packed key put a big-
//! endian integer's varying low bytes where its multiply never carries them into the bits
//! that pick a slot, and a million order keys collided into a few hundred slots.
//!
//! Invariant: a key is in exactly one of the two maps (packed iff it is at most
//! `PACKED_MAX` bytes long), and its positions are in insertion order.

use std::hash::{BuildHasherDefault, Hasher};

use rustc_hash::FxHashMap;

/// The longest key packed into a `u128` (the sixteenth byte holds its length).
const PACKED_MAX: usize = 15;

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

/// Hashes a packed key: both halves through murmur3's 64-bit finalizer, every input bit
/// reaching every output bit.
#[derive(Default)]
struct Mix(u64);

fn fmix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

impl Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = fmix(self.0 ^ u64::from(*b));
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 = fmix(fmix(v as u64) ^ (v >> 64) as u64);
    }
}

/// See the module docs.
#[derive(Default)]
pub(super) struct KeyIndex {
    packed: std::collections::HashMap<u128, Rows, BuildHasherDefault<Mix>>,
    long: FxHashMap<Vec<u8>, Rows>,
}

/// `key` and its length in one `u128`, if it is short enough.
fn pack(key: &[u8]) -> Option<u128> {
    let mut b = [0u8; 16];
    b.get_mut(..key.len())
        .filter(|_| key.len() <= PACKED_MAX)?
        .copy_from_slice(key);
    b[PACKED_MAX] = key.len() as u8;
    Some(u128::from_le_bytes(b))
}

impl KeyIndex {
    /// Adds row position `i` under `key`.
    pub(super) fn insert(&mut self, key: Vec<u8>, i: usize) {
        match pack(&key) {
            Some(p) => match self.packed.get_mut(&p) {
                Some(rows) => rows.push(i),
                None => {
                    self.packed.insert(p, Rows::One(i));
                }
            },
            None => match self.long.get_mut(&key) {
                Some(rows) => rows.push(i),
                None => {
                    self.long.insert(key, Rows::One(i));
                }
            },
        }
    }

    /// The positions of the rows holding `key`, in insertion order.
    pub(super) fn get(&self, key: &[u8]) -> &[usize] {
        let rows = match pack(key) {
            Some(p) => self.packed.get(&p),
            None => self.long.get(key),
        };
        rows.map_or(&[], Rows::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        /// Against a map of byte strings: keys around the packing limit, with shared
        /// prefixes and trailing zero bytes (which packing must not confuse with shorter keys).
        #[test]
        fn finds_what_a_plain_map_finds(
            keys in proptest::collection::vec(proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), any::<u8>()], 0..20), 0..200),
            probes in proptest::collection::vec(proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), any::<u8>()], 0..20), 0..50),
        ) {
            let mut index = KeyIndex::default();
            let mut model: BTreeMap<Vec<u8>, Vec<usize>> = BTreeMap::new();
            for (i, k) in keys.iter().enumerate() {
                index.insert(k.clone(), i);
                model.entry(k.clone()).or_default().push(i);
            }
            for k in keys.iter().chain(&probes) {
                let want = model.get(k).map_or(&[][..], Vec::as_slice);
                prop_assert_eq!(index.get(k), want);
            }
        }
    }

    #[test]
    fn a_key_and_its_zero_padded_longer_twin_stay_apart() {
        let mut index = KeyIndex::default();
        index.insert(vec![7], 0);
        index.insert(vec![7, 0], 1);
        index.insert(vec![7; 16], 2);
        assert_eq!(index.get(&[7]), &[0]);
        assert_eq!(index.get(&[7, 0]), &[1]);
        assert_eq!(index.get(&[7; 16]), &[2]);
        assert_eq!(index.get(&[7, 0, 0]), &[] as &[usize]);
    }
}
