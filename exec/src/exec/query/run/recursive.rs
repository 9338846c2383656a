//! Running a `WITH RECURSIVE` query: its anchor, then its step over the previous
//! iteration's rows (the work table) until a step adds nothing, or until the rows a LIMIT
//! over it needs are there.
//!
//! Invariant: the work table of a running recursive query is in `Runner::work` only while
//! its step runs, and charged to the statement while held.

use std::sync::Arc;

use super::super::Recursive;
use super::{row_key, Runner};
use crate::error::Result;
use crate::memory::rows_bytes;
use crate::types::Value;

impl Runner<'_, '_> {
    /// The rows of a recursive query (see `recursive`), cast to its `columns`' types. When
    /// the query only takes its first rows (`SELECT ... FROM t LIMIT n`: `limit::limits_recursion`),
    /// iterations stop once there are enough, as PostgreSQL's lazy evaluation stops them (so
    /// `LIMIT` ends a recursion that would not end by itself).
    pub(super) fn recursive(
        &self,
        r: &Recursive,
        columns: &[crate::exec::Column],
        outer: &[Value],
    ) -> Result<Vec<Vec<Value>>> {
        let cap = self.recursion_cap.take().unwrap_or(usize::MAX);
        let mut seen = std::collections::HashSet::new();
        let mut fresh = |rows: Vec<Vec<Value>>| -> Result<Vec<Vec<Value>>> {
            let mut rows = super::super::setop::cast_rows(rows, columns)?;
            if !r.all {
                rows.retain(|row| seen.insert(row_key(row)));
            }
            Ok(rows)
        };
        let mut out = fresh(self.run(&r.anchor, outer)?)?;
        out.truncate(cap);
        let mut working = out.clone();
        self.mem.charge(rows_bytes(&working))?;
        let result = loop {
            if working.is_empty() || out.len() >= cap {
                break Ok(());
            }
            if let Err(e) = self.check_deadline() {
                break Err(e);
            }
            let held = rows_bytes(&working);
            self.work.borrow_mut().insert(r.id, Arc::new(working));
            let step = self.run(&r.step, outer);
            // The previous iteration's rows are done with.
            self.work.borrow_mut().remove(&r.id);
            self.mem.release(held);
            let new = match step.and_then(&mut fresh) {
                Ok(new) => new,
                Err(e) => break Err(e),
            };
            if let Err(e) = self.mem.charge(rows_bytes(&new)) {
                break Err(e);
            }
            out.extend(new.iter().cloned());
            working = new;
            if out.len() >= cap {
                out.truncate(cap);
                break Ok(());
            }
        };
        result?;
        Ok(out)
    }
}
