//! Scale-out: several instances in one consumer group share a ledger root,
//! and a partition moves between them with its rating state.
//!
//! ```text
//! ROOT/members/<instance>/            one ledger per instance (its own lock,
//!                                     manifests, files and checkpoint)
//! ROOT/owners/<topic>/<partition>.lock
//!                                     flock(2)ed by the instance that owns
//!                                     the partition now
//! ```
//!
//! An instance owns a partition from the moment it holds the partition's
//! lock until it lets go of it, and only the owner rates and commits the
//! partition's messages. The group assigns partitions; ownership follows:
//!
//! - **revoked**: the pipeline commits everything it consumed, and only
//!   then lets go of the lock (or the operating system lets go of it when
//!   the process dies: a commit is whole or absent, so what was committed is
//!   the truth and the rest is consumed again);
//! - **assigned**: the new owner waits for the lock ([`Handoff::claim`]),
//!   then reads the latest checkpoint of every member's ledger and adopts the
//!   partition's state with the highest `next` offset ([`Handoff::adopt`]):
//!   offsets only grow from owner to owner, so the highest is the last
//!   owner's last commit. Its consumer starts the partition at that offset.
//!
//! Members keep a partition's last state in their checkpoints after letting
//! it go, so nothing is lost when a member restarts before the partition's
//! next owner has committed. Resent events are recognised across members:
//! the new owner also reads the other members' event ids
//! ([`Handoff::others_event_ids`]).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use log::{info, warn};
use ratewire_ledger::Snapshot;
use ratewire_rater::dedup::EventIds;

use crate::error::Error;
use crate::message::PartitionKey;
use crate::state::{self, PartitionState};

/// The directory of the partitions' ownership locks under the root.
pub const OWNERS_DIR: &str = "owners";
/// How often a claim tries the lock again, in milliseconds.
const CLAIM_RETRY_MS: u64 = 50;
/// How often a waiting claim says what it waits for, in milliseconds.
const CLAIM_LOG_MS: u64 = 5_000;
/// How often a member's checkpoint is read again when its writer removed
/// it between the manifest read and the checkpoint read.
const CHECKPOINT_READ_ATTEMPTS: usize = 8;

/// A partition's adopted state.
#[derive(Debug)]
pub struct Adopted {
    /// The state with the highest `next` among the members' checkpoints;
    /// `None` when no member has rated the partition yet.
    pub state: Option<PartitionState>,
    /// The member whose checkpoint it came from.
    pub member: Option<String>,
}

impl Adopted {
    /// The offset the partition resumes at.
    #[must_use]
    pub fn next(&self) -> i64 {
        self.state.as_ref().map_or(0, |s| s.next)
    }
}

/// One instance's view of a shared ledger root: the partitions it owns.
#[derive(Debug)]
pub struct Handoff {
    root: PathBuf,
    member: String,
    wait: Duration,
    claims: HashMap<PartitionKey, File>,
}

impl Handoff {
    /// The ledger directory of `member` under `root`.
    #[must_use]
    pub fn member_dir(root: &Path, member: &str) -> PathBuf {
        ratewire_ledger::member_dir(root, member)
    }

    /// Instance `member` of the ledger root `root`, waiting at most
    /// `wait` for a partition's previous owner.
    #[must_use]
    pub fn new(root: &Path, member: &str, wait: Duration) -> Self {
        Self { root: root.to_path_buf(), member: member.to_string(), wait, claims: HashMap::new() }
    }

    /// Takes the ownership lock of `key`, waiting for its previous owner to
    /// let go. Returns `false` when `stop` was set while waiting.
    ///
    /// # Errors
    /// [`Error::Handoff`] when the lock cannot be opened, or is still held
    /// after the wait.
    pub fn claim(&mut self, key: &PartitionKey, stop: &AtomicBool) -> Result<bool, Error> {
        if self.claims.contains_key(key) {
            return Ok(true);
        }
        let path = self.lock_path(key);
        let failed = |e: std::io::Error| Error::Handoff(format!("opening {}: {e}", path.display()));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(failed)?;
        let started = Instant::now();
        let mut logged = started;
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(rustix::io::Errno::WOULDBLOCK) => {}
                Err(e) => return Err(Error::Handoff(format!("locking {}: {e}", path.display()))),
            }
            if stop.load(Ordering::Relaxed) {
                return Ok(false);
            }
            if started.elapsed() >= self.wait {
                return Err(Error::Handoff(format!(
                    "{key} is still owned by another instance after {} ms (ledger.handoff_wait_ms)",
                    self.wait.as_millis()
                )));
            }
            if logged.elapsed() >= Duration::from_millis(CLAIM_LOG_MS) {
                info!("waiting for the previous owner of {key} to commit and let go of it");
                logged = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(CLAIM_RETRY_MS));
        }
        self.claims.insert(*key, file);
        Ok(true)
    }

    /// Lets go of `key` (after its last commit).
    pub fn release(&mut self, key: &PartitionKey) {
        // Closing the only descriptor of the lock file releases the lock.
        if self.claims.remove(key).is_some() {
            info!("let go of {key}");
        }
    }

    /// Whether this instance owns `key`.
    #[must_use]
    pub fn owns(&self, key: &PartitionKey) -> bool {
        self.claims.contains_key(key)
    }

    /// The latest state of `key` among every member's committed checkpoint
    /// (this instance's included). Call it holding the partition's claim.
    ///
    /// # Errors
    /// [`Error::Handoff`] when a member's ledger or checkpoint cannot be
    /// read: a partition is never started from a guess.
    pub fn adopt(&self, key: &PartitionKey) -> Result<Adopted, Error> {
        debug_assert!(self.owns(key), "adopting {key} without its claim");
        let mut best = Adopted { state: None, member: None };
        for (member, dir) in self.members()? {
            let states = read_states(&dir)?;
            let found = states.into_iter().find(|s| *s.topic == *key.topic && s.partition == key.partition);
            if let Some(found) = found
                && best.state.as_ref().is_none_or(|b| found.next > b.next)
            {
                best = Adopted { state: Some(found), member: Some(member) };
            }
        }
        Ok(best)
    }

    /// The event ids committed by every other member, for recognising
    /// events resent to partitions that moved here.
    ///
    /// # Errors
    /// [`Error::Handoff`] when a member's ledger cannot be read.
    pub fn others_event_ids(&self) -> Result<EventIds, Error> {
        let mut ids = EventIds::default();
        for (member, dir) in self.members()? {
            if member == self.member {
                continue;
            }
            let snapshot = Snapshot::open(&dir).map_err(|e| read_failed(&dir, &e))?;
            snapshot.for_each_event_id(|id| ids.insert(id)).map_err(|e| read_failed(&dir, &e))?;
        }
        Ok(ids)
    }

    /// Every member's name and ledger directory, by name.
    fn members(&self) -> Result<Vec<(String, PathBuf)>, Error> {
        ratewire_ledger::members(&self.root)
            .map_err(|e| Error::Handoff(format!("listing the members of {}: {e}", self.root.display())))
    }

    fn lock_path(&self, key: &PartitionKey) -> PathBuf {
        self.root.join(OWNERS_DIR).join(&*key.topic).join(format!("{}.lock", key.partition))
    }
}

/// The partition states of the latest checkpoint of the ledger in `dir`,
/// read beside its running writer.
fn read_states(dir: &Path) -> Result<Vec<PartitionState>, Error> {
    let mut last_error = None;
    for _ in 0..CHECKPOINT_READ_ATTEMPTS {
        let snapshot = Snapshot::open(dir).map_err(|e| read_failed(dir, &e))?;
        match snapshot.checkpoint() {
            Ok(bytes) => return state::decode(&bytes),
            // The writer committed again and removed this checkpoint: the
            // next snapshot has the newer one.
            Err(e @ ratewire_ledger::Error::MissingFile { .. }) => {
                warn!("reading {}: {e}; reading its newer checkpoint", dir.display());
                last_error = Some(e);
            }
            Err(e) => return Err(read_failed(dir, &e)),
        }
    }
    Err(last_error.map_or_else(|| Error::Handoff(format!("reading {}", dir.display())), |e| read_failed(dir, &e)))
}

fn read_failed(dir: &Path, e: &ratewire_ledger::Error) -> Error {
    Error::Handoff(format!("reading the member ledger {}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use chrono::Utc;
    use ratewire_ledger::{Commit, Ledger, SourceRange};
    use ratewire_rater::Checkpoint;

    use super::*;

    fn key(partition: i32) -> PartitionKey {
        PartitionKey { topic: "events".into(), partition }
    }

    /// Commits a checkpoint holding `states` (partition, next) to `member`'s ledger.
    fn commit(root: &Path, member: &str, states: &[(i32, i64)]) {
        let (mut ledger, _) = Ledger::open(Handoff::member_dir(root, member)).unwrap();
        let mut map = BTreeMap::new();
        for (partition, next) in states {
            let s = PartitionState {
                topic: "events".into(),
                partition: *partition,
                next: *next,
                state: Checkpoint { catalog_version: member.into(), accounts: Vec::new() },
            };
            map.insert(key(*partition), state::encode_partition(&s).unwrap());
        }
        let offsets: Vec<SourceRange> = states
            .iter()
            .map(|(p, next)| SourceRange { source: "events".into(), partition: *p, from: 0, to: *next })
            .collect();
        let checkpoint = state::encode(&map).unwrap();
        let commit = Commit {
            rated: &[],
            rejected: &[],
            facts: &[],
            offsets: &offsets,
            checkpoint: &checkpoint,
            booked_at: Utc::now(),
        };
        ledger.commit(&commit).unwrap();
    }

    #[test]
    fn the_state_with_the_highest_offset_is_adopted() {
        let root = tempfile::tempdir().unwrap();
        let stop = AtomicBool::new(false);
        let mut b = Handoff::new(root.path(), "b", Duration::from_secs(1));
        assert!(b.claim(&key(0), &stop).unwrap());
        // Nobody rated partition 0 yet.
        let fresh = b.adopt(&key(0)).unwrap();
        assert!(fresh.state.is_none());
        assert_eq!(fresh.next(), 0);

        // a owned 0 up to 40 and 1 up to 7; b owned 0 earlier, up to 10.
        commit(root.path(), "a", &[(0, 40), (1, 7)]);
        commit(root.path(), "b", &[(0, 10)]);
        let adopted = b.adopt(&key(0)).unwrap();
        assert_eq!(adopted.next(), 40);
        assert_eq!(adopted.member.as_deref(), Some("a"));
        assert_eq!(adopted.state.unwrap().state.catalog_version, "a");
    }

    #[test]
    fn a_claim_waits_for_the_previous_owner_and_gives_up_in_time() {
        let root = tempfile::tempdir().unwrap();
        let stop = AtomicBool::new(false);
        let mut a = Handoff::new(root.path(), "a", Duration::from_secs(1));
        let mut b = Handoff::new(root.path(), "b", Duration::from_millis(200));
        assert!(a.claim(&key(3), &stop).unwrap());
        assert!(a.owns(&key(3)));
        let started = Instant::now();
        let refused = b.claim(&key(3), &stop).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(refused.to_string().contains("events[3] is still owned"), "{refused}");
        // Another partition is free.
        assert!(b.claim(&key(4), &stop).unwrap());

        a.release(&key(3));
        assert!(!a.owns(&key(3)));
        assert!(b.claim(&key(3), &stop).unwrap());

        // A stop request ends a wait at once.
        let stop = Arc::new(AtomicBool::new(true));
        assert!(!a.claim(&key(3), &stop).unwrap());
    }

    #[test]
    fn other_members_event_ids_are_read_and_own_ones_are_not() {
        let root = tempfile::tempdir().unwrap();
        commit(root.path(), "a", &[(0, 1)]);
        let b = Handoff::new(root.path(), "b", Duration::from_secs(1));
        assert!(b.others_event_ids().unwrap().is_empty());
        let none = Handoff::new(&root.path().join("nothing"), "b", Duration::from_secs(1));
        assert!(none.others_event_ids().unwrap().is_empty());
    }
}
