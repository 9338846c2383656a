//! One client's session: its transaction state (idle, in a block, failed block), its
//! settings (SET/SHOW), and statement execution with PostgreSQL's transaction semantics:
//! autocommit outside a block, BEGIN/COMMIT/ROLLBACK/SAVEPOINT inside one, and a failed block
//! that rejects everything but ROLLBACK with 25P02.
//!
//! Commits do not block the caller's thread: `execute` returns the commit's pending write
//! and the protocol layer awaits it before answering, so one slow fsync never stalls other
//! connections of the same worker.

use std::collections::BTreeMap;
use std::sync::Arc;

use orbit_txn::Pending;
use orbit_txn::{Isolation, LockWait, Transaction};
use sqlparser::ast;

mod activity;
mod at_commit;
pub(crate) use at_commit::Dropped;
mod copy_in;
mod implicit;
#[cfg(test)]
mod install_tests;
#[cfg(test)]
mod lock_policy_tests;
mod modes;
pub(crate) mod parallel;
mod settings;
#[cfg(test)]
mod snapshot_tests;

pub(crate) use settings::duration_ms;
pub use settings::DEFAULT_SETTINGS;

use crate::engine::SqlEngine;
use crate::error::{code, Error, Result};
use crate::exec::{self, Column, Ctx, Outcome};
use crate::types::{now_micros, DataType, Value};
use modes::{isolation_name, isolation_of, read_only_of, write_command};

/// Where the session is with respect to transaction blocks (ReadyForQuery's status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxStatus {
    Idle,
    InBlock,
    Failed,
}

/// The result of one statement, and the durable writes (its commit, sequence reservations)
/// its reply must wait for.
pub struct Executed {
    pub outcome: Outcome,
    pub waits: Vec<Pending>,
}

/// The implicit savepoint each statement of a block runs in (no SQL name can spell it).
const STATEMENT_SAVEPOINT: &str = "\0statement";

/// Autocommit statements failing with a serialization error are retried this many times here
/// (and again by the protocol layer after yielding, see [`Session::autocommit_retryable`]).
const AUTOCOMMIT_RETRIES: usize = 20;

/// A client session.
pub struct Session {
    engine: Arc<SqlEngine>,
    user: String,
    database: String,
    txn: Option<Transaction>,
    /// `TxnDb::read_mark` just before the open block's transaction took its snapshot.
    block_mark: u64,
    failed: bool,
    /// The open block is READ ONLY (BEGIN READ ONLY, SET TRANSACTION READ ONLY, or
    /// default_transaction_read_only at BEGIN).
    read_only: bool,
    settings: BTreeMap<String, String>,
    /// What RESET returns each setting to: the defaults and the startup parameters.
    reset_values: BTreeMap<String, String>,
    /// Writes queued by statements that were only described; the next reply waits for them.
    pending: Vec<Pending>,
    /// Values this session's nextval / setval gave (currval, lastval).
    sequences: exec::SeqState,
    /// Plans of the queries prepared statements ran (see `exec::PlanCache`).
    plans: exec::PlanCache,
    /// The COPY FROM STDIN in progress (between CopyInResponse and CopyDone / CopyFail).
    copy: Option<copy_in::CopyIn>,
    /// What the open block does when it commits.
    at_commit: at_commit::AtCommit,
    /// The open block is the implicit one of a multi-statement simple query (see
    /// `implicit`).
    implicit: bool,
    /// A query ran in the open block (its isolation level can no longer change).
    queried: bool,
    /// What the last statement that found a row locked waits for (see `take_lock_wait`).
    lock_wait: Option<LockWait>,
    /// Set by a CancelRequest while a statement runs (see `cancel`).
    cancel: Arc<crate::cancel::Cancel>,
    /// The pid the protocol layer gave this session's client, and what pg_stat_activity
    /// shows of it (see `activity`).
    activity: Option<Arc<crate::backends::Activity>>,
    /// When the open block began (now() inside it).
    block_now: i64,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(a) = &self.activity {
            self.engine.backends.unregister(a.pid, &self.cancel);
        }
        self.engine.track_session(&self.database, false);
    }
}

/// The schemas of `setting` (a search_path value) that exist in `database`'s catalog as
/// `txn` sees it (`$user` is `user`'s schema), and the first of them other than pg_catalog
/// (empty when none exists: nothing can be created without a schema).
pub(super) fn resolve_search_path(
    setting: &str,
    user: &str,
    database: &str,
    engine: &SqlEngine,
    txn: &mut Transaction,
) -> Result<(Vec<String>, String)> {
    let mut catalog = crate::catalog::Catalog::in_database(txn, engine.catalog, database)
        .versioned(&engine.catalog_cache);
    let mut path = Vec::new();
    for part in setting.split(',') {
        let name = part.trim();
        let name = if name == "$user" || name == "\"$user\"" {
            user.to_string()
        } else if let Some(quoted) = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
            quoted.replace("\"\"", "\"")
        } else {
            name.to_lowercase()
        };
        if !name.is_empty() && !path.contains(&name) && catalog.schema_exists(&name)? {
            path.push(name);
        }
    }
    let first = path
        .iter()
        .find(|s| s.as_str() != "pg_catalog")
        .cloned()
        .unwrap_or_default();
    Ok((path, first))
}

impl Session {
    /// The read stamp to take when a statement arrives (`TxnDb::read_stamp`).
    pub fn read_stamp(&self) -> u64 {
        self.engine.txn_db().read_stamp()
    }

    /// Whether `stmt`, arrived at `stamp`, may run now: `Ok(None)` yes, `Ok(Some(c))` once `c`
    /// completes (then ask again), `Err` never here. Only queries are gated: on a cluster
    /// leader a query waits until leadership is confirmed after it arrived (a deposed leader
    /// serves no stale read); on a follower it is refused (SQLSTATE 55000, naming the leader)
    /// unless `orbit.read_from` is `follower`. Writes need no gate: a node that does not lead
    /// cannot commit them.
    pub fn read_gate(
        &self,
        stmt: &ast::Statement,
        stamp: u64,
    ) -> Result<Option<Arc<orbit_txn::Completion>>> {
        if !matches!(
            stmt,
            ast::Statement::Query(_) | ast::Statement::Explain { .. }
        ) {
            return Ok(None);
        }
        let follower_ok = self.setting("orbit.read_from") == Some("follower");
        match self.engine.txn_db().read_gate(stamp, follower_ok) {
            orbit_txn::ReadGate::Ready => Ok(None),
            orbit_txn::ReadGate::Wait(c) => Ok(Some(c)),
            orbit_txn::ReadGate::Refuse(orbit_txn::Error::NotLeader { leader }) => Err(Error::new(
                code::OBJECT_NOT_IN_PREREQUISITE_STATE,
                match leader {
                    Some(l) => format!("this node is a follower: read from the leader at {l}"),
                    None => "this node cannot confirm a leader now".to_string(),
                },
            )
            .with_detail("SET orbit.read_from = 'follower' reads here, possibly stale.")),
            orbit_txn::ReadGate::Refuse(e) => Err(e.into()),
        }
    }

    pub(crate) fn new(engine: Arc<SqlEngine>, user: &str, database: &str) -> Session {
        engine.track_session(database, true);
        Session {
            engine,
            user: user.to_string(),
            database: database.to_string(),
            txn: None,
            block_mark: 0,
            failed: false,
            read_only: false,
            settings: DEFAULT_SETTINGS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            reset_values: DEFAULT_SETTINGS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            pending: Vec::new(),
            sequences: exec::SeqState::default(),
            plans: exec::PlanCache::default(),
            copy: None,
            at_commit: at_commit::AtCommit::default(),
            implicit: false,
            queried: false,
            lock_wait: None,
            cancel: crate::cancel::Cancel::new(),
            activity: None,
            block_now: 0,
        }
    }

    /// The session's cancel flag: the protocol layer marks each statement running with it
    /// and sets it when a CancelRequest names this session (see `cancel`).
    pub fn cancel(&self) -> Arc<crate::cancel::Cancel> {
        Arc::clone(&self.cancel)
    }

    /// The transaction status ReadyForQuery reports.
    pub fn status(&self) -> TxStatus {
        match (&self.txn, self.failed) {
            (_, true) => TxStatus::Failed,
            (Some(_), false) => TxStatus::InBlock,
            (None, false) => TxStatus::Idle,
        }
    }

    fn default_isolation(&self) -> Isolation {
        self.setting("default_transaction_isolation")
            .and_then(Isolation::from_sql)
            .unwrap_or(Isolation::ReadCommitted)
    }

    /// Marks the open block failed after an error (autocommit just rolls back).
    pub fn fail(&mut self) {
        if self.txn.is_some() {
            self.failed = true;
        }
    }

    /// The parameter types and result columns of `stmt` (Describe), without running it.
    pub fn describe(
        &mut self,
        stmt: &ast::Statement,
        declared: &[DataType],
    ) -> Result<(Vec<DataType>, Vec<Column>)> {
        self.describe_as(stmt, None, declared)
    }

    /// [`Session::describe`] of a statement being prepared as `id`: a query's plan is kept
    /// for its executions ([`Session::execute_prepared`]).
    pub fn describe_prepared(
        &mut self,
        stmt: &ast::Statement,
        id: u64,
        declared: &[DataType],
    ) -> Result<(Vec<DataType>, Vec<Column>)> {
        self.describe_as(stmt, Some(id), declared)
    }

    fn describe_as(
        &mut self,
        stmt: &ast::Statement,
        prepared: Option<u64>,
        declared: &[DataType],
    ) -> Result<(Vec<DataType>, Vec<Column>)> {
        if self.failed && !ends_block(stmt) {
            return Err(aborted());
        }
        if let Some(cols) = self.utility_columns(stmt) {
            return Ok((declared.to_vec(), cols));
        }
        let pid = self.backend_pid();
        let now = now_micros();
        let mut own;
        let txn = match self.txn.as_mut() {
            Some(t) => t,
            None => {
                own = self.engine.txn.begin(Isolation::ReadCommitted)?;
                &mut own
            }
        };
        // Planning reads the catalog as committed now.
        txn.begin_statement();
        let setting = self
            .settings
            .get("search_path")
            .map_or("public", String::as_str);
        let (path, schema) =
            resolve_search_path(setting, &self.user, &self.database, &self.engine, txn)?;
        let mut ctx = Ctx {
            engine: &self.engine,
            txn,
            params: &[],
            param_types: declared.to_vec(),
            user: &self.user,
            database: &self.database,
            schema: &schema,
            settings: &self.settings,
            sys: None,
            search_path: &path,
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
        let outcome = match prepared {
            Some(id) => self.plans.describe(id, &mut ctx, stmt),
            None => exec::run(&mut ctx, stmt, true),
        };
        self.pending.extend(ctx.finish_writes()?);
        let outcome = outcome?;
        let params = ctx
            .param_types
            .into_iter()
            .map(|t| {
                if t == DataType::Unknown {
                    DataType::Text
                } else {
                    t
                }
            })
            .collect();
        let cols = match outcome {
            Outcome::Rows { columns, .. } => columns,
            _ => Vec::new(),
        };
        Ok((params, cols))
    }

    /// The parameter SHOW names: its words joined by spaces (`transaction isolation level`),
    /// or by dots when that names a setting (`hnsw.ef_search`, which sqlparser splits).
    fn show_name(&self, variable: &[ast::Ident]) -> String {
        let words: Vec<String> = variable.iter().map(|i| i.value.to_lowercase()).collect();
        let dotted = words.join(".");
        if words.len() > 1 && self.setting(&dotted).is_some() {
            return dotted;
        }
        words.join(" ")
    }

    /// Result columns of statements answered by the session itself (SHOW).
    fn utility_columns(&self, stmt: &ast::Statement) -> Option<Vec<Column>> {
        match stmt {
            ast::Statement::ShowVariable { variable } => Some(vec![Column {
                name: self.show_name(variable),
                ty: DataType::Text,
                table_oid: 0,
                column: 0,
            }]),
            _ => None,
        }
    }

    /// Runs one statement with `params` (already decoded to the described types).
    pub fn execute(&mut self, stmt: &ast::Statement, params: &[Value]) -> Result<Executed> {
        self.execute_as(stmt, None, params)
    }

    /// Runs `stmt`, prepared once as `id` (a number no other statement of this session gets)
    /// with result columns `described` ([`Session::describe`]), and run any number of times:
    /// a query reuses its plan while nothing it depends on has changed, and fails (0A000)
    /// if its result columns are no longer those described (`exec::PlanCache`).
    pub fn execute_prepared(
        &mut self,
        stmt: &ast::Statement,
        id: u64,
        described: &[Column],
        params: &[Value],
    ) -> Result<Executed> {
        self.execute_as(stmt, Some((id, described)), params)
    }

    /// Executions of prepared statements that reused a plan.
    pub fn plan_cache_hits(&self) -> u64 {
        self.plans.hits()
    }

    fn execute_as(
        &mut self,
        stmt: &ast::Statement,
        prepared: Option<(u64, &[Column])>,
        params: &[Value],
    ) -> Result<Executed> {
        if self.copy.is_some() {
            // The client left a COPY FROM STDIN without CopyDone or CopyFail.
            self.abort_copy();
        }
        // A query's answer is dropped if a snapshot install (a follower's) overlapped it: it
        // may have read part old contents, part new (`TxnDb::read_intact`).
        let query = matches!(
            stmt,
            ast::Statement::Query(_)
                | ast::Statement::Explain { .. }
                | ast::Statement::Copy { to: true, .. }
        );
        let mark = self.engine.txn_db().read_mark();
        let result = self.execute_inner(stmt, prepared, params).and_then(|done| {
            if query {
                self.engine.txn_db().read_intact(mark)?;
                // A block's snapshot (REPEATABLE READ, SERIALIZABLE) is its start's.
                if let Some(t) = &self.txn {
                    if t.isolation() != Isolation::ReadCommitted {
                        self.engine.txn_db().read_intact(self.block_mark)?;
                    }
                }
            }
            Ok(done)
        });
        match result {
            Ok(mut done) => {
                done.waits.append(&mut self.pending);
                Ok(done)
            }
            // A statement that found a row locked was undone; the caller runs it again.
            Err(e) if e.is_lock_busy() => Err(e),
            Err(e) => {
                self.fail();
                Err(e)
            }
        }
    }

    /// Whether `e`, from a statement run outside a block, may be retried as a whole: a
    /// serialization failure of an autocommit statement is invisible to the client until
    /// reported, so the caller yields (letting the winning commit publish) and runs it again.
    pub fn autocommit_retryable(&self, e: &Error) -> bool {
        self.txn.is_none() && matches!(e, Error::Txn(t) if t.is_retryable())
    }

    /// After a statement failed with a busy row lock (it was undone): what to await before
    /// running it again, the lock owner's end (`None`: try again at once).
    pub fn take_lock_wait(&mut self) -> Option<LockWait> {
        self.lock_wait.take()
    }

    /// Writes the session queued that a reply must still wait for (e.g. after an error).
    pub fn take_pending(&mut self) -> Vec<Pending> {
        std::mem::take(&mut self.pending)
    }

    fn execute_inner(
        &mut self,
        stmt: &ast::Statement,
        prepared: Option<(u64, &[Column])>,
        params: &[Value],
    ) -> Result<Executed> {
        if self.failed && !ends_block(stmt) {
            return Err(aborted());
        }
        let done = |outcome| {
            Ok(Executed {
                outcome,
                waits: Vec::new(),
            })
        };
        if self.txn.is_some() {
            let what = match stmt {
                ast::Statement::CreateDatabase { .. } => Some("CREATE DATABASE"),
                ast::Statement::Drop {
                    object_type: ast::ObjectType::Database,
                    ..
                } => Some("DROP DATABASE"),
                _ => None,
            };
            if let Some(what) = what {
                return Err(Error::new(
                    code::ACTIVE_SQL_TRANSACTION,
                    format!("{what} cannot run inside a transaction block"),
                ));
            }
        }
        let read_only = match self.txn {
            Some(_) => self.read_only,
            None => self.setting("default_transaction_read_only") == Some("on"),
        };
        if read_only {
            if let Some(what) = write_command(stmt) {
                return Err(Error::new(
                    code::READ_ONLY_SQL_TRANSACTION,
                    format!("cannot execute {what} in a read-only transaction"),
                ));
            }
        }
        match stmt {
            ast::Statement::StartTransaction { modes, .. } => {
                if self.txn.is_some() {
                    // PostgreSQL warns and stays in the block; an implicit block (of a
                    // multi-statement query) becomes an explicit one.
                    self.implicit = false;
                    return done(Outcome::Begin("BEGIN".into()));
                }
                self.open_block(isolation_of(modes), read_only_of(modes), false)?;
                done(Outcome::Begin("BEGIN".into()))
            }
            ast::Statement::Commit { .. } => self.commit_block(),
            ast::Statement::Rollback {
                savepoint: Some(sp),
                ..
            } => {
                let txn = self.block_txn("ROLLBACK TO SAVEPOINT")?;
                txn.rollback_to(&crate::expr::ident_name(sp))?;
                self.at_commit.rollback_to(&crate::expr::ident_name(sp));
                self.failed = false;
                done(Outcome::Command("ROLLBACK".into()))
            }
            ast::Statement::Rollback { .. } => {
                if let Some(txn) = self.txn.take() {
                    txn.rollback();
                }
                self.at_commit.clear();
                self.failed = false;
                self.implicit = false;
                done(Outcome::End("ROLLBACK".into()))
            }
            ast::Statement::Savepoint { name } => {
                let txn = self.block_txn("SAVEPOINT")?;
                txn.savepoint(&crate::expr::ident_name(name))?;
                self.at_commit.savepoint(&crate::expr::ident_name(name));
                done(Outcome::Command("SAVEPOINT".into()))
            }
            ast::Statement::ReleaseSavepoint { name } => {
                let txn = self.block_txn("RELEASE SAVEPOINT")?;
                txn.release(&crate::expr::ident_name(name))?;
                self.at_commit.release(&crate::expr::ident_name(name));
                done(Outcome::Command("RELEASE".into()))
            }
            ast::Statement::Set(set) => done(self.set(set)?),
            ast::Statement::ShowVariable { variable } => {
                let name = self.show_name(variable);
                let value = match name.as_str() {
                    "transaction isolation level" | "transaction_isolation" => self
                        .txn
                        .as_ref()
                        .map(|t| isolation_name(t.isolation()).to_string())
                        .unwrap_or_else(|| isolation_name(self.default_isolation()).to_string()),
                    "transaction_read_only" if self.txn.is_some() => {
                        (if self.read_only { "on" } else { "off" }).to_string()
                    }
                    _ => self.setting(&name).map(str::to_string).ok_or_else(|| {
                        Error::new(
                            code::UNDEFINED_OBJECT,
                            format!("unrecognized configuration parameter \"{name}\""),
                        )
                    })?,
                };
                done(Outcome::Rows {
                    columns: self.utility_columns(stmt).unwrap_or_default(),
                    rows: vec![vec![Value::Text(value)]],
                    tag: "SHOW".into(),
                })
            }
            // Prepared statements live in the wire layer, where parsing a name again replaces
            // its statement, and SQL PREPARE does not exist here: nothing to free. Drivers
            // send this (psycopg's DEALLOCATE ALL after a failed transaction).
            ast::Statement::Deallocate { name, .. } => done(Outcome::Command(
                if name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all") {
                    "DEALLOCATE ALL".into()
                } else {
                    "DEALLOCATE".into()
                },
            )),
            ast::Statement::Discard { object_type } => {
                if matches!(object_type, ast::DiscardObject::ALL) {
                    if self.txn.is_some() {
                        return Err(Error::new(
                            code::ACTIVE_SQL_TRANSACTION,
                            "DISCARD ALL cannot run inside a transaction block",
                        ));
                    }
                    self.reset(None);
                    self.sequences = exec::SeqState::default();
                }
                done(Outcome::Command(format!("DISCARD {object_type}")))
            }
            ast::Statement::Reset(r) => {
                match &r.reset {
                    ast::Reset::ALL => self.reset(None),
                    ast::Reset::SessionAuthorization => {}
                    ast::Reset::ConfigurationParameter(name) => {
                        self.reset(Some(&name.to_string().to_lowercase()))
                    }
                }
                done(Outcome::Command("RESET".into()))
            }
            ast::Statement::Copy {
                source,
                to,
                target,
                options,
                ..
            } => match (to, target) {
                (_, ast::CopyTarget::File { .. } | ast::CopyTarget::Program { .. }) => {
                    Err(crate::copy::no_files())
                }
                (false, _) => self.copy_start(source, options),
                (true, _) => self.run_data_statement(stmt, prepared, params),
            },
            // VACUUM ANALYZE travels as an ANALYZE marked `compute_statistics`.
            ast::Statement::Vacuum(_)
            | ast::Statement::Analyze(ast::Analyze {
                compute_statistics: true,
                ..
            }) if self.txn.is_some() => Err(Error::new(
                code::ACTIVE_SQL_TRANSACTION,
                "VACUUM cannot run inside a transaction block",
            )),
            _ => self.run_data_statement(stmt, prepared, params),
        }
    }

    /// The open block's transaction, for `what` (which needs one).
    fn block_txn(&mut self, what: &str) -> Result<&mut Transaction> {
        self.txn.as_mut().ok_or_else(|| {
            Error::new(
                code::NO_ACTIVE_SQL_TRANSACTION,
                format!("{what} can only be used in transaction blocks"),
            )
        })
    }

    fn run_data_statement(
        &mut self,
        stmt: &ast::Statement,
        prepared: Option<(u64, &[Column])>,
        params: &[Value],
    ) -> Result<Executed> {
        let statement_now = now_micros();
        // now() is the block's start inside a block (PostgreSQL's transaction timestamp).
        let now = match self.txn {
            Some(_) => self.block_now,
            None => statement_now,
        };
        let pid = self.backend_pid();
        let interrupts = crate::cancel::Interrupts {
            deadline: self
                .settings
                .get("statement_timeout")
                .and_then(|v| duration_ms(v))
                .filter(|ms| *ms > 0)
                .map(|ms| std::time::Instant::now() + std::time::Duration::from_millis(ms)),
            cancel: Some(Arc::clone(&self.cancel)),
        };
        let setting = self
            .settings
            .get("search_path")
            .map_or("public", String::as_str);
        if let Some(txn) = self.txn.as_mut() {
            self.queried = true;
            txn.begin_statement();
            let (path, schema) =
                resolve_search_path(setting, &self.user, &self.database, &self.engine, txn)?;
            let mut ctx = Ctx {
                engine: &self.engine,
                txn,
                params,
                param_types: params.iter().map(Value::data_type).collect(),
                user: &self.user,
                database: &self.database,
                schema: &schema,
                settings: &self.settings,
                sys: None,
                search_path: &path,
                now,
                statement_now,
                pid,
                waits: Vec::new(),
                interrupts: interrupts.clone(),
                sequence_state: &mut self.sequences,
                dropped: Vec::new(),
                star_lists: None,
                lookups: Default::default(),
                cursors: Default::default(),
                ann_writes: Default::default(),
            };
            // The statement runs inside an implicit savepoint, so one that finds a row
            // locked can be undone alone and run again once the lock may be free.
            ctx.txn.savepoint(STATEMENT_SAVEPOINT)?;
            let outcome = match prepared {
                Some((id, described)) => self.plans.run(id, described, &mut ctx, stmt),
                None => exec::run(&mut ctx, stmt, false),
            };
            self.pending.extend(ctx.finish_writes()?);
            if outcome.is_ok() {
                self.at_commit.add(std::mem::take(&mut ctx.dropped));
            }
            if matches!(&outcome, Err(e) if e.is_lock_busy()) {
                self.lock_wait = txn.take_lock_wait();
                txn.rollback_to(STATEMENT_SAVEPOINT)?;
            }
            txn.release(STATEMENT_SAVEPOINT)?;
            return Ok(Executed {
                outcome: outcome?,
                waits: Vec::new(),
            });
        }
        // Autocommit: one transaction per statement, retried on serialization failures
        // (nothing was sent to the client yet, so a retry is invisible).
        let mut attempt = 0;
        loop {
            let mut txn = self.engine.txn.begin(self.default_isolation())?;
            txn.begin_statement();
            let setting = self
                .settings
                .get("search_path")
                .map_or("public", String::as_str);
            let (path, schema) =
                resolve_search_path(setting, &self.user, &self.database, &self.engine, &mut txn)?;
            let mut ctx = Ctx {
                engine: &self.engine,
                txn: &mut txn,
                params,
                param_types: params.iter().map(Value::data_type).collect(),
                user: &self.user,
                database: &self.database,
                schema: &schema,
                settings: &self.settings,
                sys: None,
                search_path: &path,
                now,
                statement_now,
                pid,
                waits: Vec::new(),
                interrupts: interrupts.clone(),
                sequence_state: &mut self.sequences,
                dropped: Vec::new(),
                star_lists: None,
                lookups: Default::default(),
                cursors: Default::default(),
                ann_writes: Default::default(),
            };
            let result = match prepared {
                Some((id, described)) => self.plans.run(id, described, &mut ctx, stmt),
                None => exec::run(&mut ctx, stmt, false),
            };
            self.pending.extend(ctx.finish_writes()?);
            let drops = std::mem::take(&mut ctx.dropped);
            let result = result.and_then(|outcome| {
                let wait = self.engine.commit(&mut txn)?;
                let mut waits: Vec<Pending> = wait.into_iter().collect();
                at_commit::release(&self.engine, drops, &mut waits)?;
                Ok(Executed { outcome, waits })
            });
            match result {
                Err(e) if e.is_lock_busy() => {
                    self.lock_wait = txn.take_lock_wait();
                    return Err(e);
                }
                Err(Error::Txn(e)) if e.is_retryable() && attempt < AUTOCOMMIT_RETRIES => {
                    attempt += 1;
                    // The winner may not be visible yet (its fsync is in flight, and it may
                    // belong to a connection of this very thread, so never block here): the
                    // caller retries after yielding, once the winner could publish.
                    if self.engine.txn.db().visible_seq() < self.engine.txn.db().assigned_seq() {
                        return Err(Error::Txn(e));
                    }
                }
                other => return other,
            }
        }
    }
}

fn ends_block(stmt: &ast::Statement) -> bool {
    matches!(
        stmt,
        ast::Statement::Rollback { .. } | ast::Statement::Commit { .. }
    )
}

fn aborted() -> Error {
    Error::new(
        code::IN_FAILED_TRANSACTION,
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}
