//! End-to-end tests of the RedisTimeSeries commands on the real `orbit serve`, driven by the
//! `redis` client crate: every command and its options, errors, aggregations checked against
//! values computed here from the inserted samples, duplicate policies, out-of-order inserts
//! into sealed chunks, retention, compaction rules, label filters over 10,000 series, and
//! recovery after a restart and after kill -9.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{err, start, Server};
use redis::{cmd, Connection, RedisResult, Value};

/// Label pairs as TS.MGET / TS.MRANGE reply them.
type Labels = Vec<(String, String)>;
/// One series of a TS.MRANGE reply: key, labels, samples.
type Series = (String, Labels, Vec<(i64, f64)>);

/// `[[ts, value], ...]` as numbers.
fn samples(v: Value) -> Vec<(i64, f64)> {
    let Value::Array(items) = v else {
        panic!("not an array: {v:?}")
    };
    items
        .into_iter()
        .map(|s| redis::from_redis_value::<(i64, f64)>(s).unwrap())
        .collect()
}

fn range(c: &mut Connection, args: &[&str]) -> Vec<(i64, f64)> {
    samples(cmd("TS.RANGE").arg(args).query(c).unwrap())
}

/// Sends one inline command on a fresh connection and reads a reply of `lines` lines.
fn raw(server: &Server, line: &str, lines: usize) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.write_all(line.as_bytes()).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while out.windows(2).filter(|w| w == b"\r\n").count() < lines {
        let n = s.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "connection closed after {:?}",
            String::from_utf8_lossy(&out)
        );
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(out).unwrap()
}

fn q<T: redis::FromRedisValue>(c: &mut Connection, args: &[&str]) -> RedisResult<T> {
    cmd(args[0]).arg(&args[1..]).query(c)
}

#[test]
fn create_add_get_info_and_errors() {
    let (_tmp, server) = start();
    let c = &mut server.client();
    let _: () = q(
        c,
        &[
            "TS.CREATE",
            "t",
            "RETENTION",
            "0",
            "LABELS",
            "room",
            "kitchen",
            "unit",
            "C",
        ],
    )
    .unwrap();
    assert_eq!(
        err(q::<()>(c, &["TS.CREATE", "t"])),
        "ERR TSDB: key already exists"
    );
    assert_eq!(q::<String>(c, &["TYPE", "t"]).unwrap(), "TSDB-TYPE");
    assert_eq!(q::<i64>(c, &["TS.ADD", "t", "1000", "20.5"]).unwrap(), 1000);
    assert_eq!(q::<i64>(c, &["TS.ADD", "t", "2000", "21"]).unwrap(), 2000);
    assert_eq!(q::<(i64, f64)>(c, &["TS.GET", "t"]).unwrap(), (2000, 21.0));
    // Auto-creation with options, `*` timestamps.
    let now: i64 = q(c, &["TS.ADD", "auto", "*", "1", "LABELS", "room", "hall"]).unwrap();
    assert!(now > 1_700_000_000_000);
    // Errors of RedisTimeSeries' kind.
    assert_eq!(
        err(q::<()>(c, &["TS.GET", "missing"])),
        "ERR TSDB: the key does not exist"
    );
    let _: () = q(c, &["SET", "s", "x"]).unwrap();
    // RedisTimeSeries 1.12's words: writes and reads name a wrong type differently.
    assert_eq!(
        err(q::<()>(c, &["TS.ADD", "s", "1", "1"])),
        "ERR TSDB: the key is not a TSDB key"
    );
    assert_eq!(
        err(q::<()>(c, &["TS.GET", "s"])),
        "ERR WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert!(err(q::<()>(c, &["TS.ADD", "t", "x", "1"])).contains("TSDB: invalid timestamp"));
    assert!(err(q::<()>(c, &["TS.ADD", "t", "3000", "abc"])).contains("TSDB: invalid value"));
    assert!(
        err(q::<()>(c, &["TS.ADD", "t", "1000", "5"])).contains("DUPLICATE_POLICY is set to BLOCK")
    );
    assert!(err(q::<()>(c, &["TS.CREATE", "u", "CHUNK_SIZE", "7"])).contains("CHUNK_SIZE"));
    assert_eq!(
        err(q::<()>(c, &["TS.CREATE", "u", "RETENTION", "x"])),
        "ERR TSDB: Couldn't parse RETENTION"
    );
    assert_eq!(
        err(q::<()>(c, &["TS.RANGE", "t", "x", "+"])),
        "ERR TSDB: wrong fromTimestamp"
    );
    assert_eq!(
        err(q::<()>(c, &["TS.RANGE", "t", "-", "+", "ALIGN", "5"])),
        "ERR TSDB: ALIGN parameter can only be used with AGGREGATION"
    );
    // TS.INFO.
    let info: std::collections::HashMap<String, Value> = q(c, &["TS.INFO", "t"]).unwrap();
    let int = |k: &str| redis::from_redis_value::<i64>(info[k].clone()).unwrap();
    assert_eq!(
        (
            int("totalSamples"),
            int("firstTimestamp"),
            int("lastTimestamp")
        ),
        (2, 1000, 2000)
    );
    assert_eq!(int("chunkSize"), 4096);
    let labels: Vec<(String, String)> = redis::from_redis_value(info["labels"].clone()).unwrap();
    assert_eq!(
        labels,
        vec![
            ("room".into(), "kitchen".into()),
            ("unit".into(), "C".into())
        ]
    );
    // TS.ALTER, TS.DEL, DEL, EXISTS.
    let _: () = q(c, &["TS.ALTER", "t", "LABELS", "room", "attic"]).unwrap();
    assert_eq!(
        q::<Vec<String>>(c, &["TS.QUERYINDEX", "room=attic"]).unwrap(),
        vec!["t"]
    );
    assert_eq!(q::<i64>(c, &["TS.DEL", "t", "0", "1500"]).unwrap(), 1);
    assert_eq!(range(c, &["t", "-", "+"]), vec![(2000, 21.0)]);
    assert_eq!(q::<i64>(c, &["DEL", "t"]).unwrap(), 1);
    assert_eq!(q::<i64>(c, &["EXISTS", "t"]).unwrap(), 0);
    assert!(q::<Vec<String>>(c, &["TS.QUERYINDEX", "room=attic"])
        .unwrap()
        .is_empty());
}

/// What each aggregator gives for `values`, computed directly.
fn expected(agg: &str, values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let sum: f64 = values.iter().sum();
    let mean = sum / n;
    let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    match agg {
        "avg" => mean,
        "sum" => sum,
        "min" => min,
        "max" => max,
        "range" => max - min,
        "count" => n,
        "first" => values[0],
        "last" => values[values.len() - 1],
        "var.p" => ss / n,
        "var.s" => ss / (n - 1.0),
        "std.p" => (ss / n).sqrt(),
        "std.s" => (ss / (n - 1.0)).sqrt(),
        other => panic!("{other}"),
    }
}

#[test]
fn aggregations_match_values_computed_from_the_samples() {
    let (_tmp, server) = start();
    let c = &mut server.client();
    // 500 samples every 7 ms with irregular values, in small chunks (many sealed).
    let _: () = q(c, &["TS.CREATE", "a", "CHUNK_SIZE", "128"]).unwrap();
    let pts: Vec<(i64, f64)> = (0..500)
        .map(|i| (1000 + i * 7, ((i * 37) % 101) as f64 / 4.0 - 3.0))
        .collect();
    let mut pipe = redis::pipe();
    for (t, v) in &pts {
        pipe.cmd("TS.ADD").arg("a").arg(*t).arg(*v).ignore();
    }
    let _: () = pipe.query(c).unwrap();
    assert_eq!(range(c, &["a", "-", "+"]), pts);
    let (from, to, bucket) = (1100i64, 4000i64, 100i64);
    for agg in [
        "avg", "sum", "min", "max", "range", "count", "first", "last", "std.p", "std.s", "var.p",
        "var.s",
    ] {
        let got = range(
            c,
            &[
                "a",
                &from.to_string(),
                &to.to_string(),
                "AGGREGATION",
                agg,
                &bucket.to_string(),
            ],
        );
        let mut want: Vec<(i64, f64)> = Vec::new();
        let mut b = from - from % bucket;
        while b <= to {
            let vals: Vec<f64> = pts
                .iter()
                .filter(|(t, _)| *t >= b.max(from) && *t < b + bucket && *t <= to)
                .map(|s| s.1)
                .collect();
            if !vals.is_empty() {
                want.push((b, expected(agg, &vals)));
            }
            b += bucket;
        }
        assert_eq!(got.len(), want.len(), "{agg}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.0, w.0, "{agg}");
            assert!(
                (g.1 - w.1).abs() < 1e-9 * (1.0 + w.1.abs()),
                "{agg} at {}: {} vs {}",
                g.0,
                g.1,
                w.1
            );
        }
    }
    // BUCKETTIMESTAMP, ALIGN, COUNT, REVRANGE, FILTER_BY_VALUE, FILTER_BY_TS.
    let end = range(
        c,
        &[
            "a",
            "1100",
            "1400",
            "AGGREGATION",
            "count",
            "100",
            "BUCKETTIMESTAMP",
            "+",
        ],
    );
    // Buckets 1100, 1200 and 1300 hold samples in range (1400's first sample is 1406).
    assert_eq!(
        end.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![1200, 1300, 1400]
    );
    let aligned = range(
        c,
        &[
            "a",
            "1100",
            "1400",
            "ALIGN",
            "50",
            "AGGREGATION",
            "count",
            "100",
        ],
    );
    assert_eq!(aligned.first().unwrap().0, 1050);
    let rev: Vec<(i64, f64)> =
        samples(q(c, &["TS.REVRANGE", "a", "-", "+", "COUNT", "3"]).unwrap());
    assert_eq!(rev, pts.iter().rev().take(3).copied().collect::<Vec<_>>());
    let high = range(c, &["a", "-", "+", "FILTER_BY_VALUE", "20", "30"]);
    assert_eq!(
        high,
        pts.iter()
            .filter(|s| s.1 >= 20.0 && s.1 <= 30.0)
            .copied()
            .collect::<Vec<_>>()
    );
    let picked = range(c, &["a", "-", "+", "FILTER_BY_TS", "1007", "1014", "999"]);
    assert_eq!(picked, vec![pts[1], pts[2]]);
    assert!(err(q::<()>(
        c,
        &["TS.RANGE", "a", "-", "+", "AGGREGATION", "median", "10"]
    ))
    .contains("TSDB"));
    // An EMPTY aggregation over a huge gap is refused, not built.
    let _: i64 = q(c, &["TS.ADD", "gap", "0", "1"]).unwrap();
    let _: i64 = q(c, &["TS.ADD", "gap", "1000000000000", "1"]).unwrap();
    assert!(err(q::<()>(
        c,
        &[
            "TS.RANGE",
            "gap",
            "-",
            "+",
            "AGGREGATION",
            "count",
            "1",
            "EMPTY"
        ]
    ))
    .contains("EMPTY would report"));
    assert_eq!(
        range(c, &["gap", "-", "+", "AGGREGATION", "count", "1"]).len(),
        2
    );
    // Replies of a real RedisTimeSeries 1.12 on the same samples: twa takes the samples just
    // outside the range from storage; REVRANGE feeds each bucket newest first.
    for (t, v) in [(10, "1"), (15, "4"), (31, "2"), (75, "10"), (78, "-3")] {
        let _: i64 = q(c, &["TS.ADD", "h", &t.to_string(), v]).unwrap();
    }
    assert_eq!(
        range(c, &["h", "12", "76", "AGGREGATION", "twa", "20"]),
        vec![
            (0, 3.4671875),
            (20, 2.7463068181818184),
            (60, 8.586174242424244)
        ]
    );
    let rev: Vec<(i64, f64)> = samples(
        q(
            c,
            &["TS.REVRANGE", "h", "-", "+", "AGGREGATION", "first", "20"],
        )
        .unwrap(),
    );
    assert_eq!(rev, vec![(60, -3.0), (20, 2.0), (0, 4.0)]);
}

#[test]
fn duplicates_out_of_order_and_retention() {
    let (_tmp, server) = start();
    let c = &mut server.client();
    for (policy, want) in [
        ("FIRST", 1.0),
        ("LAST", 2.0),
        ("MIN", 1.0),
        ("MAX", 2.0),
        ("SUM", 3.0),
    ] {
        let key = format!("d-{policy}");
        let _: () = q(c, &["TS.CREATE", &key, "DUPLICATE_POLICY", policy]).unwrap();
        let _: i64 = q(c, &["TS.ADD", &key, "10", "1"]).unwrap();
        let _: i64 = q(c, &["TS.ADD", &key, "10", "2"]).unwrap();
        assert_eq!(range(c, &[&key, "-", "+"]), vec![(10, want)], "{policy}");
    }
    // ON_DUPLICATE overrides the series' policy.
    let _: i64 = q(c, &["TS.ADD", "d-FIRST", "10", "9", "ON_DUPLICATE", "LAST"]).unwrap();
    assert_eq!(range(c, &["d-FIRST", "-", "+"]), vec![(10, 9.0)]);
    // Out-of-order inserts land in sealed chunks and the open one.
    let _: () = q(
        c,
        &[
            "TS.CREATE",
            "o",
            "CHUNK_SIZE",
            "48",
            "DUPLICATE_POLICY",
            "LAST",
        ],
    )
    .unwrap();
    let mut want = std::collections::BTreeMap::new();
    for i in (0..300i64).step_by(2) {
        let _: i64 = q(c, &["TS.ADD", "o", &(i * 10).to_string(), &i.to_string()]).unwrap();
        want.insert(i * 10, i as f64);
    }
    for i in (0..150i64).rev().map(|k| k * 2 + 1) {
        let _: i64 = q(c, &["TS.ADD", "o", &(i * 10).to_string(), &i.to_string()]).unwrap();
        want.insert(i * 10, i as f64);
    }
    let _: i64 = q(c, &["TS.ADD", "o", "500", "-1"]).unwrap();
    want.insert(500, -1.0);
    assert_eq!(
        range(c, &["o", "-", "+"]),
        want.into_iter().collect::<Vec<_>>()
    );
    // Retention: old samples are dropped and refused.
    let _: () = q(
        c,
        &["TS.CREATE", "r", "RETENTION", "100", "CHUNK_SIZE", "48"],
    )
    .unwrap();
    for t in 0..50 {
        let _: i64 = q(c, &["TS.ADD", "r", &(t * 10).to_string(), "1"]).unwrap();
    }
    assert!(err(q::<()>(c, &["TS.ADD", "r", "10", "1"])).contains("older than retention"));
    let kept = range(c, &["r", "-", "+"]);
    assert_eq!(kept.first().unwrap().0, 390);
    assert_eq!(kept.len(), 11);
    // TS.ALTER shortening the retention drops the older samples at once.
    let _: () = q(c, &["TS.ALTER", "r", "RETENTION", "30"]).unwrap();
    let kept = range(c, &["r", "-", "+"]);
    assert_eq!(
        kept.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![460, 470, 480, 490]
    );
    let info: std::collections::HashMap<String, Value> = q(c, &["TS.INFO", "r"]).unwrap();
    assert_eq!(
        redis::from_redis_value::<i64>(info["firstTimestamp"].clone()).unwrap(),
        460
    );
}

#[test]
fn rules_filters_and_groupby() {
    let (_tmp, server) = start();
    let c = &mut server.client();
    let _: () = q(c, &["TS.CREATE", "raw", "LABELS", "kind", "raw"]).unwrap();
    let _: () = q(c, &["TS.CREATE", "avg", "LABELS", "kind", "avg"]).unwrap();
    let _: () = q(
        c,
        &["TS.CREATERULE", "raw", "avg", "AGGREGATION", "avg", "100"],
    )
    .unwrap();
    assert!(err(q::<()>(
        c,
        &["TS.CREATERULE", "raw", "raw", "AGGREGATION", "avg", "100"]
    ))
    .contains("TSDB"));
    for t in 0..350 {
        let _: i64 = q(
            c,
            &["TS.ADD", "raw", &t.to_string(), &(t % 100).to_string()],
        )
        .unwrap();
    }
    // Buckets 0, 100, 200 are closed; 300 is still filling (LATEST shows it).
    assert_eq!(
        range(c, &["avg", "-", "+"]),
        vec![(0, 49.5), (100, 49.5), (200, 49.5)]
    );
    assert_eq!(
        range(c, &["avg", "-", "+", "LATEST"]).last(),
        Some(&(300, 24.5))
    );
    let info: std::collections::HashMap<String, Value> = q(c, &["TS.INFO", "avg"]).unwrap();
    assert_eq!(
        redis::from_redis_value::<String>(info["sourceKey"].clone()).unwrap(),
        "raw"
    );
    assert!(err(q::<()>(
        c,
        &["TS.CREATERULE", "raw", "avg", "AGGREGATION", "sum", "10"]
    ))
    .contains("already has a src rule"));
    let _: () = q(c, &["TS.DELETERULE", "raw", "avg"]).unwrap();
    assert!(err(q::<()>(c, &["TS.DELETERULE", "raw", "avg"])).contains("does not exist"));
    // A destination whose source was deleted takes a new rule.
    let _: () = q(c, &["TS.CREATE", "raw2"]).unwrap();
    let _: () = q(
        c,
        &["TS.CREATERULE", "raw2", "avg", "AGGREGATION", "max", "100"],
    )
    .unwrap();
    let _: i64 = q(c, &["DEL", "raw2"]).unwrap();
    let _: () = q(
        c,
        &["TS.CREATERULE", "raw", "avg", "AGGREGATION", "max", "100"],
    )
    .unwrap();

    // Label filters and GROUPBY across series.
    for (k, room, v) in [("s1", "a", 1.0), ("s2", "a", 2.0), ("s3", "b", 5.0)] {
        let _: i64 = q(
            c,
            &[
                "TS.ADD",
                k,
                "1000",
                &v.to_string(),
                "LABELS",
                "room",
                room,
                "type",
                "temp",
            ],
        )
        .unwrap();
    }
    let _: i64 = q(c, &["TS.ADD", "s4", "1000", "9", "LABELS", "type", "hum"]).unwrap();
    let idx = |c: &mut Connection, f: &[&str]| -> Vec<String> {
        cmd("TS.QUERYINDEX").arg(f).query(c).unwrap()
    };
    assert_eq!(idx(c, &["type=temp"]), vec!["s1", "s2", "s3"]);
    assert_eq!(idx(c, &["type=temp", "room!=a"]), vec!["s3"]);
    assert_eq!(idx(c, &["type=(temp,hum)", "room="]), vec!["s4"]);
    assert_eq!(
        idx(c, &["type=(temp,hum)", "room!="]),
        vec!["s1", "s2", "s3"]
    );
    assert_eq!(
        idx(c, &["room=(a,b)", "type!=(hum)"]),
        vec!["s1", "s2", "s3"]
    );
    assert!(err(q::<()>(c, &["TS.QUERYINDEX", "room!=a"])).contains("TSDB"));
    let mget: Vec<(String, Labels, (i64, f64))> = cmd("TS.MGET")
        .arg("WITHLABELS")
        .arg("FILTER")
        .arg("room=a")
        .query(c)
        .unwrap();
    assert_eq!(mget.len(), 2);
    assert_eq!(mget[1].0, "s2");
    assert_eq!(mget[1].2, (1000, 2.0));
    assert!(mget[1].1.contains(&("room".into(), "a".into())));
    let grouped: Vec<Series> = cmd("TS.MRANGE")
        .arg(&[
            "-",
            "+",
            "FILTER",
            "type=temp",
            "GROUPBY",
            "room",
            "REDUCE",
            "sum",
        ])
        .query(c)
        .unwrap();
    assert_eq!(grouped.len(), 2);
    assert_eq!(grouped[0].0, "room=a");
    assert_eq!(grouped[0].2, vec![(1000, 3.0)]);
    assert_eq!(grouped[1].2, vec![(1000, 5.0)]);
    let plain: Vec<Series> = cmd("TS.MREVRANGE")
        .arg(&["-", "+", "SELECTED_LABELS", "room", "FILTER", "type=temp"])
        .query(c)
        .unwrap();
    assert_eq!(
        plain.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
        vec!["s1", "s2", "s3"]
    );
    // RENAME keeps a series findable by its labels.
    let _: () = q(c, &["RENAME", "s3", "s3b"]).unwrap();
    assert_eq!(idx(c, &["room=b"]), vec!["s3b"]);
    // TS.MADD: per-sample replies, errors in place.
    // (Raw RESP: the client crate turns an error inside an array into an error of the call.)
    let reply = raw(&server, "TS.MADD s1 2000 1 nope 2000 1 s2 2000 x\r\n", 4);
    assert_eq!(
        reply,
        "*3\r\n:2000\r\n-ERR TSDB: the key does not exist\r\n-ERR TSDB: invalid value\r\n"
    );
    // TS.INCRBY / TS.DECRBY.
    let _: i64 = q(c, &["TS.INCRBY", "ctr", "5", "TIMESTAMP", "10"]).unwrap();
    let _: i64 = q(c, &["TS.INCRBY", "ctr", "5", "TIMESTAMP", "10"]).unwrap();
    let _: i64 = q(c, &["TS.DECRBY", "ctr", "2", "TIMESTAMP", "20"]).unwrap();
    assert_eq!(range(c, &["ctr", "-", "+"]), vec![(10, 10.0), (20, 8.0)]);
    assert!(err(q::<()>(c, &["TS.INCRBY", "ctr", "1", "TIMESTAMP", "5"])).contains("TSDB"));
}

#[test]
fn ten_thousand_series_and_recovery() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, &[]);
    let c = &mut server.client();
    let mut pipe = redis::pipe();
    for i in 0..10_000 {
        pipe.cmd("TS.ADD")
            .arg(format!("s{i}"))
            .arg(1000)
            .arg(i)
            .arg("LABELS")
            .arg("mod10")
            .arg(i % 10)
            .arg("mod7")
            .arg(i % 7)
            .ignore();
    }
    let _: () = pipe.query(c).unwrap();
    let count = |c: &mut Connection, f: &[&str]| {
        cmd("TS.QUERYINDEX")
            .arg(f)
            .query::<Vec<String>>(c)
            .unwrap()
            .len()
    };
    assert_eq!(count(c, &["mod10=3"]), 1000);
    assert_eq!(count(c, &["mod10=3", "mod7=(1,2)"]), 286);
    assert_eq!(count(c, &["mod10=3", "mod7!=(1,2)"]), 714);
    let _: () = q(c, &["TS.CREATE", "k", "CHUNK_SIZE", "64"]).unwrap();
    for t in 0..200 {
        let _: i64 = q(c, &["TS.ADD", "k", &t.to_string(), &(t * 2).to_string()]).unwrap();
    }
    let (clean, log) = server.stop();
    assert!(clean, "{log}");
    let server = Server::start(&data, &[]);
    let c = &mut server.client();
    assert_eq!(count(c, &["mod10=3", "mod7=(1,2)"]), 286);
    assert_eq!(range(c, &["k", "-", "+"]).len(), 200);
    for t in 200..260 {
        let _: i64 = q(c, &["TS.ADD", "k", &t.to_string(), &(t * 2).to_string()]).unwrap();
    }
    // SAVE checkpoints the open chunks (the samples above are in the log only), then more
    // samples go to the log, and a RENAME carries them along.
    let _: () = q(c, &["SAVE"]).unwrap();
    for t in 260..300 {
        let (ts, v) = (t.to_string(), (t * 2).to_string());
        let _: Vec<i64> = q(c, &["TS.MADD", "k", &ts, &v, "s1", &ts, &v]).unwrap();
    }
    let _: () = q(c, &["RENAME", "k", "k2"]).unwrap();
    let _: () = q(c, &["RENAME", "k2", "k"]).unwrap();
    server.kill9();
    let server = Server::start(&data, &[]);
    let c = &mut server.client();
    let all = range(c, &["k", "-", "+"]);
    assert_eq!(
        all,
        (0..300).map(|t| (t, (t * 2) as f64)).collect::<Vec<_>>()
    );
    assert_eq!(range(c, &["s1", "-", "+"]).len(), 41);
    assert_eq!(count(c, &["mod7=0"]), 1429);
    let (clean, log) = server.stop();
    assert!(clean, "{log}");
}

#[test]
fn resp3_replies_take_redistimeseries_shapes() {
    let (_tmp, server) = start();
    let client = redis::Client::open(format!("{}?protocol=resp3", server.url())).unwrap();
    let c = &mut client.get_connection().unwrap();
    for (k, room, v) in [("x", "a", "1.5"), ("y", "b", "2")] {
        let _: i64 = q(
            c,
            &["TS.ADD", k, "10", v, "LABELS", "room", room, "kind", "t"],
        )
        .unwrap();
    }
    // Replies checked against RedisTimeSeries 1.12 byte for byte (HELLO 3).
    let v: Value = cmd("TS.MGET")
        .arg(&["WITHLABELS", "FILTER", "kind=t"])
        .query(c)
        .unwrap();
    let Value::Map(entries) = v else {
        panic!("TS.MGET: {v:?}")
    };
    assert_eq!(entries.len(), 2);
    let (key, body) = &entries[0];
    assert_eq!(key, &Value::BulkString(b"x".to_vec()));
    let Value::Array(body) = body else {
        panic!("{body:?}")
    };
    assert!(matches!(&body[0], Value::Map(labels) if labels.len() == 2));
    assert_eq!(
        body[1],
        Value::Array(vec![Value::Int(10), Value::Double(1.5)])
    );
    let v: Value = cmd("TS.MRANGE")
        .arg(&["-", "+", "AGGREGATION", "sum", "10", "FILTER", "kind=t"])
        .query(c)
        .unwrap();
    let Value::Map(entries) = v else {
        panic!("TS.MRANGE: {v:?}")
    };
    let Value::Array(body) = &entries[1].1 else {
        panic!()
    };
    assert_eq!(body.len(), 3, "labels, aggregators, samples: {body:?}");
    assert!(matches!(&body[1], Value::Map(m) if m.len() == 1));
    let v: Value = cmd("TS.QUERYINDEX").arg("kind=t").query(c).unwrap();
    assert!(matches!(v, Value::Set(ref s) if s.len() == 2), "{v:?}");
    let v: Value = cmd("TS.MRANGE")
        .arg(&[
            "-", "+", "FILTER", "kind=t", "GROUPBY", "kind", "REDUCE", "sum",
        ])
        .query(c)
        .unwrap();
    let Value::Map(groups) = v else {
        panic!("GROUPBY: {v:?}")
    };
    let Value::Array(body) = &groups[0].1 else {
        panic!()
    };
    assert_eq!(
        body.len(),
        4,
        "labels, reducers, sources, samples: {body:?}"
    );
    assert_eq!(
        body[3],
        Value::Array(vec![Value::Array(vec![Value::Int(10), Value::Double(3.5)])])
    );
}

#[test]
fn concurrent_ingest_killed_mid_stream_keeps_every_acknowledged_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, &[]);
    let c = &mut server.client();
    let (writers, series) = (2, 20);
    for w in 0..writers {
        for s in 0..series {
            // Small chunks: seals (checkpoints) happen between the logged appends.
            let _: () = q(c, &["TS.CREATE", &format!("w{w}s{s}"), "CHUNK_SIZE", "64"]).unwrap();
        }
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let (mut c, stop) = (server.client(), std::sync::Arc::clone(&stop));
            std::thread::spawn(move || {
                // Every series of writer `w` holds timestamps 0..acked once acknowledged.
                let mut acked = 0i64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut m = cmd("TS.MADD");
                    for t in acked..acked + 10 {
                        for s in 0..series {
                            m.arg(format!("w{w}s{s}")).arg(t).arg(t * 2);
                        }
                    }
                    match m.query::<Vec<i64>>(&mut c) {
                        Ok(r) => assert_eq!(r.len(), 10 * series),
                        Err(_) => break,
                    }
                    acked += 10;
                }
                acked
            })
        })
        .collect();
    // Checkpoints (SAVE forces the pass and a flush) while the writers go on.
    for _ in 0..4 {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let _: () = q(c, &["SAVE"]).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    server.kill9();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acked: Vec<i64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(acked.iter().all(|a| *a > 0), "{acked:?}");
    let server = Server::start(&data, &[]);
    let c = &mut server.client();
    for (w, acked) in acked.iter().enumerate() {
        for s in 0..series {
            let got = range(c, &[&format!("w{w}s{s}"), "-", "+"]);
            // Every acknowledged sample, and at most the batch in flight at the kill.
            assert!(
                got.len() as i64 >= *acked && got.len() as i64 <= acked + 10,
                "w{w}s{s}: {} of {acked}",
                got.len()
            );
            assert!(got
                .iter()
                .enumerate()
                .all(|(i, &(t, v))| t == i as i64 && v == (t * 2) as f64));
        }
    }
    let (clean, log) = server.stop();
    assert!(clean, "{log}");
}
