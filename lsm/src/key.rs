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

/// Compares internal keys: user key ascending, then trailer descending.
pub fn compare(a: &[u8], b: &[u8]) -> Ordering {
    match (split(a), split(b)) {
        (Some((ua, sa, ka)), Some((ub, sb, kb))) => ua
            .cmp(ub)
            .then_with(|| trailer(sb, kb).cmp(&trailer(sa, ka))),
        _ => a.cmp(b),
    }
}

#[cfg(test)]
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
}
