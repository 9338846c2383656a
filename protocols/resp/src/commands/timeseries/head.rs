//! The open chunks of the series in memory (their "head", as Prometheus calls it) and the
//! write log that protects them.
//!
//! A series' state is its sealed chunks (stored members) plus its head: the metadata with
//! the fields every sample changes (sample count, first and last sample, rules' open
//! buckets) and the open chunk being encoded. An append changes only the head, and its
//! sample goes into the command's log record (keyspace `resp:tslog`, key = the record's
//! position, u64 BE; value = samples as [`LogSample`]s): one engine write per batch, not one
//! per sample plus a metadata rewrite. Anything else (a sealed chunk, an update inside the
//! open chunk, a delete, ALTER, rules) writes a *checkpoint*: the metadata with `log_pos` =
//! the log position at that moment, and the open chunk as one member. Recovery loads each
//! series from its checkpoint and replays the log records after its `log_pos`
//! (`checkpoint::replay`); the maintenance pass (`checkpoint::maintain`) checkpoints dirty
//! heads and range-deletes the records nobody needs any more.
//!
//! Invariants:
//! - A live head is the truth for its series: every way a key is deleted or replaced goes
//!   through `Store`'s hooks ([`Heads::forget`], [`Heads::meta_written`],
//!   [`Heads::forget_db`]), which mark the head dead; lookups ignore dead heads.
//! - A head is created, changed and removed only under its key's lock stripe, and it changes
//!   before its write is submitted, so readers take the stripe too (they never see a sample
//!   whose write is not submitted). Lock order: stripe, then one head's mutex at a time (a
//!   reader of a rule's source takes its destination's, then the source's); the registry's
//!   shard locks are leaves, never held while another lock is taken.
//! - `dirty` is set (to a lower bound of the record's position) before the record's position
//!   is taken, and cleared only after the checkpoint covering it is submitted; a dead head
//!   keeps its `dirty` until a later pass than the one that saw it dead, so the batch that
//!   deleted its series is submitted before the records can go.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use orbit_index::timeseries::aggregate::bucket_start;
use orbit_index::timeseries::chunk::Encoder;
use orbit_index::timeseries::series::SeriesMeta;

use crate::store::{Kind, Meta};

/// A series' head.
#[derive(Debug)]
pub struct Head {
    /// The key's expiry (0: none), kept current by [`Heads::meta_written`].
    pub expire_at: u64,
    /// The metadata as it is now (the stored copy may be older: see `dirty`).
    pub meta: SeriesMeta,
    /// The open chunk.
    pub enc: Encoder,
    /// Lowest log position that may hold samples of this series missing from its stored
    /// checkpoint (`None`: the stored state is this head).
    pub dirty: Option<u64>,
    /// The stored open chunk is in the old layout (one `t` member per sample): the next
    /// checkpoint removes those members.
    pub legacy: bool,
    life: Life,
    /// The maintenance pass during which the head was last used.
    touched: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Life {
    Live,
    /// Its series was deleted or replaced; `seen`: a maintenance pass noticed.
    Dead {
        seen: bool,
    },
}

impl Head {
    pub fn new(expire_at: u64, meta: SeriesMeta, enc: Encoder, legacy: bool) -> Head {
        Head {
            expire_at,
            meta,
            enc,
            dirty: None,
            legacy,
            life: Life::Live,
            touched: 0,
        }
    }

    /// The maintenance pass during which the head was last used.
    pub(crate) fn touched(&self) -> u64 {
        self.touched
    }

    /// Whether the key has expired at `now` (ms).
    pub fn expired(&self, now: u64) -> bool {
        self.expire_at != 0 && self.expire_at <= now
    }

    /// Records an appended sample in the metadata (the encoder already holds it).
    pub fn appended(&mut self, ts: i64, v: f64) {
        let m = &mut self.meta;
        m.total_samples += 1;
        m.last = Some((ts, v));
        m.first_ts = Some(m.first_ts.map_or(ts, |f| f.min(ts)));
    }

    /// Replays a logged append: the sample, and the rules' open buckets it moves on (the
    /// closed buckets' values are logged for their destinations in the same record).
    pub fn replay(&mut self, ts: i64, v: f64) -> bool {
        if self.meta.last.is_some_and(|(lt, _)| ts <= lt) || !self.enc.push(ts, v) {
            return false;
        }
        self.appended(ts, v);
        for rule in &mut self.meta.rules {
            let start = bucket_start(ts, rule.bucket_ms, rule.align);
            if rule.current.is_none_or(|c| start > c) {
                rule.current = Some(start);
            }
        }
        true
    }
}

/// A head, shared between the registry and the command using it.
pub type HeadRef = Arc<Mutex<Head>>;

/// Locks a head (a poisoned one is still consistent: every change is a whole assignment or a
/// push that cannot panic half-way).
pub fn lock(h: &HeadRef) -> MutexGuard<'_, Head> {
    h.lock().unwrap_or_else(|p| p.into_inner())
}

const SHARDS: usize = 16;

/// Each series' retention cutoff as of its last checkpoint (`Store::meta_key` → timestamp:
/// a sealed chunk whose last sample is older may go), for the compaction filter
/// (`store::ExpiryFilter`). Never newer than the true cutoff (which only grows), and every
/// path that replaces or deletes a key drops its entry (the hooks of [`Heads`]).
#[derive(Debug, Default)]
pub struct Cutoffs {
    map: RwLock<HashMap<Vec<u8>, i64>>,
    len: AtomicUsize,
}

impl Cutoffs {
    /// Forgets every cutoff.
    pub fn clear(&self) {
        self.write().clear();
        self.len.store(0, Ordering::SeqCst);
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Vec<u8>, i64>> {
        self.map.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a series' cutoff (`None`: it keeps everything).
    pub fn set(&self, full: &[u8], cutoff: Option<i64>) {
        if cutoff.is_none() && self.is_empty() {
            return;
        }
        let mut m = self.write();
        match cutoff {
            Some(c) => {
                m.insert(full.to_vec(), c);
            }
            None => {
                m.remove(full);
            }
        }
        self.len.store(m.len(), Ordering::Relaxed);
    }

    /// Drops a key's entry (a read lock only, unless it has one).
    pub fn remove(&self, full: &[u8]) {
        if self.get(full).is_none() {
            return;
        }
        let mut m = self.write();
        m.remove(full);
        self.len.store(m.len(), Ordering::Relaxed);
    }

    fn retain(&self, keep: impl Fn(&[u8]) -> bool) {
        if self.is_empty() {
            return;
        }
        let mut m = self.write();
        m.retain(|k, _| keep(k));
        self.len.store(m.len(), Ordering::Relaxed);
    }

    /// A series' recorded cutoff.
    pub fn get(&self, full: &[u8]) -> Option<i64> {
        if self.is_empty() {
            return None;
        }
        let m = self.map.read().unwrap_or_else(|p| p.into_inner());
        m.get(full).copied()
    }

    /// Whether no series has a cutoff (lock-free).
    pub fn is_empty(&self) -> bool {
        self.len.load(Ordering::Relaxed) == 0
    }
}

type Shard = Mutex<HashMap<Vec<u8>, HeadRef>>;

/// Every head, by `Store::meta_key`, and the log's counters.
#[derive(Debug, Default)]
pub struct Heads {
    shards: [Shard; SHARDS],
    /// Heads registered (a lock-free "none" for the hooks every key write calls).
    count: AtomicUsize,
    /// The last log position taken.
    pos: AtomicU64,
    /// Log bytes written since the last checkpointing pass.
    pub(crate) log_bytes: AtomicU64,
    /// Maintenance passes run.
    pub(crate) passes: AtomicU64,
    /// Retention cutoffs for the compaction filter.
    pub cutoffs: Arc<Cutoffs>,
}

fn guard(s: &Shard) -> MutexGuard<'_, HashMap<Vec<u8>, HeadRef>> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

impl Heads {
    fn shard(&self, full: &[u8]) -> &Shard {
        let h = full.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &c| {
            (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3)
        });
        &self.shards[(h % SHARDS as u64) as usize]
    }

    /// The live head of a series, if there is one.
    pub fn live(&self, full: &[u8]) -> Option<HeadRef> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let h = guard(self.shard(full)).get(full).cloned()?;
        let mut g = lock(&h);
        if g.life != Life::Live {
            return None;
        }
        g.touched = self.passes.load(Ordering::Relaxed);
        drop(g);
        Some(h)
    }

    /// Registers a head (replacing a dead one). Call under the key's stripe.
    pub fn insert(&self, full: Vec<u8>, mut head: Head) -> HeadRef {
        head.touched = self.passes.load(Ordering::Relaxed);
        let h = Arc::new(Mutex::new(head));
        let old = guard(self.shard(&full)).insert(full, Arc::clone(&h));
        // (The shard's lock is released: the old head's lock is taken alone.)
        if old.is_none() {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(old) = old {
            // A dead head leaves with its record positions: the writes that killed it were
            // submitted before this stripe holder could look (see the module invariants).
            lock(&old).life = Life::Dead { seen: true };
        }
        h
    }

    /// The key was deleted or replaced by another kind.
    pub fn forget(&self, full: &[u8]) {
        self.cutoffs.remove(full);
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        // The shard's lock is never held while a head's is taken (it is a leaf lock).
        let h = guard(self.shard(full)).get(full).cloned();
        if let Some(h) = h {
            let mut g = lock(&h);
            if g.life == Life::Live {
                g.life = Life::Dead { seen: false };
            }
        }
    }

    /// Database `db` was flushed.
    pub fn forget_db(&self, db: u8) {
        self.cutoffs.retain(|k| k.first() != Some(&db));
        for (full, h) in self.all() {
            if full.first() == Some(&db) {
                let mut g = lock(&h);
                if g.life == Life::Live {
                    g.life = Life::Dead { seen: false };
                }
            }
        }
    }

    /// A key's metadata is being written by a path that does not know about heads (EXPIRE,
    /// RENAME's or COPY's destination, another type's write): a series keeps its head (with
    /// the new expiry) only if it is still the same series.
    pub fn meta_written(&self, full: &[u8], meta: &Meta) {
        // Until the series' next checkpoint says otherwise (RENAME may bring another series).
        self.cutoffs.remove(full);
        let Some(h) = self.live(full) else { return };
        let mut g = lock(&h);
        let same = meta.kind == Kind::TimeSeries
            && SeriesMeta::decode(&meta.payload).is_ok_and(|m| m.uid == g.meta.uid);
        if same {
            g.expire_at = meta.expire_at;
        } else {
            g.life = Life::Dead { seen: false };
        }
    }

    /// Forgets every head, cutoff and log position (before loading them again from storage).
    pub fn clear(&self) {
        for s in &self.shards {
            guard(s).clear();
        }
        self.count.store(0, Ordering::SeqCst);
        self.pos.store(0, Ordering::SeqCst);
        self.log_bytes.store(0, Ordering::SeqCst);
        self.cutoffs.clear();
    }

    /// The last log position taken.
    pub fn position(&self) -> u64 {
        self.pos.load(Ordering::SeqCst)
    }

    /// Takes the next log position.
    pub fn take_position(&self) -> u64 {
        self.pos.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// After recovery: positions continue after `p`.
    pub fn start_after(&self, p: u64) {
        self.pos.fetch_max(p, Ordering::SeqCst);
    }

    /// Marks `h` as having samples in the record about to be numbered (before its number is
    /// taken, so a pass computing what it may delete either sees this or sees a later
    /// position than any it deletes).
    pub fn mark_dirty(&self, h: &mut Head) {
        if h.dirty.is_none() {
            h.dirty = Some(self.position() + 1);
        }
    }

    /// Every registered head, dead or alive.
    pub(crate) fn all(&self) -> Vec<(Vec<u8>, HeadRef)> {
        let mut out = Vec::new();
        for s in &self.shards {
            out.extend(guard(s).iter().map(|(k, h)| (k.clone(), Arc::clone(h))));
        }
        out
    }

    /// Removes `h` from the registry if it is still the one registered for `full`.
    pub(crate) fn remove(&self, full: &[u8], h: &HeadRef) {
        let mut s = guard(self.shard(full));
        if s.get(full).is_some_and(|cur| Arc::ptr_eq(cur, h)) {
            s.remove(full);
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The number of heads (live or dead) registered.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether no head is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a maintenance pass may do with a head.
pub(crate) enum Fate {
    /// Dead and noticed before: drop it (its records may go).
    Drop,
    /// Dead, noticed now.
    Noticed,
    /// Live with samples only in the log.
    Dirty,
    /// Live, clean, and unused since the pass given.
    Idle(u64),
}

/// Classifies `h` for a pass (marking a newly noticed dead head).
pub(crate) fn fate(h: &mut Head) -> Fate {
    match h.life {
        Life::Dead { seen: true } => Fate::Drop,
        Life::Dead { seen: false } => {
            h.life = Life::Dead { seen: true };
            Fate::Noticed
        }
        Life::Live if h.dirty.is_some() => Fate::Dirty,
        Life::Live => Fate::Idle(h.touched),
    }
}

/// Whether `h` is live (a pass re-checks under the stripe).
pub(crate) fn is_live(h: &Head) -> bool {
    h.life == Life::Live
}

/// One logged sample: database, key, series uid, timestamp, value.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSample<'a> {
    pub db: u8,
    pub key: &'a [u8],
    pub uid: u64,
    pub ts: i64,
    pub value: f64,
}

/// The log record format's version, its first byte.
const LOG_VERSION: u8 = 2;

/// Builds a log record: `version u8`, then per sample `db u8 ‖ key length (LEB128) ‖ key ‖
/// uid u64 LE ‖ timestamp − previous sample's timestamp (zigzag LEB128; the first from 0) ‖
/// value bits u64 LE`. A command's samples mostly share or step their timestamps, so a
/// sample costs about 26 bytes with a short key.
#[derive(Debug, Default)]
pub struct LogRecord {
    out: Vec<u8>,
    prev_ts: i64,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl LogRecord {
    /// Appends a sample.
    pub fn put(&mut self, s: &LogSample<'_>) {
        if self.out.is_empty() {
            self.out.push(LOG_VERSION);
        }
        self.out.push(s.db);
        put_varint(&mut self.out, s.key.len() as u64);
        self.out.extend_from_slice(s.key);
        self.out.extend_from_slice(&s.uid.to_le_bytes());
        let d = s.ts.wrapping_sub(self.prev_ts);
        put_varint(&mut self.out, ((d << 1) ^ (d >> 63)) as u64);
        self.prev_ts = s.ts;
        self.out.extend_from_slice(&s.value.to_bits().to_le_bytes());
    }

    /// The record (empty if no sample was put).
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// Reads a LEB128 number of at most 64 bits.
fn get_varint(b: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        v |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Takes the next `n` bytes.
fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, rest) = (b.get(..n)?, b.get(n..)?);
    *b = rest;
    Some(head)
}

/// Reads one sample of a record whose previous sample was at `prev_ts`.
fn read_sample<'a>(b: &mut &'a [u8], prev_ts: i64) -> Option<LogSample<'a>> {
    let u64_of = |x: &[u8]| x.try_into().ok().map(u64::from_le_bytes);
    let db = *take(b, 1)?.first()?;
    let len = usize::try_from(get_varint(b)?).ok()?;
    let key = take(b, len)?;
    let uid = u64_of(take(b, 8)?)?;
    let z = get_varint(b)?;
    let ts = prev_ts.wrapping_add(((z >> 1) as i64) ^ -((z & 1) as i64));
    let value = f64::from_bits(u64_of(take(b, 8)?)?);
    Some(LogSample {
        db,
        key,
        uid,
        ts,
        value,
    })
}

/// The samples of a log record; `None` at a malformed tail (or a version this build does not
/// know), after which nothing more is read.
pub fn log_read(record: &[u8]) -> impl Iterator<Item = Option<LogSample<'_>>> {
    let (mut failed, mut b) = match record.split_first() {
        Some((&LOG_VERSION, rest)) => (false, rest),
        Some(_) => (true, &[][..]),
        None => (false, &[][..]),
    };
    let mut prev_ts = 0i64;
    std::iter::from_fn(move || {
        if std::mem::take(&mut failed) {
            return Some(None);
        }
        if b.is_empty() {
            return None;
        }
        let s = read_sample(&mut b, prev_ts);
        match &s {
            Some(x) => prev_ts = x.ts,
            None => b = &[],
        }
        Some(s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> impl proptest::strategy::Strategy<Value = (u8, Vec<u8>, u64, i64, u64)> {
        use proptest::prelude::*;
        (
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..200),
            any::<u64>(),
            prop_oneof![any::<i64>(), -3i64..3, Just(i64::MIN), Just(i64::MAX)],
            any::<u64>(),
        )
    }

    proptest::proptest! {
        #[test]
        fn log_records_round_trip_and_a_torn_tail_is_reported(
            samples in proptest::collection::vec(sample(), 0..20),
            cut in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            let mut rec = LogRecord::default();
            for (db, key, uid, ts, bits) in &samples {
                rec.put(&LogSample { db: *db, key, uid: *uid, ts: *ts, value: f64::from_bits(*bits) });
            }
            let rec = rec.finish();
            let back: Vec<_> = log_read(&rec).collect::<Option<_>>().unwrap();
            let got: Vec<_> = back
                .iter()
                .map(|s| (s.db, s.key.to_vec(), s.uid, s.ts, s.value.to_bits()))
                .collect();
            proptest::prop_assert_eq!(&got, &samples);
            // Cut anywhere: whole samples, then at most one `None`, never a wrong sample.
            if !rec.is_empty() {
                let torn = &rec[..cut.index(rec.len())];
                let read: Vec<_> = log_read(torn).collect();
                let whole = read.iter().take_while(|s| s.is_some()).count();
                proptest::prop_assert!(read.len() <= whole + 1);
                for (s, want) in read.iter().flatten().zip(&samples) {
                    proptest::prop_assert_eq!((s.db, s.key, s.ts), (want.0, &want.1[..], want.3));
                }
            }
        }
    }

    #[test]
    fn a_record_of_an_unknown_version_is_refused() {
        let mut rec = LogRecord::default();
        rec.put(&LogSample {
            db: 0,
            key: b"k",
            uid: 1,
            ts: 5,
            value: 1.0,
        });
        let mut rec = rec.finish();
        rec[0] = 9;
        let read: Vec<_> = log_read(&rec).collect();
        assert!(matches!(read.as_slice(), [None]));
        assert_eq!(log_read(&[]).count(), 0);
    }

    #[test]
    fn forgetting_hides_a_head_and_a_replacement_retires_the_dead_one() {
        let heads = Heads::default();
        let full = b"\x00k".to_vec();
        let h = heads.insert(
            full.clone(),
            Head::new(0, SeriesMeta::new(1), Encoder::new(), false),
        );
        assert!(heads.live(&full).is_some());
        heads.forget(&full);
        assert!(heads.live(&full).is_none());
        assert!(matches!(fate(&mut lock(&h)), Fate::Noticed));
        assert!(matches!(fate(&mut lock(&h)), Fate::Drop));
        let h2 = heads.insert(
            full.clone(),
            Head::new(0, SeriesMeta::new(2), Encoder::new(), false),
        );
        assert!(Arc::ptr_eq(&heads.live(&full).unwrap(), &h2));
        // A write of the same series keeps it (new expiry); another series replaces it.
        let mut m = SeriesMeta::new(2);
        let meta = |m: &SeriesMeta, at| Meta {
            kind: Kind::TimeSeries,
            expire_at: at,
            payload: m.encode(),
        };
        heads.meta_written(&full, &meta(&m, 99));
        assert_eq!(lock(&heads.live(&full).unwrap()).expire_at, 99);
        m.uid = 3;
        heads.meta_written(&full, &meta(&m, 0));
        assert!(heads.live(&full).is_none());
        heads.remove(&full, &h2);
        assert!(heads.is_empty());
    }

    #[test]
    fn replay_skips_what_the_head_already_holds_and_moves_rule_buckets() {
        let mut m = SeriesMeta::new(1);
        m.rules.push(orbit_index::timeseries::series::Rule {
            dest: b"d".to_vec(),
            aggregator: orbit_index::timeseries::aggregate::Aggregator::Avg,
            bucket_ms: 10,
            align: 0,
            current: None,
        });
        let mut h = Head::new(0, m, Encoder::new(), false);
        assert!(h.replay(5, 1.0));
        assert!(!h.replay(5, 2.0));
        assert!(h.replay(27, 3.0));
        assert_eq!(h.meta.total_samples, 2);
        assert_eq!(h.meta.last, Some((27, 3.0)));
        assert_eq!(h.meta.rules[0].current, Some(20));
    }
}
