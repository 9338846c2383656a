//! A bare `VALUES (...), (...)` query: each row's expressions, typed by column.

use sqlparser::ast;

use super::query::{Access, SelectPlan};
use super::{Column, Ctx};
use crate::error::{code, Error, Result};
use crate::expr::{Binder, Expr};
use crate::types::DataType;

/// Plans VALUES as a SELECT without a table whose rows are literal rows: the projection of
/// row i is `Func::MakeRow`-free; we keep the rows in `values_rows`.
pub fn plan_values(ctx: &mut Ctx<'_>, v: &ast::Values) -> Result<SelectPlan> {
    let mut params = std::mem::take(&mut ctx.param_types);
    let result = (|| {
        let mut rows: Vec<Vec<Expr>> = Vec::new();
        let mut types: Vec<DataType> = Vec::new();
        for r in &v.rows {
            let mut out = Vec::new();
            for (i, e) in r.content.iter().enumerate() {
                let (x, t) = Binder {
                    scope: &[],
                    params: &mut params,
                    grouping: None,
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
        // Each row becomes a CASE-free projection over a synthetic row index: we evaluate
        // the rows directly in `run_values`.
        Ok(SelectPlan {
            table: None,
            access: Access::Full,
            filter: None,
            agg: None,
            projections: Vec::new(),
            columns,
            order: Vec::new(),
            distinct: false,
            limit: None,
            offset: None,
            for_update: false,
            values: Vec::new(),
        }
        .with_values(rows))
    })();
    ctx.param_types = params;
    result
}
