//! The SQL engine of one server: its keyspaces, sequences and the oid counter, shared by
//! every session.

use std::sync::Arc;

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
}

fn keyspace(db: &Db, name: &str) -> Result<KeyspaceId> {
    Ok(match db.keyspace(name) {
        Some(id) => id,
        None => db.create_keyspace(name)?,
    })
}

impl SqlEngine {
    /// Opens (creating on first use) the SQL keyspaces of `txn`'s database.
    pub fn open(txn: TxnDb) -> Result<Arc<SqlEngine>> {
        let db = Arc::clone(txn.db());
        let catalog = keyspace(&db, "sql:catalog")?;
        let data = keyspace(&db, "sql:data")?;
        let seq = keyspace(&db, "sql:seq")?;
        let sequences = Sequences::new(txn.clone(), seq);
        if !sequences.exists(OID_SEQUENCE)? {
            let mut def = SequenceDef::new(i64::from(u32::MAX), 0);
            def.start = FIRST_OID;
            def.min = FIRST_OID;
            let mut waits = Vec::new();
            sequences.create(OID_SEQUENCE, def, &mut waits)?;
            for w in waits {
                w.wait()?;
            }
        }
        Ok(Arc::new(SqlEngine {
            txn,
            catalog,
            data,
            sequences,
        }))
    }

    /// A new session for `user` connected to `database`.
    pub fn session(self: &Arc<Self>, user: &str, database: &str) -> Session {
        Session::new(Arc::clone(self), user, database)
    }

    /// A fresh object id (tables, indexes, constraints, types: never reused).
    pub fn next_oid(&self, waits: &mut Vec<orbit_lsm::PendingWrite>) -> Result<u32> {
        let v = self.sequences.nextval(OID_SEQUENCE, waits)?;
        Ok(u32::try_from(v).unwrap_or(u32::MAX))
    }

    /// The transaction layer.
    pub fn txn_db(&self) -> &TxnDb {
        &self.txn
    }
}
