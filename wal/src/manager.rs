//! The segment manager thread: keeps a spare segment ready so appends never wait for a file to
//! be created or grown, copies closed segments to the archive, and recycles released segments.
//!
//! In `sync` mode a new spare is written out in full (zeros) and synced before it is offered,
//! so the writer's fdatasync never has to update file metadata; in the other modes spares start
//! empty and grow, or are allocated whole by the `mmap` backend (see `preallocates`). A released segment becomes a spare by rename:
//! its stale records cannot be mistaken for new ones because every frame's checksum covers its
//! LSN. A released segment is never recycled before it is archived (when archiving is on).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orbit_env::OpenMode;
use tokio::sync::oneshot;

use crate::archive::archive_segment;
use crate::segment::spare_name;
use crate::shared::{lock, Op, SegInfo, Shared};
use crate::{Result, SyncMode};

/// How many spares the manager keeps prepared ahead of the writer.
const READY_SPARES: usize = 1;
/// Zero-fill chunk when preparing a spare.
const FILL_CHUNK: usize = 1 << 20;

/// How long a failed archive copy waits before it is tried again.
const ARCHIVE_RETRY: Duration = Duration::from_secs(2);

enum Job {
    NewSpare(PathBuf),
    Archive(SegInfo),
    Recycle(PathBuf),
    /// A timer expired: look at the archive timeout again.
    Tick,
}

pub(crate) fn run(shared: Arc<Shared>) {
    let mut next_switch = shared.opts.archive_timeout.map(|t| Instant::now() + t);
    loop {
        if let (Some(at), Some(every)) = (next_switch, shared.opts.archive_timeout) {
            if Instant::now() >= at {
                request_switch(&shared);
                next_switch = Some(Instant::now() + every);
            }
        }
        let job = {
            let mut m = lock(&shared.manager);
            loop {
                if m.ready.len() < READY_SPARES && m.spare_error.is_none() && !m.shutdown {
                    m.next_spare_id += 1;
                    break Job::NewSpare(shared.dir.join(spare_name(m.next_spare_id)));
                }
                if let Some(seg) = m.to_archive.pop_front() {
                    break Job::Archive(seg);
                }
                if let Some(path) = m.to_recycle.pop_front() {
                    break Job::Recycle(path);
                }
                if m.shutdown {
                    return;
                }
                let now = Instant::now();
                if m.archive_retry_at.is_some_and(|t| t <= now) {
                    m.archive_retry_at = None;
                    let failed = std::mem::take(&mut m.archive_failed);
                    m.to_archive.extend(failed);
                    continue;
                }
                let wake = [m.archive_retry_at, next_switch]
                    .into_iter()
                    .flatten()
                    .min();
                match wake {
                    Some(at) => {
                        let (guard, timeout) = shared
                            .manager_cv
                            .wait_timeout(m, at.saturating_duration_since(now))
                            .unwrap_or_else(|p| p.into_inner());
                        m = guard;
                        if timeout.timed_out() {
                            break Job::Tick;
                        }
                    }
                    None => m = shared.manager_cv.wait(m).unwrap_or_else(|p| p.into_inner()),
                }
            }
        };
        match job {
            Job::NewSpare(path) => {
                let result = prepare_spare(&shared, &path);
                let mut m = lock(&shared.manager);
                match result {
                    Ok(()) => m.ready.push_back(path),
                    Err(e) => {
                        tracing::warn!(error = %e, path = %path.display(), "could not prepare a wal segment");
                        let _ = shared.fs.remove_file(&path);
                        m.spare_error = Some(format!("{e}"));
                    }
                }
            }
            Job::Archive(seg) => archive_job(&shared, seg),
            Job::Recycle(path) => recycle(&shared, path),
            Job::Tick => continue,
        }
        shared.manager_cv.notify_all();
    }
}

/// Asks the writer to close the active segment if it holds records (the archive timeout).
fn request_switch(shared: &Shared) {
    let written = shared.written_lsn.load(Ordering::Acquire);
    let active_has_records = lock(&shared.segments)
        .last()
        .is_some_and(|s| s.end.is_none() && s.first_lsn < written);
    if !active_has_records {
        return;
    }
    let (tx, _rx) = oneshot::channel();
    {
        let mut q = lock(&shared.queue);
        if q.closing {
            return;
        }
        q.ops.push_back(Op::Switch(tx));
    }
    shared.work.notify_one();
}

fn prepare_spare(shared: &Shared, path: &std::path::Path) -> Result<()> {
    let fs = shared.fs.as_ref();
    let file = fs.open(path, OpenMode::CreateNew)?;
    if !preallocates(shared) {
        file.sync_all()?;
        fs.sync_dir(&shared.dir)?;
        return Ok(());
    }
    let size = shared.opts.segment_size;
    file.allocate(size)?;
    let zeros = vec![0u8; FILL_CHUNK];
    let mut off = 0u64;
    while off < size {
        let n = (size - off).min(FILL_CHUNK as u64) as usize;
        file.write_all_at(zeros.get(..n).unwrap_or_default(), off)?;
        off += n as u64;
    }
    file.sync_all()?;
    fs.sync_dir(&shared.dir)?;
    Ok(())
}

/// Whether segments are written out in full before use. Only `sync` mode gains from it: an
/// fdatasync of an overwrite changes no metadata. Without a per-append sync, small overwrites
/// of written blocks are what costs (ext4 maps buffer heads for each), while appends to a
/// growing file take the cheaper delayed-allocation path; so `periodic` and `none` segments
/// start empty and grow (or, with the `mmap` backend, are allocated whole and written through
/// a mapping when first written), and released ones are deleted rather than recycled.
pub(crate) fn preallocates(shared: &Shared) -> bool {
    shared.opts.sync_mode == SyncMode::Sync
}

fn archive_job(shared: &Shared, seg: SegInfo) {
    let (Some(dir), Some(end)) = (shared.opts.archive_dir.as_ref(), seg.end) else {
        return;
    };
    match archive_segment(
        shared.fs.as_ref(),
        &seg.path,
        seg.first_lsn,
        end,
        shared.log_id,
        dir,
    ) {
        Ok(path) => {
            tracing::debug!(archive = %path.display(), "wal segment archived");
            shared
                .stats
                .archived_segments
                .fetch_add(1, Ordering::Relaxed);
            let mut segs = lock(&shared.segments);
            let mut recycle = None;
            if let Some(pos) = segs.iter().position(|s| s.first_lsn == seg.first_lsn) {
                if let Some(s) = segs.get_mut(pos) {
                    s.archived = true;
                    if s.released {
                        recycle = Some(segs.remove(pos).path);
                    }
                }
            }
            drop(segs);
            if let Some(path) = recycle {
                lock(&shared.manager).to_recycle.push_back(path);
            }
        }
        Err(e) => {
            // The segment stays (it is not recycled unarchived) and is tried again later.
            tracing::error!(error = %e, segment = %seg.path.display(), "wal archiving failed");
            shared
                .stats
                .archive_failures
                .fetch_add(1, Ordering::Relaxed);
            let mut m = lock(&shared.manager);
            m.archive_failed.push_back(seg);
            m.archive_retry_at = Some(Instant::now() + ARCHIVE_RETRY);
        }
    }
}

fn recycle(shared: &Shared, path: PathBuf) {
    let fs = shared.fs.as_ref();
    let keep = {
        let m = lock(&shared.manager);
        preallocates(shared) && m.ready.len() < shared.opts.max_spare_segments && !m.shutdown
    };
    let result = if keep {
        let id = {
            let mut m = lock(&shared.manager);
            m.next_spare_id += 1;
            m.next_spare_id
        };
        let spare = shared.dir.join(spare_name(id));
        fs.rename(&path, &spare)
            .and_then(|()| fs.sync_dir(&shared.dir))
            .map(|()| Some(spare))
    } else {
        fs.remove_file(&path)
            .and_then(|()| fs.sync_dir(&shared.dir))
            .map(|()| None)
    };
    match result {
        Ok(Some(spare)) => lock(&shared.manager).ready.push_back(spare),
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, segment = %path.display(), "could not recycle a released wal segment")
        }
    }
}
