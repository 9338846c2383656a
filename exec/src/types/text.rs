//! Text input and output functions (PostgreSQL's `typinput`/`typoutput`): `Value::parse_text`
//! and `Value::to_text`, including length rules of varchar(n)/char(n), float output in
//! PostgreSQL 12+'s shortest form, bytea hex/escape formats, uuid and array literals.

use super::bits::Bits;
use super::datetime::{self, round_to_precision as round, Interval};
use super::json;
use super::numeric::Numeric;
use super::vector::{self, Kind};
use super::{DataType, Value};
use crate::error::{code, Error, Result};

impl Value {
    /// Parses `s` as a value of `ty` (PostgreSQL's input function, applying the type modifier).
    pub fn parse_text(ty: &DataType, s: &str) -> Result<Value> {
        Ok(match ty {
            DataType::Bool => Value::Bool(parse_bool(s)?),
            DataType::Int2 => Value::Int2(parse_int(s, "smallint")? as i16),
            DataType::Int4 => Value::Int4(parse_int(s, "integer")? as i32),
            DataType::Int8 => Value::Int8(parse_int(s, "bigint")?),
            DataType::Float4 => Value::Float4(parse_f32(s)?),
            DataType::Float8 => Value::Float8(parse_f64(s, "double precision")?),
            DataType::Numeric(tm) => {
                let n = Numeric::parse(s).ok_or_else(|| Error::invalid_input("numeric", s))?;
                Value::Numeric(match tm {
                    Some((p, sc)) => n.apply_typmod(*p, *sc)?,
                    None => n,
                })
            }
            DataType::Text | DataType::Unknown => Value::Text(s.to_string()),
            // void_in takes anything and gives the one void value.
            DataType::Void => Value::Text(String::new()),
            DataType::Varchar(n) => Value::Text(fit_length(s, *n, false, "character varying")?),
            DataType::Char(n) => Value::Text(fit_length(s, *n, true, "character")?),
            DataType::Name => Value::Text(truncate_bytes(s, 63).to_string()),
            DataType::InternalChar => Value::Text(internal_char(s)),
            DataType::Oid => Value::Oid(parse_oid(s)?),
            DataType::RegProc => Value::Text(crate::catalog::system::regproc_name(s)),
            DataType::RegClass | DataType::RegType | DataType::RegNamespace | DataType::RegRole => {
                Value::Oid(crate::catalog::system::builtin_reg_oid(ty, s)?)
            }
            DataType::Int2Vector | DataType::OidVector => Value::Text(parse_vector(ty, s)?),
            DataType::Bytea => Value::Bytea(parse_bytea(s)?),
            DataType::Date => Value::Date(datetime::parse_date(s)?),
            DataType::Time(p) => Value::Time(round(datetime::parse_time(s)?, *p)),
            DataType::Timestamp(p) => {
                Value::Timestamp(round(datetime::parse_timestamp(s, false)?, *p))
            }
            DataType::Timestamptz(p) => {
                Value::Timestamptz(round(datetime::parse_timestamp(s, true)?, *p))
            }
            DataType::Interval => Value::Interval(Interval::parse(s)?),
            DataType::Uuid => Value::Uuid(parse_uuid(s)?),
            DataType::Json => {
                json::parse(s)?;
                Value::Json(s.to_string())
            }
            DataType::Jsonb => Value::Jsonb(json::parse(s)?),
            DataType::Array(elem) => parse_array(elem, s)?,
            DataType::Vector(n) => Value::Vector(vector::parse_dense(Kind::Vector, s, *n)?),
            DataType::HalfVec(n) => Value::HalfVec(vector::parse_dense(Kind::HalfVec, s, *n)?),
            DataType::SparseVec(n) => Value::SparseVec(Box::new(vector::parse_sparse(s, *n)?)),
            DataType::Bit(n) => Value::Bit(Bits::parse(s, *n, None)?),
            DataType::VarBit(n) => Value::Bit(Bits::parse(s, None, *n)?),
            DataType::Record(_) => {
                return Err(Error::new(
                    code::FEATURE_NOT_SUPPORTED,
                    "input of anonymous composite types is not implemented",
                ))
            }
        })
    }

    /// PostgreSQL's output function; `None` for NULL.
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(b) => if *b { "t" } else { "f" }.to_string(),
            Value::Int2(v) => v.to_string(),
            Value::Int4(v) => v.to_string(),
            Value::Int8(v) => v.to_string(),
            Value::Float4(v) => format_float(f64::from(*v), true),
            Value::Float8(v) => format_float(*v, false),
            Value::Numeric(n) => n.to_string(),
            Value::Text(s) | Value::Json(s) => s.clone(),
            Value::Bytea(b) => format_bytea(b),
            Value::Date(d) => datetime::format_date(*d),
            Value::Time(t) => datetime::format_time(*t),
            Value::Timestamp(t) => datetime::format_timestamp(*t, false),
            Value::Timestamptz(t) => datetime::format_timestamp(*t, true),
            Value::Interval(iv) => iv.to_text(),
            Value::Uuid(u) => format_uuid(u),
            Value::Oid(o) => o.to_string(),
            Value::Reg(r) => r.name.clone(),
            Value::Jsonb(j) => json::to_text(j),
            Value::Array(_, items) => format_array(items),
            Value::Record(fields) => format_record(fields),
            Value::Vector(v) | Value::HalfVec(v) => vector::format_dense(v),
            Value::SparseVec(v) => vector::format_sparse(v),
            Value::Bit(b) => b.to_text(),
        })
    }
}

fn parse_bool(s: &str) -> Result<bool> {
    let t = s.trim().to_ascii_lowercase();
    let prefix_of = |word: &str, min: usize| t.len() >= min && word.starts_with(t.as_str());
    if prefix_of("true", 1) || prefix_of("yes", 1) || prefix_of("on", 2) || t == "1" {
        Ok(true)
    } else if prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) || t == "0" {
        Ok(false)
    } else {
        Err(Error::invalid_input("boolean", s))
    }
}

/// Integer input with PostgreSQL's trimming, sign and range rules (`ty`: smallint, ...).
pub(crate) fn parse_int(s: &str, ty: &str) -> Result<i64> {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(Error::invalid_input(ty, s));
    }
    let range = || {
        Error::new(
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("value \"{s}\" is out of range for type {ty}"),
        )
    };
    let v: i64 = t.parse().map_err(|_| range())?;
    let (lo, hi) = match ty {
        "smallint" => (i64::from(i16::MIN), i64::from(i16::MAX)),
        "integer" => (i64::from(i32::MIN), i64::from(i32::MAX)),
        _ => (i64::MIN, i64::MAX),
    };
    if v < lo || v > hi {
        return Err(range());
    }
    Ok(v)
}

fn float_syntax_ok(t: &str) -> bool {
    let l = t.to_ascii_lowercase();
    let body = l.strip_prefix(['+', '-']).unwrap_or(&l);
    matches!(body, "nan" | "inf" | "infinity")
        || (!body.is_empty()
            && body
                .bytes()
                .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'+' | b'-'))
            && body.bytes().any(|c| c.is_ascii_digit()))
}

/// Whether a numeric string has a nonzero digit in its mantissa.
fn has_nonzero_mantissa(t: &str) -> bool {
    t.split(['e', 'E'])
        .next()
        .is_some_and(|m| m.bytes().any(|c| (b'1'..=b'9').contains(&c)))
}

pub(crate) fn parse_f64(s: &str, ty: &str) -> Result<f64> {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    if !float_syntax_ok(t) {
        return Err(Error::invalid_input(ty, s));
    }
    let v: f64 = t.parse().map_err(|_| Error::invalid_input(ty, s))?;
    let named_inf = t.to_ascii_lowercase().contains("inf");
    if (v.is_infinite() && !named_inf) || (v == 0.0 && has_nonzero_mantissa(t)) {
        return Err(Error::new(
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("\"{s}\" is out of range for type {ty}"),
        ));
    }
    Ok(v)
}

fn parse_f32(s: &str) -> Result<f32> {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    if !float_syntax_ok(t) {
        return Err(Error::invalid_input("real", s));
    }
    let v: f32 = t.parse().map_err(|_| Error::invalid_input("real", s))?;
    let named_inf = t.to_ascii_lowercase().contains("inf");
    if (v.is_infinite() && !named_inf) || (v == 0.0 && has_nonzero_mantissa(t)) {
        return Err(Error::new(
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("\"{s}\" is out of range for type real"),
        ));
    }
    Ok(v)
}

/// PostgreSQL 12+'s float output: shortest round-trip digits, exponent form when the
/// decimal exponent is < -4 or >= 15 (float8) / 6 (float4).
pub fn format_float(v: f64, is_f4: bool) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let e = if is_f4 {
        format!("{:e}", v as f32)
    } else {
        format!("{v:e}")
    };
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let threshold = if is_f4 { 6 } else { 15 };
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if exp < -4 || exp >= threshold {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push_str(&format!(
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        ));
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', int_len - digits.len()));
        } else {
            let (i, f) = digits.split_at(int_len);
            out.push_str(i);
            out.push('.');
            out.push_str(f);
        }
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.push_str(&digits);
    }
    out
}

/// Applies varchar(n)/char(n) input rules: too long is an error unless the excess is
/// spaces (then truncated); char(n) is blank-padded.
pub(crate) fn fit_length(s: &str, n: Option<u32>, pad: bool, ty: &str) -> Result<String> {
    let Some(n) = n else {
        return Ok(s.to_string());
    };
    let n = n as usize;
    let len = s.chars().count();
    if len > n {
        let cut = s.char_indices().nth(n).map(|(i, _)| i).unwrap_or(s.len());
        let (head, tail) = s.split_at(cut);
        if !tail.bytes().all(|c| c == b' ') {
            return Err(Error::new(
                code::STRING_DATA_RIGHT_TRUNCATION,
                format!("value too long for type {ty}({n})"),
            ));
        }
        return Ok(head.to_string());
    }
    let mut out = s.to_string();
    if pad {
        out.extend(std::iter::repeat_n(' ', n - len));
    }
    Ok(out)
}

/// Explicit-cast length rule: silently truncate to n characters (char(n) is padded).
pub(crate) fn truncate_length(s: &str, n: Option<u32>, pad: bool) -> String {
    let Some(n) = n else {
        return s.to_string();
    };
    let n = n as usize;
    let cut = s.char_indices().nth(n).map(|(i, _)| i).unwrap_or(s.len());
    let mut out = s.get(..cut).unwrap_or(s).to_string();
    if pad {
        let len = out.chars().count();
        out.extend(std::iter::repeat_n(' ', n.saturating_sub(len)));
    }
    out
}

/// Truncates to at most `max` bytes at a character boundary.
pub(crate) fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// `"char"` input: the first byte, high-bit bytes in PostgreSQL's `\ooo` form.
pub(crate) fn internal_char(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() == 4
        && b.first() == Some(&b'\\')
        && b.iter().skip(1).all(|c| (b'0'..=b'7').contains(c))
    {
        return s.to_string();
    }
    match b.first() {
        None => String::new(),
        Some(&c) if c < 0x80 => (c as char).to_string(),
        Some(&c) => format!("\\{c:03o}"),
    }
}

fn parse_oid(s: &str) -> Result<u32> {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(Error::invalid_input("oid", s));
    }
    let range = || {
        Error::new(
            code::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("value \"{s}\" is out of range for type oid"),
        )
    };
    let v: i64 = t.parse().map_err(|_| range())?;
    if v < i64::from(i32::MIN) || v > i64::from(u32::MAX) {
        return Err(range());
    }
    Ok(v as u32)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn parse_bytea(s: &str) -> Result<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() >= 2 && b.first() == Some(&b'\\') && matches!(b.get(1), Some(b'x') | Some(b'X')) {
        let mut out = Vec::with_capacity(b.len() / 2);
        let mut i = 2;
        while let Some(&c) = b.get(i) {
            if c.is_ascii_whitespace() {
                i += 1;
                continue;
            }
            let hi = hex_val(c).ok_or_else(|| bad_hex(s, i))?;
            let lo = match b.get(i + 1) {
                None => {
                    return Err(Error::new(
                        code::INVALID_TEXT_REPRESENTATION,
                        "invalid hexadecimal data: odd number of digits",
                    ))
                }
                Some(&d) => hex_val(d).ok_or_else(|| bad_hex(s, i + 1))?,
            };
            out.push(hi << 4 | lo);
            i += 2;
        }
        return Ok(out);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        match (b.get(i + 1), b.get(i + 2), b.get(i + 3)) {
            (Some(b'\\'), _, _) => {
                out.push(b'\\');
                i += 2;
            }
            (Some(&a @ b'0'..=b'3'), Some(&m @ b'0'..=b'7'), Some(&z @ b'0'..=b'7')) => {
                out.push(((a - b'0') << 6) | ((m - b'0') << 3) | (z - b'0'));
                i += 4;
            }
            _ => return Err(Error::invalid_input("bytea", s)),
        }
    }
    Ok(out)
}

fn bad_hex(s: &str, i: usize) -> Error {
    let ch = s.get(i..).and_then(|r| r.chars().next()).unwrap_or('?');
    Error::new(
        code::INVALID_TEXT_REPRESENTATION,
        format!("invalid hexadecimal digit: \"{ch}\""),
    )
}

fn format_bytea(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 + b.len() * 2);
    out.push_str("\\x");
    for &c in b {
        out.push(HEX[(c >> 4) as usize] as char);
        out.push(HEX[(c & 15) as usize] as char);
    }
    out
}

fn parse_uuid(s: &str) -> Result<[u8; 16]> {
    let err = || Error::invalid_input("uuid", s);
    let t = s.trim();
    let t = match t.strip_prefix('{') {
        Some(r) => r.strip_suffix('}').ok_or_else(err)?,
        None => t,
    };
    let b = t.as_bytes();
    let mut out = [0u8; 16];
    let mut n = 0usize; // hex digits read
    let mut i = 0usize;
    while n < 32 {
        let c = *b.get(i).ok_or_else(err)?;
        if c == b'-' && n > 0 && n & 3 == 0 && b.get(i + 1).is_some_and(|&d| d != b'-') {
            i += 1;
            continue;
        }
        let v = hex_val(c).ok_or_else(err)?;
        let slot = out.get_mut(n / 2).ok_or_else(err)?;
        *slot |= if n & 1 == 0 { v << 4 } else { v };
        n += 1;
        i += 1;
    }
    if i != b.len() {
        return Err(err());
    }
    Ok(out)
}

fn format_uuid(u: &[u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn malformed(s: &str, detail: &str) -> Error {
    Error::new(
        code::INVALID_TEXT_REPRESENTATION,
        format!("malformed array literal: \"{s}\""),
    )
    .with_detail(detail.to_string())
}

fn parse_array(elem: &DataType, s: &str) -> Result<Value> {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    let chars: Vec<char> = t.chars().collect();
    if chars.first() != Some(&'{') {
        return Err(malformed(
            s,
            "Array value must start with \"{\" or dimension information.",
        ));
    }
    let mut items = Vec::new();
    let mut i = 1;
    let skip_ws = |i: &mut usize| {
        while chars.get(*i).is_some_and(|c| array_space(*c)) {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if chars.get(i) == Some(&'}') {
        i += 1;
    } else {
        loop {
            skip_ws(&mut i);
            let mut buf = String::new();
            let mut quoted = false;
            let mut escaped_any = false;
            match chars.get(i) {
                Some('{') => {
                    return Err(Error::new(
                        code::FEATURE_NOT_SUPPORTED,
                        "multidimensional arrays are not supported",
                    ))
                }
                Some('"') => {
                    quoted = true;
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => return Err(malformed(s, "Unexpected end of input.")),
                            Some('\\') => {
                                let c = chars
                                    .get(i + 1)
                                    .ok_or_else(|| malformed(s, "Unexpected end of input."))?;
                                buf.push(*c);
                                i += 2;
                            }
                            Some('"') => {
                                i += 1;
                                break;
                            }
                            Some(c) => {
                                buf.push(*c);
                                i += 1;
                            }
                        }
                    }
                    skip_ws(&mut i);
                }
                _ => {
                    let mut trailing_ws = 0usize;
                    loop {
                        match chars.get(i) {
                            None => return Err(malformed(s, "Unexpected end of input.")),
                            Some(',') | Some('}') => break,
                            Some('"') | Some('{') => {
                                return Err(malformed(s, "Unexpected array element."))
                            }
                            Some('\\') => {
                                let c = chars
                                    .get(i + 1)
                                    .ok_or_else(|| malformed(s, "Unexpected end of input."))?;
                                buf.push(*c);
                                escaped_any = true;
                                trailing_ws = 0;
                                i += 2;
                            }
                            Some(c) => {
                                if array_space(*c) {
                                    trailing_ws += c.len_utf8();
                                } else {
                                    trailing_ws = 0;
                                }
                                buf.push(*c);
                                i += 1;
                            }
                        }
                    }
                    buf.truncate(buf.len() - trailing_ws.min(buf.len()));
                    if buf.is_empty() {
                        return Err(malformed(s, "Unexpected \",\" character."));
                    }
                }
            }
            if !quoted && !escaped_any && buf.eq_ignore_ascii_case("null") {
                items.push(Value::Null);
            } else {
                items.push(Value::parse_text(elem, &buf)?);
            }
            match chars.get(i) {
                Some(',') => i += 1,
                Some('}') => {
                    i += 1;
                    break;
                }
                _ => return Err(malformed(s, "Unexpected array element.")),
            }
        }
    }
    if i != chars.len() {
        return Err(malformed(s, "Junk after closing right brace."));
    }
    Ok(Value::Array(Box::new(elem.clone()), items))
}

/// A row's text form as PostgreSQL's record_out writes it: `(1,,"a b")` (NULL is empty; a
/// field that is empty or holds a quote, backslash, parenthesis, comma or space is quoted,
/// with quotes and backslashes doubled).
fn format_record(fields: &[Value]) -> String {
    let mut out = String::from("(");
    for (k, v) in fields.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        let Some(t) = v.to_text() else { continue };
        let quote = t.is_empty()
            || t.chars()
                .any(|c| matches!(c, '"' | '\\' | '(' | ')' | ',') || c.is_ascii_whitespace());
        if quote {
            out.push('"');
            for c in t.chars() {
                if c == '"' || c == '\\' {
                    out.push(c);
                }
                out.push(c);
            }
            out.push('"');
        } else {
            out.push_str(&t);
        }
    }
    out.push(')');
    out
}

fn format_array(items: &[Value]) -> String {
    let mut out = String::from("{");
    for (k, v) in items.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        match v.to_text() {
            None => out.push_str("NULL"),
            Some(t) => {
                let needs_quotes = t.is_empty()
                    || t.eq_ignore_ascii_case("null")
                    || t.chars().any(|c| {
                        matches!(
                            c,
                            '{' | '}'
                                | ','
                                | '"'
                                | '\\'
                                | ' '
                                | '\t'
                                | '\n'
                                | '\r'
                                | '\x0b'
                                | '\x0c'
                        )
                    });
                if needs_quotes {
                    out.push('"');
                    for c in t.chars() {
                        if c == '"' || c == '\\' {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                    out.push('"');
                } else {
                    out.push_str(&t);
                }
            }
        }
    }
    out.push('}');
    out
}

/// int2vector / oidvector input: space-separated numbers, kept in their output form.
fn parse_vector(ty: &DataType, s: &str) -> Result<String> {
    let mut parts = Vec::new();
    for p in s.split_whitespace() {
        let n = match ty {
            DataType::Int2Vector => i64::from(parse_int(p, "smallint")? as i16),
            _ => i64::from(parse_oid(p)?),
        };
        parts.push(n.to_string());
    }
    Ok(parts.join(" "))
}

/// The white space array input skips around elements: ASCII only, as PostgreSQL's
/// `array_isspace` (so a non-breaking space is part of an element, and output need not quote
/// it).
fn array_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}
