//! What interrupts a running statement besides the server's shutdown: its deadline
//! (statement_timeout) and its session's cancel flag, which a PostgreSQL CancelRequest sets.
//! A cancel arrives on a connection of its own, often on another worker thread, while the
//! statement runs on its session's thread; so the flag is an atomic, read wherever a
//! statement looks at its deadline (between chunks of rows scanned or joined).
//!
//! Invariant: a cancel counts only while a statement runs ([`Cancel::running`] to the
//! guard's drop). One that arrives between statements is dropped, as PostgreSQL drops a
//! cancel that finds its backend idle; a cancelled statement's guard clears it, so it never
//! reaches the next one. A termination (`pg_terminate_backend`) is never cleared: it stops
//! the running statement, if any, and the protocol layer closes the connection.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::error::{code, Error, Result};

const IDLE: u8 = 0;
const RUNNING: u8 = 1;
const CANCELED: u8 = 2;

/// A session's cancel flag.
#[derive(Debug, Default)]
pub struct Cancel {
    state: AtomicU8,
    terminated: AtomicBool,
}

impl Cancel {
    pub fn new() -> Arc<Cancel> {
        Arc::new(Cancel::default())
    }

    /// Marks a statement as running until the guard drops. Inside another guard's span (a
    /// statement of a multi-statement query) it does nothing: the outer guard ends the span.
    pub fn running(self: &Arc<Self>) -> Running {
        let idle = self
            .state
            .compare_exchange(IDLE, RUNNING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        Running(idle.then(|| Arc::clone(self)))
    }

    /// Cancels the running statement; false if none was running (nothing happens).
    pub fn cancel(&self) -> bool {
        self.state
            .compare_exchange(RUNNING, CANCELED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Ends the session: its running statement stops, and so does every later one, until
    /// the protocol layer, which looks at [`Cancel::terminated`] after each message, closes
    /// the connection.
    pub fn terminate(&self) {
        self.terminated.store(true, Ordering::SeqCst);
    }

    /// Whether a statement runs (between [`Cancel::running`] and its guard's drop).
    pub fn is_running(&self) -> bool {
        self.state.load(Ordering::SeqCst) != IDLE
    }

    /// Whether the session was terminated.
    pub fn terminated(&self) -> bool {
        self.terminated.load(Ordering::Relaxed)
    }

    /// Whether the running statement must stop (cancelled, or its session terminated).
    pub fn canceled(&self) -> bool {
        self.error().is_some()
    }

    /// The error the running statement stops with, if it must stop.
    pub fn error(&self) -> Option<Error> {
        if self.terminated() {
            Some(terminating())
        } else if self.state.load(Ordering::Relaxed) == CANCELED {
            Some(canceled())
        } else {
            None
        }
    }
}

/// A running statement (see [`Cancel::running`]); None inside another guard's span.
#[derive(Debug)]
pub struct Running(Option<Arc<Cancel>>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = &self.0 {
            c.state.store(IDLE, Ordering::SeqCst);
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
        if let Some(e) = self.cancel.as_ref().and_then(|c| c.error()) {
            return Err(e);
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

/// The error of a session ended by `pg_terminate_backend` or the server's shutdown (57P01).
pub fn terminating() -> Error {
    Error::new(
        code::ADMIN_SHUTDOWN,
        "terminating connection due to administrator command",
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
    fn a_termination_stops_every_statement_from_then_on() {
        let c = Cancel::new();
        let stop = Interrupts {
            deadline: None,
            cancel: Some(Arc::clone(&c)),
        };
        // Idle: not dropped, unlike a cancel.
        c.terminate();
        assert!(c.terminated() && c.canceled());
        let running = c.running();
        assert_eq!(stop.check().unwrap_err().sqlstate(), "57P01");
        drop(running);
        assert_eq!(stop.check().unwrap_err().sqlstate(), "57P01");
        // It outranks a cancel of the same statement.
        let _running = c.running();
        assert!(c.cancel());
        assert_eq!(
            c.error().map(|e| e.sqlstate().to_string()).as_deref(),
            Some("57P01")
        );
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
