//! Keeping the time series' write log short (`head` module docs): checkpoints of dirty heads,
//! deleting the log records no head needs, retiring dead and idle heads (the maintenance
//! pass, run every 100 ms by the server and forced by SAVE and shutdown), settling a series
//! before a generic command copies its stored members, and replaying the log at start.

use std::collections::HashMap;

use orbit_lsm::WriteBatch;

use super::head::{self, fate, is_live, lock, Fate, HeadRef, Heads};
use super::samples::{self, checkpoint_into};
use crate::commands::Ctx;
use crate::reply::Reply;
use crate::store::{Kind, Store};
use crate::Result;

/// Log bytes after which a pass checkpoints every dirty head and trims the log.
const PASS_LOG_BYTES: u64 = 16 << 20;
/// A pass checkpoints at least every this many passes (a minute at 100 ms), so the log a
/// restart replays stays short even when little is written.
const CHECKPOINT_EVERY: u64 = 600;
/// A clean head unused for this many passes (ten minutes at 100 ms) leaves memory.
const IDLE_PASSES: u64 = 6_000;

/// What a maintenance pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct PassStats {
    /// Heads checkpointed.
    pub checkpointed: usize,
    /// Heads dropped (dead or idle).
    pub dropped: usize,
    /// Whether the log was trimmed.
    pub trimmed: bool,
}

/// One maintenance pass; `force` checkpoints and trims whatever the log holds. Waits until
/// its writes are durable. Call with no stripe held.
pub fn maintain(store: &Store, force: bool) -> Result<PassStats> {
    if !store.ts.is_current(store) {
        // Another node's writes arrived since the heads were loaded (a follower): they are
        // reloaded by the next time-series command, not by every pass (a whole key scan).
        return Ok(PassStats::default());
    }
    let heads = &store.ts.heads;
    let pass = heads
        .passes
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    let logged = heads.log_bytes.load(std::sync::atomic::Ordering::Relaxed);
    let due = force || logged >= PASS_LOG_BYTES || (logged > 0 && pass % CHECKPOINT_EVERY == 0);
    // Read before looking at any head: a record numbered later than this is never deleted
    // here (its writer marked its head dirty before taking the number, see `Heads`).
    let mut keep_from = heads.position() + 1;
    let mut stats = PassStats::default();
    let mut pending = Vec::new();
    for (full, h) in heads.all() {
        let (Some(&db), Some(key)) = (full.first(), full.get(1..)) else {
            continue;
        };
        let f = fate(&mut lock(&h));
        match f {
            Fate::Drop => {
                heads.remove(&full, &h);
                stats.dropped += 1;
            }
            Fate::Dirty if due => {
                let _stripe = store.lock(db, &[key]);
                let mut g = lock(&h);
                if is_live(&g) && g.dirty.is_some() {
                    let mut b = WriteBatch::new();
                    checkpoint_into(store, &mut b, db, key, &mut g);
                    pending.push(store.submit(&b)?);
                    g.dirty = None;
                    stats.checkpointed += 1;
                }
                if let Some(d) = g.dirty {
                    keep_from = keep_from.min(d);
                }
            }
            Fate::Idle(t) if pass.saturating_sub(t) > IDLE_PASSES => {
                let _stripe = store.lock(db, &[key]);
                let g = lock(&h);
                let idle = is_live(&g) && g.dirty.is_none() && g.touched() == t;
                drop(g);
                if idle {
                    heads.remove(&full, &h);
                    stats.dropped += 1;
                }
            }
            Fate::Noticed | Fate::Dirty | Fate::Idle(_) => {
                if let Some(d) = lock(&h).dirty {
                    keep_from = keep_from.min(d);
                }
            }
        }
    }
    // Nothing logged and nothing checkpointed: nothing to trim (an idle server writes nothing).
    if due && (logged > 0 || stats.checkpointed > 0) {
        let mut b = WriteBatch::new();
        b.delete_range(
            store.tslog_keyspace(),
            &0u64.to_be_bytes(),
            &keep_from.to_be_bytes(),
        );
        // After the checkpoints: the log's records go no earlier than what replaces them.
        pending.push(store.submit(&b)?);
        // Saturating: a concurrent pass (SAVE beside the background one) may take its share.
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        let _ = heads
            .log_bytes
            .fetch_update(relaxed, relaxed, |v| Some(v.saturating_sub(logged)));
        stats.trimmed = true;
    }
    for p in pending {
        p.wait()?;
    }
    Ok(stats)
}

/// [`maintain`] from a command (SAVE, BGSAVE): on a thread of its own, since waiting for
/// durability blocks and a worker thread drives an async runtime. The worker waits for it,
/// as it waits for SAVE's flush (no stripe is held by a worker between commands).
pub fn maintain_from_command(store: &Store) -> std::result::Result<PassStats, Reply> {
    std::thread::scope(|s| {
        s.spawn(|| maintain(store, true))
            .join()
            .map_err(|_| Reply::err("ERR time series checkpoint failed"))?
            .map_err(crate::commands::internal)
    })
}

/// Before a generic command (RENAME, COPY) reads a series' stored members: writes its
/// checkpoint if its head holds samples only the log has. Call under the key's stripe.
pub fn settle(ctx: &mut Ctx<'_>, key: &[u8]) -> std::result::Result<(), Reply> {
    let Some(h) = ctx.store.ts.heads.live(&Store::meta_key(ctx.db(), key)) else {
        return Ok(());
    };
    let mut g = lock(&h);
    if g.dirty.is_none() {
        return Ok(());
    }
    samples::write_checkpoint(ctx, &mut WriteBatch::new(), key, &mut g)
}

/// At start: loads every series the log has samples for and replays the samples after its
/// checkpoint into its head; log positions continue after the highest seen. Returns the
/// number of samples replayed.
pub fn replay(store: &Store, heads: &Heads, now: u64) -> Result<u64> {
    let records = store.tslog_records()?;
    let mut series: HashMap<Vec<u8>, Option<HeadRef>> = HashMap::new();
    let mut replayed = 0;
    for (pos, rec) in &records {
        heads.start_after(*pos);
        // The log to trim: a pass checkpoints what was replayed (see `maintain`).
        heads
            .log_bytes
            .fetch_add(rec.len() as u64, std::sync::atomic::Ordering::Relaxed);
        for s in head::log_read(rec) {
            let Some(s) = s else {
                tracing::warn!(position = pos, "time series log record ends in garbage");
                break;
            };
            let full = Store::meta_key(s.db, s.key);
            let h = match series.get(&full) {
                Some(h) => h.clone(),
                None => {
                    let h = match store.meta(s.db, s.key, now)? {
                        Some(meta) if meta.kind == Kind::TimeSeries => {
                            match samples::load(store, s.db, s.key, &meta) {
                                Ok(head) => Some(heads.insert(full.clone(), head)),
                                Err(_) => {
                                    tracing::warn!(
                                        key = %String::from_utf8_lossy(s.key),
                                        "time series unreadable: its logged samples are skipped"
                                    );
                                    None
                                }
                            }
                        }
                        _ => None,
                    };
                    series.insert(full, h.clone());
                    h
                }
            };
            let Some(h) = h else { continue };
            let mut g = lock(&h);
            if g.meta.uid == s.uid && *pos > g.meta.log_pos && g.replay(s.ts, s.value) {
                g.dirty.get_or_insert(*pos);
                replayed += 1;
            }
        }
    }
    Ok(replayed)
}
