//! Events: the versioned JSON envelope and its decoder.
//!
//! One JSON object per event, `"v": 1`, with the fields documented in
//! `docs/events.md`; CloudEvents 1.0 JSON (`specversion`, `type`
//! `ratewire.<kind>`, `data`) is read too. Decoding never fails with an
//! error: it returns an [`Event`] or a [`Reject`] naming the field at fault.

use std::borrow::Cow;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::money::Currency;
use crate::reject::{Reject, RejectCode};

/// The envelope version this build writes and reads.
pub const ENVELOPE_VERSION: u64 = 1;
/// Largest payload accepted, in bytes; larger ones are rejected unread.
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
    pub id: String,
    /// The account the event belongs to (the Kafka key).
    pub account: String,
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
    /// Service name from the catalog (`voice`, `data`, ...).
    pub service: String,
    /// Amount used, in the service's unit; never negative.
    pub quantity: Decimal,
    /// The unit the sender meant; checked against the service's unit.
    pub unit: Option<String>,
    /// Called number or destination, digits only, for prefix lookup.
    pub destination: Option<String>,
    /// Device id, for per-device charges (telematics).
    pub device: Option<String>,
    /// Access point name, kept for the record.
    pub apn: Option<String>,
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
    fn parse(text: &str) -> Option<Self> {
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

/// Decodes one payload (a native envelope or a CloudEvent).
pub fn decode(payload: &[u8]) -> Result<Event, Reject> {
    if payload.len() > EVENT_BYTES_MAX {
        return Err(Reject::payload(
            RejectCode::Oversized,
            format!("payload is {} bytes, more than the {EVENT_BYTES_MAX} accepted", payload.len()),
        ));
    }
    // Serde would also read a struct from a JSON array, positionally.
    if payload.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(malformed(payload, "payload is not a JSON object".into()));
    }
    let raw: Raw<'_> = serde_json::from_slice(payload)
        .map_err(|e| malformed(payload, format!("payload is not a JSON object: {e}")))?;
    if raw.specversion.is_present() { decode_cloud_event(raw) } else { decode_native(&raw) }
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

fn decode_native(raw: &Raw<'_>) -> Result<Event, Reject> {
    match &raw.v {
        Field::Absent => return Err(missing("v")),
        Field::Unsigned(ENVELOPE_VERSION) => {}
        other => {
            return Err(Reject::field(
                RejectCode::UnsupportedVersion,
                "v",
                format!(
                    "v: envelope version {} is not supported; this build reads v {ENVELOPE_VERSION}",
                    other.describe()
                ),
            ));
        }
    }
    let kind = required_str(&raw.kind, "kind")?;
    let body = decode_body(kind, "kind", raw)?;
    Ok(Event { id: id(&raw.id, "id")?, account: id(&raw.account, "account")?, time: time(&raw.time, "time")?, body })
}

fn decode_cloud_event(raw: Raw<'_>) -> Result<Event, Reject> {
    match &raw.specversion {
        Field::Str(v) if v == "1.0" => {}
        other => {
            return Err(Reject::field(
                RejectCode::UnsupportedVersion,
                "specversion",
                format!("specversion: CloudEvents {} is not supported; use 1.0", other.describe()),
            ));
        }
    }
    let ce_type = required_str(&raw.ce_type, "type")?;
    let Some(kind) = ce_type.strip_prefix("ratewire.") else {
        return Err(Reject::field(
            RejectCode::UnknownKind,
            "type",
            format!("type: {ce_type:?} is not a ratewire event type (expected ratewire.<kind>)"),
        ));
    };
    let data = raw.data.as_deref().ok_or_else(|| missing("data"))?;
    let body = decode_body(kind, "type", data)?;
    // The account is the CloudEvents subject, or data.account.
    let account =
        if raw.subject.is_present() { id(&raw.subject, "subject")? } else { id(&data.account, "data.account")? };
    Ok(Event { id: id(&raw.id, "id")?, account, time: time(&raw.time, "time")?, body })
}

fn decode_body(kind: &str, kind_field: &'static str, raw: &Raw<'_>) -> Result<Body, Reject> {
    Ok(match kind {
        "usage" => Body::Usage(Usage {
            service: id(&raw.service, "service")?,
            quantity: quantity(&raw.quantity, "quantity")?,
            unit: optional_id(&raw.unit, "unit")?,
            destination: destination(&raw.destination)?,
            device: optional_id(&raw.device, "device")?,
            apn: optional_id(&raw.apn, "apn")?,
        }),
        "subscription" => {
            let action_text = required_str(&raw.action, "action")?;
            let action = SubscriptionAction::parse(action_text).ok_or_else(|| {
                invalid(
                    "action",
                    format!("action: {action_text:?} is not one of activate, change_plan, suspend, resume, cancel"),
                )
            })?;
            let plan = optional_id(&raw.plan, "plan")?;
            if matches!(action, SubscriptionAction::Activate | SubscriptionAction::ChangePlan) && plan.is_none() {
                return Err(Reject::field(
                    RejectCode::MissingField,
                    "plan",
                    format!("plan: required for subscription action {action_text}"),
                ));
            }
            Body::Subscription { action, plan }
        }
        "payment" => Body::Payment(money(raw, false)?),
        "topup" => Body::TopUp(money(raw, false)?),
        "adjustment" => Body::Adjustment { money: money(raw, true)?, reason: text(&raw.reason, "reason")? },
        "support_contact" => {
            Body::SupportContact { channel: text(&raw.channel, "channel")?, reason: text(&raw.reason, "reason")? }
        }
        "block" => Body::Block { reason: text(&raw.reason, "reason")? },
        "unblock" => Body::Unblock { reason: text(&raw.reason, "reason")? },
        other => {
            return Err(Reject::field(
                RejectCode::UnknownKind,
                kind_field,
                format!(
                    "{kind_field}: {other:?} is not an event kind (usage, subscription, payment, topup, adjustment, support_contact, block, unblock)"
                ),
            ));
        }
    })
}

fn missing(field: &'static str) -> Reject {
    Reject::field(RejectCode::MissingField, field, format!("{field}: required field is missing"))
}

fn invalid(field: &'static str, message: String) -> Reject {
    Reject::field(RejectCode::InvalidField, field, message)
}

fn required_str<'f>(f: &'f Field<'_>, name: &'static str) -> Result<&'f str, Reject> {
    match f {
        Field::Absent => Err(missing(name)),
        Field::Str(s) => Ok(s),
        other => Err(invalid(name, format!("{name}: expected a string, found {}", other.describe()))),
    }
}

fn id(f: &Field<'_>, name: &'static str) -> Result<String, Reject> {
    optional_id(f, name)?.ok_or_else(|| missing(name))
}

fn optional_id(f: &Field<'_>, name: &'static str) -> Result<Option<String>, Reject> {
    let s = match f {
        Field::Absent => return Ok(None),
        Field::Str(s) => s,
        other => return Err(invalid(name, format!("{name}: expected a string, found {}", other.describe()))),
    };
    if s.is_empty() {
        return Err(invalid(name, format!("{name}: must not be empty")));
    }
    if s.len() > ID_BYTES_MAX {
        return Err(invalid(name, format!("{name}: {} bytes long, at most {ID_BYTES_MAX} allowed", s.len())));
    }
    if s.chars().any(char::is_control) {
        return Err(invalid(name, format!("{name}: contains control characters")));
    }
    Ok(Some(s.to_string()))
}

fn text(f: &Field<'_>, name: &'static str) -> Result<Option<String>, Reject> {
    match f {
        Field::Absent => Ok(None),
        Field::Str(s) if s.len() <= TEXT_BYTES_MAX => Ok(Some(s.to_string())),
        Field::Str(s) => {
            Err(invalid(name, format!("{name}: {} bytes long, at most {TEXT_BYTES_MAX} allowed", s.len())))
        }
        other => Err(invalid(name, format!("{name}: expected a string, found {}", other.describe()))),
    }
}

fn time(f: &Field<'_>, name: &'static str) -> Result<DateTime<Utc>, Reject> {
    let s = required_str(f, name)?;
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| invalid(name, format!("{name}: {s:?} is not an RFC 3339 time such as 2026-11-03T10:15:00Z ({e})")))
}

fn decimal(f: &Field<'_>, name: &'static str) -> Result<Decimal, Reject> {
    match f {
        Field::Absent => Err(missing(name)),
        Field::Unsigned(n) => Ok(Decimal::from(*n)),
        Field::Signed(n) => Ok(Decimal::from(*n)),
        Field::Str(s) => {
            Decimal::from_str(s.trim()).map_err(|_| invalid(name, format!("{name}: {s:?} is not a decimal number")))
        }
        Field::Fraction => Err(invalid(
            name,
            format!("{name}: a JSON number with a fraction is not exact; send it as a decimal string such as \"1.25\""),
        )),
        other => Err(invalid(name, format!("{name}: expected a number, found {}", other.describe()))),
    }
}

fn quantity(f: &Field<'_>, name: &'static str) -> Result<Decimal, Reject> {
    let q = decimal(f, name)?;
    if q.is_sign_negative() && !q.is_zero() {
        return Err(Reject::field(RejectCode::NegativeQuantity, name, format!("{name}: {q} is negative")));
    }
    Ok(q)
}

fn money(raw: &Raw<'_>, signed: bool) -> Result<Money, Reject> {
    let amount = if signed { decimal(&raw.amount, "amount")? } else { quantity(&raw.amount, "amount")? };
    let currency = match &raw.currency {
        Field::Absent => None,
        Field::Str(s) => Some(Currency::parse(s).ok_or_else(|| {
            invalid("currency", format!("currency: {s:?} is not a three-letter ISO 4217 code such as EUR"))
        })?),
        other => return Err(invalid("currency", format!("currency: expected a string, found {}", other.describe()))),
    };
    Ok(Money { amount, currency, balance: optional_id(&raw.balance, "balance")? })
}

fn destination(f: &Field<'_>) -> Result<Option<String>, Reject> {
    let Some(s) = optional_id(f, "destination")? else { return Ok(None) };
    let digits = s.strip_prefix('+').unwrap_or(&s);
    if digits.is_empty() || digits.len() > DESTINATION_DIGITS_MAX || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            "destination",
            format!(
                "destination: {s:?} is not a number of 1 to {DESTINATION_DIGITS_MAX} digits (an optional leading + allowed)"
            ),
        ));
    }
    Ok(Some(digits.to_string()))
}

/// Every field any kind of envelope may carry, each read leniently so that
/// a wrong type becomes a reject naming the field rather than a parse error.
#[derive(Deserialize, Default)]
struct Raw<'a> {
    #[serde(default, borrow)]
    v: Field<'a>,
    #[serde(default, borrow)]
    id: Field<'a>,
    #[serde(default, borrow)]
    kind: Field<'a>,
    #[serde(default, borrow)]
    account: Field<'a>,
    #[serde(default, borrow)]
    time: Field<'a>,
    #[serde(default, borrow)]
    service: Field<'a>,
    #[serde(default, borrow)]
    quantity: Field<'a>,
    #[serde(default, borrow)]
    unit: Field<'a>,
    #[serde(default, borrow)]
    destination: Field<'a>,
    #[serde(default, borrow)]
    device: Field<'a>,
    #[serde(default, borrow)]
    apn: Field<'a>,
    #[serde(default, borrow)]
    action: Field<'a>,
    #[serde(default, borrow)]
    plan: Field<'a>,
    #[serde(default, borrow)]
    amount: Field<'a>,
    #[serde(default, borrow)]
    currency: Field<'a>,
    #[serde(default, borrow)]
    balance: Field<'a>,
    #[serde(default, borrow)]
    reason: Field<'a>,
    #[serde(default, borrow)]
    channel: Field<'a>,
    #[serde(default, borrow)]
    specversion: Field<'a>,
    #[serde(default, borrow, rename = "type")]
    ce_type: Field<'a>,
    #[serde(default, borrow)]
    subject: Field<'a>,
    #[serde(default, borrow)]
    data: Option<Box<Raw<'a>>>,
}

/// A JSON value as far as the decoder cares.
#[derive(Debug, Default)]
enum Field<'a> {
    #[default]
    Absent,
    Str(Cow<'a, str>),
    Unsigned(u64),
    Signed(i64),
    /// A number with a fraction or exponent; its binary value is not kept.
    Fraction,
    Bool,
    Object,
    Array,
}

impl Field<'_> {
    fn is_present(&self) -> bool {
        !matches!(self, Self::Absent)
    }

    fn describe(&self) -> String {
        match self {
            Self::Absent => "nothing".into(),
            Self::Str(s) => format!("the string {s:?}"),
            Self::Unsigned(n) => n.to_string(),
            Self::Signed(n) => n.to_string(),
            Self::Fraction => "a fractional number".into(),
            Self::Bool => "a boolean".into(),
            Self::Object => "an object".into(),
            Self::Array => "an array".into(),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Field::Unsigned(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).map_or(Field::Signed(v), Field::Unsigned))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Field::Fraction)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Field::Bool)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Absent)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Object)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Array)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reject(json: &str) -> Reject {
        decode(json.as_bytes()).expect_err(json)
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
