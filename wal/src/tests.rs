//! Unit and property tests of the log over the simulated disk.

use std::path::Path;
use std::sync::Arc;

use orbit_env::{CrashMode, FaultKind, FaultOp, FileSystem, ManualClock, OpenMode, SimFs};
use proptest::prelude::*;

use crate::format::SEGMENT_HEADER_SIZE;
use crate::*;

const DIR: &str = "/db/wal";
const SEG: u64 = MIN_SEGMENT_SIZE;

fn opts(mode: SyncMode) -> WalOptions {
    WalOptions {
        sync_mode: mode,
        segment_size: SEG,
        clock: Arc::new(ManualClock::new(1_700_000_000_000)),
        new_log_id: Some(42),
        ..WalOptions::default()
    }
}

fn open(fs: &SimFs, o: WalOptions) -> Wal {
    Wal::open(fs.shared(), DIR, o).unwrap()
}

/// A payload that names its index, so a test can tell records apart and spot garbage.
fn payload(i: u64, len: usize) -> Vec<u8> {
    let mut p = i.to_le_bytes().to_vec();
    p.extend((0..len).map(|j| (i as usize * 31 + j) as u8));
    p
}

fn index_of(p: &[u8]) -> u64 {
    u64::from_le_bytes(p[..8].try_into().unwrap())
}

fn replay_all(wal: &Wal) -> Vec<Record> {
    wal.replay(wal.first_lsn())
        .unwrap()
        .collect::<Result<Vec<_>>>()
        .unwrap()
}

#[test]
fn appends_replay_in_order_across_segments_and_reopen() {
    let fs = SimFs::new();
    let wal = open(&fs, opts(SyncMode::Sync));
    let mut lsns = Vec::new();
    for i in 0..400 {
        lsns.push(wal.append_wait(payload(i, (i as usize * 7) % 300)).unwrap());
    }
    assert!(
        wal.stats().segment_switches >= 3,
        "small segments must have switched: {:?}",
        wal.stats()
    );
    let recs = replay_all(&wal);
    assert_eq!(recs.len(), 400);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.payload, payload(i as u64, (i * 7) % 300));
        assert_eq!(r.lsn, lsns[i]);
        assert_eq!(r.unix_ms, 1_700_000_000_000);
    }
    let end = wal.written_lsn();
    wal.close().unwrap();
    let wal = open(&fs, opts(SyncMode::Sync));
    assert_eq!(wal.recovered().end_lsn, end);
    assert_eq!(replay_all(&wal).len(), 400);
    // Replay from the middle starts exactly at that record.
    let mid: Vec<_> = wal.replay(lsns[123]).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(mid.len(), 400 - 123);
    assert_eq!(index_of(&mid[0].payload), 123);
    assert!(matches!(
        wal.replay(end + 1),
        Err(Error::LsnOutOfRange { .. })
    ));
}

#[test]
fn concurrent_appenders_share_groups() {
    let fs = SimFs::new();
    let wal = Arc::new(open(&fs, opts(SyncMode::Sync)));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || {
                for i in 0..200u64 {
                    wal.append_wait(payload(t * 1000 + i, 20)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stats = wal.stats();
    assert_eq!(stats.records, 1600);
    assert!(
        stats.groups < stats.records,
        "no group held more than one record: {stats:?}"
    );
    let mut seen: Vec<u64> = replay_all(&wal)
        .iter()
        .map(|r| index_of(&r.payload))
        .collect();
    // Each thread's records appear in its own order.
    for t in 0..8 {
        let mine: Vec<u64> = seen.iter().copied().filter(|i| i / 1000 == t).collect();
        assert_eq!(mine, (0..200).map(|i| t * 1000 + i).collect::<Vec<_>>());
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 1600);
}

#[test]
fn acked_records_survive_a_crash_and_unsynced_ones_vanish_cleanly() {
    let fs = SimFs::new();
    let wal = open(&fs, opts(SyncMode::None));
    for i in 0..50 {
        wal.append_wait(payload(i, 10)).unwrap();
    }
    wal.sync().unwrap();
    for i in 50..80 {
        wal.append_wait(payload(i, 10)).unwrap();
    }
    let crashed = fs.crash(CrashMode::DropUnsynced);
    drop(wal);
    let wal = open(&crashed, opts(SyncMode::None));
    let got: Vec<u64> = replay_all(&wal)
        .iter()
        .map(|r| index_of(&r.payload))
        .collect();
    assert_eq!(
        got,
        (0..50).collect::<Vec<_>>(),
        "exactly the synced prefix survives"
    );
}

#[test]
fn a_failed_sync_poisons_the_log_and_nothing_after_it_is_acknowledged() {
    for kind in [FaultKind::Eio, FaultKind::Enospc] {
        let fs = SimFs::new();
        let wal = open(&fs, opts(SyncMode::Sync));
        for i in 0..10 {
            wal.append_wait(payload(i, 5)).unwrap();
        }
        // Aim at the segments: the segment manager writes and syncs spare files meanwhile.
        fs.inject_on(FaultOp::Sync, 1, kind, false, Some("/db/wal/0"));
        let err = wal.append_wait(payload(10, 5)).unwrap_err();
        assert!(err.is_indeterminate(), "{err}");
        // The disk is fine again, but the log must not trust a retry.
        let err = wal.append_wait(payload(11, 5)).unwrap_err();
        assert!(matches!(err, Error::Poisoned { .. }), "{err}");
        assert!(matches!(wal.sync(), Err(Error::Poisoned { .. })));
        assert!(wal.stats().poisoned);
        let crashed = fs.crash(CrashMode::DropUnsynced);
        drop(wal);
        let wal = open(&crashed, opts(SyncMode::Sync));
        let got: Vec<u64> = replay_all(&wal)
            .iter()
            .map(|r| index_of(&r.payload))
            .collect();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        // Reopened, the log accepts writes again.
        wal.append_wait(payload(10, 5)).unwrap();
    }
}

#[test]
fn a_failed_write_poisons_the_log() {
    let fs = SimFs::new();
    let wal = open(&fs, opts(SyncMode::Sync));
    wal.append_wait(payload(0, 5)).unwrap();
    // Aim at the segments: the segment manager writes and syncs spare files meanwhile.
    fs.inject_on(FaultOp::Write, 1, FaultKind::Eio, false, Some("/db/wal/0"));
    assert!(wal
        .append_wait(payload(1, 5))
        .unwrap_err()
        .is_indeterminate());
    assert!(matches!(
        wal.append(payload(2, 5)),
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(wal.close(), Err(Error::Poisoned { .. })));
}

/// Finds the newest segment file and the file offset of the record at `lsn`.
fn locate(fs: &SimFs, lsn: Lsn) -> (std::path::PathBuf, u64) {
    let mut segs: Vec<u64> = fs
        .list_dir(Path::new(DIR))
        .unwrap()
        .iter()
        .filter_map(|n| {
            n.strip_suffix(".wal")
                .and_then(|h| u64::from_str_radix(h, 16).ok())
        })
        .collect();
    segs.sort_unstable();
    let first = *segs.iter().rev().find(|&&f| f <= lsn).unwrap();
    (
        Path::new(DIR).join(format!("{first:016x}.wal")),
        SEGMENT_HEADER_SIZE + (lsn - first),
    )
}

#[test]
fn damage_to_acknowledged_data_is_corruption_not_a_torn_tail() {
    let fs = SimFs::new();
    let wal = open(&fs, opts(SyncMode::Sync));
    let lsns: Vec<Lsn> = (0..20)
        .map(|i| wal.append_wait(payload(i, 30)).unwrap())
        .collect();
    drop(wal);
    // Flip a bit inside record 5 of the newest segment: later groups vouch for it.
    let (path, off) = locate(&fs, lsns[5]);
    fs.flip_bit(&path, off + 12, 3).unwrap();
    match Wal::open(fs.shared(), DIR, opts(SyncMode::Sync)) {
        Err(Error::Corruption {
            segment, offset, ..
        }) => {
            assert_eq!(segment, path);
            assert_eq!(offset, off);
        }
        Err(other) => panic!("expected corruption, got {other}"),
        Ok(_) => panic!("opened over damaged acknowledged data"),
    }
}

#[test]
fn damage_in_the_very_last_group_is_a_torn_tail() {
    let fs = SimFs::new();
    let wal = open(&fs, opts(SyncMode::Sync));
    let lsns: Vec<Lsn> = (0..5)
        .map(|i| wal.append_wait(payload(i, 30)).unwrap())
        .collect();
    drop(wal);
    let (path, off) = locate(&fs, lsns[4]);
    fs.flip_bit(&path, off + 20, 0).unwrap();
    // Nothing after the last group vouches for it: indistinguishable from a torn write.
    let wal = open(&fs, opts(SyncMode::Sync));
    assert_eq!(replay_all(&wal).len(), 4);
}

#[test]
fn damage_in_a_closed_segment_is_reported_on_replay() {
    let fs = SimFs::new();
    let wal = open(&fs, opts(SyncMode::Sync));
    let lsns: Vec<Lsn> = (0..300)
        .map(|i| wal.append_wait(payload(i, 100)).unwrap())
        .collect();
    drop(wal);
    let (path, off) = locate(&fs, lsns[3]);
    fs.flip_bit(&path, off + 15, 1).unwrap();
    let wal = open(&fs, opts(SyncMode::Sync));
    let results: Vec<_> = wal.replay(0).unwrap().collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3);
    match results.last() {
        Some(Err(Error::Corruption {
            segment, offset, ..
        })) => assert_eq!((segment, *offset), (&path, off)),
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn released_segments_are_recycled_and_their_stale_records_never_reappear() {
    let fs = SimFs::new();
    let o = WalOptions {
        max_spare_segments: 4,
        ..opts(SyncMode::Sync)
    };
    let wal = open(&fs, o.clone());
    let mut last = 0;
    for i in 0..300 {
        last = wal.append_wait(payload(i, 100)).unwrap();
    }
    let released = wal.release(last);
    assert!(released >= 2, "released {released}");
    // Wait for the manager to recycle, then write through the recycled files.
    for i in 300..900 {
        wal.append_wait(payload(i, 100)).unwrap();
    }
    let names = fs.list_dir(Path::new(DIR)).unwrap();
    assert!(
        names.len() < 10,
        "released segments must be reused or removed: {names:?}"
    );
    let first = replay_all(&wal)[0].lsn;
    let got: Vec<u64> = wal
        .replay(first)
        .unwrap()
        .map(|r| index_of(&r.unwrap().payload))
        .collect();
    assert_eq!(*got.last().unwrap(), 899);
    assert!(
        got.windows(2).all(|w| w[1] == w[0] + 1),
        "replay must be contiguous"
    );
    drop(wal);
    let wal = open(&fs, o);
    let again: Vec<u64> = replay_all(&wal)
        .iter()
        .map(|r| index_of(&r.payload))
        .collect();
    assert_eq!(again, got);
}

#[test]
fn oversized_records_and_bad_options_are_refused() {
    let fs = SimFs::new();
    let wal = open(&fs, opts(SyncMode::Sync));
    let max = wal.max_record_len();
    assert!(max < SEG);
    assert!(matches!(
        wal.append(vec![0; max as usize + 1]),
        Err(Error::RecordTooLarge { .. })
    ));
    wal.append_wait(vec![7; max as usize]).unwrap();
    let bad = WalOptions {
        segment_size: 1000,
        ..opts(SyncMode::Sync)
    };
    assert!(matches!(
        Wal::open(fs.shared(), "/db/other", bad),
        Err(Error::InvalidConfig(_))
    ));
}

#[test]
fn a_foreign_segment_is_refused() {
    let fs = SimFs::new();
    open(&fs, opts(SyncMode::Sync))
        .append_wait(payload(0, 1))
        .unwrap();
    let other = SimFs::new();
    let wal = Wal::open(
        other.shared(),
        DIR,
        WalOptions {
            new_log_id: Some(7),
            ..opts(SyncMode::Sync)
        },
    )
    .unwrap();
    for i in 0..200 {
        wal.append_wait(payload(i, 100)).unwrap();
    }
    drop(wal);
    // Copy one of the other log's segments into the first log's directory.
    let name = fs
        .list_dir(Path::new(DIR))
        .unwrap()
        .into_iter()
        .find(|n| n.ends_with(".wal") && !n.starts_with("spare"))
        .unwrap();
    let theirs = other
        .list_dir(Path::new(DIR))
        .unwrap()
        .into_iter()
        .rfind(|n| !n.starts_with("spare"))
        .unwrap();
    let bytes = other.contents(&Path::new(DIR).join(&theirs)).unwrap();
    let f = fs
        .open(&Path::new(DIR).join(&theirs), OpenMode::Create)
        .unwrap();
    f.write_all_at(&bytes, 0).unwrap();
    assert_ne!(name, theirs);
    match Wal::open(fs.shared(), DIR, opts(SyncMode::Sync)) {
        Err(Error::Corruption { reason, .. }) => {
            assert!(reason.contains("another log"), "{reason}")
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("opened a log mixed with a foreign segment"),
    }
}

#[test]
fn archive_holds_every_closed_segment_and_detects_damage() {
    let fs = SimFs::new();
    let arch = Path::new("/db/archive");
    let o = WalOptions {
        archive_dir: Some(arch.to_path_buf()),
        ..opts(SyncMode::Sync)
    };
    let wal = open(&fs, o.clone());
    for i in 0..500 {
        wal.append_wait(payload(i, 100)).unwrap();
    }
    let active_first = wal.replay(0).unwrap().count();
    assert_eq!(active_first, 500);
    drop(wal);
    // Reopening closes the last segment and archives it too.
    let wal = open(&fs, o);
    let end = wal.recovered().end_lsn;
    drop(wal);
    let mut seen = Vec::new();
    let summary = read_archive(&fs, arch, None, 0, |r| {
        seen.push(index_of(&r.payload));
        true
    })
    .unwrap();
    assert_eq!(summary.records, 500);
    assert_eq!(
        (summary.first_lsn, summary.end_lsn, summary.log_id),
        (0, end, 42)
    );
    assert_eq!(seen, (0..500).collect::<Vec<_>>());

    let mut names = fs.list_dir(arch).unwrap();
    names.sort();
    assert!(names.len() >= 3);
    // A flipped bit in the compressed body names the file.
    let victim = arch.join(&names[1]);
    fs.flip_bit(&victim, 100, 2).unwrap();
    match verify_archive(&fs, arch, None) {
        Err(Error::Corruption { segment, .. }) => assert_eq!(segment, victim),
        other => panic!("expected corruption, got {other:?}"),
    }
    fs.flip_bit(&victim, 100, 2).unwrap();
    verify_archive(&fs, arch, None).unwrap();
    // A missing segment is a gap.
    fs.remove_file(&victim).unwrap();
    match verify_archive(&fs, arch, None) {
        Err(Error::Corruption { reason, .. }) => assert!(reason.contains("gap"), "{reason}"),
        other => panic!("expected a gap, got {other:?}"),
    }
}

#[test]
fn released_segments_wait_for_the_archive() {
    let fs = SimFs::new();
    let arch = Path::new("/db/archive");
    let o = WalOptions {
        archive_dir: Some(arch.to_path_buf()),
        ..opts(SyncMode::Sync)
    };
    let wal = open(&fs, o);
    let mut last = 0;
    for i in 0..300 {
        last = wal.append_wait(payload(i, 100)).unwrap();
    }
    wal.release(last);
    drop(wal);
    // Every released record is still in the archive.
    let mut seen = Vec::new();
    read_archive(&fs, arch, None, 0, |r| {
        seen.push(index_of(&r.payload));
        true
    })
    .unwrap();
    assert!(seen.len() as u64 >= 200, "archive holds {}", seen.len());
    assert!(seen.windows(2).all(|w| w[1] == w[0] + 1));
}

#[test]
fn periodic_mode_syncs_on_its_own() {
    let fs = SimFs::new();
    let wal = open(
        &fs,
        opts(SyncMode::Periodic(std::time::Duration::from_millis(5))),
    );
    for i in 0..10 {
        wal.append_wait(payload(i, 10)).unwrap();
    }
    let target = wal.written_lsn();
    let mut tries = 0;
    while wal.durable_lsn() < target {
        tries += 1;
        assert!(tries < 10_000, "periodic sync never happened");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let crashed = fs.crash(CrashMode::DropUnsynced);
    let wal2 = open(&crashed, opts(SyncMode::Sync));
    assert_eq!(replay_all(&wal2).len(), 10);
}

#[test]
fn appends_complete_as_futures() {
    let fs = SimFs::new();
    let wal = open(&fs, opts(SyncMode::Sync));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let handles: Vec<_> = (0..10)
        .map(|i| wal.append(payload(i, 3)).unwrap())
        .collect();
    let lsns: Vec<Lsn> = rt.block_on(async {
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    });
    assert!(lsns.windows(2).all(|w| w[0] < w[1]));
}

#[derive(Debug, Clone)]
enum Step {
    Append { len: usize, wait: bool },
    WaitAll,
    Sync,
    Release,
    Crash { torn: bool, seed: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0usize..600, any::<bool>()).prop_map(|(len, wait)| Step::Append { len, wait }),
        1 => Just(Step::WaitAll),
        1 => Just(Step::Sync),
        1 => Just(Step::Release),
        1 => (any::<bool>(), any::<u64>()).prop_map(|(torn, seed)| Step::Crash { torn, seed }),
    ]
}

/// Runs `steps` against the log and checks, after every crash, that what survives is a
/// contiguous run of what was submitted, starting no later than the release point, and
/// containing every record that was durably acknowledged.
fn check_model(mode: SyncMode, steps: Vec<Step>) -> std::result::Result<(), TestCaseError> {
    let mut fs = SimFs::new();
    let mut wal = open(&fs, opts(mode));
    let mut submitted: Vec<usize> = Vec::new(); // payload length of record i
    let mut pending: Vec<(u64, AppendHandle)> = Vec::new();
    let mut durable_acked: u64 = 0; // records [0, durable_acked) are durably acknowledged
    let mut acked_lsn: Vec<(u64, Lsn)> = Vec::new();
    let mut released_below: u64 = 0; // records below this may have been released
    let mut first_live: u64 = 0;
    let finish = |pending: &mut Vec<(u64, AppendHandle)>, acked: &mut Vec<(u64, Lsn)>| {
        for (i, h) in pending.drain(..) {
            acked.push((i, h.wait().unwrap()));
        }
    };
    for s in steps {
        match s {
            Step::Append { len, wait } => {
                let i = submitted.len() as u64;
                submitted.push(len);
                let h = wal.append(payload(i, len)).unwrap();
                if wait {
                    finish(&mut pending, &mut acked_lsn);
                    acked_lsn.push((i, h.wait().unwrap()));
                    if mode == SyncMode::Sync {
                        durable_acked = i + 1;
                    }
                } else {
                    pending.push((i, h));
                }
            }
            Step::WaitAll => {
                finish(&mut pending, &mut acked_lsn);
                if mode == SyncMode::Sync {
                    durable_acked = submitted.len() as u64;
                }
            }
            Step::Sync => {
                finish(&mut pending, &mut acked_lsn);
                wal.sync().unwrap();
                durable_acked = submitted.len() as u64;
            }
            Step::Release => {
                finish(&mut pending, &mut acked_lsn);
                wal.sync().unwrap();
                durable_acked = submitted.len() as u64;
                if let Some(&(i, lsn)) = acked_lsn.last() {
                    wal.release(lsn);
                    released_below = i;
                }
            }
            Step::Crash { torn, seed } => {
                let mode_c = if torn {
                    CrashMode::Torn { seed }
                } else {
                    CrashMode::DropUnsynced
                };
                let crashed = fs.crash(mode_c);
                drop(wal);
                drop(pending.drain(..));
                fs = crashed;
                wal = open(&fs, opts(mode));
                let got = replay_all(&wal);
                let idx: Vec<u64> = got.iter().map(|r| index_of(&r.payload)).collect();
                let start = idx
                    .first()
                    .copied()
                    .unwrap_or(released_below.max(first_live));
                prop_assert!(
                    start <= released_below.max(first_live)
                        || idx.is_empty() && durable_acked <= start,
                    "survivors start at {} but only records below {} were released",
                    start,
                    released_below
                );
                for (k, r) in got.iter().enumerate() {
                    let i = start + k as u64;
                    prop_assert!(
                        (i as usize) < submitted.len(),
                        "record {} was never submitted",
                        i
                    );
                    prop_assert_eq!(
                        &r.payload,
                        &payload(i, submitted[i as usize]),
                        "record {} garbled or out of order",
                        i
                    );
                }
                let end = start + got.len() as u64;
                prop_assert!(
                    end >= durable_acked,
                    "lost acknowledged records: kept up to {}, acked {}",
                    end,
                    durable_acked
                );
                submitted.truncate(end as usize);
                durable_acked = end;
                first_live = start;
                acked_lsn.retain(|(i, _)| *i < end);
                released_below = released_below.min(end);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: orbit_env::testing::proptest_cases(96), ..ProptestConfig::default() })]

    #[test]
    fn crash_recovery_matches_the_model_in_sync_mode(steps in proptest::collection::vec(step(), 1..120)) {
        check_model(SyncMode::Sync, steps)?;
    }

    #[test]
    fn crash_recovery_matches_the_model_without_sync(steps in proptest::collection::vec(step(), 1..120)) {
        check_model(SyncMode::None, steps)?;
    }
}

#[test]
fn switch_export_and_hold_cover_a_backup() {
    let fs = SimFs::new();
    let wal = open(&fs, opts(SyncMode::Sync));
    let mut ends = Vec::new();
    for i in 0..300 {
        wal.append_wait(payload(i, 100)).unwrap();
        ends.push(wal.written_lsn());
    }
    let from = ends[99];
    let hold = wal.hold(from).unwrap();
    // Released up to the end, but the hold keeps everything from `from`.
    wal.release(wal.written_lsn());
    let to = wal.switch_segment().unwrap();
    assert_eq!(to, wal.written_lsn());
    // An empty active segment is not switched again.
    assert_eq!(wal.switch_segment().unwrap(), to);
    let out = Path::new("/backup/wal");
    let files = wal.export(from, to, out).unwrap();
    assert!(!files.is_empty());
    let mut seen = Vec::new();
    let summary = read_archive(&fs, out, Some(42), from, |r| {
        seen.push(index_of(&r.payload));
        true
    })
    .unwrap();
    assert_eq!(seen, (100..300).collect::<Vec<_>>());
    assert_eq!(summary.end_lsn, to);
    // Stopping early leaves the rest unread.
    let mut n = 0;
    let s = read_archive(&fs, out, None, from, |_| {
        n += 1;
        n < 10
    })
    .unwrap();
    assert!(s.stopped);
    assert_eq!((n, s.records), (10, 10));
    drop(hold);
    wal.release(to);
    assert!(matches!(wal.hold(from), Err(Error::LsnOutOfRange { .. })));
    assert!(wal.export(from, to, Path::new("/other")).is_err());
}

#[test]
fn archive_timeout_closes_a_quiet_segment() {
    let fs = SimFs::new();
    let arch = Path::new("/db/archive");
    let o = WalOptions {
        archive_dir: Some(arch.to_path_buf()),
        archive_timeout: Some(std::time::Duration::from_millis(20)),
        ..opts(SyncMode::Sync)
    };
    let wal = open(&fs, o);
    let end = wal.append_wait(payload(7, 10)).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while wal.archive_status().unwrap().archived_lsn < end {
        assert!(std::time::Instant::now() < deadline, "never archived");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let switches = wal.stats().segment_switches;
    // Nothing new: no more switches.
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(wal.stats().segment_switches, switches);
    let mut seen = Vec::new();
    read_archive(&fs, arch, None, 0, |r| {
        seen.push(index_of(&r.payload));
        true
    })
    .unwrap();
    assert_eq!(seen, vec![7]);
}

#[test]
fn timelines_share_an_archive_without_mixing() {
    let fs = SimFs::new();
    let arch = Path::new("/archive");
    for (dir, id) in [("/a", 1u64), ("/b", 2u64)] {
        let o = WalOptions {
            archive_dir: Some(arch.to_path_buf()),
            new_log_id: Some(id),
            ..opts(SyncMode::Sync)
        };
        let wal = Wal::open(Arc::new(fs.clone()), dir, o).unwrap();
        for i in 0..5 {
            wal.append_wait(payload(i + id * 100, 10)).unwrap();
        }
        wal.switch_segment().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while wal.archive_status().unwrap().pending_segments > 0 {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
    assert_eq!(archive_timelines(&fs, arch).unwrap(), vec![1, 2]);
    match verify_archive(&fs, arch, None) {
        Err(Error::InvalidConfig(m)) => assert!(m.contains("several timelines"), "{m}"),
        other => panic!("expected an ambiguity error, got {other:?}"),
    }
    let mut seen = Vec::new();
    read_archive(&fs, arch, Some(2), 0, |r| {
        seen.push(index_of(&r.payload));
        true
    })
    .unwrap();
    assert_eq!(seen, (200..205).collect::<Vec<_>>());
}
