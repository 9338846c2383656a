//! Publish/subscribe: SUBSCRIBE, PSUBSCRIBE, UNSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB. The hub
//! (`Hub`, in the engine) maps channels and patterns to the subscribed connections' message
//! queues, so a message reaches subscribers on every worker thread. Messages are pushes
//! (RESP3) or arrays (RESP2), sent by the connection as they arrive.

use std::collections::{BTreeSet, HashMap};

use std::sync::Arc;

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::Sender;
use tokio::sync::Notify;

use super::{arg, glob_match, Ctx};
use crate::reply::Reply;

/// Messages a subscriber may have queued before it counts as too slow and is disconnected
/// (Redis's `client-output-buffer-limit pubsub`).
pub const MAILBOX: usize = 65_536;

/// A connection's message queue, and how to tell it to close when it falls behind.
#[derive(Debug, Clone)]
pub struct Mailbox {
    pub tx: Sender<Reply>,
    pub kick: Arc<Notify>,
}

/// Who listens to what.
#[derive(Default)]
pub struct Hub {
    channels: HashMap<Vec<u8>, HashMap<u64, Mailbox>>,
    patterns: HashMap<Vec<u8>, HashMap<u64, Mailbox>>,
}

/// Queues a message; a full mailbox gets its connection closed.
fn deliver(client: u64, mailbox: &Mailbox, message: Reply, slow: &mut Vec<u64>) -> bool {
    match mailbox.tx.try_send(message) {
        Ok(()) => true,
        Err(TrySendError::Full(_)) => {
            tracing::warn!(
                client,
                "subscriber too slow: {MAILBOX} messages queued; disconnecting it"
            );
            mailbox.kick.notify_one();
            slow.push(client);
            false
        }
        Err(TrySendError::Closed(_)) => false,
    }
}

impl Hub {
    /// Forgets every subscription of a client.
    pub fn drop_client(&mut self, client: u64) {
        for map in [&mut self.channels, &mut self.patterns] {
            map.retain(|_, subs| {
                subs.remove(&client);
                !subs.is_empty()
            });
        }
    }

    /// Delivers a message; returns how many subscriptions received it.
    fn publish(&mut self, channel: &[u8], message: &[u8]) -> i64 {
        let mut n = 0;
        let mut slow = Vec::new();
        if let Some(subs) = self.channels.get(channel) {
            for (client, mailbox) in subs {
                let m = Reply::Push(vec![
                    Reply::bulk("message"),
                    Reply::bulk(channel),
                    Reply::bulk(message),
                ]);
                n += i64::from(deliver(*client, mailbox, m, &mut slow));
            }
        }
        for (pattern, subs) in &self.patterns {
            if !glob_match(pattern, channel) {
                continue;
            }
            for (client, mailbox) in subs {
                let m = Reply::Push(vec![
                    Reply::bulk("pmessage"),
                    Reply::bulk(pattern),
                    Reply::bulk(channel),
                    Reply::bulk(message),
                ]);
                n += i64::from(deliver(*client, mailbox, m, &mut slow));
            }
        }
        for client in slow {
            self.drop_client(client);
        }
        n
    }
}

fn hub<'a>(ctx: &'a Ctx<'_>) -> std::sync::MutexGuard<'a, Hub> {
    ctx.engine.hub.lock().unwrap_or_else(|p| p.into_inner())
}

fn count(ctx: &Ctx<'_>) -> i64 {
    (ctx.session.channels.len() + ctx.session.patterns.len()) as i64
}

fn subscribe_generic(ctx: &mut Ctx<'_>, args: &[Vec<u8>], pattern: bool) -> Result<Reply, Reply> {
    let Some(tx) = ctx.session.messages.clone() else {
        return Err(Reply::err("ERR this connection cannot subscribe"));
    };
    let mut replies = Vec::new();
    for name in args.iter().skip(1) {
        {
            let mut h = hub(ctx);
            let map = if pattern {
                &mut h.patterns
            } else {
                &mut h.channels
            };
            map.entry(name.clone())
                .or_default()
                .insert(ctx.session.id, tx.clone());
        }
        if pattern {
            ctx.session.patterns.insert(name.clone());
        } else {
            ctx.session.channels.insert(name.clone());
        }
        replies.push(Reply::Push(vec![
            Reply::bulk(if pattern { "psubscribe" } else { "subscribe" }),
            Reply::bulk(name),
            Reply::Int(count(ctx)),
        ]));
    }
    Ok(Reply::Many(replies))
}

fn unsubscribe_generic(ctx: &mut Ctx<'_>, args: &[Vec<u8>], pattern: bool) -> Result<Reply, Reply> {
    let kind = if pattern {
        "punsubscribe"
    } else {
        "unsubscribe"
    };
    let names: Vec<Vec<u8>> = if args.len() > 1 {
        args.iter().skip(1).cloned().collect()
    } else if pattern {
        ctx.session.patterns.iter().cloned().collect()
    } else {
        ctx.session.channels.iter().cloned().collect()
    };
    if names.is_empty() {
        return Ok(Reply::Push(vec![
            Reply::bulk(kind),
            Reply::Nil,
            Reply::Int(count(ctx)),
        ]));
    }
    let mut replies = Vec::new();
    for name in names {
        {
            let mut h = hub(ctx);
            let map = if pattern {
                &mut h.patterns
            } else {
                &mut h.channels
            };
            if let Some(subs) = map.get_mut(&name) {
                subs.remove(&ctx.session.id);
                if subs.is_empty() {
                    map.remove(&name);
                }
            }
        }
        if pattern {
            ctx.session.patterns.remove(&name);
        } else {
            ctx.session.channels.remove(&name);
        }
        replies.push(Reply::Push(vec![
            Reply::bulk(kind),
            Reply::Bulk(name),
            Reply::Int(count(ctx)),
        ]));
    }
    Ok(Reply::Many(replies))
}

pub fn subscribe(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    subscribe_generic(ctx, args, false)
}
pub fn psubscribe(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    subscribe_generic(ctx, args, true)
}
pub fn unsubscribe(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    unsubscribe_generic(ctx, args, false)
}
pub fn punsubscribe(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    unsubscribe_generic(ctx, args, true)
}

pub fn publish(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let n = hub(ctx).publish(arg(args, 1)?, arg(args, 2)?);
    Ok(Reply::Int(n))
}

pub fn pubsub(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    super::server::sub_arity(
        "pubsub",
        args,
        &[("channels", -2), ("numsub", -2), ("numpat", 2), ("help", 2)],
    )?;
    let sub = arg(args, 1)?.to_ascii_lowercase();
    if sub == b"channels" && args.len() > 3 {
        return Err(Reply::err(
            "ERR unknown subcommand or wrong number of arguments for 'channels'. Try PUBSUB HELP.",
        ));
    }
    let h = hub(ctx);
    match sub.as_slice() {
        b"help" => Ok(super::server::help(&[
            "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
        ])),
        b"channels" => {
            let pattern = args.get(2);
            let names: BTreeSet<&Vec<u8>> = h
                .channels
                .keys()
                .filter(|c| pattern.is_none_or(|p| glob_match(p, c)))
                .collect();
            Ok(Reply::Array(names.into_iter().map(Reply::bulk).collect()))
        }
        // A flat array in both protocols, as Redis answers it.
        b"numsub" => Ok(Reply::Array(
            args.iter()
                .skip(2)
                .flat_map(|c| {
                    let n = h.channels.get(c).map_or(0, HashMap::len);
                    [Reply::bulk(c), Reply::Int(n as i64)]
                })
                .collect(),
        )),
        b"numpat" => Ok(Reply::Int(h.patterns.len() as i64)),
        _ => Err(Reply::err(format!(
            "ERR unknown subcommand '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(&sub)
        ))),
    }
}
