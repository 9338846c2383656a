//! Evaluation of the non-numeric binary operators for `ops`: date/time arithmetic,
//! concatenation (`||` on strings, arrays, jsonb, bytea) and the json accessors.

use super::compare::op_error;
use super::datetime::{self, Interval, USECS_PER_DAY};
use super::json;
use super::{BinaryOp, DataType, Value};
use crate::error::{code, Error, Result};

pub(crate) fn temporal(op: BinaryOp, l: &Value, r: &Value, res: &DataType) -> Result<Value> {
    use BinaryOp as B;
    use Value as V;
    let ts = |t: i64| -> Value {
        if matches!(res, DataType::Timestamptz(_)) {
            V::Timestamptz(t)
        } else {
            V::Timestamp(t)
        }
    };
    let to_ts = |v: &Value| -> Option<i64> {
        match v {
            V::Date(d) => Some(datetime::date_to_timestamp(*d)),
            V::Timestamp(t) | V::Timestamptz(t) => Some(*t),
            _ => None,
        }
    };
    let date_range = || Error::new(code::DATETIME_FIELD_OVERFLOW, "date out of range");
    Ok(match (op, l, r) {
        (B::Add, V::Date(d), n) | (B::Add, n, V::Date(d))
            if n.as_i64().ok().flatten().is_some() && !matches!(n, V::Date(_)) =>
        {
            let k = n.as_i64()?.unwrap_or(0);
            V::Date(i32::try_from(i64::from(*d) + k).map_err(|_| date_range())?)
        }
        (B::Sub, V::Date(d), V::Date(e)) => V::Int4(d.checked_sub(*e).ok_or_else(date_range)?),
        (B::Sub, V::Date(d), n)
            if !matches!(n, V::Interval(_) | V::Timestamp(_) | V::Timestamptz(_)) =>
        {
            let k = n.as_i64()?.unwrap_or(0);
            V::Date(i32::try_from(i64::from(*d) - k).map_err(|_| date_range())?)
        }
        (B::Add, V::Date(d), V::Time(t)) | (B::Add, V::Time(t), V::Date(d)) => {
            V::Timestamp(datetime::date_to_timestamp(*d).saturating_add(*t))
        }
        (B::Add, a, V::Interval(iv)) | (B::Add, V::Interval(iv), a) if to_ts(a).is_some() => {
            ts(datetime::timestamp_add(to_ts(a).unwrap_or(0), iv)?)
        }
        (B::Sub, a, V::Interval(iv)) if to_ts(a).is_some() => ts(datetime::timestamp_add(
            to_ts(a).unwrap_or(0),
            &iv.checked_neg()?,
        )?),
        (B::Sub, a, b) if to_ts(a).is_some() && to_ts(b).is_some() => V::Interval(
            datetime::timestamp_diff(to_ts(a).unwrap_or(0), to_ts(b).unwrap_or(0))?,
        ),
        (B::Add, V::Time(t), V::Interval(iv)) | (B::Add, V::Interval(iv), V::Time(t)) => {
            V::Time((t + iv.micros.rem_euclid(USECS_PER_DAY)).rem_euclid(USECS_PER_DAY))
        }
        (B::Sub, V::Time(t), V::Interval(iv)) => {
            V::Time((t - iv.micros.rem_euclid(USECS_PER_DAY)).rem_euclid(USECS_PER_DAY))
        }
        (B::Sub, V::Time(a), V::Time(b)) => V::Interval(Interval::new(0, 0, a - b)),
        (B::Add, V::Interval(a), V::Interval(b)) => V::Interval(a.checked_add(b)?),
        (B::Sub, V::Interval(a), V::Interval(b)) => V::Interval(a.checked_sub(b)?),
        (B::Mul, V::Interval(a), n) | (B::Mul, n, V::Interval(a)) => {
            V::Interval(a.mul_f64(n.as_f64().unwrap_or(f64::NAN))?)
        }
        (B::Div, V::Interval(a), n) => V::Interval(a.div_f64(n.as_f64().unwrap_or(f64::NAN))?),
        _ => return Err(op_error(op.symbol(), &l.data_type(), &r.data_type())),
    })
}

pub(crate) fn concat(l: &Value, r: &Value, res: &DataType) -> Result<Value> {
    Ok(match (l, r, res) {
        (Value::Array(e, a), Value::Array(_, b), _) => {
            let mut items = a.clone();
            for x in b {
                items.push(x.clone().cast(e)?);
            }
            Value::Array(e.clone(), items)
        }
        (Value::Array(e, a), x, _) => {
            let mut items = a.clone();
            items.push(x.clone().cast(e)?);
            Value::Array(e.clone(), items)
        }
        (x, Value::Array(e, a), _) => {
            let mut items = vec![x.clone().cast(e)?];
            items.extend(a.iter().cloned());
            Value::Array(e.clone(), items)
        }
        (Value::Jsonb(a), Value::Jsonb(b), _) => Value::Jsonb(json::concat(a, b)),
        (Value::Bytea(a), Value::Bytea(b), _) => {
            let mut v = a.clone();
            v.extend_from_slice(b);
            Value::Bytea(v)
        }
        _ => {
            let mut s = text_of(l);
            s.push_str(&text_of(r));
            Value::Text(s)
        }
    })
}

/// Text of a value for `||` (bool prints as `true`, like its cast to text; char(n) values
/// keep their padding here because their type is not known).
fn text_of(v: &Value) -> String {
    match v {
        Value::Bool(b) => if *b { "true" } else { "false" }.to_string(),
        other => other.to_text().unwrap_or_default(),
    }
}

pub(crate) fn json_get(op: BinaryOp, l: &Value, r: &Value) -> Result<Value> {
    use BinaryOp as B;
    let (doc, is_json) = match l {
        Value::Jsonb(j) => (j.clone(), false),
        Value::Json(s) => (json::parse(s)?, true),
        _ => return Err(op_error(op.symbol(), &l.data_type(), &r.data_type())),
    };
    let found = match (op, r) {
        (B::JsonGet | B::JsonGetText, Value::Text(k)) => json::get(&doc, &json::Step::Key(k)),
        (B::JsonGet | B::JsonGetText, n) => match n.as_i64()? {
            Some(i) => json::get(&doc, &json::Step::Index(i)),
            None => None,
        },
        (_, Value::Array(_, path)) => {
            if path.iter().any(Value::is_null) {
                None
            } else {
                let p: Vec<String> = path.iter().filter_map(Value::to_text).collect();
                json::get_path(&doc, &p)
            }
        }
        _ => None,
    };
    let Some(v) = found else {
        return Ok(Value::Null);
    };
    Ok(match op {
        B::JsonGetText | B::JsonPathText => match json::as_text(v) {
            Some(s) => Value::Text(s),
            None => Value::Null,
        },
        _ if is_json => Value::Json(serde_json::to_string(v).unwrap_or_default()),
        _ => Value::Jsonb(v.clone()),
    })
}
