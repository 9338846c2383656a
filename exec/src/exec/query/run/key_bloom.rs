//! A split-block bloom filter over a hash join's built keys, asked before the key index when
//! a scan's rows are filtered by the join (`key_filter`).
//!
//! Once the index outgrows the CPU's caches, a lookup of a key it does not hold costs a
//! cache miss (in TPC-H Q9, the lookups of orders' and partsupp's 2.3 million rows in
//! 319,000 built lineitem keys were a fifth of the query, and most keys were absent). The
//! filter, about 12 bits a key, answers those from one 32-byte block: each key sets one bit
//! in each of a block's eight 32-bit words (as Parquet's and Impala's filters do), so a lookup
//! loads one cache line however many bits it tests. About 0.5% of absent keys get through at
//! that size; a key that was added always does.
//!
//! Invariant: `may_contain(h)` is true for every `h` given to `insert`.

/// Bits of filter per key.
const BITS_PER_KEY: usize = 12;

/// Odd multipliers that pick each word's bit (Parquet's).
const SALT: [u32; 8] = [
    0x47b6_137b,
    0x4497_4d91,
    0x8824_ad5b,
    0xa2b7_289d,
    0x7054_95c7,
    0x2df1_424b,
    0x9efc_4947,
    0x5c6b_fb31,
];

/// See the module doc.
pub(super) struct KeyBloom {
    blocks: Vec<[u32; 8]>,
}

impl KeyBloom {
    /// A filter sized for `keys` keys.
    pub(super) fn new(keys: usize) -> KeyBloom {
        let blocks = (keys.saturating_mul(BITS_PER_KEY)).div_ceil(256).max(1);
        KeyBloom {
            blocks: vec![[0; 8]; blocks],
        }
    }

    /// Its size in bytes.
    pub(super) fn bytes(&self) -> usize {
        self.blocks.len() * 32
    }

    /// The block of hash `h`: its high half scaled to the block count.
    fn block(&self, h: u64) -> usize {
        (((h >> 32) * self.blocks.len() as u64) >> 32) as usize
    }

    /// The bit `h` sets in each word of its block, from its low half.
    fn masks(h: u64) -> [u32; 8] {
        let low = h as u32;
        SALT.map(|s| 1u32 << (low.wrapping_mul(s) >> 27))
    }

    pub(super) fn insert(&mut self, h: u64) {
        let b = self.block(h);
        if let Some(block) = self.blocks.get_mut(b) {
            for (w, m) in block.iter_mut().zip(Self::masks(h)) {
                *w |= m;
            }
        }
    }

    /// False only when no key of hash `h` was added.
    pub(super) fn may_contain(&self, h: u64) -> bool {
        self.blocks.get(self.block(h)).is_none_or(|block| {
            // Every word tested, no early exit: the eight compare as one vector.
            block
                .iter()
                .zip(Self::masks(h))
                .fold(true, |all, (w, m)| all & (w & m != 0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::bytes_map::hash_key;
    use proptest::prelude::*;

    proptest! {
        /// No key that was added is refused, whatever the filter's size.
        #[test]
        fn added_keys_are_never_refused(
            keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..24), 0..300),
            size in 0usize..400,
        ) {
            let mut bloom = KeyBloom::new(size);
            for k in &keys {
                bloom.insert(hash_key(k));
            }
            for k in &keys {
                prop_assert!(bloom.may_contain(hash_key(k)));
            }
        }
    }

    /// Integer keys as the join encodes them (big-endian, so consecutive keys differ in the
    /// low bytes) and text keys: under 1% of absent ones get through.
    #[test]
    fn absent_keys_mostly_are_refused() {
        for (name, key) in [
            (
                "integers",
                Box::new(|i: u64| (i * 7).to_be_bytes().to_vec()) as Box<dyn Fn(u64) -> Vec<u8>>,
            ),
            (
                "text",
                Box::new(|i: u64| format!("customer#{i:012}").into_bytes()),
            ),
        ] {
            let mut bloom = KeyBloom::new(50_000);
            for i in 0..50_000 {
                bloom.insert(hash_key(&key(i)));
            }
            let passed = (0..200_000u64)
                .filter(|i| bloom.may_contain(hash_key(&key(1_000_000 + i))))
                .count();
            assert!(
                passed < 2_000,
                "{name}: {passed} of 200,000 absent keys passed"
            );
        }
    }
}
