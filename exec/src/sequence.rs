//! Sequences and identifier counters, outside transactions as in PostgreSQL: `nextval` never
//! rolls back, so two transactions never wait on each other for a number.
//!
//! Each sequence's state lives in the `sql:seq` keyspace as JSON (its options and the highest
//! value handed out or reserved). Values are reserved `CACHE` at a time with one durable
//! write, so after a crash numbers may skip (never repeat), like PostgreSQL's `log_cnt`.

use std::collections::HashMap;
use std::sync::Mutex;

use orbit_lsm::{KeyspaceId, WriteBatch};
use orbit_txn::Pending;
use orbit_txn::TxnDb;
use serde::{Deserialize, Serialize};

use crate::error::{code, Error, Result};

/// Values reserved per durable write.
const CACHE: i64 = 32;

/// A sequence's options and persisted position.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SequenceDef {
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub start: i64,
    pub cycle: bool,
    /// Values up to here (in the direction of `increment`) may have been handed out.
    pub reserved: Option<i64>,
    /// pg_class oid.
    #[serde(default)]
    pub oid: u32,
}

impl SequenceDef {
    /// PostgreSQL's defaults for a bigint sequence (or an integer one for `serial`).
    pub fn new(max: i64, oid: u32) -> SequenceDef {
        SequenceDef {
            increment: 1,
            min: 1,
            max,
            start: 1,
            cycle: false,
            reserved: None,
            oid,
        }
    }
}

/// How messages name sequence `name` (stored as `[database/]schema.name`): unqualified, as
/// PostgreSQL does.
fn shown(name: &str) -> &str {
    let local = name.split_once('/').map_or(name, |(_, n)| n);
    local.split_once('.').map_or(local, |(_, n)| n)
}

struct State {
    def: SequenceDef,
    /// The last value handed out in this process.
    last: Option<i64>,
}

/// The sequences of one database.
pub struct Sequences {
    txn: TxnDb,
    keyspace: KeyspaceId,
    /// The cached states, valid for one commit-log epoch (see [`Sequences::cache`]).
    cache: Mutex<(u64, HashMap<String, State>)>,
}

/// The map part of the locked cache.
struct Cached<'a>(std::sync::MutexGuard<'a, (u64, HashMap<String, State>)>);

impl std::ops::Deref for Cached<'_> {
    type Target = HashMap<String, State>;
    fn deref(&self) -> &Self::Target {
        &self.0 .1
    }
}

impl std::ops::DerefMut for Cached<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0 .1
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sequences {
    pub fn new(txn: TxnDb, keyspace: KeyspaceId) -> Sequences {
        Sequences {
            txn,
            keyspace,
            cache: Mutex::new((0, HashMap::new())),
        }
    }

    /// The cached states. A replicated node forgets them whenever it applied another leader's
    /// writes (the epoch moved): that leader may have handed out values past what this node
    /// cached, and continuing from the cache would repeat them.
    fn cache(&self) -> impl std::ops::DerefMut<Target = HashMap<String, State>> + '_ {
        let mut guard = lock(&self.cache);
        let epoch = self.txn.epoch();
        if guard.0 != epoch {
            guard.1.clear();
            guard.0 = epoch;
        }
        Cached(guard)
    }

    /// The definition of sequence `name`, if it exists.
    pub fn definition(&self, name: &str) -> Result<Option<SequenceDef>> {
        if let Some(state) = self.cache().get(name) {
            return Ok(Some(state.def.clone()));
        }
        self.load(name)
    }

    fn load(&self, name: &str) -> Result<Option<SequenceDef>> {
        match self.txn.get(self.keyspace, name.as_bytes())? {
            Some(v) => Ok(Some(serde_json::from_slice(&v).map_err(|e| {
                Error::new(
                    code::DATA_CORRUPTED,
                    format!("sequence {name} is damaged: {e}"),
                )
            })?)),
            None => Ok(None),
        }
    }

    /// Queues the durable write of `def`; the caller's reply waits for it (`waits`).
    fn store(&self, name: &str, def: &SequenceDef, waits: &mut Vec<Pending>) -> Result<()> {
        let bytes =
            serde_json::to_vec(def).map_err(|e| Error::new(code::INTERNAL_ERROR, e.to_string()))?;
        let mut batch = WriteBatch::new();
        batch.put(self.keyspace, name.as_bytes(), &bytes);
        waits.push(self.txn.submit(&batch)?);
        Ok(())
    }

    /// Whether sequence `name` exists.
    pub fn exists(&self, name: &str) -> Result<bool> {
        Ok(self.cache().contains_key(name) || self.load(name)?.is_some())
    }

    /// Creates `name` (durable once `waits` are).
    pub fn create(&self, name: &str, def: SequenceDef, waits: &mut Vec<Pending>) -> Result<()> {
        self.store(name, &def, waits)?;
        self.cache()
            .insert(name.to_string(), State { def, last: None });
        Ok(())
    }

    /// Drops `name`.
    pub fn drop(&self, name: &str, waits: &mut Vec<Pending>) -> Result<()> {
        self.cache().remove(name);
        let mut batch = WriteBatch::new();
        batch.delete(self.keyspace, name.as_bytes());
        waits.push(self.txn.submit(&batch)?);
        Ok(())
    }

    /// Every sequence name.
    pub fn names(&self) -> Result<Vec<(String, SequenceDef)>> {
        let db = self.txn.db();
        let snap = db.snapshot();
        let mut out = Vec::new();
        for item in db.iter(
            self.keyspace,
            (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded),
            orbit_lsm::Direction::Forward,
            &snap,
        )? {
            let (k, v) = item?;
            if let Ok(def) = serde_json::from_slice::<SequenceDef>(&v) {
                out.push((String::from_utf8_lossy(&k).into_owned(), def));
            }
        }
        Ok(out)
    }

    /// The next value of `name`. A new reservation's write is queued on `waits`: like
    /// PostgreSQL's nextval, it becomes durable at the latest with the caller's commit (the
    /// log is ordered), and a value used only by a transaction lost in a crash may be reissued.
    pub fn nextval(&self, name: &str, waits: &mut Vec<Pending>) -> Result<i64> {
        let mut cache = self.cache();
        if !cache.contains_key(name) {
            let def = self.load(name)?.ok_or_else(|| {
                Error::new(
                    code::UNDEFINED_TABLE,
                    format!("relation \"{name}\" does not exist"),
                )
            })?;
            cache.insert(name.to_string(), State { def, last: None });
        }
        let Some(state) = cache.get_mut(name) else {
            return Err(Error::new(code::INTERNAL_ERROR, "sequence vanished"));
        };
        let def = &mut state.def;
        let next = match (state.last, def.reserved) {
            (Some(last), _) => last.checked_add(def.increment),
            // First use in this process: continue after everything possibly handed out.
            (None, Some(r)) => r.checked_add(def.increment),
            (None, None) => Some(def.start),
        };
        let next = match next {
            Some(n) if n >= def.min && n <= def.max => n,
            _ if def.cycle => {
                if def.increment > 0 {
                    def.min
                } else {
                    def.max
                }
            }
            _ => {
                return Err(Error::new(
                    code::SEQUENCE_GENERATOR_LIMIT_EXCEEDED,
                    format!(
                        "nextval: reached {} value of sequence \"{}\" ({})",
                        if def.increment > 0 {
                            "maximum"
                        } else {
                            "minimum"
                        },
                        shown(name),
                        if def.increment > 0 { def.max } else { def.min }
                    ),
                ))
            }
        };
        let covered = match def.reserved {
            Some(r) if state.last.is_some() => {
                if def.increment > 0 {
                    next <= r
                } else {
                    next >= r
                }
            }
            _ => false,
        };
        if !covered {
            let ahead = def.increment.saturating_mul(CACHE - 1);
            let reserve = next.saturating_add(ahead).clamp(def.min, def.max);
            def.reserved = Some(reserve);
            let snapshot = def.clone();
            self.store(name, &snapshot, waits)?;
        }
        state.last = Some(next);
        Ok(next)
    }

    /// `setval(name, value)`: the next nextval returns value + increment.
    pub fn setval(&self, name: &str, value: i64, waits: &mut Vec<Pending>) -> Result<i64> {
        let mut cache = self.cache();
        let mut def = match cache.remove(name) {
            Some(s) => s.def,
            None => self.load(name)?.ok_or_else(|| {
                Error::new(
                    code::UNDEFINED_TABLE,
                    format!("relation \"{name}\" does not exist"),
                )
            })?,
        };
        if value < def.min || value > def.max {
            return Err(Error::new(
                "22003",
                format!(
                    "setval: value {value} is out of bounds for sequence \"{}\" ({}..{})",
                    shown(name),
                    def.min,
                    def.max
                ),
            ));
        }
        def.reserved = Some(value);
        self.store(name, &def, waits)?;
        cache.insert(
            name.to_string(),
            State {
                def,
                last: Some(value),
            },
        );
        Ok(value)
    }

    /// The last value `nextval` gave in this process (currval needs it per session; the
    /// session keeps its own and falls back to this).
    pub fn last(&self, name: &str) -> Option<i64> {
        self.cache().get(name).and_then(|s| s.last)
    }
}
