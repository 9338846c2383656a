//! `orbit backup verify DIR` and `orbit backup list DIR`.
//!
//! Verification reads every file the backup needs, wherever in the parent chain it is
//! stored, and checks its size and crc32c; it checks that each parent's manifest is there,
//! and that the backup's WAL (every archived record re-validated) runs without a gap from the
//! checkpoint's position to the stop LSN. The first problem is an error naming the file.

use std::path::Path;

use anyhow::{bail, Context};
use orbit_env::RealFs;

use super::{bytes, file_crc, normalize, Manifest, Progress, MANIFEST};

/// Checks the backup in `dir`; returns its manifest.
pub fn verify(dir: &Path, quiet: bool) -> anyhow::Result<Manifest> {
    let m = Manifest::load(dir)?;
    let mut parent = m.parent.clone();
    let mut at = dir.to_path_buf();
    while let Some(rel) = parent {
        let p = normalize(&at.join(&rel));
        let pm = Manifest::load(&p).with_context(|| {
            format!(
                "the parent backup {} of {} is missing",
                p.display(),
                at.display()
            )
        })?;
        parent = pm.parent;
        at = p;
    }
    let mut progress = Progress::new("verify", m.total_bytes);
    for f in &m.files {
        if !super::safe_name(&f.name) {
            bail!(
                "{} names an unsafe file \"{}\"",
                dir.join(MANIFEST).display(),
                f.name
            );
        }
        let path = Manifest::locate(dir, f);
        let (size, crc) = file_crc(&path)
            .with_context(|| format!("backup file {} is missing or unreadable", path.display()))?;
        if size != f.size {
            bail!(
                "backup file {} has {size} bytes, the manifest says {}",
                path.display(),
                f.size
            );
        }
        if crc != f.crc32c {
            bail!(
                "backup file {} is corrupt: crc32c {crc:08x}, the manifest says {:08x}",
                path.display(),
                f.crc32c
            );
        }
        progress.add(size);
    }
    if m.start_lsn < m.stop_lsn {
        let wal = dir.join("wal");
        let s = orbit_wal::read_archive(
            RealFs::shared().as_ref(),
            &wal,
            Some(m.log_id()?),
            m.start_lsn,
            |_| true,
        )
        .with_context(|| format!("the backup's wal in {} is damaged", wal.display()))?;
        if s.end_lsn < m.stop_lsn {
            bail!(
                "the backup's wal in {} ends at lsn {}, before the backup's stop lsn {}",
                wal.display(),
                s.end_lsn,
                m.stop_lsn
            );
        }
    }
    if !quiet {
        progress.finish();
        println!(
            "backup {} is valid: {} ({}), {} files, {}, lsn {}..{}, stopped {}",
            dir.display(),
            m.label,
            m.kind,
            m.files.len(),
            bytes(m.total_bytes),
            m.start_lsn,
            m.stop_lsn,
            m.stop_time
        );
    }
    Ok(m)
}

/// Checks the archived WAL of the backup's timeline from its stop LSN on: every file's
/// checksums, every record, and an unbroken chain.
pub fn verify_archive(m: &Manifest, arch: &Path) -> anyhow::Result<()> {
    let s = orbit_wal::read_archive(
        RealFs::shared().as_ref(),
        arch,
        Some(m.log_id()?),
        m.stop_lsn,
        |_| true,
    )
    .with_context(|| format!("the archive {} is damaged", arch.display()))?;
    println!(
        "archive {} is valid from the backup's end: {} records, lsn {}..{}{}",
        arch.display(),
        s.records,
        m.stop_lsn,
        s.end_lsn.max(m.stop_lsn),
        s.last_unix_ms
            .map(|t| format!(", last commit {}", super::rfc3339(t)))
            .unwrap_or_default()
    );
    Ok(())
}

/// Lists the backups in `dir` (a backup, or a directory of backups), oldest first.
pub fn list(dir: &Path) -> anyhow::Result<()> {
    let mut found = Vec::new();
    if dir.join(MANIFEST).is_file() {
        found.push((dir.to_path_buf(), Manifest::load(dir)?));
    } else {
        for entry in
            std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let path = entry?.path();
            if path.join(MANIFEST).is_file() {
                let m = Manifest::load(&path)?;
                found.push((path, m));
            }
        }
    }
    if found.is_empty() {
        bail!("no backups in {}", dir.display());
    }
    found.sort_by_key(|(_, m)| m.stop_unix_ms);
    println!(
        "{:<28} {:<12} {:<16} {:>14} {:>14} {:<25} {:>10} {:>10}  parent",
        "backup", "kind", "timeline", "start lsn", "stop lsn", "stop time", "size", "stored"
    );
    for (path, m) in found {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        println!(
            "{:<28} {:<12} {:<16} {:>14} {:>14} {:<25} {:>10} {:>10}  {}",
            name,
            m.kind,
            m.log_id,
            m.start_lsn,
            m.stop_lsn,
            m.stop_time,
            bytes(m.total_bytes),
            bytes(m.stored_bytes),
            m.parent.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}
