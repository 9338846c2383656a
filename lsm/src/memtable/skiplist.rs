//! The memtable's index: an insert-only skiplist of internal keys whose nodes live in an arena
//! (RocksDB's `InlineSkipList` design). Any number of concurrent inserters and lock-free
//! readers: inserters take a lock only to allocate, then link their node by compare-and-swap.
//!
//! A node is one block of the key arena: a header (trailer, value address and length, key
//! length, height), its tower of next links, then the user key. Values go to a second arena, so
//! the nodes a search walks are dense (a 16-byte key's node is 56 bytes) and a short node never
//! straddles a cache line: a search is bound by cache misses on nodes. Nothing is freed per
//! entry (the chunks go when the list drops). With crossbeam-skiplist a node, its key and its
//! value were separate allocations, reclaimed one by one through epochs.
//!
//! Order: user key ascending, then trailer (`seq << 8 | kind`) descending, as `key::compare`.
//!
//! Invariants (what the unsafe code relies on):
//! - a node is never moved, freed, or changed after it is linked, except its tower links
//!   (atomics); the arena's chunks live as long as the list;
//! - a node is fully written (header, key, value and its own links) before the first Release
//!   store that links it, and readers load links with Acquire;
//! - a node's level-i link from its predecessor is stored after its level-(i-1) link, so a node
//!   reachable at level i is reachable at every level below;
//! - only the holder of `writer` allocates; a block belongs to the thread that allocated it
//!   until it is linked; a published link changes only by a compare-and-swap that inserts a
//!   node right after its predecessor (links are never removed);
//! - a `Node<'a>` is only made from the head or from a loaded link, while the list is borrowed
//!   for `'a`.

use std::cmp::Ordering;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering as Atomic};
use std::sync::Mutex;

use super::arena::Arena;

/// Most levels a node has (branching factor 4: enough for ~16M entries).
pub(crate) const MAX_HEIGHT: usize = 12;

/// Header layout: trailer u64 @0, value address @8, value length u64 @16, key length u32 @24,
/// height u32 @28.
const HEADER: usize = 32;
const LINK: usize = std::mem::size_of::<AtomicPtr<u8>>();

/// A reference to a published node (or the head), valid while the list is borrowed for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct Node<'a> {
    ptr: NonNull<u8>,
    _list: PhantomData<&'a SkipList>,
}

impl PartialEq for Node<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.ptr == other.ptr
    }
}

impl<'a> Node<'a> {
    pub(crate) fn trailer(self) -> u64 {
        // SAFETY: a node's header is written before it is published (module invariants) and
        // never changed; offset 0 is 8-aligned (arena blocks are).
        unsafe { self.ptr.as_ptr().cast::<u64>().read() }
    }

    fn value_ptr(self) -> *const u8 {
        // SAFETY: as in `trailer`; offset 8 is 8-aligned.
        unsafe { self.ptr.as_ptr().add(8).cast::<*const u8>().read() }
    }

    fn value_len(self) -> usize {
        // SAFETY: as in `trailer`; offset 16 is 8-aligned.
        unsafe { self.ptr.as_ptr().add(16).cast::<u64>().read() as usize }
    }

    fn key_len(self) -> usize {
        // SAFETY: as in `trailer`; offset 24 is 4-aligned.
        unsafe { self.ptr.as_ptr().add(24).cast::<u32>().read() as usize }
    }

    fn height(self) -> usize {
        // SAFETY: as in `trailer`; offset 28 is 4-aligned.
        unsafe { self.ptr.as_ptr().add(28).cast::<u32>().read() as usize }
    }

    /// The link at `level` (`level < height`).
    fn link(self, level: usize) -> &'a AtomicPtr<u8> {
        debug_assert!(level < self.height());
        // SAFETY: the tower holds `height` initialized, 8-aligned links right after the
        // header, and the node outlives `'a` (module invariants).
        unsafe {
            &*self
                .ptr
                .as_ptr()
                .add(HEADER + level * LINK)
                .cast::<AtomicPtr<u8>>()
        }
    }

    /// The next node at `level`, if any.
    fn next(self, level: usize) -> Option<Node<'a>> {
        NonNull::new(self.link(level).load(Atomic::Acquire)).map(|ptr| Node {
            ptr,
            _list: PhantomData,
        })
    }

    /// The user key.
    pub(crate) fn key(self) -> &'a [u8] {
        // SAFETY: `key_len` bytes after the tower were written before publication and are
        // never changed; the node outlives `'a`.
        unsafe {
            std::slice::from_raw_parts(
                self.ptr.as_ptr().add(HEADER + self.height() * LINK),
                self.key_len(),
            )
        }
    }

    /// The value.
    pub(crate) fn value(self) -> &'a [u8] {
        // SAFETY: the header addresses `value_len` bytes in the value arena (or a dangling,
        // aligned pointer for an empty value), written before publication and never changed;
        // the arena outlives `'a`.
        unsafe { std::slice::from_raw_parts(self.value_ptr(), self.value_len()) }
    }

    /// Appends the node's encoded internal key (user key, trailer) to `out`.
    pub(crate) fn encode_key_into(self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.key());
        out.extend_from_slice(&self.trailer().to_le_bytes());
    }

    /// The node's address, to find it again with [`SkipList::node_at`].
    pub(crate) fn raw(self) -> NonNull<u8> {
        self.ptr
    }

    /// The next entry in order.
    pub(crate) fn successor(self) -> Option<Node<'a>> {
        self.next(0)
    }

    /// How this node's internal key compares with (`user`, `trailer`).
    fn cmp_to(self, user: &[u8], trailer: u64) -> Ordering {
        compare_bytes(self.key(), user).then_with(|| trailer.cmp(&self.trailer()))
    }

    /// Starts loading the node after this one at `level` into the cache: a search that moves
    /// on to it finds it there (the walk is bound by cache misses on nodes).
    fn prefetch_next(self, level: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            let next = self.link(level).load(Atomic::Relaxed);
            // SAFETY: a prefetch is a hint that never faults, whatever the address (null
            // included); SSE is part of the x86_64 baseline.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    next.cast::<i8>(),
                )
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = level;
    }
}

/// Bytewise comparison, eight bytes at a time inline (a skiplist search compares dozens of
/// short keys; a `memcmp` call each cost more than the comparison).
fn compare_bytes(a: &[u8], b: &[u8]) -> Ordering {
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let (x, y) = (
            u64::from_be_bytes(x.try_into().unwrap_or_default()),
            u64::from_be_bytes(y.try_into().unwrap_or_default()),
        );
        if x != y {
            return x.cmp(&y);
        }
    }
    let done = a.len().min(b.len()) / 8 * 8;
    a.get(done..)
        .unwrap_or_default()
        .cmp(b.get(done..).unwrap_or_default())
}

/// What inserters allocate from, one at a time (behind `SkipList::writer`).
struct Writer {
    /// Nodes (headers, towers, keys).
    arena: Arena,
    /// Values.
    values: Arena,
    rng: u64,
}

impl Writer {
    /// A height with P(h > k) = 4^-k, at most `MAX_HEIGHT` (xorshift64).
    fn random_height(&mut self) -> usize {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (1 + (x.trailing_zeros() as usize) / 2).min(MAX_HEIGHT)
    }
}

/// The skiplist (see the module docs).
pub(crate) struct SkipList {
    head: NonNull<u8>,
    /// Levels in use; readers start there (a stale, lower value only costs steps).
    height: AtomicUsize,
    len: AtomicUsize,
    writer: Mutex<Writer>,
}

// SAFETY: the raw pointers address arena memory owned by `writer` and freed only with the
// list; shared state is changed only through atomics (links) or under the `writer` lock, and
// published nodes are immutable (module invariants).
unsafe impl Send for SkipList {}
// SAFETY: as for `Send`: readers only load atomics and read immutable published bytes.
unsafe impl Sync for SkipList {}

impl std::fmt::Debug for SkipList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkipList")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl Default for SkipList {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes a node's header and key into `ptr` (a block of `node_size` bytes), and its links
/// (all null); `value` is the value's address and length.
///
/// # Safety
/// `ptr` must be an unpublished, 8-aligned arena block of at least
/// `node_size(height, key.len())` bytes.
// SAFETY: an unsafe fn: its callers uphold the contract above (both pass fresh arena blocks).
unsafe fn write_node(
    ptr: NonNull<u8>,
    trailer: u64,
    key: &[u8],
    height: usize,
    value: (*const u8, usize),
) {
    let p = ptr.as_ptr();
    // SAFETY: every write stays inside the block (its size is the sum of these parts) and is
    // aligned: the block is 8-aligned and the offsets are the header layout's.
    unsafe {
        p.cast::<u64>().write(trailer);
        p.add(8).cast::<*const u8>().write(value.0);
        p.add(16).cast::<u64>().write(value.1 as u64);
        p.add(24).cast::<u32>().write(key.len() as u32);
        p.add(28).cast::<u32>().write(height as u32);
        for level in 0..height {
            p.add(HEADER + level * LINK)
                .cast::<AtomicPtr<u8>>()
                .write(AtomicPtr::new(ptr::null_mut()));
        }
        ptr::copy_nonoverlapping(key.as_ptr(), p.add(HEADER + height * LINK), key.len());
    }
}

fn node_size(height: usize, key: usize) -> usize {
    HEADER + height * LINK + key
}

impl SkipList {
    pub(crate) fn new() -> SkipList {
        let mut arena = Arena::new();
        let head = arena.alloc(node_size(MAX_HEIGHT, 0));
        // SAFETY: a fresh block of exactly the head's size.
        unsafe {
            write_node(
                head,
                u64::MAX,
                &[],
                MAX_HEIGHT,
                (NonNull::dangling().as_ptr(), 0),
            )
        };
        SkipList {
            head,
            height: AtomicUsize::new(1),
            len: AtomicUsize::new(0),
            writer: Mutex::new(Writer {
                arena,
                values: Arena::new(),
                rng: 0x9E37_79B9_7F4A_7C15,
            }),
        }
    }

    fn head(&self) -> Node<'_> {
        Node {
            ptr: self.head,
            _list: PhantomData,
        }
    }

    /// The node at `raw`.
    ///
    /// # Safety
    /// `raw` must be [`Node::raw`] of a node of this list (nodes live as long as the list).
    // SAFETY: an unsafe fn: callers uphold the contract above.
    pub(crate) unsafe fn node_at(&self, raw: NonNull<u8>) -> Node<'_> {
        Node {
            ptr: raw,
            _list: PhantomData,
        }
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Atomic::Relaxed)
    }

    /// Bytes of arena memory held.
    #[cfg(test)]
    pub(crate) fn arena_bytes(&self) -> usize {
        let w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        w.arena.bytes() + w.values.bytes()
    }

    /// As [`SkipList::insert_node`], returning only the size.
    #[cfg(test)]
    pub(crate) fn insert(&self, user: &[u8], trailer: u64, value: &[u8]) -> usize {
        self.insert_node(user, trailer, value).0
    }

    /// Inserts (`user`, `trailer`) with `value`; returns the node's size in bytes and the node
    /// (linked at every level when this returns). Keys are expected unique (a duplicate goes
    /// before its equals, and is found first), and at most `u32::MAX` bytes long (the engine
    /// refuses keys longer than `MAX_KEY_LEN` before this). Any number of threads may insert
    /// at once: only the allocation is serialized (under `writer`); the search and the links
    /// are lock-free (see [`SkipList::link`]).
    pub(crate) fn insert_node(&self, user: &[u8], trailer: u64, value: &[u8]) -> (usize, Node<'_>) {
        let (ptr, height, size, value_at) = {
            let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            let height = w.random_height();
            let value_at = if value.is_empty() {
                NonNull::dangling()
            } else {
                w.values.alloc_packed(value.len())
            };
            let size = node_size(height, user.len());
            (w.arena.alloc_node(size), height, size, value_at)
        };
        if !value.is_empty() {
            // SAFETY: a fresh block of `value.len()` bytes, this thread's alone (allocated
            // above, not published), disjoint from `value`.
            unsafe { ptr::copy_nonoverlapping(value.as_ptr(), value_at.as_ptr(), value.len()) };
        }
        // SAFETY: a fresh, unpublished block of `size` bytes, this thread's alone.
        unsafe { write_node(ptr, trailer, user, height, (value_at.as_ptr(), value.len())) };
        let node = Node {
            ptr,
            _list: PhantomData,
        };
        self.link(node, user, trailer, height);
        self.len.fetch_add(1, Atomic::Relaxed);
        (size + value.len(), node)
    }

    /// Links `node` (`user`, `trailer`, `height` levels) into the list, level 0 first, each
    /// level by a compare-and-swap on its predecessor's link (RocksDB's concurrent insert):
    /// the node's own link is set to the successor the search saw, then the predecessor's link
    /// is swung from that successor to the node; if another inserter changed it meanwhile, the
    /// search for that level resumes from the same predecessor (which still sorts before the
    /// node: nothing is ever removed) and the swap is tried again.
    fn link(&self, node: Node<'_>, user: &[u8], trailer: u64, height: usize) {
        // Raised only when this node is taller: a read-modify-write on every insert would
        // bounce the line every search reads between the inserting cores.
        let mut list_height = self.height.load(Atomic::Acquire);
        if height > list_height {
            list_height = self.height.fetch_max(height, Atomic::AcqRel);
        }
        let mut preds = [self.head(); MAX_HEIGHT];
        let mut succs = [ptr::null_mut::<u8>(); MAX_HEIGHT];
        let mut x = self.head();
        for level in (0..list_height.max(height)).rev() {
            let (pred, succ) = self.splice_at(x, level, user, trailer);
            preds[level] = pred;
            succs[level] = succ;
            x = pred;
        }
        for level in 0..height {
            loop {
                let (pred, succ) = (preds[level], succs[level]);
                // Not reachable at this level yet: nobody reads this link before the swap.
                node.link(level).store(succ, Atomic::Relaxed);
                match pred.link(level).compare_exchange(
                    succ,
                    node.ptr.as_ptr(),
                    Atomic::Release,
                    Atomic::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(_) => {
                        (preds[level], succs[level]) = self.splice_at(pred, level, user, trailer);
                    }
                }
            }
        }
    }

    /// From `x` (which sorts before (`user`, `trailer`)), the last node at `level` before
    /// (`user`, `trailer`) and the link it holds (the first node after, or null).
    fn splice_at<'a>(
        &'a self,
        mut x: Node<'a>,
        level: usize,
        user: &[u8],
        trailer: u64,
    ) -> (Node<'a>, *mut u8) {
        loop {
            let next = x.link(level).load(Atomic::Acquire);
            let Some(ptr) = NonNull::new(next) else {
                return (x, next);
            };
            let n = Node {
                ptr,
                _list: PhantomData,
            };
            n.prefetch_next(level);
            if n.cmp_to(user, trailer) == Ordering::Less {
                x = n;
            } else {
                return (x, next);
            }
        }
    }

    /// The last node (or the head) before the first node that `is_after` accepts, and that
    /// node as the level-0 walk saw it (`None`: the end); `is_after` must be monotone along
    /// the list. The successor is the one observed, never re-read: a node inserted after the
    /// walk passed may sit between the two, and is not what the walk found.
    fn last_before(&self, is_after: impl Fn(Node<'_>) -> bool) -> (Node<'_>, Option<Node<'_>>) {
        let mut x = self.head();
        let mut after = None;
        for level in (0..self.height.load(Atomic::Acquire)).rev() {
            after = None;
            while let Some(n) = x.next(level) {
                n.prefetch_next(level);
                if is_after(n) {
                    after = Some(n);
                    break;
                }
                x = n;
            }
        }
        (x, after)
    }

    fn not_head<'a>(&'a self, n: Node<'a>) -> Option<Node<'a>> {
        (n != self.head()).then_some(n)
    }

    /// The first entry `>= (user, trailer)`, or `> (user, trailer)` when not `inclusive`.
    pub(crate) fn seek(&self, user: &[u8], trailer: u64, inclusive: bool) -> Option<Node<'_>> {
        self.last_before(|n| match n.cmp_to(user, trailer) {
            Ordering::Less => false,
            Ordering::Equal => inclusive,
            Ordering::Greater => true,
        })
        .1
    }

    /// The last entry `< (user, trailer)`.
    pub(crate) fn seek_before(&self, user: &[u8], trailer: u64) -> Option<Node<'_>> {
        let (x, _) = self.last_before(|n| n.cmp_to(user, trailer) != Ordering::Less);
        self.not_head(x)
    }

    /// The first entry.
    pub(crate) fn first(&self) -> Option<Node<'_>> {
        self.head().next(0)
    }

    /// The last entry.
    pub(crate) fn last(&self) -> Option<Node<'_>> {
        let (x, _) = self.last_before(|_| false);
        self.not_head(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    /// The model's key: user ascending, trailer descending.
    fn model_key(user: &[u8], trailer: u64) -> (Vec<u8>, std::cmp::Reverse<u64>) {
        (user.to_vec(), std::cmp::Reverse(trailer))
    }

    fn entry(n: Node<'_>) -> (Vec<u8>, u64, Vec<u8>) {
        (n.key().to_vec(), n.trailer(), n.value().to_vec())
    }

    proptest! {
        /// Every lookup agrees with a BTreeMap, keys of any length, values of any size.
        #[test]
        fn lookups_match_a_model(
            ops in proptest::collection::vec(
                (proptest::collection::vec(0u8..4, 0..4), 0u64..50, proptest::collection::vec(any::<u8>(), 0..40)),
                0..200),
            probes in proptest::collection::vec((proptest::collection::vec(0u8..4, 0..4), 0u64..50), 1..20),
        ) {
            let list = SkipList::new();
            let mut model = BTreeMap::new();
            for (user, trailer, value) in &ops {
                let k = model_key(user, *trailer);
                if model.contains_key(&k) {
                    continue; // keys are unique in the engine
                }
                list.insert(user, *trailer, value);
                model.insert(k, value.clone());
            }
            prop_assert_eq!(list.len(), model.len());
            let all: Vec<_> = std::iter::successors(list.first(), |n| n.successor()).map(entry).collect();
            let want: Vec<_> = model.iter().map(|((u, t), v)| (u.clone(), t.0, v.clone())).collect();
            prop_assert_eq!(&all, &want);
            prop_assert_eq!(list.last().map(entry), want.last().cloned());
            for (user, trailer) in &probes {
                let k = model_key(user, *trailer);
                let ge = model.range(k.clone()..).next().map(|((u, t), v)| (u.clone(), t.0, v.clone()));
                prop_assert_eq!(list.seek(user, *trailer, true).map(entry), ge);
                let gt = model
                    .range((std::ops::Bound::Excluded(k.clone()), std::ops::Bound::Unbounded))
                    .next()
                    .map(|((u, t), v)| (u.clone(), t.0, v.clone()));
                prop_assert_eq!(list.seek(user, *trailer, false).map(entry), gt);
                let lt = model.range(..k).next_back().map(|((u, t), v)| (u.clone(), t.0, v.clone()));
                prop_assert_eq!(list.seek_before(user, *trailer).map(entry), lt);
            }
        }
    }

    #[test]
    fn readers_see_a_sorted_prefix_while_a_writer_inserts() {
        let list = Arc::new(SkipList::new());
        let n = 20_000u64;
        let writer = {
            let list = Arc::clone(&list);
            std::thread::spawn(move || {
                for i in 0..n {
                    // A scattered order, so inserts land all over the list.
                    let k = (i * 7919) % n;
                    list.insert(&k.to_be_bytes(), 1, &k.to_le_bytes());
                }
            })
        };
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let list = Arc::clone(&list);
                std::thread::spawn(move || {
                    let mut rounds = 0;
                    while list.len() < n as usize || rounds < 3 {
                        let mut prev: Option<Vec<u8>> = None;
                        let mut count = 0;
                        for node in std::iter::successors(list.first(), |n| n.successor()) {
                            assert_eq!(
                                node.value(),
                                &u64::from_be_bytes(node.key().try_into().unwrap()).to_le_bytes()
                            );
                            if let Some(p) = &prev {
                                assert!(p.as_slice() < node.key());
                            }
                            prev = Some(node.key().to_vec());
                            count += 1;
                        }
                        assert!(count <= n);
                        // Every key inserted before the lookup is found, while inserts land
                        // around it (a successor re-read after the walk could be a newer,
                        // smaller node: this caught it).
                        let inserted = list.len() as u64;
                        for i in (0..inserted).step_by(97) {
                            let probe = (i * 7919) % n;
                            let found = list.seek(&probe.to_be_bytes(), u64::MAX, true).unwrap();
                            assert_eq!(found.key(), &probe.to_be_bytes());
                        }
                        rounds += 1;
                    }
                })
            })
            .collect();
        writer.join().unwrap();
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(list.len(), n as usize);
        assert!(list.arena_bytes() >= n as usize * (node_size(1, 8) + 8));
    }

    /// Inserters racing for the same links: every node ends up linked, at every level of its
    /// tower, in order (a lost compare-and-swap retried from a stale successor would drop or
    /// misplace nodes), while readers walk the list.
    #[test]
    fn concurrent_inserters_lose_nothing() {
        let list = Arc::new(SkipList::new());
        let (threads, per) = (4u64, 10_000u64);
        let inserters: Vec<_> = (0..threads)
            .map(|t| {
                let list = Arc::clone(&list);
                std::thread::spawn(move || {
                    for i in 0..per {
                        // Interleaved keys: neighbours come from different threads.
                        let k = ((i * 7919) % per) * threads + t;
                        list.insert(&k.to_be_bytes(), 1, &k.to_le_bytes());
                    }
                })
            })
            .collect();
        let reader = {
            let list = Arc::clone(&list);
            std::thread::spawn(move || {
                while list.len() < (threads * per) as usize {
                    let keys: Vec<&[u8]> = std::iter::successors(list.first(), |n| n.successor())
                        .map(|n| n.key())
                        .collect();
                    assert!(keys.windows(2).all(|w| w[0] < w[1]));
                }
            })
        };
        for i in inserters {
            i.join().unwrap();
        }
        reader.join().unwrap();
        let n = threads * per;
        assert_eq!(list.len(), n as usize);
        let keys: Vec<u64> = std::iter::successors(list.first(), |n| n.successor())
            .map(|n| u64::from_be_bytes(n.key().try_into().unwrap()))
            .collect();
        assert_eq!(keys, (0..n).collect::<Vec<_>>());
        // Every level is sorted and holds exactly the nodes at least that tall.
        for level in 1..list.height.load(Atomic::Acquire) {
            let mut at_level = Vec::new();
            let mut x = list.head();
            while let Some(next) = x.next(level) {
                at_level.push(u64::from_be_bytes(next.key().try_into().unwrap()));
                x = next;
            }
            let tall: Vec<u64> = std::iter::successors(list.first(), |n| n.successor())
                .filter(|n| n.height() > level)
                .map(|n| u64::from_be_bytes(n.key().try_into().unwrap()))
                .collect();
            assert_eq!(at_level, tall, "level {level}");
        }
        for k in (0..n).step_by(13) {
            let found = list.seek(&k.to_be_bytes(), u64::MAX, true).unwrap();
            assert_eq!(found.value(), &k.to_le_bytes());
        }
    }

    proptest! {
        #[test]
        fn byte_comparison_is_slice_comparison(
            a in proptest::collection::vec(0u8..3, 0..30),
            b in proptest::collection::vec(0u8..3, 0..30),
        ) {
            prop_assert_eq!(compare_bytes(&a, &b), a.cmp(&b));
        }
    }

    /// The race a concurrent test can only hit by luck, made to happen: while the walk looks
    /// at the first key >= the target, a smaller key is inserted right before it. The result
    /// is still the key the walk saw, never the newcomer below the target.
    #[test]
    fn a_seek_returns_the_successor_it_saw_not_one_inserted_behind_it() {
        let list = SkipList::new();
        list.insert(b"a", 1, b"");
        list.insert(b"m", 1, b"");
        let inserted = std::cell::Cell::new(false);
        let (before, after) = list.last_before(|n| {
            let past = n.key() >= &b"k"[..];
            if past && !inserted.replace(true) {
                list.insert(b"c", 1, b"");
            }
            past
        });
        assert!(inserted.get());
        assert_eq!(after.map(|n| n.key()), Some(&b"m"[..]));
        if before.key() == b"a" {
            // The newcomer sits between the two: re-reading the link would have returned it.
            assert_eq!(before.successor().map(|n| n.key()), Some(&b"c"[..]));
        }
        assert_eq!(
            list.seek(b"k", u64::MAX, true).map(|n| n.key()),
            Some(&b"m"[..])
        );
        assert_eq!(list.len(), 3);
    }

    #[test]
    fn heights_follow_the_branching_factor() {
        let mut w = Writer {
            arena: Arena::new(),
            values: Arena::new(),
            rng: 1,
        };
        let heights: Vec<usize> = (0..100_000).map(|_| w.random_height()).collect();
        let tall = heights.iter().filter(|&&h| h >= 2).count();
        // P(h >= 2) = 1/4.
        assert!((20_000..30_000).contains(&tall), "{tall}");
        assert!(heights.iter().all(|&h| (1..=MAX_HEIGHT).contains(&h)));
    }
}
