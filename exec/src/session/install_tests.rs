//! A query overlapped by a snapshot install (a follower's: `TxnDb::read_intact`) fails with
//! 55000 instead of answering with what it read; writes and queries outside installs run.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use orbit_env::SimFs;
use orbit_lsm::{Db, DbOptions};
use orbit_txn::testing::ReplacingLog;
use orbit_txn::TxnDb;

use crate::engine::SqlEngine;
use crate::test_support::run;

fn engine() -> (Arc<SqlEngine>, Arc<ReplacingLog>) {
    let db = Arc::new(Db::open(SimFs::new().shared(), "/db", DbOptions::default()).unwrap());
    let log = ReplacingLog::new(Arc::clone(&db));
    let txn = TxnDb::with_log(db, Arc::clone(&log) as Arc<dyn orbit_txn::CommitLog>);
    (SqlEngine::open(txn).unwrap(), log)
}

fn query(s: &mut crate::Session, sql: &str) -> crate::Result<()> {
    let stmt = crate::parse(sql).unwrap().remove(0);
    s.execute(&stmt, &[]).map(drop)
}

#[test]
fn a_query_overlapped_by_a_snapshot_install_fails_and_others_run() {
    let (engine, log) = engine();
    let mut s = engine.session("postgres", "postgres");
    run(&mut s, "CREATE TABLE t (k int PRIMARY KEY, v text)");
    run(&mut s, "INSERT INTO t VALUES (1, 'a')");

    // An install completes while each statement runs.
    log.churn(true);
    let e = query(&mut s, "SELECT v FROM t WHERE k = 1").unwrap_err();
    assert_eq!(e.sqlstate(), "55000", "{e}");
    assert!(e.to_string().contains("installing a snapshot"), "{e}");
    // Writes are not reads of the whole: this one is not refused.
    query(&mut s, "INSERT INTO t VALUES (2, 'b')").unwrap();
    // In a block, the failed query aborts it, as any error does.
    run(&mut s, "BEGIN");
    assert_eq!(
        query(&mut s, "SELECT count(*) FROM t")
            .unwrap_err()
            .sqlstate(),
        "55000"
    );
    assert_eq!(
        query(&mut s, "SELECT 1").unwrap_err().sqlstate(),
        "25P02",
        "the block is aborted"
    );
    run(&mut s, "ROLLBACK");

    // An install under way when the query begins: refused as well.
    log.churn(false);
    log.set(3);
    assert_eq!(
        query(&mut s, "SELECT count(*) FROM t")
            .unwrap_err()
            .sqlstate(),
        "55000"
    );
    // Done: queries answer again.
    log.set(4);
    assert_eq!(run(&mut s, "SELECT count(*) FROM t").as_deref(), Some("2"));

    // A REPEATABLE READ block whose snapshot was taken during an install: its queries fail
    // even once the install is done (the statement alone sees no change).
    log.set(5);
    run(&mut s, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    log.set(6);
    assert_eq!(
        query(&mut s, "SELECT count(*) FROM t")
            .unwrap_err()
            .sqlstate(),
        "55000"
    );
    run(&mut s, "ROLLBACK");
    // Under READ COMMITTED each statement reads afresh: only the statement's own span counts.
    log.set(7);
    run(&mut s, "BEGIN");
    log.set(8);
    assert_eq!(run(&mut s, "SELECT count(*) FROM t").as_deref(), Some("2"));
    run(&mut s, "COMMIT");
}
