//! Iterators kept between the lookups a statement makes one after another into a table's
//! primary key (an index nested-loop join's inner side, a correlated subquery's key range):
//! the next lookup moves the last one's iterator (`Transaction::rescan`) instead of making
//! a new one, and a lookup in key order after the last seeks within the block that one
//! ended in rather than from the top of every level.
//!
//! Invariant: what a lookup reads does not depend on the iterator it went through. The
//! transaction refuses to move an iterator whose snapshot has another sequence number than
//! the one its reads take now, and merges its own writes as they are at each lookup. A kept
//! iterator holds the tables and memtables it was made on until the statement ends, as a
//! long scan does. The site a lookup names (the
//! scan making it) only keeps two scans' lookups from moving each other's iterator back and
//! forth.

use orbit_lsm::KeyspaceId;
use orbit_txn::{Transaction, TxnIter};

use super::access::KeyRange;
use crate::error::Result;

/// At most this many iterators are kept (a statement's lookup sites, most recent first).
const SLOTS: usize = 4;

/// The statement's kept lookup iterators, by site.
#[derive(Default)]
pub struct Cursors {
    slots: Vec<(usize, TxnIter)>,
}

impl Cursors {
    /// An iterator over `range` of `keyspace` as `txn` reads it now: the one `site` used
    /// last, moved, or a new one that may later move anywhere in `scope()` (which must hold
    /// `range`). Hand it back with [`Cursors::keep`] once read.
    pub fn open(
        &mut self,
        txn: &mut Transaction,
        keyspace: KeyspaceId,
        site: usize,
        scope: impl FnOnce() -> KeyRange,
        range: KeyRange,
    ) -> Result<TxnIter> {
        if let Some(i) = self.slots.iter().position(|(s, _)| *s == site) {
            let (_, mut it) = self.slots.remove(i);
            if txn.rescan(&mut it, keyspace, &range)? {
                return Ok(it);
            }
        }
        Ok(txn.scan_scoped(keyspace, scope(), range)?)
    }

    /// Keeps `it` for `site`'s next lookup, dropping the least recently kept past
    /// [`SLOTS`].
    pub fn keep(&mut self, site: usize, it: TxnIter) {
        self.slots.retain(|(s, _)| *s != site);
        if self.slots.len() >= SLOTS {
            self.slots.remove(0);
        }
        self.slots.push((site, it));
    }
}

#[cfg(test)]
impl Cursors {
    /// How many iterators are kept.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::ops::Bound;

    use super::*;
    use crate::exec::query::{Access, ChunkedScan};
    use crate::exec::Ctx;
    use crate::expr::Expr;
    use crate::test_support::{engine, run, txn_db, with_ctx};
    use crate::types::Value;

    /// The `qty` of `line`'s rows whose `o` is `o`, read `chunk` rows at a time as a
    /// correlated subquery reads them (a key range for an enclosing row).
    fn qtys(ctx: &mut Ctx<'_>, access: &Access, o: i32, chunk: usize) -> Vec<i32> {
        let table = ctx.catalog().table("public", "line").unwrap().unwrap();
        let mut scan = ChunkedScan::new(access, None);
        let mut out = Vec::new();
        while let Some(rows) = scan
            .next(ctx, &table, false, &[Value::Int4(o)], chunk)
            .unwrap()
        {
            for (_, row) in rows {
                match row[2] {
                    Value::Int4(q) => out.push(q),
                    ref other => panic!("qty {other:?}"),
                }
            }
        }
        out
    }

    #[test]
    fn lookups_through_a_kept_iterator_read_what_a_new_one_reads() {
        let engine = engine();
        let mut s = engine.session("postgres", "postgres");
        // Rows in tables (CHECKPOINT) and over them in the memtable: deleted and added.
        run(
            &mut s,
            "CREATE TABLE line (o int, n int, qty int, PRIMARY KEY (o, n));
             INSERT INTO line SELECT x / 4, x % 4, x FROM generate_series(0, 3999) x;
             CHECKPOINT;
             DELETE FROM line WHERE o % 7 = 3;
             INSERT INTO line VALUES (5, 9, -1), (999, 7, -2), (1000, 0, -3);",
        );
        let want = |o: i32| -> Vec<i32> {
            let mut q: Vec<i32> = match !(0..1000).contains(&o) || o % 7 == 3 {
                true => Vec::new(),
                false => (4 * o..4 * o + 4).collect(),
            };
            q.extend(match o {
                5 => Some(-1),
                999 => Some(-2),
                1000 => Some(-3),
                _ => None,
            });
            q
        };
        with_ctx(&engine, |ctx| {
            let access = Access::Range(
                Bound::Included(Expr::Outer(0)),
                Bound::Included(Expr::Outer(0)),
            );
            let ascending: Vec<i32> = (-2..1003).collect();
            let descending: Vec<i32> = ascending.iter().rev().copied().collect();
            let scattered: Vec<i32> = (0..1003).map(|i| (i * 389) % 1003).collect();
            for (orders, chunk) in [(ascending, usize::MAX), (descending, 1), (scattered, 3)] {
                for o in orders {
                    assert_eq!(
                        qtys(ctx, &access, o, chunk),
                        want(o),
                        "o = {o}, chunk {chunk}"
                    );
                }
            }
            assert_eq!(ctx.cursors.len(), 1, "one site, one iterator");
        });
    }

    #[test]
    fn a_few_sites_keep_their_iterators_and_the_oldest_goes() {
        let db = txn_db();
        let mut t = db.begin(orbit_txn::Isolation::RepeatableRead).unwrap();
        let all = || (Bound::Unbounded, Bound::Unbounded);
        let mut cursors = Cursors::default();
        for site in 0..=SLOTS {
            let it = cursors.open(&mut t, 0, site, all, all()).unwrap();
            cursors.keep(site, it);
        }
        assert_eq!(cursors.len(), SLOTS);
        // Site 0 went first; the others are kept, and taken while in use.
        assert!(!cursors.slots.iter().any(|(s, _)| *s == 0));
        let it = cursors.open(&mut t, 0, 1, all, all()).unwrap();
        assert_eq!(cursors.len(), SLOTS - 1);
        cursors.keep(1, it);
        assert_eq!(cursors.slots.last().map(|(s, _)| *s), Some(1));
    }
}
