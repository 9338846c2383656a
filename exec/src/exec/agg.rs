//! Hash aggregation: groups rows by their key values and folds each aggregate per group.
//! The output row of a group is `keys ++ aggregate results`, what post-aggregation
//! expressions index. An aggregate whose input order matters (`array_agg(x ORDER BY k)`, or
//! `array_agg`/`string_agg` with DISTINCT, which PostgreSQL feeds sorted) holds its inputs
//! and folds them sorted when the group is done.

mod batch;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::{code, Error, Result};
use crate::expr::{AggCall, AggKind, EvalContext, Expr};
use crate::types::{encode_key, BinaryOp, DataType, Value};

/// GROUP BY keys, the aggregates and HAVING.
#[derive(Debug, Clone)]
pub struct AggPlan {
    pub keys: Vec<Expr>,
    pub aggs: Vec<AggCall>,
    pub having: Option<Expr>,
    /// Grouping sets (`GROUPING SETS`, `ROLLUP`, `CUBE`): which keys each holds. The rows
    /// are grouped once per set, the keys outside it NULL in its rows.
    pub sets: Option<Vec<Vec<bool>>>,
}

impl AggPlan {
    /// The plan of one grouping set: the keys outside it are NULL, `GROUPING(...)` calls
    /// know their value, and a set of no keys yields a row even over no input.
    fn for_set(&self, set: &[bool]) -> AggPlan {
        let keys = self
            .keys
            .iter()
            .zip(set)
            .map(|(k, held)| {
                if *held {
                    k.clone()
                } else {
                    Expr::Literal(Value::Null)
                }
            })
            .collect();
        let aggs = self
            .aggs
            .iter()
            .map(|call| {
                let mut call = call.clone();
                if call.kind == AggKind::Grouping {
                    call.arg = Some(Expr::Literal(Value::Int4(grouping_value(&call, set))));
                }
                call
            })
            .collect();
        AggPlan {
            keys,
            aggs,
            having: self.having.clone(),
            sets: None,
        }
    }
}

/// `GROUPING(k1, k2, ...)` in a set: a bit per argument, the first the most significant, set
/// when the set leaves that key out.
fn grouping_value(call: &AggCall, set: &[bool]) -> i32 {
    let Some(Expr::Literal(Value::Array(_, keys))) = &call.arg else {
        return 0;
    };
    keys.iter().fold(0, |acc, k| {
        let i = k.as_i64().ok().flatten().unwrap_or(0);
        let left_out = usize::try_from(i)
            .ok()
            .and_then(|i| set.get(i))
            .is_some_and(|held| !held);
        (acc << 1) | i32::from(left_out)
    })
}

#[derive(Debug, Clone)]
enum State {
    Count(i64),
    /// Running sum (None until the first non-null) and count.
    Sum(Option<Value>, i64),
    Extreme(Option<Value>),
    Bool(Option<bool>),
    Items(Vec<Value>),
    /// avg / sum of vectors or halfvecs.
    Vectors(crate::types::vector_ops::VectorSum),
    /// Variances and standard deviations.
    Moments(super::agg_stats::Moments),
}

fn initial(call: &AggCall) -> State {
    if matches!(call.kind, AggKind::Sum | AggKind::Avg)
        && matches!(call.ty, DataType::Vector(_) | DataType::HalfVec(_))
    {
        return State::Vectors(Default::default());
    }
    match call.kind {
        AggKind::CountStar | AggKind::Count => State::Count(0),
        AggKind::Sum | AggKind::Avg => State::Sum(None, 0),
        AggKind::Min | AggKind::Max => State::Extreme(None),
        // Its value is fixed for the grouping set (`AggPlan::for_set`): 0 without sets.
        AggKind::Grouping => State::Extreme(Some(match &call.arg {
            Some(Expr::Literal(v @ Value::Int4(_))) => v.clone(),
            _ => Value::Int4(0),
        })),
        AggKind::BoolAnd | AggKind::BoolOr => State::Bool(None),
        AggKind::VarSamp | AggKind::VarPop | AggKind::StddevSamp | AggKind::StddevPop => {
            State::Moments(super::agg_stats::Moments::new(&call.ty))
        }
        AggKind::StringAgg
        | AggKind::ArrayAgg
        | AggKind::PercentileCont
        | AggKind::PercentileDisc
        | AggKind::Mode
        | AggKind::JsonAgg
        | AggKind::JsonbAgg
        | AggKind::JsonObjectAgg
        | AggKind::JsonbObjectAgg => State::Items(Vec::new()),
    }
}

fn widen(v: Value, to: &DataType) -> Result<Value> {
    match (&v, to) {
        (Value::Int2(_) | Value::Int4(_), DataType::Int8) => v.cast(&DataType::Int8),
        (Value::Int2(_) | Value::Int4(_) | Value::Int8(_), DataType::Numeric(_)) => {
            v.cast(&DataType::Numeric(None))
        }
        (Value::Float4(_), DataType::Float8) => v.cast(&DataType::Float8),
        _ => Ok(v),
    }
}

/// Column `i` of `row` (an internal error past its end, as `Expr::Column` evaluates).
fn column(row: &[Value], i: usize) -> Result<&Value> {
    row.get(i)
        .ok_or_else(|| Error::new(code::INTERNAL_ERROR, format!("column {i} outside the row")))
}

fn step(call: &AggCall, state: &mut State, v: Value) -> Result<()> {
    match state {
        State::Count(n) => {
            if call.kind == AggKind::CountStar || !v.is_null() {
                *n += 1;
            }
        }
        State::Sum(acc, n) => {
            if v.is_null() {
                return Ok(());
            }
            let sum_ty = match call.kind {
                AggKind::Avg => match call.ty {
                    DataType::Numeric(_) => DataType::Numeric(None),
                    ref t => t.clone(),
                },
                _ => call.ty.clone(),
            };
            let v = widen(v, &sum_ty)?;
            *acc = Some(match acc.take() {
                None => v,
                Some(a) => Value::binary(BinaryOp::Add, &a, &v)?,
            });
            *n += 1;
        }
        State::Extreme(best) => {
            if v.is_null() || call.kind == AggKind::Grouping {
                return Ok(());
            }
            let replace = match best {
                None => true,
                Some(b) => {
                    let o = v.sort_cmp(b);
                    if call.kind == AggKind::Min {
                        o.is_lt()
                    } else {
                        o.is_gt()
                    }
                }
            };
            if replace {
                *best = Some(v);
            }
        }
        State::Bool(acc) => {
            if let Some(b) = v.as_bool()? {
                *acc = Some(match (acc.take(), call.kind) {
                    (None, _) => b,
                    (Some(a), AggKind::BoolAnd) => a && b,
                    (Some(a), _) => a || b,
                });
            }
        }
        State::Vectors(sum) => {
            if !v.is_null() {
                let v = match v {
                    Value::Text(s) => Value::parse_text(&call.ty, &s)?,
                    other => other,
                };
                sum.add(&v, call.kind == AggKind::Avg)?;
            }
        }
        State::Moments(m) => m.add(v)?,
        State::Items(items) => {
            if call.kind == AggKind::StringAgg && v.is_null() {
                return Ok(());
            }
            items.push(v);
        }
    }
    Ok(())
}

fn finish(call: &AggCall, state: State) -> Result<Value> {
    Ok(match state {
        State::Count(n) => Value::Int8(n),
        State::Sum(None, _) => Value::Null,
        State::Sum(Some(s), n) => {
            if call.kind == AggKind::Avg {
                let divisor = match &call.ty {
                    DataType::Float8 => Value::Float8(n as f64),
                    DataType::Interval => Value::Float8(n as f64),
                    _ => Value::Int8(n).cast(&DataType::Numeric(None))?,
                };
                let s = if call.ty == DataType::Float8 {
                    s.cast(&DataType::Float8)?
                } else {
                    s
                };
                Value::binary(BinaryOp::Div, &s, &divisor)?
            } else {
                s.cast(&call.ty)?
            }
        }
        State::Extreme(v) => v.unwrap_or(Value::Null),
        State::Vectors(sum) => sum.finish(call.kind == AggKind::Avg)?,
        State::Bool(b) => b.map_or(Value::Null, Value::Bool),
        State::Moments(m) => m.finish(call.kind)?,
        State::Items(items) if items.is_empty() => Value::Null,
        State::Items(items) => match call.kind {
            AggKind::StringAgg => {
                let mut out = String::new();
                for (i, item) in items.iter().enumerate() {
                    // Each item is [value, delimiter] (see the binder).
                    let Value::Array(_, pair) = item else {
                        continue;
                    };
                    let (Some(v), d) = (pair.first(), pair.get(1)) else {
                        continue;
                    };
                    if v.is_null() {
                        continue;
                    }
                    if i > 0 && !out.is_empty() {
                        if let Some(Value::Text(d)) = d {
                            out.push_str(d);
                        }
                    }
                    out.push_str(&v.to_text().unwrap_or_default());
                }
                Value::Text(out)
            }
            AggKind::ArrayAgg => {
                let elem = call.ty.element().cloned().unwrap_or(DataType::Text);
                Value::Array(Box::new(elem), items)
            }
            _ => super::agg_items::finish(call, items)?,
        },
    })
}

/// Whether aggregations of `plan` over parts of the input can be combined into the
/// aggregation of the whole ([`Aggregator::merge`]): no grouping sets, and every aggregate's
/// state alone describes its input (counts, sums, averages, extremes, bool_and/or; not
/// DISTINCT, ordered or held inputs, statistics or vector sums).
pub fn mergeable(plan: &AggPlan) -> bool {
    plan.sets.is_none()
        && plan.aggs.iter().all(|call| {
            !call.distinct
                && call.order.is_empty()
                && matches!(
                    initial(call),
                    State::Count(_) | State::Sum(..) | State::Extreme(_) | State::Bool(_)
                )
        })
}

/// Folds state `b` (of later rows) into `a`, both of `call`.
fn combine(call: &AggCall, a: &mut State, b: State) -> Result<()> {
    match (a, b) {
        (State::Count(x), State::Count(y)) => *x += y,
        (State::Sum(acc, n), State::Sum(other, m)) => {
            *n += m;
            if let Some(o) = other {
                *acc = Some(match acc.take() {
                    None => o,
                    Some(s) => Value::binary(BinaryOp::Add, &s, &o)?,
                });
            }
        }
        (a @ State::Extreme(_), State::Extreme(Some(v))) => step(call, a, v)?,
        (State::Extreme(_), State::Extreme(None)) => {}
        (a @ State::Bool(_), State::Bool(Some(v))) => step(call, a, Value::Bool(v))?,
        (State::Bool(_), State::Bool(None)) => {}
        _ => {
            return Err(Error::new(
                code::INTERNAL_ERROR,
                "aggregate states that cannot be combined",
            ))
        }
    }
    Ok(())
}

/// An aggregate folded a row at a time whose value can be read between rows: a window
/// aggregate over a frame (calls with DISTINCT or ORDER BY never get here: windows refuse
/// them).
pub(crate) struct Running<'c> {
    call: &'c AggCall,
    state: State,
}

impl<'c> Running<'c> {
    pub(crate) fn new(call: &'c AggCall) -> Running<'c> {
        Running {
            call,
            state: initial(call),
        }
    }

    /// Folds in `row` (if it passes the call's FILTER).
    pub(crate) fn add(&mut self, row: &[Value], ctx: &EvalContext<'_>) -> Result<()> {
        if let Some(f) = &self.call.filter {
            if !f.passes(row, ctx)? {
                return Ok(());
            }
        }
        let v = match &self.call.arg {
            Some(a) => a.eval(row, ctx)?,
            None => Value::Null,
        };
        step(self.call, &mut self.state, v)
    }

    /// The aggregate's value over the rows added so far.
    pub(crate) fn value(&self) -> Result<Value> {
        finish(self.call, self.state.clone())
    }
}

/// An aggregate's state over part of a group's rows, made outside the aggregator
/// ([`Aggregator::merge_partials`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Partial {
    /// `count(*)`, `count(x)`: rows counted.
    Count(i64),
    /// `sum(x)`, `avg(x)`: the sum of the non-null inputs as the aggregate sums them (None
    /// when there were none), and their number.
    Sum(Option<Value>, i64),
}

/// One group: its key values, aggregate states and each aggregate's held input.
type Group = (Vec<Value>, Vec<State>, Vec<Input>);

/// An aggregate's input within a group, beyond its state.
#[derive(Debug, Clone, Default)]
struct Input {
    /// DISTINCT: the arguments seen (memcomparable keys).
    seen: FxHashSet<Vec<u8>>,
    /// Inputs folded at the end in order: (ORDER BY keys, argument).
    held: Vec<(Vec<Value>, Value)>,
}

/// Whether `call` folds its inputs sorted at the end rather than as they come.
fn held(call: &AggCall) -> bool {
    !call.order.is_empty()
        || (call.distinct && matches!(call.kind, AggKind::ArrayAgg | AggKind::StringAgg))
}

/// Folds the held inputs of `call` in its order (by ORDER BY keys, else by value, NULLs last).
fn fold_held(call: &AggCall, state: &mut State, mut held: Vec<(Vec<Value>, Value)>) -> Result<()> {
    if call.order.is_empty() {
        held.sort_by(|a, b| a.1.sort_cmp(&b.1));
    } else {
        held.sort_by(|a, b| crate::expr::cmp_ordered(&a.0, &b.0, &call.order));
    }
    for (_, v) in held {
        step(call, state, v)?;
    }
    Ok(())
}

/// Groups `rows` and computes the aggregates; applies HAVING.
pub fn aggregate(
    plan: &AggPlan,
    rows: Vec<Vec<Value>>,
    ctx: &EvalContext<'_>,
) -> Result<Vec<Vec<Value>>> {
    aggregate_sets(plan, rows, ctx, &mut |_| Ok(()))
}

/// [`aggregate`]; with grouping sets, `each_set` sees every set's rows as they are made (to
/// charge them to the query's memory and check its deadline: the sets' rows may far
/// outnumber the input's).
pub fn aggregate_sets(
    plan: &AggPlan,
    rows: Vec<Vec<Value>>,
    ctx: &EvalContext<'_>,
    each_set: &mut dyn FnMut(&[Vec<Value>]) -> Result<()>,
) -> Result<Vec<Vec<Value>>> {
    if let Some(sets) = &plan.sets {
        let mut out = Vec::new();
        for set in sets {
            let one = plan.for_set(set);
            let mut agg = Aggregator::new(&one);
            agg.add(&rows, ctx)?;
            let total = !set.contains(&true);
            let made = agg.finish_with(ctx, total)?;
            each_set(&made)?;
            out.extend(made);
        }
        return Ok(out);
    }
    let mut agg = Aggregator::new(plan);
    agg.add(&rows, ctx)?;
    agg.finish(ctx)
}

/// Hash aggregation fed rows in batches (a scan's chunks), so its input need not be held.
pub struct Aggregator<'p> {
    plan: &'p AggPlan,
    /// Group keys (memcomparable encodings) to positions in `out`, under a fast unkeyed
    /// hash (as PostgreSQL's hash aggregation's).
    groups: FxHashMap<Vec<u8>, usize>,
    /// The input comes grouped: each group's rows one after another (a scan in primary key
    /// order grouped by a prefix of the key). Groups are then found by comparing with the
    /// last one's key, and `groups` stays empty.
    grouped: bool,
    /// When grouped: the first and the last group's keys (a later part of the input merged
    /// in may continue the last group).
    first_key: Vec<u8>,
    last_key: Vec<u8>,
    out: Vec<Group>,
    keybuf: Vec<u8>,
    /// The values of a row's computed group keys (column keys are read in place).
    computed: Vec<Value>,
    /// Estimated bytes of the groups so far (for the query memory budget).
    bytes: usize,
    /// When grouped with a HAVING it can check as it goes ([`Aggregator::seal`]): groups
    /// before `out[sealed]` (the first excepted) have passed it.
    seals: bool,
    sealed: usize,
    /// Hash groups the column batches reach by stored bytes, and their pending sums
    /// (`batch`); None until a batch folds.
    batch: Option<Box<batch::BatchGroups>>,
    /// Where each group was first met, when pieces of a parallel scan share the
    /// aggregation (`batch::Stamps`); None otherwise.
    stamps: Option<batch::Stamps>,
}

impl<'p> Aggregator<'p> {
    pub fn new(plan: &'p AggPlan) -> Aggregator<'p> {
        Aggregator {
            plan,
            groups: FxHashMap::default(),
            grouped: false,
            first_key: Vec::new(),
            last_key: Vec::new(),
            out: Vec::new(),
            keybuf: Vec::new(),
            computed: Vec::new(),
            bytes: 0,
            seals: false,
            sealed: 0,
            batch: None,
            stamps: None,
        }
    }

    /// An aggregator whose input comes grouped (see [`Aggregator::grouped`]): every part of
    /// the input it merges must be aggregated by one made so too.
    pub fn new_grouped(plan: &'p AggPlan) -> Aggregator<'p> {
        // Complete groups can be finished early when no aggregate holds its inputs to the
        // end, and HAVING needs nothing a parallel worker lacks.
        let seals = plan.sets.is_none()
            && plan.having.as_ref().is_some_and(Expr::parallel_safe)
            && !plan.aggs.iter().any(held);
        Aggregator {
            grouped: true,
            seals,
            ..Aggregator::new(plan)
        }
    }

    /// Grouped: drops the complete groups that HAVING rejects, so that a GROUP BY over
    /// millions of keys that keeps a few holds a few (TPC-H Q18's subquery). Complete are
    /// all but the first group (an earlier part of the input, merged in front, may continue
    /// it) and the last (later rows may). The groups kept are finished again at the end.
    pub fn seal(&mut self, ctx: &EvalContext<'_>) -> Result<()> {
        let plan = self.plan;
        let (true, Some(having)) = (self.seals, &plan.having) else {
            return Ok(());
        };
        self.settle()?;
        let end = self.out.len().saturating_sub(1);
        let start = self.sealed.max(1);
        if start >= end {
            return Ok(());
        }
        let (mut keep, mut row) = (start, Vec::new());
        for i in start..end {
            let Some((keys, states, _)) = self.out.get(i) else {
                break;
            };
            row.clear();
            row.extend(keys.iter().cloned());
            for (call, state) in plan.aggs.iter().zip(states) {
                row.push(finish(call, state.clone())?);
            }
            if having.passes(&row, ctx)? {
                self.out.swap(keep, i);
                keep += 1;
            } else {
                let bytes = self.group_bytes(keys, &[]);
                self.bytes = self.bytes.saturating_sub(bytes);
            }
        }
        self.out.drain(keep..end);
        self.sealed = keep;
        Ok(())
    }

    /// Estimated bytes of a group of key values `keys` and encoded key `key` (held in the
    /// hash table; a grouped aggregation holds no group's encoded key, and counts none, so
    /// that a group merged in without it and a group sealed count alike).
    fn group_bytes(&self, keys: &[Value], key: &[u8]) -> usize {
        let indexed = if self.grouped { 0 } else { key.len() };
        crate::memory::row_bytes(keys) + indexed + 64 + 96 * self.plan.aggs.len()
    }

    /// Whether its input comes grouped ([`Aggregator::new_grouped`]).
    pub fn is_grouped(&self) -> bool {
        self.grouped
    }

    /// The group of key `key` met so far.
    fn find(&self, key: &[u8]) -> Option<usize> {
        if self.grouped {
            let last = self.out.len().checked_sub(1)?;
            (self.last_key.as_slice() == key).then_some(last)
        } else {
            self.groups.get(key).copied()
        }
    }

    /// Records `key` as the key of the group about to be added.
    fn index(&mut self, key: &[u8]) {
        if self.grouped {
            if self.out.is_empty() {
                self.first_key.clear();
                self.first_key.extend_from_slice(key);
            }
            self.last_key.clear();
            self.last_key.extend_from_slice(key);
        } else {
            self.groups.insert(key.to_vec(), self.out.len());
        }
    }

    /// Estimated bytes held: group keys, states and the hash table.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Folds `rows` into their groups.
    pub fn add(&mut self, rows: &[Vec<Value>], ctx: &EvalContext<'_>) -> Result<()> {
        let plan = self.plan;
        for r in rows {
            // The group's key, encoded from the row's own values where a key is a column:
            // a value is copied only for a new group.
            self.keybuf.clear();
            self.computed.clear();
            for k in &plan.keys {
                match k {
                    Expr::Column(i) => encode_key(column(r, *i)?, &mut self.keybuf),
                    other => {
                        let v = other.eval(r, ctx)?;
                        encode_key(&v, &mut self.keybuf);
                        self.computed.push(v);
                    }
                }
            }
            // Without keys, one group, and no lookup: comparing the empty key reads memcmp
            // through the empty Vec's dangling pointer, which costs ~90 ns a row on AVX-512
            // machines (a masked load's microcode assist).
            let found = if plan.keys.is_empty() {
                (!self.out.is_empty()).then_some(0)
            } else {
                self.find(&self.keybuf)
            };
            let g = match found {
                Some(g) => g,
                None => {
                    let mut computed = self.computed.drain(..);
                    let keys: Vec<Value> = plan
                        .keys
                        .iter()
                        .map(|k| {
                            Ok(match k {
                                Expr::Column(i) => column(r, *i)?.clone(),
                                _ => computed.next().unwrap_or(Value::Null),
                            })
                        })
                        .collect::<Result<_>>()?;
                    drop(computed);
                    let key = std::mem::take(&mut self.keybuf);
                    self.add_group(
                        &key,
                        (
                            keys,
                            plan.aggs.iter().map(initial).collect(),
                            vec![Input::default(); plan.aggs.len()],
                        ),
                    );
                    self.keybuf = key;
                    self.out.len() - 1
                }
            };
            let Some((_, states, inputs)) = self.out.get_mut(g) else {
                return Err(Error::new(code::INTERNAL_ERROR, "lost aggregate group"));
            };
            for ((call, state), input) in plan
                .aggs
                .iter()
                .zip(states.iter_mut())
                .zip(inputs.iter_mut())
            {
                if let Some(f) = &call.filter {
                    if !f.passes(r, ctx)? {
                        continue;
                    }
                }
                let v = match &call.arg {
                    Some(a) => a.eval(r, ctx)?,
                    None => Value::Null,
                };
                if call.distinct {
                    // NULL is one distinct value: array_agg keeps it once, the aggregates
                    // that skip NULLs skip it in `step`.
                    let mut k = Vec::new();
                    encode_key(&v, &mut k);
                    if !input.seen.insert(k) {
                        continue;
                    }
                    self.bytes += crate::memory::value_bytes(&v) + 32;
                }
                if held(call) {
                    let keys = call
                        .order
                        .iter()
                        .map(|(k, _, _)| k.eval(r, ctx))
                        .collect::<Result<Vec<_>>>()?;
                    self.bytes += crate::memory::row_bytes(&keys) + crate::memory::value_bytes(&v);
                    input.held.push((keys, v));
                    continue;
                }
                step(call, state, v)?;
            }
        }
        self.seal(ctx)
    }

    /// Folds in `other`, an aggregation of the same plan over rows that come after this
    /// one's: its groups new here are added after this one's, as they would have been met,
    /// and the states of groups both hold are combined. Only for plans [`mergeable`] says so
    /// of (their states are combined without their inputs).
    pub fn merge(&mut self, mut other: Aggregator<'p>) -> Result<()> {
        self.settle()?;
        other.settle()?;
        if other.grouped != self.grouped {
            return Err(Error::new(
                code::INTERNAL_ERROR,
                "a grouped aggregation merged with an ungrouped one",
            ));
        }
        if other.grouped {
            // Only the first group can continue this one's last: the rest are new.
            let (n, last_key) = (other.out.len(), other.last_key);
            let mut first_key = Some(other.first_key);
            for group in other.out {
                match first_key.take() {
                    Some(key) => self.merge_group(&key, group)?,
                    None => self.add_group(&[], group),
                }
            }
            if n > 1 {
                self.last_key = last_key;
            }
            return Ok(());
        }
        if self.stamps.is_some() {
            return self.merge_stamped(other);
        }
        let mut index: Vec<(Vec<u8>, usize)> = other.groups.into_iter().collect();
        index.sort_unstable_by_key(|(_, g)| *g);
        for ((key, _), group) in index.into_iter().zip(other.out) {
            self.merge_group(&key, group)?;
        }
        Ok(())
    }

    /// Folds one group of a later part of the input into its group here, or adds it.
    fn merge_group(&mut self, key: &[u8], (keys, states, inputs): Group) -> Result<()> {
        match self.find(key) {
            Some(g) => self.combine_into(g, states)?,
            None => self.add_group(key, (keys, states, inputs)),
        }
        Ok(())
    }

    /// Combines `states` (of a later part of the input) into group `g`'s.
    fn combine_into(&mut self, g: usize, states: Vec<State>) -> Result<()> {
        let plan = self.plan;
        let Some((_, mine, _)) = self.out.get_mut(g) else {
            return Err(Error::new(code::INTERNAL_ERROR, "lost aggregate group"));
        };
        for ((call, a), b) in plan.aggs.iter().zip(mine.iter_mut()).zip(states) {
            combine(call, a, b)?;
        }
        Ok(())
    }

    /// Adds a group met for the first time, of key `key`.
    fn add_group(&mut self, key: &[u8], group: Group) {
        self.bytes += self.group_bytes(&group.0, key);
        self.index(key);
        self.out.push(group);
        if let Some(s) = &mut self.stamps {
            s.met();
        }
    }

    /// The groups' rows (`keys ++ aggregate results`) that pass HAVING.
    pub fn finish(self, ctx: &EvalContext<'_>) -> Result<Vec<Vec<Value>>> {
        let total = self.plan.keys.is_empty();
        self.finish_with(ctx, total)
    }

    /// [`Aggregator::finish`]; with `total`, one row (keys NULL) even over no rows.
    fn finish_with(mut self, ctx: &EvalContext<'_>, total: bool) -> Result<Vec<Vec<Value>>> {
        self.settle()?;
        self.restore_order();
        let plan = self.plan;
        let mut out = self.out;
        // An aggregate without GROUP BY over no rows still yields one row.
        if out.is_empty() && total {
            out.push((
                vec![Value::Null; plan.keys.len()],
                plan.aggs.iter().map(initial).collect(),
                Vec::new(),
            ));
        }
        let mut result = Vec::with_capacity(out.len());
        for (keys, states, inputs) in out {
            let mut row = keys;
            let mut inputs = inputs.into_iter();
            for (call, mut state) in plan.aggs.iter().zip(states) {
                if let Some(input) = inputs.next() {
                    fold_held(call, &mut state, input.held)?;
                }
                row.push(finish(call, state)?);
            }
            if let Some(h) = &plan.having {
                if !h.passes(&row, ctx)? {
                    continue;
                }
            }
            result.push(row);
        }
        Ok(result)
    }
}
