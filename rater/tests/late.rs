//! Events of a closed billing period ([`RaterConfig::closed_through`]) are
//! booked in the account's open period, naming their own period; nothing is
//! ever booked in a closed period.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ratewire_rater::time::Period;
use ratewire_rater::{Accounts, Output, Rated, Rater, RaterConfig, RecordKind, Tables, catalog, decode};
use rust_decimal::Decimal;

const CATALOG: &str = r#"
version = "late-1"
currency = "EUR"

[services.sms]
unit = "message"

[balances.sms_free]
unit = "message"
priority = 1

[[plans.basic.versions]]
effective_from = 2026-01-01

[[plans.basic.versions.recurring]]
id = "base"
amount = "10.00"

[[plans.basic.versions.grants]]
balance = "sms_free"
amount = 5

[[plans.basic.versions.rates]]
service = "sms"
model = "per_unit"
price = "0.10"
"#;

fn setup() -> (Arc<Tables>, Arc<Accounts>) {
    let tables = catalog::parse(CATALOG, "catalog.toml").unwrap();
    let accounts = Accounts::parse_csv("id,plan,time_zone\nA1,basic,UTC\n", "accounts.csv").unwrap();
    (Arc::new(tables), Arc::new(accounts))
}

fn rate(rater: &mut Rater, id: &str, time: &str, quantity: u32) -> Vec<Rated> {
    let line = format!(
        r#"{{"v":1,"id":"{id}","kind":"usage","account":"A1","time":"{time}","service":"sms","quantity":{quantity}}}"#
    );
    let event = decode(line.as_bytes()).unwrap();
    let now: DateTime<Utc> = "2026-12-10T00:00:00Z".parse().unwrap();
    let mut out = Output::default();
    rater.rate(&event, now, &mut out);
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    out.rated
}

fn closed_through(period: Option<Period>) -> RaterConfig {
    RaterConfig { closed_through: period, event_age_max_days: 3650, ..RaterConfig::default() }
}

/// (kind, event id, period, original period, net) of each record.
fn summary(records: &[Rated]) -> Vec<(RecordKind, String, String, Option<String>, Decimal)> {
    records
        .iter()
        .map(|r| {
            (r.kind, r.event_id.to_string(), r.period.to_string(), r.original_period.map(|p| p.to_string()), r.net)
        })
        .collect()
}

fn row(
    kind: RecordKind,
    id: &str,
    period: &str,
    original: Option<&str>,
    net: &str,
) -> (RecordKind, String, String, Option<String>, Decimal) {
    (kind, id.into(), period.into(), original.map(String::from), net.parse().unwrap())
}

#[test]
fn a_late_event_catches_its_account_up_and_is_booked_in_the_open_period() {
    let (tables, accounts) = setup();
    let mut before = Rater::new(tables.clone(), accounts.clone(), closed_through(None));
    let november = rate(&mut before, "e1", "2026-11-03T10:00:00Z", 3);
    assert!(november.iter().all(|r| r.period == Period::new(2026, 11) && r.original_period.is_none()));

    // November is closed; the account's state comes back from a checkpoint.
    let mut after = Rater::new(tables, accounts, closed_through(Some(Period::new(2026, 11))));
    after.restore(&before.checkpoint()).unwrap();
    let late = rate(&mut after, "e2", "2026-11-28T10:00:00Z", 4);
    assert_eq!(
        summary(&late),
        [
            row(RecordKind::Expiry, "A1/2026-11/expiry/sms_free", "2026-12", Some("2026-11"), "0"),
            row(RecordKind::Grant, "A1/2026-12/grant/sms_free", "2026-12", None, "0"),
            row(RecordKind::Recurring, "A1/2026-12/fee/base", "2026-12", None, "10.00"),
            row(RecordKind::Usage, "e2", "2026-12", Some("2026-11"), "0"),
        ]
    );
    assert_eq!(late[3].allowance_quantity, Decimal::from(4), "December's allowance covers it");

    let december = rate(&mut after, "e3", "2026-12-02T10:00:00Z", 5);
    assert_eq!(summary(&december), [row(RecordKind::Usage, "e3", "2026-12", None, "0.40")]);
}

#[test]
fn an_account_first_seen_in_a_closed_period_opens_the_next_one() {
    let (tables, accounts) = setup();
    let mut rater = Rater::new(tables, accounts, closed_through(Some(Period::new(2026, 11))));
    let late = rate(&mut rater, "e1", "2026-11-10T10:00:00Z", 7);
    assert_eq!(
        summary(&late),
        [
            row(RecordKind::Grant, "A1/2026-12/grant/sms_free", "2026-12", None, "0"),
            row(RecordKind::Recurring, "A1/2026-12/fee/base", "2026-12", None, "10.00"),
            row(RecordKind::Usage, "e1", "2026-12", Some("2026-11"), "0.20"),
        ]
    );
}

#[test]
fn records_of_closed_months_caught_up_on_name_their_month() {
    let (tables, accounts) = setup();
    let mut before = Rater::new(tables.clone(), accounts.clone(), closed_through(None));
    rate(&mut before, "e1", "2026-10-03T10:00:00Z", 1);
    let mut after = Rater::new(tables, accounts, closed_through(Some(Period::new(2026, 11))));
    after.restore(&before.checkpoint()).unwrap();
    let records = rate(&mut after, "e2", "2026-12-04T10:00:00Z", 1);
    assert!(records.iter().all(|r| r.period == Period::new(2026, 12)), "{:?}", summary(&records));
    let november_fee = records.iter().find(|r| r.event_id == "A1/2026-11/fee/base").unwrap();
    assert_eq!(november_fee.original_period, Some(Period::new(2026, 11)));
    assert_eq!(records.last().map(|r| r.original_period), Some(None), "December's event is not late");
}
