//! SQL comparison (`Value::compare`, with untyped-literal resolution and NULL), the total sort
//! order of ORDER BY/DISTINCT/GROUP BY (`Value::sort_cmp`), and small accessors: `data_type`,
//! `is_null`, `negate`, `as_bool`, `as_i64`, `as_f64`.

use super::datetime::date_to_timestamp;
use super::{DataType, Value};
use crate::error::{code, Error, Result};
use std::cmp::Ordering;

/// PostgreSQL's float order: NaN equals NaN and is greater than everything; -0 equals 0.
pub(crate) fn float_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Int2(x) => Some(i64::from(*x)),
        Value::Int4(x) => Some(i64::from(*x)),
        Value::Int8(x) => Some(*x),
        Value::Oid(x) => Some(i64::from(*x)),
        Value::Reg(r) => Some(i64::from(r.oid)),
        _ => None,
    }
}

fn float_of(v: &Value) -> Option<f64> {
    match v {
        Value::Float4(x) => Some(f64::from(*x)),
        Value::Float8(x) => Some(*x),
        Value::Numeric(n) => Some(n.to_f64()),
        other => int_of(other).map(|i| i as f64),
    }
}

fn ts_of(v: &Value) -> Option<i64> {
    match v {
        Value::Date(d) => Some(date_to_timestamp(*d)),
        Value::Timestamp(t) | Value::Timestamptz(t) => Some(*t),
        _ => None,
    }
}

/// Comparison of two non-null values of comparable types (no literal parsing).
pub(crate) fn cmp_same(a: &Value, b: &Value) -> Option<Ordering> {
    use Value as V;
    Some(match (a, b) {
        (V::Float4(_) | V::Float8(_), _) | (_, V::Float4(_) | V::Float8(_)) => {
            float_cmp(float_of(a)?, float_of(b)?)
        }
        (V::Numeric(x), V::Numeric(y)) => x.cmp_total(y),
        (V::Numeric(x), o) => x.cmp_total(&super::Numeric::from_i64(int_of(o)?)),
        (o, V::Numeric(y)) => super::Numeric::from_i64(int_of(o)?).cmp_total(y),
        (V::Bool(x), V::Bool(y)) => x.cmp(y),
        (V::Text(x), V::Text(y)) | (V::Json(x), V::Json(y)) => x.as_bytes().cmp(y.as_bytes()),
        (V::Bytea(x), V::Bytea(y)) => x.cmp(y),
        (V::Time(x), V::Time(y)) => x.cmp(y),
        (V::Interval(x), V::Interval(y)) => x.cmp_key().cmp(&y.cmp_key()),
        (V::Uuid(x), V::Uuid(y)) => x.cmp(y),
        (V::Jsonb(x), V::Jsonb(y)) => super::json::cmp(x, y),
        (V::Vector(x), V::Vector(y)) | (V::HalfVec(x), V::HalfVec(y)) => {
            super::vector_ops::cmp_dense(x, y)
        }
        (V::SparseVec(x), V::SparseVec(y)) => super::vector_ops::cmp_sparse(x, y),
        (V::Bit(x), V::Bit(y)) => x.bytes.cmp(&y.bytes).then(x.len.cmp(&y.len)),
        (V::Array(_, x), V::Array(_, y)) => {
            for (p, q) in x.iter().zip(y.iter()) {
                let o = match (p, q) {
                    (V::Null, V::Null) => Ordering::Equal,
                    (V::Null, _) => Ordering::Greater,
                    (_, V::Null) => Ordering::Less,
                    _ => cmp_same(p, q)?,
                };
                if o != Ordering::Equal {
                    return Some(o);
                }
            }
            x.len().cmp(&y.len())
        }
        _ => match (int_of(a), int_of(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => ts_of(a)?.cmp(&ts_of(b)?),
        },
    })
}

fn variant_rank(v: &Value) -> u8 {
    match v {
        Value::Bool(_) => 0,
        Value::Int2(_) | Value::Int4(_) | Value::Int8(_) | Value::Oid(_) | Value::Reg(_) => 1,
        Value::Float4(_) | Value::Float8(_) | Value::Numeric(_) => 1,
        Value::Text(_) => 3,
        Value::Bytea(_) => 4,
        Value::Date(_) | Value::Timestamp(_) | Value::Timestamptz(_) => 5,
        Value::Time(_) => 6,
        Value::Interval(_) => 7,
        Value::Uuid(_) => 8,
        Value::Json(_) => 9,
        Value::Jsonb(_) => 10,
        Value::Array(..) => 11,
        Value::Record(_) => 12,
        Value::Vector(_) => 14,
        Value::HalfVec(_) => 15,
        Value::SparseVec(_) => 16,
        Value::Bit(_) => 17,
        Value::Null => 18,
    }
}

pub(crate) fn op_error(op: &str, a: &DataType, b: &DataType) -> Error {
    Error::new(
        code::UNDEFINED_FUNCTION,
        format!(
            "operator does not exist: {} {op} {}",
            a.display(),
            b.display()
        ),
    )
}

impl Value {
    /// SQL comparison: `None` if either side is NULL. An untyped literal (`Value::Text`) facing
    /// another type is parsed as that type first. Incomparable types are error 42883.
    pub fn compare(&self, other: &Value) -> Result<Option<Ordering>> {
        match (self, other) {
            (Value::Null, _) | (_, Value::Null) => return Ok(None),
            (Value::Json(_), _) | (_, Value::Json(_)) => {
                return Err(op_error("=", &self.data_type(), &other.data_type()))
            }
            (Value::Text(s), o) if !matches!(o, Value::Text(_)) => {
                let v = Value::parse_text(&o.data_type(), s)?;
                return v.compare(o);
            }
            (o, Value::Text(s)) if !matches!(o, Value::Text(_)) => {
                let v = Value::parse_text(&o.data_type(), s)?;
                return o.compare(&v);
            }
            _ => {}
        }
        match cmp_same(self, other) {
            Some(o) => Ok(Some(o)),
            None => {
                // Arrays of different element types, or element literals inside arrays.
                if let (Value::Array(_, x), Value::Array(_, y))
                | (Value::Record(x), Value::Record(y)) = (self, other)
                {
                    for (p, q) in x.iter().zip(y.iter()) {
                        let o = match (p, q) {
                            (Value::Null, Value::Null) => Ordering::Equal,
                            (Value::Null, _) => Ordering::Greater,
                            (_, Value::Null) => Ordering::Less,
                            _ => p.compare(q)?.unwrap_or(Ordering::Equal),
                        };
                        if o != Ordering::Equal {
                            return Ok(Some(o));
                        }
                    }
                    return Ok(Some(x.len().cmp(&y.len())));
                }
                Err(op_error("=", &self.data_type(), &other.data_type()))
            }
        }
    }

    /// A total order for sorting and grouping values of one column: NULL greatest, NaN
    /// greatest among floats, -0 = 0; values of unrelated types order by type.
    pub fn sort_cmp(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Null, _) => Ordering::Greater,
            (_, Value::Null) => Ordering::Less,
            _ => cmp_same(self, other)
                .unwrap_or_else(|| variant_rank(self).cmp(&variant_rank(other))),
        }
    }

    /// The type of the value (`Null` is unknown; string values are text).
    pub fn data_type(&self) -> DataType {
        match self {
            Value::Null => DataType::Unknown,
            Value::Bool(_) => DataType::Bool,
            Value::Int2(_) => DataType::Int2,
            Value::Int4(_) => DataType::Int4,
            Value::Int8(_) => DataType::Int8,
            Value::Float4(_) => DataType::Float4,
            Value::Float8(_) => DataType::Float8,
            Value::Numeric(_) => DataType::Numeric(None),
            Value::Text(_) => DataType::Text,
            Value::Bytea(_) => DataType::Bytea,
            Value::Date(_) => DataType::Date,
            Value::Time(_) => DataType::Time(None),
            Value::Timestamp(_) => DataType::Timestamp(None),
            Value::Timestamptz(_) => DataType::Timestamptz(None),
            Value::Interval(_) => DataType::Interval,
            Value::Uuid(_) => DataType::Uuid,
            Value::Oid(_) => DataType::Oid,
            Value::Reg(r) => r.ty.clone(),
            Value::Json(_) => DataType::Json,
            Value::Jsonb(_) => DataType::Jsonb,
            Value::Array(e, _) => DataType::Array(e.clone()),
            Value::Vector(_) => DataType::Vector(None),
            Value::HalfVec(_) => DataType::HalfVec(None),
            Value::SparseVec(_) => DataType::SparseVec(None),
            Value::Bit(_) => DataType::VarBit(None),
            Value::Record(fields) => DataType::Record(
                fields
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (format!("f{}", i + 1), v.data_type()))
                    .collect(),
            ),
        }
    }

    /// Whether the value is SQL NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Unary minus, with overflow checks.
    pub fn negate(&self) -> Result<Value> {
        let range = |t: &str| {
            Error::new(
                code::NUMERIC_VALUE_OUT_OF_RANGE,
                format!("{t} out of range"),
            )
        };
        Ok(match self {
            Value::Null => Value::Null,
            Value::Int2(v) => Value::Int2(v.checked_neg().ok_or_else(|| range("smallint"))?),
            Value::Int4(v) => Value::Int4(v.checked_neg().ok_or_else(|| range("integer"))?),
            Value::Int8(v) => Value::Int8(v.checked_neg().ok_or_else(|| range("bigint"))?),
            Value::Float4(v) => Value::Float4(-v),
            Value::Float8(v) => Value::Float8(-v),
            Value::Numeric(n) => Value::Numeric(n.neg()),
            Value::Interval(iv) => Value::Interval(iv.checked_neg()?),
            Value::Text(s) => Value::parse_text(&DataType::Numeric(None), s)?.negate()?,
            other => {
                return Err(Error::new(
                    code::UNDEFINED_FUNCTION,
                    format!("operator does not exist: - {}", other.data_type().display()),
                ))
            }
        })
    }

    /// A boolean condition: `Bool` or NULL (an untyped literal is parsed as boolean).
    pub fn as_bool(&self) -> Result<Option<bool>> {
        match self {
            Value::Null => Ok(None),
            Value::Bool(b) => Ok(Some(*b)),
            Value::Text(s) => match Value::parse_text(&DataType::Bool, s)? {
                Value::Bool(b) => Ok(Some(b)),
                _ => Ok(None),
            },
            other => Err(Error::new(
                code::DATATYPE_MISMATCH,
                format!(
                    "argument must be type boolean, not type {}",
                    other.data_type().display()
                ),
            )),
        }
    }

    /// An integer argument (LIMIT, OFFSET, function arguments): integers, numerics and floats
    /// rounded as a cast to bigint rounds, untyped literals parsed as bigint.
    pub fn as_i64(&self) -> Result<Option<i64>> {
        match self {
            Value::Null => Ok(None),
            Value::Int2(_) | Value::Int4(_) | Value::Int8(_) | Value::Oid(_) | Value::Reg(_) => {
                Ok(int_of(self))
            }
            Value::Float4(_) | Value::Float8(_) | Value::Numeric(_) | Value::Text(_) => {
                match self.clone().cast(&DataType::Int8)? {
                    Value::Int8(v) => Ok(Some(v)),
                    _ => Ok(None),
                }
            }
            other => Err(Error::new(
                code::DATATYPE_MISMATCH,
                format!(
                    "argument must be type bigint, not type {}",
                    other.data_type().display()
                ),
            )),
        }
    }

    /// The value as a double, for numeric types.
    pub fn as_f64(&self) -> Option<f64> {
        float_of(self)
    }
}
