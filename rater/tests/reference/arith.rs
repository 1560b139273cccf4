//! Reference arithmetic, written out longhand: rounding digit by digit,
//! billing increments by walking them one at a time, tiers and packages by
//! walking the cumulative quantity.

use ratewire_rater::money::{RoundAt, RoundingMode};
use rust_decimal::Decimal;

/// Decimal places the ledger keeps for amounts rounded per invoice line.
pub const LEDGER_DECIMALS: u32 = 10;

/// A rounding policy: decimals, mode and stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Decimal places.
    pub decimals: u32,
    /// How remainders are resolved.
    pub mode: RoundingMode,
    /// Where rounding happens.
    pub at: RoundAt,
}

/// Rounds `value` to `decimals` places: cut the digits beyond them, then
/// step one unit away from zero if the mode says the cut part warrants it.
pub fn round(value: Decimal, decimals: u32, mode: RoundingMode) -> Decimal {
    let unit = Decimal::new(1, decimals);
    let half = Decimal::new(5, decimals + 1);
    let kept = value.trunc_with_scale(decimals);
    let cut = (value - kept).abs();
    let kept_is_odd = ((kept / unit).trunc() % Decimal::TWO) != Decimal::ZERO;
    let away = match mode {
        RoundingMode::Up => cut > Decimal::ZERO,
        RoundingMode::Down => false,
        RoundingMode::HalfUp => cut >= half,
        RoundingMode::HalfEven => cut > half || (cut == half && kept_is_odd),
    };
    if !away {
        kept
    } else if value.is_sign_negative() {
        kept - unit
    } else {
        kept + unit
    }
}

/// The rounding applied to an event's amounts: the tariff's decimals, or
/// the ledger's 10 places (half-even) when the invoice line rounds.
pub fn round_event(policy: Policy, value: Decimal) -> Decimal {
    match policy.at {
        RoundAt::Increment | RoundAt::Event => round(value, policy.decimals, policy.mode),
        RoundAt::InvoiceLine => round(value, LEDGER_DECIMALS, RoundingMode::HalfEven),
    }
}

/// `percent` percent of `value`.
pub fn percent(value: Decimal, percent: Decimal) -> Decimal {
    value * percent / Decimal::ONE_HUNDRED
}

/// The increments `[start, end)` of a rated timeline, in order: the first
/// is `first` long, every later one `next`; they run until they cover
/// `quantity`. No increments for a zero quantity.
pub fn increments(quantity: Decimal, (first, next): (Decimal, Decimal)) -> Vec<(Decimal, Decimal)> {
    let mut out = Vec::new();
    let mut start = Decimal::ZERO;
    while start < quantity {
        let len = if out.is_empty() { first } else { next };
        out.push((start, start + len));
        start += len;
    }
    out
}

/// A quantity brought up to whole billing increments.
pub fn rated_quantity(quantity: Decimal, increments_spec: Option<(Decimal, Decimal)>) -> Decimal {
    match increments_spec {
        None => quantity,
        Some(spec) => increments(quantity, spec).last().map_or(Decimal::ZERO, |(_, end)| *end),
    }
}

/// A tier: `(up_to, price)`, `up_to` exclusive, `None` for the last.
pub type Tier = (Option<Decimal>, Decimal);

/// The tier a cumulative position falls in: the first whose bound is above
/// it (a unit at `[p, p + 1)` belongs to the tier holding `p`).
fn tier_at(tiers: &[Tier], position: Decimal) -> (Option<Decimal>, Decimal) {
    *tiers
        .iter()
        .find(|(up_to, _)| up_to.is_none_or(|u| position < u))
        .unwrap_or_else(|| tiers.last().expect("tiers are not empty"))
}

/// Graduated: walks from `before` to `before + quantity`, each stretch at
/// the price of the tier it lies in. Returns `sum(price * units)`, before
/// division by the rate unit.
pub fn graduated(tiers: &[Tier], before: Decimal, quantity: Decimal) -> Decimal {
    let end = before + quantity;
    let mut position = before;
    let mut total = Decimal::ZERO;
    while position < end {
        let (up_to, price) = tier_at(tiers, position);
        let stop = up_to.map_or(end, |u| u.min(end));
        total += price * (stop - position);
        position = stop;
    }
    total
}

/// Volume: the price of the tier the period total falls in after the event
/// (a total exactly on a bound is still in the tier below it: its last
/// unit is).
pub fn volume_price(tiers: &[Tier], total: Decimal) -> Decimal {
    tiers
        .iter()
        .find(|(up_to, _)| up_to.is_none_or(|u| total <= u))
        .unwrap_or_else(|| tiers.last().expect("tiers are not empty"))
        .1
}

/// How many packages of `size` a cumulative quantity has started.
pub fn packages_started(size: Decimal, total: Decimal) -> Decimal {
    let mut n = Decimal::ZERO;
    while n * size < total {
        n += Decimal::ONE;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    #[test]
    fn rounding_by_hand() {
        assert_eq!(round(d("0.105"), 2, RoundingMode::HalfUp), d("0.11"));
        assert_eq!(round(d("0.105"), 2, RoundingMode::HalfEven), d("0.10"));
        assert_eq!(round(d("0.115"), 2, RoundingMode::HalfEven), d("0.12"));
        assert_eq!(round(d("-0.101"), 2, RoundingMode::Up), d("-0.11"));
        assert_eq!(round(d("0.109"), 2, RoundingMode::Down), d("0.10"));
        assert_eq!(round(d("7"), 0, RoundingMode::Up), d("7"));
        assert_eq!(round(d("2.5"), 0, RoundingMode::HalfEven), d("2"));
    }

    #[test]
    fn increments_by_walking() {
        assert_eq!(rated_quantity(d("125"), Some((d("60"), d("1")))), d("125"));
        assert_eq!(rated_quantity(d("30"), Some((d("60"), d("1")))), d("60"));
        assert_eq!(rated_quantity(d("0"), Some((d("60"), d("1")))), d("0"));
        assert_eq!(rated_quantity(d("61.5"), Some((d("60"), d("1")))), d("62"));
    }
}
