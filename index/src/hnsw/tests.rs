//! The stored index: reopening gives back the same graph, a crash keeps every node whose write
//! was acknowledged, and builds and single inserts agree with exact search.

use std::sync::Arc;

use orbit_env::{CrashMode, SimFs};
use orbit_lsm::{Db, DbOptions};

use super::*;

fn open_db(fs: &SimFs) -> Arc<Db> {
    Arc::new(Db::open(fs.shared(), "/db", DbOptions::default()).expect("open"))
}

/// A location under `prefix` in keyspace "ann" of `db` (made on first use).
pub(crate) fn location(db: &Arc<Db>, prefix: &[u8]) -> Location {
    let keyspace = match db.keyspace("ann") {
        Some(k) => k,
        None => db.create_keyspace("ann").expect("keyspace"),
    };
    Location {
        db: Arc::clone(db),
        keyspace,
        prefix: prefix.to_vec(),
    }
}

/// Inserts into `index` and writes its records as one batch (None: not indexable).
fn put(index: &HnswIndex, v: &[f32], payload: &[u8]) -> Option<orbit_lsm::PendingWrite> {
    let mut batch = orbit_lsm::WriteBatch::new();
    if !index.insert(v, payload, &mut batch).expect("insert") {
        return None;
    }
    Some(index_db(index).write_pending(&batch).expect("write"))
}

fn index_db(index: &HnswIndex) -> Arc<Db> {
    index.location().db.clone()
}

fn loc(db: &Arc<Db>) -> Location {
    location(db, b"t1/i2/")
}

fn params(metric: Metric) -> Params {
    Params {
        metric,
        dim: 8,
        m: 8,
        ef_construction: 32,
        quantize: true,
    }
}

fn data(n: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|i| {
            (0..8)
                .map(|j| ((i * 31 + j * 17) % 97) as f32 / 10.0)
                .collect()
        })
        .collect()
}

fn ids(found: &[Scored], index: &HnswIndex) -> Vec<Vec<u8>> {
    found.iter().filter_map(|s| index.payload(s.node)).collect()
}

#[test]
fn reopened_index_searches_like_the_one_that_wrote_it() {
    let fs = SimFs::new();
    let db = open_db(&fs);
    let (index, pending) = HnswIndex::create(loc(&db), params(Metric::L2)).expect("create");
    pending.wait().expect("meta");
    let (built, writes) = index
        .build(
            data(300)
                .into_iter()
                .enumerate()
                .map(|(i, v)| (v, (i as u32).to_be_bytes().to_vec()))
                .collect(),
        )
        .expect("build");
    assert_eq!(built, 300);
    for w in writes {
        w.wait().expect("durable");
    }
    for (i, v) in data(50).into_iter().enumerate() {
        let w: Vec<f32> = v.iter().map(|x| x + 0.05).collect();
        let p = put(&index, &w, &(1000 + i as u32).to_be_bytes()).expect("indexable");
        p.wait().expect("durable");
    }
    let q = [1.0f32; 8];
    let before = ids(&index.search(&q, 40), &index);
    drop(index);
    let again = HnswIndex::open(loc(&db)).expect("open").expect("stored");
    assert_eq!(again.len(), 350);
    assert_eq!(again.params(), params(Metric::L2));
    assert_eq!(ids(&again.search(&q, 40), &again), before);
    assert_eq!(
        ids(&again.exact(&q, 10), &again),
        ids(&index_exact(&again, &q), &again)
    );
}

fn index_exact(index: &HnswIndex, q: &[f32]) -> Vec<Scored> {
    index.exact(q, 10)
}

#[test]
fn a_crash_keeps_every_acknowledged_node_and_links_stay_valid() {
    let fs = SimFs::new();
    let db = open_db(&fs);
    let (index, pending) = HnswIndex::create(loc(&db), params(Metric::Cosine)).expect("create");
    pending.wait().expect("meta");
    let vectors = data(120);
    for (i, v) in vectors.iter().enumerate() {
        let p = put(&index, v, &(i as u32).to_be_bytes()).expect("indexable");
        p.wait().expect("durable");
    }
    // Written but never waited for: may or may not survive.
    let extra: Vec<f32> = vec![9.0; 8];
    let unacked = put(&index, &extra, b"extra");
    let crashed = fs.crash(CrashMode::Torn { seed: 5 });
    drop(unacked);
    let db2 = open_db(&crashed);
    let back = HnswIndex::open(loc(&db2)).expect("open").expect("stored");
    for (i, v) in vectors.iter().enumerate() {
        let node = (0..back.len() as u32)
            .find(|&n| back.payload(n).as_deref() == Some(&(i as u32).to_be_bytes()[..]));
        let node = node.unwrap_or_else(|| panic!("node of row {i} lost"));
        assert!(back.payload_if_same(node, v).is_some(), "row {i} vector");
    }
    // Every row is still found by searching for its own vector.
    for (i, v) in vectors.iter().enumerate().step_by(7) {
        let found = ids(&back.search(v, 32), &back);
        assert!(
            found.contains(&(i as u32).to_be_bytes().to_vec()),
            "row {i}"
        );
    }
}

#[test]
fn cosine_skips_zero_vectors_and_wrong_dimensions() {
    let fs = SimFs::new();
    let db = open_db(&fs);
    let (index, _p) = HnswIndex::create(loc(&db), params(Metric::Cosine)).expect("create");
    assert!(put(&index, &[0.0; 8], b"z").is_none());
    assert!(put(&index, &[1.0; 3], b"d").is_none());
    assert!(put(&index, &[f32::NAN; 8], b"n").is_none());
    assert!(index.search(&[0.0; 8], 10).is_empty());
    assert!(index.is_empty());
}

#[test]
fn create_over_an_old_prefix_starts_empty() {
    let fs = SimFs::new();
    let db = open_db(&fs);
    let (index, p) = HnswIndex::create(loc(&db), params(Metric::L1)).expect("create");
    p.wait().expect("meta");
    index
        .build(vec![(vec![1.0; 8], b"a".to_vec())])
        .expect("build");
    let (_fresh, p) = HnswIndex::create(loc(&db), params(Metric::L2)).expect("create");
    p.wait().expect("meta");
    let back = HnswIndex::open(loc(&db)).expect("open").expect("stored");
    assert!(back.is_empty());
    assert_eq!(back.params().metric, Metric::L2);
    loc(&db).clear().expect("clear").wait().expect("cleared");
    assert!(HnswIndex::open(loc(&db)).expect("open").is_none());
}

/// Every node record and link list of the index at `loc`, as stored: (node ids, (id, level)
/// of link lists, link targets).
fn stored(loc: &Location) -> (Vec<u32>, Vec<(u32, u8)>, Vec<u32>) {
    let (mut nodes, mut lists, mut targets) = (Vec::new(), Vec::new(), Vec::new());
    for item in loc
        .db
        .prefix(loc.keyspace, &loc.prefix, orbit_lsm::Direction::Forward)
        .expect("scan")
    {
        let (k, v) = item.expect("record");
        let rest = &k[loc.prefix.len()..];
        if rest.len() < 5 {
            continue;
        }
        let id = u32::from_be_bytes(rest[1..5].try_into().expect("id"));
        match rest[0] {
            0x01 => nodes.push(id),
            _ => {
                lists.push((id, rest[5]));
                targets.extend(
                    v.chunks_exact(4)
                        .map(|c| u32::from_le_bytes(c.try_into().expect("u32"))),
                );
            }
        }
    }
    (nodes, lists, targets)
}

/// `n` vectors, no two alike (`data` repeats every 97).
fn distinct(n: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|i| {
            (0..8)
                .map(|j| ((i * 7919 + j * 104_729) % 10_007) as f32 / 100.0)
                .collect()
        })
        .collect()
}

#[test]
fn reclaimed_nodes_leave_storage_and_their_slots_are_reused_after_reopening() {
    let fs = SimFs::new();
    let db = open_db(&fs);
    let (index, pending) = HnswIndex::create(loc(&db), params(Metric::L2)).expect("create");
    pending.wait().expect("meta");
    for (i, v) in distinct(300).iter().enumerate() {
        let w = put(&index, v, &(i as u32).to_be_bytes()).expect("indexable");
        w.wait().expect("durable");
    }
    // Nodes of payloads 0..100 are dead; a stale stamp reclaims nothing.
    let dead: Vec<(u32, u64)> = index
        .born_before(index.stamp())
        .into_iter()
        .filter(|(_, _, p)| u32::from_be_bytes(p[..4].try_into().expect("payload")) < 100)
        .map(|(id, born, _)| (id, born))
        .collect();
    assert_eq!(dead.len(), 100);
    assert!(index.holds(dead[0].0, dead[0].1, &distinct(300)[0]));
    let (n, batch) = index.reclaim(&[(dead[0].0, dead[0].1 + 1)]);
    assert_eq!(n, 0);
    assert!(batch.is_empty());
    let (n, batch) = index.reclaim(&dead);
    assert_eq!(n, 100);
    db.write(&batch).expect("reclaim write");
    assert_eq!(index.occupancy(), (200, 0, 100));
    let (nodes, lists, targets) = stored(index.location());
    let gone = |id: &u32| dead.iter().any(|d| d.0 == *id);
    assert_eq!(nodes.len(), 200);
    assert!(!nodes.iter().any(gone) && !lists.iter().any(|(id, _)| gone(id)));
    assert!(
        !targets.iter().any(gone),
        "a stored list names a reclaimed node"
    );

    // Reopened: the same nodes, the vacated slots free at once.
    drop(index);
    let again = HnswIndex::open(loc(&db)).expect("open").expect("stored");
    assert_eq!(again.occupancy().0, 200);
    let q = distinct(300)[150].clone();
    let found = again.search(&q, 40);
    assert_eq!(found[0].distance, 0.0);
    assert!(ids(&found, &again)
        .iter()
        .all(|p| u32::from_be_bytes(p[..4].try_into().expect("payload")) >= 100));
    let w: Vec<f32> = q.iter().map(|x| x + 0.5).collect();
    put(&again, &w, b"new")
        .expect("indexable")
        .wait()
        .expect("durable");
    let reused = again.search(&w, 10)[0].node;
    assert!(gone(&reused), "slot {reused} is not a reclaimed one");
    drop(again);
    let third = HnswIndex::open(loc(&db)).expect("open").expect("stored");
    assert_eq!(third.payload(reused), Some(b"new".to_vec()));
    assert_eq!(third.search(&w, 10)[0].node, reused);
}
