//! Eager aggregation (`eager`) answers as the join grouped after it does: the same rows
//! (unmatched left rows, NULL keys on both sides, rows the ON condition drops, every
//! aggregate it takes), column names and types; it is taken only for its shape.
#![allow(clippy::unwrap_used)]

use crate::test_support::{engine, explain, last_rows, sorted_rows};

/// Customers (some without orders, one with a NULL key), orders (some of no customer, some
/// with a NULL customer, some the ON condition drops), and a two-column-key pair.
fn loaded() -> (std::sync::Arc<crate::engine::SqlEngine>, crate::Session) {
    let engine = engine();
    let mut s = engine.session("postgres", "postgres");
    last_rows(
        &mut s,
        "CREATE TABLE cust (id int PRIMARY KEY, ref int, name text, grp int);
         INSERT INTO cust SELECT x, CASE WHEN x = 7 THEN NULL ELSE x END, 'c' || x, x % 3
           FROM generate_series(1, 40) x;
         CREATE TABLE ord (k int PRIMARY KEY, cref int, amount numeric(10,2), note text, q int);
         INSERT INTO ord SELECT x, CASE WHEN x % 11 = 0 THEN NULL ELSE x % 50 END,
           (x % 17) * 1.5, CASE WHEN x % 4 = 0 THEN 'special requests' ELSE 'plain' END,
           CASE WHEN x % 5 = 0 THEN NULL ELSE x % 9 END
           FROM generate_series(1, 600) x;
         CREATE TABLE a (p int, r int, v text, PRIMARY KEY (p, r));
         INSERT INTO a SELECT x % 5, x, 'a' FROM generate_series(1, 30) x;
         CREATE TABLE b (bp int, br int, w int);
         INSERT INTO b SELECT x % 5, x % 31, x FROM generate_series(1, 200) x;
         ANALYZE",
    );
    (engine, s)
}

/// Queries of the shape, each beside one that cannot take the rewrite (a WHERE that keeps
/// every row) and so plans the join grouped after it.
const SHAPED: &[&str] = &[
    "SELECT id, count(k) AS c_count FROM cust LEFT OUTER JOIN ord ON ref = cref \
     AND note NOT LIKE '%special%requests%' GROUP BY id",
    "SELECT c.id, c.name, count(*), count(o.q), sum(o.amount), avg(o.amount), min(o.note), \
     max(o.q) FROM cust c LEFT JOIN ord o ON o.cref = c.ref GROUP BY c.id, c.name",
    "SELECT id, grp, sum(q * 2 + 1), count(DISTINCT q) FROM cust LEFT JOIN ord \
     ON cref = ref AND (q > 2 OR q IS NULL) GROUP BY id, grp",
    "SELECT a.p, a.r, count(w), sum(w) AS total FROM a LEFT JOIN b ON b.bp = a.p \
     AND a.r = b.br AND w < 150 GROUP BY a.p, a.r",
    // Not rewritten: aggregates that count an unmatched row's NULLs (a constant, IS NULL,
    // coalesce), and a window over the groups.
    "SELECT c.id, count(1), sum(1), count(o.q IS NULL), max(coalesce(o.q, 0)), sum(-o.q + 1) \
     FROM cust c LEFT JOIN ord o ON o.cref = c.ref GROUP BY c.id",
    "SELECT id, count(k), rank() OVER (ORDER BY count(*) DESC, id) FROM cust LEFT JOIN ord \
     ON ref = cref GROUP BY id",
];

#[test]
fn eager_aggregation_answers_as_the_join_grouped_after_it() {
    let (_engine, mut s) = loaded();
    for q in SHAPED {
        let (head, tail) = q.split_once(" GROUP BY ").unwrap();
        let plain = format!("{head} WHERE true GROUP BY {tail}");
        let want = sorted_rows(&mut s, &plain);
        assert_eq!(sorted_rows(&mut s, q), want, "{q}");
        assert!(!want.is_empty(), "{q}");
    }
    // A float column joined with a numeric one compares through floats: both numerics
    // match the one row, as without the rewrite (which is not taken).
    last_rows(
        &mut s,
        "CREATE TABLE fl (id int PRIMARY KEY, f float8); INSERT INTO fl VALUES (1, 0.1);
         CREATE TABLE nm (b numeric); INSERT INTO nm VALUES (0.1), (0.10000000000000000001)",
    );
    assert_eq!(
        last_rows(
            &mut s,
            "SELECT id, count(b) FROM fl LEFT JOIN nm ON f = b GROUP BY id"
        ),
        ["1,2"]
    );
    // Unmatched customers count 0 (count(x)) and 1 (count(*)), and sum NULL; customer 7's
    // NULL key matches nothing.
    assert_eq!(
        last_rows(
            &mut s,
            "SELECT id, count(k), count(*), sum(amount) FROM cust LEFT JOIN ord ON ref = cref \
             AND k < 0 GROUP BY id ORDER BY 1 LIMIT 1"
        ),
        ["1,0,1,NULL"]
    );
}

#[test]
fn eager_aggregation_is_taken_for_its_shape_only() {
    let (_engine, mut s) = loaded();
    // Taken: the aggregation is below the join, and none is above it.
    let plan = explain(&mut s, SHAPED[0]);
    let (join, agg) = (plan.find("Left Join"), plan.find("Aggregate"));
    assert!(join.is_some() && agg > join, "{plan}");
    // Names and types as written: count's column is a bigint named by its alias or `count`.
    last_rows(
        &mut s,
        "CREATE TABLE made AS SELECT id, count(k) AS c_count, count(*), sum(amount) \
         FROM cust LEFT JOIN ord ON ref = cref GROUP BY id",
    );
    assert_eq!(
        last_rows(
            &mut s,
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_name = 'made' ORDER BY ordinal_position"
        ),
        [
            "id,integer",
            "c_count,bigint",
            "count,bigint",
            "sum,numeric"
        ]
    );
    // Not taken: grouped without the left side's key, an aggregate over the left side, a
    // condition across both sides, an inner join.
    for q in [
        "SELECT grp, count(k) FROM cust LEFT JOIN ord ON ref = cref GROUP BY grp",
        "SELECT id, count(k), max(name) FROM cust LEFT JOIN ord ON ref = cref GROUP BY id",
        "SELECT id, count(k) FROM cust LEFT JOIN ord ON ref = cref AND q < id GROUP BY id",
        "SELECT id, count(k) FROM cust JOIN ord ON ref = cref GROUP BY id",
    ] {
        let plan = explain(&mut s, q);
        let (join, agg) = (plan.find("Join"), plan.find("Aggregate"));
        assert!(agg < join, "{q}\n{plan}");
    }
}
