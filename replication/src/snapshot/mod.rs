//! The state machine's snapshot data: every keyspace's pairs (but the Raft state's) as of
//! one engine snapshot, written to a file as the engine is read and read back a buffer at a
//! time, so that neither building, sending nor installing a snapshot holds the database in
//! memory.
//!
//! ```text
//! data    := "ORBSNAP1" | section* | 0 u8 | crc32c u32 (of every byte before it)
//! section := 1 u8 | len u16 keyspace name | pair*
//! pair    := 2 u8 | len u32 key | len u32 value
//! ```
//!
//! Modules: `file` (the file as openraft's `SnapshotData`: chunks are read from it to send
//! and written to it as they arrive), `store` (the directory of snapshot files).
//!
//! Invariants: [`walk`] reports a pair only from data whose layout is sound up to it and
//! checks the checksum at the end, so a caller that must change nothing for a damaged
//! snapshot walks it once to verify before it acts ([`verify`]); no length read from the data
//! allocates more than the file holds.

mod file;
mod store;

pub use file::SnapshotFile;
pub(crate) use store::Store;

use std::sync::Arc;

use orbit_env::File;
use orbit_lsm::{Db, Direction, KeyspaceId, Snapshot, MAX_KEY_LEN};

use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"ORBSNAP1";
const END: u8 = 0;
const SECTION: u8 = 1;
const PAIR: u8 = 2;
/// Bytes read or written per call to the file.
const BUFFER: usize = 1 << 20;

/// Writes the pairs of every keyspace of `db` but `skip`, as of `snap`, to `file` (empty);
/// answers the data's length. The file is not synced: a built snapshot is rebuilt after a
/// crash, never read.
pub fn write(db: &Db, snap: &Snapshot, skip: KeyspaceId, file: Arc<dyn File>) -> Result<u64> {
    let mut w = Writer {
        file,
        buf: Vec::with_capacity(BUFFER),
        offset: 0,
        crc: 0,
    };
    w.put(MAGIC)?;
    for (id, name) in db.keyspaces() {
        if id == skip {
            continue;
        }
        let name_len = u16::try_from(name.len()).map_err(|_| Error::TooLarge {
            what: "keyspace name",
            len: name.len(),
            max: u16::MAX as usize,
        })?;
        w.put(&[SECTION])?;
        w.put(&name_len.to_le_bytes())?;
        w.put(name.as_bytes())?;
        let all = (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded);
        for pair in db.iter(id, all, Direction::Forward, snap)? {
            let (key, value) = pair?;
            w.put(&[PAIR])?;
            w.put_len(&key, "snapshot key")?;
            w.put_len(&value, "snapshot value")?;
        }
    }
    w.put(&[END])?;
    w.flush()?;
    let crc = w.crc.to_le_bytes();
    w.file.write_all_at(&crc, w.offset)?;
    Ok(w.offset + crc.len() as u64)
}

/// Buffers what [`write`] produces, checksumming each buffer as it goes to the file.
struct Writer {
    file: Arc<dyn File>,
    buf: Vec<u8>,
    /// Where `buf` goes in the file.
    offset: u64,
    crc: u32,
}

impl Writer {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        if self.buf.len() + bytes.len() > BUFFER {
            self.flush()?;
        }
        if bytes.len() > BUFFER {
            // A value larger than the buffer goes straight to the file.
            self.crc = crc32c::crc32c_append(self.crc, bytes);
            self.file.write_all_at(bytes, self.offset)?;
            self.offset += bytes.len() as u64;
        } else {
            self.buf.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn put_len(&mut self, bytes: &[u8], what: &'static str) -> Result<()> {
        let len = u32::try_from(bytes.len()).map_err(|_| Error::TooLarge {
            what,
            len: bytes.len(),
            max: u32::MAX as usize,
        })?;
        self.put(&len.to_le_bytes())?;
        self.put(bytes)
    }

    fn flush(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.crc = crc32c::crc32c_append(self.crc, &self.buf);
            self.file.write_all_at(&self.buf, self.offset)?;
            self.offset += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }
}

/// Checks `file` whole (layout, checksum, key lengths) without acting on it; a section
/// naming `forbidden` (the Raft state's keyspace, which only the state machine writes) is
/// refused.
pub fn verify(file: &Arc<dyn File>, forbidden: &str) -> Result<()> {
    walk(
        file,
        |name| match name == forbidden {
            true => Err(Error::CorruptSnapshot("writes to the raft state keyspace")),
            false => Ok(0),
        },
        |_, key, _| match key.len() > MAX_KEY_LEN {
            true => Err(Error::CorruptSnapshot("a key longer than the engine takes")),
            false => Ok(()),
        },
    )
}

/// Reads `file`'s sections and pairs in order: `section` resolves each keyspace name, `pair`
/// takes each pair of the current section. Fails at the first damage, and at the end if the
/// checksum does not match (after the pairs were reported: see the module's invariants).
pub fn walk(
    file: &Arc<dyn File>,
    mut section: impl FnMut(&str) -> Result<KeyspaceId>,
    mut pair: impl FnMut(KeyspaceId, &[u8], &[u8]) -> Result<()>,
) -> Result<()> {
    let bad = Error::CorruptSnapshot;
    let len = file.len()?;
    let body = len.checked_sub(4).ok_or(bad("shorter than its checksum"))?;
    let mut r = Reader::new(Arc::clone(file), body);
    if r.bytes(MAGIC.len())? != Some(MAGIC.as_slice()) {
        return Err(bad("not an Orbit snapshot"));
    }
    let mut current = None;
    loop {
        match r.u8()?.ok_or(bad("truncated"))? {
            END if r.at_end() => break,
            END => return Err(bad("bytes after the end")),
            SECTION => {
                let len = r.u16()?.ok_or(bad("truncated section"))?;
                let name = r
                    .bytes(usize::from(len))?
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .ok_or(bad("keyspace name"))?
                    .to_owned();
                current = Some(section(&name)?);
            }
            PAIR => {
                let id = current.ok_or(bad("pair outside a section"))?;
                let key_len = r.u32()?.ok_or(bad("truncated key"))?;
                let key = r
                    .bytes(key_len as usize)?
                    .ok_or(bad("truncated key"))?
                    .to_vec();
                let value_len = r.u32()?.ok_or(bad("truncated value"))?;
                let value = r.bytes(value_len as usize)?.ok_or(bad("truncated value"))?;
                pair(id, &key, value)?;
            }
            _ => return Err(bad("unknown tag")),
        }
    }
    let mut crc = [0; 4];
    file.read_exact_at(&mut crc, body)?;
    if u32::from_le_bytes(crc) != r.crc {
        return Err(bad("checksum mismatch"));
    }
    Ok(())
}

/// Reads the first `end` bytes of a file in order, a buffer at a time, checksumming every
/// byte once as it is read.
struct Reader {
    file: Arc<dyn File>,
    end: u64,
    /// Bytes read from the file: `buf[at..]` are the ones not taken yet.
    buf: Vec<u8>,
    at: usize,
    /// Where the next read from the file starts.
    offset: u64,
    crc: u32,
}

impl Reader {
    fn new(file: Arc<dyn File>, end: u64) -> Reader {
        Reader {
            file,
            end,
            buf: Vec::new(),
            at: 0,
            offset: 0,
            crc: 0,
        }
    }

    fn at_end(&self) -> bool {
        self.at == self.buf.len() && self.offset == self.end
    }

    /// The next `n` bytes; None if fewer are left before `end`.
    fn bytes(&mut self, n: usize) -> Result<Option<&[u8]>> {
        let held = self.buf.len() - self.at;
        if n > held {
            let left = self.end - self.offset;
            if (n - held) as u64 > left {
                return Ok(None);
            }
            self.buf.drain(..self.at);
            self.at = 0;
            let want = (n - held)
                .max(BUFFER)
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            let start = self.buf.len();
            self.buf.resize(start + want, 0);
            let fresh = &mut self.buf[start..];
            self.file.read_exact_at(fresh, self.offset)?;
            self.crc = crc32c::crc32c_append(self.crc, fresh);
            self.offset += want as u64;
        }
        let out = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(Some(out))
    }

    fn array<const N: usize>(&mut self) -> Result<Option<[u8; N]>> {
        Ok(self.bytes(N)?.and_then(|b| b.try_into().ok()))
    }

    fn u8(&mut self) -> Result<Option<u8>> {
        Ok(self.array::<1>()?.map(|[b]| b))
    }

    fn u16(&mut self) -> Result<Option<u16>> {
        Ok(self.array()?.map(u16::from_le_bytes))
    }

    fn u32(&mut self) -> Result<Option<u32>> {
        Ok(self.array()?.map(u32::from_le_bytes))
    }
}

#[cfg(test)]
mod tests;
