//! The database: keyspaces sharing one WAL and one sequence space, memtables, flushes to L0
//! tables, recovery from manifest plus WAL.
//!
//! Write path (`write`): under `write_lock` a batch gets consecutive sequence numbers and is
//! queued on the WAL (so LSN order = sequence order); outside the lock it is inserted into the
//! memtables, in parallel with other writers' inserts, and the writer waits for the WAL's
//! acknowledgement (fsyncs are shared by group commit), then publishes its range. A batch larger than one WAL record is queued as several records
//! (`crate::split`) and published from the last one's acknowledgement. Readers read at the
//! visible sequence number, so an entry in a memtable whose batch is not yet durable is
//! invisible, and a batch becomes visible whole.
//!
//! Flush: when the memtables reach `memtable_bytes` they are rotated together into an
//! immutable set. The flush thread waits until the whole set is visible (so a table never
//! holds a batch the WAL did not make durable, nor part of an unlogged one), writes one table
//! per keyspace, syncs them and the directory, records them in the manifest with the WAL
//! position replay must start from, and only then lets the WAL release the segments before
//! that position.
//!
//! Compaction (module `compact`) moves tables from L0 down the levels on its own thread.
//! Range deletes (`crate::range_del`) are checked per source while a point read walks the
//! sources newest first: the newest covering tombstone seen so far hides an entry older than it.
//! Keyspace administration lives in `keyspaces`, checkpoints in `checkpoint`, flushes in `flush`.

mod backup;
mod checkpoint;
mod compact;
mod flush;
mod iter;
mod keyspaces;
mod level_source;
mod live;
mod pending;
mod point;
mod publish;
mod recover;
mod snapshots;
mod split_keys;
mod stall;
mod write;

pub use backup::{BackupInfo, Replayer};
pub use checkpoint::CheckpointInfo;
pub use compact::{CompactionDecision, CompactionFilter};
pub use iter::{DbIter, Direction};
pub(crate) use live::LiveTable;
pub use pending::PendingWrite;
pub use snapshots::Snapshot;
use snapshots::SnapshotList;
pub use split_keys::KeySplit;
pub use write::Ordered;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;

use orbit_env::FileSystem;
use orbit_wal::{Wal, WalOptions};

use crate::batch::{KeyspaceId, WriteBatch};
use crate::manifest::Manifest;
use crate::memtable::Memtable;
use crate::range_del::{Fragments, RangeTombstone};
use crate::sst::{TableBuilder, TableCache, TableOptions};
use crate::{Error, Result};
use publish::Publisher;

/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 64 << 10;
/// The longest value the engine accepts: 1 GiB, PostgreSQL's limit on one field (Redis's
/// is 512 MiB). An SST block holds at least one whole entry, so `sst::format::MAX_BLOCK_LEN`
/// is above this plus a key and a block's worth of smaller entries.
pub const MAX_VALUE_LEN: usize = 1 << 30;
/// The keyspace every database has.
pub const DEFAULT_KEYSPACE: KeyspaceId = 0;

/// The file in a database directory whose lock an open database holds.
pub(crate) const LOCK_FILE: &str = "LOCK";

/// Options of [`Db::open`].
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Memtable bytes (all keyspaces together) before they are flushed.
    pub memtable_bytes: usize,
    /// Immutable memtable sets waiting for flush before writers stall.
    pub max_immutable: usize,
    /// How tables are built.
    pub table: TableOptions,
    /// Block cache capacity.
    pub cache_bytes: usize,
    /// The WAL's options (sync mode, backend, segment size).
    pub wal: WalOptions,
    /// L0 tables that trigger a compaction into L1.
    pub l0_compaction_trigger: usize,
    /// L0 tables from which writes are paced (`delayed_write_rate`, slower as L0 grows).
    pub l0_slowdown_writes: usize,
    /// L0 tables at which memtable rotation (and so writes) waits for compaction.
    pub l0_stop_writes: usize,
    /// Bytes/s all writers together may write while slowed down.
    pub delayed_write_rate: u64,
    /// Target size of L1.
    pub level1_bytes: u64,
    /// Each level's target is this many times the previous one's.
    pub level_ratio: u64,
    /// Compaction output tables are split at this size.
    pub target_file_bytes: usize,
    /// Levels, L0 included.
    pub max_levels: u8,
    /// Lets upper layers drop expired entries during compaction.
    pub compaction_filter: Option<Arc<dyn CompactionFilter>>,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            memtable_bytes: 64 << 20,
            max_immutable: 4,
            table: TableOptions::default(),
            cache_bytes: 256 << 20,
            wal: WalOptions::default(),
            l0_compaction_trigger: 4,
            l0_slowdown_writes: 12,
            l0_stop_writes: 20,
            delayed_write_rate: 16 << 20,
            level1_bytes: 256 << 20,
            level_ratio: 10,
            target_file_bytes: 64 << 20,
            max_levels: 7,
            compaction_filter: None,
        }
    }
}

/// One keyspace's memtables and tables.
#[derive(Clone, Default)]
pub(crate) struct Tree {
    pub(crate) name: String,
    pub(crate) mem: Arc<Memtable>,
    /// Newest first.
    pub(crate) imms: Vec<Arc<Memtable>>,
    /// L0 newest first, then L1, L2, ... each by smallest key (`sort_tables`): the order in
    /// which a point read must consult them.
    /// Shared with readers: a point read clones the `Arc`, not the list; installs replace it
    /// (copy on write).
    pub(crate) tables: Arc<Vec<Arc<LiveTable>>>,
    /// Per level, where the last compaction of that level ended (round-robin picking).
    pub(crate) cursors: Vec<Vec<u8>>,
    /// Iterators opened over two or more L0 tables since L0 was last compacted: read
    /// amplification that makes L0 due for compaction before its table-count trigger
    /// (`compact::l0_read_budget`).
    pub(crate) l0_reads: Arc<AtomicU64>,
}

/// Puts tables in read order: L0 by file number descending (newest first), then each deeper
/// level by smallest key.
pub(crate) fn sort_tables(tables: &mut [Arc<LiveTable>]) {
    tables.sort_by(|a, b| {
        a.level().cmp(&b.level()).then_with(|| {
            if a.level() == 0 {
                b.meta.number.cmp(&a.meta.number)
            } else {
                crate::key::compare(&a.meta.smallest, &b.meta.smallest)
            }
        })
    });
}

/// A table being written.
pub(crate) struct NewTable {
    pub(crate) number: u64,
    pub(crate) path: PathBuf,
    pub(crate) file: Arc<dyn orbit_env::File>,
    pub(crate) builder: TableBuilder,
}

/// Engine counters (write amplification = (flushed + compaction-written) / user bytes).
#[derive(Debug, Default)]
pub(crate) struct EngineStats {
    pub(crate) user_bytes: AtomicU64,
    pub(crate) flush_bytes: AtomicU64,
    pub(crate) compactions: AtomicU64,
    pub(crate) trivial_moves: AtomicU64,
    pub(crate) delayed_writes: AtomicU64,
    pub(crate) delay_micros: AtomicU64,
    pub(crate) compaction_read_bytes: AtomicU64,
    pub(crate) compaction_write_bytes: AtomicU64,
}

/// Memtables rotated together, waiting for flush.
struct ImmSet {
    mems: Vec<(KeyspaceId, Arc<Memtable>)>,
    /// Largest sequence number written into them.
    max_seq: u64,
    /// End of the WAL records of their batches.
    end_lsn: Arc<AtomicU64>,
}

struct Trees {
    keyspaces: BTreeMap<KeyspaceId, Tree>,
    /// WAL end of the batches written into the current memtables.
    end_lsn: Arc<AtomicU64>,
}

struct WriteState {
    next_seq: u64,
    next_keyspace: KeyspaceId,
}

struct Inner {
    fs: Arc<dyn FileSystem>,
    /// Held while the database is open (`LOCK` in its directory).
    _dir_lock: Box<dyn orbit_env::FileLock>,
    dir: PathBuf,
    opts: DbOptions,
    wal: Wal,
    cache: Arc<TableCache>,
    publisher: Publisher,
    write_lock: Mutex<WriteState>,
    trees: RwLock<Trees>,
    manifest: Mutex<Manifest>,
    next_file: AtomicU64,
    /// Every WAL record before this is in the installed tables (raised by each flush under
    /// the manifest lock).
    flushed_lsn: AtomicU64,
    /// Sets waiting for flush; the front one stays until its tables are installed.
    flush_queue: Mutex<VecDeque<Arc<ImmSet>>>,
    flush_cv: Condvar,
    shutdown: AtomicBool,
    poison: Mutex<Option<String>>,
    poisoned: AtomicBool,
    snapshots: Arc<SnapshotList>,
    /// The compaction thread waits here for work; stalled writers wait on `flush_cv`.
    compact_cv: Condvar,
    /// Whether a compaction is running (picks happen under it).
    compact_lock: Mutex<bool>,
    /// L0 tables (high half) and pending immutable sets (low half), for write pacing.
    pressure: AtomicU64,
    /// The largest sequence number handed out.
    assigned: AtomicU64,
    /// When the next paced write may go.
    throttle_next: Mutex<std::time::Instant>,
    stats: EngineStats,
}

/// Resolves once a sequence number is visible: `Ok`, or the poison error if the database
/// failed first (the write holding it back will never be published).
pub struct VisibleAt {
    inner: Arc<Inner>,
    seq: u64,
}

impl std::future::Future for VisibleAt {
    type Output = Result<()>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.inner.poll_visible(self.seq, cx)
    }
}

impl Inner {
    /// Ready once `seq` is visible (`Ok`), or the database is poisoned (the write holding it
    /// back will never be published); otherwise the task is woken by the publish that makes
    /// `seq` visible.
    fn poll_visible(
        &self,
        seq: u64,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<()>> {
        if self.publisher.visible() >= seq {
            return std::task::Poll::Ready(Ok(()));
        }
        if let Err(e) = self.check_poison() {
            return std::task::Poll::Ready(Err(e));
        }
        if self.publisher.register(seq, cx.waker()) {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(Ok(()))
        }
    }
}

/// An open database.
pub struct Db {
    inner: Arc<Inner>,
    threads: Vec<JoinHandle<()>>,
}

/// Counters of a running database.
#[derive(Debug, Clone, PartialEq)]
pub struct DbStats {
    /// Visible sequence number.
    pub visible_seq: u64,
    /// Tables, all keyspaces.
    pub tables: usize,
    /// Tables per level (index = level), all keyspaces.
    pub tables_per_level: Vec<usize>,
    /// Compactions run (rewrites).
    pub compactions: u64,
    /// Compactions that moved tables down without rewriting them.
    pub trivial_moves: u64,
    /// Writes paced because compaction was behind, and the time they slept.
    pub delayed_writes: u64,
    /// Microseconds writers slept while paced.
    pub delay_micros: u64,
    /// Bytes the user wrote (keys and values).
    pub user_bytes: u64,
    /// Bytes written by flushes.
    pub flush_bytes: u64,
    /// Bytes written by compactions.
    pub compaction_write_bytes: u64,
    /// Immutable memtable sets waiting for flush.
    pub pending_flushes: usize,
    /// Block cache counters.
    pub cache: orbit_buffer::CacheStats,
    /// WAL counters.
    pub wal: orbit_wal::WalStats,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn table_name(number: u64) -> String {
    format!("{number:06}.sst")
}

impl Inner {
    fn check_poison(&self) -> Result<()> {
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(Error::Poisoned {
                cause: lock(&self.poison).clone().unwrap_or_default(),
            });
        }
        Ok(())
    }

    fn poison(&self, cause: String) {
        let mut p = lock(&self.poison);
        if p.is_none() {
            tracing::error!(cause, "database poisoned: writes refused until reopen");
            *p = Some(cause);
        }
        self.poisoned.store(true, Ordering::SeqCst);
        drop(p);
        // As in `Db::shutdown`: notify under the queue's lock so no waiter misses it.
        drop(lock(&self.flush_queue));
        self.flush_cv.notify_all();
        self.publisher.wake_all();
    }

    fn trees(&self) -> std::sync::RwLockReadGuard<'_, Trees> {
        self.trees.read().unwrap_or_else(|p| p.into_inner())
    }

    fn trees_mut(&self) -> std::sync::RwLockWriteGuard<'_, Trees> {
        self.trees.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits, woken by the flush and compaction threads, until `ready` holds for the flush
    /// queue; gives up with the poison error if the database is poisoned meanwhile.
    fn wait_flushes(&self, ready: impl Fn(&VecDeque<Arc<ImmSet>>) -> bool) -> Result<()> {
        let mut q = lock(&self.flush_queue);
        while !ready(&q) {
            self.check_poison()?;
            q = self
                .flush_cv
                .wait_timeout(q, std::time::Duration::from_millis(50))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Ok(())
    }
}

impl Db {
    /// Opens (recovering) or creates the database in `dir` (the WAL lives in `dir/wal`).
    pub fn open(fs: Arc<dyn FileSystem>, dir: impl AsRef<Path>, opts: DbOptions) -> Result<Db> {
        recover::open(fs, dir.as_ref(), opts)
    }

    fn from_inner(inner: Arc<Inner>) -> Result<Db> {
        let mut db = Db {
            inner: Arc::clone(&inner),
            threads: Vec::new(),
        };
        let spawn = |name: &str, f: fn(&Inner)| {
            let worker = Arc::clone(&inner);
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || f(&worker))
                .map_err(|e| Error::Env(orbit_env::Error::io("spawn thread", &inner.dir, e)))
        };
        // If the second spawn fails, dropping `db` stops and joins the first.
        db.threads.push(spawn("lsm-flush", Inner::flush_loop)?);
        db.threads.push(spawn("lsm-compact", Inner::compact_loop)?);
        Ok(db)
    }

    /// Sets `key` to `value`.
    pub fn put(&self, keyspace: KeyspaceId, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(WriteBatch::new().put(keyspace, key, value))
    }

    /// Deletes `key`.
    pub fn delete(&self, keyspace: KeyspaceId, key: &[u8]) -> Result<()> {
        self.write(WriteBatch::new().delete(keyspace, key))
    }

    /// Deletes every key in `[start, end)` (nothing if `start >= end`).
    pub fn delete_range(&self, keyspace: KeyspaceId, start: &[u8], end: &[u8]) -> Result<()> {
        self.write(WriteBatch::new().delete_range(keyspace, start, end))
    }

    /// The sequence number readers see now (every write up to it is visible).
    pub fn visible_seq(&self) -> u64 {
        self.inner.publisher.visible()
    }

    /// Waits until every write up to `seq` is visible (fails if the database is poisoned
    /// meanwhile: the write holding it back will never be published).
    pub fn wait_visible(&self, seq: u64) -> Result<()> {
        let inner = &self.inner;
        if inner
            .publisher
            .wait_visible(seq, || inner.poisoned.load(Ordering::SeqCst))
        {
            Ok(())
        } else {
            inner.check_poison()
        }
    }

    /// The largest sequence number handed out (visible or not yet).
    pub fn assigned_seq(&self) -> u64 {
        self.inner.assigned.load(Ordering::Acquire)
    }

    /// Resolves once every write up to `seq` is visible (or the database is poisoned).
    pub fn visible_at(&self, seq: u64) -> VisibleAt {
        VisibleAt {
            inner: Arc::clone(&self.inner),
            seq,
        }
    }

    /// The newest value of `key` including writes that are not durable yet. Only for callers
    /// that serialize writers of the key among themselves and delay every reply until
    /// [`Db::assigned_seq`] (read after this call) is visible, so no client ever sees data a
    /// crash could take back.
    pub fn get_latest(&self, keyspace: KeyspaceId, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_at_seq(keyspace, key, Some(crate::key::MAX_SEQ))
    }

    /// A snapshot that includes writes not durable yet (see [`Db::get_latest`]).
    pub fn snapshot_latest(&self) -> Snapshot {
        Snapshot::new(crate::key::MAX_SEQ, &self.inner.snapshots)
    }

    /// A snapshot of everything visible now. Compaction keeps what it reads until it drops.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(self.inner.publisher.visible(), &self.inner.snapshots)
    }

    /// The current value of `key`.
    pub fn get(&self, keyspace: KeyspaceId, key: &[u8]) -> Result<Option<Vec<u8>>> {
        // A read at the visible sequence number needs no registered snapshot: nothing it reads
        // can be compacted away before the read ends (tables are held by `Arc`), and the
        // number is read after the tables are taken (see `get_at_seq`).
        self.get_at_seq(keyspace, key, None)
    }

    /// The value of `key` as of `snapshot`.
    pub fn get_at(
        &self,
        keyspace: KeyspaceId,
        key: &[u8],
        snapshot: &Snapshot,
    ) -> Result<Option<Vec<u8>>> {
        self.get_at_seq(keyspace, key, Some(snapshot.seq()))
    }

    /// Key-value pairs of `keyspace` within `range`, in `direction`, as of `snapshot`.
    pub fn iter(
        &self,
        keyspace: KeyspaceId,
        range: (Bound<Vec<u8>>, Bound<Vec<u8>>),
        direction: Direction,
        snapshot: &Snapshot,
    ) -> Result<DbIter> {
        self.iter_in(keyspace, None, range, direction, snapshot)
    }

    /// As [`Db::iter`], for an iterator that [`DbIter::reseek`] may move to any range within
    /// `scope` (which must hold `range`): lookups made one after another through one
    /// iterator, instead of one iterator each.
    pub fn iter_scoped(
        &self,
        keyspace: KeyspaceId,
        scope: (Bound<Vec<u8>>, Bound<Vec<u8>>),
        range: (Bound<Vec<u8>>, Bound<Vec<u8>>),
        direction: Direction,
        snapshot: &Snapshot,
    ) -> Result<DbIter> {
        if !iter::within(&range, &scope) {
            return Err(Error::Internal(
                "an iterator's range must lie within its scope",
            ));
        }
        self.iter_in(keyspace, Some(scope), range, direction, snapshot)
    }

    fn iter_in(
        &self,
        keyspace: KeyspaceId,
        scope: Option<iter::Bounds>,
        range: (Bound<Vec<u8>>, Bound<Vec<u8>>),
        direction: Direction,
        snapshot: &Snapshot,
    ) -> Result<DbIter> {
        let (sources, dels, l0_reads) = {
            let trees = self.inner.trees();
            let tree = trees
                .keyspaces
                .get(&keyspace)
                .ok_or(Error::UnknownKeyspace(keyspace))?;
            let mut sources: Vec<Box<dyn iter::Source>> =
                vec![Box::new(iter::MemSource::new(Arc::clone(&tree.mem)))];
            let l0 = tree.tables.get(1).is_some_and(|t| t.level() == 0);
            if l0 {
                tree.l0_reads.fetch_add(1, Ordering::Relaxed);
            }
            // A moved iterator counts each range it reads.
            let l0_reads = (l0 && scope.is_some()).then(|| Arc::clone(&tree.l0_reads));
            let mut dels = Fragments::default();
            // Only tombstones the iterator can meet: visible, and overlapping its bounds
            // (any range it may be moved to).
            let (lo, hi) = scope
                .as_ref()
                .map_or((&range.0, &range.1), |s| (&s.0, &s.1));
            let visible = |t: &&RangeTombstone| {
                let after_lo = match lo {
                    Bound::Included(l) | Bound::Excluded(l) => t.end.as_slice() > l.as_slice(),
                    Bound::Unbounded => true,
                };
                let before_hi = match hi {
                    Bound::Included(h) => t.start.as_slice() <= h.as_slice(),
                    Bound::Excluded(h) => t.start.as_slice() < h.as_slice(),
                    Bound::Unbounded => true,
                };
                t.seq <= snapshot.seq() && after_lo && before_hi
            };
            for m in std::iter::once(&tree.mem).chain(&tree.imms) {
                for t in m.range_dels().iter().filter(visible) {
                    dels.add(t);
                }
            }
            for m in &tree.imms {
                sources.push(Box::new(iter::MemSource::new(Arc::clone(m))));
            }
            for t in tree.tables.iter() {
                for d in t.table.range_dels().iter().filter(visible) {
                    dels.add(d);
                }
            }
            // L0 tables one by one (they overlap); each deeper level as one sorted run.
            for level in tree.tables.chunk_by(|a, b| a.level() == b.level()) {
                match level {
                    [only] => sources.push(Box::new(iter::TableSource::new(Arc::clone(only)))),
                    [first, ..] if first.level() == 0 => sources.extend(level.iter().map(|t| {
                        Box::new(iter::TableSource::new(Arc::clone(t))) as Box<dyn iter::Source>
                    })),
                    _ => sources.push(Box::new(level_source::LevelSource::new(level.to_vec()))),
                }
            }
            (sources, dels, l0_reads)
        };
        let it = DbIter::new(sources, dels, snapshot.clone(), (range, scope), direction);
        Ok(match l0_reads {
            Some(reads) => it.counting_l0_reads(reads),
            None => it,
        })
    }

    /// Key-value pairs of `keyspace` whose keys start with `prefix`, now.
    pub fn prefix(
        &self,
        keyspace: KeyspaceId,
        prefix: &[u8],
        direction: Direction,
    ) -> Result<DbIter> {
        let upper = iter::prefix_successor(prefix).map_or(Bound::Unbounded, Bound::Excluded);
        self.iter(
            keyspace,
            (Bound::Included(prefix.to_vec()), upper),
            direction,
            &self.snapshot(),
        )
    }

    /// Whether `keyspace` may hold an entry (a value or a deletion) of a user key in
    /// `[start, end)`, found without reading a block: a memtable holding one, or a table whose
    /// key range meets the range (its keys may all fall outside it, or all be deleted). False
    /// means certainly none, as of now.
    pub fn may_hold(&self, keyspace: KeyspaceId, start: &[u8], end: &[u8]) -> Result<bool> {
        let trees = self.inner.trees();
        let tree = trees
            .keyspaces
            .get(&keyspace)
            .ok_or(Error::UnknownKeyspace(keyspace))?;
        let in_mem = std::iter::once(&tree.mem).chain(&tree.imms).any(|m| {
            let mut c = crate::memtable::MemCursor::new(Arc::clone(m));
            c.seek(&crate::key::internal_key(
                start,
                crate::key::MAX_SEQ,
                crate::key::ValueKind::SEEK,
            ));
            c.valid() && crate::key::user_key(c.key()) < end
        });
        Ok(in_mem
            || tree
                .tables
                .iter()
                .any(|t| t.smallest_user() < end && start <= t.largest_user()))
    }

    /// Flushes everything written so far to tables and waits for it.
    pub fn flush(&self) -> Result<()> {
        let inner = &self.inner;
        {
            let ws = lock(&inner.write_lock);
            inner.check_poison()?;
            if inner.trees().keyspaces.values().all(|t| t.mem.is_empty()) {
                drop(ws);
            } else {
                inner.rotate(&ws)?;
            }
        }
        inner.wait_flushes(VecDeque::is_empty)
    }

    /// Waits until everything written is flushed and compaction has nothing left to do
    /// (RocksDB's `WaitForCompact`): for tests, benchmarks and orderly shutdowns.
    pub fn wait_for_compactions(&self) -> Result<()> {
        self.inner.wait_for_compactions()
    }

    /// Flushes everything written so far, then waits for compaction to settle as
    /// [`Db::wait_for_compactions`] does, until `deadline`: false if the deadline came first
    /// (writes that go on may keep compaction busy). SQL's CHECKPOINT.
    pub fn settle(&self, deadline: Option<std::time::Instant>) -> Result<bool> {
        self.flush()?;
        self.inner.wait_for_compactions_until(deadline)
    }

    /// Counters.
    pub fn stats(&self) -> DbStats {
        let trees = self.inner.trees();
        DbStats {
            visible_seq: self.inner.publisher.visible(),
            tables: trees.keyspaces.values().map(|t| t.tables.len()).sum(),
            tables_per_level: {
                let mut per = vec![0usize; usize::from(self.inner.opts.max_levels)];
                for t in trees.keyspaces.values().flat_map(|k| k.tables.iter()) {
                    if let Some(n) = per.get_mut(usize::from(t.level())) {
                        *n += 1;
                    }
                }
                per
            },
            compactions: self.inner.stats.compactions.load(Ordering::Relaxed),
            trivial_moves: self.inner.stats.trivial_moves.load(Ordering::Relaxed),
            delayed_writes: self.inner.stats.delayed_writes.load(Ordering::Relaxed),
            delay_micros: self.inner.stats.delay_micros.load(Ordering::Relaxed),
            user_bytes: self.inner.stats.user_bytes.load(Ordering::Relaxed),
            flush_bytes: self.inner.stats.flush_bytes.load(Ordering::Relaxed),
            compaction_write_bytes: self
                .inner
                .stats
                .compaction_write_bytes
                .load(Ordering::Relaxed),
            pending_flushes: lock(&self.inner.flush_queue).len(),
            cache: self.inner.cache.stats(),
            wal: self.inner.wal.stats(),
        }
    }

    /// Stops the flush thread and closes the WAL (memtables are safe in it, except unlogged
    /// writes since the last flush: [`Db::write_unlogged`]'s caller flushes first).
    pub fn close(mut self) -> Result<()> {
        self.shutdown();
        self.inner.check_poison()
    }

    fn shutdown(&mut self) {
        self.inner.shutdown.store(true, Ordering::SeqCst);
        // Under the queue's lock: the flush thread is either before its check of `shutdown`
        // (and sees it) or already waiting (and is woken); never in between.
        drop(lock(&self.inner.flush_queue));
        self.inner.flush_cv.notify_all();
        self.inner.compact_cv.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What `recover::open` hands back to build the `Db`.
pub(crate) struct Parts {
    pub fs: Arc<dyn FileSystem>,
    pub dir_lock: Box<dyn orbit_env::FileLock>,
    pub dir: PathBuf,
    pub opts: DbOptions,
    pub wal: Wal,
    pub cache: Arc<TableCache>,
    pub keyspaces: BTreeMap<KeyspaceId, Tree>,
    pub manifest: Manifest,
    pub next_file: u64,
    pub last_seq: u64,
    pub next_keyspace: KeyspaceId,
    pub wal_end: u64,
    pub log_lsn: u64,
}

impl Db {
    pub(crate) fn assemble(p: Parts) -> Result<Db> {
        let next_keyspace = p
            .keyspaces
            .keys()
            .next_back()
            .map_or(1, |id| id + 1)
            .max(p.next_keyspace);
        let keyspaces = p.keyspaces;
        let inner = Arc::new(Inner {
            fs: p.fs,
            _dir_lock: p.dir_lock,
            dir: p.dir,
            opts: p.opts,
            wal: p.wal,
            cache: p.cache,
            publisher: Publisher::new(p.last_seq),
            write_lock: Mutex::new(WriteState {
                next_seq: p.last_seq + 1,
                next_keyspace,
            }),
            trees: RwLock::new(Trees {
                keyspaces,
                end_lsn: Arc::new(AtomicU64::new(p.wal_end)),
            }),
            manifest: Mutex::new(p.manifest),
            next_file: AtomicU64::new(p.next_file),
            flushed_lsn: AtomicU64::new(p.log_lsn),
            flush_queue: Mutex::new(VecDeque::new()),
            flush_cv: Condvar::new(),
            shutdown: AtomicBool::new(false),
            poison: Mutex::new(None),
            poisoned: AtomicBool::new(false),
            snapshots: Arc::new(SnapshotList::default()),
            compact_cv: Condvar::new(),
            compact_lock: Mutex::new(false),
            pressure: AtomicU64::new(0),
            throttle_next: Mutex::new(std::time::Instant::now()),
            assigned: AtomicU64::new(p.last_seq),
            stats: EngineStats::default(),
        });
        Db::from_inner(inner)
    }
}
