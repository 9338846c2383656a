//! End-to-end tests of the optimizer's inputs and guards over the PostgreSQL protocol:
//! ANALYZE (its forms, errors and `pg_class.reltuples`), join order through EXPLAIN, and the
//! server's query memory budget (`--query-memory`): a query whose intermediate results do
//! not fit fails with SQLSTATE 53200 and the server goes on serving.
#![allow(clippy::unwrap_used)]

mod common;

use common::pg::{code, connect, rt, simple};
use common::Server;

#[test]
fn analyze_forms_and_errors() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(
            "CREATE TABLE a (id int PRIMARY KEY, g int);
             CREATE SCHEMA s; CREATE TABLE s.b (id int);
             INSERT INTO a SELECT x, x % 3 FROM generate_series(1, 300) x;
             INSERT INTO s.b VALUES (1), (2);",
        )
        .await
        .unwrap();
        let tuples = |t: &'static str| {
            let c = &c;
            async move {
                simple(
                    c,
                    &format!("SELECT reltuples FROM pg_class WHERE relname = '{t}'"),
                )
                .await[0][0]
                    .clone()
                    .unwrap()
            }
        };
        assert_eq!(tuples("a").await, "-1");
        for sql in [
            "ANALYZE a",
            "ANALYZE VERBOSE a, s.b",
            "VACUUM ANALYZE a",
            "VACUUM (ANALYZE, VERBOSE)",
            "ANALYZE",
        ] {
            let done = c.simple_query(sql).await.unwrap();
            let Some(tokio_postgres::SimpleQueryMessage::CommandComplete(_)) = done.last() else {
                panic!("{sql}: {done:?}")
            };
        }
        assert_eq!(tuples("a").await, "300");
        assert_eq!(tuples("b").await, "2");
        let e = c.simple_query("ANALYZE nope").await.unwrap_err();
        assert_eq!(code(&e), "42P01");
        // Inside a transaction, and rolled back with it.
        c.batch_execute("INSERT INTO s.b SELECT generate_series(3, 10)")
            .await
            .unwrap();
        c.batch_execute("BEGIN; ANALYZE s.b; ROLLBACK")
            .await
            .unwrap();
        assert_eq!(tuples("b").await, "2");
        c.batch_execute("BEGIN; ANALYZE s.b; COMMIT").await.unwrap();
        assert_eq!(tuples("b").await, "10");
        // TRUNCATE forgets the count (rolled back with it), as PostgreSQL does.
        c.batch_execute("BEGIN; TRUNCATE s.b; ROLLBACK")
            .await
            .unwrap();
        assert_eq!(tuples("b").await, "10");
        c.batch_execute("TRUNCATE s.b").await.unwrap();
        assert_eq!(tuples("b").await, "-1");
        // VACUUM ANALYZE, like VACUUM, refuses a transaction block.
        c.batch_execute("BEGIN").await.unwrap();
        let e = c.simple_query("VACUUM ANALYZE a").await.unwrap_err();
        assert_eq!(code(&e), "25001");
        c.batch_execute("ROLLBACK").await.unwrap();
    });
}

#[test]
fn a_query_past_the_memory_budget_fails_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &["--query-memory", "64M"]);
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, pad text);
             INSERT INTO t SELECT x, repeat('x', 40) FROM generate_series(1, 3000) x;",
        )
        .await
        .unwrap();
        // 9 million rows of a cross product: far past 64 MB.
        let e = c
            .simple_query("SELECT count(*) FROM t a, t b WHERE a.pad || b.pad <> ''")
            .await
            .unwrap_err();
        assert_eq!(code(&e), "53200", "{e}");
        let msg = e.as_db_error().unwrap();
        assert_eq!(msg.message(), "out of memory");
        assert!(msg.detail().unwrap().contains("--query-memory"), "{msg:?}");
        // The session, and the budget, are intact: the same join within bounds runs.
        let rows = simple(&c, "SELECT count(*) FROM t a, t b WHERE a.id = b.id").await;
        assert_eq!(rows[0][0].as_deref(), Some("3000"));
        let rows = simple(
            &c,
            "SELECT count(*) FROM t a, t b WHERE a.id < 100 AND b.id < 100",
        )
        .await;
        assert_eq!(rows[0][0].as_deref(), Some("9801"));
        // Repeated failures do not leak budget.
        for _ in 0..3 {
            let e = c
                .simple_query("SELECT max(a.pad || b.pad) FROM t a, t b")
                .await
                .unwrap_err();
            assert_eq!(code(&e), "53200");
        }
        let rows = simple(&c, "SELECT count(*) FROM t a JOIN t b ON a.id = b.id").await;
        assert_eq!(rows[0][0].as_deref(), Some("3000"));
    });
    // Bad values are refused at start.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orbit"))
        .args(["serve", "--query-memory", "150%"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("percentage"));
}
