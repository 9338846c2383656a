//! End-to-end tests of secondary indexes, UNIQUE and FOREIGN KEY constraints and views over
//! the PostgreSQL protocol. Errors are checked for PostgreSQL's SQLSTATE, message and detail.
#![allow(clippy::unwrap_used)]

mod common;

use common::pg::{code, connect, rt, simple};

async fn one(c: &tokio_postgres::Client, sql: &str) -> Vec<String> {
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

async fn fails(c: &tokio_postgres::Client, sql: &str, want: &str) -> String {
    let e = c.batch_execute(sql).await.unwrap_err();
    assert_eq!(code(&e), want, "{sql}: {e}");
    let db = e.as_db_error().unwrap();
    format!("{} / {}", db.message(), db.detail().unwrap_or(""))
}

#[test]
fn secondary_and_unique_indexes() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(
            "CREATE TABLE u (id serial PRIMARY KEY, email text UNIQUE, team int, score int);
             INSERT INTO u (email, team, score) VALUES ('a@x', 1, 10), ('b@x', 1, 20), ('c@x', 2, 30), (NULL, 2, 40), (NULL, 3, 50);
             CREATE INDEX u_team ON u (team, score);",
        )
        .await
        .unwrap();
        // Lookups through the indexes agree with the data, before and after changes.
        assert_eq!(one(&c, "SELECT id FROM u WHERE email = 'b@x'").await, ["2"]);
        assert_eq!(one(&c, "SELECT id FROM u WHERE team = 2 ORDER BY id").await, ["3", "4"]);
        assert_eq!(one(&c, "SELECT id FROM u WHERE team = 1 AND score = 20").await, ["2"]);
        c.batch_execute(
            "UPDATE u SET team = 3, email = 'bb@x' WHERE id = 2; DELETE FROM u WHERE id = 3;",
        )
        .await
        .unwrap();
        assert_eq!(one(&c, "SELECT id FROM u WHERE team = 1").await, ["1"]);
        assert_eq!(one(&c, "SELECT id FROM u WHERE team = 3 ORDER BY id").await, ["2", "5"]);
        assert_eq!(one(&c, "SELECT id FROM u WHERE team = 2").await, ["4"]);
        assert_eq!(one(&c, "SELECT count(*) FROM u WHERE email = 'b@x'").await, ["0"]);
        assert_eq!(one(&c, "SELECT id FROM u WHERE email = 'bb@x'").await, ["2"]);
        // Unique: a duplicate is refused with the constraint and key; NULLs never collide.
        let m = fails(&c, "INSERT INTO u (email) VALUES ('a@x')", "23505").await;
        assert_eq!(
            m,
            "duplicate key value violates unique constraint \"u_email_key\" / Key (email)=(a@x) already exists."
        );
        fails(&c, "UPDATE u SET email = 'a@x' WHERE id = 2", "23505").await;
        c.batch_execute("INSERT INTO u (email) VALUES (NULL)").await.unwrap();
        // Swapping a value away and back in one statement sequence works.
        c.batch_execute("UPDATE u SET email = 'z@x' WHERE id = 1; INSERT INTO u (email) VALUES ('a@x')")
            .await
            .unwrap();
        // A failed statement leaves no index entries behind.
        fails(&c, "INSERT INTO u (email, team) VALUES ('new@x', 9), ('z@x', 9)", "23505").await;
        assert_eq!(one(&c, "SELECT count(*) FROM u WHERE team = 9").await, ["0"]);
        c.batch_execute("INSERT INTO u (email, team) VALUES ('new@x', 9)").await.unwrap();
        // CREATE UNIQUE INDEX over existing duplicates fails; multi-column unique works.
        let m = fails(&c, "CREATE UNIQUE INDEX ON u (team)", "23505").await;
        assert!(m.starts_with("could not create unique index \"u_team_key\""), "{m}");
        c.batch_execute("CREATE UNIQUE INDEX u_pair ON u (team, email)").await.unwrap();
        fails(&c, "CREATE INDEX u_team ON u (score)", "42P07").await;
        fails(&c, "CREATE TABLE u_team (x int)", "42P07").await;
        let m = fails(&c, "DROP INDEX u_email_key", "2BP01").await;
        assert!(m.contains("constraint u_email_key on table u requires it"), "{m}");
        c.batch_execute("DROP INDEX u_team; DROP INDEX u_pair; DROP INDEX IF EXISTS nope")
            .await
            .unwrap();
        fails(&c, "DROP INDEX nope", "42704").await;
        assert_eq!(one(&c, "SELECT count(*) FROM u WHERE team = 9").await, ["1"]);
        // Dropping an indexed column drops its index; ALTER TABLE ADD UNIQUE builds one.
        c.batch_execute("ALTER TABLE u DROP COLUMN email; ALTER TABLE u ADD UNIQUE (id, team)")
            .await
            .unwrap();
        c.batch_execute("INSERT INTO u (team) VALUES (1)").await.unwrap();
        // An index survives a restart of its transaction's effects: rolled back rows leave
        // no entries.
        c.batch_execute("BEGIN; CREATE INDEX u_score ON u (score); INSERT INTO u (score) VALUES (777); ROLLBACK")
            .await
            .unwrap();
        c.batch_execute("CREATE INDEX u_score ON u (score)").await.unwrap();
        assert_eq!(one(&c, "SELECT count(*) FROM u WHERE score = 777").await, ["0"]);
        // Two connections racing to insert one unique value: exactly one wins.
        c.batch_execute("CREATE TABLE k (id serial PRIMARY KEY, name text UNIQUE)").await.unwrap();
        let c2 = connect(&server).await;
        for round in 0..20 {
            let sql = format!("INSERT INTO k (name) VALUES ('n{round}')");
            let (a, b) = tokio::join!(c.batch_execute(&sql), c2.batch_execute(&sql));
            let ok = [&a, &b].iter().filter(|r| r.is_ok()).count();
            assert_eq!(ok, 1, "round {round}: {a:?} {b:?}");
            for r in [a, b] {
                if let Err(e) = r {
                    assert!(["23505", "40001"].contains(&code(&e).as_str()), "{e}");
                }
            }
        }
        assert_eq!(one(&c, "SELECT count(*), count(DISTINCT name) FROM k").await, ["20|20"]);
    });
}

#[test]
fn foreign_keys() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(
            "CREATE TABLE p (id int PRIMARY KEY, code text UNIQUE);
             CREATE TABLE restrict_c (id int PRIMARY KEY, pid int REFERENCES p);
             CREATE TABLE cascade_c (id int PRIMARY KEY, pid int REFERENCES p ON DELETE CASCADE ON UPDATE CASCADE);
             CREATE TABLE null_c (id int PRIMARY KEY, pcode text, FOREIGN KEY (pcode) REFERENCES p (code) ON DELETE SET NULL);
             INSERT INTO p VALUES (1, 'one'), (2, 'two'), (3, 'three');
             INSERT INTO restrict_c VALUES (10, 1);
             INSERT INTO cascade_c VALUES (20, 2), (21, 2), (22, NULL);
             INSERT INTO null_c VALUES (30, 'three');",
        )
        .await
        .unwrap();
        let m = fails(&c, "INSERT INTO restrict_c VALUES (11, 9)", "23503").await;
        assert_eq!(
            m,
            "insert or update on table \"restrict_c\" violates foreign key constraint \"restrict_c_pid_fkey\" / Key (pid)=(9) is not present in table \"p\"."
        );
        fails(&c, "UPDATE restrict_c SET pid = 7", "23503").await;
        fails(&c, "INSERT INTO null_c VALUES (31, 'nine')", "23503").await;
        let m = fails(&c, "DELETE FROM p WHERE id = 1", "23503").await;
        assert_eq!(
            m,
            "update or delete on table \"p\" violates foreign key constraint \"restrict_c_pid_fkey\" on table \"restrict_c\" / Key (id)=(1) is still referenced from table \"restrict_c\"."
        );
        fails(&c, "UPDATE p SET id = 100 WHERE id = 1", "23503").await;
        // CASCADE on update and delete, SET NULL on delete.
        c.batch_execute("UPDATE p SET id = 200 WHERE id = 2").await.unwrap();
        assert_eq!(one(&c, "SELECT id, pid FROM cascade_c ORDER BY id").await, ["20|200", "21|200", "22|∅"]);
        c.batch_execute("DELETE FROM p WHERE id = 200; DELETE FROM p WHERE id = 3").await.unwrap();
        assert_eq!(one(&c, "SELECT id FROM cascade_c").await, ["22"]);
        assert_eq!(one(&c, "SELECT id, pcode FROM null_c").await, ["30|∅"]);
        // NO ACTION is checked at the end of the statement: deleting parent and child
        // together in a self-referencing table works.
        c.batch_execute(
            "CREATE TABLE emp (id int PRIMARY KEY, boss int REFERENCES emp (id));
             INSERT INTO emp VALUES (1, NULL), (2, 1), (3, 2), (4, 4);",
        )
        .await
        .unwrap();
        fails(&c, "DELETE FROM emp WHERE id = 2", "23503").await;
        c.batch_execute("DELETE FROM emp").await.unwrap();
        // Dropping or truncating a referenced table is refused; CASCADE drops the key.
        let m = fails(&c, "DROP TABLE p", "2BP01").await;
        assert!(
            m.starts_with("cannot drop table p because other objects depend on it / constraint ")
                && m.ends_with(" depends on table p"),
            "{m}"
        );
        fails(&c, "TRUNCATE p", "0A000").await;
        c.batch_execute("TRUNCATE p, restrict_c, cascade_c, null_c").await.unwrap();
        // ALTER TABLE ADD FOREIGN KEY validates existing rows.
        c.batch_execute("CREATE TABLE loose (id int, pid int); INSERT INTO loose VALUES (1, 42)")
            .await
            .unwrap();
        fails(&c, "ALTER TABLE loose ADD FOREIGN KEY (pid) REFERENCES p (id)", "23503").await;
        fails(&c, "ALTER TABLE loose ADD FOREIGN KEY (pid) REFERENCES loose (id)", "42830").await;
        c.batch_execute("DROP TABLE p CASCADE").await.unwrap();
        c.batch_execute("INSERT INTO restrict_c VALUES (12, 12345)").await.unwrap();
    });
}

#[test]
fn views() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, v int);
             INSERT INTO t VALUES (1, 10), (2, 20), (3, 30);
             CREATE VIEW big (ident, val) AS SELECT id, v FROM t WHERE v >= 20;",
        )
        .await
        .unwrap();
        assert_eq!(
            one(&c, "SELECT * FROM big ORDER BY ident").await,
            ["2|20", "3|30"]
        );
        assert_eq!(
            one(
                &c,
                "SELECT t.id, b.val FROM t LEFT JOIN big b ON b.ident = t.id ORDER BY 1"
            )
            .await,
            ["1|∅", "2|20", "3|30"]
        );
        c.batch_execute("INSERT INTO t VALUES (4, 40)")
            .await
            .unwrap();
        assert_eq!(one(&c, "SELECT count(*) FROM big").await, ["3"]);
        fails(&c, "CREATE VIEW big AS SELECT 1", "42P07").await;
        fails(&c, "CREATE OR REPLACE VIEW big AS SELECT 1 AS x", "42P16").await;
        c.batch_execute(
            "CREATE OR REPLACE VIEW big (ident, val) AS SELECT id, v, v * 2 AS w FROM t",
        )
        .await
        .unwrap();
        assert_eq!(one(&c, "SELECT w FROM big WHERE ident = 1").await, ["20"]);
        fails(&c, "CREATE VIEW bad AS SELECT nope FROM t", "42703").await;
        c.batch_execute("DROP VIEW big").await.unwrap();
        fails(&c, "SELECT * FROM big", "42P01").await;
    });
}
