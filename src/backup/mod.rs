//! Backups: the backup manifest and the helpers `orbit backup`, `orbit restore` and the
//! server's admin endpoint share.
//!
//! A backup directory holds the tables and manifest of a checkpoint, `wal/` (the WAL from the
//! checkpoint's position to the backup's stop LSN, in the archive format) and `backup.json`,
//! written last: a directory without it is not a backup. An incremental backup lists every
//! file of the database but stores only those its parent chain lacks; the others name, in
//! `stored_in`, the backup directory (relative to this one) that holds them.
//!
//! Submodules: `server` (the admin endpoint's routes), `pace` (how fast it sends), `take`
//! (`orbit backup`), `check` (`verify` and `list`), `restore` (`orbit restore`), `http` (the
//! small HTTP client).

pub mod check;
pub mod http;
pub mod pace;
pub mod restore;
pub mod server;
pub mod take;

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// The manifest's file name.
pub const MANIFEST: &str = "backup.json";
/// Version of the manifest's layout.
pub const FORMAT: u32 = 1;

/// `backup.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version ([`FORMAT`]).
    pub format: u32,
    /// The server's name for the backup (its start time).
    pub label: String,
    /// `full` or `incremental`.
    pub kind: String,
    /// The parent backup, relative to this directory (incremental backups only).
    pub parent: Option<String>,
    /// The WAL's identity (timeline), hex.
    pub log_id: String,
    /// The checkpoint holds every WAL record before this LSN.
    pub start_lsn: u64,
    /// The backup restores to the database as of this LSN.
    pub stop_lsn: u64,
    /// When the backup started (RFC 3339, UTC).
    pub start_time: String,
    /// When it stopped: every record before `stop_lsn` was committed before this.
    pub stop_time: String,
    /// `start_time` in Unix ms.
    pub start_unix_ms: i64,
    /// `stop_time` in Unix ms.
    pub stop_unix_ms: i64,
    /// Highest sequence number in the checkpoint.
    pub last_seq: u64,
    /// Bytes of every file of the backup (stored here or in a parent).
    pub total_bytes: u64,
    /// Bytes stored in this directory.
    pub stored_bytes: u64,
    /// Every file, WAL files under `wal/`.
    pub files: Vec<FileEntry>,
}

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path inside a backup directory (`000012.sst`, `wal/…walz`).
    pub name: String,
    /// Length in bytes.
    pub size: u64,
    /// crc32c of the whole file.
    pub crc32c: u32,
    /// The backup directory holding it, relative to this one; `None`: this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_in: Option<String>,
}

impl Manifest {
    /// Reads `dir/backup.json`.
    pub fn load(dir: &Path) -> anyhow::Result<Manifest> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{} is not a backup (cannot read {})",
                dir.display(),
                path.display()
            )
        })?;
        let m: Manifest = serde_json::from_str(&text)
            .with_context(|| format!("{} is damaged", path.display()))?;
        if m.format != FORMAT {
            bail!(
                "{} has format {}, this orbit reads {FORMAT}",
                path.display(),
                m.format
            );
        }
        Ok(m)
    }

    /// Writes `dir/backup.json` durably (temporary file, fsync, rename, directory fsync).
    pub fn store(&self, dir: &Path) -> anyhow::Result<()> {
        let tmp = dir.join(format!("{MANIFEST}.tmp"));
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(serde_json::to_string_pretty(self)?.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(MANIFEST))?;
        sync_dir(dir)
    }

    /// The timeline as a number.
    pub fn log_id(&self) -> anyhow::Result<u64> {
        u64::from_str_radix(&self.log_id, 16)
            .with_context(|| format!("bad log id \"{}\" in the backup manifest", self.log_id))
    }

    /// Where the file `entry` of the backup in `dir` is stored.
    pub fn locate(dir: &Path, entry: &FileEntry) -> PathBuf {
        match &entry.stored_in {
            Some(other) => normalize(&dir.join(other)).join(&entry.name),
            None => dir.join(&entry.name),
        }
    }
}

/// `path` with `.` and `..` resolved lexically.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `target` relative to `from` (both absolute), e.g. `../full`.
pub fn relative(target: &Path, from: &Path) -> PathBuf {
    let (t, f): (Vec<_>, Vec<_>) = (target.components().collect(), from.components().collect());
    let common = t.iter().zip(&f).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in t.iter().skip(common) {
        out.push(c);
    }
    out
}

/// Whether a name from a manifest or a request stays inside a backup directory: a plain
/// file name, or `wal/` and a plain file name.
pub fn safe_name(name: &str) -> bool {
    let plain = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0']);
    match name.split_once('/') {
        Some(("wal", rest)) => plain(rest),
        Some(_) => false,
        None => plain(name),
    }
}

/// crc32c and length of a file.
pub fn file_crc(path: &Path) -> anyhow::Result<(u64, u32)> {
    use std::io::Read as _;
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut len, mut crc) = (0u64, 0u32);
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            return Ok((len, crc));
        }
        let chunk = buf.get(..n).unwrap_or_default();
        crc = crc32c::crc32c_append(crc, chunk);
        len += n as u64;
    }
}

/// Copies `from` into the new file `to` (through `orbit-env`, synced), reporting progress;
/// returns the bytes written and their crc32c.
pub fn write_copy(
    fs: &dyn orbit_env::FileSystem,
    mut from: impl std::io::Read,
    to: &Path,
    progress: &mut Progress,
) -> anyhow::Result<(u64, u32)> {
    let file = fs
        .open(to, orbit_env::OpenMode::CreateNew)
        .with_context(|| format!("cannot create {}", to.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut len, mut crc) = (0u64, 0u32);
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        file.write_all_at(chunk, len)
            .with_context(|| format!("cannot write {}", to.display()))?;
        crc = crc32c::crc32c_append(crc, chunk);
        len += n as u64;
        progress.add(n as u64);
    }
    file.sync_all()
        .with_context(|| format!("cannot sync {}", to.display()))?;
    Ok((len, crc))
}

/// Sets the calling thread's nice value (`0` normal, `19` lowest), so that copying a backup
/// yields the CPU to serving on a busy machine and runs at full speed on an idle one.
pub fn set_thread_nice(nice: i32) {
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
        tracing::debug!(error = %e, nice, "could not lower the thread's priority");
    }
}

/// fsync of a directory.
pub fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync directory {}", dir.display()))
}

/// Whether `dir` is missing or empty.
pub fn empty_or_missing(dir: &Path) -> anyhow::Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", dir.display())),
    }
}

/// RFC 3339 (UTC, milliseconds) of a Unix time in ms.
pub fn rfc3339(unix_ms: i64) -> String {
    let nanos = i128::from(unix_ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("@{unix_ms}ms"))
}

/// Parses an RFC 3339 time (any offset) into Unix ms.
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("\"{s}\" is not an RFC 3339 time (like 2026-12-02T10:30:00Z): {e}"))?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| format!("\"{s}\" is out of range"))
}

/// Now, in Unix ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Progress of a long copy on stderr: bytes, rate and ETA, at most once a second; with a
/// maximum rate, `add` sleeps to hold the copy under it.
pub struct Progress {
    what: &'static str,
    total: u64,
    done: u64,
    started: Instant,
    printed: Instant,
    max_rate: Option<u64>,
}

impl Progress {
    /// A copy of `total` bytes.
    pub fn new(what: &'static str, total: u64) -> Progress {
        let now = Instant::now();
        Progress {
            what,
            total,
            done: 0,
            started: now,
            printed: now,
            max_rate: None,
        }
    }

    /// Holds the copy under `bytes_per_sec`.
    pub fn limit(mut self, bytes_per_sec: Option<u64>) -> Progress {
        self.max_rate = bytes_per_sec.filter(|r| *r > 0);
        self
    }

    /// `n` more bytes done.
    pub fn add(&mut self, n: u64) {
        self.done += n;
        if let Some(rate) = self.max_rate {
            let due = Duration::from_secs_f64(self.done as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(self.started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        if self.printed.elapsed() >= Duration::from_secs(1) {
            self.printed = Instant::now();
            let rate = self.rate();
            let eta = match rate > 0.0 {
                true => format!("{:.0}s", self.total.saturating_sub(self.done) as f64 / rate),
                false => "?".into(),
            };
            eprintln!(
                "{}: {} of {} ({:.0}%), {}/s, ETA {eta}",
                self.what,
                bytes(self.done),
                bytes(self.total),
                100.0 * self.done as f64 / self.total.max(1) as f64,
                bytes(rate as u64),
            );
        }
    }

    fn rate(&self) -> f64 {
        self.done as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    /// Prints the summary line.
    pub fn finish(&self) {
        eprintln!(
            "{}: {} in {:.1}s ({}/s)",
            self.what,
            bytes(self.done),
            self.started.elapsed().as_secs_f64(),
            bytes(self.rate() as u64)
        );
    }
}

/// `12.3 MiB`.
pub fn bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < units.len() {
        v /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{n} B"),
        _ => format!("{v:.1} {}", units.get(unit).copied().unwrap_or("B")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_paths_and_times() {
        assert!(safe_name("000012.sst") && safe_name("wal/00-00.walz") && safe_name("CURRENT"));
        for bad in [
            "",
            "..",
            "../x",
            "wal/../x",
            "a/b",
            "/etc/passwd",
            "wal/",
            "x\0",
        ] {
            assert!(!safe_name(bad), "{bad}");
        }
        assert_eq!(
            relative(Path::new("/b/full"), Path::new("/b/inc")),
            Path::new("../full")
        );
        assert_eq!(
            normalize(&Path::new("/b/inc2").join("../inc1").join("../full")),
            Path::new("/b/full")
        );
        let t = parse_rfc3339("2026-12-02T10:30:00.250+01:00").unwrap();
        assert_eq!(rfc3339(t), "2026-12-02T09:30:00.25Z");
        assert!(parse_rfc3339("yesterday").is_err());
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
