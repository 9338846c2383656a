//! The state machine's snapshot data: every keyspace's pairs (but the Raft state's) as of
//! one engine snapshot.
//!
//! ```text
//! data    := "ORBSNAP1" | section* | 0 u8 | crc32c u32 (of every byte before it)
//! section := 1 u8 | len u16 keyspace name | pair*
//! pair    := 2 u8 | len u32 key | len u32 value
//! ```
//!
//! Invariant: reading checks the magic and the checksum before it adds anything to the
//! batch, so a damaged snapshot changes nothing.

use orbit_lsm::{Db, Direction, KeyspaceId, Snapshot, WriteBatch, MAX_KEY_LEN};

use crate::codec::{put_bytes, Reader};
use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"ORBSNAP1";
const END: u8 = 0;
const SECTION: u8 = 1;
const PAIR: u8 = 2;

/// Writes the pairs of every keyspace of `db` but `skip`, as of `snap`.
pub fn write(db: &Db, snap: &Snapshot, skip: KeyspaceId) -> Result<Vec<u8>> {
    let mut out = MAGIC.to_vec();
    for (id, name) in db.keyspaces() {
        if id == skip {
            continue;
        }
        let name_len = u16::try_from(name.len()).map_err(|_| Error::TooLarge {
            what: "keyspace name",
            len: name.len(),
            max: u16::MAX as usize,
        })?;
        out.push(SECTION);
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        let all = (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded);
        for pair in db.iter(id, all, Direction::Forward, snap)? {
            let (key, value) = pair?;
            out.push(PAIR);
            put_bytes(&mut out, &key, "snapshot key")?;
            put_bytes(&mut out, &value, "snapshot value")?;
        }
    }
    out.push(END);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Adds to `batch` what replaces `db`'s contents (every keyspace but `skip`) with the
/// snapshot's: each keyspace cleared, then the snapshot's pairs. Keyspace names are resolved
/// with `resolve`.
pub fn read_into(
    db: &Db,
    data: &[u8],
    skip: KeyspaceId,
    batch: &mut WriteBatch,
    mut resolve: impl FnMut(&str) -> Result<KeyspaceId>,
) -> Result<()> {
    let bad = Error::CorruptSnapshot;
    let body_len = data
        .len()
        .checked_sub(4)
        .ok_or(bad("shorter than its checksum"))?;
    let (body, crc) = data.split_at(body_len);
    let crc = u32::from_le_bytes(crc.try_into().map_err(|_| bad("checksum"))?);
    if !body.starts_with(MAGIC) {
        return Err(bad("not an Orbit snapshot"));
    }
    if crc32c::crc32c(body) != crc {
        return Err(bad("checksum mismatch"));
    }
    // Validate the whole layout before touching the batch.
    walk(&body[MAGIC.len()..], |_| Ok(0), |_, _, _| {})?;
    for (id, _) in db.keyspaces() {
        if id != skip {
            clear(batch, id);
        }
    }
    walk(&body[MAGIC.len()..], &mut resolve, |id, key, value| {
        batch.put(id, key, value);
    })
}

/// Every key a keyspace can hold is below `[0xff; MAX_KEY_LEN]` or equal to it.
fn clear(batch: &mut WriteBatch, id: KeyspaceId) {
    let top = vec![0xff; MAX_KEY_LEN];
    batch.delete_range(id, &[], &top);
    batch.delete(id, &top);
}

/// Reads sections and pairs (everything between the magic and the checksum).
fn walk(
    body: &[u8],
    mut section: impl FnMut(&str) -> Result<KeyspaceId>,
    mut pair: impl FnMut(KeyspaceId, &[u8], &[u8]),
) -> Result<()> {
    let bad = Error::CorruptSnapshot;
    let mut r = Reader::new(body);
    let mut current = None;
    loop {
        match r.u8().ok_or(bad("truncated"))? {
            END if r.is_empty() => return Ok(()),
            END => return Err(bad("bytes after the end")),
            SECTION => {
                let len = r.u16().ok_or(bad("truncated section"))?;
                let name = r
                    .bytes(usize::from(len))
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .ok_or(bad("keyspace name"))?;
                current = Some(section(name)?);
            }
            PAIR => {
                let id = current.ok_or(bad("pair outside a section"))?;
                let key = r.len_bytes().ok_or(bad("truncated key"))?;
                let value = r.len_bytes().ok_or(bad("truncated value"))?;
                pair(id, key, value);
            }
            _ => return Err(bad("unknown tag")),
        }
    }
}
