//! The crate's errors: one variant per cause, carrying what caused it.

use std::net::SocketAddr;
use std::path::PathBuf;

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use datafusion::parquet::errors::ParquetError;

/// What went wrong opening the ledger, planning or running a query, or
/// writing its result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The ledger's manifests could not be read.
    #[error(transparent)]
    Ledger(#[from] ratewire_ledger::Error),
    /// A directory without the ledger's `_manifest/`.
    #[error("{} is not a ledger (it has no _manifest/)", path.display())]
    NotALedger {
        /// The directory.
        path: PathBuf,
    },
    /// A version was asked for of the shared root of several ledgers.
    #[error("{} is the shared root of several ledgers: a version (--as-of) is one ledger's; name a member", path.display())]
    AsOfShared {
        /// The directory.
        path: PathBuf,
    },
    /// The accounts reference file could not be read.
    #[error(transparent)]
    Accounts(#[from] ratewire_rater::LoadError),
    /// An amount in the accounts file that `Decimal128(38, 10)` cannot hold
    /// exactly.
    #[error("accounts: {account} has the amount {value}, which has more than ten decimals or more than 38 digits")]
    AccountAmount {
        /// The account.
        account: String,
        /// The amount as written.
        value: String,
    },
    /// DataFusion refused or failed the statement; its message as is
    /// (which already holds its causes, so it has no `source`).
    #[error("{0}")]
    Sql(DataFusionError),
    /// A statement that would change something or read outside the ledger.
    #[error(
        "refused: {statement} is not allowed; the ledger is read-only here \
         (only SELECT, WITH, VALUES, EXPLAIN, DESCRIBE and SHOW are accepted)"
    )]
    ReadOnly {
        /// The kind of statement, as SQL (`INSERT`, `CREATE EXTERNAL TABLE`, ...).
        statement: String,
    },
    /// A table function other than the built-in generators: it could read
    /// files outside the ledger.
    #[error("refused: table function {name}() is not allowed; only the ledger's tables and generate_series/range are")]
    TableFunction {
        /// The function's name.
        name: String,
    },
    /// More statements in one request than [`crate::STATEMENTS_PER_REQUEST_MAX`].
    #[error("{count} statements in one request; at most {max} are accepted")]
    TooManyStatements {
        /// Statements found.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// An output format that takes one result was given several statements.
    #[error("{count} statements, but the {format} format writes one result; run them one at a time")]
    OneResult {
        /// Statements found.
        count: usize,
        /// The format's name.
        format: &'static str,
    },
    /// The Parquet format needs a file to write to.
    #[error("the parquet format needs --output FILE")]
    ParquetNeedsFile,
    /// Reading or writing a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Writing to standard output or another stream.
    #[error("writing the result: {0}")]
    Write(#[source] std::io::Error),
    /// Encoding a result as CSV or JSON, or building a batch.
    #[error("encoding the result: {0}")]
    Arrow(#[from] ArrowError),
    /// Writing a result as Parquet.
    #[error("writing Parquet: {0}")]
    Parquet(#[from] ParquetError),
    /// The async runtime DataFusion runs on could not start.
    #[error("starting the query runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A report period that is not `YYYY-MM`.
    #[error("the period {value:?} is not YYYY-MM")]
    Period {
        /// The period as given.
        value: String,
    },
    /// An invoice with more lines than [`crate::INVOICE_LINES_MAX`].
    #[error("the invoice of {account} has more than {max} lines")]
    InvoiceTooLong {
        /// The account.
        account: String,
        /// The bound.
        max: usize,
    },
    /// `serve-sql` could not listen.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl From<DataFusionError> for Error {
    fn from(error: DataFusionError) -> Self {
        Self::Sql(error)
    }
}
