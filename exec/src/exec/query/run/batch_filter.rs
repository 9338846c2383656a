//! Vectorized evaluation of a table scan's filter over a chunk of stored rows.
//!
//! The conjuncts of the filter that compare a column with a constant (a literal, a parameter
//! or an enclosing query's value) or with another column of the same class, test a column
//! against a list of constants, test it for NULL, or match text against a LIKE pattern of
//! literal characters and `%` (`like`), are compiled into terms over column
//! lanes. A chunk's stored rows are walked once to find the bytes of the columns the terms
//! read; a column is decoded into its lane (an `i128` sort key per row, or for text the span
//! of its bytes) only for the rows still selected when a term first needs it; each term then
//! runs as one tight loop over its lane and the selection, clearing the rows it fails. No
//! `Value` is built for a row a term drops. The conjuncts left (the residual) run row by row,
//! as the scan's filter did, on the rows the terms keep.
//!
//! Keys reproduce `Value::compare` exactly: integers and numerics are integers at one shared
//! scale (so `1.0 = 1.00`), dates and timestamps are microseconds (as `ts_of` compares them),
//! floats map onto an integer order in which NaN equals NaN above every number and -0 = 0
//! (`float_cmp`), text compares by bytes. A value no key holds exactly (a numeric NaN or
//! infinity, more digits or a finer scale than the lane's, a malformed stored value) leaves its
//! row undecided: that row runs the whole filter row by row. So a row passes exactly when
//! `Expr::passes` would pass it (a conjunction passes only when every conjunct is true; NULL
//! and false fail alike), except that an error the row-by-row filter would raise is not
//! raised for a row a term already failed (a residual conjunct's, as PostgreSQL does not
//! promise the order of a WHERE's quals), nor for a stored value the terms compare without
//! decoding it (text that is not UTF-8, which only a damaged file holds).

use std::cmp::Ordering;

use super::lanes::{date_key, float_key, lane_key, locate, rescale, Slots};
use super::like::Pattern;
use crate::catalog::TableDef;
use crate::expr::{EvalContext, Expr};
use crate::types::{BinaryOp, DataType, Value};
use orbit_lsm::Pairs;

mod one_row;

/// Largest shared scale of exact lanes: an i64 at that scale still fits an i128.
const MAX_SCALE: u32 = 18;

/// How a column's values compare (`Value::compare` between two values of the class).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Integers and numerics: by value.
    Exact,
    /// Dates and timestamps: as microseconds.
    Time,
    /// Floats: PostgreSQL's float order.
    Float,
    /// Text, varchar, char: by bytes.
    Text,
}

fn class_of(ty: &DataType) -> Option<Class> {
    Some(match ty {
        DataType::Int2 | DataType::Int4 | DataType::Int8 | DataType::Numeric(_) => Class::Exact,
        DataType::Date | DataType::Timestamp(_) | DataType::Timestamptz(_) => Class::Time,
        DataType::Float4 | DataType::Float8 => Class::Float,
        DataType::Text | DataType::Varchar(_) | DataType::Char(_) => Class::Text,
        _ => return None,
    })
}

/// A comparison operator.
#[derive(Debug, Clone, Copy)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn of(op: BinaryOp) -> Option<Cmp> {
        Some(match op {
            BinaryOp::Eq => Cmp::Eq,
            BinaryOp::NotEq => Cmp::Ne,
            BinaryOp::Lt => Cmp::Lt,
            BinaryOp::LtEq => Cmp::Le,
            BinaryOp::Gt => Cmp::Gt,
            BinaryOp::GtEq => Cmp::Ge,
            _ => return None,
        })
    }

    /// The operator with its operands swapped (`c < x` is `x > c`).
    fn flip(self) -> Cmp {
        match self {
            Cmp::Lt => Cmp::Gt,
            Cmp::Le => Cmp::Ge,
            Cmp::Gt => Cmp::Lt,
            Cmp::Ge => Cmp::Le,
            same => same,
        }
    }

    fn test(self, o: Ordering) -> bool {
        match self {
            Cmp::Eq => o == Ordering::Equal,
            Cmp::Ne => o != Ordering::Equal,
            Cmp::Lt => o == Ordering::Less,
            Cmp::Le => o != Ordering::Greater,
            Cmp::Gt => o == Ordering::Greater,
            Cmp::Ge => o != Ordering::Less,
        }
    }
}

/// A constant as a lane holds it.
#[derive(Debug, Clone, PartialEq)]
enum Konst {
    Key(i128),
    Bytes(Vec<u8>),
}

/// A compiled conjunct; columns are indexes into `BatchFilter::cols`.
#[derive(Debug)]
enum Term {
    /// `column op constant`.
    Const { col: usize, op: Cmp, value: Konst },
    /// `column op column`, both of one class.
    Cols { left: usize, op: Cmp, right: usize },
    /// `column [NOT] IN (constants)`; `null_item`: the list holds a NULL.
    In {
        col: usize,
        set: Vec<Konst>,
        negated: bool,
        null_item: bool,
    },
    /// `column IS [NOT] NULL`: passes when the value's nullness differs from `negated`.
    Null { col: usize, negated: bool },
    /// `column [NOT] LIKE constant` of text, the pattern literal characters and `%` only.
    Like {
        col: usize,
        pattern: Pattern,
        negated: bool,
    },
    /// A comparison with NULL: never true.
    Never,
}

/// A column the terms read.
#[derive(Debug)]
struct Col {
    /// Position in the table's columns.
    index: usize,
    id: u64,
    ty: DataType,
    class: Class,
}

/// What the terms made of a row of the last chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Every term is true: the residual decides.
    Pass,
    /// A term is not true.
    Fail,
    /// A value no lane holds exactly: the whole filter decides, row by row.
    Undecided,
}

/// A scan filter compiled for column batches (see the module doc).
#[derive(Debug)]
pub(crate) struct BatchFilter {
    cols: Vec<Col>,
    /// `cols` by column id, for [`locate`].
    slots: Slots,
    terms: Vec<Term>,
    /// The scale of every exact lane.
    scale: u32,
    /// The conjuncts not compiled, with the columns they read.
    residual: Option<(Expr, Vec<bool>)>,
    /// Whether the conjuncts not compiled hold a subquery: the whole filter is their residual
    /// then (see [`BatchFilter::residual_is_whole`]).
    whole_rest: bool,
    // Per chunk, reused: each column's byte span per row (`None`: NULL), its keys, whether
    // they are decoded, and the rows' verdicts.
    spans: Vec<Vec<Option<(u32, u32)>>>,
    keys: Vec<Vec<i128>>,
    decoded: Vec<bool>,
    verdicts: Vec<Verdict>,
    // For [`BatchFilter::row_verdict`], reused: one row's spans and keys (None: not decoded).
    row_spans: Vec<Option<(u32, u32)>>,
    row_keys: Vec<Option<i128>>,
}

/// A conjunct before its constants are made keys: the scale is known only once all are seen.
enum Draft {
    Const(usize, Cmp, Value),
    Cols(usize, Cmp, usize),
    In(usize, Vec<Value>, bool),
    Null(usize, bool),
    Like(usize, Pattern, bool),
}

/// The conjuncts of `e` (an AND tree), in order.
fn conjuncts<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::And(l, r) => {
            conjuncts(l, out);
            conjuncts(r, out);
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

impl BatchFilter {
    /// Compiles the scan filter `filter` of `table` (its columns numbered as the table's);
    /// None when no conjunct compiles, or the filter reads past the table's columns.
    pub(crate) fn compile(
        table: &TableDef,
        filter: &Expr,
        ectx: &EvalContext<'_>,
    ) -> Option<BatchFilter> {
        let width = table.columns.len();
        filter.column_mask(width)?;
        let mut parts = Vec::new();
        conjuncts(filter, &mut parts);
        let mut cols: Vec<Col> = Vec::new();
        let mut col_of = |e: &Expr| -> Option<usize> {
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
        };
        let mut drafts: Vec<(usize, Draft)> = Vec::new();
        for (n, part) in parts.iter().enumerate() {
            let draft = match part {
                Expr::Binary(op, l, r) => {
                    let Some(cmp) = Cmp::of(*op) else { continue };
                    match (
                        matches!(**l, Expr::Column(_)),
                        matches!(**r, Expr::Column(_)),
                    ) {
                        (true, true) => match (col_of(l), col_of(r)) {
                            (Some(a), Some(b)) => Draft::Cols(a, cmp, b),
                            _ => continue,
                        },
                        (true, false) => match (constant(r, ectx), col_of(l)) {
                            (Some(v), Some(a)) => Draft::Const(a, cmp, v),
                            _ => continue,
                        },
                        (false, true) => match (constant(l, ectx), col_of(r)) {
                            (Some(v), Some(b)) => Draft::Const(b, cmp.flip(), v),
                            _ => continue,
                        },
                        (false, false) => continue,
                    }
                }
                Expr::InList {
                    expr,
                    list,
                    negated,
                } if matches!(**expr, Expr::Column(_)) => {
                    let Some(items) = list.iter().map(|i| constant(i, ectx)).collect() else {
                        continue;
                    };
                    match col_of(expr) {
                        Some(a) => Draft::In(a, items, *negated),
                        None => continue,
                    }
                }
                Expr::Like {
                    expr,
                    pattern,
                    negated,
                    case_insensitive: false,
                    escape: None,
                } if matches!(**expr, Expr::Column(_)) => {
                    let Some(Value::Text(p)) = constant(pattern, ectx) else {
                        continue;
                    };
                    let text = matches!(**expr, Expr::Column(i) if table.columns.get(i)
                        .and_then(|c| class_of(&c.ty)) == Some(Class::Text));
                    match (text, Pattern::new(&p)) {
                        (true, Some(pat)) => match col_of(expr) {
                            Some(a) => Draft::Like(a, pat, *negated),
                            None => continue,
                        },
                        _ => continue,
                    }
                }
                Expr::IsNull(x, negated) if matches!(**x, Expr::Column(_)) => match col_of(x) {
                    Some(a) => Draft::Null(a, *negated),
                    None => continue,
                },
                _ => continue,
            };
            drafts.push((n, draft));
        }
        let scale = shared_scale(&cols, &drafts);
        let mut compiled = vec![false; parts.len()];
        let mut terms = Vec::new();
        for (n, draft) in drafts {
            if let Some(term) = finish(&cols, scale, draft) {
                compiled[n] = true;
                terms.push(term);
            }
        }
        if terms.is_empty() {
            return None;
        }
        // Cheap terms first: later ones decode their columns only for the rows still kept.
        terms.sort_by_key(|t| cost(&cols, t));
        let rest = || parts.iter().zip(&compiled).filter(|(_, done)| !**done);
        // A subquery is not copied: its result is kept by its plan's address (the runner's
        // cache, a parallel run's computed subqueries), so the whole filter decides instead.
        let whole_rest = rest().any(|(p, _)| p.any(&|e| matches!(e, Expr::Subquery(_))));
        let residual = rest()
            .filter(|_| !whole_rest)
            .map(|(p, _)| (*p).clone())
            .reduce(|a, b| Expr::And(Box::new(a), Box::new(b)))
            .and_then(|e| Some((e.column_mask(width)?, e)))
            .map(|(mask, e)| (e, mask));
        let n = cols.len();
        Some(BatchFilter {
            slots: Slots::new(cols.iter().map(|c| c.id)),
            cols,
            terms,
            scale,
            residual,
            whole_rest,
            spans: vec![Vec::new(); n],
            keys: vec![Vec::new(); n],
            decoded: vec![false; n],
            verdicts: Vec::new(),
            row_spans: vec![None; n],
            row_keys: vec![None; n],
        })
    }

    /// The conjuncts the terms do not decide, and the columns they read; None when the terms
    /// decide alone, or when the caller's whole filter must decide ([`Self::residual_is_whole`]).
    pub(crate) fn residual(&self) -> Option<&(Expr, Vec<bool>)> {
        self.residual.as_ref()
    }

    /// Whether the rows the terms pass go through the whole filter (the original, not a
    /// copy: the conjuncts left hold a subquery, whose result is kept by its address).
    pub(crate) fn residual_is_whole(&self) -> bool {
        self.whole_rest
    }

    /// What the last [`BatchFilter::select`] made of each row of its chunk.
    pub(crate) fn verdicts(&self) -> &[Verdict] {
        &self.verdicts
    }

    /// Runs the terms over a chunk of (storage key, stored row) pairs: one verdict per row
    /// ([`BatchFilter::verdicts`]).
    pub(crate) fn select(&mut self, raw: &Pairs) {
        let n = raw.len();
        self.verdicts.clear();
        self.verdicts.resize(n, Verdict::Pass);
        for c in 0..self.cols.len() {
            self.decoded[c] = false;
            if let Some(s) = self.spans.get_mut(c) {
                s.clear();
                s.resize(n, None);
            }
        }
        for (i, (_, stored)) in raw.iter().enumerate() {
            if !self.locate(i, stored) {
                self.verdicts[i] = Verdict::Undecided;
            }
        }
        for t in 0..self.terms.len() {
            self.run_term(t, raw);
        }
    }

    /// Records row `i`'s spans of the terms' columns; false when the row is malformed.
    fn locate(&mut self, i: usize, stored: &[u8]) -> bool {
        let spans = &mut self.spans;
        locate(stored, &self.slots, |c, span| {
            if let Some(slot) = spans.get_mut(c).and_then(|s| s.get_mut(i)) {
                *slot = span;
            }
        })
    }

    /// Decodes column `c`'s keys for the rows still passing (a row whose value no key holds
    /// turns undecided).
    fn decode(&mut self, c: usize, raw: &Pairs) {
        if self.decoded[c] {
            return;
        }
        self.decoded[c] = true;
        let (Some(col), Some(spans), Some(keys)) =
            (self.cols.get(c), self.spans.get(c), self.keys.get_mut(c))
        else {
            return;
        };
        if col.class == Class::Text {
            return;
        }
        keys.clear();
        keys.resize(raw.len(), 0);
        for (i, ((key, verdict), span)) in keys
            .iter_mut()
            .zip(&mut self.verdicts)
            .zip(spans)
            .enumerate()
        {
            if *verdict != Verdict::Pass {
                continue;
            }
            let Some((a, b)) = *span else { continue };
            let bytes = raw.value(i).get(a as usize..b as usize).unwrap_or_default();
            match lane_key(&col.ty, self.scale, bytes) {
                Some(k) => *key = k,
                None => *verdict = Verdict::Undecided,
            }
        }
    }

    fn run_term(&mut self, t: usize, raw: &Pairs) {
        let (a, b) = match self.terms.get(t) {
            Some(Term::Const { col, .. } | Term::In { col, .. }) => (Some(*col), None),
            Some(Term::Cols { left, right, .. }) => (Some(*left), Some(*right)),
            _ => (None, None),
        };
        for c in [a, b].into_iter().flatten() {
            self.decode(c, raw);
        }
        let Some(term) = self.terms.get(t) else {
            return;
        };
        let v = &mut self.verdicts;
        let text = |c: usize, i: usize| -> Option<&[u8]> {
            let (a, b) = (*self.spans.get(c)?.get(i)?)?;
            raw.value(i).get(a as usize..b as usize)
        };
        match term {
            Term::Never => fail_all(v),
            Term::Null { col, negated } => {
                let spans = self.spans.get(*col).map(Vec::as_slice).unwrap_or_default();
                for (verdict, span) in v.iter_mut().zip(spans) {
                    if *verdict == Verdict::Pass && span.is_none() == *negated {
                        *verdict = Verdict::Fail;
                    }
                }
            }
            Term::Const {
                col,
                op,
                value: Konst::Key(k),
            } => {
                let spans = self.spans.get(*col).map(Vec::as_slice).unwrap_or_default();
                let keys = self.keys.get(*col).map(Vec::as_slice).unwrap_or_default();
                keep_where(v, spans, keys, *op, *k);
            }
            Term::Const {
                col,
                op,
                value: Konst::Bytes(k),
            } => {
                for (i, verdict) in v.iter_mut().enumerate() {
                    if *verdict == Verdict::Pass
                        && !text(*col, i).is_some_and(|s| op.test(s.cmp(k.as_slice())))
                    {
                        *verdict = Verdict::Fail;
                    }
                }
            }
            Term::Like {
                col,
                pattern,
                negated,
            } => {
                for (i, verdict) in v.iter_mut().enumerate() {
                    if *verdict == Verdict::Pass
                        && text(*col, i).is_none_or(|s| pattern.matches(s) == *negated)
                    {
                        *verdict = Verdict::Fail;
                    }
                }
            }
            Term::Cols { left, op, right } => {
                let text_cols = self.cols.get(*left).is_some_and(|c| c.class == Class::Text);
                for (i, verdict) in v.iter_mut().enumerate() {
                    if *verdict != Verdict::Pass {
                        continue;
                    }
                    let o = if text_cols {
                        text(*left, i).zip(text(*right, i)).map(|(x, y)| x.cmp(y))
                    } else {
                        let key = |c: usize| {
                            self.spans.get(c)?.get(i)?.as_ref()?;
                            self.keys.get(c)?.get(i)
                        };
                        key(*left).zip(key(*right)).map(|(x, y)| x.cmp(y))
                    };
                    if !o.is_some_and(|o| op.test(o)) {
                        *verdict = Verdict::Fail;
                    }
                }
            }
            Term::In {
                col,
                set,
                negated,
                null_item,
            } => {
                if *negated && *null_item {
                    // `x NOT IN (..., NULL)` is never true.
                    fail_all(v);
                    return;
                }
                let text_col = self.cols.get(*col).is_some_and(|c| c.class == Class::Text);
                for (i, verdict) in v.iter_mut().enumerate() {
                    if *verdict != Verdict::Pass {
                        continue;
                    }
                    let hit = if text_col {
                        text(*col, i).map(|s| holds_text(set, s))
                    } else {
                        let present = self.spans.get(*col).and_then(|s| s.get(i)?.as_ref());
                        present
                            .and(self.keys.get(*col).and_then(|k| k.get(i)))
                            .map(|x| set.contains(&Konst::Key(*x)))
                    };
                    if hit != Some(!*negated) {
                        *verdict = Verdict::Fail;
                    }
                }
            }
        }
    }
}

/// Whether an IN list's constants hold text `s`.
fn holds_text(set: &[Konst], s: &[u8]) -> bool {
    set.iter()
        .any(|k| matches!(k, Konst::Bytes(b) if b.as_slice() == s))
}

fn fail_all(v: &mut [Verdict]) {
    for verdict in v.iter_mut().filter(|v| **v == Verdict::Pass) {
        *verdict = Verdict::Fail;
    }
}

/// Fails the passing rows whose key (NULL fails) does not compare to `k` by `op`: one
/// branch-free loop per operator.
fn keep_where(v: &mut [Verdict], spans: &[Option<(u32, u32)>], keys: &[i128], op: Cmp, k: i128) {
    fn each(
        v: &mut [Verdict],
        spans: &[Option<(u32, u32)>],
        keys: &[i128],
        f: impl Fn(i128) -> bool,
    ) {
        for ((verdict, span), key) in v.iter_mut().zip(spans).zip(keys) {
            let ok = span.is_some() & f(*key);
            if *verdict == Verdict::Pass && !ok {
                *verdict = Verdict::Fail;
            }
        }
    }
    match op {
        Cmp::Eq => each(v, spans, keys, |x| x == k),
        Cmp::Ne => each(v, spans, keys, |x| x != k),
        Cmp::Lt => each(v, spans, keys, |x| x < k),
        Cmp::Le => each(v, spans, keys, |x| x <= k),
        Cmp::Gt => each(v, spans, keys, |x| x > k),
        Cmp::Ge => each(v, spans, keys, |x| x >= k),
    }
}

/// Cheaper terms sort first: time and exact keys decode in a few instructions, numerics and
/// text cost more.
fn cost(cols: &[Col], t: &Term) -> u8 {
    let of = |c: &usize| match cols.get(*c).map(|c| (&c.ty, c.class)) {
        Some((DataType::Numeric(_), _)) => 2,
        Some((_, Class::Text)) => 3,
        _ => 1,
    };
    match t {
        Term::Never => 0,
        Term::Null { .. } => 1,
        Term::Const { col, .. } | Term::In { col, .. } => of(col),
        Term::Cols { left, right, .. } => of(left).max(of(right)) + 1,
        Term::Like { .. } => 4,
    }
}

/// The scale exact lanes share: the finest of the exact columns' declared scales and of the
/// constants compared with them; above `MAX_SCALE` when too fine for the lanes (no exact term
/// compiles then). A column without a declared scale adds none: its finer values are left
/// undecided.
fn shared_scale(cols: &[Col], drafts: &[(usize, Draft)]) -> u32 {
    let mut scale = 0u32;
    let exact = |c: &usize| cols.get(*c).filter(|c| c.class == Class::Exact);
    for (_, d) in drafts.iter().filter(|(_, d)| fits(cols, d)) {
        let (columns, values): (&[usize], &[Value]) = match d {
            Draft::Const(c, _, v) => (std::slice::from_ref(c), std::slice::from_ref(v)),
            Draft::Cols(a, _, b) => (&[*a, *b][..], &[]),
            Draft::In(c, items, _) => (std::slice::from_ref(c), items),
            Draft::Null(..) | Draft::Like(..) => continue,
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
    }
}

/// A draft as a term, if its constants have keys in its column's class.
fn finish(cols: &[Col], scale: u32, draft: Draft) -> Option<Term> {
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

#[cfg(test)]
#[path = "batch_filter_tests.rs"]
mod tests;
