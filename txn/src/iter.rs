//! Scans inside a transaction: the snapshot's entries merged with the transaction's own
//! buffered writes (read-your-own-writes). A buffered write of a key replaces the snapshot's
//! entry; a buffered delete or a buffered range delete hides it.

use std::collections::VecDeque;

use orbit_lsm::{DbIter, Direction, Pairs};

use crate::oracle::DelRange;
use crate::Result;

/// A pair of the snapshot's, or the error that ended its scan.
type BaseItem = orbit_lsm::Result<(Vec<u8>, Vec<u8>)>;

/// Key-value pairs of a scan, in the scan's direction.
pub struct TxnIter {
    base: DbIter,
    /// The snapshot's next pair, once looked at (`Some(None)`: none left).
    peeked: Option<Option<BaseItem>>,
    /// Buffered writes within the scan's bounds, in the scan's direction.
    local: VecDeque<(Vec<u8>, Option<Vec<u8>>)>,
    /// Buffered range deletes of the keyspace.
    ranges: Vec<DelRange>,
    direction: Direction,
    /// The keyspace of an iterator that may be moved to another range (see
    /// [`crate::Transaction::rescan`]).
    keyspace: Option<orbit_lsm::KeyspaceId>,
}

impl TxnIter {
    pub(crate) fn new(
        base: DbIter,
        mut local: Vec<(Vec<u8>, Option<Vec<u8>>)>,
        ranges: Vec<DelRange>,
        direction: Direction,
    ) -> TxnIter {
        if direction == Direction::Backward {
            local.reverse();
        }
        TxnIter {
            base,
            peeked: None,
            local: local.into(),
            ranges,
            direction,
            keyspace: None,
        }
    }

    pub(crate) fn scoped(mut self, keyspace: orbit_lsm::KeyspaceId) -> TxnIter {
        self.keyspace = Some(keyspace);
        self
    }

    pub(crate) fn keyspace(&self) -> Option<orbit_lsm::KeyspaceId> {
        self.keyspace
    }

    /// The sequence number of the snapshot the iterator reads at.
    pub(crate) fn seq(&self) -> u64 {
        self.base.snapshot().seq()
    }

    /// Starts over on `range` with the buffered writes `local` (within it) and `ranges`;
    /// false, with nothing changed, if the snapshot's iterator cannot move there.
    pub(crate) fn reseek(
        &mut self,
        range: &(std::ops::Bound<Vec<u8>>, std::ops::Bound<Vec<u8>>),
        local: Vec<(Vec<u8>, Option<Vec<u8>>)>,
        ranges: Vec<DelRange>,
    ) -> bool {
        if self.direction != Direction::Forward || !self.base.reseek(range) {
            return false;
        }
        self.peeked = None;
        self.local = local.into();
        self.ranges = ranges;
        true
    }

    fn peek(&mut self) -> Option<&BaseItem> {
        peek(&mut self.base, &mut self.peeked)
    }

    fn next_base(&mut self) -> Option<BaseItem> {
        match self.peeked.take() {
            Some(peeked) => peeked,
            None => self.base.next(),
        }
    }

    /// Appends the next pairs to `out` until it holds `max` of them or the scan ends, as
    /// the iterator would yield them. Without buffered writes to merge, the snapshot's
    /// pairs are copied straight into `out` (no allocation per pair).
    pub fn fill(&mut self, out: &mut Pairs, max: usize) -> Result<()> {
        if self.local.is_empty() && self.ranges.is_empty() {
            while out.len() < max {
                match self.peeked.take() {
                    None => break,
                    Some(None) => return Ok(()),
                    Some(Some(kv)) => {
                        let (k, v) = kv?;
                        out.push(&k, &v);
                    }
                }
            }
            return Ok(self.base.fill(out, max)?);
        }
        while out.len() < max {
            match self.next() {
                Some(kv) => {
                    let (k, v) = kv?;
                    out.push(&k, &v);
                }
                None => break,
            }
        }
        Ok(())
    }

    fn hidden(&self, key: &[u8]) -> bool {
        self.ranges
            .iter()
            .any(|r| r.start.as_slice() <= key && key < r.end.as_slice())
    }
}

/// The next pair of `base`, looked at and kept in `peeked`.
fn peek<'a>(base: &mut DbIter, peeked: &'a mut Option<Option<BaseItem>>) -> Option<&'a BaseItem> {
    peeked.get_or_insert_with(|| base.next()).as_ref()
}

impl Iterator for TxnIter {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // Which side comes next: the local write when its key is first or equal.
            let take_local = match (peek(&mut self.base, &mut self.peeked), self.local.front()) {
                (Some(Err(_)), _) => false,
                (None, None) => return None,
                (None, Some(_)) => true,
                (Some(Ok(_)), None) => false,
                (Some(Ok((bk, _))), Some((lk, _))) => match self.direction {
                    Direction::Forward => lk <= bk,
                    Direction::Backward => lk >= bk,
                },
            };
            if take_local {
                let (k, v) = self.local.pop_front()?;
                if self
                    .peek()
                    .is_some_and(|b| b.as_ref().is_ok_and(|(bk, _)| *bk == k))
                {
                    self.next_base();
                }
                if let Some(v) = v {
                    return Some(Ok((k, v)));
                }
                continue;
            }
            match self.next_base()? {
                Err(e) => return Some(Err(e.into())),
                Ok((k, v)) => {
                    if !self.hidden(&k) {
                        return Some(Ok((k, v)));
                    }
                }
            }
        }
    }
}
