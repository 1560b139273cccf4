//! Rerating's unit tests: the order of events, a subset of accounts,
//! refusals and crashes at every step.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use ratewire_rater::time::Period;
use ratewire_rater::{Accounts, Event, Output, Rater, RaterConfig, Tables, catalog, decode};
use rust_decimal::Decimal;

use super::RerateOptions;
use super::read::{Columns, decimal};
use crate::commit::{Commit, Ledger, Step};
use crate::error::Error;
use crate::manifest::SourceRange;
use crate::schema::Table;
use crate::snapshot::Snapshot;
use crate::snapshot::read_file;
use crate::testing::time;

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|e| panic!("{e}"))
}

/// Voice at `price` a minute, billed per started minute, with 300 s
/// included each month.
fn tables(version: &str, price: &str) -> Arc<Tables> {
    let text = format!(
        r#"
        version = "{version}"
        currency = "EUR"
        [services.voice]
        unit = "second"
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
        model = "per_unit"
        price = "{price}"
        rate_unit = 60
        increments = [60, 60]
        "#
    );
    Arc::new(ok(catalog::parse(&text, "catalog.toml")))
}

fn accounts() -> Arc<Accounts> {
    Arc::new(ok(Accounts::parse_csv("id,plan,time_zone\nA1,basic,UTC\nA2,basic,UTC\n", "accounts.csv")))
}

fn usage(id: &str, account: &str, at: &str, seconds: u32) -> Event {
    let line = format!(
        r#"{{"v":1,"id":"{id}","kind":"usage","account":"{account}","time":"{at}","service":"voice","quantity":{seconds},"destination":"4930123"}}"#
    );
    ok(decode(line.as_bytes()).map_err(|r| r.to_string()))
}

fn payment(id: &str, account: &str, at: &str, amount: &str) -> Event {
    let line =
        format!(r#"{{"v":1,"id":"{id}","kind":"payment","account":"{account}","time":"{at}","amount":"{amount}"}}"#);
    ok(decode(line.as_bytes()).map_err(|r| r.to_string()))
}

/// Rates `events` in the order given (arrival order) with the 0.10
/// catalog, in one commit per event.
fn ledger_of(dir: &std::path::Path, events: &[Event]) -> Ledger {
    let (mut ledger, _) = ok(Ledger::open(dir));
    let mut rater = Rater::new(tables("v1", "0.10"), accounts(), RaterConfig::default());
    for (offset, event) in (1..).zip(events) {
        let mut out = Output::default();
        rater.rate(event, event.time, &mut out);
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        let offsets = [SourceRange { source: "events".into(), partition: 0, from: offset, to: offset + 1 }];
        let commit = Commit {
            rated: std::slice::from_ref(&out.rated),
            rejected: &[],
            facts: &out.facts,
            offsets: &offsets,
            checkpoint: b"state",
            booked_at: event.time,
        };
        ok(ledger.commit(&commit));
    }
    ledger
}

fn arrivals() -> Vec<Event> {
    vec![
        // A1's later call arrives first and takes the allowance.
        usage("e2", "A1", "2026-10-10T10:00:00Z", 240),
        usage("e1", "A1", "2026-10-05T10:00:00Z", 180),
        usage("e3", "A1", "2026-10-20T10:00:00Z", 60),
        payment("p1", "A1", "2026-10-25T10:00:00Z", "0.30"),
        usage("e4", "A2", "2026-10-12T10:00:00Z", 420),
    ]
}

fn options(price: &str, only: Option<&[&str]>) -> RerateOptions {
    RerateOptions {
        period: ok(Period::parse("2026-10").ok_or("period")),
        tables: tables("v2", price),
        accounts: accounts(),
        only: only.map(|o| o.iter().map(|a| (*a).to_string()).collect()),
        now: time("2026-11-02T00:00:00Z"),
    }
}

/// `rated` rows of a snapshot: event id -> (allowance, net, catalog version).
fn usage_rows(snapshot: &Snapshot) -> BTreeMap<String, (Decimal, Decimal, String)> {
    let mut rows = BTreeMap::new();
    for file in snapshot.files().iter().filter(|f| f.table == Table::Rated) {
        let (path, opened) = ok(snapshot.open_file(file));
        ok(read_file(opened, &path, Table::Rated, &mut |batch| {
            let c = Columns { batch: &batch, file };
            let (ids, kinds, versions) =
                (ok(c.strings("event_id")), ok(c.strings("kind")), ok(c.strings("catalog_version")));
            let (allowance, net) = (ok(c.decimals("allowance_quantity")), ok(c.decimals("net")));
            for row in (0..batch.num_rows()).filter(|r| kinds.value(*r) == "usage") {
                let value = (decimal(allowance, row), decimal(net, row), versions.value(row).to_string());
                rows.insert(ids.value(row).to_string(), value);
            }
        }));
    }
    rows
}

fn row(allowance: i64, net: &str, version: &str) -> (Decimal, Decimal, String) {
    (Decimal::from(allowance), ok(net.parse::<Decimal>()), version.to_string())
}

#[test]
fn rerating_reorders_by_event_time_and_prices_again_keeping_the_old_version() {
    let dir = ok(tempfile::tempdir());
    let mut ledger = ledger_of(dir.path(), &arrivals());
    let before = ok(Snapshot::open(dir.path()));
    // As booked, in arrival order: e2 (240 s) took 240 s of the 300,
    // e1 (180 s) the last 60 s and paid 2 minutes at 0.10, e3 paid 0.10.
    // A2's 420 s: 300 s included, 2 minutes at 0.10.
    let booked = usage_rows(&before);
    assert_eq!(booked["e2"], row(240, "0", "v1"));
    assert_eq!(booked["e1"], row(60, "0.20", "v1"));
    assert_eq!(booked["e3"], row(0, "0.10", "v1"));
    assert_eq!(booked["e4"], row(300, "0.20", "v1"));

    let report = ok(ledger.rerate(&options("0.08", None)));
    // In event-time order at 0.08: e1 takes 180 s, e2 the remaining
    // 120 s and pays 2 minutes (0.16), e3 pays 0.08. A1: 0.30 -> 0.24.
    // A2 pays its 2 minutes at 0.08: 0.20 -> 0.16.
    let after = ok(Snapshot::open(dir.path()));
    let rerated = usage_rows(&after);
    assert_eq!(rerated["e1"], row(180, "0", "v2"));
    assert_eq!(rerated["e2"], row(120, "0.16", "v2"));
    assert_eq!(rerated["e3"], row(0, "0.08", "v2"));
    assert_eq!(rerated["e4"], row(300, "0.16", "v2"));
    assert_eq!(report.sequence, before.sequence() + 1);
    assert_eq!((report.record.accounts, report.record.events), (2, 5));
    // Its payment of 0.30 is booked again as it was (net -0.30), so
    // A1's net goes from 0.30 - 0.30 = 0 to 0.24 - 0.30 = -0.06.
    let a1 = &report.accounts[0];
    assert_eq!((a1.account.as_str(), a1.before.net, a1.after.net), ("A1", Decimal::ZERO, ok("-0.06".parse())));
    assert_eq!((a1.before.rows, a1.after.rows), (5, 5), "a grant, three calls and a payment");
    assert_eq!(a1.records_changed, 3, "e1, e2, e3 changed; the payment and the grant did not");
    assert_eq!(report.accounts[1].records_changed, 1);

    // The version before stays readable, from the trash, and both
    // versions check against their manifests.
    assert_eq!(usage_rows(&ok(Snapshot::at(dir.path(), before.sequence()))), booked);
    ok(ok(Snapshot::at(dir.path(), before.sequence())).verify());
    assert_eq!(&ok(after.verify()), after.totals());
    // Offsets, positions and the checkpoint are those before.
    assert_eq!(after.positions(), before.positions());
    drop(ledger);
    let (ledger, recovery) = ok(Ledger::open(dir.path()));
    assert_eq!(recovery.checkpoint, b"state");
    assert_eq!(ledger.sequence(), report.sequence);
}

#[test]
fn rerating_some_accounts_leaves_the_others_rows_as_they_were() {
    let dir = ok(tempfile::tempdir());
    let mut ledger = ledger_of(dir.path(), &arrivals());
    let booked = usage_rows(&ok(Snapshot::open(dir.path())));
    let report = ok(ledger.rerate(&options("0.08", Some(&["A2"]))));
    assert_eq!(report.accounts.len(), 1);
    let rerated = usage_rows(&ok(Snapshot::open(dir.path())));
    for id in ["e1", "e2", "e3"] {
        assert_eq!(rerated[id], booked[id], "{id} is A1's, not rerated");
    }
    assert_eq!(rerated["e4"], row(300, "0.16", "v2"));
}

#[test]
fn a_rerate_that_cannot_book_every_event_again_writes_nothing() {
    let dir = ok(tempfile::tempdir());
    let mut ledger = ledger_of(dir.path(), &arrivals());
    let sequence = ledger.sequence();
    // A catalog without voice rates rejects the calls.
    let mut no_voice = options("0.08", None);
    no_voice.tables = Arc::new(ok(catalog::parse(
        "version = \"v3\"\ncurrency = \"EUR\"\n[services.sms]\nunit = \"message\"\n[[plans.basic.versions]]\neffective_from = 2026-01-01\n",
        "catalog.toml",
    )));
    let refused = ledger.rerate(&no_voice);
    assert!(matches!(&refused, Err(Error::RerateRejected { count: 4, .. })), "{refused:?}");
    // October is not over on the 20th; November holds no rows.
    let mut early = options("0.08", None);
    early.now = time("2026-10-20T00:00:00Z");
    assert!(matches!(ledger.rerate(&early), Err(Error::RerateNotOver { .. })));
    let mut empty = options("0.08", None);
    empty.period = ok(Period::parse("2026-09").ok_or("period"));
    assert!(matches!(ledger.rerate(&empty), Err(Error::NothingToRerate { .. })));
    assert!(matches!(
        ledger.rerate(&options("0.08", Some(&["A9"]))),
        Err(Error::NothingToRerate { limited: true, .. })
    ));
    assert_eq!(ledger.sequence(), sequence, "nothing was committed");
    // A closed period's rows are final.
    ok(ledger.close_period(&crate::CloseOptions { period: early.period, now: time("2026-11-02T00:00:00Z") }));
    assert!(matches!(ledger.rerate(&options("0.08", None)), Err(Error::RerateClosed { .. })));
}

#[test]
fn a_crash_at_any_step_leaves_one_version_or_the_other() {
    let steps = [
        Step::FileWritten(0),
        Step::FileRenamed(0),
        Step::DirectoriesSynced,
        Step::ManifestWritten,
        Step::ManifestRenamed,
        Step::FileTrashed(0),
        Step::TrashSynced,
    ];
    for stop_at in steps {
        let dir = ok(tempfile::tempdir());
        let mut ledger = ledger_of(dir.path(), &arrivals());
        let booked = usage_rows(&ok(Snapshot::open(dir.path())));
        let result = ledger.rerate_with(&options("0.08", None), &mut |step| {
            if step == stop_at { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        });
        assert!(matches!(result, Err(Error::Aborted(_))), "{stop_at:?}: {result:?}");
        drop(ledger);
        let (ledger, _) = ok(Ledger::open(dir.path()));
        let rows = usage_rows(&ok(Snapshot::open(dir.path())));
        let committed = matches!(stop_at, Step::ManifestRenamed | Step::FileTrashed(_) | Step::TrashSynced);
        if committed {
            assert_eq!(rows["e2"], row(120, "0.16", "v2"), "{stop_at:?}");
        } else {
            assert_eq!(rows, booked, "{stop_at:?}");
        }
        assert_eq!(&ok(ledger.verify()), ledger.totals(), "{stop_at:?}");
    }
}
