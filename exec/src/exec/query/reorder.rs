//! Join order: rebuilds each region of inner joins in the FROM tree in the order the cost
//! model prefers, after [`super::from::push_down`] has placed the conditions and before
//! [`super::from::finish`] picks hash keys.
//!
//! A region is a maximal tree of inner, non-lateral joins without USING columns; its leaves
//! are tables, subqueries, functions and outer joins (whose insides are ordered on their
//! own). Up to [`DP_LIMIT`] leaves, dynamic programming over every subset finds the cheapest
//! tree, bushy ones included; beyond that a greedy left-deep order is built. Each condition
//! of the region is attached to the lowest join that has all its columns.
//!
//! Column equalities form equivalence classes (`a = b AND b = c` puts a, b and c in one), and
//! each class implies the equalities between its columns that the query did not write
//! (`a = c`), so that leaves the query links only through a third one can be joined first
//! (TPC-H Q5's customer and nation, linked through supplier). The estimates count a class's
//! equalities among the leaves of a join as a spanning tree of them: the equalities a join
//! implies by transitivity do not shrink its estimate again, and a join checks only the
//! equalities of a class that the joins below it have not already enforced.
//!
//! Invariant: the reordered region produces the same rows with the same layout as the
//! original (the root join's `permute` restores the column order the query was bound to).
//! The original tree is kept unless the new one is estimated clearly cheaper, so plans only
//! change where the estimates say it matters.

use super::estimate;
use super::factor::into_conjuncts;
use super::from::{and, Join, JoinKind, Source};
use super::lookup::column_equality;
use crate::expr::Expr;
use crate::types::{BinaryOp, DataType};

/// The most leaves ordered by dynamic programming (3^n subset pairs are visited).
const DP_LIMIT: usize = 10;
/// A new order must be estimated at most this fraction of the original's cost.
const GAIN: f64 = 0.7;
/// The work of hashing one build-side row, in probes: a build row is stored (its values
/// copied, its key hashed into a growing table) where a probe only hashes and looks up.
/// Measured on TPC-H Q14's join (lineitem's 76,000 rows of a month against part's 200,000):
/// about 0.6 µs per row built against 0.12 µs per row probed.
const BUILD: f64 = 3.0;

impl Join {
    /// A join of `left` (its first `left_width` columns of `types`) and `right` on `on`,
    /// before `finish` takes its keys: no lookup, permutation or LATERAL.
    pub fn plain(
        kind: JoinKind,
        (left, right): (Source, Source),
        left_width: usize,
        types: Vec<DataType>,
        on: Option<Expr>,
    ) -> Join {
        Join {
            kind,
            left,
            right,
            left_width,
            right_width: types.len().saturating_sub(left_width),
            types,
            on,
            keys: Vec::new(),
            merged: Vec::new(),
            lateral: false,
            permute: Vec::new(),
            lookup: None,
            needed: None,
        }
    }
}

/// Reorders every inner-join region under `src`.
pub fn reorder(src: &mut Source) {
    match src {
        Source::Join(j) if reorderable(j) => {
            let Source::Join(j) = std::mem::replace(src, Source::Unit) else {
                return;
            };
            let types = j.types.clone();
            let mut region = Region::default();
            let shape = region.flatten(Source::Join(j), 0, &types);
            for leaf in &mut region.leaves {
                reorder(&mut leaf.source);
            }
            *src = region.plan(shape);
        }
        Source::Join(j) => {
            reorder(&mut j.left);
            reorder(&mut j.right);
        }
        _ => {}
    }
}

fn reorderable(j: &Join) -> bool {
    j.kind == JoinKind::Inner
        && !j.lateral
        && j.merged.is_empty()
        && j.keys.is_empty()
        && j.permute.is_empty()
}

/// Leaf `i`'s bit in a mask (none past 63: such regions keep their order).
fn bit(i: usize) -> u64 {
    u32::try_from(i)
        .ok()
        .and_then(|i| 1u64.checked_shl(i))
        .unwrap_or(0)
}

/// A join tree over leaf numbers.
#[derive(Debug, Clone)]
enum Tree {
    Leaf(usize),
    Join(Box<Tree>, Box<Tree>),
}

impl Tree {
    fn leaves(&self, out: &mut Vec<usize>) {
        match self {
            Tree::Leaf(i) => out.push(*i),
            Tree::Join(l, r) => {
                l.leaves(out);
                r.leaves(out);
            }
        }
    }
}

struct Leaf {
    source: Source,
    /// First column in the region's original layout.
    offset: usize,
    types: Vec<DataType>,
    rows: f64,
}

/// A condition over the region's original layout, with the leaves it reads.
struct Cond {
    expr: Expr,
    mask: u64,
    sel: f64,
    /// An equality of two columns of equal type in different leaves (a hash key).
    hashable: bool,
    /// The equivalence class of a hashable equality's columns.
    class: Option<usize>,
}

/// A class's equality placed at a join: its columns (the region's original layout) and
/// leaves.
struct Link {
    class: usize,
    x: usize,
    y: usize,
    mask: u64,
}

/// Whether the equalities of `class` placed within the leaves of `mask` equate `x` and `y`.
fn linked(placed: &[Link], class: usize, mask: u64, x: usize, y: usize) -> bool {
    let mut reach = vec![x];
    loop {
        let before = reach.len();
        for l in placed
            .iter()
            .filter(|l| l.class == class && l.mask & !mask == 0)
        {
            match (reach.contains(&l.x), reach.contains(&l.y)) {
                (true, false) => reach.push(l.y),
                (false, true) => reach.push(l.x),
                _ => {}
            }
        }
        if reach.contains(&y) {
            return true;
        }
        if reach.len() == before {
            return false;
        }
    }
}

#[derive(Default)]
struct Region {
    leaves: Vec<Leaf>,
    conds: Vec<Expr>,
}

impl Region {
    /// Splits a region into leaves and conditions; returns its original shape.
    fn flatten(&mut self, src: Source, offset: usize, types: &[DataType]) -> Tree {
        match src {
            Source::Join(j) if reorderable(&j) => {
                let Join {
                    left,
                    right,
                    left_width: lw,
                    right_width: rw,
                    on,
                    ..
                } = *j;
                let l = self.flatten(left, offset, types.get(..lw).unwrap_or_default());
                let r = self.flatten(
                    right,
                    offset + lw,
                    types.get(lw..lw + rw).unwrap_or_default(),
                );
                if let Some(on) = on {
                    let mut cs = Vec::new();
                    into_conjuncts(on, &mut cs);
                    for mut c in cs {
                        c.remap_columns(&|i| i + offset);
                        self.conds.push(c);
                    }
                }
                Tree::Join(Box::new(l), Box::new(r))
            }
            other => {
                self.leaves.push(Leaf {
                    rows: estimate::rows(&other),
                    source: other,
                    offset,
                    types: types.to_vec(),
                });
                Tree::Leaf(self.leaves.len() - 1)
            }
        }
    }

    /// The leaf holding region column `col`.
    fn leaf_of(&self, col: usize) -> Option<usize> {
        self.leaves
            .iter()
            .position(|l| col >= l.offset && col < l.offset + l.types.len())
    }

    /// The region built as the cheapest tree, or as `shape` (its original) unless that is
    /// clearly cheaper.
    fn plan(mut self, shape: Tree) -> Source {
        let n = self.leaves.len();
        let mut conds: Vec<Cond> = std::mem::take(&mut self.conds)
            .into_iter()
            .map(|e| self.cond(e))
            .collect();
        if n > 63 {
            // Beyond what leaf masks can name: keep the order (conditions go on the root).
            return self.build(&shape, conds);
        }
        self.imply(&mut conds);
        let mut order: Vec<usize> = (0..conds.len()).collect();
        order.sort_by(|a, b| conds[*a].sel.total_cmp(&conds[*b].sel));
        let model = Model {
            rows: self.leaves.iter().map(|l| l.rows).collect(),
            conds: &conds,
            order,
        };
        let best = if n <= DP_LIMIT {
            model.dynamic()
        } else {
            model.greedy()
        };
        let tree = match best {
            Some((cost, tree)) if cost < model.cost(&shape) * GAIN => tree,
            _ => shape,
        };
        self.build(&tree, conds)
    }

    fn cond(&self, expr: Expr) -> Cond {
        let mut cols = Vec::new();
        expr.columns_used(&mut cols);
        let mask = if self.leaves.len() > 63 {
            u64::MAX
        } else {
            cols.iter()
                .filter_map(|c| self.leaf_of(*c))
                .fold(0u64, |m, l| m | bit(l))
        };
        let (mut sel, mut hashable) = (estimate::OTHER_SEL, false);
        if let Some((x, y)) = column_equality(&expr) {
            let side = |c: usize| {
                let l = self.leaf_of(c)?;
                let leaf = self.leaves.get(l)?;
                let local = c - leaf.offset;
                let d = estimate::distinct(&leaf.source, local, leaf.rows);
                Some((l, d, leaf.types.get(local)?.clone()))
            };
            if let (Some((lx, dx, tx)), Some((ly, dy, ty))) = (side(x), side(y)) {
                sel = 1.0 / dx.max(dy);
                hashable = lx != ly && tx == ty;
            }
        }
        Cond {
            expr,
            mask,
            sel,
            hashable,
            class: None,
        }
    }

    /// Groups the hashable equalities' columns into equivalence classes (numbering each
    /// condition's class) and adds the equalities each class implies between columns of
    /// different leaves that no condition equates yet.
    fn imply(&self, conds: &mut Vec<Cond>) {
        // Union-find over the columns the equalities name.
        let mut cols: Vec<usize> = Vec::new();
        let mut parent: Vec<usize> = Vec::new();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        fn slot(cols: &mut Vec<usize>, parent: &mut Vec<usize>, c: usize) -> usize {
            match cols.iter().position(|x| *x == c) {
                Some(i) => i,
                None => {
                    cols.push(c);
                    parent.push(parent.len());
                    cols.len() - 1
                }
            }
        }
        let mut pairs = Vec::new();
        for c in conds.iter() {
            if let (true, Some((x, y))) = (c.hashable, column_equality(&c.expr)) {
                let (i, j) = (
                    slot(&mut cols, &mut parent, x),
                    slot(&mut cols, &mut parent, y),
                );
                pairs.push((i, j));
                let (ri, rj) = (root(&mut parent, i), root(&mut parent, j));
                parent[ri] = rj;
            }
        }
        if pairs.is_empty() {
            return;
        }
        let roots: Vec<usize> = (0..cols.len()).map(|i| root(&mut parent, i)).collect();
        for c in conds.iter_mut() {
            if let (true, Some((x, _))) = (c.hashable, column_equality(&c.expr)) {
                c.class = cols.iter().position(|v| *v == x).map(|i| roots[i]);
            }
        }
        for i in 0..cols.len() {
            for j in i + 1..cols.len() {
                let (x, y) = (cols[i], cols[j]);
                let equated = pairs
                    .iter()
                    .any(|&(a, b)| (a, b) == (i, j) || (a, b) == (j, i));
                if roots[i] != roots[j] || equated || self.leaf_of(x) == self.leaf_of(y) {
                    continue;
                }
                let expr = Expr::Binary(
                    BinaryOp::Eq,
                    Box::new(Expr::Column(x)),
                    Box::new(Expr::Column(y)),
                );
                let mut implied = self.cond(expr);
                if implied.hashable {
                    implied.class = Some(roots[i]);
                    conds.push(implied);
                }
            }
        }
    }

    /// The region rebuilt as `tree`, its conditions at the lowest joins that can evaluate
    /// them, with the original layout restored at the root.
    fn build(self, tree: &Tree, conds: Vec<Cond>) -> Source {
        let mut order = Vec::new();
        tree.leaves(&mut order);
        let total: usize = self.leaves.iter().map(|l| l.types.len()).sum();
        // Where each original column lands in the new layout.
        let mut new_pos = vec![0usize; total];
        let mut at = 0;
        for &l in &order {
            if let Some(leaf) = self.leaves.get(l) {
                for k in 0..leaf.types.len() {
                    if let Some(p) = new_pos.get_mut(leaf.offset + k) {
                        *p = at + k;
                    }
                }
                at += leaf.types.len();
            }
        }
        let mut slots: Vec<Option<Leaf>> = self.leaves.into_iter().map(Some).collect();
        let mut conds: Vec<Option<Cond>> = conds.into_iter().map(Some).collect();
        let mut placed = Vec::new();
        let (mut root, _, _) = assemble(tree, &mut slots, &mut conds, &mut placed, &new_pos, 0);
        // Conditions reading no column of the region go on the root.
        let rest = conds.into_iter().flatten().map(|mut c| {
            c.expr
                .remap_columns(&|i| new_pos.get(i).copied().unwrap_or(i));
            c.expr
        });
        if let Source::Join(j) = &mut root {
            for e in rest {
                j.on = Some(and(j.on.take(), e));
            }
            if new_pos.iter().enumerate().any(|(i, p)| i != *p) {
                j.permute = new_pos;
            }
        }
        root
    }
}

/// Builds `tree` from the leaves in `slots`; `start` is its first column in the new layout.
/// Returns the source, its leaf mask and its column types.
fn assemble(
    tree: &Tree,
    slots: &mut [Option<Leaf>],
    conds: &mut [Option<Cond>],
    placed: &mut Vec<Link>,
    new_pos: &[usize],
    start: usize,
) -> (Source, u64, Vec<DataType>) {
    match tree {
        Tree::Leaf(i) => match slots.get_mut(*i).and_then(Option::take) {
            Some(leaf) => (leaf.source, bit(*i), leaf.types),
            None => (Source::Unit, 0, Vec::new()),
        },
        Tree::Join(l, r) => {
            let (left, lm, mut types) = assemble(l, slots, conds, placed, new_pos, start);
            let lw = types.len();
            let (right, rm, rtypes) = assemble(r, slots, conds, placed, new_pos, start + lw);
            types.extend(rtypes);
            let mask = lm | rm;
            let mut on: Option<Expr> = None;
            // The children took every condition they can evaluate: the rest that this
            // join can evaluate belong here.
            for slot in conds.iter_mut() {
                let here = slot
                    .as_ref()
                    .is_some_and(|c| c.mask != 0 && c.mask & !mask == 0);
                if !here {
                    continue;
                }
                let Some(mut c) = slot.take() else { continue };
                if let (Some(class), Some((x, y))) = (c.class, column_equality(&c.expr)) {
                    // An equality that the class's equalities placed at or below this join
                    // already enforce is dropped (written ones come first, and are kept
                    // over implied ones).
                    if linked(placed, class, mask, x, y) {
                        continue;
                    }
                    placed.push(Link {
                        class,
                        x,
                        y,
                        mask: c.mask,
                    });
                }
                c.expr
                    .remap_columns(&|i| new_pos.get(i).copied().unwrap_or(i).saturating_sub(start));
                on = Some(and(on, c.expr));
            }
            let join = Join::plain(JoinKind::Inner, (left, right), lw, types.clone(), on);
            (Source::Join(Box::new(join)), mask, types)
        }
    }
}

/// The cost model: rows out of every subset of leaves, and the cost of joining two.
struct Model<'c> {
    rows: Vec<f64>,
    conds: &'c [Cond],
    /// The conditions' indexes, most selective first.
    order: Vec<usize>,
}

impl Model<'_> {
    /// Estimated rows of the join of the leaves in `mask`.
    ///
    /// Equalities between the same two leaves are not taken as independent: only the most
    /// selective one counts (a composite key such as `(partkey, suppkey)` is usually a key
    /// of one side, and multiplying its parts' selectivities would shrink the estimate by
    /// orders of magnitude). An equality whose leaves its equivalence class already links
    /// within `mask` (through its more selective equalities) does not count either.
    fn card(&self, mask: u64) -> f64 {
        let mut n: f64 = (0..self.rows.len())
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| self.rows[i])
            .product();
        // (pair of leaves, the most selective equality between them)
        let mut pairs: Vec<(u64, f64)> = Vec::new();
        // (class, leaves it links) for the classes met so far.
        let mut linked: Vec<(usize, u64)> = Vec::new();
        for &i in &self.order {
            let Some(c) = self.conds.get(i) else { continue };
            if c.mask == 0 || c.mask & !mask != 0 || c.mask.count_ones() < 2 {
                continue;
            }
            if let Some(class) = c.class {
                // Components of the class's links: merge the two this equality joins.
                let mut merged = c.mask;
                let mut new = true;
                linked.retain(|&(k, m)| {
                    if k != class || m & c.mask == 0 {
                        return true;
                    }
                    if m & c.mask == c.mask {
                        new = false;
                    }
                    merged |= m;
                    false
                });
                linked.push((class, merged));
                if !new {
                    continue;
                }
            }
            if c.hashable {
                match pairs.iter_mut().find(|(m, _)| *m == c.mask) {
                    Some((_, sel)) => *sel = sel.min(c.sel),
                    None => pairs.push((c.mask, c.sel)),
                }
            } else {
                n *= c.sel;
            }
        }
        for (_, sel) in pairs {
            n *= sel;
        }
        n.max(1.0)
    }

    /// The executor's work to join `l` (probe side) with `r` (build side): a hash join when
    /// an equality links them, else a nested loop over every pair.
    fn join_cost(&self, l: u64, r: u64, card: &dyn Fn(u64) -> f64) -> f64 {
        let linked = self
            .conds
            .iter()
            .any(|c| c.hashable && c.mask & l != 0 && c.mask & r != 0 && c.mask & !(l | r) == 0);
        let (cl, cr, out) = (card(l), card(r), card(l | r));
        if linked {
            cl + BUILD * cr + out
        } else {
            cl * cr + out
        }
    }

    /// The cost of a given tree.
    fn cost(&self, tree: &Tree) -> f64 {
        fn walk(m: &Model<'_>, t: &Tree) -> (u64, f64) {
            match t {
                Tree::Leaf(i) => (bit(*i), 0.0),
                Tree::Join(l, r) => {
                    let (lm, lc) = walk(m, l);
                    let (rm, rc) = walk(m, r);
                    let c = m.join_cost(lm, rm, &|x| m.card(x));
                    (lm | rm, lc + rc + c)
                }
            }
        }
        walk(self, tree).1
    }

    /// The cheapest tree over every split of every subset.
    fn dynamic(&self) -> Option<(f64, Tree)> {
        let n = self.rows.len();
        let full = (1u64 << n) - 1;
        let size = 1usize << n;
        let cards: Vec<f64> = (0..size as u64).map(|m| self.card(m)).collect();
        let card = |m: u64| cards.get(m as usize).copied().unwrap_or(1.0);
        // best[mask] = (cost, left part) ; leaves have left part 0.
        let mut best: Vec<(f64, u64)> = vec![(f64::INFINITY, 0); size];
        for i in 0..n {
            best[1 << i] = (0.0, 0);
        }
        for mask in 1..=full {
            if mask.count_ones() < 2 {
                continue;
            }
            // Every non-empty proper subset as the left (probe) side.
            let mut l = (mask - 1) & mask;
            while l > 0 {
                let r = mask & !l;
                let (lc, rc) = (best[l as usize].0, best[r as usize].0);
                if lc.is_finite() && rc.is_finite() {
                    let c = lc + rc + self.join_cost(l, r, &card);
                    if c < best[mask as usize].0 {
                        best[mask as usize] = (c, l);
                    }
                }
                l = (l - 1) & mask;
            }
        }
        fn tree(best: &[(f64, u64)], mask: u64) -> Tree {
            let l = best.get(mask as usize).map_or(0, |b| b.1);
            if l == 0 {
                return Tree::Leaf(mask.trailing_zeros() as usize);
            }
            Tree::Join(Box::new(tree(best, l)), Box::new(tree(best, mask & !l)))
        }
        let cost = best.get(full as usize)?.0;
        cost.is_finite().then(|| (cost, tree(&best, full)))
    }

    /// A left-deep order for regions too large for [`Model::dynamic`]: start from the
    /// smallest leaf, then add whichever leaf is cheapest to join next.
    fn greedy(&self) -> Option<(f64, Tree)> {
        let n = self.rows.len();
        let card = |m: u64| self.card(m);
        let first = (0..n).min_by(|a, b| self.rows[*a].total_cmp(&self.rows[*b]))?;
        let (mut mask, mut tree, mut cost) = (1u64 << first, Tree::Leaf(first), 0.0);
        while mask.count_ones() < n as u32 {
            let (next, c) = (0..n)
                .filter(|i| mask & (1 << i) == 0)
                .map(|i| (i, self.join_cost(mask, 1 << i, &card)))
                .min_by(|a, b| a.1.total_cmp(&b.1))?;
            cost += c;
            mask |= 1 << next;
            tree = Tree::Join(Box::new(tree), Box::new(Tree::Leaf(next)));
        }
        Some((cost, tree))
    }
}
