//! The connection loop: pgwire's `process_socket`, with replies to a pipelined batch written
//! to the socket once instead of once per message.
//!
//! pgwire flushes after most replies it sends (ParseComplete, BindComplete, CommandComplete,
//! ...): a psycopg query prepared on the server (Bind, Describe, Execute, Sync in one packet)
//! cost four `send`s, each waking the client, where PostgreSQL sends one (it flushes only at
//! ReadyForQuery, on Flush, and when its buffer fills). Here the socket is wrapped in
//! [`Coalesce`], which holds back flushes while the message being answered is one PostgreSQL
//! would not flush after (Parse, Bind, Describe, Execute, Close) *and* the client has already
//! sent the next message whole. So nothing waits for a message that is not already here:
//! a reply is on the wire before the loop reads again, at the latest when the batch's last
//! message (usually Sync) is answered, since the loop flushes after every message it did not
//! hold for.
//!
//! Invariants: bytes leave in the order they were written; held bytes never exceed
//! [`HOLD_LIMIT`] (a large result is streamed, not gathered); the loop flushes before it drops
//! the socket, so a closing error reply is never lost.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use pgwire::api::{ClientInfo, ErrorHandler, PgWireConnectionState, PgWireServerHandlers};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use pgwire::tokio::TlsAcceptor;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, FramedParts};

use crate::cancel::Ended;

/// pgwire's time limit for a client to finish startup.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The most reply bytes held back before they are written anyway.
pub const HOLD_LIMIT: usize = 64 * 1024;

/// A stream whose flushes can be held back (see the module docs). Writes while holding go to
/// `held`; a flush while not holding writes `held` out first.
pub struct Coalesce<S> {
    inner: S,
    held: Vec<u8>,
    /// How much of `held` is already written.
    sent: usize,
    holding: bool,
}

impl<S: AsyncWrite + Unpin> Coalesce<S> {
    pub fn new(inner: S) -> Coalesce<S> {
        Coalesce {
            inner,
            held: Vec::new(),
            sent: 0,
            holding: false,
        }
    }

    /// Holds back flushes (`true`) or lets the next flush write everything (`false`).
    /// The stream (whatever is held is dropped: call only before anything was written).
    pub fn into_inner(self) -> S {
        self.inner
    }

    pub fn hold(&mut self, holding: bool) {
        self.holding = holding;
    }

    /// Writes out the held bytes.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.held.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.held[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.held.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Coalesce<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Coalesce<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if !this.holding && this.held.is_empty() {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        if this.held.len() >= HOLD_LIMIT {
            ready!(this.poll_drain(cx))?;
        }
        this.held.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.holding && this.held.len() < HOLD_LIMIT {
            return Poll::Ready(Ok(()));
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// Whether PostgreSQL answers `msg` without flushing (its reply is part of a batch that a
/// later Sync or Flush completes).
fn batched(msg: &PgWireFrontendMessage) -> bool {
    matches!(
        msg,
        PgWireFrontendMessage::Parse(_)
            | PgWireFrontendMessage::Bind(_)
            | PgWireFrontendMessage::Describe(_)
            | PgWireFrontendMessage::Execute(_)
            | PgWireFrontendMessage::Close(_)
    )
}

/// Whether `buf` starts with a whole regular message (a type byte, then a length that counts
/// itself).
pub fn whole_message(buf: &[u8]) -> bool {
    match buf.get(1..5) {
        Some(len) => {
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            buf.len() > len
        }
        None => false,
    }
}

/// Serves one connection: TLS negotiation and startup as pgwire does them, then its message
/// loop with coalesced replies. With `forward` (the leader's address, on a follower with
/// `--forward-writes`), a session is relayed there instead (`crate::forward`). Once `ended`
/// (pg_terminate_backend), the loop sends a FATAL error and closes: after the message it
/// serves, or at once while it waits for the client.
pub async fn process_socket<H: PgWireServerHandlers>(
    tcp: TcpStream,
    tls: Option<TlsAcceptor>,
    handlers: H,
    forward: Option<String>,
    ended: &Ended,
) -> io::Result<()> {
    let startup_timeout = tokio::time::sleep(STARTUP_TIMEOUT);
    tokio::pin!(startup_timeout);
    let negotiated = tokio::select! {
        _ = &mut startup_timeout => return Ok(()),
        socket = negotiate_tls(tcp, tls) => socket?,
    };
    // A direct TLS handshake without a TLS configuration: nothing to serve.
    let Some(socket) = negotiated else {
        return Ok(());
    };
    let old = socket.into_parts();
    let mut parts = FramedParts::new(Coalesce::new(old.io), old.codec);
    parts.read_buf = old.read_buf;
    parts.write_buf = old.write_buf;
    let mut socket = Framed::from_parts(parts);

    let startup = handlers.startup_handler();
    let simple = handlers.simple_query_handler();
    let extended = handlers.extended_query_handler();
    let copy = handlers.copy_handler();
    let cancel = handlers.cancel_handler();
    let errors = handlers.error_handler();
    let mut first = None;
    if let Some(leader) = &forward {
        let msg = tokio::select! {
            _ = &mut startup_timeout => return Ok(()),
            msg = socket.next() => msg,
        };
        first = match msg {
            Some(Ok(PgWireFrontendMessage::Startup(startup)))
                if crate::forward::relays(&startup) =>
            {
                if let Some(up) = crate::forward::connect(leader).await {
                    socket.flush().await?;
                    let parts = socket.into_parts();
                    let mut io = parts.io.into_inner();
                    return crate::forward::relay(&mut io, up, startup, &parts.read_buf).await;
                }
                Some(PgWireFrontendMessage::Startup(startup))
            }
            Some(Ok(m @ PgWireFrontendMessage::CancelRequest(_))) => {
                crate::forward::cancel(leader, &m).await;
                Some(m)
            }
            Some(Ok(m)) => Some(m),
            _ => return Ok(()),
        };
    }
    loop {
        let starting = matches!(
            socket.state(),
            PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        );
        let msg = if let Some(m) = first.take() {
            Some(Ok(m))
        } else if starting {
            tokio::select! {
                _ = &mut startup_timeout => None,
                msg = socket.next() => msg,
            }
        } else {
            tokio::select! {
                // A termination wins over a message that arrived with it.
                biased;
                _ = ended.wait() => None,
                msg = socket.next() => msg,
            }
        };
        // A terminated session runs no more messages.
        if ended.is_ended() {
            terminated(&mut socket, ended).await?;
            break;
        }
        let Some(Ok(msg)) = msg else { break };
        // A Terminate ends the session: the client may wait for the socket to close.
        if matches!(msg, PgWireFrontendMessage::Terminate(_)) {
            break;
        }
        let wait_for_sync = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => msg.is_extended_query(),
        };
        let is_cancel = matches!(msg, PgWireFrontendMessage::CancelRequest(_));
        let hold = !starting && batched(&msg) && whole_message(socket.read_buffer());
        socket.get_mut().hold(hold);
        let done = process_message(
            msg,
            &mut socket,
            startup.clone(),
            simple.clone(),
            extended.clone(),
            copy.clone(),
            cancel.clone(),
        )
        .await;
        if let Err(mut e) = done {
            errors.on_error(&socket, &mut e);
            let fatal = e.is_fatal();
            socket.get_mut().hold(false);
            process_error(&mut socket, e, wait_for_sync).await?;
            if fatal {
                break;
            }
        }
        if is_cancel {
            break;
        }
        if ended.is_ended() {
            socket.get_mut().hold(false);
            terminated(&mut socket, ended).await?;
            break;
        }
        // Not every reply flushes (a Sync during COPY FROM STDIN answers nothing, leaving
        // the held CopyInResponse its Execute wrote): whatever the last message of a batch
        // left behind goes out before the loop waits for the client.
        if !hold {
            socket.flush().await?;
        }
    }
    socket.get_mut().hold(false);
    socket.flush().await
}

/// Tells the client its session was terminated (PostgreSQL's FATAL 57P01, with no
/// ReadyForQuery after it), unless the statement it stopped already did.
async fn terminated<S, C>(socket: &mut Framed<S, C>, ended: &Ended) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
    C: tokio_util::codec::Encoder<PgWireBackendMessage, Error = io::Error>,
{
    if ended.told() {
        return Ok(());
    }
    let error = orbit_exec::cancel::terminating();
    let info = crate::error::info(&error);
    socket
        .send(PgWireBackendMessage::ErrorResponse(info.into()))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn a_message_is_whole_once_its_length_has_arrived() {
        assert!(!whole_message(b""));
        assert!(!whole_message(b"S\0\0"));
        assert!(whole_message(b"S\0\0\0\x04"));
        assert!(!whole_message(b"B\0\0\0\x08abc"));
        assert!(whole_message(b"B\0\0\0\x08abcdE"));
    }

    #[tokio::test]
    async fn held_writes_leave_in_order_at_the_first_free_flush() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut c = Coalesce::new(a);
        c.hold(true);
        c.write_all(b"one,").await.unwrap();
        c.flush().await.unwrap();
        c.write_all(b"two,").await.unwrap();
        c.flush().await.unwrap();
        // Nothing has reached the peer while holding.
        let mut buf = [0u8; 16];
        let early = tokio::time::timeout(Duration::from_millis(50), b.read(&mut buf)).await;
        assert!(early.is_err(), "held bytes were written");
        c.hold(false);
        c.write_all(b"three").await.unwrap();
        c.flush().await.unwrap();
        let mut got = vec![0u8; 13];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"one,two,three");
    }

    #[tokio::test]
    async fn holding_never_gathers_more_than_the_limit() {
        let (a, mut b) = tokio::io::duplex(4 * HOLD_LIMIT);
        let mut c = Coalesce::new(a);
        c.hold(true);
        let chunk = vec![7u8; 1000];
        for _ in 0..(HOLD_LIMIT / 1000 + 2) {
            c.write_all(&chunk).await.unwrap();
            c.flush().await.unwrap();
        }
        assert!(c.held.len() <= HOLD_LIMIT);
        let mut got = vec![0u8; HOLD_LIMIT];
        b.read_exact(&mut got).await.unwrap();
        assert!(got.iter().all(|&x| x == 7));
    }

    #[tokio::test]
    async fn shutdown_writes_what_is_held() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut c = Coalesce::new(a);
        c.hold(true);
        c.write_all(b"bye").await.unwrap();
        c.flush().await.unwrap();
        c.shutdown().await.unwrap();
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"bye");
    }
}
