//! Work a transaction block leaves for its commit: the sequences its DROP TABLEs own, and the
//! stored graphs of the vector indexes it dropped or rebuilt.
//!
//! Both live outside transactions (nextval is never rolled back; a vector index's graph is
//! written ahead of commits, see `exec::ann`), but their existence must follow the catalog:
//! a DROP TABLE that rolls back (the block, or a savepoint it ran under) keeps the table's
//! serial and row-id sequences and its indexes' graphs. So the drops wait here, with the
//! savepoint they were made under, until the block commits.

use orbit_txn::Pending;

use crate::engine::SqlEngine;
use crate::error::Result;

/// Storage outside transactions that a statement released.
#[derive(Debug, Clone, PartialEq)]
pub enum Dropped {
    /// A sequence, by name.
    Sequence(String),
    /// A vector index's graph, by storage generation (`AnnDef::store`).
    VectorStore(u32),
}

#[derive(Debug, Default)]
pub(crate) struct AtCommit {
    /// What to drop once the block commits, in the order the statements dropped them.
    drops: Vec<Dropped>,
    /// Open savepoints (name, `drops` length when it was set), innermost last.
    marks: Vec<(String, usize)>,
}

impl AtCommit {
    /// Adds what a statement of the block dropped.
    pub fn add(&mut self, drops: Vec<Dropped>) {
        self.drops.extend(drops);
    }

    pub fn savepoint(&mut self, name: &str) {
        self.marks.push((name.to_string(), self.drops.len()));
    }

    /// Forgets the drops made since savepoint `name` (which stays set).
    pub fn rollback_to(&mut self, name: &str) {
        if let Some(i) = self.marks.iter().rposition(|(n, _)| n == name) {
            let (_, len) = self.marks[i];
            self.drops.truncate(len);
            self.marks.truncate(i + 1);
        }
    }

    /// Releases savepoint `name` and those set after it (their drops stay).
    pub fn release(&mut self, name: &str) {
        if let Some(i) = self.marks.iter().rposition(|(n, _)| n == name) {
            self.marks.truncate(i);
        }
    }

    /// The block ended without committing.
    pub fn clear(&mut self) {
        self.drops.clear();
        self.marks.clear();
    }

    /// The block committed: drops what it released (the writes are queued on `waits`).
    pub fn commit(&mut self, engine: &SqlEngine, waits: &mut Vec<Pending>) -> Result<()> {
        let drops = std::mem::take(&mut self.drops);
        self.marks.clear();
        release(engine, drops, waits)
    }
}

/// Drops the sequences and vector-index graphs in `drops` that still exist, once their
/// transaction committed.
pub(crate) fn release(
    engine: &SqlEngine,
    drops: Vec<Dropped>,
    waits: &mut Vec<Pending>,
) -> Result<()> {
    for d in drops {
        match d {
            Dropped::Sequence(name) => {
                if engine.sequences.exists(&name)? {
                    engine.sequences.drop(&name, waits)?;
                }
            }
            Dropped::VectorStore(store) => waits.push(engine.ann.drop_store(store)?.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::test_support::{engine, run};

    #[test]
    fn a_dropped_table_keeps_its_sequences_until_the_drop_commits() {
        let engine = engine();
        let mut s = engine.session("postgres", "postgres");
        run(&mut s, "CREATE TABLE t (id serial, v int)");
        let insert = "INSERT INTO t (v) VALUES (0) RETURNING id";
        assert_eq!(run(&mut s, insert).as_deref(), Some("1"));
        run(&mut s, "BEGIN; DROP TABLE t; ROLLBACK");
        assert_eq!(run(&mut s, insert).as_deref(), Some("2"));
        run(
            &mut s,
            "BEGIN; SAVEPOINT a; DROP TABLE t; ROLLBACK TO a; COMMIT",
        );
        assert_eq!(run(&mut s, insert).as_deref(), Some("3"));
        let owned = engine.sequences.names().unwrap().len();
        run(
            &mut s,
            "BEGIN; SAVEPOINT a; DROP TABLE t; RELEASE a; COMMIT",
        );
        // The serial's and the row id's sequences went with the table.
        assert_eq!(engine.sequences.names().unwrap().len(), owned - 2);
        run(&mut s, "CREATE TABLE t (id serial, v int)");
        assert_eq!(run(&mut s, insert).as_deref(), Some("1"));
        run(&mut s, "DROP TABLE t");
        assert_eq!(engine.sequences.names().unwrap().len(), owned - 2);
    }

    fn seq(name: &str) -> Dropped {
        Dropped::Sequence(name.into())
    }

    #[test]
    fn savepoints_scope_the_drops() {
        let mut a = AtCommit::default();
        a.add(vec![seq("a")]);
        a.savepoint("s1");
        a.add(vec![seq("b")]);
        a.savepoint("s2");
        a.add(vec![seq("c")]);
        a.rollback_to("s1");
        assert_eq!(a.drops, [seq("a")]);
        assert_eq!(a.marks.len(), 1);
        a.add(vec![seq("d")]);
        a.release("s1");
        a.rollback_to("s1");
        assert_eq!(a.drops, [seq("a"), seq("d")]);
        a.clear();
        assert!(a.drops.is_empty() && a.marks.is_empty());
    }
}
