//! Tests: openraft's own storage suite against `LogStore` and `StateMachine`; the Raft log
//! across crashes of the simulated disk; applying batches and snapshots on the engine; the
//! codecs as properties.

use std::collections::BTreeMap;
use std::sync::Arc;

use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{CommittedLeaderId, EntryPayload, Membership, Vote};
use orbit_env::{CrashMode, FaultKind, FaultOp, ManualClock, SimFs};
use orbit_lsm::{Db, DbOptions, WriteBatch, DEFAULT_KEYSPACE};
use orbit_wal::{SyncMode, WalOptions, MIN_SEGMENT_SIZE};
use proptest::prelude::*;

use crate::codec::{self, LogRecord, State};
use crate::types::{Entry, LogId, StorageError};
use crate::{Applied, LogStore, Proposal, StateMachine};

pub(crate) fn wal_options() -> WalOptions {
    WalOptions {
        segment_size: MIN_SEGMENT_SIZE,
        clock: Arc::new(ManualClock::new(0)),
        ..WalOptions::default()
    }
}

/// The state machine's database as `orbit serve` opens it on a cluster node: its WAL unsynced
/// (applies write none; the Raft log is the durable record, and after a crash the node
/// re-applies from it whatever the engine had not flushed).
pub(crate) fn db_options() -> DbOptions {
    DbOptions {
        memtable_bytes: 1 << 20,
        cache_bytes: 1 << 20,
        wal: WalOptions {
            sync_mode: SyncMode::None,
            ..wal_options()
        },
        ..DbOptions::default()
    }
}

pub(crate) fn open_db(fs: &SimFs) -> Arc<Db> {
    Arc::new(Db::open(fs.shared(), "/db", db_options()).unwrap())
}

/// Where the state machine keeps its snapshot files.
pub(crate) const SNAPSHOTS: &str = "/snapshots";

/// The state machine over `db`, its snapshot files on `fs`.
pub(crate) fn open_sm(fs: &SimFs, db: Arc<Db>) -> StateMachine {
    StateMachine::open(db, fs.shared(), SNAPSHOTS).unwrap()
}

pub(crate) fn log_id(term: u64, node: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, node), index)
}

pub(crate) fn entry(term: u64, index: u64, payload: EntryPayload<crate::TypeConfig>) -> Entry {
    Entry {
        log_id: log_id(term, 1, index),
        payload,
    }
}

pub(crate) fn proposal(db: &Db, pairs: &[(&str, &str)]) -> Proposal {
    let mut batch = WriteBatch::new();
    for (k, v) in pairs {
        batch.put(DEFAULT_KEYSPACE, k.as_bytes(), v.as_bytes());
    }
    Proposal::from_batch(db, &batch).unwrap()
}

/// A node's Raft log and database on `fs` (opened on a blocking thread: opening waits for
/// the WALs).
pub(crate) async fn open_storage(fs: &SimFs) -> (LogStore, Arc<Db>, StateMachine) {
    let shared = fs.shared();
    tokio::task::spawn_blocking(move || {
        let log = LogStore::open(Arc::clone(&shared), "/raft", wal_options()).unwrap();
        let db = Arc::new(Db::open(Arc::clone(&shared), "/db", db_options()).unwrap());
        let sm = StateMachine::open(Arc::clone(&db), shared, SNAPSHOTS).unwrap();
        (log, db, sm)
    })
    .await
    .unwrap()
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Each sub-test of the suite gets a fresh simulated disk (the guard keeps it alive).
struct Builder;

impl StoreBuilder<crate::TypeConfig, LogStore, StateMachine, SimFs> for Builder {
    async fn build(&self) -> Result<(SimFs, LogStore, StateMachine), StorageError> {
        // Opening a log or a database blocks (it waits for its WAL).
        let built = tokio::task::spawn_blocking(|| {
            let fs = SimFs::new();
            let log = LogStore::open(fs.shared(), "/raft", wal_options())?;
            let sm = StateMachine::open(open_db(&fs), fs.shared(), SNAPSHOTS)?;
            Ok::<_, crate::Error>((fs, log, sm))
        })
        .await
        .map_err(|e| openraft::StorageIOError::read_logs(&e))?;
        built.map_err(|e| openraft::StorageIOError::read_logs(&e).into())
    }
}

#[test]
fn openraft_storage_suite_passes() {
    if let Err(e) = Suite::test_all(Builder) {
        panic!("openraft's storage suite failed: {e}");
    }
}

#[test]
fn the_log_survives_a_crash_with_its_vote_entries_and_truncation() {
    let rt = runtime();
    let fs = SimFs::new();
    let membership = Membership::new(vec![[1u64, 2, 3].into()], ());
    rt.block_on(async {
        let mut log = LogStore::open(fs.shared(), "/raft", wal_options()).unwrap();
        log.save_vote(&Vote::new_committed(3, 1)).await.unwrap();
        let mut entries = vec![entry(1, 1, EntryPayload::Membership(membership.clone()))];
        for i in 2..=40 {
            entries.push(entry(
                2,
                i,
                EntryPayload::Normal(Proposal(vec![i as u8; 100].into())),
            ));
        }
        log.blocking_append(entries).await.unwrap();
        log.truncate(log_id(2, 1, 31)).await.unwrap();
        log.blocking_append(vec![entry(3, 31, EntryPayload::Blank)])
            .await
            .unwrap();
    });
    let crashed = fs.crash(CrashMode::DropUnsynced);
    rt.block_on(async {
        let mut log = LogStore::open(crashed.shared(), "/raft", wal_options()).unwrap();
        assert_eq!(
            log.read_vote().await.unwrap(),
            Some(Vote::new_committed(3, 1))
        );
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id, Some(log_id(3, 1, 31)));
        assert_eq!(state.last_purged_log_id, None);
        let all = log.entries(..);
        assert_eq!(all.len(), 31);
        assert_eq!(all[0].payload, EntryPayload::Membership(membership));
        assert_eq!(
            all[29].payload,
            EntryPayload::Normal(Proposal(vec![30; 100].into()))
        );
        assert_eq!(all[30].payload, EntryPayload::Blank);
    });
}

#[test]
fn an_append_whose_fsync_fails_is_never_reported_flushed() {
    let rt = runtime();
    let fs = SimFs::new();
    rt.block_on(async {
        let mut log = LogStore::open(fs.shared(), "/raft", wal_options()).unwrap();
        log.blocking_append(vec![entry(1, 1, EntryPayload::Blank)])
            .await
            .unwrap();
        fs.inject_on(FaultOp::Sync, 1, FaultKind::Eio, false, Some("/raft/0"));
        let err = log
            .blocking_append(vec![entry(1, 2, EntryPayload::Blank)])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("could not sync"), "{err}");
        // The log is poisoned: nothing later is acknowledged either, a vote included.
        fs.clear_faults();
        assert!(log.save_vote(&Vote::new(2, 1)).await.is_err());
    });
    // Reopening (recovery) is the way back, with the acknowledged entry.
    let crashed = fs.crash(CrashMode::DropUnsynced);
    let log = LogStore::open(crashed.shared(), "/raft", wal_options()).unwrap();
    let kept: Vec<u64> = log.entries(..).iter().map(|e| e.log_id.index).collect();
    assert_eq!(kept, vec![1]);
}

#[test]
fn purging_releases_segments_and_keeps_the_vote_and_the_tail() {
    let rt = runtime();
    let fs = SimFs::new();
    let before = rt.block_on(async {
        let mut log = LogStore::open(fs.shared(), "/raft", wal_options()).unwrap();
        log.save_vote(&Vote::new(7, 2)).await.unwrap();
        // Entries of ~8 KiB: a few hundred fill several minimum-size segments.
        for i in 1..=400 {
            let e = entry(
                7,
                i,
                EntryPayload::Normal(Proposal(vec![1; 8 << 10].into())),
            );
            log.blocking_append(vec![e]).await.unwrap();
        }
        let before = log.segments();
        log.purge(log_id(7, 1, 390)).await.unwrap();
        assert!(log.segments() < before, "{} -> {}", before, log.segments());
        before
    });
    assert!(before > 2, "the test needs several segments, had {before}");
    let crashed = fs.crash(CrashMode::DropUnsynced);
    rt.block_on(async {
        let mut log = LogStore::open(crashed.shared(), "/raft", wal_options()).unwrap();
        assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(7, 2)));
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(7, 1, 390)));
        assert_eq!(state.last_log_id, Some(log_id(7, 1, 400)));
        let tail: Vec<u64> = log.entries(..).iter().map(|e| e.log_id.index).collect();
        assert_eq!(tail, (391..=400).collect::<Vec<_>>());
    });
}

/// openraft purges up to a received snapshot as it hands it to the state machine, before the
/// install has run: the purge waits for the state machine's durable mark (`keep_for`), so a
/// crash meanwhile finds the log it had (the leader then sends the snapshot again).
#[test]
fn a_purge_waits_until_the_state_machine_holds_its_point_durably() {
    let rt = runtime();
    let fs = SimFs::new();
    let mark = crate::durable::DurableMark::default();
    let live =
        |log: &LogStore| -> Vec<u64> { log.entries(..).iter().map(|e| e.log_id.index).collect() };
    let log = rt.block_on(async {
        let mut log = LogStore::open(fs.shared(), "/raft", wal_options()).unwrap();
        log.keep_for(mark.watch());
        for i in 3..=10 {
            let e = entry(7, i, EntryPayload::Normal(Proposal(vec![1; 64].into())));
            log.blocking_append(vec![e]).await.unwrap();
        }
        let mut purging = log.clone();
        let purge = tokio::spawn(async move { purging.purge(log_id(7, 1, 8)).await });
        mark.raise(7);
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        assert!(!purge.is_finished());
        purge.abort();
        log
    });
    // A crash while it waits: the log is whole.
    let crashed = fs.crash(CrashMode::DropUnsynced);
    let reopened = LogStore::open(crashed.shared(), "/raft", wal_options()).unwrap();
    assert_eq!(live(&reopened), (3..=10).collect::<Vec<_>>());
    assert_eq!(live(&log), (3..=10).collect::<Vec<_>>());
    rt.block_on(async {
        let mut log = log.clone();
        let purge = tokio::spawn({
            let mut log = log.clone();
            async move { log.purge(log_id(7, 1, 8)).await }
        });
        mark.raise(8);
        purge.await.unwrap().unwrap();
        assert_eq!(live(&log), vec![9, 10]);
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(7, 1, 8)));
        // A failed state machine fails the purge instead of leaving it waiting.
        mark.fail();
        assert!(log.purge(log_id(7, 1, 9)).await.is_err());
        assert_eq!(live(&log), vec![9, 10]);
    });
    let crashed = fs.crash(CrashMode::DropUnsynced);
    let log = LogStore::open(crashed.shared(), "/raft", wal_options()).unwrap();
    assert_eq!(live(&log), vec![9, 10]);
}

#[test]
fn applying_writes_the_batches_and_answers_their_sequence_numbers() {
    let rt = runtime();
    let fs = SimFs::new();
    let db = open_db(&fs);
    let mut sm = open_sm(&fs, Arc::clone(&db));
    let answers = rt
        .block_on(sm.apply(vec![
            entry(1, 1, EntryPayload::Blank),
            entry(
                1,
                2,
                EntryPayload::Normal(proposal(&db, &[("a", "1"), ("b", "2")])),
            ),
            entry(1, 3, EntryPayload::Normal(proposal(&db, &[("a", "3")]))),
            entry(1, 4, EntryPayload::Normal(proposal(&db, &[]))),
        ]))
        .unwrap();
    assert_eq!(answers[0], Applied { seq: None });
    assert_eq!(answers[3], Applied { seq: None });
    let (s2, s3) = (answers[1].seq.unwrap(), answers[2].seq.unwrap());
    assert_eq!(s3, s2 + 1, "{answers:?}");
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"a").unwrap(), Some(b"3".to_vec()));
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"b").unwrap(), Some(b"2".to_vec()));
    // Applies have no engine WAL record (the Raft log is the WAL): a crash before a flush
    // loses the data and the applied log id together, and openraft applies the entries
    // again from the log.
    drop(sm);
    drop(db);
    let fs = fs.crash(CrashMode::DropUnsynced);
    let db = open_db(&fs);
    let mut sm = open_sm(&fs, Arc::clone(&db));
    assert_eq!(rt.block_on(sm.applied_state()).unwrap().0, None);
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"a").unwrap(), None);
    rt.block_on(sm.apply(vec![
        entry(1, 1, EntryPayload::Blank),
        entry(
            1,
            2,
            EntryPayload::Normal(proposal(&db, &[("a", "1"), ("b", "2")])),
        ),
        entry(1, 3, EntryPayload::Normal(proposal(&db, &[("a", "3")]))),
    ]))
    .unwrap();
    // Once flushed, the applied log id is kept with the data: a restart knows where it is.
    db.flush().unwrap();
    rt.block_on(sm.apply(vec![entry(
        1,
        4,
        EntryPayload::Normal(proposal(&db, &[("a", "4")])),
    )]))
    .unwrap();
    drop(sm);
    drop(db);
    let crashed = fs.crash(CrashMode::DropUnsynced);
    let db = open_db(&crashed);
    let mut sm = open_sm(&crashed, Arc::clone(&db));
    let (applied, _) = rt.block_on(sm.applied_state()).unwrap();
    assert_eq!(applied, Some(log_id(1, 1, 3)));
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"a").unwrap(), Some(b"3".to_vec()));
}

/// With `log_applies` (an archived WAL), applies go to the engine WAL too: a crash before any
/// flush keeps them.
#[test]
fn logged_applies_survive_a_crash_without_a_flush() {
    let rt = runtime();
    let fs = SimFs::new();
    let db = open_db(&fs);
    let mut sm = open_sm(&fs, Arc::clone(&db));
    sm.log_applies(true);
    rt.block_on(sm.apply(vec![entry(
        1,
        1,
        EntryPayload::Normal(proposal(&db, &[("a", "1")])),
    )]))
    .unwrap();
    db.sync_wal().unwrap();
    drop(sm);
    drop(db);
    let crashed = fs.crash(CrashMode::DropUnsynced);
    let db = open_db(&crashed);
    let mut sm = open_sm(&crashed, Arc::clone(&db));
    assert_eq!(
        rt.block_on(sm.applied_state()).unwrap().0,
        Some(log_id(1, 1, 1))
    );
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"a").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn a_proposal_cannot_write_the_raft_state() {
    let rt = runtime();
    let fs = SimFs::new();
    let db = open_db(&fs);
    let mut sm = open_sm(&fs, Arc::clone(&db));
    let state = db.keyspace(crate::STATE_KEYSPACE).unwrap();
    let mut batch = WriteBatch::new();
    batch.put(state, b"applied", b"{}");
    let p = Proposal::from_batch(&db, &batch).unwrap();
    let err = rt
        .block_on(sm.apply(vec![entry(1, 1, EntryPayload::Normal(p))]))
        .unwrap_err();
    assert!(err.to_string().contains("raft state"), "{err}");
}

fn arb_log_id() -> impl Strategy<Value = LogId> {
    (0..5u64, 0..5u64, 0..1000u64).prop_map(|(t, n, i)| log_id(t, n, i))
}

fn arb_record() -> impl Strategy<Value = LogRecord> {
    let payload = prop_oneof![
        Just(EntryPayload::Blank),
        proptest::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| EntryPayload::Normal(Proposal(b.into()))),
        proptest::collection::btree_set(0..9u64, 1..4)
            .prop_map(|s| EntryPayload::Membership(Membership::new(vec![s], ()))),
    ];
    let vote = proptest::option::of((0..9u64, 0..9u64, any::<bool>()).prop_map(
        |(t, n, c)| match c {
            true => Vote::new_committed(t, n),
            false => Vote::new(t, n),
        },
    ));
    prop_oneof![
        (arb_log_id(), payload)
            .prop_map(|(log_id, payload)| LogRecord::Entry(Entry { log_id, payload })),
        any::<u64>().prop_map(LogRecord::Truncate),
        (vote, proptest::option::of(arb_log_id()))
            .prop_map(|(vote, purged)| LogRecord::State(State { vote, purged })),
    ]
}

fn encode(record: &LogRecord) -> Vec<u8> {
    match record {
        LogRecord::Entry(e) => codec::encode_entry(e).unwrap(),
        LogRecord::Truncate(i) => codec::encode_truncate(*i),
        LogRecord::State(s) => codec::encode_state(s),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn log_records_round_trip(record in arb_record()) {
        prop_assert_eq!(codec::decode_record(&encode(&record)), Some(record));
    }

    #[test]
    fn damaged_log_records_never_panic(record in arb_record(), cut in 0usize..64, flip in any::<u8>()) {
        let mut bytes = encode(&record);
        if cut < bytes.len() {
            bytes[cut] ^= flip;
            let _ = codec::decode_record(&bytes);
            bytes.truncate(cut);
            prop_assert!(codec::decode_record(&bytes).is_none());
        }
    }

    /// One proposal of several batches (group commit) decodes to their operations in order,
    /// and the size bound the commit log checks holds.
    #[test]
    fn proposals_round_trip_through_keyspace_names(
        ops in proptest::collection::vec((0..3u8, 0..2usize, proptest::collection::vec(any::<u8>(), 0..8), proptest::collection::vec(any::<u8>(), 0..8)), 0..20),
        cuts in proptest::collection::vec(0usize..20, 0..3),
    ) {
        let fs = SimFs::new();
        let db = open_db(&fs);
        let other = db.create_keyspace("other").unwrap();
        let spaces = [DEFAULT_KEYSPACE, other];
        let mut whole = WriteBatch::new();
        let mut batches = vec![WriteBatch::new()];
        for (i, (kind, ks, key, value)) in ops.iter().enumerate() {
            if cuts.contains(&i) {
                batches.push(WriteBatch::new());
            }
            for b in [&mut whole, batches.last_mut().unwrap()] {
                match kind {
                    0 => b.put(spaces[*ks], key, value),
                    1 => b.delete(spaces[*ks], key),
                    _ => b.delete_range(spaces[*ks], key, value),
                };
            }
        }
        let p = Proposal::from_batches(&db, &batches).unwrap();
        let bound: usize = batches.iter().map(|b| Proposal::len_bound(&db, b)).sum();
        prop_assert!(p.0.len() <= bound, "{} > {}", p.0.len(), bound);
        prop_assert_eq!(&p, &Proposal::from_batch(&db, &whole).unwrap());
        let mut back = WriteBatch::new();
        let names: BTreeMap<&str, u32> = [("default", DEFAULT_KEYSPACE), ("other", other)].into();
        let n = p.decode_into(&mut back, |name| {
            names.get(name).copied().ok_or(crate::Error::CorruptProposal("name"))
        }).unwrap();
        prop_assert_eq!(n, ops.len());
        prop_assert_eq!(back.ops(), whole.ops());
    }
}
