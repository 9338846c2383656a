//! Snapshots on the state machine: what one covers is durable; one sent in small chunks (as
//! openraft's transport does) replaces another node's contents, across several install
//! batches and with values larger than the file buffers; a damaged one changes nothing; an
//! install interrupted by a crash at any write leaves the old contents or, finished at the
//! next start, the new ones, never a mix.

use std::io::SeekFrom;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, Membership, RaftSnapshotBuilder};
use orbit_env::{CrashMode, FaultKind, FaultOp, FileSystem, SimFs};
use orbit_lsm::{Db, Direction, KeyspaceId, WriteBatch, DEFAULT_KEYSPACE};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::tests::{entry, log_id, open_db, open_sm, proposal, runtime, SNAPSHOTS};
use crate::types::{LogId, StoredMembership, TypeConfig};
use crate::{Proposal, SnapshotFile, StateMachine};

/// Sends `snap` to `to` the way openraft's chunked transport does: `chunk` bytes at a time,
/// each written at its offset into what `begin_receiving_snapshot` gave.
async fn transfer(
    snap: &mut Snapshot<TypeConfig>,
    to: &mut StateMachine,
    chunk: usize,
) -> Box<SnapshotFile> {
    let mut dst = to.begin_receiving_snapshot().await.unwrap();
    let end = snap.snapshot.seek(SeekFrom::End(0)).await.unwrap();
    let mut offset = 0;
    while offset < end {
        snap.snapshot.seek(SeekFrom::Start(offset)).await.unwrap();
        let mut buf = Vec::with_capacity(chunk);
        while buf.len() < chunk {
            if snap.snapshot.read_buf(&mut buf).await.unwrap() == 0 {
                break;
            }
        }
        dst.seek(SeekFrom::Start(offset)).await.unwrap();
        dst.write_all(&buf).await.unwrap();
        offset += buf.len() as u64;
    }
    dst.shutdown().await.unwrap();
    dst
}

async fn build(sm: &mut StateMachine) -> Snapshot<TypeConfig> {
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap()
}

fn files(fs: &SimFs) -> Vec<String> {
    let mut names = fs.list_dir(Path::new(SNAPSHOTS)).unwrap();
    names.sort();
    names
}

fn pairs(db: &Db, ks: KeyspaceId) -> Vec<(Vec<u8>, Vec<u8>)> {
    let all = (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded);
    db.iter(ks, all, Direction::Forward, &db.snapshot())
        .unwrap()
        .map(|p| p.unwrap())
        .collect()
}

/// The engine's WAL is not synced per write: a crash may drop applied entries (the node
/// re-applies them from the Raft log), but never those a snapshot covers, because openraft
/// drops the log up to it.
#[test]
fn a_snapshot_makes_what_it_covers_durable() {
    let rt = runtime();
    let fs = SimFs::new();
    let db = open_db(&fs);
    let mut sm = open_sm(&fs, Arc::clone(&db));
    rt.block_on(sm.apply(vec![
        entry(1, 1, EntryPayload::Blank),
        entry(1, 2, EntryPayload::Normal(proposal(&db, &[("a", "1")]))),
    ]))
    .unwrap();
    // Not flushed: a crash now loses the apply (the log still has it), and the durable
    // mark the log purges no further than stays where it was.
    assert_eq!(sm.durable_index(), 0);
    let crashed = fs.crash(CrashMode::DropUnsynced);
    let mut after = open_sm(&crashed, open_db(&crashed));
    let (applied, _) = rt.block_on(after.applied_state()).unwrap();
    assert_eq!(applied, None);
    assert_eq!(after.durable_index(), 0);
    let meta = rt.block_on(build(&mut sm)).meta;
    assert_eq!(meta.last_log_id, Some(log_id(1, 1, 2)));
    assert_eq!(sm.durable_index(), 2);
    let crashed = fs.crash(CrashMode::DropUnsynced);
    let db2 = open_db(&crashed);
    let (applied, _) = rt
        .block_on(open_sm(&crashed, Arc::clone(&db2)).applied_state())
        .unwrap();
    assert_eq!(applied, meta.last_log_id);
    // Opening marks what it recovered durable.
    assert_eq!(open_sm(&crashed, Arc::clone(&db2)).durable_index(), 2);
    assert_eq!(
        db2.get(DEFAULT_KEYSPACE, b"a").unwrap(),
        Some(b"1".to_vec())
    );
}

/// Node a's contents: a `users` keyspace, 3,000 padded pairs (several install batches) and
/// a value larger than the file buffers, applied at log index 2.
fn source(fs: &SimFs) -> (Arc<Db>, StateMachine, Membership<u64, openraft::BasicNode>) {
    let rt = runtime();
    let db = open_db(fs);
    let users = db.create_keyspace("users").unwrap();
    let mut sm = open_sm(fs, Arc::clone(&db));
    let mut batch = WriteBatch::new();
    batch.put(users, b"u1", b"alice");
    for i in 0..3000u32 {
        batch.put(
            DEFAULT_KEYSPACE,
            format!("k{i:05}").as_bytes(),
            &[i as u8; 2048],
        );
    }
    batch.put(DEFAULT_KEYSPACE, b"large", &vec![9; 3 << 20]);
    let p = Proposal::from_batch(&db, &batch).unwrap();
    let membership = Membership::new(vec![[1u64, 2].into()], ());
    rt.block_on(sm.apply(vec![
        entry(1, 1, EntryPayload::Membership(membership.clone())),
        entry(1, 2, EntryPayload::Normal(p)),
    ]))
    .unwrap();
    (db, sm, membership)
}

#[test]
fn a_snapshot_sent_in_chunks_replaces_another_nodes_contents_keyspaces_by_name() {
    let rt = runtime();
    let (fs_a, fs_b) = (SimFs::new(), SimFs::new());
    let (db_a, mut a, membership) = source(&fs_a);
    let db_b = open_db(&fs_b);
    // Node b creates its keyspaces in another order: ids differ, names match.
    db_b.create_keyspace("other").unwrap();
    let users_b = db_b.create_keyspace("users").unwrap();
    assert_ne!(db_a.keyspace("users"), Some(users_b));
    db_b.put(users_b, b"stale", b"x").unwrap();
    db_b.put(DEFAULT_KEYSPACE, b"stale", b"y").unwrap();

    let mut snap = rt.block_on(build(&mut a));
    assert_eq!(snap.meta.last_log_id, Some(log_id(1, 1, 2)));
    assert_eq!(
        snap.meta.last_membership,
        StoredMembership::new(Some(log_id(1, 1, 1)), membership)
    );
    assert_eq!(files(&fs_a), ["built-1.snap"]);

    let mut b = open_sm(&fs_b, Arc::clone(&db_b));
    // A stream the leader gave up: its file goes once an install is done.
    drop(rt.block_on(b.begin_receiving_snapshot()).unwrap());
    let data = rt.block_on(transfer(&mut snap, &mut b, 100_000));
    let foreign = Arc::clone(b.foreign());
    let replacements = || foreign.replacements.load(Ordering::SeqCst);
    assert_eq!(replacements(), 0);
    assert_eq!(b.durable_index(), 0);
    rt.block_on(b.install_snapshot(&snap.meta, data)).unwrap();
    // Installed and synced: the Raft log may drop what the snapshot covers.
    assert_eq!(
        Some(b.durable_index()),
        snap.meta.last_log_id.map(|l| l.index)
    );
    // Raised as it began and as it ended: reads that overlapped it are refused.
    assert_eq!(replacements(), 2);
    assert_eq!(db_b.get(users_b, b"u1").unwrap(), Some(b"alice".to_vec()));
    assert_eq!(db_b.get(users_b, b"stale").unwrap(), None);
    assert_eq!(
        pairs(&db_b, DEFAULT_KEYSPACE),
        pairs(&db_a, DEFAULT_KEYSPACE)
    );
    let (applied, m) = rt.block_on(b.applied_state()).unwrap();
    assert_eq!(
        (applied, m),
        (snap.meta.last_log_id, snap.meta.last_membership.clone())
    );
    // The installed file is b's current snapshot, byte for byte a's.
    assert_eq!(files(&fs_b), ["installed-3.snap"]);
    let mut current = rt.block_on(b.get_current_snapshot()).unwrap().unwrap();
    assert_eq!(current.meta, snap.meta);
    let (mut mine, mut theirs) = (Vec::new(), Vec::new());
    rt.block_on(current.snapshot.read_to_end(&mut mine))
        .unwrap();
    snap.snapshot = rt
        .block_on(a.get_current_snapshot())
        .unwrap()
        .unwrap()
        .snapshot;
    rt.block_on(snap.snapshot.read_to_end(&mut theirs)).unwrap();
    assert!(mine == theirs && mine.len() > 9_000_000, "{}", mine.len());
}

#[test]
fn a_damaged_snapshot_is_refused_and_changes_nothing() {
    let rt = runtime();
    let (fs_a, fs_b) = (SimFs::new(), SimFs::new());
    let (_db_a, mut a, _) = source(&fs_a);
    let db = open_db(&fs_b);
    db.put(DEFAULT_KEYSPACE, b"keep", b"1").unwrap();
    let mut sm = open_sm(&fs_b, Arc::clone(&db));
    let mut snap = rt.block_on(build(&mut a));
    let data = rt.block_on(transfer(&mut snap, &mut sm, 1 << 20));
    let len = data.file().len().unwrap();
    let mut byte = [0];
    data.file().read_exact_at(&mut byte, len / 2).unwrap();
    data.file().write_all_at(&[byte[0] ^ 1], len / 2).unwrap();
    let err = rt
        .block_on(sm.install_snapshot(&snap.meta, data))
        .unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
    // openraft stops on it: a purge waiting for the install is not left waiting.
    let mut watch = sm.durable();
    assert!(rt.block_on(watch.wait_for(1)).is_err());
    // Refused before anything changed: reads were never in danger.
    assert_eq!(sm.foreign().replacements.load(Ordering::SeqCst), 0);
    assert_eq!(
        pairs(&db, DEFAULT_KEYSPACE),
        [(b"keep".to_vec(), b"1".to_vec())]
    );
    assert_eq!(rt.block_on(sm.applied_state()).unwrap().0, None);
    assert!(files(&fs_b).is_empty(), "{:?}", files(&fs_b));
}

/// What node b holds after a crash: its old contents (applied at `old`) or the snapshot's,
/// whole either way. Answers whether it is the snapshot's.
fn old_or_new(
    rt: &tokio::runtime::Runtime,
    fs: &SimFs,
    old: Option<LogId>,
    new: &[(Vec<u8>, Vec<u8>)],
    new_applied: Option<LogId>,
) -> bool {
    let db = open_db(fs);
    let mut sm = open_sm(fs, Arc::clone(&db));
    let (applied, _) = rt.block_on(sm.applied_state()).unwrap();
    let held = pairs(&db, DEFAULT_KEYSPACE);
    if applied == new_applied {
        assert!(held == new, "new applied state, {} pairs", held.len());
        assert!(files(fs).iter().all(|f| f.starts_with("installed-")));
        true
    } else {
        assert_eq!(applied, old);
        let mut want: Vec<_> = (0..100u32)
            .map(|i| (format!("old{i}").into_bytes(), b"x".to_vec()))
            .collect();
        want.sort();
        assert_eq!(held, want);
        assert!(files(fs).is_empty(), "{:?}", files(fs));
        false
    }
}

#[test]
fn an_install_a_crash_interrupts_is_finished_at_the_next_start() {
    let rt = runtime();
    let fs_a = SimFs::new();
    let (db_a, mut a, _) = source(&fs_a);
    let new = pairs(&db_a, DEFAULT_KEYSPACE);
    let mut snap = rt.block_on(build(&mut a));
    let (mut finished, mut resumed, mut kept) = (false, 0, 0);
    // Fail the nth write to b's engine files (and every one after), then crash.
    let mut nth = 1;
    while !finished {
        let fs = SimFs::new();
        let db = open_db(&fs);
        let mut sm = open_sm(&fs, Arc::clone(&db));
        let old: Vec<(String, &str)> = (0..100).map(|i| (format!("old{i}"), "x")).collect();
        let old: Vec<(&str, &str)> = old.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        rt.block_on(sm.apply(vec![entry(1, 1, EntryPayload::Normal(proposal(&db, &old)))]))
            .unwrap();
        // Applies are durable once flushed (the Raft log holds them until then).
        db.flush().unwrap();
        let data = rt.block_on(transfer(&mut snap, &mut sm, 1 << 20));
        fs.inject_on(FaultOp::Write, nth, FaultKind::Eio, true, Some("/db"));
        finished = rt.block_on(sm.install_snapshot(&snap.meta, data)).is_ok();
        let crashed = fs.crash(CrashMode::DropUnsynced);
        drop((sm, db));
        let is_new = old_or_new(
            &rt,
            &crashed,
            Some(log_id(1, 1, 1)),
            &new,
            snap.meta.last_log_id,
        );
        match (finished, is_new) {
            (true, now) => assert!(now, "a finished install is durable"),
            (false, true) => resumed += 1,
            (false, false) => kept += 1,
        }
        nth = nth * 3 / 2 + 1;
    }
    // Both outcomes of an interrupted install were seen: the sweep crossed the point where
    // the install's first batch became durable.
    assert!(resumed > 0 && kept > 0, "resumed {resumed}, kept {kept}");
}
