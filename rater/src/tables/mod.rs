//! Compiled, in-memory tariff tables: what the rater reads on the hot path.
//!
//! Built from a checked catalog file by [`crate::catalog::compile`]; names
//! are resolved to indices, dates to `NaiveDate`, prefixes into a trie.
//! Immutable once built; a reload builds new tables and swaps them.

mod prefix;
mod schedule;

use std::collections::HashMap;

use chrono::NaiveDate;
use fixedbitset::FixedBitSet;
use rust_decimal::Decimal;

pub use prefix::{MATCHES_MAX, PrefixTable, ZoneId};
pub use schedule::{BandId, DAY_TYPES, HOLIDAY, SEGMENTS_MAX, Schedule};

pub use crate::catalog::model::{DevicePeriod, Proration};
use crate::money::{Currency, Rounding};
use crate::name::Name;

/// Index of a service in [`Tables::services`].
pub type ServiceId = u32;
/// Index of a balance in [`Tables::balances`]; [`MAIN_BALANCE`] is `main`.
pub type BalanceId = u32;
/// Index of a plan in [`Tables::plans`].
pub type PlanId = u32;

/// The implicit money balance every account has, drawn last.
pub const MAIN_BALANCE: BalanceId = 0;
/// Its name.
pub const MAIN_BALANCE_NAME: &str = "main";

/// A whole catalog, compiled.
#[derive(Debug)]
pub struct Tables {
    /// Catalog version, recorded on every rated record.
    pub version: Name,
    /// Default currency.
    pub currency: Currency,
    /// Services.
    pub services: Vec<Service>,
    /// Service ids by name.
    pub service_ids: HashMap<String, ServiceId, foldhash::fast::RandomState>,
    /// Zone names, indexed by [`ZoneId`].
    pub zones: Vec<Name>,
    /// Destination prefixes.
    pub prefixes: PrefixTable,
    /// Schedules.
    pub schedules: Vec<Schedule>,
    /// Balances; index 0 is `main`.
    pub balances: Vec<BalanceDef>,
    /// Balance ids by name.
    pub balance_ids: HashMap<String, BalanceId>,
    /// Plans.
    pub plans: Vec<Plan>,
    /// Plan ids by name.
    pub plan_ids: HashMap<String, PlanId>,
    /// Discounts, in catalog order.
    pub discounts: Vec<Discount>,
    /// Individual rates, one list per account that has any.
    pub overrides: Vec<Vec<Override>>,
    /// Index into `overrides` by account id.
    pub override_ids: HashMap<String, u32>,
    /// Partners.
    pub partners: Vec<Partner>,
    /// Partner index by id.
    pub partner_ids: HashMap<String, u32>,
    /// Taxes.
    pub taxes: Vec<Tax>,
    /// Tax index by jurisdiction.
    pub tax_ids: HashMap<String, u32>,
    /// Units of measure, interned: services and balances refer to them by index.
    pub units: Vec<String>,
    /// Thresholds.
    pub thresholds: Thresholds,
}

/// A service.
#[derive(Debug, Clone)]
pub struct Service {
    /// Name.
    pub name: Name,
    /// Unit of quantities.
    pub unit: String,
    /// Index of the unit in [`Tables::units`].
    pub unit_id: u32,
    /// Whether quantities are durations in seconds (split at band boundaries).
    pub is_duration: bool,
    /// Largest quantity one event may carry.
    pub quantity_max: Option<Decimal>,
}

/// A balance definition.
#[derive(Debug, Clone)]
pub struct BalanceDef {
    /// Name.
    pub name: Name,
    /// `None` for money, else the unit it counts.
    pub unit: Option<String>,
    /// `None` for money, else the index of its unit in [`Tables::units`].
    pub unit_id: Option<u32>,
    /// Lower is drawn first.
    pub priority: u32,
    /// Services it pays for; all when `None`.
    pub services: Option<Vec<ServiceId>>,
    /// Zones it pays for, by zone id; all when `None`.
    pub zones: Option<FixedBitSet>,
    /// Whether what is left expires at period end.
    pub expires: bool,
    /// The most carried into the next period.
    pub rollover_max: Option<Decimal>,
}

impl BalanceDef {
    /// Whether this balance may pay for `service` to `zone`.
    #[must_use]
    pub fn covers(&self, service: ServiceId, zone: Option<ZoneId>) -> bool {
        self.services.as_ref().is_none_or(|s| s.contains(&service))
            && self.zones.as_ref().is_none_or(|z| zone.is_some_and(|zone| z.contains(zone as usize)))
    }
}

/// A plan and its versions.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Id.
    pub id: Name,
    /// Currency.
    pub currency: Currency,
    /// Versions sorted by `effective_from`.
    pub versions: Vec<PlanVersion>,
}

impl Plan {
    /// The version in force on a local date.
    #[must_use]
    pub fn version_at(&self, date: NaiveDate) -> Option<&PlanVersion> {
        let i = self.versions.partition_point(|v| v.effective_from <= date);
        i.checked_sub(1).map(|i| &self.versions[i])
    }
}

/// One plan version.
#[derive(Debug, Clone)]
pub struct PlanVersion {
    /// First local date in force.
    pub effective_from: NaiveDate,
    /// `plan@date`, recorded as the tariff id of rated records.
    pub tariff_id: Name,
    /// Recurring fees.
    pub recurring: Vec<Recurring>,
    /// Allowances granted per period.
    pub grants: Vec<(BalanceId, Decimal)>,
    /// Usage rates.
    pub rates: RateIndex,
}

/// A recurring fee.
#[derive(Debug, Clone)]
pub struct Recurring {
    /// Fee id.
    pub id: Name,
    /// Amount for a whole month.
    pub amount: Decimal,
    /// Proration for part months.
    pub proration: Proration,
    /// Rounding of prorated amounts.
    pub rounding: Rounding,
}

/// Rates by service and zone: a dense table with a slot for each service
/// and zone (plus the any-destination slot), so a lookup is an index.
#[derive(Debug, Clone, Default)]
pub struct RateIndex {
    /// All rates.
    pub rates: Vec<Rate>,
    /// `service * (zones + 1) + (zone + 1 or 0)` to an index in `rates`, or
    /// [`NO_RATE`].
    slots: Vec<u32>,
    /// Zones + 1.
    stride: u32,
}

const NO_RATE: u32 = u32::MAX;

impl RateIndex {
    /// An empty index for `services` services and `zones` zones.
    #[must_use]
    pub fn new(services: usize, zones: usize) -> Self {
        let stride = u32::try_from(zones + 1).unwrap_or(u32::MAX);
        Self { rates: Vec::new(), slots: vec![NO_RATE; services * (zones + 1)], stride }
    }

    /// The slot key of a service and zone; also the key of the rate's
    /// period counter.
    #[must_use]
    pub fn key(&self, service: ServiceId, zone: Option<ZoneId>) -> u32 {
        service * self.stride + zone.map_or(0, |z| z + 1)
    }

    /// Adds a rate; returns false if the service and zone had one already.
    pub fn insert(&mut self, service: ServiceId, zone: Option<ZoneId>, rate: Rate) -> bool {
        let key = self.key(service, zone) as usize;
        if self.slots[key] != NO_RATE {
            return false;
        }
        self.slots[key] = u32::try_from(self.rates.len()).unwrap_or(NO_RATE);
        self.rates.push(rate);
        true
    }

    fn get(&self, key: u32) -> Option<&Rate> {
        match self.slots.get(key as usize) {
            Some(&i) if i != NO_RATE => Some(&self.rates[i as usize]),
            _ => None,
        }
    }

    /// The rate for a service and the first zone candidate (longest prefix
    /// first) that has one, else the any-destination rate.
    #[must_use]
    pub fn find(&self, service: ServiceId, zones: &[ZoneId]) -> Option<(&Rate, Option<ZoneId>)> {
        for zone in zones {
            if let Some(rate) = self.get(self.key(service, Some(*zone))) {
                return Some((rate, Some(*zone)));
            }
        }
        self.get(self.key(service, None)).map(|r| (r, None))
    }
}

/// A compiled rate.
#[derive(Debug, Clone)]
pub struct Rate {
    /// The charge model and its prices.
    pub model: Model,
    /// Units a price is for.
    pub rate_unit: Decimal,
    /// `(first, next)` billing increments.
    pub increments: Option<(Decimal, Decimal)>,
    /// Fee per charged event.
    pub connect_fee: Decimal,
    /// Least charge of a charged event.
    pub minimum: Option<Decimal>,
    /// Most charge of an event.
    pub maximum: Option<Decimal>,
    /// Rounding policy.
    pub rounding: Rounding,
    /// Key of this rate's cumulative period counter (tiers, packages).
    pub counter: u32,
}

/// Charge models, compiled.
#[derive(Debug, Clone)]
pub enum Model {
    /// One price, per `rate_unit`.
    Flat(Decimal),
    /// A price per band of a schedule.
    Banded {
        /// Index in [`Tables::schedules`].
        schedule: u32,
        /// Price per band, indexed by [`BandId`].
        prices: Vec<Decimal>,
    },
    /// Graduated tiers over cumulative period quantity.
    Graduated(Vec<Tier>),
    /// Volume tiers over cumulative period quantity.
    Volume(Vec<Tier>),
    /// Price per started package over cumulative period quantity.
    Package {
        /// Units per package.
        size: Decimal,
        /// Price per package.
        price: Decimal,
    },
    /// Percent of the quantity (a money amount).
    Percentage(Decimal),
    /// Price per active device per day or month.
    PerDevice {
        /// Day or month.
        per: DevicePeriod,
        /// Price.
        price: Decimal,
    },
}

/// A tier: up to `up_to` (exclusive) cumulative units at `price` per rate unit.
#[derive(Debug, Clone, Copy)]
pub struct Tier {
    /// Upper bound, `None` for the last tier.
    pub up_to: Option<Decimal>,
    /// Price per rate unit.
    pub price: Decimal,
}

/// A discount.
#[derive(Debug, Clone)]
pub struct Discount {
    /// Id.
    pub id: Name,
    /// Percent off, or a fixed amount per period.
    pub off: DiscountOff,
    /// Services; all when `None`.
    pub services: Option<Vec<ServiceId>>,
    /// Whether recurring fees are discounted too.
    pub recurring: bool,
    /// Plans; all when `None`.
    pub plans: Option<Vec<PlanId>>,
    /// Segments; all when `None`.
    pub segments: Option<Vec<String>>,
    /// Accounts; all when `None`.
    pub accounts: Option<Vec<String>>,
    /// First local date valid.
    pub valid_from: Option<NaiveDate>,
    /// First local date no longer valid.
    pub valid_to: Option<NaiveDate>,
}

/// What a discount takes off.
#[derive(Debug, Clone, Copy)]
pub enum DiscountOff {
    /// Percent of each matching charge, as a factor (`percent / 100`).
    Percent(Decimal),
    /// A budget per period, used up in event order.
    FixedPerPeriod(Decimal),
}

/// Individual rates for one account.
#[derive(Debug, Clone)]
pub struct Override {
    /// First local date valid.
    pub valid_from: Option<NaiveDate>,
    /// First local date no longer valid.
    pub valid_to: Option<NaiveDate>,
    /// `override:<account>`, recorded as the tariff id.
    pub tariff_id: Name,
    /// The rates.
    pub rates: RateIndex,
}

/// Whether `date` falls in `[from, to)`, open ends allowed.
#[must_use]
pub fn in_window(date: NaiveDate, from: Option<NaiveDate>, to: Option<NaiveDate>) -> bool {
    from.is_none_or(|f| date >= f) && to.is_none_or(|t| date < t)
}

/// A partner's share.
#[derive(Debug, Clone)]
pub struct Partner {
    /// Id.
    pub id: Name,
    /// Percent of net.
    pub share_percent: Decimal,
    /// `share_percent / 100`, exact.
    pub share_factor: Decimal,
    /// Services; all when `None`.
    pub services: Option<Vec<ServiceId>>,
}

/// A jurisdiction's tax.
#[derive(Debug, Clone)]
pub struct Tax {
    /// Percent of net.
    pub rate_percent: Decimal,
    /// `rate_percent / 100`, exact.
    pub rate_factor: Decimal,
    /// Services not taxed.
    pub exempt: Vec<ServiceId>,
}

/// Threshold settings.
#[derive(Debug, Clone, Default)]
pub struct Thresholds {
    /// Notify below this main balance.
    pub low_balance: Option<Decimal>,
    /// Notify when an allowance is used up.
    pub notify_exhausted: bool,
    /// Block beyond the credit limit.
    pub block_over_credit_limit: bool,
    /// Block when unpaid this many days after period end.
    pub unpaid_block_after_days: Option<u32>,
}
