//! Data and index blocks: sorted entries with prefix compression and restart points.
//!
//! ```text
//! entry   := shared varint ‖ unshared varint ‖ value_len varint ‖ key[shared..] ‖ value
//! block   := entry* ‖ restart offset u32 LE * n ‖ n u32 LE
//! ```
//! Every `RESTART_INTERVAL`th entry stores its whole key (`shared = 0`), and its offset is a
//! restart point: seeks binary-search the restart points, then scan at most one interval.
//! Decoding checks every length against the block before use; damage is an error, never a
//! panic or a wrong entry.
#![deny(clippy::indexing_slicing)]

use std::cmp::Ordering;
use std::sync::Arc;

use crate::coding::{get_u32, put_varint, Reader};

/// Entries between restart points.
pub const RESTART_INTERVAL: usize = 16;

/// Most restart points whose entries a seek prefetches (a 16 KiB data block of 100-byte
/// rows has about ten; an index block, searched through its prefixes, has hundreds).
const PREFETCHED_RESTARTS: usize = 32;

/// A malformed block; the table reader adds the file and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockError(pub &'static str);

pub(crate) type BResult<T> = std::result::Result<T, BlockError>;

/// Builds one block from entries added in order.
#[derive(Debug, Default)]
pub struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    since_restart: usize,
    last_key: Vec<u8>,
    entries: usize,
}

impl BlockBuilder {
    /// Appends an entry; keys must arrive in increasing order (checked by the table builder).
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        let shared = if self.since_restart == RESTART_INTERVAL || self.entries == 0 {
            self.restarts
                .push(u32::try_from(self.buf.len()).unwrap_or(u32::MAX));
            self.since_restart = 0;
            0
        } else {
            self.last_key
                .iter()
                .zip(key)
                .take_while(|(a, b)| a == b)
                .count()
        };
        put_varint(&mut self.buf, shared as u64);
        put_varint(&mut self.buf, (key.len() - shared) as u64);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf
            .extend_from_slice(key.get(shared..).unwrap_or_default());
        self.buf.extend_from_slice(value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.since_restart += 1;
        self.entries += 1;
    }

    /// Size of the block if finished now.
    pub fn estimated_size(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    /// Whether no entry was added.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The last key added.
    pub fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// The block's bytes; the builder is reset for the next block.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        for r in &self.restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(
            &u32::try_from(self.restarts.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        self.restarts.clear();
        self.since_restart = 0;
        self.last_key.clear();
        self.entries = 0;
        out
    }
}

/// A decoded (decompressed, checksum-verified) block.
#[derive(Debug)]
pub struct Block {
    data: Vec<u8>,
    /// Where the restart array begins (= end of the entries).
    restarts_at: usize,
    restarts: usize,
}

impl Block {
    /// Validates the restart array of a block's bytes.
    pub fn new(data: Vec<u8>) -> BResult<Block> {
        let len = data.len();
        let n = get_u32(
            &data,
            len.checked_sub(4)
                .ok_or(BlockError("block shorter than its restart count"))?,
        )
        .ok_or(BlockError("block shorter than its restart count"))? as usize;
        let restarts_at = n
            .checked_mul(4)
            .and_then(|b| len.checked_sub(4 + b))
            .ok_or(BlockError("restart array larger than the block"))?;
        if n == 0 && restarts_at != 0 {
            return Err(BlockError("entries without restart points"));
        }
        let block = Block {
            data,
            restarts_at,
            restarts: n,
        };
        let mut prev = None;
        for i in 0..n {
            let r = block.restart(i)?;
            if r >= restarts_at.max(1) || prev.is_some_and(|p| p >= r) {
                return Err(BlockError("restart points out of order or out of range"));
            }
            prev = Some(r);
        }
        Ok(block)
    }

    fn restart(&self, i: usize) -> BResult<usize> {
        get_u32(&self.data, self.restarts_at + 4 * i)
            .map(|r| r as usize)
            .ok_or(BlockError("restart point out of range"))
    }

    /// The whole key of the entry at restart point `i`, in place (a restart entry shares
    /// nothing with the key before it).
    pub(crate) fn restart_key(&self, i: usize) -> BResult<&[u8]> {
        let offset = self.restart(i)?;
        let rest = self
            .data
            .get(offset..self.restarts_at)
            .ok_or(BlockError("entry offset out of range"))?;
        let mut r = Reader::new(rest);
        let bad = BlockError("truncated entry");
        if r.varint().ok_or(bad)? != 0 {
            return Err(BlockError("entry shares more than the previous key"));
        }
        let unshared = usize::try_from(r.varint().ok_or(bad)?).map_err(|_| bad)?;
        r.varint().ok_or(bad)?;
        r.bytes(unshared).ok_or(bad)
    }

    /// Starts loading the first line of every restart entry, when there are few enough
    /// (a data block's): a point read's binary search then finds the lines it probes on
    /// their way, instead of waiting for each in turn (a block read at random is not in the
    /// CPU's cache).
    fn prefetch_restarts(&self) {
        if self.restarts > PREFETCHED_RESTARTS {
            return;
        }
        for i in 0..self.restarts {
            if let Ok(offset) = self.restart(i) {
                crate::prefetch::prefetch(self.data.as_ptr().wrapping_add(offset));
            }
        }
    }

    /// Restart points.
    pub(crate) fn restart_count(&self) -> usize {
        self.restarts
    }

    /// Bytes held (for cache charging).
    pub fn size(&self) -> usize {
        self.data.len()
    }

    /// Decodes the entry at `offset` given the previous key; returns (next offset, value range).
    fn decode(&self, offset: usize, key: &mut Vec<u8>) -> BResult<(usize, std::ops::Range<usize>)> {
        let entries = self
            .data
            .get(..self.restarts_at)
            .ok_or(BlockError("entry area out of range"))?;
        let rest = entries
            .get(offset..)
            .ok_or(BlockError("entry offset out of range"))?;
        let mut r = Reader::new(rest);
        let bad = BlockError("truncated entry");
        let shared = usize::try_from(r.varint().ok_or(bad)?).map_err(|_| bad)?;
        let unshared = usize::try_from(r.varint().ok_or(bad)?).map_err(|_| bad)?;
        let value_len = usize::try_from(r.varint().ok_or(bad)?).map_err(|_| bad)?;
        if shared > key.len() {
            return Err(BlockError("entry shares more than the previous key"));
        }
        let header = rest.len() - r.remaining();
        let delta = r.bytes(unshared).ok_or(bad)?;
        r.bytes(value_len).ok_or(bad)?;
        key.truncate(shared);
        key.extend_from_slice(delta);
        let value_start = offset + header + unshared;
        Ok((
            value_start + value_len,
            value_start..value_start + value_len,
        ))
    }
}

/// An iterator over one block's entries.
#[derive(Debug)]
pub struct BlockIter {
    block: Arc<Block>,
    /// Offset of the current entry; `restarts_at` when past the end.
    current: usize,
    next: usize,
    key: Vec<u8>,
    value: std::ops::Range<usize>,
}

impl BlockIter {
    /// An iterator positioned before the first entry (not valid until positioned).
    pub fn new(block: Arc<Block>) -> BlockIter {
        let end = block.restarts_at;
        BlockIter {
            block,
            current: end,
            next: end,
            key: Vec::new(),
            value: 0..0,
        }
    }

    /// Moves to another block, positioned before its first entry as [`BlockIter::new`]
    /// leaves it; the key buffer is kept (a scan moves through many blocks).
    pub fn reset(&mut self, block: Arc<Block>) {
        let end = block.restarts_at;
        self.block = block;
        self.current = end;
        self.next = end;
        self.key.clear();
        self.value = 0..0;
    }

    /// Whether the iterator is on an entry.
    pub fn valid(&self) -> bool {
        self.current < self.block.restarts_at
    }

    /// The current key (valid only).
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The current value (valid only).
    pub fn value(&self) -> &[u8] {
        self.block.data.get(self.value.clone()).unwrap_or_default()
    }

    fn load(&mut self, offset: usize) -> BResult<()> {
        self.current = offset;
        if offset >= self.block.restarts_at {
            self.current = self.block.restarts_at;
            return Ok(());
        }
        let (next, value) = self.block.decode(offset, &mut self.key)?;
        self.next = next;
        self.value = value;
        Ok(())
    }

    fn seek_to_restart(&mut self, i: usize) -> BResult<()> {
        self.key.clear();
        let offset = self.block.restart(i)?;
        self.load(offset)
    }

    /// Positions on the first entry.
    pub fn seek_to_first(&mut self) -> BResult<()> {
        if self.block.restarts == 0 {
            self.current = self.block.restarts_at;
            return Ok(());
        }
        self.seek_to_restart(0)
    }

    /// Positions on the last entry.
    pub fn seek_to_last(&mut self) -> BResult<()> {
        if self.block.restarts == 0 {
            self.current = self.block.restarts_at;
            return Ok(());
        }
        self.seek_to_restart(self.block.restarts - 1)?;
        while self.valid() && self.next < self.block.restarts_at {
            self.load(self.next)?;
        }
        Ok(())
    }

    /// Moves to the next entry (becomes invalid past the last).
    pub fn next_entry(&mut self) -> BResult<()> {
        self.load(self.next)
    }

    /// Moves to the previous entry (becomes invalid before the first).
    pub fn prev_entry(&mut self) -> BResult<()> {
        let target = self.current;
        // The last restart point strictly before the current entry.
        let mut lo = 0;
        let mut hi = self.block.restarts;
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.block.restart(mid)? < target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if lo == 0 {
            self.current = self.block.restarts_at;
            return Ok(());
        }
        self.seek_to_restart(lo - 1)?;
        while self.next < target {
            self.load(self.next)?;
        }
        Ok(())
    }

    /// Positions on the first entry whose key is `>= target` under `cmp`.
    pub fn seek(&mut self, target: &[u8], cmp: impl Fn(&[u8], &[u8]) -> Ordering) -> BResult<()> {
        if self.block.restarts == 0 {
            self.current = self.block.restarts_at;
            return Ok(());
        }
        self.block.prefetch_restarts();
        let i = self.last_restart_below(0, target, &cmp)?;
        self.seek_after_restart(i, target, cmp)
    }

    /// The last restart point from `from` on whose key is < `target` (compared in place);
    /// `from` if none after it is. The block has restart points.
    fn last_restart_below(
        &self,
        from: usize,
        target: &[u8],
        cmp: &impl Fn(&[u8], &[u8]) -> Ordering,
    ) -> BResult<usize> {
        let (mut lo, mut hi) = (from, self.block.restarts.saturating_sub(1));
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if cmp(self.block.restart_key(mid)?, target) == Ordering::Less {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Ok(lo)
    }

    /// As [`BlockIter::seek`], for a `target` at or after the current entry (which must be
    /// valid): only the restart points from the current entry's on are searched, and a
    /// target before the next of them is reached by stepping on from the current entry
    /// (lookups in key order through one iterator mostly move a few entries).
    pub fn seek_forward(
        &mut self,
        target: &[u8],
        cmp: impl Fn(&[u8], &[u8]) -> Ordering,
    ) -> BResult<()> {
        if !self.valid() || self.block.restarts == 0 {
            return self.seek(target, cmp);
        }
        // The current entry's restart point: the last one at or before it.
        let (mut lo, mut hi) = (0, self.block.restarts - 1);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if self.block.restart(mid)? <= self.current {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let here = lo;
        let below = self.last_restart_below(here, target, &cmp)?;
        if below != here {
            return self.seek_after_restart(below, target, cmp);
        }
        while self.valid() && cmp(&self.key, target) == Ordering::Less {
            self.next_entry()?;
        }
        Ok(())
    }

    /// [`BlockIter::seek`] with its binary search answered: `i` is the last restart point
    /// whose key is `< target` (0 if none is); steps from there to the first entry `>= target`.
    pub fn seek_after_restart(
        &mut self,
        i: usize,
        target: &[u8],
        cmp: impl Fn(&[u8], &[u8]) -> Ordering,
    ) -> BResult<()> {
        if self.block.restarts == 0 {
            self.current = self.block.restarts_at;
            return Ok(());
        }
        self.seek_to_restart(i.min(self.block.restarts - 1))?;
        while self.valid() && cmp(&self.key, target) == Ordering::Less {
            self.next_entry()?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index buffers they built
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn build(entries: &BTreeMap<Vec<u8>, Vec<u8>>) -> Arc<Block> {
        let mut b = BlockBuilder::default();
        for (k, v) in entries {
            b.add(k, v);
        }
        Arc::new(Block::new(b.finish()).unwrap())
    }

    proptest! {
        #[test]
        fn iterates_seeks_and_steps_back_like_a_btreemap(
            entries in proptest::collection::btree_map(proptest::collection::vec(0u8..4, 0..6), proptest::collection::vec(any::<u8>(), 0..8), 0..80),
            probes in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..6), 1..20),
            probes_after in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..6), 0..8),
        ) {
            let block = build(&entries);
            let mut it = BlockIter::new(Arc::clone(&block));
            // Forward.
            it.seek_to_first().unwrap();
            let mut seen = Vec::new();
            while it.valid() {
                seen.push((it.key().to_vec(), it.value().to_vec()));
                it.next_entry().unwrap();
            }
            let expected: Vec<_> = entries.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            prop_assert_eq!(&seen, &expected);
            // Backward.
            it.seek_to_last().unwrap();
            let mut back = Vec::new();
            while it.valid() {
                back.push((it.key().to_vec(), it.value().to_vec()));
                it.prev_entry().unwrap();
            }
            back.reverse();
            prop_assert_eq!(&back, &expected);
            // Seeks.
            for p in probes {
                it.seek(&p, |a, b| a.cmp(b)).unwrap();
                let want = entries.range(p.clone()..).next();
                match want {
                    None => prop_assert!(!it.valid()),
                    Some((k, v)) => {
                        prop_assert!(it.valid());
                        prop_assert_eq!(it.key(), &k[..]);
                        prop_assert_eq!(it.value(), &v[..]);
                    }
                }
            }
            // Forward seeks, from each entry to each target at or after it.
            let mut targets: Vec<Vec<u8>> = entries.keys().cloned().collect();
            targets.extend(probes_after.iter().cloned());
            targets.sort();
            for (i, from) in entries.keys().enumerate() {
                for t in targets.iter().filter(|t| *t >= from).skip(i % 3).step_by(2) {
                    it.seek(from, |a, b| a.cmp(b)).unwrap();
                    it.seek_forward(t, |a, b| a.cmp(b)).unwrap();
                    let want = entries.range(t.clone()..).next();
                    prop_assert_eq!(it.valid().then(|| (it.key().to_vec(), it.value().to_vec())), want.map(|(k, v)| (k.clone(), v.clone())), "{:?} to {:?}", from, t);
                }
            }
        }

        #[test]
        fn damaged_blocks_are_errors_not_panics(
            entries in proptest::collection::btree_map(proptest::collection::vec(any::<u8>(), 0..10), proptest::collection::vec(any::<u8>(), 0..10), 1..40),
            flip in any::<prop::sample::Index>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut b = BlockBuilder::default();
            for (k, v) in &entries {
                b.add(k, v);
            }
            let mut bytes = b.finish();
            let i = flip.index(bytes.len());
            bytes[i] ^= 0x5a;
            bytes.truncate(cut.index(bytes.len() + 1));
            if let Ok(block) = Block::new(bytes) {
                let mut it = BlockIter::new(Arc::new(block));
                if it.seek_to_first().is_ok() {
                    let mut steps = 0;
                    while it.valid() && steps < 1000 && it.next_entry().is_ok() {
                        steps += 1;
                    }
                }
                let _ = it.seek(b"m", |a, b| a.cmp(b));
                let _ = it.seek_to_last();
            }
        }
    }

    #[test]
    fn an_empty_block_is_valid_and_empty() {
        let block = Arc::new(Block::new(BlockBuilder::default().finish()).unwrap());
        let mut it = BlockIter::new(block);
        it.seek_to_first().unwrap();
        assert!(!it.valid());
        it.seek(b"x", |a, b| a.cmp(b)).unwrap();
        assert!(!it.valid());
    }
}
