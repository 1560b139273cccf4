//! Every bound of the analytics crate, in one place.

/// Memory one query may hold for sorts, joins and aggregates before it
/// fails with "Resources exhausted" (rather than the process running out).
pub const QUERY_MEMORY_BYTES_MAX: usize = 1 << 30;

/// Rows the `table` output format prints: it lays out the whole result in
/// memory to align the columns. The other formats stream any number.
pub const TABLE_ROWS_MAX: usize = 100_000;

/// Statements one request may hold (a `ratewire sql` query or a Postgres
/// simple query).
pub const STATEMENTS_PER_REQUEST_MAX: usize = 64;

/// Bytes of one statement read by the interactive prompt, up to its `;`.
pub const STATEMENT_BYTES_MAX: usize = 1 << 20;

/// Connections `serve-sql` serves at once; more are closed at once (and
/// logged) until one ends.
pub const CONNECTIONS_MAX: usize = 64;

/// Wait before accepting again after `accept` failed (out of file
/// descriptors, say), in milliseconds.
pub const ACCEPT_RETRY_MS: u64 = 100;

/// Rows per record batch that queries produce and the output formats write.
pub const BATCH_ROWS: usize = 8_192;
