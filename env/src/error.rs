//! The crate's error type: an I/O failure, with the operation and the path it concerned.

use std::io;
use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error of the file-system seam.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system (or simulated) I/O error.
    #[error("could not {op} \"{}\"", path.display())]
    Io {
        /// What was being done: "open", "write", "sync", ...
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// An I/O error with its operation and path (for backends outside this crate, such as
    /// io_uring, that perform I/O on descriptors this crate opened).
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// The `io::ErrorKind` of the underlying error.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Error::Io { source, .. } => source.kind(),
        }
    }

    /// True when the device is full (ENOSPC).
    pub fn is_no_space(&self) -> bool {
        match self {
            Error::Io { source, .. } => {
                source.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error())
            }
        }
    }

    /// The operating system's error number, if there is one (EIO is 5, ENOSPC 28).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
        }
    }

    /// True when the path does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind() == io::ErrorKind::NotFound
    }
}
