//! `ratewire close`: a month rated into a ledger and closed with its totals;
//! events of it that arrive later are booked in the next month as
//! adjustments naming it, and DuckDB reads the same totals.

use std::fs;
use std::path::Path;
use std::process::Command;

use ratewire_ledger::{Snapshot, Table, format_units};
use rust_decimal::Decimal;
use serde_json::Value;

use super::{ratewire, text, venv_python};

const CATALOG: &str = r#"
version = "close-1"
currency = "EUR"

[services.sms]
unit = "message"

[[plans.basic.versions]]
effective_from = 2026-01-01

[[plans.basic.versions.rates]]
service = "sms"
model = "per_unit"
price = "0.10"
"#;

fn usage(id: &str, account: &str, time: &str, quantity: u32) -> String {
    format!(
        "{{\"v\":1,\"id\":\"{id}\",\"kind\":\"usage\",\"account\":\"{account}\",\"time\":\"{time}\",\"service\":\"sms\",\"quantity\":{quantity}}}\n"
    )
}

fn rate(dir: &Path, input: &str, output: &str) -> std::process::Output {
    let args = ["rate", "--catalog", "catalog.toml", "--accounts", "accounts.csv", "--ledger", "ledger"];
    ratewire(dir, &[&args[..], &["--input", input, "--output", output]].concat())
}

fn close(dir: &Path, period: &str, now: &str) -> std::process::Output {
    ratewire(dir, &["close", "--ledger", "ledger", "--period", period, "--now", now])
}

fn lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_closed_month_takes_its_late_events_in_the_next_one_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::write(dir.join("catalog.toml"), CATALOG).unwrap();
    fs::write(dir.join("accounts.csv"), "id,plan,time_zone\nA1,basic,UTC\nA2,basic,UTC\n").unwrap();
    let november = [
        usage("n1", "A1", "2026-11-03T10:00:00Z", 3),
        usage("n2", "A2", "2026-11-20T10:00:00Z", 5),
        usage("d1", "A1", "2026-12-01T10:00:00Z", 1),
    ];
    fs::write(dir.join("events.jsonl"), november.concat()).unwrap();
    let out = rate(dir, "events.jsonl", "rated.jsonl");
    assert!(out.status.success(), "{}", text(&out));

    // December has not ended; November has.
    let out = close(dir, "2026-12", "2026-12-05T08:00:00Z");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("has not ended"), "{}", text(&out));
    let out = close(dir, "2026-11", "2026-12-05T08:00:00Z");
    assert!(out.status.success(), "{}", text(&out));
    let printed = text(&out);
    assert!(printed.contains("closed 2026-11"), "{printed}");
    assert!(printed.contains("EUR") && printed.contains("gross 0.8000000000"), "{printed}");
    let out = close(dir, "2026-11", "2026-12-05T09:00:00Z");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("closed already"), "{}", text(&out));

    let snapshot = Snapshot::open(dir.join("ledger")).unwrap();
    let closed = snapshot.closed_periods();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].close.period.to_string(), "2026-11");
    assert_eq!(closed[0].close.totals[&Table::Rated].rows, 2);
    assert_eq!(closed[0].close.currencies["EUR"].sums["gross"], 8_000_000_000);
    let sequence = snapshot.sequence();

    // A late November event for A1, and December's own for A2.
    let late = [usage("n3", "A1", "2026-11-29T23:00:00Z", 2), usage("d2", "A2", "2026-12-03T10:00:00Z", 1)];
    fs::write(dir.join("late.jsonl"), late.concat()).unwrap();
    let out = rate(dir, "late.jsonl", "late.rated.jsonl");
    assert!(out.status.success(), "{}", text(&out));
    let printed = text(&out);
    let late_line = printed.lines().find(|l| l.starts_with("late records")).unwrap_or_default();
    assert_eq!(late_line.split_whitespace().nth(2), Some("1"), "{printed}");
    let rated = lines(&dir.join("late.rated.jsonl"));
    let n3 = rated.iter().find(|r| r["event_id"] == "n3").unwrap();
    assert_eq!((n3["period"].as_str(), n3["original_period"].as_str()), (Some("2026-12"), Some("2026-11")));
    assert_eq!(n3["gross"].as_str().unwrap().parse::<Decimal>().unwrap(), Decimal::new(2, 1));
    let d2 = rated.iter().find(|r| r["event_id"] == "d2").unwrap();
    assert!(d2.get("original_period").is_none(), "{d2}");

    let snapshot = Snapshot::open(dir.join("ledger")).unwrap();
    assert!(snapshot.sequence() > sequence);
    assert_eq!(snapshot.closed_through().map(|p| p.to_string()).as_deref(), Some("2026-11"));
    let totals = snapshot.verify().unwrap();
    let late_file = snapshot.files().iter().filter(|f| f.table == Table::Rated && f.path.contains("period=2026-11"));
    assert_eq!(late_file.map(|f| f.totals.rows).sum::<u64>(), 2, "nothing was added to the closed month");

    let Some(python) = venv_python("the DuckDB check") else { return };
    let script = r#"
import json, sys, duckdb
ledger = sys.argv[1]
rated = f"read_parquet('{ledger}/table=rated/**/*.parquet', hive_partitioning = true)"
late = duckdb.execute(
    f"select event_id, period, original_period, cast(gross as varchar) from {rated}"
    " where original_period is not null order by event_id").fetchall()
by_period = duckdb.execute(
    f"select period, count(*), cast(sum(gross) as varchar) from {rated} group by period order by period").fetchall()
total = duckdb.execute(f"select count(*), cast(sum(gross) as varchar) from {rated}").fetchone()
print(json.dumps({"late": late, "by_period": by_period, "total": total}))
"#;
    let out = Command::new(python).arg("-c").arg(script).arg(dir.join("ledger")).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let read: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read["late"], serde_json::json!([["n3", "2026-12", "2026-11", "0.2000000000"]]));
    let november = &read["by_period"][0];
    assert_eq!((november[0].as_str(), november[1].as_u64()), (Some("2026-11"), Some(2)));
    let close = &closed[0].close.currencies["EUR"];
    assert_eq!(
        november[2].as_str(),
        Some(format_units(close.sums["gross"]).as_str()),
        "DuckDB reads the close's total"
    );
    let rated_totals = &totals[&Table::Rated];
    assert_eq!(read["total"][0].as_u64(), Some(rated_totals.rows));
    let gross: Decimal = read["total"][1].as_str().unwrap().parse().unwrap();
    assert_eq!(format_units(ratewire_ledger::to_units(gross)), format_units(rated_totals.sums["gross"]));
}

#[test]
fn close_refuses_a_ledger_another_process_has_open_and_what_is_not_a_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = ratewire(dir, &["close", "--ledger", "nowhere", "--period", "2026-11"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("is not a ledger"), "{}", text(&out));
    let out = ratewire(dir, &["close", "--ledger", "nowhere", "--period", "2026-13"]);
    assert!(text(&out).contains("expected YYYY-MM"), "{}", text(&out));

    // This process holds the lock, as `ratewire run` would.
    let (_held, _) = ratewire_ledger::Ledger::open(dir.join("ledger")).unwrap();
    let out = close(dir, "2026-11", "2026-12-05T08:00:00Z");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("open in another process"), "{}", text(&out));
}
