//! A rate worker: decodes and rates the messages of the partitions it owns,
//! in their order, with a [`Rater`] per partition so that no state is shared
//! between threads.
//!
//! At a barrier the worker hands what it rated since the previous barrier
//! to the ledger stage as a [`Segment`]: the records, the rejects with their
//! payloads, the offsets covered and the state of every partition that
//! changed, all as of the barrier.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};
use crossbeam_channel::{Receiver, Sender};
use ratewire_ledger::{RejectedEvent, SourceRange};
use ratewire_rater::dedup::{EventIds, IdHash, duplicate};
use ratewire_rater::{
    ActionReason, Checkpoint, Event, Output, PREFETCH_EVENTS, Rated, Rater, RaterConfig, Reject, RejectCode,
    decode_bounded,
};

use crate::bounds::{CHUNK_CAPACITY, CHUNK_RECORDS};
use crate::error::Error;
use crate::message::{Message, PartitionKey};
use crate::metrics::{Metrics, Tally};
use crate::reference::{Reference, ReferenceHandle};
use crate::state::{PartitionState, encode_account, encode_partition_parts};

/// What a worker is handed.
#[derive(Debug)]
pub(crate) enum Work {
    /// Messages to rate, in partition order.
    Messages(Vec<Message>),
    /// Hand over everything up to here, for commit `0`.
    Barrier(u64),
    /// Partition `key` moved here (scale-out): rate it from `state` (fresh
    /// when `None`), and check resent events against `others`, the event
    /// ids the other instances committed.
    Adopt { key: PartitionKey, state: Option<PartitionState>, others: Arc<EventIds> },
    /// Partition `key` moved away (after its last commit): forget it.
    Release(PartitionKey),
}

/// What one worker rated between two barriers.
#[derive(Debug, Default)]
pub(crate) struct Segment {
    /// The barrier that closed it.
    pub barrier: u64,
    /// Rated records, in order, in chunks of about [`CHUNK_RECORDS`]: the
    /// ledger stage books them where they are and hands the emptied chunks
    /// back, so no record buffer grows into fresh pages.
    pub rated: Vec<Vec<Rated>>,
    /// Facts and actions (its `rated` is empty: records are in `rated`; so
    /// is its `rejected`: rejects are in `rejects`, with their payloads).
    pub output: Output,
    /// Rejected messages.
    pub rejects: Vec<RejectedEvent>,
    /// The offsets covered, per partition.
    pub ranges: Vec<SourceRange>,
    /// The serialized state of each partition that changed.
    pub states: Vec<(PartitionKey, Arc<[u8]>)>,
    /// Messages consumed (rated or rejected).
    pub consumed: u64,
}

impl Segment {
    /// The ledger rows booked in it: records, facts and rejects (balance
    /// draws, which go with their records, are not counted).
    fn rows(&self) -> u64 {
        let records: usize = self.rated.iter().map(Vec::len).sum::<usize>() + self.output.rated.len();
        (records + self.output.facts.len() + self.rejects.len()) as u64
    }
}

/// One partition's rating state.
#[derive(Debug)]
struct Partition {
    rater: Rater,
    /// The offset after the last message handled: anything below was
    /// handled already (by this run or before the last restart) and is
    /// skipped if the source delivers it again.
    next: i64,
    /// The first offset handled since the last barrier.
    first: Option<i64>,
    dirty: bool,
    /// Its accounts below a threshold, as of the last barrier (or the
    /// restored checkpoint).
    below: i64,
    /// Each account's checkpoint entry as of the last barrier, in the
    /// rater's first-seen order: a barrier serializes again only the
    /// accounts rated since.
    entries: Vec<Entry>,
}

/// One account's checkpoint entry, serialized.
#[derive(Debug, Default)]
struct Entry {
    bytes: Vec<u8>,
    below: bool,
}

/// The state of the partitions one worker owns.
#[derive(Debug)]
pub(crate) struct Worker {
    reference: Arc<ReferenceHandle>,
    in_force: Arc<Reference>,
    config: RaterConfig,
    /// Larger payloads are rejected.
    message_bytes_max: usize,
    partitions: HashMap<PartitionKey, Partition>,
    /// States restored from the ledger, for partitions not seen yet.
    restored: HashMap<PartitionKey, PartitionState>,
    /// Ids already in the ledger when the pipeline started.
    committed_ids: Arc<EventIds>,
    /// Ids the other instances sharing the ledger root had committed when
    /// a partition last moved here (scale-out; empty otherwise).
    others_ids: Arc<EventIds>,
    /// Ids rated since.
    ids: EventIds,
    segment: Segment,
    /// Rejects of the message being handled, before they get their payload.
    scratch: Output,
    /// The batch being rated, decoded: each message's event, or why it has
    /// none. Empty between batches; kept for its room.
    decoded: Vec<Result<Event, Reject>>,
    /// Emptied record chunks back from the ledger stage.
    recycled: Receiver<Vec<Rated>>,
    /// Where rated batches go back to the source side, with the messages
    /// whose payloads were not kept in a reject.
    returned: Sender<Vec<Message>>,
    /// The barrier that will close the segment being filled.
    open_barrier: u64,
    /// Messages handled since the last barrier, those skipped as handled
    /// before included.
    handled: u64,
    /// Where the source side reads how far the segment has come.
    progress: Arc<Progress>,
    metrics: Arc<Metrics>,
}

/// What a worker shares with the other stages: where emptied record
/// chunks come back from, where rated batches go back to, and its
/// progress.
pub(crate) type Links = (Receiver<Vec<Rated>>, Sender<Vec<Message>>, Arc<Progress>);

/// A worker's progress on the segment it fills, updated once per batch, for
/// the source side to cut commits by rows: the barrier that will close the
/// segment (its low 16 bits), the messages handled and the rows booked in
/// it (24 bits each, saturated), in one word so that they are read
/// together.
#[derive(Debug, Default)]
pub(crate) struct Progress(AtomicU64);

impl Progress {
    const COUNT_MAX: u64 = (1 << 24) - 1;

    fn store(&self, barrier: u64, handled: u64, rows: u64) {
        let packed = (barrier & 0xFFFF) << 48 | handled.min(Self::COUNT_MAX) << 24 | rows.min(Self::COUNT_MAX);
        self.0.store(packed, Ordering::Relaxed);
    }

    /// The messages handled and rows booked in the segment the worker
    /// fills, and whether barrier `barrier` will close it (or an earlier
    /// one: the worker has not reached the messages handed over since).
    /// Barriers in flight are far fewer than 2^16, so their low bits tell
    /// them apart.
    pub(crate) fn read(&self, barrier: u64) -> (bool, u64, u64) {
        let packed = self.0.load(Ordering::Relaxed);
        (packed >> 48 == barrier & 0xFFFF, (packed >> 24) & Self::COUNT_MAX, packed & Self::COUNT_MAX)
    }
}

impl Worker {
    pub(crate) fn new(
        reference: Arc<ReferenceHandle>,
        config: RaterConfig,
        message_bytes_max: usize,
        restored: Vec<PartitionState>,
        committed_ids: Arc<EventIds>,
        (recycled, returned, progress): Links,
        metrics: Arc<Metrics>,
    ) -> Self {
        let in_force = reference.load();
        // Partitions restored count from the start, before their first
        // message of this run.
        metrics.accounts_below_threshold(restored.iter().map(|s| below_threshold(&s.state)).sum());
        let restored =
            restored.into_iter().map(|s| (PartitionKey { topic: s.topic.as_str().into(), partition: s.partition }, s));
        Self {
            reference,
            in_force,
            config,
            message_bytes_max,
            partitions: HashMap::new(),
            restored: restored.collect(),
            committed_ids,
            others_ids: Arc::default(),
            ids: EventIds::default(),
            segment: Segment::default(),
            scratch: Output::default(),
            decoded: Vec::new(),
            recycled,
            returned,
            open_barrier: 1,
            handled: 0,
            progress,
            metrics,
        }
    }

    /// Rates a batch of messages against the reference data in force now.
    pub(crate) fn rate(&mut self, mut messages: Vec<Message>, now: DateTime<Utc>) -> Result<(), Error> {
        let latest = self.reference.load();
        if !Arc::ptr_eq(&latest, &self.in_force) {
            for p in self.partitions.values_mut() {
                p.rater.set_tables(latest.tables.clone());
                p.rater.set_accounts(latest.accounts.clone());
                p.dirty = true;
            }
            self.in_force = latest;
        }
        let started = Instant::now();
        let (count, consumed, rejects) = (messages.len() as u64, self.segment.consumed, self.segment.rejects.len());
        // The whole batch is decoded first, so that each account's state can
        // be loaded a few events before it is rated (a message handled
        // before, skipped below, is decoded for nothing: that is rare).
        let mut decoded = std::mem::take(&mut self.decoded);
        decoded.extend(messages.iter().map(|m| decode_bounded(&m.payload, self.message_bytes_max)));
        let mut events = decoded.drain(..);
        let mut at = 0;
        while let Some(event) = events.next() {
            let ahead = at + PREFETCH_EVENTS;
            if let (Some(m), Some(Ok(e))) = (messages.get(ahead), events.as_slice().get(PREFETCH_EVENTS - 1))
                && let Some(p) = self.partitions.get(&PartitionKey { topic: m.topic, partition: m.partition })
            {
                p.rater.prefetch(&e.account);
            }
            self.rate_one(&mut messages[at], event, now)?;
            if self.segment.output.rated.len() >= CHUNK_RECORDS {
                self.next_chunk();
            }
            at += 1;
        }
        drop(events);
        // Kept for the next batch, empty.
        self.decoded = decoded;
        // Full or closed: the batch is freed here instead.
        let _ = self.returned.try_send(messages);
        self.handled += count;
        self.progress.store(self.open_barrier, self.handled, self.segment.rows());
        // Counted once per batch: nothing per message beyond the rating.
        let consumed = self.segment.consumed - consumed;
        let mut rejected: Tally = [0; RejectCode::ALL.len()];
        for r in &self.segment.rejects[rejects..] {
            rejected[Metrics::reject_index(r.rejected.reject.code)] += 1;
        }
        let rejected_count = (self.segment.rejects.len() - rejects) as u64;
        self.metrics.rated_batch(consumed - rejected_count, count - consumed, &rejected, started.elapsed());
        Ok(())
    }

    fn rate_one(
        &mut self,
        message: &mut Message,
        decoded: Result<Event, Reject>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let Message { topic, partition, offset, ref mut payload } = *message;
        let key = PartitionKey { topic, partition };
        let state = match self.partitions.get_mut(&key) {
            Some(p) => p,
            None => {
                let p = self.partition(&key)?;
                self.partitions.entry(key).or_insert(p)
            }
        };
        if offset < state.next {
            return Ok(());
        }
        state.first.get_or_insert(offset);
        state.next = offset + 1;
        state.dirty = true;
        self.segment.consumed += 1;

        let out = &mut self.segment.output;
        let scratch = &mut self.scratch;
        let event_time = decoded.as_ref().ok().map(|e| e.time);
        match decoded {
            Err(reject) => state.rater.reject_payload(reject, scratch),
            Ok(event) => {
                // One hash of the id for the three sets.
                let hash = IdHash::of(&event.id);
                if self.committed_ids.contains_hashed(hash, &event.id)
                    || self.ids.contains_hashed(hash, &event.id)
                    || self.others_ids.contains_hashed(hash, &event.id)
                {
                    state.rater.reject_event(duplicate(&event.id), &event, scratch);
                } else {
                    let rated_before = out.rated.len();
                    state.rater.rate(&event, now, out);
                    // The rater pushes a content reject into `out`: move it
                    // to the scratch buffer, where rejects get their payload.
                    scratch.rejected.append(&mut out.rejected);
                    if scratch.rejected.is_empty() {
                        self.ids.insert_hashed(hash, event.id);
                    } else {
                        debug_assert_eq!(out.rated.len(), rated_before, "a rejected event books nothing");
                    }
                }
            }
        }
        // A message is rejected once at most, so the payload moves into it.
        debug_assert!(scratch.rejected.len() <= 1, "one reject per message");
        if let Some(rejected) = scratch.rejected.pop() {
            let (source, payload) = (key.topic, std::mem::take(payload));
            self.segment.rejects.push(RejectedEvent { rejected, event_time, payload, source, partition, offset });
        }
        Ok(())
    }

    /// Partition `key` moved here with `state`: its rating starts over from
    /// that state at its next message, whatever this worker held for it.
    pub(crate) fn adopt(&mut self, key: PartitionKey, state: Option<PartitionState>, others: Arc<EventIds>) {
        self.release(&key);
        if let Some(state) = state {
            self.metrics.accounts_below_threshold(below_threshold(&state.state));
            self.restored.insert(key, state);
        }
        self.others_ids = others;
    }

    /// Partition `key` moved away: its state is dropped (it was committed).
    pub(crate) fn release(&mut self, key: &PartitionKey) {
        let below = match (self.partitions.remove(key), self.restored.remove(key)) {
            (Some(p), _) => p.below,
            (None, Some(s)) => below_threshold(&s.state),
            (None, None) => 0,
        };
        self.metrics.accounts_below_threshold(-below);
    }

    /// A partition seen for the first time by this run: its state from the
    /// ledger's checkpoint, or a fresh one.
    fn partition(&mut self, key: &PartitionKey) -> Result<Partition, Error> {
        if self.partitions.len() >= crate::bounds::PARTITIONS_MAX {
            return Err(Error::TooManyPartitions { max: crate::bounds::PARTITIONS_MAX });
        }
        let reference = &self.in_force;
        let mut rater = Rater::new(reference.tables.clone(), reference.accounts.clone(), self.config);
        let (mut next, mut below) = (0, 0);
        if let Some(saved) = self.restored.remove(key) {
            rater
                .restore(&saved.state)
                .map_err(|e| Error::Restore { partition: key.to_string(), reason: e.to_string() })?;
            next = saved.next;
            below = below_threshold(&saved.state);
        }
        Ok(Partition { rater, next, first: None, dirty: false, below, entries: Vec::new() })
    }

    /// Moves the chunk being filled to the segment's full ones and starts
    /// another: one handed back by the ledger stage, paged in already, or
    /// a new one.
    fn next_chunk(&mut self) {
        let chunk = self.recycled.try_recv().unwrap_or_else(|_| Vec::with_capacity(CHUNK_CAPACITY));
        debug_assert!(chunk.is_empty(), "a recycled chunk comes back empty");
        let full = std::mem::replace(&mut self.segment.output.rated, chunk);
        self.segment.rated.push(full);
    }

    /// Closes the segment at barrier `barrier` and returns it.
    pub(crate) fn barrier(&mut self, barrier: u64) -> Result<Segment, Error> {
        if !self.segment.output.rated.is_empty() {
            self.next_chunk();
        }
        // The empty chunk being filled stays for the next segment.
        let chunk = std::mem::take(&mut self.segment.output.rated);
        let mut segment = std::mem::take(&mut self.segment);
        self.segment.output.rated = chunk;
        segment.barrier = barrier;
        (self.open_barrier, self.handled) = (barrier + 1, 0);
        self.progress.store(self.open_barrier, 0, 0);
        let mut touched: BTreeMap<&PartitionKey, &mut Partition> =
            self.partitions.iter_mut().filter(|(_, p)| p.dirty).collect();
        for (key, p) in &mut touched {
            if let Some(from) = p.first.take() {
                segment.ranges.push(SourceRange {
                    source: key.topic.to_string(),
                    partition: key.partition,
                    from,
                    to: p.next,
                });
            }
            let entries = &mut p.entries;
            p.rater.for_each_changed(|slot, account| {
                // Slots count up from 0 as the rater meets accounts.
                if slot >= entries.len() {
                    entries.resize_with(slot + 1, Entry::default);
                }
                let entry = &mut entries[slot];
                entry.below = is_below(account.low_notified(), account.blocked());
                entry.bytes.clear();
                encode_account(&account, &mut entry.bytes)
            })?;
            // Counted here, from the entries, to keep the gauge off the
            // rating path.
            let below = i64::try_from(p.entries.iter().filter(|e| e.below).count()).unwrap_or(i64::MAX);
            self.metrics.accounts_below_threshold(below - p.below);
            p.below = below;
            let entries = p.entries.iter().map(|e| e.bytes.as_slice());
            let version = &p.rater.tables().version;
            let state = encode_partition_parts(&key.topic, key.partition, p.next, version, entries)?;
            segment.states.push((*(*key), state));
            p.dirty = false;
        }
        Ok(segment)
    }
}

/// Accounts of a checkpoint whose main balance is below the low-balance
/// threshold (the notice was sent and the balance has not come back) or
/// beyond the credit limit (the rater blocked them for it).
fn below_threshold(checkpoint: &Checkpoint) -> i64 {
    let below = checkpoint.accounts.iter().filter(|a| is_below(a.low_notified, a.blocked)).count();
    i64::try_from(below).unwrap_or(i64::MAX)
}

/// Whether an account is below the low-balance threshold or beyond its
/// credit limit, as [`below_threshold`] counts.
fn is_below(low_notified: bool, blocked: Option<ActionReason>) -> bool {
    low_notified || blocked == Some(ActionReason::CreditLimit)
}

#[cfg(test)]
mod tests {
    use super::Progress;

    #[test]
    fn progress_is_read_for_its_own_barrier_only() {
        let progress = Progress::default();
        assert_eq!(progress.read(1), (false, 0, 0), "nothing stored yet");
        progress.store(1, 40, 130);
        assert_eq!(progress.read(1), (true, 40, 130));
        assert_eq!(progress.read(2), (false, 40, 130), "the worker has not reached barrier 1");
        // Barrier numbers keep their low 16 bits; counts saturate.
        progress.store(70_000, 1 << 30, 5);
        assert_eq!(progress.read(70_000), (true, Progress::COUNT_MAX, 5));
        assert_eq!(progress.read(70_001), (false, Progress::COUNT_MAX, 5));
    }
}
