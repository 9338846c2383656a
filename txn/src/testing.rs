//! Test doubles for the layers above (feature `testing`): a local commit log whose count of
//! whole-database replacements (`CommitLog::replacements`) the test drives, standing in for
//! a follower that installs snapshots while reads run.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use orbit_lsm::{Db, WriteBatch};

use crate::{CommitLog, LocalLog, Result, Submitted};

/// Commits to the database's own WAL ([`LocalLog`]); reports replacements as the test says.
pub struct ReplacingLog {
    local: LocalLog,
    count: AtomicU64,
    churn: AtomicBool,
}

impl ReplacingLog {
    /// Over `db`, with no replacement yet.
    pub fn new(db: Arc<Db>) -> Arc<ReplacingLog> {
        Arc::new(ReplacingLog {
            local: LocalLog::new(db),
            count: AtomicU64::new(0),
            churn: AtomicBool::new(false),
        })
    }

    /// Sets the count: odd means a replacement is under way.
    pub fn set(&self, count: u64) {
        self.count.store(count, Ordering::SeqCst);
    }

    /// With `on`, a whole replacement completes between any two looks at the count.
    pub fn churn(&self, on: bool) {
        self.churn.store(on, Ordering::SeqCst);
    }
}

impl CommitLog for ReplacingLog {
    fn submit<'b>(&self, batch: &'b WriteBatch, since: Option<u64>) -> Result<Submitted<'b>> {
        self.local.submit(batch, since)
    }

    fn replacements(&self) -> u64 {
        match self.churn.load(Ordering::SeqCst) {
            true => self.count.fetch_add(2, Ordering::SeqCst),
            false => self.count.load(Ordering::SeqCst),
        }
    }
}
