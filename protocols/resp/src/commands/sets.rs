//! Set commands. A set's metadata holds its member count; each member is an entry with an
//! empty value, so members come out in byte order.

use std::collections::BTreeSet;

use orbit_lsm::WriteBatch;

use super::{arg, eq_ignore_case, glob_match, int_arg, internal, parse_int, syntax, Ctx};
use crate::reply::Reply;
use crate::store::{Kind, Meta, Store};

fn set(ctx: &Ctx<'_>, key: &[u8]) -> Result<Option<Meta>, Reply> {
    ctx.meta_of(key, Kind::Set)
}

fn has(ctx: &Ctx<'_>, key: &[u8], m: &[u8]) -> Result<bool, Reply> {
    Ok(ctx
        .store
        .member(ctx.db(), key, m)
        .map_err(internal)?
        .is_some())
}

fn members(ctx: &Ctx<'_>, key: &[u8]) -> Result<BTreeSet<Vec<u8>>, Reply> {
    if set(ctx, key)?.is_none() {
        return Ok(BTreeSet::new());
    }
    Ok(ctx
        .store
        .members(ctx.db(), key)
        .map_err(internal)?
        .into_iter()
        .map(|(m, _)| m)
        .collect())
}

/// Adds the set's new metadata (or its deletion when empty) to `b`.
fn finish(ctx: &Ctx<'_>, b: &mut WriteBatch, key: &[u8], old: Option<&Meta>, count: u64) {
    ctx.finish_counted(b, key, Kind::Set, old, count);
}

fn add_member(ctx: &Ctx<'_>, b: &mut WriteBatch, key: &[u8], m: &[u8]) {
    b.put(
        ctx.store.sub_keyspace(),
        &Store::sub_key(ctx.db(), key, m),
        b"",
    );
}

fn remove_member(ctx: &Ctx<'_>, b: &mut WriteBatch, key: &[u8], m: &[u8]) {
    b.delete(ctx.store.sub_keyspace(), &Store::sub_key(ctx.db(), key, m));
}

fn bulk_set(items: impl IntoIterator<Item = Vec<u8>>) -> Reply {
    Reply::Set(items.into_iter().map(Reply::Bulk).collect())
}

pub fn sadd(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let added = sadd_groups(ctx, key, &[args.get(2..).unwrap_or_default()])?;
    Ok(Reply::Int(added.first().copied().unwrap_or(0)))
}

/// SADD of each group of members to `key` in turn (one command's members per group), as one
/// write: how many members each group added.
pub fn sadd_groups(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    groups: &[&[Vec<u8>]],
) -> Result<Vec<i64>, Reply> {
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let old = set(ctx, key)?;
    let mut b = WriteBatch::new();
    if old.is_none() {
        ctx.clear_stale(&mut b, key)?;
    }
    // Which members are stored already: one batched lookup for the whole run.
    let all: Vec<&[u8]> = groups
        .iter()
        .flat_map(|g| g.iter().map(Vec::as_slice))
        .collect();
    let stored = match old {
        Some(_) => ctx.store.stored_of(ctx.db(), key, &all).map_err(internal)?,
        None => std::collections::HashSet::new(),
    };
    let mut added = BTreeSet::new();
    let mut counts = Vec::with_capacity(groups.len());
    for group in groups {
        let before = added.len();
        for m in group.iter() {
            if !added.contains(m) && !stored.contains(m.as_slice()) {
                add_member(ctx, &mut b, key, m);
                added.insert(m.clone());
            }
        }
        counts.push((added.len() - before) as i64);
    }
    if !added.is_empty() {
        finish(
            ctx,
            &mut b,
            key,
            old.as_ref(),
            old.as_ref().map_or(0, Meta::count) + added.len() as u64,
        );
        ctx.write(&b)?;
    }
    Ok(counts)
}

pub fn srem(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let Some(old) = set(ctx, key)? else {
        return Ok(Reply::Int(0));
    };
    let mut b = WriteBatch::new();
    let mut removed = BTreeSet::new();
    for m in args.iter().skip(2) {
        if !removed.contains(m) && has(ctx, key, m)? {
            remove_member(ctx, &mut b, key, m);
            removed.insert(m.clone());
        }
    }
    if !removed.is_empty() {
        finish(
            ctx,
            &mut b,
            key,
            Some(&old),
            old.count().saturating_sub(removed.len() as u64),
        );
        ctx.write(&b)?;
    }
    Ok(Reply::Int(removed.len() as i64))
}

pub fn smembers(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    Ok(bulk_set(members(ctx, arg(args, 1)?)?))
}

pub fn sismember(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let found = set(ctx, key)?.is_some() && has(ctx, key, arg(args, 2)?)?;
    Ok(Reply::Int(i64::from(found)))
}

pub fn smismember(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let exists = set(ctx, key)?.is_some();
    let mut out = Vec::new();
    for m in args.iter().skip(2) {
        out.push(Reply::Int(i64::from(exists && has(ctx, key, m)?)));
    }
    Ok(Reply::Array(out))
}

pub fn scard(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    Ok(Reply::Int(set(ctx, arg(args, 1)?)?.map_or(0, |m| {
        i64::try_from(m.count()).unwrap_or(i64::MAX)
    })))
}

fn shuffle<T>(v: &mut [T]) {
    for i in (1..v.len()).rev() {
        v.swap(i, rand::random_range(0..=i));
    }
}

pub fn spop(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    if args.len() > 3 {
        return Err(syntax());
    }
    let count = super::pop_count(args, 2)?;
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let Some(old) = set(ctx, key)? else {
        return Ok(if count.is_some() {
            Reply::Set(vec![])
        } else {
            Reply::Nil
        });
    };
    let mut all: Vec<Vec<u8>> = members(ctx, key)?.into_iter().collect();
    shuffle(&mut all);
    all.truncate(count.unwrap_or(1));
    let mut b = WriteBatch::new();
    for m in &all {
        remove_member(ctx, &mut b, key, m);
    }
    finish(
        ctx,
        &mut b,
        key,
        Some(&old),
        old.count().saturating_sub(all.len() as u64),
    );
    ctx.write(&b)?;
    Ok(match count {
        None => all.into_iter().next().map_or(Reply::Nil, Reply::Bulk),
        Some(_) => bulk_set(all),
    })
}

pub fn srandmember(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    if args.len() > 3 {
        return Err(syntax());
    }
    let all: Vec<Vec<u8>> = members(ctx, key)?.into_iter().collect();
    let Some(count) = args.get(2) else {
        if all.is_empty() {
            return Ok(Reply::Nil);
        }
        let i = rand::random_range(0..all.len());
        return Ok(all.get(i).map_or(Reply::Nil, Reply::bulk));
    };
    let n = int_arg(count)?;
    if all.is_empty() {
        return Ok(Reply::Array(vec![]));
    }
    Ok(Reply::Array(
        super::random_picks(all.len(), n)
            .into_iter()
            .filter_map(|i| all.get(i).map(Reply::bulk))
            .collect(),
    ))
}

pub fn smove(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let (src, dst, m) = (arg(args, 1)?, arg(args, 2)?, arg(args, 3)?);
    let _g = ctx.store.lock(ctx.db(), &[src, dst]);
    let sm = set(ctx, src)?;
    let dm = set(ctx, dst)?;
    let Some(sm) = sm else {
        return Ok(Reply::Int(0));
    };
    if !has(ctx, src, m)? {
        return Ok(Reply::Int(0));
    }
    if src == dst {
        return Ok(Reply::Int(1));
    }
    let mut b = WriteBatch::new();
    remove_member(ctx, &mut b, src, m);
    finish(ctx, &mut b, src, Some(&sm), sm.count().saturating_sub(1));
    if dm.is_none() {
        ctx.clear_stale(&mut b, dst)?;
    }
    if dm.is_none() || !has(ctx, dst, m)? {
        add_member(ctx, &mut b, dst, m);
        finish(
            ctx,
            &mut b,
            dst,
            dm.as_ref(),
            dm.as_ref().map_or(0, Meta::count) + 1,
        );
    }
    ctx.write(&b)?;
    Ok(Reply::Int(1))
}

#[derive(Clone, Copy)]
enum Op {
    Inter,
    Union,
    Diff,
}

fn combine(ctx: &Ctx<'_>, keys: &[Vec<u8>], op: Op) -> Result<BTreeSet<Vec<u8>>, Reply> {
    let mut iter = keys.iter();
    let Some(first) = iter.next() else {
        return Ok(BTreeSet::new());
    };
    let mut acc = members(ctx, first)?;
    for k in iter {
        let other = members(ctx, k)?;
        acc = match op {
            Op::Inter => acc.intersection(&other).cloned().collect(),
            Op::Union => acc.union(&other).cloned().collect(),
            Op::Diff => acc.difference(&other).cloned().collect(),
        };
    }
    Ok(acc)
}

fn combine_cmd(ctx: &mut Ctx<'_>, args: &[Vec<u8>], op: Op) -> Result<Reply, Reply> {
    Ok(bulk_set(combine(
        ctx,
        args.get(1..).unwrap_or_default(),
        op,
    )?))
}

fn combine_store(ctx: &mut Ctx<'_>, args: &[Vec<u8>], op: Op) -> Result<Reply, Reply> {
    let dst = arg(args, 1)?;
    let srcs = args.get(2..).unwrap_or_default();
    let mut locked: Vec<&[u8]> = srcs.iter().map(Vec::as_slice).collect();
    locked.push(dst);
    let _g = ctx.store.lock(ctx.db(), &locked);
    let result = combine(ctx, srcs, op)?;
    let old = ctx.meta_any(dst)?;
    let mut b = WriteBatch::new();
    match &old {
        Some(m) => ctx.store.delete_into(&mut b, ctx.db(), dst, m),
        None => ctx.clear_stale(&mut b, dst)?,
    }
    for m in &result {
        add_member(ctx, &mut b, dst, m);
    }
    finish(ctx, &mut b, dst, None, result.len() as u64);
    ctx.write(&b)?;
    Ok(Reply::Int(result.len() as i64))
}

pub fn sinter(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    combine_cmd(ctx, args, Op::Inter)
}
pub fn sunion(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    combine_cmd(ctx, args, Op::Union)
}
pub fn sdiff(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    combine_cmd(ctx, args, Op::Diff)
}
pub fn sinterstore(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    combine_store(ctx, args, Op::Inter)
}
pub fn sunionstore(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    combine_store(ctx, args, Op::Union)
}
pub fn sdiffstore(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    combine_store(ctx, args, Op::Diff)
}

pub fn sintercard(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let n = parse_int(arg(args, 1)?)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| Reply::err("ERR numkeys should be greater than 0"))?;
    let keys = args
        .get(2..2 + n)
        .ok_or_else(|| Reply::err("ERR Number of keys can't be greater than number of args"))?;
    let mut limit = usize::MAX;
    match args.get(2 + n..).unwrap_or_default() {
        [] => {}
        [l, v] if eq_ignore_case(l, "limit") => {
            limit = match usize::try_from(int_arg(v)?) {
                Ok(0) => usize::MAX,
                Ok(l) => l,
                Err(_) => return Err(Reply::err("ERR LIMIT can't be negative")),
            };
        }
        _ => return Err(syntax()),
    }
    Ok(Reply::Int(
        combine(ctx, keys, Op::Inter)?.len().min(limit) as i64
    ))
}

pub fn sscan(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let (cursor, pattern, count) = super::position_scan_args(args)?;
    let all: Vec<Vec<u8>> = members(ctx, key)?.into_iter().collect();
    let (range, next) = super::page(all.len(), cursor, count);
    let page = all
        .get(range)
        .unwrap_or_default()
        .iter()
        .filter(|m| pattern.as_ref().is_none_or(|p| glob_match(p, m)))
        .map(Reply::bulk)
        .collect();
    Ok(Reply::Array(vec![
        Reply::Bulk(next.to_string().into_bytes()),
        Reply::Array(page),
    ]))
}
