//! A table scan's filter run on each stored row where it lies, before the row is copied.
//!
//! A parallel scan copies its stored rows out of their blocks a chunk at a time, and the
//! filter's compiled terms (`batch_filter`) then drop those that fail. When most fail (TPC-H
//! Q6 keeps 2% of lineitem, Q14 1%, Q12 half a percent), most of the copying is wasted:
//! the terms first run on each row in its block ([`BatchFilter::row_verdict`]), and only the
//! rows no term fails are copied, with the key filter of a join above asked too
//! (`key_filter`). The chunk's own pass then runs as before over the rows kept, so what
//! comes out is exactly what it would have been: a row is dropped here only where a term
//! fails, as the chunk's pass would drop it.
//!
//! A scan whose rows mostly pass stops filtering here (each row would be looked at twice).

use orbit_lsm::Pairs;

use super::super::from::TableSource;
use super::batch_filter::{BatchFilter, Verdict};
use super::key_filter::KeyFilter;
use crate::error::Result;
use crate::expr::EvalContext;

/// Rows looked at before the pass rate decides whether to go on.
const TRIAL_ROWS: usize = 4096;

/// How many rows a filter of stored rows looked at and kept: it is worth asking while it
/// drops most (this one and `key_filter`'s).
#[derive(Default)]
pub(super) struct PassRate {
    seen: usize,
    kept: usize,
}

impl PassRate {
    /// Whether to go on filtering: within the first rows, or while under half pass.
    pub(super) fn worth_it(&self) -> bool {
        self.seen < TRIAL_ROWS || self.kept * 2 < self.seen
    }

    /// Counts a row looked at; returns `keep`.
    pub(super) fn count(&mut self, keep: bool) -> bool {
        self.seen += 1;
        self.kept += usize::from(keep);
        keep
    }
}

/// See the module doc.
pub(super) struct Prefilter {
    filter: BatchFilter,
    rate: PassRate,
}

impl Prefilter {
    /// The prefilter of table scan `t`, if its filter has terms that compile.
    pub(super) fn new(t: &TableSource, ectx: &EvalContext<'_>) -> Option<Prefilter> {
        let filter = BatchFilter::compile(&t.table, t.filter.as_ref()?, ectx)?;
        Some(Prefilter {
            filter,
            rate: PassRate::default(),
        })
    }

    /// Whether it still filters (it stops once most rows pass).
    pub(super) fn active(&self) -> bool {
        self.rate.worth_it()
    }

    /// False when a term fails row `stored`.
    fn keeps(&mut self, stored: &[u8]) -> bool {
        let keep = self.filter.row_verdict(stored) != Verdict::Fail;
        self.rate.count(keep)
    }
}

/// Empties `out` and fills it from the next `max` rows of `rows`, leaving uncopied the rows
/// the active filters drop: the scan's (`pre`), then a join's key filter (`keys`). Returns
/// how many rows were looked at (0 at the end), and how many of them the key filter dropped
/// (rows the scan yields: EXPLAIN ANALYZE counts them as its).
pub(super) fn fill(
    rows: &mut orbit_txn::PieceIter,
    out: &mut Pairs,
    max: usize,
    pre: Option<&mut Prefilter>,
    keys: Option<&mut KeyFilter<'_>>,
) -> Result<(usize, usize)> {
    out.clear();
    let mut pre = pre.filter(|p| p.active());
    let mut keys = keys.filter(|k| k.active());
    if pre.is_none() && keys.is_none() {
        rows.fill(out, max)?;
        return Ok((out.len(), 0));
    }
    let mut unjoinable = 0;
    let looked = rows.fill_where(out, max, |_, stored| {
        if !pre.as_mut().is_none_or(|p| p.keeps(stored)) {
            return false;
        }
        let join = keys.as_mut().is_none_or(|k| k.keeps(stored));
        unjoinable += usize::from(!join);
        join
    })?;
    Ok((looked, unjoinable))
}
