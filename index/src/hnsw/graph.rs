//! The HNSW graph in memory (Malkov & Yashunin, "Efficient and robust approximate nearest
//! neighbor search using Hierarchical Navigable Small World graphs"): layered proximity graphs,
//! greedy descent through the upper layers, a best-first beam search (`ef`) on the lowest, and
//! the neighbour-selection heuristic that keeps links pointing in diverse directions.
//!
//! Concurrency: any number of searches and inserts run at once through `&self`. The node list
//! (and the vector array beside it) is behind one `RwLock`: an insert takes it for writing
//! only to push its node, everything
//! else reads it; each node's link lists have their own mutexes, taken one at a time (never
//! two at once, so no lock order to keep). A search may see an insert half linked; it then
//! finds a little less, never something wrong.
//!
//! Large graphs (`QUANTIZE_AT` nodes, `QUANTIZE_MIN_DIM` dimensions, `Params::quantize`)
//! walk layer 0 over byte codes of the vectors and re-score the walk's result with the
//! vectors (see `quant`): what `search` returns is always ordered by the exact distance. The
//! fit that codes every node takes the write lock, at the threshold and at each doubling.
//!
//! Invariants: node ids are dense indexes into the node list; a node's links name existing
//! nodes on the same or a higher level; level-0 lists hold at most `2m` ids, upper ones `m`;
//! an absent node (a gap left by a record lost in a crash, see `store`) has no vector and no
//! links and is never linked to; once fitted, every node's codes are its vector encoded by
//! the current quantizer.

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use super::distance;
use super::nodes::{Node, Nodes};
use super::quant::Prepared;

/// The distance an index is built for. Internally the graph orders by a monotone stand-in:
/// squared L2, negative dot product (cosine on normalized vectors), L1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    L2,
    InnerProduct,
    Cosine,
    L1,
}

impl Metric {
    /// The graph's distance between `a` and `b` (cosine: both already normalized).
    #[inline]
    pub fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Metric::L2 => distance::l2_squared(a, b),
            Metric::InnerProduct | Metric::Cosine => -distance::dot(a, b),
            Metric::L1 => distance::l1(a, b),
        }
    }

    /// The distance the graph's links are chosen by. Inner product is not a metric: links
    /// picked by it point at a few large-norm hubs and the graph navigates poorly (recall@10
    /// 0.64 at ef 40 on clustered data, against 0.997 this way), so inner-product graphs are
    /// built by L2 geometry and only searched by inner product.
    pub fn build_metric(self) -> Metric {
        match self {
            Metric::InnerProduct => Metric::L2,
            other => other,
        }
    }

    /// The stored code of the metric.
    pub fn code(self) -> u8 {
        match self {
            Metric::L2 => 1,
            Metric::InnerProduct => 2,
            Metric::Cosine => 3,
            Metric::L1 => 4,
        }
    }

    /// The metric of a stored code.
    pub fn from_code(code: u8) -> Option<Metric> {
        Some(match code {
            1 => Metric::L2,
            2 => Metric::InnerProduct,
            3 => Metric::Cosine,
            4 => Metric::L1,
            _ => return None,
        })
    }
}

/// Build parameters (pgvector's names and defaults: m 16, ef_construction 64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub metric: Metric,
    /// The vectors' dimension.
    pub dim: u32,
    /// Links per node on the upper layers (twice as many on layer 0).
    pub m: u16,
    /// The beam width while inserting.
    pub ef_construction: u16,
    /// Whether searches walk layer 0 over byte codes of the vectors (see `quant`) once the
    /// graph has `QUANTIZE_AT` nodes of at least `QUANTIZE_MIN_DIM` dimensions (SQL: `WITH
    /// (quantize = off)` turns it off).
    pub quantize: bool,
}

/// A search result: the graph's distance (see [`Metric`]) and the node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub distance: f32,
    pub node: u32,
}

impl Eq for Scored {}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.distance
            .total_cmp(&other.distance)
            .then(self.node.cmp(&other.node))
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A link list that changed: (node, level, its ids after the change). What an insert reports
/// so the store can write the lists it touched.
pub type LinkChange = (u32, u8, Vec<u32>);

/// A vector to insert and its payload.
pub type Item = (Box<[f32]>, Box<[u8]>);

/// The graph.
pub struct Graph {
    params: Params,
    nodes: RwLock<Nodes>,
    /// (entry node, its level); None while empty. Read under the node list's lock: a
    /// reclaim replaces a vacated entry under the write lock.
    entry: Mutex<Option<(u32, usize)>>,
    rng: AtomicU64,
    /// The next insert's stamp (`Node::born`); restored nodes have 0.
    stamp: AtomicU64,
    /// Nodes being reclaimed (see `reclaim`): no insert links to them.
    dying: Mutex<Arc<HashSet<u32>>>,
}

/// Per-thread visited marks: `marks[i] == epoch` means node i was visited by the current
/// search. Reused across searches so a search costs no allocation proportional to the graph;
/// 16-bit marks keep the array small enough to stay in cache (cleared once per 65,535
/// searches, when the epoch wraps).
struct Visited {
    marks: Vec<u16>,
    epoch: u16,
}

thread_local! {
    static VISITED: RefCell<Visited> = const { RefCell::new(Visited { marks: Vec::new(), epoch: 0 }) };
}

impl Visited {
    fn start(&mut self, len: usize) {
        if self.marks.len() < len {
            self.marks.resize(len, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.epoch = 1;
        }
    }

    /// Marks `id`; whether it was unmarked.
    #[inline]
    fn insert(&mut self, id: u32) -> bool {
        match self.marks.get_mut(id as usize) {
            Some(m) if *m != self.epoch => {
                *m = self.epoch;
                true
            }
            _ => false,
        }
    }
}

impl Graph {
    /// An empty graph.
    pub fn new(params: Params) -> Graph {
        Graph {
            params,
            nodes: RwLock::new(Nodes::new(params.dim as usize, max0(params))),
            entry: Mutex::new(None),
            rng: AtomicU64::new(0x9E37_79B9_7F4A_7C15),
            stamp: AtomicU64::new(1),
            dying: Mutex::new(Arc::default()),
        }
    }

    pub fn params(&self) -> Params {
        self.params
    }

    fn read(&self) -> RwLockReadGuard<'_, Nodes> {
        self.nodes.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of node slots (present or not).
    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn max_links(&self, level: usize) -> usize {
        if level == 0 {
            max0(self.params)
        } else {
            usize::from(self.params.m.max(2))
        }
    }

    /// A level drawn from the geometric distribution with mL = 1 / ln(m) (splitmix64).
    fn random_level(&self) -> usize {
        let mut z = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, AtomicOrdering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let u = ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let ml = 1.0 / f64::from(self.params.m.max(2)).ln();
        ((-u.ln() * ml) as usize).min(16)
    }

    /// Adds a vector (normalized already for cosine) with `payload`; returns its id and the
    /// link lists it wrote, its own and its neighbours'.
    pub fn insert(&self, vector: Box<[f32]>, payload: Box<[u8]>) -> (u32, Vec<LinkChange>) {
        let level = self.random_level();
        let id = self.push(vector, payload, level);
        let changes = self.link(id);
        self.maybe_quantize();
        (id, changes)
    }

    /// Adds many vectors at once: their nodes are pushed under one write lock, then linked in
    /// parallel on rayon's pool (no push waits behind a running link). The caller writes the
    /// built graph afterwards (`for_each_node`); returns the first new id.
    pub fn insert_all(&self, items: Vec<Item>) -> u32 {
        use rayon::prelude::*;
        let levels: Vec<usize> = items.iter().map(|_| self.random_level()).collect();
        let first = {
            let mut nodes = self.nodes.write().unwrap_or_else(|p| p.into_inner());
            let first = nodes.len() as u32;
            nodes.reserve(items.len());
            for ((vector, payload), level) in items.into_iter().zip(levels) {
                let links = (0..=level).map(|_| Mutex::new(Vec::new())).collect();
                let born = self.stamp.fetch_add(1, AtomicOrdering::Relaxed);
                nodes.append(
                    Node {
                        payload,
                        links,
                        born,
                    },
                    &vector,
                );
            }
            first
        };
        let end = self.len() as u32;
        (first..end).into_par_iter().for_each(|id| {
            self.link(id);
        });
        self.maybe_quantize();
        first
    }

    /// Adds a node, in a slot a reclaim freed if there is one.
    fn push(&self, vector: Box<[f32]>, payload: Box<[u8]>, level: usize) -> u32 {
        let mut nodes = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        let links = (0..=level).map(|_| Mutex::new(Vec::new())).collect();
        let born = self.stamp.fetch_add(1, AtomicOrdering::Relaxed);
        nodes.push(
            Node {
                payload,
                links,
                born,
            },
            &vector,
        )
    }

    /// Links pushed node `id` into the graph; returns the link lists written.
    fn link(&self, id: u32) -> Vec<LinkChange> {
        let nodes = self.read();
        let Some(node) = nodes.get(id as usize).filter(|n| n.present()) else {
            return Vec::new();
        };
        let level = node.level();
        let q = nodes.vector(id as usize);
        let mut changes = Vec::new();
        // The first node becomes the entry point under the lock, so two first inserts cannot
        // both start graphs of their own.
        let entry = {
            let mut e = self.entry.lock().unwrap_or_else(|p| p.into_inner());
            let seen = *e;
            if seen.is_none() {
                *e = Some((id, level));
            }
            seen
        };
        // No entry, or this node itself (a reclaim that found no other linked node made it
        // the entry): nothing to link to yet.
        let Some((ep, top)) = entry.filter(|(ep, _)| *ep != id) else {
            changes.extend((0..=level).map(|l| (id, l as u8, Vec::new())));
            return changes;
        };
        let build = self.params.metric.build_metric();
        let mut cur = Scored {
            distance: self.dist_to(build, &nodes, q, ep),
            node: ep,
        };
        for l in (level + 1..=top).rev() {
            cur = self.greedy(build, &nodes, q, cur, l);
        }
        let mut entries = vec![cur];
        // Read under the node list's lock: a reclaim under way (see `reclaim`) set it before
        // waiting for the write lock, so every link that began after sees it.
        let dying = Arc::clone(&self.dying.lock().unwrap_or_else(|p| p.into_inner()));
        for l in (0..=level.min(top)).rev() {
            let found = self.search_layer(
                &nodes,
                Score::Full(build, q),
                &entries,
                usize::from(self.params.ef_construction).max(1),
                l,
            );
            let found: Vec<Scored> = found
                .into_iter()
                .filter(|s| s.node != id && !dying.contains(&s.node))
                .collect();
            let chosen = self.select(&nodes, &found, self.max_links(l));
            // Merged into what the list already holds: in a parallel build, nodes linked
            // before this one may have added themselves to it already.
            let ids: Vec<u32> = chosen.iter().map(|s| s.node).collect();
            if let Some(list) = self.connect_all(&nodes, id, &ids, l) {
                changes.push((id, l as u8, list));
            }
            for n in chosen {
                if let Some(list) = self.connect_all(&nodes, n.node, &[id], l) {
                    changes.push((n.node, l as u8, list));
                }
            }
            if !found.is_empty() {
                entries = found;
            }
        }
        for l in top + 1..=level {
            changes.push((id, l as u8, Vec::new()));
        }
        drop(nodes);
        if level >= top {
            self.promote(id, level);
        }
        changes
    }

    /// Makes `id` the entry point if its level is above the current one's, or equal to it
    /// and `id` is lower: the lowest-numbered node of the top level, whichever order a
    /// parallel build linked them in, as [`Graph::restore`] finds it again.
    fn promote(&self, id: u32, level: usize) {
        let mut entry = self.entry.lock().unwrap_or_else(|p| p.into_inner());
        if entry.is_none_or(|(ep, top)| level > top || (level == top && id < ep)) {
            *entry = Some((id, level));
        }
    }

    fn dist_to(&self, metric: Metric, nodes: &Nodes, q: &[f32], id: u32) -> f32 {
        match nodes.get(id as usize) {
            Some(n) if n.present() => metric.distance(q, nodes.vector(id as usize)),
            _ => f32::INFINITY,
        }
    }

    /// Adds `new` to `to`'s list on `level`, shrinking it by the heuristic when over size;
    /// returns the list if it changed (or was empty: a new node's lists are always written).
    fn connect_all(&self, nodes: &Nodes, to: u32, new: &[u32], level: usize) -> Option<Vec<u32>> {
        let target = nodes.get(to as usize)?;
        let mut list = target.links(level)?;
        let before = list.len();
        for n in new {
            if *n != to && !list.contains(n) {
                list.push(*n);
            }
        }
        if list.len() == before && before > 0 {
            return None;
        }
        let max = self.max_links(level);
        if list.len() > max {
            let build = self.params.metric.build_metric();
            let mut scored: Vec<Scored> = list
                .iter()
                .map(|&n| Scored {
                    distance: self.dist_to(build, nodes, nodes.vector(to as usize), n),
                    node: n,
                })
                .collect();
            scored.sort_unstable();
            let kept = self.select(nodes, &scored, max);
            *list = kept.iter().map(|s| s.node).collect();
        }
        if level == 0 {
            nodes.publish0(to, &list);
        }
        Some(list.clone())
    }

    /// The neighbour-selection heuristic over `candidates` (ascending), up to `max`: a
    /// candidate is dropped if it is strictly closer to one kept so far than to the base
    /// (hnswlib's rule, keepPrunedConnections off). At a tie it is kept: a base's exact
    /// duplicate is as far from every other candidate as the base is, and a stricter test
    /// would keep the duplicate alone, leaving copies of one point linked only to each other,
    /// an island a search could enter and not leave.
    fn select(&self, nodes: &Nodes, candidates: &[Scored], max: usize) -> Vec<Scored> {
        let mut kept: Vec<Scored> = Vec::with_capacity(max);
        for c in candidates {
            if kept.len() >= max {
                break;
            }
            if nodes.get(c.node as usize).is_none() {
                continue;
            }
            let cv = nodes.vector(c.node as usize);
            let diverse = kept.iter().all(|k| {
                let kv = nodes.vector(k.node as usize);
                self.params.metric.build_metric().distance(cv, kv) >= c.distance
            });
            if diverse {
                kept.push(*c);
            }
        }
        kept
    }

    /// Greedy descent on one level from `cur` (ef = 1).
    fn greedy(
        &self,
        metric: Metric,
        nodes: &Nodes,
        q: &[f32],
        mut cur: Scored,
        level: usize,
    ) -> Scored {
        loop {
            let mut moved = false;
            // Scored under the list's lock (a few dozen distances; an insert touching this
            // list waits that long) rather than on a copy of it.
            let Some(ids) = nodes.get(cur.node as usize).and_then(|n| n.links(level)) else {
                return cur;
            };
            for &n in ids.iter() {
                let d = self.dist_to(metric, nodes, q, n);
                if d < cur.distance {
                    cur = Scored {
                        distance: d,
                        node: n,
                    };
                    moved = true;
                }
            }
            if !moved {
                return cur;
            }
        }
    }

    /// Best-first search of one level from `entries`, nodes scored by `score`; the `ef`
    /// closest found, ascending.
    fn search_layer(
        &self,
        nodes: &Nodes,
        score: Score<'_>,
        entries: &[Scored],
        ef: usize,
        level: usize,
    ) -> Vec<Scored> {
        VISITED.with(|v| {
            let mut visited = v.borrow_mut();
            visited.start(nodes.len());
            let mut candidates: BinaryHeap<Reverse<Scored>> = BinaryHeap::new();
            let mut best: BinaryHeap<Scored> = BinaryHeap::new();
            for e in entries {
                if visited.insert(e.node) && e.distance.is_finite() {
                    candidates.push(Reverse(*e));
                    best.push(*e);
                }
            }
            while best.len() > ef {
                best.pop();
            }
            let ahead = score.ahead();
            let mut fresh: Vec<u32> = Vec::with_capacity(max0(self.params));
            while let Some(Reverse(c)) = candidates.pop() {
                if best.len() >= ef && best.peek().is_some_and(|w| c.distance > w.distance) {
                    break;
                }
                // The candidate most likely next: its links load while this one's
                // neighbours are scored (the list was a cache miss on every step).
                if level == 0 {
                    if let Some(Reverse(next)) = candidates.peek() {
                        nodes.prefetch_links0(next.node);
                    }
                }
                // Mark the unvisited neighbours first, then score them, each one's vector
                // (or codes) prefetched `ahead` neighbours earlier: the loads overlap the
                // distances.
                fresh.clear();
                let mut visit = |n: u32| {
                    if visited.insert(n) {
                        fresh.push(n);
                    }
                };
                if level == 0 {
                    nodes.links0(c.node).for_each(&mut visit);
                } else if let Some(ids) = nodes.get(c.node as usize).and_then(|n| n.links(level)) {
                    ids.iter().copied().for_each(&mut visit);
                }
                // Linked nodes are present (see the invariants): no check of the node.
                for &n in fresh.iter().take(ahead) {
                    score.prefetch(nodes, n);
                }
                for (i, &n) in fresh.iter().enumerate() {
                    if let Some(&next) = fresh.get(i + ahead) {
                        score.prefetch(nodes, next);
                    }
                    let d = score.distance(nodes, n);
                    if !d.is_finite() {
                        continue;
                    }
                    if best.len() < ef || best.peek().is_some_and(|w| d < w.distance) {
                        let s = Scored {
                            distance: d,
                            node: n,
                        };
                        candidates.push(Reverse(s));
                        best.push(s);
                        if best.len() > ef {
                            best.pop();
                        }
                    }
                }
            }
            best.into_sorted_vec()
        })
    }

    /// The `ef` nearest nodes to `q` the graph finds (ascending by the graph's distance).
    pub fn search(&self, q: &[f32], ef: usize) -> Vec<Scored> {
        let nodes = self.read();
        let Some((ep, top)) = *self.entry.lock().unwrap_or_else(|p| p.into_inner()) else {
            return Vec::new();
        };
        let metric = self.params.metric;
        let mut cur = Scored {
            distance: self.dist_to(metric, &nodes, q, ep),
            node: ep,
        };
        for l in (1..=top).rev() {
            cur = self.greedy(metric, &nodes, q, cur, l);
        }
        let Some(prepared) = nodes.quantizer().and_then(|z| z.prepare(metric, q)) else {
            return self.search_layer(&nodes, Score::Full(metric, q), &[cur], ef.max(1), 0);
        };
        // Layer 0 walked over the codes, its result re-scored exactly (see `quant`).
        let mut found = self.search_layer(&nodes, Score::Codes(&prepared), &[cur], ef.max(1), 0);
        for s in found.iter().take(PREFETCH_AHEAD) {
            distance::prefetch(nodes.vector(s.node as usize));
        }
        for i in 0..found.len() {
            if let Some(ahead) = found.get(i + PREFETCH_AHEAD) {
                distance::prefetch(nodes.vector(ahead.node as usize));
            }
            let s = &mut found[i];
            s.distance = metric.distance(q, nodes.vector(s.node as usize));
        }
        found.sort_unstable();
        found
    }

    /// Fits the quantizer when the graph has reached [`QUANTIZE_AT`] nodes or doubled since
    /// the last fit. The fit and the codes of every node are computed under the read lock
    /// (searches go on; inserts wait), then installed under the write lock, which codes only
    /// the nodes pushed in between. Two inserts that both find a fit due may both compute
    /// one; the second finds it no longer due and drops its own.
    fn maybe_quantize(&self) {
        if !self.params.quantize || (self.params.dim as usize) < QUANTIZE_MIN_DIM {
            return;
        }
        let due = |nodes: &Nodes| {
            nodes.len() >= QUANTIZE_AT
                && nodes
                    .fitted_at()
                    .is_none_or(|at| nodes.len() >= at.saturating_mul(2))
        };
        let (fit, upto, newest) = {
            let nodes = self.read();
            if !due(&nodes) {
                return;
            }
            (nodes.fit(), nodes.len(), nodes.newest())
        };
        let mut nodes = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        if due(&nodes) {
            nodes.install(fit, upto, newest);
        }
    }

    /// The `k` nearest nodes by brute force (the oracle, and the fallback once a filtered
    /// search has widened to the whole graph).
    pub fn exact(&self, q: &[f32], k: usize) -> Vec<Scored> {
        let nodes = self.read();
        let mut best: BinaryHeap<Scored> = BinaryHeap::new();
        for (i, n) in nodes.iter() {
            if !n.present() {
                continue;
            }
            let s = Scored {
                distance: self.params.metric.distance(q, nodes.vector(i)),
                node: i as u32,
            };
            if best.len() < k {
                best.push(s);
            } else if best.peek().is_some_and(|w| s < *w) {
                best.pop();
                best.push(s);
            }
        }
        best.into_sorted_vec()
    }

    /// Runs `f` over node `id`'s vector and payload, if present.
    pub fn with_node<T>(&self, id: u32, f: impl FnOnce(&[f32], &[u8]) -> T) -> Option<T> {
        let nodes = self.read();
        nodes
            .get(id as usize)
            .filter(|n| n.present())
            .map(|n| f(nodes.vector(id as usize), &n.payload))
    }

    /// Calls `f` with every present node's id, vector, payload and link lists (for the store
    /// to write a built graph).
    pub fn for_each_node(&self, mut f: impl FnMut(u32, &[f32], &[u8], Vec<Vec<u32>>)) {
        let nodes = self.read();
        for (i, n) in nodes.iter().filter(|(_, n)| n.present()) {
            let links = (0..=n.level())
                .map(|l| n.links(l).map(|g| g.clone()).unwrap_or_default())
                .collect();
            f(i as u32, nodes.vector(i), &n.payload, links);
        }
    }

    /// Rebuilds the graph from stored nodes: `nodes[i]` is node i (absent where None) with its
    /// link lists. Links to absent or out-of-range nodes are dropped; the entry point is the
    /// highest-level node.
    pub(super) fn restore(params: Params, stored: Vec<Option<StoredNode>>) -> Graph {
        let n = stored.len();
        let present: Vec<bool> = stored.iter().map(Option::is_some).collect();
        let mut entry: Option<(u32, usize)> = None;
        let mut nodes = Nodes::new(params.dim as usize, max0(params));
        nodes.reserve(n);
        for (i, s) in stored.into_iter().enumerate() {
            let Some(s) = s else {
                nodes.append(Node::absent(), &[]);
                continue;
            };
            let level = s.links.len().saturating_sub(1);
            if entry.is_none_or(|(_, top)| level > top) {
                entry = Some((i as u32, level));
            }
            let links = s
                .links
                .into_iter()
                .map(|l| {
                    let ok = l
                        .into_iter()
                        .filter(|&t| present.get(t as usize).copied().unwrap_or(false))
                        .collect();
                    Mutex::new(ok)
                })
                .collect();
            nodes.append(
                Node {
                    payload: s.payload,
                    links,
                    born: 0,
                },
                &s.vector,
            );
        }
        for i in 0..nodes.len() {
            if let Some(list) = nodes.get(i).and_then(|n| n.links(0)) {
                nodes.publish0(i as u32, &list);
            }
        }
        let graph = Graph {
            params,
            nodes: RwLock::new(nodes),
            entry: Mutex::new(entry),
            rng: AtomicU64::new(0x9E37_79B9_7F4A_7C15 ^ n as u64),
            stamp: AtomicU64::new(1),
            dying: Mutex::new(Arc::default()),
        };
        graph.maybe_quantize();
        graph
    }
}

/// What a walk scores nodes by: the query against their vectors under a metric, or a
/// prepared query against their codes (see `quant`).
#[derive(Clone, Copy)]
enum Score<'a> {
    Full(Metric, &'a [f32]),
    Codes(&'a Prepared),
}

impl Score<'_> {
    /// How many neighbours ahead to prefetch.
    fn ahead(self) -> usize {
        match self {
            Score::Full(..) => PREFETCH_AHEAD,
            Score::Codes(_) => CODE_AHEAD,
        }
    }

    #[inline(always)]
    fn prefetch(self, nodes: &Nodes, n: u32) {
        match self {
            Score::Full(..) => distance::prefetch(nodes.vector(n as usize)),
            Score::Codes(_) => distance::prefetch(nodes.code(n as usize)),
        }
    }

    #[inline(always)]
    fn distance(self, nodes: &Nodes, n: u32) -> f32 {
        match self {
            Score::Full(metric, q) => metric.distance(q, nodes.vector(n as usize)),
            Score::Codes(p) => p.distance(nodes.code(n as usize)),
        }
    }
}

/// How many neighbours ahead of the one being scored a search prefetches: enough to hide a
/// memory load behind the distances before it, few enough that the loads in flight fit the
/// core's miss buffers (prefetching all 32 neighbours' 512-byte vectors at once stalled on
/// the prefetch instructions themselves).
const PREFETCH_AHEAD: usize = 3;

/// How many neighbours ahead a search over codes prefetches: a code is two cache lines, so
/// more loads fit in flight than with `f32` vectors.
const CODE_AHEAD: usize = 12;

/// The size at which a graph quantizes its vectors for searching (below it every vector
/// fits in cache anyway); it fits the quantizer again each time it has doubled since the
/// last fit, so the codes' ranges follow the data.
pub const QUANTIZE_AT: usize = 1024;

/// The fewest dimensions a graph quantizes: below 64 an `f32` vector is at most three cache
/// lines and its codes one, so little memory traffic is saved, and with few dimensions the
/// codes' rounding errors average out less (recall@10 at ef 40 fell from 1.0 to 0.86 for
/// 16-dimension cosine clusters).
pub const QUANTIZE_MIN_DIM: usize = 64;

/// The most links a level-0 list holds: twice `m`.
fn max0(params: Params) -> usize {
    2 * usize::from(params.m.max(2))
}

/// A node as the store read it back.
pub(super) struct StoredNode {
    pub vector: Box<[f32]>,
    pub payload: Box<[u8]>,
    pub links: Vec<Vec<u32>>,
}

#[path = "reclaim.rs"]
mod reclaim;
pub use reclaim::Reclaimed;

#[cfg(test)]
#[path = "graph_tests.rs"]
mod tests;
