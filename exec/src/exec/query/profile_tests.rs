//! EXPLAIN ANALYZE through the engine: every node of the printed plan carries the rows it
//! produced and how often it ran, as PostgreSQL's layout shows them.
#![allow(clippy::unwrap_used)]

use crate::test_support::{engine, explain, run};

/// `line`'s `rows=N loops=L`, or None when it has no measurement.
pub(super) fn counts(line: &str) -> Option<(u64, u64)> {
    let rows = line
        .split(" rows=")
        .nth(1)?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    let loops = line
        .split(" loops=")
        .nth(1)?
        .trim_end_matches(')')
        .parse()
        .ok()?;
    Some((rows, loops))
}

/// The first line of `plan` that starts (after indentation and `->`) with `node`.
pub(super) fn line<'p>(plan: &'p str, node: &str) -> &'p str {
    plan.lines()
        .find(|l| {
            l.trim_start()
                .trim_start_matches("->")
                .trim_start()
                .starts_with(node)
        })
        .unwrap_or_else(|| panic!("no {node} in\n{plan}"))
}

#[test]
fn every_node_shows_its_rows_and_loops() {
    let engine = engine();
    let mut s = engine.session("postgres", "postgres");
    run(
        &mut s,
        "CREATE TABLE a (id int PRIMARY KEY, g int);
         CREATE TABLE b (id int PRIMARY KEY, a_id int);
         INSERT INTO a SELECT x, x % 10 FROM generate_series(1, 100) x;
         INSERT INTO b SELECT x, x % 100 + 1 FROM generate_series(1, 300) x;",
    );
    let plan = explain(
        &mut s,
        "ANALYZE SELECT a.g, count(*) FROM a JOIN b ON b.a_id = a.id WHERE a.g < 5 \
         GROUP BY a.g ORDER BY a.g LIMIT 3",
    );
    assert_eq!(counts(line(&plan, "Limit")), Some((3, 1)), "{plan}");
    assert_eq!(counts(line(&plan, "Sort")), Some((5, 1)), "{plan}");
    assert_eq!(counts(line(&plan, "HashAggregate")), Some((5, 1)), "{plan}");
    assert_eq!(counts(line(&plan, "Hash Join")), Some((150, 1)), "{plan}");
    assert_eq!(
        counts(line(&plan, "Seq Scan on a")),
        Some((50, 1)),
        "{plan}"
    );
    assert_eq!(
        counts(line(&plan, "Seq Scan on b")),
        Some((300, 1)),
        "{plan}"
    );
    assert!(line(&plan, "Limit").contains("(actual time="), "{plan}");
    assert!(plan.contains("\nPlanning Time: "), "{plan}");
    assert!(plan.contains("\nExecution Time: "), "{plan}");

    // A correlated subquery runs once per outer row; one in a branch never taken never runs.
    let plan = explain(
        &mut s,
        "ANALYZE SELECT id, (SELECT count(*) FROM b WHERE b.a_id = a.id), \
         CASE WHEN id < 0 THEN (SELECT max(id) FROM b WHERE b.id = a.id) END \
         FROM a WHERE id <= 4",
    );
    let scans: Vec<&str> = plan.lines().filter(|l| l.contains(" on b (")).collect();
    assert_eq!(scans.len(), 2, "{plan}");
    assert_eq!(counts(scans[0]).map(|(_, loops)| loops), Some(4), "{plan}");
    assert!(scans[1].ends_with("(never executed)"), "{plan}");
    // The index scan on a reads 4 rows once.
    assert_eq!(
        counts(line(&plan, "Index Scan using a_pkey on a")),
        Some((4, 1)),
        "{plan}"
    );

    // A set operation, VALUES and a plain EXPLAIN (no measurements).
    let plan = explain(
        &mut s,
        "ANALYZE SELECT g FROM a WHERE id < 3 UNION ALL VALUES (7), (8), (9)",
    );
    assert_eq!(counts(line(&plan, "Append")), Some((5, 1)), "{plan}");
    assert_eq!(counts(line(&plan, "Values Scan")), Some((3, 1)), "{plan}");
    // Nodes that ran are measured: a filter applied while aggregating, a LATERAL function.
    for q in [
        "ANALYZE SELECT count(*) FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.id = 7)",
        "ANALYZE SELECT a.id, x FROM a, LATERAL generate_series(1, a.g) x WHERE a.id < 4",
    ] {
        let plan = explain(&mut s, q);
        assert!(!plan.contains("never executed"), "{q}\n{plan}");
    }
    let plan = explain(
        &mut s,
        "ANALYZE SELECT a.id, x FROM a, LATERAL generate_series(1, a.g) x WHERE a.id < 4",
    );
    assert_eq!(counts(line(&plan, "Function Scan")), Some((2, 3)), "{plan}");
    let plain = explain(&mut s, "SELECT g FROM a WHERE id < 3");
    assert!(!plain.contains("actual"), "{plain}");
}
