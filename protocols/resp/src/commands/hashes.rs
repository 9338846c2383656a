//! Hash commands. A hash is a meta entry holding its field count, and one member entry per
//! field (`store` module docs).

use orbit_lsm::WriteBatch;

use super::{arg, eq_ignore_case, int_arg, internal, parse_float, parse_int, syntax, Ctx};
use crate::reply::Reply;
use crate::store::{Kind, Meta, Store};

fn hash(ctx: &Ctx<'_>, key: &[u8]) -> Result<Option<Meta>, Reply> {
    ctx.meta_of(key, Kind::Hash)
}

fn field(ctx: &Ctx<'_>, key: &[u8], f: &[u8]) -> Result<Option<Vec<u8>>, Reply> {
    ctx.store.member(ctx.db(), key, f).map_err(internal)
}

/// Adds the hash's new metadata (or its deletion when empty) to `b`. A hash created now
/// (`old` is `None`) first drops any members an expired predecessor left.
fn finish(ctx: &Ctx<'_>, b: &mut WriteBatch, key: &[u8], old: Option<&Meta>, count: u64) {
    ctx.finish_counted(b, key, Kind::Hash, old, count);
}

/// A batch for writing `key`'s members: it starts by clearing stale members if the hash is new.
fn batch_for(ctx: &Ctx<'_>, key: &[u8], old: Option<&Meta>) -> Result<WriteBatch, Reply> {
    let mut b = WriteBatch::new();
    if old.is_none() {
        ctx.clear_stale(&mut b, key)?;
    }
    Ok(b)
}

fn set_fields(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<i64, Reply> {
    let key = arg(args, 1)?;
    let rest = args.get(2..).unwrap_or_default();
    if rest.is_empty() || rest.len() % 2 != 0 {
        let name = String::from_utf8_lossy(arg(args, 0)?).to_lowercase();
        return Err(Reply::err(format!(
            "ERR wrong number of arguments for '{name}' command"
        )));
    }
    let added = hset_groups(ctx, key, &[rest])?;
    Ok(added.first().copied().unwrap_or(0))
}

/// HSET of each group of field-value pairs (one command's, an even number) to `key` in
/// turn, as one write: how many new fields each group added.
pub fn hset_groups(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    groups: &[&[Vec<u8>]],
) -> Result<Vec<i64>, Reply> {
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let old = hash(ctx, key)?;
    let mut b = batch_for(ctx, key, old.as_ref())?;
    let mut count = old.as_ref().map_or(0, Meta::count);
    let mut counts = Vec::with_capacity(groups.len());
    let mut seen = std::collections::HashSet::new();
    // Which fields are stored already: one batched lookup for the whole run.
    let fields: Vec<&[u8]> = groups
        .iter()
        .flat_map(|g| g.chunks(2).filter_map(|p| p.first().map(Vec::as_slice)))
        .collect();
    let stored = match old {
        Some(_) => ctx
            .store
            .stored_of(ctx.db(), key, &fields)
            .map_err(internal)?,
        None => std::collections::HashSet::new(),
    };
    for group in groups {
        let mut added = 0;
        for pair in group.chunks(2) {
            let [f, v] = pair else { continue };
            let existed = stored.contains(f.as_slice());
            if !existed && seen.insert(f.as_slice()) {
                added += 1;
                count += 1;
            }
            b.put(
                ctx.store.sub_keyspace(),
                &Store::sub_key(ctx.db(), key, f),
                v,
            );
        }
        counts.push(added);
    }
    finish(ctx, &mut b, key, old.as_ref(), count);
    ctx.write(&b)?;
    Ok(counts)
}

pub fn hset(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    Ok(Reply::Int(set_fields(ctx, args)?))
}

pub fn hmset(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    set_fields(ctx, args)?;
    Ok(Reply::OK)
}

pub fn hsetnx(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let (key, f, v) = (arg(args, 1)?, arg(args, 2)?, arg(args, 3)?);
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let old = hash(ctx, key)?;
    if old.is_some() && field(ctx, key, f)?.is_some() {
        return Ok(Reply::Int(0));
    }
    let mut b = batch_for(ctx, key, old.as_ref())?;
    b.put(
        ctx.store.sub_keyspace(),
        &Store::sub_key(ctx.db(), key, f),
        v,
    );
    finish(
        ctx,
        &mut b,
        key,
        old.as_ref(),
        old.as_ref().map_or(0, Meta::count) + 1,
    );
    ctx.write(&b)?;
    Ok(Reply::Int(1))
}

pub fn hget(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    if hash(ctx, key)?.is_none() {
        return Ok(Reply::Nil);
    }
    Ok(field(ctx, key, arg(args, 2)?)?.map_or(Reply::Nil, Reply::Bulk))
}

pub fn hmget(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let exists = hash(ctx, key)?.is_some();
    let mut out = Vec::new();
    for f in args.iter().skip(2) {
        out.push(if exists {
            field(ctx, key, f)?.map_or(Reply::Nil, Reply::Bulk)
        } else {
            Reply::Nil
        });
    }
    Ok(Reply::Array(out))
}

fn all(ctx: &Ctx<'_>, key: &[u8]) -> Result<crate::store::Members, Reply> {
    if hash(ctx, key)?.is_none() {
        return Ok(Vec::new());
    }
    ctx.store.members(ctx.db(), key).map_err(internal)
}

pub fn hgetall(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    Ok(Reply::Map(
        all(ctx, arg(args, 1)?)?
            .into_iter()
            .map(|(f, v)| (Reply::Bulk(f), Reply::Bulk(v)))
            .collect(),
    ))
}

pub fn hkeys(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    Ok(Reply::Array(
        all(ctx, arg(args, 1)?)?
            .into_iter()
            .map(|(f, _)| Reply::Bulk(f))
            .collect(),
    ))
}

pub fn hvals(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    Ok(Reply::Array(
        all(ctx, arg(args, 1)?)?
            .into_iter()
            .map(|(_, v)| Reply::Bulk(v))
            .collect(),
    ))
}

pub fn hdel(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let Some(old) = hash(ctx, key)? else {
        return Ok(Reply::Int(0));
    };
    let mut b = WriteBatch::new();
    let mut removed = 0u64;
    let mut seen = std::collections::HashSet::new();
    for f in args.iter().skip(2) {
        if seen.insert(f.as_slice()) && field(ctx, key, f)?.is_some() {
            b.delete(ctx.store.sub_keyspace(), &Store::sub_key(ctx.db(), key, f));
            removed += 1;
        }
    }
    if removed > 0 {
        finish(
            ctx,
            &mut b,
            key,
            Some(&old),
            old.count().saturating_sub(removed),
        );
        ctx.write(&b)?;
    }
    Ok(Reply::Int(i64::try_from(removed).unwrap_or(i64::MAX)))
}

pub fn hexists(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let found = hash(ctx, key)?.is_some() && field(ctx, key, arg(args, 2)?)?.is_some();
    Ok(Reply::Int(i64::from(found)))
}

pub fn hlen(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    Ok(Reply::Int(hash(ctx, arg(args, 1)?)?.map_or(0, |m| {
        i64::try_from(m.count()).unwrap_or(i64::MAX)
    })))
}

pub fn hstrlen(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    if hash(ctx, key)?.is_none() {
        return Ok(Reply::Int(0));
    }
    Ok(Reply::Int(
        field(ctx, key, arg(args, 2)?)?.map_or(0, |v| v.len() as i64),
    ))
}

/// Read-modify-write of one field.
fn update_field(
    ctx: &mut Ctx<'_>,
    args: &[Vec<u8>],
    f: impl FnOnce(Option<&[u8]>) -> Result<Vec<u8>, Reply>,
) -> Result<Vec<u8>, Reply> {
    let (key, name) = (arg(args, 1)?, arg(args, 2)?);
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let old = hash(ctx, key)?;
    let current = match old {
        Some(_) => field(ctx, key, name)?,
        None => None,
    };
    let next = f(current.as_deref())?;
    let mut b = batch_for(ctx, key, old.as_ref())?;
    b.put(
        ctx.store.sub_keyspace(),
        &Store::sub_key(ctx.db(), key, name),
        &next,
    );
    let count = old.as_ref().map_or(0, Meta::count) + u64::from(current.is_none());
    finish(ctx, &mut b, key, old.as_ref(), count);
    ctx.write(&b)?;
    Ok(next)
}

pub fn hincrby(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let by = int_arg(arg(args, 3)?)?;
    let next = update_field(ctx, args, |cur| {
        let n = match cur {
            Some(v) => {
                parse_int(v).ok_or_else(|| Reply::err("ERR hash value is not an integer"))?
            }
            None => 0,
        };
        n.checked_add(by)
            .map(|n| n.to_string().into_bytes())
            .ok_or_else(|| Reply::err("ERR increment or decrement would overflow"))
    })?;
    Ok(Reply::Int(parse_int(&next).unwrap_or(0)))
}

pub fn hincrbyfloat(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let by = parse_float(arg(args, 3)?).ok_or_else(super::not_float)?;
    let next = update_field(ctx, args, |cur| {
        let n = match cur {
            Some(v) => parse_float(v).ok_or_else(|| Reply::err("ERR hash value is not a float"))?,
            None => 0.0,
        };
        let r = n + by;
        if !r.is_finite() {
            return Err(Reply::err("ERR increment would produce NaN or Infinity"));
        }
        Ok(super::strings::float_repr(r).into_bytes())
    })?;
    Ok(Reply::Bulk(next))
}

pub fn hscan(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let cursor = parse_int(arg(args, 2)?)
        .and_then(|c| usize::try_from(c).ok())
        .ok_or_else(|| Reply::err("ERR invalid cursor"))?;
    let (mut pattern, mut count, mut novalues) = (None, 10usize, false);
    let mut i = 3;
    while i < args.len() {
        let a = arg(args, i)?;
        if eq_ignore_case(a, "match") {
            pattern = Some(arg(args, i + 1)?.to_vec());
            i += 1;
        } else if eq_ignore_case(a, "count") {
            count = usize::try_from(int_arg(arg(args, i + 1)?)?)
                .ok()
                .filter(|c| *c > 0)
                .ok_or_else(syntax)?;
            i += 1;
        } else if eq_ignore_case(a, "novalues") {
            novalues = true;
        } else {
            return Err(syntax());
        }
        i += 1;
    }
    // Fields in order; the cursor is a position (hashes are scanned whole per call page).
    let fields = all(ctx, key)?;
    let (range, next) = super::page(fields.len(), cursor, count);
    let mut out = Vec::new();
    for (f, v) in fields.get(range).unwrap_or_default() {
        if pattern.as_ref().is_none_or(|p| super::glob_match(p, f)) {
            out.push(Reply::bulk(f));
            if !novalues {
                out.push(Reply::bulk(v));
            }
        }
    }
    Ok(Reply::Array(vec![
        Reply::Bulk(next.to_string().into_bytes()),
        Reply::Array(out),
    ]))
}

pub fn hrandfield(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let fields = all(ctx, key)?;
    let Some(count) = args.get(2) else {
        if fields.is_empty() {
            return Ok(Reply::Nil);
        }
        let i = rand::random_range(0..fields.len());
        return Ok(fields.get(i).map_or(Reply::Nil, |(f, _)| Reply::bulk(f)));
    };
    let n = int_arg(count)?;
    let with_values = match args.get(3) {
        Some(a) if eq_ignore_case(a, "withvalues") && args.len() == 4 => true,
        Some(_) => return Err(syntax()),
        None => false,
    };
    if fields.is_empty() {
        return Ok(Reply::Array(vec![]));
    }
    let picks = super::random_picks(fields.len(), n);
    let mut out = Vec::new();
    for i in picks {
        if let Some((f, v)) = fields.get(i) {
            if with_values && ctx.session.protocol >= 3 {
                out.push(Reply::Array(vec![Reply::bulk(f), Reply::bulk(v)]));
            } else {
                out.push(Reply::bulk(f));
                if with_values {
                    out.push(Reply::bulk(v));
                }
            }
        }
    }
    Ok(Reply::Array(out))
}
