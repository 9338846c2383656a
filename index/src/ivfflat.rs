//! IVFFlat: approximate nearest-neighbour search by inverted lists (pgvector's `USING
//! ivfflat`). A build clusters the vectors with k-means into `lists` centroids and files each
//! vector under its nearest centroid; a search scores every vector of the `probes` lists whose
//! centroids are nearest the query. Inserts after the build join their nearest list (the
//! centroids stay; a rebuild re-clusters).
//!
//! Storage mirrors `hnsw::store`: records in the LSM under the index's prefix, written with
//! `Db::write_pending` ahead of the inserting transaction's commit, read back on open.
//!
//! ```text
//! prefix ‖ 0x00               → meta: version 1, metric, dim u32, lists u32
//! prefix ‖ 0x03 ‖ list u32    → centroid: f32 × dim
//! prefix ‖ 0x04 ‖ id u32      → entry: list u32, f32 × dim, payload (the rest)
//! ```
//!
//! Invariants: every entry's list exists; entry ids are dense (a gap is an entry whose write
//! was lost in a crash before its row could commit); cosine indexes hold unit vectors.

use std::sync::RwLock;

use orbit_lsm::{Direction, PendingWrite, WriteBatch};
use rayon::prelude::*;

use crate::hnsw::{distance, Location, Metric, Scored};
use crate::{Error, Result};

const META: u8 = 0x00;
const CENTROID: u8 = 0x03;
const ENTRY: u8 = 0x04;
const VERSION: u8 = 1;
const KMEANS_ROUNDS: usize = 10;

/// Build parameters (pgvector's `lists`, default 100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfParams {
    pub metric: Metric,
    pub dim: u32,
    pub lists: u32,
}

struct Entry {
    list: u32,
    vector: Box<[f32]>,
    payload: Box<[u8]>,
}

struct Lists {
    centroids: Vec<Box<[f32]>>,
    /// Entry ids per list.
    members: Vec<Vec<u32>>,
    /// Entries by id (None: lost in a crash).
    entries: Vec<Option<Entry>>,
}

/// An IVFFlat index and where it is stored.
pub struct IvfIndex {
    params: IvfParams,
    loc: Location,
    state: RwLock<Lists>,
}

fn key(loc: &Location, tag: u8, id: Option<u32>) -> Vec<u8> {
    let mut k = loc.prefix.clone();
    k.push(tag);
    if let Some(id) = id {
        k.extend_from_slice(&id.to_be_bytes());
    }
    k
}

fn f32s(b: &[u8]) -> Box<[f32]> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn put_f32s(out: &mut Vec<u8>, v: &[f32]) {
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

impl IvfIndex {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Lists> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Lists> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn params(&self) -> IvfParams {
        self.params
    }

    /// The vector as the index holds it (unit length for cosine); None if not indexable.
    pub fn prepare(&self, v: &[f32]) -> Option<Box<[f32]>> {
        if v.len() != self.params.dim as usize || v.iter().any(|x| !x.is_finite()) {
            return None;
        }
        if self.params.metric == Metric::Cosine {
            let n = distance::norm(v);
            if n == 0.0 || !n.is_finite() {
                return None;
            }
            return Some(v.iter().map(|x| x / n).collect());
        }
        Some(v.into())
    }

    /// Builds an index at `loc` from `items` (vector, payload): k-means over them (all cores),
    /// then every item filed under its nearest centroid. Whatever was stored at `loc` is
    /// deleted first. Returns the index and its writes, for the caller to wait for.
    pub fn build(
        loc: Location,
        params: IvfParams,
        items: Vec<(Vec<f32>, Vec<u8>)>,
    ) -> Result<(IvfIndex, Vec<PendingWrite>)> {
        let mut index = IvfIndex {
            params,
            loc,
            state: RwLock::new(Lists {
                centroids: Vec::new(),
                members: Vec::new(),
                entries: Vec::new(),
            }),
        };
        let prepared: Vec<crate::hnsw::graph::Item> = items
            .into_iter()
            .filter_map(|(v, p)| index.prepare(&v).map(|v| (v, p.into_boxed_slice())))
            .collect();
        let vectors: Vec<&[f32]> = prepared.iter().map(|(v, _)| &v[..]).collect();
        let centroids = kmeans(
            &vectors,
            params.lists as usize,
            params.dim as usize,
            params.metric,
        );
        let assigned: Vec<u32> = vectors
            .par_iter()
            .map(|v| nearest(&centroids, v, params.metric))
            .collect();
        let mut members = vec![Vec::new(); centroids.len()];
        let mut entries = Vec::with_capacity(prepared.len());
        for (id, ((vector, payload), list)) in prepared.into_iter().zip(assigned).enumerate() {
            if let Some(m) = members.get_mut(list as usize) {
                m.push(id as u32);
            }
            entries.push(Some(Entry {
                list,
                vector,
                payload,
            }));
        }
        let lists = Lists {
            centroids,
            members,
            entries,
        };
        let pending = index.write_all(&lists)?;
        index.state = RwLock::new(lists);
        Ok((index, pending))
    }

    fn write_all(&self, lists: &Lists) -> Result<Vec<PendingWrite>> {
        let ks = self.loc.keyspace;
        let mut end = self.loc.prefix.clone();
        end.push(0xff);
        let mut batch = WriteBatch::new();
        batch.delete_range(ks, &self.loc.prefix, &end);
        let mut meta = vec![VERSION, self.params.metric.code()];
        meta.extend_from_slice(&self.params.dim.to_le_bytes());
        meta.extend_from_slice(&self.params.lists.to_le_bytes());
        batch.put(ks, &key(&self.loc, META, None), &meta);
        for (i, c) in lists.centroids.iter().enumerate() {
            let mut v = Vec::with_capacity(4 * c.len());
            put_f32s(&mut v, c);
            batch.put(ks, &key(&self.loc, CENTROID, Some(i as u32)), &v);
        }
        // One batch, as `hnsw::store` writes a build (unawaited writes would stall flushes).
        for (id, e) in lists.entries.iter().enumerate() {
            let Some(e) = e else { continue };
            batch.put(ks, &key(&self.loc, ENTRY, Some(id as u32)), &entry_bytes(e));
        }
        Ok(vec![self.loc.db.write_pending(&batch)?])
    }

    /// Reads the index stored at `loc`; None if there is none.
    pub fn open(loc: Location) -> Result<Option<IvfIndex>> {
        let Some(meta) = loc.db.get_latest(loc.keyspace, &key(&loc, META, None))? else {
            return Ok(None);
        };
        let bad = || Error::Corrupt("ivfflat index record");
        if meta.len() != 10 || meta[0] != VERSION {
            return Err(bad());
        }
        let metric = Metric::from_code(meta[1]).ok_or_else(bad)?;
        let dim = u32::from_le_bytes(meta[2..6].try_into().map_err(|_| bad())?);
        let lists_n = u32::from_le_bytes(meta[6..10].try_into().map_err(|_| bad())?);
        let mut lists = Lists {
            centroids: Vec::new(),
            members: Vec::new(),
            entries: Vec::new(),
        };
        let d = dim as usize;
        for item in loc
            .db
            .prefix(loc.keyspace, &loc.prefix, Direction::Forward)?
        {
            let (k, v) = item?;
            let rest = k.get(loc.prefix.len()..).ok_or_else(bad)?;
            let (tag, rest) = rest.split_first().ok_or_else(bad)?;
            let id = || -> Result<usize> {
                Ok(u32::from_be_bytes(
                    rest.get(..4)
                        .ok_or_else(bad)?
                        .try_into()
                        .map_err(|_| bad())?,
                ) as usize)
            };
            match *tag {
                META => {}
                CENTROID => {
                    if v.len() != 4 * d || id()? != lists.centroids.len() {
                        return Err(bad());
                    }
                    lists.centroids.push(f32s(&v));
                }
                ENTRY => {
                    let id = id()?;
                    let list = u32::from_le_bytes(
                        v.get(..4).ok_or_else(bad)?.try_into().map_err(|_| bad())?,
                    );
                    let vector = f32s(v.get(4..4 + 4 * d).ok_or_else(bad)?);
                    let payload = v.get(4 + 4 * d..).ok_or_else(bad)?.into();
                    if lists.entries.len() <= id {
                        lists.entries.resize_with(id + 1, || None);
                    }
                    lists.entries[id] = Some(Entry {
                        list,
                        vector,
                        payload,
                    });
                }
                _ => return Err(bad()),
            }
        }
        lists.members = vec![Vec::new(); lists.centroids.len()];
        for (id, e) in lists.entries.iter().enumerate() {
            if let Some(e) = e {
                lists
                    .members
                    .get_mut(e.list as usize)
                    .ok_or_else(bad)?
                    .push(id as u32);
            }
        }
        Ok(Some(IvfIndex {
            params: IvfParams {
                metric,
                dim,
                lists: lists_n,
            },
            loc,
            state: RwLock::new(lists),
        }))
    }

    /// Files `vector` for `payload` under its nearest list, its record put into `batch` (see
    /// `HnswIndex::insert`); false if not indexable.
    pub fn insert(&self, vector: &[f32], payload: &[u8], batch: &mut WriteBatch) -> Result<bool> {
        let Some(v) = self.prepare(vector) else {
            return Ok(false);
        };
        let mut lists = self.write();
        if lists.centroids.is_empty() {
            // Built over no rows: the first vector becomes the only centroid.
            lists.centroids.push(v.clone());
            lists.members.push(Vec::new());
            let mut c = Vec::new();
            put_f32s(&mut c, &v);
            batch.put(self.loc.keyspace, &key(&self.loc, CENTROID, Some(0)), &c);
        }
        let list = nearest(&lists.centroids, &v, self.params.metric);
        let id = lists.entries.len() as u32;
        let e = Entry {
            list,
            vector: v,
            payload: payload.into(),
        };
        batch.put(
            self.loc.keyspace,
            &key(&self.loc, ENTRY, Some(id)),
            &entry_bytes(&e),
        );
        lists.entries.push(Some(e));
        if let Some(m) = lists.members.get_mut(list as usize) {
            m.push(id);
        }
        Ok(true)
    }

    /// The entries of the `probes` lists nearest `query`, nearest first (the graph's
    /// distance, as `hnsw`'s); empty if the query is not indexable.
    pub fn search(&self, query: &[f32], probes: usize) -> Vec<Scored> {
        let Some(q) = self.prepare(query) else {
            return Vec::new();
        };
        let lists = self.read();
        let metric = self.params.metric;
        let mut order: Vec<Scored> = lists
            .centroids
            .iter()
            .enumerate()
            .map(|(i, c)| Scored {
                distance: probe_distance(metric, &q, c),
                node: i as u32,
            })
            .collect();
        order.sort_unstable();
        let mut out: Vec<Scored> = Vec::new();
        for c in order.iter().take(probes.max(1)) {
            for &id in lists.members.get(c.node as usize).into_iter().flatten() {
                if let Some(Some(e)) = lists.entries.get(id as usize) {
                    out.push(Scored {
                        distance: metric.distance(&q, &e.vector),
                        node: id,
                    });
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// Entry `id`'s payload.
    pub fn payload(&self, id: u32) -> Option<Vec<u8>> {
        match self.read().entries.get(id as usize) {
            Some(Some(e)) => Some(e.payload.to_vec()),
            _ => None,
        }
    }

    /// Entry `id`'s payload, if `vector` is the one it holds.
    pub fn payload_if_same(&self, id: u32, vector: &[f32]) -> Option<Vec<u8>> {
        let v = self.prepare(vector)?;
        match self.read().entries.get(id as usize) {
            Some(Some(e)) if e.vector[..] == v[..] => Some(e.payload.to_vec()),
            _ => None,
        }
    }

    /// Number of lists.
    pub fn lists(&self) -> usize {
        self.read().centroids.len()
    }

    /// Entry slots (present or not).
    pub fn len(&self) -> usize {
        self.read().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn entry_bytes(e: &Entry) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + 4 * e.vector.len() + e.payload.len());
    v.extend_from_slice(&e.list.to_le_bytes());
    put_f32s(&mut v, &e.vector);
    v.extend_from_slice(&e.payload);
    v
}

/// The distance lists are assigned and probed by: L2 (inner-product and L1 indexes cluster
/// by geometry too), or the negative dot product of unit vectors for cosine.
fn centroid_distance(metric: Metric, q: &[f32], c: &[f32]) -> f32 {
    match metric {
        Metric::Cosine => -distance::dot(q, c),
        _ => distance::l2_squared(q, c),
    }
}

/// The order lists are probed in: by the index's own distance to their centroids (for inner
/// product the lists whose centroid has the largest product come first; pgvector does the
/// same), L2 for L1 indexes.
fn probe_distance(metric: Metric, q: &[f32], c: &[f32]) -> f32 {
    match metric {
        Metric::L1 => distance::l2_squared(q, c),
        m => m.distance(q, c),
    }
}

fn nearest(centroids: &[Box<[f32]>], v: &[f32], metric: Metric) -> u32 {
    let mut best = (f32::INFINITY, 0u32);
    for (i, c) in centroids.iter().enumerate() {
        let d = centroid_distance(metric, v, c);
        if d < best.0 {
            best = (d, i as u32);
        }
    }
    best.1
}

/// Lloyd's k-means, seeded with evenly spaced points (deterministic), `KMEANS_ROUNDS` rounds,
/// assignments in parallel. Fewer points than lists: the points are the centroids. Cosine
/// centroids are renormalized each round (spherical k-means).
fn kmeans(points: &[&[f32]], k: usize, dim: usize, metric: Metric) -> Vec<Box<[f32]>> {
    if points.len() <= k {
        return points.iter().map(|p| Box::<[f32]>::from(*p)).collect();
    }
    let step = points.len() / k;
    let mut centroids: Vec<Box<[f32]>> = (0..k).map(|i| points[i * step].into()).collect();
    for _ in 0..KMEANS_ROUNDS {
        let assigned: Vec<u32> = points
            .par_iter()
            .map(|p| nearest(&centroids, p, metric))
            .collect();
        let mut sums = vec![vec![0f64; dim]; k];
        let mut counts = vec![0usize; k];
        for (p, a) in points.iter().zip(&assigned) {
            let a = *a as usize;
            counts[a] += 1;
            for (s, x) in sums[a].iter_mut().zip(p.iter()) {
                *s += f64::from(*x);
            }
        }
        for (i, c) in centroids.iter_mut().enumerate() {
            if counts[i] == 0 {
                continue; // an empty cluster keeps its centroid
            }
            let mut v: Vec<f32> = sums[i]
                .iter()
                .map(|s| (s / counts[i] as f64) as f32)
                .collect();
            if metric == Metric::Cosine {
                let n = distance::norm(&v);
                if n > 0.0 {
                    v.iter_mut().for_each(|x| *x /= n);
                }
            }
            *c = v.into();
        }
    }
    centroids
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use orbit_env::{CrashMode, SimFs};
    use orbit_lsm::{Db, DbOptions};

    use super::*;

    fn loc(db: &Arc<Db>) -> Location {
        crate::hnsw::tests::location(db, b"ivf/")
    }

    fn data(n: usize) -> Vec<Vec<f32>> {
        (0..n)
            .map(|i| {
                let c = (i % 5) as f32 * 10.0;
                (0..8)
                    .map(|j| c + ((i * 7 + j * 3) % 11) as f32 / 10.0)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn probing_every_list_is_exact_and_a_few_find_most() {
        let fs = SimFs::new();
        let db = Arc::new(Db::open(fs.shared(), "/db", DbOptions::default()).expect("open"));
        let items: Vec<(Vec<f32>, Vec<u8>)> = data(500)
            .into_iter()
            .enumerate()
            .map(|(i, v)| (v, (i as u32).to_be_bytes().to_vec()))
            .collect();
        let params = IvfParams {
            metric: Metric::L2,
            dim: 8,
            lists: 10,
        };
        let (ix, writes) = IvfIndex::build(loc(&db), params, items.clone()).expect("build");
        for w in writes {
            w.wait().expect("durable");
        }
        assert_eq!(ix.lists(), 10);
        let q = vec![20.3f32; 8];
        let all = ix.search(&q, 10);
        assert_eq!(all.len(), 500);
        let mut exact: Vec<(f32, usize)> = items
            .iter()
            .enumerate()
            .map(|(i, (v, _))| (distance::l2_squared(&q, v), i))
            .collect();
        exact.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(all[0].distance, exact[0].0);
        let few = ix.search(&q, 2);
        let top: Vec<u32> = few.iter().take(10).map(|s| s.node).collect();
        let truth: Vec<u32> = all.iter().take(10).map(|s| s.node).collect();
        assert_eq!(top, truth);
        // Inserts join a list and survive a crash once acknowledged.
        let mut batch = WriteBatch::new();
        assert!(ix.insert(&[20.3; 8], b"new", &mut batch).expect("insert"));
        db.write_pending(&batch)
            .expect("write")
            .wait()
            .expect("ack");
        let crashed = fs.crash(CrashMode::DropUnsynced);
        let db2 =
            Arc::new(Db::open(crashed.shared(), "/db", DbOptions::default()).expect("reopen"));
        let back = IvfIndex::open(loc(&db2)).expect("open").expect("stored");
        assert_eq!(back.len(), 501);
        let hit = back.search(&[20.3; 8], 1)[0];
        assert_eq!(back.payload(hit.node).as_deref(), Some(&b"new"[..]));
    }

    #[test]
    fn an_index_built_over_nothing_takes_its_first_vector_as_centroid() {
        let fs = SimFs::new();
        let db = Arc::new(Db::open(fs.shared(), "/db", DbOptions::default()).expect("open"));
        let params = IvfParams {
            metric: Metric::Cosine,
            dim: 2,
            lists: 4,
        };
        let (ix, _) = IvfIndex::build(loc(&db), params, Vec::new()).expect("build");
        let mut batch = WriteBatch::new();
        assert!(!ix.insert(&[0.0, 0.0], b"z", &mut batch).expect("insert"));
        assert!(ix.insert(&[1.0, 1.0], b"a", &mut batch).expect("insert"));
        assert_eq!(ix.search(&[2.0, 2.0], 1).len(), 1);
    }
}
