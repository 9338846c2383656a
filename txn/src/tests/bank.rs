//! A concurrent bank: threads move money between accounts in SERIALIZABLE and REPEATABLE READ
//! transactions, retrying serialization failures; readers check in every snapshot that the
//! total never changes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use orbit_env::SimFs;
use orbit_lsm::Direction;
use rand::{Rng, SeedableRng};

use super::{int, open, val, KS};
use crate::{Error, Isolation, TxnDb};

const ACCOUNTS: u32 = 12;
const START: i64 = 100;

fn account(a: u32) -> Vec<u8> {
    format!("acct-{a:03}").into_bytes()
}

fn total(db: &TxnDb) -> i64 {
    let mut t = db.begin(Isolation::RepeatableRead).unwrap();
    t.scan_prefix(KS, b"acct-", Direction::Forward)
        .unwrap()
        .map(|r| int(Some(r.unwrap().1)).unwrap())
        .sum()
}

/// Moves a random amount between two random accounts, retrying until it commits.
fn transfer(db: &TxnDb, level: Isolation, rng: &mut impl Rng, retries: &AtomicU64) {
    loop {
        let (from, to) = (rng.random_range(0..ACCOUNTS), rng.random_range(0..ACCOUNTS));
        let amount = rng.random_range(1..20);
        let mut t = db.begin(level).unwrap();
        let a = int(t.get(KS, &account(from)).unwrap()).unwrap();
        let b = int(t.get(KS, &account(to)).unwrap()).unwrap();
        if from != to {
            t.put(KS, &account(from), &val(a - amount)).unwrap();
            t.put(KS, &account(to), &val(b + amount)).unwrap();
        }
        match t.commit() {
            Ok(_) => return,
            Err(Error::SerializationFailure(_)) => {
                retries.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => panic!("transfer failed: {e}"),
        }
    }
}

#[test]
fn money_is_never_created_or_lost_under_concurrent_transfers() {
    for level in [Isolation::Serializable, Isolation::RepeatableRead] {
        let db = open(&SimFs::new());
        for a in 0..ACCOUNTS {
            db.put(KS, &account(a), &val(START)).unwrap();
        }
        let want = START * i64::from(ACCOUNTS);
        let stop = AtomicBool::new(false);
        let retries = AtomicU64::new(0);
        let checks = AtomicU64::new(0);
        std::thread::scope(|s| {
            let writers: Vec<_> = (0..4u64)
                .map(|w| {
                    let (db, retries) = (&db, &retries);
                    s.spawn(move || {
                        let mut rng = rand::rngs::StdRng::seed_from_u64(w);
                        for _ in 0..150 {
                            transfer(db, level, &mut rng, retries);
                        }
                    })
                })
                .collect();
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    assert_eq!(total(&db), want, "{level:?}: a snapshot saw money move");
                    checks.fetch_add(1, Ordering::Relaxed);
                }
            });
            for w in writers {
                w.join().unwrap();
            }
            stop.store(true, Ordering::Relaxed);
        });
        assert_eq!(total(&db), want);
        assert!(checks.load(Ordering::Relaxed) > 0);
        eprintln!(
            "{level:?}: 600 transfers, {} retries, {} checks",
            retries.load(Ordering::Relaxed),
            checks.load(Ordering::Relaxed)
        );
        assert_eq!(db.tracked_commits(), 0);
    }
}
