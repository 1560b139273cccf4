//! Golden cases: each folder under `tests/cases/` holds a catalog, accounts,
//! events and the expected outcome worked out by hand.
//!
//! - `catalog.toml`: the catalog;
//! - `accounts.csv` or `accounts.toml`: the accounts;
//! - `events.jsonl`: one event envelope per line (blank lines and lines
//!   starting with `//` are skipped);
//! - `expected.toml`: `now` (optional, RFC 3339; default: the latest event
//!   time) and arrays `[[rated]]`, `[[rejected]]`, `[[actions]]`, each entry
//!   listing only the fields it checks, in output order. Every list must
//!   have exactly as many entries as the rater produced. Decimal values
//!   compare as numbers ("0.10" equals "0.1"). A case whose catalog must be
//!   refused has `catalog_error = "text the message contains"` instead.
//!
//! Run one case: `cargo test -p ratewire-rater --test golden -- --nocapture`
//! with `GOLDEN=<case>`.

use std::fs;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{Context, Result, bail, ensure};
use chrono::{DateTime, Utc};
use ratewire_rater::{Accounts, Output, Rater, RaterConfig, catalog, decode};
use rust_decimal::Decimal;
use serde_json::Value;

#[test]
fn golden_cases() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let only = std::env::var("GOLDEN").ok();
    let mut cases: Vec<_> =
        fs::read_dir(&root)?.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    cases.sort();
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in &cases {
        let name = case.file_name().unwrap_or_default().to_string_lossy().to_string();
        if only.as_ref().is_some_and(|o| *o != name) {
            continue;
        }
        ran += 1;
        if let Err(e) = run_case(case) {
            failures.push(format!("{name}: {e:#}"));
        }
    }
    ensure!(ran > 0, "no golden case ran");
    if !failures.is_empty() {
        bail!("{} of {ran} golden cases failed:\n{}", failures.len(), failures.join("\n\n"));
    }
    println!("{ran} golden cases passed");
    Ok(())
}

fn run_case(dir: &Path) -> Result<()> {
    let expected: toml::Table =
        toml::from_str(&fs::read_to_string(dir.join("expected.toml")).context("expected.toml")?)
            .context("expected.toml")?;
    let catalog_path = dir.join("catalog.toml");
    let tables = match (catalog::load(&catalog_path), expected.get("catalog_error")) {
        (Err(e), Some(want)) => {
            let want = want.as_str().context("catalog_error is a string")?;
            ensure!(e.to_string().contains(want), "catalog error {:?} does not contain {want:?}", e.to_string());
            return Ok(());
        }
        (Ok(_), Some(want)) => bail!("catalog was accepted, expected an error containing {want:?}"),
        (Err(e), None) => bail!("catalog refused: {e}"),
        (Ok(t), None) => t,
    };
    let accounts = if dir.join("accounts.toml").exists() {
        Accounts::load(&dir.join("accounts.toml"))?
    } else {
        Accounts::load(&dir.join("accounts.csv"))?
    };
    accounts.check(&tables)?;

    let text = fs::read_to_string(dir.join("events.jsonl")).context("events.jsonl")?;
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("//")).collect();
    let mut rater = Rater::new(Arc::new(tables), Arc::new(accounts), RaterConfig::default());
    let mut out = Output::default();
    let decoded: Vec<_> = lines.iter().map(|l| decode(l.as_bytes())).collect();
    let now = match expected.get("now") {
        Some(v) => {
            let text =
                v.as_str().map(String::from).or_else(|| v.as_datetime().map(ToString::to_string)).context("now")?;
            DateTime::parse_from_rfc3339(&text.replace(' ', "T")).context("now")?.with_timezone(&Utc)
        }
        None => decoded.iter().filter_map(|e| e.as_ref().ok()).map(|e| e.time).max().unwrap_or_else(Utc::now),
    };
    for event in decoded {
        match event {
            Ok(event) => rater.rate(&event, now, &mut out),
            Err(reject) => rater.reject_payload(reject, &mut out),
        }
    }
    compare("rated", &serde_json::to_value(&out.rated)?, expected.get("rated"))?;
    compare("rejected", &serde_json::to_value(&out.rejected)?, expected.get("rejected"))?;
    compare("actions", &serde_json::to_value(&out.actions)?, expected.get("actions"))?;
    Ok(())
}

fn compare(what: &str, actual: &Value, expected: Option<&toml::Value>) -> Result<()> {
    let actual = actual.as_array().context("output is a list")?;
    let expected = match expected {
        None => Vec::new(),
        Some(v) => v.as_array().with_context(|| format!("{what} is an array of tables"))?.clone(),
    };
    ensure!(
        actual.len() == expected.len(),
        "{what}: {} produced, {} expected; produced:\n{}",
        actual.len(),
        expected.len(),
        actual.iter().map(Value::to_string).collect::<Vec<_>>().join("\n")
    );
    for (i, (a, e)) in actual.iter().zip(&expected).enumerate() {
        let e = serde_json::to_value(e)?;
        subset(&e, a).with_context(|| format!("{what}[{i}]: actual {a}"))?;
    }
    Ok(())
}

/// Whether every field of `expected` is in `actual` with an equal value.
fn subset(expected: &Value, actual: &Value) -> Result<()> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let av = a.get(k).with_context(|| format!("field {k} is missing"))?;
                subset(ev, av).with_context(|| format!("field {k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            ensure!(e.len() == a.len(), "{} items expected, {} found", e.len(), a.len());
            for (ev, av) in e.iter().zip(a) {
                subset(ev, av)?;
            }
            Ok(())
        }
        (e, a) => {
            if let (Some(e), Some(a)) = (as_decimal(e), as_decimal(a)) {
                ensure!(e == a, "expected {e}, found {a}");
                return Ok(());
            }
            ensure!(e == a, "expected {e}, found {a}");
            Ok(())
        }
    }
}

fn as_decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::String(s) => Decimal::from_str(s).ok(),
        Value::Number(n) => Decimal::from_str(&n.to_string()).ok(),
        _ => None,
    }
}
