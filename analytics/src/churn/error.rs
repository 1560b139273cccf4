//! What can go wrong reading a feature table, training, scoring or
//! reporting: one variant per cause, naming the column, row or file.

use std::path::PathBuf;

/// A churn error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChurnError {
    /// Reading or writing a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A feature file that is neither CSV nor Parquet (by its extension).
    #[error("{}: a feature table is read from .csv or .parquet files", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// A file larger than [`crate::churn::FILE_BYTES_MAX`].
    #[error("{}: {bytes} bytes; feature tables of at most {max} bytes are read", path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
        /// The bound.
        max: u64,
    },
    /// A CSV file that does not parse.
    #[error("{source_name}: line {line}: {message}")]
    Csv {
        /// The file's name.
        source_name: String,
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A table with no rows.
    #[error("{source_name}: the table has no rows")]
    Empty {
        /// The file's name.
        source_name: String,
    },
    /// More rows or columns than the bounds allow.
    #[error("{source_name}: more than {max} {what}")]
    TooLarge {
        /// The file's name.
        source_name: String,
        /// `rows` or `columns`.
        what: &'static str,
        /// The bound.
        max: usize,
    },
    /// Two columns of the same name.
    #[error("{source_name}: the column {column:?} appears twice")]
    DuplicateColumn {
        /// The file's name.
        source_name: String,
        /// The column.
        column: String,
    },
    /// A column the command needs that the table does not have.
    #[error("the table has no column {column:?} (it has: {available})")]
    NoColumn {
        /// The column.
        column: String,
        /// The columns it has, comma-separated.
        available: String,
    },
    /// A label that is not 1/0, true/false or yes/no.
    #[error("column {column:?}, {row}: the label {value:?} is not 1/0, true/false or yes/no")]
    BadLabel {
        /// The label column.
        column: String,
        /// The row (`line N` of a CSV file, `row N` otherwise).
        row: String,
        /// The value as written.
        value: String,
    },
    /// A label that is missing.
    #[error("column {column:?}, {row}: the label is missing")]
    MissingLabel {
        /// The label column.
        column: String,
        /// The row.
        row: String,
    },
    /// A label column with one class only: nothing to learn.
    #[error("column {column:?}: every label is {value}; training needs both classes")]
    OneClass {
        /// The label column.
        column: String,
        /// The one class.
        value: bool,
    },
    /// Too few rows of a class for a train, validation and test split.
    #[error("column {column:?}: {count} rows of class {value}; at least {min} are needed to split")]
    TooFewRows {
        /// The label column.
        column: String,
        /// The class.
        value: bool,
        /// Rows of that class.
        count: usize,
        /// The least that splits.
        min: usize,
    },
    /// A column that is numbers but for a few values.
    #[error(
        "column {column:?}, {row}: {value:?} is not a number, but {numbers} of the column's {values} values are; \
         fix the value or leave it empty"
    )]
    NotANumber {
        /// The column.
        column: String,
        /// The row.
        row: String,
        /// The value.
        value: String,
        /// Values that are numbers.
        numbers: usize,
        /// Values that are not missing.
        values: usize,
    },
    /// No feature column is left once the label and id columns are set aside.
    #[error("no feature columns: the table has only the label and id-like columns")]
    NoFeatures,
    /// A linfa model failed to fit.
    #[error("fitting the {model} model: {message}")]
    Fit {
        /// `logistic` or `tree`.
        model: &'static str,
        /// linfa's message.
        message: String,
    },
    /// A model file that cannot be read.
    #[error("{}: not a ratewire churn model: {message}", path.display())]
    ModelFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Bad arguments (as-of dates, horizon, ...).
    #[error("{0}")]
    Invalid(String),
    /// A query over the ledger failed.
    #[error(transparent)]
    Sql(#[from] crate::error::Error),
    /// Reading or writing Parquet.
    #[error("Parquet: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    /// Building or converting Arrow data.
    #[error("Arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
}
