//! The SQL catalog, stored in the engine and read and written inside the statement's
//! transaction, so DDL is transactional: a table created in a transaction that rolls back
//! never existed, and concurrent DDL on one name conflicts at commit like any other write.
//!
//! Layout in the `sql:catalog` keyspace (all values JSON):
//! - `s\0{schema}` → [`SchemaDef`]
//! - `t\0{schema}\0{table}` → [`TableDef`] (its indexes and constraints inside it)
//! - `v\0{schema}\0{view}` → [`ViewDef`]
//! - `d\0{database}` → [`DatabaseDef`]
//!
//! Identifiers (table ids, index ids, sequence values) come from [`crate::sequence`], outside
//! transactions, as PostgreSQL's OIDs and sequences do: a rolled-back CREATE TABLE leaves a
//! gap, never a reuse.
//!
//! `system` computes the `pg_catalog` and `information_schema` relations from these records.
//!
//! Invariant: a table's column ids are never reused (rows store values by column id, so a
//! dropped column's values are ignored and an added column reads as its default until set).

mod defs;
pub mod system;

pub use defs::{
    ColumnDef, ConstraintDef, DatabaseDef, ForeignKey, IndexDef, SchemaDef, TableDef, ViewDef,
};

use orbit_lsm::{Direction, KeyspaceId};
use orbit_txn::Transaction;

use crate::error::{code, Error, Result};

/// The schemas every database has from the start.
pub const BUILTIN_SCHEMAS: [&str; 3] = ["public", "pg_catalog", "information_schema"];

/// Catalog reads and writes within a transaction.
pub struct Catalog<'t> {
    pub(crate) txn: &'t mut Transaction,
    pub(crate) keyspace: KeyspaceId,
}

fn table_key(schema: &str, name: &str) -> Vec<u8> {
    let mut k = b"t\0".to_vec();
    k.extend_from_slice(schema.as_bytes());
    k.push(0);
    k.extend_from_slice(name.as_bytes());
    k
}

fn view_key(schema: &str, name: &str) -> Vec<u8> {
    let mut k = b"v\0".to_vec();
    k.extend_from_slice(schema.as_bytes());
    k.push(0);
    k.extend_from_slice(name.as_bytes());
    k
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::new(
            code::INTERNAL_ERROR,
            format!("catalog entry is damaged: {e}"),
        )
    })
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| {
        Error::new(
            code::INTERNAL_ERROR,
            format!("cannot encode catalog entry: {e}"),
        )
    })
}

impl<'t> Catalog<'t> {
    /// The catalog seen by `txn`.
    pub fn new(txn: &'t mut Transaction, keyspace: KeyspaceId) -> Catalog<'t> {
        Catalog { txn, keyspace }
    }

    /// Whether `schema` exists.
    pub fn schema_exists(&mut self, schema: &str) -> Result<bool> {
        if BUILTIN_SCHEMAS.contains(&schema) {
            return Ok(true);
        }
        let mut k = b"s\0".to_vec();
        k.extend_from_slice(schema.as_bytes());
        Ok(self.txn.get(self.keyspace, &k)?.is_some())
    }

    /// Creates `schema`.
    pub fn create_schema(&mut self, def: &SchemaDef) -> Result<()> {
        let mut k = b"s\0".to_vec();
        k.extend_from_slice(def.name.as_bytes());
        self.txn.put(self.keyspace, &k, &encode(def)?)?;
        Ok(())
    }

    /// Drops `schema` (the caller checked it is empty or dropped its objects).
    pub fn drop_schema(&mut self, schema: &str) -> Result<()> {
        let mut k = b"s\0".to_vec();
        k.extend_from_slice(schema.as_bytes());
        self.txn.delete(self.keyspace, &k)?;
        Ok(())
    }

    /// Every user-created schema.
    pub fn schemas(&mut self) -> Result<Vec<SchemaDef>> {
        self.list(b"s\0")
    }

    /// The table `schema.name`, if it exists.
    pub fn table(&mut self, schema: &str, name: &str) -> Result<Option<TableDef>> {
        match self.txn.get(self.keyspace, &table_key(schema, name))? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    /// Writes (creates or replaces) a table definition.
    pub fn put_table(&mut self, def: &TableDef) -> Result<()> {
        self.txn.put(
            self.keyspace,
            &table_key(&def.schema, &def.name),
            &encode(def)?,
        )?;
        Ok(())
    }

    /// Removes a table definition.
    pub fn delete_table(&mut self, schema: &str, name: &str) -> Result<()> {
        self.txn.delete(self.keyspace, &table_key(schema, name))?;
        Ok(())
    }

    /// Every table, ordered by schema and name.
    pub fn tables(&mut self) -> Result<Vec<TableDef>> {
        self.list(b"t\0")
    }

    /// The view `schema.name`, if it exists.
    pub fn view(&mut self, schema: &str, name: &str) -> Result<Option<ViewDef>> {
        match self.txn.get(self.keyspace, &view_key(schema, name))? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    /// Writes a view definition.
    pub fn put_view(&mut self, def: &ViewDef) -> Result<()> {
        self.txn.put(
            self.keyspace,
            &view_key(&def.schema, &def.name),
            &encode(def)?,
        )?;
        Ok(())
    }

    /// Removes a view definition.
    pub fn delete_view(&mut self, schema: &str, name: &str) -> Result<()> {
        self.txn.delete(self.keyspace, &view_key(schema, name))?;
        Ok(())
    }

    /// Every view.
    pub fn views(&mut self) -> Result<Vec<ViewDef>> {
        self.list(b"v\0")
    }

    /// Every database other than `postgres` (which always exists).
    pub fn databases(&mut self) -> Result<Vec<DatabaseDef>> {
        self.list(b"d\0")
    }

    /// Creates or drops a database entry.
    pub fn put_database(&mut self, def: Option<&DatabaseDef>, name: &str) -> Result<()> {
        let mut k = b"d\0".to_vec();
        k.extend_from_slice(name.as_bytes());
        match def {
            Some(d) => self.txn.put(self.keyspace, &k, &encode(d)?)?,
            None => self.txn.delete(self.keyspace, &k)?,
        }
        Ok(())
    }

    fn list<T: serde::de::DeserializeOwned>(&mut self, prefix: &[u8]) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for item in self
            .txn
            .scan_prefix(self.keyspace, prefix, Direction::Forward)?
        {
            let (_, v) = item?;
            out.push(decode(&v)?);
        }
        Ok(out)
    }
}
