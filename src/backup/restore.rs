//! `orbit restore --from BACKUP [--wal-archive ARCH] --data-dir NEW (--to-time T | --to-lsn N
//! | --latest) [--exclusive]`.
//!
//! Verifies the backup (every file's crc32c, the parent chain, its WAL), checks the target
//! against the backup and the archive before writing anything, copies the checkpoint into
//! `NEW` (`CURRENT` last), opens it (a new WAL: a new timeline id), replays the backup's WAL,
//! then the archive from the backup's stop LSN, and stops exactly at the target:
//! - `--to-lsn N`: every record that starts before `N`, and the one starting at `N` unless
//!   `--exclusive` (PostgreSQL's `recovery_target_lsn` and `recovery_target_inclusive`);
//! - `--to-time T`: every record committed (its write group's time) at or before `T`, or
//!   strictly before with `--exclusive`; replay stops at the first record past it;
//! - `--latest`: everything the backup and the archive hold.
//!
//! A write batch larger than one WAL record is several records; it is applied at its last
//! (commit) record, so it is restored whole exactly when that record is within the target.
//!
//! Never a silently wrong restore: a target before the backup's end or past the archive's end,
//! a gap or damage in the WAL chain, or a non-empty `NEW` is an error, and `NEW` is removed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use orbit_env::{FileSystem, RealFs, SystemClock};
use orbit_lsm::{Db, DbOptions, Replayer};
use orbit_wal::{parse_archive_name, read_archive, Lsn, Record, SyncMode, WalOptions};

use super::{check, empty_or_missing, rfc3339, write_copy, Manifest, Progress};

/// Where to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Everything available.
    Latest,
    /// The record starting at this LSN.
    Lsn(Lsn),
    /// This time, Unix ms.
    Time(i64),
}

/// What `orbit restore` was asked.
#[derive(Debug)]
pub struct Request {
    pub from: PathBuf,
    pub wal_archive: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub target: Target,
    pub exclusive: bool,
}

pub fn run(req: &Request) -> anyhow::Result<()> {
    if !empty_or_missing(&req.data_dir)? {
        bail!("--data-dir {} is not empty", req.data_dir.display());
    }
    let m = check::verify(&req.from, true)?;
    let log_id = m.log_id()?;
    check_target(req, &m, log_id)?;
    let existed = req.data_dir.exists();
    let result = restore(req, &m, log_id);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&req.data_dir);
        if existed {
            let _ = std::fs::create_dir_all(&req.data_dir);
        }
    }
    let reached = result?;
    let db_note = match reached.last_lsn {
        Some(lsn) => format!("lsn {lsn} ({})", rfc3339(reached.last_time)),
        None => format!("the backup's stop lsn {} ({})", m.stop_lsn, m.stop_time),
    };
    println!(
        "restored {} into {}: replayed {} write batches up to {db_note}; new timeline {:016x}",
        req.from.display(),
        req.data_dir.display(),
        reached.applied,
        reached.timeline
    );
    Ok(())
}

/// Refuses targets the backup and archive cannot reach, before anything is written.
fn check_target(req: &Request, m: &Manifest, log_id: u64) -> anyhow::Result<()> {
    let beyond_backup = match req.target {
        Target::Latest => false,
        Target::Lsn(n) => {
            if n < m.stop_lsn {
                bail!(
                    "--to-lsn {n} is before the end of the backup (its stop lsn is {}): restore an older backup",
                    m.stop_lsn
                );
            }
            n > m.stop_lsn
        }
        Target::Time(t) => {
            if t < m.stop_unix_ms {
                bail!(
                    "--to-time {} is before the end of the backup ({}): restore an older backup",
                    rfc3339(t),
                    m.stop_time
                );
            }
            true
        }
    };
    match (&req.wal_archive, beyond_backup) {
        (None, true) => bail!(
            "the target is past the end of the backup ({}, lsn {}): give --wal-archive to replay further, or use --latest",
            m.stop_time,
            m.stop_lsn
        ),
        (Some(arch), _) => {
            let end = archive_end(arch, log_id)?;
            if let (Target::Lsn(n), Some(end)) = (req.target, end) {
                if n > end.max(m.stop_lsn) {
                    bail!("--to-lsn {n} is after the end of the archive in {} (lsn {end})", arch.display());
                }
            }
            if end.is_none() && beyond_backup {
                bail!("the archive {} holds no wal of timeline {log_id:016x}", arch.display());
            }
        }
        (None, false) => {}
    }
    Ok(())
}

/// The end LSN of the timeline's newest archived segment.
fn archive_end(arch: &Path, log_id: u64) -> anyhow::Result<Option<Lsn>> {
    let names = std::fs::read_dir(arch)
        .with_context(|| format!("cannot read the archive {}", arch.display()))?;
    let mut end = None;
    for entry in names {
        let name = entry?.file_name();
        if let Some((id, _, e)) = parse_archive_name(&name.to_string_lossy()) {
            if id == log_id {
                end = end.max(Some(e));
            }
        }
    }
    Ok(end)
}

struct Reached {
    applied: u64,
    last_lsn: Option<Lsn>,
    last_time: i64,
    timeline: u64,
}

fn restore(req: &Request, m: &Manifest, log_id: u64) -> anyhow::Result<Reached> {
    let fs = RealFs::shared();
    let dir = &req.data_dir;
    fs.create_dir_all(dir)?;
    // The checkpoint: tables and manifest, `CURRENT` last.
    let mut files: Vec<_> = m
        .files
        .iter()
        .filter(|f| !f.name.starts_with("wal/"))
        .collect();
    files.sort_by_key(|f| f.name == "CURRENT");
    let mut progress = Progress::new("restore", files.iter().map(|f| f.size).sum());
    for f in files {
        let src = Manifest::locate(&req.from, f);
        let reader =
            std::fs::File::open(&src).with_context(|| format!("cannot open {}", src.display()))?;
        let (len, crc) = write_copy(fs.as_ref(), reader, &dir.join(&f.name), &mut progress)?;
        if (len, crc) != (f.size, f.crc32c) {
            bail!(
                "backup file {} changed while it was restored",
                src.display()
            );
        }
        if f.name == "CURRENT" {
            fs.sync_dir(dir)?;
        }
    }
    fs.sync_dir(dir)?;
    progress.finish();

    let opts = DbOptions {
        wal: WalOptions {
            // Replay writes without a sync per record; closing syncs (and the flush below
            // writes everything into synced tables).
            sync_mode: SyncMode::None,
            clock: Arc::new(SystemClock::new()),
            ..WalOptions::default()
        },
        ..DbOptions::default()
    };
    let db = Db::open(Arc::clone(&fs) as Arc<dyn FileSystem>, dir, opts)
        .with_context(|| format!("cannot open the restored checkpoint in {}", dir.display()))?;
    let timeline = db.log_id();
    let mut replay = Replay {
        replayer: Replayer::new(&db, m.stop_lsn),
        target: req.target,
        exclusive: req.exclusive,
        failed: None,
        last_lsn: None,
        last_time: m.stop_unix_ms,
        started: std::time::Instant::now(),
    };
    if m.start_lsn < m.stop_lsn {
        let wal = req.from.join("wal");
        read_archive(fs.as_ref(), &wal, Some(log_id), m.start_lsn, |r| {
            replay.apply(r, 0, true)
        })
        .with_context(|| format!("cannot replay the backup's wal in {}", wal.display()))?;
        replay.check()?;
    }
    if let Some(arch) = &req.wal_archive {
        let s = read_archive(fs.as_ref(), arch, Some(log_id), m.stop_lsn, |r| {
            replay.apply(r, m.stop_lsn, false)
        })
        .with_context(|| format!("cannot replay the archive {}", arch.display()))?;
        replay.check()?;
        if let (Target::Time(t), false) = (req.target, s.stopped) {
            bail!(
                "--to-time {} is after the end of the archive in {}: its last commit is at {}, and the archive cannot show that nothing was committed after it (use --latest to restore everything archived)",
                rfc3339(t),
                arch.display(),
                s.last_unix_ms.map_or_else(|| m.stop_time.clone(), rfc3339)
            );
        }
    }
    eprintln!(
        "restore: replayed {} write batches in {:.1}s",
        replay.replayer.applied(),
        replay.started.elapsed().as_secs_f64()
    );
    if let Some(lsn) = replay.replayer.incomplete_batch_lsn() {
        eprintln!(
            "restore: the write batch whose records start at lsn {lsn} is not applied: its \
             commit record lies past the target or past the end of the wal"
        );
    }
    let reached = Reached {
        applied: replay.replayer.applied(),
        last_lsn: replay.last_lsn,
        last_time: replay.last_time,
        timeline,
    };
    drop(replay);
    db.flush().context("cannot flush the restored database")?;
    db.close().context("cannot close the restored database")?;
    Ok(reached)
}

struct Replay<'a> {
    replayer: Replayer<'a>,
    target: Target,
    exclusive: bool,
    failed: Option<orbit_lsm::Error>,
    last_lsn: Option<Lsn>,
    last_time: i64,
    started: std::time::Instant,
}

impl Replay<'_> {
    /// Applies `r` unless it lies before `from` (already applied) or past the target (the
    /// backup's own WAL, `force`, always applies: every target lies at or after its end);
    /// returns whether to go on.
    fn apply(&mut self, r: Record, from: Lsn, force: bool) -> bool {
        if r.lsn < from {
            return true;
        }
        let wanted = force
            || match (self.target, self.exclusive) {
                (Target::Latest, _) => true,
                (Target::Lsn(n), false) => r.lsn <= n,
                (Target::Lsn(n), true) => r.lsn < n,
                (Target::Time(t), false) => r.unix_ms <= t,
                (Target::Time(t), true) => r.unix_ms < t,
            };
        if !wanted {
            return false;
        }
        if let Err(e) = self.replayer.apply(r.lsn, &r.payload) {
            self.failed = Some(e);
            return false;
        }
        self.last_lsn = Some(r.lsn);
        self.last_time = r.unix_ms;
        true
    }

    fn check(&mut self) -> anyhow::Result<()> {
        match self.failed.take() {
            Some(e) => Err(e).context("replaying the wal failed"),
            None => Ok(()),
        }
    }
}
