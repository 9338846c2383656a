//! End-to-end tests of the PostgreSQL protocol: the real `orbit` binary, driven by
//! `tokio-postgres` (simple and extended protocol, text and binary formats).
#![allow(clippy::unwrap_used)]

mod common;

use common::pg::{code, connect, rt, simple};
use common::Server;
use tokio_postgres::error::SqlState;
use tokio_postgres::SimpleQueryMessage;

#[test]
fn tables_rows_and_queries() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2), \
             qty int DEFAULT 0, tags text[])",
        )
        .await
        .unwrap();
        let n = c
            .execute(
                "INSERT INTO items VALUES (1, 'apple', 1.5, 10, '{red,green}'), \
                 (2, 'pear', 2.25, 5, NULL), (3, 'fig', 10, DEFAULT, '{}')",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            simple(&c, "SELECT id, name, price, qty, tags FROM items ORDER BY id").await,
            vec![
                vec![Some("1".into()), Some("apple".into()), Some("1.50".into()), Some("10".into()), Some("{red,green}".into())],
                vec![Some("2".into()), Some("pear".into()), Some("2.25".into()), Some("5".into()), None],
                vec![Some("3".into()), Some("fig".into()), Some("10.00".into()), Some("0".into()), Some("{}".into())],
            ]
        );
        // WHERE, ORDER BY DESC, LIMIT/OFFSET, expressions, primary-key lookups.
        assert_eq!(
            simple(&c, "SELECT name, price * qty FROM items WHERE qty > 0 ORDER BY name DESC LIMIT 1 OFFSET 1").await,
            vec![vec![Some("apple".into()), Some("15.00".into())]]
        );
        assert_eq!(simple(&c, "SELECT name FROM items WHERE id = 2").await, vec![vec![Some("pear".into())]]);
        assert_eq!(
            simple(&c, "SELECT count(*) FROM items WHERE id >= 2 AND id < 3").await,
            vec![vec![Some("1".into())]]
        );
        // Aggregates and GROUP BY / HAVING.
        c.batch_execute("INSERT INTO items (id, name, price, qty) VALUES (4, 'apple', 3, 1)").await.unwrap();
        assert_eq!(
            simple(&c, "SELECT name, count(*), sum(qty), max(price) FROM items GROUP BY name HAVING count(*) > 1").await,
            vec![vec![Some("apple".into()), Some("2".into()), Some("11".into()), Some("3.00".into())]]
        );
        assert_eq!(
            simple(&c, "SELECT count(*), sum(qty), avg(qty), min(name) FROM items").await,
            vec![vec![Some("4".into()), Some("16".into()), Some("4.0000000000000000".into()), Some("apple".into())]]
        );
        // UPDATE and DELETE with RETURNING.
        let rows = c
            .query("UPDATE items SET qty = qty + 1 WHERE name = 'apple' RETURNING id, qty", &[])
            .await
            .unwrap();
        let mut got: Vec<(i32, i32)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        got.sort();
        assert_eq!(got, vec![(1, 11), (4, 2)]);
        let deleted = c.execute("DELETE FROM items WHERE price > 2", &[]).await.unwrap();
        assert_eq!(deleted, 3);
        assert_eq!(simple(&c, "SELECT id FROM items").await, vec![vec![Some("1".into())]]);
        // ON CONFLICT.
        c.batch_execute("INSERT INTO items (id, name) VALUES (1, 'x') ON CONFLICT DO NOTHING").await.unwrap();
        c.batch_execute(
            "INSERT INTO items (id, name, qty) VALUES (1, 'apple', 7) \
             ON CONFLICT (id) DO UPDATE SET qty = items.qty + excluded.qty",
        )
        .await
        .unwrap();
        assert_eq!(simple(&c, "SELECT qty FROM items WHERE id = 1").await, vec![vec![Some("18".into())]]);
        // serial, DISTINCT, ALTER TABLE, TRUNCATE, DROP.
        c.batch_execute("CREATE TABLE log (id serial PRIMARY KEY, msg varchar(5))").await.unwrap();
        let ids: Vec<i32> = c
            .query("INSERT INTO log (msg) VALUES ('a'), ('b'), ('a') RETURNING id", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(ids, vec![1, 2, 3]);
        assert_eq!(simple(&c, "SELECT DISTINCT msg FROM log ORDER BY 1").await.len(), 2);
        c.batch_execute("ALTER TABLE log ADD COLUMN n int DEFAULT 7").await.unwrap();
        c.batch_execute("ALTER TABLE log RENAME COLUMN msg TO text_msg").await.unwrap();
        assert_eq!(simple(&c, "SELECT text_msg, n FROM log WHERE id = 3").await, vec![vec![Some("a".into()), Some("7".into())]]);
        c.batch_execute("TRUNCATE log").await.unwrap();
        assert!(simple(&c, "SELECT * FROM log").await.is_empty());
        c.batch_execute("DROP TABLE log").await.unwrap();
        let e = c.simple_query("SELECT * FROM log").await.unwrap_err();
        assert_eq!(code(&e), "42P01");
    });
}

#[test]
fn errors_carry_sqlstates_and_keep_the_connection() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(
            "CREATE TABLE t (id bigint PRIMARY KEY, v varchar(3) NOT NULL, CHECK (id > 0))",
        )
        .await
        .unwrap();
        c.batch_execute("INSERT INTO t VALUES (1, 'abc')")
            .await
            .unwrap();
        let cases = [
            ("INSERT INTO t VALUES (1, 'x')", SqlState::UNIQUE_VIOLATION),
            (
                "INSERT INTO t VALUES (2, NULL)",
                SqlState::NOT_NULL_VIOLATION,
            ),
            (
                "INSERT INTO t VALUES (3, 'abcd')",
                SqlState::STRING_DATA_RIGHT_TRUNCATION,
            ),
            ("INSERT INTO t VALUES (-1, 'a')", SqlState::CHECK_VIOLATION),
            ("SELECT 1/0", SqlState::DIVISION_BY_ZERO),
            ("SELECT nope FROM t", SqlState::UNDEFINED_COLUMN),
            ("SELECT * FROM nope", SqlState::UNDEFINED_TABLE),
            ("SELEC 1", SqlState::SYNTAX_ERROR),
            ("SELECT 'x'::int", SqlState::INVALID_TEXT_REPRESENTATION),
            (
                "SELECT 2147483647::int + 1",
                SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            ),
            ("CREATE TABLE t (a int)", SqlState::DUPLICATE_TABLE),
            ("SELECT v, count(*) FROM t", SqlState::GROUPING_ERROR),
            ("SELECT nosuchfn(1)", SqlState::UNDEFINED_FUNCTION),
        ];
        for (sql, want) in cases {
            let e = c.simple_query(sql).await.unwrap_err();
            assert_eq!(e.code(), Some(&want), "{sql}: {e:?}");
            // The connection stays usable after each error.
            assert_eq!(simple(&c, "SELECT 1").await, vec![vec![Some("1".into())]]);
        }
        let e = c
            .query("SELECT * FROM t WHERE id = $1", &[&"x"])
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("error serializing parameter") || e.code().is_some(),
            "{e}"
        );
        let db = c.query_one("SELECT * FROM t", &[]).await.unwrap();
        assert_eq!(db.get::<_, i64>(0), 1);
    });
}

#[test]
fn prepared_statements_bind_binary_values_of_every_type() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(
            "CREATE TABLE v (k int PRIMARY KEY, a smallint, b bigint, c real, d double precision, \
             e boolean, f text, g bytea, h varchar(10), i char(3), j json)",
        )
        .await
        .unwrap();
        let ins = c
            .prepare("INSERT INTO v VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
            .await
            .unwrap();
        let json = serde_json::json!({"a": [1, 2]});
        c.execute(
            &ins,
            &[
                &1i32,
                &-7i16,
                &(1i64 << 40),
                &1.5f32,
                &-2.25f64,
                &true,
                &"héllo",
                &vec![0u8, 255, 10],
                &"vc",
                &"ab",
                &json,
            ],
        )
        .await
        .unwrap();
        c.execute(
            &ins,
            &[
                &2i32,
                &None::<i16>,
                &None::<i64>,
                &None::<f32>,
                &None::<f64>,
                &None::<bool>,
                &None::<&str>,
                &None::<Vec<u8>>,
                &None::<&str>,
                &None::<&str>,
                &None::<serde_json::Value>,
            ],
        )
        .await
        .unwrap();
        let sel = c
            .prepare("SELECT a, b, c, d, e, f, g, h, i, j FROM v WHERE k = $1")
            .await
            .unwrap();
        assert_eq!(sel.params()[0], tokio_postgres::types::Type::INT4);
        let r = c.query_one(&sel, &[&1i32]).await.unwrap();
        assert_eq!(r.get::<_, i16>(0), -7);
        assert_eq!(r.get::<_, i64>(1), 1 << 40);
        assert_eq!(r.get::<_, f32>(2), 1.5);
        assert_eq!(r.get::<_, f64>(3), -2.25);
        assert!(r.get::<_, bool>(4));
        assert_eq!(r.get::<_, String>(5), "héllo");
        assert_eq!(r.get::<_, Vec<u8>>(6), vec![0u8, 255, 10]);
        assert_eq!(r.get::<_, String>(7), "vc");
        assert_eq!(r.get::<_, String>(8), "ab ");
        assert_eq!(r.get::<_, serde_json::Value>(9), json);
        let r = c.query_one(&sel, &[&2i32]).await.unwrap();
        assert_eq!(r.get::<_, Option<i16>>(0), None);
        assert_eq!(r.get::<_, Option<String>>(5), None);
        // A statement reused with new parameters; a parameter in an expression.
        let upd = c
            .prepare("UPDATE v SET b = b + $1 WHERE k = $2")
            .await
            .unwrap();
        for _ in 0..3 {
            c.execute(&upd, &[&10i64, &1i32]).await.unwrap();
        }
        let b: i64 = c
            .query_one("SELECT b FROM v WHERE k = 1", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(b, (1 << 40) + 30);
        // Text-format parameters from the simple protocol's literal forms.
        let r = c
            .query_one("SELECT $1::int + 1, $2::text || 'x'", &[&41i32, &"a"])
            .await
            .unwrap();
        assert_eq!(r.get::<_, i32>(0), 42);
        assert_eq!(r.get::<_, String>(1), "ax");
    });
}

/// Runs `sql` in `c`'s open block, rolling the block back if it fails.
async fn update_or_roll_back(
    c: &tokio_postgres::Client,
    sql: &str,
) -> Result<(), tokio_postgres::Error> {
    let r = c.batch_execute(sql).await;
    if r.is_err() {
        c.batch_execute("ROLLBACK").await.unwrap();
    }
    r
}

#[test]
fn transactions_blocks_savepoints_and_isolation() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let a = connect(&server).await;
        let b = connect(&server).await;
        a.batch_execute("CREATE TABLE acct (id int PRIMARY KEY, bal int)")
            .await
            .unwrap();
        a.batch_execute("INSERT INTO acct VALUES (1, 100), (2, 100)")
            .await
            .unwrap();
        // Uncommitted writes are invisible to others; ROLLBACK discards them.
        a.batch_execute("BEGIN; UPDATE acct SET bal = 0 WHERE id = 1")
            .await
            .unwrap();
        assert_eq!(
            simple(&b, "SELECT bal FROM acct WHERE id = 1").await,
            vec![vec![Some("100".into())]]
        );
        assert_eq!(
            simple(&a, "SELECT bal FROM acct WHERE id = 1").await,
            vec![vec![Some("0".into())]]
        );
        a.batch_execute("ROLLBACK").await.unwrap();
        assert_eq!(
            simple(&b, "SELECT bal FROM acct WHERE id = 1").await,
            vec![vec![Some("100".into())]]
        );
        // An error aborts the block: 25P02 until ROLLBACK; COMMIT of a failed block rolls back.
        a.batch_execute("BEGIN; UPDATE acct SET bal = 1 WHERE id = 1")
            .await
            .unwrap();
        assert!(a.simple_query("SELECT 1/0").await.is_err());
        let e = a.simple_query("SELECT 1").await.unwrap_err();
        assert_eq!(e.code(), Some(&SqlState::IN_FAILED_SQL_TRANSACTION));
        let m = a.simple_query("COMMIT").await.unwrap();
        assert!(matches!(
            m.first(),
            Some(SimpleQueryMessage::CommandComplete(_))
        ));
        assert_eq!(
            simple(&a, "SELECT bal FROM acct WHERE id = 1").await,
            vec![vec![Some("100".into())]]
        );
        // Savepoints.
        a.batch_execute(
            "BEGIN; UPDATE acct SET bal = 50 WHERE id = 1; SAVEPOINT s; \
             UPDATE acct SET bal = 0 WHERE id = 2; ROLLBACK TO SAVEPOINT s; COMMIT",
        )
        .await
        .unwrap();
        assert_eq!(
            simple(&b, "SELECT bal FROM acct ORDER BY id").await,
            vec![vec![Some("50".into())], vec![Some("100".into())]]
        );
        // The transaction API of the driver (extended protocol inside a block).
        let mut a = a;
        let tx = a.transaction().await.unwrap();
        tx.execute("UPDATE acct SET bal = bal - 10 WHERE id = $1", &[&1i32])
            .await
            .unwrap();
        tx.execute("UPDATE acct SET bal = bal + 10 WHERE id = $1", &[&2i32])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            simple(&b, "SELECT sum(bal) FROM acct").await,
            vec![vec![Some("150".into())]]
        );
        // Two REPEATABLE READ writers of one row: the second waits for the first's row lock,
        // and once the first commits it gets 40001 (as in PostgreSQL).
        a.batch_execute(
            "BEGIN ISOLATION LEVEL REPEATABLE READ; UPDATE acct SET bal = 1 WHERE id = 1",
        )
        .await
        .unwrap();
        b.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            .await
            .unwrap();
        let (waiter, ()) = tokio::join!(
            b.batch_execute("UPDATE acct SET bal = 2 WHERE id = 1"),
            async {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                a.batch_execute("COMMIT").await.unwrap();
            }
        );
        let e = waiter.unwrap_err();
        assert_eq!(e.code(), Some(&SqlState::T_R_SERIALIZATION_FAILURE));
        b.batch_execute("ROLLBACK").await.unwrap();
        // A writer waits for a row lock only as long as lock_timeout allows (55P03); two
        // writers waiting for each other's rows: one gets 40P01 and the other goes on.
        let before = simple(&b, "SELECT bal FROM acct ORDER BY id").await;
        assert_eq!(before[0], vec![Some("1".into())]);
        let bal2: i32 = before[1][0].as_deref().unwrap().parse().unwrap();
        a.batch_execute("BEGIN; UPDATE acct SET bal = bal + 1 WHERE id = 1")
            .await
            .unwrap();
        b.batch_execute("SET lock_timeout = '100ms'; BEGIN")
            .await
            .unwrap();
        let e = b
            .batch_execute("UPDATE acct SET bal = 0 WHERE id = 1")
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(&SqlState::LOCK_NOT_AVAILABLE));
        b.batch_execute(
            "ROLLBACK; RESET lock_timeout; BEGIN; UPDATE acct SET bal = bal + 1 WHERE id = 2",
        )
        .await
        .unwrap();
        // b closes the cycle, and is the victim, unless a slow machine starts a's update
        // after b's; either way the victim rolls back at once, which lets the other go on,
        // and the other added 1 to both rows.
        let (ra, rb) = tokio::join!(
            update_or_roll_back(&a, "UPDATE acct SET bal = bal + 1 WHERE id = 2"),
            async {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                update_or_roll_back(&b, "UPDATE acct SET bal = bal + 1 WHERE id = 1").await
            }
        );
        let survivor = match (ra, rb) {
            (Ok(()), Err(e)) => (e, &a),
            (Err(e), Ok(())) => (e, &b),
            other => panic!("not one victim: {other:?}"),
        };
        assert_eq!(survivor.0.code(), Some(&SqlState::T_R_DEADLOCK_DETECTED));
        survivor.1.batch_execute("COMMIT").await.unwrap();
        assert_eq!(
            simple(&b, "SELECT bal FROM acct ORDER BY id").await,
            vec![vec![Some("2".into())], vec![Some((bal2 + 1).to_string())]]
        );
        // SET / SHOW.
        a.batch_execute("SET application_name = 'tests'")
            .await
            .unwrap();
        assert_eq!(
            simple(&a, "SHOW application_name").await,
            vec![vec![Some("tests".into())]]
        );
        assert_eq!(simple(&a, "SHOW server_version").await.len(), 1);
    });
}

#[test]
fn concurrent_increments_from_autocommit_statements_are_not_lost() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute("CREATE TABLE counter (id int PRIMARY KEY, n bigint); INSERT INTO counter VALUES (1, 0)")
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let c = connect(&server).await;
            tasks.push(tokio::spawn(async move {
                for _ in 0..50 {
                    c.execute("UPDATE counter SET n = n + 1 WHERE id = 1", &[]).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(simple(&c, "SELECT n FROM counter").await, vec![vec![Some("200".into())]]);
    });
}

#[test]
fn committed_rows_survive_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, &[]);
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute("CREATE TABLE kv (k int PRIMARY KEY, v text)")
            .await
            .unwrap();
        let ins = c.prepare("INSERT INTO kv VALUES ($1, $2)").await.unwrap();
        for i in 0..200i32 {
            c.execute(&ins, &[&i, &format!("v{i}")]).await.unwrap();
        }
        c.batch_execute("BEGIN; DELETE FROM kv WHERE k < 100; COMMIT")
            .await
            .unwrap();
        c.batch_execute("CREATE MATERIALIZED VIEW kv_count AS SELECT count(*) AS n FROM kv")
            .await
            .unwrap();
        // An open, uncommitted transaction dies with the process.
        c.batch_execute("BEGIN; DELETE FROM kv").await.unwrap();
    });
    server.kill9();
    let server = Server::start(&data, &[]);
    rt().block_on(async {
        let c = connect(&server).await;
        assert_eq!(
            simple(&c, "SELECT count(*), min(k), max(v) FROM kv").await,
            vec![vec![
                Some("100".into()),
                Some("100".into()),
                Some("v199".into())
            ]]
        );
        // A materialized view is one still, with its rows.
        assert_eq!(
            simple(&c, "SELECT n FROM kv_count").await,
            vec![vec![Some("100".into())]]
        );
        let refused = c.batch_execute("DELETE FROM kv_count").await.unwrap_err();
        assert_eq!(
            refused.code(),
            Some(&tokio_postgres::error::SqlState::WRONG_OBJECT_TYPE)
        );
        // Sequences continue after the crash, never repeating.
        c.batch_execute("CREATE TABLE s (id serial PRIMARY KEY)")
            .await
            .unwrap();
        c.batch_execute("INSERT INTO s DEFAULT VALUES")
            .await
            .unwrap();
    });
    server.kill9();
    let server = Server::start(&data, &[]);
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute("INSERT INTO s DEFAULT VALUES")
            .await
            .unwrap();
        let ids = simple(&c, "SELECT id FROM s ORDER BY id").await;
        assert_eq!(ids.len(), 2);
        assert_ne!(ids[0], ids[1]);
    });
    drop(server);
}

#[test]
fn statement_timeout_cancels_long_statements() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(
            "CREATE TABLE big (id int PRIMARY KEY);
             INSERT INTO big SELECT a.id * 100 + b.id FROM (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) a(id), (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) b(id);",
        )
        .await
        .unwrap();
        c.batch_execute("INSERT INTO big SELECT id + 1000 FROM big; INSERT INTO big SELECT id + 2000 FROM big; INSERT INTO big SELECT id + 4000 FROM big")
            .await
            .unwrap();
        assert_eq!(simple(&c, "SELECT count(*) FROM big").await[0][0].as_deref(), Some("800"));
        let e = c.batch_execute("SET statement_timeout = 'soon'").await.unwrap_err();
        assert_eq!(code(&e), "22023", "{e}");
        c.batch_execute("SET statement_timeout = '100ms'").await.unwrap();
        // 800^3 rows: far more than 100 ms of work.
        let e = c
            .simple_query("SELECT count(*) FROM big a, big b, big c")
            .await
            .unwrap_err();
        assert_eq!(code(&e), "57014", "{e}");
        // Quick statements still run, and 0 turns the limit off.
        assert_eq!(simple(&c, "SELECT count(*) FROM big").await[0][0].as_deref(), Some("800"));
        c.batch_execute("SET statement_timeout = 0").await.unwrap();
        assert_eq!(
            simple(&c, "SELECT count(*) FROM big a, big b WHERE a.id = b.id").await[0][0].as_deref(),
            Some("800")
        );
    });
}

/// SIGTERM while a query runs for hours: the query fails with 57P01 (as under PostgreSQL's
/// fast shutdown) and the server exits cleanly, instead of its worker thread running the
/// query to its end while the shutdown waits for it.
#[test]
fn sigterm_ends_a_running_query_and_the_server_exits() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(
            "CREATE TABLE big (id int PRIMARY KEY, v int);
             INSERT INTO big SELECT g, g % 7 FROM generate_series(1, 200000) g",
        )
        .await
        .unwrap();
        // 4 * 10^10 pairs: hours.
        let long = tokio::spawn(async move {
            c.simple_query("SELECT count(*) FROM big a, big b WHERE a.v + b.v < 0")
                .await
        });
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert!(!long.is_finished());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(server.stop());
        });
        // The bound only turns a hang into a failure.
        let (clean, log) = tokio::task::spawn_blocking(move || {
            rx.recv_timeout(std::time::Duration::from_secs(60))
        })
        .await
        .unwrap()
        .expect("the server did not exit after SIGTERM");
        assert!(clean, "{log}");
        let e = long.await.unwrap().unwrap_err();
        assert_eq!(code(&e), "57P01", "{e}");
    });
}
