//! Registered snapshots: compaction keeps every version a live snapshot can read.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The sequence numbers of live snapshots, with counts.
#[derive(Debug, Default)]
pub(crate) struct SnapshotList {
    live: Mutex<BTreeMap<u64, usize>>,
}

impl SnapshotList {
    fn add(&self, seq: u64) {
        *self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(seq)
            .or_default() += 1;
    }

    fn remove(&self, seq: u64) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = live.get_mut(&seq) {
            *n -= 1;
            if *n == 0 {
                live.remove(&seq);
            }
        }
    }

    /// The oldest live snapshot, if any.
    pub(crate) fn oldest(&self) -> Option<u64> {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .next()
            .copied()
    }
}

/// A consistent view: reads at a snapshot see exactly the batches visible when it was taken,
/// and compaction keeps what it needs until it is dropped.
#[derive(Debug)]
pub struct Snapshot {
    seq: u64,
    list: Arc<SnapshotList>,
}

impl Snapshot {
    pub(crate) fn new(seq: u64, list: &Arc<SnapshotList>) -> Snapshot {
        list.add(seq);
        Snapshot {
            seq,
            list: Arc::clone(list),
        }
    }

    /// The sequence number the snapshot reads at.
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

impl Clone for Snapshot {
    fn clone(&self) -> Self {
        Snapshot::new(self.seq, &self.list)
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.list.remove(self.seq);
    }
}

impl PartialEq for Snapshot {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_live_snapshot_is_tracked_through_clones_and_drops() {
        let list = Arc::new(SnapshotList::default());
        let a = Snapshot::new(5, &list);
        let b = Snapshot::new(9, &list);
        let a2 = a.clone();
        assert_eq!(list.oldest(), Some(5));
        drop(a);
        assert_eq!(list.oldest(), Some(5), "a clone still holds 5");
        drop(a2);
        assert_eq!(list.oldest(), Some(9));
        drop(b);
        assert_eq!(list.oldest(), None);
    }
}
