//! The pipeline against an in-process source (the real-broker tests are the
//! binary's end-to-end tests): conservation, and exactly once across stops
//! and restarts that replay the source from its beginning.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ratewire_ingest::{
    BATCH_PAYLOAD_BYTES_MAX, Error, Message, Metrics, Options, Pipeline, ReferenceHandle, SideOutput, Source, Summary,
    Until,
};
use ratewire_ledger::{Ledger, RejectedEvent, SourceRange, Table, to_units};
use ratewire_rater::dedup::EventIds;
use ratewire_rater::{Action, Output, Rater, RaterConfig, decode};

const TOPIC: &str = "events";
const PARTITIONS: i32 = 3;

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples")
}

fn reference() -> Arc<ReferenceHandle> {
    let dir = examples();
    Arc::new(ReferenceHandle::open(&dir.join("catalog.toml"), &dir.join("accounts.csv")).unwrap())
}

fn rater_config() -> RaterConfig {
    // The events are dated from a fixed day; no age limit gets in the way.
    RaterConfig { event_age_max_days: 36_500, ..RaterConfig::default() }
}

/// The ids of the example accounts, in file order.
fn example_accounts() -> Vec<String> {
    std::fs::read_to_string(examples().join("accounts.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next().map(str::to_string))
        .collect()
}

/// A stream of usage events over the example accounts, with malformed
/// payloads and resent events mixed in; each account on one partition.
fn stream() -> Vec<Message> {
    stream_of(600, 7)
}

/// `events` events over the example accounts, `minutes_apart`, with resent
/// and truncated ones among them.
fn stream_of(events: usize, minutes_apart: i64) -> Vec<Message> {
    let accounts = example_accounts();
    let start: DateTime<Utc> = "2026-11-02T08:00:00Z".parse().unwrap();
    let mut next_offset = [0i64; PARTITIONS as usize];
    let mut messages = Vec::new();
    let mut push = |account_index: usize, payload: String| {
        let partition = i32::try_from(account_index % PARTITIONS as usize).unwrap();
        let offset = &mut next_offset[partition as usize];
        messages.push(Message { topic: TOPIC.into(), partition, offset: *offset, payload: payload.into_bytes() });
        *offset += 1;
    };
    for i in 0..events {
        let a = i % accounts.len();
        let time = start + chrono::Duration::minutes(i64::try_from(i).unwrap() * minutes_apart);
        let time = time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let account = &accounts[a];
        let payload = match i % 3 {
            0 => format!(
                r#"{{"v":1,"id":"v{i}","kind":"usage","account":"{account}","time":"{time}","service":"voice","quantity":{},"destination":"+4930{i:06}"}}"#,
                30 + i % 400
            ),
            1 => format!(
                r#"{{"v":1,"id":"s{i}","kind":"usage","account":"{account}","time":"{time}","service":"sms","quantity":1,"destination":"+3361{i:06}"}}"#
            ),
            _ => format!(
                r#"{{"v":1,"id":"d{i}","kind":"usage","account":"{account}","time":"{time}","service":"data","quantity":{}}}"#,
                1_000_000 + i * 3_317
            ),
        };
        push(a, payload.clone());
        if i % 50 == 7 {
            push(a, payload); // resent: a duplicate
        }
        if i % 60 == 11 {
            push(a, format!(r#"{{"v":1,"id":"bad{i}","kind":"usage","account":"{account}""#)); // truncated
        }
    }
    messages
}

/// Replays `messages` partition by partition, interleaved, from the first
/// offset at or after where each partition resumes.
struct FakeSource {
    messages: Vec<Message>,
    cursor: usize,
    /// Polls answered before the source reports the stop flag set.
    stop_after: Option<(usize, Arc<AtomicBool>)>,
    committed: Vec<SourceRange>,
    /// Messages read into a payload buffer allocated already.
    reused: usize,
}

impl FakeSource {
    fn new(messages: Vec<Message>) -> Self {
        Self { messages, cursor: 0, stop_after: None, committed: Vec::new(), reused: 0 }
    }
}

impl Source for FakeSource {
    fn poll(&mut self, _timeout: Duration, into: &mut Message) -> Result<bool, Error> {
        if let Some((n, stop)) = &mut self.stop_after {
            if *n == 0 {
                stop.store(true, Ordering::Relaxed);
                return Ok(false);
            }
            *n -= 1;
        }
        let Some(message) = self.messages.get(self.cursor) else { return Ok(false) };
        self.reused += usize::from(into.payload.capacity() > 0);
        into.topic = message.topic;
        into.partition = message.partition;
        into.offset = message.offset;
        into.payload.clear();
        into.payload.extend_from_slice(&message.payload);
        self.cursor += 1;
        Ok(true)
    }

    fn committed(&mut self, positions: &[SourceRange]) -> Result<(), Error> {
        self.committed = positions.to_vec();
        Ok(())
    }

    fn caught_up(&mut self) -> Result<bool, Error> {
        Ok(self.cursor == self.messages.len())
    }
}

#[derive(Default)]
struct Published {
    /// Source, partition, offset and payload of each.
    dead_letters: Vec<(String, i32, i64, Vec<u8>)>,
    actions: usize,
    flushes: usize,
}

struct FakeSide(Arc<std::sync::Mutex<Published>>);

impl SideOutput for FakeSide {
    fn dead_letter(&mut self, r: &RejectedEvent) -> Result<(), Error> {
        self.0.lock().unwrap().dead_letters.push((r.source.to_string(), r.partition, r.offset, r.payload.clone()));
        Ok(())
    }
    fn action(&mut self, _: &Action) -> Result<(), Error> {
        self.0.lock().unwrap().actions += 1;
        Ok(())
    }
    fn flush(&mut self) -> Result<(), Error> {
        self.0.lock().unwrap().flushes += 1;
        Ok(())
    }
}

fn options(workers: usize) -> Options {
    Options {
        rate_workers: workers,
        batch_messages_max: 16,
        queue_batches_max: 2,
        commit_interval_ms: 1000,
        commit_rows_max: 97,
        message_bytes_max: 65_536,
        rater: rater_config(),
    }
}

/// The event counters of `metrics`: consumed, rated, rejected (all codes)
/// and duplicate.
fn counters(metrics: &Metrics) -> [u64; 4] {
    let text = metrics.render().unwrap();
    let sum = |name: &str| -> u64 {
        text.lines()
            .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with([' ', '{'])))
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
            .sum()
    };
    [
        sum("ratewire_events_consumed_total"),
        sum("ratewire_events_rated_total"),
        sum("ratewire_events_rejected_total"),
        sum("ratewire_events_duplicate_total"),
    ]
}

/// Opens the ledger in `dir` and runs a pipeline over `source` until it
/// stops or catches up; checks that its metrics agree with its summary.
fn run(dir: &Path, source: &mut FakeSource, workers: usize, side: &Arc<std::sync::Mutex<Published>>) -> Summary {
    run_counted(dir, source, workers, side).0
}

/// As [`run`], with the run's event counters.
fn run_counted(
    dir: &Path,
    source: &mut FakeSource,
    workers: usize,
    side: &Arc<std::sync::Mutex<Published>>,
) -> (Summary, [u64; 4]) {
    run_with(dir, source, options(workers), side)
}

/// As [`run_counted`], with `options`.
fn run_with(
    dir: &Path,
    source: &mut FakeSource,
    options: Options,
    side: &Arc<std::sync::Mutex<Published>>,
) -> (Summary, [u64; 4]) {
    let (summary, counted, _) = run_metered(dir, source, options, side);
    (summary, counted)
}

/// As [`run_with`], with the run's metrics.
fn run_metered(
    dir: &Path,
    source: &mut FakeSource,
    options: Options,
    side: &Arc<std::sync::Mutex<Published>>,
) -> (Summary, [u64; 4], Arc<Metrics>) {
    let (ledger, recovery) = Ledger::open(dir).unwrap();
    let mut ids = EventIds::default();
    ledger.for_each_event_id(|id| ids.insert(id)).unwrap();
    let pipeline =
        Pipeline::new(ledger, recovery.checkpoint, ids, Box::new(FakeSide(side.clone())), reference(), options);
    let metrics = Arc::new(Metrics::new().unwrap());
    let pipeline = pipeline.with_metrics(metrics.clone());
    let stop = source.stop_after.as_ref().map_or_else(|| Arc::new(AtomicBool::new(false)), |(_, s)| s.clone());
    let summary = pipeline.run(source, Until::CaughtUp, &stop, &mut |_| {}).unwrap();
    // Everything handed over was committed: the counters add up.
    let [consumed, rated, rejected, duplicate] = counters(&metrics);
    assert_eq!(consumed, summary.consumed + duplicate, "consumed = booked + dropped as redelivered");
    assert_eq!(rejected, summary.rejected);
    assert_eq!(rated, summary.consumed - summary.rejected);
    (summary, [consumed, rated, rejected, duplicate], metrics)
}

/// What rating the stream in one pass, partition by partition, books.
fn expected(messages: &[Message]) -> (u64, u64, i128) {
    let (_, out, rejected, _) = one_pass(messages);
    let gross = out.rated.iter().map(|r| to_units(r.gross)).sum();
    (out.rated.len() as u64, rejected, gross)
}

/// The stream rated in one pass: each partition's rater, the output, how
/// many messages were rejected, and the ledger rows (records, facts,
/// rejects) each message booked, in stream order.
fn one_pass(messages: &[Message]) -> (HashMap<i32, Rater>, Output, u64, Vec<u64>) {
    let handle = reference();
    let r = handle.load();
    let mut raters: HashMap<i32, Rater> = HashMap::new();
    let mut ids = EventIds::default();
    let mut out = Output::default();
    let mut rejected = 0;
    let mut rows = Vec::with_capacity(messages.len());
    let now = Utc::now();
    for m in messages {
        let rater = raters
            .entry(m.partition)
            .or_insert_with(|| Rater::new(r.tables.clone(), r.accounts.clone(), rater_config()));
        let booked = |out: &Output| (out.rated.len() + out.facts.len() + out.rejected.len()) as u64;
        let before = booked(&out);
        match decode(&m.payload) {
            Ok(e) if !ids.contains(&e.id) => {
                let rejects = out.rejected.len();
                rater.rate(&e, now, &mut out);
                if out.rejected.len() == rejects {
                    ids.insert(&e.id);
                }
                rows.push(booked(&out) - before);
            }
            _ => {
                rejected += 1;
                rows.push(1);
            }
        }
    }
    rejected += out.rejected.len() as u64;
    (raters, out, rejected, rows)
}

fn ledger_totals(dir: &Path) -> (u64, u64, i128) {
    let (ledger, _) = Ledger::open(dir).unwrap();
    let totals = ledger.verify().unwrap();
    let rated = &totals[&Table::Rated];
    let rejects = totals.get(&Table::Rejects).map_or(0, |t| t.rows);
    (rated.rows, rejects, rated.sums["gross"])
}

#[test]
fn every_message_is_booked_once_rated_or_rejected() {
    let messages = stream();
    let (rated, rejected, gross) = expected(&messages);
    assert!(rejected >= 20, "the stream has malformed and resent events: {rejected}");
    for workers in [1, 2, 3] {
        let dir = tempfile::tempdir().unwrap();
        let side = Arc::default();
        let mut source = FakeSource::new(messages.clone());
        let summary = run(dir.path(), &mut source, workers, &side);
        assert_eq!(summary.consumed, messages.len() as u64);
        assert_eq!(summary.rejected, rejected);
        assert_eq!(ledger_totals(dir.path()), (rated, rejected, gross), "{workers} workers");
        assert_checkpoint_is_one_pass(dir.path(), &messages);
        // Every reject went to the dead-letter output, named by its offset,
        // with the payload as it was sent.
        let published = side.lock().unwrap();
        assert_eq!(published.dead_letters.len() as u64, rejected);
        for (topic, partition, offset, payload) in &published.dead_letters {
            let sent = messages.iter().find(|m| m.partition == *partition && m.offset == *offset).unwrap();
            assert_eq!((topic.as_str(), payload), (TOPIC, &sent.payload), "{partition}@{offset}");
        }
        assert!(published.flushes >= 1);
        // The source was told the ledger's positions, for lag monitoring.
        let committed: i64 = source.committed.iter().map(|r| r.to - r.from).sum();
        assert_eq!(committed, messages.len() as i64);
    }
}

/// Segments larger than a chunk of records: each worker hands over several
/// chunks per commit, and every record of every chunk is booked.
#[test]
fn segments_of_many_chunks_are_booked_whole() {
    let messages = stream_of(24_000, 1);
    let (rated, rejected, gross) = expected(&messages);
    assert!(rated > 3 * 4096, "more records than three chunks: {rated}");
    for workers in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let side = Arc::default();
        let mut source = FakeSource::new(messages.clone());
        let options = Options { batch_messages_max: 1024, commit_rows_max: 20_000, ..options(workers) };
        let (summary, _) = run_with(dir.path(), &mut source, options, &side);
        assert_eq!(summary.consumed, messages.len() as u64);
        assert_eq!(ledger_totals(dir.path()), (rated, rejected, gross), "{workers} workers");
        assert_checkpoint_is_one_pass(dir.path(), &messages);
        // Rated batches come back: most messages are read into the payload
        // buffers of earlier ones (a reject keeps its payload).
        let kept = messages.len() - usize::try_from(rejected).unwrap();
        assert!(source.reused > kept / 2, "{workers} workers: {} of {kept} reused", source.reused);
    }
}

/// One usage event per account per month of 2026, from January (when the
/// example plans take effect) to `months`: each opens its account's period
/// and books the period's fees and grants with it, so a message books
/// several rows.
fn monthly_stream(months: u32) -> Vec<Message> {
    let accounts = example_accounts();
    let mut next_offset = [0i64; PARTITIONS as usize];
    let mut messages = Vec::new();
    for month in 1..=months {
        let time = format!("2026-{month:02}-20T12:00:00Z");
        for (a, account) in accounts.iter().enumerate() {
            let partition = i32::try_from(a % PARTITIONS as usize).unwrap();
            let offset = &mut next_offset[partition as usize];
            let payload = format!(
                r#"{{"v":1,"id":"m{month}-{a}","kind":"usage","account":"{account}","time":"{time}","service":"sms","quantity":1,"destination":"+3361{a:06}"}}"#
            );
            messages.push(Message { topic: TOPIC.into(), partition, offset: *offset, payload: payload.into_bytes() });
            *offset += 1;
        }
    }
    messages
}

/// `ledger.commit_rows_max` bounds a commit's rows, not its messages: when
/// each message books several rows, commits are cut by the rows the workers
/// have booked, within what their queues hold.
#[test]
fn commits_are_cut_by_the_rows_booked() {
    let messages = monthly_stream(11);
    let (.., rows) = one_pass(&messages);
    let (total, most) = (rows.iter().sum::<u64>(), *rows.iter().max().unwrap());
    let rows_max = 40;
    for workers in [1, 2] {
        let options = Options {
            batch_messages_max: 1,
            queue_batches_max: 1,
            commit_rows_max: rows_max,
            commit_interval_ms: 600_000,
            ..options(workers)
        };
        // Messages a worker may hold uncounted when a commit is cut: its
        // queue, the batch it rates and the one being filled.
        let in_flight = workers as u64 * (options.queue_batches_max as u64 + 2) * options.batch_messages_max as u64;
        let bound = rows_max + in_flight * most;
        // Cut by messages alone, a commit would hold more than that.
        assert!(
            total * rows_max / messages.len() as u64 > bound,
            "{total} rows for {} messages, at most {most} for one; bound {bound}",
            messages.len()
        );

        let dir = tempfile::tempdir().unwrap();
        let (ledger, recovery) = Ledger::open(dir.path()).unwrap();
        let side = Arc::new(std::sync::Mutex::new(Published::default()));
        let pipeline = Pipeline::new(
            ledger,
            recovery.checkpoint,
            EventIds::default(),
            Box::new(FakeSide(side)),
            reference(),
            options,
        );
        let mut commits = Vec::new();
        let stop = AtomicBool::new(false);
        let mut source = FakeSource::new(messages.clone());
        let summary = pipeline
            .run(&mut source, Until::CaughtUp, &stop, &mut |c| {
                commits.push(c.rated + c.facts + c.rejected);
            })
            .unwrap();
        assert_eq!(summary.consumed, messages.len() as u64);
        assert_eq!(commits.iter().sum::<u64>(), total, "{workers} workers: every row booked once");
        assert!(commits.iter().all(|&c| c <= bound), "{workers} workers: commits of {commits:?} rows, bound {bound}");
        assert!(commits.len() as u64 >= total / bound, "{workers} workers: {} commits", commits.len());
    }
}

#[test]
fn batches_of_large_messages_are_handed_over_by_size() {
    // Valid JSON padded with whitespace: about 2.2 KB a message, so that a
    // worker's batch reaches its payload bound long before its message bound.
    let padding = " ".repeat(2_000);
    let mut messages = stream_of(2_400, 1);
    for m in &mut messages {
        m.payload.extend_from_slice(padding.as_bytes());
    }
    let payload_bytes: usize = messages.iter().map(|m| m.payload.len()).sum();
    assert!(payload_bytes > 4 * BATCH_PAYLOAD_BYTES_MAX, "{payload_bytes} bytes");
    let (rated, rejected, gross) = expected(&messages);
    for workers in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let side = Arc::default();
        let mut source = FakeSource::new(messages.clone());
        // Neither the message bound nor a commit cuts a batch: only the
        // payload bound can, before the source runs dry.
        let options = Options {
            batch_messages_max: 65_536,
            commit_rows_max: 1 << 20,
            commit_interval_ms: 600_000,
            ..options(workers)
        };
        let (summary, _, metrics) = run_metered(dir.path(), &mut source, options, &side);
        assert_eq!(summary.consumed, messages.len() as u64);
        assert_eq!(ledger_totals(dir.path()), (rated, rejected, gross), "{workers} workers");
        let batches = rate_batches(&metrics);
        let cut = (payload_bytes / BATCH_PAYLOAD_BYTES_MAX) as u64;
        assert!(batches >= cut, "{workers} workers: {batches} batches of {payload_bytes} bytes");
    }
}

/// The batches the rate workers rated, from `metrics`.
fn rate_batches(metrics: &Metrics) -> u64 {
    let text = metrics.render().unwrap();
    let line = text.lines().find(|l| l.starts_with("ratewire_stage_duration_seconds_count{stage=\"rate\"}")).unwrap();
    line.rsplit_once(' ').unwrap().1.parse().unwrap()
}

/// The checkpoint of the ledger's last commit holds each partition's state
/// as rating the stream in one pass leaves it, although each barrier
/// serializes only the accounts rated since the previous one.
fn assert_checkpoint_is_one_pass(dir: &Path, messages: &[Message]) {
    let (mut raters, ..) = one_pass(messages);
    let (_, recovery) = Ledger::open(dir).unwrap();
    let states = ratewire_ingest::state::decode(&recovery.checkpoint).unwrap();
    assert_eq!(states.len(), raters.len());
    for state in states {
        let rater = raters.remove(&state.partition).unwrap();
        assert_eq!(state.state, rater.checkpoint(), "partition {}", state.partition);
    }
}

#[test]
fn stops_and_restarts_that_replay_the_source_book_nothing_twice() {
    let messages = stream();
    let expected = expected(&messages);
    let dir = tempfile::tempdir().unwrap();
    let side = Arc::default();
    let (mut consumed, mut duplicates) = (0, 0);
    // Stop after a varying number of polls; each run replays the source from
    // offset 0, as a broker would after a restart, and the ledger's offsets
    // and checkpoint decide what is new.
    for (run_index, polls) in [37usize, 101, 5, 260, 1].into_iter().enumerate() {
        let mut source = FakeSource::new(messages.clone());
        source.stop_after = Some((polls + run_index * 50, Arc::new(AtomicBool::new(false))));
        let (summary, [.., duplicate]) = run_counted(dir.path(), &mut source, 2, &side);
        consumed += summary.consumed;
        duplicates += duplicate;
    }
    assert!(duplicates > 0, "replayed messages below the ledger's offsets are counted as dropped");
    let mut source = FakeSource::new(messages.clone());
    consumed += run(dir.path(), &mut source, 3, &side).consumed;
    assert_eq!(consumed, messages.len() as u64, "each message consumed once over all runs");
    assert_eq!(ledger_totals(dir.path()), expected);
    assert_checkpoint_is_one_pass(dir.path(), &messages);
}
