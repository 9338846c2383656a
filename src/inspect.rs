//! `orbit inspect`: prints on-disk files in human form. Today: WAL segments.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use orbit_env::{FileSystem, RealFs};
use orbit_wal::{inspect_segment, FrameInfo};

use crate::cli::{InspectArgs, InspectTarget};

pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    match args.target {
        InspectTarget::Wal { path, frames } => wal(&path, frames),
    }
}

/// Dumps one segment file, or every segment of a WAL directory in LSN order.
fn wal(path: &Path, frames: bool) -> anyhow::Result<()> {
    let fs = RealFs;
    let files: Vec<PathBuf> = if path.is_dir() {
        fs.list_dir(path)?
            .into_iter()
            .filter(|n| n.ends_with(".wal") && !n.starts_with("spare-"))
            .map(|n| path.join(n))
            .collect()
    } else {
        vec![path.to_path_buf()]
    };
    if files.is_empty() {
        anyhow::bail!("no wal segments in {}", path.display());
    }
    let mut out = std::io::stdout().lock();
    for file in files {
        let dump = inspect_segment(&fs, &file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let h = dump.header;
        let data = dump
            .frames
            .iter()
            .filter(|f| matches!(f, FrameInfo::Data { .. }))
            .count();
        writeln!(
            out,
            "{}: log {:016x}, lsn {}..{}, {} data records in {} groups, segment size {}, created {} ms",
            file.display(),
            h.log_id,
            h.first_lsn,
            dump.end_lsn,
            data,
            dump.frames.len() - data,
            h.segment_size,
            h.created_unix_ms
        )?;
        match (dump.stop_offset, dump.zero_after_stop) {
            (Some(at), true) => writeln!(out, "  unused (zeroes) from file offset {at}")?,
            (Some(at), false) => writeln!(
                out,
                "  frames stop validating at file offset {at}; non-zero bytes follow (stale bytes of a \
                 recycled segment, a torn write past the end, or damage)"
            )?,
            (None, _) => {}
        }
        if frames {
            for f in &dump.frames {
                match f {
                    FrameInfo::Group {
                        lsn,
                        durable_lsn,
                        unix_ms,
                    } => writeln!(
                        out,
                        "  {lsn:>12} group  durable<{durable_lsn} at {unix_ms} ms"
                    )?,
                    FrameInfo::Data { lsn, len } => {
                        writeln!(out, "  {lsn:>12} data   {len} bytes")?
                    }
                }
            }
        }
    }
    Ok(())
}
