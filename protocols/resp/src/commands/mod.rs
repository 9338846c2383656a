//! Command dispatch: the table of commands (name, arity as Redis counts it, flags), argument
//! helpers, and the context a command runs in.
//!
//! A command runs synchronously: it reads (seeing the latest submitted writes), submits at
//! most one atomic write batch, and returns its reply. The connection awaits that write (and
//! the reply barrier) before the reply goes out, so a reply never reports a write that is not
//! durable.

pub mod blocking;
mod encoding;
mod hashes;
pub(crate) mod keys;
pub(crate) mod lists;
pub(crate) mod pubsub;
pub(crate) mod runs;
pub(crate) mod server;
mod sets;
pub(crate) mod strings;
pub mod timeseries;
pub(crate) mod zsets;

use orbit_lsm::WriteBatch;
use orbit_txn::Pending;

use crate::reply::Reply;
use crate::store::{Kind, Meta, Store};
use crate::{Engine, Session};

/// Where a command runs.
pub struct Ctx<'a> {
    pub engine: &'a Engine,
    pub store: &'a Store,
    pub session: &'a mut Session,
    /// Unix milliseconds at the start of the command (expiry decisions).
    pub now: u64,
    /// The writes this command (or an EXEC's commands) submitted.
    pub pending: Vec<Pending>,
    /// Inside EXEC: blocking commands must not block.
    pub in_exec: bool,
}

impl Ctx<'_> {
    pub fn db(&self) -> u8 {
        self.session.db
    }

    /// Submits `batch` as this command's write.
    pub fn write(&mut self, batch: &WriteBatch) -> Result<(), Reply> {
        if batch.is_empty() {
            return Ok(());
        }
        let p = self.store.submit(batch).map_err(internal)?;
        self.pending.push(p);
        Ok(())
    }

    /// A key's metadata, or `WRONGTYPE` if it holds another kind than `want`.
    pub fn meta_of(&self, key: &[u8], want: Kind) -> Result<Option<Meta>, Reply> {
        match self
            .store
            .meta(self.db(), key, self.now)
            .map_err(internal)?
        {
            Some(m) if m.kind != want => Err(wrongtype()),
            other => Ok(other),
        }
    }

    /// Before a collection is created at `key` (no live value there): drops the members an
    /// expired predecessor left, if its metadata is still stored (the expiry sweep has not
    /// reached it). Every other way a collection goes (DEL, overwrite, FLUSHDB, the sweep)
    /// drops its members at once, so new keys cost no range delete.
    pub fn clear_stale(&self, b: &mut WriteBatch, key: &[u8]) -> Result<(), Reply> {
        self.clear_stale_at(b, self.db(), key)
    }

    /// [`Ctx::clear_stale`] for a key of database `db`.
    pub fn clear_stale_at(&self, b: &mut WriteBatch, db: u8, key: &[u8]) -> Result<(), Reply> {
        let stale = self.store.meta_raw(db, key).map_err(internal)?;
        if stale.is_some_and(|m| m.kind != Kind::String) {
            self.store.clear_members_into(b, db, key);
        }
        Ok(())
    }

    /// Adds a counted collection's (hash, set, sorted set) new metadata to `b`, or its
    /// deletion when `count` is 0; the expiry carries over from `old`.
    pub fn finish_counted(
        &self,
        b: &mut WriteBatch,
        key: &[u8],
        kind: Kind,
        old: Option<&Meta>,
        count: u64,
    ) {
        let db = self.db();
        match (old, count) {
            (Some(m), 0) => self.store.delete_into(b, db, key, m),
            (None, 0) => {}
            (old, n) => {
                let meta = Meta {
                    kind,
                    expire_at: old.map_or(0, |m| m.expire_at),
                    payload: n.to_le_bytes().to_vec(),
                };
                self.store.put_meta_into(b, db, key, &meta);
            }
        }
    }

    /// A key's metadata, whatever its kind.
    pub fn meta_any(&self, key: &[u8]) -> Result<Option<Meta>, Reply> {
        self.store.meta(self.db(), key, self.now).map_err(internal)
    }

    /// The metadata of each of `keys`, whatever its kind, in one batched lookup.
    pub fn metas_any(&self, keys: &[&[u8]]) -> Result<Vec<Option<Meta>>, Reply> {
        self.store
            .meta_many(self.db(), keys, self.now)
            .map_err(internal)
    }
}

/// A command's handler.
pub type Handler = fn(&mut Ctx<'_>, &[Vec<u8>]) -> Result<Reply, Reply>;

/// A command: name, arity (positive: exact argument count including the name; negative: at
/// least that many), whether it writes, and the handler.
pub struct Command {
    pub name: &'static str,
    pub arity: i32,
    pub write: bool,
    pub handler: Handler,
}

const fn cmd(name: &'static str, arity: i32, write: bool, handler: Handler) -> Command {
    Command {
        name,
        arity,
        write,
        handler,
    }
}

/// Transaction commands are routed by `Engine::execute` before the table is consulted; their
/// entries exist for `COMMAND`.
fn routed_elsewhere(_ctx: &mut Ctx<'_>, _args: &[Vec<u8>]) -> Result<Reply, Reply> {
    Err(Reply::err("ERR internal routing error"))
}

/// UNWATCH run by EXEC (queued after MULTI): nothing to do.
fn unwatch_queued(_ctx: &mut Ctx<'_>, _args: &[Vec<u8>]) -> Result<Reply, Reply> {
    Ok(Reply::OK)
}

/// Every command the server knows.
pub static COMMANDS: &[Command] = &[
    cmd("multi", 1, false, routed_elsewhere),
    cmd("exec", 1, false, routed_elsewhere),
    cmd("discard", 1, false, routed_elsewhere),
    cmd("watch", -2, false, routed_elsewhere),
    cmd("unwatch", 1, false, unwatch_queued),
    cmd("subscribe", -2, false, pubsub::subscribe),
    cmd("psubscribe", -2, false, pubsub::psubscribe),
    cmd("unsubscribe", -1, false, pubsub::unsubscribe),
    cmd("punsubscribe", -1, false, pubsub::punsubscribe),
    cmd("publish", 3, false, pubsub::publish),
    cmd("pubsub", -2, false, pubsub::pubsub),
    // connection and server
    cmd("ping", -1, false, server::ping),
    cmd("echo", 2, false, server::echo),
    cmd("hello", -1, false, server::hello),
    cmd("auth", -2, false, server::auth),
    cmd("select", 2, false, server::select),
    cmd("quit", -1, false, server::quit),
    cmd("client", -2, false, server::client),
    cmd("info", -1, false, server::info),
    cmd("config", -2, false, server::config),
    cmd("command", -1, false, server::command),
    cmd("time", 1, false, server::time),
    cmd("readonly", 1, false, server::readonly),
    cmd("readwrite", 1, false, server::readwrite),
    cmd("dbsize", 1, false, server::dbsize),
    cmd("flushdb", -1, true, server::flushdb),
    cmd("flushall", -1, true, server::flushall),
    cmd("shutdown", -1, false, server::shutdown),
    cmd("debug", -2, false, server::debug),
    cmd("save", 1, false, server::save),
    cmd("bgsave", -1, false, server::bgsave),
    cmd("object", -2, false, server::object),
    // strings
    cmd("get", 2, false, strings::get),
    cmd("set", -3, true, strings::set),
    cmd("setnx", 3, true, strings::setnx),
    cmd("setex", 4, true, strings::setex),
    cmd("psetex", 4, true, strings::psetex),
    cmd("mget", -2, false, strings::mget),
    cmd("mset", -3, true, strings::mset),
    cmd("msetnx", -3, true, strings::msetnx),
    cmd("getset", 3, true, strings::getset),
    cmd("getdel", 2, true, strings::getdel),
    cmd("getex", -2, true, strings::getex),
    cmd("append", 3, true, strings::append),
    cmd("strlen", 2, false, strings::strlen),
    cmd("getrange", 4, false, strings::getrange),
    cmd("substr", 4, false, strings::getrange),
    cmd("setrange", 4, true, strings::setrange),
    cmd("incr", 2, true, strings::incr),
    cmd("decr", 2, true, strings::decr),
    cmd("incrby", 3, true, strings::incrby),
    cmd("decrby", 3, true, strings::decrby),
    cmd("incrbyfloat", 3, true, strings::incrbyfloat),
    // keys
    cmd("del", -2, true, keys::del),
    cmd("unlink", -2, true, keys::del),
    cmd("exists", -2, false, keys::exists),
    cmd("expire", -3, true, keys::expire),
    cmd("pexpire", -3, true, keys::pexpire),
    cmd("expireat", -3, true, keys::expireat),
    cmd("pexpireat", -3, true, keys::pexpireat),
    cmd("ttl", 2, false, keys::ttl),
    cmd("pttl", 2, false, keys::pttl),
    cmd("expiretime", 2, false, keys::expiretime),
    cmd("pexpiretime", 2, false, keys::pexpiretime),
    cmd("persist", 2, true, keys::persist),
    cmd("type", 2, false, keys::type_),
    cmd("rename", 3, true, keys::rename),
    cmd("renamenx", 3, true, keys::renamenx),
    cmd("keys", 2, false, keys::keys),
    cmd("scan", -2, false, keys::scan),
    cmd("randomkey", 1, false, keys::randomkey),
    cmd("copy", -3, true, keys::copy),
    // hashes
    cmd("hset", -4, true, hashes::hset),
    cmd("hmset", -4, true, hashes::hmset),
    cmd("hsetnx", 4, true, hashes::hsetnx),
    cmd("hget", 3, false, hashes::hget),
    cmd("hmget", -3, false, hashes::hmget),
    cmd("hgetall", 2, false, hashes::hgetall),
    cmd("hdel", -3, true, hashes::hdel),
    cmd("hexists", 3, false, hashes::hexists),
    cmd("hlen", 2, false, hashes::hlen),
    cmd("hkeys", 2, false, hashes::hkeys),
    cmd("hvals", 2, false, hashes::hvals),
    cmd("hstrlen", 3, false, hashes::hstrlen),
    cmd("hincrby", 4, true, hashes::hincrby),
    cmd("hincrbyfloat", 4, true, hashes::hincrbyfloat),
    cmd("hscan", -3, false, hashes::hscan),
    cmd("hrandfield", -2, false, hashes::hrandfield),
    // lists
    cmd("lpush", -3, true, lists::lpush),
    cmd("rpush", -3, true, lists::rpush),
    cmd("lpushx", -3, true, lists::lpushx),
    cmd("rpushx", -3, true, lists::rpushx),
    cmd("lpop", -2, true, lists::lpop),
    cmd("rpop", -2, true, lists::rpop),
    cmd("llen", 2, false, lists::llen),
    cmd("lrange", 4, false, lists::lrange),
    cmd("lindex", 3, false, lists::lindex),
    cmd("lset", 4, true, lists::lset),
    cmd("lrem", 4, true, lists::lrem),
    cmd("ltrim", 4, true, lists::ltrim),
    cmd("linsert", 5, true, lists::linsert),
    cmd("lpos", -3, false, lists::lpos),
    cmd("lmove", 5, true, lists::lmove),
    cmd("rpoplpush", 3, true, lists::rpoplpush),
    cmd("blpop", -3, true, blocking::blpop),
    cmd("brpop", -3, true, blocking::brpop),
    cmd("blmove", 6, true, blocking::blmove),
    // sets
    cmd("sadd", -3, true, sets::sadd),
    cmd("srem", -3, true, sets::srem),
    cmd("smembers", 2, false, sets::smembers),
    cmd("sismember", 3, false, sets::sismember),
    cmd("smismember", -3, false, sets::smismember),
    cmd("scard", 2, false, sets::scard),
    cmd("spop", -2, true, sets::spop),
    cmd("srandmember", -2, false, sets::srandmember),
    cmd("smove", 4, true, sets::smove),
    cmd("sinter", -2, false, sets::sinter),
    cmd("sunion", -2, false, sets::sunion),
    cmd("sdiff", -2, false, sets::sdiff),
    cmd("sinterstore", -3, true, sets::sinterstore),
    cmd("sunionstore", -3, true, sets::sunionstore),
    cmd("sdiffstore", -3, true, sets::sdiffstore),
    cmd("sintercard", -3, false, sets::sintercard),
    cmd("sscan", -3, false, sets::sscan),
    // sorted sets
    cmd("zadd", -4, true, zsets::zadd),
    cmd("zincrby", 4, true, zsets::zincrby),
    cmd("zrem", -3, true, zsets::zrem),
    cmd("zcard", 2, false, zsets::zcard),
    cmd("zscore", 3, false, zsets::zscore),
    cmd("zmscore", -3, false, zsets::zmscore),
    cmd("zrank", -3, false, zsets::zrank),
    cmd("zrevrank", -3, false, zsets::zrevrank),
    cmd("zcount", 4, false, zsets::zcount),
    cmd("zrange", -4, false, zsets::zrange),
    cmd("zrevrange", -4, false, zsets::zrevrange),
    cmd("zrangebyscore", -4, false, zsets::zrangebyscore),
    cmd("zrevrangebyscore", -4, false, zsets::zrevrangebyscore),
    cmd("zrangebylex", -4, false, zsets::zrangebylex),
    cmd("zpopmin", -2, true, zsets::zpopmin),
    cmd("zpopmax", -2, true, zsets::zpopmax),
    cmd("bzpopmin", -3, true, blocking::bzpopmin),
    cmd("bzpopmax", -3, true, blocking::bzpopmax),
    cmd("zremrangebyscore", 4, true, zsets::zremrangebyscore),
    cmd("zremrangebyrank", 4, true, zsets::zremrangebyrank),
    cmd("zunionstore", -4, true, zsets::zunionstore),
    cmd("zinterstore", -4, true, zsets::zinterstore),
    cmd("zscan", -3, false, zsets::zscan),
    cmd("zrandmember", -2, false, zsets::zrandmember),
    cmd("ts.create", -2, true, timeseries::write::create),
    cmd("ts.alter", -2, true, timeseries::write::alter),
    cmd("ts.add", -4, true, timeseries::write::ts_add),
    cmd("ts.madd", -4, true, timeseries::write::madd),
    cmd("ts.incrby", -3, true, timeseries::write::incrby),
    cmd("ts.decrby", -3, true, timeseries::write::decrby),
    cmd("ts.del", 4, true, timeseries::write::del),
    cmd("ts.createrule", -6, true, timeseries::write::createrule),
    cmd("ts.deleterule", 3, true, timeseries::write::deleterule),
    cmd("ts.get", -2, false, timeseries::read::ts_get),
    cmd("ts.mget", -3, false, timeseries::read::mget),
    cmd("ts.range", -4, false, timeseries::read::ts_range),
    cmd("ts.revrange", -4, false, timeseries::read::ts_revrange),
    cmd("ts.mrange", -4, false, timeseries::read::ts_mrange),
    cmd("ts.mrevrange", -4, false, timeseries::read::ts_mrevrange),
    cmd("ts.info", -2, false, timeseries::read::info),
    cmd("ts.queryindex", -2, false, timeseries::read::queryindex),
];

/// Where a command's keys are among its arguments, as `COMMAND` reports it: first, last
/// (negative: from the end) and step; (0, 0, 0) for commands without keys.
pub fn key_spec(name: &str) -> (i64, i64, i64) {
    match name {
        "ping" | "echo" | "hello" | "auth" | "select" | "quit" | "client" | "info" | "config"
        | "command" | "time" | "dbsize" | "flushdb" | "flushall" | "randomkey" | "scan"
        | "keys" | "readonly" | "readwrite" | "multi" | "exec" | "discard" | "unwatch"
        | "subscribe" | "psubscribe" | "unsubscribe" | "punsubscribe" | "publish" | "pubsub"
        | "shutdown" | "debug" | "save" | "bgsave" | "ts.mget" | "ts.mrange" | "ts.mrevrange"
        | "ts.queryindex" => (0, 0, 0),
        "ts.madd" => (1, -1, 3),
        "ts.createrule" | "ts.deleterule" => (1, 2, 1),
        "object" => (2, 2, 1),
        "mset" | "msetnx" => (1, -1, 2),
        "mget" | "del" | "unlink" | "exists" | "watch" | "sinter" | "sunion" | "sdiff" => {
            (1, -1, 1)
        }
        "rename" | "renamenx" | "copy" | "lmove" | "rpoplpush" | "smove" | "blmove" => (1, 2, 1),
        "blpop" | "brpop" | "bzpopmin" | "bzpopmax" => (1, -2, 1),
        _ => (1, 1, 1),
    }
}

/// The keys a command names (by its key spec).
pub fn keys_of<'a>(name: &str, args: &'a [Vec<u8>]) -> Vec<&'a [u8]> {
    let (first, last, step) = key_spec(name);
    if first == 0 {
        return Vec::new();
    }
    let n = args.len() as i64;
    let last = if last < 0 { n + last } else { last.min(n - 1) };
    let mut out = Vec::new();
    let mut i = first;
    while i <= last && step > 0 {
        if let Some(a) = usize::try_from(i).ok().and_then(|i| args.get(i)) {
            out.push(a.as_slice());
        }
        i += step;
    }
    out
}

/// The keys a command names, each with the database it is in: `db` (the connection's), except
/// COPY's destination, which is in the database its `DB` option names. What WATCH, blocked
/// clients and in-flight waits look up.
pub fn keys_in<'a>(name: &str, args: &'a [Vec<u8>], db: u8) -> Vec<(u8, &'a [u8])> {
    let keys = keys_of(name, args);
    let dst_db = match name {
        "copy" => keys::copy_target_db(args, db),
        _ => db,
    };
    keys.into_iter()
        .enumerate()
        .map(|(i, k)| (if i == 1 { dst_db } else { db }, k))
        .collect()
}

/// Finds a command by name, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static Command> {
    let mut buf = [0u8; 32];
    let lower = buf.get_mut(..name.len())?;
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    BY_NAME.get(&*lower).copied()
}

/// The command table by name.
static BY_NAME: std::sync::LazyLock<std::collections::HashMap<&'static [u8], &'static Command>> =
    std::sync::LazyLock::new(|| COMMANDS.iter().map(|c| (c.name.as_bytes(), c)).collect());

/// A pop's COUNT argument, `args[i]` if present (`None` if not): a non-negative integer, or
/// Redis's "must be positive" error for anything else, a non-integer included.
pub fn pop_count(args: &[Vec<u8>], i: usize) -> Result<Option<usize>, Reply> {
    args.get(i)
        .map(|c| {
            parse_int(c)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| Reply::err("ERR value is out of range, must be positive"))
        })
        .transpose()
}

/// Which of `len` elements a random pick of `count` takes, as Redis's SRANDMEMBER,
/// HRANDFIELD and ZRANDMEMBER do: a non-negative count picks that many distinct elements (all
/// of them at most) in random order; a negative one picks |count| independently, repeats
/// allowed (at most 2^20, a bound on the reply).
pub fn random_picks(len: usize, count: i64) -> Vec<usize> {
    if len == 0 {
        return Vec::new();
    }
    if count >= 0 {
        let mut idx: Vec<usize> = (0..len).collect();
        for i in (1..idx.len()).rev() {
            idx.swap(i, rand::random_range(0..=i));
        }
        idx.truncate(usize::try_from(count).unwrap_or(usize::MAX));
        return idx;
    }
    let n = usize::try_from(count.unsigned_abs())
        .unwrap_or(usize::MAX)
        .min(1 << 20);
    (0..n).map(|_| rand::random_range(0..len)).collect()
}

// ---- replies shared by the commands ----

pub fn wrongtype() -> Reply {
    Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value")
}

pub fn not_integer() -> Reply {
    Reply::err("ERR value is not an integer or out of range")
}

pub fn not_float() -> Reply {
    Reply::err("ERR value is not a valid float")
}

pub fn syntax() -> Reply {
    Reply::err("ERR syntax error")
}

pub fn internal(e: crate::Error) -> Reply {
    if let crate::Error::Txn(t) = &e {
        if let Some(r) = replica_error(t) {
            return r;
        }
    }
    tracing::error!(error = %e, "command failed in storage");
    Reply::err(format!("ERR storage failure: {e}"))
}

/// Whether `cmd` reads data (and so must read it linearizably on a cluster leader, or be
/// refused on a follower without `READONLY`): a command that does not write, other than the
/// connection, server, pub/sub and transaction ones (`EXEC` is gated for what it queued).
pub fn reads_data(cmd: &Command) -> bool {
    !cmd.write
        && !matches!(
            cmd.name,
            "ping"
                | "echo"
                | "hello"
                | "auth"
                | "select"
                | "quit"
                | "client"
                | "info"
                | "config"
                | "command"
                | "time"
                | "multi"
                | "exec"
                | "discard"
                | "watch"
                | "unwatch"
                | "subscribe"
                | "psubscribe"
                | "unsubscribe"
                | "punsubscribe"
                | "publish"
                | "pubsub"
                | "shutdown"
                | "debug"
                | "save"
                | "bgsave"
                | "readonly"
                | "readwrite"
        )
}

/// What a follower answers to a read it may not serve: where the leader is, and how to read
/// here instead (Redis Cluster's `READONLY`).
pub fn read_refused(e: &orbit_txn::Error) -> Reply {
    match e {
        orbit_txn::Error::NotLeader { leader: Some(l) } => Reply::err(format!(
            "ERR this node is a follower: read from the leader at {l}, or send READONLY to read here (possibly stale)"
        )),
        orbit_txn::Error::NotLeader { leader: None } => Reply::err(
            "ERR this node cannot confirm a leader now: try again, or send READONLY to read here (possibly stale)",
        ),
        e => Reply::err(format!("ERR {e}")),
    }
}

/// What a replicated node answers when a write cannot be taken here: `READONLY` on a
/// follower, as a Redis replica answers, naming the leader; an error saying the outcome is
/// unknown when the log failed after taking the write.
pub fn replica_error(e: &orbit_txn::Error) -> Option<Reply> {
    match e {
        orbit_txn::Error::NotLeader { leader } => Some(Reply::err(match leader {
            Some(l) => format!(
                "READONLY You can't write against a read only replica. The leader is at {l}."
            ),
            None => "READONLY You can't write against a read only replica. No leader is known."
                .to_string(),
        })),
        orbit_txn::Error::Replication(_) => Some(Reply::err(format!("ERR {e}"))),
        _ => None,
    }
}

pub fn arg(args: &[Vec<u8>], i: usize) -> Result<&[u8], Reply> {
    args.get(i).map(Vec::as_slice).ok_or_else(syntax)
}

/// `SSCAN`/`ZSCAN` arguments after the key: position cursor, `MATCH` pattern, `COUNT`.
pub fn position_scan_args(args: &[Vec<u8>]) -> Result<(usize, Option<Vec<u8>>, usize), Reply> {
    let cursor = parse_int(arg(args, 2)?)
        .and_then(|c| usize::try_from(c).ok())
        .ok_or_else(|| Reply::err("ERR invalid cursor"))?;
    let (mut pattern, mut count) = (None, 10usize);
    let mut i = 3;
    while i < args.len() {
        let (a, v) = (arg(args, i)?, arg(args, i + 1)?);
        if eq_ignore_case(a, "match") {
            pattern = Some(v.to_vec());
        } else if eq_ignore_case(a, "count") {
            count = usize::try_from(int_arg(v)?)
                .ok()
                .filter(|c| *c > 0)
                .ok_or_else(syntax)?;
        } else {
            return Err(syntax());
        }
        i += 2;
    }
    Ok((cursor, pattern, count))
}

/// The page of `len` members a position cursor selects, and the cursor after it (0: done).
pub fn page(len: usize, cursor: usize, count: usize) -> (std::ops::Range<usize>, usize) {
    let end = cursor.saturating_add(count).min(len);
    let next = if end >= len { 0 } else { end };
    (cursor.min(end)..end, next)
}

/// Parses a Redis integer argument.
pub fn int_arg(b: &[u8]) -> Result<i64, Reply> {
    parse_int(b).ok_or_else(not_integer)
}

pub fn parse_int(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.len() > 20 || s.starts_with('+') || (s.len() > 1 && s.starts_with('0')) {
        // Redis accepts "0" but not "+1" or "01".
        return (s == "0").then_some(0);
    }
    if s.starts_with("-0") {
        return None;
    }
    s.parse().ok()
}

/// Parses a Redis float argument (`inf`, `-inf` accepted; `nan` refused).
pub fn parse_float(b: &[u8]) -> Option<f64> {
    strtod(b).and_then(|(v, out_of_range)| (!out_of_range).then_some(v))
}

/// A score range bound (ZRANGEBYSCORE and friends): as [`parse_float`], but a value out of
/// a double's range is taken as infinity or zero, as Redis's `zslParseRange` (plain strtod)
/// takes it.
pub fn parse_float_bound(b: &[u8]) -> Option<f64> {
    strtod(b).map(|(v, _)| v)
}

/// strtod's reading of `b` as Redis uses it: decimal or `0x` hexadecimal, `inf`, never NaN or
/// surrounding spaces; and whether it was out of a double's range (overflowed to infinity,
/// or underflowed to zero).
fn strtod(b: &[u8]) -> Option<(f64, bool)> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.trim() != s {
        return None;
    }
    let v: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => return Some((f64::INFINITY, false)),
        "-inf" | "-infinity" => return Some((f64::NEG_INFINITY, false)),
        lower => match lower
            .strip_prefix(['+', '-'])
            .unwrap_or(lower)
            .strip_prefix("0x")
        {
            // strtod's hexadecimal integers (Redis accepts `0x10`).
            Some(hex) if hex.bytes().all(|c| c.is_ascii_hexdigit()) => {
                let n = u64::from_str_radix(hex, 16).ok()? as f64;
                if lower.starts_with('-') {
                    -n
                } else {
                    n
                }
            }
            Some(_) => return None,
            None => s.parse().ok()?,
        },
    };
    if v.is_nan() {
        return None;
    }
    let mantissa = s.split(['e', 'E']).next().unwrap_or(s);
    let underflow = v == 0.0 && mantissa.bytes().any(|c| matches!(c, b'1'..=b'9'));
    Some((v, v.is_infinite() || underflow))
}

pub fn eq_ignore_case(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

/// Redis's glob matching (`*`, `?`, `[...]` with ranges and `^`, `\` escapes).
pub fn glob_match(pattern: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    let (mut star_p, mut star_i) = (None::<usize>, 0usize);
    while i < s.len() {
        let mut matched = None;
        match pattern.get(p) {
            Some(b'*') => {
                star_p = Some(p);
                star_i = i;
                p += 1;
                continue;
            }
            Some(b'?') => matched = Some(p + 1),
            Some(b'[') => {
                let c = s.get(i).copied().unwrap_or(0);
                let mut q = p + 1;
                let negate = pattern.get(q) == Some(&b'^');
                if negate {
                    q += 1;
                }
                let mut hit = false;
                while let Some(&pc) = pattern.get(q) {
                    if pc == b']' {
                        break;
                    }
                    if pc == b'\\' {
                        q += 1;
                        hit |= pattern.get(q) == Some(&c);
                    } else if let (Some(b'-'), Some(&end)) = (
                        pattern.get(q + 1),
                        pattern.get(q + 2).filter(|&&e| e != b']'),
                    ) {
                        let (lo, hi) = (pc.min(end), pc.max(end));
                        hit |= lo <= c && c <= hi;
                        q += 2;
                    } else {
                        hit |= pc == c;
                    }
                    q += 1;
                }
                if hit != negate && pattern.get(q) == Some(&b']') {
                    matched = Some(q + 1);
                }
            }
            Some(b'\\') if pattern.get(p + 1).is_some() => {
                matched = (pattern.get(p + 1) == s.get(i)).then_some(p + 2);
            }
            Some(&c) => matched = (s.get(i) == Some(&c)).then_some(p + 1),
            None => {}
        }
        match matched {
            Some(next) => {
                p = next;
                i += 1;
            }
            None => match star_p {
                Some(sp) => {
                    p = sp + 1;
                    star_i += 1;
                    i = star_i;
                }
                None => return false,
            },
        }
    }
    while pattern.get(p) == Some(&b'*') {
        p += 1;
    }
    p == pattern.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_redis() {
        assert!(glob_match(b"*", b"anything"));
        assert!(glob_match(b"h?llo", b"hello"));
        assert!(glob_match(b"h*llo", b"heeeello"));
        assert!(glob_match(b"h[ae]llo", b"hallo"));
        assert!(!glob_match(b"h[^e]llo", b"hello"));
        assert!(glob_match(b"h[a-b]llo", b"hbllo"));
        assert!(glob_match(b"user:*:name", b"user:42:name"));
        assert!(!glob_match(b"user:*:name", b"user:42:age"));
        assert!(glob_match(b"a\\*b", b"a*b"));
        assert!(!glob_match(b"a\\*b", b"axb"));
    }

    #[test]
    fn integers_parse_like_redis() {
        assert_eq!(parse_int(b"42"), Some(42));
        assert_eq!(parse_int(b"-7"), Some(-7));
        assert_eq!(parse_int(b"0"), Some(0));
        assert_eq!(parse_int(b"01"), None);
        assert_eq!(parse_int(b"+1"), None);
        assert_eq!(parse_int(b" 1"), None);
        assert_eq!(parse_int(b"9223372036854775808"), None);
        assert_eq!(parse_float(b"1.5e3"), Some(1500.0));
        assert_eq!(parse_float(b"nan"), None);
    }
}
