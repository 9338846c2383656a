//! Table-level framing: block handles, the block trailer (compression type and checksum),
//! the properties block and the footer. Layout in `lsm/FORMAT.md`.
#![deny(clippy::indexing_slicing)]

use std::cell::RefCell;
use std::path::Path;

use orbit_env::File;

use crate::coding::{get_u32, get_u64, put_length_prefixed, put_varint, Reader};
use crate::range_del::RangeTombstone;
use crate::{Error, Result};

/// Footer size, at the very end of the file.
pub const FOOTER_LEN: usize = 64;
/// `ORBITSST`.
pub const MAGIC: [u8; 8] = *b"ORBITSST";
/// Format version written by this code.
pub const VERSION: u32 = 2;
/// The oldest format version still read (version 1 has no range tombstones).
pub const MIN_VERSION: u32 = 1;
/// Block trailer: compression type u8 ‖ crc32c u32 of (payload ‖ type).
pub const BLOCK_TRAILER_LEN: usize = 5;
/// Largest block accepted: a block holds at least one whole entry, so this is above the
/// longest value (`MAX_VALUE_LEN`) plus the longest key and a block's worth of smaller
/// entries before it. (It was 64 MiB while values were unbounded: a 70 MB Redis string
/// made a table that could not be read back.) A damaged handle is refused before anything
/// is allocated for it: see `read_block`.
pub const MAX_BLOCK_LEN: usize = crate::db::MAX_VALUE_LEN + (16 << 20);
/// Blocks up to this size are read without first checking the file's length.
const SMALL_BLOCK_LEN: usize = 64 << 20;

const _: () = assert!(3 * 16 + 4 + 4 + MAGIC.len() == FOOTER_LEN);

/// How a block's payload is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Compression {
    /// Stored as is.
    None = 0,
    /// A zstd frame.
    Zstd = 1,
}

/// Where a block lies in the file: its payload (the trailer follows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockHandle {
    /// Offset of the payload.
    pub offset: u64,
    /// Length of the payload, trailer excluded.
    pub size: u64,
}

impl BlockHandle {
    /// As an index-block value: two varints.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(10);
        put_varint(&mut out, self.offset);
        put_varint(&mut out, self.size);
        out
    }

    /// From an index-block value.
    pub fn decode(b: &[u8]) -> Option<BlockHandle> {
        let mut r = Reader::new(b);
        Some(BlockHandle {
            offset: r.varint()?,
            size: r.varint()?,
        })
    }
}

thread_local! {
    // Creating a zstd context costs more than compressing a 4 KiB block: keep one per thread.
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn compress(raw: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().map(|(l, _)| *l) != Some(level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        match slot.as_mut() {
            Some((_, c)) => c.compress(raw),
            None => zstd::bulk::compress(raw, level),
        }
    })
}

/// Decompresses a frame whose content size (from its header) is `size`.
fn decompress(frame: &[u8], size: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        match slot.as_mut() {
            Some(d) => d.decompress(frame, size),
            None => zstd::bulk::decompress(frame, size),
        }
    })
}

/// Frames a block: compresses it when that saves at least 1/8, appends the trailer.
/// Returns the bytes to write and the payload length.
pub fn frame_block(raw: &[u8], zstd_level: Option<i32>) -> Result<(Vec<u8>, u64)> {
    let mut out = match zstd_level {
        Some(level) => {
            let c = compress(raw, level).map_err(Error::Compression)?;
            if c.len() < raw.len() - raw.len() / 8 {
                let mut c = c;
                c.push(Compression::Zstd as u8);
                c
            } else {
                [raw, &[Compression::None as u8]].concat()
            }
        }
        None => [raw, &[Compression::None as u8]].concat(),
    };
    let payload = out.len() as u64 - 1;
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok((out, payload))
}

/// Reads, verifies and decompresses the block at `handle`.
pub fn read_block(file: &dyn File, path: &Path, handle: BlockHandle) -> Result<Vec<u8>> {
    let bad = |reason: &str| Error::corruption(path, handle.offset, reason.to_string());
    let len = usize::try_from(handle.size)
        .ok()
        .filter(|&n| n <= MAX_BLOCK_LEN)
        .ok_or_else(|| bad("block handle larger than any block"))?;
    // A large block is checked against the file's length before its buffer is allocated (a
    // damaged handle must not allocate a gigabyte); a small one just fails its read.
    if len > SMALL_BLOCK_LEN {
        let end = handle
            .offset
            .checked_add(handle.size + BLOCK_TRAILER_LEN as u64);
        if end.is_none_or(|end| end > file.len().unwrap_or(0)) {
            return Err(bad("block extends past the end of the file"));
        }
    }
    let mut buf = vec![0u8; len + BLOCK_TRAILER_LEN];
    file.read_exact_at(&mut buf, handle.offset)
        .map_err(|_| bad("block extends past the end of the file"))?;
    let crc = get_u32(&buf, len + 1).ok_or_else(|| bad("block trailer truncated"))?;
    let covered = buf
        .get(..=len)
        .ok_or_else(|| bad("block trailer truncated"))?;
    if crc32c::crc32c(covered) != crc {
        return Err(bad("block checksum mismatch"));
    }
    let kind = buf.get(len).copied().unwrap_or(u8::MAX);
    buf.truncate(len);
    match kind {
        k if k == Compression::None as u8 => Ok(buf),
        k if k == Compression::Zstd as u8 => {
            // Size the output from the frame header: never a worst-case allocation per block.
            let size = zstd::zstd_safe::get_frame_content_size(&buf)
                .ok()
                .flatten()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n <= MAX_BLOCK_LEN)
                .ok_or_else(|| bad("compressed block has no valid content size"))?;
            decompress(&buf, size).map_err(|e| bad(&format!("block does not decompress: {e}")))
        }
        _ => Err(bad("unknown block compression type")),
    }
}

/// Summary of a table, stored in its properties block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties {
    /// Entries (puts and deletes).
    pub entries: u64,
    /// Delete entries.
    pub deletions: u64,
    /// Data blocks.
    pub data_blocks: u64,
    /// Sum of internal key lengths.
    pub raw_key_bytes: u64,
    /// Sum of value lengths.
    pub raw_value_bytes: u64,
    /// Bytes of framed data blocks.
    pub data_bytes: u64,
    /// Smallest and largest sequence numbers.
    pub seq_range: (u64, u64),
    /// Smallest internal key.
    pub smallest: Vec<u8>,
    /// Largest internal key.
    pub largest: Vec<u8>,
    /// Range tombstones, within the table's key range (format version 2).
    pub range_dels: Vec<RangeTombstone>,
}

impl Properties {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for v in [
            self.entries,
            self.deletions,
            self.data_blocks,
            self.raw_key_bytes,
            self.raw_value_bytes,
            self.data_bytes,
            self.seq_range.0,
            self.seq_range.1,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        put_length_prefixed(&mut out, &self.smallest);
        put_length_prefixed(&mut out, &self.largest);
        put_varint(&mut out, self.range_dels.len() as u64);
        for t in &self.range_dels {
            t.encode_into(&mut out);
        }
        out
    }

    pub(crate) fn decode(b: &[u8]) -> Option<Properties> {
        let mut r = Reader::new(b);
        let mut p = Properties {
            entries: r.u64()?,
            deletions: r.u64()?,
            data_blocks: r.u64()?,
            raw_key_bytes: r.u64()?,
            raw_value_bytes: r.u64()?,
            data_bytes: r.u64()?,
            seq_range: (r.u64()?, r.u64()?),
            smallest: r.length_prefixed()?.to_vec(),
            largest: r.length_prefixed()?.to_vec(),
            range_dels: Vec::new(),
        };
        if !r.is_empty() {
            let n = r.varint()?;
            for _ in 0..n {
                p.range_dels.push(RangeTombstone::decode_from(&mut r)?);
            }
        }
        r.is_empty().then_some(p)
    }
}

/// The footer: where the index, filter and properties blocks are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// The index block.
    pub index: BlockHandle,
    /// The filter block.
    pub filter: BlockHandle,
    /// The properties block.
    pub properties: BlockHandle,
}

impl Footer {
    pub(crate) fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut out = [0u8; FOOTER_LEN];
        let mut fields = Vec::with_capacity(FOOTER_LEN);
        for h in [self.index, self.filter, self.properties] {
            fields.extend_from_slice(&h.offset.to_le_bytes());
            fields.extend_from_slice(&h.size.to_le_bytes());
        }
        fields.extend_from_slice(&VERSION.to_le_bytes());
        let crc = crc32c::crc32c(&fields);
        fields.extend_from_slice(&crc.to_le_bytes());
        fields.extend_from_slice(&MAGIC);
        out.copy_from_slice(&fields);
        out
    }

    pub(crate) fn decode(b: &[u8], path: &Path, at: u64) -> Result<Footer> {
        let bad = |reason: &str| Error::corruption(path, at, reason.to_string());
        if b.get(56..64) != Some(&MAGIC[..]) {
            return Err(bad("not an orbit sstable (bad magic number)"));
        }
        let crc = get_u32(b, 52).ok_or_else(|| bad("footer truncated"))?;
        if crc32c::crc32c(b.get(..52).unwrap_or_default()) != crc {
            return Err(bad("footer checksum mismatch"));
        }
        let version = get_u32(b, 48).ok_or_else(|| bad("footer truncated"))?;
        if !(MIN_VERSION..=VERSION).contains(&version) {
            return Err(bad(&format!(
                "unsupported sstable format version {version}"
            )));
        }
        let handle = |at: usize| -> Result<BlockHandle> {
            Ok(BlockHandle {
                offset: get_u64(b, at).ok_or_else(|| bad("footer truncated"))?,
                size: get_u64(b, at + 8).ok_or_else(|| bad("footer truncated"))?,
            })
        };
        Ok(Footer {
            index: handle(0)?,
            filter: handle(16)?,
            properties: handle(32)?,
        })
    }
}
