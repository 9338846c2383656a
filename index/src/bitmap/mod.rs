//! The bitmap index family: roaring bitmaps of ids per (attribute, value), and queries that
//! are bitmap algebra over them.
//!
//! - [`labels`]: the in-memory label index of time series (RedisTimeSeries' FILTER).
//! - [`column`]: bitmap indexes of SQL columns (`CREATE INDEX ... USING bitmap`), stored in
//!   the LSM through transactions: their key layout, and AND/OR trees evaluated over the
//!   bitmaps their postings make.

pub mod column;
mod labels;

pub use labels::{Filter, LabelIndex};
