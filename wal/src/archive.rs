//! The segment archive: each closed segment copied, zstd-compressed and checksummed, into a
//! directory, named `{log_id:016x}-{first_lsn:016x}-{end_lsn:016x}.walz`. Point-in-time restore
//! replays it. The log id is the timeline: a restored database starts a new log with a new id,
//! so its segments never mix with the history it was restored from, even in one directory.
//!
//! | offset | size | field                                          |
//! |-------:|-----:|------------------------------------------------|
//! | 0      | 8    | magic `ORBWARCH`                               |
//! | 8      | 4    | format version (1), LE                         |
//! | 12     | 4    | reserved, zero                                 |
//! | 16     | 8    | log id, LE                                     |
//! | 24     | 8    | first LSN, LE                                  |
//! | 32     | 8    | end LSN (exclusive), LE                        |
//! | 40     | 8    | raw length (segment header + records), LE      |
//! | 48     | 8    | compressed length, LE                          |
//! | 56     | 4    | crc32c of the compressed bytes, LE             |
//! | 60     | 4    | crc32c of bytes 0..60, LE                      |
//! | 64     | ...  | zstd frame of the segment's bytes up to its end |
//!
//! An archive file is written under a temporary name, synced, renamed and the directory synced,
//! so a visible archive file is always complete.
#![deny(clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use orbit_env::{FileSystem, OpenMode};

use crate::format::{le_u32, le_u64, Lsn, SEGMENT_HEADER_SIZE};
use crate::segment::{Record, SegmentCursor};
use crate::{Error, Result};

const ARCHIVE_MAGIC: [u8; 8] = *b"ORBWARCH";
const ARCHIVE_VERSION: u32 = 1;
const ARCHIVE_HEADER_SIZE: usize = 64;
const ZSTD_LEVEL: i32 = 3;

/// The archive file name of the segment `[first, end)` of the log `log_id`.
pub fn archive_name(log_id: u64, first: Lsn, end: Lsn) -> String {
    format!("{log_id:016x}-{first:016x}-{end:016x}.walz")
}

/// `(log_id, first, end)` of an archive file name.
pub fn parse_archive_name(name: &str) -> Option<(u64, Lsn, Lsn)> {
    let stem = name.strip_suffix(".walz")?;
    let mut parts = stem.split('-');
    let mut next = || {
        parts
            .next()
            .filter(|p| p.len() == 16)
            .and_then(|p| u64::from_str_radix(p, 16).ok())
    };
    let (log_id, first, end) = (next()?, next()?, next()?);
    (parts.next().is_none() && first <= end).then_some((log_id, first, end))
}

/// Copies the closed segment `[first, end)` at `segment` into `dir`. Idempotent.
pub(crate) fn archive_segment(
    fs: &dyn FileSystem,
    segment: &Path,
    first: Lsn,
    end: Lsn,
    log_id: u64,
    dir: &Path,
) -> Result<PathBuf> {
    fs.create_dir_all(dir)?;
    let target = dir.join(archive_name(log_id, first, end));
    if fs.exists(&target)? {
        return Ok(target);
    }
    let raw_len = SEGMENT_HEADER_SIZE + (end - first);
    let mut raw = vec![0u8; usize::try_from(raw_len).unwrap_or(usize::MAX)];
    let file = fs.open(segment, OpenMode::Read)?;
    file.read_exact_at(&mut raw, 0)?;
    let compressed = zstd::bulk::compress(&raw, ZSTD_LEVEL)
        .map_err(|e| Error::Env(orbit_env::Error::io("compress", segment, e)))?;
    let mut out = Vec::with_capacity(ARCHIVE_HEADER_SIZE + compressed.len());
    out.extend_from_slice(&ARCHIVE_MAGIC);
    out.extend_from_slice(&ARCHIVE_VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for v in [log_id, first, end, raw_len, compressed.len() as u64] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&crc32c::crc32c(&compressed).to_le_bytes());
    let header_crc = crc32c::crc32c(out.get(..60).unwrap_or_default());
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&compressed);

    let tmp = dir.join(format!("{}.tmp", archive_name(log_id, first, end)));
    let _ = fs.remove_file(&tmp);
    let f = fs.open(&tmp, OpenMode::CreateNew)?;
    f.write_all_at(&out, 0)?;
    f.sync_all()?;
    fs.rename(&tmp, &target)?;
    fs.sync_dir(dir)?;
    Ok(target)
}

/// What a verified archive holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// Archive files.
    pub files: usize,
    /// The log the archive belongs to.
    pub log_id: u64,
    /// First LSN held.
    pub first_lsn: Lsn,
    /// End of the archived log (exclusive).
    pub end_lsn: Lsn,
    /// Data records read (those at or after the `from` LSN, up to where reading stopped).
    pub records: u64,
    /// Time of the last write group read (Unix ms), if any record was read.
    pub last_unix_ms: Option<i64>,
    /// Whether the callback stopped the reading before the archive's end.
    pub stopped: bool,
}

/// One archived segment, checked and decompressed.
struct ArchivedSegment {
    log_id: u64,
    first: Lsn,
    end: Lsn,
    raw: Vec<u8>,
}

fn read_archived(fs: &dyn FileSystem, path: &Path) -> Result<ArchivedSegment> {
    let bad = |offset: u64, reason: &str| Error::corruption(path, offset, reason.to_string());
    let file = fs.open(path, OpenMode::Read)?;
    let len = file.len()?;
    let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
    file.read_exact_at(&mut bytes, 0)?;
    let header = bytes
        .get(..ARCHIVE_HEADER_SIZE)
        .ok_or_else(|| bad(0, "archive file is truncated"))?;
    if header.get(..8) != Some(&ARCHIVE_MAGIC[..]) {
        return Err(bad(0, "not an orbit wal archive file (bad magic number)"));
    }
    if le_u32(header, 60) != Some(crc32c::crc32c(header.get(..60).unwrap_or_default())) {
        return Err(bad(0, "archive header checksum mismatch"));
    }
    if le_u32(header, 8) != Some(ARCHIVE_VERSION) {
        return Err(bad(8, "unsupported archive format version"));
    }
    let field =
        |at: usize| le_u64(header, at).ok_or_else(|| bad(at as u64, "archive header is truncated"));
    let (log_id, first, end, raw_len, clen) =
        (field(16)?, field(24)?, field(32)?, field(40)?, field(48)?);
    let compressed = bytes
        .get(ARCHIVE_HEADER_SIZE..)
        .filter(|c| c.len() as u64 == clen)
        .ok_or_else(|| {
            bad(
                ARCHIVE_HEADER_SIZE as u64,
                "archive body length does not match its header",
            )
        })?;
    if le_u32(header, 56) != Some(crc32c::crc32c(compressed)) {
        return Err(bad(
            ARCHIVE_HEADER_SIZE as u64,
            "archive body checksum mismatch",
        ));
    }
    let raw = zstd::bulk::decompress(compressed, usize::try_from(raw_len).unwrap_or(usize::MAX))
        .map_err(|e| {
            bad(
                ARCHIVE_HEADER_SIZE as u64,
                &format!("archive body does not decompress: {e}"),
            )
        })?;
    if raw.len() as u64 != raw_len
        || Some(raw_len) != end.checked_sub(first).map(|n| n + SEGMENT_HEADER_SIZE)
    {
        return Err(bad(40, "archive length does not match its lsn range"));
    }
    Ok(ArchivedSegment {
        log_id,
        first,
        end,
        raw,
    })
}

/// The log ids (timelines) with files in an archive directory, in ascending order.
pub fn archive_timelines(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<u64>> {
    let mut ids: Vec<u64> = fs
        .list_dir(dir)?
        .iter()
        .filter_map(|n| parse_archive_name(n).map(|(id, _, _)| id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Reads the archived segments of one log, in LSN order: checks every file it reads
/// (checksums, decompression, every record, an unbroken LSN chain, one log id) and calls
/// `each` with every data record at or after `from` until `each` returns `false`.
///
/// `log_id` picks the timeline; `None` requires the directory to hold exactly one. Files
/// that end at or before `from` are skipped unread; the first file read must start at or
/// before `from`, or the chain has a gap.
pub fn read_archive(
    fs: &dyn FileSystem,
    dir: &Path,
    log_id: Option<u64>,
    from: Lsn,
    mut each: impl FnMut(Record) -> bool,
) -> Result<ArchiveSummary> {
    let log_id = match log_id {
        Some(id) => id,
        None => match archive_timelines(fs, dir)?.as_slice() {
            [] => {
                return Err(Error::corruption(
                    dir,
                    0,
                    "archive directory holds no wal segments",
                ))
            }
            [one] => *one,
            many => {
                let ids: Vec<String> = many.iter().map(|id| format!("{id:016x}")).collect();
                return Err(Error::InvalidConfig(format!(
                    "archive \"{}\" holds several timelines ({}); name one",
                    dir.display(),
                    ids.join(", ")
                )));
            }
        },
    };
    let mut names: Vec<(Lsn, Lsn, String)> = fs
        .list_dir(dir)?
        .into_iter()
        .filter_map(|n| match parse_archive_name(&n) {
            Some((id, a, b)) if id == log_id => Some((a, b, n)),
            _ => None,
        })
        .collect();
    names.sort();
    let Some(archive_first) = names.first().map(|(a, _, _)| *a) else {
        return Err(Error::corruption(
            dir,
            0,
            format!("archive holds no wal segments of log {log_id:016x}"),
        ));
    };
    let mut summary = ArchiveSummary {
        files: 0,
        log_id,
        first_lsn: archive_first,
        end_lsn: archive_first,
        records: 0,
        last_unix_ms: None,
        stopped: false,
    };
    let mut read_any = false;
    for (first, end, name) in names {
        let path = dir.join(&name);
        if summary.files > 0 && summary.end_lsn != first {
            return Err(Error::corruption(
                &path,
                0,
                format!(
                    "gap in the archived wal: the previous segment ends at lsn {}, this one starts at {first}",
                    summary.end_lsn
                ),
            ));
        }
        summary.files += 1;
        summary.end_lsn = end;
        if end <= from {
            continue;
        }
        if !read_any && first > from {
            return Err(Error::corruption(
                &path,
                0,
                format!("gap in the archived wal: lsn {from} is needed but the archive starts at {first}"),
            ));
        }
        read_any = true;
        if summary.stopped {
            continue;
        }
        let seg = read_archived(fs, &path)?;
        if (seg.log_id, seg.first, seg.end) != (log_id, first, end) {
            return Err(Error::corruption(
                &path,
                16,
                "archive header does not match its file name",
            ));
        }
        // Re-validate every record through the segment cursor, in a simulated file.
        let mem = orbit_env::SimFs::new();
        let mem_path = Path::new("/segment");
        mem.open(mem_path, OpenMode::CreateNew)?
            .write_all_at(&seg.raw, 0)?;
        let mut cursor =
            SegmentCursor::load(&mem, mem_path, Some(seg.end)).map_err(|e| relabel(e, &path))?;
        if cursor.header().first_lsn != first || cursor.header().log_id != seg.log_id {
            return Err(Error::corruption(
                &path,
                0,
                "archived segment header does not match the archive header",
            ));
        }
        while let Some(r) = cursor.next_record().map_err(|e| relabel(e, &path))? {
            if summary.stopped || r.lsn < from {
                continue;
            }
            summary.records += 1;
            summary.last_unix_ms = Some(r.unix_ms);
            if !each(r) {
                summary.stopped = true;
            }
        }
    }
    Ok(summary)
}

/// Checks every archived segment of one log ([`read_archive`] from the start, without
/// looking at the records).
pub fn verify_archive(
    fs: &dyn FileSystem,
    dir: &Path,
    log_id: Option<u64>,
) -> Result<ArchiveSummary> {
    read_archive(fs, dir, log_id, 0, |_| true)
}

/// Names the archive file instead of the in-memory copy in a corruption error.
fn relabel(e: Error, path: &Path) -> Error {
    match e {
        Error::Corruption { offset, reason, .. } => Error::Corruption {
            segment: path.to_path_buf(),
            offset,
            reason,
        },
        other => other,
    }
}
