//! An HNSW index kept in the LSM: the graph lives in memory ([`Graph`]) and every node and
//! link list it writes is also put, outside any transaction, under the index's key prefix in
//! a keyspace of its own. Reopening reads those records back; nothing is recomputed.
//!
//! Layout under `prefix` (ids big-endian so a scan reads nodes in id order; numbers in the
//! values little-endian):
//!
//! ```text
//! prefix ‖ 0x00                  → meta: version 1, metric, dim u32, m u16, ef_construction u16
//! prefix ‖ 0x01 ‖ id u32         → node: level u8, vector f32 × dim, payload (the rest)
//! prefix ‖ 0x02 ‖ id u32 ‖ level → links: u32 × n
//! ```
//!
//! Durability and visibility: the records are written with `Db::write_pending` before the
//! transaction that inserted the row commits, so the WAL (which acknowledges in append order)
//! never holds a commit whose node is missing. A node whose row never committed, or was later
//! deleted or updated, stays in the graph until the caller reclaims it
//! ([`HnswIndex::reclaim`], once no reader can see that row): readers check every hit
//! against the row they can see (that is the caller's job). A reclaimed node's records are
//! deleted and its slot's id is reused by a later insert. A link list written by
//! two inserts at once may land in either order; at worst a link is missing after a restart
//! (a slightly worse graph, never a wrong answer), and links to nodes whose record was lost
//! are dropped on load.

use std::sync::Arc;

use orbit_lsm::{Db, Direction, KeyspaceId, PendingWrite, WriteBatch};

use super::graph::{Graph, Item, LinkChange, Metric, Params, Scored, StoredNode};
use crate::{Error, Result};

const META: u8 = 0x00;
const NODE: u8 = 0x01;
const LINKS: u8 = 0x02;
const VERSION: u8 = 1;

/// Where an index's records live.
#[derive(Clone)]
pub struct Location {
    pub db: Arc<Db>,
    pub keyspace: KeyspaceId,
    pub prefix: Vec<u8>,
}

impl Location {
    fn key(&self, tag: u8, id: Option<u32>, level: Option<u8>) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.prefix.len() + 6);
        k.extend_from_slice(&self.prefix);
        k.push(tag);
        if let Some(id) = id {
            k.extend_from_slice(&id.to_be_bytes());
        }
        if let Some(l) = level {
            k.push(l);
        }
        k
    }

    /// Deletes every record of the index (DROP INDEX, and before a build reuses the prefix).
    pub fn clear(&self) -> Result<PendingWrite> {
        let mut end = self.prefix.clone();
        end.push(0xff);
        let mut batch = WriteBatch::new();
        batch.delete_range(self.keyspace, &self.prefix, &end);
        Ok(self.db.write_pending(&batch)?)
    }
}

/// An HNSW index: the graph and where it is stored.
pub struct HnswIndex {
    graph: Graph,
    loc: Location,
}

/// The index's metadata record: version, metric, dimension, m, ef_construction, then the
/// quantize flag. Records written before the flag (ten bytes) read as quantize on; a binary
/// from before the flag refuses the eleven-byte form (a one-way upgrade).
fn meta_bytes(p: &Params) -> Vec<u8> {
    let mut v = vec![VERSION, p.metric.code()];
    v.extend_from_slice(&p.dim.to_le_bytes());
    v.extend_from_slice(&p.m.to_le_bytes());
    v.extend_from_slice(&p.ef_construction.to_le_bytes());
    v.push(u8::from(p.quantize));
    v
}

fn parse_meta(b: &[u8]) -> Result<Params> {
    let bad = || Error::Corrupt("hnsw index metadata");
    // Ten bytes before the quantize flag existed: those indexes quantize (the default).
    if !(10..=11).contains(&b.len()) || b[0] != VERSION {
        return Err(bad());
    }
    let metric = Metric::from_code(b[1]).ok_or_else(bad)?;
    let u32_at = |i: usize| b.get(i..i + 4).and_then(|s| s.try_into().ok());
    let u16_at = |i: usize| b.get(i..i + 2).and_then(|s| s.try_into().ok());
    Ok(Params {
        metric,
        dim: u32::from_le_bytes(u32_at(2).ok_or_else(bad)?),
        m: u16::from_le_bytes(u16_at(6).ok_or_else(bad)?),
        ef_construction: u16::from_le_bytes(u16_at(8).ok_or_else(bad)?),
        quantize: b.get(10).is_none_or(|&q| q != 0),
    })
}

fn node_bytes(level: usize, vector: &[f32], payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + 4 * vector.len() + payload.len());
    v.push(level as u8);
    for x in vector {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend_from_slice(payload);
    v
}

fn links_bytes(ids: &[u32]) -> Vec<u8> {
    ids.iter().flat_map(|i| i.to_le_bytes()).collect()
}

fn f32s(b: &[u8]) -> Box<[f32]> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn u32s(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

impl HnswIndex {
    /// A new, empty index at `loc` (whatever was stored there before is deleted first).
    /// The returned write makes the metadata durable.
    pub fn create(loc: Location, params: Params) -> Result<(HnswIndex, PendingWrite)> {
        let mut end = loc.prefix.clone();
        end.push(0xff);
        let mut batch = WriteBatch::new();
        batch.delete_range(loc.keyspace, &loc.prefix, &end);
        batch.put(
            loc.keyspace,
            &loc.key(META, None, None),
            &meta_bytes(&params),
        );
        let pending = loc.db.write_pending(&batch)?;
        Ok((
            HnswIndex {
                graph: Graph::new(params),
                loc,
            },
            pending,
        ))
    }

    /// Reads the index stored at `loc`; None if there is none.
    pub fn open(loc: Location) -> Result<Option<HnswIndex>> {
        let Some(meta) = loc
            .db
            .get_latest(loc.keyspace, &loc.key(META, None, None))?
        else {
            return Ok(None);
        };
        let params = parse_meta(&meta)?;
        let dim = params.dim as usize;
        let mut nodes: Vec<Option<StoredNode>> = Vec::new();
        let bad = || Error::Corrupt("hnsw index record");
        for item in loc
            .db
            .prefix(loc.keyspace, &loc.prefix, Direction::Forward)?
        {
            let (key, value) = item?;
            let rest = key.get(loc.prefix.len()..).ok_or_else(bad)?;
            let (tag, rest) = rest.split_first().ok_or_else(bad)?;
            if *tag == META {
                continue;
            }
            let id = rest
                .get(..4)
                .and_then(|s| s.try_into().ok())
                .map(u32::from_be_bytes)
                .ok_or_else(bad)? as usize;
            if nodes.len() <= id {
                nodes.resize_with(id + 1, || None);
            }
            match *tag {
                NODE => {
                    let (&level, body) = value.split_first().ok_or_else(bad)?;
                    let vector = f32s(body.get(..4 * dim).ok_or_else(bad)?);
                    let payload = body.get(4 * dim..).ok_or_else(bad)?.into();
                    let mut links = vec![Vec::new(); usize::from(level) + 1];
                    // Link records of this node sort after its node record, so none are lost.
                    if let Some(Some(old)) = nodes.get_mut(id).map(Option::take) {
                        for (l, list) in old.links.into_iter().enumerate() {
                            if let Some(slot) = links.get_mut(l) {
                                *slot = list;
                            }
                        }
                    }
                    nodes[id] = Some(StoredNode {
                        vector,
                        payload,
                        links,
                    });
                }
                LINKS => {
                    let level = usize::from(*rest.get(4).ok_or_else(bad)?);
                    if let Some(Some(n)) = nodes.get_mut(id) {
                        if let Some(slot) = n.links.get_mut(level) {
                            *slot = u32s(&value);
                        }
                    }
                }
                _ => return Err(bad()),
            }
        }
        Ok(Some(HnswIndex {
            graph: Graph::restore(params, nodes),
            loc,
        }))
    }

    pub fn params(&self) -> Params {
        self.graph.params()
    }

    /// Where the index is stored.
    pub fn location(&self) -> &Location {
        &self.loc
    }

    /// The vector as the graph holds it: cosine indexes hold unit vectors. None for a vector
    /// the index cannot hold (zero norm under cosine, a non-finite value, a wrong dimension).
    pub fn prepare(&self, vector: &[f32]) -> Option<Box<[f32]>> {
        let p = self.graph.params();
        if vector.len() != p.dim as usize || vector.iter().any(|x| !x.is_finite()) {
            return None;
        }
        if p.metric == Metric::Cosine {
            let n = super::distance::norm(vector);
            if n == 0.0 || !n.is_finite() {
                return None;
            }
            return Some(vector.iter().map(|x| x / n).collect());
        }
        Some(vector.into())
    }

    /// Adds `vector` for the row `payload` names and puts its records into `batch` (the
    /// caller writes the batch ahead of the transaction's commit: one write per statement, as
    /// writes left unawaited are not published and would hold up memtable flushes); false if
    /// the vector is not indexable (see [`HnswIndex::prepare`]).
    pub fn insert(&self, vector: &[f32], payload: &[u8], batch: &mut WriteBatch) -> Result<bool> {
        let Some(v) = self.prepare(vector) else {
            return Ok(false);
        };
        let level_vector = v.clone();
        let (id, changes) = self.graph.insert(v, payload.into());
        let level = changes
            .iter()
            .filter(|c| c.0 == id)
            .map(|c| usize::from(c.1))
            .max()
            .unwrap_or(0);
        batch.put(
            self.loc.keyspace,
            &self.loc.key(NODE, Some(id), None),
            &node_bytes(level, &level_vector, payload),
        );
        self.put_links(batch, &changes);
        Ok(true)
    }

    fn put_links(&self, batch: &mut WriteBatch, changes: &[LinkChange]) {
        for (node, level, ids) in changes {
            batch.put(
                self.loc.keyspace,
                &self.loc.key(LINKS, Some(*node), Some(*level)),
                &links_bytes(ids),
            );
        }
    }

    /// Builds the graph from `items` (vector, payload) using every core, then writes it;
    /// returns how many were indexed (the rest are not indexable, see `prepare`) and the
    /// writes, to be waited for (or awaited) by the caller.
    pub fn build(&self, items: Vec<(Vec<f32>, Vec<u8>)>) -> Result<(usize, Vec<PendingWrite>)> {
        let prepared: Vec<Item> = items
            .into_iter()
            .filter_map(|(v, p)| self.prepare(&v).map(|v| (v, p.into_boxed_slice())))
            .collect();
        let n = prepared.len();
        self.graph.insert_all(prepared);
        // One batch: the LSM takes a batch of any size (split into WAL records, still all or
        // nothing), and a single write is awaited with the statement, where many unawaited
        // ones would stall memtable flushes behind them.
        let mut batch = WriteBatch::new();
        self.graph.for_each_node(|id, vector, payload, links| {
            batch.put(
                self.loc.keyspace,
                &self.loc.key(NODE, Some(id), None),
                &node_bytes(links.len().saturating_sub(1), vector, payload),
            );
            for (l, ids) in links.iter().enumerate() {
                batch.put(
                    self.loc.keyspace,
                    &self.loc.key(LINKS, Some(id), Some(l as u8)),
                    &links_bytes(ids),
                );
            }
        });
        let pending = vec![self.loc.db.write_pending(&batch)?];
        Ok((n, pending))
    }

    /// The `ef` nearest nodes the graph finds for `query` (prepared as inserts are; empty if
    /// the query is not indexable, e.g. a zero vector under cosine), ascending.
    pub fn search(&self, query: &[f32], ef: usize) -> Vec<Scored> {
        match self.prepare(query) {
            Some(q) => self.graph.search(&q, ef),
            None => Vec::new(),
        }
    }

    /// The exact `k` nearest (the oracle in tests).
    pub fn exact(&self, query: &[f32], k: usize) -> Vec<Scored> {
        match self.prepare(query) {
            Some(q) => self.graph.exact(&q, k),
            None => Vec::new(),
        }
    }

    /// Node `id`'s payload, if `vector` is the one it holds (prepared the same way): how a
    /// reader checks a hit against the row it can see.
    pub fn payload_if_same(&self, id: u32, vector: &[f32]) -> Option<Vec<u8>> {
        let v = self.prepare(vector)?;
        self.graph
            .with_node(id, |nv, payload| (nv == &v[..]).then(|| payload.to_vec()))
            .flatten()
    }

    /// Node `id`'s payload.
    pub fn payload(&self, id: u32) -> Option<Vec<u8>> {
        self.graph.with_node(id, |_, p| p.to_vec())
    }

    /// See [`Graph::stamp`].
    pub fn stamp(&self) -> u64 {
        self.graph.stamp()
    }

    /// See [`Graph::born_before`].
    pub fn born_before(&self, before: u64) -> Vec<(u32, u64, Box<[u8]>)> {
        self.graph.born_before(before)
    }

    /// Whether node `id` is still the one stamped `born` and holds `vector` (a row's, not
    /// yet prepared): a reclaim's test of a node against the row it names.
    pub fn holds(&self, id: u32, born: u64, vector: &[f32]) -> bool {
        self.prepare(vector)
            .is_some_and(|v| self.graph.holds(id, born, &v))
    }

    /// Removes the nodes `dead` names from the graph (see [`Graph::remove`]) and returns the
    /// write that deletes their records and stores the lists repaired around them; how many
    /// were removed. A crash before the write lands leaves the nodes stored: they come back
    /// on reopening, and the next reclaim removes them again.
    pub fn reclaim(&self, dead: &[(u32, u64)]) -> (usize, WriteBatch) {
        let done = self.graph.remove(dead);
        let mut batch = WriteBatch::new();
        for &(id, _) in &done.vacated {
            batch.delete(self.loc.keyspace, &self.loc.key(NODE, Some(id), None));
            let from = self.loc.key(LINKS, Some(id), None);
            let to = match id.checked_add(1) {
                Some(next) => self.loc.key(LINKS, Some(next), None),
                None => self.loc.key(LINKS + 1, None, None),
            };
            batch.delete_range(self.loc.keyspace, &from, &to);
        }
        self.put_links(&mut batch, &done.changes);
        (done.vacated.len(), batch)
    }

    /// See [`Graph::release`].
    pub fn release(&self) {
        self.graph.release();
    }

    /// See [`Graph::occupancy`].
    pub fn occupancy(&self) -> (usize, usize, usize) {
        self.graph.occupancy()
    }

    /// Node slots (present or not).
    pub fn len(&self) -> usize {
        self.graph.len()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.is_empty()
    }
}

#[cfg(test)]
mod meta_tests {
    use super::*;

    #[test]
    fn metadata_round_trips_and_old_records_quantize() {
        for quantize in [true, false] {
            let p = Params {
                metric: Metric::Cosine,
                dim: 1536,
                m: 24,
                ef_construction: 100,
                quantize,
            };
            assert_eq!(parse_meta(&meta_bytes(&p)).expect("meta"), p);
        }
        let mut old = meta_bytes(&Params {
            metric: Metric::L2,
            dim: 3,
            m: 16,
            ef_construction: 64,
            quantize: false,
        });
        old.pop();
        assert!(parse_meta(&old).expect("old meta").quantize);
        old.extend([1, 1]);
        assert!(parse_meta(&old).is_err());
    }
}
