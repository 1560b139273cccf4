//! The ledger stage: gathers the segments of every rate worker for a
//! barrier and books them in one ledger commit, with the offsets they cover
//! and the state of every partition.
//!
//! Side outputs go first: dead letters and actions are delivered (the
//! producer flushed) before the commit, so a crash between the two sends
//! them again on restart but never loses them; the dead-letter headers carry
//! the source offset, by which a reader can drop a repeat.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossbeam_channel::Sender;
use ratewire_ledger::{Commit, Ledger, RejectedEvent, SourceRange};
use ratewire_rater::money::Currency;
use ratewire_rater::{Action, Name, Output, Rated, RecordKind, RejectCode};
use rust_decimal::Decimal;

use crate::error::Error;
use crate::message::PartitionKey;
use crate::metrics::{Metrics, Stage};
use crate::state::{self, PartitionState};
use crate::worker::Segment;

/// Where rejected events and threshold actions are published.
pub trait SideOutput: Send {
    /// Publishes a rejected event with its original payload.
    ///
    /// # Errors
    /// [`Error::SideOutput`] when it cannot be queued.
    fn dead_letter(&mut self, reject: &RejectedEvent) -> Result<(), Error>;

    /// Publishes a threshold action.
    ///
    /// # Errors
    /// [`Error::SideOutput`] when it cannot be queued.
    fn action(&mut self, action: &Action) -> Result<(), Error>;

    /// Waits until everything published is delivered.
    ///
    /// # Errors
    /// [`Error::SideOutput`] when a message could not be delivered.
    fn flush(&mut self) -> Result<(), Error>;
}

/// What a commit booked, reported back to the source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committed {
    /// The barrier committed.
    pub barrier: u64,
    /// The ledger's commit sequence after it (unchanged if there was
    /// nothing to book).
    pub sequence: u64,
    /// Every partition's committed span.
    pub positions: Vec<SourceRange>,
    /// Messages consumed in this commit.
    pub consumed: u64,
    /// Records rated in it.
    pub rated: u64,
    /// Messages rejected in it.
    pub rejected: u64,
    /// Lifecycle facts booked in it (threshold actions among them).
    pub facts: u64,
    /// Actions published in it.
    pub actions: u64,
    /// Rejects by code.
    pub rejected_by_code: BTreeMap<RejectCode, u64>,
    /// Gross amounts booked, by service and currency.
    pub gross_by_service: BTreeMap<(Name, Currency), Decimal>,
}

/// The ledger and side outputs, and the latest state of every partition.
pub(crate) struct LedgerStage {
    ledger: Ledger,
    side: Box<dyn SideOutput>,
    workers: usize,
    states: BTreeMap<PartitionKey, Arc<[u8]>>,
    pending: BTreeMap<u64, Vec<Segment>>,
    /// The facts and actions of the commit being booked: one buffer kept
    /// from commit to commit, so that gathering the segments copies into
    /// memory already paged in.
    output: Output,
    /// The record chunks of the commit being booked, as the workers filled
    /// them: records are not copied.
    chunks: Vec<Vec<Rated>>,
    /// Where emptied record chunks go back to the workers.
    recycle: Sender<Vec<Rated>>,
    metrics: Arc<Metrics>,
}

impl LedgerStage {
    pub(crate) fn new(
        ledger: Ledger,
        side: Box<dyn SideOutput>,
        workers: usize,
        restored: &[PartitionState],
        recycle: Sender<Vec<Rated>>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, Error> {
        let mut states = BTreeMap::new();
        for s in restored {
            let key = PartitionKey { topic: s.topic.as_str().into(), partition: s.partition };
            states.insert(key, state::encode_partition(s)?);
        }
        metrics.ledger_opened(ledger.sequence());
        let (output, chunks) = (Output::default(), Vec::new());
        Ok(Self { ledger, side, workers, states, pending: BTreeMap::new(), output, chunks, recycle, metrics })
    }

    /// Takes a worker's segment; when every worker's segment for its barrier
    /// is in, commits them and returns what was booked.
    pub(crate) fn accept(&mut self, segment: Segment) -> Result<Option<Committed>, Error> {
        let barrier = segment.barrier;
        if !self.pending.contains_key(&barrier) && self.pending.len() >= crate::bounds::BARRIERS_IN_FLIGHT_MAX {
            return Err(Error::Internal(format!(
                "more than {} barriers in flight",
                crate::bounds::BARRIERS_IN_FLIGHT_MAX
            )));
        }
        let segments = self.pending.entry(barrier).or_default();
        segments.push(segment);
        if segments.len() < self.workers {
            return Ok(None);
        }
        // Workers close barriers in order, so the first complete one is the
        // oldest pending.
        let segments = self.pending.remove(&barrier).unwrap_or_default();
        debug_assert!(self.pending.keys().all(|b| *b > barrier), "barriers complete in order");
        let result = self.commit(barrier, segments);
        if result.is_err() {
            self.metrics.commit_failed();
        }
        result.map(Some)
    }

    fn commit(&mut self, barrier: u64, segments: Vec<Segment>) -> Result<Committed, Error> {
        let mut output = std::mem::take(&mut self.output);
        let mut chunks = std::mem::take(&mut self.chunks);
        output.clear();
        let result = self.commit_into(barrier, segments, &mut output, &mut chunks);
        // Dropped here, not with the next commit: the buffers keep only
        // their capacity in between.
        output.clear();
        self.output = output;
        for mut chunk in chunks.drain(..) {
            chunk.clear();
            // Full or closed: the chunk is dropped instead.
            let _ = self.recycle.try_send(chunk);
        }
        self.chunks = chunks;
        result
    }

    fn commit_into(
        &mut self,
        barrier: u64,
        segments: Vec<Segment>,
        output: &mut Output,
        chunks: &mut Vec<Vec<Rated>>,
    ) -> Result<Committed, Error> {
        let started = Instant::now();
        let mut rejects = Vec::new();
        let mut ranges = Vec::new();
        let mut consumed = 0;
        for mut s in segments {
            debug_assert!(s.output.rated.is_empty(), "a segment's records are in its chunks");
            chunks.append(&mut s.rated);
            output.actions.append(&mut s.output.actions);
            output.facts.append(&mut s.output.facts);
            rejects.append(&mut s.rejects);
            ranges.append(&mut s.ranges);
            consumed += s.consumed;
            self.states.extend(s.states);
        }
        let rejected = rejects.len() as u64;
        assert!(
            consumed >= rejected,
            "every reject is of a consumed message: {consumed} consumed, {rejected} rejected"
        );
        let mut committed = Committed {
            barrier,
            sequence: self.ledger.sequence(),
            positions: Vec::new(),
            consumed,
            rated: chunks.iter().map(|c| c.len() as u64).sum(),
            rejected,
            facts: output.facts.len() as u64,
            actions: output.actions.len() as u64,
            ..Committed::default()
        };
        for r in &rejects {
            *committed.rejected_by_code.entry(r.rejected.reject.code).or_default() += 1;
        }
        // Summed in a list first, its keys compared as interned names (by
        // pointer): a map ordered by the names' text compared them for every
        // record. The catalog's services bound the list.
        let mut gross_by_service: Vec<((Name, Currency), Decimal)> = Vec::new();
        for r in chunks.iter().flatten() {
            let key = (r.service, r.currency);
            match gross_by_service.iter_mut().find(|(k, _)| *k == key) {
                Some((_, gross)) => *gross += r.gross,
                None => gross_by_service.push((key, r.gross)),
            }
        }
        committed.gross_by_service = gross_by_service.into_iter().collect();
        if ranges.is_empty() {
            committed.positions = self.ledger.offsets().to_vec();
            return Ok(committed);
        }
        let side_started = Instant::now();
        for r in &rejects {
            self.side.dead_letter(r)?;
        }
        for a in &output.actions {
            self.side.action(a)?;
        }
        self.side.flush()?;
        let side_elapsed = side_started.elapsed();
        self.metrics.stage(Stage::SideOutput, side_elapsed);
        let checkpoint_started = Instant::now();
        let checkpoint = state::encode(&self.states)?;
        let checkpoint_elapsed = checkpoint_started.elapsed();
        let commit = Commit {
            rated: chunks,
            facts: &output.facts,
            rejected: &rejects,
            offsets: &ranges,
            checkpoint: &checkpoint,
            booked_at: Utc::now(),
        };
        let ledger_started = Instant::now();
        let manifest = self.ledger.commit(&commit)?;
        let ledger_elapsed = ledger_started.elapsed();
        let bytes = manifest.files.iter().map(|f| f.bytes).sum();
        self.metrics.committed(manifest.sequence, bytes, ledger_elapsed);
        self.observe_event_to_commit(chunks, &rejects, Utc::now());
        self.metrics.stage(Stage::LedgerCommit, started.elapsed());
        log::debug!(
            "commit {}: {} records, {} facts, {} rejects, {} actions; side output {} ms, checkpoint {} bytes in {} ms, {} files in {} ms, {} ms in all",
            manifest.sequence,
            committed.rated,
            committed.facts,
            committed.rejected,
            committed.actions,
            side_elapsed.as_millis(),
            checkpoint.len(),
            checkpoint_elapsed.as_millis(),
            manifest.files.len(),
            ledger_elapsed.as_millis(),
            started.elapsed().as_millis(),
        );
        committed.sequence = manifest.sequence;
        committed.positions = manifest.positions;
        Ok(committed)
    }

    /// Event time to `booked` for the records of events (not those the
    /// rater generates, whose time is a period boundary) and the rejects
    /// with a readable time; filled locally, flushed once per commit.
    fn observe_event_to_commit(&self, rated: &[Vec<Rated>], rejects: &[RejectedEvent], booked: DateTime<Utc>) {
        let local = self.metrics.event_to_commit();
        let observe = |time: DateTime<Utc>| {
            let ms = u64::try_from((booked - time).num_milliseconds()).unwrap_or(0);
            local.observe(Duration::from_millis(ms).as_secs_f64());
        };
        for r in rated.iter().flatten() {
            if !matches!(r.kind, RecordKind::Recurring | RecordKind::Grant | RecordKind::Expiry) {
                observe(r.event_time);
            }
        }
        for r in rejects {
            if let Some(time) = r.event_time {
                observe(time);
            }
        }
        local.flush();
    }
}

#[cfg(test)]
mod tests {
    use crossbeam_channel::bounded;

    use super::*;

    struct NoSideOutput;

    impl SideOutput for NoSideOutput {
        fn dead_letter(&mut self, _: &RejectedEvent) -> Result<(), Error> {
            Ok(())
        }

        fn action(&mut self, _: &Action) -> Result<(), Error> {
            Ok(())
        }

        fn flush(&mut self) -> Result<(), Error> {
            Ok(())
        }
    }

    /// A segment of no records, in one empty chunk of `capacity`.
    fn segment(barrier: u64, partition: i32, capacity: usize) -> Segment {
        let mut segment = Segment { barrier, consumed: 5, ..Segment::default() };
        segment.rated.push(Vec::with_capacity(capacity));
        // Five messages a barrier: barrier n covers offsets 5(n-1) to 5n.
        let to = i64::try_from(barrier).unwrap() * 5;
        segment.ranges.push(SourceRange { source: "events".into(), partition, from: to - 5, to });
        segment
    }

    #[test]
    fn the_segments_record_chunks_go_back_to_the_workers() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, _) = Ledger::open(dir.path()).unwrap();
        let (recycle, recycled) = bounded(2);
        let metrics = Arc::new(Metrics::new().unwrap());
        let mut stage = LedgerStage::new(ledger, Box::new(NoSideOutput), 2, &[], recycle, metrics).unwrap();

        assert!(stage.accept(segment(1, 0, 1000)).unwrap().is_none(), "waits for the other worker");
        let committed = stage.accept(segment(1, 1, 2000)).unwrap().expect("both segments are in");
        assert_eq!((committed.sequence, committed.consumed), (1, 10));
        let mut capacities: Vec<usize> = recycled.try_iter().map(|b: Vec<Rated>| b.capacity()).collect();
        capacities.sort_unstable();
        assert_eq!(capacities, [1000, 2000], "both chunks come back, emptied, with their room");

        // The channel holds two: a chunk beyond that is dropped, and the
        // commit goes on.
        for barrier in [2, 3] {
            stage.accept(segment(barrier, 0, 10)).unwrap();
            assert_eq!(stage.accept(segment(barrier, 1, 10)).unwrap().unwrap().sequence, barrier);
        }
        assert_eq!(recycled.try_iter().count(), 2);
    }
}
