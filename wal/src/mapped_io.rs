//! The mapped backend, for the `none` and `periodic` sync modes: a write group is copied into a
//! shared memory mapping of the active segment instead of being written by `pwritev`.
//!
//! In those modes a record is acknowledged once the operating system holds it, so the writer
//! (usually the appending thread itself) paid a system call per record: about a fifth of a
//! single-threaded fill's time. A store into a `MAP_SHARED` mapping lands in the same page
//! cache: other readers of the file see it at once, it survives the process being killed,
//! and the file's `fdatasync` (periodic sync, switch, close) makes it durable, as for a write.
//!
//! Invariants: a segment is mapped only after its whole size was allocated (`fallocate`), so
//! a store never meets a full disk (which would be `SIGBUS` rather than an error); only the
//! active segment is mapped, and segments are never shrunk while active; a segment that cannot
//! be allocated or mapped is written through the fallback backend instead, as is anything
//! asked to be synced in the same call.

use std::path::PathBuf;
use std::sync::Arc;

use orbit_env::{File, MappedFile};

use crate::io::SegmentIo;

/// The mapped backend (see the module docs).
pub(crate) struct MappedIo {
    fallback: Box<dyn SegmentIo>,
    segment_size: u64,
    /// The active segment's path and its mapping (`None`: written through `fallback`).
    current: Option<(PathBuf, Option<Arc<dyn MappedFile>>)>,
}

impl MappedIo {
    pub(crate) fn new(fallback: Box<dyn SegmentIo>, segment_size: u64) -> MappedIo {
        MappedIo {
            fallback,
            segment_size,
            current: None,
        }
    }

    /// The mapping of `file`, made on its first write.
    fn mapping(&mut self, file: &dyn File) -> Option<&Arc<dyn MappedFile>> {
        if self
            .current
            .as_ref()
            .is_none_or(|(path, _)| path != file.path())
        {
            // Drop the previous segment's mapping before making the next one.
            self.current = None;
            let mapped = file
                .allocate(self.segment_size)
                .and_then(|()| file.map_writable(self.segment_size));
            let mapped = match mapped {
                Ok(m) => m,
                Err(e) => {
                    tracing::debug!(path = %file.path().display(), error = %e,
                        "wal segment not mapped; written with pwritev");
                    None
                }
            };
            self.current = Some((file.path().to_path_buf(), mapped));
        }
        self.current.as_ref().and_then(|(_, m)| m.as_ref())
    }
}

impl SegmentIo for MappedIo {
    fn name(&self) -> &'static str {
        "mmap"
    }

    fn write(
        &mut self,
        file: &dyn File,
        offset: u64,
        buf: &[u8],
        sync: bool,
    ) -> orbit_env::Result<()> {
        if !sync {
            if let Some(m) = self.mapping(file) {
                if offset.saturating_add(buf.len() as u64) <= m.len() {
                    return m.write_at(buf, offset);
                }
            }
        }
        self.fallback.write(file, offset, buf, sync)
    }

    fn sync(&mut self, file: &dyn File) -> orbit_env::Result<()> {
        // fdatasync writes back the pages dirtied through the mapping too.
        self.fallback.sync(file)
    }
}
