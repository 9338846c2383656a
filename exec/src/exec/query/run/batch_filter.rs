//! Vectorized evaluation of a table scan's filter over a chunk of stored rows.
//!
//! The conjuncts of the filter that compare a column with a constant (a literal, a parameter
//! or an enclosing query's value) or with another column of the same class, test a column
//! against a list of constants, test it for NULL, or match text against a LIKE pattern of
//! literal characters and `%` (`like`), are compiled into terms over column
//! lanes; so is an OR of conjunctions of such conjuncts (TPC-H Q19's), whose branches each
//! run on a copy of the selection, a row kept when some branch keeps it. A chunk's stored rows are walked once to find the bytes of the columns the terms
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

use super::lanes::{lane_key, locate, Slots};
use super::like::Pattern;
use crate::catalog::TableDef;
use crate::expr::{EvalContext, Expr};
use crate::types::{BinaryOp, DataType};
use orbit_lsm::Pairs;

mod drafts;
mod one_row;

use drafts::{conjuncts, draft, finish, shared_scale, Draft};

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
    /// `a OR b OR ...` of conjunctions of terms: true when every term of a branch is.
    Any(Vec<Vec<Term>>),
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
        let mut drafts: Vec<(usize, Draft)> = Vec::new();
        for (n, part) in parts.iter().enumerate() {
            if let Some(d) = draft(table, &mut cols, part, ectx) {
                drafts.push((n, d));
            }
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
        // The terms are taken out while they run: a term decodes its columns as it goes.
        let terms = std::mem::take(&mut self.terms);
        for t in &terms {
            self.run_term(t, raw);
        }
        self.terms = terms;
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

    /// Decodes `term`'s key columns for the passing rows, then runs it over the chunk.
    fn run_term(&mut self, term: &Term, raw: &Pairs) {
        each_key_col(term, &mut |c| {
            self.decode(c, raw);
            true
        });
        let lanes = Lanes {
            cols: &self.cols,
            spans: &self.spans,
            keys: &self.keys,
            raw,
        };
        lanes.run(term, &mut self.verdicts);
    }
}

/// The columns of a chunk as [`BatchFilter::select`] decoded them, for running terms.
struct Lanes<'a> {
    cols: &'a [Col],
    spans: &'a [Vec<Option<(u32, u32)>>],
    keys: &'a [Vec<i128>],
    raw: &'a Pairs,
}

impl Lanes<'_> {
    /// Fails the passing rows `term` is not true for (its key columns are decoded).
    fn run(&self, term: &Term, v: &mut [Verdict]) {
        let raw = self.raw;
        let text = |c: usize, i: usize| -> Option<&[u8]> {
            let (a, b) = (*self.spans.get(c)?.get(i)?)?;
            raw.value(i).get(a as usize..b as usize)
        };
        match term {
            Term::Any(branches) => {
                // A row passes when every term of some branch is true for it.
                let mut any = vec![false; v.len()];
                let mut branch_v = Vec::with_capacity(v.len());
                for branch in branches {
                    branch_v.clear();
                    branch_v.extend_from_slice(v);
                    for t in branch {
                        self.run(t, &mut branch_v);
                    }
                    for (a, b) in any.iter_mut().zip(&branch_v) {
                        *a |= *b == Verdict::Pass;
                    }
                }
                for (verdict, a) in v.iter_mut().zip(any) {
                    if *verdict == Verdict::Pass && !a {
                        *verdict = Verdict::Fail;
                    }
                }
            }
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

/// Calls `f` with each key column `term` decodes (text columns are read in place), in order,
/// until `f` gives false; whether it never did.
fn each_key_col(term: &Term, f: &mut dyn FnMut(usize) -> bool) -> bool {
    match term {
        Term::Const { col, .. } | Term::In { col, .. } => f(*col),
        Term::Cols { left, right, .. } => f(*left) && f(*right),
        Term::Any(branches) => branches.iter().flatten().all(|t| each_key_col(t, f)),
        Term::Null { .. } | Term::Like { .. } | Term::Never => true,
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
        Term::Any(_) => 5,
    }
}

#[cfg(test)]
#[path = "batch_filter_tests.rs"]
mod tests;
