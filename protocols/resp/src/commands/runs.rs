//! Runs: consecutive commands of one pipeline written as one engine write. A connection that
//! finds several joinable commands in a row (`kind_of` of the first, then `joins`) runs them
//! together (`run`): their keys'
//! stripes locked together (in one sorted acquisition, as MSET takes them), each command's
//! reads and effects in order, one write batch for all (one WAL record, the memtable inserts
//! overlapped). What the client sees is what one command at a time gives: the same replies
//! in the same order, the same data; the difference is only that the run is atomic.
//!
//! Which commands join: plain `SET key value` (any keys); `INCR` `DECR` `INCRBY` `DECRBY`
//! with a valid integer (any keys: each sees the additions before it); and, on one key,
//! `LPUSH`, `RPUSH`, `SADD`, `HSET`, plain `ZADD` (no options) (each command's values as a
//! group, applied in turn) and `LPOP`/`RPOP` without a count. Each family's handler is
//! written over groups (`strings::incr_many`, `lists::push_groups`, `lists::pop_run`,
//! `sets::sadd_groups`, `hashes::hset_groups`, `zsets::zadd_groups`), and its single command
//! goes through the same code.
//!
//! A run of `GET`s (any keys) is a read run: it passes the read gate once, checks once that
//! no snapshot install overlapped it, is timed and counted once, and looks its keys up in one
//! batch (`strings::get_many`: their cache misses overlap); each GET reads the latest data
//! as it would alone.
//!
//! Invariant: every command of a run reads only keys of the run and writes only its own key,
//! and a later command sees what an earlier one wrote (per-key state carried through the
//! run, or one handler call over the groups): the outcome is that of running them in order.

use super::{eq_ignore_case, hashes, lists, parse_int, sets, strings, zsets, Ctx};
use crate::reply::Reply;

/// What a run is made of (`kind_of` its first command, found once per run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `GET key`: a read run, no write.
    Get,
    Set,
    Incr,
    Push {
        left: bool,
    },
    SAdd,
    HSet,
    ZAdd,
    Pop {
        left: bool,
    },
}

impl Kind {
    /// Whether the commands of a run of this kind must all name one key.
    pub fn one_key(self) -> bool {
        !matches!(self, Kind::Get | Kind::Set | Kind::Incr)
    }
}

/// The longest key, member or field a command of a run may name: storage keys hold them, and
/// one too long for the engine must fail its own command, not the run's write.
const MAX_JOINED_KEY: usize = 4096;

/// The kind of run `args` can be part of (and begin), if any.
pub fn kind_of(args: &[Vec<u8>]) -> Option<Kind> {
    let name = args.first()?;
    let is = |n: &str| eq_ignore_case(name, n);
    let n = args.len();
    if !short_keys(args) {
        return None;
    }
    Some(if is("get") && n == 2 {
        Kind::Get
    } else if is("set") && n == 3 {
        Kind::Set
    } else if ((is("incr") || is("decr")) && n == 2)
        || ((is("incrby") || is("decrby")) && n == 3 && delta(args).is_some())
    {
        Kind::Incr
    } else if is("lpush") && n >= 3 {
        Kind::Push { left: true }
    } else if is("rpush") && n >= 3 {
        Kind::Push { left: false }
    } else if is("sadd") && n >= 3 {
        Kind::SAdd
    } else if is("hset") && n >= 4 && n % 2 == 0 {
        Kind::HSet
    } else if is("zadd") && zsets::is_plain_zadd(args) {
        Kind::ZAdd
    } else if (is("lpop") || is("rpop")) && n == 2 {
        Kind::Pop { left: is("lpop") }
    } else {
        return None;
    })
}

/// Whether every key, member and field `args` names is at most `MAX_JOINED_KEY` bytes (for
/// simplicity every argument but values of SET, pushes and HSET, which the engine stores as
/// values).
fn short_keys(args: &[Vec<u8>]) -> bool {
    let name = args.first().map(Vec::as_slice).unwrap_or_default();
    let short = |a: &Vec<u8>| a.len() <= MAX_JOINED_KEY;
    if ["set", "lpush", "rpush"]
        .iter()
        .any(|c| eq_ignore_case(name, c))
    {
        return args.get(1).is_some_and(short);
    }
    if eq_ignore_case(name, "hset") {
        let mut fields = args.get(2..).unwrap_or_default().iter().step_by(2);
        return args.get(1).is_some_and(short) && fields.all(short);
    }
    args.iter().skip(1).all(short)
}

/// What an `INCR`-family command adds; `None` for a malformed amount (such a command runs
/// alone, for its own error).
fn delta(args: &[Vec<u8>]) -> Option<i64> {
    let name = args.first()?;
    if eq_ignore_case(name, "incr") {
        return Some(1);
    }
    if eq_ignore_case(name, "decr") {
        return Some(-1);
    }
    let by = parse_int(args.get(2)?)?;
    if eq_ignore_case(name, "decrby") {
        by.checked_neg()
    } else {
        Some(by)
    }
}

/// Whether `next` joins the run of `kind` that `first` began.
pub fn joins(kind: Kind, first: &[Vec<u8>], next: &[Vec<u8>]) -> bool {
    kind_of(next) == Some(kind) && (!kind.one_key() || first.get(1) == next.get(1))
}

/// Runs `cmds` (a run of `kind`: each joins the first) as one write (a run of GETs writes
/// nothing): each command's reply, or the one error every command of the run gets (a key of
/// another type, a failed write).
pub fn run(ctx: &mut Ctx<'_>, kind: Kind, cmds: &[Vec<Vec<u8>>]) -> Result<Vec<Reply>, Reply> {
    let first = cmds.first().map(Vec::as_slice).unwrap_or_default();
    let key = || first.get(1).map(Vec::as_slice).unwrap_or_default();
    let groups = |from: usize| -> Vec<&[Vec<u8>]> {
        cmds.iter()
            .map(|a| a.get(from..).unwrap_or_default())
            .collect()
    };
    let ints = |v: Vec<i64>| v.into_iter().map(Reply::Int).collect();
    match kind {
        Kind::Get => strings::get_many(ctx, cmds),
        Kind::Set => {
            strings::set_many(ctx, cmds)?;
            Ok(vec![Reply::OK; cmds.len()])
        }
        Kind::Incr => {
            let mut items = Vec::with_capacity(cmds.len());
            for a in cmds {
                let k = a.get(1).map(Vec::as_slice).unwrap_or_default();
                items.push((k, delta(a).ok_or_else(super::not_integer)?));
            }
            strings::incr_many(ctx, &items)
        }
        Kind::Push { left } => lists::push_groups(ctx, key(), &groups(2), left, false).map(ints),
        Kind::SAdd => sets::sadd_groups(ctx, key(), &groups(2)).map(ints),
        Kind::HSet => hashes::hset_groups(ctx, key(), &groups(2)).map(ints),
        Kind::ZAdd => {
            let groups: Vec<_> = cmds.iter().map(|a| zsets::plain_pairs(a)).collect();
            zsets::zadd_groups(ctx, key(), zsets::AddFlags::default(), &groups)
        }
        Kind::Pop { left } => lists::pop_run(ctx, key(), cmds.len(), left),
    }
}
