//! Which databases may hold collection members: what lets a plain SET replace a key's value
//! without reading it first.
//!
//! A string written over a collection (live or expired) must range-delete its members, or a
//! collection created at the key later would show them; so SET, MSET and SETEX read each
//! key's metadata before writing, and that read was a quarter of a SET's CPU under
//! `redis-benchmark -P 16` (a lookup through the tables for every key). A database whose
//! `resp:sub` range holds nothing has no members to drop: there a SET writes blindly, as a
//! Redis cache of strings only does all day.
//!
//! Invariant: a database's bit is clear only if its range of `resp:sub` holds no member (no
//! put that no later write deleted).
//! - At open, a bit is set if the keyspace may hold an entry in the database's range
//!   (`Db::may_hold`: memtables and table key ranges, no block read).
//! - Every write of a member goes through `Store::submit`, which sets its database's bit
//!   before the write is ordered; members of a key are written under its lock stripe, so a
//!   SET of that key, under the same stripe, sees the bit.
//! - Bits are never cleared while the server runs (a FLUSHDB racing a member's write could
//!   clear one wrongly); a restart recomputes them.
//! - On a replicated node, writes also arrive through Raft's applies, which this does not
//!   see: there every database counts as holding members (the read is always made).

use std::sync::atomic::{AtomicU32, Ordering};

use orbit_lsm::key::ValueKind;
use orbit_lsm::{Db, KeyspaceId, WriteBatch};

use crate::store::DATABASES;
use crate::Result;

/// One bit per database: set when its range of `resp:sub` may hold an entry.
pub struct MemberDbs {
    bits: AtomicU32,
    /// Writes reach the database only through `Store::submit` (a single node).
    tracked: bool,
}

impl MemberDbs {
    /// The bits for `db`'s `sub` keyspace as it is now; `tracked`: false on a replicated node.
    pub fn open(db: &Db, sub: KeyspaceId, tracked: bool) -> Result<MemberDbs> {
        let mut bits = 0u32;
        for d in 0..DATABASES {
            let d = u8::try_from(d).unwrap_or(u8::MAX);
            if db.may_hold(sub, &[d], &[d.saturating_add(1)])? {
                bits |= bit(d);
            }
        }
        Ok(MemberDbs {
            bits: AtomicU32::new(bits),
            tracked,
        })
    }

    /// Whether database `db` may hold a collection's members (always, untracked).
    pub fn may_hold(&self, db: u8) -> bool {
        !self.tracked || self.bits.load(Ordering::Acquire) & bit(db) != 0
    }

    /// Notes the members `batch` writes to `sub`: call before the batch is ordered.
    pub fn note(&self, batch: &WriteBatch, sub: KeyspaceId) {
        let mut written = 0u32;
        for op in batch.ops() {
            if op.keyspace == sub && op.kind == ValueKind::Put {
                written |= op.key.first().map_or(u32::MAX, |&d| bit(d));
            }
        }
        if self.bits.load(Ordering::Acquire) & written != written {
            self.bits.fetch_or(written, Ordering::AcqRel);
        }
    }
}

/// `db`'s bit; every bit for a number past the databases (never a database's).
fn bit(db: u8) -> u32 {
    1u32.checked_shl(u32::from(db)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbit_env::SimFs;
    use orbit_lsm::DbOptions;

    fn db(fs: &SimFs) -> (Db, KeyspaceId) {
        let opts = DbOptions {
            wal: orbit_wal::WalOptions {
                segment_size: orbit_wal::MIN_SEGMENT_SIZE * 4,
                ..orbit_wal::WalOptions::default()
            },
            ..DbOptions::default()
        };
        let db = Db::open(fs.shared(), "/db", opts).unwrap();
        let sub = db.open_keyspace("resp:sub").unwrap();
        (db, sub)
    }

    #[test]
    fn bits_follow_member_writes_and_are_found_again_at_open() {
        let fs = SimFs::new();
        let (db, sub) = db(&fs);
        let m = MemberDbs::open(&db, sub, true).unwrap();
        assert!((0..16).all(|d| !m.may_hold(d)));
        let mut b = WriteBatch::new();
        assert_ne!(sub, orbit_lsm::DEFAULT_KEYSPACE);
        b.put(
            orbit_lsm::DEFAULT_KEYSPACE,
            &[3, 0, 0, 0, 1, b'k'],
            b"not sub",
        );
        b.delete(sub, &[4, 0, 0, 0, 1, b'k']);
        b.delete_range(sub, &[5], &[6]);
        m.note(&b, sub);
        assert!((0..16).all(|d| !m.may_hold(d)), "puts to sub only");
        b.put(sub, &[7, 0, 0, 0, 1, b'k', b'f'], b"v");
        m.note(&b, sub);
        assert!(m.may_hold(7));
        assert!(!m.may_hold(6) && !m.may_hold(8));
        db.write(&b).unwrap();
        let m = MemberDbs::open(&db, sub, true).unwrap();
        // Db 7's member, and db 4's deletion; db 5's range deletion holds no key.
        let held: Vec<u8> = (0..16).filter(|&d| m.may_hold(d)).collect();
        assert_eq!(held, vec![4, 7]);
        assert!((0..16).all(|d| MemberDbs::open(&db, sub, false).unwrap().may_hold(d)));
        drop(db);
        let (db, sub) = self::db(&fs);
        let m = MemberDbs::open(&db, sub, true).unwrap();
        assert!(m.may_hold(7) && !m.may_hold(0));
    }

    #[test]
    fn a_key_with_no_database_byte_counts_for_every_database() {
        let fs = SimFs::new();
        let (db, sub) = db(&fs);
        let m = MemberDbs::open(&db, sub, true).unwrap();
        let mut b = WriteBatch::new();
        b.put(sub, b"", b"v");
        m.note(&b, sub);
        assert!((0..16).all(|d| m.may_hold(d)));
    }
}
