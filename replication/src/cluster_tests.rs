//! Nodes in one process, talking over loopback TCP, each with its own simulated disk: batches
//! replicate to every database; a stopped leader is replaced and writes go on; the old leader,
//! restarted after a crash of its disk, catches up (in entry batches split to fit small
//! frames); a follower refuses writes naming the leader; a batch too large for the Raft log
//! is refused and the node goes on; a follower behind what the leader's log still holds
//! catches up from a snapshot sent in chunks; a node restarted on its address is reached again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::RPCError;
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::VoteRequest;
use openraft::{BasicNode, Vote};
use orbit_env::{CrashMode, FileSystem, SimFs};
use orbit_lsm::{Db, WriteBatch, DEFAULT_KEYSPACE};
use tokio::net::TcpListener;

use crate::tests::open_storage;
use crate::{Error, Network, RaftNode, Tuning};

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

struct Member {
    fs: SimFs,
    addr: String,
    db: Arc<Db>,
    node: Option<RaftNode>,
}

/// Frames this small hold a few padded writes: a catching-up follower's entries must be
/// sent in several batches.
const FRAME: usize = 64 << 10;
const PADDING: usize = 10 << 10;

/// Opens node `id`'s log and database on `fs` and starts it on `listener`.
async fn start(id: u64, fs: &SimFs, listener: TcpListener) -> (Arc<Db>, RaftNode) {
    start_with(id, fs, listener, FRAME, Tuning::default()).await
}

async fn start_with(
    id: u64,
    fs: &SimFs,
    listener: TcpListener,
    frame: usize,
    tuning: Tuning,
) -> (Arc<Db>, RaftNode) {
    let (log, db, sm) = open_storage(fs).await;
    let net = Network::with_max_frame(frame);
    let node = RaftNode::start_with(id, net, Some(listener), log, sm, tuning)
        .await
        .unwrap();
    (db, node)
}

fn put(i: u32) -> WriteBatch {
    let mut b = WriteBatch::new();
    b.put(
        DEFAULT_KEYSPACE,
        format!("k{i:04}").as_bytes(),
        &i.to_le_bytes(),
    )
    .put(
        DEFAULT_KEYSPACE,
        format!("pad{i:04}").as_bytes(),
        &[7; PADDING],
    );
    b
}

/// Waits until node `m` has applied `index`, then checks it holds keys `0..n`.
async fn holds(m: &Member, index: u64, n: u32) {
    let node = m.node.as_ref().unwrap();
    node.raft()
        .wait(WAIT)
        .applied_index_at_least(Some(index), "applied")
        .await
        .unwrap();
    for i in 0..n {
        let got = m.db.get(DEFAULT_KEYSPACE, format!("k{i:04}").as_bytes());
        assert_eq!(
            got.unwrap(),
            Some(i.to_le_bytes().to_vec()),
            "node {} key {i}",
            node.id()
        );
    }
}

async fn leader_among(members: &BTreeMap<u64, Member>, not: Option<u64>) -> u64 {
    let any = members.values().find_map(|m| m.node.as_ref()).unwrap();
    let m = any
        .raft()
        .wait(WAIT)
        .metrics(
            |m| m.current_leader.is_some() && m.current_leader != not,
            "a leader",
        )
        .await
        .unwrap();
    m.current_leader.unwrap()
}

#[test]
fn three_nodes_replicate_fail_over_and_catch_up() {
    let rt = crate::tests::runtime();
    rt.block_on(async {
        let mut members = BTreeMap::new();
        for id in 1..=3u64 {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            let fs = SimFs::new();
            let (db, node) = start(id, &fs, listener).await;
            let node = Some(node);
            members.insert(id, Member { fs, addr, db, node });
        }
        let addrs: BTreeMap<u64, String> = members
            .iter()
            .map(|(id, m)| (*id, m.addr.clone()))
            .collect();
        let first_node = members[&1].node.as_ref().unwrap();
        first_node.initialize_addrs(&addrs).await.unwrap();

        let first = leader_among(&members, None).await;
        let follower = *members.keys().find(|&&id| id != first).unwrap();
        let node = members[&follower].node.as_ref().unwrap();
        // Once it has heard from the leader, a follower names it.
        node.raft()
            .wait(WAIT)
            .current_leader(first, "the follower knows the leader")
            .await
            .unwrap();
        let refused = node.propose(&put(0)).await.unwrap_err();
        match refused {
            Error::NotLeader {
                leader_id,
                leader_addr,
            } => {
                assert_eq!(leader_id, Some(first));
                assert_eq!(leader_addr.as_deref(), Some(members[&first].addr.as_str()));
            }
            other => panic!("a follower accepted or failed otherwise: {other}"),
        }

        let leader = members[&first].node.as_ref().unwrap();
        let mut seqs = Vec::new();
        let mut index = 0;
        for i in 0..50 {
            let committed = leader.propose(&put(i)).await.unwrap();
            seqs.push(committed.applied.seq.unwrap());
            index = committed.log_id.index;
        }
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        // Acknowledged means applied on the leader.
        assert_eq!(
            members[&first].db.get(DEFAULT_KEYSPACE, b"k0049").unwrap(),
            Some(49u32.to_le_bytes().to_vec())
        );
        for m in members.values() {
            holds(m, index, 50).await;
        }

        // Stop the leader; the two others elect one of themselves and take writes.
        let old = members.get_mut(&first).unwrap();
        old.node.take().unwrap().shutdown().await.unwrap();
        let second = leader_among(&members, Some(first)).await;
        assert_ne!(second, first);
        let leader = members[&second].node.as_ref().unwrap();
        for i in 50..100 {
            index = leader.propose(&put(i)).await.unwrap().log_id.index;
        }
        for m in members.values().filter(|m| m.node.is_some()) {
            holds(m, index, 100).await;
        }

        // The old leader's disk crashes; it restarts from what was durable and catches up.
        let old = members.get_mut(&first).unwrap();
        let crashed = old.fs.crash(CrashMode::DropUnsynced);
        let listener = TcpListener::bind(&old.addr).await.unwrap();
        let (db, node) = start(first, &crashed, listener).await;
        old.fs = crashed;
        old.db = db;
        old.node = Some(node);
        holds(&members[&first], index, 100).await;

        for m in members.values_mut() {
            if let Some(node) = m.node.take() {
                node.shutdown().await.unwrap();
            }
        }
    });
}

#[test]
fn a_batch_too_large_for_the_raft_log_is_refused_and_the_node_goes_on() {
    let rt = crate::tests::runtime();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let fs = SimFs::new();
        let (db, node) = start(1, &fs, listener).await;
        node.initialize_addrs(&[(1, addr.to_string())].into())
            .await
            .unwrap();
        node.raft()
            .wait(WAIT)
            .current_leader(1, "a leader of one")
            .await
            .unwrap();
        // The test log's segments are 16 KiB: its records are smaller still.
        let mut big = WriteBatch::new();
        big.put(DEFAULT_KEYSPACE, b"big", &vec![1; 2 << 20]);
        match node.propose(&big).await {
            Err(Error::TooLarge { what, len, max }) => {
                assert_eq!(what, "commit batch");
                assert!(len > max, "{len} <= {max}");
            }
            other => panic!("a batch over the log's record size: {other:?}"),
        }
        node.propose(&put(1)).await.unwrap();
        assert_eq!(db.get(DEFAULT_KEYSPACE, b"big").unwrap(), None);
        assert_eq!(
            db.get(DEFAULT_KEYSPACE, b"k0001").unwrap(),
            Some(1u32.to_le_bytes().to_vec())
        );
        node.shutdown().await.unwrap();
    });
}

/// A node stopped and started again on its address, in the same process, is reached again
/// by a peer that spoke to the old one: stopping a node closes the connections it answered
/// on (one left open answered "stopped" for ever, and a restarted follower never heard its
/// leader again).
#[test]
fn a_node_restarted_on_its_address_is_reached_again_by_its_peers() {
    let rt = crate::tests::runtime();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (_db, node) = start(1, &SimFs::new(), listener).await;
        let mut peer = Network::default()
            .new_client(1, &BasicNode::new(&addr))
            .await;
        let option = RPCOption::new(Duration::from_secs(10));
        let vote = |term| VoteRequest::new(Vote::new(term, 2), None);
        peer.vote(vote(1), option.clone()).await.unwrap();

        node.shutdown().await.unwrap();
        match peer.vote(vote(2), option.clone()).await {
            Err(RPCError::Network(_) | RPCError::Unreachable(_)) => {}
            other => panic!("a stopped node's connection still answers: {other:?}"),
        }

        let listener = TcpListener::bind(&addr).await.unwrap();
        let (_db, node) = start(1, &SimFs::new(), listener).await;
        let answer = peer.vote(vote(3), option).await.unwrap();
        assert_eq!(answer.vote, Vote::new(3, 2), "the new node took the vote");
        node.shutdown().await.unwrap();
    });
}

#[test]
fn a_follower_behind_the_purged_log_catches_up_from_a_snapshot() {
    let rt = crate::tests::runtime();
    rt.block_on(async {
        let tuning = Tuning {
            snapshot_every: 50,
            ..Tuning::default()
        };
        let mut members = BTreeMap::new();
        for id in 1..=3u64 {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            let fs = SimFs::new();
            let (db, node) = start_with(id, &fs, listener, crate::MAX_FRAME, tuning).await;
            let node = Some(node);
            members.insert(id, Member { fs, addr, db, node });
        }
        let addrs = members
            .iter()
            .map(|(id, m)| (*id, m.addr.clone()))
            .collect();
        members[&1]
            .node
            .as_ref()
            .unwrap()
            .initialize_addrs(&addrs)
            .await
            .unwrap();
        let first = leader_among(&members, None).await;
        let behind = *members.keys().find(|&&id| id != first).unwrap();
        members
            .get_mut(&behind)
            .unwrap()
            .node
            .take()
            .unwrap()
            .shutdown()
            .await
            .unwrap();

        // 400 padded writes: a snapshot of about 4 MiB, more than one 3 MiB chunk.
        let leader = members[&first].node.as_ref().unwrap();
        let mut index = 0;
        for i in 0..400 {
            index = leader.propose(&put(i)).await.unwrap().log_id.index;
        }
        let purged = leader
            .raft()
            .wait(WAIT)
            .metrics(
                |m| m.purged.is_some_and(|p| p.index > 300),
                "the log purged",
            )
            .await
            .unwrap()
            .purged;

        // It restarts after a crash of its disk: what it lacks is no longer in any log.
        let m = members.get_mut(&behind).unwrap();
        let crashed = m.fs.crash(CrashMode::DropUnsynced);
        let listener = TcpListener::bind(&m.addr).await.unwrap();
        let (db, node) = start_with(behind, &crashed, listener, crate::MAX_FRAME, tuning).await;
        (m.fs, m.db, m.node) = (crashed, db, Some(node));
        // Usually about 1.5 s.
        holds(&members[&behind], index, 400).await;
        let installed = members[&behind]
            .fs
            .list_dir(std::path::Path::new(crate::tests::SNAPSHOTS))
            .unwrap();
        assert!(
            installed.iter().any(|f| f.starts_with("installed-")),
            "purged up to {purged:?}, snapshot files {installed:?}"
        );
        for m in members.values_mut() {
            if let Some(node) = m.node.take() {
                node.shutdown().await.unwrap();
            }
        }
    });
}
