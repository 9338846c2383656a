//! A database directory written by the engine before batches could be split over several WAL
//! records (`tests/fixtures/v1-db`: manifest, `CURRENT` and WAL segments holding one record
//! per batch, nothing flushed, generated at commit 42db2a5). Every later version must keep
//! replaying it, and must be able to append split batches after its records.
//!
//! Regenerate only with a writer of the old format: `cargo test -p orbit-lsm --test compat --
//! --ignored regenerate`.
//!
//! Also a table written before filters were blocked (`tests/fixtures/whole-bloom-db`: one
//! flushed table whose bloom filter has the whole-filter layout, generated at commit 491062b
//! by the ignored `regenerate_whole_bloom_tables`): later versions must keep reading it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use orbit_env::{ManualClock, RealFs};
use orbit_lsm::{Db, DbOptions, Direction, WriteBatch, DEFAULT_KEYSPACE};
use orbit_wal::{SyncMode, WalOptions, MIN_SEGMENT_SIZE};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-db")
}

fn opts() -> DbOptions {
    DbOptions {
        wal: WalOptions {
            sync_mode: SyncMode::Sync,
            segment_size: MIN_SEGMENT_SIZE,
            clock: Arc::new(ManualClock::new(1_750_000_000_000)),
            new_log_id: Some(0x1db),
            ..WalOptions::default()
        },
        ..DbOptions::default()
    }
}

type Model = BTreeMap<(String, Vec<u8>), Vec<u8>>;

/// What the fixture's writes leave, keyed by (keyspace name, key).
fn fixture_model() -> Model {
    let mut m = Model::new();
    for i in 0..300u32 {
        let key = format!("k{:03}", i % 150).into_bytes();
        let ks = if i % 3 == 0 { "users" } else { "default" };
        m.insert((ks.to_string(), key), format!("v{i}").into_bytes());
    }
    for i in (0..150u32).step_by(7) {
        m.remove(&("default".to_string(), format!("k{i:03}").into_bytes()));
    }
    let deleted = b"k100".as_slice()..b"k120".as_slice();
    m.retain(|(ks, k), _| !(ks == "users" && deleted.contains(&k.as_slice())));
    m
}

/// The writes of the fixture, as the old engine did them (one WAL record per batch).
fn write_fixture(db: &Db) {
    let users = db.create_keyspace("users").unwrap();
    for i in 0..300u32 {
        let key = format!("k{:03}", i % 150).into_bytes();
        let ks = if i % 3 == 0 { users } else { DEFAULT_KEYSPACE };
        db.write(WriteBatch::new().put(ks, &key, format!("v{i}").as_bytes()))
            .unwrap();
    }
    let mut b = WriteBatch::new();
    for i in (0..150u32).step_by(7) {
        b.delete(DEFAULT_KEYSPACE, format!("k{i:03}").as_bytes());
    }
    b.delete_range(users, b"k100", b"k120");
    db.write(&b).unwrap();
}

fn contents(db: &Db) -> Model {
    let mut out = Model::new();
    let snap = db.snapshot();
    for (id, name) in db.keyspaces() {
        let all = (Bound::Unbounded, Bound::Unbounded);
        for kv in db.iter(id, all, Direction::Forward, &snap).unwrap() {
            let (k, v) = kv.unwrap();
            out.insert((name.clone(), k), v);
        }
    }
    out
}

/// Copies a database directory's files (its own and its `wal/`'s) from `from` into `to`,
/// which has a `wal/`, leaving out those `skip` names.
fn copy_db(from: &Path, to: &Path, skip: impl Fn(&str) -> bool) {
    for sub in ["", "wal"] {
        for entry in std::fs::read_dir(from.join(sub)).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().unwrap().is_file() && !skip(&name) {
                std::fs::copy(entry.path(), to.join(sub).join(&name)).unwrap();
            }
        }
    }
}

/// A temporary copy of the fixture database in `dir`.
fn copy_to_temp(dir: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("wal")).unwrap();
    copy_db(dir, tmp.path(), |_| false);
    tmp
}

/// Replaces the committed fixture `dir` with the database in `from` (less its spare WAL
/// segments and lock file).
fn save_fixture(from: &Path, dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("wal")).unwrap();
    copy_db(from, dir, |name| {
        name.starts_with("spare-") || name == "LOCK"
    });
}

fn copy_fixture() -> tempfile::TempDir {
    copy_to_temp(&fixture_dir())
}

#[test]
#[ignore = "rewrites the committed fixture; run only with a writer of the old format"]
fn regenerate() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(RealFs::shared(), tmp.path(), opts()).unwrap();
    write_fixture(&db);
    assert_eq!(contents(&db), fixture_model());
    db.close().unwrap();
    save_fixture(tmp.path(), &fixture_dir());
}

#[test]
fn a_v1_database_replays_and_takes_split_batches_after() {
    let tmp = copy_fixture();
    let db = Db::open(RealFs::shared(), tmp.path(), opts()).unwrap();
    assert_eq!(contents(&db), fixture_model(), "the old records replay");
    // A batch several times larger than a record of the fixture's 16 KiB segments.
    let mut big = WriteBatch::new();
    let mut want = fixture_model();
    for i in 0..400u32 {
        let (key, value) = (format!("big{i:04}").into_bytes(), vec![i as u8; 150]);
        big.put(DEFAULT_KEYSPACE, &key, &value);
        want.insert(("default".to_string(), key), value);
    }
    let records = db.stats().wal.records;
    db.write(&big).unwrap();
    assert!(db.stats().wal.records - records >= 4, "the batch was split");
    db.close().unwrap();
    let db = Db::open(RealFs::shared(), tmp.path(), opts()).unwrap();
    assert_eq!(contents(&db), want, "old and new records replay together");
}

/// Keys of the whole-bloom fixture: 2,000 of them, one in three with a long value.
fn table_model() -> BTreeMap<Vec<u8>, Vec<u8>> {
    (0..2000u32)
        .map(|i| {
            let v = if i % 3 == 0 {
                vec![b'x'; 300]
            } else {
                format!("v{i}").into_bytes()
            };
            (format!("row{i:05}").into_bytes(), v)
        })
        .collect()
}

fn whole_bloom_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/whole-bloom-db")
}

#[test]
#[ignore = "rewrites the committed fixture; run only with a writer of whole-layout filters"]
fn regenerate_whole_bloom_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(RealFs::shared(), tmp.path(), opts()).unwrap();
    let mut b = WriteBatch::new();
    for (k, v) in table_model() {
        b.put(DEFAULT_KEYSPACE, &k, &v);
    }
    db.write(&b).unwrap();
    db.flush().unwrap();
    db.close().unwrap();
    save_fixture(tmp.path(), &whole_bloom_dir());
}

#[test]
fn a_table_with_a_whole_layout_filter_reads_beside_a_blocked_one() {
    let tmp = copy_to_temp(&whole_bloom_dir());
    let model = table_model();
    let db = Db::open(RealFs::shared(), tmp.path(), opts()).unwrap();
    assert_eq!(db.stats().tables, 1);
    for (k, v) in &model {
        assert_eq!(db.get(DEFAULT_KEYSPACE, k).unwrap().as_ref(), Some(v));
    }
    for i in 0..2000u32 {
        for absent in [format!("row{i:05}x"), format!("other{i}")] {
            assert_eq!(db.get(DEFAULT_KEYSPACE, absent.as_bytes()).unwrap(), None);
        }
    }
    // A second table, flushed now with a blocked filter: reads consult both layouts.
    let mut b = WriteBatch::new();
    b.put(DEFAULT_KEYSPACE, b"row99999", b"new");
    b.put(DEFAULT_KEYSPACE, b"row00001", b"newer");
    db.write(&b).unwrap();
    db.flush().unwrap();
    db.close().unwrap();
    let db = Db::open(RealFs::shared(), tmp.path(), opts()).unwrap();
    assert_eq!(db.stats().tables, 2);
    let mut model = model;
    model.insert(b"row00001".to_vec(), b"newer".to_vec());
    for (k, v) in &model {
        assert_eq!(db.get(DEFAULT_KEYSPACE, k).unwrap().as_ref(), Some(v));
    }
    assert_eq!(
        db.get(DEFAULT_KEYSPACE, b"row99999").unwrap().as_deref(),
        Some(&b"new"[..])
    );
    assert_eq!(db.get(DEFAULT_KEYSPACE, b"other1").unwrap(), None);
}
