//! Duplicate detection: a resent event (same id) is recorded once.
//!
//! Only rated events are recorded: an event rejected for its content (say,
//! an account not yet in the reference data) may be sent again corrected.
//! This is the in-memory index of one run; the ledger keeps the durable
//! index for the open billing period.

use std::collections::HashSet;

use crate::record::EventId;

/// Event ids already recorded, held inline when short (see [`EventId`]):
/// recording the usual id allocates nothing.
#[derive(Debug, Default)]
pub struct EventIds {
    seen: HashSet<EventId, foldhash::fast::RandomState>,
}

impl EventIds {
    /// Whether `id` was recorded.
    #[must_use]
    pub fn contains(&self, id: &str) -> bool {
        self.seen.contains(id)
    }

    /// Records `id` as booked.
    pub fn insert(&mut self, id: &str) {
        self.seen.insert(EventId::new(id));
    }

    /// How many distinct ids have been seen.
    #[must_use]
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no id has been seen.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// The reject for a duplicate.
#[must_use]
pub fn duplicate(id: &str) -> crate::Reject {
    crate::Reject::field(crate::RejectCode::DuplicateEvent, "id", format!("id: event {id:?} was already recorded"))
}
