//! Aggregation over column batches: GROUP BY columns with `count`, `sum` and `avg` of exact
//! arithmetic (`+ - *` over numeric and integer columns and constants) folded straight from a
//! chunk of stored rows, with no row decoded and no `Value` made per row.
//!
//! Each column an aggregate reads is decoded into a lane of integers at the column's declared
//! scale; each argument is evaluated as loops over whole lanes (integers at a scale fixed when
//! it compiles: `+ -` align to the larger scale, `*` adds them, as `Numeric` does); rows find
//! their group by the stored bytes of their key columns (types whose equal values have equal
//! bytes); and each group's counts and sums become [`Partial`]s the [`Aggregator`] merges, so
//! its output (sum's type, avg's division, HAVING) is the row path's.
//!
//! Exactness is all or nothing per chunk: a value whose display scale is not its column's
//! declared one, a NaN, an overflow of the 128-bit lanes, a malformed row, and the chunk goes
//! the row path instead (`None` from [`BatchAgg::fold`]). Values `count(col)` counts, and
//! group keys after a group's first row, are not decoded: a malformed one (only a damaged
//! file holds such) is not reported as the row path would.
//!
//! [`Aggregator`]: crate::exec::agg::Aggregator

use rustc_hash::FxHashMap;

use super::lanes::{lane_key, locate, numeric_at_scale, Slots};
use crate::catalog::TableDef;
use crate::exec::agg::{AggPlan, Aggregator, Partial};
use crate::expr::{AggKind, Expr};
use crate::types::{BinaryOp, DataType, Numeric, Value};
use orbit_lsm::Pairs;

/// An exact expression over lanes; each node's values are integers at a scale fixed when it
/// compiled.
#[derive(Debug)]
enum Prog {
    /// A column's lane (`BatchAgg::lanes`).
    Lane(usize),
    Const(i128),
    /// `a + b` / `a - b`, each first multiplied by `10^up` to the shared scale.
    Add {
        a: Box<Prog>,
        b: Box<Prog>,
        up: (u32, u32),
        sub: bool,
    },
    Mul(Box<Prog>, Box<Prog>),
    Neg(Box<Prog>),
}

/// An aggregate as the batch computes it.
#[derive(Debug)]
enum Agg {
    CountStar,
    /// `count(column)`: a position in `BatchAgg::cols`.
    Count(usize),
    /// `sum` / `avg` of a program whose values are at `scale`.
    Sum {
        prog: Prog,
        scale: u32,
    },
}

/// A column read from the stored rows: position in the table, id, type.
#[derive(Debug)]
struct Col {
    index: usize,
    id: u64,
    ty: DataType,
}

/// A compiled aggregation (see the module doc).
#[derive(Debug)]
pub(crate) struct BatchAgg {
    /// Every column located in a stored row: keys first.
    cols: Vec<Col>,
    keys: usize,
    /// Lanes: (position in `cols`, declared scale).
    lanes: Vec<(usize, u32)>,
    aggs: Vec<Agg>,
    /// `cols` by column id, for [`locate`].
    slots: Slots,
}

/// A chunk's selected rows, located: each row's span of each of `BatchAgg::cols` (None:
/// NULL or not selected), and each aggregate's argument values (sums only).
struct Chunk {
    spans: Vec<Option<(u32, u32)>>,
    width: usize,
    args: Vec<Option<Column>>,
}

impl Chunk {
    /// The stored bytes of row `i`'s column `c` (of `BatchAgg::cols`); None when NULL.
    fn bytes<'r>(&self, raw: &'r Pairs, i: usize, c: usize) -> Option<&'r [u8]> {
        let (a, b) = (*self.spans.get(i * self.width + c)?)?;
        raw.value(i).get(a as usize..b as usize)
    }
}

/// A group's running (sum, count) of one aggregate within a chunk.
type Acc = (i128, i64);

/// Values of one lane or program over a chunk: the integers and which rows are NULL.
type Column = (Vec<i128>, Vec<bool>);

/// Whether equal values of `ty` always have equal stored bytes (so bytes can group them).
pub(super) fn groups_by_bytes(ty: &DataType) -> bool {
    matches!(
        ty,
        DataType::Int2
            | DataType::Int4
            | DataType::Int8
            | DataType::Date
            | DataType::Timestamp(_)
            | DataType::Timestamptz(_)
            | DataType::Text
            | DataType::Varchar(_)
            | DataType::Char(_)
    )
}

impl BatchAgg {
    /// Compiles `plan` over the rows of `table` (the plan's columns numbered as the table's);
    /// None unless every key is such a column and every aggregate a plain `count`, or a `sum`
    /// / `avg` of numeric type over exact arithmetic.
    pub(crate) fn compile(plan: &AggPlan, table: &TableDef) -> Option<BatchAgg> {
        if plan.sets.is_some() {
            return None;
        }
        let mut b = BatchAgg {
            cols: Vec::new(),
            keys: 0,
            lanes: Vec::new(),
            aggs: Vec::new(),
            slots: Slots::default(),
        };
        for k in &plan.keys {
            let Expr::Column(i) = k else { return None };
            let c = table.columns.get(*i)?;
            if !groups_by_bytes(&c.ty) {
                return None;
            }
            b.col(table, *i)?;
        }
        b.keys = b.cols.len();
        if b.keys != plan.keys.len() {
            // A key named twice: the groups are the same, but keep the plan's shape simple.
            return None;
        }
        for call in &plan.aggs {
            if call.distinct || call.filter.is_some() || !call.order.is_empty() {
                return None;
            }
            let agg = match (call.kind, &call.arg) {
                (AggKind::CountStar, _) => Agg::CountStar,
                (AggKind::Count, Some(Expr::Column(i))) => Agg::Count(b.col(table, *i)?),
                (AggKind::Sum | AggKind::Avg, Some(arg))
                    if matches!(call.ty, DataType::Numeric(_)) =>
                {
                    let (prog, scale, _) = b.prog(table, arg)?;
                    Agg::Sum { prog, scale }
                }
                _ => return None,
            };
            b.aggs.push(agg);
        }
        b.slots = Slots::new(b.cols.iter().map(|c| c.id));
        Some(b)
    }

    /// The position in `cols` of table column `i`, added if new.
    fn col(&mut self, table: &TableDef, i: usize) -> Option<usize> {
        if let Some(at) = self.cols.iter().position(|c| c.index == i) {
            return Some(at);
        }
        let c = table.columns.get(i)?;
        self.cols.push(Col {
            index: i,
            id: u64::from(c.id),
            ty: c.ty.clone(),
        });
        Some(self.cols.len() - 1)
    }

    /// `e` as a program: its scale and whether its values are numeric (integers stay
    /// integers until they meet a numeric, as `Value::binary` computes them).
    fn prog(&mut self, table: &TableDef, e: &Expr) -> Option<(Prog, u32, bool)> {
        Some(match e {
            Expr::Column(i) => {
                let (scale, numeric) = match table.columns.get(*i)?.ty {
                    DataType::Numeric(Some((_, s))) if s <= 18 => (s, true),
                    DataType::Int2 | DataType::Int4 | DataType::Int8 => (0, false),
                    _ => return None,
                };
                let c = self.col(table, *i)?;
                let lane = match self.lanes.iter().position(|(l, _)| *l == c) {
                    Some(at) => at,
                    None => {
                        self.lanes.push((c, scale));
                        self.lanes.len() - 1
                    }
                };
                (Prog::Lane(lane), scale, numeric)
            }
            Expr::Literal(v @ (Value::Int2(_) | Value::Int4(_) | Value::Int8(_))) => {
                (Prog::Const(i128::from(v.as_i64().ok()??)), 0, false)
            }
            Expr::Literal(Value::Numeric(n)) => {
                let (digits, scale) = n.parts()?;
                let scale = u32::try_from(scale).ok().filter(|s| *s <= 18)?;
                (Prog::Const(i128::try_from(digits).ok()?), scale, true)
            }
            Expr::Cast(x, DataType::Numeric(None)) => {
                let (p, s, _) = self.prog(table, x)?;
                (p, s, true)
            }
            Expr::Neg(x) => {
                let (p, s, numeric) = self.prog(table, x)?;
                if !numeric {
                    return None;
                }
                (Prog::Neg(Box::new(p)), s, true)
            }
            Expr::Binary(op @ (BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul), l, r) => {
                let (a, sa, na) = self.prog(table, l)?;
                let (b, sb, nb) = self.prog(table, r)?;
                if !(na || nb) {
                    // Integer arithmetic (its overflow is an error): the row path's.
                    return None;
                }
                if *op == BinaryOp::Mul {
                    let s = sa.checked_add(sb).filter(|s| *s <= 36)?;
                    (Prog::Mul(Box::new(a), Box::new(b)), s, true)
                } else {
                    let s = sa.max(sb);
                    let add = Prog::Add {
                        a: Box::new(a),
                        b: Box::new(b),
                        up: (s - sa, s - sb),
                        sub: *op == BinaryOp::Sub,
                    };
                    (add, s, true)
                }
            }
            _ => return None,
        })
    }

    /// The chunk's selected rows located and their lanes and arguments computed; None
    /// when the chunk must go the row path. Nothing is folded yet.
    fn prepare(&self, raw: &Pairs, sel: &[bool]) -> Option<Chunk> {
        let n = raw.len();
        let width = self.cols.len();
        let mut spans: Vec<Option<(u32, u32)>> = vec![None; n * width];
        for (i, (_, stored)) in raw.iter().enumerate() {
            if !sel.get(i).copied().unwrap_or(false) {
                continue;
            }
            let row = spans.get_mut(i * width..(i + 1) * width)?;
            if !locate(stored, &self.slots, |c, s| {
                if let Some(slot) = row.get_mut(c) {
                    *slot = s;
                }
            }) {
                return None;
            }
        }
        let bytes = |i: usize, c: usize| -> Option<&[u8]> {
            let (a, b) = (*spans.get(i * width + c)?)?;
            raw.value(i).get(a as usize..b as usize)
        };
        // Lanes, for the selected rows.
        let mut lanes: Vec<Column> = Vec::with_capacity(self.lanes.len());
        for (c, scale) in &self.lanes {
            let ty = &self.cols.get(*c)?.ty;
            let mut vals = vec![0i128; n];
            let mut nulls = vec![true; n];
            for i in (0..n).filter(|i| sel.get(*i).copied().unwrap_or(false)) {
                if let Some(b) = bytes(i, *c) {
                    vals[i] = match ty {
                        DataType::Numeric(_) => numeric_at_scale(b, *scale)?,
                        other => lane_key(other, 0, b)?,
                    };
                    nulls[i] = false;
                }
            }
            lanes.push((vals, nulls));
        }
        let args = self
            .aggs
            .iter()
            .map(|a| match a {
                Agg::Sum { prog, .. } => eval(prog, &lanes, n).map(Some),
                _ => Some(None),
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Chunk { spans, width, args })
    }

    /// Row `i`'s group key: each key column's stored bytes, tagged and length-prefixed.
    fn key(&self, chunk: &Chunk, raw: &Pairs, i: usize, key: &mut Vec<u8>) {
        key.clear();
        for c in 0..self.keys {
            match chunk.bytes(raw, i, c) {
                None => key.push(0),
                Some(b) => {
                    key.push(1);
                    key.extend_from_slice(&(b.len() as u32).to_le_bytes());
                    key.extend_from_slice(b);
                }
            }
        }
    }

    /// Row `i`'s key values, decoded (a group met for the first time).
    fn key_values(&self, chunk: &Chunk, raw: &Pairs, i: usize) -> Option<Vec<Value>> {
        (0..self.keys)
            .map(|c| match chunk.bytes(raw, i, c) {
                None => Some(Value::Null),
                Some(b) => Value::from_stored(&self.cols.get(c)?.ty, b).ok(),
            })
            .collect()
    }

    /// Adds row `i` to one group's (sum, count) pairs, all or none of them (`undo`: takes
    /// it away again, after a later row of the chunk failed). None on an overflow.
    fn step(
        &self,
        chunk: &Chunk,
        raw: &Pairs,
        i: usize,
        states: &mut [Acc],
        undo: bool,
    ) -> Option<()> {
        for k in 0..states.len().min(self.aggs.len()) {
            let added = self.contribution(chunk, raw, i, k).and_then(|(add, one)| {
                let acc = states.get_mut(k)?;
                if undo {
                    *acc = (acc.0.wrapping_sub(add), acc.1 - one);
                } else {
                    *acc = (acc.0.checked_add(add)?, acc.1 + one);
                }
                Some(())
            });
            if added.is_none() {
                // Takes back what the aggregates before this one added.
                if let Some(before) = states.get_mut(..k) {
                    self.step(chunk, raw, i, before, true);
                }
                return None;
            }
        }
        Some(())
    }

    /// What row `i` adds to aggregate `k`'s (sum, count).
    #[inline]
    fn contribution(&self, chunk: &Chunk, raw: &Pairs, i: usize, k: usize) -> Option<Acc> {
        Some(match (self.aggs.get(k)?, chunk.args.get(k)?) {
            (Agg::CountStar, _) => (0, 1),
            (Agg::Count(c), _) => (0, i64::from(chunk.bytes(raw, i, *c).is_some())),
            (Agg::Sum { .. }, Some((vals, nulls))) => match nulls.get(i)? {
                true => (0, 0),
                false => (*vals.get(i)?, 1),
            },
            (Agg::Sum { .. }, None) => return None,
        })
    }

    /// Folds the rows of `raw` that `sel` selects into `agg`'s hash groups, found by their
    /// key columns' stored bytes in an index that lasts across chunks (`agg::batch`): for
    /// GROUP BYs with many groups, where grouping each chunk apart costs as much as the rows.
    /// None when the chunk must go the row path; it then left no sum or count behind (the
    /// groups it made are each made by one of its rows, which the row path adds).
    pub(crate) fn fold_into(
        &self,
        raw: &Pairs,
        sel: &[bool],
        agg: &mut Aggregator<'_>,
    ) -> Option<()> {
        let chunk = self.prepare(raw, sel)?;
        agg.batch_begin(|| {
            self.aggs
                .iter()
                .map(|a| match a {
                    Agg::Sum { scale, .. } => Some(*scale),
                    _ => None,
                })
                .collect()
        });
        let mut key = Vec::new();
        let selected = |i: &usize| sel.get(*i).copied().unwrap_or(false);
        // The last row's group and key, as in `fold` (and no lookup of the empty key).
        let (mut last, mut last_key) = (None, Vec::new());
        let mut failed = None;
        for i in (0..raw.len()).filter(selected) {
            self.key(&chunk, raw, i, &mut key);
            let found = match last {
                Some(g) if self.keys == 0 || last_key == key => Some(g),
                _ => agg.batch_find(&key),
            };
            let g = match found {
                Some(g) => Some(g),
                None => self
                    .key_values(&chunk, raw, i)
                    .map(|values| agg.batch_group(&key, values)),
            };
            let stepped = g.and_then(|g| {
                let states = agg.batch_pending(g)?;
                self.step(&chunk, raw, i, states, false)
            });
            match (g, stepped) {
                (Some(g), Some(())) => {
                    if last != Some(g) {
                        last = Some(g);
                        last_key.clone_from(&key);
                    }
                }
                _ => {
                    failed = Some(i);
                    break;
                }
            }
        }
        // Takes the rows before the one that failed away again (their groups exist now).
        let Some(end) = failed else {
            return Some(());
        };
        for i in (0..end).filter(selected) {
            self.key(&chunk, raw, i, &mut key);
            let g = agg.batch_find(&key)?;
            self.step(&chunk, raw, i, agg.batch_pending(g)?, true)?;
        }
        None
    }

    /// Folds the rows of `raw` that `sel` selects: each group met (key values, one partial
    /// per aggregate), in the order first met; None when the chunk must go the row path.
    /// With `grouped`, each group's rows come one after another (`Aggregator::new_grouped`),
    /// and a row's group is the last one or a new one.
    pub(crate) fn fold(
        &self,
        raw: &Pairs,
        sel: &[bool],
        grouped: bool,
    ) -> Option<Vec<(Vec<Value>, Vec<Partial>)>> {
        let n = raw.len();
        let chunk = self.prepare(raw, sel)?;
        // Groups, by their keys' stored bytes.
        let mut index: FxHashMap<Vec<u8>, usize> = FxHashMap::default();
        let mut groups: Vec<(Vec<Value>, Vec<Acc>)> = Vec::new();
        let mut key = Vec::new();
        // The last row's group and key: rows of a group often come together (a scan in key
        // order), and comparing with the last key is cheaper than a lookup.
        let (mut last, mut last_key) = (None, Vec::new());
        for i in (0..n).filter(|i| sel.get(*i).copied().unwrap_or(false)) {
            self.key(&chunk, raw, i, &mut key);
            // Without grouping keys every row is in the one group. (Looking up the empty key
            // costs more than it seems: memcmp's masked load from the empty Vec's dangling
            // pointer takes a microcode assist, ~90 ns a row, on AVX-512 machines.)
            let found = if self.keys == 0 {
                (!groups.is_empty()).then_some(0)
            } else if last.is_some() && last_key == key {
                last
            } else if grouped {
                None
            } else {
                let g = index.get(key.as_slice()).copied();
                if g.is_some() {
                    last_key.clone_from(&key);
                    last = g;
                }
                g
            };
            let g = match found {
                Some(g) => g,
                None => {
                    let values = self.key_values(&chunk, raw, i)?;
                    if !grouped {
                        index.insert(key.clone(), groups.len());
                    }
                    groups.push((values, vec![(0, 0); self.aggs.len()]));
                    last_key.clone_from(&key);
                    last = Some(groups.len() - 1);
                    groups.len() - 1
                }
            };
            self.step(&chunk, raw, i, &mut groups.get_mut(g)?.1, false)?;
        }
        Some(
            groups
                .into_iter()
                .map(|(keys, states)| {
                    let partials = self
                        .aggs
                        .iter()
                        .zip(states)
                        .map(|(agg, (sum, count))| match agg {
                            Agg::Sum { scale, .. } => Partial::Sum(
                                (count > 0).then(|| {
                                    Value::Numeric(Numeric::from_i128(sum, i64::from(*scale)))
                                }),
                                count,
                            ),
                            _ => Partial::Count(count),
                        })
                        .collect();
                    (keys, partials)
                })
                .collect(),
        )
    }
}

/// A program's values over a chunk (None on an overflow of the 128-bit integers).
fn eval(p: &Prog, lanes: &[Column], n: usize) -> Option<Column> {
    Some(match p {
        Prog::Lane(l) => lanes.get(*l)?.clone(),
        Prog::Const(c) => (vec![*c; n], vec![false; n]),
        Prog::Neg(x) => {
            let (mut vals, nulls) = eval(x, lanes, n)?;
            for v in &mut vals {
                *v = v.checked_neg()?;
            }
            (vals, nulls)
        }
        Prog::Mul(a, b) => {
            let (x, xn) = eval(a, lanes, n)?;
            let (y, yn) = eval(b, lanes, n)?;
            both(x, xn, &y, &yn, |p, q| p.checked_mul(q))?
        }
        Prog::Add { a, b, up, sub } => {
            let (x, xn) = eval(a, lanes, n)?;
            let (y, yn) = eval(b, lanes, n)?;
            let (ua, ub) = (10i128.checked_pow(up.0)?, 10i128.checked_pow(up.1)?);
            both(x, xn, &y, &yn, |p, q| {
                let (p, q) = (p.checked_mul(ua)?, q.checked_mul(ub)?);
                if *sub {
                    p.checked_sub(q)
                } else {
                    p.checked_add(q)
                }
            })?
        }
    })
}

/// `f` of two columns row by row (NULL when either is); None when `f` fails on a row.
fn both(
    mut x: Vec<i128>,
    mut xn: Vec<bool>,
    y: &[i128],
    yn: &[bool],
    f: impl Fn(i128, i128) -> Option<i128>,
) -> Option<Column> {
    for (((p, pn), q), qn) in x.iter_mut().zip(xn.iter_mut()).zip(y).zip(yn) {
        *pn |= *qn;
        if !*pn {
            *p = f(*p, *q)?;
        }
    }
    Some((x, xn))
}

#[cfg(test)]
#[path = "batch_agg_tests.rs"]
mod tests;
