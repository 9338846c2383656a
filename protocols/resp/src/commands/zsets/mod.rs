//! Sorted set commands. A sorted set's metadata holds its member count; each member has two
//! entries under the key's prefix: `0x00 ‖ member` → score (f64 bits), and the score index
//! `0x01 ‖ order-preserving score ‖ member` → empty, so ranges by score are one scan in
//! (score, member) order, Redis's order.

use std::ops::Bound;

use orbit_lsm::{Direction, WriteBatch};

mod range;

use super::{arg, eq_ignore_case, int_arg, internal, parse_float, parse_int, syntax, Ctx};
use crate::reply::Reply;
use crate::store::{Kind, Meta, Store};
use range::{in_score, score_bound};
pub use range::{zcount, zrange, zrangebylex, zrangebyscore, zrevrange, zrevrangebyscore};

const MEMBER: u8 = 0;
const INDEX: u8 = 1;

fn zset(ctx: &Ctx<'_>, key: &[u8]) -> Result<Option<Meta>, Reply> {
    ctx.meta_of(key, Kind::ZSet)
}

/// Encodes a score so byte order is numeric order.
fn score_key(s: f64) -> [u8; 8] {
    let bits = s.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits ^ (1 << 63)
    };
    ordered.to_be_bytes()
}

fn member_sub(m: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + m.len());
    k.push(MEMBER);
    k.extend_from_slice(m);
    k
}

fn index_sub(score: f64, m: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + m.len());
    k.push(INDEX);
    k.extend_from_slice(&score_key(score));
    k.extend_from_slice(m);
    k
}

fn score_of(ctx: &Ctx<'_>, key: &[u8], m: &[u8]) -> Result<Option<f64>, Reply> {
    Ok(ctx
        .store
        .member(ctx.db(), key, &member_sub(m))
        .map_err(internal)?
        .and_then(|v| decode_score(&v)))
}

/// A stored score (a member entry's value).
fn decode_score(v: &[u8]) -> Option<f64> {
    v.try_into()
        .ok()
        .map(|b| f64::from_bits(u64::from_le_bytes(b)))
}

/// The stored score of each of `members` of the sorted set at `key`, found in one batched
/// lookup (a run's ZADDs: their cache misses overlap).
fn scores_of<'m>(
    ctx: &Ctx<'_>,
    key: &[u8],
    members: impl Iterator<Item = &'m [u8]>,
) -> Result<std::collections::HashMap<&'m [u8], Option<f64>>, Reply> {
    let mut members: Vec<&[u8]> = members.collect();
    members.sort_unstable();
    members.dedup();
    let subs: Vec<Vec<u8>> = members.iter().map(|m| member_sub(m)).collect();
    let refs: Vec<&[u8]> = subs.iter().map(Vec::as_slice).collect();
    let found = ctx
        .store
        .member_values(ctx.db(), key, &refs)
        .map_err(internal)?;
    Ok(members
        .into_iter()
        .zip(found)
        .map(|(m, v)| (m, v.as_deref().and_then(decode_score)))
        .collect())
}

fn put_member(
    ctx: &Ctx<'_>,
    b: &mut WriteBatch,
    key: &[u8],
    m: &[u8],
    old: Option<f64>,
    score: f64,
) {
    let (db, sub) = (ctx.db(), ctx.store.sub_keyspace());
    // -0 is stored as 0: Redis orders them as one score (they compare equal), where their
    // bits would order -0 first.
    let score = if score == 0.0 { 0.0 } else { score };
    if let Some(o) = old {
        b.delete(sub, &Store::sub_key(db, key, &index_sub(o, m)));
    }
    b.put(
        sub,
        &Store::sub_key(db, key, &member_sub(m)),
        &score.to_bits().to_le_bytes(),
    );
    b.put(sub, &Store::sub_key(db, key, &index_sub(score, m)), b"");
}

fn remove_member(ctx: &Ctx<'_>, b: &mut WriteBatch, key: &[u8], m: &[u8], score: f64) {
    let (db, sub) = (ctx.db(), ctx.store.sub_keyspace());
    b.delete(sub, &Store::sub_key(db, key, &member_sub(m)));
    b.delete(sub, &Store::sub_key(db, key, &index_sub(score, m)));
}

fn finish(ctx: &Ctx<'_>, b: &mut WriteBatch, key: &[u8], old: Option<&Meta>, count: u64) {
    ctx.finish_counted(b, key, Kind::ZSet, old, count);
}

/// Every (score, member), in (score, member) order (`Backward`: reversed).
fn sorted(ctx: &Ctx<'_>, key: &[u8], dir: Direction) -> Result<Vec<(f64, Vec<u8>)>, Reply> {
    if zset(ctx, key)?.is_none() {
        return Ok(Vec::new());
    }
    let (lo, hi) = ([INDEX], [INDEX + 1]);
    let it = ctx
        .store
        .member_range(
            ctx.db(),
            key,
            Bound::Included(&lo),
            Bound::Excluded(&hi),
            dir,
        )
        .map_err(internal)?;
    let mut out = Vec::new();
    for kv in it {
        let (k, _) = kv.map_err(internal)?;
        let (Some(sk), Some(m)) = (k.get(1..9), k.get(9..)) else {
            continue;
        };
        let ordered = u64::from_be_bytes(sk.try_into().unwrap_or([0; 8]));
        let bits = if ordered >> 63 == 1 {
            ordered ^ (1 << 63)
        } else {
            !ordered
        };
        out.push((f64::from_bits(bits), m.to_vec()));
    }
    Ok(out)
}

fn score_reply(s: f64) -> Reply {
    Reply::Double(s)
}

/// Members with scores, shaped like Redis: RESP3 pairs, RESP2 a flat array.
fn with_scores(ctx: &Ctx<'_>, items: Vec<(f64, Vec<u8>)>, scores: bool) -> Reply {
    Reply::Array(if !scores {
        items.into_iter().map(|(_, m)| Reply::Bulk(m)).collect()
    } else if ctx.session.protocol >= 3 {
        items
            .into_iter()
            .map(|(s, m)| Reply::Array(vec![Reply::Bulk(m), score_reply(s)]))
            .collect()
    } else {
        items
            .into_iter()
            .flat_map(|(s, m)| [Reply::Bulk(m), score_reply(s)])
            .collect()
    })
}

fn float_arg(b: &[u8]) -> Result<f64, Reply> {
    parse_float(b).ok_or_else(|| Reply::err("ERR value is not a valid float"))
}

pub fn zadd(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let mut flags = AddFlags::default();
    let mut i = 2;
    while let Some(a) = args.get(i) {
        let flag = match a.to_ascii_lowercase().as_slice() {
            b"nx" => &mut flags.nx,
            b"xx" => &mut flags.xx,
            b"gt" => &mut flags.gt,
            b"lt" => &mut flags.lt,
            b"ch" => &mut flags.ch,
            b"incr" => &mut flags.incr,
            _ => break,
        };
        *flag = true;
        i += 1;
    }
    let AddFlags {
        nx,
        xx,
        gt,
        lt,
        incr,
        ..
    } = flags;
    let rest = args.get(i..).unwrap_or_default();
    if rest.is_empty() || rest.len() % 2 != 0 {
        return Err(syntax());
    }
    if nx && xx {
        return Err(Reply::err(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (gt && lt) || (nx && (gt || lt)) {
        return Err(Reply::err(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if incr && rest.len() != 2 {
        return Err(Reply::err(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let mut pairs = Vec::new();
    for p in rest.chunks(2) {
        if let [s, m] = p {
            pairs.push((float_arg(s)?, m.as_slice()));
        }
    }
    let mut replies = zadd_groups(ctx, key, flags, &[pairs])?;
    Ok(replies.pop().unwrap_or(Reply::Nil))
}

/// ZADD's options.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// Whether `args` is a plain `ZADD key score member [score member ...]` (no options, every
/// score a valid float): consecutive ones on one key join a run (`super::runs`).
pub fn is_plain_zadd(args: &[Vec<u8>]) -> bool {
    args.len() >= 4
        && args.len() % 2 == 0
        && args.get(2..).unwrap_or_default().chunks(2).all(|p| {
            p.first()
                .is_some_and(|s| float_arg(s).is_ok_and(|f| !f.is_nan()))
        })
}

/// The (score, member) pairs of a plain ZADD (`is_plain_zadd`).
pub fn plain_pairs(args: &[Vec<u8>]) -> Vec<(f64, &[u8])> {
    args.get(2..)
        .unwrap_or_default()
        .chunks(2)
        .filter_map(|p| match p {
            [s, m] => Some((float_arg(s).ok()?, m.as_slice())),
            _ => None,
        })
        .collect()
}

/// ZADD of each group of (score, member) pairs to `key` in turn (one command's pairs per
/// group; with INCR, a single group of one pair), as one write: each group's reply.
pub fn zadd_groups(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    flags: AddFlags,
    groups: &[Vec<(f64, &[u8])>],
) -> Result<Vec<Reply>, Reply> {
    let AddFlags {
        nx,
        xx,
        gt,
        lt,
        ch,
        incr,
    } = flags;
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let old = zset(ctx, key)?;
    let mut b = WriteBatch::new();
    if old.is_none() {
        ctx.clear_stale(&mut b, key)?;
    }
    let mut count = old.as_ref().map_or(0, Meta::count);
    let mut wrote = false;
    // Every member's stored score: one batched lookup for the whole run.
    let stored = match old {
        Some(_) => scores_of(ctx, key, groups.iter().flatten().map(|&(_, m)| m))?,
        None => std::collections::HashMap::new(),
    };
    let mut pending: std::collections::BTreeMap<&[u8], f64> = std::collections::BTreeMap::new();
    let mut replies = Vec::with_capacity(groups.len());
    for pairs in groups {
        let (mut added, mut changed) = (0i64, 0i64);
        let mut last = None;
        for &(score, m) in pairs {
            let current = match pending.get(m) {
                Some(s) => Some(*s),
                None => stored.get(m).copied().flatten(),
            };
            let new = if incr {
                current.unwrap_or(0.0) + score
            } else {
                score
            };
            // -0 is 0 (as `put_member` stores it), also for a later pair on the same member.
            let new = if new == 0.0 { 0.0 } else { new };
            if new.is_nan() {
                return Err(Reply::err("ERR resulting score is not a number (NaN)"));
            }
            let allowed = match current {
                None => !xx,
                Some(c) => !nx && (!gt || new > c) && (!lt || new < c),
            };
            if !allowed {
                if incr {
                    // INCR's one pair, refused: nothing is written.
                    return Ok(vec![Reply::Nil]);
                }
                continue;
            }
            last = Some(new);
            match current {
                None => {
                    added += 1;
                    count += 1;
                    put_member(ctx, &mut b, key, m, None, new);
                }
                Some(c) if c != new => {
                    changed += 1;
                    put_member(ctx, &mut b, key, m, Some(c), new);
                }
                Some(_) => {}
            }
            pending.insert(m, new);
        }
        wrote |= added + changed > 0;
        replies.push(if incr {
            last.map_or(Reply::Nil, score_reply)
        } else {
            Reply::Int(if ch { added + changed } else { added })
        });
    }
    if wrote {
        finish(ctx, &mut b, key, old.as_ref(), count);
        ctx.write(&b)?;
    }
    Ok(replies)
}

pub fn zincrby(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let a = vec![
        b"ZADD".to_vec(),
        arg(args, 1)?.to_vec(),
        b"INCR".to_vec(),
        arg(args, 2)?.to_vec(),
        arg(args, 3)?.to_vec(),
    ];
    zadd(ctx, &a)
}

pub fn zrem(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let Some(old) = zset(ctx, key)? else {
        return Ok(Reply::Int(0));
    };
    let mut b = WriteBatch::new();
    let mut removed = std::collections::BTreeSet::new();
    for m in args.iter().skip(2) {
        if removed.contains(m.as_slice()) {
            continue;
        }
        if let Some(s) = score_of(ctx, key, m)? {
            remove_member(ctx, &mut b, key, m, s);
            removed.insert(m.as_slice());
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

pub fn zcard(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    Ok(Reply::Int(zset(ctx, arg(args, 1)?)?.map_or(0, |m| {
        i64::try_from(m.count()).unwrap_or(i64::MAX)
    })))
}

pub fn zscore(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    if zset(ctx, key)?.is_none() {
        return Ok(Reply::Nil);
    }
    Ok(score_of(ctx, key, arg(args, 2)?)?.map_or(Reply::Nil, score_reply))
}

pub fn zmscore(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let exists = zset(ctx, key)?.is_some();
    let mut out = Vec::new();
    for m in args.iter().skip(2) {
        out.push(if exists {
            score_of(ctx, key, m)?.map_or(Reply::Nil, score_reply)
        } else {
            Reply::Nil
        });
    }
    Ok(Reply::Array(out))
}

fn rank(ctx: &mut Ctx<'_>, args: &[Vec<u8>], rev: bool) -> Result<Reply, Reply> {
    let (key, m) = (arg(args, 1)?, arg(args, 2)?);
    let withscore = match args.get(3) {
        Some(a) if eq_ignore_case(a, "withscore") => true,
        Some(_) => return Err(syntax()),
        None => false,
    };
    let dir = if rev {
        Direction::Backward
    } else {
        Direction::Forward
    };
    let items = sorted(ctx, key, dir)?;
    let Some(i) = items.iter().position(|(_, x)| x.as_slice() == m) else {
        return Ok(if withscore {
            Reply::NilArray
        } else {
            Reply::Nil
        });
    };
    Ok(if withscore {
        Reply::Array(vec![
            Reply::Int(i as i64),
            score_reply(items.get(i).map_or(0.0, |x| x.0)),
        ])
    } else {
        Reply::Int(i as i64)
    })
}

pub fn zrank(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    rank(ctx, args, false)
}
pub fn zrevrank(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    rank(ctx, args, true)
}

/// Pops the lowest (or highest) member: `(member, score)`, `None` for a missing set.
pub fn pop_one(ctx: &mut Ctx<'_>, key: &[u8], max: bool) -> Result<Option<(Vec<u8>, f64)>, Reply> {
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let Some(old) = zset(ctx, key)? else {
        return Ok(None);
    };
    let dir = if max {
        Direction::Backward
    } else {
        Direction::Forward
    };
    let Some((score, member)) = sorted(ctx, key, dir)?.into_iter().next() else {
        return Ok(None);
    };
    let mut b = WriteBatch::new();
    remove_member(ctx, &mut b, key, &member, score);
    finish(ctx, &mut b, key, Some(&old), old.count().saturating_sub(1));
    ctx.write(&b)?;
    Ok(Some((member, score)))
}

fn pop(ctx: &mut Ctx<'_>, args: &[Vec<u8>], max: bool) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    if args.len() > 3 {
        return Err(syntax());
    }
    let count = super::pop_count(args, 2)?;
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let Some(old) = zset(ctx, key)? else {
        return Ok(Reply::Array(vec![]));
    };
    let dir = if max {
        Direction::Backward
    } else {
        Direction::Forward
    };
    let mut items = sorted(ctx, key, dir)?;
    items.truncate(count.unwrap_or(1));
    let mut b = WriteBatch::new();
    for (s, m) in &items {
        remove_member(ctx, &mut b, key, m, *s);
    }
    finish(
        ctx,
        &mut b,
        key,
        Some(&old),
        old.count().saturating_sub(items.len() as u64),
    );
    ctx.write(&b)?;
    if count.is_none() {
        // One element: a flat [member, score] in both protocols.
        return Ok(Reply::Array(
            items
                .into_iter()
                .flat_map(|(s, m)| [Reply::Bulk(m), score_reply(s)])
                .collect(),
        ));
    }
    Ok(with_scores(ctx, items, true))
}

pub fn zpopmin(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    pop(ctx, args, false)
}
pub fn zpopmax(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    pop(ctx, args, true)
}

/// Removes the members `pick` chooses, given each one's rank, the set's size, its score and
/// the member: all read under the key's lock, so a rank range is taken from the set it
/// removes from.
fn remove_where(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    pick: impl Fn(usize, usize, f64, &[u8]) -> bool,
) -> Result<Reply, Reply> {
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let Some(old) = zset(ctx, key)? else {
        return Ok(Reply::Int(0));
    };
    let items = sorted(ctx, key, Direction::Forward)?;
    let mut b = WriteBatch::new();
    let mut n = 0u64;
    for (i, (s, m)) in items.iter().enumerate() {
        if pick(i, items.len(), *s, m) {
            remove_member(ctx, &mut b, key, m, *s);
            n += 1;
        }
    }
    if n > 0 {
        finish(ctx, &mut b, key, Some(&old), old.count().saturating_sub(n));
        ctx.write(&b)?;
    }
    Ok(Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

pub fn zremrangebyscore(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let (lo, hi) = (score_bound(arg(args, 2)?)?, score_bound(arg(args, 3)?)?);
    remove_where(ctx, arg(args, 1)?, |_, _, s, _| in_score(s, &lo, &hi))
}

pub fn zremrangebyrank(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let (start, stop) = (int_arg(arg(args, 2)?)?, int_arg(arg(args, 3)?)?);
    remove_where(ctx, key, |i, len, _, _| {
        let len = i64::try_from(len).unwrap_or(i64::MAX);
        let s = if start < 0 {
            len.saturating_add(start).max(0)
        } else {
            start
        };
        let e = if stop < 0 {
            len.saturating_add(stop)
        } else {
            stop.min(len - 1)
        };
        let i = i as i64;
        s <= e && i >= s && i <= e
    })
}

/// A weighted or aggregated score that came out NaN (`inf * 0`, `inf + -inf`) is 0, as in
/// Redis.
fn not_nan(s: f64) -> f64 {
    if s.is_nan() {
        0.0
    } else {
        s
    }
}

fn store_op(ctx: &mut Ctx<'_>, args: &[Vec<u8>], inter: bool) -> Result<Reply, Reply> {
    let dst = arg(args, 1)?;
    let n = parse_int(arg(args, 2)?)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            let name = args
                .first()
                .map(|n| n.to_ascii_lowercase())
                .unwrap_or_default();
            Reply::err(format!(
                "ERR at least 1 input key is needed for '{}' command",
                String::from_utf8_lossy(&name)
            ))
        })?;
    let keys = args.get(3..3 + n).ok_or_else(syntax)?;
    let mut weights = vec![1.0; n];
    let mut aggregate = 0u8; // 0 sum, 1 min, 2 max
    let mut i = 3 + n;
    while let Some(a) = args.get(i) {
        if eq_ignore_case(a, "weights") {
            for w in weights.iter_mut() {
                i += 1;
                *w = parse_float(arg(args, i)?)
                    .ok_or_else(|| Reply::err("ERR weight value is not a float"))?;
            }
        } else if eq_ignore_case(a, "aggregate") {
            i += 1;
            aggregate = match arg(args, i)?.to_ascii_lowercase().as_slice() {
                b"sum" => 0,
                b"min" => 1,
                b"max" => 2,
                _ => return Err(syntax()),
            };
        } else {
            return Err(syntax());
        }
        i += 1;
    }
    let mut locked: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    locked.push(dst);
    let _g = ctx.store.lock(ctx.db(), &locked);
    let mut acc: Option<std::collections::BTreeMap<Vec<u8>, f64>> = None;
    for (k, w) in keys.iter().zip(&weights) {
        let items: std::collections::BTreeMap<Vec<u8>, f64> = match ctx.meta_any(k)? {
            Some(m) if m.kind == Kind::Set => ctx
                .store
                .members(ctx.db(), k)
                .map_err(internal)?
                .into_iter()
                .map(|(m, _)| (m, *w))
                .collect(),
            Some(m) if m.kind == Kind::ZSet => sorted(ctx, k, Direction::Forward)?
                .into_iter()
                .map(|(s, m)| (m, not_nan(s * w)))
                .collect(),
            Some(_) => return Err(super::wrongtype()),
            None => Default::default(),
        };
        let agg = |a: f64, b: f64| {
            not_nan(match aggregate {
                1 => a.min(b),
                2 => a.max(b),
                _ => a + b,
            })
        };
        acc = Some(match acc {
            None => items,
            Some(prev) if inter => prev
                .into_iter()
                .filter_map(|(m, s)| items.get(&m).map(|t| (m, agg(s, *t))))
                .collect(),
            Some(mut prev) => {
                for (m, s) in items {
                    let v = prev.get(&m).map_or(s, |p| agg(*p, s));
                    prev.insert(m, v);
                }
                prev
            }
        });
    }
    let result = acc.unwrap_or_default();
    let old = ctx.meta_any(dst)?;
    let mut b = WriteBatch::new();
    match &old {
        Some(m) => ctx.store.delete_into(&mut b, ctx.db(), dst, m),
        None => ctx.clear_stale(&mut b, dst)?,
    }
    for (m, s) in &result {
        put_member(ctx, &mut b, dst, m, None, *s);
    }
    finish(ctx, &mut b, dst, None, result.len() as u64);
    ctx.write(&b)?;
    Ok(Reply::Int(result.len() as i64))
}

pub fn zunionstore(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    store_op(ctx, args, false)
}
pub fn zinterstore(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    store_op(ctx, args, true)
}

/// ZRANDMEMBER key [count [WITHSCORES]]: random members, as HRANDFIELD picks fields.
pub fn zrandmember(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let Some(count) = args.get(2) else {
        if zset(ctx, key)?.is_none() {
            return Ok(Reply::Nil);
        }
        let all = sorted(ctx, key, Direction::Forward)?;
        let pick = super::random_picks(all.len(), 1);
        return Ok(pick
            .first()
            .and_then(|&i| all.get(i))
            .map_or(Reply::Nil, |(_, m)| Reply::bulk(m)));
    };
    let n = int_arg(count)?;
    let scores = match args.get(3) {
        Some(a) if eq_ignore_case(a, "withscores") && args.len() == 4 => true,
        Some(_) => return Err(syntax()),
        None => false,
    };
    let all = sorted(ctx, key, Direction::Forward)?;
    let picks = super::random_picks(all.len(), n)
        .into_iter()
        .filter_map(|i| all.get(i).cloned())
        .collect();
    Ok(with_scores(ctx, picks, scores))
}

pub fn zscan(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let (cursor, pattern, count) = super::position_scan_args(args)?;
    let items = sorted(ctx, key, Direction::Forward)?;
    let (range, next) = super::page(items.len(), cursor, count);
    let mut page = Vec::new();
    for (s, m) in items.get(range).unwrap_or_default() {
        if pattern.as_ref().is_none_or(|p| super::glob_match(p, m)) {
            page.push(Reply::bulk(m));
            page.push(Reply::Bulk(crate::reply::redis_double(*s).into_bytes()));
        }
    }
    Ok(Reply::Array(vec![
        Reply::Bulk(next.to_string().into_bytes()),
        Reply::Array(page),
    ]))
}
