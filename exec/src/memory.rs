//! The server's memory budget for queries' intermediate results.
//!
//! The executor holds intermediate rows in memory (it does not spill), so a query joining
//! or scanning more than the machine holds would otherwise end with the process killed. Each
//! statement charges the rows it keeps (scan results, join inputs and outputs, hash tables,
//! aggregation and projection results) against one server-wide [`QueryMemory`], and fails
//! with SQLSTATE 53200 (out of memory) when the budget would be exceeded, leaving the server
//! and every other session running.
//!
//! Sizes are estimates ([`row_bytes`]): each value's inline size plus what it owns on the
//! heap. Invariant: a statement's [`Charge`] returns everything it still holds when dropped,
//! so errors, cancellations and early returns never leak budget.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{code, Error, Result};
use crate::types::Value;

/// The budget shared by every statement of a server.
#[derive(Debug)]
pub struct QueryMemory {
    used: AtomicUsize,
    limit: AtomicUsize,
}

impl Default for QueryMemory {
    fn default() -> QueryMemory {
        QueryMemory::new(usize::MAX)
    }
}

impl QueryMemory {
    pub fn new(limit: usize) -> QueryMemory {
        QueryMemory {
            used: AtomicUsize::new(0),
            limit: AtomicUsize::new(limit),
        }
    }

    /// Changes the budget (statements already holding more keep it until they finish).
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Bytes held by running statements.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes `n` bytes if the budget has them.
    fn take(&self, n: usize) -> bool {
        let limit = self.limit();
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                u.checked_add(n).filter(|t| *t <= limit)
            })
            .is_ok()
    }

    fn give(&self, n: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(n))
            });
    }
}

/// One statement's share of the budget.
pub struct Charge<'m> {
    pool: &'m QueryMemory,
    held: Cell<usize>,
}

impl<'m> Charge<'m> {
    pub fn new(pool: &'m QueryMemory) -> Charge<'m> {
        Charge {
            pool,
            held: Cell::new(0),
        }
    }

    /// Accounts `n` more bytes, or fails with 53200 when the server's budget lacks them.
    pub fn charge(&self, n: usize) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        if !self.pool.take(n) {
            let mb = |b: usize| b.div_ceil(1 << 20);
            return Err(
                Error::new(code::OUT_OF_MEMORY, "out of memory").with_detail(format!(
                    "The query's intermediate results need more than the {} MB of query memory \
                     left (this statement holds {} MB; the server's limit, --query-memory, is \
                     {} MB). Orbit keeps intermediate results in memory: join or scan fewer \
                     rows, or raise the limit.",
                    mb(self.pool.limit().saturating_sub(self.pool.used())),
                    mb(self.held.get()),
                    mb(self.pool.limit()),
                )),
            );
        }
        self.held.set(self.held.get() + n);
        Ok(())
    }

    /// Returns up to `n` bytes this statement holds.
    pub fn release(&self, n: usize) {
        let n = n.min(self.held.get());
        self.held.set(self.held.get() - n);
        self.pool.give(n);
    }

    /// Moves the charge of a holding that was `from` bytes to its new size, `to` (charged
    /// if it grew, released if it shrank).
    pub fn resize(&self, from: usize, to: usize) -> Result<()> {
        if to >= from {
            self.charge(to - from)
        } else {
            self.release(from - to);
            Ok(())
        }
    }

    /// Bytes this statement holds.
    pub fn held(&self) -> usize {
        self.held.get()
    }
}

impl Drop for Charge<'_> {
    fn drop(&mut self) {
        self.pool.give(self.held.get());
    }
}

/// Estimated bytes of one value: its inline size plus what it owns.
pub fn value_bytes(v: &Value) -> usize {
    let heap = match v {
        Value::Text(s) | Value::Json(s) => s.capacity(),
        Value::Bytea(b) => b.capacity(),
        Value::Array(_, items) | Value::Record(items) => items.iter().map(value_bytes).sum(),
        Value::Vector(x) | Value::HalfVec(x) => x.capacity() * 4,
        // Without walking the document: a typical small object.
        Value::Jsonb(_) => 128,
        Value::Numeric(_) => 32,
        _ => 0,
    };
    std::mem::size_of::<Value>() + heap
}

/// Estimated bytes of a row held in a vector of rows.
pub fn row_bytes(row: &[Value]) -> usize {
    std::mem::size_of::<Vec<Value>>() + row.iter().map(value_bytes).sum::<usize>()
}

/// Estimated bytes of `rows`.
pub fn rows_bytes(rows: &[Vec<Value>]) -> usize {
    rows.iter().map(|r| row_bytes(r)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_fail_past_the_limit_and_return_on_drop() {
        let pool = QueryMemory::new(1000);
        {
            let a = Charge::new(&pool);
            a.charge(600).unwrap();
            let b = Charge::new(&pool);
            let e = b.charge(500).unwrap_err();
            assert_eq!(e.sqlstate(), "53200");
            b.charge(400).unwrap();
            assert_eq!(pool.used(), 1000);
            a.release(10_000);
            assert_eq!(a.held(), 0);
            assert_eq!(pool.used(), 400);
            // A holding that shrinks gives back the difference, one that grows takes it.
            b.resize(400, 100).unwrap();
            assert_eq!((b.held(), pool.used()), (100, 100));
            b.resize(100, 700).unwrap();
            assert_eq!((b.held(), pool.used()), (700, 700));
            assert_eq!(b.resize(700, 1001).unwrap_err().sqlstate(), "53200");
        }
        assert_eq!(pool.used(), 0, "dropped charges return their bytes");
    }

    #[test]
    fn sizes_count_owned_memory() {
        let small = row_bytes(&[Value::Int4(1)]);
        let text = row_bytes(&[Value::Text("x".repeat(1000))]);
        assert!(text >= small + 1000);
        assert!(
            rows_bytes(&[vec![Value::Null], vec![Value::Null]]) == 2 * row_bytes(&[Value::Null])
        );
    }
}
