//! How Redis data lives in the engine, and the rules every command follows to touch it.
//!
//! Two keyspaces: `resp:meta` holds one entry per Redis key, `db u8 ‖ key` →
//! `type u8 ‖ expire-at ms u64 LE (0 = none) ‖ payload`; a string's payload is its value, a
//! hash's its field count. `resp:sub` holds the members of collection types,
//! `db u8 ‖ key length u32 BE ‖ key ‖ member` → value, so one key's members are one range:
//! deleting a collection is a meta delete plus one range delete (O(1), the engine drops the
//! members in compaction), and so is FLUSHDB. `resp:tslog` holds the time series' write log
//! (`commands::timeseries::head`): appends to open chunks, one record per write batch.
//!
//! Concurrency, the way Redis users expect it: every write of a key happens under that key's
//! lock stripe (held while reading and submitting, never across an fsync), and reads see the
//! latest submitted write (`Db::get_latest`). A connection sends its replies only once every
//! write assigned before its commands ran is durable (`Store::barrier`): like Redis with
//! `appendfsync always`, no client ever sees data a crash could take back, and concurrent
//! writers share fsyncs (group commit).
//! A run of joinable commands from one pipeline is one write (`commands::runs`), its keys'
//! stripes locked together as MSET locks them. A run on one key whose stripe another worker
//! holds is queued for that worker to run with its own (`crate::combine`), rather than waited
//! for.
//!
//! Expiry: an expired key reads as missing (checked on every access); a compaction filter drops
//! expired strings from disk; writes that recreate an expired collection first range-delete
//! its old members.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use orbit_lsm::{CompactionDecision, CompactionFilter, Db, KeyspaceId, WriteBatch};
use orbit_txn::{Completion, Pending};

use crate::combine::Queues;
use crate::inflight::{InFlight, Mark};
use crate::members::MemberDbs;
use orbit_txn::TxnDb;

use crate::commands::timeseries::head::Cutoffs;
use crate::commands::timeseries::TsState;
use crate::Result;

/// Databases `SELECT` can pick (Redis's default).
pub const DATABASES: usize = 16;
const STRIPES: usize = 1024;
/// Buckets replicated writes in flight are recorded in (`crate::inflight`): finer than the
/// stripes (a key's stripe is its bucket modulo `STRIPES`), so a command waits for writes in
/// flight on its own keys, and rarely for another key's.
const BUCKETS: usize = STRIPES * 64;
const HEADER: usize = 9;
/// Where a new list's positions start: pushes at either end never run out.
pub const LIST_MIDDLE: u64 = 1 << 63;

/// The type of a Redis value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    String = 0,
    Hash = 1,
    List = 2,
    Set = 3,
    ZSet = 4,
    /// A RedisTimeSeries series (`commands::timeseries`).
    TimeSeries = 5,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        match b {
            0 => Some(Kind::String),
            1 => Some(Kind::Hash),
            2 => Some(Kind::List),
            3 => Some(Kind::Set),
            4 => Some(Kind::ZSet),
            5 => Some(Kind::TimeSeries),
            _ => None,
        }
    }

    /// The name `TYPE` reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Hash => "hash",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::ZSet => "zset",
            Kind::TimeSeries => "TSDB-TYPE",
        }
    }
}

/// Members of a collection: (member, value) pairs in member order.
pub type Members = Vec<(Vec<u8>, Vec<u8>)>;

/// A key's metadata entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    /// Unix milliseconds; 0 = no expiry.
    pub expire_at: u64,
    pub payload: Vec<u8>,
}

impl Meta {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER + self.payload.len());
        v.push(self.kind as u8);
        v.extend_from_slice(&self.expire_at.to_le_bytes());
        v.extend_from_slice(&self.payload);
        v
    }

    pub fn decode(v: &[u8]) -> Option<Meta> {
        let kind = Kind::from_u8(*v.first()?)?;
        let expire_at = u64::from_le_bytes(v.get(1..HEADER)?.try_into().ok()?);
        Some(Meta {
            kind,
            expire_at,
            payload: v.get(HEADER..)?.to_vec(),
        })
    }

    pub fn expired(&self, now_ms: u64) -> bool {
        self.expire_at != 0 && self.expire_at <= now_ms
    }

    /// A list's head and tail (exclusive) positions.
    pub fn list_bounds(&self) -> (u64, u64) {
        let word = |i: usize| {
            self.payload
                .get(i..i + 8)
                .and_then(|b| b.try_into().ok())
                .map_or(LIST_MIDDLE, u64::from_le_bytes)
        };
        (word(0), word(8))
    }

    /// A hash's or set's member count.
    pub fn count(&self) -> u64 {
        self.payload
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Drops expired strings during compaction (collections go by range delete), and time series'
/// sealed chunks wholly older than their series' retention cutoff (as of its last checkpoint:
/// `commands::timeseries::head::Cutoffs`).
#[derive(Debug)]
pub struct ExpiryFilter {
    meta: std::sync::atomic::AtomicU32,
    sub: std::sync::atomic::AtomicU32,
    cutoffs: std::sync::OnceLock<Arc<Cutoffs>>,
}

impl ExpiryFilter {
    /// A filter; it acts once told the keyspaces' ids (`Store::open`).
    pub fn new() -> Arc<ExpiryFilter> {
        Arc::new(ExpiryFilter {
            meta: std::sync::atomic::AtomicU32::new(u32::MAX),
            sub: std::sync::atomic::AtomicU32::new(u32::MAX),
            cutoffs: std::sync::OnceLock::new(),
        })
    }

    /// Whether `key` (of `resp:sub`) is a sealed chunk older than its series' cutoff.
    fn past_retention(&self, key: &[u8]) -> bool {
        let Some(cutoffs) = self.cutoffs.get().filter(|c| !c.is_empty()) else {
            return false;
        };
        let len = key.get(1..5).and_then(|b| <[u8; 4]>::try_from(b).ok());
        let (Some(&db), Some(len)) = (key.first(), len) else {
            return false;
        };
        let len = u32::from_be_bytes(len) as usize;
        let (Some(name), Some(member)) = (key.get(5..5 + len), key.get(5 + len..)) else {
            return false;
        };
        let Some(last) = crate::commands::timeseries::samples::chunk_member_last(member) else {
            return false;
        };
        cutoffs
            .get(&Store::meta_key(db, name))
            .is_some_and(|cut| last < cut)
    }
}

impl CompactionFilter for ExpiryFilter {
    fn filter(&self, keyspace: KeyspaceId, key: &[u8], value: &[u8]) -> CompactionDecision {
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        if keyspace == self.sub.load(relaxed) {
            return match self.past_retention(key) {
                true => CompactionDecision::Remove,
                false => CompactionDecision::Keep,
            };
        }
        if keyspace != self.meta.load(relaxed) {
            return CompactionDecision::Keep;
        }
        match Meta::decode(value) {
            Some(m) if m.kind == Kind::String && m.expired(now_ms()) => CompactionDecision::Remove,
            _ => CompactionDecision::Keep,
        }
    }
}

std::thread_local! {
    /// The stripe this thread holds for a combined run (`Store::try_hold`; `usize::MAX`:
    /// none): the run's own `Store::lock` calls pass over it.
    static HOLDING: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

/// Stripes locked by a command, until dropped; then each stripe's queued runs hear of it
/// (`crate::combine`).
pub struct Held<'a> {
    guards: Vec<MutexGuard<'a, ()>>,
    stripes: Vec<usize>,
    queues: &'a Queues,
    _mark: Mark,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.guards.clear();
        self.queues.let_go(&self.stripes);
    }
}

/// A stripe held by a run that combines others' (`crate::combine`), until dropped: while
/// held, this thread's `Store::lock` calls pass over it.
pub struct Hold<'a> {
    guard: Option<MutexGuard<'a, ()>>,
    stripe: usize,
    queues: &'a Queues,
}

impl Hold<'_> {
    /// The stripe held.
    pub fn stripe(&self) -> usize {
        self.stripe
    }
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        HOLDING.with(|h| h.set(usize::MAX));
        self.guard = None;
        self.queues.let_go(&[self.stripe]);
    }
}

/// Redis data over one database.
pub struct Store {
    txn: TxnDb,
    meta: KeyspaceId,
    sub: KeyspaceId,
    tslog: KeyspaceId,
    stripes: Vec<Mutex<()>>,
    /// Runs queued on each stripe for its holder (`crate::combine`).
    queues: Queues,
    /// Replicated writes in flight per bucket (`crate::inflight`).
    inflight: InFlight,
    /// Databases that may hold collection members (`crate::members`).
    members: MemberDbs,
    /// Time-series state: the label index and the series' heads.
    pub ts: TsState,
}

fn keyspace(db: &Db, name: &str) -> Result<KeyspaceId> {
    Ok(db.open_keyspace(name)?)
}

impl Store {
    /// Opens the Redis keyspaces of `txn`'s database (creating them), and points `filter`
    /// (installed in the database's options) at them.
    pub fn open(txn: TxnDb, filter: Option<&ExpiryFilter>) -> Result<Store> {
        let meta = keyspace(txn.db(), "resp:meta")?;
        let sub = keyspace(txn.db(), "resp:sub")?;
        let tslog = keyspace(txn.db(), "resp:tslog")?;
        if let Some(f) = filter {
            f.meta.store(meta, std::sync::atomic::Ordering::Relaxed);
        }
        let members = MemberDbs::open(txn.db(), sub, !txn.is_replicated())?;
        let mut store = Store {
            txn,
            meta,
            sub,
            tslog,
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            queues: Queues::new(STRIPES),
            inflight: InFlight::new(BUCKETS),
            members,
            ts: TsState::default(),
        };
        store.ts = TsState::rebuild(&store)?;
        if let Some(f) = filter {
            // The time series' cutoffs first: the filter then knows the sub keyspace.
            let _ = f.cutoffs.set(Arc::clone(&store.ts.heads.cutoffs));
            f.sub.store(sub, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(store)
    }

    /// The database underneath.
    pub fn db(&self) -> &Arc<Db> {
        self.txn.db()
    }

    /// See `TxnDb::read_stamp`.
    pub fn read_stamp(&self) -> u64 {
        self.txn.read_stamp()
    }

    /// See `TxnDb::leadership`.
    pub fn leadership(&self) -> orbit_txn::Leadership {
        self.txn.leadership()
    }

    /// See `TxnDb::read_gate`.
    pub fn read_gate(&self, stamp: u64, follower_ok: bool) -> orbit_txn::ReadGate {
        self.txn.read_gate(stamp, follower_ok)
    }

    /// See `TxnDb::read_mark`.
    pub fn read_mark(&self) -> u64 {
        self.txn.read_mark()
    }

    /// See `TxnDb::read_intact`.
    pub fn read_intact(&self, mark: u64) -> orbit_txn::Result<()> {
        self.txn.read_intact(mark)
    }

    /// The commit log's epoch (`TxnDb::epoch`): moves when another node's writes arrive.
    pub fn epoch(&self) -> u64 {
        self.txn.epoch()
    }

    pub fn meta_key(db: u8, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(1 + key.len());
        k.push(db);
        k.extend_from_slice(key);
        k
    }

    /// The prefix of a collection's members.
    pub fn sub_prefix(db: u8, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(5 + key.len());
        k.push(db);
        k.extend_from_slice(&u32::try_from(key.len()).unwrap_or(u32::MAX).to_be_bytes());
        k.extend_from_slice(key);
        k
    }

    pub fn sub_key(db: u8, key: &[u8], member: &[u8]) -> Vec<u8> {
        let mut k = Store::sub_prefix(db, key);
        k.extend_from_slice(member);
        k
    }

    pub fn meta_keyspace(&self) -> KeyspaceId {
        self.meta
    }

    pub fn sub_keyspace(&self) -> KeyspaceId {
        self.sub
    }

    /// The time series' write log (`commands::timeseries::head`).
    pub fn tslog_keyspace(&self) -> KeyspaceId {
        self.tslog
    }

    /// Every record of the time series' write log: (position, record), in position order.
    pub fn tslog_records(&self) -> Result<Vec<(u64, Vec<u8>)>> {
        let snap = self.db().snapshot_latest();
        let mut out = Vec::new();
        let all = (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded);
        for kv in self
            .db()
            .iter(self.tslog, all, orbit_lsm::Direction::Forward, &snap)?
        {
            let (k, v) = kv?;
            if let Ok(pos) = <[u8; 8]>::try_from(k.as_slice()) {
                out.push((u64::from_be_bytes(pos), v));
            }
        }
        Ok(out)
    }

    /// Locks every stripe (FLUSHDB, FLUSHALL: no write of any key runs meanwhile).
    pub fn lock_all(&self) -> Held<'_> {
        let held = HOLDING.with(std::cell::Cell::get);
        let stripes: Vec<usize> = (0..STRIPES).filter(|&i| i != held).collect();
        self.held(stripes, (0..BUCKETS).collect())
    }

    /// Locks `stripes` (sorted), marking `buckets` held.
    fn held(&self, stripes: Vec<usize>, buckets: Vec<usize>) -> Held<'_> {
        let guards = stripes
            .iter()
            .filter_map(|&i| self.stripes.get(i))
            .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()))
            .collect();
        Held {
            guards,
            stripes,
            queues: &self.queues,
            _mark: self.inflight.hold(buckets),
        }
    }

    /// `stripe`, if no one holds it: held for a run that combines the runs queued on it
    /// (`crate::combine`).
    pub fn try_hold(&self, stripe: usize) -> Option<Hold<'_>> {
        let guard = match self.stripes.get(stripe)?.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        HOLDING.with(|h| h.set(stripe));
        Some(Hold {
            guard: Some(guard),
            stripe,
            queues: &self.queues,
        })
    }

    /// The runs queued on the stripes (`crate::combine`).
    pub(crate) fn queues(&self) -> &Queues {
        &self.queues
    }

    /// The lock stripe of `key` of database `db`.
    pub fn stripe_of(db: u8, key: &[u8]) -> usize {
        Store::bucket(db, key) % STRIPES
    }

    /// Whether writes go through a replicated log (`TxnDb::is_replicated`).
    pub fn is_replicated(&self) -> bool {
        self.txn.is_replicated()
    }

    /// Locks the stripes of `keys` (of database `db`), in a fixed order; once none of the
    /// keys' buckets has a replicated write in flight. The stripe this thread holds for a
    /// combined run (`Store::try_hold`) is passed over: the run's commands lock their key.
    pub fn lock(&self, db: u8, keys: &[&[u8]]) -> Held<'_> {
        let pairs: Vec<(u8, &[u8])> = keys.iter().map(|k| (db, *k)).collect();
        self.lock_in(&pairs)
    }

    /// [`Store::lock`] for keys of several databases, (database, key) each (COPY ... DB).
    pub fn lock_in(&self, keys: &[(u8, &[u8])]) -> Held<'_> {
        let mut buckets: Vec<usize> = keys.iter().map(|(db, k)| Store::bucket(*db, k)).collect();
        buckets.sort_unstable();
        buckets.dedup();
        let held = HOLDING.with(std::cell::Cell::get);
        let mut idx: Vec<usize> = buckets
            .iter()
            .map(|b| b % STRIPES)
            .filter(|&i| i != held)
            .collect();
        idx.sort_unstable();
        idx.dedup();
        self.held(idx, buckets)
    }

    /// A key's in-flight bucket; its lock stripe is this modulo `STRIPES`.
    fn bucket(db: u8, key: &[u8]) -> usize {
        // FNV-1a of the metadata key (`meta_key`: the database, then the key), unallocated.
        (fnv1a(fnv1a(FNV_OFFSET, &[db]), key) % BUCKETS as u64) as usize
    }

    /// The latest replicated write still in flight on the buckets of `keys`, (database, key)
    /// each (as `commands::keys_in` gives them).
    pub fn in_flight(&self, keys: &[(u8, &[u8])]) -> Option<Arc<Completion>> {
        self.inflight
            .on(keys.iter().map(|(db, k)| Store::bucket(*db, k)))
    }

    /// A key's live metadata (expired keys read as missing), including unsynced writes.
    pub fn meta(&self, db: u8, key: &[u8], now: u64) -> Result<Option<Meta>> {
        Ok(self.meta_raw(db, key)?.filter(|m| !m.expired(now)))
    }

    /// The metadata of each of `keys` (expired ones as None), in order: one batched lookup
    /// (`Db::get_latest_many`: the keys' cache misses overlap), for MGET and runs of GETs.
    pub fn meta_many(&self, db: u8, keys: &[&[u8]], now: u64) -> Result<Vec<Option<Meta>>> {
        Ok(self
            .meta_raw_many(db, keys)?
            .into_iter()
            .map(|m| m.filter(|m| !m.expired(now)))
            .collect())
    }

    /// [`Store::meta_many`] with expired metadata kept (as `meta_raw`): for runs of writes.
    pub fn meta_raw_many(&self, db: u8, keys: &[&[u8]]) -> Result<Vec<Option<Meta>>> {
        let stored: Vec<Vec<u8>> = keys.iter().map(|k| Store::meta_key(db, k)).collect();
        let refs: Vec<&[u8]> = stored.iter().map(Vec::as_slice).collect();
        Ok(self
            .db()
            .get_latest_many(self.meta, &refs)?
            .into_iter()
            .map(|raw| raw.as_deref().and_then(Meta::decode))
            .collect())
    }

    /// A key's metadata, expired or not.
    pub fn meta_raw(&self, db: u8, key: &[u8]) -> Result<Option<Meta>> {
        let Some(raw) = self.db().get_latest(self.meta, &Store::meta_key(db, key))? else {
            return Ok(None);
        };
        Ok(Meta::decode(&raw))
    }

    /// A member of a collection.
    pub fn member(&self, db: u8, key: &[u8], member: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .db()
            .get_latest(self.sub, &Store::sub_key(db, key, member))?)
    }

    /// Which of `members` a collection has stored, found in one batched lookup
    /// (`Db::get_latest_many`: their memtable cache misses overlap).
    pub fn stored_of<'m>(
        &self,
        db: u8,
        key: &[u8],
        members: &[&'m [u8]],
    ) -> Result<std::collections::HashSet<&'m [u8]>> {
        let found = self.member_values(db, key, members)?;
        Ok(members
            .iter()
            .zip(found)
            .filter_map(|(m, v)| v.map(|_| *m))
            .collect())
    }

    /// The stored value of each of `members` of a collection, in order, found in one batched
    /// lookup (as `stored_of`).
    pub fn member_values(
        &self,
        db: u8,
        key: &[u8],
        members: &[&[u8]],
    ) -> Result<Vec<Option<Vec<u8>>>> {
        let full: Vec<Vec<u8>> = members.iter().map(|m| Store::sub_key(db, key, m)).collect();
        let refs: Vec<&[u8]> = full.iter().map(Vec::as_slice).collect();
        Ok(self.db().get_latest_many(self.sub, &refs)?)
    }

    /// Members of a collection, in member order.
    pub fn members(&self, db: u8, key: &[u8]) -> Result<Members> {
        let prefix = Store::sub_prefix(db, key);
        let snap = self.db().snapshot_latest();
        let upper = prefix_end(&prefix);
        let mut out = Vec::new();
        for kv in self.db().iter(
            self.sub,
            (std::ops::Bound::Included(prefix.clone()), upper),
            orbit_lsm::Direction::Forward,
            &snap,
        )? {
            let (k, v) = kv?;
            out.push((k.get(prefix.len()..).unwrap_or_default().to_vec(), v));
        }
        Ok(out)
    }

    /// Members of a collection whose member bytes fall within the bounds, in `direction`.
    pub fn member_range(
        &self,
        db: u8,
        key: &[u8],
        lo: std::ops::Bound<&[u8]>,
        hi: std::ops::Bound<&[u8]>,
        direction: orbit_lsm::Direction,
    ) -> Result<MemberIter> {
        let prefix = Store::sub_prefix(db, key);
        let with = |b: &[u8]| {
            let mut k = prefix.clone();
            k.extend_from_slice(b);
            k
        };
        let lower = match lo {
            std::ops::Bound::Included(b) => std::ops::Bound::Included(with(b)),
            std::ops::Bound::Excluded(b) => std::ops::Bound::Excluded(with(b)),
            std::ops::Bound::Unbounded => std::ops::Bound::Included(prefix.clone()),
        };
        let upper = match hi {
            std::ops::Bound::Included(b) => std::ops::Bound::Included(with(b)),
            std::ops::Bound::Excluded(b) => std::ops::Bound::Excluded(with(b)),
            std::ops::Bound::Unbounded => prefix_end(&prefix),
        };
        let snap = self.db().snapshot_latest();
        let it = self.db().iter(self.sub, (lower, upper), direction, &snap)?;
        Ok(MemberIter {
            it,
            skip: prefix.len(),
        })
    }

    /// Live keys of database `db` (expired ones skipped), in key order, from `start`.
    pub fn keys(&self, db: u8, start: &[u8], now: u64) -> Result<KeyIter> {
        let snap = self.db().snapshot_latest();
        let from = Store::meta_key(db, start);
        let upper = prefix_end(&[db]);
        let it = self.db().iter(
            self.meta,
            (std::ops::Bound::Included(from), upper),
            orbit_lsm::Direction::Forward,
            &snap,
        )?;
        Ok(KeyIter { it, now })
    }

    /// Adds the writing of a key's metadata entry to `batch` (a time series' head learns of
    /// it: it stays only if the entry is still the same series).
    pub fn put_meta_into(&self, batch: &mut WriteBatch, db: u8, key: &[u8], meta: &Meta) {
        let full = Store::meta_key(db, key);
        self.ts.heads.meta_written(&full, meta);
        batch.put(self.meta, &full, &meta.encode());
    }

    /// [`Store::put_meta_into`] for a time series' own checkpoint (its head is current).
    pub fn put_series_meta_into(&self, batch: &mut WriteBatch, db: u8, key: &[u8], meta: &Meta) {
        batch.put(self.meta, &Store::meta_key(db, key), &meta.encode());
    }

    /// Adds the deletion of a key and, for collections, its members, to `batch`.
    pub fn delete_into(&self, batch: &mut WriteBatch, db: u8, key: &[u8], meta: &Meta) {
        batch.delete(self.meta, &Store::meta_key(db, key));
        self.ts.heads.forget(&Store::meta_key(db, key));
        if meta.kind != Kind::String {
            self.clear_members_into(batch, db, key);
        }
    }

    /// Whether a key of database `db` may have members a string written over it must drop
    /// (`crate::members`): if not, a writer that replaces the key's value need not read it.
    pub fn may_hold_members(&self, db: u8) -> bool {
        self.members.may_hold(db)
    }

    /// Adds the deletion of every member a collection key may have left behind.
    pub fn clear_members_into(&self, batch: &mut WriteBatch, db: u8, key: &[u8]) {
        self.ts.heads.forget(&Store::meta_key(db, key));
        let prefix = Store::sub_prefix(db, key);
        if let std::ops::Bound::Excluded(end) = prefix_end(&prefix) {
            batch.delete_range(self.sub, &prefix, &end);
        }
    }

    /// Adds the deletion of every key of database `db`.
    pub fn flush_into(&self, batch: &mut WriteBatch, db: u8) {
        let end = [db.saturating_add(1)];
        if db == u8::MAX {
            return;
        }
        self.ts.heads.forget_db(db);
        batch.delete_range(self.meta, &[db], &end);
        batch.delete_range(self.sub, &[db], &end);
    }

    /// Orders and queues a write (recorded for open transactions); await it for durability.
    pub fn submit(&self, batch: &WriteBatch) -> Result<Pending> {
        self.members.note(batch, self.sub);
        let pending = self.txn.submit(batch)?;
        self.inflight.record(&pending);
        Ok(pending)
    }

    /// The sequence number replies must wait for (every write assigned so far).
    pub fn barrier(&self) -> u64 {
        self.db().assigned_seq()
    }
}

/// Members of one collection: (member, value), the member without the key's prefix.
pub struct MemberIter {
    it: orbit_lsm::DbIter,
    skip: usize,
}

impl Iterator for MemberIter {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.it.next()? {
            Ok((k, v)) => Ok((k.get(self.skip..).unwrap_or_default().to_vec(), v)),
            Err(e) => Err(e.into()),
        })
    }
}

/// Live keys of one database.
pub struct KeyIter {
    it: orbit_lsm::DbIter,
    now: u64,
}

impl Iterator for KeyIter {
    type Item = Result<(Vec<u8>, Meta)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.it.next()? {
                Err(e) => return Some(Err(e.into())),
                Ok((k, v)) => {
                    let Some(meta) = Meta::decode(&v) else {
                        continue;
                    };
                    if meta.expired(self.now) {
                        continue;
                    }
                    return Some(Ok((k.get(1..).unwrap_or_default().to_vec(), meta)));
                }
            }
        }
    }
}

/// The exclusive upper bound of keys starting with `prefix`.
fn prefix_end(prefix: &[u8]) -> std::ops::Bound<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return std::ops::Bound::Excluded(end);
        }
    }
    std::ops::Bound::Unbounded
}

/// FNV-1a: a stable, cheap hash for lock stripes.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over `b`, continuing from hash `h` (`FNV_OFFSET` to start).
fn fnv1a(h: u64, b: &[u8]) -> u64 {
    b.iter()
        .fold(h, |h, &c| (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3))
}
