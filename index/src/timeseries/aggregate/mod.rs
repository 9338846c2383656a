//! RedisTimeSeries' aggregation arithmetic: aggregators, bucketing and GROUPBY reducers.
//!
//! This module owns what `TS.RANGE ... [ALIGN align] AGGREGATION agg bucket [BUCKETTIMESTAMP bt]
//! [EMPTY]` computes from a series' samples, and what `TS.MRANGE ... GROUPBY label REDUCE r`
//! computes from the values of one timestamp. It matches RedisTimeSeries 1.12 (`compaction.c`,
//! `filter_iterator.c`), checked against a real 1.12 server (replies quoted in the tests),
//! including its floating-point formulas, so results are bit-identical:
//!
//! - `avg` sums then divides (switching to a running mean only when the sum would overflow);
//!   `std.*`/`var.*` use RedisTimeSeries' `(Σx² - 2·Σx·Σx/n + (Σx/n)²·n) / n`, and `*.s` of one
//!   sample is 0; `min`/`max` start from ±`f64::MAX`.
//! - `twa` integrates the linear interpolation between samples over the bucket's window
//!   `[max(start, from), min(end, to)]`: it extends to the window's edges using the neighbour
//!   samples (also those outside `[from, to]`), starts at the first sample when the series has no
//!   earlier one and ends at the last when it has no later one; a zero-width window gives the
//!   last sample's value.
//! - Buckets: `start = ts - (ts - align) mod bucket` (Euclidean, so right for negative
//!   timestamps); a bucket is reported at its start, end (`start + bucket`) or mid
//!   (`start + bucket / 2`, integer division).
//! - `EMPTY` reports the empty buckets between the first and last non-empty ones: `NaN`, `0` for
//!   `sum`/`count`, the previous bucket's last value for `last`; for `twa`, the mean of the
//!   interpolation between the surrounding samples, and also empty buckets before the first and
//!   after the last non-empty one, with the range first clamped to the series' first and last
//!   timestamps.
//!
//! RedisTimeSeries timestamps are unsigned; Orbit's are i64. When `from >= 0` (every range
//! RedisTimeSeries can express) its unsigned quirks are reproduced: a bucket starting before 0 is
//! reported as if it started at 0 (so `end` is `bucket`, not `start + bucket`), twa's empty
//! prefix is dropped when its first bucket starts before 0, and twa's empty suffix starts from
//! the bucket of the last bucket's *reported* timestamp (with `BUCKETTIMESTAMP end` it skips one
//! bucket, or in REVRANGE repeats one). Ranges with `from < 0` use plain signed arithmetic.
//!
//! `TS.REVRANGE` is [`aggregate_rev`], not the reverse of [`aggregate`]: RedisTimeSeries feeds
//! each bucket latest sample first, so `first`/`last` swap meaning and sums round differently.
//! (With `EMPTY`, RedisTimeSeries 1.12's REVRANGE corrupts memory: reordered or garbage buckets
//! in about one random case in ten, sometimes a crash; there this mirrors RANGE's semantics.)
//! `COUNT` truncates the returned Vec; `FILTER_BY_TS`/`FILTER_BY_VALUE` are applied before, with
//! `before`/`after` still the unfiltered series' neighbours (what RedisTimeSeries uses for twa).
//! With `EMPTY` the output holds one entry per bucket between the first and last samples: the
//! caller bounds the range it asks for.
//!
//! Invariants: nothing here panics, whatever the timestamps, values, range or bucket width; the
//! output is ascending ([`aggregate`]) or descending ([`aggregate_rev`]) by bucket, one entry per
//! bucket (but for RedisTimeSeries' repeated twa bucket quoted above).

/// An aggregation function of `TS.RANGE ... AGGREGATION` and of compaction rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregator {
    Avg,
    Sum,
    Min,
    Max,
    Range,
    Count,
    First,
    Last,
    StdP,
    StdS,
    VarP,
    VarS,
    Twa,
}

const AGGREGATORS: [(Aggregator, &str); 13] = [
    (Aggregator::Avg, "avg"),
    (Aggregator::Sum, "sum"),
    (Aggregator::Min, "min"),
    (Aggregator::Max, "max"),
    (Aggregator::Range, "range"),
    (Aggregator::Count, "count"),
    (Aggregator::First, "first"),
    (Aggregator::Last, "last"),
    (Aggregator::StdP, "std.p"),
    (Aggregator::StdS, "std.s"),
    (Aggregator::VarP, "var.p"),
    (Aggregator::VarS, "var.s"),
    (Aggregator::Twa, "twa"),
];

impl Aggregator {
    /// Case-insensitive RedisTimeSeries name: avg sum min max range count first last std.p std.s var.p var.s twa
    pub fn parse(name: &str) -> Option<Aggregator> {
        AGGREGATORS
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|&(a, _)| a)
    }

    /// The lowercase name as TS.INFO reports it in rules (e.g. "avg", "std.p").
    pub fn name(self) -> &'static str {
        AGGREGATORS
            .iter()
            .find(|(a, _)| *a == self)
            .map_or("avg", |&(_, n)| n)
    }

    /// The value of a bucket without samples when it is reported (`EMPTY`), for every aggregator
    /// but `last` (the previous value, see [`Accumulator::empty_value`]) and `twa` (interpolated).
    fn empty_value(self) -> f64 {
        match self {
            Aggregator::Sum | Aggregator::Count => 0.0,
            _ => f64::NAN,
        }
    }
}

/// Which timestamp reports a bucket (`BUCKETTIMESTAMP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BucketTimestamp {
    #[default]
    Start,
    End,
    Mid,
}

impl BucketTimestamp {
    /// `-`/`start`, `+`/`end`, `~`/`mid`, case-insensitive: what RedisTimeSeries 1.12 accepts
    /// (it rejects `low`/`high`: "ERR TSDB: unknown BUCKETTIMESTAMP parameter").
    pub fn parse(s: &str) -> Option<BucketTimestamp> {
        let is = |name: &str| s.eq_ignore_ascii_case(name);
        if s == "-" || is("start") {
            Some(BucketTimestamp::Start)
        } else if s == "+" || is("end") {
            Some(BucketTimestamp::End)
        } else if s == "~" || is("mid") {
            Some(BucketTimestamp::Mid)
        } else {
            None
        }
    }

    /// The reported timestamp of the bucket starting at `start`.
    pub fn timestamp(self, start: i64, bucket_ms: i64) -> i64 {
        match self {
            BucketTimestamp::Start => start,
            BucketTimestamp::End => start.saturating_add(bucket_ms),
            BucketTimestamp::Mid => start.saturating_add(bucket_ms / 2),
        }
    }
}

/// One aggregation request (TS.RANGE ... [ALIGN align] AGGREGATION agg bucket [BUCKETTIMESTAMP bt] [EMPTY]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aggregation {
    pub aggregator: Aggregator,
    /// Bucket width in ms, > 0 (`aggregate` returns nothing otherwise).
    pub bucket_ms: i64,
    /// A timestamp some bucket starts at (`ALIGN`; 0 by default).
    pub align: i64,
    pub bucket_ts: BucketTimestamp,
    pub empty: bool,
}

/// Bucket start of `ts` for bucket width `bucket_ms` and alignment `align` (RedisTimeSeries'
/// formula `ts - (ts - align) mod bucket_ms`, with a Euclidean modulo so it is right for negative
/// timestamps). Saturates at `i64::MIN`; returns `ts` if `bucket_ms <= 0`.
pub fn bucket_start(ts: i64, bucket_ms: i64, align: i64) -> i64 {
    if bucket_ms <= 0 {
        return ts;
    }
    let diff = i128::from(ts) - i128::from(align);
    let start = i128::from(ts) - diff.rem_euclid(i128::from(bucket_ms));
    i64::try_from(start).unwrap_or(i64::MIN)
}

/// `a - b` as f64, exact while the difference fits 53 bits (RedisTimeSeries converts the u64
/// difference to double the same way).
fn diff(a: i64, b: i64) -> f64 {
    (i128::from(a) - i128::from(b)) as f64
}

/// The mean over `[ta, tb]` of the line through `before` and `after` (RedisTimeSeries' value of
/// a twa bucket without samples).
fn twa_interpolate(ta: i64, tb: i64, before: (i64, f64), after: (i64, f64)) -> f64 {
    let delta_val = after.1 - before.1;
    let delta_ts = diff(after.0, before.0);
    let va = before.1 + (diff(ta, before.0) * delta_val) / delta_ts;
    let vb = before.1 + (diff(tb, before.0) * delta_val) / delta_ts;
    (va + vb) / 2.0
}

/// Aggregates `samples` (sorted ascending by ts) restricted to [from, to] into buckets, ascending.
///
/// `before`/`after`: the nearest samples of the series outside the range (twa uses them at the
/// edges, as RedisTimeSeries does); None if none. Samples of `samples` outside `[from, to]` are
/// not aggregated, but the nearest ones take precedence over `before`/`after` as neighbours.
/// Returns (reported bucket timestamp per BUCKETTIMESTAMP, value); see the module doc for
/// `EMPTY` (NaN for most aggregators, 0 for count/sum, the previous value for last, an
/// interpolation for twa).
pub fn aggregate(
    samples: &[(i64, f64)],
    from: i64,
    to: i64,
    a: &Aggregation,
    before: Option<(i64, f64)>,
    after: Option<(i64, f64)>,
) -> Vec<(i64, f64)> {
    run(samples, from, to, a, before, after, false)
}

/// `TS.REVRANGE`: as [`aggregate`] but buckets descending, each fed its samples latest first as
/// RedisTimeSeries does. So `first` is a bucket's *latest* sample and `last` its earliest (and,
/// with `EMPTY`, carried backwards), and sums round in that order: not `aggregate` reversed.
pub fn aggregate_rev(
    samples: &[(i64, f64)],
    from: i64,
    to: i64,
    a: &Aggregation,
    before: Option<(i64, f64)>,
    after: Option<(i64, f64)>,
) -> Vec<(i64, f64)> {
    run(samples, from, to, a, before, after, true)
}

fn run(
    samples: &[(i64, f64)],
    from: i64,
    to: i64,
    a: &Aggregation,
    before: Option<(i64, f64)>,
    after: Option<(i64, f64)>,
    rev: bool,
) -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    let b = a.bucket_ms;
    if b <= 0 || from > to {
        return out;
    }
    let lo = samples.partition_point(|s| s.0 < from);
    let hi = samples.partition_point(|s| s.0 <= to).max(lo);
    let in_range = samples.get(lo..hi).unwrap_or_default();
    let before = lo
        .checked_sub(1)
        .and_then(|i| samples.get(i))
        .copied()
        .or(before);
    let after = samples.get(hi).copied().or(after);

    let rts = from >= 0;
    let start_of = |ts: i64| bucket_start(ts, b, a.align);
    let report = |start: i64| {
        a.bucket_ts
            .timestamp(if rts { start.max(0) } else { start }, b)
    };
    let twa = a.aggregator == Aggregator::Twa;
    let twa_empty = twa && a.empty;
    // RedisTimeSeries clamps the range to the series' first and last timestamps; this matters
    // only to twa's empty buckets before the first and after the last sample in range.
    let first_known = before.or(in_range.first().copied()).or(after).map(|s| s.0);
    let last_known = after.or(in_range.last().copied()).or(before).map(|s| s.0);
    let (Some(first_known), Some(last_known)) = (first_known, last_known) else {
        return out;
    };
    let (from_c, to_c) = (from.max(first_known), to.min(last_known));
    // Empty twa buckets from `first` to `last` (starts, in processing order), interpolated
    // between the samples around the first one's window start, as RedisTimeSeries does.
    let fill_twa = |out: &mut Vec<(i64, f64)>, first: i64, last: i64| {
        let ta0 = first.max(from_c);
        let i = in_range.partition_point(|s| s.0 < ta0);
        let left = match i.checked_sub(1) {
            Some(j) => in_range.get(j).copied(),
            None => before,
        };
        let right = in_range.get(i).copied().or(after);
        let step = if rev { -b } else { b };
        let mut start = first;
        while if rev { start >= last } else { start <= last } {
            let (ta, tb) = (start.max(from_c), start.saturating_add(b).min(to_c));
            let value = match (left, right) {
                (Some(p), Some(n)) => twa_interpolate(ta, tb, p, n),
                _ => f64::NAN,
            };
            out.push((report(start), value));
            match start.checked_add(step) {
                Some(next) => start = next,
                None => break,
            }
        }
    };

    // Non-empty buckets as (start, samples), in processing order.
    let mut groups = Vec::new();
    let mut rest = in_range;
    while let Some(&(ts, _)) = rest.first() {
        let start = start_of(ts);
        // At least the head: a bucket starting before i64::MIN saturates (and ends after `ts`).
        // A forward scan, not a binary search: the samples are read in order anyway, and a
        // binary search over the rest of a large range misses the cache at every step.
        let end = start.saturating_add(b);
        let len = rest
            .iter()
            .position(|s| s.0 >= end)
            .unwrap_or(rest.len())
            .max(1);
        let (group, tail) = rest.split_at(len);
        groups.push((start, group));
        rest = tail;
    }
    if rev {
        groups.reverse();
    }
    let (Some(&(head, _)), Some(&(tail, _))) = (groups.first(), groups.last()) else {
        if twa_empty && from_c <= to_c {
            let (first, last) = (start_of(from_c), start_of(to_c));
            if rev {
                fill_twa(&mut out, last, first)
            } else {
                fill_twa(&mut out, first, last)
            }
        }
        return out;
    };
    // twa's empty buckets before the first bucket processed (unsigned in RedisTimeSeries: a run
    // reaching before 0 compares as huge and is dropped).
    if twa_empty {
        let edge = start_of(if rev { to_c } else { from_c });
        if rev && edge > head {
            fill_twa(&mut out, edge, head.saturating_add(b));
        } else if !rev && edge < head && !(rts && edge < 0) {
            fill_twa(&mut out, edge, head.saturating_sub(b));
        }
    }

    let mut acc = Accumulator::new(a.aggregator);
    acc.rev = rev;
    // (start, last sample fed) of the previous bucket processed.
    let mut prev: Option<(i64, (i64, f64))> = None;
    for (k, &(start, group)) in groups.iter().enumerate() {
        let end = start.saturating_add(b);
        if let (true, Some((prev_start, _))) = (a.empty, prev) {
            let (first, last) = if rev {
                (prev_start.saturating_sub(b), start.saturating_add(b))
            } else {
                (prev_start.saturating_add(b), start.saturating_sub(b))
            };
            if twa {
                fill_twa(&mut out, first, last);
            } else {
                let mut s = first;
                while if rev { s >= last } else { s <= last } {
                    out.push((report(s), acc.empty_value()));
                    match s.checked_add(if rev { -b } else { b }) {
                        Some(next) => s = next,
                        None => break,
                    }
                }
            }
        }
        acc.reset();
        let (near, far) = if rev {
            (end.min(to), start.max(from))
        } else {
            (start.max(from), end.min(to))
        };
        if let (true, Some(p)) = (twa, prev.map(|p| p.1).or(if rev { after } else { before })) {
            acc.set_prev(near, p);
        }
        acc.add_group(group, rev);
        let next = match (groups.get(k + 1), rev) {
            (Some((_, g)), true) => g.last().copied(),
            (Some((_, g)), false) => g.first().copied(),
            (None, true) => before,
            (None, false) => after,
        };
        let value = acc.finish_with_next(near, far, next);
        out.push((report(start), value.unwrap_or(f64::NAN)));
        prev = if rev { group.first() } else { group.last() }.map(|&s| (start, s));
    }

    // twa's empty buckets after the last bucket processed, from the bucket of its *reported*
    // timestamp (RedisTimeSeries' quirk: with BUCKETTIMESTAMP end this skips or repeats one;
    // and when that bucket starts before 0, none).
    if twa_empty {
        let (from_reported, edge) = (
            start_of(report(tail)),
            start_of(if rev { from_c } else { to_c }),
        );
        if rev && from_reported > edge && !(rts && edge < 0) {
            fill_twa(&mut out, from_reported.saturating_sub(b), edge);
        } else if !rev && from_reported < edge && !(rts && from_reported < 0) {
            fill_twa(&mut out, from_reported.saturating_add(b), edge);
        }
    }
    out
}

/// Incremental state of one bucket of one aggregator (also used by compaction rules as samples arrive).
///
/// `twa` also needs the samples around the bucket: [`Accumulator::set_prev`] before the first
/// sample and the `next` of [`Accumulator::finish_with_next`].
#[derive(Debug, Clone)]
pub struct Accumulator {
    aggregator: Aggregator,
    count: u64,
    /// sum (sum, avg, std/var); the running mean for avg once `avg_overflow`.
    sum: f64,
    avg_overflow: bool,
    sum_sq: f64,
    min: f64,
    max: f64,
    first: f64,
    /// The last value added, kept across [`Accumulator::reset`] (`last` with `EMPTY`).
    last: f64,
    last_ts: i64,
    /// twa: the area so far, the window start, the sample before the bucket, where the area starts.
    twa_area: f64,
    twa_start: i64,
    twa_prev: Option<(i64, f64)>,
    twa_first_ts: i64,
    /// Samples arrive latest first (`TS.REVRANGE`): twa mirrors its window.
    rev: bool,
}

impl Accumulator {
    pub fn new(aggregator: Aggregator) -> Accumulator {
        Accumulator {
            aggregator,
            count: 0,
            sum: 0.0,
            avg_overflow: false,
            sum_sq: 0.0,
            min: f64::MAX,
            max: -f64::MAX,
            first: 0.0,
            last: 0.0,
            last_ts: 0,
            twa_area: 0.0,
            twa_start: 0,
            twa_prev: None,
            twa_first_ts: 0,
            rev: false,
        }
    }

    pub fn aggregator(&self) -> Aggregator {
        self.aggregator
    }

    /// Starts a new bucket; `last` keeps its value for [`Accumulator::empty_value`].
    pub fn reset(&mut self) {
        let (last, rev) = (self.last, self.rev);
        *self = Accumulator::new(self.aggregator);
        (self.last, self.rev) = (last, rev);
    }

    /// twa: `prev` is the series' last sample before this bucket and `start` the bucket's
    /// window start (`max(bucket start, from)`); call before the first [`Accumulator::add`].
    /// Without it twa starts at the bucket's first sample. Other aggregators ignore it.
    pub fn set_prev(&mut self, start: i64, prev: (i64, f64)) {
        self.twa_start = start;
        self.twa_prev = Some(prev);
    }

    pub fn add(&mut self, ts: i64, value: f64) {
        self.count += 1;
        match self.aggregator {
            Aggregator::Avg => self.add_avg(value),
            Aggregator::Sum => self.sum += value,
            Aggregator::Min | Aggregator::Max | Aggregator::Range => {
                if value > self.max {
                    self.max = value;
                }
                if value < self.min {
                    self.min = value;
                }
            }
            Aggregator::StdP | Aggregator::StdS | Aggregator::VarP | Aggregator::VarS => {
                self.sum += value;
                self.sum_sq += value * value;
            }
            Aggregator::Twa => self.add_twa(ts, value),
            Aggregator::Count | Aggregator::First | Aggregator::Last => {}
        }
        if self.count == 1 {
            self.first = value;
        }
        self.last = value;
        self.last_ts = ts;
    }

    /// Adds a bucket's samples in order (`rev`: last first), exactly as [`Accumulator::add`]
    /// one at a time would, with tight loops where the aggregator allows: the same additions
    /// and comparisons in the same order, so the same bits.
    pub fn add_group(&mut self, group: &[(i64, f64)], rev: bool) {
        let (Some(&head), Some(&tail)) = (group.first(), group.last()) else {
            return;
        };
        let (first, last) = if rev { (tail, head) } else { (head, tail) };
        // No partial sum of values below 1e300 in a group this small comes near f64::MAX, so
        // avg's overflow fallback cannot trigger (NaN fails the test: the slow path).
        let small = || group.len() < 1 << 20 && group.iter().all(|s| s.1.abs() < 1e300);
        let fast = match self.aggregator {
            Aggregator::Avg => !self.avg_overflow && small(),
            Aggregator::Twa => false,
            _ => true,
        };
        if !fast {
            match rev {
                true => group.iter().rev().for_each(|&(t, v)| self.add(t, v)),
                false => group.iter().for_each(|&(t, v)| self.add(t, v)),
            }
            return;
        }
        fn each(group: &[(i64, f64)], rev: bool, mut f: impl FnMut(f64)) {
            match rev {
                true => group.iter().rev().for_each(|s| f(s.1)),
                false => group.iter().for_each(|s| f(s.1)),
            }
        }
        match self.aggregator {
            Aggregator::Avg | Aggregator::Sum => {
                let mut sum = self.sum;
                each(group, rev, |v| sum += v);
                self.sum = sum;
            }
            Aggregator::Min | Aggregator::Max | Aggregator::Range => {
                let (mut lo, mut hi) = (self.min, self.max);
                each(group, rev, |v| {
                    if v > hi {
                        hi = v;
                    }
                    if v < lo {
                        lo = v;
                    }
                });
                (self.min, self.max) = (lo, hi);
            }
            Aggregator::StdP | Aggregator::StdS | Aggregator::VarP | Aggregator::VarS => {
                let (mut sum, mut sq) = (self.sum, self.sum_sq);
                each(group, rev, |v| {
                    sum += v;
                    sq += v * v;
                });
                (self.sum, self.sum_sq) = (sum, sq);
            }
            Aggregator::Twa | Aggregator::Count | Aggregator::First | Aggregator::Last => {}
        }
        if self.count == 0 {
            self.first = first.1;
        }
        self.count += group.len() as u64;
        self.last = last.1;
        self.last_ts = last.0;
    }

    fn add_avg(&mut self, value: f64) {
        let n = self.count as f64;
        let overflows =
            (self.sum < 0.0) == (value < 0.0) && self.sum.abs() > f64::MAX - value.abs();
        if overflows || self.avg_overflow {
            // avg(n) = avg(n-1)·(n-1)/n + value/n (RedisTimeSeries does this in long double).
            let mut mean = self.sum / n;
            if self.avg_overflow {
                mean *= n - 1.0;
            }
            self.sum = mean + value / n;
            self.avg_overflow = true;
        } else {
            self.sum += value;
        }
    }

    fn add_twa(&mut self, ts: i64, value: f64) {
        // RedisTimeSeries orders each segment (t1, v1) -> (t2, v2) in time whatever the direction.
        if self.count == 1 {
            match self.twa_prev {
                Some(p) => {
                    let edge = self.twa_start;
                    self.twa_first_ts = edge;
                    let ((t1, v1), (t2, v2)) = if self.rev {
                        ((ts, value), p)
                    } else {
                        (p, (ts, value))
                    };
                    let vab = v1 + (diff(edge, t1) * (v2 - v1)) / diff(t2, t1);
                    self.twa_area += if self.rev {
                        ((vab + v1) * diff(edge, t1)) / 2.0
                    } else {
                        ((vab + v2) * diff(t2, edge)) / 2.0
                    };
                }
                None => self.twa_first_ts = ts,
            }
        } else {
            let ((t1, v1), (t2, v2)) = if self.rev {
                ((ts, value), (self.last_ts, self.last))
            } else {
                ((self.last_ts, self.last), (ts, value))
            };
            self.twa_area += ((v1 + v2) * diff(t2, t1)) / 2.0;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The bucket's value (bucket = [start, end)); None if it has no sample. twa uses
    /// [`Accumulator::set_prev`] and no later sample (see [`Accumulator::finish_with_next`]).
    pub fn finish(&self, start: i64, end: i64) -> Option<f64> {
        self.finish_with_next(start, end, None)
    }

    /// As [`Accumulator::finish`]; twa extends the area to `end` (the window end,
    /// `min(bucket end, to)`) along the line to `next`, the series' first sample after the bucket.
    pub fn finish_with_next(&self, _start: i64, end: i64, next: Option<(i64, f64)>) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let n = self.count as f64;
        Some(match self.aggregator {
            Aggregator::Avg if self.avg_overflow => self.sum,
            Aggregator::Avg => self.sum / n,
            Aggregator::Sum => self.sum,
            Aggregator::Min => self.min,
            Aggregator::Max => self.max,
            Aggregator::Range => self.max - self.min,
            Aggregator::Count => n,
            Aggregator::First => self.first,
            Aggregator::Last => self.last,
            Aggregator::VarP => variance(self.sum, self.sum_sq, self.count),
            Aggregator::VarS => sample_variance(self.sum, self.sum_sq, self.count),
            Aggregator::StdP => variance(self.sum, self.sum_sq, self.count).sqrt(),
            Aggregator::StdS => sample_variance(self.sum, self.sum_sq, self.count).sqrt(),
            Aggregator::Twa => {
                let (mut area, mut last_ts) = (self.twa_area, self.last_ts);
                if let Some(n) = next {
                    let last = (self.last_ts, self.last);
                    let ((t1, v1), (t2, v2)) = if self.rev { (n, last) } else { (last, n) };
                    let vab = v1 + (diff(end, t1) * (v2 - v1)) / diff(t2, t1);
                    area += if self.rev {
                        ((vab + v2) * diff(t2, end)) / 2.0
                    } else {
                        ((vab + v1) * diff(end, t1)) / 2.0
                    };
                    last_ts = end;
                }
                if last_ts == self.twa_first_ts {
                    self.last
                } else {
                    area / diff(last_ts, self.twa_first_ts).abs()
                }
            }
        })
    }

    /// The value of an empty bucket reported with `EMPTY` after this one: NaN, 0 for sum/count,
    /// the last value seen for last (RedisTimeSeries never resets it). twa's is interpolated by
    /// [`aggregate`] and is NaN here.
    pub fn empty_value(&self) -> f64 {
        match self.aggregator {
            Aggregator::Last => self.last,
            other => other.empty_value(),
        }
    }
}

/// RedisTimeSeries' population variance, formula and operation order included.
fn variance(sum: f64, sum_sq: f64, count: u64) -> f64 {
    if count == 0 {
        return 0.0;
    }
    let n = count as f64;
    let mean = sum / n;
    (sum_sq - 2.0 * sum * sum / n + mean * mean * n) / n
}

fn sample_variance(sum: f64, sum_sq: f64, count: u64) -> f64 {
    if count <= 1 {
        return 0.0;
    }
    variance(sum, sum_sq, count) * count as f64 / (count - 1) as f64
}

/// GROUPBY ... REDUCE reducers: sum min max avg range count std.p std.s var.p var.s (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reducer {
    Sum,
    Min,
    Max,
    Avg,
    Range,
    Count,
    StdP,
    StdS,
    VarP,
    VarS,
}

const REDUCERS: [(Reducer, Aggregator); 10] = [
    (Reducer::Sum, Aggregator::Sum),
    (Reducer::Min, Aggregator::Min),
    (Reducer::Max, Aggregator::Max),
    (Reducer::Avg, Aggregator::Avg),
    (Reducer::Range, Aggregator::Range),
    (Reducer::Count, Aggregator::Count),
    (Reducer::StdP, Aggregator::StdP),
    (Reducer::StdS, Aggregator::StdS),
    (Reducer::VarP, Aggregator::VarP),
    (Reducer::VarS, Aggregator::VarS),
];

impl Reducer {
    /// Case-insensitive; RedisTimeSeries 1.12 rejects first/last/twa ("ERR TSDB: Invalid
    /// reducer type").
    pub fn parse(name: &str) -> Option<Reducer> {
        let aggregator = Aggregator::parse(name)?;
        REDUCERS
            .iter()
            .find(|(_, a)| *a == aggregator)
            .map(|&(r, _)| r)
    }

    /// The lowercase name ("sum", "std.p", ...).
    pub fn name(self) -> &'static str {
        self.aggregator().name()
    }

    /// The aggregator whose arithmetic this reducer uses (as RedisTimeSeries does).
    pub fn aggregator(self) -> Aggregator {
        REDUCERS
            .iter()
            .find(|(r, _)| *r == self)
            .map_or(Aggregator::Sum, |&(_, a)| a)
    }

    /// Reduces the values of one timestamp across a group's series, in the order given.
    /// No values: 0 for sum/count, NaN otherwise.
    pub fn reduce(self, values: &[f64]) -> f64 {
        let mut acc = Accumulator::new(self.aggregator());
        for &v in values {
            acc.add(0, v);
        }
        acc.finish(0, 0).unwrap_or_else(|| acc.empty_value())
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests;
