//! Point reads: a key's newest value at a sequence number, one key (`Db::get` and its kin
//! in `mod.rs` end here) or many at once (`Db::get_latest_many`, whose memtable lookups
//! prefetch every key's index slot and node before reading any). A read looks in the
//! memtables newest first, then the tables in read order (L0 newest first, one candidate per
//! deeper level), and stops at the first source with an entry for the key; a range tombstone
//! newer than that entry in the sources before hides it.

use std::sync::Arc;

use super::live::LiveTable;
use super::{Db, Error, KeyspaceId, Result};
use crate::key::ValueKind;
use crate::memtable::Memtable;

impl Db {
    /// `seq`: `None` reads at the visible sequence number, read after the sources are taken:
    /// a flush or compaction installed before then dropped only versions hidden at a number
    /// already visible, so a reader never asks them for a version they left out.
    pub(super) fn get_at_seq(
        &self,
        keyspace: KeyspaceId,
        key: &[u8],
        seq: Option<u64>,
    ) -> Result<Option<Vec<u8>>> {
        let (mems, tables) = self.read_sources(keyspace)?;
        let seq = seq.unwrap_or_else(|| self.inner.publisher.visible());
        // The newest range tombstone covering `key` in the sources read so far.
        let mut deleted_at = 0;
        for mem in &mems {
            if let Some(d) = mem.range_del_covering(key, seq) {
                deleted_at = deleted_at.max(d);
            }
            if let Some(entry) = mem.get(key, seq) {
                return Ok(visible(deleted_at, entry));
            }
        }
        get_from_tables(&tables, key, seq, deleted_at)
    }

    /// [`Db::get_latest`] of each of `keys`, in order. The lookups share one look at the
    /// keyspace's sources, and in each memtable every key's index slot, then its node, is
    /// prefetched before any is looked up: their cache misses overlap (a pipeline of GETs).
    pub fn get_latest_many(
        &self,
        keyspace: KeyspaceId,
        keys: &[&[u8]],
    ) -> Result<Vec<Option<Vec<u8>>>> {
        let (mems, tables) = self.read_sources(keyspace)?;
        let seq = crate::key::MAX_SEQ;
        let hashes: Vec<u64> = keys.iter().map(|k| crate::memtable::key_hash(k)).collect();
        // Per key: its answer once a source had it, and the newest range tombstone covering
        // it in the sources read so far.
        let mut answers: Vec<Option<Option<Vec<u8>>>> = vec![None; keys.len()];
        let mut deleted_at = vec![0u64; keys.len()];
        let mut open: Vec<usize> = (0..keys.len()).collect();
        for mem in &mems {
            if open.is_empty() {
                break;
            }
            for &i in &open {
                mem.prefetch_slot(hashes[i]);
            }
            for &i in &open {
                mem.prefetch_node(hashes[i]);
            }
            open.retain(|&i| {
                if let Some(d) = mem.range_del_covering(keys[i], seq) {
                    deleted_at[i] = deleted_at[i].max(d);
                }
                match mem.get_hashed(keys[i], hashes[i], seq) {
                    Some(entry) => {
                        answers[i] = Some(visible(deleted_at[i], entry));
                        false
                    }
                    None => true,
                }
            });
        }
        for i in open {
            answers[i] = Some(get_from_tables(&tables, keys[i], seq, deleted_at[i])?);
        }
        Ok(answers.into_iter().map(Option::flatten).collect())
    }

    /// A keyspace's memtables (the active one, then the immutable ones, newest first) and
    /// tables, as a read takes them.
    fn read_sources(&self, keyspace: KeyspaceId) -> Result<ReadSources> {
        let trees = self.inner.trees();
        let tree = trees
            .keyspaces
            .get(&keyspace)
            .ok_or(Error::UnknownKeyspace(keyspace))?;
        let mut mems = vec![Arc::clone(&tree.mem)];
        mems.extend(tree.imms.iter().cloned());
        Ok((mems, Arc::clone(&tree.tables)))
    }
}

/// What a point read looks in: memtables newest first, then the tables in read order.
type ReadSources = (Vec<Arc<Memtable>>, Arc<Vec<Arc<LiveTable>>>);

/// A source's entry for a key as a read answers it: the value of a put newer than the newest
/// range tombstone covering the key in the sources before (`deleted_at`); nothing for a
/// delete.
fn visible(deleted_at: u64, (at, kind, value): (u64, ValueKind, Vec<u8>)) -> Option<Vec<u8>> {
    (kind == ValueKind::Put && at > deleted_at).then_some(value)
}

/// The tables' part of a point read of `key` at `seq` (the memtables had no entry for it).
fn get_from_tables(
    tables: &[Arc<LiveTable>],
    key: &[u8],
    seq: u64,
    mut deleted_at: u64,
) -> Result<Option<Vec<u8>>> {
    // Read order: L0 newest first, then one candidate per deeper level.
    for live in tables.iter().filter(|t| t.covers(key)) {
        if let Some(d) = live.table.range_del_covering(key, seq) {
            deleted_at = deleted_at.max(d);
        }
        if let Some(entry) = live.table.get(key, seq)? {
            return Ok(visible(deleted_at, entry));
        }
    }
    Ok(None)
}
