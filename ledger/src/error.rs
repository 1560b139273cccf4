//! The ledger's errors, one variant per cause.

use std::io;
use std::path::PathBuf;

use ratewire_rater::time::Period;

use crate::commit::Step;
use crate::schema::Table;

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// Writing or reading a Parquet file failed.
    #[error("{path}: {source}")]
    Parquet {
        /// The data file.
        path: PathBuf,
        /// What the Parquet library said.
        source: parquet::errors::ParquetError,
    },
    /// Building an Arrow record batch failed.
    #[error("building a record batch: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A manifest is not valid.
    #[error("{path}: not a valid manifest: {reason}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A manifest refers to a file that is not there.
    #[error("{manifest}: lists {file}, which is missing")]
    MissingFile {
        /// The manifest.
        manifest: PathBuf,
        /// The missing file, relative to the ledger directory.
        file: String,
    },
    /// A configuration value is out of range.
    #[error("ledger config: {field} = {value}: {reason}")]
    Config {
        /// The field.
        field: &'static str,
        /// Its value.
        value: String,
        /// The accepted range.
        reason: &'static str,
    },
    /// A source offset range ends before it starts.
    #[error("offsets {source_name}/{partition}: range {from}..{to} is reversed")]
    ReversedRange {
        /// The source.
        source_name: String,
        /// Its partition.
        partition: i32,
        /// First offset.
        from: i64,
        /// Offset after the last.
        to: i64,
    },
    /// A commit covers offsets an earlier commit already covers: booking them
    /// again would duplicate events.
    #[error("offsets {source_name}/{partition}: {from}..{to} overlaps offsets already committed up to {committed_to}")]
    OffsetsOverlap {
        /// The source.
        source_name: String,
        /// Its partition.
        partition: i32,
        /// First offset of the new range.
        from: i64,
        /// Offset after the last of the new range.
        to: i64,
        /// Offset after the last one committed before.
        committed_to: i64,
    },
    /// More source partitions than [`crate::SOURCE_PARTITIONS_MAX`].
    #[error("offsets: {count} source partitions, at most {max} allowed")]
    TooManySourcePartitions {
        /// How many the commit would make.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// A commit would write more files than [`crate::COMMIT_FILES_MAX`].
    #[error("a commit may write at most {max} files; this one needs {count}")]
    TooManyFiles {
        /// How many.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// A checkpoint is larger than [`crate::CHECKPOINT_BYTES_MAX`].
    #[error("checkpoint of {size} bytes; at most {max} allowed")]
    CheckpointTooLarge {
        /// Its size.
        size: u64,
        /// The bound.
        max: u64,
    },
    /// The manifest the commit was about to publish exists: another writer
    /// is using the ledger directory.
    #[error("{path}: already exists; is another process writing to this ledger?")]
    Conflict {
        /// The manifest.
        path: PathBuf,
    },
    /// Another process has the ledger open.
    #[error("{path}: the ledger is open in another process")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The commit hook asked to stop (crash tests).
    #[error("commit stopped by its hook after {0:?}")]
    Aborted(Step),
    /// A data file does not hold the table's columns.
    #[error("{path}: not a {table} file (its columns differ from the table's)")]
    Schema {
        /// The data file.
        path: PathBuf,
        /// The table its manifest files it under.
        table: Table,
    },
    /// A snapshot was asked for a commit the ledger does not have yet.
    #[error("the ledger has no commit {sequence}; its latest is {latest}")]
    NoSuchCommit {
        /// The commit asked for.
        sequence: u64,
        /// The latest commit.
        latest: u64,
    },
    /// A file a snapshot lists is neither in place nor in the trash: a
    /// compaction removed it and the trash was emptied after its grace
    /// period. Take a new snapshot.
    #[error("{file}, listed as of commit {sequence}, has left the ledger and its trash; take a newer snapshot")]
    Gone {
        /// The file, relative to the ledger directory.
        file: String,
        /// The snapshot's commit.
        sequence: u64,
    },
    /// A close was asked for a period that is closed already: by its own
    /// close or by the close of a later one. Nothing was written.
    #[error("period {period} is closed already (closed through {closed_through} by commit {sequence}); nothing to do")]
    AlreadyClosed {
        /// The period asked for.
        period: Period,
        /// The latest period closed.
        closed_through: Period,
        /// The close commit that closed it.
        sequence: u64,
    },
    /// A close was asked for a period after the last one holding rows.
    #[error("period {period} holds no rows and no later period does ({}); nothing to close", last_with_rows(*.last))]
    PeriodAfterRows {
        /// The period asked for.
        period: Period,
        /// The last period holding rows, if any.
        last: Option<Period>,
    },
    /// A close was asked for a period that has not ended yet.
    #[error("period {period} has not ended: it is {now} (UTC); close it from the first day of the next month")]
    PeriodNotOver {
        /// The period asked for.
        period: Period,
        /// The close's clock.
        now: chrono::DateTime<chrono::Utc>,
    },
    /// A close was asked for a period while an earlier one holding rows is
    /// still open: periods close in order.
    #[error("period {open} holds rows and is not closed; periods close in order, so close {open} before {period}")]
    EarlierPeriodOpen {
        /// The period asked for.
        period: Period,
        /// The earliest period holding rows that is not closed.
        open: Period,
    },
    /// A commit would book a row in a closed period: the caller should have
    /// booked it in an open one, naming the closed one as its original
    /// period. Nothing was written.
    #[error("{table} row {event_id} is booked in period {period}, which is closed (closed through {closed_through})")]
    PeriodClosed {
        /// The table.
        table: Table,
        /// The row's event id.
        event_id: String,
        /// The period it would be booked in.
        period: Period,
        /// The latest period closed.
        closed_through: Period,
    },
    /// A rerate of a closed period.
    #[error(
        "period {period} is closed (closed through {closed_through}): its rows are final; book corrections in the open period as adjustments"
    )]
    RerateClosed {
        /// The period asked for.
        period: Period,
        /// The latest period closed.
        closed_through: Period,
    },
    /// A rerate of a period that has not ended.
    #[error("period {period} has not ended: it is {now} (UTC); rerate it once it is over, with the pipeline stopped")]
    RerateNotOver {
        /// The period asked for.
        period: Period,
        /// The rerate's clock.
        now: chrono::DateTime<chrono::Utc>,
    },
    /// A rerate of a period without rated rows (of the accounts asked for).
    #[error("period {period} holds no rated rows{}; nothing to rerate", if *.limited { " of the accounts given" } else { "" })]
    NothingToRerate {
        /// The period asked for.
        period: Period,
        /// Whether the rerate was limited to some accounts.
        limited: bool,
    },
    /// Rows a rerate cannot turn back into the events they booked.
    #[error("cannot rerate {period}: {reason}")]
    CannotRerate {
        /// The period asked for.
        period: Period,
        /// What is missing, naming the row and file.
        reason: String,
    },
    /// The new catalog rejects events the ledger booked.
    #[error(
        "the new catalog rejects {count} event(s) of {period} that the ledger booked, so nothing was written; the first: {first}"
    )]
    RerateRejected {
        /// The period asked for.
        period: Period,
        /// How many events it rejects.
        count: usize,
        /// The first, with its code and message.
        first: String,
    },
    /// An earlier commit of this handle failed part-way.
    #[error("an earlier commit failed part-way; open the ledger again to recover it")]
    NeedsRecovery,
}

/// Names the last period holding rows, for [`Error::PeriodAfterRows`].
fn last_with_rows(last: Option<Period>) -> String {
    match last {
        Some(last) => format!("the last one with rows is {last}"),
        None => "the ledger holds no rows".to_string(),
    }
}

/// Attaches a path to an I/O error.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
