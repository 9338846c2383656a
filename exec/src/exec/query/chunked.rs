//! Scans read a chunk at a time ([`ChunkedScan`]), so that their reader can evaluate
//! expressions between chunks, over any access path (`access`); index lookups made for an
//! enclosing row go through the statement's memo (`memo`).

use std::ops::Bound;

use orbit_lsm::{Direction, Pairs};

use super::super::Ctx;
use super::access::{
    fetch_row, index_start, index_suffixes, interrupted, locked_get, scan_range, scan_rows_with,
    table_range, Access, KeyedRows,
};
use crate::catalog::TableDef;
use crate::error::Result;
use crate::expr::Expr;
use crate::row::decode_columns;
use crate::types::Value;

/// A scan read a chunk at a time, so that its reader can evaluate expressions between
/// chunks (a filter's subquery runs on the same statement context the scan borrows).
/// Full and range scans resume after the last key read; the transaction's snapshot keeps
/// the chunks consistent. Other access paths come back in one chunk. A locking scan finds
/// its rows in the snapshot and returns each as its lock leaves it (the latest version; one
/// gone since is skipped), so its filter is checked again on that version, as PostgreSQL
/// re-checks a row it locked.
pub struct ChunkedScan<'a> {
    access: &'a Access,
    /// The columns to decode (None: all).
    read: Option<&'a [bool]>,
    state: Chunked,
    /// A locking scan's filter and the columns it reads, seen on each row as the statement's
    /// snapshot has it before the row is locked: rows it drops are not locked (see
    /// [`ChunkedScan::locking_only`]).
    prefilter: Option<(&'a Expr, Vec<bool>)>,
    /// A locking full or range scan's next chunk locks at most this many rows, and the scan
    /// goes on after the last row it looked at (see [`ChunkedScan::set_lock_budget`]).
    lock_budget: usize,
    /// An index lookup for an enclosing row, read for the statement's memo.
    record: Option<super::memo::Recording>,
    /// Where a primary-key range lookup's iterator is kept for the next one (see
    /// [`ChunkedScan::looking_up`]).
    site: Option<usize>,
}

enum Chunked {
    Start,
    Next(Bound<Vec<u8>>, Bound<Vec<u8>>),
    /// A bitmap scan's ordinals not fetched yet.
    Ordinals(roaring::RoaringTreemap),
    /// A secondary index scan's entries whose rows are not fetched yet (their primary-key
    /// suffixes, in index order): fetched `max` at a time, so a consumer that stops early
    /// (EXISTS) does not fetch them all.
    Suffixes(std::collections::VecDeque<Vec<u8>>),
    /// An index lookup's rows from the statement's memo, and how many were given.
    Memo(std::sync::Arc<[super::memo::KeyedRow]>, usize),
    Done,
}

impl<'a> ChunkedScan<'a> {
    pub fn new(access: &'a Access, read: Option<&'a [bool]>) -> ChunkedScan<'a> {
        ChunkedScan {
            access,
            read,
            state: Chunked::Start,
            prefilter: None,
            lock_budget: usize::MAX,
            record: None,
            site: None,
        }
    }

    /// A range scan that is one of many lookups `site` (the plan node making them: any
    /// number that tells it apart) makes in turn: its iterator is kept in the statement's
    /// [`super::cursors::Cursors`] and moved to the next lookup's range. A range scan for an
    /// enclosing row does this without being asked, as the site of its access path.
    pub fn looking_up(mut self, site: usize) -> ChunkedScan<'a> {
        self.site = Some(site);
        self
    }

    /// A locking full or range scan's next chunk locks no more than `n` rows (at least one):
    /// a LIMIT's scan locks the rows it returns, not the rest of a chunk.
    pub fn set_lock_budget(&mut self, n: usize) {
        self.lock_budget = n.max(1);
    }

    /// A locking (FOR UPDATE) full or range scan locks only the rows `filter` keeps as the
    /// statement's snapshot has them, as PostgreSQL locks only the rows its scan returns; the
    /// caller applies the filter again to each row as its lock leaves it (the latest
    /// version), so a row changed since must still pass. Only a filter that evaluates without
    /// running a query (no subquery) over the table's `width` columns is used; with another,
    /// every row read is locked.
    pub fn locking_only(mut self, filter: Option<&'a Expr>, width: usize) -> ChunkedScan<'a> {
        self.prefilter = filter
            .filter(|f| f.parallel_safe())
            .and_then(|f| Some((f, f.column_mask(width)?)));
        self
    }

    /// The next rows (at most `max` from a full, range or secondary index scan), with their
    /// storage keys; None once the scan is complete.
    pub fn next(
        &mut self,
        ctx: &mut Ctx<'_>,
        table: &TableDef,
        for_update: bool,
        outer: &[Value],
        max: usize,
    ) -> Result<Option<KeyedRows>> {
        Ok(
            match self.next_stored(ctx, table, for_update, outer, max)? {
                None => None,
                Some(Stored::Rows(rows)) => Some(rows),
                Some(Stored::Shared(rows, range)) => {
                    Some(rows.get(range).unwrap_or_default().to_vec())
                }
                Some(Stored::Raw(raw)) => Some(
                    raw.iter()
                        .map(|(k, v)| Ok((k.to_vec(), decode_columns(table, v, self.read)?)))
                        .collect::<Result<_>>()?,
                ),
            },
        )
    }

    /// As [`ChunkedScan::next`], but a full or range scan's rows come back as stored, for
    /// the caller to decode once it has looked at them (after the statement context is
    /// released: a filter may run subqueries).
    pub fn next_stored(
        &mut self,
        ctx: &mut Ctx<'_>,
        table: &TableDef,
        for_update: bool,
        outer: &[Value],
        max: usize,
    ) -> Result<Option<Stored>> {
        loop {
            match self.next_stored_at(ctx, table, for_update, outer, max)? {
                // Every row of the chunk went before it was locked; the scan goes on.
                Some(Stored::Raw(raw)) if raw.is_empty() => continue,
                other => return Ok(other),
            }
        }
    }

    /// Adds an index lookup's fetched `rows` to its recording, and once the lookup has
    /// given every row (`done`) keeps them in the statement's memo, if the transaction's
    /// reads still see what they saw when it began.
    fn recorded(&mut self, ctx: &mut Ctx<'_>, rows: &[(Vec<u8>, Vec<Value>)], done: bool) {
        let Some(rec) = self.record.as_mut() else {
            return;
        };
        if !rec.add(rows) {
            self.record = None;
        } else if done {
            if let Some(rec) = self.record.take() {
                if ctx.txn.read_view() == Some(rec.view) {
                    ctx.lookups
                        .put(rec.view, rec.start, self.read, rec.rows, rec.bytes);
                }
            }
        }
    }

    fn next_stored_at(
        &mut self,
        ctx: &mut Ctx<'_>,
        table: &TableDef,
        for_update: bool,
        outer: &[Value],
        max: usize,
    ) -> Result<Option<Stored>> {
        let (start, end) = match std::mem::replace(&mut self.state, Chunked::Done) {
            Chunked::Done => return Ok(None),
            Chunked::Next(start, end) => (start, end),
            Chunked::Ordinals(mut left) => {
                let batch: Vec<u64> = left.iter().take(max.max(1)).collect();
                let Some(last) = batch.last().copied() else {
                    return Ok(None);
                };
                left.remove_range(..=last);
                self.state = Chunked::Ordinals(left);
                let rows =
                    super::super::bitmap_index::fetch(ctx, table, batch, for_update, self.read)?;
                return Ok(Some(Stored::Rows(rows)));
            }
            Chunked::Suffixes(mut left) => {
                let mut rows = Vec::new();
                while rows.len() < max.max(1) {
                    let Some(suffix) = left.pop_front() else {
                        break;
                    };
                    rows.extend(fetch_row(ctx, table, &suffix, for_update, self.read)?);
                }
                self.recorded(ctx, &rows, left.is_empty());
                if rows.is_empty() {
                    return Ok(None);
                }
                self.state = Chunked::Suffixes(left);
                return Ok(Some(Stored::Rows(rows)));
            }
            Chunked::Memo(rows, given) => {
                let end = rows.len().min(given.saturating_add(max.max(1)));
                if given >= end {
                    return Ok(None);
                }
                self.state = Chunked::Memo(rows.clone(), end);
                return Ok(Some(Stored::Shared(rows, given..end)));
            }
            Chunked::Start => {
                if let Access::Index { id, eq } = self.access {
                    let ectx = ctx.eval_context();
                    let ectx = ectx.with_outer(outer);
                    let Some(start) = index_start(table, *id, eq, &ectx)? else {
                        return Ok(None);
                    };
                    // A lookup for an enclosing row goes through the statement's memo.
                    let view = match (for_update, outer.is_empty()) {
                        (false, false) => ctx.txn.read_view(),
                        _ => None,
                    };
                    if let Some(view) = view {
                        if let Some(rows) = ctx.lookups.get(view, &start, self.read) {
                            self.state = Chunked::Memo(rows, 0);
                            return self.next_stored_at(ctx, table, for_update, outer, max);
                        }
                        self.record = Some(super::memo::Recording::new(view, start.clone()));
                    }
                    self.state = Chunked::Suffixes(index_suffixes(ctx, start)?.into());
                    return self.next_stored_at(ctx, table, for_update, outer, max);
                }
                if let Access::Bitmap(scan) = self.access {
                    let ectx = ctx.eval_context();
                    let ectx = ectx.with_outer(outer);
                    let ordinals = super::bitmap_scan::ordinals(ctx, table, scan, &ectx)?;
                    self.state = Chunked::Ordinals(ordinals);
                    return self.next_stored_at(ctx, table, for_update, outer, max);
                }
                if !matches!(self.access, Access::Full | Access::Range(..)) {
                    let rows = scan_rows_with(ctx, table, self.access, for_update, outer)?;
                    return Ok(Some(Stored::Rows(rows)));
                }
                match scan_range(ctx, table, self.access, outer)? {
                    Some(range) => range,
                    None => return Ok(None),
                }
            }
        };
        let (interrupts, engine) = (ctx.interrupts.clone(), ctx.engine);
        let mut out = Pairs::new();
        let site = match (self.access, for_update) {
            (Access::Range(..), false) => self.site.or_else(|| {
                (!outer.is_empty()).then_some(std::ptr::from_ref(self.access) as usize)
            }),
            _ => None,
        };
        let mut scan = match site {
            Some(site) => {
                let scope = || table_range(table);
                ctx.cursors
                    .open(ctx.txn, ctx.engine.data, site, scope, (start, end.clone()))?
            }
            None => ctx
                .txn
                .scan(ctx.engine.data, (start, end.clone()), Direction::Forward)?,
        };
        // In steps of 1024 pairs, the deadline looked at between them.
        while out.len() < max {
            let before = out.len();
            scan.fill(&mut out, max.min(before.saturating_add(1024)))?;
            if out.len() < before.saturating_add(1024).min(max) {
                break;
            }
            interrupted(engine, &interrupts)?;
        }
        if let Some(site) = site {
            ctx.cursors.keep(site, scan);
        }
        match out.last_key() {
            Some(k) if out.len() >= max => {
                self.state = Chunked::Next(Bound::Excluded(k.to_vec()), end.clone());
            }
            _ => {}
        }
        if for_update {
            let keep = match &self.prefilter {
                Some((f, cols)) => passing_at_snapshot(ctx, table, (f, cols), outer, &out)?,
                None => vec![true; out.len()],
            };
            // Each row as its lock leaves it: the latest version, or gone.
            let mut locked = Pairs::new();
            for ((k, _), keep) in out.iter().zip(keep) {
                if locked.len() >= self.lock_budget {
                    // Enough for now: the scan goes on after the last row looked at.
                    if let Some(last) = locked.last_key() {
                        self.state = Chunked::Next(Bound::Excluded(last.to_vec()), end.clone());
                    }
                    break;
                }
                if !keep {
                    continue;
                }
                if let Some(v) = locked_get(ctx, table, k)? {
                    locked.push(k, &v);
                }
            }
            out = locked;
            if out.is_empty() && matches!(self.state, Chunked::Next(..)) {
                return Ok(Some(Stored::Raw(out)));
            }
        }
        Ok((!out.is_empty()).then_some(Stored::Raw(out)))
    }
}

/// Which of `rows` (storage key, stored row) pass `filter` (reading the columns `cols`
/// flags) as stored.
fn passing_at_snapshot(
    ctx: &Ctx<'_>,
    table: &TableDef,
    (filter, cols): (&Expr, &[bool]),
    outer: &[Value],
    rows: &Pairs,
) -> Result<Vec<bool>> {
    let base = ctx.eval_context();
    let ectx = base.with_outer(outer);
    let mut scratch = Vec::new();
    rows.iter()
        .map(|(_, stored)| {
            crate::row::decode_columns_into(table, stored, Some(cols), &mut scratch)?;
            filter.passes(&scratch, &ectx)
        })
        .collect()
}

/// A chunk of a [`ChunkedScan`].
pub enum Stored {
    /// Decoded rows with their storage keys (lookups, index and bitmap scans).
    Rows(KeyedRows),
    /// (storage key, stored row) pairs of a full or range scan, not decoded yet.
    Raw(Pairs),
    /// Rows of an index lookup kept in the statement's memo (`memo`): the consumer copies
    /// only those its filter keeps.
    Shared(
        std::sync::Arc<[super::memo::KeyedRow]>,
        std::ops::Range<usize>,
    ),
}
