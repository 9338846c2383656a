//! Byte layouts of what replication writes: the records of the Raft log (in `orbit-wal`
//! records) and proposals (a commit batch with its keyspaces named, so nodes whose keyspace
//! ids differ apply it alike). Every integer is little-endian.
//!
//! ```text
//! log record := ENTRY term u64 | leader u64 | index u64 | payload
//!             | TRUNCATE index u64                 entries at index and after are gone
//!             | STATE vote? | purged?              replaces every earlier STATE
//! payload    := 0 (blank) | 1 len u32 proposal | 2 len u32 membership (JSON)
//! vote?      := 0 | 1 term u64 | node u64 | committed u8
//! purged?    := 0 | 1 term u64 | leader u64 | index u64
//!
//! proposal   := name-count u16 | (len u16 | keyspace name)* | op-count u32 | op*
//! op         := kind u8 (0 delete, 1 put, 2 range delete) | name u16 | len u32 key | len u32 value
//! ```
//!
//! Invariant: `decode(encode(x)) == x` for every value (property-tested), and a decoder never
//! panics or allocates more than its input can hold, whatever the bytes.

use bytes::Bytes;
use openraft::{CommittedLeaderId, EntryPayload, LogId, Membership, Vote};
use orbit_lsm::key::ValueKind;
use orbit_lsm::{Db, WriteBatch};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::types::{Entry, NodeId};

const ENTRY: u8 = 1;
/// An entry record's bytes besides its proposal: tag, log id, payload kind, length.
pub const ENTRY_OVERHEAD: usize = 1 + 24 + 1 + 4;
const TRUNCATE: u8 = 2;
const STATE: u8 = 3;

/// A commit batch proposed to the Raft log, keyspaces by name (see the module docs).
///
/// Shared bytes: openraft clones an entry for each follower it sends it to and for the state
/// machine, and each clone is a reference count, not a copy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal(pub Bytes);

impl Proposal {
    /// Encodes `batch`, naming its keyspaces as `db` knows them.
    pub fn from_batch(db: &Db, batch: &WriteBatch) -> Result<Proposal> {
        Proposal::from_batches(db, [batch])
    }

    /// Encodes several batches as one, their operations in order (applied together, they
    /// are as if applied one after the other, atomically).
    pub fn from_batches<'a>(
        db: &Db,
        batches: impl IntoIterator<Item = &'a WriteBatch> + Clone,
    ) -> Result<Proposal> {
        let known = db.keyspaces();
        let mut names: Vec<(u32, &str)> = Vec::new();
        let capacity = batches
            .clone()
            .into_iter()
            .map(WriteBatch::encoded_len)
            .sum();
        let mut ops = Vec::with_capacity(capacity);
        let mut count = 0usize;
        for batch in batches {
            count += batch.len();
            for op in batch.ops() {
                let slot = match names.iter().position(|(id, _)| *id == op.keyspace) {
                    Some(slot) => slot,
                    None => {
                        let name = known
                            .iter()
                            .find(|(id, _)| *id == op.keyspace)
                            .map(|(_, name)| name.as_str())
                            .ok_or(Error::UnknownKeyspace(op.keyspace))?;
                        names.push((op.keyspace, name));
                        names.len() - 1
                    }
                };
                ops.push(op.kind as u8);
                ops.extend_from_slice(&(slot as u16).to_le_bytes());
                put_bytes(&mut ops, &op.key, "key")?;
                put_bytes(&mut ops, &op.value, "value")?;
            }
        }
        let names_len = u16::try_from(names.len()).map_err(|_| Error::TooLarge {
            what: "keyspace list",
            len: names.len(),
            max: u16::MAX as usize,
        })?;
        let count = u32::try_from(count).map_err(|_| Error::TooLarge {
            what: "batch",
            len: count,
            max: u32::MAX as usize,
        })?;
        let mut out = Vec::with_capacity(ops.len() + 64);
        out.extend_from_slice(&names_len.to_le_bytes());
        for (_, name) in &names {
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
        }
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&ops);
        Ok(Proposal(out.into()))
    }

    /// An upper bound of the encoded size of `batch` alone, and of what it adds to a
    /// proposal of several (its keyspace names counted as if new), without encoding it.
    pub fn len_bound(db: &Db, batch: &WriteBatch) -> usize {
        let mut keyspaces: Vec<u32> = Vec::new();
        let mut len = 2 + 4;
        for op in batch.ops() {
            if !keyspaces.contains(&op.keyspace) {
                keyspaces.push(op.keyspace);
            }
            len += 1 + 2 + 4 + op.key.len() + 4 + op.value.len();
        }
        len + keyspaces
            .iter()
            .map(|&k| 2 + db.keyspace_name_len(k).unwrap_or(0))
            .sum::<usize>()
    }

    /// Decodes the proposal into `batch`, resolving keyspace names with `resolve` (which may
    /// create a keyspace this node does not have yet). Returns how many ops it added.
    pub fn decode_into(
        &self,
        batch: &mut WriteBatch,
        mut resolve: impl FnMut(&str) -> Result<u32>,
    ) -> Result<usize> {
        let bad = Error::CorruptProposal;
        let mut r = Reader::new(&self.0);
        let names = r.u16().ok_or(bad("truncated keyspace list"))?;
        let mut ids = Vec::with_capacity(usize::from(names));
        for _ in 0..names {
            let len = r.u16().ok_or(bad("truncated keyspace name"))?;
            let name = r
                .bytes(usize::from(len))
                .and_then(|b| std::str::from_utf8(b).ok())
                .ok_or(bad("keyspace name"))?;
            ids.push(resolve(name)?);
        }
        let count = r.u32().ok_or(bad("truncated op count"))?;
        for _ in 0..count {
            let kind = r.u8().ok_or(bad("truncated op"))?;
            let slot = r.u16().ok_or(bad("truncated op"))?;
            let keyspace = *ids.get(usize::from(slot)).ok_or(bad("keyspace index"))?;
            let key = r.len_bytes().ok_or(bad("truncated key"))?;
            let value = r.len_bytes().ok_or(bad("truncated value"))?;
            match kind {
                k if k == ValueKind::Put as u8 => batch.put(keyspace, key, value),
                k if k == ValueKind::Delete as u8 => batch.delete(keyspace, key),
                k if k == ValueKind::RangeDelete as u8 => batch.delete_range(keyspace, key, value),
                _ => return Err(bad("op kind")),
            };
        }
        if !r.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(count as usize)
    }
}

/// A decoded record of the Raft log.
#[derive(Debug, Clone, PartialEq)]
pub enum LogRecord {
    /// An entry appended.
    Entry(Entry),
    /// Entries from this index on were removed.
    Truncate(u64),
    /// The vote and the last purged log id, as of this record.
    State(State),
}

/// The durable state of a Raft log besides its entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct State {
    pub vote: Option<Vote<NodeId>>,
    pub purged: Option<LogId<NodeId>>,
}

/// Encodes an entry record.
pub fn encode_entry(entry: &Entry) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    out.push(ENTRY);
    put_log_id(&mut out, &entry.log_id);
    match &entry.payload {
        EntryPayload::Blank => out.push(0),
        EntryPayload::Normal(p) => {
            out.push(1);
            put_bytes(&mut out, &p.0, "proposal")?;
        }
        EntryPayload::Membership(m) => {
            out.push(2);
            put_bytes(&mut out, &serde_json::to_vec(m)?, "membership")?;
        }
    }
    Ok(out)
}

/// Encodes a truncation record.
pub fn encode_truncate(index: u64) -> Vec<u8> {
    let mut out = vec![TRUNCATE];
    out.extend_from_slice(&index.to_le_bytes());
    out
}

/// Encodes a state record.
pub fn encode_state(state: &State) -> Vec<u8> {
    let mut out = vec![STATE];
    match &state.vote {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.leader_id.term.to_le_bytes());
            out.extend_from_slice(&v.leader_id.node_id.to_le_bytes());
            out.push(u8::from(v.committed));
        }
    }
    match &state.purged {
        None => out.push(0),
        Some(id) => {
            out.push(1);
            put_log_id(&mut out, id);
        }
    }
    out
}

/// Decodes a log record; `None` if the bytes are not one.
pub fn decode_record(bytes: &[u8]) -> Option<LogRecord> {
    let mut r = Reader::new(bytes);
    let record = match r.u8()? {
        ENTRY => {
            let log_id = r.log_id()?;
            let payload = match r.u8()? {
                0 => EntryPayload::Blank,
                1 => EntryPayload::Normal(Proposal(Bytes::copy_from_slice(r.len_bytes()?))),
                2 => {
                    let m: Membership<NodeId, openraft::BasicNode> =
                        serde_json::from_slice(r.len_bytes()?).ok()?;
                    EntryPayload::Membership(m)
                }
                _ => return None,
            };
            LogRecord::Entry(Entry { log_id, payload })
        }
        TRUNCATE => LogRecord::Truncate(r.u64()?),
        STATE => {
            let vote = match r.u8()? {
                0 => None,
                1 => {
                    let (term, node) = (r.u64()?, r.u64()?);
                    match r.u8()? {
                        0 => Some(Vote::new(term, node)),
                        1 => Some(Vote::new_committed(term, node)),
                        _ => return None,
                    }
                }
                _ => return None,
            };
            let purged = match r.u8()? {
                0 => None,
                1 => Some(r.log_id()?),
                _ => return None,
            };
            LogRecord::State(State { vote, purged })
        }
        _ => return None,
    };
    r.is_empty().then_some(record)
}

fn put_log_id(out: &mut Vec<u8>, id: &LogId<NodeId>) {
    out.extend_from_slice(&id.leader_id.term.to_le_bytes());
    out.extend_from_slice(&id.leader_id.node_id.to_le_bytes());
    out.extend_from_slice(&id.index.to_le_bytes());
}

/// Appends a `u32` length and the bytes.
pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8], what: &'static str) -> Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|_| Error::TooLarge {
        what,
        len: bytes.len(),
        max: u32::MAX as usize,
    })?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// Reads fixed-width little-endian fields off a byte slice; every read is checked.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.rest.len() {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }

    /// A `u32` length, then that many bytes.
    pub(crate) fn len_bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u32()?).ok()?;
        self.bytes(len)
    }

    fn log_id(&mut self) -> Option<LogId<NodeId>> {
        let (term, node, index) = (self.u64()?, self.u64()?, self.u64()?);
        Some(LogId::new(CommittedLeaderId::new(term, node), index))
    }
}
