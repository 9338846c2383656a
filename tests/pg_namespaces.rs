//! End-to-end tests of databases (CREATE / DROP DATABASE, connecting to one) and schemas with
//! `search_path` over the PostgreSQL protocol.
#![allow(clippy::unwrap_used)]

mod common;

use common::pg::{code, connect, rt, simple};
use tokio_postgres::{Client, NoTls};

async fn connect_to(server: &common::Server, db: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=postgres dbname={db}",
            server.pg_port
        ),
        NoTls,
    )
    .await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

async fn one(c: &Client, sql: &str) -> Vec<String> {
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

#[test]
fn databases_are_separate_namespaces() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        let e = connect_to(&server, "nope").await.err().unwrap();
        assert_eq!(code(&e), "3D000", "{e}");
        c.batch_execute("CREATE DATABASE app").await.unwrap();
        let e = c.batch_execute("CREATE DATABASE app").await.unwrap_err();
        assert_eq!(code(&e), "42P04", "{e}");
        c.batch_execute("CREATE DATABASE IF NOT EXISTS app").await.unwrap();
        let e = c.batch_execute("BEGIN; CREATE DATABASE other").await.unwrap_err();
        assert_eq!(code(&e), "25001", "{e}");
        c.batch_execute("ROLLBACK").await.unwrap();
        // The same table name in two databases: separate tables, separate serials.
        c.batch_execute("CREATE TABLE t (id serial PRIMARY KEY, v text); INSERT INTO t (v) VALUES ('main')")
            .await
            .unwrap();
        let a = connect_to(&server, "app").await.unwrap();
        let e = a.batch_execute("SELECT * FROM t").await.unwrap_err();
        assert_eq!(code(&e), "42P01", "{e}");
        a.batch_execute("CREATE TABLE t (id serial PRIMARY KEY, v text); INSERT INTO t (v) VALUES ('app1'), ('app2')")
            .await
            .unwrap();
        assert_eq!(one(&a, "SELECT id, v FROM t ORDER BY id").await, ["1|app1", "2|app2"]);
        assert_eq!(one(&c, "SELECT id, v FROM t").await, ["1|main"]);
        assert_eq!(one(&a, "SELECT current_database()").await, ["app"]);
        // Dropping: not the current database, not while in use, then gone.
        let e = a.batch_execute("DROP DATABASE app").await.unwrap_err();
        assert_eq!(code(&e), "55006", "{e}");
        let e = c.batch_execute("DROP DATABASE app").await.unwrap_err();
        assert_eq!(code(&e), "55006", "{e}");
        drop(a);
        // The server notices the closed connection shortly after.
        let mut dropped = false;
        for _ in 0..50 {
            if c.batch_execute("DROP DATABASE app").await.is_ok() {
                dropped = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(dropped, "DROP DATABASE kept failing after the last session closed");
        let e = connect_to(&server, "app").await.err().unwrap();
        assert_eq!(code(&e), "3D000", "{e}");
        let e = c.batch_execute("DROP DATABASE app").await.unwrap_err();
        assert_eq!(code(&e), "3D000", "{e}");
        c.batch_execute("DROP DATABASE IF EXISTS app").await.unwrap();
        // A database created again starts empty.
        c.batch_execute("CREATE DATABASE app").await.unwrap();
        let a = connect_to(&server, "app").await.unwrap();
        let e = a.batch_execute("SELECT * FROM t").await.unwrap_err();
        assert_eq!(code(&e), "42P01", "{e}");
        assert_eq!(one(&c, "SELECT v FROM t").await, ["main"]);
    });
}

#[test]
fn search_path_orders_schemas() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute(
            "CREATE SCHEMA s1; CREATE TABLE public.t (v text); INSERT INTO public.t VALUES ('public');
             CREATE TABLE public.only_public (v int); INSERT INTO only_public VALUES (1);",
        )
        .await
        .unwrap();
        c.batch_execute("SET search_path = s1, public").await.unwrap();
        assert_eq!(one(&c, "SHOW search_path").await, ["s1, public"]);
        assert_eq!(one(&c, "SELECT current_schema()").await, ["s1"]);
        // Unqualified CREATE goes to the first schema; lookups go along the path.
        c.batch_execute("CREATE TABLE t (v text); INSERT INTO t VALUES ('s1')").await.unwrap();
        assert_eq!(one(&c, "SELECT v FROM t").await, ["s1"]);
        assert_eq!(one(&c, "SELECT v FROM public.t").await, ["public"]);
        assert_eq!(one(&c, "SELECT v FROM only_public").await, ["1"]);
        c.batch_execute("SET search_path = public").await.unwrap();
        assert_eq!(one(&c, "SELECT v FROM t").await, ["public"]);
        // A path naming no existing schema leaves nowhere to create.
        c.batch_execute("SET search_path = nowhere").await.unwrap();
        let e = c.batch_execute("CREATE TABLE x (a int)").await.unwrap_err();
        assert_eq!(code(&e), "3F000", "{e}");
        let e = c.batch_execute("SELECT * FROM t").await.unwrap_err();
        assert_eq!(code(&e), "42P01", "{e}");
        // "$user" is the schema named like the user, when it exists.
        c.batch_execute("SET search_path = \"$user\", public; CREATE SCHEMA postgres; CREATE TABLE mine (a int)")
            .await
            .unwrap();
        assert_eq!(one(&c, "SELECT count(*) FROM postgres.mine").await, ["0"]);
        c.batch_execute("DROP SCHEMA postgres CASCADE").await.unwrap();
        assert_eq!(one(&c, "SELECT current_schema()").await, ["public"]);
    });
}

#[test]
fn sequence_functions() {
    let (_tmp, server) = common::start();
    rt().block_on(async {
        let c = connect(&server).await;
        c.batch_execute("CREATE SEQUENCE s; CREATE TABLE t (id serial PRIMARY KEY, n bigint DEFAULT nextval('s'))")
            .await
            .unwrap();
        let e = c.simple_query("SELECT currval('s')").await.unwrap_err();
        assert_eq!(code(&e), "55000", "{e}");
        let e = c.simple_query("SELECT lastval()").await.unwrap_err();
        assert_eq!(code(&e), "55000", "{e}");
        assert_eq!(one(&c, "SELECT nextval('s'), nextval('s')").await, ["1|2"]);
        assert_eq!(one(&c, "SELECT currval('s'), lastval()").await, ["2|2"]);
        assert_eq!(one(&c, "SELECT setval('s', 100)").await, ["100"]);
        assert_eq!(one(&c, "SELECT nextval('public.s')").await, ["101"]);
        assert_eq!(one(&c, "SELECT setval('s', 5, false), nextval('s')").await, ["5|5"]);
        // Defaults call nextval; serial columns own a sequence named after them.
        assert_eq!(one(&c, "INSERT INTO t DEFAULT VALUES RETURNING id, n").await, ["1|6"]);
        assert_eq!(one(&c, "SELECT currval('t_id_seq'), currval('s')").await, ["1|6"]);
        let e = c.simple_query("SELECT nextval('nope')").await.unwrap_err();
        assert_eq!(code(&e), "42P01", "{e}");
        // Another session has its own currval.
        let c2 = connect(&server).await;
        let e = c2.simple_query("SELECT currval('s')").await.unwrap_err();
        assert_eq!(code(&e), "55000", "{e}");
        assert_eq!(one(&c2, "SELECT nextval('s')").await, ["7"]);
        assert_eq!(one(&c, "SELECT currval('s')").await, ["6"]);
    });
}
