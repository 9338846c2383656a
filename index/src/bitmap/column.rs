//! Bitmap indexes of SQL columns: the key layout in the LSM and the AND/OR trees evaluated
//! over roaring bitmaps.
//!
//! Every row of a table with a bitmap index gets an *ordinal*, a `u64` handed out once (from
//! a counter outside transactions: numbers may skip, never repeat). The ordinal is the id the
//! bitmaps hold; two maps under the table's ordinal prefix `O` tie it to the row's storage key
//! suffix `S`, and each index `I` keeps one posting per row:
//!
//! ```text
//! O ‖ 0x00 ‖ S            → ordinal (8 bytes, big-endian)   the row's ordinal
//! O ‖ 0x01 ‖ ordinal (BE) → S                               the ordinal's row
//! I ‖ value key ‖ ordinal → (empty)                         a posting
//! ```
//!
//! All of it is written in the statement's transaction, so a snapshot sees postings and rows
//! that agree, and no key is shared by two rows: concurrent inserts never conflict on an
//! index, however few distinct values it has. A value's postings are one contiguous key
//! range in ordinal order, so reading them builds its bitmap by appending.
//!
//! The caller (the SQL executor) owns the prefixes, the value encoding (memcomparable) and
//! the transaction; this module owns the bytes after the prefixes and the algebra.

use roaring::RoaringTreemap;

use crate::{Error, Result};

const ROW_TO_ORDINAL: u8 = 0;
const ORDINAL_TO_ROW: u8 = 1;

/// The key of a row's ordinal: `ordinals ‖ 0x00 ‖ row`.
pub fn ordinal_key(ordinals: &[u8], row: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(ordinals.len() + 1 + row.len());
    k.extend_from_slice(ordinals);
    k.push(ROW_TO_ORDINAL);
    k.extend_from_slice(row);
    k
}

/// The key of an ordinal's row: `ordinals ‖ 0x01 ‖ ordinal`.
pub fn row_key(ordinals: &[u8], ordinal: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(ordinals.len() + 9);
    k.extend_from_slice(ordinals);
    k.push(ORDINAL_TO_ROW);
    k.extend_from_slice(&ordinal.to_be_bytes());
    k
}

/// The stored form of an ordinal (the value at [`ordinal_key`]).
pub fn encode_ordinal(ordinal: u64) -> [u8; 8] {
    ordinal.to_be_bytes()
}

/// Reads a value stored at [`ordinal_key`].
pub fn decode_ordinal(bytes: &[u8]) -> Result<u64> {
    let b: [u8; 8] = bytes
        .try_into()
        .map_err(|_| Error::Corrupt("bitmap index ordinal"))?;
    Ok(u64::from_be_bytes(b))
}

/// The key of a posting: `index ‖ value ‖ ordinal`.
pub fn posting_key(index: &[u8], value: &[u8], ordinal: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(index.len() + value.len() + 8);
    k.extend_from_slice(index);
    k.extend_from_slice(value);
    k.extend_from_slice(&ordinal.to_be_bytes());
    k
}

/// The bitmap of the postings whose keys `keys` yields, all under one `index ‖ value`
/// prefix of `prefix_len` bytes. A key of another length belongs to another value whose
/// encoding extends this one's, and is skipped.
pub fn collect<E>(
    prefix_len: usize,
    keys: impl Iterator<Item = std::result::Result<Vec<u8>, E>>,
) -> std::result::Result<RoaringTreemap, E> {
    let mut ordinals = Vec::new();
    for key in keys {
        let key = key?;
        let Some(tail) = key.get(prefix_len..) else {
            continue;
        };
        if let Ok(b) = <[u8; 8]>::try_from(tail) {
            ordinals.push(u64::from_be_bytes(b));
        }
    }
    // Keys come in order, so the ordinals are sorted (built in one pass); sort anyway
    // rather than trust it.
    if !ordinals.is_sorted() {
        ordinals.sort_unstable();
    }
    ordinals.dedup();
    Ok(RoaringTreemap::from_sorted_iter(ordinals).unwrap_or_default())
}

/// A condition over bitmap-indexed columns: leaves (a value set on one index) combined by
/// AND and OR.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond<L> {
    Leaf(L),
    And(Vec<Cond<L>>),
    Or(Vec<Cond<L>>),
}

/// How a condition's leaves are read.
pub trait Leaves<L> {
    type Error;
    /// Every ordinal the leaf holds (reading all its postings).
    fn scan(&mut self, leaf: &L) -> std::result::Result<RoaringTreemap, Self::Error>;
    /// The ordinals of `candidates` the leaf holds (one lookup per candidate and value).
    fn probe(
        &mut self,
        leaf: &L,
        candidates: &RoaringTreemap,
    ) -> std::result::Result<RoaringTreemap, Self::Error>;
    /// The postings a scan of the leaf would read (an estimate).
    fn postings(&self, leaf: &L) -> f64;
    /// The lookups a probe makes per candidate (the leaf's number of values).
    fn lookups(&self, leaf: &L) -> f64;
}

/// A lookup costs about this many postings read in a scan.
pub const LOOKUP_COST: f64 = 8.0;

impl<L> Cond<L> {
    /// The ordinals satisfying the condition (within `candidates`, when given).
    ///
    /// An AND reads its most selective part first and narrows the candidates part by part,
    /// stopping once none is left; a leaf given few candidates looks each up instead of
    /// reading all its postings, when that reads less ([`LOOKUP_COST`]).
    pub fn eval<S: Leaves<L>>(
        &self,
        src: &mut S,
        candidates: Option<&RoaringTreemap>,
    ) -> std::result::Result<RoaringTreemap, S::Error> {
        match self {
            Cond::Leaf(l) => match candidates {
                None => src.scan(l),
                Some(c) => {
                    let lookups = c.len() as f64 * src.lookups(l) * LOOKUP_COST;
                    if lookups < src.postings(l) {
                        src.probe(l, c)
                    } else {
                        Ok(src.scan(l)? & c)
                    }
                }
            },
            // An empty AND selects nothing (planners never make one).
            Cond::And(parts) if parts.is_empty() => Ok(RoaringTreemap::new()),
            Cond::And(parts) => {
                let mut order: Vec<&Cond<L>> = parts.iter().collect();
                order.sort_by(|a, b| a.postings(src).total_cmp(&b.postings(src)));
                let mut acc: Option<RoaringTreemap> = candidates.cloned();
                for p in order {
                    let next = p.eval(src, acc.as_ref())?;
                    if next.is_empty() {
                        return Ok(next);
                    }
                    acc = Some(next);
                }
                Ok(acc.unwrap_or_default())
            }
            Cond::Or(parts) => {
                let mut acc = RoaringTreemap::new();
                for p in parts {
                    acc |= p.eval(src, candidates)?;
                }
                Ok(acc)
            }
        }
    }

    /// The estimated ordinals the condition selects (an OR: the sum of its parts; an AND:
    /// its smallest part).
    pub fn postings<S: Leaves<L>>(&self, src: &S) -> f64 {
        match self {
            Cond::Leaf(l) => src.postings(l),
            Cond::And(parts) => parts
                .iter()
                .map(|p| p.postings(src))
                .fold(f64::INFINITY, f64::min),
            Cond::Or(parts) => parts.iter().map(|p| p.postings(src)).sum(),
        }
    }

    /// The leaves, left to right.
    pub fn leaves(&self) -> Vec<&L> {
        let mut out = Vec::new();
        self.walk(&mut out);
        out
    }

    fn walk<'a>(&'a self, out: &mut Vec<&'a L>) {
        match self {
            Cond::Leaf(l) => out.push(l),
            Cond::And(parts) | Cond::Or(parts) => parts.iter().for_each(|p| p.walk(out)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn key_layout() {
        assert_eq!(ordinal_key(b"O", b"row"), b"O\x00row");
        assert_eq!(row_key(b"O", 258), b"O\x01\0\0\0\0\0\0\x01\x02");
        assert_eq!(posting_key(b"I", b"v", 1), b"Iv\0\0\0\0\0\0\0\x01");
        assert_eq!(
            decode_ordinal(&encode_ordinal(u64::MAX)).ok(),
            Some(u64::MAX)
        );
        assert!(decode_ordinal(b"short").is_err());
    }

    #[test]
    fn collect_skips_other_values() {
        let keys = vec![
            posting_key(b"I", b"a", 3),
            posting_key(b"I", b"ab", 1),
            posting_key(b"I", b"a", 9),
        ];
        let set = collect::<()>(2, keys.into_iter().map(Ok)).unwrap_or_default();
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![3, 9]);
    }

    /// A random condition over leaves 0..4.
    fn cond() -> impl Strategy<Value = Cond<usize>> {
        let leaf = (0usize..4).prop_map(Cond::Leaf);
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Cond::And),
                prop::collection::vec(inner, 0..4).prop_map(Cond::Or),
            ]
        })
    }

    /// The model: sets of u64 combined by BTreeSet algebra (an empty AND is empty).
    fn model(c: &Cond<usize>, sets: &[BTreeSet<u64>]) -> BTreeSet<u64> {
        match c {
            Cond::Leaf(i) => sets[*i].clone(),
            Cond::And(parts) => {
                let mut it = parts.iter().map(|p| model(p, sets));
                match it.next() {
                    None => BTreeSet::new(),
                    Some(first) => it.fold(first, |a, b| a.intersection(&b).copied().collect()),
                }
            }
            Cond::Or(parts) => parts.iter().flat_map(|p| model(p, sets)).collect(),
        }
    }

    /// Leaves read from model sets, with arbitrary estimates (any estimate must give the
    /// exact answer; it only picks between scanning and probing).
    struct Model<'a> {
        sets: &'a [BTreeSet<u64>],
        estimates: &'a [f64],
        probes: usize,
    }

    impl Leaves<usize> for Model<'_> {
        type Error = ();
        fn scan(&mut self, leaf: &usize) -> std::result::Result<RoaringTreemap, ()> {
            Ok(self.sets[*leaf].iter().copied().collect())
        }
        fn probe(
            &mut self,
            leaf: &usize,
            candidates: &RoaringTreemap,
        ) -> std::result::Result<RoaringTreemap, ()> {
            self.probes += 1;
            Ok(candidates
                .iter()
                .filter(|o| self.sets[*leaf].contains(o))
                .collect())
        }
        fn postings(&self, leaf: &usize) -> f64 {
            self.estimates[*leaf]
        }
        fn lookups(&self, _: &usize) -> f64 {
            1.0
        }
    }

    #[test]
    fn a_small_candidate_set_is_probed() {
        let sets = [(0..1000).collect(), (0..1000).step_by(100).collect()];
        let estimates = [1000.0, 10.0];
        let mut src = Model {
            sets: &sets,
            estimates: &estimates,
            probes: 0,
        };
        let c = Cond::And(vec![Cond::Leaf(0), Cond::Leaf(1)]);
        let got = c.eval(&mut src, None).unwrap_or_default();
        assert_eq!(got.len(), 10);
        // The small leaf was read first, and the big one probed for its 10 candidates.
        assert_eq!(src.probes, 1);
    }

    proptest! {
        #[test]
        fn eval_matches_set_algebra(
            c in cond(),
            sets in prop::collection::vec(
                prop::collection::btree_set(prop_oneof![0u64..64, any::<u64>()], 0..40), 4),
            estimates in prop::collection::vec(0.0f64..100.0, 4),
            candidates in prop::option::of(prop::collection::btree_set(0u64..64, 0..40)),
        ) {
            let mut src = Model { sets: &sets, estimates: &estimates, probes: 0 };
            let given: Option<RoaringTreemap> =
                candidates.as_ref().map(|c| c.iter().copied().collect());
            let got: BTreeSet<u64> =
                c.eval(&mut src, given.as_ref()).unwrap_or_default().iter().collect();
            let mut want = model(&c, &sets);
            if let Some(cands) = &candidates {
                want = want.intersection(cands).copied().collect();
            }
            prop_assert_eq!(got, want);
        }

        #[test]
        fn collect_reads_back_what_was_posted(
            ords in prop::collection::btree_set(any::<u64>(), 0..100),
            value in prop::collection::vec(any::<u8>(), 0..6),
        ) {
            let keys = ords.iter().map(|o| Ok::<_, ()>(posting_key(b"IX", &value, *o)));
            let set = collect(2 + value.len(), keys).unwrap_or_default();
            prop_assert_eq!(set.iter().collect::<BTreeSet<_>>(), ords);
        }
    }
}
