//! Tests of the system relations and catalog lookups over a small catalog made with SQL (on
//! the simulated disk), plus definitions SQL cannot make yet (secondary and unique indexes,
//! foreign keys, views) added to the snapshot by hand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use orbit_env::SimFs;
use orbit_lsm::{Db, DbOptions};
use orbit_txn::TxnDb;

use super::*;
use crate::catalog::{ConstraintDef, ForeignKey, IndexDef};
use crate::engine::SqlEngine;

const SETUP: &[&str] = &[
    "CREATE TABLE t (id serial PRIMARY KEY, name varchar(20) NOT NULL, \
     price numeric(10,2) DEFAULT 0, qty int CHECK (qty > 0), note text DEFAULT 'n/a', \
     created timestamptz DEFAULT now(), neg int DEFAULT -1)",
    "CREATE TABLE c (x int, y bigint GENERATED ALWAYS AS IDENTITY)",
    "CREATE SCHEMA app",
    "CREATE TABLE app.w (k int PRIMARY KEY)",
    "CREATE SEQUENCE s",
];

/// An engine with `SETUP` applied, and a session on it.
pub(super) fn engine() -> (Arc<SqlEngine>, crate::Session) {
    let fs = SimFs::new();
    let db = Db::open(fs.shared(), "/db", DbOptions::default()).unwrap();
    let engine = SqlEngine::open(TxnDb::new(Arc::new(db))).unwrap();
    let mut session = engine.session("postgres", "postgres");
    for sql in SETUP {
        query(&mut session, sql);
    }
    (engine, session)
}

/// The rows of `sql` as text ("NULL" for NULL).
pub(super) fn query(session: &mut crate::Session, sql: &str) -> Vec<Vec<String>> {
    let stmt = crate::parse(sql).unwrap().remove(0);
    let done = session
        .execute(&stmt, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    for w in done.waits {
        w.wait().unwrap();
    }
    match done.outcome {
        crate::Outcome::Rows { rows, .. } => rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|v| v.to_text().unwrap_or_else(|| "NULL".into()))
                    .collect()
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A snapshot of a catalog made by `SETUP`, with an index on t(name), a unique constraint on
/// c(x, y), a foreign key c(x) → t(id) ON DELETE CASCADE and a view v added by hand.
fn snapshot() -> SystemSnapshot {
    let (engine, _session) = engine();
    let mut s =
        crate::test_support::with_ctx(&engine, |ctx| (*ctx.system_snapshot().unwrap()).clone());
    let t = s.tables.iter_mut().find(|t| t.name == "t").unwrap();
    let name_id = t.columns[1].id;
    t.indexes.push(IndexDef {
        id: 1,
        oid: 90001,
        name: "t_name_idx".into(),
        columns: vec![name_id],
        unique: false,
        primary: false,
        ann: None,
        bitmap: false,
    });
    let t_pk = t.columns[0].id;
    let c = s.tables.iter_mut().find(|t| t.name == "c").unwrap();
    let (x, y) = (c.columns[0].id, c.columns[1].id);
    c.indexes.push(IndexDef {
        id: 1,
        oid: 90002,
        name: "c_x_y_key".into(),
        columns: vec![x, y],
        unique: true,
        primary: false,
        ann: None,
        bitmap: false,
    });
    c.constraints.push(ConstraintDef {
        name: "c_x_y_key".into(),
        oid: 90003,
        kind: 'u',
        check: None,
        index: Some(1),
        foreign: None,
    });
    c.constraints.push(ConstraintDef {
        name: "c_x_fkey".into(),
        oid: 90004,
        kind: 'f',
        check: None,
        index: None,
        foreign: Some(ForeignKey {
            columns: vec![x],
            ref_schema: "public".into(),
            ref_table: "t".into(),
            ref_columns: vec![t_pk],
            on_delete: 'c',
            on_update: 'a',
        }),
    });
    s.views.push(ViewDef {
        oid: 90005,
        schema: "public".into(),
        name: "v".into(),
        query: "SELECT id, name FROM t".into(),
        columns: vec!["id".into(), "name".into()],
        column_types: vec![DataType::Int4, DataType::Varchar(Some(20))],
    });
    s
}

/// The rows of a relation as text, only the named columns.
fn rows(s: &SystemSnapshot, schema: &str, rel: &str, cols: &[&str]) -> Vec<Vec<String>> {
    let r = s.relation(schema, rel).unwrap();
    let idx: Vec<usize> = cols
        .iter()
        .map(|c| r.columns.iter().position(|(n, _)| n == c).unwrap())
        .collect();
    r.rows
        .iter()
        .map(|row| {
            idx.iter()
                .map(|i| row[*i].to_text().unwrap_or_else(|| "NULL".into()))
                .collect()
        })
        .collect()
}

fn oid_of(s: &SystemSnapshot, name: &str) -> u32 {
    s.relation_oid(name).unwrap()
}

#[test]
fn every_relation_builds_with_known_columns_and_types() {
    let s = snapshot();
    for def in RELATIONS {
        let (rel, unknown) = s.build(def);
        assert!(
            unknown.is_empty(),
            "{}: unknown columns {unknown:?}",
            def.name
        );
        for row in &rel.rows {
            assert_eq!(row.len(), rel.columns.len());
        }
        for (name, ty) in def.columns {
            let mapped = column_type(ty);
            let fallback = matches!(*ty, "pg_node_tree" | "inet" | "anyarray");
            assert!(
                fallback || mapped != DataType::Text || *ty == "text",
                "{}.{name}: type {ty} unmapped",
                def.name
            );
        }
    }
    assert!(is_system_relation("pg_catalog", "pg_class"));
    assert!(is_system_relation("information_schema", "columns"));
    assert!(!is_system_relation("public", "pg_class"));
}

#[test]
fn pg_class_lists_tables_indexes_sequences_and_views() {
    let s = snapshot();
    let app = s.schema_oid("app").unwrap().to_string();
    let mut got: Vec<Vec<String>> = rows(
        &s,
        "pg_catalog",
        "pg_class",
        &["relname", "relkind", "relnamespace"],
    )
    .into_iter()
    .filter(|r| r[2] == "2200" || r[2] == app)
    .map(|r| r[..2].to_vec())
    .collect();
    got.sort();
    let want = [
        ("c", "r"),
        ("c_x_y_key", "i"),
        ("c_y_seq", "S"),
        ("s", "S"),
        ("t", "r"),
        ("t_id_seq", "S"),
        ("t_name_idx", "i"),
        ("t_pkey", "i"),
        ("v", "v"),
        ("w", "r"),
        ("w_pkey", "i"),
    ];
    let want: Vec<Vec<String>> = want
        .iter()
        .map(|(a, b)| vec![a.to_string(), b.to_string()])
        .collect();
    assert_eq!(got, want);
    let t = rows(
        &s,
        "pg_catalog",
        "pg_class",
        &[
            "relname",
            "relnamespace",
            "relhasindex",
            "relchecks",
            "relnatts",
            "relam",
        ],
    );
    let t: Vec<&Vec<String>> = t.iter().filter(|r| r[0] == "t").collect();
    assert_eq!(t, [&vec!["t", "2200", "t", "1", "7", "2"]]);
}

#[test]
fn pg_attribute_describes_columns_like_postgres() {
    let s = snapshot();
    let t = oid_of(&s, "t").to_string();
    let cols = [
        "attrelid",
        "attname",
        "atttypid",
        "atttypmod",
        "attnum",
        "attnotnull",
        "atthasdef",
        "attidentity",
        "attlen",
        "attcollation",
    ];
    let got: Vec<Vec<String>> = rows(&s, "pg_catalog", "pg_attribute", &cols)
        .into_iter()
        .filter(|r| r[0] == t)
        .map(|r| r[1..].to_vec())
        .collect();
    let want = [
        "id 23 -1 1 t t  4 0",
        "name 1043 24 2 t f  -1 100",
        "price 1700 655366 3 f t  -1 0",
        "qty 23 -1 4 f f  4 0",
        "note 25 -1 5 f t  -1 100",
        "created 1184 -1 6 f t  8 0",
        "neg 23 -1 7 f t  4 0",
    ];
    let want: Vec<Vec<String>> = want
        .iter()
        .map(|l| l.split(' ').map(str::to_string).collect())
        .collect();
    assert_eq!(got, want);
    let c = oid_of(&s, "c").to_string();
    let identity: Vec<Vec<String>> = rows(
        &s,
        "pg_catalog",
        "pg_attribute",
        &["attrelid", "attname", "attidentity", "atthasdef"],
    )
    .into_iter()
    .filter(|r| r[0] == c)
    .collect();
    assert_eq!(identity[1][1..], ["y", "a", "f"]);
}

#[test]
fn pg_attrdef_prints_defaults_as_pg_get_expr_does() {
    let s = snapshot();
    let got: Vec<String> = rows(&s, "pg_catalog", "pg_attrdef", &["adnum", "adbin"])
        .into_iter()
        .map(|r| format!("{} {}", r[0], r[1]))
        .collect();
    assert_eq!(
        got,
        [
            "1 nextval('t_id_seq'::regclass)",
            "3 0",
            "5 'n/a'::text",
            "6 now()",
            "7 '-1'::integer",
        ]
    );
}

#[test]
fn index_and_constraint_definitions() {
    let s = snapshot();
    let def = |name: &str| s.index_def(oid_of(&s, name), 0).unwrap();
    assert_eq!(
        def("t_pkey"),
        "CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id)"
    );
    assert_eq!(
        def("t_name_idx"),
        "CREATE INDEX t_name_idx ON public.t USING btree (name)"
    );
    assert_eq!(
        def("c_x_y_key"),
        "CREATE UNIQUE INDEX c_x_y_key ON public.c USING btree (x, y)"
    );
    assert_eq!(s.index_def(oid_of(&s, "c_x_y_key"), 2).unwrap(), "y");
    assert_eq!(
        def("app.w_pkey"),
        "CREATE UNIQUE INDEX w_pkey ON app.w USING btree (k)"
    );
    let con = |name: &str, pretty: bool| {
        let oid = s
            .tables
            .iter()
            .flat_map(|t| &t.constraints)
            .find(|c| c.name == name)
            .unwrap()
            .oid;
        s.constraint_def(oid, pretty).unwrap()
    };
    assert_eq!(con("t_pkey", true), "PRIMARY KEY (id)");
    assert_eq!(con("t_qty_check", true), "CHECK (qty > 0)");
    assert_eq!(con("t_qty_check", false), "CHECK ((qty > 0))");
    assert_eq!(con("c_x_y_key", true), "UNIQUE (x, y)");
    assert_eq!(
        con("c_x_fkey", true),
        "FOREIGN KEY (x) REFERENCES t(id) ON DELETE CASCADE"
    );
    assert_eq!(s.view_def(90005).unwrap(), " SELECT id, name FROM t;");
}

#[test]
fn pg_index_pg_constraint_and_pg_depend_rows() {
    let s = snapshot();
    let got = rows(
        &s,
        "pg_catalog",
        "pg_index",
        &[
            "indexrelid",
            "indkey",
            "indisunique",
            "indisprimary",
            "indcollation",
        ],
    );
    let c_key = got
        .iter()
        .find(|r| r[0] == "90002")
        .expect("unique index row");
    assert_eq!(c_key[1..], ["1 2", "t", "f", "0 0"]);
    let con = rows(
        &s,
        "pg_catalog",
        "pg_constraint",
        &[
            "conname",
            "contype",
            "conkey",
            "confkey",
            "conindid",
            "confdeltype",
        ],
    );
    let find = |n: &str| con.iter().find(|r| r[0] == n).unwrap()[1..].to_vec();
    let t_pkey = oid_of(&s, "t_pkey").to_string();
    assert_eq!(find("t_pkey"), ["p", "{1}", "NULL", t_pkey.as_str(), " "]);
    assert_eq!(find("t_qty_check"), ["c", "{4}", "NULL", "0", " "]);
    assert_eq!(find("c_x_fkey"), ["f", "{1}", "{1}", t_pkey.as_str(), "c"]);
    let dep = rows(
        &s,
        "pg_catalog",
        "pg_depend",
        &["objid", "refobjid", "refobjsubid", "deptype"],
    );
    let seq = oid_of(&s, "t_id_seq").to_string();
    let t = oid_of(&s, "t").to_string();
    assert!(dep.contains(&vec![seq, t, "1".into(), "a".into()]));
    let ident = oid_of(&s, "c_y_seq").to_string();
    let c = oid_of(&s, "c").to_string();
    assert!(dep.contains(&vec![ident, c, "2".into(), "i".into()]));
}

#[test]
fn sequences_and_types() {
    let s = snapshot();
    let got = rows(
        &s,
        "pg_catalog",
        "pg_sequence",
        &["seqrelid", "seqtypid", "seqstart", "seqmax", "seqcache"],
    );
    let t_id = oid_of(&s, "t_id_seq").to_string();
    let plain = oid_of(&s, "s").to_string();
    assert!(got.contains(&vec![
        t_id,
        "23".into(),
        "1".into(),
        "2147483647".into(),
        "1".into()
    ]));
    assert!(got.contains(&vec![
        plain,
        "20".into(),
        "1".into(),
        "9223372036854775807".into(),
        "1".into()
    ]));
    let types = rows(
        &s,
        "pg_catalog",
        "pg_type",
        &[
            "oid",
            "typname",
            "typarray",
            "typelem",
            "typinput",
            "typcategory",
            "typlen",
        ],
    );
    assert!(types.contains(&vec![
        "23".into(),
        "int4".into(),
        "1007".into(),
        "0".into(),
        "int4in".into(),
        "N".into(),
        "4".into()
    ]));
    assert!(types.contains(&vec![
        "1007".into(),
        "_int4".into(),
        "0".into(),
        "23".into(),
        "array_in".into(),
        "A".into(),
        "-1".into()
    ]));
    // Every type Orbit has is in pg_type, with the same length.
    for t in TYPES {
        if let Some(d) = DataType::from_oid(t.oid) {
            assert_eq!(d.typlen(), t.len, "{}", t.name);
        }
    }
}

#[test]
fn format_type_names_every_type() {
    let cases: &[(u32, Option<i32>, &str)] = &[
        (16, None, "boolean"),
        (17, None, "bytea"),
        (18, None, "\"char\""),
        (19, None, "name"),
        (20, None, "bigint"),
        (21, None, "smallint"),
        (22, None, "int2vector"),
        (23, Some(-1), "integer"),
        (24, None, "regproc"),
        (25, None, "text"),
        (26, None, "oid"),
        (30, None, "oidvector"),
        (114, None, "json"),
        (700, None, "real"),
        (701, None, "double precision"),
        (1042, None, "character"),
        (1042, Some(-1), "bpchar"),
        (1042, Some(9), "character(5)"),
        (1043, None, "character varying"),
        (1043, Some(24), "character varying(20)"),
        (1082, None, "date"),
        (1083, None, "time without time zone"),
        (1114, None, "timestamp without time zone"),
        (1184, None, "timestamp with time zone"),
        (1186, None, "interval"),
        (1700, None, "numeric"),
        (1700, Some(655_366), "numeric(10,2)"),
        (2205, None, "regclass"),
        (2206, None, "regtype"),
        (2950, None, "uuid"),
        (3802, None, "jsonb"),
        (4089, None, "regnamespace"),
        (1007, None, "integer[]"),
        (1015, Some(24), "character varying(20)[]"),
        (1009, None, "text[]"),
        (424_242, None, "???"),
    ];
    for (oid, typmod, want) in cases {
        assert_eq!(
            format_type(*oid, *typmod),
            *want,
            "format_type({oid}, {typmod:?})"
        );
    }
}

#[test]
fn names_resolve_through_the_search_path() {
    let s = snapshot();
    let t = oid_of(&s, "t");
    assert_eq!(oid_of(&s, "public.t"), t);
    assert_eq!(oid_of(&s, "\"t\""), t);
    assert_eq!(oid_of(&s, "pg_catalog.pg_class"), 1259);
    assert_eq!(oid_of(&s, "pg_class"), 1259);
    assert_eq!(oid_of(&s, "information_schema.tables"), 13425);
    assert_eq!(oid_of(&s, "16385"), 16385);
    assert!(s.relation_oid("w").is_err());
    assert_eq!(s.relation_oid("nope").unwrap_err().sqlstate(), "42P01");
    assert!(s.table_is_visible(t));
    let w = oid_of(&s, "app.w");
    assert!(!s.table_is_visible(w));
    assert!(s.table_is_visible(1259));
    assert_eq!(s.regclass_text(t), "t");
    assert_eq!(s.regclass_text(w), "app.w");
    assert_eq!(s.regclass_text(1259), "pg_class");
    assert_eq!(s.current_schemas(true), ["pg_catalog", "public"]);
    assert_eq!(s.current_schemas(false), ["public"]);
    assert_eq!(
        s.serial_sequence("t", "id").unwrap().as_deref(),
        Some("public.t_id_seq")
    );
    assert_eq!(s.serial_sequence("t", "qty").unwrap(), None);
    assert_eq!(
        s.reg_oid(&DataType::RegType, "character varying").unwrap(),
        1043
    );
    assert_eq!(
        s.reg_oid(&DataType::RegNamespace, "app").unwrap(),
        s.schema_oid("app").unwrap()
    );
    assert_eq!(s.reg_text(&DataType::RegType, 1007), "integer[]");
}

#[test]
fn information_schema_views() {
    let s = snapshot();
    let cols = rows(
        &s,
        "information_schema",
        "columns",
        &[
            "table_name",
            "column_name",
            "data_type",
            "character_maximum_length",
            "numeric_precision",
            "numeric_scale",
            "is_nullable",
            "column_default",
            "udt_name",
            "is_identity",
            "identity_generation",
        ],
    );
    let t: Vec<String> = cols
        .iter()
        .filter(|r| r[0] == "t" || r[0] == "c")
        .map(|r| r[1..].join("|"))
        .collect();
    assert_eq!(
        t,
        [
            "x|integer|NULL|32|0|YES|NULL|int4|NO|NULL",
            "y|bigint|NULL|64|0|NO|NULL|int8|YES|ALWAYS",
            "id|integer|NULL|32|0|NO|nextval('t_id_seq'::regclass)|int4|NO|NULL",
            "name|character varying|20|NULL|NULL|NO|NULL|varchar|NO|NULL",
            "price|numeric|NULL|10|2|YES|0|numeric|NO|NULL",
            "qty|integer|NULL|32|0|YES|NULL|int4|NO|NULL",
            "note|text|NULL|NULL|NULL|YES|'n/a'::text|text|NO|NULL",
            "created|timestamp with time zone|NULL|NULL|NULL|YES|now()|timestamptz|NO|NULL",
            "neg|integer|NULL|32|0|YES|'-1'::integer|int4|NO|NULL",
        ]
    );
    let tc = rows(
        &s,
        "information_schema",
        "table_constraints",
        &["constraint_name", "table_name", "constraint_type"],
    );
    let t_oid = oid_of(&s, "t");
    assert!(tc.contains(&vec!["t_pkey".into(), "t".into(), "PRIMARY KEY".into()]));
    assert!(tc.contains(&vec!["c_x_fkey".into(), "c".into(), "FOREIGN KEY".into()]));
    assert!(tc.contains(&vec![
        format!("2200_{t_oid}_2_not_null"),
        "t".into(),
        "CHECK".into()
    ]));
    let kcu = rows(
        &s,
        "information_schema",
        "key_column_usage",
        &["constraint_name", "column_name", "ordinal_position"],
    );
    assert!(kcu.contains(&vec!["c_x_y_key".into(), "y".into(), "2".into()]));
    let seqs: Vec<String> = rows(
        &s,
        "information_schema",
        "sequences",
        &["sequence_name", "data_type"],
    )
    .into_iter()
    .map(|r| r.join(" "))
    .collect();
    assert_eq!(seqs, ["s bigint", "t_id_seq integer"]);
    let tables: Vec<Vec<String>> = rows(
        &s,
        "information_schema",
        "tables",
        &["table_schema", "table_name", "table_type"],
    )
    .into_iter()
    .filter(|r| r[0] == "public" || r[0] == "app")
    .collect();
    assert_eq!(tables.len(), 4);
    assert!(tables.contains(&vec!["public".into(), "v".into(), "VIEW".into()]));
}

#[test]
fn databases_roles_namespaces_and_settings() {
    let s = snapshot();
    assert_eq!(
        rows(
            &s,
            "pg_catalog",
            "pg_database",
            &["oid", "datname", "encoding", "datcollate"]
        ),
        [["5", "postgres", "6", "C"]]
    );
    assert_eq!(
        rows(&s, "pg_catalog", "pg_namespace", &["nspname", "nspowner"])
            .iter()
            .map(|r| r.join(" "))
            .collect::<Vec<_>>(),
        [
            "pg_catalog 10",
            "pg_toast 10",
            "public 6171",
            "information_schema 10",
            "app 10"
        ]
    );
    let roles = rows(
        &s,
        "pg_catalog",
        "pg_roles",
        &["oid", "rolname", "rolsuper"],
    );
    assert_eq!(roles[0], ["10", "postgres", "t"]);
    let settings = rows(&s, "pg_catalog", "pg_settings", &["name", "setting"]);
    assert!(settings.contains(&vec!["server_encoding".into(), "UTF8".into()]));
    assert_eq!(s.setting("TimeZone"), Some("UTC"));
}

#[test]
fn quote_ident_quotes_like_postgres() {
    assert_eq!(quote_ident("t"), "t");
    assert_eq!(quote_ident("t_1$"), "t_1$");
    assert_eq!(quote_ident("Items"), "\"Items\"");
    assert_eq!(quote_ident("select"), "\"select\"");
    assert_eq!(quote_ident("name"), "name");
    assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    assert_eq!(quote_ident("1a"), "\"1a\"");
}

/// Every catalog query psql 15 sent in the captured session parses.
#[test]
fn captured_psql_queries_parse() {
    let fixture = include_str!("../../../../tests/fixtures/psql15_describe.txt");
    let mut queries = Vec::new();
    let mut cur: Option<String> = None;
    for line in fixture.lines() {
        if line == "********* QUERY **********" {
            cur = Some(String::new());
        } else if line == "**************************" {
            queries.extend(cur.take());
        } else if let Some(q) = cur.as_mut() {
            q.push_str(line);
            q.push('\n');
        }
    }
    assert!(queries.len() > 60, "only {} queries", queries.len());
    for q in &queries {
        crate::parse(q).unwrap_or_else(|e| panic!("{e}: {q}"));
    }
}
