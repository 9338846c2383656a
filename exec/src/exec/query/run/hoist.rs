//! Uncorrelated subqueries under a parallel run: PostgreSQL's InitPlans. A subquery that
//! reads nothing from the row it is evaluated on (`Subquery::captures` empty) has one
//! result per statement, so the statement's thread computes it before the workers start,
//! and the workers read that result instead of running the subquery (they have no runner
//! of their own). `c_acctbal > (SELECT avg(c_acctbal) ...)`, `x IN (SELECT ...)` and
//! `EXISTS (SELECT ...)` in a scan's filter then no longer keep the scan on one thread.
//!
//! Invariant: a worker meets only subqueries whose results are here. [`Hoist::safe`] is the
//! predicate the parallel plan check asks of every expression a worker evaluates; it notes
//! the uncorrelated subqueries it lets through, and exactly those are computed.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use super::super::SelectPlan;
use super::Runner;
use crate::error::{code, Error, Result};
use crate::expr::{Expr, KeySet, SeqOp, SubKind, Subquery, SubqueryExec};
use crate::types::{BinaryOp, Value};

/// The uncorrelated subqueries the expressions asked about hold (see the module doc).
#[derive(Default)]
pub(super) struct Hoist<'s> {
    noted: RefCell<Vec<&'s Subquery>>,
}

impl<'s> Hoist<'s> {
    /// Whether a worker may evaluate `e` once its uncorrelated subqueries are computed
    /// ([`Expr::parallel_safe_with`]); if so, notes them.
    pub(super) fn safe(&self, e: &'s Expr) -> bool {
        if !e.parallel_safe_with(&|_| true) {
            return false;
        }
        e.uncorrelated_subqueries(&mut self.noted.borrow_mut());
        true
    }
}

/// The results of a parallel run's uncorrelated subqueries, by plan address; the workers'
/// subquery runner.
#[derive(Default)]
pub(super) struct Hoisted {
    rows: HashMap<usize, Arc<Vec<Vec<Value>>>>,
    sets: HashMap<usize, Arc<KeySet>>,
    exists: HashMap<usize, bool>,
}

fn id(plan: &SelectPlan) -> usize {
    std::ptr::from_ref(plan) as usize
}

fn missing() -> Error {
    Error::new(
        code::INTERNAL_ERROR,
        "a parallel worker met a subquery computed for no worker",
    )
}

impl Runner<'_, '_> {
    /// Computes the subqueries `hoist` noted, on this thread (each once per statement: the
    /// runner caches uncorrelated results). None when one fails: the caller then runs the
    /// plan on this thread, which reports the error if it evaluates that subquery, as
    /// PostgreSQL evaluates an InitPlan only when it is first needed.
    pub(super) fn hoisted(&self, hoist: &Hoist<'_>) -> Option<Hoisted> {
        let mut out = Hoisted::default();
        for s in hoist.noted.borrow().iter() {
            let at = id(&s.plan);
            let done = match &s.kind {
                SubKind::Exists => self.exists(&s.plan, &[]).map(|e| {
                    out.exists.insert(at, e);
                }),
                kind => self.rows(&s.plan, &[]).and_then(|rows| {
                    out.rows.insert(at, rows);
                    // The set `Subquery::eval` asks for: `= ANY` and `<> ALL` only.
                    if let SubKind::Quantified { op, all, .. } = kind {
                        if matches!((op, all), (BinaryOp::Eq, false) | (BinaryOp::NotEq, true)) {
                            if let Some(set) = self.key_set(&s.plan)? {
                                out.sets.insert(at, set);
                            }
                        }
                    }
                    Ok(())
                }),
            };
            done.ok()?;
        }
        Some(out)
    }
}

impl SubqueryExec for Hoisted {
    fn rows(&self, plan: &SelectPlan, outer: &[Value]) -> Result<Arc<Vec<Vec<Value>>>> {
        match self.rows.get(&id(plan)) {
            Some(rows) if outer.is_empty() => Ok(Arc::clone(rows)),
            _ => Err(missing()),
        }
    }

    fn exists(&self, plan: &SelectPlan, outer: &[Value]) -> Result<bool> {
        match self.exists.get(&id(plan)) {
            Some(e) if outer.is_empty() => Ok(*e),
            _ => Err(missing()),
        }
    }

    fn key_set(&self, plan: &SelectPlan) -> Result<Option<Arc<KeySet>>> {
        Ok(self.sets.get(&id(plan)).cloned())
    }

    fn sequence(&self, _: SeqOp, _: Option<&str>, _: Option<i64>, _: bool) -> Result<i64> {
        Err(missing())
    }
}
