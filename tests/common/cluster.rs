//! A cluster of real `orbit serve` processes on loopback (tests of replication).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use super::{free_port, free_ports, Server};

pub const NODES: u64 = 3;

/// Nodes by id (`None`: stopped), their Raft ports and data directories.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub raft: BTreeMap<u64, u16>,
    pub nodes: BTreeMap<u64, Option<Server>>,
    /// Flags every node starts with.
    pub flags: Vec<String>,
}

impl Cluster {
    /// Three nodes, started together.
    pub fn start() -> Cluster {
        Cluster::start_with(&[])
    }

    /// Three nodes, each started with `flags` too.
    pub fn start_with(flags: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        // Taken together: probed one by one, a released port can come back at once.
        let ports = free_ports::<{ NODES as usize }>();
        let raft: BTreeMap<u64, u16> = (1..=NODES).zip(ports).collect();
        let mut cluster = Cluster {
            dir,
            raft,
            nodes: BTreeMap::new(),
            flags: flags.iter().map(|f| f.to_string()).collect(),
        };
        for id in 1..=NODES {
            cluster.boot(id);
        }
        cluster
    }

    /// Starts (or restarts) node `id` on its data directory and Raft port.
    pub fn boot(&mut self, id: u64) {
        let peers = self
            .raft
            .iter()
            .map(|(id, port)| format!("{id}=127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",");
        self.boot_with(id, &["--peers", &peers]);
    }

    /// Starts node `id` with `extra` flags besides its id and Raft address.
    pub fn boot_with(&mut self, id: u64, extra: &[&str]) {
        let port = *self.raft.entry(id).or_insert_with(free_port);
        let mut args = vec![
            "--node-id".to_string(),
            id.to_string(),
            "--raft-addr".to_string(),
            format!("127.0.0.1:{port}"),
        ];
        args.extend(self.flags.iter().cloned());
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = Server::start(&self.dir.path().join(format!("node{id}")), &args);
        self.nodes.insert(id, Some(server));
    }

    /// SIGKILLs node `id` (it must be running).
    pub fn kill9(&mut self, id: u64) {
        self.nodes.insert(id, None).unwrap().unwrap().kill9();
    }

    pub fn node(&self, id: u64) -> &Server {
        self.nodes[&id].as_ref().unwrap()
    }

    pub fn running(&self) -> impl Iterator<Item = (u64, &Server)> {
        self.nodes
            .iter()
            .filter_map(|(id, s)| s.as_ref().map(|s| (*id, s)))
    }
}

/// The leader every running node names (elections right after the cluster starts may move
/// leadership after the first writes: tests that need the leader ask for it).
pub fn settled_leader(cluster: &Cluster) -> u64 {
    for _ in 0..1500 {
        let views: Vec<(u64, serde_json::Value)> = cluster
            .running()
            .map(|(id, s)| {
                let (_, body) = super::http_get(s.http_port, "/cluster");
                (id, serde_json::from_str(&body).unwrap_or_default())
            })
            .collect();
        if let Some(l) = views.first().and_then(|(_, v)| v["leader"].as_u64()) {
            let agreed = views.iter().all(|(id, v)| {
                v["leader"].as_u64() == Some(l) && (v["role"] == "leader") == (*id == l)
            });
            if agreed {
                return l;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the nodes never agreed on a leader");
}

/// Sends `sig` (`-KILL`, `-STOP`, `-CONT`) to a node's process.
pub fn signal(server: &Server, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &server.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}
