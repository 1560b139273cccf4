//! The Kafka ends of the end-to-end benchmark (`bench/pipeline.sh`).
//!
//! ```text
//! kafka_load produce BROKERS TOPIC DIR EVENTS ACCOUNTS
//! kafka_load pace BROKERS TOPIC DIR EVENTS ACCOUNTS EVENTS_PER_SECOND
//! kafka_load consume BROKERS TOPIC EXPECTED [PROPERTY=VALUE ...]
//! ```
//!
//! `produce` generates last month's operator with `ratewire-sample` (seed
//! 7, 1% lifecycle events), writes `catalog.toml` and `accounts.csv` into
//! DIR and produces the events keyed by account, as fast as the broker
//! takes them. `pace` produces the same events at a steady rate, each with
//! its time rewritten to the moment it is sent, for measuring the time from
//! an event to the ledger commit that books it. `consume` is the bare
//! rdkafka consumer the pipeline is compared with: it reads every partition
//! of TOPIC from the beginning, with the pipeline's fetch settings, until
//! it has seen EXPECTED messages, touching each payload once, and prints
//! its rate. Extra librdkafka properties override the consumer's settings,
//! for trying others.

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

/// How long producing may wait for deliveries at the end.
const FLUSH_TIMEOUT_MS: u64 = 300_000;
/// How long the consumer may go without a message before giving up.
const IDLE_TIMEOUT_MS: u64 = 30_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map_or_else(|| usage(), String::as_str);
    let number = |i: usize| arg(i).parse::<usize>().unwrap_or_else(|_| usage());
    match arg(0) {
        "produce" => produce(arg(1), arg(2), arg(3), number(4), number(5), None),
        "pace" => produce(arg(1), arg(2), arg(3), number(4), number(5), Some(number(6))),
        "consume" => consume(arg(1), arg(2), number(3), &args[4.min(args.len())..]),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: kafka_load produce BROKERS TOPIC DIR EVENTS ACCOUNTS\n\
         \x20      kafka_load pace BROKERS TOPIC DIR EVENTS ACCOUNTS EVENTS_PER_SECOND\n\
         \x20      kafka_load consume BROKERS TOPIC EXPECTED [PROPERTY=VALUE ...]"
    );
    std::process::exit(2)
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("kafka_load: {what}: {e}");
    std::process::exit(1)
}

/// Produces the dataset's events; with `per_second`, at that steady rate
/// and with every event's time set to when it is sent.
fn produce(brokers: &str, topic: &str, dir: &str, events: usize, accounts: usize, per_second: Option<usize>) {
    let month = ratewire_sample::Month::before(chrono::Utc::now()).unwrap_or_else(|e| fail("the month", e));
    let mix = ratewire_sample::Mix { lifecycle: 10_000, bad: 0, duplicate: 0 };
    let data = ratewire_sample::Dataset::generate(&ratewire_sample::Config { seed: 7, accounts, events, month, mix });
    let dir = std::path::Path::new(dir);
    std::fs::write(dir.join("catalog.toml"), &data.catalog).unwrap_or_else(|e| fail("catalog.toml", e));
    std::fs::write(dir.join("accounts.csv"), &data.accounts).unwrap_or_else(|e| fail("accounts.csv", e));
    let producer: ThreadedProducer<_> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap_or_else(|e| fail("the producer", e));
    let started = Instant::now();
    let mut now_payload = Vec::new();
    for (sent, (key, payload)) in data.records().enumerate() {
        let payload = match per_second {
            None => payload,
            Some(rate) => {
                keep_pace(started, sent, rate);
                now_payload.clear();
                with_time_now(payload, &mut now_payload);
                &now_payload[..]
            }
        };
        let mut record = BaseRecord::to(topic).key(key).payload(payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => fail("producing", e),
            }
        }
    }
    producer.flush(Duration::from_millis(FLUSH_TIMEOUT_MS)).unwrap_or_else(|e| fail("delivering", e));
    println!("produced {} messages in {:.1} s", data.events.len(), started.elapsed().as_secs_f64());
}

/// Sleeps until `sent` messages are due at `per_second` since `started`,
/// checking every thousand messages.
fn keep_pace(started: Instant, sent: usize, per_second: usize) {
    if !sent.is_multiple_of(1000) {
        return;
    }
    #[allow(clippy::cast_precision_loss, clippy::float_arithmetic)] // a schedule, not money
    let due = Duration::from_secs_f64(sent as f64 / per_second.max(1) as f64);
    if let Some(wait) = due.checked_sub(started.elapsed()) {
        std::thread::sleep(wait);
    }
}

/// `payload` with the value of its `"time"` field replaced by the current
/// UTC time, in milliseconds.
fn with_time_now(payload: &[u8], out: &mut Vec<u8>) {
    const FIELD: &[u8] = b"\"time\":\"";
    let start = payload
        .windows(FIELD.len())
        .position(|w| w == FIELD)
        .map(|at| at + FIELD.len())
        .unwrap_or_else(|| fail("pacing", "an event without a \"time\" field"));
    let end = start
        + payload[start..].iter().position(|&b| b == b'"').unwrap_or_else(|| fail("pacing", "an unterminated time"));
    out.extend_from_slice(&payload[..start]);
    out.extend_from_slice(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string().as_bytes());
    out.extend_from_slice(&payload[end..]);
}

fn consume(brokers: &str, topic: &str, expected: usize, overrides: &[String]) {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", "ratewire-bench-bare")
        .set("enable.auto.commit", "false")
        // The pipeline's defaults (ingest/src/kafka.rs, docs/config.md).
        .set("fetch.min.bytes", "1")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "52428800")
        .set("fetch.wait.max.ms", "5");
    for property in overrides {
        let (key, value) = property.split_once('=').unwrap_or_else(|| usage());
        config.set(key, value);
    }
    let consumer: BaseConsumer = config.create().unwrap_or_else(|e| fail("the consumer", e));
    let metadata =
        consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap_or_else(|e| fail("metadata", e));
    let mut assignment = TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        assignment
            .add_partition_offset(topic, partition.id(), Offset::Beginning)
            .unwrap_or_else(|e| fail("the assignment", e));
    }
    consumer.assign(&assignment).unwrap_or_else(|e| fail("assigning", e));
    let started = Instant::now();
    let (mut seen, mut bytes, mut last) = (0_usize, 0_usize, Instant::now());
    while seen < expected {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                seen += 1;
                bytes += message.payload().map_or(0, <[u8]>::len);
                last = Instant::now();
            }
            Some(Err(e)) => fail("consuming", e),
            None if last.elapsed() > Duration::from_millis(IDLE_TIMEOUT_MS) => {
                fail("consuming", format!("only {seen} of {expected} messages"))
            }
            None => {}
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss, clippy::float_arithmetic)] // a rate for display
    let rate = seen as f64 / seconds;
    println!("consumed {seen} messages ({bytes} payload bytes) in {seconds:.2} s: {rate:.0} messages/s");
}
