//! The plan cache (`plan_cache`): a prepared query reuses its plan across executions with
//! other parameter values, and is planned again, answering from the new state, after each
//! change it depends on: DDL (an index, the table dropped and created again), ANALYZE, the
//! search path, the parameters' types, and DDL of its own transaction; a change of its result
//! columns fails with PostgreSQL's 0A000; queries of system relations are never kept; two
//! prepared statements keep their own plans.
#![allow(clippy::unwrap_used)]

use sqlparser::ast;

use crate::exec::Column;
use crate::test_support::{engine, rows_text, run};
use crate::types::{DataType, Value};
use crate::{Outcome, Session};

/// A statement as a client prepares it: parsed and described once.
struct Prepared {
    id: u64,
    stmt: ast::Statement,
    columns: Vec<Column>,
}

fn prepare(s: &mut Session, id: u64, sql: &str, types: &[DataType]) -> Prepared {
    let stmt = crate::parse(sql).unwrap().remove(0);
    let (_, columns) = s.describe(&stmt, types).unwrap();
    Prepared { id, stmt, columns }
}

/// Runs `p` with `params`: its rows as text (NULL as `NULL`), or the error's SQLSTATE and
/// message.
fn try_exec(s: &mut Session, p: &Prepared, params: &[Value]) -> Result<Vec<String>, String> {
    let done = s
        .execute_prepared(&p.stmt, p.id, &p.columns, params)
        .map_err(|e| format!("{}: {e}", e.sqlstate()))?;
    for w in done.waits {
        w.wait().unwrap();
    }
    let Outcome::Rows { rows, .. } = done.outcome else {
        return Ok(Vec::new());
    };
    Ok(rows_text(&rows))
}

fn exec(s: &mut Session, p: &Prepared, params: &[Value]) -> Vec<String> {
    try_exec(s, p, params).unwrap()
}

const BY_ID: &str = "SELECT * FROM t WHERE id = $1";

#[test]
fn a_prepared_query_reuses_its_plan_until_what_it_depends_on_changes() {
    let engine = engine();
    let mut s = engine.session("postgres", "postgres");
    run(
        &mut s,
        "CREATE TABLE t (id int PRIMARY KEY, v text); \
         INSERT INTO t SELECT x, 'v' || x FROM generate_series(1, 50) x",
    );
    let star = prepare(&mut s, 1, BY_ID, &[DataType::Int4]);
    assert_eq!(exec(&mut s, &star, &[Value::Int4(3)]), ["3,v3"]);
    assert_eq!(s.plan_cache_hits(), 0);
    for i in 4..8 {
        assert_eq!(
            exec(&mut s, &star, &[Value::Int4(i)]),
            [format!("{i},v{i}")]
        );
    }
    assert_eq!(s.plan_cache_hits(), 4);
    // Writes are no reason to plan again; the plan reads the current rows.
    run(&mut s, "UPDATE t SET v = 'new' WHERE id = 4");
    assert_eq!(exec(&mut s, &star, &[Value::Int4(4)]), ["4,new"]);
    assert_eq!(s.plan_cache_hits(), 5);

    // A column added: `*` would return another shape than described, as PostgreSQL refuses.
    run(&mut s, "ALTER TABLE t ADD COLUMN w int DEFAULT 7");
    assert_eq!(
        try_exec(&mut s, &star, &[Value::Int4(4)]).unwrap_err(),
        "0A000: cached plan must not change result type"
    );
    let star = prepare(&mut s, 2, BY_ID, &[DataType::Int4]);
    assert_eq!(exec(&mut s, &star, &[Value::Int4(4)]), ["4,new,7"]);
    assert_eq!(exec(&mut s, &star, &[Value::Int4(5)]), ["5,v5,7"]);
    assert_eq!(s.plan_cache_hits(), 6);

    // Dropped and created again, same columns: planned for the new table.
    let v = prepare(
        &mut s,
        3,
        "SELECT v FROM t WHERE id = $1",
        &[DataType::Int4],
    );
    assert_eq!(exec(&mut s, &v, &[Value::Int4(5)]), ["v5"]);
    run(
        &mut s,
        "DROP TABLE t; CREATE TABLE t (v text, id int PRIMARY KEY); INSERT INTO t VALUES ('again', 5)",
    );
    assert_eq!(exec(&mut s, &v, &[Value::Int4(5)]), ["again"]);
    // An index and ANALYZE: planned again each time, same answers.
    for ddl in ["CREATE INDEX t_v ON t (v)", "ANALYZE t"] {
        let hits = s.plan_cache_hits();
        run(&mut s, ddl);
        assert_eq!(exec(&mut s, &v, &[Value::Int4(5)]), ["again"]);
        assert_eq!(s.plan_cache_hits(), hits, "after {ddl}");
        assert_eq!(exec(&mut s, &v, &[Value::Int4(5)]), ["again"]);
        assert_eq!(s.plan_cache_hits(), hits + 1, "after {ddl}");
    }

    // Parameters of another type: planned for them.
    let hits = s.plan_cache_hits();
    assert_eq!(exec(&mut s, &v, &[Value::Int8(5)]), ["again"]);
    assert_eq!(s.plan_cache_hits(), hits);
    assert_eq!(exec(&mut s, &v, &[Value::Int8(5)]), ["again"]);
    assert_eq!(s.plan_cache_hits(), hits + 1);

    // Another search path: `t` is another table.
    run(
        &mut s,
        "CREATE SCHEMA other; CREATE TABLE other.t (id int PRIMARY KEY, v text); \
         INSERT INTO other.t VALUES (5, 'other'); SET search_path = other, public",
    );
    assert_eq!(exec(&mut s, &v, &[Value::Int8(5)]), ["other"]);
    run(&mut s, "SET search_path = public");
    assert_eq!(exec(&mut s, &v, &[Value::Int8(5)]), ["again"]);

    // A transaction's own DDL: neither uses nor keeps a plan.
    run(
        &mut s,
        "BEGIN; DELETE FROM t; ALTER TABLE t ADD COLUMN z int DEFAULT 1",
    );
    let hits = s.plan_cache_hits();
    assert_eq!(exec(&mut s, &v, &[Value::Int8(5)]), Vec::<String>::new());
    assert_eq!(exec(&mut s, &v, &[Value::Int8(5)]), Vec::<String>::new());
    assert_eq!(s.plan_cache_hits(), hits);
    run(&mut s, "ROLLBACK");
    assert_eq!(exec(&mut s, &v, &[Value::Int8(5)]), ["again"]);
}

#[test]
fn system_relations_are_planned_each_time_and_statements_keep_their_own_plans() {
    let engine = engine();
    let mut s = engine.session("postgres", "postgres");
    run(
        &mut s,
        "CREATE TABLE a (id int PRIMARY KEY); INSERT INTO a VALUES (1)",
    );
    let tables = prepare(
        &mut s,
        1,
        "SELECT count(*) FROM pg_class WHERE relname = $1",
        &[DataType::Text],
    );
    assert_eq!(exec(&mut s, &tables, &[Value::Text("a".into())]), ["1"]);
    assert_eq!(exec(&mut s, &tables, &[Value::Text("a".into())]), ["1"]);
    assert_eq!(s.plan_cache_hits(), 0);

    let a = prepare(
        &mut s,
        2,
        "SELECT id FROM a WHERE id = $1",
        &[DataType::Int4],
    );
    let b = prepare(
        &mut s,
        3,
        "SELECT id + 100 FROM a WHERE id = $1",
        &[DataType::Int4],
    );
    for _ in 0..2 {
        assert_eq!(exec(&mut s, &a, &[Value::Int4(1)]), ["1"]);
        assert_eq!(exec(&mut s, &b, &[Value::Int4(1)]), ["101"]);
    }
    assert_eq!(s.plan_cache_hits(), 2);
    // Another session's DDL invalidates this one's plans too.
    let mut other = engine.session("postgres", "postgres");
    run(&mut other, "ALTER TABLE a ADD COLUMN x int");
    let hits = s.plan_cache_hits();
    assert_eq!(exec(&mut s, &a, &[Value::Int4(1)]), ["1"]);
    assert_eq!(s.plan_cache_hits(), hits);
}

#[test]
fn describing_a_statement_being_prepared_keeps_its_plan_for_its_executions() {
    let engine = engine();
    let mut s = engine.session("postgres", "postgres");
    run(
        &mut s,
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (3, 'three')",
    );
    // No declared types, as pgbench and most drivers send: the planner infers int.
    let stmt = crate::parse(BY_ID).unwrap().remove(0);
    let (params, columns) = s.describe_prepared(&stmt, 1, &[]).unwrap();
    assert_eq!(params, [DataType::Int4]);
    let p = Prepared {
        id: 1,
        stmt,
        columns,
    };
    assert_eq!(exec(&mut s, &p, &[Value::Int4(3)]), ["3,three"]);
    assert_eq!(s.plan_cache_hits(), 1);
    // A NULL parameter has no type of its own: planned for it, no row.
    assert_eq!(exec(&mut s, &p, &[Value::Null]), Vec::<String>::new());
    assert_eq!(s.plan_cache_hits(), 1);

    // Described, then the table changes before the first execution: planned again.
    let stmt = crate::parse("SELECT v FROM t WHERE id = $1")
        .unwrap()
        .remove(0);
    let (_, columns) = s.describe_prepared(&stmt, 2, &[]).unwrap();
    run(&mut s, "CREATE INDEX t_v ON t (v)");
    let p = Prepared {
        id: 2,
        stmt,
        columns,
    };
    assert_eq!(exec(&mut s, &p, &[Value::Int4(3)]), ["three"]);
    assert_eq!(s.plan_cache_hits(), 1);
}
