//! Bitmap indexes (`USING bitmap`) and bitmap scans: answers equal to a plan that reads held
//! rows (no access path), the plans EXPLAIN shows, the upkeep invariants (one ordinal per
//! row, one posting per row per index) through random INSERT / UPDATE / DELETE / ROLLBACK
//! sequences, builds over existing rows, re-keying, drops, and DDL errors.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::test_support::{engine, explain, run, sorted_rows};

/// Keys in `sql:data` per (table id, index id).
fn key_counts(engine: &crate::engine::SqlEngine) -> BTreeMap<(u32, u32), usize> {
    let db = engine.txn.db();
    let snap = db.snapshot();
    let mut out = BTreeMap::new();
    let all = (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded);
    for item in db
        .iter(engine.data, all, orbit_lsm::Direction::Forward, &snap)
        .unwrap()
    {
        let (k, _) = item.unwrap();
        let table = u32::from_be_bytes(k[0..4].try_into().unwrap());
        let index = u32::from_be_bytes(k[4..8].try_into().unwrap());
        *out.entry((table, index)).or_insert(0) += 1;
    }
    out
}

/// Checks the upkeep invariants of the only table with bitmap indexes: rows, ordinals (two
/// keys per row) and each bitmap index's postings (one per row) agree.
fn check_invariants(engine: &crate::engine::SqlEngine, bitmap_indexes: &[u32]) {
    let counts = key_counts(engine);
    let ordinals: Vec<_> = counts
        .iter()
        .filter(|((_, i), _)| *i == super::super::bitmap_index::ORDINALS)
        .collect();
    let table = match ordinals.as_slice() {
        [((t, _), _)] => *t,
        [] => {
            // An empty table (or one without bitmap indexes) has no ordinals.
            return;
        }
        more => panic!("ordinals of several tables: {more:?}"),
    };
    let rows = counts.get(&(table, 0)).copied().unwrap_or(0);
    assert_eq!(*ordinals[0].1, 2 * rows, "ordinal maps vs rows");
    for i in bitmap_indexes {
        let postings = counts.get(&(table, *i)).copied().unwrap_or(0);
        assert_eq!(postings, rows, "postings of index {i} vs rows");
    }
}

/// The oracle: `t`'s rows read by a sequential scan and held (OFFSET 0 keeps conditions out).
const HELD: &str = "(SELECT * FROM t OFFSET 0) t";

/// Queries over `t (id, a, b, c, note)`, answered through the table (bitmap scans) and
/// through [`HELD`]; a difference panics naming the query.
const QUERIES: &[&str] = &[
    "SELECT id FROM {t} WHERE a = 1",
    "SELECT id FROM {t} WHERE a = 1 AND b = 'x'",
    "SELECT id FROM {t} WHERE a = 2 OR b = 'y'",
    "SELECT id FROM {t} WHERE a IN (0, 3) AND (b = 'z' OR b IS NULL)",
    "SELECT id FROM {t} WHERE a IS NULL",
    "SELECT id FROM {t} WHERE (a = 1 AND c = true) OR (a = 2 AND b = 'x')",
    "SELECT id FROM {t} WHERE a = 1 AND id % 3 = 0",
    "SELECT id FROM {t} WHERE (a = 1 AND id > 10) OR b = 'x'",
    "SELECT id FROM {t} WHERE a = NULL",
    "SELECT id FROM {t} WHERE a = 1.5",
    "SELECT id FROM {t} WHERE a IN (1, NULL) AND c = false",
    "SELECT count(*) FROM {t} WHERE a = 3 AND b = 'z' AND c = true",
    // Analyzed, the few NULLs are read first and the other two looked up per candidate.
    "SELECT id FROM {t} WHERE a IS NULL AND b = 'x' AND c = true",
    "SELECT id FROM {t} WHERE a IS NULL AND b IN ('x', 'y') AND (c = true OR b = 'y')",
    // More rows than one fetched chunk (1,024), few columns decoded.
    "SELECT count(*), sum(id), min(note) FROM {t} WHERE b IN ('x', 'y') OR a IS NULL",
];

fn check_queries(s: &mut crate::Session) {
    for q in QUERIES {
        let indexed = sorted_rows(s, &q.replace("{t}", "t"));
        let held = sorted_rows(s, &q.replace("{t}", HELD));
        assert_eq!(indexed, held, "{q}");
    }
}

#[test]
fn bitmap_scans_answer_like_full_scans_and_show_in_explain() {
    let engine = engine();
    let mut s = engine.session("postgres", "postgres");
    run(
        &mut s,
        "CREATE TABLE t (id int PRIMARY KEY, a int, b text, c bool, note text);
         INSERT INTO t SELECT x, CASE WHEN x % 11 = 0 THEN NULL ELSE x % 4 END,
             CASE x % 3 WHEN 0 THEN 'x' WHEN 1 THEN 'y' ELSE 'z' END, x % 2 = 0, 'n' || x
           FROM generate_series(1, 2000) x;
         CREATE INDEX t_a ON t USING bitmap (a);
         CREATE INDEX t_b ON t USING bitmap (b);
         CREATE INDEX t_c ON t USING bitmap (c);",
    );
    check_invariants(&engine, &[1, 2, 3]);
    check_queries(&mut s);
    let oracle = explain(&mut s, &QUERIES[1].replace("{t}", HELD));
    assert!(!oracle.contains("Bitmap"), "{oracle}");
    // Not analyzed: `=` is assumed selective, so the bitmaps are read and combined.
    let plan = explain(
        &mut s,
        "SELECT id FROM t WHERE a = 1 AND (b = 'x' OR b = 'y')",
    );
    assert!(plan.starts_with("Bitmap Heap Scan on t"), "{plan}");
    assert!(plan.contains("->  BitmapAnd"), "{plan}");
    assert!(plan.contains("->  BitmapOr"), "{plan}");
    assert!(plan.contains("Bitmap Index Scan on t_a"), "{plan}");
    assert!(plan.contains("Index Cond: (b = 'y')"), "{plan}");
    let plan = explain(&mut s, "SELECT id FROM t WHERE a IN (1, 2) OR a IS NULL");
    assert!(
        plan.contains("Index Cond: (a = ANY (ARRAY[1, 2]))"),
        "{plan}"
    );
    assert!(plan.contains("Index Cond: (a IS NULL)"), "{plan}");
    // A condition no bitmap answers keeps the sequential scan.
    let plan = explain(&mut s, "SELECT id FROM t WHERE note = 'n5' OR a = 1");
    assert!(plan.starts_with("Seq Scan on t"), "{plan}");
    // After ANALYZE a condition selecting a quarter of the table reads it sequentially,
    // while a combination selecting little still uses the bitmaps.
    run(&mut s, "ANALYZE t");
    let plan = explain(&mut s, "SELECT id FROM t WHERE a = 1");
    assert!(plan.starts_with("Seq Scan on t"), "{plan}");
    let plan = explain(
        &mut s,
        "SELECT id FROM t WHERE a = 1 AND b = 'x' AND c = true",
    );
    assert!(plan.starts_with("Bitmap Heap Scan on t"), "{plan}");
    check_queries(&mut s);
    // UPDATE and DELETE find their rows through the bitmaps too.
    run(
        &mut s,
        "UPDATE t SET note = 'hit' WHERE a = 3 AND b = 'z' AND c = true",
    );
    assert_eq!(
        run(&mut s, "SELECT count(*) FROM t WHERE note = 'hit'").as_deref(),
        run(
            &mut s,
            "SELECT count(*) FROM t WHERE a = 3 AND b = 'z' AND c = true"
        )
        .as_deref()
    );
    run(&mut s, "DELETE FROM t WHERE a = 3 AND b = 'z'");
    check_invariants(&engine, &[1, 2, 3]);
    check_queries(&mut s);
}

#[test]
fn tables_without_a_primary_key_and_rekeying_keep_the_bitmaps_right() {
    let engine = engine();
    let mut s = engine.session("postgres", "postgres");
    run(
        &mut s,
        "CREATE TABLE t (id int, a int, b text, c bool, note text);
         CREATE INDEX t_a ON t USING bitmap (a);
         INSERT INTO t SELECT x, x % 4, CASE x % 3 WHEN 0 THEN 'x' ELSE 'y' END, x % 5 = 0, ''
           FROM generate_series(1, 500) x;
         CREATE INDEX t_b ON t USING bitmap (b);",
    );
    check_invariants(&engine, &[1, 2]);
    check_queries(&mut s);
    // Re-keyed by a new primary key: ordinals are made anew for the new keys.
    run(&mut s, "ALTER TABLE t ADD PRIMARY KEY (id)");
    check_invariants(&engine, &[1, 2]);
    check_queries(&mut s);
    // A primary-key change moves the row to a new ordinal.
    run(&mut s, "UPDATE t SET id = id + 1000, a = 9 WHERE id <= 10");
    check_invariants(&engine, &[1, 2]);
    assert_eq!(
        run(
            &mut s,
            "SELECT string_agg(id::text, ',' ORDER BY id) FROM t WHERE a = 9"
        )
        .as_deref(),
        Some("1001,1002,1003,1004,1005,1006,1007,1008,1009,1010")
    );
    // Dropping one index keeps the ordinals for the other; dropping the last removes them.
    run(&mut s, "DROP INDEX t_a");
    check_invariants(&engine, &[2]);
    check_queries(&mut s);
    run(&mut s, "DROP INDEX t_b");
    let ordinals = key_counts(&engine).keys().filter(|(_, i)| *i >= 1).count();
    assert_eq!(ordinals, 0, "entries left after the last bitmap index went");
}

#[test]
fn definitions_refused_with_postgresql_errors() {
    let engine = engine();
    let mut s = engine.session("postgres", "postgres");
    run(&mut s, "CREATE TABLE t (a int, b int, v jsonb)");
    for (sql, state, message) in [
        (
            "CREATE UNIQUE INDEX ON t USING bitmap (a)",
            "0A000",
            "access method \"bitmap\" does not support unique indexes",
        ),
        (
            "CREATE INDEX ON t USING bitmap (a, b)",
            "0A000",
            "access method \"bitmap\" does not support multicolumn indexes",
        ),
        (
            "CREATE INDEX ON t USING bitmap (a) WITH (fillfactor = 50)",
            "22023",
            "unrecognized parameter \"fillfactor\"",
        ),
        (
            "CREATE INDEX ON t USING bitmap (nope)",
            "42703",
            "column \"nope\" does not exist",
        ),
    ] {
        let stmt = crate::parse(sql).unwrap().remove(0);
        let err = s.execute(&stmt, &[]).err().unwrap();
        assert_eq!(
            (err.sqlstate(), err.to_string()),
            (state, message.into()),
            "{sql}"
        );
    }
    run(&mut s, "CREATE INDEX ON t USING bitmap (a)");
    assert_eq!(
        run(
            &mut s,
            "SELECT indexdef FROM pg_indexes WHERE tablename = 't'"
        )
        .as_deref(),
        Some("CREATE INDEX t_a_idx ON public.t USING bitmap (a)")
    );
    assert_eq!(
        run(
            &mut s,
            "SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE relname = 't_a_idx'"
        )
        .as_deref(),
        Some("bitmap")
    );
}

/// A row written by a transaction whose snapshot predates the index (so it wrote no
/// ordinal or posting) can still be updated and deleted, and a posting whose row is gone is
/// skipped rather than reported as damage.
#[test]
fn rows_written_across_an_index_build_stay_writable() {
    let engine = engine();
    let mut a = engine.session("postgres", "postgres");
    let mut b = engine.session("postgres", "postgres");
    run(
        &mut a,
        "CREATE TABLE t (id int PRIMARY KEY, a int);
         INSERT INTO t SELECT x, x % 3 FROM generate_series(1, 30) x;",
    );
    run(&mut a, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    run(&mut a, "SELECT count(*) FROM t");
    run(&mut b, "CREATE INDEX t_a ON t USING bitmap (a)");
    run(&mut a, "INSERT INTO t VALUES (99, 1)");
    run(&mut a, "COMMIT");
    run(&mut b, "UPDATE t SET a = 2 WHERE id = 99");
    assert_eq!(
        run(&mut b, "SELECT count(*) FROM t WHERE a = 2 AND id = 99").as_deref(),
        Some("1")
    );
    run(&mut b, "DELETE FROM t WHERE id = 99");
    // A delete committed while the index was built from a snapshot that still had the row.
    run(&mut a, "BEGIN");
    run(&mut a, "DELETE FROM t WHERE id = 5");
    run(
        &mut b,
        "DROP INDEX t_a; CREATE INDEX t_a ON t USING bitmap (a)",
    );
    run(&mut a, "COMMIT");
    assert_eq!(
        run(
            &mut b,
            "SELECT string_agg(id::text, ',' ORDER BY id) FROM t WHERE a = 2 AND id < 12"
        )
        .as_deref(),
        Some("2,8,11")
    );
}

#[test]
fn concurrent_inserts_of_one_value_do_not_conflict() {
    let engine = engine();
    let mut a = engine.session("postgres", "postgres");
    let mut b = engine.session("postgres", "postgres");
    run(
        &mut a,
        "CREATE TABLE t (id int PRIMARY KEY, a int); CREATE INDEX ON t USING bitmap (a);",
    );
    run(&mut a, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    run(&mut b, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    run(&mut a, "INSERT INTO t VALUES (1, 7)");
    run(&mut b, "INSERT INTO t VALUES (2, 7)");
    run(&mut a, "COMMIT");
    run(&mut b, "COMMIT");
    assert_eq!(
        run(
            &mut a,
            "SELECT string_agg(id::text, ',' ORDER BY id) FROM t WHERE a = 7"
        )
        .as_deref(),
        Some("1,2")
    );
}

/// One step of the random workload on `t`.
#[derive(Debug, Clone)]
enum Op {
    Insert(i32, Option<i32>, u8),
    SetA(i32, Option<i32>),
    SetB(i32, u8),
    MoveKey(i32, i32),
    Delete(i32),
    /// The next ops run in a transaction that rolls back.
    RolledBack(Vec<Op>),
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0i32..12;
    let a = prop::option::of(0i32..4);
    let leaf = prop_oneof![
        3 => (id.clone(), a.clone(), 0u8..3).prop_map(|(i, a, b)| Op::Insert(i, a, b)),
        3 => (id.clone(), a).prop_map(|(i, a)| Op::SetA(i, a)),
        2 => (id.clone(), 0u8..3).prop_map(|(i, b)| Op::SetB(i, b)),
        2 => (id.clone(), id.clone()).prop_map(|(i, j)| Op::MoveKey(i, j)),
        2 => id.prop_map(Op::Delete),
    ];
    prop_oneof![
        6 => leaf.clone(),
        1 => prop::collection::vec(leaf, 1..4).prop_map(Op::RolledBack),
    ]
}

fn sql_of(op: &Op) -> String {
    let a = |a: &Option<i32>| a.map_or("NULL".into(), |v| v.to_string());
    let b = |b: u8| ["'x'", "'y'", "'z'"][usize::from(b % 3)];
    match op {
        Op::Insert(i, av, bv) => format!(
            "INSERT INTO t VALUES ({i}, {}, {}, {}, '') ON CONFLICT (id) DO NOTHING",
            a(av),
            b(*bv),
            i % 2 == 0
        ),
        Op::SetA(i, av) => format!("UPDATE t SET a = {} WHERE id = {i}", a(av)),
        Op::SetB(i, bv) => format!(
            "UPDATE t SET b = {} WHERE a IS NOT NULL AND id = {i}",
            b(*bv)
        ),
        Op::MoveKey(i, j) => format!(
            "UPDATE t SET id = {j} WHERE id = {i} AND NOT EXISTS (SELECT 1 FROM t WHERE id = {j})"
        ),
        Op::Delete(i) => format!("DELETE FROM t WHERE id = {i}"),
        Op::RolledBack(ops) => {
            let body: Vec<String> = ops.iter().map(sql_of).collect();
            format!("BEGIN; {}; ROLLBACK", body.join("; "))
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random writes (some in transactions that roll back) keep one ordinal and one posting
    /// per row, and bitmap scans answer as a scan of held rows does.
    #[test]
    fn random_writes_keep_the_bitmaps_consistent(ops in prop::collection::vec(op(), 1..40)) {
        let engine = engine();
        let mut s = engine.session("postgres", "postgres");
        run(
            &mut s,
            "CREATE TABLE t (id int PRIMARY KEY, a int, b text, c bool, note text);
             CREATE INDEX t_a ON t USING bitmap (a);
             CREATE INDEX t_b ON t USING bitmap (b);
             CREATE INDEX t_c ON t USING bitmap (c);",
        );
        run(&mut s, "INSERT INTO t SELECT x, x % 3, 'x', x % 2 = 0, '' FROM generate_series(0, 11) x");
        for op in &ops {
            run(&mut s, &sql_of(op));
        }
        check_invariants(&engine, &[1, 2, 3]);
        check_queries(&mut s);
    }
}
