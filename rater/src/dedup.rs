//! Duplicate detection: a resent event (same id) is recorded once.
//!
//! Only rated events are recorded: an event rejected for its content (say,
//! an account not yet in the reference data) may be sent again corrected.
//! This is the in-memory index of one run; the ledger keeps the durable
//! index for the open billing period.
//!
//! Every set hashes ids alike (one random seed per process), so that a
//! pipeline worker hashes an event's id once, as an [`IdHash`], and looks
//! it up in the ids the ledger held at start, those it rated since and
//! those other instances committed.

use std::hash::BuildHasher;
use std::sync::LazyLock;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use crate::record::EventId;

/// How ids are hashed, the same for every set.
static HASHER: LazyLock<foldhash::fast::RandomState> = LazyLock::new(Default::default);

/// The hash of an event id, good for every [`EventIds`] of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdHash(u64);

impl IdHash {
    /// The hash of `id`.
    #[must_use]
    pub fn of(id: &str) -> Self {
        Self(HASHER.hash_one(id))
    }
}

/// Event ids already recorded, held inline when short (see [`EventId`]):
/// recording the usual id allocates nothing.
#[derive(Debug, Default)]
pub struct EventIds {
    seen: HashTable<EventId>,
}

impl EventIds {
    /// Whether `id` was recorded.
    #[must_use]
    pub fn contains(&self, id: &str) -> bool {
        self.contains_hashed(IdHash::of(id), id)
    }

    /// Whether `id`, of hash `hash`, was recorded.
    #[must_use]
    pub fn contains_hashed(&self, hash: IdHash, id: &str) -> bool {
        self.seen.find(hash.0, |seen| seen == id).is_some()
    }

    /// Records `id` as booked.
    pub fn insert(&mut self, id: &str) {
        self.insert_hashed(IdHash::of(id), EventId::new(id));
    }

    /// Records `id`, of hash `hash`, as booked.
    pub fn insert_hashed(&mut self, hash: IdHash, id: EventId) {
        debug_assert_eq!(hash, IdHash::of(&id), "the hash is the id's");
        if let Entry::Vacant(vacant) = self.seen.entry(hash.0, |seen| *seen == id, |seen| IdHash::of(seen).0) {
            vacant.insert(id);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_share_their_hashes() {
        let (mut a, mut b) = (EventIds::default(), EventIds::default());
        let long = "0123456789abcdef0123456789abcdef-long-enough-to-be-shared";
        for id in ["e7-000000001", "", long] {
            assert!(!a.contains(id));
            a.insert(id);
            let hash = IdHash::of(id);
            b.insert_hashed(hash, EventId::new(id));
            b.insert_hashed(hash, EventId::new(id));
            assert!(a.contains_hashed(hash, id) && b.contains(id), "{id:?}");
        }
        assert_eq!((a.len(), b.len()), (3, 3), "an id is recorded once");
        assert!(!b.contains("e7-000000002"));
    }
}
