//! Exact arithmetic on amounts, inline for the small values rating sees.
//!
//! Each function returns exactly what `rust_decimal` returns for the same
//! operation: the same value, the same scale and the same sign of zero, so
//! that records, checkpoints and their text do not change. It computes the
//! usual case (mantissas within 64 bits, one scale) with one or two machine
//! operations, where `rust_decimal`'s operators are calls that work word by
//! word; anything else is handed to those operators.

use rust_decimal::Decimal;

use super::RoundingMode;

/// `a + b`, as `Decimal`'s `+` gives it.
#[inline(always)]
#[must_use]
pub fn add(a: Decimal, b: Decimal) -> Decimal {
    sum(a, b, false).unwrap_or_else(|| a + b)
}

/// `a - b`, as `Decimal`'s `-` gives it.
#[inline(always)]
#[must_use]
pub fn sub(a: Decimal, b: Decimal) -> Decimal {
    sum(a, b, true).unwrap_or_else(|| a - b)
}

/// `a * b`, as `Decimal`'s `*` gives it.
#[inline(always)]
#[must_use]
pub fn mul(a: Decimal, b: Decimal) -> Decimal {
    product(a, b).unwrap_or_else(|| a * b)
}

/// `a + b` or `a - b` when both carry the same scale and their mantissas
/// fit in 64 bits: then `rust_decimal` returns the exact result at that
/// scale (it rounds only a result beyond 96 bits, and a sum of two 64-bit
/// magnitudes is below 2^65).
#[inline(always)]
fn sum(a: Decimal, b: Decimal, subtract: bool) -> Option<Decimal> {
    // Zeros are passed through as they are, scale and sign included.
    if a.is_zero() {
        return Some(if subtract && !b.is_zero() { -b } else { b });
    }
    if b.is_zero() {
        return Some(a);
    }
    let (x, y) = (Small::of(a)?, Small::of(b)?);
    if x.scale != y.scale {
        return None;
    }
    let y_negative = y.negative != subtract;
    let (magnitude, negative) = if x.negative == y_negative {
        // Below 2^65.
        (u128::from(x.magnitude) + u128::from(y.magnitude), x.negative)
    } else if x.magnitude >= y.magnitude {
        (u128::from(x.magnitude - y.magnitude), x.negative)
    } else {
        (u128::from(y.magnitude - x.magnitude), y_negative)
    };
    Some(words(magnitude, negative, x.scale))
}

/// `a * b` when both mantissas fit in 64 bits, the product in 96 and the
/// scales add up to at most 28: then `rust_decimal` keeps the exact product
/// at the sum of the scales. A zero factor gives a plain zero, as there.
#[inline(always)]
fn product(a: Decimal, b: Decimal) -> Option<Decimal> {
    if a.is_zero() || b.is_zero() {
        return Some(Decimal::ZERO);
    }
    let (x, y) = (Small::of(a)?, Small::of(b)?);
    let scale = x.scale + y.scale;
    // Below 2^128.
    let magnitude = u128::from(x.magnitude) * u128::from(y.magnitude);
    (scale <= Decimal::MAX_SCALE && magnitude >> 96 == 0).then(|| words(magnitude, x.negative != y.negative, scale))
}

/// An amount whose mantissa fits in 64 bits, taken apart.
struct Small {
    magnitude: u64,
    negative: bool,
    scale: u32,
}

impl Small {
    #[inline(always)]
    fn of(d: Decimal) -> Option<Self> {
        let parts = d.unpack();
        (parts.hi == 0).then(|| Self {
            magnitude: u64::from(parts.lo) | u64::from(parts.mid) << 32,
            negative: parts.negative,
            scale: parts.scale,
        })
    }
}

/// A `Decimal` from a magnitude below 2^96; a zero is positive, as
/// `rust_decimal` builds it.
#[inline(always)]
fn words(magnitude: u128, negative: bool, scale: u32) -> Decimal {
    debug_assert!(magnitude >> 96 == 0, "a Decimal's mantissa has 96 bits");
    #[expect(clippy::cast_possible_truncation, reason = "the three 32-bit words of a 96-bit value")]
    Decimal::from_parts(magnitude as u32, (magnitude >> 32) as u32, (magnitude >> 64) as u32, negative, scale)
}

/// `value` rounded to `decimals` places by `mode`: exactly what
/// `Decimal::round_dp_with_strategy` returns (the same value, scale and
/// sign), computed as one integer division of the mantissa where that
/// function divides word by word and builds the midpoint digit by digit.
#[inline]
#[must_use]
pub fn round_dp(value: Decimal, decimals: u32, mode: RoundingMode) -> Decimal {
    let scale = value.scale();
    if scale <= decimals {
        return value;
    }
    let cut = scale - decimals;
    match (Small::of(value), power_of_ten_u64(cut)) {
        // The usual case, small amounts: one 64-bit division.
        (Some(x), Some(divisor)) if x.magnitude != 0 => {
            let (quotient, remainder) = (x.magnitude / divisor, x.magnitude % divisor);
            let away = away_from_zero(mode, quotient.into(), remainder.into(), divisor.into());
            // At most the mantissa over ten, plus one.
            words(u128::from(quotient) + u128::from(away), x.negative, decimals)
        }
        _ => round_dp_wide(value, decimals, mode),
    }
}

/// [`round_dp`] of a zero, of a mantissa beyond 64 bits or by more than
/// 19 places: rare, kept out of line.
#[inline(never)]
fn round_dp_wide(value: Decimal, decimals: u32, mode: RoundingMode) -> Decimal {
    if value.is_zero() {
        // A zero keeps its sign there ("-0.000" gives "-0.00"), which
        // `from_parts` would drop; that path returns it at once.
        return value.round_dp_with_strategy(decimals, mode.strategy());
    }
    // A scale is at most 28: 10^cut is in the table.
    let divisor = POWERS_OF_TEN[(value.scale() - decimals) as usize];
    let mantissa = magnitude(value);
    let (quotient, remainder) = (mantissa / divisor, mantissa % divisor);
    // At most the mantissa over ten, plus one: within 96 bits.
    words(quotient + u128::from(away_from_zero(mode, quotient, remainder, divisor)), value.is_sign_negative(), decimals)
}

/// Whether rounding `quotient` (with `remainder` out of `divisor`, a power
/// of ten of at least 10, whose half is exact) goes one away from zero.
#[inline(always)]
fn away_from_zero(mode: RoundingMode, quotient: u128, remainder: u128, divisor: u128) -> bool {
    let half = divisor / 2;
    match mode {
        RoundingMode::Up => remainder != 0,
        RoundingMode::Down => false,
        RoundingMode::HalfUp => remainder >= half,
        RoundingMode::HalfEven => remainder > half || (remainder == half && quotient & 1 == 1),
    }
}

/// The absolute value of the mantissa.
#[inline(always)]
pub(super) fn magnitude(d: Decimal) -> u128 {
    let parts = d.unpack();
    u128::from(parts.lo) | u128::from(parts.mid) << 32 | u128::from(parts.hi) << 64
}

/// 10^`exponent` as a `u64`, for exponents up to 19.
#[inline(always)]
pub(super) fn power_of_ten_u64(exponent: u32) -> Option<u64> {
    POWERS_OF_TEN.get(exponent as usize).and_then(|&p| u64::try_from(p).ok())
}

/// 10^0 to 10^28, one for each scale a `Decimal` may have.
pub const POWERS_OF_TEN: [u128; 29] = {
    let mut powers = [1_u128; 29];
    let mut i = 1;
    while i < powers.len() {
        powers[i] = powers[i - 1] * 10;
        i += 1;
    }
    powers
};

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use proptest::prelude::*;

    use super::*;

    const MODES: [RoundingMode; 4] =
        [RoundingMode::Up, RoundingMode::Down, RoundingMode::HalfUp, RoundingMode::HalfEven];

    /// Values at the edges: zeros of both signs and several scales, ties,
    /// the 32-, 64- and 96-bit limits, the largest scale.
    const EDGES: [&str; 30] = [
        "0",
        "-0",
        "0.000",
        "-0.000",
        "0.005",
        "-0.005",
        "0.015",
        "0.025",
        "0.0050",
        "0.0049999",
        "0.0050001",
        "-0.0150",
        "1",
        "1.5",
        "2.5",
        "-2.5",
        "9.995",
        "99.995",
        "4294967295",
        "4294967296",
        "0.0000000000000000000000000005",
        "-0.0000000000000000000000000015",
        "79228162514264337593543950335",
        "7.9228162514264337593543950335",
        "-7.9228162514264337593543950335",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615.5",
        "1844674407370955161.55",
        "0.18446744073709551625",
    ];

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    /// A decimal of any size, around the 64-bit limit, or small, at any
    /// scale; zeros and negative zeros included.
    fn any_decimal() -> impl Strategy<Value = Decimal> {
        let mantissa = prop_oneof![
            -(1_i128 << 96) + 1..1_i128 << 96,
            -(1_i128 << 64)..1_i128 << 64,
            -(1_i128 << 40)..1_i128 << 40,
            -1000_i128..1000,
            Just(0_i128),
        ];
        (mantissa, 0_u32..=28, any::<bool>()).prop_map(|(m, scale, negative_zero)| {
            let mut x = Decimal::from_i128_with_scale(m, scale);
            if m == 0 && negative_zero {
                x.set_sign_negative(true);
            }
            x
        })
    }

    /// Each operation must be `rust_decimal`'s to the bit: value, scale and
    /// sign of zero.
    fn assert_same_as_rust_decimal(a: Decimal, b: Decimal) {
        let same = |got: Decimal, want: Option<Decimal>, op: &str| {
            // An overflow panics in the operator: the fast path must have
            // handed it over rather than answered.
            if let Some(want) = want {
                assert_eq!(got.serialize(), want.serialize(), "{a} {op} {b}: {got} != {want}");
            }
        };
        let checked = |f: fn(Decimal, Decimal) -> Option<Decimal>| f(a, b);
        if let Some(want) = checked(Decimal::checked_add) {
            same(add(a, b), Some(want), "+");
        }
        if let Some(want) = checked(Decimal::checked_sub) {
            same(sub(a, b), Some(want), "-");
        }
        if let Some(want) = checked(Decimal::checked_mul) {
            same(mul(a, b), Some(want), "*");
        }
    }

    fn assert_rounds_as_rust_decimal(x: Decimal, decimals: u32) {
        for mode in MODES {
            let want = x.round_dp_with_strategy(decimals, mode.strategy());
            let got = round_dp(x, decimals, mode);
            assert_eq!(got.serialize(), want.serialize(), "round_dp({x}, {decimals}, {mode:?}): {got} != {want}");
        }
    }

    #[test]
    fn edges_are_rust_decimals() {
        for a in EDGES {
            for b in EDGES {
                assert_same_as_rust_decimal(d(a), d(b));
            }
            for decimals in 0..=28 {
                assert_rounds_as_rust_decimal(d(a), decimals);
            }
        }
    }

    #[test]
    fn zeros_pass_through_as_rust_decimal_passes_them() {
        // 0.00 + 5 is 5, not 5.00; 0 - 0.00 is 0.00; a product with zero is 0.
        assert_eq!(add(d("0.00"), d("5")).to_string(), "5");
        assert_eq!(sub(d("0"), d("0.00")).to_string(), "0.00");
        assert_eq!(sub(d("0"), d("1.50")).to_string(), "-1.50");
        assert_eq!(mul(d("0.00"), d("1.5")).to_string(), "0");
        assert_eq!(sub(d("1.50"), d("1.5")).to_string(), "0.00");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn arithmetic_is_rust_decimals(a in any_decimal(), b in any_decimal()) {
            assert_same_as_rust_decimal(a, b);
        }

        #[test]
        fn rounding_is_rust_decimals(x in any_decimal(), decimals in 0_u32..=28) {
            assert_rounds_as_rust_decimal(x, decimals);
        }
    }
}
