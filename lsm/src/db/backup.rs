//! Online base backups and the replay half of a restore.
//!
//! A backup is a checkpoint (see `checkpoint`) plus the WAL that carries it forward: the
//! checkpoint's tables hold every record before `start_lsn` (the flushed position, read under
//! the manifest lock, and held so no segment from it is released meanwhile); the active
//! segment is then closed at `stop_lsn` and every segment covering `[start_lsn, stop_lsn)` is
//! exported in the archive format. Restoring the checkpoint and replaying that WAL gives the
//! database as of `stop_lsn`; replaying an archive on top carries it further.
//!
//! [`Replayer`] applies replayed records to the restored database in log order. Keyspace ids
//! are mapped through the keyspace records the log carries, so a keyspace created after the
//! backup is recreated before its writes. Before `stop_lsn` a record may name a keyspace the
//! checkpoint no longer has (dropped while the backup ran): its ops are skipped, as crash
//! recovery skips them. After `stop_lsn` an unknown keyspace is corruption. A batch split over
//! several records (`crate::split`) is applied at its commit record, whose LSN is the batch's
//! for these rules and for a restore target: replay stopped between its records leaves it out
//! whole (the backup's WAL may end inside one, its archive continues it; replay both through one
//! `Replayer`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use orbit_wal::{ArchiveStatus, Lsn};

use super::{CheckpointInfo, Db};
use crate::batch::{for_each_op, KeyspaceId, WriteBatch};
use crate::key::ValueKind;
use crate::split::{Assembler, Step};
use crate::{Error, Result};

/// What [`Db::backup`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// The checkpoint's tables.
    pub checkpoint: CheckpointInfo,
    /// The WAL's identity (the timeline).
    pub log_id: u64,
    /// The checkpoint holds every WAL record before this.
    pub start_lsn: Lsn,
    /// The exported WAL ends here: the backup restores to the database as of this LSN.
    pub stop_lsn: Lsn,
    /// The exported WAL files (archive format), in `target/wal`.
    pub wal_files: Vec<PathBuf>,
}

impl Db {
    /// Writes a base backup into `target` (which must not exist or be empty) while writes go
    /// on: a checkpoint, and in `target/wal` the WAL from the checkpoint's position to the end
    /// of the log as of this call.
    pub fn backup(&self, target: impl AsRef<Path>) -> Result<BackupInfo> {
        let target = target.as_ref();
        let (checkpoint, held) = self.checkpoint_held(target, true)?;
        let Some((start_lsn, hold)) = held else {
            return Err(Error::Internal("checkpoint returned no wal hold"));
        };
        let wal = &self.inner.wal;
        let stop_lsn = wal.switch_segment()?;
        let wal_dir = target.join("wal");
        self.inner.fs.create_dir_all(&wal_dir)?;
        let wal_files = wal.export(start_lsn, stop_lsn, &wal_dir)?;
        self.inner.fs.sync_dir(target)?;
        drop(hold);
        tracing::info!(target = %target.display(), start_lsn, stop_lsn,
            wal_files = wal_files.len(), "base backup written");
        Ok(BackupInfo {
            checkpoint,
            log_id: wal.log_id(),
            start_lsn,
            stop_lsn,
            wal_files,
        })
    }

    /// The end of the WAL as written (one atomic load: cheap enough to poll).
    pub fn wal_written_lsn(&self) -> Lsn {
        self.inner.wal.written_lsn()
    }

    /// Closes the active WAL segment if it holds records (so the archive gets it, like
    /// PostgreSQL's `pg_switch_wal()`); returns the LSN every closed segment ends at.
    pub fn switch_wal(&self) -> Result<Lsn> {
        Ok(self.inner.wal.switch_segment()?)
    }

    /// Makes every logged write submitted before this call durable, whatever the sync mode
    /// (a replicated node's snapshot install, whose engine WAL is not synced per write,
    /// before its Raft log may drop what the install replaces). Unlogged writes
    /// ([`Db::write_unlogged`]) are made durable by [`Db::flush`].
    pub fn sync_wal(&self) -> Result<()> {
        self.inner.wal.sync()?;
        Ok(())
    }

    /// The WAL's identity: a new database, and every restored one, starts a new log.
    pub fn log_id(&self) -> u64 {
        self.inner.wal.log_id()
    }

    /// The WAL archive's position, when archiving is on.
    pub fn archive_status(&self) -> Option<ArchiveStatus> {
        self.inner.wal.archive_status()
    }
}

/// Applies WAL records to a database being restored (see the module docs).
pub struct Replayer<'a> {
    db: &'a Db,
    /// Keyspace id in the log → id in `db`.
    ids: HashMap<KeyspaceId, KeyspaceId>,
    /// Records before this may name keyspaces the checkpoint lacks.
    lenient_before: Lsn,
    applied: u64,
    /// Puts batches split over several records back together.
    assembler: Assembler,
}

impl<'a> Replayer<'a> {
    /// A replayer onto `db` (restored from a checkpoint whose backup stopped at `stop_lsn`).
    pub fn new(db: &'a Db, stop_lsn: Lsn) -> Replayer<'a> {
        let ids = db.keyspaces().into_iter().map(|(id, _)| (id, id)).collect();
        Replayer {
            db,
            ids,
            lenient_before: stop_lsn,
            applied: 0,
            assembler: Assembler::default(),
        }
    }

    /// Write batches applied so far.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Where a batch split over several records began whose commit record has not been
    /// applied yet (the target stopped the replay inside it, or the log ends there: it was
    /// never committed). Such a batch is not applied.
    pub fn incomplete_batch_lsn(&self) -> Option<Lsn> {
        self.assembler.incomplete().map(|i| i.lsn)
    }

    /// Applies the record at `lsn` with WAL payload `payload`. A record of a batch split over
    /// several is kept until the batch's commit record, which applies the whole batch.
    pub fn apply(&mut self, lsn: Lsn, payload: &[u8]) -> Result<()> {
        let unknown = |id| -> Result<()> {
            match lsn < self.lenient_before {
                true => Ok(()),
                false => Err(Error::ReplayUnknownKeyspace { lsn, keyspace: id }),
            }
        };
        let step = self
            .assembler
            .push(lsn, payload)
            .map_err(|reason| Error::BadLogRecord { lsn, reason })?;
        match step {
            Step::Buffered => {}
            Step::Batch(bytes) => {
                let mut mapped = WriteBatch::new();
                let mut missing = None;
                let decoded = for_each_op(&bytes, |_, op| {
                    let Some(&id) = self.ids.get(&op.keyspace) else {
                        missing = missing.or(Some(op.keyspace));
                        return;
                    };
                    match op.kind {
                        ValueKind::Put => mapped.put(id, op.key, op.value),
                        ValueKind::Delete => mapped.delete(id, op.key),
                        ValueKind::RangeDelete => mapped.delete_range(id, op.key, op.value),
                    };
                });
                decoded.ok_or_else(|| Error::BadLogRecord {
                    lsn,
                    reason: "wal record is not a write batch".into(),
                })?;
                if let Some(id) = missing {
                    unknown(id)?;
                }
                drop(bytes);
                // Waits for the WAL write only (a restore runs without fsync per record).
                drop(self.db.write_pending(&mapped)?);
                self.applied += 1;
            }
            Step::CreateKeyspace(id, name) => {
                let ours = match self.db.keyspace(&name) {
                    Some(ours) => ours,
                    None => self.db.create_keyspace(&name)?,
                };
                self.ids.insert(id, ours);
            }
            Step::DropKeyspace(id) => match self.ids.remove(&id) {
                Some(ours) => self.db.drop_keyspace(ours)?,
                None => unknown(id)?,
            },
        }
        Ok(())
    }
}
