//! Opening a database: manifest, tables, WAL replay past the flushed position, a fresh
//! manifest. Tables left by a flush that crashed before its manifest edit are deleted.
//!
//! Replay applies a batch split over several WAL records only when its commit record is read
//! with every part before it (`crate::split`); the parts of a batch that has no commit (a crash
//! or a failed write while it was written: never acknowledged) are dropped, so a batch is
//! all or nothing. Its sequence numbers are then handed out again, which is safe: nothing
//! of it reached a table or a reader.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use orbit_env::{FileSystem, OpenMode};
use orbit_wal::Wal;

use super::LOCK_FILE;
use super::{sort_tables, table_name, Db, DbOptions, LiveTable, Parts, Tree, DEFAULT_KEYSPACE};
use crate::batch::for_each_op;
use crate::manifest::{self, Edit, Manifest, State};
use crate::memtable::Memtable;
use crate::split::{Assembler, Step};
use crate::sst::{Table, TableCache};
use crate::{Error, Result};

pub(crate) fn open(fs: Arc<dyn FileSystem>, dir: &Path, opts: DbOptions) -> Result<Db> {
    fs.create_dir_all(dir)?;
    // One process at a time: two would each replay and append to the same WAL and tables.
    let dir_lock = fs
        .lock_file(&dir.join(LOCK_FILE))
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock => Error::InUse(dir.to_path_buf()),
            _ => Error::Env(e),
        })?;
    let mut state = match manifest::recover(fs.as_ref(), dir)? {
        Some((state, _)) => state,
        None => {
            let mut s = State::default();
            s.apply(&Edit::AddKeyspace(DEFAULT_KEYSPACE, "default".into()));
            s.next_file = 1;
            s
        }
    };
    let cache = Arc::new(TableCache::new(opts.cache_bytes));
    let mut keyspaces = BTreeMap::new();
    let mut live = HashSet::new();
    for (id, ks) in &state.keyspaces {
        let mut tables = Vec::new();
        // Newest (highest number) first: a key's newest version is found first.
        for f in ks.files.values().rev() {
            let path = dir.join(table_name(f.number));
            let file = fs.open(&path, OpenMode::Read).map_err(|e| {
                if e.is_not_found() {
                    Error::corruption(&path, 0, "table named by the manifest is missing")
                } else {
                    Error::Env(e)
                }
            })?;
            let table = Table::open(file, f.number, Arc::clone(&cache))?;
            tables.push(LiveTable::new(table, f.clone(), Arc::clone(&fs), path));
            live.insert(f.number);
        }
        sort_tables(&mut tables);
        let tree = Tree {
            name: ks.name.clone(),
            mem: Arc::new(Memtable::with_capacity(opts.memtable_bytes)),
            imms: Vec::new(),
            tables: Arc::new(tables),
            ..Tree::default()
        };
        keyspaces.insert(*id, tree);
    }

    let wal_dir = dir.join("wal");
    let wal = Wal::open(Arc::clone(&fs), &wal_dir, opts.wal.clone())?;
    if state.log_lsn > wal.written_lsn() {
        return Err(Error::corruption(
            &wal_dir,
            wal.written_lsn(),
            format!(
                "the write-ahead log ends at lsn {} but the manifest says it was flushed up to {}: the log is missing or truncated",
                wal.written_lsn(),
                state.log_lsn
            ),
        ));
    }
    let mut last_seq = state.last_seq;
    let mut replayed = 0u64;
    // Puts batches split over several records back together; drops a split batch whose commit
    // record is missing (a crash while it was written: never acknowledged).
    let mut assembler = Assembler::default();
    for rec in wal.replay(state.log_lsn.max(wal.first_lsn()))? {
        let rec = rec?;
        let corrupt = |reason: String| Error::corruption(&wal_dir, rec.lsn, reason);
        let bytes = match assembler.push(rec.lsn, &rec.payload).map_err(corrupt)? {
            Step::Batch(bytes) => bytes,
            // The manifest already holds every keyspace change that completed.
            Step::CreateKeyspace(..) | Step::DropKeyspace(_) | Step::Buffered => continue,
        };
        let applied = for_each_op(&bytes, |seq, op| {
            // Ops of a keyspace dropped later are skipped.
            if let Some(tree) = keyspaces.get(&op.keyspace) {
                tree.mem.insert(op.key, seq, op.kind, op.value);
            }
        });
        let Some((first, count)) = applied else {
            return Err(corrupt("wal record is not a write batch".into()));
        };
        if count > 0 {
            last_seq = last_seq.max(first + u64::from(count) - 1);
        }
        replayed += 1;
    }
    assembler.finish();

    for name in fs.list_dir(dir)? {
        let number = name
            .strip_suffix(".sst")
            .and_then(|n| n.parse::<u64>().ok());
        if number.is_some_and(|n| !live.contains(&n)) {
            fs.remove_file(&dir.join(&name))?;
        }
    }
    let manifest_number = state.next_file.max(1);
    state.next_file = manifest_number + 1;
    state.last_seq = last_seq;
    let manifest = Manifest::create(Arc::clone(&fs), dir, manifest_number, &state)?;
    tracing::info!(
        dir = %dir.display(), tables = live.len(), replayed_batches = replayed, last_seq,
        keyspaces = keyspaces.len(), "database opened"
    );
    let wal_end = wal.written_lsn();
    Db::assemble(Parts {
        fs,
        dir_lock,
        dir: dir.to_path_buf(),
        opts,
        wal,
        cache,
        keyspaces,
        manifest,
        next_file: state.next_file,
        last_seq,
        next_keyspace: state.next_keyspace,
        wal_end,
        log_lsn: state.log_lsn,
    })
}
