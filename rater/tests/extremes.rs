//! Rating at the edges of what the bounds in `money` admit never panics.
//!
//! The golden cases are rated again with their catalogs' numbers pushed to
//! the largest values the catalog accepts, and their events' quantities and
//! amounts pushed to [`QUANTITY_MAX`], each event repeated so that the
//! period sums grow. Whatever the catalog loader and the decoder let
//! through must rate without a panic (an overflow in `Decimal` panics); what
//! they refuse must be refused with a position (catalog) or a field
//! (event).
//!
//! `PROPTEST_CASES=2000` runs a longer hunt.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::sample::select;
use ratewire_rater::money::{AMOUNT_MAX, QUANTITY_MAX, UNIT_PRICE_MAX};
use ratewire_rater::{Accounts, LoadError, Output, Rater, RaterConfig, RejectCode, catalog, decode};
use rust_decimal::Decimal;

/// How often each event of a case is rated (with a fresh id each time).
const REPEATS: usize = 40;

/// A golden case: its catalog, accounts and event lines.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    catalog: String,
    accounts: (String, String),
    events: Vec<serde_json::Value>,
}

static CASES: LazyLock<Vec<Case>> = LazyLock::new(|| {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    let mut cases = Vec::new();
    for dir in dirs {
        let accounts = ["accounts.csv", "accounts.toml"].iter().map(|n| dir.join(n)).find(|p| p.exists());
        let (Ok(catalog), Some(accounts), Ok(events)) =
            (fs::read_to_string(dir.join("catalog.toml")), accounts, fs::read_to_string(dir.join("events.jsonl")))
        else {
            continue;
        };
        let events = events.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let name = accounts.file_name().unwrap().to_string_lossy().into_owned();
        cases.push(Case {
            name: dir.file_name().unwrap().to_string_lossy().into_owned(),
            catalog,
            accounts: (name, fs::read_to_string(&accounts).unwrap()),
            events,
        });
    }
    assert!(cases.len() > 30, "the golden cases");
    cases
});

/// A replacement for a number of a catalog: the largest values the bounds
/// allow, and their neighbours just above (which must be refused).
fn big_number() -> impl Strategy<Value = String> {
    let unit_price = UNIT_PRICE_MAX.to_string();
    let amount = AMOUNT_MAX.to_string();
    prop_oneof![
        Just(unit_price.clone()),
        Just(amount.clone()),
        Just(format!("{}", UNIT_PRICE_MAX + Decimal::ONE)),
        Just(format!("{}", AMOUNT_MAX + Decimal::ONE)),
        Just("0.000001".to_string()),
        Just("100".to_string()),
        (1_u64..1_000_000_000_000).prop_map(|n| n.to_string()),
    ]
}

/// `text` with the `which`-th quoted decimal number (`"0.05"`, `"12"`) of
/// each line in `picks` replaced by `by`.
fn replace_numbers(text: &str, picks: &[(usize, String)]) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for (line, by) in picks {
        let Some(target) = lines.get_mut(line % text.lines().count().max(1)) else { continue };
        let Some(start) = target.find('"') else { continue };
        let Some(len) = target[start + 1..].find('"') else { continue };
        let inner = &target[start + 1..start + 1 + len];
        if !inner.is_empty() && inner.parse::<Decimal>().is_ok() {
            target.replace_range(start + 1..start + 1 + len, by);
        }
    }
    lines.join("\n") + "\n"
}

/// A quantity or amount for an event: the largest accepted, one above it,
/// or anything between.
fn big_quantity() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(QUANTITY_MAX.to_string()),
        Just((QUANTITY_MAX + Decimal::ONE).to_string()),
        Just("99999999999999999999999999".to_string()),
        (0_u64..1_000_000_000_000).prop_map(|n| n.to_string()),
    ]
}

/// Rates `case` with `catalog` (already compiled) and events whose numbers
/// are replaced by `quantities`, each repeated [`REPEATS`] times.
fn rate_all(case: &Case, catalog_text: &str, quantities: &[String]) -> Result<(), TestCaseError> {
    let tables = match catalog::parse(catalog_text, "catalog.toml") {
        Ok(tables) => tables,
        Err(LoadError::Invalid { diagnostics, .. }) => {
            prop_assert!(!diagnostics.is_empty(), "{}: refused without a diagnostic", case.name);
            return Ok(());
        }
        Err(e) => return Err(TestCaseError::fail(format!("{}: {e}", case.name))),
    };
    let (name, text) = &case.accounts;
    let parsed =
        if name.ends_with(".csv") { Accounts::parse_csv(text, name) } else { Accounts::parse_toml(text, name) };
    let Ok(accounts) = parsed else { return Ok(()) };
    let mut rater = Rater::new(Arc::new(tables), Arc::new(accounts), RaterConfig::default());
    let mut out = Output::default();
    let mut serial = 0_usize;
    let mut events: Vec<(DateTime<Utc>, Vec<u8>)> = Vec::new();
    for repeat in 0..REPEATS {
        for (i, event) in case.events.iter().enumerate() {
            let mut event = event.clone();
            let Some(object) = event.as_object_mut() else { continue };
            serial += 1;
            object.insert("id".into(), format!("x{serial}").into());
            let q = quantities[(i + repeat) % quantities.len()].clone();
            for field in ["quantity", "amount"] {
                if object.contains_key(field) {
                    object.insert(field.into(), q.clone().into());
                }
            }
            let bytes = serde_json::to_vec(&event).unwrap();
            match decode(&bytes) {
                Ok(decoded) => events.push((decoded.time, bytes)),
                Err(reject) => {
                    let too_large = reject.code == RejectCode::QuantityTooLarge;
                    prop_assert!(
                        !too_large || q.parse::<Decimal>().map_or(true, |d| d > QUANTITY_MAX),
                        "{}: {q} refused: {reject:?}",
                        case.name
                    );
                }
            }
        }
    }
    let now = events.iter().map(|(t, _)| *t).max().unwrap_or_else(Utc::now);
    for (_, bytes) in &events {
        let event = decode(bytes).unwrap();
        rater.rate(&event, now, &mut out);
        out.clear();
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(48),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Catalog numbers at the bounds, event quantities at the bound: rated
    /// or refused, never a panic.
    #[test]
    fn rating_at_the_bounds_never_panics(
        case in select(CASES.clone()),
        picks in prop::collection::vec((0_usize..200, big_number()), 0..12),
        quantities in prop::collection::vec(big_quantity(), 1..4),
    ) {
        let catalog = replace_numbers(&case.catalog, &picks);
        rate_all(&case, &catalog, &quantities)?;
    }
}

/// Every golden case, every catalog number at its largest accepted value
/// where it still compiles, every quantity at [`QUANTITY_MAX`].
#[test]
fn every_case_at_the_largest_quantity() {
    for case in CASES.iter() {
        rate_all(case, &case.catalog, &[QUANTITY_MAX.to_string()]).unwrap();
    }
}

/// The panic the robustness hunt found: 28 integer digits at 9 per unit.
/// The decoder now refuses the quantity, naming it.
#[test]
fn a_quantity_no_charge_could_hold_is_refused_by_the_decoder() {
    for quantity in ["\"9999999999999999999999999999\"", "18446744073709551615", "\"1000000000000.5\""] {
        let payload = format!(
            r#"{{"v":1,"id":"e1","kind":"usage","account":"A1","time":"2026-11-03T10:00:00Z","service":"sms","quantity":{quantity}}}"#
        );
        let reject = decode(payload.as_bytes()).unwrap_err();
        assert_eq!(reject.code, RejectCode::QuantityTooLarge, "{quantity}");
        assert_eq!(reject.field, Some("quantity"));
        assert!(reject.message.starts_with("quantity: ") && reject.message.contains("1000000000000"), "{reject:?}");
    }
    let payment = br#"{"v":1,"id":"p","kind":"adjustment","account":"A1","time":"2026-11-03T10:00:00Z","amount":"-1000000000001"}"#;
    assert_eq!(decode(payment).unwrap_err().code, RejectCode::QuantityTooLarge);
}

/// A price that charges more than `UNIT_PRICE_MAX` per unit, and an amount
/// above `AMOUNT_MAX`, are refused at load with their line.
#[test]
fn a_catalog_beyond_the_bounds_is_refused_with_its_line() {
    let catalog = |price: &str, fee: &str| {
        format!(
            "version = \"bounds-1\"\ncurrency = \"EUR\"\n[services.sms]\nunit = \"message\"\n\
             [[plans.basic.versions]]\neffective_from = 2026-01-01\n\
             [[plans.basic.versions.rates]]\nservice = \"sms\"\nmodel = \"per_unit\"\nprice = \"{price}\"\nrate_unit = \"10\"\n\
             connect_fee = \"{fee}\"\n"
        )
    };
    assert!(catalog::parse(&catalog("10000000", "1000000000000"), "c.toml").is_ok(), "exactly at the bounds");
    let too_dear = catalog::parse(&catalog("10000001", "1"), "c.toml").unwrap_err().to_string();
    assert!(too_dear.contains("c.toml:9:") && too_dear.contains("per unit"), "{too_dear}");
    let too_big = catalog::parse(&catalog("1", "1000000000001"), "c.toml").unwrap_err().to_string();
    assert!(too_big.contains("c.toml:12:") && too_big.contains("at most 1000000000000"), "{too_big}");
}

/// Opening balances and credit limits beyond `AMOUNT_MAX` are refused.
#[test]
fn accounts_beyond_the_bounds_are_refused() {
    let over = (AMOUNT_MAX + Decimal::ONE).to_string();
    let balance = Accounts::parse_csv(&format!("id,plan,balances\nA1,basic,main={over}\n"), "a.csv");
    assert!(balance.unwrap_err().to_string().contains("at most"));
    let limit = Accounts::parse_csv(&format!("id,plan,credit_limit\nA1,basic,{over}\n"), "a.csv");
    assert!(limit.unwrap_err().to_string().contains("credit_limit"));
}
