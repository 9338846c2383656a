//! The open vector indexes: `AnnIndexes`, the engine's registry of graphs by storage
//! generation, and `AnnGraph`, one index of either family (HNSW or IVFFlat) behind the calls
//! the SQL layer makes: insert, search by a width (HNSW's beam `ef`, IVFFlat's `probes`),
//! and reading a hit's row key. See `ann` for how they are kept and `query::ann_scan` for
//! how they are read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use orbit_index::hnsw::{HnswIndex, Location, Params, Scored};
use orbit_index::ivfflat::{IvfIndex, IvfParams};
use orbit_lsm::{Db, KeyspaceId, PendingWrite, WriteBatch};

use crate::catalog::AnnDef;
use crate::error::{code, Error, Result};

/// One vector index.
pub enum AnnGraph {
    Hnsw(HnswIndex),
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

    /// The hit's payload if it still holds `vector` (the row's current one).
    pub fn payload_if_same(&self, node: u32, vector: &[f32]) -> Option<Vec<u8>> {
        match self {
            AnnGraph::Hnsw(g) => g.payload_if_same(node, vector),
            AnnGraph::Ivf(g) => g.payload_if_same(node, vector),
        }
    }
}

/// The open graphs, by storage generation.
pub struct AnnIndexes {
    db: Arc<Db>,
    keyspace: KeyspaceId,
    open: Mutex<HashMap<u32, Arc<AnnGraph>>>,
}

impl AnnIndexes {
    pub fn new(db: Arc<Db>, keyspace: KeyspaceId) -> AnnIndexes {
        AnnIndexes {
            db,
            keyspace,
            open: Mutex::new(HashMap::new()),
        }
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
            HnswIndex::open(loc).map_err(storage)?.map(AnnGraph::Hnsw)
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
        let g = Arc::new(AnnGraph::Hnsw(g));
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
        self.location(store).clear().map_err(storage)
    }
}
