//! End-to-end tests of blocked clients (BLPOP and friends) against the real `orbit serve`:
//! they are served in the order they blocked, and a key created with another kind of value
//! leaves them waiting, as Redis 7 does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::thread::{sleep, JoinHandle};
use std::time::Duration;

use common::{blocked_clients, start, Server};
use redis::{cmd, Commands, Value};

/// Starts a client blocked in `command` (its arguments, then the timeout `secs`), waits until
/// the server has it queued, and returns its reply when it comes.
fn blocked(server: &Server, command: &[&str], secs: f64) -> JoinHandle<Value> {
    let mut info = server.client();
    let before = blocked_clients(&mut info);
    let mut c = server.client();
    let (name, rest) = command.split_first().unwrap();
    let mut q = cmd(name);
    for a in rest {
        q.arg(*a);
    }
    q.arg(secs);
    let waiter = std::thread::spawn(move || q.query::<Value>(&mut c).unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while blocked_clients(&mut info) <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "{command:?} never blocked"
        );
        sleep(Duration::from_millis(5));
    }
    waiter
}

fn pair(key: &str, element: &str) -> Value {
    Value::Array(vec![
        Value::BulkString(key.into()),
        Value::BulkString(element.into()),
    ])
}

/// Clients blocked on one key are served first come, first served: one push of three
/// elements gives the first client the first element, and so on, and a later client waits.
#[test]
fn blocked_clients_are_served_in_the_order_they_blocked() {
    let (_tmp, server) = start();
    let mut c = server.client();
    for round in 0..3 {
        let waiters: Vec<_> = [10.0, 10.0, 10.0, 0.5]
            .into_iter()
            .map(|secs| blocked(&server, &["BLPOP", "q"], secs))
            .collect();
        let _: i64 = c.rpush("q", &["a", "b", "c"]).unwrap();
        let got: Vec<Value> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        assert_eq!(
            got,
            [pair("q", "a"), pair("q", "b"), pair("q", "c"), Value::Nil],
            "round {round}"
        );
    }
}

/// A key created with another kind of value leaves a blocked client waiting (Redis checks
/// the kind before it serves one): it is served once the key holds a list again, or times
/// out with nil, never answering WRONGTYPE for a key that was empty when it blocked.
#[test]
fn a_key_of_another_kind_leaves_a_blocked_client_waiting() {
    let (_tmp, server) = start();
    let mut c = server.client();
    // Created as a string, then replaced by a list.
    let waiter = blocked(&server, &["BLPOP", "k"], 5.0);
    let _: () = c.set("k", "s").unwrap();
    sleep(Duration::from_millis(150));
    let _: i64 = c.del("k").unwrap();
    let _: i64 = c.rpush("k", "x").unwrap();
    assert_eq!(waiter.join().unwrap(), pair("k", "x"));
    // A sorted-set client and a list client on one key: each is served by its own kind.
    let list = blocked(&server, &["BLPOP", "m"], 2.0);
    let zset = blocked(&server, &["BZPOPMIN", "m"], 5.0);
    let _: i64 = c.zadd("m", "member", 1).unwrap();
    let v = zset.join().unwrap();
    assert!(
        matches!(&v, Value::Array(a) if a.len() == 3 && a[1] == Value::BulkString(b"member".to_vec())),
        "{v:?}"
    );
    assert_eq!(list.join().unwrap(), Value::Nil, "timed out, not WRONGTYPE");
    // A string that stays: nil at the timeout, and the string is untouched.
    let waiter = blocked(&server, &["BRPOP", "s"], 0.5);
    let _: () = c.set("s", "v").unwrap();
    assert_eq!(waiter.join().unwrap(), Value::Nil);
    assert_eq!(c.get::<_, String>("s").unwrap(), "v");
    // BLMOVE waits on its source only: a push to its destination serves the client blocked
    // there, not the mover.
    let mover = blocked(&server, &["BLMOVE", "src", "dst", "LEFT", "RIGHT"], 5.0);
    let popper = blocked(&server, &["BLPOP", "dst"], 5.0);
    let _: i64 = c.rpush("dst", "d").unwrap();
    assert_eq!(popper.join().unwrap(), pair("dst", "d"));
    let _: i64 = c.rpush("src", "x").unwrap();
    assert_eq!(mover.join().unwrap(), Value::BulkString(b"x".to_vec()));
    assert_eq!(c.lrange::<_, Vec<String>>("dst", 0, -1).unwrap(), ["x"]);
}

/// When a client that was woken goes away, or times out, the element it did not take goes
/// to the next client in line.
#[test]
fn a_client_leaving_the_queue_passes_its_turn_on() {
    let (_tmp, server) = start();
    let mut c = server.client();
    // The first client times out: it leaves the queue, and the second is first in line.
    let first = blocked(&server, &["BLPOP", "q"], 0.3);
    let second = blocked(&server, &["BLPOP", "q"], 10.0);
    assert_eq!(first.join().unwrap(), Value::Nil);
    let _: i64 = c.rpush("q", "job").unwrap();
    assert_eq!(second.join().unwrap(), pair("q", "job"));
    // A client blocked on two keys is served from the first; the element it leaves on the
    // other goes to the client queued behind it there.
    let both = blocked(&server, &["BLPOP", "a", "b"], 5.0);
    let behind = blocked(&server, &["BLPOP", "b"], 5.0);
    let _: Value = redis::pipe()
        .atomic()
        .rpush("b", "for-behind")
        .rpush("a", "for-both")
        .query(&mut c)
        .unwrap();
    assert_eq!(both.join().unwrap(), pair("a", "for-both"));
    assert_eq!(behind.join().unwrap(), pair("b", "for-behind"));
}
