//! Stored values as sort keys: the bytes of a column in a stored row (`crate::row`) turned
//! into an `i128` that orders as `Value::compare` orders the values (`batch_filter`), or that
//! is the value itself at a scale (`batch_agg`). None wherever no key holds a value exactly;
//! callers then leave it to the row path.

use crate::row::varint;
use crate::types::DataType;

const USECS_PER_DAY: i128 = 86_400_000_000;

/// The columns a batch operator reads, by column id: each one's position among them, found
/// in one step per stored column (a row walk meets every column the row holds).
#[derive(Debug, Default)]
pub(crate) struct Slots {
    /// `by_id[id]` = position + 1 (0: not read), for ids below [`Slots::TABLE_MAX`].
    by_id: Vec<u16>,
    /// The ids in position order, when some id is too large for the table.
    ids: Option<Vec<u64>>,
    wanted: usize,
}

impl Slots {
    const TABLE_MAX: u64 = 4096;

    /// Positions of `ids` (the first, for an id named twice).
    pub(crate) fn new(ids: impl Iterator<Item = u64>) -> Slots {
        let ids: Vec<u64> = ids.collect();
        let mut slots = Slots {
            wanted: ids.len(),
            ..Slots::default()
        };
        match ids.iter().max() {
            Some(max) if *max >= Self::TABLE_MAX || ids.len() >= usize::from(u16::MAX) => {
                slots.ids = Some(ids);
            }
            max => {
                slots.by_id = vec![0; max.map_or(0, |m| *m as usize + 1)];
                for (pos, id) in ids.iter().enumerate().rev() {
                    if let Some(s) = slots.by_id.get_mut(*id as usize) {
                        *s = pos as u16 + 1;
                    }
                }
            }
        }
        slots
    }
}

/// Walks a stored row (`crate::row`) for the columns `slots` names, telling `found` each
/// one's position and byte span (`None`: NULL); a column the row lacks is not told (it is
/// NULL). False when the row is malformed.
pub(crate) fn locate(
    stored: &[u8],
    slots: &Slots,
    found: impl FnMut(usize, Option<(u32, u32)>),
) -> bool {
    match &slots.ids {
        Some(ids) => walk(
            stored,
            slots.wanted,
            |id| ids.iter().position(|c| *c == id),
            found,
        ),
        None => {
            let table = slots.by_id.as_slice();
            walk(
                stored,
                slots.wanted,
                |id| match usize::try_from(id).ok().and_then(|i| table.get(i)) {
                    Some(&s) if s > 0 => Some(usize::from(s) - 1),
                    _ => None,
                },
                found,
            )
        }
    }
}

/// [`locate`]'s walk, for one way of finding a column's position (so that the common one,
/// the table, is inlined into the loop).
#[inline(always)]
fn walk(
    stored: &[u8],
    mut left: usize,
    position: impl Fn(u64) -> Option<usize>,
    mut found: impl FnMut(usize, Option<(u32, u32)>),
) -> bool {
    if stored.len() > u32::MAX as usize {
        return false;
    }
    let mut pos = 0usize;
    while pos < stored.len() && left > 0 {
        // A column id and a length of one byte each, the usual case, read together.
        let (id, len) = match stored.get(pos..pos + 2) {
            Some(&[id, len]) if (id | len) < 0x80 => {
                pos += 2;
                (u64::from(id), u64::from(len))
            }
            _ => match (varint(stored, &mut pos), varint(stored, &mut pos)) {
                (Some(id), Some(len)) => (id, len),
                _ => return false,
            },
        };
        let span = match len.checked_sub(1) {
            None => None,
            Some(len) => {
                let Some(end) = usize::try_from(len).ok().and_then(|l| pos.checked_add(l)) else {
                    return false;
                };
                if end > stored.len() {
                    return false;
                }
                let s = (pos as u32, end as u32);
                pos = end;
                Some(s)
            }
        };
        if let Some(c) = position(id) {
            left -= 1;
            found(c, span);
        }
    }
    true
}

/// `digits * 10^-from` as an integer at scale `to`, if exact and in range.
pub(crate) fn rescale(digits: i128, from: i64, to: u32) -> Option<i128> {
    let shift = i64::from(to) - from;
    if shift >= 0 {
        digits.checked_mul(10i128.checked_pow(u32::try_from(shift).ok()?)?)
    } else if let (Ok(small), Ok(k)) = (u64::try_from(digits), u32::try_from(-shift)) {
        // The common case (a stored numeric's base-10000 digits one or two decimal places
        // finer than its scale), without i128's division (a library call per value).
        exact_div_small(small, k).and_then(|q| q.map(i128::from))
    } else {
        let d = 10i128.checked_pow(u32::try_from(-shift).ok()?)?;
        (digits % d == 0).then(|| digits / d)
    }
}

/// `x / 10^k` if exact (Some(None): not exact); the divisions by constants compile to
/// multiplications.
#[inline]
fn exact_div_small(x: u64, k: u32) -> Option<Option<u64>> {
    #[inline]
    fn by(x: u64, d: u64) -> Option<Option<u64>> {
        Some((x % d == 0).then_some(x / d))
    }
    match k {
        1 => by(x, 10),
        2 => by(x, 100),
        3 => by(x, 1_000),
        4 => by(x, 10_000),
        _ => match 10u64.checked_pow(k) {
            Some(d) => by(x, d),
            // 10^k is past u64 but not i128's range: only 0 divides by it exactly.
            None if 10i128.checked_pow(k).is_some() => Some((x == 0).then_some(0)),
            None => None,
        },
    }
}

/// A date as `ts_of` compares it (infinities at the ends of the timestamp range).
pub(crate) fn date_key(d: i32) -> i128 {
    match d {
        i32::MAX => i128::from(i64::MAX),
        i32::MIN => i128::from(i64::MIN),
        d => i128::from(d) * USECS_PER_DAY,
    }
}

/// PostgreSQL's float order as integers: -0 = 0, NaN = NaN above every number.
pub(crate) fn float_key(x: f64) -> i128 {
    if x.is_nan() {
        return i128::MAX;
    }
    let x = if x == 0.0 { 0.0 } else { x };
    let b = x.to_bits() as i64;
    i128::from(b ^ (((b >> 63) as u64) >> 1) as i64)
}

/// The key of a stored (binary wire form) value of `ty`; None when no key holds it exactly.
pub(crate) fn lane_key(ty: &DataType, scale: u32, b: &[u8]) -> Option<i128> {
    let pow = || 10i128.checked_pow(scale);
    Some(match ty {
        DataType::Int2 => i128::from(i16::from_be_bytes(b.try_into().ok()?)) * pow()?,
        DataType::Int4 => i128::from(i32::from_be_bytes(b.try_into().ok()?)) * pow()?,
        DataType::Int8 => i128::from(i64::from_be_bytes(b.try_into().ok()?)).checked_mul(pow()?)?,
        DataType::Numeric(_) => numeric_key(b, scale)?,
        DataType::Date => date_key(i32::from_be_bytes(b.try_into().ok()?)),
        DataType::Timestamp(_) | DataType::Timestamptz(_) => {
            i128::from(i64::from_be_bytes(b.try_into().ok()?))
        }
        DataType::Float4 => float_key(f64::from(f32::from_bits(u32::from_be_bytes(
            b.try_into().ok()?,
        )))),
        DataType::Float8 => float_key(f64::from_bits(u64::from_be_bytes(b.try_into().ok()?))),
        _ => return None,
    })
}

/// [`numeric_key`] of a value whose display scale is `scale` (None for any other): what
/// arithmetic on it yields then depends on the column's declared scale only.
pub(crate) fn numeric_at_scale(b: &[u8], scale: u32) -> Option<i128> {
    let dscale = u16::from_be_bytes(b.get(6..8)?.try_into().ok()?);
    if u32::from(dscale) != scale {
        return None;
    }
    numeric_key(b, scale)
}

/// A numeric's binary wire form (numeric_send) as an integer at `scale`: None for NaN and
/// the infinities, more than 9 base-10000 digits, digits finer than its display scale (as no
/// canonical encoding has), or a value finer than `scale`.
pub(crate) fn numeric_key(b: &[u8], scale: u32) -> Option<i128> {
    let word =
        |i: usize| -> Option<u16> { Some(u16::from_be_bytes(b.get(i..i + 2)?.try_into().ok()?)) };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(word(2)? as i16);
    let sign = word(4)?;
    let dscale = word(6)?;
    if ndigits > 9
        || b.len() != 8 + 2 * ndigits
        || !matches!(sign, 0 | 0x4000)
        || dscale & 0x3FFF != dscale
    {
        return None;
    }
    let mut m = 0i128;
    for i in 0..ndigits {
        let d = word(8 + 2 * i)?;
        if d >= 10_000 {
            return None;
        }
        m = m * 10_000 + i128::from(d);
    }
    // value = m * 10000^(weight - ndigits + 1) = m * 10^-from
    let from = -4 * (weight - ndigits as i64 + 1);
    // Digits finer than the display scale are dropped when the value is read
    // (`Numeric::from_binary`): such a value is left to that.
    rescale(m, from, u32::from(dscale))?;
    let v = rescale(m, from, scale)?;
    Some(if sign == 0x4000 { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A stored row's columns: (id, value or NULL), written as `crate::row` writes them.
    fn stored(cols: &[(u64, Option<Vec<u8>>)]) -> Vec<u8> {
        fn put(out: &mut Vec<u8>, mut v: u64) {
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
        let mut out = Vec::new();
        for (id, value) in cols {
            put(&mut out, *id);
            put(&mut out, value.as_ref().map_or(0, |v| v.len() as u64 + 1));
            out.extend_from_slice(value.as_deref().unwrap_or_default());
        }
        out
    }

    proptest! {
        /// The fast path against plain i128 arithmetic.
        #[test]
        fn rescale_matches_i128_arithmetic(
            digits in prop_oneof![Just(0i128), 0i128..100_000, any::<i64>().prop_map(i128::from), any::<i128>()],
            from in -3i64..30,
            to in 0u32..30,
        ) {
            let shift = i64::from(to) - from;
            let want = if shift >= 0 {
                10i128.checked_pow(shift as u32).and_then(|m| digits.checked_mul(m))
            } else {
                10i128.checked_pow((-shift) as u32).and_then(|d| (digits % d == 0).then(|| digits / d))
            };
            prop_assert_eq!(rescale(digits, from, to), want);
        }

        /// A numeric's wire form as an integer at a scale, against i128 arithmetic on the
        /// value it was made from: one to nine base-10000 digits, display scales above and
        /// below the one asked for.
        #[test]
        fn numeric_key_matches_i128_arithmetic(
            digits in prop_oneof![0i128..100_000, any::<i64>().prop_map(i128::from), -(10i128.pow(30))..10i128.pow(30)],
            dscale in 0i64..8,
            scale in 0u32..10,
        ) {
            let mut b = Vec::new();
            crate::types::Value::Numeric(crate::types::Numeric::from_i128(digits, dscale)).to_binary(&mut b);
            let shift = i64::from(scale) - dscale;
            let want = if shift >= 0 {
                10i128.checked_pow(shift as u32).and_then(|m| digits.checked_mul(m))
            } else {
                let d = 10i128.pow((-shift) as u32);
                (digits % d == 0).then(|| digits / d)
            };
            prop_assert_eq!(numeric_key(&b, scale), want, "{:?}", b);
        }

        /// Against a linear search of the wanted ids: small ids (the table) and large ones
        /// (the list), an id wanted twice, columns of the row not wanted, and NULLs.
        #[test]
        fn locate_finds_what_a_linear_search_finds(
            row in proptest::collection::btree_map(
                prop_oneof![0u64..12, 4000u64..4004],
                // Lengths of one varint byte and of two (126 bytes and more).
                proptest::option::of(prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..5),
                    proptest::collection::vec(any::<u8>(), 124..130),
                ]),
                0..12,
            ),
            wanted in proptest::collection::vec(prop_oneof![0u64..12, 4000u64..4004], 0..8),
        ) {
            let cols: Vec<(u64, Option<Vec<u8>>)> = row.into_iter().collect();
            let bytes = stored(&cols);
            let slots = Slots::new(wanted.iter().copied());
            let mut got: Vec<Option<Option<Vec<u8>>>> = vec![None; wanted.len()];
            let ok = locate(&bytes, &slots, |c, span| {
                got[c] = Some(span.map(|(a, b)| bytes[a as usize..b as usize].to_vec()));
            });
            prop_assert!(ok);
            for (pos, id) in wanted.iter().enumerate() {
                let first = wanted.iter().position(|w| w == id) == Some(pos);
                let want = cols.iter().find(|(c, _)| c == id).map(|(_, v)| v.clone());
                prop_assert_eq!(&got[pos], &if first { want } else { None }, "id {}", id);
            }
        }
    }
}
