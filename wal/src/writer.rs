//! The writer thread: drains the queue into write groups, one write (and one fdatasync in
//! `sync` mode) per group, and completes every waiter of the group at once.
//!
//! Invariants:
//! - LSNs are assigned here, in queue order, contiguously across segments;
//! - a group never spans segments, and always starts with a `GROUP` frame carrying the LSN that
//!   was durable before it;
//! - after a failed write or sync nothing else is written: the log is poisoned, the group's
//!   waiters learn their outcome is unknown, and later appends are refused.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use orbit_env::{File, OpenMode};
use tokio::sync::oneshot;

use crate::format::{
    encode_group, encode_record, frame_size, Kind, Lsn, SegmentHeader, GROUP_FRAME_SIZE,
    SEGMENT_HEADER_SIZE,
};
use crate::gather::GatherPolicy;
use crate::io::SegmentIo;
use crate::segment::segment_name;
use crate::shared::{lock, Op, Pending, Queue, SegInfo, Shared};
use crate::{Error, Result, SyncMode, MAX_GROUP_BYTES, MAX_GROUP_RECORDS};

/// The segment being appended to.
pub(crate) struct Active {
    pub file: Arc<dyn File>,
    pub first_lsn: Lsn,
}

/// A waiter and the LSN it is acknowledged with.
type Ack = (oneshot::Sender<Result<Lsn>>, Lsn);

/// Longest a group waits for appenders that recent groups suggest are coming.
const GATHER_WAIT: Duration = Duration::from_micros(50);

/// Groups with more waiters than this are acknowledged by the completer thread.
const INLINE_ACKS: usize = 8;

fn complete(acks: Vec<Ack>) {
    for (done, lsn) in acks {
        let _ = done.send(Ok(lsn));
    }
}

/// The completer thread: wakes the waiters of large groups off the writer's critical path.
fn completer(rx: mpsc::Receiver<Vec<Ack>>) {
    while let Ok(acks) = rx.recv() {
        complete(acks);
    }
}

pub(crate) struct Writer {
    pub shared: Arc<Shared>,
    completer: Option<mpsc::Sender<Vec<Ack>>>,
    completer_thread: Option<std::thread::JoinHandle<()>>,
    pub io: Box<dyn SegmentIo>,
    pub active: Active,
    pub next_lsn: Lsn,
    pub durable_lsn: Lsn,
    pub last_sync: Instant,
    buf: Vec<u8>,
    lsns: Vec<Lsn>,
}

/// Group-commit gathering state, owned by the writer thread (see `gather`).
struct Gatherer {
    /// Decaying maximum of recent group sizes: an estimate of how many appenders are active.
    appenders: usize,
    /// Whether to gather, chosen from measured throughput.
    policy: GatherPolicy,
}

/// The thread body: runs until the log is closed and the queue is drained. The writer lock is
/// taken only to do I/O, never while waiting for work, so inline appenders (`periodic` and
/// `none` modes write from the appending thread) never wait behind an idle writer thread.
pub(crate) fn run(writer: Arc<Mutex<Writer>>) {
    let shared = Arc::clone(&lock(&writer).shared);
    let mut gatherer = Gatherer {
        appenders: 1,
        policy: GatherPolicy::new(Instant::now()),
    };
    loop {
        let (ops, closing) = gatherer.take_ops(&shared);
        let mut w = lock(&writer);
        let mut group: Vec<Pending> = Vec::new();
        for op in ops {
            match op {
                Op::Append(p) => group.push(p),
                Op::Sync(done) => {
                    w.write_all(std::mem::take(&mut group));
                    let _ = done.send(w.sync_now().map(|()| w.durable_lsn));
                }
                Op::Switch(done) => {
                    w.write_all(std::mem::take(&mut group));
                    let result = if w.next_lsn > w.active.first_lsn {
                        w.shared.check_poison().and_then(|()| w.switch_segment())
                    } else {
                        w.shared.check_poison()
                    };
                    let _ = done.send(result.map(|()| w.next_lsn));
                }
            }
        }
        w.write_all(group);
        if let SyncMode::Periodic(every) = shared.opts.sync_mode {
            if w.dirty() && w.last_sync.elapsed() >= every {
                let _ = w.sync_now();
            }
        }
        if closing {
            let _ = w.sync_now();
            w.completer = None;
            if let Some(t) = w.completer_thread.take() {
                let _ = t.join();
            }
            return;
        }
    }
}

impl Gatherer {
    /// Waits for work and takes a bounded batch of it. Returns whether the log is closing and
    /// the queue is now empty.
    fn take_ops(&mut self, shared: &Shared) -> (Vec<Op>, bool) {
        let mut q = lock(&shared.queue);
        while q.ops.is_empty() && !q.closing {
            q.wake_at = 1;
            match shared.opts.sync_mode {
                SyncMode::Periodic(every) => {
                    // Wake at half the interval; the caller syncs once a whole one has passed,
                    // so the periodic fsync lands between 1 and 1.5 intervals after the last.
                    // Always timed, even with nothing unsynced: inline appends (written from
                    // the appending thread) do not wake this thread.
                    let wait = (every / 2).max(Duration::from_millis(1));
                    let (guard, timeout) = shared
                        .work
                        .wait_timeout(q, wait)
                        .unwrap_or_else(|p| p.into_inner());
                    q = guard;
                    q.wake_at = 0;
                    if timeout.timed_out() {
                        return (Vec::new(), false);
                    }
                }
                _ => {
                    q = shared.work.wait(q).unwrap_or_else(|p| p.into_inner());
                    q.wake_at = 0;
                }
            }
        }
        q = self.gather(shared, q);
        let mut ops = Vec::new();
        let (mut bytes, mut records) = (0u64, 0usize);
        while let Some(op) = q.ops.front() {
            if let Op::Append(p) = op {
                let len = p.payload.len() as u64;
                if records > 0 && (bytes + len > MAX_GROUP_BYTES || records >= MAX_GROUP_RECORDS) {
                    break;
                }
                bytes += len;
                records += 1;
            }
            if let Some(op) = q.ops.pop_front() {
                ops.push(op);
            }
        }
        q.bytes -= bytes;
        // Decaying maximum of recent group sizes: an estimate of how many appenders are active.
        self.appenders = records.max(self.appenders - self.appenders / 8);
        if records > 0 {
            self.policy.on_group(records, Instant::now());
        }
        let closing = q.closing && q.ops.is_empty();
        drop(q);
        shared.space.notify_all();
        (ops, closing)
    }

    /// Group-commit gathering in `sync` mode. When recent groups show several active appenders
    /// but fewer are queued (the rest are being woken from the previous group), waits up to
    /// `GATHER_WAIT` for them, so one fdatasync serves them all. A lone appender (groups of one)
    /// never waits. Whether waiting pays depends on the callers; `GatherPolicy` measures and
    /// decides.
    fn gather<'a>(
        &mut self,
        shared: &Shared,
        mut q: MutexGuard<'a, Queue>,
    ) -> MutexGuard<'a, Queue> {
        let target = self.appenders.min(MAX_GROUP_RECORDS);
        let wanted = shared.opts.sync_mode == SyncMode::Sync && self.policy.gathering();
        if wanted && target > 1 && q.ops.len() < target && !q.closing {
            q.wake_at = target;
            q = shared
                .work
                .wait_timeout(q, GATHER_WAIT)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            q.wake_at = 0;
        }
        q
    }
}

impl Writer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        io: Box<dyn SegmentIo>,
        active: Active,
        next_lsn: Lsn,
    ) -> Writer {
        let (tx, rx) = mpsc::channel();
        // Without the thread every group is acknowledged inline: slower, never wrong.
        let completer_thread = std::thread::Builder::new()
            .name("wal-completer".into())
            .spawn(move || completer(rx))
            .ok();
        Writer {
            shared,
            completer: completer_thread.as_ref().map(|_| tx),
            completer_thread,
            io,
            active,
            next_lsn,
            durable_lsn: next_lsn,
            last_sync: Instant::now(),
            buf: Vec::new(),
            lsns: Vec::new(),
        }
    }

    pub(crate) fn dirty(&self) -> bool {
        self.durable_lsn < self.next_lsn
    }

    /// Writes `items` as one or more groups, switching segments as they fill.
    pub(crate) fn write_all(&mut self, mut items: Vec<Pending>) {
        while !items.is_empty() {
            if let Err(e) = self.shared.check_poison() {
                fail_all(items, || Error::Poisoned {
                    cause: poison_cause(&e),
                });
                return;
            }
            let segment_end =
                self.active.first_lsn + (self.shared.opts.segment_size - SEGMENT_HEADER_SIZE);
            let mut room = segment_end - self.next_lsn;
            let mut fit = 0;
            if room >= GROUP_FRAME_SIZE {
                room -= GROUP_FRAME_SIZE;
                for p in &items {
                    let size = frame_size(p.payload.len() as u64);
                    if size > room {
                        break;
                    }
                    room -= size;
                    fit += 1;
                }
            }
            if fit == 0 {
                if let Err(e) = self.switch_segment() {
                    let cause = e.to_string();
                    tracing::warn!(error = %cause, "wal segment switch failed");
                    fail_all(items, || match &e {
                        Error::Poisoned { cause } => Error::Poisoned {
                            cause: cause.clone(),
                        },
                        _ => Error::Env(orbit_env::Error::io(
                            "switch segment",
                            &self.shared.dir,
                            std::io::Error::other(cause.clone()),
                        )),
                    });
                    return;
                }
                continue;
            }
            let rest = items.split_off(fit);
            self.write_group(items);
            items = rest;
        }
    }

    fn write_group(&mut self, group: Vec<Pending>) {
        self.buf.clear();
        self.lsns.clear();
        encode_group(
            &mut self.buf,
            self.next_lsn,
            self.durable_lsn,
            self.shared.opts.clock.unix_millis(),
        );
        for p in &group {
            let lsn = self.next_lsn + self.buf.len() as u64;
            self.lsns.push(lsn);
            encode_record(&mut self.buf, lsn, Kind::Data, &p.payload, p.payload_crc);
        }
        let offset = SEGMENT_HEADER_SIZE + (self.next_lsn - self.active.first_lsn);
        let sync = self.shared.opts.sync_mode == SyncMode::Sync;
        let result = self
            .io
            .write(self.active.file.as_ref(), offset, &self.buf, sync);
        match result {
            Ok(()) => {
                self.next_lsn += self.buf.len() as u64;
                self.shared
                    .written_lsn
                    .store(self.next_lsn, Ordering::Release);
                if sync {
                    self.mark_synced();
                }
                let stats = &self.shared.stats;
                stats.groups.fetch_add(1, Ordering::Relaxed);
                stats
                    .records
                    .fetch_add(group.len() as u64, Ordering::Relaxed);
                stats
                    .bytes
                    .fetch_add(self.buf.len() as u64, Ordering::Relaxed);
                stats
                    .direct_io
                    .store(self.io.direct_io(), Ordering::Relaxed);
                let acks: Vec<Ack> = group
                    .into_iter()
                    .zip(self.lsns.iter())
                    .map(|(p, l)| (p.done, *l))
                    .collect();
                self.acknowledge(acks);
            }
            Err(e) => {
                let cause = format!("{e}: {}", source_text(&e));
                self.shared.poison(&cause);
                fail_all(group, || Error::Indeterminate {
                    cause: cause.clone(),
                });
            }
        }
    }

    /// Wakes the waiters of a written group. A large group is handed to the completer thread so
    /// that this thread can start the next group while dozens of waiters are woken; a small one
    /// is woken here, where it costs less than the hand-off.
    fn acknowledge(&mut self, acks: Vec<Ack>) {
        if acks.len() > INLINE_ACKS {
            if let Some(tx) = &self.completer {
                match tx.send(acks) {
                    Ok(()) => return,
                    Err(mpsc::SendError(acks)) => return complete(acks),
                }
            }
        }
        complete(acks);
    }

    fn mark_synced(&mut self) {
        self.durable_lsn = self.next_lsn;
        self.last_sync = Instant::now();
        self.shared
            .durable_lsn
            .store(self.next_lsn, Ordering::Release);
        self.shared.stats.syncs.fetch_add(1, Ordering::Relaxed);
    }

    /// Makes everything written durable. A failure poisons the log.
    fn sync_now(&mut self) -> Result<()> {
        self.shared.check_poison()?;
        if !self.dirty() {
            return Ok(());
        }
        match self.io.sync(self.active.file.as_ref()) {
            Ok(()) => {
                self.mark_synced();
                Ok(())
            }
            Err(e) => {
                let cause = format!("{e}: {}", source_text(&e));
                self.shared.poison(&cause);
                Err(Error::Indeterminate { cause })
            }
        }
    }

    /// Closes the active segment (durably) and starts the next one from a prepared spare.
    fn switch_segment(&mut self) -> Result<()> {
        self.sync_now()?;
        let spare = take_spare(&self.shared)?;
        let file = activate(&self.shared, &spare, self.next_lsn)?;
        let old_first = self.active.first_lsn;
        self.active = Active {
            file,
            first_lsn: self.next_lsn,
        };
        let closed = {
            let mut segs = lock(&self.shared.segments);
            let mut closed = None;
            if let Some(s) = segs.iter_mut().find(|s| s.first_lsn == old_first) {
                s.end = Some(self.next_lsn);
                closed = Some(s.clone());
            }
            segs.push(SegInfo {
                first_lsn: self.next_lsn,
                path: self.shared.dir.join(segment_name(self.next_lsn)),
                end: None,
                archived: false,
                released: false,
            });
            closed
        };
        self.shared
            .stats
            .segment_switches
            .fetch_add(1, Ordering::Relaxed);
        if let (Some(closed), true) = (closed, self.shared.opts.archive_dir.is_some()) {
            lock(&self.shared.manager).to_archive.push_back(closed);
        }
        self.shared.manager_cv.notify_all();
        Ok(())
    }
}

fn poison_cause(e: &Error) -> String {
    match e {
        Error::Poisoned { cause } => cause.clone(),
        other => other.to_string(),
    }
}

/// The text of an error's source chain, for messages handed to many waiters.
fn source_text(e: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}

fn fail_all(items: Vec<Pending>, err: impl Fn() -> Error) {
    for p in items {
        let _ = p.done.send(Err(err()));
    }
}

/// Takes a prepared spare, waiting for the manager if none is ready.
pub(crate) fn take_spare(shared: &Shared) -> Result<PathBuf> {
    let mut m = lock(&shared.manager);
    let mut waited = false;
    loop {
        if let Some(path) = m.ready.pop_front() {
            drop(m);
            shared.manager_cv.notify_all();
            return Ok(path);
        }
        if let Some(cause) = m.spare_error.take() {
            return Err(Error::Env(orbit_env::Error::io(
                "prepare segment",
                &shared.dir,
                std::io::Error::other(cause),
            )));
        }
        if m.shutdown {
            return Err(Error::Closed);
        }
        if !waited {
            shared.stats.spare_waits.fetch_add(1, Ordering::Relaxed);
            waited = true;
        }
        shared.manager_cv.notify_all();
        m = shared.manager_cv.wait(m).unwrap_or_else(|p| p.into_inner());
    }
}

/// Turns a spare into the segment starting at `first_lsn`: header written and synced while the
/// file still has its spare name, then renamed and the directory synced. A visible segment name
/// therefore always has a valid header. On failure the spare is discarded.
pub(crate) fn activate(
    shared: &Shared,
    spare: &std::path::Path,
    first_lsn: Lsn,
) -> Result<Arc<dyn File>> {
    let fs = shared.fs.as_ref();
    let result = (|| -> Result<Arc<dyn File>> {
        let file = fs.open(spare, OpenMode::ReadWrite)?;
        let header = SegmentHeader {
            log_id: shared.log_id,
            first_lsn,
            segment_size: shared.opts.segment_size,
            created_unix_ms: shared.opts.clock.unix_millis(),
        };
        file.write_all_at(&header.encode(), 0)?;
        file.sync_data()?;
        let path = shared.dir.join(segment_name(first_lsn));
        fs.rename(spare, &path)?;
        fs.sync_dir(&shared.dir)?;
        // Reopen under the final name, so errors (and direct-I/O handles) name the segment.
        Ok(fs.open(&path, OpenMode::ReadWrite)?)
    })();
    if result.is_err() {
        let _ = fs.remove_file(spare);
    }
    result
}
