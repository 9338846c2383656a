//! End-to-end tests of pipelines over the Redis protocol: the real `orbit serve` on a free
//! loopback port, driven by the `redis` client crate. Consecutive plain SETs are written a run
//! at a time (`Engine::execute_sets`); what a client sees must not change.
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
