//! `ratewire demo`, what the README's first command runs: the whole loop
//! and the churn part, run twice in one directory as a user runs it again.

use std::path::Path;

use super::kafka::Broker;
use super::{ratewire, text};

/// The `ledger-*` folders in `dir`.
fn ledgers(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("ledger-"))
        .count()
}

#[test]
fn the_demo_runs_twice_in_one_directory() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let brokers = broker.brokers();
    let args = ["demo", "--dir", "out", "--brokers", &brokers, "--events", "2000", "--accounts", "100"];
    for run in 1..=2 {
        if run > 1 {
            // Run ids are the start time to the second.
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        let out = ratewire(dir.path(), &args);
        let said = text(&out);
        assert!(out.status.success(), "run {run}: {said}");
        let consumed = said.lines().find_map(|l| l.strip_prefix("events consumed")).map(str::trim);
        assert_eq!(consumed, Some("2000"), "run {run}: {said}");
        assert!(said.contains("accounts scored; the list is in ledger-"), "run {run}: {said}");
        let out_dir = dir.path().join("out");
        assert_eq!(
            (ledgers(&out_dir), ledgers(&out_dir.join("churn"))),
            (run, run),
            "each run books into ledgers of its own"
        );
    }
}
