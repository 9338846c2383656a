//! Memtable rotation and flushes: the write path rotates full memtables into an immutable
//! set; the flush thread writes each set to one L0 table per keyspace, records them in the
//! manifest with the WAL position replay must start from, and only then lets the WAL release
//! the segments before it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use orbit_env::OpenMode;

use super::{lock, sort_tables, table_name, ImmSet, Inner, LiveTable, NewTable, WriteState};
use crate::batch::KeyspaceId;
use crate::key;
use crate::manifest::{Edit, FileMeta};
use crate::memtable::Memtable;
use crate::range_del::Fragments;
use crate::sst::{Table, TableBuilder};
use crate::Result;

/// The bytes a keyspace's next memtable sizes its key index for: twice its share of the
/// rotated set (`last` of `total` bytes) applied to the whole budget, within the budget.
/// Sizing every keyspace's index for the whole budget zeroed a full-size table (8 MiB at 64
/// MiB) per keyspace per rotation, idle keyspaces included: 4-5% of the CPU of a Redis `SET`
/// load went to zeroing pages. Scaling by the share, not the bytes, keeps a rotation forced
/// early (a checkpoint, SAVE) from shrinking a busy keyspace's index. A keyspace that grows
/// past its estimate fills its index, which then turns incomplete and lookups search the
/// list (see `memtable::index`); the next rotation sizes it for the new rate.
fn next_capacity(last: usize, total: usize, budget: usize) -> usize {
    if total == 0 {
        return 0;
    }
    let share = (last as u128 * 2 * budget as u128) / total as u128;
    usize::try_from(share).unwrap_or(usize::MAX).min(budget)
}

impl Inner {
    /// Rotates every keyspace's memtable into an immutable set. Called under `write_lock`;
    /// stalls (waits for the flusher) while too many sets are pending.
    pub(super) fn rotate(&self, ws: &WriteState) -> Result<()> {
        self.wait_flushes(|q| {
            q.len() < self.opts.max_immutable && self.max_l0() < self.opts.l0_stop_writes
        })?;
        let set = {
            let mut trees = self.trees_mut();
            let end_lsn = std::mem::replace(&mut trees.end_lsn, Arc::new(AtomicU64::new(0)));
            let mut mems = Vec::new();
            let total: usize = trees
                .keyspaces
                .values()
                .map(|t| t.mem.approximate_size())
                .sum();
            for (id, tree) in trees.keyspaces.iter_mut() {
                let fresh = Arc::new(Memtable::with_capacity(next_capacity(
                    tree.mem.approximate_size(),
                    total,
                    self.opts.memtable_bytes,
                )));
                let old = std::mem::replace(&mut tree.mem, fresh);
                tree.imms.insert(0, Arc::clone(&old));
                mems.push((*id, old));
            }
            ImmSet {
                mems,
                max_seq: ws.next_seq - 1,
                end_lsn,
            }
        };
        lock(&self.flush_queue).push_back(Arc::new(set));
        self.update_pressure();
        self.flush_cv.notify_all();
        Ok(())
    }

    /// Whether the memtables are due to rotate: together they reached `memtable_bytes`, or
    /// one holding at least an eighth of it has a nearly full key index (tiny entries:
    /// `Memtable::index_nearly_full`). A smaller memtable's index was sized small (its share of
    /// the last rotation's bytes) and may fill: it is left to fall back to list searches,
    /// rather than rotate every memtable for it.
    pub(super) fn needs_rotation(&self) -> bool {
        let budget = self.opts.memtable_bytes;
        let trees = self.trees();
        let mut total = 0;
        for t in trees.keyspaces.values() {
            let size = t.mem.approximate_size();
            if size >= budget / 8 && t.mem.index_nearly_full() {
                return true;
            }
            total += size;
        }
        total >= budget
    }

    /// Creates the next table file and a builder for it.
    pub(crate) fn start_table(&self) -> Result<NewTable> {
        let number = self.next_file.fetch_add(1, Ordering::SeqCst);
        let path = self.dir.join(table_name(number));
        let file = self.fs.open(&path, OpenMode::CreateNew)?;
        let builder = TableBuilder::new(Arc::clone(&file), self.opts.table.clone());
        Ok(NewTable {
            number,
            path,
            file,
            builder,
        })
    }

    /// Finishes and syncs a table (the directory sync is the caller's) and opens it.
    pub(crate) fn finish_table(&self, t: NewTable, level: u8) -> Result<Arc<LiveTable>> {
        let info = t.builder.finish()?;
        t.file.sync_all()?;
        let table = Table::open(t.file, t.number, Arc::clone(&self.cache))?;
        let p = info.properties;
        let meta = FileMeta {
            number: t.number,
            level,
            size: info.size,
            smallest: p.smallest,
            largest: p.largest,
            seqs: p.seq_range,
        };
        Ok(LiveTable::new(table, meta, Arc::clone(&self.fs), t.path))
    }

    /// Writes one immutable set to tables and records them. Runs on the flush thread.
    pub(super) fn flush_set(&self, set: &ImmSet) -> Result<()> {
        let visible = self
            .publisher
            .wait_visible(set.max_seq, || self.poisoned.load(Ordering::SeqCst));
        if !visible {
            self.check_poison()?;
        }
        let mut edits = Vec::new();
        let mut new_tables = Vec::new();
        for (ks, mem) in &set.mems {
            if mem.is_empty() {
                continue;
            }
            let mut new = self.start_table()?;
            // Versions a range tombstone of this memtable hides from every reader (the oldest
            // snapshot sees the tombstone) never reach a table: the tombstone, written below,
            // still hides older versions in lower levels.
            let range_dels = mem.range_dels();
            let dels = Fragments::from_tombstones(&range_dels);
            let oldest = self
                .snapshots
                .oldest()
                .map_or(set.max_seq, |s| s.min(set.max_seq));
            // Likewise older versions of a key below one every reader sees (entries come newest
            // first per key), as compaction drops them.
            let (mut last_user, mut first, mut shadowed) = (Vec::new(), true, false);
            mem.walk(|k, v| {
                let Some((user, seq, _)) = key::split(k) else {
                    return new.builder.add(k, v);
                };
                if first || last_user.as_slice() != user {
                    first = false;
                    last_user.clear();
                    last_user.extend_from_slice(user);
                } else if shadowed {
                    return Ok(());
                }
                shadowed = seq <= oldest;
                if dels.is_empty() || !dels.hides(user, seq, oldest) {
                    new.builder.add(k, v)?;
                }
                Ok(())
            })?;
            for t in &range_dels {
                new.builder.add_range_del(t);
            }
            let live = self.finish_table(new, 0)?;
            self.stats
                .flush_bytes
                .fetch_add(live.meta.size, Ordering::Relaxed);
            edits.push(Edit::AddFile(*ks, live.meta.clone()));
            new_tables.push((*ks, live));
        }
        self.fs.sync_dir(&self.dir)?;
        let end_lsn = set.end_lsn.load(Ordering::Acquire);
        edits.push(Edit::NextFile(self.next_file.load(Ordering::SeqCst)));
        edits.push(Edit::LastSeq(set.max_seq));
        edits.push(Edit::LogLsn(end_lsn));
        // Under the manifest lock no keyspace is dropped: tables of one dropped since the
        // set was rotated are left out (and deleted when `new_tables` drops them).
        let mut manifest = lock(&self.manifest);
        {
            let trees = self.trees();
            let gone = |ks: &KeyspaceId| !trees.keyspaces.contains_key(ks);
            edits.retain(|e| !matches!(e, Edit::AddFile(ks, _) if gone(ks)));
            for (ks, t) in &new_tables {
                if gone(ks) {
                    t.mark_obsolete();
                }
            }
        }
        manifest.append(&edits)?;
        self.flushed_lsn.fetch_max(end_lsn, Ordering::SeqCst);
        {
            let mut trees = self.trees_mut();
            for (ks, table) in new_tables {
                if let Some(tree) = trees.keyspaces.get_mut(&ks) {
                    let tables = Arc::make_mut(&mut tree.tables);
                    tables.push(table);
                    sort_tables(tables);
                }
            }
            for (ks, mem) in &set.mems {
                if let Some(tree) = trees.keyspaces.get_mut(ks) {
                    tree.imms.retain(|m| !Arc::ptr_eq(m, mem));
                }
            }
        }
        drop(manifest);
        self.wal.release(end_lsn);
        self.update_pressure();
        self.compact_cv.notify_all();
        Ok(())
    }

    pub(super) fn flush_loop(&self) {
        loop {
            let front = {
                let mut q = lock(&self.flush_queue);
                loop {
                    if self.shutdown.load(Ordering::SeqCst) || self.poisoned.load(Ordering::SeqCst)
                    {
                        return;
                    }
                    if let Some(set) = q.front() {
                        break Arc::clone(set);
                    }
                    // Timed, as a second line of defence against a missed wake-up.
                    q = self
                        .flush_cv
                        .wait_timeout(q, std::time::Duration::from_millis(200))
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            };
            if let Err(e) = self.flush_set(&front) {
                // The set stays in memory (reads still see it); its data is safe in the WAL
                // (unlogged writes, in their writer's own log: `Db::write_unlogged`).
                self.poison(format!("flush failed: {e}"));
                return;
            }
            lock(&self.flush_queue).pop_front();
            self.update_pressure();
            self.flush_cv.notify_all();
        }
    }
}

#[cfg(test)]
mod capacity_tests {
    #[test]
    fn the_next_index_is_sized_for_twice_the_share_within_the_budget() {
        let budget = 64 << 20;
        // An idle keyspace, an empty set.
        assert_eq!(super::next_capacity(0, 60 << 20, budget), 0);
        assert_eq!(super::next_capacity(0, 0, budget), 0);
        // A tenth of a full set: a fifth of the budget.
        assert_eq!(super::next_capacity(6 << 20, 60 << 20, budget), budget / 5);
        // A rotation forced at 5% fill by the only busy keyspace: the whole budget.
        assert_eq!(super::next_capacity(3 << 20, 3 << 20, budget), budget);
        assert_eq!(super::next_capacity(usize::MAX, usize::MAX, budget), budget);
    }
}
