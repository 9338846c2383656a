//! Bit strings: `bit(n)` and `bit varying(n)` (PostgreSQL's `bit` / `varbit`), the result type
//! of pgvector's `binary_quantize` and the operand of `hamming_distance` / `jaccard_distance`.
//!
//! Invariants: `bytes` holds `len` bits most significant first, `ceil(len / 8)` bytes, and the
//! unused low bits of the last byte are zero (so equal strings have equal bytes).

use crate::error::{code, Error, Result};

/// A bit string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bits {
    pub len: u32,
    pub bytes: Vec<u8>,
}

impl Bits {
    /// From booleans, first bit first.
    pub fn from_bools(bits: impl IntoIterator<Item = bool>) -> Bits {
        let mut out = Bits {
            len: 0,
            bytes: Vec::new(),
        };
        for b in bits {
            if out.len % 8 == 0 {
                out.bytes.push(0);
            }
            if b {
                if let Some(last) = out.bytes.last_mut() {
                    *last |= 0x80 >> (out.len % 8);
                }
            }
            out.len += 1;
        }
        out
    }

    pub fn get(&self, i: u32) -> bool {
        self.bytes
            .get((i / 8) as usize)
            .is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
    }

    /// Number of set bits.
    pub fn count_ones(&self) -> u32 {
        self.bytes.iter().map(|b| b.count_ones()).sum()
    }

    /// Text input: '0' and '1' only; `fixed` is bit(n)'s length, `max` varbit(n)'s.
    pub fn parse(s: &str, fixed: Option<u32>, max: Option<u32>) -> Result<Bits> {
        let mut bools = Vec::with_capacity(s.len());
        for c in s.chars() {
            match c {
                '0' => bools.push(false),
                '1' => bools.push(true),
                other => {
                    return Err(Error::new(
                        code::INVALID_TEXT_REPRESENTATION,
                        format!("\"{other}\" is not a valid binary digit"),
                    ))
                }
            }
        }
        let b = Bits::from_bools(bools);
        b.fit(fixed, max)
    }

    /// Checks the length against bit(n) (exact) or varbit(n) (at most).
    pub fn fit(self, fixed: Option<u32>, max: Option<u32>) -> Result<Bits> {
        if let Some(n) = fixed {
            if self.len != n {
                return Err(Error::new(
                    "22026",
                    format!(
                        "bit string length {} does not match type bit({n})",
                        self.len
                    ),
                ));
            }
        }
        if let Some(n) = max {
            if self.len > n {
                return Err(Error::new(
                    code::STRING_DATA_RIGHT_TRUNCATION,
                    format!("bit string too long for type bit varying({n})"),
                ));
            }
        }
        Ok(self)
    }

    /// Text output: "0101".
    pub fn to_text(&self) -> String {
        (0..self.len)
            .map(|i| if self.get(i) { '1' } else { '0' })
            .collect()
    }

    /// Binary output: int32 length, then the bytes.
    pub fn to_binary(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.len as i32).to_be_bytes());
        out.extend_from_slice(&self.bytes);
    }

    /// Binary input (the unused bits of the last byte are cleared, as PostgreSQL does).
    pub fn from_binary(b: &[u8], fixed: Option<u32>, max: Option<u32>) -> Result<Bits> {
        let bad = || {
            Error::new(
                code::INVALID_BINARY_REPRESENTATION,
                "invalid length in external bit string",
            )
        };
        let (head, rest) = b.split_at_checked(4).ok_or_else(bad)?;
        let len = i32::from_be_bytes(head.try_into().map_err(|_| bad())?);
        let len = u32::try_from(len).map_err(|_| bad())?;
        if rest.len() != len.div_ceil(8) as usize {
            return Err(bad());
        }
        let mut bytes = rest.to_vec();
        if len % 8 != 0 {
            if let Some(last) = bytes.last_mut() {
                *last &= 0xffu8 << (8 - len % 8);
            }
        }
        Bits { len, bytes }.fit(fixed, max)
    }

    /// pgvector's hamming_distance: differing bits (lengths must match).
    pub fn hamming(&self, other: &Bits) -> Result<f64> {
        self.same_length(other)?;
        Ok(self
            .bytes
            .iter()
            .zip(&other.bytes)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum::<u32>()
            .into())
    }

    /// pgvector's jaccard_distance: 1 - |a∧b| / |a∨b|, and 1 when nothing is shared.
    pub fn jaccard(&self, other: &Bits) -> Result<f64> {
        self.same_length(other)?;
        let and: u32 = self
            .bytes
            .iter()
            .zip(&other.bytes)
            .map(|(a, b)| (a & b).count_ones())
            .sum();
        if and == 0 {
            return Ok(1.0);
        }
        let total = f64::from(self.count_ones()) + f64::from(other.count_ones());
        Ok(1.0 - f64::from(and) / (total - f64::from(and)))
    }

    fn same_length(&self, other: &Bits) -> Result<()> {
        if self.len != other.len {
            return Err(Error::new(
                code::DATA_EXCEPTION,
                format!("different bit lengths {} and {}", self.len, other.len),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_binary_round_trip() {
        let b = Bits::parse("1011000011", None, None).expect("parse");
        assert_eq!(b.to_text(), "1011000011");
        let mut out = Vec::new();
        b.to_binary(&mut out);
        assert_eq!(Bits::from_binary(&out, Some(10), None).expect("recv"), b);
        assert!(Bits::parse("102", None, None).is_err());
        assert!(Bits::parse("101", Some(4), None).is_err());
        assert!(Bits::parse("101", None, Some(2)).is_err());
        assert_eq!(Bits::parse("", None, None).expect("empty").to_text(), "");
    }

    #[test]
    fn hamming_and_jaccard_are_pgvectors() {
        let a = Bits::parse("111", None, None).expect("a");
        let b = Bits::parse("001", None, None).expect("b");
        assert_eq!(a.hamming(&b).expect("h"), 2.0);
        assert!((a.jaccard(&b).expect("j") - (1.0 - 1.0 / 3.0)).abs() < 1e-12);
        let z = Bits::parse("000", None, None).expect("z");
        assert_eq!(z.jaccard(&z).expect("j"), 1.0);
        assert!(a
            .hamming(&Bits::parse("1", None, None).expect("1"))
            .is_err());
    }
}
