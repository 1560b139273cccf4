//! `ratewire catalog check`.

use std::fs;

use super::{case, ratewire, text};

#[test]
fn a_good_catalog_passes() {
    let dir = case("01_voice_per_minute");
    let out = ratewire(&dir, &["catalog", "check", "catalog.toml", "--accounts", "accounts.csv"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("catalog case-01 is valid"), "{}", text(&out));
}

#[test]
fn every_problem_is_reported_with_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("catalog.toml"),
        r#"version = "bad-1"
currency = "EURO"

[services.voice]
unit = "second"

[schedules.std.bands]
peak = { days = ["weekdays"], hours = ["08:00-20:00"] }
night = { days = ["weekdays"], hours = ["00:00-09:00", "20:00-24:00"] }
weekend = { days = ["weekend"], hours = ["00:00-24:00"] }

[[plans.basic.versions]]
effective_from = 2026-01-01

[[plans.basic.versions.rates]]
service = "vioce"
model = "per_unit"
price = "0.10"

[[plans.basic.versions.rates]]
service = "voice"
model = "graduated"
tiers = [{ up_to = 100, price = "1" }, { up_to = 50, price = "0.5" }, { price = "0.1" }]
"#,
    )
    .unwrap();
    let out = ratewire(dir.path(), &["catalog", "check", "catalog.toml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines.contains(&"catalog.toml:2:12: currency \"EURO\" is not a three-letter ISO 4217 code such as EUR"),
        "{stderr}"
    );
    assert!(
        lines.contains(&"catalog.toml:8:40: schedule std: mon,tue,wed,thu,fri 08:00-09:00 overlaps another band"),
        "{stderr}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("catalog.toml:16:11: unknown service \"vioce\" (known: voice)")),
        "{stderr}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("catalog.toml:23:50:") && l.contains("tiers must be in increasing order")),
        "{stderr}"
    );
}

#[test]
fn a_syntax_error_names_its_position() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("catalog.toml"), "version = \"x\"\ncurrency = \n").unwrap();
    let out = ratewire(dir.path(), &["catalog", "check", "catalog.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("catalog.toml:2:"), "{}", text(&out));
}
