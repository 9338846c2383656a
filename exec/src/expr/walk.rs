//! Structural walks over bound expressions: children, the input columns an expression
//! reads, renumbering those columns, and row independence. The planner uses them to push
//! conditions down a join tree and to find equi-join keys.

use super::{func, Expr, SubKind, Subquery};

impl Expr {
    /// The direct sub-expressions evaluated over the same row as `self`. A subquery's
    /// captures and quantified operand are; its plan's expressions run over other rows.
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Literal(_) | Expr::Column(_) | Expr::Param(_) | Expr::Outer(_) => Vec::new(),
            Expr::Binary(_, a, b)
            | Expr::And(a, b)
            | Expr::Or(a, b)
            | Expr::IsDistinct(a, b, _) => {
                vec![a, b]
            }
            Expr::Not(a) | Expr::Neg(a) | Expr::IsNull(a, _) | Expr::IsBool(a, _, _) => vec![a],
            Expr::Cast(a, _) => vec![a],
            Expr::Like {
                expr,
                pattern,
                escape,
                ..
            } => {
                let mut v: Vec<&Expr> = vec![expr, pattern];
                v.extend(escape.as_deref());
                v
            }
            Expr::InList { expr, list, .. } => {
                let mut v: Vec<&Expr> = vec![expr];
                v.extend(list.iter());
                v
            }
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => {
                let mut v: Vec<&Expr> = operand.iter().map(|b| b.as_ref()).collect();
                for (w, r) in whens {
                    v.push(w);
                    v.push(r);
                }
                v.extend(otherwise.iter().map(|b| b.as_ref()));
                v
            }
            Expr::Func(_, args) => args.iter().collect(),
            Expr::Quantified { expr, array, .. } => vec![expr, array],
            Expr::Subquery(s) => {
                let mut v: Vec<&Expr> = s.captures.iter().collect();
                match &s.kind {
                    SubKind::Quantified { expr, .. } => v.push(expr),
                    SubKind::RowIn { exprs } => v.extend(exprs.iter()),
                    _ => {}
                }
                v
            }
        }
    }

    /// Mutable twin of [`Expr::children`].
    pub fn children_mut(&mut self) -> Vec<&mut Expr> {
        match self {
            Expr::Literal(_) | Expr::Column(_) | Expr::Param(_) | Expr::Outer(_) => Vec::new(),
            Expr::Binary(_, a, b)
            | Expr::And(a, b)
            | Expr::Or(a, b)
            | Expr::IsDistinct(a, b, _) => {
                vec![a, b]
            }
            Expr::Not(a) | Expr::Neg(a) | Expr::IsNull(a, _) | Expr::IsBool(a, _, _) => vec![a],
            Expr::Cast(a, _) => vec![a],
            Expr::Like {
                expr,
                pattern,
                escape,
                ..
            } => {
                let mut v: Vec<&mut Expr> = vec![expr, pattern];
                v.extend(escape.as_deref_mut());
                v
            }
            Expr::InList { expr, list, .. } => {
                let mut v: Vec<&mut Expr> = vec![expr];
                v.extend(list.iter_mut());
                v
            }
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => {
                let mut v: Vec<&mut Expr> = operand.iter_mut().map(|b| b.as_mut()).collect();
                for (w, r) in whens {
                    v.push(w);
                    v.push(r);
                }
                v.extend(otherwise.iter_mut().map(|b| b.as_mut()));
                v
            }
            Expr::Func(_, args) => args.iter_mut().collect(),
            Expr::Quantified { expr, array, .. } => vec![expr, array],
            Expr::Subquery(s) => {
                let s = s.as_mut();
                let mut v: Vec<&mut Expr> = s.captures.iter_mut().collect();
                match &mut s.kind {
                    SubKind::Quantified { expr, .. } => v.push(expr),
                    SubKind::RowIn { exprs } => v.extend(exprs.iter_mut()),
                    _ => {}
                }
                v
            }
        }
    }

    /// Adds the input columns `self` reads to `out`.
    pub fn columns_used(&self, out: &mut Vec<usize>) {
        if let Expr::Column(i) = self {
            out.push(*i);
        }
        for c in self.children() {
            c.columns_used(out);
        }
    }

    /// Which of a `width`-column row's columns `self` reads; None if it reads one past it.
    pub fn column_mask(&self, width: usize) -> Option<Vec<bool>> {
        let mut used = Vec::new();
        self.columns_used(&mut used);
        let mut mask = vec![false; width];
        for c in used {
            *mask.get_mut(c)? = true;
        }
        Some(mask)
    }

    /// The lowest and highest input column read, if any.
    pub fn column_span(&self) -> Option<(usize, usize)> {
        let mut cols = Vec::new();
        self.columns_used(&mut cols);
        Some((*cols.iter().min()?, *cols.iter().max()?))
    }

    /// Renumbers every input column `i` to `i - by` (the expression moves to a row that
    /// starts `by` columns later).
    pub fn shift_columns(&mut self, by: usize) {
        if let Expr::Column(i) = self {
            *i = i.saturating_sub(by);
        }
        for c in self.children_mut() {
            c.shift_columns(by);
        }
    }

    /// Whether `self` or any sub-expression evaluated over the same row satisfies `f`.
    pub fn any(&self, f: &impl Fn(&Expr) -> bool) -> bool {
        f(self) || self.children().into_iter().any(|c| c.any(f))
    }

    /// Renumbers every input column `i` to `f(i)` (the expression moves to a row laid out
    /// differently).
    pub fn remap_columns(&mut self, f: &impl Fn(usize) -> usize) {
        if let Expr::Column(i) = self {
            *i = f(*i);
        }
        for c in self.children_mut() {
            c.remap_columns(f);
        }
    }

    /// Whether another thread may evaluate it, with a context of its own that has no
    /// subquery runner and no catalog (a parallel scan's workers): no subquery, no system
    /// function (some read the catalog when they have it), no sequence function, and no
    /// random numbers (their stream, which `setseed` fixes, is the statement thread's).
    pub fn parallel_safe(&self) -> bool {
        self.parallel_safe_with(&|_| false)
    }

    /// [`Expr::parallel_safe`], letting through the uncorrelated subqueries `hoisted`
    /// accepts: their results are computed before the workers start (see
    /// `run::parallel`), as PostgreSQL runs an InitPlan once for every worker.
    pub fn parallel_safe_with(&self, hoisted: &dyn Fn(&Subquery) -> bool) -> bool {
        !self.needs_catalog()
            && !self.any(&|e| match e {
                Expr::Subquery(s) => !(s.captures.is_empty() && hoisted(s)),
                Expr::Func(f, _) => f.is_volatile() || matches!(f, func::Func::Sys(_)),
                _ => false,
            })
    }

    /// The uncorrelated subqueries of the expression evaluated over the same row (not those
    /// inside other subqueries' plans), in order.
    pub fn uncorrelated_subqueries<'e>(&'e self, out: &mut Vec<&'e Subquery>) {
        if let Expr::Subquery(s) = self {
            if s.captures.is_empty() {
                out.push(s);
            }
        }
        for c in self.children() {
            c.uncorrelated_subqueries(out);
        }
    }

    /// Whether the expression reads no input column and gives the same value every time in
    /// one execution (outer references are fixed while a subquery runs).
    pub fn is_row_independent(&self) -> bool {
        match self {
            Expr::Column(_) | Expr::Subquery(_) | Expr::Case { .. } => false,
            Expr::Func(f, _) if f.is_volatile() => false,
            other => other.children().iter().all(|c| c.is_row_independent()),
        }
    }
}
