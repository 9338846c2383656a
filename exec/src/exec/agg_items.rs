//! The aggregates that fold a group's whole input at the end, in order: the ordered-set
//! aggregates (`percentile_cont`, `percentile_disc`, `mode`, fed sorted by their `WITHIN
//! GROUP` ordering) and the JSON ones (`json_agg`, `jsonb_agg`, `json_object_agg`,
//! `jsonb_object_agg`, in input or `ORDER BY` order). Results follow PostgreSQL's: a
//! percentile interpolates between the two nearest rows (`cont`) or takes the first row at or
//! past the fraction (`disc`), NULL inputs are skipped, several fractions at once give an
//! array; `json_agg` writes `[a, b]` and `json_object_agg` `{ "k" : v }` as PostgreSQL's text
//! does, the jsonb forms build jsonb values.

use crate::error::{code, Error, Result};
use crate::expr::{json_text, to_json, AggCall, AggKind};
use crate::types::{BinaryOp, DataType, Value};

/// The value of `call` over `items` (non-empty; each a pair for the paired kinds).
pub(super) fn finish(call: &AggCall, items: Vec<Value>) -> Result<Value> {
    match call.kind {
        AggKind::PercentileCont | AggKind::PercentileDisc => percentile(call, items),
        AggKind::Mode => Ok(mode(items)),
        AggKind::JsonAgg => {
            let parts = items.iter().map(json_text).collect::<Result<Vec<_>>>()?;
            Ok(Value::Json(format!("[{}]", parts.join(", "))))
        }
        AggKind::JsonbAgg => Ok(Value::Jsonb(serde_json::Value::Array(
            items.iter().map(to_json).collect::<Result<_>>()?,
        ))),
        AggKind::JsonObjectAgg => {
            let mut parts = Vec::with_capacity(items.len());
            for (k, v) in items.iter().map(pair) {
                let key = serde_json::Value::String(field_name(k)?).to_string();
                parts.push(format!("{key} : {}", json_text(v)?));
            }
            Ok(Value::Json(format!("{{ {} }}", parts.join(", "))))
        }
        AggKind::JsonbObjectAgg => {
            let mut map = serde_json::Map::new();
            for (k, v) in items.iter().map(pair) {
                map.insert(field_name(k)?, to_json(v)?);
            }
            Ok(Value::Jsonb(serde_json::Value::Object(map)))
        }
        _ => Err(Error::new(
            code::INTERNAL_ERROR,
            format!("{:?} is not folded from held items", call.kind),
        )),
    }
}

/// A paired argument's two values (see `AggKind::paired`).
fn pair(item: &Value) -> (&Value, &Value) {
    const NULL: &Value = &Value::Null;
    match item {
        Value::Array(_, v) => (v.first().unwrap_or(NULL), v.get(1).unwrap_or(NULL)),
        other => (other, NULL),
    }
}

/// An object key: its text; NULL is an error, as in PostgreSQL.
fn field_name(k: &Value) -> Result<String> {
    match k {
        Value::Null => Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            "field name must not be null",
        )),
        k => Ok(k.to_text().unwrap_or_default()),
    }
}

/// `percentile_cont` / `percentile_disc` over the sorted pairs `(x, fraction)`.
fn percentile(call: &AggCall, items: Vec<Value>) -> Result<Value> {
    let fraction = items
        .first()
        .map(|i| pair(i).1.clone())
        .unwrap_or(Value::Null);
    let values: Vec<Value> = items
        .iter()
        .map(|i| pair(i).0)
        .filter(|v| !v.is_null())
        .cloned()
        .collect();
    if values.is_empty() {
        return Ok(Value::Null);
    }
    let one = |f: &Value| -> Result<Value> {
        let p = match f.clone().cast(&DataType::Float8)? {
            Value::Float8(p) => p,
            _ => return Ok(Value::Null),
        };
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::new(
                code::NUMERIC_VALUE_OUT_OF_RANGE,
                format!("percentile value {p} is not between 0 and 1"),
            ));
        }
        if call.kind == AggKind::PercentileDisc {
            let n = values.len() as f64;
            let row = ((p * n).ceil() as usize).max(1);
            return Ok(values.get(row - 1).cloned().unwrap_or(Value::Null));
        }
        let at = p * (values.len() - 1) as f64;
        let (first, second) = (at.floor() as usize, at.ceil() as usize);
        let (Some(lo), Some(hi)) = (values.get(first), values.get(second)) else {
            return Ok(Value::Null);
        };
        if first == second {
            return Ok(lo.clone());
        }
        // lo + (hi - lo) * proportion, in double precision or interval arithmetic.
        let proportion = Value::Float8(at - first as f64);
        let diff = Value::binary(BinaryOp::Sub, hi, lo)?;
        let step = Value::binary(BinaryOp::Mul, &diff, &proportion)?;
        Value::binary(BinaryOp::Add, lo, &step)
    };
    match &fraction {
        Value::Null => Ok(Value::Null),
        Value::Array(_, fs) => {
            let elem = call.ty.element().cloned().unwrap_or(DataType::Float8);
            let out = fs.iter().map(&one).collect::<Result<Vec<_>>>()?;
            Ok(Value::Array(Box::new(elem), out))
        }
        f => one(f),
    }
}

/// `mode()`: the most frequent value of the sorted inputs, the first in order on a tie.
fn mode(items: Vec<Value>) -> Value {
    let mut best: Option<(Value, usize)> = None;
    let mut run: Option<(Value, usize)> = None;
    for v in items.into_iter().filter(|v| !v.is_null()) {
        run = match run.take() {
            Some((r, n)) if r.sort_cmp(&v).is_eq() => Some((r, n + 1)),
            _ => Some((v, 1)),
        };
        if let Some((r, n)) = &run {
            if best.as_ref().is_none_or(|(_, b)| n > b) {
                best = Some((r.clone(), *n));
            }
        }
    }
    best.map_or(Value::Null, |(v, _)| v)
}
