//! [`Pairs`]: key-value pairs held in one buffer, the unit a scan hands out in chunks.
//!
//! A scan of millions of rows that yields each pair as two `Vec`s pays two allocations, two
//! frees and a scattered heap per row; a chunk of pairs copied into one growing buffer pays
//! none once the buffer has grown, and keeps a chunk's rows together in memory.
//!
//! Invariant: entry `i` is `data[start_i..key_end_i]` (its key) followed at once by
//! `data[key_end_i..end_i]` (its value), entries in push order, back to back.

/// Key-value pairs in one buffer (see the module doc).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pairs {
    data: Vec<u8>,
    /// Per entry: where its key ends and where its value ends (its key starts where the
    /// previous entry ends).
    ends: Vec<(usize, usize)>,
}

impl Pairs {
    pub fn new() -> Pairs {
        Pairs::default()
    }

    /// Appends a pair.
    pub fn push(&mut self, key: &[u8], value: &[u8]) {
        self.data.extend_from_slice(key);
        let key_end = self.data.len();
        self.data.extend_from_slice(value);
        self.ends.push((key_end, self.data.len()));
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Empties it, keeping its buffers.
    pub fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
    }

    /// Pair `i`.
    pub fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        let start = match i.checked_sub(1) {
            None => 0,
            Some(p) => self.ends.get(p)?.1,
        };
        let (key_end, end) = *self.ends.get(i)?;
        Some((self.data.get(start..key_end)?, self.data.get(key_end..end)?))
    }

    /// The value of pair `i` (empty past the end).
    pub fn value(&self, i: usize) -> &[u8] {
        self.get(i).map_or(&[], |(_, v)| v)
    }

    /// The last pair's key.
    pub fn last_key(&self) -> Option<&[u8]> {
        self.get(self.len().checked_sub(1)?).map(|(k, _)| k)
    }

    /// The pairs in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or((&[], &[])))
    }
}

impl<K: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(K, V)> for Pairs {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(items: I) -> Pairs {
        let mut pairs = Pairs::new();
        for (k, v) in items {
            pairs.push(k.as_ref(), v.as_ref());
        }
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Against a vector of owned pairs: every pair back as pushed (empty keys and values
        /// included), by position and in order, and after a clear and refill.
        #[test]
        fn holds_what_a_vector_of_pairs_holds(
            items in proptest::collection::vec(
                (proptest::collection::vec(any::<u8>(), 0..12), proptest::collection::vec(any::<u8>(), 0..40)),
                0..60,
            ),
        ) {
            let mut pairs = Pairs::new();
            for round in 0..2 {
                pairs.clear();
                for (k, v) in &items {
                    pairs.push(k, v);
                }
                prop_assert_eq!(pairs.len(), items.len());
                prop_assert_eq!(pairs.is_empty(), items.is_empty());
                for (i, (k, v)) in items.iter().enumerate() {
                    prop_assert_eq!(pairs.get(i), Some((k.as_slice(), v.as_slice())), "round {}", round);
                    prop_assert_eq!(pairs.value(i), v.as_slice());
                }
                prop_assert_eq!(pairs.get(items.len()), None);
                let listed: Vec<(Vec<u8>, Vec<u8>)> =
                    pairs.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
                prop_assert_eq!(&listed, &items);
                prop_assert_eq!(pairs.last_key(), items.last().map(|(k, _)| k.as_slice()));
            }
            prop_assert_eq!(items.iter().cloned().collect::<Pairs>(), pairs);
        }
    }
}
