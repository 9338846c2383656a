//! EXPLAIN ANALYZE's measurements: for each plan node, the rows it produced, how many times
//! it ran (`loops`: a correlated subquery or the inner side of a lateral join runs once per
//! outer row) and the time spent in it, its children included.
//!
//! Nodes are identified by the address of the plan structure that runs them (a plan, a
//! SELECT body, a FROM node) and a [`Stage`], since one plan prints as several nodes (Limit
//! over Sort over Aggregate ...). The plan is not moved while it runs and is printed right
//! after, so the addresses are stable. The executor hands each node's rows on all at once,
//! so a node's first row comes when it finishes: its startup and total times are equal.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

/// Which of a structure's nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// A plan's result (after LIMIT / OFFSET).
    Output,
    /// A plan's rows after DISTINCT and ORDER BY, before LIMIT.
    Ordered,
    /// A plan body's rows (VALUES, set operations, recursion), before DISTINCT and ORDER BY.
    Body,
    /// A SELECT body's rows after aggregation.
    Aggregated,
    /// A SELECT body's rows after its WHERE filter.
    Filtered,
    /// A FROM node's rows (a table's after its pushed-down conditions).
    Source,
}

/// What one node did, summed over its runs.
#[derive(Debug, Default, Clone, Copy)]
pub struct NodeStats {
    pub rows: u64,
    pub loops: u64,
    pub time: Duration,
    /// The most threads a run of a parallel scan used (0: never parallel).
    pub workers: u64,
}

/// The measurements of one statement's run.
#[derive(Debug, Default)]
pub struct Profile {
    nodes: RefCell<HashMap<(usize, Stage), NodeStats>>,
}

/// The structures nodes are measured by. (Listing them keeps a `&Box<T>`, whose address is
/// not the structure's, from being passed by mistake.)
pub trait Node {}
impl Node for super::SelectPlan {}
impl Node for super::SelectBody {}
impl Node for super::from::Source {}
impl Node for super::from::TableSource {}
#[cfg(test)]
impl Node for u8 {}

fn address<T: Node>(node: &T) -> usize {
    std::ptr::from_ref(node) as usize
}

impl Profile {
    /// Counts one run of `node`'s `stage`, which produced `rows` in `time`.
    pub fn record<T: Node>(&self, node: &T, stage: Stage, rows: usize, time: Duration) {
        let mut nodes = self.nodes.borrow_mut();
        let s = nodes.entry((address(node), stage)).or_default();
        s.rows += rows as u64;
        s.loops += 1;
        s.time += time;
    }

    /// Counts `loops` runs of `node`'s source stage together (a parallel join's lookups of
    /// its right table), which produced `rows` in `time`.
    pub fn record_loops<T: Node>(&self, node: &T, rows: usize, loops: usize, time: Duration) {
        let mut nodes = self.nodes.borrow_mut();
        let s = nodes.entry((address(node), Stage::Source)).or_default();
        s.rows += rows as u64;
        s.loops += loops as u64;
        s.time += time;
    }

    /// Notes that a run of `node`'s `stage` used `threads` threads.
    pub fn record_workers<T: Node>(&self, node: &T, stage: Stage, threads: usize) {
        let mut nodes = self.nodes.borrow_mut();
        let s = nodes.entry((address(node), stage)).or_default();
        s.workers = s.workers.max(threads as u64);
    }

    pub fn get<T: Node>(&self, node: &T, stage: Stage) -> Option<NodeStats> {
        self.nodes.borrow().get(&(address(node), stage)).copied()
    }

    /// PostgreSQL's annotation of a node line: time and rows per run (rows rounded), and
    /// the runs; `(never executed)` for a node that never ran.
    pub fn actual<T: Node>(&self, node: &T, stage: Stage) -> String {
        match self.get(node, stage) {
            Some(s) if s.loops > 0 => {
                let ms = s.time.as_secs_f64() * 1000.0 / s.loops as f64;
                let rows = (s.rows as f64 / s.loops as f64).round();
                format!(
                    " (actual time={ms:.3}..{ms:.3} rows={rows} loops={})",
                    s.loops
                )
            }
            _ => " (never executed)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn stats_are_per_node_and_stage_and_averaged_per_loop() {
        let p = Profile::default();
        let (a, b) = (1u8, 2u8);
        let ms = Duration::from_millis(1);
        p.record(&a, Stage::Source, 3, ms);
        p.record(&a, Stage::Source, 6, 3 * ms);
        p.record(&b, Stage::Source, 1, ms);
        let s = p.get(&a, Stage::Source).unwrap_or_default();
        assert_eq!((s.rows, s.loops), (9, 2));
        assert_eq!(
            p.actual(&a, Stage::Source),
            " (actual time=2.000..2.000 rows=5 loops=2)"
        );
        assert_eq!(p.actual(&a, Stage::Output), " (never executed)");
        assert_eq!(p.get(&b, Stage::Source).map(|s| s.rows), Some(1));
    }
}
