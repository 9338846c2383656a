//! Window functions over a select's rows (after WHERE, GROUP BY and HAVING): each call sorts
//! the rows by its PARTITION BY and ORDER BY keys, walks each partition and appends its value
//! to every row, at `window_base + call number` (where the select list reads it). Rows keep
//! their order.
//!
//! Peers are rows of a partition equal in the window's ORDER BY (all of them without one).
//! Frames follow PostgreSQL: the default is RANGE from the partition's start to the current
//! row's last peer; ROWS counts rows, RANGE bounds at CURRENT ROW take the peers along. An
//! aggregate whose frame starts at the partition's start is folded once per partition, its
//! value read as the frame end moves; other frames are folded per row.

use std::cmp::Ordering;

use super::agg::Running;
use crate::error::{code, Error, Result};
use crate::expr::{cmp_ordered, Bound, EvalContext, Expr, WinFunc, WindowCall};
use crate::types::{encode_key, Value};

/// Appends the value of every call in `windows` to each of `rows`, cut to `base` columns.
pub fn compute(
    windows: &[WindowCall],
    mut rows: Vec<Vec<Value>>,
    base: usize,
    ctx: &EvalContext<'_>,
) -> Result<Vec<Vec<Value>>> {
    for r in &mut rows {
        r.resize(base, Value::Null);
    }
    let mut values: Vec<Vec<Value>> = Vec::with_capacity(windows.len());
    for w in windows {
        values.push(one(w, &rows, ctx)?);
    }
    for (i, r) in rows.iter_mut().enumerate() {
        for v in &mut values {
            r.push(std::mem::replace(&mut v[i], Value::Null));
        }
    }
    Ok(rows)
}

/// The values of `w` for `rows`, in row order.
fn one(w: &WindowCall, rows: &[Vec<Value>], ctx: &EvalContext<'_>) -> Result<Vec<Value>> {
    // Sort row numbers by (partition, order keys); ties keep the input order.
    let mut keyed = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let mut part = Vec::new();
        for p in &w.partition {
            encode_key(&p.eval(r, ctx)?, &mut part);
        }
        let order = w
            .order
            .iter()
            .map(|(k, _, _)| k.eval(r, ctx))
            .collect::<Result<Vec<_>>>()?;
        keyed.push((part, order, i));
    }
    keyed.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| cmp_ordered(&a.1, &b.1, &w.order))
            .then(a.2.cmp(&b.2))
    });
    let mut out = vec![Value::Null; rows.len()];
    let mut start = 0;
    while start < keyed.len() {
        let mut end = start + 1;
        while end < keyed.len() && keyed[end].0 == keyed[start].0 {
            end += 1;
        }
        let part = &keyed[start..end];
        let peers = peer_groups(part, w);
        let order: Vec<usize> = part.iter().map(|k| k.2).collect();
        partition(w, rows, &order, &peers, ctx, &mut out)?;
        start = end;
    }
    Ok(out)
}

/// For each position of a sorted partition: (first peer, last peer) positions.
fn peer_groups(part: &[(Vec<u8>, Vec<Value>, usize)], w: &WindowCall) -> Vec<(usize, usize)> {
    let mut out = vec![(0, 0); part.len()];
    let mut g = 0;
    while g < part.len() {
        let mut e = g + 1;
        while e < part.len() && cmp_ordered(&part[g].1, &part[e].1, &w.order) == Ordering::Equal {
            e += 1;
        }
        for slot in out.iter_mut().take(e).skip(g) {
            *slot = (g, e - 1);
        }
        g = e;
    }
    out
}

/// An offset argument (ntile's buckets, lag's distance, a ROWS bound, nth_value's n) as an
/// integer; `None` for NULL.
fn int_arg(e: &Expr, row: &[Value], ctx: &EvalContext<'_>) -> Result<Option<i64>> {
    match e.eval(row, ctx)? {
        Value::Null => Ok(None),
        v => match v.cast(&crate::types::DataType::Int8)? {
            Value::Int8(n) => Ok(Some(n)),
            _ => Ok(None),
        },
    }
}

/// The frame of position `i` (inclusive positions; empty when start > end).
fn frame(
    w: &WindowCall,
    i: usize,
    peers: (usize, usize),
    len: usize,
    row: &[Value],
    ctx: &EvalContext<'_>,
) -> Result<(i64, i64)> {
    let bound = |b: &Bound, is_start: bool| -> Result<i64> {
        let which = if is_start { "starting" } else { "ending" };
        let offset = |e: &Expr| -> Result<i64> {
            match int_arg(e, row, ctx)? {
                Some(n) if n >= 0 => Ok(n),
                Some(_) => Err(Error::new(
                    code::INVALID_PRECEDING_OR_FOLLOWING_SIZE,
                    format!("frame {which} offset must not be negative"),
                )),
                None => Err(Error::new(
                    code::NULL_VALUE_NOT_ALLOWED,
                    format!("frame {which} offset must not be null"),
                )),
            }
        };
        Ok(match b {
            Bound::UnboundedPreceding => 0,
            Bound::UnboundedFollowing => len as i64 - 1,
            Bound::CurrentRow if w.frame.rows => i as i64,
            Bound::CurrentRow if is_start => peers.0 as i64,
            Bound::CurrentRow => peers.1 as i64,
            Bound::Preceding(e) => i as i64 - offset(e)?,
            Bound::Following(e) => i as i64 + offset(e)?,
        })
    };
    let s = bound(&w.frame.start, true)?.max(0);
    let e = bound(&w.frame.end, false)?.min(len as i64 - 1);
    Ok((s, e))
}

/// Computes `w` over one sorted partition (`order`: row numbers in window order).
fn partition(
    w: &WindowCall,
    rows: &[Vec<Value>],
    order: &[usize],
    peers: &[(usize, usize)],
    ctx: &EvalContext<'_>,
    out: &mut [Value],
) -> Result<()> {
    let n = order.len();
    let row = |pos: usize| rows.get(order[pos]).map_or(&[][..], Vec::as_slice);
    let arg = |k: usize, pos: usize| -> Result<Value> {
        match w.args.get(k) {
            Some(a) => a.eval(row(pos), ctx),
            None => Ok(Value::Null),
        }
    };
    // An aggregate whose frames all start at the partition's start: one running fold.
    let mut running = match &w.func {
        WinFunc::Agg(call) if matches!(w.frame.start, Bound::UnboundedPreceding) => {
            Some((Running::new(call), 0usize))
        }
        _ => None,
    };
    let mut dense = 0i64;
    for pos in 0..n {
        let (first_peer, last_peer) = peers[pos];
        if first_peer == pos {
            dense += 1;
        }
        let v = match &w.func {
            WinFunc::RowNumber => Value::Int8(pos as i64 + 1),
            WinFunc::Rank => Value::Int8(first_peer as i64 + 1),
            WinFunc::DenseRank => Value::Int8(dense),
            WinFunc::PercentRank => Value::Float8(if n > 1 {
                first_peer as f64 / (n - 1) as f64
            } else {
                0.0
            }),
            WinFunc::CumeDist => Value::Float8((last_peer + 1) as f64 / n as f64),
            WinFunc::Ntile => match w.args.first().map(|a| int_arg(a, row(pos), ctx)) {
                Some(Ok(Some(k))) if k > 0 => Value::Int4(ntile(pos, n, k) as i32),
                Some(Ok(Some(_))) => {
                    return Err(Error::new(
                        code::INVALID_ARGUMENT_FOR_NTILE,
                        "argument of ntile must be greater than zero",
                    ))
                }
                Some(Err(e)) => return Err(e),
                _ => Value::Null,
            },
            WinFunc::Lag | WinFunc::Lead => {
                let offset = match w.args.get(1) {
                    Some(a) => int_arg(a, row(pos), ctx)?,
                    None => Some(1),
                };
                match offset {
                    None => Value::Null,
                    Some(off) => {
                        let at = if matches!(w.func, WinFunc::Lag) {
                            pos as i64 - off
                        } else {
                            pos as i64 + off
                        };
                        if (0..n as i64).contains(&at) {
                            arg(0, at as usize)?
                        } else {
                            arg(2, pos)?
                        }
                    }
                }
            }
            WinFunc::FirstValue | WinFunc::LastValue | WinFunc::NthValue => {
                let (s, e) = frame(w, pos, peers[pos], n, row(pos), ctx)?;
                let at = match &w.func {
                    WinFunc::FirstValue => Some(s),
                    WinFunc::LastValue => Some(e),
                    _ => match w.args.get(1).map(|a| int_arg(a, row(pos), ctx)) {
                        Some(Ok(Some(k))) if k > 0 => Some(s + k - 1),
                        Some(Ok(Some(_))) => {
                            return Err(Error::new(
                                code::INVALID_ARGUMENT_FOR_NTH_VALUE,
                                "argument of nth_value must be greater than zero",
                            ))
                        }
                        Some(Err(e)) => return Err(e),
                        _ => None,
                    },
                };
                match at {
                    Some(at) if s <= e && at >= s && at <= e => arg(0, at as usize)?,
                    _ => Value::Null,
                }
            }
            WinFunc::Agg(call) => {
                let (s, e) = frame(w, pos, peers[pos], n, row(pos), ctx)?;
                match &mut running {
                    // Frames only grow: fold in the rows up to this frame's end.
                    Some((acc, done)) => {
                        while (*done as i64) <= e {
                            acc.add(row(*done), ctx)?;
                            *done += 1;
                        }
                        acc.value()?
                    }
                    None => {
                        let mut acc = Running::new(call);
                        let mut at = s;
                        while at <= e {
                            acc.add(row(at as usize), ctx)?;
                            at += 1;
                        }
                        acc.value()?
                    }
                }
            }
        };
        if let Some(slot) = out.get_mut(order[pos]) {
            *slot = v;
        }
    }
    Ok(())
}

/// The bucket (from 1) of position `pos` of `n` rows split into `k` buckets as evenly as
/// possible, the larger buckets first.
fn ntile(pos: usize, n: usize, k: i64) -> usize {
    let k = (k as usize).min(n.max(1));
    let small = n / k;
    let large = n % k;
    let in_large = large * (small + 1);
    if pos < in_large {
        pos / (small + 1) + 1
    } else {
        large + (pos - in_large) / small.max(1) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::ntile;

    #[test]
    fn ntile_puts_the_extra_rows_in_the_first_buckets() {
        let buckets = |n, k| (0..n).map(|p| ntile(p, n, k)).collect::<Vec<_>>();
        assert_eq!(buckets(7, 3), vec![1, 1, 1, 2, 2, 3, 3]);
        assert_eq!(buckets(6, 3), vec![1, 1, 2, 2, 3, 3]);
        assert_eq!(buckets(2, 5), vec![1, 2]);
        assert_eq!(buckets(1, 1), vec![1]);
    }
}
