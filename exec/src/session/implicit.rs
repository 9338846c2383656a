//! Transaction blocks that end with a COMMIT, and the implicit block of a multi-statement
//! simple query.
//!
//! PostgreSQL runs the statements of one simple Query message as one transaction unless they
//! hold transaction control of their own: an error rolls back every statement of the message
//! before it; a BEGIN among them makes the block an ordinary one that outlives the message;
//! a COMMIT or ROLLBACK among them ends the block, and the statements after it start another.
//! The protocol layer calls [`Session::begin_implicit`] before each statement of such a
//! message and [`Session::end_implicit`] after the last one or at the first error.

use orbit_txn::Isolation;
use orbit_txn::Pending;

use super::{Executed, Session};
use crate::error::Result;
use crate::exec::Outcome;

impl Session {
    /// Opens the implicit block of a multi-statement query unless a block is open.
    pub fn begin_implicit(&mut self) -> Result<()> {
        if self.txn.is_some() {
            return Ok(());
        }
        self.open_block(None, None, true)
    }

    /// Opens a transaction block (explicit, or the `implicit` one of a multi-statement query)
    /// at `isolation` and in `read_only` mode, the session's defaults where not given.
    pub(super) fn open_block(
        &mut self,
        isolation: Option<Isolation>,
        read_only: Option<bool>,
        implicit: bool,
    ) -> Result<()> {
        let isolation = isolation.unwrap_or_else(|| self.default_isolation());
        self.block_mark = self.engine.txn_db().read_mark();
        self.block_now = crate::types::now_micros();
        self.txn = Some(self.engine.txn.begin(isolation)?);
        self.failed = false;
        self.queried = false;
        self.read_only = read_only
            .unwrap_or_else(|| self.setting("default_transaction_read_only") == Some("on"));
        self.at_commit.clear();
        self.implicit = implicit;
        Ok(())
    }

    /// Ends the implicit block, if one is open: commits it when `commit` (the writes to wait
    /// for are returned), else rolls it back.
    pub fn end_implicit(&mut self, commit: bool) -> Result<Vec<Pending>> {
        if !std::mem::take(&mut self.implicit) {
            return Ok(Vec::new());
        }
        if commit {
            return self.commit_block().map(|e| e.waits);
        }
        if let Some(txn) = self.txn.take() {
            txn.rollback();
        }
        self.failed = false;
        self.at_commit.clear();
        Ok(Vec::new())
    }

    /// COMMIT: ends the open block, rolling it back if it failed.
    pub(super) fn commit_block(&mut self) -> Result<Executed> {
        self.implicit = false;
        let end = |tag: &str, waits| {
            Ok(Executed {
                outcome: Outcome::End(tag.into()),
                waits,
            })
        };
        let Some(mut txn) = self.txn.take() else {
            return end("COMMIT", Vec::new());
        };
        if std::mem::take(&mut self.failed) {
            txn.rollback();
            self.at_commit.clear();
            return end("ROLLBACK", Vec::new());
        }
        let wait = match self.engine.commit(&mut txn) {
            Ok(wait) => wait,
            Err(e) => {
                self.at_commit.clear();
                return Err(e.into());
            }
        };
        let mut waits: Vec<Pending> = wait.into_iter().collect();
        self.at_commit.commit(&self.engine, &mut waits)?;
        end("COMMIT", waits)
    }
}
