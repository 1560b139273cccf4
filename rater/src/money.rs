//! Exact money: rounding policies declared by tariffs.
//!
//! Every amount is a [`Decimal`]. Rounding happens only where a tariff's
//! [`Rounding`] says: per increment, per event, or per invoice line. Amounts
//! rounded "per invoice line" keep the ledger's full precision
//! ([`LEDGER_SCALE`] decimals) on each event; the invoice rounds their sum.

use std::cmp::Ordering;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;

mod arith;

pub use arith::{POWERS_OF_TEN, add, mul, round_dp, sub};

/// Decimal places every amount carries in the ledger (`Decimal128(38, 10)`).
/// Amounts the tariff rounds per invoice line are kept at this scale per
/// event; nothing the tariff rounds to fewer places is ever affected by it.
pub const LEDGER_SCALE: u32 = 10;

/// The most decimal places a tariff may round to.
pub const TARIFF_DECIMALS_MAX: u32 = 6;

// Magnitude bounds. Together they keep every charge, and every sum of
// charges an account can build up, far inside what a `Decimal` holds
// (about 7.9 x 10^28), so rating never overflows: an event's usage charge
// is at most QUANTITY_MAX x UNIT_PRICE_MAX = 10^18, its fees a few
// AMOUNT_MAX, and 10^10 such events still fit in one sum. A larger value is
// refused where it enters: the decoder rejects the event, the catalog or
// accounts loader refuses the file.

/// The largest quantity or money amount, in absolute value, one event may
/// carry: 10^12 (a terabyte in bytes, 31,000 years in seconds).
pub const QUANTITY_MAX: Decimal = Decimal::from_parts(0xD4A5_1000, 0xE8, 0, false, 0);

/// The largest price per unit of quantity a catalog may set: a rate's
/// price (flat, band or tier) divided by its `rate_unit`, or a package's
/// price divided by its size: 10^6.
pub const UNIT_PRICE_MAX: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

/// The largest fixed amount in a catalog or the accounts reference data
/// (a fee, a grant, a price before its rate unit, a credit limit, an
/// opening balance), in absolute value: 10^12.
pub const AMOUNT_MAX: Decimal = QUANTITY_MAX;

/// How a value is brought to a number of decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundingMode {
    /// Away from zero: 0.101 -> 0.11, -0.101 -> -0.11.
    Up,
    /// Towards zero: 0.109 -> 0.10.
    Down,
    /// To nearest, ties away from zero: 0.105 -> 0.11.
    HalfUp,
    /// To nearest, ties to the even digit (banker's): 0.105 -> 0.10, 0.115 -> 0.12.
    HalfEven,
}

impl RoundingMode {
    fn strategy(self) -> RoundingStrategy {
        match self {
            Self::Up => RoundingStrategy::AwayFromZero,
            Self::Down => RoundingStrategy::ToZero,
            Self::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            Self::HalfEven => RoundingStrategy::MidpointNearestEven,
        }
    }
}

/// Where a tariff's rounding happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundAt {
    /// The price of each billing increment is rounded, then multiplied.
    Increment,
    /// Each event's charge, discount, partner share and tax are rounded.
    Event,
    /// Events keep full precision; the invoice line rounds the sum.
    InvoiceLine,
}

/// A complete rounding policy: decimals, mode and where it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rounding {
    /// Decimal places of the rounded amount.
    pub decimals: u32,
    /// How ties and remainders are resolved.
    pub mode: RoundingMode,
    /// The stage at which rounding happens.
    pub at: RoundAt,
}

impl Default for Rounding {
    fn default() -> Self {
        Self { decimals: 2, mode: RoundingMode::HalfUp, at: RoundAt::Event }
    }
}

impl Rounding {
    /// Rounds `value` to the tariff's decimals, whatever the stage.
    #[must_use]
    pub fn round(&self, value: Decimal) -> Decimal {
        round_dp(value, self.decimals, self.mode)
    }

    /// Rounds an amount at the end of an event: to the tariff's decimals
    /// for increment and event rounding, to [`LEDGER_SCALE`] (half-even) when
    /// the invoice line rounds.
    #[inline]
    #[must_use]
    pub fn round_event(&self, value: Decimal) -> Decimal {
        match self.at {
            RoundAt::Increment | RoundAt::Event => self.round(value),
            RoundAt::InvoiceLine => to_ledger_scale(value),
        }
    }
}

/// Brings a value to the ledger's scale, half-even; used for amounts the
/// tariff rounds only on the invoice line.
#[must_use]
pub fn to_ledger_scale(value: Decimal) -> Decimal {
    round_dp(value, LEDGER_SCALE, RoundingMode::HalfEven)
}

/// `value * percent / 100`, multiplied before dividing so that an exact
/// result stays exact.
#[must_use]
pub fn percent_of(value: Decimal, percent: Decimal) -> Decimal {
    value * percent / Decimal::ONE_HUNDRED
}

/// Compares two amounts exactly as `Decimal::cmp` does, inline and in one
/// or two machine operations for the amounts rating sees (within 64 bits),
/// where `Decimal::cmp` is a call that aligns scales word by word. The
/// rating path compares several times per event.
#[inline(always)]
#[must_use]
pub fn cmp(a: Decimal, b: Decimal) -> Ordering {
    if a.scale() == b.scale() {
        signed_cmp(a.is_sign_negative(), arith::magnitude(a), b.is_sign_negative(), arith::magnitude(b))
    } else {
        cmp_rescaled(a, b)
    }
}

/// [`cmp`] of amounts with different scales, out of line so that the
/// same-scale case stays small enough to inline: the one with fewer
/// decimals is brought to the other's scale, where that is exact in 128
/// bits (both within 64 bits, the scales at most 19 apart: 2^64 x 10^19 <
/// 2^128); `Decimal::cmp` otherwise.
#[inline(never)]
fn cmp_rescaled(a: Decimal, b: Decimal) -> Ordering {
    let (mut ma, mut mb) = (arith::magnitude(a), arith::magnitude(b));
    let Some(power) = arith::power_of_ten_u64(a.scale().abs_diff(b.scale())) else { return a.cmp(&b) };
    match (u64::try_from(ma), u64::try_from(mb)) {
        (Ok(m), Ok(_)) if a.scale() < b.scale() => ma = u128::from(m) * u128::from(power),
        (Ok(_), Ok(m)) => mb = u128::from(m) * u128::from(power),
        _ => return a.cmp(&b),
    }
    signed_cmp(a.is_sign_negative(), ma, b.is_sign_negative(), mb)
}

/// Compares two values given as sign and magnitude at one scale; a
/// negative zero is 0 like a positive one.
#[inline(always)]
fn signed_cmp(a_negative: bool, a: u128, b_negative: bool, b: u128) -> Ordering {
    match (a_negative && a != 0, b_negative && b != 0) {
        (false, false) => a.cmp(&b),
        (true, true) => b.cmp(&a),
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
    }
}

/// The smaller of two amounts, by [`cmp`]; `a` when they are equal, as
/// `Decimal::min` gives (equal amounts may differ in scale, which shows
/// in their text).
#[inline]
#[must_use]
pub fn min(a: Decimal, b: Decimal) -> Decimal {
    if cmp(a, b).is_le() { a } else { b }
}

/// The larger of two amounts, by [`cmp`]; `a` when they are equal, as
/// `Decimal::max` gives.
#[inline]
#[must_use]
pub fn max(a: Decimal, b: Decimal) -> Decimal {
    if cmp(a, b).is_ge() { a } else { b }
}

/// Whether an amount is above zero.
#[inline]
#[must_use]
pub fn is_positive(d: Decimal) -> bool {
    d.is_sign_positive() && !d.is_zero()
}

/// A three-letter ISO 4217 currency code, stored inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Parses three upper-case ASCII letters.
    pub fn parse(code: &str) -> Option<Self> {
        let bytes: [u8; 3] = code.as_bytes().try_into().ok()?;
        bytes.iter().all(u8::is_ascii_uppercase).then_some(Self(bytes))
    }

    /// The code as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only upper-case ASCII is ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn bounds_are_the_powers_of_ten_they_claim() {
        assert_eq!(QUANTITY_MAX, d("1000000000000"));
        assert_eq!(UNIT_PRICE_MAX, d("1000000"));
        assert_eq!(AMOUNT_MAX, d("1000000000000"));
        // The worst event and 10^10 of them still fit.
        let worst = QUANTITY_MAX * UNIT_PRICE_MAX + AMOUNT_MAX * Decimal::from(4);
        assert!(worst.checked_mul(Decimal::from(10_000_000_000_u64)).is_some());
    }

    fn at2(mode: RoundingMode) -> Rounding {
        Rounding { decimals: 2, mode, at: RoundAt::Event }
    }

    #[test]
    fn modes_round_as_named() {
        assert_eq!(at2(RoundingMode::Up).round(d("0.101")), d("0.11"));
        assert_eq!(at2(RoundingMode::Up).round(d("-0.101")), d("-0.11"));
        assert_eq!(at2(RoundingMode::Down).round(d("0.109")), d("0.10"));
        assert_eq!(at2(RoundingMode::HalfUp).round(d("0.105")), d("0.11"));
        assert_eq!(at2(RoundingMode::HalfUp).round(d("0.1049")), d("0.10"));
        assert_eq!(at2(RoundingMode::HalfEven).round(d("0.105")), d("0.10"));
        assert_eq!(at2(RoundingMode::HalfEven).round(d("0.115")), d("0.12"));
    }

    #[test]
    fn invoice_line_keeps_ledger_precision() {
        let r = Rounding { decimals: 2, mode: RoundingMode::HalfUp, at: RoundAt::InvoiceLine };
        assert_eq!(r.round_event(d("0.0016666666666666666")), d("0.0016666667"));
    }

    #[test]
    fn percent_is_exact() {
        assert_eq!(percent_of(d("10.00"), d("19")), d("1.9"));
    }

    #[test]
    fn fast_comparisons_agree_with_decimal_ord() {
        let values = [
            "0",
            "-0",
            "0.00",
            "-0.00",
            "1",
            "1.0",
            "1.00",
            "-1",
            "-1.00",
            "0.1",
            "0.10",
            "0.09",
            "-0.1",
            "2.5",
            "2.50",
            "-2.50",
            "1000000000000",
            "999999999999.9999999999",
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
            "0.0000000000000000000000000001",
            "18446744073709551616",
            "18446744073709551615",
            "-18446744073709551616",
        ];
        for a in values {
            for b in values {
                let (x, y) = (d(a), d(b));
                assert_eq!(cmp(x, y), x.cmp(&y), "cmp({a}, {b})");
                // The same value and the same scale.
                assert_eq!(min(x, y).to_string(), x.min(y).to_string(), "min({a}, {b})");
                assert_eq!(max(x, y).to_string(), x.max(y).to_string(), "max({a}, {b})");
            }
            assert_eq!(is_positive(d(a)), d(a) > Decimal::ZERO, "is_positive({a})");
        }
    }

    /// Mantissas of any size, around the 64-bit limit where [`cmp`] changes
    /// paths, and small ones.
    fn mantissas() -> impl proptest::strategy::Strategy<Value = i128> {
        proptest::prop_oneof![
            -(1_i128 << 96) + 1..1_i128 << 96,
            -(1_i128 << 65)..1_i128 << 65,
            -(1_i128 << 40)..1_i128 << 40,
            -1000_i128..1000,
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        #[test]
        fn fast_comparisons_agree_on_any_decimals(
            a in (mantissas(), 0_u32..=28),
            b in (mantissas(), 0_u32..=28),
            same_scale: bool,
        ) {
            let x = Decimal::from_i128_with_scale(a.0, a.1);
            let y = Decimal::from_i128_with_scale(b.0, if same_scale { a.1 } else { b.1 });
            proptest::prop_assert_eq!(cmp(x, y), x.cmp(&y));
        }
    }

    #[test]
    fn currency_codes() {
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
        assert!(Currency::parse("eur").is_none());
        assert!(Currency::parse("EURO").is_none());
    }
}
