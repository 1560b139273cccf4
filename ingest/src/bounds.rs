//! Every bound of the pipeline that is not a setting, in one place.

/// How long one poll of the source waits for a message, in milliseconds:
/// the longest a due commit or a shutdown request waits while input is idle.
pub const POLL_TIMEOUT_MS: u64 = 100;

/// How long the side outputs (dead letters, actions) may take to deliver a
/// commit's messages, in milliseconds, before the commit fails.
pub const SIDE_FLUSH_TIMEOUT_MS: u64 = 30_000;

/// How long a query of the broker's watermarks may take, in milliseconds.
pub const WATERMARKS_TIMEOUT_MS: u64 = 5_000;

/// How long starting an adopted partition at its offset may take, in
/// milliseconds.
pub const SEEK_TIMEOUT_MS: u64 = 10_000;

/// Partitions one pipeline may hold state for.
pub const PARTITIONS_MAX: usize = 4096;

/// Payload bytes after which a batch goes to its rate worker even if it
/// holds fewer than `pipeline.batch_messages_max` messages: the worker
/// queues hold `pipeline.queue_batches_max` batches each, and this keeps
/// their memory near that many MiB per worker whatever the message size
/// (a batch of 4,096 messages of 200 bytes is 0.8 MiB and not cut).
pub const BATCH_PAYLOAD_BYTES_MAX: usize = 1 << 20;

/// Rated batches each worker may have waiting to go back to the source
/// side, which reads the next messages into their payload buffers; a
/// worker frees a batch it cannot hand back.
pub const BATCHES_RETURNED_PER_WORKER: usize = 4;

/// Messages the source side keeps to read into, with their payload
/// buffers: about four batches of the default size.
pub const SPARE_MESSAGES_MAX: usize = 16_384;

/// A payload buffer larger than this is freed, not kept as a spare, so that
/// a burst of large messages does not stay allocated: the spares hold at
/// most 32 MiB.
pub const SPARE_PAYLOAD_BYTES_MAX: usize = 2048;

/// Commits the ledger stage may have waiting for their segments: the
/// barriers in flight between the source and the ledger.
pub const BARRIERS_IN_FLIGHT_MAX: usize = 64;

/// Segments each rate worker may have waiting for the ledger stage: the
/// next commit's, and one more, while the ledger stage writes one. A
/// segment holds what its worker rated between two barriers, up to a
/// commit's records (`ledger.commit_rows_max`), so its queue is bounded in
/// segments, not in `pipeline.queue_batches_max` batches: the memory in
/// flight stays a few commits' records however far the workers could run
/// ahead of a slow ledger.
pub const SEGMENTS_QUEUED_PER_WORKER: usize = 2;

/// Records per chunk of a worker's segment. A worker starts a new chunk
/// when the one it fills holds this many; the ledger stage books the chunks
/// as they are and hands them back emptied. About 1.8 MB of records.
pub const CHUNK_RECORDS: usize = 4096;

/// Room in a chunk: one message can book several records (a period's fees
/// and grants with it), so a chunk has room beyond [`CHUNK_RECORDS`] and
/// seldom grows.
pub const CHUNK_CAPACITY: usize = CHUNK_RECORDS + CHUNK_RECORDS / 8;

/// How often librdkafka reports the consumer's statistics (broker states,
/// partition ends), in milliseconds: the age of the lag metrics and of
/// `/readyz`'s broker and lag checks.
pub const STATISTICS_INTERVAL_MS: u64 = 2_000;

/// How long ago a broker connection may last have been reported up for
/// `/readyz` to count the broker reachable, in milliseconds: several
/// statistics intervals, so that one late report is not an outage.
pub const BROKER_REPORT_AGE_MAX_MS: u64 = 10_000;
