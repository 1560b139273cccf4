//! Kafka in: the staged pipeline that decodes, rates and commits usage
//! events to the ledger exactly once.
//!
//! The central types:
//! - [`Pipeline`], the stages source -> rate workers -> ledger stage with
//!   bounded queues between them and barriers that cut consistent commits
//!   (see the [`pipeline`] module for the picture);
//! - [`Source`], where messages come from: [`KafkaSource`], a consumer
//!   group member that resumes from the ledger's offsets;
//! - [`SideOutput`], where rejects and actions are published:
//!   [`KafkaSideOutput`], an idempotent producer;
//! - [`ReferenceHandle`], the catalog and accounts in force, reloadable;
//! - [`Metrics`], the Prometheus metrics the stages keep (per batch, no
//!   locks) and the state `/readyz` reads;
//! - [`Handoff`], scale-out: instances sharing a ledger root, between
//!   which a partition moves with its state (see the [`handoff`] module);
//! - [`state`], the per-partition rating state checkpointed with each
//!   commit;
//! - [`config`], the documented TOML config of `ratewire run`, with its
//!   environment overrides and line-level checks.
//!
//! Exactly once: a commit books the records, the rejects, the offsets they
//! cover and the state of every partition together; a restart resumes each
//! partition at its committed offset with its committed state, and skips
//! any message below it that the broker delivers again.

mod bounds;
pub mod config;
mod error;
pub mod handoff;
mod kafka;
mod message;
pub mod metrics;
pub mod pipeline;
mod reference;
mod sink;
pub mod state;
mod worker;

pub use bounds::{
    BARRIERS_IN_FLIGHT_MAX, BATCH_PAYLOAD_BYTES_MAX, BROKER_REPORT_AGE_MAX_MS, PARTITIONS_MAX, POLL_TIMEOUT_MS,
    SIDE_FLUSH_TIMEOUT_MS, STATISTICS_INTERVAL_MS,
};
pub use error::Error;
pub use handoff::{Adopted, Handoff};
pub use kafka::{KafkaOptions, KafkaSideOutput, KafkaSource};
pub use message::{Message, PartitionKey};
pub use metrics::{Metrics, ReadyCheck};
pub use pipeline::{Options, Pipeline, Rebalance, Source, Summary, Until};
pub use reference::{Reference, ReferenceHandle};
pub use sink::{Committed, SideOutput};
