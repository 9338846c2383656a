//! The member layout of a series' samples (module docs of `timeseries`), and the operations
//! on them: reading a time range, the neighbours of a range (for twa), inserting or updating one
//! sample (appending to the open chunk, sealing it, or rewriting a chunk), deleting a range,
//! trimming to the retention, and writing a series' checkpoint.
//!
//! The sealed chunks are read from storage; the open chunk is the series' head
//! (`head::Head`), so every function here runs under the series' lock stripe with its head.

use std::ops::Bound;

use orbit_index::timeseries::chunk::{self, Encoder};
use orbit_index::timeseries::series::{DuplicatePolicy, SeriesMeta};
use orbit_lsm::{Direction, WriteBatch};

use super::head::Head;
use super::{tsdb, Ctx, Reply};
use crate::commands::internal;
use crate::store::{Kind, Meta, Store};

/// A sample: (timestamp ms, value).
pub type Sample = (i64, f64);
/// A sealed chunk's member and samples.
type SealedChunk = (Vec<u8>, Vec<Sample>);

const CHUNK: u8 = b'c';
/// The open chunk as of the series' last checkpoint.
const OPEN_CHUNK: &[u8] = b"o";
/// The old layout's open samples, one member each (`t ‖ ts` → value): read, then removed by
/// the next checkpoint.
const LEGACY: u8 = b't';

/// The last timestamp of a sealed chunk's member (`c ‖ ts`), `None` for any other member.
pub fn chunk_member_last(member: &[u8]) -> Option<i64> {
    match member {
        [CHUNK, ts @ ..] => unord(ts),
        _ => None,
    }
}

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
fn stored_members(
    store: &Store,
    db: u8,
    key: &[u8],
    lo: &[u8],
    (hi, inclusive): (&[u8], bool),
    dir: Direction,
) -> Result<crate::store::MemberIter, Reply> {
    let hi = match inclusive {
        true => Bound::Included(hi),
        false => Bound::Excluded(hi),
    };
    store
        .member_range(db, key, Bound::Included(lo), hi, dir)
        .map_err(internal)
}

fn members(
    ctx: &Ctx<'_>,
    key: &[u8],
    lo: &[u8],
    hi: &[u8],
    inclusive: bool,
    dir: Direction,
) -> Result<crate::store::MemberIter, Reply> {
    stored_members(ctx.store, ctx.db(), key, lo, (hi, inclusive), dir)
}

/// An encoder holding `samples` (ascending).
fn encoder_of(samples: &[Sample]) -> Encoder {
    let mut enc = Encoder::new();
    for (t, v) in samples {
        enc.push(*t, *v);
    }
    enc
}

/// A series' head as stored: its metadata and its checkpointed open chunk (plus the old
/// layout's one member per sample, if any).
pub fn load(store: &Store, db: u8, key: &[u8], meta: &Meta) -> Result<Head, Reply> {
    let m = SeriesMeta::decode(&meta.payload).map_err(|e| Reply::err(format!("ERR {e}")))?;
    let mut enc = match store.member(db, key, OPEN_CHUNK).map_err(internal)? {
        Some(b) => Encoder::from_bytes(&b).map_err(|_| corrupt())?,
        None => Encoder::new(),
    };
    let (lo, hi) = (member(LEGACY, i64::MIN), member(LEGACY, i64::MAX));
    let mut legacy = false;
    for r in stored_members(store, db, key, &lo, (&hi, true), Direction::Forward)? {
        let (m, v) = r.map_err(internal)?;
        let ts = m.get(1..).and_then(unord).ok_or_else(corrupt)?;
        enc.push(ts, value_of(&v).ok_or_else(corrupt)?);
        legacy = true;
    }
    Ok(Head::new(meta.expire_at, m, enc, legacy))
}

/// Adds `h`'s checkpoint (series `key`) to `b` and writes `b` as the command's write; `h` is
/// then clean.
pub fn write_checkpoint(
    ctx: &mut Ctx<'_>,
    b: &mut WriteBatch,
    key: &[u8],
    h: &mut Head,
) -> Result<(), Reply> {
    checkpoint_into(ctx.store, b, ctx.db(), key, h);
    ctx.write(&std::mem::take(b))?;
    h.dirty = None;
    Ok(())
}

/// Adds a checkpoint of `h` (series `key` of database `db`) to `b`: its metadata, with the
/// log position now, and its open chunk. The caller clears `h.dirty` once `b` is submitted.
pub fn checkpoint_into(store: &Store, b: &mut WriteBatch, db: u8, key: &[u8], h: &mut Head) {
    h.meta.log_pos = store.ts.heads.position();
    let meta = Meta {
        kind: Kind::TimeSeries,
        expire_at: h.expire_at,
        payload: h.meta.encode(),
    };
    store.put_series_meta_into(b, db, key, &meta);
    store
        .ts
        .heads
        .cutoffs
        .set(&Store::meta_key(db, key), cutoff(&h.meta));
    let sub = store.sub_keyspace();
    match h.enc.is_empty() {
        true => b.delete(sub, &Store::sub_key(db, key, OPEN_CHUNK)),
        false => b.put(sub, &Store::sub_key(db, key, OPEN_CHUNK), &h.enc.to_bytes()),
    };
    if std::mem::take(&mut h.legacy) {
        b.delete_range(
            sub,
            &Store::sub_key(db, key, &[LEGACY]),
            &Store::sub_key(db, key, &[LEGACY + 1]),
        );
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

/// The open chunk's samples, ascending.
fn open_samples(h: &Head) -> Result<Vec<Sample>, Reply> {
    chunk::decode(&h.enc.to_bytes()).map_err(|_| corrupt())
}

/// The open chunk's samples within [from, to], in `dir`.
fn open_range(h: &Head, from: i64, to: i64, dir: Direction) -> Result<Vec<Sample>, Reply> {
    let mut out: Vec<Sample> = open_samples(h)?
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
    h: &Head,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, f64)>, Reply> {
    let mut out = Vec::new();
    if from > to {
        return Ok(out);
    }
    // Sealed chunks whose last sample is at or after `from`, decoded straight into `out`
    // until one starts after `to` (room for every sample up front: no regrowth copies).
    out.reserve(
        usize::try_from(h.meta.total_samples)
            .unwrap_or(0)
            .min(1 << 22),
    );
    let lo = member(CHUNK, from);
    for r in members(ctx, key, &lo, &[CHUNK + 1], false, Direction::Forward)? {
        let (_, v) = r.map_err(internal)?;
        if chunk::first_ts(&v).is_some_and(|f| f > to) {
            break;
        }
        chunk::decode_range_into(&v, from, to, &mut out).map_err(|_| corrupt())?;
    }
    out.extend(open_range(h, from, to, Direction::Forward)?);
    Ok(out)
}

/// The newest sample before `from` and the oldest after `to` (twa's neighbours).
pub fn neighbours(
    ctx: &Ctx<'_>,
    key: &[u8],
    h: &Head,
    from: i64,
    to: i64,
) -> Result<(Option<Sample>, Option<Sample>), Reply> {
    let before = if from == i64::MIN {
        None
    } else {
        let near = open_range(h, i64::MIN, from - 1, Direction::Backward)?;
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
            None => open_range(h, to + 1, i64::MAX, Direction::Forward)?
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

/// Puts `(ts, v)` into `samples` (ascending): a new timestamp, or an existing one's value
/// resolved from the old one.
fn place(
    samples: &mut Vec<Sample>,
    (ts, v): Sample,
    resolve: impl Fn(f64) -> Result<f64, Reply>,
) -> Result<Upsert, Reply> {
    match samples.binary_search_by(|s| s.0.cmp(&ts)) {
        Ok(i) => {
            let slot = samples.get_mut(i).ok_or_else(corrupt)?;
            slot.1 = resolve(slot.1)?;
            Ok(Upsert::Updated(slot.1))
        }
        Err(i) => {
            samples.insert(i, (ts, v));
            Ok(Upsert::Added)
        }
    }
}

/// How a change to a series must reach storage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Persist {
    /// An append to the open chunk: its sample in the log record.
    Log,
    /// Anything else: a checkpoint of the series (plus what the change put in the batch).
    Checkpoint,
}

/// Applies the sample (`ts`, `v`) to `h` (and to sealed chunks through `b`): a new sample, or
/// an existing timestamp resolved by `policy`. The caller checks retention and IGNORE first.
pub fn upsert(
    ctx: &Ctx<'_>,
    b: &mut WriteBatch,
    key: &[u8],
    h: &mut Head,
    (ts, v): Sample,
    policy: DuplicatePolicy,
) -> Result<(Upsert, Persist), Reply> {
    let sub = ctx.store.sub_keyspace();
    if h.meta.last.is_none_or(|(last, _)| ts > last) {
        if !h.enc.push(ts, v) {
            return Err(corrupt());
        }
        h.appended(ts, v);
        if h.enc.byte_len() as u64 >= h.meta.chunk_size {
            // Seal: the open chunk becomes a stored chunk, in this batch's checkpoint.
            let sealed = std::mem::take(&mut h.enc);
            b.put(
                sub,
                &Store::sub_key(ctx.db(), key, &member(CHUNK, ts)),
                &sealed.to_bytes(),
            );
            return Ok((Upsert::Added, Persist::Checkpoint));
        }
        return Ok((Upsert::Added, Persist::Log));
    }
    let resolve = |old: f64| {
        policy.resolve(old, v).ok_or_else(|| {
        tsdb("Error at upsert, update is not supported when DUPLICATE_POLICY is set to BLOCK mode")
    })
    };
    let outcome;
    if sealed_last(ctx, key)?.is_none_or(|s| ts > s) {
        // Inside the open chunk: re-encode it.
        let mut samples = open_samples(h)?;
        outcome = place(&mut samples, (ts, v), resolve)?;
        h.enc = encoder_of(&samples);
    } else {
        // Inside (or just before) a sealed chunk: rewrite it.
        let Some(c) = chunks_from(ctx, key, ts)?.next() else {
            return Err(corrupt());
        };
        let (cm, mut samples) = c?;
        outcome = place(&mut samples, (ts, v), resolve)?;
        b.put(
            sub,
            &Store::sub_key(ctx.db(), key, &cm),
            &chunk::encode(&samples),
        );
    }
    let m = &mut h.meta;
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
    Ok((outcome, Persist::Checkpoint))
}

/// Deletes the samples in [from, to] (sealed ones through `b`, open ones from `h`); returns
/// how many.
pub fn delete(
    ctx: &Ctx<'_>,
    b: &mut WriteBatch,
    key: &[u8],
    h: &mut Head,
    from: i64,
    to: i64,
) -> Result<u64, Reply> {
    let sub = ctx.store.sub_keyspace();
    let db = ctx.db();
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
    let open = open_samples(h)?;
    let kept: Vec<Sample> = open
        .iter()
        .copied()
        .filter(|s| s.0 < from || s.0 > to)
        .collect();
    if kept.len() != open.len() {
        removed += (open.len() - kept.len()) as u64;
        h.enc = encoder_of(&kept);
    }
    h.meta.total_samples = h.meta.total_samples.saturating_sub(removed);
    Ok(removed)
}

/// After a delete or trim (whose batch is already written): the oldest and newest samples.
pub fn refresh_ends(ctx: &Ctx<'_>, key: &[u8], h: &mut Head) -> Result<(), Reply> {
    let (_, first) = neighbours(ctx, key, h, i64::MIN, i64::MIN)?;
    let (last, _) = neighbours(ctx, key, h, i64::MAX, i64::MAX)?;
    let m = &mut h.meta;
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

/// Drops whole chunks (and open samples) older than the retention; returns whether it
/// dropped any (the series then needs a checkpoint).
pub fn trim(ctx: &Ctx<'_>, b: &mut WriteBatch, key: &[u8], h: &mut Head) -> Result<bool, Reply> {
    let Some(cut) = cutoff(&h.meta) else {
        return Ok(false);
    };
    if h.meta.first_ts.is_none_or(|f| f >= cut) {
        return Ok(false);
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
    let open = open_samples(h)?;
    let kept: Vec<Sample> = open.iter().copied().filter(|s| s.0 >= cut).collect();
    if kept.len() != open.len() {
        dropped += (open.len() - kept.len()) as u64;
        h.enc = encoder_of(&kept);
    }
    if new_first.is_none() {
        new_first = kept.first().map(|s| s.0);
    }
    if dropped == 0 {
        return Ok(false);
    }
    let m = &mut h.meta;
    m.total_samples = m.total_samples.saturating_sub(dropped);
    m.first_ts = new_first.or(m.last.map(|l| l.0));
    Ok(true)
}

/// The value of `rule`'s bucket starting at `start`, from the series' samples (`None`: the
/// bucket is empty). twa integrates from the sample before the bucket to `next`, the sample
/// after it (`None`: the bucket is still open), as RedisTimeSeries' compaction does.
pub fn bucket_value(
    ctx: &Ctx<'_>,
    key: &[u8],
    h: &Head,
    rule: &orbit_index::timeseries::series::Rule,
    start: i64,
    next: Option<Sample>,
) -> Result<Option<f64>, Reply> {
    use orbit_index::timeseries::aggregate::{Accumulator, Aggregator};
    let end = start.saturating_add(rule.bucket_ms);
    let mut acc = Accumulator::new(rule.aggregator);
    if rule.aggregator == Aggregator::Twa {
        if let (Some(prev), _) = neighbours(ctx, key, h, start, end - 1)? {
            acc.set_prev(start, prev);
        }
    }
    for (t, v) in range(ctx, key, h, start, end - 1)? {
        acc.add(t, v);
    }
    Ok(acc.finish_with_next(start, end, next))
}

/// Every chunk: the sealed ones, then the open one encoded as it stands (TS.INFO).
pub fn chunk_stats(ctx: &Ctx<'_>, key: &[u8], h: &Head) -> Result<Vec<ChunkInfo>, Reply> {
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
    let open = &h.enc;
    if !open.is_empty() {
        out.push(ChunkInfo {
            start: open.first_ts().unwrap_or(0),
            end: open.last().map_or(0, |s| s.0),
            samples: open.len() as u64,
            bytes: open.byte_len() as u64,
        });
    }
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
