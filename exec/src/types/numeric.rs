//! The `numeric` type: arbitrary-precision decimals with PostgreSQL's NaN and ±Infinity, the
//! display scale (`2.50` keeps its zero), rounding half away from zero, typmod checks, the
//! division and power scales of PostgreSQL, and the base-10000 binary wire format.
//!
//! A finite value whose digits fit an i64 (nearly every stored price, quantity or amount) is
//! held as `Small(digits, scale)`: decoding, adding, multiplying and comparing such values
//! allocate nothing. Invariant: a finite value is `Small` exactly when its digits at its scale
//! fit an i64 (every constructor goes through `finite`, `from_i128` or `from_i64`); `Big` holds
//! the rest.

use crate::error::{code, Error, Result};
use bigdecimal::num_bigint::{BigInt, Sign};
use bigdecimal::num_traits::{Signed, ToPrimitive, Zero};
use bigdecimal::BigDecimal;
use std::cmp::Ordering;

#[cfg(test)]
mod tests;
mod wire;

/// A `numeric` value. Finite values keep their display scale (never negative).
#[derive(Debug, Clone)]
pub struct Numeric(Repr);

#[derive(Debug, Clone)]
enum Repr {
    NaN,
    PosInf,
    NegInf,
    /// `digits * 10^-scale`, digits in an i64, scale >= 0.
    Small(i64, i64),
    /// A finite value whose digits do not fit an i64 (scale >= 0).
    Big(BigDecimal),
}

/// Equal values compare equal whatever their scales (`1.0 = 1.00`), as `cmp_total` orders them.
impl PartialEq for Numeric {
    fn eq(&self, other: &Numeric) -> bool {
        self.cmp_total(other) == Ordering::Equal
    }
}

/// 10^k for k in 0..=38 (every power of ten an i128 holds).
const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// 10^k as an i128, if it fits.
fn pow10_i128(k: i64) -> Option<i128> {
    usize::try_from(k).ok().and_then(|k| POW10.get(k).copied())
}

/// PostgreSQL's NUMERIC_MIN_SIG_DIGITS.
const MIN_SIG_DIGITS: i64 = 16;
/// PostgreSQL's NUMERIC_MAX_DISPLAY_SCALE.
const MAX_DISPLAY_SCALE: i64 = 1000;

fn pow10(n: u64) -> BigInt {
    // Up to 10^38 fits a u128: one conversion instead of repeated big multiplications.
    match u32::try_from(n).ok().and_then(|n| 10u128.checked_pow(n)) {
        Some(p) => BigInt::from(p),
        None => num_pow(BigInt::from(10u8), n),
    }
}

fn num_pow(base: BigInt, mut n: u64) -> BigInt {
    let mut acc = BigInt::from(1u8);
    let mut b = base;
    while n > 0 {
        if n & 1 == 1 {
            acc *= &b;
        }
        n >>= 1;
        if n > 0 {
            b = &b * &b;
        }
    }
    acc
}

/// Divides `m` by 10^k rounding half away from zero.
fn div_pow10_round(m: &BigInt, k: u64) -> BigInt {
    if k == 0 {
        return m.clone();
    }
    let d = pow10(k);
    let q = m / &d;
    let r = m % &d;
    if r.abs() * 2u8 >= d {
        if m.is_negative() {
            q - 1u8
        } else {
            q + 1u8
        }
    } else {
        q
    }
}

impl Numeric {
    /// NaN.
    pub fn nan() -> Numeric {
        Numeric(Repr::NaN)
    }
    /// +Infinity.
    pub fn infinity() -> Numeric {
        Numeric(Repr::PosInf)
    }
    /// -Infinity.
    pub fn neg_infinity() -> Numeric {
        Numeric(Repr::NegInf)
    }
    /// `digits * 10^-scale`; a negative scale is folded into the digits.
    pub fn from_parts(digits: BigInt, scale: i64) -> Numeric {
        if scale < 0 {
            let m = digits * pow10(scale.unsigned_abs());
            Numeric::finite(m, 0)
        } else {
            Numeric::finite(digits, scale)
        }
    }
    /// A finite value of `digits` at `scale` (>= 0), small when the digits fit an i64.
    fn finite(digits: BigInt, scale: i64) -> Numeric {
        match digits.to_i64() {
            Some(m) => Numeric(Repr::Small(m, scale)),
            None => Numeric(Repr::Big(BigDecimal::new(digits, scale))),
        }
    }
    /// `digits * 10^-scale` (scale >= 0) from 128-bit digits.
    pub(crate) fn from_i128(digits: i128, scale: i64) -> Numeric {
        match i64::try_from(digits) {
            Ok(m) => Numeric(Repr::Small(m, scale)),
            Err(_) => Numeric(Repr::Big(BigDecimal::new(BigInt::from(digits), scale))),
        }
    }
    /// The value of an integer.
    pub fn from_i64(v: i64) -> Numeric {
        Numeric(Repr::Small(v, 0))
    }
    /// The decimal's value, for finite values.
    pub fn to_bigdecimal(&self) -> Option<BigDecimal> {
        match &self.0 {
            Repr::Small(m, s) => Some(BigDecimal::new(BigInt::from(*m), *s)),
            Repr::Big(d) => Some(d.clone()),
            _ => None,
        }
    }
    /// `(digits, scale)` of a finite value.
    pub(crate) fn parts(&self) -> Option<(BigInt, i64)> {
        match &self.0 {
            Repr::Small(m, s) => Some((BigInt::from(*m), *s)),
            Repr::Big(d) => Some(d.as_bigint_and_exponent()),
            _ => None,
        }
    }
    pub fn is_nan(&self) -> bool {
        matches!(self.0, Repr::NaN)
    }
    pub fn is_finite(&self) -> bool {
        matches!(self.0, Repr::Small(..) | Repr::Big(_))
    }
    /// +1 / -1 for ±Infinity, 0 otherwise.
    pub fn infinity_sign(&self) -> i8 {
        match self.0 {
            Repr::PosInf => 1,
            Repr::NegInf => -1,
            _ => 0,
        }
    }
    /// The display scale (0 for special values).
    pub fn scale(&self) -> i64 {
        match &self.0 {
            Repr::Small(_, s) => (*s).max(0),
            Repr::Big(d) => d.as_bigint_and_scale().1.max(0),
            _ => 0,
        }
    }
    /// The sign: -1, 0, 1 (NaN: 0).
    pub fn signum(&self) -> i32 {
        match &self.0 {
            Repr::NaN => 0,
            Repr::PosInf => 1,
            Repr::NegInf => -1,
            Repr::Small(m, _) => m.signum() as i32,
            Repr::Big(d) => match d.sign() {
                Sign::Minus => -1,
                Sign::NoSign => 0,
                Sign::Plus => 1,
            },
        }
    }

    /// PostgreSQL's numeric_in (whitespace trimmed). `None` on bad syntax.
    pub fn parse(s: &str) -> Option<Numeric> {
        let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
        let lower = t.to_ascii_lowercase();
        match lower.as_str() {
            "nan" => return Some(Numeric::nan()),
            "infinity" | "+infinity" | "inf" | "+inf" => return Some(Numeric::infinity()),
            "-infinity" | "-inf" => return Some(Numeric::neg_infinity()),
            _ => {}
        }
        let b = t.as_bytes();
        let mut i = 0;
        let mut neg = false;
        if let Some(&c) = b.first() {
            if c == b'+' || c == b'-' {
                neg = c == b'-';
                i = 1;
            }
        }
        let mut digits = String::new();
        let mut frac = 0i64;
        let mut seen_digit = false;
        let mut seen_point = false;
        while let Some(&c) = b.get(i) {
            if c.is_ascii_digit() {
                digits.push(c as char);
                seen_digit = true;
                if seen_point {
                    frac += 1;
                }
            } else if c == b'.' && !seen_point {
                seen_point = true;
            } else {
                break;
            }
            i += 1;
        }
        if !seen_digit {
            return None;
        }
        let mut exp = 0i64;
        if let Some(&c) = b.get(i) {
            if c != b'e' && c != b'E' {
                return None;
            }
            let rest = t.get(i + 1..)?;
            if rest.is_empty()
                || !rest
                    .trim_start_matches(['+', '-'])
                    .bytes()
                    .all(|c| c.is_ascii_digit())
                || rest.trim_start_matches(['+', '-']).is_empty()
                || rest.len() - rest.trim_start_matches(['+', '-']).len() > 1
            {
                return None;
            }
            exp = rest.parse::<i64>().ok()?;
            if exp.abs() > 1000 {
                return None;
            }
        }
        let mut m: BigInt = digits.parse().ok()?;
        if neg {
            m = -m;
        }
        let scale = (frac - exp).max(0);
        // value = m * 10^(exp - frac); with display scale max(0, frac - exp)
        let shift = exp - frac + scale;
        let m = m * pow10(shift.max(0) as u64);
        Some(Numeric::from_parts(m, scale))
    }

    /// Rounds to `scale` fractional digits, half away from zero (the scale becomes `scale`);
    /// a negative `scale` rounds to tens, hundreds, ... (scale 0).
    pub fn round_to(&self, scale: i64) -> Numeric {
        let Some((m, s)) = self.parts() else {
            return self.clone();
        };
        if scale < 0 {
            let m = div_pow10_round(&m, (s - scale) as u64) * pow10(scale.unsigned_abs());
            return Numeric::from_parts(m, 0);
        }
        if scale >= s {
            Numeric::from_parts(m * pow10((scale - s) as u64), scale)
        } else {
            Numeric::from_parts(div_pow10_round(&m, (s - scale) as u64), scale)
        }
    }

    /// Truncates toward zero to `scale` digits (a negative `scale`: to tens, hundreds, ...).
    pub fn trunc_to(&self, scale: i64) -> Numeric {
        let Some((m, s)) = self.parts() else {
            return self.clone();
        };
        if scale < 0 {
            let m = m / pow10((s - scale) as u64) * pow10(scale.unsigned_abs());
            return Numeric::from_parts(m, 0);
        }
        if scale >= s {
            Numeric::from_parts(m * pow10((scale - s) as u64), scale)
        } else {
            Numeric::from_parts(m / pow10((s - scale) as u64), scale)
        }
    }

    /// Removes trailing fractional zeros.
    pub fn normalize(&self) -> Numeric {
        let Some((mut m, mut s)) = self.parts() else {
            return self.clone();
        };
        let ten = BigInt::from(10u8);
        while s > 0 && (&m % &ten).is_zero() {
            m /= &ten;
            s -= 1;
        }
        Numeric::from_parts(m, s)
    }

    /// Applies numeric(p, s): rounds to `s` digits, then checks the integer digits fit.
    pub fn apply_typmod(&self, precision: u32, scale: u32) -> Result<Numeric> {
        let p = i64::from(precision);
        let s = i64::from(scale);
        match &self.0 {
            Repr::NaN => return Ok(self.clone()),
            Repr::PosInf | Repr::NegInf => {
                return Err(
                    Error::new(code::NUMERIC_VALUE_OUT_OF_RANGE, "numeric field overflow")
                        .with_detail(format!(
                            "A field with precision {p}, scale {s} cannot hold an infinite value."
                        )),
                )
            }
            Repr::Small(..) | Repr::Big(_) => {}
        }
        let r = self.round_to(s);
        let maxdigits = p - s;
        if let Some((m, _)) = r.parts() {
            let limit = pow10((maxdigits + s) as u64);
            if m.abs() >= limit {
                let bound = if maxdigits > 0 {
                    format!("10^{maxdigits}")
                } else {
                    "1".to_string()
                };
                return Err(Error::new(code::NUMERIC_VALUE_OUT_OF_RANGE, "numeric field overflow")
                    .with_detail(format!(
                        "A field with precision {p}, scale {s} must round to an absolute value less than {bound}."
                    )));
            }
        }
        Ok(r)
    }

    /// Rounds to an integer (half away from zero); `None` for NaN, infinities and overflow.
    pub fn to_i64(&self) -> Option<i64> {
        let (m, _) = self.round_to(0).parts()?;
        m.to_i64()
    }

    /// The nearest double (NaN and infinities map to theirs).
    pub fn to_f64(&self) -> f64 {
        match &self.0 {
            Repr::NaN => f64::NAN,
            Repr::PosInf => f64::INFINITY,
            Repr::NegInf => f64::NEG_INFINITY,
            // Both exact in a double, so one correctly rounded division (Clinger's fast path).
            Repr::Small(m, s) if m.unsigned_abs() < 1 << 53 && *s <= 22 => {
                *m as f64 / 10f64.powi(*s as i32)
            }
            _ => self.to_string().parse().unwrap_or(f64::NAN),
        }
    }

    /// float → numeric as PostgreSQL does: `digits` significant digits (15 for float8, 6 for
    /// float4), trailing zeros dropped.
    pub fn from_f64(v: f64, digits: usize) -> Numeric {
        if v.is_nan() {
            return Numeric::nan();
        }
        if v.is_infinite() {
            return if v > 0.0 {
                Numeric::infinity()
            } else {
                Numeric::neg_infinity()
            };
        }
        let s = format!("{:.*e}", digits.saturating_sub(1), v);
        Numeric::parse(&s)
            .map(|n| n.normalize())
            .unwrap_or_else(Numeric::nan)
    }

    /// PostgreSQL's total order: NaN greatest (and equal to itself), then +Infinity.
    pub fn cmp_total(&self, other: &Numeric) -> Ordering {
        fn rank(n: &Numeric) -> u8 {
            match n.0 {
                Repr::NegInf => 0,
                Repr::Small(..) | Repr::Big(_) => 1,
                Repr::PosInf => 2,
                Repr::NaN => 3,
            }
        }
        match (&self.0, &other.0) {
            (Repr::Small(a, sa), Repr::Small(b, sb)) => {
                let s = (*sa).max(*sb);
                let up =
                    |m: i64, by: i64| pow10_i128(by).and_then(|p| i128::from(m).checked_mul(p));
                match (up(*a, s - sa), up(*b, s - sb)) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    _ => self.to_bigdecimal().cmp(&other.to_bigdecimal()),
                }
            }
            (Repr::Small(..) | Repr::Big(_), Repr::Small(..) | Repr::Big(_)) => {
                self.to_bigdecimal().cmp(&other.to_bigdecimal())
            }
            _ => rank(self).cmp(&rank(other)),
        }
    }

    /// `(digits, scale)` of a finite value whose digits fit an i64 (most values).
    fn small(&self) -> Option<(i64, i64)> {
        match self.0 {
            Repr::Small(m, s) => Some((m, s)),
            _ => None,
        }
    }

    /// `a ± b` of two small values in 128-bit arithmetic (None if a scale gap is too wide to
    /// align there). Scales of finite values are never negative.
    fn add_small((a, sa): (i64, i64), (b, sb): (i64, i64), negate: bool) -> Option<Numeric> {
        let s = sa.max(sb);
        let up = |m: i64, by: i64| pow10_i128(by).and_then(|p| i128::from(m).checked_mul(p));
        let (a, b) = (up(a, s - sa)?, up(b, s - sb)?);
        let sum = if negate {
            a.checked_sub(b)?
        } else {
            a.checked_add(b)?
        };
        Some(Numeric::from_i128(sum, s))
    }

    fn aligned(&self, other: &Numeric) -> Option<(BigInt, BigInt, i64)> {
        let (a, sa) = self.parts()?;
        let (b, sb) = other.parts()?;
        let s = sa.max(sb);
        Some((a * pow10((s - sa) as u64), b * pow10((s - sb) as u64), s))
    }

    /// Addition (scale: the larger scale).
    pub fn add(&self, other: &Numeric) -> Numeric {
        if let (Some(a), Some(b)) = (self.small(), other.small()) {
            if let Some(sum) = Numeric::add_small(a, b, false) {
                return sum;
            }
        }
        match (&self.0, &other.0) {
            (Repr::Small(..) | Repr::Big(_), Repr::Small(..) | Repr::Big(_)) => {
                match self.aligned(other) {
                    Some((a, b, s)) => Numeric::from_parts(a + b, s),
                    None => Numeric::nan(),
                }
            }
            (Repr::NaN, _) | (_, Repr::NaN) => Numeric::nan(),
            (Repr::PosInf, Repr::NegInf) | (Repr::NegInf, Repr::PosInf) => Numeric::nan(),
            (Repr::PosInf, _) | (_, Repr::PosInf) => Numeric::infinity(),
            _ => Numeric::neg_infinity(),
        }
    }

    /// Negation.
    pub fn neg(&self) -> Numeric {
        match &self.0 {
            Repr::NaN => Numeric::nan(),
            Repr::PosInf => Numeric::neg_infinity(),
            Repr::NegInf => Numeric::infinity(),
            Repr::Small(m, s) => Numeric::from_i128(-i128::from(*m), *s),
            Repr::Big(d) => {
                let (m, s) = d.as_bigint_and_exponent();
                Numeric::from_parts(-m, s)
            }
        }
    }

    /// Subtraction.
    pub fn sub(&self, other: &Numeric) -> Numeric {
        if let (Some(a), Some(b)) = (self.small(), other.small()) {
            if let Some(difference) = Numeric::add_small(a, b, true) {
                return difference;
            }
        }
        self.add(&other.neg())
    }

    /// Multiplication (scale: the sum of the scales).
    pub fn mul(&self, other: &Numeric) -> Numeric {
        if let (Some((a, sa)), Some((b, sb))) = (self.small(), other.small()) {
            // Two i64s multiply within an i128.
            let product = i128::from(a) * i128::from(b);
            return Numeric::from_i128(product, sa + sb);
        }
        match (self.parts(), other.parts()) {
            (Some((a, sa)), Some((b, sb))) => Numeric::from_parts(a * b, sa + sb),
            _ => {
                if self.is_nan() || other.is_nan() {
                    return Numeric::nan();
                }
                let sign = self.signum() * other.signum();
                match sign.cmp(&0) {
                    Ordering::Greater => Numeric::infinity(),
                    Ordering::Less => Numeric::neg_infinity(),
                    Ordering::Equal => Numeric::nan(),
                }
            }
        }
    }

    /// Base-10000 weight and first nonzero digit (PostgreSQL's representation).
    fn weight_first(&self) -> (i64, i64) {
        let (w, d) = self.base10000();
        match d.iter().position(|&x| x != 0) {
            Some(i) => (
                w as i64 - i as i64,
                i64::from(d.get(i).copied().unwrap_or(0)),
            ),
            None => (0, 0),
        }
    }

    /// Division with PostgreSQL's result scale (select_div_scale).
    pub fn div(&self, other: &Numeric) -> Result<Numeric> {
        if self.is_nan() || other.is_nan() {
            return Ok(Numeric::nan());
        }
        if other.signum() == 0 && other.is_finite() {
            return Err(Error::new(code::DIVISION_BY_ZERO, "division by zero"));
        }
        match (self.parts(), other.parts()) {
            (Some((a, sa)), Some((b, sb))) => {
                let (w1, f1) = self.weight_first();
                let (w2, f2) = other.weight_first();
                let mut qweight = w1 - w2;
                if f1 <= f2 {
                    qweight -= 1;
                }
                let rscale = (MIN_SIG_DIGITS - qweight * 4)
                    .max(sa)
                    .max(sb)
                    .clamp(0, MAX_DISPLAY_SCALE);
                Ok(Numeric::div_to_scale(&a, sa, &b, sb, rscale))
            }
            (Some(_), None) => Ok(Numeric::from_i64(0)),
            (None, Some(_)) => Ok(if self.signum() * other.signum() > 0 {
                Numeric::infinity()
            } else {
                Numeric::neg_infinity()
            }),
            (None, None) => Ok(Numeric::nan()),
        }
    }

    /// (a/10^sa) / (b/10^sb) rounded half away from zero to `rscale`.
    fn div_to_scale(a: &BigInt, sa: i64, b: &BigInt, sb: i64, rscale: i64) -> Numeric {
        // q = a * 10^(rscale + sb - sa + 1) / b, then round off the extra digit.
        let shift = rscale + sb - sa + 1;
        let (num, den) = if shift >= 0 {
            (a * pow10(shift as u64), b.clone())
        } else {
            (a.clone(), b * pow10(shift.unsigned_abs()))
        };
        let q = &num / &den;
        Numeric::from_parts(div_pow10_round(&q, 1), rscale)
    }

    /// The square root rounded (half away from zero) to `rscale` digits after the point,
    /// as PostgreSQL's `sqrt_var`; `None` for a negative number. NaN and +Infinity are their
    /// own roots.
    pub fn sqrt_to(&self, rscale: i64) -> Option<Numeric> {
        if self.signum() < 0 {
            return None;
        }
        let Some((a, s)) = self.parts() else {
            return Some(self.clone());
        };
        let rscale = rscale.clamp(0, MAX_DISPLAY_SCALE);
        // sqrt(a / 10^s) * 10^(rscale + 1) = sqrt(a * 10^(2 * rscale + 2 - s)).
        let shift = 2 * rscale + 2 - s;
        let n = if shift >= 0 {
            a * pow10(shift as u64)
        } else {
            a / pow10(shift.unsigned_abs())
        };
        Some(Numeric::from_parts(div_pow10_round(&n.sqrt(), 1), rscale))
    }

    /// Remainder of truncating division (sign of the dividend).
    pub fn rem(&self, other: &Numeric) -> Result<Numeric> {
        if self.is_nan() || other.is_nan() {
            return Ok(Numeric::nan());
        }
        if other.signum() == 0 && other.is_finite() {
            return Err(Error::new(code::DIVISION_BY_ZERO, "division by zero"));
        }
        match self.aligned(other) {
            Some((a, b, s)) => Ok(Numeric::from_parts(a % b, s)),
            None if !self.is_finite() => Ok(Numeric::nan()),
            None => Ok(self.clone()),
        }
    }

    /// `self ^ exp` with PostgreSQL's result scale (integer exponents exact, others via f64).
    pub fn pow(&self, exp: &Numeric) -> Result<Numeric> {
        if self.is_nan() || exp.is_nan() {
            return Ok(Numeric::nan());
        }
        if self.signum() == 0 && exp.signum() < 0 {
            return Err(Error::new(
                "2201F",
                "zero raised to a negative power is undefined",
            ));
        }
        let rscale = MIN_SIG_DIGITS.max(self.scale()).clamp(0, MAX_DISPLAY_SCALE);
        if let (Some((m, s)), Some(e)) = (self.parts(), exp.round_to(0).parts()) {
            let is_int = exp.cmp_total(&Numeric::from_parts(e.0.clone(), 0)) == Ordering::Equal;
            if let (true, Some(n)) = (is_int, e.0.to_i64()) {
                if n.unsigned_abs() <= 10_000
                    && (m.bits() as u128) * u128::from(n.unsigned_abs()) < 400_000
                {
                    let p = num_pow(m, n.unsigned_abs());
                    let ps = s * n.unsigned_abs() as i64;
                    if n >= 0 {
                        return Ok(Numeric::from_parts(p, ps).round_to(rscale));
                    }
                    let one = BigInt::from(1u8);
                    return Ok(Numeric::div_to_scale(&one, 0, &p, ps, rscale));
                }
            }
        }
        let b = self.to_f64();
        let e = exp.to_f64();
        if b < 0.0 && e.fract() != 0.0 {
            return Err(Error::new(
                "2201F",
                "a negative number raised to a non-integer power yields a complex result",
            ));
        }
        let r = b.powf(e);
        if r.is_infinite() && b.is_finite() && e.is_finite() {
            return Err(Error::new(
                code::NUMERIC_VALUE_OUT_OF_RANGE,
                "value overflows numeric format",
            ));
        }
        let n = Numeric::from_f64(r, 17);
        let w = if r != 0.0 && r.is_finite() {
            r.abs().log10().floor() as i64
        } else {
            0
        };
        let rs = (MIN_SIG_DIGITS - w)
            .max(self.scale())
            .max(exp.scale())
            .clamp(0, MAX_DISPLAY_SCALE);
        Ok(n.round_to(rs.min(15 - w).max(0)).round_to(rs))
    }
}

impl std::fmt::Display for Numeric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (digits, neg, s) = match &self.0 {
            Repr::Small(m, s) => (m.unsigned_abs().to_string(), *m < 0, *s),
            Repr::Big(d) => {
                let (m, s) = d.as_bigint_and_exponent();
                (m.abs().to_string(), m.is_negative(), s)
            }
            Repr::NaN => return f.write_str("NaN"),
            Repr::PosInf => return f.write_str("Infinity"),
            Repr::NegInf => return f.write_str("-Infinity"),
        };
        let s = s.max(0) as usize;
        let mut out = String::with_capacity(digits.len() + s + 3);
        if neg {
            out.push('-');
        }
        if s == 0 {
            out.push_str(&digits);
        } else if digits.len() > s {
            let (i, fr) = digits.split_at(digits.len() - s);
            out.push_str(i);
            out.push('.');
            out.push_str(fr);
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', s - digits.len()));
            out.push_str(&digits);
        }
        f.write_str(&out)
    }
}

impl PartialOrd for Numeric {
    fn partial_cmp(&self, other: &Numeric) -> Option<Ordering> {
        Some(self.cmp_total(other))
    }
}
