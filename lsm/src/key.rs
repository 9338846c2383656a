//! Internal keys: a user key followed by an 8-byte trailer `(seq << 8) | kind`, little-endian.
//!
//! Order: user key ascending (bytewise), then trailer descending, so the newest version of a
//! key comes first and a seek to `(key, snapshot)` lands on the newest version visible at the
//! snapshot. Sequence numbers use 56 bits.
#![deny(clippy::indexing_slicing)]

use std::cmp::Ordering;

/// Bytes of the trailer after the user key.
pub const TRAILER_LEN: usize = 8;
/// The largest sequence number.
pub const MAX_SEQ: u64 = (1 << 56) - 1;

/// What an entry records about its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum ValueKind {
    /// The key was deleted at this sequence number.
    Delete = 0,
    /// The key was set to the entry's value.
    Put = 1,
    /// Batches only: every key from the op's key up to its value (exclusive) was deleted.
    /// Never stored as an entry: memtables and tables keep range tombstones apart.
    RangeDelete = 2,
}

impl ValueKind {
    /// The kind of a trailer's low byte.
    pub fn from_u8(b: u8) -> Option<ValueKind> {
        match b {
            0 => Some(ValueKind::Delete),
            1 => Some(ValueKind::Put),
            2 => Some(ValueKind::RangeDelete),
            _ => None,
        }
    }

    /// The highest kind value: seeking with it finds every entry of a sequence number.
    pub const SEEK: u8 = 0xff;
}

/// Packs a sequence number and a kind byte into a trailer.
pub fn trailer(seq: u64, kind: u8) -> u64 {
    (seq.min(MAX_SEQ) << 8) | u64::from(kind)
}

/// Builds an internal key.
pub fn internal_key(user_key: &[u8], seq: u64, kind: u8) -> Vec<u8> {
    let mut k = Vec::with_capacity(user_key.len() + TRAILER_LEN);
    k.extend_from_slice(user_key);
    k.extend_from_slice(&trailer(seq, kind).to_le_bytes());
    k
}

/// The parts of an internal key; `None` if it is shorter than a trailer.
pub fn split(ikey: &[u8]) -> Option<(&[u8], u64, u8)> {
    let cut = ikey.len().checked_sub(TRAILER_LEN)?;
    let (user, tail) = ikey.split_at(cut);
    let t = u64::from_le_bytes(tail.try_into().ok()?);
    Some((user, t >> 8, (t & 0xff) as u8))
}

/// The user key of an internal key (all of it if malformed).
pub fn user_key(ikey: &[u8]) -> &[u8] {
    split(ikey).map_or(ikey, |(u, _, _)| u)
}

/// Bytewise comparison, eight bytes at a time inline (a skiplist search compares dozens of
/// short keys, a scan checks each key against its bounds: a `memcmp` call each cost more
/// than the comparison).
#[inline]
pub fn compare_bytes(a: &[u8], b: &[u8]) -> Ordering {
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let (x, y) = (
            u64::from_be_bytes(x.try_into().unwrap_or_default()),
            u64::from_be_bytes(y.try_into().unwrap_or_default()),
        );
        if x != y {
            return x.cmp(&y);
        }
    }
    // What is left of the shorter is under eight bytes. Zero-padded, the two words order the
    // keys wherever their bytes differ; they are equal only when the shorter is a prefix of
    // the longer and the longer's next bytes in the word are zeros, and then the shorter
    // comes first.
    let done = a.len().min(b.len()) / 8 * 8;
    let (ra, rb) = (
        a.get(done..).unwrap_or_default(),
        b.get(done..).unwrap_or_default(),
    );
    padded_word(ra)
        .cmp(&padded_word(rb))
        .then(ra.len().cmp(&rb.len()))
}

/// The first eight bytes of `b` as a big-endian word, zero-padded.
#[inline]
pub(crate) fn padded_word(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    let n = b.len().min(8);
    if let (Some(dst), Some(src)) = (w.get_mut(..n), b.get(..n)) {
        dst.copy_from_slice(src);
    }
    u64::from_be_bytes(w)
}

/// Compares internal keys: user key ascending, then trailer descending.
pub fn compare(a: &[u8], b: &[u8]) -> Ordering {
    match (split(a), split(b)) {
        (Some((ua, sa, ka)), Some((ub, sb, kb))) => {
            compare_bytes(ua, ub).then_with(|| trailer(sb, kb).cmp(&trailer(sa, ka)))
        }
        _ => a.cmp(b),
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests cut the keys they made
mod tests {
    use super::*;

    #[test]
    fn newer_versions_sort_first_and_prefixes_sort_by_user_key() {
        let a_new = internal_key(b"a", 9, ValueKind::Put as u8);
        let a_old = internal_key(b"a", 3, ValueKind::Put as u8);
        let ab = internal_key(b"ab", 100, ValueKind::Put as u8);
        assert_eq!(compare(&a_new, &a_old), Ordering::Less);
        assert_eq!(
            compare(&a_old, &ab),
            Ordering::Less,
            "\"a\" < \"ab\" whatever the trailers"
        );
        let seek = internal_key(b"a", 5, ValueKind::SEEK);
        assert_eq!(compare(&seek, &a_old), Ordering::Less);
        assert_eq!(compare(&a_new, &seek), Ordering::Less);
        assert_eq!(split(&a_new), Some((&b"a"[..], 9, 1)));
        assert_eq!(split(b"short"), None);
    }

    proptest::proptest! {
        /// Against the slice comparison, on keys cut from one base (so one is often a prefix
        /// of the other) with a tail of zeros and ones (so a zero-padded word meets real
        /// zeros), of lengths around the word size.
        #[test]
        fn byte_comparison_is_slice_comparison(
            base in proptest::collection::vec(0u8..3, 0..30),
            cut_a in 0usize..30,
            cut_b in 0usize..30,
            tail in proptest::collection::vec(0u8..2, 0..10),
        ) {
            let a = &base[..cut_a.min(base.len())];
            let mut b = base[..cut_b.min(base.len())].to_vec();
            b.extend_from_slice(&tail);
            proptest::prop_assert_eq!(compare_bytes(a, &b), a.cmp(&b));
            proptest::prop_assert_eq!(compare_bytes(&b, a), b.as_slice().cmp(a));
            proptest::prop_assert_eq!(compare_bytes(a, a), std::cmp::Ordering::Equal);
        }
    }
}
