//! The JSON set-returning functions: `json[b]_array_elements[_text]` (column `value`),
//! `json[b]_each[_text]` (columns `key`, `value`) and `json[b]_object_keys`, with
//! PostgreSQL's errors for the wrong kind of value (22023). A `_text` form gives strings
//! without their quotes and JSON null as SQL NULL; the json forms give json text (compact),
//! the jsonb forms jsonb values.

use serde_json::Value as J;

use super::func_json::json_arg;
use crate::error::{code, Error, Result};
use crate::types::{DataType, Value};

/// What a name asks for.
struct Form {
    jsonb: bool,
    kind: Kind,
    text: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Elements,
    Each,
    Keys,
}

fn form(name: &str) -> Option<Form> {
    let (jsonb, rest) = match name.strip_prefix("jsonb_") {
        Some(rest) => (true, rest),
        None => (false, name.strip_prefix("json_")?),
    };
    let (kind, text) = match rest {
        "array_elements" => (Kind::Elements, false),
        "array_elements_text" => (Kind::Elements, true),
        "each" => (Kind::Each, false),
        "each_text" => (Kind::Each, true),
        "object_keys" => (Kind::Keys, false),
        _ => return None,
    };
    Some(Form { jsonb, kind, text })
}

/// The result columns of `name(args)`.
pub fn columns(name: &str, args: &[DataType]) -> Option<Vec<(String, DataType)>> {
    let f = form(name)?;
    if args.len() != 1 {
        return None;
    }
    let value = if f.text {
        DataType::Text
    } else if f.jsonb {
        DataType::Jsonb
    } else {
        DataType::Json
    };
    Some(match f.kind {
        Kind::Elements => vec![("value".into(), value)],
        Kind::Each => vec![("key".into(), DataType::Text), ("value".into(), value)],
        Kind::Keys => vec![(name.to_string(), DataType::Text)],
    })
}

/// The rows of `name(args)` (`None`: not one of these functions).
pub fn rows(name: &str, args: &[Value]) -> Option<Result<Vec<Vec<Value>>>> {
    let f = form(name)?;
    Some(rows_of(name, &f, args.first().unwrap_or(&Value::Null)))
}

fn rows_of(name: &str, f: &Form, arg: &Value) -> Result<Vec<Vec<Value>>> {
    let j = json_arg(arg)?;
    let value = |v: J| -> Value {
        match (f.text, v) {
            (true, J::Null) => Value::Null,
            (true, J::String(s)) => Value::Text(s),
            (true, v) if f.jsonb => Value::Text(Value::Jsonb(v).to_text().unwrap_or_default()),
            (true, v) => Value::Text(v.to_string()),
            (false, v) if f.jsonb => Value::Jsonb(v),
            (false, v) => Value::Json(v.to_string()),
        }
    };
    let what = |j: &J| match j {
        J::Array(_) => "an array",
        J::Object(_) => "an object",
        _ => "a scalar",
    };
    match (f.kind, j) {
        (Kind::Elements, J::Array(a)) => Ok(a.into_iter().map(|v| vec![value(v)]).collect()),
        (Kind::Elements, other) => Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            format!("cannot extract elements from {}", what(&other)),
        )),
        (Kind::Each, J::Object(m)) => Ok(ordered(&m)
            .into_iter()
            .map(|(k, v)| vec![Value::Text(k), value(v)])
            .collect()),
        (Kind::Keys, J::Object(m)) => Ok(ordered(&m)
            .into_iter()
            .map(|(k, _)| vec![Value::Text(k)])
            .collect()),
        (Kind::Each, _) => Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            format!("cannot call {name} on a non-object"),
        )),
        (Kind::Keys, other) => Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            format!("cannot call {name} on {}", what(&other)),
        )),
    }
}

/// Object members in jsonb's order (shorter keys first, then bytewise).
fn ordered(m: &serde_json::Map<String, J>) -> Vec<(String, J)> {
    crate::types::sorted_entries(m)
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
