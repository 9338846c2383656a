//! What a locking SELECT (`FOR UPDATE` / `FOR SHARE`, with `NOWAIT` or `SKIP LOCKED`) asks of
//! the rows it reads: planned onto the tables its FROM reads, applied by the scans that lock
//! them.
//!
//! Invariant: a table's `lock` policy matters only where the table is `for_update`, and the
//! scans set it on the transaction only around their own locked reads: every other lock the
//! statement takes (an UPDATE's, a subquery's without the clause) still waits.

use orbit_txn::LockPolicy;
use sqlparser::ast;

use super::from::{Source, TableSource};
use crate::error::Result;
use crate::exec::Ctx;

/// Whether `query` locks the rows it reads, and what it does with rows others hold locked.
pub(super) fn of(query: &ast::Query) -> (bool, LockPolicy) {
    let locks = query
        .locks
        .iter()
        .any(|l| matches!(l.lock_type, ast::LockType::Update | ast::LockType::Share));
    let policy = query
        .locks
        .iter()
        .find_map(|l| match l.nonblock {
            Some(ast::NonBlock::Nowait) => Some(LockPolicy::NoWait),
            Some(ast::NonBlock::SkipLocked) => Some(LockPolicy::SkipLocked),
            None => None,
        })
        .unwrap_or_default();
    (locks, policy)
}

/// Gives the tables of a FROM tree (not those of its subqueries, planned with their own
/// clause) `policy`.
pub(super) fn apply(source: &mut Source, policy: LockPolicy) {
    match source {
        Source::Table(t) => t.lock = policy,
        Source::Join(j) => {
            apply(&mut j.left, policy);
            apply(&mut j.right, policy);
        }
        _ => {}
    }
}

/// `read` (reads of `t` that may lock its rows) under `t`'s policy.
pub(super) fn reading<T>(
    ctx: &mut Ctx<'_>,
    t: &TableSource,
    read: impl FnOnce(&mut Ctx<'_>) -> Result<T>,
) -> Result<T> {
    if !t.for_update || t.lock == LockPolicy::Wait {
        return read(ctx);
    }
    let before = ctx.txn.set_lock_policy(t.lock);
    let done = read(ctx);
    ctx.txn.set_lock_policy(before);
    done
}
