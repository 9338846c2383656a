//! The simulated disk's own tests: crashes, torn writes, faults, locks.
use super::*;

fn setup() -> (SimFs, PathBuf) {
    let fs = SimFs::new();
    let dir = PathBuf::from("/db");
    fs.create_dir_all(&dir).unwrap();
    (fs, dir)
}

fn read_all(fs: &SimFs, path: &Path) -> Vec<u8> {
    fs.contents(path).unwrap()
}

#[test]
fn a_lock_is_exclusive_until_dropped_and_gone_after_a_crash() {
    let (fs, dir) = setup();
    let path = dir.join("LOCK");
    let held = fs.lock_file(&path).unwrap();
    let e = fs.shared().lock_file(&path).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    // The crashed disk is what a new process finds: nobody holds anything.
    let _other = fs.crash(CrashMode::DropUnsynced).lock_file(&path).unwrap();
    drop(held);
    let _again = fs.lock_file(&path).unwrap();
}

#[test]
fn crash_keeps_only_synced_data_and_synced_names() {
    let (fs, dir) = setup();
    let a = dir.join("a");
    let f = fs.open(&a, OpenMode::CreateNew).unwrap();
    f.write_all_at(b"durable", 0).unwrap();
    f.sync_data().unwrap();
    // The name is not yet durable: a crash loses the whole file.
    assert!(!fs.crash(CrashMode::DropUnsynced).exists(&a).unwrap());
    fs.sync_dir(&dir).unwrap();
    f.write_all_at(b"-lost", 7).unwrap();
    let after = fs.crash(CrashMode::DropUnsynced);
    assert_eq!(read_all(&after, &a), b"durable");
    assert_eq!(
        read_all(&fs, &a),
        b"durable-lost",
        "the live disk is untouched by crash()"
    );
}

#[test]
fn writes_through_a_mapping_are_file_writes() {
    let (fs, dir) = setup();
    let a = dir.join("a");
    let f = fs.open(&a, OpenMode::CreateNew).unwrap();
    f.allocate(16).unwrap();
    f.sync_all().unwrap();
    fs.sync_dir(&dir).unwrap();
    assert!(f.map_writable(17).is_err());
    let m = f.map_writable(16).unwrap().expect("simulated files map");
    m.write_at(b"kept", 0).unwrap();
    f.sync_data().unwrap();
    m.write_at(b"lost", 4).unwrap();
    assert!(m.write_at(b"xy", 15).is_err());
    let mut live = read_all(&fs, &a);
    assert_eq!(&live[..8], b"keptlost");
    live = read_all(&fs.crash(CrashMode::DropUnsynced), &a);
    assert_eq!(&live[..8], b"kept\0\0\0\0");
}

#[test]
fn unsynced_rename_reverts_on_crash() {
    let (fs, dir) = setup();
    let (a, b) = (dir.join("a"), dir.join("b"));
    let f = fs.open(&a, OpenMode::CreateNew).unwrap();
    f.write_all_at(b"x", 0).unwrap();
    f.sync_all().unwrap();
    fs.sync_dir(&dir).unwrap();
    fs.rename(&a, &b).unwrap();
    let crashed = fs.crash(CrashMode::DropUnsynced);
    assert!(crashed.exists(&a).unwrap() && !crashed.exists(&b).unwrap());
    fs.sync_dir(&dir).unwrap();
    let crashed = fs.crash(CrashMode::DropUnsynced);
    assert!(!crashed.exists(&a).unwrap() && crashed.exists(&b).unwrap());
}

#[test]
fn torn_crash_keeps_whole_sectors_only() {
    for seed in 0..64 {
        let (fs, dir) = setup();
        let a = dir.join("a");
        let f = fs.open(&a, OpenMode::CreateNew).unwrap();
        f.write_all_at(&vec![0u8; 4 * SECTOR_SIZE as usize], 0)
            .unwrap();
        f.sync_data().unwrap();
        fs.sync_dir(&dir).unwrap();
        f.write_all_at(&vec![7u8; 4 * SECTOR_SIZE as usize], 0)
            .unwrap();
        let image = read_all(&fs.crash(CrashMode::Torn { seed }), &a);
        assert_eq!(image.len(), 4 * SECTOR_SIZE as usize);
        for sector in image.chunks(SECTOR_SIZE as usize) {
            let first = sector[0];
            assert!(
                sector.iter().all(|&b| b == first),
                "seed {seed}: a sector was split"
            );
        }
    }
}

#[test]
fn failed_sync_loses_the_writes_for_good() {
    let (fs, dir) = setup();
    let a = dir.join("a");
    let f = fs.open(&a, OpenMode::CreateNew).unwrap();
    fs.sync_dir(&dir).unwrap();
    f.write_all_at(b"doomed", 0).unwrap();
    fs.inject(FaultOp::Sync, 1, FaultKind::Eio, false);
    let err = f.sync_data().unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(rustix::io::Errno::IO.raw_os_error())
    );
    // The retry succeeds, but the data it should have covered never becomes durable.
    f.sync_data().unwrap();
    assert_eq!(read_all(&fs.crash(CrashMode::DropUnsynced), &a), b"");
}

#[test]
fn scripted_enospc_hits_the_nth_write_and_sticks() {
    let (fs, dir) = setup();
    let f = fs.open(&dir.join("a"), OpenMode::CreateNew).unwrap();
    fs.inject(FaultOp::Write, 3, FaultKind::Enospc, true);
    f.write_all_at(b"1", 0).unwrap();
    f.write_all_at(b"2", 1).unwrap();
    let err = f.write_all_at(b"3", 2).unwrap_err();
    assert!(err.is_no_space());
    assert!(f.write_all_at(b"4", 3).unwrap_err().is_no_space());
    fs.clear_faults();
    f.write_all_at(b"5", 2).unwrap();
    assert_eq!(read_all(&fs, &dir.join("a")), b"125");
}

#[test]
fn faults_can_target_one_path() {
    let (fs, dir) = setup();
    let a = fs.open(&dir.join("a.log"), OpenMode::CreateNew).unwrap();
    let b = fs.open(&dir.join("b.sst"), OpenMode::CreateNew).unwrap();
    fs.inject_on(FaultOp::Sync, 2, FaultKind::Eio, false, Some(".log"));
    b.sync_data().unwrap();
    a.sync_data().unwrap();
    b.sync_data().unwrap();
    assert!(
        a.sync_data().is_err(),
        "the second sync of the .log file fails"
    );
    a.sync_data().unwrap();
}

#[test]
fn hard_links_share_contents_and_listing_is_sorted() {
    let (fs, dir) = setup();
    let f = fs.open(&dir.join("b"), OpenMode::CreateNew).unwrap();
    f.write_all_at(b"shared", 0).unwrap();
    fs.hard_link(&dir.join("b"), &dir.join("a")).unwrap();
    fs.create_dir_all(&dir.join("sub")).unwrap();
    assert_eq!(fs.list_dir(&dir).unwrap(), vec!["a", "b", "sub"]);
    assert_eq!(read_all(&fs, &dir.join("a")), b"shared");
    assert!(fs.open(&dir.join("missing/x"), OpenMode::Create).is_err());
    let ro = fs.open(&dir.join("a"), OpenMode::Read).unwrap();
    assert!(
        ro.write_all_at(b"no", 0).is_err(),
        "read-only handles must refuse writes"
    );
}
