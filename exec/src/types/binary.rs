//! Binary wire formats (PostgreSQL's `typsend`/`typreceive`), big-endian: `Value::to_binary`
//! and `Value::from_binary`. Malformed input is an error (22P03 or 22021), never a panic.

use super::bits::Bits;
use super::datetime::Interval;
use super::numeric::Numeric;
use super::text::{internal_char, truncate_bytes};
use super::vector::{self, Kind};
use super::{DataType, Value};
use crate::error::{code, Error, Result};

fn bad_format() -> Error {
    Error::new(
        code::INVALID_BINARY_REPRESENTATION,
        "incorrect binary data format",
    )
}

fn fixed<const N: usize>(b: &[u8]) -> Result<[u8; N]> {
    b.try_into().map_err(|_| bad_format())
}

fn utf8(b: &[u8]) -> Result<String> {
    match std::str::from_utf8(b) {
        Ok(s) if !s.contains('\0') => Ok(s.to_string()),
        Ok(_) => Err(Error::new(
            "22021",
            "invalid byte sequence for encoding \"UTF8\": 0x00",
        )),
        Err(e) => {
            let at = e.valid_up_to();
            let bad: Vec<String> = b
                .iter()
                .skip(at)
                .take(e.error_len().unwrap_or(1).max(1))
                .map(|c| format!("{c:02x}"))
                .collect();
            Err(Error::new(
                "22021",
                format!(
                    "invalid byte sequence for encoding \"UTF8\": 0x{}",
                    bad.join(" 0x")
                ),
            ))
        }
    }
}

impl Value {
    /// Appends the binary wire form (not called for `Null`, which the protocol sends as -1).
    pub fn to_binary(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => {}
            Value::Bool(b) => out.push(u8::from(*b)),
            Value::Int2(v) => out.extend_from_slice(&v.to_be_bytes()),
            Value::Int4(v) => out.extend_from_slice(&v.to_be_bytes()),
            Value::Int8(v) => out.extend_from_slice(&v.to_be_bytes()),
            Value::Float4(v) => out.extend_from_slice(&v.to_bits().to_be_bytes()),
            Value::Float8(v) => out.extend_from_slice(&v.to_bits().to_be_bytes()),
            Value::Numeric(n) => n.to_binary(out),
            Value::Text(s) | Value::Json(s) => out.extend_from_slice(s.as_bytes()),
            Value::Bytea(b) => out.extend_from_slice(b),
            Value::Date(d) => out.extend_from_slice(&d.to_be_bytes()),
            Value::Time(t) | Value::Timestamp(t) | Value::Timestamptz(t) => {
                out.extend_from_slice(&t.to_be_bytes())
            }
            Value::Interval(iv) => {
                out.extend_from_slice(&iv.micros.to_be_bytes());
                out.extend_from_slice(&iv.days.to_be_bytes());
                out.extend_from_slice(&iv.months.to_be_bytes());
            }
            Value::Uuid(u) => out.extend_from_slice(u),
            Value::Oid(o) => out.extend_from_slice(&o.to_be_bytes()),
            Value::Reg(r) => out.extend_from_slice(&r.oid.to_be_bytes()),
            Value::Jsonb(j) => {
                out.push(1);
                out.extend_from_slice(super::json::to_text(j).as_bytes());
            }
            Value::Vector(v) => super::vector::dense_to_binary(Kind::Vector, v, out),
            Value::HalfVec(v) => super::vector::dense_to_binary(Kind::HalfVec, v, out),
            Value::SparseVec(v) => super::vector::sparse_to_binary(v, out),
            Value::Bit(b) => b.to_binary(out),
            // record_send: the field count, then each field's type oid and value.
            Value::Record(fields) => {
                out.extend_from_slice(&(fields.len() as i32).to_be_bytes());
                for f in fields {
                    out.extend_from_slice(&f.data_type().oid().to_be_bytes());
                    put_item(f, out);
                }
            }
            Value::Array(elem, items) => {
                let has_null = items.iter().any(Value::is_null);
                let ndim: i32 = if items.is_empty() { 0 } else { 1 };
                out.extend_from_slice(&ndim.to_be_bytes());
                out.extend_from_slice(&i32::from(has_null).to_be_bytes());
                out.extend_from_slice(&elem.oid().to_be_bytes());
                if ndim == 1 {
                    out.extend_from_slice(&(items.len() as i32).to_be_bytes());
                    out.extend_from_slice(&1i32.to_be_bytes());
                }
                for it in items {
                    put_item(it, out);
                }
            }
        }
    }

    /// A value of `ty` as a stored row holds it (its binary form, written from a value that
    /// already fit the column): [`Value::from_binary`] without re-applying the type modifier.
    pub fn from_stored(ty: &DataType, b: &[u8]) -> Result<Value> {
        Ok(match ty {
            DataType::Numeric(_) => Value::Numeric(Numeric::from_binary(b)?),
            DataType::Varchar(_) | DataType::Char(_) => Value::Text(utf8(b)?),
            other => Value::from_binary(other, b)?,
        })
    }

    /// Parses the binary wire form of a value of `ty` (the type modifier is applied).
    pub fn from_binary(ty: &DataType, b: &[u8]) -> Result<Value> {
        Ok(match ty {
            DataType::Bool => match b {
                [v] => Value::Bool(*v != 0),
                _ => return Err(bad_format()),
            },
            DataType::Int2 => Value::Int2(i16::from_be_bytes(fixed(b)?)),
            DataType::Int4 => Value::Int4(i32::from_be_bytes(fixed(b)?)),
            DataType::Int8 => Value::Int8(i64::from_be_bytes(fixed(b)?)),
            DataType::Float4 => Value::Float4(f32::from_bits(u32::from_be_bytes(fixed(b)?))),
            DataType::Float8 => Value::Float8(f64::from_bits(u64::from_be_bytes(fixed(b)?))),
            DataType::Numeric(tm) => {
                let n = Numeric::from_binary(b)?;
                Value::Numeric(match tm {
                    Some((p, s)) => n.apply_typmod(*p, *s)?,
                    None => n,
                })
            }
            DataType::Text | DataType::Unknown => Value::Text(utf8(b)?),
            DataType::Void => Value::Text(String::new()),
            DataType::Varchar(_) | DataType::Char(_) => {
                let s = utf8(b)?;
                Value::parse_text(ty, &s)?
            }
            DataType::Name => Value::Text(truncate_bytes(&utf8(b)?, 63).to_string()),
            DataType::InternalChar => match b {
                [] => Value::Text(String::new()),
                [c] if *c < 0x80 => Value::Text((*c as char).to_string()),
                [c] => Value::Text(internal_char(&format!("\\{c:03o}"))),
                _ => return Err(bad_format()),
            },
            DataType::Oid
            | DataType::RegClass
            | DataType::RegType
            | DataType::RegNamespace
            | DataType::RegRole => Value::Oid(u32::from_be_bytes(fixed(b)?)),
            DataType::RegProc => Value::Text(u32::from_be_bytes(fixed(b)?).to_string()),
            DataType::Int2Vector | DataType::OidVector => {
                let elem = if *ty == DataType::Int2Vector {
                    DataType::Int2
                } else {
                    DataType::Oid
                };
                match array_from_binary(&elem, b)? {
                    Value::Array(_, items) => Value::Text(
                        items
                            .iter()
                            .filter_map(Value::to_text)
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                    _ => return Err(bad_format()),
                }
            }
            DataType::Bytea => Value::Bytea(b.to_vec()),
            DataType::Date => Value::Date(i32::from_be_bytes(fixed(b)?)),
            DataType::Time(_) => {
                let t = i64::from_be_bytes(fixed(b)?);
                if !(0..=super::datetime::USECS_PER_DAY).contains(&t) {
                    return Err(Error::new(
                        code::DATETIME_FIELD_OVERFLOW,
                        "time out of range",
                    ));
                }
                Value::Time(t)
            }
            DataType::Timestamp(_) => Value::Timestamp(i64::from_be_bytes(fixed(b)?)),
            DataType::Timestamptz(_) => Value::Timestamptz(i64::from_be_bytes(fixed(b)?)),
            DataType::Interval => {
                let a: [u8; 16] = fixed(b)?;
                let (us, rest) = a.split_at(8);
                let (d, m) = rest.split_at(4);
                Value::Interval(Interval {
                    micros: i64::from_be_bytes(fixed(us)?),
                    days: i32::from_be_bytes(fixed(d)?),
                    months: i32::from_be_bytes(fixed(m)?),
                })
            }
            DataType::Uuid => Value::Uuid(fixed(b)?),
            DataType::Json => {
                let s = utf8(b)?;
                super::json::parse(&s)?;
                Value::Json(s)
            }
            DataType::Jsonb => match b.split_first() {
                Some((1, rest)) => Value::Jsonb(super::json::parse(&utf8(rest)?)?),
                Some((v, _)) => {
                    return Err(Error::new(
                        code::INVALID_BINARY_REPRESENTATION,
                        format!("unsupported jsonb version number {v}"),
                    ))
                }
                None => return Err(bad_format()),
            },
            DataType::Array(elem) => array_from_binary(elem, b)?,
            DataType::Vector(n) => Value::Vector(vector::dense_from_binary(Kind::Vector, b, *n)?),
            DataType::HalfVec(n) => {
                Value::HalfVec(vector::dense_from_binary(Kind::HalfVec, b, *n)?)
            }
            DataType::SparseVec(n) => {
                Value::SparseVec(Box::new(vector::sparse_from_binary(b, *n)?))
            }
            DataType::Bit(n) => Value::Bit(Bits::from_binary(b, *n, None)?),
            DataType::VarBit(n) => Value::Bit(Bits::from_binary(b, None, *n)?),
            DataType::Record(_) => {
                return Err(Error::new(
                    code::FEATURE_NOT_SUPPORTED,
                    "input of anonymous composite types is not implemented",
                ))
            }
        })
    }
}

/// An array element or record field: its length (-1 for NULL), then its binary form.
fn put_item(v: &Value, out: &mut Vec<u8>) {
    if v.is_null() {
        out.extend_from_slice(&(-1i32).to_be_bytes());
        return;
    }
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    v.to_binary(out);
    let len = (out.len() - at - 4) as i32;
    if let Some(slot) = out.get_mut(at..at + 4) {
        slot.copy_from_slice(&len.to_be_bytes());
    }
}

fn array_from_binary(elem: &DataType, b: &[u8]) -> Result<Value> {
    let mut pos = 0usize;
    let next_i32 = |pos: &mut usize| -> Result<i32> {
        let v = b.get(*pos..*pos + 4).ok_or_else(bad_format)?;
        *pos += 4;
        Ok(i32::from_be_bytes(fixed(v)?))
    };
    let ndim = next_i32(&mut pos)?;
    let flags = next_i32(&mut pos)?;
    let elem_oid = next_i32(&mut pos)? as u32;
    if !(0..=6).contains(&ndim) {
        return Err(Error::new(
            code::INVALID_BINARY_REPRESENTATION,
            format!("invalid number of dimensions: {ndim}"),
        ));
    }
    if flags != 0 && flags != 1 {
        return Err(Error::new(
            code::INVALID_BINARY_REPRESENTATION,
            "invalid array flags",
        ));
    }
    if elem_oid != elem.oid() {
        return Err(Error::new(
            code::DATATYPE_MISMATCH,
            format!(
                "binary data has array element type {elem_oid} ({}) instead of expected {} ({})",
                DataType::from_oid(elem_oid)
                    .map(|t| t.typname())
                    .unwrap_or_else(|| "unknown".to_string()),
                elem.oid(),
                elem.typname()
            ),
        ));
    }
    if ndim > 1 {
        return Err(Error::new(
            code::FEATURE_NOT_SUPPORTED,
            "multidimensional arrays are not supported",
        ));
    }
    let mut n = 0usize;
    if ndim == 1 {
        let len = next_i32(&mut pos)?;
        let _lower = next_i32(&mut pos)?;
        if len < 0 || len as usize > b.len() {
            return Err(bad_format());
        }
        n = len as usize;
    }
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        let len = next_i32(&mut pos)?;
        if len == -1 {
            items.push(Value::Null);
            continue;
        }
        if len < 0 {
            return Err(bad_format());
        }
        let bytes = b.get(pos..pos + len as usize).ok_or_else(bad_format)?;
        pos += len as usize;
        items.push(Value::from_binary(elem, bytes)?);
    }
    if pos != b.len() {
        return Err(bad_format());
    }
    Ok(Value::Array(Box::new(elem.clone()), items))
}
