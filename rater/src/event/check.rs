//! From the fields as read ([`Raw`]) to an [`Event`]: required fields, types,
//! lengths and values, in the documented order, each problem a [`Reject`]
//! naming the field.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use smol_str::SmolStr;

use super::raw::{Field, Raw};
use super::{
    Body, DESTINATION_DIGITS_MAX, ENVELOPE_VERSION, Event, ID_BYTES_MAX, Money, SubscriptionAction, TEXT_BYTES_MAX,
    Usage, timestamp,
};
use crate::money::{self, Currency, LEDGER_SCALE, QUANTITY_MAX};
use crate::reject::{Reject, RejectCode};

/// A CloudEvent when `specversion` is there, a native envelope otherwise.
pub(super) fn event(raw: &Raw<'_>) -> Result<Event, Reject> {
    if raw.specversion.is_present() { cloud_event(raw) } else { native(raw) }
}

fn native(raw: &Raw<'_>) -> Result<Event, Reject> {
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
    let body = body(kind, "kind", raw)?;
    Ok(Event { id: id(&raw.id, "id")?, account: id(&raw.account, "account")?, time: time(&raw.time, "time")?, body })
}

fn cloud_event(raw: &Raw<'_>) -> Result<Event, Reject> {
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
    let body = body(kind, "type", data)?;
    // The account is the CloudEvents subject, or data.account.
    let account =
        if raw.subject.is_present() { id(&raw.subject, "subject")? } else { id(&data.account, "data.account")? };
    Ok(Event { id: id(&raw.id, "id")?, account, time: time(&raw.time, "time")?, body })
}

fn body(kind: &str, kind_field: &'static str, raw: &Raw<'_>) -> Result<Body, Reject> {
    Ok(match kind {
        "usage" => Body::Usage(Usage {
            service: id(&raw.service, "service")?,
            quantity: quantity(&raw.quantity, "quantity")?,
            unit: short_id(&raw.unit, "unit")?,
            destination: destination(&raw.destination)?,
            device: short_id(&raw.device, "device")?,
            apn: short_id(&raw.apn, "apn")?,
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

#[cold]
fn missing(field: &'static str) -> Reject {
    Reject::field(RejectCode::MissingField, field, format!("{field}: required field is missing"))
}

#[cold]
fn invalid(field: &'static str, message: String) -> Reject {
    Reject::field(RejectCode::InvalidField, field, message)
}

#[cold]
fn not_a_string(f: &Field<'_>, name: &'static str) -> Reject {
    invalid(name, format!("{name}: expected a string, found {}", f.describe()))
}

#[inline]
fn required_str<'f>(f: &'f Field<'_>, name: &'static str) -> Result<&'f str, Reject> {
    match f {
        Field::Absent => Err(missing(name)),
        Field::Str(s) => Ok(s),
        other => Err(not_a_string(other, name)),
    }
}

/// A required identifier, checked as [`checked_id`] and held inline when
/// short (event and account ids, service names): no allocation for the
/// usual ones.
fn id(f: &Field<'_>, name: &'static str) -> Result<SmolStr, Reject> {
    checked_id(f, name)?.map(SmolStr::new).ok_or_else(|| missing(name))
}

/// An optional identifier of a usage event (unit, device, access point),
/// inline as [`id`].
#[inline(always)]
fn short_id(f: &Field<'_>, name: &'static str) -> Result<Option<SmolStr>, Reject> {
    Ok(checked_id(f, name)?.map(SmolStr::new))
}

#[inline(always)]
fn optional_id(f: &Field<'_>, name: &'static str) -> Result<Option<String>, Reject> {
    Ok(checked_id(f, name)?.map(str::to_owned))
}

/// An identifier: not empty, at most [`ID_BYTES_MAX`] bytes, no control
/// characters. Not copied yet, so that a caller may copy only part of it.
/// Inlined with [`optional_id`], so that an absent field (most optional
/// fields are) costs a compare; the checks themselves stay out of line.
#[inline(always)]
fn checked_id<'f>(f: &'f Field<'_>, name: &'static str) -> Result<Option<&'f str>, Reject> {
    match f {
        Field::Absent => Ok(None),
        present => present_id(present, name).map(Some),
    }
}

/// [`checked_id`] of a field that is there.
fn present_id<'f>(f: &'f Field<'_>, name: &'static str) -> Result<&'f str, Reject> {
    let Field::Str(s) = f else { return Err(not_a_string(f, name)) };
    if s.is_empty() {
        return Err(invalid(name, format!("{name}: must not be empty")));
    }
    if s.len() > ID_BYTES_MAX {
        return Err(invalid(name, format!("{name}: {} bytes long, at most {ID_BYTES_MAX} allowed", s.len())));
    }
    if has_control(s) {
        return Err(invalid(name, format!("{name}: contains control characters")));
    }
    Ok(s)
}

/// Whether `s` holds a control character (`char::is_control`: U+0000 to
/// U+001F and U+007F to U+009F). Only text with a byte outside the
/// printable ASCII range (nearly none) is looked at character by character.
#[inline]
fn has_control(s: &str) -> bool {
    !printable_ascii(s.as_bytes()) && s.chars().any(char::is_control)
}

/// Whether every byte is printable ASCII (0x20 to 0x7E). Eight bytes at a
/// time, the last eight overlapping the others: in each lane of a `u64`,
/// `(x - 0x20) & !x` has the top bit set when the byte `x` is below 0x20, and
/// `x | (x + 1)` when it is 0x7F or above. A borrow or carry out of such a
/// lane may mark the lane above it too, but a word of printable bytes has
/// neither, so it comes out clean.
#[inline]
fn printable_ascii(bytes: &[u8]) -> bool {
    const LANES: u64 = u64::MAX / 255;
    const TOP: u64 = LANES << 7;
    let printable = |word: &[u8; 8]| {
        let x = u64::from_le_bytes(*word);
        (x.wrapping_sub(LANES * 0x20) & !x | x | x.wrapping_add(LANES)) & TOP == 0
    };
    match bytes.last_chunk::<8>() {
        Some(last) => bytes.chunks_exact(8).all(|c| c.first_chunk().is_some_and(printable)) && printable(last),
        None => bytes.iter().all(|&b| (0x20..0x7f).contains(&b)),
    }
}

#[inline]
fn text(f: &Field<'_>, name: &'static str) -> Result<Option<String>, Reject> {
    match f {
        Field::Absent => Ok(None),
        Field::Str(s) if s.len() <= TEXT_BYTES_MAX => Ok(Some(s.to_string())),
        Field::Str(s) => {
            Err(invalid(name, format!("{name}: {} bytes long, at most {TEXT_BYTES_MAX} allowed", s.len())))
        }
        other => Err(not_a_string(other, name)),
    }
}

#[inline]
fn time(f: &Field<'_>, name: &'static str) -> Result<DateTime<Utc>, Reject> {
    let s = required_str(f, name)?;
    let t = timestamp::parse(s).map_err(|e| {
        invalid(name, format!("{name}: {s:?} is not an RFC 3339 time such as 2026-11-03T10:15:00Z ({e})"))
    })?;
    // The ledger keeps microseconds.
    if !t.timestamp_subsec_nanos().is_multiple_of(1000) {
        return Err(invalid(name, format!("{name}: {s:?} is more precise than a microsecond")));
    }
    Ok(t)
}

/// A quantity or amount: exact, and within [`QUANTITY_MAX`] either way.
#[inline]
fn decimal(f: &Field<'_>, name: &'static str) -> Result<Decimal, Reject> {
    let d = exact(f, name)?;
    if money::cmp(d.abs(), QUANTITY_MAX).is_gt() {
        return Err(Reject::field(
            RejectCode::QuantityTooLarge,
            name,
            format!("{name}: {d} is more than any event may carry ({QUANTITY_MAX})"),
        ));
    }
    Ok(d)
}

#[inline]
fn exact(f: &Field<'_>, name: &'static str) -> Result<Decimal, Reject> {
    match f {
        Field::Absent => Err(missing(name)),
        Field::Unsigned(n) => Ok(Decimal::from(*n)),
        Field::Signed(n) => Ok(Decimal::from(*n)),
        Field::Str(s) => {
            let d = Decimal::from_str(s.trim())
                .map_err(|_| invalid(name, format!("{name}: {s:?} is not a decimal number")))?;
            // The ledger keeps LEDGER_SCALE decimals in 38 digits: a value it
            // could not hold exactly is refused here, not rounded there.
            if d.scale() > LEDGER_SCALE && d.normalize().scale() > LEDGER_SCALE {
                return Err(invalid(name, format!("{name}: {s:?} has more than {LEDGER_SCALE} decimal places")));
            }
            Ok(d)
        }
        Field::Fraction => Err(invalid(
            name,
            format!("{name}: a JSON number with a fraction is not exact; send it as a decimal string such as \"1.25\""),
        )),
        other => Err(invalid(name, format!("{name}: expected a number, found {}", other.describe()))),
    }
}

#[inline]
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
        other => return Err(not_a_string(other, "currency")),
    };
    Ok(Money { amount, currency, balance: optional_id(&raw.balance, "balance")? })
}

/// A called number: an optional `+` (dropped) and 1 to
/// [`DESTINATION_DIGITS_MAX`] digits.
#[inline]
fn destination(f: &Field<'_>) -> Result<Option<SmolStr>, Reject> {
    let Some(s) = checked_id(f, "destination")? else { return Ok(None) };
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.is_empty() || digits.len() > DESTINATION_DIGITS_MAX || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            "destination",
            format!(
                "destination: {s:?} is not a number of 1 to {DESTINATION_DIGITS_MAX} digits (an optional leading + allowed)"
            ),
        ));
    }
    Ok(Some(SmolStr::new(digits)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Mostly printable bytes, now and then any byte.
    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop_oneof![12 => 0x20_u8..0x7f, 1 => any::<u8>()], 0..40)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn printable_ascii_is_exact(bytes in bytes()) {
            prop_assert_eq!(printable_ascii(&bytes), bytes.iter().all(|b| (0x20..0x7f).contains(b)));
        }

        #[test]
        fn control_characters_are_those_of_char(bytes in bytes(), text in "\\PC{0,3}[\u{0}-\u{a0}]{0,2}") {
            let s = format!("{}{text}", String::from_utf8_lossy(&bytes));
            prop_assert_eq!(has_control(&s), s.chars().any(char::is_control));
        }
    }
}
