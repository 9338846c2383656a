//! `FOR UPDATE NOWAIT` fails at once on a row another open transaction holds locked, with
//! PostgreSQL's 55P03; `FOR UPDATE SKIP LOCKED` leaves such rows out, so job-queue workers
//! polling `ORDER BY id LIMIT 1` each take a different job; plain `FOR UPDATE` waits.
#![allow(clippy::unwrap_used)]

use crate::test_support::{engine, last_rows, run};

/// The error `sql` (one statement) fails with.
fn error(s: &mut crate::Session, sql: &str) -> crate::Error {
    let stmt = crate::parse(sql).unwrap().remove(0);
    match s.execute(&stmt, &[]) {
        Ok(_) => panic!("{sql}: no error"),
        Err(e) => e,
    }
}

#[test]
fn nowait_fails_and_skip_locked_takes_the_next_free_row() {
    let engine = engine();
    let mut a = engine.session("postgres", "postgres");
    let mut b = engine.session("postgres", "postgres");
    run(
        &mut a,
        "CREATE TABLE jobs (id int PRIMARY KEY, done bool NOT NULL DEFAULT false);
         INSERT INTO jobs SELECT g FROM generate_series(1, 3000) g",
    );
    let poll = "SELECT id FROM jobs WHERE NOT done ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED";
    run(&mut a, "BEGIN");
    assert_eq!(last_rows(&mut a, poll), ["1"]);
    // A worker takes the next job, not a locked one, and a third the one after.
    run(&mut b, "BEGIN");
    assert_eq!(last_rows(&mut b, poll), ["2"]);
    let mut c = engine.session("postgres", "postgres");
    run(&mut c, "BEGIN");
    assert_eq!(
        last_rows(&mut c, &poll.replace("LIMIT 1", "LIMIT 2")),
        ["3", "4"]
    );
    // Without ORDER BY too; a locked row named by its key is left out.
    assert_eq!(
        last_rows(
            &mut c,
            "SELECT id FROM jobs WHERE id IN (1, 2, 5) FOR UPDATE SKIP LOCKED"
        ),
        ["5"]
    );
    // NOWAIT: 55P03 naming the table, at once.
    let mut d = engine.session("postgres", "postgres");
    run(&mut d, "BEGIN");
    let e = error(&mut d, "SELECT id FROM jobs WHERE id = 1 FOR UPDATE NOWAIT");
    assert_eq!(e.sqlstate(), "55P03", "{e}");
    assert_eq!(
        e.to_string(),
        "could not obtain lock on row in relation \"jobs\""
    );
    assert!(!e.is_lock_busy());
    run(&mut d, "ROLLBACK");
    // A free row under NOWAIT is simply locked; plain FOR UPDATE on a held row waits (the
    // statement reports the lock busy, and its server runs it again once it may be free).
    run(&mut d, "BEGIN");
    assert_eq!(
        last_rows(
            &mut d,
            "SELECT id FROM jobs WHERE id = 10 FOR UPDATE NOWAIT"
        ),
        ["10"]
    );
    let e = error(&mut d, "SELECT id FROM jobs WHERE id = 1 FOR UPDATE");
    assert!(e.is_lock_busy(), "{e}");
    run(&mut d, "ROLLBACK");
    // Worker a marks its job done and commits: its next poll passes it as done, and 2-5 as
    // locked (a scan locks only the rows its filter keeps: d's lock of 10 went with d).
    run(&mut a, "UPDATE jobs SET done = true WHERE id = 1; COMMIT");
    run(&mut a, "BEGIN");
    assert_eq!(last_rows(&mut a, poll), ["6"]);
    assert_eq!(
        last_rows(
            &mut a,
            "SELECT id FROM jobs WHERE id % 1000 = 7 FOR UPDATE NOWAIT"
        ),
        ["7", "1007", "2007"]
    );
    for s in [&mut a, &mut b, &mut c] {
        run(s, "COMMIT");
    }
    // A LIMIT's locking scan locks the rows it returns, not the rest of its chunk: b takes
    // one even job of 3000, and c may still lock the next even one without waiting.
    run(&mut b, "BEGIN");
    assert_eq!(
        last_rows(
            &mut b,
            "SELECT id FROM jobs WHERE id % 2 = 0 AND id > 10 LIMIT 1 FOR UPDATE SKIP LOCKED"
        ),
        ["12"]
    );
    run(&mut c, "BEGIN");
    assert_eq!(
        last_rows(
            &mut c,
            "SELECT id FROM jobs WHERE id = 14 FOR UPDATE NOWAIT"
        ),
        ["14"]
    );
    // The queue's usual form: UPDATE of the row a SKIP LOCKED subquery picks.
    let claim = "UPDATE jobs SET done = true WHERE id = (SELECT id FROM jobs WHERE NOT done \
                 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id";
    run(&mut a, "BEGIN");
    let first = last_rows(&mut a, claim);
    let mut d = engine.session("postgres", "postgres");
    run(&mut d, "BEGIN");
    let second = last_rows(&mut d, claim);
    assert_eq!(first.len(), 1);
    assert_eq!(second.len(), 1);
    assert_ne!(first, second);
    for s in [&mut a, &mut b, &mut c, &mut d] {
        run(s, "COMMIT");
    }
    // The statements after a NOWAIT one wait again.
    run(&mut b, "BEGIN");
    assert_eq!(
        last_rows(&mut b, "SELECT id FROM jobs WHERE id = 2 FOR UPDATE"),
        ["2"]
    );
    run(&mut a, "BEGIN");
    let e = error(&mut a, "SELECT id FROM jobs WHERE id = 2 FOR UPDATE");
    assert!(e.is_lock_busy(), "{e}");
}
