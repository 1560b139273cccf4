//! Operations of `ratewire run` against a real broker: `/metrics` (checked
//! by `promtool` and scraped by a real Prometheus), `/healthz`, `/readyz`
//! and `POST /admin/reload`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use ratewire_rater::dedup::EventIds;
use ratewire_rater::{Accounts, Output, Rater, RaterConfig, RejectCode, catalog, decode};

use super::kafka::{Broker, produce};
use super::text;

const EVENTS: &str = "events";
/// The variable the configs name for the reload token.
const TOKEN_VAR: &str = "RATEWIRE_OPS_TEST_RELOAD_TOKEN";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples")
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `count` usage events keyed by account, ids `<prefix>-<n>`, with
/// `malformed` payloads that are not JSON mixed in.
fn events(prefix: &str, count: usize, malformed: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    let accounts: Vec<String> = std::fs::read_to_string(examples().join("accounts.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next().map(str::to_string))
        .collect();
    let mut rng = fastrand::Rng::with_seed(seed);
    let start = Utc::now() - chrono::Duration::days(10);
    let mut out = Vec::new();
    for i in 0..count {
        let account = accounts[rng.usize(..accounts.len())].clone();
        let time = (start + chrono::Duration::seconds(i64::try_from(i).unwrap() * 60))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let payload = if rng.bool() {
            format!(
                r#"{{"v":1,"id":"{prefix}-{i}","kind":"usage","account":"{account}","time":"{time}","service":"voice","quantity":{},"destination":"+4930{:06}"}}"#,
                rng.u32(1..900),
                rng.u32(..1_000_000)
            )
        } else {
            format!(
                r#"{{"v":1,"id":"{prefix}-{i}","kind":"usage","account":"{account}","time":"{time}","service":"sms","quantity":1,"destination":"+3361{:06}"}}"#,
                rng.u32(..1_000_000)
            )
        };
        out.push((account, payload.into_bytes()));
    }
    for i in 0..malformed {
        let at = rng.usize(..=out.len());
        let broken = if i % 2 == 0 {
            format!(r#"{{"v":1,"id":"{prefix}-x{i}","kind":"#).into_bytes()
        } else {
            vec![0xff, 0xfe, b'{']
        };
        out.insert(at, (format!("key-{i}"), broken));
    }
    out
}

/// Rejects by code name that rating `messages` in order books: the oracle.
fn expected_rejects(messages: &[(String, Vec<u8>)]) -> BTreeMap<&'static str, u64> {
    let tables = std::sync::Arc::new(catalog::load(&examples().join("catalog.toml")).unwrap());
    let accounts = std::sync::Arc::new(Accounts::load(&examples().join("accounts.csv")).unwrap());
    let mut rater = Rater::new(tables, accounts, RaterConfig::default());
    let (mut seen, mut out, mut rejects) = (EventIds::default(), Output::default(), BTreeMap::new());
    for (_, payload) in messages {
        match decode(payload) {
            Ok(e) if seen.contains(&e.id) => *rejects.entry(RejectCode::DuplicateEvent.name()).or_default() += 1,
            Ok(e) => {
                let before = out.rejected.len();
                rater.rate(&e, Utc::now(), &mut out);
                if out.rejected.len() == before {
                    seen.insert(&e.id);
                }
            }
            Err(reject) => *rejects.entry(reject.code.name()).or_default() += 1,
        }
    }
    for r in &out.rejected {
        *rejects.entry(r.reject.code.name()).or_default() += 1;
    }
    rejects
}

/// A `ratewire run` child with its HTTP endpoint on a free port; killed if
/// still running when dropped.
struct Run {
    child: Option<Child>,
    dir: tempfile::TempDir,
    http: String,
}

impl Run {
    /// Writes the config (catalog and accounts copied beside it, not
    /// watched: reloads come through HTTP) and starts the run, with the
    /// reload token set to `token` or unset.
    fn start(broker: &Broker, group: &str, token: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for f in ["catalog.toml", "accounts.csv"] {
            std::fs::copy(examples().join(f), dir.path().join(f)).unwrap();
        }
        let http = format!("127.0.0.1:{}", free_port());
        let config = format!(
            r#"[kafka]
brokers = "{brokers}"
group_id = "{group}"
topics = ["{EVENTS}"]
dead_letter_topic = "dead-letter"
actions_topic = "actions"

[kafka.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"

[catalog]
watch = false

[ledger]
commit_interval_ms = 200

[http]
listen = "{http}"
reload_token_env = "{TOKEN_VAR}"
ready_lag_max_messages = 0
"#,
            brokers = broker.brokers(),
        );
        std::fs::write(dir.path().join("ratewire.toml"), config).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ratewire"));
        cmd.args(["run", "--config", "ratewire.toml"]).current_dir(dir.path()).stdin(Stdio::null());
        match token {
            Some(t) => cmd.env(TOKEN_VAR, t),
            None => cmd.env_remove(TOKEN_VAR),
        };
        let log = File::create(dir.path().join("run.log")).unwrap();
        let out = File::create(dir.path().join("run.out")).unwrap();
        let child = cmd.env("RATEWIRE_LOG", "info").stdout(out).stderr(log).spawn().unwrap();
        let run = Self { child: Some(child), dir, http };
        run.until("/healthz answers 200", Duration::from_secs(60), || (run.get("/healthz").0 == 200).then_some(()));
        run
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("run.log")).unwrap_or_default()
    }

    /// An HTTP request to the run's endpoint: the status (0 when nothing
    /// answered) and the body.
    fn request(&self, method: &str, path: &str, headers: &str) -> (u16, String) {
        http(&self.http, method, path, headers)
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, "")
    }

    fn metrics(&self) -> String {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Polls `f` every 100 ms until it gives a value, failing after `within`.
    fn until<T>(&self, what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + within;
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(Instant::now() < deadline, "{what}: not within {within:?}\nrun log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then the run must drain and exit 0 within a minute; its
    /// summary.
    fn stop(&mut self) -> String {
        let mut child = self.child.take().unwrap();
        let pid = child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("ratewire run did not stop within 60 s after SIGTERM\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(status.success(), "ratewire run failed: {status}\n{}", self.log());
        std::fs::read_to_string(self.dir.path().join("run.out")).unwrap()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One HTTP/1.1 request to `addr` (`host:port`) with extra `headers`
/// (`Name: value\r\n` each): the status (0 when nothing answered) and body.
pub(crate) fn http(addr: &str, method: &str, path: &str, headers: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(addr) else { return (0, String::new()) };
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut answer = String::new();
    if stream.read_to_string(&mut answer).is_err() {
        return (0, String::new());
    }
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// The value of one series (`name{labels}` exactly as exposed).
pub(crate) fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Every series of a metric family: labels and value.
fn series<'a>(metrics: &'a str, name: &str) -> Vec<(&'a str, f64)> {
    metrics
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (labels, v) = rest.rsplit_once(' ')?;
            (labels.is_empty() || labels.starts_with('{')).then(|| (labels, v.parse().unwrap_or(f64::NAN)))
        })
        .collect()
}

fn promtool_check(metrics: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian's prometheus package; scripts/setup.sh installs it)");
    child.stdin.take().unwrap().write_all(metrics.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "promtool check metrics: {}\non\n{metrics}", text(&out));
}

#[test]
fn metrics_health_and_readiness_of_a_running_pipeline_and_a_real_prometheus_scrape() {
    let broker = Broker::start();
    broker.create_topic(EVENTS, 2);
    broker.create_topic("dead-letter", 1);
    broker.create_topic("actions", 1);
    let messages = events("m", 400, 24, 7);
    let total = messages.len();
    let rejects = expected_rejects(&messages);
    assert_eq!(rejects.get("MALFORMED_JSON"), Some(&24), "the oracle sees the malformed payloads: {rejects:?}");
    broker.produce(EVENTS, &messages);

    let mut run = Run::start(&broker, "ops-metrics", None);
    // The first statistics report comes after 2 s: not ready at first.
    let (status, body) = run.get("/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("not ready\n") && (body.contains("\nbroker: ") || body.contains("\nlag: ")), "{body}");

    // Ready once everything is committed (ready_lag_max_messages = 0).
    run.until("/readyz answers 200", Duration::from_secs(120), || (run.get("/readyz").0 == 200).then_some(()));
    let metrics = run.until("everything counted and committed", Duration::from_secs(60), || {
        let m = run.metrics();
        let done = value(&m, "ratewire_events_consumed_total") == Some(total as f64)
            && series(&m, "ratewire_consumer_lag_messages").iter().all(|(_, v)| *v == 0.0);
        done.then_some(m)
    });
    assert_eq!(value(&metrics, "ratewire_events_consumed_total"), Some(total as f64), "{metrics}");
    let rejected: f64 = series(&metrics, "ratewire_events_rejected_total").iter().map(|(_, v)| v).sum();
    for code in RejectCode::ALL {
        let expected = rejects.get(code.name()).copied().unwrap_or(0);
        let series = format!("ratewire_events_rejected_total{{code=\"{}\"}}", code.name());
        assert_eq!(value(&metrics, &series), Some(expected as f64), "{series}");
    }
    assert_eq!(value(&metrics, "ratewire_events_rated_total"), Some(total as f64 - rejected));
    assert_eq!(value(&metrics, "ratewire_events_duplicate_total"), Some(0.0));
    let lag = series(&metrics, "ratewire_consumer_lag_messages");
    assert_eq!(lag.len(), 2, "one series per partition: {lag:?}");
    assert!(lag.iter().any(|(l, _)| *l == "{partition=\"1\",topic=\"events\"}"), "{lag:?}");
    for (series, at_least) in [
        ("ratewire_ledger_commits_total", 1.0),
        ("ratewire_ledger_commit_bytes_total", 1000.0),
        ("ratewire_ledger_commit_duration_seconds_count", 1.0),
        ("ratewire_ledger_last_commit_timestamp_seconds", 1.7e9),
        ("ratewire_ledger_commit", 1.0),
        ("ratewire_stage_duration_seconds_count{stage=\"rate\"}", 1.0),
        ("ratewire_stage_duration_seconds_count{stage=\"side_output\"}", 1.0),
        ("ratewire_stage_duration_seconds_count{stage=\"ledger_commit\"}", 1.0),
        // Every event booked with its time, the malformed ones aside.
        ("ratewire_event_to_commit_seconds_count", 400.0),
        ("ratewire_queue_capacity{queue=\"worker\"}", 1.0),
        ("ratewire_queue_capacity{queue=\"ledger\"}", 1.0),
        ("ratewire_catalog_info{version=\"2026-11-a\"}", 1.0),
        ("ratewire_process_resident_memory_bytes", 1e6),
        (&format!("ratewire_build_info{{version=\"{}\"}}", env!("CARGO_PKG_VERSION")), 1.0),
    ] {
        let v = value(&metrics, series).unwrap_or_else(|| panic!("no {series} in\n{metrics}"));
        assert!(v >= at_least, "{series} = {v}, expected at least {at_least}");
    }
    // The events are nine to ten days old: all above the week bucket.
    assert_eq!(value(&metrics, "ratewire_event_to_commit_seconds_bucket{le=\"604800\"}"), Some(0.0));
    assert_eq!(value(&metrics, "ratewire_event_to_commit_seconds_bucket{le=\"+Inf\"}"), Some(400.0));
    assert!(value(&metrics, "ratewire_accounts_below_threshold").is_some());
    assert_eq!(series(&metrics, "ratewire_queue_depth").len(), 2);
    promtool_check(&metrics);

    assert_eq!(run.get("/healthz"), (200, "ok\n".to_string()));
    // Without the token's variable, the reload endpoint is off.
    let (status, body) = run.request("POST", "/admin/reload", "Authorization: Bearer anything\r\n");
    assert_eq!((status, body.as_str()), (403, &*format!("reload endpoint disabled: set ${TOKEN_VAR}\n")));

    // A real Prometheus scrapes the endpoint.
    let prometheus = Prometheus::start(&run.http);
    let scraped = run.until("Prometheus has the consumed count", Duration::from_secs(90), || {
        let v = prometheus.query("ratewire_events_consumed_total")?;
        (v == total.to_string()).then_some(v)
    });
    assert_eq!(scraped, total.to_string());
    drop(prometheus);

    let summary = run.stop();
    assert!(summary.contains(&format!("events consumed  {total:>10}")), "{summary}");
}

/// A Prometheus of Debian's package on a free port, scraping one target
/// every second, with its storage in a temporary directory; killed when
/// dropped.
struct Prometheus {
    child: Child,
    address: String,
    dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: ratewire\n    static_configs:\n      - targets: ['{target}']\n"
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let address = format!("127.0.0.1:{}", free_port());
        let log = File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={address}"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus runs (Debian's prometheus package; scripts/setup.sh installs it)");
        Self { child, address, dir }
    }

    /// The value of an instant query's first series, if any yet.
    fn query(&self, query: &str) -> Option<String> {
        let (status, body) = http(&self.address, "GET", &format!("/api/v1/query?query={query}"), "");
        if status != 200 {
            return None;
        }
        let answer: serde_json::Value = serde_json::from_str(&body).ok()?;
        answer["data"]["result"][0]["value"][1].as_str().map(str::to_string)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default();
            eprintln!("prometheus log:\n{log}");
        }
    }
}

/// The catalog version of each rated usage row, by event id prefix, read
/// with DuckDB (independently of ratewire).
fn versions_by_prefix(ledger: &Path) -> BTreeMap<String, BTreeMap<String, u64>> {
    let venv = super::venv();
    let python = venv.join("bin/python");
    assert!(python.exists(), "no Python venv at {}: run `bash scripts/setup.sh`", venv.display());
    let script = "import sys, json, duckdb\n\
        rows = duckdb.sql(\"SELECT split_part(event_id, '-', 1), catalog_version, count(*) FROM \
        read_parquet('\" + sys.argv[1] + \"/table=rated/**/*.parquet', hive_partitioning=true) \
        WHERE kind = 'usage' GROUP BY 1, 2\").fetchall()\n\
        print(json.dumps(rows))\n";
    let out = Command::new(python).args(["-c", script]).arg(ledger).output().unwrap();
    assert!(out.status.success(), "duckdb: {}", text(&out));
    let rows: Vec<(String, String, u64)> = serde_json::from_slice(&out.stdout).unwrap();
    let mut by = BTreeMap::<String, BTreeMap<String, u64>>::new();
    for (prefix, version, n) in rows {
        by.entry(prefix).or_default().insert(version, n);
    }
    by
}

#[test]
fn the_reload_endpoint_applies_a_checked_catalog_and_refuses_a_broken_one() {
    let broker = Broker::start();
    broker.create_topic(EVENTS, 2);
    broker.create_topic("dead-letter", 1);
    broker.create_topic("actions", 1);
    let token = format!("t-{}-{}", std::process::id(), fastrand::u64(..));
    let mut run = Run::start(&broker, "ops-reload", Some(&token));
    let bearer = format!("Authorization: Bearer {token}\r\n");
    let catalog = run.dir.path().join("catalog.toml");
    let consumed = |n: usize| {
        run.until(&format!("{n} consumed and committed"), Duration::from_secs(120), || {
            let m = run.metrics();
            (value(&m, "ratewire_events_consumed_total") == Some(n as f64) && run.get("/readyz").0 == 200).then_some(())
        });
    };

    produce(&broker.brokers(), EVENTS, &events("a", 60, 0, 1));
    consumed(60);

    // No token, or a wrong one.
    assert_eq!(run.request("POST", "/admin/reload", "").0, 401);
    let (status, body) = run.request("POST", "/admin/reload", &format!("Authorization: Bearer {token}x\r\n"));
    assert_eq!(status, 401, "{body}");
    assert!(!run.log().contains(&token), "the token is never logged");

    // A changed catalog is applied: later rows carry its version.
    let text = std::fs::read_to_string(&catalog).unwrap();
    std::fs::write(&catalog, text.replace("version = \"2026-11-a\"", "version = \"2026-11-b\"")).unwrap();
    let (status, body) = run.request("POST", "/admin/reload", &bearer);
    assert_eq!((status, body.as_str()), (200, "reloaded: catalog version 2026-11-b in force\n"));
    let metrics = run.metrics();
    assert_eq!(value(&metrics, "ratewire_catalog_info{version=\"2026-11-b\"}"), Some(1.0), "{metrics}");
    assert_eq!(series(&metrics, "ratewire_catalog_info").len(), 1, "one version at a time: {metrics}");
    produce(&broker.brokers(), EVENTS, &events("b", 60, 0, 2));
    consumed(120);

    // A broken one is refused with its line-level messages; the running
    // catalog stays in force.
    let (broken, line) = broken_catalog(&text);
    std::fs::write(&catalog, broken).unwrap();
    let (status, body) = run.request("POST", "/admin/reload", &bearer);
    assert_eq!(status, 422, "{body}");
    assert!(body.starts_with("reload refused; catalog version 2026-11-b stays in force:\n"), "{body}");
    assert!(body.contains(&format!("catalog.toml:{line}:1: unknown field `units`")), "line-level messages: {body}");
    let metrics = run.metrics();
    assert_eq!(series(&metrics, "ratewire_catalog_info"), [("{version=\"2026-11-b\"}", 1.0)]);
    assert_eq!(value(&metrics, "ratewire_catalog_reloads_total{result=\"applied\"}"), Some(1.0));
    assert_eq!(value(&metrics, "ratewire_catalog_reloads_total{result=\"refused\"}"), Some(1.0));
    produce(&broker.brokers(), EVENTS, &events("c", 60, 0, 3));
    consumed(180);
    assert!(!run.log().contains(&token), "the token is never logged");

    let ledger = run.dir.path().join("ledger");
    run.stop();
    let versions = versions_by_prefix(&ledger);
    let only = |prefix: &str, version: &str| {
        let seen = &versions[prefix];
        assert_eq!(seen.keys().collect::<Vec<_>>(), [version], "rows of {prefix}: {versions:?}");
    };
    only("a", "2026-11-a");
    only("b", "2026-11-b");
    only("c", "2026-11-b");
}

/// The example catalog (`text`, at version 2026-11-a) as version 2026-11-c
/// with a misspelt field, and the line of the misspelling.
fn broken_catalog(text: &str) -> (String, usize) {
    let broken = text.replace("version = \"2026-11-a\"", "version = \"2026-11-c\"").replacen(
        "unit = \"message\"",
        "unit = \"message\"\nunits = \"typo\"",
        1,
    );
    let at = broken.find("units = ").unwrap();
    let line = broken[..at].lines().count() + 1;
    (broken, line)
}
