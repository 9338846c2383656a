//! Range deletions: a tombstone `[start, end)` at a sequence number hides every version of
//! every key in the range with a smaller sequence number, for readers at or above it.
//!
//! Tombstones live beside the point entries of the memtable or table written with them (a
//! table keeps its own in its properties block, clipped to the table's key range), so they
//! move down the levels with the data they hide and vanish at the bottom level like point
//! deletes. Readers look them up through [`Fragments`]: the tombstones cut into
//! non-overlapping pieces, each listing the sequence numbers that cover it, newest first. The
//! invariant that makes per-source lookups enough: for any user key, a newer source (memtable
//! before tables, L0 before L1, ...) holds only newer versions and tombstones than an older one
//! (compaction takes every overlapping table of the next level, and table key ranges include
//! their tombstones).
#![deny(clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::coding::{put_length_prefixed, put_varint, Reader};

/// One range deletion.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RangeTombstone {
    /// First user key deleted.
    pub start: Vec<u8>,
    /// First user key after the range (exclusive).
    pub end: Vec<u8>,
    /// The deletion's sequence number.
    pub seq: u64,
}

impl RangeTombstone {
    /// Whether the range holds no key.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// The part within `[lo, hi)` (`None` = unbounded), if any.
    pub fn clip(&self, lo: Option<&[u8]>, hi: Option<&[u8]>) -> Option<RangeTombstone> {
        let start = match lo {
            Some(lo) if lo > self.start.as_slice() => lo.to_vec(),
            _ => self.start.clone(),
        };
        let end = match hi {
            Some(hi) if hi < self.end.as_slice() => hi.to_vec(),
            _ => self.end.clone(),
        };
        let t = RangeTombstone {
            start,
            end,
            seq: self.seq,
        };
        (!t.is_empty()).then_some(t)
    }

    /// Appends the encoding: `start ‖ end` (each `len varint ‖ bytes`) ‖ `seq varint`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_length_prefixed(out, &self.start);
        put_length_prefixed(out, &self.end);
        put_varint(out, self.seq);
    }

    /// Reads one tombstone written by `encode_into`.
    pub fn decode_from(r: &mut Reader<'_>) -> Option<RangeTombstone> {
        Some(RangeTombstone {
            start: r.length_prefixed()?.to_vec(),
            end: r.length_prefixed()?.to_vec(),
            seq: r.varint()?,
        })
    }
}

/// A piece of the key space and the tombstones covering it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Piece {
    end: Vec<u8>,
    /// Newest first, no duplicates.
    seqs: Vec<u64>,
}

/// Tombstones cut into non-overlapping pieces, keyed by piece start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fragments {
    pieces: BTreeMap<Vec<u8>, Piece>,
}

impl Fragments {
    /// Fragments of `tombstones`.
    pub fn from_tombstones<'a>(tombstones: impl IntoIterator<Item = &'a RangeTombstone>) -> Self {
        let mut f = Fragments::default();
        for t in tombstones {
            f.add(t);
        }
        f
    }

    /// Whether no tombstone was added.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Cuts the piece containing `at` (if `at` falls strictly inside one) in two.
    fn split_at(&mut self, at: &[u8]) {
        let Some((start, piece)) = self
            .pieces
            .range::<[u8], _>((Bound::Unbounded, Bound::Excluded(at)))
            .next_back()
        else {
            return;
        };
        if piece.end.as_slice() <= at {
            return;
        }
        let start = start.clone();
        if let Some(piece) = self.pieces.get_mut(&start) {
            let right = Piece {
                end: std::mem::replace(&mut piece.end, at.to_vec()),
                seqs: piece.seqs.clone(),
            };
            self.pieces.insert(at.to_vec(), right);
        }
    }

    /// Adds a tombstone.
    pub fn add(&mut self, t: &RangeTombstone) {
        if t.is_empty() {
            return;
        }
        self.split_at(&t.start);
        self.split_at(&t.end);
        let inside: Vec<Vec<u8>> = self
            .pieces
            .range::<[u8], _>((
                Bound::Included(t.start.as_slice()),
                Bound::Excluded(t.end.as_slice()),
            ))
            .map(|(k, _)| k.clone())
            .collect();
        let mut cursor = t.start.clone();
        let mut gaps = Vec::new();
        for start in inside {
            if cursor < start {
                gaps.push((cursor.clone(), start.clone()));
            }
            if let Some(piece) = self.pieces.get_mut(&start) {
                if let Err(at) = piece.seqs.binary_search_by(|s| t.seq.cmp(s)) {
                    piece.seqs.insert(at, t.seq);
                }
                cursor = piece.end.clone();
            }
        }
        if cursor < t.end {
            gaps.push((cursor, t.end.clone()));
        }
        for (start, end) in gaps {
            self.pieces.insert(
                start,
                Piece {
                    end,
                    seqs: vec![t.seq],
                },
            );
        }
    }

    /// The newest sequence number `<= read_seq` of a tombstone covering `key`.
    pub fn covering(&self, key: &[u8], read_seq: u64) -> Option<u64> {
        let (_, piece) = self
            .pieces
            .range::<[u8], _>((Bound::Unbounded, Bound::Included(key)))
            .next_back()?;
        if piece.end.as_slice() <= key {
            return None;
        }
        piece.seqs.iter().copied().find(|&s| s <= read_seq)
    }

    /// Whether a tombstone visible at `read_seq` hides a version of `key` written at `seq`.
    pub fn hides(&self, key: &[u8], seq: u64, read_seq: u64) -> bool {
        !self.is_empty() && self.covering(key, read_seq).is_some_and(|d| d > seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(start: u8, end: u8, seq: u64) -> RangeTombstone {
        RangeTombstone {
            start: vec![start],
            end: vec![end],
            seq,
        }
    }

    proptest! {
        /// Fragments answer like a linear scan of the tombstones, for every key and reader.
        #[test]
        fn fragments_match_a_linear_scan(
            tombs in proptest::collection::vec((0u8..20, 0u8..20, 1u64..30), 0..12),
            reads in proptest::collection::vec((0u8..21, 0u64..32), 1..40),
        ) {
            let tombs: Vec<_> = tombs.into_iter().map(|(s, e, q)| t(s, e, q)).collect();
            let f = Fragments::from_tombstones(&tombs);
            for (k, read) in reads {
                let want = tombs
                    .iter()
                    .filter(|x| x.start.as_slice() <= [k].as_slice() && [k].as_slice() < x.end.as_slice() && x.seq <= read)
                    .map(|x| x.seq)
                    .max();
                prop_assert_eq!(f.covering(&[k], read), want, "key {} at {}", k, read);
            }
        }

        #[test]
        fn tombstones_round_trip(start in proptest::collection::vec(any::<u8>(), 0..8), end in proptest::collection::vec(any::<u8>(), 0..8), seq in any::<u64>()) {
            let tomb = RangeTombstone { start, end, seq };
            let mut out = Vec::new();
            tomb.encode_into(&mut out);
            let mut r = Reader::new(&out);
            prop_assert_eq!(RangeTombstone::decode_from(&mut r), Some(tomb));
            prop_assert!(r.is_empty());
        }
    }

    #[test]
    fn clipping_keeps_the_part_inside() {
        let x = t(2, 9, 5);
        assert_eq!(x.clip(Some(&[4]), None), Some(t(4, 9, 5)));
        assert_eq!(x.clip(None, Some(&[3])), Some(t(2, 3, 5)));
        assert_eq!(x.clip(Some(&[9]), None), None);
        assert_eq!(x.clip(Some(&[1]), Some(&[10])), Some(x.clone()));
        assert!(Fragments::from_tombstones(&[t(5, 5, 1)]).is_empty());
    }
}
