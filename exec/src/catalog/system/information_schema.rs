//! The rows of the `information_schema` views: schemata, tables, columns, views, sequences and
//! the constraint views, with PostgreSQL 15's values (data types spelled as the SQL standard
//! spells them, NOT NULL columns listed as `{schema oid}_{table oid}_{attnum}_not_null` CHECK
//! constraints, identity sequences left out of `sequences`).

use super::deparse::default_expr;
use super::pg_catalog::{attnums, txt, Row};
use super::{column_type, format_type, SystemSnapshot, RELATIONS};
use crate::catalog::{ConstraintDef, TableDef};
use crate::types::{DataType, Value};

fn yes(b: bool) -> Value {
    txt(if b { "YES" } else { "NO" })
}

fn int(v: i64) -> Value {
    Value::Int4(i32::try_from(v).unwrap_or(i32::MAX))
}

/// The rows of `information_schema.name` (empty for the views Orbit has nothing for).
pub(super) fn rows(s: &SystemSnapshot, name: &str) -> Vec<Row> {
    let db = || txt(&s.database);
    match name {
        "schemata" => s
            .schemas
            .iter()
            .map(|n| {
                let owner = if n.name == "public" {
                    "pg_database_owner"
                } else {
                    "postgres"
                };
                vec![
                    ("catalog_name", db()),
                    ("schema_name", txt(&n.name)),
                    ("schema_owner", txt(owner)),
                ]
            })
            .collect(),
        "tables" => tables(s),
        "columns" => columns(s),
        "views" => s
            .views
            .iter()
            .map(|v| {
                vec![
                    ("table_catalog", db()),
                    ("table_schema", txt(&v.schema)),
                    ("table_name", txt(&v.name)),
                    ("view_definition", txt(super::deparse::view_def(v))),
                    ("check_option", txt("NONE")),
                    ("is_updatable", yes(false)),
                    ("is_insertable_into", yes(false)),
                    ("is_trigger_updatable", yes(false)),
                    ("is_trigger_deletable", yes(false)),
                    ("is_trigger_insertable_into", yes(false)),
                ]
            })
            .collect(),
        "sequences" => s
            .sequences
            .iter()
            .filter(|q| !q.owner.is_some_and(|(_, _, identity)| identity))
            .map(|q| {
                let (precision, _, _) = numeric_facts(&q.ty);
                vec![
                    ("sequence_catalog", db()),
                    ("sequence_schema", txt(&q.schema)),
                    ("sequence_name", txt(&q.name)),
                    ("data_type", txt(format_type(q.ty.oid(), None))),
                    ("numeric_precision", precision.map_or(Value::Null, int)),
                    ("numeric_precision_radix", int(2)),
                    ("numeric_scale", int(0)),
                    ("start_value", txt(q.def.start.to_string())),
                    ("minimum_value", txt(q.def.min.to_string())),
                    ("maximum_value", txt(q.def.max.to_string())),
                    ("increment", txt(q.def.increment.to_string())),
                    ("cycle_option", yes(q.def.cycle)),
                ]
            })
            .collect(),
        "table_constraints"
        | "check_constraints"
        | "key_column_usage"
        | "constraint_column_usage"
        | "referential_constraints" => constraints(s, name),
        "enabled_roles" => vec![vec![("role_name", txt("postgres"))]],
        _ => Vec::new(),
    }
}

fn tables(s: &SystemSnapshot) -> Vec<Row> {
    let db = || txt(&s.database);
    let mut out = Vec::new();
    let mut push = |schema: &str, name: &str, view: bool| {
        out.push(vec![
            ("table_catalog", db()),
            ("table_schema", txt(schema)),
            ("table_name", txt(name)),
            ("table_type", txt(if view { "VIEW" } else { "BASE TABLE" })),
            ("is_insertable_into", yes(!view)),
            ("is_typed", yes(false)),
        ]);
    };
    for r in RELATIONS {
        push(r.schema, r.name, r.kind == 'v');
    }
    // Materialized views are not in the SQL standard's views, as in PostgreSQL.
    for t in s.tables.iter().filter(|t| t.matview.is_none()) {
        push(&t.schema, &t.name, false);
    }
    for v in &s.views {
        push(&v.schema, &v.name, true);
    }
    out
}

/// (numeric_precision, numeric_precision_radix, numeric_scale) of a type.
fn numeric_facts(ty: &DataType) -> (Option<i64>, Option<i64>, Option<i64>) {
    match ty {
        DataType::Int2 => (Some(16), Some(2), Some(0)),
        DataType::Int4 => (Some(32), Some(2), Some(0)),
        DataType::Int8 => (Some(64), Some(2), Some(0)),
        DataType::Float4 => (Some(24), Some(2), None),
        DataType::Float8 => (Some(53), Some(2), None),
        DataType::Numeric(Some((p, sc))) => (Some(i64::from(*p)), Some(10), Some(i64::from(*sc))),
        DataType::Numeric(None) => (None, Some(10), None),
        _ => (None, None, None),
    }
}

/// One information_schema.columns row.
#[allow(clippy::too_many_arguments)]
fn column_row(
    s: &SystemSnapshot,
    schema: &str,
    table: &str,
    name: &str,
    pos: usize,
    ty: &DataType,
    not_null: bool,
    default: Option<String>,
    identity: Option<bool>,
) -> Row {
    let (precision, radix, scale) = numeric_facts(ty);
    let opt = |v: Option<i64>| v.map_or(Value::Null, int);
    let (max_len, octets) = match ty {
        DataType::Varchar(Some(n)) | DataType::Char(Some(n)) => {
            (Some(i64::from(*n)), Some(i64::from(*n) * 4))
        }
        DataType::Varchar(None) | DataType::Char(None) | DataType::Text => {
            (None, Some(1_073_741_824))
        }
        _ => (None, None),
    };
    let datetime = match ty {
        DataType::Date => Some(0),
        DataType::Time(p) | DataType::Timestamp(p) | DataType::Timestamptz(p) => {
            Some(i64::from(p.unwrap_or(6)))
        }
        DataType::Interval => Some(6),
        _ => None,
    };
    let data_type = match ty {
        DataType::Array(_) => "ARRAY".to_string(),
        t => format_type(t.oid(), None),
    };
    let mut row = vec![
        ("table_catalog", txt(&s.database)),
        ("table_schema", txt(schema)),
        ("table_name", txt(table)),
        ("column_name", txt(name)),
        ("ordinal_position", int(pos as i64)),
        ("column_default", default.map_or(Value::Null, txt)),
        ("is_nullable", yes(!not_null)),
        ("data_type", txt(data_type)),
        ("character_maximum_length", opt(max_len)),
        ("character_octet_length", opt(octets)),
        ("numeric_precision", opt(precision)),
        ("numeric_precision_radix", opt(radix)),
        ("numeric_scale", opt(scale)),
        ("datetime_precision", opt(datetime)),
        ("udt_catalog", txt(&s.database)),
        ("udt_schema", txt("pg_catalog")),
        ("udt_name", txt(ty.typname())),
        ("dtd_identifier", txt(pos.to_string())),
        ("is_self_referencing", yes(false)),
        ("is_identity", yes(identity.is_some())),
        ("identity_cycle", yes(false)),
        ("is_generated", txt("NEVER")),
        ("is_updatable", yes(true)),
    ];
    if let Some(always) = identity {
        let g = if always { "ALWAYS" } else { "BY DEFAULT" };
        row.push(("identity_generation", txt(g)));
        row.push(("identity_start", txt("1")));
        row.push(("identity_increment", txt("1")));
        row.push(("identity_minimum", txt("1")));
        let max = match ty {
            DataType::Int2 => i64::from(i16::MAX),
            DataType::Int4 => i64::from(i32::MAX),
            _ => i64::MAX,
        };
        row.push(("identity_maximum", txt(max.to_string())));
    }
    row
}

fn columns(s: &SystemSnapshot) -> Vec<Row> {
    let mut out = Vec::new();
    for r in RELATIONS {
        for (i, (name, ty)) in r.columns.iter().enumerate() {
            let ty = column_type(ty);
            out.push(column_row(
                s,
                r.schema,
                r.name,
                name,
                i + 1,
                &ty,
                false,
                None,
                None,
            ));
        }
    }
    for t in s.tables.iter().filter(|t| t.matview.is_none()) {
        for (i, c) in t.columns.iter().enumerate() {
            let default = c
                .default
                .as_deref()
                .filter(|_| !c.identity)
                .map(|d| default_expr(d, &c.ty));
            let identity = c.identity.then_some(c.identity_always);
            out.push(column_row(
                s,
                &t.schema,
                &t.name,
                &c.name,
                i + 1,
                &c.ty,
                c.not_null,
                default,
                identity,
            ));
        }
    }
    for v in &s.views {
        for (i, name) in v.columns.iter().enumerate() {
            let ty = v.column_types.get(i).cloned().unwrap_or(DataType::Text);
            out.push(column_row(
                s,
                &v.schema,
                &v.name,
                name,
                i + 1,
                &ty,
                false,
                None,
                None,
            ));
        }
    }
    out
}

fn constraint_type(c: &ConstraintDef) -> &'static str {
    match c.kind {
        'p' => "PRIMARY KEY",
        'u' => "UNIQUE",
        'f' => "FOREIGN KEY",
        _ => "CHECK",
    }
}

/// The key columns (names, in key order) of a constraint.
fn key_columns(t: &TableDef, c: &ConstraintDef) -> Vec<String> {
    let ids: Vec<u32> = match (&c.foreign, c.index) {
        (Some(fk), _) => fk.columns.clone(),
        (None, Some(id)) => t
            .indexes
            .iter()
            .find(|ix| ix.id == id)
            .map(|ix| ix.columns.clone())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    attnums(t, &ids)
        .iter()
        .filter_map(|a| t.columns.get((*a as usize).saturating_sub(1)))
        .map(|c| c.name.clone())
        .collect()
}

fn constraints(s: &SystemSnapshot, view: &str) -> Vec<Row> {
    let db = || txt(&s.database);
    let mut out = Vec::new();
    for t in &s.tables {
        let head = |name: &str| -> Row {
            vec![
                ("constraint_catalog", db()),
                ("constraint_schema", txt(&t.schema)),
                ("constraint_name", txt(name)),
            ]
        };
        let table = |row: &mut Row| {
            row.push(("table_catalog", db()));
            row.push(("table_schema", txt(&t.schema)));
            row.push(("table_name", txt(&t.name)));
        };
        let ns = s.schema_oid(&t.schema).unwrap_or(0);
        for c in &t.constraints {
            match view {
                "table_constraints" => {
                    let mut row = head(&c.name);
                    table(&mut row);
                    row.push(("constraint_type", txt(constraint_type(c))));
                    row.push(("is_deferrable", yes(false)));
                    row.push(("initially_deferred", yes(false)));
                    row.push(("enforced", yes(true)));
                    if matches!(c.kind, 'p' | 'u') {
                        row.push(("nulls_distinct", yes(true)));
                    }
                    out.push(row);
                }
                "check_constraints" if c.kind == 'c' => {
                    let mut row = head(&c.name);
                    let e = c.check.clone().unwrap_or_default();
                    row.push(("check_clause", txt(format!("(({e}))"))));
                    out.push(row);
                }
                "key_column_usage" if c.kind != 'c' => {
                    for (i, col) in key_columns(t, c).iter().enumerate() {
                        let mut row = head(&c.name);
                        table(&mut row);
                        row.push(("column_name", txt(col)));
                        row.push(("ordinal_position", int(i as i64 + 1)));
                        if c.kind == 'f' {
                            row.push(("position_in_unique_constraint", int(i as i64 + 1)));
                        }
                        out.push(row);
                    }
                }
                "constraint_column_usage" => {
                    let (target, cols) = match &c.foreign {
                        Some(fk) => {
                            let r = s
                                .tables
                                .iter()
                                .find(|r| r.schema == fk.ref_schema && r.name == fk.ref_table);
                            let cols = r.map_or(Vec::new(), |r| {
                                attnums(r, &fk.ref_columns)
                                    .iter()
                                    .filter_map(|a| r.columns.get((*a as usize).saturating_sub(1)))
                                    .map(|c| c.name.clone())
                                    .collect()
                            });
                            (r.unwrap_or(t), cols)
                        }
                        None => (t, key_columns(t, c)),
                    };
                    for col in cols {
                        out.push(vec![
                            ("table_catalog", db()),
                            ("table_schema", txt(&target.schema)),
                            ("table_name", txt(&target.name)),
                            ("column_name", txt(col)),
                            ("constraint_catalog", db()),
                            ("constraint_schema", txt(&t.schema)),
                            ("constraint_name", txt(&c.name)),
                        ]);
                    }
                }
                "referential_constraints" if c.kind == 'f' => {
                    let Some(fk) = &c.foreign else { continue };
                    let unique = s
                        .tables
                        .iter()
                        .find(|r| r.schema == fk.ref_schema && r.name == fk.ref_table)
                        .and_then(|r| {
                            let ix = r.indexes.iter().find(|ix| ix.columns == fk.ref_columns)?;
                            r.constraints.iter().find(|k| k.index == Some(ix.id))
                        });
                    let rule = |a: char| match a {
                        'r' => "RESTRICT",
                        'c' => "CASCADE",
                        'n' => "SET NULL",
                        'd' => "SET DEFAULT",
                        _ => "NO ACTION",
                    };
                    let mut row = head(&c.name);
                    row.push(("unique_constraint_catalog", db()));
                    row.push(("unique_constraint_schema", txt(&fk.ref_schema)));
                    row.push((
                        "unique_constraint_name",
                        unique.map_or(Value::Null, |k| txt(&k.name)),
                    ));
                    row.push(("match_option", txt("NONE")));
                    row.push(("update_rule", txt(rule(fk.on_update))));
                    row.push(("delete_rule", txt(rule(fk.on_delete))));
                    out.push(row);
                }
                _ => {}
            }
        }
        // NOT NULL columns are CHECK constraints here, named as PostgreSQL names them.
        if matches!(view, "table_constraints" | "check_constraints") {
            for (i, col) in t.columns.iter().enumerate().filter(|(_, c)| c.not_null) {
                let name = format!("{ns}_{}_{}_not_null", t.oid, i + 1);
                let mut row = head(&name);
                if view == "table_constraints" {
                    table(&mut row);
                    row.push(("constraint_type", txt("CHECK")));
                    row.push(("is_deferrable", yes(false)));
                    row.push(("initially_deferred", yes(false)));
                    row.push(("enforced", yes(true)));
                } else {
                    let clause = format!("{} IS NOT NULL", super::deparse::quote_ident(&col.name));
                    row.push(("check_clause", txt(clause)));
                }
                out.push(row);
            }
        }
    }
    out
}
