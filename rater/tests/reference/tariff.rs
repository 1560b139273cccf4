//! Naive questions asked of the parsed catalog model: every answer is a
//! linear scan of what the file says, read again on every call.

use chrono::{Datelike, NaiveDate};
use ratewire_rater::catalog::model::{Amount, BalanceSpec, CatalogFile, Name, PlanSpec, PlanVersionSpec, RateSpec};
use ratewire_rater::money::{RoundAt, RoundingMode};
use rust_decimal::Decimal;
use toml::Spanned;

use super::arith::Policy;

/// The text of a name.
pub fn text(name: &Name) -> &str {
    name.get_ref().as_str()
}

/// The value of an amount.
pub fn amount(a: &Spanned<Amount>) -> Decimal {
    a.get_ref().0
}

/// A catalog date.
pub fn date(d: &toml::value::Datetime) -> NaiveDate {
    let day = d.date.expect("a plain date");
    NaiveDate::from_ymd_opt(i32::from(day.year), u32::from(day.month), u32::from(day.day)).expect("a valid date")
}

/// A service's unit, if the catalog has the service.
pub fn service_unit<'c>(cat: &'c CatalogFile, service: &str) -> Option<&'c str> {
    cat.services.iter().find(|(n, _)| text(n) == service).map(|(_, s)| s.unit.get_ref().trim())
}

/// A service's `quantity_max`.
pub fn quantity_max(cat: &CatalogFile, service: &str) -> Option<Decimal> {
    cat.services.iter().find(|(n, _)| text(n) == service).and_then(|(_, s)| s.quantity_max.as_ref().map(amount))
}

/// A plan by name.
pub fn plan<'c>(cat: &'c CatalogFile, name: &str) -> Option<&'c PlanSpec> {
    cat.plans.iter().find(|(n, _)| text(n) == name).map(|(_, p)| p)
}

/// The version of a plan in force on a date: of those effective on or
/// before it, the latest.
pub fn version_at(plan: &PlanSpec, on: NaiveDate) -> Option<&PlanVersionSpec> {
    plan.versions
        .iter()
        .filter(|v| date(v.effective_from.get_ref()) <= on)
        .max_by_key(|v| date(v.effective_from.get_ref()))
}

/// `plan@date`.
pub fn tariff_id(plan: &str, version: &PlanVersionSpec) -> String {
    format!("{plan}@{}", date(version.effective_from.get_ref()))
}

/// The zones whose prefixes start a destination, longest prefix first.
pub fn zones_of(cat: &CatalogFile, destination: Option<&str>) -> Vec<String> {
    let mut candidates: Vec<(usize, &str)> = Vec::new();
    if let Some(dest) = destination {
        for (zone, prefixes) in &cat.zones {
            for p in prefixes {
                if dest.starts_with(text(p)) {
                    candidates.push((text(p).len(), text(zone)));
                }
            }
        }
    }
    candidates.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
    candidates.into_iter().map(|(_, z)| z.to_string()).collect()
}

/// A version's rate for a service and zone (`None`: the any-destination rate).
pub fn rate_for<'v>(version: &'v PlanVersionSpec, service: &str, zone: Option<&str>) -> Option<&'v RateSpec> {
    version.rates.iter().find(|r| text(&r.service) == service && r.zone.as_ref().map(text) == zone)
}

/// The rate for a service and destination: the rate of the zone with the
/// longest prefix of the destination that has one, else the rate without a
/// zone. Returns the rate's zone too.
pub fn find_rate<'v>(
    cat: &CatalogFile,
    version: &'v PlanVersionSpec,
    service: &str,
    destination: Option<&str>,
) -> Option<(&'v RateSpec, Option<String>)> {
    for zone in zones_of(cat, destination) {
        if let Some(rate) = rate_for(version, service, Some(&zone)) {
            return Some((rate, Some(zone)));
        }
    }
    rate_for(version, service, None).map(|r| (r, None))
}

/// The rounding of a rate: its own, else its plan's, else the catalog's,
/// else 2 decimals half-up per event.
pub fn rounding(cat: &CatalogFile, plan: &PlanSpec, rate: &RateSpec) -> Policy {
    let spec = rate.rounding.as_ref().or(plan.rounding.as_ref()).or(cat.rounding.as_ref());
    match spec {
        Some(s) => {
            let s = s.get_ref();
            Policy { decimals: s.decimals, mode: s.mode, at: s.at }
        }
        None => Policy { decimals: 2, mode: RoundingMode::HalfUp, at: RoundAt::Event },
    }
}

/// A rate's `(first, next)` increments.
pub fn increments(rate: &RateSpec) -> Option<(Decimal, Decimal)> {
    rate.increments.as_ref().map(|inc| {
        let list = inc.get_ref();
        (list[0].0, list[1].0)
    })
}

/// A rate's rate unit (1 when absent).
pub fn rate_unit(rate: &RateSpec) -> Decimal {
    rate.rate_unit.as_ref().map_or(Decimal::ONE, amount)
}

/// Parses `HH:MM` into seconds of the day.
fn seconds(hhmm: &str) -> u32 {
    let (h, m) = hhmm.trim().split_once(':').expect("HH:MM");
    h.parse::<u32>().expect("hours") * 3600 + m.parse::<u32>().expect("minutes") * 60
}

/// The band of a schedule at a local date and second of the day: the band
/// whose days include the date's day type and one of whose hour ranges
/// holds the second. The day type is `holiday` on the schedule calendar's
/// dates, else the weekday.
pub fn band_at(cat: &CatalogFile, schedule: &str, day: NaiveDate, second: u32) -> String {
    let spec = cat.schedules.iter().find(|(n, _)| text(n) == schedule).map(|(_, s)| s).expect("schedule exists");
    let holiday = spec.calendar.as_ref().is_some_and(|cal| {
        let (_, c) = cat.calendars.iter().find(|(n, _)| text(n) == text(cal)).expect("calendar exists");
        c.holidays.iter().any(|h| date(h.get_ref()) == day)
    });
    const WEEK: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let weekday = WEEK[day.weekday().num_days_from_monday() as usize];
    let day_type = if holiday { "holiday" } else { weekday };
    for (band, b) in &spec.bands {
        let covers_day = b.days.iter().any(|d| match text(d) {
            "all" => day_type != "holiday",
            "weekdays" => ["mon", "tue", "wed", "thu", "fri"].contains(&day_type),
            "weekend" => ["sat", "sun"].contains(&day_type),
            other => other == day_type,
        });
        let covers_time = b.hours.iter().any(|h| {
            let (from, to) = text(h).split_once('-').expect("HH:MM-HH:MM");
            seconds(from) <= second && second < seconds(to)
        });
        if covers_day && covers_time {
            return text(band).to_string();
        }
    }
    panic!("schedule {schedule} has no band for {day} second {second}");
}

/// A band's price in a banded rate.
pub fn band_price(rate: &RateSpec, band: &str) -> Decimal {
    let prices = rate.band_prices.as_ref().expect("a banded rate");
    prices.iter().find(|(n, _)| text(n) == band).map(|(_, p)| amount(p)).expect("every band has a price")
}

/// What the reference needs to know of a balance.
#[derive(Debug, Clone)]
pub struct Balance {
    /// Name.
    pub name: String,
    /// `None` for money, else the unit it counts.
    pub unit: Option<String>,
    /// Lower is drawn first (ties: by name).
    pub priority: u32,
    /// Services it pays for; all when `None`.
    pub services: Option<Vec<String>>,
    /// Zones it pays for; all when `None`.
    pub zones: Option<Vec<String>>,
    /// Whether what is left expires at period end.
    pub expires: bool,
    /// The most that rolls over.
    pub rollover_max: Option<Decimal>,
}

impl Balance {
    /// Whether it may pay for `service` to `zone` (a balance limited to
    /// zones pays nothing for an event without a zone).
    pub fn covers(&self, service: &str, zone: Option<&str>) -> bool {
        self.services.as_ref().is_none_or(|list| list.iter().any(|s| s == service))
            && self.zones.as_ref().is_none_or(|list| zone.is_some_and(|z| list.iter().any(|l| l == z)))
    }
}

/// A balance by name; `main` is the built-in money balance, never expiring.
pub fn balance(cat: &CatalogFile, name: &str) -> Option<Balance> {
    if name == "main" {
        return Some(Balance {
            name: name.into(),
            unit: None,
            priority: u32::MAX,
            services: None,
            zones: None,
            expires: false,
            rollover_max: None,
        });
    }
    let (_, spec): (_, &BalanceSpec) = cat.balances.iter().find(|(n, _)| text(n) == name)?;
    let unit = spec.unit.get_ref().trim();
    let unit = (unit != "money").then(|| unit.to_string());
    Some(Balance {
        name: name.into(),
        expires: spec.expires.unwrap_or(unit.is_some()),
        unit,
        priority: spec.priority,
        services: spec.services.as_ref().map(|l| l.iter().map(|n| text(n).to_string()).collect()),
        zones: spec.zones.as_ref().map(|l| l.iter().map(|n| text(n).to_string()).collect()),
        rollover_max: spec.rollover_max.as_ref().map(amount),
    })
}
