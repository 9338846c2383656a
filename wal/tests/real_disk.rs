//! The log on a real disk: byte-identical output from every backend, and recovery after
//! SIGKILL of a process that was appending in `sync` or `none` mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orbit_env::testing::{kill_child_after_ready, seed};
use orbit_env::{FileSystem, ManualClock, OpenMode, RealFs, SimFs};
use orbit_wal::{Backend, SyncMode, Wal, WalOptions};
use rand::{Rng, SeedableRng};

fn segment_bytes(fs: &dyn FileSystem, dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for name in fs.list_dir(dir).unwrap() {
        if name.ends_with(".wal") && !name.starts_with("spare") {
            let f = fs.open(&dir.join(&name), OpenMode::Read).unwrap();
            let mut buf = vec![0u8; f.len().unwrap() as usize];
            f.read_exact_at(&mut buf, 0).unwrap();
            out.insert(name, buf);
        }
    }
    out
}

fn deterministic_log(fs: Arc<dyn FileSystem>, dir: &Path, backend: Backend) -> String {
    deterministic_log_in(fs, dir, backend, WalOptions::default().sync_mode)
}

fn deterministic_log_in(
    fs: Arc<dyn FileSystem>,
    dir: &Path,
    backend: Backend,
    sync_mode: SyncMode,
) -> String {
    let opts = WalOptions {
        backend,
        sync_mode,
        segment_size: 64 << 10,
        clock: Arc::new(ManualClock::new(1_750_000_000_000)),
        new_log_id: Some(0x0b17),
        ..WalOptions::default()
    };
    let wal = Wal::open(fs, dir, opts).unwrap();
    let name = wal.stats().backend;
    // One record per group: wait for each acknowledgement before the next append.
    for i in 0..1500u32 {
        let payload: Vec<u8> = (0..(i % 257)).map(|j| (i ^ j) as u8).collect();
        wal.append_wait(payload).unwrap();
    }
    let direct = wal.stats().direct_io;
    wal.close().unwrap();
    if direct {
        format!("{name}+direct")
    } else {
        name.to_string()
    }
}

/// Whether this file system accepts O_DIRECT (ext4, xfs: yes; tmpfs: no).
fn supports_direct_io(dir: &Path) -> bool {
    let probe = dir.join("probe");
    RealFs.open(&probe, OpenMode::CreateNew).unwrap();
    let ok = RealFs.open_direct(&probe).is_ok();
    RealFs.remove_file(&probe).unwrap();
    ok
}

#[test]
fn every_backend_writes_identical_segments() {
    let sim = SimFs::new();
    let sim_dir = Path::new("/wal");
    assert_eq!(
        deterministic_log(sim.shared(), sim_dir, Backend::Auto),
        "std"
    );
    let reference = segment_bytes(&sim, sim_dir);
    assert!(reference.len() >= 3, "the test must cross segments");

    let mut backends = vec![Backend::Std];
    if orbit_wal::uring_available() {
        backends.push(Backend::Uring);
    } else {
        eprintln!("io_uring is unavailable here: comparing the std backend only");
    }
    for backend in backends {
        let tmp = tempfile::tempdir().unwrap();
        let used = deterministic_log(RealFs::shared(), tmp.path(), backend);
        if backend == Backend::Uring && supports_direct_io(tmp.path()) {
            assert_eq!(
                used, "uring+direct",
                "io_uring must write sync groups with direct i/o here"
            );
        }
        let real = segment_bytes(&RealFs, tmp.path());
        assert_eq!(
            real.keys().collect::<Vec<_>>(),
            reference.keys().collect::<Vec<_>>(),
            "{used}"
        );
        for (name, bytes) in &reference {
            assert!(
                real[name] == *bytes,
                "segment {name} differs between the simulated disk and {used}"
            );
        }
    }
}

/// A segment's bytes without its unused (zero) tail: mapped segments are allocated whole.
fn trimmed(mut segments: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    for bytes in segments.values_mut() {
        let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        bytes.truncate(end);
    }
    segments
}

#[test]
fn mapped_writes_produce_the_log_pwritev_does() {
    let sim = SimFs::new();
    let sim_dir = Path::new("/wal");
    assert_eq!(
        deterministic_log_in(sim.shared(), sim_dir, Backend::Std, SyncMode::None),
        "std"
    );
    let reference = trimmed(segment_bytes(&sim, sim_dir));
    assert!(reference.len() >= 3, "the test must cross segments");
    let mapped_sim = SimFs::new();
    assert_eq!(
        deterministic_log_in(mapped_sim.shared(), sim_dir, Backend::Auto, SyncMode::None),
        "mmap",
        "auto maps unsynced modes"
    );
    let tmp = tempfile::tempdir().unwrap();
    deterministic_log_in(RealFs::shared(), tmp.path(), Backend::Mmap, SyncMode::None);
    for (what, got) in [
        ("the simulated disk", segment_bytes(&mapped_sim, sim_dir)),
        ("a real disk", segment_bytes(&RealFs, tmp.path())),
    ] {
        // Every segment but the active one was allocated whole before it was mapped.
        let full = got.values().filter(|b| b.len() == 64 << 10).count();
        assert!(full >= got.len() - 1, "{what}: segments were not mapped");
        assert!(trimmed(got) == reference, "{what}: mapped segments differ");
    }
}

const CHILD_DIR: &str = "ORBIT_WAL_CRASH_DIR";
const CHILD_BACKEND: &str = "ORBIT_WAL_CRASH_BACKEND";
const CHILD_SYNC: &str = "ORBIT_WAL_CRASH_SYNC";
const WRITERS: u8 = 4;

fn crash_payload(writer: u8, seq: u64) -> Vec<u8> {
    let mut p = vec![writer];
    p.extend_from_slice(&seq.to_le_bytes());
    p.extend((0..(seq % 300)).map(|j| (j as u8).wrapping_mul(writer).wrapping_add(seq as u8)));
    p
}

fn parse_payload(p: &[u8]) -> (u8, u64) {
    let writer = p[0];
    let seq = u64::from_le_bytes(p[1..9].try_into().unwrap());
    assert_eq!(p, crash_payload(writer, seq).as_slice(), "garbled record");
    (writer, seq)
}

fn crash_opts(backend: Backend, sync_mode: SyncMode) -> WalOptions {
    WalOptions {
        backend,
        sync_mode,
        segment_size: 256 << 10,
        ..WalOptions::default()
    }
}

/// Reads the whole log: the next sequence number of each writer, checking on the way that each
/// writer's records are contiguous from 0 and well-formed.
fn recover(dir: &Path, backend: Backend) -> (Vec<u64>, Vec<(u8, u64)>) {
    let wal = Wal::open(RealFs::shared(), dir, crash_opts(backend, SyncMode::Sync)).unwrap();
    let mut next = vec![0u64; WRITERS as usize];
    let mut all = Vec::new();
    for r in wal.replay(wal.first_lsn()).unwrap() {
        let (w, seq) = parse_payload(&r.unwrap().payload);
        assert_eq!(
            seq, next[w as usize],
            "writer {w}: a record is missing or duplicated"
        );
        next[w as usize] += 1;
        all.push((w, seq));
    }
    (next, all)
}

/// The child: appends from several threads forever, printing each acknowledgement.
#[test]
#[ignore = "run by kill9_never_loses_an_acknowledged_record as a child process"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let backend: Backend = std::env::var(CHILD_BACKEND).unwrap().parse().unwrap();
    let sync_mode = if std::env::var(CHILD_SYNC).as_deref() == Ok("none") {
        SyncMode::None
    } else {
        SyncMode::Sync
    };
    let (next, _) = recover(Path::new(&dir), backend);
    let wal = Arc::new(Wal::open(RealFs::shared(), &dir, crash_opts(backend, sync_mode)).unwrap());
    let out = Arc::new(Mutex::new(std::io::stdout()));
    println!("ready");
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (wal, out) = (Arc::clone(&wal), Arc::clone(&out));
            let mut seq = next[w as usize];
            std::thread::spawn(move || loop {
                wal.append_wait(crash_payload(w, seq)).unwrap();
                let mut o = out.lock().unwrap();
                writeln!(o, "ack {w} {seq}").unwrap();
                o.flush().unwrap();
                seq += 1;
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn kill9_never_loses_an_acknowledged_record() {
    let seed = seed("wal kill9 test");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let tmp = tempfile::tempdir().unwrap();
    let mut acked: Vec<(u8, u64)> = Vec::new();
    for round in 0..12 {
        // Every third round acknowledges once written to the OS (`none`): a killed process
        // loses nothing the kernel already has, stores into a mapped segment included.
        let sync = if round % 3 == 2 { "none" } else { "sync" };
        let backend = if sync == "none" && round % 2 == 0 {
            Backend::Mmap
        } else if round % 2 == 0 || !orbit_wal::uring_available() {
            Backend::Std
        } else {
            Backend::Uring
        };
        let envs = [
            (CHILD_DIR, tmp.path().display().to_string()),
            (
                CHILD_BACKEND,
                match backend {
                    Backend::Uring => "uring",
                    Backend::Mmap => "mmap",
                    _ => "std",
                }
                .to_string(),
            ),
            (CHILD_SYNC, sync.to_string()),
        ];
        let run_for = Duration::from_millis(rng.random_range(150..600));
        let acks = kill_child_after_ready("crash_child", &envs, run_for)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let acks = acks.into_iter().map(|(w, s)| (w as u8, s));
        acked.extend(acks);
        let (next, all) = recover(tmp.path(), backend);
        for &(w, seq) in &acked {
            assert!(
                seq < next[w as usize],
                "round {round}: acknowledged record ({w}, {seq}) lost after SIGKILL"
            );
        }
        eprintln!(
            "round {round} ({backend:?}, {sync}): {} acknowledged so far, {} records in the log",
            acked.len(),
            all.len()
        );
    }
    assert!(
        acked.len() > 100,
        "the child acknowledged too little for the test to mean anything"
    );
}
