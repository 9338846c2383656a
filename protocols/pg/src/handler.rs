//! The pgwire handlers of one connection: startup (`crate::auth`, then the session created
//! for the startup's user and database), the simple query protocol, and the extended protocol whose
//! statements the session parses and describes.

use std::fmt::Debug;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use futures::{stream, Sink, SinkExt};
use orbit_exec::types::{DataType, Value};
use orbit_exec::{Column, Executed, Outcome, Session, Statement};
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::auth::StartupHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{DescribeResponse, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{ClientInfo, PgWireServerHandlers, Type, METADATA_DATABASE, METADATA_USER};
use pgwire::api::{ClientPortalStore, DEFAULT_NAME};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::data::{NoData, ParameterDescription};
use pgwire::messages::extendedquery::{Describe, TARGET_TYPE_BYTE_STATEMENT};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::error::{info, to_wire};
use crate::PgServer;
use crate::{copy, encode};

/// A statement as the extended protocol stores it: parsed, with its described parameter
/// types and result columns, and a number no other prepared statement gets (what the
/// session keeps its plan under).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub id: u64,
    /// The statement's text as pg_stat_activity shows it while a portal of it runs (its
    /// first kilobyte: `orbit_exec::backends::query_text`).
    pub sql: Arc<str>,
    pub stmt: Option<Statement>,
    pub params: Vec<DataType>,
    pub columns: Vec<Column>,
}

type SharedSession = Arc<Mutex<Option<Session>>>;

pub(crate) fn lock(s: &SharedSession) -> MutexGuard<'_, Option<Session>> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `f` on the connection's session.
pub(crate) fn with_session<T>(
    s: &SharedSession,
    f: impl FnOnce(&mut Session) -> Result<T, orbit_exec::Error>,
) -> PgWireResult<T> {
    let mut guard = lock(s);
    let Some(session) = guard.as_mut() else {
        return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
            "FATAL".into(),
            "08P01".into(),
            "no session: startup did not complete".into(),
        ))));
    };
    f(session).map_err(|e| to_wire(&e))
}

/// One connection's handlers.
pub struct Handlers {
    conn: Arc<Conn>,
}

impl Handlers {
    pub fn new(server: Arc<PgServer>, ended: Arc<crate::cancel::Ended>) -> Handlers {
        let session: SharedSession = Arc::new(Mutex::new(None));
        Handlers {
            conn: Arc::new(Conn {
                server,
                session: Arc::clone(&session),
                parser: Arc::new(Parser { session }),
                rest: Mutex::new(Vec::new()),
                registered: Mutex::new(None),
                ended,
            }),
        }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.conn)
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.conn)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        // Authentication (crate::auth) first; then `Conn::post_startup` creates the session.
        Arc::new(crate::auth::StartupAuth::new(
            Arc::clone(&self.conn.server.auth),
            Arc::clone(&self.conn),
        ))
    }

    fn copy_handler(&self) -> Arc<impl pgwire::api::copy::CopyHandler> {
        Arc::clone(&self.conn)
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::clone(&self.conn.server.cancels)
    }
}

pub struct Conn {
    server: Arc<PgServer>,
    pub(crate) session: SharedSession,
    parser: Arc<Parser>,
    /// Statements of a simple query after its COPY FROM STDIN: they run at CopyDone.
    pub(crate) rest: Mutex<Vec<Statement>>,
    /// The backend key CancelRequests name this session by (`cancel`).
    registered: Mutex<Option<crate::cancel::Registered>>,
    /// Set when pg_terminate_backend ends the session (the connection loop closes).
    ended: Arc<crate::cancel::Ended>,
}

#[async_trait]
impl NoopStartupHandler for Conn {
    async fn post_startup<C>(
        &self,
        client: &mut C,
        _message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let meta = client.metadata();
        let user = meta
            .get(METADATA_USER)
            .cloned()
            .unwrap_or_else(|| "postgres".into());
        let database = meta
            .get(METADATA_DATABASE)
            .cloned()
            .unwrap_or_else(|| user.clone());
        // A missing database ends the connection, as PostgreSQL does at startup.
        match self.server.engine.database_exists(&database) {
            Ok(true) => {}
            Ok(false) => {
                return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                    "FATAL".into(),
                    "3D000".into(),
                    format!("database \"{database}\" does not exist"),
                ))))
            }
            Err(e) => return Err(to_wire(&e)),
        }
        let mut session = self.server.engine.session(&user, &database);
        for (k, v) in meta.iter() {
            match k.as_str() {
                "user" | "database" => {}
                // `-c name=value` settings (libpq's `options`, `PGOPTIONS`).
                "options" => {
                    for (name, value) in crate::forward::startup_options(v) {
                        session.set_startup_parameter(&name, &value);
                    }
                }
                _ => session.set_startup_parameter(k, v),
            }
        }
        let (pid, key) = client.pid_and_secret_key();
        let ended = Arc::clone(&self.ended);
        session.set_backend(pid, Arc::new(move || ended.end()));
        let registered = self.server.cancels.register(pid, &key, session.cancel());
        *self
            .registered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(registered);
        *lock(&self.session) = Some(session);
        Ok(())
    }
}

/// The responses of one executed statement (command tags, rows in `format`).
pub(crate) fn response(executed: Outcome, format: &Format) -> Response {
    match executed {
        Outcome::Rows { columns, rows, tag } => {
            let fields = Arc::new(encode::fields(&columns, format));
            let data: Vec<PgWireResult<_>> = rows
                .iter()
                .map(|r| Ok(encode::data_row(r, &fields)))
                .collect();
            let mut q = QueryResponse::new(fields, stream::iter(data));
            // pgwire appends the row count itself (`INSERT 0` + ` 3`).
            let head = match tag.rsplit_once(' ') {
                Some((head, n)) if n.parse::<u64>().is_ok() => head,
                _ => tag.as_str(),
            };
            if !head.is_empty() {
                q.set_command_tag(head);
            }
            Response::Query(q)
        }
        Outcome::Command(tag) => Response::Execution(command_tag(&tag)),
        Outcome::Begin(tag) => Response::TransactionStart(Tag::new(&tag)),
        Outcome::End(tag) => Response::TransactionEnd(Tag::new(&tag)),
        Outcome::CopyIn { columns } => copy::copy_in_response(columns),
        Outcome::CopyOut {
            names,
            rows,
            encoder,
        } => copy::copy_out_response(names, rows, encoder),
    }
}

/// `INSERT 0 3` → Tag("INSERT").with_oid(0).with_rows(3); `UPDATE 2` → Tag("UPDATE")...
pub(crate) fn command_tag(tag: &str) -> Tag {
    let parts: Vec<&str> = tag.split(' ').collect();
    match parts.as_slice() {
        ["INSERT", oid, n] => Tag::new("INSERT")
            .with_oid(oid.parse().unwrap_or(0))
            .with_rows(n.parse().unwrap_or(0)),
        [cmd, n] if n.parse::<usize>().is_ok() && !cmd.is_empty() => {
            Tag::new(cmd).with_rows(n.parse().unwrap_or(0))
        }
        _ => Tag::new(tag),
    }
}

/// Why a statement runs again.
enum Retry {
    /// An autocommit statement lost a write conflict.
    Conflict,
    /// The statement found a row locked by another open transaction: what to await (the
    /// owner's end), and for how long at most (lock_timeout / statement_timeout).
    Locked(Option<orbit_exec::LockWait>, Option<std::time::Duration>),
}

/// Runs a statement, running it again when it lost a write conflict (autocommit: after a
/// short sleep) or found a row locked (in or out of a block: the session undid it; once the
/// lock's owner ended and its commit is visible, or the wait limit expired). Waiting awaits,
/// never blocks: the other transaction may be a connection of this thread. A CancelRequest
/// for the session while this runs fails the statement (57014) at its next interrupt check;
/// one during a row-lock wait ends the wait, and the statement fails if the row is still
/// locked.
/// `prepared`: the prepared statement's id and described result columns, if it is one (its
/// plan may be reused).
pub(crate) async fn execute(
    session: &SharedSession,
    stmt: &Statement,
    prepared: Option<(u64, &[Column])>,
    params: &[Value],
) -> PgWireResult<Executed> {
    let cancel = with_session(session, |s| Ok(s.cancel()))?;
    let _running = cancel.running();
    read_gate(session, stmt).await?;
    let mut attempt = 0u64;
    let started = std::time::Instant::now();
    loop {
        let result = {
            let mut guard = lock(session);
            let Some(s) = guard.as_mut() else {
                return with_session(session, |_| Err(orbit_exec::Error::syntax("no session")));
            };
            let autocommit = s.status() == orbit_exec::TxStatus::Idle;
            let result = match prepared {
                Some((id, described)) => s.execute_prepared(stmt, id, described, params),
                None => s.execute(stmt, params),
            };
            match result {
                Err(e) if autocommit && attempt < 50 && s.autocommit_retryable(&e) => {
                    Some(Retry::Conflict)
                }
                // A row is locked by another transaction: wait for it (PostgreSQL's row
                // locks), within lock_timeout / statement_timeout.
                Err(e) if e.is_lock_busy() => match s.lock_wait_limit() {
                    _ if cancel.canceled() => return Err(to_wire(&s.give_up_lock_wait())),
                    Some(limit) if started.elapsed() >= limit => {
                        return Err(to_wire(&s.give_up_lock_wait()))
                    }
                    limit => Some(Retry::Locked(
                        s.take_lock_wait(),
                        limit.map(|l| l.saturating_sub(started.elapsed())),
                    )),
                },
                other => return other.map_err(|e| to_wire(&e)),
            }
        };
        attempt += 1;
        settle_after_error(session).await;
        match result {
            Some(Retry::Locked(wait, left)) => tokio::select! {
                _ = wait_for_lock(wait, left) => {}
                _ = canceled(&cancel) => {}
            },
            _ => tokio::time::sleep(std::time::Duration::from_micros(200 * attempt)).await,
        }
    }
}

/// Resolves once the running statement is cancelled (looked at every 20 ms: a lock wait is
/// rare, and its wake-up is not worth a notification on every cancel flag).
async fn canceled(cancel: &orbit_exec::cancel::Cancel) {
    while !cancel.canceled() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Waits until the statement may read here (a cluster leader confirms its leadership after
/// the statement arrived; see `Session::read_gate`), or fails it (a follower).
async fn read_gate(session: &SharedSession, stmt: &Statement) -> PgWireResult<()> {
    let stamp = with_session(session, |s| Ok(s.read_stamp()))?;
    loop {
        let gate = with_session(session, |s| s.read_gate(stmt, stamp))?;
        match gate {
            None => return Ok(()),
            Some(round) => {
                let _ = orbit_exec::Pending::Replicated(round).await;
            }
        }
    }
}

/// Awaits a busy row lock's owner (at most `left`; nothing to await: yields once).
async fn wait_for_lock(wait: Option<orbit_exec::LockWait>, left: Option<std::time::Duration>) {
    let Some(wait) = wait else {
        return tokio::task::yield_now().await;
    };
    match left {
        // Expired: the statement runs once more and gives up if the lock is still busy.
        Some(left) => drop(tokio::time::timeout(left, wait).await),
        None => wait.await,
    }
}

/// Waits until the statement's writes are durable, then gives its outcome.
pub(crate) async fn finish(executed: Executed) -> Result<Outcome, orbit_exec::Error> {
    settle(executed.waits).await?;
    Ok(executed.outcome)
}

/// Awaits writes until they are durable and visible (every one, even after a failure:
/// dropping one would block), in sequence order: a write is visible only once every earlier
/// one is published, and an earlier one of this statement is published only when awaited.
pub(crate) async fn settle(mut waits: Vec<orbit_exec::Pending>) -> Result<(), orbit_exec::Error> {
    waits.sort_by_key(orbit_exec::Pending::seq);
    let mut first_error = None;
    for w in waits {
        if let Err(e) = w.await {
            first_error.get_or_insert(orbit_exec::Error::Txn(e));
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Waits for writes an errored statement had queued (sequence reservations).
pub(crate) async fn settle_after_error(session: &SharedSession) {
    let waits = lock(session)
        .as_mut()
        .map(Session::take_pending)
        .unwrap_or_default();
    let _ = settle(waits).await;
}

impl Conn {
    /// Rolls back the implicit transaction of a multi-statement query that failed.
    fn abandon_implicit(&self, implicit: bool) {
        if implicit {
            // Rolling back cannot fail; a missing session has nothing to roll back.
            let _ = with_session(&self.session, |s| s.end_implicit(false));
        }
    }
}

#[async_trait]
impl SimpleQueryHandler for Conn {
    async fn do_query<C>(&self, _client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let _reporting = Reporting::start(&self.session, orbit_exec::backends::query_text(query));
        let statements = match orbit_exec::parse_shared(query) {
            Ok(s) => s,
            Err(e) => {
                with_session(&self.session, |s| {
                    s.fail();
                    Ok(())
                })?;
                return Err(to_wire(&e));
            }
        };
        // A cancel counts from the first statement to the implicit commit after the last.
        let cancel = with_session(&self.session, |s| Ok(s.cancel()))?;
        let _running = cancel.running();
        let mut out = Vec::with_capacity(statements.len());
        // Several statements run as one implicit transaction (PostgreSQL's rule; a COPY
        // FROM STDIN among them runs its rest after the data, each on its own).
        let implicit = statements.len() > 1
            && !statements
                .iter()
                .any(|s| matches!(s, Statement::Copy { .. }));
        for (i, stmt) in statements.iter().enumerate() {
            if implicit {
                if let Err(e) = with_session(&self.session, Session::begin_implicit) {
                    out.push(self.error(wire_info(e)));
                    return Ok(out);
                }
            }
            let executed = execute(&self.session, stmt, None, &[]).await;
            let executed = match executed {
                Ok(e) => e,
                Err(e) => {
                    settle_after_error(&self.session).await;
                    self.abandon_implicit(implicit);
                    out.push(self.error(wire_info(e)));
                    return Ok(out);
                }
            };
            match finish(executed).await {
                Ok(outcome @ Outcome::CopyIn { .. }) => {
                    // The data comes next; the statements after it run at CopyDone.
                    out.push(response(outcome, &Format::UnifiedText));
                    if let Ok(mut rest) = self.rest.lock() {
                        *rest = statements.get(i + 1..).unwrap_or_default().to_vec();
                    }
                    return Ok(out);
                }
                Ok(outcome) => out.push(response(outcome, &Format::UnifiedText)),
                Err(e) => {
                    self.abandon_implicit(implicit);
                    out.push(self.error(info(&e)));
                    return Ok(out);
                }
            }
        }
        if implicit {
            let committed = match with_session(&self.session, |s| s.end_implicit(true)) {
                Ok(waits) => settle(waits).await.map_err(|e| info(&e)),
                Err(e) => Err(wire_info(e)),
            };
            if let Err(e) = committed {
                out.push(self.error(e));
            }
        }
        if out.is_empty() {
            out.push(Response::EmptyQuery);
        }
        Ok(out)
    }
}

impl Conn {
    /// A simple query's error response. A FATAL one (the session terminated) is the last
    /// message the connection sends: the loop must not send its own (`cancel::Ended`).
    fn error(&self, info: ErrorInfo) -> Response {
        if info.severity == "FATAL" {
            self.ended.tell();
        }
        Response::Error(Box::new(info))
    }
}

/// A client message's span in pg_stat_activity: its query reported when it starts, the
/// session's idle state (in a block or not) when it ends.
struct Reporting<'a>(&'a SharedSession);

impl<'a> Reporting<'a> {
    fn start(session: &'a SharedSession, query: Arc<str>) -> Reporting<'a> {
        if let Some(s) = lock(session).as_ref() {
            s.report_query(query);
        }
        Reporting(session)
    }
}

impl Drop for Reporting<'_> {
    fn drop(&mut self) {
        if let Some(s) = lock(self.0).as_ref() {
            s.report_idle();
        }
    }
}

pub(crate) fn wire_info(e: PgWireError) -> ErrorInfo {
    match e {
        PgWireError::UserError(i) => *i,
        other => ErrorInfo::new("ERROR".into(), "XX000".into(), other.to_string()),
    }
}

/// Parses and describes statements for the extended protocol.
pub struct Parser {
    session: SharedSession,
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut statements = orbit_exec::parse(sql).map_err(|e| to_wire(&e))?;
        if statements.len() > 1 {
            return Err(to_wire(&orbit_exec::Error::syntax(
                "cannot insert multiple commands into a prepared statement",
            )));
        }
        let Some(stmt) = statements.pop() else {
            return Ok(None);
        };
        let declared: Vec<DataType> = types.iter().map(encode::declared_type).collect();
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (params, columns) = with_session(&self.session, |s| {
            let r = s.describe_prepared(&stmt, id, &declared);
            if r.is_err() {
                s.fail();
            }
            r
        })?;
        Ok(Some(Prepared {
            id,
            sql: orbit_exec::backends::query_text(sql),
            stmt: Some(stmt),
            params,
            columns,
        }))
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(stmt.params.iter().map(encode::wire_type).collect())
    }

    fn get_result_schema(
        &self,
        stmt: &Prepared,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(encode::fields(
            &stmt.columns,
            column_format.unwrap_or(&Format::UnifiedText),
        ))
    }
}

#[async_trait]
impl ExtendedQueryHandler for Conn {
    type Statement = Prepared;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        Arc::clone(&self.parser)
    }

    /// Describe of a statement with parameters and no result columns (an INSERT, UPDATE or
    /// DELETE without RETURNING) answers ParameterDescription and NoData, as PostgreSQL
    /// does: pgwire 0.42 sends an empty RowDescription there, which JDBC takes for a result
    /// set ("A result was returned when none was expected"). Everything else is pgwire's.
    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if message.target_type == TARGET_TYPE_BYTE_STATEMENT {
            let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
            if let Some(Entry::Value(stmt)) = client.portal_store().get_statement(name) {
                let described = self.do_describe_statement(client, &stmt).await?;
                if described.fields().is_empty() {
                    let oids = described
                        .parameters()
                        .unwrap_or_default()
                        .iter()
                        .map(Type::oid)
                        .collect();
                    client
                        .send(PgWireBackendMessage::ParameterDescription(
                            ParameterDescription::new(oids),
                        ))
                        .await?;
                    client
                        .send(PgWireBackendMessage::NoData(NoData::new()))
                        .await?;
                    return Ok(());
                }
            }
        }
        self._on_describe(client, message).await
    }

    async fn do_query<C>(
        &self,
        _client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let prepared = &portal.statement.statement;
        let Some(stmt) = &prepared.stmt else {
            return Ok(Response::EmptyQuery);
        };
        let _reporting = Reporting::start(&self.session, Arc::clone(&prepared.sql));
        let types: Vec<DataType> = (0..portal.parameters.len())
            .map(|i| {
                portal
                    .statement
                    .parameter_types
                    .get(i)
                    .map(encode::declared_type)
                    .filter(|t| *t != DataType::Unknown)
                    .or_else(|| prepared.params.get(i).cloned())
                    .unwrap_or(DataType::Text)
            })
            .collect();
        let params = with_session(&self.session, |s| {
            encode::params(&portal.parameters, &portal.parameter_format, &types).inspect_err(|_| {
                s.fail();
            })
        })?;
        let executed = execute(
            &self.session,
            stmt,
            Some((prepared.id, &prepared.columns)),
            &params,
        )
        .await;
        let executed = match executed {
            Ok(e) => e,
            Err(e) => {
                settle_after_error(&self.session).await;
                return Err(e);
            }
        };
        let outcome = finish(executed).await.map_err(|e| to_wire(&e))?;
        Ok(response(outcome, &portal.result_column_format))
    }
}
