//! Write batches: puts, deletes and range deletes across keyspaces, applied atomically under consecutive
//! sequence numbers, and their encoding as one WAL record.
//!
//! ```text
//! record := first_seq u64 ‖ count u32 ‖ op*
//! op     := kind u8 ‖ keyspace varint ‖ key (len varint ‖ bytes) ‖ [value (len varint ‖ bytes)]
//! ```
//! Kinds: `0` delete (no value), `1` put, `2` range delete (key = start, value = exclusive end).
//! ```text
//! ```
//! Op `i` gets sequence number `first_seq + i`.
#![deny(clippy::indexing_slicing)]

use crate::coding::{get_u32, get_u64, put_length_prefixed, put_varint, Reader};
use crate::key::ValueKind;

/// Identifies a keyspace.
pub type KeyspaceId = u32;

/// One operation of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// Put, delete or range delete.
    pub kind: ValueKind,
    /// The keyspace written.
    pub keyspace: KeyspaceId,
    /// The user key.
    pub key: Vec<u8>,
    /// The value (empty for deletes; the exclusive end for range deletes).
    pub value: Vec<u8>,
}

/// An atomic group of writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<Op>,
    bytes: usize,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value` in `keyspace`.
    pub fn put(&mut self, keyspace: KeyspaceId, key: &[u8], value: &[u8]) -> &mut Self {
        self.bytes += key.len() + value.len();
        self.ops.push(Op {
            kind: ValueKind::Put,
            keyspace,
            key: key.to_vec(),
            value: value.to_vec(),
        });
        self
    }

    /// Deletes `key` in `keyspace`.
    pub fn delete(&mut self, keyspace: KeyspaceId, key: &[u8]) -> &mut Self {
        self.bytes += key.len();
        self.ops.push(Op {
            kind: ValueKind::Delete,
            keyspace,
            key: key.to_vec(),
            value: Vec::new(),
        });
        self
    }

    /// Deletes every key of `keyspace` in `[start, end)` (nothing if `start >= end`).
    pub fn delete_range(&mut self, keyspace: KeyspaceId, start: &[u8], end: &[u8]) -> &mut Self {
        self.bytes += start.len() + end.len();
        self.ops.push(Op {
            kind: ValueKind::RangeDelete,
            keyspace,
            key: start.to_vec(),
            value: end.to_vec(),
        });
        self
    }

    /// The operations, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Operations held.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Key and value bytes held.
    pub fn payload_bytes(&self) -> usize {
        self.bytes
    }

    /// The WAL record for this batch, its ops numbered from `first_seq`.
    pub fn encode(&self, first_seq: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.bytes + 8 * self.ops.len());
        out.extend_from_slice(&first_seq.to_le_bytes());
        out.extend_from_slice(
            &u32::try_from(self.ops.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        for op in &self.ops {
            out.push(op.kind as u8);
            put_varint(&mut out, u64::from(op.keyspace));
            put_length_prefixed(&mut out, &op.key);
            if op.kind != ValueKind::Delete {
                put_length_prefixed(&mut out, &op.value);
            }
        }
        out
    }

    /// Decodes a WAL record: `(first_seq, batch)`, or `None` if malformed.
    pub fn decode(record: &[u8]) -> Option<(u64, WriteBatch)> {
        let first_seq = get_u64(record, 0)?;
        let count = get_u32(record, 8)? as usize;
        let mut r = Reader::new(record.get(12..)?);
        let mut batch = WriteBatch::new();
        for _ in 0..count {
            let kind = ValueKind::from_u8(*r.bytes(1)?.first()?)?;
            let keyspace = KeyspaceId::try_from(r.varint()?).ok()?;
            let key = r.length_prefixed()?;
            match kind {
                ValueKind::Put => {
                    let value = r.length_prefixed()?;
                    batch.put(keyspace, key, value);
                }
                ValueKind::Delete => {
                    batch.delete(keyspace, key);
                }
                ValueKind::RangeDelete => {
                    let end = r.length_prefixed()?;
                    batch.delete_range(keyspace, key, end);
                }
            }
        }
        r.is_empty().then_some((first_seq, batch))
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index buffers they built
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn batch_strategy() -> impl Strategy<Value = WriteBatch> {
        proptest::collection::vec(
            (
                0u8..3,
                0u32..5,
                proptest::collection::vec(any::<u8>(), 0..20),
                proptest::collection::vec(any::<u8>(), 0..40),
            ),
            0..30,
        )
        .prop_map(|ops| {
            let mut b = WriteBatch::new();
            for (kind, ks, k, v) in ops {
                match kind {
                    0 => b.put(ks, &k, &v),
                    1 => b.delete(ks, &k),
                    _ => b.delete_range(ks, &k, &v),
                };
            }
            b
        })
    }

    proptest! {
        #[test]
        fn batches_round_trip(batch in batch_strategy(), seq in any::<u64>()) {
            prop_assert_eq!(WriteBatch::decode(&batch.encode(seq)), Some((seq, batch)));
        }

        #[test]
        fn truncated_or_damaged_records_never_panic(batch in batch_strategy(), cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>()) {
            let mut rec = batch.encode(7);
            let i = flip.index(rec.len());
            rec[i] ^= 0x81;
            let _ = WriteBatch::decode(&rec);
            let full = batch.encode(7);
            let cut = cut.index(full.len());
            if cut < full.len() {
                prop_assert_eq!(WriteBatch::decode(&full[..cut]), None);
            }
        }
    }
}
