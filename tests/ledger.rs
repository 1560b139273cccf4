//! `ratewire rate --ledger`: the Parquet ledger beside the JSON-lines
//! outputs, read back by the ledger crate and by DuckDB and pyarrow.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use ratewire_ledger::{Ledger, SourceRange, Table, to_units};
use rust_decimal::Decimal;
use serde_json::Value;

use super::{case, rate_files, text, venv_python};

fn lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Copies a golden case's catalog and accounts into `dir`.
fn setup(dir: &Path, name: &str) -> PathBuf {
    let src = case(name);
    for f in ["catalog.toml", "accounts.csv"] {
        fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    src
}

fn rate(dir: &Path) -> std::process::Output {
    rate_files(dir, &["--ledger", "ledger"])
}

/// Runs the independent reader on a ledger; `None` when its venv is missing.
fn python_check(ledger: &Path) -> Option<std::process::Output> {
    let python = venv_python("the DuckDB/pyarrow check")?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_ledger.py");
    Some(Command::new(python).arg(script).arg(ledger).output().unwrap())
}

/// What the JSON-lines outputs in `dir` say the `facts` table holds: a row
/// per lifecycle record and per action, and the amounts of the money
/// records (the negative of their gross).
fn expected_facts(dir: &Path) -> (usize, Decimal) {
    const LIFECYCLE: [&str; 7] =
        ["payment", "topup", "adjustment", "subscription", "support_contact", "block", "unblock"];
    let rated = lines(&dir.join("rated.jsonl"));
    let is = |r: &Value, kinds: &[&str]| kinds.contains(&r["kind"].as_str().unwrap());
    let rows = rated.iter().filter(|r| is(r, &LIFECYCLE)).count() + lines(&dir.join("rated.actions.jsonl")).len();
    let money = rated.iter().filter(|r| is(r, &LIFECYCLE[..3]));
    (rows, -money.map(|r| r["gross"].as_str().unwrap().parse::<Decimal>().unwrap()).sum::<Decimal>())
}

/// Checks with DuckDB and pyarrow, and that a tampered copy fails the check.
fn check_independently(ledger: &Path, rated_rows: usize, gross: Decimal, facts: (usize, Decimal)) {
    let Some(out) = python_check(ledger) else { return };
    assert!(out.status.success(), "{}", text(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["tables"]["rated"]["rows"], rated_rows);
    assert_eq!(summary["tables"]["rated"]["gross"].as_str().unwrap().parse::<Decimal>().unwrap(), gross);
    assert_eq!(summary["tables"]["facts"]["rows"], facts.0);
    assert_eq!(summary["tables"]["facts"]["amount"].as_str().unwrap().parse::<Decimal>().unwrap(), facts.1);

    let tampered = tempfile::tempdir().unwrap();
    copy_dir(ledger, tampered.path());
    let manifest = tampered.path().join("_manifest/00000000000000000001.json");
    let mut json: Value = serde_json::from_slice(&fs::read(&manifest).unwrap()).unwrap();
    json["files"][0]["totals"]["rows"] = (json["files"][0]["totals"]["rows"].as_u64().unwrap() + 1).into();
    fs::write(&manifest, json.to_string()).unwrap();
    let out = python_check(tampered.path()).unwrap();
    assert!(!out.status.success(), "the reader notices a manifest that disagrees with its files");
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() { copy_dir(&path, &target) } else { fs::copy(&path, &target).map(|_| ()).unwrap() }
    }
}

#[test]
fn rate_books_the_json_lines_outputs_in_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let src = setup(dir.path(), "35_payments_topups_adjustments");
    let mut events = fs::read(src.join("events.jsonl")).unwrap();
    // A support contact, a quantity the ledger would have to round, and a
    // truncated line.
    events.extend_from_slice(
        b"{\"v\":1,\"id\":\"s1\",\"kind\":\"support_contact\",\"account\":\"A1\",\"time\":\"2026-11-05T19:00:00Z\",\"channel\":\"chat\"}\n{\"v\":1,\"id\":\"x1\",\"kind\":\"usage\",\"account\":\"A1\",\"time\":\"2026-11-05T12:00:00Z\",\"service\":\"voice\",\"quantity\":\"0.00000000001\"}\n{\"v\":1,\"id\n",
    );
    fs::write(dir.path().join("events.jsonl"), &events).unwrap();
    let line_count = events.iter().filter(|b| **b == b'\n').count() as i64;

    let out = rate(dir.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ledger        -> ledger (commits 1..=1)"), "{}", text(&out));

    let rated = lines(&dir.path().join("rated.jsonl"));
    let rejects = lines(&dir.path().join("rated.rejects.jsonl"));
    // Refused by the decoder, so found by its payload.
    let unfit = rejects.iter().find(|r| r["payload"].as_str().is_some_and(|p| p.contains("\"x1\""))).unwrap();
    assert_eq!((unfit["code_name"].as_str(), unfit["field"].as_str()), (Some("INVALID_FIELD"), Some("quantity")));

    let ledger_dir = dir.path().join("ledger");
    let (ledger, recovery) = Ledger::open(&ledger_dir).unwrap();
    assert_eq!(recovery.sequence, 1);
    assert_eq!(
        recovery.offsets,
        [SourceRange { source: "events.jsonl".into(), partition: 0, from: 1, to: line_count + 1 }]
    );
    assert!(recovery.checkpoint.is_empty(), "balances are not checkpointed yet");
    assert!(recovery.removed.is_empty());

    // Conservation: the ledger holds what the JSON lines hold, row for row.
    let totals = ledger.verify().unwrap();
    let sum = |column: &str| rated.iter().map(|r| to_units(r[column].as_str().unwrap().parse().unwrap())).sum::<i128>();
    assert_eq!(totals[&Table::Rated].rows, rated.len() as u64);
    for column in ["gross", "net", "tax"] {
        assert_eq!(totals[&Table::Rated].sums[column], sum(column), "{column}");
    }
    let draws: usize = rated.iter().map(|r| r["draws"].as_array().unwrap().len()).sum();
    assert_eq!(totals[&Table::Draws].rows, draws as u64);
    assert_eq!(totals[&Table::Rejects].rows, rejects.len() as u64);
    let facts = expected_facts(dir.path());
    assert!(facts.0 >= 6, "payments, top-ups, adjustments and a support contact: {facts:?}");
    assert_eq!((totals[&Table::Facts].rows, totals[&Table::Facts].sums["amount"]), (facts.0 as u64, to_units(facts.1)));

    for file in ledger.committed_files() {
        let parts: Vec<&str> = file.path.split('/').collect();
        assert_eq!(parts.len(), 4, "{}", file.path);
        assert_eq!(parts[0], format!("table={}", file.table.name()));
        assert!(parts[1].starts_with("period=") && parts[2].starts_with("day="), "{}", file.path);
        assert!(ledger_dir.join(&file.path).is_file());
    }
    assert!(ledger_dir.join("_manifest/00000000000000000001.json").is_file());
    let gross: Decimal = rated.iter().map(|r| r["gross"].as_str().unwrap().parse::<Decimal>().unwrap()).sum();
    drop(ledger);
    check_independently(&ledger_dir, rated.len(), gross, facts);

    // Rating the same file into the same ledger would book it twice; the
    // refusal leaves the JSON-lines outputs as they were.
    let again = rate(dir.path());
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(
        text(&again).contains(&format!("already holds lines 1 to {line_count} of events.jsonl")),
        "{}",
        text(&again)
    );
    assert_eq!(lines(&dir.path().join("rated.jsonl")), rated);
}

#[test]
fn a_long_file_is_committed_batch_by_batch() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "01_voice_per_minute");
    let events: String = (0..9000)
        .map(|i| {
            let (day, minute) = (1 + i / 400, i % 400);
            format!(
                "{{\"v\":1,\"id\":\"e{i}\",\"kind\":\"usage\",\"account\":\"A1\",\"time\":\"2026-11-{day:02}T{:02}:{:02}:00Z\",\"service\":\"voice\",\"quantity\":{}}}\n",
                minute / 60,
                minute % 60,
                30 + i % 90
            )
        })
        .collect();
    fs::write(dir.path().join("events.jsonl"), events).unwrap();

    let out = rate(dir.path());
    assert!(out.status.success(), "{}", text(&out));
    let rated = lines(&dir.path().join("rated.jsonl"));

    let ledger_dir = dir.path().join("ledger");
    let (ledger, recovery) = Ledger::open(&ledger_dir).unwrap();
    assert_eq!(recovery.sequence, 3, "9,000 lines in batches of 4,096");
    assert_eq!(recovery.offsets, [SourceRange { source: "events.jsonl".into(), partition: 0, from: 1, to: 9001 }]);
    let totals = ledger.verify().unwrap();
    assert_eq!(totals[&Table::Rated].rows, rated.len() as u64);
    let gross: Decimal = rated.iter().map(|r| r["gross"].as_str().unwrap().parse::<Decimal>().unwrap()).sum();
    assert_eq!(totals[&Table::Rated].sums["gross"], to_units(gross));
    assert_eq!(totals[&Table::Facts].rows, 0, "usage only");
    drop(ledger);
    check_independently(&ledger_dir, rated.len(), gross, (0, Decimal::ZERO));
}

#[test]
fn lifecycle_events_and_threshold_actions_are_facts() {
    let dir = tempfile::tempdir().unwrap();
    let src = setup(dir.path(), "34_unpaid_block");
    fs::copy(src.join("events.jsonl"), dir.path().join("events.jsonl")).unwrap();
    let out = rate(dir.path());
    assert!(out.status.success(), "{}", text(&out));

    let ledger_dir = dir.path().join("ledger");
    let (ledger, _) = Ledger::open(&ledger_dir).unwrap();
    let totals = ledger.verify().unwrap();
    let facts = expected_facts(dir.path());
    // A support contact, three payments, a block and an unblock.
    assert_eq!(facts, (6, "41.00".parse().unwrap()));
    assert_eq!((totals[&Table::Facts].rows, totals[&Table::Facts].sums["amount"]), (6, to_units(facts.1)));
    let files: Vec<&str> =
        ledger.committed_files().iter().filter(|f| f.table == Table::Facts).map(|f| f.path.as_str()).collect();
    assert!(files.iter().all(|f| f.starts_with("table=facts/period=2026-12/")), "{files:?}");
    let rated = lines(&dir.path().join("rated.jsonl"));
    let gross: Decimal = rated.iter().map(|r| r["gross"].as_str().unwrap().parse::<Decimal>().unwrap()).sum();
    drop(ledger);
    check_independently(&ledger_dir, rated.len(), gross, facts);
}
