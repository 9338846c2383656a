//! json and jsonb helpers: parsing (serde_json), jsonb's canonical text output (keys ordered by
//! length then bytes, `", "` and `": "` separators), jsonb's btree order, containment (`@>`),
//! key existence (`?`) and the `->`/`->>`/`#>`/`#>>` accessors.
//!
//! Approximation: numbers are held by serde_json (i64/u64/f64), so a jsonb number keeps at most
//! f64 precision and loses trailing fractional zeros (`1.50` prints `1.5`).

use crate::error::{code, Error, Result};
use serde_json::Value as J;
use std::cmp::Ordering;

/// Parses json text (shared by json and jsonb input).
pub(crate) fn parse(s: &str) -> Result<J> {
    serde_json::from_str(s).map_err(|e| {
        Error::new(
            code::INVALID_TEXT_REPRESENTATION,
            "invalid input syntax for type json",
        )
        .with_detail(e.to_string())
    })
}

/// Object entries in jsonb's storage order: shorter keys first, then bytewise.
pub(crate) fn sorted_entries(m: &serde_json::Map<String, J>) -> Vec<(&String, &J)> {
    let mut v: Vec<(&String, &J)> = m.iter().collect();
    v.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(b.0)));
    v
}

/// A json number as PostgreSQL's numeric prints it (plain notation).
fn number_text(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    match n.as_f64() {
        Some(f) => format!("{f}"),
        None => n.to_string(),
    }
}

/// jsonb's canonical output.
pub(crate) fn to_text(v: &J) -> String {
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// `jsonb_pretty`: PostgreSQL's layout (four spaces a level, one member or element a line;
/// an empty container still opens and closes on lines of its own).
pub(crate) fn pretty(v: &J) -> String {
    let mut out = String::new();
    write_pretty(v, 0, &mut out);
    out
}

fn write_pretty(v: &J, depth: usize, out: &mut String) {
    let pad = |out: &mut String, d: usize| out.push_str(&" ".repeat(4 * d));
    match v {
        J::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                out.push_str(if i > 0 { ",\n" } else { "\n" });
                pad(out, depth + 1);
                write_pretty(x, depth + 1, out);
            }
            out.push('\n');
            pad(out, depth);
            out.push(']');
        }
        J::Object(m) => {
            out.push('{');
            for (i, (k, x)) in sorted_entries(m).into_iter().enumerate() {
                out.push_str(if i > 0 { ",\n" } else { "\n" });
                pad(out, depth + 1);
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push_str(": ");
                write_pretty(x, depth + 1, out);
            }
            out.push('\n');
            pad(out, depth);
            out.push('}');
        }
        other => write(other, out),
    }
}

fn write(v: &J, out: &mut String) {
    match v {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Number(n) => out.push_str(&number_text(n)),
        J::String(s) => out.push_str(&serde_json::to_string(s).unwrap_or_default()),
        J::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(x, out);
            }
            out.push(']');
        }
        J::Object(m) => {
            out.push('{');
            for (i, (k, x)) in sorted_entries(m).into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push_str(": ");
                write(x, out);
            }
            out.push('}');
        }
    }
}

/// Type rank of jsonb's order: null < string < number < boolean < array < object.
pub(crate) fn rank(v: &J) -> u8 {
    match v {
        J::Null => 0,
        J::String(_) => 1,
        J::Number(_) => 2,
        J::Bool(_) => 3,
        J::Array(_) => 4,
        J::Object(_) => 5,
    }
}

pub(crate) fn num_cmp(a: &serde_json::Number, b: &serde_json::Number) -> Ordering {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => {
            let x = a.as_f64().unwrap_or(0.0);
            let y = b.as_f64().unwrap_or(0.0);
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
    }
}

/// jsonb's btree order (jsonb_cmp).
pub(crate) fn cmp(a: &J, b: &J) -> Ordering {
    match (a, b) {
        (J::String(x), J::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (J::Number(x), J::Number(y)) => num_cmp(x, y),
        (J::Bool(x), J::Bool(y)) => x.cmp(y),
        (J::Array(x), J::Array(y)) => x.len().cmp(&y.len()).then_with(|| {
            x.iter()
                .zip(y.iter())
                .map(|(p, q)| cmp(p, q))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        }),
        (J::Object(x), J::Object(y)) => x.len().cmp(&y.len()).then_with(|| {
            let ex = sorted_entries(x);
            let ey = sorted_entries(y);
            for ((ka, va), (kb, vb)) in ex.iter().zip(ey.iter()) {
                let o = ka
                    .len()
                    .cmp(&kb.len())
                    .then_with(|| ka.as_bytes().cmp(kb.as_bytes()))
                    .then_with(|| cmp(va, vb));
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        }),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// `a @> b` (jsonb containment).
pub(crate) fn contains(a: &J, b: &J, top: bool) -> bool {
    match (a, b) {
        (J::Object(x), J::Object(y)) => y
            .iter()
            .all(|(k, vb)| x.get(k).is_some_and(|va| contains(va, vb, false))),
        (J::Array(x), J::Array(y)) => y.iter().all(|vb| {
            x.iter().any(|va| match (va, vb) {
                (J::Array(_), J::Array(_)) | (J::Object(_), J::Object(_)) => {
                    contains(va, vb, false)
                }
                _ => cmp(va, vb) == Ordering::Equal,
            })
        }),
        (J::Array(x), scalar) if top && !matches!(scalar, J::Object(_)) => {
            x.iter().any(|va| cmp(va, scalar) == Ordering::Equal)
        }
        (J::Array(_), _) | (J::Object(_), _) | (_, J::Array(_)) | (_, J::Object(_)) => false,
        _ => cmp(a, b) == Ordering::Equal,
    }
}

/// `a ? key`.
pub(crate) fn has_key(a: &J, key: &str) -> bool {
    match a {
        J::Object(m) => m.contains_key(key),
        J::Array(x) => x.iter().any(|v| v.as_str() == Some(key)),
        J::String(s) => s == key,
        _ => false,
    }
}

/// One `->` step: an object key or an array index (negative counts from the end).
pub(crate) enum Step<'a> {
    Key(&'a str),
    Index(i64),
}

pub(crate) fn get<'a>(v: &'a J, step: &Step<'_>) -> Option<&'a J> {
    match (v, step) {
        (J::Object(m), Step::Key(k)) => m.get(*k),
        (J::Array(a), Step::Index(i)) => {
            let len = a.len() as i64;
            let idx = if *i < 0 { len + i } else { *i };
            if idx < 0 {
                None
            } else {
                a.get(idx as usize)
            }
        }
        _ => None,
    }
}

/// A `#>` path step from text: array elements take integer indexes.
pub(crate) fn get_path<'a>(v: &'a J, path: &[String]) -> Option<&'a J> {
    let mut cur = v;
    for p in path {
        cur = match cur {
            J::Array(_) => get(cur, &Step::Index(p.trim().parse().ok()?))?,
            _ => get(cur, &Step::Key(p))?,
        };
    }
    Some(cur)
}

/// `->>` text of a value: strings unquoted, JSON null → SQL NULL.
pub(crate) fn as_text(v: &J) -> Option<String> {
    match v {
        J::Null => None,
        J::String(s) => Some(s.clone()),
        other => Some(to_text(other)),
    }
}

/// `||` on jsonb: objects merge (right wins), arrays concatenate, scalars wrap.
pub(crate) fn concat(a: &J, b: &J) -> J {
    match (a, b) {
        (J::Object(x), J::Object(y)) => {
            let mut m = x.clone();
            for (k, v) in y {
                m.insert(k.clone(), v.clone());
            }
            J::Object(m)
        }
        _ => {
            let wrap = |v: &J| match v {
                J::Array(a) => a.clone(),
                other => vec![other.clone()],
            };
            let mut r = wrap(a);
            r.extend(wrap(b));
            J::Array(r)
        }
    }
}
