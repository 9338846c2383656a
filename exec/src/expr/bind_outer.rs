//! Binding of what reaches outside one query level: names of enclosing queries (captured
//! as outer values), subqueries in expressions, and `op ANY/ALL` over a subquery or array.

use sqlparser::ast::{self, BinaryOperator};

use super::bind::binop;
use super::{Binder, Expr, SubKind, Subquery};
use crate::error::{code, Error, Result};
use crate::types::{self, BinaryOp, DataType};

impl Binder<'_> {
    /// `name` in the enclosing queries (the nearest first), as a captured outer value.
    pub(super) fn outer_column(
        &mut self,
        table: Option<&str>,
        name: &str,
    ) -> Option<(Expr, DataType)> {
        let env = self.env.as_deref_mut()?;
        let (j, ty) = env.outer_scope().iter().enumerate().find_map(|(j, c)| {
            let hit = c.name == name
                && match table {
                    Some(t) => c.table.as_deref() == Some(t),
                    None => !c.qualified_only,
                };
            hit.then(|| (j, c.ty.clone()))
        })?;
        Some((Expr::Outer(env.capture(j)), ty))
    }

    /// Plans a subquery in an expression and turns its captures into expressions over this
    /// binder's row.
    pub(super) fn subquery(
        &mut self,
        q: &ast::Query,
    ) -> Result<(crate::exec::query::SelectPlan, Vec<Expr>)> {
        let Some(env) = self.env.as_deref_mut() else {
            return Err(Error::unsupported("cannot use subquery in this context"));
        };
        let (plan, caps) = env.subquery(q, self.scope, self.params)?;
        let mut captures = Vec::with_capacity(caps.len());
        for j in caps {
            if let Some(c) = self.scope.get(j) {
                let ty = c.ty.clone();
                captures.push(self.column_at(j, ty)?.0);
            } else if let Some(env) = self.env.as_deref_mut() {
                captures.push(Expr::Outer(env.capture(j - self.scope.len())));
            }
        }
        Ok((plan, captures))
    }

    /// A subquery whose single column is the value: scalar, IN, ANY/ALL, ARRAY().
    pub(super) fn single_column(
        &mut self,
        q: &ast::Query,
    ) -> Result<(crate::exec::query::SelectPlan, Vec<Expr>, DataType)> {
        let (plan, captures) = self.subquery(q)?;
        let ty = match plan.columns.as_slice() {
            [one] => one.ty.clone(),
            _ => {
                return Err(Error::new(
                    code::SYNTAX_ERROR,
                    "subquery must return only one column",
                ))
            }
        };
        Ok((plan, captures, ty))
    }

    /// `left op ANY/ALL (right)`, where right is a subquery or an array.
    pub(super) fn quantified(
        &mut self,
        left: &ast::Expr,
        op: &BinaryOperator,
        right: &ast::Expr,
        all: bool,
    ) -> Result<(Expr, DataType)> {
        if let (ast::Expr::Tuple(items), ast::Expr::Subquery(q)) = (left, right) {
            return self.row_in(items, op, q, all);
        }
        let Some(bop) = binop(op) else {
            return Err(Error::new(
                code::UNDEFINED_FUNCTION,
                format!("operator does not exist: {op}"),
            ));
        };
        let (l, lt) = self.bind(left)?;
        let inner = match right {
            ast::Expr::Subquery(q) => q,
            ast::Expr::Nested(n) => match n.as_ref() {
                ast::Expr::Subquery(q) => q,
                _ => return self.quantified_array(l, lt, bop, right, all),
            },
            _ => return self.quantified_array(l, lt, bop, right, all),
        };
        let (plan, captures, rt) = self.single_column(inner)?;
        self.infer(&l, &rt);
        let lt = self.type_of_param(&l).unwrap_or(lt);
        types::result_type(bop, &lt, &rt)?;
        Ok((
            Expr::Subquery(Box::new(Subquery {
                plan,
                kind: SubKind::Quantified {
                    expr: Box::new(l),
                    op: bop,
                    all,
                },
                captures,
            })),
            DataType::Bool,
        ))
    }

    /// `(a, b) IN (SELECT x, y ...)`.
    fn row_in(
        &mut self,
        items: &[ast::Expr],
        op: &BinaryOperator,
        q: &ast::Query,
        all: bool,
    ) -> Result<(Expr, DataType)> {
        if *op != BinaryOperator::Eq || all {
            return Err(Error::unsupported(format!(
                "row {op} {} (subquery) is not supported",
                if all { "ALL" } else { "ANY" }
            )));
        }
        let (plan, captures) = self.subquery(q)?;
        if plan.columns.len() != items.len() {
            let few = plan.columns.len() < items.len();
            return Err(Error::new(
                code::SYNTAX_ERROR,
                format!(
                    "subquery has too {} columns",
                    if few { "few" } else { "many" }
                ),
            ));
        }
        let mut exprs = Vec::with_capacity(items.len());
        for (item, column) in items.iter().zip(&plan.columns) {
            let (x, t) = self.bind(item)?;
            self.infer(&x, &column.ty);
            let t = self.type_of_param(&x).unwrap_or(t);
            types::result_type(BinaryOp::Eq, &t, &column.ty)?;
            exprs.push(x);
        }
        Ok((
            Expr::Subquery(Box::new(Subquery {
                plan,
                kind: SubKind::RowIn { exprs },
                captures,
            })),
            DataType::Bool,
        ))
    }

    fn quantified_array(
        &mut self,
        l: Expr,
        lt: DataType,
        op: BinaryOp,
        right: &ast::Expr,
        all: bool,
    ) -> Result<(Expr, DataType)> {
        let (mut r, rt) = self.bind(right)?;
        let elem = match &rt {
            DataType::Array(e) => (**e).clone(),
            DataType::Unknown => {
                // An untyped literal (`1 = ANY('{1,2}')`) is an array of the left side's type
                // (of text when that is untyped too).
                let base = match &lt {
                    DataType::Unknown if matches!(r, Expr::Literal(_)) => DataType::Text,
                    other => other.clone(),
                };
                let want = DataType::Array(Box::new(base.clone()));
                if let Expr::Literal(v) = &r {
                    if !matches!(base, DataType::Unknown) {
                        r = Expr::Literal(v.clone().cast(&want)?);
                    }
                }
                self.infer(&r, &want);
                base
            }
            other => {
                return Err(Error::new(
                    code::DATATYPE_MISMATCH,
                    format!("op ANY/ALL (array) requires array on right side, not {other}"),
                ))
            }
        };
        self.infer(&l, &elem);
        types::result_type(op, &lt, &elem)?;
        Ok((
            Expr::Quantified {
                expr: Box::new(l),
                op,
                all,
                array: Box::new(r),
            },
            DataType::Bool,
        ))
    }
}
