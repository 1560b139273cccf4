//! The ledger mirrored to object storage: S3, an S3-compatible server, or a
//! directory through the same interface. The ledger directory stays the
//! writer's working copy (its commit protocol needs fsync and rename); a
//! remote holds the same files under the same names, and a commit becomes
//! visible there, as in the directory, only when its manifest arrives.
//!
//! The central types:
//! - [`Remote`], a prefix in an object store, from a URL
//!   ([`Remote::parse`]: `s3://bucket/prefix`, `file:///path`);
//! - [`push`], which copies the commits a remote lacks from a ledger
//!   directory, beside its writer, and [`pull`], which copies those a
//!   directory lacks from a remote, into a ledger that
//!   [`ratewire_ledger::Snapshot`] and [`ratewire_ledger::Ledger`] open:
//!   in sequence order, each commit's data files and checkpoint before its
//!   manifest, so that a copy that stops anywhere leaves a ledger as of its
//!   latest manifest and the next one goes on from there (`copy` describes
//!   the steps, [`Step`] names them);
//! - [`Report`], what a copy did.
//!
//! ```
//! use ratewire_ledger::{Commit, Ledger, Snapshot};
//! use ratewire_store::{Remote, pull, push};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let (ledger_dir, bucket, copy) = (dir.path().join("ledger"), dir.path().join("bucket"), dir.path().join("copy"));
//! let (mut ledger, _) = Ledger::open(&ledger_dir).unwrap();
//! let commit =
//!     Commit { rated: &[], rejected: &[], facts: &[], offsets: &[], checkpoint: b"state", booked_at: chrono::Utc::now() };
//! ledger.commit(&commit).unwrap();
//!
//! let remote = Remote::parse(&format!("file://{}/ledger", bucket.display())).unwrap();
//! let report = push(&ledger_dir, &remote).unwrap();
//! assert_eq!((report.before, report.after, report.commits), (0, 1, 1));
//! assert_eq!(push(&ledger_dir, &remote).unwrap().commits, 0);
//!
//! let report = pull(&remote, &copy).unwrap();
//! assert_eq!(report.after, 1);
//! assert_eq!(Snapshot::open(&copy).unwrap().checkpoint().unwrap(), b"state");
//! ```

mod bounds;
mod copy;
mod error;
mod local;
mod remote;
mod side;
#[cfg(test)]
mod tests;

pub use bounds::{
    COPY_ROUNDS_MAX, MULTIPART_PART_BYTES, MULTIPART_PARTS_IN_FLIGHT, PUT_SINGLE_BYTES_MAX, READ_CHUNK_BYTES,
};
pub use copy::{Report, Step, pull, pull_with, push, push_with};
pub use error::Error;
pub use remote::Remote;
