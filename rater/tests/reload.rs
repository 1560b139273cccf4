//! A catalog swap in the middle of a stream: the new version prices the
//! events after it, and every account keeps its balances and counters.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::sync::Arc;

use ratewire_rater::{Accounts, CatalogHandle, Output, Rater, RaterConfig, catalog, decode};

fn catalog_text(version: &str, price: &str, extra_balance_first: bool) -> String {
    // The second version declares one more balance and plan ahead of the
    // existing ones, so every id moves.
    let extra = if extra_balance_first {
        "[balances.aaa_bonus]\nunit = \"money\"\npriority = 1\n[[plans.aaa.versions]]\neffective_from = 2026-01-01\n"
    } else {
        ""
    };
    format!(
        r#"version = "{version}"
currency = "EUR"
{extra}
[services.data]
unit = "byte"

[balances.data_bundle]
unit = "byte"
priority = 1

[[plans.mobile.versions]]
effective_from = 2026-01-01
grants = [{{ balance = "data_bundle", amount = 1000 }}]

[[plans.mobile.versions.rates]]
service = "data"
model = "graduated"
tiers = [{{ up_to = 1000, price = "{price}" }}, {{ price = "0.001" }}]
"#
    )
}

fn usage(id: &str, bytes: u32) -> ratewire_rater::Event {
    decode(
        format!(
            r#"{{"v":1,"id":"{id}","kind":"usage","account":"A1","time":"2026-11-03T10:00:00Z","service":"data","quantity":{bytes}}}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

#[test]
fn state_survives_a_catalog_swap() {
    let handle = CatalogHandle::new(catalog::parse(&catalog_text("v1", "0.01", false), "v1.toml").unwrap());
    let accounts = Arc::new(Accounts::parse_csv("id,plan\nA1,mobile\n", "a.csv").unwrap());
    let mut rater = Rater::new(handle.load(), accounts, RaterConfig::default());
    let mut out = Output::default();
    let e1 = usage("e1", 1500);
    rater.rate(&e1, e1.time, &mut out);
    // Grant of 1000 bytes, then e1: 1000 from the bundle, 500 chargeable in
    // tier 1 at 0.01 = 5.00.
    let rec = out.rated.last().unwrap();
    assert_eq!((rec.allowance_quantity.to_string().as_str(), rec.gross.to_string().as_str()), ("1000", "5.00"));
    assert_eq!(&*rec.catalog_version, "v1");

    let old = handle.swap(catalog::parse(&catalog_text("v2", "0.02", true), "v2.toml").unwrap());
    assert_eq!(&*old.version, "v1");
    rater.set_tables(handle.load());
    out.clear();
    let e2 = usage("e2", 600);
    rater.rate(&e2, e2.time, &mut out);
    // The bundle is empty and the tier counter is at 500 (carried over by
    // name): 500 more bytes at the new 0.02 = 10.00, 100 bytes at 0.001 = 0.10.
    let rec = out.rated.last().unwrap();
    assert_eq!(&*rec.catalog_version, "v2");
    assert_eq!(rec.allowance_quantity.to_string(), "0");
    assert_eq!(rec.gross.to_string(), "10.10");
    let state = rater.state("A1").unwrap();
    assert_eq!(state.main().to_string(), "-15.10");
    assert_eq!(rater.tables().plans[state.plan.unwrap() as usize].id.as_ref(), "mobile");
}
