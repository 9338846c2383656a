//! The open vector indexes: `AnnIndexes`, the engine's registry of graphs by storage
//! generation, and `AnnGraph`, one index of either family (HNSW or IVFFlat) behind the calls
//! the SQL layer makes: insert, search by a width (HNSW's beam `ef`, IVFFlat's `probes`),
//! and reading a hit's row key. See `ann` for how they are kept and `query::ann_scan` for
//! how they are read.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use orbit_index::hnsw::{HnswIndex, Location, Params, Scored};
use orbit_index::ivfflat::{IvfIndex, IvfParams};
use orbit_lsm::{Db, KeyspaceId, PendingWrite, WriteBatch};

use crate::catalog::AnnDef;
use crate::error::{code, Error, Result};

/// One vector index.
pub enum AnnGraph {
    Hnsw(Box<HnswIndex>),
    Ivf(IvfIndex),
}

pub(crate) fn storage(e: orbit_index::Error) -> Error {
    match e {
        orbit_index::Error::Storage(e) => e.into(),
        other => Error::new(code::DATA_CORRUPTED, other.to_string()),
    }
}

impl AnnGraph {
    /// Adds a row's vector; its records go into `batch`, written with the statement.
    pub fn insert(&self, vector: &[f32], payload: &[u8], batch: &mut WriteBatch) -> Result<()> {
        match self {
            AnnGraph::Hnsw(g) => g.insert(vector, payload, batch),
            AnnGraph::Ivf(g) => g.insert(vector, payload, batch),
        }
        .map(|_| ())
        .map_err(storage)
    }

    /// Candidates nearest first: `width` is HNSW's ef or IVFFlat's probes.
    pub fn search(&self, query: &[f32], width: usize) -> Vec<Scored> {
        match self {
            AnnGraph::Hnsw(g) => g.search(query, width),
            AnnGraph::Ivf(g) => g.search(query, width),
        }
    }

    /// Whether a search of `width` that found `found` candidates saw every entry it can.
    pub fn exhausted(&self, width: usize, found: usize) -> bool {
        match self {
            AnnGraph::Hnsw(g) => found < width || width >= g.len(),
            AnnGraph::Ivf(g) => width >= g.lists(),
        }
    }

    pub fn payload(&self, node: u32) -> Option<Vec<u8>> {
        match self {
            AnnGraph::Hnsw(g) => g.payload(node),
            AnnGraph::Ivf(g) => g.payload(node),
        }
    }

    /// See `HnswIndex::stamp` (IVFFlat lists are never reclaimed: 0).
    pub fn stamp(&self) -> u64 {
        match self {
            AnnGraph::Hnsw(g) => g.stamp(),
            AnnGraph::Ivf(_) => 0,
        }
    }

    /// See `HnswIndex::born_before`.
    pub fn born_before(&self, before: u64) -> Vec<(u32, u64, Box<[u8]>)> {
        match self {
            AnnGraph::Hnsw(g) => g.born_before(before),
            AnnGraph::Ivf(_) => Vec::new(),
        }
    }

    /// See `HnswIndex::holds`.
    pub fn holds(&self, id: u32, born: u64, vector: &[f32]) -> bool {
        match self {
            AnnGraph::Hnsw(g) => g.holds(id, born, vector),
            AnnGraph::Ivf(_) => true,
        }
    }

    /// The hit's payload if it still holds `vector` (the row's current one).
    pub fn payload_if_same(&self, node: u32, vector: &[f32]) -> Option<Vec<u8>> {
        match self {
            AnnGraph::Hnsw(g) => g.payload_if_same(node, vector),
            AnnGraph::Ivf(g) => g.payload_if_same(node, vector),
        }
    }
}

/// The open graphs, by storage generation, and what the reclaimer (`ann_reclaim`) is told.
pub struct AnnIndexes {
    db: Arc<Db>,
    keyspace: KeyspaceId,
    open: Mutex<HashMap<u32, Arc<AnnGraph>>>,
    work: Mutex<Work>,
    wake: Condvar,
    reclaimed: AtomicU64,
    rounds: AtomicU64,
}

/// Reclaim work noted for the background thread.
#[derive(Default)]
struct Work {
    /// Rows deleted or moved to another vector since the generation's last round.
    changed: HashMap<u32, u64>,
    /// Generations a VACUUM asked for.
    requested: HashSet<u32>,
}

/// Changes past which an index is due for a round: PostgreSQL's autovacuum defaults (50 rows
/// plus a fifth of the table; here, of the graph's live nodes).
const DUE_BASE: u64 = 50;
const DUE_SHARE: f64 = 0.2;

/// Node counts over the open HNSW graphs, and nodes reclaimed since the server started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AnnStats {
    pub live: u64,
    /// Slots free for inserts, and vacated ones not yet reusable.
    pub vacant: u64,
    pub reclaimed: u64,
    /// Reclaim rounds completed.
    pub rounds: u64,
}

impl AnnIndexes {
    pub fn new(db: Arc<Db>, keyspace: KeyspaceId) -> AnnIndexes {
        AnnIndexes {
            db,
            keyspace,
            open: Mutex::new(HashMap::new()),
            work: Mutex::new(Work::default()),
            wake: Condvar::new(),
            reclaimed: AtomicU64::new(0),
            rounds: AtomicU64::new(0),
        }
    }

    fn work(&self) -> std::sync::MutexGuard<'_, Work> {
        self.work.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes `rows` rows of generation `store` deleted or given another vector.
    pub fn note_changed(&self, store: u32, rows: u64) {
        *self.work().changed.entry(store).or_default() += rows;
    }

    /// Asks for a round over generation `store` (VACUUM) and wakes the reclaimer.
    pub fn request(&self, store: u32) {
        self.work().requested.insert(store);
        self.wake.notify_all();
    }

    /// The generations due for a round (asked for, or changed past the threshold), taken:
    /// their counts start again.
    pub fn due(&self) -> HashSet<u32> {
        let live: HashMap<u32, u64> = self
            .lock()
            .iter()
            .map(|(&store, g)| match g.as_ref() {
                AnnGraph::Hnsw(h) => (store, h.occupancy().0 as u64),
                AnnGraph::Ivf(_) => (store, 0),
            })
            .collect();
        let mut work = self.work();
        let mut due: HashSet<u32> = std::mem::take(&mut work.requested);
        for (&store, &n) in &work.changed {
            let size = live.get(&store).copied().unwrap_or(0);
            if n >= DUE_BASE + (DUE_SHARE * size as f64) as u64 {
                due.insert(store);
            }
        }
        work.changed.retain(|store, _| !due.contains(store));
        due
    }

    /// Wakes a `wait_for_work`.
    pub fn wake(&self) {
        let _guard = self.work();
        self.wake.notify_all();
    }

    /// Sleeps until a VACUUM asks for a round or `timeout` passes.
    pub fn wait_for_work(&self, timeout: std::time::Duration) {
        let work = self.work();
        if work.requested.is_empty() {
            let _ = self.wake.wait_timeout(work, timeout);
        }
    }

    /// Whether some open graph has vacated slots not yet reusable.
    pub fn quarantined(&self) -> bool {
        self.lock().values().any(|g| match g.as_ref() {
            AnnGraph::Hnsw(h) => h.occupancy().2 > 0,
            AnnGraph::Ivf(_) => false,
        })
    }

    /// Lets every open graph's inserts reuse the slots its last round vacated.
    pub fn release_all(&self) {
        for g in self.lock().values() {
            if let AnnGraph::Hnsw(h) = g.as_ref() {
                h.release();
            }
        }
    }

    /// Removes `dead` from generation `store`'s graph and writes the change, unless the
    /// generation was dropped meanwhile (the write happens under the registry's lock, so a
    /// drop's range delete comes after it). Returns how many nodes went.
    pub fn reclaim(&self, store: u32, graph: &AnnGraph, dead: &[(u32, u64)]) -> Result<usize> {
        let AnnGraph::Hnsw(h) = graph else {
            return Ok(0);
        };
        let (n, batch) = h.reclaim(dead);
        let pending = {
            let open = self.lock();
            if n == 0 || !open.contains_key(&store) {
                return Ok(0);
            }
            self.db.write_pending(&batch)?
        };
        pending.wait()?;
        self.reclaimed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    /// Counts a completed reclaim round.
    pub fn round_done(&self) {
        self.rounds.fetch_add(1, Ordering::Relaxed);
    }

    /// Node counts (see [`AnnStats`]).
    pub fn stats(&self) -> AnnStats {
        let mut s = AnnStats {
            reclaimed: self.reclaimed.load(Ordering::Relaxed),
            rounds: self.rounds.load(Ordering::Relaxed),
            ..AnnStats::default()
        };
        for g in self.lock().values() {
            if let AnnGraph::Hnsw(h) = g.as_ref() {
                let (live, free, quarantined) = h.occupancy();
                s.live += live as u64;
                s.vacant += (free + quarantined) as u64;
            }
        }
        s
    }

    fn location(&self, store: u32) -> Location {
        Location {
            db: Arc::clone(&self.db),
            keyspace: self.keyspace,
            prefix: store.to_be_bytes().to_vec(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Arc<AnnGraph>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The index `def` describes, read from storage on first use.
    pub fn get(&self, def: &AnnDef) -> Result<Arc<AnnGraph>> {
        let mut open = self.lock();
        if let Some(g) = open.get(&def.store) {
            return Ok(Arc::clone(g));
        }
        let loc = self.location(def.store);
        let found = if def.method == "ivfflat" {
            IvfIndex::open(loc).map_err(storage)?.map(AnnGraph::Ivf)
        } else {
            HnswIndex::open(loc)
                .map_err(storage)?
                .map(|g| AnnGraph::Hnsw(Box::new(g)))
        };
        let Some(g) = found else {
            return Err(Error::new(
                code::DATA_CORRUPTED,
                format!("vector index storage {} is missing", def.store),
            ));
        };
        let g = Arc::new(g);
        open.insert(def.store, Arc::clone(&g));
        Ok(g)
    }

    /// A new, empty HNSW graph for generation `store`; the write makes its metadata durable.
    pub fn create_hnsw(&self, store: u32, params: Params) -> Result<(Arc<AnnGraph>, PendingWrite)> {
        let (g, pending) = HnswIndex::create(self.location(store), params).map_err(storage)?;
        let g = Arc::new(AnnGraph::Hnsw(Box::new(g)));
        self.lock().insert(store, Arc::clone(&g));
        Ok((g, pending))
    }

    /// An IVFFlat index for generation `store` built from `items`, and its writes.
    pub fn build_ivf(
        &self,
        store: u32,
        params: IvfParams,
        items: Vec<(Vec<f32>, Vec<u8>)>,
    ) -> Result<Vec<PendingWrite>> {
        let (g, pending) = IvfIndex::build(self.location(store), params, items).map_err(storage)?;
        self.lock().insert(store, Arc::new(AnnGraph::Ivf(g)));
        Ok(pending)
    }

    /// Deletes generation `store` (its index was dropped and the drop committed).
    pub fn drop_store(&self, store: u32) -> Result<PendingWrite> {
        self.lock().remove(&store);
        {
            let mut work = self.work();
            work.changed.remove(&store);
            work.requested.remove(&store);
        }
        self.location(store).clear().map_err(storage)
    }
}
