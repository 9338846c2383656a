//! Casts: explicit `CAST`/`::` (`Value::cast`), assignment casts for INSERT/UPDATE
//! (`Value::assign`), and which casts PostgreSQL applies implicitly (`implicit_cast_ok`).

use super::datetime::{self, round_to_precision as round, USECS_PER_DAY};
use super::numeric::Numeric;
use super::text::{fit_length, internal_char, truncate_bytes, truncate_length};
use super::{DataType, Value};
use crate::error::{code, Error, Result};

/// Which of PostgreSQL's cast contexts a conversion runs in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Explicit,
    Assignment,
}

pub(crate) fn out_of_range(ty: &DataType) -> Error {
    let name = match ty {
        DataType::Int2 => "smallint",
        DataType::Int4 => "integer",
        DataType::Int8 => "bigint",
        DataType::Oid => "OID",
        _ => "value",
    };
    Error::new(
        code::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("{name} out of range"),
    )
}

/// An i64 as a value of integer type `to` (range-checked).
pub(crate) fn int_to(v: i64, to: &DataType) -> Result<Value> {
    Ok(match to {
        DataType::Int2 => Value::Int2(i16::try_from(v).map_err(|_| out_of_range(to))?),
        DataType::Int4 => Value::Int4(i32::try_from(v).map_err(|_| out_of_range(to))?),
        DataType::Int8 => Value::Int8(v),
        DataType::Oid
        | DataType::RegClass
        | DataType::RegType
        | DataType::RegNamespace
        | DataType::RegRole => Value::Oid(u32::try_from(v).map_err(|_| out_of_range(to))?),
        DataType::Float4 => Value::Float4(v as f32),
        DataType::Float8 => Value::Float8(v as f64),
        DataType::Numeric(tm) => numeric_typmod(Numeric::from_i64(v), tm)?,
        _ => return Err(Error::new(code::INTERNAL_ERROR, "not an integer type")),
    })
}

fn numeric_typmod(n: Numeric, tm: &Option<(u32, u32)>) -> Result<Value> {
    Ok(Value::Numeric(match tm {
        Some((p, s)) => n.apply_typmod(*p, *s)?,
        None => n,
    }))
}

/// A float as a value of numeric type `to` (float → int rounds half to even).
fn float_to(v: f64, is_f4: bool, to: &DataType) -> Result<Value> {
    match to {
        DataType::Int2 | DataType::Int4 | DataType::Int8 => {
            let r = v.round_ties_even();
            // i64::MAX as f64 rounds up to 2^63, hence the strict bound.
            if !r.is_finite() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&r)
            {
                return Err(out_of_range(to));
            }
            int_to(r as i64, to)
        }
        DataType::Float4 => {
            let f = v as f32;
            if f.is_infinite() && v.is_finite() {
                return Err(Error::new(
                    code::NUMERIC_VALUE_OUT_OF_RANGE,
                    "value out of range: overflow",
                ));
            }
            if f == 0.0 && v != 0.0 {
                return Err(Error::new(
                    code::NUMERIC_VALUE_OUT_OF_RANGE,
                    "value out of range: underflow",
                ));
            }
            Ok(Value::Float4(f))
        }
        DataType::Float8 => Ok(Value::Float8(v)),
        DataType::Numeric(tm) => {
            numeric_typmod(Numeric::from_f64(v, if is_f4 { 6 } else { 15 }), tm)
        }
        _ => Err(Error::new(code::INTERNAL_ERROR, "not a numeric type")),
    }
}

fn numeric_to(n: Numeric, to: &DataType) -> Result<Value> {
    match to {
        DataType::Int2 | DataType::Int4 | DataType::Int8 => {
            if n.is_nan() {
                return Err(Error::new(
                    code::FEATURE_NOT_SUPPORTED,
                    format!("cannot convert NaN to {}", to.display()),
                ));
            }
            if !n.is_finite() {
                return Err(Error::new(
                    code::FEATURE_NOT_SUPPORTED,
                    format!("cannot convert infinity to {}", to.display()),
                ));
            }
            int_to(n.to_i64().ok_or_else(|| out_of_range(to))?, to)
        }
        DataType::Oid => int_to(n.to_i64().ok_or_else(|| out_of_range(to))?, to),
        DataType::Float4 | DataType::Float8 => float_to(n.to_f64(), false, to),
        DataType::Numeric(tm) => numeric_typmod(n, tm),
        _ => Err(Error::new(code::INTERNAL_ERROR, "not a numeric type")),
    }
}

/// The string forms: text, varchar(n), char(n), name, "char".
fn to_string_type(s: String, to: &DataType, ctx: Ctx) -> Result<Value> {
    Ok(Value::Text(match (to, ctx) {
        (DataType::Varchar(n), Ctx::Explicit) => truncate_length(&s, *n, false),
        (DataType::Char(n), Ctx::Explicit) => truncate_length(&s, *n, true),
        (DataType::Varchar(n), Ctx::Assignment) => fit_length(&s, *n, false, "character varying")?,
        (DataType::Char(n), Ctx::Assignment) => fit_length(&s, *n, true, "character")?,
        (DataType::Name, _) => truncate_bytes(&s, 63).to_string(),
        (DataType::InternalChar, _) => internal_char(&s),
        _ => s,
    }))
}

fn cannot_cast(from: &DataType, to: &DataType) -> Error {
    Error::new(
        code::CANNOT_COERCE,
        format!("cannot cast type {} to {}", from.display(), to.display()),
    )
}

fn cannot_assign(from: &DataType, to: &DataType) -> Error {
    Error::new(
        code::DATATYPE_MISMATCH,
        format!(
            "cannot assign a value of type {} to type {}",
            from.display(),
            to.display()
        ),
    )
}

impl Value {
    /// An explicit cast (`CAST(x AS t)`, `x::t`).
    pub fn cast(self, to: &DataType) -> Result<Value> {
        convert(self, to, Ctx::Explicit)
    }

    /// An assignment cast (INSERT/UPDATE target columns). `Value::Text` is an untyped literal.
    pub fn assign(self, to: &DataType) -> Result<Value> {
        convert(self, to, Ctx::Assignment)
    }
}

fn convert(v: Value, to: &DataType, ctx: Ctx) -> Result<Value> {
    let from = v.data_type();
    if to == &DataType::Unknown {
        return Ok(v);
    }
    match v {
        Value::Null => Ok(Value::Null),
        // A named reg* value: its name as a string, its oid otherwise.
        Value::Reg(r) => {
            if to.is_string() {
                to_string_type(r.name, to, ctx)
            } else if *to == r.ty {
                Ok(Value::Reg(r))
            } else {
                convert(Value::Oid(r.oid), to, ctx)
            }
        }
        // Strings: explicit casts from text use the input function; untyped literals too.
        Value::Text(s) => {
            if to.is_string() {
                to_string_type(s, to, ctx)
            } else {
                Value::parse_text(to, &s)
            }
        }
        Value::Array(elem, items) => match to {
            DataType::Vector(n) | DataType::HalfVec(n) | DataType::SparseVec(n) => {
                array_to_vector(&elem, &items, to, *n, ctx)
            }
            DataType::Array(te) => {
                let items = items
                    .into_iter()
                    .map(|x| convert(x, te, ctx))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Value::Array(te.clone(), items))
            }
            t if t.is_string() => {
                let s = Value::Array(elem, items).to_text().unwrap_or_default();
                to_string_type(s, to, ctx)
            }
            _ => Err(err_for(&from, to, ctx)),
        },
        Value::Bool(b) => match to {
            DataType::Bool => Ok(Value::Bool(b)),
            DataType::Int4 if ctx == Ctx::Explicit => Ok(Value::Int4(i32::from(b))),
            t if t.is_string() => {
                to_string_type(if b { "true" } else { "false" }.to_string(), to, ctx)
            }
            _ => Err(err_for(&from, to, ctx)),
        },
        Value::Int2(_) | Value::Int4(_) | Value::Int8(_) | Value::Oid(_) => {
            let i = match &v {
                Value::Int2(x) => i64::from(*x),
                Value::Int4(x) => i64::from(*x),
                Value::Int8(x) => *x,
                Value::Oid(x) => i64::from(*x),
                _ => 0,
            };
            match to {
                DataType::Oid if matches!(v, Value::Int4(_) | Value::Int2(_)) => {
                    Ok(Value::Oid(i as u32))
                }
                DataType::Int4 if matches!(v, Value::Oid(_)) => Ok(Value::Int4(i as u32 as i32)),
                DataType::Int2 | DataType::Int4 | DataType::Int8 | DataType::Oid => int_to(i, to),
                t if t.is_reg_oid() => int_to(i, to),
                DataType::Float4 | DataType::Float8 | DataType::Numeric(_) => int_to(i, to),
                DataType::Bool if matches!(v, Value::Int4(_)) && ctx == Ctx::Explicit => {
                    Ok(Value::Bool(i != 0))
                }
                // int4 to "char": the character with that code (a signed byte).
                DataType::InternalChar if matches!(v, Value::Int4(_) | Value::Int2(_)) => {
                    let byte = i8::try_from(i).map_err(|_| {
                        Error::new(code::NUMERIC_VALUE_OUT_OF_RANGE, "\"char\" out of range")
                    })? as u8;
                    Ok(Value::Text(match byte {
                        0 => String::new(),
                        1..=127 => char::from(byte).to_string(),
                        _ => format!("\\{byte:03o}"),
                    }))
                }
                t if t.is_string() => to_string_type(v.to_text().unwrap_or_default(), to, ctx),
                _ => Err(err_for(&from, to, ctx)),
            }
        }
        Value::Float4(f) if to.is_numeric() => float_to(f64::from(f), true, to),
        Value::Float8(f) if to.is_numeric() => float_to(f, false, to),
        Value::Numeric(n) if to.is_numeric() => numeric_to(n, to),
        Value::Date(d) => match to {
            DataType::Date => Ok(Value::Date(d)),
            DataType::Timestamp(_) => Ok(Value::Timestamp(datetime::date_to_timestamp(d))),
            DataType::Timestamptz(_) => Ok(Value::Timestamptz(datetime::date_to_timestamp(d))),
            t if t.is_string() => to_string_type(datetime::format_date(d), to, ctx),
            _ => Err(err_for(&from, to, ctx)),
        },
        Value::Timestamp(t) | Value::Timestamptz(t) => match to {
            DataType::Timestamp(p) => Ok(Value::Timestamp(round(t, *p))),
            DataType::Timestamptz(p) => Ok(Value::Timestamptz(round(t, *p))),
            DataType::Date => Ok(Value::Date(datetime::timestamp_to_date(t))),
            DataType::Time(p) if t != i64::MAX && t != i64::MIN => {
                Ok(Value::Time(round(t.rem_euclid(USECS_PER_DAY), *p)))
            }
            DataType::Time(_) => Err(Error::new(
                code::DATETIME_FIELD_OVERFLOW,
                "timestamp out of range",
            )),
            s if s.is_string() => to_string_type(v.to_text().unwrap_or_default(), to, ctx),
            _ => Err(err_for(&from, to, ctx)),
        },
        Value::Time(t) => match to {
            DataType::Time(p) => Ok(Value::Time(round(t, *p))),
            DataType::Interval => Ok(Value::Interval(datetime::Interval::new(0, 0, t))),
            s if s.is_string() => to_string_type(datetime::format_time(t), to, ctx),
            _ => Err(err_for(&from, to, ctx)),
        },
        Value::Interval(iv) => match to {
            DataType::Interval => Ok(Value::Interval(iv)),
            DataType::Time(p) => Ok(Value::Time(round(iv.micros.rem_euclid(USECS_PER_DAY), *p))),
            s if s.is_string() => to_string_type(iv.to_text(), to, ctx),
            _ => Err(err_for(&from, to, ctx)),
        },
        Value::Json(s) => match to {
            DataType::Json => Ok(Value::Json(s)),
            DataType::Jsonb => Ok(Value::Jsonb(super::json::parse(&s)?)),
            t if t.is_string() => to_string_type(s, to, ctx),
            _ => Err(err_for(&from, to, ctx)),
        },
        Value::Jsonb(j) => match to {
            DataType::Jsonb => Ok(Value::Jsonb(j)),
            DataType::Json => Ok(Value::Json(super::json::to_text(&j))),
            t if t.is_string() => to_string_type(super::json::to_text(&j), to, ctx),
            DataType::Bool if ctx == Ctx::Explicit => match j {
                serde_json::Value::Bool(b) => Ok(Value::Bool(b)),
                other => Err(jsonb_scalar_err(&other, to)),
            },
            t if t.is_numeric() && ctx == Ctx::Explicit => match &j {
                serde_json::Value::Number(n) => {
                    let n = Numeric::parse(&super::json::to_text(&serde_json::Value::Number(
                        n.clone(),
                    )))
                    .ok_or_else(|| Error::new(code::INTERNAL_ERROR, "bad jsonb number"))?;
                    numeric_to(n, to)
                }
                other => Err(jsonb_scalar_err(other, to)),
            },
            _ => Err(err_for(&from, to, ctx)),
        },
        Value::Vector(_) | Value::HalfVec(_) | Value::SparseVec(_) => vector_cast(v, to, ctx),
        Value::Bit(b) => match to {
            DataType::Bit(n) => Ok(Value::Bit(b.fit(*n, None)?)),
            DataType::VarBit(n) => Ok(Value::Bit(b.fit(None, *n)?)),
            t if t.is_string() => to_string_type(b.to_text(), to, ctx),
            _ => Err(err_for(&from, to, ctx)),
        },
        other => {
            if &from == to
                || matches!(
                    (&other, to),
                    (
                        Value::Float4(_) | Value::Float8(_) | Value::Numeric(_),
                        DataType::Float4 | DataType::Float8 | DataType::Numeric(_)
                    )
                )
            {
                return Ok(other);
            }
            if to.is_string() {
                let s = other.to_text().unwrap_or_default();
                return to_string_type(s, to, ctx);
            }
            Err(err_for(&from, to, ctx))
        }
    }
}

/// pgvector's casts between vector, halfvec and sparsevec, to real[], and to text.
fn vector_cast(v: Value, to: &DataType, ctx: Ctx) -> Result<Value> {
    use super::vector::{check_typmod, to_half, too_many_dims, Kind, SparseVec, MAX_DIM};
    let from = v.data_type();
    let dense_of = |v: Value, kind: Kind| -> Result<Vec<f32>> {
        Ok(match v {
            Value::Vector(x) | Value::HalfVec(x) => x,
            Value::SparseVec(s) => {
                if s.dim > MAX_DIM {
                    return Err(too_many_dims(kind));
                }
                s.to_dense()
            }
            _ => Vec::new(),
        })
    };
    match to {
        DataType::Vector(n) => {
            let x = dense_of(v, Kind::Vector)?;
            check_typmod(*n, x.len())?;
            Ok(Value::Vector(x))
        }
        DataType::HalfVec(n) => {
            let x = dense_of(v, Kind::HalfVec)?;
            check_typmod(*n, x.len())?;
            let x = x.into_iter().map(to_half).collect::<Result<Vec<_>>>()?;
            Ok(Value::HalfVec(x))
        }
        DataType::SparseVec(n) => {
            let s = match v {
                Value::SparseVec(s) => *s,
                Value::Vector(x) | Value::HalfVec(x) => SparseVec::from_dense(&x),
                _ => return Err(err_for(&from, to, ctx)),
            };
            check_typmod(*n, s.dim as usize)?;
            Ok(Value::SparseVec(Box::new(s)))
        }
        DataType::Array(e) if **e == DataType::Float4 => match v {
            Value::Vector(x) | Value::HalfVec(x) => Ok(Value::Array(
                Box::new(DataType::Float4),
                x.into_iter().map(Value::Float4).collect(),
            )),
            _ => Err(err_for(&from, to, ctx)),
        },
        t if t.is_string() => to_string_type(v.to_text().unwrap_or_default(), to, ctx),
        _ => Err(err_for(&from, to, ctx)),
    }
}

/// integer[], real[], double precision[] and numeric[] to a vector type (pgvector's
/// array_to_vector family).
fn array_to_vector(
    elem: &DataType,
    items: &[Value],
    to: &DataType,
    typmod: Option<u32>,
    ctx: Ctx,
) -> Result<Value> {
    use super::vector::{from_array, Kind, SparseVec};
    if !elem.is_numeric() && *elem != DataType::Unknown && !elem.is_string() {
        return Err(err_for(&DataType::Array(Box::new(elem.clone())), to, ctx));
    }
    let mut nums = Vec::with_capacity(items.len());
    for it in items {
        nums.push(match it {
            Value::Null => None,
            other => match other.clone().cast(&DataType::Float8)? {
                Value::Float8(f) => Some(f),
                _ => None,
            },
        });
    }
    Ok(match to {
        DataType::HalfVec(_) => Value::HalfVec(from_array(Kind::HalfVec, &nums, typmod)?),
        DataType::SparseVec(_) => {
            let dense = from_array(Kind::SparseVec, &nums, typmod)?;
            Value::SparseVec(Box::new(SparseVec::from_dense(&dense)))
        }
        _ => Value::Vector(from_array(Kind::Vector, &nums, typmod)?),
    })
}

fn jsonb_scalar_err(v: &serde_json::Value, to: &DataType) -> Error {
    let kind = match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "numeric",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    };
    Error::new(
        code::INVALID_PARAMETER_VALUE,
        format!("cannot cast jsonb {kind} to type {}", to.display()),
    )
}

fn err_for(from: &DataType, to: &DataType, ctx: Ctx) -> Error {
    match ctx {
        Ctx::Explicit => cannot_cast(from, to),
        Ctx::Assignment => cannot_assign(from, to),
    }
}

impl Value {
    /// Whether PostgreSQL converts `from` to `to` implicitly (in expressions and calls).
    pub fn implicit_cast_ok(from: &DataType, to: &DataType) -> bool {
        implicit_cast_ok(from, to)
    }
}

fn implicit_cast_ok(from: &DataType, to: &DataType) -> bool {
    use DataType as T;
    if from == to {
        return true;
    }
    match (from, to) {
        (T::Unknown, _) => true,
        (T::Int2, T::Int4 | T::Int8 | T::Numeric(_) | T::Float4 | T::Float8 | T::Oid) => true,
        (T::Int4, T::Int8 | T::Numeric(_) | T::Float4 | T::Float8 | T::Oid) => true,
        (T::Int8, T::Numeric(_) | T::Float4 | T::Float8 | T::Oid) => true,
        (T::Oid, t) | (t, T::Oid) if t.is_reg_oid() => true,
        (T::Int2 | T::Int4 | T::Int8, t) if t.is_reg_oid() => true,
        (T::Numeric(_), T::Numeric(_) | T::Float4 | T::Float8) => true,
        (T::Float4, T::Float8) => true,
        (
            T::Text | T::Varchar(_) | T::Char(_) | T::Name | T::InternalChar,
            T::Text | T::Varchar(_),
        ) => true,
        (T::Text | T::Varchar(_) | T::Char(None), T::Name) => true,
        (T::Char(_), T::Char(None)) => true,
        (T::Date, T::Timestamp(_) | T::Timestamptz(_)) => true,
        (T::Timestamp(_), T::Timestamptz(_)) => true,
        (T::Time(_), T::Interval) => true,
        (T::Array(a), T::Array(b)) => implicit_cast_ok(a, b),
        (T::Vector(_), T::Vector(_) | T::HalfVec(_) | T::SparseVec(_)) => true,
        (T::HalfVec(_), T::HalfVec(_) | T::SparseVec(_)) => true,
        (T::SparseVec(_), T::SparseVec(_)) => true,
        (T::Vector(_), T::Array(e)) => **e == T::Float4,
        (T::Bit(_) | T::VarBit(_), T::Bit(_) | T::VarBit(_)) => true,
        _ => false,
    }
}
