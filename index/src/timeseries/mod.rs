//! Time series: RedisTimeSeries' data model.
//!
//! - `chunk`: Gorilla compression of (timestamp ms, f64) samples.
//! - `aggregate`: the aggregators (avg sum min max range count first last std.p std.s var.p
//!   var.s twa), bucketing (ALIGN, BUCKETTIMESTAMP, EMPTY) and the GROUPBY reducers.
//! - `series`: a series' metadata (retention, chunk size, duplicate policy, IGNORE, labels,
//!   rules) and its encoding.

pub mod aggregate;
pub mod chunk;
pub mod series;
