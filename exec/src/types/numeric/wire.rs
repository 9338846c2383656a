//! `numeric`'s binary wire form (PostgreSQL's numeric_send / numeric_recv): base-10000
//! digits with a weight, a sign word and the display scale. Stored rows use it too, so
//! decoding a small value must not allocate.

use super::{pow10, pow10_i128, Numeric, Repr};
use crate::error::{code, Error, Result};
use bigdecimal::num_bigint::BigInt;
use bigdecimal::num_traits::{Signed, ToPrimitive, Zero};

impl Numeric {
    /// PostgreSQL's base-10000 digits: (weight, digits), stripped of leading/trailing zeros.
    pub fn base10000(&self) -> (i16, Vec<i16>) {
        let mut groups: Vec<i16> = Vec::new(); // least significant first
        let s = match &self.0 {
            Repr::Small(m, s) => {
                let s4 = (s + 3) / 4 * 4;
                // At most 10^3 times an i64: within a u128.
                let up = pow10_i128(s4 - s).map_or(1, |p| p as u128);
                let mut mag = u128::from(m.unsigned_abs()) * up;
                while mag != 0 {
                    groups.push((mag % 10_000) as i16);
                    mag /= 10_000;
                }
                *s
            }
            Repr::Big(d) => {
                let (m, s) = d.as_bigint_and_exponent();
                let s = s.max(0);
                let s4 = (s + 3) / 4 * 4;
                let mut mag = m.abs() * pow10((s4 - s) as u64);
                let base = BigInt::from(10_000u16);
                while !mag.is_zero() {
                    groups.push((&mag % &base).to_i16().unwrap_or(0));
                    mag /= &base;
                }
                s
            }
            _ => return (0, Vec::new()),
        };
        let s4 = (s + 3) / 4 * 4;
        if groups.is_empty() {
            return (0, Vec::new());
        }
        let frac_groups = s4 / 4;
        let weight = groups.len() as i64 - 1 - frac_groups;
        groups.reverse();
        while groups.last() == Some(&0) {
            groups.pop();
        }
        (
            weight.clamp(i16::MIN as i64, i16::MAX as i64) as i16,
            groups,
        )
    }

    /// The binary wire form (numeric_send).
    pub fn to_binary(&self, out: &mut Vec<u8>) {
        let (weight, digits) = self.base10000();
        let sign: u16 = match self.0 {
            Repr::NaN => 0xC000,
            Repr::PosInf => 0xD000,
            Repr::NegInf => 0xF000,
            _ if self.signum() < 0 => 0x4000,
            _ => 0,
        };
        out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&(self.scale().clamp(0, 0x3FFF) as u16).to_be_bytes());
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
    }

    /// Parses the binary wire form (numeric_recv).
    pub fn from_binary(b: &[u8]) -> Result<Numeric> {
        let bad = |m: &str| Error::new(code::INVALID_BINARY_REPRESENTATION, m.to_string());
        let h = |i: usize| -> Result<[u8; 2]> {
            b.get(i..i + 2)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| bad("insufficient data left in message"))
        };
        let ndigits = i16::from_be_bytes(h(0)?);
        let weight = i16::from_be_bytes(h(2)?);
        let sign = u16::from_be_bytes(h(4)?);
        let dscale = u16::from_be_bytes(h(6)?);
        if ndigits < 0 {
            return Err(bad("invalid length in external \"numeric\" value"));
        }
        if b.len() != 8 + 2 * ndigits as usize {
            return Err(bad("incorrect binary data format"));
        }
        match sign {
            0xC000 => return Ok(Numeric::nan()),
            0xD000 => return Ok(Numeric::infinity()),
            0xF000 => return Ok(Numeric::neg_infinity()),
            0 | 0x4000 => {}
            _ => return Err(bad("invalid sign in external \"numeric\" value")),
        }
        if dscale & 0x3FFF != dscale {
            return Err(bad("invalid scale in external \"numeric\" value"));
        }
        // Base-10000 digits, gathered in a u128 while they fit (9 digits: < 10^36).
        let mut m = BigInt::zero();
        let mut small = 0u128;
        for i in 0..ndigits as usize {
            let d = i16::from_be_bytes(h(8 + 2 * i)?);
            if !(0..10_000).contains(&d) {
                return Err(bad("invalid digit in external \"numeric\" value"));
            }
            if ndigits <= 9 {
                small = small * 10_000 + d as u128;
            } else {
                m = m * 10_000u16 + BigInt::from(d);
            }
        }
        // value = m * 10000^(weight - ndigits + 1)
        let exp10 = 4 * (i64::from(weight) - i64::from(ndigits) + 1);
        if ndigits <= 9 {
            // Brought to the display scale in the u128 when it fits (the usual case).
            let (scale, ds) = (-exp10, i64::from(dscale));
            let pow = |k: i64| u32::try_from(k).ok().and_then(|k| 10u128.checked_pow(k));
            let at_scale = if scale >= ds {
                Some(pow(scale - ds).map_or(0, |p| small / p))
            } else {
                pow(ds - scale).and_then(|p| small.checked_mul(p))
            };
            if let Some(m) = at_scale.and_then(|mag| i128::try_from(mag).ok()) {
                let m = if sign == 0x4000 { -m } else { m };
                return Ok(Numeric::from_i128(m, ds));
            }
            m = BigInt::from(small);
        }
        if sign == 0x4000 {
            m = -m;
        }
        let n = Numeric::from_parts(m, -exp10);
        Ok(n.trunc_to(i64::from(dscale)))
    }
}
