//! Sorted-set ranges: score bounds (`(1.5`, `-inf`), lex bounds (`[a`, `-`), and the ZRANGE
//! family with its options (BYSCORE, BYLEX, REV, LIMIT, WITHSCORES).

use std::ops::Bound;

use orbit_lsm::Direction;

use super::super::{arg, eq_ignore_case, int_arg, parse_float_bound, syntax, Ctx};
use super::{sorted, with_scores};
use crate::reply::Reply;

/// A score bound: `(1.5` exclusive, `-inf`, `+inf`.
pub(super) fn score_bound(b: &[u8]) -> Result<Bound<f64>, Reply> {
    let bad = || Reply::err("ERR min or max is not a float");
    match b.strip_prefix(b"(") {
        Some(rest) => parse_float_bound(rest).map(Bound::Excluded).ok_or_else(bad),
        None => parse_float_bound(b).map(Bound::Included).ok_or_else(bad),
    }
}

pub(super) fn in_score(s: f64, lo: &Bound<f64>, hi: &Bound<f64>) -> bool {
    let above = match lo {
        Bound::Included(l) => s >= *l,
        Bound::Excluded(l) => s > *l,
        Bound::Unbounded => true,
    };
    let below = match hi {
        Bound::Included(h) => s <= *h,
        Bound::Excluded(h) => s < *h,
        Bound::Unbounded => true,
    };
    above && below
}

/// A lex bound: `[a`, `(a`, `-`, `+`.
fn lex_bound(b: &[u8]) -> Result<Bound<Vec<u8>>, Reply> {
    match b {
        b"-" | b"+" => Ok(Bound::Unbounded),
        _ => match (b.first(), b.get(1..)) {
            (Some(b'['), Some(r)) => Ok(Bound::Included(r.to_vec())),
            (Some(b'('), Some(r)) => Ok(Bound::Excluded(r.to_vec())),
            _ => Err(Reply::err("ERR min or max not valid string range item")),
        },
    }
}

fn in_lex(
    m: &[u8],
    lo: &Bound<Vec<u8>>,
    hi: &Bound<Vec<u8>>,
    lo_raw: &[u8],
    hi_raw: &[u8],
) -> bool {
    let above = match lo {
        Bound::Included(l) => m >= l.as_slice(),
        Bound::Excluded(l) => m > l.as_slice(),
        Bound::Unbounded => lo_raw == b"-",
    };
    let below = match hi {
        Bound::Included(h) => m <= h.as_slice(),
        Bound::Excluded(h) => m < h.as_slice(),
        Bound::Unbounded => hi_raw == b"+",
    };
    above && below
}

enum By {
    Rank,
    Score,
    Lex,
}

/// The general ZRANGE: `args` are key, start, stop; `by`, `rev`, `limit`, `scores` already parsed.
fn range(
    ctx: &Ctx<'_>,
    key: &[u8],
    start: &[u8],
    stop: &[u8],
    by: &By,
    rev: bool,
    limit: Option<(i64, i64)>,
) -> Result<Vec<(f64, Vec<u8>)>, Reply> {
    let dir = if rev {
        Direction::Backward
    } else {
        Direction::Forward
    };
    match by {
        By::Rank => {
            let (s, e) = (int_arg(start)?, int_arg(stop)?);
            let items = sorted(ctx, key, dir)?;
            let len = items.len() as i64;
            let s = if s < 0 { (len + s).max(0) } else { s };
            let e = if e < 0 { len + e } else { e.min(len - 1) };
            if s > e || s >= len {
                return Ok(Vec::new());
            }
            let (s, e) = (
                usize::try_from(s).unwrap_or(0),
                usize::try_from(e).unwrap_or(0),
            );
            Ok(items.get(s..=e).unwrap_or_default().to_vec())
        }
        By::Score => {
            // REV takes max first: ZRANGE key max min BYSCORE REV.
            let (lo, hi) = if rev {
                (score_bound(stop)?, score_bound(start)?)
            } else {
                (score_bound(start)?, score_bound(stop)?)
            };
            let hits = sorted(ctx, key, dir)?
                .into_iter()
                .filter(|(s, _)| in_score(*s, &lo, &hi));
            Ok(apply_limit(hits, limit))
        }
        By::Lex => {
            let (lo_raw, hi_raw) = if rev { (stop, start) } else { (start, stop) };
            let (lo, hi) = (lex_bound(lo_raw)?, lex_bound(hi_raw)?);
            let hits = sorted(ctx, key, dir)?
                .into_iter()
                .filter(|(_, m)| in_lex(m, &lo, &hi, lo_raw, hi_raw));
            Ok(apply_limit(hits, limit))
        }
    }
}

fn apply_limit(
    it: impl Iterator<Item = (f64, Vec<u8>)>,
    limit: Option<(i64, i64)>,
) -> Vec<(f64, Vec<u8>)> {
    match limit {
        None => it.collect(),
        Some((off, count)) => {
            if off < 0 {
                return Vec::new();
            }
            let it = it.skip(usize::try_from(off).unwrap_or(usize::MAX));
            match usize::try_from(count) {
                Ok(c) => it.take(c).collect(),
                Err(_) => it.collect(),
            }
        }
    }
}

/// ZRANGE's options.
struct RangeOpts {
    by: By,
    rev: bool,
    limit: Option<(i64, i64)>,
    scores: bool,
}

/// Parses `[BYSCORE|BYLEX] [REV] [LIMIT o c] [WITHSCORES]` from `args[from..]`.
fn range_options(args: &[Vec<u8>], from: usize) -> Result<RangeOpts, Reply> {
    let (mut by, mut rev, mut limit, mut scores) = (By::Rank, false, None, false);
    let mut i = from;
    while let Some(a) = args.get(i) {
        match a.to_ascii_lowercase().as_slice() {
            b"byscore" => by = By::Score,
            b"bylex" => by = By::Lex,
            b"rev" => rev = true,
            b"withscores" => scores = true,
            b"limit" => {
                limit = Some((int_arg(arg(args, i + 1)?)?, int_arg(arg(args, i + 2)?)?));
                i += 2;
            }
            _ => return Err(syntax()),
        }
        i += 1;
    }
    if limit.is_some() && matches!(by, By::Rank) {
        return Err(Reply::err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if scores && matches!(by, By::Lex) {
        return Err(Reply::err(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    Ok(RangeOpts {
        by,
        rev,
        limit,
        scores,
    })
}

pub fn zrange(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let o = range_options(args, 4)?;
    let (key, start, stop) = (arg(args, 1)?, arg(args, 2)?, arg(args, 3)?);
    let items = range(ctx, key, start, stop, &o.by, o.rev, o.limit)?;
    Ok(with_scores(ctx, items, o.scores))
}

/// ZRANGEBYSCORE and friends: ZRANGE with the mode implied (LIMIT and WITHSCORES allowed).
fn range_by(ctx: &mut Ctx<'_>, args: &[Vec<u8>], by: By, rev: bool) -> Result<Reply, Reply> {
    let mut a = args.to_vec();
    a.push(if matches!(by, By::Lex) {
        b"BYLEX".to_vec()
    } else {
        b"BYSCORE".to_vec()
    });
    let o = range_options(&a, 4)?;
    let (key, start, stop) = (arg(args, 1)?, arg(args, 2)?, arg(args, 3)?);
    let items = range(ctx, key, start, stop, &by, rev, o.limit)?;
    Ok(with_scores(ctx, items, o.scores))
}

pub fn zrangebyscore(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    range_by(ctx, args, By::Score, false)
}
pub fn zrevrangebyscore(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    range_by(ctx, args, By::Score, true)
}
pub fn zrangebylex(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    range_by(ctx, args, By::Lex, false)
}
pub fn zrevrange(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let scores = match args.get(4) {
        Some(a) if eq_ignore_case(a, "withscores") && args.len() == 5 => true,
        Some(_) => return Err(syntax()),
        None => false,
    };
    let items = range(
        ctx,
        arg(args, 1)?,
        arg(args, 2)?,
        arg(args, 3)?,
        &By::Rank,
        true,
        None,
    )?;
    Ok(with_scores(ctx, items, scores))
}

pub fn zcount(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let (lo, hi) = (score_bound(arg(args, 2)?)?, score_bound(arg(args, 3)?)?);
    let n = sorted(ctx, arg(args, 1)?, Direction::Forward)?
        .iter()
        .filter(|(s, _)| in_score(*s, &lo, &hi))
        .count();
    Ok(Reply::Int(n as i64))
}
