//! An aggregation of one table's scan on the statement's thread, folded from the stored rows
//! as column batches (`batch_agg`) instead of decoded rows: what the parallel path does per
//! piece (`parallel`), for scans too small for workers or with parallel query off.

use super::super::chunked::{ChunkedScan, Stored};
use super::super::from::TableSource;
use super::super::profile::Stage;
use super::super::Access;
use super::batch_agg::{groups_by_bytes, BatchAgg};
use super::{early, Runner, SCAN_CHUNK};
use crate::error::Result;
use crate::exec::agg::{AggPlan, Aggregator};
use crate::expr::{EvalContext, Expr};
use crate::memory::rows_bytes;
use crate::types::Value;

/// Whether the groups of `plan` come one after another in a scan of `t` (an aggregation of
/// it can then find each row's group by comparing with the last one): the scan reads the
/// table in primary-key order and the grouping keys are a prefix of the primary key, of
/// types whose equal values have equal stored bytes.
pub(super) fn comes_grouped(plan: &AggPlan, t: &TableSource) -> bool {
    if plan.sets.is_some()
        || plan.keys.is_empty()
        || !matches!(t.access, Access::Full | Access::Range(..))
    {
        return false;
    }
    let mut ids = Vec::new();
    for k in &plan.keys {
        let Expr::Column(i) = k else { return false };
        let Some(c) = t.table.columns.get(*i) else {
            return false;
        };
        if !groups_by_bytes(&c.ty) {
            return false;
        }
        if !ids.contains(&c.id) {
            ids.push(c.id);
        }
    }
    t.table
        .primary_key
        .get(..ids.len())
        .is_some_and(|prefix| prefix.iter().all(|id| ids.contains(id)))
}

impl Runner<'_, '_> {
    /// The groups of `plan` over the rows of `t` that pass its filter, and how many passed;
    /// None when the scan is not one to fold (a locking or vector-index scan, or aggregates
    /// the batches do not compute).
    pub(super) fn fold_scan(
        &self,
        plan: &AggPlan,
        t: &TableSource,
        outer: &[Value],
        ectx: &EvalContext<'_>,
    ) -> Result<Option<(Vec<Vec<Value>>, usize)>> {
        if t.for_update || matches!(t.access, super::super::Access::Ann(_)) {
            return Ok(None);
        }
        let Some(batch) = BatchAgg::compile(plan, &t.table) else {
            return Ok(None);
        };
        let mut scan = ChunkedScan::new(&t.access, t.read.as_deref());
        let mut decoder = early::Decoder::new(t);
        let mut state = if comes_grouped(plan, t) {
            Aggregator::new_grouped(plan)
        } else {
            Aggregator::new(plan)
        };
        let (started, mut passed, mut charged) = (self.clock(), 0, 0);
        loop {
            let chunk = {
                let mut ctx = self.ctx.borrow_mut();
                scan.next_stored(&mut ctx, &t.table, false, outer, SCAN_CHUNK)?
            };
            passed += match chunk {
                None => break,
                Some(Stored::Raw(raw)) => decoder.fold(&raw, ectx, &batch, &mut state)?,
                Some(Stored::Shared(rows, range)) => {
                    let kept = decoder.keep_shared(rows.get(range).unwrap_or_default(), ectx)?;
                    state.add(&kept, ectx)?;
                    kept.len()
                }
                Some(Stored::Rows(rows)) => {
                    let mut kept = Vec::with_capacity(rows.len());
                    for (key, r) in rows {
                        kept.extend(decoder.keep(&key, r, ectx)?);
                    }
                    state.add(&kept, ectx)?;
                    kept.len()
                }
            };
            self.mem.resize(charged, state.bytes())?;
            charged = state.bytes();
        }
        if let (Some(p), Some(t0)) = (&self.profile, started) {
            p.record(t, Stage::Source, passed, t0.elapsed());
        }
        let rows = state.finish(ectx)?;
        self.mem.release(charged);
        self.mem.charge(rows_bytes(&rows))?;
        Ok(Some((rows, passed)))
    }
}
