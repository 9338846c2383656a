//! Database tests on the simulated disk. Here: durability through flushes, reopenings and
//! crashes, snapshots, atomic batches across keyspaces, a failed WAL sync. Submodules: `model`
//! (the model-based property tests), `compaction`, `admin` (range deletes, checkpoints,
//! keyspaces), `faults` (injected I/O faults and damaged tables), `backup` (base backups and
//! their replay), `split` (batches larger than one WAL record).

use std::sync::Arc;

use orbit_env::{CrashMode, ManualClock, SimFs};
use orbit_wal::{SyncMode, WalOptions, MIN_SEGMENT_SIZE};

use super::super::*;
use crate::sst::TableOptions;

pub(super) const DIR: &str = "/db";

pub(super) fn opts(memtable_bytes: usize) -> DbOptions {
    DbOptions {
        memtable_bytes,
        max_immutable: 2,
        table: TableOptions {
            block_size: 256,
            ..TableOptions::default()
        },
        cache_bytes: 1 << 20,
        // Small levels and outputs, so the model tests reach deep levels and split outputs.
        l0_compaction_trigger: 2,
        level1_bytes: 128,
        level_ratio: 2,
        target_file_bytes: 256,
        wal: WalOptions {
            sync_mode: SyncMode::Sync,
            segment_size: MIN_SEGMENT_SIZE * 4,
            clock: Arc::new(ManualClock::new(0)),
            ..WalOptions::default()
        },
        ..DbOptions::default()
    }
}

pub(super) fn open(fs: &SimFs, memtable_bytes: usize) -> Db {
    Db::open(fs.shared(), DIR, opts(memtable_bytes)).unwrap()
}

#[test]
fn writes_survive_flushes_reopen_and_crash() {
    let fs = SimFs::new();
    let db = open(&fs, 4 << 10);
    for i in 0..500u32 {
        db.put(
            DEFAULT_KEYSPACE,
            format!("k{i:04}").as_bytes(),
            &i.to_le_bytes(),
        )
        .unwrap();
    }
    for i in (0..500u32).step_by(3) {
        db.delete(DEFAULT_KEYSPACE, format!("k{i:04}").as_bytes())
            .unwrap();
    }
    db.flush().unwrap();
    assert!(db.stats().tables >= 2, "{:?}", db.stats().tables);
    let check = |db: &Db| {
        for i in 0..500u32 {
            let got = db
                .get(DEFAULT_KEYSPACE, format!("k{i:04}").as_bytes())
                .unwrap();
            let want = (i % 3 != 0).then(|| i.to_le_bytes().to_vec());
            assert_eq!(got, want, "key {i}");
        }
    };
    check(&db);
    db.put(DEFAULT_KEYSPACE, b"after-flush", b"x").unwrap();
    let crashed = fs.crash(CrashMode::DropUnsynced);
    drop(db);
    let db = open(&crashed, 4 << 10);
    check(&db);
    assert_eq!(
        db.get(DEFAULT_KEYSPACE, b"after-flush").unwrap(),
        Some(b"x".to_vec())
    );
}

#[test]
fn snapshots_read_the_past() {
    let fs = SimFs::new();
    let db = open(&fs, 1 << 20);
    db.put(DEFAULT_KEYSPACE, b"a", b"1").unwrap();
    let s1 = db.snapshot();
    db.put(DEFAULT_KEYSPACE, b"a", b"2").unwrap();
    db.flush().unwrap();
    db.delete(DEFAULT_KEYSPACE, b"a").unwrap();
    assert_eq!(
        db.get_at(DEFAULT_KEYSPACE, b"a", &s1).unwrap(),
        Some(b"1".to_vec())
    );
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"a").unwrap(), None);
}

/// A value larger than the old 64 MiB block limit is written into a table and read back
/// after a flush and a reopen (a 70 MB Redis string made a table that could not be read:
/// "block handle larger than any block"); one over `MAX_VALUE_LEN` is refused up front.
#[test]
fn a_value_larger_than_a_block_limit_survives_a_flush() {
    let fs = SimFs::new();
    let db = open(&fs, 2 << 10);
    let big: Vec<u8> = (0..70_000_000u32).map(|i| (i % 251) as u8).collect();
    db.put(DEFAULT_KEYSPACE, b"a", b"before").unwrap();
    db.put(DEFAULT_KEYSPACE, b"big", &big).unwrap();
    db.put(DEFAULT_KEYSPACE, b"c", b"after").unwrap();
    db.flush().unwrap();
    assert!(db.get(DEFAULT_KEYSPACE, b"big").unwrap() == Some(big.clone()));
    drop(db);
    let db = open(&fs, 2 << 10);
    assert!(db.get(DEFAULT_KEYSPACE, b"big").unwrap() == Some(big));
    assert_eq!(
        db.get(DEFAULT_KEYSPACE, b"c").unwrap(),
        Some(b"after".to_vec())
    );
    let too_big = vec![0u8; crate::MAX_VALUE_LEN + 1];
    assert!(matches!(
        db.put(DEFAULT_KEYSPACE, b"huge", &too_big),
        Err(Error::ValueTooLarge { .. })
    ));
}

/// Threads that open one keyspace at once, none finding it, all get the same one (a cluster
/// node opening its catalog raced a replicated write naming it, and one failed with
/// `KeyspaceExists`); it survives a reopen with that id.
#[test]
fn threads_opening_a_missing_keyspace_at_once_share_it() {
    let fs = SimFs::new();
    let db = std::sync::Arc::new(open(&fs, 2 << 10));
    let ids: Vec<_> = (0..8)
        .map(|_| {
            let db = std::sync::Arc::clone(&db);
            std::thread::spawn(move || db.open_keyspace("sql:catalog").unwrap())
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert!(matches!(
        db.create_keyspace("sql:catalog"),
        Err(Error::KeyspaceExists(_))
    ));
    drop(db);
    let db = open(&fs, 2 << 10);
    assert_eq!(db.keyspace("sql:catalog"), Some(ids[0]));
    assert_eq!(db.open_keyspace("sql:catalog").unwrap(), ids[0]);
}

#[test]
fn a_batch_across_keyspaces_is_all_or_nothing_after_a_crash() {
    let fs = SimFs::new();
    let db = open(&fs, 2 << 10);
    let users = db.create_keyspace("users").unwrap();
    assert!(matches!(
        db.create_keyspace("users"),
        Err(Error::KeyspaceExists(_))
    ));
    assert!(matches!(
        db.put(99, b"k", b"v"),
        Err(Error::UnknownKeyspace(99))
    ));
    for i in 0..200u32 {
        let mut b = WriteBatch::new();
        b.put(DEFAULT_KEYSPACE, format!("d{i}").as_bytes(), b"1")
            .put(users, format!("u{i}").as_bytes(), b"2");
        db.write(&b).unwrap();
    }
    // Crash with writes in flight on other threads: whatever survives, both halves of each
    // batch survive together.
    let db = Arc::new(db);
    let writer = {
        let db = Arc::clone(&db);
        std::thread::spawn(move || {
            for i in 200..400u32 {
                let mut b = WriteBatch::new();
                b.put(DEFAULT_KEYSPACE, format!("d{i}").as_bytes(), b"1")
                    .put(users, format!("u{i}").as_bytes(), b"2");
                if db.write(&b).is_err() {
                    break;
                }
            }
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(5));
    let crashed = fs.crash(CrashMode::Torn { seed: 7 });
    writer.join().unwrap();
    drop(db);
    let db = open(&crashed, 2 << 10);
    assert_eq!(db.keyspace("users"), Some(users));
    for i in 0..400u32 {
        let d = db
            .get(DEFAULT_KEYSPACE, format!("d{i}").as_bytes())
            .unwrap();
        let u = db.get(users, format!("u{i}").as_bytes()).unwrap();
        assert_eq!(d.is_some(), u.is_some(), "batch {i} is half-visible");
        if i < 200 {
            assert!(d.is_some(), "acknowledged batch {i} lost");
        }
    }
}

#[test]
fn a_failed_wal_sync_poisons_writes_but_reads_go_on() {
    let fs = SimFs::new();
    let db = open(&fs, 1 << 20);
    db.put(DEFAULT_KEYSPACE, b"a", b"1").unwrap();
    // Aim at the WAL's segments: flush, compaction and the segment manager sync other files.
    fs.inject_on(
        orbit_env::FaultOp::Sync,
        1,
        orbit_env::FaultKind::Eio,
        false,
        Some("/db/wal/0"),
    );
    assert!(db.put(DEFAULT_KEYSPACE, b"b", b"2").is_err());
    assert!(matches!(
        db.put(DEFAULT_KEYSPACE, b"c", b"3"),
        Err(Error::Poisoned { .. })
    ));
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(
        db.get(DEFAULT_KEYSPACE, b"b").unwrap(),
        None,
        "an unacknowledged write is invisible"
    );
    let crashed = fs.crash(CrashMode::DropUnsynced);
    drop(db);
    let db = open(&crashed, 1 << 20);
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"a").unwrap(), Some(b"1".to_vec()));
    db.put(DEFAULT_KEYSPACE, b"c", b"3").unwrap();
}

mod admin;
mod backup;
mod compaction;
mod faults;
mod model;
mod split;
mod split_keys;

#[test]
fn visible_at_resolves_once_the_sequence_number_is_published() {
    use std::future::Future;
    let fs = SimFs::new();
    let db = open(&fs, 1 << 20);
    db.put(DEFAULT_KEYSPACE, b"a", b"1").unwrap();
    let seq = db.visible_seq();
    assert_eq!(db.assigned_seq(), seq);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut now = std::pin::pin!(db.visible_at(seq));
    assert!(now.as_mut().poll(&mut cx).is_ready());
    let mut later = std::pin::pin!(db.visible_at(seq + 2));
    assert!(later.as_mut().poll(&mut cx).is_pending());
    db.put(DEFAULT_KEYSPACE, b"b", b"2").unwrap();
    assert!(later.as_mut().poll(&mut cx).is_pending());
    // Pending writes are readable at the latest sequence number, not at the visible one.
    let p = db
        .write_pending(WriteBatch::new().put(DEFAULT_KEYSPACE, b"c", b"3"))
        .unwrap();
    assert_eq!(db.assigned_seq(), seq + 2);
    assert_eq!(
        db.get_latest(DEFAULT_KEYSPACE, b"c").unwrap(),
        Some(b"3".to_vec())
    );
    p.wait().unwrap();
    assert!(later.as_mut().poll(&mut cx).is_ready());
}

/// Dropping a database right after opening it must never hang: shutdown used to notify the
/// flush thread without its queue's lock and could be missed (seen as a hung CI run).
#[test]
fn a_database_closes_however_soon_it_is_dropped() {
    let fs = SimFs::new();
    for i in 0..200u32 {
        let db = open(&fs, 1 << 20);
        if i % 2 == 0 {
            db.put(DEFAULT_KEYSPACE, &i.to_le_bytes(), b"v").unwrap();
        }
        drop(db);
    }
}

/// Writers insert into the memtables in parallel, outside the write lock, while tiny
/// memtables rotate and flush under them: every write is readable (at the latest sequence
/// number) once it returns, all are visible once the writers are done, and all of them are
/// there after a crash (a flush that ran while an insert into its memtable was
/// still going would leave that write out of the table and behind the replay position).
#[test]
fn parallel_inserts_survive_rotations_flushes_and_a_crash() {
    let fs = SimFs::new();
    let db = Arc::new(open(&fs, 2 << 10));
    let (threads, per) = (4u32, 300u32);
    let writers: Vec<_> = (0..threads)
        .map(|t| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                for i in 0..per {
                    let key = format!("t{t}-{i:04}");
                    db.put(DEFAULT_KEYSPACE, key.as_bytes(), &i.to_le_bytes())
                        .unwrap();
                    assert_eq!(
                        db.get_latest(DEFAULT_KEYSPACE, key.as_bytes()).unwrap(),
                        Some(i.to_le_bytes().to_vec()),
                        "{key}"
                    );
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert!(db.stats().tables >= 2);
    let check = |db: &Db| {
        for t in 0..threads {
            for i in 0..per {
                let key = format!("t{t}-{i:04}");
                assert_eq!(
                    db.get(DEFAULT_KEYSPACE, key.as_bytes()).unwrap(),
                    Some(i.to_le_bytes().to_vec()),
                    "{key}"
                );
            }
        }
    };
    check(&db);
    let crashed = fs.crash(CrashMode::DropUnsynced);
    drop(db);
    check(&open(&crashed, 2 << 10));
}

/// An ordered write dropped before it was applied is still inserted and published: later
/// writes become visible behind it, and it is readable.
#[test]
fn an_ordered_write_dropped_unapplied_still_lands() {
    let fs = SimFs::new();
    let db = open(&fs, 1 << 20);
    let batch = WriteBatch::new().put(DEFAULT_KEYSPACE, b"a", b"1").clone();
    let ordered = db.write_ordered(&batch).unwrap();
    let seq = ordered.seq().unwrap();
    drop(ordered);
    db.put(DEFAULT_KEYSPACE, b"b", b"2").unwrap();
    assert!(db.visible_seq() > seq);
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"a").unwrap(), Some(b"1".to_vec()));
}

/// Awaiting a write ends only when it is visible: while an earlier write is still unpublished
/// (its owner has not waited for it), a later write's future stays pending however often it
/// is polled, and once the earlier one is published the later one completes and is readable
/// at the visible sequence number.
#[test]
fn awaiting_a_write_ends_when_it_is_visible() {
    use std::future::Future;
    let fs = SimFs::new();
    let db = open(&fs, 1 << 20);
    let first = db
        .write_pending(WriteBatch::new().put(DEFAULT_KEYSPACE, b"a", b"1"))
        .unwrap();
    let mut second = std::pin::pin!(db
        .write_pending(WriteBatch::new().put(DEFAULT_KEYSPACE, b"b", b"2"))
        .unwrap());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..50 {
        assert!(second.as_mut().poll(&mut cx).is_pending());
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    first.wait().unwrap();
    loop {
        if let std::task::Poll::Ready(r) = second.as_mut().poll(&mut cx) {
            r.unwrap();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"b").unwrap(), Some(b"2".to_vec()));
}

/// A keyspace idle when the memtables rotated gets a small key index (`flush::next_capacity`);
/// when writes then move to it, the index overflows and turns incomplete, and every read
/// still finds each key's newest value (and nothing for keys never written).
#[test]
fn a_keyspace_busy_after_an_idle_rotation_reads_every_newest_value() {
    let fs = SimFs::new();
    let db = open(&fs, 1 << 20);
    let b = db.create_keyspace("b").unwrap();
    db.put(DEFAULT_KEYSPACE, b"a", b"1").unwrap();
    db.flush().unwrap();
    for i in 0..5000u32 {
        db.put(b, format!("k{i:05}").as_bytes(), &i.to_le_bytes())
            .unwrap();
    }
    for i in (0..5000u32).step_by(7) {
        db.put(b, format!("k{i:05}").as_bytes(), b"new").unwrap();
    }
    for i in 0..5000u32 {
        let want = if i % 7 == 0 {
            b"new".to_vec()
        } else {
            i.to_le_bytes().to_vec()
        };
        assert_eq!(
            db.get(b, format!("k{i:05}").as_bytes()).unwrap(),
            Some(want)
        );
    }
    assert_eq!(db.get(b, b"k99999").unwrap(), None);
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"a").unwrap(), Some(b"1".to_vec()));
}

/// Tiny entries fill the memtable's key index long before its bytes reach `memtable_bytes`:
/// the memtables rotate once the index is three quarters full (it would otherwise turn
/// incomplete, and every lookup of an absent key would search the list), and reads go on.
#[test]
fn tiny_entries_rotate_the_memtable_when_its_key_index_is_nearly_full() {
    let fs = SimFs::new();
    let db = open(&fs, 1 << 20);
    // 16,384 slots for 1 MiB: 13,000 keys are past three quarters, in about half a MiB.
    for i in 0..13_000u32 {
        db.put(DEFAULT_KEYSPACE, &i.to_be_bytes(), b"v").unwrap();
    }
    let stats = db.stats();
    let rotated = stats.flush_bytes > 0
        || stats.pending_flushes > 0
        || stats.tables_per_level.iter().sum::<usize>() > 0;
    assert!(rotated, "no rotation: {stats:?}");
    for i in (0..13_000u32).step_by(97) {
        assert_eq!(
            db.get(DEFAULT_KEYSPACE, &i.to_be_bytes()).unwrap(),
            Some(b"v".to_vec())
        );
    }
}
