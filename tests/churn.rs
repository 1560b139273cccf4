//! `ratewire churn`: training on a table someone brings, the ledger's
//! features over a generated history with churners (quality above a
//! baseline, no leakage from the future, determinism), scoring, the risk
//! list as the SQL table `churn_risk`, the report, and the errors for bad
//! input. The report in a browser is `churn_report`.

// The generated tables draw churn from a probability: model inputs, not money.
#![allow(clippy::float_arithmetic)]

use std::fs;
use std::path::Path;

use ratewire_sample::{History, HistoryConfig, Month};
use serde_json::Value;

use super::{ratewire, text};

/// A feature table as a retention team might export it: an id column,
/// a categorical plan, numbers written as text, missing values and
/// yes/no labels. Churn rises with late payments and falls with usage.
pub(super) fn team_csv(rows: usize, seed: u64) -> String {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut csv = String::from("customer_id,plan,monthly_usage,late_payments,region,churn\n");
    for i in 0..rows {
        let plan = ["basic", "plus", "pro"][rng.usize(0..3)];
        let usage = rng.f64() * 100.0;
        let late = rng.usize(0..4);
        let risk = 0.03 + 0.2 * late as f64 + if plan == "basic" { 0.1 } else { 0.0 } - usage / 500.0;
        let churn = if rng.f64() < risk { "yes" } else { "no" };
        let usage = if i % 13 == 0 { String::new() } else { format!("\"{usage:.2}\"") };
        let region = ["north", "south", "NA"][rng.usize(0..3)];
        csv.push_str(&format!("C{:05},{plan},{usage},{late},{region},{churn}\n", 10_000 + i));
    }
    csv
}

fn stdout(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A figure `name value` from `churn train`'s output.
fn figure(output: &str, name: &str) -> f64 {
    output
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in {output}"))
}

#[test]
fn trains_scores_and_reports_a_table_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("team.csv"), team_csv(1_500, 1)).unwrap();
    let args = ["churn", "train", "--features", "team.csv", "--label", "churn", "--model", "model.json"];
    let out = stdout(&ratewire(dir.path(), &[&args[..], &["--split-out", "split.csv"]].concat()));
    assert!(out.starts_with("roc_auc "), "ROC AUC first: {out}");
    assert!(figure(&out, "roc_auc") > 0.7, "{out}");
    assert!(figure(&out, "precision_at_10pct") > figure(&out, "base_rate"), "{out}");
    assert!(out.contains("ignored customer_id (id-like (unique per row))"), "{out}");
    let model: Value = serde_json::from_str(&fs::read_to_string(dir.path().join("model.json")).unwrap()).unwrap();
    assert_eq!(model["format"], 1);
    assert_eq!(model["schema"]["label"], "churn");
    let names: Vec<&str> = model["feature_names"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(names.contains(&"plan=basic") && names.contains(&"monthly_usage (missing)"), "{names:?}");
    assert!(names.contains(&"region=(missing)"), "{names:?}");
    assert!(model["test"]["roc_auc"].as_f64().unwrap() > 0.7);
    let split = fs::read_to_string(dir.path().join("split.csv")).unwrap();
    assert_eq!(split.lines().count(), 1_501);

    // Same seed, same model, byte for byte; another seed, another split.
    let again = stdout(&ratewire(dir.path(), &[&args[..6], &["--model", "again.json"]].concat()));
    assert_eq!(fs::read(dir.path().join("model.json")).unwrap(), fs::read(dir.path().join("again.json")).unwrap());
    assert_eq!(out.lines().next(), again.lines().next());

    let out = stdout(&ratewire(
        dir.path(),
        &["churn", "score", "--model", "model.json", "--features", "team.csv", "--output", "risk"],
    ));
    assert!(out.contains("1500 accounts scored"), "{out}");
    let csv = fs::read_to_string(dir.path().join("risk/churn_risk.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("customer_id,rank,score,band,reason_1,reason_2,reason_3"));
    assert!(lines.next().unwrap().contains(",1,"), "{csv:.300}");
    assert!(dir.path().join("risk/churn_risk.parquet").is_file());

    let out = ratewire(dir.path(), &["churn", "report", "--model", "model.json", "--output", "report.html"]);
    assert!(out.status.success(), "{}", text(&out));
    let html = fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.matches("<svg").count() >= 5 && !html.contains("<script"));
}

#[test]
fn parquet_tables_train_too() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("team.csv"), team_csv(600, 2)).unwrap();
    // The ledger's own export path writes the Parquet file.
    let out = ratewire(
        dir.path(),
        &["churn", "train", "--features", "team.csv", "--label", "churn", "--model", "m.json", "--seed", "3"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let batch = csv_to_parquet(&dir.path().join("team.csv"), &dir.path().join("team.parquet"));
    assert_eq!(batch, 600);
    let out = ratewire(
        dir.path(),
        &["churn", "train", "--features", "team.parquet", "--label", "churn", "--model", "p.json", "--seed", "3"],
    );
    let printed = stdout(&out);
    let from_csv = stdout(&ratewire(
        dir.path(),
        &["churn", "train", "--features", "team.csv", "--label", "churn", "--model", "c.json", "--seed", "3"],
    ));
    assert_eq!(printed.lines().next(), from_csv.lines().next(), "the same table from either format");
}

/// Writes a CSV of text columns as Parquet (every column Utf8: numbers
/// stored as text); returns the rows.
fn csv_to_parquet(csv: &Path, parquet: &Path) -> usize {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    let text = fs::read_to_string(csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<String>> =
        lines.map(|l| l.split(',').map(|f| f.trim_matches('"').to_string()).collect()).collect();
    let columns: Vec<(&str, ArrayRef)> = header
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let values: StringArray = rows.iter().map(|r| (!r[j].is_empty()).then(|| r[j].clone())).collect();
            (*name, Arc::new(values) as ArrayRef)
        })
        .collect();
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(fs::File::create(parquet).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    rows.len()
}

#[test]
fn bad_tables_get_errors_naming_the_column_or_row() {
    let dir = tempfile::tempdir().unwrap();
    let train = |file: &str, label: &str| {
        ratewire(dir.path(), &["churn", "train", "--features", file, "--label", label, "--model", "m.json"])
    };
    let fail = |out: std::process::Output, needle: &str| {
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let message = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(message.contains(needle), "{needle:?} not in {message}");
    };
    let mut csv = team_csv(100, 3);
    fs::write(dir.path().join("good.csv"), &csv).unwrap();
    fail(train("good.csv", "cancelled"), "no column \"cancelled\"");
    csv = csv.replacen(",yes\n", ",maybe\n", 1);
    let line = csv.lines().position(|l| l.ends_with(",maybe")).unwrap() + 1;
    fs::write(dir.path().join("label.csv"), &csv).unwrap();
    fail(train("label.csv", "churn"), &format!("column \"churn\", line {line}: the label \"maybe\""));
    fs::write(dir.path().join("ragged.csv"), "a,b,y\n1,2,0\n3,1\n").unwrap();
    fail(train("ragged.csv", "y"), "ragged.csv: line 3: 2 fields, but the header has 3 columns");
    fs::write(dir.path().join("table.xlsx"), "x").unwrap();
    fail(train("table.xlsx", "y"), "read from .csv or .parquet files");
    fs::write(dir.path().join("one.csv"), "a,y\n1,1\n2,1\n").unwrap();
    fail(train("one.csv", "y"), "every label is true");
    fail(train("missing.csv", "y"), "missing.csv");
}

/// The generated history rated into `<dir>/ledger`: June to November
/// 2026, with churners.
fn rated_history(dir: &Path, config: &HistoryConfig, before: Option<&str>) {
    let history = History::generate(config);
    fs::write(dir.join("catalog.toml"), ratewire_sample::catalog::render(&history.world)).unwrap();
    fs::write(dir.join("accounts.csv"), ratewire_sample::accounts::render(&history.world)).unwrap();
    let lines: Vec<&String> = history
        .events
        .iter()
        .filter(|l| before.is_none_or(|t| l.split("\"time\":\"").nth(1).is_some_and(|rest| rest[..24] < *t)))
        .collect();
    let mut events = lines.iter().map(|l| l.as_str()).collect::<Vec<_>>().join("\n");
    events.push('\n');
    fs::write(dir.join("events.jsonl"), events).unwrap();
    let out =
        super::rate_files(dir, &["--now", "2026-12-01T00:00:00Z", "--event-age-max-days", "200", "--ledger", "ledger"]);
    assert!(out.status.success(), "{}", text(&out));
}

fn history_config() -> HistoryConfig {
    HistoryConfig {
        seed: 11,
        accounts: 1_500,
        first: Month { year: 2026, month: 6 },
        months: 6,
        monthly_churn_percent: 6,
    }
}

const FEATURE_DATES: [&str; 6] = ["--from", "2026-08-01", "--to", "2026-10-30", "--step-days", "30"];

#[test]
fn ledger_features_train_above_the_baseline_without_leakage() {
    let dir = tempfile::tempdir().unwrap();
    rated_history(dir.path(), &history_config(), None);
    let base = ["--ledger", "ledger", "--accounts", "accounts.csv"];
    let train = |model: &str| {
        ratewire(dir.path(), &[&["churn", "train"][..], &base, &FEATURE_DATES, &["--model", model]].concat())
    };
    let out = stdout(&train("model.json"));
    // A coin scores 0.5 and picks churners at the base rate.
    let auc = figure(&out, "roc_auc");
    assert!(auc > 0.75, "{out}");
    assert!(figure(&out, "precision_at_10pct") > 2.0 * figure(&out, "base_rate"), "{out}");
    assert!(
        out.contains("split by time: train before 2026-09-30, validate on 2026-09-30, test on 2026-10-30"),
        "{out}"
    );
    // Determinism: the same ledger trains the same model, byte for byte.
    stdout(&train("again.json"));
    assert_eq!(fs::read(dir.path().join("model.json")).unwrap(), fs::read(dir.path().join("again.json")).unwrap());

    // Scoring at an as-of date: ranked, with context columns to filter on.
    let out = stdout(&ratewire(
        dir.path(),
        &[&["churn", "score", "--model", "model.json"][..], &base, &["--as-of", "2026-11-29", "--output", "risk"]]
            .concat(),
    ));
    assert!(out.contains("accounts scored"), "{out}");
    let csv = fs::read_to_string(dir.path().join("risk/churn_risk.csv")).unwrap();
    assert!(
        csv.starts_with("account,as_of,plan,segment,partner,rank,score,band,reason_1,reason_2,reason_3\n"),
        "{csv:.200}"
    );

    // Leakage: the features at an as-of date are the same whether or not
    // the ledger holds anything after it; only the label differs.
    let cut = tempfile::tempdir().unwrap();
    rated_history(cut.path(), &history_config(), Some("2026-09-30T00:00:00.000Z"));
    let features = |at: &Path| {
        let args = ["--from", "2026-09-30", "--output", "f.csv"];
        let out = ratewire(at, &[&["churn", "features"][..], &base, &args].concat());
        assert!(out.status.success(), "{}", text(&out));
        let text = fs::read_to_string(at.join("f.csv")).unwrap();
        // Drop the label, the last column.
        text.lines().map(|l| l.rsplit_once(',').map_or(l, |(head, _)| head).to_string()).collect::<Vec<_>>()
    };
    let (full, before) = (features(dir.path()), features(cut.path()));
    assert!(full.len() > 500, "{} rows", full.len());
    assert_eq!(full, before);
}

#[test]
fn the_risk_list_is_a_sql_table_joinable_with_the_accounts() {
    let dir = tempfile::tempdir().unwrap();
    // A smaller history than the quality test's: this one checks plumbing.
    let config = HistoryConfig { accounts: 500, months: 5, ..history_config() };
    rated_history(dir.path(), &config, None);
    let base = ["--ledger", "ledger", "--accounts", "accounts.csv"];
    let sql = |query: &str| stdout(&ratewire(dir.path(), &[&["sql"][..], &base, &["--format", "csv", query]].concat()));

    // No list yet: the table is there, empty.
    assert_eq!(sql("select count(*) as n from churn_risk"), "n\n0\n");

    let dates = ["--from", "2026-08-01", "--to", "2026-09-30", "--step-days", "30"];
    stdout(&ratewire(dir.path(), &[&["churn", "train"][..], &base, &dates, &["--model", "model.json"]].concat()));
    // Without --output, the list goes to the ledger's analytics/ directory.
    let out = stdout(&ratewire(
        dir.path(),
        &[&["churn", "score", "--model", "model.json"][..], &base, &["--as-of", "2026-10-31"]].concat(),
    ));
    assert!(out.contains("the list is in ledger/analytics (the table churn_risk)"), "{out}");
    let csv = fs::read_to_string(dir.path().join("ledger/analytics/churn_risk.csv")).unwrap();
    assert!(dir.path().join("ledger/analytics/churn_risk.parquet").is_file());
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    assert!(rows.len() > 300, "{} rows", rows.len());

    // The partner with the most accounts in the list; its rows by SQL, the
    // partner taken from the accounts table, are the CSV's rows of it.
    let partner_of = |row: &str| row.split(',').nth(4).unwrap_or_default().to_string();
    let mut partners: Vec<String> = rows.iter().map(|r| partner_of(r)).filter(|p| !p.is_empty()).collect();
    partners.sort();
    let partner = partners
        .chunk_by(|a, b| a == b)
        .max_by_key(|run| run.len())
        .map(|run| run[0].clone())
        .expect("some accounts have a partner");
    let expected: Vec<&str> = rows.iter().copied().filter(|r| partner_of(r) == partner).collect();
    assert!(expected.len() >= 5 && expected.len() < rows.len(), "{} of {} rows", expected.len(), rows.len());
    let found = sql(&format!(
        "select r.* from churn_risk r join accounts a using (account) where a.partner = '{partner}' order by r.rank"
    ));
    let mut found = found.lines();
    assert_eq!(found.next(), Some(header));
    assert_eq!(found.collect::<Vec<_>>(), expected);

    // The high-risk accounts of a segment, counted: as many as the CSV has.
    let field = |row: &str, n: usize| row.split(',').nth(n).unwrap_or_default().to_string();
    let segment = rows
        .iter()
        .find(|r| field(r, 7) == "high" && !field(r, 3).is_empty())
        .map(|r| field(r, 3))
        .expect("a high-risk account with a segment");
    let high = rows.iter().filter(|r| field(r, 3) == segment && field(r, 7) == "high").count();
    let counted = sql(&format!(
        "select count(*) as n from churn_risk r join accounts a using (account) \
         where a.segment = '{segment}' and r.band = 'high'"
    ));
    assert_eq!(counted, format!("n\n{high}\n"));
}
