//! The staged pipeline: source -> rate workers -> ledger stage.
//!
//! ```text
//!             bounded queues (batches)          bounded queue (segments)
//! source ---> worker 0 (partitions p: hash(p) % n == 0) ---+
//! (this       worker 1 ...                                  +--> ledger stage --> ledger commit
//!  thread) -> worker n-1                                   --+        |
//!    ^                                                                 |
//!    +------------------------ commits (acks) --------------------------+
//! ```
//!
//! The thread that calls [`Pipeline::run`] polls the source and routes each
//! message to the worker that owns its partition, so a partition's order is
//! kept and its state is touched by one thread only. Every commit interval
//! (or once the workers have booked `commit_rows_max` rows, or when input
//! goes idle) it sends a barrier down every worker queue; each worker
//! answers with the segment it rated since the last barrier, and the ledger
//! stage commits a barrier's segments together. A full queue blocks its
//! sender: a slow ledger holds back the workers, and they hold back the
//! source.

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use ratewire_ledger::{Ledger, SourceRange};
use ratewire_rater::dedup::EventIds;
use ratewire_rater::money::Currency;
use ratewire_rater::{Name, Rated, RaterConfig, RejectCode};
use rust_decimal::Decimal;

use crate::bounds::{
    BARRIERS_IN_FLIGHT_MAX, BATCH_PAYLOAD_BYTES_MAX, BATCHES_RETURNED_PER_WORKER, CHUNK_RECORDS, POLL_TIMEOUT_MS,
    SEGMENTS_QUEUED_PER_WORKER, SPARE_MESSAGES_MAX, SPARE_PAYLOAD_BYTES_MAX,
};
use crate::error::Error;
use crate::handoff::Handoff;
use crate::message::{Message, PartitionKey};
use crate::metrics::{Metrics, Queue};
use crate::reference::ReferenceHandle;
use crate::sink::{Committed, LedgerStage, SideOutput};
use crate::state::PartitionState;
use crate::worker::{Progress, Segment, Work, Worker};

/// Where messages come from.
pub trait Source: Send {
    /// Reads the next message into `message`, whose payload buffer it
    /// reuses (the pipeline hands the buffers of rated messages back), or
    /// returns `false` when none arrived within `timeout`.
    ///
    /// # Errors
    /// [`Error::Source`] when the source failed for good.
    fn poll(&mut self, timeout: Duration, message: &mut Message) -> Result<bool, Error>;

    /// The ledger committed up to `positions` (for lag monitoring; the
    /// ledger's own offsets are what a restart resumes from).
    ///
    /// # Errors
    /// [`Error::Source`].
    fn committed(&mut self, positions: &[SourceRange]) -> Result<(), Error>;

    /// Whether every message available now has been polled.
    ///
    /// # Errors
    /// [`Error::Source`].
    fn caught_up(&mut self) -> Result<bool, Error>;

    /// The partitions assigned to this consumer or revoked from it since
    /// the last call, in order. Only a source asked to hand partitions over
    /// (scale-out) reports them; it delivers nothing of an assigned
    /// partition until [`Source::start`].
    fn rebalanced(&mut self) -> Vec<Rebalance> {
        Vec::new()
    }

    /// Starts delivering assigned partition `key` from `offset`, once its
    /// state is adopted.
    ///
    /// # Errors
    /// [`Error::Source`].
    fn start(&mut self, key: &PartitionKey, offset: i64) -> Result<(), Error> {
        let _ = (key, offset);
        Ok(())
    }
}

/// A change of the partitions a consumer-group member reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebalance {
    /// These partitions were assigned to it.
    Assigned(Vec<PartitionKey>),
    /// These were taken from it.
    Revoked(Vec<PartitionKey>),
}

/// How the pipeline runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Rating threads.
    pub rate_workers: usize,
    /// Messages per batch handed to a worker.
    pub batch_messages_max: usize,
    /// Batches each worker queue holds.
    pub queue_batches_max: usize,
    /// Longest time between commits while messages arrive.
    pub commit_interval_ms: u64,
    /// Rows (rated records, facts, rejects) after which a commit is made
    /// sooner. Each worker reports the rows it has booked since the last
    /// barrier, and the source side cuts a commit when those, with what the
    /// messages handed over and not yet rated will book at the same rows
    /// per message, reach this many, or when it has handed over this many
    /// messages. The estimate can fall short: a commit can exceed this by
    /// the rows of what the worker queues hold (`queue_batches_max` + 2
    /// batches per worker) at most.
    pub commit_rows_max: u64,
    /// Larger messages are rejected (`1002 OVERSIZED`).
    pub message_bytes_max: usize,
    /// The rater's limits.
    pub rater: RaterConfig,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            rate_workers: 2,
            batch_messages_max: 4096,
            queue_batches_max: 32,
            commit_interval_ms: 1000,
            commit_rows_max: 262_144,
            message_bytes_max: 65_536,
            rater: RaterConfig::default(),
        }
    }
}

/// When [`Pipeline::run`] returns (besides an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// When the stop flag is set (SIGTERM).
    Stopped,
    /// When every message available has been committed, or the stop flag
    /// is set.
    CaughtUp,
}

/// Totals of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Messages consumed (rated or rejected).
    pub consumed: u64,
    /// Records rated.
    pub rated: u64,
    /// Messages rejected.
    pub rejected: u64,
    /// Actions published.
    pub actions: u64,
    /// Ledger commits made.
    pub commits: u64,
    /// Rejects by code.
    pub rejected_by_code: BTreeMap<RejectCode, u64>,
    /// Gross amounts booked, by service and currency.
    pub gross_by_service: BTreeMap<(Name, Currency), Decimal>,
    /// Every partition's committed span at the end.
    pub positions: Vec<SourceRange>,
}

/// A pipeline ready to run: the ledger opened and recovered, the reference
/// data loaded.
pub struct Pipeline {
    ledger: Ledger,
    checkpoint: Vec<u8>,
    side: Box<dyn SideOutput>,
    reference: Arc<ReferenceHandle>,
    committed_ids: Arc<EventIds>,
    options: Options,
    metrics: Option<Arc<Metrics>>,
    handoff: Option<Handoff>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").field("ledger", &self.ledger.dir()).field("options", &self.options).finish()
    }
}

impl Pipeline {
    /// A pipeline committing to `ledger`, resuming from `checkpoint` (the
    /// ledger's last, as its recovery returned it) and refusing as
    /// duplicates the `committed_ids` already in the ledger.
    #[must_use]
    pub fn new(
        ledger: Ledger,
        checkpoint: Vec<u8>,
        committed_ids: EventIds,
        side: Box<dyn SideOutput>,
        reference: Arc<ReferenceHandle>,
        options: Options,
    ) -> Self {
        Self {
            ledger,
            checkpoint,
            side,
            reference,
            committed_ids: Arc::new(committed_ids),
            options,
            metrics: None,
            handoff: None,
        }
    }

    /// Shares the ledger root with other instances (scale-out): partitions
    /// are rated only while owned, and each assigned one starts from the
    /// latest state any instance committed for it (see [`Handoff`]). The
    /// source must report its rebalances ([`Source::rebalanced`]).
    #[must_use]
    pub fn with_handoff(mut self, handoff: Handoff) -> Self {
        self.handoff = Some(handoff);
        self
    }

    /// Counts into `metrics` (by default, into metrics of its own that
    /// nothing exports).
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Runs until `until`, calling `on_commit` after each commit.
    ///
    /// # Errors
    /// The first error of any stage; what was not committed is consumed
    /// again by the next run.
    pub fn run(
        self,
        source: &mut dyn Source,
        until: Until,
        stop: &AtomicBool,
        on_commit: &mut dyn FnMut(&Committed),
    ) -> Result<Summary, Error> {
        let Self { ledger, checkpoint, side, reference, committed_ids, mut options, metrics, handoff } = self;
        // A close needs the ledger's lock, which this run holds: the closed
        // periods read at the start hold until it ends.
        options.rater.closed_through = ledger.closed_through();
        let metrics = match metrics {
            Some(m) => m,
            None => Arc::new(Metrics::new()?),
        };
        let workers = options.rate_workers.max(1);
        let restored = crate::state::decode(&checkpoint)?;
        drop(checkpoint);
        // Record chunks go back from the ledger stage to the workers, so
        // that records land in memory already paged in: as many as the
        // commits in flight hold (the one being written, the segments
        // queued and those being filled).
        let chunks_per_commit = usize::try_from(options.commit_rows_max).unwrap_or(usize::MAX) / CHUNK_RECORDS;
        let chunks_in_flight = (SEGMENTS_QUEUED_PER_WORKER + 2) * (chunks_per_commit + workers);
        let (recycle_tx, recycle_rx) = bounded::<Vec<Rated>>(chunks_in_flight);
        let stage = LedgerStage::new(ledger, side, workers, &restored, recycle_tx, metrics.clone())?;
        let mut per_worker: Vec<Vec<PartitionState>> = (0..workers).map(|_| Vec::new()).collect();
        // Sharing the root, a partition's state comes with its assignment
        // (the ledger stage still carries the restored ones in each
        // checkpoint, for whoever adopts them next).
        let restored = if handoff.is_some() { Vec::new() } else { restored };
        for s in restored {
            per_worker[route(&s.topic, s.partition, workers)].push(s);
        }

        let queue = options.queue_batches_max.max(1);
        metrics.queue_capacity(Queue::Worker, queue * workers);
        let segments = SEGMENTS_QUEUED_PER_WORKER * workers;
        metrics.queue_capacity(Queue::Ledger, segments);
        let (segment_tx, segment_rx) = bounded::<Segment>(segments);
        let (ack_tx, ack_rx) = bounded::<Committed>(BARRIERS_IN_FLIGHT_MAX);
        // Rated batches go back to the source side with their messages, so
        // that payloads are read into buffers allocated already and freed,
        // if at all, on the thread that allocated them.
        let (returned_tx, returned_rx) = bounded::<Vec<Message>>(BATCHES_RETURNED_PER_WORKER * workers);
        let progress: Vec<Arc<Progress>> = (0..workers).map(|_| Arc::default()).collect();
        std::thread::scope(|scope| {
            let mut work_txs = Vec::with_capacity(workers);
            let mut handles = Vec::with_capacity(workers);
            for (restored, progress) in per_worker.into_iter().zip(&progress) {
                let (tx, rx) = bounded::<Work>(queue);
                let worker = Worker::new(
                    reference.clone(),
                    options.rater,
                    options.message_bytes_max,
                    restored,
                    committed_ids.clone(),
                    (recycle_rx.clone(), returned_tx.clone(), progress.clone()),
                    metrics.clone(),
                );
                let segments = segment_tx.clone();
                handles.push(scope.spawn(move || work(worker, &rx, &segments)));
                work_txs.push(tx);
            }
            drop((segment_tx, returned_tx));
            let ledger_metrics = metrics.clone();
            let ledger_handle = scope.spawn(move || commit_loop(stage, &segment_rx, &ack_tx, &ledger_metrics));

            let mut driver = Driver::new(options, (work_txs, returned_rx), progress, ack_rx, metrics, handoff);
            let driven = driver.drive(source, until, stop, on_commit);
            let Driver { summary, work_txs, .. } = driver;
            drop(work_txs);
            // A stage's own error explains a driver's "stage stopped".
            let mut first_error = None;
            for h in handles {
                let result = h.join().unwrap_or_else(|_| Err(Error::Internal("a rate worker panicked".into())));
                if let Err(e) = result {
                    first_error.get_or_insert(e);
                }
            }
            let result =
                ledger_handle.join().unwrap_or_else(|_| Err(Error::Internal("the ledger stage panicked".into())));
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
            if let Err(e) = driven {
                first_error.get_or_insert(e);
            }
            match first_error {
                Some(e) => Err(e),
                None => Ok(summary),
            }
        })
    }
}

/// A rate worker's thread.
fn work(mut worker: Worker, work: &Receiver<Work>, segments: &Sender<Segment>) -> Result<(), Error> {
    for item in work {
        match item {
            Work::Messages(messages) => worker.rate(messages, Utc::now())?,
            Work::Barrier(barrier) => {
                if segments.send(worker.barrier(barrier)?).is_err() {
                    // The ledger stage stopped; it reports why.
                    return Ok(());
                }
            }
            Work::Adopt { key, state, others } => worker.adopt(key, state, others),
            Work::Release(key) => worker.release(&key),
        }
    }
    Ok(())
}

/// The ledger stage's thread.
fn commit_loop(
    mut stage: LedgerStage,
    segments: &Receiver<Segment>,
    acks: &Sender<Committed>,
    metrics: &Metrics,
) -> Result<(), Error> {
    for segment in segments {
        metrics.queue_depth(Queue::Ledger, segments.len());
        if let Some(committed) = stage.accept(segment)?
            && acks.send(committed).is_err()
        {
            return Ok(());
        }
    }
    Ok(())
}

/// The worker that owns a partition. A topic's partitions go round the
/// workers in turn, from a worker picked by the topic's name, so that they
/// spread evenly (a hash of topic and partition put three of four
/// partitions on one of two workers); the same in every run (SipHash with
/// fixed keys).
fn route(topic: &str, partition: i32, workers: usize) -> usize {
    let workers = workers.max(1) as u64;
    let mut hasher = std::hash::DefaultHasher::new();
    topic.hash(&mut hasher);
    let partition = u64::from(partition.unsigned_abs());
    usize::try_from((hasher.finish() % workers + partition % workers) % workers).unwrap_or(0)
}

/// The source side of a run: batching, barriers and acks.
struct Driver {
    options: Options,
    work_txs: Vec<Sender<Work>>,
    acks: Receiver<Committed>,
    buffers: Vec<Vec<Message>>,
    /// The payload bytes in each of `buffers`.
    buffered_bytes: Vec<usize>,
    /// Batches the workers have rated, handed back with their messages.
    returned: Receiver<Vec<Message>>,
    /// Messages to read into, their payload buffers allocated already.
    spare: Vec<Message>,
    /// Batches handed back, emptied, to fill again.
    empty_batches: Vec<Vec<Message>>,
    /// Messages handed over to each worker since the last barrier.
    routed: Vec<u64>,
    /// Each worker's progress since the last barrier.
    progress: Vec<Arc<Progress>>,
    last_barrier: Instant,
    issued: u64,
    acked: u64,
    summary: Summary,
    metrics: Arc<Metrics>,
    /// Scale-out: the partitions this instance owns, and their locks.
    handoff: Option<Handoff>,
}

impl Driver {
    fn new(
        options: Options,
        (work_txs, returned): (Vec<Sender<Work>>, Receiver<Vec<Message>>),
        progress: Vec<Arc<Progress>>,
        acks: Receiver<Committed>,
        metrics: Arc<Metrics>,
        handoff: Option<Handoff>,
    ) -> Self {
        let buffers = work_txs.iter().map(|_| Vec::new()).collect();
        let buffered_bytes = vec![0; work_txs.len()];
        Self {
            options,
            work_txs,
            acks,
            buffers,
            buffered_bytes,
            returned,
            spare: Vec::new(),
            empty_batches: Vec::new(),
            routed: vec![0; progress.len()],
            progress,
            last_barrier: Instant::now(),
            issued: 0,
            acked: 0,
            summary: Summary::default(),
            metrics,
            handoff,
        }
    }

    fn drive(
        &mut self,
        source: &mut dyn Source,
        until: Until,
        stop: &AtomicBool,
        on_commit: &mut dyn FnMut(&Committed),
    ) -> Result<(), Error> {
        let interval = Duration::from_millis(self.options.commit_interval_ms);
        let poll_timeout = Duration::from_millis(POLL_TIMEOUT_MS);
        while !stop.load(Ordering::Relaxed) {
            while let Ok(committed) = self.acks.try_recv() {
                self.acked(source, &committed, on_commit)?;
            }
            let mut message = self.spare_message();
            let polled = if source.poll(poll_timeout, &mut message)? {
                Some(message)
            } else {
                self.spare.push(message);
                None
            };
            if self.handoff.is_some() {
                for change in source.rebalanced() {
                    if !self.rebalance(source, change, stop, on_commit)? {
                        break;
                    }
                }
            }
            match polled {
                Some(message) if !self.owned(&message) => {
                    // Not (or no longer) this instance's: its owner rates it.
                    self.spare.push(message);
                }
                Some(message) => {
                    let w = route(&message.topic, message.partition, self.work_txs.len());
                    self.buffered_bytes[w] += message.payload.len();
                    self.buffers[w].push(message);
                    self.routed[w] += 1;
                    if self.buffers[w].len() >= self.options.batch_messages_max
                        || self.buffered_bytes[w] >= BATCH_PAYLOAD_BYTES_MAX
                    {
                        self.send(w)?;
                    }
                }
                None => {
                    self.sample_queue();
                    // Idle: hand over and commit what there is, so that a
                    // quiet stream is committed promptly.
                    if self.since_barrier() > 0 && self.may_barrier() {
                        self.barrier()?;
                    } else if until == Until::CaughtUp && self.issued == self.acked && source.caught_up()? {
                        break;
                    }
                }
            }
            if self.since_barrier() > 0 && self.due(interval) && self.may_barrier() {
                self.barrier()?;
            }
        }
        self.metrics.stopping();
        // Drain: commit everything consumed, then wait for the commits.
        self.settle(source, on_commit)
    }

    /// Whether this instance rates `message`'s partition: always, unless it
    /// shares the ledger root and does not own the partition (a message
    /// fetched before a revocation, or before the partition was started).
    fn owned(&self, message: &Message) -> bool {
        self.handoff
            .as_ref()
            .is_none_or(|h| h.owns(&PartitionKey { topic: message.topic, partition: message.partition }))
    }

    /// Follows one change of the assignment (scale-out). A revoked
    /// partition is committed, forgotten and let go of; an assigned one is
    /// claimed, adopted with the latest state committed for it, and started
    /// at that state's offset. Returns `false` when `stop` was set while
    /// waiting for a claim.
    fn rebalance(
        &mut self,
        source: &mut dyn Source,
        change: Rebalance,
        stop: &AtomicBool,
        on_commit: &mut dyn FnMut(&Committed),
    ) -> Result<bool, Error> {
        match change {
            Rebalance::Revoked(keys) => {
                let owned: HashSet<PartitionKey> = match &self.handoff {
                    Some(h) => keys.into_iter().filter(|k| h.owns(k)).collect(),
                    None => return Ok(true),
                };
                if owned.is_empty() {
                    return Ok(true);
                }
                // Everything consumed is committed before the partitions go.
                self.settle(source, on_commit)?;
                for key in owned {
                    let w = route(&key.topic, key.partition, self.work_txs.len());
                    self.work_txs[w].send(Work::Release(key)).map_err(|_| stopped())?;
                    if let Some(h) = &mut self.handoff {
                        h.release(&key);
                    }
                }
            }
            Rebalance::Assigned(keys) => {
                let Some(handoff) = &mut self.handoff else { return Ok(true) };
                for key in &keys {
                    if !handoff.claim(key, stop)? {
                        return Ok(false);
                    }
                }
                let others = Arc::new(handoff.others_event_ids()?);
                for key in keys {
                    let adopted = handoff.adopt(&key)?;
                    let next = adopted.next();
                    log::info!(
                        "adopted {key} at offset {next} (state of {})",
                        adopted.member.as_deref().unwrap_or("nobody: a new partition")
                    );
                    let w = route(&key.topic, key.partition, self.work_txs.len());
                    let work = Work::Adopt { key, state: adopted.state, others: others.clone() };
                    self.work_txs[w].send(work).map_err(|_| stopped())?;
                    source.start(&key, next)?;
                }
            }
        }
        Ok(true)
    }

    /// Commits everything consumed so far and waits for the commit.
    fn settle(&mut self, source: &mut dyn Source, on_commit: &mut dyn FnMut(&Committed)) -> Result<(), Error> {
        if self.since_barrier() > 0 {
            while !self.may_barrier() {
                let committed = self.acks.recv().map_err(|_| stopped())?;
                self.acked(source, &committed, on_commit)?;
            }
            self.barrier()?;
        }
        while self.acked < self.issued {
            let committed = self.acks.recv().map_err(|_| stopped())?;
            self.acked(source, &committed, on_commit)?;
        }
        Ok(())
    }

    fn acked(
        &mut self,
        source: &mut dyn Source,
        c: &Committed,
        on_commit: &mut dyn FnMut(&Committed),
    ) -> Result<(), Error> {
        self.acked += 1;
        let s = &mut self.summary;
        s.consumed += c.consumed;
        s.rated += c.rated;
        s.rejected += c.rejected;
        s.actions += c.actions;
        for (code, n) in &c.rejected_by_code {
            *s.rejected_by_code.entry(*code).or_default() += n;
        }
        for (key, gross) in &c.gross_by_service {
            *s.gross_by_service.entry(*key).or_default() += gross;
        }
        if c.consumed > 0 {
            s.commits += 1;
            s.positions.clone_from(&c.positions);
            match &self.handoff {
                None => source.committed(&c.positions)?,
                Some(h) => {
                    // Offsets of partitions owned elsewhere now are not this
                    // member's to report.
                    let owned: Vec<SourceRange> = c
                        .positions
                        .iter()
                        .filter(|r| h.owns(&PartitionKey { topic: r.source.as_str().into(), partition: r.partition }))
                        .cloned()
                        .collect();
                    source.committed(&owned)?;
                }
            }
        }
        on_commit(c);
        Ok(())
    }

    /// Hands worker `w` its buffered messages.
    fn send(&mut self, w: usize) -> Result<(), Error> {
        let empty = self.empty_batch();
        let batch = std::mem::replace(&mut self.buffers[w], empty);
        self.buffered_bytes[w] = 0;
        self.metrics.consumed(batch.len());
        self.work_txs[w].send(Work::Messages(batch)).map_err(|_| stopped())?;
        self.sample_queue();
        Ok(())
    }

    /// A message to read into: a spare, with its payload buffer, or a new
    /// one.
    fn spare_message(&mut self) -> Message {
        if self.spare.is_empty() {
            self.take_returned();
        }
        self.spare.pop().unwrap_or_default()
    }

    /// A batch to fill: one the workers handed back, or a new one.
    fn empty_batch(&mut self) -> Vec<Message> {
        if self.empty_batches.is_empty() {
            self.take_returned();
        }
        self.empty_batches.pop().unwrap_or_default()
    }

    /// Takes the batches the workers handed back: their messages become
    /// spares, for their payload buffers, and the batches empty ones.
    fn take_returned(&mut self) {
        while let Ok(mut batch) = self.returned.try_recv() {
            let room = SPARE_MESSAGES_MAX.saturating_sub(self.spare.len());
            let reusable = batch.drain(..).filter(|m| m.payload.capacity() <= SPARE_PAYLOAD_BYTES_MAX);
            self.spare.extend(reusable.take(room));
            if self.empty_batches.len() < self.work_txs.len() {
                self.empty_batches.push(batch);
            }
        }
    }

    /// The worker queues' depth, sampled per batch and when idle.
    fn sample_queue(&self) {
        self.metrics.queue_depth(Queue::Worker, self.work_txs.iter().map(Sender::len).sum());
    }

    /// Messages handed over since the last barrier.
    fn since_barrier(&self) -> u64 {
        self.routed.iter().sum()
    }

    /// Whether a commit is due: the interval has passed, or a commit's rows
    /// are booked or on their way (at least its messages handed over).
    fn due(&self, interval: Duration) -> bool {
        let open = self.issued + 1;
        let rows: u64 = self
            .progress
            .iter()
            .zip(&self.routed)
            .map(|(p, &routed)| {
                let (there, handled, rows) = p.read(open);
                // Rows per message as the worker books them now, in this
                // segment or, still behind the last barrier, the one before.
                let booked = if there { (handled, rows) } else { (0, 0) };
                rows_expected(routed, booked, (handled, rows))
            })
            .sum();
        let max = self.options.commit_rows_max;
        rows >= max || self.since_barrier() >= max || self.last_barrier.elapsed() >= interval
    }

    /// Whether another barrier may be sent: the barriers in flight are
    /// bounded, so that the ack queue never fills.
    fn may_barrier(&self) -> bool {
        self.issued - self.acked < BARRIERS_IN_FLIGHT_MAX as u64
    }

    fn barrier(&mut self) -> Result<(), Error> {
        for w in 0..self.work_txs.len() {
            if !self.buffers[w].is_empty() {
                self.send(w)?;
            }
        }
        self.issued += 1;
        for tx in &self.work_txs {
            match tx.try_send(Work::Barrier(self.issued)) {
                Ok(()) => {}
                Err(TrySendError::Full(item)) => tx.send(item).map_err(|_| stopped())?,
                Err(TrySendError::Disconnected(_)) => return Err(stopped()),
            }
        }
        self.routed.fill(0);
        self.last_barrier = Instant::now();
        Ok(())
    }
}

/// The rows a worker's segment will hold: the rows booked for the messages
/// handled of its `routed` ones (`booked`, as messages and rows), and for
/// the rest as many per message as `rate` (messages and rows) has, one
/// each when it has none.
fn rows_expected(routed: u64, (handled, rows): (u64, u64), rate: (u64, u64)) -> u64 {
    let pending = routed.saturating_sub(handled);
    let ahead = match rate {
        (0, _) => pending,
        (messages, booked) => pending.saturating_mul(booked) / messages,
    };
    rows.saturating_add(ahead)
}

fn stopped() -> Error {
    Error::Internal("a pipeline stage stopped".into())
}

#[cfg(test)]
mod tests {
    use super::{route, rows_expected};

    #[test]
    fn a_segments_rows_are_its_booked_ones_and_as_many_per_message_for_the_rest() {
        // 25 of 40 messages handled, booking 100 rows: 15 more at 4 each.
        assert_eq!(rows_expected(40, (25, 100), (25, 100)), 160);
        // The worker is still behind the barrier, booking 3 rows a message.
        assert_eq!(rows_expected(40, (0, 0), (10, 30)), 120);
        // No rate known yet: one row a message.
        assert_eq!(rows_expected(40, (0, 0), (0, 0)), 40);
        // All handled: the rows booked.
        assert_eq!(rows_expected(40, (40, 7), (40, 7)), 7);
        // Redelivered messages book nothing: fewer rows than messages.
        assert_eq!(rows_expected(40, (20, 10), (20, 10)), 20);
        assert_eq!(rows_expected(u64::MAX, (1, u64::MAX), (1, u64::MAX)), u64::MAX, "saturates");
    }

    #[test]
    fn a_topics_partitions_spread_evenly_over_the_workers() {
        for workers in 1..=5 {
            for partitions in [1, 4, 12, 64] {
                let mut load = vec![0; workers];
                for p in 0..partitions {
                    load[route("events", p, workers)] += 1;
                }
                let (least, most) = (load.iter().min().unwrap(), load.iter().max().unwrap());
                assert!(most - least <= 1, "{partitions} partitions over {workers} workers: {load:?}");
                assert_eq!(route("events", 3, workers), route("events", 3, workers), "stable");
            }
        }
    }
}
