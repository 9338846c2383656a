//! Blocking commands: BLPOP, BRPOP, BLMOVE, BZPOPMIN, BZPOPMAX. Each first tries its
//! non-blocking form on the keys in order; if every key is empty it answers `Reply::Block` and
//! the connection waits (`conn`), queued on its source keys (`crate::blocked`), until its turn
//! comes after a write to one of them or the timeout passes, then runs the command again.
//! Inside MULTI/EXEC they never block: an empty result is a nil reply at once, as in Redis.
//!
//! A retry (`Session::blocked`) first checks that one of the source keys holds the kind of
//! value the command waits for; if none does (`SET k v` while a client waits in `BLPOP k`),
//! the client keeps waiting, as Redis keeps it blocked. Otherwise the command runs as on its
//! first try, errors included (a string at another of its keys answers WRONGTYPE).

use super::{arg, internal, lists, parse_float, zsets, Ctx};
use crate::reply::Reply;
use crate::store::Kind;

/// What a blocking command waits for, and its source keys: the keys it is queued on.
pub fn waits_on<'a>(name: &str, args: &'a [Vec<u8>]) -> (Kind, &'a [Vec<u8>]) {
    let kind = match name {
        "bzpopmin" | "bzpopmax" => Kind::ZSet,
        _ => Kind::List,
    };
    let keys = match name {
        "blmove" => args.get(1..2),
        _ => args.get(1..args.len().saturating_sub(1)),
    };
    (kind, keys.unwrap_or_default())
}

/// On a retry: whether one of `keys` holds a value of `kind` (see the module docs).
fn ready(ctx: &Ctx<'_>, keys: &[Vec<u8>], kind: Kind) -> Result<bool, Reply> {
    for key in keys {
        let meta = ctx.store.meta(ctx.db(), key, ctx.now).map_err(internal)?;
        if meta.is_some_and(|m| m.kind == kind) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether a retry should keep waiting without running (none of its keys is ready).
fn keep_waiting(ctx: &Ctx<'_>, args: &[Vec<u8>]) -> Result<bool, Reply> {
    if !ctx.session.blocked || ctx.in_exec {
        return Ok(false);
    }
    let name = super::lookup(arg(args, 0)?).map_or("", |c| c.name);
    let (kind, keys) = waits_on(name, args);
    Ok(!ready(ctx, keys, kind)?)
}

/// Parses a blocking timeout in seconds into an absolute deadline (`None`: wait forever).
fn deadline(ctx: &Ctx<'_>, b: &[u8]) -> Result<Option<u64>, Reply> {
    let t = parse_float(b)
        .filter(|t| t.is_finite())
        .ok_or_else(|| Reply::err("ERR timeout is not a float or out of range"))?;
    if t < 0.0 {
        return Err(Reply::err("ERR timeout is negative"));
    }
    if t == 0.0 {
        return Ok(None);
    }
    Ok(Some(ctx.now.saturating_add((t * 1000.0) as u64)))
}

fn block_or_nil(ctx: &Ctx<'_>, until: Option<u64>) -> Reply {
    if ctx.in_exec {
        Reply::NilArray
    } else {
        Reply::Block(until)
    }
}

/// BLPOP / BRPOP: `[key, element]` from the first non-empty list.
fn bpop(ctx: &mut Ctx<'_>, args: &[Vec<u8>], left: bool) -> Result<Reply, Reply> {
    let until = deadline(ctx, arg(args, args.len() - 1)?)?;
    if keep_waiting(ctx, args)? {
        return Ok(Reply::Block(until));
    }
    for key in args.get(1..args.len() - 1).unwrap_or_default() {
        let r = lists::pop_one(ctx, key, left)?;
        if let Reply::Bulk(v) = r {
            return Ok(Reply::Array(vec![Reply::bulk(key), Reply::Bulk(v)]));
        }
    }
    Ok(block_or_nil(ctx, until))
}

pub fn blpop(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    bpop(ctx, args, true)
}

pub fn brpop(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    bpop(ctx, args, false)
}

pub fn blmove(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let until = deadline(ctx, arg(args, 5)?)?;
    if keep_waiting(ctx, args)? {
        return Ok(Reply::Block(until));
    }
    let r = lists::lmove(ctx, args.get(..5).unwrap_or_default())?;
    Ok(match r {
        Reply::Nil => {
            if ctx.in_exec {
                Reply::Nil
            } else {
                Reply::Block(until)
            }
        }
        other => other,
    })
}

/// BZPOPMIN / BZPOPMAX: `[key, member, score]` from the first non-empty sorted set.
fn bzpop(ctx: &mut Ctx<'_>, args: &[Vec<u8>], max: bool) -> Result<Reply, Reply> {
    let until = deadline(ctx, arg(args, args.len() - 1)?)?;
    if keep_waiting(ctx, args)? {
        return Ok(Reply::Block(until));
    }
    for key in args.get(1..args.len() - 1).unwrap_or_default() {
        if let Some((member, score)) = zsets::pop_one(ctx, key, max)? {
            return Ok(Reply::Array(vec![
                Reply::bulk(key),
                Reply::Bulk(member),
                Reply::Double(score),
            ]));
        }
    }
    Ok(block_or_nil(ctx, until))
}

pub fn bzpopmin(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    bzpop(ctx, args, false)
}

pub fn bzpopmax(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    bzpop(ctx, args, true)
}
