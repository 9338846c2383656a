//! Reclaiming HNSW nodes whose rows are gone: what pgvector's VACUUM does for an hnsw index,
//! run by a background thread (`orbit serve` starts it) and asked for by `VACUUM`.
//!
//! A node is dead when no transaction can accept it any more: its row is deleted, holds
//! another vector, or never committed. A round decides that without stopping anything:
//! 1. For each index due (see [`AnnIndexes::due`]): its graph's insert stamp. Every node
//!    stamped before it was added by a transaction that had begun by then.
//! 2. Grace: every transaction begun before step 1 ends (`TxnDb::ended_before`). Those
//!    nodes' rows are now committed or never will be. Slots the previous round vacated are
//!    released now: no reader still holds an id from a search that ran before they were
//!    vacated.
//! 3. A snapshot S (a transaction's, which also gives the table definitions the rows are
//!    decoded with), then each such node is checked against its row at S: a node whose row
//!    does not hold its vector at S is dead for every snapshot from S on (a row set to that
//!    vector again later got a node of its own).
//! 4. Grace again: every transaction begun before S ends, so every reader left has a
//!    snapshot at or after S.
//! 5. The dead nodes are removed from the graph (`HnswIndex::reclaim`) and their records
//!    deleted; their slots wait, quarantined, for the next round's step 2.
//!
//! A long-running transaction holds a round at a grace step, as it holds back PostgreSQL's
//! VACUUM; the round resumes when it ends or the server stops. IVFFlat indexes keep their
//! dead entries (readers filter them; a REINDEX drops them).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use orbit_txn::Isolation;

use super::ann_graph::AnnGraph;
use crate::catalog::{Catalog, IndexDef, TableDef, DEFAULT_DATABASE};
use crate::engine::SqlEngine;
use crate::error::Result;
use crate::row::{decode_row, index_prefix};

/// An index a round works on.
struct Target {
    table: TableDef,
    index: IndexDef,
    store: u32,
    graph: Arc<AnnGraph>,
    /// Step 1's stamp.
    before: u64,
}

/// What a round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Indexes looked at.
    pub indexes: usize,
    /// Nodes checked against their rows.
    pub checked: usize,
    /// Nodes removed.
    pub reclaimed: usize,
}

/// How often a grace step looks again.
const GRACE_POLL: Duration = Duration::from_millis(20);

impl SqlEngine {
    /// Runs one reclaim round over the vector indexes that are due; `running` going false
    /// abandons it (nothing is removed then). Returns what it did.
    pub fn reclaim_vectors(&self, running: &AtomicBool) -> Result<Round> {
        let due = self.ann.due();
        if due.is_empty() {
            // Slots the last round vacated become reusable after a grace period of their
            // own when no round is due to release them.
            if self.ann.quarantined() && self.grace(self.txn.horizon(), running) {
                self.ann.release_all();
            }
            return Ok(Round::default());
        }
        let mut targets = {
            let mut txn = self.txn.begin(Isolation::RepeatableRead)?;
            let found = self.reclaim_targets(&mut txn, &due)?;
            txn.rollback();
            found
        };
        for t in &mut targets {
            t.before = t.graph.stamp();
        }
        if !self.grace(self.txn.horizon(), running) {
            return Ok(Round::default());
        }
        self.ann.release_all();
        let db = Arc::clone(self.txn.db());
        db.wait_visible(db.assigned_seq())?;
        // The rows and the table definitions that decode them come from one snapshot (an
        // ALTER TABLE in between must not have rows read by another version's layout).
        let mut txn = self.txn.begin(Isolation::RepeatableRead)?;
        let horizon = self.txn.horizon();
        let now: Vec<Target> = self.reclaim_targets(&mut txn, &due)?;
        let mut round = Round {
            indexes: targets.len(),
            ..Round::default()
        };
        let mut dead: Vec<Vec<(u32, u64)>> = Vec::with_capacity(targets.len());
        for t in &targets {
            let mut gone = Vec::new();
            // A generation whose index is gone from the snapshot's catalog is left alone.
            let Some(def) = now.iter().find(|n| n.store == t.store) else {
                dead.push(gone);
                continue;
            };
            let prefix = index_prefix(def.table.id, 0);
            for (id, born, suffix) in t.graph.born_before(t.before) {
                if !running.load(Ordering::Relaxed) {
                    return Ok(round);
                }
                round.checked += 1;
                let mut key = prefix.clone();
                key.extend_from_slice(&suffix);
                let vector = match txn.get(self.data, &key)? {
                    Some(bytes) => {
                        let row = decode_row(&def.table, &bytes)?;
                        super::ann::vector_of(&def.table, &def.index, &row)
                    }
                    None => None,
                };
                if !vector.is_some_and(|v| t.graph.holds(id, born, &v)) {
                    gone.push((id, born));
                }
            }
            dead.push(gone);
        }
        txn.rollback();
        if !self.grace(horizon, running) {
            return Ok(round);
        }
        for (t, gone) in targets.iter().zip(dead) {
            if gone.is_empty() {
                continue;
            }
            round.reclaimed += self.ann.reclaim(t.store, &t.graph, &gone)?;
        }
        self.ann.round_done();
        Ok(round)
    }

    /// The HNSW indexes of generations `due`, in every database as `txn` sees it, with their
    /// open graphs.
    fn reclaim_targets(
        &self,
        txn: &mut orbit_txn::Transaction,
        due: &HashSet<u32>,
    ) -> Result<Vec<Target>> {
        let mut databases = vec![DEFAULT_DATABASE.to_string()];
        databases.extend(
            Catalog::new(txn, self.catalog)
                .databases()?
                .into_iter()
                .map(|d| d.name),
        );
        let mut targets = Vec::new();
        for database in &databases {
            for table in Catalog::in_database(txn, self.catalog, database).tables()? {
                for index in &table.indexes {
                    let Some(def) = index.ann.as_ref().filter(|d| due.contains(&d.store)) else {
                        continue;
                    };
                    let graph = self.ann.get(def)?;
                    if !matches!(graph.as_ref(), AnnGraph::Hnsw(_)) {
                        continue;
                    }
                    targets.push(Target {
                        table: table.clone(),
                        index: index.clone(),
                        store: def.store,
                        graph,
                        before: 0,
                    });
                }
            }
        }
        Ok(targets)
    }

    /// Waits until every transaction begun before `horizon` has ended; false if `running`
    /// went false first.
    fn grace(&self, horizon: u64, running: &AtomicBool) -> bool {
        while !self.txn.ended_before(horizon) {
            if !running.load(Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep(GRACE_POLL);
        }
        true
    }
}
