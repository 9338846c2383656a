//! The COPY sub-protocol on pgwire: CopyInResponse / CopyOutResponse for the session's COPY
//! outcomes, and the CopyHandler that hands each CopyData to the session as it arrives (so a
//! large COPY streams), then CopyDone (commit, `COPY n`) or CopyFail (57014).
//!
//! pgwire leaves three things to the handler, done here: the CommandComplete of a COPY FROM,
//! the connection's transaction status (the statements of the query that started the COPY
//! never reported theirs), and the statements that followed COPY FROM STDIN in a simple query
//! (PostgreSQL runs them after the data; they run at CopyDone).

use std::fmt::Debug;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{stream, Sink, SinkExt, StreamExt};
use orbit_exec::copy::Encoder;
use orbit_exec::types::Value;
use orbit_exec::{Outcome, Statement, TxStatus};
use pgwire::api::copy::CopyHandler;
use pgwire::api::portal::Format;
use pgwire::api::results::{CopyResponse, Response};
use pgwire::api::{ClientInfo, PgWireConnectionState};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::PgWireBackendMessage;

use crate::error::{info, to_wire};
use crate::handler::{
    command_tag, execute, finish, lock, response, settle_after_error, wire_info, with_session, Conn,
};

/// CopyInResponse: the client sends rows of `columns` fields (format 0: text or CSV).
pub fn copy_in_response(columns: usize) -> Response {
    Response::CopyIn(CopyResponse::new(0, columns, stream::empty()))
}

/// CopyOutResponse and the data: one CopyData per row (pgwire counts them for `COPY n`), the
/// header line, if any, in front of the first. A header with no rows goes alone and is
/// counted: `COPY 1` where PostgreSQL says `COPY 0`.
pub fn copy_out_response(names: Vec<String>, rows: Vec<Vec<Value>>, encoder: Encoder) -> Response {
    let columns = names.len();
    let mut header = Vec::new();
    encoder.header(&names, &mut header);
    if rows.is_empty() && !header.is_empty() {
        let data = stream::once(async move { Ok(CopyData::new(Bytes::from(header))) });
        return Response::CopyOut(CopyResponse::new(0, columns, data));
    }
    let mut first = Some(header);
    let data = stream::iter(rows).map(move |row| {
        let mut line = first.take().unwrap_or_default();
        encoder.row(&row, &mut line);
        Ok(CopyData::new(Bytes::from(line)))
    });
    Response::CopyOut(CopyResponse::new(0, columns, data))
}

/// The ReadyForQuery status of the session.
fn wire_status(s: TxStatus) -> TransactionStatus {
    match s {
        TxStatus::Idle => TransactionStatus::Idle,
        TxStatus::InBlock => TransactionStatus::Transaction,
        TxStatus::Failed => TransactionStatus::Error,
    }
}

impl Conn {
    /// Records the session's transaction status on the connection (ReadyForQuery reads it).
    fn sync_status<C: ClientInfo>(&self, client: &mut C) {
        if let Some(s) = lock(&self.session).as_ref() {
            client.set_transaction_status(wire_status(s.status()));
        }
    }

    /// Runs the statements that followed COPY FROM STDIN in its simple query, sending their
    /// responses; stops at the first error, as PostgreSQL does.
    async fn run_rest<C>(&self, client: &mut C, rest: Vec<Statement>) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        for stmt in rest {
            if matches!(stmt, Statement::Copy { to: false, .. }) {
                let e = orbit_exec::Error::unsupported(
                    "a second COPY FROM STDIN in one query string is not supported",
                );
                with_session(&self.session, |s| {
                    s.fail();
                    Ok(())
                })?;
                client
                    .send(PgWireBackendMessage::ErrorResponse(info(&e).into()))
                    .await?;
                return Ok(());
            }
            let outcome = match execute(&self.session, &stmt, None, &[]).await {
                Ok(executed) => finish(executed).await.map_err(|e| to_wire(&e)),
                Err(e) => {
                    settle_after_error(&self.session).await;
                    Err(e)
                }
            };
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => {
                    client
                        .send(PgWireBackendMessage::ErrorResponse(wire_info(e).into()))
                        .await?;
                    return Ok(());
                }
            };
            match response(outcome, &Format::UnifiedText) {
                Response::Query(q) => {
                    pgwire::api::query::send_query_response(client, q, true).await?
                }
                Response::Execution(tag)
                | Response::TransactionStart(tag)
                | Response::TransactionEnd(tag) => {
                    pgwire::api::query::send_execution_response(client, tag).await?
                }
                Response::CopyOut(data) => {
                    pgwire::api::copy::send_copy_out_response(client, data).await?
                }
                Response::Error(e) => {
                    client
                        .send(PgWireBackendMessage::ErrorResponse((*e).into()))
                        .await?;
                    return Ok(());
                }
                Response::EmptyQuery | Response::CopyIn(_) | Response::CopyBoth(_) => {}
            }
        }
        Ok(())
    }
}

/// Awaits writes until they are durable and published (see `on_copy_data`).
async fn publish(waits: Vec<orbit_exec::Pending>) {
    for w in waits {
        let _ = w.durable().await;
    }
}

#[async_trait]
impl CopyHandler for Conn {
    async fn on_copy_data<C>(&self, client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match with_session(&self.session, |s| s.copy_data(&copy_data.data)) {
            Ok(waits) => {
                // Published as soon as the WAL acknowledges them, without holding up the
                // COPY's next message (CopyData gets no reply): a write is published only when
                // awaited, and every other client's writes become visible behind it. Their
                // durability is reported by the COPY's own commit, which the WAL orders after
                // them (and which fails if they did).
                if !waits.is_empty() {
                    tokio::spawn(publish(waits));
                }
                Ok(())
            }
            Err(e) => {
                self.rest.lock().map(|mut r| r.clear()).unwrap_or_default();
                settle_after_error(&self.session).await;
                self.sync_status(client);
                Err(e)
            }
        }
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let rest = self
            .rest
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        let outcome = match with_session(&self.session, |s| s.copy_done()) {
            Ok(executed) => finish(executed).await.map_err(|e| to_wire(&e)),
            Err(e) => Err(e),
        };
        let tag = match outcome {
            Ok(Outcome::Command(tag)) => tag,
            Ok(_) => String::from("COPY 0"),
            Err(e) => {
                settle_after_error(&self.session).await;
                self.sync_status(client);
                return Err(e);
            }
        };
        pgwire::api::query::send_execution_response(client, command_tag(&tag)).await?;
        if matches!(client.state(), PgWireConnectionState::CopyInProgress(false)) {
            self.run_rest(client, rest).await?;
        }
        self.sync_status(client);
        Ok(())
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.rest.lock().map(|mut r| r.clear()).unwrap_or_default();
        let e = lock(&self.session)
            .as_mut()
            .map(|s| s.copy_fail(&fail.message));
        settle_after_error(&self.session).await;
        self.sync_status(client);
        match e {
            Some(e) => to_wire(&e),
            None => to_wire(&orbit_exec::Error::new("08P01", "no session")),
        }
    }
}
