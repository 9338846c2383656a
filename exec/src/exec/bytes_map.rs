//! [`BytesMap`]: a hash map keyed by short byte strings (memcomparable keys, stored column
//! bytes), the hash joins' and the batch aggregations' index.
//!
//! Keys of up to 15 bytes (every integer, date or short text key) are packed, with their
//! length, into a `u128` held in the table itself: a probe costs one hash-table slot instead
//! of the slot and then the key's heap bytes to compare (a second cache miss once the table
//! outgrows the cache: in TPC-H Q13 the comparisons of 100,000 customer keys' heap bytes
//! were a third of the query). Longer keys use a map of byte strings.
//!
//! Packed keys are hashed by a full 128-bit mix (`Mix`): FxHash of a packed key put a big-
//! endian integer's varying low bytes where its multiply never carries them into the bits
//! that pick a slot, and a million order keys collided into a few hundred slots.
//!
//! Invariant: a key is in exactly one of the two maps, packed iff it is at most
//! `PACKED_MAX` bytes long.

use std::hash::{BuildHasherDefault, Hasher};

use rustc_hash::FxHashMap;

/// The longest key packed into a `u128` (the sixteenth byte holds its length).
const PACKED_MAX: usize = 15;

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

/// `key` and its length in one `u128`, if it is short enough.
fn pack(key: &[u8]) -> Option<u128> {
    let mut b = [0u8; 16];
    b.get_mut(..key.len())
        .filter(|_| key.len() <= PACKED_MAX)?
        .copy_from_slice(key);
    b[PACKED_MAX] = key.len() as u8;
    Some(u128::from_le_bytes(b))
}

/// See the module doc.
#[derive(Debug)]
pub(crate) struct BytesMap<V> {
    packed: std::collections::HashMap<u128, V, BuildHasherDefault<Mix>>,
    long: FxHashMap<Vec<u8>, V>,
}

impl<V> Default for BytesMap<V> {
    fn default() -> Self {
        BytesMap {
            packed: Default::default(),
            long: FxHashMap::default(),
        }
    }
}

impl std::fmt::Debug for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mix")
    }
}

impl<V> BytesMap<V> {
    pub(crate) fn get(&self, key: &[u8]) -> Option<&V> {
        match pack(key) {
            Some(p) => self.packed.get(&p),
            None => self.long.get(key),
        }
    }

    pub(crate) fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        match pack(key) {
            Some(p) => self.packed.get_mut(&p),
            None => self.long.get_mut(key),
        }
    }

    /// Sets `key`'s value (replacing any it had).
    pub(crate) fn insert(&mut self, key: Vec<u8>, v: V) {
        match pack(&key) {
            Some(p) => {
                self.packed.insert(p, v);
            }
            None => {
                self.long.insert(key, v);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.packed.len() + self.long.len()
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
            let mut map = BytesMap::default();
            let mut model: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
            for (i, k) in keys.iter().enumerate() {
                match map.get_mut(k) {
                    Some(v) => *v += i,
                    None => map.insert(k.clone(), i),
                }
                *model.entry(k.clone()).or_default() += i;
            }
            prop_assert_eq!(map.len(), model.len());
            for k in keys.iter().chain(&probes) {
                prop_assert_eq!(map.get(k), model.get(k));
            }
        }
    }

    #[test]
    fn a_key_and_its_zero_padded_longer_twin_stay_apart() {
        let mut map = BytesMap::default();
        map.insert(vec![7], 0);
        map.insert(vec![7, 0], 1);
        map.insert(vec![7; 16], 2);
        assert_eq!(map.get(&[7]), Some(&0));
        assert_eq!(map.get(&[7, 0]), Some(&1));
        assert_eq!(map.get(&[7; 16]), Some(&2));
        assert_eq!(map.get(&[7, 0, 0]), None);
    }
}
