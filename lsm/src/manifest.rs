//! The manifest: which tables make up each keyspace, and where WAL replay must start.
//!
//! `MANIFEST-{n:06}` is an append-only log of version edits, each framed as
//! `len u32 ‖ crc32c u32 ‖ payload` and synced before the change it records is used. `CURRENT`
//! names the live manifest; it is replaced by writing `CURRENT.tmp`, syncing it, renaming it
//! over `CURRENT` and syncing the directory, so it always names a complete manifest. Each open
//! writes a fresh manifest holding a snapshot of the state (so manifests never grow without
//! bound across restarts) and then switches `CURRENT` to it.
//!
//! Recovery applies every edit in order. A damaged record that reaches the end of the file is a
//! torn append (its edit was never acknowledged) and is ignored; damage before the end is
//! corruption.
#![deny(clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use orbit_env::{File, FileSystem, OpenMode};

use crate::batch::KeyspaceId;
use crate::coding::{get_u32, put_length_prefixed, put_varint, Reader};
use crate::{Error, Result};

/// Name of the pointer file.
pub const CURRENT: &str = "CURRENT";

/// One table of a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// File number: the table is `{number:06}.sst`.
    pub number: u64,
    /// Level (0 = flushed memtables, possibly overlapping).
    pub level: u8,
    /// File size.
    pub size: u64,
    /// Smallest internal key.
    pub smallest: Vec<u8>,
    /// Largest internal key.
    pub largest: Vec<u8>,
    /// Smallest and largest sequence numbers.
    pub seqs: (u64, u64),
}

/// A change to the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// WAL records before this LSN are reflected in tables.
    LogLsn(u64),
    /// The next file number to hand out is at least this.
    NextFile(u64),
    /// The last sequence number used is at least this.
    LastSeq(u64),
    /// A keyspace was created.
    AddKeyspace(KeyspaceId, String),
    /// A keyspace was dropped.
    DropKeyspace(KeyspaceId),
    /// A table joined a keyspace.
    AddFile(KeyspaceId, FileMeta),
    /// A table left a keyspace.
    DeleteFile(KeyspaceId, u64),
    /// Keyspace ids below this were used (ids of dropped keyspaces are never reused, so a
    /// WAL record of a dropped keyspace can never land in a new one).
    NextKeyspace(KeyspaceId),
}

const TAG_LOG: u8 = 1;
const TAG_NEXT_FILE: u8 = 2;
const TAG_LAST_SEQ: u8 = 3;
const TAG_ADD_KS: u8 = 4;
const TAG_DROP_KS: u8 = 5;
const TAG_ADD_FILE: u8 = 6;
const TAG_DELETE_FILE: u8 = 7;
const TAG_NEXT_KS: u8 = 8;

impl Edit {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Edit::LogLsn(v) => {
                out.push(TAG_LOG);
                put_varint(out, *v);
            }
            Edit::NextFile(v) => {
                out.push(TAG_NEXT_FILE);
                put_varint(out, *v);
            }
            Edit::LastSeq(v) => {
                out.push(TAG_LAST_SEQ);
                put_varint(out, *v);
            }
            Edit::AddKeyspace(id, name) => {
                out.push(TAG_ADD_KS);
                put_varint(out, u64::from(*id));
                put_length_prefixed(out, name.as_bytes());
            }
            Edit::DropKeyspace(id) => {
                out.push(TAG_DROP_KS);
                put_varint(out, u64::from(*id));
            }
            Edit::AddFile(ks, f) => {
                out.push(TAG_ADD_FILE);
                put_varint(out, u64::from(*ks));
                put_varint(out, f.number);
                out.push(f.level);
                put_varint(out, f.size);
                put_length_prefixed(out, &f.smallest);
                put_length_prefixed(out, &f.largest);
                put_varint(out, f.seqs.0);
                put_varint(out, f.seqs.1);
            }
            Edit::DeleteFile(ks, number) => {
                out.push(TAG_DELETE_FILE);
                put_varint(out, u64::from(*ks));
                put_varint(out, *number);
            }
            Edit::NextKeyspace(id) => {
                out.push(TAG_NEXT_KS);
                put_varint(out, u64::from(*id));
            }
        }
    }

    fn decode_all(payload: &[u8]) -> Option<Vec<Edit>> {
        let mut r = Reader::new(payload);
        let mut edits = Vec::new();
        while !r.is_empty() {
            let tag = *r.bytes(1)?.first()?;
            let ks = |r: &mut Reader<'_>| KeyspaceId::try_from(r.varint()?).ok();
            edits.push(match tag {
                TAG_LOG => Edit::LogLsn(r.varint()?),
                TAG_NEXT_FILE => Edit::NextFile(r.varint()?),
                TAG_LAST_SEQ => Edit::LastSeq(r.varint()?),
                TAG_ADD_KS => {
                    let id = ks(&mut r)?;
                    Edit::AddKeyspace(id, String::from_utf8(r.length_prefixed()?.to_vec()).ok()?)
                }
                TAG_DROP_KS => Edit::DropKeyspace(ks(&mut r)?),
                TAG_ADD_FILE => {
                    let id = ks(&mut r)?;
                    let number = r.varint()?;
                    let level = *r.bytes(1)?.first()?;
                    let size = r.varint()?;
                    let smallest = r.length_prefixed()?.to_vec();
                    let largest = r.length_prefixed()?.to_vec();
                    let seqs = (r.varint()?, r.varint()?);
                    Edit::AddFile(
                        id,
                        FileMeta {
                            number,
                            level,
                            size,
                            smallest,
                            largest,
                            seqs,
                        },
                    )
                }
                TAG_DELETE_FILE => Edit::DeleteFile(ks(&mut r)?, r.varint()?),
                TAG_NEXT_KS => Edit::NextKeyspace(ks(&mut r)?),
                _ => return None,
            });
        }
        Some(edits)
    }
}

/// A keyspace's tables, by level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyspaceFiles {
    /// The keyspace's name.
    pub name: String,
    /// Tables by file number.
    pub files: BTreeMap<u64, FileMeta>,
}

/// Everything the manifest records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Keyspaces by id.
    pub keyspaces: BTreeMap<KeyspaceId, KeyspaceFiles>,
    /// WAL replay starts here.
    pub log_lsn: u64,
    /// Next file number.
    pub next_file: u64,
    /// Last sequence number known to be used.
    pub last_seq: u64,
    /// The next keyspace id to hand out.
    pub next_keyspace: KeyspaceId,
}

impl State {
    /// Applies one edit.
    pub fn apply(&mut self, edit: &Edit) {
        match edit {
            Edit::LogLsn(v) => self.log_lsn = self.log_lsn.max(*v),
            Edit::NextFile(v) => self.next_file = self.next_file.max(*v),
            Edit::LastSeq(v) => self.last_seq = self.last_seq.max(*v),
            Edit::AddKeyspace(id, name) => {
                self.keyspaces.entry(*id).or_default().name = name.clone();
                self.next_keyspace = self.next_keyspace.max(id.saturating_add(1));
            }
            Edit::NextKeyspace(id) => self.next_keyspace = self.next_keyspace.max(*id),
            Edit::DropKeyspace(id) => {
                self.keyspaces.remove(id);
            }
            Edit::AddFile(ks, f) => {
                self.next_file = self.next_file.max(f.number + 1);
                // A table of a keyspace dropped meanwhile is an orphan, deleted at open.
                if let Some(k) = self.keyspaces.get_mut(ks) {
                    k.files.insert(f.number, f.clone());
                }
            }
            Edit::DeleteFile(ks, number) => {
                if let Some(k) = self.keyspaces.get_mut(ks) {
                    k.files.remove(number);
                }
            }
        }
    }

    /// Edits that rebuild this state from nothing.
    pub fn snapshot(&self) -> Vec<Edit> {
        let mut edits = vec![
            Edit::LogLsn(self.log_lsn),
            Edit::NextFile(self.next_file),
            Edit::LastSeq(self.last_seq),
            Edit::NextKeyspace(self.next_keyspace),
        ];
        for (id, ks) in &self.keyspaces {
            edits.push(Edit::AddKeyspace(*id, ks.name.clone()));
            edits.extend(ks.files.values().map(|f| Edit::AddFile(*id, f.clone())));
        }
        edits
    }
}

/// The open manifest: appends edits durably.
pub struct Manifest {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    file: Arc<dyn File>,
    len: u64,
    number: u64,
}

fn manifest_name(number: u64) -> String {
    format!("MANIFEST-{number:06}")
}

fn parse_manifest_name(name: &str) -> Option<u64> {
    name.strip_prefix("MANIFEST-")?.parse().ok()
}

/// Reads the state `CURRENT` points to; `None` for a directory without a database.
pub fn recover(fs: &dyn FileSystem, dir: &Path) -> Result<Option<(State, u64)>> {
    let current = dir.join(CURRENT);
    if !fs.exists(&current)? {
        return Ok(None);
    }
    let f = fs.open(&current, OpenMode::Read)?;
    let mut buf = vec![0u8; usize::try_from(f.len()?).unwrap_or(0).min(256)];
    f.read_exact_at(&mut buf, 0)?;
    let name = String::from_utf8_lossy(&buf).trim().to_string();
    let number = parse_manifest_name(&name).ok_or_else(|| {
        Error::corruption(
            &current,
            0,
            format!("CURRENT names \"{name}\", not a manifest"),
        )
    })?;
    let path = dir.join(&name);
    let file = fs.open(&path, OpenMode::Read)?;
    let len = file.len()?;
    let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
    file.read_exact_at(&mut bytes, 0)?;
    let mut state = State::default();
    let mut off = 0usize;
    while off < bytes.len() {
        let len_field = get_u32(&bytes, off);
        let crc = get_u32(&bytes, off + 4);
        let payload =
            len_field.and_then(|n| bytes.get(off + 8..(off + 8).checked_add(n as usize)?));
        let edits = match (payload, crc) {
            (Some(p), Some(c)) if crc32c::crc32c(p) == c => Edit::decode_all(p),
            _ => None,
        };
        match edits {
            Some(edits) => {
                edits.iter().for_each(|e| state.apply(e));
                off += 8 + payload.map_or(0, <[u8]>::len);
            }
            None => {
                let claimed_end = len_field.map_or(usize::MAX, |n| {
                    off.saturating_add(8).saturating_add(n as usize)
                });
                if claimed_end >= bytes.len() {
                    // A torn final append: that edit was never acknowledged.
                    break;
                }
                return Err(Error::corruption(
                    &path,
                    off as u64,
                    "damaged manifest record before the end of the file",
                ));
            }
        }
    }
    Ok(Some((state, number)))
}

impl Manifest {
    /// Writes a fresh manifest holding `state` and points `CURRENT` at it. Older manifests
    /// are removed afterwards.
    pub fn create(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        number: u64,
        state: &State,
    ) -> Result<Manifest> {
        let path = dir.join(manifest_name(number));
        let _ = fs.remove_file(&path);
        let file = fs.open(&path, OpenMode::CreateNew)?;
        let mut m = Manifest {
            fs: Arc::clone(&fs),
            dir: dir.to_path_buf(),
            file,
            len: 0,
            number,
        };
        m.append(&state.snapshot())?;
        let tmp = dir.join("CURRENT.tmp");
        let _ = fs.remove_file(&tmp);
        let cur = fs.open(&tmp, OpenMode::CreateNew)?;
        cur.write_all_at(format!("{}\n", manifest_name(number)).as_bytes(), 0)?;
        cur.sync_all()?;
        fs.rename(&tmp, &dir.join(CURRENT))?;
        fs.sync_dir(dir)?;
        for name in fs.list_dir(dir)? {
            if parse_manifest_name(&name).is_some_and(|n| n != number) {
                fs.remove_file(&dir.join(&name))?;
            }
        }
        Ok(m)
    }

    /// The manifest's file number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Appends `edits` as one record and syncs it: when this returns, they are durable.
    pub fn append(&mut self, edits: &[Edit]) -> Result<()> {
        let mut payload = Vec::new();
        for e in edits {
            e.encode(&mut payload);
        }
        let mut rec = Vec::with_capacity(8 + payload.len());
        rec.extend_from_slice(
            &u32::try_from(payload.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        rec.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        rec.extend_from_slice(&payload);
        self.file.write_all_at(&rec, self.len)?;
        self.file.sync_data()?;
        self.len += rec.len() as u64;
        Ok(())
    }

    /// The directory the manifest lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file system it writes through.
    pub fn fs(&self) -> &Arc<dyn FileSystem> {
        &self.fs
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use orbit_env::{CrashMode, SimFs};

    fn file(number: u64) -> FileMeta {
        FileMeta {
            number,
            level: 0,
            size: 100 + number,
            smallest: b"a".to_vec(),
            largest: b"z".to_vec(),
            seqs: (1, number),
        }
    }

    fn setup() -> (SimFs, PathBuf) {
        let fs = SimFs::new();
        let dir = PathBuf::from("/db");
        fs.create_dir_all(&dir).unwrap();
        (fs, dir)
    }

    #[test]
    fn edits_survive_reopen_and_crash() {
        let (fs, dir) = setup();
        assert!(recover(&fs, &dir).unwrap().is_none());
        let mut m = Manifest::create(fs.shared(), &dir, 1, &State::default()).unwrap();
        m.append(&[
            Edit::AddKeyspace(0, "default".into()),
            Edit::AddFile(0, file(3)),
        ])
        .unwrap();
        m.append(&[
            Edit::LogLsn(77),
            Edit::LastSeq(9),
            Edit::AddFile(0, file(4)),
            Edit::DeleteFile(0, 3),
        ])
        .unwrap();
        let crashed = fs.crash(CrashMode::DropUnsynced);
        let (state, number) = recover(&crashed, &dir).unwrap().unwrap();
        assert_eq!(number, 1);
        assert_eq!(state.log_lsn, 77);
        assert_eq!(state.last_seq, 9);
        assert_eq!(state.next_file, 5);
        assert_eq!(
            state.keyspaces[&0]
                .files
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            vec![4]
        );
        // Rolling over to a new manifest keeps the state and removes the old file.
        let m2 = Manifest::create(crashed.shared(), &dir, 5, &state).unwrap();
        assert_eq!(m2.number(), 5);
        assert_eq!(recover(&crashed, &dir).unwrap().unwrap().0, state);
        assert!(!crashed.exists(&dir.join("MANIFEST-000001")).unwrap());
    }

    #[test]
    fn a_torn_last_record_is_ignored_and_damage_before_it_is_refused() {
        let (fs, dir) = setup();
        let mut m = Manifest::create(fs.shared(), &dir, 1, &State::default()).unwrap();
        m.append(&[Edit::AddKeyspace(0, "default".into())]).unwrap();
        m.append(&[Edit::AddFile(0, file(3))]).unwrap();
        let path = dir.join("MANIFEST-000001");
        let full = fs.contents(&path).unwrap();
        // Tear the last record.
        let f = fs.open(&path, OpenMode::ReadWrite).unwrap();
        f.set_len(full.len() as u64 - 3).unwrap();
        let (state, _) = recover(&fs, &dir).unwrap().unwrap();
        assert!(
            state.keyspaces[&0].files.is_empty(),
            "the torn edit must not apply"
        );
        // Damage inside the first record, with a valid one after it.
        f.set_len(0).unwrap();
        f.write_all_at(&full, 0).unwrap();
        fs.flip_bit(&path, 10, 0).unwrap();
        assert!(matches!(recover(&fs, &dir), Err(Error::Corruption { .. })));
    }

    #[test]
    fn current_always_names_a_complete_manifest() {
        let (fs, dir) = setup();
        let mut state = State::default();
        state.apply(&Edit::AddKeyspace(0, "default".into()));
        Manifest::create(fs.shared(), &dir, 1, &state).unwrap();
        // Crash while switching to manifest 2 at every step: recovery finds 1 or 2, never junk.
        for nth in 1..6 {
            let live = fs.crash(CrashMode::DropUnsynced);
            live.inject(
                orbit_env::FaultOp::Sync,
                nth,
                orbit_env::FaultKind::Eio,
                false,
            );
            let _ = Manifest::create(live.shared(), &dir, 2, &state);
            let after = live.crash(CrashMode::DropUnsynced);
            let (got, number) = recover(&after, &dir).unwrap().unwrap();
            assert!(number == 1 || number == 2);
            assert_eq!(got.keyspaces, state.keyspaces);
        }
    }

    #[test]
    fn garbage_payloads_decode_to_none() {
        assert_eq!(Edit::decode_all(&[99]), None);
        assert_eq!(Edit::decode_all(&[TAG_ADD_FILE, 1]), None);
    }
}
