//! Transactions committing through [`crate::ReplicatedLog`] on three nodes over loopback TCP:
//! concurrent read-modify-write transactions on the leader lose no update; writes submitted
//! back to back share Raft entries and keep their order; every node converges; a follower
//! refuses commits naming the leader and learns of applied writes through its epoch; reads on
//! the leader wait for a majority to confirm it leads, a follower serves them only when stale
//! reads are fine, and a leader left alone refuses them; after the leader stops, the new
//! leader refuses a transaction that began before it led, and takes new ones.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use orbit_env::SimFs;
use orbit_lsm::{Db, DEFAULT_KEYSPACE};
use orbit_txn::{Error as TxnError, Isolation, ReadGate, TxnDb};
use tokio::net::TcpListener;

use crate::tests::open_storage;
use crate::{Network, RaftNode, ReplicatedLog, Tuning};

const WAIT: Option<Duration> = Some(Duration::from_secs(10));
const KS: u32 = DEFAULT_KEYSPACE;

struct Member {
    addr: String,
    db: Arc<Db>,
    txn: TxnDb,
    log: ReplicatedLog,
    node: Option<RaftNode>,
}

fn counter(db: &Db) -> u64 {
    db.get(KS, b"counter")
        .unwrap()
        .map_or(0, |v| u64::from_le_bytes(v.try_into().unwrap()))
}

/// Adds one to the counter in a REPEATABLE READ transaction, retrying serialization
/// failures; returns how many attempts it took.
async fn increment(txn: &TxnDb) -> u32 {
    for attempt in 1.. {
        let mut t = txn.begin(Isolation::RepeatableRead).unwrap();
        let n = t
            .get(KS, b"counter")
            .unwrap()
            .map_or(0, |v| u64::from_le_bytes(v.try_into().unwrap()));
        t.put(KS, b"counter", &(n + 1).to_le_bytes()).unwrap();
        match t.commit_pending() {
            Ok(Some(p)) => {
                p.await.unwrap();
                return attempt;
            }
            Ok(None) => unreachable!("the transaction wrote"),
            Err(e) if e.is_retryable() => tokio::task::yield_now().await,
            Err(e) => panic!("{e}"),
        }
    }
    unreachable!()
}

async fn leading(members: &BTreeMap<u64, Member>, not: Option<u64>) -> u64 {
    for _ in 0..1000 {
        if let Some((id, _)) = members
            .iter()
            .find(|(id, m)| m.node.is_some() && Some(**id) != not && m.log.is_leading())
        {
            return *id;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no node opened its commit pipeline");
}

#[test]
fn transactions_commit_through_raft_and_survive_a_change_of_leader() {
    let rt = crate::tests::runtime();
    rt.block_on(async {
        let mut members = BTreeMap::new();
        for id in 1..=3u64 {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            let (log, db, sm) = open_storage(&SimFs::new()).await;
            let node = RaftNode::start_with(
                id,
                Network::default(),
                Some(listener),
                log,
                sm,
                Tuning::default(),
            )
            .await
            .unwrap();
            let log = node.commit_log(&format!("resp client-{id}"));
            let txn = TxnDb::with_log(Arc::clone(&db), Arc::new(log.clone()));
            let node = Some(node);
            members.insert(
                id,
                Member {
                    addr,
                    db,
                    txn,
                    log,
                    node,
                },
            );
        }
        let addrs: BTreeMap<u64, String> = members
            .iter()
            .map(|(id, m)| (*id, m.addr.clone()))
            .collect();
        let first_node = members[&1].node.as_ref().unwrap();
        first_node.initialize_addrs(&addrs).await.unwrap();
        let first = leading(&members, None).await;
        let follower = *members.keys().find(|&&id| id != first).unwrap();

        // Concurrent increments on the leader: first committer wins, nobody's update is lost.
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let txn = members[&first].txn.clone();
                tokio::spawn(async move {
                    let mut retries = 0;
                    for _ in 0..25 {
                        retries += increment(&txn).await - 1;
                    }
                    retries
                })
            })
            .collect();
        let mut retries = 0;
        for t in tasks {
            retries += t.await.unwrap();
        }
        assert_eq!(counter(&members[&first].db), 100, "{retries} retries");

        // Writes submitted back to back, none awaited before the next, share Raft entries
        // (group commit) and land in submission order.
        let leader_node = members[&first].node.as_ref().unwrap();
        let before = leader_node.metrics().last_log_index.unwrap_or(0);
        let pending: Vec<_> = (0..200u64)
            .map(|i| {
                members[&first]
                    .txn
                    .submit(orbit_lsm::WriteBatch::new().put(KS, b"last", &i.to_le_bytes()))
                    .unwrap()
            })
            .collect();
        let mut seqs = Vec::new();
        for p in pending {
            seqs.push(p.await.unwrap());
        }
        assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "{seqs:?}");
        let entries = leader_node.metrics().last_log_index.unwrap_or(0) - before;
        assert!(entries < 100, "200 writes took {entries} entries");
        assert_eq!(
            members[&first].db.get(KS, b"last").unwrap(),
            Some(199u64.to_le_bytes().to_vec())
        );

        // Every node converges; a follower saw writes it did not commit (its epoch moved).
        let index = members[&first]
            .node
            .as_ref()
            .unwrap()
            .metrics()
            .last_applied;
        for m in members.values() {
            m.node
                .as_ref()
                .unwrap()
                .raft()
                .wait(WAIT)
                .applied_index_at_least(index.map(|l| l.index), "applied")
                .await
                .unwrap();
            assert_eq!(counter(&m.db), 100);
        }
        assert!(members[&follower].txn.epoch() > 0);
        assert_eq!(
            members[&first].txn.epoch(),
            0,
            "the leader applied only its own"
        );

        // A follower refuses commits and names the leader.
        let mut t = members[&follower]
            .txn
            .begin(Isolation::ReadCommitted)
            .unwrap();
        t.put(KS, b"x", b"1").unwrap();
        match t.commit_pending() {
            Err(e @ TxnError::NotLeader { .. }) => {
                assert_eq!(e.sqlstate(), "25006");
                // By its client addresses, which the leader recorded when it opened.
                assert!(
                    e.to_string().contains(&format!("resp client-{first}")),
                    "{e}"
                );
            }
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a follower committed"),
        }

        // Reads: the leader serves them once a majority confirms it leads; a follower only
        // when stale reads are fine.
        let stamp = members[&first].txn.read_stamp();
        match members[&first].txn.read_gate(stamp, false) {
            ReadGate::Wait(round) => {
                let _ = orbit_txn::Pending::Replicated(round).await;
            }
            _ => panic!("the leader served a read without confirming it leads"),
        }
        assert!(matches!(
            members[&first].txn.read_gate(stamp, false),
            ReadGate::Ready
        ));
        assert!(matches!(
            members[&follower]
                .txn
                .read_gate(members[&follower].txn.read_stamp(), false),
            ReadGate::Refuse(TxnError::NotLeader { leader: Some(_) })
        ));
        assert!(matches!(
            members[&follower].txn.read_gate(0, true),
            ReadGate::Ready
        ));

        // A transaction begins on each follower; then the leader stops.
        let mut early: BTreeMap<u64, orbit_txn::Transaction> = members
            .iter()
            .filter(|(id, _)| **id != first)
            .map(|(id, m)| (*id, m.txn.begin(Isolation::RepeatableRead).unwrap()))
            .collect();
        let old = members.get_mut(&first).unwrap();
        old.node.take().unwrap().shutdown().await.unwrap();
        let second = leading(&members, Some(first)).await;
        // Begun before its node led: the new leader's pipeline never saw what it read under.
        let mut t = early.remove(&second).unwrap();
        t.put(KS, b"counter", &0u64.to_le_bytes()).unwrap();
        assert!(matches!(
            t.commit_pending(),
            Err(TxnError::SerializationFailure(_))
        ));
        for _ in 0..10 {
            increment(&members[&second].txn).await;
        }
        assert_eq!(counter(&members[&second].db), 110);

        // Alone (the third node stops too), the leader cannot confirm it leads: a read that
        // arrives now is refused rather than served stale.
        let third = *members
            .keys()
            .find(|&&id| id != first && id != second)
            .unwrap();
        let node = members.get_mut(&third).unwrap().node.take().unwrap();
        node.shutdown().await.unwrap();
        let txn = &members[&second].txn;
        let stamp = txn.read_stamp();
        let refused = loop {
            match txn.read_gate(stamp, false) {
                ReadGate::Wait(round) => {
                    let _ = orbit_txn::Pending::Replicated(round).await;
                }
                ReadGate::Ready => tokio::time::sleep(Duration::from_millis(10)).await,
                ReadGate::Refuse(e) => break e,
            }
        };
        assert!(matches!(refused, TxnError::NotLeader { .. }), "{refused}");

        for m in members.values_mut() {
            if let Some(node) = m.node.take() {
                node.shutdown().await.unwrap();
            }
        }
    });
}
