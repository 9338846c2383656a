//! Bytes on disk: the segment header and the record frame. Pure encoders and decoders.
//!
//! Segment file (`{first_lsn:016x}.wal`, `segment_size` bytes, preallocated and zero-filled or
//! recycled from a released segment):
//!
//! | offset | size | field                                           |
//! |-------:|-----:|-------------------------------------------------|
//! | 0      | 8    | magic `ORBITWAL`                                |
//! | 8      | 4    | format version (1), LE                          |
//! | 12     | 4    | reserved, zero                                  |
//! | 16     | 8    | log id (random at creation), LE                 |
//! | 24     | 8    | first LSN of the segment, LE                    |
//! | 32     | 8    | segment size in bytes, LE                       |
//! | 40     | 8    | creation time, Unix ms, LE                      |
//! | 48     | 4    | crc32c of bytes 0..48, LE                       |
//! | 52     | 4044 | zero                                            |
//! | 4096   | ...  | records, back to back; LSN = first LSN + (offset - 4096) |
//!
//! Record frame: `[len u32][crc u32][kind u8][payload; len]`, all LE, where `crc` is the crc32c
//! of `payload ‖ lsn u64 ‖ len u32 ‖ kind u8`. Because the LSN is covered, a stale record left
//! in a recycled segment (written at another LSN) never validates. Kind 0 never occurs, so a
//! zero-filled region reads as "no record".
//!
//! Each write group starts with a `GROUP` record whose 16-byte payload is
//! `[durable_lsn u64][unix_ms i64]`: every byte of the log before `durable_lsn` was durable
//! before this group was written. Recovery uses it to tell a torn tail from lost acknowledged
//! data, and restore uses the time to map a moment to an LSN.
#![deny(clippy::indexing_slicing)]

/// A log sequence number: the logical byte offset of a record in the log.
pub type Lsn = u64;

/// Size of the segment header; records start at this file offset.
pub const SEGMENT_HEADER_SIZE: u64 = 4096;
/// Bytes of the header covered by its checksum.
const HEADER_CRC_OFFSET: usize = 48;
/// Segment magic number.
pub const SEGMENT_MAGIC: [u8; 8] = *b"ORBITWAL";
/// Segment format version written by this code.
pub const FORMAT_VERSION: u32 = 1;

/// Size of a record frame's header.
pub const RECORD_HEADER_SIZE: u64 = 9;
/// A group record's payload: durable LSN and time.
pub const GROUP_PAYLOAD_SIZE: u64 = 16;
/// A whole group record frame.
pub const GROUP_FRAME_SIZE: u64 = RECORD_HEADER_SIZE + GROUP_PAYLOAD_SIZE;

const _: () = assert!(HEADER_CRC_OFFSET + 4 <= SEGMENT_HEADER_SIZE as usize);
const _: () = assert!(
    SEGMENT_HEADER_SIZE % 512 == 0,
    "records must start sector-aligned"
);

/// The kind byte of a record frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Starts a write group: durable watermark and time.
    Group = 1,
    /// A record appended by the log's user.
    Data = 2,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Group),
            2 => Some(Kind::Data),
            _ => None,
        }
    }
}

/// A decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Identity of the log this segment belongs to.
    pub log_id: u64,
    /// LSN of the first byte after the header.
    pub first_lsn: Lsn,
    /// Size of the segment file.
    pub segment_size: u64,
    /// When the segment was started.
    pub created_unix_ms: i64,
}

/// Why a header did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer bytes than a header.
    Short,
    /// Not an Orbit WAL segment.
    BadMagic,
    /// A version this code does not read.
    UnsupportedVersion(u32),
    /// The checksum does not match.
    BadChecksum,
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Short => write!(f, "segment header is truncated"),
            HeaderError::BadMagic => write!(f, "not an orbit wal segment (bad magic number)"),
            HeaderError::UnsupportedVersion(v) => write!(f, "unsupported wal format version {v}"),
            HeaderError::BadChecksum => write!(f, "segment header checksum mismatch"),
        }
    }
}

impl SegmentHeader {
    /// The header as the first `SEGMENT_HEADER_SIZE` bytes of a segment.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; SEGMENT_HEADER_SIZE as usize];
        let mut w = Writer {
            buf: &mut b,
            pos: 0,
        };
        w.put(&SEGMENT_MAGIC);
        w.put(&FORMAT_VERSION.to_le_bytes());
        w.put(&0u32.to_le_bytes());
        w.put(&self.log_id.to_le_bytes());
        w.put(&self.first_lsn.to_le_bytes());
        w.put(&self.segment_size.to_le_bytes());
        w.put(&self.created_unix_ms.to_le_bytes());
        let crc = crc32c::crc32c(b.get(..HEADER_CRC_OFFSET).unwrap_or_default());
        let mut w = Writer {
            buf: &mut b,
            pos: HEADER_CRC_OFFSET,
        };
        w.put(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a header.
    pub fn decode(b: &[u8]) -> Result<SegmentHeader, HeaderError> {
        let covered = b.get(..HEADER_CRC_OFFSET).ok_or(HeaderError::Short)?;
        if covered.get(..8) != Some(&SEGMENT_MAGIC[..]) {
            return Err(HeaderError::BadMagic);
        }
        let version = le_u32(b, 8).ok_or(HeaderError::Short)?;
        if version != FORMAT_VERSION {
            return Err(HeaderError::UnsupportedVersion(version));
        }
        let crc = le_u32(b, HEADER_CRC_OFFSET).ok_or(HeaderError::Short)?;
        if crc32c::crc32c(covered) != crc {
            return Err(HeaderError::BadChecksum);
        }
        Ok(SegmentHeader {
            log_id: le_u64(b, 16).ok_or(HeaderError::Short)?,
            first_lsn: le_u64(b, 24).ok_or(HeaderError::Short)?,
            segment_size: le_u64(b, 32).ok_or(HeaderError::Short)?,
            created_unix_ms: le_u64(b, 40).ok_or(HeaderError::Short)? as i64,
        })
    }
}

struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }
}

/// Reads a little-endian u32 at `at`, if in bounds.
pub fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(bytes))
}

/// Reads a little-endian u64 at `at`, if in bounds.
pub fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    let bytes: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// The checksum of a payload alone; the expensive part, computed by appenders in parallel.
pub fn payload_crc(payload: &[u8]) -> u32 {
    crc32c::crc32c(payload)
}

/// Completes a record checksum from the payload's checksum and the frame's fields.
pub fn record_crc(payload_crc: u32, lsn: Lsn, len: u32, kind: Kind) -> u32 {
    let mut tail = [0u8; 13];
    tail[..8].copy_from_slice(&lsn.to_le_bytes());
    tail[8..12].copy_from_slice(&len.to_le_bytes());
    tail[12] = kind as u8;
    crc32c::crc32c_append(payload_crc, &tail)
}

/// Appends a frame to `out`. `payload_crc` must be `payload_crc(payload)`.
pub fn encode_record(out: &mut Vec<u8>, lsn: Lsn, kind: Kind, payload: &[u8], payload_crc: u32) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&record_crc(payload_crc, lsn, len, kind).to_le_bytes());
    out.push(kind as u8);
    out.extend_from_slice(payload);
}

/// Appends a group frame to `out`.
pub fn encode_group(out: &mut Vec<u8>, lsn: Lsn, durable_lsn: Lsn, unix_ms: i64) {
    let mut payload = [0u8; GROUP_PAYLOAD_SIZE as usize];
    payload[..8].copy_from_slice(&durable_lsn.to_le_bytes());
    payload[8..].copy_from_slice(&unix_ms.to_le_bytes());
    encode_record(out, lsn, Kind::Group, &payload, payload_crc(&payload));
}

/// Total size of a frame carrying `payload_len` bytes.
pub const fn frame_size(payload_len: u64) -> u64 {
    RECORD_HEADER_SIZE + payload_len
}

/// A frame decoded from a buffer, borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A group record: `durable_lsn` and `unix_ms`.
    Group {
        /// Everything before this LSN was durable before the group was written.
        durable_lsn: Lsn,
        /// When the group was written.
        unix_ms: i64,
    },
    /// A user record.
    Data(&'a [u8]),
}

/// Decodes the frame at the start of `buf`, written at `lsn`. Returns the frame and its size,
/// or `None` if the bytes are not a valid frame for that LSN (end of log, torn or corrupt).
pub fn decode_record(buf: &[u8], lsn: Lsn) -> Option<(Frame<'_>, u64)> {
    let len = le_u32(buf, 0)?;
    let crc = le_u32(buf, 4)?;
    let kind = Kind::from_u8(*buf.get(8)?)?;
    let start = RECORD_HEADER_SIZE as usize;
    let payload = buf.get(start..start.checked_add(len as usize)?)?;
    if kind == Kind::Group && u64::from(len) != GROUP_PAYLOAD_SIZE {
        return None;
    }
    if record_crc(payload_crc(payload), lsn, len, kind) != crc {
        return None;
    }
    let frame = match kind {
        Kind::Group => Frame::Group {
            durable_lsn: le_u64(payload, 0)?,
            unix_ms: le_u64(payload, 8)? as i64,
        },
        Kind::Data => Frame::Data(payload),
    };
    Some((frame, frame_size(u64::from(len))))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index fixed buffers they built
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let h = SegmentHeader {
            log_id: 7,
            first_lsn: 1 << 40,
            segment_size: 1 << 26,
            created_unix_ms: -5,
        };
        let mut b = h.encode();
        assert_eq!(b.len() as u64, SEGMENT_HEADER_SIZE);
        assert_eq!(SegmentHeader::decode(&b), Ok(h));
        b[30] ^= 1;
        assert_eq!(SegmentHeader::decode(&b), Err(HeaderError::BadChecksum));
        b[0] = b'X';
        assert_eq!(SegmentHeader::decode(&b), Err(HeaderError::BadMagic));
        assert_eq!(SegmentHeader::decode(&b[..10]), Err(HeaderError::Short));
        let mut v2 = h.encode();
        v2[8] = 2;
        assert_eq!(
            SegmentHeader::decode(&v2),
            Err(HeaderError::UnsupportedVersion(2))
        );
    }

    #[test]
    fn zeroes_are_not_a_record() {
        assert_eq!(decode_record(&[0u8; 64], 0), None);
        assert_eq!(decode_record(&[], 0), None);
    }

    #[test]
    fn a_record_is_bound_to_its_lsn() {
        let mut out = Vec::new();
        encode_record(&mut out, 100, Kind::Data, b"abc", payload_crc(b"abc"));
        assert_eq!(decode_record(&out, 100), Some((Frame::Data(b"abc"), 12)));
        assert_eq!(
            decode_record(&out, 101),
            None,
            "a stale record at another LSN must not validate"
        );
    }

    #[test]
    fn group_frames_carry_watermark_and_time() {
        let mut out = Vec::new();
        encode_group(&mut out, 9, 4, 1234);
        assert_eq!(out.len() as u64, GROUP_FRAME_SIZE);
        assert_eq!(
            decode_record(&out, 9),
            Some((
                Frame::Group {
                    durable_lsn: 4,
                    unix_ms: 1234
                },
                GROUP_FRAME_SIZE
            ))
        );
    }

    proptest! {
        #[test]
        fn records_round_trip(payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..20), base in 0u64..1<<50) {
            let mut out = Vec::new();
            let mut lsn = base;
            let mut lsns = Vec::new();
            for p in &payloads {
                lsns.push(lsn);
                encode_record(&mut out, lsn, Kind::Data, p, payload_crc(p));
                lsn += frame_size(p.len() as u64);
            }
            let mut pos = 0usize;
            for (p, l) in payloads.iter().zip(lsns) {
                let (frame, size) = decode_record(&out[pos..], l).unwrap();
                prop_assert_eq!(frame, Frame::Data(p));
                pos += size as usize;
            }
            prop_assert_eq!(pos, out.len());
        }

        #[test]
        fn any_single_bit_flip_is_detected(payload in proptest::collection::vec(any::<u8>(), 0..200), bit in any::<prop::sample::Index>()) {
            let mut out = Vec::new();
            encode_record(&mut out, 42, Kind::Data, &payload, payload_crc(&payload));
            let i = bit.index(out.len() * 8);
            out[i / 8] ^= 1 << (i % 8);
            // A flipped length may still frame a prefix, but it must never decode as the original.
            if let Some((frame, _)) = decode_record(&out, 42) {
                prop_assert_ne!(frame, Frame::Data(&payload));
            }
        }
    }
}
