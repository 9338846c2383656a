//! A table that is part of a keyspace: the reader, its level and key range, and deletion of
//! the file (and of its blocks from the block cache) once it is obsolete and nothing (version
//! or iterator) holds it any more.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use orbit_env::FileSystem;

use crate::key;
use crate::manifest::FileMeta;
use crate::sst::Table;

pub(crate) struct LiveTable {
    pub(crate) table: Arc<Table>,
    pub(crate) meta: FileMeta,
    fs: Arc<dyn FileSystem>,
    path: PathBuf,
    obsolete: AtomicBool,
}

impl LiveTable {
    pub(crate) fn new(
        table: Table,
        meta: FileMeta,
        fs: Arc<dyn FileSystem>,
        path: PathBuf,
    ) -> Arc<LiveTable> {
        Arc::new(LiveTable {
            table: Arc::new(table),
            meta,
            fs,
            path,
            obsolete: AtomicBool::new(false),
        })
    }

    /// The same file at another level (a trivial move). The file is deleted by whichever
    /// holder is marked obsolete; the old one never is.
    pub(crate) fn moved_to(&self, level: u8) -> Arc<LiveTable> {
        Arc::new(LiveTable {
            table: Arc::clone(&self.table),
            meta: FileMeta {
                level,
                ..self.meta.clone()
            },
            fs: Arc::clone(&self.fs),
            path: self.path.clone(),
            obsolete: AtomicBool::new(false),
        })
    }

    pub(crate) fn level(&self) -> u8 {
        self.meta.level
    }

    pub(crate) fn smallest_user(&self) -> &[u8] {
        key::user_key(&self.meta.smallest)
    }

    pub(crate) fn largest_user(&self) -> &[u8] {
        key::user_key(&self.meta.largest)
    }

    /// Whether the table may hold `user_key`.
    pub(crate) fn covers(&self, user_key: &[u8]) -> bool {
        self.smallest_user() <= user_key && user_key <= self.largest_user()
    }

    /// Whether the table's user-key range meets `[lo, hi]`.
    pub(crate) fn overlaps(&self, lo: &[u8], hi: &[u8]) -> bool {
        self.smallest_user() <= hi && lo <= self.largest_user()
    }

    /// Removed from the version: delete the file when the last holder lets go.
    pub(crate) fn mark_obsolete(&self) {
        self.obsolete.store(true, Ordering::SeqCst);
    }
}

impl Drop for LiveTable {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::SeqCst) {
            self.table.evict_cached_blocks();
            if let Err(e) = self.fs.remove_file(&self.path) {
                // Left behind, it is deleted as an orphan at the next open.
                tracing::warn!(error = %e, file = %self.path.display(), "could not delete an obsolete table");
            }
        }
    }
}
