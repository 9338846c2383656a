//! The vector index scan: `SELECT ... FROM t [WHERE ...] ORDER BY col <-> $1 LIMIT k` reads
//! candidates from the column's HNSW graph nearest first, instead of scoring every row.
//!
//! The scan hands the plan the rows it found; ORDER BY and LIMIT still run above it, on the
//! exact distances, so the scan's only duty is to include the k nearest rows that pass the
//! WHERE filter. It keeps widening the search (from `hnsw.ef_search` or `ivfflat.probes`,
//! doubling: pgvector's iterative scans) until k visible rows pass the filter, and when the
//! index is exhausted first it falls back to reading the whole table: a filtered or tiny search never returns
//! fewer rows than a sequential scan would (pgvector without iterative scans can). Each
//! hit is checked against the row the transaction sees (see `exec::ann`): rows deleted,
//! updated to another vector, or not committed are skipped.

use std::collections::HashSet;

use super::super::Ctx;
use super::{Access, Body, SelectPlan, Source};
use crate::catalog::TableDef;
use crate::error::Result;
use crate::expr::{EvalContext, Expr, SubKind};
use crate::row::{decode_row, index_prefix};
use crate::types::{BinaryOp, Value};

/// A row and its storage key.
type KeyedRow = (Vec<u8>, Vec<Value>);

/// An index-ordered scan of a vector index.
#[derive(Debug, Clone)]
pub struct AnnScan {
    /// The index's id in the table.
    pub index: u32,
    /// The query vector (row-independent).
    pub query: Expr,
    /// The distance operator of the ORDER BY.
    pub op: BinaryOp,
    /// LIMIT and OFFSET: the scan needs their sum of passing rows.
    pub limit: Expr,
    pub offset: Option<Expr>,
    /// The table's WHERE conditions (rows must pass them to count).
    pub filter: Option<Expr>,
}

/// Gives the table of a single-table SELECT ordered by `column <op> value` with a LIMIT an
/// index scan, if a vector index on that column serves that operator.
pub fn choose(plan: &mut SelectPlan) {
    let Some(limit) = plan.limit.clone() else {
        return;
    };
    let Some((key, false, _)) = plan.order.first() else {
        return;
    };
    let Body::Select(body) = &mut plan.body else {
        return;
    };
    if body.agg.is_some()
        || !body.windows.is_empty()
        || body.distinct
        || body.distinct_on.is_some()
        || body.filter.is_some()
    {
        return;
    }
    // An ORDER BY naming an output column orders by that projection.
    let key = match key {
        Expr::Column(m) if *m > usize::MAX / 2 => match body.projections.get(usize::MAX - m) {
            Some(p) => p.clone(),
            None => return,
        },
        k => k.clone(),
    };
    let Expr::Binary(op, l, r) = &key else {
        return;
    };
    if op.distance().is_none() {
        return;
    }
    let (column, query) = match (l.as_ref(), r.as_ref()) {
        (Expr::Column(c), q) if fixed(q) => (*c, q),
        (q, Expr::Column(c)) if fixed(q) => (*c, q),
        _ => return,
    };
    // Another access path (a key lookup, an index on the WHERE columns) reads fewer rows.
    let Source::Table(t) = &mut body.source else {
        return;
    };
    if !matches!(t.access, Access::Full) {
        return;
    }
    let Some(column_id) = t.table.columns.get(column).map(|c| c.id) else {
        return;
    };
    let found = t.table.indexes.iter().find(|i| {
        i.columns == [column_id]
            && i.ann
                .as_ref()
                .and_then(crate::exec::ann::metric_of)
                .is_some_and(|m| crate::exec::ann::operator_of(m) == *op)
    });
    if let Some(index) = found {
        t.access = Access::Ann(Box::new(AnnScan {
            index: index.id,
            query: query.clone(),
            op: *op,
            limit,
            offset: plan.offset.clone(),
            filter: t.filter.clone(),
        }));
    }
}

/// Whether `e` has one value for the whole scan: a row-independent expression, or an
/// uncorrelated scalar subquery (pgvector's "nearest to a row": `ORDER BY v <-> (SELECT v
/// FROM items WHERE id = 1)`), which the runner evaluates first (see [`resolve`]).
fn fixed(e: &Expr) -> bool {
    match e {
        Expr::Subquery(s) => s.captures.is_empty() && matches!(s.kind, SubKind::Scalar),
        Expr::Cast(inner, _) => fixed(inner),
        other => other.is_row_independent(),
    }
}

/// The scan with its query vector computed when it needs the statement's runner (a
/// subquery); None when it can be evaluated where it is.
pub fn resolve(scan: &AnnScan, ectx: &EvalContext<'_>) -> Result<Option<Access>> {
    if scan.query.is_row_independent() {
        return Ok(None);
    }
    let mut resolved = scan.clone();
    resolved.query = Expr::Literal(scan.query.eval(&[], ectx)?);
    Ok(Some(Access::Ann(Box::new(resolved))))
}

fn count(e: Option<&Expr>, ectx: &EvalContext<'_>) -> Result<Option<usize>> {
    let Some(e) = e else { return Ok(Some(0)) };
    Ok(
        match e.eval(&[], ectx)?.cast(&crate::types::DataType::Int8)? {
            Value::Int8(n) => Some(usize::try_from(n.max(0)).unwrap_or(usize::MAX)),
            _ => None,
        },
    )
}

/// The rows the scan reaches (see the module docs), with their storage keys; None when the
/// whole table must be read instead.
pub fn scan(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    scan: &AnnScan,
    for_update: bool,
    ectx: &EvalContext<'_>,
) -> Result<Option<Vec<KeyedRow>>> {
    let Some(index) = table.indexes.iter().find(|i| i.id == scan.index) else {
        return Ok(None);
    };
    let (Some(def), Some(pos)) = (
        index.ann.as_ref(),
        index.columns.first().and_then(|id| table.column_by_id(*id)),
    ) else {
        return Ok(None);
    };
    let (Some(limit), Some(offset)) = (
        count(Some(&scan.limit), ectx)?,
        count(scan.offset.as_ref(), ectx)?,
    ) else {
        return Ok(None);
    };
    let want = limit.saturating_add(offset);
    let ty = table
        .columns
        .get(pos)
        .map(|c| c.ty.clone())
        .unwrap_or(crate::types::DataType::Unknown);
    let query = scan.query.eval(&[], ectx)?;
    let Some(query) = crate::exec::ann::dense(&query.cast(&ty)?) else {
        return Ok(None);
    };
    if want == 0 {
        return Ok(Some(Vec::new()));
    }
    let graph = ctx.engine.ann.get(def)?;
    let setting = |name: &str, default: usize| {
        ctx.settings
            .get(name)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(default)
    };
    // The first width: HNSW's beam (at least the rows wanted), IVFFlat's probes.
    let mut width = match def.method.as_str() {
        "ivfflat" => setting("ivfflat.probes", 1),
        _ => setting("hnsw.ef_search", 40).max(want),
    };
    let prefix = index_prefix(table.id, 0);
    let mut seen: HashSet<u32> = HashSet::new();
    let mut keys: HashSet<Vec<u8>> = HashSet::new();
    let mut out = Vec::new();
    loop {
        let hits = graph.search(&query, width);
        let exhausted = graph.exhausted(width, hits.len());
        for hit in hits {
            if !seen.insert(hit.node) {
                continue;
            }
            let Some(suffix) = graph.payload(hit.node) else {
                continue;
            };
            let mut key = prefix.clone();
            key.extend_from_slice(&suffix);
            if keys.contains(&key) {
                continue;
            }
            let found = if for_update {
                super::access::locked_get(ctx, table, &key)?
            } else {
                ctx.txn.get(ctx.engine.data, &key)?
            };
            let Some(bytes) = found else { continue };
            let row = decode_row(table, &bytes)?;
            let current = row.get(pos).and_then(crate::exec::ann::dense);
            if current.is_none_or(|v| graph.payload_if_same(hit.node, &v).is_none()) {
                continue;
            }
            if let Some(f) = &scan.filter {
                if !f.passes(&row, ectx)? {
                    continue;
                }
            }
            keys.insert(key.clone());
            out.push((key, row));
            // Hits come nearest first, in an order the exact distance keeps: the first `want`
            // rows that pass are the answer, the rest of the candidates need no reads.
            if out.len() >= want {
                return Ok(Some(out));
            }
        }
        if out.len() >= want {
            return Ok(Some(out));
        }
        if exhausted {
            return Ok(None);
        }
        width = width.saturating_mul(2);
    }
}
