//! Tests of the transaction layer on the simulated disk: the isolation anomalies PostgreSQL
//! users know, at every level (`anomalies`); savepoints, scans and the fast path (`behaviour`);
//! a concurrent bank (`bank`); a model of committed transactions (`model`).

mod anomalies;
mod bank;
mod behaviour;
mod model;
mod replicated;

use std::sync::Arc;

use orbit_env::{ManualClock, SimFs};
use orbit_lsm::{Db, DbOptions, DEFAULT_KEYSPACE};
use orbit_wal::{SyncMode, WalOptions, MIN_SEGMENT_SIZE};

use crate::TxnDb;

pub(crate) const KS: u32 = DEFAULT_KEYSPACE;

pub(crate) fn options(memtable_bytes: usize) -> DbOptions {
    DbOptions {
        memtable_bytes,
        cache_bytes: 1 << 20,
        wal: WalOptions {
            sync_mode: SyncMode::Sync,
            segment_size: MIN_SEGMENT_SIZE * 4,
            clock: Arc::new(ManualClock::new(0)),
            ..WalOptions::default()
        },
        ..DbOptions::default()
    }
}

pub(crate) fn open(fs: &SimFs) -> TxnDb {
    TxnDb::new(Arc::new(
        Db::open(fs.shared(), "/db", options(1 << 20)).unwrap(),
    ))
}

pub(crate) fn key(k: u32) -> Vec<u8> {
    format!("{k:04}").into_bytes()
}

pub(crate) fn int(v: Option<Vec<u8>>) -> Option<i64> {
    v.map(|v| String::from_utf8(v).unwrap().parse().unwrap())
}

pub(crate) fn val(v: i64) -> Vec<u8> {
    v.to_string().into_bytes()
}
