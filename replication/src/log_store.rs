//! The Raft log (openraft's `RaftLogStorage`) on `orbit-wal`: entries, truncations and the
//! vote are records of a WAL of their own (layouts in `codec`), always in `sync` mode, so
//! group commit covers the Raft log as it does the engine's.
//!
//! Memory holds the live entries (those not purged: openraft purges up to each snapshot, so
//! this is the tail since the last one) with the LSN each was written at once known.
//! Opening replays the WAL: entries in order, a truncation drops what it names, the last
//! STATE record gives the vote and the purge point.
//!
//! Invariants:
//! - An append is reported flushed (openraft's `LogFlushed`) only after its last record is
//!   durable; the WAL acknowledges in order, so every record before it is durable too, a
//!   truncation included.
//! - A vote is durable before `save_vote` returns.
//! - Segments are released only below the first live entry's LSN, and only after a STATE
//!   record written past it is durable: every record released is a purged entry, a dropped
//!   entry or a truncation with its entries, or a STATE a later one replaces.
//! - With a state machine attached ([`LogStore::keep_for`]), a purge waits until the state
//!   machine holds the purge point durably (`crate::durable`), so a crash never finds the log
//!   starting past what the engine holds.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader, StorageIOError, Vote};
use orbit_env::FileSystem;
use orbit_wal::{Lsn, SyncMode, Wal, WalOptions};

use crate::codec::{self, LogRecord, State};
use crate::durable::DurableWatch;
use crate::error::{Error, Result};
use crate::types::{Entry, LogId, NodeId, StorageError, TypeConfig};

/// The Raft log of one node. Clones share it (openraft reads through a clone while the
/// core appends).
#[derive(Clone)]
pub struct LogStore {
    shared: Arc<Shared>,
}

struct Shared {
    wal: Wal,
    inner: Mutex<Inner>,
    /// How far the state machine's applies are durable, once one is attached.
    durable: OnceLock<DurableWatch>,
}

#[derive(Default)]
struct Inner {
    /// Live entries by index, each with the LSN of its record once the WAL acknowledged it.
    entries: BTreeMap<u64, (Option<Lsn>, Entry)>,
    state: State,
}

impl LogStore {
    /// Opens (replaying) or creates the Raft log in `dir`. The WAL runs in `sync` mode
    /// whatever `opts` says: Raft may not acknowledge what a crash could take back. Blocks
    /// on I/O: call it outside an async runtime.
    pub fn open(fs: Arc<dyn FileSystem>, dir: impl AsRef<Path>, opts: WalOptions) -> Result<Self> {
        let opts = WalOptions {
            sync_mode: SyncMode::Sync,
            ..opts
        };
        let wal = Wal::open(fs, dir, opts)?;
        let mut inner = Inner::default();
        for record in wal.replay(wal.first_lsn())? {
            let record = record?;
            let corrupt = Error::CorruptLog {
                lsn: record.lsn,
                what: "undecodable record",
            };
            match codec::decode_record(&record.payload).ok_or(corrupt)? {
                LogRecord::Entry(e) => {
                    if inner
                        .state
                        .purged
                        .is_some_and(|p| e.log_id.index <= p.index)
                    {
                        continue;
                    }
                    inner.entries.insert(e.log_id.index, (Some(record.lsn), e));
                }
                LogRecord::Truncate(index) => {
                    inner.entries.split_off(&index);
                }
                LogRecord::State(state) => {
                    if let Some(p) = state.purged {
                        inner.entries = inner.entries.split_off(&(p.index + 1));
                    }
                    inner.state = state;
                }
            }
        }
        Ok(LogStore {
            shared: Arc::new(Shared {
                wal,
                inner: Mutex::new(inner),
                durable: OnceLock::new(),
            }),
        })
    }

    /// Purges from here on wait until the state machine holds the purge point durably
    /// (`durable`, its [`crate::StateMachine::durable`]); see the module docs. Without it,
    /// purges go as soon as openraft asks.
    pub(crate) fn keep_for(&self, durable: DurableWatch) {
        // A second call changes nothing: one log serves one state machine.
        let _ = self.shared.durable.set(durable);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `change` and writes the resulting state record (both under the lock, so
    /// state records reach the WAL in the order their changes were made), then waits until
    /// it is durable; returns its LSN.
    async fn update_state(&self, change: impl FnOnce(&mut Inner)) -> Result<Lsn> {
        let handle = {
            let mut inner = self.lock();
            change(&mut inner);
            self.shared.wal.append(codec::encode_state(&inner.state))?
        };
        Ok(handle.await?)
    }

    /// Live entries in `range`, cloned.
    pub fn entries(&self, range: impl RangeBounds<u64>) -> Vec<Entry> {
        self.lock()
            .entries
            .range(range)
            .map(|(_, (_, e))| e.clone())
            .collect()
    }

    /// The largest proposal an entry can carry: one WAL record holds one entry.
    pub fn max_proposal_len(&self) -> usize {
        let record = usize::try_from(self.shared.wal.max_record_len()).unwrap_or(usize::MAX);
        record.saturating_sub(codec::ENTRY_OVERHEAD)
    }

    /// Segment files the log holds (for tests and metrics).
    pub fn segments(&self) -> usize {
        self.shared.wal.stats().segments
    }
}

fn io(e: Error) -> StorageError {
    StorageIOError::write_logs(&e).into()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> std::result::Result<Vec<Entry>, StorageError> {
        Ok(self.entries(range))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> std::result::Result<LogState<TypeConfig>, StorageError> {
        let inner = self.lock();
        let last = inner.entries.values().next_back().map(|(_, e)| e.log_id);
        Ok(LogState {
            last_purged_log_id: inner.state.purged,
            last_log_id: last.or(inner.state.purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> std::result::Result<(), StorageError> {
        self.update_state(|inner| inner.state.vote = Some(*vote))
            .await
            .map_err(|e| StorageIOError::write_vote(&e))?;
        Ok(())
    }

    async fn read_vote(&mut self) -> std::result::Result<Option<Vote<NodeId>>, StorageError> {
        Ok(self.lock().state.vote)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> std::result::Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut handles = Vec::new();
        {
            // Under the lock, so records reach the WAL in the order entries become visible.
            let mut inner = self.lock();
            for entry in entries {
                let record = codec::encode_entry(&entry).map_err(io)?;
                let handle = self.shared.wal.append(record).map_err(|e| io(e.into()))?;
                handles.push((entry.log_id, handle));
                inner.entries.insert(entry.log_id.index, (None, entry));
            }
        }
        let store = self.clone();
        // Durability is reported from a task, so openraft can send the entries to followers
        // while the fsync runs.
        tokio::spawn(async move {
            let mut outcome = Ok(());
            for (log_id, handle) in handles {
                match handle.await {
                    Ok(lsn) => {
                        if let Some((at, e)) = store.lock().entries.get_mut(&log_id.index) {
                            if e.log_id == log_id {
                                *at = Some(lsn);
                            }
                        }
                    }
                    Err(e) => {
                        outcome = Err(std::io::Error::other(e));
                        break;
                    }
                }
            }
            callback.log_io_completed(outcome);
        });
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> std::result::Result<(), StorageError> {
        let mut inner = self.lock();
        inner.entries.split_off(&log_id.index);
        // Not waited for: the append that follows a truncation is, and the WAL makes records
        // durable in order.
        let _pending = self
            .shared
            .wal
            .append(codec::encode_truncate(log_id.index))
            .map_err(|e| io(e.into()))?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> std::result::Result<(), StorageError> {
        if self
            .lock()
            .state
            .purged
            .is_some_and(|p| p.index >= log_id.index)
        {
            return Ok(());
        }
        if let Some(mut durable) = self.shared.durable.get().cloned() {
            durable
                .wait_for(log_id.index)
                .await
                .map_err(|_| io(Error::StateMachineFailed))?;
        }
        let state_lsn = self
            .update_state(|inner| {
                inner.state.purged = Some(log_id);
                inner.entries = inner.entries.split_off(&(log_id.index + 1));
            })
            .await
            .map_err(io)?;
        // The first live entry's record, if the WAL has acknowledged it yet (if not, the next
        // purge releases what this one could have).
        let first_live = match self.lock().entries.values().next() {
            Some((lsn, _)) => *lsn,
            None => Some(state_lsn),
        };
        if let Some(upto) = first_live {
            self.shared.wal.release(upto.min(state_lsn));
        }
        Ok(())
    }
}
