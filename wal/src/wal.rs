//! The public handle: opening (recovery), appending, syncing, releasing, replaying, closing.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;

use orbit_env::{FileSystem, OpenMode};
use tokio::sync::oneshot;

use crate::archive::archive_name;
use crate::format::{payload_crc, Lsn};
use crate::io::{EnvIo, SegmentIo, UringIo};
use crate::mapped_io::MappedIo;
use crate::replay::Replay;
use crate::segment::{parse_segment_name, parse_spare_name, read_header, SegmentCursor};
use crate::shared::{lock, ManagerState, Op, Pending, Queue, SegInfo, Shared, Stats};
use crate::writer::{activate, take_spare, Active, Writer};
use crate::{Backend, Error, Result, SyncMode, WalOptions, MAX_QUEUED_BYTES};

/// A write-ahead log. Appends from any thread; one writer thread does the I/O.
pub struct Wal {
    shared: Arc<Shared>,
    /// The writer's state: the writer thread locks it per group; in `periodic` and `none`
    /// modes appenders lock it to write their record themselves.
    state: Option<Arc<Mutex<Writer>>>,
    writer: Option<JoinHandle<()>>,
    manager: Option<JoinHandle<()>>,
    /// What `open` found, for logs and replay.
    recovered: Recovered,
}

/// What recovery found when the log was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// Oldest LSN held.
    pub first_lsn: Lsn,
    /// End of the log found on disk: new appends start here.
    pub end_lsn: Lsn,
    /// Segment files found.
    pub segments: usize,
}

/// Counters and positions of a running log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalStats {
    /// `"uring"` or `"std"`.
    pub backend: &'static str,
    /// End of the log as written.
    pub written_lsn: Lsn,
    /// End of the log as durable.
    pub durable_lsn: Lsn,
    /// Write groups written.
    pub groups: u64,
    /// Records appended.
    pub records: u64,
    /// Bytes written (frames included).
    pub bytes: u64,
    /// fdatasync calls on segments.
    pub syncs: u64,
    /// Segment switches.
    pub segment_switches: u64,
    /// Times the writer had to wait for a spare segment.
    pub spare_waits: u64,
    /// Live segment files.
    pub segments: usize,
    /// Whether an I/O failure has poisoned the log.
    pub poisoned: bool,
    /// Whether groups are written with direct I/O (the io_uring backend in `sync` mode).
    pub direct_io: bool,
}

/// Keeps segments from being released (see [`Wal::hold`]); releases them when dropped.
#[derive(Debug)]
pub struct WalHold {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for WalHold {
    fn drop(&mut self) {
        lock(&self.shared.holds).retain(|&(id, _)| id != self.id);
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("dir", &self.dir).finish()
    }
}

/// The archive's position (see [`Wal::archive_status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveStatus {
    /// Every record before this LSN is archived.
    pub archived_lsn: Lsn,
    /// Closed segments waiting to be archived.
    pub pending_segments: usize,
    /// Segments archived since the log was opened.
    pub archived_segments: u64,
    /// Failed attempts to archive a segment (each is retried).
    pub failures: u64,
}

/// The pending outcome of an append: wait on it, or `.await` it.
#[derive(Debug)]
pub struct AppendHandle {
    rx: oneshot::Receiver<Result<Lsn>>,
}

impl AppendHandle {
    /// Blocks until the record is acknowledged (durable in `sync` mode). Must not be called
    /// from inside an async runtime; `.await` the handle there.
    pub fn wait(self) -> Result<Lsn> {
        self.rx.blocking_recv().unwrap_or(Err(Error::Closed))
    }
}

impl Future for AppendHandle {
    type Output = Result<Lsn>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(Error::Closed)))
    }
}

fn new_log_id(opts: &WalOptions) -> u64 {
    opts.new_log_id.unwrap_or_else(rand::random)
}

impl Wal {
    /// Opens (recovering) or creates the log in `dir`.
    ///
    /// Recovery reads every segment header, finds the end of the newest segment (truncating a
    /// torn tail, refusing damaged acknowledged data), makes that end durable, and starts a
    /// fresh segment there, so bytes past a torn tail are never reused.
    pub fn open(fs: Arc<dyn FileSystem>, dir: impl AsRef<Path>, opts: WalOptions) -> Result<Wal> {
        opts.validate()?;
        let dir = dir.as_ref().to_path_buf();
        fs.create_dir_all(&dir)?;
        let names = fs.list_dir(&dir)?;
        let mut segment_lsns: Vec<Lsn> =
            names.iter().filter_map(|n| parse_segment_name(n)).collect();
        segment_lsns.sort_unstable();
        let mut log_id = None;
        for &first in &segment_lsns {
            let path = dir.join(crate::segment::segment_name(first));
            let header = read_header(fs.open(&path, OpenMode::Read)?.as_ref())?;
            if header.first_lsn != first {
                return Err(Error::corruption(
                    &path,
                    24,
                    "segment header names another lsn than its file name",
                ));
            }
            if *log_id.get_or_insert(header.log_id) != header.log_id {
                return Err(Error::corruption(
                    &path,
                    16,
                    "segment belongs to another log (log id differs)",
                ));
            }
        }
        let (end_lsn, log_id) = match segment_lsns.last() {
            None => (0, new_log_id(&opts)),
            Some(&last) => {
                let path = dir.join(crate::segment::segment_name(last));
                let mut cursor = SegmentCursor::load(fs.as_ref(), &path, None)?;
                while cursor.next_record()?.is_some() {}
                // What survived a process crash may still sit in the page cache only.
                fs.open(&path, OpenMode::ReadWrite)?.sync_data()?;
                (cursor.lsn(), log_id.unwrap_or_else(|| new_log_id(&opts)))
            }
        };
        // An empty newest segment holds nothing: the new active segment, which starts at the
        // same LSN and so has the same name, replaces it by rename.
        if segment_lsns.last() == Some(&end_lsn) {
            segment_lsns.pop();
        }
        let mut segments: Vec<SegInfo> = Vec::new();
        for (i, &first) in segment_lsns.iter().enumerate() {
            let end = segment_lsns.get(i + 1).copied().unwrap_or(end_lsn);
            let archived = match &opts.archive_dir {
                Some(a) => fs.exists(&a.join(archive_name(log_id, first, end)))?,
                None => false,
            };
            let path = dir.join(crate::segment::segment_name(first));
            segments.push(SegInfo {
                first_lsn: first,
                path,
                end: Some(end),
                archived,
                released: false,
            });
        }
        let mut manager = ManagerState::default();
        for name in &names {
            if let Some(id) = parse_spare_name(name) {
                manager.next_spare_id = manager.next_spare_id.max(id);
                let path = dir.join(name);
                let len = fs.open(&path, OpenMode::Read)?.len()?;
                let usable = if opts.sync_mode == SyncMode::Sync {
                    len == opts.segment_size
                } else {
                    len == 0
                };
                if usable && manager.ready.len() < opts.max_spare_segments {
                    manager.ready.push_back(path);
                } else {
                    fs.remove_file(&path)?;
                }
            } else if name.ends_with(".tmp") {
                fs.remove_file(&dir.join(name))?;
            }
        }
        if opts.archive_dir.is_some() {
            manager.to_archive = segments.iter().filter(|s| !s.archived).cloned().collect();
        }
        let io = choose_backend(&opts, &fs, &dir)?;
        let recovered = Recovered {
            first_lsn: segment_lsns.first().copied().unwrap_or(end_lsn),
            end_lsn,
            segments: segment_lsns.len(),
        };
        tracing::info!(
            dir = %dir.display(), backend = io.name(), log_id = format_args!("{log_id:016x}"),
            first_lsn = recovered.first_lsn, end_lsn, segments = recovered.segments, "wal opened"
        );
        let shared = Arc::new(Shared {
            fs,
            dir: dir.clone(),
            opts,
            log_id,
            backend: io.name(),
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            space: Condvar::new(),
            written_lsn: AtomicU64::new(end_lsn),
            durable_lsn: AtomicU64::new(end_lsn),
            poisoned: AtomicBool::new(false),
            poison_cause: Mutex::new(None),
            closed: AtomicBool::new(false),
            segments: Mutex::new(segments),
            manager: Mutex::new(manager),
            manager_cv: Condvar::new(),
            stats: Stats::default(),
            holds: Mutex::new(Vec::new()),
            next_hold: AtomicU64::new(1),
        });
        let manager = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("wal-manager".into())
                .spawn(move || crate::manager::run(shared))
                .map_err(|e| Error::Env(orbit_env::Error::io("spawn thread", &dir, e)))?
        };
        let mut wal = Wal {
            shared: Arc::clone(&shared),
            state: None,
            writer: None,
            manager: Some(manager),
            recovered,
        };
        let spare = take_spare(&shared)?;
        let file = activate(&shared, &spare, end_lsn)?;
        lock(&shared.segments).push(SegInfo {
            first_lsn: end_lsn,
            path: dir.join(crate::segment::segment_name(end_lsn)),
            end: None,
            archived: false,
            released: false,
        });
        let writer = Writer::new(
            Arc::clone(&shared),
            io,
            Active {
                file,
                first_lsn: end_lsn,
            },
            end_lsn,
        );
        let writer = Arc::new(Mutex::new(writer));
        wal.state = Some(Arc::clone(&writer));
        wal.writer = Some(
            std::thread::Builder::new()
                .name("wal-writer".into())
                .spawn(move || crate::writer::run(writer))
                .map_err(|e| Error::Env(orbit_env::Error::io("spawn thread", &dir, e)))?,
        );
        shared.manager_cv.notify_all();
        Ok(wal)
    }

    /// What recovery found.
    pub fn recovered(&self) -> Recovered {
        self.recovered
    }

    /// The largest payload this log accepts.
    pub fn max_record_len(&self) -> u64 {
        self.shared.opts.max_record_len()
    }

    /// Queues `payload` for the writer. The handle resolves to the record's LSN once it is
    /// acknowledged under the log's sync mode. Blocks while the queue is full.
    pub fn append(&self, payload: Vec<u8>) -> Result<AppendHandle> {
        let len = payload.len() as u64;
        let max = self.max_record_len();
        if len > max {
            return Err(Error::RecordTooLarge { len, max });
        }
        self.shared.check_poison()?;
        let crc = payload_crc(&payload);
        let (tx, rx) = oneshot::channel();
        if self.shared.opts.sync_mode != SyncMode::Sync {
            // Acknowledged once written to the OS: write it here, one pwrite under the writer
            // lock, rather than pay two thread wake-ups for a hand-off to the writer thread.
            if let Some(state) = &self.state {
                if self.shared.closed.load(Ordering::SeqCst) {
                    return Err(Error::Closed);
                }
                lock(state).write_all(vec![Pending {
                    payload,
                    payload_crc: crc,
                    done: tx,
                }]);
                return Ok(AppendHandle { rx });
            }
        }
        let mut q = lock(&self.shared.queue);
        while q.bytes > 0 && q.bytes + len > MAX_QUEUED_BYTES && !q.closing {
            q = self.shared.space.wait(q).unwrap_or_else(|p| p.into_inner());
        }
        if q.closing {
            return Err(Error::Closed);
        }
        q.bytes += len;
        q.ops.push_back(Op::Append(Pending {
            payload,
            payload_crc: crc,
            done: tx,
        }));
        let wake = q.wake_at > 0 && q.ops.len() >= q.wake_at;
        drop(q);
        if wake {
            self.shared.work.notify_one();
        }
        Ok(AppendHandle { rx })
    }

    /// Appends and waits for the acknowledgement.
    pub fn append_wait(&self, payload: Vec<u8>) -> Result<Lsn> {
        self.append(payload)?.wait()
    }

    /// Makes every record appended before this call durable, whatever the sync mode.
    /// Returns the durable end of the log.
    pub fn sync(&self) -> Result<Lsn> {
        self.shared.check_poison()?;
        self.request(Op::Sync)
    }

    /// Queues an operation for the writer thread and waits for its answer.
    fn request(&self, op: fn(oneshot::Sender<Result<Lsn>>) -> Op) -> Result<Lsn> {
        let (tx, rx) = oneshot::channel();
        {
            let mut q = lock(&self.shared.queue);
            if q.closing {
                return Err(Error::Closed);
            }
            q.ops.push_back(op(tx));
        }
        self.shared.work.notify_one();
        rx.blocking_recv().unwrap_or(Err(Error::Closed))
    }

    /// Declares that records before `upto` are no longer needed (their effects are durable
    /// elsewhere). Closed segments entirely before it are recycled, after archiving if that is
    /// on. Returns how many segments were released.
    pub fn release(&self, upto: Lsn) -> usize {
        let archiving = self.shared.opts.archive_dir.is_some();
        let upto = lock(&self.shared.holds)
            .iter()
            .map(|&(_, lsn)| lsn)
            .fold(upto, Lsn::min);
        let mut recycle = Vec::new();
        let mut released = 0;
        {
            let mut segs = lock(&self.shared.segments);
            segs.retain_mut(|s| match s.end {
                Some(end) if end <= upto && !s.released => {
                    s.released = true;
                    released += 1;
                    if archiving && !s.archived {
                        true
                    } else {
                        recycle.push(s.path.clone());
                        false
                    }
                }
                _ => true,
            });
        }
        if !recycle.is_empty() {
            lock(&self.shared.manager).to_recycle.extend(recycle);
            self.shared.manager_cv.notify_all();
        }
        released
    }

    /// Closes the active segment if it holds any record (making it durable and, when
    /// archiving is on, queueing it for the archive) and returns the LSN where the closed
    /// segments end: every record appended before this call lies before it.
    pub fn switch_segment(&self) -> Result<Lsn> {
        self.request(Op::Switch)
    }

    /// Keeps every segment holding records at or after `lsn` from being released until the
    /// returned guard is dropped (a backup copying them). Fails if `lsn` is already released.
    pub fn hold(&self, lsn: Lsn) -> Result<WalHold> {
        let mut holds = lock(&self.shared.holds);
        let first = self.first_lsn();
        if lsn < first {
            return Err(Error::LsnOutOfRange {
                lsn,
                first,
                end: self.written_lsn(),
            });
        }
        let id = self.shared.next_hold.fetch_add(1, Ordering::Relaxed);
        holds.push((id, lsn));
        Ok(WalHold {
            shared: Arc::clone(&self.shared),
            id,
        })
    }

    /// Copies every closed segment holding records in `[from, to)` into `dir` in the archive
    /// format. `to` must not lie past the closed segments ([`Wal::switch_segment`]'s answer)
    /// and the range must be held ([`Wal::hold`]). Returns the files written.
    pub fn export(&self, from: Lsn, to: Lsn, dir: &Path) -> Result<Vec<PathBuf>> {
        let segs: Vec<SegInfo> = lock(&self.shared.segments)
            .iter()
            .filter(|s| !s.released && s.first_lsn < to && s.end.is_some_and(|e| e > from))
            .cloned()
            .collect();
        let covered_from = segs.first().map_or(to, |s| s.first_lsn);
        let covered_to = segs.last().and_then(|s| s.end).unwrap_or(from);
        if from < to && (covered_from > from || covered_to < to) {
            return Err(Error::LsnOutOfRange {
                lsn: if covered_from > from { from } else { to },
                first: covered_from,
                end: covered_to,
            });
        }
        let mut out = Vec::new();
        for s in segs {
            let end = s.end.unwrap_or(to);
            out.push(crate::archive::archive_segment(
                self.shared.fs.as_ref(),
                &s.path,
                s.first_lsn,
                end,
                self.shared.log_id,
                dir,
            )?);
        }
        Ok(out)
    }

    /// Where the archive stands, when archiving is on: every record before `archived_lsn` is
    /// in the archive.
    pub fn archive_status(&self) -> Option<ArchiveStatus> {
        self.shared.opts.archive_dir.as_ref()?;
        let segs = lock(&self.shared.segments);
        let pending: Vec<&SegInfo> = segs.iter().filter(|s| !s.archived).collect();
        let archived_lsn = pending
            .first()
            .map_or_else(|| self.written_lsn(), |s| s.first_lsn);
        Some(ArchiveStatus {
            archived_lsn,
            pending_segments: pending.iter().filter(|s| s.end.is_some()).count(),
            archived_segments: self.shared.stats.archived_segments.load(Ordering::Relaxed),
            failures: self.shared.stats.archive_failures.load(Ordering::Relaxed),
        })
    }

    /// Reads the log from `from` (a record boundary, or the first LSN) to its end as written
    /// when this is called.
    pub fn replay(&self, from: Lsn) -> Result<Replay> {
        let end = self.shared.written_lsn.load(Ordering::Acquire);
        let segs: Vec<(PathBuf, Lsn, Lsn)> = lock(&self.shared.segments)
            .iter()
            .filter(|s| !s.released)
            .map(|s| (s.path.clone(), s.first_lsn, s.end.unwrap_or(end)))
            .collect();
        let first = segs.first().map(|s| s.1).unwrap_or(end);
        if from < first || from > end {
            return Err(Error::LsnOutOfRange {
                lsn: from,
                first,
                end,
            });
        }
        Ok(Replay::new(Arc::clone(&self.shared.fs), segs, from))
    }

    /// The oldest LSN still held (not released).
    pub fn first_lsn(&self) -> Lsn {
        let segs = lock(&self.shared.segments);
        segs.iter()
            .find(|s| !s.released)
            .map(|s| s.first_lsn)
            .unwrap_or_else(|| self.written_lsn())
    }

    /// End of the log as made durable.
    pub fn durable_lsn(&self) -> Lsn {
        self.shared.durable_lsn.load(Ordering::Acquire)
    }

    /// End of the log as written.
    pub fn written_lsn(&self) -> Lsn {
        self.shared.written_lsn.load(Ordering::Acquire)
    }

    /// The log's identity.
    pub fn log_id(&self) -> u64 {
        self.shared.log_id
    }

    /// Counters and positions.
    pub fn stats(&self) -> WalStats {
        let s = &self.shared.stats;
        WalStats {
            backend: self.shared.backend,
            written_lsn: self.written_lsn(),
            durable_lsn: self.durable_lsn(),
            groups: s.groups.load(Ordering::Relaxed),
            records: s.records.load(Ordering::Relaxed),
            bytes: s.bytes.load(Ordering::Relaxed),
            syncs: s.syncs.load(Ordering::Relaxed),
            segment_switches: s.segment_switches.load(Ordering::Relaxed),
            spare_waits: s.spare_waits.load(Ordering::Relaxed),
            segments: lock(&self.shared.segments).len(),
            poisoned: self.shared.poisoned.load(Ordering::SeqCst),
            direct_io: s.direct_io.load(Ordering::Relaxed),
        }
    }

    /// Writes and syncs everything queued, then stops the threads. Dropping the log does the
    /// same; `close` also reports a final sync failure.
    pub fn close(mut self) -> Result<()> {
        self.shutdown();
        self.shared.check_poison()
    }

    fn shutdown(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        lock(&self.shared.queue).closing = true;
        self.shared.work.notify_all();
        self.shared.space.notify_all();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        lock(&self.shared.manager).shutdown = true;
        self.shared.manager_cv.notify_all();
        if let Some(m) = self.manager.take() {
            let _ = m.join();
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn choose_backend(
    opts: &WalOptions,
    fs_arc: &Arc<dyn FileSystem>,
    dir: &Path,
) -> Result<Box<dyn SegmentIo>> {
    let fs = fs_arc.as_ref();
    // Whether the file system hands out real descriptors (the simulated disk does not).
    let probe_path = dir.join("backend-probe.tmp");
    let has_fd = {
        let probe = fs.open(&probe_path, OpenMode::Create)?;
        let has = probe.raw_fd().is_some();
        drop(probe);
        fs.remove_file(&probe_path)?;
        has
    };
    let mapped =
        || -> Box<dyn SegmentIo> { Box::new(MappedIo::new(Box::new(EnvIo), opts.segment_size)) };
    match opts.backend {
        Backend::Std => Ok(Box::new(EnvIo)),
        Backend::Mmap => Ok(mapped()),
        Backend::Uring if !has_fd => Err(Error::InvalidConfig(
            "the io_uring backend needs a real file system".into(),
        )),
        Backend::Uring => UringIo::new(Arc::clone(fs_arc))
            .map(|u| Box::new(u) as Box<dyn SegmentIo>)
            .map_err(Error::UringUnavailable),
        // Measured (docs/BENCHMARKS.md): io_uring with direct I/O matches the std backend while
        // few threads are runnable, and falls behind when many are (its completion crosses a
        // kernel worker and the writer's task_work); std is never behind. So `auto` picks std
        // in `sync` mode, and mmap otherwise (no system call per unsynced group).
        Backend::Auto if opts.sync_mode == SyncMode::Sync => Ok(Box::new(EnvIo)),
        Backend::Auto => Ok(mapped()),
    }
}
