//! Parallel aggregation over a table scan: the scan's key range is cut into pieces of about
//! equal stored size ([`orbit_txn::SharedScan`]), up to `max_parallel_workers_per_gather + 1`
//! of rayon's threads take the pieces in turn and each scans, filters and aggregates its own, and the pieces' aggregations are merged in key order.
//!
//! Taken only when it gives the same answer as the scan on the statement's thread: the
//! aggregates combine from their states alone (`agg::mergeable`), every expression the
//! workers evaluate is [`Expr::parallel_safe`], the scan is a full or range scan neither
//! locking nor returning storage keys, and the transaction has not written to the table's
//! keyspace (the pieces read its snapshot alone). Merging in key order keeps the groups in
//! the order the one-thread scan meets them. Sums of floating-point values may differ in
//! the last digits, as under PostgreSQL's parallel aggregation.
//!
//! Invariants: every key of the range is in exactly one piece; the workers read one snapshot
//! (the statement's); each worker charges its groups to the server's query memory as they
//! grow and checks the statement's deadline between chunks; the first error stops the others.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::super::access::{scan_range, timeout, KeyRange};
use super::super::from::{Source, TableSource};
use super::super::profile::Stage;
use super::super::Access;
use super::early::Decoder;
use super::{Runner, SCAN_CHUNK};
use crate::error::{code, Error, Result};
use crate::exec::agg::{mergeable, AggPlan, Aggregator};
use crate::expr::{EvalContext, Expr};
use crate::memory::{rows_bytes, Charge};
use crate::session::parallel;
use crate::types::Value;

/// Pieces per thread: more pieces than threads even out pieces that take longer.
const PIECES_PER_THREAD: usize = 4;

/// The table an aggregation over `src` filtered by `filter` may be computed from in
/// parallel, if it may.
fn eligible<'s>(agg: &AggPlan, src: &'s Source, filter: Option<&Expr>) -> Option<&'s TableSource> {
    let Source::Table(t) = src else { return None };
    let safe = |e: &Expr| e.parallel_safe();
    let ok = matches!(t.access, Access::Full | Access::Range(..))
        && !t.for_update
        && !t.keyed
        && mergeable(agg)
        && agg.keys.iter().all(safe)
        && agg
            .aggs
            .iter()
            .all(|c| c.arg.as_ref().is_none_or(safe) && c.filter.as_ref().is_none_or(safe))
        && t.filter.as_ref().is_none_or(safe)
        && filter.is_none_or(safe);
    ok.then_some(t)
}

/// What one piece's worker hands back: its aggregation, the rows it aggregated, and the
/// memory charged for its groups (returned once merged).
struct Piece<'p, 'm> {
    agg: Aggregator<'p>,
    passed: usize,
    charge: Charge<'m>,
}

impl Runner<'_, '_> {
    /// The aggregation of `src` (filtered by `filter`) computed in parallel, with the number
    /// of rows aggregated; None when it is not to be (see the module doc): the caller then
    /// aggregates on this thread.
    pub(super) fn parallel_aggregate(
        &self,
        agg: &AggPlan,
        src: &Source,
        filter: Option<&Expr>,
        outer: &[Value],
        ectx: &EvalContext<'_>,
    ) -> Result<Option<(Vec<Vec<Value>>, usize)>> {
        let (threads, min_bytes) = {
            let ctx = self.ctx.borrow();
            (
                parallel::degree(ctx.settings, rayon::current_num_threads()),
                parallel::min_scan_bytes(ctx.settings),
            )
        };
        let Some(t) = eligible(agg, src, filter).filter(|_| threads > 1) else {
            return Ok(None);
        };
        let started = self.clock();
        let (shared, deadline, engine) = {
            let mut ctx = self.ctx.borrow_mut();
            let Some(range) = scan_range(&ctx, &t.table, &t.access, outer)? else {
                return Ok(None);
            };
            let keyspace = ctx.engine.data;
            let Some(shared) = ctx.txn.shared_scan(keyspace, range)? else {
                return Ok(None);
            };
            (shared, ctx.deadline, ctx.engine)
        };
        let split = shared.split(threads * PIECES_PER_THREAD)?;
        if split.bytes < min_bytes || split.cuts.is_empty() {
            return Ok(None);
        }
        let pieces = pieces(shared.range(), split.cuts);
        let stop = AtomicBool::new(false);
        let (params, user, database, schema, now) =
            (ectx.params, ectx.user, ectx.database, ectx.schema, ectx.now);
        let memory = &engine.query_memory;
        let work = |piece: KeyRange| -> Result<Piece<'_, '_>> {
            let ectx = EvalContext {
                params,
                user,
                database,
                schema,
                now,
                sys: None,
                outer,
                exec: None,
            };
            let mut out = Piece {
                agg: Aggregator::new(agg),
                passed: 0,
                charge: Charge::new(memory),
            };
            let mut decoder = Decoder::new(t);
            let mut rows = shared.scan(piece)?;
            loop {
                if stop.load(Ordering::Relaxed) {
                    return Ok(out);
                }
                if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                    return Err(timeout());
                }
                let raw = rows
                    .by_ref()
                    .take(SCAN_CHUNK)
                    .collect::<orbit_txn::Result<Vec<_>>>()?;
                if raw.is_empty() {
                    return Ok(out);
                }
                let mut chunk = decoder.rows(raw, &ectx)?;
                if let Some(f) = filter {
                    let mut kept = Vec::with_capacity(chunk.len());
                    for r in chunk {
                        if f.passes(&r, &ectx)? {
                            kept.push(r);
                        }
                    }
                    chunk = kept;
                }
                out.passed += chunk.len();
                out.agg.add(&chunk, &ectx)?;
                out.charge
                    .charge(out.agg.bytes().saturating_sub(out.charge.held()))?;
            }
        };
        // `threads` tasks take the pieces in turn; each piece's result goes to its slot.
        let next = AtomicUsize::new(0);
        let slots: Vec<Mutex<Option<Result<Piece<'_, '_>>>>> =
            pieces.iter().map(|_| Mutex::new(None)).collect();
        rayon::scope(|s| {
            for _ in 0..threads {
                s.spawn(|_| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let (Some(piece), Some(slot)) = (pieces.get(i), slots.get(i)) else {
                        return;
                    };
                    let done = work(piece.clone());
                    if done.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(done);
                });
            }
        });
        let mut done = Vec::with_capacity(slots.len());
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
        let mut state = Aggregator::new(agg);
        let mut passed = 0;
        let mut charged = 0;
        for piece in done {
            passed += piece.passed;
            state.merge(piece.agg)?;
            self.mem.charge(state.bytes().saturating_sub(charged))?;
            charged = state.bytes();
            drop(piece.charge);
        }
        if let (Some(p), Some(t0)) = (&self.profile, started) {
            p.record(t, Stage::Source, passed, t0.elapsed());
            p.record_workers(t, Stage::Source, threads);
        }
        let rows = state.finish(ectx)?;
        self.mem.release(charged);
        self.mem.charge(rows_bytes(&rows))?;
        Ok(Some((rows, passed)))
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
