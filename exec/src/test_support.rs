//! Helpers for this crate's tests: an engine on the simulated disk, and running SQL on it.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use orbit_env::SimFs;
use orbit_lsm::{Db, DbOptions};
use orbit_txn::TxnDb;

use crate::engine::SqlEngine;

/// A transactional database on a fresh simulated disk.
pub(crate) fn txn_db() -> TxnDb {
    let db = Db::open(SimFs::new().shared(), "/db", DbOptions::default()).unwrap();
    TxnDb::new(Arc::new(db))
}

/// Runs every statement of `sql` (panicking on an error), waiting for its writes; returns the
/// rows of the last statement that returned rows.
fn last_result(session: &mut crate::Session, sql: &str) -> Option<Vec<Vec<crate::types::Value>>> {
    let mut last = None;
    for stmt in crate::parse(sql).unwrap() {
        let done = session
            .execute(&stmt, &[])
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        for w in done.waits {
            w.wait().unwrap();
        }
        if let crate::Outcome::Rows { rows, .. } = done.outcome {
            last = Some(rows);
        }
    }
    last
}

/// Runs every statement of `sql` (panicking on an error), waiting for its writes; returns the
/// first column of the last row returned, as text.
pub(crate) fn run(session: &mut crate::Session, sql: &str) -> Option<String> {
    last_result(session, sql)?
        .last()
        .and_then(|r| r.first())
        .and_then(|v| v.to_text())
}

/// [`run`], returning every row of the last statement that returned rows, each as
/// comma-joined text.
pub(crate) fn last_rows(session: &mut crate::Session, sql: &str) -> Vec<String> {
    last_result(session, sql).map_or_else(Vec::new, |rows| rows_text(&rows))
}

/// Parallel query with up to `n` workers, on tables of any size.
pub(crate) fn workers(session: &mut crate::Session, n: &str) {
    last_rows(
        session,
        &format!("SET max_parallel_workers_per_gather = {n}; SET min_parallel_table_scan_size = 0"),
    );
}

/// An engine on a fresh simulated disk.
pub(crate) fn engine() -> Arc<SqlEngine> {
    SqlEngine::open(txn_db()).unwrap()
}

/// Runs `f` with a statement context of its own (the default settings, user and database
/// `postgres`) on a READ COMMITTED transaction of `engine`, its statement begun.
pub(crate) fn with_ctx<R>(engine: &SqlEngine, f: impl FnOnce(&mut crate::exec::Ctx<'_>) -> R) -> R {
    let settings: std::collections::BTreeMap<String, String> = crate::DEFAULT_SETTINGS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut txn = engine
        .txn
        .begin(orbit_txn::Isolation::ReadCommitted)
        .unwrap();
    txn.begin_statement();
    let path = vec!["public".to_string()];
    let mut seqs = crate::exec::SeqState::default();
    let mut ctx = crate::exec::Ctx {
        engine,
        txn: &mut txn,
        params: &[],
        param_types: Vec::new(),
        user: "postgres",
        database: "postgres",
        schema: "public",
        settings: &settings,
        search_path: &path,
        sys: None,
        now: 0,
        statement_now: 0,
        pid: 0,
        waits: Vec::new(),
        interrupts: Default::default(),
        sequence_state: &mut seqs,
        dropped: Vec::new(),
        star_lists: None,
        lookups: Default::default(),
        cursors: Default::default(),
        ann_writes: Default::default(),
    };
    f(&mut ctx)
}

/// The rows `sql` returns, each as comma-joined text (NULL as `NULL`), sorted.
pub(crate) fn sorted_rows(session: &mut crate::Session, sql: &str) -> Vec<String> {
    let stmt = crate::parse(sql).unwrap().remove(0);
    let done = session
        .execute(&stmt, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let crate::Outcome::Rows { rows, .. } = done.outcome else {
        panic!("{sql} returned no rows")
    };
    let mut out = rows_text(&rows);
    out.sort();
    out
}

/// Each row as comma-joined text (NULL as `NULL`).
pub(crate) fn rows_text(rows: &[Vec<crate::types::Value>]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            r.iter()
                .map(|v| v.to_text().unwrap_or_else(|| "NULL".into()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

/// The plan of `sql` as EXPLAIN prints it.
pub(crate) fn explain(session: &mut crate::Session, sql: &str) -> String {
    let stmt = crate::parse(&format!("EXPLAIN {sql}")).unwrap().remove(0);
    let crate::Outcome::Rows { rows, .. } = session.execute(&stmt, &[]).unwrap().outcome else {
        panic!("no plan")
    };
    rows.iter()
        .filter_map(|r| r.first().and_then(|v| v.to_text()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A table `t` of the given column types (columns `c0`, `c1`, ...), with ids unlike their
/// positions (lookups must go by id), and no key or index.
pub(crate) fn table_of(types: &[crate::types::DataType]) -> crate::catalog::TableDef {
    let columns = types
        .iter()
        .enumerate()
        .map(|(i, ty)| {
            crate::catalog::ColumnDef::plain(7 + 3 * i as u32, format!("c{i}"), ty.clone())
        })
        .collect();
    let mut t = crate::catalog::TableDef::empty(1, 16_384, "public".into(), "t".into());
    t.columns = columns;
    t.next_column_id = 100;
    t
}
