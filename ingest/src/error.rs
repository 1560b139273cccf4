//! The pipeline's errors. A rejected event is not an error: it is booked.

use thiserror::Error;

/// Why the pipeline stopped, or could not start.
#[derive(Debug, Error)]
pub enum Error {
    /// The catalog or the accounts were refused.
    #[error("{0}")]
    Reference(String),
    /// The source (Kafka) failed.
    #[error("source: {0}")]
    Source(String),
    /// A dead letter or action could not be published.
    #[error("side output: {0}")]
    SideOutput(String),
    /// The ledger failed.
    #[error("ledger: {0}")]
    Ledger(#[from] ratewire_ledger::Error),
    /// The checkpoint in the ledger is not one this build reads.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// A partition's state could not be restored.
    #[error("restoring the state of {partition}: {reason}")]
    Restore {
        /// The partition.
        partition: String,
        /// Why.
        reason: String,
    },
    /// More partitions than one pipeline holds.
    #[error("more than {max} source partitions")]
    TooManyPartitions {
        /// The bound.
        max: usize,
    },
    /// A partition could not be handed over between instances.
    #[error("handoff: {0}")]
    Handoff(String),
    /// A metric could not be created or rendered (a bug).
    #[error("metrics: {0}")]
    Metrics(String),
    /// A stage ended unexpectedly (a bug).
    #[error("internal: {0}")]
    Internal(String),
}
