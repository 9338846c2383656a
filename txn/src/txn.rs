//! Transactions: a snapshot to read from, buffered writes, savepoints, and the commit that
//! validates against the oracle and hands the batch to the commit log.
//!
//! Isolation levels mean what they mean in PostgreSQL:
//! - READ COMMITTED: every statement reads one snapshot, taken when it begins
//!   ([`Transaction::begin_statement`]; until the first, every read takes a fresh one); reads
//!   with `get_for_update` or `get_latest`, and all reads while `set_read_latest` is on,
//!   read the latest version (after taking the row's lock, for `get_for_update`). Commits are
//!   not validated, except keys read with `get_for_update` (a write intent: a commit of that
//!   key since the read makes this commit fail).
//! - REPEATABLE READ: one snapshot for the whole transaction; a key or range written (or
//!   locked) that another transaction committed after the snapshot fails the commit (first
//!   committer wins).
//! - SERIALIZABLE: also every key and range read (scans register their whole bounds) is
//!   validated: if any changed after the snapshot, the commit fails, so write skew and
//!   predicate anomalies cannot commit. Read-only transactions never fail.
//!
//! Failures are `Error::SerializationFailure` (SQLSTATE 40001): the caller retries the whole
//! transaction.
//!
//! `get_for_update` of an existing key also takes a row lock (see `locks`): a key another open
//! transaction locked answers `Error::LockBusy`, and the caller undoes the statement, awaits
//! `take_lock_wait` (the owner's end) and runs it again, so concurrent writers of one row wait for each other, as in PostgreSQL,
//! rather than one failing at commit. Locks go when the transaction ends.

use std::collections::HashSet;
use std::ops::Bound;
use std::sync::Arc;

use orbit_lsm::{Direction, KeyspaceId, Snapshot};

use crate::log::Submitted;
use crate::pending::Pending;
use crate::shared_scan::SharedScan;

use crate::buffer::{Buffered, WriteBuffer};
use crate::iter::TxnIter;
use crate::lock_wait::LockWait;
use crate::locks::{Acquire, LockKey};
use crate::oracle::{Check, Item};
use crate::{Error, Result, Shared};

/// A range of keys.
type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// A transaction isolation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// A new snapshot per read.
    ReadCommitted,
    /// One snapshot; write-write conflicts fail the commit.
    RepeatableRead,
    /// One snapshot; read-write conflicts fail the commit too.
    Serializable,
}

impl Isolation {
    /// Parses PostgreSQL's spelling (`read committed`, `repeatable read`, `serializable`;
    /// `read uncommitted` is READ COMMITTED, as in PostgreSQL).
    pub fn from_sql(name: &str) -> Option<Isolation> {
        // The settings' own spellings, without allocating.
        match name {
            "read committed" => return Some(Isolation::ReadCommitted),
            "repeatable read" => return Some(Isolation::RepeatableRead),
            "serializable" => return Some(Isolation::Serializable),
            _ => {}
        }
        let words: Vec<String> = name
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        match words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["read", "committed"] | ["read", "uncommitted"] => Some(Isolation::ReadCommitted),
            ["repeatable", "read"] => Some(Isolation::RepeatableRead),
            ["serializable"] => Some(Isolation::Serializable),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Committed,
    RolledBack,
}

/// An open transaction. Dropping it rolls it back.
pub struct Transaction {
    shared: Arc<Shared>,
    isolation: Isolation,
    /// Where the oracle keeps commits for this transaction.
    registered: u64,
    snapshot: Snapshot,
    buf: WriteBuffer,
    /// Reads (serializable) and write intents (`get_for_update`) to validate at commit.
    checks: Vec<Check>,
    /// Name, write-buffer mark.
    savepoints: Vec<(String, usize)>,
    state: State,
    /// Row-lock owner id.
    id: u64,
    /// Row locks held.
    locked: HashSet<LockKey>,
    /// What the last `LockBusy` answer waits for, until taken.
    lock_wait: Option<LockWait>,
    /// READ COMMITTED: the running statement's snapshot (see `begin_statement`).
    statement: Option<Snapshot>,
    /// READ COMMITTED: reads take the latest commit, not the statement's snapshot (see
    /// `set_read_latest`).
    latest: bool,
    /// What a row lock another open transaction holds makes `get_for_update` do.
    lock_policy: LockPolicy,
    /// Bumped by every change to the write buffer (see [`Transaction::read_view`]).
    generation: u64,
}

/// What a transaction's reads see at one moment (see [`Transaction::read_view`]): two reads
/// of one transaction under equal views see the same data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadView {
    seq: u64,
    generation: u64,
}

/// What `get_for_update` does when another open transaction holds the row's lock: PostgreSQL's
/// `FOR UPDATE` (wait), `FOR UPDATE NOWAIT` and `FOR UPDATE SKIP LOCKED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockPolicy {
    /// [`Error::LockBusy`]: the statement is undone and run again once the owner ends.
    #[default]
    Wait,
    /// [`Error::LockNotAvailable`] at once.
    NoWait,
    /// [`Error::LockSkipped`]: the caller leaves the row out.
    SkipLocked,
}

impl Transaction {
    pub(crate) fn begin(shared: Arc<Shared>, isolation: Isolation) -> Result<Transaction> {
        let visible = shared.db.visible_seq();
        let (registered, must_see, id) = shared.oracle.begin(visible);
        // Writes the oracle did not record (no transaction was open) must be in the snapshot.
        if let Err(e) = shared.db.wait_visible(must_see) {
            shared.oracle.end(registered, id, shared.db.visible_seq());
            return Err(e.into());
        }
        let snapshot = shared.db.snapshot();
        Ok(Transaction {
            shared,
            isolation,
            registered,
            snapshot,
            buf: WriteBuffer::default(),
            checks: Vec::new(),
            savepoints: Vec::new(),
            state: State::Open,
            id,
            locked: HashSet::new(),
            lock_wait: None,
            statement: None,
            latest: false,
            lock_policy: LockPolicy::Wait,
            generation: 0,
        })
    }

    /// The isolation level.
    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    /// Whether the transaction has buffered writes.
    pub fn has_writes(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Whether the transaction has buffered writes in `keyspace`.
    pub fn has_writes_in(&self, keyspace: KeyspaceId) -> bool {
        self.buf.touches(keyspace)
    }

    /// The commit log's epoch (see [`TxnDb::epoch`](crate::TxnDb::epoch)).
    pub fn epoch(&self) -> u64 {
        self.shared.log.epoch()
    }

    /// The sequence number the transaction's reads see: its snapshot's, or under READ
    /// COMMITTED the running statement's (the latest visible one before the first statement).
    pub fn read_seq(&self) -> u64 {
        match (self.isolation, &self.statement) {
            (Isolation::ReadCommitted, Some(s)) => s.seq(),
            (Isolation::ReadCommitted, None) => self.shared.db.visible_seq(),
            _ => self.snapshot.seq(),
        }
    }

    /// What the reads see now: the snapshot's sequence number and the state of the write
    /// buffer. Equal views mean equal answers to the same read, so a caller may keep what it
    /// read (a correlated subquery's index lookups) while the view stays the same. None while
    /// reads take the latest commit (`set_read_latest`), which no view pins.
    pub fn read_view(&self) -> Option<ReadView> {
        (!self.latest).then(|| ReadView {
            seq: self.read_seq(),
            generation: self.generation,
        })
    }

    /// Starts a statement: under READ COMMITTED its reads from now on see one snapshot, taken
    /// now, as PostgreSQL's statements do (a scan read in chunks, or the tables of a join,
    /// never mix commits made while the statement ran). Reads with `get_for_update` still
    /// read the latest version. No effect at the other levels (one snapshot throughout).
    pub fn begin_statement(&mut self) {
        if self.isolation == Isolation::ReadCommitted {
            self.statement = Some(self.shared.db.snapshot());
        }
    }

    fn check_open(&self) -> Result<()> {
        match self.state {
            State::Open => Ok(()),
            State::Committed => Err(Error::Finished("committed")),
            State::RolledBack => Err(Error::Finished("rolled back")),
        }
    }

    /// Under READ COMMITTED, makes the reads from now on until it is turned off take the
    /// latest commit rather than the statement's snapshot: for a search that must see every
    /// row committed so far (a foreign key's referencing or referenced rows, as PostgreSQL's
    /// referential checks read them). Returns the previous setting. No effect at the other
    /// levels.
    pub fn set_read_latest(&mut self, on: bool) -> bool {
        std::mem::replace(&mut self.latest, on)
    }

    /// The snapshot a read uses: the transaction's; under READ COMMITTED the statement's, or
    /// for a write intent (`latest`), while reads take the latest, or before any statement
    /// a fresh one.
    fn read_snapshot(&self, latest: bool) -> Snapshot {
        match (self.isolation, &self.statement) {
            (Isolation::ReadCommitted, Some(s)) if !latest && !self.latest => s.clone(),
            (Isolation::ReadCommitted, _) => self.shared.db.snapshot(),
            _ => self.snapshot.clone(),
        }
    }

    fn read(&mut self, keyspace: KeyspaceId, key: &[u8], intent: bool) -> Result<Option<Vec<u8>>> {
        self.read_at(keyspace, key, intent, intent)
    }

    /// A read of `key`, taking its lock for an `intent`, at the latest snapshot if `latest`.
    fn read_at(
        &mut self,
        keyspace: KeyspaceId,
        key: &[u8],
        intent: bool,
        latest: bool,
    ) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        match self.buf.lookup(keyspace, key) {
            Buffered::Written(v) => return Ok(v),
            Buffered::RangeDeleted => return Ok(None),
            Buffered::Untouched => {}
        }
        if intent {
            self.lock_row(keyspace, key)?;
        }
        // Taken after the lock, so read committed reads the version the lock holder left.
        let snap = self.read_snapshot(latest);
        let item = || Item::Key((keyspace, key.to_vec()));
        // Under a transaction snapshot, a row another transaction committed since is a
        // serialization failure now, as PostgreSQL reports it at the UPDATE (read committed
        // reads the row's latest version instead).
        if intent
            && self.isolation != Isolation::ReadCommitted
            && self.shared.oracle.changed_since(&item(), snap.seq())
        {
            return Err(Error::SerializationFailure("concurrent update"));
        }
        let value = self.shared.db.get_at(keyspace, key, &snap)?;
        if intent || self.isolation == Isolation::Serializable {
            self.checks.push(Check {
                item: item(),
                read: !intent,
                since: snap.seq(),
            });
        }
        Ok(value)
    }

    /// Takes the row lock of `key` if the key exists (a key being created is not locked: two
    /// creators of one key still conflict at commit).
    fn lock_row(&mut self, keyspace: KeyspaceId, key: &[u8]) -> Result<()> {
        let lock_key = (keyspace, key.to_vec());
        if self.locked.contains(&lock_key) {
            return Ok(());
        }
        let latest = self.shared.db.snapshot();
        if self.shared.db.get_at(keyspace, key, &latest)?.is_none() {
            return Ok(());
        }
        let visible = self.shared.db.visible_seq();
        let wait = self.lock_policy == LockPolicy::Wait;
        match self.shared.locks.acquire(self.id, &lock_key, visible, wait) {
            Acquire::Granted => {
                self.locked.insert(lock_key);
                Ok(())
            }
            Acquire::Held => Err(match self.lock_policy {
                LockPolicy::SkipLocked => Error::LockSkipped,
                _ => Error::LockNotAvailable,
            }),
            // Under every policy a lock released by a commit not yet visible is waited for:
            // it is free in a moment.
            Acquire::Busy(blocker) => {
                self.lock_wait = Some(LockWait::new(&self.shared.db, blocker));
                Err(Error::LockBusy)
            }
            Acquire::Deadlock => Err(Error::Deadlock),
        }
    }

    /// Sets what `get_for_update` does when another open transaction holds the row's lock
    /// (for the statement about to run); returns the policy it replaces.
    pub fn set_lock_policy(&mut self, policy: LockPolicy) -> LockPolicy {
        std::mem::replace(&mut self.lock_policy, policy)
    }

    /// After [`Error::LockBusy`]: what to await before running the statement again (the
    /// lock's owner ending, then its commit becoming visible). `None` if nothing waits.
    pub fn take_lock_wait(&mut self) -> Option<LockWait> {
        self.lock_wait.take()
    }

    /// Forgets that this transaction waits for a lock (its statement gave up waiting).
    pub fn stop_waiting(&self) {
        self.shared.locks.stop_waiting(self.id);
    }

    /// The value of `key`: this transaction's own write, else the snapshot's.
    pub fn get(&mut self, keyspace: KeyspaceId, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.read(keyspace, key, false)
    }

    /// Like `get`, but under READ COMMITTED the latest committed version rather than the
    /// statement's snapshot, without a lock: for what a write must check against whatever
    /// was committed last (a unique index's entry, a row's bookkeeping), as `get_for_update`
    /// reads a row.
    pub fn get_latest(&mut self, keyspace: KeyspaceId, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.read_at(keyspace, key, false, true)
    }

    /// Like `get`, and registers a write intent (SQL `SELECT ... FOR UPDATE`): if another
    /// transaction commits `key` after this read, this transaction's commit fails.
    pub fn get_for_update(&mut self, keyspace: KeyspaceId, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.read(keyspace, key, true)
    }

    /// Pairs of `keyspace` within `range`, in `direction`, including this transaction's own
    /// writes.
    pub fn scan(
        &mut self,
        keyspace: KeyspaceId,
        range: (Bound<Vec<u8>>, Bound<Vec<u8>>),
        direction: Direction,
    ) -> Result<TxnIter> {
        self.scan_in(keyspace, None, range, direction)
    }

    /// A scan (see [`Transaction::scan`]); one that [`Transaction::rescan`] may move within
    /// `scope`, if given.
    fn scan_in(
        &mut self,
        keyspace: KeyspaceId,
        scope: Option<KeyRange>,
        range: KeyRange,
        direction: Direction,
    ) -> Result<TxnIter> {
        self.check_open()?;
        let snap = self.read_snapshot(false);
        self.check_range(keyspace, &range, snap.seq());
        let local = self.buf.writes_in(keyspace, &range.0, &range.1);
        let ranges = self.buf.ranges_of(keyspace);
        let db = &self.shared.db;
        Ok(match scope {
            None => TxnIter::new(
                db.iter(keyspace, range, direction, &snap)?,
                local,
                ranges,
                direction,
            ),
            Some(scope) => {
                let base = db.iter_scoped(keyspace, scope, range, direction, &snap)?;
                TxnIter::new(base, local, ranges, direction).scoped(keyspace)
            }
        })
    }

    /// As [`Transaction::scan`] (forwards), for an iterator that [`Transaction::rescan`]
    /// may move to other ranges within `scope`: lookups made one after another (an index
    /// nested loop's) through one iterator.
    pub fn scan_scoped(
        &mut self,
        keyspace: KeyspaceId,
        scope: (Bound<Vec<u8>>, Bound<Vec<u8>>),
        range: (Bound<Vec<u8>>, Bound<Vec<u8>>),
    ) -> Result<TxnIter> {
        self.scan_in(keyspace, Some(scope), range, Direction::Forward)
    }

    /// Moves `iter`, made by [`Transaction::scan_scoped`], to `range` of `keyspace`, to
    /// read it as [`Transaction::scan`] would now (the transaction's own writes as they are
    /// now included). False, with `iter` unchanged, when it cannot: another keyspace, a
    /// range outside its scope, an error that ended its last read, or reads that now take
    /// a snapshot at another sequence number than its own (a new statement's under READ
    /// COMMITTED, once anything was committed); the caller makes a new one.
    pub fn rescan(
        &mut self,
        iter: &mut TxnIter,
        keyspace: KeyspaceId,
        range: &(Bound<Vec<u8>>, Bound<Vec<u8>>),
    ) -> Result<bool> {
        self.check_open()?;
        // The sequence number of the snapshot `scan` would read at now.
        let seq = match self.isolation == Isolation::ReadCommitted && self.latest {
            true => self.shared.db.visible_seq(),
            false => self.read_seq(),
        };
        if iter.keyspace() != Some(keyspace) || iter.seq() != seq {
            return Ok(false);
        }
        let local = self.buf.writes_in(keyspace, &range.0, &range.1);
        let ranges = self.buf.ranges_of(keyspace);
        if !iter.reseek(range, local, ranges) {
            return Ok(false);
        }
        self.check_range(keyspace, range, seq);
        Ok(true)
    }

    /// Under SERIALIZABLE, `range` of `keyspace`, read at `since`, is checked at commit.
    fn check_range(
        &mut self,
        keyspace: KeyspaceId,
        range: &(Bound<Vec<u8>>, Bound<Vec<u8>>),
        since: u64,
    ) {
        if self.isolation == Isolation::Serializable {
            self.checks.push(Check {
                item: Item::Range(keyspace, range.0.clone(), range.1.clone()),
                read: true,
                since,
            });
        }
    }

    /// `range` of `keyspace` as this transaction reads it, for other threads to scan
    /// ([`SharedScan`]); None if the transaction has written in the keyspace (its own writes
    /// would have to be merged in: scan it with [`Transaction::scan`]).
    pub fn shared_scan(
        &mut self,
        keyspace: KeyspaceId,
        range: (Bound<Vec<u8>>, Bound<Vec<u8>>),
    ) -> Result<Option<SharedScan>> {
        self.check_open()?;
        if self.buf.touches(keyspace) {
            return Ok(None);
        }
        let snapshot = self.read_snapshot(false);
        if self.isolation == Isolation::Serializable {
            self.checks.push(Check {
                item: Item::Range(keyspace, range.0.clone(), range.1.clone()),
                read: true,
                since: snapshot.seq(),
            });
        }
        Ok(Some(SharedScan {
            db: Arc::clone(&self.shared.db),
            keyspace,
            snapshot,
            range,
        }))
    }

    /// Pairs of `keyspace` whose keys start with `prefix`.
    pub fn scan_prefix(
        &mut self,
        keyspace: KeyspaceId,
        prefix: &[u8],
        direction: Direction,
    ) -> Result<TxnIter> {
        let upper = prefix_successor(prefix).map_or(Bound::Unbounded, Bound::Excluded);
        self.scan(
            keyspace,
            (Bound::Included(prefix.to_vec()), upper),
            direction,
        )
    }

    /// Sets `key` to `value` (visible to this transaction now, to others after commit).
    pub fn put(&mut self, keyspace: KeyspaceId, key: &[u8], value: &[u8]) -> Result<()> {
        self.check_open()?;
        self.generation += 1;
        self.buf.write(keyspace, key, Some(value));
        Ok(())
    }

    /// Writes `pairs`, as many `put`s would: pairs whose keys ascend strictly are merged
    /// into the buffer as one run (an index build's entries, sorted), far cheaper than
    /// one `put` each.
    pub fn put_sorted(
        &mut self,
        keyspace: KeyspaceId,
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<()> {
        self.check_open()?;
        self.generation += 1;
        self.buf.write_sorted(keyspace, pairs);
        Ok(())
    }

    /// Deletes `key`.
    pub fn delete(&mut self, keyspace: KeyspaceId, key: &[u8]) -> Result<()> {
        self.check_open()?;
        self.generation += 1;
        self.buf.write(keyspace, key, None);
        Ok(())
    }

    /// Deletes every key in `[start, end)`.
    pub fn delete_range(&mut self, keyspace: KeyspaceId, start: &[u8], end: &[u8]) -> Result<()> {
        self.check_open()?;
        self.generation += 1;
        self.buf.delete_range(keyspace, start, end);
        Ok(())
    }

    /// Marks a savepoint (a later one with the same name hides this one, as in PostgreSQL).
    pub fn savepoint(&mut self, name: &str) -> Result<()> {
        self.check_open()?;
        self.savepoints.push((name.to_string(), self.buf.mark()));
        Ok(())
    }

    fn find_savepoint(&self, name: &str) -> Result<usize> {
        self.savepoints
            .iter()
            .rposition(|(n, _)| n == name)
            .ok_or_else(|| Error::NoSuchSavepoint(name.to_string()))
    }

    /// Undoes the writes made since savepoint `name`; the savepoint stays (later ones go).
    pub fn rollback_to(&mut self, name: &str) -> Result<()> {
        self.check_open()?;
        let i = self.find_savepoint(name)?;
        if let Some((_, mark)) = self.savepoints.get(i) {
            self.buf.rollback_to(*mark);
            self.generation += 1;
        }
        self.savepoints.truncate(i + 1);
        Ok(())
    }

    /// Forgets savepoint `name` and every later one, keeping their writes.
    pub fn release(&mut self, name: &str) -> Result<()> {
        self.check_open()?;
        let i = self.find_savepoint(name)?;
        self.savepoints.truncate(i);
        if self.savepoints.is_empty() {
            self.buf.forget_undo();
        }
        Ok(())
    }

    /// Ends the transaction; `commit` is its commit's sequence number (None: nothing
    /// committed), which its released row locks wait to see visible.
    /// Ends an open transaction but keeps its row locks; returns them (the caller releases
    /// them with [`LockTable::release`](crate::locks::LockTable::release)).
    fn end_keeping_locks(&mut self, state: State) -> Vec<LockKey> {
        let mut locked = Vec::new();
        if self.state == State::Open {
            self.shared
                .oracle
                .end(self.registered, self.id, self.shared.db.visible_seq());
            locked = self.locked.drain().collect();
        }
        self.state = state;
        locked
    }

    fn finish(&mut self, state: State, commit: Option<u64>) {
        if self.state == State::Open {
            self.shared
                .oracle
                .end(self.registered, self.id, self.shared.db.visible_seq());
            let locked: Vec<LockKey> = self.locked.drain().collect();
            self.shared.locks.release(self.id, &locked, commit);
        }
        self.state = state;
    }

    /// Validates and submits the commit; the returned write is durable and visible once waited
    /// for or awaited (`None`: nothing to write). The transaction is finished either way.
    pub fn commit_pending(&mut self) -> Result<Option<Pending>> {
        self.check_open()?;
        if self.buf.is_empty() {
            self.finish(State::Committed, None);
            return Ok(None);
        }
        let since = self.snapshot.seq();
        // Write intents always count; reads only under SERIALIZABLE (they are recorded only
        // then, so this keeps every recorded check).
        let mut checks: Vec<Check> = self
            .checks
            .iter()
            .filter(|c| !c.read || self.isolation == Isolation::Serializable)
            .cloned()
            .collect();
        if self.isolation != Isolation::ReadCommitted {
            let (keys, ranges) = self.buf.footprint();
            checks.extend(keys.into_iter().map(|k| Check {
                item: Item::Key(k),
                read: false,
                since,
            }));
            checks.extend(ranges.into_iter().map(|r| Check {
                item: Item::Range(r.keyspace, Bound::Included(r.start), Bound::Excluded(r.end)),
                read: false,
                since,
            }));
        }
        let batch = self.buf.take_batch();
        let shared = Arc::clone(&self.shared);
        let result = shared.oracle.commit(
            &checks,
            || crate::footprint(&batch),
            shared.db.visible_seq(),
            || shared.log.submit(&batch, Some(since)),
        );
        match result {
            Ok((Submitted::Local(ordered), _)) => {
                let pending = ordered.apply();
                self.finish(State::Committed, pending.seq());
                Ok(Some(Pending::Local(pending)))
            }
            Ok((Submitted::Replicated(done), provisional)) => {
                // Row locks are held until the commit completes: the next owner must read
                // the committed row, and its sequence number is known only then.
                let locked = self.end_keeping_locks(State::Committed);
                let id = self.id;
                done.on_complete(move |seq| {
                    let visible = shared.db.visible_seq();
                    if let Some(p) = provisional {
                        shared.oracle.settle(p, seq, visible);
                    }
                    shared.locks.release(id, &locked, seq);
                });
                Ok(Some(Pending::Replicated(done)))
            }
            Err(e) => {
                self.finish(State::RolledBack, None);
                Err(e)
            }
        }
    }

    /// Commits: validates, makes the writes durable and visible, and returns the commit
    /// sequence number (`None` if there was nothing to write).
    pub fn commit(mut self) -> Result<Option<u64>> {
        match self.commit_pending()? {
            Some(p) => {
                let seq = p.wait()?;
                // Now visible: no later transaction can conflict with it.
                self.shared.oracle.gc(self.shared.db.visible_seq());
                Ok(Some(seq))
            }
            None => Ok(None),
        }
    }

    /// Discards the transaction's writes.
    pub fn rollback(mut self) {
        self.finish(State::RolledBack, None);
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        self.finish(State::RolledBack, None);
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
