//! End-to-end tests of the Redis protocol: the real `orbit serve` on a free loopback port,
//! driven by the `redis` client crate (and raw sockets for malformed input).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{err, http_get, start, Server};
use redis::{cmd, Commands, Value};

#[test]
fn strings_keys_and_expiry_behave_like_redis() {
    let (_tmp, server) = start();
    let mut c = server.client();
    assert_eq!(cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    assert_eq!(c.incr::<_, _, i64>("n", 5).unwrap(), 5);
    assert_eq!(c.decr::<_, _, i64>("n", 2).unwrap(), 3);
    assert_eq!(
        cmd("INCRBYFLOAT")
            .arg("f")
            .arg("10.5")
            .query::<String>(&mut c)
            .unwrap(),
        "10.5"
    );
    assert_eq!(c.append::<_, _, i64>("k", "xyz").unwrap(), 4);
    assert_eq!(c.getrange::<_, String>("k", 1, -1).unwrap(), "xyz");
    assert_eq!(c.setrange::<_, _, i64>("pad", 3, "ab").unwrap(), 5);
    assert_eq!(c.get::<_, Vec<u8>>("pad").unwrap(), b"\0\0\0ab");
    let _: () = redis::cmd("MSET")
        .arg("a")
        .arg(1)
        .arg("b")
        .arg(2)
        .query(&mut c)
        .unwrap();
    assert_eq!(
        c.mget::<_, Vec<Option<String>>>(&["a", "b", "nope"])
            .unwrap(),
        vec![Some("1".into()), Some("2".into()), None]
    );
    // SET options.
    assert_eq!(
        cmd("SET")
            .arg("a")
            .arg("x")
            .arg("NX")
            .query::<Option<String>>(&mut c)
            .unwrap(),
        None
    );
    assert_eq!(
        cmd("SET")
            .arg("a")
            .arg("y")
            .arg("XX")
            .arg("GET")
            .query::<Option<String>>(&mut c)
            .unwrap(),
        Some("1".into())
    );
    assert_eq!(
        cmd("SET")
            .arg("e")
            .arg("v")
            .arg("EX")
            .arg(100)
            .query::<String>(&mut c)
            .unwrap(),
        "OK"
    );
    let ttl: i64 = c.ttl("e").unwrap();
    assert!((99..=100).contains(&ttl), "{ttl}");
    assert_eq!(c.ttl::<_, i64>("a").unwrap(), -1);
    assert_eq!(c.ttl::<_, i64>("missing").unwrap(), -2);
    assert!(c.persist::<_, bool>("e").unwrap());
    assert_eq!(c.ttl::<_, i64>("e").unwrap(), -1);
    let _: () = cmd("PSETEX")
        .arg("short")
        .arg(50)
        .arg("v")
        .query(&mut c)
        .unwrap();
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(
        c.get::<_, Option<String>>("short").unwrap(),
        None,
        "expired"
    );
    assert!(!c.exists::<_, bool>("short").unwrap());
    // Keys.
    assert_eq!(
        cmd("TYPE").arg("a").query::<String>(&mut c).unwrap(),
        "string"
    );
    let _: () = c.rename("a", "a2").unwrap();
    assert_eq!(c.get::<_, String>("a2").unwrap(), "y");
    assert_eq!(c.del::<_, i64>(&["a2", "b", "nope"]).unwrap(), 2);
    let mut keys: Vec<String> = c.keys("*").unwrap();
    keys.sort();
    assert_eq!(keys, vec!["e", "f", "k", "n", "pad"]);
    let mut scanned: Vec<String> = c
        .scan_match::<_, String>("*")
        .unwrap()
        .map(Result::unwrap)
        .collect();
    scanned.sort();
    assert_eq!(scanned, keys);
    assert_eq!(cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 5);
    // Errors, word for word.
    assert_eq!(
        err(c.incr::<_, _, i64>("k", 1)),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(cmd("GET").query::<String>(&mut c)),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        err(cmd("NOSUCH").arg("x").query::<String>(&mut c)),
        "ERR unknown command 'NOSUCH', with args beginning with: 'x'"
    );
    assert_eq!(
        err(cmd("SET")
            .arg("a")
            .arg("b")
            .arg("EX")
            .query::<String>(&mut c)),
        "ERR syntax error"
    );
    assert_eq!(
        err(cmd("SET")
            .arg("a")
            .arg("b")
            .arg("EX")
            .arg(0)
            .query::<String>(&mut c)),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        err(cmd("SELECT").arg(16).query::<String>(&mut c)),
        "ERR DB index is out of range"
    );
}

#[test]
fn hashes_and_wrong_types() {
    let (_tmp, server) = start();
    let mut c = server.client();
    assert_eq!(
        c.hset_multiple::<_, _, _, String>("h", &[("f1", "v1"), ("f2", "v2")])
            .unwrap(),
        "OK"
    );
    assert_eq!(c.hset::<_, _, _, i64>("h", "f3", "v3").unwrap(), 1);
    assert_eq!(c.hset::<_, _, _, i64>("h", "f3", "v3b").unwrap(), 0);
    assert_eq!(c.hget::<_, _, String>("h", "f3").unwrap(), "v3b");
    assert_eq!(c.hlen::<_, i64>("h").unwrap(), 3);
    let all: std::collections::HashMap<String, String> = c.hgetall("h").unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all["f1"], "v1");
    assert_eq!(c.hincr::<_, _, _, i64>("h", "n", 7).unwrap(), 7);
    assert_eq!(
        err(c.hincr::<_, _, _, i64>("h", "f1", 1)),
        "ERR hash value is not an integer"
    );
    assert_eq!(c.hdel::<_, _, i64>("h", &["f1", "nope"]).unwrap(), 1);
    assert!(!c.hexists::<_, _, bool>("h", "f1").unwrap());
    assert_eq!(
        c.hkeys::<_, Vec<String>>("h").unwrap(),
        vec!["f2", "f3", "n"]
    );
    let _: () = c.set("s", "x").unwrap();
    let wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(err(c.hget::<_, _, String>("s", "f")), wrongtype);
    assert_eq!(err(c.get::<_, String>("h")), wrongtype);
    assert_eq!(
        cmd("TYPE").arg("h").query::<String>(&mut c).unwrap(),
        "hash"
    );
    // RENAME moves the fields; the old name is gone.
    let _: () = c.rename("h", "h_moved").unwrap();
    assert_eq!(
        c.hkeys::<_, Vec<String>>("h_moved").unwrap(),
        vec!["f2", "f3", "n"]
    );
    assert!(!c.exists::<_, bool>("h").unwrap());
    let _: () = c.rename("h_moved", "h").unwrap();
    // Deleting and recreating a hash leaves nothing of the old one.
    assert_eq!(c.del::<_, i64>("h").unwrap(), 1);
    assert_eq!(c.hset::<_, _, _, i64>("h", "only", "1").unwrap(), 1);
    assert_eq!(c.hkeys::<_, Vec<String>>("h").unwrap(), vec!["only"]);
    // SET replaces a hash.
    let _: () = c.set("h", "str").unwrap();
    assert_eq!(c.get::<_, String>("h").unwrap(), "str");
    assert_eq!(c.hset::<_, _, _, i64>("h2", "a", "1").unwrap(), 1);
    let _: () = cmd("EXPIRE").arg("h2").arg(1).query(&mut c).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(c.hset::<_, _, _, i64>("h2", "b", "2").unwrap(), 1);
    assert_eq!(
        c.hkeys::<_, Vec<String>>("h2").unwrap(),
        vec!["b"],
        "an expired hash's fields are gone"
    );
}

#[test]
fn resp3_pipelining_databases_and_binary_safety() {
    let (_tmp, server) = start();
    let client = redis::Client::open(format!("{}?protocol=resp3", server.url())).unwrap();
    let mut c = client.get_connection().unwrap();
    let _: () = c.hset("h", "f", "v").unwrap();
    match cmd("HGETALL").arg("h").query::<Value>(&mut c).unwrap() {
        Value::Map(kv) => assert_eq!(kv.len(), 1),
        other => panic!("RESP3 HGETALL must be a map, got {other:?}"),
    }
    match cmd("HELLO").arg(3).query::<Value>(&mut c).unwrap() {
        Value::Map(kv) => assert!(kv
            .iter()
            .any(|(k, v)| *k == Value::BulkString(b"proto".to_vec()) && *v == Value::Int(3))),
        other => panic!("{other:?}"),
    }
    // 1000 pipelined increments.
    let mut p = redis::pipe();
    for _ in 0..1000 {
        p.cmd("INCR").arg("ctr");
    }
    let replies: Vec<i64> = p.query(&mut c).unwrap();
    assert_eq!(replies.last(), Some(&1000));
    // SAVE in a pipeline replies in its place (its reply comes after the flush), and a
    // command after it sees what came before; inside MULTI it answers at once.
    let (a, saved, b): (i64, String, i64) = redis::pipe()
        .cmd("INCR")
        .arg("ctr")
        .cmd("SAVE")
        .cmd("DECR")
        .arg("ctr")
        .query(&mut c)
        .unwrap();
    assert_eq!((a, saved.as_str(), b), (1001, "OK", 1000));
    let (saved,): (String,) = redis::pipe().atomic().cmd("SAVE").query(&mut c).unwrap();
    assert_eq!(saved, "OK");
    // Keys and values with CR, LF and NUL; a 10 MB value.
    let key = b"we\r\nird\0key".to_vec();
    let value: Vec<u8> = (0..10_000_000u32).map(|i| (i % 251) as u8).collect();
    let _: () = c.set(&key, &value).unwrap();
    assert_eq!(c.get::<_, Vec<u8>>(&key).unwrap(), value);
    // Databases are separate; FLUSHDB empties one.
    let _: () = cmd("SELECT").arg(3).query(&mut c).unwrap();
    assert_eq!(c.get::<_, Option<String>>("ctr").unwrap(), None);
    let _: () = c.set("ctr", "db3").unwrap();
    let _: () = cmd("FLUSHDB").query(&mut c).unwrap();
    assert_eq!(cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 0);
    let _: () = cmd("SELECT").arg(0).query(&mut c).unwrap();
    assert_eq!(c.get::<_, i64>("ctr").unwrap(), 1000);
}

#[test]
fn concurrent_increments_from_many_connections_are_never_lost() {
    let (_tmp, server) = start();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let mut c = server.client();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let _: i64 = c.incr("hot", 1).unwrap();
                    let _: i64 = c.hincr("hh", "f", 1).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut c = server.client();
    assert_eq!(c.get::<_, i64>("hot").unwrap(), 1600);
    assert_eq!(c.hget::<_, _, i64>("hh", "f").unwrap(), 1600);
}

/// `sync` acknowledges after fdatasync; `periodic` once the OS holds the write (the WAL's
/// mmap backend: a store into the mapped segment), which a killed process cannot lose either.
#[test]
fn acknowledged_writes_survive_kill_9_and_restart() {
    for mode in ["sync", "periodic"] {
        kill_9_and_restart(mode);
    }
}

fn kill_9_and_restart(mode: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, &["--sync", mode]);
    let mut c = server.client();
    for i in 0..300 {
        let _: () = c.set(format!("k{i}"), i).unwrap();
    }
    let _: () = c.hset("h", "f", "v").unwrap();
    let _: () = cmd("SET")
        .arg("ttl")
        .arg("v")
        .arg("EX")
        .arg(1000)
        .query(&mut c)
        .unwrap();
    let _: i64 = c.del("k7").unwrap();
    // Pipelined SETs are written a run at a time (one batch): acknowledged all the same.
    let mut p = redis::pipe();
    for i in 0..200 {
        p.cmd("SET").arg(format!("p{i}")).arg(i).ignore();
    }
    let _: () = p.query(&mut c).unwrap();
    server.kill9();
    let server = Server::start(&data, &[]);
    let mut c = server.client();
    for i in 0..300 {
        let want = (i != 7).then_some(i);
        assert_eq!(
            c.get::<_, Option<i64>>(format!("k{i}")).unwrap(),
            want,
            "{mode}: k{i}"
        );
    }
    assert_eq!(c.hget::<_, _, String>("h", "f").unwrap(), "v");
    for i in 0..200 {
        let got: Option<i64> = c.get(format!("p{i}")).unwrap();
        assert_eq!(got, Some(i), "{mode}: p{i}");
    }
    assert!(
        c.ttl::<_, i64>("ttl").unwrap() > 900,
        "the TTL survives a restart"
    );
    let (ok, log) = server.stop();
    assert!(ok, "{log}");
}

#[test]
fn malformed_requests_get_an_error_and_a_closed_connection() {
    let (_tmp, server) = start();
    for bad in [
        &b"*1\r\n$999999999999\r\n"[..],
        b"*2\r\n$3\r\nGET\r\n+oops\r\n",
        b"*-\r\n",
    ] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(bad).unwrap();
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).unwrap();
        let reply = String::from_utf8_lossy(&reply);
        assert!(reply.starts_with("-ERR Protocol error"), "{bad:?}: {reply}");
    }
    // An inline command works, and the server is still fine.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.write_all(b"PING\r\nECHO \"a b\"\r\n").unwrap();
    let want = b"+PONG\r\n$3\r\na b\r\n";
    let mut buf = vec![0u8; want.len()];
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.read_exact(&mut buf).unwrap();
    assert_eq!(buf, want);
    assert_eq!(
        cmd("PING").query::<String>(&mut server.client()).unwrap(),
        "PONG"
    );
}

#[test]
fn requirepass_demands_auth() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &["--requirepass", "s3cret"]);
    let mut c = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    assert_eq!(
        err(c.get::<_, String>("k")),
        "NOAUTH Authentication required."
    );
    assert_eq!(
        err(cmd("AUTH").arg("wrong").query::<String>(&mut c)),
        "WRONGPASS invalid username-password pair or user is disabled."
    );
    assert_eq!(
        cmd("AUTH").arg("s3cret").query::<String>(&mut c).unwrap(),
        "OK"
    );
    let _: () = c.set("k", "v").unwrap();
    let mut authed = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{}/", server.port))
        .unwrap()
        .get_connection()
        .unwrap();
    assert_eq!(authed.get::<_, String>("k").unwrap(), "v");
}

#[test]
fn lists_sets_and_sorted_sets() {
    let (_tmp, server) = start();
    let mut c = server.client();
    // Lists.
    assert_eq!(c.rpush::<_, _, i64>("l", &["a", "b", "c"]).unwrap(), 3);
    assert_eq!(c.lpush::<_, _, i64>("l", "z").unwrap(), 4);
    assert_eq!(
        c.lrange::<_, Vec<String>>("l", 0, -1).unwrap(),
        vec!["z", "a", "b", "c"]
    );
    assert_eq!(c.lindex::<_, String>("l", -1).unwrap(), "c");
    assert_eq!(
        c.lpop::<_, Option<String>>("l", None).unwrap(),
        Some("z".into())
    );
    assert_eq!(
        c.rpop::<_, Vec<String>>("l", std::num::NonZeroUsize::new(2))
            .unwrap(),
        vec!["c", "b"]
    );
    assert_eq!(c.llen::<_, i64>("l").unwrap(), 1);
    let _: () = c.rpush("l", &["x", "a", "y", "a"]).unwrap();
    assert_eq!(c.lrem::<_, _, i64>("l", 0, "a").unwrap(), 3);
    assert_eq!(
        c.lrange::<_, Vec<String>>("l", 0, -1).unwrap(),
        vec!["x", "y"]
    );
    let _: () = c.ltrim("l", 1, 1).unwrap();
    assert_eq!(c.lrange::<_, Vec<String>>("l", 0, -1).unwrap(), vec!["y"]);
    assert_eq!(
        cmd("LMOVE")
            .arg("l")
            .arg("l2")
            .arg("LEFT")
            .arg("RIGHT")
            .query::<String>(&mut c)
            .unwrap(),
        "y"
    );
    assert!(
        !c.exists::<_, bool>("l").unwrap(),
        "an emptied list is gone"
    );
    assert_eq!(
        err(cmd("LSET")
            .arg("nope")
            .arg(0)
            .arg("v")
            .query::<String>(&mut c)),
        "ERR no such key"
    );
    // Sets.
    assert_eq!(c.sadd::<_, _, i64>("s1", &["a", "b", "c", "a"]).unwrap(), 3);
    assert_eq!(c.sadd::<_, _, i64>("s2", &["b", "c", "d"]).unwrap(), 3);
    assert!(c.sismember::<_, _, bool>("s1", "a").unwrap());
    assert_eq!(c.scard::<_, i64>("s1").unwrap(), 3);
    let mut inter: Vec<String> = c.sinter(&["s1", "s2"]).unwrap();
    inter.sort();
    assert_eq!(inter, vec!["b", "c"]);
    assert_eq!(c.sunionstore::<_, _, i64>("s3", &["s1", "s2"]).unwrap(), 4);
    assert_eq!(c.srem::<_, _, i64>("s1", &["a", "zz"]).unwrap(), 1);
    let mut diff: Vec<String> = c.sdiff(&["s3", "s1"]).unwrap();
    diff.sort();
    assert_eq!(diff, vec!["a", "d"]);
    // Sorted sets.
    assert_eq!(
        c.zadd_multiple::<_, _, _, i64>("z", &[(1.0, "one"), (2.0, "two"), (3.0, "three")])
            .unwrap(),
        3
    );
    assert_eq!(c.zscore::<_, _, f64>("z", "two").unwrap(), 2.0);
    assert_eq!(
        c.zrange::<_, Vec<String>>("z", 0, -1).unwrap(),
        vec!["one", "two", "three"]
    );
    assert_eq!(
        c.zrevrange::<_, Vec<String>>("z", 0, 0).unwrap(),
        vec!["three"]
    );
    assert_eq!(
        c.zrangebyscore::<_, _, _, Vec<String>>("z", "(1", "+inf")
            .unwrap(),
        vec!["two", "three"]
    );
    assert_eq!(c.zincr::<_, _, _, f64>("z", "one", 5.0).unwrap(), 6.0);
    assert_eq!(c.zrank::<_, _, i64>("z", "one").unwrap(), 2);
    assert_eq!(c.zcount::<_, _, _, i64>("z", 2, 3).unwrap(), 2);
    assert_eq!(
        c.zpopmin::<_, Vec<(String, f64)>>("z", 1).unwrap(),
        vec![("two".to_string(), 2.0)]
    );
    assert_eq!(c.zcard::<_, i64>("z").unwrap(), 2);
    let wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(err(c.sadd::<_, _, i64>("z", "x")), wrongtype);
    assert_eq!(err(c.lpush::<_, _, i64>("s1", "x")), wrongtype);
    assert_eq!(
        cmd("TYPE").arg("z").query::<String>(&mut c).unwrap(),
        "zset"
    );
}

#[test]
fn multi_exec_and_watch() {
    let (_tmp, server) = start();
    let mut c = server.client();
    let mut other = server.client();
    // EXEC runs the queue atomically and answers each command.
    let (a, b): (i64, i64) = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("x")
        .cmd("INCR")
        .arg("x")
        .query(&mut c)
        .unwrap();
    assert_eq!((a, b), (1, 2));
    // WATCH: a write by another client in between makes EXEC return nil.
    let _: () = cmd("WATCH").arg("x").query(&mut c).unwrap();
    let _: i64 = other.incr("x", 10).unwrap();
    let _: () = cmd("MULTI").query(&mut c).unwrap();
    assert_eq!(
        cmd("SET").arg("x").arg(0).query::<String>(&mut c).unwrap(),
        "QUEUED"
    );
    assert_eq!(cmd("EXEC").query::<Value>(&mut c).unwrap(), Value::Nil);
    assert_eq!(c.get::<_, i64>("x").unwrap(), 12);
    // Untouched watch: EXEC runs.
    let _: () = cmd("WATCH").arg("x").query(&mut c).unwrap();
    let _: () = cmd("MULTI").query(&mut c).unwrap();
    let _: () = cmd("SET").arg("x").arg(0).query(&mut c).unwrap();
    let done: Vec<String> = cmd("EXEC").query(&mut c).unwrap();
    assert_eq!(done, vec!["OK"]);
    // Errors while queueing abort the transaction; errors at run time do not.
    let _: () = cmd("MULTI").query(&mut c).unwrap();
    assert!(cmd("NOSUCH").query::<String>(&mut c).is_err());
    let _: () = cmd("SET").arg("y").arg(1).query(&mut c).unwrap();
    assert_eq!(
        err(cmd("EXEC").query::<Value>(&mut c)),
        "EXECABORT Transaction discarded because of previous errors."
    );
    assert_eq!(c.get::<_, Option<i64>>("y").unwrap(), None);
    assert_eq!(
        err(cmd("EXEC").query::<Value>(&mut c)),
        "ERR EXEC without MULTI"
    );
    assert_eq!(
        err(cmd("DISCARD").query::<Value>(&mut c)),
        "ERR DISCARD without MULTI"
    );
    let _: () = cmd("MULTI").query(&mut c).unwrap();
    assert_eq!(
        err(cmd("MULTI").query::<Value>(&mut c)),
        "ERR MULTI calls can not be nested"
    );
    let _: () = cmd("DISCARD").query(&mut c).unwrap();
}

#[test]
fn pubsub_reaches_subscribers_on_other_connections() {
    let (_tmp, server) = start();
    let mut sub_conn = server.client();
    let mut psub_conn = server.client();
    let mut ps = sub_conn.as_pubsub();
    ps.subscribe("news").unwrap();
    let mut pps = psub_conn.as_pubsub();
    pps.psubscribe("n*").unwrap();
    let mut c = server.client();
    // Both subscriptions are registered once their replies came back.
    assert_eq!(c.publish::<_, _, i64>("news", "hello").unwrap(), 2);
    assert_eq!(c.publish::<_, _, i64>("other", "x").unwrap(), 0);
    let msg = ps.get_message().unwrap();
    assert_eq!(msg.get_channel_name(), "news");
    assert_eq!(msg.get_payload::<String>().unwrap(), "hello");
    let pmsg = pps.get_message().unwrap();
    assert_eq!(pmsg.get_pattern::<String>().unwrap(), "n*");
    assert_eq!(pmsg.get_payload::<String>().unwrap(), "hello");
    let channels: Vec<String> = cmd("PUBSUB").arg("CHANNELS").query(&mut c).unwrap();
    assert_eq!(channels, vec!["news"]);
    assert_eq!(cmd("PUBSUB").arg("NUMPAT").query::<i64>(&mut c).unwrap(), 1);
    ps.unsubscribe("news").unwrap();
    drop(ps);
    drop(sub_conn);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        c.publish::<_, _, i64>("news", "again").unwrap(),
        1,
        "only the pattern now"
    );
}

#[test]
fn resp2_subscribers_may_only_subscribe_ping_or_quit() {
    let (_tmp, server) = start();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"SUBSCRIBE a b\r\nGET k\r\nPING\r\n").unwrap();
    let want = "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n";
    let mut got = vec![0u8; want.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), want);
}

#[test]
fn blocking_pops_wait_for_a_push_or_time_out() {
    let (_tmp, server) = start();
    let mut c = server.client();
    // Times out with nil.
    let t = std::time::Instant::now();
    let r: Option<(String, String)> = cmd("BLPOP").arg("q").arg(0.2).query(&mut c).unwrap();
    assert_eq!(r, None);
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
    // Woken by a push from another connection.
    let mut pusher = server.client();
    let waiter = std::thread::spawn(move || {
        let r: Option<(String, String)> = cmd("BRPOP")
            .arg("q1")
            .arg("q2")
            .arg(10)
            .query(&mut c)
            .unwrap();
        (r, c)
    });
    std::thread::sleep(Duration::from_millis(200));
    let _: i64 = pusher.rpush("q2", "job").unwrap();
    let (r, mut c) = waiter.join().unwrap();
    assert_eq!(r, Some(("q2".to_string(), "job".to_string())));
    assert!(!c.exists::<_, bool>("q2").unwrap());
    // Sorted sets and BLMOVE.
    let _: i64 = c.zadd("z", "m", 1.5).unwrap();
    let v: Value = cmd("BZPOPMIN").arg("z").arg(1).query(&mut c).unwrap();
    assert!(matches!(v, Value::Array(ref a) if a.len() == 3), "{v:?}");
    let _: i64 = c.rpush("src", "x").unwrap();
    let moved: String = cmd("BLMOVE")
        .arg("src")
        .arg("dst")
        .arg("LEFT")
        .arg("RIGHT")
        .arg(1)
        .query(&mut c)
        .unwrap();
    assert_eq!(moved, "x");
    // Inside MULTI a blocking command answers at once.
    let r: (Option<(String, String)>,) = redis::pipe()
        .atomic()
        .cmd("BLPOP")
        .arg("empty")
        .arg(0)
        .query(&mut c)
        .unwrap();
    assert_eq!(r.0, None);
    assert_eq!(
        err(cmd("BLPOP").arg("q").arg(-1).query::<Value>(&mut c)),
        "ERR timeout is negative"
    );
}

#[test]
fn metrics_and_health_endpoints() {
    let (_tmp, server) = start();
    let mut c = server.client();
    let _: () = c.set("k", "v").unwrap();
    let (status, body) = http_get(server.http_port, "/health");
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "ok\n")
    );
    let (status, body) = http_get(server.http_port, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let value = |name: &str| -> f64 {
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing:\n{body}"))
            .parse()
            .unwrap()
    };
    assert!(value("orbit_commands_total") >= 1.0);
    assert!(value("orbit_wal_syncs_total") >= 1.0);
    assert!(value("orbit_connected_clients") >= 1.0);
    assert!(body.contains("orbit_tables{level=\"0\"}"));
    assert!(value("orbit_command_latency_seconds_count") >= 1.0);
    assert!(
        body.contains("orbit_command_latency_seconds_bucket{le=\"0.001\"}"),
        "{body}"
    );
    assert_eq!(
        http_get(server.http_port, "/nope").0,
        "HTTP/1.1 404 Not Found"
    );
}

#[test]
fn object_debug_and_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &[]);
    let mut c = server.client();
    let _: () = c.set("n", 42).unwrap();
    let _: () = c.set("s", "short").unwrap();
    let _: i64 = c.hset("h", "f", "v").unwrap();
    let enc = |c: &mut redis::Connection, k: &str| -> String {
        cmd("OBJECT").arg("ENCODING").arg(k).query(c).unwrap()
    };
    assert_eq!(enc(&mut c, "n"), "int");
    assert_eq!(enc(&mut c, "s"), "embstr");
    assert_eq!(
        enc(&mut c, "h"),
        "listpack",
        "a small hash, as Redis 7 names it"
    );
    assert_eq!(
        cmd("DEBUG")
            .arg("SLEEP")
            .arg(0)
            .query::<String>(&mut c)
            .unwrap(),
        "OK"
    );
    // SHUTDOWN stops the server cleanly; it closes the connection without a reply, and the
    // server exits by itself (a SIGTERM sent at once could overtake the command's stop).
    assert!(cmd("SHUTDOWN").query::<String>(&mut c).is_err());
    let (ok, log) = server.wait_exit();
    assert!(ok, "{log}");
    assert!(log.contains("SHUTDOWN command received"), "{log}");
    assert!(log.contains("stopped cleanly"), "{log}");
}

#[test]
fn a_subscriber_that_stops_reading_is_disconnected_not_buffered_forever() {
    let (_tmp, server) = start();
    let mut sub = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    sub.write_all(b"SUBSCRIBE flood\r\n").unwrap();
    // Subscribed once the confirmation is back (a PUBLISH before would reach no one).
    let confirmed = b"*3\r\n$9\r\nsubscribe\r\n$5\r\nflood\r\n:1\r\n";
    let mut got = vec![0u8; confirmed.len()];
    sub.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    sub.read_exact(&mut got).unwrap();
    assert_eq!(got, confirmed);
    let mut c = server.client();
    let payload = "x".repeat(100);
    let mut delivered_to_none = false;
    for _ in 0..60 {
        let mut p = redis::pipe();
        for _ in 0..5_000 {
            p.cmd("PUBLISH").arg("flood").arg(&payload);
        }
        let counts: Vec<i64> = p.query(&mut c).unwrap();
        if counts.last() == Some(&0) {
            delivered_to_none = true;
            break;
        }
    }
    assert!(
        delivered_to_none,
        "the stalled subscriber was never dropped"
    );
    // Its connection is closed: reading drains what was sent, then ends.
    sub.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut sink = Vec::new();
    sub.read_to_end(&mut sink).unwrap();
    assert!(!sink.is_empty());
}

/// A client blocked in BLPOP that closes its connection stops waiting: a later push stays
/// in the list instead of going to a client that can no longer receive it.
#[test]
fn a_blocked_client_that_leaves_takes_nothing() {
    use std::io::Write;
    let (_tmp, server) = start();
    let mut gone = std::net::TcpStream::connect((server.host.as_str(), server.port)).unwrap();
    gone.write_all(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n")
        .unwrap();
    let mut c = server.client();
    common::await_blocked_clients(&mut c, 1);
    drop(gone);
    common::await_blocked_clients(&mut c, 0);
    let _: i64 = c.rpush("q", "job").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let left: Vec<String> = c.lrange("q", 0, -1).unwrap();
    assert_eq!(left, ["job"]);
}
