//! Write batches: puts, deletes and range deletes across keyspaces, applied atomically under consecutive
//! sequence numbers, and their encoding as one WAL record.
//!
//! ```text
//! record := first_seq u64 ‖ count u32 ‖ op*
//! op     := kind u8 ‖ keyspace varint ‖ key (len varint ‖ bytes) ‖ [value (len varint ‖ bytes)]
//! ```
//! Kinds: `0` delete (no value), `1` put, `2` range delete (key = start, value = exclusive end).
//! Op `i` gets sequence number `first_seq + i`.
//!
//! A batch whose encoding is larger than one WAL record is cut into several records
//! (`crate::split`); the encoding is the same, only carried in pieces ([`WriteBatch::pieces`]).
#![deny(clippy::indexing_slicing)]

use std::borrow::Cow;

use crate::coding::{get_u32, get_u64, put_length_prefixed, put_varint, varint_len, Reader};
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
        self.push_owned(keyspace, key.to_vec(), Some(value.to_vec()))
    }

    /// Sets `key` to `value` in `keyspace` (`None`: deletes it), taking the buffers as they
    /// are: a transaction's commit moves its writes into the batch instead of copying them.
    pub fn push_owned(
        &mut self,
        keyspace: KeyspaceId,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
    ) -> &mut Self {
        let (kind, value) = match value {
            Some(v) => (ValueKind::Put, v),
            None => (ValueKind::Delete, Vec::new()),
        };
        self.bytes += key.len() + value.len();
        self.ops.push(Op {
            kind,
            keyspace,
            key,
            value,
        });
        self
    }

    /// Deletes `key` in `keyspace`.
    pub fn delete(&mut self, keyspace: KeyspaceId, key: &[u8]) -> &mut Self {
        self.push_owned(keyspace, key.to_vec(), None)
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
        let mut out = Vec::with_capacity(HEADER_LEN + self.bytes + 8 * self.ops.len());
        out.extend_from_slice(&first_seq.to_le_bytes());
        out.extend_from_slice(&self.count().to_le_bytes());
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

    /// Bytes of [`WriteBatch::encode`]'s output, computed without encoding.
    pub fn encoded_len(&self) -> usize {
        let op_len = |op: &Op| {
            let value = match op.kind {
                ValueKind::Delete => 0,
                _ => varint_len(op.value.len() as u64) + op.value.len(),
            };
            1 + varint_len(u64::from(op.keyspace))
                + varint_len(op.key.len() as u64)
                + op.key.len()
                + value
        };
        HEADER_LEN + self.ops.iter().map(op_len).sum::<usize>()
    }

    /// The bytes of `encode(first_seq)` as a sequence of pieces that borrow keys and values,
    /// so a large batch can be streamed into bounded records without being copied whole.
    pub(crate) fn pieces(&self, first_seq: u64) -> impl Iterator<Item = Cow<'_, [u8]>> + '_ {
        let mut head = first_seq.to_le_bytes().to_vec();
        head.extend_from_slice(&self.count().to_le_bytes());
        std::iter::once(Cow::Owned(head)).chain(self.ops.iter().flat_map(|op| {
            let mut pre = vec![op.kind as u8];
            put_varint(&mut pre, u64::from(op.keyspace));
            put_varint(&mut pre, op.key.len() as u64);
            let mut mid = Vec::new();
            if op.kind != ValueKind::Delete {
                put_varint(&mut mid, op.value.len() as u64);
            }
            let value: &[u8] = match op.kind {
                ValueKind::Delete => &[],
                _ => &op.value,
            };
            [
                Cow::Owned(pre),
                Cow::Borrowed(op.key.as_slice()),
                Cow::Owned(mid),
                Cow::Borrowed(value),
            ]
        }))
    }

    /// The op count as encoded (callers refuse batches of more than `u32::MAX` ops first).
    fn count(&self) -> u32 {
        u32::try_from(self.ops.len()).unwrap_or(u32::MAX)
    }

    fn push_ref(&mut self, op: OpRef<'_>) {
        match op.kind {
            ValueKind::Put => self.put(op.keyspace, op.key, op.value),
            ValueKind::Delete => self.delete(op.keyspace, op.key),
            ValueKind::RangeDelete => self.delete_range(op.keyspace, op.key, op.value),
        };
    }

    /// Decodes a WAL record: `(first_seq, batch)`, or `None` if malformed.
    pub fn decode(record: &[u8]) -> Option<(u64, WriteBatch)> {
        let mut batch = WriteBatch::new();
        let (first_seq, _) = for_each_op(record, |_, op| batch.push_ref(op))?;
        Some((first_seq, batch))
    }
}

/// `first_seq u64 ‖ count u32`.
const HEADER_LEN: usize = 12;

/// An op borrowed from an encoded batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpRef<'a> {
    pub(crate) kind: ValueKind,
    pub(crate) keyspace: KeyspaceId,
    pub(crate) key: &'a [u8],
    /// Empty for deletes; the exclusive end for range deletes.
    pub(crate) value: &'a [u8],
}

/// Calls `f` with each op of an encoded batch and its sequence number, in order, without
/// copying keys or values. Returns `(first_seq, count)`, or `None` if the record is malformed,
/// possibly after `f` saw the ops before the damage (a caller that must not act on part of a
/// malformed batch collects the ops before acting on them).
pub(crate) fn for_each_op<'a>(
    record: &'a [u8],
    mut f: impl FnMut(u64, OpRef<'a>),
) -> Option<(u64, u32)> {
    let first_seq = get_u64(record, 0)?;
    let count = get_u32(record, 8)?;
    let mut r = Reader::new(record.get(HEADER_LEN..)?);
    for i in 0..u64::from(count) {
        let kind = ValueKind::from_u8(*r.bytes(1)?.first()?)?;
        let keyspace = KeyspaceId::try_from(r.varint()?).ok()?;
        let key = r.length_prefixed()?;
        let value = match kind {
            ValueKind::Delete => &[],
            ValueKind::Put | ValueKind::RangeDelete => r.length_prefixed()?,
        };
        f(
            first_seq.wrapping_add(i),
            OpRef {
                kind,
                keyspace,
                key,
                value,
            },
        );
    }
    r.is_empty().then_some((first_seq, count))
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
            let bytes = batch.encode(seq);
            prop_assert_eq!(batch.encoded_len(), bytes.len());
            let pieces: Vec<u8> = batch.pieces(seq).flat_map(|p| p.into_owned()).collect();
            prop_assert_eq!(&pieces, &bytes, "the pieces are the encoding");
            let mut seqs = Vec::new();
            for_each_op(&bytes, |s, op| seqs.push((s, op.kind, op.keyspace, op.key.to_vec())));
            let want: Vec<_> = batch
                .ops()
                .iter()
                .enumerate()
                .map(|(i, op)| (seq.wrapping_add(i as u64), op.kind, op.keyspace, op.key.clone()))
                .collect();
            prop_assert_eq!(seqs, want);
            prop_assert_eq!(WriteBatch::decode(&bytes), Some((seq, batch)));
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
