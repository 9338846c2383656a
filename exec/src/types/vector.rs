//! pgvector's types with pgvector 0.8's exact behaviour: `vector` (f32 elements), `halfvec`
//! (IEEE binary16 elements, held here as the `f32` they convert to exactly) and `sparsevec`
//! (ascending 0-based indices of non-zero f32 values, and a dimension). Text and binary input
//! and output, dimension checks (typmods), and the conversions between them and arrays.
//!
//! Invariants: every element is finite; a halfvec element is exactly representable in f16; a
//! sparsevec's indices are strictly ascending and below `dim`, and its values are non-zero.
//! Distances, arithmetic, ordering and aggregates are in `vector_ops`.

use super::text::format_float;
use crate::error::{code, Error, Result};

/// Dense vectors: at most 16,000 dimensions (pgvector's VECTOR_MAX_DIM / HALFVEC_MAX_DIM).
pub const MAX_DIM: u32 = 16_000;
/// sparsevec: at most 10⁹ dimensions and 16,000 non-zero elements.
pub const SPARSE_MAX_DIM: u32 = 1_000_000_000;
pub const SPARSE_MAX_NNZ: usize = 16_000;

/// Which of the three types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Vector,
    HalfVec,
    SparseVec,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Vector => "vector",
            Kind::HalfVec => "halfvec",
            Kind::SparseVec => "sparsevec",
        }
    }

    pub fn max_dim(self) -> u32 {
        match self {
            Kind::SparseVec => SPARSE_MAX_DIM,
            _ => MAX_DIM,
        }
    }
}

/// A sparse vector (see the module's invariants).
#[derive(Debug, Clone, PartialEq)]
pub struct SparseVec {
    pub dim: u32,
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseVec {
    /// The dense form.
    pub fn to_dense(&self) -> Vec<f32> {
        let mut v = vec![0f32; self.dim as usize];
        for (i, x) in self.indices.iter().zip(&self.values) {
            if let Some(slot) = v.get_mut(*i as usize) {
                *slot = *x;
            }
        }
        v
    }

    /// The sparse form of a dense vector (zeros dropped).
    pub fn from_dense(v: &[f32]) -> SparseVec {
        let (indices, values) = v
            .iter()
            .enumerate()
            .filter(|(_, x)| **x != 0.0)
            .map(|(i, x)| (i as u32, *x))
            .unzip();
        SparseVec {
            dim: v.len() as u32,
            indices,
            values,
        }
    }
}

fn data_error(message: impl Into<String>) -> Error {
    Error::new(code::DATA_EXCEPTION, message)
}

/// `expected 3 dimensions, not 2` (22000).
pub fn check_typmod(typmod: Option<u32>, dim: usize) -> Result<()> {
    match typmod {
        Some(n) if n as usize != dim => {
            Err(data_error(format!("expected {n} dimensions, not {dim}")))
        }
        _ => Ok(()),
    }
}

fn at_least_one(kind: Kind) -> Error {
    data_error(format!("{} must have at least 1 dimension", kind.name()))
}

/// `vector cannot have more than 16000 dimensions` (54000).
pub fn too_many_dims(kind: Kind) -> Error {
    Error::new(
        code::PROGRAM_LIMIT_EXCEEDED,
        format!(
            "{} cannot have more than {} dimensions",
            kind.name(),
            kind.max_dim()
        ),
    )
}

/// The dimension count checks of a dense vector being made: at least one, at most the max.
pub fn check_dim(kind: Kind, dim: usize) -> Result<()> {
    if dim == 0 {
        return Err(at_least_one(kind));
    }
    if dim > kind.max_dim() as usize {
        return Err(too_many_dims(kind));
    }
    Ok(())
}

/// The typmod of `vector(n)` / `halfvec(n)` / `sparsevec(n)`.
pub fn typmod(kind: Kind, mods: &[i64]) -> Result<Option<u32>> {
    match mods {
        [] => Ok(None),
        [n] if *n < 1 => Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            format!("dimensions for type {} must be at least 1", kind.name()),
        )),
        [n] if *n > i64::from(kind.max_dim()) => Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            format!(
                "dimensions for type {} cannot exceed {}",
                kind.name(),
                kind.max_dim()
            ),
        )),
        [n] => Ok(Some(*n as u32)),
        _ => Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            "invalid type modifier",
        )),
    }
}

/// The finiteness check of one element: `NaN not allowed in vector` and the infinite one.
pub fn check_element(kind: Kind, x: f32) -> Result<()> {
    if x.is_nan() {
        Err(data_error(format!("NaN not allowed in {}", kind.name())))
    } else if x.is_infinite() {
        Err(data_error(format!(
            "infinite value not allowed in {}",
            kind.name()
        )))
    } else {
        Ok(())
    }
}

/// `x` rounded to binary16 and back; an error if it overflows (a finite `x` of 65520 or more
/// in magnitude), as pgvector's Float4ToHalf does.
pub fn to_half(x: f32) -> Result<f32> {
    let h = half::f16::from_f32(x);
    if h.is_infinite() && x.is_finite() {
        return Err(Error::new(
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            format!(
                "\"{}\" is out of range for type halfvec",
                format_float(f64::from(x), true)
            ),
        ));
    }
    Ok(h.to_f32())
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// A cursor over a literal, with C `strtof` / `strtol`'s lexing.
struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn skip_ws(&mut self) {
        while self.s.get(self.pos).copied().is_some_and(is_space) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// The longest prefix `strtof` would read (after leading whitespace), or None if it reads
    /// nothing. Returns the token's text.
    fn float_token(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let start = self.pos;
        if matches!(self.peek(), Some(b'+' | b'-')) {
            self.pos += 1;
        }
        let rest = &self.s[self.pos..];
        for word in ["infinity", "inf", "nan"] {
            if rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word.as_bytes())
            {
                self.pos += word.len();
                return std::str::from_utf8(&self.s[start..self.pos]).ok();
            }
        }
        let int = self.digits();
        let frac = if self.eat(b'.') { self.digits() } else { 0 };
        if int + frac == 0 {
            self.pos = start;
            return None;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let mark = self.pos;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                self.pos = mark;
            }
        }
        std::str::from_utf8(&self.s[start..self.pos]).ok()
    }

    /// `strtol` base 10, clamped to i64 (None if no digits).
    fn int_token(&mut self) -> Option<i64> {
        self.skip_ws();
        let start = self.pos;
        let neg = match self.peek() {
            Some(b'-') => {
                self.pos += 1;
                true
            }
            Some(b'+') => {
                self.pos += 1;
                false
            }
            _ => false,
        };
        let d0 = self.pos;
        if self.digits() == 0 {
            self.pos = start;
            return None;
        }
        let text = std::str::from_utf8(&self.s[d0..self.pos]).ok()?;
        let v = text.parse::<i64>().unwrap_or(i64::MAX);
        Some(if neg { -v } else { v })
    }
}

/// A float token's value as `strtof` gives it: (value, overflowed, underflowed to zero).
fn strtof(token: &str) -> (f32, bool, bool) {
    let t = token.trim_start_matches('+');
    let v: f32 = t.parse().unwrap_or(f32::NAN);
    // Tokens are digits or one of the words inf / infinity / nan (see `float_token`).
    let body = t.trim_start_matches('-');
    let literal_special = body.bytes().next().is_some_and(|c| c.is_ascii_alphabetic());
    let overflow = v.is_infinite() && !literal_special;
    let underflow = v == 0.0
        && body
            .bytes()
            .take_while(|c| !matches!(c, b'e' | b'E'))
            .any(|c| (b'1'..=b'9').contains(&c));
    (v, overflow, underflow)
}

fn out_of_range(kind: Kind, token: &str) -> Error {
    Error::new(
        code::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("\"{token}\" is out of range for type {}", kind.name()),
    )
}

/// Text input of vector / halfvec: `[1, 2.5, 3e2]`.
pub fn parse_dense(kind: Kind, s: &str, typmod: Option<u32>) -> Result<Vec<f32>> {
    let syntax = || Error::invalid_input(kind.name(), s);
    let mut lx = Lexer {
        s: s.as_bytes(),
        pos: 0,
    };
    lx.skip_ws();
    if !lx.eat(b'[') {
        return Err(syntax().with_detail("Vector contents must start with \"[\"."));
    }
    lx.skip_ws();
    if lx.peek() == Some(b']') {
        return Err(at_least_one(kind));
    }
    let mut out = Vec::new();
    loop {
        if out.len() == MAX_DIM as usize {
            return Err(too_many_dims(kind));
        }
        let token = lx.float_token().ok_or_else(syntax)?;
        let (v, overflow, _) = strtof(token);
        if overflow {
            return Err(out_of_range(kind, token.trim_start()));
        }
        let v = if kind == Kind::HalfVec {
            if v.is_finite() && half::f16::from_f32(v).is_infinite() {
                return Err(out_of_range(kind, token.trim_start()));
            }
            half::f16::from_f32(v).to_f32()
        } else {
            v
        };
        check_element(kind, v)?;
        out.push(v);
        lx.skip_ws();
        if lx.eat(b',') {
            continue;
        }
        if lx.eat(b']') {
            break;
        }
        return Err(syntax());
    }
    lx.skip_ws();
    if lx.peek().is_some() {
        return Err(syntax().with_detail("Junk after closing right brace."));
    }
    check_typmod(typmod, out.len())?;
    Ok(out)
}

/// Text input of sparsevec: `{1:1.5,3:2}/5` (1-based indices).
pub fn parse_sparse(s: &str, typmod: Option<u32>) -> Result<SparseVec> {
    let kind = Kind::SparseVec;
    let syntax = || Error::invalid_input(kind.name(), s);
    if s.bytes().filter(|c| *c == b',').count() + 1 > SPARSE_MAX_NNZ {
        return Err(Error::new(
            code::PROGRAM_LIMIT_EXCEEDED,
            format!("sparsevec cannot have more than {SPARSE_MAX_NNZ} non-zero elements"),
        ));
    }
    let mut lx = Lexer {
        s: s.as_bytes(),
        pos: 0,
    };
    lx.skip_ws();
    if !lx.eat(b'{') {
        return Err(syntax().with_detail("Vector contents must start with \"{\"."));
    }
    lx.skip_ws();
    let mut pairs: Vec<(i64, f32)> = Vec::new();
    if !lx.eat(b'}') {
        loop {
            let index = lx.int_token().ok_or_else(syntax)?;
            lx.skip_ws();
            if !lx.eat(b':') {
                return Err(syntax());
            }
            let token = lx.float_token().ok_or_else(syntax)?;
            let (v, overflow, underflow) = strtof(token);
            if overflow || underflow {
                return Err(out_of_range(kind, token.trim_start()));
            }
            check_element(kind, v)?;
            if v != 0.0 {
                pairs.push((index, v));
            }
            lx.skip_ws();
            if lx.eat(b',') {
                continue;
            }
            if lx.eat(b'}') {
                break;
            }
            return Err(syntax());
        }
    }
    lx.skip_ws();
    if !lx.eat(b'/') {
        return Err(syntax().with_detail("Unexpected end of input."));
    }
    let dim = lx.int_token().ok_or_else(syntax)?;
    lx.skip_ws();
    if lx.peek().is_some() {
        return Err(syntax().with_detail("Junk after closing."));
    }
    let dim = dim.clamp(i64::from(i32::MIN), i64::from(i32::MAX));
    if dim < 1 {
        return Err(at_least_one(kind));
    }
    if dim > i64::from(SPARSE_MAX_DIM) {
        return Err(too_many_dims(kind));
    }
    check_typmod(typmod, dim as usize)?;
    pairs.sort_by_key(|p| p.0);
    let mut out = SparseVec {
        dim: dim as u32,
        indices: Vec::with_capacity(pairs.len()),
        values: Vec::with_capacity(pairs.len()),
    };
    for (i, v) in pairs {
        if i < 1 || i > dim {
            return Err(data_error("sparsevec index out of bounds"));
        }
        let i = (i - 1) as u32;
        if out.indices.last() == Some(&i) {
            return Err(data_error("sparsevec indices must not contain duplicates"));
        }
        out.indices.push(i);
        out.values.push(v);
    }
    Ok(out)
}

/// Text output of vector / halfvec: `[1,2.5,300]` (float4's shortest digits).
pub fn format_dense(v: &[f32]) -> String {
    let mut out = String::with_capacity(2 + v.len() * 8);
    out.push('[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format_float(f64::from(*x), true));
    }
    out.push(']');
    out
}

/// Text output of sparsevec: `{1:1.5,3:2}/5`.
pub fn format_sparse(v: &SparseVec) -> String {
    let mut out = String::from("{");
    for (n, (i, x)) in v.indices.iter().zip(&v.values).enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(&format!("{}:{}", i + 1, format_float(f64::from(*x), true)));
    }
    out.push_str(&format!("}}/{}", v.dim));
    out
}

/// Binary output of vector / halfvec: int16 dim, int16 0, then f32 (or f16) big-endian.
pub fn dense_to_binary(kind: Kind, v: &[f32], out: &mut Vec<u8>) {
    out.extend_from_slice(&(v.len() as u16).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    for x in v {
        match kind {
            Kind::HalfVec => out.extend_from_slice(&half::f16::from_f32(*x).to_be_bytes()),
            _ => out.extend_from_slice(&x.to_be_bytes()),
        }
    }
}

/// Binary output of sparsevec: int32 dim, int32 nnz, int32 0, nnz int32 0-based indices,
/// nnz f32 values.
pub fn sparse_to_binary(v: &SparseVec, out: &mut Vec<u8>) {
    out.extend_from_slice(&(v.dim as i32).to_be_bytes());
    out.extend_from_slice(&(v.indices.len() as i32).to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    for i in &v.indices {
        out.extend_from_slice(&(*i as i32).to_be_bytes());
    }
    for x in &v.values {
        out.extend_from_slice(&x.to_be_bytes());
    }
}

fn bad_binary() -> Error {
    Error::new(
        code::INVALID_BINARY_REPRESENTATION,
        "insufficient data left in message",
    )
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let (head, rest) = self.0.split_at_checked(N).ok_or_else(bad_binary)?;
        self.0 = rest;
        head.try_into().map_err(|_| bad_binary())
    }

    fn finish(&self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::new(
                code::INVALID_BINARY_REPRESENTATION,
                "incorrect binary data format",
            ))
        }
    }
}

/// Binary input of vector / halfvec, with pgvector's checks in its order.
pub fn dense_from_binary(kind: Kind, b: &[u8], typmod: Option<u32>) -> Result<Vec<f32>> {
    let mut r = Reader(b);
    let dim = i16::from_be_bytes(r.take()?);
    let unused = i16::from_be_bytes(r.take()?);
    if dim < 1 {
        return Err(at_least_one(kind));
    }
    check_dim(kind, dim as usize)?;
    check_typmod(typmod, dim as usize)?;
    if unused != 0 {
        return Err(data_error(format!("expected unused to be 0, not {unused}")));
    }
    let mut out = Vec::with_capacity(dim as usize);
    for _ in 0..dim {
        let x = match kind {
            Kind::HalfVec => half::f16::from_be_bytes(r.take()?).to_f32(),
            _ => f32::from_be_bytes(r.take()?),
        };
        check_element(kind, x)?;
        out.push(x);
    }
    r.finish()?;
    Ok(out)
}

/// Binary input of sparsevec, with pgvector's checks in its order.
pub fn sparse_from_binary(b: &[u8], typmod: Option<u32>) -> Result<SparseVec> {
    let kind = Kind::SparseVec;
    let mut r = Reader(b);
    let dim = i32::from_be_bytes(r.take()?);
    let nnz = i32::from_be_bytes(r.take()?);
    let unused = i32::from_be_bytes(r.take()?);
    if dim < 1 {
        return Err(at_least_one(kind));
    }
    if dim as u32 > SPARSE_MAX_DIM {
        return Err(too_many_dims(kind));
    }
    if nnz < 0 {
        return Err(data_error(
            "sparsevec cannot have negative number of elements",
        ));
    }
    if nnz as usize > SPARSE_MAX_NNZ {
        return Err(Error::new(
            code::PROGRAM_LIMIT_EXCEEDED,
            format!("sparsevec cannot have more than {SPARSE_MAX_NNZ} non-zero elements"),
        ));
    }
    if nnz > dim {
        return Err(Error::new(
            code::PROGRAM_LIMIT_EXCEEDED,
            "sparsevec cannot have more elements than dimensions",
        ));
    }
    check_typmod(typmod, dim as usize)?;
    if unused != 0 {
        return Err(data_error(format!("expected unused to be 0, not {unused}")));
    }
    let mut indices = Vec::with_capacity(nnz as usize);
    for _ in 0..nnz {
        let i = i32::from_be_bytes(r.take()?);
        if i < 0 || i >= dim {
            return Err(data_error("sparsevec index out of bounds"));
        }
        match indices.last() {
            Some(&last) if (i as u32) < last => {
                return Err(data_error("sparsevec indices must be in ascending order"))
            }
            Some(&last) if i as u32 == last => {
                return Err(data_error("sparsevec indices must not contain duplicates"))
            }
            _ => {}
        }
        indices.push(i as u32);
    }
    let mut values = Vec::with_capacity(nnz as usize);
    for _ in 0..nnz {
        let x = f32::from_be_bytes(r.take()?);
        check_element(kind, x)?;
        if x == 0.0 {
            return Err(data_error(
                "binary representation of sparsevec cannot contain zero values",
            ));
        }
        values.push(x);
    }
    r.finish()?;
    Ok(SparseVec {
        dim: dim as u32,
        indices,
        values,
    })
}

/// Elements of an array cast to a vector type, as f32, with pgvector's checks (1-D, no NULLs,
/// dimension count, typmod, then each element). `elems` are the array's items as f64 (None
/// for NULL).
pub fn from_array(kind: Kind, elems: &[Option<f64>], typmod: Option<u32>) -> Result<Vec<f32>> {
    if elems.iter().any(Option::is_none) {
        return Err(Error::new(
            code::NULL_VALUE_NOT_ALLOWED,
            "array must not contain nulls",
        ));
    }
    if elems.is_empty() {
        return Err(at_least_one(kind));
    }
    if elems.len() > kind.max_dim() as usize {
        return Err(too_many_dims(kind));
    }
    check_typmod(typmod, elems.len())?;
    let mut out = Vec::with_capacity(elems.len());
    for x in elems.iter().flatten() {
        let f = *x as f32;
        let f = if kind == Kind::HalfVec {
            to_half(f)?
        } else {
            f
        };
        check_element(kind, f)?;
        out.push(f);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(r: Result<impl std::fmt::Debug>) -> (String, &'static str) {
        match r {
            Err(Error::Sql { code, message, .. }) => (message, code),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn dense_text_round_trips_with_pgvector_output() {
        let v = parse_dense(Kind::Vector, " [ 1,  2 ,    3  ] ", None).expect("parse");
        assert_eq!(format_dense(&v), "[1,2,3]");
        let v = parse_dense(Kind::Vector, "[1.,2.,3.]", None).expect("parse");
        assert_eq!(format_dense(&v), "[1,2,3]");
        let v = parse_dense(Kind::Vector, "[1.5e38,-1e-46,1e6,0.1]", None).expect("parse");
        assert_eq!(format_dense(&v), "[1.5e+38,-0,1e+06,0.1]");
        let h = parse_dense(Kind::HalfVec, "[1.23456,65519,-65519]", None).expect("parse");
        assert_eq!(format_dense(&h), "[1.234375,65504,-65504]");
    }

    #[test]
    fn dense_text_errors_are_pgvectors() {
        let cases: &[(&str, &str, &str)] = &[
            ("", "invalid input syntax for type vector: \"\"", "22P02"),
            ("[]", "vector must have at least 1 dimension", "22000"),
            (
                "[1,]",
                "invalid input syntax for type vector: \"[1,]\"",
                "22P02",
            ),
            (
                "[1a]",
                "invalid input syntax for type vector: \"[1a]\"",
                "22P02",
            ),
            (
                "[1,2,3",
                "invalid input syntax for type vector: \"[1,2,3\"",
                "22P02",
            ),
            (
                "[1]9",
                "invalid input syntax for type vector: \"[1]9\"",
                "22P02",
            ),
            (
                "[4e38]",
                "\"4e38\" is out of range for type vector",
                "22003",
            ),
            ("[NaN]", "NaN not allowed in vector", "22000"),
            ("[-inf]", "infinite value not allowed in vector", "22000"),
        ];
        for (input, message, sqlstate) in cases {
            let (m, c) = err(parse_dense(Kind::Vector, input, None));
            assert_eq!((m.as_str(), c), (*message, *sqlstate), "{input}");
        }
        let (m, _) = err(parse_dense(Kind::Vector, "[1,2,3]", Some(2)));
        assert_eq!(m, "expected 2 dimensions, not 3");
        let (m, c) = err(parse_dense(Kind::HalfVec, "[65520]", None));
        assert_eq!(
            (m.as_str(), c),
            ("\"65520\" is out of range for type halfvec", "22003")
        );
    }

    #[test]
    fn sparse_text_sorts_drops_zeros_and_checks_bounds() {
        let v = parse_sparse(" { 1 : 1.5 ,  3  :  3.5  } / 5 ", None).expect("parse");
        assert_eq!(format_sparse(&v), "{1:1.5,3:3.5}/5");
        let v = parse_sparse("{2:1,1:1,3:0}/3", None).expect("parse");
        assert_eq!(format_sparse(&v), "{1:1,2:1}/3");
        assert_eq!(
            format_sparse(&parse_sparse("{}/5", None).expect("empty")),
            "{}/5"
        );
        assert_eq!(
            err(parse_sparse("{0:1}/2", None)).0,
            "sparsevec index out of bounds"
        );
        assert_eq!(
            err(parse_sparse("{3:1}/2", None)).0,
            "sparsevec index out of bounds"
        );
        assert_eq!(
            err(parse_sparse("{1:1,1:2}/2", None)).0,
            "sparsevec indices must not contain duplicates"
        );
        assert_eq!(
            err(parse_sparse("{}/0", None)).0,
            "sparsevec must have at least 1 dimension"
        );
        assert_eq!(err(parse_sparse("{1:1e-46}/2", None)).1, "22003");
        assert_eq!(err(parse_sparse("{}", None)).1, "22P02");
        assert_eq!(err(parse_sparse("{1:1,}/1", None)).1, "22P02");
    }

    #[test]
    fn binary_round_trips_and_refuses_bad_headers() {
        for kind in [Kind::Vector, Kind::HalfVec] {
            let v = vec![1.0, -2.5, 0.125];
            let mut b = Vec::new();
            dense_to_binary(kind, &v, &mut b);
            assert_eq!(dense_from_binary(kind, &b, Some(3)).expect("recv"), v);
            assert!(dense_from_binary(kind, &b, Some(2)).is_err());
            assert!(dense_from_binary(kind, &b[..b.len() - 1], None).is_err());
            b[3] = 1;
            assert_eq!(
                err(dense_from_binary(kind, &b, None)).0,
                "expected unused to be 0, not 1"
            );
        }
        let s = parse_sparse("{2:1,5:-3}/6", None).expect("parse");
        let mut b = Vec::new();
        sparse_to_binary(&s, &mut b);
        assert_eq!(sparse_from_binary(&b, None).expect("recv"), s);
        assert_eq!(s.to_dense(), vec![0.0, 1.0, 0.0, 0.0, -3.0, 0.0]);
        assert_eq!(SparseVec::from_dense(&s.to_dense()), s);
    }

    #[test]
    fn arrays_convert_with_pgvectors_checks() {
        assert_eq!(
            from_array(Kind::Vector, &[Some(1.0), Some(2.0)], None).expect("ok"),
            vec![1.0, 2.0]
        );
        assert_eq!(
            err(from_array(Kind::Vector, &[Some(1.0), None], None)).1,
            "22004"
        );
        assert_eq!(
            err(from_array(Kind::Vector, &[Some(4e38)], None)).0,
            "infinite value not allowed in vector"
        );
        assert_eq!(
            err(from_array(Kind::HalfVec, &[Some(65520.0)], None)).0,
            "\"65520\" is out of range for type halfvec"
        );
    }

    #[test]
    fn typmods_are_checked() {
        assert_eq!(typmod(Kind::Vector, &[3]).expect("ok"), Some(3));
        assert_eq!(
            err(typmod(Kind::Vector, &[0])).0,
            "dimensions for type vector must be at least 1"
        );
        assert_eq!(
            err(typmod(Kind::HalfVec, &[16001])).0,
            "dimensions for type halfvec cannot exceed 16000"
        );
        assert_eq!(
            err(typmod(Kind::Vector, &[1, 2])).0,
            "invalid type modifier"
        );
    }
}
