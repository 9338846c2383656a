//! List commands. A list's metadata holds its head and tail positions (tail exclusive); each
//! element is a member keyed by its position (u64, big-endian), so pushes and pops at either
//! end touch one entry and ranges are one scan. Rewrites (LREM, LINSERT) renumber from the
//! middle of the position space.

use std::ops::Bound;

use orbit_lsm::{Direction, WriteBatch};

use super::{arg, eq_ignore_case, int_arg, internal, syntax, Ctx};
use crate::reply::Reply;
use crate::store::{Kind, Meta, Store, LIST_MIDDLE};

fn list(ctx: &Ctx<'_>, key: &[u8]) -> Result<Option<Meta>, Reply> {
    ctx.meta_of(key, Kind::List)
}

fn pos(p: u64) -> [u8; 8] {
    p.to_be_bytes()
}

/// Adds the list's new metadata (or its deletion when empty) to `b`.
fn finish(ctx: &Ctx<'_>, b: &mut WriteBatch, key: &[u8], old: Option<&Meta>, head: u64, tail: u64) {
    let db = ctx.db();
    if head >= tail {
        if let Some(m) = old {
            ctx.store.delete_into(b, db, key, m);
        }
        return;
    }
    let mut payload = head.to_le_bytes().to_vec();
    payload.extend_from_slice(&tail.to_le_bytes());
    let meta = Meta {
        kind: Kind::List,
        expire_at: old.map_or(0, |m| m.expire_at),
        payload,
    };
    ctx.store.put_meta_into(b, db, key, &meta);
}

fn put_elem(ctx: &Ctx<'_>, b: &mut WriteBatch, key: &[u8], p: u64, v: &[u8]) {
    b.put(
        ctx.store.sub_keyspace(),
        &Store::sub_key(ctx.db(), key, &pos(p)),
        v,
    );
}

fn del_elem(ctx: &Ctx<'_>, b: &mut WriteBatch, key: &[u8], p: u64) {
    b.delete(
        ctx.store.sub_keyspace(),
        &Store::sub_key(ctx.db(), key, &pos(p)),
    );
}

/// Elements at positions `[from, to)`, in order (`Backward`: from the end).
fn elements(
    ctx: &Ctx<'_>,
    key: &[u8],
    from: u64,
    to: u64,
    dir: Direction,
) -> Result<Vec<Vec<u8>>, Reply> {
    if from >= to {
        return Ok(Vec::new());
    }
    let it = positions(ctx, key, from, to, dir)?;
    it.map(|r| r.map(|(_, v)| v).map_err(internal)).collect()
}

/// The entries at positions `[from, to)` (`from < to`), in `dir`: (position, element).
fn positions(
    ctx: &Ctx<'_>,
    key: &[u8],
    from: u64,
    to: u64,
    dir: Direction,
) -> Result<crate::store::MemberIter, Reply> {
    let (lo, hi) = (pos(from), pos(to));
    ctx.store
        .member_range(
            ctx.db(),
            key,
            Bound::Included(&lo),
            Bound::Excluded(&hi),
            dir,
        )
        .map_err(internal)
}

/// Replaces the whole list by `values`.
fn rewrite(ctx: &Ctx<'_>, b: &mut WriteBatch, key: &[u8], old: Option<&Meta>, values: &[Vec<u8>]) {
    ctx.store.clear_members_into(b, ctx.db(), key);
    for (i, v) in values.iter().enumerate() {
        put_elem(ctx, b, key, LIST_MIDDLE + i as u64, v);
    }
    finish(
        ctx,
        b,
        key,
        old,
        LIST_MIDDLE,
        LIST_MIDDLE + values.len() as u64,
    );
}

fn push(
    ctx: &mut Ctx<'_>,
    args: &[Vec<u8>],
    left: bool,
    only_existing: bool,
) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let values = args.get(2..).unwrap_or_default();
    let lens = push_groups(ctx, key, &[values], left, only_existing)?;
    Ok(Reply::Int(lens.first().copied().unwrap_or(0)))
}

/// Pushes each group of values (one command's) onto `key` in turn, at the head (`left`) or
/// the tail, as one write: the list's length after each group (0 for all if `only_existing`
/// and the list is missing).
pub fn push_groups(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    groups: &[&[Vec<u8>]],
    left: bool,
    only_existing: bool,
) -> Result<Vec<i64>, Reply> {
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let old = list(ctx, key)?;
    if only_existing && old.is_none() {
        return Ok(vec![0; groups.len()]);
    }
    let mut b = WriteBatch::new();
    if old.is_none() {
        ctx.clear_stale(&mut b, key)?;
    }
    let (mut head, mut tail) = old
        .as_ref()
        .map_or((LIST_MIDDLE, LIST_MIDDLE), Meta::list_bounds);
    let mut lens = Vec::with_capacity(groups.len());
    for group in groups {
        for v in group.iter() {
            if left {
                head -= 1;
                put_elem(ctx, &mut b, key, head, v);
            } else {
                put_elem(ctx, &mut b, key, tail, v);
                tail += 1;
            }
        }
        lens.push(i64::try_from(tail - head).unwrap_or(i64::MAX));
    }
    finish(ctx, &mut b, key, old.as_ref(), head, tail);
    ctx.write(&b)?;
    Ok(lens)
}

pub fn lpush(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    push(ctx, args, true, false)
}
pub fn rpush(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    push(ctx, args, false, false)
}
pub fn lpushx(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    push(ctx, args, true, true)
}
pub fn rpushx(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    push(ctx, args, false, true)
}

/// Pops one element (`Reply::Bulk`) or answers `Reply::Nil` for a missing list.
pub fn pop_one(ctx: &mut Ctx<'_>, key: &[u8], left: bool) -> Result<Reply, Reply> {
    pop(ctx, &[b"LPOP".to_vec(), key.to_vec()], left)
}

fn pop(ctx: &mut Ctx<'_>, args: &[Vec<u8>], left: bool) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    if args.len() > 3 {
        return Err(Reply::err(format!(
            "ERR wrong number of arguments for '{}' command",
            String::from_utf8_lossy(arg(args, 0)?).to_lowercase()
        )));
    }
    let count = super::pop_count(args, 2)?;
    let Some(taken) = take(ctx, key, count.unwrap_or(1), left)? else {
        return Ok(if count.is_some() {
            Reply::NilArray
        } else {
            Reply::Nil
        });
    };
    Ok(match count {
        None => taken.into_iter().next().map_or(Reply::Nil, Reply::Bulk),
        Some(_) => Reply::Array(taken.into_iter().map(Reply::Bulk).collect()),
    })
}

/// `n` pops of one element each from `key`'s head (`left`) or tail, as one write (a run of
/// `LPOP key` or `RPOP key`): each pop's reply, an element or nil once the list ran out.
pub fn pop_run(ctx: &mut Ctx<'_>, key: &[u8], n: usize, left: bool) -> Result<Vec<Reply>, Reply> {
    let mut replies: Vec<Reply> = take(ctx, key, n, left)?
        .unwrap_or_default()
        .into_iter()
        .map(Reply::Bulk)
        .collect();
    replies.resize(n, Reply::Nil);
    Ok(replies)
}

/// Takes up to `n` elements from `key`'s head (`left`) or tail, as one write: the elements in
/// pop order (fewer if the list runs out), or `None` for a missing list.
fn take(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    n: usize,
    left: bool,
) -> Result<Option<Vec<Vec<u8>>>, Reply> {
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let Some(old) = list(ctx, key)? else {
        return Ok(None);
    };
    let (mut head, mut tail) = old.list_bounds();
    let n = n.min(usize::try_from(tail - head).unwrap_or(usize::MAX));
    let taken = if n < SCANNED_POPS {
        // Point reads: a pop touches a few positions, cheaper than opening an iterator.
        let mut taken = Vec::with_capacity(n);
        for i in 0..n as u64 {
            let p = if left { head + i } else { tail - 1 - i };
            match ctx.store.member(ctx.db(), key, &pos(p)).map_err(internal)? {
                Some(v) => taken.push(v),
                None => break,
            }
        }
        taken
    } else {
        scan_end(ctx, key, (head, tail), n, left)?
    };
    let mut b = WriteBatch::new();
    for _ in 0..taken.len() {
        if left {
            del_elem(ctx, &mut b, key, head);
            head += 1;
        } else {
            tail -= 1;
            del_elem(ctx, &mut b, key, tail);
        }
    }
    finish(ctx, &mut b, key, Some(&old), head, tail);
    ctx.write(&b)?;
    Ok(Some(taken))
}

/// Pops from this many positions on (a run of pops, a count) read the list's end with one
/// iterator rather than a point read each: the positions are adjacent keys.
const SCANNED_POPS: usize = 8;

/// The values at the `n` positions from the head (`left`) or the tail of the list at `key`,
/// which spans `head..tail`, in pop order (up to a missing position).
fn scan_end(
    ctx: &Ctx<'_>,
    key: &[u8],
    (head, tail): (u64, u64),
    n: usize,
    left: bool,
) -> Result<Vec<Vec<u8>>, Reply> {
    let n64 = n as u64;
    let members = if left {
        positions(ctx, key, head, head + n64, Direction::Forward)?
    } else {
        positions(ctx, key, tail - n64, tail, Direction::Backward)?
    };
    let mut taken = Vec::with_capacity(n);
    for (i, m) in members.enumerate().take(n) {
        let (member, value) = m.map_err(internal)?;
        let want = if left {
            head + i as u64
        } else {
            tail - 1 - i as u64
        };
        if member != pos(want) {
            break;
        }
        taken.push(value);
    }
    Ok(taken)
}

pub fn lpop(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    pop(ctx, args, true)
}
pub fn rpop(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    pop(ctx, args, false)
}

pub fn llen(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    Ok(Reply::Int(list(ctx, arg(args, 1)?)?.map_or(0, |m| {
        let (h, t) = m.list_bounds();
        i64::try_from(t - h).unwrap_or(i64::MAX)
    })))
}

/// Redis's index normalization: negative counts from the end; `None` if out of range.
fn index(len: u64, i: i64) -> Option<u64> {
    let len = i64::try_from(len).ok()?;
    let i = if i < 0 { len + i } else { i };
    (0..len).contains(&i).then(|| u64::try_from(i).unwrap_or(0))
}

/// A `[start, stop]` range clamped to the list, as positions `[from, to)`; `None` if empty.
fn span(head: u64, tail: u64, start: i64, stop: i64) -> Option<(u64, u64)> {
    let len = i64::try_from(tail - head).ok()?;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    if start > stop || start >= len {
        return None;
    }
    let (s, e) = (u64::try_from(start).ok()?, u64::try_from(stop).ok()?);
    Some((head + s, head + e + 1))
}

pub fn lrange(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let (start, stop) = (int_arg(arg(args, 2)?)?, int_arg(arg(args, 3)?)?);
    let Some(m) = list(ctx, key)? else {
        return Ok(Reply::Array(vec![]));
    };
    let (head, tail) = m.list_bounds();
    Ok(Reply::Array(match span(head, tail, start, stop) {
        Some((from, to)) => elements(ctx, key, from, to, Direction::Forward)?
            .into_iter()
            .map(Reply::Bulk)
            .collect(),
        None => vec![],
    }))
}

pub fn lindex(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let i = int_arg(arg(args, 2)?)?;
    let Some(m) = list(ctx, key)? else {
        return Ok(Reply::Nil);
    };
    let (head, tail) = m.list_bounds();
    let Some(at) = index(tail - head, i) else {
        return Ok(Reply::Nil);
    };
    Ok(ctx
        .store
        .member(ctx.db(), key, &pos(head + at))
        .map_err(internal)?
        .map_or(Reply::Nil, Reply::Bulk))
}

pub fn lset(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let i = int_arg(arg(args, 2)?)?;
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let Some(m) = list(ctx, key)? else {
        return Err(Reply::err("ERR no such key"));
    };
    let (head, tail) = m.list_bounds();
    let at = index(tail - head, i).ok_or_else(|| Reply::err("ERR index out of range"))?;
    let mut b = WriteBatch::new();
    put_elem(ctx, &mut b, key, head + at, arg(args, 3)?);
    ctx.write(&b)?;
    Ok(Reply::OK)
}

fn all(ctx: &Ctx<'_>, key: &[u8], m: &Meta) -> Result<Vec<Vec<u8>>, Reply> {
    let (head, tail) = m.list_bounds();
    elements(ctx, key, head, tail, Direction::Forward)
}

pub fn lrem(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let count = int_arg(arg(args, 2)?)?;
    let value = arg(args, 3)?;
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let Some(m) = list(ctx, key)? else {
        return Ok(Reply::Int(0));
    };
    let mut values = all(ctx, key, &m)?;
    let limit = if count == 0 {
        usize::MAX
    } else {
        usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX)
    };
    let mut removed = 0usize;
    let mut keep = vec![true; values.len()];
    let order: Box<dyn Iterator<Item = usize>> = if count < 0 {
        Box::new((0..values.len()).rev())
    } else {
        Box::new(0..values.len())
    };
    for i in order {
        if removed == limit {
            break;
        }
        if values.get(i).is_some_and(|v| v.as_slice() == value) {
            if let Some(k) = keep.get_mut(i) {
                *k = false;
            }
            removed += 1;
        }
    }
    if removed > 0 {
        let mut flags = keep.into_iter();
        values.retain(|_| flags.next().unwrap_or(true));
        let mut b = WriteBatch::new();
        rewrite(ctx, &mut b, key, Some(&m), &values);
        ctx.write(&b)?;
    }
    Ok(Reply::Int(removed as i64))
}

pub fn ltrim(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let (start, stop) = (int_arg(arg(args, 2)?)?, int_arg(arg(args, 3)?)?);
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let Some(m) = list(ctx, key)? else {
        return Ok(Reply::OK);
    };
    let (head, tail) = m.list_bounds();
    let mut b = WriteBatch::new();
    let sub = ctx.store.sub_keyspace();
    let at = |p: u64| Store::sub_key(ctx.db(), key, &pos(p));
    match span(head, tail, start, stop) {
        Some((from, to)) => {
            if from > head {
                b.delete_range(sub, &at(head), &at(from));
            }
            if to < tail {
                b.delete_range(sub, &at(to), &at(tail));
            }
            finish(ctx, &mut b, key, Some(&m), from, to);
        }
        None => finish(ctx, &mut b, key, Some(&m), head, head),
    }
    ctx.write(&b)?;
    Ok(Reply::OK)
}

pub fn linsert(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let before = match arg(args, 2)? {
        w if eq_ignore_case(w, "before") => true,
        w if eq_ignore_case(w, "after") => false,
        _ => return Err(syntax()),
    };
    let (pivot, value) = (arg(args, 3)?, arg(args, 4)?);
    let _g = ctx.store.lock(ctx.db(), &[key]);
    let Some(m) = list(ctx, key)? else {
        return Ok(Reply::Int(0));
    };
    let mut values = all(ctx, key, &m)?;
    let Some(i) = values.iter().position(|v| v.as_slice() == pivot) else {
        return Ok(Reply::Int(-1));
    };
    values.insert(if before { i } else { i + 1 }, value.to_vec());
    let mut b = WriteBatch::new();
    rewrite(ctx, &mut b, key, Some(&m), &values);
    ctx.write(&b)?;
    Ok(Reply::Int(values.len() as i64))
}

pub fn lpos(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let element = arg(args, 2)?;
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0usize);
    let mut i = 3;
    while i < args.len() {
        let (a, v) = (arg(args, i)?, int_arg(arg(args, i + 1)?)?);
        if eq_ignore_case(a, "rank") {
            if v == 0 || v == i64::MIN {
                return Err(Reply::err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"));
            }
            rank = v;
        } else if eq_ignore_case(a, "count") {
            count =
                Some(usize::try_from(v).map_err(|_| Reply::err("ERR COUNT can't be negative"))?);
        } else if eq_ignore_case(a, "maxlen") {
            maxlen = usize::try_from(v).map_err(|_| Reply::err("ERR MAXLEN can't be negative"))?;
        } else {
            return Err(syntax());
        }
        i += 2;
    }
    let values = match list(ctx, key)? {
        Some(m) => all(ctx, key, &m)?,
        None => Vec::new(),
    };
    let n = values.len();
    let order: Vec<usize> = if rank > 0 {
        (0..n).collect()
    } else {
        (0..n).rev().collect()
    };
    let mut skip = usize::try_from(rank.unsigned_abs()).unwrap_or(usize::MAX) - 1;
    let mut found = Vec::new();
    let want = match count {
        Some(0) => usize::MAX,
        Some(c) => c,
        None => 1,
    };
    for (scanned, idx) in order.into_iter().enumerate() {
        if maxlen != 0 && scanned >= maxlen {
            break;
        }
        if values.get(idx).is_some_and(|v| v.as_slice() == element) {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            found.push(Reply::Int(idx as i64));
            if found.len() >= want {
                break;
            }
        }
    }
    Ok(match count {
        Some(_) => Reply::Array(found),
        None => found.into_iter().next().unwrap_or(Reply::Nil),
    })
}

pub fn lmove(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let (src, dst) = (arg(args, 1)?, arg(args, 2)?);
    let side = |a: &[u8]| -> Result<bool, Reply> {
        if eq_ignore_case(a, "left") {
            Ok(true)
        } else if eq_ignore_case(a, "right") {
            Ok(false)
        } else {
            Err(syntax())
        }
    };
    let (from_left, to_left) = (side(arg(args, 3)?)?, side(arg(args, 4)?)?);
    let _g = ctx.store.lock(ctx.db(), &[src, dst]);
    let Some(sm) = list(ctx, src)? else {
        return Ok(Reply::Nil);
    };
    let dm = if src == dst {
        Some(sm.clone())
    } else {
        list(ctx, dst)?
    };
    let (mut sh, mut st) = sm.list_bounds();
    let p = if from_left { sh } else { st - 1 };
    let Some(v) = ctx.store.member(ctx.db(), src, &pos(p)).map_err(internal)? else {
        return Ok(Reply::Nil);
    };
    let mut b = WriteBatch::new();
    del_elem(ctx, &mut b, src, p);
    if from_left {
        sh += 1;
    } else {
        st -= 1;
    }
    if src == dst {
        let (mut h, mut t) = (sh, st);
        if to_left {
            h -= 1;
            put_elem(ctx, &mut b, dst, h, &v);
        } else {
            put_elem(ctx, &mut b, dst, t, &v);
            t += 1;
        }
        finish(ctx, &mut b, dst, Some(&sm), h, t);
    } else {
        finish(ctx, &mut b, src, Some(&sm), sh, st);
        if dm.is_none() {
            ctx.clear_stale(&mut b, dst)?;
        }
        let (mut h, mut t) = dm
            .as_ref()
            .map_or((LIST_MIDDLE, LIST_MIDDLE), Meta::list_bounds);
        if to_left {
            h -= 1;
            put_elem(ctx, &mut b, dst, h, &v);
        } else {
            put_elem(ctx, &mut b, dst, t, &v);
            t += 1;
        }
        finish(ctx, &mut b, dst, dm.as_ref(), h, t);
    }
    ctx.write(&b)?;
    Ok(Reply::Bulk(v))
}

pub fn rpoplpush(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let mut a = args.to_vec();
    a.push(b"RIGHT".to_vec());
    a.push(b"LEFT".to_vec());
    lmove(ctx, &a)
}
