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
