//! The pipeline's Prometheus metrics, every name in one place, and the
//! state `/readyz` reads.
//!
//! One [`Metrics`] is shared (an `Arc`) by the stages of a run. The stages
//! update it without locks: counters, gauges and histograms are atomics,
//! and the rating path touches them once per batch, not per event. What
//! costs more to know (queue depths, memory, the catalog version) is read
//! when it is cheap or when Prometheus scrapes. `docs/metrics.md` lists
//! every metric with its type, labels, unit and meaning.
//!
//! Label values come from small fixed sets: reject code names, stage and
//! queue names, the input partitions, the catalog version in force, the
//! results of a push to the mirror.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus::core::Collector;
use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use ratewire_rater::{Name, RejectCode};

use crate::bounds::BROKER_REPORT_AGE_MAX_MS;
use crate::error::Error;
use crate::reference::ReferenceHandle;

/// The content type of [`Metrics::render`]'s text.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Buckets of the per-stage durations, in seconds: 100 µs to 30 s.
const STAGE_BUCKETS: [f64; 17] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Buckets of a ledger commit's duration, in seconds: 1 ms to 2 min.
const COMMIT_BUCKETS: [f64; 14] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 120.0];

/// Buckets of a push of the ledger to its mirror, in seconds: 10 ms to
/// 30 min (a first push of a large ledger uploads all of it).
const MIRROR_PUSH_BUCKETS: [f64; 15] =
    [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1_800.0];

/// Buckets from event time to commit, in seconds: 50 ms to a week (late
/// events of up to `pipeline.event_age_max_days` exist; they land in the
/// top buckets). A quarter of a second apart from 0.5 to 2 s, where a
/// commit interval of 1 s puts the p99 and its bound of twice the
/// interval: `histogram_quantile` interpolates within a bucket, so a p99
/// just past 2 s would read as 4 s with a bucket from 2 to 5 s.
const EVENT_TO_COMMIT_BUCKETS: [f64; 26] = [
    0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 3.0, 4.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
    3_600.0, 14_400.0, 43_200.0, 86_400.0, 259_200.0, 604_800.0,
];

/// A pipeline stage whose unit of work is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// A rate worker decoding and rating one batch.
    Rate,
    /// The ledger stage publishing one commit's dead letters and actions
    /// and waiting for the broker to have them.
    SideOutput,
    /// The ledger stage handling one barrier: merging the workers'
    /// segments, the side output, the Parquet write and the manifest.
    LedgerCommit,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 3] = [Stage::Rate, Stage::SideOutput, Stage::LedgerCommit];

    /// The `stage` label value.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Rate => "rate",
            Self::SideOutput => "side_output",
            Self::LedgerCommit => "ledger_commit",
        }
    }
}

/// A bounded queue between stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// The source to the rate workers: every worker's queue together, in
    /// batches and barriers.
    Worker = 0,
    /// The rate workers to the ledger stage, in segments.
    Ledger = 1,
}

impl Queue {
    /// Every queue, in pipeline order (each at its discriminant).
    pub const ALL: [Queue; 2] = [Queue::Worker, Queue::Ledger];

    /// The `queue` label value.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Worker => "worker",
            Self::Ledger => "ledger",
        }
    }
}

/// Consumer lag as the source last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lag {
    /// Per assigned partition: topic, partition and messages behind.
    pub partitions: Vec<(String, i32, u64)>,
    /// The sum over the assigned partitions, or `None` while some
    /// partition's end offset (or the assignment itself) is not known yet.
    pub total: Option<u64>,
}

/// What `/readyz` checks besides the process being up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyCheck {
    /// Most messages the ledger may be behind the input partitions' ends.
    pub lag_max_messages: u64,
    /// The ledger directory, which must be writable.
    pub ledger_dir: PathBuf,
}

/// The state `/readyz` reads, kept by the stages.
#[derive(Debug, Default)]
struct Health {
    /// When librdkafka last reported a broker connection up, in ms since
    /// the epoch; 0 for never.
    broker_up_at_ms: AtomicU64,
    /// Messages behind, summed over the assigned partitions.
    lag_total: AtomicU64,
    /// Whether `lag_total` is known.
    lag_known: AtomicBool,
    /// Whether the last ledger commit failed.
    commit_failed: AtomicBool,
    /// Set when the pipeline is draining to stop.
    stopping: AtomicBool,
}

/// The catalog version exported by `ratewire_catalog_info`, read from the
/// reference data in force at each scrape so that exactly one series shows.
#[derive(Debug, Default)]
struct CatalogInfo {
    reference: OnceLock<Arc<ReferenceHandle>>,
    /// The version exported, to remove its series when it changes. Held
    /// while the registry is gathered, so that a scrape sees one version.
    exported: Mutex<Option<Name>>,
}

/// The metrics of one `ratewire run`, with the registry that exports them.
pub struct Metrics {
    registry: Registry,
    consumed: IntCounter,
    rated: IntCounter,
    /// `ratewire_events_rejected_total` by code, in [`RejectCode::ALL`]
    /// order: resolved once, so that counting needs no label lookup.
    rejected: Vec<IntCounter>,
    duplicate: IntCounter,
    stages: Vec<Histogram>,
    event_to_commit: Histogram,
    consumer_lag: IntGaugeVec,
    lag_series: Mutex<BTreeSet<(String, i32)>>,
    queue_depth: Vec<IntGauge>,
    queue_capacity: Vec<IntGauge>,
    ledger_commits: IntCounter,
    ledger_commit_bytes: IntCounter,
    ledger_commit_duration: Histogram,
    ledger_last_commit: Gauge,
    ledger_commit: IntGauge,
    catalog_info: IntGaugeVec,
    catalog: CatalogInfo,
    catalog_reloads_applied: IntCounter,
    catalog_reloads_refused: IntCounter,
    accounts_below_threshold: IntGauge,
    mirror_pushes_ok: IntCounter,
    mirror_pushes_error: IntCounter,
    mirror_push_duration: Histogram,
    mirror_commit: IntGauge,
    mirror_last_push: Gauge,
    resident_memory: IntGauge,
    health: Health,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("consumed", &self.consumed.get()).finish_non_exhaustive()
    }
}

/// Registers `metric` and returns it.
fn register<M: Collector + Clone + 'static>(
    registry: &Registry,
    metric: Result<M, prometheus::Error>,
) -> Result<M, Error> {
    let metric = metric.map_err(|e| Error::Metrics(e.to_string()))?;
    registry.register(Box::new(metric.clone())).map_err(|e| Error::Metrics(e.to_string()))?;
    Ok(metric)
}

impl Metrics {
    /// Every metric, registered, at zero.
    ///
    /// # Errors
    /// [`Error::Metrics`] if a name or label is refused (a bug).
    pub fn new() -> Result<Self, Error> {
        let r = Registry::new();
        let counter = |name: &str, help: &str| register(&r, IntCounter::new(name, help));
        let histogram = |name: &str, help: &str, buckets: &[f64]| {
            register(&r, Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec())))
        };

        let consumed = counter(
            "ratewire_events_consumed_total",
            "Messages read from the input topics and handed to the rate workers.",
        )?;
        let rated = counter("ratewire_events_rated_total", "Messages rated: consumed, not rejected, not dropped.")?;
        let rejected_vec = register(
            &r,
            IntCounterVec::new(
                Opts::new("ratewire_events_rejected_total", "Messages rejected, by reject code name."),
                &["code"],
            ),
        )?;
        let rejected = RejectCode::ALL.iter().map(|c| rejected_vec.with_label_values(&[c.name()])).collect();
        let duplicate = counter(
            "ratewire_events_duplicate_total",
            "Messages dropped unread because their offset is below the partition's next offset \
             (a redelivery of what this run or the ledger already has).",
        )?;
        let stage_vec = register(
            &r,
            prometheus::HistogramVec::new(
                HistogramOpts::new(
                    "ratewire_stage_duration_seconds",
                    "Time a stage spends on one unit of work: rate = one batch of a rate worker; \
                     side_output = publishing one commit's dead letters and actions until the broker has them; \
                     ledger_commit = one commit of the ledger stage (side output and Parquet write included).",
                )
                .buckets(STAGE_BUCKETS.to_vec()),
                &["stage"],
            ),
        )?;
        let stages = Stage::ALL.iter().map(|s| stage_vec.with_label_values(&[s.name()])).collect();
        let event_to_commit = histogram(
            "ratewire_event_to_commit_seconds",
            "From an event's time to the ledger commit that booked it, for usage and lifecycle events \
             (rated or rejected with a readable time; records the rater generates are left out).",
            &EVENT_TO_COMMIT_BUCKETS,
        )?;
        let consumer_lag = register(
            &r,
            IntGaugeVec::new(
                Opts::new(
                    "ratewire_consumer_lag_messages",
                    "Messages of an assigned input partition not yet committed to the ledger: \
                     the partition's end (last stable offset) less the ledger's next offset, \
                     as librdkafka's statistics last reported it.",
                ),
                &["topic", "partition"],
            ),
        )?;
        let depth_vec = register(
            &r,
            IntGaugeVec::new(
                Opts::new(
                    "ratewire_queue_depth",
                    "Items waiting in a bounded queue between stages: worker = batches and barriers \
                     for the rate workers, ledger = segments for the ledger stage.",
                ),
                &["queue"],
            ),
        )?;
        let capacity_vec = register(
            &r,
            IntGaugeVec::new(
                Opts::new("ratewire_queue_capacity", "The bound of a queue between stages, in items."),
                &["queue"],
            ),
        )?;
        let queue_depth = Queue::ALL.iter().map(|q| depth_vec.with_label_values(&[q.name()])).collect();
        let queue_capacity = Queue::ALL.iter().map(|q| capacity_vec.with_label_values(&[q.name()])).collect();
        let ledger_commits = counter("ratewire_ledger_commits_total", "Ledger commits made.")?;
        let ledger_commit_bytes =
            counter("ratewire_ledger_commit_bytes_total", "Bytes of Parquet data files written by ledger commits.")?;
        let ledger_commit_duration = histogram(
            "ratewire_ledger_commit_duration_seconds",
            "Time of one ledger commit: Parquet files written and synced, checkpoint and manifest.",
            &COMMIT_BUCKETS,
        )?;
        let ledger_last_commit = register(
            &r,
            Gauge::new(
                "ratewire_ledger_last_commit_timestamp_seconds",
                "When the last ledger commit finished, in seconds since the Unix epoch.",
            ),
        )?;
        let ledger_commit = register(
            &r,
            IntGauge::new(
                "ratewire_ledger_commit",
                "The ledger's latest commit, as this process opened it or last committed; \
                 with ratewire_ledger_mirror_commit, how many commits the mirror is behind.",
            ),
        )?;
        let catalog_info = register(
            &r,
            IntGaugeVec::new(
                Opts::new("ratewire_catalog_info", "The catalog version in force: 1 for that version only."),
                &["version"],
            ),
        )?;
        let reloads = register(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "ratewire_catalog_reloads_total",
                    "Reloads of the catalog and accounts (SIGHUP, a file change or POST /admin/reload), \
                     by result: applied, or refused with the running catalog kept.",
                ),
                &["result"],
            ),
        )?;
        let accounts_below_threshold = register(
            &r,
            IntGauge::new(
                "ratewire_accounts_below_threshold",
                "Accounts whose main balance is below the catalog's low-balance threshold or beyond their \
                 credit limit (blocked by the rater), as of each account's last rated event, \
                 over the partitions this process holds.",
            ),
        )?;
        let mirror_pushes = register(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "ratewire_ledger_mirror_pushes_total",
                    "Pushes of the ledger to its mirror (ledger.mirror_url), by result: ok, or error \
                     (logged; the next push tries again).",
                ),
                &["result"],
            ),
        )?;
        let mirror_push_duration = histogram(
            "ratewire_ledger_mirror_push_duration_seconds",
            "Time of one push of the ledger to its mirror, whatever its result.",
            &MIRROR_PUSH_BUCKETS,
        )?;
        let mirror_commit = register(
            &r,
            IntGauge::new(
                "ratewire_ledger_mirror_commit",
                "The latest commit of the ledger in its mirror, as the last successful push left it; \
                 0 before the first.",
            ),
        )?;
        let mirror_last_push = register(
            &r,
            Gauge::new(
                "ratewire_ledger_mirror_last_push_timestamp_seconds",
                "When the last successful push of the ledger to its mirror finished, in seconds since \
                 the Unix epoch; 0 before the first.",
            ),
        )?;
        let resident_memory = register(
            &r,
            IntGauge::new("ratewire_process_resident_memory_bytes", "Resident memory of the process, in bytes."),
        )?;
        let build_info = register(
            &r,
            IntGaugeVec::new(Opts::new("ratewire_build_info", "The running build: 1, by version."), &["version"]),
        )?;
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);

        Ok(Self {
            consumed,
            rated,
            rejected,
            duplicate,
            stages,
            event_to_commit,
            consumer_lag,
            lag_series: Mutex::new(BTreeSet::new()),
            queue_depth,
            queue_capacity,
            ledger_commits,
            ledger_commit_bytes,
            ledger_commit_duration,
            ledger_last_commit,
            ledger_commit,
            catalog_info,
            catalog: CatalogInfo::default(),
            catalog_reloads_applied: reloads.with_label_values(&["applied"]),
            catalog_reloads_refused: reloads.with_label_values(&["refused"]),
            accounts_below_threshold,
            mirror_pushes_ok: mirror_pushes.with_label_values(&["ok"]),
            mirror_pushes_error: mirror_pushes.with_label_values(&["error"]),
            mirror_push_duration,
            mirror_commit,
            mirror_last_push,
            resident_memory,
            health: Health::default(),
            registry: r,
        })
    }

    /// Every metric in Prometheus's text exposition format.
    ///
    /// # Errors
    /// [`Error::Metrics`] if encoding fails (a bug).
    pub fn render(&self) -> Result<String, Error> {
        if let Some(bytes) = resident_memory_bytes() {
            self.resident_memory.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        let mut exported = self.catalog.exported.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(reference) = self.catalog.reference.get() {
            let version = reference.load().tables.version;
            if *exported != Some(version) {
                if let Some(old) = exported.take() {
                    let _ = self.catalog_info.remove_label_values(&[&*old]);
                }
                self.catalog_info.with_label_values(&[&*version]).set(1);
                *exported = Some(version);
            }
        }
        let families = self.registry.gather();
        drop(exported);
        let mut text = String::new();
        TextEncoder::new().encode_utf8(&families, &mut text).map_err(|e| Error::Metrics(e.to_string()))?;
        Ok(text)
    }

    /// Exports the version of the catalog `reference` holds in force as
    /// `ratewire_catalog_info`. Only the first call has an effect.
    pub fn watch_catalog(&self, reference: Arc<ReferenceHandle>) {
        let _ = self.catalog.reference.set(reference);
    }

    /// Counts a reload of the catalog and accounts.
    pub fn catalog_reloaded(&self, applied: bool) {
        if applied { &self.catalog_reloads_applied } else { &self.catalog_reloads_refused }.inc();
    }

    /// A push of the ledger to its mirror succeeded after `took`, leaving
    /// the mirror at commit `commit`.
    pub fn mirror_pushed(&self, commit: u64, took: Duration) {
        self.mirror_pushes_ok.inc();
        self.mirror_push_duration.observe(took.as_secs_f64());
        self.mirror_commit.set(i64::try_from(commit).unwrap_or(i64::MAX));
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        self.mirror_last_push.set(now.as_secs_f64());
    }

    /// A push of the ledger to its mirror failed after `took`.
    pub fn mirror_push_failed(&self, took: Duration) {
        self.mirror_pushes_error.inc();
        self.mirror_push_duration.observe(took.as_secs_f64());
    }

    /// `n` messages handed to the rate workers.
    pub(crate) fn consumed(&self, n: usize) {
        self.consumed.inc_by(n as u64);
    }

    /// What a rate worker did with one batch.
    pub(crate) fn rated_batch(&self, rated: u64, duplicate: u64, rejected: &Tally, took: Duration) {
        if rated > 0 {
            self.rated.inc_by(rated);
        }
        if duplicate > 0 {
            self.duplicate.inc_by(duplicate);
        }
        for (counter, n) in self.rejected.iter().zip(rejected) {
            if *n > 0 {
                counter.inc_by(*n);
            }
        }
        self.stage(Stage::Rate, took);
    }

    /// The position of `code` in the per-code tallies of [`Metrics::rated_batch`].
    pub(crate) fn reject_index(code: RejectCode) -> usize {
        RejectCode::ALL.iter().position(|c| *c == code).unwrap_or(0)
    }

    /// A stage's unit of work took `took`.
    pub(crate) fn stage(&self, stage: Stage, took: Duration) {
        let i = Stage::ALL.iter().position(|s| *s == stage).unwrap_or(0);
        self.stages[i].observe(took.as_secs_f64());
    }

    /// The histogram of event time to commit, for a commit to fill locally
    /// and flush once.
    pub(crate) fn event_to_commit(&self) -> prometheus::local::LocalHistogram {
        self.event_to_commit.local()
    }

    /// The ledger was opened at commit `sequence` (0: a new ledger).
    pub(crate) fn ledger_opened(&self, sequence: u64) {
        self.ledger_commit.set(i64::try_from(sequence).unwrap_or(i64::MAX));
    }

    /// Ledger commit `sequence`, of `bytes` of Parquet, succeeded after `took`.
    pub(crate) fn committed(&self, sequence: u64, bytes: u64, took: Duration) {
        self.ledger_commit.set(i64::try_from(sequence).unwrap_or(i64::MAX));
        self.ledger_commits.inc();
        self.ledger_commit_bytes.inc_by(bytes);
        self.ledger_commit_duration.observe(took.as_secs_f64());
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        self.ledger_last_commit.set(now.as_secs_f64());
        self.health.commit_failed.store(false, Ordering::Relaxed);
    }

    /// A ledger commit (or its side output) failed.
    pub(crate) fn commit_failed(&self) {
        self.health.commit_failed.store(true, Ordering::Relaxed);
    }

    /// The bound of `queue`.
    pub(crate) fn queue_capacity(&self, queue: Queue, items: usize) {
        self.queue_capacity[queue as usize].set(i64::try_from(items).unwrap_or(i64::MAX));
    }

    /// Items waiting in `queue` now.
    pub(crate) fn queue_depth(&self, queue: Queue, items: usize) {
        self.queue_depth[queue as usize].set(i64::try_from(items).unwrap_or(i64::MAX));
    }

    /// Accounts below a threshold changed by `delta`.
    pub(crate) fn accounts_below_threshold(&self, delta: i64) {
        if delta != 0 {
            self.accounts_below_threshold.add(delta);
        }
    }

    /// librdkafka reported a connection to a broker up.
    pub(crate) fn broker_up(&self) {
        self.health.broker_up_at_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// The source's latest view of the lag; partitions no longer assigned
    /// lose their series.
    pub(crate) fn lag(&self, lag: &Lag) {
        let mut series = self.lag_series.lock().unwrap_or_else(PoisonError::into_inner);
        let now: BTreeSet<(String, i32)> = lag.partitions.iter().map(|(t, p, _)| (t.clone(), *p)).collect();
        for (topic, partition) in series.difference(&now) {
            let _ = self.consumer_lag.remove_label_values(&[topic, &partition.to_string()]);
        }
        for (topic, partition, behind) in &lag.partitions {
            let gauge = self.consumer_lag.with_label_values(&[topic, &partition.to_string()]);
            gauge.set(i64::try_from(*behind).unwrap_or(i64::MAX));
        }
        *series = now;
        self.health.lag_total.store(lag.total.unwrap_or(0), Ordering::Relaxed);
        self.health.lag_known.store(lag.total.is_some(), Ordering::Relaxed);
    }

    /// The pipeline is draining to stop: no longer ready.
    pub fn stopping(&self) {
        self.health.stopping.store(true, Ordering::Relaxed);
    }

    /// Why the process is not ready, one reason per failed check, each
    /// starting with the check's name (`broker`, `ledger`, `lag`,
    /// `pipeline`); empty when ready.
    #[must_use]
    pub fn not_ready(&self, check: &ReadyCheck) -> Vec<String> {
        let mut out = Vec::new();
        let h = &self.health;
        if h.stopping.load(Ordering::Relaxed) {
            out.push("pipeline: stopping (draining and committing before exit)".to_string());
        }
        let up_at = h.broker_up_at_ms.load(Ordering::Relaxed);
        if up_at == 0 {
            out.push("broker: no connection to a broker reported up yet".to_string());
        } else if now_ms().saturating_sub(up_at) > BROKER_REPORT_AGE_MAX_MS {
            out.push(format!(
                "broker: no connection to a broker reported up in the last {} s",
                BROKER_REPORT_AGE_MAX_MS / 1000
            ));
        }
        if h.commit_failed.load(Ordering::Relaxed) {
            out.push("ledger: the last commit failed".to_string());
        }
        if let Err(e) = rustix::fs::access(&check.ledger_dir, rustix::fs::Access::WRITE_OK) {
            out.push(format!("ledger: {} is not writable: {e}", check.ledger_dir.display()));
        }
        if !h.lag_known.load(Ordering::Relaxed) {
            out.push("lag: not known yet (partitions not assigned or not fetched yet)".to_string());
        } else {
            let lag = h.lag_total.load(Ordering::Relaxed);
            if lag > check.lag_max_messages {
                out.push(format!(
                    "lag: {lag} messages behind, more than http.ready_lag_max_messages ({})",
                    check.lag_max_messages
                ));
            }
        }
        out
    }
}

/// Rejects of one batch by code, in [`RejectCode::ALL`] order.
pub(crate) type Tally = [u64; RejectCode::ALL.len()];

fn now_ms() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(now.as_millis()).unwrap_or(u64::MAX)
}

/// The resident set size from `/proc/self/status` (Linux), in bytes.
fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')?.parse().ok()))
    }

    #[test]
    fn every_metric_renders_with_help_and_type() {
        let m = Metrics::new().unwrap();
        let text = m.render().unwrap();
        for name in [
            "ratewire_events_consumed_total",
            "ratewire_events_rated_total",
            "ratewire_events_rejected_total",
            "ratewire_events_duplicate_total",
            "ratewire_stage_duration_seconds",
            "ratewire_event_to_commit_seconds",
            "ratewire_queue_depth",
            "ratewire_queue_capacity",
            "ratewire_ledger_commits_total",
            "ratewire_ledger_commit_bytes_total",
            "ratewire_ledger_commit_duration_seconds",
            "ratewire_ledger_last_commit_timestamp_seconds",
            "ratewire_ledger_commit",
            "ratewire_catalog_reloads_total",
            "ratewire_accounts_below_threshold",
            "ratewire_ledger_mirror_pushes_total",
            "ratewire_ledger_mirror_push_duration_seconds",
            "ratewire_ledger_mirror_commit",
            "ratewire_ledger_mirror_last_push_timestamp_seconds",
            "ratewire_build_info",
        ] {
            assert!(text.contains(&format!("# HELP {name} ")), "{name} has no HELP in\n{text}");
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} has no TYPE");
        }
        // Every reject code is a series from the start, at zero.
        for code in RejectCode::ALL {
            assert_eq!(value(&text, &format!("ratewire_events_rejected_total{{code=\"{}\"}}", code.name())), Some(0.0));
        }
        assert_eq!(
            value(&text, &format!("ratewire_build_info{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"))),
            Some(1.0)
        );
        if cfg!(target_os = "linux") {
            assert!(value(&text, "ratewire_process_resident_memory_bytes").unwrap() > 1e6, "{text}");
        }
    }

    #[test]
    fn batches_add_up() {
        let m = Metrics::new().unwrap();
        m.consumed(10);
        m.consumed(5);
        let mut tally: Tally = [0; RejectCode::ALL.len()];
        tally[Metrics::reject_index(RejectCode::MalformedJson)] = 2;
        tally[Metrics::reject_index(RejectCode::DuplicateEvent)] = 1;
        m.rated_batch(11, 1, &tally, Duration::from_millis(3));
        m.ledger_opened(40);
        m.committed(41, 4096, Duration::from_millis(20));
        m.committed(42, 1000, Duration::from_millis(20));
        m.queue_capacity(Queue::Worker, 16);
        m.queue_depth(Queue::Ledger, 3);
        m.accounts_below_threshold(4);
        m.accounts_below_threshold(-1);
        m.catalog_reloaded(true);
        m.catalog_reloaded(false);
        m.catalog_reloaded(false);
        m.mirror_pushed(7, Duration::from_millis(40));
        m.mirror_push_failed(Duration::from_secs(3));
        m.mirror_pushed(9, Duration::from_millis(60));
        let text = m.render().unwrap();
        for (series, expected) in [
            ("ratewire_events_consumed_total", 15.0),
            ("ratewire_events_rated_total", 11.0),
            ("ratewire_events_duplicate_total", 1.0),
            ("ratewire_events_rejected_total{code=\"MALFORMED_JSON\"}", 2.0),
            ("ratewire_events_rejected_total{code=\"DUPLICATE_EVENT\"}", 1.0),
            ("ratewire_events_rejected_total{code=\"OVERSIZED\"}", 0.0),
            ("ratewire_stage_duration_seconds_count{stage=\"rate\"}", 1.0),
            ("ratewire_stage_duration_seconds_count{stage=\"ledger_commit\"}", 0.0),
            ("ratewire_ledger_commits_total", 2.0),
            ("ratewire_ledger_commit_bytes_total", 5096.0),
            ("ratewire_ledger_commit_duration_seconds_count", 2.0),
            ("ratewire_ledger_commit", 42.0),
            ("ratewire_queue_capacity{queue=\"worker\"}", 16.0),
            ("ratewire_queue_depth{queue=\"ledger\"}", 3.0),
            ("ratewire_queue_depth{queue=\"worker\"}", 0.0),
            ("ratewire_accounts_below_threshold", 3.0),
            ("ratewire_catalog_reloads_total{result=\"applied\"}", 1.0),
            ("ratewire_catalog_reloads_total{result=\"refused\"}", 2.0),
            ("ratewire_ledger_mirror_pushes_total{result=\"ok\"}", 2.0),
            ("ratewire_ledger_mirror_pushes_total{result=\"error\"}", 1.0),
            ("ratewire_ledger_mirror_push_duration_seconds_count", 3.0),
            ("ratewire_ledger_mirror_push_duration_seconds_bucket{le=\"0.05\"}", 1.0),
            ("ratewire_ledger_mirror_commit", 9.0),
        ] {
            assert_eq!(value(&text, series), Some(expected), "{series} in\n{text}");
        }
        assert!(value(&text, "ratewire_ledger_last_commit_timestamp_seconds").unwrap() > 1.7e9);
        assert!(value(&text, "ratewire_ledger_mirror_last_push_timestamp_seconds").unwrap() > 1.7e9);
    }

    #[test]
    fn event_to_commit_is_filled_locally_and_flushed_once() {
        let m = Metrics::new().unwrap();
        let local = m.event_to_commit();
        local.observe(0.3);
        local.observe(2.1);
        local.observe(7200.0);
        assert!(value(&m.render().unwrap(), "ratewire_event_to_commit_seconds_count").is_none_or(|n| n == 0.0));
        local.flush();
        let text = m.render().unwrap();
        assert_eq!(value(&text, "ratewire_event_to_commit_seconds_count"), Some(3.0));
        assert_eq!(value(&text, "ratewire_event_to_commit_seconds_bucket{le=\"0.5\"}"), Some(1.0));
        // Just past the bound of twice a 1-s commit interval is told apart from it.
        assert_eq!(value(&text, "ratewire_event_to_commit_seconds_bucket{le=\"2\"}"), Some(1.0));
        assert_eq!(value(&text, "ratewire_event_to_commit_seconds_bucket{le=\"2.25\"}"), Some(2.0));
        assert_eq!(value(&text, "ratewire_event_to_commit_seconds_bucket{le=\"14400\"}"), Some(3.0));
    }

    #[test]
    fn lag_series_follow_the_assignment() {
        let m = Metrics::new().unwrap();
        m.lag(&Lag { partitions: vec![("in".into(), 0, 5), ("in".into(), 1, 7)], total: Some(12) });
        let text = m.render().unwrap();
        assert_eq!(value(&text, "ratewire_consumer_lag_messages{partition=\"0\",topic=\"in\"}"), Some(5.0));
        assert_eq!(value(&text, "ratewire_consumer_lag_messages{partition=\"1\",topic=\"in\"}"), Some(7.0));
        // Partition 0 revoked.
        m.lag(&Lag { partitions: vec![("in".into(), 1, 2)], total: Some(2) });
        let text = m.render().unwrap();
        assert!(!text.contains("partition=\"0\""), "{text}");
        assert_eq!(value(&text, "ratewire_consumer_lag_messages{partition=\"1\",topic=\"in\"}"), Some(2.0));
    }

    #[test]
    fn readiness_names_each_failed_check() {
        let dir = tempfile::tempdir().unwrap();
        let check = ReadyCheck { lag_max_messages: 100, ledger_dir: dir.path().to_path_buf() };
        let m = Metrics::new().unwrap();
        let reasons = m.not_ready(&check);
        assert!(reasons.iter().any(|r| r.starts_with("broker: ")), "{reasons:?}");
        assert!(reasons.iter().any(|r| r.starts_with("lag: not known")), "{reasons:?}");
        assert_eq!(reasons.len(), 2, "{reasons:?}");

        m.broker_up();
        m.lag(&Lag { partitions: vec![("in".into(), 0, 101)], total: Some(101) });
        let reasons = m.not_ready(&check);
        assert_eq!(reasons, ["lag: 101 messages behind, more than http.ready_lag_max_messages (100)"]);

        m.lag(&Lag { partitions: vec![("in".into(), 0, 100)], total: Some(100) });
        assert!(m.not_ready(&check).is_empty());

        m.commit_failed();
        assert_eq!(m.not_ready(&check), ["ledger: the last commit failed"]);
        m.committed(1, 1, Duration::ZERO);
        let missing = ReadyCheck { ledger_dir: dir.path().join("missing"), ..check.clone() };
        let reasons = m.not_ready(&missing);
        assert!(reasons.len() == 1 && reasons[0].starts_with("ledger: ") && reasons[0].contains("not writable"));

        m.stopping();
        assert_eq!(m.not_ready(&check), ["pipeline: stopping (draining and committing before exit)"]);
    }

    #[test]
    fn the_catalog_in_force_is_the_one_series() {
        let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples");
        let dir = tempfile::tempdir().unwrap();
        let (catalog, accounts) = (dir.path().join("catalog.toml"), dir.path().join("accounts.csv"));
        let text = std::fs::read_to_string(examples.join("catalog.toml")).unwrap();
        std::fs::write(&catalog, &text).unwrap();
        std::fs::copy(examples.join("accounts.csv"), &accounts).unwrap();
        let handle = Arc::new(ReferenceHandle::open(&catalog, &accounts).unwrap());
        let m = Metrics::new().unwrap();
        assert!(!m.render().unwrap().contains("ratewire_catalog_info{"));
        m.watch_catalog(handle.clone());
        assert_eq!(value(&m.render().unwrap(), "ratewire_catalog_info{version=\"2026-11-a\"}"), Some(1.0));
        std::fs::write(&catalog, text.replace("version = \"2026-11-a\"", "version = \"2026-11-b\"")).unwrap();
        handle.reload().unwrap();
        let shown = m.render().unwrap();
        assert_eq!(value(&shown, "ratewire_catalog_info{version=\"2026-11-b\"}"), Some(1.0));
        assert_eq!(shown.matches("ratewire_catalog_info{").count(), 1, "{shown}");
    }
}
