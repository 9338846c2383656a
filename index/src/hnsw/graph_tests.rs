//! The graph against exact search: recall for every metric, link caps, the empty and
//! one-node graphs, concurrent inserts and searches.

use super::*;
use crate::hnsw::nodes::{huge_pages, reserve_huge};

/// Clustered points with a fixed seed.
pub(crate) fn points(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut s = seed;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s % 10_000) as f32 / 10_000.0
    };
    let centers: Vec<Vec<f32>> = (0..10)
        .map(|_| (0..dim).map(|_| next() * 10.0).collect())
        .collect();
    (0..n)
        .map(|i| centers[i % 10].iter().map(|c| c + next() - 0.5).collect())
        .collect()
}

fn normalize(v: &mut [f32]) {
    let n = distance::norm(v);
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Recall@10 at ef 40 of a graph of `n` points of `dim` dimensions (quantized from
/// `QUANTIZE_AT` points and `QUANTIZE_MIN_DIM` dimensions on).
fn recall(metric: Metric, n: usize, dim: u32) -> f64 {
    let g = Graph::new(Params {
        metric,
        dim,
        m: 8,
        ef_construction: 48,
        quantize: true,
    });
    // Queries come from the same distribution as the data and are not inserted.
    let mut data = points(n + 50, dim as usize, 42);
    if metric == Metric::Cosine {
        data.iter_mut().for_each(|v| normalize(v));
    }
    // Inner-product search is for embeddings centred near the origin (see
    // `Metric::build_metric`); these clusters sit in [0, 10]^dim.
    if metric == Metric::InnerProduct {
        data.iter_mut().flatten().for_each(|x| *x -= 5.0);
    }
    let queries = data.split_off(n);
    for (i, v) in data.iter().enumerate() {
        g.insert(v.clone().into(), (i as u32).to_be_bytes().into());
    }
    let quantized = n >= QUANTIZE_AT && dim as usize >= QUANTIZE_MIN_DIM;
    assert_eq!(g.read().quantizer().is_some(), quantized);
    let (mut hit, mut total) = (0usize, 0usize);
    for q in &queries {
        let truth: Vec<u32> = g.exact(q, 10).iter().map(|s| s.node).collect();
        let found = g.search(q, 40);
        // Ascending by the exact distance, whatever the walk scored by.
        for s in &found {
            let exact = metric.distance(q, g.read().vector(s.node as usize));
            assert_eq!(s.distance, exact);
        }
        assert!(found.windows(2).all(|w| w[0] <= w[1]));
        let got: Vec<u32> = found.iter().take(10).map(|s| s.node).collect();
        hit += got.iter().filter(|n| truth.contains(n)).count();
        total += truth.len();
    }
    hit as f64 / total as f64
}

#[test]
fn recall_at_10_against_exact_search_for_every_metric() {
    for m in [Metric::L2, Metric::InnerProduct, Metric::Cosine, Metric::L1] {
        for (n, dim) in [(1000, 16), (1500, 16), (1000, 96), (1500, 96)] {
            let r = recall(m, n, dim);
            assert!(r >= 0.9, "{m:?}, {n} points of {dim}: recall {r}");
        }
    }
}

/// `g` as `Graph::restore` rebuilds it from its stored nodes, node `lost` missing (a record
/// lost in a crash).
fn restored_without(g: &Graph, lost: Option<usize>) -> Graph {
    let mut stored = Vec::new();
    g.for_each_node(|_, v, p, links| {
        stored.push(Some(StoredNode {
            vector: v.into(),
            payload: p.into(),
            links,
        }))
    });
    if let Some(lost) = lost {
        stored[lost] = None;
    }
    Graph::restore(g.params(), stored)
}

/// Every present node's codes are its vector encoded by the graph's current quantizer.
pub(super) fn assert_codes_match(g: &Graph) {
    let nodes = g.read();
    let q = nodes.quantizer().expect("quantized");
    let mut want = vec![0u8; q.dim()];
    for (i, n) in nodes.iter() {
        if n.present() {
            q.encode(nodes.vector(i), &mut want);
            assert_eq!(nodes.code(i), &want[..], "node {i}");
        }
    }
}

#[test]
fn codes_follow_inserts_refits_parallel_builds_and_restores() {
    let params = Params {
        metric: Metric::L2,
        dim: 64,
        m: 4,
        ef_construction: 16,
        quantize: true,
    };
    let g = Graph::new(params);
    // Later points drift outside the range the first fit saw: the refit at twice the size
    // must widen it.
    let mut data = points(2 * QUANTIZE_AT + 300, 64, 9);
    for (i, v) in data.iter_mut().enumerate() {
        v.iter_mut().for_each(|x| *x += i as f32 / 100.0);
    }
    for v in &data[..QUANTIZE_AT - 1] {
        g.insert(v.clone().into(), Box::new([]));
    }
    assert!(g.read().quantizer().is_none());
    g.insert(data[QUANTIZE_AT - 1].clone().into(), Box::new([]));
    assert_eq!(g.read().fitted_at(), Some(QUANTIZE_AT));
    for v in &data[QUANTIZE_AT..2 * QUANTIZE_AT - 1] {
        g.insert(v.clone().into(), Box::new([]));
    }
    assert_codes_match(&g);
    g.insert_all(
        data[2 * QUANTIZE_AT - 1..]
            .iter()
            .map(|v| (v.clone().into(), Box::new([]) as Box<[u8]>))
            .collect(),
    );
    assert_eq!(g.read().fitted_at(), Some(2 * QUANTIZE_AT + 300));
    assert_codes_match(&g);
    // The last point, far outside the first fit's range, is its own nearest neighbour.
    let last = data.last().expect("points");
    assert_eq!(g.search(last, 10)[0].node, data.len() as u32 - 1);
    let r = restored_without(&g, Some(3));
    assert_codes_match(&r);
    assert_eq!(r.search(&data[100], 16)[0].node, 100);
}

#[test]
fn links_respect_their_caps_and_name_real_nodes() {
    let g = Graph::new(Params {
        metric: Metric::L2,
        dim: 8,
        m: 4,
        ef_construction: 16,
        quantize: true,
    });
    for (i, v) in points(400, 8, 3).into_iter().enumerate() {
        g.insert(v.into(), (i as u32).to_be_bytes().into());
    }
    let n = g.len() as u32;
    g.for_each_node(|_, _, _, links| {
        for (l, list) in links.iter().enumerate() {
            assert!(list.len() <= if l == 0 { 8 } else { 4 });
            assert!(list.iter().all(|&t| t < n));
        }
    });
}

#[test]
fn empty_graph_finds_nothing_and_one_node_finds_itself() {
    let g = Graph::new(Params {
        metric: Metric::L2,
        dim: 2,
        m: 16,
        ef_construction: 64,
        quantize: true,
    });
    assert!(g.search(&[0.0, 0.0], 10).is_empty());
    g.insert(vec![1.0, 1.0].into(), Box::new([7]));
    let found = g.search(&[0.0, 0.0], 10);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].distance, 2.0);
    assert_eq!(g.with_node(0, |_, p| p.to_vec()), Some(vec![7]));
}

#[test]
fn concurrent_inserts_and_searches_keep_the_graph_whole() {
    let g = Graph::new(Params {
        metric: Metric::L2,
        dim: 64,
        m: 8,
        ef_construction: 32,
        quantize: true,
    });
    // Past `QUANTIZE_AT`: the fit (a write lock) happens among the searches.
    let data = points(1600, 64, 11);
    std::thread::scope(|s| {
        for part in data.chunks(400) {
            let g = &g;
            s.spawn(move || {
                for v in part {
                    g.insert(v.clone().into(), Box::new([]));
                    g.search(v, 10);
                }
            });
        }
    });
    assert_eq!(g.len(), 1600);
    assert_codes_match(&g);
    // Over forty queries at ef 100: the graph depends on how the threads ran, and one query
    // whose descent ends in the wrong cluster of these ten far-apart ones can miss at ef 64.
    let (mut hits, mut total) = (0, 0);
    for q in data.iter().step_by(40) {
        let truth: Vec<u32> = g.exact(q, 10).iter().map(|s| s.node).collect();
        let got: Vec<u32> = g.search(q, 100).iter().take(10).map(|s| s.node).collect();
        hits += got.iter().filter(|n| truth.contains(n)).count();
        total += truth.len();
    }
    assert!(hits * 10 >= total * 9, "{hits} of {total}");
}

/// Every node's lock-free level-0 copy equals its list (what searches on layer 0 read).
pub(super) fn assert_flat_links_match(g: &Graph) {
    let nodes = g.read();
    for i in 0..nodes.len() {
        let list = nodes.get(i).and_then(|n| n.links(0)).map(|l| l.clone());
        let flat: Vec<u32> = nodes.links0(i as u32).collect();
        assert_eq!(flat, list.unwrap_or_default(), "node {i}");
    }
}

#[test]
fn the_flat_level0_links_follow_inserts_parallel_builds_and_restores() {
    let params = Params {
        metric: Metric::L2,
        dim: 8,
        m: 4,
        ef_construction: 16,
        quantize: true,
    };
    let g = Graph::new(params);
    let data = points(600, 8, 5);
    for v in &data[..300] {
        g.insert(v.clone().into(), Box::new([]));
    }
    assert_flat_links_match(&g);
    g.insert_all(
        data[300..]
            .iter()
            .map(|v| (v.clone().into(), Box::new([]) as Box<[u8]>))
            .collect(),
    );
    assert_flat_links_match(&g);
    // A gap (a node lost in a crash) is linked to by no one after the restore.
    let r = restored_without(&g, Some(7));
    assert_flat_links_match(&r);
    let nodes = r.read();
    assert!((0..nodes.len() as u32).all(|i| nodes.links0(i).all(|t| t != 7)));
}

/// A growth past a few huge pages (the `madvise` path runs) keeps every element in order.
#[test]
fn growing_past_huge_pages_keeps_the_contents() {
    let mut v: Vec<u32> = (0..1000).collect();
    reserve_huge(&mut v, 3 << 20);
    assert!(v.capacity() >= 1000 + (3 << 20));
    assert!(v.iter().copied().eq(0..1000));
    v.extend(1000..(3 << 20));
    huge_pages(&v);
    assert!(v.iter().copied().eq(0..(3 << 20)));
}

/// A graph that cannot be quantized (one row far beyond the rest, `quantize: false`) is
/// searched in full precision and finds as much as ever.
#[test]
fn unquantizable_or_opted_out_graphs_search_in_full_precision() {
    for (quantize, outlier) in [(true, true), (false, false)] {
        let g = Graph::new(Params {
            metric: Metric::L2,
            dim: 64,
            m: 8,
            ef_construction: 32,
            quantize,
        });
        let mut data = points(QUANTIZE_AT + 100, 64, 21);
        if outlier {
            data[50] = vec![3e21; 64];
        }
        g.insert_all(
            data.iter()
                .map(|v| (v.clone().into(), Box::new([]) as Box<[u8]>))
                .collect(),
        );
        assert!(g.read().quantizer().is_none(), "{quantize} {outlier}");
        assert_eq!(g.read().fitted_at().is_some(), quantize);
        let found = g.search(&data[7], 40);
        assert_eq!(found.len(), 40);
        assert_eq!(found[0].node, 7);
    }
}

#[test]
fn copies_of_one_point_stay_linked_to_the_rest() {
    // Four exact copies of each of 60 points. A heuristic that drops a candidate at a tie
    // keeps a copy's duplicate alone: copies then link only to each other, an island from
    // which a search returns just them.
    let params = Params {
        metric: Metric::L2,
        dim: 8,
        m: 8,
        ef_construction: 32,
        quantize: true,
    };
    let base = points(60, 8, 9);
    let items = || -> Vec<Item> {
        (0..4)
            .flat_map(|_| base.iter())
            .map(|v| (v.clone().into(), Box::new([]) as Box<[u8]>))
            .collect()
    };
    let one_by_one = Graph::new(params);
    for (v, p) in items() {
        one_by_one.insert(v, p);
    }
    // Inserted one at a time, every copy links to another point, and a search finds all
    // four copies of the point it asks for.
    let nodes = one_by_one.read();
    for i in 0..nodes.len() {
        let v = nodes.vector(i);
        assert!(
            nodes
                .links0(i as u32)
                .any(|t| nodes.vector(t as usize) != v),
            "node {i} links only to its copies"
        );
    }
    drop(nodes);
    for q in &base {
        let found = one_by_one.search(q, 40);
        assert!(found.iter().take(4).all(|s| s.distance == 0.0));
    }
    // A parallel build links copies side by side, and one may see only another copy; but
    // from every node a walk of level 0 leaves its copies, and every search fills up.
    let built = Graph::new(params);
    built.insert_all(items());
    for g in [&one_by_one, &built] {
        let nodes = g.read();
        for i in 0..nodes.len() as u32 {
            let mut seen = vec![false; nodes.len()];
            let mut stack = vec![i];
            let mut reached = 0;
            while let Some(n) = stack.pop() {
                if !std::mem::replace(&mut seen[n as usize], true) {
                    reached += 1;
                    stack.extend(nodes.links0(n));
                }
            }
            assert!(reached > 40, "node {i} reaches {reached}");
        }
        drop(nodes);
        for q in &base {
            assert_eq!(g.search(q, 40).len(), 40);
        }
    }
}

#[test]
fn a_restored_graph_enters_where_the_one_that_wrote_it_did() {
    // m 2 draws high levels often, so several nodes share the top one; a parallel build links
    // them in any order, and the entry must still be the one a restore finds.
    let params = Params {
        metric: Metric::L2,
        dim: 8,
        m: 2,
        ef_construction: 16,
        quantize: true,
    };
    for n in (100..500).step_by(5) {
        let g = Graph::new(params);
        g.insert_all(
            points(n, 8, n as u64)
                .into_iter()
                .map(|v| (v.into(), Box::new([]) as Box<[u8]>))
                .collect(),
        );
        let r = restored_without(&g, None);
        let entry = |g: &Graph| *g.entry.lock().unwrap_or_else(|p| p.into_inner());
        assert_eq!(entry(&r), entry(&g), "{n} points");
        let q = [5.0f32; 8];
        assert_eq!(r.search(&q, 30), g.search(&q, 30), "{n} points");
    }
}
