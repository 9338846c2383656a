//! Aggregate calls while binding: `count(*)`, `sum(x) FILTER (WHERE ...)`, `string_agg`,
//! `array_agg(x ORDER BY k)`: their argument and ordering keys are bound over input rows, and
//! the call becomes a column of the aggregated row (after the GROUP BY keys).

use sqlparser::ast;

use super::bind::Binder;
use super::func::Func;
use super::literal::literal;
use super::{AggCall, AggKind, Expr};
use crate::error::{code, Error, Result};
use crate::types::{DataType, Value};

impl Binder<'_> {
    pub(super) fn aggregate(
        &mut self,
        kind: AggKind,
        name: &str,
        args: &[ast::Expr],
        distinct: bool,
        f: &ast::Function,
    ) -> Result<(Expr, DataType)> {
        let filter = f.filter.as_deref();
        let mut order_ast: Vec<&ast::OrderByExpr> = Vec::new();
        if let ast::FunctionArguments::List(list) = &f.args {
            for clause in &list.clauses {
                match clause {
                    ast::FunctionArgumentClause::OrderBy(items) => order_ast.extend(items),
                    other => {
                        return Err(Error::unsupported(format!(
                            "{other} in an aggregate is not supported"
                        )))
                    }
                }
            }
        }
        if self.grouping.is_none() {
            return Err(Error::new(
                code::GROUPING_ERROR,
                format!("aggregate functions are not allowed here ({name})"),
            ));
        }
        if kind == AggKind::Grouping {
            return self.grouping_call(args);
        }
        // An ordered-set aggregate's input is its WITHIN GROUP ordering; its own arguments
        // are direct (a percentile's fraction).
        let direct = args;
        let within: Vec<ast::Expr>;
        let args: &[ast::Expr] = if kind.ordered_set() {
            let want = usize::from(kind != AggKind::Mode);
            if f.within_group.is_empty() {
                return Err(Error::new(
                    code::UNDEFINED_FUNCTION,
                    format!("function {name} without WITHIN GROUP does not exist (it is an ordered-set aggregate)"),
                ));
            }
            if direct.len() != want || f.within_group.len() != 1 || distinct {
                return Err(Error::new(
                    code::UNDEFINED_FUNCTION,
                    format!("function {name} with these arguments does not exist"),
                ));
            }
            order_ast.extend(&f.within_group);
            within = f
                .within_group
                .iter()
                .map(|o| o.expr.clone())
                .chain(direct.iter().cloned())
                .collect();
            &within
        } else if !f.within_group.is_empty() {
            return Err(Error::new(
                code::UNDEFINED_FUNCTION,
                format!("function {name} with WITHIN GROUP does not exist ({name} is not an ordered-set aggregate)"),
            ));
        } else {
            args
        };
        // The argument is evaluated on input rows: bind it without the grouping context.
        let grouping = self.grouping.take();
        type Bound = (
            Option<Expr>,
            DataType,
            Option<(Expr, DataType)>,
            Option<Expr>,
            Vec<(Expr, bool, bool)>,
        );
        let result = (|| -> Result<Bound> {
            let mut second = None;
            let (arg, at) = match (kind, args) {
                (AggKind::CountStar, _) => (None, DataType::Int8),
                (AggKind::Mode, [a]) => {
                    let (x, t) = self.bind(a)?;
                    (Some(x), t)
                }
                (k, [a, b]) if k.paired() => {
                    let (x, t) = self.bind(a)?;
                    if k != AggKind::StringAgg {
                        second = Some(self.bind(b)?);
                    }
                    (Some(x), t)
                }
                (k, [a]) if !k.paired() => {
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
            let mut order = Vec::with_capacity(order_ast.len());
            for o in &order_ast {
                let (k, _) = self.bind(&o.expr)?;
                let (desc, nulls_first) = super::sort_options(o);
                order.push((k, desc, nulls_first));
            }
            Ok((arg, at, second, filter, order))
        })();
        self.grouping = grouping;
        let (arg, at, second, filter, order) = result?;
        if distinct && !order_ast.is_empty() {
            let first = args.first().map(ToString::to_string);
            if order_ast.iter().any(|o| Some(o.expr.to_string()) != first) {
                return Err(Error::new(
                    code::INVALID_COLUMN_REFERENCE,
                    "in an aggregate with DISTINCT, ORDER BY expressions must appear in argument list",
                ));
            }
        }
        if kind == AggKind::StringAgg {
            if let Some(sep) = args.get(1) {
                if !matches!(sep, ast::Expr::Value(_)) {
                    return Err(Error::unsupported("string_agg needs a constant delimiter"));
                }
            }
        }
        let mut ty = agg_type(kind, &at)?;
        let mut arg = arg;
        if let Some((second, st)) = second {
            if matches!(kind, AggKind::PercentileCont | AggKind::PercentileDisc) {
                // percentile_cont interpolates in double precision (or interval).
                if kind == AggKind::PercentileCont && ty == DataType::Float8 {
                    arg = arg.map(|a| Expr::Cast(Box::new(a), DataType::Float8));
                }
                // Several fractions at once: an array of percentiles.
                if matches!(st, DataType::Array(_)) {
                    ty = DataType::Array(Box::new(ty));
                }
            }
            arg = arg.map(|a| Expr::Func(Func::AggDelimiter, vec![a, second]));
        }
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
            order,
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

impl Binder<'_> {
    /// `GROUPING(k, ...)`: each argument must be a GROUP BY key (by its text, or the same
    /// input column); the call becomes an aggregate of the key positions.
    fn grouping_call(&mut self, args: &[ast::Expr]) -> Result<(Expr, DataType)> {
        if args.is_empty() || args.len() > 31 {
            return Err(Error::new(
                "54023",
                "GROUPING must have between 1 and 31 arguments",
            ));
        }
        let not_key = || {
            Error::new(
                code::GROUPING_ERROR,
                "arguments to GROUPING must be grouping expressions of the associated query level",
            )
        };
        let mut positions = Vec::with_capacity(args.len());
        for a in args {
            let text = a.to_string();
            let by_text = self
                .grouping
                .as_deref()
                .and_then(|g| g.keys.iter().position(|(t, _, _)| *t == text));
            let i = match by_text {
                Some(i) => i,
                None => {
                    let grouping = self.grouping.take();
                    let bound = self.bind(a);
                    self.grouping = grouping;
                    let col = match bound? {
                        (Expr::Column(c), _) => Some(c),
                        _ => None,
                    };
                    self.grouping
                        .as_deref()
                        .and_then(|g| g.keys.iter().position(|(_, k, _)| k.is_some() && *k == col))
                        .ok_or_else(not_key)?
                }
            };
            positions.push(Value::Int4(i32::try_from(i).unwrap_or(i32::MAX)));
        }
        let Some(g) = self.grouping.as_deref_mut() else {
            return Err(not_key());
        };
        let slot = g.keys.len() + g.aggs.len();
        g.aggs.push(AggCall {
            kind: AggKind::Grouping,
            arg: Some(Expr::Literal(Value::Array(
                Box::new(DataType::Int4),
                positions,
            ))),
            distinct: false,
            filter: None,
            ty: DataType::Int4,
            order: Vec::new(),
        });
        Ok((Expr::Column(slot), DataType::Int4))
    }
}

pub(super) fn agg_kind(name: &str, star: bool) -> Option<AggKind> {
    Some(match name {
        "grouping" => AggKind::Grouping,
        "variance" | "var_samp" => AggKind::VarSamp,
        "var_pop" => AggKind::VarPop,
        "stddev" | "stddev_samp" => AggKind::StddevSamp,
        "stddev_pop" => AggKind::StddevPop,
        "percentile_cont" => AggKind::PercentileCont,
        "percentile_disc" => AggKind::PercentileDisc,
        "mode" => AggKind::Mode,
        "json_agg" => AggKind::JsonAgg,
        "jsonb_agg" => AggKind::JsonbAgg,
        "json_object_agg" => AggKind::JsonObjectAgg,
        "jsonb_object_agg" => AggKind::JsonbObjectAgg,
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
pub(super) fn agg_type(kind: AggKind, arg: &DataType) -> Result<DataType> {
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
            DataType::Vector(_) => DataType::Vector(None),
            DataType::HalfVec(_) => DataType::HalfVec(None),
            _ => return Err(bad()),
        },
        AggKind::Avg => match arg {
            DataType::Int2 | DataType::Int4 | DataType::Int8 | DataType::Numeric(_) => {
                DataType::Numeric(None)
            }
            DataType::Float4 | DataType::Float8 | DataType::Unknown => DataType::Float8,
            DataType::Interval => DataType::Interval,
            DataType::Vector(_) => DataType::Vector(None),
            DataType::HalfVec(_) => DataType::HalfVec(None),
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
        AggKind::VarSamp | AggKind::VarPop | AggKind::StddevSamp | AggKind::StddevPop => {
            match arg {
                DataType::Int2
                | DataType::Int4
                | DataType::Int8
                | DataType::Numeric(_)
                | DataType::Unknown => DataType::Numeric(None),
                DataType::Float4 | DataType::Float8 => DataType::Float8,
                _ => return Err(bad()),
            }
        }
        AggKind::PercentileCont => match arg {
            DataType::Interval => DataType::Interval,
            DataType::Int2
            | DataType::Int4
            | DataType::Int8
            | DataType::Numeric(_)
            | DataType::Float4
            | DataType::Float8
            | DataType::Unknown => DataType::Float8,
            _ => return Err(bad()),
        },
        AggKind::PercentileDisc | AggKind::Mode => match arg {
            DataType::Unknown => DataType::Text,
            t => t.clone(),
        },
        AggKind::Grouping => DataType::Int4,
        AggKind::JsonAgg | AggKind::JsonObjectAgg => DataType::Json,
        AggKind::JsonbAgg | AggKind::JsonbObjectAgg => DataType::Jsonb,
        AggKind::StringAgg => DataType::Text,
        AggKind::ArrayAgg => DataType::Array(Box::new(match arg {
            DataType::Unknown => DataType::Text,
            t => t.clone(),
        })),
    })
}

/// Whether `e` calls an aggregate at this query level (aggregates inside subqueries belong
/// to the subquery).
pub fn contains_aggregate(e: &ast::Expr) -> bool {
    use ast::Expr as E;
    let any = |xs: &[&ast::Expr]| xs.iter().any(|x| contains_aggregate(x));
    match e {
        E::Subquery(_) | E::Exists { .. } => false,
        E::Function(f) => {
            let name = f
                .name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(super::ident_name)
                .unwrap_or_default();
            if f.over.is_none() && agg_kind(&name, false).is_some() {
                return true;
            }
            match &f.args {
                ast::FunctionArguments::List(list) => list.args.iter().any(|a| match a {
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x))
                    | ast::FunctionArg::Named {
                        arg: ast::FunctionArgExpr::Expr(x),
                        ..
                    } => contains_aggregate(x),
                    _ => false,
                }),
                _ => false,
            }
        }
        E::Identifier(_) | E::CompoundIdentifier(_) | E::Value(_) | E::TypedString(_) => false,
        E::BinaryOp { left, right, .. } => any(&[left, right]),
        E::AnyOp { left, right, .. } | E::AllOp { left, right, .. } => any(&[left, right]),
        E::UnaryOp { expr, .. }
        | E::Nested(expr)
        | E::Cast { expr, .. }
        | E::IsNull(expr)
        | E::IsNotNull(expr)
        | E::IsTrue(expr)
        | E::IsNotTrue(expr)
        | E::IsFalse(expr)
        | E::IsNotFalse(expr)
        | E::IsUnknown(expr)
        | E::IsNotUnknown(expr)
        | E::Extract { expr, .. }
        | E::Ceil { expr, .. }
        | E::Floor { expr, .. }
        | E::Collate { expr, .. } => contains_aggregate(expr),
        E::IsDistinctFrom(a, b) | E::IsNotDistinctFrom(a, b) => any(&[a, b]),
        E::In { expr, target, .. } => {
            contains_aggregate(expr)
                || matches!(target, ast::InTarget::List(list) if list.iter().any(contains_aggregate))
        }
        E::Between {
            expr, low, high, ..
        } => any(&[expr, low, high]),
        E::Like { expr, pattern, .. } | E::ILike { expr, pattern, .. } => any(&[expr, pattern]),
        E::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            operand.as_deref().is_some_and(contains_aggregate)
                || conditions
                    .iter()
                    .any(|w| contains_aggregate(&w.condition) || contains_aggregate(&w.result))
                || else_result.as_deref().is_some_and(contains_aggregate)
        }
        E::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            contains_aggregate(expr)
                || substring_from.as_deref().is_some_and(contains_aggregate)
                || substring_for.as_deref().is_some_and(contains_aggregate)
        }
        E::Position { expr, r#in } => any(&[expr, r#in]),
        E::Trim {
            expr, trim_what, ..
        } => contains_aggregate(expr) || trim_what.as_deref().is_some_and(contains_aggregate),
        E::Array(a) => a.elem.iter().any(contains_aggregate),
        // Forms not listed here: fall back to the text, which cannot hold a subquery's
        // aggregate when it names no SELECT.
        other => {
            let text = other.to_string().to_lowercase();
            !text.contains("select")
                && [
                    "count(",
                    "sum(",
                    "avg(",
                    "min(",
                    "max(",
                    "bool_and(",
                    "bool_or(",
                    "every(",
                    "string_agg(",
                    "array_agg(",
                    "variance(",
                    "var_samp(",
                    "var_pop(",
                    "stddev(",
                    "stddev_samp(",
                    "stddev_pop(",
                    "percentile_cont(",
                    "percentile_disc(",
                    "mode(",
                    "json_agg(",
                    "jsonb_agg(",
                    "json_object_agg(",
                    "jsonb_object_agg(",
                    "grouping(",
                ]
                .iter()
                .any(|f| text.contains(f))
        }
    }
}
