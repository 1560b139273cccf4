//! Records for unit tests, built by hand so that every field is controlled.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use ratewire_rater::money::Currency;
use ratewire_rater::time::Period;
use ratewire_rater::{Draw, Draws, Fact, FactKind, FactSource, Name, Rated, RecordKind, Reject, RejectCode, Rejected};
use rust_decimal::Decimal;

use crate::batch::RejectedEvent;

pub(crate) fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

pub(crate) fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}")).with_timezone(&Utc)
}

/// A usage record of `gross` (net + 19% tax) drawn from `main`.
pub(crate) fn rated(event_id: &str, account: &str, at: &str, period: Period, net: &str) -> Rated {
    let net = dec(net);
    let tax = (net * dec("0.19")).round_dp(10);
    let gross = net + tax;
    Rated {
        event_id: event_id.into(),
        kind: RecordKind::Usage,
        account: account.into(),
        service: "sms".into(),
        zone: None,
        destination: None,
        device: None,
        event_time: time(at),
        period,
        original_period: None,
        quantity: Decimal::ONE,
        rated_quantity: Decimal::ONE,
        allowance_quantity: Decimal::ZERO,
        charge: net,
        discount: Decimal::ZERO,
        net,
        tax,
        gross,
        currency: Currency::parse("EUR").unwrap_or_else(|| panic!("EUR")),
        tariff: Some("basic@2026-01-01".into()),
        discounts: Default::default(),
        partner: None,
        partner_share: Decimal::ZERO,
        catalog_version: "test-1".into(),
        draws: Draws::from_vec(vec![Draw { balance: "main".into(), amount: gross, remaining: -gross }]),
    }
}

/// A malformed-payload reject read at `offset`.
pub(crate) fn rejected(offset: i64, account: Option<&str>) -> RejectedEvent {
    RejectedEvent {
        rejected: Rejected {
            event_id: None,
            account: account.map(Into::into),
            reject: Reject::payload(RejectCode::MalformedJson, "payload: not JSON"),
            catalog_version: Name::new("test-1"),
        },
        event_time: None,
        payload: b"\xff{not json".to_vec(),
        source: Name::new("events.jsonl"),
        partition: 0,
        offset,
    }
}

/// A payment fact of `amount` booked in the month of `at`, nothing owed.
pub(crate) fn fact(event_id: &str, account: &str, at: &str, amount: &str) -> Fact {
    let event_time = time(at);
    Fact {
        event_id: event_id.into(),
        account: account.into(),
        kind: FactKind::Payment,
        source: FactSource::Event,
        event_time,
        period: Period::of_date(event_time.date_naive()),
        amount: dec(amount),
        currency: Currency::parse("EUR").unwrap_or_else(|| panic!("EUR")),
        action: None,
        plan: None,
        previous_plan: None,
        channel: None,
        reason: None,
        owed: Some(Decimal::ZERO),
        owed_due_at: None,
        catalog_version: "test-1".into(),
    }
}
