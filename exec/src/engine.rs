//! The SQL engine of one server: its keyspaces, sequences and the oid counter, shared by
//! every session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use orbit_lsm::{Db, KeyspaceId};
use orbit_txn::TxnDb;

use crate::error::Result;
use crate::sequence::{SequenceDef, Sequences};
use crate::session::Session;

/// The first oid handed to user objects (PostgreSQL's FirstNormalObjectId).
pub const FIRST_OID: i64 = 16_384;
const OID_SEQUENCE: &str = "\0oid";

/// Shared SQL state.
pub struct SqlEngine {
    pub(crate) txn: TxnDb,
    pub(crate) catalog: KeyspaceId,
    pub(crate) data: KeyspaceId,
    pub(crate) sequences: Sequences,
    /// Open sessions per database (DROP DATABASE refuses a database in use).
    sessions: Mutex<HashMap<String, usize>>,
    /// Sessions by the pid their clients know them by (`pg_cancel_backend`, ...).
    pub backends: crate::backends::Backends,
    /// Parsed table definitions (see [`crate::catalog::TableCache`]).
    pub(crate) tables: crate::catalog::TableCache,
    /// Catalog lookups (see [`crate::catalog::CatalogCache`]).
    pub(crate) catalog_cache: crate::catalog::CatalogCache,
    /// Vector indexes' graphs (keyspace `sql:ann`), opened on first use (see `exec::ann`).
    pub(crate) ann: crate::exec::ann_graph::AnnIndexes,
    /// The budget for queries' intermediate results (see [`crate::memory`]).
    pub query_memory: crate::memory::QueryMemory,
    /// Set when the server shuts down: running statements stop where they check their
    /// deadline (see [`SqlEngine::stop_statements`]).
    stopping: std::sync::atomic::AtomicBool,
}

fn keyspace(db: &Db, name: &str) -> Result<KeyspaceId> {
    Ok(db.open_keyspace(name)?)
}

/// Runs a write made at startup, again if it conflicted (a cluster node becoming leader while
/// it ran fails it with 40001); on a replicated node that cannot write it now (a follower, a
/// leadership changing hands) it is skipped: the leader makes it, or the next start.
fn startup_write(step: impl Fn() -> Result<()>) -> Result<()> {
    for _ in 0..5 {
        match step() {
            Err(crate::Error::Txn(e)) if e.is_retryable() => continue,
            Err(crate::Error::Txn(
                orbit_txn::Error::NotLeader { .. } | orbit_txn::Error::Replication(_),
            )) => return Ok(()),
            other => return other,
        }
    }
    Ok(())
}

/// Gives every database's catalog its reverse foreign-key entries if it predates them.
fn index_references(txn: &TxnDb, keyspace: KeyspaceId) -> Result<()> {
    use crate::catalog::{Catalog, DEFAULT_DATABASE};
    let mut t = txn.begin(orbit_txn::Isolation::Serializable)?;
    let mut databases = vec![DEFAULT_DATABASE.to_string()];
    databases.extend(
        Catalog::new(&mut t, keyspace)
            .databases()?
            .into_iter()
            .map(|d| d.name),
    );
    let mut wrote = false;
    for database in &databases {
        wrote |= Catalog::in_database(&mut t, keyspace, database).index_references()?;
    }
    if wrote {
        t.commit()?;
    } else {
        t.rollback();
    }
    Ok(())
}

/// Creates the sequence object ids come from, if it does not exist yet.
fn create_oid_sequence(sequences: &Sequences) -> Result<()> {
    if sequences.exists(OID_SEQUENCE)? {
        return Ok(());
    }
    let mut def = SequenceDef::new(i64::from(u32::MAX), 0);
    def.start = FIRST_OID;
    def.min = FIRST_OID;
    let mut waits = Vec::new();
    sequences.create(OID_SEQUENCE, def, &mut waits)?;
    for w in waits {
        w.wait()?;
    }
    Ok(())
}

impl SqlEngine {
    /// Opens (creating on first use) the SQL keyspaces of `txn`'s database.
    pub fn open(txn: TxnDb) -> Result<Arc<SqlEngine>> {
        let db = Arc::clone(txn.db());
        let catalog = keyspace(&db, "sql:catalog")?;
        let data = keyspace(&db, "sql:data")?;
        let seq = keyspace(&db, "sql:seq")?;
        let ann =
            crate::exec::ann_graph::AnnIndexes::new(Arc::clone(&db), keyspace(&db, "sql:ann")?);
        let sequences = Sequences::new(txn.clone(), seq);
        // The leader creates the OID sequence when it is first needed (`next_oid`) if it
        // cannot be created here.
        startup_write(|| create_oid_sequence(&sequences))?;
        startup_write(|| index_references(&txn, catalog))?;
        Ok(Arc::new(SqlEngine {
            txn,
            catalog,
            data,
            sequences,
            sessions: Mutex::new(HashMap::new()),
            backends: Default::default(),
            tables: crate::catalog::TableCache::default(),
            catalog_cache: crate::catalog::CatalogCache::default(),
            ann,
            query_memory: crate::memory::QueryMemory::default(),
            stopping: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// Fails every running statement, and every one started after, with 57P01 where it
    /// next checks its deadline (between chunks of rows): the server is shutting down, and
    /// its workers must not wait on a query that runs for hours (PostgreSQL's fast shutdown
    /// ends the sessions' statements too).
    pub fn stop_statements(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether [`SqlEngine::stop_statements`] was called.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Commits `txn` (its reply waits for the returned write); a commit that wrote the
    /// catalog is marked in progress for the catalog cache until it has its number.
    pub(crate) fn commit(
        &self,
        txn: &mut orbit_txn::Transaction,
    ) -> orbit_txn::Result<Option<orbit_txn::Pending>> {
        if !txn.has_writes_in(self.catalog) {
            return txn.commit_pending();
        }
        let mut write = self.catalog_cache.writing(self.txn.db());
        let pending = match txn.commit_pending()? {
            // A replicated commit has its number once it completes; DDL is rare enough to
            // wait for it here rather than mark the catalog in flight across threads.
            Some(orbit_txn::Pending::Replicated(done)) => {
                let seq = orbit_txn::Pending::Replicated(done).wait()?;
                write.committed(Some(seq));
                return Ok(None);
            }
            pending => pending,
        };
        write.committed(pending.as_ref().and_then(orbit_txn::Pending::seq));
        Ok(pending)
    }

    /// Whether `database` exists (clients may connect to it).
    pub fn database_exists(&self, database: &str) -> Result<bool> {
        let mut txn = self.txn.begin(orbit_txn::Isolation::ReadCommitted)?;
        let exists = crate::catalog::Catalog::new(&mut txn, self.catalog).database_exists(database);
        txn.rollback();
        exists
    }

    /// Counts a session opening (`+1`) or closing (`-1`) on `database`.
    pub(crate) fn track_session(&self, database: &str, opened: bool) {
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(database.to_string()).or_insert(0);
        if opened {
            *n += 1;
        } else {
            *n = n.saturating_sub(1);
        }
    }

    /// Open sessions on `database`, not counting those terminated (pg_terminate_backend):
    /// they run no more statements and close as soon as their threads get to it.
    pub fn sessions_in(&self, database: &str) -> usize {
        let open = {
            let map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            map.get(database).copied().unwrap_or(0)
        };
        open.saturating_sub(self.backends.terminated_in(database))
    }

    /// A new session for `user` connected to `database`.
    pub fn session(self: &Arc<Self>, user: &str, database: &str) -> Session {
        Session::new(Arc::clone(self), user, database)
    }

    /// A fresh object id (tables, indexes, constraints, types: never reused).
    pub fn next_oid(&self, waits: &mut Vec<orbit_txn::Pending>) -> Result<u32> {
        create_oid_sequence(&self.sequences)?;
        let v = self.sequences.nextval(OID_SEQUENCE, waits)?;
        Ok(u32::try_from(v).unwrap_or(u32::MAX))
    }

    /// Node counts of the open HNSW indexes and nodes reclaimed (see `exec::ann_reclaim`).
    pub fn vector_stats(&self) -> crate::exec::ann_graph::AnnStats {
        self.ann.stats()
    }

    /// Sleeps until a VACUUM asks for a vector reclaim round or `timeout` passes (the
    /// background reclaimer's pause between rounds).
    pub fn wait_for_vector_work(&self, timeout: std::time::Duration) {
        self.ann.wait_for_work(timeout);
    }

    /// Ends the reclaimer's pause at once (shutdown).
    pub fn wake_vector_reclaimer(&self) {
        self.ann.wake();
    }

    /// The transaction layer.
    pub fn txn_db(&self) -> &TxnDb {
        &self.txn
    }
}
