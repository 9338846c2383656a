//! What the LSM writes into the WAL: write batches, and the keyspace changes that point-in-time
//! restore must replay in order with them.
//!
//! ```text
//! record := batch                                  (see `batch`: first_seq u64 ‖ count u32 ‖ op*)
//!         | u64::MAX ‖ 1 u8 ‖ id varint ‖ name (len varint ‖ bytes)   create keyspace
//!         | u64::MAX ‖ 2 u8 ‖ id varint                                drop keyspace
//! ```
//! `u64::MAX` is never a batch's first sequence number. Crash recovery ignores keyspace
//! records (the manifest is authoritative for the live database); a restore replaying an
//! archive applies them, so data written to a keyspace created after the base backup is not lost.
#![deny(clippy::indexing_slicing)]

use crate::batch::{KeyspaceId, WriteBatch};
use crate::coding::{get_u64, put_length_prefixed, put_varint, Reader};

const DDL_MARK: u64 = u64::MAX;
const CREATE: u8 = 1;
const DROP: u8 = 2;

/// One decoded WAL record of the LSM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogRecord {
    /// A write batch and the sequence number of its first op.
    Batch(u64, WriteBatch),
    /// A keyspace was created with this id and name.
    CreateKeyspace(KeyspaceId, String),
    /// A keyspace was dropped.
    DropKeyspace(KeyspaceId),
}

impl LogRecord {
    /// Decodes a WAL payload; `None` if malformed.
    pub fn decode(payload: &[u8]) -> Option<LogRecord> {
        if get_u64(payload, 0)? != DDL_MARK {
            let (first, batch) = WriteBatch::decode(payload)?;
            return Some(LogRecord::Batch(first, batch));
        }
        let mut r = Reader::new(payload.get(8..)?);
        let tag = *r.bytes(1)?.first()?;
        let id = KeyspaceId::try_from(r.varint()?).ok()?;
        let rec = match tag {
            CREATE => {
                let name = String::from_utf8(r.length_prefixed()?.to_vec()).ok()?;
                LogRecord::CreateKeyspace(id, name)
            }
            DROP => LogRecord::DropKeyspace(id),
            _ => return None,
        };
        r.is_empty().then_some(rec)
    }

    /// Encodes a keyspace record (batches encode themselves: [`WriteBatch::encode`]).
    pub fn encode_ddl(&self) -> Option<Vec<u8>> {
        let mut out = DDL_MARK.to_le_bytes().to_vec();
        match self {
            LogRecord::Batch(..) => return None,
            LogRecord::CreateKeyspace(id, name) => {
                out.push(CREATE);
                put_varint(&mut out, u64::from(*id));
                put_length_prefixed(&mut out, name.as_bytes());
            }
            LogRecord::DropKeyspace(id) => {
                out.push(DROP);
                put_varint(&mut out, u64::from(*id));
            }
        }
        Some(out)
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
        let mut bad = DDL_MARK.to_le_bytes().to_vec();
        bad.extend([9, 1]);
        assert_eq!(LogRecord::decode(&bad), None);
    }
}
