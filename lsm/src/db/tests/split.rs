//! Batches larger than one WAL record (`crate::split`): written as several records, visible
//! whole, all or nothing when the log is cut at any point among their records (a crash) or a
//! write fails between them, and replayed by a restore only when the target lies past their
//! commit record.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use orbit_env::{CrashMode, FaultKind, FaultOp, FileSystem, OpenMode, SimFs};
use orbit_wal::{inspect_segment, read_archive, FrameInfo, MIN_SEGMENT_SIZE};

use super::backup::{contents, restore};
use super::*;

/// 16 KiB segments: a record holds at most about 12 KiB, so a few hundred ops take several
/// records and segments.
fn small_segments(memtable_bytes: usize) -> DbOptions {
    let mut o = opts(memtable_bytes);
    o.wal.segment_size = MIN_SEGMENT_SIZE;
    o
}

fn skey(i: u32) -> Vec<u8> {
    format!("s{i:04}").into_bytes()
}

fn small(i: u32) -> WriteBatch {
    let mut b = WriteBatch::new();
    b.put(DEFAULT_KEYSPACE, &skey(i), &i.to_le_bytes());
    b
}

const BIG_OPS: u32 = 240;

fn bkey(tag: u8, i: u32) -> Vec<u8> {
    format!("b{tag}-{i:05}").into_bytes()
}

fn bvalue(tag: u8, i: u32) -> Vec<u8> {
    vec![tag.wrapping_add(i as u8); 200 + (i as usize % 7) * 10]
}

/// About 60 KB: five records of 16 KiB segments. Also deletes the small key 0, so that its
/// absence shows the batch as surely as its own keys do.
fn big(tag: u8) -> WriteBatch {
    let mut b = WriteBatch::new();
    for i in 0..BIG_OPS {
        b.put(DEFAULT_KEYSPACE, &bkey(tag, i), &bvalue(tag, i));
    }
    b.delete(DEFAULT_KEYSPACE, &skey(0));
    b
}

/// Whether batch `tag` is present, asserting it is whole or absent.
fn big_present(db: &Db, tag: u8) -> bool {
    let prefix = format!("b{tag}-").into_bytes();
    let found: Vec<_> = db
        .prefix(DEFAULT_KEYSPACE, &prefix, Direction::Forward)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    if found.is_empty() {
        return false;
    }
    assert_eq!(found.len(), BIG_OPS as usize, "batch {tag} is half there");
    for (i, (k, v)) in found.into_iter().enumerate() {
        assert_eq!((k, v), (bkey(tag, i as u32), bvalue(tag, i as u32)));
    }
    true
}

fn small_present(db: &Db, i: u32) -> bool {
    match db.get(DEFAULT_KEYSPACE, &skey(i)).unwrap() {
        Some(v) => {
            assert_eq!(v, i.to_le_bytes());
            true
        }
        None => false,
    }
}

/// One data record of the WAL as it lies in a segment file.
#[derive(Debug, Clone)]
struct Rec {
    lsn: u64,
    end: u64,
    /// The LSM record tag (`3` part, `4` commit, ...), `None` for a one-record batch.
    tag: Option<u8>,
}

fn segments(fs: &SimFs) -> Vec<(PathBuf, u64)> {
    let dir = Path::new(DIR).join("wal");
    let mut segs: Vec<_> = fs
        .list_dir(&dir)
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".wal") && !n.starts_with("spare-"))
        .map(|n| {
            let first = u64::from_str_radix(n.trim_end_matches(".wal"), 16).unwrap();
            (dir.join(n), first)
        })
        .collect();
    segs.sort_by_key(|s| s.1);
    segs
}

fn wal_records(fs: &SimFs) -> Vec<Rec> {
    let mut out = Vec::new();
    for (path, first) in segments(fs) {
        let bytes = fs.contents(&path).unwrap();
        for f in inspect_segment(fs, &path).unwrap().frames {
            if let FrameInfo::Data { lsn, len } = f {
                let at = (4096 + lsn - first + 9) as usize;
                let payload = &bytes[at..at + len];
                let tag = (payload[..8] == [0xff; 8]).then(|| payload[8]);
                out.push(Rec {
                    lsn,
                    end: lsn + 9 + len as u64,
                    tag,
                });
            }
        }
    }
    out
}

/// The disk as if the log had ended at `lsn` (a crash before anything from there was written):
/// zeroes from `lsn` on, later segments gone.
fn cut_at(fs: &SimFs, lsn: u64) -> SimFs {
    let img = fs.crash(CrashMode::DropUnsynced);
    for (path, first) in segments(&img) {
        if first > lsn {
            img.remove_file(&path).unwrap();
            continue;
        }
        let file = img.open(&path, OpenMode::ReadWrite).unwrap();
        let from = 4096 + (lsn - first);
        let len = file.len().unwrap();
        if from < len {
            file.write_all_at(&vec![0u8; (len - from) as usize], from)
                .unwrap();
            file.sync_data().unwrap();
        }
    }
    img.sync_dir(&Path::new(DIR).join("wal")).unwrap();
    img
}

#[test]
fn a_large_batch_is_several_records_and_visible_whole() {
    let fs = SimFs::new();
    let db = Db::open(fs.shared(), DIR, small_segments(1 << 20)).unwrap();
    db.write(&small(0)).unwrap();
    let records = db.stats().wal.records;
    // Readers at snapshots see the batch whole or not at all while it is written.
    let db = Arc::new(db);
    let (ready_tx, ready) = mpsc::channel();
    let reader = {
        let db = Arc::clone(&db);
        std::thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            seen.insert(big_present(&db, 1));
            ready_tx.send(()).unwrap();
            while !seen.contains(&true) {
                seen.insert(big_present(&db, 1));
            }
            seen
        })
    };
    ready.recv().unwrap();
    db.write(&big(1)).unwrap();
    let parts = db.stats().wal.records - records;
    assert!(
        parts >= 5,
        "a 60 KB batch in 16 KiB segments took {parts} records"
    );
    assert_eq!(reader.join().unwrap().len(), 2, "saw it absent, then whole");
    assert!(!small_present(&db, 0), "the batch's delete applied with it");
    // An op larger than a segment.
    let mut huge = WriteBatch::new();
    huge.put(DEFAULT_KEYSPACE, b"huge", &vec![9u8; 100_000]);
    db.write(&huge).unwrap();
    db.write(&small(1)).unwrap();
    let check = |db: &Db| {
        assert!(big_present(db, 1));
        assert_eq!(
            db.get(DEFAULT_KEYSPACE, b"huge").unwrap(),
            Some(vec![9u8; 100_000])
        );
        assert!(!small_present(db, 0) && small_present(db, 1));
    };
    check(&db);
    let crashed = fs.crash(CrashMode::DropUnsynced);
    drop(Arc::try_unwrap(db).ok().unwrap());
    let db = Db::open(crashed.shared(), DIR, small_segments(1 << 20)).unwrap();
    check(&db);
    db.flush().unwrap();
    drop(db);
    let db = Db::open(crashed.shared(), DIR, small_segments(1 << 20)).unwrap();
    check(&db);
}

/// The log cut at every record boundary of a split batch and in the middle of every one of its
/// records: after reopening the batch is whole or absent (whole exactly when its commit record
/// survived), the batches before it are there, those after it only with it, and the database
/// goes on: the same sequence numbers split again and a crash after that keep everything.
#[test]
fn a_log_cut_anywhere_in_a_split_batch_keeps_it_all_or_nothing() {
    let fs = SimFs::new();
    let o = || small_segments(1 << 20);
    let db = Db::open(fs.shared(), DIR, o()).unwrap();
    for i in 0..5 {
        db.write(&small(i)).unwrap();
    }
    db.write(&big(1)).unwrap();
    for i in 5..10 {
        db.write(&small(i)).unwrap();
    }
    db.close().unwrap();
    let recs = wal_records(&fs);
    let parts: Vec<&Rec> = recs
        .iter()
        .filter(|r| matches!(r.tag, Some(3 | 4)))
        .collect();
    assert!(parts.len() >= 5, "{parts:?}");
    assert_eq!(
        parts.last().unwrap().tag,
        Some(4),
        "the last record commits"
    );
    let commit_end = parts.last().unwrap().end;
    let after: Vec<&Rec> = recs.iter().filter(|r| r.lsn >= commit_end).collect();
    assert_eq!(after.len(), 5);
    let mut cuts = Vec::new();
    for p in &parts {
        cuts.push(p.lsn);
        cuts.push(p.lsn + (p.end - p.lsn) / 2);
        cuts.push(p.end - 1);
    }
    cuts.extend(after.iter().map(|r| r.end));
    let (mut absent, mut present) = (0, 0);
    for cut in cuts {
        let img = cut_at(&fs, cut);
        let db = Db::open(img.shared(), DIR, o()).unwrap();
        let whole = big_present(&db, 1);
        assert_eq!(whole, cut >= commit_end, "cut at {cut}");
        match whole {
            true => present += 1,
            false => absent += 1,
        }
        assert_eq!(small_present(&db, 0), !whole, "cut at {cut}");
        for i in 1..5 {
            assert!(small_present(&db, i), "cut at {cut}: small batch {i} lost");
        }
        for (i, r) in (5..10).zip(&after) {
            assert_eq!(
                small_present(&db, i),
                cut >= r.end,
                "cut at {cut}: small {i}"
            );
        }
        // Carry on: a one-record batch right after the dropped batch's parts (the failure test
        // below puts a split batch there), a new split batch, then a crash.
        db.write(&small(100)).unwrap();
        db.write(&big(2)).unwrap();
        let crashed = img.crash(CrashMode::DropUnsynced);
        drop(db);
        let db = Db::open(crashed.shared(), DIR, o()).unwrap();
        assert_eq!(big_present(&db, 1), whole, "cut at {cut}, reopened twice");
        assert!(
            big_present(&db, 2),
            "cut at {cut}: the batch after reopening is lost"
        );
        assert!(small_present(&db, 100));
    }
    assert!(absent >= 10 && present >= 5, "{absent} {present}");
}

/// A write or sync of the WAL fails at each record of a split batch: the batch is refused
/// (or its outcome is unknown), and after a crash it is whole or absent; acknowledged batches
/// before it are there, and the reopened database writes on.
#[test]
fn a_wal_failure_at_any_record_of_a_split_batch_keeps_it_all_or_nothing() {
    let o = || small_segments(1 << 20);
    let (mut absent, mut present) = (0, 0);
    for (op, seeds) in [(FaultOp::Write, 1u64), (FaultOp::Sync, 3)] {
        for nth in 1..=7u64 {
            for seed in 0..seeds {
                let fs = SimFs::new();
                let db = Db::open(fs.shared(), DIR, o()).unwrap();
                for i in 0..5 {
                    db.write(&small(i)).unwrap();
                }
                fs.inject_on(op, nth, FaultKind::Eio, false, Some("/db/wal/0"));
                let acked = db.write(&big(1)).is_ok();
                let mode = match op {
                    FaultOp::Write => CrashMode::DropUnsynced,
                    FaultOp::Sync => CrashMode::Torn {
                        seed: seed * 31 + nth,
                    },
                };
                let crashed = fs.crash(mode);
                drop(db);
                let db = Db::open(crashed.shared(), DIR, o()).unwrap();
                let whole = big_present(&db, 1);
                let what = format!("{op:?} #{nth} seed {seed}");
                assert!(whole || !acked, "{what}: acknowledged and lost");
                match whole {
                    true => present += 1,
                    false => absent += 1,
                }
                assert_eq!(small_present(&db, 0), !whole, "{what}");
                for i in 1..5 {
                    assert!(small_present(&db, i), "{what}: small batch {i} lost");
                }
                db.write(&big(2)).unwrap();
                db.write(&small(100)).unwrap();
                drop(db);
                let db = Db::open(crashed.shared(), DIR, o()).unwrap();
                assert_eq!(big_present(&db, 1), whole, "{what}");
                assert!(big_present(&db, 2) && small_present(&db, 100), "{what}");
            }
        }
    }
    assert!(absent >= 10 && present >= 2, "{absent} {present}");
}

/// Restored to an LSN before, inside or after a split batch, the database has it whole exactly
/// when the target is past its commit record.
#[test]
fn a_restore_applies_a_split_batch_only_past_its_commit() {
    let fs = SimFs::new();
    let arch = Path::new("/archive");
    let mut o = small_segments(4 << 10);
    o.wal.archive_dir = Some(arch.to_path_buf());
    let db = Db::open(fs.shared(), DIR, o).unwrap();
    for i in 0..5 {
        db.write(&small(i)).unwrap();
    }
    let info = db.backup("/backup").unwrap();
    db.write(&small(5)).unwrap();
    db.write(&big(1)).unwrap();
    db.write(&small(6)).unwrap();
    let end = db.switch_wal().unwrap();
    while db.archive_status().unwrap().archived_lsn < end {
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut recs = Vec::new();
    read_archive(&fs, arch, Some(info.log_id), info.stop_lsn, |r| {
        let tag = (r.payload[..8] == [0xff; 8]).then(|| r.payload[8]);
        recs.push((r.lsn, r.end_lsn(), tag));
        true
    })
    .unwrap();
    let parts: Vec<_> = recs.iter().filter(|r| matches!(r.2, Some(3 | 4))).collect();
    assert!(parts.len() >= 5, "{recs:?}");
    let (first, commit) = (parts[0], parts[parts.len() - 1]);
    let mut targets = vec![
        (first.0, false),
        (commit.0, false),
        (commit.1, true),
        (end, true),
    ];
    targets.extend(parts[1..parts.len() - 1].iter().map(|p| (p.0 + 3, false)));
    for (n, (target, want)) in targets.into_iter().enumerate() {
        let restored = restore(
            &fs,
            Path::new("/backup"),
            &info,
            arch,
            &format!("/r{n}"),
            target,
        );
        assert_eq!(big_present(&restored, 1), want, "restored to lsn {target}");
        assert_eq!(small_present(&restored, 0), !want);
        assert!((1..6).all(|i| small_present(&restored, i)), "lsn {target}");
        assert_eq!(small_present(&restored, 6), target >= end);
    }
    assert_eq!(
        contents(&restore(&fs, Path::new("/backup"), &info, arch, "/rl", end)),
        contents(&db)
    );
    // The replayer knows when it stopped inside a batch.
    let r = Db::open(fs.shared(), "/direct", small_segments(4 << 10)).unwrap();
    let mut replayer = Replayer::new(&r, 0);
    let mut fed = 0;
    read_archive(&fs, arch, Some(info.log_id), info.stop_lsn, |rec| {
        if rec.lsn >= parts[2].0 {
            return false;
        }
        replayer.apply(rec.lsn, &rec.payload).unwrap();
        fed += 1;
        true
    })
    .unwrap();
    assert!(fed > 2);
    assert_eq!(replayer.incomplete_batch_lsn(), Some(first.0));
    // A commit record without the parts before it (replay started in the middle of a batch)
    // is refused, never applied as half a batch.
    let mut commit_payload = None;
    read_archive(&fs, arch, Some(info.log_id), info.stop_lsn, |rec| {
        if rec.lsn == commit.0 {
            commit_payload = Some(rec.payload);
        }
        true
    })
    .unwrap();
    let mut fresh = Replayer::new(&r, 0);
    match fresh.apply(commit.0, &commit_payload.unwrap()) {
        Err(Error::BadLogRecord { lsn, reason }) => {
            assert_eq!(lsn, commit.0);
            assert!(reason.contains("without the records before it"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!big_present(&r, 1));
}

/// Runs `f` on a thread and fails if it takes longer than `limit` (a hang is a failure).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|e| panic!("did not finish within {limit:?}: {e}"))
}

/// Batches many times the memtable's size, among small writers, through rotations, flushes,
/// compactions and write stalls: nothing waits forever and everything is there after.
#[test]
fn batches_larger_than_the_memtable_do_not_wedge_flushes_or_stalls() {
    let fs = SimFs::new();
    let mut o = small_segments(16 << 10);
    o.l0_slowdown_writes = 3;
    o.l0_stop_writes = 5;
    let db = Arc::new(Db::open(fs.shared(), DIR, o.clone()).unwrap());
    let worker = {
        let db = Arc::clone(&db);
        move || {
            let smalls = {
                let db = Arc::clone(&db);
                std::thread::spawn(move || {
                    for i in 0..300 {
                        db.write(&small(i)).unwrap();
                    }
                })
            };
            for tag in 1..=4 {
                db.write(&big(tag)).unwrap();
            }
            smalls.join().unwrap();
            db.flush().unwrap();
            db.wait_for_compactions().unwrap();
        }
    };
    within(Duration::from_secs(120), worker);
    let check = |db: &Db| {
        assert!((1..=4).all(|t| big_present(db, t)));
        assert!((1..300).all(|i| small_present(db, i)));
    };
    check(&db);
    drop(Arc::try_unwrap(db).ok().unwrap());
    check(&Db::open(fs.shared(), DIR, o).unwrap());
}

/// A write paced while compaction is behind is charged at most `MAX_WRITE_DELAY`, however
/// large: a huge batch does not hold the writers after it for minutes.
#[test]
fn a_huge_batch_under_write_pacing_delays_the_next_write_boundedly() {
    let fs = SimFs::new();
    let mut o = small_segments(1 << 20);
    // Paced from the start, at 1 KB/s: the big batch alone would cost a minute.
    o.l0_slowdown_writes = 0;
    o.delayed_write_rate = 1000;
    let db = Arc::new(Db::open(fs.shared(), DIR, o).unwrap());
    let d = Arc::clone(&db);
    within(Duration::from_secs(20), move || {
        d.write(&big(1)).unwrap();
        d.write(&small(1)).unwrap();
    });
    // What the writes waited, as charged, not the wall clock (a slow machine's): the small
    // write waits out the big one's charge, capped at MAX_WRITE_DELAY (its own charge falls
    // on the writes after it).
    let stats = db.stats();
    assert!(stats.delayed_writes >= 2, "{stats:?}");
    let cap = super::super::stall::MAX_WRITE_DELAY.as_micros() as u64;
    assert!(
        (900_000..=cap).contains(&stats.delay_micros),
        "the small write waited for the big one's {} µs charge, capped at {cap} µs",
        stats.delay_micros
    );
    assert!(big_present(&db, 1) && small_present(&db, 1));
}

/// Crash recovery refuses a commit record whose parts are not before it (replay never starts
/// inside a batch, so the log lost them): corruption at that LSN, never half a batch.
#[test]
fn a_commit_without_its_parts_is_corruption_at_open() {
    let fs = SimFs::new();
    let o = small_segments(1 << 20);
    let records = crate::split::split_all(&big(1), 1, 4000);
    assert!(records.len() >= 3);
    let wal = orbit_wal::Wal::open(fs.shared(), Path::new(DIR).join("wal"), o.wal.clone()).unwrap();
    let lsn = wal.append_wait(records[records.len() - 1].clone()).unwrap();
    wal.close().unwrap();
    match Db::open(fs.shared(), DIR, o) {
        Err(Error::Corruption { offset, reason, .. }) => {
            assert_eq!(offset, lsn);
            assert!(reason.contains("without the records before it"), "{reason}");
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("opened a log holding a commit without its parts"),
    }
}
