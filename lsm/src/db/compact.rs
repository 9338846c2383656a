//! Leveled compaction.
//!
//! L0 holds flushed memtables (tables may overlap); deeper levels hold non-overlapping runs.
//! Level sizes are dynamic (`shape`): the last level's target is its size, each level above
//! `level_ratio` times smaller, and L0 compacts into the highest level whose target is still
//! `level1_bytes` (the base level). Picking: the keyspace and level with the highest score
//! (L0: tables over `l0_compaction_trigger`, or due after enough iterators had to search two
//! or more L0 tables, `l0_read_budget`; a level: size over target). L0 gives all its
//! tables and the base-level tables they overlap; a level gives one table (round-robin by key)
//! and the overlapping tables of the next. When no input overlaps another or the output level,
//! the tables move down by a manifest edit alone (a trivial move: sequential loads are never
//! rewritten). Otherwise outputs are split at `target_file_bytes`, only between user keys, so
//! a key's versions stay in one table and levels stay non-overlapping.
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
use std::time::{Duration, Instant};

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

fn set_cursor(tree: &mut super::Tree, level: u8, key: Vec<u8>) {
    let level = usize::from(level);
    if tree.cursors.len() <= level {
        tree.cursors.resize(level + 1, Vec::new());
    }
    if let Some(c) = tree.cursors.get_mut(level) {
        *c = key;
    }
}

fn key_range(tables: &[Arc<LiveTable>]) -> Option<(Vec<u8>, Vec<u8>)> {
    let lo = tables.iter().map(|t| t.smallest_user()).min()?.to_vec();
    let hi = tables.iter().map(|t| t.largest_user()).max()?.to_vec();
    Some((lo, hi))
}

/// Where data goes under dynamic level sizing: L0 compacts into `base`; each level from
/// `base` down has a target size; levels above `base` should be empty.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shape {
    pub(crate) base: u8,
    /// Target bytes per level (index = level); 0 above `base` and for L0.
    pub(crate) targets: Vec<u64>,
}

/// Dynamic level sizing (RocksDB's `level_compaction_dynamic_level_bytes`): the last level's
/// target is its actual size (at least `base_bytes`), each level above it `ratio` times
/// smaller, and the base level is the highest whose target is still at least `base_bytes`.
/// So the last level holds ~90% of the data whatever the database size, and a small
/// database has few levels (an empty one compacts L0 straight into the last level).
/// Bytes of compaction one read over several L0 tables is worth (LevelDB's seek compaction:
/// a seek costs about as much as compacting 16 KiB).
const READ_COST_BYTES: u64 = 16 << 10;

/// How many iterators over two or more L0 tables make L0 due for compaction before its
/// table-count trigger: its bytes over `READ_COST_BYTES`, at least 100. Read-heavy work then
/// merges L0 into one sorted run (a seek had to search every L0 table), while write-heavy
/// work, which opens few iterators, compacts by the trigger alone.
pub(crate) fn l0_read_budget(l0_bytes: u64) -> u64 {
    (l0_bytes / READ_COST_BYTES).max(100)
}

pub(crate) fn shape(sizes: &[u64], base_bytes: u64, ratio: u64) -> Shape {
    let levels = sizes.len().max(2);
    let last = levels - 1;
    let mut targets = vec![0u64; levels];
    let mut target = sizes.get(last).copied().unwrap_or(0).max(base_bytes);
    let mut base = last;
    if let Some(t) = targets.get_mut(last) {
        *t = target;
    }
    for level in (1..last).rev() {
        let next = target / ratio.max(2);
        if next < base_bytes {
            break;
        }
        target = next;
        base = level;
        if let Some(t) = targets.get_mut(level) {
            *t = target;
        }
    }
    Shape {
        base: u8::try_from(base).unwrap_or(u8::MAX),
        targets,
    }
}

impl Inner {
    /// L0 tables of the keyspace with the most.
    pub(crate) fn max_l0(&self) -> usize {
        self.trees()
            .keyspaces
            .values()
            .map(|t| t.tables.iter().filter(|x| x.level() == 0).count())
            .max()
            .unwrap_or(0)
    }

    /// The most urgent compaction of any keyspace: the one with the highest score (L0: table
    /// count over the trigger; a level: size over its target; data above the base level:
    /// always due), if any is at least 1.
    pub(crate) fn pick_compaction(&self) -> Option<Job> {
        let trees = self.trees();
        let mut best: Option<(f64, Job)> = None;
        for (ks, tree) in &trees.keyspaces {
            if let Some((score, job)) = self.pick_in(*ks, tree) {
                if best.as_ref().is_none_or(|(b, _)| score > *b) {
                    best = Some((score, job));
                }
            }
        }
        best.map(|(_, job)| job)
    }

    fn pick_in(&self, ks: KeyspaceId, tree: &super::Tree) -> Option<(f64, Job)> {
        let levels = usize::from(self.opts.max_levels.max(2));
        let last = u8::try_from(levels - 1).unwrap_or(u8::MAX);
        let mut sizes = vec![0u64; levels];
        for t in tree.tables.iter() {
            if let Some(s) = sizes.get_mut(usize::from(t.level())) {
                *s += t.meta.size;
            }
        }
        let shape = shape(&sizes, self.opts.level1_bytes, self.opts.level_ratio);
        let at = |level: u8| tree.tables.iter().filter(move |t| t.level() == level);
        let bottommost = |out: u8, lo: &[u8], hi: &[u8]| {
            !tree
                .tables
                .iter()
                .any(|t| t.level() > out && t.overlaps(lo, hi))
        };

        let l0_count = at(0).count();
        let mut l0_score = l0_count as f64 / self.opts.l0_compaction_trigger.max(1) as f64;
        if l0_count >= 2
            && tree.l0_reads.load(Ordering::Relaxed)
                >= l0_read_budget(sizes.first().copied().unwrap_or(0))
        {
            l0_score = l0_score.max(1.0);
        }
        let mut best = (l0_score, 0u8);
        for level in 1..last {
            let size = sizes.get(usize::from(level)).copied().unwrap_or(0);
            if size == 0 {
                continue;
            }
            let target = shape.targets.get(usize::from(level)).copied().unwrap_or(0);
            let score = if level < shape.base || target == 0 {
                1.0 + size as f64 / self.opts.level1_bytes.max(1) as f64
            } else {
                size as f64 / target as f64
            };
            if score > best.0 {
                best = (score, level);
            }
        }
        let (score, level) = best;
        if score < 1.0 {
            return None;
        }
        let job = if level == 0 {
            let l0: Vec<_> = at(0).cloned().collect();
            let out = shape.base.max(1);
            let (lo, hi) = key_range(&l0)?;
            let mut inputs = l0;
            inputs.extend(at(out).filter(|t| t.overlaps(&lo, &hi)).cloned());
            let (lo, hi) = key_range(&inputs)?;
            Job {
                keyspace: ks,
                bottommost: bottommost(out, &lo, &hi),
                inputs,
                output_level: out,
                cursor: None,
            }
        } else {
            let cursor = tree
                .cursors
                .get(usize::from(level))
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
            Job {
                keyspace: ks,
                bottommost: bottommost(level + 1, &lo, &hi),
                inputs,
                output_level: level + 1,
                cursor: Some((level, chosen.largest_user().to_vec())),
            }
        };
        Some((score, job))
    }

    /// Whether the job can move its tables down by a manifest edit alone: none of them is
    /// in the output level and they do not overlap each other (user-key ranges).
    fn is_trivial_move(job: &Job) -> bool {
        if job.inputs.iter().any(|t| t.level() == job.output_level) {
            return false;
        }
        let mut ranges: Vec<_> = job
            .inputs
            .iter()
            .map(|t| (t.smallest_user(), t.largest_user()))
            .collect();
        ranges.sort();
        ranges.windows(2).all(|w| match w {
            [a, b] => a.1 < b.0,
            _ => true,
        })
    }

    /// Records `edits` in the manifest and swaps the job's inputs for `new` in the keyspace's
    /// version, both under the manifest lock. False (nothing done) if the keyspace was dropped.
    fn install(&self, job: &Job, new: &[Arc<LiveTable>], edits: &[Edit]) -> Result<bool> {
        let mut manifest = lock(&self.manifest);
        if !self.trees().keyspaces.contains_key(&job.keyspace) {
            return Ok(false);
        }
        manifest.append(edits)?;
        let mut trees = self.trees_mut();
        if let Some(tree) = trees.keyspaces.get_mut(&job.keyspace) {
            let tables = Arc::make_mut(&mut tree.tables);
            tables.retain(|t| !job.inputs.iter().any(|i| Arc::ptr_eq(i, t)));
            tables.extend(new.iter().cloned());
            sort_tables(tables);
            if job.inputs.iter().any(|t| t.level() == 0) {
                tree.l0_reads.store(0, Ordering::Relaxed);
            }
            if let Some((level, key)) = job.cursor.clone() {
                set_cursor(tree, level, key);
            }
        }
        Ok(true)
    }

    /// Moves the job's tables to the output level without rewriting them.
    fn run_trivial_move(&self, job: Job) -> Result<()> {
        let moved: Vec<Arc<LiveTable>> = job
            .inputs
            .iter()
            .map(|t| t.moved_to(job.output_level))
            .collect();
        let mut edits: Vec<Edit> = job
            .inputs
            .iter()
            .map(|t| Edit::DeleteFile(job.keyspace, t.meta.number))
            .collect();
        edits.extend(
            moved
                .iter()
                .map(|t| Edit::AddFile(job.keyspace, t.meta.clone())),
        );
        if !self.install(&job, &moved, &edits)? {
            return Ok(());
        }
        self.stats.trivial_moves.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            keyspace = job.keyspace,
            tables = moved.len(),
            level = job.output_level,
            "trivial move"
        );
        self.update_pressure();
        self.compact_cv.notify_all();
        self.flush_cv.notify_all();
        Ok(())
    }

    pub(crate) fn run_compaction(&self, job: Job) -> Result<()> {
        if Self::is_trivial_move(&job) {
            return self.run_trivial_move(job);
        }
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
        if !self.install(&job, &outputs, &edits)? {
            // Dropped while compacting: the outputs go when `outputs` drops.
            for t in &outputs {
                t.mark_obsolete();
            }
            return Ok(());
        }
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
        self.update_pressure();
        self.compact_cv.notify_all();
        self.flush_cv.notify_all();
        Ok(())
    }

    /// Waits until flushes are done and no compaction is running or due.
    pub(crate) fn wait_for_compactions(&self) -> Result<()> {
        self.wait_for_compactions_until(None).map(|_| ())
    }

    /// As `wait_for_compactions`, giving up at `deadline`: false if it came first.
    pub(crate) fn wait_for_compactions_until(&self, deadline: Option<Instant>) -> Result<bool> {
        self.wait_flushes(std::collections::VecDeque::is_empty)?;
        let mut running = lock(&self.compact_lock);
        loop {
            self.check_poison()?;
            if !*running && self.pick_compaction().is_none() {
                return Ok(true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_shape_grows_upwards_from_the_last_level() {
        const MB: u64 = 1 << 20;
        // Empty: everything goes straight to the last level.
        let s = shape(&[0; 7], 256 * MB, 10);
        assert_eq!(s.base, 6);
        assert_eq!(s.targets[6], 256 * MB);
        // 30 GiB at the bottom: 3 GiB at L5, 307 MiB at L4 (base); L1-L3 unused.
        let s = shape(&[0, 0, 0, 0, 0, 0, 30 * 1024 * MB], 256 * MB, 10);
        assert_eq!(s.base, 4);
        assert_eq!(s.targets[5], 3 * 1024 * MB);
        assert_eq!(s.targets[4], 3 * 1024 * MB / 10);
        assert_eq!(&s.targets[..4], &[0, 0, 0, 0]);
        // Just under ten times the base: still one level.
        let s = shape(&[0, 0, 0, 0, 0, 0, 2559 * MB], 256 * MB, 10);
        assert_eq!(s.base, 6);
    }
}
