//! Range iterators over a keyspace at a snapshot, forwards and backwards.
//!
//! Sources (memtables, tables) are cursors over internal keys; the merge takes the smallest
//! (forwards) or largest (backwards) current key among them; a linear pick, since a keyspace
//! has few sources. The user-level pass keeps, for each user key, its newest version with a
//! sequence number at or below the snapshot, hides deletes and versions under a range tombstone
//! visible at the snapshot (all the sources' tombstones, fragmented once when the iterator is
//! made), and respects the bounds.

use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

use super::{LiveTable, Snapshot};
use crate::key::{self, compare_bytes, ValueKind, MAX_SEQ};
use crate::memtable::{MemCursor, Memtable};
use crate::range_del::Fragments;
use crate::sst::{Table, TableIter};
use crate::{Error, Pairs, Result};

/// A cursor over one sorted source of internal keys.
pub(crate) trait Source: Send {
    fn valid(&self) -> bool;
    fn key(&self) -> &[u8];
    fn value(&self) -> &[u8];
    fn next(&mut self) -> Result<()>;
    fn prev(&mut self) -> Result<()>;
    fn seek(&mut self, target: &[u8]) -> Result<()>;
    fn seek_to_first(&mut self) -> Result<()>;
    fn seek_to_last(&mut self) -> Result<()>;

    /// Positions on the last entry `<= target`.
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        self.seek(target)?;
        if !self.valid() {
            self.seek_to_last()
        } else if key::compare(self.key(), target) == Ordering::Greater {
            self.prev()
        } else {
            Ok(())
        }
    }
}

pub(crate) struct MemSource {
    cursor: MemCursor,
}

impl MemSource {
    pub(crate) fn new(mem: Arc<Memtable>) -> Self {
        MemSource {
            cursor: MemCursor::new(mem),
        }
    }
}

impl Source for MemSource {
    fn valid(&self) -> bool {
        self.cursor.valid()
    }
    fn key(&self) -> &[u8] {
        self.cursor.key()
    }
    fn value(&self) -> &[u8] {
        self.cursor.value()
    }
    fn next(&mut self) -> Result<()> {
        self.cursor.next();
        Ok(())
    }
    fn prev(&mut self) -> Result<()> {
        self.cursor.prev();
        Ok(())
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.cursor.seek(target);
        Ok(())
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.cursor.seek_to_first();
        Ok(())
    }
    fn seek_to_last(&mut self) -> Result<()> {
        self.cursor.seek_to_last();
        Ok(())
    }
}

pub(crate) struct TableSource {
    _live: Arc<LiveTable>,
    it: TableIter<Arc<Table>>,
}

impl TableSource {
    pub(crate) fn new(live: Arc<LiveTable>) -> Self {
        let it = Arc::clone(&live.table).iter_owned();
        TableSource { _live: live, it }
    }
}

impl Source for TableSource {
    fn valid(&self) -> bool {
        self.it.valid()
    }
    fn key(&self) -> &[u8] {
        self.it.key()
    }
    fn value(&self) -> &[u8] {
        self.it.value()
    }
    fn next(&mut self) -> Result<()> {
        self.it.next_entry()
    }
    fn prev(&mut self) -> Result<()> {
        self.it.prev_entry()
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.it.seek(target)
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.it.seek_to_first()
    }
    fn seek_to_last(&mut self) -> Result<()> {
        self.it.seek_to_last()
    }
}

/// Iteration direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Ascending user keys.
    Forward,
    /// Descending user keys.
    Backward,
}

/// Backwards iteration gathers all versions of one user key before deciding what it shows.
struct Pending {
    user: Vec<u8>,
    /// The newest version at or below the snapshot seen so far: kind, value, sequence number.
    visible: Option<(ValueKind, Vec<u8>, u64)>,
}

/// Key-value pairs of a keyspace within bounds, at a snapshot. Yields `Result`s; after an
/// error it ends.
pub struct DbIter {
    sources: Vec<Box<dyn Source>>,
    /// Range tombstones visible at the snapshot.
    dels: Fragments,
    /// Registered for the iterator's life, so compaction keeps what it reads.
    snapshot: Snapshot,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    /// The bounds `dels` were gathered for, within which [`DbIter::reseek`] may move the
    /// iterator (None: it may not).
    scope: Option<Bounds>,
    direction: Direction,
    started: bool,
    done: bool,
    /// An error ended the scan: the sources' positions are not to be trusted, and the
    /// iterator is not moved again.
    failed: bool,
    /// Counts reads that met L0 tables (compaction's read trigger): each range a moved
    /// iterator reads counts as one.
    l0_reads: Option<Arc<AtomicU64>>,
    /// Forwards: the user key last passed, when `has_last` (its older versions are
    /// skipped); one buffer, reused.
    last_user: Vec<u8>,
    has_last: bool,
    /// Backwards: the user key being gathered and its newest visible version so far.
    pending: Option<Pending>,
    /// The last full pick: the source picked and the runner-up (see `pick`).
    last_pick: Option<(usize, Option<usize>)>,
}

/// A range of user keys.
pub(crate) type Bounds = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// Whether every key in `range` lies in `scope`.
pub(crate) fn within(range: &Bounds, scope: &Bounds) -> bool {
    let lower = match (&scope.0, &range.0) {
        (Bound::Unbounded, _) => true,
        (_, Bound::Unbounded) => false,
        (Bound::Included(s), Bound::Included(r) | Bound::Excluded(r)) => r >= s,
        (Bound::Excluded(s), Bound::Included(r)) => r > s,
        (Bound::Excluded(s), Bound::Excluded(r)) => r >= s,
    };
    let upper = match (&scope.1, &range.1) {
        (Bound::Unbounded, _) => true,
        (_, Bound::Unbounded) => false,
        (Bound::Excluded(s), Bound::Included(r)) => r < s,
        (Bound::Excluded(s) | Bound::Included(s), Bound::Excluded(r) | Bound::Included(r)) => {
            r <= s
        }
    };
    lower && upper
}

/// Sets `to` to `from`, reusing `to`'s buffer.
fn assign(to: &mut Bound<Vec<u8>>, from: &Bound<Vec<u8>>) {
    match (to, from) {
        (Bound::Included(t), Bound::Included(f)) | (Bound::Excluded(t), Bound::Excluded(f)) => {
            t.clear();
            t.extend_from_slice(f);
        }
        (to, from) => *to = from.clone(),
    }
}

fn above_upper(user: &[u8], upper: &Bound<Vec<u8>>) -> bool {
    match upper {
        Bound::Included(u) => compare_bytes(user, u) == Ordering::Greater,
        Bound::Excluded(u) => compare_bytes(user, u) != Ordering::Less,
        Bound::Unbounded => false,
    }
}

fn below_lower(user: &[u8], lower: &Bound<Vec<u8>>) -> bool {
    match lower {
        Bound::Included(l) => compare_bytes(user, l) == Ordering::Less,
        Bound::Excluded(l) => compare_bytes(user, l) != Ordering::Greater,
        Bound::Unbounded => false,
    }
}

impl DbIter {
    pub(crate) fn new(
        sources: Vec<Box<dyn Source>>,
        dels: Fragments,
        snapshot: Snapshot,
        ((lower, upper), scope): (Bounds, Option<Bounds>),
        direction: Direction,
    ) -> DbIter {
        DbIter {
            sources,
            dels,
            snapshot,
            lower,
            upper,
            scope,
            direction,
            started: false,
            done: false,
            failed: false,
            l0_reads: None,
            last_user: Vec::new(),
            has_last: false,
            pending: None,
            last_pick: None,
        }
    }

    /// Counts each range this iterator reads (after the first) in `reads`.
    pub(crate) fn counting_l0_reads(mut self, reads: Arc<AtomicU64>) -> DbIter {
        self.l0_reads = Some(reads);
        self
    }

    /// Ends the scan on an error (see `failed`).
    fn fail<T>(&mut self, e: Error) -> Result<T> {
        self.done = true;
        self.failed = true;
        Err(e)
    }

    /// The snapshot the iterator reads at.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Starts over on `range`, in the same direction at the same snapshot, keeping the
    /// sources: a table seeks within the block it is on when the new start lies there, so
    /// lookups in key order cost a block search each rather than a new iterator and a seek
    /// from the root of every level. False, with nothing changed, unless the iterator was
    /// made by [`crate::Db::iter_scoped`] with a scope holding `range`, and no error has
    /// ended a read through it.
    pub fn reseek(&mut self, range: &Bounds) -> bool {
        if self.failed || !self.scope.as_ref().is_some_and(|s| within(range, s)) {
            return false;
        }
        if let Some(reads) = &self.l0_reads {
            reads.fetch_add(1, AtomicOrdering::Relaxed);
        }
        assign(&mut self.lower, &range.0);
        assign(&mut self.upper, &range.1);
        self.started = false;
        self.done = false;
        self.has_last = false;
        self.pending = None;
        self.last_pick = None;
        true
    }

    fn position(&mut self) -> Result<()> {
        self.last_pick = None;
        for s in &mut self.sources {
            match (self.direction, &self.lower, &self.upper) {
                (Direction::Forward, Bound::Unbounded, _) => s.seek_to_first()?,
                (Direction::Forward, Bound::Included(l) | Bound::Excluded(l), _) => {
                    s.seek(&key::internal_key(l, MAX_SEQ, ValueKind::SEEK))?
                }
                (Direction::Backward, _, Bound::Unbounded) => s.seek_to_last()?,
                (Direction::Backward, _, Bound::Included(u) | Bound::Excluded(u)) => {
                    // The last version of `u` has the smallest trailer.
                    s.seek_for_prev(&key::internal_key(u, 0, 0))?
                }
            }
        }
        Ok(())
    }

    /// Index of the source with the smallest (forwards) or largest (backwards) key; the
    /// first such source on a tie.
    ///
    /// Only the source last picked moves between two picks (`advance`), so the runner-up
    /// of the last full pick still heads the others: while the moved source stays ahead of
    /// it, one comparison decides. A scan of a table mostly in one level compares once per
    /// entry instead of once per source.
    fn pick(&mut self) -> Option<usize> {
        if let Some((p, runner)) = self.last_pick {
            let source = |i: usize| self.sources.get(i).filter(|s| s.valid());
            if let Some(s) = source(p) {
                let stays = match runner.and_then(|r| Some((r, source(r)?))) {
                    None => true,
                    Some((r, rs)) => self.ahead(s.key(), p, rs.key(), r),
                };
                if stays {
                    return Some(p);
                }
            }
        }
        let mut best: Option<usize> = None;
        let mut second: Option<usize> = None;
        for (i, s) in self.sources.iter().enumerate() {
            if !s.valid() {
                continue;
            }
            let key_of = |j: usize| self.sources.get(j).map_or(&[][..], |x| x.key());
            match best {
                None => best = Some(i),
                Some(b) if self.ahead(s.key(), i, key_of(b), b) => {
                    second = best;
                    best = Some(i);
                }
                Some(_) => match second {
                    Some(r) if !self.ahead(s.key(), i, key_of(r), r) => {}
                    _ => second = Some(i),
                },
            }
        }
        self.last_pick = best.map(|b| (b, second));
        best
    }

    /// Whether source `i` at `key` comes before source `j` at `other` in the scan's order:
    /// its key first in the direction, or the same key and the lower index.
    fn ahead(&self, key: &[u8], i: usize, other: &[u8], j: usize) -> bool {
        match key::compare(key, other) {
            Ordering::Equal => i < j,
            Ordering::Less => self.direction == Direction::Forward,
            Ordering::Greater => self.direction == Direction::Backward,
        }
    }

    fn advance(&mut self, i: usize) -> Result<()> {
        if self.last_pick.is_some_and(|(p, _)| p != i) {
            self.last_pick = None;
        }
        let direction = self.direction;
        if let Some(s) = self.sources.get_mut(i) {
            match direction {
                Direction::Forward => s.next()?,
                Direction::Backward => s.prev()?,
            }
        }
        Ok(())
    }

    /// Hands the next live pair to `emit`; false at the end.
    fn step_forward(&mut self, mut emit: impl FnMut(&[u8], &[u8])) -> Result<bool> {
        loop {
            let Some(i) = self.pick() else {
                return Ok(false);
            };
            // Decided on the source's own bytes: only an entry returned is copied (a scan
            // passes millions; each copy was an allocation).
            let found = {
                let Some(s) = self.sources.get(i) else {
                    return Ok(false);
                };
                match key::split(s.key()) {
                    None => false,
                    Some((user, seq, kind)) => {
                        if above_upper(user, &self.upper) {
                            return Ok(false);
                        }
                        let older = self.has_last && self.last_user.as_slice() == user;
                        if seq > self.snapshot.seq() || below_lower(user, &self.lower) || older {
                            false
                        } else {
                            self.last_user.clear();
                            self.last_user.extend_from_slice(user);
                            self.has_last = true;
                            let live = kind == ValueKind::Put as u8
                                && !self.dels.hides(user, seq, self.snapshot.seq());
                            if live {
                                emit(user, s.value());
                            }
                            live
                        }
                    }
                }
            };
            self.advance(i)?;
            if found {
                return Ok(true);
            }
        }
    }

    /// Appends the next pairs to `out` until it holds `max` of them or the scan ends: the
    /// pairs the iterator would yield, copied into `out`'s buffer instead of a pair of
    /// vectors each. After an error the scan ends.
    pub fn fill(&mut self, out: &mut Pairs, max: usize) -> Result<()> {
        let room = max.saturating_sub(out.len());
        self.fill_where(out, room, |_, _| true).map(|_| ())
    }

    /// Looks at the next `max` pairs (fewer at the end of the scan) and appends to `out`
    /// those `keep` accepts. Forwards they are looked at in place, so a pair it refuses is
    /// never copied (a scan whose rows mostly cannot join). Returns how many were looked at:
    /// fewer than `max` only at the end of the scan.
    pub fn fill_where(
        &mut self,
        out: &mut Pairs,
        max: usize,
        mut keep: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<usize> {
        let mut looked = 0;
        if self.direction == Direction::Backward {
            while looked < max {
                match self.next() {
                    Some(Ok((k, v))) => {
                        looked += 1;
                        if keep(&k, &v) {
                            out.push(&k, &v);
                        }
                    }
                    Some(Err(e)) => return self.fail(e),
                    None => break,
                }
            }
            return Ok(looked);
        }
        if !self.start()? {
            return Ok(0);
        }
        while looked < max {
            let step = self.step_forward(|k, v| {
                if keep(k, v) {
                    out.push(k, v);
                }
            });
            match step {
                Ok(true) => looked += 1,
                Ok(false) => {
                    self.done = true;
                    break;
                }
                Err(e) => return self.fail(e),
            }
        }
        Ok(looked)
    }

    /// Positions the sources on the first call; false once the scan is done.
    fn start(&mut self) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        if !self.started {
            self.started = true;
            if let Err(e) = self.position() {
                return self.fail(e);
            }
        }
        Ok(true)
    }

    fn take_pending(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        match self.pending.take() {
            Some(Pending {
                user,
                visible: Some((ValueKind::Put, value, seq)),
            }) if !self.dels.hides(&user, seq, self.snapshot.seq()) => Some((user, value)),
            _ => None,
        }
    }

    fn step_backward(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        loop {
            let Some(i) = self.pick() else {
                return Ok(self.take_pending());
            };
            let (ikey, value) = match self.sources.get(i) {
                Some(s) => (s.key().to_vec(), s.value().to_vec()),
                None => return Ok(self.take_pending()),
            };
            let Some((user, seq, kind)) = key::split(&ikey) else {
                self.advance(i)?;
                continue;
            };
            if below_lower(user, &self.lower) {
                self.done = true;
                return Ok(self.take_pending());
            }
            if self
                .pending
                .as_ref()
                .is_some_and(|p| p.user.as_slice() != user)
            {
                if let Some(out) = self.take_pending() {
                    return Ok(Some(out));
                }
            }
            self.advance(i)?;
            if above_upper(user, &self.upper) {
                continue;
            }
            let entry = self.pending.get_or_insert_with(|| Pending {
                user: user.to_vec(),
                visible: None,
            });
            // Versions of one key arrive oldest first: the last visible one wins.
            if seq <= self.snapshot.seq() {
                entry.visible = ValueKind::from_u8(kind).map(|k| (k, value, seq));
            }
        }
    }
}

impl Iterator for DbIter {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.start() {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => return Some(Err(e)),
        }
        let step = match self.direction {
            Direction::Forward => {
                let mut found = None;
                self.step_forward(|k, v| found = Some((k.to_vec(), v.to_vec())))
                    .map(|_| found)
            }
            Direction::Backward => self.step_backward(),
        };
        match step {
            Ok(Some(kv)) => Some(Ok(kv)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => Some(self.fail(e)),
        }
    }
}

/// The smallest key greater than every key starting with `prefix` (`None`: no such key).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}
