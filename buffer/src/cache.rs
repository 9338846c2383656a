//! The sharded block cache: `SHARDS` independent S3-FIFO shards behind their own locks, one
//! capacity knob split evenly among them, hit and miss counters.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::s3fifo::S3Fifo;
use crate::Result;

/// Number of shards: enough that concurrent readers rarely meet on one lock.
const SHARDS: usize = 16;

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
    shards: Vec<Mutex<S3Fifo<BlockKey, V>>>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    inserts: AtomicU64,
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
                .map(|_| Mutex::new(S3Fifo::new(per_shard)))
                .collect(),
            capacity: per_shard * SHARDS,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            inserts: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: &BlockKey) -> MutexGuard<'_, S3Fifo<BlockKey, V>> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        let index = (h.finish() as usize) % SHARDS;
        // `index < SHARDS == self.shards.len()`.
        lock(&self.shards[index])
    }

    /// The cached block, if any.
    pub fn get(&self, key: &BlockKey) -> Option<V> {
        let found = self.shard(key).get(key);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Caches `value`, charged `charge` bytes.
    pub fn insert(&self, key: BlockKey, value: V, charge: usize) {
        self.inserts.fetch_add(1, Ordering::Relaxed);
        self.shard(&key).insert(key, value, charge);
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
        self.shard(key).remove(key);
    }

    /// The counters.
    pub fn stats(&self) -> CacheStats {
        let (mut used, mut entries, mut evictions) = (0u64, 0u64, 0u64);
        for shard in &self.shards {
            let s = lock(shard);
            used += s.used() as u64;
            entries += s.len() as u64;
            evictions += s.evictions;
        }
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            inserts: self.inserts.load(Ordering::Relaxed),
            evictions,
            used_bytes: used,
            entries,
            capacity_bytes: self.capacity as u64,
        }
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
    fn removed_blocks_are_gone() {
        let cache: BlockCache<u8> = BlockCache::new(1 << 16);
        cache.insert(key(3, 4096), 7, 10);
        cache.remove(&key(3, 4096));
        assert_eq!(cache.get(&key(3, 4096)), None);
        assert_eq!(cache.stats().used_bytes, 0);
    }
}
