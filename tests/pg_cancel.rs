//! CancelRequests (psql's Ctrl-C, tokio-postgres's cancel token) against the real server: a
//! long query fails with 57014 and its connection goes on, whichever worker the cancel's own
//! connection lands on (with one worker, the very one running the query: the rescuer accepts
//! for it); a statement waiting for a row lock is cancelled and its block fails; a cancel
//! between statements does nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::pg::{code, connect, rt, simple};
use common::Server;
use tokio_postgres::{Client, NoTls};

/// 800³ rows: seconds of work (18 s on a 2-vCPU machine), far longer than a cancel takes.
const LONG: &str = "SELECT count(*) FROM big a, big b, big c";

async fn make_big(c: &Client) {
    c.batch_execute(
        "CREATE TABLE big (id int PRIMARY KEY);
         INSERT INTO big SELECT a.id * 100 + b.id FROM (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) a(id), (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) b(id);
         INSERT INTO big SELECT id + 1000 FROM big; INSERT INTO big SELECT id + 2000 FROM big;
         INSERT INTO big SELECT id + 4000 FROM big;
         -- A cancel that never lands fails the test in a minute, not a hang.
         SET statement_timeout = '60s'",
    )
    .await
    .unwrap();
}

/// `e` is a CancelRequest's error (not statement_timeout's, which shares its SQLSTATE).
fn assert_cancelled(e: &tokio_postgres::Error) {
    assert_eq!(code(e), "57014", "{e}");
    let message = e.as_db_error().map(|d| d.message().to_string());
    assert_eq!(
        message.as_deref(),
        Some("canceling statement due to user request")
    );
}

/// Sends `c`'s session a CancelRequest after `after`, and again every 200 ms until the
/// returned flag is set: a cancel that lands before the statement has begun (a slow machine
/// may start it late) finds nothing to cancel, as in PostgreSQL.
fn cancel_until_done(
    c: &Client,
    after: Duration,
) -> (
    Arc<AtomicBool>,
    tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
) {
    let token = c.cancel_token();
    let done = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&done);
    let canceler = tokio::spawn(async move {
        tokio::time::sleep(after).await;
        while !flag.load(Ordering::SeqCst) {
            token.cancel_query(NoTls).await?;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    });
    (done, canceler)
}

/// Cancels `LONG` on `c` after `after`, and checks the error and that `c` goes on.
async fn cancel_long_query(c: &Client, after: Duration) {
    let (done, canceler) = cancel_until_done(c, after);
    let e = c.simple_query(LONG).await.unwrap_err();
    done.store(true, Ordering::SeqCst);
    assert_cancelled(&e);
    canceler.await.unwrap().unwrap();
    assert_eq!(
        simple(c, "SELECT count(*) FROM big").await[0][0].as_deref(),
        Some("800")
    );
}

fn long_queries_are_cancelled(threads: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), &["--threads", threads]);
    rt().block_on(async {
        let c = connect(&server).await;
        make_big(&c).await;
        // New connections each round: the kernel spreads them over the workers' listeners.
        for _ in 0..4 {
            cancel_long_query(&c, Duration::from_millis(300)).await;
        }
        // The server still takes new sessions and runs their statements.
        let other = connect(&server).await;
        assert_eq!(simple(&other, "SELECT 1").await[0][0].as_deref(), Some("1"));
    });
    let (clean, log) = server.stop();
    assert!(clean, "{log}");
}

#[test]
fn a_long_query_is_cancelled_with_two_workers() {
    long_queries_are_cancelled("2");
}

#[test]
fn a_long_query_is_cancelled_on_the_only_worker() {
    long_queries_are_cancelled("1");
}

#[test]
fn a_lock_wait_is_cancelled_and_a_cancel_between_statements_does_nothing() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let a = connect(&server).await;
        let b = connect(&server).await;
        make_big(&a).await;
        // Idle: nothing to cancel, and the next statement runs as usual.
        b.cancel_token().cancel_query(NoTls).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            simple(&b, "SELECT count(*) FROM big").await[0][0].as_deref(),
            Some("800")
        );
        // b waits for a's row lock, in a block, and is cancelled.
        a.batch_execute("BEGIN; UPDATE big SET id = -1 WHERE id = 1")
            .await
            .unwrap();
        b.batch_execute("SET statement_timeout = '60s'; BEGIN")
            .await
            .unwrap();
        let (done, canceler) = cancel_until_done(&b, Duration::from_millis(300));
        let e = b
            .batch_execute("UPDATE big SET id = -2 WHERE id = 1")
            .await
            .unwrap_err();
        done.store(true, Ordering::SeqCst);
        assert_cancelled(&e);
        canceler.await.unwrap().unwrap();
        // The block failed, as after any error.
        let e = b.batch_execute("SELECT 1").await.unwrap_err();
        assert_eq!(code(&e), "25P02", "{e}");
        b.batch_execute("ROLLBACK").await.unwrap();
        a.batch_execute("COMMIT").await.unwrap();
        assert_eq!(
            simple(&b, "SELECT count(*) FROM big WHERE id = -1").await[0][0].as_deref(),
            Some("1")
        );
    });
}
