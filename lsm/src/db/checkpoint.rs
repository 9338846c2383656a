//! Checkpoints: a consistent, openable copy of the database in another directory, made while
//! writes go on.
//!
//! The memtables are flushed first, so every write acknowledged before the call is in a table.
//! Then, under the manifest lock (no flush, compaction or keyspace change can install or retire
//! tables meanwhile), every live table is hard-linked into the target (copied and synced where
//! the file system cannot link, e.g. across devices) and a fresh manifest naming exactly those
//! tables is written there. Tables are immutable, so a link is a consistent copy. The flushed
//! tables hold a prefix of the sequence space, so the checkpoint is the database as of one
//! moment; writes that finish after the flush may or may not be in it.
//!
//! The checkpoint has no WAL (everything in it is in tables); opening it starts a fresh log.
//! `CURRENT` is written last, after the tables and manifest are durable: a checkpoint
//! directory without `CURRENT` is incomplete (the call failed or the machine crashed) and must
//! not be opened.

use std::path::Path;
use std::sync::atomic::Ordering;

use orbit_env::OpenMode;
use orbit_wal::WalHold;

use super::{lock, table_name, Db};
use crate::manifest::{KeyspaceFiles, Manifest, State};
use crate::{Error, Result};

/// What a checkpoint holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// Tables linked or copied.
    pub tables: usize,
    /// Of those, tables copied because they could not be linked.
    pub copied: usize,
    /// Bytes of the tables.
    pub bytes: u64,
    /// Every write with a sequence number up to this is in the checkpoint.
    pub last_seq: u64,
}

/// Bytes copied per read when a table cannot be linked.
const COPY_CHUNK: usize = 1 << 20;

impl Db {
    /// Writes a checkpoint of the database into `target`, which must not exist or be empty.
    pub fn checkpoint(&self, target: impl AsRef<Path>) -> Result<CheckpointInfo> {
        self.checkpoint_held(target.as_ref(), false)
            .map(|(info, _)| info)
    }

    /// [`Db::checkpoint`]; with `hold`, also the WAL position the checkpoint's tables hold
    /// everything before (read under the manifest lock) and a hold keeping the WAL from it.
    pub(super) fn checkpoint_held(
        &self,
        target: &Path,
        hold: bool,
    ) -> Result<(CheckpointInfo, Option<(u64, WalHold)>)> {
        let inner = &self.inner;
        let fs = &inner.fs;
        if fs.exists(target)? && !fs.list_dir(target)?.is_empty() {
            return Err(Error::CheckpointExists(target.to_path_buf()));
        }
        fs.create_dir_all(target)?;
        self.flush()?;

        let manifest = lock(&inner.manifest);
        // Flushes install in order: the tables now hold every WAL record before this.
        let flushed_lsn = inner.flushed_lsn.load(Ordering::SeqCst);
        let held = match hold {
            true => Some((flushed_lsn, inner.wal.hold(flushed_lsn)?)),
            false => None,
        };
        let mut state = State {
            // Tables hold at most what is visible; later writes get larger numbers.
            last_seq: inner.publisher.visible(),
            next_file: inner.next_file.load(Ordering::SeqCst),
            ..State::default()
        };
        let mut info = CheckpointInfo {
            tables: 0,
            copied: 0,
            bytes: 0,
            last_seq: state.last_seq,
        };
        let keyspaces: Vec<_> = inner
            .trees()
            .keyspaces
            .iter()
            .map(|(id, tree)| (*id, tree.name.clone(), tree.tables.clone()))
            .collect();
        for (id, name, tables) in keyspaces {
            let mut files = KeyspaceFiles {
                name,
                ..KeyspaceFiles::default()
            };
            for t in tables.iter() {
                let from = inner.dir.join(table_name(t.meta.number));
                let to = target.join(table_name(t.meta.number));
                if fs.hard_link(&from, &to).is_err() {
                    copy_file(inner, &from, &to)?;
                    info.copied += 1;
                }
                info.tables += 1;
                info.bytes += t.meta.size;
                files.files.insert(t.meta.number, t.meta.clone());
            }
            state.next_keyspace = state.next_keyspace.max(id + 1);
            state.keyspaces.insert(id, files);
        }
        drop(manifest);
        // Makes the links durable, then names the manifest in `CURRENT`.
        fs.sync_dir(target)?;
        let number = state.next_file.max(1);
        state.next_file = number + 1;
        Manifest::create(fs.clone(), target, number, &state)?;
        tracing::info!(target = %target.display(), tables = info.tables, copied = info.copied,
            bytes = info.bytes, last_seq = info.last_seq, "checkpoint written");
        Ok((info, held))
    }
}

fn copy_file(inner: &super::Inner, from: &Path, to: &Path) -> Result<()> {
    let src = inner.fs.open(from, OpenMode::Read)?;
    let dst = inner.fs.open(to, OpenMode::CreateNew)?;
    let len = src.len()?;
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut at = 0u64;
    while at < len {
        let n = usize::try_from(len - at).map_or(COPY_CHUNK, |r| r.min(COPY_CHUNK));
        let chunk = buf.get_mut(..n).unwrap_or_default();
        src.read_exact_at(chunk, at)?;
        dst.write_all_at(chunk, at)?;
        at += n as u64;
    }
    dst.sync_all()?;
    Ok(())
}
