//! Parallel aggregation (`run::parallel`) answers exactly as the scan on the statement's
//! thread does: the same rows in the same order, for every aggregate it takes, with filters,
//! range scans, FILTER clauses, HAVING and computed group keys; it is taken only where it may
//! be, and errors in a worker reach the client.
#![allow(clippy::unwrap_used)]

use crate::test_support::{engine, last_rows as rows};
use crate::Session;

/// EXPLAIN ANALYZE's text of `sql`.
fn analyzed(s: &mut Session, sql: &str) -> String {
    rows(s, &format!("EXPLAIN ANALYZE {sql}")).join("\n")
}

/// The rows EXPLAIN ANALYZE's `plan` counts for the scan of table `t`.
fn scan_rows(plan: &str) -> Option<&str> {
    let line = plan.lines().find(|l| l.contains(" on t ("))?;
    line.split(" rows=").nth(1)?.split_whitespace().next()
}

/// A table of `n` rows written to the engine's tables (a memtable gives no cut points).
fn loaded(n: i64) -> (std::sync::Arc<crate::engine::SqlEngine>, Session) {
    let engine = engine();
    let mut s = engine.session("postgres", "postgres");
    rows(
        &mut s,
        &format!(
            "CREATE TABLE t (id int PRIMARY KEY, g int, v numeric(12,2), f float8, b bool, \
             s text, n int);
             INSERT INTO t SELECT x, x % 13, (x % 1000) * 1.25, x / 7.0, x % 3 = 0, \
             'name' || (x % 101), CASE WHEN x % 5 = 0 THEN NULL ELSE x % 17 END \
             FROM generate_series(1, {n}) x"
        ),
    );
    engine.txn_db().db().flush().unwrap();
    (engine, s)
}

const QUERIES: &[&str] = &[
    "SELECT g, count(*), count(n), sum(v), avg(v), min(v), max(v), min(s), max(s), \
     bool_and(b), bool_or(b), sum(n), avg(n), min(f), max(f) FROM t GROUP BY g",
    "SELECT count(*), sum(v), avg(n), max(s) FROM t",
    "SELECT g % 4, sum(v) FILTER (WHERE b), count(*) FILTER (WHERE n > 5) FROM t \
     WHERE v > 100 GROUP BY g % 4",
    "SELECT n, count(*) FROM t WHERE id > 1000 AND id <= 17000 GROUP BY n HAVING count(*) > 900",
    "SELECT s, sum(id) FROM t WHERE s LIKE 'name1%' GROUP BY s",
    "SELECT count(*), sum(v), min(id) FROM t WHERE g = 99",
    "SELECT g, count(*) FROM t WHERE n = 999 GROUP BY g",
    // Folded as column batches (`run::batch_agg`), the filters compiled (`run::batch_filter`).
    "SELECT g, count(*), count(n), sum(v * 2 - n), avg(v + 0.125), sum(-v * v) FROM t \
     WHERE v BETWEEN 100 AND 900 AND f < 2000 GROUP BY g",
    "SELECT s, count(n), sum(v * (1 + n)), avg(n) FROM t WHERE g IN (1, 3, 5) \
     AND n IS NOT NULL AND s > 'name5' GROUP BY s",
    // Many groups, most met in every piece: hash aggregations carried from piece to piece
    // on each thread, their groups put back in the order one thread meets them (stamps),
    // through the column batches (`fold_into`) and through the row path.
    "SELECT n, s, count(*), sum(v), avg(v * 2), count(n) FROM t GROUP BY n, s",
    "SELECT id % 4999, count(*), sum(v), max(s) FROM t WHERE g <> 5 GROUP BY id % 4999",
    // Rows read by several threads for a consumer that holds them all: grouping sets, a
    // plain select (in the one thread's order), a sort.
    "SELECT g, count(*), sum(v) FROM t GROUP BY ROLLUP (g)",
    "SELECT id, s, v FROM t WHERE n = 3",
    "SELECT id, f FROM t WHERE b ORDER BY f DESC, id LIMIT 7",
];

#[test]
fn parallel_aggregation_gives_the_one_thread_answer_in_its_order() {
    let (_engine, mut s) = loaded(20_000);
    let parallel = rayon::current_num_threads() > 1;
    for q in QUERIES {
        rows(&mut s, "SET max_parallel_workers_per_gather = 0");
        let one = rows(&mut s, q);
        let one_plan = analyzed(&mut s, q);
        assert!(!one_plan.contains("Workers Launched"), "{q}");
        rows(
            &mut s,
            "SET max_parallel_workers_per_gather = 3; SET min_parallel_table_scan_size = 0",
        );
        assert_eq!(rows(&mut s, q), one, "{q}");
        if parallel {
            let plan = analyzed(&mut s, q);
            let want = format!("Workers Launched: {}", 4.min(rayon::current_num_threads()));
            assert!(plan.contains(&want), "{q}\n{plan}");
            // The scan counts the rows its filter passes, whichever thread reads them.
            let counted = scan_rows(&plan);
            assert!(counted.is_some(), "{q}\n{plan}");
            assert_eq!(counted, scan_rows(&one_plan), "{q}\n{plan}\n{one_plan}");
        }
        rows(&mut s, "RESET min_parallel_table_scan_size");
        // Under the default threshold (8MB) this table is scanned by one thread.
        assert!(!analyzed(&mut s, q).contains("Workers Launched"), "{q}");
    }
    if !parallel {
        eprintln!("one rayon thread here: the parallel path was not exercised");
    }
}

/// Aggregations over hash joins whose left side is the big table: inner, left (with a
/// condition beyond the keys), semi and anti joins, USING, and a chain of two joins.
const JOINS: &[&str] = &[
    "SELECT d.label, count(*), sum(t.v) FROM t JOIN d ON d.g = t.g GROUP BY d.label",
    "SELECT d.label, count(*), count(d.w), min(t.s) FROM t LEFT JOIN d ON d.g = t.g AND d.w > 2 \
     GROUP BY d.label",
    "SELECT count(*), sum(v) FROM t WHERE EXISTS (SELECT 1 FROM d WHERE d.g = t.g)",
    "SELECT count(*), max(id) FROM t WHERE NOT EXISTS (SELECT 1 FROM d WHERE d.g = t.g AND d.w < 5)",
    "SELECT g, count(*), sum(w) FROM t JOIN d USING (g) WHERE t.b GROUP BY g",
    "SELECT e.name, d.label, sum(t.v), count(*) FROM t JOIN d ON d.g = t.g \
     JOIN e ON e.k = t.n GROUP BY e.name, d.label",
    // A subquery in FROM that only filters and projects the join's rows.
    "SELECT x.k, x.y, sum(x.amount), count(*) FROM (SELECT d.label AS k, extract(year FROM \
     date '2020-01-01' + t.n) AS y, t.v * 2 - d.w AS amount FROM t JOIN d ON d.g = t.g \
     WHERE t.b) x WHERE x.amount > 10 GROUP BY x.k, x.y",
];

#[test]
fn parallel_aggregation_over_hash_joins_gives_the_one_thread_answer() {
    let (_engine, mut s) = loaded(20_000);
    rows(
        &mut s,
        "CREATE TABLE d (g int, label text, w numeric);
         INSERT INTO d SELECT x, 'group ' || (x % 5), x * 0.5 FROM generate_series(0, 11) x;
         CREATE TABLE e (k int, name text);
         INSERT INTO e SELECT x, 'e' || (x % 4) FROM generate_series(0, 16) x;
         ANALYZE",
    );
    for q in JOINS {
        let (_, plan) = one_then_parallel(&mut s, q);
        assert!(!plan.contains("never executed"), "{q}\n{plan}");
        if rayon::current_num_threads() > 1 {
            let want = format!("Workers Launched: {}", 3.min(rayon::current_num_threads()));
            assert!(plan.contains(&want), "{q}\n{plan}");
        }
        rows(&mut s, "RESET min_parallel_table_scan_size");
    }
}

/// Hash joins whose built side matches few of the scanned rows (`run::key_filter` drops the
/// others before they are decoded): keys of several types and columns, NULL keys on both
/// sides, numerics, a semi join, and a LEFT join (not filtered).
#[test]
fn parallel_hash_joins_with_few_matches_give_the_one_thread_answer() {
    let (_engine, mut s) = loaded(20_000);
    rows(
        &mut s,
        "CREATE TABLE few (g int, s text, n int, v numeric(12,2));
         INSERT INTO few VALUES (3, 'name3', 3, 12.5), (5, 'name40', NULL, 1.250), \
         (NULL, 'name7', 7, NULL), (11, 'name99', 16, 1250.0), (12, 'none', 1, 3.75);
         ANALYZE",
    );
    let queries = [
        "SELECT count(*), sum(t.v) FROM t JOIN few ON few.g = t.g AND few.s = t.s",
        "SELECT t.n, count(*), sum(t.id) FROM t JOIN few ON few.n = t.n GROUP BY t.n",
        "SELECT count(*), sum(t.id), min(few.s) FROM t JOIN few ON few.v = t.v",
        "SELECT count(*), sum(t.id) FROM t WHERE EXISTS (SELECT 1 FROM few WHERE few.s = t.s)",
        "SELECT count(*), count(few.s) FROM t LEFT JOIN few ON few.g = t.g AND few.n = t.n",
        "SELECT t.id, few.s FROM t JOIN few ON few.g = t.g AND few.n = t.n ORDER BY t.id",
    ];
    for q in queries {
        let (_, plan) = one_then_parallel(&mut s, q);
        assert!(plan.contains("Hash"), "{q}\n{plan}");
        rows(&mut s, "RESET min_parallel_table_scan_size");
    }
}

/// A built side of 12,000 keys, past what the CPU's caches hold of its index: the scan
/// filtered by it (`run::key_filter`) keeps every row that joins.
#[test]
fn hash_joins_with_a_large_built_side_keep_every_match() {
    let (_engine, mut s) = loaded(20_000);
    rows(
        &mut s,
        "CREATE TABLE many (f float8, tag int);
         INSERT INTO many SELECT (x * 6) / 7.0, x FROM generate_series(0, 11999) x;
         ANALYZE",
    );
    // t.f = t.id / 7.0: the ids that are multiples of 6 join, 3,333 of them.
    let q = "SELECT count(*), sum(t.id), sum(many.tag) FROM t JOIN many ON many.f = t.f";
    let (got, plan) = one_then_parallel(&mut s, q);
    assert_eq!(got, ["3333,33336666,5556111"], "{plan}");
    assert!(plan.contains("Hash"), "{plan}");
}

/// Runs `q` on one thread, then allowing two workers on any table size: the same rows
/// (not none) both times. Returns them, and the parallel run's EXPLAIN ANALYZE.
fn one_then_parallel(s: &mut Session, q: &str) -> (Vec<String>, String) {
    rows(s, "SET max_parallel_workers_per_gather = 0");
    let one = rows(s, q);
    assert!(!one.is_empty(), "{q}");
    rows(
        s,
        "SET max_parallel_workers_per_gather = 2; SET min_parallel_table_scan_size = 0",
    );
    assert_eq!(rows(s, q), one, "{q}");
    (one, analyzed(s, q))
}

/// Aggregations over joins that look the right table up per left row: by primary key, by
/// a primary-key prefix, and by a secondary index.
const LOOKUPS: &[&str] = &[
    "SELECT p.tag, count(*), sum(t.v) FROM t JOIN p ON p.id = t.id WHERE t.g = 3 GROUP BY p.tag",
    "SELECT count(*), sum(q.w) FROM t JOIN q ON q.a = t.n AND q.b = t.g WHERE t.g < 2",
    "SELECT r.name, count(*) FROM t JOIN r ON r.code = t.id WHERE t.g = 1 AND t.n = 3 \
     GROUP BY r.name",
    // EXISTS and NOT EXISTS looked up: the first row found decides, or every row is checked
    // against the conditions.
    "SELECT count(*), sum(t.v) FROM t WHERE t.g = 1 AND t.n = 3 \
     AND EXISTS (SELECT 1 FROM r WHERE r.code = t.id)",
    "SELECT count(*), sum(t.v) FROM t WHERE t.g = 2 AND t.n = 5 \
     AND NOT EXISTS (SELECT 1 FROM r WHERE r.code = t.id AND r.name <> 'r1')",
    "SELECT count(*) FROM t WHERE t.g = 1 AND t.n = 3 \
     AND EXISTS (SELECT 1 FROM q WHERE q.a = t.n AND q.b = t.g AND q.w <> t.v)",
];

#[test]
fn parallel_aggregation_over_lookup_joins_gives_the_one_thread_answer() {
    let (engine, mut s) = loaded(20_000);
    rows(
        &mut s,
        "CREATE TABLE p (id int PRIMARY KEY, tag text);
         INSERT INTO p SELECT x, 'tag' || (x % 7) FROM generate_series(1, 19990) x;
         CREATE TABLE q (a int, b int, w int, PRIMARY KEY (a, b));
         INSERT INTO q SELECT x, y, x * y FROM generate_series(0, 16) x, generate_series(0, 3000) y;
         CREATE TABLE r (id int PRIMARY KEY, code int, name text);
         INSERT INTO r SELECT x, x % 6000, 'r' || (x % 3) FROM generate_series(1, 30000) x;
         CREATE INDEX r_code ON r (code);
         ANALYZE",
    );
    engine.txn_db().db().flush().unwrap();
    for q in LOOKUPS {
        let (one, plan) = one_then_parallel(&mut s, q);
        assert!(plan.contains("Index Scan using"), "{q}\n{plan}");
        // Every node that ran shows it, the looked-up table too.
        assert!(!plan.contains("never executed"), "{q}\n{plan}");
        if rayon::current_num_threads() > 1 {
            assert!(plan.contains("Workers Launched"), "{q}\n{plan}");
        }
        // Under SERIALIZABLE the lookups stay on the statement's thread (only the scanned
        // range is registered as read by a shared scan).
        rows(&mut s, "BEGIN ISOLATION LEVEL SERIALIZABLE");
        assert_eq!(rows(&mut s, q), one, "{q}");
        let plan = analyzed(&mut s, q);
        assert!(!plan.contains("Workers Launched"), "{q}\n{plan}");
        rows(&mut s, "COMMIT; RESET min_parallel_table_scan_size");
    }
}

/// A worker reads a secondary index's entries through one iterator moved from lookup to
/// lookup, and stops at the first row a semi or anti join needs: the keys asked in any
/// order (here scrambled), over entries in a table and in the memtable, some deleted since.
#[test]
fn index_lookups_through_one_cursor_answer_in_any_key_order() {
    let (engine, mut s) = loaded(20_000);
    rows(
        &mut s,
        "CREATE TABLE r (id int PRIMARY KEY, code int, name text);
         INSERT INTO r SELECT x, x % 6000, 'r' || (x % 3) FROM generate_series(1, 30000) x;
         CREATE INDEX r_code ON r (code);
         CREATE TABLE o (id int PRIMARY KEY, k int, w int);
         INSERT INTO o SELECT x, (x * 7919) % 6100, x % 5 FROM generate_series(1, 20000) x",
    );
    engine.txn_db().db().flush().unwrap();
    rows(
        &mut s,
        "INSERT INTO r SELECT x, (x * 13) % 6000, 'new' FROM generate_series(30001, 33000) x;
         DELETE FROM r WHERE id % 11 = 0 OR code % 97 = 5;
         ANALYZE",
    );
    for q in [
        "SELECT count(*), sum(r.id) FROM o JOIN r ON r.code = o.k WHERE o.w = 1 AND o.id < 400",
        "SELECT count(*), sum(o.id) FROM o WHERE o.w = 2 AND o.id < 400 \
         AND EXISTS (SELECT 1 FROM r WHERE r.code = o.k AND r.name <> 'r2')",
        "SELECT count(*), sum(o.id) FROM o WHERE o.w = 3 AND o.id < 400 \
         AND NOT EXISTS (SELECT 1 FROM r WHERE r.code = o.k)",
    ] {
        let (_, plan) = one_then_parallel(&mut s, q);
        assert!(plan.contains("Index Scan using r_code"), "{q}\n{plan}");
        if rayon::current_num_threads() > 1 {
            assert!(plan.contains("Workers Launched"), "{q}\n{plan}");
        }
    }
}

#[test]
fn parallel_aggregation_is_not_taken_where_it_would_change_the_answer() {
    let (_engine, mut s) = loaded(5_000);
    rows(&mut s, "SET min_parallel_table_scan_size = 0");
    for q in [
        // Aggregates whose states do not combine, or that need their inputs in order.
        "SELECT count(DISTINCT g) FROM t",
        "SELECT string_agg(s, ',') FROM t WHERE id < 5",
        "SELECT g, array_agg(id ORDER BY id DESC) FROM t WHERE id < 30 GROUP BY g",
        "SELECT stddev(v) FROM t",
        // Expressions a worker cannot evaluate: a correlated subquery, random numbers.
        "SELECT sum(v) FROM t WHERE v > (SELECT min(v) FROM t u WHERE u.id = t.g)",
        "SELECT count(*) FROM t WHERE random() < 2",
        // A RIGHT join: its unmatched right rows need every worker's matches.
        "SELECT count(*) FROM (SELECT 1 FROM t RIGHT JOIN generate_series(1, 3) x ON x = t.id) j",
    ] {
        let plan = analyzed(&mut s, q);
        assert!(!plan.contains("Workers Launched"), "{q}\n{plan}");
    }
    // A transaction that wrote to the table reads its own writes, on one thread.
    rows(
        &mut s,
        "BEGIN; INSERT INTO t VALUES (100000, 1, 1, 1, true, 'x', 1)",
    );
    assert_eq!(rows(&mut s, "SELECT count(*) FROM t"), vec!["5001"]);
    let plan = analyzed(&mut s, "SELECT count(*) FROM t");
    assert!(!plan.contains("Workers Launched"), "{plan}");
    rows(&mut s, "ROLLBACK");
    if rayon::current_num_threads() > 1 {
        let plan = analyzed(&mut s, "SELECT count(*) FROM t");
        assert!(plan.contains("Workers Launched"), "{plan}");
    }
}

#[test]
fn an_error_in_a_worker_fails_the_statement() {
    let (_engine, mut s) = loaded(20_000);
    rows(&mut s, "SET min_parallel_table_scan_size = 0");
    let stmt = crate::parse("SELECT sum(100 / (id - 15000)) FROM t")
        .unwrap()
        .remove(0);
    let e = s.execute(&stmt, &[]).err().unwrap();
    assert_eq!(e.sqlstate(), "22012", "{e}");
    // The session goes on.
    assert_eq!(rows(&mut s, "SELECT count(*) FROM t"), vec!["20000"]);
    // statement_timeout stops the workers, within a fanning-out join too.
    rows(
        &mut s,
        "CREATE TABLE k (x int); INSERT INTO k SELECT generate_series(1, 50); \
         SET statement_timeout = 1",
    );
    let stmt = crate::parse("SELECT count(*), sum(t.v + k.x) FROM t, k")
        .unwrap()
        .remove(0);
    let e = s.execute(&stmt, &[]).err().unwrap();
    assert_eq!(e.sqlstate(), "57014", "{e}");
    rows(&mut s, "RESET statement_timeout");
    assert_eq!(rows(&mut s, "SELECT count(*) FROM t, k"), vec!["1000000"]);
}

/// Scans whose filters hold uncorrelated subqueries: scalar, IN and NOT IN (a NULL among
/// the values), EXISTS, an `int` column IN `bigint` values, and rows collected for a sort.
const HOISTED: &[&str] = &[
    "SELECT sum(v), count(*) FROM t WHERE v > (SELECT min(v) FROM t WHERE id < 3) + 500",
    "SELECT g, count(*) FROM t WHERE g + 0 IN (SELECT g FROM t WHERE id < 3) GROUP BY g",
    "SELECT count(*), count(n) FROM t WHERE n NOT IN (SELECT n FROM t WHERE id BETWEEN 1 AND 12)",
    "SELECT count(*), count(n) FROM t WHERE n NOT IN (SELECT n FROM t WHERE id BETWEEN 1 AND 4)",
    "SELECT g, count(*) FROM t WHERE EXISTS (SELECT 1 FROM t WHERE id = 7) GROUP BY g",
    "SELECT g, sum(v) FROM t WHERE NOT EXISTS (SELECT 1 FROM t WHERE id = -7) \
     AND id IN (SELECT x::bigint * 3 FROM generate_series(1, 5000) x) GROUP BY g",
    "SELECT id, s FROM t WHERE v = (SELECT max(v) FROM t) AND id > (SELECT 17000) ORDER BY id",
    // Beside conjuncts compiled for column batches (the rows they pass meet the subquery).
    "SELECT count(*), sum(v) FROM t WHERE g = 3 AND v > (SELECT min(v) FROM t WHERE id < 3)",
    "SELECT count(*) FROM t WHERE n IS NOT NULL AND n NOT IN (SELECT n FROM t WHERE id < 4)",
    "SELECT g, count(*) FROM t WHERE id > 100 AND EXISTS (SELECT 1 FROM t WHERE id = 7) GROUP BY g",
];

#[test]
fn uncorrelated_subqueries_are_computed_once_for_the_workers() {
    let (_engine, mut s) = loaded(20_000);
    for q in HOISTED {
        let (_, plan) = one_then_parallel(&mut s, q);
        if rayon::current_num_threads() > 1 {
            assert!(plan.contains("Workers Launched"), "{q}\n{plan}");
        }
        rows(&mut s, "RESET min_parallel_table_scan_size");
    }
    rows(&mut s, "SET min_parallel_table_scan_size = 0");
    // A subquery that fails (more than one row) fails the statement where its value is
    // needed, and only there, as on one thread: not when no row asks for it.
    let q = "SELECT count(*) FROM t WHERE id < 0 AND v > (SELECT v FROM t)";
    assert_eq!(rows(&mut s, q), vec!["0"]);
    let stmt = crate::parse("SELECT count(*) FROM t WHERE v > (SELECT v FROM t)")
        .unwrap()
        .remove(0);
    let e = s.execute(&stmt, &[]).err().unwrap();
    assert_eq!(e.sqlstate(), "21000", "{e}");
}
