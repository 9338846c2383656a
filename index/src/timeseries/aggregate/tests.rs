//! Aggregation tests: values computed here from the samples, and replies of a real
//! RedisTimeSeries 1.12 quoted beside the cases checked against it.

use super::*;
use proptest::prelude::*;

/// Commands run against RedisTimeSeries 1.12 (`redistimeseries-server`) and its replies as
/// `redis-cli` printed them, after `TS.MADD` of these series (the names stand for the keys):
/// A: 10 1, 15 4, 31 2, 75 10, 78 -3 · B: 100 1, 130 5, 170 2 · C: 100 1, 110 3, 200 7,
/// 300 2, 306 8 · D: 5 1, 50 4 · F: 10 1, 55 3, 58 7, 75 2 · G: 33 6, 37 7, 44 -8.
const SERVER: &str = "
TS.RANGE A 0 200 AGGREGATION avg 20 EMPTY => 0 2.5 20 2 40 NaN 60 3.5
TS.RANGE A 0 200 AGGREGATION sum 20 EMPTY => 0 5 20 2 40 0 60 7
TS.RANGE A 0 200 AGGREGATION min 20 EMPTY => 0 1 20 2 40 NaN 60 -3
TS.RANGE A 0 200 AGGREGATION max 20 EMPTY => 0 4 20 2 40 NaN 60 10
TS.RANGE A 0 200 AGGREGATION range 20 EMPTY => 0 3 20 0 40 NaN 60 13
TS.RANGE A 0 200 AGGREGATION count 20 EMPTY => 0 2 20 1 40 0 60 2
TS.RANGE A 0 200 AGGREGATION first 20 EMPTY => 0 1 20 2 40 NaN 60 10
TS.RANGE A 0 200 AGGREGATION last 20 EMPTY => 0 4 20 2 40 2 60 -3
TS.RANGE A 0 200 AGGREGATION std.p 20 EMPTY => 0 1.5 20 0 40 NaN 60 6.5
TS.RANGE A 0 200 AGGREGATION std.s 20 EMPTY => 0 2.1213203435596424 20 0 40 NaN 60 9.192388155425117
TS.RANGE A 0 200 AGGREGATION var.p 20 EMPTY => 0 2.25 20 0 40 NaN 60 42.25
TS.RANGE A 0 200 AGGREGATION var.s 20 EMPTY => 0 4.5 20 0 40 NaN 60 84.5
TS.RANGE A 0 200 AGGREGATION twa 20 EMPTY => 0 3.09375 20 2.7463068181818184 40 5.454545454545455 60 7.780303030303031
TS.RANGE A 0 200 AGGREGATION sum 20 BUCKETTIMESTAMP end => 20 5 40 2 80 7
TS.RANGE A 0 200 AGGREGATION sum 20 BUCKETTIMESTAMP mid => 10 5 30 2 70 7
TS.RANGE A 0 200 AGGREGATION sum 7 BUCKETTIMESTAMP ~ => 10 1 17 4 31 2 73 10 80 -3
TS.RANGE A 0 200 AGGREGATION sum 7 BUCKETTIMESTAMP mid EMPTY => 10 1 17 4 24 0 31 2 38 0 45 0 52 0 59 0 66 0 73 10 80 -3
TS.RANGE A 0 200 ALIGN 7 AGGREGATION sum 20 => 7 5 27 2 67 7
TS.RANGE A 0 200 ALIGN 7 AGGREGATION sum 20 BUCKETTIMESTAMP + => 27 5 47 2 87 7
TS.RANGE A 0 200 ALIGN 7 AGGREGATION sum 20 BUCKETTIMESTAMP mid => 17 5 37 2 77 7
TS.RANGE A 0 200 ALIGN 15 AGGREGATION sum 20 BUCKETTIMESTAMP end => 20 1 35 6 95 7
TS.RANGE A 12 200 ALIGN 12 AGGREGATION sum 20 => 12 6 72 7
TS.RANGE A 12 76 ALIGN 76 AGGREGATION sum 20 => 0 4 16 2 56 10
TS.RANGE A 30 40 AGGREGATION std.s 100 => 0 0
TS.RANGE A 30 40 AGGREGATION std.p 100 => 0 0
TS.RANGE A 30 40 AGGREGATION var.s 100 => 0 0
TS.RANGE A 0 200 AGGREGATION std.s 100 => 0 4.764451699828638
TS.RANGE A 12 76 AGGREGATION twa 20 => 0 3.4671875 20 2.7463068181818184 60 8.586174242424244
TS.RANGE A 12 76 AGGREGATION twa 20 EMPTY => 0 3.4671875 20 2.7463068181818184 40 5.454545454545455 60 8.586174242424244
TS.RANGE A 40 59 AGGREGATION twa 20 EMPTY => 40 5.363636363636363
TS.RANGE A 40 59 AGGREGATION twa 20 =>
TS.RANGE A 40 59 AGGREGATION last 20 EMPTY =>
TS.RANGE A 30 40 AGGREGATION twa 100 => 0 2.742613636363637
TS.RANGE B 0 400 AGGREGATION twa 10 EMPTY => 100 1.6666666666666665 110 3 120 4.333333333333333 130 4.625 140 3.875 150 3.125 160 2.375 170 2
TS.RANGE B 0 400 AGGREGATION avg 20 EMPTY => 100 1 120 5 140 NaN 160 2
TS.RANGE B 101 150 AGGREGATION twa 10 EMPTY => 100 1.7333333333333332 110 3 120 4.333333333333333 130 4.625 140 3.875 150 3.5
TS.RANGE B 101 169 AGGREGATION twa 10 => 130 4.625
TS.RANGE B 140 160 AGGREGATION twa 20 EMPTY => 140 3.5 160 2.75
TS.RANGE B 175 400 AGGREGATION twa 20 EMPTY =>
TS.RANGE B 130 130 AGGREGATION twa 100 => 100 5
TS.RANGE B 100 130 AGGREGATION twa 100 => 100 3
TS.RANGE B 100 169 AGGREGATION twa 10 BUCKETTIMESTAMP end EMPTY => 110 1.6666666666666665 120 3 130 4.333333333333333 140 4.625 160 3.125 170 2.4125
TS.RANGE C 0 1000 AGGREGATION twa 10 EMPTY => 100 2 110 3.2222222222222223 120 3.666666666666667 130 4.111111111111111 140 4.555555555555555 150 5 160 5.444444444444445 170 5.888888888888888 180 6.333333333333333 190 6.777777777777778 200 6.75 210 6.25 220 5.75 230 5.25 240 4.75 250 4.25 260 3.75 270 3.25 280 2.75 290 2.25 300 5
TS.RANGE C 200 299 AGGREGATION twa 4 EMPTY => 200 6.9 204 6.699999999999999 208 6.5 212 6.300000000000001 216 6.1 220 5.9 224 5.699999999999999 228 5.5 232 5.300000000000001 236 5.1 240 4.9 244 4.699999999999999 248 4.5 252 4.300000000000001 256 4.1 260 3.9 264 3.7 268 3.5 272 3.3 276 3.1 280 2.9 284 2.6999999999999997 288 2.5 292 2.3000000000000003 296 2.125
TS.RANGE D 0 50 ALIGN 20 AGGREGATION twa 30 => 0 1.5 50 4
TS.RANGE D 0 50 ALIGN 20 AGGREGATION twa 30 BUCKETTIMESTAMP mid => 15 1.5 65 4
TS.RANGE D 0 50 ALIGN 20 AGGREGATION sum 30 BUCKETTIMESTAMP end EMPTY => 30 1 50 0 80 4
TS.RANGE D 19 50 ALIGN 20 AGGREGATION twa 30 EMPTY => 50 4
TS.RANGE D 20 50 ALIGN 20 AGGREGATION twa 30 EMPTY => 20 3 50 4
TS.RANGE D 20 49 ALIGN 20 AGGREGATION twa 30 EMPTY => 20 2.966666666666667
TS.RANGE D 6 49 AGGREGATION twa 10 EMPTY => 0 1.2 10 1.6666666666666665 20 2.3333333333333335 30 3 40 3.6333333333333333
TS.RANGE D 6 49 AGGREGATION avg 10 EMPTY =>
TS.REVRANGE A 0 200 AGGREGATION first 20 EMPTY => 60 -3 40 NaN 20 2 0 4
TS.REVRANGE A 0 200 AGGREGATION last 20 EMPTY => 60 10 40 10 20 2 0 1
TS.REVRANGE A 0 200 AGGREGATION sum 20 EMPTY => 60 7 40 0 20 2 0 5
TS.REVRANGE A 0 200 AGGREGATION twa 20 EMPTY => 60 7.780303030303031 40 5.454545454545455 20 2.7463068181818184 0 3.09375
TS.REVRANGE B 101 169 AGGREGATION twa 10 EMPTY => 160 2.4125 150 3.125 140 3.875 130 4.625 120 4.333333333333333 110 3 100 1.7333333333333332
TS.REVRANGE B 101 169 AGGREGATION twa 10 BUCKETTIMESTAMP end EMPTY => 170 2.4125 160 3.125 150 3.875 140 4.625 140 5.666666666666666 130 4.333333333333333 120 3 110 1.7333333333333332
TS.REVRANGE B 101 169 AGGREGATION twa 10 BUCKETTIMESTAMP mid EMPTY => 165 2.4125 155 3.125 145 3.875 135 4.625 125 4.333333333333333 115 3 105 1.7333333333333332
TS.REVRANGE B 101 169 ALIGN 5 AGGREGATION twa 10 EMPTY => 165 2.225 155 2.75 145 3.5 135 4.25 125 4.739583333333334 115 3.666666666666667 105 2.333333333333333 95 1.4
TS.RANGE B 101 169 ALIGN 5 AGGREGATION twa 10 EMPTY => 95 1.4 105 2.333333333333333 115 3.666666666666667 125 4.739583333333334 135 4.25 145 3.5 155 2.75 165 2.225
TS.REVRANGE B 100 170 AGGREGATION avg 10 EMPTY => 170 2 160 NaN 150 NaN 140 NaN 130 5 120 NaN 110 NaN 100 1
TS.REVRANGE F 50 107 AGGREGATION twa 60 BUCKETTIMESTAMP end EMPTY => 120 4.205882352941177 60 4.28562091503268 60 3
TS.RANGE F 50 107 AGGREGATION twa 60 BUCKETTIMESTAMP end EMPTY => 60 4.28562091503268 120 4.205882352941177
TS.RANGE G 35 41 ALIGN 41 AGGREGATION twa 60 EMPTY => 0 4.059523809523809
";

fn series(name: &str) -> &'static [(i64, f64)] {
    match name {
        "A" => &[(10, 1.0), (15, 4.0), (31, 2.0), (75, 10.0), (78, -3.0)],
        "B" => &[(100, 1.0), (130, 5.0), (170, 2.0)],
        "C" => &[(100, 1.0), (110, 3.0), (200, 7.0), (300, 2.0), (306, 8.0)],
        "D" => &[(5, 1.0), (50, 4.0)],
        "G" => &[(33, 6.0), (37, 7.0), (44, -8.0)],
        _ => &[(10, 1.0), (55, 3.0), (58, 7.0), (75, 2.0)],
    }
}

/// `(t, value bits)`, every NaN alike.
fn bits(v: &[(i64, f64)]) -> Vec<(i64, u64)> {
    v.iter()
        .map(|&(t, x)| (t, if x.is_nan() { 1 } else { x.to_bits() }))
        .collect()
}

fn req(name: &str, bucket_ms: i64, align: i64, bt: &str, empty: bool) -> Aggregation {
    let aggregator = Aggregator::parse(name).unwrap();
    let bucket_ts = BucketTimestamp::parse(bt).unwrap();
    Aggregation {
        aggregator,
        bucket_ms,
        align,
        bucket_ts,
        empty,
    }
}

#[test]
fn replies_match_the_server() {
    for line in SERVER.lines().filter(|l| !l.is_empty()) {
        let (cmd, reply) = line.split_once(" =>").unwrap();
        let f: Vec<&str> = cmd.split(' ').collect();
        let s = series(f[1]);
        let (from, to): (i64, i64) = (f[2].parse().unwrap(), f[3].parse().unwrap());
        let opt = |flag: &str| f.iter().position(|x| *x == flag).map(|i| f[i + 1]);
        let agg = f[f.iter().position(|x| *x == "AGGREGATION").unwrap() + 1];
        let bucket = opt(agg).unwrap().parse().unwrap();
        let align = opt("ALIGN").map_or(0, |a| a.parse().unwrap());
        let a = req(
            agg,
            bucket,
            align,
            opt("BUCKETTIMESTAMP").unwrap_or("-"),
            f.contains(&"EMPTY"),
        );
        let run = if f[0] == "TS.REVRANGE" {
            aggregate_rev
        } else {
            aggregate
        };
        let r: Vec<&str> = reply.split_whitespace().collect();
        let want: Vec<(i64, f64)> = r
            .chunks(2)
            .map(|p| (p[0].parse().unwrap(), p[1].parse().unwrap()))
            .collect();
        assert_eq!(
            bits(&run(s, from, to, &a, None, None)),
            bits(&want),
            "{line}"
        );
        // Only the range plus explicit neighbours gives the same.
        let lo = s.partition_point(|x| x.0 < from);
        let hi = s.partition_point(|x| x.0 <= to).max(lo);
        let (before, after) = (lo.checked_sub(1).map(|i| s[i]), s.get(hi).copied());
        assert_eq!(
            bits(&run(&s[lo..hi], from, to, &a, before, after)),
            bits(&want),
            "{line}"
        );
    }
}

#[test]
fn names_parse_case_insensitively() {
    for &(a, name) in &AGGREGATORS {
        assert_eq!(Aggregator::parse(name), Some(a));
        assert_eq!(Aggregator::parse(&name.to_uppercase()), Some(a));
        assert_eq!(a.name(), name);
    }
    assert_eq!(Aggregator::parse("wavg"), None);
    let bts = [
        ("-", "START", BucketTimestamp::Start),
        ("+", "End", BucketTimestamp::End),
    ];
    for (short, long, bt) in bts.into_iter().chain([("~", "mid", BucketTimestamp::Mid)]) {
        assert_eq!(
            (BucketTimestamp::parse(short), BucketTimestamp::parse(long)),
            (Some(bt), Some(bt))
        );
    }
    // TS.RANGE A - + AGGREGATION sum 20 BUCKETTIMESTAMP low|high
    //   -> ERR TSDB: unknown BUCKETTIMESTAMP parameter
    assert_eq!(
        BucketTimestamp::parse("low").or(BucketTimestamp::parse("high")),
        None
    );
    for &(r, a) in &REDUCERS {
        assert_eq!(Reducer::parse(&a.name().to_uppercase()), Some(r));
        assert_eq!(r.name(), a.name());
    }
    // TS.MRANGE - + FILTER g=x GROUPBY g REDUCE first|last|twa -> ERR TSDB: Invalid reducer type
    assert!(["first", "last", "twa"]
        .iter()
        .all(|n| Reducer::parse(n).is_none()));
}

#[test]
fn bucket_start_handles_alignment_and_negative_timestamps() {
    let cases = [
        (10, 20, 0, 0),
        (20, 20, 0, 20),
        (10, 20, 7, 7),
        (6, 20, 7, -13),
        (12, 20, 12, 12),
    ];
    let negative = [
        (-1, 10, 0, -10),
        (-10, 10, 0, -10),
        (-11, 10, 0, -20),
        (-11, 10, 3, -17),
    ];
    let extremes = [
        (i64::MIN, 10, 3, i64::MIN),
        (i64::MAX, 10, 0, i64::MAX - 7),
        (5, 0, 0, 5),
    ];
    for (ts, bucket, align, start) in cases.into_iter().chain(negative).chain(extremes) {
        assert_eq!(
            bucket_start(ts, bucket, align),
            start,
            "{ts} {bucket} {align}"
        );
    }
}

#[test]
fn negative_ranges_use_signed_buckets() {
    let s = &[(-25, 1.0), (-15, 2.0), (-5, 4.0), (5, 8.0)];
    let run = |from, to, a: Aggregation| aggregate(s, from, to, &a, None, None);
    let sums = vec![(-20, 1.0), (-10, 2.0), (0, 4.0), (10, 8.0)];
    assert_eq!(run(-30, 10, req("sum", 10, 0, "end", true)), sums);
    let counts = vec![(-35, 1.0), (-15, 2.0), (5, 1.0)];
    assert_eq!(run(-30, 10, req("count", 20, 5, "-", true)), counts);
    // From 0 up, a bucket straddling 0 ([-5, 15)) is reported at 0, as RedisTimeSeries does.
    assert_eq!(run(0, 10, req("sum", 20, 15, "-", false)), vec![(0, 8.0)]);
    let twa = run(-20, 0, req("twa", 10, 0, "-", true));
    assert_eq!(
        twa.iter().map(|p| p.0).collect::<Vec<_>>(),
        vec![-20, -10, 0]
    );
}

// TS.MRANGE - + FILTER g=x GROUPBY g REDUCE <r> over three series holding
// 10: 1, 2, 4 · 20: 5 · 30: 0.1, 0.1, 0.1 replied (one value per timestamp):
#[test]
fn reducers_match_the_server() {
    let replies = [
        ("sum", "7 5 3.0000000000000004E-1"),
        ("min", "1 5 1E-1"),
        ("max", "4 5 1E-1"),
        ("avg", "2.3333333333333335 5 1.0000000000000002E-1"),
        ("range", "3 0 0"),
        ("count", "3 1 3"),
        ("std.p", "1.2472191289246477 0 0"),
        ("std.s", "1.5275252316519474 0 0"),
        ("var.p", "1.5555555555555571 0 0"),
        ("var.s", "2.3333333333333357 0 0"),
    ];
    let groups: [&[f64]; 3] = [&[1.0, 2.0, 4.0], &[5.0], &[0.1, 0.1, 0.1]];
    for (name, reply) in replies {
        let r = Reducer::parse(name).unwrap();
        let want: Vec<f64> = reply.split(' ').map(|v| v.parse().unwrap()).collect();
        assert_eq!(groups.map(|g| r.reduce(g)).to_vec(), want, "{name}");
    }
    assert_eq!(Reducer::Sum.reduce(&[]), 0.0);
    assert!(Reducer::Max.reduce(&[]).is_nan());
}

#[test]
fn accumulator_lifecycle() {
    let mut acc = Accumulator::new(Aggregator::Last);
    assert!(acc.is_empty() && acc.finish(0, 10).is_none());
    acc.add(1, 3.0);
    acc.add(2, 4.0);
    assert_eq!(acc.finish(0, 10), Some(4.0));
    acc.reset();
    assert!(acc.is_empty());
    assert_eq!(acc.empty_value(), 4.0);
    // A compaction rule's twa bucket [10, 20) with the samples around it.
    let mut twa = Accumulator::new(Aggregator::Twa);
    twa.set_prev(10, (5, 0.0));
    twa.add(15, 10.0);
    assert_eq!(twa.finish_with_next(10, 20, Some((25, 0.0))), Some(7.5));
    assert_eq!(twa.finish(10, 20), Some(7.5)); // [10, 15]: 5 to 10, no later sample
                                               // TS.CREATERULE src dst AGGREGATION twa 10, then TS.ADD src 1 1, 4 5, 12 3, 18 7, 35 2:
                                               // TS.RANGE dst - + -> 0 3.8333333333333335 10 4.991176470588235 (the sample closing a
                                               // bucket is its `next`, the previous bucket's last sample its `prev`).
    let mut b0 = Accumulator::new(Aggregator::Twa);
    b0.add(1, 1.0);
    b0.add(4, 5.0);
    assert_eq!(
        b0.finish_with_next(0, 10, Some((12, 3.0))),
        Some(3.8333333333333335)
    );
    let mut b10 = Accumulator::new(Aggregator::Twa);
    b10.set_prev(10, (4, 5.0));
    b10.add(12, 3.0);
    b10.add(18, 7.0);
    assert_eq!(
        b10.finish_with_next(10, 20, Some((35, 2.0))),
        Some(4.991176470588235)
    );
    assert!(Accumulator::new(Aggregator::Avg).empty_value().is_nan());
    assert_eq!(Accumulator::new(Aggregator::Count).empty_value(), 0.0);
}

/// Each aggregator computed directly (two-pass variance) over one bucket's values.
fn direct(a: Aggregator, v: &[f64]) -> f64 {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var_p = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    let var_s = if v.len() > 1 {
        var_p * n / (n - 1.0)
    } else {
        0.0
    };
    let min = v.iter().fold(f64::MAX, |m, &x| m.min(x));
    let max = v.iter().fold(-f64::MAX, |m, &x| m.max(x));
    match a {
        Aggregator::Avg => mean,
        Aggregator::Sum => v.iter().sum(),
        Aggregator::Min => min,
        Aggregator::Max => max,
        Aggregator::Range => max - min,
        Aggregator::Count => n,
        Aggregator::First => v[0],
        Aggregator::Last => v[v.len() - 1],
        Aggregator::VarP => var_p,
        Aggregator::VarS => var_s,
        Aggregator::StdP => var_p.sqrt(),
        Aggregator::StdS | Aggregator::Twa => var_s.sqrt(),
    }
}

/// Any timestamp, often near the extremes or 0.
fn ts() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        i64::MAX - 300..=i64::MAX,
        i64::MIN..i64::MIN + 300,
        -300i64..300
    ]
}

proptest! {
    #[test]
    fn aggregators_match_direct_computation(
        s in proptest::collection::btree_map(-500i64..500, -1e6f64..1e6, 1..60),
        bucket in 1i64..300,
        align in -50i64..50,
    ) {
        let s: Vec<(i64, f64)> = s.into_iter().collect();
        let start = |ts| bucket_start(ts, bucket, align);
        let groups: Vec<&[(i64, f64)]> = s.chunk_by(|x, y| start(x.0) == start(y.0)).collect();
        for &(a, name) in AGGREGATORS.iter().filter(|(a, _)| *a != Aggregator::Twa) {
            let got = aggregate(&s, -1000, 1000, &req(name, bucket, align, "-", false), None, None);
            prop_assert_eq!(got.len(), groups.len());
            for (&(t, value), g) in got.iter().zip(&groups) {
                let want = direct(a, &g.iter().map(|x| x.1).collect::<Vec<_>>());
                // RedisTimeSeries' one-pass variance loses precision: compare loosely.
                let tol = match a {
                    Aggregator::StdP | Aggregator::StdS => 1e-3 * (1.0 + want.abs()),
                    Aggregator::VarP | Aggregator::VarS => 1e-6 * want.abs() + 1e3,
                    _ => 1e-9 * (1.0 + want.abs()),
                };
                prop_assert_eq!(t, start(g[0].0));
                prop_assert!((value - want).abs() <= tol, "{} at {}: {} vs {}", name, t, value, want);
            }
        }
    }

    #[test]
    fn a_group_added_at_once_gives_the_bits_of_one_by_one(
        values in proptest::collection::vec(prop_oneof![
            4 => -1e6f64..1e6,
            1 => any::<f64>(),
            1 => Just(f64::MAX),
            1 => Just(-f64::MAX),
        ], 0..40),
        split in 0usize..40, agg in 0usize..13, rev in any::<bool>(),
    ) {
        let group: Vec<(i64, f64)> = values.iter().enumerate().map(|(i, v)| (i as i64, *v)).collect();
        let aggregator = AGGREGATORS[agg].0;
        // Two groups into one bucket: the second finds state left by the first.
        let (a, b) = group.split_at(split.min(group.len()));
        let (a, b) = if rev { (b, a) } else { (a, b) };
        let mut one = Accumulator::new(aggregator);
        let mut all = Accumulator::new(aggregator);
        for g in [a, b] {
            match rev {
                true => g.iter().rev().for_each(|&(t, v)| one.add(t, v)),
                false => g.iter().for_each(|&(t, v)| one.add(t, v)),
            }
            all.add_group(g, rev);
        }
        let bits = |x: Option<f64>| x.map(f64::to_bits);
        prop_assert_eq!(bits(one.finish_with_next(0, 100, None)), bits(all.finish_with_next(0, 100, None)));
    }

    #[test]
    fn never_panics(
        s in proptest::collection::btree_map(ts(), any::<f64>(), 0..30),
        from in ts(), to in ts(), bucket in prop_oneof![any::<i64>(), 1i64..100],
        align in ts(), agg in 0usize..13, bt in 0usize..3, empty in any::<bool>(),
        edge in prop_oneof![Just(None), (ts(), any::<f64>()).prop_map(Some)],
    ) {
        let s: Vec<(i64, f64)> = s.into_iter().collect();
        let bucket_ts = [BucketTimestamp::Start, BucketTimestamp::End, BucketTimestamp::Mid][bt];
        let (lo, hi) = (from.min(to), from.max(to));
        // Bound the work EMPTY may do: at most ~10k buckets.
        let empty = empty && (i128::from(hi) - i128::from(lo)) / i128::from(bucket.max(1)) < 10_000;
        let a = Aggregation { aggregator: AGGREGATORS[agg].0, bucket_ms: bucket, align, bucket_ts, empty };
        let _ = aggregate(&s, lo, hi, &a, edge, edge);
        let _ = aggregate_rev(&s, lo, hi, &a, edge, edge);
    }

    #[test]
    fn twa_of_a_line_is_its_mean(slope in -10i64..10, offset in -100i64..100, bucket in 1i64..50, step in 1i64..20) {
        let s: Vec<(i64, f64)> = (0..40).map(|i| (i * step, (offset + slope * i * step) as f64)).collect();
        let to = 39 * step;
        for (t, v) in aggregate(&s, 0, to, &req("twa", bucket, 0, "-", true), None, None) {
            let want = offset as f64 + slope as f64 * (t + (t + bucket).min(to)) as f64 / 2.0;
            prop_assert!((v - want).abs() < 1e-6 * (1.0 + want.abs()), "bucket {}: {} vs {}", t, v, want);
        }
    }
}
