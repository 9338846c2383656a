//! COPY FROM STDIN in a session: the state between CopyInResponse and CopyDone / CopyFail,
//! and the transaction the rows go into: the open block's, or (outside a block) one of the
//! COPY's own that commits at CopyDone.
//!
//! All or nothing: a failure (bad data, a constraint, CopyFail) rolls the COPY's own
//! transaction back, and inside a block marks the block failed, as any failed statement does.

use orbit_txn::Pending;
use orbit_txn::Transaction;
use sqlparser::ast;

use super::{now_micros, Executed, Session};
use crate::copy::{CopyFrom, CopyOptions};
use crate::error::{code, Error, Result};
use crate::exec::{Ctx, Outcome};

/// A COPY FROM STDIN in progress.
pub(super) struct CopyIn {
    load: CopyFrom,
    /// The transaction of a COPY run outside a block (`None`: it writes into the block's).
    own: Option<Transaction>,
    schema: String,
    search_path: Vec<String>,
    now: i64,
    /// Sequence reservations made so far, not yet handed out.
    waits: Vec<Pending>,
}

fn no_copy() -> Error {
    Error::new(
        code::PROTOCOL_VIOLATION,
        "no COPY FROM STDIN is in progress",
    )
}

impl Session {
    /// Starts COPY FROM STDIN: checks the options, the table and the columns; the outcome
    /// asks the client for the data.
    pub(super) fn copy_start(
        &mut self,
        source: &ast::CopySource,
        options: &[ast::CopyOption],
    ) -> Result<Executed> {
        let ast::CopySource::Table {
            table_name,
            columns,
        } = source
        else {
            return Err(Error::syntax("COPY (query) FROM is not supported"));
        };
        let options = CopyOptions::new(options)?;
        let now = match self.txn {
            Some(_) => self.block_now,
            None => now_micros(),
        };
        let pid = self.backend_pid();
        let mut own = match self.txn {
            Some(_) => None,
            None => Some(self.engine.txn.begin(self.default_isolation())?),
        };
        let Some(txn) = own.as_mut().or(self.txn.as_mut()) else {
            return Err(no_copy());
        };
        // COPY is one statement: its rows' checks all read what was committed when it began.
        txn.begin_statement();
        let setting = self
            .settings
            .get("search_path")
            .map_or("public", String::as_str);
        let (search_path, schema) =
            super::resolve_search_path(setting, &self.user, &self.database, &self.engine, txn)?;
        let mut ctx = Ctx {
            engine: &self.engine,
            txn,
            params: &[],
            param_types: Vec::new(),
            user: &self.user,
            database: &self.database,
            schema: &schema,
            settings: &self.settings,
            sys: None,
            search_path: &search_path,
            now,
            statement_now: now,
            pid,
            waits: Vec::new(),
            interrupts: Default::default(),
            sequence_state: &mut self.sequences,
            dropped: Vec::new(),
            star_lists: None,
            lookups: Default::default(),
            cursors: Default::default(),
            ann_writes: Default::default(),
        };
        let load = CopyFrom::start(&mut ctx, table_name, columns, options);
        let waits = ctx.finish_writes()?;
        let load = match load {
            Ok(l) => l,
            Err(e) => {
                self.pending.extend(waits);
                return Err(e);
            }
        };
        let columns = load.columns();
        self.copy = Some(CopyIn {
            load,
            own,
            schema,
            search_path,
            now,
            waits,
        });
        Ok(Executed {
            outcome: Outcome::CopyIn { columns },
            waits: Vec::new(),
        })
    }

    /// Whether a COPY FROM STDIN is waiting for data.
    pub fn in_copy(&self) -> bool {
        self.copy.is_some()
    }

    /// Runs `f` on the COPY in progress, in its transaction.
    fn with_copy<T>(
        &mut self,
        f: impl FnOnce(&mut CopyFrom, &mut Ctx<'_>) -> Result<T>,
    ) -> Result<T> {
        let pid = self.backend_pid();
        let Session {
            engine,
            user,
            database,
            txn,
            copy,
            settings,
            sequences,
            ..
        } = self;
        let Some(c) = copy.as_mut() else {
            return Err(no_copy());
        };
        let Some(txn) = c.own.as_mut().or(txn.as_mut()) else {
            return Err(no_copy());
        };
        let mut ctx = Ctx {
            engine,
            txn,
            params: &[],
            param_types: Vec::new(),
            user,
            database,
            schema: &c.schema,
            settings,
            sys: None,
            search_path: &c.search_path,
            now: c.now,
            statement_now: c.now,
            pid,
            waits: Vec::new(),
            interrupts: Default::default(),
            sequence_state: sequences,
            dropped: Vec::new(),
            star_lists: None,
            lookups: Default::default(),
            cursors: Default::default(),
            ann_writes: Default::default(),
        };
        let result = f(&mut c.load, &mut ctx);
        c.waits.extend(ctx.finish_writes()?);
        result
    }

    /// Ends the COPY in progress as failed: its rows are gone, an open block is failed.
    pub(super) fn abort_copy(&mut self) {
        if let Some(c) = self.copy.take() {
            self.pending.extend(c.waits);
            if let Some(own) = c.own {
                own.rollback();
            }
        }
        self.fail();
    }

    /// A CopyData message: writes the rows it completes. Returns the writes it made (sequence
    /// reservations), which the caller must have awaited promptly: each is published, and
    /// every later write of any client made visible, only then. After an error the COPY is
    /// over (rolled back); data arriving with no COPY in progress is ignored, as PostgreSQL
    /// ignores the rest of a failed COPY's data.
    pub fn copy_data(&mut self, data: &[u8]) -> Result<Vec<Pending>> {
        if self.copy.is_none() {
            return Ok(Vec::new());
        }
        if let Err(e) = self.with_copy(|load, ctx| load.feed(ctx, data)) {
            self.abort_copy();
            return Err(e);
        }
        // Handed over at once: until its owner awaits (or drops) a write it is not
        // published, and no later write of any client becomes visible before it.
        Ok(self
            .copy
            .as_mut()
            .map(|c| std::mem::take(&mut c.waits))
            .unwrap_or_default())
    }

    /// CopyDone: writes a last unterminated line and commits a COPY outside a block; the
    /// outcome's tag is `COPY n`.
    pub fn copy_done(&mut self) -> Result<Executed> {
        let count = match self.with_copy(|load, ctx| load.finish(ctx)) {
            Ok(n) => n,
            Err(e) => {
                self.abort_copy();
                return Err(e);
            }
        };
        let Some(c) = self.copy.take() else {
            return Err(no_copy());
        };
        let mut waits = c.waits;
        if let Some(mut own) = c.own {
            match self.engine.commit(&mut own) {
                Ok(w) => waits.extend(w),
                Err(e) => {
                    self.pending.extend(waits);
                    return Err(e.into());
                }
            }
        }
        waits.append(&mut self.pending);
        Ok(Executed {
            outcome: Outcome::Command(format!("COPY {count}")),
            waits,
        })
    }

    /// CopyFail: the client gave up; the COPY is rolled back. Returns the error to report.
    pub fn copy_fail(&mut self, message: &str) -> Error {
        self.abort_copy();
        Error::new(
            code::QUERY_CANCELED,
            format!("COPY from stdin failed: {message}"),
        )
    }
}
