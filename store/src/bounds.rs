//! Every limit of the store, in one place.
//!
//! Memory: a copy holds one file at a time, and of a large file at most
//! ([`MULTIPART_PARTS_IN_FLIGHT`] + 1) × [`MULTIPART_PART_BYTES`] bytes, so
//! about 24 MiB whatever the size of the ledger's files; besides that, the
//! paths of the files removed by the commits being copied.

/// Files up to this size are sent in one PUT, read into memory whole;
/// larger ones are sent as a multipart upload.
pub const PUT_SINGLE_BYTES_MAX: u64 = 8 * 1024 * 1024;

/// Size of one part of a multipart upload. S3 wants at least 5 MiB (but for
/// the last part) and at most 10,000 parts: files up to 78 GiB.
pub const MULTIPART_PART_BYTES: usize = 8 * 1024 * 1024;

/// Parts of one multipart upload sent at the same time.
pub const MULTIPART_PARTS_IN_FLIGHT: usize = 2;

/// Bytes read from a local file at a time.
pub const READ_CHUNK_BYTES: usize = 1024 * 1024;

/// Rounds a push or pull makes when the source changes under it (a file
/// moved to the trash by a compaction, a checkpoint replaced by a newer
/// commit): each round lists the source again and goes on from where the
/// destination is.
pub const COPY_ROUNDS_MAX: usize = 8;
