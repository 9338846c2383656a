//! The rows of the `pg_catalog` relations that do not describe tables: databases, roles,
//! sessions (pg_stat_activity), settings, access methods, tablespaces, collations,
//! languages, extensions. The relations of features Orbit does not have (triggers, policies, publications, inheritance, ...) are
//! empty.

use super::pg_catalog::{ch, oid, txt, Row};
use super::{SystemSnapshot, DATABASE_OWNER_OID, PG_CATALOG_OID, SUPERUSER_OID};
use crate::types::Value;

/// The rows of the remaining pg_catalog relations (empty for the unknown ones).
pub(super) fn rows(s: &SystemSnapshot, name: &str) -> Vec<Row> {
    match name {
        "pg_database" => pg_database(s),
        "pg_roles" | "pg_authid" => roles(name == "pg_roles"),
        "pg_user" => vec![vec![
            ("usename", txt("postgres")),
            ("usesysid", oid(SUPERUSER_OID)),
            ("usecreatedb", Value::Bool(true)),
            ("usesuper", Value::Bool(true)),
            ("userepl", Value::Bool(true)),
            ("usebypassrls", Value::Bool(true)),
            ("passwd", txt("********")),
        ]],
        "pg_settings" => pg_settings(s),
        "pg_stat_activity" => pg_stat_activity(s),
        "pg_am" => std::iter::once((2, "heap", "heap_tableam_handler", 't'))
            .chain(
                super::pg_catalog::ACCESS_METHODS
                    .iter()
                    .map(|(o, n, h)| (*o, *n, *h, 'i')),
            )
            .map(|(o, n, h, k)| {
                vec![
                    ("oid", oid(o)),
                    ("amname", txt(n)),
                    ("amhandler", txt(h)),
                    ("amtype", ch(k)),
                ]
            })
            .collect(),
        "pg_tablespace" => [(1663, "pg_default"), (1664, "pg_global")]
            .iter()
            .map(|(o, n)| {
                vec![
                    ("oid", oid(*o)),
                    ("spcname", txt(*n)),
                    ("spcowner", oid(SUPERUSER_OID)),
                ]
            })
            .collect(),
        "pg_collation" => [
            (100, "default", 'd', None),
            (950, "C", 'c', Some("C")),
            (951, "POSIX", 'c', Some("POSIX")),
        ]
        .iter()
        .map(|(o, n, p, l)| {
            let locale = || l.map_or(Value::Null, txt);
            vec![
                ("oid", oid(*o)),
                ("collname", txt(*n)),
                ("collnamespace", oid(PG_CATALOG_OID)),
                ("collowner", oid(SUPERUSER_OID)),
                ("collprovider", ch(*p)),
                ("collisdeterministic", Value::Bool(true)),
                ("collencoding", Value::Int4(-1)),
                ("collcollate", locale()),
                ("collctype", locale()),
            ]
        })
        .collect(),
        // pgvector is built in: its types and functions always exist; the row shows once
        // CREATE EXTENSION vector ran in this database.
        "pg_extension" => [(13559, "plpgsql", "1.0"), (8099, "vector", "0.8.2")]
            .iter()
            .filter(|(_, name, _)| *name == "plpgsql" || s.extensions.iter().any(|e| e == name))
            .map(|(o, name, version)| {
                vec![
                    ("oid", oid(*o)),
                    ("extname", txt(*name)),
                    ("extowner", oid(SUPERUSER_OID)),
                    ("extnamespace", oid(PG_CATALOG_OID)),
                    ("extversion", txt(*version)),
                ]
            })
            .collect(),
        "pg_language" => [
            (12, "internal", false, false),
            (13, "c", false, false),
            (14, "sql", false, true),
            (13563, "plpgsql", true, true),
        ]
        .iter()
        .map(|(o, n, pl, trusted)| {
            vec![
                ("oid", oid(*o)),
                ("lanname", txt(*n)),
                ("lanowner", oid(SUPERUSER_OID)),
                ("lanispl", Value::Bool(*pl)),
                ("lanpltrusted", Value::Bool(*trusted)),
            ]
        })
        .collect(),
        _ => Vec::new(),
    }
}

fn setting_or<'s>(s: &'s SystemSnapshot, name: &str, default: &'s str) -> &'s str {
    s.setting(name).unwrap_or(default)
}

fn pg_database(s: &SystemSnapshot) -> Vec<Row> {
    let collate = setting_or(s, "lc_collate", "C").to_string();
    let ctype = setting_or(s, "lc_ctype", "C").to_string();
    s.databases
        .iter()
        .map(|d| {
            vec![
                ("oid", oid(d.oid)),
                ("datname", txt(&d.name)),
                ("datdba", oid(SUPERUSER_OID)),
                ("encoding", Value::Int4(6)),
                ("datlocprovider", ch('c')),
                ("datallowconn", Value::Bool(true)),
                ("datconnlimit", Value::Int4(-1)),
                ("datminmxid", oid(1)),
                ("dattablespace", oid(1663)),
                ("datcollate", txt(collate.clone())),
                ("datctype", txt(ctype.clone())),
            ]
        })
        .collect()
}

/// pg_roles (password masked) or pg_authid: the superuser `postgres` and the builtin
/// `pg_database_owner` (owner of `public`).
fn roles(masked: bool) -> Vec<Row> {
    [
        (SUPERUSER_OID, "postgres", true),
        (DATABASE_OWNER_OID, "pg_database_owner", false),
    ]
    .iter()
    .map(|(o, n, sup)| {
        let b = |v: bool| Value::Bool(v);
        let mut row = vec![
            ("oid", oid(*o)),
            ("rolname", txt(*n)),
            ("rolsuper", b(*sup)),
            ("rolinherit", b(true)),
            ("rolcreaterole", b(*sup)),
            ("rolcreatedb", b(*sup)),
            ("rolcanlogin", b(*sup)),
            ("rolreplication", b(*sup)),
            ("rolbypassrls", b(*sup)),
            ("rolconnlimit", Value::Int4(-1)),
        ];
        if masked {
            row.push(("rolpassword", txt("********")));
        }
        row
    })
    .collect()
}

/// The server's client sessions, as they last reported (`crate::backends`).
fn pg_stat_activity(s: &SystemSnapshot) -> Vec<Row> {
    let ts = |t: Option<i64>| t.map_or(Value::Null, Value::Timestamptz);
    s.activity
        .iter()
        .map(|a| {
            let datid = s.databases.iter().find(|d| d.name == a.database);
            let r = &a.reported;
            vec![
                ("datid", datid.map_or(Value::Null, |d| oid(d.oid))),
                ("datname", txt(&a.database)),
                ("pid", Value::Int4(a.pid)),
                ("usesysid", oid(SUPERUSER_OID)),
                ("usename", txt(&a.user)),
                ("application_name", txt(&r.application_name)),
                ("backend_start", Value::Timestamptz(a.backend_start)),
                ("xact_start", ts(r.xact_start)),
                ("query_start", ts(r.query_start)),
                ("state_change", Value::Timestamptz(r.state_change)),
                ("state", txt(a.state)),
                ("query", txt(&*r.query)),
                ("backend_type", txt("client backend")),
            ]
        })
        .collect()
}

fn pg_settings(s: &SystemSnapshot) -> Vec<Row> {
    let defaults = crate::DEFAULT_SETTINGS;
    let mut names: Vec<&str> = s.settings.iter().map(|(k, _)| k.as_str()).collect();
    for (k, _) in defaults {
        if !names.contains(k) {
            names.push(k);
        }
    }
    names.sort_unstable();
    names
        .into_iter()
        .map(|name| {
            let boot = defaults
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string());
            let value = s
                .setting(name)
                .map(str::to_string)
                .or_else(|| boot.clone())
                .unwrap_or_default();
            let source = if boot.as_deref() == Some(value.as_str()) {
                "default"
            } else {
                "session"
            };
            let text_or_null = |v: Option<String>| v.map_or(Value::Null, txt);
            vec![
                ("name", txt(name)),
                ("setting", txt(value)),
                ("category", txt("Orbit")),
                ("context", txt("user")),
                ("vartype", txt("string")),
                ("source", txt(source)),
                ("boot_val", text_or_null(boot.clone())),
                ("reset_val", text_or_null(boot)),
                ("pending_restart", Value::Bool(false)),
            ]
        })
        .collect()
}
