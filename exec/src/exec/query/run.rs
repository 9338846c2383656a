//! Running a [`SelectPlan`]: the FROM tree (scans, hash and nested-loop joins, LATERAL
//! subqueries), filters, aggregation, projection, DISTINCT, ORDER BY and OFFSET / LIMIT.
//!
//! The [`Runner`] owns the statement's context behind a `RefCell` so that subqueries can
//! run while an expression is being evaluated: the transaction is borrowed only while a
//! scan materializes its rows, never while expressions are evaluated. Uncorrelated
//! subqueries run once per statement and their rows are cached.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use super::chunked::{ChunkedScan, Stored};
use super::from::{Source, TableSource};
use super::profile::{Profile, Stage};
use super::{Body, SelectBody, SelectPlan};
use crate::error::{code, Error, Result};
use crate::exec::agg::{aggregate, aggregate_sets, AggPlan, Aggregator};
use crate::exec::Ctx;
use crate::expr::{EvalContext, Expr, KeySet, SeqOp, SubqueryExec};
use crate::memory::{row_bytes, rows_bytes, Charge};
use crate::row::append_key;
use crate::types::{DataType, Value};
use join::Flow;

mod batch_agg;
mod batch_filter;
mod early;
mod fold;
mod hoist;
mod join;
mod key_filter;
mod key_index;
mod lanes;
mod like;
mod limit;
mod parallel;
mod prefilter;
mod recursive;

/// Rows a table scan reads between evaluations of its filter.
const SCAN_CHUNK: usize = 1024;
/// Bytes of new rows an operator accumulates before charging them to the statement.
const CHARGE_STEP: usize = 1 << 20;

/// Runs a planned query.
pub fn run_select(ctx: &mut Ctx<'_>, plan: &SelectPlan) -> Result<Vec<Vec<Value>>> {
    Runner::new(ctx).run(plan, &[])
}

/// Executes plans for one statement (see the module doc).
pub struct Runner<'r, 'a> {
    ctx: RefCell<&'r mut Ctx<'a>>,
    /// The catalog snapshot, once a catalog function or reg* cast asked for it.
    sys: std::cell::OnceCell<Rc<crate::catalog::system::SystemSnapshot>>,
    /// Rows of uncorrelated subqueries, by plan address (plans outlive the statement run),
    /// and of WITH queries referenced more than once, by the address of their `Shared`
    /// token (a separate allocation: the two kinds of key never collide).
    cache: RefCell<HashMap<usize, Arc<Vec<Vec<Value>>>>>,
    /// Their first columns as key sets, for `IN` (by plan address).
    sets: RefCell<HashMap<usize, Arc<KeySet>>>,
    /// Whether uncorrelated EXISTS subqueries have a row (by plan address).
    exists: RefCell<HashMap<usize, bool>>,
    /// The work tables of the recursive queries running (`recursive`), by id.
    work: RefCell<HashMap<usize, Arc<Vec<Vec<Value>>>>>,
    /// Rows enough for the recursive query about to run (see [`Runner::recursive`]).
    recursion_cap: std::cell::Cell<Option<usize>>,
    /// The statement's share of the query memory budget. Every row vector `run` and
    /// `source` return is charged to it; whoever consumes one releases it.
    mem: Charge<'a>,
    /// EXPLAIN ANALYZE's measurements, when it runs the plan.
    profile: Option<Rc<Profile>>,
}

impl SubqueryExec for Runner<'_, '_> {
    fn rows(&self, plan: &SelectPlan, outer: &[Value]) -> Result<Arc<Vec<Vec<Value>>>> {
        if !outer.is_empty() {
            // Run once per outer row and dropped right after: not held by the statement.
            let rows = self.run(plan, outer)?;
            self.mem.release(rows_bytes(&rows));
            return Ok(Arc::new(rows));
        }
        let id = plan as *const SelectPlan as usize;
        if let Some(rows) = self.cache.borrow().get(&id) {
            return Ok(rows.clone());
        }
        let rows = Arc::new(self.run(plan, outer)?);
        self.cache.borrow_mut().insert(id, rows.clone());
        Ok(rows)
    }

    fn exists(&self, plan: &SelectPlan, outer: &[Value]) -> Result<bool> {
        // Uncorrelated: asked once per statement.
        let id = plan as *const SelectPlan as usize;
        if outer.is_empty() {
            if let Some(found) = self.exists.borrow().get(&id) {
                return Ok(*found);
            }
        }
        let rows = self.run_capped(plan, outer, 1)?;
        self.mem.release(rows_bytes(&rows));
        if outer.is_empty() {
            self.exists.borrow_mut().insert(id, !rows.is_empty());
        }
        Ok(!rows.is_empty())
    }

    fn key_set(&self, plan: &SelectPlan) -> Result<Option<Arc<KeySet>>> {
        let id = plan as *const SelectPlan as usize;
        if let Some(set) = self.sets.borrow().get(&id) {
            return Ok(Some(set.clone()));
        }
        let rows = self.rows(plan, &[])?;
        let set = Arc::new(KeySet::new(rows.iter().filter_map(|r| r.first())));
        self.mem.charge(set_bytes(&set))?;
        self.sets.borrow_mut().insert(id, set.clone());
        Ok(Some(set))
    }

    fn catalog(&self) -> Result<Option<&crate::catalog::system::SystemSnapshot>> {
        if self.sys.get().is_none() {
            let s = self.ctx.borrow_mut().system_snapshot()?;
            let _ = self.sys.set(s);
        }
        Ok(self.sys.get().map(|s| s.as_ref()))
    }

    fn sequence(
        &self,
        op: SeqOp,
        name: Option<&str>,
        value: Option<i64>,
        is_called: bool,
    ) -> Result<i64> {
        let mut ctx = self.ctx.borrow_mut();
        crate::exec::sequence_fn::call(&mut ctx, op, name, value, is_called)
    }

    fn backend(&self, f: crate::expr::BackendFunc, args: &[Value]) -> Result<Value> {
        crate::exec::backend_fn::call(&self.ctx.borrow(), f, args)
    }
}

impl<'r, 'a> Runner<'r, 'a> {
    pub fn new(ctx: &'r mut Ctx<'a>) -> Runner<'r, 'a> {
        let engine: &'a crate::SqlEngine = ctx.engine;
        Runner {
            mem: Charge::new(&engine.query_memory),
            ctx: RefCell::new(ctx),
            sys: std::cell::OnceCell::new(),
            cache: RefCell::new(HashMap::new()),
            sets: RefCell::new(HashMap::new()),
            exists: RefCell::new(HashMap::new()),
            work: RefCell::new(HashMap::new()),
            recursion_cap: std::cell::Cell::new(None),
            profile: None,
        }
    }

    /// A runner that measures every node into `profile` (EXPLAIN ANALYZE).
    pub fn profiled(ctx: &'r mut Ctx<'a>, profile: Rc<Profile>) -> Runner<'r, 'a> {
        Runner {
            profile: Some(profile),
            ..Runner::new(ctx)
        }
    }

    /// When a measured node starts (None when not measuring).
    fn clock(&self) -> Option<std::time::Instant> {
        self.profile.as_ref().map(|_| std::time::Instant::now())
    }

    /// Records a run of `node`'s `stage` that produced `rows` (when measuring).
    fn note<T: super::profile::Node>(
        &self,
        node: &T,
        stage: Stage,
        rows: usize,
        since: Option<std::time::Instant>,
    ) {
        if let (Some(p), Some(t)) = (&self.profile, since) {
            p.record(node, stage, rows, t.elapsed());
        }
    }

    /// Fails with 57014 once the statement's deadline has passed.
    fn check_deadline(&self) -> Result<()> {
        self.ctx.borrow().check_deadline()
    }

    /// The evaluation context for a plan running with `outer`.
    pub fn ectx<'s>(&'s self, outer: &'s [Value]) -> EvalContext<'s> {
        let base = self.ctx.borrow().eval_context();
        EvalContext {
            outer,
            exec: Some(self),
            ..base
        }
    }

    /// The rows of `plan`, with `outer` as the values its `Expr::Outer` read.
    pub fn run(&self, plan: &SelectPlan, outer: &[Value]) -> Result<Vec<Vec<Value>>> {
        self.run_capped(plan, outer, usize::MAX)
    }

    /// The first `want` rows of `plan` (all of them: `usize::MAX`), reading no more than
    /// they need where the plan allows (see `limit`).
    fn run_capped(
        &self,
        plan: &SelectPlan,
        outer: &[Value],
        want: usize,
    ) -> Result<Vec<Vec<Value>>> {
        self.check_deadline()?;
        let started = self.clock();
        let ectx = self.ectx(outer);
        let count = |e: &Option<Expr>, what: &str| -> Result<Option<usize>> {
            match e {
                None => Ok(None),
                Some(e) => match e.eval(&[], &ectx)?.cast(&DataType::Int8)?.as_i64()? {
                    None => Ok(None),
                    Some(n) if n < 0 => {
                        Err(Error::new("2201W", format!("{what} must not be negative")))
                    }
                    Some(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
                },
            }
        };
        let offset = count(&plan.offset, "OFFSET")?.unwrap_or(0);
        let limit = count(&plan.limit, "LIMIT")?.unwrap_or(usize::MAX).min(want);
        if limit < usize::MAX && limit::limits_recursion(plan) {
            self.recursion_cap.set(Some(offset.saturating_add(limit)));
        }
        let mut out: Vec<(Vec<Value>, Vec<Value>)> = match &plan.body {
            Body::Select(body) => {
                let cap = limit::body_cap(plan, offset, limit);
                self.select(body, plan, outer, &ectx, cap)?
            }
            Body::Values(rows) => {
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let mut row = Vec::with_capacity(r.len());
                    for (e, c) in r.iter().zip(&plan.columns) {
                        row.push(e.eval(&[], &ectx)?.cast(&c.ty)?);
                    }
                    out.push(row);
                }
                self.mem.charge(rows_bytes(&out))?;
                with_output_keys(out, plan)
            }
            Body::SetOp {
                op,
                all,
                left,
                right,
            } => {
                let l = self.run(left, outer)?;
                let r = self.run(right, outer)?;
                let inputs = rows_bytes(&l) + rows_bytes(&r);
                let rows = super::setop::combine(*op, *all, l, r, &plan.columns)?;
                self.mem.release(inputs);
                self.mem.charge(rows_bytes(&rows))?;
                with_output_keys(rows, plan)
            }
            Body::Nested(inner) => with_output_keys(self.run(inner, outer)?, plan),
            Body::Recursive(r) => with_output_keys(self.recursive(r, &plan.columns, outer)?, plan),
        };
        // A cap the body's recursive query did not take (its rows came from a cache) must
        // not reach the next one the statement runs.
        self.recursion_cap.set(None);
        self.note(plan, Stage::Body, out.len(), started);
        let distinct = matches!(&plan.body, Body::Select(b) if b.distinct);
        if distinct {
            out.sort_by(|a, b| compare_rows(&a.0, &b.0));
            out.dedup_by(|a, b| compare_rows(&a.0, &b.0) == Ordering::Equal);
        }
        if !plan.order.is_empty() {
            // Stable: DISTINCT ON keeps the first row of each run in this order.
            out.sort_by(|a, b| crate::expr::cmp_ordered(&a.1, &b.1, &plan.order));
        }
        if let Body::Select(b) = &plan.body {
            if let Some(k) = b.distinct_on {
                fn on(keys: &[Value], k: usize) -> &[Value] {
                    keys.get(..k).unwrap_or(keys)
                }
                out.dedup_by(|a, b| compare_rows(on(&a.1, k), on(&b.1, k)) == Ordering::Equal);
            }
        }
        self.note(plan, Stage::Ordered, out.len(), started);
        // What goes: the rows before OFFSET and past LIMIT, and the ORDER BY keys (charged
        // with the rows a SELECT projects).
        let keys_charged = matches!(plan.body, Body::Select(_));
        let mut gone = 0;
        let mut kept = Vec::with_capacity(out.len().min(limit));
        for (i, (p, k)) in out.into_iter().enumerate() {
            if keys_charged {
                gone += row_bytes(&k);
            }
            if i < offset || kept.len() >= limit {
                gone += row_bytes(&p);
            } else {
                kept.push(p);
            }
        }
        self.mem.release(gone);
        let out = kept;
        self.note(plan, Stage::Output, out.len(), started);
        Ok(out)
    }

    /// A SELECT body's projected rows, each with its ORDER BY keys; with a `cap`, a scan or
    /// join under it stops once that many rows pass the filter (see `limit`).
    fn select(
        &self,
        body: &SelectBody,
        plan: &SelectPlan,
        outer: &[Value],
        ectx: &EvalContext<'_>,
        cap: Option<usize>,
    ) -> Result<Vec<(Vec<Value>, Vec<Value>)>> {
        let started = self.clock();
        let streams = matches!(body.source, Source::Table(_) | Source::Join(_));
        // An aggregation over a scan or a join is fed as they stream (in parallel where it
        // may); over a subquery that only filters and projects, it may run in parallel.
        let aggregated = match (&body.agg, &body.source) {
            (Some(agg @ AggPlan { sets: None, .. }), _) if streams => {
                Some(self.stream_aggregate(agg, &body.source, body.filter.as_ref(), outer, ectx)?)
            }
            (Some(agg @ AggPlan { sets: None, .. }), Source::Derived { .. }) => {
                self.parallel_aggregate(agg, &body.source, body.filter.as_ref(), outer, ectx)?
            }
            _ => None,
        };
        if let Some((rows, passed)) = aggregated {
            if body.filter.is_some() {
                self.note(body, Stage::Filtered, passed, started);
            }
            self.note(body, Stage::Aggregated, rows.len(), started);
            return self.project(body, plan, rows, ectx);
        }
        let rows = match &body.filter {
            // Filtered as the rows stream in: only what passes is held, and no more than the
            // cap asks for is read.
            // LIMIT 0 (or OFFSET past what EXISTS wants): nothing is read, nor locked.
            _ if cap == Some(0) => Vec::new(),
            Some(_) | None if streams && (body.filter.is_some() || cap.is_some()) => {
                let enough = cap.unwrap_or(usize::MAX);
                let mut rows = Vec::new();
                self.source_chunks_wanting(&body.source, outer, ectx, enough, &mut |chunk| {
                    let kept = match &body.filter {
                        Some(f) => passing(chunk, f, ectx)?.0,
                        None => chunk,
                    };
                    self.mem.charge(rows_bytes(&kept))?;
                    rows.extend(kept);
                    Ok(if rows.len() >= enough {
                        Flow::Break(())
                    } else {
                        Flow::Continue(())
                    })
                })?;
                if body.filter.is_some() {
                    self.note(body, Stage::Filtered, rows.len(), started);
                }
                rows
            }
            Some(f) => {
                let rows = self.source(&body.source, outer, ectx)?;
                let (kept, dropped) = passing(rows, f, ectx)?;
                self.mem.release(dropped);
                self.note(body, Stage::Filtered, kept.len(), started);
                kept
            }
            None => self.source(&body.source, outer, ectx)?,
        };
        let rows = match &body.agg {
            Some(a) if a.sets.is_some() => {
                // Charged set by set (`replaced` charges only once all are made).
                let input = rows_bytes(&rows);
                let made = aggregate_sets(a, rows, ectx, &mut |set| {
                    self.check_deadline()?;
                    self.mem.charge(rows_bytes(set))
                })?;
                self.mem.release(input);
                made
            }
            Some(a) => self.replaced(rows, |rows| aggregate(a, rows, ectx))?,
            None => rows,
        };
        if body.agg.is_some() {
            self.note(body, Stage::Aggregated, rows.len(), started);
        }
        self.project(body, plan, rows, ectx)
    }

    /// Window functions, then the select list and ORDER BY keys of each row.
    fn project(
        &self,
        body: &SelectBody,
        plan: &SelectPlan,
        rows: Vec<Vec<Value>>,
        ectx: &EvalContext<'_>,
    ) -> Result<Vec<(Vec<Value>, Vec<Value>)>> {
        let rows = if body.windows.is_empty() {
            rows
        } else {
            self.replaced(rows, |rows| {
                crate::exec::window::compute(&body.windows, rows, body.window_base, ectx)
            })?
        };
        let mut out = Vec::with_capacity(rows.len());
        let mut pending = 0;
        for r in &rows {
            let projected = body
                .projections
                .iter()
                .map(|p| p.eval(r, ectx))
                .collect::<Result<Vec<_>>>()?;
            let keys = plan
                .order
                .iter()
                .map(|(k, _, _)| match output_key(k) {
                    Some(i) => Ok(projected.get(i).cloned().unwrap_or(Value::Null)),
                    None => k.eval(r, ectx),
                })
                .collect::<Result<Vec<_>>>()?;
            pending += row_bytes(&projected) + row_bytes(&keys);
            if pending >= CHARGE_STEP {
                self.mem.charge(std::mem::take(&mut pending))?;
            }
            out.push((projected, keys));
        }
        self.mem.charge(pending)?;
        self.mem.release(rows_bytes(&rows));
        Ok(out)
    }

    /// `f(rows)`, with the budget moved from `rows` to what replaces them.
    fn replaced(
        &self,
        rows: Vec<Vec<Value>>,
        f: impl FnOnce(Vec<Vec<Value>>) -> Result<Vec<Vec<Value>>>,
    ) -> Result<Vec<Vec<Value>>> {
        let before = rows_bytes(&rows);
        let after = f(rows)?;
        self.mem.release(before);
        self.mem.charge(rows_bytes(&after))?;
        Ok(after)
    }

    /// The rows of a statement-level FROM tree.
    pub fn source_rows(&self, src: &Source, ectx: &EvalContext<'_>) -> Result<Vec<Vec<Value>>> {
        self.source(src, &[], ectx)
    }

    /// The rows a FROM node produces, handed to `sink` a chunk at a time and not charged
    /// (the sink charges what it keeps): table scans and joins stream, only their current
    /// chunk held; other sources are made whole and handed on as one chunk.
    fn source_chunks(
        &self,
        src: &Source,
        outer: &[Value],
        ectx: &EvalContext<'_>,
        sink: &mut join::Sink<'_>,
    ) -> Result<()> {
        self.source_chunks_wanting(src, outer, ectx, usize::MAX, sink)
    }

    /// [`Runner::source_chunks`] for a consumer that will likely stop after `want` rows (a
    /// LIMIT's): a table scan reads that many first, then more in growing chunks.
    fn source_chunks_wanting(
        &self,
        src: &Source,
        outer: &[Value],
        ectx: &EvalContext<'_>,
        want: usize,
        sink: &mut join::Sink<'_>,
    ) -> Result<()> {
        match src {
            Source::Table(t) => self.scan_table(t, outer, ectx, want, sink),
            Source::Join(j) => {
                // The join's time leaves out its consumer's, as a scan's does.
                let (started, mut produced) = (self.clock(), 0);
                let mut consumer = std::time::Duration::ZERO;
                self.join_chunks(j, outer, ectx, &mut |chunk| {
                    produced += chunk.len();
                    let sinking = self.clock();
                    let flow = sink(chunk)?;
                    consumer += sinking.map(|s| s.elapsed()).unwrap_or_default();
                    Ok(flow)
                })?;
                if let (Some(p), Some(t0)) = (&self.profile, started) {
                    p.record(
                        src,
                        Stage::Source,
                        produced,
                        t0.elapsed().saturating_sub(consumer),
                    );
                }
                Ok(())
            }
            _ => {
                let rows = self.source(src, outer, ectx)?;
                let held = rows_bytes(&rows);
                // One chunk, whole: nothing is left to stop reading.
                let _ = sink(rows)?;
                self.mem.release(held);
                Ok(())
            }
        }
    }

    /// The rows a FROM node produces.
    fn source(
        &self,
        src: &Source,
        outer: &[Value],
        ectx: &EvalContext<'_>,
    ) -> Result<Vec<Vec<Value>>> {
        let started = self.clock();
        let rows = self.source_unmeasured(src, outer, ectx)?;
        // Tables and joins measure themselves (they may stream into a consumer instead).
        if !matches!(src, Source::Table(_) | Source::Join(_)) {
            self.note(src, Stage::Source, rows.len(), started);
        }
        Ok(rows)
    }

    fn source_unmeasured(
        &self,
        src: &Source,
        outer: &[Value],
        ectx: &EvalContext<'_>,
    ) -> Result<Vec<Vec<Value>>> {
        match src {
            Source::Unit => Ok(vec![Vec::new()]),
            Source::Rows(_, rows) => {
                self.mem.charge(rows_bytes(rows))?;
                Ok(rows.clone())
            }
            Source::Table(_) | Source::Join(_) => {
                // Read by several threads where it may be (in the same order).
                if let Some(rows) = self.parallel_rows(src, outer, ectx)? {
                    return Ok(rows);
                }
                let mut rows = Vec::new();
                self.source_chunks(src, outer, ectx, &mut |chunk| {
                    self.mem.charge(rows_bytes(&chunk))?;
                    rows.extend(chunk);
                    Ok(Flow::Continue(()))
                })?;
                Ok(rows)
            }
            Source::Derived {
                plan,
                shared: Some(shared),
                ..
            } if shared.many() => {
                // A WITH query referenced more than once: run once, its rows kept for each
                // reference (charged while kept, and again for each copy handed out).
                let id = std::sync::Arc::as_ptr(shared) as usize;
                let kept = self.cache.borrow().get(&id).cloned();
                let rows = match kept {
                    Some(rows) => rows,
                    None => {
                        let rows = Arc::new(self.run(plan, &[])?);
                        self.cache.borrow_mut().insert(id, Arc::clone(&rows));
                        rows
                    }
                };
                self.mem.charge(rows_bytes(&rows))?;
                Ok(rows.as_ref().clone())
            }
            Source::Derived { plan, captures, .. } => {
                let values = captures
                    .iter()
                    .map(|c| c.eval(&[], ectx))
                    .collect::<Result<Vec<_>>>()?;
                self.run(plan, &values)
            }
            Source::Function {
                name,
                args,
                ordinality,
            } => {
                let rows = function_rows(name, args, *ordinality, &[], ectx)?;
                self.mem.charge(rows_bytes(&rows))?;
                Ok(rows)
            }
            Source::WorkTable { id, name } => {
                let rows = self.work.borrow().get(id).cloned().ok_or_else(|| {
                    Error::new(
                        code::INTERNAL_ERROR,
                        format!("the work table of \"{name}\" is not there"),
                    )
                })?;
                self.mem.charge(rows_bytes(&rows))?;
                Ok(rows.as_ref().clone())
            }
        }
    }

    /// The rows of table `t` that pass its filter, handed to `sink` a chunk at a time (the
    /// filter runs between chunks, so only what passes is ever held).
    fn scan_table(
        &self,
        t: &TableSource,
        outer: &[Value],
        ectx: &EvalContext<'_>,
        want: usize,
        sink: &mut join::Sink<'_>,
    ) -> Result<()> {
        let resolved = match &t.access {
            super::Access::Ann(scan) => super::ann_scan::resolve(scan, ectx)?,
            _ => None,
        };
        let access = resolved.as_ref().unwrap_or(&t.access);
        let read = t.read.as_deref();
        let mut scan =
            ChunkedScan::new(access, read).locking_only(t.filter.as_ref(), t.table.columns.len());
        // The scan's time leaves out its consumer's (an aggregation fed chunk by chunk).
        let (started, mut produced) = (self.clock(), 0);
        let mut consumer = std::time::Duration::ZERO;
        let mut decoder = early::Decoder::new(t);
        // A consumer wanting few rows (EXISTS wants one) gets them from a first chunk that
        // small: an index scan fetches each row it reads by its key.
        let mut size = want.clamp(1, SCAN_CHUNK);
        loop {
            let chunk = {
                let mut ctx = self.ctx.borrow_mut();
                // A locking scan wanting few rows locks no more than it still wants.
                if t.for_update && want < usize::MAX {
                    scan.set_lock_budget(want.saturating_sub(produced).max(1));
                }
                super::locking::reading(&mut ctx, t, |ctx| {
                    scan.next_stored(ctx, &t.table, t.for_update, outer, size)
                })?
            };
            size = size.saturating_mul(4).min(SCAN_CHUNK);
            let kept = match chunk {
                None => break,
                Some(Stored::Raw(raw)) => decoder.rows(&raw, ectx)?,
                Some(Stored::Shared(rows, range)) => {
                    decoder.keep_shared(rows.get(range).unwrap_or_default(), ectx)?
                }
                Some(Stored::Rows(rows)) => {
                    let mut kept = Vec::with_capacity(rows.len());
                    for (key, r) in rows {
                        kept.extend(decoder.keep(&key, r, ectx)?);
                    }
                    kept
                }
            };
            produced += kept.len();
            let sinking = self.clock();
            let flow = sink(kept)?;
            consumer += sinking.map(|s| s.elapsed()).unwrap_or_default();
            if flow.is_break() {
                break;
            }
        }
        if let (Some(p), Some(t0)) = (&self.profile, started) {
            let time = t0.elapsed().saturating_sub(consumer);
            p.record(t, Stage::Source, produced, time);
        }
        Ok(())
    }

    /// Aggregation fed straight from a table scan or a join, chunk by chunk: their rows are
    /// never all held, only the groups (charged as they grow).
    fn stream_aggregate(
        &self,
        agg: &AggPlan,
        src: &Source,
        filter: Option<&Expr>,
        outer: &[Value],
        ectx: &EvalContext<'_>,
    ) -> Result<(Vec<Vec<Value>>, usize)> {
        if let Some(done) = self.parallel_aggregate(agg, src, filter, outer, ectx)? {
            return Ok(done);
        }
        if let (Source::Table(t), None) = (src, filter) {
            if let Some(done) = self.fold_scan(agg, t, outer, ectx)? {
                return Ok(done);
            }
        }
        let mut state = Aggregator::new(agg);
        let (mut charged, mut passed) = (0, 0);
        self.source_chunks(src, outer, ectx, &mut |mut chunk| {
            if let Some(f) = filter {
                chunk = passing(chunk, f, ectx)?.0;
            }
            passed += chunk.len();
            state.add(&chunk, ectx)?;
            self.mem.charge(state.bytes() - charged)?;
            charged = state.bytes();
            Ok(Flow::Continue(()))
        })?;
        let rows = state.finish(ectx)?;
        self.mem.release(charged);
        self.mem.charge(rows_bytes(&rows))?;
        Ok((rows, passed))
    }
}

/// The rows of a set-returning function whose arguments are evaluated over `row`.
fn function_rows(
    name: &str,
    args: &[Expr],
    ordinality: bool,
    row: &[Value],
    ectx: &EvalContext<'_>,
) -> Result<Vec<Vec<Value>>> {
    let values = args
        .iter()
        .map(|a| a.eval(row, ectx))
        .collect::<Result<Vec<_>>>()?;
    let mut rows = crate::expr::table_function_rows(name, &values)?;
    if ordinality {
        for (i, r) in rows.iter_mut().enumerate() {
            r.push(Value::Int8(i as i64 + 1));
        }
    }
    Ok(rows)
}

/// `Expr::Column(usize::MAX - i)` marks output column i as an ORDER BY key.
fn output_key(k: &Expr) -> Option<usize> {
    match k {
        Expr::Column(m) if *m > usize::MAX / 2 => Some(usize::MAX - m),
        _ => None,
    }
}

/// Rows of a body whose ORDER BY keys are all output columns.
fn with_output_keys(rows: Vec<Vec<Value>>, plan: &SelectPlan) -> Vec<(Vec<Value>, Vec<Value>)> {
    rows.into_iter()
        .map(|r| {
            let keys = plan
                .order
                .iter()
                .map(|(k, _, _)| {
                    output_key(k)
                        .and_then(|i| r.get(i).cloned())
                        .unwrap_or(Value::Null)
                })
                .collect();
            (r, keys)
        })
        .collect()
}

/// Estimated bytes of a key set (keys plus table overhead).
fn set_bytes(set: &KeySet) -> usize {
    set.len() * 48
}

/// The rows that pass `f`, and the estimated bytes of those that do not.
fn passing(
    rows: Vec<Vec<Value>>,
    f: &Expr,
    ectx: &EvalContext<'_>,
) -> Result<(Vec<Vec<Value>>, usize)> {
    let mut kept = Vec::with_capacity(rows.len());
    let mut dropped = 0;
    for r in rows {
        if f.passes(&r, ectx)? {
            kept.push(r);
        } else {
            dropped += row_bytes(&r);
        }
    }
    Ok((kept, dropped))
}

/// The memcomparable key of a whole row (NULLs included), for set operations.
pub(super) fn row_key(row: &[Value]) -> Vec<u8> {
    let mut k = Vec::new();
    append_key(&mut k, &row.iter().collect::<Vec<_>>());
    k
}

fn compare_rows(a: &[Value], b: &[Value]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = x.sort_cmp(y);
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}
