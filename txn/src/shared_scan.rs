//! A transaction's read of one key range handed to other threads: the snapshot and the
//! database, which any number of threads scan at once (a parallel query's workers each read
//! a piece of the range).
//!
//! Invariant: a [`SharedScan`] exists only for a transaction without buffered writes in the
//! keyspace (the pieces read the snapshot alone, so read-your-own-writes needs nothing
//! merged), and its range was registered as read like `Transaction::scan` registers one
//! (SERIALIZABLE validates it at commit). Reads outside the range (`get`, `scan` of another
//! range) are not registered: only transactions below SERIALIZABLE make them.

use std::ops::Bound;
use std::sync::Arc;

use orbit_lsm::{Db, DbIter, Direction, KeyspaceId, Pairs, Snapshot};

use crate::Result;

/// A key range of one keyspace at one snapshot, readable from any thread.
pub struct SharedScan {
    pub(crate) db: Arc<Db>,
    pub(crate) keyspace: KeyspaceId,
    pub(crate) snapshot: Snapshot,
    pub(crate) range: (Bound<Vec<u8>>, Bound<Vec<u8>>),
}

impl SharedScan {
    /// The range.
    pub fn range(&self) -> &(Bound<Vec<u8>>, Bound<Vec<u8>>) {
        &self.range
    }

    /// The value of `key` in the keyspace at the snapshot (a parallel join's lookups).
    /// Only the range is registered as read: a SERIALIZABLE transaction must not use it for
    /// keys outside it.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_at(self.keyspace, key, &self.snapshot)?)
    }

    /// The pairs of `piece` (the caller's part of the range, or, not under SERIALIZABLE,
    /// any range of the keyspace: a parallel join's lookups), forward.
    pub fn scan(&self, piece: (Bound<Vec<u8>>, Bound<Vec<u8>>)) -> Result<PieceIter> {
        let it = self
            .db
            .iter(self.keyspace, piece, Direction::Forward, &self.snapshot)?;
        Ok(PieceIter(it))
    }

    /// As [`SharedScan::scan`], for an iterator that [`PieceIter::reseek`] may move to other
    /// ranges within `scope`: a parallel join's worker makes its lookups through one.
    pub fn scan_scoped(
        &self,
        scope: (Bound<Vec<u8>>, Bound<Vec<u8>>),
        piece: (Bound<Vec<u8>>, Bound<Vec<u8>>),
    ) -> Result<PieceIter> {
        let it = self.db.iter_scoped(
            self.keyspace,
            scope,
            piece,
            Direction::Forward,
            &self.snapshot,
        )?;
        Ok(PieceIter(it))
    }
}

/// The pairs of a piece of a [`SharedScan`], forward: one by one, or in chunks
/// ([`PieceIter::fill`]).
pub struct PieceIter(DbIter);

impl PieceIter {
    /// Appends the next pairs to `out` until it holds `max` of them or the piece ends.
    pub fn fill(&mut self, out: &mut Pairs, max: usize) -> Result<()> {
        Ok(self.0.fill(out, max)?)
    }

    /// Looks at the next `max` pairs and appends those `keep` accepts to `out` (see
    /// [`orbit_lsm::DbIter::fill_where`]); how many were looked at, 0 at the end.
    pub fn fill_where(
        &mut self,
        out: &mut Pairs,
        max: usize,
        keep: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<usize> {
        Ok(self.0.fill_where(out, max, keep)?)
    }

    /// Starts over on `piece` (see [`orbit_lsm::DbIter::reseek`]); false, with nothing
    /// changed, unless the iterator was made by [`SharedScan::scan_scoped`] with a scope
    /// holding `piece`.
    pub fn reseek(&mut self, piece: &(Bound<Vec<u8>>, Bound<Vec<u8>>)) -> bool {
        self.0.reseek(piece)
    }
}

impl Iterator for PieceIter {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|r| r.map_err(Into::into))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::ops::Bound;

    use orbit_env::SimFs;

    use crate::tests::{key, open, KS};
    use crate::Isolation;

    #[test]
    fn a_shared_scan_reads_the_statement_snapshot_from_other_threads() {
        let db = open(&SimFs::new());
        for k in 0..100 {
            db.put(KS, &key(k), b"v").unwrap();
        }
        let mut t = db.begin(Isolation::ReadCommitted).unwrap();
        t.begin_statement();
        db.put(KS, &key(200), b"later").unwrap();
        let all = (Bound::Unbounded, Bound::Unbounded);
        let shared = t.shared_scan(KS, all.clone()).unwrap().unwrap();
        let counts: Vec<usize> = std::thread::scope(|s| {
            let halves = [
                (Bound::Unbounded, Bound::Excluded(key(50))),
                (Bound::Included(key(50)), Bound::Unbounded),
            ];
            let handles: Vec<_> = halves
                .into_iter()
                .map(|h| {
                    let shared = &shared;
                    s.spawn(move || shared.scan(h).unwrap().count())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(counts, vec![50, 50]);
        // Own writes in the keyspace: no shared scan (the pieces would miss them).
        t.put(KS, &key(300), b"mine").unwrap();
        assert!(t.shared_scan(KS, all.clone()).unwrap().is_none());
        t.rollback();
    }

    #[test]
    fn a_serializable_shared_scan_is_validated_as_a_read() {
        let db = open(&SimFs::new());
        db.put(KS, &key(1), b"v").unwrap();
        let mut t = db.begin(Isolation::Serializable).unwrap();
        let range = (Bound::Included(key(0)), Bound::Excluded(key(10)));
        let shared = t.shared_scan(KS, range).unwrap().unwrap();
        assert_eq!(shared.scan(shared.range().clone()).unwrap().count(), 1);
        // Another transaction writes into the range read; this one then writes elsewhere.
        db.put(KS, &key(5), b"other").unwrap();
        t.put(KS, &key(50), b"mine").unwrap();
        let e = t.commit().unwrap_err();
        assert_eq!(e.sqlstate(), "40001");
    }
}
