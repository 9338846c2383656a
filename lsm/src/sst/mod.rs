//! SSTables: immutable sorted files of internal keys. Format: `lsm/FORMAT.md`.

pub mod block;
mod bloom;
mod builder;
mod format;
mod prefixes;
mod reader;

pub use builder::{TableBuilder, TableInfo, TableOptions};
pub use format::{BlockHandle, Properties, MAGIC, VERSION};
pub use reader::{Table, TableCache, TableIter};

#[cfg(test)]
mod tests;
