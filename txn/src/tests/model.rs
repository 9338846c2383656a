//! Random interleavings of transactions against a sequential model of committed transactions.
//!
//! The model keeps, per key, its committed value and the number of the commit that last
//! touched it. It predicts exactly: what every read returns (snapshot plus own writes, or the
//! latest commit under READ COMMITTED), and whether every commit succeeds: REPEATABLE READ
//! fails iff a key it writes was committed after its snapshot; SERIALIZABLE also iff a key it
//! read, or any key under a scan, was; READ COMMITTED never fails here.

use std::collections::BTreeMap;
use std::ops::Bound;

use orbit_env::SimFs;
use orbit_lsm::Direction;
use proptest::prelude::*;

use super::{open, KS};
use crate::{Error, Isolation, Transaction};

#[derive(Debug, Clone)]
enum Step {
    Begin(usize, u8),
    Get(usize, u8),
    Put(usize, u8, u8),
    Delete(usize, u8),
    Scan(usize),
    Commit(usize),
    Rollback(usize),
    FastPut(u8, u8),
}

fn step() -> impl Strategy<Value = Step> {
    let t = 0usize..3;
    prop_oneof![
        2 => (t.clone(), 0u8..3).prop_map(|(t, l)| Step::Begin(t, l)),
        3 => (t.clone(), 0u8..6).prop_map(|(t, k)| Step::Get(t, k)),
        3 => (t.clone(), 0u8..6, any::<u8>()).prop_map(|(t, k, v)| Step::Put(t, k, v)),
        1 => (t.clone(), 0u8..6).prop_map(|(t, k)| Step::Delete(t, k)),
        1 => t.clone().prop_map(Step::Scan),
        2 => t.clone().prop_map(Step::Commit),
        1 => t.prop_map(Step::Rollback),
        1 => (0u8..6, any::<u8>()).prop_map(|(k, v)| Step::FastPut(k, v)),
    ]
}

/// Committed state: key → (value, number of the last commit touching it).
type Committed = BTreeMap<u8, (Option<u8>, u64)>;

struct Open {
    txn: Transaction,
    level: Isolation,
    snapshot: Committed,
    /// Commits counted when it began.
    began_at: u64,
    writes: BTreeMap<u8, Option<u8>>,
    read: Vec<u8>,
    scanned: bool,
}

fn value_of(c: &Committed, k: u8) -> Option<u8> {
    c.get(&k).and_then(|(v, _)| *v)
}

fn level_of(l: u8) -> Isolation {
    match l {
        0 => Isolation::ReadCommitted,
        1 => Isolation::RepeatableRead,
        _ => Isolation::Serializable,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: orbit_env::testing::proptest_cases(64), ..ProptestConfig::default() })]

    #[test]
    fn transactions_match_a_sequential_model(steps in proptest::collection::vec(step(), 1..60)) {
        let db = open(&SimFs::new());
        let mut committed: Committed = BTreeMap::new();
        let mut commits = 0u64;
        let mut open_txns: Vec<Option<Open>> = vec![None, None, None];
        for s in steps {
            match s {
                Step::Begin(t, l) => {
                    if open_txns[t].is_none() {
                        let level = level_of(l);
                        open_txns[t] = Some(Open {
                            txn: db.begin(level).unwrap(),
                            level,
                            snapshot: committed.clone(),
                            began_at: commits,
                            writes: BTreeMap::new(),
                            read: Vec::new(),
                            scanned: false,
                        });
                    }
                }
                Step::Get(t, k) => {
                    if let Some(o) = open_txns[t].as_mut() {
                        let got = o.txn.get(KS, &[k]).unwrap().map(|v| v[0]);
                        let want = match o.writes.get(&k) {
                            Some(w) => *w,
                            None => {
                                o.read.push(k);
                                match o.level {
                                    Isolation::ReadCommitted => value_of(&committed, k),
                                    _ => value_of(&o.snapshot, k),
                                }
                            }
                        };
                        prop_assert_eq!(got, want, "get {} in txn {}", k, t);
                    }
                }
                Step::Put(t, k, v) => {
                    if let Some(o) = open_txns[t].as_mut() {
                        o.txn.put(KS, &[k], &[v]).unwrap();
                        o.writes.insert(k, Some(v));
                    }
                }
                Step::Delete(t, k) => {
                    if let Some(o) = open_txns[t].as_mut() {
                        o.txn.delete(KS, &[k]).unwrap();
                        o.writes.insert(k, None);
                    }
                }
                Step::Scan(t) => {
                    if let Some(o) = open_txns[t].as_mut() {
                        let got: Vec<(u8, u8)> = o
                            .txn
                            .scan(KS, (Bound::Unbounded, Bound::Unbounded), Direction::Forward)
                            .unwrap()
                            .map(|r| {
                                let (k, v) = r.unwrap();
                                (k[0], v[0])
                            })
                            .collect();
                        let base = match o.level {
                            Isolation::ReadCommitted => &committed,
                            _ => &o.snapshot,
                        };
                        let mut want: BTreeMap<u8, Option<u8>> =
                            base.iter().map(|(k, (v, _))| (*k, *v)).collect();
                        want.extend(o.writes.iter().map(|(k, v)| (*k, *v)));
                        let want: Vec<(u8, u8)> =
                            want.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
                        prop_assert_eq!(got, want, "scan in txn {}", t);
                        o.scanned = true;
                    }
                }
                Step::Commit(t) => {
                    if let Some(o) = open_txns[t].take() {
                        let changed = |k: &u8| committed.get(k).is_some_and(|(_, at)| *at > o.began_at);
                        let fails = match o.level {
                            Isolation::ReadCommitted => false,
                            Isolation::RepeatableRead => o.writes.keys().any(changed),
                            Isolation::Serializable => {
                                !o.writes.is_empty()
                                    && (o.writes.keys().any(changed)
                                        || o.read.iter().any(changed)
                                        || (o.scanned && committed.keys().any(changed)))
                            }
                        };
                        let result = o.txn.commit();
                        match (&result, fails) {
                            (Ok(_), false) => {
                                if !o.writes.is_empty() {
                                    commits += 1;
                                    for (k, v) in &o.writes {
                                        committed.insert(*k, (*v, commits));
                                    }
                                }
                            }
                            (Err(Error::SerializationFailure(_)), true) => {}
                            _ => prop_assert!(false, "commit of txn {} ({:?}): got {:?}, model says fail={}", t, o.level, result.map(|_| ()), fails),
                        }
                    }
                }
                Step::Rollback(t) => {
                    if let Some(o) = open_txns[t].take() {
                        o.txn.rollback();
                    }
                }
                Step::FastPut(k, v) => {
                    db.put(KS, &[k], &[v]).unwrap();
                    commits += 1;
                    committed.insert(k, (Some(v), commits));
                }
            }
        }
        drop(open_txns);
        for k in 0..6u8 {
            prop_assert_eq!(db.get(KS, &[k]).unwrap().map(|v| v[0]), value_of(&committed, k));
        }
        prop_assert_eq!(db.tracked_commits(), 0);
    }
}
