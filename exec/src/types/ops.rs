//! Binary operators: `BinaryOp`, PostgreSQL's operator resolution (`result_type`) and
//! evaluation (`Value::binary`) for arithmetic, comparison, concatenation, date/time
//! arithmetic, bitwise, json/jsonb and array operators.

use super::compare::op_error;
use super::json;
use super::ops_eval::{concat, json_get, temporal};
use super::{DataType, Value};
use crate::error::{code, Error, Result};
use std::cmp::Ordering;

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    Concat,
    JsonGet,
    JsonGetText,
    JsonPath,
    JsonPathText,
    JsonContains,
    JsonContainedBy,
    JsonHasKey,
    ArrayContains,
    ArrayContainedBy,
    ArrayOverlap,
    BitAnd,
    BitOr,
    BitXor,
    ShiftLeft,
    ShiftRight,
    /// `~`, `!~`, `~*`, `!~*`: POSIX regular expression match (case-insensitive with `*`).
    RegexMatch,
    RegexNotMatch,
    RegexIMatch,
    RegexNotIMatch,
    /// pgvector's distances: `<->` L2, `<#>` negative inner product, `<=>` cosine, `<+>` L1;
    /// and over bit strings `<~>` Hamming and `<%>` Jaccard.
    VectorL2,
    VectorNegIp,
    VectorCosine,
    VectorL1,
    Hamming,
    Jaccard,
}

impl BinaryOp {
    /// The SQL spelling.
    pub fn symbol(self) -> &'static str {
        use BinaryOp as B;
        match self {
            B::Add => "+",
            B::Sub => "-",
            B::Mul => "*",
            B::Div => "/",
            B::Mod => "%",
            B::Pow => "^",
            B::Eq => "=",
            B::NotEq => "<>",
            B::Lt => "<",
            B::LtEq => "<=",
            B::Gt => ">",
            B::GtEq => ">=",
            B::Concat => "||",
            B::JsonGet => "->",
            B::JsonGetText => "->>",
            B::JsonPath => "#>",
            B::JsonPathText => "#>>",
            B::JsonContains | B::ArrayContains => "@>",
            B::JsonContainedBy | B::ArrayContainedBy => "<@",
            B::JsonHasKey => "?",
            B::ArrayOverlap => "&&",
            B::BitAnd => "&",
            B::BitOr => "|",
            B::BitXor => "#",
            B::ShiftLeft => "<<",
            B::ShiftRight => ">>",
            B::RegexMatch => "~",
            B::RegexNotMatch => "!~",
            B::RegexIMatch => "~*",
            B::RegexNotIMatch => "!~*",
            B::VectorL2 => "<->",
            B::VectorNegIp => "<#>",
            B::VectorCosine => "<=>",
            B::VectorL1 => "<+>",
            B::Hamming => "<~>",
            B::Jaccard => "<%>",
        }
    }

    /// The operator spelled `symbol` (`OPERATOR(pg_catalog.~)` names its operator this way).
    pub fn from_symbol(symbol: &str) -> Option<BinaryOp> {
        use BinaryOp as B;
        Some(match symbol {
            "+" => B::Add,
            "-" => B::Sub,
            "*" => B::Mul,
            "/" => B::Div,
            "%" => B::Mod,
            "^" => B::Pow,
            "=" => B::Eq,
            "<>" | "!=" => B::NotEq,
            "<" => B::Lt,
            "<=" => B::LtEq,
            ">" => B::Gt,
            ">=" => B::GtEq,
            "||" => B::Concat,
            "~" => B::RegexMatch,
            "!~" => B::RegexNotMatch,
            "~*" => B::RegexIMatch,
            "!~*" => B::RegexNotIMatch,
            "<->" => B::VectorL2,
            "<#>" => B::VectorNegIp,
            "<=>" => B::VectorCosine,
            "<+>" => B::VectorL1,
            "<~>" => B::Hamming,
            "<%>" => B::Jaccard,
            _ => return None,
        })
    }

    fn is_regex(self) -> bool {
        use BinaryOp as B;
        matches!(
            self,
            B::RegexMatch | B::RegexNotMatch | B::RegexIMatch | B::RegexNotIMatch
        )
    }

    /// The pgvector distance this operator computes, if it is one.
    pub fn distance(self) -> Option<super::vector_ops::Distance> {
        use super::vector_ops::Distance as D;
        Some(match self {
            BinaryOp::VectorL2 => D::L2,
            BinaryOp::VectorNegIp => D::NegInnerProduct,
            BinaryOp::VectorCosine => D::Cosine,
            BinaryOp::VectorL1 => D::L1,
            _ => return None,
        })
    }

    fn is_comparison(self) -> bool {
        use BinaryOp as B;
        matches!(self, B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq)
    }
}

fn int_rank(t: &DataType) -> Option<u8> {
    match t {
        DataType::Int2 => Some(1),
        DataType::Int4 => Some(2),
        DataType::Int8 => Some(3),
        _ => None,
    }
}

fn is_arith(t: &DataType) -> bool {
    int_rank(t).is_some()
        || matches!(
            t,
            DataType::Float4 | DataType::Float8 | DataType::Numeric(_)
        )
}

/// The common type of numeric arithmetic.
fn arith_type(l: &DataType, r: &DataType) -> Option<DataType> {
    use DataType as T;
    if !is_arith(l) || !is_arith(r) {
        return None;
    }
    Some(match (l, r) {
        (T::Float4, T::Float4) => T::Float4,
        (T::Float4 | T::Float8, _) | (_, T::Float4 | T::Float8) => T::Float8,
        (T::Numeric(_), _) | (_, T::Numeric(_)) => T::Numeric(None),
        _ => {
            if int_rank(l) >= int_rank(r) {
                l.clone()
            } else {
                r.clone()
            }
        }
    })
}

fn comparable(l: &DataType, r: &DataType) -> bool {
    use DataType as T;
    let temporal = |t: &DataType| matches!(t, T::Date | T::Timestamp(_) | T::Timestamptz(_));
    match (l, r) {
        (T::Json, _) | (_, T::Json) => false,
        (T::Oid, x) | (x, T::Oid) => int_rank(x).is_some() || x == &T::Oid || x.is_reg_oid(),
        (a, b) if a.is_reg_oid() => b == a || int_rank(b).is_some(),
        _ if is_arith(l) && is_arith(r) => true,
        _ if l.is_string() && r.is_string() => true,
        _ if temporal(l) && temporal(r) => true,
        (T::Array(a), T::Array(b)) => comparable(a, b),
        (T::Bit(_) | T::VarBit(_), T::Bit(_) | T::VarBit(_)) => true,
        (T::Vector(_), T::Vector(_))
        | (T::HalfVec(_), T::HalfVec(_))
        | (T::SparseVec(_), T::SparseVec(_)) => true,
        (T::Numeric(_), T::Numeric(_))
        | (T::Varchar(_), T::Varchar(_))
        | (T::Char(_), T::Char(_)) => true,
        _ => l == r,
    }
}

/// Resolves an `unknown` operand to the type PostgreSQL would pick for it.
fn resolve_unknown(op: BinaryOp, l: &DataType, r: &DataType) -> (DataType, DataType) {
    use BinaryOp as B;
    use DataType as T;
    match (l, r) {
        (T::Unknown, T::Unknown) => (T::Text, T::Text),
        (T::Unknown, other) => {
            let l2 = match (op, other) {
                (B::Add, T::Date | T::Timestamp(_) | T::Timestamptz(_) | T::Time(_)) => T::Interval,
                (B::Concat, T::Array(_) | T::Vector(_) | T::HalfVec(_)) => other.clone(),
                (B::Concat, _) => T::Text,
                (B::Mul, T::Interval) => T::Float8,
                _ if other.is_string() => T::Text,
                _ => other.clone(),
            };
            (l2, other.clone())
        }
        (other, T::Unknown) => {
            let r2 = match (op, other) {
                (B::JsonGet | B::JsonGetText | B::JsonHasKey, _) => T::Text,
                (B::JsonPath | B::JsonPathText, _) => T::Array(Box::new(T::Text)),
                (B::Concat, T::Array(_) | T::Vector(_) | T::HalfVec(_)) => other.clone(),
                (B::Concat, _) => T::Text,
                (B::Add | B::Sub, T::Date | T::Timestamp(_) | T::Timestamptz(_) | T::Time(_)) => {
                    T::Interval
                }
                (B::Mul | B::Div, T::Interval) => T::Float8,
                (B::ShiftLeft | B::ShiftRight, _) => T::Int4,
                _ if other.is_string() => T::Text,
                _ => other.clone(),
            };
            (other.clone(), r2)
        }
        _ => (l.clone(), r.clone()),
    }
}

/// The result type of `left op right` under PostgreSQL's operator resolution; 42883 if no
/// operator exists for the pair.
pub fn result_type(op: BinaryOp, left: &DataType, right: &DataType) -> Result<DataType> {
    use BinaryOp as B;
    use DataType as T;
    let (l, r) = resolve_unknown(op, left, right);
    let none = || op_error(op.symbol(), left, right);
    let int_like = |t: &DataType| matches!(t, T::Int2 | T::Int4);
    if op.is_comparison() {
        return if comparable(&l, &r) {
            Ok(T::Bool)
        } else {
            Err(none())
        };
    }
    let dense = |t: &DataType| matches!(t, T::Vector(_) | T::HalfVec(_));
    let t = match op {
        B::VectorL2 | B::VectorNegIp | B::VectorCosine | B::VectorL1 => match (&l, &r) {
            (T::Vector(_), T::Vector(_))
            | (T::HalfVec(_), T::HalfVec(_))
            | (T::SparseVec(_), T::SparseVec(_)) => T::Float8,
            _ => return Err(none()),
        },
        B::Hamming | B::Jaccard => match (&l, &r) {
            (T::Bit(_) | T::VarBit(_), T::Bit(_) | T::VarBit(_)) => T::Float8,
            _ => return Err(none()),
        },
        B::Add | B::Sub | B::Mul if dense(&l) && dense(&r) => {
            if std::mem::discriminant(&l) != std::mem::discriminant(&r) {
                return Err(none());
            }
            base_of(&l)
        }
        B::Add | B::Sub | B::Mul | B::Div | B::Mod => match (op, &l, &r) {
            (B::Mod, T::Float4 | T::Float8, _) | (B::Mod, _, T::Float4 | T::Float8) => {
                return Err(none())
            }
            (_, a, b) if is_arith(a) && is_arith(b) => arith_type(a, b).ok_or_else(none)?,
            (B::Add, T::Date, b) | (B::Add, b, T::Date) if int_like(b) => T::Date,
            (B::Sub, T::Date, b) if int_like(b) => T::Date,
            (B::Sub, T::Date, T::Date) => T::Int4,
            (B::Add, T::Date, T::Interval)
            | (B::Add, T::Interval, T::Date)
            | (B::Sub, T::Date, T::Interval) => T::Timestamp(None),
            (B::Add, T::Date, T::Time(_)) | (B::Add, T::Time(_), T::Date) => T::Timestamp(None),
            (B::Add, T::Timestamp(_), T::Interval)
            | (B::Add, T::Interval, T::Timestamp(_))
            | (B::Sub, T::Timestamp(_), T::Interval) => T::Timestamp(None),
            (B::Add, T::Timestamptz(_), T::Interval)
            | (B::Add, T::Interval, T::Timestamptz(_))
            | (B::Sub, T::Timestamptz(_), T::Interval) => T::Timestamptz(None),
            (
                B::Sub,
                T::Timestamp(_) | T::Date | T::Timestamptz(_),
                T::Timestamp(_) | T::Date | T::Timestamptz(_),
            ) => T::Interval,
            (B::Add | B::Sub, T::Time(_), T::Interval) | (B::Add, T::Interval, T::Time(_)) => {
                T::Time(None)
            }
            (B::Sub, T::Time(_), T::Time(_)) => T::Interval,
            (B::Add | B::Sub, T::Interval, T::Interval) => T::Interval,
            (B::Mul, T::Interval, b) | (B::Mul, b, T::Interval) if is_arith(b) => T::Interval,
            (B::Div, T::Interval, b) if is_arith(b) => T::Interval,
            _ => return Err(none()),
        },
        B::Pow => match arith_type(&l, &r) {
            Some(T::Numeric(_)) => T::Numeric(None),
            Some(_) => T::Float8,
            None => return Err(none()),
        },
        B::BitAnd | B::BitOr | B::BitXor => match (int_rank(&l), int_rank(&r)) {
            (Some(_), Some(_)) => arith_type(&l, &r).ok_or_else(none)?,
            _ => return Err(none()),
        },
        B::ShiftLeft | B::ShiftRight => match (int_rank(&l), &r) {
            (Some(_), T::Int2 | T::Int4) => l.clone(),
            _ => return Err(none()),
        },
        B::Concat => match (&l, &r) {
            (T::Vector(_), T::Vector(_)) | (T::HalfVec(_), T::HalfVec(_)) => base_of(&l),
            (T::Array(a), T::Array(b)) if comparable(a, b) => l.clone(),
            (T::Array(a), b) | (b, T::Array(a)) if comparable(a, b) || b == &T::Unknown => {
                T::Array(a.clone())
            }
            (T::Jsonb, T::Jsonb) => T::Jsonb,
            (T::Bytea, T::Bytea) => T::Bytea,
            (a, b) if a.is_string() || b.is_string() => T::Text,
            _ => return Err(none()),
        },
        B::JsonGet | B::JsonGetText => match (&l, &r) {
            (T::Jsonb | T::Json, k) if k.is_string() || int_like(k) => {
                if op == B::JsonGetText {
                    T::Text
                } else {
                    l.clone()
                }
            }
            _ => return Err(none()),
        },
        B::JsonPath | B::JsonPathText => match (&l, &r) {
            (T::Jsonb | T::Json, T::Array(e)) if e.is_string() => {
                if op == B::JsonPathText {
                    T::Text
                } else {
                    l.clone()
                }
            }
            _ => return Err(none()),
        },
        B::JsonContains | B::JsonContainedBy | B::ArrayContains | B::ArrayContainedBy => {
            match (&l, &r) {
                (T::Jsonb, T::Jsonb) => T::Bool,
                (T::Array(a), T::Array(b)) if comparable(a, b) => T::Bool,
                _ => return Err(none()),
            }
        }
        B::ArrayOverlap => match (&l, &r) {
            (T::Array(a), T::Array(b)) if comparable(a, b) => T::Bool,
            _ => return Err(none()),
        },
        B::JsonHasKey => match (&l, &r) {
            (T::Jsonb, k) if k.is_string() => T::Bool,
            _ => return Err(none()),
        },
        B::RegexMatch | B::RegexNotMatch | B::RegexIMatch | B::RegexNotIMatch => {
            if l.is_string() && r.is_string() {
                T::Bool
            } else {
                return Err(none());
            }
        }
        B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq => T::Bool,
    };
    Ok(t)
}

/// A vector type without its dimension (what arithmetic and `||` return).
fn base_of(t: &DataType) -> DataType {
    match t {
        DataType::HalfVec(_) => DataType::HalfVec(None),
        DataType::SparseVec(_) => DataType::SparseVec(None),
        _ => DataType::Vector(None),
    }
}

fn range_err(t: &DataType) -> Error {
    super::cast::out_of_range(t)
}

fn div_zero() -> Error {
    Error::new(code::DIVISION_BY_ZERO, "division by zero")
}

fn float_overflow() -> Error {
    Error::new(
        code::NUMERIC_VALUE_OUT_OF_RANGE,
        "value out of range: overflow",
    )
}

fn float_underflow() -> Error {
    Error::new(
        code::NUMERIC_VALUE_OUT_OF_RANGE,
        "value out of range: underflow",
    )
}

/// `+ - *` between two values of one kind, the common case, without type resolution (the
/// result [`Value::binary_general`] gives); None for anything else.
fn same_kind_arith(op: BinaryOp, left: &Value, right: &Value) -> Option<Result<Value>> {
    use BinaryOp as B;
    if !matches!(op, B::Add | B::Sub | B::Mul) {
        return None;
    }
    Some(match (left, right) {
        (Value::Numeric(x), Value::Numeric(y)) => Ok(Value::Numeric(numeric_arith(op, x, y))),
        // An integer beside a numeric is cast to numeric (as the general path resolves it):
        // `1 - price` with a literal 1.
        (Value::Numeric(x), Value::Int4(_) | Value::Int8(_) | Value::Int2(_)) => {
            let y = super::Numeric::from_i64(right.as_i64().ok().flatten()?);
            Ok(Value::Numeric(numeric_arith(op, x, &y)))
        }
        (Value::Int4(_) | Value::Int8(_) | Value::Int2(_), Value::Numeric(y)) => {
            let x = super::Numeric::from_i64(left.as_i64().ok().flatten()?);
            Ok(Value::Numeric(numeric_arith(op, &x, y)))
        }
        (Value::Float8(x), Value::Float8(y)) => float_arith(op, *x, *y, false).map(Value::Float8),
        (Value::Int8(x), Value::Int8(y)) => int_arith(op, *x, *y, &DataType::Int8),
        (Value::Int4(x), Value::Int4(y)) => {
            int_arith(op, i64::from(*x), i64::from(*y), &DataType::Int4)
        }
        _ => return None,
    })
}

/// `x + y`, `x - y` or `x * y` (the only operators [`same_kind_arith`] takes).
fn numeric_arith(op: BinaryOp, x: &super::Numeric, y: &super::Numeric) -> super::Numeric {
    match op {
        BinaryOp::Add => x.add(y),
        BinaryOp::Sub => x.sub(y),
        _ => x.mul(y),
    }
}

fn int_arith(op: BinaryOp, a: i64, b: i64, t: &DataType) -> Result<Value> {
    use BinaryOp as B;
    let r = match op {
        B::Add => a.checked_add(b),
        B::Sub => a.checked_sub(b),
        B::Mul => a.checked_mul(b),
        B::Div => {
            if b == 0 {
                return Err(div_zero());
            }
            a.checked_div(b)
        }
        B::Mod => {
            if b == 0 {
                return Err(div_zero());
            }
            Some(a.checked_rem(b).unwrap_or(0))
        }
        B::BitAnd => Some(a & b),
        B::BitOr => Some(a | b),
        B::BitXor => Some(a ^ b),
        _ => None,
    };
    let r = r.ok_or_else(|| range_err(t))?;
    super::cast::int_to(r, t).map_err(|_| range_err(t))
}

fn float_arith(op: BinaryOp, a: f64, b: f64, is_f4: bool) -> Result<f64> {
    use BinaryOp as B;
    let r = match op {
        B::Add => a + b,
        B::Sub => a - b,
        B::Mul => a * b,
        B::Div => {
            if b == 0.0 {
                return Err(div_zero());
            }
            a / b
        }
        B::Pow => {
            if a == 0.0 && b < 0.0 {
                return Err(Error::new(
                    "2201F",
                    "zero raised to a negative power is undefined",
                ));
            }
            if a < 0.0 && b.is_finite() && b.fract() != 0.0 {
                return Err(Error::new(
                    "2201F",
                    "a negative number raised to a non-integer power yields a complex result",
                ));
            }
            a.powf(b)
        }
        _ => return Err(Error::new(code::INTERNAL_ERROR, "not a float operator")),
    };
    let r = if is_f4 { f64::from(r as f32) } else { r };
    if r.is_infinite() && a.is_finite() && b.is_finite() {
        return Err(float_overflow());
    }
    if r == 0.0
        && matches!(op, B::Mul | B::Div | B::Pow)
        && a != 0.0
        && b.is_finite()
        && (op != B::Mul || b != 0.0)
    {
        return Err(float_underflow());
    }
    Ok(r)
}

fn array_elems(v: &Value) -> &[Value] {
    match v {
        Value::Array(_, items) => items,
        _ => &[],
    }
}

/// `a @> b` on arrays: every non-null element of b equals some element of a.
fn array_contains(a: &Value, b: &Value) -> Result<bool> {
    for y in array_elems(b) {
        let mut found = false;
        for x in array_elems(a) {
            if x.compare(y)? == Some(Ordering::Equal) {
                found = true;
                break;
            }
        }
        if !found {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Parses an untyped literal operand into the type `t`.
fn typed(v: &Value, t: &DataType) -> Result<Value> {
    match v {
        Value::Text(s) if !t.is_string() => Value::parse_text(t, s),
        other => Ok(other.clone()),
    }
}

impl Value {
    /// Evaluates `left op right` (all operators are strict: NULL in, NULL out).
    pub fn binary(op: BinaryOp, left: &Value, right: &Value) -> Result<Value> {
        match same_kind_arith(op, left, right) {
            Some(done) => done,
            None => Value::binary_general(op, left, right),
        }
    }

    /// [`Value::binary`] with the operands' types resolved first.
    fn binary_general(op: BinaryOp, left: &Value, right: &Value) -> Result<Value> {
        use BinaryOp as B;
        use DataType as T;
        if left.is_null() || right.is_null() {
            return Ok(Value::Null);
        }
        if op.is_regex() {
            let text = |v: &Value| match v {
                Value::Text(s) => s.clone(),
                other => other.to_text().unwrap_or_default(),
            };
            let ci = matches!(op, B::RegexIMatch | B::RegexNotIMatch);
            let hit = super::regex::matches(&text(left), &text(right), ci)?;
            return Ok(Value::Bool(
                hit != matches!(op, B::RegexNotMatch | B::RegexNotIMatch),
            ));
        }
        if op.is_comparison() {
            let o = left.compare(right)?;
            return Ok(match o {
                None => Value::Null,
                Some(o) => Value::Bool(match op {
                    B::Eq => o == Ordering::Equal,
                    B::NotEq => o != Ordering::Equal,
                    B::Lt => o == Ordering::Less,
                    B::LtEq => o != Ordering::Greater,
                    B::Gt => o == Ordering::Greater,
                    _ => o != Ordering::Less,
                }),
            });
        }
        let lt0 = if matches!(left, Value::Text(_)) && !matches!(right, Value::Text(_)) {
            T::Unknown
        } else {
            left.data_type()
        };
        let rt0 = if matches!(right, Value::Text(_)) && !matches!(left, Value::Text(_)) {
            T::Unknown
        } else {
            right.data_type()
        };
        let (lt, rt) = resolve_unknown(op, &lt0, &rt0);
        let l = typed(left, &lt)?;
        let r = typed(right, &rt)?;
        let res = result_type(op, &l.data_type(), &r.data_type())?;
        if let Some(d) = op.distance() {
            return super::vector_ops::distance_of(d, &l, &r).map(Value::Float8);
        }
        match (op, &l, &r) {
            (B::Hamming | B::Jaccard, Value::Bit(a), Value::Bit(b)) => {
                let d = if op == B::Hamming {
                    a.hamming(b)?
                } else {
                    a.jaccard(b)?
                };
                return Ok(Value::Float8(d));
            }
            (B::Add | B::Sub | B::Mul, Value::Vector(_) | Value::HalfVec(_), _) => {
                let sym = op.symbol().chars().next().unwrap_or('+');
                return super::vector_ops::arithmetic(sym, &l, &r);
            }
            (B::Concat, Value::Vector(_) | Value::HalfVec(_), _) => {
                return super::vector_ops::concat(&l, &r)
            }
            _ => {}
        }
        match op {
            B::Add
            | B::Sub
            | B::Mul
            | B::Div
            | B::Mod
            | B::Pow
            | B::BitAnd
            | B::BitOr
            | B::BitXor
                if is_arith(&l.data_type()) && is_arith(&r.data_type()) =>
            {
                let work = if op == B::Pow {
                    res.clone()
                } else {
                    arith_type(&l.data_type(), &r.data_type()).unwrap_or(T::Float8)
                };
                let a = l.cast(&work)?;
                let b = r.cast(&work)?;
                match (&a, &b) {
                    (Value::Float4(x), Value::Float4(y)) => {
                        Ok(Value::Float4(
                            float_arith(op, f64::from(*x), f64::from(*y), true)? as f32,
                        ))
                    }
                    (Value::Float8(x), Value::Float8(y)) => {
                        Ok(Value::Float8(float_arith(op, *x, *y, false)?))
                    }
                    (Value::Numeric(x), Value::Numeric(y)) => Ok(Value::Numeric(match op {
                        B::Add => x.add(y),
                        B::Sub => x.sub(y),
                        B::Mul => x.mul(y),
                        B::Div => x.div(y)?,
                        B::Mod => x.rem(y)?,
                        _ => x.pow(y)?,
                    })),
                    _ => match (a.as_i64()?, b.as_i64()?) {
                        (Some(x), Some(y)) => int_arith(op, x, y, &work),
                        _ => Ok(Value::Null),
                    },
                }
            }
            B::ShiftLeft | B::ShiftRight => {
                let (Some(a), Some(b)) = (l.as_i64()?, r.as_i64()?) else {
                    return Ok(Value::Null);
                };
                let bits = match res {
                    T::Int2 => 16,
                    T::Int4 => 32,
                    _ => 64,
                };
                let sh = (b.rem_euclid(bits)) as u32;
                let v = if op == B::ShiftLeft {
                    a.wrapping_shl(sh)
                } else {
                    a >> sh
                };
                Ok(match res {
                    T::Int2 => Value::Int2(v as i16),
                    T::Int4 => Value::Int4(v as i32),
                    _ => Value::Int8(v),
                })
            }
            B::Add | B::Sub | B::Mul | B::Div => temporal(op, &l, &r, &res),
            B::Concat => concat(&l, &r, &res),
            B::JsonGet | B::JsonGetText | B::JsonPath | B::JsonPathText => json_get(op, &l, &r),
            B::JsonContains | B::ArrayContains | B::JsonContainedBy | B::ArrayContainedBy => {
                let (a, b) = if matches!(op, B::JsonContains | B::ArrayContains) {
                    (&l, &r)
                } else {
                    (&r, &l)
                };
                Ok(Value::Bool(match (a, b) {
                    (Value::Jsonb(x), Value::Jsonb(y)) => json::contains(x, y, true),
                    _ => array_contains(a, b)?,
                }))
            }
            B::ArrayOverlap => {
                for x in array_elems(&l) {
                    for y in array_elems(&r) {
                        if x.compare(y)? == Some(Ordering::Equal) {
                            return Ok(Value::Bool(true));
                        }
                    }
                }
                Ok(Value::Bool(false))
            }
            B::JsonHasKey => match (&l, &r) {
                (Value::Jsonb(j), Value::Text(k)) => Ok(Value::Bool(json::has_key(j, k))),
                _ => Err(op_error(op.symbol(), &l.data_type(), &r.data_type())),
            },
            _ => Err(op_error(op.symbol(), &l.data_type(), &r.data_type())),
        }
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;
    use crate::types::Numeric;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i32>().prop_map(Value::Int4),
            any::<i64>().prop_map(Value::Int8),
            (-1e12f64..1e12).prop_map(Value::Float8),
            (any::<i64>(), 0i64..6).prop_map(|(m, s)| Value::Numeric(Numeric::from_parts(
                bigdecimal::num_bigint::BigInt::from(m),
                s
            ))),
        ]
    }

    proptest! {
        /// Numeric +, - and * (whose operands of up to 18 digits take 128-bit arithmetic)
        /// agree with arbitrary-precision decimals, value and display scale.
        #[test]
        fn numeric_arithmetic_matches_big_decimals(
            m1 in any::<i64>(), s1 in 0i64..30, m2 in any::<i64>(), s2 in 0i64..30,
        ) {
            use bigdecimal::num_bigint::BigInt;
            let a = Numeric::from_parts(BigInt::from(m1), s1);
            let b = Numeric::from_parts(BigInt::from(m2), s2);
            let (x, y) = (
                bigdecimal::BigDecimal::new(BigInt::from(m1), s1),
                bigdecimal::BigDecimal::new(BigInt::from(m2), s2),
            );
            let sum = a.add(&b);
            prop_assert_eq!(sum.to_bigdecimal(), Some(&x + &y));
            prop_assert_eq!(sum.scale(), s1.max(s2));
            let difference = a.sub(&b);
            prop_assert_eq!(difference.to_bigdecimal(), Some(&x - &y));
            prop_assert_eq!(difference.scale(), s1.max(s2));
            let product = a.mul(&b);
            prop_assert_eq!(product.to_bigdecimal(), Some(&x * &y));
            prop_assert_eq!(product.scale(), s1 + s2);
        }

        /// Same-kind arithmetic gives what the general path gives, errors included.
        #[test]
        fn same_kind_arithmetic_matches_the_general_path(
            a in value(),
            b in value(),
            op in prop_oneof![Just(BinaryOp::Add), Just(BinaryOp::Sub), Just(BinaryOp::Mul)],
        ) {
            let general = Value::binary_general(op, &a, &b);
            let fast = Value::binary(op, &a, &b);
            match (general, fast) {
                (Ok(g), Ok(f)) => prop_assert_eq!(g, f),
                (Err(g), Err(f)) => prop_assert_eq!(g.sqlstate(), f.sqlstate()),
                (g, f) => prop_assert!(false, "{:?} vs {:?}", g, f),
            }
        }
    }
}
