//! A READ COMMITTED statement reads one snapshot: a scan read in chunks never mixes commits
//! made while it ran (PostgreSQL takes a snapshot per statement, not per read).

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::test_support::{engine, run};

/// Accounts whose scan spans several chunks: transfers move money between the first and the
/// last ones, so a scan that took a fresh snapshot per chunk would count a transfer's credit
/// without its debit.
const ACCOUNTS: i64 = 5000;

#[test]
fn a_sum_over_a_table_never_sees_half_a_concurrent_transfer() {
    let engine = engine();
    let mut s = engine.session("postgres", "postgres");
    run(
        &mut s,
        "CREATE TABLE acct (id int PRIMARY KEY, bal int NOT NULL)",
    );
    run(
        &mut s,
        &format!("INSERT INTO acct SELECT g, 100 FROM generate_series(1, {ACCOUNTS}) g"),
    );
    let total = (ACCOUNTS * 100).to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let transfers = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (engine, stop, transfers) = (engine.clone(), stop.clone(), transfers.clone());
        std::thread::spawn(move || {
            let mut w = engine.session("postgres", "postgres");
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let (from, to) = (1 + i % 100, ACCOUNTS - i % 100);
                run(
                    &mut w,
                    &format!(
                        "BEGIN; UPDATE acct SET bal = bal - 1 WHERE id = {from}; \
                         UPDATE acct SET bal = bal + 1 WHERE id = {to}; COMMIT"
                    ),
                );
                transfers.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        })
    };
    // Wait for the writer to be under way.
    while transfers.load(Ordering::Relaxed) < 5 {
        std::thread::yield_now();
    }
    for round in 0..20 {
        let sum = run(&mut s, "SELECT sum(bal) FROM acct");
        assert_eq!(
            sum.as_deref(),
            Some(total.as_str()),
            "autocommit, round {round}"
        );
        // In a READ COMMITTED block each statement has its own snapshot, each one whole.
        let sum = run(
            &mut s,
            "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT sum(bal) FROM acct",
        );
        assert_eq!(sum.as_deref(), Some(total.as_str()), "block, round {round}");
        let sum = run(&mut s, "SELECT sum(bal) FROM acct; COMMIT");
        assert_eq!(sum.as_deref(), Some(total.as_str()), "block, round {round}");
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(transfers.load(Ordering::Relaxed) > 5);
    assert_eq!(run(&mut s, "SELECT sum(bal) FROM acct"), Some(total));
}
