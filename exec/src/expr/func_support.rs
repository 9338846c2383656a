//! Helpers of the scalar functions: random numbers for random() and gen_random_uuid(),
//! md5(), to_jsonb()'s conversion, and rounding (round, trunc, ceil, floor). (date_part and EXTRACT are in `date_part`.)

use crate::error::{code, Error, Result};
use crate::types::{DataType, Value};

pub(super) fn rand_u64() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
                | 1,
        );
    }
    STATE.with(|s| {
        // xorshift64*
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

pub(super) fn rand_f64() -> f64 {
    (rand_u64() >> 11) as f64 / (1u64 << 53) as f64
}

pub(super) fn md5_hex(data: &[u8]) -> String {
    let digest = md5::compute(data);
    format!("{digest:x}")
}

/// The text of a number (integer, numeric, float), `None` for any other value.
pub(crate) fn number_text(v: &Value) -> Option<String> {
    match v {
        Value::Int2(_)
        | Value::Int4(_)
        | Value::Int8(_)
        | Value::Numeric(_)
        | Value::Float4(_)
        | Value::Float8(_) => v.to_text(),
        _ => None,
    }
}

/// `to_jsonb(v)`: numbers and booleans as JSON's own, arrays as JSON arrays (element by
/// element), json as itself, dates and times in ISO 8601 (`2024-01-01T10:00:00`, offsets
/// as `+00:00`), anything else (and non-finite floats) as its text in a string.
pub(crate) fn to_json(v: &Value) -> Result<serde_json::Value> {
    use serde_json::Value as J;
    let text = || v.to_text().unwrap_or_default();
    Ok(match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Jsonb(j) => j.clone(),
        v if number_text(v).is_some() => {
            let t = text();
            match serde_json::from_str::<J>(&t) {
                Ok(n @ J::Number(_)) => n,
                _ => J::String(t),
            }
        }
        Value::Array(_, items) => J::Array(items.iter().map(to_json).collect::<Result<_>>()?),
        Value::Timestamp(_) | Value::Date(_) | Value::Time(_) => {
            J::String(text().replacen(' ', "T", 1))
        }
        Value::Timestamptz(_) => {
            let mut t = text().replacen(' ', "T", 1);
            // `+00` → `+00:00`, as PostgreSQL's JSON form writes the offset.
            if let Some(sign) = t.len().checked_sub(3).and_then(|i| t.get(i..i + 1)) {
                if sign == "+" || sign == "-" {
                    t.push_str(":00");
                }
            }
            J::String(t)
        }
        Value::Json(s) => serde_json::from_str(s).unwrap_or_else(|_| J::String(s.clone())),
        _ => J::String(text()),
    })
}

/// A value as `to_json` writes it in json text: numbers as they print, arrays without
/// spaces, json as it was written, the rest through `to_jsonb`'s conversion.
pub(crate) fn json_text(v: &Value) -> Result<String> {
    Ok(match v {
        Value::Null => "null".into(),
        Value::Json(s) => s.clone(),
        v if number_text(v).is_some() => {
            let t = number_text(v).unwrap_or_default();
            if serde_json::from_str::<serde_json::Number>(&t).is_ok() {
                t
            } else {
                serde_json::Value::String(t).to_string()
            }
        }
        Value::Array(_, items) => {
            let parts = items.iter().map(json_text).collect::<Result<Vec<_>>>()?;
            format!("[{}]", parts.join(","))
        }
        Value::Jsonb(_) => v.to_text().unwrap_or_default(),
        other => to_json(other)?.to_string(),
    })
}

/// PostgreSQL's error for a call no function matches.
pub(super) fn no_function(name: &str, args: &[DataType]) -> Error {
    let shown: Vec<String> = args.iter().map(|t| t.to_string()).collect();
    Error::new(
        code::UNDEFINED_FUNCTION,
        format!("function {name}({}) does not exist", shown.join(", ")),
    )
    .with_detail("No function matches the given name and argument types.")
}

/// round / trunc / ceil / floor of a float, integer or numeric, to `digits` places.
pub(super) fn round_like(f: &super::Func, x: &Value, digits: Option<&Value>) -> Result<Value> {
    let places = match digits {
        Some(d) => super::func::int(d)?,
        None => 0,
    };
    match x {
        Value::Float4(_) | Value::Float8(_) if digits.is_none() => {
            let v = super::func::float(x)?;
            Ok(Value::Float8(match f {
                super::Func::Ceil => v.ceil(),
                super::Func::Floor => v.floor(),
                super::Func::Trunc => v.trunc(),
                // PostgreSQL's float round() is rint(): halves to even.
                _ => v.round_ties_even(),
            }))
        }
        Value::Int2(_) | Value::Int4(_) | Value::Int8(_)
            if matches!(f, super::Func::Ceil | super::Func::Floor) =>
        {
            Ok(x.clone())
        }
        _ => {
            let n = x.clone().cast(&DataType::Numeric(None))?;
            let Value::Numeric(n) = n else {
                return Ok(Value::Null);
            };
            let out = match f {
                super::Func::Ceil | super::Func::Floor => {
                    let t = n.trunc_to(0);
                    match (f, n.cmp_total(&t)) {
                        (super::Func::Ceil, std::cmp::Ordering::Greater) => {
                            t.add(&crate::types::Numeric::from_i64(1))
                        }
                        (super::Func::Floor, std::cmp::Ordering::Less) => {
                            t.sub(&crate::types::Numeric::from_i64(1))
                        }
                        _ => t,
                    }
                }
                super::Func::Trunc => n.trunc_to(places),
                _ => n.round_to(places),
            };
            let v = Value::Numeric(out);
            match (f, x) {
                (super::Func::Ceil | super::Func::Floor, Value::Float4(_) | Value::Float8(_)) => {
                    v.cast(&DataType::Float8)
                }
                _ => Ok(v),
            }
        }
    }
}
