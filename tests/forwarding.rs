//! `--forward-writes`: three real `orbit serve` processes; clients connected to a follower
//! write through it as if it led. Redis commands are relayed one by one (pipelines,
//! `MULTI`/`EXEC`, `WATCH` races, `SELECT`, blocking pops, RESP3, errors), PostgreSQL sessions
//! whole (transactions, SQLSTATEs); a session that opts into follower reads is served by the
//! follower; after the leader is killed, the follower forwards to the new one.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::cluster::{settled_leader, Cluster, NODES};
use common::pg;

/// Runs `f` until it succeeds (the follower learns the leader's client addresses through
/// the log a moment after an election; until then it answers as a plain replica).
fn eventually<T>(what: &str, mut f: impl FnMut() -> redis::RedisResult<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

#[test]
fn a_follower_forwards_writes_to_the_leader() {
    let mut cluster = Cluster::start_with(&["--forward-writes"]);
    let leader = settled_leader(&cluster);
    let follower = (1..=NODES).find(|&id| id != leader).unwrap();
    let mut f = cluster.node(follower).client();
    let mut l = cluster.node(leader).client();

    // A write on the follower is the leader's; a read there (without READONLY) too, so it
    // sees the write at once.
    eventually("SET through the follower", || {
        redis::cmd("SET").arg("k").arg("v1").query::<()>(&mut f)
    });
    let got: String = redis::cmd("GET").arg("k").query(&mut f).unwrap();
    assert_eq!(got, "v1");
    let got: String = redis::cmd("GET").arg("k").query(&mut l).unwrap();
    assert_eq!(got, "v1");

    // A pipeline mixing forwarded and local commands: replies in order.
    let (a, b, ping, c, d): (String, i64, String, i64, String) = redis::pipe()
        .cmd("SET")
        .arg("n")
        .arg("10")
        .cmd("INCRBY")
        .arg("n")
        .arg(5)
        .cmd("PING")
        .cmd("INCR")
        .arg("n")
        .cmd("GET")
        .arg("n")
        .query(&mut f)
        .unwrap();
    assert_eq!(
        (a.as_str(), b, ping.as_str(), c, d.as_str()),
        ("OK", 15, "PONG", 16, "16")
    );

    // The leader's errors come back as they are.
    let e = common::err(redis::cmd("INCR").arg("k").query::<i64>(&mut f));
    assert_eq!(e, "ERR value is not an integer or out of range");
    let e = common::err(redis::cmd("LPUSH").arg("k").arg("x").query::<i64>(&mut f));
    assert!(e.starts_with("WRONGTYPE"), "{e}");

    // MULTI/EXEC runs on the leader.
    let (x, y): (String, i64) = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("t")
        .arg("1")
        .cmd("INCR")
        .arg("t")
        .query(&mut f)
        .unwrap();
    assert_eq!((x.as_str(), y), ("OK", 2));

    // WATCH through the follower loses to a write on the leader in between.
    let _: () = redis::cmd("WATCH").arg("w").query(&mut f).unwrap();
    let _: () = redis::cmd("SET")
        .arg("w")
        .arg("leader")
        .query(&mut l)
        .unwrap();
    let _: () = redis::cmd("MULTI").query(&mut f).unwrap();
    let q: String = redis::cmd("SET")
        .arg("w")
        .arg("follower")
        .query(&mut f)
        .unwrap();
    assert_eq!(q, "QUEUED");
    let exec: Option<Vec<String>> = redis::cmd("EXEC").query(&mut f).unwrap();
    assert_eq!(exec, None, "EXEC ran despite a write to a watched key");
    let got: String = redis::cmd("GET").arg("w").query(&mut l).unwrap();
    assert_eq!(got, "leader");

    // An unknown command in a forwarded transaction fails it, as in Redis.
    let _: () = redis::cmd("MULTI").query(&mut f).unwrap();
    let _: String = redis::cmd("SET").arg("u").arg("1").query(&mut f).unwrap();
    let e = common::err(redis::cmd("NOSUCHCOMMAND").query::<()>(&mut f));
    assert!(e.contains("unknown command"), "{e}");
    let e = common::err(redis::cmd("EXEC").query::<()>(&mut f));
    assert!(e.starts_with("EXECABORT"), "{e}");
    let got: Option<String> = redis::cmd("GET").arg("u").query(&mut f).unwrap();
    assert_eq!(got, None);
    // What the relay cannot follow in a forwarded transaction is refused, and the
    // connection closes rather than let the transaction go on without it.
    let mut g = cluster.node(follower).client();
    let _: () = redis::cmd("MULTI").query(&mut g).unwrap();
    let e = common::err(redis::cmd("SELECT").arg(1).query::<()>(&mut g));
    assert!(
        e.contains("not supported in a transaction forwarded"),
        "{e}"
    );
    assert!(redis::cmd("PING").query::<String>(&mut g).is_err());

    // SELECT follows the client to the leader.
    let _: () = redis::cmd("SELECT").arg(3).query(&mut f).unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("db3").query(&mut f).unwrap();
    let _: () = redis::cmd("SELECT").arg(3).query(&mut l).unwrap();
    let got: String = redis::cmd("GET").arg("k").query(&mut l).unwrap();
    assert_eq!(got, "db3");
    let _: () = redis::cmd("SELECT").arg(0).query(&mut f).unwrap();
    let got: String = redis::cmd("GET").arg("k").query(&mut f).unwrap();
    assert_eq!(got, "v1");

    // A blocking pop waits on the leader, and is woken by a push there.
    let pusher = {
        let mut l2 = cluster.node(leader).client();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let _: i64 = redis::cmd("LPUSH")
                .arg("q")
                .arg("job")
                .query(&mut l2)
                .unwrap();
        })
    };
    let popped: Option<(String, String)> =
        redis::cmd("BLPOP").arg("q").arg(5).query(&mut f).unwrap();
    assert_eq!(popped, Some(("q".into(), "job".into())));
    pusher.join().unwrap();

    // RESP3 shapes are relayed as the leader sends them.
    let mut f3 = redis::Client::open(format!("{}?protocol=resp3", cluster.node(follower).url()))
        .unwrap()
        .get_connection()
        .unwrap();
    let _: i64 = redis::cmd("HSET")
        .arg("h")
        .arg("a")
        .arg("1")
        .query(&mut f3)
        .unwrap();
    let map: redis::Value = redis::cmd("HGETALL").arg("h").query(&mut f3).unwrap();
    assert!(
        matches!(map, redis::Value::Map(ref m) if m.len() == 1),
        "{map:?}"
    );

    // READONLY: reads served here (possibly stale), writes still forwarded.
    let _: () = redis::cmd("READONLY").query(&mut f).unwrap();
    let _: () = redis::cmd("SET").arg("r").arg("1").query(&mut f).unwrap();
    eventually("the follower applies the write", || {
        let v: Option<String> = redis::cmd("GET").arg("r").query(&mut f)?;
        match v {
            Some(v) => Ok(v),
            None => Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "not yet",
            ))),
        }
    });

    // A transaction still runs on the leader, reads queued in it included.
    let _: () = redis::cmd("MULTI").query(&mut f).unwrap();
    let q: String = redis::cmd("GET").arg("r").query(&mut f).unwrap();
    assert_eq!(q, "QUEUED");
    let _: String = redis::cmd("SET").arg("r").arg("2").query(&mut f).unwrap();
    let exec: (Option<String>, String) = redis::cmd("EXEC").query(&mut f).unwrap();
    assert_eq!(exec, (Some("1".into()), "OK".into()));

    // PostgreSQL: the session is the leader's.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = pg::connect(cluster.node(follower)).await;
        c.batch_execute("CREATE TABLE t (id int PRIMARY KEY, v text)").await.unwrap();
        c.batch_execute("BEGIN; INSERT INTO t VALUES (1, 'one'); INSERT INTO t VALUES (2, 'two'); COMMIT")
            .await
            .unwrap();
        c.batch_execute("BEGIN; INSERT INTO t VALUES (3, 'three'); ROLLBACK").await.unwrap();
        let e = c.batch_execute("INSERT INTO t VALUES (1, 'again')").await.unwrap_err();
        assert_eq!(pg::code(&e), "23505", "{e}");
        let n: i64 = c.query_one("SELECT count(*) FROM t WHERE id > $1", &[&0i32]).await.unwrap().get(0);
        assert_eq!(n, 2);
        // The leader has it.
        let lc = pg::connect(cluster.node(leader)).await;
        let rows = pg::simple(&lc, "SELECT v FROM t ORDER BY id").await;
        assert_eq!(rows, vec![vec![Some("one".into())], vec![Some("two".into())]]);
        // A session asking for follower reads at startup is served here: reads possibly
        // stale, writes refused as a replica refuses them.
        let (fr, conn) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname=postgres options='-c orbit.read_from=follower'",
                cluster.node(follower).pg_port
            ),
            tokio_postgres::NoTls,
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        let e = fr.batch_execute("INSERT INTO t VALUES (4, 'four')").await.unwrap_err();
        assert_eq!(pg::code(&e), "25006", "{e}");
        let rows = pg::simple(&fr, "SHOW orbit.read_from").await;
        assert_eq!(rows, vec![vec![Some("follower".into())]]);
    });

    // The leader dies: the follower forwards to the next one (or leads itself).
    cluster.kill9(leader);
    let _: () = redis::cmd("READWRITE").query(&mut f).unwrap();
    eventually("SET through the follower after failover", || {
        redis::cmd("SET")
            .arg("after")
            .arg("failover")
            .query::<()>(&mut f)
    });
    let got: String = redis::cmd("GET").arg("after").query(&mut f).unwrap();
    assert_eq!(got, "failover");
    let got: String = redis::cmd("GET").arg("k").query(&mut f).unwrap();
    assert_eq!(got, "v1");

    for id in 1..=NODES {
        if let Some(server) = cluster.nodes.insert(id, None).flatten() {
            let (clean, log) = server.stop();
            assert!(clean, "node {id} did not stop cleanly:\n{log}");
            assert!(!log.contains("panicked"), "node {id}:\n{log}");
        }
    }
}
