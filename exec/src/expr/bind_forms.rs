//! Binding of compound expression forms: CASE (simple and searched) and array subscripts and
//! slices.

use sqlparser::ast;

use super::bind::{expect_bool, unify};
use super::func::Func;
use super::{Binder, Expr};
use crate::error::{code, Error, Result};
use crate::types::{DataType, Value};

impl Binder<'_> {
    pub(super) fn case(
        &mut self,
        operand: Option<&ast::Expr>,
        conditions: &[ast::CaseWhen],
        otherwise: Option<&ast::Expr>,
    ) -> Result<(Expr, DataType)> {
        let operand = match operand {
            Some(o) => Some(self.bind(o)?),
            None => None,
        };
        let mut whens = Vec::with_capacity(conditions.len());
        let mut ty = DataType::Unknown;
        for w in conditions {
            let (c, ct) = self.bind(&w.condition)?;
            match &operand {
                Some((o, ot)) => {
                    self.infer(&c, ot);
                    self.infer(o, &ct);
                }
                None => {
                    self.infer(&c, &DataType::Bool);
                    expect_bool(&ct, "CASE/WHEN")?;
                }
            }
            let (r, rt) = self.bind(&w.result)?;
            ty = unify(ty, rt, "CASE")?;
            whens.push((c, r));
        }
        let otherwise = match otherwise {
            Some(e) => {
                let (x, xt) = self.bind(e)?;
                ty = unify(ty, xt, "CASE")?;
                Some(Box::new(x))
            }
            None => None,
        };
        if ty == DataType::Unknown {
            ty = DataType::Text;
        }
        Ok((
            Expr::Case {
                operand: operand.map(|(o, _)| Box::new(o)),
                whens,
                otherwise,
            },
            ty,
        ))
    }

    /// `a[i]`, `a[lo:hi]` (chains apply left to right).
    pub(super) fn subscripts(
        &mut self,
        root: &ast::Expr,
        chain: &[ast::AccessExpr],
    ) -> Result<(Expr, DataType)> {
        let (mut x, mut ty) = self.bind(root)?;
        for access in chain {
            let ast::AccessExpr::Subscript(sub) = access else {
                return Err(Error::unsupported(format!(
                    "field access is not supported: {root}"
                )));
            };
            let elem = match &ty {
                DataType::Array(e) => (**e).clone(),
                DataType::Int2Vector => DataType::Int2,
                DataType::OidVector => DataType::Oid,
                DataType::Unknown => DataType::Text,
                other => {
                    return Err(Error::new(
                        code::DATATYPE_MISMATCH,
                        format!(
                            "cannot subscript type {other} because it does not support subscripting"
                        ),
                    ))
                }
            };
            let index = |b: &mut Self, e: Option<&ast::Expr>| -> Result<Expr> {
                match e {
                    Some(e) => {
                        let (i, _) = b.bind(e)?;
                        b.infer(&i, &DataType::Int4);
                        Ok(i)
                    }
                    None => Ok(Expr::Literal(Value::Null)),
                }
            };
            match sub {
                ast::Subscript::Index { index: i } => {
                    let i = index(self, Some(i))?;
                    x = Expr::Func(Func::ArrayElement, vec![x, i]);
                    ty = elem;
                }
                ast::Subscript::Slice {
                    lower_bound,
                    upper_bound,
                    stride: None,
                } => {
                    let lo = index(self, lower_bound.as_ref())?;
                    let hi = index(self, upper_bound.as_ref())?;
                    x = Expr::Func(Func::ArraySlice, vec![x, lo, hi]);
                }
                ast::Subscript::Slice { .. } => {
                    return Err(Error::unsupported("array slices with a stride"))
                }
            }
        }
        Ok((x, ty))
    }
}
