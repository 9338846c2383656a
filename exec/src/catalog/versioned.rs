//! A server-wide cache of catalog lookups (table definitions, schema existence, referencing
//! tables), so a statement does not read the catalog from storage each time it names a table.
//!
//! The catalog is transactional, so a lookup may be answered from the cache only when the
//! reading transaction sees exactly the catalog the cache holds. The cache holds the catalog
//! as of `version`, the commit sequence number of the latest transaction that wrote it, and a
//! lookup gets a [`Token`] (may use the cache) only when
//! - no catalog-writing commit is in progress (`in_flight` is zero: a commit marks itself
//!   before it takes its sequence number and raises `version` before it unmarks),
//! - the transaction wrote no catalog entry itself,
//! - its reads see `version` (a REPEATABLE READ snapshot older than the latest DDL does not),
//!   and
//! - it is not SERIALIZABLE (whose reads are validated at commit, so they are read from
//!   storage).
//!
//! An entry is stored only if the same conditions still hold, at the same version, after the
//! storage read that produced it. Entries of an older version are dropped when a newer one
//! is stored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use orbit_lsm::{Db, KeyspaceId};
use orbit_txn::{Isolation, Transaction};

use super::TableDef;

/// Entries kept before the cache starts over (far above real use).
const LIMIT: usize = 8192;

/// A cached lookup.
#[derive(Debug, Clone)]
pub(crate) enum Cached {
    Table(Option<Arc<TableDef>>),
    Exists(bool),
    Referencing(Arc<Vec<(String, String)>>),
}

/// Leave to use the cache for one lookup: the version it was given at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Token {
    version: u64,
    /// The commit log's epoch ([`orbit_txn::TxnDb::epoch`]): writes applied from another
    /// node's log change it, and the catalog with it.
    epoch: u64,
}

#[derive(Default)]
struct Entries {
    token: Token,
    map: HashMap<Vec<u8>, Cached>,
}

#[derive(Default)]
pub struct CatalogCache {
    /// Catalog-writing commits in progress.
    in_flight: AtomicU64,
    /// Commit sequence number of the latest catalog-writing transaction.
    version: AtomicU64,
    entries: Mutex<Entries>,
}

impl CatalogCache {
    /// A token if `txn`'s reads of the catalog (`keyspace`) see what the cache holds.
    pub(crate) fn token(&self, txn: &Transaction, keyspace: KeyspaceId) -> Option<Token> {
        if self.in_flight.load(Ordering::SeqCst) != 0 {
            return None;
        }
        // SERIALIZABLE validates its reads at commit: they must come from storage.
        if txn.isolation() == Isolation::Serializable {
            return None;
        }
        let version = self.version.load(Ordering::SeqCst);
        if txn.has_writes_in(keyspace) || txn.read_seq() < version {
            return None;
        }
        Some(Token {
            version,
            epoch: txn.epoch(),
        })
    }

    pub(crate) fn get(&self, token: Token, key: &[u8]) -> Option<Cached> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.token != token {
            return None;
        }
        entries.map.get(key).cloned()
    }

    /// Stores what a storage read made under `token` returned, if the catalog did not change
    /// since the token was given.
    pub(crate) fn put(&self, token: Token, key: Vec<u8>, value: Cached) {
        if self.in_flight.load(Ordering::SeqCst) != 0
            || self.version.load(Ordering::SeqCst) != token.version
        {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.token != token {
            if token < entries.token {
                return;
            }
            entries.map.clear();
            entries.token = token;
        }
        if entries.map.len() >= LIMIT {
            entries.map.clear();
        }
        entries.map.insert(key, value);
    }

    /// Marks a catalog-writing commit in progress until the guard is dropped; call
    /// [`CatalogWrite::committed`] with its sequence number once it has one.
    pub(crate) fn writing<'a>(&'a self, db: &'a Db) -> CatalogWrite<'a> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        CatalogWrite {
            cache: self,
            db,
            seq: None,
        }
    }
}

/// A catalog-writing commit in progress (see [`CatalogCache::writing`]).
pub(crate) struct CatalogWrite<'a> {
    cache: &'a CatalogCache,
    db: &'a Db,
    seq: Option<u64>,
}

impl CatalogWrite<'_> {
    pub(crate) fn committed(&mut self, seq: Option<u64>) {
        self.seq = seq;
    }
}

impl Drop for CatalogWrite<'_> {
    fn drop(&mut self) {
        // Without the commit's number (it failed, or never got one), every number handed
        // out so far: whatever it wrote can be visible only at one of them.
        let seq = self.seq.unwrap_or_else(|| self.db.assigned_seq());
        self.cache.version.fetch_max(seq, Ordering::SeqCst);
        self.cache.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::test_support::{engine, run};

    /// The column names `SELECT *` of `table` returns.
    fn columns(session: &mut crate::Session, table: &str) -> Vec<String> {
        let stmt = crate::parse(&format!("SELECT * FROM {table}"))
            .unwrap()
            .remove(0);
        match session.execute(&stmt, &[]).unwrap().outcome {
            crate::Outcome::Rows { columns, .. } => columns.into_iter().map(|c| c.name).collect(),
            _ => panic!("no rows"),
        }
    }

    #[test]
    fn lookups_see_the_catalog_their_transaction_sees() {
        let engine = engine();
        let mut a = engine.session("postgres", "postgres");
        let mut b = engine.session("postgres", "postgres");
        run(&mut a, "CREATE TABLE t (x int)");
        assert_eq!(columns(&mut a, "t"), ["x"]);
        assert_eq!(columns(&mut b, "t"), ["x"]);
        let cached = || engine.catalog_cache.entries.lock().unwrap().map.len();
        assert!(cached() > 0, "lookups are cached");

        // A REPEATABLE READ snapshot older than a DDL keeps its catalog.
        run(&mut a, "BEGIN ISOLATION LEVEL REPEATABLE READ");
        assert_eq!(columns(&mut a, "t"), ["x"]);
        run(&mut b, "ALTER TABLE t ADD COLUMN y int");
        assert_eq!(columns(&mut a, "t"), ["x"]);
        // READ COMMITTED sees the DDL as soon as it committed.
        assert_eq!(columns(&mut b, "t"), ["x", "y"]);
        run(&mut a, "COMMIT");
        assert_eq!(columns(&mut a, "t"), ["x", "y"]);

        // A transaction's own DDL, then its rollback.
        run(&mut a, "BEGIN; ALTER TABLE t ADD COLUMN z int");
        assert_eq!(columns(&mut a, "t"), ["x", "y", "z"]);
        assert_eq!(columns(&mut b, "t"), ["x", "y"]);
        run(&mut a, "ROLLBACK");
        assert_eq!(columns(&mut a, "t"), ["x", "y"]);

        // Dropped, renamed, and schemas coming and going.
        run(
            &mut b,
            "ALTER TABLE t RENAME TO u; CREATE SCHEMA s; CREATE TABLE s.t (k int)",
        );
        assert_eq!(columns(&mut a, "u"), ["x", "y"]);
        run(&mut a, "SET search_path = s, public");
        assert_eq!(columns(&mut a, "t"), ["k"]);
        run(&mut b, "DROP TABLE s.t; DROP SCHEMA s");
        let stmt = crate::parse("SELECT * FROM t").unwrap().remove(0);
        let Err(e) = a.execute(&stmt, &[]) else {
            panic!("a dropped table was found")
        };
        assert_eq!(e.sqlstate(), "42P01");
    }
}
