//! Evaluation of a bound expression over one row, with SQL's three-valued logic.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::{func, func_catalog, EvalContext, Expr};
use crate::error::{code, Error, Result};
use crate::types::Value;

impl Expr {
    /// The value of `self` for `row`.
    pub fn eval(&self, row: &[Value], ctx: &EvalContext<'_>) -> Result<Value> {
        Ok(match self {
            Expr::Literal(v) => v.clone(),
            Expr::Column(i) => row.get(*i).cloned().ok_or_else(|| {
                Error::new(code::INTERNAL_ERROR, format!("column {i} outside the row"))
            })?,
            Expr::Param(i) => ctx.params.get(*i).cloned().ok_or_else(|| {
                Error::new(
                    code::UNDEFINED_PARAMETER,
                    format!("there is no parameter ${}", i + 1),
                )
            })?,
            Expr::Binary(op, l, r) => {
                let a = l.operand(row, ctx)?;
                let b = r.operand(row, ctx)?;
                if a.is_null() || b.is_null() {
                    Value::Null
                } else {
                    Value::binary(*op, &a, &b)?
                }
            }
            Expr::And(l, r) => {
                let a = l.eval(row, ctx)?.as_bool()?;
                if a == Some(false) {
                    return Ok(Value::Bool(false));
                }
                let b = r.eval(row, ctx)?.as_bool()?;
                match (a, b) {
                    (_, Some(false)) => Value::Bool(false),
                    (Some(true), Some(true)) => Value::Bool(true),
                    _ => Value::Null,
                }
            }
            Expr::Or(l, r) => {
                let a = l.eval(row, ctx)?.as_bool()?;
                if a == Some(true) {
                    return Ok(Value::Bool(true));
                }
                let b = r.eval(row, ctx)?.as_bool()?;
                match (a, b) {
                    (_, Some(true)) => Value::Bool(true),
                    (Some(false), Some(false)) => Value::Bool(false),
                    _ => Value::Null,
                }
            }
            Expr::Not(x) => match x.eval(row, ctx)?.as_bool()? {
                Some(b) => Value::Bool(!b),
                None => Value::Null,
            },
            Expr::Neg(x) => {
                let v = x.eval(row, ctx)?;
                if v.is_null() {
                    Value::Null
                } else {
                    v.negate()?
                }
            }
            Expr::IsNull(x, negated) => Value::Bool(x.operand(row, ctx)?.is_null() != *negated),
            Expr::IsDistinct(l, r, negated) => {
                let a = l.operand(row, ctx)?;
                let b = r.operand(row, ctx)?;
                let distinct = match (a.is_null(), b.is_null()) {
                    (true, true) => false,
                    (true, false) | (false, true) => true,
                    _ => a.compare(&b)? != Some(Ordering::Equal),
                };
                Value::Bool(distinct != *negated)
            }
            Expr::IsBool(x, want, negated) => {
                let v = x.eval(row, ctx)?.as_bool()?;
                Value::Bool((v == Some(*want)) != *negated)
            }
            Expr::Cast(x, ty) => func_catalog::cast(x.eval(row, ctx)?, ty, ctx)?,
            Expr::Like {
                expr,
                pattern,
                negated,
                case_insensitive,
                escape,
            } => {
                let v = expr.eval(row, ctx)?;
                let p = pattern.eval(row, ctx)?;
                let escape = match escape {
                    None => Some('\\'),
                    Some(e) => match e.eval(row, ctx)? {
                        Value::Null => return Ok(Value::Null),
                        e => escape_char(&text_of(&e))?,
                    },
                };
                if v.is_null() || p.is_null() {
                    return Ok(Value::Null);
                }
                let (mut v, mut p) = (text_of(&v), text_of(&p));
                if *case_insensitive {
                    v = v.to_lowercase();
                    p = p.to_lowercase();
                }
                Value::Bool(like(&v, &p, escape)? != *negated)
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                // Operands by reference: a list of text literals is not copied per row.
                let v = expr.operand(row, ctx)?;
                if v.is_null() {
                    return Ok(Value::Null);
                }
                let mut saw_null = false;
                for item in list {
                    let w = item.operand(row, ctx)?;
                    match v.compare(&w)? {
                        Some(Ordering::Equal) => return Ok(Value::Bool(!*negated)),
                        None => saw_null = true,
                        Some(_) => {}
                    }
                }
                if saw_null {
                    Value::Null
                } else {
                    Value::Bool(*negated)
                }
            }
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => {
                let subject = match operand {
                    Some(o) => Some(o.eval(row, ctx)?),
                    None => None,
                };
                for (cond, result) in whens {
                    let hit = match &subject {
                        Some(s) => {
                            let c = cond.eval(row, ctx)?;
                            !s.is_null() && !c.is_null() && s.compare(&c)? == Some(Ordering::Equal)
                        }
                        None => cond.eval(row, ctx)?.as_bool()? == Some(true),
                    };
                    if hit {
                        return result.eval(row, ctx);
                    }
                }
                match otherwise {
                    Some(e) => e.eval(row, ctx)?,
                    None => Value::Null,
                }
            }
            // COALESCE evaluates only the arguments it needs.
            Expr::Func(func::Func::Coalesce, args) => {
                for a in args {
                    let v = a.eval(row, ctx)?;
                    if !v.is_null() {
                        return Ok(v);
                    }
                }
                Value::Null
            }
            Expr::Func(f, args) => {
                let values = args
                    .iter()
                    .map(|a| a.eval(row, ctx))
                    .collect::<Result<Vec<_>>>()?;
                func::call(f, &values, ctx)?
            }
            Expr::Outer(i) => ctx.outer.get(*i).cloned().ok_or_else(|| {
                Error::new(code::INTERNAL_ERROR, format!("outer value {i} missing"))
            })?,
            Expr::Subquery(s) => s.eval(row, ctx)?,
            Expr::Quantified {
                expr,
                op,
                all,
                array,
            } => {
                let left = expr.eval(row, ctx)?;
                match array.eval(row, ctx)? {
                    Value::Null => Value::Null,
                    Value::Array(_, items) => {
                        super::subquery::quantified(&left, *op, *all, items.into_iter())?
                    }
                    other => {
                        return Err(Error::new(
                            code::DATATYPE_MISMATCH,
                            format!("op ANY/ALL (array) requires an array, not {other:?}"),
                        ))
                    }
                }
            }
        })
    }

    /// The value of `self` for `row`, borrowed when it is a literal or a column (operators
    /// read their operands by reference, so a column's text or numeric is not copied).
    fn operand<'v>(&'v self, row: &'v [Value], ctx: &EvalContext<'_>) -> Result<Cow<'v, Value>> {
        match self {
            Expr::Literal(v) => Ok(Cow::Borrowed(v)),
            Expr::Column(i) => row.get(*i).map(Cow::Borrowed).ok_or_else(|| {
                Error::new(code::INTERNAL_ERROR, format!("column {i} outside the row"))
            }),
            other => other.eval(row, ctx).map(Cow::Owned),
        }
    }

    /// Evaluates a condition: true passes, false and NULL do not.
    pub fn passes(&self, row: &[Value], ctx: &EvalContext<'_>) -> Result<bool> {
        Ok(self.eval(row, ctx)?.as_bool()? == Some(true))
    }

    /// Whether evaluating it reads the catalog snapshot (`EvalContext::sys`): catalog
    /// functions, and casts between names and reg* types. Subqueries' own plans are not
    /// looked into (their planner decides for them).
    pub fn needs_catalog(&self) -> bool {
        let own = match self {
            Expr::Cast(_, ty) => func_catalog::cast_needs_catalog(ty),
            Expr::Func(f, _) => f.needs_catalog(),
            _ => false,
        };
        own || self.children().into_iter().any(Expr::needs_catalog)
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        other => other.to_text().unwrap_or_default(),
    }
}

/// The character `LIKE ... ESCAPE e` names: one character, or none for `''`.
fn escape_char(e: &str) -> Result<Option<char>> {
    let mut chars = e.chars();
    match (chars.next(), chars.next()) {
        (None, _) => Ok(None),
        (Some(c), None) => Ok(Some(c)),
        _ => Err(Error::new("22025", "invalid escape string")),
    }
}

/// SQL LIKE with `%`, `_` and `escape` (backslash unless `ESCAPE` names another, or none).
pub(crate) fn like(s: &str, pattern: &str, escape: Option<char>) -> Result<bool> {
    let s: Vec<char> = s.chars().collect();
    let mut p: Vec<(char, bool)> = Vec::new(); // (char, literal)
    let mut chars = pattern.chars();
    // A pattern ending in the escape character is an error only if matching gets there with
    // text left, as in PostgreSQL ('a' LIKE 'a#' ESCAPE '#' is false).
    let mut dangling = false;
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            match chars.next() {
                Some(e) => p.push((e, true)),
                None => dangling = true,
            }
        } else {
            p.push((c, false));
        }
    }
    // Iterative wildcard matching with backtracking to the last '%'.
    let (mut si, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if dangling && pi == p.len() {
            return Err(Error::new(
                "22025",
                "LIKE pattern must not end with escape character",
            ));
        }
        match p.get(pi) {
            Some(('%', false)) => {
                star = Some((pi, si));
                pi += 1;
            }
            Some((c, lit)) if (*c == '_' && !lit) || s.get(si) == Some(c) => {
                si += 1;
                pi += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return Ok(false),
            },
        }
    }
    while let Some(('%', false)) = p.get(pi) {
        pi += 1;
    }
    Ok(pi == p.len() && !dangling)
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_matches_like_postgres() {
        let cases = [
            ("abc", "abc", true),
            ("abc", "a%", true),
            ("abc", "%c", true),
            ("abc", "%b%", true),
            ("abc", "a_c", true),
            ("abc", "a_", false),
            ("", "%", true),
            ("a%c", "a\\%c", true),
            ("abc", "a\\%c", false),
            ("aaa", "%a%a%a%", true),
            ("aa", "%a%a%a%", false),
            ("mississippi", "%iss%ppi", true),
        ];
        for (s, p, want) in cases {
            assert_eq!(like(s, p, Some('\\')).ok(), Some(want), "{s:?} LIKE {p:?}");
        }
        // Another escape character, and none.
        assert_eq!(like("a_c", "a#_c", Some('#')).ok(), Some(true));
        assert_eq!(like("abc", "a#_c", Some('#')).ok(), Some(false));
        assert_eq!(like("a\\bc", "a\\_c", None).ok(), Some(true));
        assert_eq!(like("a%", "a%%", Some('%')).ok(), Some(true));
        assert_eq!(like("a", "a#", Some('#')).ok(), Some(false));
        assert!(like("ab", "a#", Some('#')).is_err());
        assert!(like("a#", "a#", Some('#')).is_err());
        assert!(like("xyz", "%#", Some('#')).is_err());
    }
}
