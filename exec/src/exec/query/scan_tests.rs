//! Table scans read in chunks (`chunked::ChunkedScan`): results across chunk boundaries,
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

/// Checks that `q` answers the same with `{t}` as the table `t`, whose scan streams, and as
/// `(SELECT * FROM t) t`, made whole first; and that it answers something.
fn streamed_as_held(s: &mut crate::Session, q: &str) {
    let streamed = sorted_rows(s, &q.replace("{t}", "t"));
    let held = sorted_rows(s, &q.replace("{t}", "(SELECT * FROM t) t"));
    assert_eq!(streamed, held, "{q}");
    assert!(!streamed.is_empty(), "{q}");
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
        streamed_as_held(&mut s, q);
    }
}

#[test]
fn joins_stream_into_their_consumers_with_the_answers_of_held_rows() {
    let engine = engine();
    let mut s = engine.session("postgres", "postgres");
    run(
        &mut s,
        "CREATE TABLE t (id int PRIMARY KEY, g int, v numeric(8,2));
         CREATE TABLE u (g int PRIMARY KEY, name text);
         CREATE TABLE w (id int PRIMARY KEY, t_id int);
         CREATE INDEX w_t ON w (t_id);
         INSERT INTO t SELECT x, x % 13, x / 3.0 FROM generate_series(1, 5000) x;
         INSERT INTO u SELECT x, 'g' || x FROM generate_series(0, 9) x;
         INSERT INTO w SELECT x, x * 3 FROM generate_series(1, 2500) x;
         ANALYZE;",
    );
    // `t` as a table streams as the join's left side, chunk by chunk, into the aggregation
    // or the filter above; `(SELECT * FROM t) t` is made whole first. Same answers: inner,
    // outer (unmatched rows on either side across chunks), USING, index lookups, LATERAL.
    for q in [
        "SELECT u.name, count(*), sum(v) FROM {t} JOIN u ON u.g = t.g GROUP BY u.name",
        "SELECT count(*), count(u.g), sum(t.id) FROM {t} LEFT JOIN u ON u.g = t.g",
        "SELECT count(*), count(t.id), min(u.name) FROM {t} RIGHT JOIN u ON u.g = t.g + 5",
        "SELECT count(*), count(t.id), count(u.g) FROM {t} FULL JOIN u ON u.g = t.g - 5",
        "SELECT g, count(*) FROM {t} JOIN u USING (g) WHERE v > 100 GROUP BY g",
        "SELECT t.id, w.id FROM {t} JOIN w ON w.t_id = t.id WHERE t.id % 500 = 0",
        "SELECT count(*), sum(x.n) FROM {t}, LATERAL (SELECT t.g * 2 AS n) x WHERE t.id > 4000",
        "SELECT t.id, u.name FROM {t} JOIN u ON u.g = t.g JOIN w ON w.t_id = t.id \
         WHERE t.id > 7400 OR (t.id < 40 AND u.name <> 'g1')",
    ] {
        streamed_as_held(&mut s, q);
    }
    // A join whose rows, held, would pass the statement's memory budget aggregates within
    // it: only a chunk of them is held at a time.
    let join = "SELECT count(*) || '/' || sum(a.v + b.v) FROM t a JOIN t b ON b.g = a.g \
                WHERE b.id <= 1000";
    let unlimited = run(&mut s, join);
    engine.query_memory.set_limit(1 << 20);
    assert_eq!(run(&mut s, join), unlimited);
    assert!(
        unlimited.as_deref().is_some_and(|r| r.starts_with("384")),
        "{unlimited:?}"
    );
    let held = "SELECT count(*) FROM (SELECT a.v, b.v FROM t a JOIN t b ON b.g = a.g \
                WHERE b.id <= 1000 OFFSET 0) x";
    let err = crate::parse(held)
        .ok()
        .and_then(|mut st| s.execute(&st.remove(0), &[]).err());
    assert_eq!(
        err.map(|e| e.sqlstate().to_string()).as_deref(),
        Some("53200")
    );
}
