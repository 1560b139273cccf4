//! Account ids find their own state whatever their length: short ids are
//! held inline and long ones on the heap, and ids that share a long prefix
//! stay apart.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::sync::Arc;

use ratewire_rater::{Accounts, Output, Rater, RaterConfig, RejectCode, catalog, decode};
use rust_decimal::Decimal;

const CATALOG: &str = r#"version = "v1"
currency = "EUR"

[services.sms]
unit = "message"

[[plans.mobile.versions]]
effective_from = 2026-01-01

[[plans.mobile.versions.rates]]
service = "sms"
model = "per_unit"
price = "0.10"
"#;

/// 23 bytes, the longest id held inline, and two longer ids that differ
/// only in their last byte.
const SHORT: &str = "A1";
const INLINE_MAX: &str = "acct-0123456789-0123456";
const LONG_A: &str = "acct-0123456789-0123456789-a";
const LONG_B: &str = "acct-0123456789-0123456789-b";

fn sms(id: &str, account: &str) -> ratewire_rater::Event {
    let json = format!(
        r#"{{"v":1,"id":"{id}","kind":"usage","account":"{account}","time":"2026-11-03T10:00:00Z","service":"sms","quantity":1}}"#
    );
    decode(json.as_bytes()).unwrap()
}

#[test]
fn every_id_length_finds_its_own_state() {
    assert_eq!(INLINE_MAX.len(), 23);
    let tables = Arc::new(catalog::parse(CATALOG, "c.toml").unwrap());
    let csv = format!("id,plan\n{SHORT},mobile\n{INLINE_MAX},mobile\n{LONG_A},mobile\n{LONG_B},mobile\n");
    let accounts = Arc::new(Accounts::parse_csv(&csv, "a.csv").unwrap());
    let mut rater = Rater::new(tables, accounts, RaterConfig::default());
    let mut out = Output::default();
    // One message for the short id, two for the 23-byte one, three and four
    // for the long ones, interleaved.
    let sends = [SHORT, INLINE_MAX, LONG_A, LONG_B, INLINE_MAX, LONG_A, LONG_B, LONG_A, LONG_B, LONG_B];
    for (n, account) in sends.iter().enumerate() {
        let event = sms(&format!("e{n}"), account);
        rater.rate(&event, event.time, &mut out);
    }
    // An id one byte longer than a known long id is another account.
    let stranger = sms("e-x", &format!("{LONG_A}x"));
    rater.rate(&stranger, stranger.time, &mut out);

    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].reject.code, RejectCode::UnknownAccount);
    for (account, messages) in [(SHORT, 1), (INLINE_MAX, 2), (LONG_A, 3), (LONG_B, 4)] {
        let records: Vec<_> = out.rated.iter().filter(|r| r.account == account).collect();
        assert_eq!(records.len(), messages, "{account}");
        // 0.10 a message, owed on the main balance.
        let state = rater.state(account).unwrap();
        assert_eq!(state.main, Decimal::new(-10, 2) * Decimal::from(messages), "{account}");
    }
    assert_eq!(rater.states().len(), 4);
}
