//! The pipeline's checkpoint: every source partition's rating state, kept
//! in the ledger beside the commit whose offsets it goes with.
//!
//! Rating state is held per source partition (the events of an account come
//! on one partition, keyed by account), so that a partition's state can move
//! with it. A rate worker serializes a partition's state when a barrier
//! finds it changed; the ledger stage keeps the latest bytes of every
//! partition and writes them all with each commit, since recovery reads the
//! latest checkpoint only.
//!
//! The format is JSON: `{"format":1,"partitions":[{"topic":..,"partition":..,"next":..,"state":{..}}]}`,
//! with `state` a [`ratewire_rater::Checkpoint`].

use std::collections::BTreeMap;
use std::sync::Arc;

use ratewire_rater::Checkpoint;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::message::PartitionKey;

/// The checkpoint format this build writes and reads.
pub const STATE_FORMAT: u32 = 1;

/// One partition's state, as restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset after the last one rated into `state`.
    pub next: i64,
    /// Every account's rating state.
    pub state: Checkpoint,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Blob {
    format: u32,
    partitions: Vec<PartitionState>,
}

/// One partition's state serialized, as the rate worker hands it over.
pub(crate) fn encode_partition(state: &PartitionState) -> Result<Arc<[u8]>, Error> {
    serde_json::to_vec(state).map(Arc::from).map_err(|e| Error::Checkpoint(e.to_string()))
}

/// The checkpoint of every partition, from their serialized states.
pub(crate) fn encode(states: &BTreeMap<PartitionKey, Arc<[u8]>>) -> Vec<u8> {
    let size: usize = states.values().map(|s| s.len() + 1).sum();
    let mut blob = Vec::with_capacity(size + 40);
    blob.extend_from_slice(format!("{{\"format\":{STATE_FORMAT},\"partitions\":[").as_bytes());
    for (i, state) in states.values().enumerate() {
        if i > 0 {
            blob.push(b',');
        }
        blob.extend_from_slice(state);
    }
    blob.extend_from_slice(b"]}\n");
    blob
}

/// The partitions' states in a checkpoint (none for an empty one: a new ledger).
///
/// # Errors
/// [`Error::Checkpoint`] when the bytes are not a checkpoint of this format.
pub fn decode(checkpoint: &[u8]) -> Result<Vec<PartitionState>, Error> {
    if checkpoint.is_empty() {
        return Ok(Vec::new());
    }
    let blob: Blob = serde_json::from_slice(checkpoint).map_err(|e| Error::Checkpoint(e.to_string()))?;
    if blob.format != STATE_FORMAT {
        return Err(Error::Checkpoint(format!("format {}; this build reads format {STATE_FORMAT}", blob.format)));
    }
    Ok(blob.partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(topic: &str, partition: i32, next: i64) -> PartitionState {
        PartitionState {
            topic: topic.into(),
            partition,
            next,
            state: Checkpoint { catalog_version: "v1".into(), accounts: Vec::new() },
        }
    }

    #[test]
    fn partitions_round_trip_through_the_blob() {
        let states = [state("events", 0, 10), state("events", 1, 7)];
        let mut map = BTreeMap::new();
        for s in &states {
            let key = PartitionKey { topic: s.topic.as_str().into(), partition: s.partition };
            map.insert(key, encode_partition(s).unwrap());
        }
        assert_eq!(decode(&encode(&map)).unwrap(), states);
        assert_eq!(decode(&encode(&BTreeMap::new())).unwrap(), []);
        assert_eq!(decode(b"").unwrap(), []);
    }

    #[test]
    fn a_foreign_checkpoint_is_refused() {
        assert!(matches!(decode(b"state"), Err(Error::Checkpoint(_))));
        assert!(
            matches!(decode(br#"{"format":9,"partitions":[]}"#), Err(Error::Checkpoint(m)) if m.contains("format 9"))
        );
    }
}
