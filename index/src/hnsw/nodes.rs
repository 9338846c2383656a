//! The graph's nodes in memory: each node's payload and per-level link lists, every vector in
//! one contiguous array, and a flat lock-free copy of the level-0 lists that searches read.
//!
//! Invariants: node `i`'s vector is at `i * dim` in `vectors` and its level-0 copy at
//! `i * stride` in `links0`; both arrays grow with the list, one node at a time, under the
//! graph's write lock; a level-0 copy changes only under that node's level-0 mutex. A slot
//! whose node was reclaimed (`vacate`) is absent, first in `quarantine` (a reader may still
//! hold its id from a search that began before), then, once the caller says no such reader
//! is left (`release`), in `free`, where the next single insert takes it (`push`).

use std::sync::atomic::{AtomicU32, Ordering as AtomicOrdering};
use std::sync::{Mutex, MutexGuard};

use super::quant::Quantizer;

/// One node: the caller's payload (a row's key), its level and its link lists (its vector is
/// in [`Nodes::vectors`]).
pub(super) struct Node {
    pub payload: Box<[u8]>,
    pub links: Box<[Mutex<Vec<u32>>]>,
    /// When the node was added, in the graph's insert order (see `Graph::stamp`); 0 for
    /// nodes read back from storage.
    pub born: u64,
}

/// The nodes, their vectors in one contiguous array (node i's at `i * dim`), and a flat copy
/// of their level-0 link lists: a search on layer 0 (where nearly all its work is) reads a
/// candidate's links and its neighbours' vectors from two arrays, never through a node's own
/// allocations (those cache misses were more than half of a search's time).
pub(super) struct Nodes {
    list: Vec<Node>,
    vectors: Vec<f32>,
    /// Level-0 lists, `stride` slots per node: the count, then up to `stride - 1` ids. The
    /// node's level-0 mutex holds the list itself; every change to it is copied here under
    /// that mutex (ids first, then the count with Release), and searches read it without
    /// locking (the count with Acquire). A reader may see a list mid-change: a mix of old and
    /// new ids, each of them a linked, present node.
    links0: Vec<AtomicU32>,
    stride: usize,
    dim: usize,
    /// Each node's vector quantized to a byte per dimension (`dim` bytes at `i * dim`), once
    /// a quantizer is fitted; empty before.
    codes: Vec<u8>,
    quant: Option<Quantizer>,
    /// The node count when the quantizer was fitted.
    fitted_at: Option<usize>,
    /// Absent slots the next inserts may take.
    free: Vec<u32>,
    /// Slots vacated since the last `release`: absent, not yet reusable.
    quarantine: Vec<u32>,
}

impl Nodes {
    pub(super) fn new(dim: usize, max0: usize) -> Nodes {
        Nodes {
            list: Vec::new(),
            vectors: Vec::new(),
            links0: Vec::new(),
            stride: max0 + 1,
            dim,
            codes: Vec::new(),
            quant: None,
            fitted_at: None,
            free: Vec::new(),
            quarantine: Vec::new(),
        }
    }

    /// Node slots, present or not.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Absent slots: reusable now, and vacated but not yet reusable.
    pub fn vacant(&self) -> (usize, usize) {
        (self.free.len(), self.quarantine.len())
    }

    pub fn get(&self, id: usize) -> Option<&Node> {
        self.list.get(id)
    }

    /// Node `id`'s vector (empty if there is no such node).
    pub fn vector(&self, id: usize) -> &[f32] {
        self.vectors
            .get(id * self.dim..(id + 1) * self.dim)
            .unwrap_or_default()
    }

    /// Node `id`'s codes (empty without a quantizer).
    #[inline]
    pub fn code(&self, id: usize) -> &[u8] {
        self.codes
            .get(id * self.dim..(id + 1) * self.dim)
            .unwrap_or_default()
    }

    pub fn quantizer(&self) -> Option<&Quantizer> {
        self.quant.as_ref()
    }

    pub fn fitted_at(&self) -> Option<usize> {
        self.fitted_at
    }

    /// A quantizer fitted to the present nodes' vectors and every node's codes under it
    /// (None if the data cannot be quantized, see `Quantizer::fit`). Reads only: the graph
    /// computes it under its read lock, searches go on meanwhile, and `install` adds the
    /// nodes pushed since. The codes are computed on rayon's pool.
    pub(super) fn fit(&self) -> Option<(Quantizer, Vec<u8>)> {
        use rayon::prelude::*;
        let dim = self.dim;
        let q = Quantizer::fit(
            dim,
            self.list
                .iter()
                .enumerate()
                .filter(|(_, n)| n.present())
                .map(|(i, _)| self.vector(i)),
        )?;
        let mut codes = Vec::new();
        reserve_huge(&mut codes, self.vectors.capacity());
        codes.resize(self.vectors.len(), 0);
        codes
            .par_chunks_mut(dim)
            .zip(self.vectors.par_chunks(dim))
            .for_each(|(c, v)| q.encode(v, c));
        Some((q, codes))
    }

    /// The newest node's insert stamp (see `Node::born`).
    pub(super) fn newest(&self) -> u64 {
        self.list.iter().map(|n| n.born).max().unwrap_or(0)
    }

    /// Makes `fit` (computed when the list held `upto` nodes, the newest of them stamped
    /// `newest`) the current quantizer, coding the nodes added since, at the end or in
    /// reused slots; None drops the codes (searches use the vectors). Either way the fit
    /// counts as made at the current size.
    pub(super) fn install(&mut self, fit: Option<(Quantizer, Vec<u8>)>, upto: usize, newest: u64) {
        let dim = self.dim;
        match fit {
            Some((q, mut codes)) => {
                codes.resize(self.vectors.len(), 0);
                let from = upto.min(self.list.len()) * dim;
                if let (Some(v), Some(c)) = (self.vectors.get(from..), codes.get_mut(from..)) {
                    q.encode_all(v, c);
                }
                for (i, _) in self.list[..upto.min(self.list.len())]
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| n.born > newest)
                {
                    let at = i * dim;
                    if let (Some(v), Some(c)) =
                        (self.vectors.get(at..at + dim), codes.get_mut(at..at + dim))
                    {
                        q.encode_all(v, c);
                    }
                }
                self.codes = codes;
                self.quant = Some(q);
            }
            None => {
                self.codes = Vec::new();
                self.quant = None;
            }
        }
        self.fitted_at = Some(self.list.len());
    }

    /// Adds a node in a free slot if there is one, else at the end; returns its id.
    pub(super) fn push(&mut self, node: Node, vector: &[f32]) -> u32 {
        let Some(id) = self.free.pop() else {
            self.append(node, vector);
            return (self.list.len() - 1) as u32;
        };
        let (dim, at) = (self.dim, id as usize * self.dim);
        if let Some(slot) = self.vectors.get_mut(at..at + dim) {
            slot.fill(0.0);
            slot.iter_mut().zip(vector).for_each(|(s, v)| *s = *v);
        }
        if let (Some(q), Some(v), Some(c)) = (
            &self.quant,
            self.vectors.get(at..at + dim),
            self.codes.get_mut(at..at + dim),
        ) {
            q.encode_all(v, c);
        }
        self.publish0(id, &[]);
        if let Some(slot) = self.list.get_mut(id as usize) {
            *slot = node;
        }
        id
    }

    /// Makes node `id` absent (its links and payload dropped, its level-0 copy emptied) and
    /// quarantines the slot; the caller has unlinked it from every other node.
    pub(super) fn vacate(&mut self, id: u32) {
        if let Some(slot) = self.list.get_mut(id as usize).filter(|n| n.present()) {
            *slot = Node::absent();
            self.publish0(id, &[]);
            self.quarantine.push(id);
        }
    }

    /// Lets inserts reuse the slots vacated before this call.
    pub(super) fn release(&mut self) {
        self.free.append(&mut self.quarantine);
    }

    /// Appends a node; `vector` is cut or zero-padded to the dimension. An absent node's slot
    /// (a gap in what storage held) is free at once.
    pub(super) fn append(&mut self, node: Node, vector: &[f32]) {
        if !node.present() {
            self.free.push(self.list.len() as u32);
        }
        self.reserve(1);
        let start = self.vectors.len();
        self.vectors.extend(vector.iter().take(self.dim));
        self.vectors.resize(start + self.dim, 0.0);
        if let Some(q) = &self.quant {
            let at = self.codes.len();
            self.codes.resize(at + self.dim, 0);
            q.encode_all(&self.vectors[start..], &mut self.codes[at..]);
        }
        self.links0
            .extend((0..self.stride).map(|_| AtomicU32::new(0)));
        self.list.push(node);
    }

    /// Makes room for `count` more nodes (see [`reserve_huge`]).
    pub(super) fn reserve(&mut self, count: usize) {
        reserve_huge(&mut self.vectors, count * self.dim);
        reserve_huge(&mut self.links0, count * self.stride);
        if self.quant.is_some() {
            reserve_huge(&mut self.codes, count * self.dim);
        }
        self.list.reserve(count);
    }

    /// Copies node `id`'s level-0 list into the flat array (the caller holds that list's
    /// mutex, so copies of one list never interleave).
    pub(super) fn publish0(&self, id: u32, list: &[u32]) {
        let base = id as usize * self.stride;
        let Some(slots) = self.links0.get(base..base + self.stride) else {
            return;
        };
        let n = list.len().min(self.stride - 1);
        for (slot, &v) in slots[1..].iter().zip(&list[..n]) {
            slot.store(v, AtomicOrdering::Relaxed);
        }
        slots[0].store(n as u32, AtomicOrdering::Release);
    }

    /// Starts loading node `id`'s level-0 list into cache.
    #[inline]
    pub(super) fn prefetch_links0(&self, id: u32) {
        let base = id as usize * self.stride;
        if let Some(slots) = self.links0.get(base..base + self.stride) {
            super::distance::prefetch(slots);
        }
    }

    /// Node `id`'s level-0 links, read without locking (see `links0`).
    pub(super) fn links0(&self, id: u32) -> impl Iterator<Item = u32> + '_ {
        let base = id as usize * self.stride;
        let slots = self
            .links0
            .get(base..base + self.stride)
            .unwrap_or_default();
        let n = slots
            .first()
            .map_or(0, |c| c.load(AtomicOrdering::Acquire) as usize)
            .min(slots.len().saturating_sub(1));
        slots
            .iter()
            .skip(1)
            .take(n)
            .map(|s| s.load(AtomicOrdering::Relaxed))
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (usize, &Node)> {
        self.list.iter().enumerate()
    }
}

impl Node {
    pub fn present(&self) -> bool {
        !self.links.is_empty()
    }

    pub fn level(&self) -> usize {
        self.links.len().saturating_sub(1)
    }

    pub fn links(&self, level: usize) -> Option<MutexGuard<'_, Vec<u32>>> {
        self.links
            .get(level)
            .map(|l| l.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn absent() -> Node {
        Node {
            payload: Box::new([]),
            links: Box::new([]),
            born: 0,
        }
    }
}

/// Makes room in `v` for `extra` more elements. A growth moves the contents into a new
/// buffer (at least double) that was first advised for transparent huge pages (2 MiB), where
/// the kernel allows them on request (`madvise` mode, Debian's default): a search touches a
/// few hundred vectors scattered over the whole array, and with 4 KiB pages nearly every one
/// also missed the TLB (a 1M x 128 arena is 125k pages). The advice goes in before the first
/// touch because pages already faulted in are not promoted until khugepaged gets to them.
pub(super) fn reserve_huge<T>(v: &mut Vec<T>, extra: usize) {
    let need = v.len().saturating_add(extra);
    if need <= v.capacity() {
        return;
    }
    let mut bigger = Vec::with_capacity(need.max(v.capacity().saturating_mul(2)));
    huge_pages(&bigger);
    bigger.append(v);
    *v = bigger;
}

/// Advises the whole huge pages inside `v`'s buffer (changes no contents; a refusal is
/// harmless).
pub(super) fn huge_pages<T>(v: &Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = v.as_ptr() as usize;
        let bytes = v.capacity().saturating_mul(std::mem::size_of::<T>());
        let first = start.next_multiple_of(HUGE);
        let end = start.saturating_add(bytes) & !(HUGE - 1);
        if end > first {
            // SAFETY: [first, end) lies inside the vector's own allocation (`first` is at or
            // after its start, `end` at or before its end); MADV_HUGEPAGE only changes how the
            // kernel backs those pages, never their contents, and an error leaves them as
            // they were.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}
