//! Pure charge arithmetic: billing increments and the charge models.
//!
//! Everything here is exact: prices are multiplied before they are divided
//! by the rate unit, and rounding happens only where the rate says.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::clock::ZoneClock;
use crate::money::{self, RoundAt};
use crate::tables::{Model, Rate, Schedule, Tier};

/// A quantity brought up to the billing increments `(first, next)`:
/// nothing for zero, at least `first`, then whole `next` steps.
#[inline]
#[must_use]
pub fn to_increments(quantity: Decimal, increments: Option<(Decimal, Decimal)>) -> Decimal {
    let Some((first, next)) = increments else { return quantity };
    if quantity.is_sign_negative() || quantity.is_zero() {
        return Decimal::ZERO;
    }
    // Whole quantities and increments (seconds, bytes, messages): integers.
    if let (Some(q), Some(f), Some(n)) = (whole(quantity), whole(first), whole(next)) {
        let rated =
            if q <= f { Some(f) } else { (q - f).div_ceil(n).checked_mul(n).and_then(|steps| f.checked_add(steps)) };
        if let Some(rated) = rated {
            return Decimal::from(rated);
        }
    }
    to_fractional_increments(quantity, first, next)
}

/// [`to_increments`] of a fraction (or of integers too large for a `u64`),
/// out of line: rare, and long.
#[inline(never)]
fn to_fractional_increments(quantity: Decimal, first: Decimal, next: Decimal) -> Decimal {
    if money::cmp(quantity, first).is_le() { first } else { first + ((quantity - first) / next).ceil() * next }
}

/// `d` as an integer, if it is a whole number that fits.
fn whole(d: Decimal) -> Option<u64> {
    let parts = d.unpack();
    let m = u64::from(parts.lo) | u64::from(parts.mid) << 32;
    // A negative zero is 0.
    (parts.scale == 0 && parts.hi == 0 && (!parts.negative || m == 0)).then_some(m)
}

/// How many increments start before offset `at` (increments start at 0,
/// `first`, `first + next`, ...).
fn starts_before(at: Decimal, (first, next): (Decimal, Decimal)) -> Decimal {
    if !money::is_positive(at) {
        Decimal::ZERO
    } else if money::cmp(at, first).is_le() {
        Decimal::ONE
    } else {
        Decimal::ONE + ((at - first) / next).ceil()
    }
}

/// The charge of the units in `[from, to)` of an event's rated timeline.
/// `band_of` gives each part of the window its price (flat rates have one).
pub(crate) struct Window {
    /// Start of the charged part (the allowance covers what is before).
    pub from: Decimal,
    /// End: the rated quantity.
    pub to: Decimal,
}

/// The usage charge of a per-unit rate over a window: `Flat` or `Banded`,
/// before connect fee, minimum and maximum.
pub(crate) fn per_unit(rate: &Rate, window: &Window, price: Decimal) -> Decimal {
    piece(rate, window.from, window.to, price)
}

/// The charge of `[from, to)` at one price, rounded per increment when the
/// rate says so.
fn piece(rate: &Rate, from: Decimal, to: Decimal, price: Decimal) -> Decimal {
    if money::cmp(to, from).is_le() {
        return Decimal::ZERO;
    }
    match (rate.rounding.at, rate.increments) {
        (RoundAt::Increment, Some(inc @ (first, next))) => {
            let firsts = if from.is_zero() { Decimal::ONE } else { Decimal::ZERO };
            let all = starts_before(to, inc) - starts_before(from, inc);
            let nexts = all - firsts;
            firsts * rate.rounding.round(price * first / rate.rate_unit)
                + nexts * rate.rounding.round(price * next / rate.rate_unit)
        }
        _ => money::mul(price, money::sub(to, from)) / rate.rate_unit,
    }
}

/// The usage charge of a banded rate: the window split where the band
/// changes. Durations are split in time; other units take the band at the
/// event's start.
pub(crate) fn banded(
    rate: &Rate,
    window: &Window,
    schedule: &Schedule,
    prices: &[Decimal],
    clock: &ZoneClock,
    start: DateTime<Utc>,
    is_duration: bool,
) -> Decimal {
    let span = if is_duration { window.to } else { Decimal::ZERO };
    let mut total = Decimal::ZERO;
    // Without per-increment rounding, `price * units` is summed over the
    // bands and divided by the rate unit once: each quotient is cut at 28
    // places, and the cuts of several can add up to change the rounded
    // charge (0.0200..01 rounds up to 0.03).
    let per_increment = rate.rounding.at == RoundAt::Increment && rate.increments.is_some();
    let mut priced_units = Decimal::ZERO;
    let mut first_band = None;
    schedule.split(clock, start, span, |band, seg_from, seg_to| {
        first_band.get_or_insert(band);
        if is_duration {
            let from = money::max(seg_from, window.from);
            let to = money::min(seg_to, window.to);
            let price = prices[usize::from(band)];
            if per_increment {
                total = money::add(total, piece(rate, from, to, price));
            } else if money::cmp(to, from).is_gt() {
                priced_units = money::add(priced_units, money::mul(price, money::sub(to, from)));
            }
        }
    });
    if !is_duration {
        let band = first_band.unwrap_or(0);
        total = piece(rate, window.from, window.to, prices[usize::from(band)]);
    }
    money::add(total, priced_units / rate.rate_unit)
}

/// Graduated tiers: each unit from `before` to `before + quantity` at the
/// price of the tier it falls in; divided by the rate unit once, after
/// summing, so that the sum stays exact.
pub(crate) fn graduated(tiers: &[Tier], before: Decimal, quantity: Decimal, rate_unit: Decimal) -> Decimal {
    let after = money::add(before, quantity);
    let mut low = Decimal::ZERO;
    let mut total = Decimal::ZERO;
    for tier in tiers {
        let high = tier.up_to.unwrap_or(Decimal::MAX);
        let overlap = money::sub(money::min(after, high), money::max(before, low));
        if money::is_positive(overlap) {
            total = money::add(total, money::mul(tier.price, overlap));
        }
        if money::cmp(after, high).is_le() {
            break;
        }
        low = high;
    }
    total / rate_unit
}

/// Volume tiers: the whole event at the price of the tier that the period's
/// total (after this event) falls in.
pub(crate) fn volume(tiers: &[Tier], before: Decimal, quantity: Decimal, rate_unit: Decimal) -> Decimal {
    let total = before + quantity;
    let tier = tiers.iter().find(|t| t.up_to.is_none_or(|u| money::cmp(total, u).is_le())).or(tiers.last());
    tier.map_or(Decimal::ZERO, |t| t.price * quantity / rate_unit)
}

/// Packages: a price for each package started by the period's cumulative
/// quantity crossing into it.
pub(crate) fn package(size: Decimal, price: Decimal, before: Decimal, quantity: Decimal) -> Decimal {
    let started = |q: Decimal| (q / size).ceil();
    (started(before + quantity) - started(before)) * price
}

/// Whether a model's quantity can be paid from unit allowances.
pub(crate) fn takes_allowances(model: &Model) -> bool {
    !matches!(model, Model::Percentage(_) | Model::PerDevice { .. })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::{Rounding, RoundingMode};
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn rate(at: RoundAt, increments: Option<(Decimal, Decimal)>) -> Rate {
        Rate {
            model: Model::Flat(d("0.10")),
            rate_unit: d("60"),
            increments,
            connect_fee: Decimal::ZERO,
            minimum: None,
            maximum: None,
            rounding: Rounding { decimals: 2, mode: RoundingMode::HalfUp, at },
            counter: 0,
        }
    }

    #[test]
    fn increments_round_up() {
        let inc = Some((d("60"), d("1")));
        assert_eq!(to_increments(d("0"), inc), d("0"));
        assert_eq!(to_increments(d("1"), inc), d("60"));
        assert_eq!(to_increments(d("60"), inc), d("60"));
        assert_eq!(to_increments(d("61.2"), inc), d("62"));
        assert_eq!(to_increments(d("125"), Some((d("30"), d("30")))), d("150"));
        assert_eq!(to_increments(d("7"), None), d("7"));
    }

    #[test]
    fn per_increment_rounding_prices_each_increment() {
        // 0.10 per minute, 60/1: first increment 0.10, each next second
        // 0.10/60 = 0.001666.. -> 0.00 at 2 decimals half-up.
        let r = rate(RoundAt::Increment, Some((d("60"), d("1"))));
        let w = Window { from: d("0"), to: d("125") };
        assert_eq!(per_unit(&r, &w, d("0.10")), d("0.10"));
        // Per event: 0.10 * 125 / 60 = 0.208333..
        let r = rate(RoundAt::Event, Some((d("60"), d("1"))));
        assert_eq!(r.rounding.round(per_unit(&r, &w, d("0.10"))), d("0.21"));
    }

    #[test]
    fn tiers() {
        let tiers = [
            Tier { up_to: Some(d("100")), price: d("1") },
            Tier { up_to: Some(d("200")), price: d("0.5") },
            Tier { up_to: None, price: d("0.25") },
        ];
        // 50 units after 80: 20 at 1, 30 at 0.5.
        assert_eq!(graduated(&tiers, d("80"), d("50"), d("1")), d("35"));
        // 150 units after 150: 50 at 0.5, 100 at 0.25.
        assert_eq!(graduated(&tiers, d("150"), d("150"), d("1")), d("50"));
        // Volume: total 130 is in tier 2; the event's 50 units at 0.5.
        assert_eq!(volume(&tiers, d("80"), d("50"), d("1")), d("25"));
        // Total exactly 100 stays in tier 1.
        assert_eq!(volume(&tiers, d("50"), d("50"), d("1")), d("50"));
    }

    #[test]
    fn parts_are_divided_by_the_rate_unit_once() {
        // After 90 s: 10 s, 100 s and 10 s in three tiers at 0.01 per minute,
        // 0.02 exactly. Each part divided on its own is 0.0016..67 +
        // 0.016..67 + 0.0016..67, one unit in the 28th place too much, which
        // rounding up would turn into 0.03.
        let tiers = [
            Tier { up_to: Some(d("100")), price: d("0.01") },
            Tier { up_to: Some(d("200")), price: d("0.01") },
            Tier { up_to: None, price: d("0.01") },
        ];
        assert_eq!(graduated(&tiers, d("90"), d("120"), d("60")), d("0.02"));
        // The same with bands: 25, 70 and 25 minutes at 0.01 per hour.
        let day = vec![(0, 0), (70 * 60, 1), (140 * 60, 2)];
        let schedule = Schedule {
            name: "s".into(),
            bands: vec!["a".into(), "b".into(), "c".into()],
            days: std::array::from_fn(|_| day.clone()),
            holidays: Vec::new(),
        };
        let mut r = rate(RoundAt::Event, None);
        r.rate_unit = d("3600");
        let start = DateTime::parse_from_rfc3339("2026-03-02T00:45:00Z").unwrap().with_timezone(&Utc);
        let w = Window { from: d("0"), to: d("7200") };
        let prices = [d("0.01"), d("0.01"), d("0.01")];
        assert_eq!(banded(&r, &w, &schedule, &prices, &ZoneClock::of(chrono_tz::UTC), start, true), d("0.02"));
    }

    #[test]
    fn packages_start_as_usage_crosses_them() {
        assert_eq!(package(d("100"), d("5"), d("0"), d("1")), d("5"));
        assert_eq!(package(d("100"), d("5"), d("1"), d("99")), d("0"));
        assert_eq!(package(d("100"), d("5"), d("100"), d("150")), d("10"));
    }
}
