//! The commit protocol: what a reopened ledger holds after a commit, after
//! a crash at every step of one, and after debris is left around it.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ratewire_ledger::{Commit, Error, Ledger, MANIFEST_DIR, RejectedEvent, SourceRange, Step, Table, Totals, to_units};
use ratewire_rater::{Accounts, Fact, Output, Rated, Rater, RaterConfig, catalog, decode};

const CATALOG: &str = r#"
    version = "commit-test"
    currency = "EUR"
    [services.sms]
    unit = "message"
    [taxes.DE]
    rate_percent = "19"
    [[plans.basic.versions]]
    effective_from = 2026-01-01
    [[plans.basic.versions.rates]]
    service = "sms"
    model = "per_unit"
    price = "0.09"
"#;

const ACCOUNTS: &str = "id,plan,time_zone,tax_region\nA1,basic,Europe/Berlin,DE\nA2,basic,Europe/Berlin,DE\n";

/// Two batches of input lines: usage over two days and two periods, a
/// malformed line in each, and a payment (a lifecycle fact) in the second.
const BATCHES: [&[&str]; 2] = [
    &[
        r#"{"v":1,"id":"e1","kind":"usage","account":"A2","time":"2026-11-03T10:00:00Z","service":"sms","quantity":3}"#,
        r#"{"v":1,"id":"e2","kind":"usage","account":"A1","time":"2026-11-03T11:00:00Z","service":"sms","quantity":1}"#,
        r#"{"v":1,"id":"e3","kind":"us"#,
        r#"{"v":1,"id":"e4","kind":"usage","account":"A1","time":"2026-11-04T09:00:00Z","service":"sms","quantity":7}"#,
    ],
    &[
        r#"{"v":1,"id":"e5","kind":"usage","account":"A1","time":"2026-11-30T23:30:00Z","service":"sms","quantity":2}"#,
        r#"{"v":1,"id":"e6","kind":"usage","account":"A2","time":"2026-12-01T08:00:00Z","service":"sms","quantity":5}"#,
        "\u{0}",
        r#"{"v":1,"id":"p1","kind":"payment","account":"A1","time":"2026-12-01T09:00:00Z","amount":"1.25"}"#,
    ],
];

/// The rows and offsets of one batch, rated with a fresh rater for `batch`
/// (line numbers continue across batches).
struct Batch {
    rated: Vec<Rated>,
    rejected: Vec<RejectedEvent>,
    facts: Vec<Fact>,
    offsets: Vec<SourceRange>,
    checkpoint: Vec<u8>,
    booked_at: DateTime<Utc>,
}

impl Batch {
    fn commit(&self) -> Commit<'_> {
        Commit {
            rated: std::slice::from_ref(&self.rated),
            rejected: &self.rejected,
            facts: &self.facts,
            offsets: &self.offsets,
            checkpoint: &self.checkpoint,
            booked_at: self.booked_at,
        }
    }
}

fn batches() -> Vec<Batch> {
    let tables = catalog::parse(CATALOG, "catalog.toml").unwrap();
    let accounts = Accounts::parse_csv(ACCOUNTS, "accounts.csv").unwrap();
    let mut rater = Rater::new(Arc::new(tables), Arc::new(accounts), RaterConfig::default());
    let now = DateTime::parse_from_rfc3339("2026-12-02T00:00:00Z").unwrap().with_timezone(&Utc);
    let mut line = 1;
    let mut out = Vec::new();
    for (i, lines) in BATCHES.iter().enumerate() {
        let from = line;
        let mut output = Output::default();
        let mut rejected = Vec::new();
        for text in *lines {
            let before = output.rejected.len();
            match decode(text.as_bytes()) {
                Ok(event) => rater.rate(&event, now, &mut output),
                Err(reject) => rater.reject_payload(reject, &mut output),
            }
            for r in &output.rejected[before..] {
                rejected.push(RejectedEvent {
                    rejected: r.clone(),
                    event_time: None,
                    payload: text.as_bytes().to_vec(),
                    source: ratewire_rater::Name::new("events.jsonl"),
                    partition: 0,
                    offset: line,
                });
            }
            line += 1;
        }
        out.push(Batch {
            rated: output.rated,
            rejected,
            facts: output.facts,
            offsets: vec![SourceRange { source: "events.jsonl".into(), partition: 0, from, to: line }],
            checkpoint: format!("state after batch {i}").into_bytes(),
            booked_at: now,
        });
    }
    out
}

/// What a reader can observe of a ledger.
#[derive(Debug, PartialEq, Eq)]
struct State {
    sequence: u64,
    offsets: Vec<SourceRange>,
    checkpoint: Vec<u8>,
    files: Vec<String>,
    totals: BTreeMap<Table, Totals>,
}

/// Opens (recovering), checks that the directory holds exactly the
/// committed files and that they read back to the manifests' totals.
fn recover(dir: &Path) -> State {
    let (ledger, recovery) = Ledger::open(dir).unwrap();
    let files: Vec<String> = ledger.committed_files().iter().map(|f| f.path.clone()).collect();
    let on_disk: BTreeSet<String> = parquet_files(dir);
    assert_eq!(on_disk, files.iter().cloned().collect(), "the directory holds exactly the committed files");
    assert!(temp_files(dir).is_empty(), "no temporary file is left: {:?}", temp_files(dir));
    let totals = ledger.verify().unwrap();
    assert_eq!(&totals, ledger.totals());
    State { sequence: recovery.sequence, offsets: recovery.offsets, checkpoint: recovery.checkpoint, files, totals }
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { walk(&path, found) } else { found.push(path) }
    }
}

fn parquet_files(dir: &Path) -> BTreeSet<String> {
    let mut found = Vec::new();
    walk(dir, &mut found);
    found
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .map(|p| p.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/"))
        .collect()
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    walk(dir, &mut found);
    found.retain(|p| p.to_string_lossy().ends_with(".tmp"));
    found
}

fn sum(rated: &[Rated], column: fn(&Rated) -> rust_decimal::Decimal) -> i128 {
    rated.iter().map(|r| to_units(column(r))).sum()
}

#[test]
fn commits_are_read_back_by_a_reopened_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let batches = batches();
    {
        let (mut ledger, recovery) = Ledger::open(dir.path()).unwrap();
        assert_eq!((recovery.sequence, recovery.checkpoint.len()), (0, 0));
        for batch in &batches {
            ledger.commit(&batch.commit()).unwrap();
        }
        assert!(matches!(Ledger::open(dir.path()), Err(Error::Locked { .. })), "one process at a time");
    }
    let state = recover(dir.path());
    assert_eq!(state.sequence, 2);
    assert_eq!(state.checkpoint, b"state after batch 1");
    assert_eq!(state.offsets, [SourceRange { source: "events.jsonl".into(), partition: 0, from: 1, to: 9 }]);

    let rated: Vec<Rated> = batches.iter().flat_map(|b| b.rated.iter().cloned()).collect();
    let rated_totals = &state.totals[&Table::Rated];
    assert_eq!(rated_totals.rows, rated.len() as u64);
    assert_eq!(rated_totals.sums["gross"], sum(&rated, |r| r.gross));
    assert_eq!(rated_totals.sums["net"], sum(&rated, |r| r.net));
    assert_eq!(rated_totals.sums["tax"], sum(&rated, |r| r.tax));
    assert!(rated_totals.sums["tax"] > 0, "the test books tax");
    let draws: usize = rated.iter().map(|r| r.draws.len()).sum();
    assert_eq!(state.totals[&Table::Draws].rows, draws as u64);
    assert_eq!(state.totals[&Table::Rejects].rows, 2);
    let facts = &state.totals[&Table::Facts];
    assert_eq!((facts.rows, facts.sums["amount"]), (1, to_units("1.25".parse().unwrap())));
    assert!(
        state.files.iter().any(|f| f.starts_with("table=facts/period=2026-12/day=2026-12-01/")),
        "{:?}",
        state.files
    );
    assert!(
        state.files.iter().any(|f| f.starts_with("table=rated/period=2026-12/day=2026-11-30/")),
        "{:?}",
        state.files
    );
}

#[test]
fn only_the_latest_checkpoint_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let batches = batches();
    let (mut ledger, _) = Ledger::open(dir.path()).unwrap();
    let checkpoints = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join(MANIFEST_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".checkpoint"))
            .collect();
        names.sort();
        names
    };
    ledger.commit(&batches[0].commit()).unwrap();
    assert_eq!(checkpoints(), ["00000000000000000001.checkpoint"]);
    ledger.commit(&batches[1].commit()).unwrap();
    assert_eq!(checkpoints(), ["00000000000000000002.checkpoint"]);
    drop(ledger);
    assert_eq!(recover(dir.path()).checkpoint, b"state after batch 1");
}

#[test]
fn committed_offsets_are_refused_again_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let batches = batches();
    let (mut ledger, _) = Ledger::open(dir.path()).unwrap();
    ledger.commit(&batches[0].commit()).unwrap();
    let files = parquet_files(dir.path());
    assert!(matches!(ledger.commit(&batches[0].commit()), Err(Error::OffsetsOverlap { committed_to: 5, from: 1, .. })));
    assert_eq!(parquet_files(dir.path()), files);
    // The refusal leaves the handle usable.
    ledger.commit(&batches[1].commit()).unwrap();
    assert_eq!(ledger.sequence(), 2);
}

/// Every step a commit of the second batch passes, in order.
fn steps() -> Vec<Step> {
    let dir = tempfile::tempdir().unwrap();
    let batches = batches();
    let (mut ledger, _) = Ledger::open(dir.path()).unwrap();
    ledger.commit(&batches[0].commit()).unwrap();
    let mut steps = Vec::new();
    ledger
        .commit_with(&batches[1].commit(), &mut |step| {
            steps.push(step);
            ControlFlow::Continue(())
        })
        .unwrap();
    steps
}

#[test]
fn a_crash_at_any_step_leaves_the_previous_or_the_new_commit_never_a_mix() {
    let batches = batches();
    let reference = |commits: usize| {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut ledger, _) = Ledger::open(dir.path()).unwrap();
            for batch in &batches[..commits] {
                ledger.commit(&batch.commit()).unwrap();
            }
        }
        recover(dir.path())
    };
    let (previous, new) = (reference(1), reference(2));
    assert_ne!(previous.totals, new.totals);

    let steps = steps();
    assert!(steps.len() >= 8, "{steps:?}");
    assert_eq!(steps.last(), Some(&Step::ManifestRenamed));
    for crash in steps {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut ledger, _) = Ledger::open(dir.path()).unwrap();
            ledger.commit(&batches[0].commit()).unwrap();
            let stop = |step| if step == crash { ControlFlow::Break(()) } else { ControlFlow::Continue(()) };
            let result = ledger.commit_with(&batches[1].commit(), &mut { stop });
            assert!(matches!(result, Err(Error::Aborted(step)) if step == crash), "{crash:?}: {result:?}");
            assert!(matches!(ledger.commit(&batches[1].commit()), Err(Error::NeedsRecovery)));
        } // The process "dies": the handle and its lock go.

        let state = recover(dir.path());
        if crash == Step::ManifestRenamed {
            assert_eq!(state, new, "after {crash:?}");
            // The batch is in: sending it again is refused, not doubled.
            let (mut ledger, _) = Ledger::open(dir.path()).unwrap();
            assert!(matches!(ledger.commit(&batches[1].commit()), Err(Error::OffsetsOverlap { .. })));
        } else {
            assert_eq!(state, previous, "after {crash:?}");
            // Resuming from the recovered offsets commits the batch once.
            let (mut ledger, _) = Ledger::open(dir.path()).unwrap();
            ledger.commit(&batches[1].commit()).unwrap();
            drop(ledger);
            assert_eq!(recover(dir.path()), new, "after {crash:?} and a retry");
        }
    }
}

#[test]
fn opening_removes_debris_but_leaves_foreign_files_alone() {
    let dir = tempfile::tempdir().unwrap();
    let batches = batches();
    {
        let (mut ledger, _) = Ledger::open(dir.path()).unwrap();
        ledger.commit(&batches[0].commit()).unwrap();
    }
    let committed = parquet_files(dir.path());
    let day = dir.path().join("table=rated/period=2026-11/day=2026-11-03");
    let stray_day = dir.path().join("table=draws/period=2027-01/day=2027-01-01");
    std::fs::create_dir_all(&stray_day).unwrap();
    let debris = [
        day.join("00000000000000000002-0000.parquet"),
        day.join(".00000000000000000002-0001.parquet.tmp"),
        stray_day.join("00000000000000000002-0003.parquet"),
        dir.path().join(MANIFEST_DIR).join(".00000000000000000002.json.tmp"),
        dir.path().join(MANIFEST_DIR).join("00000000000000000002.checkpoint"),
    ];
    let foreign = [day.join("notes.txt"), dir.path().join("README"), dir.path().join(MANIFEST_DIR).join("keep.json")];
    for path in debris.iter().chain(&foreign) {
        std::fs::write(path, b"x").unwrap();
    }
    let (_, recovery) = Ledger::open(dir.path()).unwrap();
    let removed: BTreeSet<&PathBuf> = recovery.removed.iter().collect();
    assert_eq!(removed, debris.iter().collect());
    assert!(!stray_day.exists(), "directories left empty are removed");
    assert!(foreign.iter().all(|p| p.exists()));
    assert_eq!(parquet_files(dir.path()), committed);
}

#[test]
fn a_ledger_with_a_missing_file_or_manifest_is_refused() {
    let batches = batches();
    let committed = || {
        let dir = tempfile::tempdir().unwrap();
        let (mut ledger, _) = Ledger::open(dir.path()).unwrap();
        for batch in &batches {
            ledger.commit(&batch.commit()).unwrap();
        }
        let first = ledger.committed_files()[0].path.clone();
        (dir, first)
    };

    let (dir, first) = committed();
    std::fs::remove_file(dir.path().join(&first)).unwrap();
    assert!(matches!(Ledger::open(dir.path()), Err(Error::MissingFile { file, .. }) if file == first));

    let (dir, _) = committed();
    std::fs::remove_file(dir.path().join(MANIFEST_DIR).join("00000000000000000002.checkpoint")).unwrap();
    assert!(matches!(Ledger::open(dir.path()), Err(Error::MissingFile { file, .. }) if file.ends_with(".checkpoint")));

    let (dir, _) = committed();
    std::fs::remove_file(dir.path().join(MANIFEST_DIR).join("00000000000000000001.json")).unwrap();
    assert!(
        matches!(Ledger::open(dir.path()), Err(Error::Manifest { reason, .. }) if reason.contains("commit 1 is missing"))
    );
}

#[test]
fn a_ledger_written_before_the_facts_table_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let batches = batches();
    {
        let (mut ledger, _) = Ledger::open(dir.path()).unwrap();
        ledger.commit(&batches[0].commit()).unwrap();
    }
    let path = dir.path().join(MANIFEST_DIR).join("00000000000000000001.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for totals in ["totals", "ledger_totals"] {
        manifest[totals].as_object_mut().unwrap().remove("facts").unwrap();
    }
    std::fs::write(&path, manifest.to_string()).unwrap();
    let (mut ledger, _) = Ledger::open(dir.path()).unwrap();
    assert_eq!(ledger.totals()[&Table::Facts], Totals::zero(Table::Facts));
    ledger.commit(&batches[1].commit()).unwrap();
    assert_eq!(ledger.verify().unwrap()[&Table::Facts].rows, 1);
}

#[test]
fn a_commit_without_rows_still_records_its_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let offsets = [SourceRange { source: "events.jsonl".into(), partition: 0, from: 1, to: 3 }];
    let booked_at = Utc::now();
    {
        let (mut ledger, _) = Ledger::open(dir.path()).unwrap();
        let commit = Commit { rated: &[], rejected: &[], facts: &[], offsets: &offsets, checkpoint: &[], booked_at };
        let manifest = ledger.commit(&commit).unwrap();
        assert!(manifest.files.is_empty());
    }
    let state = recover(dir.path());
    assert_eq!((state.sequence, state.offsets.as_slice()), (1, &offsets[..]));
}
