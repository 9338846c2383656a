//! End-to-end tests of pipelines over the Redis protocol: the real `orbit serve` on a free
//! loopback port, driven by the `redis` client crate. Consecutive joinable commands (plain
//! SETs, INCRs; pushes, pops, SADDs, HSETs and ZADDs to one key) are written a run at a time
//! (`Engine::execute_run`); what a client sees must not change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::start;
use redis::{cmd, Commands};

/// Consecutive plain SETs in a pipeline are written as one batch: replies, order, a key set
/// twice, a hash replaced (its fields gone), and WATCH all as with one SET at a time.
#[test]
fn pipelined_sets_behave_as_one_at_a_time() {
    let (_tmp, server) = start();
    let (mut c, mut w) = (server.client(), server.client());
    let _: () = c.hset("h", "f", "v").unwrap();
    let _: () = cmd("WATCH").arg("k3").query(&mut w).unwrap();
    let got: (String, String, String, String, String, String) = redis::pipe()
        .cmd("SET")
        .arg("k1")
        .arg("1")
        .cmd("SET")
        .arg("k1")
        .arg("2")
        .cmd("SET")
        .arg("h")
        .arg("s")
        .cmd("SET")
        .arg("k3")
        .arg("x")
        .cmd("GET")
        .arg("k1")
        .cmd("TYPE")
        .arg("h")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        got,
        (
            "OK".into(),
            "OK".into(),
            "OK".into(),
            "OK".into(),
            "2".into(),
            "string".into()
        )
    );
    let exec: Option<(String,)> = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("k3")
        .arg("y")
        .query(&mut w)
        .unwrap();
    assert_eq!(
        exec, None,
        "the watched key was written by the pipelined run"
    );
    assert_eq!(c.get::<_, String>("k3").unwrap(), "x");
    let _: i64 = c.del("h").unwrap();
    let _: () = c.hset("h", "n", "1").unwrap();
    let all: std::collections::HashMap<String, String> = c.hgetall("h").unwrap();
    assert_eq!(all.len(), 1, "the replaced hash's fields are gone: {all:?}");
}

/// Runs of INCRs, pushes, pops, SADDs, HSETs and ZADDs answer as one command at a time
/// does, errors included, and a blocked BLPOP is woken by a pushed run.
#[test]
fn pipelined_runs_of_increments_pushes_and_adds_answer_in_turn() {
    let (_tmp, server) = start();
    let (mut c, mut b) = (server.client(), server.client());
    let _: () = c.set("s", "text").unwrap();
    let waiter = std::thread::spawn(move || {
        let got: Option<(String, String)> = cmd("BLPOP").arg("q").arg(10).query(&mut b).unwrap();
        got
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut p = redis::pipe();
    p.cmd("INCR")
        .arg("n")
        .cmd("INCRBY")
        .arg("n")
        .arg(5)
        .cmd("DECR")
        .arg("n");
    p.cmd("INCR").arg("s");
    p.cmd("RPUSH")
        .arg("q")
        .arg("a")
        .cmd("RPUSH")
        .arg("q")
        .arg("b")
        .arg("c");
    p.cmd("SADD")
        .arg("set")
        .arg("x")
        .cmd("SADD")
        .arg("set")
        .arg("x")
        .arg("y");
    p.cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("1")
        .cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("2")
        .arg("g")
        .arg("3");
    let replies: Vec<redis::Value> = p.ignore_errors().query(&mut c).unwrap();
    let ints: Vec<Option<i64>> = replies
        .iter()
        .map(|v| match v {
            redis::Value::Int(i) => Some(*i),
            _ => None,
        })
        .collect();
    assert_eq!(
        ints,
        vec![
            Some(1),
            Some(6),
            Some(5),
            None,
            Some(1),
            Some(3),
            Some(1),
            Some(1),
            Some(1),
            Some(1)
        ]
    );
    assert!(
        matches!(&replies[3], redis::Value::ServerError(e) if e.details().unwrap_or_default().contains("not an integer")),
        "{:?}",
        replies[3]
    );
    assert_eq!(waiter.join().unwrap(), Some(("q".into(), "a".into())));
    let rest: Vec<String> = c.lrange("q", 0, -1).unwrap();
    assert!(rest == ["b", "c"], "{rest:?}");
    type Popped = Option<String>;
    let got: (i64, i64, Popped, Popped, Popped) = redis::pipe()
        .cmd("ZADD")
        .arg("z")
        .arg(1)
        .arg("a")
        .cmd("ZADD")
        .arg("z")
        .arg(2)
        .arg("a")
        .arg(3)
        .arg("b")
        .cmd("LPOP")
        .arg("q")
        .cmd("LPOP")
        .arg("q")
        .cmd("LPOP")
        .arg("q")
        .query(&mut c)
        .unwrap();
    assert_eq!(got, (1, 1, Some("b".into()), Some("c".into()), None));
    let z: Vec<(String, f64)> = c.zrange_withscores("z", 0, -1).unwrap();
    assert_eq!(z, vec![("a".into(), 2.0), ("b".into(), 3.0)]);
    let h: std::collections::BTreeMap<String, String> = c.hgetall("h").unwrap();
    assert_eq!(
        h.into_iter().collect::<Vec<_>>(),
        vec![("f".into(), "2".into()), ("g".into(), "3".into())]
    );
}

/// Consecutive GETs in a pipeline are looked up as one batch: values, missing and expired
/// keys, a key of another type (WRONGTYPE for that GET alone), a binary key, and values the
/// pipeline wrote just before, all as one GET at a time answers.
#[test]
fn pipelined_gets_answer_as_one_at_a_time() {
    let (_tmp, server) = start();
    let mut c = server.client();
    let _: () = c.set("a", "1").unwrap();
    let _: () = c.set(b"k\r\n\0".as_slice(), "bin").unwrap();
    let _: () = c.hset("h", "f", "v").unwrap();
    let _: () = cmd("SET")
        .arg("gone")
        .arg("x")
        .arg("PX")
        .arg(1)
        .query(&mut c)
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut p = redis::pipe();
    p.cmd("SET").arg("b").arg("2");
    for key in [&b"a"[..], b"b", b"h", b"none", b"gone", b"k\r\n\0", b"a"] {
        p.cmd("GET").arg(key);
    }
    let replies: Vec<redis::Value> = p.ignore_errors().query(&mut c).unwrap();
    let bulk = |s: &str| redis::Value::BulkString(s.as_bytes().to_vec());
    assert_eq!(replies.len(), 8);
    assert_eq!(replies[1], bulk("1"));
    assert_eq!(replies[2], bulk("2"));
    assert!(
        matches!(&replies[3], redis::Value::ServerError(e) if e.code() == "WRONGTYPE"),
        "{:?}",
        replies[3]
    );
    assert_eq!(replies[4], redis::Value::Nil);
    assert_eq!(replies[5], redis::Value::Nil, "the expired key");
    assert_eq!(replies[6], bulk("bin"));
    assert_eq!(replies[7], bulk("1"));
}
