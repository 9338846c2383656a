//! Scalar functions: name and argument types → [`Func`] and its result type, and their
//! evaluation. NULL in gives NULL out unless the function says otherwise (coalesce, concat,
//! greatest/least skip NULLs as PostgreSQL's do).

use super::date_part::{date_part, extract};
use super::func_catalog::{self, SysFunc};
use super::func_support::{md5_hex, rand_f64, rand_u64};
use super::EvalContext;
use crate::error::{code, Error, Result};
use crate::types::{DataType, Value};

/// The sequence functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqOp {
    Next,
    Current,
    Last,
    Set,
}

/// A scalar function.
#[derive(Debug, Clone, PartialEq)]
pub enum Func {
    Lower,
    Upper,
    Length,
    OctetLength,
    Substr,
    Strpos,
    Replace,
    SplitPart,
    Btrim,
    Ltrim,
    Rtrim,
    Lpad,
    Rpad,
    Concat,
    ConcatWs,
    Left,
    Right,
    Repeat,
    Reverse,
    Initcap,
    Md5,
    Abs,
    Ceil,
    Floor,
    Round,
    Trunc,
    Sqrt,
    Power,
    Mod,
    Sign,
    Random,
    Coalesce,
    Nullif,
    Greatest,
    Least,
    Now,
    LocalTimestamp,
    LocalTime,
    CurrentDate,
    DatePart,
    /// EXTRACT (numeric).
    Extract,
    Version,
    /// nextval / currval / setval / lastval: sequence functions, run by the statement's
    /// runner (they need the engine and the session's sequence state).
    Sequence(SeqOp),
    /// `a[i]` (1-based; NULL outside the array).
    ArrayElement,
    /// `v[i]` of an int2vector / oidvector (its text form, "1 2"; indexed from 0): the
    /// element as the given type.
    VectorElement(DataType),
    /// `a[lo:hi]` (either bound may be NULL for open).
    ArraySlice,
    CurrentDatabase,
    CurrentSchema,
    CurrentUser,
    /// Session and server functions (`func_backend`): pg_sleep, pg_backend_pid, ...
    Backend(super::func_backend::BackendFunc),
    ArrayLength,
    Cardinality,
    /// `ARRAY[...]` of the given array type.
    MakeArray(DataType),
    /// `ROW(a, b, ...)`: a record of the arguments (NULLs included).
    MakeRecord,
    /// `(record).field`: the record's field at this position.
    RecordField(usize),
    /// Internal: string_agg's (value, delimiter) pair.
    AggDelimiter,
    GenRandomUuid,
    ToJsonb,
    JsonbTypeof,
    /// Catalog and client-support functions (`format_type`, `pg_get_indexdef`, ...).
    Sys(SysFunc),
    /// pgvector's functions.
    Vector(super::func_vector::VectorFunc),
    /// JSON functions (`func_json`).
    Json(super::func_json::JsonFunc),
    /// regexp functions (`func_regex`).
    Regex(super::func_regex::RegexFunc),
    /// `date_trunc(field, v)`.
    DateTrunc,
    /// `age(a[, b])`.
    Age,
    /// `to_char` of a date, timestamp or interval.
    ToCharTime,
    /// `to_char` of a number.
    ToCharNumber,
    /// Making dates and times (`func_time_make`).
    Make(super::func_time_make::MakeFunc),
}

impl Func {
    /// Whether evaluating it needs the statement's catalog snapshot (`EvalContext::sys`).
    pub fn needs_catalog(&self) -> bool {
        matches!(self, Func::Sys(f) if f.needs_catalog())
    }

    /// Whether two calls with the same arguments may differ or act (PostgreSQL's volatile
    /// functions): each row evaluates it anew, on the statement's thread.
    pub fn is_volatile(&self) -> bool {
        match self {
            Func::Random | Func::GenRandomUuid | Func::Sequence(_) => true,
            Func::Backend(f) => super::func_backend::is_volatile(*f),
            _ => false,
        }
    }
}

fn text_arg(t: &DataType) -> bool {
    t.is_string() || matches!(t, DataType::Unknown)
}

/// Resolves `name(args)`.
pub fn resolve(name: &str, args: &[DataType]) -> Result<(Func, DataType)> {
    let n = args.len();
    let first = args.first().cloned().unwrap_or(DataType::Unknown);
    let numeric_result = |t: &DataType| match t {
        DataType::Unknown => DataType::Float8,
        t => t.clone(),
    };
    let r = match (name, n) {
        ("lower", 1) => (Func::Lower, DataType::Text),
        ("upper", 1) => (Func::Upper, DataType::Text),
        ("length" | "char_length" | "character_length", 1) => (Func::Length, DataType::Int4),
        ("octet_length", 1) => (Func::OctetLength, DataType::Int4),
        ("substr" | "substring", 2 | 3) => (
            Func::Substr,
            match first {
                DataType::Bytea => DataType::Bytea,
                _ => DataType::Text,
            },
        ),
        ("strpos", 2) => (Func::Strpos, DataType::Int4),
        ("replace", 3) => (Func::Replace, DataType::Text),
        ("split_part", 3) => (Func::SplitPart, DataType::Text),
        ("btrim" | "trim", 1 | 2) => (Func::Btrim, DataType::Text),
        ("ltrim", 1 | 2) => (Func::Ltrim, DataType::Text),
        ("rtrim", 1 | 2) => (Func::Rtrim, DataType::Text),
        ("lpad", 2 | 3) => (Func::Lpad, DataType::Text),
        ("rpad", 2 | 3) => (Func::Rpad, DataType::Text),
        ("concat", _) => (Func::Concat, DataType::Text),
        ("concat_ws", 1..) => (Func::ConcatWs, DataType::Text),
        ("left", 2) => (Func::Left, DataType::Text),
        ("right", 2) => (Func::Right, DataType::Text),
        ("repeat", 2) => (Func::Repeat, DataType::Text),
        ("reverse", 1) => (Func::Reverse, DataType::Text),
        ("initcap", 1) => (Func::Initcap, DataType::Text),
        ("md5", 1) => (Func::Md5, DataType::Text),
        ("abs", 1) => (Func::Abs, numeric_result(&first)),
        ("ceil" | "ceiling", 1) => (Func::Ceil, numeric_result(&first)),
        ("floor", 1) => (Func::Floor, numeric_result(&first)),
        ("round", 1 | 2) => (
            Func::Round,
            match first {
                DataType::Float4 | DataType::Float8 if n == 1 => DataType::Float8,
                _ => DataType::Numeric(None),
            },
        ),
        ("trunc", 1 | 2) => (
            Func::Trunc,
            match first {
                DataType::Float4 | DataType::Float8 if n == 1 => DataType::Float8,
                _ => DataType::Numeric(None),
            },
        ),
        ("sqrt", 1) => (Func::Sqrt, DataType::Float8),
        ("power" | "pow", 2) => (
            Func::Power,
            match args.iter().any(|t| matches!(t, DataType::Numeric(_))) {
                true => DataType::Numeric(None),
                false => DataType::Float8,
            },
        ),
        ("mod", 2) => (Func::Mod, numeric_result(&first)),
        ("sign", 1) => (
            Func::Sign,
            match first {
                DataType::Numeric(_) => DataType::Numeric(None),
                _ => DataType::Float8,
            },
        ),
        ("random", 0) => (Func::Random, DataType::Float8),
        ("coalesce", 1..) => (Func::Coalesce, common(args, "COALESCE")?),
        // An untyped first argument takes the second's type (`nullif(NULL, 1)` is integer).
        ("nullif", 2) => (
            Func::Nullif,
            match (&first, args.get(1)) {
                (DataType::Unknown, Some(second)) => second.clone(),
                _ => first.clone(),
            },
        ),
        ("greatest", 1..) => (Func::Greatest, common(args, "GREATEST")?),
        ("least", 1..) => (Func::Least, common(args, "LEAST")?),
        ("now" | "current_timestamp" | "transaction_timestamp", 0) => {
            (Func::Now, DataType::Timestamptz(None))
        }
        ("localtimestamp", 0) => (Func::LocalTimestamp, DataType::Timestamp(None)),
        ("localtime", 0) => (Func::LocalTime, DataType::Time(None)),
        ("current_date", 0) => (Func::CurrentDate, DataType::Date),
        ("date_part", 2) => (Func::DatePart, DataType::Float8),
        ("version", 0) => (Func::Version, DataType::Text),
        ("nextval", 1) => (Func::Sequence(SeqOp::Next), DataType::Int8),
        ("currval", 1) => (Func::Sequence(SeqOp::Current), DataType::Int8),
        ("lastval", 0) => (Func::Sequence(SeqOp::Last), DataType::Int8),
        ("setval", 2 | 3) => (Func::Sequence(SeqOp::Set), DataType::Int8),
        ("current_database" | "current_catalog", 0) => (Func::CurrentDatabase, DataType::Name),
        ("current_schema", 0) => (Func::CurrentSchema, DataType::Name),
        ("current_user" | "session_user" | "user", 0) => (Func::CurrentUser, DataType::Name),
        ("array_length", 2) => (Func::ArrayLength, DataType::Int4),
        ("cardinality", 1) => (Func::Cardinality, DataType::Int4),
        ("gen_random_uuid", 0) => (Func::GenRandomUuid, DataType::Uuid),
        ("to_jsonb", 1) => (Func::ToJsonb, DataType::Jsonb),
        ("to_json", _) => match super::func_json::resolve_to_json(args) {
            Some((f, ty)) => (Func::Json(f), ty),
            None => return Err(super::func_support::no_function(name, args)),
        },
        // An untyped literal is read as jsonb (see `eval`).
        ("row", 1..) => (
            Func::MakeRecord,
            DataType::Record(
                args.iter()
                    .enumerate()
                    .map(|(i, t)| (format!("f{}", i + 1), t.clone()))
                    .collect(),
            ),
        ),
        ("jsonb_typeof", 1) if matches!(first, DataType::Jsonb | DataType::Unknown) => {
            (Func::JsonbTypeof, DataType::Text)
        }
        _ => {
            if let Some((f, ty)) = super::func_vector::resolve(name, args) {
                return Ok((Func::Vector(f), ty));
            }
            if let Some((f, ty)) = super::func_json::resolve(name, args) {
                return Ok((Func::Json(f), ty));
            }
            if let Some((f, ty)) = super::func_regex::resolve(name, args) {
                return Ok((Func::Regex(f), ty));
            }
            if let Some((f, ty)) = super::func_backend::resolve(name, args) {
                return Ok((Func::Backend(f), ty));
            }
            if let Some((f, ty)) = super::func_time::resolve(name, args) {
                return Ok((f, ty));
            }
            if let Some((f, ty)) = func_catalog::resolve(name, args)? {
                return Ok((Func::Sys(f), ty));
            }
            return Err(super::func_support::no_function(name, args));
        }
    };
    if matches!(
        r.0,
        Func::Lower | Func::Upper | Func::Length | Func::Reverse | Func::Initcap
    ) && !text_arg(&first)
        && !matches!(first, DataType::Bytea)
    {
        return Err(Error::new(
            code::UNDEFINED_FUNCTION,
            format!("function {name}({first}) does not exist"),
        ));
    }
    Ok(r)
}

fn common(args: &[DataType], what: &str) -> Result<DataType> {
    let mut ty = DataType::Unknown;
    for a in args {
        ty = super::bind::unify(ty, a.clone(), what)?;
    }
    Ok(if ty == DataType::Unknown {
        DataType::Text
    } else {
        ty
    })
}

/// The type untyped parameters of `f` take.
pub fn param_hint(f: &Func) -> Option<DataType> {
    match f {
        Func::Lower | Func::Upper | Func::Length | Func::Replace | Func::Btrim | Func::Md5 => {
            Some(DataType::Text)
        }
        Func::JsonbTypeof => Some(DataType::Jsonb),
        Func::Vector(v) => Some(super::func_vector::param_hint(v)),
        Func::Json(j) => super::func_json::param_hint(j),
        _ => None,
    }
}

/// jsonb_typeof's answer.
fn json_type(j: &serde_json::Value) -> &'static str {
    match j {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// upper()/lower() as PostgreSQL maps case, one character to one: a character whose mapping
/// is several characters (`ß` → `SS`) stays as it is.
fn case_map<I: Iterator<Item = char>>(s: &str, map: impl Fn(char) -> I) -> String {
    s.chars()
        .map(|c| {
            let mut m = map(c);
            match (m.next(), m.next()) {
                (Some(one), None) => one,
                _ => c,
            }
        })
        .collect()
}

fn text(v: &Value) -> Result<String> {
    match v {
        Value::Text(s) => Ok(s.clone()),
        other => Ok(other.to_text().unwrap_or_default()),
    }
}

pub(super) fn int(v: &Value) -> Result<i64> {
    match v.as_i64()? {
        Some(i) => Ok(i),
        None => Err(Error::new(code::INTERNAL_ERROR, "null integer argument")),
    }
}

pub(super) fn float(v: &Value) -> Result<f64> {
    v.clone()
        .cast(&DataType::Float8)?
        .as_f64()
        .ok_or_else(|| Error::new(code::INTERNAL_ERROR, "non-numeric argument"))
}

fn trim_set(args: &[Value]) -> Result<Vec<char>> {
    Ok(match args.get(1) {
        Some(v) => text(v)?.chars().collect(),
        None => vec![' '],
    })
}

/// Evaluates `f` over already-evaluated arguments.
pub fn call(f: &Func, args: &[Value], ctx: &EvalContext<'_>) -> Result<Value> {
    if let Some(v) = super::func_array::call(f, args) {
        return v;
    }
    // Functions that look at NULLs themselves.
    match f {
        Func::Sys(s) => return func_catalog::call(s, args, ctx),
        Func::Vector(v) => return super::func_vector::call(v, args),
        Func::Json(j) => return super::func_json::call(j, args),
        Func::Regex(r) => return super::func_regex::call(*r, args),
        Func::Backend(b) => return super::func_backend::call(*b, args, ctx),
        Func::DateTrunc | Func::Age | Func::ToCharTime | Func::ToCharNumber | Func::Make(_) => {
            return super::func_time::call(f, args, ctx)
        }
        Func::Coalesce => {
            return Ok(args
                .iter()
                .find(|v| !v.is_null())
                .cloned()
                .unwrap_or(Value::Null))
        }
        Func::Concat => {
            let mut s = String::new();
            for a in args.iter().filter(|a| !a.is_null()) {
                s.push_str(&text(a)?);
            }
            return Ok(Value::Text(s));
        }
        Func::ConcatWs => {
            let Some(sep) = args.first().filter(|s| !s.is_null()) else {
                return Ok(Value::Null);
            };
            let sep = text(sep)?;
            let parts: Vec<String> = args
                .iter()
                .skip(1)
                .filter(|a| !a.is_null())
                .map(text)
                .collect::<Result<_>>()?;
            return Ok(Value::Text(parts.join(&sep)));
        }
        Func::Greatest | Func::Least => {
            let mut best: Option<&Value> = None;
            for a in args.iter().filter(|a| !a.is_null()) {
                best = match best {
                    None => Some(a),
                    Some(b) => {
                        let ord = a.compare(b)?.unwrap_or(std::cmp::Ordering::Equal);
                        let better = if *f == Func::Greatest {
                            ord.is_gt()
                        } else {
                            ord.is_lt()
                        };
                        Some(if better { a } else { b })
                    }
                };
            }
            return Ok(best.cloned().unwrap_or(Value::Null));
        }
        Func::Nullif => {
            let (Some(a), Some(b)) = (args.first(), args.get(1)) else {
                return Ok(Value::Null);
            };
            return Ok(match a.compare(b)? {
                Some(std::cmp::Ordering::Equal) => Value::Null,
                _ => a.clone(),
            });
        }
        Func::AggDelimiter => {
            return Ok(Value::Array(Box::new(DataType::Text), args.to_vec()));
        }
        Func::Now => return Ok(Value::Timestamptz(ctx.now)),
        Func::LocalTimestamp => {
            return Value::Timestamptz(ctx.now).cast(&DataType::Timestamp(None))
        }
        Func::LocalTime => return Value::Timestamptz(ctx.now).cast(&DataType::Time(None)),
        Func::CurrentDate => {
            return Value::Timestamptz(ctx.now).cast(&DataType::Date);
        }
        Func::Sequence(op) => {
            let Some(exec) = ctx.exec else {
                return Err(Error::unsupported(
                    "sequence functions are not allowed in this context",
                ));
            };
            let name = match args.first() {
                Some(v) if !v.is_null() => Some(text(v)?),
                Some(_) => return Ok(Value::Null),
                None => None,
            };
            let value = match args.get(1) {
                Some(v) => v.clone().cast(&DataType::Int8)?.as_i64()?,
                None => None,
            };
            let is_called = match args.get(2) {
                Some(v) => v.as_bool()?.unwrap_or(true),
                None => true,
            };
            return Ok(Value::Int8(exec.sequence(
                *op,
                name.as_deref(),
                value,
                is_called,
            )?));
        }
        Func::Version => {
            return Ok(Value::Text(format!(
                "PostgreSQL 16.0 (Orbit {}) on x86_64-pc-linux-gnu, compiled by rustc, 64-bit",
                env!("CARGO_PKG_VERSION")
            )))
        }
        Func::CurrentDatabase => return Ok(Value::Text(ctx.database.to_string())),
        // NULL when no schema on the search path exists.
        Func::CurrentSchema if ctx.schema.is_empty() => return Ok(Value::Null),
        Func::CurrentSchema => return Ok(Value::Text(ctx.schema.to_string())),
        Func::CurrentUser => return Ok(Value::Text(ctx.user.to_string())),
        Func::Random => return Ok(Value::Float8(rand_f64())),
        Func::GenRandomUuid => {
            let mut b = [0u8; 16];
            for chunk in b.chunks_mut(8) {
                let r = rand_u64().to_le_bytes();
                chunk.copy_from_slice(r.get(..chunk.len()).unwrap_or(&[0; 8]));
            }
            if let Some(x) = b.get_mut(6) {
                *x = (*x & 0x0f) | 0x40;
            }
            if let Some(x) = b.get_mut(8) {
                *x = (*x & 0x3f) | 0x80;
            }
            return Ok(Value::Uuid(b));
        }
        _ => {}
    }
    if args.iter().any(Value::is_null) {
        return Ok(Value::Null);
    }
    let a0 = args.first().cloned().unwrap_or(Value::Null);
    Ok(match f {
        Func::Lower => Value::Text(case_map(&text(&a0)?, char::to_lowercase)),
        Func::Upper => Value::Text(case_map(&text(&a0)?, char::to_uppercase)),
        Func::Length => match &a0 {
            Value::Bytea(b) => Value::Int4(b.len() as i32),
            v => Value::Int4(text(v)?.chars().count() as i32),
        },
        Func::OctetLength => match &a0 {
            Value::Bytea(b) => Value::Int4(b.len() as i32),
            v => Value::Int4(text(v)?.len() as i32),
        },
        Func::Substr => {
            let start = int(args.get(1).unwrap_or(&Value::Null))?;
            let len = match args.get(2) {
                Some(v) => {
                    let l = int(v)?;
                    if l < 0 {
                        return Err(Error::new(
                            code::SUBSTRING_ERROR,
                            "negative substring length not allowed",
                        ));
                    }
                    Some(l)
                }
                None => None,
            };
            let from = start.max(1);
            let to = match len {
                Some(l) => start.saturating_add(l),
                None => i64::MAX,
            };
            let within = |i: usize| {
                let pos = i as i64 + 1;
                pos >= from && pos < to
            };
            match &a0 {
                // bytea: bytes, not characters of its text form.
                Value::Bytea(b) => Value::Bytea(
                    b.iter()
                        .enumerate()
                        .filter(|(i, _)| within(*i))
                        .map(|(_, c)| *c)
                        .collect(),
                ),
                v => Value::Text(
                    text(v)?
                        .chars()
                        .enumerate()
                        .filter(|(i, _)| within(*i))
                        .map(|(_, c)| c)
                        .collect(),
                ),
            }
        }
        Func::Strpos => {
            let hay = text(&a0)?;
            let needle = text(args.get(1).unwrap_or(&Value::Null))?;
            Value::Int4(match hay.find(&needle) {
                Some(byte) => hay.get(..byte).map_or(0, |p| p.chars().count()) as i32 + 1,
                None => 0,
            })
        }
        Func::Replace => {
            let from = text(args.get(1).unwrap_or(&Value::Null))?;
            let to = text(args.get(2).unwrap_or(&Value::Null))?;
            let s = text(&a0)?;
            Value::Text(if from.is_empty() {
                s
            } else {
                s.replace(&from, &to)
            })
        }
        Func::SplitPart => {
            let s = text(&a0)?;
            let delim = text(args.get(1).unwrap_or(&Value::Null))?;
            let n = int(args.get(2).unwrap_or(&Value::Null))?;
            if n == 0 {
                return Err(Error::new(
                    code::INVALID_PARAMETER_VALUE,
                    "field position must not be zero",
                ));
            }
            let parts: Vec<&str> = if delim.is_empty() {
                vec![s.as_str()]
            } else {
                s.split(delim.as_str()).collect()
            };
            let idx = if n > 0 {
                usize::try_from(n - 1).ok()
            } else {
                usize::try_from(parts.len() as i64 + n).ok()
            };
            Value::Text(
                idx.and_then(|i| parts.get(i))
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
            )
        }
        Func::Btrim | Func::Ltrim | Func::Rtrim => {
            let set = trim_set(args)?;
            let s = text(&a0)?;
            let out = match f {
                Func::Ltrim => s.trim_start_matches(set.as_slice()),
                Func::Rtrim => s.trim_end_matches(set.as_slice()),
                _ => s.trim_matches(set.as_slice()),
            };
            Value::Text(out.to_string())
        }
        Func::Lpad | Func::Rpad => {
            let s: Vec<char> = text(&a0)?.chars().collect();
            let len =
                usize::try_from(int(args.get(1).unwrap_or(&Value::Null))?.max(0)).unwrap_or(0);
            let fill: Vec<char> = match args.get(2) {
                Some(v) => text(v)?.chars().collect(),
                None => vec![' '],
            };
            if s.len() >= len || fill.is_empty() {
                Value::Text(s.iter().take(len).collect())
            } else {
                let pad: String = fill.iter().cycle().take(len - s.len()).collect();
                let body: String = s.iter().collect();
                Value::Text(if *f == Func::Lpad {
                    pad + &body
                } else {
                    body + &pad
                })
            }
        }
        Func::Left | Func::Right => {
            let s: Vec<char> = text(&a0)?.chars().collect();
            let n = int(args.get(1).unwrap_or(&Value::Null))?;
            let len = s.len() as i64;
            let keep = if n >= 0 { n.min(len) } else { (len + n).max(0) } as usize;
            Value::Text(if *f == Func::Left {
                s.iter().take(keep).collect()
            } else {
                s.iter().skip(s.len() - keep).collect()
            })
        }
        Func::Repeat => {
            let n = int(args.get(1).unwrap_or(&Value::Null))?.max(0);
            let s = text(&a0)?;
            if (s.len() as u64).saturating_mul(n as u64) > (1 << 30) {
                return Err(Error::new(
                    code::PROGRAM_LIMIT_EXCEEDED,
                    "requested length too large",
                ));
            }
            Value::Text(s.repeat(n as usize))
        }
        Func::Reverse => Value::Text(text(&a0)?.chars().rev().collect()),
        Func::Initcap => {
            let mut out = String::new();
            let mut start = true;
            for c in text(&a0)?.chars() {
                if c.is_alphanumeric() {
                    if start {
                        out.extend(c.to_uppercase());
                    } else {
                        out.extend(c.to_lowercase());
                    }
                    start = false;
                } else {
                    out.push(c);
                    start = true;
                }
            }
            Value::Text(out)
        }
        Func::Md5 => match &a0 {
            Value::Bytea(b) => Value::Text(md5_hex(b)),
            v => Value::Text(md5_hex(text(v)?.as_bytes())),
        },
        Func::Abs => {
            if a0.compare(&Value::Int4(0))?.is_some_and(|o| o.is_lt()) {
                a0.negate()?
            } else {
                a0
            }
        }
        Func::Ceil | Func::Floor | Func::Round | Func::Trunc => {
            super::func_support::round_like(f, &a0, args.get(1))?
        }
        Func::Sqrt => {
            let x = float(&a0)?;
            if x < 0.0 {
                return Err(Error::new(
                    code::INVALID_ARGUMENT_FOR_POWER,
                    "cannot take square root of a negative number",
                ));
            }
            Value::Float8(x.sqrt())
        }
        Func::Power => {
            let b = args.get(1).unwrap_or(&Value::Null);
            match (&a0, b) {
                (Value::Numeric(_), _) | (_, Value::Numeric(_)) => {
                    Value::binary(crate::types::BinaryOp::Pow, &a0, b)?
                }
                _ => Value::binary(
                    crate::types::BinaryOp::Pow,
                    &Value::Float8(float(&a0)?),
                    &Value::Float8(float(b)?),
                )?,
            }
        }
        Func::Mod => Value::binary(
            crate::types::BinaryOp::Mod,
            &a0,
            args.get(1).unwrap_or(&Value::Null),
        )?,
        Func::Sign => {
            let x = float(&a0)?;
            let s = if x > 0.0 {
                1
            } else if x < 0.0 {
                -1
            } else {
                0
            };
            match a0 {
                Value::Numeric(_) => Value::Int4(s).cast(&DataType::Numeric(None))?,
                _ => Value::Float8(f64::from(s)),
            }
        }
        Func::DatePart => date_part(&text(&a0)?, args.get(1).unwrap_or(&Value::Null))?,
        Func::Extract => extract(&text(&a0)?, args.get(1).unwrap_or(&Value::Null))?,
        Func::ArrayLength => match (&a0, args.get(1)) {
            (Value::Array(_, items), Some(d)) if int(d)? == 1 && !items.is_empty() => {
                Value::Int4(items.len() as i32)
            }
            _ => Value::Null,
        },
        Func::Cardinality => match &a0 {
            Value::Array(_, items) => Value::Int4(items.len() as i32),
            _ => Value::Null,
        },
        Func::ToJsonb => Value::Jsonb(super::func_support::to_json(&a0)?),
        Func::JsonbTypeof => match &a0 {
            // An untyped literal, read as jsonb.
            Value::Text(literal) => match Value::parse_text(&DataType::Jsonb, literal)? {
                Value::Jsonb(j) => Value::Text(json_type(&j).into()),
                _ => Value::Null,
            },
            Value::Jsonb(j) => Value::Text(json_type(j).into()),
            _ => Value::Null,
        },
        _ => {
            return Err(Error::new(
                code::INTERNAL_ERROR,
                format!("{f:?} not evaluated"),
            ))
        }
    })
}
