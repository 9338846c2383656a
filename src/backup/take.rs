//! `orbit backup --server ADDR --out DIR [--incremental-from PARENT]`: asks the running
//! server for a base backup and downloads it, checking every file's size and crc32c. With a
//! parent, files the parent chain already holds (same name, size and crc32c) are referenced,
//! not copied. `backup.json` is written last; on failure the partial directory is removed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use orbit_env::RealFs;
use serde_json::Value;

use super::{
    bytes, empty_or_missing, http, normalize, relative, rfc3339, safe_name, sync_dir, write_copy,
    FileEntry, Manifest, Progress, FORMAT,
};

/// How long the server may take to stage a backup (it flushes the memtables first).
const STAGE_WAIT: Duration = Duration::from_secs(3600);
/// How long one read of a download may stall.
const READ_WAIT: Duration = Duration::from_secs(120);

/// How `orbit backup` copies.
pub struct Options<'a> {
    /// The admin endpoint.
    pub server: &'a str,
    /// The new backup's directory.
    pub out: &'a Path,
    /// The parent backup of an incremental.
    pub parent: Option<&'a Path>,
    /// Bytes per second at most.
    pub max_rate: Option<u64>,
    /// The process's nice value while it copies.
    pub nice: i32,
}

pub fn run(o: &Options<'_>) -> anyhow::Result<()> {
    let (server, out, parent) = (o.server, o.out, o.parent);
    if let Err(e) = rustix::process::setpriority_process(None, o.nice) {
        tracing::debug!(error = %e, "could not set the nice value");
    }
    if !empty_or_missing(out)? {
        bail!("--out {} exists and is not empty", out.display());
    }
    // Files the parent chain holds: (name, size, crc) → absolute directory holding it.
    let mut held: HashMap<(String, u64, u32), PathBuf> = HashMap::new();
    let parent = match parent {
        Some(p) => {
            let p = std::fs::canonicalize(p)
                .with_context(|| format!("--incremental-from {} does not exist", p.display()))?;
            let m = Manifest::load(&p)?;
            for f in m.files.iter().filter(|f| !f.name.starts_with("wal/")) {
                let holder = match &f.stored_in {
                    Some(rel) => normalize(&p.join(rel)),
                    None => p.clone(),
                };
                held.insert((f.name.clone(), f.size, f.crc32c), holder);
            }
            Some(p)
        }
        None => None,
    };
    std::fs::create_dir_all(out.join("wal"))
        .with_context(|| format!("cannot create {}", out.display()))?;
    let out = std::fs::canonicalize(out)?;
    let staged = http::call(server, "POST", "/backup", STAGE_WAIT)?;
    let staged: Value = serde_json::from_str(&staged).context("the server's answer is not JSON")?;
    let label = staged["label"].as_str().unwrap_or_default().to_string();
    let result = download(
        server,
        &staged,
        &label,
        &out,
        parent.as_deref(),
        &held,
        o.max_rate,
    );
    if let Err(e) = http::call(server, "DELETE", &format!("/backup/{label}"), READ_WAIT) {
        eprintln!("warning: could not remove the server's staging copy of {label}: {e:#}");
    }
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&out);
    }
    let m = result?;
    println!(
        "backup {} ({}) written to {}: {} files, {} stored, {} referenced; lsn {}..{}, {} .. {}",
        m.label,
        m.kind,
        out.display(),
        m.files.len(),
        bytes(m.stored_bytes),
        bytes(m.total_bytes - m.stored_bytes),
        m.start_lsn,
        m.stop_lsn,
        m.start_time,
        m.stop_time
    );
    Ok(())
}

fn download(
    server: &str,
    staged: &Value,
    label: &str,
    out: &Path,
    parent: Option<&Path>,
    held: &HashMap<(String, u64, u32), PathBuf>,
    max_rate: Option<u64>,
) -> anyhow::Result<Manifest> {
    let num = |k: &str| {
        staged[k]
            .as_u64()
            .with_context(|| format!("the server's answer lacks {k}"))
    };
    let files = staged["files"]
        .as_array()
        .context("the server's answer lacks files")?;
    let mut entries = Vec::new();
    for f in files {
        let name = f["name"].as_str().unwrap_or_default().to_string();
        if !safe_name(&name) {
            bail!("the server named an unsafe file \"{name}\"");
        }
        let size = f["size"].as_u64().context("file without size")?;
        let crc32c = f["crc32c"]
            .as_u64()
            .and_then(|c| u32::try_from(c).ok())
            .context("file without crc32c")?;
        let stored_in = held
            .get(&(name.clone(), size, crc32c))
            .map(|holder| relative(holder, out).to_string_lossy().into_owned());
        entries.push(FileEntry {
            name,
            size,
            crc32c,
            stored_in,
        });
    }
    let to_copy: u64 = entries
        .iter()
        .filter(|e| e.stored_in.is_none())
        .map(|e| e.size)
        .sum();
    let fs = RealFs::shared();
    let mut progress = Progress::new("backup", to_copy).limit(max_rate);
    for e in entries.iter().filter(|e| e.stored_in.is_none()) {
        let path = format!("/backup/{label}/{}", e.name);
        let r = http::request(server, "GET", &path, READ_WAIT)?;
        if r.status != 200 || r.length != e.size {
            bail!(
                "GET {path} answered {} with {} bytes, expected 200 with {}",
                r.status,
                r.length,
                e.size
            );
        }
        let target = out.join(&e.name);
        let (len, crc) = write_copy(fs.as_ref(), r.body(), &target, &mut progress)?;
        if (len, crc) != (e.size, e.crc32c) {
            bail!(
                "{} arrived damaged ({len} bytes, crc32c {crc:08x}; expected {} bytes, {:08x})",
                e.name,
                e.size,
                e.crc32c
            );
        }
    }
    progress.finish();
    fs.sync_dir(&out.join("wal"))?;
    sync_dir(out)?;
    let start_unix_ms = staged["start_unix_ms"].as_i64().unwrap_or_default();
    let stop_unix_ms = staged["stop_unix_ms"].as_i64().unwrap_or_default();
    let m = Manifest {
        format: FORMAT,
        label: label.to_string(),
        kind: if parent.is_some() {
            "incremental"
        } else {
            "full"
        }
        .into(),
        parent: parent.map(|p| relative(p, out).to_string_lossy().into_owned()),
        log_id: staged["log_id"].as_str().unwrap_or_default().to_string(),
        start_lsn: num("start_lsn")?,
        stop_lsn: num("stop_lsn")?,
        start_time: rfc3339(start_unix_ms),
        stop_time: rfc3339(stop_unix_ms),
        start_unix_ms,
        stop_unix_ms,
        last_seq: num("last_seq")?,
        total_bytes: entries.iter().map(|e| e.size).sum(),
        stored_bytes: to_copy,
        files: entries,
    };
    m.log_id()?;
    m.store(out)?;
    Ok(m)
}
