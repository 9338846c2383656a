//! What an aggregation takes in besides its own rows: groups made by a scan's column batches
//! ([`Aggregator::merge_partials`]), and the stamps that keep a parallel scan's groups in
//! one thread's order ([`Stamps`]).
//!
//! Hash groups are fed straight from column batches (`BatchAgg::fold_into`): a scan's chunks
//! find their groups by the stored bytes of their key columns in one index that lives as long
//! as the aggregation, and add to per-group running (sum, count) pairs, instead of grouping
//! each chunk apart and merging its groups one by one (which, with as many groups as rows,
//! cost a map, a key and two vectors per row).
//!
//! Invariants: a group reached from the batches is also in the aggregator's own index (by
//! its memcomparable key), so the row path and the batches find the same group; the pending
//! pairs are exact integers at the scale the batch fixed per aggregate, folded into the
//! groups' states by [`Aggregator::settle`] before anything reads the states (merge, seal,
//! finish). Sums and counts combine in any order, so rows added by the row path between
//! chunks change nothing.

use super::{initial, Aggregator, Input, Partial, State};
use crate::error::Result;
use crate::exec::bytes_map::BytesMap;
use crate::types::{encode_key, Numeric, Value};

/// What the batches hold beside the aggregator's groups.
#[derive(Debug, Default)]
pub(crate) struct BatchGroups {
    /// The stored bytes of a group's key columns (`BatchAgg`'s encoding) → its position.
    index: BytesMap<usize>,
    /// Per aggregate: the scale of a sum's integers, None for a count.
    kinds: Vec<Option<u32>>,
    /// Per group and aggregate (group-major): (sum, count) not yet in the group's states.
    pending: Vec<(i128, i64)>,
}

impl Aggregator<'_> {
    /// Folds in groups made outside the aggregator (a scan's column batches), as [`merge`]
    /// does an aggregation's: each group's key values and one [`Partial`] per aggregate.
    ///
    /// [`merge`]: Aggregator::merge
    pub(crate) fn merge_partials(&mut self, groups: Vec<(Vec<Value>, Vec<Partial>)>) -> Result<()> {
        // Keys are encoded into one buffer; a group's inputs (none are held for these plans)
        // are made only for a new group.
        let mut key = Vec::new();
        for (keys, partials) in groups {
            key.clear();
            for v in &keys {
                encode_key(v, &mut key);
            }
            let states: Vec<State> = partials
                .into_iter()
                .map(|p| match p {
                    Partial::Count(n) => State::Count(n),
                    Partial::Sum(v, n) => State::Sum(v, n),
                })
                .collect();
            match self.find(&key) {
                Some(g) => self.combine_into(g, states)?,
                None => {
                    let inputs = vec![Input::default(); self.plan.aggs.len()];
                    self.add_group(&key, (keys, states, inputs));
                }
            }
        }
        Ok(())
    }

    /// Readies the aggregator for the batches, once: `kinds` gives [`BatchGroups::kinds`]
    /// (one per aggregate of the plan). A hash aggregation only.
    pub(crate) fn batch_begin(&mut self, kinds: impl FnOnce() -> Vec<Option<u32>>) {
        if self.batch.is_none() {
            self.batch = Some(Box::new(BatchGroups {
                kinds: kinds(),
                ..BatchGroups::default()
            }));
        }
    }

    /// The group the batches know by stored key bytes `key`.
    pub(crate) fn batch_find(&self, key: &[u8]) -> Option<usize> {
        self.batch.as_ref()?.index.get(key).copied()
    }

    /// The group of key values `keys` (a row's, whose stored key bytes are `key`): the one
    /// the row path made, else a new one; from now on found by `key` too.
    pub(crate) fn batch_group(&mut self, key: &[u8], keys: Vec<Value>) -> usize {
        let mut encoded = std::mem::take(&mut self.keybuf);
        encoded.clear();
        for v in &keys {
            encode_key(v, &mut encoded);
        }
        let g = match self.find(&encoded) {
            Some(g) => g,
            None => {
                let plan = self.plan;
                let group = (
                    keys,
                    plan.aggs.iter().map(initial).collect::<Vec<State>>(),
                    vec![Input::default(); plan.aggs.len()],
                );
                self.add_group(&encoded, group);
                self.out.len() - 1
            }
        };
        self.keybuf = encoded;
        if let Some(b) = &mut self.batch {
            b.index.insert(key.to_vec(), g);
            self.bytes += key.len() + 48 + 32 * b.kinds.len();
        }
        g
    }

    /// Group `g`'s pending (sum, count) pairs, one per aggregate.
    pub(crate) fn batch_pending(&mut self, g: usize) -> Option<&mut [(i128, i64)]> {
        let groups = self.out.len();
        let b = self.batch.as_mut()?;
        let width = b.kinds.len();
        if b.pending.len() < groups * width {
            b.pending.resize(groups * width, (0, 0));
        }
        b.pending.get_mut(g * width..(g + 1) * width)
    }

    /// Folds the pending pairs into the groups' states (see the module doc).
    pub(crate) fn settle(&mut self) -> Result<()> {
        let Some(b) = &mut self.batch else {
            return Ok(());
        };
        let width = b.kinds.len();
        let pending = std::mem::take(&mut b.pending);
        if width == 0 || pending.is_empty() {
            return Ok(());
        }
        let kinds = b.kinds.clone();
        for (g, pairs) in pending.chunks(width).enumerate() {
            if pairs.iter().all(|(_, n)| *n == 0) {
                continue;
            }
            let states = kinds
                .iter()
                .zip(pairs)
                .map(|(kind, (sum, n))| match kind {
                    Some(scale) => State::Sum(
                        (*n > 0)
                            .then(|| Value::Numeric(Numeric::from_i128(*sum, i64::from(*scale)))),
                        *n,
                    ),
                    None => State::Count(*n),
                })
                .collect();
            self.combine_into(g, states)?;
        }
        Ok(())
    }
}

/// Where each group was first met when one aggregation takes several pieces of a parallel
/// scan: the piece's number in the high 32 bits, the group's rank among those the piece met
/// first in the low ones. Merged aggregations keep each group's least stamp, and
/// [`Aggregator::finish`] orders the groups by it: the order one thread reading the pieces
/// in turn meets them, as the serial path gives them.
#[derive(Debug, Default)]
pub(crate) struct Stamps {
    of: Vec<u64>,
    next: u64,
}

impl Stamps {
    /// A group was added.
    pub(super) fn met(&mut self) {
        self.of.push(self.next);
        self.next += 1;
    }
}

impl<'p> Aggregator<'p> {
    /// Starts piece `piece` of a parallel scan (a hash aggregation that goes on across
    /// pieces; see [`Stamps`]).
    pub(crate) fn start_piece(&mut self, piece: usize) {
        let base = (piece as u64) << 32;
        let groups = self.out.len();
        let s = self.stamps.get_or_insert_with(Stamps::default);
        // Groups met before stamping began (none, when started first) count as this piece's.
        s.of.resize(groups, base);
        s.next = base;
    }

    /// [`Aggregator::merge`] of stamped aggregations: each group keeps its least stamp.
    pub(super) fn merge_stamped(&mut self, mut other: Aggregator<'p>) -> Result<()> {
        let theirs = match other.stamps.take() {
            Some(s) if s.of.len() == other.out.len() => s.of,
            _ => vec![u64::MAX; other.out.len()],
        };
        let mut index: Vec<(Vec<u8>, usize)> = other.groups.into_iter().collect();
        index.sort_unstable_by_key(|(_, g)| *g);
        for (((key, _), group), stamp) in index.into_iter().zip(other.out).zip(theirs) {
            match self.find(&key) {
                Some(g) => {
                    self.combine_into(g, group.1)?;
                    if let Some(mine) = self.stamps.as_mut().and_then(|s| s.of.get_mut(g)) {
                        *mine = (*mine).min(stamp);
                    }
                }
                None => {
                    self.add_group(&key, group);
                    if let Some(last) = self.stamps.as_mut().and_then(|s| s.of.last_mut()) {
                        *last = stamp;
                    }
                }
            }
        }
        Ok(())
    }

    /// Puts stamped groups in the order of their stamps (see [`Stamps`]).
    pub(super) fn restore_order(&mut self) {
        let Some(s) = self.stamps.take() else {
            return;
        };
        if s.of.len() != self.out.len() {
            return;
        }
        let mut paired: Vec<(u64, super::Group)> =
            s.of.into_iter().zip(self.out.drain(..)).collect();
        paired.sort_unstable_by_key(|(stamp, _)| *stamp);
        self.out = paired.into_iter().map(|(_, g)| g).collect();
    }
}
