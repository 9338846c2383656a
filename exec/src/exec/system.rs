//! System relations in FROM: `pg_catalog.*` and `information_schema.*`, computed from the
//! catalog when a query names them (see [`crate::catalog::system`]).

use sqlparser::ast;

use super::Ctx;
use crate::error::Result;
use crate::types::{DataType, Value};

/// A system relation's columns (name, type) and rows.
pub type Relation = (Vec<(String, DataType)>, Vec<Vec<Value>>);

/// The columns and rows of the system relation `name` names, if it names one. An
/// unqualified name finds `pg_catalog` first, as PostgreSQL's search path does.
pub fn relation(ctx: &mut Ctx<'_>, name: &ast::ObjectName) -> Result<Option<Relation>> {
    let Some((schema, rel)) = ctx.system_relation_name(name) else {
        return Ok(None);
    };
    let snapshot = ctx.system_snapshot()?;
    Ok(snapshot
        .relation(&schema, &rel)
        .map(|r| (r.columns, r.rows)))
}
