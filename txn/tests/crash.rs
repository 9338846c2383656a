//! SIGKILL crash test of transactions on a real disk: a child process runs a bank (transfers
//! in SERIALIZABLE transactions, each also counting itself in its worker's counter) and prints
//! each commit it has acknowledged; the parent kills it at random moments, reopens, and checks
//! that the total balance never changed and that every acknowledged transfer survived.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orbit_env::testing::{kill_child_after_ready, seed};
use orbit_env::RealFs;
use orbit_lsm::{Db, DbOptions, Direction, WriteBatch, DEFAULT_KEYSPACE};
use orbit_txn::{Error, Isolation, TxnDb};
use orbit_wal::{SyncMode, WalOptions};
use rand::{Rng, SeedableRng};

const CHILD_DIR: &str = "ORBIT_TXN_CRASH_DIR";
const WORKERS: u64 = 3;
const ACCOUNTS: u32 = 10;
const START: i64 = 1_000;
const KS: u32 = DEFAULT_KEYSPACE;

fn open(dir: &Path) -> TxnDb {
    let opts = DbOptions {
        memtable_bytes: 16 << 10,
        l0_compaction_trigger: 3,
        level1_bytes: 64 << 10,
        target_file_bytes: 32 << 10,
        wal: WalOptions {
            sync_mode: SyncMode::Sync,
            segment_size: 256 << 10,
            ..WalOptions::default()
        },
        ..DbOptions::default()
    };
    TxnDb::new(Arc::new(Db::open(RealFs::shared(), dir, opts).unwrap()))
}

fn account(a: u32) -> Vec<u8> {
    format!("acct-{a:03}").into_bytes()
}

fn counter(w: u64) -> Vec<u8> {
    format!("ops-{w}").into_bytes()
}

fn int(v: Option<Vec<u8>>) -> i64 {
    v.map_or(0, |v| String::from_utf8(v).unwrap().parse().unwrap())
}

fn total(db: &TxnDb) -> (i64, usize) {
    let mut t = db.begin(Isolation::RepeatableRead).unwrap();
    let balances: Vec<i64> = t
        .scan_prefix(KS, b"acct-", Direction::Forward)
        .unwrap()
        .map(|r| int(Some(r.unwrap().1)))
        .collect();
    (balances.iter().sum(), balances.len())
}

#[test]
#[ignore = "run by kill9_keeps_every_acknowledged_transfer as a child process"]
fn bank_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let db = open(Path::new(&dir));
    if db.get(KS, &account(0)).unwrap().is_none() {
        let mut b = WriteBatch::new();
        for a in 0..ACCOUNTS {
            b.put(KS, &account(a), START.to_string().as_bytes());
        }
        db.write(&b).unwrap();
    }
    let out = Arc::new(Mutex::new(std::io::stdout()));
    println!("ready");
    let threads: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (db, out) = (db.clone(), Arc::clone(&out));
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(w ^ std::process::id() as u64);
                loop {
                    let (from, to) = (rng.random_range(0..ACCOUNTS), rng.random_range(0..ACCOUNTS));
                    let amount = rng.random_range(1..50);
                    let mut t = db.begin(Isolation::Serializable).unwrap();
                    let a = int(t.get(KS, &account(from)).unwrap());
                    let b = int(t.get(KS, &account(to)).unwrap());
                    let n = int(t.get(KS, &counter(w)).unwrap());
                    if from != to {
                        t.put(KS, &account(from), (a - amount).to_string().as_bytes())
                            .unwrap();
                        t.put(KS, &account(to), (b + amount).to_string().as_bytes())
                            .unwrap();
                    }
                    t.put(KS, &counter(w), (n + 1).to_string().as_bytes())
                        .unwrap();
                    match t.commit() {
                        Ok(_) => {
                            let mut o = out.lock().unwrap();
                            writeln!(o, "ack {w} {}", n + 1).unwrap();
                            o.flush().unwrap();
                        }
                        Err(Error::SerializationFailure(_)) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn kill9_keeps_every_acknowledged_transfer() {
    let seed = seed("txn kill9 test");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let tmp = tempfile::tempdir().unwrap();
    let mut acked = vec![0u64; WORKERS as usize];
    for round in 0..6 {
        let envs = [(CHILD_DIR, tmp.path().display().to_string())];
        let run_for = Duration::from_millis(rng.random_range(300..900));
        let acks = kill_child_after_ready("bank_child", &envs, run_for)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        for (w, n) in acks {
            acked[w as usize] = acked[w as usize].max(n);
        }
        let db = open(tmp.path());
        let (sum, accounts) = total(&db);
        assert_eq!(accounts, ACCOUNTS as usize, "round {round}");
        assert_eq!(
            sum,
            START * i64::from(ACCOUNTS),
            "round {round}: money moved"
        );
        for w in 0..WORKERS {
            let n = int(db.get(KS, &counter(w)).unwrap()) as u64;
            assert!(
                n >= acked[w as usize],
                "round {round}: worker {w} acknowledged {} transfers, {n} survived",
                acked[w as usize]
            );
        }
    }
    assert!(
        acked.iter().sum::<u64>() > 100,
        "too few acknowledgements for the test to mean anything: {acked:?}"
    );
}
