//! Redis transactions on the engine: MULTI queues a connection's commands, EXEC runs them
//! as one (under the exclusive side of `Engine::exec_lock`, so no other command interleaves),
//! DISCARD drops them; WATCH makes EXEC fail once another client has written a watched key
//! (`Engine::touch`, called after every write with the keys it wrote).
//!
//! Invariant: a client is in `Watches::dirty` only while it watches something; `Engine::watched`
//! counts the watching clients, so writes skip the bookkeeping while nobody watches.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use orbit_txn::Pending;

use crate::reply::Reply;
use crate::session::Session;
use crate::{commands, lock, Engine};

/// WATCHed keys and the clients whose transactions a write invalidated.
#[derive(Default)]
pub(crate) struct Watches {
    pub(crate) by_key: std::collections::HashMap<(u8, Vec<u8>), std::collections::HashSet<u64>>,
    pub(crate) by_client: std::collections::HashMap<u64, Vec<(u8, Vec<u8>)>>,
    pub(crate) dirty: std::collections::HashSet<u64>,
    /// When each client's watched keys that had a TTL at WATCH expire (Unix ms): one that
    /// expires before EXEC aborts it, as in Redis, though no command wrote it.
    pub(crate) deadlines: std::collections::HashMap<u64, Vec<u64>>,
}

impl Engine {
    /// MULTI, EXEC, DISCARD, WATCH, UNWATCH.
    pub(crate) fn transaction(
        &self,
        session: &mut Session,
        name: &str,
        args: &[Vec<u8>],
    ) -> (Reply, Vec<Pending>) {
        match name {
            "multi" => {
                if session.multi.is_some() {
                    return (Reply::err("ERR MULTI calls can not be nested"), Vec::new());
                }
                session.multi = Some(Vec::new());
                session.multi_failed = false;
                (Reply::OK, Vec::new())
            }
            "discard" => {
                if session.multi.take().is_none() {
                    return (Reply::err("ERR DISCARD without MULTI"), Vec::new());
                }
                self.unwatch(session.id);
                (Reply::OK, Vec::new())
            }
            "watch" => {
                if session.multi.is_some() {
                    return (
                        Reply::err("ERR WATCH inside MULTI is not allowed"),
                        Vec::new(),
                    );
                }
                let now = crate::store::now_ms();
                let deadlines: Vec<u64> = args
                    .iter()
                    .skip(1)
                    .filter_map(|k| self.store.meta(session.db, k, now).ok().flatten())
                    .map(|m| m.expire_at)
                    .filter(|&at| at != 0)
                    .collect();
                let mut w = lock(&self.watches);
                w.deadlines.entry(session.id).or_default().extend(deadlines);
                for key in args.iter().skip(1) {
                    w.by_key
                        .entry((session.db, key.clone()))
                        .or_default()
                        .insert(session.id);
                    w.by_client
                        .entry(session.id)
                        .or_default()
                        .push((session.db, key.clone()));
                }
                self.watched.store(w.by_client.len(), Ordering::Relaxed);
                (Reply::OK, Vec::new())
            }
            "unwatch" => {
                self.unwatch(session.id);
                (Reply::OK, Vec::new())
            }
            _ => {
                let Some(queue) = session.multi.take() else {
                    return (Reply::err("ERR EXEC without MULTI"), Vec::new());
                };
                let dirty = {
                    let w = lock(&self.watches);
                    let now = crate::store::now_ms();
                    w.dirty.contains(&session.id)
                        || w.deadlines
                            .get(&session.id)
                            .is_some_and(|d| d.iter().any(|&at| at <= now))
                };
                self.unwatch(session.id);
                if std::mem::take(&mut session.multi_failed) {
                    return (
                        Reply::err("EXECABORT Transaction discarded because of previous errors."),
                        Vec::new(),
                    );
                }
                if dirty {
                    return (Reply::NilArray, Vec::new());
                }
                // Nothing else runs while the transaction does: no one sees half of it.
                let _exclusive = self.exec_lock.write().unwrap_or_else(|p| p.into_inner());
                let mut replies = Vec::with_capacity(queue.len());
                let mut pending = Vec::new();
                for args in &queue {
                    let Some(cmd) = args.first().and_then(|n| commands::lookup(n)) else {
                        continue;
                    };
                    // Through a replicated log, a command reading what an earlier one wrote
                    // waits for it (see `inflight`); the worker blocks, as nothing else runs.
                    if let Some(w) = self.in_flight(session, cmd, args) {
                        let _ = Pending::Replicated(w).wait();
                    }
                    let (reply, p) = self.run(session, cmd, args, true);
                    if let Some(Pending::Replicated(done)) = p.last() {
                        session.last_write = Some(Arc::clone(done));
                    }
                    replies.push(reply);
                    pending.extend(p);
                }
                // ... and the lock is held until its writes are visible: no one sees half.
                for p in &pending {
                    if let Pending::Replicated(done) = p {
                        let _ = Pending::Replicated(Arc::clone(done)).wait();
                    }
                }
                (Reply::Array(replies), pending)
            }
        }
    }

    /// Marks the watchers of what a write command changed.
    pub(crate) fn touch(&self, db: u8, name: &str, args: &[Vec<u8>]) {
        let mut w = lock(&self.watches);
        let hit: Vec<u64> = match name {
            "flushall" => w.by_key.values().flatten().copied().collect(),
            "flushdb" => w
                .by_key
                .iter()
                .filter(|((d, _), _)| *d == db)
                .flat_map(|(_, c)| c.iter().copied())
                .collect(),
            _ => commands::keys_in(name, args, db)
                .into_iter()
                .filter_map(|(db, k)| w.by_key.get(&(db, k.to_vec())))
                .flat_map(|c| c.iter().copied())
                .collect(),
        };
        w.dirty.extend(hit);
    }

    pub(crate) fn unwatch(&self, client: u64) {
        let mut w = lock(&self.watches);
        if let Some(keys) = w.by_client.remove(&client) {
            for k in keys {
                if let Some(set) = w.by_key.get_mut(&k) {
                    set.remove(&client);
                    if set.is_empty() {
                        w.by_key.remove(&k);
                    }
                }
            }
        }
        w.dirty.remove(&client);
        w.deadlines.remove(&client);
        self.watched.store(w.by_client.len(), Ordering::Relaxed);
    }
}
