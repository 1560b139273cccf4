//! The configuration of `ratewire run`: one TOML file with the sections
//! [`KafkaConfig`], [`CatalogConfig`], [`LedgerConfig`], [`PipelineConfig`]
//! and [`HttpConfig`], documented field by field in `docs/config.md`.
//!
//! Every field is optional: its default is on its doc comment. Every field
//! but `kafka.properties` can be overridden by an environment variable
//! `RATEWIRE_<SECTION>_<FIELD>` ([`env_overrides`]), applied over the file.
//! Relative paths are resolved against the file's directory, then ranges
//! and cross-field rules are checked, and the caller's checks of the fields
//! another crate interprets ([`ExtraCheck`], such as `ledger.mirror_url`).
//!
//! Every problem found is reported, each where it comes from:
//! `file:line:col: message` for the file, `env VARIABLE: message` for the
//! environment. To get more than the first problem out of serde, which stops
//! at the first error of a struct, each field is read alone first.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ratewire_rater::event::EVENT_BYTES_MAX;
use ratewire_rater::{Diagnostic, RaterConfig};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue, ValueDeserializer};

/// The accepted range of every bounded setting, in one place;
/// `docs/config.md` states the same ranges.
pub mod bounds {
    use std::ops::RangeInclusive;

    /// `kafka.fetch_max_bytes`: librdkafka's own limit for `fetch.max.bytes`.
    pub const FETCH_MAX_BYTES: RangeInclusive<u32> = 1..=2_147_483_135;
    /// `kafka.fetch_wait_max_ms`: librdkafka's limit for `fetch.wait.max.ms`,
    /// without 0 (a fetch loop that never waits).
    pub const FETCH_WAIT_MAX_MS: RangeInclusive<u32> = 1..=300_000;
    /// `ledger.commit_interval_ms`: from 10 ms to 10 minutes.
    pub const COMMIT_INTERVAL_MS: RangeInclusive<u64> = 10..=600_000;
    /// `ledger.commit_rows_max`: rows held in memory before a commit.
    pub const COMMIT_ROWS_MAX: RangeInclusive<usize> = 1..=16_777_216;
    /// `ledger.row_group_rows`: rows per Parquet row group.
    pub const ROW_GROUP_ROWS: RangeInclusive<usize> = 1..=1_048_576;
    /// `ledger.zstd_level`: the levels Parquet's ZSTD codec accepts.
    pub const ZSTD_LEVEL: RangeInclusive<i32> = 1..=22;
    /// `ledger.handoff_wait_ms`: a second to an hour.
    pub const HANDOFF_WAIT_MS: RangeInclusive<u64> = 1_000..=3_600_000;
    /// `ledger.mirror_interval_ms`: a second to an hour.
    pub const MIRROR_INTERVAL_MS: RangeInclusive<u64> = 1_000..=3_600_000;
    /// `ledger.instance`: the longest name.
    pub const INSTANCE_BYTES_MAX: usize = 64;
    /// `pipeline.rate_workers`: rating threads.
    pub const RATE_WORKERS: RangeInclusive<usize> = 1..=64;
    /// `pipeline.batch_messages_max`: messages per batch between stages.
    pub const BATCH_MESSAGES_MAX: RangeInclusive<usize> = 1..=65_536;
    /// `pipeline.queue_batches_max`: batches per queue between stages.
    pub const QUEUE_BATCHES_MAX: RangeInclusive<usize> = 1..=1024;
    /// `pipeline.message_bytes_max`: up to 64 MiB.
    pub const MESSAGE_BYTES_MAX: RangeInclusive<usize> = 1..=64 * 1024 * 1024;
    /// `pipeline.event_age_max_days`: up to a year.
    pub const EVENT_AGE_MAX_DAYS: RangeInclusive<u32> = 1..=366;
    /// `pipeline.event_future_max_seconds`: up to a day.
    pub const EVENT_FUTURE_MAX_SECONDS: RangeInclusive<u32> = 0..=86_400;
    /// `http.ready_lag_max_messages`: up to a trillion messages behind.
    pub const READY_LAG_MAX_MESSAGES: RangeInclusive<u64> = 0..=1_000_000_000_000;
    /// Longest Kafka topic name, in bytes (Kafka's own limit).
    pub const TOPIC_BYTES_MAX: usize = 249;
}

/// The sections of the file, in the order they are documented.
pub const SECTIONS: [&str; 5] = ["kafka", "catalog", "ledger", "pipeline", "http"];

/// The prefix of every environment override.
pub const ENV_PREFIX: &str = "RATEWIRE_";

/// A `kafka.properties` key containing any of these (in any case) has its
/// value masked wherever the configuration is printed.
pub const SECRET_KEY_PARTS: [&str; 6] = ["password", "secret", "token", "jaas", "key.pem", "oauthbearer.config"];

/// What a masked value is printed as.
const MASK: &str = "********";

/// librdkafka settings that have a field of their own: two places for one
/// setting would leave the reader guessing which wins.
const PROPERTIES_WITH_A_FIELD: [(&str, &str); 5] = [
    ("bootstrap.servers", "kafka.brokers"),
    ("metadata.broker.list", "kafka.brokers"),
    ("group.id", "kafka.group_id"),
    ("fetch.max.bytes", "kafka.fetch_max_bytes"),
    ("fetch.wait.max.ms", "kafka.fetch_wait_max_ms"),
];

/// The whole configuration of `ratewire run`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where events come from and where rejects and actions go.
    pub kafka: KafkaConfig,
    /// The tariff catalog and the accounts reference data.
    pub catalog: CatalogConfig,
    /// The Parquet ledger.
    pub ledger: LedgerConfig,
    /// The stages between Kafka and the ledger, and what they accept.
    pub pipeline: PipelineConfig,
    /// Metrics, health and admin endpoints.
    pub http: HttpConfig,
}

/// `[kafka]`: the consumer group and the output topics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma-separated `host:port`. Default `127.0.0.1:9092`.
    pub brokers: String,
    /// Consumer group id; instances with the same id share the partitions.
    /// Default `ratewire`.
    pub group_id: String,
    /// Input topics; at least one. Default `["ratewire-events"]`.
    pub topics: Vec<String>,
    /// Where rejected events go, with their payload and reject code; not an
    /// input topic. Default `ratewire-dead-letter`.
    pub dead_letter_topic: String,
    /// Where threshold actions (notify, block, unblock) go; not an input
    /// topic nor the dead-letter topic. Default `ratewire-actions`.
    pub actions_topic: String,
    /// Most bytes one fetch returns (librdkafka `fetch.max.bytes`); large
    /// fetches keep the consumer fed. Default 52428800 (50 MiB).
    pub fetch_max_bytes: u32,
    /// Longest time the broker may hold a fetch that has no data yet
    /// (librdkafka `fetch.wait.max.ms`). Some brokers (tansu) hold every
    /// fetch this long, so it bounds the consume rate: short keeps the
    /// consumer fed at the cost of idle fetches. Default 5.
    pub fetch_wait_max_ms: u32,
    /// Free-form librdkafka settings (SASL, TLS, ...), applied before the
    /// settings ratewire forces. Strings, integers and booleans; values of
    /// keys naming a secret are never printed. Default: none.
    pub properties: KafkaProperties,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            group_id: "ratewire".into(),
            topics: vec!["ratewire-events".into()],
            dead_letter_topic: "ratewire-dead-letter".into(),
            actions_topic: "ratewire-actions".into(),
            fetch_max_bytes: 52_428_800,
            fetch_wait_max_ms: 5,
            properties: KafkaProperties::default(),
        }
    }
}

/// `[catalog]`: the reference data the rater loads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// The tariff catalog (TOML). Default `catalog.toml`, next to the
    /// configuration file.
    pub catalog: PathBuf,
    /// The accounts reference data (CSV or TOML). Default `accounts.csv`,
    /// next to the configuration file.
    pub accounts: PathBuf,
    /// Reload both when either file changes (and on SIGHUP). Default `true`.
    pub watch: bool,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self { catalog: "catalog.toml".into(), accounts: "accounts.csv".into(), watch: true }
    }
}

/// `[ledger]`: where rated records are committed, and how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    /// The ledger directory; created if missing. Default `ledger`, next to
    /// the configuration file.
    pub dir: PathBuf,
    /// Longest time between commits, in ms; bounds the latency from event
    /// to durable record. Default 1000, range 10 to 600000.
    pub commit_interval_ms: u64,
    /// Rows (records, facts, rejects) the rate workers book before a commit
    /// is made sooner; a commit happens when either bound is met. Default
    /// 262144, range 1 to 16777216.
    pub commit_rows_max: usize,
    /// Rows per Parquet row group; at most `commit_rows_max`. Default
    /// 131072, range 1 to 1048576.
    pub row_group_rows: usize,
    /// ZSTD compression level of the Parquet files. Default 1 (the fastest),
    /// range 1 to 22.
    pub zstd_level: i32,
    /// This instance's name among several sharing `dir` (scale-out; see
    /// `docs/operations.md`): each writes its own ledger under
    /// `dir/members/<instance>` and partitions move between them with their
    /// state. Empty (the default): one instance owns `dir` alone. Letters,
    /// digits, `.`, `_` and `-`, at most 64.
    pub instance: String,
    /// With `instance` set: how long a newly assigned partition waits for
    /// its previous owner to commit and let go of it, in ms. Default
    /// 120000, range 1000 to 3600000.
    pub handoff_wait_ms: u64,
    /// Where `ratewire run` mirrors the ledger (`docs/object-store.md`):
    /// `s3://bucket/prefix` or `file:///absolute/path`. With `instance`
    /// set, the instance's ledger goes to `members/<instance>` under it.
    /// Checked by the binary, which parses it ([`Config::load_with`]).
    /// Empty (the default): no mirror.
    pub mirror_url: String,
    /// With `mirror_url` set: how often the ledger is pushed to it, in ms;
    /// one push at a time. Default 10000, range 1000 to 3600000.
    pub mirror_interval_ms: u64,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            dir: "ledger".into(),
            commit_interval_ms: 1000,
            commit_rows_max: 262_144,
            row_group_rows: 131_072,
            zstd_level: ratewire_ledger::ZSTD_LEVEL_DEFAULT,
            instance: String::new(),
            handoff_wait_ms: 120_000,
            mirror_url: String::new(),
            mirror_interval_ms: 10_000,
        }
    }
}

impl LedgerConfig {
    /// `commit_interval_ms` as a duration.
    #[must_use]
    pub fn commit_interval(&self) -> Duration {
        Duration::from_millis(self.commit_interval_ms)
    }

    /// `mirror_interval_ms` as a duration.
    #[must_use]
    pub fn mirror_interval(&self) -> Duration {
        Duration::from_millis(self.mirror_interval_ms)
    }
}

/// `[pipeline]`: the stages between Kafka and the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Rating threads; partitions are sharded over them so that one
    /// account's events stay in order. Default 2, range 1 to 64.
    pub rate_workers: usize,
    /// Most messages in a batch handed from one stage to the next. Default
    /// 4096, range 1 to 65536.
    pub batch_messages_max: usize,
    /// Bound of every queue between stages, in batches; a full queue holds
    /// the stage before it back. A batch is also handed over at 1 MiB of
    /// payloads, so a queue holds about this many MiB at most. Default 32,
    /// range 1 to 1024.
    pub queue_batches_max: usize,
    /// Largest message accepted, in bytes; a larger one is rejected
    /// (`1002 OVERSIZED`) unread. Default 65536 (the envelope's documented
    /// limit), range 1 to 67108864 (64 MiB).
    pub message_bytes_max: usize,
    /// Events older than this, against the rating clock, are rejected.
    /// Default 62, range 1 to 366.
    pub event_age_max_days: u32,
    /// Events further ahead of the rating clock than this are rejected.
    /// Default 300, range 0 to 86400.
    pub event_future_max_seconds: u32,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        let rater = RaterConfig::default();
        Self {
            rate_workers: 2,
            batch_messages_max: 4096,
            queue_batches_max: 32,
            message_bytes_max: EVENT_BYTES_MAX,
            event_age_max_days: rater.event_age_max_days,
            event_future_max_seconds: rater.event_future_max_seconds,
        }
    }
}

impl PipelineConfig {
    /// The rater's settings.
    #[must_use]
    pub fn rater(&self) -> RaterConfig {
        RaterConfig {
            event_age_max_days: self.event_age_max_days,
            event_future_max_seconds: self.event_future_max_seconds,
            ..RaterConfig::default()
        }
    }
}

/// `[http]`: `/metrics`, `/healthz`, `/readyz` and `POST /admin/reload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address and port to listen on. Default `127.0.0.1:9464`.
    #[serde(deserialize_with = "socket_addr")]
    pub listen: SocketAddr,
    /// The name of the environment variable holding the bearer token of
    /// `POST /admin/reload` (never the token itself, which stays out of
    /// files). Default `RATEWIRE_RELOAD_TOKEN`.
    pub reload_token_env: String,
    /// Most messages the ledger may be behind the ends of this instance's
    /// input partitions (summed) for `/readyz` to answer ready; messages in
    /// flight count, so leave room for a commit interval's worth. Default
    /// 1000000, range 0 to 1000000000000.
    pub ready_lag_max_messages: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            reload_token_env: "RATEWIRE_RELOAD_TOKEN".into(),
            ready_lag_max_messages: 1_000_000,
        }
    }
}

fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(|_| de::Error::custom(format!("{text:?} is not a socket address such as 127.0.0.1:9464")))
}

/// `[kafka.properties]`: librdkafka settings by name, values as strings.
/// Its `Debug` masks secrets, like the configuration's `Display`.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct KafkaProperties(pub BTreeMap<String, String>);

impl KafkaProperties {
    /// The settings, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether the value of `key` is a secret, never to be printed.
    #[must_use]
    pub fn is_secret(key: &str) -> bool {
        let key = key.to_ascii_lowercase();
        SECRET_KEY_PARTS.iter().any(|part| key.contains(part))
    }

    /// A copy with every secret value replaced by a mask.
    #[must_use]
    pub fn masked(&self) -> Self {
        Self(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), if Self::is_secret(k) { MASK.to_string() } else { v.clone() }))
                .collect(),
        )
    }
}

impl fmt::Debug for KafkaProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.masked().0.iter()).finish()
    }
}

impl<'de> Deserialize<'de> for KafkaProperties {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// librdkafka reads every setting as a string; TOML integers and
        /// booleans are written as such for convenience.
        struct Setting(String);

        impl<'de> Deserialize<'de> for Setting {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(SettingVisitor)
            }
        }

        struct SettingVisitor;

        impl Visitor<'_> for SettingVisitor {
            type Value = Setting;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, an integer or a boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Setting, E> {
                Ok(Setting(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Setting, E> {
                Ok(Setting(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Setting, E> {
                Ok(Setting(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Setting, E> {
                Ok(Setting(v.to_string()))
            }
        }

        struct MapVisitor;

        impl<'de> Visitor<'de> for MapVisitor {
            type Value = KafkaProperties;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of librdkafka settings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KafkaProperties, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((key, Setting(value))) = map.next_entry::<String, Setting>()? {
                    out.insert(key, value);
                }
                Ok(KafkaProperties(out))
            }
        }

        d.deserialize_map(MapVisitor)
    }
}

/// Why a configuration was refused.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file or the environment has problems; each is listed.
    #[error("{}", render(path, problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

fn render(path: &Path, problems: &[Problem]) -> String {
    let path = path.display();
    let line = |p: &Problem| match &p.place {
        Place::File { line, col } => format!("{path}:{line}:{col}: {}", p.message),
        Place::Env { var } => format!("env {var}: {}", p.message),
        Place::Default => format!("{path}: {}", p.message),
    };
    problems.iter().map(line).collect::<Vec<_>>().join("\n")
}

/// One problem of a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the offending value was set.
    pub place: Place,
    /// What is wrong, starting with the field (`ledger.zstd_level: ...`).
    pub message: String,
}

/// Where a value of the configuration was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// In the file, at a 1-based line and column (in characters).
    File {
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        col: usize,
    },
    /// By an environment variable.
    Env {
        /// The variable's name.
        var: String,
    },
    /// Nowhere: the value is a default.
    Default,
}

/// One environment override: the variable and the field it sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvOverride {
    /// `RATEWIRE_<SECTION>_<FIELD>`.
    pub var: String,
    /// `section.field`.
    pub field: String,
}

/// Every environment variable that overrides a field, section by section in
/// documented order, fields in alphabetical order.
#[must_use]
pub fn env_overrides() -> Vec<EnvOverride> {
    let defaults = default_tables();
    let mut out = Vec::new();
    for section in SECTIONS {
        for (field, value) in defaults.get(section).into_iter().flatten() {
            if !value.is_table() {
                out.push(EnvOverride {
                    var: format!("{ENV_PREFIX}{}_{}", section.to_ascii_uppercase(), field.to_ascii_uppercase()),
                    field: format!("{section}.{field}"),
                });
            }
        }
    }
    out
}

/// The default configuration as TOML tables by section: the fields there
/// are, and the TOML type of each (which is how an environment value is read).
fn default_tables() -> BTreeMap<String, toml::Table> {
    let mut out = BTreeMap::new();
    if let Ok(root) = toml::Table::try_from(Config::default()) {
        for (section, value) in root {
            if let toml::Value::Table(table) = value {
                out.insert(section, table);
            }
        }
    }
    out
}

/// Checks that a caller adds to the configuration's own, for fields whose
/// values another crate interprets: `ledger.mirror_url` is parsed by the
/// binary's object store client, which this crate does not link. Each
/// problem is the field at fault and a message starting with it
/// (`ledger.mirror_url: ...`), reported at the place that set the field, as
/// the configuration's own problems are.
pub type ExtraCheck = dyn Fn(&Config) -> Vec<(&'static str, String)>;

/// No extra checks.
fn no_extra_checks(_: &Config) -> Vec<(&'static str, String)> {
    Vec::new()
}

impl Config {
    /// Reads a configuration file, with the process environment's overrides.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with(path, &no_extra_checks)
    }

    /// [`Config::load`], with the problems `extra` finds reported among the
    /// others.
    pub fn load_with(path: &Path, extra: &ExtraCheck) -> Result<Self, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => text,
            Err(e) => {
                let valid = String::from_utf8_lossy(&bytes[..e.valid_up_to()]);
                let d = Diagnostic::at(&valid, valid.len(), "the file is not UTF-8".into());
                let problem = Problem { place: Place::File { line: d.line, col: d.col }, message: d.message };
                return Err(ConfigError::Invalid { path: path.to_path_buf(), problems: vec![problem] });
            }
        };
        let env = |var: &str| std::env::var_os(var).map(|v| v.to_string_lossy().into_owned());
        Self::from_str_with_checks(text, path, env, extra)
    }

    /// Reads configuration text as if it were the file at `origin` (whose
    /// directory relative paths are resolved against), with the overrides
    /// `env` gives for each variable name.
    pub fn from_str_with_env(
        text: &str,
        origin: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Self::from_str_with_checks(text, origin, env, &no_extra_checks)
    }

    /// [`Config::from_str_with_env`], with the problems `extra` finds
    /// reported among the others.
    pub fn from_str_with_checks(
        text: &str,
        origin: &Path,
        env: impl Fn(&str) -> Option<String>,
        extra: &ExtraCheck,
    ) -> Result<Self, ConfigError> {
        let mut reading = Reading { text, places: HashMap::new(), problems: Vec::new() };
        let mut root = reading.file();
        reading.environment(&mut root, env);
        let mut config = match Config::deserialize(root) {
            Ok(config) => config,
            Err(e) => {
                // Each field was read alone already; this is a safety net.
                reading.problems.push(Problem { place: Place::Default, message: e.message().to_string() });
                Config::default()
            }
        };
        config.resolve_paths(origin.parent().unwrap_or(Path::new("")));
        let extra = extra(&config).into_iter().map(|(field, message)| Issue { fields: vec![field.into()], message });
        for issue in config.check().into_iter().chain(extra) {
            let place = issue.fields.iter().find_map(|f| reading.places.get(f)).cloned().unwrap_or(Place::Default);
            reading.problems.push(Problem { place, message: issue.message });
        }
        if reading.problems.is_empty() {
            return Ok(config);
        }
        // The file's problems in line order, then the environment's.
        reading.problems.sort_by_key(|p| match p.place {
            Place::File { line, col } => (0, line, col),
            Place::Env { .. } => (1, 0, 0),
            Place::Default => (2, 0, 0),
        });
        Err(ConfigError::Invalid { path: origin.to_path_buf(), problems: reading.problems })
    }

    /// Relative paths become relative to `base`, the file's directory.
    fn resolve_paths(&mut self, base: &Path) {
        for path in [&mut self.catalog.catalog, &mut self.catalog.accounts, &mut self.ledger.dir] {
            if path.is_relative() && !path.as_os_str().is_empty() {
                *path = base.join(&*path);
            }
        }
    }

    /// Ranges and cross-field rules; every problem, each with the fields it
    /// is about.
    fn check(&self) -> Vec<Issue> {
        let mut out = Checks(Vec::new());
        let kafka = &self.kafka;
        if kafka.brokers.trim().is_empty() {
            out.push(&["kafka.brokers"], "kafka.brokers: must name at least one broker".into());
        } else if kafka.brokers.split(',').any(|b| b.trim().is_empty() || b.trim().contains(char::is_whitespace)) {
            out.push(
                &["kafka.brokers"],
                format!("kafka.brokers: {:?} is not a comma-separated list of host:port", kafka.brokers),
            );
        }
        if kafka.group_id.is_empty() {
            out.push(&["kafka.group_id"], "kafka.group_id: must not be empty".into());
        }
        if kafka.topics.is_empty() {
            out.push(&["kafka.topics"], "kafka.topics: must name at least one input topic".into());
        }
        for (i, topic) in kafka.topics.iter().enumerate() {
            out.topic("kafka.topics", topic);
            if kafka.topics[..i].contains(topic) {
                out.push(&["kafka.topics"], format!("kafka.topics: {topic:?} is listed twice"));
            }
        }
        for (field, topic) in
            [("kafka.dead_letter_topic", &kafka.dead_letter_topic), ("kafka.actions_topic", &kafka.actions_topic)]
        {
            out.topic(field, topic);
            if kafka.topics.contains(topic) {
                out.push(
                    &[field, "kafka.topics"],
                    format!("{field}: {topic:?} is also an input topic; its messages would be read back as events"),
                );
            }
        }
        if kafka.actions_topic == kafka.dead_letter_topic {
            out.push(
                &["kafka.actions_topic", "kafka.dead_letter_topic"],
                format!("kafka.actions_topic: {:?} is also the dead-letter topic", kafka.actions_topic),
            );
        }
        out.range("kafka.fetch_max_bytes", kafka.fetch_max_bytes, &bounds::FETCH_MAX_BYTES);
        out.range("kafka.fetch_wait_max_ms", kafka.fetch_wait_max_ms, &bounds::FETCH_WAIT_MAX_MS);
        for key in kafka.properties.0.keys() {
            let at = format!("kafka.properties.{key}");
            if key.trim().is_empty() {
                out.push(&[&at, "kafka.properties"], "kafka.properties: a setting has an empty name".into());
            }
            if let Some((_, field)) = PROPERTIES_WITH_A_FIELD.iter().find(|(name, _)| name == key) {
                out.push(&[&at, "kafka.properties"], format!("kafka.properties: set {key:?} with {field} instead"));
            }
        }

        for (field, path) in [
            ("catalog.catalog", &self.catalog.catalog),
            ("catalog.accounts", &self.catalog.accounts),
            ("ledger.dir", &self.ledger.dir),
        ] {
            if path.as_os_str().is_empty() {
                out.push(&[field], format!("{field}: must not be empty"));
            }
        }

        let ledger = &self.ledger;
        out.range("ledger.commit_interval_ms", ledger.commit_interval_ms, &bounds::COMMIT_INTERVAL_MS);
        out.range("ledger.commit_rows_max", ledger.commit_rows_max, &bounds::COMMIT_ROWS_MAX);
        out.range("ledger.row_group_rows", ledger.row_group_rows, &bounds::ROW_GROUP_ROWS);
        out.range("ledger.zstd_level", ledger.zstd_level, &bounds::ZSTD_LEVEL);
        out.range("ledger.handoff_wait_ms", ledger.handoff_wait_ms, &bounds::HANDOFF_WAIT_MS);
        out.range("ledger.mirror_interval_ms", ledger.mirror_interval_ms, &bounds::MIRROR_INTERVAL_MS);
        let name = &ledger.instance;
        if name.len() > bounds::INSTANCE_BYTES_MAX
            || name.starts_with('.')
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            out.push(
                &["ledger.instance"],
                format!(
                    "ledger.instance: {name:?} is not an instance name (letters, digits, '.', '_' and '-', \
                     not starting with '.', at most {} bytes)",
                    bounds::INSTANCE_BYTES_MAX
                ),
            );
        }
        if ledger.row_group_rows > ledger.commit_rows_max {
            out.push(
                &["ledger.row_group_rows", "ledger.commit_rows_max"],
                format!(
                    "ledger.row_group_rows: {} is more than ledger.commit_rows_max ({}); a row group could never fill",
                    ledger.row_group_rows, ledger.commit_rows_max
                ),
            );
        }

        let pipeline = &self.pipeline;
        out.range("pipeline.rate_workers", pipeline.rate_workers, &bounds::RATE_WORKERS);
        out.range("pipeline.batch_messages_max", pipeline.batch_messages_max, &bounds::BATCH_MESSAGES_MAX);
        out.range("pipeline.queue_batches_max", pipeline.queue_batches_max, &bounds::QUEUE_BATCHES_MAX);
        out.range("pipeline.message_bytes_max", pipeline.message_bytes_max, &bounds::MESSAGE_BYTES_MAX);
        out.range("pipeline.event_age_max_days", pipeline.event_age_max_days, &bounds::EVENT_AGE_MAX_DAYS);
        out.range(
            "pipeline.event_future_max_seconds",
            pipeline.event_future_max_seconds,
            &bounds::EVENT_FUTURE_MAX_SECONDS,
        );

        out.range("http.ready_lag_max_messages", self.http.ready_lag_max_messages, &bounds::READY_LAG_MAX_MESSAGES);
        let name = &self.http.reload_token_env;
        let valid = name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            out.push(
                &["http.reload_token_env"],
                format!(
                    "http.reload_token_env: {name:?} is not an environment variable name \
                     (letters, digits and _, not starting with a digit); it names the variable holding the token"
                ),
            );
        }
        out.0
    }
}

impl fmt::Display for Config {
    /// The configuration as TOML, with secrets masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.clone();
        shown.kafka.properties = self.kafka.properties.masked();
        // TOML has no place for a path that is not UTF-8.
        for path in [&mut shown.catalog.catalog, &mut shown.catalog.accounts, &mut shown.ledger.dir] {
            *path = PathBuf::from(path.to_string_lossy().into_owned());
        }
        match toml::to_string(&shown) {
            Ok(text) => f.write_str(&text),
            Err(e) => write!(f, "# the configuration cannot be printed: {e}"),
        }
    }
}

/// A problem found by [`Config::check`]: the fields it is about, the first
/// set explicitly (in the file or the environment) being the one blamed.
#[derive(Debug)]
struct Issue {
    fields: Vec<String>,
    message: String,
}

struct Checks(Vec<Issue>);

impl Checks {
    fn push(&mut self, fields: &[&str], message: String) {
        self.0.push(Issue { fields: fields.iter().map(|f| f.to_string()).collect(), message });
    }

    fn range<T: PartialOrd + fmt::Display>(&mut self, field: &str, value: T, range: &RangeInclusive<T>) {
        if !range.contains(&value) {
            self.push(&[field], format!("{field}: {value} is out of range ({} to {})", range.start(), range.end()));
        }
    }

    fn topic(&mut self, field: &str, topic: &str) {
        let legal = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        if topic.is_empty()
            || topic.len() > bounds::TOPIC_BYTES_MAX
            || !topic.bytes().all(legal)
            || topic == "."
            || topic == ".."
        {
            self.push(
                &[field],
                format!(
                    "{field}: {topic:?} is not a Kafka topic name (1 to {} of a-z, A-Z, 0-9, '.', '_', '-')",
                    bounds::TOPIC_BYTES_MAX
                ),
            );
        }
    }
}

/// The state of one reading: the text, where each field was set, and the
/// problems found so far.
struct Reading<'t> {
    text: &'t str,
    /// Where each field was set, by `section.field` (and
    /// `kafka.properties.<key>`); absent for defaults.
    places: HashMap<String, Place>,
    problems: Vec<Problem>,
}

impl Reading<'_> {
    /// The file as a TOML table of sections, holding only the fields that
    /// read well alone; every other field is a problem.
    fn file(&mut self) -> toml::Table {
        let (root, errors) = DeTable::parse_recoverable(self.text);
        if !errors.is_empty() {
            for e in errors {
                self.toml_problem(&e, "", 0);
            }
            return toml::Table::new();
        }
        let known = default_tables();
        let mut out = toml::Table::new();
        for (key, value) in root.get_ref().iter() {
            let section: &str = key.get_ref();
            let (DeValue::Table(fields), Some(known_fields)) = (value.get_ref(), known.get(section)) else {
                // An unknown section, or one that is not a table: serde
                // words the problem.
                if let Err(e) = probe(single(key, value.clone())) {
                    let prefix = if known.contains_key(section) { format!("{section}: ") } else { String::new() };
                    self.toml_problem(&e, &prefix, key.span().start);
                }
                continue;
            };
            let mut table = toml::Table::new();
            for (field, value) in fields.iter() {
                let name: &str = field.get_ref();
                let path = format!("{section}.{name}");
                if let Err(e) = probe(single(key, single(field, value.clone()))) {
                    let prefix =
                        if known_fields.contains_key(name) { format!("{path}: ") } else { format!("{section}: ") };
                    self.toml_problem(&e, &prefix, field.span().start);
                    continue;
                }
                let place = self.place(value.span().start);
                self.places.insert(path.clone(), place);
                if let DeValue::Table(entries) = value.get_ref() {
                    for (entry, entry_value) in entries.iter() {
                        let place = self.place(entry_value.span().start);
                        self.places.insert(format!("{path}.{}", entry.get_ref()), place);
                    }
                }
                match toml::Value::deserialize(ValueDeserializer::from(value.clone())) {
                    Ok(value) => {
                        table.insert(name.to_string(), value);
                    }
                    Err(e) => self.toml_problem(&e, &format!("{path}: "), value.span().start),
                }
            }
            out.insert(section.to_string(), toml::Value::Table(table));
        }
        out
    }

    /// Applies the environment's overrides to `root`; a value that does not
    /// read is a problem naming its variable.
    fn environment(&mut self, root: &mut toml::Table, env: impl Fn(&str) -> Option<String>) {
        let defaults = default_tables();
        for EnvOverride { var, field: path } in env_overrides() {
            let Some(text) = env(&var) else { continue };
            let Some((section, field)) = path.split_once('.') else { continue };
            let Some(default) = defaults.get(section).and_then(|t| t.get(field)) else { continue };
            let problem = |message: String| Problem { place: Place::Env { var: var.clone() }, message };
            let value = match env_value(default, &text) {
                Ok(value) => value,
                Err(message) => {
                    self.problems.push(problem(format!("{path}: {message}")));
                    continue;
                }
            };
            let alone = toml::Table::from_iter([(
                section.to_string(),
                toml::Value::Table(toml::Table::from_iter([(field.to_string(), value.clone())])),
            )]);
            if let Err(e) = Config::deserialize(alone) {
                self.problems.push(problem(format!("{path}: {}", e.message())));
                continue;
            }
            let table = root.entry(section).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(table) = table {
                table.insert(field.to_string(), value);
            }
            self.places.insert(path, Place::Env { var });
        }
    }

    fn place(&self, offset: usize) -> Place {
        let d = Diagnostic::at(self.text, offset, String::new());
        Place::File { line: d.line, col: d.col }
    }

    /// A problem from a TOML error, at its span or else at `fallback`.
    fn toml_problem(&mut self, e: &toml::de::Error, prefix: &str, fallback: usize) {
        let offset = e.span().map_or(fallback, |s| s.start);
        let message = format!("{prefix}{}", e.message().trim_end().replace('\n', " "));
        self.problems.push(Problem { place: self.place(offset), message });
    }
}

/// A table of one entry, spanning the entry's value.
fn single<'i>(key: &Spanned<DeString<'i>>, value: Spanned<DeValue<'i>>) -> Spanned<DeValue<'i>> {
    let span = value.span();
    let mut table = DeTable::new();
    table.insert(key.clone(), value);
    Spanned::new(span, DeValue::Table(table))
}

/// Reads a configuration from part of a file, to find that part's problems.
fn probe(value: Spanned<DeValue<'_>>) -> Result<Config, toml::de::Error> {
    Config::deserialize(ValueDeserializer::from(value))
}

/// An environment value read as the TOML type of the field's default:
/// strings as they are, lists comma-separated.
fn env_value(default: &toml::Value, text: &str) -> Result<toml::Value, String> {
    Ok(match default {
        toml::Value::Integer(_) => {
            toml::Value::Integer(text.trim().parse().map_err(|_| format!("{text:?} is not an integer"))?)
        }
        toml::Value::Boolean(_) => match text.trim() {
            "true" => toml::Value::Boolean(true),
            "false" => toml::Value::Boolean(false),
            _ => return Err(format!("{text:?} is not true or false")),
        },
        toml::Value::Array(_) if text.trim().is_empty() => toml::Value::Array(Vec::new()),
        toml::Value::Array(_) => {
            toml::Value::Array(text.split(',').map(|item| toml::Value::String(item.trim().to_string())).collect())
        }
        _ => toml::Value::String(text.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Config, ConfigError> {
        read_env(text, &[])
    }

    fn read_env(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_str_with_env(text, Path::new("conf/ratewire.toml"), |var| vars.get(var).cloned())
    }

    /// The refusal's lines, each `file:line:col: message` or `env VAR: message`.
    fn refusal(text: &str, vars: &[(&str, &str)]) -> Vec<String> {
        match read_env(text, vars) {
            Ok(config) => panic!("accepted:\n{text}\nas\n{config}"),
            Err(e) => e.to_string().lines().map(str::to_string).collect(),
        }
    }

    fn has(lines: &[String], expected: &str) {
        assert!(lines.iter().any(|l| l == expected), "{expected:?} not in\n{}", lines.join("\n"));
    }

    #[test]
    fn an_empty_file_is_the_defaults_with_paths_resolved() {
        let config = read("").unwrap();
        let mut expected = Config::default();
        expected.catalog.catalog = "conf/catalog.toml".into();
        expected.catalog.accounts = "conf/accounts.csv".into();
        expected.ledger.dir = "conf/ledger".into();
        assert_eq!(config, expected);
        assert!(Config::default().check().is_empty());
    }

    #[test]
    fn the_documented_defaults() {
        let c = Config::default();
        assert_eq!(c.kafka.brokers, "127.0.0.1:9092");
        assert_eq!(c.kafka.group_id, "ratewire");
        assert_eq!(c.kafka.topics, ["ratewire-events"]);
        assert_eq!(c.kafka.dead_letter_topic, "ratewire-dead-letter");
        assert_eq!(c.kafka.actions_topic, "ratewire-actions");
        assert_eq!(c.kafka.fetch_max_bytes, 52_428_800);
        assert!(c.kafka.properties.0.is_empty());
        assert_eq!(c.catalog.catalog, Path::new("catalog.toml"));
        assert_eq!(c.catalog.accounts, Path::new("accounts.csv"));
        assert!(c.catalog.watch);
        assert_eq!(c.ledger.dir, Path::new("ledger"));
        assert_eq!(c.ledger.commit_interval(), Duration::from_secs(1));
        assert_eq!((c.ledger.commit_rows_max, c.ledger.row_group_rows, c.ledger.zstd_level), (262_144, 131_072, 1));
        assert_eq!((c.ledger.mirror_url.as_str(), c.ledger.mirror_interval()), ("", Duration::from_secs(10)));
        let p = &c.pipeline;
        assert_eq!((p.rate_workers, p.batch_messages_max, p.queue_batches_max), (2, 4096, 32));
        assert_eq!(p.message_bytes_max, 65_536);
        assert_eq!((p.event_age_max_days, p.event_future_max_seconds), (62, 300));
        assert_eq!(c.http.listen.to_string(), "127.0.0.1:9464");
        assert_eq!(c.http.reload_token_env, "RATEWIRE_RELOAD_TOKEN");
        assert_eq!(c.http.ready_lag_max_messages, 1_000_000);
    }

    #[test]
    fn only_brokers_is_enough() {
        let config = read("[kafka]\nbrokers = \"kafka-0:9092,kafka-1:9092\"\n").unwrap();
        assert_eq!(config.kafka.brokers, "kafka-0:9092,kafka-1:9092");
        assert_eq!(config.pipeline, PipelineConfig::default());
    }

    #[test]
    fn every_field_is_read() {
        let config = read(
            r#"
            [kafka]
            brokers = "b:9092"
            group_id = "g"
            topics = ["in-1", "in-2"]
            dead_letter_topic = "dl"
            actions_topic = "act"
            fetch_max_bytes = 1048576
            [kafka.properties]
            "security.protocol" = "SASL_SSL"
            "session.timeout.ms" = 45000
            "enable.ssl.certificate.verification" = false
            [catalog]
            catalog = "/etc/ratewire/catalog.toml"
            accounts = "ref/accounts.toml"
            watch = false
            [ledger]
            dir = "/var/lib/ratewire"
            commit_interval_ms = 250
            commit_rows_max = 1000
            row_group_rows = 500
            zstd_level = 9
            mirror_url = "s3://billing/ledger"
            mirror_interval_ms = 60000
            [pipeline]
            rate_workers = 4
            batch_messages_max = 1024
            queue_batches_max = 16
            message_bytes_max = 1048576
            event_age_max_days = 31
            event_future_max_seconds = 0
            [http]
            listen = "[::]:9000"
            reload_token_env = "ADMIN_TOKEN"
            ready_lag_max_messages = 5000
            "#,
        )
        .unwrap();
        assert_eq!(config.kafka.topics, ["in-1", "in-2"]);
        let props: Vec<_> = config.kafka.properties.iter().collect();
        assert_eq!(
            props,
            [
                ("enable.ssl.certificate.verification", "false"),
                ("security.protocol", "SASL_SSL"),
                ("session.timeout.ms", "45000")
            ]
        );
        assert_eq!(config.catalog.catalog, Path::new("/etc/ratewire/catalog.toml"));
        assert_eq!(config.catalog.accounts, Path::new("conf/ref/accounts.toml"));
        assert_eq!(config.ledger.dir, Path::new("/var/lib/ratewire"));
        assert_eq!(config.ledger.zstd_level, 9);
        assert_eq!(config.ledger.mirror_url, "s3://billing/ledger");
        assert_eq!(config.ledger.mirror_interval(), Duration::from_secs(60));
        assert_eq!(config.pipeline.rater().event_age_max_days, 31);
        assert_eq!(config.http.listen.port(), 9000);
        assert_eq!(config.http.ready_lag_max_messages, 5000);
    }

    #[test]
    fn each_range_error_names_its_line_and_column() {
        let text = "\
[ledger]
commit_interval_ms = 5
commit_rows_max = 0
row_group_rows = 2000000
zstd_level = 23
[pipeline]
rate_workers = 0
batch_messages_max = 65537
queue_batches_max = 1025
message_bytes_max = 67108865
event_age_max_days = 0
event_future_max_seconds = 86401
[kafka]
fetch_max_bytes = 0
fetch_wait_max_ms = 0
[http]
ready_lag_max_messages = 1000000000001
";
        let lines = refusal(text, &[]);
        for expected in [
            "conf/ratewire.toml:2:22: ledger.commit_interval_ms: 5 is out of range (10 to 600000)",
            "conf/ratewire.toml:3:19: ledger.commit_rows_max: 0 is out of range (1 to 16777216)",
            "conf/ratewire.toml:4:18: ledger.row_group_rows: 2000000 is out of range (1 to 1048576)",
            "conf/ratewire.toml:5:14: ledger.zstd_level: 23 is out of range (1 to 22)",
            "conf/ratewire.toml:7:16: pipeline.rate_workers: 0 is out of range (1 to 64)",
            "conf/ratewire.toml:8:22: pipeline.batch_messages_max: 65537 is out of range (1 to 65536)",
            "conf/ratewire.toml:9:21: pipeline.queue_batches_max: 1025 is out of range (1 to 1024)",
            "conf/ratewire.toml:10:21: pipeline.message_bytes_max: 67108865 is out of range (1 to 67108864)",
            "conf/ratewire.toml:11:22: pipeline.event_age_max_days: 0 is out of range (1 to 366)",
            "conf/ratewire.toml:12:28: pipeline.event_future_max_seconds: 86401 is out of range (0 to 86400)",
            "conf/ratewire.toml:14:19: kafka.fetch_max_bytes: 0 is out of range (1 to 2147483135)",
            "conf/ratewire.toml:15:21: kafka.fetch_wait_max_ms: 0 is out of range (1 to 300000)",
            "conf/ratewire.toml:17:26: http.ready_lag_max_messages: 1000000000001 is out of range (0 to 1000000000000)",
            "conf/ratewire.toml:4:18: ledger.row_group_rows: 2000000 is more than ledger.commit_rows_max (0); \
             a row group could never fill",
        ] {
            has(&lines, expected);
        }
        assert_eq!(lines.len(), 14, "{}", lines.join("\n"));
    }

    #[test]
    fn unknown_fields_and_sections_are_refused_with_their_line() {
        let lines = refusal(
            "[kafka]\nbrokers = \"b:9092\"\nbroker = \"typo\"\n[ledgr]\ndir = \"x\"\n[pipeline]\nrate_worker = 3\n",
            &[],
        );
        assert_eq!(lines.len(), 3, "{}", lines.join("\n"));
        assert!(
            lines[0].starts_with("conf/ratewire.toml:3:1: kafka: unknown field `broker`, expected one of"),
            "{lines:?}"
        );
        assert!(lines[1].starts_with("conf/ratewire.toml:4:2: unknown field `ledgr`, expected one of"), "{lines:?}");
        assert!(lines[2].starts_with("conf/ratewire.toml:7:1: pipeline: unknown field `rate_worker`"), "{lines:?}");
    }

    #[test]
    fn wrong_types_are_refused_each_with_its_line() {
        let lines = refusal(
            "[pipeline]\nrate_workers = \"two\"\nqueue_batches_max = -1\n[http]\nlisten = \"localhost\"\n[kafka]\ntopics = \"in\"\n",
            &[],
        );
        has(&lines, "conf/ratewire.toml:2:16: pipeline.rate_workers: invalid type: string \"two\", expected usize");
        has(&lines, "conf/ratewire.toml:3:21: pipeline.queue_batches_max: invalid value: integer `-1`, expected usize");
        has(
            &lines,
            "conf/ratewire.toml:5:10: http.listen: \"localhost\" is not a socket address such as 127.0.0.1:9464",
        );
        has(&lines, "conf/ratewire.toml:7:10: kafka.topics: invalid type: string \"in\", expected a sequence");
        assert_eq!(lines.len(), 4, "{}", lines.join("\n"));
    }

    #[test]
    fn syntax_errors_name_their_position() {
        let lines = refusal("[kafka]\nbrokers = \n", &[]);
        assert!(lines[0].starts_with("conf/ratewire.toml:2:"), "{lines:?}");
    }

    #[test]
    fn topics_must_be_distinct_and_well_formed() {
        let lines = refusal(
            "[kafka]\ntopics = [\"in\", \"in\", \"bad topic\", \"dl\"]\ndead_letter_topic = \"dl\"\nactions_topic = \"dl\"\n",
            &[],
        );
        has(&lines, "conf/ratewire.toml:2:10: kafka.topics: \"in\" is listed twice");
        has(
            &lines,
            "conf/ratewire.toml:2:10: kafka.topics: \"bad topic\" is not a Kafka topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-')",
        );
        has(
            &lines,
            "conf/ratewire.toml:3:21: kafka.dead_letter_topic: \"dl\" is also an input topic; its messages would be read back as events",
        );
        has(&lines, "conf/ratewire.toml:4:17: kafka.actions_topic: \"dl\" is also the dead-letter topic");
        let lines = refusal("[kafka]\ntopics = []\n", &[]);
        assert_eq!(lines, ["conf/ratewire.toml:2:10: kafka.topics: must name at least one input topic"]);
        // A default in conflict: the field that was set is blamed.
        let lines = refusal("[kafka]\ntopics = [\"ratewire-actions\"]\n", &[]);
        assert!(lines[0].starts_with("conf/ratewire.toml:2:10: kafka.actions_topic: \"ratewire-actions\" is also"));
    }

    #[test]
    fn other_checks() {
        let lines = refusal(
            "[kafka]\nbrokers = \"a:1,,b:2\"\ngroup_id = \"\"\n[kafka.properties]\n\"group.id\" = \"x\"\n\
             [catalog]\naccounts = \"\"\n[http]\nreload_token_env = \"s3cr3t-t0ken!\"\n",
            &[],
        );
        has(&lines, "conf/ratewire.toml:2:11: kafka.brokers: \"a:1,,b:2\" is not a comma-separated list of host:port");
        has(&lines, "conf/ratewire.toml:3:12: kafka.group_id: must not be empty");
        has(&lines, "conf/ratewire.toml:5:14: kafka.properties: set \"group.id\" with kafka.group_id instead");
        has(&lines, "conf/ratewire.toml:7:12: catalog.accounts: must not be empty");
        assert!(
            lines.iter().any(|l| l.starts_with("conf/ratewire.toml:9:20: http.reload_token_env: \"s3cr3t-t0ken!\""))
        );
        assert_eq!(lines.len(), 5, "{}", lines.join("\n"));
        let lines = refusal("[kafka.properties]\n\"sasl.mechanisms\" = 1.5\n", &[]);
        assert!(lines[0].starts_with("conf/ratewire.toml:2:"), "{lines:?}");
        assert!(lines[0].contains("expected a string, an integer or a boolean"), "{lines:?}");
    }

    #[test]
    fn env_overrides_apply_over_the_file() {
        let config = read_env(
            "[kafka]\nbrokers = \"file:9092\"\n[pipeline]\nrate_workers = 3\n",
            &[
                ("RATEWIRE_KAFKA_BROKERS", "env:9092"),
                ("RATEWIRE_KAFKA_TOPICS", "a, b,c"),
                ("RATEWIRE_LEDGER_DIR", "/data/ledger"),
                ("RATEWIRE_CATALOG_CATALOG", "tariffs/catalog.toml"),
                ("RATEWIRE_CATALOG_WATCH", "false"),
                ("RATEWIRE_PIPELINE_RATE_WORKERS", " 8 "),
                ("RATEWIRE_HTTP_LISTEN", "0.0.0.0:9464"),
            ],
        )
        .unwrap();
        assert_eq!(config.kafka.brokers, "env:9092");
        assert_eq!(config.kafka.topics, ["a", "b", "c"]);
        assert_eq!(config.ledger.dir, Path::new("/data/ledger"));
        assert_eq!(config.catalog.catalog, Path::new("conf/tariffs/catalog.toml"));
        assert!(!config.catalog.watch);
        assert_eq!(config.pipeline.rate_workers, 8);
        assert_eq!(config.http.listen.to_string(), "0.0.0.0:9464");
    }

    #[test]
    fn bad_env_values_name_the_variable() {
        let lines = refusal(
            "[pipeline]\nrate_workers = 100\n",
            &[
                ("RATEWIRE_PIPELINE_RATE_WORKERS", "0"),
                ("RATEWIRE_PIPELINE_QUEUE_BATCHES_MAX", "many"),
                ("RATEWIRE_PIPELINE_BATCH_MESSAGES_MAX", "-4"),
                ("RATEWIRE_CATALOG_WATCH", "yes"),
                ("RATEWIRE_HTTP_LISTEN", "nowhere"),
                ("RATEWIRE_KAFKA_TOPICS", "in,ratewire-dead-letter"),
            ],
        );
        for expected in [
            "env RATEWIRE_PIPELINE_RATE_WORKERS: pipeline.rate_workers: 0 is out of range (1 to 64)",
            "env RATEWIRE_PIPELINE_QUEUE_BATCHES_MAX: pipeline.queue_batches_max: \"many\" is not an integer",
            "env RATEWIRE_PIPELINE_BATCH_MESSAGES_MAX: pipeline.batch_messages_max: invalid value: integer `-4`, expected usize",
            "env RATEWIRE_CATALOG_WATCH: catalog.watch: \"yes\" is not true or false",
            "env RATEWIRE_HTTP_LISTEN: http.listen: \"nowhere\" is not a socket address such as 127.0.0.1:9464",
            "env RATEWIRE_KAFKA_TOPICS: kafka.dead_letter_topic: \"ratewire-dead-letter\" is also an input topic; \
             its messages would be read back as events",
        ] {
            has(&lines, expected);
        }
        assert_eq!(lines.len(), 6, "{}", lines.join("\n"));
    }

    #[test]
    fn an_instance_name_must_be_a_plain_directory_name() {
        for (name, ok) in [("", true), ("ratewire-0", true), ("a.b_c", true), ("../x", false), (".hidden", false)] {
            let config = Config {
                ledger: LedgerConfig { instance: name.into(), ..LedgerConfig::default() },
                ..Config::default()
            };
            let issues = config.check();
            assert_eq!(issues.is_empty(), ok, "{name:?}: {} issues", issues.len());
        }
        let long = "x".repeat(bounds::INSTANCE_BYTES_MAX + 1);
        let config = Config { ledger: LedgerConfig { instance: long, ..LedgerConfig::default() }, ..Config::default() };
        assert!(!config.check().is_empty());
    }

    #[test]
    fn every_field_but_properties_has_an_env_override() {
        let vars = env_overrides();
        assert_eq!(vars.len(), 7 + 3 + 9 + 6 + 3);
        assert!(vars.iter().any(|v| v.var == "RATEWIRE_LEDGER_INSTANCE" && v.field == "ledger.instance"));
        assert!(vars.iter().any(|v| v.var == "RATEWIRE_LEDGER_MIRROR_URL" && v.field == "ledger.mirror_url"));
        assert!(
            vars.iter()
                .any(|v| v.var == "RATEWIRE_LEDGER_MIRROR_INTERVAL_MS" && v.field == "ledger.mirror_interval_ms")
        );
        assert!(
            vars.iter().any(|v| v.var == "RATEWIRE_KAFKA_DEAD_LETTER_TOPIC" && v.field == "kafka.dead_letter_topic")
        );
        assert!(vars.iter().any(|v| v.var == "RATEWIRE_PIPELINE_EVENT_FUTURE_MAX_SECONDS"));
        assert!(!vars.iter().any(|v| v.field.contains("properties")));
    }

    #[test]
    fn the_mirror_fields_read_from_the_file_and_the_environment() {
        let config = read_env(
            "[ledger]\nmirror_url = \"file:///srv/mirror\"\n",
            &[("RATEWIRE_LEDGER_MIRROR_INTERVAL_MS", "2500")],
        )
        .unwrap();
        assert_eq!(config.ledger.mirror_url, "file:///srv/mirror");
        assert_eq!(config.ledger.mirror_interval_ms, 2500);
        let config = read_env("", &[("RATEWIRE_LEDGER_MIRROR_URL", "s3://bucket/p")]).unwrap();
        assert_eq!(config.ledger.mirror_url, "s3://bucket/p");
        let lines = refusal("[ledger]\nmirror_interval_ms = 999\n", &[("RATEWIRE_LEDGER_MIRROR_INTERVAL_MS", "x")]);
        assert_eq!(
            lines,
            [
                "conf/ratewire.toml:2:22: ledger.mirror_interval_ms: 999 is out of range (1000 to 3600000)",
                "env RATEWIRE_LEDGER_MIRROR_INTERVAL_MS: ledger.mirror_interval_ms: \"x\" is not an integer",
            ]
        );
    }

    #[test]
    fn extra_checks_are_reported_where_the_field_was_set() {
        let extra = |config: &Config| {
            let url = &config.ledger.mirror_url;
            if url.is_empty() || url.starts_with("s3://") {
                Vec::new()
            } else {
                vec![("ledger.mirror_url", format!("ledger.mirror_url: {url:?} is not an s3:// URL"))]
            }
        };
        let load = |text: &str, vars: &[(&str, &str)]| {
            let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            Config::from_str_with_checks(text, Path::new("conf/ratewire.toml"), |var| vars.get(var).cloned(), &extra)
        };
        assert!(load("", &[]).is_ok());
        assert_eq!(load("[ledger]\nmirror_url = \"s3://b\"\n", &[]).unwrap().ledger.mirror_url, "s3://b");
        let e = load("[ledger]\nzstd_level = 0\nmirror_url = \"ftp://x\"\n", &[]).unwrap_err().to_string();
        assert_eq!(
            e,
            "conf/ratewire.toml:2:14: ledger.zstd_level: 0 is out of range (1 to 22)\n\
             conf/ratewire.toml:3:14: ledger.mirror_url: \"ftp://x\" is not an s3:// URL"
        );
        let e = load("", &[("RATEWIRE_LEDGER_MIRROR_URL", "x")]).unwrap_err().to_string();
        assert_eq!(e, "env RATEWIRE_LEDGER_MIRROR_URL: ledger.mirror_url: \"x\" is not an s3:// URL");
        // Without the extra checks, the field is any string.
        assert!(read("[ledger]\nmirror_url = \"ftp://x\"\n").is_ok());
    }

    #[test]
    fn relative_paths_are_resolved_against_the_file() {
        let text = "[catalog]\ncatalog = \"../shared/catalog.toml\"\naccounts = \"/abs/accounts.csv\"\n";
        let at = |origin: &str| Config::from_str_with_env(text, Path::new(origin), |_| None).unwrap();
        let config = at("/etc/ratewire/ratewire.toml");
        assert_eq!(config.catalog.catalog, Path::new("/etc/ratewire/../shared/catalog.toml"));
        assert_eq!(config.catalog.accounts, Path::new("/abs/accounts.csv"));
        assert_eq!(config.ledger.dir, Path::new("/etc/ratewire/ledger"));
        // A file in the working directory: paths stay relative to it.
        assert_eq!(at("ratewire.toml").ledger.dir, Path::new("ledger"));
    }

    #[test]
    fn load_reads_the_file_and_refuses_what_is_not_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ratewire.toml");
        std::fs::write(&path, "[ledger]\ndir = \"l\"\n").unwrap();
        assert_eq!(Config::load(&path).unwrap().ledger.dir, dir.path().join("l"));
        std::fs::write(&path, b"[ledger]\ndir = \"\xff\"\n").unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert_eq!(e, format!("{}:2:8: the file is not UTF-8", path.display()));
        assert!(matches!(Config::load(&dir.path().join("missing.toml")), Err(ConfigError::Io { .. })));
    }

    #[test]
    fn secrets_are_masked_when_printed() {
        let config = read(
            "[kafka.properties]\n\"sasl.username\" = \"svc\"\n\"sasl.password\" = \"hunter2\"\n\
             \"ssl.key.password\" = \"k3y\"\n\"sasl.oauthbearer.client.secret\" = \"s\"\n\
             \"Some.TOKEN\" = \"t0k\"\n\"sasl.jaas.config\" = \"x password=y\"\n",
        )
        .unwrap();
        for shown in [config.to_string(), format!("{config:?}")] {
            for secret in ["hunter2", "k3y", "\"s\"", "t0k", "password=y"] {
                assert!(!shown.contains(secret), "{secret} shown in\n{shown}");
            }
            assert!(shown.contains("svc"), "{shown}");
        }
        let shown = config.to_string();
        assert!(shown.contains("\"sasl.password\" = \"********\""), "{shown}");
        // What is printed reads back as the same configuration, secrets aside.
        let back = read(&shown).unwrap();
        assert_eq!(back.kafka.properties.0["sasl.username"], "svc");
        assert_eq!(back.pipeline, config.pipeline);
    }

    #[test]
    fn the_display_is_toml_that_reads_back() {
        let config = read("[kafka]\ntopics = [\"a\", \"b\"]\n[pipeline]\nrate_workers = 5\n").unwrap();
        let shown = config.to_string();
        let back = Config::from_str_with_env(&shown, Path::new("/"), |_| None).unwrap();
        assert_eq!(back, config, "{shown}");
    }
}
