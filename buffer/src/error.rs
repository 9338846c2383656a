//! The crate's error type.

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error of the block cache: only its loaders can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the block failed.
    #[error("block read failed")]
    Env(#[from] orbit_env::Error),
}
