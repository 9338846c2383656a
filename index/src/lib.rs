//! `orbit-index`: Orbit's index families above the transaction layer.
//!
//! - [`bitmap`]: roaring bitmaps of ids per (attribute, value): the label index of time series,
//!   and bitmap indexes of low-cardinality SQL columns.
//! - [`hnsw`]: approximate nearest-neighbour search (HNSW graphs over `f32` vectors, with
//!   L2, inner-product, cosine and L1 distances), stored in the LSM.
//! - [`ivfflat`]: approximate nearest-neighbour search by k-means inverted lists.
//! - [`timeseries`]: RedisTimeSeries' model: series metadata, samples in Gorilla-compressed
//!   chunks, every aggregation and reducer, compaction-rule downsampling.
//!
//! This crate knows nothing of any wire protocol: the RESP layer parses commands and renders
//! replies; the pieces here are the data structures, encodings and arithmetic, tested against
//! simple models.

pub mod bitmap;
mod error;
pub mod hnsw;
pub mod ivfflat;
pub mod timeseries;

pub use error::{Error, Result};
