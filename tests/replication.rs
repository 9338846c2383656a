//! Three real `orbit serve` processes on loopback forming a Raft cluster. A client that
//! records every acknowledged write keeps writing while the leader is SIGKILLed and later
//! restarted, and while a follower is SIGSTOPped; afterwards every acknowledged write is on
//! every node. Followers refuse writes as read-only replicas (Redis `READONLY`, PostgreSQL
//! SQLSTATE 25006), and SQL written before a failover works on the new leader.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::{settled_leader, signal, Cluster, NODES};
use common::pg;

/// Connections to the running nodes, reopened when they fail.
struct Clients {
    conns: BTreeMap<u64, redis::Connection>,
    /// The node that took the last write: tried first (a stopped node costs a read timeout).
    last: Option<u64>,
}

impl Clients {
    fn new() -> Clients {
        Clients {
            conns: BTreeMap::new(),
            last: None,
        }
    }

    fn conn(&mut self, cluster: &Cluster, id: u64) -> Option<&mut redis::Connection> {
        if let std::collections::btree_map::Entry::Vacant(slot) = self.conns.entry(id) {
            let server = cluster.nodes[&id].as_ref()?;
            let client = redis::Client::open(server.url()).ok()?;
            let conn = client
                .get_connection_with_timeout(Duration::from_secs(2))
                .ok()?;
            conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
            slot.insert(conn);
        }
        self.conns.get_mut(&id)
    }

    /// `SET key value` on whichever node takes it, trying each in turn until one does:
    /// returns the node, or `None` if none did within `patience` tries.
    fn set(&mut self, cluster: &Cluster, key: &str, value: &str, patience: u32) -> Option<u64> {
        for _ in 0..patience {
            let mut ids: Vec<u64> = cluster.running().map(|(id, _)| id).collect();
            if let Some(last) = self.last {
                ids.sort_by_key(|&id| id != last);
            }
            for id in ids {
                let Some(conn) = self.conn(cluster, id) else {
                    continue;
                };
                let r: redis::RedisResult<String> =
                    redis::cmd("SET").arg(key).arg(value).query(conn);
                match r {
                    Ok(ok) => {
                        assert_eq!(ok, "OK");
                        self.last = Some(id);
                        return Some(id);
                    }
                    Err(e) if e.code() == Some("READONLY") => {}
                    // Killed, stopped or restarting: open a new connection next time.
                    Err(_) => {
                        self.conns.remove(&id);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// Writes `keys` one at a time, each acknowledged before the next; records them.
fn write(
    cluster: &Cluster,
    clients: &mut Clients,
    keys: std::ops::Range<u32>,
    acked: &mut Vec<u32>,
) -> u64 {
    let mut leader = 0;
    for i in keys {
        leader = clients
            .set(cluster, &format!("key:{i}"), &format!("value:{i}"), 1000)
            .unwrap_or_else(|| panic!("no node took write {i}"));
        acked.push(i);
    }
    leader
}

/// Stops node `id` with SIGTERM: it must exit cleanly, without a panic in its log.
fn stop_cleanly(cluster: &mut Cluster, id: u64) {
    let (clean, log) = cluster.nodes.get_mut(&id).unwrap().take().unwrap().stop();
    assert!(clean, "node {id} did not stop cleanly:\n{log}");
    assert!(!log.contains("panicked"), "node {id}:\n{log}");
}

/// Waits until node `id` holds every acknowledged write (followers apply a little after the
/// leader acknowledges).
fn converged(cluster: &Cluster, id: u64, acked: &[u32]) {
    let mut conn = cluster.node(id).client();
    // Read what this node holds, whether it leads or follows.
    let _: () = redis::cmd("READONLY").query(&mut conn).unwrap();
    let mut missing: Vec<u32> = acked.to_vec();
    let mut refused = String::new();
    for _ in 0..1500 {
        missing.retain(|i| {
            match redis::cmd("GET")
                .arg(format!("key:{i}"))
                .query::<Option<String>>(&mut conn)
            {
                Ok(v) => v.as_deref() != Some(format!("value:{i}").as_str()),
                // A node that has just joined or restarted names no leader yet, or lags
                // its leader by more than the staleness bound: it serves no reads until it
                // has caught up.
                Err(e) => {
                    refused = e.to_string();
                    assert!(
                        refused.contains("cannot confirm a leader")
                            || refused.contains("behind its leader"),
                        "{refused}"
                    );
                    true
                }
            }
        });
        if missing.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("node {id} lacks acknowledged writes {missing:?} (last refusal: {refused})");
}

#[test]
fn acknowledged_writes_survive_a_killed_leader_and_a_stopped_follower() {
    let mut cluster = Cluster::start();
    let mut clients = Clients::new();
    let mut acked = Vec::new();
    write(&cluster, &mut clients, 0..200, &mut acked);
    let leader = settled_leader(&cluster);

    // A follower answers writes as a read-only replica, naming the leader's Raft address;
    // it serves reads only after READONLY (possibly stale). The leader serves them once a
    // majority confirms it still leads.
    let follower = (1..=NODES).find(|&id| id != leader).unwrap();
    converged(&cluster, follower, &acked);
    let mut conn = cluster.node(follower).client();
    let e = redis::cmd("GET")
        .arg("key:0")
        .query::<Option<String>>(&mut conn)
        .unwrap_err();
    assert!(e.to_string().contains("send READONLY"), "{e}");
    // Reads queued in MULTI are refused at EXEC, which discards the transaction.
    let _: () = redis::cmd("MULTI").query(&mut conn).unwrap();
    let queued: String = redis::cmd("GET").arg("key:0").query(&mut conn).unwrap();
    assert_eq!(queued, "QUEUED");
    let e = redis::cmd("EXEC").query::<()>(&mut conn).unwrap_err();
    assert!(e.to_string().contains("send READONLY"), "{e}");
    let e = redis::cmd("EXEC").query::<()>(&mut conn).unwrap_err();
    assert!(e.to_string().contains("EXEC without MULTI"), "{e}");
    let mut lc = cluster.node(leader).client();
    let v: Option<String> = redis::cmd("GET").arg("key:199").query(&mut lc).unwrap();
    assert_eq!(v.as_deref(), Some("value:199"));
    let e = redis::cmd("INCR")
        .arg("counter")
        .query::<i64>(&mut conn)
        .unwrap_err();
    assert_eq!(e.code(), Some("READONLY"), "{e}");
    // By its client addresses.
    assert!(
        e.to_string().contains(&format!(
            "resp 127.0.0.1:{}, pg 127.0.0.1:{}",
            cluster.node(leader).port,
            cluster.node(leader).pg_port
        )),
        "{e}"
    );

    // A time series begun on the leader.
    for (ts, v) in [(1000, 1.5), (2000, 2.5)] {
        let at: i64 = redis::cmd("TS.ADD")
            .arg("temp")
            .arg(ts)
            .arg(v)
            .query(&mut lc)
            .unwrap();
        assert_eq!(at, ts);
    }

    // SQL: a table created and filled on the leader; a follower refuses writes with 25006.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = pg::connect(cluster.node(leader)).await;
        c.batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'one')",
        )
        .await
        .unwrap();
        let f = pg::connect(cluster.node(follower)).await;
        let mut refused = None;
        for _ in 0..500 {
            match f.batch_execute("INSERT INTO t VALUES (2, 'two')").await {
                Err(e) if pg::code(&e) == "25006" => {
                    refused = Some(e.to_string());
                    break;
                }
                // The follower may not have applied CREATE TABLE yet.
                Err(e) if pg::code(&e) == "42P01" => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                other => panic!("a follower wrote or failed otherwise: {other:?}"),
            }
        }
        assert!(refused.is_some(), "the follower never saw the table");
        // Queries on a follower: refused naming the leader, or served (possibly stale) once
        // the session asks for follower reads.
        let e = f.simple_query("SELECT v FROM t").await.unwrap_err();
        assert_eq!(pg::code(&e), "55000", "{e}");
        f.batch_execute("SET orbit.read_from = 'follower'").await.unwrap();
        let rows = pg::simple(&f, "SELECT v FROM t").await;
        assert_eq!(rows, vec![vec![Some("one".to_string())]]);
        // Vector indexes live outside the commit log: a cluster node refuses them.
        let e = c
            .batch_execute("CREATE EXTENSION IF NOT EXISTS vector; CREATE TABLE items (id int PRIMARY KEY, e vector(2)); CREATE INDEX ON items USING hnsw (e vector_l2_ops)")
            .await
            .unwrap_err();
        assert_eq!(pg::code(&e), "0A000", "{e}");
    });

    // The leader dies; the others elect a new one and writes go on.
    let killed = Instant::now();
    cluster.kill9(leader);
    clients.conns.remove(&leader);
    let next = clients
        .set(&cluster, "after-kill", "1", 1000)
        .expect("no new leader took writes");
    eprintln!("failover: first write {:?} after SIGKILL", killed.elapsed());
    assert_ne!(next, leader);
    // Every write the old leader acknowledged is on the new one.
    converged(&cluster, next, &acked);
    write(&cluster, &mut clients, 200..400, &mut acked);

    // SQL on the new leader: the table created before the failover is there and writable.
    rt.block_on(async {
        let c = pg::connect(cluster.node(next)).await;
        c.batch_execute("INSERT INTO t VALUES (3, 'three')")
            .await
            .unwrap();
        let rows = pg::simple(&c, "SELECT id, v FROM t ORDER BY id").await;
        assert_eq!(
            rows,
            vec![
                vec![Some("1".into()), Some("one".into())],
                vec![Some("3".into()), Some("three".into())],
            ]
        );
    });

    // The series goes on at the new leader, whose in-memory state never saw it.
    let mut nc = cluster.node(next).client();
    let at: i64 = redis::cmd("TS.ADD")
        .arg("temp")
        .arg(3000)
        .arg(3.5)
        .query(&mut nc)
        .unwrap();
    assert_eq!(at, 3000);
    let range: Vec<(i64, String)> = redis::cmd("TS.RANGE")
        .arg("temp")
        .arg("-")
        .arg("+")
        .query(&mut nc)
        .unwrap();
    assert_eq!(
        range,
        vec![
            (1000, "1.5".to_string()),
            (2000, "2.5".to_string()),
            (3000, "3.5".to_string())
        ]
    );

    // The old leader comes back and catches up; a follower is stopped while writes go on
    // (a majority remains), then continued.
    cluster.boot(leader);
    let stopped = (1..=NODES).find(|&id| id != next && id != leader).unwrap();
    signal(cluster.node(stopped), "-STOP");
    let during = write(&cluster, &mut clients, 400..500, &mut acked);
    signal(cluster.node(stopped), "-CONT");
    write(&cluster, &mut clients, 500..550, &mut acked);
    assert_ne!(during, stopped);

    for id in 1..=NODES {
        converged(&cluster, id, &acked);
    }
    for id in 1..=NODES {
        stop_cleanly(&mut cluster, id);
    }
}

/// A follower killed while the leader's log moves on past several snapshots (and is purged
/// behind them) catches up from a snapshot streamed to it: Redis keys and SQL rows written
/// while it was down, visible through follower reads, and still there after another kill -9.
#[test]
fn a_follower_killed_past_the_purged_log_catches_up_from_a_snapshot() {
    let mut cluster = Cluster::start_with(&["--raft-snapshot-every", "100"]);
    let mut clients = Clients::new();
    let mut acked = Vec::new();
    write(&cluster, &mut clients, 0..20, &mut acked);
    let leader = settled_leader(&cluster);
    let behind = (1..=NODES).find(|&id| id != leader).unwrap();
    cluster.kill9(behind);
    clients.conns.remove(&behind);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = pg::connect(cluster.node(leader)).await;
        c.batch_execute(
            "CREATE TABLE during (id int PRIMARY KEY, v text); \
             INSERT INTO during SELECT g, 'row ' || g FROM generate_series(1, 300) g",
        )
        .await
        .unwrap();
    });
    // One entry per acknowledged SET: several snapshots' worth.
    write(&cluster, &mut clients, 20..600, &mut acked);

    let snapshots = cluster
        .dir
        .path()
        .join(format!("node{behind}/raft-snapshots"));
    for restart in 0..2 {
        cluster.boot(behind);
        converged(&cluster, behind, &acked);
        let installed: Vec<String> = std::fs::read_dir(&snapshots)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        if restart == 0 {
            assert!(
                installed.iter().any(|f| f.starts_with("installed-")),
                "no snapshot was installed: {installed:?}"
            );
        }
        rt.block_on(async {
            let f = pg::connect(cluster.node(behind)).await;
            f.batch_execute("SET orbit.read_from = 'follower'")
                .await
                .unwrap();
            let rows = pg::simple(&f, "SELECT count(*), max(v) FROM during").await;
            assert_eq!(rows, vec![vec![Some("300".into()), Some("row 99".into())]]);
        });
        // Acknowledged and installed: it survives kill -9 too.
        cluster.kill9(behind);
    }
    for id in (1..=NODES).filter(|&id| id != behind) {
        stop_cleanly(&mut cluster, id);
    }
}

/// `orbit cluster ...` against node `on`'s admin endpoint: success and output.
fn orbit_cluster(cluster: &Cluster, on: u64, args: &[&str]) -> (bool, String) {
    let out = Command::new(common::ORBIT)
        .arg("cluster")
        .args(args)
        .arg("--server")
        .arg(format!("127.0.0.1:{}", cluster.node(on).http_port))
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn status(cluster: &Cluster, on: u64) -> serde_json::Value {
    let (ok, out) = orbit_cluster(cluster, on, &["status"]);
    assert!(ok, "{out}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn nodes_join_and_leave_through_orbit_cluster() {
    let mut cluster = Cluster::start();
    let mut clients = Clients::new();
    let mut acked = Vec::new();
    write(&cluster, &mut clients, 0..100, &mut acked);
    let leader = settled_leader(&cluster);
    let follower = (1..=NODES).find(|&id| id != leader).unwrap();

    // Every node knows the leader; the leader reports each member's lag; metrics and health
    // say the same.
    converged(&cluster, follower, &acked);
    let s = status(&cluster, follower);
    assert_eq!(s["role"], "follower");
    assert_eq!(s["leader"], leader);
    assert_eq!(s["voters"].as_object().unwrap().len(), 3);
    let s = status(&cluster, leader);
    assert_eq!(s["role"], "leader");
    assert_eq!(s["matched"].as_object().unwrap().len(), 2);
    assert_eq!(
        common::metric(cluster.node(leader).http_port, "orbit_raft_is_leader"),
        1
    );
    assert_eq!(
        common::metric(cluster.node(follower).http_port, "orbit_raft_is_leader"),
        0
    );
    let (line, body) = common::http_get(cluster.node(follower).http_port, "/health");
    assert!(line.contains("200"), "{line}");
    assert!(body.starts_with("ok\nrole follower"), "{body}");

    // A fourth node joins: a follower refuses the change naming the leader; the leader adds
    // it, and it catches up with every acknowledged write.
    cluster.boot_with(4, &["--join"]);
    let raft4 = format!("127.0.0.1:{}", cluster.raft[&4]);
    let (ok, out) = orbit_cluster(
        &cluster,
        follower,
        &["add", "--id", "4", "--raft-addr", &raft4],
    );
    assert!(!ok && out.contains("409"), "{out}");
    let (ok, out) = orbit_cluster(
        &cluster,
        leader,
        &["add", "--id", "4", "--raft-addr", &raft4],
    );
    assert!(ok, "{out}");
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["voters"].as_object().unwrap().len(), 4, "{s}");
    converged(&cluster, 4, &acked);
    write(&cluster, &mut clients, 100..150, &mut acked);
    converged(&cluster, 4, &acked);

    // It leaves again; the three go on.
    let (ok, out) = orbit_cluster(&cluster, leader, &["remove", "--id", "4"]);
    assert!(ok, "{out}");
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["voters"].as_object().unwrap().len(), 3, "{s}");
    cluster.kill9(4);
    write(&cluster, &mut clients, 150..200, &mut acked);
    for id in 1..=NODES {
        converged(&cluster, id, &acked);
    }
}

/// Pipelined runs on a cluster leader (`Engine::execute_run`): two connections pipeline
/// SETs over the same keys and INCRs of one counter, so runs meet each other's replicated
/// writes in flight (and stop short of them, rather than block a worker in the stripe lock
/// until they commit); the counts come back in order, and every acknowledged write is on
/// every node.
#[test]
fn pipelined_runs_commit_through_raft() {
    let mut cluster = Cluster::start();
    let leader = settled_leader(&cluster);
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let mut conn = cluster.node(leader).client();
            std::thread::spawn(move || {
                for round in 0..5 {
                    let mut p = redis::pipe();
                    for i in 0..40 {
                        p.cmd("SET")
                            .arg(format!("key:{i}"))
                            .arg(format!("value:{i}"))
                            .ignore();
                    }
                    for _ in 0..40 {
                        p.cmd("INCR").arg("counter");
                    }
                    let counts: Vec<i64> = p.query(&mut conn).unwrap();
                    assert_eq!(counts.len(), 40, "writer {w} round {round}");
                    assert!(counts.windows(2).all(|c| c[0] < c[1]), "{counts:?}");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let acked: Vec<u32> = (0..40).collect();
    for id in 1..=NODES {
        converged(&cluster, id, &acked);
        let mut conn = cluster.node(id).client();
        let _: () = redis::cmd("READONLY").query(&mut conn).unwrap();
        let mut counter = 0;
        for _ in 0..500 {
            counter = redis::cmd("GET")
                .arg("counter")
                .query::<i64>(&mut conn)
                .unwrap_or(0);
            if counter == 400 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(counter, 400, "node {id}");
    }
    for id in 1..=NODES {
        stop_cleanly(&mut cluster, id);
    }
}
