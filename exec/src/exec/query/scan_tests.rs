//! Table scans read in chunks (`access::ChunkedScan`): results across chunk boundaries,
//! filters that run subqueries between chunks, range bounds, and FOR UPDATE.
#![allow(clippy::unwrap_used)]

use crate::test_support::{engine, run, sorted_rows};

#[test]
fn chunked_scans_cover_every_row_once() {
    let engine = engine();
    let mut s = engine.session("postgres", "postgres");
    run(
        &mut s,
        "CREATE TABLE t (id int PRIMARY KEY, g int);
         CREATE TABLE h (g int PRIMARY KEY);
         INSERT INTO t SELECT x, x % 10 FROM generate_series(1, 5000) x;
         INSERT INTO h VALUES (3), (7);",
    );
    // Several chunks, every row once.
    assert_eq!(
        run(&mut s, "SELECT count(*) || '/' || sum(id) FROM t").as_deref(),
        Some("5000/12502500")
    );
    // A filter whose subqueries run between chunks (correlated and not).
    assert_eq!(
        run(
            &mut s,
            "SELECT count(*) FROM t WHERE EXISTS (SELECT 1 FROM h WHERE h.g = t.g) \
             AND id > (SELECT min(g) FROM h)"
        )
        .as_deref(),
        Some("999")
    );
    // Range scans resume inside their bounds.
    assert_eq!(
        run(&mut s, "SELECT count(*) || '/' || min(id) || '/' || max(id) FROM t WHERE id > 1000 AND id <= 3500").as_deref(),
        Some("2500/1001/3500")
    );
    // FOR UPDATE locks every chunk's rows: a second transaction cannot take one.
    run(&mut s, "BEGIN");
    assert_eq!(
        run(
            &mut s,
            "SELECT count(*) FROM (SELECT id FROM t WHERE g = 4 FOR UPDATE) x"
        )
        .as_deref(),
        Some("500")
    );
    let mut other = engine.session("postgres", "postgres");
    run(&mut other, "SET lock_timeout = '50ms'");
    let stmt = crate::parse("UPDATE t SET g = 0 WHERE id = 4994")
        .unwrap()
        .remove(0);
    let err = other
        .execute(&stmt, &[])
        .err()
        .map(|e| e.sqlstate().to_string());
    assert!(err.is_some(), "row 4994 (last chunk) was not locked");
    run(&mut s, "COMMIT");
}

#[test]
fn aggregation_fed_by_chunks_matches_aggregation_of_held_rows() {
    let engine = engine();
    let mut s = engine.session("postgres", "postgres");
    run(
        &mut s,
        "CREATE TABLE t (id int PRIMARY KEY, g int, v numeric(8,2));
         INSERT INTO t SELECT x, x % 7, x / 3.0 FROM generate_series(1, 5000) x;",
    );
    // A table source streams into the aggregation; a subquery source hands it held rows.
    for q in [
        "SELECT g, count(*), sum(v), min(id), max(v) FROM {t} WHERE id % 2 = 0 GROUP BY g HAVING count(*) > 300",
        "SELECT count(DISTINCT g), string_agg(g::text, '' ORDER BY id DESC) FILTER (WHERE id > 4990) FROM {t}",
        "SELECT sum(v) FROM {t} WHERE id < 0",
        "SELECT g, rank() OVER (ORDER BY sum(v) DESC) FROM {t} GROUP BY g",
    ] {
        let streamed = sorted_rows(&mut s, &q.replace("{t}", "t"));
        let held = sorted_rows(&mut s, &q.replace("{t}", "(SELECT * FROM t) t"));
        assert_eq!(streamed, held, "{q}");
        assert!(!streamed.is_empty(), "{q}");
    }
}
