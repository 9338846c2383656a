//! `orbit-exec`: Orbit's SQL with PostgreSQL's semantics, on `orbit-txn`.
//!
//! ```text
//!  sql ─▶ sqlparser (PostgreSQL dialect) ─▶ session (transaction state, SET/SHOW)
//!      ─▶ exec: bind against the catalog (expr) ─▶ plan (access path) ─▶ run ─▶ Outcome
//! ```
//!
//! Modules: `parse` (SQL text to statements), `copy` (COPY FROM STDIN / TO STDOUT), `types`
//! (SQL types and values: text and binary forms, casts, operators, key encoding), `catalog`
//! (schemas, tables, columns and constraints stored in the engine, transactional), `sequence`
//! (non-transactional counters), `row` (row and key encodings), `expr` (binding and
//! evaluation), `exec` (statements), `session`, `engine`.
//!
//! Invariants: every read and write of a statement goes through the session's transaction
//! (catalog included, so DDL is transactional); errors carry PostgreSQL's SQLSTATE; nothing
//! here knows about the wire protocol or sequence numbers.

pub mod backends;
pub mod cancel;
pub mod catalog;
pub mod copy;
mod engine;
pub mod error;
pub mod exec;
pub mod expr;
pub mod memory;
mod parse;
pub mod row;
pub mod sequence;
mod session;
#[cfg(test)]
mod test_support;
pub mod types;

pub use engine::SqlEngine;
pub use error::{Error, Result};
pub use exec::ann_graph::AnnStats;
pub use exec::ann_reclaim::Round as VectorReclaim;
pub use exec::{Column, Outcome};
pub use orbit_txn::LockWait;
pub use orbit_txn::Pending;
pub use orbit_txn::{client_address, Leadership};
pub use parse::{parse, parse_shared};
pub use session::{Executed, Session, TxStatus, DEFAULT_SETTINGS};
pub use sqlparser::ast::Statement;
