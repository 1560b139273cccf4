//! The store's errors, one variant per cause.

use std::io;
use std::path::PathBuf;

use crate::copy::Step;

/// Why a push or a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A remote URL that is not `s3://bucket[/prefix]` nor `file:///path`.
    #[error("{url}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The object store refused or failed an operation.
    #[error("{location}: {source}")]
    Store {
        /// The object, or the store, concerned.
        location: String,
        /// What the object store said.
        source: object_store::Error,
    },
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The runtime that drives the object store could not be started.
    #[error("starting the I/O runtime: {0}")]
    Runtime(io::Error),
    /// The directory to push has no `_manifest/`.
    #[error("{path} is not a ledger (it has no _manifest/)")]
    NotALedger {
        /// The directory.
        path: PathBuf,
    },
    /// Another process has the ledger directory open (a writer, or a pull).
    #[error("{path}: locked by another process")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A manifest that cannot be read, or that is not valid.
    #[error("{location}: not a valid manifest: {reason}")]
    Manifest {
        /// Where it is.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A side's manifests are not numbered 1, 2, 3, ... without a gap.
    #[error("{location}: commit {sequence} is missing (the manifests after it are there)")]
    Gap {
        /// The ledger directory or remote.
        location: String,
        /// The first missing commit.
        sequence: u64,
    },
    /// The destination holds a commit that is not the source's: another
    /// ledger's, or one the source does not have.
    #[error("{location}: commit {sequence} {reason}; refusing to mix two ledgers")]
    Diverged {
        /// The destination.
        location: String,
        /// The commit.
        sequence: u64,
        /// How it differs.
        reason: String,
    },
    /// A data file a commit lists is neither in place nor in the trash at
    /// the source.
    #[error("{location}: {file}, listed by commit {sequence}, is missing")]
    MissingFile {
        /// The source.
        location: String,
        /// The commit that added it.
        sequence: u64,
        /// Its path, relative to the ledger.
        file: String,
    },
    /// A file's size differs from the one its manifest lists, or it changed
    /// while it was copied.
    #[error("{location}: {file} is {actual} bytes, not the {expected} listed")]
    Size {
        /// Where it was read.
        location: String,
        /// Its path, relative to the ledger.
        file: String,
        /// The size listed.
        expected: u64,
        /// The size found.
        actual: u64,
    },
    /// The source kept changing under the copy: files moved away or
    /// checkpoints replaced in every one of [`crate::COPY_ROUNDS_MAX`]
    /// rounds.
    #[error("{location}: still changing after {rounds} rounds; try again")]
    Unsettled {
        /// The source.
        location: String,
        /// Rounds made.
        rounds: usize,
    },
    /// The hook of [`crate::push_with`] or [`crate::pull_with`] stopped the
    /// copy after this step.
    #[error("stopped after {0:?}")]
    Aborted(Step),
}

/// Maps an I/O error on `path` to [`Error::Io`].
pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// Maps an object store error on `location` to [`Error::Store`].
pub(crate) fn store(location: &impl std::fmt::Display) -> impl FnOnce(object_store::Error) -> Error + '_ {
    move |source| Error::Store { location: location.to_string(), source }
}
