//! A hash index over the memtable's user keys: each key's newest node, so a point lookup costs
//! one or two cache misses instead of a skiplist search of twenty or more (RocksDB's hash
//! skiplist idea, kept beside the ordered list rather than replacing it).
//!
//! The table is a fixed array of 64-bit slots, open addressing with linear probing: a slot is
//! empty (0) or holds a 16-bit tag of the key's hash and the address of a node (48 bits, what
//! x86-64 and AArch64 user addresses fit in). Slots are never emptied, only filled (by a
//! compare-and-swap from 0) or pointed at a newer node of the same key (by a compare-and-swap,
//! kept only if newer), so any number of inserters and readers work without locks.
//!
//! When a key finds no slot within `MAX_PROBES` (a long cluster of filled slots), the block of
//! `BLOCK` slots its home lies in is marked as overflowed, and lookups of keys the index does
//! not hold whose home lies there fall back to the skiplist search; lookups homed elsewhere
//! still answer "absent" from the table. (A node whose address does not fit makes the whole
//! index incomplete: every such lookup falls back.) To keep the fallbacks rare, the index
//! counts the slots it has filled and the keys that overflowed, and the engine rotates a
//! memtable whose index is three quarters full or has overflowed more than a few keys
//! (`KeyIndex::nearly_full`; one holding a fair share of the memtable budget) as it rotates one
//! that reached its size. With one flag for the whole table, the first overflow (likely once a
//! table of small entries is half full) sent every lookup of a new key into the skiplist.
//!
//! Invariants: a slot holds a node only once that node is linked into the list; for every key in
//! the table, every slot between its home and its own is non-empty; a key of the list that no
//! slot holds has its home block marked (or the index is incomplete) before its insert returns.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use super::skiplist::{Node, SkipList};

/// Slots a lookup or insert examines before giving up (four cache lines).
const MAX_PROBES: usize = 32;
const ADDRESS_BITS: u32 = 48;
const ADDRESS_MASK: u64 = (1 << ADDRESS_BITS) - 1;
/// The smallest table.
const MIN_SLOTS: usize = 1 << 10;
/// Slots per overflow mark.
const BLOCK: usize = 64;
/// Overflowed keys a table takes, per slot, before it is nearly full (at least one).
const OVERFLOWS_PER_SLOT: usize = 4096;

/// What the index knows about a key.
pub(crate) enum Lookup<'a> {
    /// Its newest node (or one a concurrent insert is about to replace).
    Newest(Node<'a>),
    /// The memtable does not hold the key.
    Absent,
    /// The index may not hold the key (its home block overflowed): search the list.
    Unknown,
}

/// The index (see the module docs).
pub(crate) struct KeyIndex {
    slots: Box<[AtomicU64]>,
    /// A bit per block of `BLOCK` slots: some key homed there found no slot.
    overflow: Box<[AtomicU64]>,
    /// Keys that found no slot.
    overflowed: AtomicUsize,
    /// A node's address did not fit a slot: the index holds no answer of "absent".
    incomplete: AtomicBool,
    /// Slots filled (keys recorded).
    filled: AtomicUsize,
}

impl std::fmt::Debug for KeyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyIndex")
            .field("slots", &self.slots.len())
            .field("incomplete", &self.incomplete.load(Ordering::Relaxed))
            .finish()
    }
}

impl Default for KeyIndex {
    fn default() -> Self {
        KeyIndex::new(MIN_SLOTS)
    }
}

/// `n` empty slots, as zeroed memory straight from the allocator: the pages of a large table
/// are touched only as keys land in them, not all at creation.
fn zeroed_slots(n: usize) -> Box<[AtomicU64]> {
    let Ok(layout) = std::alloc::Layout::array::<AtomicU64>(n) else {
        return (0..n).map(|_| AtomicU64::new(0)).collect();
    };
    if layout.size() == 0 {
        return Box::new([]);
    }
    // SAFETY: the layout's size is not zero (checked above).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<AtomicU64>();
    if ptr.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    // SAFETY: a fresh allocation from the global allocator with the layout of `[AtomicU64; n]`
    // (what the box frees it with), all zero bytes, which is a valid `AtomicU64` (0).
    unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, n)) }
}

/// The hash lookups and inserts share.
pub(crate) fn hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

impl KeyIndex {
    /// An index of at least `slots` slots (rounded up to a power of two).
    pub(crate) fn new(slots: usize) -> KeyIndex {
        let n = slots.max(MIN_SLOTS).next_power_of_two();
        KeyIndex {
            slots: zeroed_slots(n),
            overflow: zeroed_slots((n / BLOCK).div_ceil(64)),
            overflowed: AtomicUsize::new(0),
            incomplete: AtomicBool::new(false),
            filled: AtomicUsize::new(0),
        }
    }

    /// Whether three quarters of the slots are filled, more than a few keys overflowed, or the
    /// index is incomplete: lookups of absent keys are getting long, or turn into skiplist
    /// searches.
    pub(crate) fn nearly_full(&self) -> bool {
        self.incomplete.load(Ordering::Relaxed)
            || self.filled.load(Ordering::Relaxed) >= self.slots.len() / 4 * 3
            || self.overflowed.load(Ordering::Relaxed)
                >= (self.slots.len() / OVERFLOWS_PER_SLOT).max(1)
    }

    /// The overflow word and bit of the block of slot `i`.
    fn overflow_bit(&self, i: usize) -> (Option<&AtomicU64>, u64) {
        let block = i / BLOCK;
        (self.overflow.get(block / 64), 1 << (block % 64))
    }

    /// Whether some key homed in slot `home`'s block found no slot (or the index is
    /// incomplete).
    fn overflowed_at(&self, home: usize) -> bool {
        let (word, bit) = self.overflow_bit(home);
        self.incomplete.load(Ordering::Acquire)
            || word.is_none_or(|w| w.load(Ordering::Acquire) & bit != 0)
    }

    fn home(&self, hash: u64) -> usize {
        (hash as usize) & (self.slots.len() - 1)
    }

    /// Starts loading the slot a key of hash `hash` is looked for first.
    pub(crate) fn prefetch(&self, hash: u64) {
        if let Some(slot) = self.slots.get(self.home(hash)) {
            crate::prefetch::prefetch(slot);
        }
    }

    /// Starts loading the node (its first two cache lines: header, key and the start of the
    /// value) that the home slot of `hash` addresses, if the slot holds that hash's tag.
    pub(crate) fn prefetch_node(&self, hash: u64) {
        let Some(slot) = self.slots.get(self.home(hash)) else {
            return;
        };
        let current = slot.load(Ordering::Relaxed);
        if current != 0 && current >> ADDRESS_BITS == hash >> ADDRESS_BITS {
            let at = (current & ADDRESS_MASK) as *const u8;
            crate::prefetch::prefetch(at);
            crate::prefetch::prefetch(at.wrapping_add(64));
        }
    }

    /// Records `node` (already linked into `list`) as the newest node of its key, unless a newer
    /// one is recorded.
    pub(crate) fn insert(&self, list: &SkipList, hash: u64, node: Node<'_>) {
        let address = node.raw().as_ptr() as u64;
        if address & !ADDRESS_MASK != 0 {
            self.incomplete.store(true, Ordering::Release);
            return;
        }
        let tag = hash >> ADDRESS_BITS;
        let entry = tag << ADDRESS_BITS | address;
        let mut i = self.home(hash);
        for _ in 0..MAX_PROBES {
            let Some(slot) = self.slots.get(i) else {
                break;
            };
            let mut current = slot.load(Ordering::Acquire);
            loop {
                let same = (current != 0 && current >> ADDRESS_BITS == tag)
                    .then(|| self.node(list, current))
                    .flatten()
                    .filter(|n| n.key() == node.key());
                if current != 0 && same.is_none() {
                    break;
                }
                if same.is_some_and(|n| n.trailer() >= node.trailer()) {
                    return;
                }
                match slot.compare_exchange(current, entry, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => {
                        if current == 0 {
                            self.filled.fetch_add(1, Ordering::Relaxed);
                        }
                        return;
                    }
                    Err(now) => current = now,
                }
            }
            i = (i + 1) & (self.slots.len() - 1);
        }
        self.overflowed.fetch_add(1, Ordering::Relaxed);
        let (word, bit) = self.overflow_bit(self.home(hash));
        match word {
            // A load first keeps the word's cache line shared once marked.
            Some(w) if w.load(Ordering::Relaxed) & bit == 0 => {
                w.fetch_or(bit, Ordering::Release);
            }
            Some(_) => {}
            None => self.incomplete.store(true, Ordering::Release),
        }
    }

    /// What the index knows about `key` (whose hash is `hash`).
    pub(crate) fn find<'a>(&self, list: &'a SkipList, hash: u64, key: &[u8]) -> Lookup<'a> {
        let tag = hash >> ADDRESS_BITS;
        let home = self.home(hash);
        let mut i = home;
        for _ in 0..MAX_PROBES {
            let Some(slot) = self.slots.get(i) else {
                break;
            };
            let current = slot.load(Ordering::Acquire);
            if current == 0 {
                break;
            }
            if current >> ADDRESS_BITS == tag {
                if let Some(n) = self.node(list, current).filter(|n| n.key() == key) {
                    return Lookup::Newest(n);
                }
            }
            i = (i + 1) & (self.slots.len() - 1);
        }
        if self.overflowed_at(home) {
            Lookup::Unknown
        } else {
            Lookup::Absent
        }
    }

    /// The node a non-empty slot value addresses.
    fn node<'a>(&self, list: &'a SkipList, slot: u64) -> Option<Node<'a>> {
        let raw = std::ptr::NonNull::new((slot & ADDRESS_MASK) as *mut u8)?;
        // SAFETY: slots hold only addresses of nodes of this list (`insert` is given linked
        // nodes of `list`, the memtable's own), and nodes live as long as the list.
        Some(unsafe { list.node_at(raw) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert(list: &SkipList, index: &KeyIndex, key: &[u8], trailer: u64) {
        let (_, node) = list.insert_node(key, trailer, &trailer.to_le_bytes());
        index.insert(list, hash(key), node);
    }

    #[test]
    fn finds_the_newest_node_of_each_key() {
        let list = SkipList::new();
        let index = KeyIndex::new(1 << 12);
        for k in 0..1000u32 {
            insert(&list, &index, &k.to_be_bytes(), 1);
        }
        for k in (0..1000u32).step_by(3) {
            insert(&list, &index, &k.to_be_bytes(), 2);
        }
        for k in 0..1000u32 {
            let Lookup::Newest(n) = index.find(&list, hash(&k.to_be_bytes()), &k.to_be_bytes())
            else {
                panic!("key {k} not indexed");
            };
            assert_eq!(n.trailer(), if k % 3 == 0 { 2 } else { 1 });
        }
        let missing = 5000u32.to_be_bytes();
        assert!(matches!(
            index.find(&list, hash(&missing), &missing),
            Lookup::Absent
        ));
    }

    #[test]
    fn an_older_version_never_replaces_a_newer_one() {
        let list = SkipList::new();
        let index = KeyIndex::new(16);
        insert(&list, &index, b"k", 9);
        insert(&list, &index, b"k", 4);
        let Lookup::Newest(n) = index.find(&list, hash(b"k"), b"k") else {
            panic!("not indexed");
        };
        assert_eq!(n.trailer(), 9);
    }

    /// A table too small for its keys gives up on some, says so, and never answers "absent"
    /// for a key it dropped.
    #[test]
    fn a_full_table_overflows_not_wrong() {
        let list = SkipList::new();
        let index = KeyIndex::new(MIN_SLOTS);
        let n = MIN_SLOTS as u32 * 2;
        for k in 0..n {
            insert(&list, &index, &k.to_be_bytes(), 1);
        }
        assert!(index.overflowed.load(Ordering::Relaxed) >= MIN_SLOTS);
        assert!(index.nearly_full());
        for k in 0..n {
            let key = k.to_be_bytes();
            match index.find(&list, hash(&key), &key) {
                Lookup::Newest(node) => assert_eq!(node.key(), &key),
                Lookup::Unknown => {}
                Lookup::Absent => panic!("key {k} reported absent"),
            }
        }
    }

    /// A key that finds no slot marks only its home's block: a lookup of an absent key homed
    /// in another block still answers "absent" (no skiplist search), one homed there searches.
    #[test]
    fn an_overflow_marks_only_its_block() {
        let list = SkipList::new();
        let index = KeyIndex::new(1 << 12);
        // Keys until one finds no slot: fill one block's neighbourhood by choosing keys homed
        // in block 3.
        let homed = |k: u32, block: usize| index.home(hash(&k.to_be_bytes())) / BLOCK == block;
        let mut k = 0u32;
        while index.overflowed.load(Ordering::Relaxed) == 0 {
            if homed(k, 3) {
                insert(&list, &index, &k.to_be_bytes(), 1);
            }
            k += 1;
        }
        let absent_in = |block: usize| {
            let key = (1_000_000u32..)
                .find(|&k| homed(k, block))
                .unwrap()
                .to_be_bytes();
            index.find(&list, hash(&key), &key)
        };
        assert!(matches!(absent_in(3), Lookup::Unknown));
        assert!(matches!(absent_in(40), Lookup::Absent));
        assert!(!index.incomplete.load(Ordering::Relaxed));
        // One overflowed key in a table of 4096 slots is its whole allowance.
        assert!(index.nearly_full());
        for j in 0..k {
            let key = j.to_be_bytes();
            if homed(j, 3) {
                assert!(!matches!(
                    index.find(&list, hash(&key), &key),
                    Lookup::Absent
                ));
            }
        }
    }

    /// The index counts the keys it records, not their versions, and is nearly full from
    /// three quarters of its slots (or once incomplete).
    #[test]
    fn nearly_full_counts_keys_not_versions() {
        let list = SkipList::new();
        let index = KeyIndex::new(MIN_SLOTS);
        for k in 0..600u32 {
            insert(&list, &index, &k.to_be_bytes(), 1);
        }
        for trailer in 2..50 {
            insert(&list, &index, &0u32.to_be_bytes(), trailer);
        }
        assert_eq!(index.overflowed.load(Ordering::Relaxed), 0);
        assert_eq!(index.filled.load(Ordering::Relaxed), 600);
        assert!(!index.nearly_full());
        let mut k = 600u32;
        while index.filled.load(Ordering::Relaxed) < MIN_SLOTS / 4 * 3
            && index.overflowed.load(Ordering::Relaxed) == 0
        {
            insert(&list, &index, &k.to_be_bytes(), 1);
            k += 1;
        }
        assert!(index.nearly_full());
    }

    #[test]
    fn concurrent_inserts_of_one_key_keep_the_newest() {
        let list = std::sync::Arc::new(SkipList::new());
        let index = std::sync::Arc::new(KeyIndex::new(1 << 12));
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let (list, index) = (list.clone(), index.clone());
                std::thread::spawn(move || {
                    for i in 0..2000u64 {
                        let key = (i % 50).to_be_bytes();
                        insert(&list, &index, &key, i * 4 + t + 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        for k in 0..50u64 {
            let key = k.to_be_bytes();
            let Lookup::Newest(n) = index.find(&list, hash(&key), &key) else {
                panic!("key {k} not indexed");
            };
            let newest = list.seek(&key, u64::MAX, true).unwrap();
            assert_eq!(n.trailer(), newest.trailer(), "key {k}");
        }
    }
}
