//! `ratewire run` against a real broker (tansu): conservation, the
//! dead-letter topic, `kill -9` at random instants and a broker restart,
//! with nothing lost and nothing doubled.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use ratewire_ledger::{Ledger, Table};

use super::kafka::{Broker, produce};
use super::text;

pub(crate) const EVENTS: &str = "events";
pub(crate) const DEAD_LETTER: &str = "dead-letter";
pub(crate) const ACTIONS: &str = "actions";

pub(crate) fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples")
}

/// A stream over the example accounts, keyed by account, with malformed
/// and resent events mixed in.
pub(crate) struct Stream {
    pub(crate) messages: Vec<(String, Vec<u8>)>,
    /// Ids of the good events, each once.
    pub(crate) good: BTreeSet<String>,
    /// Malformed payloads and resent copies.
    pub(crate) bad: usize,
}

pub(crate) fn stream(count: usize, seed: u64) -> Stream {
    let accounts: Vec<String> = std::fs::read_to_string(examples().join("accounts.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next().map(str::to_string))
        .collect();
    let mut rng = fastrand::Rng::with_seed(seed);
    // Recent enough for the rater's default 62-day window.
    let start = Utc::now() - chrono::Duration::days(20);
    let mut s = Stream { messages: Vec::new(), good: BTreeSet::new(), bad: 0 };
    for i in 0..count {
        let account = &accounts[rng.usize(..accounts.len())];
        let seconds = i64::try_from(i).unwrap() * 600_000 / i64::try_from(count).unwrap();
        let time = (start + chrono::Duration::seconds(seconds)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let id = format!("{seed}-{i}");
        let payload = match rng.u8(..3) {
            0 => format!(
                r#"{{"v":1,"id":"{id}","kind":"usage","account":"{account}","time":"{time}","service":"voice","quantity":{},"destination":"+4930{:06}"}}"#,
                rng.u32(1..900),
                rng.u32(..1_000_000)
            ),
            1 => format!(
                r#"{{"v":1,"id":"{id}","kind":"usage","account":"{account}","time":"{time}","service":"sms","quantity":1,"destination":"+3361{:06}"}}"#,
                rng.u32(..1_000_000)
            ),
            _ => format!(
                r#"{{"v":1,"id":"{id}","kind":"usage","account":"{account}","time":"{time}","service":"data","quantity":{}}}"#,
                rng.u32(1_000..50_000_000)
            ),
        };
        s.good.insert(id.clone());
        s.messages.push((account.clone(), payload.clone().into_bytes()));
        if rng.u8(..100) < 2 {
            s.messages.push((account.clone(), payload.into_bytes()));
            s.bad += 1;
        }
        if rng.u8(..100) < 2 {
            let broken = match rng.u8(..3) {
                0 => format!(r#"{{"v":1,"id":"x{id}","kind":"usage","account":"{account}""#).into_bytes(),
                1 => vec![0xff, 0xfe, b'{', 0x80],
                _ => format!(r#"{{"v":1,"id":"x{id}","kind":"usage","account":"{account}","time":"{time}","service":"voice","quantity":-5}}"#).into_bytes(),
            };
            s.messages.push((account.clone(), broken));
            s.bad += 1;
        }
    }
    s
}

/// Writes the config of a run in `dir`, reading from `broker`.
fn config(dir: &Path, broker: &Broker, group: &str) -> PathBuf {
    config_with_ledger(dir, broker, group, "dir = \"ledger\"")
}

/// As [`config`], with `ledger` as the `[ledger]` section's location lines.
pub(crate) fn config_with_ledger(dir: &Path, broker: &Broker, group: &str, ledger: &str) -> PathBuf {
    let examples = examples();
    let text = format!(
        r#"[kafka]
brokers = "{brokers}"
group_id = "{group}"
topics = ["{EVENTS}"]
dead_letter_topic = "{DEAD_LETTER}"
actions_topic = "{ACTIONS}"

[kafka.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"

[catalog]
catalog = "{catalog}"
accounts = "{accounts}"
watch = false

[ledger]
{ledger}
commit_interval_ms = 200

[pipeline]
rate_workers = 2

[http]
listen = "127.0.0.1:0"
"#,
        brokers = broker.brokers(),
        catalog = examples.join("catalog.toml").display(),
        accounts = examples.join("accounts.csv").display(),
    );
    let path = dir.join("ratewire.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) fn topics(broker: &Broker) {
    broker.create_topic(EVENTS, 3);
    broker.create_topic(DEAD_LETTER, 1);
    broker.create_topic(ACTIONS, 1);
}

fn spawn_run(dir: &Path, until_caught_up: bool) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ratewire"));
    cmd.args(["run", "--config", "ratewire.toml"]).current_dir(dir).stdin(Stdio::null());
    if until_caught_up {
        cmd.arg("--until-caught-up");
    }
    cmd.env("RATEWIRE_LOG", "warn").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

/// Runs `ratewire run --until-caught-up` to its end (within five minutes).
fn run_to_end(dir: &Path, broker: &Broker) -> String {
    let child = spawn_run(dir, true);
    let deadline = Instant::now() + Duration::from_secs(300);
    let out = wait_with_deadline(child, deadline);
    assert!(out.status.success(), "ratewire run failed: {}\nbroker log:\n{}", text(&out), broker.log());
    text(&out)
}

pub(crate) fn wait_with_deadline(mut child: Child, deadline: Instant) -> std::process::Output {
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("ratewire run did not finish in time: {}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

/// What a ledger holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct View {
    pub(crate) rated_rows: u64,
    pub(crate) rejects: u64,
    pub(crate) gross: i128,
    /// Distinct usage event ids.
    pub(crate) ids: BTreeSet<String>,
    /// Rated rows of usage events: equal to `ids.len()` when none is doubled.
    pub(crate) usage_rows: u64,
    /// Messages the committed offsets cover.
    pub(crate) consumed: u64,
}

fn ledger_view(dir: &Path) -> View {
    let (ledger, _) = Ledger::open(dir.join("ledger")).unwrap();
    let totals = ledger.verify().unwrap();
    let rated = totals.get(&Table::Rated).cloned().unwrap_or_else(|| ratewire_ledger::Totals::zero(Table::Rated));
    let rejects = totals.get(&Table::Rejects).map_or(0, |t| t.rows);
    let mut ids = BTreeSet::new();
    let mut usage_rows = 0;
    ledger
        .for_each_event_id(|id| {
            // Usage ids are `<seed>-<n>`; generated records (fees, grants) have others.
            if id
                .split_once('-')
                .is_some_and(|(a, b)| a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit()))
            {
                usage_rows += 1;
                ids.insert(id.to_string());
            }
        })
        .unwrap();
    let consumed: i64 = ledger.offsets().iter().map(|r| r.to - r.from).sum();
    View {
        rated_rows: rated.rows,
        rejects,
        gross: rated.sums.get("gross").copied().unwrap_or(0),
        ids,
        usage_rows,
        consumed: u64::try_from(consumed).unwrap(),
    }
}

/// What rating the stream in order, in one pass, books: the oracle. Each
/// account's events are on one partition in production order, so the
/// pipeline must agree with it whatever the partitioning.
pub(crate) fn expected(s: &Stream) -> View {
    use ratewire_rater::dedup::EventIds;
    use ratewire_rater::{Accounts, Output, Rater, RaterConfig, catalog, decode};
    use std::sync::Arc;
    let tables = Arc::new(catalog::load(&examples().join("catalog.toml")).unwrap());
    let accounts = Arc::new(Accounts::load(&examples().join("accounts.csv")).unwrap());
    let mut rater = Rater::new(tables, accounts, RaterConfig::default());
    let (mut seen, mut out, mut rejects) = (EventIds::default(), Output::default(), 0);
    let now = Utc::now();
    for (_, payload) in &s.messages {
        match decode(payload) {
            Ok(e) if !seen.contains(&e.id) => {
                let before = out.rejected.len();
                rater.rate(&e, now, &mut out);
                if out.rejected.len() == before {
                    seen.insert(&e.id);
                }
            }
            _ => rejects += 1,
        }
    }
    let usage: Vec<&str> = out.rated.iter().map(|r| r.event_id.as_str()).filter(|id| is_usage_id(id)).collect();
    View {
        rated_rows: out.rated.len() as u64,
        rejects: rejects + out.rejected.len() as u64,
        gross: out.rated.iter().map(|r| ratewire_ledger::to_units(r.gross)).sum(),
        ids: usage.iter().map(|id| (*id).to_string()).collect(),
        usage_rows: usage.len() as u64,
        consumed: s.messages.len() as u64,
    }
}

/// Ids of the stream's usage events are `<seed>-<n>`; generated records
/// (fees, grants) have others.
pub(crate) fn is_usage_id(id: &str) -> bool {
    id.split_once('-').is_some_and(|(a, b)| {
        !a.is_empty() && !b.is_empty() && a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit())
    })
}

/// Checks a ledger against the stream it consumed.
fn check(view: &View, s: &Stream) {
    let expected = expected(s);
    assert_eq!(view.consumed, expected.consumed, "every message consumed");
    let missing: Vec<&String> = expected.ids.difference(&view.ids).take(5).collect();
    let extra: Vec<&String> = view.ids.difference(&expected.ids).take(5).collect();
    assert!(missing.is_empty() && extra.is_empty(), "events not rated: {missing:?}; rated but not expected: {extra:?}");
    assert_eq!(view.usage_rows, view.ids.len() as u64, "no event rated twice");
    assert!(view.ids.len() > s.good.len() / 2, "most events rate: {} of {}", view.ids.len(), s.good.len());
    assert!(view.rejects >= s.bad as u64, "malformed and resent events rejected");
    assert_eq!(
        (view.rated_rows, view.rejects, view.gross),
        (expected.rated_rows, expected.rejects, expected.gross),
        "rows, rejects and money as one pass in order"
    );
}

#[test]
fn streamed_events_are_booked_once_and_rejects_reach_the_dead_letter_topic() {
    let broker = Broker::start();
    topics(&broker);
    let s = stream(3_000, 1);
    // Half through ratewire's client library, half through an independent one.
    let (first, second) = s.messages.split_at(s.messages.len() / 2);
    broker.produce(EVENTS, first);
    broker.produce_with_python(EVENTS, second);
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &broker, "ratewire");
    let summary = run_to_end(dir.path(), &broker);

    let view = ledger_view(dir.path());
    assert!(summary.contains("events consumed"), "{summary}");
    check(&view, &s);
    let rejects = usize::try_from(view.rejects).unwrap();
    let dead = broker.consume(DEAD_LETTER, rejects);
    assert_eq!(dead.len(), rejects, "one dead letter per reject");
    for (payload, headers) in &dead {
        let code: u32 = headers["ratewire-reject-code"].parse().unwrap();
        assert!((1001..=2999).contains(&code), "{headers:?}");
        assert_eq!(headers["ratewire-source-topic"], EVENTS);
        assert!(!headers["ratewire-reject-message"].is_empty());
        assert!(s.messages.iter().any(|(_, p)| p == payload), "the original payload");
    }

    // A second run finds nothing new.
    run_to_end(dir.path(), &broker);
    assert_eq!(ledger_view(dir.path()), view);
}

/// Produces `messages` in chunks over time from a thread.
pub(crate) fn produce_slowly(
    broker: &Broker,
    messages: Vec<(String, Vec<u8>)>,
    chunks: usize,
) -> std::thread::JoinHandle<()> {
    let brokers = broker.brokers();
    std::thread::spawn(move || {
        for chunk in messages.chunks(messages.len().div_ceil(chunks)) {
            produce(&brokers, EVENTS, chunk);
            std::thread::sleep(Duration::from_millis(300));
        }
    })
}

#[test]
fn kill_9_at_random_instants_loses_and_doubles_nothing() {
    let broker = Broker::start();
    topics(&broker);
    let s = stream(6_000, 2);
    let producing = produce_slowly(&broker, s.messages.clone(), 40);
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &broker, "crashing");
    let mut rng = fastrand::Rng::with_seed(42);
    for _ in 0..20 {
        let mut child = spawn_run(dir.path(), false);
        std::thread::sleep(Duration::from_millis(rng.u64(300..2_500)));
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
    }
    producing.join().unwrap();
    // The killed runs made progress, so the kills hit a working pipeline.
    let (_, before) = Ledger::open(dir.path().join("ledger")).unwrap();
    let covered: i64 = before.offsets.iter().map(|r| r.to - r.from).sum();
    eprintln!("after 20 kills: {} commits covering {covered} messages", before.sequence);
    assert!(before.sequence >= 3 && covered > 0, "the killed runs committed {} times", before.sequence);
    run_to_end(dir.path(), &broker);

    // The same stream, rated by one clean run into another ledger.
    let clean = tempfile::tempdir().unwrap();
    config(clean.path(), &broker, "clean");
    run_to_end(clean.path(), &broker);

    let crashed = ledger_view(dir.path());
    check(&crashed, &s);
    assert_eq!(crashed, ledger_view(clean.path()), "equal rows, rejects and money totals");
}

#[test]
fn a_broker_restart_mid_stream_loses_and_doubles_nothing() {
    let mut broker = Broker::start();
    topics(&broker);
    let s = stream(4_000, 3);
    let (first, second) = s.messages.split_at(s.messages.len() / 2);
    broker.produce(EVENTS, first);
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &broker, "ratewire");
    let child = spawn_run(dir.path(), false);
    std::thread::sleep(Duration::from_secs(3));
    broker.restart();
    broker.produce(EVENTS, second);
    std::thread::sleep(Duration::from_secs(3));
    // SIGTERM: drain, commit, exit cleanly.
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let out = wait_with_deadline(child, Instant::now() + Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out));
    run_to_end(dir.path(), &broker);

    check(&ledger_view(dir.path()), &s);
}

/// `(account, event time in microseconds, catalog version)` of every rated
/// usage row of the ledger in `dir`.
fn rated_versions(dir: &Path) -> Vec<(String, i64, String)> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMicrosecondType;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let snapshot = ratewire_ledger::Snapshot::open(dir.join("ledger")).unwrap();
    let mut rows = Vec::new();
    for file in snapshot.files().iter().filter(|f| f.table == Table::Rated) {
        let (_, handle) = snapshot.open_file(file).unwrap();
        for batch in ParquetRecordBatchReaderBuilder::try_new(handle).unwrap().build().unwrap() {
            let batch = batch.unwrap();
            let column = |name: &str| batch.column_by_name(name).unwrap_or_else(|| panic!("column {name}"));
            let (ids, accounts, versions) = (
                column("event_id").as_string::<i32>(),
                column("account").as_string::<i32>(),
                column("catalog_version").as_string::<i32>(),
            );
            let times = column("event_time").as_primitive::<TimestampMicrosecondType>();
            for i in 0..batch.num_rows() {
                if is_usage_id(ids.value(i)) {
                    rows.push((accounts.value(i).to_string(), times.value(i), versions.value(i).to_string()));
                }
            }
        }
    }
    rows
}

/// Sends SIGHUP to `child`: reload the catalog and accounts.
fn hang_up(child: &Child) {
    assert!(Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap().success());
}

#[test]
fn a_catalog_reload_under_load_switches_versions_between_events_and_loses_nothing() {
    const OLD: &str = "version = \"2026-11-a\"";
    const NEW: &str = "version = \"2026-11-reloaded\"";
    let broker = Broker::start();
    topics(&broker);
    let s = stream(6_000, 4);
    let dir = tempfile::tempdir().unwrap();
    // The run reads its own copies, so that the test can change them.
    let catalog = std::fs::read_to_string(examples().join("catalog.toml")).unwrap();
    assert!(catalog.contains(OLD), "the example catalog's version line");
    std::fs::write(dir.path().join("catalog.toml"), &catalog).unwrap();
    std::fs::copy(examples().join("accounts.csv"), dir.path().join("accounts.csv")).unwrap();
    let path = config(dir.path(), &broker, "reloading");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text
        .replace(&examples().join("catalog.toml").display().to_string(), "catalog.toml")
        .replace(&examples().join("accounts.csv").display().to_string(), "accounts.csv");
    std::fs::write(&path, text).unwrap();

    let producing = produce_slowly(&broker, s.messages.clone(), 40);
    let child = spawn_run(dir.path(), false);
    let committed = |min: u64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while ratewire_ledger::Snapshot::open(dir.path().join("ledger")).map_or(0, |s| s.sequence()) < min {
            assert!(Instant::now() < deadline, "no commit {min} within a minute");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    committed(3);
    // A broken catalog is refused, and the running one stays in force.
    std::fs::write(dir.path().join("catalog.toml"), catalog.replace(OLD, "version = 7")).unwrap();
    hang_up(&child);
    committed(6);
    // A good one is taken between two events, while events flow.
    std::fs::write(dir.path().join("catalog.toml"), catalog.replace(OLD, NEW)).unwrap();
    hang_up(&child);
    producing.join().unwrap();
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let out = wait_with_deadline(child, Instant::now() + Duration::from_secs(60));
    let log = super::text(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("reload (SIGHUP) refused") && log.contains("catalog.toml:"),
        "the refusal, with its line: {log}"
    );
    run_to_end(dir.path(), &broker);

    // Same prices under both versions: the one-pass oracle still holds.
    check(&ledger_view(dir.path()), &s);
    let mut rows = rated_versions(dir.path());
    rows.sort();
    let versions: BTreeSet<&str> = rows.iter().map(|(_, _, v)| v.as_str()).collect();
    assert_eq!(
        versions,
        BTreeSet::from(["2026-11-a", "2026-11-reloaded"]),
        "both versions booked, the broken one never"
    );
    // Each account's events come in time order on one partition: once the
    // new version rated one, it rated every later one.
    for pair in rows.windows(2) {
        let ((a, t1, v1), (b, t2, v2)) = (&pair[0], &pair[1]);
        if a == b && t1 < t2 {
            assert!(!(v1 == "2026-11-reloaded" && v2 == "2026-11-a"), "{a}: the old version after the new at {t2}");
        }
    }
}
