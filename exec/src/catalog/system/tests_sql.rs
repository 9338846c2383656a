//! Tests of the system relations through SQL: catalog functions, reg* casts, joins over the
//! catalog, and the regex operators' evaluation.
#![allow(clippy::unwrap_used)]

use super::tests::{engine, query};
use crate::types::{DataType, Value};

/// Catalog functions, reg* casts and the regex operators through SQL (joins included).
#[test]
fn catalog_queries_through_sql() {
    let (_engine, mut s) = engine();
    let q = |s: &mut crate::Session, sql: &str| query(s, sql);
    assert_eq!(
        q(
            &mut s,
            "SELECT c.relname, n.nspname, c.oid::regclass::text FROM pg_catalog.pg_class c \
             LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'S' AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 1"
        ),
        [
            ["c_y_seq", "public", "c_y_seq"],
            ["s", "public", "s"],
            ["t_id_seq", "public", "t_id_seq"]
        ]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), \
             (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true) FROM pg_catalog.pg_attrdef d \
              WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef) \
             FROM pg_catalog.pg_attribute a WHERE a.attrelid = 't'::regclass AND a.attnum > 0 \
             AND NOT a.attisdropped ORDER BY a.attnum LIMIT 3"
        ),
        [
            ["id", "integer", "nextval('t_id_seq'::regclass)"],
            ["name", "character varying(20)", "NULL"],
            ["price", "numeric(10,2)", "0"]
        ]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT typinput = 'pg_catalog.array_in'::regproc, typname FROM pg_catalog.pg_type \
             WHERE oid IN (23, 1007) ORDER BY oid"
        ),
        [["f", "int4"], ["t", "_int4"]]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT 'pg_catalog.pg_class'::regclass = 1259, 'app.w'::regclass::text, \
             to_regclass('nope') IS NULL, 'text'::regtype::oid, \
             pg_catalog.pg_get_constraintdef(r.oid, true) \
             FROM pg_catalog.pg_constraint r WHERE r.contype = 'c'"
        ),
        [["t", "app.w", "t", "25", "CHECK (qty > 0)"]]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT table_schema, table_name FROM information_schema.tables \
             WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
        ),
        [["app", "w"], ["public", "c"], ["public", "t"]]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT d.datname, pg_catalog.pg_get_userbyid(d.datdba), \
             pg_catalog.pg_encoding_to_char(d.encoding), \
             pg_catalog.array_to_string(d.datacl, E'\\n') FROM pg_catalog.pg_database d"
        ),
        [["postgres", "postgres", "UTF8", "NULL"]]
    );
    // Reg* values print their names and compare as oids.
    assert_eq!(
        q(
            &mut s,
            "SELECT 'pg_class'::regclass, c.oid::regclass, c.oid::regclass = c.oid, \
             'app.w'::regclass > 0, 1043::regtype, 'app'::regnamespace::oid > 0 \
             FROM pg_catalog.pg_class c WHERE c.oid = 't'::regclass"
        ),
        [["pg_class", "t", "t", "t", "character varying", "t"]]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT current_schemas(false)::text, current_setting('TimeZone')"
        ),
        [["{public}", "UTC"]]
    );
    let err = crate::parse("SELECT 'nope'::regclass").map(|mut v| s.execute(&v.remove(0), &[]));
    assert_eq!(
        err.ok().and_then(|r| r.err()).map(|e| e.sqlstate()),
        Some("42P01")
    );
}

/// The regex operators' evaluation (the binder maps `~` and friends to these).
#[test]
fn regex_operators_evaluate() {
    use crate::types::BinaryOp;
    let t = |s: &str| Value::Text(s.into());
    let eval = |op, a: &str, b: &str| Value::binary(op, &t(a), &t(b)).unwrap();
    assert_eq!(
        eval(BinaryOp::RegexMatch, "items", "^(items)$"),
        Value::Bool(true)
    );
    assert_eq!(
        eval(BinaryOp::RegexNotMatch, "pg_toast", "^pg_toast"),
        Value::Bool(false)
    );
    assert_eq!(
        eval(BinaryOp::RegexIMatch, "Items", "^items$"),
        Value::Bool(true)
    );
    assert_eq!(
        eval(BinaryOp::RegexNotIMatch, "Items", "^items$"),
        Value::Bool(false)
    );
    assert_eq!(BinaryOp::from_symbol("~"), Some(BinaryOp::RegexMatch));
    assert_eq!(BinaryOp::from_symbol("!~*"), Some(BinaryOp::RegexNotIMatch));
    assert_eq!(
        crate::types::result_type(BinaryOp::RegexMatch, &DataType::Name, &DataType::Unknown).ok(),
        Some(DataType::Bool)
    );
    assert!(
        crate::types::result_type(BinaryOp::RegexMatch, &DataType::Int4, &DataType::Text).is_err()
    );
}
