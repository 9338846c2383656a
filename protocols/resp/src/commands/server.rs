//! Connection and server commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, CLIENT, INFO,
//! CONFIG, COMMAND, TIME, DBSIZE, FLUSHDB, FLUSHALL.

use orbit_lsm::WriteBatch;

use super::{arg, eq_ignore_case, glob_match, internal, parse_int, syntax, Ctx, COMMANDS};
use crate::reply::Reply;
use crate::store::DATABASES;

/// The Redis version the server reports (clients gate features on it).
pub const REDIS_VERSION: &str = "7.2.0";

pub fn ping(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    if ctx.session.subscribed() && ctx.session.protocol < 3 {
        // In RESP2 subscriber mode PING answers like a message.
        let msg = args.get(1).map_or(Reply::bulk(""), Reply::bulk);
        return Ok(Reply::Array(vec![Reply::bulk("pong"), msg]));
    }
    match args.len() {
        1 => Ok(Reply::Simple("PONG")),
        2 => Ok(Reply::bulk(arg(args, 1)?)),
        _ => Err(Reply::err(
            "ERR wrong number of arguments for 'ping' command",
        )),
    }
}

pub fn echo(_ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    Ok(Reply::bulk(arg(args, 1)?))
}

fn check_password(ctx: &Ctx<'_>, user: Option<&[u8]>, pass: &[u8]) -> Result<(), Reply> {
    let Some(want) = ctx.engine.config.requirepass.as_deref() else {
        return Err(Reply::err(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    };
    let user_ok = user.is_none_or(|u| u == b"default");
    if user_ok && pass == want.as_bytes() {
        Ok(())
    } else {
        Err(Reply::err(
            "WRONGPASS invalid username-password pair or user is disabled.",
        ))
    }
}

pub fn auth(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let (user, pass) = match args.len() {
        2 => (None, arg(args, 1)?),
        3 => (Some(arg(args, 1)?), arg(args, 2)?),
        _ => return Err(syntax()),
    };
    check_password(ctx, user, pass)?;
    ctx.session.authenticated = true;
    Ok(Reply::OK)
}

pub fn hello(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let mut protocol = ctx.session.protocol;
    let mut i = 1;
    if let Some(v) = args.get(1) {
        match parse_int(v) {
            Some(p @ 2..=3) => protocol = u8::try_from(p).unwrap_or(2),
            Some(_) => return Err(Reply::err("NOPROTO unsupported protocol version")),
            None => {
                return Err(Reply::err(
                    "ERR Protocol version is not an integer or out of range",
                ))
            }
        }
        i = 2;
    }
    let mut name = None;
    while i < args.len() {
        let a = arg(args, i)?;
        if eq_ignore_case(a, "auth") {
            let (user, pass) = (arg(args, i + 1)?, arg(args, i + 2)?);
            check_password(ctx, Some(user), pass)?;
            ctx.session.authenticated = true;
            i += 3;
        } else if eq_ignore_case(a, "setname") {
            name = Some(valid_name(arg(args, i + 1)?)?);
            i += 2;
        } else {
            return Err(syntax());
        }
    }
    if !ctx.session.authenticated {
        return Err(Reply::err(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    if let Some(n) = name {
        ctx.session.name = Some(n);
    }
    ctx.session.protocol = protocol;
    Ok(Reply::Map(vec![
        (Reply::bulk("server"), Reply::bulk("redis")),
        (Reply::bulk("version"), Reply::bulk(REDIS_VERSION)),
        (Reply::bulk("proto"), Reply::Int(i64::from(protocol))),
        (
            Reply::bulk("id"),
            Reply::Int(i64::try_from(ctx.session.id).unwrap_or(i64::MAX)),
        ),
        (Reply::bulk("mode"), Reply::bulk("standalone")),
        (Reply::bulk("role"), Reply::bulk("master")),
        (Reply::bulk("modules"), Reply::Array(vec![])),
    ]))
}

pub fn select(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let n = super::int_arg(arg(args, 1)?)?;
    ctx.session.db = u8::try_from(n)
        .ok()
        .filter(|d| usize::from(*d) < DATABASES)
        .ok_or_else(|| Reply::err("ERR DB index is out of range"))?;
    Ok(Reply::OK)
}

pub fn quit(ctx: &mut Ctx<'_>, _args: &[Vec<u8>]) -> Result<Reply, Reply> {
    ctx.session.closing = true;
    Ok(Reply::OK)
}

fn valid_name(b: &[u8]) -> Result<String, Reply> {
    if b.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(Reply::err(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(String::from_utf8_lossy(b).into_owned())
}

pub fn client(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let sub = arg(args, 1)?.to_ascii_lowercase();
    match sub.as_slice() {
        b"setname" if args.len() == 3 => {
            let n = valid_name(arg(args, 2)?)?;
            ctx.session.name = (!n.is_empty()).then_some(n);
            Ok(Reply::OK)
        }
        b"getname" if args.len() == 2 => {
            Ok(ctx.session.name.as_ref().map_or(Reply::Nil, Reply::bulk))
        }
        b"id" if args.len() == 2 => Ok(Reply::Int(
            i64::try_from(ctx.session.id).unwrap_or(i64::MAX),
        )),
        b"info" if args.len() == 2 => Ok(Reply::Bulk(
            format!("{}\n", ctx.engine.client_line(ctx.session)).into_bytes(),
        )),
        b"list" => Ok(Reply::Bulk(ctx.engine.client_list().into_bytes())),
        b"setinfo" if args.len() == 4 => Ok(Reply::OK),
        b"no-evict" | b"no-touch" | b"reply" => Ok(Reply::OK),
        _ => Err(Reply::err(format!(
            "ERR unknown subcommand '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(arg(args, 1)?)
        ))),
    }
}

pub fn info(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let wanted: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| String::from_utf8_lossy(a).to_lowercase())
        .collect();
    Ok(Reply::Bulk(ctx.engine.info(&wanted, ctx.now).into_bytes()))
}

pub fn config(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let sub = arg(args, 1)?.to_ascii_lowercase();
    match sub.as_slice() {
        b"get" if args.len() >= 3 => {
            let params = ctx.engine.config_params();
            let mut out = Vec::new();
            for pattern in args.iter().skip(2) {
                let pattern = pattern.to_ascii_lowercase();
                for (k, v) in &params {
                    if glob_match(&pattern, k.as_bytes()) {
                        out.push((Reply::bulk(k), Reply::bulk(v)));
                    }
                }
            }
            Ok(Reply::Map(out))
        }
        b"set" if args.len() >= 4 && args.len() % 2 == 0 => {
            let params = ctx.engine.config_params();
            for pair in args.get(2..).unwrap_or_default().chunks(2) {
                let name = pair
                    .first()
                    .map(|n| n.to_ascii_lowercase())
                    .unwrap_or_default();
                if !params.iter().any(|(k, _)| k.as_bytes() == name.as_slice()) {
                    return Err(Reply::err(format!(
                        "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                        String::from_utf8_lossy(&name)
                    )));
                }
            }
            // Accepted for compatibility; the values that matter are server flags.
            Ok(Reply::OK)
        }
        b"resetstat" if args.len() == 2 => Ok(Reply::OK),
        _ => Err(Reply::err(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CONFIG HELP.",
            String::from_utf8_lossy(arg(args, 1)?)
        ))),
    }
}

fn command_info(c: &super::Command) -> Reply {
    let flags = if c.write { "write" } else { "readonly" };
    let (first, last, step) = super::key_spec(c.name);
    Reply::Array(vec![
        Reply::bulk(c.name),
        Reply::Int(i64::from(c.arity)),
        Reply::Set(vec![Reply::Simple(flags)]),
        Reply::Int(first),
        Reply::Int(last),
        Reply::Int(step),
    ])
}

pub fn command(_ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let Some(sub) = args.get(1) else {
        return Ok(Reply::Array(COMMANDS.iter().map(command_info).collect()));
    };
    match sub.to_ascii_lowercase().as_slice() {
        b"count" => Ok(Reply::Int(COMMANDS.len() as i64)),
        b"docs" => Ok(Reply::Map(vec![])),
        b"info" => Ok(Reply::Array(
            args.iter()
                .skip(2)
                .map(|n| super::lookup(n).map_or(Reply::Nil, command_info))
                .collect(),
        )),
        b"list" => Ok(Reply::Array(
            COMMANDS.iter().map(|c| Reply::bulk(c.name)).collect(),
        )),
        _ => Err(Reply::err(format!(
            "ERR unknown subcommand '{}'. Try COMMAND HELP.",
            String::from_utf8_lossy(sub)
        ))),
    }
}

/// `READONLY`: on a follower of a cluster, serve reads from this node (possibly stale) rather
/// than refusing them (as Redis Cluster replicas do).
pub fn readonly(ctx: &mut Ctx<'_>, _args: &[Vec<u8>]) -> Result<Reply, Reply> {
    ctx.session.follower_reads = true;
    Ok(Reply::OK)
}

/// `READWRITE`: back to reads from the leader only.
pub fn readwrite(ctx: &mut Ctx<'_>, _args: &[Vec<u8>]) -> Result<Reply, Reply> {
    ctx.session.follower_reads = false;
    Ok(Reply::OK)
}

pub fn time(ctx: &mut Ctx<'_>, _args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let _ = ctx;
    Ok(Reply::Array(vec![
        Reply::Bulk((micros / 1_000_000).to_string().into_bytes()),
        Reply::Bulk((micros % 1_000_000).to_string().into_bytes()),
    ]))
}

pub fn dbsize(ctx: &mut Ctx<'_>, _args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let mut n = 0i64;
    for kv in ctx.store.keys(ctx.db(), b"", ctx.now).map_err(internal)? {
        kv.map_err(internal)?;
        n += 1;
    }
    Ok(Reply::Int(n))
}

/// FLUSHDB's and FLUSHALL's one optional argument, ASYNC or SYNC (both flush at once here);
/// anything else, or more, is a syntax error and flushes nothing.
fn flush_mode(args: &[Vec<u8>]) -> Result<(), Reply> {
    if args.len() > 2 {
        return Err(syntax());
    }
    match args.get(1) {
        None => Ok(()),
        Some(m) if eq_ignore_case(m, "async") || eq_ignore_case(m, "sync") => Ok(()),
        Some(_) => Err(syntax()),
    }
}

pub fn flushdb(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    flush_mode(args)?;
    // No write of any key runs meanwhile (a time series' head must not outlive the flush).
    let _all = ctx.store.lock_all();
    let mut b = WriteBatch::new();
    ctx.store.flush_into(&mut b, ctx.db());
    ctx.write(&b)?;
    Ok(Reply::OK)
}

pub fn flushall(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    flush_mode(args)?;
    let _all = ctx.store.lock_all();
    let mut b = WriteBatch::new();
    for db in 0..DATABASES {
        ctx.store.flush_into(&mut b, u8::try_from(db).unwrap_or(0));
    }
    ctx.write(&b)?;
    Ok(Reply::OK)
}

pub fn shutdown(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    for a in args.iter().skip(1) {
        let a = a.to_ascii_lowercase();
        if !matches!(
            a.as_slice(),
            b"nosave" | b"save" | b"now" | b"force" | b"abort"
        ) {
            return Err(syntax());
        }
        if a == b"abort" {
            return Err(Reply::err("ERR There is no shutdown in progress."));
        }
    }
    tracing::info!(client = ctx.session.id, "SHUTDOWN requested by a client");
    ctx.engine.request_shutdown();
    // Like Redis: no reply, the connection closes.
    ctx.session.closing = true;
    Ok(Reply::Many(Vec::new()))
}

/// SAVE: every acknowledged write is already durable in the WAL; SAVE also writes the
/// memtables into tables (as a Redis snapshot would), so the WAL before them can be recycled.
pub fn save(ctx: &mut Ctx<'_>, _args: &[Vec<u8>]) -> Result<Reply, Reply> {
    // Time series' open chunks go to the tables compressed, not as log records.
    super::timeseries::checkpoint::maintain_from_command(ctx.store)?;
    // The flush runs off this worker thread, which goes on serving its other connections:
    // a flush waits for every write in its memtables to be published, and a write is
    // published by its owner, which may be a connection of this very worker.
    let db = std::sync::Arc::clone(ctx.store.db());
    let (deferred, done) = crate::reply::Deferred::new();
    std::thread::Builder::new()
        .name("orbit-save".into())
        .spawn(move || {
            let reply = match db.flush() {
                Ok(()) => Reply::OK,
                Err(e) => Reply::err(format!("ERR {e}")),
            };
            let _ = done.send(reply);
        })
        .map_err(|e| Reply::err(format!("ERR cannot start the save: {e}")))?;
    if ctx.in_exec {
        // Inside EXEC the replies go out together: the save goes on as BGSAVE's does.
        return Ok(Reply::OK);
    }
    Ok(Reply::Deferred(deferred))
}

/// BGSAVE: SAVE on a background thread.
pub fn bgsave(ctx: &mut Ctx<'_>, _args: &[Vec<u8>]) -> Result<Reply, Reply> {
    super::timeseries::checkpoint::maintain_from_command(ctx.store)?;
    let db = std::sync::Arc::clone(ctx.store.db());
    std::thread::Builder::new()
        .name("orbit-bgsave".into())
        .spawn(move || {
            if let Err(e) = db.flush() {
                tracing::warn!(error = %e, "BGSAVE failed");
            }
        })
        .map_err(|e| Reply::err(format!("ERR cannot start the save: {e}")))?;
    Ok(Reply::Simple("Background saving started"))
}

pub fn debug(_ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let sub = arg(args, 1)?.to_ascii_lowercase();
    match sub.as_slice() {
        b"sleep" => {
            let secs = super::parse_float(arg(args, 2)?)
                .filter(|s| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| Reply::err("ERR value is not a valid float"))?;
            // Blocks this connection's worker thread, as Redis blocks its only thread.
            std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(3600.0)));
            Ok(Reply::OK)
        }
        _ => Err(Reply::err(format!(
            "ERR DEBUG subcommand '{}' is not supported (SLEEP is)",
            String::from_utf8_lossy(&sub)
        ))),
    }
}

pub fn object(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let sub = arg(args, 1)?.to_ascii_lowercase();
    let key = arg(args, 2)?;
    let Some(meta) = ctx.meta_any(key)? else {
        return Ok(Reply::Nil);
    };
    match sub.as_slice() {
        b"encoding" => Ok(Reply::bulk(match meta.kind {
            crate::store::Kind::String if parse_int(&meta.payload).is_some() => "int",
            crate::store::Kind::String if meta.payload.len() <= 44 => "embstr",
            crate::store::Kind::String => "raw",
            crate::store::Kind::Hash | crate::store::Kind::Set => "hashtable",
            crate::store::Kind::List => "quicklist",
            crate::store::Kind::ZSet => "skiplist",
            crate::store::Kind::TimeSeries => "compressed",
        })),
        b"refcount" => Ok(Reply::Int(1)),
        b"idletime" | b"freq" => Ok(Reply::Int(0)),
        _ => Err(Reply::err(format!(
            "ERR unknown subcommand '{}'. Try OBJECT HELP.",
            String::from_utf8_lossy(&sub)
        ))),
    }
}
