//! `ratewire rerate`, the golden case: a month rated in the order its
//! events arrived, with a wrong price, then rerated with the corrected
//! catalog. The price changes, and once the events are in event-time order
//! the allowance moves to the earliest call; the version before stays
//! readable (`sql --as-of`), the report gives each account's difference,
//! and pyarrow and DuckDB read the new version's totals from its manifests.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use ratewire_ledger::Snapshot;
use rust_decimal::Decimal;

use super::{ratewire, text, venv_python};

/// Voice per started minute, with 300 s included each month. Version 1
/// prices German mobile numbers at 0.20 a minute, a mistake: the corrected
/// version 2 says 0.15. German fixed lines are 0.05 in both.
fn catalog(version: &str, mobile_price: &str) -> String {
    format!(
        r#"
version = "{version}"
currency = "EUR"

[services.voice]
unit = "second"

[zones]
de = ["49"]
de_mobile = ["4915", "4916", "4917"]

[balances.voice_s]
unit = "second"
priority = 10

[[plans.basic.versions]]
effective_from = 2026-01-01

[[plans.basic.versions.grants]]
balance = "voice_s"
amount = 300

[[plans.basic.versions.rates]]
service = "voice"
zone = "de"
model = "per_unit"
price = "0.05"
rate_unit = 60
increments = [60, 60]

[[plans.basic.versions.rates]]
service = "voice"
zone = "de_mobile"
model = "per_unit"
price = "{mobile_price}"
rate_unit = 60
increments = [60, 60]
"#
    )
}

fn call(id: &str, account: &str, time: &str, destination: &str, seconds: u32) -> String {
    format!(
        "{{\"v\":1,\"id\":\"{id}\",\"kind\":\"usage\",\"account\":\"{account}\",\"time\":\"{time}\",\
         \"service\":\"voice\",\"quantity\":{seconds},\"destination\":\"{destination}\"}}\n"
    )
}

/// `event_id -> (allowance_quantity, net, catalog_version)` of the usage
/// rows, through `ratewire sql` (as of commit `as_of` if given).
fn usage_rows(dir: &Path, as_of: Option<u64>) -> BTreeMap<String, (Decimal, Decimal, String)> {
    let query = "select event_id, allowance_quantity, net, catalog_version from rated \
                 where kind = 'usage' order by event_id";
    let as_of = as_of.map(|s| s.to_string());
    let mut args = vec!["sql", "--ledger", "ledger", "--format", "csv"];
    if let Some(sequence) = &as_of {
        args.extend(["--as-of", sequence.as_str()]);
    }
    args.push(query);
    let out = ratewire(dir, &args);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            let value = (cells[1].parse().unwrap(), cells[2].parse().unwrap(), cells[3].to_string());
            (cells[0].to_string(), value)
        })
        .collect()
}

fn row(allowance: u32, net: &str, version: &str) -> (Decimal, Decimal, String) {
    (Decimal::from(allowance), net.parse().unwrap(), version.to_string())
}

#[test]
fn a_rerate_corrects_a_price_and_moves_the_allowance_to_the_earliest_call() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::write(dir.join("catalog-v1.toml"), catalog("v1", "0.20")).unwrap();
    fs::write(dir.join("catalog-v2.toml"), catalog("v2", "0.15")).unwrap();
    fs::write(dir.join("accounts.csv"), "id,plan,time_zone\nA1,basic,UTC\nA2,basic,UTC\n").unwrap();
    // In arrival order: A1's call of the 12th reached mediation first.
    let events = [
        call("m2", "A1", "2026-10-12T09:00:00Z", "4915112345", 240),
        call("m1", "A1", "2026-10-03T09:00:00Z", "4930123456", 180),
        call("m3", "A1", "2026-10-20T09:00:00Z", "4915112345", 120),
        call("f1", "A2", "2026-10-08T09:00:00Z", "4930123456", 60),
    ];
    fs::write(dir.join("events.jsonl"), events.concat()).unwrap();
    let rate = [
        "rate",
        "--catalog",
        "catalog-v1.toml",
        "--accounts",
        "accounts.csv",
        "--input",
        "events.jsonl",
        "--output",
        "rated.jsonl",
        "--ledger",
        "ledger",
    ];
    let out = ratewire(dir, &rate);
    assert!(out.status.success(), "{}", text(&out));
    let booked_at = Snapshot::open(dir.join("ledger")).unwrap().sequence();

    // As booked, in arrival order with version 1 (A1 has 300 s included):
    // m2 (240 s, mobile) takes 240 s, 60 s left: net 0.
    // m1 (180 s, fixed) takes the last 60 s; 120 s = 2 min x 0.05 = 0.10.
    // m3 (120 s, mobile): nothing left; 2 min x 0.20 = 0.40.
    // A1: 0.50. A2's f1 (60 s) is included: 0.
    let booked = usage_rows(dir, None);
    assert_eq!(booked["m2"], row(240, "0", "v1"));
    assert_eq!(booked["m1"], row(60, "0.10", "v1"));
    assert_eq!(booked["m3"], row(0, "0.40", "v1"));
    assert_eq!(booked["f1"], row(60, "0", "v1"));

    // Not before October is over, and not into a closed period.
    let rerate = |now: &str| {
        let args = ["rerate", "--ledger", "ledger", "--period", "2026-10", "--catalog", "catalog-v2.toml"];
        ratewire(dir, &[&args[..], &["--accounts", "accounts.csv", "--report", "diff.csv", "--now", now]].concat())
    };
    let early = rerate("2026-10-25T00:00:00Z");
    assert_eq!(early.status.code(), Some(1), "{}", text(&early));
    assert!(text(&early).contains("period 2026-10 has not ended"), "{}", text(&early));

    let out = rerate("2026-11-02T08:00:00Z");
    assert!(out.status.success(), "{}", text(&out));
    let summary = text(&out);
    assert!(
        summary.contains(&format!("in commit {} (the version before: --as-of {booked_at})", booked_at + 1)),
        "{summary}"
    );
    assert!(summary.contains("gross EUR  before 0.5  after 0.6  difference 0.1"), "{summary}");

    // Rerated in event-time order with version 2:
    // m1 (180 s, fixed) takes 180 s, 120 s left: net 0.
    // m2 (240 s, mobile) takes the last 120 s; 120 s = 2 min x 0.15 = 0.30.
    // m3 (120 s, mobile): 2 min x 0.15 = 0.30.
    // A1: 0.60, 0.10 more although the price went down: the allowance now
    // covers the cheap call. A2's f1 is still included.
    let rerated = usage_rows(dir, None);
    assert_eq!(rerated["m1"], row(180, "0", "v2"));
    assert_eq!(rerated["m2"], row(120, "0.30", "v2"));
    assert_eq!(rerated["m3"], row(0, "0.30", "v2"));
    assert_eq!(rerated["f1"], row(60, "0", "v2"));
    // The version before is still there.
    assert_eq!(usage_rows(dir, Some(booked_at)), booked);

    let report = fs::read_to_string(dir.join("diff.csv")).unwrap();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(
        lines,
        [
            "account,currency,rows_before,rows_after,records_changed,allowance_before,allowance_after,\
             net_before,net_after,net_difference,tax_before,tax_after,tax_difference,\
             gross_before,gross_after,gross_difference",
            // A grant and three calls; all three calls changed.
            "A1,EUR,4,4,3,300,300,0.5,0.6,0.1,0,0,0,0.5,0.6,0.1",
            "A2,EUR,2,2,0,60,60,0,0,0,0,0,0,0,0,0",
        ]
    );

    let Some(python) = venv_python("the pyarrow and DuckDB check") else { return };
    let checker = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_ledger.py");
    let out = Command::new(python).arg(checker).arg(dir.join("ledger")).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read["tables"]["rated"]["rows"], 6, "{read}");
    assert_eq!(read["tables"]["rated"]["gross"], "0.6000000000", "{read}");
}
