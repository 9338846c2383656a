//! Aggregate calls while binding: `count(*)`, `sum(x) FILTER (WHERE ...)`, `string_agg`:
//! their argument is bound over input rows, and the call becomes a column of the aggregated
//! row (after the GROUP BY keys).

use sqlparser::ast;

use super::bind::{literal, Binder};
use super::func::Func;
use super::{AggCall, AggKind, Expr};
use crate::error::{code, Error, Result};
use crate::types::DataType;

impl Binder<'_> {
    pub(super) fn aggregate(
        &mut self,
        kind: AggKind,
        name: &str,
        args: &[ast::Expr],
        distinct: bool,
        filter: Option<&ast::Expr>,
    ) -> Result<(Expr, DataType)> {
        if self.grouping.is_none() {
            return Err(Error::new(
                code::GROUPING_ERROR,
                format!("aggregate functions are not allowed here ({name})"),
            ));
        }
        // The argument is evaluated on input rows: bind it without the grouping context.
        let grouping = self.grouping.take();
        let result = (|| -> Result<(Option<Expr>, DataType, Option<Expr>)> {
            let (arg, at) = match (kind, args) {
                (AggKind::CountStar, _) => (None, DataType::Int8),
                (_, [a]) | (AggKind::StringAgg, [a, _]) => {
                    let (x, t) = self.bind(a)?;
                    (Some(x), t)
                }
                _ => {
                    return Err(Error::new(
                        code::UNDEFINED_FUNCTION,
                        format!(
                            "function {name} with {} arguments does not exist",
                            args.len()
                        ),
                    ))
                }
            };
            let filter = match filter {
                Some(f) => Some(self.bind_condition(f, "FILTER")?),
                None => None,
            };
            Ok((arg, at, filter))
        })();
        self.grouping = grouping;
        let (arg, at, filter) = result?;
        if kind == AggKind::StringAgg {
            if let Some(sep) = args.get(1) {
                if !matches!(sep, ast::Expr::Value(_)) {
                    return Err(Error::unsupported("string_agg needs a constant delimiter"));
                }
            }
        }
        let ty = agg_type(kind, &at)?;
        let Some(g) = self.grouping.as_deref_mut() else {
            return Err(Error::new(
                code::INTERNAL_ERROR,
                "aggregate without grouping",
            ));
        };
        let slot = g.keys.len() + g.aggs.len();
        let delimiter = match (kind, args.get(1)) {
            (AggKind::StringAgg, Some(ast::Expr::Value(v))) => Some(literal(&v.value)?.0),
            _ => None,
        };
        let mut call = AggCall {
            kind,
            arg,
            distinct,
            filter,
            ty: ty.clone(),
        };
        if let Some(d) = delimiter {
            // string_agg's delimiter rides along as a second, constant argument.
            call.arg = call
                .arg
                .map(|a| Expr::Func(Func::AggDelimiter, vec![a, Expr::Literal(d)]));
        }
        g.aggs.push(call);
        Ok((Expr::Column(slot), ty))
    }
}

pub(super) fn agg_kind(name: &str, star: bool) -> Option<AggKind> {
    Some(match name {
        "count" if star => AggKind::CountStar,
        "count" => AggKind::Count,
        "sum" => AggKind::Sum,
        "avg" => AggKind::Avg,
        "min" => AggKind::Min,
        "max" => AggKind::Max,
        "bool_and" | "every" => AggKind::BoolAnd,
        "bool_or" => AggKind::BoolOr,
        "string_agg" => AggKind::StringAgg,
        "array_agg" => AggKind::ArrayAgg,
        _ => return None,
    })
}

/// The result type of an aggregate over `arg` (PostgreSQL's: sum(int4) is bigint, sum(int8)
/// and avg of integers are numeric, avg(float) is double precision).
fn agg_type(kind: AggKind, arg: &DataType) -> Result<DataType> {
    let bad = || {
        Error::new(
            code::UNDEFINED_FUNCTION,
            format!(
                "function {}({arg}) does not exist",
                format!("{kind:?}").to_lowercase()
            ),
        )
    };
    Ok(match kind {
        AggKind::CountStar | AggKind::Count => DataType::Int8,
        AggKind::Sum => match arg {
            DataType::Int2 | DataType::Int4 => DataType::Int8,
            DataType::Int8 | DataType::Numeric(_) => DataType::Numeric(None),
            DataType::Float4 => DataType::Float4,
            DataType::Float8 | DataType::Unknown => DataType::Float8,
            DataType::Interval => DataType::Interval,
            _ => return Err(bad()),
        },
        AggKind::Avg => match arg {
            DataType::Int2 | DataType::Int4 | DataType::Int8 | DataType::Numeric(_) => {
                DataType::Numeric(None)
            }
            DataType::Float4 | DataType::Float8 | DataType::Unknown => DataType::Float8,
            DataType::Interval => DataType::Interval,
            _ => return Err(bad()),
        },
        AggKind::Min | AggKind::Max => match arg {
            DataType::Unknown => DataType::Text,
            DataType::Json => return Err(bad()),
            t => t.clone(),
        },
        AggKind::BoolAnd | AggKind::BoolOr => match arg {
            DataType::Bool | DataType::Unknown => DataType::Bool,
            _ => return Err(bad()),
        },
        AggKind::StringAgg => DataType::Text,
        AggKind::ArrayAgg => DataType::Array(Box::new(match arg {
            DataType::Unknown => DataType::Text,
            t => t.clone(),
        })),
    })
}
