//! The time series' heads and write log against a model: random appends, out-of-order
//! updates, range deletes, DEL, RENAME and maintenance passes, with crashes (only synced data
//! survives) and clean restarts in between; every acknowledged sample must be there after each.

use orbit_env::{CrashMode, SimFs};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};

use crate::reply::Reply;
use crate::{Engine, Session};

type Model = HashMap<String, BTreeMap<i64, f64>>;

fn open(fs: &SimFs) -> Engine {
    crate::tests::engine_on(fs, 64 << 10)
}

fn run(e: &Engine, args: &[String]) -> Reply {
    let mut s = Session::new(1, "test".into(), false);
    let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    let (reply, pending) = e.execute(&mut s, &args);
    for p in pending {
        p.wait().unwrap();
    }
    reply
}

fn cmd(parts: &[&dyn ToString]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

#[derive(Debug, Clone)]
enum Op {
    /// TS.ADD (creating the series, LAST on duplicates).
    Add(usize, i64, i64),
    /// TS.MADD of several samples (BLOCK on duplicates).
    Madd(Vec<(usize, i64, i64)>),
    /// TS.DEL of a time range.
    DelRange(usize, i64, i64),
    Del(usize),
    Rename(usize, usize),
    Maintain(bool),
    Crash,
    Restart,
}

const KEYS: [&str; 3] = ["a", "b", "{x}c"];

fn op() -> impl Strategy<Value = Op> {
    let k = 0..KEYS.len();
    prop_oneof![
        8 => (k.clone(), 0i64..400, -50i64..50).prop_map(|(k, t, v)| Op::Add(k, t, v)),
        6 => proptest::collection::vec((k.clone(), 0i64..400, -50i64..50), 1..12).prop_map(Op::Madd),
        1 => (k.clone(), 0i64..400, 0i64..60).prop_map(|(k, t, n)| Op::DelRange(k, t, t + n)),
        1 => k.clone().prop_map(Op::Del),
        1 => (k.clone(), k).prop_map(|(a, b)| Op::Rename(a, b)),
        2 => any::<bool>().prop_map(Op::Maintain),
        1 => Just(Op::Crash),
        1 => Just(Op::Restart),
    ]
}

fn apply(e: &Engine, model: &mut Model, op: &Op) {
    match op {
        Op::Add(k, t, v) => {
            let key = KEYS[*k];
            let r = run(
                e,
                &cmd(&[
                    &"TS.ADD",
                    &key,
                    t,
                    v,
                    &"ON_DUPLICATE",
                    &"LAST",
                    &"CHUNK_SIZE",
                    &48,
                ]),
            );
            assert_eq!(r, Reply::Int(*t), "{op:?}");
            model.entry(key.into()).or_default().insert(*t, *v as f64);
        }
        Op::Madd(samples) => {
            let mut args = vec!["TS.MADD".to_string()];
            for (k, t, v) in samples {
                args.extend(cmd(&[&KEYS[*k], t, v]));
            }
            let Reply::Array(replies) = run(e, &args) else {
                panic!("TS.MADD did not answer an array");
            };
            for ((k, t, v), r) in samples.iter().zip(replies) {
                let series = model.get_mut(KEYS[*k]);
                match series {
                    Some(s) if !s.contains_key(t) => {
                        assert_eq!(r, Reply::Int(*t), "{op:?}");
                        s.insert(*t, *v as f64);
                    }
                    _ => assert!(matches!(r, Reply::Error(_)), "{op:?}: {r:?}"),
                }
            }
        }
        Op::DelRange(k, from, to) => {
            let key = KEYS[*k];
            let r = run(e, &cmd(&[&"TS.DEL", &key, from, to]));
            match model.get_mut(key) {
                Some(s) => {
                    let gone: Vec<i64> = s.range(from..=to).map(|(t, _)| *t).collect();
                    assert_eq!(r, Reply::Int(gone.len() as i64), "{op:?}");
                    for t in gone {
                        s.remove(&t);
                    }
                }
                None => assert!(matches!(r, Reply::Error(_))),
            }
        }
        Op::Del(k) => {
            let key = KEYS[*k];
            let r = run(e, &cmd(&[&"DEL", &key]));
            let had = model.remove(key).is_some();
            assert_eq!(r, Reply::Int(i64::from(had)));
        }
        Op::Rename(a, b) => {
            let (a, b) = (KEYS[*a], KEYS[*b]);
            let r = run(e, &cmd(&[&"RENAME", &a, &b]));
            match model.remove(a) {
                Some(s) => {
                    assert_eq!(r, Reply::OK);
                    model.insert(b.into(), s);
                }
                None => assert!(matches!(r, Reply::Error(_))),
            }
        }
        Op::Maintain(force) => {
            e.ts_maintenance(*force).unwrap();
        }
        Op::Crash | Op::Restart => unreachable!("handled by the caller"),
    }
}

fn check(e: &Engine, model: &Model, when: &str) {
    for key in KEYS {
        let r = run(e, &cmd(&[&"TS.RANGE", &key, &"-", &"+"]));
        match model.get(key) {
            None => assert_eq!(
                run(e, &cmd(&[&"EXISTS", &key])),
                Reply::Int(0),
                "{key} {when}"
            ),
            Some(s) => {
                let want: Vec<Reply> = s
                    .iter()
                    .map(|(t, v)| Reply::Array(vec![Reply::Int(*t), Reply::SimpleDouble(*v)]))
                    .collect();
                assert_eq!(r, Reply::Array(want), "{key} {when}");
                let Reply::Map(info) = run(e, &cmd(&[&"TS.INFO", &key])) else {
                    panic!("TS.INFO");
                };
                let total = info
                    .into_iter()
                    .find(|(k, _)| *k == Reply::Simple("totalSamples"))
                    .map(|(_, v)| v);
                assert_eq!(total, Some(Reply::Int(s.len() as i64)), "{key} {when}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn acknowledged_samples_survive_crashes_restarts_and_checkpoints(
        ops in proptest::collection::vec(op(), 1..60)
    ) {
        let mut fs = SimFs::new();
        let mut e = open(&fs);
        let mut model = Model::new();
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::Crash => {
                    let crashed = fs.crash(CrashMode::DropUnsynced);
                    drop(e);
                    fs = crashed;
                    e = open(&fs);
                    check(&e, &model, &format!("after the crash at op {i}"));
                }
                Op::Restart => {
                    drop(e);
                    e = open(&fs);
                    check(&e, &model, &format!("after the restart at op {i}"));
                }
                op => apply(&e, &mut model, op),
            }
        }
        check(&e, &model, "at the end");
    }
}

#[test]
fn the_log_is_replayed_at_start_and_trimmed_by_a_checkpoint() {
    let fs = SimFs::new();
    let e = open(&fs);
    for t in 1..=100 {
        run(&e, &cmd(&[&"TS.ADD", &"s", &t, &(t * 2)]));
    }
    assert!(!e.store.tslog_records().unwrap().is_empty());
    // Killed: the samples are only in the log, and come back from it.
    let crashed = fs.crash(CrashMode::DropUnsynced);
    drop(e);
    let e = open(&crashed);
    let r = run(&e, &cmd(&[&"TS.GET", &"s"]));
    assert_eq!(
        r,
        Reply::Array(vec![Reply::Int(100), Reply::SimpleDouble(200.0)])
    );
    // A forced pass writes the checkpoint and empties the log.
    e.ts_maintenance(true).unwrap();
    assert!(e.store.tslog_records().unwrap().is_empty());
    let crashed = crashed.crash(CrashMode::DropUnsynced);
    drop(e);
    let e = open(&crashed);
    let Reply::Array(all) = run(&e, &cmd(&[&"TS.RANGE", &"s", &"-", &"+"])) else {
        panic!("TS.RANGE");
    };
    assert_eq!(all.len(), 100);
}

#[test]
fn the_compaction_filter_drops_chunks_past_retention_and_forgets_replaced_keys() {
    use orbit_lsm::{CompactionDecision, CompactionFilter};
    let fs = SimFs::new();
    let opts = orbit_lsm::DbOptions {
        memtable_bytes: 1 << 20,
        ..orbit_lsm::DbOptions::default()
    };
    let db = orbit_lsm::Db::open(fs.shared(), "/db", opts).unwrap();
    let filter = crate::ExpiryFilter::new();
    let store = crate::Store::open(
        orbit_txn::TxnDb::new(std::sync::Arc::new(db)),
        Some(&filter),
    );
    let e = Engine::new(store.unwrap(), crate::Config::default());
    run(
        &e,
        &cmd(&[&"TS.CREATE", &"s", &"RETENTION", &100, &"CHUNK_SIZE", &48]),
    );
    for t in 0..400 {
        run(&e, &cmd(&[&"TS.ADD", &"s", &t, &t]));
    }
    e.ts_maintenance(true).unwrap();
    let chunk = |key: &str, last: i64| {
        let mut m = vec![b'c'];
        m.extend_from_slice(&((last as u64) ^ (1 << 63)).to_be_bytes());
        crate::store::Store::sub_key(0, key.as_bytes(), &m)
    };
    let sub = e.store.sub_keyspace();
    let decide = |k: &[u8]| filter.filter(sub, k, b"");
    // Newest sample 399, retention 100: chunks ending before 299 may go.
    assert_eq!(decide(&chunk("s", 250)), CompactionDecision::Remove);
    assert_eq!(decide(&chunk("s", 299)), CompactionDecision::Keep);
    assert_eq!(decide(&chunk("other", 5)), CompactionDecision::Keep);
    let mut not_chunk = crate::store::Store::sub_key(0, b"s", b"o");
    assert_eq!(decide(&not_chunk), CompactionDecision::Keep);
    not_chunk.truncate(3);
    assert_eq!(decide(&not_chunk), CompactionDecision::Keep);
    // Renamed away, the key's cutoff goes; the new key has none until its next checkpoint.
    assert_eq!(run(&e, &cmd(&[&"RENAME", &"s", &"s2"])), Reply::OK);
    assert_eq!(decide(&chunk("s", 250)), CompactionDecision::Keep);
    assert_eq!(decide(&chunk("s2", 250)), CompactionDecision::Keep);
    run(&e, &cmd(&[&"TS.ADD", &"s2", &400, &1]));
    e.ts_maintenance(true).unwrap();
    assert_eq!(decide(&chunk("s2", 250)), CompactionDecision::Remove);
    // Restarted: the cutoffs come back from the stored metadata.
    drop(e);
    let db = orbit_lsm::Db::open(fs.shared(), "/db", orbit_lsm::DbOptions::default()).unwrap();
    let filter = crate::ExpiryFilter::new();
    let store = crate::Store::open(
        orbit_txn::TxnDb::new(std::sync::Arc::new(db)),
        Some(&filter),
    );
    let e = Engine::new(store.unwrap(), crate::Config::default());
    let sub = e.store.sub_keyspace();
    assert_eq!(
        filter.filter(sub, &chunk("s2", 250), b""),
        CompactionDecision::Remove
    );
    run(&e, &cmd(&[&"DEL", &"s2"]));
    assert_eq!(
        filter.filter(sub, &chunk("s2", 250), b""),
        CompactionDecision::Keep
    );
}

#[test]
fn a_bulk_madd_goes_in_bounded_records_and_survives_a_crash() {
    let fs = SimFs::new();
    let e = open(&fs);
    for k in ["x", "y"] {
        run(&e, &cmd(&[&"TS.CREATE", &k, &"CHUNK_SIZE", &1_048_576]));
    }
    let mut args = vec!["TS.MADD".to_string()];
    for t in 0..40_000 {
        args.extend(cmd(&[&"x", &t, &(t % 7)]));
        args.extend(cmd(&[&"y", &t, &(t % 5)]));
    }
    let Reply::Array(r) = run(&e, &args) else {
        panic!("TS.MADD");
    };
    assert_eq!(r.len(), 80_000);
    let records = e.store.tslog_records().unwrap();
    assert!(records.len() >= 3, "{} records", records.len());
    assert!(records.iter().all(|(_, r)| r.len() < 2 << 20));
    let crashed = fs.crash(CrashMode::DropUnsynced);
    drop(e);
    let e = open(&crashed);
    for k in ["x", "y"] {
        let Reply::Array(all) = run(&e, &cmd(&[&"TS.RANGE", &k, &"-", &"+"])) else {
            panic!("TS.RANGE");
        };
        assert_eq!(all.len(), 40_000, "{k}");
    }
}

/// A rule whose destination was deleted and replaced by another type ends (as in
/// RedisTimeSeries, where deleting the destination removes the rule): the source's samples,
/// acknowledged before and added after, all stand.
#[test]
fn a_rule_to_a_replaced_destination_does_not_fail_the_source() {
    let fs = SimFs::new();
    let e = open(&fs);
    for c in [
        cmd(&[&"TS.CREATE", &"src", &"CHUNK_SIZE", &48]),
        cmd(&[&"TS.CREATE", &"dst"]),
        cmd(&[
            &"TS.CREATERULE",
            &"src",
            &"dst",
            &"AGGREGATION",
            &"sum",
            &10,
        ]),
    ] {
        assert_eq!(run(&e, &c), Reply::Simple("OK"), "{c:?}");
    }
    run(&e, &cmd(&[&"TS.ADD", &"src", &10, &1]));
    run(&e, &cmd(&[&"TS.ADD", &"src", &20, &1]));
    run(&e, &cmd(&[&"DEL", &"dst"]));
    run(&e, &cmd(&[&"SET", &"dst", &"x"]));
    // Each one closes a bucket for the replaced destination; enough to fill a chunk.
    for t in (30..200).step_by(10) {
        assert_eq!(
            run(&e, &cmd(&[&"TS.ADD", &"src", &t, &1])),
            Reply::Int(t),
            "TS.ADD at {t}"
        );
    }
    let Reply::Array(all) = run(&e, &cmd(&[&"TS.RANGE", &"src", &"-", &"+"])) else {
        panic!("TS.RANGE");
    };
    assert_eq!(all.len(), 19);
    assert_eq!(run(&e, &cmd(&[&"GET", &"dst"])), Reply::bulk("x"));
    let crashed = fs.crash(CrashMode::DropUnsynced);
    drop(e);
    let e = open(&crashed);
    let Reply::Array(all) = run(&e, &cmd(&[&"TS.RANGE", &"src", &"-", &"+"])) else {
        panic!("TS.RANGE after a crash");
    };
    assert_eq!(all.len(), 19);
}

/// A copy of a series is a series of its own: after a crash, the write log's records of an
/// earlier series at the copy's key (a copy of the same source) are not replayed into it.
#[test]
fn a_copied_series_takes_no_samples_of_the_one_it_replaced() {
    let fs = SimFs::new();
    let e = open(&fs);
    run(&e, &cmd(&[&"TS.CREATE", &"a"]));
    assert_eq!(run(&e, &cmd(&[&"COPY", &"a", &"b"])), Reply::Int(1));
    assert_eq!(run(&e, &cmd(&[&"TS.ADD", &"b", &100, &1])), Reply::Int(100));
    assert_eq!(
        run(&e, &cmd(&[&"COPY", &"a", &"b", &"REPLACE"])),
        Reply::Int(1)
    );
    let range = |e: &Engine| run(e, &cmd(&[&"TS.RANGE", &"b", &"-", &"+"]));
    assert_eq!(range(&e), Reply::Array(vec![]));
    let crashed = fs.crash(CrashMode::DropUnsynced);
    drop(e);
    let e = open(&crashed);
    assert_eq!(range(&e), Reply::Array(vec![]), "after a crash");
    // The copy takes samples of its own.
    assert_eq!(run(&e, &cmd(&[&"TS.ADD", &"b", &5, &2])), Reply::Int(5));
    let crashed = crashed.crash(CrashMode::DropUnsynced);
    drop(e);
    let e = open(&crashed);
    assert_eq!(
        range(&e),
        Reply::Array(vec![Reply::Array(vec![
            Reply::Int(5),
            Reply::SimpleDouble(2.0)
        ])])
    );
}
