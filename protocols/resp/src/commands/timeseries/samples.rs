//! The member layout of a series' samples (module docs of `timeseries`), and the operations
//! on it: reading a time range, the neighbours of a range (for twa), inserting or updating one
//! sample (appending to the open chunk, sealing it, or rewriting a sealed chunk), deleting a
//! range and trimming to the retention.
//!
//! The open chunk's encoder is cached per series (`OpenCache`); an entry is used only while the
//! series' uid, sample count and newest sample are what it was built for, so a write by any
//! other path (DEL, RENAME, FLUSHDB, expiry) makes it rebuild from the stored samples.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::Mutex;

use orbit_index::timeseries::chunk::{self, Encoder};
use orbit_index::timeseries::series::{DuplicatePolicy, SeriesMeta};
use orbit_lsm::{Direction, WriteBatch};

use super::{tsdb, Ctx, Reply};
use crate::commands::internal;
use crate::store::Store;

/// A sample: (timestamp ms, value).
pub type Sample = (i64, f64);
/// A sealed chunk's member and samples.
type SealedChunk = (Vec<u8>, Vec<Sample>);

const CHUNK: u8 = b'c';
const OPEN: u8 = b't';

/// An order-preserving encoding of a timestamp.
fn ord(ts: i64) -> [u8; 8] {
    ((ts as u64) ^ (1 << 63)).to_be_bytes()
}

fn unord(b: &[u8]) -> Option<i64> {
    Some((u64::from_be_bytes(b.try_into().ok()?) ^ (1 << 63)) as i64)
}

fn member(tag: u8, ts: i64) -> Vec<u8> {
    let mut m = Vec::with_capacity(9);
    m.push(tag);
    m.extend_from_slice(&ord(ts));
    m
}

fn value_of(b: &[u8]) -> Option<f64> {
    Some(f64::from_bits(u64::from_le_bytes(b.try_into().ok()?)))
}

fn corrupt() -> Reply {
    Reply::err("ERR TSDB: corrupt sample data")
}

/// The series' members in `[lo, hi]` (`hi` excluded unless `inclusive`), in `dir`.
fn members(
    ctx: &Ctx<'_>,
    key: &[u8],
    lo: &[u8],
    hi: &[u8],
    inclusive: bool,
    dir: Direction,
) -> Result<crate::store::MemberIter, Reply> {
    let hi = match inclusive {
        true => Bound::Included(hi),
        false => Bound::Excluded(hi),
    };
    ctx.store
        .member_range(ctx.db(), key, Bound::Included(lo), hi, dir)
        .map_err(internal)
}

/// Cached open-chunk encoders, by `Store::meta_key`.
#[derive(Debug, Default)]
pub struct OpenCache {
    map: Mutex<HashMap<Vec<u8>, Cached>>,
}

#[derive(Debug, Clone)]
struct Cached {
    uid: u64,
    total: u64,
    last: Option<(i64, u64)>,
    enc: Encoder,
}

fn fingerprint(m: &SeriesMeta) -> (u64, u64, Option<(i64, u64)>) {
    (
        m.uid,
        m.total_samples,
        m.last.map(|(t, v)| (t, v.to_bits())),
    )
}

impl OpenCache {
    fn take(&self, key: &[u8], m: &SeriesMeta) -> Option<Encoder> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let c = map.remove(key)?;
        ((c.uid, c.total, c.last) == fingerprint(m)).then_some(c.enc)
    }

    fn put(&self, key: Vec<u8>, m: &SeriesMeta, enc: Encoder) {
        let (uid, total, last) = fingerprint(m);
        self.map.lock().unwrap_or_else(|p| p.into_inner()).insert(
            key,
            Cached {
                uid,
                total,
                last,
                enc,
            },
        );
    }

    /// Drops a series' entry.
    pub fn forget(&self, key: &[u8]) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// Sealed chunks whose last sample is at or after `from`, in order: (member, samples).
fn chunks_from<'c>(
    ctx: &'c Ctx<'_>,
    key: &[u8],
    from: i64,
) -> Result<impl Iterator<Item = Result<SealedChunk, Reply>> + 'c, Reply> {
    let lo = member(CHUNK, from);
    let hi = [CHUNK + 1];
    let it = members(ctx, key, &lo, &hi, false, Direction::Forward)?;
    Ok(it.map(|r| {
        let (m, v) = r.map_err(internal)?;
        let samples = chunk::decode(&v).map_err(|_| corrupt())?;
        Ok((m, samples))
    }))
}

/// The open chunk's samples as stored (one member each), ascending.
fn stored_open(ctx: &Ctx<'_>, key: &[u8]) -> Result<Vec<Sample>, Reply> {
    let (lo, hi) = (member(OPEN, i64::MIN), member(OPEN, i64::MAX));
    let mut out = Vec::new();
    for r in members(ctx, key, &lo, &hi, true, Direction::Forward)? {
        let (m, v) = r.map_err(internal)?;
        let ts = m.get(1..).and_then(unord).ok_or_else(corrupt)?;
        out.push((ts, value_of(&v).ok_or_else(corrupt)?));
    }
    Ok(out)
}

/// The open chunk's encoder for the series as `m` describes it: cached, or rebuilt from the
/// stored samples (each sealed chunk leaves its samples' members behind as range-deleted
/// entries until compaction drops them, so the cache spares reads a scan over them).
fn open_encoder(ctx: &Ctx<'_>, key: &[u8], m: &SeriesMeta) -> Result<Encoder, Reply> {
    let full = Store::meta_key(ctx.db(), key);
    Ok(match ctx.store.ts.open.take(&full, m) {
        Some(enc) => enc,
        None => {
            let mut enc = Encoder::new();
            for (t, x) in stored_open(ctx, key)? {
                enc.push(t, x);
            }
            enc
        }
    })
}

/// The open chunk's samples within [from, to], in `dir`.
fn open_range(
    ctx: &Ctx<'_>,
    key: &[u8],
    m: &SeriesMeta,
    from: i64,
    to: i64,
    dir: Direction,
) -> Result<Vec<Sample>, Reply> {
    let enc = open_encoder(ctx, key, m)?;
    let all = chunk::decode(&enc.to_bytes()).map_err(|_| corrupt())?;
    ctx.store
        .ts
        .open
        .put(Store::meta_key(ctx.db(), key), m, enc);
    let mut out: Vec<Sample> = all
        .into_iter()
        .filter(|s| s.0 >= from && s.0 <= to)
        .collect();
    if dir == Direction::Backward {
        out.reverse();
    }
    Ok(out)
}

/// Every sample in [from, to], ascending (before the retention cut).
pub fn range(
    ctx: &Ctx<'_>,
    key: &[u8],
    m: &SeriesMeta,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, f64)>, Reply> {
    let mut out = Vec::new();
    if from > to {
        return Ok(out);
    }
    for c in chunks_from(ctx, key, from)? {
        let (_, samples) = c?;
        if samples.first().is_some_and(|s| s.0 > to) {
            break;
        }
        out.extend(samples.into_iter().filter(|s| s.0 >= from && s.0 <= to));
    }
    out.extend(open_range(ctx, key, m, from, to, Direction::Forward)?);
    Ok(out)
}

/// The newest sample before `ts` and the oldest after it (twa's neighbours).
pub fn neighbours(
    ctx: &Ctx<'_>,
    key: &[u8],
    m: &SeriesMeta,
    from: i64,
    to: i64,
) -> Result<(Option<Sample>, Option<Sample>), Reply> {
    let before = if from == i64::MIN {
        None
    } else {
        let near = open_range(ctx, key, m, i64::MIN, from - 1, Direction::Backward)?;
        match near.first() {
            Some(s) => Some(*s),
            None => {
                // The chunk holding `from` may start before it; else the chunk before it.
                let mut found = None;
                let lo = member(CHUNK, i64::MIN);
                let hi = member(CHUNK, from);
                let mut rev = members(ctx, key, &lo, &hi, true, Direction::Backward)?;
                if let Some(r) = rev.next() {
                    let (_, v) = r.map_err(internal)?;
                    found = chunk::decode(&v)
                        .map_err(|_| corrupt())?
                        .into_iter()
                        .rev()
                        .find(|s| s.0 < from);
                }
                if found.is_none() {
                    if let Some(c) = chunks_from(ctx, key, from)?.next() {
                        found = c?.1.into_iter().rev().find(|s| s.0 < from);
                    }
                }
                found
            }
        }
    };
    let after = if to == i64::MAX {
        None
    } else {
        let mut found = None;
        for c in chunks_from(ctx, key, to + 1)? {
            found = c?.1.into_iter().find(|s| s.0 > to);
            if found.is_some() {
                break;
            }
        }
        match found {
            Some(s) => Some(s),
            None => open_range(ctx, key, m, to + 1, i64::MAX, Direction::Forward)?
                .first()
                .copied(),
        }
    };
    Ok((before, after))
}

/// The last timestamp held by sealed chunks.
fn sealed_last(ctx: &Ctx<'_>, key: &[u8]) -> Result<Option<i64>, Reply> {
    let lo = [CHUNK];
    let hi = [CHUNK + 1];
    let mut it = members(ctx, key, &lo, &hi, false, Direction::Backward)?;
    match it.next() {
        Some(r) => {
            let (m, _) = r.map_err(internal)?;
            Ok(Some(m.get(1..).and_then(unord).ok_or_else(corrupt)?))
        }
        None => Ok(None),
    }
}

/// What [`upsert`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Upsert {
    /// A new sample.
    Added,
    /// An existing timestamp now holds this value.
    Updated(f64),
}

/// Writes the sample (`ts`, `v`) into `b` (and `m`): a new sample, or an existing timestamp
/// resolved by `policy`. The caller checks retention and IGNORE first.
pub fn upsert(
    ctx: &Ctx<'_>,
    b: &mut WriteBatch,
    key: &[u8],
    m: &mut SeriesMeta,
    ts: i64,
    v: f64,
    policy: DuplicatePolicy,
) -> Result<Upsert, Reply> {
    let sub = ctx.store.sub_keyspace();
    let full = Store::meta_key(ctx.db(), key);
    let newest = m.last.is_none_or(|(last, _)| ts > last);
    if newest {
        let mut enc = open_encoder(ctx, key, m)?;
        enc.push(ts, v);
        m.total_samples += 1;
        m.last = Some((ts, v));
        m.first_ts = Some(m.first_ts.map_or(ts, |f| f.min(ts)));
        if enc.byte_len() as u64 >= m.chunk_size {
            // Seal: one chunk replaces the open samples, in this same batch.
            b.put(
                sub,
                &Store::sub_key(ctx.db(), key, &member(CHUNK, ts)),
                &enc.to_bytes(),
            );
            b.delete_range(
                sub,
                &Store::sub_key(ctx.db(), key, &[OPEN]),
                &Store::sub_key(ctx.db(), key, &[OPEN + 1]),
            );
            enc = Encoder::new();
        } else {
            b.put(
                sub,
                &Store::sub_key(ctx.db(), key, &member(OPEN, ts)),
                &v.to_bits().to_le_bytes(),
            );
        }
        ctx.store.ts.open.put(full, m, enc);
        return Ok(Upsert::Added);
    }
    ctx.store.ts.open.forget(&full);
    let resolve = |old: f64| {
        policy.resolve(old, v).ok_or_else(|| {
        tsdb("Error at upsert, update is not supported when DUPLICATE_POLICY is set to BLOCK mode")
    })
    };
    let outcome;
    if sealed_last(ctx, key)?.is_none_or(|s| ts > s) {
        // Inside the open chunk.
        let mk = Store::sub_key(ctx.db(), key, &member(OPEN, ts));
        let old = ctx
            .store
            .member(ctx.db(), key, &member(OPEN, ts))
            .map_err(internal)?;
        let new = match old.as_deref().and_then(value_of) {
            Some(old) => {
                let n = resolve(old)?;
                outcome = Upsert::Updated(n);
                n
            }
            None => {
                outcome = Upsert::Added;
                v
            }
        };
        b.put(sub, &mk, &new.to_bits().to_le_bytes());
    } else {
        // Inside (or just before) a sealed chunk: rewrite it.
        let Some(c) = chunks_from(ctx, key, ts)?.next() else {
            return Err(corrupt());
        };
        let (cm, mut samples) = c?;
        match samples.binary_search_by(|s| s.0.cmp(&ts)) {
            Ok(i) => {
                let slot = samples.get_mut(i).ok_or_else(corrupt)?;
                slot.1 = resolve(slot.1)?;
                outcome = Upsert::Updated(slot.1);
            }
            Err(i) => {
                samples.insert(i, (ts, v));
                outcome = Upsert::Added;
            }
        }
        b.put(
            sub,
            &Store::sub_key(ctx.db(), key, &cm),
            &chunk::encode(&samples),
        );
    }
    match outcome {
        Upsert::Added => {
            m.total_samples += 1;
            m.first_ts = Some(m.first_ts.map_or(ts, |f| f.min(ts)));
        }
        Upsert::Updated(n) => {
            if m.last.is_some_and(|(t, _)| t == ts) {
                m.last = Some((ts, n));
            }
        }
    }
    Ok(outcome)
}

/// Deletes the samples in [from, to]; returns how many.
pub fn delete(
    ctx: &Ctx<'_>,
    b: &mut WriteBatch,
    key: &[u8],
    m: &mut SeriesMeta,
    from: i64,
    to: i64,
) -> Result<u64, Reply> {
    let sub = ctx.store.sub_keyspace();
    let db = ctx.db();
    ctx.store.ts.open.forget(&Store::meta_key(db, key));
    let mut removed = 0u64;
    for c in chunks_from(ctx, key, from)? {
        let (cm, samples) = c?;
        if samples.first().is_some_and(|s| s.0 > to) {
            break;
        }
        let kept: Vec<(i64, f64)> = samples
            .iter()
            .copied()
            .filter(|s| s.0 < from || s.0 > to)
            .collect();
        removed += (samples.len() - kept.len()) as u64;
        if kept.len() == samples.len() {
            continue;
        }
        b.delete(sub, &Store::sub_key(db, key, &cm));
        if let Some(last) = kept.last() {
            b.put(
                sub,
                &Store::sub_key(db, key, &member(CHUNK, last.0)),
                &chunk::encode(&kept),
            );
        }
    }
    let open = open_range(ctx, key, m, from, to, Direction::Forward)?;
    for (ts, _) in &open {
        b.delete(sub, &Store::sub_key(db, key, &member(OPEN, *ts)));
    }
    removed += open.len() as u64;
    m.total_samples = m.total_samples.saturating_sub(removed);
    Ok(removed)
}

/// After a delete or trim (whose batch is already written): the oldest and newest samples.
pub fn refresh_ends(ctx: &Ctx<'_>, key: &[u8], m: &mut SeriesMeta) -> Result<(), Reply> {
    let (_, first) = neighbours(ctx, key, m, i64::MIN, i64::MIN)?;
    let (last, _) = neighbours(ctx, key, m, i64::MAX, i64::MAX)?;
    m.first_ts = first.map(|s| s.0);
    m.last = last;
    if m.first_ts.is_none() {
        m.total_samples = 0;
    }
    Ok(())
}

/// The oldest timestamp the retention keeps (`None`: no retention).
pub fn cutoff(m: &SeriesMeta) -> Option<i64> {
    match (m.retention_ms, m.last) {
        (0, _) | (_, None) => None,
        (r, Some((last, _))) => Some(last.saturating_sub(i64::try_from(r).unwrap_or(i64::MAX))),
    }
}

/// Drops whole chunks (and open samples) older than the retention.
pub fn trim(
    ctx: &Ctx<'_>,
    b: &mut WriteBatch,
    key: &[u8],
    m: &mut SeriesMeta,
) -> Result<(), Reply> {
    let Some(cut) = cutoff(m) else {
        return Ok(());
    };
    if m.first_ts.is_none_or(|f| f >= cut) {
        return Ok(());
    }
    let sub = ctx.store.sub_keyspace();
    let db = ctx.db();
    let lo = member(CHUNK, i64::MIN);
    let hi = member(CHUNK, cut);
    let mut dropped = 0u64;
    let mut new_first = None;
    for r in members(ctx, key, &lo, &hi, false, Direction::Forward)? {
        let (cm, v) = r.map_err(internal)?;
        dropped += chunk::decode(&v).map_err(|_| corrupt())?.len() as u64;
        b.delete(sub, &Store::sub_key(db, key, &cm));
    }
    if let Some(c) = chunks_from(ctx, key, cut)?.next() {
        new_first = c?.1.first().map(|s| s.0);
    }
    let old_open = open_range(ctx, key, m, i64::MIN, cut - 1, Direction::Forward)?;
    for (ts, _) in &old_open {
        b.delete(sub, &Store::sub_key(db, key, &member(OPEN, *ts)));
    }
    dropped += old_open.len() as u64;
    if new_first.is_none() {
        new_first = open_range(ctx, key, m, cut, i64::MAX, Direction::Forward)?
            .first()
            .map(|s| s.0);
    }
    if dropped > 0 {
        ctx.store.ts.open.forget(&Store::meta_key(db, key));
        m.total_samples = m.total_samples.saturating_sub(dropped);
        m.first_ts = new_first.or(m.last.map(|l| l.0));
    }
    Ok(())
}

/// The value of `rule`'s bucket starting at `start`, from the series' samples (`None`: the
/// bucket is empty). twa integrates from the sample before the bucket to `next`, the sample
/// after it (`None`: the bucket is still open), as RedisTimeSeries' compaction does.
pub fn bucket_value(
    ctx: &Ctx<'_>,
    key: &[u8],
    m: &SeriesMeta,
    rule: &orbit_index::timeseries::series::Rule,
    start: i64,
    next: Option<Sample>,
) -> Result<Option<f64>, Reply> {
    use orbit_index::timeseries::aggregate::{Accumulator, Aggregator};
    let end = start.saturating_add(rule.bucket_ms);
    let mut acc = Accumulator::new(rule.aggregator);
    if rule.aggregator == Aggregator::Twa {
        if let (Some(prev), _) = neighbours(ctx, key, m, start, end - 1)? {
            acc.set_prev(start, prev);
        }
    }
    for (t, v) in range(ctx, key, m, start, end - 1)? {
        acc.add(t, v);
    }
    Ok(acc.finish_with_next(start, end, next))
}

/// Every chunk: the sealed ones, then the open one encoded as it stands (TS.INFO).
pub fn chunk_stats(ctx: &Ctx<'_>, key: &[u8], m: &SeriesMeta) -> Result<Vec<ChunkInfo>, Reply> {
    let lo = [CHUNK];
    let hi = [CHUNK + 1];
    let mut out = Vec::new();
    for r in members(ctx, key, &lo, &hi, false, Direction::Forward)? {
        let (_, v) = r.map_err(internal)?;
        let samples = chunk::decode(&v).map_err(|_| corrupt())?;
        out.push(ChunkInfo {
            start: samples.first().map_or(0, |s| s.0),
            end: samples.last().map_or(0, |s| s.0),
            samples: samples.len() as u64,
            bytes: v.len() as u64,
        });
    }
    let open = open_encoder(ctx, key, m)?;
    if !open.is_empty() {
        out.push(ChunkInfo {
            start: open.first_ts().unwrap_or(0),
            end: open.last().map_or(0, |s| s.0),
            samples: open.len() as u64,
            bytes: open.byte_len() as u64,
        });
    }
    ctx.store
        .ts
        .open
        .put(Store::meta_key(ctx.db(), key), m, open);
    Ok(out)
}

/// One chunk as TS.INFO DEBUG lists it (the open chunk last, its size as encoded now).
#[derive(Debug, Clone, Copy)]
pub struct ChunkInfo {
    pub start: i64,
    pub end: i64,
    pub samples: u64,
    pub bytes: u64,
}
