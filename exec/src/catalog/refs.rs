//! Reverse foreign-key entries: `{ns}r\0{schema}\0{table}\0{child schema}\0{child table}`
//! exists while `child` has a foreign key to `schema.table`.
//!
//! Every UPDATE and DELETE asks which tables reference its table; reading these few keys
//! instead of decoding every table definition is what keeps that question cheap. The entries
//! are written in the same transaction as the table definitions they mirror (`put_table`,
//! `delete_table`), so they are exactly as transactional. Catalogs written before the entries
//! existed get them once, at open ([`Catalog::index_references`]).

use std::collections::BTreeSet;

use orbit_lsm::Direction;

use std::sync::Arc;

use super::{Cached, Catalog, TableDef};
use crate::error::Result;

/// Marks a namespace whose `r` entries are complete.
const COMPLETE: &[u8] = b"x\0refs";

impl Catalog<'_> {
    fn reference_prefix(&self, schema: &str, table: &str) -> Vec<u8> {
        let mut k = self.ns.clone();
        k.extend_from_slice(b"r\0");
        k.extend_from_slice(schema.as_bytes());
        k.push(0);
        k.extend_from_slice(table.as_bytes());
        k.push(0);
        k
    }

    /// The `r` keys a table definition implies.
    fn reference_keys(&self, def: Option<&TableDef>) -> BTreeSet<Vec<u8>> {
        let Some(def) = def else {
            return BTreeSet::new();
        };
        def.constraints
            .iter()
            .filter_map(|c| c.foreign.as_ref())
            .map(|fk| {
                let mut k = self.reference_prefix(&fk.ref_schema, &fk.ref_table);
                k.extend_from_slice(def.schema.as_bytes());
                k.push(0);
                k.extend_from_slice(def.name.as_bytes());
                k
            })
            .collect()
    }

    /// Rewrites the `r` entries of a table whose definition goes from `old` to `new` (`None`:
    /// absent).
    pub(super) fn update_references(
        &mut self,
        old: Option<&TableDef>,
        new: Option<&TableDef>,
    ) -> Result<()> {
        let (old, new) = (self.reference_keys(old), self.reference_keys(new));
        for k in old.difference(&new) {
            self.txn.delete(self.keyspace, k)?;
        }
        for k in new.difference(&old) {
            self.txn.put(self.keyspace, k, b"")?;
        }
        Ok(())
    }

    /// The tables (schema, name) with a foreign key to `schema.table`.
    pub fn referencing_tables(
        &mut self,
        schema: &str,
        table: &str,
    ) -> Result<Vec<(String, String)>> {
        let prefix = self.reference_prefix(schema, table);
        let (cached, token) = self.lookup(&prefix);
        if let Some(Cached::Referencing(r)) = cached {
            return Ok(r.to_vec());
        }
        let mut out = Vec::new();
        for item in self
            .txn
            .scan_prefix(self.keyspace, &prefix, Direction::Forward)?
        {
            let (k, _) = item?;
            let rest = k.get(prefix.len()..).unwrap_or_default();
            let mut parts = rest.splitn(2, |&b| b == 0);
            let (Some(s), Some(t)) = (parts.next(), parts.next()) else {
                continue;
            };
            out.push((
                String::from_utf8_lossy(s).into_owned(),
                String::from_utf8_lossy(t).into_owned(),
            ));
        }
        self.remember(token, prefix, || Cached::Referencing(Arc::new(out.clone())));
        Ok(out)
    }

    /// Writes the `r` entries of every table unless this namespace's are known complete;
    /// returns whether it wrote them.
    pub fn index_references(&mut self) -> Result<bool> {
        let mut marker = self.ns.clone();
        marker.extend_from_slice(COMPLETE);
        if self.txn.get(self.keyspace, &marker)?.is_some() {
            return Ok(false);
        }
        for t in self.tables()? {
            self.update_references(None, Some(&t))?;
        }
        self.txn.put(self.keyspace, &marker, b"")?;
        Ok(true)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use orbit_txn::Isolation;

    use super::COMPLETE;
    use crate::catalog::Catalog;
    use crate::engine::SqlEngine;
    use crate::test_support::{run, txn_db};

    fn referencing(engine: &SqlEngine, table: &str) -> Vec<String> {
        let mut txn = engine.txn.begin(Isolation::ReadCommitted).unwrap();
        let refs = Catalog::new(&mut txn, engine.catalog)
            .referencing_tables("public", table)
            .unwrap();
        refs.into_iter().map(|(s, t)| format!("{s}.{t}")).collect()
    }

    #[test]
    fn entries_follow_the_table_definitions() {
        let txn = txn_db();
        let engine = SqlEngine::open(txn.clone()).unwrap();
        let mut s = engine.session("postgres", "postgres");
        run(
            &mut s,
            "CREATE TABLE p (id int PRIMARY KEY); CREATE SCHEMA app",
        );
        run(
            &mut s,
            "CREATE TABLE c (x int REFERENCES p ON DELETE CASCADE)",
        );
        run(&mut s, "CREATE TABLE app.d (x int, y int, FOREIGN KEY (x) REFERENCES p, FOREIGN KEY (y) REFERENCES p)");
        assert_eq!(referencing(&engine, "p"), ["app.d", "public.c"]);
        assert!(referencing(&engine, "c").is_empty());

        // Rolled back with the DDL that wrote them.
        run(&mut s, "BEGIN; DROP TABLE c; ROLLBACK");
        assert_eq!(referencing(&engine, "p"), ["app.d", "public.c"]);
        run(&mut s, "ALTER TABLE c RENAME TO c2");
        assert_eq!(referencing(&engine, "p"), ["app.d", "public.c2"]);
        run(&mut s, "DROP TABLE app.d");
        assert_eq!(referencing(&engine, "p"), ["public.c2"]);

        // A catalog from before the entries existed gets them when the engine opens.
        let mut t = txn.begin(Isolation::ReadCommitted).unwrap();
        t.delete_range(engine.catalog, b"r\0", b"r\x01").unwrap();
        t.delete(engine.catalog, COMPLETE).unwrap();
        t.commit().unwrap();
        assert!(referencing(&engine, "p").is_empty());
        let engine = SqlEngine::open(txn).unwrap();
        assert_eq!(referencing(&engine, "p"), ["public.c2"]);

        // And ON DELETE CASCADE finds its child through them.
        let mut s = engine.session("postgres", "postgres");
        run(
            &mut s,
            "INSERT INTO p VALUES (1); INSERT INTO c2 VALUES (1)",
        );
        run(&mut s, "DELETE FROM p");
        assert_eq!(run(&mut s, "SELECT count(*) FROM c2").as_deref(), Some("0"));
    }
}
