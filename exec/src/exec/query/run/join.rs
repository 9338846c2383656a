//! Joins: hash joins on equi-join keys, index nested loops (a right table looked up per left
//! row, see `lookup`), nested loops for other conditions, LATERAL subqueries run per left
//! row, and the outer joins' NULL-extended rows. The left side streams: a join's rows flow
//! to its consumer (an aggregation, a filter, the join above) a chunk at a time.

use super::super::access::scan_rows_wanting;
use super::super::lookup::Lookup;
use super::super::profile::Stage;
use super::super::{Access, ChunkedScan};
use super::key_index::KeyIndex;
use super::{function_rows, Runner, SCAN_CHUNK};
use crate::error::{code, Error, Result};
use crate::exec::query::from::{Join, JoinKind, Source, TableSource};
use crate::expr::{EvalContext, Expr};
use crate::memory::rows_bytes;
use crate::row::append_key;
use crate::types::Value;

/// Whether a consumer of rows wants more of them.
pub(super) type Flow = std::ops::ControlFlow<()>;

/// Where a scan's or a join's rows go: a chunk at a time, to whoever consumes them, which
/// answers whether it wants more (`Flow::Break` once a LIMIT has its rows: the scans and
/// joins under it stop reading).
pub(super) type Sink<'s> = dyn FnMut(Vec<Vec<Value>>) -> Result<Flow> + 's;

impl Runner<'_, '_> {
    /// The rows of join `j` (before `Join::permute`), handed to `sink` a chunk at a time. The
    /// left side streams through chunk by chunk (a table scan, or a join below it: only the
    /// rows of one chunk are ever held); the right side is read whole and hashed on the
    /// equi-join keys, or looked up or run per left row. Output rows are not charged here:
    /// the sink charges what it keeps.
    pub(super) fn join_chunks(
        &self,
        j: &Join,
        outer: &[Value],
        ectx: &EvalContext<'_>,
        sink: &mut Sink<'_>,
    ) -> Result<()> {
        let mut out = Out::new(j, sink);
        if j.lateral {
            self.source_chunks(&j.left, outer, ectx, &mut |left| {
                for l in left {
                    self.check_deadline()?;
                    let rights = match &j.right {
                        Source::Derived { plan, captures, .. } => {
                            let values = captures
                                .iter()
                                .map(|c| c.eval(&l, ectx))
                                .collect::<Result<Vec<_>>>()?;
                            self.run(plan, &values)?
                        }
                        Source::Function {
                            name,
                            args,
                            ordinality,
                        } => {
                            let started = self.clock();
                            let rows = function_rows(name, args, *ordinality, &l, ectx)?;
                            self.note(&j.right, Stage::Source, rows.len(), started);
                            self.mem.charge(rows_bytes(&rows))?;
                            rows
                        }
                        _ => {
                            return Err(Error::new(
                                code::INTERNAL_ERROR,
                                "LATERAL join without a subquery or function",
                            ))
                        }
                    };
                    let mut matched = false;
                    let held = rows_bytes(&rights);
                    for r in rights {
                        if on_passes(j, &l, &r, ectx)? {
                            matched = true;
                            out.emit(Some(&l), Some(&r))?;
                        }
                    }
                    self.mem.release(held);
                    if !matched && j.kind == JoinKind::Left {
                        out.emit(Some(&l), None)?;
                    }
                    if out.stopped {
                        break;
                    }
                }
                Ok(out.flow())
            })?;
            return out.finish();
        }
        if let (Some(lookup), Source::Table(t)) = (&j.lookup, &j.right) {
            self.source_chunks(&j.left, outer, ectx, &mut |mut left| {
                for (n, l) in left.iter_mut().enumerate() {
                    if n % 256 == 255 {
                        self.check_deadline()?;
                    }
                    let found = self.looked_up(j, lookup, t, l, outer, ectx)?;
                    let candidates = found.iter().enumerate().map(|(i, r)| (i, r.as_slice()));
                    combine(j, l, candidates, &mut [], ectx, &mut out)?;
                    if out.stopped {
                        break;
                    }
                }
                Ok(out.flow())
            })?;
            return out.finish();
        }
        let built = self.build(j, outer, ectx)?;
        let mut right_matched = vec![false; built.right.len()];
        self.source_chunks(&j.left, outer, ectx, &mut |mut left| {
            for (n, l) in left.iter_mut().enumerate() {
                if n % 256 == 255 {
                    self.check_deadline()?;
                }
                probe(j, &built, l, &mut right_matched, ectx, &mut out)?;
                if out.stopped {
                    break;
                }
            }
            Ok(out.flow())
        })?;
        if matches!(j.kind, JoinKind::Right | JoinKind::Full) {
            for (r, matched) in built.right.iter().zip(&right_matched) {
                if !matched {
                    out.emit(None, Some(r))?;
                }
            }
        }
        self.mem
            .release(rows_bytes(&built.right) + built.index_bytes);
        out.finish()
    }

    /// The right side of hash (or nested-loop) join `j`, read whole and hashed on the
    /// equi-join keys; charged to the statement (the caller releases `rows_bytes(right) +
    /// index_bytes`).
    pub(super) fn build(&self, j: &Join, outer: &[Value], ectx: &EvalContext<'_>) -> Result<Built> {
        let right = self.source(&j.right, outer, ectx)?;
        // Hash the right side on the equi-join keys; NULL keys never match.
        let mut index_bytes = 0;
        let index = if j.keys.is_empty() {
            None
        } else {
            let mut index = KeyIndex::default();
            for (i, r) in right.iter().enumerate() {
                if let Some(k) = key(j.keys.iter().map(|(_, rk)| rk), r, ectx)? {
                    // The key, its table slot and the row number.
                    index_bytes += k.len() + 64;
                    index.insert(k, i);
                }
            }
            Some(index)
        };
        self.mem.charge(index_bytes)?;
        let all: Vec<usize> = if index.is_none() {
            (0..right.len()).collect()
        } else {
            Vec::new()
        };
        Ok(Built {
            right,
            index,
            all,
            index_bytes,
        })
    }
}

/// A join's right side, read whole: its rows, and their positions by equi-join key (None:
/// the join has no keys, and every row is a candidate).
pub(super) struct Built {
    pub(super) right: Vec<Vec<Value>>,
    index: Option<KeyIndex>,
    /// Every position, when there is no index.
    all: Vec<usize>,
    pub(super) index_bytes: usize,
}

impl Built {
    /// The rows' positions by equi-join key (None: the join has no keys).
    pub(super) fn index(&self) -> Option<&KeyIndex> {
        self.index.as_ref()
    }
}

/// Emits what left row `l` yields against the built right side of `j` (see [`combine`]).
pub(super) fn probe(
    j: &Join,
    built: &Built,
    l: &mut [Value],
    right_matched: &mut [bool],
    ectx: &EvalContext<'_>,
    out: &mut Out<'_, '_>,
) -> Result<()> {
    let candidates: &[usize] = match &built.index {
        None => &built.all,
        Some(index) => match key(j.keys.iter().map(|(lk, _)| lk), l, ectx)? {
            Some(k) => index.get(&k),
            None => &[],
        },
    };
    let rows = candidates
        .iter()
        .filter_map(|&i| built.right.get(i).map(|r| (i, r.as_slice())));
    combine(j, l, rows, right_matched, ectx, out)
}

impl Runner<'_, '_> {
    /// The rows of table `t` whose index columns hold left row `l`'s join keys, that pass
    /// the table's conditions and match every key of the join.
    fn looked_up(
        &self,
        j: &Join,
        lookup: &Lookup,
        t: &TableSource,
        l: &[Value],
        outer: &[Value],
        ectx: &EvalContext<'_>,
    ) -> Result<Vec<Vec<Value>>> {
        let started = self.clock();
        let rows = lookup_rows(j, lookup, t, l, ectx, |access, want| {
            let mut ctx = self.ctx.borrow_mut();
            super::super::locking::reading(&mut ctx, t, |ctx| match &access {
                // A key range: the join's lookups move one iterator along the table.
                Access::Range(..) if !t.for_update => {
                    let site = std::ptr::from_ref(t) as usize;
                    Ok(ChunkedScan::new(&access, t.read.as_deref())
                        .looking_up(site)
                        .next(ctx, &t.table, false, outer, usize::MAX)?
                        .unwrap_or_default())
                }
                _ => scan_rows_wanting(
                    ctx,
                    &t.table,
                    &access,
                    t.for_update,
                    outer,
                    want,
                    t.read.as_deref(),
                ),
            })
        })?;
        self.note(t, Stage::Source, rows.len(), started);
        Ok(rows)
    }
}

/// The rows of table `t` (the right side of lookup join `j`) whose index columns hold left
/// row `l`'s join keys, read by `fetch` through the lookup's access path, that pass the
/// table's conditions and match every key of the join.
pub(super) fn lookup_rows(
    j: &Join,
    lookup: &Lookup,
    t: &TableSource,
    l: &[Value],
    ectx: &EvalContext<'_>,
    fetch: impl FnOnce(Access, usize) -> Result<Vec<(Vec<u8>, Vec<Value>)>>,
) -> Result<Vec<Vec<Value>>> {
    // The left row's key values, each evaluated once: the lookup takes the indexed ones,
    // and every row found is compared on all of them.
    let left_values = j
        .keys
        .iter()
        .map(|(lk, _)| lk.eval(l, ectx))
        .collect::<Result<Vec<_>>>()?;
    let mut rows = Vec::new();
    if left_values.iter().any(Value::is_null) {
        return Ok(rows);
    }
    let mut want = Vec::new();
    for v in &left_values {
        append_key(&mut want, &[v]);
    }
    let want = Some(want);
    let values = lookup
        .keys
        .iter()
        .filter_map(|k| left_values.get(*k).cloned())
        .collect();
    let enough = if super::super::lookup::first_decides(j, lookup, t) {
        1
    } else {
        usize::MAX
    };
    for (storage_key, mut r) in fetch(lookup.access(values), enough)? {
        if let Some(f) = &t.filter {
            if !f.passes(&r, ectx)? {
                continue;
            }
        }
        if key(j.keys.iter().map(|(_, rk)| rk), &r, ectx)? != want {
            continue;
        }
        if t.keyed {
            r.push(Value::Bytea(storage_key));
        }
        rows.push(r);
    }
    Ok(rows)
}

/// Emits what left row `l` yields with `candidates` (right rows whose keys match it, with
/// their positions), by the join's kind; marks the positions that matched in
/// `right_matched` (for RIGHT and FULL joins).
pub(super) fn combine<'r>(
    j: &Join,
    l: &mut [Value],
    candidates: impl Iterator<Item = (usize, &'r [Value])>,
    right_matched: &mut [bool],
    ectx: &EvalContext<'_>,
    out: &mut Out<'_, '_>,
) -> Result<()> {
    if j.kind.left_only() {
        // EXISTS / NOT EXISTS: the first match decides.
        let mut found = false;
        for (_, r) in candidates {
            if on_passes(j, l, r, ectx)? {
                found = true;
                break;
            }
        }
        if found == (j.kind == JoinKind::Semi) {
            out.emit_last(l, None)?;
        }
        return Ok(());
    }
    // Each match is emitted once the next is found, so that the last (usually the only
    // one) may take the left row's values instead of copying them.
    let mut last: Option<&[Value]> = None;
    for (i, r) in candidates {
        if on_passes(j, l, r, ectx)? {
            if let Some(m) = right_matched.get_mut(i) {
                *m = true;
            }
            if let Some(before) = last.replace(r) {
                out.emit(Some(l), Some(before))?;
            }
        }
    }
    match last {
        Some(r) => out.emit_last(l, Some(r)),
        None if matches!(j.kind, JoinKind::Left | JoinKind::Full) => out.emit_last(l, None),
        None => Ok(()),
    }
}

/// Whether rows `l` and `r` pass the join's residual condition (evaluated over `l ++ r`).
fn on_passes(j: &Join, l: &[Value], r: &[Value], ectx: &EvalContext<'_>) -> Result<bool> {
    match &j.on {
        Some(on) => on.passes(&concat(l, r), ectx),
        None => Ok(true),
    }
}

/// Where an output column of a join comes from (see [`Out::new`]).
#[derive(Debug, Clone, Copy)]
enum Slot {
    Left(usize),
    Right(usize),
    /// A USING / NATURAL column: the left value, or the right one where that is NULL.
    Merged(usize, usize),
    /// Read by nothing above the join (`Join::needed`): NULL, never copied.
    Unread,
}

/// A join's output rows not handed on yet, and where they go.
pub(super) struct Out<'o, 's> {
    /// Each output column's source: the join's permutation, USING columns and unread
    /// columns resolved once, so a row is built in one pass over exactly its width.
    layout: Vec<Slot>,
    /// No left column has two slots: the last row made of a left row may take its values.
    left_once: bool,
    rows: Vec<Vec<Value>>,
    sink: &'o mut Sink<'s>,
    /// The sink wants no more rows: later ones are dropped, and the join stops reading.
    pub(super) stopped: bool,
}

impl<'o, 's> Out<'o, 's> {
    pub(super) fn new(join: &'o Join, sink: &'o mut Sink<'s>) -> Out<'o, 's> {
        let layout = layout(join);
        let mut lefts: Vec<usize> = layout
            .iter()
            .filter_map(|slot| match *slot {
                Slot::Left(i) | Slot::Merged(i, _) => Some(i),
                _ => None,
            })
            .collect();
        let n = lefts.len();
        lefts.sort_unstable();
        lefts.dedup();
        Out {
            left_once: lefts.len() == n,
            layout,
            rows: Vec::new(),
            sink,
            stopped: false,
        }
    }

    /// Whether the join should read on.
    pub(super) fn flow(&self) -> Flow {
        if self.stopped {
            Flow::Break(())
        } else {
            Flow::Continue(())
        }
    }

    /// Adds the row joining `l` and `r` (None: NULL-extended), in the join's output layout
    /// (permuted, with the merged columns of USING / NATURAL, unread columns NULL), and hands
    /// the rows on once they make a chunk: a join never holds more than a chunk of its output
    /// uncharged.
    pub(super) fn emit(&mut self, l: Option<&[Value]>, r: Option<&[Value]>) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        let row = self.row(|i| l.and_then(|s| s.get(i)).cloned(), r);
        self.push(row)
    }

    /// [`Out::emit`] of the last row made of left row `l`: its values are taken, not
    /// copied (left as NULLs), where no left column has two slots.
    pub(super) fn emit_last(&mut self, l: &mut [Value], r: Option<&[Value]>) -> Result<()> {
        if self.stopped || !self.left_once {
            return self.emit(Some(l), r);
        }
        let row = self.row(
            |i| l.get_mut(i).map(|v| std::mem::replace(v, Value::Null)),
            r,
        );
        self.push(row)
    }

    /// A row in the output layout, each left column's value from `left` (None: NULL-
    /// extended), each right one copied from `r`.
    fn row(&self, mut left: impl FnMut(usize) -> Option<Value>, r: Option<&[Value]>) -> Vec<Value> {
        let right = |i: usize| r.and_then(|s| s.get(i)).cloned().unwrap_or(Value::Null);
        self.layout
            .iter()
            .map(|slot| match *slot {
                Slot::Left(i) => left(i).unwrap_or(Value::Null),
                Slot::Right(i) => right(i),
                Slot::Merged(a, b) => left(a).filter(|v| !v.is_null()).unwrap_or_else(|| right(b)),
                Slot::Unread => Value::Null,
            })
            .collect()
    }

    fn push(&mut self, row: Vec<Value>) -> Result<()> {
        self.rows.push(row);
        if self.rows.len() >= SCAN_CHUNK {
            let flow = (self.sink)(std::mem::take(&mut self.rows))?;
            self.stopped = flow.is_break();
        }
        Ok(())
    }

    /// Hands the last rows on (unless the sink wanted no more).
    pub(super) fn finish(self) -> Result<()> {
        if !self.stopped {
            // The last chunk: whether the sink wants more no longer matters.
            let _ = (self.sink)(self.rows)?;
        }
        Ok(())
    }
}

fn concat(a: &[Value], b: &[Value]) -> Vec<Value> {
    let mut row = Vec::with_capacity(a.len() + b.len());
    row.extend_from_slice(a);
    row.extend_from_slice(b);
    row
}

/// Each output column's source (see [`Out`]): output column k is column `permute[k]` (or k)
/// of `left ++ right ++ merged`, NULL where `needed` says nothing reads it. A semi or anti
/// join emits its left row.
fn layout(j: &Join) -> Vec<Slot> {
    let (lw, rw) = (j.left_width, j.right_width);
    (0..j.output_width())
        .map(|k| {
            if j.needed
                .as_ref()
                .is_some_and(|n| n.get(k).is_some_and(|read| !*read))
            {
                return Slot::Unread;
            }
            let p = j.permute.get(k).copied().unwrap_or(k);
            if p < lw {
                Slot::Left(p)
            } else if p < lw + rw {
                Slot::Right(p - lw)
            } else {
                match j.merged.get(p - lw - rw) {
                    Some(&(a, b)) => Slot::Merged(a, b),
                    None => Slot::Unread,
                }
            }
        })
        .collect()
}

/// The hash key of `exprs` over `row`, None when a part is NULL.
fn key<'e>(
    exprs: impl Iterator<Item = &'e Expr>,
    row: &[Value],
    ectx: &EvalContext<'_>,
) -> Result<Option<Vec<u8>>> {
    let mut k = Vec::new();
    for e in exprs {
        let v = e.eval(row, ectx)?;
        if v.is_null() {
            return Ok(None);
        }
        append_key(&mut k, &[&v]);
    }
    Ok(Some(k))
}
