//! Stored values as sort keys: the bytes of a column in a stored row (`crate::row`) turned
//! into an `i128` that orders as `Value::compare` orders the values (`batch_filter`), or that
//! is the value itself at a scale (`batch_agg`). None wherever no key holds a value exactly;
//! callers then leave it to the row path.

use crate::row::varint;
use crate::types::DataType;

const USECS_PER_DAY: i128 = 86_400_000_000;

/// Walks a stored row (`crate::row`) for the columns `ids` names, telling `found` each one's
/// position in `ids` and byte span (`None`: NULL); a column the row lacks is not told (it is
/// NULL). False when the row is malformed.
pub(crate) fn locate(
    stored: &[u8],
    ids: impl Iterator<Item = u64> + Clone,
    mut found: impl FnMut(usize, Option<(u32, u32)>),
) -> bool {
    let mut pos = 0usize;
    let mut left = ids.clone().count();
    while pos < stored.len() && left > 0 {
        let (Some(id), Some(len)) = (varint(stored, &mut pos), varint(stored, &mut pos)) else {
            return false;
        };
        let span = match len.checked_sub(1) {
            None => None,
            Some(len) => {
                let Some(end) = usize::try_from(len).ok().and_then(|l| pos.checked_add(l)) else {
                    return false;
                };
                if end > stored.len() || end > u32::MAX as usize {
                    return false;
                }
                let s = (pos as u32, end as u32);
                pos = end;
                Some(s)
            }
        };
        if let Some(c) = ids.clone().position(|c| c == id) {
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
    } else {
        let d = 10i128.checked_pow(u32::try_from(-shift).ok()?)?;
        (digits % d == 0).then(|| digits / d)
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
