//! The ledger: rated records as Arrow record batches in Parquet files, with
//! durable, offset-carrying commits.
//!
//! The crate has no code yet: batch rating writes JSON lines.
