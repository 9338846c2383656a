//! Reclaiming nodes: the graph's side of a vector index's VACUUM. The caller decides which
//! nodes are dead (`store` and the SQL layer: a node whose row no reader can see any more);
//! [`Graph::remove`] unlinks them, repairs the lists that named them and vacates their slots,
//! which later inserts reuse once the caller [`Graph::release`]s them.
//!
//! How a removal runs beside searches and inserts, which never stop:
//! 1. The dying set is published; every link that starts after it leaves those nodes out of
//!    its choices. Taking the write lock once (and letting go) waits out the links that
//!    started before.
//! 2. Under the read lock, every list naming a dying node is rebuilt: its other members, plus
//!    the dying nodes' own neighbours on that level (the graph keeps the paths that went
//!    through them), chosen by the insert heuristic; a list left short also gets what a
//!    search from the entry point finds, as an insert's would. A list is computed from a copy
//!    and swapped in under its mutex, keeping whatever an insert added meanwhile.
//! 3. Under the write lock the dying nodes are vacated and, if the entry point was one of
//!    them, the highest remaining node takes its place. No list names them any more, so a
//!    search never reaches them; a vacated slot stays out of use until `release`, because a
//!    reader may still hold its id from a search that ran before.
//! 4. In chunks of the read lock, a node left with no way in on level 0 (the dying nodes were its
//!    only in-links and no rebuilt list chose it) is linked from its nearest reachable node,
//!    so every present node is reachable from the entry point again.

use std::collections::HashMap;

use super::*;

/// What a removal changed, for the store to write.
#[derive(Debug, Default)]
pub struct Reclaimed {
    /// The vacated nodes, with how many levels of link lists each had.
    pub vacated: Vec<(u32, usize)>,
    /// The link lists rebuilt around them: (node, level, ids).
    pub changes: Vec<LinkChange>,
}

impl Graph {
    /// The stamp the next insert gets (`Node::born`): every node added before this call has
    /// a smaller one.
    pub fn stamp(&self) -> u64 {
        self.stamp.load(AtomicOrdering::SeqCst)
    }

    /// Present nodes stamped before `before`: (id, stamp, payload), walked by `each_slot`.
    pub fn born_before(&self, before: u64) -> Vec<(u32, u64, Box<[u8]>)> {
        let mut out = Vec::new();
        self.each_slot(|nodes, i| {
            if let Some(n) = nodes.get(i).filter(|n| n.present() && n.born < before) {
                out.push((i as u32, n.born, n.payload.clone()));
            }
        });
        out
    }

    /// Calls `f` with every slot, under the read lock, which is let go every
    /// `REPAIR_CHUNK` slots (inserts wait for a chunk, not for the whole walk).
    fn each_slot(&self, mut f: impl FnMut(&Nodes, usize)) {
        let mut start = 0;
        loop {
            let nodes = self.read();
            let end = (start + REPAIR_CHUNK).min(nodes.len());
            for i in start..end {
                f(&nodes, i);
            }
            if end >= nodes.len() {
                return;
            }
            start = end;
        }
    }

    /// Whether node `id` is still the one stamped `born` and holds `vector` (prepared as
    /// inserts are).
    pub fn holds(&self, id: u32, born: u64, vector: &[f32]) -> bool {
        let nodes = self.read();
        nodes
            .get(id as usize)
            .is_some_and(|n| n.present() && n.born == born && nodes.vector(id as usize) == vector)
    }

    /// Present nodes, and absent slots (reusable now, and vacated but not yet reusable).
    pub fn occupancy(&self) -> (usize, usize, usize) {
        let nodes = self.read();
        let (free, quarantined) = nodes.vacant();
        (nodes.len() - free - quarantined, free, quarantined)
    }

    /// Lets inserts reuse the slots vacated before this call: the caller knows that no reader
    /// holds an id a search gave it before then.
    pub fn release(&self) {
        self.nodes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .release();
    }

    /// Unlinks and vacates the nodes `dead` names ((id, stamp) pairs; one whose slot no
    /// longer holds that stamp is left alone) and repairs the graph around them.
    pub fn remove(&self, dead: &[(u32, u64)]) -> Reclaimed {
        let set: HashSet<u32> = {
            let nodes = self.read();
            dead.iter()
                .filter(|(id, born)| {
                    nodes
                        .get(*id as usize)
                        .is_some_and(|n| n.present() && n.born == *born)
                })
                .map(|(id, _)| *id)
                .collect()
        };
        if set.is_empty() {
            return Reclaimed::default();
        }
        let set = Arc::new(set);
        *self.dying.lock().unwrap_or_else(|p| p.into_inner()) = Arc::clone(&set);
        // Links that began before the mark hold the read lock until they end.
        drop(self.nodes.write().unwrap_or_else(|p| p.into_inner()));
        let changes = self.repair(&set);
        let mut nodes = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        // Vacated in id order, not the set's (which changes from run to run): the order
        // slots are reused in, and so the graph later inserts build, is the same every time.
        let mut order: Vec<u32> = set.iter().copied().collect();
        order.sort_unstable();
        let mut vacated = Vec::with_capacity(order.len());
        for d in order {
            if let Some(n) = nodes.get(d as usize) {
                vacated.push((d, n.level() + 1));
            }
            nodes.vacate(d);
        }
        let mut entry = self.entry.lock().unwrap_or_else(|p| p.into_inner());
        if entry.is_some_and(|(e, _)| set.contains(&e)) {
            // The highest linked node: one pushed but not linked yet (its insert waits for
            // the read lock) would link to nothing from itself and leave the rest of the
            // graph out of reach. Only if no node has links is any present one taken.
            let highest = |linked: bool| {
                nodes
                    .iter()
                    .filter(|(i, n)| {
                        n.present() && (!linked || nodes.links0(*i as u32).next().is_some())
                    })
                    .map(|(i, n)| (i as u32, n.level()))
                    .reduce(|best, c| if c.1 > best.1 { c } else { best })
            };
            *entry = highest(true).or_else(|| highest(false));
        }
        drop(entry);
        drop(nodes);
        *self.dying.lock().unwrap_or_else(|p| p.into_inner()) = Arc::default();
        let mut changes = changes;
        changes.extend(self.reconnect());
        Reclaimed { vacated, changes }
    }

    /// Step 4 of a removal: every present node is made reachable on level 0 from the entry
    /// point again. A repair chooses each rebuilt list by the heuristic, so a node that only
    /// dying nodes linked to can be left with no way in, and no search would find it. Each
    /// such node is linked from the nearest reachable node a search finds: into a free place
    /// in its list, or in place of its farthest member that has another way in. That other
    /// way in may itself hang on the replaced link (two nodes linking only each other), so
    /// the walk runs again until it finds nothing cut off (`RECONNECT_ROUNDS` at most).
    ///
    /// The read lock is let go every `REPAIR_CHUNK` nodes, as in `repair`. An insert linking
    /// meanwhile may trim a list (a link counted here, or one just added): the guarantee is
    /// for a graph no insert changes during the removal; with inserts, the next removal's
    /// pass looks again.
    fn reconnect(&self) -> Vec<LinkChange> {
        let mut changes = Vec::new();
        for _ in 0..RECONNECT_ROUNDS {
            if self.reconnect_round(&mut changes) == 0 {
                break;
            }
        }
        changes
    }

    /// One round of `reconnect`: counts level-0 in-links, walks from the entry point, and
    /// links each node the walk missed; how many it linked.
    fn reconnect_round(&self, changes: &mut Vec<LinkChange>) -> usize {
        let Some((entry, _)) = *self.entry.lock().unwrap_or_else(|p| p.into_inner()) else {
            return 0;
        };
        let mut ways_in: Vec<u32> = Vec::new();
        self.each_slot(|nodes, i| {
            if ways_in.len() < nodes.len() {
                ways_in.resize(nodes.len(), 0);
            }
            if nodes.get(i).is_some_and(|n| n.present()) {
                for t in nodes.links0(i as u32) {
                    if let Some(w) = ways_in.get_mut(t as usize) {
                        *w += 1;
                    }
                }
            }
        });
        let mut seen = Vec::new();
        self.walk0(entry, &mut seen);
        let mut cut = Vec::new();
        self.each_slot(|nodes, i| {
            if !seen.get(i).copied().unwrap_or(false) && nodes.get(i).is_some_and(|n| n.present()) {
                cut.push(i as u32);
            }
        });
        let build = self.params.metric.build_metric();
        let ef = usize::from(self.params.ef_construction).max(1);
        let none = HashSet::new();
        let mut linked = 0;
        for u in cut {
            if seen.get(u as usize).copied().unwrap_or(false) {
                continue; // reached through a node linked before it
            }
            let nodes = self.read();
            if !nodes.get(u as usize).is_some_and(|n| n.present()) {
                continue;
            }
            if ways_in.len() < nodes.len() {
                ways_in.resize(nodes.len(), 0);
            }
            let reached = |c: &Scored| c.node != u && seen.get(c.node as usize) == Some(&true);
            let base = nodes.vector(u as usize);
            // Nearest first; a search enters level 0 where its descent ends, which may lie
            // outside the part reachable from the entry: then a walk of level 0 from the
            // entry, which stays inside it.
            let mut found: Vec<Scored> = self
                .found_near(&nodes, base, 0, &none, u)
                .into_iter()
                .filter(reached)
                .collect();
            if found.is_empty() {
                let start = Scored {
                    distance: self.dist_to(build, &nodes, base, entry),
                    node: entry,
                };
                found = self
                    .search_layer(&nodes, Score::Full(build, base), &[start], ef, 0)
                    .into_iter()
                    .filter(reached)
                    .collect();
            }
            let done = found.iter().find_map(|c| {
                let list = self.link_in(&nodes, c.node, u, &mut ways_in)?;
                Some((c.node, list))
            });
            drop(nodes);
            if let Some((c, list)) = done {
                changes.push((c, 0, list));
                linked += 1;
                self.walk0(u, &mut seen);
            }
        }
        linked
    }

    /// Marks in `seen` (grown to the graph's size) every present node a walk over level-0
    /// links from `from` reaches, letting go of the read lock every `REPAIR_CHUNK` nodes.
    fn walk0(&self, from: u32, seen: &mut Vec<bool>) {
        let mut stack = vec![from];
        while !stack.is_empty() {
            let nodes = self.read();
            if seen.len() < nodes.len() {
                seen.resize(nodes.len(), false);
            }
            for _ in 0..REPAIR_CHUNK {
                let Some(n) = stack.pop() else {
                    break;
                };
                if !nodes.get(n as usize).is_some_and(|x| x.present()) {
                    continue;
                }
                if let Some(s) = seen.get_mut(n as usize) {
                    if std::mem::replace(s, true) {
                        continue;
                    }
                }
                stack.extend(
                    nodes
                        .links0(n)
                        .filter(|&t| seen.get(t as usize) == Some(&false)),
                );
            }
        }
    }

    /// Adds `u` to `to`'s level-0 list, in a free place or in place of the member farthest
    /// from `to` that has another way in (`ways_in` counts level-0 in-links); the list, or
    /// None if every member's only way in is from `to`.
    fn link_in(&self, nodes: &Nodes, to: u32, u: u32, ways_in: &mut [u32]) -> Option<Vec<u32>> {
        let mut list = nodes.get(to as usize)?.links(0)?;
        if list.contains(&u) {
            return None;
        }
        if list.len() < self.max_links(0) {
            list.push(u);
        } else {
            let build = self.params.metric.build_metric();
            let base = nodes.vector(to as usize);
            let (at, _) = list
                .iter()
                .enumerate()
                .filter(|(_, &w)| ways_in.get(w as usize).is_some_and(|&n| n > 1))
                .map(|(at, &w)| (at, self.dist_to(build, nodes, base, w)))
                .max_by(|a, b| a.1.total_cmp(&b.1))?;
            if let Some(n) = ways_in.get_mut(list[at] as usize) {
                *n -= 1;
            }
            list[at] = u;
        }
        if let Some(n) = ways_in.get_mut(u as usize) {
            *n += 1;
        }
        nodes.publish0(to, &list);
        Some(list.clone())
    }

    /// Step 2 of a removal: rebuilds every list that names a node of `dying`. The read lock
    /// is let go every `REPAIR_CHUNK` nodes, so inserts (which take the write lock to add
    /// their node) wait for a chunk, not for the whole repair.
    fn repair(&self, dying: &HashSet<u32>) -> Vec<LinkChange> {
        // No insert adds to a dying node's lists any more (it is never chosen), so copies
        // of them stay true.
        let mut around: HashMap<(u32, usize), Vec<u32>> = HashMap::new();
        {
            let nodes = self.read();
            for &d in dying {
                let Some(n) = nodes.get(d as usize) else {
                    continue;
                };
                for l in 0..=n.level() {
                    if let Some(list) = n.links(l) {
                        around.insert((d, l), list.clone());
                    }
                }
            }
        }
        let mut changes = Vec::new();
        self.each_slot(|nodes, i| self.repair_node(nodes, i, dying, &around, &mut changes));
        changes
    }

    /// Rebuilds node `i`'s lists that name a node of `dying` (see `repair`).
    fn repair_node(
        &self,
        nodes: &Nodes,
        i: usize,
        dying: &HashSet<u32>,
        around: &HashMap<(u32, usize), Vec<u32>>,
        changes: &mut Vec<LinkChange>,
    ) {
        let build = self.params.metric.build_metric();
        let id = i as u32;
        let Some(n) = nodes.get(i).filter(|n| n.present() && !dying.contains(&id)) else {
            return;
        };
        for l in 0..=n.level() {
            let Some(before) = n.links(l).map(|g| g.clone()) else {
                continue;
            };
            if !before.iter().any(|x| dying.contains(x)) {
                continue;
            }
            let mut ids: Vec<u32> = Vec::new();
            for &x in &before {
                if !dying.contains(&x) {
                    ids.push(x);
                } else if let Some(next) = around.get(&(x, l)) {
                    ids.extend(next.iter().filter(|y| !dying.contains(y) && **y != id));
                }
            }
            ids.sort_unstable();
            ids.dedup();
            let base = nodes.vector(i);
            let score = |c: u32| Scored {
                distance: self.dist_to(build, nodes, base, c),
                node: c,
            };
            let mut scored: Vec<Scored> = ids
                .into_iter()
                .map(score)
                .filter(|s| s.distance.is_finite())
                .collect();
            scored.sort_unstable();
            let max = self.max_links(l);
            let mut kept = self.select(nodes, &scored, max);
            if kept.len() < max / 2 {
                scored.extend(self.found_near(nodes, base, l, dying, id));
                scored.sort_unstable();
                scored.dedup_by_key(|s| s.node);
                kept = self.select(nodes, &scored, max);
            }
            let Some(mut list) = n.links(l) else {
                continue;
            };
            // What inserts added since the copy stays.
            let mut ids: Vec<u32> = kept.iter().map(|s| s.node).collect();
            for &x in list.iter() {
                if !before.contains(&x) && !dying.contains(&x) && !ids.contains(&x) {
                    ids.push(x);
                }
            }
            if ids.len() > max {
                let mut scored: Vec<Scored> = ids.into_iter().map(score).collect();
                scored.sort_unstable();
                ids = self
                    .select(nodes, &scored, max)
                    .iter()
                    .map(|s| s.node)
                    .collect();
            }
            *list = ids;
            if l == 0 {
                nodes.publish0(id, &list);
            }
            let new: Vec<u32> = list
                .iter()
                .copied()
                .filter(|x| !before.contains(x))
                .collect();
            changes.push((id, l as u8, list.clone()));
            drop(list);
            // Links go both ways, as an insert makes them: a node that only dying nodes
            // linked to would otherwise be left unreachable.
            for x in new {
                if let Some(list) = self.connect_all(nodes, x, &[id], l) {
                    changes.push((x, l as u8, list));
                }
            }
        }
    }

    /// The nodes an insert of `base` would consider on `level` (dying ones and `me` left
    /// out), nearest first: greedy descent from the entry point, then a beam search of
    /// ef_construction.
    fn found_near(
        &self,
        nodes: &Nodes,
        base: &[f32],
        level: usize,
        dying: &HashSet<u32>,
        me: u32,
    ) -> Vec<Scored> {
        let Some((ep, top)) = *self.entry.lock().unwrap_or_else(|p| p.into_inner()) else {
            return Vec::new();
        };
        if level > top {
            return Vec::new();
        }
        let build = self.params.metric.build_metric();
        let mut cur = Scored {
            distance: self.dist_to(build, nodes, base, ep),
            node: ep,
        };
        for l in (level + 1..=top).rev() {
            cur = self.greedy(build, nodes, base, cur, l);
        }
        let ef = usize::from(self.params.ef_construction).max(1);
        self.search_layer(nodes, Score::Full(build, base), &[cur], ef, level)
            .into_iter()
            .filter(|s| s.node != me && !dying.contains(&s.node))
            .collect()
    }
}

/// How many nodes a repair looks at per hold of the read lock.
const REPAIR_CHUNK: usize = 4096;
/// Walks `reconnect` makes at most (each after linking what the one before found cut off).
const RECONNECT_ROUNDS: usize = 4;

#[cfg(test)]
#[path = "reclaim_tests.rs"]
mod tests;
