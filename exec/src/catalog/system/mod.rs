//! The system relations of `pg_catalog` and `information_schema`, computed from Orbit's
//! catalog, and the lookups the catalog functions (`pg_get_indexdef`, `format_type`,
//! `pg_table_is_visible`, regclass casts, ...) need.
//!
//! A [`SystemSnapshot`] is loaded once per statement that needs it (inside the statement's
//! transaction, so it sees the statement's own DDL), and every relation and lookup answers from
//! it. Nothing here is stored: the relations are views of the catalog.
//!
//! Submodules: `defs` (the relations' columns, PostgreSQL 15's names and types), `types` (the
//! built-in pg_type rows, `format_type`), `pg_catalog` and `information_schema` (the rows),
//! `deparse` (index, constraint, default and view definitions as PostgreSQL prints them).
//!
//! Oids: the builtin schemas and relations have PostgreSQL 15's oids (pg_catalog 11, public 2200,
//! information_schema 13207, pg_class 1259, ...), user objects the oids stored in their defs,
//! the one role `postgres` 10, the database `postgres` 5.

mod defs;
mod deparse;
mod information_schema;
mod pg_catalog;
mod pg_misc;
mod types;

pub use defs::{column_type, RelDef, RELATIONS};
pub use deparse::quote_ident;
pub use types::{format_type, type_row, TypeRow, TYPES};

use super::{Catalog, DatabaseDef, SchemaDef, TableDef, ViewDef};
use crate::error::{code, Error, Result};
use crate::sequence::SequenceDef;
use crate::types::{DataType, Value};

/// Oids of the builtin schemas, the role and the database.
pub const PG_CATALOG_OID: u32 = 11;
pub const PG_TOAST_OID: u32 = 99;
pub const PUBLIC_OID: u32 = 2200;
pub const INFORMATION_SCHEMA_OID: u32 = 13207;
pub const SUPERUSER_OID: u32 = 10;
/// The owner PostgreSQL 15 gives the `public` schema.
pub const DATABASE_OWNER_OID: u32 = 6171;
pub const POSTGRES_DATABASE_OID: u32 = 5;
/// pg_class's own oid (pg_depend.classid and friends).
pub const PG_CLASS_OID: u32 = 1259;

/// A system relation's columns and rows.
#[derive(Debug, Clone)]
pub struct SystemRelation {
    pub columns: Vec<(String, DataType)>,
    pub rows: Vec<Vec<Value>>,
}

/// A sequence as the system relations show it.
#[derive(Debug, Clone)]
pub struct SequenceInfo {
    pub schema: String,
    pub name: String,
    pub def: SequenceDef,
    /// smallint, integer or bigint (serial sequences take their column's type).
    pub ty: DataType,
    /// The (table oid, attnum, identity) of the column owning it.
    pub owner: Option<(u32, i16, bool)>,
    /// pg_sequences.last_value: the last value handed out, or after a restart the last one
    /// reserved on disk (PostgreSQL's "last value written to disk"); `None` before the first
    /// nextval.
    pub last_value: Option<i64>,
}

/// Everything the system relations and catalog functions read, loaded once per statement.
#[derive(Debug, Clone)]
pub struct SystemSnapshot {
    /// Builtin and user schemas, by oid.
    pub schemas: Vec<SchemaDef>,
    pub tables: Vec<TableDef>,
    pub views: Vec<ViewDef>,
    /// `postgres` and the created databases.
    pub databases: Vec<DatabaseDef>,
    pub sequences: Vec<SequenceInfo>,
    pub user: String,
    pub database: String,
    /// The search path's entries as set (`$user` included), unquoted.
    pub search_path: Vec<String>,
    pub settings: Vec<(String, String)>,
    /// The extensions CREATE EXTENSION recorded in this database (plpgsql is always there).
    pub extensions: Vec<String>,
    /// The server's sessions (pg_stat_activity), filled by the statement that loads this.
    pub activity: Vec<crate::backends::ActivityRow>,
}

/// Whether `schema.name` is a system relation Orbit provides.
pub fn is_system_relation(schema: &str, name: &str) -> bool {
    rel_def(schema, name).is_some()
}

/// The definition of system relation `schema.name`.
pub fn rel_def(schema: &str, name: &str) -> Option<&'static RelDef> {
    RELATIONS
        .iter()
        .find(|r| r.schema == schema && r.name == name)
}

/// The value of a `regproc` (Orbit has no function oids: the name itself, schema dropped).
pub fn regproc_name(s: &str) -> String {
    let parts = split_qualified(s);
    parts.last().cloned().unwrap_or_default()
}

/// Splits a possibly qualified, possibly quoted name (`pg_catalog."MyTable"`) into its parts,
/// folding unquoted parts to lower case.
pub fn split_qualified(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut cur)),
            c if quoted => cur.push(c),
            c => cur.extend(c.to_lowercase()),
        }
    }
    parts.push(cur);
    parts
}

fn undefined(kind: &str, name: &str) -> Error {
    let c = if kind == "relation" {
        code::UNDEFINED_TABLE
    } else {
        code::UNDEFINED_OBJECT
    };
    Error::new(c, format!("{kind} \"{name}\" does not exist"))
}

/// The oid a `regclass`/`regtype`/`regnamespace`/`regrole` literal names, resolving only what
/// needs no catalog: numbers, builtin types, schemas, the role and the system relations.
pub fn builtin_reg_oid(ty: &DataType, s: &str) -> Result<u32> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map_err(|_| Error::invalid_input("oid", s));
    }
    if t == "-" {
        return Ok(0);
    }
    let parts = split_qualified(t);
    let last = parts.last().map(String::as_str).unwrap_or_default();
    match ty {
        DataType::RegType => {
            let name = t.strip_prefix("pg_catalog.").unwrap_or(t);
            DataType::from_name(name)
                .or_else(|| DataType::from_name(last))
                .map(|d| d.oid())
                .ok_or_else(|| undefined("type", t))
        }
        DataType::RegNamespace => builtin_schema_oid(last).ok_or_else(|| undefined("schema", t)),
        DataType::RegRole => match last {
            "postgres" => Ok(SUPERUSER_OID),
            "pg_database_owner" => Ok(DATABASE_OWNER_OID),
            _ => Err(undefined("role", t)),
        },
        _ => {
            let found = match parts.as_slice() {
                [n] => rel_def("pg_catalog", n),
                [s, n] => rel_def(s, n),
                _ => None,
            };
            found.map(|r| r.oid).ok_or_else(|| undefined("relation", t))
        }
    }
}

/// The built-in roles by oid: the superuser `postgres` and `pg_database_owner`.
pub fn builtin_role_name(oid: u32) -> Option<&'static str> {
    match oid {
        SUPERUSER_OID => Some("postgres"),
        DATABASE_OWNER_OID => Some("pg_database_owner"),
        _ => None,
    }
}

fn builtin_schema_oid(name: &str) -> Option<u32> {
    match name {
        "pg_catalog" => Some(PG_CATALOG_OID),
        "pg_toast" => Some(PG_TOAST_OID),
        "public" => Some(PUBLIC_OID),
        "information_schema" => Some(INFORMATION_SCHEMA_OID),
        _ => None,
    }
}

/// What a relation oid names.
pub(crate) enum Rel<'s> {
    Table(&'s TableDef),
    /// An index: its table and position in `indexes`.
    Index(&'s TableDef, usize),
    View(&'s ViewDef),
    Sequence(&'s SequenceInfo),
    System(&'static RelDef),
}

impl SystemSnapshot {
    /// Reads the catalog (and the sequences, which live outside it, each with the last value
    /// this process handed out) for one statement.
    pub fn load(
        cat: &mut Catalog<'_>,
        sequences: Vec<(String, SequenceDef, Option<i64>)>,
        user: &str,
        database: &str,
        search_path: &[String],
        settings: &[(String, String)],
    ) -> Result<SystemSnapshot> {
        let mut schemas = vec![
            SchemaDef {
                name: "pg_catalog".into(),
                oid: PG_CATALOG_OID,
            },
            SchemaDef {
                name: "pg_toast".into(),
                oid: PG_TOAST_OID,
            },
            SchemaDef {
                name: "public".into(),
                oid: PUBLIC_OID,
            },
            SchemaDef {
                name: "information_schema".into(),
                oid: INFORMATION_SCHEMA_OID,
            },
        ];
        schemas.extend(cat.schemas()?);
        schemas.sort_by_key(|s| s.oid);
        let tables = cat.tables()?;
        let views = cat.views()?;
        let mut databases = vec![DatabaseDef {
            name: "postgres".into(),
            oid: POSTGRES_DATABASE_OID,
        }];
        databases.extend(
            cat.databases()?
                .into_iter()
                .filter(|d| d.name != "postgres"),
        );
        let mut seqs = Vec::new();
        for (full, def, last) in sequences {
            // Internal counters (the oid counter, hidden row ids) have no oid or no schema;
            // other databases' sequences are stored as `{database}/{schema}.{name}`.
            if def.oid == 0 || full.starts_with('\0') {
                continue;
            }
            let local = match full.split_once('/') {
                Some((db, rest)) if db == database => rest,
                Some(_) => continue,
                None if database == super::DEFAULT_DATABASE => full.as_str(),
                None => continue,
            };
            let Some((schema, name)) = local.split_once('.') else {
                continue;
            };
            let owner = tables.iter().find_map(|t| {
                t.columns.iter().enumerate().find_map(|(i, c)| {
                    (c.sequence.as_deref() == Some(full.as_str()))
                        .then(|| (t.oid, (i + 1) as i16, c.identity, c.ty.clone()))
                })
            });
            let ty = match &owner {
                Some((_, _, _, t)) => t.clone(),
                None if def.max == i64::from(i16::MAX) => DataType::Int2,
                None if def.max == i64::from(i32::MAX) => DataType::Int4,
                None => DataType::Int8,
            };
            seqs.push(SequenceInfo {
                schema: schema.to_string(),
                name: name.to_string(),
                last_value: last.or(def.reserved),
                def,
                ty,
                owner: owner.map(|(t, a, i, _)| (t, a, i)),
            });
        }
        seqs.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        Ok(SystemSnapshot {
            schemas,
            tables,
            views,
            databases,
            sequences: seqs,
            user: user.to_string(),
            database: database.to_string(),
            search_path: search_path.to_vec(),
            settings: settings.to_vec(),
            extensions: cat.extensions()?,
            activity: Vec::new(),
        })
    }

    /// The system relation `schema.name` (schema is "pg_catalog" or "information_schema").
    pub fn relation(&self, schema: &str, name: &str) -> Option<SystemRelation> {
        let def = rel_def(schema, name)?;
        Some(self.build(def).0)
    }

    /// The relation and the column names its rows used that it does not have (a bug; tests
    /// check there are none).
    pub(crate) fn build(&self, def: &RelDef) -> (SystemRelation, Vec<String>) {
        let rows = if def.schema == "information_schema" {
            information_schema::rows(self, def.name)
        } else {
            pg_catalog::rows(self, def.name)
        };
        let columns: Vec<(String, DataType)> = def
            .columns
            .iter()
            .map(|(n, t)| (n.to_string(), column_type(t)))
            .collect();
        let mut unknown = Vec::new();
        let mut out = Vec::with_capacity(rows.len());
        for spec in rows {
            let mut row: Vec<Value> = columns
                .iter()
                .map(|(_, t)| {
                    if def.schema == "information_schema" {
                        Value::Null
                    } else {
                        default_value(t)
                    }
                })
                .collect();
            for (name, v) in spec {
                match columns.iter().position(|(n, _)| n == name) {
                    Some(i) => {
                        if let Some(slot) = row.get_mut(i) {
                            *slot = v;
                        }
                    }
                    None => unknown.push(format!("{}.{name}", def.name)),
                }
            }
            out.push(row);
        }
        (SystemRelation { columns, rows: out }, unknown)
    }

    /// A setting's value.
    pub fn setting(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.settings
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn schema_name(&self, oid: u32) -> Option<&str> {
        self.schemas
            .iter()
            .find(|s| s.oid == oid)
            .map(|s| s.name.as_str())
    }

    pub(crate) fn schema_oid(&self, name: &str) -> Option<u32> {
        self.schemas.iter().find(|s| s.name == name).map(|s| s.oid)
    }

    /// The schemas of the search path that exist, in order (`$user` is the user's schema when
    /// there is one), without the implicit pg_catalog.
    pub fn path_schemas(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for entry in &self.search_path {
            let name = if entry == "$user" {
                self.user.clone()
            } else {
                entry.clone()
            };
            if self.schema_oid(&name).is_some() && !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }

    /// `current_schemas(include_implicit)`.
    pub fn current_schemas(&self, implicit: bool) -> Vec<String> {
        let mut path = self.path_schemas();
        if implicit && !path.iter().any(|s| s == "pg_catalog") {
            path.insert(0, "pg_catalog".into());
        }
        path
    }

    /// The search order of unqualified names: pg_catalog first unless the path places it.
    fn lookup_order(&self) -> Vec<String> {
        self.current_schemas(true)
    }

    /// What relation oid `oid` is.
    pub(crate) fn rel(&self, oid: u32) -> Option<Rel<'_>> {
        for t in &self.tables {
            if t.oid == oid {
                return Some(Rel::Table(t));
            }
            if let Some(i) = t.indexes.iter().position(|ix| ix.oid == oid) {
                return Some(Rel::Index(t, i));
            }
        }
        if let Some(v) = self.views.iter().find(|v| v.oid == oid) {
            return Some(Rel::View(v));
        }
        if let Some(s) = self.sequences.iter().find(|s| s.def.oid == oid) {
            return Some(Rel::Sequence(s));
        }
        RELATIONS.iter().find(|r| r.oid == oid).map(Rel::System)
    }

    /// (schema, name) of relation `oid`.
    pub fn relation_name(&self, oid: u32) -> Option<(String, String)> {
        Some(match self.rel(oid)? {
            Rel::Table(t) => (t.schema.clone(), t.name.clone()),
            Rel::Index(t, i) => (t.schema.clone(), t.indexes.get(i)?.name.clone()),
            Rel::View(v) => (v.schema.clone(), v.name.clone()),
            Rel::Sequence(s) => (s.schema.clone(), s.name.clone()),
            Rel::System(r) => (r.schema.to_string(), r.name.to_string()),
        })
    }

    /// The oid of relation `name` in `schema`.
    fn relation_in(&self, schema: &str, name: &str) -> Option<u32> {
        for t in self.tables.iter().filter(|t| t.schema == schema) {
            if t.name == name {
                return Some(t.oid);
            }
            if let Some(ix) = t.indexes.iter().find(|ix| ix.name == name) {
                return Some(ix.oid);
            }
        }
        if let Some(v) = self
            .views
            .iter()
            .find(|v| v.schema == schema && v.name == name)
        {
            return Some(v.oid);
        }
        if let Some(s) = self
            .sequences
            .iter()
            .find(|s| s.schema == schema && s.name == name)
        {
            return Some(s.def.oid);
        }
        rel_def(schema, name).map(|r| r.oid)
    }

    /// `'name'::regclass`: the oid of a possibly qualified relation name (search path order).
    pub fn relation_oid(&self, name: &str) -> Result<u32> {
        let parts = split_qualified(name);
        let found = match parts.as_slice() {
            [n] => self
                .lookup_order()
                .iter()
                .find_map(|s| self.relation_in(s, n)),
            [s, n] => self.relation_in(s, n),
            [d, s, n] if *d == self.database => self.relation_in(s, n),
            _ => None,
        };
        match found {
            Some(oid) => Ok(oid),
            None => builtin_reg_oid(&DataType::RegClass, name),
        }
    }

    /// Whether an unqualified reference to relation `oid`'s name finds it.
    pub fn table_is_visible(&self, oid: u32) -> bool {
        let Some((schema, name)) = self.relation_name(oid) else {
            return false;
        };
        self.lookup_order()
            .iter()
            .find_map(|s| self.relation_in(s, &name).map(|o| (s.clone(), o)))
            .is_some_and(|(s, o)| s == schema && o == oid)
    }

    /// `oid::regclass::text`: the name, schema-qualified when not visible.
    pub fn regclass_text(&self, oid: u32) -> String {
        match self.relation_name(oid) {
            Some((schema, name)) if self.table_is_visible(oid) => {
                let _ = schema;
                deparse::quote_ident(&name)
            }
            Some((schema, name)) => format!(
                "{}.{}",
                deparse::quote_ident(&schema),
                deparse::quote_ident(&name)
            ),
            None => oid.to_string(),
        }
    }

    /// The name of role `oid` (`pg_get_userbyid`'s form for unknown roles).
    pub fn user_by_id(&self, oid: u32) -> String {
        builtin_role_name(oid).map_or_else(|| format!("unknown (OID={oid})"), str::to_string)
    }

    /// The oid of schema `name` (regnamespace input).
    pub fn namespace_oid(&self, name: &str) -> Result<u32> {
        let parts = split_qualified(name);
        let n = parts.last().map(String::as_str).unwrap_or_default();
        match self.schema_oid(n) {
            Some(o) => Ok(o),
            None => builtin_reg_oid(&DataType::RegNamespace, name),
        }
    }

    /// The text of a reg* value: the object's name, or the number when nothing has that oid.
    pub fn reg_text(&self, ty: &DataType, oid: u32) -> String {
        match ty {
            DataType::RegClass => self.regclass_text(oid),
            DataType::RegType => match DataType::from_oid(oid) {
                Some(_) => format_type(oid, None),
                None => oid.to_string(),
            },
            DataType::RegNamespace => self
                .schema_name(oid)
                .map(deparse::quote_ident)
                .unwrap_or_else(|| oid.to_string()),
            DataType::RegRole => {
                builtin_role_name(oid).map_or_else(|| oid.to_string(), str::to_string)
            }
            _ => oid.to_string(),
        }
    }

    /// The oid a reg* literal names, with the catalog at hand.
    pub fn reg_oid(&self, ty: &DataType, name: &str) -> Result<u32> {
        match ty {
            DataType::RegClass => self.relation_oid(name),
            DataType::RegNamespace => self.namespace_oid(name),
            other => builtin_reg_oid(other, name),
        }
    }

    /// `pg_get_indexdef(oid, column, pretty)`.
    pub fn index_def(&self, oid: u32, column: i32) -> Option<String> {
        match self.rel(oid)? {
            Rel::Index(t, i) => deparse::index_def(t, t.indexes.get(i)?, column),
            _ => None,
        }
    }

    /// `pg_get_constraintdef(oid, pretty)`.
    pub fn constraint_def(&self, oid: u32, pretty: bool) -> Option<String> {
        self.tables.iter().find_map(|t| {
            t.constraints
                .iter()
                .find(|c| c.oid == oid)
                .map(|c| deparse::constraint_def(self, t, c, pretty))
        })
    }

    /// `pg_get_viewdef(oid)`.
    pub fn view_def(&self, oid: u32) -> Option<String> {
        match self.rel(oid)? {
            Rel::View(v) => Some(deparse::view_def(v)),
            _ => None,
        }
    }

    /// `pg_get_viewdef('name')`.
    pub fn view_def_by_name(&self, name: &str) -> Result<Option<String>> {
        let oid = self.relation_oid(name)?;
        Ok(self.view_def(oid))
    }

    /// `pg_get_serial_sequence(table, column)`: the qualified name of the sequence feeding it.
    pub fn serial_sequence(&self, table: &str, column: &str) -> Result<Option<String>> {
        let oid = self.relation_oid(table)?;
        let Some(Rel::Table(t)) = self.rel(oid) else {
            return Err(undefined("relation", table));
        };
        let col = split_qualified(column).pop().unwrap_or_default();
        let c = t.columns.iter().find(|c| c.name == col).ok_or_else(|| {
            Error::new(
                code::UNDEFINED_COLUMN,
                format!("column \"{col}\" of relation \"{}\" does not exist", t.name),
            )
        })?;
        Ok(c.sequence.as_ref().map(|s| {
            let s = s.split_once('/').map_or(s.as_str(), |(_, local)| local);
            match s.split_once('.') {
                Some((sch, n)) => {
                    format!("{}.{}", deparse::quote_ident(sch), deparse::quote_ident(n))
                }
                None => deparse::quote_ident(s),
            }
        }))
    }
}

/// The value a system-relation column has when its row does not set it.
fn default_value(ty: &DataType) -> Value {
    match ty {
        DataType::Bool => Value::Bool(false),
        DataType::Int2 => Value::Int2(0),
        DataType::Int4 => Value::Int4(0),
        DataType::Int8 => Value::Int8(0),
        DataType::Float4 => Value::Float4(0.0),
        DataType::Oid => Value::Oid(0),
        DataType::RegProc => Value::Text("-".into()),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_sql;
