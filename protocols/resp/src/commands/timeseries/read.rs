//! TS.GET, TS.MGET, TS.RANGE, TS.REVRANGE, TS.MRANGE, TS.MREVRANGE, TS.INFO, TS.QUERYINDEX.
//!
//! A range query reads the samples in `[from, to]` (after the retention cut), applies
//! FILTER_BY_TS and FILTER_BY_VALUE, then the aggregation, then the direction and COUNT, as
//! RedisTimeSeries does. MRANGE runs that per matching series, then GROUPBY/REDUCE across them.

use std::collections::BTreeMap;

use orbit_index::bitmap::Filter;
use orbit_index::timeseries::aggregate::{
    aggregate, aggregate_rev, Aggregation, Aggregator, BucketTimestamp, Reducer,
};
use orbit_index::timeseries::series::SeriesMeta;

use super::head::{lock, Head};
use super::samples;
use super::{bound, existing_head, filters, head_of, matching, timestamp, tsdb, value, view};
use crate::commands::{arg, Ctx};
use crate::reply::Reply;

/// The most buckets an `EMPTY` aggregation may report (each costs a reply entry).
const MAX_EMPTY_BUCKETS: i128 = 10_000_000;

/// Everything after `from to` of TS.RANGE / TS.MRANGE.
#[derive(Debug, Default)]
struct RangeArgs {
    latest: bool,
    by_ts: Option<Vec<i64>>,
    by_value: Option<(f64, f64)>,
    count: Option<usize>,
    aggregation: Option<Aggregation>,
    labels: Labels,
    filters: Vec<Filter>,
    group: Option<(String, Reducer)>,
}

#[derive(Debug, Default, Clone)]
enum Labels {
    #[default]
    None,
    All,
    Selected(Vec<String>),
}

fn word(a: &[u8]) -> String {
    String::from_utf8_lossy(a).to_ascii_uppercase()
}

/// Parses the options; `multi`: MRANGE/MGET keywords (labels, FILTER, GROUPBY) are allowed.
fn range_args(
    args: &[Vec<u8>],
    from: i64,
    to: i64,
    multi: bool,
    name: &str,
) -> Result<RangeArgs, Reply> {
    let mut r = RangeArgs::default();
    let mut align = None;
    let (mut bucket_ts, mut empty) = (None, false);
    let mut i = 0;
    let num = |i: usize| {
        args.get(i)
            .map(Vec::as_slice)
            .ok_or_else(|| tsdb("wrong number of arguments"))
    };
    while let Some(a) = args.get(i) {
        match word(a).as_str() {
            "LATEST" => r.latest = true,
            "FILTER_BY_TS" => {
                let mut list = Vec::new();
                while let Some(t) = args
                    .get(i + 1)
                    .filter(|t| t.iter().all(u8::is_ascii_digit) && !t.is_empty())
                {
                    list.push(timestamp(t)?);
                    i += 1;
                }
                if list.is_empty() {
                    return Err(tsdb("FILTER_BY_TS one or more arguments are missing"));
                }
                r.by_ts = Some(list);
            }
            "FILTER_BY_VALUE" => {
                let missing = || tsdb("FILTER_BY_VALUE one or more arguments are missing");
                let lo = value(num(i + 1).map_err(|_| missing())?)
                    .map_err(|_| tsdb("Couldn't parse MIN"))?;
                let hi = value(num(i + 2).map_err(|_| missing())?)
                    .map_err(|_| tsdb("Couldn't parse MAX"))?;
                r.by_value = Some((lo, hi));
                i += 2;
            }
            "COUNT" => {
                let n = std::str::from_utf8(num(i + 1)?)
                    .ok()
                    .and_then(|s| s.parse::<usize>().ok());
                r.count = Some(
                    n.filter(|n| *n > 0)
                        .ok_or_else(|| tsdb("Couldn't parse COUNT"))?,
                );
                i += 1;
            }
            "ALIGN" => {
                align = Some(match num(i + 1)? {
                    b"-" | b"start" | b"START" => from,
                    b"+" | b"end" | b"END" => to,
                    t => timestamp(t).map_err(|_| tsdb("unknown ALIGN parameter"))?,
                });
                i += 1;
            }
            "AGGREGATION" => {
                let aggregator = Aggregator::parse(&String::from_utf8_lossy(num(i + 1)?))
                    .ok_or_else(|| tsdb("Unknown aggregation type"))?;
                let bucket_ms = std::str::from_utf8(num(i + 2)?)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                    .ok_or_else(|| tsdb("Couldn't parse AGGREGATION"))?;
                if bucket_ms <= 0 {
                    return Err(tsdb("bucketDuration must be greater than zero"));
                }
                r.aggregation = Some(Aggregation {
                    aggregator,
                    bucket_ms,
                    align: 0,
                    bucket_ts: BucketTimestamp::Start,
                    empty: false,
                });
                i += 2;
            }
            "BUCKETTIMESTAMP" => {
                let bt = BucketTimestamp::parse(&String::from_utf8_lossy(num(i + 1)?))
                    .ok_or_else(|| tsdb("unknown BUCKETTIMESTAMP parameter"))?;
                bucket_ts = Some(bt);
                i += 1;
            }
            "EMPTY" => empty = true,
            "WITHLABELS" if multi => r.labels = Labels::All,
            "SELECTED_LABELS" if multi => {
                let mut names = Vec::new();
                while let Some(l) = args.get(i + 1).filter(|l| {
                    !matches!(
                        word(l).as_str(),
                        "FILTER" | "COUNT" | "ALIGN" | "AGGREGATION" | "GROUPBY" | "LATEST"
                    )
                }) {
                    names.push(String::from_utf8_lossy(l).into_owned());
                    i += 1;
                }
                if names.is_empty() {
                    return Err(tsdb("SELECTED_LABELS requires at least one label"));
                }
                r.labels = Labels::Selected(names);
            }
            "FILTER" if multi => {
                let end = args
                    .iter()
                    .skip(i + 1)
                    .position(|a| word(a) == "GROUPBY")
                    .map_or(args.len(), |p| i + 1 + p);
                if end == i + 1 {
                    return Err(tsdb("missing labels for filter argument"));
                }
                r.filters = filters(args.get(i + 1..end).unwrap_or_default())?;
                i = end;
                continue;
            }
            "GROUPBY" if multi => {
                let arity = || {
                    Reply::err(format!(
                        "ERR wrong number of arguments for '{name}' command"
                    ))
                };
                let (Some(label), Some(reduce), Some(reducer)) =
                    (args.get(i + 1), args.get(i + 2), args.get(i + 3))
                else {
                    return Err(arity());
                };
                if word(reduce) != "REDUCE" {
                    return Err(arity());
                }
                let label = String::from_utf8_lossy(label).into_owned();
                let reducer = Reducer::parse(&String::from_utf8_lossy(reducer))
                    .ok_or_else(|| tsdb("Invalid reducer type"))?;
                r.group = Some((label, reducer));
                i += 4;
                continue;
            }
            other => return Err(tsdb(&format!("unknown argument \"{other}\""))),
        }
        i += 1;
    }
    // BUCKETTIMESTAMP and EMPTY without AGGREGATION are ignored, as RedisTimeSeries does.
    if let Some(a) = r.aggregation.as_mut() {
        a.bucket_ts = bucket_ts.unwrap_or_default();
        a.empty = empty;
        if let Some(al) = align {
            a.align = al;
        }
    } else if align.is_some() {
        return Err(tsdb("ALIGN parameter can only be used with AGGREGATION"));
    }
    if multi && r.filters.is_empty() {
        return Err(tsdb("missing FILTER argument"));
    }
    Ok(r)
}

/// The samples of one series for a range query, aggregated if asked, descending if `reverse`
/// (REVRANGE feeds each bucket its samples newest first, as RedisTimeSeries does).
fn query(
    ctx: &Ctx<'_>,
    key: &[u8],
    h: &Head,
    from: i64,
    to: i64,
    r: &RangeArgs,
    reverse: bool,
) -> Result<Vec<(i64, f64)>, Reply> {
    let m = &h.meta;
    let from = samples::cutoff(m).map_or(from, |c| from.max(c));
    let keep = |s: &(i64, f64)| {
        r.by_ts.as_ref().is_none_or(|l| l.contains(&s.0))
            && r.by_value.is_none_or(|(lo, hi)| s.1 >= lo && s.1 <= hi)
    };
    let mut raw: Vec<(i64, f64)> = samples::range(ctx, key, h, from, to)?;
    if r.by_ts.is_some() || r.by_value.is_some() {
        raw.retain(keep);
    }
    if r.latest {
        if let Some(s) = latest_bucket(ctx, key, m)? {
            if s.0 >= from && s.0 <= to && keep(&s) && raw.last().is_none_or(|l| l.0 < s.0) {
                raw.push(s);
            }
        }
    }
    let Some(a) = &r.aggregation else {
        if reverse {
            raw.reverse();
        }
        return Ok(raw);
    };
    if a.empty {
        // EMPTY reports every bucket between the samples: bound the reply before building it.
        let span = match (raw.first(), raw.last(), m.first_ts, m.last) {
            (Some(f), Some(l), _, _) => (l.0 as i128) - (f.0 as i128),
            (_, _, Some(f), Some(l)) => (l.0.min(to) as i128) - (f.max(from) as i128),
            _ => 0,
        };
        if span / i128::from(a.bucket_ms) > MAX_EMPTY_BUCKETS {
            return Err(tsdb(&format!(
                "EMPTY would report more than {MAX_EMPTY_BUCKETS} buckets; narrow the range or widen the buckets"
            )));
        }
    }
    let (before, after) = match a.aggregator {
        Aggregator::Twa => samples::neighbours(ctx, key, h, from, to)?,
        _ => (None, None),
    };
    Ok(match reverse {
        true => aggregate_rev(&raw, from, to, a, before, after),
        false => aggregate(&raw, from, to, a, before, after),
    })
}

/// A compaction destination's bucket still being filled (LATEST), computed from its source
/// (read without the source's stripe: the caller holds the destination's).
fn latest_bucket(ctx: &Ctx<'_>, key: &[u8], m: &SeriesMeta) -> Result<Option<(i64, f64)>, Reply> {
    let Some(src) = &m.source else {
        return Ok(None);
    };
    let Some(hs) = view(ctx, src)? else {
        return Ok(None);
    };
    let s = lock(&hs);
    let Some(rule) = s.meta.rules.iter().find(|r| r.dest == key).cloned() else {
        return Ok(None);
    };
    let Some(cur) = rule.current else {
        return Ok(None);
    };
    Ok(samples::bucket_value(ctx, src, &s, &rule, cur, None)?.map(|v| (cur, v)))
}

fn sample(s: (i64, f64)) -> Reply {
    Reply::Array(vec![Reply::Int(s.0), Reply::SimpleDouble(s.1)])
}

/// The reply of a multi-series command: RESP3 a map by key, RESP2 an array of
/// `[key, rest...]` (RedisTimeSeries' shapes).
fn by_key(resp3: bool, entries: Vec<(Reply, Vec<Reply>)>) -> Reply {
    match resp3 {
        true => Reply::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k, Reply::Array(v)))
                .collect(),
        ),
        false => Reply::Array(
            entries
                .into_iter()
                .map(|(k, mut v)| {
                    v.insert(0, k);
                    Reply::Array(v)
                })
                .collect(),
        ),
    }
}

/// An aggregator's name as TS.INFO spells it in rules.
fn upper_name(a: Aggregator) -> &'static str {
    match a {
        Aggregator::Avg => "AVG",
        Aggregator::Sum => "SUM",
        Aggregator::Min => "MIN",
        Aggregator::Max => "MAX",
        Aggregator::Range => "RANGE",
        Aggregator::Count => "COUNT",
        Aggregator::First => "FIRST",
        Aggregator::Last => "LAST",
        Aggregator::StdP => "STD.P",
        Aggregator::StdS => "STD.S",
        Aggregator::VarP => "VAR.P",
        Aggregator::VarS => "VAR.S",
        Aggregator::Twa => "TWA",
    }
}

/// `{name: [values]}` (RESP3 only: MRANGE's aggregators, reducers and sources).
fn named_list(name: &'static str, values: Vec<Reply>) -> Reply {
    Reply::Map(vec![(Reply::bulk(name), Reply::Array(values))])
}

/// COUNT, then the reply.
fn samples_reply(mut s: Vec<(i64, f64)>, count: Option<usize>) -> Reply {
    if let Some(n) = count {
        s.truncate(n);
    }
    Reply::Array(s.into_iter().map(sample).collect())
}

fn range(ctx: &mut Ctx<'_>, args: &[Vec<u8>], reverse: bool) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let (from, to) = (bound(arg(args, 2)?, true)?, bound(arg(args, 3)?, false)?);
    let name = if reverse { "ts.revrange" } else { "ts.range" };
    let r = range_args(args.get(4..).unwrap_or_default(), from, to, false, name)?;
    let _stripe = ctx.store.lock(ctx.db(), &[key]);
    let h = existing_head(ctx, key)?;
    let s = query(ctx, key, &lock(&h), from, to, &r, reverse)?;
    Ok(samples_reply(s, r.count))
}

pub fn ts_range(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    range(ctx, args, false)
}

pub fn ts_revrange(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    range(ctx, args, true)
}

/// Labels as pairs: RESP3 a map, RESP2 an array of `[name, value]`.
fn pairs_reply(resp3: bool, pairs: Vec<(String, Option<String>)>) -> Reply {
    let value = |v: Option<String>| v.map_or(Reply::Nil, Reply::bulk);
    match resp3 {
        true => Reply::Map(
            pairs
                .into_iter()
                .map(|(l, v)| (Reply::bulk(l), value(v)))
                .collect(),
        ),
        false => Reply::Array(
            pairs
                .into_iter()
                .map(|(l, v)| Reply::Array(vec![Reply::bulk(l), value(v)]))
                .collect(),
        ),
    }
}

fn labels_reply(resp3: bool, m: &SeriesMeta, which: &Labels) -> Reply {
    let pairs = match which {
        Labels::None => Vec::new(),
        Labels::All => m
            .labels
            .iter()
            .map(|(l, v)| (l.clone(), Some(v.clone())))
            .collect(),
        Labels::Selected(names) => names
            .iter()
            .map(|l| (l.clone(), m.label(l).map(str::to_string)))
            .collect(),
    };
    pairs_reply(resp3, pairs)
}

/// A GROUPBY group: its series' keys, and their values per timestamp.
type Group = (Vec<String>, BTreeMap<i64, Vec<f64>>);

fn mrange(ctx: &mut Ctx<'_>, args: &[Vec<u8>], reverse: bool) -> Result<Reply, Reply> {
    let (from, to) = (bound(arg(args, 1)?, true)?, bound(arg(args, 2)?, false)?);
    let name = if reverse { "ts.mrevrange" } else { "ts.mrange" };
    let r = range_args(args.get(3..).unwrap_or_default(), from, to, true, name)?;
    let found = matching(ctx, &r.filters)?;
    let resp3 = ctx.session.protocol >= 3;
    let Some((label, reducer)) = &r.group else {
        let aggregators: Vec<Reply> = r
            .aggregation
            .iter()
            .map(|a| Reply::bulk(a.aggregator.name()))
            .collect();
        let mut out = Vec::new();
        for (key, m) in &found {
            let Some(s) = query_locked(ctx, key, from, to, &r, reverse)? else {
                continue;
            };
            let mut v = vec![labels_reply(resp3, m, &r.labels)];
            if resp3 {
                v.push(named_list("aggregators", aggregators.clone()));
            }
            v.push(samples_reply(s, r.count));
            out.push((Reply::bulk(key), v));
        }
        return Ok(by_key(resp3, out));
    };
    // GROUPBY: series with the label, grouped by its value; samples reduced per timestamp.
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for (key, m) in &found {
        let Some(v) = m.label(label) else { continue };
        let Some(s) = query_locked(ctx, key, from, to, &r, false)? else {
            continue;
        };
        let g = groups.entry(v.to_string()).or_default();
        g.0.push(String::from_utf8_lossy(key).into_owned());
        for (t, x) in s {
            g.1.entry(t).or_default().push(x);
        }
    }
    let mut out = Vec::new();
    for (value, (sources, points)) in groups {
        let mut reduced: Vec<(i64, f64)> = points
            .into_iter()
            .map(|(t, xs)| (t, reducer.reduce(&xs)))
            .collect();
        if reverse {
            reduced.reverse();
        }
        // With labels asked for: the group's label, and (RESP2) its reducer and sources as
        // pseudo-labels; RESP3 gives those in maps of their own.
        let mut pairs = Vec::new();
        if !matches!(r.labels, Labels::None) {
            pairs.push((label.clone(), Some(value.clone())));
            if !resp3 {
                pairs.push(("__reducer__".into(), Some(reducer.name().into())));
                pairs.push(("__source__".into(), Some(sources.join(","))));
            }
        }
        let mut v = vec![pairs_reply(resp3, pairs)];
        if resp3 {
            v.push(named_list("reducers", vec![Reply::bulk(reducer.name())]));
            v.push(named_list(
                "sources",
                sources.iter().map(Reply::bulk).collect(),
            ));
        }
        v.push(samples_reply(reduced, r.count));
        out.push((Reply::bulk(format!("{label}={value}")), v));
    }
    Ok(by_key(resp3, out))
}

/// [`query`] on one series of a multi-series command, under its stripe (`None`: it went
/// meanwhile).
fn query_locked(
    ctx: &Ctx<'_>,
    key: &[u8],
    from: i64,
    to: i64,
    r: &RangeArgs,
    reverse: bool,
) -> Result<Option<Vec<(i64, f64)>>, Reply> {
    let _stripe = ctx.store.lock(ctx.db(), &[key]);
    match head_of(ctx, key) {
        Ok(Some(h)) => Ok(Some(query(ctx, key, &lock(&h), from, to, r, reverse)?)),
        Ok(None) | Err(_) => Ok(None),
    }
}

pub fn ts_mrange(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    mrange(ctx, args, false)
}

pub fn ts_mrevrange(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    mrange(ctx, args, true)
}

fn last_sample(ctx: &Ctx<'_>, key: &[u8], m: &SeriesMeta, latest: bool) -> Result<Reply, Reply> {
    if latest {
        if let Some(s) = latest_bucket(ctx, key, m)? {
            return Ok(sample(s));
        }
    }
    Ok(m.last.map_or(Reply::Array(Vec::new()), sample))
}

pub fn ts_get(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let latest = match args.get(2) {
        Some(a) if word(a) == "LATEST" && args.len() == 3 => true,
        Some(_) => {
            return Err(Reply::err(
                "ERR wrong number of arguments for 'ts.get' command",
            ))
        }
        None => false,
    };
    let _stripe = ctx.store.lock(ctx.db(), &[key]);
    let h = existing_head(ctx, key)?;
    let m = lock(&h).meta.clone();
    last_sample(ctx, key, &m, latest)
}

pub fn mget(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let r = range_args(
        args.get(1..).unwrap_or_default(),
        0,
        i64::MAX,
        true,
        "ts.mget",
    )?;
    if r.group.is_some() || r.aggregation.is_some() || r.count.is_some() {
        return Err(tsdb("wrong arguments for TS.MGET"));
    }
    let resp3 = ctx.session.protocol >= 3;
    let mut out = Vec::new();
    for (key, m) in matching(ctx, &r.filters)? {
        let now = {
            let _stripe = ctx.store.lock(ctx.db(), &[&key]);
            match head_of(ctx, &key) {
                Ok(Some(h)) => lock(&h).meta.clone(),
                Ok(None) | Err(_) => continue,
            }
        };
        let last = last_sample(ctx, &key, &now, r.latest)?;
        out.push((
            Reply::bulk(&key),
            vec![labels_reply(resp3, &m, &r.labels), last],
        ));
    }
    Ok(by_key(resp3, out))
}

pub fn queryindex(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let f = filters(args.get(1..).unwrap_or_default())?;
    let keys = matching(ctx, &f)?;
    Ok(Reply::Set(
        keys.into_iter().map(|(k, _)| Reply::bulk(k)).collect(),
    ))
}

pub fn info(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let key = arg(args, 1)?;
    let debug = match args.get(2) {
        Some(a) if word(a) == "DEBUG" && args.len() == 3 => true,
        Some(_) => return Err(tsdb("wrong number of arguments for 'TS.INFO' command")),
        None => false,
    };
    let _stripe = ctx.store.lock(ctx.db(), &[key]);
    let h = existing_head(ctx, key)?;
    let (m, chunks) = {
        let g = lock(&h);
        (g.meta.clone(), samples::chunk_stats(ctx, key, &g)?)
    };
    let resp3 = ctx.session.protocol >= 3;
    let int = |v: u64| Reply::Int(i64::try_from(v).unwrap_or(i64::MAX));
    let memory = chunks.iter().map(|c| c.bytes).sum::<u64>() + m.encode().len() as u64;
    let mut fields = vec![
        ("totalSamples", int(m.total_samples)),
        ("memoryUsage", int(memory)),
        ("firstTimestamp", Reply::Int(m.first_ts.unwrap_or(0))),
        ("lastTimestamp", Reply::Int(m.last.map_or(0, |l| l.0))),
        ("retentionTime", int(m.retention_ms)),
        ("chunkCount", int((chunks.len() as u64).max(1))),
        ("chunkSize", int(m.chunk_size)),
        (
            "chunkType",
            Reply::Simple(match m.encoding {
                orbit_index::timeseries::series::Encoding::Compressed => "compressed",
                orbit_index::timeseries::series::Encoding::Uncompressed => "uncompressed",
            }),
        ),
        (
            "duplicatePolicy",
            m.duplicate_policy
                .map_or(Reply::Nil, |p| Reply::Simple(p.name())),
        ),
        ("labels", labels_reply(resp3, &m, &Labels::All)),
        (
            "sourceKey",
            m.source.as_ref().map_or(Reply::Nil, Reply::bulk),
        ),
        (
            "rules",
            by_key(
                resp3,
                m.rules
                    .iter()
                    .map(|r| {
                        (
                            Reply::bulk(&r.dest),
                            vec![
                                Reply::Int(r.bucket_ms),
                                Reply::Simple(upper_name(r.aggregator)),
                                Reply::Int(r.align),
                            ],
                        )
                    })
                    .collect(),
            ),
        ),
        ("ignoreMaxTimeDiff", int(m.ignore_max_time_diff)),
        ("ignoreMaxValDiff", Reply::Double(m.ignore_max_val_diff)),
    ];
    if debug {
        fields.push(("keySelfName", Reply::bulk(key)));
        let chunk = |c: &samples::ChunkInfo| {
            let per = c.bytes as f64 / c.samples.max(1) as f64;
            Reply::Map(vec![
                (Reply::Simple("startTimestamp"), Reply::Int(c.start)),
                (Reply::Simple("endTimestamp"), Reply::Int(c.end)),
                (Reply::Simple("samples"), int(c.samples)),
                (Reply::Simple("size"), int(c.bytes)),
                (Reply::Simple("bytesPerSample"), Reply::Double(per)),
            ])
        };
        fields.push(("Chunks", Reply::Array(chunks.iter().map(chunk).collect())));
    }
    Ok(Reply::Map(
        fields
            .into_iter()
            .map(|(k, v)| (Reply::Simple(k), v))
            .collect(),
    ))
}
