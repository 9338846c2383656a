//! Constant folding: a condition's operators whose operands are all literals are computed
//! once while planning instead of once per row (`l_discount BETWEEN 0.06 - 0.01 AND 0.06 +
//! 0.01`, `date '1994-01-01' + interval '1 year'`).
//!
//! Only immutable operators fold: binary operators, negation, NOT and casts, never
//! functions (whose volatility is not recorded), parameters, outer references or subqueries.
//! A cast of text to a date or time type folds only when the text has no letters ('now',
//! 'today' depend on when the statement runs). An operator that fails (`1 / 0`) is left to
//! fail when, and if, it runs.

use super::{EvalContext, Expr};
use crate::types::DataType;

impl Expr {
    /// Replaces each foldable subexpression of `self` by its value.
    pub fn fold_constants(&mut self) {
        for c in self.children_mut() {
            c.fold_constants();
        }
        if !self.foldable() {
            return;
        }
        let ctx = EvalContext::constant();
        if let Ok(v) = self.eval(&[], &ctx) {
            *self = Expr::Literal(v);
        }
    }

    fn foldable(&self) -> bool {
        let lit = |e: &Expr| matches!(e, Expr::Literal(_));
        match self {
            Expr::Binary(_, a, b) => lit(a) && lit(b),
            Expr::Neg(a) | Expr::Not(a) => lit(a),
            Expr::Cast(a, ty) => match (a.as_ref(), ty) {
                (
                    Expr::Literal(crate::types::Value::Text(s)),
                    DataType::Date
                    | DataType::Time(_)
                    | DataType::Timestamp(_)
                    | DataType::Timestamptz(_),
                ) => !s.chars().any(|c| c.is_alphabetic()),
                (
                    _,
                    DataType::RegClass
                    | DataType::RegType
                    | DataType::RegNamespace
                    | DataType::RegRole
                    | DataType::RegProc,
                ) => false,
                (a, _) => lit(a),
            },
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{BinaryOp, Value};

    fn lit(v: Value) -> Box<Expr> {
        Box::new(Expr::Literal(v))
    }

    #[test]
    fn literal_operators_fold_and_failures_stay() {
        let mut e = Expr::Binary(
            BinaryOp::Lt,
            Box::new(Expr::Column(0)),
            Box::new(Expr::Binary(
                BinaryOp::Add,
                lit(Value::Int4(2)),
                lit(Value::Int4(3)),
            )),
        );
        e.fold_constants();
        let Expr::Binary(_, _, r) = &e else { panic!() };
        assert!(matches!(r.as_ref(), Expr::Literal(Value::Int4(5))), "{e:?}");

        let mut div = Expr::Binary(BinaryOp::Div, lit(Value::Int4(1)), lit(Value::Int4(0)));
        div.fold_constants();
        assert!(
            matches!(div, Expr::Binary(..)),
            "1/0 must fail at run time, not vanish"
        );

        let mut now = Expr::Cast(lit(Value::Text("now".into())), DataType::Timestamp(None));
        now.fold_constants();
        assert!(matches!(now, Expr::Cast(..)));
        let mut day = Expr::Cast(lit(Value::Text("1994-01-01".into())), DataType::Date);
        day.fold_constants();
        assert!(matches!(day, Expr::Literal(Value::Date(_))), "{day:?}");
    }
}
