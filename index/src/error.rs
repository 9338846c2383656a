//! The index crate's error type.

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error of an index family.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Stored bytes do not decode: names what was being read.
    #[error("corrupt {0}")]
    Corrupt(&'static str),
    /// The storage engine failed.
    #[error(transparent)]
    Storage(#[from] orbit_lsm::Error),
}
