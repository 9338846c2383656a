//! TS.CREATE, TS.ALTER, TS.ADD, TS.MADD, TS.INCRBY, TS.DECRBY, TS.DEL, TS.CREATERULE and
//! TS.DELETERULE. Every sample is written under its series' key lock (and the locks of its
//! rules' destinations) and submitted as its own batch, so the next read of the same
//! command sees it.

use orbit_index::timeseries::aggregate::{bucket_start, Aggregator};
use orbit_index::timeseries::series::{DuplicatePolicy, Rule, SeriesMeta};
use std::collections::HashMap;

use orbit_lsm::key::ValueKind;
use orbit_lsm::WriteBatch;

use super::samples;
use super::{bound, existing, index, no_key, options, series, timestamp, tsdb, value, Options};
use crate::commands::{arg, Ctx};
use crate::reply::Reply;
use crate::store::{now_ms, Kind, Meta, Store};

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

/// Stages a series' metadata into `b`.
fn put_meta(ctx: &Ctx<'_>, b: &mut WriteBatch, key: &[u8], expire_at: u64, m: &SeriesMeta) {
    let meta = Meta {
        kind: Kind::TimeSeries,
        expire_at,
        payload: m.encode(),
    };
    ctx.store.put_meta_into(b, ctx.db(), key, &meta);
}

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
    let m = new_series(&o);
    let mut b = WriteBatch::new();
    ctx.clear_stale(&mut b, key)?;
    put_meta(ctx, &mut b, key, 0, &m);
    ctx.write(&b)?;
    index(ctx, key, &m);
    Ok(Reply::OK)
}

pub fn alter(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let o = options(args.get(2..).unwrap_or_default(), ALTER_OPTS)?;
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let (meta, mut m) = existing(ctx, key)?;
    o.apply(&mut m);
    let mut b = WriteBatch::new();
    // A shorter retention applies now, not at the next sample.
    samples::trim(ctx, &mut b, key, &mut m)?;
    put_meta(ctx, &mut b, key, meta.expire_at, &m);
    ctx.write(&b)?;
    index(ctx, key, &m);
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

/// Series metadata read under the locks still held: (expire-at, metadata), or `None`
/// for a missing series.
type Known = HashMap<Vec<u8>, Result<Option<(u64, SeriesMeta)>, Reply>>;

/// Held key locks, the keys they cover (sorted) and the metadata read under them.
type LockedSeries<'s> = (Vec<std::sync::MutexGuard<'s, ()>>, Vec<Vec<u8>>, Known);

/// Locks `keys` and their rules' destinations, all at once, and reads the series' metadata
/// under those locks. Returns the guards, the locked keys (sorted) and what was read.
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
        let mut known = Known::new();
        let mut missing = Vec::new();
        for k in keys {
            if known.contains_key(*k) {
                continue;
            }
            // A key of another type fails its own samples only (TS.MADD answers per sample).
            let m = series(ctx, k)
                .map_err(|e| match &e {
                    Reply::Error(m) if m.contains("WRONGTYPE") => tsdb("the key is not a TSDB key"),
                    _ => e,
                })
                .map(|m| m.map(|(meta, m)| (meta.expire_at, m)));
            for r in m.iter().flatten().flat_map(|(_, m)| &m.rules) {
                if locked.binary_search(&r.dest).is_err() {
                    missing.push(r.dest.clone());
                }
            }
            known.insert(k.to_vec(), m);
        }
        if missing.is_empty() {
            return Ok((guards, locked, known));
        }
        // A rule's destination was not locked: lock again with it.
        drop(guards);
        locked.extend(missing);
    }
}

/// Appends `t`'s operations to `b`.
fn append(b: &mut WriteBatch, t: &WriteBatch) {
    for op in t.ops() {
        match op.kind {
            ValueKind::Put => b.put(op.keyspace, &op.key, &op.value),
            ValueKind::Delete => b.delete(op.keyspace, &op.key),
            ValueKind::RangeDelete => b.delete_range(op.keyspace, &op.key, &op.value),
        };
    }
}

/// Writes being gathered for one batch: the samples' operations, and the metadata of the
/// series they touch, kept in memory and staged once when the batch is written.
#[derive(Default)]
struct Pending {
    b: WriteBatch,
    /// Series key → (expire-at, metadata, created by this batch).
    metas: HashMap<Vec<u8>, (u64, SeriesMeta)>,
}

impl Pending {
    /// Stages the metadata and submits the batch.
    fn flush(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Reply> {
        for (key, (expire_at, m)) in self.metas.drain() {
            put_meta(ctx, &mut self.b, &key, expire_at, &m);
        }
        ctx.write(&std::mem::take(&mut self.b))
    }
}

/// Whether a sample only appends to its series' open chunk: no stored state is read, so it can
/// follow earlier samples of the same series in one batch.
fn appends(m: &SeriesMeta, ts: i64) -> bool {
    m.last.is_none_or(|(lt, _)| ts > lt)
        && m.rules.is_empty()
        && m.retention_ms == 0
        && m.ignore_max_time_diff == 0
        && m.ignore_max_val_diff == 0.0
}

/// Adds one sample's writes to `p` (nothing on error), with every key it touches in `locked`
/// (held by the caller). Returns the timestamp TS.ADD replies with, and the closed buckets
/// for rule destinations (to write after `p`).
fn add_locked(
    ctx: &mut Ctx<'_>,
    p: &mut Pending,
    known: &mut Known,
    key: &[u8],
    a: &Add<'_>,
    locked: &[Vec<u8>],
) -> Result<(i64, Vec<Downsampled>), Reply> {
    if p.metas.get(key).is_some_and(|(_, m)| !appends(m, a.ts)) {
        // This sample reads stored samples: the batch's earlier writes must be stored first.
        p.flush(ctx)?;
    }
    let stored = match (p.metas.get(key), known.get(key)) {
        (Some((e, m)), _) => Some((*e, m.clone())),
        (None, Some(k)) => k.clone()?,
        (None, None) => series(ctx, key)?.map(|(meta, m)| (meta.expire_at, m)),
    };
    let (expire_at, m, created) = match stored {
        Some((e, m)) => (e, m, false),
        None => match a.create {
            Some(o) => (0, new_series(o), true),
            None => return Err(no_key()),
        },
    };
    let mut m = m;
    if m.rules
        .iter()
        .any(|r| locked.binary_search(&r.dest).is_err())
    {
        return Err(Reply::err(
            "ERR TSDB: the series' rules changed meanwhile; retry",
        ));
    }
    if samples::cutoff(&m).is_some_and(|cut| a.ts < cut) {
        return Err(tsdb("Timestamp is older than retention"));
    }
    let policy = a
        .on_duplicate
        .or(m.duplicate_policy)
        .unwrap_or(DuplicatePolicy::Block);
    if let Some((lt, lv)) = m.last {
        let ignorable = policy == DuplicatePolicy::Last
            && a.ts >= lt
            && (a.ts - lt) as u64 <= m.ignore_max_time_diff
            && (a.value - lv).abs() <= m.ignore_max_val_diff
            && (m.ignore_max_time_diff > 0 || m.ignore_max_val_diff > 0.0);
        if ignorable {
            return Ok((lt, Vec::new()));
        }
    }
    let newest = m.last.is_none_or(|(lt, _)| a.ts > lt);
    let downsampled = match newest {
        true => close_buckets(ctx, key, &mut m, (a.ts, a.value))?,
        false => Vec::new(),
    };
    let mut t = WriteBatch::new();
    if created {
        ctx.clear_stale(&mut t, key)?;
    }
    samples::upsert(ctx, &mut t, key, &mut m, a.ts, a.value, policy)?;
    samples::trim(ctx, &mut t, key, &mut m)?;
    append(&mut p.b, &t);
    if created {
        index(ctx, key, &m);
    }
    known.remove(key);
    p.metas.insert(key.to_vec(), (expire_at, m));
    Ok((a.ts, downsampled))
}

/// Writes closed buckets into their destinations (locked by the caller).
fn downsample(ctx: &mut Ctx<'_>, list: Vec<Downsampled>) -> Result<(), Reply> {
    for (dest, ts, v) in list {
        let Some((meta, mut dm)) = series(ctx, &dest)? else {
            continue;
        };
        let mut b = WriteBatch::new();
        samples::upsert(ctx, &mut b, &dest, &mut dm, ts, v, DuplicatePolicy::Last)?;
        samples::trim(ctx, &mut b, &dest, &mut dm)?;
        put_meta(ctx, &mut b, &dest, meta.expire_at, &dm);
        ctx.write(&b)?;
    }
    Ok(())
}

/// Adds one sample; returns the timestamp TS.ADD replies with.
fn add(ctx: &mut Ctx<'_>, key: &[u8], a: &Add<'_>) -> Result<i64, Reply> {
    let store = ctx.store;
    let (_g, locked, mut known) = lock_series(store, ctx, &[key])?;
    let mut p = Pending::default();
    let (ts, down) = add_locked(ctx, &mut p, &mut known, key, a, &locked)?;
    p.flush(ctx)?;
    downsample(ctx, down)?;
    Ok(ts)
}

/// A sample `next` arrives in `m` (the newest): every rule whose bucket it leaves yields the
/// closed bucket's aggregate, for its destination (twa: up to the arriving sample).
fn close_buckets(
    ctx: &Ctx<'_>,
    key: &[u8],
    m: &mut SeriesMeta,
    next: (i64, f64),
) -> Result<Vec<(Vec<u8>, i64, f64)>, Reply> {
    let mut out = Vec::new();
    if m.rules.is_empty() {
        return Ok(out);
    }
    let before = m.clone();
    for rule in &mut m.rules {
        let start = bucket_start(next.0, rule.bucket_ms, rule.align);
        match rule.current {
            Some(cur) if start > cur => {
                if let Some(v) = samples::bucket_value(ctx, key, &before, rule, cur, Some(next))? {
                    out.push((rule.dest.clone(), cur, v));
                }
                rule.current = Some(start);
            }
            Some(_) => {}
            None => rule.current = Some(start),
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
    Ok(Reply::Int(add(ctx, key, &a)?))
}

pub fn madd(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let rest = args.get(1..).unwrap_or_default();
    if rest.is_empty() || rest.len() % 3 != 0 {
        return Err(Reply::err(
            "ERR wrong number of arguments for 'ts.madd' command",
        ));
    }
    // Every series (and rule destination) locked at once; the samples go in one batch, cut
    // where a series comes again (so its next sample reads what the batch wrote).
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
                if !down.is_empty() {
                    p.flush(ctx)?;
                    downsample(ctx, down)?;
                }
                out.push(Reply::Int(ts));
            }
            Err(e) => out.push(e),
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
    let last = {
        let _g = ctx.store.lock(ctx.db(), &[key]);
        series(ctx, key)?.and_then(|(_, m)| m.last)
    };
    if let Some((lt, _)) = last {
        if ts < lt {
            return Err(Reply::err(
                "TSDB: timestamp must be equal to or higher than the maximum existing timestamp",
            ));
        }
    }
    let v = last.map_or(0.0, |(_, lv)| lv) + sign * by;
    let a = Add {
        ts,
        value: v,
        create: Some(&o),
        on_duplicate: Some(DuplicatePolicy::Last),
    };
    Ok(Reply::Int(add(ctx, key, &a)?))
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
    let (meta, mut m) = existing(ctx, key)?;
    let mut b = WriteBatch::new();
    let n = samples::delete(ctx, &mut b, key, &mut m, from, to)?;
    if n == 0 {
        return Ok(Reply::Int(0));
    }
    ctx.write(&b)?;
    samples::refresh_ends(ctx, key, &mut m)?;
    let mut b = WriteBatch::new();
    put_meta(ctx, &mut b, key, meta.expire_at, &m);
    ctx.write(&b)?;
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
    let (smeta, mut s) = existing(ctx, src)?;
    let (dmeta, mut d) = existing(ctx, dest)?;
    // A source that was deleted or renamed since (DEL and RENAME do not know about rules)
    // no longer counts.
    let live_source = match d.source.as_deref() {
        Some(other) if other == src => s.rules.iter().any(|r| r.dest == dest),
        Some(other) => series(ctx, other)
            .ok()
            .flatten()
            .is_some_and(|(_, o)| o.rules.iter().any(|r| r.dest == dest)),
        None => false,
    };
    if live_source {
        return Err(tsdb("the destination key already has a src rule"));
    }
    if !d.rules.is_empty() || s.source.is_some() && s.source.as_deref() == Some(dest) {
        return Err(tsdb("the destination key already has a dst rule"));
    }
    s.rules.push(Rule {
        dest: dest.to_vec(),
        aggregator,
        bucket_ms,
        align,
        current: None,
    });
    d.source = Some(src.to_vec());
    let mut b = WriteBatch::new();
    put_meta(ctx, &mut b, src, smeta.expire_at, &s);
    put_meta(ctx, &mut b, dest, dmeta.expire_at, &d);
    ctx.write(&b)?;
    Ok(Reply::OK)
}

pub fn deleterule(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let (src, dest) = (arg(args, 1)?, arg(args, 2)?);
    let _g = ctx.store.lock(ctx.db(), &[src, dest]);
    let (smeta, mut s) = existing(ctx, src)?;
    let before = s.rules.len();
    s.rules.retain(|r| r.dest != dest);
    if s.rules.len() == before {
        return Err(tsdb("compaction rule does not exist"));
    }
    let mut b = WriteBatch::new();
    put_meta(ctx, &mut b, src, smeta.expire_at, &s);
    if let Some((dmeta, mut d)) = series(ctx, dest)? {
        d.source = None;
        put_meta(ctx, &mut b, dest, dmeta.expire_at, &d);
    }
    ctx.write(&b)?;
    Ok(Reply::OK)
}
