//! Comparison engines for `orbit bench` (feature `bench-compare`): RocksDB through the
//! `rocksdb` crate linked against Debian's librocksdb (7.8.3; `.cargo/config.toml` points the
//! build at it, so RocksDB is never compiled here), and fjall, the leading pure-Rust LSM.
//!
//! Both get what Orbit gets: a 64 MiB write buffer, a block cache of `--cache-bytes`, 10-bit
//! bloom filters, Orbit's block size (16 KiB), and `--sync sync` as an fdatasync of the log before each write
//! is acknowledged (RocksDB: `WriteOptions::sync`; fjall: `PersistMode::SyncData` on the
//! batch). Compression: zstd for RocksDB, as for Orbit; fjall offers only LZ4 (its default).
//! `--sync periodic` and `none` are both unsynced writes for the comparison engines (RocksDB
//! and fjall have no periodic mode of their own).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use fjall::config::{BlockSizePolicy, BloomConstructionPolicy, FilterPolicy, FilterPolicyEntry};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::engine::{Engine, EngineCounters};
use crate::cli::{BenchArgs, SyncKind};

const WRITE_BUFFER: usize = 64 << 20;

/// RocksDB.
pub struct Rocks {
    db: rocksdb::DB,
    sync: bool,
    /// Key and value bytes written through this handle.
    user_bytes: AtomicU64,
}

/// RocksDB's table bytes written by flushes and compactions, from its always-kept internal
/// compaction statistics (`rocksdb.cfstats`: "Cumulative compaction: X GB write", in GiB with
/// two decimals, flushes included as L0 writes), so no `Statistics` object slows it down.
fn rocks_table_bytes(cfstats: &str) -> Option<u64> {
    let line = cfstats
        .lines()
        .find_map(|l| l.trim().strip_prefix("Cumulative compaction:"))?;
    let gib: f64 = line.split_whitespace().next()?.parse().ok()?;
    Some((gib * f64::from(1u32 << 30)) as u64)
}

impl Rocks {
    pub fn open(args: &BenchArgs, dir: &Path) -> anyhow::Result<Rocks> {
        let cache = rocksdb::Cache::new_lru_cache(args.cache_bytes)?;
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_bloom_filter(10.0, false);
        table.set_block_size(block_size() as usize);
        let mut o = rocksdb::Options::default();
        o.create_if_missing(true);
        o.set_write_buffer_size(WRITE_BUFFER);
        o.set_compression_type(rocksdb::DBCompressionType::Zstd);
        o.set_block_based_table_factory(&table);
        o.increase_parallelism(2);
        Ok(Rocks {
            db: rocksdb::DB::open(&o, dir)?,
            sync: args.sync == SyncKind::Sync,
            user_bytes: AtomicU64::new(0),
        })
    }
}

impl Engine for Rocks {
    fn name(&self) -> &'static str {
        "rocksdb"
    }

    fn write(&self, pairs: &[(Vec<u8>, Vec<u8>)]) -> anyhow::Result<()> {
        let mut w = rocksdb::WriteOptions::default();
        w.set_sync(self.sync);
        let bytes: usize = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
        self.user_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        if let [(k, v)] = pairs {
            self.db.put_opt(k, v, &w)?;
        } else {
            let mut b = rocksdb::WriteBatch::default();
            for (k, v) in pairs {
                b.put(k, v);
            }
            self.db.write_opt(b, &w)?;
        }
        Ok(())
    }

    fn get(&self, key: &[u8]) -> anyhow::Result<bool> {
        Ok(self.db.get_pinned(key)?.is_some())
    }

    fn seek(&self, key: &[u8], n: usize) -> anyhow::Result<usize> {
        let mut it = self.db.raw_iterator();
        it.seek(key);
        let mut found = 0;
        while found < n && it.valid() {
            found += 1;
            it.next();
        }
        it.status()?;
        Ok(found)
    }

    fn counters(&self) -> Option<EngineCounters> {
        let stats = self.db.property_value("rocksdb.cfstats").ok()??;
        let tables_per_level = (0..7)
            .map(|l| {
                let name = format!("rocksdb.num-files-at-level{l}");
                let n = self.db.property_int_value(name.as_str()).ok().flatten();
                n.unwrap_or(0) as usize
            })
            .collect();
        Some(EngineCounters {
            user_bytes: self.user_bytes.load(Ordering::Relaxed),
            table_bytes_written: rocks_table_bytes(&stats)?,
            cache: None,
            tables_per_level,
        })
    }
}

/// Orbit's data block size, which the comparison engines are given.
fn block_size() -> u32 {
    u32::try_from(orbit_lsm::sst::TableOptions::default().block_size).unwrap_or(u32::MAX)
}

/// fjall.
pub struct Fjall {
    db: Database,
    ks: Keyspace,
    sync: bool,
}

impl Fjall {
    pub fn open(args: &BenchArgs, dir: &Path) -> anyhow::Result<Fjall> {
        let db = Database::builder(dir)
            .cache_size(args.cache_bytes as u64)
            .open()?;
        let ks = db.keyspace("bench", || {
            KeyspaceCreateOptions::default()
                .max_memtable_size(WRITE_BUFFER as u64)
                .filter_policy(FilterPolicy::all(FilterPolicyEntry::Bloom(
                    BloomConstructionPolicy::BitsPerKey(10.0),
                )))
                .data_block_size_policy(BlockSizePolicy::all(block_size()))
        })?;
        Ok(Fjall {
            db,
            ks,
            sync: args.sync == SyncKind::Sync,
        })
    }
}

impl Engine for Fjall {
    fn name(&self) -> &'static str {
        "fjall"
    }

    fn write(&self, pairs: &[(Vec<u8>, Vec<u8>)]) -> anyhow::Result<()> {
        if let [(k, v)] = pairs {
            // fjall's single-key path: a journal append, then a sync if asked.
            self.ks.insert(k.as_slice(), v.as_slice())?;
            if self.sync {
                self.db.persist(PersistMode::SyncData)?;
            }
            return Ok(());
        }
        let mode = if self.sync {
            PersistMode::SyncData
        } else {
            PersistMode::Buffer
        };
        let mut b = self.db.batch().durability(Some(mode));
        for (k, v) in pairs {
            b.insert(&self.ks, k.as_slice(), v.as_slice());
        }
        b.commit()?;
        Ok(())
    }

    fn get(&self, key: &[u8]) -> anyhow::Result<bool> {
        Ok(self.ks.get(key)?.is_some())
    }

    fn seek(&self, key: &[u8], n: usize) -> anyhow::Result<usize> {
        let mut found = 0;
        for g in self.ks.range(key..).take(n) {
            g.into_inner()?;
            found += 1;
        }
        Ok(found)
    }

    fn counters(&self) -> Option<EngineCounters> {
        None
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rocksdb_table_bytes_come_from_the_cumulative_compaction_line() {
        let stats =
            "** Compaction Stats [default] **\nFlush(GB): cumulative 0.105, interval 0.000\n\
                     Cumulative compaction: 0.25 GB write, 12.71 MB/s write, 0.14 GB read\n";
        assert_eq!(super::rocks_table_bytes(stats), Some(1 << 28));
        assert_eq!(super::rocks_table_bytes("no such line"), None);
    }
}
