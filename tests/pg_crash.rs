//! Crash test under a pgbench-like (TPC-B) load over the PostgreSQL protocol: `kill -9` while
//! clients commit; after the restart every acknowledged transaction is there, and the TPC-B
//! invariant holds (the sums of account, teller and branch balances and of history deltas
//! are equal: no transaction is half applied).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::pg::{connect, rt, simple};
use common::Server;

const ACCOUNTS: i32 = 2_000;
const TELLERS: i32 = 20;
const BRANCHES: i32 = 2;

async fn setup(c: &tokio_postgres::Client) {
    c.batch_execute(&format!(
        "CREATE TABLE branches (bid int PRIMARY KEY, bbalance int NOT NULL);
         CREATE TABLE tellers (tid int PRIMARY KEY, bid int NOT NULL, tbalance int NOT NULL);
         CREATE TABLE accounts (aid int PRIMARY KEY, bid int NOT NULL, abalance int NOT NULL);
         CREATE TABLE history (id bigint PRIMARY KEY, tid int, bid int, aid int, delta int,
                               mtime timestamp);
         INSERT INTO branches SELECT g, 0 FROM generate_series(1, {BRANCHES}) g;
         INSERT INTO tellers SELECT g, (g - 1) % {BRANCHES} + 1, 0 FROM generate_series(1, {TELLERS}) g;
         INSERT INTO accounts SELECT g, (g - 1) % {BRANCHES} + 1, 0 FROM generate_series(1, {ACCOUNTS}) g;"
    ))
    .await
    .unwrap();
}

/// One TPC-B transaction with history id `id`; Ok(true) when its COMMIT was acknowledged.
async fn tpcb(c: &tokio_postgres::Client, id: i64) -> Result<bool, tokio_postgres::Error> {
    let aid = (id * 7919 % i64::from(ACCOUNTS)) as i32 + 1;
    let tid = (id % i64::from(TELLERS)) as i32 + 1;
    let bid = (tid - 1) % BRANCHES + 1;
    let delta = (id % 10_000) as i32 - 5_000;
    let sql = format!(
        "BEGIN;
         UPDATE accounts SET abalance = abalance + {delta} WHERE aid = {aid};
         SELECT abalance FROM accounts WHERE aid = {aid};
         UPDATE tellers SET tbalance = tbalance + {delta} WHERE tid = {tid};
         UPDATE branches SET bbalance = bbalance + {delta} WHERE bid = {bid};
         INSERT INTO history VALUES ({id}, {tid}, {bid}, {aid}, {delta}, now());
         COMMIT;"
    );
    match c.batch_execute(&sql).await {
        Ok(()) => Ok(true),
        Err(e) => {
            // A serialization failure rolls the block back; it was never acknowledged.
            let _ = c.batch_execute("ROLLBACK").await;
            if e.code().is_some() {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}

#[test]
fn tpcb_load_survives_kill_9_with_its_invariant() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, &[]);
    let acked: Arc<Mutex<Vec<i64>>> = Arc::new(Mutex::new(Vec::new()));
    let runtime = rt();
    runtime.block_on(async {
        let c = connect(&server).await;
        setup(&c).await;
        for client in 0..4i64 {
            let c = connect(&server).await;
            let acked = Arc::clone(&acked);
            tokio::spawn(async move {
                for n in 0.. {
                    let id = n * 4 + client + 1;
                    match tpcb(&c, id).await {
                        Ok(true) => acked.lock().unwrap().push(id),
                        Ok(false) => {}
                        Err(_) => return, // the server is gone
                    }
                }
            });
        }
        // Let the load run, then crash the server in the middle of it.
        tokio::time::sleep(Duration::from_millis(2_500)).await;
    });
    let acked = acked.lock().unwrap().clone();
    server.kill9();
    drop(runtime);
    assert!(acked.len() > 20, "too little load to test: {}", acked.len());

    let server = Server::start(&data, &[]);
    rt().block_on(async {
        let c = connect(&server).await;
        let ids: Vec<i64> = simple(&c, "SELECT id FROM history")
            .await
            .into_iter()
            .map(|r| r[0].as_deref().unwrap().parse().unwrap())
            .collect();
        let present: std::collections::HashSet<i64> = ids.iter().copied().collect();
        let lost: Vec<&i64> = acked.iter().filter(|id| !present.contains(id)).collect();
        assert!(lost.is_empty(), "acknowledged transactions lost: {lost:?}");
        let sums = simple(
            &c,
            "SELECT (SELECT sum(abalance) FROM accounts), (SELECT sum(tbalance) FROM tellers),
                    (SELECT sum(bbalance) FROM branches), (SELECT coalesce(sum(delta), 0) FROM history)",
        )
        .await;
        let row: Vec<i64> = sums[0]
            .iter()
            .map(|v| v.as_deref().unwrap().parse().unwrap())
            .collect();
        assert!(
            row.iter().all(|s| *s == row[0]),
            "TPC-B invariant broken: accounts, tellers, branches, history = {row:?}"
        );
        // The database is usable after recovery.
        tpcb(&c, 1_000_000_000).await.unwrap();
    });
    let _ = server.stop();
}
