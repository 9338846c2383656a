//! Keyspace administration: create, drop, look up and list.

use super::{lock, Db, Tree, DEFAULT_KEYSPACE};
use crate::batch::KeyspaceId;
use crate::manifest::Edit;
use crate::LogRecord;
use crate::{Error, Result};

impl super::Inner {
    /// Writes a keyspace change into the WAL (durably) before the manifest records it, in
    /// order with the batches around it, for point-in-time restore. Called under `write_lock`.
    fn log_ddl(&self, record: &LogRecord) -> Result<()> {
        if let Some(payload) = record.encode_ddl() {
            self.wal.append(payload)?.wait()?;
        }
        Ok(())
    }
}

impl Db {
    /// Creates a keyspace; returns its id.
    pub fn create_keyspace(&self, name: &str) -> Result<KeyspaceId> {
        self.make_keyspace(name, false)
    }

    /// The id of keyspace `name`, created if it does not exist yet, in one step: two threads
    /// that both find it missing (a cluster node opening its SQL catalog while it applies a
    /// replicated write that names the catalog's keyspace) get the same keyspace, where
    /// "look up, then create" failed one of them with `KeyspaceExists`.
    pub fn open_keyspace(&self, name: &str) -> Result<KeyspaceId> {
        match self.keyspace(name) {
            Some(id) => Ok(id),
            None => self.make_keyspace(name, true),
        }
    }

    /// Creates keyspace `name`; if it exists, returns its id when `open`, else fails.
    fn make_keyspace(&self, name: &str, open: bool) -> Result<KeyspaceId> {
        let inner = &self.inner;
        inner.check_poison()?;
        let mut ws = lock(&inner.write_lock);
        let existing = inner
            .trees()
            .keyspaces
            .iter()
            .find(|(_, t)| t.name == name)
            .map(|(id, _)| *id);
        match existing {
            Some(id) if open => return Ok(id),
            Some(_) => return Err(Error::KeyspaceExists(name.to_string())),
            None => {}
        }
        let id = ws.next_keyspace;
        inner.log_ddl(&LogRecord::CreateKeyspace(id, name.to_string()))?;
        lock(&inner.manifest).append(&[Edit::AddKeyspace(id, name.to_string())])?;
        ws.next_keyspace += 1;
        inner.trees_mut().keyspaces.insert(
            id,
            Tree {
                name: name.to_string(),
                mem: std::sync::Arc::new(crate::memtable::Memtable::with_capacity(
                    inner.opts.memtable_bytes,
                )),
                ..Tree::default()
            },
        );
        Ok(id)
    }

    /// Drops a keyspace and all its data (the default keyspace cannot be dropped). Its id is
    /// never handed out again; its tables are deleted once no reader holds them.
    pub fn drop_keyspace(&self, id: KeyspaceId) -> Result<()> {
        let inner = &self.inner;
        inner.check_poison()?;
        if id == DEFAULT_KEYSPACE {
            return Err(Error::DefaultKeyspace);
        }
        let _ws = lock(&inner.write_lock);
        if !inner.trees().keyspaces.contains_key(&id) {
            return Err(Error::UnknownKeyspace(id));
        }
        inner.log_ddl(&LogRecord::DropKeyspace(id))?;
        let mut manifest = lock(&inner.manifest);
        manifest.append(&[Edit::DropKeyspace(id)])?;
        let tree = inner.trees_mut().keyspaces.remove(&id);
        for t in tree.iter().flat_map(|t| t.tables.iter()) {
            t.mark_obsolete();
        }
        Ok(())
    }

    /// The id of the keyspace named `name`.
    pub fn keyspace(&self, name: &str) -> Option<KeyspaceId> {
        self.inner
            .trees()
            .keyspaces
            .iter()
            .find(|(_, t)| t.name == name)
            .map(|(id, _)| *id)
    }

    /// The length of keyspace `id`'s name (without copying it).
    pub fn keyspace_name_len(&self, id: KeyspaceId) -> Option<usize> {
        self.inner.trees().keyspaces.get(&id).map(|t| t.name.len())
    }

    /// Every keyspace, by id.
    pub fn keyspaces(&self) -> Vec<(KeyspaceId, String)> {
        self.inner
            .trees()
            .keyspaces
            .iter()
            .map(|(id, t)| (*id, t.name.clone()))
            .collect()
    }
}
