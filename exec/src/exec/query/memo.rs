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
//! - Its size is bounded (estimated as `memory::row_bytes` counts): a lookup whose rows
//!   take more than [`MAX_LOOKUP_BYTES`] is not kept, and past [`MAX_BYTES`] in all the memo
//!   starts over. The bound is small and fixed: the memo is not charged to the statement's
//!   `--query-memory` budget.

use std::sync::Arc;

use orbit_txn::ReadView;
use rustc_hash::FxHashMap;

use crate::types::Value;

/// A row as lookups return it: its storage key and its decoded columns.
pub(crate) type KeyedRow = (Vec<u8>, Vec<Value>);

/// The most bytes one kept lookup's rows may take.
pub(crate) const MAX_LOOKUP_BYTES: usize = 1 << 20;
/// The most bytes the memo keeps in all.
pub(crate) const MAX_BYTES: usize = 16 << 20;

/// Estimated bytes of an entry besides its rows: the map's slot and the key's heap parts.
const ENTRY_OVERHEAD: usize = 96;

/// Estimated bytes of a kept row.
fn entry_bytes((key, row): &KeyedRow) -> usize {
    key.capacity() + crate::memory::row_bytes(row)
}

/// What a lookup is known by: its first index key (the index's prefix and the equalities'
/// values) and the columns decoded (None: all).
type MemoKey = (Vec<u8>, Option<Vec<bool>>);

/// See the module doc.
#[derive(Debug, Default)]
pub struct LookupMemo {
    view: Option<ReadView>,
    entries: FxHashMap<MemoKey, (Arc<[KeyedRow]>, usize)>,
    bytes: usize,
}

impl LookupMemo {
    /// Forgets everything kept under another view than `view`.
    fn align(&mut self, view: ReadView) {
        if self.view != Some(view) {
            self.entries.clear();
            self.bytes = 0;
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
            .map(|(rows, _)| Arc::clone(rows))
    }

    /// Keeps `rows`, every row of the lookup from `start` decoding `read`, read under `view`
    /// (`bytes`: their estimated size, as a [`Recording`] counts it; the entry counts its key
    /// too, so that lookups that found nothing are bounded as well).
    pub(crate) fn put(
        &mut self,
        view: ReadView,
        start: Vec<u8>,
        read: Option<&[bool]>,
        rows: Vec<KeyedRow>,
        bytes: usize,
    ) {
        self.align(view);
        if bytes > MAX_LOOKUP_BYTES {
            return;
        }
        let bytes = bytes + start.len() + ENTRY_OVERHEAD;
        if self.bytes + bytes > MAX_BYTES {
            self.entries.clear();
            self.bytes = 0;
        }
        self.bytes += bytes;
        let key = (start, read.map(<[bool]>::to_vec));
        if let Some((_, old)) = self.entries.insert(key, (rows.into(), bytes)) {
            self.bytes -= old;
        }
    }
}

/// A lookup being read for the memo: the rows fetched so far, while they are all of them.
#[derive(Debug)]
pub(crate) struct Recording {
    pub view: ReadView,
    pub start: Vec<u8>,
    pub rows: Vec<KeyedRow>,
    pub bytes: usize,
}

impl Recording {
    /// A recording of the lookup from `start` under `view`, nothing fetched yet.
    pub(crate) fn new(view: ReadView, start: Vec<u8>) -> Recording {
        Recording {
            view,
            start,
            rows: Vec::new(),
            bytes: 0,
        }
    }

    /// Adds fetched rows; false once the lookup's rows are too large to keep.
    pub(crate) fn add(&mut self, rows: &[KeyedRow]) -> bool {
        self.bytes += rows.iter().map(entry_bytes).sum::<usize>();
        if self.bytes > MAX_LOOKUP_BYTES {
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
        memo.put(a, b"k1".to_vec(), None, rows(3), 3);
        memo.put(a, b"k2".to_vec(), Some(&[true, false]), rows(0), 0);
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
        memo.put(a, b"big".to_vec(), None, rows(1), MAX_LOOKUP_BYTES + 1);
        assert!(memo.get(a, b"big", None).is_none());
        // Entries of one-byte keys whose rows take what makes each cost a sixteenth.
        let per = MAX_BYTES / 16 - 1 - ENTRY_OVERHEAD;
        for i in 0..16 {
            memo.put(a, vec![i as u8], None, rows(1), per);
        }
        assert_eq!(memo.bytes, MAX_BYTES);
        assert!(memo.get(a, &[0], None).is_some());
        // One more and it starts over.
        memo.put(a, b"one".to_vec(), None, rows(1), 1);
        assert_eq!(memo.bytes, 1 + 3 + ENTRY_OVERHEAD);
        assert!(memo.get(a, &[0], None).is_none());
        assert!(memo.get(a, b"one", None).is_some());
        // Kept again under the same key: counted once.
        memo.put(a, b"one".to_vec(), None, rows(2), 2);
        assert_eq!(memo.bytes, 2 + 3 + ENTRY_OVERHEAD);
        // Lookups that found nothing count their keys: they are bounded too.
        let mut empty = LookupMemo::default();
        for i in 0..(MAX_BYTES / ENTRY_OVERHEAD) as u32 {
            empty.put(a, i.to_be_bytes().to_vec(), None, Vec::new(), 0);
        }
        assert!(empty.bytes <= MAX_BYTES);
        assert!(empty.len() < (MAX_BYTES / ENTRY_OVERHEAD));
    }

    #[test]
    fn recordings_stop_past_the_lookup_bound() {
        let (a, _) = views();
        let mut r = Recording::new(a, Vec::new());
        let per = entry_bytes(&rows(1)[0]);
        assert!(r.add(&rows(MAX_LOOKUP_BYTES / per)));
        assert_eq!(r.bytes, MAX_LOOKUP_BYTES / per * per);
        assert!(!r.add(&rows(1)));
        // A wide row counts its text.
        let mut w = Recording::new(a, Vec::new());
        let wide = (Vec::new(), vec![Value::Text("x".repeat(MAX_LOOKUP_BYTES))]);
        assert!(!w.add(&[wide]));
    }
}
