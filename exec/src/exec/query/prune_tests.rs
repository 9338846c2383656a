//! Column pruning against an unpruned oracle: each query runs as written and with every
//! table replaced by `(SELECT * FROM t) t`, which reads whole rows (a subquery's output is
//! never pruned) and every join keeping its layout (`prune::WIDE_JOINS`: no join narrowed);
//! both must return the same rows. The query shapes cover every place a column can be read:
//! WHERE, select lists, GROUP BY / aggregates / HAVING, ORDER BY, window functions, join
//! conditions, USING columns, outer joins, LATERAL and correlated subqueries, over one join
//! and over joins nested in joins (whose outputs are narrowed to the columns read above).
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use crate::test_support::{engine, run, sorted_rows as rows_of};

const SHAPES: &[&str] = &[
    "SELECT t0.{a} FROM t0 WHERE t0.{b} > 1",
    "SELECT t0.{a} + t1.{b} FROM t0, t1 WHERE t0.{c} = t1.{d}",
    "SELECT t0.{a}, count(*), sum(t0.{b}) FROM t0 GROUP BY t0.{a} HAVING max(t0.{c}) > 0",
    "SELECT t0.{a} FROM t0 ORDER BY t0.{b}, t0.{a} LIMIT 5",
    "SELECT t0.{a}, row_number() OVER (PARTITION BY t0.{b} ORDER BY t0.{c}, t0.{a}) FROM t0",
    "SELECT sum(t0.{a}) OVER (ORDER BY t0.{b}, t0.{c} ROWS 1 PRECEDING) FROM t0",
    "SELECT t1.{a} FROM t0 JOIN t1 USING ({b})",
    "SELECT {b}, t0.{a} FROM t0 NATURAL JOIN t1",
    "SELECT t0.{a}, t1.{b} FROM t0 LEFT JOIN t1 ON t0.{c} = t1.{c} AND t1.{d} > 0",
    "SELECT t0.{a}, x.n FROM t0, LATERAL (SELECT count(*) AS n FROM t1 WHERE t1.{b} = t0.{c}) x",
    "SELECT t0.{a}, (SELECT max(t1.{b}) FROM t1 WHERE t1.{c} = t0.{d}) FROM t0",
    "SELECT t0.{a} FROM t0 WHERE EXISTS (SELECT 1 FROM t1 WHERE t1.{a} = t0.{b})",
    // Semi and anti joins (the whole-row oracle keeps them per-row subqueries).
    "SELECT t0.{a} FROM t0 WHERE NOT EXISTS (SELECT * FROM t1 WHERE t1.{a} = t0.{b} AND t1.{c} <> t0.{d})",
    "SELECT t0.{a}, t2.{b} FROM t0, t2 WHERE t0.{c} = t2.{c} AND EXISTS (SELECT 1 FROM t1 WHERE t1.{d} = t2.{a} AND t1.{b} > 1) AND NOT EXISTS (SELECT 1 FROM t1 WHERE t1.{a} = t0.{d})",
    "SELECT t0.{a} FROM t0 WHERE t0.{b} > 0 OR EXISTS (SELECT 1 FROM t1 WHERE t1.{c} = t0.{c})",
    "SELECT t0.{a} FROM t0 LEFT JOIN t2 ON t0.{b} = t2.{b} WHERE NOT EXISTS (SELECT 1 FROM t1 WHERE t1.{a} = t2.{c})",
    "SELECT count(DISTINCT t0.{a}) FILTER (WHERE t0.{b} > 1) FROM t0",
    "SELECT string_agg(t0.{a}::text, ',' ORDER BY t0.{b}, t0.{a}) FROM t0",
    // Written with a cross product first: reordered, so the root join permutes columns.
    "SELECT t2.{a}, t0.{b} FROM t0, t2, t1 WHERE t0.{c} = t1.{c} AND t1.{d} = t2.{d}",
    "SELECT t0.{a} FROM t0 RIGHT JOIN t1 ON t0.{b} = t1.{b} WHERE t1.{c} IS NOT NULL",
    "SELECT DISTINCT t0.{a} FROM t0 FULL JOIN t1 ON t0.{b} = t1.{a}",
    "SELECT g FROM t0, generate_series(1, t0.{a}) g WHERE t0.{b} < 3",
    // Joins nested in joins: the inner ones are narrowed to what the outer ones read.
    "SELECT t0.{a}, t2.{b} FROM t0 JOIN t1 ON t0.{c} = t1.{c} JOIN t2 ON t1.{d} = t2.{d} WHERE t2.{a} > 0",
    "SELECT t2.{a}, t1.{b} FROM t0 LEFT JOIN t1 ON t0.{a} = t1.{a} LEFT JOIN t2 ON t1.{b} = t2.{c}",
    "SELECT {a}, t2.{b} FROM t0 JOIN t1 USING ({a}) JOIN t2 USING ({a})",
    "SELECT t0.{a}, t2.{b} FROM t0 JOIN t1 ON t0.{b} = t1.{b} JOIN t2 ON t2.{c} = t1.{c} AND t2.{d} < t0.{d}",
    "SELECT t0.{a}, t2.{b} FROM t0 JOIN t1 ON t0.{a} = t1.{a} FULL JOIN t2 ON t1.{b} = t2.{b}",
    "SELECT t0.{a} FROM t0 JOIN t1 ON t0.{b} = t1.{b} RIGHT JOIN t2 ON t1.{c} = t2.{c} WHERE t2.{d} IS NOT NULL",
    "SELECT t2.{a}, count(*), sum(t0.{b}) FROM t0 JOIN t1 ON t0.{c} = t1.{c} JOIN t2 ON t1.{d} = t2.{d} GROUP BY t2.{a}",
    "SELECT t0.{a}, (SELECT max(t2.{b}) FROM t2 WHERE t2.{c} = t1.{d}) FROM t0 JOIN t1 ON t0.{b} = t1.{b}",
    "SELECT t0.{a}, x.n FROM t0 JOIN t1 ON t0.{b} = t1.{b}, LATERAL (SELECT count(*) AS n FROM t2 WHERE t2.{c} = t1.{c}) x",
    "SELECT * FROM t0 JOIN t1 ON t0.{a} = t1.{b} JOIN t2 ON t1.{c} = t2.{d}",
    "SELECT t1.{a} FROM t0 JOIN t1 ON t0.{b} = t1.{b} WHERE EXISTS (SELECT 1 FROM t2 WHERE t2.{c} = t0.{c}) AND t1.{d} > 0",
    "SELECT t0.{a} FROM t0 JOIN (t1 JOIN t2 ON t1.{b} = t2.{b}) ON t0.{c} = t2.{c} WHERE t1.{d} > 1",
    // An inner join nothing above reads (only its row count matters), under a condition
    // that stays in the outer join's ON.
    "SELECT t2.{a} FROM t0 JOIN t1 ON t0.{b} = t1.{b} FULL JOIN t2 ON t2.{c} > 0",
    "SELECT count(*) FROM t0 JOIN t1 ON t0.{b} = t1.{b} LEFT JOIN t2 ON t2.{c} = (SELECT max(t1.{d}) FROM t1)",
    // The root join narrowed: expressions over its rows renumbered, the rest left alone.
    "SELECT t1.{a} AS x FROM t0 JOIN t1 ON t0.{b} = t1.{b} ORDER BY x, t0.{c}, t1.{a}",
    "SELECT DISTINCT ON (t0.{a}) t0.{a}, t1.{b} FROM t0 JOIN t1 ON t0.{c} = t1.{c} ORDER BY t0.{a}, t1.{b}",
    "SELECT t0.{a}, sum(t1.{b}) FILTER (WHERE t1.{c} > 1), string_agg(t1.{d}::text, ',' ORDER BY t1.{d}) FROM t0 JOIN t1 ON t0.{b} = t1.{a} GROUP BY ROLLUP (t0.{a}) ORDER BY 1",
    "SELECT t0.{a}, rank() OVER (ORDER BY t1.{b}) FROM t0 JOIN t1 ON t0.{c} = t1.{c} JOIN t2 ON t2.{d} = t1.{d}",
    "SELECT count(*) FROM t0 JOIN t1 ON t0.{a} = t1.{a}",
    "SELECT t0.{a} FROM t0 JOIN t1 ON t0.{b} = t1.{b} GROUP BY t0.{a} HAVING count(t1.{c}) > 1 ORDER BY t0.{a}",
    "SELECT t0.{a} + 1, (SELECT count(*) FROM t2 WHERE t2.{b} = t1.{c}) FROM t0 LEFT JOIN t1 ON t0.{d} = t1.{d} WHERE t1.{a} IS NULL OR t1.{a} > 0",
    // Reordered with a cross product in the middle: nested joins under a permuting root.
    "SELECT t2.{a}, t0.{b}, t1.{c} FROM t0, t2, t1 WHERE t0.{a} = t1.{a} AND t1.{b} = t2.{b} AND t0.{d} + t2.{d} > 1",
];

const COLUMNS: [&str; 4] = ["a", "b", "c", "d"];

fn cell() -> impl Strategy<Value = Option<u8>> {
    prop_oneof![1 => Just(None), 5 => (0u8..4).prop_map(Some)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn pruned_scans_return_what_whole_rows_return(
        tables in proptest::collection::vec(
            proptest::collection::vec(proptest::collection::vec(cell(), 4), 0..8),
            3,
        ),
        picks in proptest::collection::vec((0usize..4, 0usize..4, 0usize..4, 0usize..4), SHAPES.len()),
    ) {
        let engine = engine();
        let mut s = engine.session("postgres", "postgres");
        for (i, rows) in tables.iter().enumerate() {
            run(&mut s, &format!("CREATE TABLE t{i} (a int, b int, c int, d int)"));
            for r in rows {
                let v: Vec<String> = r.iter().map(|c| c.map_or("NULL".into(), |c| c.to_string())).collect();
                run(&mut s, &format!("INSERT INTO t{i} VALUES ({})", v.join(", ")));
            }
        }
        for (shape, (a, b, c, d)) in SHAPES.iter().zip(&picks) {
            let sql = shape
                .replace("{a}", COLUMNS[*a])
                .replace("{b}", COLUMNS[*b])
                .replace("{c}", COLUMNS[*c])
                .replace("{d}", COLUMNS[*d]);
            // The same query over whole rows.
            let mut whole = sql.clone();
            for t in ["t0", "t1", "t2"] {
                whole = whole
                    .replace(&format!("FROM {t},"), &format!("FROM (SELECT * FROM {t}) {t},"))
                    .replace(&format!("FROM {t} "), &format!("FROM (SELECT * FROM {t}) {t} "))
                    .replace(&format!(", {t} "), &format!(", (SELECT * FROM {t}) {t} "))
                    .replace(&format!("JOIN {t} "), &format!("JOIN (SELECT * FROM {t}) {t} "));
                if whole.ends_with(&format!("FROM {t}")) || whole.ends_with(&format!(", {t}")) {
                    let cut = whole.len() - t.len();
                    whole = format!("{}(SELECT * FROM {t}) {t}", &whole[..cut]);
                }
            }
            prop_assert_ne!(&whole, &sql);
            let narrowed = rows_of(&mut s, &sql);
            super::prune::WIDE_JOINS.with(|w| w.set(true));
            let wide = rows_of(&mut s, &whole);
            super::prune::WIDE_JOINS.with(|w| w.set(false));
            prop_assert_eq!(narrowed, wide, "{}", sql);
        }
    }
}
