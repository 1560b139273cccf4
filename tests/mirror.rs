//! The ledger's mirror in `ratewire run` (`ledger.mirror_url`) against a
//! real broker: the run pushes the ledger while it rates, and after SIGTERM
//! pushes its last commit before it exits, so that the mirror holds the
//! ledger's manifests byte for byte and a pull of it answers SQL as the
//! ledger does.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ratewire_ledger::{MANIFEST_DIR, Snapshot};

use super::kafka::Broker;
use super::ops::{free_port, http, value};
use super::streaming::{EVENTS, config_with_ledger, stream, topics};
use super::{ratewire, text};

/// Polls `f` every 100 ms until it gives a value, failing after `within`
/// with the run's log.
fn until<T>(what: &str, within: Duration, dir: &Path, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}\nrun log:\n{}", log(dir));
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn log(dir: &Path) -> String {
    fs::read_to_string(dir.join("run.log")).unwrap_or_default()
}

/// `ratewire run` in `dir`, its log in `run.log`.
fn spawn(dir: &Path) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ratewire"));
    cmd.args(["run", "--config", "ratewire.toml"]).current_dir(dir).stdin(Stdio::null());
    let log = File::create(dir.join("run.log")).unwrap();
    let out = File::create(dir.join("run.out")).unwrap();
    cmd.env("RATEWIRE_LOG", "info").stdout(out).stderr(log).spawn().unwrap()
}

/// Messages the ledger's commits cover so far (read beside the writer).
fn covered(ledger: &Path) -> usize {
    Snapshot::open(ledger).map_or(0, |s| s.positions().iter().map(|r| usize::try_from(r.to - r.from).unwrap()).sum())
}

/// The manifests (`_manifest/*.json`) of a ledger directory, by name.
fn manifests(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let Ok(entries) = fs::read_dir(dir.join(MANIFEST_DIR)) else { return BTreeMap::new() };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), fs::read(&p).unwrap()))
        .collect()
}

fn success(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn the_run_mirrors_its_ledger_and_pushes_the_last_commit_after_sigterm() {
    let broker = Broker::start();
    topics(&broker);
    let s = stream(1_000, 21);
    let (first, second) = s.messages.split_at(s.messages.len() / 2);
    broker.produce(EVENTS, first);

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (ledger, remote) = (dir.join("ledger"), dir.join("remote"));
    let url = format!("file://{}", remote.display());
    let lines = format!("dir = \"ledger\"\nmirror_url = \"{url}\"\nmirror_interval_ms = 1000");
    let config = config_with_ledger(dir, &broker, "mirrored", &lines);
    let addr = format!("127.0.0.1:{}", free_port());
    let text_of_config = fs::read_to_string(&config).unwrap();
    fs::write(&config, text_of_config.replace("listen = \"127.0.0.1:0\"", &format!("listen = \"{addr}\""))).unwrap();
    let metrics = || {
        let (status, body) = http(&addr, "GET", "/metrics", "");
        (status == 200).then_some(body)
    };

    let mut child = spawn(dir);
    // While it runs, the pushes on the schedule follow the commits.
    until("the first half committed", Duration::from_secs(60), dir, || (covered(&ledger) == first.len()).then_some(()));
    let sequence = Snapshot::open(&ledger).unwrap().sequence();
    let scraped = until("a push with the first half", Duration::from_secs(30), dir, || {
        metrics().filter(|m| value(m, "ratewire_ledger_mirror_commit").is_some_and(|c| c >= sequence as f64))
    });
    assert!(value(&scraped, "ratewire_ledger_mirror_pushes_total{result=\"ok\"}").unwrap() >= 1.0, "{scraped}");
    assert_eq!(value(&scraped, "ratewire_ledger_mirror_pushes_total{result=\"error\"}"), Some(0.0), "{scraped}");
    assert!(value(&scraped, "ratewire_ledger_mirror_push_duration_seconds_count").unwrap() >= 1.0, "{scraped}");
    assert!(Snapshot::open(&remote).unwrap().sequence() >= sequence);
    // The ledger's own commit gauge: between what was committed before the
    // scrape and what is committed after it.
    let ledger_commit = value(&scraped, "ratewire_ledger_commit").unwrap();
    let after = Snapshot::open(&ledger).unwrap().sequence();
    assert!((sequence as f64..=after as f64).contains(&ledger_commit), "{ledger_commit} outside {sequence}..={after}");

    // The second half, then SIGTERM as soon as it is committed: the drain
    // and the final push bring the mirror to the ledger's last commit.
    broker.produce(EVENTS, second);
    until("everything committed", Duration::from_secs(60), dir, || {
        (covered(&ledger) == s.messages.len()).then_some(())
    });
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ratewire run did not stop within 60 s after SIGTERM\n{}", log(dir));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let run_log = log(dir);
    assert!(status.success(), "{status}\n{run_log}");
    assert!(run_log.contains(&format!("mirror {url}: final push done, the mirror is at commit ")), "{run_log}");

    let last = Snapshot::open(&ledger).unwrap().sequence();
    assert!(last > sequence);
    assert!(run_log.contains(&format!("the mirror is at commit {last}\n")), "{run_log}");
    let local = manifests(&ledger);
    assert_eq!(local.len(), usize::try_from(last).unwrap());
    assert_eq!(manifests(&remote), local, "the mirror has every manifest, byte for byte");

    // A pull of the mirror is the ledger, checkpoint included: it answers
    // as the ledger does, and a writer could resume from it.
    let out = ratewire(dir, &["ledger", "pull", "--from", &url, "--ledger", "pulled"]);
    assert!(success(&out).contains(&format!("commits {last}\n")), "{}", text(&out));
    let pulled = Snapshot::open(dir.join("pulled")).unwrap();
    assert_eq!(pulled.checkpoint().unwrap(), Snapshot::open(&ledger).unwrap().checkpoint().unwrap());
    for query in [
        "select count(*) as records, sum(gross) as gross from rated",
        "select count(*) as rejects from rejects",
        "select account, count(*) as records, sum(gross) as gross from rated group by account order by account",
    ] {
        let original = success(&ratewire(dir, &["sql", "--ledger", "ledger", "--format", "csv", query]));
        let copy = success(&ratewire(dir, &["sql", "--ledger", "pulled", "--format", "csv", query]));
        assert_eq!(copy, original, "{query}");
    }
    let totals =
        success(&ratewire(dir, &["sql", "--ledger", "pulled", "--format", "csv", "select count(*) from rated"]));
    let records: u64 = totals.lines().nth(1).unwrap().trim().parse().unwrap();
    assert!(records as usize > s.good.len() / 2, "most events rated: {records}");
}
