//! Events: the versioned JSON envelope and its decoder.
//!
//! One JSON object per event, `"v": 1`, with the fields documented in
//! `docs/events.md`; CloudEvents 1.0 JSON (`specversion`, `type`
//! `ratewire.<kind>`, `data`) is read too. Decoding never fails with an
//! error: it returns an [`Event`] or a [`Reject`] naming the field at fault.
//!
//! Decoding reads the payload leniently into a `Raw` (module `raw`), each
//! field kept whatever its JSON type, then checks the fields (`check`). The
//! common payload, a flat native envelope, is read by a fast scanner
//! (`scan`); anything it does not handle goes through serde, which is the
//! reference the scanner is tested against (`differential`). Event times
//! are read by `timestamp`.

mod check;
#[cfg(test)]
mod differential;
mod raw;
mod scan;
mod timestamp;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use smol_str::SmolStr;

use crate::money::Currency;
use crate::record::{AccountId, EventId};
use crate::reject::{Reject, RejectCode};
use raw::Raw;

/// The envelope version this build writes and reads.
pub const ENVELOPE_VERSION: u64 = 1;
/// Largest payload [`decode`] accepts, in bytes (the envelope's documented
/// limit); larger ones are rejected unread. [`decode_bounded`] takes another.
pub const EVENT_BYTES_MAX: usize = 64 * 1024;
/// Longest event id, account id, service or plan name, in bytes.
pub const ID_BYTES_MAX: usize = 128;
/// Longest destination number, in digits.
pub const DESTINATION_DIGITS_MAX: usize = 32;
/// Longest free-text field (reasons, channels), in bytes.
pub const TEXT_BYTES_MAX: usize = 1024;

/// A decoded, well-formed event. Whether it can be rated (known account,
/// service, ...) is the rater's question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Unique per event; a resent event carries the same id.
    pub id: EventId,
    /// The account the event belongs to (the Kafka key).
    pub account: AccountId,
    /// When it happened (start of a call or session).
    pub time: DateTime<Utc>,
    /// What happened.
    pub body: Body,
}

/// The kind-specific part of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Consumption of a service.
    Usage(Usage),
    /// A subscription lifecycle step.
    Subscription {
        /// Which step.
        action: SubscriptionAction,
        /// The plan, for `activate` and `change_plan`.
        plan: Option<String>,
    },
    /// A payment against what the account owes.
    Payment(Money),
    /// Prepaid credit added to a money balance.
    TopUp(Money),
    /// A manual credit (positive) or debit (negative) with a reason.
    Adjustment {
        /// The amount; its sign says credit or debit.
        money: Money,
        /// Why, for the audit trail.
        reason: Option<String>,
    },
    /// The customer contacted support (a churn signal).
    SupportContact {
        /// Phone, chat, mail, ...
        channel: Option<String>,
        /// Why they called.
        reason: Option<String>,
    },
    /// Service blocked by an operator or an upstream system.
    Block {
        /// Why.
        reason: Option<String>,
    },
    /// Service restored.
    Unblock {
        /// Why.
        reason: Option<String>,
    },
}

/// Usage of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// Service name from the catalog (`voice`, `data`, ...), inline when
    /// short, as service names are.
    pub service: SmolStr,
    /// Amount used, in the service's unit; never negative.
    pub quantity: Decimal,
    /// The unit the sender meant; checked against the service's unit.
    pub unit: Option<SmolStr>,
    /// Called number or destination, digits only, for prefix lookup.
    pub destination: Option<SmolStr>,
    /// Device id, for per-device charges (telematics).
    pub device: Option<SmolStr>,
    /// Access point name, kept for the record.
    pub apn: Option<SmolStr>,
}

/// An amount of money with an optional currency and target balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    /// The amount.
    pub amount: Decimal,
    /// Its currency; the account's when absent.
    pub currency: Option<Currency>,
    /// The balance it goes to; `main` when absent.
    pub balance: Option<String>,
}

/// A step in a subscription's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionAction {
    /// Start service on a plan.
    Activate,
    /// Move to another plan.
    ChangePlan,
    /// Pause service.
    Suspend,
    /// End a suspension.
    Resume,
    /// End service.
    Cancel,
}

impl SubscriptionAction {
    /// The action of a name as written in the envelope.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "activate" => Self::Activate,
            "change_plan" => Self::ChangePlan,
            "suspend" => Self::Suspend,
            "resume" => Self::Resume,
            "cancel" => Self::Cancel,
            _ => return None,
        })
    }

    /// The name as written in the envelope.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Activate => "activate",
            Self::ChangePlan => "change_plan",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::Cancel => "cancel",
        }
    }
}

impl Body {
    /// The kind as written in the envelope.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Usage(_) => "usage",
            Self::Subscription { .. } => "subscription",
            Self::Payment(_) => "payment",
            Self::TopUp(_) => "topup",
            Self::Adjustment { .. } => "adjustment",
            Self::SupportContact { .. } => "support_contact",
            Self::Block { .. } => "block",
            Self::Unblock { .. } => "unblock",
        }
    }
}

/// Decodes one payload (a native envelope or a CloudEvent) of at most
/// [`EVENT_BYTES_MAX`] bytes.
pub fn decode(payload: &[u8]) -> Result<Event, Reject> {
    decode_bounded(payload, EVENT_BYTES_MAX)
}

/// [`decode`] with another size limit: a payload of more than `bytes_max`
/// bytes is rejected unread (`1002 OVERSIZED`). The streaming pipeline
/// passes its configured `pipeline.message_bytes_max`.
pub fn decode_bounded(payload: &[u8], bytes_max: usize) -> Result<Event, Reject> {
    if payload.len() > bytes_max {
        return Err(Reject::payload(
            RejectCode::Oversized,
            format!("payload is {} bytes, more than the {bytes_max} accepted", payload.len()),
        ));
    }
    // Serde would also read a struct from a JSON array, positionally.
    if payload.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(malformed(payload, "payload is not a JSON object".into()));
    }
    let Ok(json) = std::str::from_utf8(payload) else {
        // serde_json checks the strings it keeps but not those it skips (the
        // values of unknown fields), so a payload whose only invalid bytes
        // sit there is still read.
        return check::event(&read_json(payload, serde_json::from_slice(payload))?);
    };
    let mut raw = Raw::default();
    match scan::scan(json, &mut raw) {
        Some(()) => check::event(&raw),
        None => check::event(&read_json(payload, serde_json::from_str(json))?),
    }
}

/// The serde path's result, its error as a reject.
fn read_json<'a>(payload: &[u8], read: serde_json::Result<Raw<'a>>) -> Result<Raw<'a>, Reject> {
    read.map_err(|e| malformed(payload, format!("payload is not a JSON object: {e}")))
}

/// The reject of an unreadable payload; says so when it is not UTF-8.
fn malformed(payload: &[u8], message: String) -> Reject {
    match std::str::from_utf8(payload) {
        Err(e) => Reject::payload(
            RejectCode::MalformedJson,
            format!("payload is not UTF-8 (invalid byte at offset {})", e.valid_up_to()),
        ),
        Ok(_) => Reject::payload(RejectCode::MalformedJson, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reject(json: &str) -> Reject {
        decode(json.as_bytes()).expect_err(json)
    }

    #[test]
    fn values_the_ledger_cannot_hold_exactly_are_refused() {
        let usage = |q: &str, t: &str| {
            format!(r#"{{"v":1,"id":"e1","account":"A1","kind":"usage","time":"{t}","service":"sms","quantity":{q}}}"#)
        };
        let fine = "2026-11-03T10:00:00.123456Z";
        for q in ["\"0.0000000001\"", "\"2.500000000000\"", "\"1000000000000\"", "\"999999999999.9999999999\""] {
            assert!(decode(usage(q, fine).as_bytes()).is_ok(), "{q}");
        }
        for (q, at, code, field) in [
            ("\"0.00000000001\"", fine, RejectCode::InvalidField, "quantity"),
            ("\"10000000000000000000000000000\"", fine, RejectCode::QuantityTooLarge, "quantity"),
            ("\"1e400\"", fine, RejectCode::InvalidField, "quantity"),
            ("\"1000000000000.0000000001\"", fine, RejectCode::QuantityTooLarge, "quantity"),
            ("1000000000001", fine, RejectCode::QuantityTooLarge, "quantity"),
            ("1", "2026-11-03T10:00:00.1234567Z", RejectCode::InvalidField, "time"),
        ] {
            let r = reject(&usage(q, at));
            assert_eq!((r.code, r.field), (code, Some(field)), "{q} {at}");
        }
        let payment = r#"{"v":1,"id":"p","kind":"payment","account":"A","time":"2026-11-03T10:00:00Z","amount":"1.000000000001"}"#;
        assert_eq!(reject(payment).field, Some("amount"));
    }

    #[test]
    fn decodes_usage() {
        let e = decode(
            br#"{"v":1,"id":"e1","kind":"usage","account":"A1","time":"2026-11-03T10:15:00+01:00",
                 "service":"voice","quantity":125,"unit":"second","destination":"+4930123"}"#,
        )
        .unwrap();
        assert_eq!(e.id, "e1");
        assert_eq!(e.time.to_rfc3339(), "2026-11-03T09:15:00+00:00");
        let Body::Usage(u) = e.body else { panic!("usage expected") };
        assert_eq!(u.quantity, Decimal::from(125));
        assert_eq!(u.destination.as_deref(), Some("4930123"));
    }

    #[test]
    fn decodes_cloud_event() {
        let e = decode(
            br#"{"specversion":"1.0","id":"ce-1","source":"/mediation","type":"ratewire.topup",
                 "subject":"A7","time":"2026-11-03T10:15:00Z","data":{"amount":"10.50","currency":"EUR"}}"#,
        )
        .unwrap();
        assert_eq!(e.account, "A7");
        let Body::TopUp(m) = e.body else { panic!("topup expected") };
        assert_eq!(m.amount.to_string(), "10.50");
        assert_eq!(m.currency.unwrap().as_str(), "EUR");
    }

    #[test]
    fn rejects_name_the_field() {
        let base = r#""v":1,"id":"e1","kind":"usage","account":"A1","time":"2026-11-03T10:15:00Z","service":"voice""#;
        let r = reject(&format!("{{{base}}}"));
        assert_eq!((r.code, r.field), (RejectCode::MissingField, Some("quantity")));
        let r = reject(&format!("{{{base},\"quantity\":-5}}"));
        assert_eq!((r.code, r.field), (RejectCode::NegativeQuantity, Some("quantity")));
        let r = reject(&format!("{{{base},\"quantity\":1.5}}"));
        assert_eq!((r.code, r.field), (RejectCode::InvalidField, Some("quantity")));
        assert!(r.message.contains("quantity"));
        let r = reject(&format!("{{{base},\"quantity\":true}}"));
        assert_eq!((r.code, r.field), (RejectCode::InvalidField, Some("quantity")));
        let r = reject(&format!("{{{base},\"quantity\":1,\"destination\":\"12ab\"}}"));
        assert_eq!((r.code, r.field), (RejectCode::InvalidField, Some("destination")));
        let r =
            reject(r#"{"v":1,"id":"e1","kind":"usage","account":"A1","time":"yesterday","service":"s","quantity":1}"#);
        assert_eq!((r.code, r.field), (RejectCode::InvalidField, Some("time")));
        let r = reject(r#"{"v":2,"id":"e1"}"#);
        assert_eq!((r.code, r.field), (RejectCode::UnsupportedVersion, Some("v")));
        let r = reject(r#"{"v":1,"id":"e1","kind":"teleport","account":"A","time":"2026-11-03T10:15:00Z"}"#);
        assert_eq!((r.code, r.field), (RejectCode::UnknownKind, Some("kind")));
    }

    #[test]
    fn rejects_bad_payloads() {
        assert_eq!(reject("{not json").code, RejectCode::MalformedJson);
        assert_eq!(reject("[1,2]").code, RejectCode::MalformedJson);
        assert_eq!(decode(&[0xff, 0xfe, b'{']).unwrap_err().code, RejectCode::MalformedJson);
        let big = format!("{{\"reason\":\"{}\"}}", "x".repeat(EVENT_BYTES_MAX));
        assert_eq!(reject(&big).code, RejectCode::Oversized);
        let block = br#"{"v":1,"id":"b","kind":"block","account":"A","time":"2026-11-03T10:15:00Z"}"#;
        assert!(decode_bounded(block, block.len()).is_ok());
        let r = decode_bounded(block, block.len() - 1).unwrap_err();
        assert_eq!((r.code, r.field), (RejectCode::Oversized, None));
        assert_eq!(r.message, format!("payload is {} bytes, more than the {} accepted", block.len(), block.len() - 1));
        // A larger bound reads it: it then lacks `v`.
        assert_eq!(decode_bounded(big.as_bytes(), 1 << 20).unwrap_err().code, RejectCode::MissingField);
    }

    #[test]
    fn money_must_be_exact() {
        let e =
            decode(br#"{"v":1,"id":"p","kind":"payment","account":"A","time":"2026-11-03T10:15:00Z","amount":"0.10"}"#)
                .unwrap();
        assert_eq!(e.body, Body::Payment(Money { amount: "0.10".parse().unwrap(), currency: None, balance: None }));
        let r = reject(r#"{"v":1,"id":"p","kind":"payment","account":"A","time":"2026-11-03T10:15:00Z","amount":0.1}"#);
        assert_eq!((r.code, r.field), (RejectCode::InvalidField, Some("amount")));
    }
}
