//! Binding of compound expression forms: ARRAY[...] constructors, CASE (simple and
//! searched), array subscripts and slices, interval literals (`INTERVAL '4 seconds'`, `INTERVAL '2' HOUR`,
//! `INTERVAL '1 day 02:03' HOUR TO MINUTE`) and row comparisons (`(a, b) < (1, 2)`,
//! `(a, b) IN ((1, 2), (3, 4))`).

use sqlparser::ast;

use super::bind::{expect_bool, unify};
use super::func::Func;
use super::{Binder, Expr};
use crate::error::{code, Error, Result};
use crate::types::{DataType, Interval, Value};

impl Binder<'_> {
    /// `ARRAY[a, b, ...]`: the first typed element's type (text if none is typed). An
    /// element that is itself an array would make a multidimensional array, which Orbit's
    /// one-dimensional arrays cannot hold (refused, as their text input refuses `{{...}}`).
    pub(super) fn array(&mut self, arr: &ast::Array) -> Result<(Expr, DataType)> {
        let mut items = Vec::new();
        let mut elem = DataType::Unknown;
        for item in &arr.elem {
            let (b, t) = self.bind(item)?;
            if matches!(t, DataType::Array(_)) {
                return Err(Error::new(
                    code::FEATURE_NOT_SUPPORTED,
                    "multidimensional arrays are not supported",
                ));
            }
            // The common type of the elements (`ARRAY[0, 0.25]` is numeric[]).
            elem = super::bind::unify(elem, t, "ARRAY")?;
            items.push(b);
        }
        if elem == DataType::Unknown {
            elem = DataType::Text;
        }
        let ty = DataType::Array(Box::new(elem));
        Ok((Expr::Func(Func::MakeArray(ty.clone()), items), ty))
    }

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
        // `t.col[i]`: the leading names qualify the column.
        let names = chain
            .iter()
            .take_while(|a| matches!(a, ast::AccessExpr::Dot(ast::Expr::Identifier(_))))
            .count();
        let (mut x, mut ty) = match (root, names) {
            (_, 0) => self.bind(root)?,
            (ast::Expr::Identifier(first), n) => {
                let mut parts = vec![first.clone()];
                for a in chain.iter().take(n) {
                    if let ast::AccessExpr::Dot(ast::Expr::Identifier(id)) = a {
                        parts.push(id.clone());
                    }
                }
                self.bind(&ast::Expr::CompoundIdentifier(parts))?
            }
            _ => self.bind(root)?,
        };
        let chain = match root {
            ast::Expr::Identifier(_) => chain.get(names..).unwrap_or_default(),
            _ => chain,
        };
        for access in chain {
            let sub = match access {
                ast::AccessExpr::Subscript(sub) => sub,
                // `(record).field`
                ast::AccessExpr::Dot(ast::Expr::Identifier(id)) => {
                    let name = super::ident_name(id);
                    let DataType::Record(fields) = &ty else {
                        return Err(Error::new(
                            code::UNDEFINED_COLUMN,
                            format!("column \"{name}\" not found in data type {ty}"),
                        ));
                    };
                    let Some(i) = fields.iter().position(|(n, _)| *n == name) else {
                        return Err(Error::new(
                            code::UNDEFINED_COLUMN,
                            format!("could not identify column \"{name}\" in record data type"),
                        ));
                    };
                    ty = fields.get(i).map_or(DataType::Unknown, |(_, t)| t.clone());
                    x = Expr::Func(Func::RecordField(i), vec![x]);
                    continue;
                }
                _ => {
                    return Err(Error::unsupported(format!(
                        "field access is not supported: {root}"
                    )))
                }
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
            // An omitted slice bound is the array's own (any bound is clamped to it); an
            // explicit NULL one makes the slice NULL.
            let index = |b: &mut Self, e: Option<&ast::Expr>, omitted: i32| -> Result<Expr> {
                match e {
                    Some(e) => {
                        let (i, _) = b.bind(e)?;
                        b.infer(&i, &DataType::Int4);
                        Ok(i)
                    }
                    None => Ok(Expr::Literal(Value::Int4(omitted))),
                }
            };
            match sub {
                ast::Subscript::Index { index: i } => {
                    let i = index(self, Some(i), 0)?;
                    let f = match ty {
                        DataType::Int2Vector | DataType::OidVector => {
                            Func::VectorElement(elem.clone())
                        }
                        _ => Func::ArrayElement,
                    };
                    x = Expr::Func(f, vec![x, i]);
                    ty = elem;
                }
                ast::Subscript::Slice {
                    lower_bound,
                    upper_bound,
                    stride: None,
                } => {
                    let lo = index(self, lower_bound.as_ref(), i32::MIN)?;
                    let hi = index(self, upper_bound.as_ref(), i32::MAX)?;
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

impl Binder<'_> {
    /// `INTERVAL 'text' [field [TO field]]`, as PostgreSQL reads it: a bare number counts in
    /// the rightmost field's unit, and fields below the rightmost one are dropped.
    pub(super) fn interval(&mut self, iv: &ast::Interval) -> Result<(Expr, DataType)> {
        let text = match iv.value.as_ref() {
            ast::Expr::Value(v) => match &v.value {
                ast::Value::SingleQuotedString(s) | ast::Value::Number(s, _) => s.clone(),
                _ => return Err(not_interval(iv)),
            },
            _ => return Err(not_interval(iv)),
        };
        let unit = match iv.last_field.as_ref().or(iv.leading_field.as_ref()) {
            Some(f) => Some(IntervalUnit::of(f).ok_or_else(|| not_interval(iv))?),
            None => None,
        };
        let value = match unit {
            Some(u) if text.trim().parse::<f64>().is_ok() => {
                Interval::parse(&format!("{text} {}", u.name()))?
            }
            _ => Interval::parse(&text)?,
        };
        let value = match unit {
            Some(u) => u.truncate(value),
            None => value,
        };
        Ok((Expr::Literal(Value::Interval(value)), DataType::Interval))
    }
}

fn not_interval(iv: &ast::Interval) -> Error {
    Error::new(
        code::SYNTAX_ERROR,
        format!("invalid interval literal: {iv}"),
    )
}

/// The fields an interval literal may name.
#[derive(Clone, Copy)]
enum IntervalUnit {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

impl IntervalUnit {
    fn of(f: &ast::DateTimeField) -> Option<IntervalUnit> {
        use ast::DateTimeField as F;
        Some(match f {
            F::Year | F::Years => IntervalUnit::Year,
            F::Month | F::Months => IntervalUnit::Month,
            F::Day | F::Days => IntervalUnit::Day,
            F::Hour | F::Hours => IntervalUnit::Hour,
            F::Minute | F::Minutes => IntervalUnit::Minute,
            F::Second | F::Seconds => IntervalUnit::Second,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            IntervalUnit::Year => "years",
            IntervalUnit::Month => "months",
            IntervalUnit::Day => "days",
            IntervalUnit::Hour => "hours",
            IntervalUnit::Minute => "minutes",
            IntervalUnit::Second => "seconds",
        }
    }

    /// Drops the fields below this one (`INTERVAL '1 day 02:03:04' HOUR` is `1 day 02:00:00`).
    fn truncate(self, v: Interval) -> Interval {
        const HOUR: i64 = 3_600_000_000;
        const MINUTE: i64 = 60_000_000;
        match self {
            IntervalUnit::Year => Interval::new(v.months / 12 * 12, 0, 0),
            IntervalUnit::Month => Interval::new(v.months, 0, 0),
            IntervalUnit::Day => Interval::new(v.months, v.days, 0),
            IntervalUnit::Hour => Interval::new(v.months, v.days, v.micros / HOUR * HOUR),
            IntervalUnit::Minute => Interval::new(v.months, v.days, v.micros / MINUTE * MINUTE),
            IntervalUnit::Second => v,
        }
    }
}

/// `(a1, a2, ...) op (b1, b2, ...)` as PostgreSQL compares rows, rewritten into scalar
/// comparisons: `=` is every pair equal, `<>` some pair different, and `<`, `<=`, `>`, `>=`
/// compare pairs in order up to the first that differs (`a1 < b1 OR (a1 = b1 AND ...)`), so a
/// NULL in a deciding pair makes the result NULL. `None` when the operands are not two rows.
pub(super) fn row_comparison(
    left: &ast::Expr,
    op: &ast::BinaryOperator,
    right: &ast::Expr,
) -> Result<Option<ast::Expr>> {
    use ast::BinaryOperator as B;
    let (ast::Expr::Tuple(l), ast::Expr::Tuple(r)) = (left, right) else {
        return Ok(None);
    };
    if !matches!(op, B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq) {
        return Err(Error::unsupported(format!(
            "operator {op} is not supported for row expressions"
        )));
    }
    if l.len() != r.len() || l.is_empty() {
        return Err(Error::new(
            code::SYNTAX_ERROR,
            "unequal number of entries in row expressions",
        ));
    }
    let cmp = |a: &ast::Expr, op: B, b: &ast::Expr| ast::Expr::BinaryOp {
        left: Box::new(a.clone()),
        op,
        right: Box::new(b.clone()),
    };
    let join = |a: ast::Expr, op: B, b: ast::Expr| ast::Expr::Nested(Box::new(cmp(&a, op, &b)));
    // Built from the last pair backwards.
    let mut out: Option<ast::Expr> = None;
    for (a, b) in l.iter().zip(r.iter()).rev() {
        out = Some(match (op, out) {
            (B::Eq, None) | (B::NotEq, None) => cmp(a, op.clone(), b),
            (B::Eq, Some(rest)) => join(cmp(a, B::Eq, b), B::And, rest),
            (B::NotEq, Some(rest)) => join(cmp(a, B::NotEq, b), B::Or, rest),
            // The last pair decides with the operator itself; earlier ones strictly, or equal
            // and then the rest.
            (_, None) => cmp(a, op.clone(), b),
            (_, Some(rest)) => {
                let strict = match op {
                    B::Lt | B::LtEq => B::Lt,
                    _ => B::Gt,
                };
                join(
                    cmp(a, strict, b),
                    B::Or,
                    join(cmp(a, B::Eq, b), B::And, rest),
                )
            }
        });
    }
    Ok(out)
}

/// `(a, b) [NOT] IN ((1, 2), (3, 4))` as `[NOT] ((a, b) = (1, 2) OR (a, b) = (3, 4))`: each
/// row equality is true, false or NULL as [`row_comparison`] gives it, and OR combines them
/// as PostgreSQL's row IN does. `None` unless the tested value is a row.
pub(super) fn row_in_list(
    expr: &ast::Expr,
    list: &[ast::Expr],
    negated: bool,
) -> Option<ast::Expr> {
    if !matches!(expr, ast::Expr::Tuple(_)) {
        return None;
    }
    let any = list
        .iter()
        .map(|item| {
            ast::Expr::Nested(Box::new(ast::Expr::BinaryOp {
                left: Box::new(expr.clone()),
                op: ast::BinaryOperator::Eq,
                right: Box::new(item.clone()),
            }))
        })
        .reduce(|a, b| ast::Expr::BinaryOp {
            left: Box::new(a),
            op: ast::BinaryOperator::Or,
            right: Box::new(b),
        })?;
    Some(match negated {
        true => ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Not,
            expr: Box::new(ast::Expr::Nested(Box::new(any))),
        },
        false => any,
    })
}

#[cfg(test)]
mod tests {
    use crate::engine::SqlEngine;
    use crate::test_support::{run, txn_db};

    #[test]
    fn an_array_of_arrays_is_refused_not_flattened_to_text() {
        let engine = SqlEngine::open(txn_db()).unwrap();
        let mut s = engine.session("postgres", "postgres");
        assert_eq!(
            run(&mut s, "SELECT ARRAY[1, 2]::text").as_deref(),
            Some("{1,2}")
        );
        for sql in ["SELECT ARRAY[[1, 2], [3, 4]]", "SELECT ARRAY[ARRAY['a']]"] {
            let stmt = crate::parse(sql).unwrap().remove(0);
            let e = s.execute(&stmt, &[]).err().expect(sql);
            assert_eq!(e.sqlstate(), "0A000", "{sql}: {e}");
        }
    }
}
