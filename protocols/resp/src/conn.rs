//! One client connection: read what the client sent, decode and run every complete command
//! in it (pipelining), wait until their writes are durable and everything they could have
//! seen is visible, then send the replies in order.
//!
//! Published messages for a subscribed connection arrive on its queue and are written as they
//! come, between requests.
//!
//! A protocol error gets its error reply, then the connection closes (the stream cannot be
//! framed past it). Replies go out at most `MAX_BATCH` commands at a time, so a huge pipeline
//! does not build a huge reply buffer; the input buffer is bounded by the decoder's limits.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::decode::decode;
use crate::reply::Reply;
use crate::{Engine, Outcome, Ran, Result};

/// Commands answered per reply batch.
const MAX_BATCH: usize = 1024;
/// The most request bytes one run of pipelined commands takes (a bound on its write, well
/// inside a Raft proposal).
const RUN_BYTES: usize = 4 << 20;
const READ_CHUNK: usize = 64 << 10;

/// Serves one connection until the client leaves, sends QUIT or a malformed request, or
/// `shutdown` turns true (the in-flight batch is finished and answered first).
pub async fn serve_connection(
    engine: Arc<Engine>,
    mut stream: TcpStream,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let addr = stream
        .peer_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    let _ = stream.set_nodelay(true);
    let Some(mut session) = engine.connect(addr) else {
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return Ok(());
    };
    let result = run(&engine, &mut session, &mut stream, &mut shutdown).await;
    engine.disconnect(&session);
    result
}

async fn run(
    engine: &Engine,
    session: &mut crate::Session,
    stream: &mut TcpStream,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<()> {
    let idle = engine.config.idle_timeout_secs;
    let (tx, mut messages) = tokio::sync::mpsc::channel(crate::commands::pubsub::MAILBOX);
    let kick = std::sync::Arc::new(tokio::sync::Notify::new());
    session.messages = Some(crate::commands::pubsub::Mailbox {
        tx,
        kick: std::sync::Arc::clone(&kick),
    });
    let mut input: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut out: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut upstream = None;
    let mut baton = Baton {
        engine,
        stripe: None,
    };
    loop {
        // Run every complete command in the buffer, a batch at a time.
        let mut consumed = 0;
        let mut close = false;
        loop {
            let mut batch: Vec<(Reply, Vec<orbit_txn::Pending>)> = Vec::new();
            let mut blocked = None;
            let mut deferred = None;
            let mut waiting = None;
            let mut handed = None;
            // Commands for the leader (`crate::forward`): a run of them, never mixed with
            // local ones, and whether the connection there was inside MULTI before them.
            let mut forwards: Vec<Vec<Vec<u8>>> = Vec::new();
            let mut forward_to: Option<(String, bool)> = None;
            let started = std::time::Instant::now();
            while batch.len() < MAX_BATCH && !session.closing {
                let rest = input.get(consumed..).unwrap_or_default();
                match decode(rest, &engine.config.limits, session.authenticated) {
                    Ok(Some((args, used))) => {
                        consumed += used;
                        if args.is_empty() {
                            continue;
                        }
                        let route = engine.route(session, &args);
                        if let crate::forward::Route::Forward(addr) = route {
                            let multi = session.pinned.as_ref().is_some_and(|p| p.multi);
                            let to = forward_to.get_or_insert((addr.clone(), multi));
                            if !batch.is_empty() || to.0 != addr {
                                // Answer what came before first.
                                consumed -= used;
                                break;
                            }
                            session.forwarded(&args, &addr);
                            forwards.push(args);
                            if forwards.len() == MAX_BATCH {
                                break;
                            }
                            continue;
                        }
                        if !forwards.is_empty() {
                            consumed -= used;
                            break;
                        }
                        if let crate::forward::Route::Refuse(msg) = route {
                            batch.push((Reply::Error(msg), Vec::new()));
                            session.closing = true;
                            break;
                        }
                        if let Some(kind) = crate::commands::runs::kind_of(&args) {
                            let rest = input.get(consumed..).unwrap_or_default();
                            let room = MAX_BATCH.saturating_sub(batch.len() + 1);
                            let (more, spans) =
                                run_after(engine, session, (kind, &args, used), rest, room);
                            // A run on one key, even of one command, may be handed to the
                            // worker that holds its stripe (`crate::combine`).
                            if !more.is_empty() || kind.one_key() {
                                let mut sets = Vec::with_capacity(more.len() + 1);
                                sets.push(args.clone());
                                sets.extend(more);
                                let ran = engine.execute_run(session, &sets);
                                baton.stripe = None;
                                match ran {
                                    Some(Ran::Answers(answers)) => {
                                        // The run may have stopped short: the rest come again.
                                        let ran = answers.len().saturating_sub(1);
                                        consumed += spans.iter().take(ran).sum::<usize>();
                                        batch.extend(answers);
                                        continue;
                                    }
                                    Some(Ran::Handed(h)) => {
                                        // Answer what came before, then this run's replies
                                        // as they come; or, sent back, run it again.
                                        consumed -= used;
                                        handed = Some((h, used + spans.iter().sum::<usize>()));
                                        break;
                                    }
                                    None => {}
                                }
                            }
                        }
                        let (reply, pending) = engine.execute(session, &args);
                        baton.stripe = None;
                        if let Reply::Wait(w) = reply {
                            // Answer what came before, wait, then run this command again.
                            consumed -= used;
                            waiting = Some(w);
                            break;
                        }
                        if let Reply::Block(until) = reply {
                            // Answer what came before, then wait; later commands wait too.
                            blocked = Some((args, until));
                            break;
                        }
                        if let Reply::Deferred(d) = reply {
                            // Likewise: the reply comes from elsewhere, after those.
                            deferred = Some((d, pending));
                            break;
                        }
                        batch.push((reply, pending));
                    }
                    Ok(None) => break,
                    Err(e) => {
                        batch.push((Reply::Error(format!("ERR {e}")), Vec::new()));
                        close = true;
                        break;
                    }
                }
            }
            if let Some((addr, multi)) = forward_to.filter(|_| !forwards.is_empty()) {
                out.clear();
                tokio::select! {
                    () = crate::forward::forward(
                        engine, session, &mut upstream, (&addr, multi), &forwards, &mut out,
                    ) => {}
                    _ = shutdown.changed() => return Ok(()),
                }
                stream.write_all(&out).await?;
                engine.record_latency(started.elapsed(), forwards.len());
                if session.closing {
                    return Ok(());
                }
                continue;
            }
            if batch.is_empty()
                && blocked.is_none()
                && deferred.is_none()
                && waiting.is_none()
                && handed.is_none()
            {
                break;
            }
            respond(engine, session.protocol, stream, &mut out, &mut batch).await?;
            if !batch.is_empty() {
                engine.record_latency(started.elapsed(), batch.len());
            }
            if let Some(w) = waiting {
                w.done().await;
            }
            if let Some((h, bytes)) = handed {
                let stripe = h.stripe();
                match h.outcome().await {
                    Outcome::Done(replies) => {
                        consumed += bytes;
                        let mut answers: Vec<_> =
                            replies.into_iter().map(|r| (r, Vec::new())).collect();
                        respond(engine, session.protocol, stream, &mut out, &mut answers).await?;
                        engine.record_latency(started.elapsed(), answers.len());
                    }
                    // Decoded and run again next.
                    Outcome::Retry => baton.stripe = Some(stripe),
                }
            }
            if let Some((d, pending)) = deferred {
                let mut one = vec![(d.reply().await, pending)];
                respond(engine, session.protocol, stream, &mut out, &mut one).await?;
            }
            if let Some((args, until)) = blocked {
                let waiting = wait_unblocked(engine, session, &args, until, stream, shutdown);
                let Some(done) = waiting.await else {
                    return Ok(());
                };
                let mut one = vec![done];
                respond(engine, session.protocol, stream, &mut out, &mut one).await?;
            }
            if close || session.closing {
                return Ok(());
            }
        }
        input.drain(..consumed.min(input.len()));
        if *shutdown.borrow() {
            return Ok(());
        }
        let subscribed = session.subscribed();
        let read = async {
            // Subscribers are never idle: they wait for messages.
            if idle == 0 || subscribed {
                stream.read(&mut chunk).await.map(Some)
            } else {
                let wait = Duration::from_secs(idle);
                match tokio::time::timeout(wait, stream.read(&mut chunk)).await {
                    Ok(r) => r.map(Some),
                    Err(_) => Ok(None),
                }
            }
        };
        let n = tokio::select! {
            r = read => r?,
            Some(msg) = messages.recv() => {
                out.clear();
                msg.encode(session.protocol, &mut out);
                while let Ok(more) = messages.try_recv() {
                    more.encode(session.protocol, &mut out);
                }
                stream.write_all(&out).await?;
                continue;
            }
            _ = kick.notified() => return Ok(()),
            _ = shutdown.changed() => return Ok(()),
        };
        match n {
            None | Some(0) => return Ok(()),
            Some(n) => {
                // Reads of what arrived now must see every write acknowledged before.
                session.arrival = engine.store.read_stamp();
                input.extend_from_slice(chunk.get(..n).unwrap_or_default());
            }
        }
    }
}

/// A connection's duty, once its handed run is sent back (`Outcome::Retry`), to try the run's
/// stripe again: the runs queued behind it wait for that try (`crate::combine`). Running any
/// command discharges it; a connection that ends first tells the stripe's next queued run
/// instead, as letting the stripe go would have.
struct Baton<'a> {
    engine: &'a Engine,
    stripe: Option<usize>,
}

impl Drop for Baton<'_> {
    fn drop(&mut self) {
        if let Some(stripe) = self.stripe.take() {
            self.engine.store.queues().let_go(&[stripe]);
        }
    }
}

/// The commands that come next in `input` and join the run of `kind` that `first`
/// (`first_len` request bytes) begins (`commands::runs::joins`), at most `room` of them and no more than
/// `RUN_BYTES` of requests with `first`, with the bytes each spans: decoded ahead of running,
/// to be written together with `first` (`Engine::execute_run`). Stops at anything else: a
/// command that does not join or would pass the byte bound, an incomplete or malformed
/// frame, a command bound for the leader.
fn run_after(
    engine: &Engine,
    session: &crate::Session,
    (kind, first, first_len): (crate::commands::runs::Kind, &[Vec<u8>], usize),
    input: &[u8],
    room: usize,
) -> (Vec<Vec<Vec<u8>>>, Vec<usize>) {
    let (mut sets, mut spans, mut used) = (Vec::new(), Vec::new(), 0);
    while sets.len() < room {
        let rest = input.get(used..).unwrap_or_default();
        let Ok(Some((args, n))) = decode(rest, &engine.config.limits, session.authenticated) else {
            break;
        };
        if first_len + used + n > RUN_BYTES
            || !crate::commands::runs::joins(kind, first, &args)
            || !matches!(engine.route(session, &args), crate::forward::Route::Local)
        {
            break;
        }
        used += n;
        spans.push(n);
        sets.push(args);
    }
    (sets, spans)
}

/// Waits until the blocked command can run (its turn comes after a write to one of its keys),
/// its deadline passes (a null reply), or the server shuts down or the client goes away
/// (`None`: a client that closed its connection must not take an element it can no longer
/// receive).
async fn wait_unblocked(
    engine: &Engine,
    session: &mut crate::Session,
    args: &[Vec<u8>],
    until: Option<u64>,
    stream: &TcpStream,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(Reply, Vec<orbit_txn::Pending>)> {
    let queued = engine.block(session, args);
    // Out of the queues however this ends: a reply, the deadline, the client gone, shutdown,
    // or the task dropped or unwinding. The next client in line is woken.
    let _leave = Leave(engine, session.id);
    // Queued, then tried again: a write in between wakes this client or one ahead of it.
    let mut try_now = !queued.behind;
    loop {
        if try_now {
            session.blocked = true;
            let (reply, pending) = engine.execute(session, args);
            session.blocked = false;
            match reply {
                Reply::Wait(w) => {
                    tokio::select! {
                        () = w.done() => continue,
                        end = stop(until, stream, shutdown) => return end,
                    }
                }
                Reply::Block(_) => {}
                other => return Some((other, pending)),
            }
        }
        try_now = true;
        tokio::select! {
            () = queued.wake.notified() => {}
            end = stop(until, stream, shutdown) => return end,
        }
    }
}

/// Takes a blocked client out of the queues when dropped.
struct Leave<'a>(&'a Engine, u64);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.unblock(self.1);
    }
}

/// What ends a blocked client's wait besides its turn: its deadline (a null reply), the server
/// shutting down or the client going away (`None`).
async fn stop(
    until: Option<u64>,
    stream: &TcpStream,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(Reply, Vec<orbit_txn::Pending>)> {
    let left = until.map(|u| Duration::from_millis(u.saturating_sub(crate::store::now_ms())));
    let timer = async {
        match left {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = timer => Some((Reply::NilArray, Vec::new())),
        _ = shutdown.changed() => None,
        () = closed(stream) => None,
    }
}

/// Resolves once the client has closed its side of `stream` (or the socket failed); pending
/// while it is open. Bytes the client sent meanwhile stay unread (its next commands, run
/// after the blocked one): then it cannot see a close behind them and stays pending.
async fn closed(stream: &TcpStream) {
    let mut byte = [0u8; 1];
    match stream.peek(&mut byte).await {
        Ok(0) | Err(_) => {}
        Ok(_) => std::future::pending().await,
    }
}

/// Waits for a batch's writes and for everything its commands could have seen to be durable,
/// then sends its replies in order.
async fn respond(
    engine: &Engine,
    protocol: u8,
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
    batch: &mut [(Reply, Vec<orbit_txn::Pending>)],
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let barrier = engine.store.barrier();
    for (reply, pending) in batch.iter_mut() {
        for p in pending.drain(..) {
            if let Err(e) = p.durable().await {
                *reply = crate::commands::replica_error(&e)
                    .unwrap_or_else(|| Reply::err(format!("ERR write failed: {e}")));
            }
        }
    }
    if let Err(e) = engine.store.db().visible_at(barrier).await {
        for (reply, _) in batch.iter_mut() {
            *reply = Reply::err(format!("ERR storage failure: {e}"));
        }
    }
    out.clear();
    for (reply, _) in batch.iter() {
        reply.encode(protocol, out);
    }
    stream.write_all(out).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A connection that ends while it owes a stripe its try tells the next queued run; one
    /// that ran a command since owes nothing.
    #[test]
    fn a_dropped_baton_tells_the_next_run() {
        let e = crate::tests::engine_on(&orbit_env::SimFs::new(), 1 << 20);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let run = |m: &str| vec![vec![b"SADD".to_vec(), b"k".to_vec(), m.as_bytes().to_vec()]];
        let kind = crate::commands::runs::Kind::SAdd;
        let (_, first) = e.store.queues().push(5, (0, 2), kind, run("a"));
        let (_, second) = e.store.queues().push(5, (0, 2), kind, run("b"));
        drop(Baton {
            engine: &e,
            stripe: None,
        });
        assert_eq!(e.store.queues().queued(), 2);
        drop(Baton {
            engine: &e,
            stripe: Some(5),
        });
        assert!(matches!(rt.block_on(first.outcome()), Outcome::Retry));
        assert_eq!(e.store.queues().queued(), 1);
        drop(second);
    }
}
