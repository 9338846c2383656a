//! Index nested-loop joins (`lookup`): chosen when the left side is small, shown as a Nested
//! Loop over an inner Index Scan, and answering exactly as a hash join over held rows does
//! for inner, left, semi and anti joins, NULL keys, keys beyond the index, the right table's
//! own conditions, composite keys, and UPDATE ... FROM.
#![allow(clippy::unwrap_used)]

use crate::test_support::{engine, explain, run, sorted_rows};

const SCHEMA: &str = "
    CREATE TABLE customer (id int PRIMARY KEY, name text, region int);
    CREATE TABLE orders (id int PRIMARY KEY, cust_id int, amount int, region int);
    CREATE INDEX orders_cust ON orders (cust_id);
    CREATE TABLE line (order_id int, n int, qty int, PRIMARY KEY (order_id, n));
    INSERT INTO customer SELECT x, 'c' || x, x / 2 % 3 FROM generate_series(1, 3000) x;
    INSERT INTO orders SELECT x, CASE WHEN x % 10 = 0 THEN NULL ELSE x % 350 END, x % 7, x % 3
      FROM generate_series(1, 2000) x;
    INSERT INTO line SELECT x / 4, x % 4, x FROM generate_series(4, 8003) x;";

/// Each query with `{c}`, `{o}` and `{l}` for the tables; the oracle reads them held.
const QUERIES: &[&str] = &[
    "SELECT o.id, c.name FROM {o} o JOIN {c} c ON c.id = o.cust_id WHERE o.id BETWEEN 5 AND 40",
    "SELECT o.id, c.name FROM {o} o LEFT JOIN {c} c ON c.id = o.cust_id WHERE o.id BETWEEN 1 AND 30",
    "SELECT o.id, c.name FROM {o} o LEFT JOIN {c} c ON c.id = o.cust_id AND c.name <> 'c7' WHERE o.id BETWEEN 1 AND 30",
    "SELECT o.id FROM {o} o JOIN {c} c ON c.id = o.cust_id AND c.region = o.region WHERE o.id BETWEEN 1 AND 60",
    "SELECT c.id, o.id, o.amount FROM {c} c JOIN {o} o ON o.cust_id = c.id WHERE c.id IN (3, 4, 5)",
    "SELECT o.id FROM {o} o WHERE o.id BETWEEN 1 AND 50 AND EXISTS (SELECT 1 FROM {c} c WHERE c.id = o.cust_id AND c.region = 1)",
    "SELECT o.id FROM {o} o WHERE o.id BETWEEN 1 AND 50 AND NOT EXISTS (SELECT 1 FROM {c} c WHERE c.id = o.cust_id)",
    // EXISTS whose subquery finds its rows by an index: a lookup semi / anti join (the held
    // oracle runs the subquery per row), by a secondary index, with a condition on the rows
    // found, and by a primary-key prefix.
    "SELECT c.id FROM {c} c WHERE c.id BETWEEN 300 AND 330 AND NOT EXISTS (SELECT 1 FROM {o} o WHERE o.cust_id = c.id)",
    "SELECT c.id FROM {c} c WHERE c.id BETWEEN 300 AND 420 AND EXISTS (SELECT 1 FROM {o} o WHERE o.cust_id = c.id AND o.amount <> c.region)",
    "SELECT o.id FROM {o} o WHERE o.id BETWEEN 1 AND 90 AND EXISTS (SELECT * FROM {l} l WHERE l.order_id = o.id AND l.qty % 5 = o.amount)",
    "SELECT o.id, l.n, l.qty FROM {o} o JOIN {l} l ON l.order_id = o.id WHERE o.id IN (7, 8, 2500)",
    "SELECT c.name, sum(o.amount) FROM {c} c JOIN {o} o ON o.cust_id = c.id WHERE c.id < 4 GROUP BY c.name",
    // TPC-H Q19's shape: the join key in every branch of an OR, each branch restricting both
    // tables (each table gets the OR of its own parts).
    "SELECT o.id, c.id FROM {o} o, {c} c WHERE (c.id = o.cust_id AND c.region = 1 AND c.id < 40 AND o.amount < 3) \
     OR (c.id = o.cust_id AND c.name = 'c7' AND o.amount > 5) OR (c.id = o.cust_id AND c.name = 'c8' AND c.region + o.amount = 4)",
];

fn table(q: &str, held: bool) -> String {
    let t = |name: &str| {
        if held {
            format!("(SELECT * FROM {name} OFFSET 0)")
        } else {
            name.to_string()
        }
    };
    q.replace("{c}", &t("customer"))
        .replace("{o}", &t("orders"))
        .replace("{l}", &t("line"))
}

#[test]
fn lookups_answer_like_hash_joins_and_show_in_explain() {
    let engine = engine();
    let mut s = engine.session("postgres", "postgres");
    run(&mut s, SCHEMA);
    for analyzed in [false, true] {
        if analyzed {
            run(&mut s, "ANALYZE");
        }
        for q in QUERIES {
            let looked_up = sorted_rows(&mut s, &table(q, false));
            let hashed = sorted_rows(&mut s, &table(q, true));
            assert_eq!(looked_up, hashed, "{q}");
            assert!(!looked_up.is_empty(), "{q}");
        }
        let plan = explain(&mut s, &table(QUERIES[0], false));
        assert!(plan.starts_with("Nested Loop"), "{plan}");
        assert!(
            plan.contains("->  Index Scan using customer_pkey on customer c"),
            "{plan}"
        );
        assert!(plan.contains("Index Cond: (id = o.cust_id)"), "{plan}");
        // A secondary index, and the primary key's leading column of a composite key.
        let plan = explain(&mut s, &table(QUERIES[4], false));
        assert!(
            plan.contains("Index Scan using orders_cust on orders o"),
            "{plan}"
        );
        let plan = explain(&mut s, &table(QUERIES[10], false));
        assert!(
            plan.contains("Index Scan using line_pkey on line l"),
            "{plan}"
        );
        let plan = explain(&mut s, &table(QUERIES[3], false));
        assert!(plan.contains("Join Filter: "), "{plan}");
        if !analyzed {
            // EXISTS made a semi join, whose table is looked up per row.
            let plan = explain(&mut s, &table(QUERIES[5], false));
            assert!(plan.starts_with("Nested Loop Semi"), "{plan}");
            assert!(plan.contains("Index Scan using customer_pkey"), "{plan}");
        }
        // EXISTS by an index: the join looks the rows up itself.
        let plan = explain(&mut s, &table(QUERIES[7], false));
        assert!(plan.contains("Nested Loop Anti"), "{plan}");
        assert!(plan.contains("Index Scan using orders_cust"), "{plan}");
        let plan = explain(&mut s, &table(QUERIES[9], false));
        assert!(plan.contains("Nested Loop Semi"), "{plan}");
        assert!(plan.contains("Index Scan using line_pkey"), "{plan}");
        let plan = explain(&mut s, &table(QUERIES[12], false));
        assert!(
            plan.contains("(((region = 1) AND (id < 40)) OR (name = 'c7')) OR (name = 'c8')"),
            "{plan}"
        );
        // The third branch reads orders only beside customer: no restriction on orders.
        assert!(!plan.contains("(amount < 3) OR"), "{plan}");
        // The held oracle hashes.
        let plan = explain(&mut s, &table(QUERIES[0], true));
        assert!(plan.starts_with("Hash Join"), "{plan}");
    }
    // Every order joined with every customer: reading and hashing the customers is cheaper.
    let plan = explain(
        &mut s,
        "SELECT count(*) FROM orders o JOIN customer c ON c.id = o.cust_id",
    );
    assert!(plan.contains("Hash Join"), "{plan}");
    // EXPLAIN ANALYZE counts one inner scan per left row.
    let plan = explain(&mut s, &format!("ANALYZE {}", table(QUERIES[0], false)));
    let inner = plan
        .lines()
        .find(|l| l.contains("Index Scan using customer_pkey"))
        .unwrap();
    assert!(inner.ends_with("loops=36)"), "{plan}");
}

#[test]
fn update_from_through_a_lookup() {
    let engine = engine();
    let mut s = engine.session("postgres", "postgres");
    run(&mut s, SCHEMA);
    let update =
        "UPDATE customer c SET name = 'big' FROM orders o WHERE c.id = o.cust_id AND o.id = 17";
    run(&mut s, update);
    assert_eq!(
        run(
            &mut s,
            "SELECT string_agg(id::text, ',') FROM customer WHERE name = 'big'"
        )
        .as_deref(),
        Some("17")
    );
    run(
        &mut s,
        "DELETE FROM orders o USING customer c WHERE c.id = o.cust_id AND c.id = 5",
    );
    assert_eq!(
        run(&mut s, "SELECT count(*) FROM orders WHERE cust_id = 5").as_deref(),
        Some("0")
    );
}
