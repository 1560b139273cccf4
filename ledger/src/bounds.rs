//! Every limit of the ledger, in one place.

/// Rows per Parquet row group unless configured otherwise. Close to DuckDB's
/// own row-group size (122,880), so that readers split a large file into
/// enough units to read in parallel, and large enough for ZSTD and dictionary
/// encoding to compress well.
pub const ROW_GROUP_ROWS_DEFAULT: usize = 131_072;

/// The largest row group a configuration may ask for (Parquet's own default).
pub const ROW_GROUP_ROWS_MAX: usize = 1_048_576;

/// ZSTD level unless configured otherwise: the fastest. Against the codec's
/// own default of 3, level 1 took 15% less time in the commits for files
/// 3% larger (`bench/examples/invoice_ledger`, 4,000,000 rows), and
/// the ledger stage is on the pipeline's critical path.
pub const ZSTD_LEVEL_DEFAULT: i32 = 1;

/// Threads that write and check one commit's data files at most (step 1 of
/// the commit protocol); fewer on a machine with fewer cores.
pub const COMMIT_WRITE_THREADS_MAX: usize = 4;

/// Rows from which a data file's columns are encoded and compressed on
/// several threads (as many as write a commit's files): a commit's largest
/// file, the day most of its events fall on, would otherwise keep one
/// thread busy long after the others finished the small ones.
pub const PARALLEL_COLUMNS_ROWS_MIN: usize = 16_384;

/// Data files one commit may write (one per table and partition it touches).
pub const COMMIT_FILES_MAX: usize = 4096;

/// Source partitions a ledger may hold offsets for.
pub const SOURCE_PARTITIONS_MAX: usize = 65_536;

/// Size of one manifest file; a larger one is taken as corrupt rather than
/// read into memory.
pub const MANIFEST_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// Size of one checkpoint blob.
pub const CHECKPOINT_BYTES_MAX: u64 = 1024 * 1024 * 1024;

/// Rows decoded at a time when a written file is read back for checking.
pub const READ_BACK_BATCH_ROWS: usize = 8192;

/// Rows a compaction merges into one file, unless configured lower; a
/// partition holding more is merged into several files. The merge holds
/// one file's rows in memory, decoded, and a sorted copy of them: some
/// hundreds of MiB for `rated` at this bound.
pub const COMPACT_FILE_ROWS_MAX: u64 = 1_048_576;

/// Files one compaction commit removes; a compaction of more makes several
/// commits. Keeps the manifest far below [`MANIFEST_BYTES_MAX`] and limits
/// the work a crash throws away.
pub const COMPACT_COMMIT_INPUTS_MAX: usize = 65_536;

/// Minutes a compaction's removed files stay in the trash, unless
/// configured otherwise: how long a reader that listed its files before the
/// compaction may take to open them.
pub const TRASH_GRACE_MINUTES_DEFAULT: u64 = 60;
