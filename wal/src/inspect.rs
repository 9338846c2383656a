//! A frame-by-frame dump of a segment file for `orbit inspect wal`: unlike replay it shows group
//! frames, and where and why the segment stops validating.
#![deny(clippy::indexing_slicing)]

use std::path::Path;

use orbit_env::{FileSystem, OpenMode};

use crate::format::{decode_record, Frame, Lsn, SegmentHeader, SEGMENT_HEADER_SIZE};
use crate::segment::read_header;
use crate::Result;

/// One frame of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameInfo {
    /// A group frame.
    Group {
        /// Where it starts.
        lsn: Lsn,
        /// Everything before this was durable before the group was written.
        durable_lsn: Lsn,
        /// When the group was written (Unix ms).
        unix_ms: i64,
    },
    /// A data record.
    Data {
        /// Where it starts.
        lsn: Lsn,
        /// Payload length.
        len: usize,
    },
}

/// What a segment file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentDump {
    /// The decoded header.
    pub header: SegmentHeader,
    /// Every valid frame from the start, in order.
    pub frames: Vec<FrameInfo>,
    /// LSN just past the last valid frame.
    pub end_lsn: Lsn,
    /// File offset where frames stop validating, if before the end of the file.
    pub stop_offset: Option<u64>,
    /// Whether everything from `stop_offset` to the end of the file is zero (unused space, as
    /// opposed to stale, torn or damaged bytes).
    pub zero_after_stop: bool,
}

/// Reads every valid frame of the segment at `path`.
pub fn inspect_segment(fs: &dyn FileSystem, path: &Path) -> Result<SegmentDump> {
    let file = fs.open(path, OpenMode::Read)?;
    let header = read_header(file.as_ref())?;
    let len = file.len()?.saturating_sub(SEGMENT_HEADER_SIZE);
    let mut body = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
    file.read_exact_at(&mut body, SEGMENT_HEADER_SIZE)?;
    let mut frames = Vec::new();
    let mut off = 0usize;
    loop {
        let lsn = header.first_lsn + off as u64;
        let Some((frame, size)) = decode_record(body.get(off..).unwrap_or_default(), lsn) else {
            break;
        };
        frames.push(match frame {
            Frame::Group {
                durable_lsn,
                unix_ms,
            } => FrameInfo::Group {
                lsn,
                durable_lsn,
                unix_ms,
            },
            Frame::Data(p) => FrameInfo::Data { lsn, len: p.len() },
        });
        off += size as usize;
    }
    let stop_offset = (off < body.len()).then_some(SEGMENT_HEADER_SIZE + off as u64);
    let zero_after_stop = body.get(off..).unwrap_or_default().iter().all(|&b| b == 0);
    Ok(SegmentDump {
        header,
        frames,
        end_lsn: header.first_lsn + off as u64,
        stop_offset,
        zero_after_stop,
    })
}
