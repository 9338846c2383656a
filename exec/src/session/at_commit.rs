//! Work a transaction block leaves for its commit: the sequences its DROP TABLEs own.
//!
//! Sequences live outside transactions (nextval is never rolled back), but their existence
//! must follow the table that owns them: a DROP TABLE that rolls back (the block, or a
//! savepoint it ran under) keeps the table's serial and row-id sequences. So the drops wait
//! here, with the savepoint they were made under, until the block commits.

use orbit_lsm::PendingWrite;

use crate::engine::SqlEngine;
use crate::error::Result;

#[derive(Debug, Default)]
pub(crate) struct AtCommit {
    /// Sequences to drop once the block commits, in the order the statements dropped them.
    drops: Vec<String>,
    /// Open savepoints (name, `drops` length when it was set), innermost last.
    marks: Vec<(String, usize)>,
}

impl AtCommit {
    /// Adds the sequences a statement of the block dropped.
    pub fn add(&mut self, drops: Vec<String>) {
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

    /// The block committed: drops its sequences (their writes are queued on `waits`).
    pub fn commit(&mut self, engine: &SqlEngine, waits: &mut Vec<PendingWrite>) -> Result<()> {
        let drops = std::mem::take(&mut self.drops);
        self.marks.clear();
        drop_sequences(engine, drops, waits)
    }
}

/// Drops the sequences `names` that still exist, once their transaction committed.
pub(crate) fn drop_sequences(
    engine: &SqlEngine,
    names: Vec<String>,
    waits: &mut Vec<PendingWrite>,
) -> Result<()> {
    for name in names {
        if engine.sequences.exists(&name)? {
            engine.sequences.drop(&name, waits)?;
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

    #[test]
    fn savepoints_scope_the_drops() {
        let mut a = AtCommit::default();
        a.add(vec!["a".into()]);
        a.savepoint("s1");
        a.add(vec!["b".into()]);
        a.savepoint("s2");
        a.add(vec!["c".into()]);
        a.rollback_to("s1");
        assert_eq!(a.drops, ["a"]);
        assert_eq!(a.marks.len(), 1);
        a.add(vec!["d".into()]);
        a.release("s1");
        a.rollback_to("s1");
        assert_eq!(a.drops, ["a", "d"]);
        a.clear();
        assert!(a.drops.is_empty() && a.marks.is_empty());
    }
}
