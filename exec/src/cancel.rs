//! What interrupts a running statement besides the server's shutdown: its deadline
//! (statement_timeout) and its session's cancel flag, which a PostgreSQL CancelRequest sets.
//! A cancel arrives on a connection of its own, often on another worker thread, while the
//! statement runs on its session's thread; so the flag is an atomic, read wherever a
//! statement looks at its deadline (between chunks of rows scanned or joined).
//!
//! Invariant: a cancel counts only while a statement runs ([`Cancel::running`] to the
//! guard's drop). One that arrives between statements is dropped, as PostgreSQL drops a
//! cancel that finds its backend idle; a cancelled statement's guard clears it, so it never
//! reaches the next one.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::error::{code, Error, Result};

const IDLE: u8 = 0;
const RUNNING: u8 = 1;
const CANCELED: u8 = 2;

/// A session's cancel flag.
#[derive(Debug, Default)]
pub struct Cancel(AtomicU8);

impl Cancel {
    pub fn new() -> Arc<Cancel> {
        Arc::new(Cancel::default())
    }

    /// Marks a statement as running until the guard drops. Inside another guard's span (a
    /// statement of a multi-statement query) it does nothing: the outer guard ends the span.
    pub fn running(self: &Arc<Self>) -> Running {
        let idle = self
            .0
            .compare_exchange(IDLE, RUNNING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        Running(idle.then(|| Arc::clone(self)))
    }

    /// Cancels the running statement; false if none was running (nothing happens).
    pub fn cancel(&self) -> bool {
        self.0
            .compare_exchange(RUNNING, CANCELED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Whether the running statement was cancelled.
    pub fn canceled(&self) -> bool {
        self.0.load(Ordering::Relaxed) == CANCELED
    }
}

/// A running statement (see [`Cancel::running`]); None inside another guard's span.
#[derive(Debug)]
pub struct Running(Option<Arc<Cancel>>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = &self.0 {
            c.0.store(IDLE, Ordering::SeqCst);
        }
    }
}

/// What may interrupt a statement: its deadline and its session's cancel flag.
#[derive(Debug, Clone, Default)]
pub struct Interrupts {
    pub deadline: Option<Instant>,
    pub cancel: Option<Arc<Cancel>>,
}

impl Interrupts {
    /// The error the statement fails with if it must stop now (57014).
    pub fn check(&self) -> Result<()> {
        if self.cancel.as_ref().is_some_and(|c| c.canceled()) {
            return Err(canceled());
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(timeout());
        }
        Ok(())
    }
}

/// A CancelRequest's error.
pub fn canceled() -> Error {
    Error::new(
        code::QUERY_CANCELED,
        "canceling statement due to user request",
    )
}

/// statement_timeout's error.
fn timeout() -> Error {
    Error::new(
        code::QUERY_CANCELED,
        "canceling statement due to statement timeout",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancel_counts_only_while_a_statement_runs() {
        let c = Cancel::new();
        let stop = Interrupts {
            deadline: None,
            cancel: Some(Arc::clone(&c)),
        };
        // Idle: dropped.
        assert!(!c.cancel());
        let running = c.running();
        assert!(stop.check().is_ok());
        assert!(c.cancel());
        let e = stop.check().unwrap_err();
        assert_eq!(e.sqlstate(), "57014");
        assert!(e.to_string().contains("user request"), "{e}");
        drop(running);
        // The next statement starts clean.
        let next = c.running();
        assert!(stop.check().is_ok());
        // A guard inside another's span leaves the span to the outer one.
        let inner = c.running();
        drop(inner);
        assert!(c.cancel());
        assert!(stop.check().is_err());
        drop(next);
        assert!(stop.check().is_ok() && !c.cancel());
    }

    #[test]
    fn a_passed_deadline_times_out() {
        let stop = Interrupts {
            deadline: Some(Instant::now()),
            cancel: None,
        };
        assert!(stop.check().unwrap_err().to_string().contains("timeout"));
        assert!(Interrupts::default().check().is_ok());
    }
}
