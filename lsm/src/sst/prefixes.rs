//! The restart keys of a table's index block, reduced to eight bytes each, so that a point
//! read's seek in the index binary-searches one dense array instead of touching an entry of
//! the block per step (a 64 MB table's index block is about half a megabyte, each step a
//! cache miss or two).
//!
//! Every restart key's user key starts with the block's common prefix (the keys are sorted,
//! so the first's and the last's common prefix is everyone's); the next eight bytes, zero
//! padded, make its word. Words order like the keys wherever they differ: a word below the
//! target's means a user key below it, a word above means above. Only the restart keys whose
//! word equals the target's are compared whole.

use std::cmp::Ordering;

use super::block::{BResult, Block};
use crate::key::{self, padded_word};

/// Fewer restart points than this and the block's own binary search is as quick.
const MIN_RESTARTS: usize = 16;

/// See the module doc.
#[derive(Debug)]
pub(crate) struct Prefixes {
    common: Vec<u8>,
    words: Vec<u64>,
}

impl Prefixes {
    /// The words of `index`'s restart keys (internal keys); None for a small or malformed
    /// block (seeks then search the block itself).
    pub(crate) fn build(index: &Block) -> Option<Prefixes> {
        let n = index.restart_count();
        if n < MIN_RESTARTS {
            return None;
        }
        let user = |i: usize| -> Option<&[u8]> { Some(key::split(index.restart_key(i).ok()?)?.0) };
        let (first, last) = (user(0)?, user(n - 1)?);
        let common_len = first.iter().zip(last).take_while(|(a, b)| a == b).count();
        let common = first.get(..common_len)?.to_vec();
        let words = (0..n)
            .map(|i| Some(padded_word(user(i)?.get(common_len..)?)))
            .collect::<Option<Vec<_>>>()?;
        Some(Prefixes { common, words })
    }

    /// The last restart point of `index` whose key is `< target` under `cmp` (0 if none),
    /// or None when the target's user key lies outside the common prefix (search the block).
    pub(crate) fn last_below(
        &self,
        index: &Block,
        target: &[u8],
        cmp: impl Fn(&[u8], &[u8]) -> Ordering,
    ) -> BResult<Option<usize>> {
        let Some((user, _, _)) = key::split(target) else {
            return Ok(None);
        };
        let Some(rest) = user.strip_prefix(self.common.as_slice()) else {
            return Ok(None);
        };
        let t = padded_word(rest);
        // Below `lo` every key is below the target, from `hi` on every key above it.
        let lo = self.words.partition_point(|w| *w < t);
        let hi = self.words.partition_point(|w| *w <= t);
        let (mut a, mut b) = (lo, hi);
        while a < b {
            let mid = (a + b) / 2;
            if cmp(index.restart_key(mid)?, target) == Ordering::Less {
                a = mid + 1;
            } else {
                b = mid;
            }
        }
        Ok(Some(a.saturating_sub(1)))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::key::{internal_key, ValueKind};
    use crate::sst::block::{BlockBuilder, BlockIter};

    proptest! {
        /// A seek through the words lands where the block's own binary search does, for
        /// keys sharing long prefixes, keys that are prefixes of others, and targets in,
        /// around and outside the block's common prefix.
        #[test]
        fn seeks_land_where_the_block_search_does(
            mut keys in prop::collection::btree_set(
                (prop::sample::select(vec![b"t1ix".to_vec(), b"t1iy".to_vec()]),
                 prop::collection::vec(prop::sample::select(vec![0u8, 1, 2, 255]), 0..12)),
                250..900,
            ),
            targets in prop::collection::vec(
                (prop::sample::select(vec![b"t1ix".to_vec(), b"t1iy".to_vec(), b"t0".to_vec(), b"t2".to_vec(), Vec::new()]),
                 prop::collection::vec(prop::sample::select(vec![0u8, 1, 2, 255]), 0..12),
                 0u64..4),
                1..30,
            ),
        ) {
            let users: Vec<Vec<u8>> = std::mem::take(&mut keys)
                .into_iter()
                .map(|(p, s)| [p, s].concat())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let mut b = BlockBuilder::default();
            for (i, u) in users.iter().enumerate() {
                b.add(&internal_key(u, 2, ValueKind::Put as u8), &(i as u32).to_le_bytes());
            }
            let block = std::sync::Arc::new(Block::new(b.finish()).map_err(|e| TestCaseError::fail(e.0))?);
            let Some(p) = Prefixes::build(&block) else {
                return Ok(());
            };
            for (prefix, suffix, seq) in targets {
                let target = internal_key(&[prefix, suffix].concat(), seq, ValueKind::SEEK);
                let mut want = BlockIter::new(std::sync::Arc::clone(&block));
                want.seek(&target, key::compare).map_err(|e| TestCaseError::fail(e.0))?;
                let mut got = BlockIter::new(std::sync::Arc::clone(&block));
                // The restart a binary search over the block would start from.
                let mut brute = 0;
                for i in 0..block.restart_count() {
                    let k = block.restart_key(i).map_err(|e| TestCaseError::fail(e.0))?;
                    if key::compare(k, &target) == Ordering::Less {
                        brute = i;
                    }
                }
                match p.last_below(&block, &target, key::compare).map_err(|e| TestCaseError::fail(e.0))? {
                    Some(i) => {
                        prop_assert_eq!(i, brute);
                        got.seek_after_restart(i, &target, key::compare)
                    }
                    None => got.seek(&target, key::compare),
                }
                .map_err(|e| TestCaseError::fail(e.0))?;
                prop_assert_eq!(got.valid(), want.valid());
                if want.valid() {
                    prop_assert_eq!(got.key(), want.key());
                }
            }
        }
    }
}
