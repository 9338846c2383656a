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
//! A batch's entries are inserted together (`insert_many`): their searches run side by side,
//! a step of each in turn, each step prefetching the node it compares next, so up to eight
//! cache misses are in flight at once; each entry is then linked as a single insert links.
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
//! - a `Node<'a>` is only made from the head, from a loaded link, or by an inserter from the
//!   block it allocated and is linking, while the list is borrowed for `'a`.

use std::cmp::Ordering;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering as Atomic};
use std::sync::Mutex;

use super::arena::Arena;
use crate::key::compare_bytes;
use crate::prefetch::prefetch;

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

    /// Starts loading what a walk in order reads after this node: its value, and the node
    /// that follows it (this node's own line is read to find them).
    pub(crate) fn prefetch_ahead(self) {
        prefetch(self.value_ptr());
        self.prefetch_next(0);
    }

    /// How this node's internal key compares with (`user`, `trailer`).
    fn cmp_to(self, user: &[u8], trailer: u64) -> Ordering {
        compare_bytes(self.key(), user).then_with(|| trailer.cmp(&self.trailer()))
    }

    /// Starts loading the node after this one at `level` into the cache: a search that moves
    /// on to it finds it there (the walk is bound by cache misses on nodes).
    fn prefetch_next(self, level: usize) {
        prefetch(self.link(level).load(Atomic::Relaxed));
    }
}

/// Searches [`SkipList::insert_many`] runs side by side: enough to keep several cache misses
/// in flight at once, few enough that their nodes stay in the cache until compared.
const INTERLEAVED: usize = 8;

/// One search of [`SkipList::insert_many`]: where it stands, and what it has found.
struct Search<'a> {
    user: &'a [u8],
    trailer: u64,
    /// The last node seen that sorts before the entry, at `level`.
    x: Node<'a>,
    level: usize,
    /// `x`'s link at `level`, prefetched and not yet compared (null: the end).
    next: *mut u8,
    preds: [Node<'a>; MAX_HEIGHT],
    succs: [*mut u8; MAX_HEIGHT],
    done: bool,
}

impl<'a> Search<'a> {
    fn new(head: Node<'a>, top: usize, user: &'a [u8], trailer: u64) -> Search<'a> {
        let level = top - 1;
        let next = head.link(level).load(Atomic::Acquire);
        prefetch(next);
        Search {
            user,
            trailer,
            x: head,
            level,
            next,
            preds: [head; MAX_HEIGHT],
            succs: [ptr::null_mut(); MAX_HEIGHT],
            done: false,
        }
    }

    /// Compares the prefetched node, then moves right or down and prefetches what comes
    /// next: one node, the one cache miss a step costs, per call.
    fn step(&mut self) {
        if let Some(ptr) = NonNull::new(self.next) {
            let n = Node {
                ptr,
                _list: PhantomData,
            };
            if n.cmp_to(self.user, self.trailer) == Ordering::Less {
                self.x = n;
                self.next = n.link(self.level).load(Atomic::Acquire);
                prefetch(self.next);
                return;
            }
        }
        self.preds[self.level] = self.x;
        self.succs[self.level] = self.next;
        if self.level == 0 {
            self.done = true;
            return;
        }
        self.level -= 1;
        self.next = self.x.link(self.level).load(Atomic::Acquire);
        prefetch(self.next);
    }
}

/// What inserters allocate from, one at a time (behind `SkipList::writer`).
struct Writer {
    /// Nodes (headers, towers, keys).
    arena: Arena,
    /// Values.
    values: Arena,
    rng: u64,
}

/// An entry's blocks, allocated and not yet written or published.
#[derive(Clone, Copy)]
struct Block {
    node: NonNull<u8>,
    /// The value's bytes (dangling for an empty value).
    value: NonNull<u8>,
    height: usize,
    /// Node and value bytes.
    size: usize,
}

impl Block {
    /// Writes the entry into its blocks.
    ///
    /// # Safety
    /// The blocks must be fresh from [`Writer::alloc`] for `user.len()` and `value.len()`
    /// bytes, and this thread's alone (not published).
    // SAFETY: an unsafe fn: its callers uphold the contract above.
    unsafe fn fill(self, user: &[u8], trailer: u64, value: &[u8]) {
        // SAFETY: per the contract: fresh blocks of the sizes `alloc` made for these lengths,
        // disjoint from `user` and `value`.
        unsafe {
            if !value.is_empty() {
                ptr::copy_nonoverlapping(value.as_ptr(), self.value.as_ptr(), value.len());
            }
            write_node(
                self.node,
                trailer,
                user,
                self.height,
                (self.value.as_ptr(), value.len()),
            );
        }
    }
}

impl Writer {
    /// Blocks for an entry of a `key`-byte user key and a `value`-byte value, with a random
    /// height.
    fn alloc(&mut self, key: usize, value: usize) -> Block {
        let height = self.random_height();
        let value_at = if value == 0 {
            NonNull::dangling()
        } else {
            self.values.alloc_packed(value)
        };
        let size = node_size(height, key);
        Block {
            node: self.arena.alloc_node(size),
            value: value_at,
            height,
            size: size + value,
        }
    }

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
        let block = {
            let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            w.alloc(user.len(), value.len())
        };
        // SAFETY: fresh blocks for these lengths, this thread's alone (allocated above, not
        // published).
        unsafe { block.fill(user, trailer, value) };
        let (ptr, height, size) = (block.node, block.height, block.size);
        let node = Node {
            ptr,
            _list: PhantomData,
        };
        self.link(node, user, trailer, height);
        self.len.fetch_add(1, Atomic::Relaxed);
        (size, node)
    }

    /// Links `node` (`user`, `trailer`, `height` levels) into the list, level 0 first, each
    /// level by a compare-and-swap on its predecessor's link (RocksDB's concurrent insert):
    /// the node's own link is set to the successor the search saw, then the predecessor's link
    /// is swung from that successor to the node; if another inserter changed it meanwhile, the
    /// search for that level resumes from the same predecessor (which still sorts before the
    /// node: nothing is ever removed) and the swap is tried again.
    fn link(&self, node: Node<'_>, user: &[u8], trailer: u64, height: usize) {
        let list_height = self.raise(height);
        let mut preds = [self.head(); MAX_HEIGHT];
        let mut succs = [ptr::null_mut::<u8>(); MAX_HEIGHT];
        let mut x = self.head();
        for level in (0..list_height.max(height)).rev() {
            let (pred, succ) = self.splice_at(x, level, user, trailer);
            preds[level] = pred;
            succs[level] = succ;
            x = pred;
        }
        self.link_found(node, (user, trailer), height, preds, succs);
    }

    /// Raises the list's height to at least `height`; returns the height searches start at.
    /// Raised only when needed: a read-modify-write on every insert would bounce the line
    /// every search reads between the inserting cores.
    fn raise(&self, height: usize) -> usize {
        let list_height = self.height.load(Atomic::Acquire);
        if height > list_height {
            return self.height.fetch_max(height, Atomic::AcqRel).max(height);
        }
        list_height
    }

    /// Inserts several entries (`(user, trailer, value)`, keys unique as for
    /// [`SkipList::insert_node`]); returns each one's size and node, in the order given. The
    /// searches for up to [`INTERLEAVED`] entries run side by side, a step of each in turn,
    /// each step prefetching the node the next one compares: their cache misses overlap
    /// instead of following one another. Each entry is then linked as
    /// [`SkipList::insert_node`] links one, in the order given; a search that an earlier entry
    /// (or another thread) overtook is resumed from the predecessor it found, which still sorts
    /// before its entry (nothing is ever removed).
    pub(crate) fn insert_many(&self, entries: &[(&[u8], u64, &[u8])]) -> Vec<(usize, Node<'_>)> {
        let mut out = Vec::with_capacity(entries.len());
        for chunk in entries.chunks(INTERLEAVED) {
            // Allocated under the lock, written after.
            let mut made: Vec<Block> = Vec::with_capacity(chunk.len());
            {
                let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
                made.extend(chunk.iter().map(|e| w.alloc(e.0.len(), e.2.len())));
            }
            for (block, &(user, trailer, value)) in made.iter().zip(chunk) {
                // SAFETY: fresh blocks for these lengths, this thread's alone (allocated
                // above, not published).
                unsafe { block.fill(user, trailer, value) };
            }
            let tallest = made.iter().map(|b| b.height).max().unwrap_or(1);
            let top = self.raise(tallest);
            let mut searches: Vec<Search<'_>> = chunk
                .iter()
                .map(|&(user, trailer, _)| Search::new(self.head(), top, user, trailer))
                .collect();
            let mut left = searches.len();
            while left > 0 {
                for s in searches.iter_mut().filter(|s| !s.done) {
                    s.step();
                    if s.done {
                        left -= 1;
                    }
                }
            }
            for (s, block) in searches.into_iter().zip(made) {
                let node = Node {
                    ptr: block.node,
                    _list: PhantomData,
                };
                self.link_found(node, (s.user, s.trailer), block.height, s.preds, s.succs);
                self.len.fetch_add(1, Atomic::Relaxed);
                out.push((block.size, node));
            }
        }
        out
    }

    /// Links `node` at its `height` levels, given the predecessors and successors a search
    /// found for its key at each (see [`SkipList::link`]).
    fn link_found<'a>(
        &'a self,
        node: Node<'_>,
        (user, trailer): (&[u8], u64),
        height: usize,
        mut preds: [Node<'a>; MAX_HEIGHT],
        mut succs: [*mut u8; MAX_HEIGHT],
    ) {
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
#[path = "skiplist_tests.rs"]
mod tests;
