//! The sharded block cache: `SHARDS` independent S3-FIFO shards behind their own locks, one
//! capacity knob split evenly among them, hit and miss counters.
//!
//! Each shard counts its own hits, misses and inserts under the lock a lookup holds anyway:
//! counters shared by every shard would be one cache line written by every reading thread
//! (two workers scanning in parallel passed it back and forth on each block).

use std::sync::{Mutex, MutexGuard};

use crate::s3fifo::S3Fifo;
use crate::Result;

/// Number of shards: enough that concurrent readers rarely meet on one lock.
const SHARDS: usize = 16;
const _: () = assert!(SHARDS.is_power_of_two());

/// Identifies a block: the file it belongs to (an id unique for the cache's lifetime) and the
/// block's offset in that file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockKey {
    /// The file's id.
    pub file: u64,
    /// The block's offset in the file.
    pub offset: u64,
}

/// A snapshot of the cache's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Lookups that found the block.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Blocks inserted.
    pub inserts: u64,
    /// Blocks evicted to make room.
    pub evictions: u64,
    /// Charged bytes held.
    pub used_bytes: u64,
    /// Blocks held.
    pub entries: u64,
    /// The capacity.
    pub capacity_bytes: u64,
}

impl CacheStats {
    /// Hits over lookups, or 0 before any lookup.
    pub fn hit_rate(&self) -> f64 {
        let lookups = self.hits + self.misses;
        if lookups == 0 {
            0.0
        } else {
            self.hits as f64 / lookups as f64
        }
    }
}

/// A sharded, size-charged cache of decoded blocks.
#[derive(Debug)]
pub struct BlockCache<V> {
    shards: Vec<Mutex<Shard<V>>>,
    capacity: usize,
}

/// One shard: its blocks and its counters.
#[derive(Debug)]
struct Shard<V> {
    blocks: S3Fifo<BlockKey, V>,
    hits: u64,
    misses: u64,
    inserts: u64,
}

/// The shard of `key`: the top bits of a multiplicative mix of its file and offset (the
/// shard's own map hashes the key again; this only spreads blocks over the locks).
fn shard_index(key: &BlockKey) -> usize {
    let mixed = (key.file ^ key.offset.rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> (64 - SHARDS.trailing_zeros())) as usize
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Shard operations leave the shard consistent before anything that can panic.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<V: Clone> BlockCache<V> {
    /// A cache holding at most `capacity_bytes` of charged blocks (0 disables caching).
    pub fn new(capacity_bytes: usize) -> Self {
        let per_shard = capacity_bytes / SHARDS;
        BlockCache {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        blocks: S3Fifo::new(per_shard),
                        hits: 0,
                        misses: 0,
                        inserts: 0,
                    })
                })
                .collect(),
            capacity: per_shard * SHARDS,
        }
    }

    fn shard(&self, key: &BlockKey) -> MutexGuard<'_, Shard<V>> {
        // `shard_index(key) < SHARDS == self.shards.len()`.
        lock(&self.shards[shard_index(key)])
    }

    /// The cached block, if any.
    pub fn get(&self, key: &BlockKey) -> Option<V> {
        let mut shard = self.shard(key);
        let found = shard.blocks.get(key);
        if found.is_some() {
            shard.hits += 1;
        } else {
            shard.misses += 1;
        }
        found
    }

    /// Caches `value`, charged `charge` bytes.
    pub fn insert(&self, key: BlockKey, value: V, charge: usize) {
        let mut shard = self.shard(&key);
        shard.inserts += 1;
        shard.blocks.insert(key, value, charge);
    }

    /// The cached block, or the one `load` produces (cached on the way out). The shard lock
    /// is not held while loading, so two readers may load the same block once each.
    pub fn get_or_load<E>(
        &self,
        key: BlockKey,
        load: impl FnOnce() -> Result<(V, usize), E>,
    ) -> Result<V, E> {
        if let Some(v) = self.get(&key) {
            return Ok(v);
        }
        let (value, charge) = load()?;
        self.insert(key, value.clone(), charge);
        Ok(value)
    }

    /// Drops a block (its file was deleted).
    pub fn remove(&self, key: &BlockKey) {
        self.shard(key).blocks.remove(key);
    }

    /// The counters.
    pub fn stats(&self) -> CacheStats {
        let mut stats = CacheStats {
            capacity_bytes: self.capacity as u64,
            ..CacheStats::default()
        };
        for shard in &self.shards {
            let s = lock(shard);
            stats.hits += s.hits;
            stats.misses += s.misses;
            stats.inserts += s.inserts;
            stats.evictions += s.blocks.evictions;
            stats.used_bytes += s.blocks.used() as u64;
            stats.entries += s.blocks.len() as u64;
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn key(file: u64, offset: u64) -> BlockKey {
        BlockKey { file, offset }
    }

    #[test]
    fn loads_once_then_hits() {
        let cache: BlockCache<Arc<[u8]>> = BlockCache::new(1 << 20);
        let mut loads = 0;
        for _ in 0..3 {
            let v = cache
                .get_or_load::<crate::Error>(key(1, 0), || {
                    loads += 1;
                    Ok((Arc::from(&b"block"[..]), 5))
                })
                .unwrap();
            assert_eq!(&*v, b"block");
        }
        assert_eq!(loads, 1);
        let s = cache.stats();
        assert_eq!((s.hits, s.misses, s.entries, s.used_bytes), (2, 1, 1, 5));
        assert!((s.hit_rate() - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_failed_load_caches_nothing() {
        let cache: BlockCache<u32> = BlockCache::new(1 << 20);
        let err = cache.get_or_load::<crate::Error>(key(1, 0), || {
            Err(crate::Error::Env(orbit_env::Error::io(
                "read",
                "/x",
                std::io::Error::other("boom"),
            )))
        });
        assert!(err.is_err());
        assert_eq!(cache.stats().entries, 0);
    }

    #[test]
    fn capacity_holds_under_concurrent_use() {
        let cache: Arc<BlockCache<u64>> = Arc::new(BlockCache::new(16 * 4096));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let cache = Arc::clone(&cache);
                std::thread::spawn(move || {
                    for i in 0..5_000u64 {
                        let k = key(t, i % 700);
                        match cache.get(&k) {
                            Some(v) => assert_eq!(v, t * 1_000_000 + i % 700),
                            None => cache.insert(k, t * 1_000_000 + i % 700, 100),
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = cache.stats();
        assert!(s.used_bytes <= s.capacity_bytes, "{s:?}");
        assert!(s.evictions > 0 && s.hits > 0, "{s:?}");
    }

    #[test]
    fn one_files_blocks_spread_over_every_shard() {
        // 16 KiB blocks of one table, and of ten tables: offsets alike in their low bits.
        for files in [1u64, 10] {
            let mut per_shard = [0usize; SHARDS];
            for file in 0..files {
                for i in 0..1024u64 {
                    per_shard[shard_index(&key(file, i * 16_384))] += 1;
                }
            }
            let fair = 1024 * files as usize / SHARDS;
            for n in per_shard {
                assert!(n > fair / 2 && n < fair * 2, "{per_shard:?}");
            }
        }
    }

    #[test]
    fn removed_blocks_are_gone() {
        let cache: BlockCache<u8> = BlockCache::new(1 << 16);
        cache.insert(key(3, 4096), 7, 10);
        cache.remove(&key(3, 4096));
        assert_eq!(cache.get(&key(3, 4096)), None);
        assert_eq!(cache.stats().used_bytes, 0);
    }
}
