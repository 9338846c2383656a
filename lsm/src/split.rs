//! Batches larger than one WAL record: cut into several records on the way in, put back
//! together on the way out (crash recovery, point-in-time restore).
//!
//! ```text
//! batch part   := u64::MAX ‖ 3 u8 ‖ first_seq u64 ‖ index u32 ‖ parts u32 ‖ bytes   index < parts - 1
//! batch commit := u64::MAX ‖ 4 u8 ‖ first_seq u64 ‖ index u32 ‖ parts u32 ‖ bytes   index = parts - 1
//! ```
//! The `bytes` of records `0..parts`, concatenated, are the batch's one-record encoding
//! (`first_seq u64 ‖ count u32 ‖ op*`, see `batch`), cut at arbitrary byte positions (so an op,
//! even one larger than a record, may span records). `parts ≥ 2`; every record but the commit
//! carries exactly the same number of bytes.
//!
//! Invariants:
//! - The writer appends the records of one batch back to back, under the database's write
//!   lock, which every appender of the LSM's records holds: no other record lies between them.
//!   The reader relies on it: a part with index 0 starts a batch, and any other record
//!   arriving while a batch is open means that batch was abandoned (its writer failed between
//!   records; the WAL refuses every append after a failure, so that record was written after a
//!   reopen): its parts are dropped.
//!   A batch without its commit at the end of the log is dropped likewise (a crash while it was
//!   written; it was never acknowledged).
//! - A batch is applied only when its commit is read, with every part before it; a part or
//!   commit whose predecessors were not read is corruption (replay never starts inside a
//!   batch: a flush's replay position is the end of the last record of a batch it holds).
//! - The commit is acknowledged by the WAL only after every part before it was written (the WAL
//!   writes in append order and refuses everything after a failure), so the whole range of
//!   sequence numbers is published at once, from the commit's acknowledgement.
#![deny(clippy::indexing_slicing)]

use std::borrow::Cow;

use crate::batch::{KeyspaceId, WriteBatch};
use crate::coding::{get_u32, get_u64, put_length_prefixed, put_varint, Reader};
use crate::Error;

/// First eight bytes of every record that is not a one-record batch.
pub(crate) const MARK: u64 = u64::MAX;
pub(crate) const CREATE: u8 = 1;
pub(crate) const DROP: u8 = 2;
const PART: u8 = 3;
const COMMIT: u8 = 4;
/// Bytes before a part's share of the batch.
pub(crate) const PART_HEADER: usize = 8 + 1 + 8 + 4 + 4;
/// Largest allocation made up front for a batch being put together (it grows past it).
const MAX_RESERVE: usize = 1 << 30;

/// A record of the LSM as it lies in the WAL, borrowing the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecordRef<'a> {
    /// A whole batch in one record, not decoded yet.
    Batch(&'a [u8]),
    /// A keyspace was created with this id and name.
    CreateKeyspace(KeyspaceId, String),
    /// A keyspace was dropped.
    DropKeyspace(KeyspaceId),
    /// A record of a batch cut into several.
    Part(Part<'a>),
}

/// One record of a batch cut into several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Part<'a> {
    /// The batch's first sequence number.
    pub(crate) first_seq: u64,
    /// This record's position, from 0.
    pub(crate) index: u32,
    /// The batch's record count, commit included.
    pub(crate) parts: u32,
    /// This record's share of the batch's encoding.
    pub(crate) bytes: &'a [u8],
}

impl Part<'_> {
    /// Whether this is the batch's last record, which commits it.
    pub(crate) fn is_commit(&self) -> bool {
        self.index + 1 == self.parts
    }
}

/// Parses a WAL payload of the LSM; `None` if it is not one.
pub(crate) fn parse(payload: &[u8]) -> Option<RecordRef<'_>> {
    if get_u64(payload, 0)? != MARK {
        return Some(RecordRef::Batch(payload));
    }
    let tag = *payload.get(8)?;
    if matches!(tag, PART | COMMIT) {
        let part = Part {
            first_seq: get_u64(payload, 9)?,
            index: get_u32(payload, 17)?,
            parts: get_u32(payload, 21)?,
            bytes: payload.get(PART_HEADER..)?,
        };
        let consistent = part.parts >= 2 && part.index < part.parts;
        return (consistent && part.is_commit() == (tag == COMMIT))
            .then_some(RecordRef::Part(part));
    }
    let mut r = Reader::new(payload.get(9..)?);
    let id = KeyspaceId::try_from(r.varint()?).ok()?;
    let rec = match tag {
        CREATE => {
            let name = String::from_utf8(r.length_prefixed()?.to_vec()).ok()?;
            RecordRef::CreateKeyspace(id, name)
        }
        DROP => RecordRef::DropKeyspace(id),
        _ => return None,
    };
    r.is_empty().then_some(rec)
}

/// Encodes a keyspace record.
pub(crate) fn encode_keyspace(tag: u8, id: KeyspaceId, name: Option<&str>) -> Vec<u8> {
    let mut out = MARK.to_le_bytes().to_vec();
    out.push(tag);
    put_varint(&mut out, u64::from(id));
    if let Some(name) = name {
        put_length_prefixed(&mut out, name.as_bytes());
    }
    out
}

/// How many records `split` cuts a batch of `encoded` bytes into, for records of at most
/// `max_record` bytes; `None` if that is more than a `u32` counts or no byte fits.
pub(crate) fn part_count(encoded: usize, max_record: usize) -> Option<u32> {
    let share = max_record.checked_sub(PART_HEADER).filter(|&s| s > 0)?;
    u32::try_from(encoded.div_ceil(share)).ok()
}

/// The records of `batch` (ops numbered from `first_seq`) cut for records of at most
/// `max_record` bytes, produced one at a time so at most one record is in memory besides the
/// batch; `None` if the batch needs more records than a `u32` counts. Callers split only batches
/// whose one-record encoding is larger than `max_record`, so there are at least two.
pub(crate) fn split(
    batch: &WriteBatch,
    first_seq: u64,
    max_record: usize,
) -> Option<impl Iterator<Item = Vec<u8>> + '_> {
    let parts = part_count(batch.encoded_len(), max_record)?.max(2);
    let share = max_record - PART_HEADER;
    let mut pieces = batch.pieces(first_seq);
    let mut cur: Cow<'_, [u8]> = Cow::Borrowed(&[]);
    let mut pos = 0usize;
    let mut index = 0u32;
    Some(std::iter::from_fn(move || {
        if index >= parts {
            return None;
        }
        let tag = if index + 1 == parts { COMMIT } else { PART };
        let mut out = Vec::with_capacity(max_record);
        out.extend_from_slice(&MARK.to_le_bytes());
        out.push(tag);
        out.extend_from_slice(&first_seq.to_le_bytes());
        out.extend_from_slice(&index.to_le_bytes());
        out.extend_from_slice(&parts.to_le_bytes());
        while out.len() < PART_HEADER + share {
            let rest = cur.get(pos..).unwrap_or_default();
            if rest.is_empty() {
                match pieces.next() {
                    Some(p) => {
                        cur = p;
                        pos = 0;
                        continue;
                    }
                    None => break,
                }
            }
            let take = rest.len().min(PART_HEADER + share - out.len());
            out.extend_from_slice(rest.get(..take).unwrap_or_default());
            pos += take;
        }
        index += 1;
        Some(out)
    }))
}

/// What reading one record gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step<'a> {
    /// A whole batch's one-record encoding: the record itself, or the parts put together.
    Batch(Cow<'a, [u8]>),
    /// A keyspace was created.
    CreateKeyspace(KeyspaceId, String),
    /// A keyspace was dropped.
    DropKeyspace(KeyspaceId),
    /// A part was kept until its batch's commit.
    Buffered,
}

/// A batch whose records were not all read: where it began and how far it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Incomplete {
    pub(crate) first_seq: u64,
    /// LSN of its first record.
    pub(crate) lsn: u64,
    pub(crate) read: u32,
    pub(crate) parts: u32,
}

struct Open {
    at: Incomplete,
    bytes: Vec<u8>,
}

/// Puts split batches back together while the log is read in order.
#[derive(Default)]
pub(crate) struct Assembler {
    open: Option<Open>,
}

impl Assembler {
    /// Reads the record at `lsn`; an error names what is wrong with it (the caller reports it
    /// as corruption at `lsn`).
    pub(crate) fn push<'a>(
        &mut self,
        lsn: u64,
        payload: &'a [u8],
    ) -> std::result::Result<Step<'a>, String> {
        let part = match parse(payload) {
            None => return Err("wal record is not a write batch or keyspace change".into()),
            Some(RecordRef::Part(p)) => p,
            Some(other) => {
                self.abandon("another record follows it");
                return Ok(match other {
                    RecordRef::Batch(b) => Step::Batch(Cow::Borrowed(b)),
                    RecordRef::CreateKeyspace(id, name) => Step::CreateKeyspace(id, name),
                    RecordRef::DropKeyspace(id) => Step::DropKeyspace(id),
                    RecordRef::Part(_) => Step::Buffered,
                });
            }
        };
        if part.index == 0 {
            self.abandon("a new split batch starts after it");
            let guess = (part.parts as usize).saturating_mul(part.bytes.len());
            let mut bytes = Vec::with_capacity(guess.min(MAX_RESERVE));
            bytes.extend_from_slice(part.bytes);
            self.open = Some(Open {
                at: Incomplete {
                    first_seq: part.first_seq,
                    lsn,
                    read: 1,
                    parts: part.parts,
                },
                bytes,
            });
            return Ok(Step::Buffered);
        }
        let Some(open) = self.open.as_mut().filter(|o| {
            o.at.first_seq == part.first_seq && o.at.parts == part.parts && o.at.read == part.index
        }) else {
            return Err(format!(
                "record {} of {} of the batch at sequence number {} without the records before it",
                part.index, part.parts, part.first_seq
            ));
        };
        open.bytes.extend_from_slice(part.bytes);
        open.at.read += 1;
        if !part.is_commit() {
            return Ok(Step::Buffered);
        }
        let bytes = self.open.take().map(|o| o.bytes).unwrap_or_default();
        if get_u64(&bytes, 0) != Some(part.first_seq) {
            return Err(format!(
                "the records of the batch at sequence number {} do not put together into it",
                part.first_seq
            ));
        }
        Ok(Step::Batch(Cow::Owned(bytes)))
    }

    /// A batch begun and not committed, if any: call at the end of the log (it is dropped).
    pub(crate) fn finish(&mut self) -> Option<Incomplete> {
        let at = self.open.take()?.at;
        tracing::warn!(
            first_seq = at.first_seq,
            lsn = at.lsn,
            read = at.read,
            parts = at.parts,
            "a write batch split over several wal records ends without its commit record: \
             it was never acknowledged and is not applied"
        );
        Some(at)
    }

    /// A batch begun and not committed so far, if any.
    pub(crate) fn incomplete(&self) -> Option<Incomplete> {
        self.open.as_ref().map(|o| o.at)
    }

    fn abandon(&mut self, why: &str) {
        if let Some(o) = self.open.take() {
            let at = o.at;
            tracing::warn!(
                first_seq = at.first_seq,
                lsn = at.lsn,
                read = at.read,
                parts = at.parts,
                why,
                "dropping the records of an abandoned write batch (its writer failed before \
                 the commit record; it was never acknowledged)"
            );
        }
    }
}

/// The error for a batch that needs more records than the format counts.
pub(crate) fn too_large(batch: &WriteBatch) -> Error {
    Error::BatchTooLarge {
        ops: batch.len(),
        bytes: batch.encoded_len(),
    }
}

/// The records of `batch` at `first_seq`, all at once (tests).
#[cfg(test)]
pub(crate) fn split_all(batch: &WriteBatch, first_seq: u64, max_record: usize) -> Vec<Vec<u8>> {
    split(batch, first_seq, max_record)
        .map(Iterator::collect)
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "split_tests.rs"]
mod tests;
