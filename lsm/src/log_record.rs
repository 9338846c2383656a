//! What the LSM writes into the WAL: write batches, and the keyspace changes that point-in-time
//! restore must replay in order with them. Format version 2 (version 1 had no split batches;
//! its logs read unchanged).
//!
//! ```text
//! record := batch                                  (see `batch`: first_seq u64 ‖ count u32 ‖ op*)
//!         | u64::MAX ‖ 1 u8 ‖ id varint ‖ name (len varint ‖ bytes)   create keyspace
//!         | u64::MAX ‖ 2 u8 ‖ id varint                                drop keyspace
//!         | u64::MAX ‖ 3 u8 ‖ first_seq u64 ‖ index u32 ‖ parts u32 ‖ bytes   batch part (v2)
//!         | u64::MAX ‖ 4 u8 ‖ first_seq u64 ‖ index u32 ‖ parts u32 ‖ bytes   batch commit (v2)
//! ```
//! `u64::MAX` is never a batch's first sequence number. A batch larger than one record is
//! written as parts and a commit (see `split`). Crash recovery ignores keyspace records (the
//! manifest is authoritative for the live database); a restore replaying an archive applies
//! them, so data written to a keyspace created after the base backup is not lost. A reader of
//! version 1 refuses tags 3 and 4 as records that are not write batches: an error, never a
//! misread.
#![deny(clippy::indexing_slicing)]

use crate::batch::{KeyspaceId, WriteBatch};
use crate::split::{self, RecordRef, CREATE, DROP};

/// One decoded WAL record of the LSM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogRecord {
    /// A write batch and the sequence number of its first op.
    Batch(u64, WriteBatch),
    /// A keyspace was created with this id and name.
    CreateKeyspace(KeyspaceId, String),
    /// A keyspace was dropped.
    DropKeyspace(KeyspaceId),
    /// Record `index` of the `parts` records of a batch too large for one (the last one,
    /// `index = parts - 1`, commits it). `bytes` is this record's share of the batch's encoding.
    BatchPart {
        /// The batch's first sequence number.
        first_seq: u64,
        /// This record's position, from 0.
        index: u32,
        /// The batch's record count.
        parts: u32,
        /// This record's share of the batch's one-record encoding.
        bytes: Vec<u8>,
    },
}

impl LogRecord {
    /// Decodes a WAL payload; `None` if malformed.
    pub fn decode(payload: &[u8]) -> Option<LogRecord> {
        Some(match split::parse(payload)? {
            RecordRef::Batch(b) => {
                let (first, batch) = WriteBatch::decode(b)?;
                LogRecord::Batch(first, batch)
            }
            RecordRef::CreateKeyspace(id, name) => LogRecord::CreateKeyspace(id, name),
            RecordRef::DropKeyspace(id) => LogRecord::DropKeyspace(id),
            RecordRef::Part(p) => LogRecord::BatchPart {
                first_seq: p.first_seq,
                index: p.index,
                parts: p.parts,
                bytes: p.bytes.to_vec(),
            },
        })
    }

    /// Encodes a keyspace record (batches encode themselves: [`WriteBatch::encode`]).
    pub fn encode_ddl(&self) -> Option<Vec<u8>> {
        match self {
            LogRecord::CreateKeyspace(id, name) => {
                Some(split::encode_keyspace(CREATE, *id, Some(name)))
            }
            LogRecord::DropKeyspace(id) => Some(split::encode_keyspace(DROP, *id, None)),
            LogRecord::Batch(..) | LogRecord::BatchPart { .. } => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests slice buffers they built
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_garbage_is_refused() {
        let create = LogRecord::CreateKeyspace(7, "sql:users".into());
        let drop = LogRecord::DropKeyspace(300);
        for r in [&create, &drop] {
            let bytes = r.encode_ddl().unwrap();
            assert_eq!(LogRecord::decode(&bytes).as_ref(), Some(r));
            // Truncated or extended records are malformed.
            assert_eq!(LogRecord::decode(&bytes[..bytes.len() - 1]), None);
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(LogRecord::decode(&longer), None);
        }
        let mut batch = WriteBatch::new();
        batch.put(1, b"k", b"v");
        let bytes = batch.encode(5);
        assert_eq!(LogRecord::decode(&bytes), Some(LogRecord::Batch(5, batch)));
        assert_eq!(LogRecord::Batch(1, WriteBatch::new()).encode_ddl(), None);
        let mut bad = u64::MAX.to_le_bytes().to_vec();
        bad.extend([9, 1]);
        assert_eq!(LogRecord::decode(&bad), None);
    }
}
