//! Cutting a key range into pieces of about equal size, for scans that read the pieces on
//! several threads at once (a parallel query).
//!
//! Sizes come from the tables' index blocks (each data block's last key and its size), read
//! only over the range, so the cut reads no data and costs what the range spans. Memtables
//! are not counted (one holds every table of a keyspace, with no sizes by range): their rows
//! fall in whichever piece holds their keys. The pieces are only balanced as well as the
//! tables' blocks show; every key of the range is in exactly one piece whatever the cut.

use std::ops::Bound;

use super::Db;
use crate::batch::KeyspaceId;
use crate::{Error, Result};

/// Where a key range may be cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySplit {
    /// Cut points, ascending, each strictly inside the range: piece `i` holds the keys from
    /// cut `i - 1` (included) to cut `i` (excluded).
    pub cuts: Vec<Vec<u8>>,
    /// Estimated bytes stored in the range: the tables' blocks overlapping it (compressed;
    /// memtables not counted).
    pub bytes: u64,
}

/// Whether a block ending at `last` reaches the range starting at `lo`.
fn past_lo(lo: &Bound<Vec<u8>>, last: &[u8]) -> bool {
    match lo {
        Bound::Included(l) => last >= l.as_slice(),
        Bound::Excluded(l) => last > l.as_slice(),
        Bound::Unbounded => true,
    }
}

/// Whether keys after `k` may still be in the range ending at `hi`.
fn below_hi(hi: &Bound<Vec<u8>>, k: &[u8]) -> bool {
    match hi {
        Bound::Included(h) | Bound::Excluded(h) => k < h.as_slice(),
        Bound::Unbounded => true,
    }
}

impl Db {
    /// Cut points dividing `range` of `keyspace` into at most `pieces` pieces of about equal
    /// stored size.
    pub fn split_keys(
        &self,
        keyspace: KeyspaceId,
        range: &(Bound<Vec<u8>>, Bound<Vec<u8>>),
        pieces: usize,
    ) -> Result<KeySplit> {
        let tables = {
            let trees = self.inner.trees();
            let tree = trees
                .keyspaces
                .get(&keyspace)
                .ok_or(Error::UnknownKeyspace(keyspace))?;
            std::sync::Arc::clone(&tree.tables)
        };
        let (lo, hi) = range;
        // (block's last key, its bytes) of every block that may hold keys of the range: a
        // block holds the keys after the previous block's last, up to its own last.
        let mut blocks = Vec::new();
        let from = match lo {
            Bound::Included(l) | Bound::Excluded(l) => Some(l.as_slice()),
            Bound::Unbounded => None,
        };
        let until = match hi {
            Bound::Included(h) | Bound::Excluded(h) => Some(h.as_slice()),
            Bound::Unbounded => None,
        };
        for t in tables.iter() {
            let starts_below_hi = match hi {
                Bound::Included(h) => t.smallest_user() <= h.as_slice(),
                Bound::Excluded(h) => t.smallest_user() < h.as_slice(),
                Bound::Unbounded => true,
            };
            if !starts_below_hi || !past_lo(lo, t.largest_user()) {
                continue;
            }
            for (last, size) in t.table.block_bounds(from, until)? {
                if past_lo(lo, &last) {
                    blocks.push((last, size));
                }
            }
        }
        blocks.sort();
        let stored: u64 = blocks.iter().map(|(_, s)| s).sum();
        let mut cuts: Vec<Vec<u8>> = Vec::new();
        if pieces > 1 && stored > 0 {
            let step = stored / pieces as u64;
            let mut acc = 0u64;
            let mut next = step;
            for (last, size) in &blocks {
                acc += size;
                if acc >= next && cuts.len() + 1 < pieces {
                    // Cut after the block's last key: the smallest key greater than it.
                    let mut cut = last.clone();
                    cut.push(0);
                    if below_hi(hi, &cut) && cuts.last().is_none_or(|c| *c < cut) {
                        cuts.push(cut);
                    }
                    while next <= acc {
                        next += step.max(1);
                    }
                }
            }
        }
        Ok(KeySplit {
            cuts,
            bytes: stored,
        })
    }
}
