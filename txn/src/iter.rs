//! Scans inside a transaction: the snapshot's entries merged with the transaction's own
//! buffered writes (read-your-own-writes). A buffered write of a key replaces the snapshot's
//! entry; a buffered delete or a buffered range delete hides it.

use std::collections::VecDeque;
use std::iter::Peekable;

use orbit_lsm::{DbIter, Direction};

use crate::oracle::DelRange;
use crate::Result;

/// Key-value pairs of a scan, in the scan's direction.
pub struct TxnIter {
    base: Peekable<DbIter>,
    /// Buffered writes within the scan's bounds, in the scan's direction.
    local: VecDeque<(Vec<u8>, Option<Vec<u8>>)>,
    /// Buffered range deletes of the keyspace.
    ranges: Vec<DelRange>,
    direction: Direction,
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
            base: base.peekable(),
            local: local.into(),
            ranges,
            direction,
        }
    }

    fn hidden(&self, key: &[u8]) -> bool {
        self.ranges
            .iter()
            .any(|r| r.start.as_slice() <= key && key < r.end.as_slice())
    }
}

impl Iterator for TxnIter {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // Which side comes next: the local write when its key is first or equal.
            let take_local = match (self.base.peek(), self.local.front()) {
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
                    .base
                    .peek()
                    .is_some_and(|b| b.as_ref().is_ok_and(|(bk, _)| *bk == k))
                {
                    self.base.next();
                }
                if let Some(v) = v {
                    return Some(Ok((k, v)));
                }
                continue;
            }
            match self.base.next()? {
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
