//! The ledger: rated records, balance draws, rejects and lifecycle facts as
//! Parquet files in a directory, written by atomic commits that carry the
//! source offsets they cover and a checkpoint of the caller's state.
//!
//! The central types:
//! - [`Table`], the ledger's tables and their Arrow schemas
//!   (`docs/ledger.md` describes every column);
//! - [`rated_batch`], [`draws_batch`], [`rejects_batch`] and
//!   [`facts_batch`], which turn the rater's records into Arrow record
//!   batches without rounding anything;
//! - [`Ledger`], a directory of Hive-style partitioned Parquet files and
//!   numbered [`Manifest`]s: [`Ledger::open`] recovers it after a crash and
//!   returns the committed offsets and checkpoint, [`Ledger::commit`] books
//!   a [`Commit`] atomically, [`Ledger::committed_files`] lists what readers
//!   may read, and [`Ledger::compact`] merges a partition's small files into
//!   one ([`CompactOptions`]), moving the old ones to the trash, and
//!   [`Ledger::close_period`] closes a billing period ([`CloseOptions`]),
//!   recording its totals ([`PeriodClose`]); rows for a closed period are
//!   refused from then on;
//! - [`Snapshot`], the committed files as of one commit, for readers beside
//!   the writer: it takes no lock and finds files a later compaction moved
//!   to the trash;
//! - [`members`], the ledgers of a shared root, one per writing instance
//!   (scale-out), which readers take together.
//!
//! ```
//! use ratewire_ledger::{Commit, Ledger, SourceRange, Table};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let (mut ledger, recovery) = Ledger::open(dir.path()).unwrap();
//! assert_eq!(recovery.sequence, 0);
//!
//! let offsets = [SourceRange { source: "events.jsonl".into(), partition: 0, from: 1, to: 3 }];
//! let commit = Commit {
//!     rated: &[],
//!     rejected: &[],
//!     facts: &[],
//!     offsets: &offsets,
//!     checkpoint: b"state",
//!     booked_at: chrono::Utc::now(),
//! };
//! let manifest = ledger.commit(&commit).unwrap();
//! assert_eq!(manifest.sequence, 1);
//! assert_eq!(ledger.totals()[&Table::Rated].rows, 0);
//!
//! drop(ledger); // One handle at a time: the next open takes the lock.
//! let (_, recovery) = Ledger::open(dir.path()).unwrap();
//! assert_eq!(recovery.offsets, offsets);
//! assert_eq!(recovery.checkpoint, b"state");
//! ```

mod batch;
mod bounds;
mod close;
mod commit;
mod compact;
mod durable;
mod error;
mod ids;
mod manifest;
mod members;
mod parallel;
mod rerate;
mod schema;
mod snapshot;
#[cfg(test)]
mod testing;
mod totals;
mod trash;
mod writer;

pub use batch::{RejectedEvent, draws_batch, facts_batch, kind_name, rated_batch, rejects_batch, to_micros};
pub use bounds::{
    CHECKPOINT_BYTES_MAX, COMMIT_FILES_MAX, COMPACT_COMMIT_INPUTS_MAX, COMPACT_FILE_ROWS_MAX, MANIFEST_BYTES_MAX,
    READ_BACK_BATCH_ROWS, ROW_GROUP_ROWS_DEFAULT, ROW_GROUP_ROWS_MAX, SOURCE_PARTITIONS_MAX,
    TRASH_GRACE_MINUTES_DEFAULT, ZSTD_LEVEL_DEFAULT,
};
pub use close::{CloseOptions, ClosedPeriod, PERIOD_TABLES, PeriodClose};
pub use commit::{Commit, LOCK_FILE, Ledger, Recovery, Step};
pub use compact::{CompactOptions, CompactionReport, PartitionPlan, PartitionReport};
pub use error::Error;
pub use manifest::{
    CheckpointFile, CommitKind, DataFile, MANIFEST_DIR, MANIFEST_FORMAT, Manifest, SourceRange, checkpoint_name,
    manifest_name,
};
pub use members::{MEMBERS_DIR, member_dir, members};
pub use rerate::{AccountDifference, Amounts, RerateOptions, RerateRecord, RerateReport};
pub use schema::{DECIMAL_PRECISION, DECIMAL_SCALE, SORT_COLUMNS, TIME_ZONE, Table, decimal_type, time_type};
pub use snapshot::Snapshot;
pub use totals::{Totals, format_units, parse_units, to_units};
pub use trash::TRASH_DIR;
pub use writer::{Partition, Writer, WriterConfig};
