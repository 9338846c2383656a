//! LIMIT and EXISTS stop the scans under them once they have their rows (`run::limit`), and
//! give the same rows as reading everything would.
#![allow(clippy::unwrap_used)]

use crate::exec::query::profile_tests::{counts, line};
use crate::test_support::{engine, explain, last_rows, run};

fn setup() -> (std::sync::Arc<crate::SqlEngine>, crate::Session) {
    let engine = engine();
    let mut s = engine.session("postgres", "postgres");
    run(
        &mut s,
        "CREATE TABLE t (id int PRIMARY KEY, v int, g int);
         INSERT INTO t SELECT x, x * 7 % 5000, x % 50 FROM generate_series(1, 5000) x;
         CREATE INDEX t_g ON t (g);
         CREATE TABLE o (id int PRIMARY KEY);
         INSERT INTO o SELECT x FROM generate_series(1, 60) x;",
    );
    (engine, s)
}

/// The rows the first node named `node` produced in `sql`'s EXPLAIN ANALYZE.
fn produced(s: &mut crate::Session, sql: &str, node: &str) -> u64 {
    let plan = explain(s, &format!("ANALYZE {sql}"));
    counts(line(&plan, node)).unwrap().0
}

#[test]
fn a_limit_reads_only_the_rows_it_returns() {
    let (_e, mut s) = setup();
    // 5,000 rows read before, for a LIMIT of 3.
    assert_eq!(
        produced(&mut s, "SELECT * FROM t LIMIT 3", "Seq Scan on t"),
        3
    );
    assert_eq!(
        produced(&mut s, "SELECT * FROM t LIMIT 3 OFFSET 4", "Seq Scan on t"),
        7
    );
    assert_eq!(
        last_rows(&mut s, "SELECT id FROM t LIMIT 3 OFFSET 4"),
        ["5", "6", "7"]
    );
    // A filter: chunks grow until enough rows pass.
    let q = "SELECT id FROM t WHERE v % 3 = 0 LIMIT 4 OFFSET 1";
    assert!(produced(&mut s, q, "Seq Scan on t") < 100);
    let all = last_rows(&mut s, "SELECT id FROM t WHERE v % 3 = 0 ORDER BY id");
    assert_eq!(last_rows(&mut s, q), all[1..5]);
    // A secondary index scan fetches its rows as they are wanted (100 match).
    let q = "SELECT id FROM t WHERE g = 7 LIMIT 2";
    assert_eq!(produced(&mut s, q, "Index Scan using t_g on t"), 2);
    assert_eq!(last_rows(&mut s, q), ["7", "57"]);
    // A join's left side stops once the join has handed on a chunk (its first 1,024 rows
    // make 1,004 joined rows: two chunks are read of 5,000 rows).
    let q = "SELECT t.id, o.id FROM t JOIN o ON o.id = t.g LIMIT 5";
    assert_eq!(last_rows(&mut s, q).len(), 5);
    let plan = explain(&mut s, &format!("ANALYZE {q}"));
    assert!(
        counts(line(&plan, "Seq Scan on t")).unwrap().0 == 2048,
        "{plan}"
    );
    // LIMIT 0 reads nothing it returns.
    assert!(last_rows(&mut s, "SELECT * FROM t LIMIT 0").is_empty());
}

#[test]
fn what_must_see_every_row_still_does() {
    let (_e, mut s) = setup();
    // ORDER BY, aggregation, DISTINCT and window functions need all rows first.
    assert_eq!(
        last_rows(&mut s, "SELECT v FROM t ORDER BY v DESC LIMIT 1"),
        ["4999"]
    );
    assert_eq!(
        produced(
            &mut s,
            "SELECT v FROM t ORDER BY v DESC LIMIT 1",
            "Seq Scan on t"
        ),
        5000
    );
    assert_eq!(
        last_rows(&mut s, "SELECT count(*) FROM t LIMIT 1"),
        ["5000"]
    );
    assert_eq!(
        last_rows(
            &mut s,
            "SELECT count(*) FROM (SELECT DISTINCT g FROM t LIMIT 60) d"
        ),
        ["50"]
    );
    assert_eq!(
        last_rows(&mut s, "SELECT count(*) OVER () FROM t LIMIT 1"),
        ["5000"]
    );
    assert_eq!(
        last_rows(&mut s, "SELECT max(id) FROM (SELECT id FROM t LIMIT 10) x"),
        ["10"]
    );
}

#[test]
fn exists_stops_at_its_first_row_and_keeps_its_limits() {
    let (_e, mut s) = setup();
    let count = |s: &mut crate::Session, cond: &str| {
        last_rows(s, &format!("SELECT count(*) FROM o WHERE {cond}"))
    };
    // Correlated, by the secondary index: 1..=49 have rows with g = o.id.
    assert_eq!(
        count(&mut s, "EXISTS (SELECT * FROM t WHERE t.g = o.id)"),
        ["49"]
    );
    assert_eq!(
        count(&mut s, "NOT EXISTS (SELECT * FROM t WHERE t.g = o.id)"),
        ["11"]
    );
    // Its own LIMIT and OFFSET still count: 100 rows per g, none past the 100th.
    assert_eq!(
        count(&mut s, "EXISTS (SELECT 1 FROM t WHERE t.g = o.id LIMIT 0)"),
        ["0"]
    );
    assert_eq!(
        count(
            &mut s,
            "EXISTS (SELECT 1 FROM t WHERE t.g = o.id OFFSET 99)"
        ),
        ["49"]
    );
    assert_eq!(
        count(
            &mut s,
            "EXISTS (SELECT 1 FROM t WHERE t.g = o.id OFFSET 100)"
        ),
        ["0"]
    );
    // Conditions on the rows found and on the outer row, against the same question asked
    // with IN.
    let by_in = count(
        &mut s,
        "o.id IN (SELECT g FROM t WHERE v < 200 AND g <= 10)",
    );
    assert_eq!(
        count(
            &mut s,
            "EXISTS (SELECT 1 FROM t WHERE t.g = o.id AND v < 200 AND o.id <= 10)"
        ),
        by_in
    );
    // A recursive WITH query read twice is run whole once: a LIMIT or EXISTS over one
    // reference takes its first rows, and the other reference still sees all five.
    for q in [
        "SELECT x.n, (SELECT count(*) FROM r) FROM (SELECT n FROM r LIMIT 1) x",
        "SELECT EXISTS (SELECT 1 FROM r), (SELECT count(*) FROM r)",
    ] {
        let q = format!(
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) {q}"
        );
        let first = if q.contains("EXISTS") { "t" } else { "1" };
        assert_eq!(last_rows(&mut s, &q), [format!("{first},5")], "{q}");
    }
    // Uncorrelated: asked once, and one row answers it.
    let q = "SELECT count(*) FROM o WHERE EXISTS (SELECT 1 FROM t WHERE v > 10)";
    assert_eq!(last_rows(&mut s, q), ["60"]);
    assert!(produced(&mut s, q, "Seq Scan on t") < 100);
    assert_eq!(
        count(&mut s, "NOT EXISTS (SELECT 1 FROM t WHERE v > 5000)"),
        ["60"]
    );
    // Rows deleted after the index entries were written are not found.
    run(&mut s, "DELETE FROM t WHERE g = 5");
    assert_eq!(
        count(&mut s, "EXISTS (SELECT * FROM t WHERE t.g = o.id)"),
        ["48"]
    );
}
