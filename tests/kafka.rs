//! A real broker for the streaming tests: tansu on a free loopback port with
//! its own SQLite storage, started and stopped by the test (installed by
//! `scripts/broker.sh install`, which `scripts/test.sh` runs).

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

/// Where `scripts/broker.sh` installs tansu, unless `RATEWIRE_TANSU` names
/// the binary.
fn tansu() -> PathBuf {
    if let Some(path) = std::env::var_os("RATEWIRE_TANSU") {
        return PathBuf::from(path);
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    let path = Path::new(&home).join(".cache/ratewire/tansu-0.6.0/bin/tansu");
    assert!(path.exists(), "tansu is not installed at {}: run `bash scripts/broker.sh install`", path.display());
    path
}

/// A running broker; stopped when dropped.
pub struct Broker {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Broker {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut broker = Self { child: None, port, dir: tempfile::tempdir().unwrap() };
        broker.spawn();
        broker
    }

    fn spawn(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        // tansu reads the SQLite path relative to its working directory.
        let storage = "sqlite://tansu.db";
        let log = File::options().create(true).append(true).open(self.dir.path().join("tansu.log")).unwrap();
        let child = Command::new(tansu())
            .args(["broker", "--cluster-id", "ratewire-test", "--listener-url", &url])
            .args(["--advertised-listener-url", &url, "--storage-engine", storage])
            .current_dir(self.dir.path())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("tansu starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {} within 20 s", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the broker (SIGKILL) and starts it again on the same storage.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The bootstrap address.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn create_topic(&self, name: &str, partitions: u32) {
        let out = Command::new(tansu())
            .args(["topic", "create", "--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .args(["--partitions", &partitions.to_string(), name])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "creating topic {name}: {}", super::text(&out));
    }

    /// Produces `(key, payload)` messages and waits until all are delivered.
    pub fn produce(&self, topic: &str, messages: &[(String, Vec<u8>)]) {
        produce(&self.brokers(), topic, messages);
    }

    /// Produces `(key, payload)` messages with confluent-kafka (Python), a
    /// client independent of ratewire's, from the project's venv.
    pub fn produce_with_python(&self, topic: &str, messages: &[(String, Vec<u8>)]) {
        use std::fmt::Write as _;
        let venv = super::venv();
        let python = venv.join("bin/python");
        assert!(python.exists(), "no Python venv at {}: run `bash scripts/setup.sh`", venv.display());
        let mut lines = String::new();
        for (key, payload) in messages {
            let hex: String = payload.iter().fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            });
            let line = serde_json::json!({ "key": key, "payload_hex": hex });
            let _ = writeln!(lines, "{line}");
        }
        let file = self.dir.path().join(format!("produce-{topic}.jsonl"));
        std::fs::write(&file, lines).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/produce.py");
        let out = Command::new(python).arg(script).args([&self.brokers(), topic]).arg(&file).output().unwrap();
        assert!(out.status.success(), "produce.py: {}", super::text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), messages.len().to_string());
    }

    /// Reads `count` messages of `topic` from the beginning (within a
    /// minute), with their headers.
    pub fn consume(&self, topic: &str, count: usize) -> Vec<(Vec<u8>, BTreeMap<String, String>)> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .set("group.id", format!("test-reader-{topic}-{}", std::process::id()))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        consumer.subscribe(&[topic]).unwrap();
        let mut read = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while read.len() < count && Instant::now() < deadline {
            if let Some(m) = consumer.poll(Duration::from_millis(200)) {
                let m = m.unwrap();
                let headers = m.headers().map_or_else(BTreeMap::new, |h| {
                    h.iter()
                        .map(|h| (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned()))
                        .collect()
                });
                read.push((m.payload().unwrap_or_default().to_vec(), headers));
            }
        }
        // Anything beyond `count` would be a duplicate: give it a moment.
        let settle = Instant::now() + Duration::from_secs(2);
        while Instant::now() < settle {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                read.push((m.payload().unwrap_or_default().to_vec(), BTreeMap::new()));
            }
        }
        read
    }

    /// The broker's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tansu.log")).unwrap_or_default()
    }
}

/// Produces `(key, payload)` messages to `topic` at `brokers` with an
/// idempotent producer and waits until all are delivered.
pub fn produce(brokers: &str, topic: &str, messages: &[(String, Vec<u8>)]) {
    let producer: ThreadedProducer<_> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for (key, payload) in messages {
        let mut record = BaseRecord::to(topic).key(key.as_str()).payload(payload.as_slice());
        // A full local queue: wait for deliveries, then send again.
        while let Err((_, back)) = producer.send(record) {
            record = back;
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}
