//! RedisTimeSeries' `TS.*` commands over `orbit-index`'s time-series model.
//!
//! A series is a Redis key of kind `TSDB-TYPE` (so `TYPE`, `DEL`, `EXISTS`, `RENAME`,
//! `EXPIRE` and `SCAN TYPE` work on it like on any key): its metadata entry holds the
//! encoded `SeriesMeta` (labels, retention, policy, rules, last sample, log position), and its
//! members hold the samples:
//! - sealed chunks: member `c ‖ last ts` → a Gorilla chunk (`orbit_index::timeseries::chunk`);
//! - the open chunk as of the series' last checkpoint: member `o` → a Gorilla chunk.
//!
//! The open chunk itself lives in memory, in the series' head (`head`), and appends reach the
//! engine as one log record per write batch: the module docs of `head` give the log, the
//! checkpoints and the invariants; `checkpoint` the pass that keeps the log short and the
//! replay at start. Every write is WAL-protected before its reply: nothing acknowledged is
//! lost.
//!
//! Timestamps in members are order-preserving (`ts ^ 1 << 63`, big-endian). Invariant: every
//! open-chunk sample is newer than every sealed chunk's last sample. When the open chunk
//! encodes to `CHUNK_SIZE` bytes it is sealed into a stored chunk. A sample older than the
//! sealed chunks rewrites the chunk it belongs in.
//!
//! The label index (`orbit_index::bitmap::LabelIndex`) is in memory, rebuilt from the metadata
//! at start; queries re-check each candidate's metadata. Submodules: `write` (TS.CREATE,
//! ALTER, ADD, MADD, INCRBY, DECRBY, DEL, CREATERULE, DELETERULE), `read` (TS.GET, MGET,
//! RANGE, REVRANGE, MRANGE, MREVRANGE, INFO, QUERYINDEX), `samples` (the member layout).

pub mod checkpoint;
pub mod head;
pub mod read;
pub mod samples;
pub mod write;

#[cfg(test)]
mod tests;

use std::sync::Mutex;

use orbit_index::bitmap::{Filter, LabelIndex};
use orbit_index::timeseries::series::{DuplicatePolicy, Encoding, SeriesMeta};

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Ctx, Reply};
use crate::store::{Kind, Store};
use head::HeadRef;

/// The server's time-series state beside the stored data.
#[derive(Debug, Default)]
pub struct TsState {
    /// Label index over every database's series (keys are `Store::meta_key`s).
    pub labels: Mutex<LabelIndex>,
    /// The series' heads and the write log's counters.
    pub heads: head::Heads,
    /// The commit log's epoch the state was loaded at (`TxnDb::epoch`): a replicated node
    /// that applied another leader's writes since then reloads it ([`TsState::refresh`]).
    epoch: AtomicU64,
}

impl TsState {
    /// Rebuilds the label index from every stored series, and the heads from the log.
    pub fn rebuild(store: &Store) -> crate::Result<TsState> {
        let state = TsState::default();
        state.epoch.store(store.epoch(), Ordering::SeqCst);
        state.load(store)?;
        Ok(state)
    }

    fn load(&self, store: &Store) -> crate::Result<()> {
        let now = crate::store::now_ms();
        let mut index = lock(&self.labels);
        for db in 0..crate::store::DATABASES {
            let db = u8::try_from(db).unwrap_or(0);
            for entry in store.keys(db, b"", now)? {
                let (key, meta) = entry?;
                if meta.kind == Kind::TimeSeries {
                    if let Ok(m) = SeriesMeta::decode(&meta.payload) {
                        let full = Store::meta_key(db, &key);
                        index.insert(&full, &m.labels);
                        self.heads.start_after(m.log_pos);
                        self.heads.cutoffs.set(&full, samples::cutoff(&m));
                    }
                }
            }
        }
        drop(index);
        let replayed = checkpoint::replay(store, &self.heads, now)?;
        if replayed > 0 {
            tracing::info!(
                samples = replayed,
                "time series samples replayed from the log"
            );
        }
        Ok(())
    }

    /// Whether no other node's writes arrived since the state was loaded.
    pub fn is_current(&self, store: &Store) -> bool {
        self.epoch.load(Ordering::SeqCst) == store.epoch()
    }

    /// Reloads the state if writes from another node's log reached the database since it was
    /// loaded (a follower, or a node that became leader): the heads and labels in memory
    /// would miss them. Under every stripe lock, so no time-series write runs meanwhile; on a
    /// single node, two loads.
    pub fn refresh(store: &Store) -> crate::Result<()> {
        let ts = &store.ts;
        if ts.is_current(store) {
            return Ok(());
        }
        let _all = store.lock_all();
        // Read before loading: writes applied meanwhile leave it behind, and the next
        // command loads again.
        let epoch = store.epoch();
        if ts.epoch.load(Ordering::SeqCst) == epoch {
            return Ok(());
        }
        *lock(&ts.labels) = LabelIndex::default();
        ts.heads.clear();
        ts.load(store)?;
        ts.epoch.store(epoch, Ordering::SeqCst);
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `ERR TSDB: ...`.
pub fn tsdb(msg: &str) -> Reply {
    Reply::err(format!("ERR TSDB: {msg}"))
}

pub fn no_key() -> Reply {
    tsdb("the key does not exist")
}

fn wrong_kind() -> Reply {
    // RedisTimeSeries' wording for reads (writes say "the key is not a TSDB key").
    Reply::err("ERR WRONGTYPE Operation against a key holding the wrong kind of value")
}

/// The live, unexpired head of the series at `key`, if one is registered.
fn live_head(ctx: &Ctx<'_>, key: &[u8]) -> Option<HeadRef> {
    let h = ctx.store.ts.heads.live(&Store::meta_key(ctx.db(), key))?;
    let expired = head::lock(&h).expired(ctx.now);
    (!expired).then_some(h)
}

/// The series at `key` as stored (`WRONGTYPE` for another kind, `None` if missing).
fn stored_head(ctx: &Ctx<'_>, key: &[u8]) -> Result<Option<head::Head>, Reply> {
    let Some(meta) = ctx.meta_any(key)? else {
        return Ok(None);
    };
    if meta.kind != Kind::TimeSeries {
        return Err(wrong_kind());
    }
    samples::load(ctx.store, ctx.db(), key, &meta).map(Some)
}

/// The series at `key`, as its head (registered, loaded from storage if needed);
/// `WRONGTYPE` for another kind, `None` if missing. Call under the key's stripe.
pub fn head_of(ctx: &Ctx<'_>, key: &[u8]) -> Result<Option<HeadRef>, Reply> {
    if let Some(h) = live_head(ctx, key) {
        return Ok(Some(h));
    }
    let heads = &ctx.store.ts.heads;
    Ok(stored_head(ctx, key)?.map(|h| heads.insert(Store::meta_key(ctx.db(), key), h)))
}

/// [`head_of`] for a series that must exist.
pub fn existing_head(ctx: &Ctx<'_>, key: &[u8]) -> Result<HeadRef, Reply> {
    head_of(ctx, key)?.ok_or_else(no_key)
}

/// The series at `key` without its stripe: its live head, or a head read from storage and
/// not registered (only the stripe holder may register one).
pub fn view(ctx: &Ctx<'_>, key: &[u8]) -> Result<Option<HeadRef>, Reply> {
    if let Some(h) = live_head(ctx, key) {
        return Ok(Some(h));
    }
    Ok(stored_head(ctx, key)?.map(|h| std::sync::Arc::new(Mutex::new(h))))
}

/// A series' metadata as it is now (without its stripe: for label filters and checks),
/// `WRONGTYPE` for another kind, `None` if missing.
pub fn series(ctx: &Ctx<'_>, key: &[u8]) -> Result<Option<SeriesMeta>, Reply> {
    if let Some(h) = live_head(ctx, key) {
        return Ok(Some(head::lock(&h).meta.clone()));
    }
    let Some(meta) = ctx.meta_any(key)? else {
        return Ok(None);
    };
    if meta.kind != Kind::TimeSeries {
        return Err(wrong_kind());
    }
    let m = SeriesMeta::decode(&meta.payload).map_err(|e| Reply::err(format!("ERR {e}")))?;
    Ok(Some(m))
}

/// Parses a timestamp argument (`*` is handled by callers).
pub fn timestamp(arg: &[u8]) -> Result<i64, Reply> {
    match std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
    {
        Some(t) if t >= 0 => Ok(t),
        Some(_) => Err(tsdb("invalid timestamp, must be a nonnegative integer")),
        None => Err(tsdb("invalid timestamp")),
    }
}

/// Parses a range bound: `-` / `+` or a timestamp.
pub fn bound(arg: &[u8], low: bool) -> Result<i64, Reply> {
    match arg {
        b"-" => Ok(0),
        b"+" => Ok(i64::MAX),
        _ => timestamp(arg).map_err(|_| {
            tsdb(if low {
                "wrong fromTimestamp"
            } else {
                "wrong toTimestamp"
            })
        }),
    }
}

/// Parses a sample value.
pub fn value(arg: &[u8]) -> Result<f64, Reply> {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| super::parse_float(s.as_bytes()))
        .ok_or_else(|| tsdb("invalid value"))
}

fn uint(arg: Option<&Vec<u8>>) -> Option<u64> {
    arg.and_then(|a| std::str::from_utf8(a).ok())
        .and_then(|s| s.parse::<u64>().ok())
}

/// The options TS.CREATE, TS.ALTER, TS.ADD and TS.INCRBY share.
#[derive(Debug, Default)]
pub struct Options {
    pub retention: Option<u64>,
    pub chunk_size: Option<u64>,
    pub policy: Option<DuplicatePolicy>,
    pub on_duplicate: Option<DuplicatePolicy>,
    pub ignore: Option<(u64, f64)>,
    pub encoding: Option<Encoding>,
    pub labels: Option<Vec<(String, String)>>,
    /// TS.INCRBY / TS.DECRBY's TIMESTAMP.
    pub timestamp: Option<i64>,
}

/// Parses options from `args`; `allowed` names the keywords this command takes.
pub fn options(args: &[Vec<u8>], allowed: &[&str]) -> Result<Options, Reply> {
    let mut o = Options::default();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let word = String::from_utf8_lossy(a).to_ascii_uppercase();
        if !allowed.contains(&word.as_str()) {
            // RedisTimeSeries looks for the keywords it knows and passes over anything else.
            i += 1;
            continue;
        }
        let next = args.get(i + 1);
        match word.as_str() {
            "RETENTION" => {
                o.retention = Some(uint(next).ok_or_else(|| {
                    // RedisTimeSeries' replies, word for word (a negative number lacks `ERR`).
                    match next.and_then(|n| std::str::from_utf8(n).ok()?.parse::<i64>().ok()) {
                        Some(_) => Reply::err("TSDB: Couldn't parse RETENTION"),
                        None => tsdb("Couldn't parse RETENTION"),
                    }
                })?)
            }
            "CHUNK_SIZE" => {
                let size = uint(next).unwrap_or(0);
                if !(48..=1_048_576).contains(&size) || size % 8 != 0 {
                    return Err(tsdb(
                        "CHUNK_SIZE value must be a multiple of 8 in the range [48 .. 1048576]",
                    ));
                }
                o.chunk_size = Some(size);
            }
            "DUPLICATE_POLICY" | "ON_DUPLICATE" => {
                let n = next.ok_or_else(|| tsdb(&format!("Couldn't parse {word}")))?;
                let p = DuplicatePolicy::parse(&String::from_utf8_lossy(n))
                    .ok_or_else(|| tsdb("Unknown DUPLICATE_POLICY"))?;
                match word.as_str() {
                    "ON_DUPLICATE" => o.on_duplicate = Some(p),
                    _ => o.policy = Some(p),
                }
            }
            "ENCODING" => {
                o.encoding = Some(match next.map(|n| n.to_ascii_uppercase()).as_deref() {
                    Some(b"COMPRESSED") => Encoding::Compressed,
                    Some(b"UNCOMPRESSED") => Encoding::Uncompressed,
                    _ => return Err(tsdb("unknown ENCODING parameter")),
                })
            }
            "UNCOMPRESSED" => {
                o.encoding = Some(Encoding::Uncompressed);
                i += 1;
                continue;
            }
            "IGNORE" => {
                let t = uint(next).ok_or_else(|| tsdb("Couldn't parse IGNORE"))?;
                let v = args
                    .get(i + 2)
                    .and_then(|a| super::parse_float(a))
                    .filter(|v| *v >= 0.0)
                    .ok_or_else(|| tsdb("Couldn't parse IGNORE"))?;
                o.ignore = Some((t, v));
                i += 3;
                continue;
            }
            "TIMESTAMP" => {
                o.timestamp = Some(match next.map(Vec::as_slice) {
                    Some(b"*") => super::super::store::now_ms() as i64,
                    Some(t) => timestamp(t)?,
                    None => return Err(tsdb("invalid timestamp")),
                })
            }
            "LABELS" => {
                // As RedisTimeSeries: no pairs clears the labels; a trailing name alone is ignored.
                let rest = args.get(i + 1..).unwrap_or_default();
                let mut labels = Vec::new();
                for pair in rest.chunks(2) {
                    let [l, v] = pair else { continue };
                    let (l, v) = (String::from_utf8_lossy(l), String::from_utf8_lossy(v));
                    if l.is_empty()
                        || v.is_empty()
                        || l.contains(['(', ')', ',', '=', '!'])
                        || v.contains(['(', ')', ',', '=', '!'])
                    {
                        return Err(tsdb("Invalid label name or value"));
                    }
                    labels.push((l.into_owned(), v.into_owned()));
                }
                o.labels = Some(labels);
                return Ok(o);
            }
            _ => {}
        }
        if next.is_none() {
            return Err(tsdb(&format!("wrong number of arguments for {word}")));
        }
        i += 2;
    }
    Ok(o)
}

impl Options {
    /// Applies these options to a series' metadata (TS.CREATE, TS.ALTER, auto-creation).
    pub fn apply(&self, m: &mut SeriesMeta) {
        if let Some(r) = self.retention {
            m.retention_ms = r;
        }
        if let Some(c) = self.chunk_size {
            m.chunk_size = c;
        }
        if let Some(p) = self.policy {
            m.duplicate_policy = Some(p);
        }
        if let Some((t, v)) = self.ignore {
            m.ignore_max_time_diff = t;
            m.ignore_max_val_diff = v;
        }
        if let Some(e) = self.encoding {
            m.encoding = e;
        }
        if let Some(l) = &self.labels {
            m.labels = l.clone();
        }
    }
}

/// Parses `FILTER expr...` (to the end of `args`) into filters, requiring a positive matcher.
pub fn filters(args: &[Vec<u8>]) -> Result<Vec<Filter>, Reply> {
    let mut out = Vec::new();
    for a in args {
        let f = Filter::parse(&String::from_utf8_lossy(a))
            .ok_or_else(|| tsdb("failed parsing labels"))?;
        out.push(f);
    }
    if !out.iter().any(Filter::is_positive) {
        return Err(tsdb("please provide at least one matcher"));
    }
    Ok(out)
}

/// The series of the current database matching `filters`, sorted by key, with their metadata.
pub fn matching(ctx: &Ctx<'_>, filters: &[Filter]) -> Result<Vec<(Vec<u8>, SeriesMeta)>, Reply> {
    let candidates = lock(&ctx.store.ts.labels).query(filters);
    let db = ctx.db();
    let mut out = Vec::new();
    for full in candidates {
        if full.first() != Some(&db) {
            continue;
        }
        let key = full.get(1..).unwrap_or_default().to_vec();
        match series(ctx, &key) {
            Ok(Some(m)) if filters.iter().all(|f| f.matches(&m.labels)) => out.push((key, m)),
            Ok(Some(_)) => {}
            // Deleted or replaced by another path: forget it.
            _ => lock(&ctx.store.ts.labels).remove(&full),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Indexes (or re-indexes) a series' labels.
pub fn index(ctx: &Ctx<'_>, key: &[u8], m: &SeriesMeta) {
    lock(&ctx.store.ts.labels).insert(&Store::meta_key(ctx.db(), key), &m.labels);
}

/// Indexes the copy of a series made by RENAME or COPY at `dst` in database `dst_db`.
pub fn index_copy(store: &Store, payload: &[u8], dst_db: u8, dst: &[u8]) {
    if let Ok(m) = SeriesMeta::decode(payload) {
        lock(&store.ts.labels).insert(&Store::meta_key(dst_db, dst), &m.labels);
    }
}

/// A series' metadata payload for a copy of it (COPY): the same, under a uid of its own. The
/// write log's records name a series by key and uid, so a copy sharing its source's uid could
/// take, on replay, records that an earlier series of that uid left under the copy's key.
pub fn copied_payload(payload: &[u8]) -> Vec<u8> {
    match SeriesMeta::decode(payload) {
        Ok(mut m) => {
            m.uid = rand::random();
            m.encode()
        }
        Err(_) => payload.to_vec(),
    }
}

/// Forgets a series in the label index (DEL, RENAME's source).
pub fn unindex(store: &Store, db: u8, key: &[u8]) {
    lock(&store.ts.labels).remove(&Store::meta_key(db, key));
}
