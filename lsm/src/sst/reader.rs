//! Reads a table: footer, index, filter and properties at open; data blocks on demand through
//! the shared block cache.

use std::cmp::Ordering;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use orbit_buffer::{BlockCache, BlockKey};
use orbit_env::File;

use super::block::{Block, BlockError, BlockIter};
use super::bloom::Bloom;
use super::format::{read_block, BlockHandle, Footer, Properties, FOOTER_LEN};
use super::prefixes::Prefixes;
use crate::key::{self, ValueKind};
use crate::range_del::{Fragments, RangeTombstone};
use crate::{Error, Result};

/// The cache type tables share.
pub type TableCache = BlockCache<Arc<Block>>;

/// An open table.
pub struct Table {
    file: Arc<dyn File>,
    path: PathBuf,
    id: u64,
    cache: Arc<TableCache>,
    index: Arc<Block>,
    /// The index block's restart keys as words, for point seeks (`prefixes`).
    prefixes: Option<Prefixes>,
    /// File offset of the index block, for error messages.
    index_offset: u64,
    bloom: Option<Bloom>,
    properties: Properties,
    /// The properties' range tombstones, fragmented for lookups.
    range_frags: Fragments,
    size: u64,
}

fn block_err(path: &Path, offset: u64) -> impl Fn(BlockError) -> Error + '_ {
    move |e| Error::corruption(path, offset, e.0)
}

impl Table {
    /// The table's filter, for tests of which layout a table has.
    #[cfg(test)]
    pub(crate) fn bloom(&self) -> Option<&Bloom> {
        self.bloom.as_ref()
    }

    /// Opens a table. `id` must be unique among the tables sharing `cache`.
    pub fn open(file: Arc<dyn File>, id: u64, cache: Arc<TableCache>) -> Result<Table> {
        let path = file.path().to_path_buf();
        let size = file.len()?;
        let at = size
            .checked_sub(FOOTER_LEN as u64)
            .ok_or_else(|| Error::corruption(&path, 0, "file is shorter than an sstable footer"))?;
        let mut footer = [0u8; FOOTER_LEN];
        file.read_exact_at(&mut footer, at)?;
        let footer = Footer::decode(&footer, &path, at)?;
        let index = Block::new(read_block(file.as_ref(), &path, footer.index)?)
            .map_err(block_err(&path, footer.index.offset))?;
        let bloom = Bloom::decode(read_block(file.as_ref(), &path, footer.filter)?);
        let properties = Properties::decode(&read_block(file.as_ref(), &path, footer.properties)?)
            .ok_or_else(|| {
                Error::corruption(
                    &path,
                    footer.properties.offset,
                    "properties block is malformed",
                )
            })?;
        let range_frags = Fragments::from_tombstones(&properties.range_dels);
        let prefixes = Prefixes::build(&index);
        Ok(Table {
            prefixes,
            range_frags,
            file,
            path,
            id,
            cache,
            index: Arc::new(index),
            index_offset: footer.index.offset,
            bloom,
            properties,
            size,
        })
    }

    /// The table's properties.
    pub fn properties(&self) -> &Properties {
        &self.properties
    }

    /// The table's range tombstones.
    pub fn range_dels(&self) -> &[RangeTombstone] {
        &self.properties.range_dels
    }

    /// The newest sequence number `<= snapshot` of a range tombstone of this table covering
    /// `user_key`.
    pub fn range_del_covering(&self, user_key: &[u8], snapshot: u64) -> Option<u64> {
        if self.range_frags.is_empty() {
            return None;
        }
        self.range_frags.covering(user_key, snapshot)
    }

    /// Drops this table's data blocks from the block cache (its file is being deleted): the
    /// memory they held goes back to the cache for live tables' blocks at once, instead of
    /// waiting for eviction to reach blocks nothing can read any more. Walks the index block.
    pub fn evict_cached_blocks(&self) {
        let mut index = BlockIter::new(Arc::clone(&self.index));
        if index.seek_to_first().is_err() {
            return;
        }
        while index.valid() {
            if let Some(handle) = BlockHandle::decode(index.value()) {
                self.cache.remove(&BlockKey {
                    file: self.id,
                    offset: handle.offset,
                });
            }
            if index.next_entry().is_err() {
                return;
            }
        }
    }

    /// The block cache this table reads through.
    pub fn cache(&self) -> &TableCache {
        &self.cache
    }

    /// File size.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn block(&self, handle: BlockHandle) -> Result<Arc<Block>> {
        let key = BlockKey {
            file: self.id,
            offset: handle.offset,
        };
        self.cache.get_or_load(key, || {
            let raw = read_block(self.file.as_ref(), &self.path, handle)?;
            let block = Block::new(raw).map_err(block_err(&self.path, handle.offset))?;
            let charge = block.size();
            Ok::<_, Error>((Arc::new(block), charge))
        })
    }

    /// The newest entry for `user_key` with sequence number `<= snapshot`, if this table has
    /// one: its sequence number, kind and value.
    pub fn get(&self, user_key: &[u8], snapshot: u64) -> Result<Option<(u64, ValueKind, Vec<u8>)>> {
        if self
            .bloom
            .as_ref()
            .is_some_and(|b| !b.may_contain(user_key))
        {
            return Ok(None);
        }
        let target = key::internal_key(user_key, snapshot, ValueKind::SEEK);
        let mut it = self.iter();
        it.seek(&target)?;
        if !it.valid() {
            return Ok(None);
        }
        match key::split(it.key()) {
            Some((user, seq, kind)) if user == user_key => {
                let kind = ValueKind::from_u8(kind)
                    .filter(|k| *k != ValueKind::RangeDelete)
                    .ok_or_else(|| {
                        Error::corruption(
                            &self.path,
                            it.data_offset,
                            format!("unknown entry kind {kind}"),
                        )
                    })?;
                Ok(Some((seq, kind, it.value().to_vec())))
            }
            _ => Ok(None),
        }
    }

    /// The data blocks that may hold user keys from `from` on, up to the first whose last
    /// key is at or past `until` (None: to the end): each one's last user key and its size in
    /// bytes, in key order. Read from the index block alone (no data block is read).
    pub fn block_bounds(
        &self,
        from: Option<&[u8]>,
        until: Option<&[u8]>,
    ) -> Result<Vec<(Vec<u8>, u64)>> {
        let err = block_err(&self.path, self.index_offset);
        let mut it = BlockIter::new(Arc::clone(&self.index));
        match from {
            Some(k) => it
                .seek(
                    &key::internal_key(k, key::MAX_SEQ, ValueKind::SEEK),
                    key::compare,
                )
                .map_err(&err)?,
            None => it.seek_to_first().map_err(&err)?,
        }
        let mut out = Vec::new();
        while it.valid() {
            let handle = BlockHandle::decode(it.value()).ok_or_else(|| {
                Error::corruption(
                    &self.path,
                    self.index_offset,
                    "index entry is not a block handle",
                )
            })?;
            let last = key::user_key(it.key());
            let done = until.is_some_and(|u| last >= u);
            out.push((last.to_vec(), handle.size));
            if done {
                break;
            }
            it.next_entry().map_err(&err)?;
        }
        Ok(out)
    }

    /// An iterator over every entry, in internal-key order.
    pub fn iter(&self) -> TableIter<&Table> {
        TableIter::new(self)
    }

    /// An iterator that owns its handle on the table (for iterators that outlive a borrow).
    pub fn iter_owned(self: Arc<Self>) -> TableIter<Arc<Table>> {
        TableIter::new(self)
    }
}

/// A two-level iterator: the index block chooses data blocks, loaded through the cache.
pub struct TableIter<T: Deref<Target = Table>> {
    table: T,
    index: BlockIter,
    data: Option<BlockIter>,
    /// File offset of the data block `data` iterates, for error messages.
    data_offset: u64,
}

impl<T: Deref<Target = Table>> TableIter<T> {
    fn new(table: T) -> Self {
        let index = BlockIter::new(Arc::clone(&table.index));
        TableIter {
            table,
            index,
            data: None,
            data_offset: 0,
        }
    }

    /// Maps a block decoding error to a corruption error naming the file and block offset.
    fn err(&self, offset: u64) -> impl Fn(BlockError) -> Error + '_ {
        block_err(&self.table.path, offset)
    }

    /// Loads the data block the index iterator is on (or clears it).
    fn load_data(&mut self) -> Result<()> {
        if !self.index.valid() {
            self.data = None;
            return Ok(());
        }
        let handle = BlockHandle::decode(self.index.value()).ok_or_else(|| {
            Error::corruption(
                &self.table.path,
                self.table.index_offset,
                "index entry is not a block handle",
            )
        })?;
        // A block that cannot be read leaves no block loaded: the data iterator must never
        // stand for a block the index has moved off (a forward seek trusts the pair).
        let block = match self.table.block(handle) {
            Ok(b) => b,
            Err(e) => {
                self.data = None;
                return Err(e);
            }
        };
        match self.data.as_mut() {
            Some(d) => d.reset(block),
            None => self.data = Some(BlockIter::new(block)),
        }
        self.data_offset = handle.offset;
        Ok(())
    }

    /// Whether the iterator is on an entry.
    pub fn valid(&self) -> bool {
        self.data.as_ref().is_some_and(BlockIter::valid)
    }

    /// The current internal key.
    pub fn key(&self) -> &[u8] {
        self.data.as_ref().map_or(&[][..], BlockIter::key)
    }

    /// The current value.
    pub fn value(&self) -> &[u8] {
        self.data.as_ref().map_or(&[][..], BlockIter::value)
    }

    /// Positions on the first entry.
    pub fn seek_to_first(&mut self) -> Result<()> {
        self.index
            .seek_to_first()
            .map_err(self.err(self.table.index_offset))?;
        self.load_data()?;
        let at = self.data_offset;
        if let Some(d) = self.data.as_mut() {
            d.seek_to_first().map_err(block_err(&self.table.path, at))?;
        }
        self.skip_empty_forward()
    }

    /// Positions on the last entry.
    pub fn seek_to_last(&mut self) -> Result<()> {
        self.index
            .seek_to_last()
            .map_err(self.err(self.table.index_offset))?;
        self.load_data()?;
        let at = self.data_offset;
        if let Some(d) = self.data.as_mut() {
            d.seek_to_last().map_err(block_err(&self.table.path, at))?;
        }
        self.skip_empty_backward()
    }

    /// Positions on the first entry `>= target` (an internal key).
    ///
    /// A target at or after the current entry is looked for forwards from there: in the
    /// data block already loaded when it holds the target (the block's last key, which its
    /// index entry holds, is at least the target), else in the next block when that one
    /// does. Any other target (further on, before the current entry, or with no current
    /// entry) searches the index from its start. Key-ordered lookups through one iterator
    /// ([`crate::DbIter::reseek`]) mostly land in the block the last one ended in, or the
    /// next.
    pub fn seek(&mut self, target: &[u8]) -> Result<()> {
        let ahead = self.index.valid()
            && self
                .data
                .as_ref()
                .is_some_and(|d| d.valid() && key::compare(d.key(), target) != Ordering::Greater);
        if ahead {
            if key::compare(target, self.index.key()) != Ordering::Greater {
                if let Some(d) = self.data.as_mut() {
                    d.seek_forward(target, key::compare)
                        .map_err(block_err(&self.table.path, self.data_offset))?;
                }
                return self.skip_empty_forward();
            }
            if let Err(e) = self.index.next_entry() {
                self.data = None;
                return Err(self.err(self.table.index_offset)(e));
            }
            if self.index.valid() && key::compare(target, self.index.key()) != Ordering::Greater {
                self.load_data()?;
                let at = self.data_offset;
                if let Some(d) = self.data.as_mut() {
                    d.seek(target, key::compare)
                        .map_err(block_err(&self.table.path, at))?;
                }
                return self.skip_empty_forward();
            }
        }
        let below = match &self.table.prefixes {
            Some(p) => p
                .last_below(&self.table.index, target, key::compare)
                .map_err(self.err(self.table.index_offset))?,
            None => None,
        };
        match below {
            Some(i) => self.index.seek_after_restart(i, target, key::compare),
            None => self.index.seek(target, key::compare),
        }
        .map_err(self.err(self.table.index_offset))?;
        self.load_data()?;
        let at = self.data_offset;
        if let Some(d) = self.data.as_mut() {
            d.seek(target, key::compare)
                .map_err(block_err(&self.table.path, at))?;
        }
        self.skip_empty_forward()
    }

    /// Moves to the next entry.
    pub fn next_entry(&mut self) -> Result<()> {
        let at = self.data_offset;
        if let Some(d) = self.data.as_mut() {
            d.next_entry().map_err(block_err(&self.table.path, at))?;
        }
        self.skip_empty_forward()
    }

    /// Moves to the previous entry.
    pub fn prev_entry(&mut self) -> Result<()> {
        let at = self.data_offset;
        if let Some(d) = self.data.as_mut() {
            d.prev_entry().map_err(block_err(&self.table.path, at))?;
        }
        self.skip_empty_backward()
    }

    fn skip_empty_forward(&mut self) -> Result<()> {
        while self.data.is_some() && !self.valid() {
            self.index
                .next_entry()
                .map_err(self.err(self.table.index_offset))?;
            self.load_data()?;
            let at = self.data_offset;
            if let Some(d) = self.data.as_mut() {
                d.seek_to_first().map_err(block_err(&self.table.path, at))?;
            }
        }
        Ok(())
    }

    fn skip_empty_backward(&mut self) -> Result<()> {
        while self.data.is_some() && !self.valid() {
            self.index
                .prev_entry()
                .map_err(self.err(self.table.index_offset))?;
            self.load_data()?;
            let at = self.data_offset;
            if let Some(d) = self.data.as_mut() {
                d.seek_to_last().map_err(block_err(&self.table.path, at))?;
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("path", &self.path)
            .field("id", &self.id)
            .field("size", &self.size)
            .finish()
    }
}
