//! A network partition between real `orbit` processes: three nodes, each in a network
//! namespace of its own on a bridge (`ip netns`), with the test's client on the bridge too.
//! The leader is cut off from the two followers (routes that drop what it sends them, and
//! what they send it) while the client can still reach every node. Then:
//!
//! - the majority elects a new leader and takes writes;
//! - the cut-off leader acknowledges no write, and refuses reads rather than serve stale data;
//! - after the partition heals, every node holds every acknowledged write, and the write sent
//!   to the cut-off leader (never acknowledged) is on none.
//!
//! Needs root with CAP_NET_ADMIN (creating namespaces); skipped with a message otherwise.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;

/// `ip ARGS...`: whether it succeeded.
fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The namespaces, veth pairs and bridge of one test, removed when dropped.
struct Net {
    tag: String,
    subnet: String,
}

impl Net {
    /// Three namespaces `<tag>n1..3` with addresses `<subnet>.1..3`, bridged to this
    /// namespace at `<subnet>.254`; `None` where namespaces cannot be made here.
    fn create() -> Option<Net> {
        let id = std::process::id() % 200 + 20;
        let net = Net {
            tag: format!("orb{id}"),
            subnet: format!("10.213.{id}"),
        };
        // Whatever an earlier run of this process id left behind goes first.
        drop(Net {
            tag: net.tag.clone(),
            subnet: net.subnet.clone(),
        });
        if !ip(&["netns", "add", &net.ns(1)]) {
            return None;
        }
        let bridge = format!("{}br", net.tag);
        let gateway = format!("{}.254/24", net.subnet);
        let mut ok = ip(&["link", "add", &bridge, "type", "bridge"])
            && ip(&["addr", "add", &gateway, "dev", &bridge])
            && ip(&["link", "set", &bridge, "up"]);
        for i in 1..=3 {
            let (ns, host, inner) = (
                net.ns(i),
                format!("{}h{i}", net.tag),
                format!("{}v{i}", net.tag),
            );
            let addr = format!("{}/24", net.addr(i));
            ok = ok
                && (i == 1 || ip(&["netns", "add", &ns]))
                && ip(&["link", "add", &host, "type", "veth", "peer", "name", &inner])
                && ip(&["link", "set", &inner, "netns", &ns])
                && ip(&["link", "set", &host, "master", &bridge])
                && ip(&["link", "set", &host, "up"])
                && ip(&["-n", &ns, "addr", "add", &addr, "dev", &inner])
                && ip(&["-n", &ns, "link", "set", &inner, "up"])
                && ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        assert!(ok, "setting up the namespaces failed");
        Some(net)
    }

    fn ns(&self, i: u64) -> String {
        format!("{}n{i}", self.tag)
    }

    fn addr(&self, i: u64) -> String {
        format!("{}.{i}", self.subnet)
    }

    /// Drops (`cut`) or lets through again what nodes `a` and `b` send each other.
    fn link(&self, a: u64, b: u64, cut: bool) {
        let verb = if cut { "add" } else { "del" };
        for (from, to) in [(a, b), (b, a)] {
            let dst = format!("{}/32", self.addr(to));
            assert!(
                ip(&["-n", &self.ns(from), "route", verb, "blackhole", &dst]),
                "ip route {verb} blackhole {dst} in {}",
                self.ns(from)
            );
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for i in 1..=3 {
            ip(&["netns", "del", &self.ns(i)]);
        }
        ip(&["link", "del", &format!("{}br", self.tag)]);
    }
}

/// The leader every reachable node names, once they agree.
fn leader(nodes: &BTreeMap<u64, Server>, among: &[u64]) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let views: Vec<serde_json::Value> = among
            .iter()
            .map(|id| {
                let s = &nodes[id];
                let (_, body) = common::http_get_at(&s.host, s.http_port, "/cluster");
                serde_json::from_str(&body).unwrap_or_default()
            })
            .collect();
        if let Some(l) = views.first().and_then(|v| v["leader"].as_u64()) {
            if among.contains(&l) && views.iter().all(|v| v["leader"].as_u64() == Some(l)) {
                return l;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nodes {among:?} never agreed on a leader");
}

fn connect(s: &Server) -> redis::Connection {
    let c = redis::Client::open(s.url())
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(2))
        .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    c
}

#[test]
fn a_partitioned_leader_loses_no_acknowledged_write_and_serves_no_stale_read() {
    let Some(net) = Net::create() else {
        eprintln!("skipped: cannot create network namespaces here (needs root and CAP_NET_ADMIN)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let raft = |i: u64| format!("{}:7000", net.addr(i));
    let peers = (1..=3)
        .map(|i| format!("{i}={}", raft(i)))
        .collect::<Vec<_>>()
        .join(",");
    let mut nodes: BTreeMap<u64, Server> = BTreeMap::new();
    for i in 1..=3 {
        let args = [
            "--node-id",
            &i.to_string(),
            "--raft-addr",
            &raft(i),
            "--peers",
            &peers,
        ];
        let server = Server::start_at(
            Some(&net.ns(i)),
            &net.addr(i),
            &dir.path().join(format!("n{i}")),
            &args,
        );
        nodes.insert(i, server);
    }
    let all = [1, 2, 3];
    let old = leader(&nodes, &all);
    let mut acked: Vec<String> = Vec::new();
    let mut c = connect(&nodes[&old]);
    for k in 0..50 {
        let key = format!("before:{k}");
        let _: () = redis::cmd("SET").arg(&key).arg(k).query(&mut c).unwrap();
        acked.push(key);
    }

    // Cut the leader off from both followers.
    let rest: Vec<u64> = all.iter().copied().filter(|&i| i != old).collect();
    for &f in &rest {
        net.link(old, f, true);
    }
    // A write to the cut-off leader: never acknowledged (it cannot reach a majority).
    let lost = redis::cmd("SET").arg("lost").arg("x").query::<()>(&mut c);
    assert!(lost.is_err(), "a cut-off leader acknowledged a write");
    // The majority elects a leader and takes writes.
    let new = leader(&nodes, &rest);
    assert_ne!(new, old);
    let mut n = connect(&nodes[&new]);
    for k in 0..50 {
        let key = format!("during:{k}");
        let _: () = redis::cmd("SET").arg(&key).arg(k).query(&mut n).unwrap();
        acked.push(key);
    }
    // The cut-off node serves no read that could miss those writes (follower reads not
    // asked for): a linearizable read fails there.
    let mut o = connect(&nodes[&old]);
    let read = redis::cmd("GET")
        .arg("during:0")
        .query::<Option<String>>(&mut o);
    assert!(
        !matches!(read, Ok(None)),
        "the cut-off node answered a stale read: {read:?}"
    );
    // Nor with READONLY: a leader confirms itself for follower reads too, and a follower
    // serves them only within the staleness bound.
    let mut o = connect(&nodes[&old]);
    let _: () = redis::cmd("READONLY").query(&mut o).unwrap();
    let read = redis::cmd("GET")
        .arg("during:0")
        .query::<Option<String>>(&mut o);
    assert!(
        !matches!(read, Ok(None)),
        "the cut-off node answered a stale READONLY read: {read:?}"
    );

    // Heal: everything converges on the majority's history.
    for &f in &rest {
        net.link(old, f, false);
    }
    for (id, server) in &nodes {
        let mut r = connect(server);
        let _: () = redis::cmd("READONLY").query(&mut r).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut missing = acked.clone();
        while !missing.is_empty() && Instant::now() < deadline {
            missing.retain(|k| {
                redis::cmd("EXISTS")
                    .arg(k)
                    .query::<i64>(&mut r)
                    .map_or(true, |n| n == 0)
            });
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            missing.is_empty(),
            "node {id} lacks acknowledged writes {missing:?}"
        );
        let lost: i64 = redis::cmd("EXISTS").arg("lost").query(&mut r).unwrap();
        assert_eq!(
            lost, 0,
            "node {id} holds the write that was never acknowledged"
        );
    }
    for (id, server) in std::mem::take(&mut nodes) {
        let (clean, log) = server.stop();
        assert!(clean, "node {id} did not stop cleanly:\n{log}");
        assert!(!log.contains("panicked"), "node {id}:\n{log}");
    }
    drop(net);
}
