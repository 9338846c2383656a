//! Varints (LEB128) and fixed-width little-endian integers, with bounded decoders.
#![deny(clippy::indexing_slicing)]

/// Appends `v` as a LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes `put_varint` writes for `v`.
pub fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Decodes a varint at the start of `b`: `(value, bytes used)`, or `None` if truncated or
/// longer than ten bytes.
#[inline]
pub fn get_varint(b: &[u8]) -> Option<(u64, usize)> {
    // Block entries' lengths are almost always one byte.
    match b.first() {
        Some(&b0) if b0 < 0x80 => return Some((u64::from(b0), 1)),
        None => return None,
        _ => {}
    }
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f).checked_shl(7 * i as u32)?;
        if byte < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}

/// A little-endian u32 at `at`, if in bounds.
pub fn get_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// A little-endian u64 at `at`, if in bounds.
pub fn get_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// A cursor that decodes from a byte slice and reports truncation as `None`.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub fn varint(&mut self) -> Option<u64> {
        let (v, n) = get_varint(self.buf)?;
        self.buf = self.buf.get(n..)?;
        Some(v)
    }

    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let head = self.buf.get(..n)?;
        self.buf = self.buf.get(n..)?;
        Some(head)
    }

    /// A varint length followed by that many bytes.
    pub fn length_prefixed(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.varint()?).ok()?;
        self.bytes(n)
    }

    pub fn u64(&mut self) -> Option<u64> {
        let v = get_u64(self.buf, 0)?;
        self.buf = self.buf.get(8..)?;
        Some(v)
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
}

/// Appends a varint length and the bytes.
pub fn put_length_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index buffers they built
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(v in any::<u64>()) {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            prop_assert_eq!(get_varint(&out), Some((v, out.len())));
            prop_assert_eq!(varint_len(v), out.len());
            prop_assert_eq!(get_varint(&out[..out.len() - 1]), None);
        }

        #[test]
        fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..16)) {
            let _ = get_varint(&b);
            let mut r = Reader::new(&b);
            let _ = r.length_prefixed();
            let _ = r.u64();
        }
    }

    #[test]
    fn overlong_varints_are_refused() {
        assert_eq!(get_varint(&[0xff; 11]), None);
    }
}
