//! A bare `VALUES (...), (...)` query: each row's expressions, typed by column.

use sqlparser::ast;

use super::query::{Body, Planner, SelectPlan};
use super::Column;
use crate::error::{code, Error, Result};
use crate::expr::{Binder, Expr};
use crate::types::DataType;

/// Plans a VALUES list: its rows' expressions and the common type of each column.
pub(crate) fn plan_values(
    p: &mut Planner<'_, '_>,
    v: &ast::Values,
    params: &mut Vec<DataType>,
) -> Result<SelectPlan> {
    let mut rows: Vec<Vec<Expr>> = Vec::new();
    let mut types: Vec<DataType> = Vec::new();
    for r in &v.rows {
        let mut out = Vec::new();
        for (i, e) in r.content.iter().enumerate() {
            let (x, t) = Binder {
                scope: &[],
                params: &mut *params,
                grouping: None,
                env: Some(&mut *p),
            }
            .bind(e)?;
            match types.get_mut(i) {
                Some(slot) => *slot = crate::expr::unify_types(slot.clone(), t, "VALUES")?,
                None => types.push(t),
            }
            out.push(x);
        }
        if let Some(first) = rows.first() {
            if first.len() != out.len() {
                return Err(Error::new(
                    code::SYNTAX_ERROR,
                    "VALUES lists must all be the same length",
                ));
            }
        }
        rows.push(out);
    }
    let columns = types
        .iter()
        .enumerate()
        .map(|(i, t)| Column {
            name: format!("column{}", i + 1),
            ty: if *t == DataType::Unknown {
                DataType::Text
            } else {
                t.clone()
            },
            table_oid: 0,
            column: 0,
        })
        .collect::<Vec<_>>();
    Ok(SelectPlan::new(Body::Values(rows), columns))
}
