//! Generic key commands: deletion, existence, expiry, types, renames, listing.

use orbit_lsm::WriteBatch;

use super::{arg, eq_ignore_case, glob_match, int_arg, internal, syntax, Ctx};
use crate::reply::Reply;
use crate::store::{Kind, Meta, Store};

pub fn del(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let keys: Vec<&[u8]> = args.iter().skip(1).map(Vec::as_slice).collect();
    let _g = ctx.store.lock(ctx.db(), &keys);
    let mut b = WriteBatch::new();
    let mut n = 0;
    let mut seen = std::collections::HashSet::new();
    for k in keys {
        if !seen.insert(k) {
            continue;
        }
        if let Some(m) = ctx.meta_any(k)? {
            ctx.store.delete_into(&mut b, ctx.db(), k, &m);
            n += 1;
        }
    }
    ctx.write(&b)?;
    Ok(Reply::Int(n))
}

pub fn exists(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let mut n = 0;
    for k in args.iter().skip(1) {
        n += i64::from(ctx.meta_any(k)?.is_some());
    }
    Ok(Reply::Int(n))
}

/// Rewrites a key's metadata with a new expiry.
fn set_expiry(ctx: &mut Ctx<'_>, key: &[u8], meta: &Meta, at: u64) -> Result<(), Reply> {
    let mut b = WriteBatch::new();
    let m = Meta {
        expire_at: at,
        ..meta.clone()
    };
    ctx.store.put_meta_into(&mut b, ctx.db(), key, &m);
    ctx.write(&b)
}

fn expire_generic(
    ctx: &mut Ctx<'_>,
    args: &[Vec<u8>],
    unit_ms: i64,
    absolute: bool,
) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for a in args.iter().skip(3) {
        match a.to_ascii_lowercase().as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"gt" => gt = true,
            b"lt" => lt = true,
            _ => {
                return Err(Reply::err(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(a)
                )))
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err(Reply::err(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(Reply::err(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    // The options first, then the time, in Redis's order of errors.
    let v = int_arg(arg(args, 2)?)?;
    let cmd = String::from_utf8_lossy(arg(args, 0)?).to_lowercase();
    let invalid = || Reply::err(format!("ERR invalid expire time in '{cmd}' command"));
    let ms = v.checked_mul(unit_ms).ok_or_else(invalid)?;
    let at = if absolute {
        ms
    } else {
        ms.checked_add(i64::try_from(ctx.now).unwrap_or(i64::MAX))
            .ok_or_else(invalid)?
    };
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let Some(meta) = ctx.meta_any(key)? else {
        return Ok(Reply::Int(0));
    };
    let current = meta.expire_at;
    let new = u64::try_from(at.max(0)).unwrap_or(0);
    let ok = (!nx || current == 0)
        && (!xx || current != 0)
        && (!gt || (current != 0 && new > current))
        && (!lt || current == 0 || new < current);
    if !ok {
        return Ok(Reply::Int(0));
    }
    if at <= i64::try_from(ctx.now).unwrap_or(i64::MAX) {
        // In the past: the key is deleted, as Redis does.
        let mut b = WriteBatch::new();
        ctx.store.delete_into(&mut b, ctx.db(), key, &meta);
        ctx.write(&b)?;
    } else {
        set_expiry(ctx, key, &meta, new)?;
    }
    Ok(Reply::Int(1))
}

pub fn expire(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    expire_generic(ctx, args, 1000, false)
}

pub fn pexpire(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    expire_generic(ctx, args, 1, false)
}

pub fn expireat(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    expire_generic(ctx, args, 1000, true)
}

pub fn pexpireat(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    expire_generic(ctx, args, 1, true)
}

fn ttl_generic(
    ctx: &mut Ctx<'_>,
    args: &[Vec<u8>],
    unit_ms: u64,
    absolute: bool,
) -> Result<Reply, Reply> {
    Ok(Reply::Int(match ctx.meta_any(arg(args, 1)?)? {
        None => -2,
        Some(m) if m.expire_at == 0 => -1,
        // Redis rounds seconds to the nearest, (ms + 500) / 1000, for EXPIRETIME too.
        Some(m) if absolute => {
            i64::try_from(m.expire_at.saturating_add(unit_ms / 2) / unit_ms).unwrap_or(i64::MAX)
        }
        Some(m) => {
            let left = m.expire_at.saturating_sub(ctx.now);
            i64::try_from((left + unit_ms / 2) / unit_ms).unwrap_or(i64::MAX)
        }
    }))
}

pub fn ttl(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    ttl_generic(ctx, args, 1000, false)
}

pub fn pttl(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    ttl_generic(ctx, args, 1, false)
}

pub fn expiretime(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    ttl_generic(ctx, args, 1000, true)
}

pub fn pexpiretime(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    ttl_generic(ctx, args, 1, true)
}

pub fn persist(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let _g = ctx.store.lock(ctx.db(), &[key]);
    match ctx.meta_any(key)? {
        Some(m) if m.expire_at != 0 => {
            set_expiry(ctx, key, &m, 0)?;
            Ok(Reply::Int(1))
        }
        _ => Ok(Reply::Int(0)),
    }
}

pub fn type_(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    Ok(match ctx.meta_any(arg(args, 1)?)? {
        Some(m) => Reply::Simple(m.kind.name()),
        None => Reply::Simple("none"),
    })
}

/// Adds the writes that make `dst` (in database `dst_db`) a copy of `src`'s value to `b`.
fn copy_into(
    ctx: &Ctx<'_>,
    b: &mut WriteBatch,
    src: &[u8],
    meta: &Meta,
    dst_db: u8,
    dst: &[u8],
    dst_old: Option<&Meta>,
) -> Result<(), Reply> {
    match dst_old {
        Some(old) => ctx.store.delete_into(b, dst_db, dst, old),
        // An expired collection there may have left its members.
        None => ctx.clear_stale_at(b, dst_db, dst)?,
    }
    if meta.kind == Kind::TimeSeries {
        let copy = Meta {
            payload: super::timeseries::copied_payload(&meta.payload),
            ..meta.clone()
        };
        ctx.store.put_meta_into(b, dst_db, dst, &copy);
        super::timeseries::index_copy(ctx.store, &meta.payload, dst_db, dst);
    } else {
        ctx.store.put_meta_into(b, dst_db, dst, meta);
    }
    if meta.kind != Kind::String {
        for (member, value) in ctx.store.members(ctx.db(), src).map_err(internal)? {
            b.put(
                ctx.store.sub_keyspace(),
                &Store::sub_key(dst_db, dst, &member),
                &value,
            );
        }
    }
    Ok(())
}

/// A key's metadata for a command that copies it whole: a time series' samples that only its
/// head holds are written to storage first (held under the key's stripe).
fn settled_meta(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<Option<Meta>, Reply> {
    let meta = ctx.meta_any(key)?;
    if meta.as_ref().is_some_and(|m| m.kind == Kind::TimeSeries) {
        super::timeseries::checkpoint::settle(ctx, key)?;
        return ctx.meta_any(key);
    }
    Ok(meta)
}

fn rename_generic(ctx: &mut Ctx<'_>, args: &[Vec<u8>], nx: bool) -> Result<Reply, Reply> {
    let (src, dst) = (arg(args, 1)?, arg(args, 2)?);
    let _g = ctx.store.lock(ctx.db(), &[src, dst]);
    let Some(meta) = settled_meta(ctx, src)? else {
        return Err(Reply::err("ERR no such key"));
    };
    if src == dst {
        return Ok(if nx { Reply::Int(0) } else { Reply::OK });
    }
    let dst_old = ctx.meta_any(dst)?;
    if nx && dst_old.is_some() {
        return Ok(Reply::Int(0));
    }
    // The source goes first: its member range (length-prefixed key) never covers the
    // destination's, and the copy was read before anything is written.
    let mut b = WriteBatch::new();
    ctx.store.delete_into(&mut b, ctx.db(), src, &meta);
    if meta.kind == Kind::TimeSeries {
        super::timeseries::unindex(ctx.store, ctx.db(), src);
    }
    copy_into(ctx, &mut b, src, &meta, ctx.db(), dst, dst_old.as_ref())?;
    ctx.write(&b)?;
    Ok(if nx { Reply::Int(1) } else { Reply::OK })
}

pub fn rename(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    rename_generic(ctx, args, false)
}

pub fn renamenx(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    rename_generic(ctx, args, true)
}

/// The database a `COPY` writes its destination in: the one its last `DB` option names (as
/// `copy` reads its options), if valid (WATCH, blocked clients and in-flight waits look for
/// the destination there).
pub fn copy_target_db(args: &[Vec<u8>], current: u8) -> u8 {
    let rest = args.get(3..).unwrap_or_default();
    rest.iter()
        .rposition(|a| eq_ignore_case(a, "db"))
        .and_then(|i| rest.get(i + 1))
        .and_then(|n| super::parse_int(n))
        .and_then(|n| u8::try_from(n).ok())
        .filter(|d| usize::from(*d) < crate::store::DATABASES)
        .unwrap_or(current)
}

pub fn copy(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let (src, dst) = (arg(args, 1)?, arg(args, 2)?);
    let (mut dst_db, mut replace) = (ctx.db(), false);
    let mut i = 3;
    while i < args.len() {
        let a = arg(args, i)?;
        if eq_ignore_case(a, "replace") {
            replace = true;
        } else if eq_ignore_case(a, "db") {
            let n = int_arg(arg(args, i + 1)?)?;
            dst_db = u8::try_from(n)
                .ok()
                .filter(|d| usize::from(*d) < crate::store::DATABASES)
                .ok_or_else(|| Reply::err("ERR DB index is out of range"))?;
            i += 1;
        } else {
            return Err(syntax());
        }
        i += 1;
    }
    if src == dst && dst_db == ctx.db() {
        return Err(Reply::err(
            "ERR source and destination objects are the same",
        ));
    }
    // The destination's stripe is its own database's.
    let _g = ctx.store.lock_in(&[(ctx.db(), src), (dst_db, dst)]);
    let Some(meta) = settled_meta(ctx, src)? else {
        return Ok(Reply::Int(0));
    };
    let dst_old = ctx.store.meta(dst_db, dst, ctx.now).map_err(internal)?;
    if dst_old.is_some() && !replace {
        return Ok(Reply::Int(0));
    }
    let mut b = WriteBatch::new();
    copy_into(ctx, &mut b, src, &meta, dst_db, dst, dst_old.as_ref())?;
    ctx.write(&b)?;
    Ok(Reply::Int(1))
}

pub fn keys(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let pattern = arg(args, 1)?;
    let mut out = Vec::new();
    for kv in ctx.store.keys(ctx.db(), b"", ctx.now).map_err(internal)? {
        let (k, _) = kv.map_err(internal)?;
        if glob_match(pattern, &k) {
            out.push(Reply::Bulk(k));
        }
    }
    Ok(Reply::Array(out))
}

pub fn scan(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let cursor = super::parse_int(arg(args, 1)?)
        .and_then(|c| u64::try_from(c).ok())
        .ok_or_else(|| Reply::err("ERR invalid cursor"))?;
    let (mut pattern, mut count, mut kind) = (None, 10usize, None);
    let mut i = 2;
    while i < args.len() {
        let (a, v) = (arg(args, i)?, arg(args, i + 1)?);
        if eq_ignore_case(a, "match") {
            pattern = Some(v.to_vec());
        } else if eq_ignore_case(a, "count") {
            count = usize::try_from(int_arg(v)?)
                .ok()
                .filter(|c| *c > 0)
                .ok_or_else(syntax)?;
        } else if eq_ignore_case(a, "type") {
            kind = Some(v.to_ascii_lowercase());
        } else {
            return Err(syntax());
        }
        i += 2;
    }
    let start = if cursor == 0 {
        Vec::new()
    } else {
        match ctx.engine.cursor(cursor) {
            Some(k) => k,
            None => return Ok(Reply::Array(vec![Reply::bulk("0"), Reply::Array(vec![])])),
        }
    };
    let mut out = Vec::new();
    let mut next = None;
    let keys = ctx
        .store
        .keys(ctx.db(), &start, ctx.now)
        .map_err(internal)?;
    for (visited, kv) in keys.enumerate() {
        let (k, m) = kv.map_err(internal)?;
        if visited == count {
            next = Some(k);
            break;
        }
        let type_ok = kind
            .as_ref()
            .is_none_or(|t| t.eq_ignore_ascii_case(m.kind.name().as_bytes()));
        if type_ok && pattern.as_ref().is_none_or(|p| glob_match(p, &k)) {
            out.push(Reply::Bulk(k));
        }
    }
    let cursor = next.map_or(0, |k| ctx.engine.save_cursor(k));
    Ok(Reply::Array(vec![
        Reply::Bulk(cursor.to_string().into_bytes()),
        Reply::Array(out),
    ]))
}

pub fn randomkey(ctx: &mut Ctx<'_>, _args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let start = [rand::random::<u8>(), rand::random::<u8>()];
    let mut keys = ctx
        .store
        .keys(ctx.db(), &start, ctx.now)
        .map_err(internal)?;
    if let Some(kv) = keys.next() {
        return Ok(Reply::Bulk(kv.map_err(internal)?.0));
    }
    let mut keys = ctx.store.keys(ctx.db(), b"", ctx.now).map_err(internal)?;
    Ok(match keys.next() {
        Some(kv) => Reply::Bulk(kv.map_err(internal)?.0),
        None => Reply::Nil,
    })
}
