//! Base backups and their replay: a backup taken mid-workload, restored and carried forward
//! through the archive to every recorded point, equals the model at that point, across
//! keyspace creation and drop.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;

use orbit_env::{FileSystem, OpenMode, SimFs};
use orbit_wal::{read_archive, Lsn};

use super::*;

type Model = BTreeMap<(String, Vec<u8>), Vec<u8>>;

fn copy(fs: &SimFs, from: &Path, to: &Path) {
    let src = fs.open(from, OpenMode::Read).unwrap();
    let mut buf = vec![0u8; src.len().unwrap() as usize];
    src.read_exact_at(&mut buf, 0).unwrap();
    fs.open(to, OpenMode::CreateNew)
        .unwrap()
        .write_all_at(&buf, 0)
        .unwrap();
}

pub(super) fn contents(db: &Db) -> Model {
    let mut out = Model::new();
    for (id, name) in db.keyspaces() {
        let all = (Bound::Unbounded, Bound::Unbounded);
        let snap = db.snapshot();
        for (k, v) in db
            .iter(id, all, Direction::Forward, &snap)
            .unwrap()
            .map(Result::unwrap)
        {
            out.insert((name.clone(), k), v);
        }
    }
    out
}

/// Restores `backup` into `dir` and replays its WAL, then the archive, up to (excluding)
/// the record at `target`.
pub(super) fn restore(
    fs: &SimFs,
    backup: &Path,
    info: &BackupInfo,
    arch: &Path,
    dir: &str,
    target: Lsn,
) -> Db {
    fs.create_dir_all(Path::new(dir)).unwrap();
    for name in fs.list_dir(backup).unwrap() {
        if name != "wal" {
            copy(fs, &backup.join(&name), &Path::new(dir).join(&name));
        }
    }
    let db = Db::open(fs.shared(), dir, opts(4 << 10)).unwrap();
    let mut replayer = Replayer::new(&db, info.stop_lsn);
    let mut failed = None;
    let mut apply = |r: orbit_wal::Record| {
        if r.lsn >= target {
            return false;
        }
        if let Err(e) = replayer.apply(r.lsn, &r.payload) {
            failed = Some(e);
            return false;
        }
        true
    };
    if info.start_lsn < info.stop_lsn {
        read_archive(
            fs,
            &backup.join("wal"),
            Some(info.log_id),
            info.start_lsn,
            &mut apply,
        )
        .unwrap();
    }
    if target > info.stop_lsn {
        read_archive(fs, arch, Some(info.log_id), info.stop_lsn, |r| {
            r.lsn >= info.stop_lsn && apply(r)
        })
        .unwrap();
    }
    assert!(failed.is_none(), "{failed:?}");
    db
}

#[test]
fn a_backup_replays_to_every_point_through_the_archive() {
    let fs = SimFs::new();
    let arch = Path::new("/archive");
    let mut o = opts(4 << 10);
    o.wal.archive_dir = Some(arch.to_path_buf());
    let db = Db::open(fs.shared(), DIR, o).unwrap();
    let a = db.create_keyspace("a").unwrap();
    let mut model = Model::new();
    let mut points: Vec<(Lsn, Model)> = Vec::new();
    let mut backup = None;
    let mut b = None;
    for i in 0..600u32 {
        let key = format!("k{:03}", i % 97).into_bytes();
        let (ks, name) = match (i % 2, b) {
            (1, Some(b)) => (b, "b"),
            _ => (a, "a"),
        };
        if i % 11 == 0 {
            db.delete(ks, &key).unwrap();
            model.remove(&(name.to_string(), key));
        } else {
            db.put(ks, &key, &i.to_le_bytes()).unwrap();
            model.insert((name.to_string(), key), i.to_le_bytes().to_vec());
        }
        if i == 200 {
            backup = Some(db.backup("/backup").unwrap());
        }
        if i == 300 {
            // A keyspace created after the backup: its writes must survive the replay.
            b = Some(db.create_keyspace("b").unwrap());
        }
        if i % 50 == 0 {
            points.push((db.stats().wal.written_lsn, model.clone()));
        }
    }
    let end = db.switch_wal().unwrap();
    points.push((end, model.clone()));
    let info = backup.unwrap();
    assert!(info.checkpoint.tables > 0 && info.start_lsn <= info.stop_lsn);
    // Wait for the archiver to catch up.
    while db.archive_status().unwrap().archived_lsn < end {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let mut restored_points = 0;
    for (n, (lsn, want)) in points.iter().enumerate() {
        if *lsn < info.stop_lsn {
            continue;
        }
        restored_points += 1;
        let restored = restore(
            &fs,
            Path::new("/backup"),
            &info,
            arch,
            &format!("/r{n}"),
            *lsn,
        );
        assert_eq!(&contents(&restored), want, "restored to lsn {lsn}");
    }
    assert!(restored_points >= 8, "{restored_points}");
    // Dropping a keyspace is replayed too.
    db.drop_keyspace(a).unwrap();
    let end = db.switch_wal().unwrap();
    while db.archive_status().unwrap().archived_lsn < end {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let restored = restore(&fs, Path::new("/backup"), &info, arch, "/r-last", end);
    model.retain(|(name, _), _| name != "a");
    assert_eq!(contents(&restored), model);
    assert_eq!(restored.keyspace("a"), None);
}
