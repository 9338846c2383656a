//! The replicated state machine (openraft's `RaftStateMachine`): the node's LSM. Applying an
//! entry writes its commit batch; the last applied log id and the membership are kept in the
//! `raft:state` keyspace, written in the same atomic batch as the data they describe, so after
//! a crash the engine's own recovery says exactly which entries it holds and openraft
//! re-applies the rest from the Raft log.
//!
//! Snapshots are logical (`snapshot`): every other keyspace's pairs as of one engine snapshot,
//! with the applied state read at that same snapshot. Installing one replaces every keyspace's
//! contents and the applied state in one atomic batch.
//!
//! Invariants: the applied state in `raft:state` always describes exactly the data beside it
//! (same batch, same snapshot); entries are applied in log order, one engine batch per
//! `apply` call; an entry is reported applied only once readers of this node see it.

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};
use orbit_lsm::{Db, KeyspaceId, WriteBatch};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::snapshot;
use crate::types::{
    Applied, Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

/// The keyspace holding the applied state.
pub const STATE_KEYSPACE: &str = "raft:state";
const APPLIED_KEY: &[u8] = b"applied";

/// What the state machine has applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct AppliedState {
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

/// The state machine over one database. Clones share it.
#[derive(Clone)]
pub struct StateMachine {
    shared: Arc<Shared>,
}

struct Shared {
    db: Arc<Db>,
    state_ks: KeyspaceId,
    current: Mutex<Current>,
    foreign: Arc<Foreign>,
}

/// What the replicated commit log ([`crate::ReplicatedLog`]) shares with the state machine:
/// which term's entries this node proposed itself, and a count of applies of entries it did
/// not (another leader's, or a snapshot), raised once they are visible.
#[derive(Debug, Default)]
pub(crate) struct Foreign {
    /// The term this node led with its commit pipeline open (0: none yet). Only the leader of
    /// a term creates entries in it, so an entry of another term was proposed elsewhere.
    pub(crate) own_term: AtomicU64,
    /// Raised after every apply of writes proposed elsewhere.
    pub(crate) epoch: AtomicU64,
}

/// The last snapshot built or installed, and how many were built (for their ids).
#[derive(Default)]
struct Current {
    snapshot: Option<(SnapshotMeta, Vec<u8>)>,
    built: u64,
}

impl StateMachine {
    /// The state machine over `db` (creates its `raft:state` keyspace the first time, which
    /// waits for the engine's WAL: call it outside an async runtime).
    pub fn open(db: Arc<Db>) -> Result<StateMachine> {
        let state_ks = match db.keyspace(STATE_KEYSPACE) {
            Some(id) => id,
            None => db.create_keyspace(STATE_KEYSPACE)?,
        };
        // Where leaders record their client addresses (`ReplicatedLog`), created here, off
        // the runtime.
        if db.keyspace(crate::commit_log::NODES_KEYSPACE).is_none() {
            db.create_keyspace(crate::commit_log::NODES_KEYSPACE)?;
        }
        Ok(StateMachine {
            shared: Arc::new(Shared {
                db,
                state_ks,
                current: Mutex::new(Current::default()),
                foreign: Arc::default(),
            }),
        })
    }

    /// The database the state machine writes.
    pub fn db(&self) -> &Arc<Db> {
        &self.shared.db
    }

    pub(crate) fn foreign(&self) -> &Arc<Foreign> {
        &self.shared.foreign
    }

    fn current(&self) -> MutexGuard<'_, Current> {
        self.shared
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn applied(&self) -> Result<AppliedState> {
        let shared = &self.shared;
        match shared.db.get(shared.state_ks, APPLIED_KEY)? {
            Some(bytes) => Ok(serde_json::from_slice(&bytes)?),
            None => Ok(AppliedState::default()),
        }
    }

    /// Applies `entries` in one atomic engine batch; one answer per entry.
    fn apply_blocking(&self, entries: Vec<Entry>) -> Result<Vec<Applied>> {
        let shared = &self.shared;
        let db = &shared.db;
        let mut state = self.applied()?;
        let mut batch = WriteBatch::new();
        // Per entry, how many ops the batch held after it.
        let mut ends = Vec::with_capacity(entries.len());
        for entry in &entries {
            state.last_applied = Some(entry.log_id);
            match &entry.payload {
                EntryPayload::Blank => ends.push(None),
                EntryPayload::Normal(p) => {
                    let before = batch.len();
                    p.decode_into(&mut batch, |name| resolve(db, name))?;
                    ends.push((batch.len() > before).then_some(batch.len()));
                }
                EntryPayload::Membership(m) => {
                    state.membership = StoredMembership::new(Some(entry.log_id), m.clone());
                    ends.push(None);
                }
            }
        }
        let own = shared.foreign.own_term.load(Ordering::SeqCst);
        let foreign = entries.iter().any(|e| {
            matches!(e.payload, EntryPayload::Normal(_)) && e.log_id.leader_id.term != own
        });
        let ops = batch.len() as u64;
        batch.put(shared.state_ks, APPLIED_KEY, &serde_json::to_vec(&state)?);
        let last = db.write_pending(&batch)?.wait()?;
        // Applied means readers on this node see it.
        db.wait_visible(last)?;
        if foreign {
            shared.foreign.epoch.fetch_add(1, Ordering::SeqCst);
        }
        // The batch's seqs are consecutive: its ops, then the applied state.
        let first = last.saturating_sub(ops);
        Ok(ends
            .into_iter()
            .map(|end| Applied {
                seq: end.map(|n| first + n as u64 - 1),
            })
            .collect())
    }

    fn build_blocking(&self) -> Result<(SnapshotMeta, Vec<u8>)> {
        let shared = &self.shared;
        // openraft drops the log up to the snapshot: what the engine applied must not depend
        // on it any more (its WAL may not be synced per write).
        shared.db.sync_wal()?;
        let snap = shared.db.snapshot();
        let state: AppliedState = match shared.db.get_at(shared.state_ks, APPLIED_KEY, &snap)? {
            Some(bytes) => serde_json::from_slice(&bytes)?,
            None => AppliedState::default(),
        };
        let data = snapshot::write(&shared.db, &snap, shared.state_ks)?;
        let mut current = self.current();
        current.built += 1;
        let meta = SnapshotMeta {
            last_log_id: state.last_applied,
            last_membership: state.membership,
            snapshot_id: format!(
                "{}-{}",
                state.last_applied.map_or(0, |l| l.index),
                current.built
            ),
        };
        current.snapshot = Some((meta.clone(), data.clone()));
        Ok((meta, data))
    }

    fn install_blocking(&self, meta: SnapshotMeta, data: Vec<u8>) -> Result<()> {
        let shared = &self.shared;
        let db = &shared.db;
        let mut batch = WriteBatch::new();
        snapshot::read_into(db, &data, shared.state_ks, &mut batch, |name| {
            resolve(db, name)
        })?;
        let state = AppliedState {
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
        };
        batch.put(shared.state_ks, APPLIED_KEY, &serde_json::to_vec(&state)?);
        let last = db.write_pending(&batch)?.wait()?;
        db.wait_visible(last)?;
        // The log up to the snapshot goes next: the snapshot must be durable here first.
        db.sync_wal()?;
        shared.foreign.epoch.fetch_add(1, Ordering::SeqCst);
        self.current().snapshot = Some((meta, data));
        Ok(())
    }

    /// Runs `f` on a blocking thread (engine writes wait for fsyncs).
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(StateMachine) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let sm = self.clone();
        tokio::task::spawn_blocking(move || f(sm))
            .await
            .map_err(|e| Error::Task(e.to_string()))?
    }
}

/// The id of the keyspace named `name`, created if this node does not have it yet.
fn resolve(db: &Db, name: &str) -> Result<KeyspaceId> {
    if name == STATE_KEYSPACE {
        return Err(Error::CorruptProposal("writes to the raft state keyspace"));
    }
    match db.keyspace(name) {
        Some(id) => Ok(id),
        None => match db.create_keyspace(name) {
            Ok(id) => Ok(id),
            // Created meanwhile by another thread.
            Err(orbit_lsm::Error::KeyspaceExists(_)) => db
                .keyspace(name)
                .ok_or(Error::CorruptProposal("keyspace vanished")),
            Err(e) => Err(e.into()),
        },
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> std::result::Result<Snapshot<TypeConfig>, StorageError> {
        let (meta, data) = self
            .blocking(|sm| sm.build_blocking())
            .await
            .map_err(|e| StorageIOError::read_state_machine(&e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> std::result::Result<(Option<LogId>, StoredMembership), StorageError> {
        let state = self
            .blocking(|sm| sm.applied())
            .await
            .map_err(|e| StorageIOError::read_state_machine(&e))?;
        Ok((state.last_applied, state.membership))
    }

    async fn apply<I>(&mut self, entries: I) -> std::result::Result<Vec<Applied>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        self.blocking(move |sm| sm.apply_blocking(entries))
            .await
            .map_err(|e| StorageIOError::write_state_machine(&e).into())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> std::result::Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> std::result::Result<(), StorageError> {
        let signature = meta.signature();
        let meta = meta.clone();
        let data = snapshot.into_inner();
        self.blocking(move |sm| sm.install_blocking(meta, data))
            .await
            .map_err(|e| StorageIOError::write_snapshot(Some(signature), &e).into())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> std::result::Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(self
            .current()
            .snapshot
            .as_ref()
            .map(|(meta, data)| Snapshot {
                meta: meta.clone(),
                snapshot: Box::new(Cursor::new(data.clone())),
            }))
    }
}
