//! JSON functions (set-returning ones are in `table_func_json`): `json[b]_build_object`,
//! `json[b]_build_array`, `to_json`, `json[b]_array_length`, `json[b]_strip_nulls`,
//! `jsonb_pretty`, `jsonb_set`, `json[b]_extract_path[_text]` and `json_typeof`, with
//! PostgreSQL's results: json text as its json functions write it (`{"a" : 1}`, `[1, 2]`),
//! jsonb values printed in jsonb's canonical form.
//!
//! The build functions take any values (NULL becomes JSON null; an object key may not be
//! NULL); the others return NULL for a NULL argument.

use serde_json::Value as J;

use super::func_support::{json_text, to_json};
use crate::error::{code, Error, Result};
use crate::types::{BinaryOp, DataType, Value};

/// A JSON function; `jsonb`: the jsonb form (else json).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonFunc {
    pub op: JsonOp,
    pub jsonb: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonOp {
    BuildObject,
    BuildArray,
    ToJson,
    ArrayLength,
    StripNulls,
    Pretty,
    Set,
    /// `json[b]_extract_path` (`text`: the `_text` form).
    ExtractPath {
        text: bool,
    },
    Typeof,
}

/// Resolves `name(args)` if it is one of these functions.
pub fn resolve(name: &str, args: &[DataType]) -> Option<(JsonFunc, DataType)> {
    let (jsonb, rest) = match name.strip_prefix("jsonb_") {
        Some(rest) => (true, rest),
        None => (false, name.strip_prefix("json_")?),
    };
    let own = if jsonb {
        DataType::Jsonb
    } else {
        DataType::Json
    };
    let n = args.len();
    let (op, ty) = match rest {
        "build_object" => (JsonOp::BuildObject, own),
        "build_array" => (JsonOp::BuildArray, own),
        "array_length" if n == 1 => (JsonOp::ArrayLength, DataType::Int4),
        "strip_nulls" if n == 1 => (JsonOp::StripNulls, own),
        "pretty" if jsonb && n == 1 => (JsonOp::Pretty, DataType::Text),
        "set" if jsonb && (n == 3 || n == 4) => (JsonOp::Set, own),
        "extract_path" if n >= 1 => (JsonOp::ExtractPath { text: false }, own),
        "extract_path_text" if n >= 1 => (JsonOp::ExtractPath { text: true }, DataType::Text),
        "typeof" if !jsonb && n == 1 => (JsonOp::Typeof, DataType::Text),
        _ => return None,
    };
    Some((JsonFunc { op, jsonb }, ty))
}

/// `to_json(x)`.
pub fn resolve_to_json(args: &[DataType]) -> Option<(JsonFunc, DataType)> {
    (args.len() == 1).then_some((
        JsonFunc {
            op: JsonOp::ToJson,
            jsonb: false,
        },
        DataType::Json,
    ))
}

/// The type untyped parameters of `f` take (its JSON argument's).
pub fn param_hint(f: &JsonFunc) -> Option<DataType> {
    match f.op {
        JsonOp::ArrayLength | JsonOp::StripNulls | JsonOp::Pretty | JsonOp::Typeof => {
            Some(if f.jsonb {
                DataType::Jsonb
            } else {
                DataType::Json
            })
        }
        _ => None,
    }
}

/// A json or jsonb argument (an untyped literal is read as json).
pub(crate) fn json_arg(v: &Value) -> Result<J> {
    match v {
        Value::Jsonb(j) => Ok(j.clone()),
        Value::Json(s) | Value::Text(s) => crate::types::parse_json(s),
        other => to_json(other),
    }
}

/// Evaluates `f` (it looks at NULLs itself).
pub fn call(f: &JsonFunc, args: &[Value]) -> Result<Value> {
    match f.op {
        JsonOp::BuildObject => return build_object(f.jsonb, args),
        JsonOp::BuildArray => {
            return Ok(if f.jsonb {
                Value::Jsonb(J::Array(args.iter().map(to_json).collect::<Result<_>>()?))
            } else {
                let parts = args.iter().map(json_text).collect::<Result<Vec<_>>>()?;
                Value::Json(format!("[{}]", parts.join(", ")))
            });
        }
        _ => {}
    }
    if args.iter().any(Value::is_null) {
        return Ok(Value::Null);
    }
    let first = args.first().unwrap_or(&Value::Null);
    let out = |j: J| {
        if f.jsonb {
            Value::Jsonb(j)
        } else {
            Value::Json(j.to_string())
        }
    };
    Ok(match f.op {
        JsonOp::ToJson => Value::Json(json_text(first)?),
        JsonOp::ArrayLength => match json_arg(first)? {
            J::Array(a) => Value::Int4(i32::try_from(a.len()).unwrap_or(i32::MAX)),
            J::Object(_) => return Err(cannot("get array length of a non-array")),
            _ => return Err(cannot("get array length of a scalar")),
        },
        JsonOp::StripNulls => out(strip_nulls(json_arg(first)?)),
        JsonOp::Pretty => Value::Text(crate::types::jsonb_pretty(&json_arg(first)?)),
        JsonOp::Typeof => Value::Text(
            match json_arg(first)? {
                J::Null => "null",
                J::Bool(_) => "boolean",
                J::Number(_) => "number",
                J::String(_) => "string",
                J::Array(_) => "array",
                J::Object(_) => "object",
            }
            .into(),
        ),
        JsonOp::Set => {
            let path = text_path(args.get(1).unwrap_or(&Value::Null));
            let new = json_arg(args.get(2).unwrap_or(&Value::Null))?;
            let create = !matches!(args.get(3), Some(Value::Bool(false)));
            let mut target = json_arg(first)?;
            set_path(&mut target, &path, new, create);
            Value::Jsonb(target)
        }
        JsonOp::ExtractPath { text } => {
            let path = args
                .get(1..)
                .unwrap_or_default()
                .iter()
                .map(|v| Value::Text(v.to_text().unwrap_or_default()))
                .collect();
            let path = Value::Array(Box::new(DataType::Text), path);
            let op = if text {
                BinaryOp::JsonPathText
            } else {
                BinaryOp::JsonPath
            };
            Value::binary(op, first, &path)?
        }
        JsonOp::BuildObject | JsonOp::BuildArray => Value::Null,
    })
}

fn cannot(what: &str) -> Error {
    Error::new(code::INVALID_PARAMETER_VALUE, format!("cannot {what}"))
}

/// `json[b]_build_object(k1, v1, ...)`.
fn build_object(jsonb: bool, args: &[Value]) -> Result<Value> {
    if args.len() % 2 != 0 {
        return Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            "argument list must have even number of elements",
        ));
    }
    let key = |i: usize, k: &Value| -> Result<String> {
        match k {
            Value::Null => Err(Error::new(
                code::INVALID_PARAMETER_VALUE,
                format!("argument {}: key must not be null", 2 * i + 1),
            )),
            k => Ok(k.to_text().unwrap_or_default()),
        }
    };
    let pairs = args.chunks(2).enumerate();
    if jsonb {
        let mut map = serde_json::Map::new();
        for (i, kv) in pairs {
            let (k, v) = (&kv[0], &kv[1]);
            map.insert(key(i, k)?, to_json(v)?);
        }
        return Ok(Value::Jsonb(J::Object(map)));
    }
    let mut parts = Vec::with_capacity(args.len() / 2);
    for (i, kv) in pairs {
        let (k, v) = (&kv[0], &kv[1]);
        let k = J::String(key(i, k)?).to_string();
        parts.push(format!("{k} : {}", json_text(v)?));
    }
    Ok(Value::Json(format!("{{{}}}", parts.join(", "))))
}

/// Object members whose value is null removed, at every depth.
fn strip_nulls(j: J) -> J {
    match j {
        J::Object(m) => J::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        J::Array(a) => J::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

/// A `text[]` path's elements (an untyped literal read as text[]).
fn text_path(v: &Value) -> Vec<String> {
    if let Value::Text(s) = v {
        let array = DataType::Array(Box::new(DataType::Text));
        if let Ok(parsed @ Value::Array(..)) = Value::parse_text(&array, s) {
            return text_path(&parsed);
        }
    }
    match v {
        Value::Array(_, items) => items
            .iter()
            .map(|i| i.to_text().unwrap_or_default())
            .collect(),
        other => other.to_text().into_iter().collect(),
    }
}

/// `jsonb_set`: replaces the value at `path` (object keys, array positions counted from 0,
/// negative from the end); with `create`, a missing last step is added (an array position
/// past the end appends, before the start prepends). A path through something else leaves
/// the target as it is.
fn set_path(target: &mut J, path: &[String], new: J, create: bool) {
    let Some((step, rest)) = path.split_first() else {
        *target = new;
        return;
    };
    match target {
        J::Object(m) => match m.get_mut(step) {
            Some(child) => set_path(child, rest, new, create),
            None if create && rest.is_empty() => {
                m.insert(step.clone(), new);
            }
            None => {}
        },
        J::Array(a) => {
            let Ok(i) = step.parse::<i64>() else {
                return;
            };
            let len = a.len() as i64;
            let at = if i < 0 { len + i } else { i };
            match usize::try_from(at).ok().filter(|&at| at < a.len()) {
                Some(at) => {
                    if let Some(child) = a.get_mut(at) {
                        set_path(child, rest, new, create);
                    }
                }
                None if create && rest.is_empty() => {
                    if at < 0 {
                        a.insert(0, new);
                    } else {
                        a.push(new);
                    }
                }
                None => {}
            }
        }
        _ => {}
    }
}
