//! Kafka: the consumer-group source and the producer of dead letters and
//! actions (rdkafka, librdkafka built from source).
//!
//! User settings are applied first, then the safety settings are forced:
//! no automatic offset commits (the ledger's offsets are the truth; offsets
//! are committed to the group after each ledger commit only so that lag can
//! be monitored), `fetch.min.bytes` 1 (some brokers answer a fetch only at
//! `fetch.wait.max.ms` until the minimum is met), an idempotent producer
//! that waits for every replica. librdkafka's statistics, every
//! [`STATISTICS_INTERVAL_MS`], give the consumer lag and the broker
//! connections' state to the metrics and `/readyz`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use log::{info, warn};
use ratewire_ledger::{RejectedEvent, SourceRange};
use ratewire_rater::{Action, Name};
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Header, Message as _, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use serde::Deserialize;

use crate::bounds::{SEEK_TIMEOUT_MS, SIDE_FLUSH_TIMEOUT_MS, STATISTICS_INTERVAL_MS, WATERMARKS_TIMEOUT_MS};
use crate::config::KafkaProperties;
use crate::error::Error;
use crate::message::{Message, PartitionKey};
use crate::metrics::{Lag, Metrics};
use crate::pipeline::{Rebalance, Source};

/// How to reach Kafka. Its `Debug` masks secret properties.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaOptions {
    /// Bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    /// The consumer group.
    pub group_id: String,
    /// Input topics.
    pub topics: Vec<String>,
    /// Where rejected events go.
    pub dead_letter_topic: String,
    /// Where threshold actions go.
    pub actions_topic: String,
    /// Largest fetch response, in bytes.
    pub fetch_max_bytes: u64,
    /// Longest a fetch without data is held by the broker, in milliseconds.
    pub fetch_wait_max_ms: u32,
    /// librdkafka settings passed through (SASL, TLS, ...), applied before
    /// the settings ratewire forces.
    pub properties: Vec<(String, String)>,
}

impl std::fmt::Debug for KafkaOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let properties: Vec<(&str, &str)> = self
            .properties
            .iter()
            .map(|(k, v)| (k.as_str(), if KafkaProperties::is_secret(k) { "********" } else { v.as_str() }))
            .collect();
        f.debug_struct("KafkaOptions")
            .field("brokers", &self.brokers)
            .field("group_id", &self.group_id)
            .field("topics", &self.topics)
            .field("dead_letter_topic", &self.dead_letter_topic)
            .field("actions_topic", &self.actions_topic)
            .field("fetch_max_bytes", &self.fetch_max_bytes)
            .field("fetch_wait_max_ms", &self.fetch_wait_max_ms)
            .field("properties", &properties)
            .finish()
    }
}

/// The user's settings (SASL, TLS, ...) as they are, then the brokers.
fn client_config(options: &KafkaOptions) -> ClientConfig {
    let mut config = ClientConfig::new();
    for (key, value) in &options.properties {
        config.set(key, value);
    }
    config.set("bootstrap.servers", &options.brokers);
    config
}

/// Where each partition resumes, shared with the rebalance callback.
type Positions = Mutex<HashMap<(String, i32), i64>>;

/// The consumer's callbacks: on assignment, each partition starts at the
/// ledger's committed offset (or the beginning when the ledger has none),
/// whatever the group's committed offset says; each statistics report
/// updates the lag and the broker's health in the metrics.
struct SourceContext {
    positions: Positions,
    metrics: Arc<Metrics>,
    /// Scale-out: assigned partitions are paused until the pipeline has
    /// adopted their state, and every change is reported to it.
    handoff: bool,
    changes: Mutex<Vec<Rebalance>>,
}

impl SourceContext {
    fn report(&self, tpl: &TopicPartitionList, change: fn(Vec<PartitionKey>) -> Rebalance) {
        if !self.handoff {
            return;
        }
        let keys =
            tpl.elements().iter().map(|e| PartitionKey { topic: e.topic().into(), partition: e.partition() }).collect();
        self.changes.lock().unwrap_or_else(PoisonError::into_inner).push(change(keys));
    }
}

impl ClientContext for SourceContext {
    fn stats_raw(&self, statistics: &[u8]) {
        // Only the fields used are read, not the whole report.
        let stats: Statistics = match serde_json::from_slice(statistics) {
            Ok(s) => s,
            Err(e) => {
                warn!("reading librdkafka's statistics: {e}");
                return;
            }
        };
        if stats.broker_up() {
            self.metrics.broker_up();
        }
        let lag = {
            let positions = self.positions.lock().unwrap_or_else(PoisonError::into_inner);
            stats.lag(&positions)
        };
        self.metrics.lag(&lag);
    }
}

impl ConsumerContext for SourceContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let positions = self.positions.lock().unwrap_or_else(PoisonError::into_inner);
                let wanted: Vec<(String, i32)> =
                    tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect();
                for (topic, partition) in wanted {
                    let offset =
                        positions.get(&(topic.clone(), partition)).map_or(Offset::Beginning, |o| Offset::Offset(*o));
                    if let Err(e) = tpl.set_partition_offset(&topic, partition, offset) {
                        warn!("setting the start of {topic}[{partition}]: {e}");
                    }
                    info!("assigned {topic}[{partition}] from {offset:?}");
                }
                drop(positions);
                let assigned = if cooperative { consumer.incremental_assign(tpl) } else { consumer.assign(tpl) };
                // Sharing the ledger root, nothing is fetched before the
                // pipeline has adopted the partition's state and started it.
                let paused = if self.handoff { assigned.and_then(|()| consumer.pause(tpl)) } else { assigned };
                self.report(tpl, Rebalance::Assigned);
                paused
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                info!("revoked {} partitions", tpl.count());
                self.report(tpl, Rebalance::Revoked);
                if cooperative { consumer.incremental_unassign(tpl) } else { consumer.unassign() }
            }
            other => {
                warn!("rebalance error: {other:?}");
                consumer.unassign()
            }
        };
        if let Err(e) = result {
            warn!("applying a rebalance: {e}");
        }
    }
}

/// A consumer-group member reading the input topics.
pub struct KafkaSource {
    consumer: BaseConsumer<SourceContext>,
    /// Topic names, interned once: a message carries its topic without a
    /// reference count.
    topics: HashMap<String, Name>,
    /// The offset after the last message polled, per partition.
    polled: HashMap<(Name, i32), i64>,
    errors_in_a_row: u64,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource").field("topics", &self.topics.keys()).finish_non_exhaustive()
    }
}

impl KafkaSource {
    /// Joins the group and subscribes; `positions` are the ledger's
    /// committed offsets, where each partition resumes.
    ///
    /// # Errors
    /// [`Error::Source`] when the consumer cannot be created or subscribe.
    pub fn new(options: &KafkaOptions, positions: &[SourceRange], metrics: Arc<Metrics>) -> Result<Self, Error> {
        Self::create(options, positions, metrics, false)
    }

    /// As [`KafkaSource::new`], for an instance sharing the ledger root
    /// (scale-out): it reports every rebalance ([`Source::rebalanced`]) and
    /// delivers an assigned partition only once started ([`Source::start`]).
    ///
    /// # Errors
    /// As [`KafkaSource::new`].
    pub fn handing_over(
        options: &KafkaOptions,
        positions: &[SourceRange],
        metrics: Arc<Metrics>,
    ) -> Result<Self, Error> {
        Self::create(options, positions, metrics, true)
    }

    fn create(
        options: &KafkaOptions,
        positions: &[SourceRange],
        metrics: Arc<Metrics>,
        handoff: bool,
    ) -> Result<Self, Error> {
        let config = consumer_config(options);
        let positions = positions.iter().map(|r| ((r.source.clone(), r.partition), r.to)).collect();
        let context =
            SourceContext { positions: Mutex::new(positions), metrics, handoff, changes: Mutex::new(Vec::new()) };
        let consumer: BaseConsumer<SourceContext> =
            config.create_with_context(context).map_err(|e| Error::Source(format!("creating the consumer: {e}")))?;
        let topics: Vec<&str> = options.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).map_err(|e| Error::Source(format!("subscribing to {topics:?}: {e}")))?;
        let topics = options.topics.iter().map(|t| (t.clone(), Name::new(t))).collect();
        Ok(Self { consumer, topics, polled: HashMap::new(), errors_in_a_row: 0 })
    }
}

/// The consumer's settings: the user's, then the ones ratewire forces.
fn consumer_config(options: &KafkaOptions) -> ClientConfig {
    let mut config = client_config(options);
    config
        .set("group.id", &options.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("isolation.level", "read_committed")
        .set("fetch.min.bytes", "1")
        .set("fetch.max.bytes", options.fetch_max_bytes.to_string())
        .set("max.partition.fetch.bytes", options.fetch_max_bytes.to_string())
        .set("fetch.wait.max.ms", options.fetch_wait_max_ms.to_string())
        .set("statistics.interval.ms", STATISTICS_INTERVAL_MS.to_string());
    config
}

/// The interned name of a topic, looked up here without the global
/// intern table's lock.
fn intern(topics: &mut HashMap<String, Name>, name: &str) -> Name {
    if let Some(t) = topics.get(name) {
        return *t;
    }
    let t = Name::new(name);
    topics.insert(name.to_string(), t);
    t
}

impl Source for KafkaSource {
    fn poll(&mut self, timeout: Duration, message: &mut Message) -> Result<bool, Error> {
        match self.consumer.poll(timeout) {
            None => Ok(false),
            Some(Ok(m)) => {
                self.errors_in_a_row = 0;
                message.topic = intern(&mut self.topics, m.topic());
                message.partition = m.partition();
                message.offset = m.offset();
                message.payload.clear();
                message.payload.extend_from_slice(m.payload().unwrap_or_default());
                self.polled.insert((message.topic, message.partition), message.offset + 1);
                Ok(true)
            }
            Some(Err(e)) => {
                // Broker restarts and network trouble surface here; librdkafka
                // reconnects by itself, so they are logged, not fatal.
                self.errors_in_a_row += 1;
                if self.errors_in_a_row.is_power_of_two() {
                    warn!("consumer: {e} ({} in a row)", self.errors_in_a_row);
                }
                Ok(false)
            }
        }
    }

    fn committed(&mut self, positions: &[SourceRange]) -> Result<(), Error> {
        let mut tpl = TopicPartitionList::new();
        {
            let mut resume = self.consumer.context().positions.lock().unwrap_or_else(PoisonError::into_inner);
            for r in positions.iter().filter(|r| self.topics.contains_key(&r.source)) {
                resume.insert((r.source.clone(), r.partition), r.to);
                if let Err(e) = tpl.add_partition_offset(&r.source, r.partition, Offset::Offset(r.to)) {
                    warn!("committing {}[{}] to the group: {e}", r.source, r.partition);
                }
            }
        }
        if tpl.count() > 0
            && let Err(e) = self.consumer.commit(&tpl, CommitMode::Async)
        {
            // Only lag monitoring depends on it.
            warn!("committing offsets to the group: {e}");
        }
        Ok(())
    }

    fn rebalanced(&mut self) -> Vec<Rebalance> {
        std::mem::take(&mut *self.consumer.context().changes.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn start(&mut self, key: &PartitionKey, offset: i64) -> Result<(), Error> {
        self.consumer
            .context()
            .positions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((key.topic.to_string(), key.partition), offset);
        self.polled.remove(&(key.topic, key.partition));
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&key.topic, key.partition, Offset::Offset(offset))
            .map_err(|e| Error::Source(format!("starting {key} at offset {offset}: {e}")))?;
        // A seek fails when the partition was revoked again meanwhile, or
        // its fetcher is not ready: it then resumes at the offset it was
        // assigned at, never after the adopted one (that is the highest any
        // member committed), and the worker skips what was rated already.
        let sought = self.consumer.seek_partitions(tpl.clone(), Duration::from_millis(SEEK_TIMEOUT_MS));
        let failed = match sought {
            Ok(sought) => sought.elements().iter().find_map(|e| e.error().err()),
            Err(e) => Some(e),
        };
        if let Some(e) = failed {
            info!("{key} resumes where it was assigned, not at {offset}: {e}");
        }
        if let Err(e) = self.consumer.resume(&tpl) {
            info!("resuming {key}: {e}");
        }
        Ok(())
    }

    fn caught_up(&mut self) -> Result<bool, Error> {
        let assignment =
            self.consumer.assignment().map_err(|e| Error::Source(format!("reading the assignment: {e}")))?;
        if assignment.count() == 0 {
            return Ok(false);
        }
        let resume = self.consumer.context().positions.lock().unwrap_or_else(PoisonError::into_inner).clone();
        for e in assignment.elements() {
            let (topic, partition) = (e.topic(), e.partition());
            let watermarks =
                self.consumer.fetch_watermarks(topic, partition, Duration::from_millis(WATERMARKS_TIMEOUT_MS));
            let (low, high) = match watermarks {
                Ok(w) => w,
                Err(e) => {
                    // A busy or restarting broker: not known to be caught up,
                    // so keep consuming and ask again when next idle.
                    warn!("reading the watermarks of {topic}[{partition}]: {e}");
                    return Ok(false);
                }
            };
            // Polled positions are of subscribed topics, named in `topics`.
            let polled = self.topics.get(topic).and_then(|t| self.polled.get(&(*t, partition))).copied();
            let position = polled.or_else(|| resume.get(&(topic.to_string(), partition)).copied()).unwrap_or(low);
            if position < high {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Counts the messages awaiting their delivery report, and failed
/// deliveries.
#[derive(Default)]
struct SideContext {
    /// Messages queued and not yet reported delivered or failed.
    undelivered: Mutex<u64>,
    /// Notified when `undelivered` falls to 0.
    all_delivered: Condvar,
    failed: AtomicU64,
    first_failure: Mutex<Option<String>>,
}

impl SideContext {
    fn undelivered(&self) -> std::sync::MutexGuard<'_, u64> {
        self.undelivered.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ClientContext for SideContext {
    /// Statistics a user turned on through `kafka.properties` are the
    /// consumer's business; the producer's are dropped unread.
    fn stats_raw(&self, _statistics: &[u8]) {}
}

impl ProducerContext for SideContext {
    type DeliveryOpaque = ();

    /// Called on the producer's polling thread, once for every message
    /// queued, delivered or not.
    fn delivery(&self, result: &DeliveryResult<'_>, (): ()) {
        if let Err((e, m)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            let mut first = self.first_failure.lock().unwrap_or_else(PoisonError::into_inner);
            first.get_or_insert_with(|| format!("delivering to {}: {e}", m.topic()));
        }
        let mut undelivered = self.undelivered();
        debug_assert!(*undelivered > 0, "a delivery report for a message counted as queued");
        *undelivered = undelivered.saturating_sub(1);
        if *undelivered == 0 {
            self.all_delivered.notify_all();
        }
    }
}

/// Publishes rejects to the dead-letter topic (the original payload, with
/// the reject's code, name, field and message and the source offset in
/// headers) and threshold actions to the actions topic (JSON), keyed by
/// account.
pub struct KafkaSideOutput {
    producer: ThreadedProducer<SideContext>,
    dead_letter_topic: String,
    actions_topic: String,
}

impl std::fmt::Debug for KafkaSideOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSideOutput").field("dead_letter_topic", &self.dead_letter_topic).finish_non_exhaustive()
    }
}

impl KafkaSideOutput {
    /// An idempotent producer.
    ///
    /// # Errors
    /// [`Error::SideOutput`] when it cannot be created.
    pub fn new(options: &KafkaOptions) -> Result<Self, Error> {
        let mut config = client_config(options);
        config.set("enable.idempotence", "true").set("acks", "all").set("linger.ms", "5");
        let producer = config
            .create_with_context(SideContext::default())
            .map_err(|e| Error::SideOutput(format!("creating the producer: {e}")))?;
        Ok(Self {
            producer,
            dead_letter_topic: options.dead_letter_topic.clone(),
            actions_topic: options.actions_topic.clone(),
        })
    }

    fn send(&self, topic: &str, key: &str, payload: &[u8], headers: Option<OwnedHeaders>) -> Result<(), Error> {
        let mut record = BaseRecord::to(topic).key(key).payload(payload);
        if let Some(h) = headers {
            record = record.headers(h);
        }
        let deadline = std::time::Instant::now() + Duration::from_millis(SIDE_FLUSH_TIMEOUT_MS);
        // Counted before it is queued: its report may come at once.
        *self.producer.context().undelivered() += 1;
        let not_queued = || *self.producer.context().undelivered() -= 1;
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull), back))
                    if std::time::Instant::now() < deadline =>
                {
                    // The local queue is full: wait for deliveries.
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => {
                    not_queued();
                    return Err(Error::SideOutput(format!("publishing to {topic}: {e}")));
                }
            }
        }
    }
}

impl crate::sink::SideOutput for KafkaSideOutput {
    fn dead_letter(&mut self, reject: &RejectedEvent) -> Result<(), Error> {
        let r = &reject.rejected.reject;
        let code = r.code.number().to_string();
        let partition = reject.partition.to_string();
        let offset = reject.offset.to_string();
        let mut headers = OwnedHeaders::new()
            .insert(Header { key: "ratewire-reject-code", value: Some(code.as_str()) })
            .insert(Header { key: "ratewire-reject-name", value: Some(r.code.name()) })
            .insert(Header { key: "ratewire-reject-message", value: Some(r.message.as_str()) })
            .insert(Header { key: "ratewire-source-topic", value: Some(&*reject.source) })
            .insert(Header { key: "ratewire-source-partition", value: Some(partition.as_str()) })
            .insert(Header { key: "ratewire-source-offset", value: Some(offset.as_str()) })
            .insert(Header { key: "ratewire-catalog-version", value: Some(&*reject.rejected.catalog_version) });
        if let Some(field) = &r.field {
            headers = headers.insert(Header { key: "ratewire-reject-field", value: Some(*field) });
        }
        let key = reject.rejected.account.as_deref().unwrap_or("");
        self.send(&self.dead_letter_topic, key, &reject.payload, Some(headers))
    }

    fn action(&mut self, action: &Action) -> Result<(), Error> {
        let json = serde_json::to_vec(action).map_err(|e| Error::SideOutput(e.to_string()))?;
        self.send(&self.actions_topic, &action.account, &json, None)
    }

    /// Waits until the broker has every message sent so far: until the
    /// producer's polling thread has had the delivery report of each.
    /// Neither rdkafka's `flush`, which serves delivery reports in rounds
    /// of 100 ms (every commit waited at least that long for deliveries the
    /// broker confirms in a few milliseconds), nor a loop of short polls,
    /// which spins through the last millisecond of each: a wait on the
    /// count, woken by the report that takes it to 0.
    fn flush(&mut self) -> Result<(), Error> {
        let timeout = Duration::from_millis(SIDE_FLUSH_TIMEOUT_MS);
        let context = self.producer.context();
        let (undelivered, wait) = context
            .all_delivered
            .wait_timeout_while(context.undelivered(), timeout, |undelivered| *undelivered > 0)
            .unwrap_or_else(PoisonError::into_inner);
        if wait.timed_out() {
            return Err(Error::SideOutput(format!(
                "delivering dead letters and actions: {} messages still undelivered after {SIDE_FLUSH_TIMEOUT_MS} ms",
                *undelivered
            )));
        }
        drop(undelivered);
        if context.failed.swap(0, Ordering::Relaxed) > 0 {
            let first = context.first_failure.lock().unwrap_or_else(PoisonError::into_inner).take();
            return Err(Error::SideOutput(first.unwrap_or_else(|| "a delivery failed".into())));
        }
        Ok(())
    }
}

/// The part of librdkafka's statistics report that ratewire reads
/// (`STATISTICS.md` of librdkafka).
#[derive(Debug, Default, Deserialize)]
struct Statistics {
    #[serde(default)]
    brokers: HashMap<String, BrokerStatistics>,
    #[serde(default)]
    topics: HashMap<String, TopicStatistics>,
    cgrp: Option<GroupStatistics>,
}

#[derive(Debug, Deserialize)]
struct BrokerStatistics {
    /// `configured`, `learned`, `internal` or `logical`.
    source: String,
    /// `UP` when connected.
    state: String,
}

#[derive(Debug, Deserialize)]
struct TopicStatistics {
    topic: String,
    #[serde(default)]
    partitions: HashMap<String, PartitionStatistics>,
}

#[derive(Debug, Deserialize)]
struct PartitionStatistics {
    partition: i32,
    /// Whether the partition is assigned to this consumer.
    desired: bool,
    lo_offset: i64,
    hi_offset: i64,
    /// The last stable offset, which a `read_committed` consumer reads up to.
    ls_offset: i64,
}

#[derive(Debug, Deserialize)]
struct GroupStatistics {
    join_state: String,
}

impl Statistics {
    /// Whether a connection to a real broker (not librdkafka's internal or
    /// logical ones) is up.
    fn broker_up(&self) -> bool {
        self.brokers.values().any(|b| b.state == "UP" && matches!(b.source.as_str(), "configured" | "learned"))
    }

    /// Messages of each assigned partition not committed to the ledger
    /// yet: the partition's end less the ledger's next offset (`positions`),
    /// or less the partition's start when the ledger has none of it.
    fn lag(&self, positions: &HashMap<(String, i32), i64>) -> Lag {
        let mut partitions = Vec::new();
        let mut known = true;
        for topic in self.topics.values() {
            for p in topic.partitions.values().filter(|p| p.partition >= 0 && p.desired) {
                // Offsets are negative until the first fetch answers.
                let end = if p.ls_offset >= 0 { p.ls_offset } else { p.hi_offset };
                if end < 0 {
                    known = false;
                    continue;
                }
                let next = positions.get(&(topic.topic.clone(), p.partition)).copied().unwrap_or(p.lo_offset.max(0));
                let behind = u64::try_from(end - next).unwrap_or(0);
                partitions.push((topic.topic.clone(), p.partition, behind));
            }
        }
        // No partition: lag 0 once the group is steady (more members than
        // partitions), unknown while it is still joining.
        let steady = self.cgrp.as_ref().is_some_and(|g| g.join_state == "steady");
        if partitions.is_empty() && !steady {
            known = false;
        }
        partitions.sort();
        let total = known.then(|| partitions.iter().map(|(_, _, n)| n).sum());
        Lag { partitions, total }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report as librdkafka 2.12 writes it, trimmed.
    const REPORT: &str = r#"{
      "name": "rdkafka#consumer-1", "type": "consumer", "ts": 1, "time": 1,
      "brokers": {
        "127.0.0.1:9092/bootstrap": {"name": "127.0.0.1:9092/bootstrap", "nodeid": -1, "source": "configured", "state": "INIT"},
        "GroupCoordinator": {"name": "GroupCoordinator", "nodeid": -1, "source": "logical", "state": "UP"},
        ":0/internal": {"name": ":0/internal", "nodeid": -1, "source": "internal", "state": "UP"},
        "127.0.0.1:9092/111": {"name": "127.0.0.1:9092/111", "nodeid": 111, "source": "learned", "state": "UP"}
      },
      "topics": {
        "events": {"topic": "events", "metadata_age": 10, "partitions": {
          "0": {"partition": 0, "desired": true, "lo_offset": 0, "hi_offset": 120, "ls_offset": 120},
          "1": {"partition": 1, "desired": true, "lo_offset": 5, "hi_offset": 50, "ls_offset": 40},
          "2": {"partition": 2, "desired": false, "lo_offset": 0, "hi_offset": 9, "ls_offset": 9},
          "-1": {"partition": -1, "desired": false, "lo_offset": -1001, "hi_offset": -1001, "ls_offset": -1001}
        }}
      },
      "cgrp": {"state": "up", "join_state": "steady", "assignment_size": 2}
    }"#;

    fn report(edit: impl FnOnce(&mut serde_json::Value)) -> Statistics {
        let mut value: serde_json::Value = serde_json::from_str(REPORT).unwrap();
        edit(&mut value);
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn lag_is_measured_from_the_ledger_position_or_the_partition_start() {
        let stats = report(|_| {});
        assert!(stats.broker_up());
        let positions = HashMap::from([(("events".to_string(), 0), 100)]);
        let lag = stats.lag(&positions);
        // Partition 0 from the ledger's 100; partition 1, not in the ledger,
        // from its start 5 to its last stable offset 40; 2 is not assigned.
        assert_eq!(lag.partitions, [("events".to_string(), 0, 20), ("events".to_string(), 1, 35)]);
        assert_eq!(lag.total, Some(55));
    }

    #[test]
    fn lag_is_unknown_until_every_assigned_partition_was_fetched() {
        let stats = report(|v| {
            v["topics"]["events"]["partitions"]["1"]["hi_offset"] = (-1001).into();
            v["topics"]["events"]["partitions"]["1"]["ls_offset"] = (-1001).into();
        });
        assert_eq!(stats.lag(&HashMap::new()).total, None);
        // No partition assigned: known (zero) once the group is steady.
        let none = report(|v| v["topics"] = serde_json::json!({}));
        assert_eq!(none.lag(&HashMap::new()), Lag { partitions: Vec::new(), total: Some(0) });
        let joining = report(|v| {
            v["topics"] = serde_json::json!({});
            v["cgrp"]["join_state"] = "wait-join".into();
        });
        assert_eq!(joining.lag(&HashMap::new()).total, None);
    }

    #[test]
    fn security_settings_pass_through_and_the_safety_settings_win() {
        let options = KafkaOptions {
            brokers: "b-1:9093".into(),
            group_id: "g".into(),
            topics: vec!["in".into()],
            dead_letter_topic: "dl".into(),
            actions_topic: "act".into(),
            fetch_max_bytes: 1024,
            fetch_wait_max_ms: 5,
            properties: [
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanisms", "SCRAM-SHA-512"),
                ("sasl.username", "ratewire"),
                ("sasl.password", "hunter2"),
                ("ssl.ca.location", "/etc/ssl/ca.pem"),
                ("ssl.key.password", "k3y"),
                ("enable.auto.commit", "true"),
                ("isolation.level", "read_uncommitted"),
                ("statistics.interval.ms", "0"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        };
        let config = consumer_config(&options);
        for (key, value) in [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", "ratewire"),
            ("sasl.password", "hunter2"),
            ("ssl.ca.location", "/etc/ssl/ca.pem"),
            ("ssl.key.password", "k3y"),
            ("bootstrap.servers", "b-1:9093"),
            ("group.id", "g"),
            ("enable.auto.commit", "false"),
            ("isolation.level", "read_committed"),
            ("statistics.interval.ms", "2000"),
        ] {
            assert_eq!(config.get(key), Some(value), "{key}");
        }
        assert_eq!(client_config(&options).get("sasl.password"), Some("hunter2"), "the producer's too");
        let shown = format!("{options:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("k3y"), "{shown}");
        assert!(shown.contains("SCRAM-SHA-512"), "{shown}");
    }

    #[test]
    fn only_a_real_broker_connection_counts_as_up() {
        let down = report(|v| v["brokers"]["127.0.0.1:9092/111"]["state"] = "TRY_CONNECT".into());
        assert!(!down.broker_up(), "the internal and logical brokers are always up");
        let bootstrap = report(|v| {
            v["brokers"]["127.0.0.1:9092/111"]["state"] = "DOWN".into();
            v["brokers"]["127.0.0.1:9092/bootstrap"]["state"] = "UP".into();
        });
        assert!(bootstrap.broker_up());
    }

    fn side_output(brokers: &str, properties: &[(&str, &str)]) -> KafkaSideOutput {
        let options = KafkaOptions {
            brokers: brokers.into(),
            group_id: "side".into(),
            topics: Vec::new(),
            dead_letter_topic: "dead-letter".into(),
            actions_topic: "actions".into(),
            fetch_max_bytes: 1 << 20,
            fetch_wait_max_ms: 100,
            properties: properties.iter().map(|&(k, v)| (k.into(), v.into())).collect(),
        };
        KafkaSideOutput::new(&options).unwrap()
    }

    #[test]
    fn a_flush_with_nothing_sent_returns_at_once() {
        let mut side = side_output("127.0.0.1:1", &[]);
        let started = std::time::Instant::now();
        crate::sink::SideOutput::flush(&mut side).unwrap();
        assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    }

    #[test]
    fn a_flush_waits_for_every_report_and_names_a_failed_delivery() {
        // No broker listens on port 1: each message fails once its
        // delivery times out, and its report ends the flush's wait.
        let mut side = side_output("127.0.0.1:1", &[("message.timeout.ms", "300")]);
        for key in ["A1", "A2", "A3"] {
            side.send("actions", key, b"{}", None).unwrap();
        }
        assert_eq!(*side.producer.context().undelivered(), 3, "counted as queued");
        let started = std::time::Instant::now();
        let err = crate::sink::SideOutput::flush(&mut side).unwrap_err().to_string();
        assert!(err.contains("delivering to actions"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
        assert_eq!(*side.producer.context().undelivered(), 0, "every report counted");
        // The failure is reported once; nothing is left to wait for.
        crate::sink::SideOutput::flush(&mut side).unwrap();
    }
}
