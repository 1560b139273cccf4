//! Kafka in: consumer group, batch decoding, the staged pipeline
//! decode -> rate -> ledger, dead-letter and actions output.
//!
//! The crate has no code yet: batch rating (`ratewire rate`) reads files
//! through `ratewire-rater` directly.
