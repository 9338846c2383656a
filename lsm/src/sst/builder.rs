//! Writes a table: entries in increasing internal-key order, then filter, properties, index
//! and footer. Nothing here syncs: the caller (flush, compaction) syncs the file and its
//! directory before the table becomes part of a version.

use std::cmp::Ordering;
use std::sync::Arc;

use orbit_env::File;

use super::block::BlockBuilder;
use super::bloom::BloomBuilder;
use super::format::{frame_block, BlockHandle, Footer, Properties};
use crate::key::{self, ValueKind, MAX_SEQ};
use crate::range_del::RangeTombstone;
use crate::{Error, Result};

/// Bytes buffered before a write to the file.
const WRITE_BUFFER: usize = 256 << 10;

/// How tables are built.
#[derive(Debug, Clone)]
pub struct TableOptions {
    /// Target size of a data block before compression.
    pub block_size: usize,
    /// zstd level for data blocks; `None` stores them uncompressed.
    pub zstd_level: Option<i32>,
    /// Bloom filter bits per distinct user key.
    pub bloom_bits_per_key: usize,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            block_size: 16 << 10,
            zstd_level: Some(1),
            bloom_bits_per_key: 10,
        }
    }
}

/// What `finish` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// File size.
    pub size: u64,
    /// The properties written.
    pub properties: Properties,
}

/// Builds one table file.
pub struct TableBuilder {
    file: Arc<dyn File>,
    opts: TableOptions,
    out: Vec<u8>,
    written: u64,
    data: BlockBuilder,
    index: BlockBuilder,
    bloom: BloomBuilder,
    last_key: Vec<u8>,
    props: Properties,
}

impl TableBuilder {
    /// A builder writing to `file` (empty, opened for writing) from offset 0.
    pub fn new(file: Arc<dyn File>, opts: TableOptions) -> TableBuilder {
        TableBuilder {
            file,
            opts,
            out: Vec::with_capacity(WRITE_BUFFER),
            written: 0,
            data: BlockBuilder::default(),
            index: BlockBuilder::default(),
            bloom: BloomBuilder::default(),
            last_key: Vec::new(),
            props: Properties {
                seq_range: (u64::MAX, 0),
                ..Properties::default()
            },
        }
    }

    /// Adds an entry. Internal keys must strictly increase.
    pub fn add(&mut self, ikey: &[u8], value: &[u8]) -> Result<()> {
        let Some((user, seq, kind)) = key::split(ikey) else {
            return Err(Error::KeysOutOfOrder);
        };
        if self.props.entries > 0 && key::compare(&self.last_key, ikey) != Ordering::Less {
            return Err(Error::KeysOutOfOrder);
        }
        if self.props.entries == 0 || key::user_key(&self.last_key) != user {
            self.bloom.add(user);
        }
        if self.props.entries == 0 {
            self.props.smallest = ikey.to_vec();
        }
        self.props.entries += 1;
        self.props.deletions += u64::from(kind == ValueKind::Delete as u8);
        self.props.raw_key_bytes += ikey.len() as u64;
        self.props.raw_value_bytes += value.len() as u64;
        self.props.seq_range = (
            self.props.seq_range.0.min(seq),
            self.props.seq_range.1.max(seq),
        );
        // A value of a block or more gets a block of its own: the small entries before it
        // stay in a block the cache can hold, not in one as large as the value.
        if value.len() >= self.opts.block_size {
            self.finish_data_block()?;
        }
        self.data.add(ikey, value);
        self.last_key.clear();
        self.last_key.extend_from_slice(ikey);
        if self.data.estimated_size() >= self.opts.block_size {
            self.finish_data_block()?;
        }
        Ok(())
    }

    /// Adds a range tombstone (any time before `finish`; empty ranges are ignored). The
    /// table's key range grows to include it: its smallest key becomes at most the start's
    /// first possible version, its largest at least the end's (exclusive) first one.
    pub fn add_range_del(&mut self, t: &RangeTombstone) {
        if t.is_empty() {
            return;
        }
        self.props.seq_range = (
            self.props.seq_range.0.min(t.seq),
            self.props.seq_range.1.max(t.seq),
        );
        self.props.range_dels.push(t.clone());
    }

    /// Entries added so far.
    pub fn entries(&self) -> u64 {
        self.props.entries
    }

    /// Whether nothing (entry or tombstone) was added.
    pub fn is_empty(&self) -> bool {
        self.props.entries == 0 && self.props.range_dels.is_empty()
    }

    /// Bytes the file will have at least (for splitting compaction outputs).
    pub fn estimated_size(&self) -> u64 {
        self.written + self.out.len() as u64 + self.data.estimated_size() as u64
    }

    fn write_block(&mut self, raw: &[u8], zstd_level: Option<i32>) -> Result<BlockHandle> {
        let (framed, size) = frame_block(raw, zstd_level)?;
        let handle = BlockHandle {
            offset: self.written + self.out.len() as u64,
            size,
        };
        self.out.extend_from_slice(&framed);
        if self.out.len() >= WRITE_BUFFER {
            self.flush_out()?;
        }
        Ok(handle)
    }

    fn flush_out(&mut self) -> Result<()> {
        self.file.write_all_at(&self.out, self.written)?;
        self.written += self.out.len() as u64;
        self.out.clear();
        Ok(())
    }

    fn finish_data_block(&mut self) -> Result<()> {
        if self.data.is_empty() {
            return Ok(());
        }
        let last = self.data.last_key().to_vec();
        let raw = self.data.finish();
        let before = self.written + self.out.len() as u64;
        let handle = self.write_block(&raw, self.opts.zstd_level)?;
        self.props.data_blocks += 1;
        self.props.data_bytes += self.written + self.out.len() as u64 - before;
        self.index.add(&last, &handle.encode());
        Ok(())
    }

    /// Writes the rest of the table. The file is not synced.
    pub fn finish(mut self) -> Result<TableInfo> {
        self.finish_data_block()?;
        if self.is_empty() {
            self.props.seq_range = (0, 0);
        }
        self.props.largest = self.last_key.clone();
        for t in &self.props.range_dels {
            let start = key::internal_key(&t.start, MAX_SEQ, ValueKind::SEEK);
            if self.props.smallest.is_empty() || key::compare(&start, &self.props.smallest).is_lt()
            {
                self.props.smallest = start;
            }
            // The end is exclusive: its newest possible version sorts before every real one.
            let end = key::internal_key(&t.end, MAX_SEQ, ValueKind::SEEK);
            if self.props.largest.is_empty() || key::compare(&end, &self.props.largest).is_gt() {
                self.props.largest = end;
            }
        }
        self.props.range_dels.sort();
        let filter = self.bloom.finish(self.opts.bloom_bits_per_key);
        let filter = self.write_block(&filter, None)?;
        let properties = self.write_block(&self.props.encode(), None)?;
        let index_raw = self.index.finish();
        let index = self.write_block(&index_raw, None)?;
        self.out.extend_from_slice(
            &Footer {
                index,
                filter,
                properties,
            }
            .encode(),
        );
        self.flush_out()?;
        Ok(TableInfo {
            size: self.written,
            properties: self.props,
        })
    }
}
