//! Why an event was not rated: stable, numbered reject codes.
//!
//! A rejected event is an outcome, not an error: it is booked in the ledger's
//! rejects and sent to the dead-letter topic with its code and a message that
//! names the offending field. Codes are never renumbered or reused; a code
//! that falls out of use stays reserved.

use serde::Serialize;

/// Every reason an event can be rejected. The number is the stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum RejectCode {
    /// The payload is not valid JSON (or not UTF-8).
    MalformedJson = 1001,
    /// The payload is larger than the accepted maximum.
    Oversized = 1002,
    /// A required field is absent.
    MissingField = 1003,
    /// A field has the wrong type or an unparsable value.
    InvalidField = 1004,
    /// The envelope version is not one this build reads.
    UnsupportedVersion = 1005,
    /// The event kind is not one of the documented kinds.
    UnknownKind = 1006,
    /// The account is not in the accounts reference data.
    UnknownAccount = 2001,
    /// The service is not in the catalog.
    UnknownService = 2002,
    /// A quantity or amount is negative where it may not be.
    NegativeQuantity = 2003,
    /// A quantity or amount is above the service's `quantity_max`, or above
    /// `money::QUANTITY_MAX`, the most any event may carry.
    QuantityTooLarge = 2004,
    /// The event time is outside the accepted window.
    TimeOutOfWindow = 2005,
    /// The unit does not match the service's unit.
    UnitMismatch = 2006,
    /// The account's plan has no rate for this service and destination.
    NoRate = 2007,
    /// The account is cancelled.
    AccountClosed = 2008,
    /// The account has no plan (or no plan version) in force at event time.
    NoPlan = 2009,
    /// A money amount is in another currency than the account's.
    CurrencyMismatch = 2010,
    /// The event id was already recorded in this billing period.
    DuplicateEvent = 2011,
    /// The account is suspended and usage is not accepted.
    AccountSuspended = 2012,
    /// A lifecycle event does not fit the account's state (e.g. activate twice).
    InvalidTransition = 2013,
    /// The plan named by a lifecycle event is not in the catalog.
    UnknownPlan = 2014,
    /// The balance named by a top-up or adjustment is not in the catalog.
    UnknownBalance = 2015,
}

impl RejectCode {
    /// All codes, in numeric order.
    pub const ALL: [RejectCode; 21] = [
        Self::MalformedJson,
        Self::Oversized,
        Self::MissingField,
        Self::InvalidField,
        Self::UnsupportedVersion,
        Self::UnknownKind,
        Self::UnknownAccount,
        Self::UnknownService,
        Self::NegativeQuantity,
        Self::QuantityTooLarge,
        Self::TimeOutOfWindow,
        Self::UnitMismatch,
        Self::NoRate,
        Self::AccountClosed,
        Self::NoPlan,
        Self::CurrencyMismatch,
        Self::DuplicateEvent,
        Self::AccountSuspended,
        Self::InvalidTransition,
        Self::UnknownPlan,
        Self::UnknownBalance,
    ];

    /// The stable number.
    #[must_use]
    pub fn number(self) -> u16 {
        self as u16
    }

    /// The stable name, as in logs, metrics labels and the ledger.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::MalformedJson => "MALFORMED_JSON",
            Self::Oversized => "OVERSIZED",
            Self::MissingField => "MISSING_FIELD",
            Self::InvalidField => "INVALID_FIELD",
            Self::UnsupportedVersion => "UNSUPPORTED_VERSION",
            Self::UnknownKind => "UNKNOWN_KIND",
            Self::UnknownAccount => "UNKNOWN_ACCOUNT",
            Self::UnknownService => "UNKNOWN_SERVICE",
            Self::NegativeQuantity => "NEGATIVE_QUANTITY",
            Self::QuantityTooLarge => "QUANTITY_TOO_LARGE",
            Self::TimeOutOfWindow => "TIME_OUT_OF_WINDOW",
            Self::UnitMismatch => "UNIT_MISMATCH",
            Self::NoRate => "NO_RATE",
            Self::AccountClosed => "ACCOUNT_CLOSED",
            Self::NoPlan => "NO_PLAN",
            Self::CurrencyMismatch => "CURRENCY_MISMATCH",
            Self::DuplicateEvent => "DUPLICATE_EVENT",
            Self::AccountSuspended => "ACCOUNT_SUSPENDED",
            Self::InvalidTransition => "INVALID_TRANSITION",
            Self::UnknownPlan => "UNKNOWN_PLAN",
            Self::UnknownBalance => "UNKNOWN_BALANCE",
        }
    }
}

impl std::fmt::Display for RejectCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.number(), self.name())
    }
}

impl Serialize for RejectCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.number())
    }
}

/// A reject: the code, the offending field (if one is to blame) and a message
/// for a person. Serialized as `code` (number), `code_name`, `field`, `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// The stable code.
    pub code: RejectCode,
    /// The field at fault, as written in the envelope (`quantity`, `time`, ...).
    pub field: Option<&'static str>,
    /// A message that names the field and what was wrong with it.
    pub message: String,
}

impl Reject {
    /// A reject blaming one field.
    pub fn field(code: RejectCode, field: &'static str, message: impl Into<String>) -> Self {
        Self { code, field: Some(field), message: message.into() }
    }

    /// A reject of the whole payload.
    pub fn payload(code: RejectCode, message: impl Into<String>) -> Self {
        Self { code, field: None, message: message.into() }
    }
}

impl Serialize for Reject {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Reject", 4)?;
        st.serialize_field("code", &self.code.number())?;
        st.serialize_field("code_name", self.code.name())?;
        st.serialize_field("field", &self.field)?;
        st.serialize_field("message", &self.message)?;
        st.end()
    }
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_and_names_are_unique_and_sorted() {
        let numbers: Vec<u16> = RejectCode::ALL.iter().map(|c| c.number()).collect();
        let mut sorted = numbers.clone();
        sorted.sort_unstable();
        assert_eq!(numbers, sorted, "ALL lists codes in numeric order");
        assert_eq!(numbers.iter().collect::<HashSet<_>>().len(), numbers.len());
        let names: HashSet<_> = RejectCode::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names.len(), RejectCode::ALL.len());
    }

    #[test]
    fn codes_are_stable() {
        // Published numbers: changing one breaks dead-letter consumers.
        assert_eq!(RejectCode::MalformedJson.number(), 1001);
        assert_eq!(RejectCode::UnknownAccount.number(), 2001);
        assert_eq!(RejectCode::DuplicateEvent.number(), 2011);
        assert_eq!(RejectCode::UnknownBalance.number(), 2015);
    }
}
