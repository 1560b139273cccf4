//! Kafka: the consumer-group source and the producer of dead letters and
//! actions (rdkafka, librdkafka built from source).
//!
//! User settings are applied first, then the safety settings are forced:
//! no automatic offset commits (the ledger's offsets are the truth; offsets
//! are committed to the group after each ledger commit only so that lag can
//! be monitored), `fetch.min.bytes` 1 (some brokers answer a fetch only at
//! `fetch.wait.max.ms` until the minimum is met), an idempotent producer
//! that waits for every replica.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use log::{info, warn};
use ratewire_ledger::{RejectedEvent, SourceRange};
use ratewire_rater::Action;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Header, Message as _, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;

use crate::bounds::{SIDE_FLUSH_TIMEOUT_MS, WATERMARKS_TIMEOUT_MS};
use crate::error::Error;
use crate::message::Message;
use crate::pipeline::Source;

/// How to reach Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// librdkafka settings passed through (SASL, TLS, ...), applied before
    /// the settings ratewire forces.
    pub properties: Vec<(String, String)>,
}

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
/// whatever the group's committed offset says.
struct SourceContext {
    positions: Positions,
}

impl ClientContext for SourceContext {}

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
                if cooperative { consumer.incremental_assign(tpl) } else { consumer.assign(tpl) }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                info!("revoked {} partitions", tpl.count());
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
    /// Topic names, interned: one allocation per topic, not per message.
    topics: HashMap<String, Arc<str>>,
    /// The offset after the last message polled, per partition.
    polled: HashMap<(Arc<str>, i32), i64>,
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
    pub fn new(options: &KafkaOptions, positions: &[SourceRange]) -> Result<Self, Error> {
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
            .set("max.partition.fetch.bytes", options.fetch_max_bytes.to_string());
        let positions = positions.iter().map(|r| ((r.source.clone(), r.partition), r.to)).collect();
        let context = SourceContext { positions: Mutex::new(positions) };
        let consumer: BaseConsumer<SourceContext> =
            config.create_with_context(context).map_err(|e| Error::Source(format!("creating the consumer: {e}")))?;
        let topics: Vec<&str> = options.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).map_err(|e| Error::Source(format!("subscribing to {topics:?}: {e}")))?;
        let topics = options.topics.iter().map(|t| (t.clone(), Arc::from(t.as_str()))).collect();
        Ok(Self { consumer, topics, polled: HashMap::new(), errors_in_a_row: 0 })
    }
}

/// The shared name of a topic: one allocation per topic, not per message.
fn intern(topics: &mut HashMap<String, Arc<str>>, name: &str) -> Arc<str> {
    if let Some(t) = topics.get(name) {
        return t.clone();
    }
    let t: Arc<str> = Arc::from(name);
    topics.insert(name.to_string(), t.clone());
    t
}

impl Source for KafkaSource {
    fn poll(&mut self, timeout: Duration) -> Result<Option<Message>, Error> {
        match self.consumer.poll(timeout) {
            None => Ok(None),
            Some(Ok(m)) => {
                self.errors_in_a_row = 0;
                let topic = intern(&mut self.topics, m.topic());
                let message = Message {
                    topic,
                    partition: m.partition(),
                    offset: m.offset(),
                    payload: m.payload().unwrap_or_default().to_vec(),
                };
                self.polled.insert((message.topic.clone(), message.partition), message.offset + 1);
                Ok(Some(message))
            }
            Some(Err(e)) => {
                // Broker restarts and network trouble surface here; librdkafka
                // reconnects by itself, so they are logged, not fatal.
                self.errors_in_a_row += 1;
                if self.errors_in_a_row.is_power_of_two() {
                    warn!("consumer: {e} ({} in a row)", self.errors_in_a_row);
                }
                Ok(None)
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
        if tpl.count() > 0 {
            if let Err(e) = self.consumer.commit(&tpl, CommitMode::Async) {
                // Only lag monitoring depends on it.
                warn!("committing offsets to the group: {e}");
            }
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
            let polled = self.polled.get(&(Arc::from(topic), partition)).copied();
            let position = polled.or_else(|| resume.get(&(topic.to_string(), partition)).copied()).unwrap_or(low);
            if position < high {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Counts failed deliveries.
#[derive(Default)]
struct SideContext {
    failed: AtomicU64,
    first_failure: Mutex<Option<String>>,
}

impl ClientContext for SideContext {}

impl ProducerContext for SideContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, (): ()) {
        if let Err((e, m)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            let mut first = self.first_failure.lock().unwrap_or_else(PoisonError::into_inner);
            first.get_or_insert_with(|| format!("delivering to {}: {e}", m.topic()));
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
                Err((e, _)) => return Err(Error::SideOutput(format!("publishing to {topic}: {e}"))),
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

    fn flush(&mut self) -> Result<(), Error> {
        self.producer
            .flush(Duration::from_millis(SIDE_FLUSH_TIMEOUT_MS))
            .map_err(|e| Error::SideOutput(format!("delivering dead letters and actions: {e}")))?;
        let context = self.producer.context();
        if context.failed.swap(0, Ordering::Relaxed) > 0 {
            let first = context.first_failure.lock().unwrap_or_else(PoisonError::into_inner).take();
            return Err(Error::SideOutput(first.unwrap_or_else(|| "a delivery failed".into())));
        }
        Ok(())
    }
}
