//! What a closed period leaves owing blocks the account after its due date
//! unless a credit to main pays it off first, whatever kind of credit.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::sync::Arc;

use ratewire_rater::{Accounts, ActionKind, Output, Rater, RaterConfig, catalog, decode};

const CATALOG: &str = r#"
version = "unpaid-1"
currency = "EUR"
[services.sms]
unit = "message"
[thresholds]
unpaid_block_after_days = 10
[[plans.p.versions]]
effective_from = 2026-01-01
[[plans.p.versions.rates]]
service = "sms"
model = "per_unit"
price = "1.00"
"#;

fn blocks_after(credit: Option<&str>) -> Vec<ActionKind> {
    let tables = catalog::parse(CATALOG, "catalog.toml").unwrap();
    let accounts = Accounts::parse_csv("id,plan,credit_limit\nA1,p,100\n", "accounts.csv").unwrap();
    let mut rater = Rater::new(Arc::new(tables), Arc::new(accounts), RaterConfig::default());
    let mut lines = vec![
        // November leaves 5.00 owing, due on 11 December.
        r#"{"v":1,"id":"u1","kind":"usage","account":"A1","time":"2026-11-20T10:00:00Z","service":"sms","quantity":5}"#
            .to_string(),
        r#"{"v":1,"id":"u2","kind":"usage","account":"A1","time":"2026-12-02T10:00:00Z","service":"sms","quantity":1}"#
            .to_string(),
    ];
    if let Some(credit) = credit {
        lines.push(credit.to_string());
    }
    lines.push(
        r#"{"v":1,"id":"u3","kind":"usage","account":"A1","time":"2026-12-20T10:00:00Z","service":"sms","quantity":1}"#
            .to_string(),
    );
    let mut out = Output::default();
    for line in &lines {
        let event = decode(line.as_bytes()).unwrap();
        rater.rate(&event, event.time, &mut out);
    }
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    out.actions.iter().map(|a| a.kind).collect()
}

#[test]
fn unpaid_debt_blocks_after_the_due_date() {
    assert_eq!(blocks_after(None), [ActionKind::Block]);
}

#[test]
fn a_credit_adjustment_pays_off_the_debt_too() {
    let credit = r#"{"v":1,"id":"c1","kind":"adjustment","account":"A1","time":"2026-12-05T10:00:00Z","amount":"5.00","reason":"goodwill"}"#;
    assert_eq!(blocks_after(Some(credit)), []);
}

#[test]
fn a_partial_payment_does_not() {
    let credit = r#"{"v":1,"id":"p1","kind":"payment","account":"A1","time":"2026-12-05T10:00:00Z","amount":"4.99"}"#;
    assert_eq!(blocks_after(Some(credit)), [ActionKind::Block]);
}
