//! Committed WAL directories of format version 1 that every later version must keep reading:
//! `tests/fixtures/v1/healthy` (two segments, 300 records) and `tests/fixtures/v1/corrupt` (the
//! same with one flipped bit in a record of the closed first segment).
//!
//! Regenerate only when the format version changes, and then add a new `vN` directory beside
//! the old ones: `cargo test -p orbit-wal --test fixtures -- --ignored regenerate`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use orbit_env::{ManualClock, RealFs};
use orbit_wal::{Error, SyncMode, Wal, WalOptions, MIN_SEGMENT_SIZE};

const RECORDS: u32 = 300;
/// Byte flipped in the corrupt copy: inside the 11th record of the first segment.
const CORRUPT_FILE: &str = "0000000000000000.wal";

fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/v1")
        .join(name)
}

fn payload(i: u32) -> Vec<u8> {
    let mut p = i.to_le_bytes().to_vec();
    p.extend((0..(i % 100)).map(|j| (i + j) as u8));
    p
}

fn opts() -> WalOptions {
    WalOptions {
        sync_mode: SyncMode::Sync,
        segment_size: MIN_SEGMENT_SIZE,
        clock: Arc::new(ManualClock::new(1_750_000_000_000)),
        new_log_id: Some(0x0b17),
        ..WalOptions::default()
    }
}

/// Copies the segment files of a fixture into a fresh directory (opening a log writes to it).
fn copy_fixture(name: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture_dir(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
    }
    tmp
}

#[test]
fn v1_healthy_log_keeps_opening() {
    let tmp = copy_fixture("healthy");
    let wal = Wal::open(RealFs::shared(), tmp.path(), opts()).unwrap();
    assert_eq!(wal.log_id(), 0x0b17);
    let records: Vec<_> = wal
        .replay(wal.first_lsn())
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(records.len(), RECORDS as usize);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.payload, payload(i as u32), "record {i}");
        assert_eq!(r.unix_ms, 1_750_000_000_000);
    }
    // And it accepts new records after the old ones.
    let lsn = wal.append_wait(b"after".to_vec()).unwrap();
    assert!(lsn >= records.last().unwrap().end_lsn());
}

#[test]
fn v1_corrupt_log_is_refused_with_the_file_named() {
    let tmp = copy_fixture("corrupt");
    let wal = Wal::open(RealFs::shared(), tmp.path(), opts()).unwrap();
    let results: Vec<_> = wal.replay(wal.first_lsn()).unwrap().collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        10,
        "records before the damage replay"
    );
    match results.last() {
        Some(Err(Error::Corruption { segment, .. })) => {
            assert!(segment.ends_with(CORRUPT_FILE), "{segment:?}")
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
#[ignore = "rewrites the committed fixtures; run only when adding a format version"]
fn regenerate() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(RealFs::shared(), tmp.path(), opts()).unwrap();
    let mut lsns = Vec::new();
    for i in 0..RECORDS {
        lsns.push(wal.append_wait(payload(i)).unwrap());
    }
    wal.close().unwrap();
    for name in ["healthy", "corrupt"] {
        let dir = fixture_dir(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(tmp.path()).unwrap() {
            let entry = entry.unwrap();
            let file = entry.file_name().to_string_lossy().into_owned();
            if file.ends_with(".wal") && !file.starts_with("spare-") {
                std::fs::copy(entry.path(), dir.join(&file)).unwrap();
            }
        }
    }
    let victim = fixture_dir("corrupt").join(CORRUPT_FILE);
    let mut bytes = std::fs::read(&victim).unwrap();
    let offset = 4096 + lsns[10] as usize + 12; // inside record 10's payload
    bytes[offset] ^= 0x10;
    std::fs::write(&victim, bytes).unwrap();
}
