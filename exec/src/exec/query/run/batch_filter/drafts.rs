//! Compiling a scan filter's conjuncts into [`Term`]s: each conjunct first becomes a
//! [`Draft`] (its columns registered, its constants evaluated), then, once every exact
//! column and constant is seen and the lanes' shared scale is known, a term with its
//! constants as lane keys. A conjunct with no draft, or whose constants have no key, is
//! left to the residual.

use super::super::lanes::{date_key, float_key, rescale};
use super::super::like::Pattern;
use super::{class_of, Class, Cmp, Col, Konst, Term, MAX_SCALE};
use crate::catalog::TableDef;
use crate::expr::{EvalContext, Expr};
use crate::types::{DataType, Value};

/// A conjunct before its constants are made keys: the scale is known only once all are seen.
pub(super) enum Draft {
    Const(usize, Cmp, Value),
    Cols(usize, Cmp, usize),
    In(usize, Vec<Value>, bool),
    Null(usize, bool),
    Like(usize, Pattern, bool),
    Any(Vec<Vec<Draft>>),
}

/// The conjuncts of `e` (an AND tree), in order.
pub(super) fn conjuncts<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    flatten(e, false, out);
}

/// The operands of an AND tree (`or`: an OR tree) `e`, in order.
fn flatten<'e>(e: &'e Expr, or: bool, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::And(l, r) if !or => {
            flatten(l, or, out);
            flatten(r, or, out);
        }
        Expr::Or(l, r) if or => {
            flatten(l, or, out);
            flatten(r, or, out);
        }
        other => out.push(other),
    }
}

/// The value of an operand that stays the same for the whole scan.
fn constant(e: &Expr, ectx: &EvalContext<'_>) -> Option<Value> {
    match e {
        Expr::Literal(_) | Expr::Param(_) | Expr::Outer(_) => e.eval(&[], ectx).ok(),
        _ => None,
    }
}

/// Column `e` of `table` as an index into `cols` (added when new), if its class has lanes.
fn col_of(table: &TableDef, cols: &mut Vec<Col>, e: &Expr) -> Option<usize> {
    let Expr::Column(i) = e else { return None };
    let c = table.columns.get(*i)?;
    let class = class_of(&c.ty)?;
    Some(match cols.iter().position(|k| k.index == *i) {
        Some(at) => at,
        None => {
            cols.push(Col {
                index: *i,
                id: u64::from(c.id),
                ty: c.ty.clone(),
                class,
            });
            cols.len() - 1
        }
    })
}

/// A conjunct of the filter as a draft term, if it has one; an OR has one when every
/// conjunct of every branch has (TPC-H Q19's part filter).
pub(super) fn draft(
    table: &TableDef,
    cols: &mut Vec<Col>,
    part: &Expr,
    ectx: &EvalContext<'_>,
) -> Option<Draft> {
    Some(match part {
        Expr::Or(..) => {
            let mut branches = Vec::new();
            flatten(part, true, &mut branches);
            let mut any = Vec::with_capacity(branches.len());
            for b in branches {
                let mut parts = Vec::new();
                conjuncts(b, &mut parts);
                let branch: Option<Vec<Draft>> =
                    parts.iter().map(|p| draft(table, cols, p, ectx)).collect();
                any.push(branch?);
            }
            Draft::Any(any)
        }
        Expr::Binary(op, l, r) => {
            let cmp = Cmp::of(*op)?;
            match (
                matches!(**l, Expr::Column(_)),
                matches!(**r, Expr::Column(_)),
            ) {
                (true, true) => Draft::Cols(col_of(table, cols, l)?, cmp, col_of(table, cols, r)?),
                (true, false) => {
                    let v = constant(r, ectx)?;
                    Draft::Const(col_of(table, cols, l)?, cmp, v)
                }
                (false, true) => {
                    let v = constant(l, ectx)?;
                    Draft::Const(col_of(table, cols, r)?, cmp.flip(), v)
                }
                (false, false) => return None,
            }
        }
        Expr::InList {
            expr,
            list,
            negated,
        } if matches!(**expr, Expr::Column(_)) => {
            let items = list
                .iter()
                .map(|i| constant(i, ectx))
                .collect::<Option<_>>()?;
            Draft::In(col_of(table, cols, expr)?, items, *negated)
        }
        Expr::Like {
            expr,
            pattern,
            negated,
            case_insensitive: false,
            escape: None,
        } if matches!(**expr, Expr::Column(_)) => {
            let Some(Value::Text(p)) = constant(pattern, ectx) else {
                return None;
            };
            let text = matches!(**expr, Expr::Column(i) if table.columns.get(i)
                .and_then(|c| class_of(&c.ty)) == Some(Class::Text));
            if !text {
                return None;
            }
            let pat = Pattern::new(&p)?;
            Draft::Like(col_of(table, cols, expr)?, pat, *negated)
        }
        Expr::IsNull(x, negated) if matches!(**x, Expr::Column(_)) => {
            Draft::Null(col_of(table, cols, x)?, *negated)
        }
        _ => return None,
    })
}

/// The scale exact lanes share: the finest of the exact columns' declared scales and of the
/// constants compared with them; above `MAX_SCALE` when too fine for the lanes (no exact term
/// compiles then). A column without a declared scale adds none: its finer values are left
/// undecided.
pub(super) fn shared_scale(cols: &[Col], drafts: &[(usize, Draft)]) -> u32 {
    let mut scale = 0u32;
    let exact = |c: &usize| cols.get(*c).filter(|c| c.class == Class::Exact);
    let mut leaves = Vec::new();
    for (_, d) in drafts.iter().filter(|(_, d)| fits(cols, d)) {
        leaves_of(d, &mut leaves);
    }
    for d in leaves {
        let (columns, values): (&[usize], &[Value]) = match d {
            Draft::Const(c, _, v) => (std::slice::from_ref(c), std::slice::from_ref(v)),
            Draft::Cols(a, _, b) => (&[*a, *b][..], &[]),
            Draft::In(c, items, _) => (std::slice::from_ref(c), items),
            Draft::Null(..) | Draft::Like(..) | Draft::Any(_) => continue,
        };
        for c in columns.iter().filter_map(exact) {
            if let DataType::Numeric(Some((_, s))) = c.ty {
                scale = scale.max(s);
            }
        }
        if columns.first().is_none_or(|c| exact(c).is_none()) {
            continue;
        }
        for v in values {
            if let Value::Numeric(n) = v {
                if let Some((_, s)) = n.parts() {
                    scale = scale.max(u32::try_from(s.max(0)).unwrap_or(u32::MAX));
                }
            }
        }
    }
    scale.min(MAX_SCALE + 1)
}

/// The drafts of `d` that are not ORs: `d` itself, or its branches' drafts.
fn leaves_of<'d>(d: &'d Draft, out: &mut Vec<&'d Draft>) {
    match d {
        Draft::Any(branches) => {
            for d in branches.iter().flatten() {
                leaves_of(d, out);
            }
        }
        other => out.push(other),
    }
}

/// Whether a draft's columns and constants suit each other, the scale aside (a draft that
/// does not never compiles, so its columns and constants must not narrow the others' lanes).
fn fits(cols: &[Col], d: &Draft) -> bool {
    let class = |c: &usize| cols.get(*c).map(|c| c.class);
    let suits = |k: Class, v: &Value| {
        v.is_null()
            || match (k, v) {
                (Class::Exact, Value::Int2(_) | Value::Int4(_) | Value::Int8(_)) => true,
                (Class::Exact, Value::Numeric(n)) => n.is_finite(),
                (Class::Time, Value::Date(_) | Value::Timestamp(_) | Value::Timestamptz(_)) => true,
                (
                    Class::Float,
                    Value::Float4(_)
                    | Value::Float8(_)
                    | Value::Numeric(_)
                    | Value::Int2(_)
                    | Value::Int4(_)
                    | Value::Int8(_),
                ) => true,
                (Class::Text, Value::Text(_)) => true,
                _ => false,
            }
    };
    match d {
        Draft::Const(c, _, v) => class(c).is_some_and(|k| suits(k, v)),
        Draft::Cols(a, _, b) => class(a).is_some() && class(a) == class(b),
        Draft::In(c, items, _) => class(c).is_some_and(|k| items.iter().all(|v| suits(k, v))),
        Draft::Null(..) | Draft::Like(..) => true,
        Draft::Any(branches) => branches.iter().flatten().all(|d| fits(cols, d)),
    }
}

/// A draft as a term, if its constants have keys in its column's class.
pub(super) fn finish(cols: &[Col], scale: u32, draft: Draft) -> Option<Term> {
    let class = |c: usize| cols.get(c).map(|c| c.class);
    let usable = |c: usize| class(c).is_some_and(|k| k != Class::Exact || scale <= MAX_SCALE);
    Some(match draft {
        Draft::Const(col, op, v) => {
            if !usable(col) {
                return None;
            }
            if v.is_null() {
                return Some(Term::Never);
            }
            Term::Const {
                col,
                op,
                value: konst(class(col)?, scale, &v)?,
            }
        }
        Draft::Cols(left, op, right) => {
            let (a, b) = (class(left)?, class(right)?);
            if a != b || !usable(left) || !usable(right) {
                return None;
            }
            Term::Cols { left, op, right }
        }
        Draft::In(col, items, negated) => {
            if !usable(col) {
                return None;
            }
            let k = class(col)?;
            let null_item = items.iter().any(Value::is_null);
            let set = items
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| konst(k, scale, v))
                .collect::<Option<Vec<_>>>()?;
            Term::In {
                col,
                set,
                negated,
                null_item,
            }
        }
        Draft::Null(col, negated) => Term::Null { col, negated },
        Draft::Like(col, pattern, negated) => Term::Like {
            col,
            pattern,
            negated,
        },
        Draft::Any(branches) => Term::Any(
            branches
                .into_iter()
                .map(|b| b.into_iter().map(|d| finish(cols, scale, d)).collect())
                .collect::<Option<_>>()?,
        ),
    })
}

/// A constant's key in `class` (None: `Value::compare` would not compare it as the class
/// does, e.g. a float beside an integer column, or text beside a number).
fn konst(class: Class, scale: u32, v: &Value) -> Option<Konst> {
    let pow = 10i128.checked_pow(scale)?;
    Some(match (class, v) {
        (Class::Exact, Value::Int2(_) | Value::Int4(_) | Value::Int8(_)) => {
            Konst::Key(i128::from(v.as_i64().ok()??).checked_mul(pow)?)
        }
        (Class::Exact, Value::Numeric(n)) => {
            let (digits, s) = n.parts()?;
            let digits = i128::try_from(digits).ok()?;
            Konst::Key(rescale(digits, s, scale)?)
        }
        (Class::Time, Value::Date(d)) => Konst::Key(date_key(*d)),
        (Class::Time, Value::Timestamp(t) | Value::Timestamptz(t)) => Konst::Key(i128::from(*t)),
        (Class::Float, Value::Float4(x)) => Konst::Key(float_key(f64::from(*x))),
        (Class::Float, Value::Float8(x)) => Konst::Key(float_key(*x)),
        (Class::Float, Value::Numeric(n)) => Konst::Key(float_key(n.to_f64())),
        (Class::Float, Value::Int2(_) | Value::Int4(_) | Value::Int8(_)) => {
            Konst::Key(float_key(v.as_i64().ok()?? as f64))
        }
        (Class::Text, Value::Text(s)) => Konst::Bytes(s.as_bytes().to_vec()),
        _ => return None,
    })
}
