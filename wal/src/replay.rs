//! Reading the log back in LSN order.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use orbit_env::FileSystem;

use crate::format::Lsn;
use crate::segment::{Record, SegmentCursor};
use crate::Result;

/// An iterator over the data records of the log from an LSN, in order. After an error it ends.
pub struct Replay {
    fs: Arc<dyn FileSystem>,
    segments: VecDeque<(PathBuf, Lsn, Lsn)>,
    cursor: Option<SegmentCursor>,
    from: Lsn,
    failed: bool,
}

impl Replay {
    pub(crate) fn new(
        fs: Arc<dyn FileSystem>,
        segments: Vec<(PathBuf, Lsn, Lsn)>,
        from: Lsn,
    ) -> Replay {
        let segments = segments
            .into_iter()
            .filter(|(_, _, end)| *end > from)
            .collect();
        Replay {
            fs,
            segments,
            cursor: None,
            from,
            failed: false,
        }
    }

    fn step(&mut self) -> Result<Option<Record>> {
        loop {
            if self.cursor.is_none() {
                let Some((path, _first, end)) = self.segments.pop_front() else {
                    return Ok(None);
                };
                self.cursor = Some(SegmentCursor::load(self.fs.as_ref(), &path, Some(end))?);
            }
            let Some(cursor) = self.cursor.as_mut() else {
                continue;
            };
            match cursor.next_record()? {
                Some(r) if r.lsn < self.from => continue,
                Some(r) => return Ok(Some(r)),
                None => self.cursor = None,
            }
        }
    }
}

impl Iterator for Replay {
    type Item = Result<Record>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.step() {
            Ok(r) => r.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
