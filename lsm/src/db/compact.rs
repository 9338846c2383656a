//! Leveled compaction.
//!
//! L0 holds flushed memtables (tables may overlap); L1 and deeper hold non-overlapping runs,
//! each level `level_ratio` times the previous (`level1_bytes` for L1). Picking, per keyspace:
//! once L0 has `l0_compaction_trigger` tables, all of L0 and the L1 tables it overlaps; else the
//! first level over its target gives one table (round-robin by key) and the overlapping tables
//! of the next level. Outputs are split at `target_file_bytes`, only between user keys, so a
//! key's versions stay in one table and levels stay non-overlapping.
//!
//! What a compaction keeps, per user key, newest version first: every version newer than the
//! oldest live snapshot, plus the newest version at or below it; older ones are shadowed for
//! every reader. A delete among the kept versions at or below the oldest snapshot is dropped
//! too when no deeper level may hold the key (nothing below to hide). The compaction filter
//! sees each such newest-visible put and may remove it: it becomes a delete (or vanishes at the
//! bottom), so an older version deeper down cannot reappear.
//!
//! Range tombstones of the inputs drop every input version they cover when the tombstone is at
//! or below the oldest snapshot (no reader can see under it). They are carried into the outputs,
//! each output getting the part within its key range `[its first key, the next output's first
//! key)`, so tables of a level stay disjoint; at the bottom level, tombstones at or below the
//! oldest snapshot are dropped (nothing below is left to hide).

use std::fmt::Debug;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::iter::{Source, TableSource};
use super::{lock, sort_tables, Inner, LiveTable, NewTable};
use crate::batch::KeyspaceId;
use crate::key::{self, ValueKind};
use crate::manifest::Edit;
use crate::range_del::{Fragments, RangeTombstone};
use crate::Result;

/// What a compaction filter decides for an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactionDecision {
    /// Keep the entry.
    Keep,
    /// Remove it (expired data: a Redis TTL, a time-series retention).
    Remove,
}

/// A hook that lets upper layers drop entries during compaction.
pub trait CompactionFilter: Send + Sync + Debug {
    /// Decides for the newest version of `key` visible to every reader.
    fn filter(&self, keyspace: KeyspaceId, key: &[u8], value: &[u8]) -> CompactionDecision;
}

/// One compaction to run.
pub(crate) struct Job {
    keyspace: KeyspaceId,
    inputs: Vec<Arc<LiveTable>>,
    output_level: u8,
    /// No deeper level overlaps the inputs' key range.
    bottommost: bool,
    /// For a level-N pick: the level and the key where the round-robin cursor moves.
    cursor: Option<(u8, Vec<u8>)>,
}

fn key_range(tables: &[Arc<LiveTable>]) -> Option<(Vec<u8>, Vec<u8>)> {
    let lo = tables.iter().map(|t| t.smallest_user()).min()?.to_vec();
    let hi = tables.iter().map(|t| t.largest_user()).max()?.to_vec();
    Some((lo, hi))
}

impl Inner {
    fn level_target(&self, level: u8) -> u64 {
        let mut target = self.opts.level1_bytes;
        for _ in 1..level {
            target = target.saturating_mul(self.opts.level_ratio);
        }
        target
    }

    /// L0 tables of the keyspace with the most.
    pub(crate) fn max_l0(&self) -> usize {
        self.trees()
            .keyspaces
            .values()
            .map(|t| t.tables.iter().filter(|x| x.level() == 0).count())
            .max()
            .unwrap_or(0)
    }

    pub(crate) fn pick_compaction(&self) -> Option<Job> {
        let trees = self.trees();
        for (ks, tree) in &trees.keyspaces {
            let at = |level: u8| tree.tables.iter().filter(move |t| t.level() == level);
            let bottommost = |out: u8, lo: &[u8], hi: &[u8]| {
                !tree
                    .tables
                    .iter()
                    .any(|t| t.level() > out && t.overlaps(lo, hi))
            };
            let l0: Vec<_> = at(0).cloned().collect();
            if l0.len() >= self.opts.l0_compaction_trigger {
                let (lo, hi) = key_range(&l0)?;
                let mut inputs = l0;
                inputs.extend(at(1).filter(|t| t.overlaps(&lo, &hi)).cloned());
                let (lo, hi) = key_range(&inputs)?;
                return Some(Job {
                    keyspace: *ks,
                    bottommost: bottommost(1, &lo, &hi),
                    inputs,
                    output_level: 1,
                    cursor: None,
                });
            }
            for level in 1..self.opts.max_levels.saturating_sub(1) {
                let size: u64 = at(level).map(|t| t.meta.size).sum();
                if size <= self.level_target(level) {
                    continue;
                }
                let cursor = tree
                    .cursors
                    .get(level as usize)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let chosen = at(level)
                    .find(|t| t.smallest_user() > cursor)
                    .or_else(|| at(level).next())?
                    .clone();
                let mut inputs = vec![Arc::clone(&chosen)];
                inputs.extend(
                    at(level + 1)
                        .filter(|t| t.overlaps(chosen.smallest_user(), chosen.largest_user()))
                        .cloned(),
                );
                let (lo, hi) = key_range(&inputs)?;
                return Some(Job {
                    keyspace: *ks,
                    bottommost: bottommost(level + 1, &lo, &hi),
                    inputs,
                    output_level: level + 1,
                    cursor: Some((level, chosen.largest_user().to_vec())),
                });
            }
        }
        None
    }

    pub(crate) fn run_compaction(&self, job: Job) -> Result<()> {
        let visible = self.publisher.visible();
        let oldest = self.snapshots.oldest().map_or(visible, |s| s.min(visible));
        let mut sources: Vec<TableSource> = job
            .inputs
            .iter()
            .map(|t| TableSource::new(Arc::clone(t)))
            .collect();
        for s in &mut sources {
            s.seek_to_first()?;
        }
        let mut tombstones: Vec<RangeTombstone> = job
            .inputs
            .iter()
            .flat_map(|t| t.table.range_dels().iter().cloned())
            .collect();
        tombstones.sort();
        tombstones.dedup();
        let dels = Fragments::from_tombstones(&tombstones);
        tombstones.retain(|t| !(job.bottommost && t.seq <= oldest));
        // Adds the tombstones' parts within `[lo, hi)` to an output.
        let clip_into = |out: &mut NewTable, lo: Option<&[u8]>, hi: Option<&[u8]>| {
            for t in &tombstones {
                if let Some(part) = t.clip(lo, hi) {
                    out.builder.add_range_del(&part);
                }
            }
        };
        // The first user key of the output being written (`None`: the first output).
        let mut output_lo: Option<Vec<u8>> = None;
        let mut outputs: Vec<Arc<LiveTable>> = Vec::new();
        let mut current = None;
        let mut last_user: Option<Vec<u8>> = None;
        let mut kept_below = false;
        let (mut read, mut written) = (0u64, 0u64);
        loop {
            // The smallest current key among the inputs.
            let mut best: Option<usize> = None;
            for (i, s) in sources.iter().enumerate() {
                if s.valid()
                    && best.is_none_or(|b| {
                        sources
                            .get(b)
                            .is_some_and(|x| key::compare(s.key(), x.key()).is_lt())
                    })
                {
                    best = Some(i);
                }
            }
            let Some(i) = best else { break };
            let Some(src) = sources.get_mut(i) else { break };
            let (ikey, value) = (src.key().to_vec(), src.value().to_vec());
            src.next()?;
            read += 1;
            let Some((user, seq, kind)) = key::split(&ikey) else {
                continue;
            };
            if last_user.as_deref() != Some(user) {
                let full = current.as_ref().is_some_and(|c: &NewTable| {
                    c.builder.estimated_size() >= self.opts.target_file_bytes as u64
                });
                if full {
                    if let Some(mut done) = current.take() {
                        clip_into(&mut done, output_lo.as_deref(), Some(user));
                        outputs.push(self.finish_table(done, job.output_level)?);
                        output_lo = Some(user.to_vec());
                    }
                }
                last_user = Some(user.to_vec());
                kept_below = false;
            }
            if kept_below {
                continue;
            }
            if dels.hides(user, seq, oldest) {
                // Every reader sees the tombstone, and so do older versions' readers.
                kept_below = true;
                continue;
            }
            let (mut kind, mut value) = (kind, value);
            if seq <= oldest {
                kept_below = true;
                if kind == ValueKind::Put as u8 {
                    if let Some(f) = &self.opts.compaction_filter {
                        if f.filter(job.keyspace, user, &value) == CompactionDecision::Remove {
                            kind = ValueKind::Delete as u8;
                            value.clear();
                        }
                    }
                }
                if kind == ValueKind::Delete as u8 && job.bottommost {
                    continue;
                }
            }
            if current.is_none() {
                current = Some(self.start_table()?);
            }
            if let Some(c) = current.as_mut() {
                c.builder.add(&key::internal_key(user, seq, kind), &value)?;
                written += 1;
            }
        }
        let rest = tombstones
            .iter()
            .any(|t| t.clip(output_lo.as_deref(), None).is_some());
        if current.is_none() && rest {
            current = Some(self.start_table()?);
        }
        if let Some(mut done) = current.take() {
            clip_into(&mut done, output_lo.as_deref(), None);
            if !done.builder.is_empty() {
                outputs.push(self.finish_table(done, job.output_level)?);
            } else {
                let _ = self.fs.remove_file(&done.path);
            }
        }
        self.fs.sync_dir(&self.dir)?;
        let mut edits: Vec<Edit> = outputs
            .iter()
            .map(|t| Edit::AddFile(job.keyspace, t.meta.clone()))
            .collect();
        edits.extend(
            job.inputs
                .iter()
                .map(|t| Edit::DeleteFile(job.keyspace, t.meta.number)),
        );
        edits.push(Edit::NextFile(self.next_file.load(Ordering::SeqCst)));
        let mut manifest = lock(&self.manifest);
        if !self.trees().keyspaces.contains_key(&job.keyspace) {
            // Dropped while compacting: the outputs go when `outputs` drops.
            for t in &outputs {
                t.mark_obsolete();
            }
            return Ok(());
        }
        manifest.append(&edits)?;
        {
            let mut trees = self.trees_mut();
            if let Some(tree) = trees.keyspaces.get_mut(&job.keyspace) {
                let tables = Arc::make_mut(&mut tree.tables);
                tables.retain(|t| !job.inputs.iter().any(|i| Arc::ptr_eq(i, t)));
                tables.extend(outputs.iter().cloned());
                sort_tables(tables);
                if let Some((level, key)) = job.cursor {
                    let level = level as usize;
                    if tree.cursors.len() <= level {
                        tree.cursors.resize(level + 1, Vec::new());
                    }
                    if let Some(c) = tree.cursors.get_mut(level) {
                        *c = key;
                    }
                }
            }
        }
        drop(manifest);
        for t in &job.inputs {
            t.mark_obsolete();
        }
        self.stats.compactions.fetch_add(1, Ordering::Relaxed);
        self.stats.compaction_read_bytes.fetch_add(
            job.inputs.iter().map(|t| t.meta.size).sum(),
            Ordering::Relaxed,
        );
        self.stats
            .compaction_write_bytes
            .fetch_add(outputs.iter().map(|t| t.meta.size).sum(), Ordering::Relaxed);
        tracing::debug!(
            keyspace = job.keyspace,
            inputs = job.inputs.len(),
            outputs = outputs.len(),
            level = job.output_level,
            read,
            written,
            "compaction done"
        );
        self.compact_cv.notify_all();
        self.flush_cv.notify_all();
        Ok(())
    }

    /// Waits until flushes are done and no compaction is running or due.
    pub(crate) fn wait_for_compactions(&self) -> Result<()> {
        self.wait_flushes(std::collections::VecDeque::is_empty)?;
        let mut running = lock(&self.compact_lock);
        loop {
            self.check_poison()?;
            if !*running && self.pick_compaction().is_none() {
                return Ok(());
            }
            running = self
                .compact_cv
                .wait_timeout(running, Duration::from_millis(50))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    pub(crate) fn compact_loop(&self) {
        loop {
            if self.shutdown.load(Ordering::SeqCst) || self.poisoned.load(Ordering::SeqCst) {
                return;
            }
            // Picked under the lock that says a compaction is running, so a waiter that sees
            // neither a running nor a pickable compaction knows the tree has settled.
            let mut running = lock(&self.compact_lock);
            match self.pick_compaction() {
                Some(job) => {
                    *running = true;
                    drop(running);
                    let result = self.run_compaction(job);
                    *lock(&self.compact_lock) = false;
                    self.compact_cv.notify_all();
                    if let Err(e) = result {
                        self.poison(format!("compaction failed: {e}"));
                        return;
                    }
                }
                None => {
                    let _unused = self
                        .compact_cv
                        .wait_timeout(running, Duration::from_millis(200));
                }
            }
        }
    }
}
