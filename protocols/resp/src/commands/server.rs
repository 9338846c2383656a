//! Connection and server commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, CLIENT, INFO,
//! CONFIG, COMMAND, TIME, DBSIZE, FLUSHDB, FLUSHALL.

use orbit_lsm::WriteBatch;

use super::{arg, eq_ignore_case, glob_match, internal, parse_int, syntax, Ctx, COMMANDS};
use crate::reply::Reply;
use crate::store::DATABASES;

/// Redis 7's check of a container command's subcommand (`CLIENT SETNAME`): its arity as
/// Redis's command table gives it (negative: at least that many arguments, the container's
/// name and the subcommand's counted). A subcommand not in `table` passes (its handler
/// answers "unknown subcommand").
pub fn sub_arity(container: &str, args: &[Vec<u8>], table: &[(&str, i32)]) -> Result<(), Reply> {
    let Some(sub) = args.get(1) else {
        return Ok(());
    };
    let n = i32::try_from(args.len()).unwrap_or(i32::MAX);
    let found = table.iter().find(|(name, _)| eq_ignore_case(sub, name));
    match found {
        Some((name, arity)) if (*arity > 0 && n != *arity) || (*arity < 0 && n < -arity) => {
            Err(Reply::err(format!(
                "ERR wrong number of arguments for '{container}|{name}' command"
            )))
        }
        _ => Ok(()),
    }
}

/// A container command's `HELP` reply, as Redis writes one: status lines, the usage first.
pub fn help(lines: &[&'static str]) -> Reply {
    let end = ["HELP", "    Prints this help."];
    Reply::Array(lines.iter().chain(&end).map(|l| Reply::Simple(l)).collect())
}

/// The Redis version the server reports (clients gate features on it).
pub const REDIS_VERSION: &str = "7.2.0";

pub fn ping(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    if ctx.session.subscribed() && ctx.session.protocol < 3 && args.len() <= 2 {
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
    let user_ok = user.is_none_or(|u| u == b"default");
    let Some(want) = ctx.engine.config.requirepass.as_deref() else {
        // Without a password the default user takes any (`nopass`), as in Redis; only the
        // one-argument form is refused, and other users do not exist.
        return match user {
            None => Err(Reply::err(
                "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            )),
            Some(_) if user_ok => Ok(()),
            Some(_) => Err(Reply::err(
                "WRONGPASS invalid username-password pair or user is disabled.",
            )),
        };
    };
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
        let more = args.len() - i - 1;
        if eq_ignore_case(a, "auth") && more >= 2 {
            let (user, pass) = (arg(args, i + 1)?, arg(args, i + 2)?);
            check_password(ctx, Some(user), pass)?;
            ctx.session.authenticated = true;
            i += 3;
        } else if eq_ignore_case(a, "setname") && more >= 1 {
            name = Some(valid_name(arg(args, i + 1)?)?);
            i += 2;
        } else {
            return Err(Reply::err(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(a)
            )));
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

/// CLIENT's subcommands and their arities (Redis 7.2's command table).
const CLIENT_ARITY: &[(&str, i32)] = &[
    ("setname", 3),
    ("getname", 2),
    ("id", 2),
    ("info", 2),
    ("list", -2),
    ("setinfo", 4),
    ("no-evict", 3),
    ("no-touch", 3),
    ("reply", 3),
    ("help", 2),
];

pub fn client(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    sub_arity("client", args, CLIENT_ARITY)?;
    let sub = arg(args, 1)?.to_ascii_lowercase();
    // `on`/`off` (and `skip` for REPLY): accepted, with nothing to change here.
    let switch = |allowed: &[&str]| match args.get(2) {
        Some(v) if allowed.iter().any(|a| eq_ignore_case(v, a)) => Ok(Reply::OK),
        _ => Err(syntax()),
    };
    match sub.as_slice() {
        b"setname" => {
            let n = valid_name(arg(args, 2)?)?;
            ctx.session.name = (!n.is_empty()).then_some(n);
            Ok(Reply::OK)
        }
        b"getname" => Ok(ctx.session.name.as_ref().map_or(Reply::Nil, Reply::bulk)),
        b"id" => Ok(Reply::Int(
            i64::try_from(ctx.session.id).unwrap_or(i64::MAX),
        )),
        b"info" => Ok(Reply::Bulk(
            format!("{}\n", ctx.engine.client_line(ctx.session)).into_bytes(),
        )),
        // TYPE and ID filters are accepted and list every client.
        b"list"
            if args.len() == 2
                || args.len() >= 4
                    && arg(args, 2)
                        .is_ok_and(|o| eq_ignore_case(o, "type") || eq_ignore_case(o, "id")) =>
        {
            Ok(Reply::Bulk(ctx.engine.client_list().into_bytes()))
        }
        b"list" => Err(syntax()),
        b"setinfo" => Ok(Reply::OK),
        b"no-evict" | b"no-touch" => switch(&["on", "off"]),
        b"reply" => switch(&["on", "off", "skip"]),
        b"help" => Ok(help(&[
            "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "LIST",
            "    Return information about client connections.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
        ])),
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

/// CONFIG's subcommands and their arities.
const CONFIG_ARITY: &[(&str, i32)] = &[("get", -3), ("set", -4), ("resetstat", 2), ("help", 2)];

pub fn config(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    sub_arity("config", args, CONFIG_ARITY)?;
    let sub = arg(args, 1)?.to_ascii_lowercase();
    match sub.as_slice() {
        b"get" => {
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
        b"set" if args.len() % 2 == 1 => Err(syntax()),
        b"set" => {
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
        b"resetstat" => Ok(Reply::OK),
        b"help" => Ok(help(&[
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
        ])),
        _ => Err(Reply::err(format!(
            "ERR unknown subcommand '{}'. Try CONFIG HELP.",
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

/// COMMAND's subcommands and their arities.
const COMMAND_ARITY: &[(&str, i32)] = &[
    ("count", 2),
    ("docs", -2),
    ("info", -2),
    ("list", -2),
    ("help", 2),
];

pub fn command(_ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    sub_arity("command", args, COMMAND_ARITY)?;
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
        b"help" => Ok(help(&[
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
        ])),
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

/// OBJECT's subcommands and their arities.
const OBJECT_ARITY: &[(&str, i32)] = &[
    ("encoding", 3),
    ("freq", 3),
    ("idletime", 3),
    ("refcount", 3),
    ("help", 2),
];

pub fn object(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    sub_arity("object", args, OBJECT_ARITY)?;
    let sub = arg(args, 1)?.to_ascii_lowercase();
    if sub == b"help" {
        return Ok(help(&[
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ]));
    }
    if !OBJECT_ARITY
        .iter()
        .any(|(name, _)| name.as_bytes() == sub.as_slice())
    {
        return Err(Reply::err(format!(
            "ERR unknown subcommand '{}'. Try OBJECT HELP.",
            String::from_utf8_lossy(arg(args, 1)?)
        )));
    }
    let key = arg(args, 2)?;
    let Some(meta) = ctx.meta_any(key)? else {
        return Ok(Reply::Nil);
    };
    match sub.as_slice() {
        b"encoding" => Ok(Reply::bulk(super::encoding::encoding(ctx, key, &meta)?)),
        b"refcount" => Ok(Reply::Int(1)),
        b"freq" => Err(Reply::err(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        )),
        _ => Ok(Reply::Int(0)),
    }
}
