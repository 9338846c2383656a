//! String commands.

use orbit_lsm::WriteBatch;

use super::{
    arg, eq_ignore_case, int_arg, not_float, not_integer, parse_float, parse_int, syntax, Ctx,
};
use crate::reply::Reply;
use crate::store::{Kind, Meta};

/// Largest string `SETRANGE` and `APPEND` may build (Redis's `proto-max-bulk-len`).
const MAX_STRING: usize = 512 << 20;

/// The string at `key`, `WRONGTYPE` for another kind.
fn string(ctx: &Ctx<'_>, key: &[u8]) -> Result<Option<Meta>, Reply> {
    ctx.meta_of(key, Kind::String)
}

/// For a writer, from one read: the key's live metadata (`WRONGTYPE` for a live value of
/// another kind when `string` is set), and whether a collection is stored there, live or
/// expired (a string replacing it drops its members: an expired one's too, or a collection
/// created at the key later would show them).
fn for_write(ctx: &Ctx<'_>, key: &[u8], string: bool) -> Result<(Option<Meta>, bool), Reply> {
    let raw = ctx.store.meta_raw(ctx.db(), key).map_err(super::internal)?;
    stored_for_write(ctx, raw, string)
}

/// Whether a collection is stored, live or expired, at each of `keys` (a string written over
/// one drops its members), for a writer that replaces the values whatever they hold. Read
/// only where the database may hold members (`Store::may_hold_members`); call under the
/// keys' stripes.
fn collections(ctx: &Ctx<'_>, keys: &[&[u8]]) -> Result<Vec<bool>, Reply> {
    if !ctx.store.may_hold_members(ctx.db()) {
        return Ok(vec![false; keys.len()]);
    }
    let stored = ctx.store.meta_raw_many(ctx.db(), keys);
    Ok(stored
        .map_err(super::internal)?
        .into_iter()
        .map(|raw| raw.is_some_and(|m| m.kind != Kind::String))
        .collect())
}

/// [`for_write`] of metadata already read as stored (`meta_raw`).
fn stored_for_write(
    ctx: &Ctx<'_>,
    raw: Option<Meta>,
    string: bool,
) -> Result<(Option<Meta>, bool), Reply> {
    let collection = raw.as_ref().is_some_and(|m| m.kind != Kind::String);
    match raw {
        Some(m) if m.expired(ctx.now) => Ok((None, collection)),
        Some(m) if string && m.kind != Kind::String => Err(super::wrongtype()),
        live => Ok((live, collection)),
    }
}

/// Adds "set `key` to the string `value`" to `batch`; `collection`: a collection is stored
/// at the key, live or expired (`for_write`), and its members go.
fn put(
    ctx: &Ctx<'_>,
    batch: &mut WriteBatch,
    key: &[u8],
    value: &[u8],
    expire_at: u64,
    collection: bool,
) {
    let db = ctx.db();
    if collection {
        ctx.store.clear_members_into(batch, db, key);
    }
    let meta = Meta {
        kind: Kind::String,
        expire_at,
        payload: value.to_vec(),
    };
    ctx.store.put_meta_into(batch, db, key, &meta);
}

pub fn get(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    Ok(match string(ctx, arg(args, 1)?)? {
        Some(m) => Reply::Bulk(m.payload),
        None => Reply::Nil,
    })
}

/// Parses an expiry argument into absolute milliseconds; `unit_ms` 1000 for seconds;
/// `absolute` for EXAT/PXAT.
fn expiry(
    ctx: &Ctx<'_>,
    value: &[u8],
    unit_ms: i64,
    absolute: bool,
    cmd: &str,
) -> Result<u64, Reply> {
    let invalid = || Reply::err(format!("ERR invalid expire time in '{cmd}' command"));
    let v = int_arg(value)?;
    if v <= 0 {
        return Err(invalid());
    }
    let ms = v.checked_mul(unit_ms).ok_or_else(invalid)?;
    let at = if absolute {
        ms
    } else {
        ms.checked_add(i64::try_from(ctx.now).unwrap_or(i64::MAX))
            .ok_or_else(invalid)?
    };
    u64::try_from(at).map_err(|_| invalid())
}

/// The expiry options of SET and GETEX.
const EXPIRY_OPTIONS: [&str; 4] = ["ex", "px", "exat", "pxat"];

pub fn set(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let (key, value) = (arg(args, 1)?, arg(args, 2)?);
    let (mut nx, mut xx, mut get, mut keepttl) = (false, false, false, false);
    let mut expire_at: Option<u64> = None;
    // Which of EX PX EXAT PXAT set it: the same one again replaces it (as in Redis), another
    // is a syntax error.
    let mut expire_kind: Option<&str> = None;
    let mut i = 3;
    while i < args.len() {
        let a = arg(args, i)?;
        let next = args.get(i + 1);
        let unit = |name: &str| eq_ignore_case(a, name);
        let expire_option = EXPIRY_OPTIONS.into_iter().find(|o| unit(o));
        if unit("nx") && !xx {
            nx = true;
        } else if unit("xx") && !nx {
            xx = true;
        } else if unit("get") {
            get = true;
        } else if unit("keepttl") && expire_at.is_none() {
            keepttl = true;
        } else if expire_option.is_some()
            && (expire_kind.is_none() || expire_kind == expire_option)
            && !keepttl
            && next.is_some()
        {
            expire_kind = expire_option;
            let ms = if unit("ex") || unit("exat") { 1000 } else { 1 };
            let absolute = unit("exat") || unit("pxat");
            expire_at = Some(expiry(
                ctx,
                next.map_or(&[][..], Vec::as_slice),
                ms,
                absolute,
                "set",
            )?);
            i += 1;
        } else {
            return Err(syntax());
        }
        i += 1;
    }
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let (old, collection) = if nx || xx || get || keepttl {
        for_write(ctx, key, false)?
    } else {
        // A plain SET (with or without a new expiry) replaces whatever is there.
        (None, collections(ctx, &[key])?.contains(&true))
    };
    if get && old.as_ref().is_some_and(|m| m.kind != Kind::String) {
        return Err(super::wrongtype());
    }
    let previous = || match &old {
        Some(m) if get => Reply::Bulk(m.payload.clone()),
        _ => Reply::Nil,
    };
    if (nx && old.is_some()) || (xx && old.is_none()) {
        return Ok(if get { previous() } else { Reply::Nil });
    }
    let ttl = match (expire_at, keepttl) {
        (Some(at), _) => at,
        (None, true) => old.as_ref().map_or(0, |m| m.expire_at),
        (None, false) => 0,
    };
    let mut b = WriteBatch::new();
    put(ctx, &mut b, key, value, ttl, collection);
    ctx.write(&b)?;
    Ok(if get { previous() } else { Reply::OK })
}

pub fn setnx(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let (key, value) = (arg(args, 1)?, arg(args, 2)?);
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let (old, collection) = for_write(ctx, key, false)?;
    if old.is_some() {
        return Ok(Reply::Int(0));
    }
    let mut b = WriteBatch::new();
    put(ctx, &mut b, key, value, 0, collection);
    ctx.write(&b)?;
    Ok(Reply::Int(1))
}

fn set_with_ttl(
    ctx: &mut Ctx<'_>,
    args: &[Vec<u8>],
    unit_ms: i64,
    cmd: &str,
) -> Result<Reply, Reply> {
    let (key, value) = (arg(args, 1)?, arg(args, 3)?);
    let at = expiry(ctx, arg(args, 2)?, unit_ms, false, cmd)?;
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let collection = collections(ctx, &[key])?.contains(&true);
    let mut b = WriteBatch::new();
    put(ctx, &mut b, key, value, at, collection);
    ctx.write(&b)?;
    Ok(Reply::OK)
}

pub fn setex(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    set_with_ttl(ctx, args, 1000, "setex")
}

pub fn psetex(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    set_with_ttl(ctx, args, 1, "psetex")
}

pub fn mget(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let keys: Vec<&[u8]> = args.iter().skip(1).map(Vec::as_slice).collect();
    let out = ctx
        .metas_any(&keys)?
        .into_iter()
        .map(|m| match m {
            Some(m) if m.kind == Kind::String => Reply::Bulk(m.payload),
            _ => Reply::Nil,
        })
        .collect();
    Ok(Reply::Array(out))
}

/// A run of `GET`s (`runs`): each one's reply (the value, nil, or WRONGTYPE), from one
/// batched lookup.
pub fn get_many(ctx: &mut Ctx<'_>, cmds: &[Vec<Vec<u8>>]) -> Result<Vec<Reply>, Reply> {
    let keys: Vec<&[u8]> = cmds
        .iter()
        .map(|a| a.get(1).map(Vec::as_slice).unwrap_or_default())
        .collect();
    Ok(ctx
        .metas_any(&keys)?
        .into_iter()
        .map(|m| match m {
            Some(m) if m.kind == Kind::String => Reply::Bulk(m.payload),
            Some(_) => super::wrongtype(),
            None => Reply::Nil,
        })
        .collect())
}

/// Key-value argument pairs.
type Pairs<'a> = Vec<(&'a [u8], &'a [u8])>;

fn pairs(args: &[Vec<u8>]) -> Result<Pairs<'_>, Reply> {
    let rest = args.get(1..).unwrap_or_default();
    if rest.is_empty() || rest.len() % 2 != 0 {
        let name = String::from_utf8_lossy(arg(args, 0)?).to_lowercase();
        return Err(Reply::err(format!(
            "ERR wrong number of arguments for '{name}' command"
        )));
    }
    Ok(rest
        .chunks(2)
        .filter_map(|c| match c {
            [k, v] => Some((k.as_slice(), v.as_slice())),
            _ => None,
        })
        .collect())
}

fn mset_inner(ctx: &mut Ctx<'_>, args: &[Vec<u8>], nx: bool) -> Result<Reply, Reply> {
    let kv = pairs(args)?;
    let done = set_pairs(ctx, &kv, nx)?;
    Ok(if nx {
        Reply::Int(i64::from(done))
    } else {
        Reply::OK
    })
}

/// Sets each (key, value) of `kv` as a plain SET does, as one write: MSET, and runs of SETs.
/// With `nx` (MSETNX), nothing is written if any key holds a live value (false). The keys'
/// metadata is read as stored (an expired collection's members go too) in one batched lookup,
/// if MSETNX needs it or the database may hold members ([`collections`]).
fn set_pairs(ctx: &mut Ctx<'_>, kv: &[(&[u8], &[u8])], nx: bool) -> Result<bool, Reply> {
    let keys: Vec<&[u8]> = kv.iter().map(|(k, _)| *k).collect();
    let _g = ctx.store.lock(ctx.db(), &keys);
    let collection = if nx {
        let stored = ctx
            .store
            .meta_raw_many(ctx.db(), &keys)
            .map_err(super::internal)?
            .into_iter()
            .map(|raw| stored_for_write(ctx, raw, false))
            .collect::<Result<Vec<_>, Reply>>()?;
        if stored.iter().any(|(live, _)| live.is_some()) {
            return Ok(false);
        }
        stored.into_iter().map(|(_, c)| c).collect()
    } else {
        collections(ctx, &keys)?
    };
    let mut b = WriteBatch::new();
    for ((k, v), collection) in kv.iter().zip(collection) {
        put(ctx, &mut b, k, v, 0, collection);
    }
    ctx.write(&b)?;
    Ok(true)
}

/// A run of plain `SET key value` commands (`super::runs`) written as one batch, as MSET
/// writes its pairs: the keys' stripes locked together, each key's old metadata read where
/// members may be dropped ([`collections`]), one
/// engine write (one WAL record, the memtable inserts overlapped). The outcome is that of
/// running them one by one in order (a key set twice ends with the later value; its old
/// members, if it was a collection, are cleared once per SET, harmlessly).
pub fn set_many(ctx: &mut Ctx<'_>, sets: &[Vec<Vec<u8>>]) -> Result<(), Reply> {
    let kv = sets
        .iter()
        .map(|a| Ok((arg(a, 1)?, arg(a, 2)?)))
        .collect::<Result<Vec<_>, Reply>>()?;
    set_pairs(ctx, &kv, false).map(|_| ())
}

pub fn mset(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    mset_inner(ctx, args, false)
}

pub fn msetnx(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    mset_inner(ctx, args, true)
}

pub fn getset(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let (key, value) = (arg(args, 1)?, arg(args, 2)?);
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let (old, collection) = for_write(ctx, key, true)?;
    let mut b = WriteBatch::new();
    put(ctx, &mut b, key, value, 0, collection);
    ctx.write(&b)?;
    Ok(old.map_or(Reply::Nil, |m| Reply::Bulk(m.payload)))
}

pub fn getdel(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let Some(old) = string(ctx, key)? else {
        return Ok(Reply::Nil);
    };
    let mut b = WriteBatch::new();
    ctx.store.delete_into(&mut b, ctx.db(), key, &old);
    ctx.write(&b)?;
    Ok(Reply::Bulk(old.payload))
}

pub fn getex(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let mut new_ttl: Option<u64> = None;
    // The option that set it: repeated, the last one counts (as in Redis); mixed, an error.
    let mut kind: Option<&str> = None;
    let mut i = 2;
    while i < args.len() {
        let a = arg(args, i)?;
        let is = |n: &str| eq_ignore_case(a, n);
        let option = ["persist"]
            .into_iter()
            .chain(EXPIRY_OPTIONS)
            .find(|o| is(o));
        let again = kind.is_none() || kind == option;
        if is("persist") && again {
            kind = option;
            new_ttl = Some(0);
        } else if option.is_some() && again {
            kind = option;
            let v = arg(args, i + 1)?;
            let ms = if is("ex") || is("exat") { 1000 } else { 1 };
            new_ttl = Some(expiry(ctx, v, ms, is("exat") || is("pxat"), "getex")?);
            i += 1;
        } else {
            return Err(syntax());
        }
        i += 1;
    }
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let Some(m) = string(ctx, key)? else {
        return Ok(Reply::Nil);
    };
    if let Some(at) = new_ttl {
        let mut b = WriteBatch::new();
        put(ctx, &mut b, key, &m.payload, at, false);
        ctx.write(&b)?;
    }
    Ok(Reply::Bulk(m.payload))
}

pub fn append(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let (key, tail) = (arg(args, 1)?, arg(args, 2)?);
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let (old, collection) = for_write(ctx, key, true)?;
    let mut value = old.as_ref().map(|m| m.payload.clone()).unwrap_or_default();
    if value.len() + tail.len() > MAX_STRING {
        return Err(Reply::err(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        ));
    }
    value.extend_from_slice(tail);
    let ttl = old.as_ref().map_or(0, |m| m.expire_at);
    let mut b = WriteBatch::new();
    put(ctx, &mut b, key, &value, ttl, collection);
    ctx.write(&b)?;
    Ok(Reply::Int(value.len() as i64))
}

pub fn strlen(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    Ok(Reply::Int(
        string(ctx, arg(args, 1)?)?.map_or(0, |m| m.payload.len() as i64),
    ))
}

pub fn getrange(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let (start, end) = (int_arg(arg(args, 2)?)?, int_arg(arg(args, 3)?)?);
    let value = string(ctx, key)?.map(|m| m.payload).unwrap_or_default();
    let len = value.len() as i64;
    if len == 0 || (start < 0 && end < 0 && start > end) {
        return Ok(Reply::bulk(b""));
    }
    let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i };
    let (s, e) = (norm(start), norm(end).min(len - 1));
    if s > e || s >= len {
        return Ok(Reply::bulk(b""));
    }
    let slice = value
        .get(usize::try_from(s).unwrap_or(0)..=usize::try_from(e).unwrap_or(0))
        .unwrap_or_default();
    Ok(Reply::bulk(slice))
}

pub fn setrange(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let offset = int_arg(arg(args, 2)?)?;
    let patch = arg(args, 3)?;
    if offset < 0 {
        return Err(Reply::err("ERR offset is out of range"));
    }
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let (old, collection) = for_write(ctx, key, true)?;
    let mut value = old.as_ref().map(|m| m.payload.clone()).unwrap_or_default();
    if patch.is_empty() {
        return Ok(Reply::Int(value.len() as i64));
    }
    if offset.saturating_add(patch.len()) > MAX_STRING {
        return Err(Reply::err(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        ));
    }
    if value.len() < offset + patch.len() {
        value.resize(offset + patch.len(), 0);
    }
    if let Some(dst) = value.get_mut(offset..offset + patch.len()) {
        dst.copy_from_slice(patch);
    }
    let ttl = old.as_ref().map_or(0, |m| m.expire_at);
    let mut b = WriteBatch::new();
    put(ctx, &mut b, key, &value, ttl, collection);
    ctx.write(&b)?;
    Ok(Reply::Int(value.len() as i64))
}

fn incr_by(ctx: &mut Ctx<'_>, key: &[u8], by: i64) -> Result<Reply, Reply> {
    let mut replies = incr_many(ctx, &[(key, by)])?;
    replies.pop().ok_or_else(syntax)
}

/// Adds each `by` to its key's integer in turn (a key may repeat: each addition sees the one
/// before), as one write: each addition's reply, the new value or its own error (a key of
/// another type, not an integer, an overflow), which writes nothing for it.
pub fn incr_many(ctx: &mut Ctx<'_>, items: &[(&[u8], i64)]) -> Result<Vec<Reply>, Reply> {
    let keys: Vec<&[u8]> = items.iter().map(|(k, _)| *k).collect();
    let _g = ctx.store.lock(ctx.db(), &keys);
    // Each key's value so far in the run, and its metadata before the run.
    let mut now: std::collections::HashMap<&[u8], (i64, Option<Meta>, bool)> =
        std::collections::HashMap::new();
    let mut b = WriteBatch::new();
    let mut replies = Vec::with_capacity(items.len());
    // Every key's metadata as stored, in one batched lookup.
    let stored = ctx
        .store
        .meta_raw_many(ctx.db(), &keys)
        .map_err(super::internal)?;
    for (&(key, by), raw) in items.iter().zip(stored) {
        let (current, old, collection) = match now.get(key) {
            Some((v, old, collection)) => (*v, old.clone(), *collection),
            None => {
                let (old, collection) = match stored_for_write(ctx, raw, true) {
                    Ok(found) => found,
                    Err(e) => {
                        replies.push(e);
                        continue;
                    }
                };
                let current = match &old {
                    Some(m) => match parse_int(&m.payload) {
                        Some(v) => v,
                        None => {
                            replies.push(not_integer());
                            continue;
                        }
                    },
                    None => 0,
                };
                (current, old, collection)
            }
        };
        let Some(next) = current.checked_add(by) else {
            replies.push(Reply::err("ERR increment or decrement would overflow"));
            continue;
        };
        let ttl = old.as_ref().map_or(0, |m| m.expire_at);
        put(
            ctx,
            &mut b,
            key,
            next.to_string().as_bytes(),
            ttl,
            collection,
        );
        now.insert(key, (next, old, collection));
        replies.push(Reply::Int(next));
    }
    ctx.write(&b)?;
    Ok(replies)
}

pub fn incr(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    incr_by(ctx, arg(args, 1)?, 1)
}

pub fn decr(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    incr_by(ctx, arg(args, 1)?, -1)
}

pub fn incrby(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let by = int_arg(arg(args, 2)?)?;
    incr_by(ctx, arg(args, 1)?, by)
}

pub fn decrby(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let by = int_arg(arg(args, 2)?)?;
    let by = by
        .checked_neg()
        .ok_or_else(|| Reply::err("ERR decrement would overflow"))?;
    incr_by(ctx, arg(args, 1)?, by)
}

/// Formats a float the way `INCRBYFLOAT` stores it (shortest exact form, no exponent).
pub fn float_repr(v: f64) -> String {
    let s = format!("{v}");
    if s.contains('e') {
        format!("{v:.17}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        s
    }
}

pub fn incrbyfloat(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let by = parse_float(arg(args, 2)?).ok_or_else(not_float)?;
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let (old, collection) = for_write(ctx, key, true)?;
    let current = match &old {
        Some(m) => parse_float(&m.payload).ok_or_else(not_float)?,
        None => 0.0,
    };
    let next = current + by;
    if !next.is_finite() {
        return Err(Reply::err("ERR increment would produce NaN or Infinity"));
    }
    let repr = float_repr(next);
    let ttl = old.as_ref().map_or(0, |m| m.expire_at);
    let mut b = WriteBatch::new();
    put(ctx, &mut b, key, repr.as_bytes(), ttl, collection);
    ctx.write(&b)?;
    Ok(Reply::Bulk(repr.into_bytes()))
}
