//! Sessions reaching each other and sleeping, against the real server: pg_backend_pid is the
//! pid the client was given (BackendKeyData); pg_sleep sleeps and stops at statement_timeout,
//! a CancelRequest or pg_cancel_backend from another session; pg_terminate_backend closes a
//! session with FATAL 57P01, idle or in the middle of a statement.
//!
//! A sleeping session holds its worker thread, as any long statement does: the sessions that
//! signal it connect after it started sleeping, so a free worker or the rescuer serves them.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::pg::{code, connect, connect_watched, connect_watched_to, rt, simple, ConnTask};
use common::Server;
use tokio_postgres::{Client, NoTls};

async fn pid(c: &Client) -> i32 {
    c.query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
}

/// The message of a database error.
fn message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string())
}

/// Signals (`signal`) every 200 ms until `task` ends: a cancel sent before its statement
/// starts is dropped, as in PostgreSQL, so one is not enough on a slow machine.
async fn signal_until_done<T, F, Fut>(task: &tokio::task::JoinHandle<T>, mut signal: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !task.is_finished() {
        assert!(Instant::now() < deadline, "the statement was never stopped");
        signal().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How a connection task ended, waiting at most 30 s for the server to close it.
async fn closed(conn: ConnTask) -> Result<(), tokio_postgres::Error> {
    tokio::time::timeout(Duration::from_secs(30), conn)
        .await
        .unwrap()
        .unwrap()
}

/// The error of a statement stopped by pg_terminate_backend.
fn assert_terminated(e: &tokio_postgres::Error) {
    assert_eq!(code(e), "57P01", "{e}");
    let db = e.as_db_error().unwrap();
    assert_eq!(db.severity(), "FATAL");
    assert_eq!(
        db.message(),
        "terminating connection due to administrator command"
    );
}

#[test]
fn pg_sleep_sleeps_until_its_time_a_timeout_or_a_cancel() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let a = connect(&server).await;
        // Its one row holds the void value, an empty string.
        let started = Instant::now();
        let rows = simple(&a, "SELECT pg_sleep(0.3), pg_typeof(pg_sleep(0))").await;
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(rows, vec![vec![Some(String::new()), Some("void".into())]]);
        // Volatile: once per row.
        let started = Instant::now();
        simple(&a, "SELECT pg_sleep(0.1) FROM generate_series(1, 3)").await;
        assert!(started.elapsed() >= Duration::from_millis(300));
        let started = Instant::now();
        simple(
            &a,
            "SELECT pg_sleep_for('200 ms'), pg_sleep(-1), pg_sleep(NULL)",
        )
        .await;
        assert!(started.elapsed() >= Duration::from_millis(200));
        // Inside a block now() stays the block's start; statement_timestamp() is each
        // statement's and clock_timestamp() moves within one.
        a.batch_execute("BEGIN").await.unwrap();
        let first = simple(&a, "SELECT now()::text").await;
        simple(&a, "SELECT pg_sleep(0.05)").await;
        let sql = format!(
            "SELECT now() = '{}', statement_timestamp() > now(), \
             clock_timestamp() >= statement_timestamp()",
            first[0][0].as_deref().unwrap()
        );
        let t = Some("t".to_string());
        assert_eq!(simple(&a, &sql).await, vec![vec![t.clone(), t.clone(), t]]);
        a.batch_execute("COMMIT").await.unwrap();
        // statement_timeout stops it.
        let e = a
            .batch_execute("SET statement_timeout = '200ms'; SELECT pg_sleep(60)")
            .await
            .unwrap_err();
        assert_eq!(code(&e), "57014", "{e}");
        assert_eq!(message(&e), "canceling statement due to statement timeout");
        a.batch_execute("SET statement_timeout = 0").await.unwrap();
        // A CancelRequest stops it.
        let token = a.cancel_token();
        let sleeper = tokio::spawn(async move {
            let e = a.simple_query("SELECT pg_sleep(600)").await;
            (a, e)
        });
        signal_until_done(&sleeper, || {
            let token = token.clone();
            async move { token.cancel_query(NoTls).await.unwrap() }
        })
        .await;
        let (a, e) = sleeper.await.unwrap();
        let e = e.unwrap_err();
        assert_eq!(code(&e), "57014", "{e}");
        assert_eq!(message(&e), "canceling statement due to user request");
        // So does pg_cancel_backend from another session (connected once the sleep holds
        // its worker), even of an endless sleep.
        let pid_a = pid(&a).await;
        let sleeper = tokio::spawn(async move {
            let e = a.simple_query("SELECT pg_sleep('infinity')").await;
            (a, e)
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let b = connect(&server).await;
        assert_ne!(pid_a, pid(&b).await);
        let sql = format!("SELECT pg_cancel_backend({pid_a})");
        let (b_ref, sql_ref) = (&b, &sql);
        signal_until_done(&sleeper, move || async move {
            assert_eq!(simple(b_ref, sql_ref).await[0][0].as_deref(), Some("t"));
        })
        .await;
        let (a, e) = sleeper.await.unwrap();
        assert_eq!(code(&e.unwrap_err()), "57014");
        // The session goes on; cancelling oneself cancels the statement; a pid no session
        // has is refused.
        assert_eq!(simple(&a, "SELECT 1").await[0][0].as_deref(), Some("1"));
        let e = a
            .simple_query("SELECT pg_cancel_backend(pg_backend_pid())")
            .await
            .unwrap_err();
        assert_eq!(message(&e), "canceling statement due to user request");
        assert_eq!(simple(&a, "SELECT 2").await[0][0].as_deref(), Some("2"));
        let rows = simple(&a, "SELECT pg_cancel_backend(-5), pg_terminate_backend(-5)").await;
        assert_eq!(rows, vec![vec![Some("f".into()), Some("f".into())]]);
        let e = a
            .simple_query("SELECT pg_terminate_backend(-5, -1)")
            .await
            .unwrap_err();
        assert_eq!(code(&e), "22023", "{e}");
    });
}

#[test]
fn pg_terminate_backend_closes_a_session_idle_or_busy() {
    // One worker: the sleeping session holds it, and the rescuer serves the terminator.
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), &["--threads", "1"]);
    rt().block_on(async {
        let a = connect(&server).await;
        // Idle: its connection is closed with FATAL 57P01 at once.
        let (idle, idle_conn) = connect_watched(&server).await;
        let sql = format!("SELECT pg_terminate_backend({})", pid(&idle).await);
        assert_eq!(simple(&a, &sql).await[0][0].as_deref(), Some("t"));
        let ended = closed(idle_conn).await;
        assert_terminated(&ended.unwrap_err());
        assert!(idle.is_closed());
        // Busy: its statement stops with the same error; with a timeout the caller waits
        // until the session is gone.
        let (busy, busy_conn) = connect_watched(&server).await;
        let pid_busy = pid(&busy).await;
        let sleeper = tokio::spawn(async move {
            let e = busy.simple_query("SELECT pg_sleep(60)").await;
            (busy, e)
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let rescued = connect(&server).await;
        let sql = format!("SELECT pg_terminate_backend({pid_busy}, 30000)");
        assert_eq!(simple(&rescued, &sql).await[0][0].as_deref(), Some("t"));
        let (busy, e) = sleeper.await.unwrap();
        assert_terminated(&e.unwrap_err());
        // One FATAL only: a second, unsolicited, would end the connection task with it.
        let ended = closed(busy_conn).await;
        let second = ended.as_ref().err().and_then(|e| e.as_db_error());
        assert!(second.is_none(), "{ended:?}");
        assert!(busy.is_closed());
        // A session may end itself: its statement fails with the session.
        let (own, own_conn) = connect_watched(&server).await;
        let e = own
            .simple_query("SELECT pg_terminate_backend(pg_backend_pid())")
            .await
            .unwrap_err();
        assert_terminated(&e);
        let ended = closed(own_conn).await;
        let second = ended.as_ref().err().and_then(|e| e.as_db_error());
        assert!(second.is_none(), "{ended:?}");
        assert!(own.is_closed());
        // Its pid is no session's now.
        let sql = format!("SELECT pg_cancel_backend({pid_busy})");
        assert_eq!(simple(&a, &sql).await[0][0].as_deref(), Some("f"));
        assert_eq!(simple(&a, "SELECT 1").await[0][0].as_deref(), Some("1"));
    });
    let (clean, log) = server.stop();
    assert!(clean, "{log}");
}

#[test]
fn pg_stat_activity_shows_each_session_and_is_what_terminations_select_from() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let a = connect(&server).await;
        let b = connect(&server).await;
        let pid_b = pid(&b).await;
        b.batch_execute("SET application_name = 'orbit-test'")
            .await
            .unwrap();
        b.batch_execute("CREATE DATABASE other").await.unwrap();
        b.batch_execute("BEGIN").await.unwrap();
        b.simple_query("SELECT 42").await.unwrap();
        let sql = format!(
            "SELECT datname, usename, application_name, state, query, backend_type, \
             xact_start IS NOT NULL, backend_start <= query_start \
             FROM pg_stat_activity WHERE pid = {pid_b}"
        );
        let row = |v: &[&str]| vec![v.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>()];
        let expect = [
            "postgres",
            "postgres",
            "orbit-test",
            "idle in transaction",
            "SELECT 42",
            "client backend",
            "t",
            "t",
        ];
        assert_eq!(simple(&a, &sql).await, row(&expect));
        // A failed block, then none.
        b.simple_query("SELECT 1/0").await.unwrap_err();
        let sql =
            format!("SELECT state, xact_start IS NULL FROM pg_stat_activity WHERE pid = {pid_b}");
        let state = simple(&a, &sql).await;
        assert_eq!(state, row(&["idle in transaction (aborted)", "f"]));
        b.batch_execute("ROLLBACK").await.unwrap();
        assert_eq!(simple(&a, &sql).await, row(&["idle", "t"]));
        // The asking session is active, running the query that asks.
        let own = simple(
            &a,
            "SELECT state, query LIKE '%pg_stat_activity%' FROM pg_stat_activity \
             WHERE pid = pg_backend_pid()",
        )
        .await;
        assert_eq!(own, row(&["active", "t"]));
        // Stable functions evaluate outside queries too (RETURNING).
        let rows = simple(
            &a,
            "CREATE TABLE seen (pid int, at timestamptz); \
             INSERT INTO seen VALUES (pg_backend_pid(), statement_timestamp()) \
             RETURNING pid = pg_backend_pid(), at = statement_timestamp()",
        )
        .await;
        assert_eq!(rows, row(&["t", "t"]));
        // The usual way to empty a database before dropping it.
        let (c, c_conn) = connect_watched_to(&server, "other").await;
        c.simple_query("SELECT 1").await.unwrap();
        let e = a.batch_execute("DROP DATABASE other").await.unwrap_err();
        assert_eq!(code(&e), "55006", "{e}");
        let terminated = simple(
            &a,
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = 'other' AND pid <> pg_backend_pid()",
        )
        .await;
        assert_eq!(terminated, row(&["1"]));
        a.batch_execute("DROP DATABASE other").await.unwrap();
        let ended = closed(c_conn).await;
        assert_terminated(&ended.unwrap_err());
    });
}
