//! The replicated state machine (openraft's `RaftStateMachine`): the node's LSM. Applying an
//! entry writes its commit batch; the last applied log id and the membership are kept in the
//! `raft:state` keyspace, written in the same atomic batch as the data they describe, so after
//! a crash the engine's own recovery says exactly which entries it holds and openraft
//! re-applies the rest from the Raft log.
//!
//! The Raft log is the write-ahead log: applies are written without an engine WAL record
//! (`Db::write_unlogged`; with one only where the WAL is archived, `log_applies`), durable
//! once a flush writes their memtables. A crash loses what was applied since the last flush,
//! applied state included, and openraft applies it again. So the log must keep every entry
//! the engine has not flushed: before openraft purges the log up to a snapshot it built, the
//! builder flushes the engine (`build_blocking`). openraft also purges up to a received
//! snapshot as it hands it over, before the install has run: the log store waits for the
//! state machine's durable mark (`crate::durable`) before it purges, and the mark rises
//! only where a crash can no longer take an apply back (open, a build's flush, an install's
//! first batch synced, after which a restart finishes the install).
//!
//! Snapshots are logical (`snapshot`): every other keyspace's pairs as of one engine snapshot,
//! with the applied state read at that same snapshot, streamed to a file (`raft-snapshots/`)
//! that openraft sends to a lagging follower a chunk at a time. The follower writes the chunks
//! to a file, checks it whole, then installs it in bounded batches: the first clears every
//! keyspace and records the snapshot as being installed (`installing`), the last writes the
//! snapshot's applied state and removes that record. A crash in between leaves the record,
//! and the next start finishes the install from the file, which was made durable before the
//! first batch; until then (and while installing) the node serves no follower reads, and a
//! read that overlapped an install fails (`Foreign::replacements`, odd while one runs).
//!
//! Invariants: the applied state in `raft:state` always describes exactly the data beside it
//! (same batch, same snapshot), except while `installing` is present, when the data is
//! partial and the node does not open until the install is finished; entries are applied in
//! log order, one engine batch per `apply` call; an entry is reported applied only once
//! readers of this node see it; neither building, sending nor installing a snapshot holds the
//! database in memory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};
use orbit_env::{File, FileSystem};
use orbit_lsm::{Db, KeyspaceId, WriteBatch, MAX_KEY_LEN};
use serde::{Deserialize, Serialize};

use crate::durable::{DurableMark, DurableWatch};
use crate::error::{Error, Result};
use crate::snapshot::{self, SnapshotFile, Store};
use crate::types::{
    Applied, Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

/// The keyspace holding the applied state.
pub const STATE_KEYSPACE: &str = "raft:state";
const APPLIED_KEY: &[u8] = b"applied";
/// Present while a snapshot is being installed: its metadata.
const INSTALLING_KEY: &[u8] = b"installing";
/// The bytes of pairs an install writes per engine batch.
const INSTALL_BATCH: usize = 4 << 20;

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
    store: Store,
    /// Whether applies also go to the engine WAL (`StateMachine::log_applies`).
    logged: AtomicBool,
    /// The last log index whose apply a crash cannot take back, for the Raft log to purge
    /// no further (failed once any storage call here failed: openraft then stops).
    durable: DurableMark,
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
    /// Raised as a snapshot install begins and again once it is done: odd while the data is
    /// partial (`CommitLog::replacements`).
    pub(crate) replacements: AtomicU64,
}

/// The last snapshot built or installed (its file), and how many were built (for their ids).
#[derive(Default)]
struct Current {
    snapshot: Option<(SnapshotMeta, PathBuf)>,
    built: u64,
}

impl StateMachine {
    /// The state machine over `db`, keeping snapshot files in `dir` on `fs`. Creates its
    /// `raft:state` keyspace the first time and finishes an install a crash interrupted, both
    /// of which wait for the engine's WAL: call it outside an async runtime.
    pub fn open(
        db: Arc<Db>,
        fs: Arc<dyn FileSystem>,
        dir: impl AsRef<Path>,
    ) -> Result<StateMachine> {
        let state_ks = match db.keyspace(STATE_KEYSPACE) {
            Some(id) => id,
            None => db.create_keyspace(STATE_KEYSPACE)?,
        };
        // Where leaders record their client addresses (`ReplicatedLog`), created here, off
        // the runtime.
        if db.keyspace(crate::commit_log::NODES_KEYSPACE).is_none() {
            db.create_keyspace(crate::commit_log::NODES_KEYSPACE)?;
        }
        let sm = StateMachine {
            shared: Arc::new(Shared {
                db,
                state_ks,
                current: Mutex::new(Current::default()),
                foreign: Arc::default(),
                store: Store::open(fs, dir)?,
                logged: AtomicBool::new(false),
                durable: DurableMark::default(),
            }),
        };
        sm.resume_install()?;
        // What recovery found is durable once the engine WAL replayed into it is synced
        // (a cluster node runs that WAL unsynced: an install's batches may be in it).
        sm.shared.db.sync_wal()?;
        sm.made_durable(sm.applied()?.last_applied);
        Ok(sm)
    }

    /// Finishes the install a crash interrupted, if there was one.
    fn resume_install(&self) -> Result<()> {
        let shared = &self.shared;
        let Some(meta) = shared.db.get(shared.state_ks, INSTALLING_KEY)? else {
            // Staged but not begun (or finished but not renamed): nothing depends on it.
            shared.store.unstage()?;
            return Ok(());
        };
        let meta: SnapshotMeta = serde_json::from_slice(&meta)?;
        let file = shared.store.staged()?.ok_or(Error::CorruptSnapshot(
            "the file of an interrupted install is missing",
        ))?;
        tracing::warn!(snapshot = %meta.snapshot_id, "finishing a snapshot install a crash interrupted");
        self.apply_snapshot(&meta, &file)?;
        let path = shared.store.installed()?;
        self.set_current(meta, path);
        Ok(())
    }

    /// Writes applies to the engine WAL too (they skip it by default: see the module docs),
    /// for a node whose WAL is archived: a point-in-time restore from that archive replays
    /// the replicated writes with the node's own.
    pub fn log_applies(&self, on: bool) {
        self.shared.logged.store(on, Ordering::Relaxed);
    }

    /// How far applies are durable, for the Raft log to purge no further
    /// (`LogStore::keep_for`).
    pub(crate) fn durable(&self) -> DurableWatch {
        self.shared.durable.watch()
    }

    /// The durable mark's log index (tests).
    #[cfg(test)]
    pub(crate) fn durable_index(&self) -> u64 {
        self.shared.durable.get()
    }

    fn made_durable(&self, upto: Option<LogId>) {
        if let Some(l) = upto {
            self.shared.durable.raise(l.index);
        }
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
        let pending = match shared.logged.load(Ordering::Relaxed) {
            true => db.write_pending(&batch)?,
            false => db.write_unlogged(&batch)?,
        };
        let last = pending.wait()?;
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

    fn build_blocking(&self) -> Result<(SnapshotMeta, SnapshotFile)> {
        let shared = &self.shared;
        // openraft drops the log up to the snapshot: what the snapshot covers must not depend
        // on it any more (applies are durable only once flushed: see the module docs).
        // Flushed after the engine snapshot is taken, so entries applied meanwhile are
        // covered too.
        let snap = shared.db.snapshot();
        shared.db.flush()?;
        let state: AppliedState = match shared.db.get_at(shared.state_ks, APPLIED_KEY, &snap)? {
            Some(bytes) => serde_json::from_slice(&bytes)?,
            None => AppliedState::default(),
        };
        self.made_durable(state.last_applied);
        let (path, file) = shared.store.create("built", "snap")?;
        if let Err(e) = snapshot::write(&shared.db, &snap, shared.state_ks, Arc::clone(&file)) {
            shared.store.remove(&path);
            return Err(e);
        }
        let built = {
            let mut current = self.current();
            current.built += 1;
            current.built
        };
        let meta = SnapshotMeta {
            last_log_id: state.last_applied,
            last_membership: state.membership,
            snapshot_id: format!("{}-{built}", state.last_applied.map_or(0, |l| l.index)),
        };
        self.set_current(meta.clone(), path);
        Ok((meta, SnapshotFile::new(file)))
    }

    /// Makes the snapshot at `path` the current one, unless the current one is newer (then
    /// `path` goes); the file it replaces goes (readers holding it open keep reading it).
    fn set_current(&self, meta: SnapshotMeta, path: PathBuf) {
        let mut current = self.current();
        let old = match &current.snapshot {
            Some((m, _)) if m.last_log_id > meta.last_log_id => Some(path),
            _ => current.snapshot.replace((meta, path)).map(|(_, p)| p),
        };
        if let Some(old) = old {
            self.shared.store.remove(&old);
        }
    }

    /// Installs the snapshot received whole in `data`: checked, made durable, then applied.
    fn install_blocking(&self, meta: SnapshotMeta, data: SnapshotFile) -> Result<()> {
        let shared = &self.shared;
        let file = data.file();
        let path = file.path().to_path_buf();
        // A damaged snapshot changes nothing.
        if let Err(e) = snapshot::verify(file, STATE_KEYSPACE) {
            if shared.store.is_received(&path) {
                shared.store.remove(&path);
            }
            return Err(e);
        }
        let staged = shared.store.stage(&path, file)?;
        // Odd from here (already odd if an earlier install failed half way: the data is
        // still partial) until this one is done.
        let _ = shared
            .foreign
            .replacements
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n % 2 == 0).then_some(n + 1)
            });
        self.apply_snapshot(&meta, &staged)?;
        // Caches keyed by the epoch are stale from here: raised before reads resume.
        shared.foreign.epoch.fetch_add(1, Ordering::SeqCst);
        shared.foreign.replacements.fetch_add(1, Ordering::SeqCst);
        let installed = shared.store.installed()?;
        self.set_current(meta, installed.clone());
        // Streams a leader abandoned, or sent again while this install ran.
        shared.store.remove_received_but(&installed)?;
        Ok(())
    }

    /// Replaces the engine's contents (every keyspace but the Raft state's) with the
    /// snapshot in `file` (verified), in bounded batches, and its applied state with `meta`'s
    /// (see the module docs). Durable when it returns. The durable mark rises to the
    /// snapshot once its first batch is synced: from there a restart finishes the install
    /// (`resume_install`), so the Raft log may drop what the snapshot covers.
    fn apply_snapshot(&self, meta: &SnapshotMeta, file: &Arc<dyn File>) -> Result<()> {
        let shared = &self.shared;
        let db = &shared.db;
        let mut batch = WriteBatch::new();
        batch.put(shared.state_ks, INSTALLING_KEY, &serde_json::to_vec(meta)?);
        for (id, _) in db.keyspaces() {
            if id != shared.state_ks {
                clear(&mut batch, id);
            }
        }
        db.write_pending(&batch)?.wait()?;
        db.sync_wal()?;
        self.made_durable(meta.last_log_id);
        let mut batch = WriteBatch::new();
        let mut held = 0;
        snapshot::walk(
            file,
            |name| resolve(db, name),
            |id, key, value| {
                batch.put(id, key, value);
                held += key.len() + value.len();
                if held >= INSTALL_BATCH {
                    db.write_pending(&std::mem::take(&mut batch))?.wait()?;
                    held = 0;
                }
                Ok(())
            },
        )?;
        let state = AppliedState {
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
        };
        batch.put(shared.state_ks, APPLIED_KEY, &serde_json::to_vec(&state)?);
        batch.delete(shared.state_ks, INSTALLING_KEY);
        let last = db.write_pending(&batch)?.wait()?;
        db.wait_visible(last)?;
        db.sync_wal()?;
        Ok(())
    }

    /// Runs `f` on a blocking thread (engine writes wait for fsyncs). An error fails the
    /// durable mark: openraft stops on any state machine error, and a purge waiting for the
    /// mark must not wait for ever.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(StateMachine) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let sm = self.clone();
        let done = tokio::task::spawn_blocking(move || f(sm))
            .await
            .map_err(|e| Error::Task(e.to_string()))
            .and_then(|r| r);
        if done.is_err() {
            self.shared.durable.fail();
        }
        done
    }
}

/// Adds to `batch` the deletion of every key keyspace `id` can hold (all are below
/// `[0xff; MAX_KEY_LEN]` or equal to it).
fn clear(batch: &mut WriteBatch, id: KeyspaceId) {
    let top = vec![0xff; MAX_KEY_LEN];
    batch.delete_range(id, &[], &top);
    batch.delete(id, &top);
}

/// The id of the keyspace named `name`, created if this node does not have it yet.
fn resolve(db: &Db, name: &str) -> Result<KeyspaceId> {
    if name == STATE_KEYSPACE {
        return Err(Error::CorruptProposal("writes to the raft state keyspace"));
    }
    Ok(db.open_keyspace(name)?)
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> std::result::Result<Snapshot<TypeConfig>, StorageError> {
        let (meta, data) = self
            .blocking(|sm| sm.build_blocking())
            .await
            .map_err(|e| StorageIOError::read_state_machine(&e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(data),
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
    ) -> std::result::Result<Box<SnapshotFile>, StorageError> {
        let file = self
            .blocking(|sm| {
                let store = &sm.shared.store;
                // Earlier streams' files stay until an install or a restart: openraft may
                // still install the last one it received whole.
                let (_, file) = store.create("received", "part")?;
                Ok(file)
            })
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        Ok(Box::new(SnapshotFile::new(file)))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<SnapshotFile>,
    ) -> std::result::Result<(), StorageError> {
        let signature = meta.signature();
        let meta = meta.clone();
        self.blocking(move |sm| sm.install_blocking(meta, *snapshot))
            .await
            .map_err(|e| StorageIOError::write_snapshot(Some(signature), &e).into())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> std::result::Result<Option<Snapshot<TypeConfig>>, StorageError> {
        self.blocking(|sm| {
            let current = sm.current();
            let Some((meta, path)) = current.snapshot.as_ref() else {
                return Ok(None);
            };
            let file = sm.shared.store.read(path)?;
            Ok(Some(Snapshot {
                meta: meta.clone(),
                snapshot: Box::new(SnapshotFile::new(file)),
            }))
        })
        .await
        .map_err(|e| StorageIOError::read_snapshot(None, &e).into())
    }
}
