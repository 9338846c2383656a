//! A cursor over one level below L0: its tables do not overlap and are sorted by smallest key,
//! so the level reads as one sorted run. A seek opens only the table that can hold the target
//! (binary search on the tables' largest keys) instead of seeking every table of the level.
//!
//! Invariant: `open` is the cursor into `tables[idx]` when valid; moving off either end of a
//! table opens the neighbour (several may be skipped when they hold nothing to show).

use std::cmp::Ordering;
use std::sync::Arc;

use super::iter::{Source, TableSource};
use super::LiveTable;
use crate::key;
use crate::Result;

pub(crate) struct LevelSource {
    /// The level's tables by smallest key.
    tables: Vec<Arc<LiveTable>>,
    idx: usize,
    open: Option<TableSource>,
}

impl LevelSource {
    /// A cursor over `tables` (one level's, sorted by smallest key, not overlapping).
    pub(crate) fn new(tables: Vec<Arc<LiveTable>>) -> LevelSource {
        LevelSource {
            tables,
            idx: 0,
            open: None,
        }
    }

    /// Opens table `idx` (or nothing past the ends).
    fn open_at(&mut self, idx: usize) -> Option<&mut TableSource> {
        self.idx = idx;
        self.open = self
            .tables
            .get(idx)
            .map(|t| TableSource::new(Arc::clone(t)));
        self.open.as_mut()
    }

    /// Forwards from table `idx`: its first entry, or the next table's.
    fn first_from(&mut self, mut idx: usize) -> Result<()> {
        while let Some(t) = self.open_at(idx) {
            t.seek_to_first()?;
            if t.valid() {
                return Ok(());
            }
            idx += 1;
        }
        Ok(())
    }

    /// Backwards from table `idx`: its last entry, or the previous table's.
    fn last_from(&mut self, idx: Option<usize>) -> Result<()> {
        let mut idx = idx;
        while let Some(i) = idx {
            if let Some(t) = self.open_at(i) {
                t.seek_to_last()?;
                if t.valid() {
                    return Ok(());
                }
            }
            idx = i.checked_sub(1);
        }
        self.open = None;
        Ok(())
    }
}

impl Source for LevelSource {
    fn valid(&self) -> bool {
        self.open.as_ref().is_some_and(|t| t.valid())
    }

    fn key(&self) -> &[u8] {
        self.open.as_ref().map_or(&[][..], |t| t.key())
    }

    fn value(&self) -> &[u8] {
        self.open.as_ref().map_or(&[][..], |t| t.value())
    }

    fn next(&mut self) -> Result<()> {
        let Some(t) = self.open.as_mut() else {
            return Ok(());
        };
        t.next()?;
        if t.valid() {
            return Ok(());
        }
        self.first_from(self.idx + 1)
    }

    fn prev(&mut self) -> Result<()> {
        let Some(t) = self.open.as_mut() else {
            return Ok(());
        };
        t.prev()?;
        if t.valid() {
            return Ok(());
        }
        self.last_from(self.idx.checked_sub(1))
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        // The first table whose largest key is >= target: the only one that can hold the
        // first entry >= target (or, if the target is past its keys, the next one does).
        let idx = self
            .tables
            .partition_point(|t| key::compare(&t.meta.largest, target) == Ordering::Less);
        // The table already open keeps its cursor (and the block it is on).
        let reopen = self.idx != idx || self.open.is_none();
        let open = match reopen {
            true => self.open_at(idx),
            false => self.open.as_mut(),
        };
        if let Some(t) = open {
            t.seek(target)?;
            if !t.valid() {
                return self.first_from(idx + 1);
            }
        }
        Ok(())
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.first_from(0)
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.last_from(self.tables.len().checked_sub(1))
    }
}
