//! TS.CREATE, TS.ALTER, TS.ADD, TS.MADD, TS.INCRBY, TS.DECRBY, TS.DEL, TS.CREATERULE and
//! TS.DELETERULE. Every sample is applied under its series' key lock (and the locks of its
//! rules' destinations) to the series' head; a command's samples go in one batch
//! ([`Pending`]): appends as one log record, other changes as checkpoints of their series.

use orbit_index::timeseries::aggregate::{bucket_start, Aggregator};
use orbit_index::timeseries::chunk::Encoder;
use orbit_index::timeseries::series::{DuplicatePolicy, Rule, SeriesMeta};
use rustc_hash::FxHashMap;
use std::sync::Arc;

use orbit_lsm::WriteBatch;

use super::head::{self, lock, Head, HeadRef, LogSample};
use super::samples::{self, checkpoint_into, write_checkpoint, Persist, Sample};
use super::{bound, existing_head, head_of, index, no_key, options, series, timestamp, tsdb};
use super::{value, Options};
use crate::commands::{arg, Ctx};
use crate::reply::Reply;
use crate::store::{now_ms, Store};

const CREATE_OPTS: &[&str] = &[
    "RETENTION",
    "ENCODING",
    "CHUNK_SIZE",
    "DUPLICATE_POLICY",
    "IGNORE",
    "LABELS",
];
const ADD_OPTS: &[&str] = &[
    "RETENTION",
    "ENCODING",
    "CHUNK_SIZE",
    "DUPLICATE_POLICY",
    "ON_DUPLICATE",
    "IGNORE",
    "LABELS",
];
const ALTER_OPTS: &[&str] = &[
    "RETENTION",
    "CHUNK_SIZE",
    "DUPLICATE_POLICY",
    "IGNORE",
    "LABELS",
];
const INCR_OPTS: &[&str] = &[
    "TIMESTAMP",
    "RETENTION",
    "UNCOMPRESSED",
    "CHUNK_SIZE",
    "DUPLICATE_POLICY",
    "IGNORE",
    "LABELS",
];

fn new_series(o: &Options) -> SeriesMeta {
    let mut m = SeriesMeta::new(rand::random());
    o.apply(&mut m);
    m
}

pub fn create(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let o = options(args.get(2..).unwrap_or_default(), CREATE_OPTS)?;
    let _g = ctx.store.lock(ctx.db(), &[key]);
    if ctx.meta_any(key)?.is_some() {
        return Err(tsdb("key already exists"));
    }
    let mut h = Head::new(0, new_series(&o), Encoder::new(), false);
    let mut b = WriteBatch::new();
    ctx.clear_stale(&mut b, key)?;
    write_checkpoint(ctx, &mut b, key, &mut h)?;
    index(ctx, key, &h.meta);
    Ok(Reply::OK)
}

pub fn alter(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let o = options(args.get(2..).unwrap_or_default(), ALTER_OPTS)?;
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let h = existing_head(ctx, key)?;
    let mut g = lock(&h);
    o.apply(&mut g.meta);
    let mut b = WriteBatch::new();
    // A shorter retention applies now, not at the next sample.
    samples::trim(ctx, &mut b, key, &mut g)?;
    write_checkpoint(ctx, &mut b, key, &mut g)?;
    index(ctx, key, &g.meta);
    Ok(Reply::OK)
}

/// How a sample is added.
struct Add<'o> {
    ts: i64,
    value: f64,
    /// Create the series with these options if it is missing (TS.ADD, TS.INCRBY).
    create: Option<&'o Options>,
    on_duplicate: Option<DuplicatePolicy>,
}

/// A closed bucket's value for a rule's destination: (destination, bucket start, value).
type Downsampled = (Vec<u8>, i64, f64);

/// Series looked up under the locks still held: the head, or `None` for a missing series.
type Known = FxHashMap<Vec<u8>, Result<Option<HeadRef>, Reply>>;

/// Held key locks, the keys they cover (sorted) and the series found under them.
type LockedSeries<'s> = (crate::store::Held<'s>, Vec<Vec<u8>>, Known);

/// A series' head for a write: another kind fails with the write's wording.
fn head_for_write(ctx: &Ctx<'_>, key: &[u8]) -> Result<Option<HeadRef>, Reply> {
    head_of(ctx, key).map_err(|e| match &e {
        Reply::Error(m) if m.contains("WRONGTYPE") => tsdb("the key is not a TSDB key"),
        _ => e,
    })
}

/// Locks `keys` and their rules' destinations, all at once, and finds the series under those
/// locks. Returns the guards, the locked keys (sorted) and the series found.
fn lock_series<'s>(
    store: &'s Store,
    ctx: &Ctx<'_>,
    keys: &[&[u8]],
) -> Result<LockedSeries<'s>, Reply> {
    let mut locked: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
    loop {
        locked.sort();
        locked.dedup();
        let refs: Vec<&[u8]> = locked.iter().map(Vec::as_slice).collect();
        let guards = store.lock(ctx.db(), &refs);
        let mut known = Known::default();
        let mut missing = Vec::new();
        for k in keys {
            if known.contains_key(*k) {
                continue;
            }
            // A key of another type fails its own samples only (TS.MADD answers per sample).
            let h = head_for_write(ctx, k);
            if let Ok(Some(h)) = &h {
                for r in &lock(h).meta.rules {
                    if locked.binary_search(&r.dest).is_err() {
                        missing.push(r.dest.clone());
                    }
                }
            }
            known.insert(k.to_vec(), h);
        }
        if missing.is_empty() {
            return Ok((guards, locked, known));
        }
        // A rule's destination was not locked: lock again with it.
        drop(guards);
        locked.extend(missing);
    }
}

/// One write batch being gathered: the changes to stored chunks, the series' appends (for
/// the batch's log record) and the series to checkpoint when it is written. A series with a
/// checkpoint pending has stored changes in the batch, so its next sample (which may read
/// stored chunks) comes after the batch is written.
#[derive(Default)]
struct Pending {
    b: WriteBatch,
    /// Series with appends: (key, head, samples).
    logged: Vec<(Vec<u8>, HeadRef, Vec<Sample>)>,
    /// Index in `logged` by head.
    by_head: FxHashMap<usize, usize>,
    /// Series to checkpoint: (key, head).
    checkpoints: Vec<(Vec<u8>, HeadRef)>,
    /// Samples in `logged`.
    log_samples: usize,
}

impl Pending {
    /// Whether the batch has grown enough to be written before more is added (a record of
    /// tens of thousands of samples, about 1 MiB: a bulk TS.MADD makes several).
    fn full(&self) -> bool {
        self.log_samples >= 1 << 15
    }

    fn log(&mut self, key: &[u8], h: &HeadRef, s: Sample) {
        self.log_samples += 1;
        let id = Arc::as_ptr(h) as usize;
        match self.by_head.get(&id).and_then(|i| self.logged.get_mut(*i)) {
            Some(e) => e.2.push(s),
            None => {
                self.by_head.insert(id, self.logged.len());
                self.logged.push((key.to_vec(), Arc::clone(h), vec![s]));
            }
        }
    }

    fn checkpointing(&self, h: &HeadRef) -> bool {
        self.checkpoints.iter().any(|(_, c)| Arc::ptr_eq(c, h))
    }

    fn checkpoint(&mut self, key: &[u8], h: &HeadRef) {
        if !self.checkpointing(h) {
            self.checkpoints.push((key.to_vec(), Arc::clone(h)));
        }
    }

    /// Records how a change to series `key` persists.
    fn changed(&mut self, key: &[u8], h: &HeadRef, s: Sample, persist: Persist) {
        match persist {
            Persist::Log => self.log(key, h, s),
            Persist::Checkpoint => self.checkpoint(key, h),
        }
    }

    /// Adds the checkpoints and the log record, and submits the batch.
    fn flush(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Reply> {
        let (store, db) = (ctx.store, ctx.db());
        let heads = &store.ts.heads;
        for (key, h) in &self.checkpoints {
            checkpoint_into(store, &mut self.b, db, key, &mut lock(h));
        }
        let mut rec = head::LogRecord::default();
        for (key, h, samples) in &self.logged {
            if self.checkpointing(h) {
                continue; // its checkpoint holds these samples
            }
            let mut g = lock(h);
            heads.mark_dirty(&mut g);
            let uid = g.meta.uid;
            for &(ts, value) in samples {
                rec.put(&LogSample {
                    db,
                    key,
                    uid,
                    ts,
                    value,
                });
            }
        }
        let rec = rec.finish();
        if !rec.is_empty() {
            let pos = heads.take_position();
            self.b.put(store.tslog_keyspace(), &pos.to_be_bytes(), &rec);
            heads
                .log_bytes
                .fetch_add(rec.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }
        let written = ctx.write(&std::mem::take(&mut self.b));
        let touched = self
            .checkpoints
            .iter()
            .map(|(k, _)| k)
            .chain(self.logged.iter().map(|(k, _, _)| k));
        match &written {
            Ok(()) => {
                for (_, h) in &self.checkpoints {
                    lock(h).dirty = None;
                }
            }
            // The heads hold what storage does not: they are reloaded from it.
            Err(_) => {
                for key in touched {
                    heads.forget(&Store::meta_key(db, key));
                }
            }
        }
        self.logged.clear();
        self.by_head.clear();
        self.checkpoints.clear();
        self.log_samples = 0;
        written
    }
}

/// Adds one sample's changes to `p` (nothing on error), with every key it touches in `locked`
/// (held by the caller). Returns the timestamp TS.ADD replies with, and the closed buckets
/// for rule destinations.
fn add_locked(
    ctx: &mut Ctx<'_>,
    p: &mut Pending,
    known: &mut Known,
    key: &[u8],
    a: &Add<'_>,
    locked: &[Vec<u8>],
) -> Result<(i64, Vec<Downsampled>), Reply> {
    let found = match known.get(key) {
        Some(k) => k.clone()?,
        None => head_for_write(ctx, key)?,
    };
    let h = match found {
        Some(h) => {
            if p.checkpointing(&h) {
                // It has stored changes in the batch that this sample may need to read.
                p.flush(ctx)?;
            }
            h
        }
        None => match a.create {
            Some(o) => {
                ctx.clear_stale(&mut p.b, key)?;
                let full = Store::meta_key(ctx.db(), key);
                let head = Head::new(0, new_series(o), Encoder::new(), false);
                index(ctx, key, &head.meta);
                let h = ctx.store.ts.heads.insert(full, head);
                known.insert(key.to_vec(), Ok(Some(Arc::clone(&h))));
                p.checkpoint(key, &h);
                h
            }
            None => return Err(no_key()),
        },
    };
    let mut g = lock(&h);
    if g.meta
        .rules
        .iter()
        .any(|r| locked.binary_search(&r.dest).is_err())
    {
        return Err(Reply::err(
            "ERR TSDB: the series' rules changed meanwhile; retry",
        ));
    }
    if samples::cutoff(&g.meta).is_some_and(|cut| a.ts < cut) {
        return Err(tsdb("Timestamp is older than retention"));
    }
    let policy = a
        .on_duplicate
        .or(g.meta.duplicate_policy)
        .unwrap_or(DuplicatePolicy::Block);
    if let Some((lt, lv)) = g.meta.last {
        let m = &g.meta;
        let ignorable = policy == DuplicatePolicy::Last
            && a.ts >= lt
            && (a.ts - lt) as u64 <= m.ignore_max_time_diff
            && (a.value - lv).abs() <= m.ignore_max_val_diff
            && (m.ignore_max_time_diff > 0 || m.ignore_max_val_diff > 0.0);
        if ignorable {
            return Ok((lt, Vec::new()));
        }
    }
    let newest = g.meta.last.is_none_or(|(lt, _)| a.ts > lt);
    let downsampled = match newest {
        true => close_buckets(ctx, key, &mut g, (a.ts, a.value))?,
        false => Vec::new(),
    };
    let (_, persist) = samples::upsert(ctx, &mut p.b, key, &mut g, (a.ts, a.value), policy)?;
    let trimmed = samples::trim(ctx, &mut p.b, key, &mut g)?;
    drop(g);
    let persist = if trimmed {
        Persist::Checkpoint
    } else {
        persist
    };
    p.changed(key, &h, (a.ts, a.value), persist);
    Ok((a.ts, downsampled))
}

/// Adds closed buckets to their destinations (locked by the caller). A destination that is
/// gone, or was replaced by a key of another type (DEL knows nothing of rules), ends its
/// rule's output as RedisTimeSeries does when a destination is deleted: the source's sample
/// stands, already applied to its head, and the bucket goes nowhere.
fn downsample(ctx: &mut Ctx<'_>, p: &mut Pending, list: Vec<Downsampled>) -> Result<(), Reply> {
    for (dest, ts, v) in list {
        if ctx
            .meta_any(&dest)?
            .is_some_and(|m| m.kind != crate::store::Kind::TimeSeries)
        {
            continue;
        }
        let Some(h) = head_of(ctx, &dest)? else {
            continue;
        };
        if p.checkpointing(&h) {
            p.flush(ctx)?;
        }
        let mut g = lock(&h);
        let (_, persist) =
            samples::upsert(ctx, &mut p.b, &dest, &mut g, (ts, v), DuplicatePolicy::Last)?;
        let trimmed = samples::trim(ctx, &mut p.b, &dest, &mut g)?;
        drop(g);
        let persist = if trimmed {
            Persist::Checkpoint
        } else {
            persist
        };
        p.changed(&dest, &h, (ts, v), persist);
    }
    Ok(())
}

/// Computes a sample's value from the series' last sample (TS.INCRBY).
type ValueOf<'f> = dyn Fn(Option<Sample>) -> Result<f64, Reply> + 'f;

/// Adds one sample; returns the timestamp TS.ADD replies with. `value` computes the sample's
/// value from the series' last sample, under the lock (TS.INCRBY).
fn add(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    mut a: Add<'_>,
    value: Option<&ValueOf<'_>>,
) -> Result<i64, Reply> {
    let store = ctx.store;
    let (_g, locked, mut known) = lock_series(store, ctx, &[key])?;
    if let Some(f) = value {
        let last = match known.get(key) {
            Some(Ok(Some(h))) => lock(h).meta.last,
            _ => None,
        };
        a.value = f(last)?;
    }
    let mut p = Pending::default();
    let (ts, down) = add_locked(ctx, &mut p, &mut known, key, &a, &locked)?;
    downsample(ctx, &mut p, down)?;
    p.flush(ctx)?;
    Ok(ts)
}

/// A sample `next` arrives in `h` (the newest): every rule whose bucket it leaves yields the
/// closed bucket's aggregate, for its destination (twa: up to the arriving sample).
fn close_buckets(
    ctx: &Ctx<'_>,
    key: &[u8],
    h: &mut Head,
    next: (i64, f64),
) -> Result<Vec<(Vec<u8>, i64, f64)>, Reply> {
    let mut out = Vec::new();
    for i in 0..h.meta.rules.len() {
        let Some(rule) = h.meta.rules.get(i).cloned() else {
            continue;
        };
        let start = bucket_start(next.0, rule.bucket_ms, rule.align);
        let current = match rule.current {
            Some(cur) if start > cur => {
                if let Some(v) = samples::bucket_value(ctx, key, h, &rule, cur, Some(next))? {
                    out.push((rule.dest.clone(), cur, v));
                }
                Some(start)
            }
            Some(cur) => Some(cur),
            None => Some(start),
        };
        if let Some(r) = h.meta.rules.get_mut(i) {
            r.current = current;
        }
    }
    Ok(out)
}

fn ts_arg(a: &[u8]) -> Result<i64, Reply> {
    match a {
        b"*" => Ok(now_ms() as i64),
        _ => timestamp(a),
    }
}

pub fn ts_add(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let ts = ts_arg(arg(args, 2)?)?;
    let v = value(arg(args, 3)?)?;
    let o = options(args.get(4..).unwrap_or_default(), ADD_OPTS)?;
    let a = Add {
        ts,
        value: v,
        create: Some(&o),
        on_duplicate: o.on_duplicate,
    };
    Ok(Reply::Int(add(ctx, key, a, None)?))
}

pub fn madd(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let rest = args.get(1..).unwrap_or_default();
    if rest.is_empty() || rest.len() % 3 != 0 {
        return Err(Reply::err(
            "ERR wrong number of arguments for 'ts.madd' command",
        ));
    }
    // Every series (and rule destination) locked at once; the samples go in one batch.
    let keys: Vec<&[u8]> = rest
        .chunks(3)
        .filter_map(|t| t.first())
        .map(Vec::as_slice)
        .collect();
    let store = ctx.store;
    let (_g, locked, mut known) = lock_series(store, ctx, &keys)?;
    let mut out = Vec::with_capacity(rest.len() / 3);
    let mut p = Pending::default();
    for t in rest.chunks(3) {
        let [key, ts, v] = t else { continue };
        let parsed = ts_arg(ts).and_then(|ts| Ok((ts, value(v)?)));
        let (ts, v) = match parsed {
            Ok(p) => p,
            Err(e) => {
                out.push(e);
                continue;
            }
        };
        let a = Add {
            ts,
            value: v,
            create: None,
            on_duplicate: None,
        };
        match add_locked(ctx, &mut p, &mut known, key, &a, &locked) {
            Ok((ts, down)) => {
                downsample(ctx, &mut p, down)?;
                out.push(Reply::Int(ts));
            }
            Err(e) => out.push(e),
        }
        if p.full() {
            p.flush(ctx)?;
        }
    }
    p.flush(ctx)?;
    Ok(Reply::Array(out))
}

fn incr(ctx: &mut Ctx<'_>, args: &[Vec<u8>], sign: f64) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let by = value(arg(args, 2)?).map_err(|_| tsdb("invalid increase/decrease value"))?;
    let o = options(args.get(3..).unwrap_or_default(), INCR_OPTS)?;
    let ts = o.timestamp.unwrap_or(now_ms() as i64);
    let a = Add {
        ts,
        value: 0.0,
        create: Some(&o),
        on_duplicate: Some(DuplicatePolicy::Last),
    };
    // The last sample is read under the lock the new one is written under.
    let next = |last: Option<(i64, f64)>| {
        if last.is_some_and(|(lt, _)| ts < lt) {
            return Err(Reply::err(
                "TSDB: timestamp must be equal to or higher than the maximum existing timestamp",
            ));
        }
        Ok(last.map_or(0.0, |(_, lv)| lv) + sign * by)
    };
    Ok(Reply::Int(add(ctx, key, a, Some(&next))?))
}

pub fn incrby(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    incr(ctx, args, 1.0)
}

pub fn decrby(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    incr(ctx, args, -1.0)
}

pub fn del(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let (from, to) = (bound(arg(args, 2)?, true)?, bound(arg(args, 3)?, false)?);
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let h = existing_head(ctx, key)?;
    let mut g = lock(&h);
    let mut b = WriteBatch::new();
    let n = samples::delete(ctx, &mut b, key, &mut g, from, to)?;
    if n == 0 {
        return Ok(Reply::Int(0));
    }
    // The samples go at once; then the ends are found among what is left.
    write_checkpoint(ctx, &mut b, key, &mut g)?;
    samples::refresh_ends(ctx, key, &mut g)?;
    write_checkpoint(ctx, &mut b, key, &mut g)?;
    Ok(Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

pub fn createrule(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let (src, dest) = (arg(args, 1)?, arg(args, 2)?);
    if !super::super::eq_ignore_case(arg(args, 3)?, "AGGREGATION") {
        return Err(Reply::err(
            "ERR TSDB: wrong number of arguments for 'TS.CREATERULE' command",
        ));
    }
    let aggregator = Aggregator::parse(&String::from_utf8_lossy(arg(args, 4)?))
        .ok_or_else(|| tsdb("Unknown aggregation type"))?;
    let bucket_ms = timestamp(arg(args, 5)?)
        .ok()
        .filter(|b| *b > 0)
        .ok_or_else(|| tsdb("bucketDuration must be greater than zero"))?;
    let align = match args.get(6) {
        Some(a) => timestamp(a)?,
        None => 0,
    };
    if args.len() > 7 {
        return Err(Reply::err(
            "ERR TSDB: wrong number of arguments for 'TS.CREATERULE' command",
        ));
    }
    if src == dest {
        return Err(tsdb(
            "the source key and destination key should be different",
        ));
    }
    let _g = ctx.store.lock(ctx.db(), &[src, dest]);
    let (hs, hd) = (existing_head(ctx, src)?, existing_head(ctx, dest)?);
    let (s, d) = (lock(&hs).meta.clone(), lock(&hd).meta.clone());
    // A source that was deleted or renamed since (DEL and RENAME do not know about rules)
    // no longer counts.
    let live_source = match d.source.as_deref() {
        Some(other) if other == src => s.rules.iter().any(|r| r.dest == dest),
        Some(other) => series(ctx, other)
            .ok()
            .flatten()
            .is_some_and(|o| o.rules.iter().any(|r| r.dest == dest)),
        None => false,
    };
    if live_source {
        return Err(tsdb("the destination key already has a src rule"));
    }
    if !d.rules.is_empty() || s.source.is_some() && s.source.as_deref() == Some(dest) {
        return Err(tsdb("the destination key already has a dst rule"));
    }
    let mut b = WriteBatch::new();
    {
        let mut g = lock(&hs);
        g.meta.rules.push(Rule {
            dest: dest.to_vec(),
            aggregator,
            bucket_ms,
            align,
            current: None,
        });
        checkpoint_into(ctx.store, &mut b, ctx.db(), src, &mut g);
    }
    {
        let mut g = lock(&hd);
        g.meta.source = Some(src.to_vec());
        checkpoint_into(ctx.store, &mut b, ctx.db(), dest, &mut g);
    }
    ctx.write(&b)?;
    lock(&hs).dirty = None;
    lock(&hd).dirty = None;
    Ok(Reply::OK)
}

pub fn deleterule(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let (src, dest) = (arg(args, 1)?, arg(args, 2)?);
    let _g = ctx.store.lock(ctx.db(), &[src, dest]);
    let hs = existing_head(ctx, src)?;
    let mut b = WriteBatch::new();
    {
        let mut g = lock(&hs);
        let before = g.meta.rules.len();
        g.meta.rules.retain(|r| r.dest != dest);
        if g.meta.rules.len() == before {
            return Err(tsdb("compaction rule does not exist"));
        }
        checkpoint_into(ctx.store, &mut b, ctx.db(), src, &mut g);
    }
    let hd = head_of(ctx, dest)?;
    if let Some(hd) = &hd {
        let mut g = lock(hd);
        g.meta.source = None;
        checkpoint_into(ctx.store, &mut b, ctx.db(), dest, &mut g);
    }
    ctx.write(&b)?;
    for h in std::iter::once(&hs).chain(hd.as_ref()) {
        lock(h).dirty = None;
    }
    Ok(Reply::OK)
}
