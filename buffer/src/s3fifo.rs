//! One shard's S3-FIFO policy: a small FIFO, a main FIFO and a ghost FIFO of evicted keys.
//!
//! - New keys enter the small queue, unless the ghost queue remembers them (evicted recently
//!   while still wanted): those go straight to main.
//! - Each hit raises the entry's frequency (saturating at 3).
//! - When over capacity: while the small queue holds more than its share (10%), its oldest
//!   entry leaves; if it was hit at least twice since it entered it moves to main, otherwise
//!   it is dropped and its key remembered in the ghost queue. Otherwise main's oldest entry
//!   leaves if its frequency is zero, or is reinserted at the tail with frequency minus one.
//!
//! Queues hold `(key, generation)`; an entry removed or replaced leaves a stale queue item that
//! is skipped when popped, so removal is O(1).

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;

const MAX_FREQ: u8 = 3;
/// The small queue's share of the capacity, in percent.
const SMALL_PERCENT: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queue {
    Small,
    Main,
}

#[derive(Debug)]
struct Slot<V> {
    value: V,
    charge: usize,
    freq: u8,
    queue: Queue,
    generation: u64,
}

/// A single-threaded S3-FIFO cache; `BlockCache` puts one behind each shard lock.
#[derive(Debug)]
pub(crate) struct S3Fifo<K, V> {
    capacity: usize,
    map: HashMap<K, Slot<V>>,
    small: VecDeque<(K, u64)>,
    main: VecDeque<(K, u64)>,
    ghost: VecDeque<K>,
    ghost_set: HashSet<K>,
    small_bytes: usize,
    main_bytes: usize,
    next_generation: u64,
    pub(crate) evictions: u64,
}

impl<K: Hash + Eq + Copy, V: Clone> S3Fifo<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        S3Fifo {
            capacity,
            map: HashMap::new(),
            small: VecDeque::new(),
            main: VecDeque::new(),
            ghost: VecDeque::new(),
            ghost_set: HashSet::new(),
            small_bytes: 0,
            main_bytes: 0,
            next_generation: 0,
            evictions: 0,
        }
    }

    /// Charged bytes held.
    pub(crate) fn used(&self) -> usize {
        self.small_bytes + self.main_bytes
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn get(&mut self, key: &K) -> Option<V> {
        let slot = self.map.get_mut(key)?;
        slot.freq = (slot.freq + 1).min(MAX_FREQ);
        Some(slot.value.clone())
    }

    /// Inserts or replaces. A value larger than the whole capacity is not cached.
    pub(crate) fn insert(&mut self, key: K, value: V, charge: usize) {
        self.remove(&key);
        if charge > self.capacity {
            return;
        }
        let queue = if self.ghost_set.remove(&key) {
            Queue::Main
        } else {
            Queue::Small
        };
        self.next_generation += 1;
        let generation = self.next_generation;
        match queue {
            Queue::Small => {
                self.small.push_back((key, generation));
                self.small_bytes += charge;
            }
            Queue::Main => {
                self.main.push_back((key, generation));
                self.main_bytes += charge;
            }
        }
        self.map.insert(
            key,
            Slot {
                value,
                charge,
                freq: 0,
                queue,
                generation,
            },
        );
        self.drop_stale_items();
        while self.used() > self.capacity {
            if !self.evict_one() {
                break;
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let slot = self.map.remove(key)?;
        match slot.queue {
            Queue::Small => self.small_bytes -= slot.charge,
            Queue::Main => self.main_bytes -= slot.charge,
        }
        Some(slot.value)
    }

    /// Keeps the queues within a constant factor of the live entries: replacing or removing
    /// entries leaves stale items that only eviction would otherwise clear. Amortized O(1).
    fn drop_stale_items(&mut self) {
        if self.small.len() + self.main.len() <= 2 * self.map.len() + 64 {
            return;
        }
        let map = &self.map;
        let live = |q: Queue| {
            move |(k, g): &(K, u64)| {
                map.get(k)
                    .is_some_and(|s| s.generation == *g && s.queue == q)
            }
        };
        self.small.retain(live(Queue::Small));
        self.main.retain(live(Queue::Main));
    }

    /// Evicts (or promotes) one entry; false when nothing is left to evict.
    fn evict_one(&mut self) -> bool {
        let small_share = self.capacity * SMALL_PERCENT / 100;
        if self.small_bytes > small_share || self.main_bytes == 0 {
            if let Some((key, generation)) = self.small.pop_front() {
                self.leave_small(key, generation);
                return true;
            }
        }
        if let Some((key, generation)) = self.main.pop_front() {
            self.leave_main(key, generation);
            return true;
        }
        // Main was empty but small had stale items only: try small once more.
        if let Some((key, generation)) = self.small.pop_front() {
            self.leave_small(key, generation);
            return true;
        }
        false
    }

    fn live(&self, key: &K, generation: u64, queue: Queue) -> bool {
        self.map
            .get(key)
            .is_some_and(|s| s.generation == generation && s.queue == queue)
    }

    fn leave_small(&mut self, key: K, generation: u64) {
        if !self.live(&key, generation, Queue::Small) {
            return;
        }
        let promote = self.map.get(&key).is_some_and(|s| s.freq > 1);
        if promote {
            if let Some(slot) = self.map.get_mut(&key) {
                slot.queue = Queue::Main;
                slot.freq = 0;
                self.small_bytes -= slot.charge;
                self.main_bytes += slot.charge;
                self.main.push_back((key, generation));
            }
        } else {
            self.remove(&key);
            self.evictions += 1;
            self.remember(key);
        }
    }

    fn leave_main(&mut self, key: K, generation: u64) {
        if !self.live(&key, generation, Queue::Main) {
            return;
        }
        let keep = match self.map.get_mut(&key) {
            Some(slot) if slot.freq > 0 => {
                slot.freq -= 1;
                true
            }
            _ => false,
        };
        if keep {
            self.main.push_back((key, generation));
        } else {
            self.remove(&key);
            self.evictions += 1;
        }
    }

    /// Remembers an evicted key. The ghost queue holds about as many keys as the cache holds
    /// entries (the paper sizes it like the main queue; counting all entries keeps it useful
    /// before anything has been promoted).
    fn remember(&mut self, key: K) {
        if self.ghost_set.insert(key) {
            self.ghost.push_back(key);
        }
        let bound = self.map.len().max(16);
        while self.ghost.len() > bound {
            if let Some(old) = self.ghost.pop_front() {
                self.ghost_set.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap as Model;

    #[test]
    fn a_one_time_scan_does_not_flush_the_hot_set() {
        let mut c: S3Fifo<u64, u64> = S3Fifo::new(1000);
        // A hot set of 50 entries of 10 bytes, each read several times.
        for round in 0..5 {
            for k in 0..50 {
                if c.get(&k).is_none() {
                    c.insert(k, k, 10);
                }
                let _ = round;
            }
        }
        // A scan of 10,000 keys read once each.
        for k in 1_000..11_000 {
            c.insert(k, k, 10);
        }
        let survivors = (0..50).filter(|k| c.get(k).is_some()).count();
        assert!(
            survivors >= 45,
            "only {survivors} of 50 hot entries survived the scan"
        );
        assert!(c.used() <= 1000);
    }

    #[test]
    fn lru_would_have_lost_the_hot_set() {
        // The same workload against a plain FIFO of the same size keeps none of the hot set,
        // which is what makes the test above meaningful.
        let mut fifo: VecDeque<u64> = VecDeque::new();
        for k in (0..50).chain(1_000..11_000) {
            fifo.push_back(k);
            if fifo.len() > 100 {
                fifo.pop_front();
            }
        }
        assert_eq!(fifo.iter().filter(|&&k| k < 50).count(), 0);
    }

    #[test]
    fn ghost_hits_go_straight_to_main() {
        let mut c: S3Fifo<u64, u64> = S3Fifo::new(100);
        c.insert(1, 1, 10);
        for k in 100..110 {
            c.insert(k, k, 10); // the 11th block overflows the capacity: 1 leaves small
        }
        assert!(c.get(&1).is_none());
        assert!(c.ghost_set.contains(&1));
        c.insert(1, 1, 10);
        assert_eq!(c.map.get(&1).map(|s| s.queue), Some(Queue::Main));
    }

    #[test]
    fn oversized_values_are_not_cached() {
        let mut c: S3Fifo<u64, u64> = S3Fifo::new(100);
        c.insert(1, 1, 101);
        assert_eq!(c.get(&1), None);
        assert_eq!(c.used(), 0);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Get(u8),
        Insert(u8, u16, u8),
        Remove(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => any::<u8>().prop_map(Op::Get),
            3 => (any::<u8>(), any::<u16>(), 1u8..60).prop_map(|(k, v, c)| Op::Insert(k, v, c)),
            1 => any::<u8>().prop_map(Op::Remove),
        ]
    }

    proptest! {
        /// Whatever it evicts, the cache never returns a value other than the last one
        /// inserted under the key, and never holds more than its capacity.
        #[test]
        fn agrees_with_a_map_and_respects_capacity(ops in proptest::collection::vec(op(), 1..400), cap in 50usize..600) {
            let mut c: S3Fifo<u8, u16> = S3Fifo::new(cap);
            let mut model: Model<u8, u16> = Model::new();
            for op in ops {
                match op {
                    Op::Get(k) => {
                        if let Some(v) = c.get(&k) {
                            prop_assert_eq!(Some(&v), model.get(&k));
                        }
                    }
                    Op::Insert(k, v, charge) => {
                        c.insert(k, v, usize::from(charge));
                        model.insert(k, v);
                    }
                    Op::Remove(k) => {
                        c.remove(&k);
                        model.remove(&k);
                    }
                }
                prop_assert!(c.used() <= cap, "used {} > capacity {}", c.used(), cap);
                let charged: usize = c.map.values().map(|s| s.charge).sum();
                prop_assert_eq!(charged, c.used());
                prop_assert!(c.small.len() + c.main.len() <= 2 * c.map.len() + 65, "stale queue items pile up");
            }
        }
    }
}
