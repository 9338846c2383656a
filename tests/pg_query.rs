//! End-to-end tests of multi-table queries over the PostgreSQL protocol: joins of every
//! kind, subqueries (scalar, EXISTS, IN, ANY/ALL, correlated, LATERAL), set operations,
//! WITH and views. Expected rows are what PostgreSQL 15 returns for the same statements.
#![allow(clippy::unwrap_used)]

mod common;

use common::pg::{code, connect, rt, simple};

/// Rows as `|`-joined text, NULL as `∅`, for compact expectations.
async fn rows(c: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    simple(c, sql)
        .await
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| v.unwrap_or_else(|| "∅".into()))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

const SCHEMA: &str = "
    CREATE TABLE dept (id int PRIMARY KEY, name text NOT NULL);
    CREATE TABLE emp (id int PRIMARY KEY, name text, dept int, salary numeric(8,2), boss int);
    INSERT INTO dept VALUES (1, 'eng'), (2, 'ops'), (3, 'empty');
    INSERT INTO emp VALUES
        (10, 'ann', 1, 300, NULL), (11, 'bob', 1, 200, 10), (12, 'cid', 2, 150, 10),
        (13, 'dee', NULL, 100, 12), (14, 'eve', 2, NULL, 12);
";

#[test]
fn joins_of_every_kind() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(SCHEMA).await.unwrap();
        let q = |sql: &'static str| {
            let c = &c;
            async move { rows(c, sql).await }
        };
        assert_eq!(
            q("SELECT e.name, d.name FROM emp e JOIN dept d ON e.dept = d.id ORDER BY e.id").await,
            ["ann|eng", "bob|eng", "cid|ops", "eve|ops"]
        );
        // Implicit join through WHERE, with a filter on each side.
        assert_eq!(
            q("SELECT e.name FROM emp e, dept d WHERE e.dept = d.id AND d.name = 'ops' AND e.salary > 100 ORDER BY 1").await,
            ["cid"]
        );
        assert_eq!(
            q("SELECT e.name, d.name FROM emp e LEFT JOIN dept d ON e.dept = d.id ORDER BY e.id").await,
            ["ann|eng", "bob|eng", "cid|ops", "dee|∅", "eve|ops"]
        );
        assert_eq!(
            q("SELECT d.name, count(e.id) FROM emp e RIGHT JOIN dept d ON e.dept = d.id GROUP BY d.name ORDER BY 1").await,
            ["empty|0", "eng|2", "ops|2"]
        );
        assert_eq!(
            q("SELECT e.name, d.name FROM emp e FULL JOIN dept d ON e.dept = d.id ORDER BY e.id NULLS LAST, d.id").await,
            ["ann|eng", "bob|eng", "cid|ops", "dee|∅", "eve|ops", "∅|empty"]
        );
        // A condition on the nullable side in WHERE filters after the outer join.
        assert_eq!(
            q("SELECT e.name FROM emp e LEFT JOIN dept d ON e.dept = d.id WHERE d.id IS NULL").await,
            ["dee"]
        );
        // ... but in ON it only decides matches.
        assert_eq!(
            q("SELECT e.name, d.name FROM emp e LEFT JOIN dept d ON e.dept = d.id AND d.name = 'ops' ORDER BY e.id").await,
            ["ann|∅", "bob|∅", "cid|ops", "dee|∅", "eve|ops"]
        );
        assert_eq!(q("SELECT count(*) FROM emp CROSS JOIN dept").await, ["15"]);
        // Self-join, and a three-way join.
        assert_eq!(
            q("SELECT e.name, b.name FROM emp e JOIN emp b ON e.boss = b.id ORDER BY e.id").await,
            ["bob|ann", "cid|ann", "dee|cid", "eve|cid"]
        );
        assert_eq!(
            q("SELECT e.name, b.name, d.name FROM emp e JOIN emp b ON e.boss = b.id JOIN dept d ON d.id = b.dept ORDER BY e.id").await,
            ["bob|ann|eng", "cid|ann|eng", "dee|cid|ops", "eve|cid|ops"]
        );
        // USING and NATURAL merge the join columns; * lists them once, first.
        c.batch_execute(
            "CREATE TABLE a (k int, x text); CREATE TABLE b (k int, y text);
             INSERT INTO a VALUES (1, 'a1'), (2, 'a2'); INSERT INTO b VALUES (2, 'b2'), (3, 'b3');",
        )
        .await
        .unwrap();
        assert_eq!(q("SELECT * FROM a JOIN b USING (k)").await, ["2|a2|b2"]);
        assert_eq!(q("SELECT * FROM a NATURAL JOIN b").await, ["2|a2|b2"]);
        assert_eq!(
            q("SELECT k, a.k, b.k FROM a FULL JOIN b USING (k) ORDER BY k").await,
            ["1|1|∅", "2|2|2", "3|∅|3"]
        );
        let e = c.simple_query("SELECT k FROM a JOIN b ON a.k = b.k").await.unwrap_err();
        assert_eq!(code(&e), "42702", "ambiguous column: {e}");
        let e = c.simple_query("SELECT z.k FROM a").await.unwrap_err();
        assert_eq!(code(&e), "42P01", "{e}");
        // SELECT ... INTO creates a table: no rows come back, the table has them.
        assert!(q("SELECT k INTO sinto FROM a").await.is_empty());
        assert_eq!(q("SELECT k FROM sinto ORDER BY k").await, ["1", "2"]);
        // Join conditions with parameters, over the extended protocol.
        let r = c
            .query(
                "SELECT e.name FROM emp e JOIN dept d ON d.id = e.dept WHERE d.name = $1 ORDER BY e.name",
                &[&"eng"],
            )
            .await
            .unwrap();
        let names: Vec<String> = r.iter().map(|r| r.get(0)).collect();
        assert_eq!(names, ["ann", "bob"]);
    });
}

#[test]
fn subqueries_set_operations_with_and_views() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(SCHEMA).await.unwrap();
        let q = |sql: &'static str| {
            let c = &c;
            async move { rows(c, sql).await }
        };
        assert_eq!(q("SELECT (SELECT max(salary) FROM emp)").await, ["300.00"]);
        // Correlated scalar subquery, in the select list and in WHERE.
        assert_eq!(
            q("SELECT d.name, (SELECT count(*) FROM emp e WHERE e.dept = d.id) FROM dept d ORDER BY d.id").await,
            ["eng|2", "ops|2", "empty|0"]
        );
        assert_eq!(
            q("SELECT name FROM emp e WHERE salary > (SELECT avg(salary) FROM emp x WHERE x.dept = e.dept) ORDER BY 1").await,
            ["ann"]
        );
        assert_eq!(
            q("SELECT name FROM dept d WHERE EXISTS (SELECT 1 FROM emp e WHERE e.dept = d.id) ORDER BY 1").await,
            ["eng", "ops"]
        );
        assert_eq!(
            q("SELECT name FROM dept d WHERE NOT EXISTS (SELECT 1 FROM emp e WHERE e.dept = d.id)").await,
            ["empty"]
        );
        assert_eq!(
            q("SELECT name FROM emp WHERE dept IN (SELECT id FROM dept WHERE name <> 'eng') ORDER BY 1").await,
            ["cid", "eve"]
        );
        // NOT IN over a set with a NULL is never true.
        assert_eq!(q("SELECT count(*) FROM dept WHERE id NOT IN (SELECT dept FROM emp)").await, ["0"]);
        assert_eq!(
            q("SELECT count(*) FROM dept WHERE id NOT IN (SELECT dept FROM emp WHERE dept IS NOT NULL)").await,
            ["1"]
        );
        assert_eq!(
            q("SELECT name FROM emp WHERE salary >= ALL (SELECT salary FROM emp WHERE salary IS NOT NULL)").await,
            ["ann"]
        );
        assert_eq!(
            q("SELECT name FROM emp WHERE id = ANY (ARRAY[10, 14]) ORDER BY 1").await,
            ["ann", "eve"]
        );
        assert_eq!(q("SELECT ARRAY(SELECT id FROM dept ORDER BY id DESC)").await, ["{3,2,1}"]);
        let e = c.simple_query("SELECT (SELECT id FROM dept)").await.unwrap_err();
        assert_eq!(code(&e), "21000", "{e}");
        let e = c.simple_query("SELECT (SELECT id, name FROM dept)").await.unwrap_err();
        assert_eq!(code(&e), "42601", "{e}");
        // Derived tables, LATERAL and column aliases.
        assert_eq!(
            q("SELECT t.n, t.total FROM (SELECT dept AS n, sum(salary) AS total FROM emp GROUP BY dept) AS t WHERE t.n IS NOT NULL ORDER BY 1").await,
            ["1|500.00", "2|150.00"]
        );
        assert_eq!(
            q("SELECT d.name, top.name FROM dept d CROSS JOIN LATERAL (SELECT name FROM emp e WHERE e.dept = d.id ORDER BY salary DESC NULLS LAST LIMIT 1) AS top ORDER BY 1").await,
            ["eng|ann", "ops|cid"]
        );
        assert_eq!(
            q("SELECT d.name, o.n FROM dept d LEFT JOIN LATERAL (SELECT count(*) AS n FROM emp e WHERE e.dept = d.id HAVING count(*) > 0) AS o(n) ON true ORDER BY d.id").await,
            ["eng|2", "ops|2", "empty|∅"]
        );
        // Set operations.
        assert_eq!(
            q("SELECT dept FROM emp UNION SELECT id FROM dept ORDER BY 1 NULLS FIRST").await,
            ["∅", "1", "2", "3"]
        );
        assert_eq!(q("SELECT count(*) FROM (SELECT dept FROM emp UNION ALL SELECT id FROM dept) u").await, ["8"]);
        assert_eq!(q("SELECT id FROM dept INTERSECT SELECT dept FROM emp ORDER BY 1").await, ["1", "2"]);
        assert_eq!(q("SELECT id FROM dept EXCEPT SELECT dept FROM emp").await, ["3"]);
        assert_eq!(q("VALUES (2, 'b'), (1, 'a') ORDER BY 1").await, ["1|a", "2|b"]);
        let e = c.simple_query("SELECT 1 UNION SELECT 1, 2").await.unwrap_err();
        assert_eq!(code(&e), "42601", "{e}");
        // WITH.
        assert_eq!(
            q("WITH big AS (SELECT * FROM emp WHERE salary >= 200), n(c) AS (SELECT count(*) FROM big) SELECT name, c FROM big, n ORDER BY name").await,
            ["ann|2", "bob|2"]
        );
    });
}

#[test]
fn explain_shows_the_chosen_plan() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(SCHEMA).await.unwrap();
        c.batch_execute("CREATE INDEX emp_dept ON emp (dept)").await.unwrap();
        let plan = |sql: &'static str| {
            let c = &c;
            async move { rows(c, sql).await.join("\n") }
        };
        assert_eq!(
            plan("EXPLAIN SELECT name FROM emp WHERE id = 11").await,
            "Index Scan using emp_pkey on emp\n  Index Cond: (id = 11)\n  Filter: (id = 11)"
        );
        assert_eq!(
            plan("EXPLAIN SELECT name FROM emp WHERE dept = 2 AND salary > 100").await,
            "Index Scan using emp_dept on emp\n  Index Cond: (dept = 2)\n  Filter: ((dept = 2) AND (salary > 100))"
        );
        assert_eq!(
            plan("EXPLAIN SELECT * FROM emp WHERE id > 11").await,
            "Index Scan using emp_pkey on emp\n  Index Cond: (id > 11)\n  Filter: (id > 11)"
        );
        assert_eq!(
            plan("EXPLAIN SELECT * FROM emp e JOIN dept d ON e.dept = d.id WHERE d.name = 'ops'").await,
            // Few departments pass the filter: each one's employees are looked up by index.
            "Nested Loop\n  ->  Seq Scan on dept d\n        Filter: (name = 'ops')\n  ->  Index Scan using emp_dept on emp e\n        Index Cond: (dept = d.id)"
        );
        assert_eq!(
            plan("EXPLAIN SELECT * FROM emp e LEFT JOIN dept d ON e.dept < d.id").await,
            "Nested Loop Left\n  Join Filter: (e.dept < d.id)\n  ->  Seq Scan on emp e\n  ->  Seq Scan on dept d"
        );
        assert_eq!(
            plan("EXPLAIN DELETE FROM emp WHERE id = 10").await,
            "Delete on emp\n  ->  Index Scan using emp_pkey on emp\n        Index Cond: (id = 10)\n        Filter: (id = 10)"
        );
        // ANALYZE runs the plan once and shows each node's time, rows and runs.
        let analyzed = rows(&c, "EXPLAIN ANALYZE SELECT * FROM dept").await;
        assert!(analyzed[0].starts_with("Seq Scan on dept (actual time="), "{analyzed:?}");
        assert!(analyzed[0].ends_with(" rows=3 loops=1)"), "{analyzed:?}");
        assert!(analyzed[1].starts_with("Planning Time: "), "{analyzed:?}");
        assert!(analyzed[2].starts_with("Execution Time: "), "{analyzed:?}");
        let analyzed = rows(&c, "EXPLAIN ANALYZE DELETE FROM emp WHERE id = 999").await;
        assert_eq!(analyzed[0], "Delete on emp (actual rows=0)");
    });
}

#[test]
fn updates_and_deletes_over_joins_and_subqueries() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(SCHEMA).await.unwrap();
        let q = |sql: &'static str| {
            let c = &c;
            async move { rows(c, sql).await }
        };
        // UPDATE ... FROM with RETURNING of both tables' columns.
        assert_eq!(
            q("UPDATE emp e SET salary = e.salary + 1 FROM dept d WHERE e.dept = d.id AND d.name = 'eng' RETURNING e.name, e.salary, d.name").await,
            ["ann|301.00|eng", "bob|201.00|eng"]
        );
        // Subqueries in SET and WHERE, correlated and not.
        assert_eq!(
            q("UPDATE emp SET boss = (SELECT min(id) FROM emp) WHERE dept IN (SELECT id FROM dept WHERE name = 'ops') RETURNING id, boss").await,
            ["12|10", "14|10"]
        );
        assert_eq!(
            q("UPDATE dept d SET name = name || '+' WHERE EXISTS (SELECT 1 FROM emp e WHERE e.dept = d.id AND e.salary > 250) RETURNING name").await,
            ["eng+"]
        );
        // A target row joined to several FROM rows is updated once.
        assert_eq!(
            q("UPDATE dept SET name = 'x' || dept.name FROM emp WHERE emp.dept = dept.id AND dept.id = 2").await,
            Vec::<String>::new()
        );
        assert_eq!(q("SELECT name FROM dept WHERE id = 2").await, ["xops"]);
        // DELETE ... USING.
        assert_eq!(
            q("DELETE FROM emp e USING dept d WHERE e.dept = d.id AND d.name = 'xops' RETURNING e.id").await,
            ["12", "14"]
        );
        assert_eq!(
            q("DELETE FROM dept WHERE id NOT IN (SELECT dept FROM emp WHERE dept IS NOT NULL) RETURNING id").await,
            ["2", "3"]
        );
        // INSERT VALUES with a subquery.
        c.batch_execute("INSERT INTO dept VALUES ((SELECT max(id) + 1 FROM dept), 'new')")
            .await
            .unwrap();
        assert_eq!(q("SELECT id, name FROM dept ORDER BY id").await, ["1|eng+", "2|new"]);
        let e = c
            .simple_query("UPDATE emp SET salary = (SELECT salary FROM emp)")
            .await
            .unwrap_err();
        assert_eq!(code(&e), "21000", "{e}");
    });
}

#[test]
fn create_table_as_and_select_into_through_the_extended_protocol() {
    let (_dir, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(SCHEMA).await.unwrap();
        // Extended protocol (Parse/Bind/Describe/Execute): the count of rows written comes
        // back in the command tag, and no row description.
        let n = c
            .execute(
                "CREATE TABLE rich AS SELECT e.name, d.name AS dept, e.salary \
                 FROM emp e JOIN dept d ON d.id = e.dept WHERE e.salary >= 150",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(n, 3);
        let n = c
            .execute("SELECT name INTO poor FROM emp WHERE salary < 150", &[])
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(
            rows(&c, "SELECT * FROM rich ORDER BY name").await,
            ["ann|eng|300.00", "bob|eng|200.00", "cid|ops|150.00"]
        );
        assert_eq!(rows(&c, "SELECT * FROM poor").await, ["dee"]);
        let e = c.execute("SELECT 1 AS a INTO poor", &[]).await.unwrap_err();
        assert_eq!(code(&e), "42P07");
    });
}

/// The bulk-load idiom of PostgreSQL drivers: arrays bound as parameters, zipped into rows
/// by `unnest` in FROM.
#[test]
fn rows_bound_as_arrays_are_inserted_through_unnest() {
    let (_dir, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute("CREATE TABLE bulk (id int PRIMARY KEY, name text, score float8)")
            .await
            .unwrap();
        let ids: Vec<i32> = (1..=500).collect();
        let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
        let scores: Vec<Option<f64>> = ids
            .iter()
            .map(|&i| (i % 7 != 0).then_some(f64::from(i) / 2.0))
            .collect();
        let n = c
            .execute(
                "INSERT INTO bulk SELECT * FROM unnest($1::int[], $2::text[], $3::float8[])",
                &[&ids, &names, &scores],
            )
            .await
            .unwrap();
        assert_eq!(n, 500);
        assert_eq!(
            rows(&c, "SELECT count(*), count(score), max(name) FROM bulk").await,
            ["500|429|n99"]
        );
        // Arrays of different lengths: the shorter ones end in NULLs.
        let got = c
            .query(
                "SELECT * FROM unnest($1::int[], $2::text[]) AS t(k, v) ORDER BY k",
                &[&vec![1i32, 2, 3], &vec!["a".to_string()]],
            )
            .await
            .unwrap();
        let pairs: Vec<(i32, Option<String>)> = got.iter().map(|r| (r.get(0), r.get(1))).collect();
        assert_eq!(pairs, [(1, Some("a".into())), (2, None), (3, None)]);
    });
}

/// A job queue over the wire: workers polling with `FOR UPDATE SKIP LOCKED` each take a
/// different job (through the extended protocol, as drivers send it), `NOWAIT` fails at
/// once with 55P03, and plain `FOR UPDATE` waits for the holder's commit and sees its write.
#[test]
fn job_queue_workers_skip_locked_rows_and_nowait_fails_at_once() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let a = connect(&server).await;
        let b = connect(&server).await;
        a.batch_execute(
            "CREATE TABLE jobs (id bigint PRIMARY KEY, done bool NOT NULL DEFAULT false);
             INSERT INTO jobs SELECT g FROM generate_series(1, 2000) g",
        )
        .await
        .unwrap();
        let poll = "SELECT id FROM jobs WHERE NOT done ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED";
        async fn ids(c: &tokio_postgres::Client, sql: &str, n: i64) -> Vec<i64> {
            let rows = c.query(sql, &[&n]).await.unwrap();
            rows.iter().map(|r| r.get(0)).collect()
        }
        a.batch_execute("BEGIN").await.unwrap();
        assert_eq!(ids(&a, poll, 1).await, [1]);
        b.batch_execute("BEGIN").await.unwrap();
        assert_eq!(ids(&b, poll, 2).await, [2, 3]);
        let e = b
            .simple_query("SELECT id FROM jobs WHERE id = 1 FOR UPDATE NOWAIT")
            .await
            .unwrap_err();
        assert_eq!(code(&e), "55P03", "{e}");
        b.batch_execute("ROLLBACK; BEGIN").await.unwrap();
        // Plain FOR UPDATE waits until a commits, then reads a's write.
        let waiter = tokio::spawn(async move {
            let r = b
                .query_one("SELECT done FROM jobs WHERE id = 1 FOR UPDATE", &[])
                .await
                .unwrap();
            let done: bool = r.get(0);
            b.batch_execute("COMMIT").await.unwrap();
            done
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!waiter.is_finished());
        a.batch_execute("UPDATE jobs SET done = true WHERE id = 1; COMMIT")
            .await
            .unwrap();
        assert!(waiter.await.unwrap());
    });
}
