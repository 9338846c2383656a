//! The SQL catalog, stored in the engine and read and written inside the statement's
//! transaction, so DDL is transactional: a table created in a transaction that rolls back
//! never existed, and concurrent DDL on one name conflicts at commit like any other write.
//!
//! Layout in the `sql:catalog` keyspace (all values JSON), where `{ns}` is empty for the
//! `postgres` database and `D{database}\0` for every other one (databases are namespaces of
//! one storage; table ids are unique across them):
//! - `{ns}s\0{schema}` → [`SchemaDef`]
//! - `{ns}t\0{schema}\0{table}` → [`TableDef`] (its indexes and constraints inside it)
//! - `{ns}v\0{schema}\0{view}` → [`ViewDef`]
//! - `{ns}r\0{schema}\0{table}\0{child schema}\0{child table}` → empty: `child` has a
//!   foreign key to `schema.table` (kept by `put_table` / `delete_table`, so finding a table's
//!   referencing tables reads its own few keys instead of every table; see `refs`)
//! - `{ns}x\0refs` → empty: this namespace's `r` entries are complete (written by
//!   [`Catalog::index_references`] for catalogs made before they existed)
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
mod refs;
mod stats;
mod stored_type;
pub mod system;
mod versioned;

pub use stats::{Cmp, ColumnStats, Key, TableStats};
use versioned::Cached;
pub use versioned::CatalogCache;
pub(crate) use versioned::Token;

pub use defs::{
    AnnDef, ColumnDef, ConstraintDef, DatabaseDef, ForeignKey, IndexDef, MatView, SchemaDef,
    TableDef, ViewDef,
};

use orbit_lsm::{Direction, KeyspaceId};
use orbit_txn::Transaction;

use crate::error::{code, Error, Result};

/// The schemas every database has from the start.
pub const BUILTIN_SCHEMAS: [&str; 3] = ["public", "pg_catalog", "information_schema"];

/// The database every server has from the start (it cannot be dropped).
pub const DEFAULT_DATABASE: &str = "postgres";

/// Parsed table definitions by their stored bytes, shared by every session: a statement reads
/// its tables' entries in its own transaction (so DDL stays transactional) but parses each
/// distinct entry once.
#[derive(Default)]
pub struct TableCache(
    std::sync::Mutex<std::collections::HashMap<Vec<u8>, std::sync::Arc<TableDef>>>,
);

impl TableCache {
    /// Entries kept before the cache starts over (a bound on memory, far above real use).
    const LIMIT: usize = 4096;

    fn decode(&self, bytes: &[u8]) -> Result<TableDef> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = map.get(bytes) {
            return Ok(TableDef::clone(t));
        }
        let t: TableDef = decode(bytes)?;
        if map.len() >= Self::LIMIT {
            map.clear();
        }
        map.insert(bytes.to_vec(), std::sync::Arc::new(t.clone()));
        Ok(t)
    }
}

/// Catalog reads and writes within a transaction, for one database.
pub struct Catalog<'t> {
    pub(crate) txn: &'t mut Transaction,
    pub(crate) keyspace: KeyspaceId,
    /// The database's key prefix (empty for `postgres`).
    ns: Vec<u8>,
    cache: Option<&'t TableCache>,
    versioned: Option<&'t CatalogCache>,
}

/// The catalog key prefix of `database`.
fn namespace(database: &str) -> Vec<u8> {
    if database == DEFAULT_DATABASE {
        return Vec::new();
    }
    let mut ns = b"D".to_vec();
    ns.extend_from_slice(database.as_bytes());
    ns.push(0);
    ns
}

fn table_key(ns: &[u8], schema: &str, name: &str) -> Vec<u8> {
    let mut k = ns.to_vec();
    k.extend_from_slice(b"t\0");
    k.extend_from_slice(schema.as_bytes());
    k.push(0);
    k.extend_from_slice(name.as_bytes());
    k
}

fn view_key(ns: &[u8], schema: &str, name: &str) -> Vec<u8> {
    let mut k = ns.to_vec();
    k.extend_from_slice(b"v\0");
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
    /// The `postgres` database's catalog seen by `txn`.
    pub fn new(txn: &'t mut Transaction, keyspace: KeyspaceId) -> Catalog<'t> {
        Catalog::in_database(txn, keyspace, DEFAULT_DATABASE)
    }

    /// The catalog of `database` seen by `txn`.
    pub fn in_database(
        txn: &'t mut Transaction,
        keyspace: KeyspaceId,
        database: &str,
    ) -> Catalog<'t> {
        Catalog {
            txn,
            keyspace,
            ns: namespace(database),
            cache: None,
            versioned: None,
        }
    }

    /// This catalog parsing table entries through `cache`.
    pub fn cached(mut self, cache: &'t TableCache) -> Catalog<'t> {
        self.cache = Some(cache);
        self
    }

    /// This catalog answering lookups from `cache` when the transaction's view allows.
    pub fn versioned(mut self, cache: &'t CatalogCache) -> Catalog<'t> {
        self.versioned = Some(cache);
        self
    }

    /// Leave to rely on the catalog as the cache holds it (see `versioned`): `None` when
    /// this transaction's view of it may differ, or there is no cache.
    pub(crate) fn token(&self) -> Option<versioned::Token> {
        self.versioned?.token(self.txn, self.keyspace)
    }

    /// A cached lookup of `key`, with the token to store a miss's answer under.
    fn lookup(&self, key: &[u8]) -> (Option<Cached>, Option<versioned::Token>) {
        let Some(cache) = self.versioned else {
            return (None, None);
        };
        match cache.token(self.txn, self.keyspace) {
            Some(token) => (cache.get(token, key), Some(token)),
            None => (None, None),
        }
    }

    /// Stores what `value` makes under `token` (made only when there is one to store).
    fn remember(
        &self,
        token: Option<versioned::Token>,
        key: Vec<u8>,
        value: impl FnOnce() -> Cached,
    ) {
        if let (Some(cache), Some(token)) = (self.versioned, token) {
            cache.put(token, key, value());
        }
    }

    fn decode_table(&self, bytes: &[u8]) -> Result<TableDef> {
        match self.cache {
            Some(c) => c.decode(bytes),
            None => decode(bytes),
        }
    }

    fn schema_key(&self, schema: &str) -> Vec<u8> {
        let mut k = self.ns.clone();
        k.extend_from_slice(b"s\0");
        k.extend_from_slice(schema.as_bytes());
        k
    }

    /// Whether `database` exists.
    pub fn database_exists(&mut self, database: &str) -> Result<bool> {
        if database == DEFAULT_DATABASE {
            return Ok(true);
        }
        let mut k = b"d\0".to_vec();
        k.extend_from_slice(database.as_bytes());
        Ok(self.txn.get(self.keyspace, &k)?.is_some())
    }

    /// Removes every schema, table and view entry of this catalog's database (DROP DATABASE;
    /// the caller removed the tables' rows).
    pub fn clear_namespace(&mut self) -> Result<()> {
        if self.ns.is_empty() {
            return Err(Error::new(
                code::INTERNAL_ERROR,
                "the default database's catalog cannot be cleared",
            ));
        }
        let end = crate::exec::query::successor(&self.ns);
        self.txn.delete_range(self.keyspace, &self.ns, &end)?;
        Ok(())
    }

    /// Whether `schema` exists.
    pub fn schema_exists(&mut self, schema: &str) -> Result<bool> {
        if BUILTIN_SCHEMAS.contains(&schema) {
            return Ok(true);
        }
        let k = self.schema_key(schema);
        let (cached, token) = self.lookup(&k);
        if let Some(Cached::Exists(e)) = cached {
            return Ok(e);
        }
        let exists = self.txn.get(self.keyspace, &k)?.is_some();
        self.remember(token, k, || Cached::Exists(exists));
        Ok(exists)
    }

    /// Creates `schema`.
    pub fn create_schema(&mut self, def: &SchemaDef) -> Result<()> {
        let k = self.schema_key(&def.name);
        self.txn.put(self.keyspace, &k, &encode(def)?)?;
        Ok(())
    }

    /// Drops `schema` (the caller checked it is empty or dropped its objects).
    pub fn drop_schema(&mut self, schema: &str) -> Result<()> {
        let k = self.schema_key(schema);
        self.txn.delete(self.keyspace, &k)?;
        Ok(())
    }

    fn extension_key(&self, name: &str) -> Vec<u8> {
        let mut k = self.ns.clone();
        k.extend_from_slice(b"e\0");
        k.extend_from_slice(name.as_bytes());
        k
    }

    /// Records that CREATE EXTENSION `name` ran in this database (or, with `false`, that DROP
    /// EXTENSION did).
    pub fn set_extension(&mut self, name: &str, created: bool) -> Result<()> {
        let k = self.extension_key(name);
        if created {
            self.txn
                .put(self.keyspace, &k, &encode(&name.to_string())?)?;
        } else {
            self.txn.delete(self.keyspace, &k)?;
        }
        Ok(())
    }

    /// The extensions created in this database.
    pub fn extensions(&mut self) -> Result<Vec<String>> {
        self.list_ns(b"e\0")
    }

    /// Every user-created schema.
    pub fn schemas(&mut self) -> Result<Vec<SchemaDef>> {
        self.list_ns(b"s\0")
    }

    /// The table `schema.name`, if it exists.
    pub fn table(&mut self, schema: &str, name: &str) -> Result<Option<TableDef>> {
        let k = table_key(&self.ns, schema, name);
        let (cached, token) = self.lookup(&k);
        if let Some(Cached::Table(t)) = cached {
            return Ok(t.map(|t| TableDef::clone(&t)));
        }
        let table = match self.txn.get(self.keyspace, &k)? {
            Some(v) => Some(self.decode_table(&v)?),
            None => None,
        };
        self.remember(token, k, || {
            Cached::Table(table.clone().map(std::sync::Arc::new))
        });
        Ok(table)
    }

    /// Writes (creates or replaces) a table definition.
    pub fn put_table(&mut self, def: &TableDef) -> Result<()> {
        let old = self.table(&def.schema, &def.name)?;
        self.update_references(old.as_ref(), Some(def))?;
        self.txn.put(
            self.keyspace,
            &table_key(&self.ns, &def.schema, &def.name),
            &encode(def)?,
        )?;
        Ok(())
    }

    /// Removes a table definition.
    pub fn delete_table(&mut self, schema: &str, name: &str) -> Result<()> {
        let old = self.table(schema, name)?;
        self.update_references(old.as_ref(), None)?;
        self.txn
            .delete(self.keyspace, &table_key(&self.ns, schema, name))?;
        Ok(())
    }

    /// Every table, ordered by schema and name.
    pub fn tables(&mut self) -> Result<Vec<TableDef>> {
        let mut prefix = self.ns.clone();
        prefix.extend_from_slice(b"t\0");
        let mut raw = Vec::new();
        for item in self
            .txn
            .scan_prefix(self.keyspace, &prefix, Direction::Forward)?
        {
            raw.push(item?.1);
        }
        raw.iter().map(|v| self.decode_table(v)).collect()
    }

    /// The view `schema.name`, if it exists.
    pub fn view(&mut self, schema: &str, name: &str) -> Result<Option<ViewDef>> {
        match self
            .txn
            .get(self.keyspace, &view_key(&self.ns, schema, name))?
        {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    /// Writes a view definition.
    pub fn put_view(&mut self, def: &ViewDef) -> Result<()> {
        self.txn.put(
            self.keyspace,
            &view_key(&self.ns, &def.schema, &def.name),
            &encode(def)?,
        )?;
        Ok(())
    }

    /// Removes a view definition.
    pub fn delete_view(&mut self, schema: &str, name: &str) -> Result<()> {
        self.txn
            .delete(self.keyspace, &view_key(&self.ns, schema, name))?;
        Ok(())
    }

    /// Every view.
    pub fn views(&mut self) -> Result<Vec<ViewDef>> {
        self.list_ns(b"v\0")
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

    /// The entries under `prefix` in this database's namespace.
    fn list_ns<T: serde::de::DeserializeOwned>(&mut self, prefix: &[u8]) -> Result<Vec<T>> {
        let mut p = self.ns.clone();
        p.extend_from_slice(prefix);
        self.list(&p)
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
