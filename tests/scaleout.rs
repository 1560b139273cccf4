//! Scale-out against a real broker: two `ratewire run` instances in one
//! consumer group share a ledger root; when one stops (SIGTERM) or dies
//! (`kill -9`), the other takes its partitions over with their balance
//! state, and every message is still booked exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ratewire_ledger::{Ledger, MANIFEST_DIR, Manifest, Table};

use super::kafka::Broker;
use super::streaming::{
    ACTIONS, DEAD_LETTER, EVENTS, View, config_with_ledger, expected, is_usage_id, produce_slowly, stream,
    wait_with_deadline,
};

const PARTITIONS: i32 = 4;

/// Writes the config of instance `instance` in `dir`, sharing the ledger `root`.
fn config(dir: &Path, broker: &Broker, root: &Path, instance: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let ledger = format!("dir = \"{}\"\ninstance = \"{instance}\"", root.display());
    config_with_ledger(dir, broker, "scaled", &ledger);
}

fn spawn(dir: &Path, until_caught_up: bool) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ratewire"));
    cmd.args(["run", "--config", "ratewire.toml"]).current_dir(dir).stdin(Stdio::null());
    if until_caught_up {
        cmd.arg("--until-caught-up");
    }
    cmd.env("RATEWIRE_LOG", "info").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

fn terminate(child: Child) -> String {
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let out = wait_with_deadline(child, Instant::now() + Duration::from_secs(60));
    let log = super::text(&out);
    assert!(out.status.success(), "a stopped instance exits cleanly: {log}");
    log
}

/// The member ledgers under `root`.
fn members(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("members")).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    dirs
}

/// Every commit's offsets of every member, per partition, sorted: the
/// messages each member booked.
fn booked_ranges(root: &Path) -> BTreeMap<i32, Vec<(i64, i64, String)>> {
    let mut out: BTreeMap<i32, Vec<(i64, i64, String)>> = BTreeMap::new();
    for member in members(root) {
        let name = member.file_name().unwrap().to_string_lossy().to_string();
        for entry in std::fs::read_dir(member.join(MANIFEST_DIR)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let manifest: Manifest = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                for r in manifest.offsets {
                    out.entry(r.partition).or_default().push((r.from, r.to, name.clone()));
                }
            }
        }
    }
    for ranges in out.values_mut() {
        ranges.sort();
    }
    out
}

/// What the members' ledgers hold together.
fn shared_view(root: &Path) -> View {
    let mut view = View { rated_rows: 0, rejects: 0, gross: 0, ids: BTreeSet::new(), usage_rows: 0, consumed: 0 };
    for member in members(root) {
        let (ledger, _) = Ledger::open(&member).unwrap();
        let totals = ledger.verify().unwrap();
        if let Some(rated) = totals.get(&Table::Rated) {
            view.rated_rows += rated.rows;
            view.gross += rated.sums.get("gross").copied().unwrap_or(0);
        }
        view.rejects += totals.get(&Table::Rejects).map_or(0, |t| t.rows);
        ledger
            .for_each_event_id(|id| {
                if is_usage_id(id) {
                    view.usage_rows += 1;
                    view.ids.insert(id.to_string());
                }
            })
            .unwrap();
    }
    view.consumed = booked_ranges(root).values().flatten().map(|(from, to, _)| u64::try_from(to - from).unwrap()).sum();
    view
}

#[test]
fn two_instances_share_the_partitions_and_take_them_over_with_their_state() {
    let broker = Broker::start();
    broker.create_topic(EVENTS, u32::try_from(PARTITIONS).unwrap());
    broker.create_topic(DEAD_LETTER, 1);
    broker.create_topic(ACTIONS, 1);
    let s = stream(8_000, 7);
    let producing = produce_slowly(&broker, s.messages.clone(), 60);

    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("ledger");
    let (dir_a, dir_b) = (work.path().join("a"), work.path().join("b"));
    config(&dir_a, &broker, &root, "a");
    config(&dir_b, &broker, &root, "b");

    // a alone, then b joins and the partitions are split between them.
    let a = spawn(&dir_a, false);
    std::thread::sleep(Duration::from_secs(3));
    let b = spawn(&dir_b, false);
    std::thread::sleep(Duration::from_secs(6));
    // a stops cleanly: b takes everything over.
    let log_a = terminate(a);
    assert!(log_a.contains("let go of events["), "a let go of its partitions: {log_a}");
    std::thread::sleep(Duration::from_secs(4));
    // a comes back, then b dies: a takes everything over, from b's commits.
    let a = spawn(&dir_a, false);
    std::thread::sleep(Duration::from_secs(6));
    let mut b = b;
    b.kill().unwrap(); // SIGKILL
    let log_b = super::text(&b.wait_with_output().unwrap());
    assert!(log_b.contains("adopted events["), "b adopted partitions: {log_b}");
    producing.join().unwrap();
    // b's session ends and a takes its partitions over while running.
    std::thread::sleep(Duration::from_secs(8));
    // a finishes what is left, alone.
    let log_a = terminate(a);
    let out = wait_with_deadline(spawn(&dir_a, true), Instant::now() + Duration::from_secs(300));
    assert!(out.status.success(), "{}", super::text(&out));

    // Each partition's offsets were booked once, without gap or overlap,
    // and partitions moved between the members.
    let ranges = booked_ranges(&root);
    let mut moved = 0;
    for (partition, ranges) in &ranges {
        let mut next = 0;
        for (from, to, _) in ranges {
            assert_eq!(*from, next, "partition {partition}: a gap or an overlap at {from}: {ranges:?}");
            next = *to;
        }
        let owners: BTreeSet<&str> = ranges.iter().map(|(_, _, m)| m.as_str()).collect();
        moved += usize::from(owners.len() > 1);
    }
    assert_eq!(ranges.len(), usize::try_from(PARTITIONS).unwrap(), "every partition booked: {ranges:?}");
    assert!(moved > 0, "some partition moved between the members: {ranges:?}\n{log_a}");

    // Together the members hold exactly what one pass in order books:
    // every event once, and the same money, balances having moved along.
    let view = shared_view(&root);
    let oracle = expected(&s);
    assert_eq!(view.consumed, oracle.consumed, "every message booked once");
    assert_eq!(view.usage_rows, view.ids.len() as u64, "no event rated twice");
    assert_eq!(view.ids, oracle.ids, "the same events rated");
    assert_eq!(
        (view.rated_rows, view.rejects, view.gross),
        (oracle.rated_rows, oracle.rejects, oracle.gross),
        "rows, rejects and money as one pass in order"
    );
    assert!(view.ids.len() > s.good.len() / 2 && view.rejects >= s.bad as u64);

    // SQL and the reports read the shared root as one ledger.
    let root_arg = root.to_str().unwrap();
    let sql = super::ratewire(
        work.path(),
        &["sql", "--ledger", root_arg, "--format", "csv", "select count(*) as n, sum(gross) as gross from rated"],
    );
    assert!(sql.status.success(), "{}", super::text(&sql));
    let csv = String::from_utf8(sql.stdout).unwrap();
    let (n, gross) = csv.lines().nth(1).and_then(|l| l.split_once(',')).unwrap();
    assert_eq!(n.parse::<u64>().unwrap(), view.rated_rows, "{csv}");
    let gross: rust_decimal::Decimal = gross.parse().unwrap();
    assert_eq!(gross, rust_decimal::Decimal::from_i128_with_scale(view.gross, 10), "{csv}");
    let reconcile = super::ratewire(work.path(), &["report", "reconcile", "--ledger", root_arg]);
    assert!(reconcile.status.success(), "consumed = rated + rejected over the members: {}", super::text(&reconcile));
}
