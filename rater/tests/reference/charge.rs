//! The usage charge of one event under one rate, before connect fee,
//! minimum and maximum. Time bands are found by walking the event's rated
//! timeline one clock minute at a time: schedules change band only on
//! whole local minutes and the supported zones' offsets are whole hours, so
//! a band holds for every second of a UTC minute.

use std::collections::HashMap;

use chrono::{DateTime, Duration, DurationRound, Timelike, Utc};
use chrono_tz::Tz;
use ratewire_rater::catalog::model::{CatalogFile, ModelName, RateSpec};
use ratewire_rater::money::RoundAt;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::arith::{self, Policy, Tier};
use super::tariff;

/// The band of each minute of an event's timeline, looked up once each.
struct Clock<'a> {
    cat: &'a CatalogFile,
    schedule: &'a str,
    tz: Tz,
    /// The UTC minute the event starts in.
    minute0: DateTime<Utc>,
    /// Seconds from `minute0` to the event's start.
    lead: i64,
    bands: HashMap<i64, String>,
}

impl<'a> Clock<'a> {
    fn new(cat: &'a CatalogFile, schedule: &'a str, tz: Tz, start: DateTime<Utc>) -> Self {
        let minute0 = start.duration_trunc(Duration::minutes(1)).expect("truncates");
        Self { cat, schedule, tz, minute0, lead: i64::from(start.second()), bands: HashMap::new() }
    }

    /// The band at `offset` seconds into the event (fractions belong to the
    /// second they are in).
    fn band(&mut self, offset: Decimal) -> String {
        let second = offset.floor().to_i64().expect("offset fits") + self.lead;
        let minute = second.div_euclid(60);
        let (cat, schedule, tz, minute0) = (self.cat, self.schedule, self.tz, self.minute0);
        self.bands
            .entry(minute)
            .or_insert_with(|| {
                let local = (minute0 + Duration::minutes(minute)).with_timezone(&tz);
                tariff::band_at(cat, schedule, local.date_naive(), local.num_seconds_from_midnight())
            })
            .clone()
    }

    /// Where the minute holding `offset` ends, in seconds into the event.
    fn minute_end(&self, offset: Decimal) -> Decimal {
        let second = offset.floor().to_i64().expect("offset fits") + self.lead;
        Decimal::from((second.div_euclid(60) + 1) * 60 - self.lead)
    }
}

/// Everything the charge of one event depends on.
pub struct Usage<'a> {
    /// The catalog.
    pub cat: &'a CatalogFile,
    /// The rate.
    pub rate: &'a RateSpec,
    /// Its rounding.
    pub policy: Policy,
    /// The account's zone.
    pub tz: Tz,
    /// When the event started.
    pub start: DateTime<Utc>,
    /// Whether the service counts seconds (bands split durations in time).
    pub is_duration: bool,
    /// Charged part of the rated timeline: `[from, to)`.
    pub from: Decimal,
    /// End of the rated timeline.
    pub to: Decimal,
    /// The period's cumulative chargeable quantity before this event.
    pub before: Decimal,
}

fn tiers(rate: &RateSpec) -> Vec<Tier> {
    rate.tiers
        .as_ref()
        .expect("tiers")
        .iter()
        .map(|t| (t.up_to.as_ref().map(tariff::amount), tariff::amount(&t.price)))
        .collect()
}

/// The model's charge for `[from, to)`.
pub fn usage_charge(u: &Usage<'_>) -> Decimal {
    let rate = u.rate;
    let unit = tariff::rate_unit(rate);
    let chargeable = u.to - u.from;
    match *rate.model.get_ref() {
        ModelName::PerUnit => per_unit(u),
        ModelName::Graduated => arith::graduated(&tiers(rate), u.before, chargeable) / unit,
        ModelName::Volume => arith::volume_price(&tiers(rate), u.before + chargeable) * chargeable / unit,
        ModelName::Package => {
            let size = tariff::amount(rate.package_size.as_ref().expect("package_size"));
            let price = tariff::amount(rate.price.as_ref().expect("price"));
            let started =
                arith::packages_started(size, u.before + chargeable) - arith::packages_started(size, u.before);
            started * price
        }
        other => panic!("model {other:?} is outside the reference's subset"),
    }
}

/// Per unit, flat or banded. With increment rounding each billing
/// increment is priced and rounded on its own, at the band where it
/// starts; otherwise the units of each band are summed and the total
/// divided by the rate unit once.
fn per_unit(u: &Usage<'_>) -> Decimal {
    let rate = u.rate;
    let unit = tariff::rate_unit(rate);
    let banded = rate.schedule.as_ref().map(tariff::text);
    let flat = rate.price.as_ref().map(tariff::amount);
    let mut clock = banded.map(|s| Clock::new(u.cat, s, u.tz, u.start));
    // The price at an offset of the rated timeline: a band's price at that
    // moment for durations, the band at the start for anything else.
    let price_at = |clock: &mut Option<Clock<'_>>, offset: Decimal| match (clock, flat) {
        (_, Some(p)) => p,
        (Some(c), None) => tariff::band_price(rate, &c.band(if u.is_duration { offset } else { Decimal::ZERO })),
        (None, None) => panic!("per_unit needs a price or bands"),
    };
    if u.policy.at == RoundAt::Increment {
        let spec = tariff::increments(rate).expect("increment rounding has increments");
        let mut total = Decimal::ZERO;
        for (start, end) in arith::increments(u.to, spec) {
            if start >= u.from {
                total +=
                    arith::round(price_at(&mut clock, start) * (end - start) / unit, u.policy.decimals, u.policy.mode);
            }
        }
        return total;
    }
    let mut sum = Decimal::ZERO;
    let mut at = u.from;
    while at < u.to {
        // One stretch of one price: up to the end of the clock minute for
        // banded durations, the whole window otherwise.
        let stop = match (&clock, u.is_duration) {
            (Some(c), true) => c.minute_end(at).min(u.to),
            _ => u.to,
        };
        sum += price_at(&mut clock, at) * (stop - at);
        at = stop;
    }
    sum / unit
}
