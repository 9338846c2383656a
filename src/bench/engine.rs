//! The storage engines `orbit bench` can drive: Orbit's own LSM always, RocksDB and fjall
//! with the `bench-compare` feature (`compare.rs`). Every engine gets the same operations on
//! the same keys and values, so only the engine differs between result lines.

use std::path::Path;
use std::sync::Arc;

use orbit_env::{FileSystem, RealFs};
use orbit_lsm::{Db, DbOptions, Direction, WriteBatch, DEFAULT_KEYSPACE};
use orbit_wal::WalOptions;

use crate::cli::BenchArgs;

/// Engine-side counters a result line reports (where the engine has them).
#[derive(Debug, Clone, Default)]
pub struct EngineCounters {
    /// Bytes the user wrote (keys and values).
    pub user_bytes: u64,
    /// Bytes written to tables by flushes and compactions.
    pub table_bytes_written: u64,
    /// Block cache hits and misses, where the engine counts them.
    pub cache: Option<(u64, u64)>,
    /// Tables per level.
    pub tables_per_level: Vec<usize>,
}

/// What the workloads need from an engine.
pub trait Engine: Sync {
    /// The name result lines carry.
    fn name(&self) -> &'static str;
    /// Writes the pairs atomically, durably per `--sync`.
    fn write(&self, pairs: &[(Vec<u8>, Vec<u8>)]) -> anyhow::Result<()>;
    /// Whether `key` has a value.
    fn get(&self, key: &[u8]) -> anyhow::Result<bool>;
    /// Seeks to `key` and reads up to `n` entries; how many there were.
    fn seek(&self, key: &[u8], n: usize) -> anyhow::Result<usize>;
    /// Counters, where the engine keeps them (`None`: write and space amplification and hit
    /// rates are not reported for it).
    fn counters(&self) -> Option<EngineCounters>;
}

/// Opens the engine `--engine` names in `dir`.
pub fn open(args: &BenchArgs, dir: &Path) -> anyhow::Result<Box<dyn Engine>> {
    match args.engine.as_str() {
        "orbit" => Ok(Box::new(Orbit::open(args, dir)?)),
        #[cfg(feature = "bench-compare")]
        "rocksdb" => Ok(Box::new(super::compare::Rocks::open(args, dir)?)),
        #[cfg(feature = "bench-compare")]
        "fjall" => Ok(Box::new(super::compare::Fjall::open(args, dir)?)),
        #[cfg(not(feature = "bench-compare"))]
        "rocksdb" | "fjall" => anyhow::bail!(
            "engine \"{}\" is not in this build: rebuild with `--features bench-compare` \
             (needs Debian's librocksdb-dev)",
            args.engine
        ),
        other => anyhow::bail!("unknown engine \"{other}\" (orbit, rocksdb, fjall)"),
    }
}

/// Orbit's LSM engine.
pub struct Orbit {
    db: Arc<Db>,
}

impl Orbit {
    fn open(args: &BenchArgs, dir: &Path) -> anyhow::Result<Orbit> {
        let fs: Arc<dyn FileSystem> = RealFs::shared();
        let opts = DbOptions {
            cache_bytes: args.cache_bytes,
            wal: WalOptions {
                sync_mode: args.sync.mode(1000),
                ..WalOptions::default()
            },
            ..DbOptions::default()
        };
        Ok(Orbit {
            db: Arc::new(Db::open(fs, dir, opts)?),
        })
    }
}

impl Engine for Orbit {
    fn name(&self) -> &'static str {
        "orbit"
    }

    fn write(&self, pairs: &[(Vec<u8>, Vec<u8>)]) -> anyhow::Result<()> {
        let mut batch = WriteBatch::new();
        for (k, v) in pairs {
            batch.put(DEFAULT_KEYSPACE, k, v);
        }
        Ok(self.db.write(&batch)?)
    }

    fn get(&self, key: &[u8]) -> anyhow::Result<bool> {
        Ok(self.db.get(DEFAULT_KEYSPACE, key)?.is_some())
    }

    fn seek(&self, key: &[u8], n: usize) -> anyhow::Result<usize> {
        let snap = self.db.snapshot();
        let range = (
            std::ops::Bound::Included(key.to_vec()),
            std::ops::Bound::Unbounded,
        );
        let mut found = 0;
        for kv in self
            .db
            .iter(DEFAULT_KEYSPACE, range, Direction::Forward, &snap)?
            .take(n)
        {
            kv?;
            found += 1;
        }
        Ok(found)
    }

    fn counters(&self) -> Option<EngineCounters> {
        let s = self.db.stats();
        Some(EngineCounters {
            user_bytes: s.user_bytes,
            table_bytes_written: s.flush_bytes + s.compaction_write_bytes,
            cache: Some((s.cache.hits, s.cache.misses)),
            tables_per_level: s.tables_per_level,
        })
    }
}
