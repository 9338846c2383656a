//! `orbit-buffer`: the block cache every SSTable reader shares.
//!
//! ```text
//!  SST reader ──get_or_load(file, offset)──▶ BlockCache ──hash──▶ shard k (Mutex)
//!                     │ miss                                        small FIFO (10%) ─▶ main FIFO (90%)
//!                     └──loader(): pread via orbit-env, verify, decompress ──insert──▶     ghost keys ──┘
//! ```
//!
//! One capacity knob, in bytes, charged by each block's size. The eviction policy is S3-FIFO
//! (Yang et al., SOSP 2023), chosen because it is scan-resistant: a block read once by a
//! compaction or a long range scan enters the small queue and leaves it without disturbing the
//! hot blocks in the main queue, whereas LRU would flush them.
//!
//! Invariants: a lookup returns the value last inserted under that key or nothing, never
//! another key's block; the charged bytes of a shard never exceed its share of the capacity
//! once an insert returns; nothing here performs I/O itself (loaders do, through `orbit-env`).
//! This crate knows nothing of SSTable formats.

mod cache;
mod error;
mod s3fifo;

pub use cache::{BlockCache, BlockKey, CacheStats};
pub use error::{Error, Result};
