//! What the source hands to the pipeline.

use ratewire_rater::Name;

/// One message read from a source partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// The topic (or file name) it was read from.
    pub topic: Name,
    /// The partition of the topic.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// The payload exactly as read.
    pub payload: Vec<u8>,
}

/// A source partition: the unit that keeps its order and its rating state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionKey {
    /// The topic.
    pub topic: Name,
    /// The partition.
    pub partition: i32,
}

impl std::fmt::Display for PartitionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]", self.topic, self.partition)
    }
}
