//! The rows of the `pg_catalog` relations. Each row lists the columns it sets by name; the
//! others take their type's neutral value (false, 0, NULL; see `SystemSnapshot::build`).
//! Relations Orbit has nothing for (pg_trigger, pg_policy, pg_inherits, ...) are empty.

use super::deparse::{check_columns, default_expr};
use super::{
    column_type, type_row, SystemSnapshot, DATABASE_OWNER_OID, PG_CATALOG_OID, PG_CLASS_OID,
    RELATIONS, SUPERUSER_OID,
};
use crate::catalog::TableDef;
use crate::types::{DataType, Value};

pub(super) type Row = Vec<(&'static str, Value)>;

pub(super) fn txt(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

pub(super) fn oid(o: u32) -> Value {
    Value::Oid(o)
}

pub(super) fn ch(c: char) -> Value {
    Value::Text(if c == '\0' {
        String::new()
    } else {
        c.to_string()
    })
}

fn int2s(items: &[i16]) -> Value {
    Value::Array(
        Box::new(DataType::Int2),
        items.iter().map(|i| Value::Int2(*i)).collect(),
    )
}

const HEAP_AM: u32 = 2;
/// `pg_am` oids: PostgreSQL's for btree, Greenplum's for bitmap, and fixed ones for
/// pgvector's methods (an extension's oids are assigned when it is created).
pub(super) const ACCESS_METHODS: [(u32, &str, &str); 5] = [
    (403, "btree", "bthandler"),
    (405, "hash", "hashhandler"),
    (7013, "bitmap", "bmhandler"),
    (16390, "hnsw", "hnswhandler"),
    (16391, "ivfflat", "ivfflathandler"),
];

/// The `pg_am` oid of access method `name`.
fn am_oid(name: &str) -> u32 {
    ACCESS_METHODS
        .iter()
        .find(|(_, n, _)| *n == name)
        .map_or(403, |(o, _, _)| *o)
}
const PG_CONSTRAINT_OID: u32 = 2606;

/// The rows of `pg_catalog.name`.
pub(super) fn rows(s: &SystemSnapshot, name: &str) -> Vec<Row> {
    match name {
        "pg_namespace" => s
            .schemas
            .iter()
            .map(|n| {
                let owner = if n.name == "public" {
                    DATABASE_OWNER_OID
                } else {
                    SUPERUSER_OID
                };
                vec![
                    ("oid", oid(n.oid)),
                    ("nspname", txt(&n.name)),
                    ("nspowner", oid(owner)),
                ]
            })
            .collect(),
        "pg_class" => pg_class(s),
        "pg_attribute" => pg_attribute(s),
        "pg_attrdef" => pg_attrdef(s),
        "pg_index" => pg_index(s),
        "pg_constraint" => pg_constraint(s),
        "pg_depend" => pg_depend(s),
        "pg_sequence" => s
            .sequences
            .iter()
            .map(|q| {
                vec![
                    ("seqrelid", oid(q.def.oid)),
                    ("seqtypid", oid(q.ty.oid())),
                    ("seqstart", Value::Int8(q.def.start)),
                    ("seqincrement", Value::Int8(q.def.increment)),
                    ("seqmax", Value::Int8(q.def.max)),
                    ("seqmin", Value::Int8(q.def.min)),
                    ("seqcache", Value::Int8(1)),
                    ("seqcycle", Value::Bool(q.def.cycle)),
                ]
            })
            .collect(),
        "pg_type" => pg_type(),
        "pg_tables" | "pg_views" | "pg_matviews" | "pg_indexes" | "pg_sequences" => {
            pg_views_of_tables(s, name)
        }
        other => super::pg_misc::rows(s, other),
    }
}

fn class_row(o: u32, name: &str, ns: u32, kind: char, natts: usize, am: u32, filenode: u32) -> Row {
    vec![
        ("oid", oid(o)),
        ("relname", txt(name)),
        ("relnamespace", oid(ns)),
        ("relowner", oid(SUPERUSER_OID)),
        ("relam", oid(am)),
        ("relfilenode", oid(filenode)),
        ("reltuples", Value::Float4(-1.0)),
        ("relpersistence", ch('p')),
        ("relkind", ch(kind)),
        ("relnatts", Value::Int2(natts as i16)),
        ("relispopulated", Value::Bool(true)),
        ("relreplident", ch(if kind == 'r' { 'd' } else { 'n' })),
    ]
}

/// Whether a table has foreign keys or is referenced by one (PostgreSQL then has triggers).
fn has_triggers(s: &SystemSnapshot, t: &TableDef) -> bool {
    s.tables.iter().any(|o| {
        o.constraints.iter().any(|c| {
            c.foreign.as_ref().is_some_and(|f| {
                o.oid == t.oid || (f.ref_schema == t.schema && f.ref_table == t.name)
            })
        })
    })
}

fn pg_class(s: &SystemSnapshot) -> Vec<Row> {
    let mut out = Vec::new();
    for r in RELATIONS {
        let ns = s.schema_oid(r.schema).unwrap_or(PG_CATALOG_OID);
        let (am, node) = if r.kind == 'r' {
            (HEAP_AM, r.oid)
        } else {
            (0, 0)
        };
        out.push(class_row(
            r.oid,
            r.name,
            ns,
            r.kind,
            r.columns.len(),
            am,
            node,
        ));
    }
    for t in &s.tables {
        let ns = s.schema_oid(&t.schema).unwrap_or(0);
        let kind = if t.matview.is_some() { 'm' } else { 'r' };
        let mut row = class_row(t.oid, &t.name, ns, kind, t.columns.len(), HEAP_AM, t.oid);
        if let (Some(mv), Some(slot)) =
            (&t.matview, row.iter_mut().find(|c| c.0 == "relispopulated"))
        {
            slot.1 = Value::Bool(mv.populated);
        }
        if let (Some(stats), Some(slot)) = (&t.stats, row.iter_mut().find(|c| c.0 == "reltuples")) {
            // ANALYZE's count, as PostgreSQL's pg_class keeps it.
            slot.1 = Value::Float4(stats.rows as f32);
        }
        row.push(("relhasindex", Value::Bool(!t.indexes.is_empty())));
        let checks = t.constraints.iter().filter(|c| c.kind == 'c').count();
        row.push(("relchecks", Value::Int2(checks as i16)));
        row.push(("relhastriggers", Value::Bool(has_triggers(s, t))));
        out.push(row);
        for ix in &t.indexes {
            out.push(class_row(
                ix.oid,
                &ix.name,
                ns,
                'i',
                ix.columns.len(),
                am_oid(ix.method()),
                ix.oid,
            ));
        }
    }
    for v in &s.views {
        let ns = s.schema_oid(&v.schema).unwrap_or(0);
        let mut row = class_row(v.oid, &v.name, ns, 'v', v.columns.len(), 0, 0);
        row.push(("relhasrules", Value::Bool(true)));
        out.push(row);
    }
    for q in &s.sequences {
        let ns = s.schema_oid(&q.schema).unwrap_or(0);
        out.push(class_row(q.def.oid, &q.name, ns, 'S', 3, 0, q.def.oid));
    }
    out
}

/// pg_attribute's columns describing one attribute of type `ty`.
fn attribute(rel: u32, name: &str, num: usize, ty: &DataType, not_null: bool) -> Row {
    let t = type_row(ty.oid());
    let collation = t.map_or(0, |t| t.collation);
    vec![
        ("attrelid", oid(rel)),
        ("attname", txt(name)),
        ("atttypid", oid(ty.oid())),
        ("attstattarget", Value::Int4(-1)),
        ("attlen", Value::Int2(ty.typlen())),
        ("attnum", Value::Int2(num as i16)),
        ("attndims", Value::Int4(i32::from(ty.element().is_some()))),
        ("attcacheoff", Value::Int4(-1)),
        ("atttypmod", Value::Int4(ty.typmod())),
        ("attbyval", Value::Bool(t.is_some_and(|t| t.byval))),
        ("attalign", ch(t.map_or('i', |t| t.align))),
        ("attstorage", ch(t.map_or('p', |t| t.storage))),
        ("attcompression", ch('\0')),
        ("attnotnull", Value::Bool(not_null)),
        ("attidentity", ch('\0')),
        ("attgenerated", ch('\0')),
        ("attislocal", Value::Bool(true)),
        ("attcollation", oid(collation)),
    ]
}

fn set(row: &mut Row, name: &'static str, v: Value) {
    match row.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = v,
        None => row.push((name, v)),
    }
}

fn pg_attribute(s: &SystemSnapshot) -> Vec<Row> {
    let mut out = Vec::new();
    for r in RELATIONS {
        for (i, (name, ty)) in r.columns.iter().enumerate() {
            out.push(attribute(r.oid, name, i + 1, &column_type(ty), false));
        }
    }
    for t in &s.tables {
        for (i, c) in t.columns.iter().enumerate() {
            let mut row = attribute(t.oid, &c.name, i + 1, &c.ty, c.not_null);
            let identity = match (c.identity, c.identity_always) {
                (false, _) => '\0',
                (true, true) => 'a',
                (true, false) => 'd',
            };
            set(&mut row, "attidentity", ch(identity));
            set(
                &mut row,
                "atthasdef",
                Value::Bool(c.default.is_some() && !c.identity),
            );
            out.push(row);
        }
        for ix in &t.indexes {
            for (i, id) in ix.columns.iter().enumerate() {
                if let Some(c) = t.column_by_id(*id).and_then(|p| t.columns.get(p)) {
                    out.push(attribute(ix.oid, &c.name, i + 1, &c.ty, false));
                }
            }
        }
    }
    for v in &s.views {
        for (i, name) in v.columns.iter().enumerate() {
            let ty = v.column_types.get(i).cloned().unwrap_or(DataType::Text);
            out.push(attribute(v.oid, name, i + 1, &ty, false));
        }
    }
    out
}

/// A stable oid for the default of column `attnum` of `table` (Orbit stores defaults inside
/// the table's definition, without an oid of their own).
pub(super) fn attrdef_oid(table: u32, attnum: usize) -> u32 {
    3_000_000_000u32.wrapping_add(table.wrapping_mul(1600).wrapping_add(attnum as u32))
}

fn pg_attrdef(s: &SystemSnapshot) -> Vec<Row> {
    let mut out = Vec::new();
    for t in &s.tables {
        for (i, c) in t.columns.iter().enumerate() {
            let Some(d) = c.default.as_deref().filter(|_| !c.identity) else {
                continue;
            };
            out.push(vec![
                ("oid", oid(attrdef_oid(t.oid, i + 1))),
                ("adrelid", oid(t.oid)),
                ("adnum", Value::Int2((i + 1) as i16)),
                ("adbin", txt(default_expr(d, &c.ty))),
            ]);
        }
    }
    out
}

/// The attnums of column ids in `t`.
pub(super) fn attnums(t: &TableDef, ids: &[u32]) -> Vec<i16> {
    ids.iter()
        .filter_map(|id| t.column_by_id(*id))
        .map(|p| (p + 1) as i16)
        .collect()
}

fn vector(items: impl Iterator<Item = String>) -> Value {
    txt(items.collect::<Vec<_>>().join(" "))
}

fn pg_index(s: &SystemSnapshot) -> Vec<Row> {
    let mut out = Vec::new();
    for t in &s.tables {
        for ix in &t.indexes {
            let keys = attnums(t, &ix.columns);
            let collations = ix.columns.iter().map(|id| {
                let ty = t.column_by_id(*id).and_then(|p| t.columns.get(p));
                ty.and_then(|c| type_row(c.ty.oid()))
                    .map_or(0, |r| r.collation)
                    .to_string()
            });
            out.push(vec![
                ("indexrelid", oid(ix.oid)),
                ("indrelid", oid(t.oid)),
                ("indnatts", Value::Int2(keys.len() as i16)),
                ("indnkeyatts", Value::Int2(keys.len() as i16)),
                ("indisunique", Value::Bool(ix.unique)),
                ("indisprimary", Value::Bool(ix.primary)),
                ("indimmediate", Value::Bool(true)),
                ("indisvalid", Value::Bool(true)),
                ("indisready", Value::Bool(true)),
                ("indislive", Value::Bool(true)),
                ("indkey", vector(keys.iter().map(i16::to_string))),
                ("indcollation", vector(collations)),
                ("indclass", vector(keys.iter().map(|_| "0".to_string()))),
                ("indoption", vector(keys.iter().map(|_| "0".to_string()))),
            ]);
        }
    }
    out
}

fn pg_constraint(s: &SystemSnapshot) -> Vec<Row> {
    let mut out = Vec::new();
    for t in &s.tables {
        let ns = s.schema_oid(&t.schema).unwrap_or(0);
        for c in &t.constraints {
            let index = c
                .index
                .and_then(|id| t.indexes.iter().find(|ix| ix.id == id));
            let mut row = vec![
                ("oid", oid(c.oid)),
                ("conname", txt(&c.name)),
                ("connamespace", oid(ns)),
                ("contype", ch(c.kind)),
                ("convalidated", Value::Bool(true)),
                ("conrelid", oid(t.oid)),
                ("conindid", oid(index.map_or(0, |ix| ix.oid))),
                ("confupdtype", ch(' ')),
                ("confdeltype", ch(' ')),
                ("confmatchtype", ch(' ')),
                ("conislocal", Value::Bool(true)),
            ];
            match c.kind {
                'c' => {
                    let e = c.check.clone().unwrap_or_default();
                    row.push(("conkey", int2s(&check_columns(t, &e))));
                    row.push(("conbin", txt(e)));
                }
                'f' => {
                    if let Some(fk) = &c.foreign {
                        row.push(("conkey", int2s(&attnums(t, &fk.columns))));
                        let target = s
                            .tables
                            .iter()
                            .find(|r| r.schema == fk.ref_schema && r.name == fk.ref_table);
                        if let Some(r) = target {
                            row.push(("confrelid", oid(r.oid)));
                            row.push(("confkey", int2s(&attnums(r, &fk.ref_columns))));
                            let unique = r.indexes.iter().find(|ix| ix.columns == fk.ref_columns);
                            set(&mut row, "conindid", oid(unique.map_or(0, |ix| ix.oid)));
                        }
                        set(&mut row, "confupdtype", ch(fk.on_update));
                        set(&mut row, "confdeltype", ch(fk.on_delete));
                        set(&mut row, "confmatchtype", ch('s'));
                    }
                }
                _ => {
                    if let Some(ix) = index {
                        row.push(("conkey", int2s(&attnums(t, &ix.columns))));
                    }
                }
            }
            out.push(row);
        }
    }
    out
}

fn depend(objid: u32, refclass: u32, refobj: u32, refsub: i32, kind: char) -> Row {
    vec![
        ("classid", oid(PG_CLASS_OID)),
        ("objid", oid(objid)),
        ("objsubid", Value::Int4(0)),
        ("refclassid", oid(refclass)),
        ("refobjid", oid(refobj)),
        ("refobjsubid", Value::Int4(refsub)),
        ("deptype", ch(kind)),
    ]
}

fn pg_depend(s: &SystemSnapshot) -> Vec<Row> {
    let mut out = Vec::new();
    for q in &s.sequences {
        if let Some((table, attnum, identity)) = q.owner {
            let kind = if identity { 'i' } else { 'a' };
            out.push(depend(
                q.def.oid,
                PG_CLASS_OID,
                table,
                i32::from(attnum),
                kind,
            ));
        }
    }
    for t in &s.tables {
        for ix in &t.indexes {
            match t.constraints.iter().find(|c| c.index == Some(ix.id)) {
                Some(c) => out.push(depend(ix.oid, PG_CONSTRAINT_OID, c.oid, 0, 'i')),
                None => out.push(depend(ix.oid, PG_CLASS_OID, t.oid, 0, 'a')),
            }
        }
    }
    out
}

fn pg_type() -> Vec<Row> {
    super::TYPES
        .iter()
        .map(|t| {
            let [input, output, receive, send, modin, modout, analyze] = t.procs;
            vec![
                ("oid", oid(t.oid)),
                ("typname", txt(t.name)),
                ("typnamespace", oid(PG_CATALOG_OID)),
                ("typowner", oid(SUPERUSER_OID)),
                ("typlen", Value::Int2(t.len)),
                ("typbyval", Value::Bool(t.byval)),
                ("typtype", ch(t.kind)),
                ("typcategory", ch(t.category)),
                ("typispreferred", Value::Bool(t.preferred)),
                ("typisdefined", Value::Bool(true)),
                ("typdelim", ch(',')),
                ("typsubscript", txt(t.subscript)),
                ("typelem", oid(t.elem)),
                ("typarray", oid(t.array)),
                ("typinput", txt(input)),
                ("typoutput", txt(output)),
                ("typreceive", txt(receive)),
                ("typsend", txt(send)),
                ("typmodin", txt(modin)),
                ("typmodout", txt(modout)),
                ("typanalyze", txt(analyze)),
                ("typalign", ch(t.align)),
                ("typstorage", ch(t.storage)),
                ("typtypmod", Value::Int4(-1)),
                ("typcollation", oid(t.collation)),
            ]
        })
        .collect()
}

/// Rows of the pg_catalog views over tables, indexes and sequences.
fn pg_views_of_tables(s: &SystemSnapshot, name: &str) -> Vec<Row> {
    let owner = || txt("postgres");
    match name {
        "pg_tables" => {
            let mut out: Vec<Row> = RELATIONS
                .iter()
                .filter(|r| r.kind == 'r')
                .map(|r| {
                    vec![
                        ("schemaname", txt(r.schema)),
                        ("tablename", txt(r.name)),
                        ("tableowner", owner()),
                    ]
                })
                .collect();
            for t in s.tables.iter().filter(|t| t.matview.is_none()) {
                out.push(vec![
                    ("schemaname", txt(&t.schema)),
                    ("tablename", txt(&t.name)),
                    ("tableowner", owner()),
                    ("hasindexes", Value::Bool(!t.indexes.is_empty())),
                    ("hastriggers", Value::Bool(has_triggers(s, t))),
                ]);
            }
            out
        }
        "pg_views" => s
            .views
            .iter()
            .map(|v| {
                vec![
                    ("schemaname", txt(&v.schema)),
                    ("viewname", txt(&v.name)),
                    ("viewowner", owner()),
                    ("definition", txt(super::deparse::view_def(v))),
                ]
            })
            .collect(),
        "pg_matviews" => s
            .tables
            .iter()
            .filter_map(|t| Some((t, t.matview.as_ref()?)))
            .map(|(t, mv)| {
                vec![
                    ("schemaname", txt(&t.schema)),
                    ("matviewname", txt(&t.name)),
                    ("matviewowner", owner()),
                    ("tablespace", Value::Null),
                    ("hasindexes", Value::Bool(!t.indexes.is_empty())),
                    ("ispopulated", Value::Bool(mv.populated)),
                    ("definition", txt(super::deparse::query_def(&mv.query))),
                ]
            })
            .collect(),
        "pg_indexes" => {
            let mut out = Vec::new();
            for t in &s.tables {
                for ix in &t.indexes {
                    out.push(vec![
                        ("schemaname", txt(&t.schema)),
                        ("tablename", txt(&t.name)),
                        ("indexname", txt(&ix.name)),
                        ("indexdef", s.index_def(ix.oid, 0).map_or(Value::Null, txt)),
                    ]);
                }
            }
            out
        }
        "pg_sequences" => s
            .sequences
            .iter()
            .map(|q| {
                vec![
                    ("schemaname", txt(&q.schema)),
                    ("sequencename", txt(&q.name)),
                    ("sequenceowner", owner()),
                    (
                        "data_type",
                        Value::reg(
                            DataType::RegType,
                            q.ty.oid(),
                            super::format_type(q.ty.oid(), None),
                        ),
                    ),
                    ("start_value", Value::Int8(q.def.start)),
                    ("min_value", Value::Int8(q.def.min)),
                    ("max_value", Value::Int8(q.def.max)),
                    ("increment_by", Value::Int8(q.def.increment)),
                    ("cycle", Value::Bool(q.def.cycle)),
                    ("cache_size", Value::Int8(1)),
                    ("last_value", q.last_value.map_or(Value::Null, Value::Int8)),
                ]
            })
            .collect(),
        _ => Vec::new(),
    }
}
