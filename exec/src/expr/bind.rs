//! Name resolution and typing: sqlparser's `Expr` → [`Expr`] plus its type.
//!
//! Parameters (`$n`) take the type the client declared, else the type their context implies
//! (the other side of a comparison or arithmetic, a cast, the target column), else `text`.
//! Aggregates are allowed only where the binder has an aggregation context; there, column
//! references outside aggregates must be grouping expressions (SQLSTATE 42803).

use sqlparser::ast::{self, BinaryOperator, UnaryOperator};

use super::func::{self, Func};
use super::literal::literal;
use super::BY_POSITION;
use super::{AggCall, Expr, SubKind, Subquery};
use crate::error::{code, Error, Result};
use crate::types::{self, BinaryOp, DataType, Value};

/// A column the expression may name.
#[derive(Debug, Clone)]
pub struct ScopeColumn {
    /// The table name or alias qualifying it.
    pub table: Option<String>,
    pub name: String,
    pub ty: DataType,
    /// Reachable only as `table.name` (the right side's copy of a USING / NATURAL column).
    pub qualified_only: bool,
}

/// Grouping context: the GROUP BY keys and the aggregates found so far.
#[derive(Debug, Default)]
pub struct Grouping {
    /// Each key's AST text, the input column it is (when it is a bare column) and its type.
    pub keys: Vec<(String, Option<usize>, DataType)>,
    pub aggs: Vec<AggCall>,
}

/// Binds expressions against a scope.
pub struct Binder<'a> {
    pub scope: &'a [ScopeColumn],
    /// Parameter types, indexed by parameter number - 1 (grown as parameters appear).
    pub params: &'a mut Vec<DataType>,
    /// When set, expressions are bound over the aggregated row (keys ++ aggregates).
    pub grouping: Option<&'a mut Grouping>,
    /// The enclosing queries and the subquery planner; None where no subquery may appear.
    pub env: Option<&'a mut dyn BindEnv>,
}

/// What a binder inside a query needs from the planner: the columns of enclosing queries
/// (names its own scope lacks resolve there) and planning of subqueries.
pub trait BindEnv {
    /// The columns of the enclosing queries, innermost first.
    fn outer_scope(&self) -> &[ScopeColumn];
    /// The capture slot (`Expr::Outer(slot)`) of enclosing column `j`.
    fn capture(&mut self, j: usize) -> usize;
    /// Plans `query` as a subquery that sees `scope`, then [`BindEnv::outer_scope`]; returns
    /// the plan and its captures as positions in `scope ++ outer_scope()`.
    fn subquery(
        &mut self,
        query: &ast::Query,
        scope: &[ScopeColumn],
        params: &mut Vec<DataType>,
    ) -> Result<(crate::exec::query::SelectPlan, Vec<usize>)>;
    /// Takes a window function call of the select list being planned and gives its slot;
    /// `None` where window functions are not allowed (WHERE, GROUP BY, ...).
    fn add_window(&mut self, _call: super::window::WindowCall) -> Option<usize> {
        None
    }
}

pub fn ident(id: &ast::Ident) -> String {
    if id.quote_style.is_some() {
        id.value.clone()
    } else {
        id.value.to_lowercase()
    }
}

pub(super) fn binop(op: &BinaryOperator) -> Option<BinaryOp> {
    Some(match op {
        BinaryOperator::Plus => BinaryOp::Add,
        BinaryOperator::Minus => BinaryOp::Sub,
        BinaryOperator::Multiply => BinaryOp::Mul,
        BinaryOperator::Divide => BinaryOp::Div,
        BinaryOperator::Modulo => BinaryOp::Mod,
        BinaryOperator::PGExp => BinaryOp::Pow,
        BinaryOperator::Eq => BinaryOp::Eq,
        BinaryOperator::NotEq => BinaryOp::NotEq,
        BinaryOperator::Lt => BinaryOp::Lt,
        BinaryOperator::LtEq => BinaryOp::LtEq,
        BinaryOperator::Gt => BinaryOp::Gt,
        BinaryOperator::GtEq => BinaryOp::GtEq,
        BinaryOperator::StringConcat => BinaryOp::Concat,
        BinaryOperator::Arrow => BinaryOp::JsonGet,
        BinaryOperator::LongArrow => BinaryOp::JsonGetText,
        BinaryOperator::HashArrow => BinaryOp::JsonPath,
        BinaryOperator::HashLongArrow => BinaryOp::JsonPathText,
        BinaryOperator::AtArrow => BinaryOp::JsonContains,
        BinaryOperator::ArrowAt => BinaryOp::JsonContainedBy,
        BinaryOperator::Question => BinaryOp::JsonHasKey,
        BinaryOperator::BitwiseAnd => BinaryOp::BitAnd,
        BinaryOperator::BitwiseOr => BinaryOp::BitOr,
        BinaryOperator::PGBitwiseXor => BinaryOp::BitXor,
        BinaryOperator::PGBitwiseShiftLeft => BinaryOp::ShiftLeft,
        BinaryOperator::PGBitwiseShiftRight => BinaryOp::ShiftRight,
        BinaryOperator::PGOverlap => BinaryOp::ArrayOverlap,
        BinaryOperator::PGRegexMatch => BinaryOp::RegexMatch,
        BinaryOperator::PGRegexIMatch => BinaryOp::RegexIMatch,
        BinaryOperator::PGRegexNotMatch => BinaryOp::RegexNotMatch,
        BinaryOperator::PGRegexNotIMatch => BinaryOp::RegexNotIMatch,
        BinaryOperator::LtDashGt => BinaryOp::VectorL2,
        BinaryOperator::Spaceship => BinaryOp::VectorCosine,
        BinaryOperator::Custom(s) => return BinaryOp::from_symbol(s),
        // OPERATOR(pg_catalog.~) and friends.
        BinaryOperator::PGCustomBinaryOperator(parts) => {
            return parts.last().and_then(|s| BinaryOp::from_symbol(s))
        }
        _ => return None,
    })
}

impl<'a> Binder<'a> {
    /// A binder over `scope` without aggregation or enclosing queries.
    pub fn new(scope: &'a [ScopeColumn], params: &'a mut Vec<DataType>) -> Binder<'a> {
        Binder {
            scope,
            params,
            grouping: None,
            env: None,
        }
    }

    /// Binds `e`; returns the bound expression and its type.
    pub fn bind(&mut self, e: &ast::Expr) -> Result<(Expr, DataType)> {
        if let Some(found) = self.grouping_key(e)? {
            return Ok(found);
        }
        match e {
            // SQL's parameterless functions written without parentheses (keywords in
            // PostgreSQL, so never columns unless quoted).
            ast::Expr::Identifier(id)
                if id.quote_style.is_none()
                    && matches!(
                        ident(id).as_str(),
                        "current_schema" | "current_role" | "current_catalog"
                    ) =>
            {
                let name = match ident(id).as_str() {
                    "current_role" => "current_user".to_string(),
                    other => other.to_string(),
                };
                let (func, ty) = func::resolve(&name, &[])?;
                Ok((Expr::Func(func, Vec::new()), ty))
            }
            ast::Expr::Identifier(id) => self.column(None, &ident(id)),
            ast::Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [t, c] => self.column(Some(&ident(t)), &ident(c)),
                [_, t, c] => self.column(Some(&ident(t)), &ident(c)),
                _ => Err(Error::new(
                    code::SYNTAX_ERROR,
                    format!("improper qualified name (too many dotted names): {e}"),
                )),
            },
            ast::Expr::Value(v) => match &v.value {
                ast::Value::Placeholder(p) => self.param(p),
                other => {
                    let (v, t) = literal(other)?;
                    Ok((Expr::Literal(v), t))
                }
            },
            ast::Expr::Nested(inner) => self.bind(inner),
            // Collations are not modelled: comparisons use the C collation.
            ast::Expr::Collate { expr, .. } => self.bind(expr),
            ast::Expr::CompoundFieldAccess { root, access_chain } => {
                self.subscripts(root, access_chain)
            }
            ast::Expr::Interval(iv) => self.interval(iv),
            ast::Expr::TypedString(ts) => {
                let ty = DataType::from_sql(&ts.data_type)?;
                let (v, _) = literal(&ts.value.value)?;
                Ok((Expr::Literal(v.cast(&ty)?), ty))
            }
            ast::Expr::Cast {
                expr, data_type, ..
            } => {
                let ty = DataType::from_sql(data_type)?;
                let (inner, inner_ty) = self.bind(expr)?;
                self.infer(&inner, &ty);
                if inner_ty == ty {
                    return Ok((inner, ty));
                }
                let inner = if matches!(ty, DataType::Char(_)) {
                    inner
                } else {
                    super::bpchar::as_text(inner, &inner_ty)
                };
                Ok((Expr::Cast(Box::new(inner), ty.clone()), ty))
            }
            ast::Expr::BinaryOp { left, op, right } => self.binary(left, op, right),
            ast::Expr::UnaryOp { op, expr } => {
                let (inner, ty) = self.bind(expr)?;
                match op {
                    UnaryOperator::Not => {
                        self.infer(&inner, &DataType::Bool);
                        expect_bool(&ty, "NOT")?;
                        Ok((Expr::Not(Box::new(inner)), DataType::Bool))
                    }
                    UnaryOperator::Minus => match inner {
                        Expr::Literal(v) => Ok((Expr::Literal(v.negate()?), ty)),
                        other => Ok((Expr::Neg(Box::new(other)), ty)),
                    },
                    UnaryOperator::Plus => Ok((inner, ty)),
                    other => Err(Error::unsupported(format!(
                        "operator {other} is not supported"
                    ))),
                }
            }
            ast::Expr::IsNull(x) | ast::Expr::IsNotNull(x) => {
                let (inner, _) = self.bind(x)?;
                let negated = matches!(e, ast::Expr::IsNotNull(_));
                Ok((Expr::IsNull(Box::new(inner), negated), DataType::Bool))
            }
            ast::Expr::IsTrue(x)
            | ast::Expr::IsNotTrue(x)
            | ast::Expr::IsFalse(x)
            | ast::Expr::IsNotFalse(x) => {
                let (inner, ty) = self.bind(x)?;
                self.infer(&inner, &DataType::Bool);
                expect_bool(&ty, "IS TRUE")?;
                let value = matches!(e, ast::Expr::IsTrue(_) | ast::Expr::IsNotTrue(_));
                let negated = matches!(e, ast::Expr::IsNotTrue(_) | ast::Expr::IsNotFalse(_));
                Ok((
                    Expr::IsBool(Box::new(inner), value, negated),
                    DataType::Bool,
                ))
            }
            ast::Expr::IsUnknown(x) | ast::Expr::IsNotUnknown(x) => {
                let (inner, _) = self.bind(x)?;
                let negated = matches!(e, ast::Expr::IsNotUnknown(_));
                Ok((Expr::IsNull(Box::new(inner), negated), DataType::Bool))
            }
            ast::Expr::IsDistinctFrom(a, b) | ast::Expr::IsNotDistinctFrom(a, b) => {
                let (l, lt) = self.bind(a)?;
                let (r, rt) = self.bind(b)?;
                self.infer(&l, &rt);
                self.infer(&r, &lt);
                let negated = matches!(e, ast::Expr::IsNotDistinctFrom(..));
                Ok((
                    Expr::IsDistinct(Box::new(l), Box::new(r), negated),
                    DataType::Bool,
                ))
            }
            ast::Expr::In {
                expr,
                target,
                negated,
                ..
            } => {
                let list = match target {
                    ast::InTarget::List(list) => list,
                    ast::InTarget::Subquery(q) => {
                        let eq = BinaryOperator::Eq;
                        let any =
                            self.quantified(expr, &eq, &ast::Expr::Subquery(q.clone()), false)?;
                        return Ok(negate_if(any, *negated));
                    }
                    _ => {
                        return Err(Error::unsupported(format!(
                            "expression is not supported: {e}"
                        )))
                    }
                };
                if let Some(rows) = super::bind_forms::row_in_list(expr, list, *negated) {
                    return self.bind(&rows);
                }
                let (left, lt) = self.bind(expr)?;
                let mut items = Vec::with_capacity(list.len());
                for item in list {
                    let (b, bt) = self.bind(item)?;
                    self.infer(&b, &lt);
                    self.infer(&left, &bt);
                    types::result_type(BinaryOp::Eq, &lt, &bt)?;
                    items.push(super::bpchar::list_item(&lt, b, &bt));
                }
                Ok((
                    Expr::InList {
                        expr: Box::new(left),
                        list: items,
                        negated: *negated,
                    },
                    DataType::Bool,
                ))
            }
            ast::Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let (x, xt) = self.bind(expr)?;
                let (lo, lot) = self.bind(low)?;
                let (hi, hit) = self.bind(high)?;
                self.infer(&lo, &xt);
                self.infer(&hi, &xt);
                self.infer(&x, &lot);
                types::result_type(BinaryOp::GtEq, &xt, &lot)?;
                types::result_type(BinaryOp::LtEq, &xt, &hit)?;
                let (x1, lo) = super::bpchar::operands(BinaryOp::GtEq, x.clone(), &xt, lo, &lot);
                let (x2, hi) = super::bpchar::operands(BinaryOp::LtEq, x, &xt, hi, &hit);
                let both = Expr::And(
                    Box::new(Expr::Binary(BinaryOp::GtEq, Box::new(x1), Box::new(lo))),
                    Box::new(Expr::Binary(BinaryOp::LtEq, Box::new(x2), Box::new(hi))),
                );
                let e = if *negated {
                    Expr::Not(Box::new(both))
                } else {
                    both
                };
                Ok((e, DataType::Bool))
            }
            ast::Expr::Like {
                negated,
                expr,
                pattern,
                escape_char,
                ..
            }
            | ast::Expr::ILike {
                negated,
                expr,
                pattern,
                escape_char,
                ..
            } => {
                let (x, _) = self.bind(expr)?;
                let (p, _) = self.bind(pattern)?;
                self.infer(&x, &DataType::Text);
                self.infer(&p, &DataType::Text);
                let escape = match escape_char {
                    Some(c) => {
                        let (c, _) = self.bind(c)?;
                        self.infer(&c, &DataType::Text);
                        Some(Box::new(c))
                    }
                    None => None,
                };
                Ok((
                    Expr::Like {
                        expr: Box::new(x),
                        pattern: Box::new(p),
                        negated: *negated,
                        case_insensitive: matches!(e, ast::Expr::ILike { .. }),
                        escape,
                    },
                    DataType::Bool,
                ))
            }
            ast::Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => self.case(operand.as_deref(), conditions, else_result.as_deref()),
            ast::Expr::Function(f) => self.function(f),
            ast::Expr::Extract { field, expr, .. } => {
                let (x, _) = self.bind(expr)?;
                let name = Expr::Literal(Value::Text(field.to_string().to_lowercase()));
                Ok((
                    Expr::Func(Func::Extract, vec![name, x]),
                    DataType::Numeric(None),
                ))
            }
            ast::Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![self.bind(expr)?.0];
                let from = match substring_from {
                    Some(f) => self.bind(f)?.0,
                    None => Expr::Literal(Value::Int4(1)),
                };
                args.push(from);
                if let Some(n) = substring_for {
                    args.push(self.bind(n)?.0);
                }
                Ok((Expr::Func(Func::Substr, args), DataType::Text))
            }
            ast::Expr::Position { expr, r#in } => {
                let (needle, _) = self.bind(expr)?;
                let (hay, _) = self.bind(r#in)?;
                Ok((Expr::Func(Func::Strpos, vec![hay, needle]), DataType::Int4))
            }
            ast::Expr::Trim {
                expr,
                trim_where,
                trim_what,
                ..
            } => {
                let (x, _) = self.bind(expr)?;
                let f = match trim_where {
                    Some(ast::TrimWhereField::Leading) => Func::Ltrim,
                    Some(ast::TrimWhereField::Trailing) => Func::Rtrim,
                    _ => Func::Btrim,
                };
                let mut args = vec![x];
                if let Some(w) = trim_what {
                    args.push(self.bind(w)?.0);
                }
                Ok((Expr::Func(f, args), DataType::Text))
            }
            ast::Expr::Ceil { expr, .. } | ast::Expr::Floor { expr, .. } => {
                let (x, t) = self.bind(expr)?;
                let f = if matches!(e, ast::Expr::Ceil { .. }) {
                    Func::Ceil
                } else {
                    Func::Floor
                };
                Ok((Expr::Func(f, vec![x]), t))
            }
            ast::Expr::Array(arr) => self.array(arr),
            ast::Expr::Subquery(q) => {
                let (plan, captures, ty) = self.single_column(q)?;
                let sub = Subquery {
                    plan,
                    kind: SubKind::Scalar,
                    captures,
                };
                Ok((Expr::Subquery(Box::new(sub)), ty))
            }
            ast::Expr::Exists { subquery, negated } => {
                let (plan, captures) = self.subquery(subquery)?;
                let sub = Subquery {
                    plan,
                    kind: SubKind::Exists,
                    captures,
                };
                let e = (Expr::Subquery(Box::new(sub)), DataType::Bool);
                Ok(negate_if(e, *negated))
            }
            ast::Expr::AnyOp {
                left,
                compare_op,
                right,
                ..
            } => self.quantified(left, compare_op, right, false),
            ast::Expr::AllOp {
                left,
                compare_op,
                right,
            } => self.quantified(left, compare_op, right, true),
            other => Err(Error::unsupported(format!(
                "expression is not supported: {other}"
            ))),
        }
    }

    /// Binds a boolean condition (WHERE, HAVING, ON, CHECK).
    pub fn bind_condition(&mut self, e: &ast::Expr, clause: &str) -> Result<Expr> {
        let (x, t) = self.bind(e)?;
        self.infer(&x, &DataType::Bool);
        if !matches!(t, DataType::Bool | DataType::Unknown) {
            return Err(Error::new(
                code::DATATYPE_MISMATCH,
                format!("argument of {clause} must be type boolean, not type {t}"),
            ));
        }
        Ok(x)
    }

    /// Gives an untyped parameter the type its context implies.
    pub fn infer(&mut self, e: &Expr, ty: &DataType) {
        if let Expr::Param(i) = e {
            if let Some(slot) = self.params.get_mut(*i) {
                if *slot == DataType::Unknown && *ty != DataType::Unknown {
                    *slot = ty.clone();
                }
            }
        }
    }

    fn param(&mut self, p: &str) -> Result<(Expr, DataType)> {
        let n: usize = p
            .strip_prefix('$')
            .and_then(|d| d.parse().ok())
            .filter(|n| *n >= 1 && *n <= 65_535)
            .ok_or_else(|| Error::syntax(format!("syntax error at or near \"{p}\"")))?;
        if self.params.len() < n {
            self.params.resize(n, DataType::Unknown);
        }
        let ty = self.params.get(n - 1).cloned().unwrap_or(DataType::Unknown);
        Ok((Expr::Param(n - 1), ty))
    }

    fn column(&mut self, table: Option<&str>, name: &str) -> Result<(Expr, DataType)> {
        if table == Some(BY_POSITION) {
            let c = name
                .parse::<usize>()
                .ok()
                .and_then(|i| Some((i, self.scope.get(i)?)));
            if let Some((i, c)) = c {
                return Ok((Expr::Column(i), c.ty.clone()));
            }
        }
        let mut found = None;
        for (i, c) in self.scope.iter().enumerate() {
            if c.name != name {
                continue;
            }
            match table {
                Some(t) if c.table.as_deref() != Some(t) => continue,
                None if c.qualified_only => continue,
                _ => {}
            }
            if found.is_some() {
                return Err(Error::new(
                    code::AMBIGUOUS_COLUMN,
                    format!("column reference \"{name}\" is ambiguous"),
                ));
            }
            found = Some((i, c.ty.clone()));
        }
        let Some((i, ty)) = found else {
            if let Some(found) = self.outer_column(table, name) {
                return Ok(found);
            }
            if let Some(t) = table {
                let known = self.scope.iter().any(|c| c.table.as_deref() == Some(t))
                    || self.env.as_ref().is_some_and(|e| {
                        e.outer_scope()
                            .iter()
                            .any(|c| c.table.as_deref() == Some(t))
                    });
                if !known {
                    return Err(Error::new(
                        code::UNDEFINED_TABLE,
                        format!("missing FROM-clause entry for table \"{t}\""),
                    ));
                }
                return Err(Error::new(
                    code::UNDEFINED_COLUMN,
                    format!("column {t}.{name} does not exist"),
                ));
            }
            return Err(Error::new(
                code::UNDEFINED_COLUMN,
                format!("column \"{name}\" does not exist"),
            ));
        };
        self.column_at(i, ty)
    }

    /// Input column `i` of the scope, as this binder may name it (a grouping key inside an
    /// aggregation).
    pub(super) fn column_at(&mut self, i: usize, ty: DataType) -> Result<(Expr, DataType)> {
        if let Some(g) = &self.grouping {
            // Inside an aggregation: only grouped columns may be named directly.
            return match g.keys.iter().position(|k| k.1 == Some(i)) {
                Some(k) => Ok((Expr::Column(k), ty)),
                None => {
                    let c = self.scope.get(i);
                    let name = c.map(|c| c.name.as_str()).unwrap_or("?");
                    let shown = match c.and_then(|c| c.table.clone()) {
                        Some(t) => format!("{t}.{name}"),
                        None => name.to_string(),
                    };
                    Err(Error::new(
                        code::GROUPING_ERROR,
                        format!("column \"{shown}\" must appear in the GROUP BY clause or be used in an aggregate function"),
                    ))
                }
            };
        }
        Ok((Expr::Column(i), ty))
    }

    /// In an aggregation, an expression equal to a GROUP BY key is that key.
    fn grouping_key(&mut self, e: &ast::Expr) -> Result<Option<(Expr, DataType)>> {
        let Some(g) = &self.grouping else {
            return Ok(None);
        };
        if matches!(
            e,
            ast::Expr::Identifier(_) | ast::Expr::CompoundIdentifier(_)
        ) {
            return Ok(None);
        }
        let text = e.to_string();
        Ok(g.keys
            .iter()
            .position(|k| k.0 == text)
            .and_then(|i| g.keys.get(i).map(|k| (Expr::Column(i), k.2.clone()))))
    }

    fn binary(
        &mut self,
        left: &ast::Expr,
        op: &BinaryOperator,
        right: &ast::Expr,
    ) -> Result<(Expr, DataType)> {
        if let Some(rows) = super::bind_forms::row_comparison(left, op, right)? {
            return self.bind(&rows);
        }
        match op {
            BinaryOperator::And | BinaryOperator::Or => {
                let (l, lt) = self.bind(left)?;
                let (r, rt) = self.bind(right)?;
                self.infer(&l, &DataType::Bool);
                self.infer(&r, &DataType::Bool);
                let name = if *op == BinaryOperator::And {
                    "AND"
                } else {
                    "OR"
                };
                expect_bool(&lt, name)?;
                expect_bool(&rt, name)?;
                let e = if *op == BinaryOperator::And {
                    Expr::And(Box::new(l), Box::new(r))
                } else {
                    Expr::Or(Box::new(l), Box::new(r))
                };
                return Ok((e, DataType::Bool));
            }
            BinaryOperator::PGLikeMatch
            | BinaryOperator::PGNotLikeMatch
            | BinaryOperator::PGILikeMatch
            | BinaryOperator::PGNotILikeMatch => {
                let (x, _) = self.bind(left)?;
                let (p, _) = self.bind(right)?;
                return Ok((
                    Expr::Like {
                        expr: Box::new(x),
                        pattern: Box::new(p),
                        negated: matches!(
                            op,
                            BinaryOperator::PGNotLikeMatch | BinaryOperator::PGNotILikeMatch
                        ),
                        case_insensitive: matches!(
                            op,
                            BinaryOperator::PGILikeMatch | BinaryOperator::PGNotILikeMatch
                        ),
                        escape: None,
                    },
                    DataType::Bool,
                ));
            }
            _ => {}
        }
        let Some(bop) = binop(op) else {
            return Err(Error::new(
                code::UNDEFINED_FUNCTION,
                format!("operator does not exist: {op}"),
            ));
        };
        let (l, lt) = self.bind(left)?;
        let (r, rt) = self.bind(right)?;
        self.infer(&l, &rt);
        self.infer(&r, &lt);
        let lt = self.type_of_param(&l).unwrap_or(lt);
        let rt = self.type_of_param(&r).unwrap_or(rt);
        let ty = types::result_type(bop, &lt, &rt)?;
        let (l, r) = super::bpchar::operands(bop, l, &lt, r, &rt);
        // Fold literal-only arithmetic (e.g. `-1 * 5`) once, not per row. One that fails (`1 / 0`)
        // is left to fail when evaluated: a branch never taken (CASE, COALESCE, OR) must not
        // raise its error.
        if let (Expr::Literal(a), Expr::Literal(b)) = (&l, &r) {
            if !matches!(lt, DataType::Unknown) && !matches!(rt, DataType::Unknown) {
                if let Ok(v) = Value::binary(bop, a, b) {
                    return Ok((Expr::Literal(v), ty));
                }
            }
        }
        Ok((Expr::Binary(bop, Box::new(l), Box::new(r)), ty))
    }

    pub(super) fn type_of_param(&self, e: &Expr) -> Option<DataType> {
        match e {
            Expr::Param(i) => self.params.get(*i).cloned(),
            _ => None,
        }
    }

    fn function(&mut self, f: &ast::Function) -> Result<(Expr, DataType)> {
        let name = match f.name.0.last() {
            Some(ast::ObjectNamePart::Identifier(id)) => ident(id),
            _ => {
                return Err(Error::syntax(format!(
                    "syntax error at or near \"{}\"",
                    f.name
                )))
            }
        };
        let (args, distinct, star) = match &f.args {
            ast::FunctionArguments::None => (Vec::new(), false, false),
            ast::FunctionArguments::Subquery(q) if name == "array" => {
                let (plan, captures, ty) = self.single_column(q)?;
                let sub = Subquery {
                    plan,
                    kind: SubKind::Array(ty.clone()),
                    captures,
                };
                return Ok((Expr::Subquery(Box::new(sub)), DataType::Array(Box::new(ty))));
            }
            ast::FunctionArguments::Subquery(_) => {
                return Err(Error::unsupported(format!(
                    "function {name} over a subquery is not supported"
                )))
            }
            ast::FunctionArguments::List(list) => {
                let distinct = matches!(
                    list.duplicate_treatment,
                    Some(ast::DuplicateTreatment::Distinct)
                );
                let mut args = Vec::new();
                let mut star = false;
                for a in &list.args {
                    match a {
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => {
                            args.push(e.clone())
                        }
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard) => star = true,
                        _ => {
                            return Err(Error::unsupported(format!(
                                "function argument form is not supported: {a}"
                            )))
                        }
                    }
                }
                (args, distinct, star)
            }
        };
        if f.over.is_some() {
            return self.window_function(&name, &args, distinct, star, f);
        }
        if let Some(kind) = super::aggregates::agg_kind(&name, star) {
            return self.aggregate(kind, &name, &args, distinct, f);
        }
        let mut bound = Vec::with_capacity(args.len());
        let mut types = Vec::with_capacity(args.len());
        for a in &args {
            let (b, t) = self.bind(a)?;
            bound.push(b);
            types.push(t);
        }
        let (func, ty) = func::resolve(&name, &types)?;
        if let Some(want) = func::param_hint(&func) {
            for b in &bound {
                self.infer(b, &want);
            }
        }
        // char(n) arguments are passed as text (octet_length counts the padding).
        let bound = if func == Func::OctetLength {
            bound
        } else {
            bound
                .into_iter()
                .zip(&types)
                .map(|(b, t)| super::bpchar::as_text(b, t))
                .collect()
        };
        Ok((Expr::Func(func, bound), ty))
    }
}
fn negate_if((e, t): (Expr, DataType), negated: bool) -> (Expr, DataType) {
    if negated {
        (Expr::Not(Box::new(e)), t)
    } else {
        (e, t)
    }
}

pub(super) fn expect_bool(t: &DataType, what: &str) -> Result<()> {
    if matches!(t, DataType::Bool | DataType::Unknown) {
        Ok(())
    } else {
        Err(Error::new(
            code::DATATYPE_MISMATCH,
            format!("argument of {what} must be type boolean, not type {t}"),
        ))
    }
}

/// The common type of CASE branches / COALESCE arguments.
pub fn unify(a: DataType, b: DataType, what: &str) -> Result<DataType> {
    if a == DataType::Unknown {
        return Ok(b);
    }
    if b == DataType::Unknown || a == b {
        return Ok(a);
    }
    if types::Value::implicit_cast_ok(&b, &a) {
        return Ok(a);
    }
    if types::Value::implicit_cast_ok(&a, &b) {
        return Ok(b);
    }
    Err(Error::new(
        code::DATATYPE_MISMATCH,
        format!("{what} types {a} and {b} cannot be matched"),
    ))
}
