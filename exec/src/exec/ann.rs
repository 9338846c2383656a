//! Vector indexes in SQL (pgvector's `CREATE INDEX ... USING hnsw (col vector_l2_ops) WITH
//! (m = 16, ef_construction = 64)` and `USING ivfflat (...) WITH (lists = 100)`): operator
//! classes and options, the build, and upkeep on INSERT / UPDATE. The open indexes are in
//! `ann_graph`; the scan that ORDER BY ... LIMIT uses is in `query::ann_scan`.
//!
//! A vector index's graph (`orbit_index::hnsw`) lives outside transactions, in the `sql:ann`
//! keyspace under its storage generation (`AnnDef::store`); nodes are added when rows are
//! written, before their transaction commits, and removed only by the reclaimer once no
//! transaction can see their rows (`ann_reclaim`). Readers therefore check every hit against
//! the row their snapshot sees: a row that is not visible, or whose vector is no longer the
//! node's, is skipped. Dropping an index (or its table) releases its
//! generation when the transaction commits (`session::Dropped::VectorStore`).
//!
//! Invariants: a committed row with a non-NULL vector (non-zero, for cosine) has a node
//! holding its vector and its key, written to the WAL ahead of the row's commit; a storage
//! generation is referenced by one index definition.

use orbit_index::hnsw::{Metric, Params};
use orbit_index::ivfflat::IvfParams;
use sqlparser::ast;

use super::ann_graph::{storage, AnnGraph};
use super::Ctx;
use crate::catalog::{AnnDef, IndexDef, TableDef};
use crate::error::{code, Error, Result};
use crate::types::vector::{Kind, MAX_DIM};
use crate::types::{BinaryOp, DataType, Value};

/// An operator class: the column type it indexes, the distance it orders by, and whether
/// IVFFlat has it too (every one is HNSW's).
struct OpClass {
    name: &'static str,
    kind: Kind,
    metric: Metric,
    ivfflat: bool,
}

const fn oc(name: &'static str, kind: Kind, metric: Metric) -> OpClass {
    let ivfflat = !matches!(kind, Kind::SparseVec) && !matches!(metric, Metric::L1);
    OpClass {
        name,
        kind,
        metric,
        ivfflat,
    }
}

const OPCLASSES: &[OpClass] = &[
    oc("vector_l2_ops", Kind::Vector, Metric::L2),
    oc("vector_ip_ops", Kind::Vector, Metric::InnerProduct),
    oc("vector_cosine_ops", Kind::Vector, Metric::Cosine),
    oc("vector_l1_ops", Kind::Vector, Metric::L1),
    oc("halfvec_l2_ops", Kind::HalfVec, Metric::L2),
    oc("halfvec_ip_ops", Kind::HalfVec, Metric::InnerProduct),
    oc("halfvec_cosine_ops", Kind::HalfVec, Metric::Cosine),
    oc("halfvec_l1_ops", Kind::HalfVec, Metric::L1),
    oc("sparsevec_l2_ops", Kind::SparseVec, Metric::L2),
    oc("sparsevec_ip_ops", Kind::SparseVec, Metric::InnerProduct),
    oc("sparsevec_cosine_ops", Kind::SparseVec, Metric::Cosine),
    oc("sparsevec_l1_ops", Kind::SparseVec, Metric::L1),
];

fn kind_of(ty: &DataType) -> Option<(Kind, Option<u32>)> {
    match ty {
        DataType::Vector(n) => Some((Kind::Vector, *n)),
        DataType::HalfVec(n) => Some((Kind::HalfVec, *n)),
        DataType::SparseVec(n) => Some((Kind::SparseVec, *n)),
        _ => None,
    }
}

/// The distance operator an index's metric serves.
pub fn operator_of(metric: Metric) -> BinaryOp {
    match metric {
        Metric::L2 => BinaryOp::VectorL2,
        Metric::InnerProduct => BinaryOp::VectorNegIp,
        Metric::Cosine => BinaryOp::VectorCosine,
        Metric::L1 => BinaryOp::VectorL1,
    }
}

/// The metric of an index definition (None if its operator class is unknown).
pub fn metric_of(def: &AnnDef) -> Option<Metric> {
    OPCLASSES
        .iter()
        .find(|o| o.name == def.opclass)
        .map(|o| o.metric)
}

/// Whether `name` is a vector index access method.
pub fn is_method(name: &str) -> bool {
    name == "hnsw" || name == "ivfflat"
}

/// PostgreSQL's `parse_bool`: true, false, yes, no, on, off, 1, 0, and unique prefixes of
/// the words (`t`, `f`, `y`, `n`; `on` and `of` need two letters), any case.
fn parse_bool(text: &str) -> Option<bool> {
    let t = text.trim().to_lowercase();
    let prefix = |word: &str, min: usize| t.len() >= min && word.starts_with(t.as_str());
    if prefix("true", 1) || prefix("yes", 1) || t == "1" || prefix("on", 2) {
        Some(true)
    } else if prefix("false", 1) || prefix("no", 1) || t == "0" || prefix("off", 2) {
        Some(false)
    } else {
        None
    }
}

fn param_error(message: String) -> Error {
    Error::new(code::INVALID_PARAMETER_VALUE, message)
}

/// `WITH (m = 16, ef_construction = 64)` (hnsw) or `WITH (lists = 100)` (ivfflat), with
/// pgvector's ranges and messages, and Orbit's `quantize = on | off` (hnsw, default on: see
/// `orbit_index::hnsw::quant`): (m, ef_construction, lists, quantize).
fn options(method: &str, with: &[ast::Expr]) -> Result<(u16, u16, u32, bool)> {
    let (mut m, mut ef, mut lists, mut quantize) = (16i64, 64i64, 100i64, true);
    for opt in with {
        // `WITH (quantize)` alone means true, as for any boolean reloption.
        let (name, value) = match opt {
            ast::Expr::BinaryOp {
                left,
                op: ast::BinaryOperator::Eq,
                right,
            } => (left.to_string(), Some(right.to_string())),
            ast::Expr::Identifier(id) => (id.value.clone(), None),
            _ => return Err(Error::syntax(format!("syntax error at or near \"{opt}\""))),
        };
        let name = name.to_lowercase();
        let text = value.as_deref().map(|t| t.trim_matches('\'').to_string());
        let (slot, lo, hi) = match (method, name.as_str()) {
            ("hnsw", "m") => (&mut m, 2, 100),
            ("hnsw", "ef_construction") => (&mut ef, 4, 1000),
            ("ivfflat", "lists") => (&mut lists, 1, 32768),
            ("hnsw", "quantize") => {
                quantize = match text.as_deref() {
                    None => true,
                    Some(t) => parse_bool(t).ok_or_else(|| {
                        param_error(format!("invalid value for boolean option \"{name}\": {t}"))
                    })?,
                };
                continue;
            }
            _ => return Err(param_error(format!("unrecognized parameter \"{name}\""))),
        };
        let Some(text) = text else {
            return Err(param_error(format!(
                "invalid value for integer option \"{name}\": true"
            )));
        };
        let value: i64 = text.parse().map_err(|_| {
            param_error(format!(
                "invalid value for integer option \"{name}\": {text}"
            ))
        })?;
        if !(lo..=hi).contains(&value) {
            return Err(
                param_error(format!("value {value} out of bounds for option \"{name}\""))
                    .with_detail(format!("Valid values are between \"{lo}\" and \"{hi}\".")),
            );
        }
        *slot = value;
    }
    if method == "hnsw" && ef < 2 * m {
        return Err(param_error(
            "ef_construction must be greater than or equal to 2 * m".into(),
        ));
    }
    Ok((m as u16, ef as u16, lists as u32, quantize))
}

/// The definition of `CREATE INDEX ... USING hnsw (column opclass) WITH (...)` on `table`,
/// checked as pgvector checks it. `storage` is filled in by [`build`].
pub fn define(table: &TableDef, ci: &ast::CreateIndex, method: &str) -> Result<(String, AnnDef)> {
    let unsupported = |what: &str| {
        Error::new(
            code::FEATURE_NOT_SUPPORTED,
            format!("access method \"{method}\" does not support {what}"),
        )
    };
    if ci.unique {
        return Err(unsupported("unique indexes"));
    }
    if !ci.include.is_empty() {
        return Err(unsupported("included columns"));
    }
    let [column] = ci.columns.as_slice() else {
        return Err(unsupported("multicolumn indexes"));
    };
    let ast::Expr::Identifier(id) = &column.column.expr else {
        return Err(Error::unsupported(format!(
            "indexes on expressions are not supported yet: {}",
            column.column.expr
        )));
    };
    let name = crate::expr::ident_name(id);
    let Some(col) = table.column_index(&name).and_then(|i| table.columns.get(i)) else {
        return Err(Error::new(
            code::UNDEFINED_COLUMN,
            format!("column \"{name}\" does not exist"),
        ));
    };
    let default = (method == "ivfflat" && matches!(col.ty, DataType::Vector(_)))
        .then(|| ast::ObjectName::from(vec![ast::Ident::new("vector_l2_ops")]));
    let Some(opclass) = column.operator_class.as_ref().or(default.as_ref()) else {
        return Err(Error::new(
            code::UNDEFINED_OBJECT,
            format!(
                "data type {} has no default operator class for access method \"{method}\"",
                col.ty.clone().with_typmod(-1)
            ),
        )
        .with_detail(
            "You must specify an operator class for the index or define a default operator class for the data type.",
        ));
    };
    let opname = opclass
        .0
        .last()
        .map(|p| p.to_string().to_lowercase())
        .unwrap_or_default();
    let Some(oc) = OPCLASSES
        .iter()
        .find(|o| o.name == opname && (method == "hnsw" || o.ivfflat))
    else {
        return Err(Error::new(
            code::UNDEFINED_OBJECT,
            format!("operator class \"{opname}\" does not exist for access method \"{method}\""),
        ));
    };
    let Some((_, dims)) = kind_of(&col.ty).filter(|(k, _)| *k == oc.kind) else {
        return Err(Error::new(
            code::DATATYPE_MISMATCH,
            format!(
                "operator class \"{opname}\" does not accept data type {}",
                col.ty.clone().with_typmod(-1)
            ),
        ));
    };
    let Some(dims) = dims else {
        return Err(param_error("column does not have dimensions".into()));
    };
    if dims > MAX_DIM {
        return Err(Error::new(
            code::PROGRAM_LIMIT_EXCEEDED,
            format!("column cannot have more than {MAX_DIM} dimensions for {method} index"),
        ));
    }
    if method == "ivfflat" && oc.metric != Metric::L2 && dims < 2 {
        return Err(param_error(
            "dimensions must be greater than one for this opclass".into(),
        ));
    }
    let (m, ef_construction, lists, quantize) = options(method, &ci.with)?;
    Ok((
        name,
        AnnDef {
            method: method.to_string(),
            opclass: opname,
            m,
            ef_construction,
            lists,
            quantize,
            store: 0,
        },
    ))
}

/// The index's vector in `row` as the graph takes it (dense f32), or None (NULL).
pub(super) fn vector_of(table: &TableDef, index: &IndexDef, row: &[Value]) -> Option<Vec<f32>> {
    let pos = index
        .columns
        .first()
        .and_then(|id| table.column_by_id(*id))?;
    dense(row.get(pos)?)
}

/// A vector value as dense f32.
pub fn dense(v: &Value) -> Option<Vec<f32>> {
    match v {
        Value::Vector(x) | Value::HalfVec(x) => Some(x.clone()),
        Value::SparseVec(s) => Some(s.to_dense()),
        _ => None,
    }
}

fn params_of(table: &TableDef, index: &IndexDef, def: &AnnDef) -> Result<Params> {
    let dim = index
        .columns
        .first()
        .and_then(|id| table.column_by_id(*id))
        .and_then(|i| table.columns.get(i))
        .and_then(|c| kind_of(&c.ty))
        .and_then(|(_, d)| d)
        .unwrap_or(0);
    let metric = metric_of(def).ok_or_else(|| {
        Error::new(
            code::UNDEFINED_OBJECT,
            format!("operator class \"{}\" does not exist", def.opclass),
        )
    })?;
    Ok(Params {
        metric,
        dim,
        m: def.m,
        ef_construction: def.ef_construction,
        quantize: def.quantize,
    })
}

/// Builds `index` from the table's rows into a new storage generation (recorded in the
/// definition, which the caller stores).
pub fn build(ctx: &mut Ctx<'_>, table: &TableDef, index: &mut IndexDef) -> Result<()> {
    if ctx.engine.txn_db().is_replicated() {
        // Their graphs and lists are written beside the transactions, not through the
        // commit log: other nodes would never have them.
        return Err(Error::new(
            code::FEATURE_NOT_SUPPORTED,
            "hnsw and ivfflat indexes are not replicated, so a node of a cluster cannot create one (exact search with ORDER BY ... LIMIT works without an index)",
        ));
    }
    let store = ctx.engine.next_oid(&mut ctx.waits)?;
    let Some(def) = index.ann.as_mut() else {
        return Ok(());
    };
    def.store = store;
    let def = def.clone();
    let params = params_of(table, index, &def)?;
    let rows = super::query::scan_rows(ctx, table, &super::query::Access::Full, false)?;
    let items: Vec<(Vec<f32>, Vec<u8>)> = rows
        .into_iter()
        .filter_map(|(key, row)| {
            vector_of(table, index, &row).map(|v| (v, super::index::row_suffix(table, &key)))
        })
        .collect();
    if def.method == "ivfflat" {
        let params = IvfParams {
            metric: params.metric,
            dim: params.dim,
            lists: def.lists,
        };
        let writes = ctx.engine.ann.build_ivf(store, params, items)?;
        ctx.waits
            .extend(writes.into_iter().map(orbit_txn::Pending::from));
        return Ok(());
    }
    let (graph, pending) = ctx.engine.ann.create_hnsw(store, params)?;
    ctx.waits.push(pending.into());
    if let AnnGraph::Hnsw(g) = graph.as_ref() {
        let (_, writes) = g.build(items).map_err(storage)?;
        ctx.waits
            .extend(writes.into_iter().map(orbit_txn::Pending::from));
    }
    Ok(())
}

/// Adds `row` (stored at key suffix `suffix`) to the vector index `index`.
pub fn insert(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    index: &IndexDef,
    row: &[Value],
    suffix: &[u8],
) -> Result<()> {
    let Some(def) = &index.ann else {
        return Ok(());
    };
    let Some(v) = vector_of(table, index, row) else {
        return Ok(());
    };
    ctx.engine
        .ann
        .get(def)?
        .insert(&v, suffix, &mut ctx.ann_writes)?;
    Ok(())
}

/// Notes that a row of `index` was deleted or moved off its node (an UPDATE that needs a new
/// one): the reclaimer (`ann_reclaim`) counts these to know when a round is due.
pub fn note_dead(ctx: &Ctx<'_>, index: &IndexDef) {
    // IVFFlat lists are not reclaimed.
    if let Some(def) = index.ann.as_ref().filter(|d| d.method != "ivfflat") {
        ctx.engine.ann.note_changed(def.store, 1);
    }
}

/// Whether an UPDATE from `old` to `new` needs a new node (the vector or the row key changed).
pub fn changed(
    table: &TableDef,
    index: &IndexDef,
    old: (&[Value], &[u8]),
    new: (&[Value], &[u8]),
) -> bool {
    old.1 != new.1 || vector_of(table, index, old.0) != vector_of(table, index, new.0)
}

/// Releases the storage of `index` when the statement's transaction commits.
pub fn drop_store(ctx: &mut Ctx<'_>, index: &IndexDef) {
    if let Some(def) = &index.ann {
        ctx.dropped
            .push(crate::session::Dropped::VectorStore(def.store));
    }
}

/// Releases the storage of every vector index of `table` (DROP TABLE) at commit.
pub fn drop_stores(ctx: &mut Ctx<'_>, table: &TableDef) {
    for index in &table.indexes {
        drop_store(ctx, index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;

    fn parsed(method: &str, with: &str) -> Result<(u16, u16, u32, bool)> {
        let sql = format!("CREATE INDEX ON t USING {method} (v) WITH ({with})");
        let stmts = Parser::parse_sql(&PostgreSqlDialect {}, &sql).expect("parses");
        let Some(ast::Statement::CreateIndex(ci)) = stmts.first() else {
            panic!("not a CREATE INDEX: {sql}");
        };
        options(method, &ci.with)
    }

    fn message(r: Result<(u16, u16, u32, bool)>) -> String {
        match r {
            Err(e) => e.to_string(),
            Ok(v) => format!("accepted {v:?}"),
        }
    }

    #[test]
    fn quantize_takes_postgresql_booleans_and_is_on_by_default() {
        assert_eq!(parsed("hnsw", "m = 16").map(|o| o.3).ok(), Some(true));
        for (text, want) in [
            ("off", false),
            ("'of'", false),
            ("false", false),
            ("'F'", false),
            ("no", false),
            ("0", false),
            ("'on'", true),
            ("true", true),
            ("'y'", true),
            ("1", true),
        ] {
            let got = parsed("hnsw", &format!("quantize = {text}")).map(|o| o.3);
            assert_eq!(got.ok(), Some(want), "{text}");
        }
        assert_eq!(
            parsed("hnsw", "m = 8, quantize").map(|o| (o.0, o.3)).ok(),
            Some((8, true))
        );
        assert!(message(parsed("hnsw", "quantize = 'o'"))
            .contains("invalid value for boolean option \"quantize\": o"));
        assert!(message(parsed("hnsw", "quantize = maybe"))
            .contains("invalid value for boolean option \"quantize\": maybe"));
        // The name is checked before the value: IVFFlat has no such option.
        assert!(message(parsed("ivfflat", "quantize = on"))
            .contains("unrecognized parameter \"quantize\""));
        assert!(
            message(parsed("hnsw", "m")).contains("invalid value for integer option \"m\": true")
        );
        assert!(message(parsed("hnsw", "m = 'x'"))
            .contains("invalid value for integer option \"m\": x"));
    }
}
