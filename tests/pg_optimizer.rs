//! End-to-end tests of the optimizer's inputs and guards over the PostgreSQL protocol:
//! ANALYZE (its forms, errors and `pg_class.reltuples`), join order through EXPLAIN, and the
//! server's query memory budget (`--query-memory`): a query whose intermediate results do
//! not fit fails with SQLSTATE 53200 and the server goes on serving; prepared statements'
//! plans kept across executions and replaced after DDL, and 0A000 when a prepared query's
//! result columns change.
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
        // 9 million rows of a cross product, all held to be sorted: far past 64 MB. (An
        // aggregation of them would stream within it.)
        let e = c
            .simple_query(
                "SELECT a.id FROM t a, t b WHERE a.pad || b.pad <> '' ORDER BY a.pad || b.pad LIMIT 1",
            )
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
                .simple_query("SELECT a.pad || b.pad FROM t a, t b ORDER BY 1 LIMIT 1")
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

/// Bitmap indexes from a real client: built over existing rows, kept by prepared inserts
/// with binary parameters, combined by AND / OR with parameters in the conditions, and
/// intact after kill -9 (rows inserted after the restart get ordinals of their own: a
/// repeated one would make a scan return the wrong row).
#[test]
fn bitmap_indexes_answer_and_survive_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, &[]);
    let before = rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(
            "CREATE TABLE events (id int PRIMARY KEY, status text, region int);
             INSERT INTO events SELECT x, CASE WHEN x % 2 = 0 THEN 'open' ELSE 'closed' END,
                 CASE WHEN x % 17 = 0 THEN NULL ELSE x % 5 END
               FROM generate_series(1, 1000) x;
             CREATE INDEX events_status ON events USING bitmap (status);",
        )
        .await
        .unwrap();
        let ins = c
            .prepare("INSERT INTO events VALUES ($1, $2, $3)")
            .await
            .unwrap();
        for i in 1001..1100i32 {
            let region: Option<i32> = (i % 7 != 0).then_some(2);
            c.execute(&ins, &[&i, &"open", &region]).await.unwrap();
        }
        c.batch_execute("CREATE INDEX events_region ON events USING bitmap (region)")
            .await
            .unwrap();
        let plan = simple(
            &c,
            "EXPLAIN SELECT id FROM events WHERE (status = 'open' AND region = 2) OR region IS NULL",
        )
        .await;
        let plan: Vec<String> = plan.into_iter().filter_map(|r| r[0].clone()).collect();
        assert_eq!(plan[0], "Bitmap Heap Scan on events", "{plan:?}");
        assert!(plan.iter().any(|l| l.contains("BitmapOr")), "{plan:?}");
        events_query(&c).await
    });
    assert!(before.contains(",1002,"), "{before}");
    server.kill9();
    let server = Server::start(&data, &[]);
    rt().block_on(async {
        let c = connect(&server).await;
        assert_eq!(events_query(&c).await, before);
        c.batch_execute(
            "INSERT INTO events SELECT x, 'open', 2 FROM generate_series(2001, 2100) x;
             UPDATE events SET status = 'open', region = 2 WHERE id = 1;
             DELETE FROM events WHERE id = 1002;",
        )
        .await
        .unwrap();
        let after = events_query(&c).await;
        assert!(
            after.starts_with("1,") && !after.contains(",1002,"),
            "{after}"
        );
        assert!(after.ends_with(",2100"), "{after}");
        // Bad input gets PostgreSQL's errors, and the session goes on.
        let e = c
            .simple_query("CREATE UNIQUE INDEX ON events USING bitmap (status)")
            .await
            .unwrap_err();
        assert_eq!(code(&e), "0A000");
        let e = c
            .query("SELECT id FROM events WHERE region = $1", &[&"x"])
            .await
            .unwrap_err();
        assert!(!code(&e).is_empty());
    });
    drop(server);
}

/// The bitmap test's query, through the indexes and through held rows: they must agree.
async fn events_query(c: &tokio_postgres::Client) -> String {
    let query = "SELECT string_agg(id::text, ',' ORDER BY id) FROM {t} \
                 WHERE (status = $1 AND region = $2) OR region IS NULL";
    let indexed = query.replace("{t}", "events");
    let oracle = query.replace("{t}", "(SELECT * FROM events OFFSET 0) e");
    let args: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&"open", &2i32];
    let a: Option<String> = c.query_one(&indexed, &args).await.unwrap().get(0);
    let b: Option<String> = c.query_one(&oracle, &args).await.unwrap().get(0);
    assert_eq!(a, b);
    a.unwrap_or_default()
}

#[test]
fn prepared_statements_keep_plans_until_ddl_and_refuse_a_changed_result_type() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(
            "CREATE TABLE p (id int PRIMARY KEY, v text, n int);
             INSERT INTO p SELECT x, 'v' || x, x % 10 FROM generate_series(1, 2000) x;",
        )
        .await
        .unwrap();
        let by_n = c
            .prepare("SELECT count(*) FROM p WHERE n = $1 AND id > $2")
            .await
            .unwrap();
        let star = c.prepare("SELECT * FROM p WHERE id = $1").await.unwrap();
        for round in 0..3 {
            for n in 0..10 {
                let row = c.query_one(&by_n, &[&n, &(n * 100)]).await.unwrap();
                let want: i64 = (1..=2000).filter(|x| x % 10 == n && *x > n * 100).count() as i64;
                assert_eq!(row.get::<_, i64>(0), want, "round {round}");
            }
            // Each round changes what the plans depend on: an index on n, then statistics.
            let ddl = ["CREATE INDEX p_n ON p (n)", "ANALYZE p", "SELECT 1"][round];
            c.batch_execute(ddl).await.unwrap();
            let row = c.query_one(&star, &[&7]).await.unwrap();
            assert_eq!(row.get::<_, String>(1), "v7");
        }
        // A column added: the prepared `*` would change shape, which PostgreSQL refuses.
        c.batch_execute("ALTER TABLE p ADD COLUMN w int DEFAULT 3")
            .await
            .unwrap();
        let e = c.query_one(&star, &[&7]).await.unwrap_err();
        assert_eq!(code(&e), "0A000", "{e}");
        let message = e.as_db_error().map(|d| d.message().to_string());
        assert_eq!(
            message.as_deref(),
            Some("cached plan must not change result type")
        );
        // The connection goes on; the count's shape did not change.
        let row = c.query_one(&by_n, &[&7i32, &0i32]).await.unwrap();
        assert_eq!(row.get::<_, i64>(0), 200);
        let star = c.prepare("SELECT * FROM p WHERE id = $1").await.unwrap();
        let row = c.query_one(&star, &[&7]).await.unwrap();
        assert_eq!(row.get::<_, i32>(3), 3);
    });
}
