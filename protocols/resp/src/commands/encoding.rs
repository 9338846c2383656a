//! `OBJECT ENCODING`: the name Redis 7.2 would give a value's internal representation, from
//! its size, with Redis's default thresholds (`*-max-listpack-entries` 128,
//! `*-max-listpack-value` 64, `set-max-intset-entries` 512, `list-max-listpack-size` -2:
//! 8 KiB). Orbit stores every value the same way; clients and tools that branch on the name
//! see what Redis would report for the value as it is now. (Redis never converts back: a set
//! that grew past the thresholds and shrank stays `hashtable` there, and reads `listpack` here.)

use super::{internal, parse_int, Ctx};
use crate::reply::Reply;
use crate::store::{Kind, Meta};

const LISTPACK_ENTRIES: u64 = 128;
const LISTPACK_VALUE: usize = 64;
const INTSET_ENTRIES: u64 = 512;
const LIST_LISTPACK_BYTES: usize = 8 << 10;

/// The encoding name of `meta`, the value at `key`.
pub fn encoding(ctx: &Ctx<'_>, key: &[u8], meta: &Meta) -> Result<&'static str, Reply> {
    Ok(match meta.kind {
        Kind::String if meta.payload.len() <= 20 && parse_int(&meta.payload).is_some() => "int",
        Kind::String if meta.payload.len() <= 44 => "embstr",
        Kind::String => "raw",
        Kind::TimeSeries => "compressed",
        Kind::Set => set(ctx, key, meta.count())?,
        Kind::Hash => small(ctx, key, meta.count(), true)?.unwrap_or("hashtable"),
        Kind::ZSet => small(ctx, key, meta.count(), false)?.unwrap_or("skiplist"),
        Kind::List => list(ctx, key, meta)?,
    })
}

/// Visits each member (and value, for hashes) of a collection in turn, up to `limit` of
/// them, while `visit` returns true; returns whether it visited them all. One at a time, so
/// a collection of large values is never read whole to name its encoding.
fn each_member(
    ctx: &Ctx<'_>,
    key: &[u8],
    zset: bool,
    limit: u64,
    mut visit: impl FnMut(&[u8], &[u8]) -> bool,
) -> Result<bool, Reply> {
    // A sorted set's members are under 0x00 (0x01 is its score index).
    let (lo, hi): (&[u8], &[u8]) = (&[0], &[1]);
    let (lo, hi) = if zset {
        (std::ops::Bound::Included(lo), std::ops::Bound::Excluded(hi))
    } else {
        (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded)
    };
    let it = ctx
        .store
        .member_range(ctx.db(), key, lo, hi, orbit_lsm::Direction::Forward)
        .map_err(internal)?;
    for m in it.take(usize::try_from(limit).unwrap_or(usize::MAX)) {
        let (member, value) = m.map_err(internal)?;
        let member = if zset {
            member.get(1..).unwrap_or_default()
        } else {
            &member[..]
        };
        if !visit(member, &value) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `listpack` for a hash (fields and values) or sorted set (members) within the listpack
/// limits, else `None`.
fn small(ctx: &Ctx<'_>, key: &[u8], count: u64, hash: bool) -> Result<Option<&'static str>, Reply> {
    if count > LISTPACK_ENTRIES {
        return Ok(None);
    }
    let fits = each_member(ctx, key, !hash, count, |m, v| {
        m.len() <= LISTPACK_VALUE && (!hash || v.len() <= LISTPACK_VALUE)
    })?;
    Ok(fits.then_some("listpack"))
}

fn set(ctx: &Ctx<'_>, key: &[u8], count: u64) -> Result<&'static str, Reply> {
    if count > INTSET_ENTRIES {
        return Ok("hashtable");
    }
    let (mut ints, mut short) = (true, count <= LISTPACK_ENTRIES);
    each_member(ctx, key, false, count, |m, _| {
        ints &= parse_int(m).is_some();
        short &= m.len() <= LISTPACK_VALUE;
        ints || short
    })?;
    Ok(if ints {
        "intset"
    } else if short {
        "listpack"
    } else {
        "hashtable"
    })
}

/// `listpack` while the list would fit one 8 KiB listpack (each element with its entry
/// header and back-length), else `quicklist`.
fn list(ctx: &Ctx<'_>, key: &[u8], meta: &Meta) -> Result<&'static str, Reply> {
    let (head, tail) = meta.list_bounds();
    let len = tail.saturating_sub(head);
    // An entry takes at least 2 bytes: more elements than that cannot fit.
    if len > (LIST_LISTPACK_BYTES / 2) as u64 {
        return Ok("quicklist");
    }
    let mut bytes = 7; // the listpack's header and end byte
    let fits = each_member(ctx, key, false, len, |_, element| {
        let header = match element.len() {
            0..64 => 1,
            64..4096 => 2,
            _ => 5,
        };
        let backlen = match header + element.len() {
            0..128 => 1,
            128..16384 => 2,
            _ => 3,
        };
        bytes += header + element.len() + backlen;
        bytes <= LIST_LISTPACK_BYTES
    })?;
    Ok(if fits { "listpack" } else { "quicklist" })
}
