//! Catalog records: what a schema, table, column, index, constraint and view are.

use serde::{Deserialize, Serialize};

use crate::types::DataType;

/// A schema.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SchemaDef {
    pub name: String,
    pub oid: u32,
}

/// A database (besides `postgres`). Databases share the storage; names are recorded so
/// clients can list, create and drop them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabaseDef {
    pub name: String,
    pub oid: u32,
}

/// A column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnDef {
    /// Stable id within the table (rows are keyed by it).
    pub id: u32,
    pub name: String,
    #[serde(deserialize_with = "super::stored_type::one")]
    pub ty: DataType,
    pub not_null: bool,
    /// The DEFAULT expression as SQL text (`nextval('t_id_seq')` for serial columns).
    pub default: Option<String>,
    /// `GENERATED ALWAYS AS IDENTITY` (explicit values are refused unless OVERRIDING).
    #[serde(default)]
    pub identity_always: bool,
    /// The sequence feeding a serial or identity column.
    #[serde(default)]
    pub sequence: Option<String>,
    /// `GENERATED ... AS IDENTITY` (ALWAYS or BY DEFAULT; `identity_always` tells which).
    /// Serial columns have a sequence but are not identity columns.
    #[serde(default)]
    pub identity: bool,
    /// A serial column whose DEFAULT was set or dropped since: it still owns its sequence
    /// (dropped with the table), which is no longer its default (`default` is).
    #[serde(default)]
    pub default_replaced: bool,
}

impl ColumnDef {
    /// A nullable column with no default, sequence or identity.
    pub fn plain(id: u32, name: String, ty: DataType) -> ColumnDef {
        ColumnDef {
            id,
            name,
            ty,
            not_null: false,
            default: None,
            identity_always: false,
            sequence: None,
            identity: false,
            default_replaced: false,
        }
    }
}

/// An index (the primary key is index 0 when the table has one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexDef {
    /// Unique within the table; 0 is the primary key's storage, secondary indexes start at 1.
    pub id: u32,
    pub oid: u32,
    pub name: String,
    /// Column ids (see `TableDef::column_by_id`) in key order.
    pub columns: Vec<u32>,
    pub unique: bool,
    pub primary: bool,
    /// A vector index (`USING hnsw` / `USING ivfflat`); None for btree indexes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ann: Option<AnnDef>,
    /// A bitmap index (`USING bitmap`; see `exec::bitmap_index`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bitmap: bool,
}

impl IndexDef {
    /// The access method's name, as `pg_am` lists it.
    pub fn method(&self) -> &str {
        match (&self.ann, self.bitmap) {
            (Some(ann), _) => &ann.method,
            (None, true) => "bitmap",
            (None, false) => "btree",
        }
    }
}

/// A vector index: its access method, operator class, build options, and where its graph is
/// stored (see `exec::ann`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnDef {
    /// "hnsw" or "ivfflat".
    pub method: String,
    /// The operator class, e.g. "vector_l2_ops".
    pub opclass: String,
    /// hnsw: links per node and the build's beam width.
    pub m: u16,
    pub ef_construction: u16,
    /// ivfflat: the number of lists.
    pub lists: u32,
    /// hnsw: whether searches walk the graph over byte codes of the vectors (`WITH
    /// (quantize = off)` turns it off; definitions from before the option read as on).
    #[serde(default = "on")]
    pub quantize: bool,
    /// The storage generation: the index's records live under this id in the `sql:ann`
    /// keyspace. A rebuild (TRUNCATE, re-keyed rows) takes a new id, so a rolled-back
    /// statement finds the old graph untouched; old generations are deleted at commit.
    pub store: u32,
}

fn on() -> bool {
    true
}

/// A foreign key of a table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForeignKey {
    /// Referencing column ids.
    pub columns: Vec<u32>,
    pub ref_schema: String,
    pub ref_table: String,
    /// Referenced column ids (a primary key or unique index of the referenced table).
    pub ref_columns: Vec<u32>,
    /// `a` no action, `r` restrict, `c` cascade, `n` set null, `d` set default.
    pub on_delete: char,
    pub on_update: char,
}

/// A named table constraint (CHECK, UNIQUE, PRIMARY KEY, FOREIGN KEY).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConstraintDef {
    pub name: String,
    pub oid: u32,
    /// `p` primary key, `u` unique, `c` check, `f` foreign key (pg_constraint.contype).
    pub kind: char,
    /// CHECK: the expression as SQL text.
    #[serde(default)]
    pub check: Option<String>,
    /// UNIQUE / PRIMARY KEY: the backing index id.
    #[serde(default)]
    pub index: Option<u32>,
    #[serde(default)]
    pub foreign: Option<ForeignKey>,
}

/// A table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableDef {
    /// Storage id: every row and index key starts with it.
    pub id: u32,
    /// The pg_class oid clients see.
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub columns: Vec<ColumnDef>,
    pub next_column_id: u32,
    /// Column ids of the primary key; empty when the table has none (rows are then
    /// keyed by a hidden row id).
    pub primary_key: Vec<u32>,
    pub indexes: Vec<IndexDef>,
    pub constraints: Vec<ConstraintDef>,
    pub next_index_id: u32,
    /// Planner statistics from the last ANALYZE (None before the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<std::sync::Arc<super::TableStats>>,
    /// Set when the table is a materialized view: its rows are its query's, as of the last
    /// refresh, and only REFRESH writes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matview: Option<MatView>,
}

impl TableDef {
    /// A table of no columns, keys, indexes or constraints yet.
    pub fn empty(id: u32, oid: u32, schema: String, name: String) -> TableDef {
        TableDef {
            id,
            oid,
            schema,
            name,
            columns: Vec::new(),
            next_column_id: 1,
            primary_key: Vec::new(),
            indexes: Vec::new(),
            constraints: Vec::new(),
            next_index_id: 1,
            stats: None,
            matview: None,
        }
    }
}

/// What makes a table a materialized view.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MatView {
    /// The query, as SQL text with its `*`s expanded (as a view's).
    pub query: String,
    /// False after `WITH NO DATA`: reading it is an error until a REFRESH fills it.
    pub populated: bool,
}

impl TableDef {
    /// The position of column `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The position of the column with id `id`.
    pub fn column_by_id(&self, id: u32) -> Option<usize> {
        self.columns.iter().position(|c| c.id == id)
    }
}

/// A view: its query as SQL text and the names of its columns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ViewDef {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub query: String,
    pub columns: Vec<String>,
    /// The columns' types (empty in definitions written before types were recorded: the
    /// system relations then show them as text).
    #[serde(default, deserialize_with = "super::stored_type::list")]
    pub column_types: Vec<DataType>,
}
