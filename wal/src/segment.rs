//! Segment files: names, headers on disk, and the cursor that walks a segment's frames.
//!
//! A closed segment ends exactly where its successor begins; any frame that fails before that
//! point is corruption. Only the newest segment has an unknown end: its cursor runs in *tail*
//! mode, stopping at the first invalid frame, and then asks whether any valid group frame past
//! that point vouches for data beyond it (a `durable_lsn` greater than the stop point). If one
//! does, acknowledged data was damaged and recovery refuses to truncate it.
#![deny(clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use orbit_env::{File, FileSystem, OpenMode};

use crate::format::{
    decode_record, le_u32, Frame, Lsn, SegmentHeader, GROUP_PAYLOAD_SIZE, RECORD_HEADER_SIZE,
    SEGMENT_HEADER_SIZE,
};
use crate::{Error, Result};

/// The file name of the segment starting at `first_lsn`.
pub(crate) fn segment_name(first_lsn: Lsn) -> String {
    format!("{first_lsn:016x}.wal")
}

/// The first LSN named by a segment file name.
pub(crate) fn parse_segment_name(name: &str) -> Option<Lsn> {
    let hex = name.strip_suffix(".wal")?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// The file name of a prepared spare segment.
pub(crate) fn spare_name(id: u64) -> String {
    format!("spare-{id:06}.wal")
}

/// The id of a spare's file name.
pub(crate) fn parse_spare_name(name: &str) -> Option<u64> {
    name.strip_prefix("spare-")?
        .strip_suffix(".wal")?
        .parse()
        .ok()
}

/// Reads and checks a segment's header.
pub(crate) fn read_header(file: &dyn File) -> Result<SegmentHeader> {
    let mut buf = vec![0u8; SEGMENT_HEADER_SIZE as usize];
    file.read_exact_at(&mut buf, 0)
        .map_err(|_| Error::corruption(file.path(), 0, "segment is shorter than its header"))?;
    SegmentHeader::decode(&buf).map_err(|e| Error::corruption(file.path(), 0, e.to_string()))
}

/// A record read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Where the record starts.
    pub lsn: Lsn,
    /// Time of the write group that carried it (Unix ms).
    pub unix_ms: i64,
    /// The bytes given to `append`.
    pub payload: Vec<u8>,
}

impl Record {
    /// The LSN just past this record.
    pub fn end_lsn(&self) -> Lsn {
        self.lsn + RECORD_HEADER_SIZE + self.payload.len() as u64
    }
}

/// Walks the frames of one segment held in memory.
pub(crate) struct SegmentCursor {
    path: PathBuf,
    header: SegmentHeader,
    /// Bytes after the header.
    body: Vec<u8>,
    /// Offset in `body` of the next frame.
    off: usize,
    /// `Some(end)` for a closed segment; `None` for the newest one (tail mode).
    limit: Option<Lsn>,
    unix_ms: i64,
    done: bool,
}

impl SegmentCursor {
    /// Loads a segment. For a closed segment (`limit = Some(end)`) only the bytes up to `end`.
    pub(crate) fn load(
        fs: &dyn FileSystem,
        path: &Path,
        limit: Option<Lsn>,
    ) -> Result<SegmentCursor> {
        let file = fs.open(path, OpenMode::Read)?;
        let header = read_header(file.as_ref())?;
        let body_len = match limit {
            Some(end) => {
                let len = end.checked_sub(header.first_lsn).ok_or_else(|| {
                    Error::corruption(path, 0, format!("segment starts after its end lsn {end}"))
                })?;
                if SEGMENT_HEADER_SIZE + len > header.segment_size {
                    return Err(Error::corruption(
                        path,
                        0,
                        "segment is shorter than the log it must hold",
                    ));
                }
                len
            }
            None => file.len()?.saturating_sub(SEGMENT_HEADER_SIZE),
        };
        let mut body = vec![0u8; usize::try_from(body_len).unwrap_or(usize::MAX)];
        file.read_exact_at(&mut body, SEGMENT_HEADER_SIZE)
            .map_err(|_| {
                Error::corruption(
                    path,
                    SEGMENT_HEADER_SIZE,
                    "segment file is shorter than the log it must hold",
                )
            })?;
        Ok(SegmentCursor {
            path: path.to_path_buf(),
            header,
            body,
            off: 0,
            limit,
            unix_ms: 0,
            done: false,
        })
    }

    pub(crate) fn header(&self) -> &SegmentHeader {
        &self.header
    }

    /// The LSN of the next frame (after exhaustion: the end of the segment's log).
    pub(crate) fn lsn(&self) -> Lsn {
        self.header.first_lsn + self.off as u64
    }

    fn file_offset(&self) -> u64 {
        SEGMENT_HEADER_SIZE + self.off as u64
    }

    /// The next data record, or `None` at the end of the segment.
    pub(crate) fn next_record(&mut self) -> Result<Option<Record>> {
        while !self.done {
            let lsn = self.lsn();
            if self.limit == Some(lsn) {
                self.done = true;
                break;
            }
            let rest = self.body.get(self.off..).unwrap_or_default();
            let Some((frame, size)) = decode_record(rest, lsn) else {
                self.done = true;
                if self.limit.is_some() {
                    return Err(Error::corruption(
                        &self.path,
                        self.file_offset(),
                        "invalid record before the end of a closed segment",
                    ));
                }
                self.check_torn_tail()?;
                break;
            };
            if let Some(end) = self.limit {
                if lsn + size > end {
                    return Err(Error::corruption(
                        &self.path,
                        self.file_offset(),
                        "record crosses the segment's end",
                    ));
                }
            }
            self.off += size as usize;
            match frame {
                Frame::Group { unix_ms, .. } => self.unix_ms = unix_ms,
                Frame::Data(payload) => {
                    return Ok(Some(Record {
                        lsn,
                        unix_ms: self.unix_ms,
                        payload: payload.to_vec(),
                    }));
                }
            }
        }
        Ok(None)
    }

    /// Called where the newest segment stops validating. Scans the bytes after that point for a
    /// valid group frame claiming that data at or past the stop point was durable: if there is
    /// one, the stop is damage to acknowledged data, not a torn tail.
    fn check_torn_tail(&self) -> Result<()> {
        let stop = self.lsn();
        let group_len = GROUP_PAYLOAD_SIZE as u32;
        let mut at = self.off + 1;
        while at + (RECORD_HEADER_SIZE + GROUP_PAYLOAD_SIZE) as usize <= self.body.len() {
            // Cheap filter first: a group frame has a fixed length and kind.
            if le_u32(&self.body, at) == Some(group_len) && self.body.get(at + 8) == Some(&1) {
                let lsn = self.header.first_lsn + at as u64;
                if let Some((Frame::Group { durable_lsn, .. }, _)) =
                    decode_record(self.body.get(at..).unwrap_or_default(), lsn)
                {
                    if durable_lsn > stop {
                        return Err(Error::corruption(
                            &self.path,
                            self.file_offset(),
                            format!("damaged record in data that a later write group marks durable up to lsn {durable_lsn}"),
                        ));
                    }
                }
            }
            at += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_segment_name(&segment_name(0xabc)), Some(0xabc));
        assert_eq!(parse_segment_name("0000000000000abc.tmp"), None);
        assert_eq!(parse_segment_name("abc.wal"), None);
        assert_eq!(parse_spare_name(&spare_name(12)), Some(12));
        assert_eq!(parse_spare_name(&segment_name(12)), None);
    }
}
