//! The table's bloom filter over user keys: `bits ‖ probes u8`.
//!
//! One 64-bit xxh3 hash per key; probe `i` tests bit `(h1 + i * h2) mod bits` with `h1` and `h2`
//! the hash's two halves (Kirsch–Mitzenmacher double hashing). At 10 bits per key and 7 probes
//! the false-positive rate is about 1%. A key that was added always answers "maybe".
#![deny(clippy::indexing_slicing)]

use xxhash_rust::xxh3::xxh3_64;

/// Probes for `bits_per_key`: ln 2 times bits per key, as the optimum for a bloom filter.
fn probes(bits_per_key: usize) -> u8 {
    ((bits_per_key as f64 * 0.69).round() as usize).clamp(1, 30) as u8
}

/// Collects key hashes while a table is built.
#[derive(Debug, Default)]
pub struct BloomBuilder {
    hashes: Vec<u64>,
}

impl BloomBuilder {
    /// Records a user key.
    pub fn add(&mut self, user_key: &[u8]) {
        self.hashes.push(xxh3_64(user_key));
    }

    /// The filter block's bytes.
    pub fn finish(&self, bits_per_key: usize) -> Vec<u8> {
        let bits = (self.hashes.len() * bits_per_key).max(64);
        let bytes = bits.div_ceil(8);
        let bits = bytes * 8;
        let k = probes(bits_per_key);
        let mut out = vec![0u8; bytes + 1];
        for &h in &self.hashes {
            for_each_probe(h, k, bits, |bit| {
                if let Some(b) = out.get_mut(bit / 8) {
                    *b |= 1 << (bit % 8);
                }
            });
        }
        if let Some(last) = out.last_mut() {
            *last = k;
        }
        out
    }
}

fn for_each_probe(h: u64, k: u8, bits: usize, mut f: impl FnMut(usize)) {
    let h1 = h as u32 as u64;
    let h2 = (h >> 32) | 1;
    for i in 0..u64::from(k) {
        f((h1.wrapping_add(i.wrapping_mul(h2)) % bits as u64) as usize);
    }
}

/// A decoded filter.
#[derive(Debug)]
pub struct Bloom {
    bits: Vec<u8>,
    probes: u8,
}

impl Bloom {
    /// Decodes a filter block; `None` if malformed.
    pub fn decode(mut block: Vec<u8>) -> Option<Bloom> {
        let probes = block.pop()?;
        if block.is_empty() || !(1..=30).contains(&probes) {
            return None;
        }
        Some(Bloom {
            bits: block,
            probes,
        })
    }

    /// False only if the key was certainly not added.
    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        let bits = self.bits.len() * 8;
        let mut all = true;
        for_each_probe(xxh3_64(user_key), self.probes, bits, |bit| {
            all &= self
                .bits
                .get(bit / 8)
                .is_some_and(|b| b & (1 << (bit % 8)) != 0);
        });
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_about_one_percent_false_positives() {
        let mut b = BloomBuilder::default();
        for i in 0..10_000u32 {
            b.add(format!("key{i}").as_bytes());
        }
        let bloom = Bloom::decode(b.finish(10)).unwrap();
        for i in 0..10_000u32 {
            assert!(bloom.may_contain(format!("key{i}").as_bytes()));
        }
        let fp = (0..100_000u32)
            .filter(|i| bloom.may_contain(format!("other{i}").as_bytes()))
            .count();
        let rate = fp as f64 / 100_000.0;
        assert!(rate < 0.02, "false-positive rate {rate}");
    }

    #[test]
    fn malformed_filters_are_refused() {
        assert!(Bloom::decode(vec![]).is_none());
        assert!(Bloom::decode(vec![0xff, 0]).is_none());
        assert!(Bloom::decode(vec![0xff, 31]).is_none());
    }
}
