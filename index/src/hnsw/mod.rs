//! Approximate nearest-neighbour search: Orbit's own HNSW (hierarchical navigable small
//! world graphs), the index behind pgvector-style `USING hnsw` in SQL.
//!
//! - [`distance`]: the SIMD kernels (squared L2, dot, L1; AVX2+FMA chosen at run time).
//! - [`graph`]: the graph in memory, safe for concurrent inserts and searches; parallel build.
//! - `nodes`: the node arrays under the graph (vectors contiguous, level-0 links flat).
//! - [`quant`]: one-byte codes of the vectors that searches walk layer 0 over.
//! - [`store`]: the index kept in the LSM beside the data, reopened without a rebuild.
//!
//! Why not `hnsw_rs`: its graph can only be saved to and loaded from files it opens itself
//! (every byte Orbit writes goes through `orbit-env` and the WAL), it has no deletes, it
//! panics on NaN distances, and it brings logging and mmap dependencies. Here the graph is
//! stored as LSM records written ahead of the inserting transaction's commit, so recovery is
//! the WAL's, and hits are checked against visible rows by the caller (MVCC filtering).
//!
//! Exact search over the same nodes ([`HnswIndex::exact`]) is the oracle in tests.

pub mod distance;
pub mod graph;
mod nodes;
pub mod quant;
pub mod store;

pub use graph::{Metric, Params, Scored};
pub use store::{HnswIndex, Location};

#[cfg(test)]
pub(crate) mod tests;
