//! `char(n)` (bpchar) semantics, applied while binding. Values of `char(n)` are stored
//! blank-padded to `n`; as in PostgreSQL their trailing spaces are insignificant:
//! - a `char(n)` value used as text (`::text`, `||`, string functions, compared with text or
//!   varchar) loses its trailing spaces;
//! - compared with an untyped literal, the literal is a `char(n)` too: padded to `n` when it
//!   fits, so an index or key lookup on the column still applies;
//! - two `char` values of different lengths compare without their trailing spaces.

use super::func::Func;
use super::Expr;
use crate::types::{BinaryOp, DataType, Value};

fn is_char(ty: &DataType) -> bool {
    matches!(ty, DataType::Char(_))
}

/// `e` (of type `ty`) as text: without its trailing spaces when it is a `char`.
pub(super) fn as_text(e: Expr, ty: &DataType) -> Expr {
    if is_char(ty) {
        Expr::Func(Func::Rtrim, vec![e])
    } else {
        e
    }
}

/// An untyped literal compared with a `char(n)`: the `char(n)` it stands for (padded when
/// its text without trailing spaces fits, else that text: longer than any stored value).
fn literal_as_char(e: Expr, n: u32) -> Expr {
    match e {
        Expr::Literal(Value::Text(s)) => {
            let trimmed = s.trim_end_matches(' ');
            let len = trimmed.chars().count();
            let width = n as usize;
            let mut text = trimmed.to_string();
            if len < width {
                text.extend(std::iter::repeat_n(' ', width - len));
            }
            Expr::Literal(Value::Text(text))
        }
        other => other,
    }
}

/// An item of `x IN (...)` where `x` is of type `lt`: an untyped literal against a
/// `char(n)` is padded as in a comparison (the rest is compared as it is).
pub(super) fn list_item(lt: &DataType, item: Expr, it: &DataType) -> Expr {
    match (lt, it) {
        (DataType::Char(Some(n)), DataType::Unknown) => literal_as_char(item, *n),
        _ => item,
    }
}

/// The operands of `op` with `char` semantics applied.
pub(super) fn operands(
    op: BinaryOp,
    l: Expr,
    lt: &DataType,
    r: Expr,
    rt: &DataType,
) -> (Expr, Expr) {
    if !is_char(lt) && !is_char(rt) {
        return (l, r);
    }
    let comparison = matches!(
        op,
        BinaryOp::Eq
            | BinaryOp::NotEq
            | BinaryOp::Lt
            | BinaryOp::LtEq
            | BinaryOp::Gt
            | BinaryOp::GtEq
    );
    match (lt, rt) {
        _ if op == BinaryOp::Concat => (as_text(l, lt), as_text(r, rt)),
        _ if !comparison => (l, r),
        (DataType::Char(Some(n)), DataType::Unknown) => (l, literal_as_char(r, *n)),
        (DataType::Unknown, DataType::Char(Some(n))) => (literal_as_char(l, *n), r),
        (DataType::Char(a), DataType::Char(b)) if a == b && a.is_some() => (l, r),
        (DataType::Char(_), DataType::Unknown) | (DataType::Unknown, DataType::Char(_)) => (
            Expr::Func(Func::Rtrim, vec![l]),
            Expr::Func(Func::Rtrim, vec![r]),
        ),
        _ => (as_text(l, lt), as_text(r, rt)),
    }
}
