//! Errors of the RESP layer: storage failures under a command. Protocol-level problems are
//! replies (`Reply::Error`), not errors.

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// A failure below the protocol.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The transaction layer failed.
    #[error(transparent)]
    Txn(#[from] orbit_txn::Error),
    /// The storage engine failed.
    #[error(transparent)]
    Lsm(#[from] orbit_lsm::Error),
    /// The connection failed.
    #[error("connection i/o: {0}")]
    Io(#[from] std::io::Error),
}
