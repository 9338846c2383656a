//! Injected faults and damaged files.
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;

use orbit_env::{CrashMode, SimFs};

use super::{open, opts, DIR};
use crate::db::*;
use crate::Error;

/// EIO or ENOSPC while a flush or compaction writes or syncs a table: the database stops
/// taking writes (never acknowledging one it cannot keep), and after a crash and reopen every
/// acknowledged write is there.
#[test]
fn faults_in_flush_and_compaction_lose_no_acknowledged_write() {
    use orbit_env::{FaultKind, FaultOp};
    for (i, (op, kind)) in [
        (FaultOp::Write, FaultKind::Eio),
        (FaultOp::Sync, FaultKind::Eio),
        (FaultOp::Write, FaultKind::Enospc),
    ]
    .into_iter()
    .enumerate()
    {
        for nth in [1u64, 3, 8, 20] {
            let fs = SimFs::new();
            let db = open(&fs, 1 << 10);
            fs.inject_on(op, nth, kind, true, Some(".sst"));
            let mut acked = Vec::new();
            let mut failed = false;
            for k in 0..600u32 {
                let key = format!("k{:04}", (k * 7919 + i as u32) % 1000);
                match db.put(DEFAULT_KEYSPACE, key.as_bytes(), &k.to_le_bytes()) {
                    Ok(()) => acked.push((key, k)),
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            assert!(failed, "{op:?}/{kind:?} #{nth}: the fault never surfaced");
            assert!(matches!(
                db.put(DEFAULT_KEYSPACE, b"after", b"x"),
                Err(Error::Poisoned { .. })
            ));
            let crashed = fs.crash(CrashMode::DropUnsynced);
            drop(db);
            let db = open(&crashed, 1 << 10);
            let mut want = BTreeMap::new();
            for (key, k) in acked {
                want.insert(key, k);
            }
            for (key, k) in &want {
                assert_eq!(
                    db.get(DEFAULT_KEYSPACE, key.as_bytes()).unwrap(),
                    Some(k.to_le_bytes().to_vec()),
                    "{op:?}/{kind:?} #{nth}: acknowledged {key} lost"
                );
            }
        }
    }
}

/// A database whose one table holds `k0000`..`k0199` (each `[k; 40]`, uncompressed, nothing
/// cached) with a bit flipped at byte `at` of the table, and the table's file name.
fn damaged(at: u64) -> (SimFs, Db, String) {
    let fs = SimFs::new();
    let mut o = opts(1 << 20);
    o.table.zstd_level = None;
    o.cache_bytes = 0;
    let db = Db::open(fs.shared(), DIR, o.clone()).unwrap();
    for k in 0..200u32 {
        db.put(
            DEFAULT_KEYSPACE,
            format!("k{k:04}").as_bytes(),
            &[k as u8; 40],
        )
        .unwrap();
    }
    db.flush().unwrap();
    drop(db);
    let sst = fs
        .list_dir(Path::new(DIR))
        .unwrap()
        .into_iter()
        .find(|n| n.ends_with(".sst"))
        .unwrap();
    fs.flip_bit(&Path::new(DIR).join(&sst), at, 3).unwrap();
    let db = Db::open(fs.shared(), DIR, o).unwrap();
    (fs, db, sst)
}

/// A flipped bit in a table is a corruption error naming the file, never wrong data.
#[test]
fn a_flipped_bit_in_a_table_is_an_error_not_wrong_data() {
    // A byte inside the first data block's values.
    let (_fs, db, sst) = damaged(100);
    let mut errors = 0;
    for k in 0..200u32 {
        match db.get(DEFAULT_KEYSPACE, format!("k{k:04}").as_bytes()) {
            Ok(v) => assert_eq!(v, Some(vec![k as u8; 40]), "wrong data for k{k}"),
            Err(Error::Corruption { file, .. }) => {
                assert!(file.ends_with(&sst), "{}", file.display());
                errors += 1;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(errors > 0, "the damaged block was never read");
}

/// A read through a moved iterator that meets a damaged block is an error, and the iterator
/// refuses to move again (its sources' positions are not to be trusted); up to there, every
/// lookup read its key.
#[test]
fn a_moved_iterator_that_failed_is_not_moved_again() {
    let key = |k: u32| format!("k{k:04}").into_bytes();
    // A byte in a data block halfway through the table.
    let (_fs, db, _) = damaged(5000);
    let one = |k: u32| (Bound::Included(key(k)), Bound::Included(key(k)));
    let all = (Bound::Unbounded, Bound::Unbounded);
    let snap = db.snapshot();
    let mut it = db
        .iter_scoped(DEFAULT_KEYSPACE, all, one(0), Direction::Forward, &snap)
        .unwrap();
    let mut failed = None;
    for k in 0..200u32 {
        assert!(k == 0 || it.reseek(&one(k)), "a healthy iterator moves");
        match it.next() {
            Some(Ok((got, v))) => assert_eq!((got, v), (key(k), vec![k as u8; 40])),
            Some(Err(Error::Corruption { .. })) => {
                failed = Some(k);
                break;
            }
            other => panic!("k{k}: {other:?}"),
        }
    }
    let k = failed.expect("the damaged block was never read");
    assert!(k > 0, "the damage is past the first block");
    assert!(!it.reseek(&one(k + 1)), "moved after an error");
}
