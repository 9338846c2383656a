//! The statement's memo of secondary-index lookups made on behalf of enclosing rows (a
//! correlated subquery's `WHERE inner.col = outer.col` answered through an index): the rows
//! one lookup fetched, kept so that the next enclosing row asking for the same key gets them
//! without reading the index and the rows again. TPC-H Q20 runs its subquery for each of
//! four suppliers of a part, and Q17 for each of a part's 30 line items: the same lookup,
//! four and thirty times in a row. PostgreSQL's Memoize node keeps a nested loop's inner
//! rows the same way.
//!
//! Invariants:
//! - An entry is only given back under the [`ReadView`] it was read under: the same snapshot
//!   and no write by the transaction since (the memo empties itself when the view moves).
//!   Locking reads (`FOR UPDATE`) never use it.
//! - An entry holds every row of its lookup, or it is not kept: a consumer that stopped
//!   early (EXISTS) leaves nothing behind.
//! - Its size is bounded: lookups of more than [`MAX_LOOKUP_ROWS`] rows are not kept, and
//!   past [`MAX_ROWS`] rows in all the memo starts over.

use std::sync::Arc;

use orbit_txn::ReadView;
use rustc_hash::FxHashMap;

use crate::types::Value;

/// A row as lookups return it: its storage key and its decoded columns.
pub(crate) type KeyedRow = (Vec<u8>, Vec<Value>);

/// The most rows one kept lookup may have.
pub(crate) const MAX_LOOKUP_ROWS: usize = 1024;
/// The most rows the memo keeps in all.
pub(crate) const MAX_ROWS: usize = 65_536;

/// What a lookup is known by: its first index key (the index's prefix and the equalities'
/// values) and the columns decoded (None: all).
type MemoKey = (Vec<u8>, Option<Vec<bool>>);

/// See the module doc.
#[derive(Debug, Default)]
pub struct LookupMemo {
    view: Option<ReadView>,
    entries: FxHashMap<MemoKey, Arc<[KeyedRow]>>,
    rows: usize,
}

impl LookupMemo {
    /// Forgets everything kept under another view than `view`.
    fn align(&mut self, view: ReadView) {
        if self.view != Some(view) {
            self.entries.clear();
            self.rows = 0;
            self.view = Some(view);
        }
    }

    /// Lookups kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The rows of the lookup from `start` decoding `read`, if kept under `view`.
    pub(crate) fn get(
        &mut self,
        view: ReadView,
        start: &[u8],
        read: Option<&[bool]>,
    ) -> Option<Arc<[KeyedRow]>> {
        self.align(view);
        self.entries
            .get(&(start.to_vec(), read.map(<[bool]>::to_vec)))
            .cloned()
    }

    /// Keeps `rows`, every row of the lookup from `start` decoding `read`, read under `view`.
    pub(crate) fn put(
        &mut self,
        view: ReadView,
        start: Vec<u8>,
        read: Option<&[bool]>,
        rows: Vec<KeyedRow>,
    ) {
        self.align(view);
        if rows.len() > MAX_LOOKUP_ROWS {
            return;
        }
        if self.rows + rows.len() > MAX_ROWS {
            self.entries.clear();
            self.rows = 0;
        }
        self.rows += rows.len();
        let key = (start, read.map(<[bool]>::to_vec));
        if let Some(old) = self.entries.insert(key, rows.into()) {
            self.rows -= old.len();
        }
    }
}

/// A lookup being read for the memo: the rows fetched so far, while they are all of them.
#[derive(Debug)]
pub(crate) struct Recording {
    pub view: ReadView,
    pub start: Vec<u8>,
    pub rows: Vec<KeyedRow>,
}

impl Recording {
    /// Adds fetched rows; false once the lookup has too many rows to keep.
    pub(crate) fn add(&mut self, rows: &[KeyedRow]) -> bool {
        if self.rows.len() + rows.len() > MAX_LOOKUP_ROWS {
            return false;
        }
        self.rows.extend_from_slice(rows);
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Two distinct views of one transaction (before and after a write).
    fn views() -> (ReadView, ReadView) {
        let db = crate::test_support::txn_db();
        let mut t = db.begin(orbit_txn::Isolation::RepeatableRead).unwrap();
        let a = t.read_view().unwrap();
        t.put(orbit_lsm::DEFAULT_KEYSPACE, b"k", b"v").unwrap();
        (a, t.read_view().unwrap())
    }

    fn rows(n: usize) -> Vec<KeyedRow> {
        (0..n)
            .map(|i| (vec![i as u8], vec![Value::Int8(i as i64)]))
            .collect()
    }

    #[test]
    fn keeps_lookups_under_their_view_and_columns_only() {
        let (a, b) = views();
        let mut memo = LookupMemo::default();
        memo.put(a, b"k1".to_vec(), None, rows(3));
        memo.put(a, b"k2".to_vec(), Some(&[true, false]), rows(0));
        assert_eq!(memo.get(a, b"k1", None).unwrap().len(), 3);
        assert_eq!(memo.get(a, b"k2", Some(&[true, false])).unwrap().len(), 0);
        assert!(memo.get(a, b"k1", Some(&[true, false])).is_none());
        assert!(memo.get(a, b"k2", None).is_none());
        assert!(memo.get(a, b"k3", None).is_none());
        // Another view: nothing kept before it is given back, even under the first again.
        assert!(memo.get(b, b"k1", None).is_none());
        assert!(memo.get(a, b"k1", None).is_none());
    }

    #[test]
    fn stays_within_its_bounds() {
        let (a, _) = views();
        let mut memo = LookupMemo::default();
        memo.put(a, b"big".to_vec(), None, rows(MAX_LOOKUP_ROWS + 1));
        assert!(memo.get(a, b"big", None).is_none());
        let per = MAX_LOOKUP_ROWS;
        for i in 0..MAX_ROWS / per {
            memo.put(a, vec![i as u8], None, rows(per));
        }
        assert_eq!(memo.rows, MAX_ROWS);
        assert!(memo.get(a, &[0], None).is_some());
        // One more row and it starts over.
        memo.put(a, b"one".to_vec(), None, rows(1));
        assert_eq!(memo.rows, 1);
        assert!(memo.get(a, &[0], None).is_none());
        assert!(memo.get(a, b"one", None).is_some());
        // Kept again under the same key: counted once.
        memo.put(a, b"one".to_vec(), None, rows(2));
        assert_eq!(memo.rows, 2);
    }

    #[test]
    fn recordings_stop_past_the_lookup_bound() {
        let (a, _) = views();
        let mut r = Recording {
            view: a,
            start: Vec::new(),
            rows: Vec::new(),
        };
        assert!(r.add(&rows(MAX_LOOKUP_ROWS)));
        assert!(!r.add(&rows(1)));
    }
}
