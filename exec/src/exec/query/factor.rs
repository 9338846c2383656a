//! Factoring an OR's common conjuncts out of it: `(a AND b) OR (a AND c)` becomes
//! `a AND (b OR c)`. A join condition written inside every branch of an OR (TPC-H Q19:
//! `p_partkey = l_partkey AND ...` three times) then reaches the join as its key, instead of
//! leaving a filter over the cross product.
//!
//! Invariant: the rewrite keeps the value of the condition in three-valued logic
//! (distributivity and absorption hold for SQL's AND/OR with NULL). Conjuncts are compared
//! structurally on a small set of forms (columns, parameters, literals, operators); anything
//! else never counts as shared, which only leaves an OR as it was.

use crate::expr::Expr;

/// The operands of a chain of ORs (`or`) or ANDs.
fn flatten(e: Expr, or: bool, out: &mut Vec<Expr>) {
    match e {
        Expr::Or(a, b) if or => {
            flatten(*a, or, out);
            flatten(*b, or, out);
        }
        Expr::And(a, b) if !or => {
            flatten(*a, or, out);
            flatten(*b, or, out);
        }
        other => out.push(other),
    }
}

/// The operands of a chain of ANDs.
pub(super) fn into_conjuncts(e: Expr, out: &mut Vec<Expr>) {
    flatten(e, false, out);
}

/// A condition over the columns `lo..hi` only that every row passing the OR `c` passes: the
/// OR of each branch's conjuncts that read only those columns (PostgreSQL derives the same
/// restrictions from TPC-H Q19's OR). None when some branch has no such conjunct (then
/// nothing is implied), or `c` is not an OR.
///
/// Only conjuncts that give the same answer when evaluated again are taken (no subquery,
/// `random()`, `gen_random_uuid()` or sequence function), since the derived condition runs
/// in addition to `c`.
pub(super) fn restriction(c: &Expr, lo: usize, hi: usize) -> Option<Expr> {
    if !matches!(c, Expr::Or(..)) {
        return None;
    }
    let repeatable = |e: &Expr| {
        !e.any(&|x| match x {
            Expr::Subquery(_) => true,
            Expr::Func(f, _) => f.is_volatile(),
            _ => false,
        })
    };
    let mut branches = Vec::new();
    flatten(c.clone(), true, &mut branches);
    let mut parts: Option<Expr> = None;
    for b in branches {
        let mut conjuncts = Vec::new();
        into_conjuncts(b, &mut conjuncts);
        let mine = conjuncts
            .into_iter()
            .filter(|e| e.column_span().is_some_and(|(a, z)| a >= lo && z < hi) && repeatable(e))
            .reduce(|a, b| Expr::And(Box::new(a), Box::new(b)))?;
        parts = Some(match parts {
            None => mine,
            Some(p) => Expr::Or(Box::new(p), Box::new(mine)),
        });
    }
    parts
}

/// Whether `a` and `b` are the same expression, on the forms it knows (false otherwise).
fn same(a: &Expr, b: &Expr) -> bool {
    match (a, b) {
        (Expr::Column(x), Expr::Column(y))
        | (Expr::Param(x), Expr::Param(y))
        | (Expr::Outer(x), Expr::Outer(y)) => x == y,
        (Expr::Literal(x), Expr::Literal(y)) => x == y,
        (Expr::Binary(o1, a1, b1), Expr::Binary(o2, a2, b2)) => {
            o1 == o2 && same(a1, a2) && same(b1, b2)
        }
        (Expr::And(a1, b1), Expr::And(a2, b2)) | (Expr::Or(a1, b1), Expr::Or(a2, b2)) => {
            same(a1, a2) && same(b1, b2)
        }
        (Expr::Not(x), Expr::Not(y)) | (Expr::Neg(x), Expr::Neg(y)) => same(x, y),
        (Expr::IsNull(x, n1), Expr::IsNull(y, n2)) => n1 == n2 && same(x, y),
        _ => false,
    }
}

fn all(parts: Vec<Expr>, join: fn(Box<Expr>, Box<Expr>) -> Expr) -> Option<Expr> {
    parts
        .into_iter()
        .reduce(|a, b| join(Box::new(a), Box::new(b)))
}

/// `e` as conjuncts, with what every branch of an OR shares taken out of it.
pub(super) fn factor_or(e: Expr) -> Vec<Expr> {
    if !matches!(e, Expr::Or(..)) {
        return vec![e];
    }
    let mut disjuncts = Vec::new();
    flatten(e, true, &mut disjuncts);
    let mut branches: Vec<Vec<Expr>> = disjuncts
        .into_iter()
        .map(|d| {
            let mut c = Vec::new();
            into_conjuncts(d, &mut c);
            c
        })
        .collect();
    let common: Vec<Expr> = match branches.split_first() {
        Some((first, others)) => first
            .iter()
            .filter(|c| others.iter().all(|b| b.iter().any(|x| same(c, x))))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    for b in &mut branches {
        b.retain(|c| !common.iter().any(|x| same(c, x)));
    }
    let mut out = common;
    // A branch left empty is TRUE: the OR is then implied by the common part (absorption).
    // With nothing in common every branch is whole, and the OR comes back as it was.
    if branches.iter().all(|b| !b.is_empty()) {
        let rest = branches
            .into_iter()
            .filter_map(|b| all(b, Expr::And))
            .collect();
        out.extend(all(rest, Expr::Or));
    }
    out
}

#[cfg(test)]
mod restriction_tests {
    use super::restriction;
    use crate::expr::Expr;
    use crate::types::{BinaryOp, Value};

    fn eq(col: usize, v: i32) -> Expr {
        Expr::Binary(
            BinaryOp::Eq,
            Box::new(Expr::Column(col)),
            Box::new(Expr::Literal(Value::Int4(v))),
        )
    }
    fn and(a: Expr, b: Expr) -> Expr {
        Expr::And(Box::new(a), Box::new(b))
    }
    fn or(a: Expr, b: Expr) -> Expr {
        Expr::Or(Box::new(a), Box::new(b))
    }

    #[test]
    fn each_side_gets_the_or_of_its_own_parts() {
        // (c0 = 1 AND c3 = 2) OR (c1 = 5 AND c4 = 6), columns 0..3 one side, 3..5 the other.
        let c = or(and(eq(0, 1), eq(3, 2)), and(eq(1, 5), eq(4, 6)));
        let left = restriction(&c, 0, 3).map(|e| format!("{e:?}"));
        assert_eq!(left, Some(format!("{:?}", or(eq(0, 1), eq(1, 5)))));
        let right = restriction(&c, 3, 5).map(|e| format!("{e:?}"));
        assert_eq!(right, Some(format!("{:?}", or(eq(3, 2), eq(4, 6)))));
        // A branch with nothing on a side implies nothing there.
        let c = or(and(eq(0, 1), eq(3, 2)), eq(4, 6));
        assert!(restriction(&c, 0, 3).is_none());
        // Not an OR, or a repeated evaluation that could differ: nothing.
        assert!(restriction(&and(eq(0, 1), eq(3, 2)), 0, 3).is_none());
        let random = Expr::Binary(
            BinaryOp::Lt,
            Box::new(Expr::Func(crate::expr::Func::Random, Vec::new())),
            Box::new(Expr::Column(1)),
        );
        let c = or(and(eq(0, 1), random), eq(0, 2));
        let r = restriction(&c, 0, 3).map(|e| format!("{e:?}"));
        assert_eq!(r, Some(format!("{:?}", or(eq(0, 1), eq(0, 2)))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{BinaryOp, Value};

    fn eq(a: usize, b: usize) -> Expr {
        Expr::Binary(
            BinaryOp::Eq,
            Box::new(Expr::Column(a)),
            Box::new(Expr::Column(b)),
        )
    }

    fn lit(c: usize, v: i64) -> Expr {
        Expr::Binary(
            BinaryOp::Eq,
            Box::new(Expr::Column(c)),
            Box::new(Expr::Literal(Value::Int8(v))),
        )
    }

    fn and(a: Expr, b: Expr) -> Expr {
        Expr::And(Box::new(a), Box::new(b))
    }

    fn or(a: Expr, b: Expr) -> Expr {
        Expr::Or(Box::new(a), Box::new(b))
    }

    #[test]
    fn a_join_key_in_every_branch_comes_out() {
        let e = or(
            and(eq(0, 5), lit(1, 12)),
            or(and(eq(0, 5), lit(1, 23)), and(lit(2, 7), eq(0, 5))),
        );
        let out = factor_or(e);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(same(&out[0], &eq(0, 5)));
        let rest = or(lit(1, 12), or(lit(1, 23), lit(2, 7)));
        let mut flat = Vec::new();
        flatten(out[1].clone(), true, &mut flat);
        let mut want = Vec::new();
        flatten(rest, true, &mut want);
        assert_eq!(flat.len(), want.len());
        assert!(flat.iter().zip(&want).all(|(a, b)| same(a, b)));
    }

    #[test]
    fn an_or_without_shared_conjuncts_stays_whole() {
        let e = or(and(eq(0, 5), lit(1, 12)), lit(2, 7));
        let out = factor_or(e);
        assert_eq!(out.len(), 1);
        assert!(matches!(out[0], Expr::Or(..)));
    }

    #[test]
    fn a_branch_that_is_only_the_shared_part_absorbs_the_or() {
        let e = or(eq(0, 5), and(eq(0, 5), lit(1, 12)));
        let out = factor_or(e);
        assert_eq!(out.len(), 1);
        assert!(same(&out[0], &eq(0, 5)));
    }
}
