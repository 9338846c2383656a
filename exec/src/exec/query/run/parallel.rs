//! Parallel query: a table scan's key range is cut into pieces of about equal stored size
//! ([`orbit_txn::SharedScan`]), and up to `max_parallel_workers_per_gather + 1` of rayon's
//! threads take the pieces in turn. Each piece's rows go through the joins above the scan
//! (a hash join's right side is read and hashed once, before, and shared; an index nested
//! loop looks its right table up at the same snapshot), through a subquery in FROM that only
//! filters and projects, and then either into the piece's own aggregation (merged in key
//! order by [`Runner::parallel_aggregate`]; a hash aggregation is instead carried by its
//! thread from piece to piece, its groups stamped where first met and put back in that
//! order when the threads' aggregations are merged) or into the piece's rows (concatenated
//! in key order by [`Runner::parallel_rows`], for a consumer that holds them all: a join's
//! build side, a sort, grouping sets).
//!
//! Taken only when it gives the same answer as the statement's thread alone: the aggregates
//! combine from their states (`agg::mergeable`), every expression the workers evaluate is
//! [`Expr::parallel_safe`] but for uncorrelated subqueries (computed first, once: `hoist`),
//! the scan is a full or range scan neither locking nor returning storage keys, the joins'
//! output depends on each left row alone (inner, left, semi and anti joins, not LATERAL),
//! and the transaction has not written to the keyspace (the pieces read its snapshot alone;
//! lookups, which read outside the scanned range, not under SERIALIZABLE). Not for a plan
//! run per row of an enclosing query (a correlated or LATERAL subquery reads a few rows each
//! time). Pieces in key order give the rows, and the groups, in the order one thread meets
//! them. Sums of floating-point values may differ in the last digits, as under
//! PostgreSQL's parallel aggregation.
//!
//! Invariants: every key of the range is in exactly one piece; the workers read one snapshot
//! (the statement's); each worker charges what it holds to the server's query memory as it
//! grows and checks the statement's deadline between chunks (and within a chunk's joins);
//! an error stops the others, and the statement fails with the first error in piece order.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::super::access::{interrupted, scan_range, shared_lookup, KeyRange};
use super::super::from::{Join, JoinKind, Source, TableSource};
use super::super::lookup::Lookup;
use super::super::profile::Stage;
use super::super::Access;
use super::super::{Body, SelectBody, SelectPlan};
use super::batch_agg::BatchAgg;
use super::early::Decoder;
use super::hoist::{Hoist, Hoisted};
use super::join::{combine, lookup_rows, probe, Built, Flow, Out};
use super::key_filter::KeyFilter;
use super::passing;
use super::prefilter::{self, Prefilter};
use super::{Runner, SCAN_CHUNK};
use crate::error::{code, Error, Result};
use crate::exec::agg::{mergeable, AggPlan, Aggregator};
use crate::expr::{EvalContext, Expr};
use crate::memory::{rows_bytes, Charge};
use crate::session::parallel;
use crate::types::Value;
use orbit_txn::{PieceIter, SharedScan};

/// Pieces per thread: more pieces than threads even out pieces that take longer.
const PIECES_PER_THREAD: usize = 4;

/// What a parallel run reads: a table scan, the joins above it, bottom up, each with the
/// scan's side as its left (a hash join's right side is read whole first, on the
/// statement's thread, and probed by every worker; a lookup join's right table is looked up
/// by every worker), and a subquery over them that only filters and projects.
struct Chain<'s> {
    leaf: &'s TableSource,
    /// `Source::Join`s.
    joins: Vec<&'s Source>,
    /// Whether a join looks its right table up per left row (through the shared snapshot,
    /// outside the scanned range).
    lookups: bool,
    /// A subquery in FROM over the joins that only filters and projects their rows: its
    /// plan and the plan's SELECT.
    view: Option<(&'s SelectPlan, &'s SelectBody)>,
}

impl Chain<'_> {
    /// Whether an aggregation by `plan` meets its groups one after another (the scan alone,
    /// grouped by a prefix of its primary key: see `fold::comes_grouped`).
    fn grouped(&self, plan: &AggPlan) -> bool {
        self.joins.is_empty() && self.view.is_none() && super::fold::comes_grouped(plan, self.leaf)
    }
}

/// The chain an aggregation over `src` filtered by `filter` may be computed from in
/// parallel, if it may.
/// `safe` says whether the workers may evaluate an expression (see [`chain`]).
fn eligible<'s>(
    agg: &'s AggPlan,
    src: &'s Source,
    filter: Option<&'s Expr>,
    safe: Safe<'_, 's>,
) -> Option<Chain<'s>> {
    let ok = mergeable(agg)
        && agg.keys.iter().all(safe)
        && agg
            .aggs
            .iter()
            .all(|c| c.arg.as_ref().is_none_or(safe) && c.filter.as_ref().is_none_or(safe))
        && filter.is_none_or(safe);
    if ok {
        chain(src, safe)
    } else {
        None
    }
}

/// Whether the workers may evaluate an expression of the plan ([`Hoist::safe`]: what
/// [`Expr::parallel_safe`] allows, and uncorrelated subqueries, which it notes). Every
/// expression a worker evaluates is asked.
type Safe<'f, 's> = &'f dyn Fn(&'s Expr) -> bool;

/// The chain `src` may be run in parallel as, if it may (`safe`: see [`Safe`]).
fn chain<'s>(src: &'s Source, safe: Safe<'_, 's>) -> Option<Chain<'s>> {
    match src {
        Source::Table(t) => {
            let ok = matches!(t.access, Access::Full | Access::Range(..))
                && !t.for_update
                && !t.keyed
                && t.filter.as_ref().is_none_or(safe);
            ok.then(|| Chain {
                leaf: t,
                joins: Vec::new(),
                lookups: false,
                view: None,
            })
        }
        // A join whose output depends on each left row alone: no RIGHT or FULL join (their
        // unmatched right rows need every worker's matches), no LATERAL subquery (it runs on
        // the statement's context). Its right side is read whole and hashed, or its right
        // table looked up per left row.
        Source::Join(j) => {
            let lookup_ok = match (&j.lookup, &j.right) {
                (None, _) => true,
                (Some(_), Source::Table(t)) => {
                    !t.for_update
                        && !t.keyed
                        && t.filter.as_ref().is_none_or(safe)
                        && j.keys.iter().all(|(_, rk)| safe(rk))
                }
                (Some(_), _) => false,
            };
            let ok = !j.lateral
                && lookup_ok
                && matches!(
                    j.kind,
                    JoinKind::Inner | JoinKind::Left | JoinKind::Semi | JoinKind::Anti
                )
                && j.keys.iter().all(|(lk, _)| safe(lk))
                && j.on.as_ref().is_none_or(safe);
            if !ok {
                return None;
            }
            let mut c = chain(&j.left, safe)?;
            if c.view.is_some() {
                return None;
            }
            c.lookups |= j.lookup.is_some();
            c.joins.push(src);
            Some(c)
        }
        // A subquery that only filters and projects (TPC-H Q9's): its rows are made by the
        // workers as they go, as PostgreSQL pulls such a subquery up into its parent.
        Source::Derived {
            plan,
            captures,
            shared,
        } => {
            let Body::Select(b) = &plan.body else {
                return None;
            };
            let ok = captures.is_empty()
                && shared.is_none()
                && plan.order.is_empty()
                && plan.limit.is_none()
                && plan.offset.is_none()
                && super::limit::row_by_row(b)
                && b.filter.as_ref().is_none_or(safe)
                && b.projections.iter().all(safe);
            if !ok {
                return None;
            }
            let mut c = chain(&b.source, safe)?;
            if c.view.is_some() {
                return None;
            }
            c.view = Some((plan, b));
            Some(c)
        }
        _ => None,
    }
}

/// A view's rows made from `rows` (its FROM's): those that pass its WHERE, projected.
fn view_rows(
    body: &SelectBody,
    rows: Vec<Vec<Value>>,
    ectx: &EvalContext<'_>,
) -> Result<Vec<Vec<Value>>> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        if let Some(f) = &body.filter {
            if !f.passes(&r, ectx)? {
                continue;
            }
        }
        out.push(
            body.projections
                .iter()
                .map(|p| p.eval(&r, ectx))
                .collect::<Result<Vec<_>>>()?,
        );
    }
    Ok(out)
}

/// The join of a chain's `Source::Join`.
fn join_of(src: &Source) -> Result<&Join> {
    match src {
        Source::Join(j) => Ok(j),
        _ => Err(Error::new(
            code::INTERNAL_ERROR,
            "a parallel join chain without its join",
        )),
    }
}

/// How a worker finds a join's right rows for a left row.
#[derive(Clone, Copy)]
enum Probe<'a> {
    /// In the right side, read whole and hashed once.
    Hash(&'a Built),
    /// By looking the right table up, through the shared snapshot.
    Lookup(&'a Lookup, &'a TableSource),
}

/// Hands `rows` (a chunk of the left side of `levels`' first join) through the joins and
/// their output to `end`, a chunk at a time; counts each join's output rows in `produced`.
fn through(
    levels: &[(&Join, Probe<'_>)],
    shared: &SharedScan,
    (counts, cursors): (&mut [Counts], &mut [Option<PieceIter>]),
    mut rows: Vec<Vec<Value>>,
    ectx: &EvalContext<'_>,
    go_on: &dyn Fn() -> Result<bool>,
    end: &mut dyn FnMut(Vec<Vec<Value>>) -> Result<()>,
) -> Result<()> {
    let (Some(((j, how), rest)), Some((count, below)), Some((cursor, cursors))) = (
        levels.split_first(),
        counts.split_first_mut(),
        cursors.split_first_mut(),
    ) else {
        return end(rows);
    };
    let mut looked = (0, 0);
    let mut next = |chunk: Vec<Vec<Value>>| {
        count.produced += chunk.len();
        through(
            rest,
            shared,
            (below, &mut *cursors),
            chunk,
            ectx,
            go_on,
            end,
        )?;
        Ok(Flow::Continue(()))
    };
    let mut out = Out::new(j, &mut next);
    for (n, l) in rows.iter_mut().enumerate() {
        // A fanning-out join checks the deadline and the other workers as the scan does.
        if n % 256 == 255 && !go_on()? {
            return Ok(());
        }
        match how {
            Probe::Hash(built) => probe(j, built, l, &mut [], ectx, &mut out)?,
            Probe::Lookup(lookup, t) => {
                let found = lookup_rows(j, lookup, t, l, ectx, |access, want| {
                    let read = t.read.as_deref();
                    shared_lookup(shared, &t.table, &access, ectx, (want, read), cursor)
                })?;
                looked.0 += 1;
                looked.1 += found.len();
                let candidates = found.iter().enumerate().map(|(i, r)| (i, r.as_slice()));
                combine(j, l, candidates, &mut [], ectx, &mut out)?;
            }
        }
    }
    let done = out.finish();
    count.lookups += looked.0;
    count.found += looked.1;
    done
}

/// What one join of a chain did in one piece (for EXPLAIN ANALYZE).
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    /// Rows it produced.
    produced: usize,
    /// Lookups of its right table, and the rows they found.
    lookups: usize,
    found: usize,
}

/// What a parallel run makes of the rows it reads.
#[derive(Clone, Copy)]
enum Goal<'p> {
    /// Their aggregation: each piece's groups, merged by the caller.
    Aggregate(&'p AggPlan),
    /// The rows themselves, concatenated by the caller in piece order.
    Collect,
}

/// What one piece's worker hands back: its aggregation or its rows, the rows it kept, the
/// rows its scan, each join and the view produced, and the memory charged for what it holds
/// (returned once the caller has taken it over).
struct Piece<'p, 'm> {
    agg: Option<Aggregator<'p>>,
    rows: Vec<Vec<Value>>,
    passed: usize,
    scanned: usize,
    produced: Vec<Counts>,
    /// Rows of the view, if any.
    viewed: usize,
    charge: Charge<'m>,
}

impl<'p, 'm> Piece<'p, 'm> {
    /// A piece's result before its rows: `agg`, `joins` joins' counts at 0, holding `charge`.
    fn empty(agg: Option<Aggregator<'p>>, joins: usize, charge: Charge<'m>) -> Piece<'p, 'm> {
        Piece {
            agg,
            rows: Vec::new(),
            passed: 0,
            scanned: 0,
            produced: vec![Counts::default(); joins],
            viewed: 0,
            charge,
        }
    }
}

impl Runner<'_, '_> {
    /// The aggregation of `src` (filtered by `filter`) computed in parallel, with the number
    /// of rows aggregated; None when it is not to be (see the module doc): the caller then
    /// aggregates on this thread.
    pub(super) fn parallel_aggregate<'s>(
        &self,
        agg: &'s AggPlan,
        src: &'s Source,
        filter: Option<&'s Expr>,
        outer: &[Value],
        ectx: &EvalContext<'_>,
    ) -> Result<Option<(Vec<Vec<Value>>, usize)>> {
        let hoist = Hoist::default();
        let Some(chain) = eligible(agg, src, filter, &|e| hoist.safe(e)) else {
            return Ok(None);
        };
        let goal = Goal::Aggregate(agg);
        let Some(done) = self.parallel(goal, &chain, &hoist, filter, outer, ectx)? else {
            return Ok(None);
        };
        // Merged in key order: the groups come out in the order one thread meets them (a
        // hash aggregation's, carried from piece to piece, by their stamps). The first
        // is the state the others merge into, so that its stamps are kept.
        let mut state: Option<Aggregator<'_>> = None;
        let mut passed = 0;
        let mut charged = 0;
        for piece in done {
            passed += piece.passed;
            if let Some(a) = piece.agg {
                let s = match &mut state {
                    Some(s) => {
                        s.merge(a)?;
                        s
                    }
                    None => state.insert(a),
                };
                s.seal(ectx)?;
            }
            let bytes = state.as_ref().map_or(0, Aggregator::bytes);
            self.mem.resize(charged, bytes)?;
            charged = bytes;
            drop(piece.charge);
        }
        let state = match state {
            Some(s) => s,
            None if chain.grouped(agg) => Aggregator::new_grouped(agg),
            None => Aggregator::new(agg),
        };
        let rows = state.finish(ectx)?;
        self.mem.release(charged);
        self.mem.charge(rows_bytes(&rows))?;
        Ok(Some((rows, passed)))
    }

    /// The rows of `src` (a table scan, or joins over one) read in parallel, in the order
    /// one thread reads them, charged to the statement; None when it is not to be (see the
    /// module doc).
    pub(super) fn parallel_rows(
        &self,
        src: &Source,
        outer: &[Value],
        ectx: &EvalContext<'_>,
    ) -> Result<Option<Vec<Vec<Value>>>> {
        let hoist = Hoist::default();
        let Some(chain) = chain(src, &|e| hoist.safe(e)).filter(|c| c.view.is_none()) else {
            return Ok(None);
        };
        let Some(done) = self.parallel(Goal::Collect, &chain, &hoist, None, outer, ectx)? else {
            return Ok(None);
        };
        let total = done.iter().map(|p| p.rows.len()).sum();
        let mut rows = Vec::with_capacity(total);
        for piece in done {
            // The piece's charge moves to the statement.
            let held = piece.charge.held();
            drop(piece.charge);
            self.mem.charge(held)?;
            rows.extend(piece.rows);
        }
        Ok(Some(rows))
    }

    /// Runs `chain` in parallel for `goal` (see the module doc): each piece's result, in
    /// piece order; None when the settings, the transaction or the table's size say not to,
    /// or when an uncorrelated subquery `hoist` noted fails (`hoist`).
    fn parallel<'p>(
        &self,
        goal: Goal<'p>,
        chain: &Chain<'_>,
        hoist: &Hoist<'_>,
        filter: Option<&Expr>,
        outer: &[Value],
        ectx: &EvalContext<'_>,
    ) -> Result<Option<Vec<Piece<'p, '_>>>> {
        let (threads, min_bytes) = {
            let ctx = self.ctx.borrow();
            (
                parallel::degree(ctx.settings, rayon::current_num_threads()),
                parallel::min_scan_bytes(ctx.settings),
            )
        };
        // A plan run per row of an enclosing query (a correlated subquery, a LATERAL one)
        // reads a few rows each time: cutting its range would cost more than it saves.
        if threads < 2 || !outer.is_empty() {
            return Ok(None);
        }
        let started = self.clock();
        let (shared, split) = {
            let mut ctx = self.ctx.borrow_mut();
            let t = chain.leaf;
            let keyspace = ctx.engine.data;
            // Lookups read outside the scanned range, which is all a SERIALIZABLE
            // transaction's shared scan registers as read; a transaction's own writes would
            // have to be merged into every piece.
            if (chain.lookups && ctx.txn.isolation() == orbit_txn::Isolation::Serializable)
                || ctx.txn.has_writes_in(keyspace)
            {
                return Ok(None);
            }
            let Some(range) = scan_range(&ctx, &t.table, &t.access, outer)? else {
                return Ok(None);
            };
            // Cut first: only a scan that goes parallel registers its range as read here.
            let split = ctx.engine.txn_db().db().split_keys(
                keyspace,
                &range,
                threads * PIECES_PER_THREAD,
            )?;
            if split.bytes < min_bytes || split.cuts.is_empty() {
                return Ok(None);
            }
            let Some(shared) = ctx.txn.shared_scan(keyspace, range)? else {
                return Ok(None);
            };
            (shared, split)
        };
        let Some(hoisted) = self.hoisted(hoist) else {
            return Ok(None);
        };
        let job = Job {
            goal,
            chain,
            shared: &shared,
            hoisted: &hoisted,
            filter,
            outer,
            params: ectx.params,
            names: (ectx.user, ectx.database, ectx.schema),
            clock: (ectx.now, ectx.statement_now, ectx.pid),
        };
        // The hash joins' right sides, read and hashed once (the serial path's order: the
        // top join's first), released at the end.
        let mut built = Vec::with_capacity(chain.joins.len());
        let mut result = Ok(Vec::new());
        for src in chain.joins.iter().rev() {
            let b = join_of(src).and_then(|j| match j.lookup {
                Some(_) => Ok(None),
                None => self.build(j, outer, ectx).map(Some),
            });
            match b {
                Ok(b) => built.push(b),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        built.reverse();
        let pieces = pieces(shared.range(), split.cuts);
        // Workers launched, as PostgreSQL counts them: started, whether or not the others
        // left them a piece (a short scan's first worker may take them all).
        let workers = threads.min(pieces.len());
        if result.is_ok() {
            result = self.run_pieces(&job, &built, pieces, workers);
        }
        for b in built.iter().flatten() {
            self.mem.release(rows_bytes(&b.right) + b.index_bytes);
        }
        let done = result?;
        if let (Some(p), Some(t0)) = (&self.profile, started) {
            let time = t0.elapsed();
            let sum = |f: &dyn Fn(&Piece<'_, '_>) -> usize| done.iter().map(f).sum::<usize>();
            p.record(chain.leaf, Stage::Source, sum(&|p| p.scanned), time);
            p.record_workers(chain.leaf, Stage::Source, workers);
            for (i, src) in chain.joins.iter().enumerate() {
                let count = |f: &dyn Fn(&Counts) -> usize| sum(&|p| p.produced.get(i).map_or(0, f));
                p.record(*src, Stage::Source, count(&|c| c.produced), time);
                // A lookup join's right table: its rows found, over its lookups.
                if let Ok(Join {
                    lookup: Some(_),
                    right: Source::Table(t),
                    ..
                }) = join_of(src)
                {
                    let lookups = count(&|c| c.lookups);
                    p.record_loops(t.as_ref(), count(&|c| c.found), lookups, time);
                }
            }
            if let Some((plan, body)) = chain.view {
                let viewed = sum(&|p| p.viewed);
                if body.filter.is_some() {
                    p.record(body, Stage::Filtered, viewed, time);
                }
                p.record(plan, Stage::Output, viewed, time);
            }
        }
        Ok(Some(done))
    }

    /// Runs `job` over `pieces` on `workers` threads: each piece's scan, joins, filter and
    /// aggregation, in piece order.
    fn run_pieces<'p>(
        &self,
        job: &Job<'p, '_, '_>,
        built: &[Option<Built>],
        pieces: Vec<KeyRange>,
        workers: usize,
    ) -> Result<Vec<Piece<'p, '_>>> {
        let (interrupts, engine) = {
            let ctx = self.ctx.borrow();
            (ctx.interrupts.clone(), ctx.engine)
        };
        let memory = &engine.query_memory;
        let levels = job
            .chain
            .joins
            .iter()
            .zip(built)
            .map(|(src, b)| {
                let j = join_of(src)?;
                let how = match (b, &j.lookup, &j.right) {
                    (Some(b), _, _) => Probe::Hash(b),
                    (None, Some(lookup), Source::Table(t)) => Probe::Lookup(lookup, t),
                    _ => {
                        return Err(Error::new(
                            code::INTERNAL_ERROR,
                            "a parallel join without its right side",
                        ))
                    }
                };
                Ok((j, how))
            })
            .collect::<Result<Vec<_>>>()?;
        let stop = AtomicBool::new(false);
        // A hash aggregation goes on from piece to piece on its thread (`carried`, with
        // its charge), its groups stamped where first met (`Aggregator::start_piece`): one
        // aggregation per thread to merge, not one per piece, each holding most of the
        // groups when there are many.
        let work = |i: usize, piece: KeyRange, carried| -> Result<Piece<'p, '_>> {
            let carried: Option<(Aggregator<'p>, Charge<'_>)> = carried;
            let ectx = job.ectx();
            let (agg, charge) = match (job.goal, carried) {
                (Goal::Aggregate(plan), _) if job.chain.grouped(plan) => {
                    (Some(Aggregator::new_grouped(plan)), Charge::new(memory))
                }
                (Goal::Aggregate(_), Some((mut agg, charge))) => {
                    agg.start_piece(i);
                    (Some(agg), charge)
                }
                (Goal::Aggregate(plan), None) => {
                    let mut agg = Aggregator::new(plan);
                    agg.start_piece(i);
                    (Some(agg), Charge::new(memory))
                }
                (Goal::Collect, _) => (None, Charge::new(memory)),
            };
            let mut out = Piece::empty(agg, levels.len(), charge);
            let mut decoder = Decoder::new(job.chain.leaf);
            // An aggregation of the scan alone folds its chunks as column batches.
            let batch = match job.goal {
                Goal::Aggregate(plan)
                    if levels.is_empty() && job.chain.view.is_none() && job.filter.is_none() =>
                {
                    BatchAgg::compile(plan, &job.chain.leaf.table)
                }
                _ => None,
            };
            let mut rows = job.shared.scan(piece)?;
            let mut raw = orbit_lsm::Pairs::new();
            // The first join's built side drops stored rows without a match undecoded.
            let mut key_filter = match levels.first() {
                Some((j, Probe::Hash(b))) => KeyFilter::new(j, b, &job.chain.leaf.table),
                _ => None,
            };
            let mut pre = Prefilter::new(job.chain.leaf, &ectx);
            // Each lookup join's iterator, kept from one lookup to the next.
            let mut cursors: Vec<Option<PieceIter>> = levels.iter().map(|_| None).collect();
            // Whether to go on: not once another worker failed; an error past the deadline
            // or once the server shuts down.
            let go_on = || -> Result<bool> {
                interrupted(engine, &interrupts)?;
                Ok(!stop.load(Ordering::Relaxed))
            };
            loop {
                if !go_on()? {
                    return Ok(out);
                }
                // Rows the scan's filter fails or the join cannot use are dropped uncopied;
                // the latter count as the scan's (its filter's failures, as ever, do not).
                let (looked, unjoinable) = prefilter::fill(
                    &mut rows,
                    &mut raw,
                    SCAN_CHUNK,
                    pre.as_mut(),
                    key_filter.as_mut(),
                )?;
                if looked == 0 {
                    return Ok(out);
                }
                out.scanned += unjoinable;
                if let (Some(batch), Some(agg)) = (&batch, &mut out.agg) {
                    let passed = decoder.fold(&raw, &ectx, batch, agg)?;
                    out.scanned += passed;
                    out.passed += passed;
                    out.charge
                        .charge(agg.bytes().saturating_sub(out.charge.held()))?;
                    continue;
                }
                let chunk = decoder.rows(&raw, &ectx)?;
                out.scanned += chunk.len();
                let (agg, kept, passed, viewed, charge) = (
                    &mut out.agg,
                    &mut out.rows,
                    &mut out.passed,
                    &mut out.viewed,
                    &out.charge,
                );
                through(
                    &levels,
                    job.shared,
                    (&mut out.produced, &mut cursors),
                    chunk,
                    &ectx,
                    &go_on,
                    &mut |mut chunk: Vec<Vec<Value>>| {
                        if let Some((_, body)) = job.chain.view {
                            chunk = view_rows(body, chunk, &ectx)?;
                            *viewed += chunk.len();
                        }
                        if let Some(f) = job.filter {
                            chunk = passing(chunk, f, &ectx)?.0;
                        }
                        *passed += chunk.len();
                        match agg {
                            Some(agg) => {
                                agg.add(&chunk, &ectx)?;
                                charge.charge(agg.bytes().saturating_sub(charge.held()))
                            }
                            None => {
                                charge.charge(rows_bytes(&chunk))?;
                                kept.extend(chunk);
                                Ok(())
                            }
                        }
                    },
                )?;
            }
        };
        // `workers` tasks take the pieces in turn; each piece's result goes to its slot.
        let next = AtomicUsize::new(0);
        let slots: Vec<Mutex<Option<Result<Piece<'p, '_>>>>> =
            pieces.iter().map(|_| Mutex::new(None)).collect();
        // The threads' carried aggregations, once they have taken their last piece.
        let carried = Mutex::new(Vec::new());
        let carries = matches!(job.goal, Goal::Aggregate(plan) if !job.chain.grouped(plan));
        rayon::scope(|s| {
            for _ in 0..workers {
                s.spawn(|_| {
                    let mut held = None;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let (Some(piece), Some(slot)) = (pieces.get(i), slots.get(i)) else {
                            break;
                        };
                        let mut done = work(i, piece.clone(), held.take());
                        match &mut done {
                            Ok(p) if carries => {
                                let charge = std::mem::replace(&mut p.charge, Charge::new(memory));
                                held = p.agg.take().map(|a| (a, charge));
                            }
                            Ok(_) => {}
                            Err(_) => stop.store(true, Ordering::Relaxed),
                        }
                        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(done);
                    }
                    if let Some(h) = held {
                        carried.lock().unwrap_or_else(|p| p.into_inner()).push(h);
                    }
                });
            }
        });
        let mut done = Vec::with_capacity(slots.len() + workers);
        // The carried aggregations come last, as pieces of their own (merged in any order:
        // their stamps give the groups' order).
        let mut carried = carried.into_inner().unwrap_or_else(|p| p.into_inner());
        for slot in slots {
            match slot.into_inner().unwrap_or_else(|p| p.into_inner()) {
                Some(piece) => done.push(piece?),
                None => {
                    return Err(Error::new(
                        code::INTERNAL_ERROR,
                        "a parallel scan lost a piece",
                    ))
                }
            }
        }
        for (agg, charge) in carried.drain(..) {
            done.push(Piece::empty(Some(agg), levels.len(), charge));
        }
        Ok(done)
    }
}

/// A parallel run's goal and inputs, shared by its threads.
struct Job<'p, 'e, 'c> {
    goal: Goal<'p>,
    chain: &'e Chain<'c>,
    shared: &'e SharedScan,
    /// The uncorrelated subqueries' results: the workers' subquery runner.
    hoisted: &'e Hoisted,
    filter: Option<&'e Expr>,
    outer: &'e [Value],
    /// The statement's parameters, user, database, schema and clock (its context's parts a
    /// worker's context takes: not its subquery runner or catalog).
    params: &'e [Value],
    names: (&'e str, &'e str, &'e str),
    /// now(), statement_timestamp() and pg_backend_pid().
    clock: (i64, i64, i32),
}

impl<'e> Job<'_, 'e, '_> {
    /// A worker's evaluation context.
    fn ectx(&self) -> EvalContext<'e> {
        let (user, database, schema) = self.names;
        let (now, statement_now, pid) = self.clock;
        EvalContext {
            params: self.params,
            user,
            database,
            schema,
            now,
            statement_now,
            pid,
            sys: None,
            outer: self.outer,
            exec: Some(self.hoisted),
        }
    }
}

/// `range` cut at `cuts` (ascending, each strictly inside it) into consecutive pieces.
fn pieces(range: &KeyRange, cuts: Vec<Vec<u8>>) -> Vec<KeyRange> {
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut lower = range.0.clone();
    for cut in cuts {
        out.push((lower, std::ops::Bound::Excluded(cut.clone())));
        lower = std::ops::Bound::Included(cut);
    }
    out.push((lower, range.1.clone()));
    out
}
