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

/// Many connections pushing, adding and popping on one key at once, pipelined and not, over
/// four workers: a run whose key's stripe another worker holds is run by that worker with its
/// own (`combine` in orbit-resp). Every reply must still be what running the commands one at
/// a time, in some order, gives: an LPUSH's reply is the list's length after it, so its value
/// sits that far from the tail; a member is new to exactly one SADD; LPOPs from a list of
/// 0, 1, 2, ... take each number once, in increasing order on each connection; and values
/// pushed to a list while other connections pop from it are each popped once or left.
#[test]
fn contended_runs_on_one_key_answer_each_command() {
    const CLIENTS: usize = 16;
    const ROUNDS: usize = 60;
    const DEPTH: usize = 16;
    let tmp = tempfile::tempdir().unwrap();
    let server = common::Server::start(&tmp.path().join("data"), &["--threads", "4"]);
    let total = CLIENTS * ROUNDS * DEPTH;
    let mut c = server.client();
    let mut fill = redis::pipe();
    for n in 0..total {
        fill.cmd("RPUSH").arg("q").arg(n).ignore();
    }
    let _: () = fill.query(&mut c).unwrap();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let mut conn = server.client();
            // A reply lost or misplaced shows as a timeout, not a hang.
            conn.set_read_timeout(Some(std::time::Duration::from_secs(60)))
                .unwrap();
            std::thread::spawn(move || {
                let (mut pushed, mut added, mut popped) = (Vec::new(), Vec::new(), Vec::new());
                let mut taken = Vec::new();
                for round in 0..ROUNDS {
                    // Every third round one command at a time, the others pipelined.
                    let depth = if round % 3 == 0 { 1 } else { DEPTH };
                    for start in (0..DEPTH).step_by(depth) {
                        let (mut push, mut add, mut pop) =
                            (redis::pipe(), redis::pipe(), redis::pipe());
                        let values: Vec<String> = (start..start + depth)
                            .map(|i| format!("{id}:{round}:{i}"))
                            .collect();
                        let members: Vec<usize> = (start..start + depth)
                            .map(|i| (id * 7 + round * DEPTH + i) % 211)
                            .collect();
                        for (v, m) in values.iter().zip(&members) {
                            push.cmd("LPUSH").arg("list").arg(v);
                            add.cmd("SADD").arg("set").arg(m);
                            pop.cmd("LPOP").arg("q");
                        }
                        let lens: Vec<usize> = push.query(&mut conn).unwrap();
                        pushed.extend(values.into_iter().zip(lens));
                        let new: Vec<usize> = add.query(&mut conn).unwrap();
                        added.extend(members.into_iter().zip(new));
                        let got: Vec<usize> = pop.query(&mut conn).unwrap();
                        popped.push(got);
                        // Pushes and pops on one list from different connections: runs
                        // of another kind wait their turn (sent back, then run).
                        let mut mixed = redis::pipe();
                        for i in start..start + depth {
                            if id % 2 == 0 {
                                mixed
                                    .cmd("RPUSH")
                                    .arg("mixed")
                                    .arg(format!("{id}:{round}:{i}"));
                            } else {
                                mixed.cmd("LPOP").arg("mixed");
                            }
                        }
                        if id % 2 == 0 {
                            let _: Vec<usize> = mixed.query(&mut conn).unwrap();
                        } else {
                            let got: Vec<Option<String>> = mixed.query(&mut conn).unwrap();
                            taken.extend(got.into_iter().flatten());
                        }
                    }
                }
                (pushed, added, popped, taken)
            })
        })
        .collect();
    let mut all_pushed = Vec::new();
    let mut new_per_member = std::collections::BTreeMap::new();
    let mut all_popped = Vec::new();
    let mut all_taken = Vec::new();
    for client in clients {
        let (pushed, added, popped, taken) = client.join().unwrap();
        all_taken.extend(taken);
        let lens: Vec<usize> = pushed.iter().map(|(_, l)| *l).collect();
        assert!(
            lens.windows(2).all(|w| w[0] < w[1]),
            "a connection's pushes grow the list"
        );
        all_pushed.extend(pushed);
        for (m, new) in added {
            *new_per_member.entry(m).or_insert(0) += new;
        }
        let flat: Vec<usize> = popped.into_iter().flatten().collect();
        assert!(
            flat.windows(2).all(|w| w[0] < w[1]),
            "a connection pops in list order"
        );
        all_popped.extend(flat);
    }
    let list: Vec<String> = c.lrange("list", 0, -1).unwrap();
    assert_eq!(list.len(), total);
    for (value, len) in &all_pushed {
        assert_eq!(
            &list[total - len],
            value,
            "the reply of the LPUSH of {value}"
        );
    }
    assert!(
        new_per_member.values().all(|&n| n == 1),
        "{new_per_member:?}"
    );
    let card: usize = c.scard("set").unwrap();
    assert_eq!(card, new_per_member.len());
    all_popped.sort_unstable();
    assert_eq!(all_popped, (0..total).collect::<Vec<_>>());
    let left: usize = c.llen("q").unwrap();
    assert_eq!(left, 0);
    // Every value pushed to the mixed list was popped once or is still there.
    let rest: Vec<String> = c.lrange("mixed", 0, -1).unwrap();
    all_taken.extend(rest);
    all_taken.sort();
    let mut want: Vec<String> = (0..CLIENTS)
        .step_by(2)
        .flat_map(|id| {
            (0..ROUNDS).flat_map(move |r| (0..DEPTH).map(move |i| format!("{id}:{r}:{i}")))
        })
        .collect();
    want.sort();
    assert_eq!(all_taken, want);
    // Runs were handed on: what this test is about.
    let handed = common::metric(server.http_port, "orbit_resp_runs_handed_total");
    assert!(handed > 0);
}
