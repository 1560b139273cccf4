//! The catalog file as written: serde structures mirroring the TOML format
//! documented in `docs/catalog.md`. Values that later checks may blame carry
//! their position ([`Spanned`]) so that every message points at a line.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::money::{RoundAt, RoundingMode};

/// Text with its position in the file.
pub type Name = Spanned<String>;

/// The whole catalog file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    /// The catalog version, recorded on every rated record.
    pub version: Name,
    /// Default currency of plans (ISO 4217).
    pub currency: Name,
    /// Default rounding of every rate.
    #[serde(default)]
    pub rounding: Option<Spanned<RoundingSpec>>,
    /// Services by name.
    pub services: BTreeMap<Name, ServiceSpec>,
    /// Destination zones by name: the number prefixes that belong to each.
    #[serde(default)]
    pub zones: BTreeMap<Name, Vec<Name>>,
    /// Holiday calendars by name.
    #[serde(default)]
    pub calendars: BTreeMap<Name, CalendarSpec>,
    /// Time-band schedules by name.
    #[serde(default)]
    pub schedules: BTreeMap<Name, ScheduleSpec>,
    /// Balances other than the implicit `main` money balance.
    #[serde(default)]
    pub balances: BTreeMap<Name, BalanceSpec>,
    /// Plans by id.
    pub plans: BTreeMap<Name, PlanSpec>,
    /// Discounts and promotions.
    #[serde(default)]
    pub discounts: Vec<DiscountSpec>,
    /// Individual rates for particular accounts.
    #[serde(default)]
    pub overrides: Vec<OverrideSpec>,
    /// Partners and dealers by id, with their revenue share.
    #[serde(default)]
    pub partners: BTreeMap<Name, PartnerSpec>,
    /// Tax by jurisdiction.
    #[serde(default)]
    pub taxes: BTreeMap<Name, TaxSpec>,
    /// When to emit notify and block actions.
    #[serde(default)]
    pub thresholds: ThresholdSpec,
}

/// A rounding policy as written.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundingSpec {
    /// Decimal places, 0 to 6.
    pub decimals: u32,
    /// `up`, `down`, `half_up` or `half_even`.
    pub mode: RoundingMode,
    /// `increment`, `event` or `invoice_line`.
    pub at: RoundAt,
}

/// A service.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// The unit of its quantities (`second`, `byte`, `message`, `money`, ...).
    /// Quantities in `second` are split at time-band boundaries.
    pub unit: Name,
    /// The largest quantity one event may carry; larger ones are rejected.
    #[serde(default)]
    pub quantity_max: Option<Spanned<Amount>>,
}

/// A holiday calendar.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// Local dates that count as holidays.
    pub holidays: Vec<Spanned<toml::value::Datetime>>,
}

/// A time-band schedule: bands that cover each day exactly once.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// The holiday calendar whose dates use the `holiday` day type.
    #[serde(default)]
    pub calendar: Option<Name>,
    /// Bands by name.
    pub bands: BTreeMap<Name, BandSpec>,
}

/// One time band.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandSpec {
    /// Day types: `mon` .. `sun`, `holiday`, or `weekdays` / `weekend` / `all`.
    pub days: Vec<Name>,
    /// Local time ranges `HH:MM-HH:MM`, end exclusive, `24:00` for midnight.
    pub hours: Vec<Name>,
}

/// A balance definition.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceSpec {
    /// `money`, or the unit of the services it covers.
    pub unit: Name,
    /// Lower numbers are drawn first.
    pub priority: u32,
    /// Services it may pay for; all when absent.
    #[serde(default)]
    pub services: Option<Vec<Name>>,
    /// Destination zones it may pay for; all when absent.
    #[serde(default)]
    pub zones: Option<Vec<Name>>,
    /// Whether what is left expires at period end (default: true for unit
    /// balances, false for money).
    #[serde(default)]
    pub expires: Option<bool>,
    /// The most that rolls over into the next period (expiring balances only).
    #[serde(default)]
    pub rollover_max: Option<Spanned<Amount>>,
}

/// A plan: effective-dated versions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSpec {
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Currency; the catalog's when absent.
    #[serde(default)]
    pub currency: Option<Name>,
    /// Rounding for this plan's rates; the catalog's when absent.
    #[serde(default)]
    pub rounding: Option<Spanned<RoundingSpec>>,
    /// Versions, each in force from its date until the next one's.
    pub versions: Vec<PlanVersionSpec>,
}

/// One version of a plan.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanVersionSpec {
    /// First local date on which this version applies.
    pub effective_from: Spanned<toml::value::Datetime>,
    /// Recurring fees.
    #[serde(default)]
    pub recurring: Vec<RecurringSpec>,
    /// Allowances granted each period.
    #[serde(default)]
    pub grants: Vec<GrantSpec>,
    /// Usage rates.
    #[serde(default)]
    pub rates: Vec<RateSpec>,
}

/// A recurring fee, charged for each calendar month.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurringSpec {
    /// Fee id, the service name on its ledger rows.
    pub id: Name,
    /// Amount for a whole month.
    pub amount: Spanned<Amount>,
    /// `daily` (prorated by day for part months, the default) or `none`.
    #[serde(default)]
    pub proration: Option<Proration>,
}

/// How a recurring fee is prorated for part of a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proration {
    /// By the days of the month the account had the plan.
    Daily,
    /// The whole fee whatever the days.
    None,
}

/// An allowance granted each period to a balance.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantSpec {
    /// Balance name.
    pub balance: Name,
    /// Amount in the balance's unit.
    pub amount: Spanned<Amount>,
}

/// A usage rate.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateSpec {
    /// The service rated.
    pub service: Name,
    /// The destination zone; any destination when absent.
    #[serde(default)]
    pub zone: Option<Name>,
    /// `per_unit`, `graduated`, `volume`, `package`, `percentage` or `per_device`.
    pub model: Spanned<ModelName>,
    /// Price per `rate_unit` (per_unit), per package, or per device.
    #[serde(default)]
    pub price: Option<Spanned<Amount>>,
    /// The schedule whose bands `band_prices` names.
    #[serde(default)]
    pub schedule: Option<Name>,
    /// Price per `rate_unit` in each band (per_unit only).
    #[serde(default)]
    pub band_prices: Option<BTreeMap<Name, Spanned<Amount>>>,
    /// How many units a price is for (60 for a per-minute price of a
    /// service in seconds); 1 when absent.
    #[serde(default)]
    pub rate_unit: Option<Spanned<Amount>>,
    /// Billing increments `[first, next]`, such as `[60, 1]`.
    #[serde(default)]
    pub increments: Option<Spanned<Vec<Amount>>>,
    /// Charged once per charged event.
    #[serde(default)]
    pub connect_fee: Option<Spanned<Amount>>,
    /// Least charge of a charged event.
    #[serde(default)]
    pub minimum: Option<Spanned<Amount>>,
    /// Most charge of one event.
    #[serde(default)]
    pub maximum: Option<Spanned<Amount>>,
    /// Tiers over the period's cumulative quantity (graduated, volume).
    #[serde(default)]
    pub tiers: Option<Vec<TierSpec>>,
    /// Units in one package (package).
    #[serde(default)]
    pub package_size: Option<Spanned<Amount>>,
    /// Percent of the event's amount (percentage).
    #[serde(default)]
    pub percent: Option<Spanned<Amount>>,
    /// `day` or `month` (per_device).
    #[serde(default)]
    pub per: Option<Spanned<DevicePeriod>>,
    /// Rounding for this rate; the plan's when absent.
    #[serde(default)]
    pub rounding: Option<Spanned<RoundingSpec>>,
}

/// Charge models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelName {
    /// Price per rate unit, optionally by time band.
    PerUnit,
    /// Each part of the quantity at the price of the tier it falls in.
    Graduated,
    /// The whole event at the price of the tier the period total reaches.
    Volume,
    /// A price per started package of units over the period.
    Package,
    /// A percentage of the event's amount.
    Percentage,
    /// A price per active device per day or month.
    PerDevice,
}

/// The span a device fee covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DevicePeriod {
    /// Each local day a device reports.
    Day,
    /// Each period a device reports.
    Month,
}

/// One tier.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierSpec {
    /// Upper bound of cumulative quantity, exclusive; the last tier has none.
    #[serde(default)]
    pub up_to: Option<Spanned<Amount>>,
    /// Price per rate unit in this tier.
    pub price: Spanned<Amount>,
}

/// A discount or promotion.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscountSpec {
    /// Id, recorded on discounted rows.
    pub id: Name,
    /// Percent off each matching charge.
    #[serde(default)]
    pub percent: Option<Spanned<Amount>>,
    /// Fixed amount off per period, used up by matching charges in order.
    #[serde(default)]
    pub amount: Option<Spanned<Amount>>,
    /// Services it applies to; all when absent.
    #[serde(default)]
    pub services: Option<Vec<Name>>,
    /// Whether it applies to recurring fees too.
    #[serde(default)]
    pub recurring: bool,
    /// Plans it applies to; all when absent.
    #[serde(default)]
    pub plans: Option<Vec<Name>>,
    /// Account segments it applies to; all when absent.
    #[serde(default)]
    pub segments: Option<Vec<Name>>,
    /// Accounts it applies to; all when absent.
    #[serde(default)]
    pub accounts: Option<Vec<Name>>,
    /// First local date it applies.
    #[serde(default)]
    pub valid_from: Option<Spanned<toml::value::Datetime>>,
    /// First local date it no longer applies.
    #[serde(default)]
    pub valid_to: Option<Spanned<toml::value::Datetime>>,
}

/// Individual rates for one account, ahead of its plan's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideSpec {
    /// The account.
    pub account: Name,
    /// First local date it applies.
    #[serde(default)]
    pub valid_from: Option<Spanned<toml::value::Datetime>>,
    /// First local date it no longer applies.
    #[serde(default)]
    pub valid_to: Option<Spanned<toml::value::Datetime>>,
    /// The rates.
    pub rates: Vec<RateSpec>,
}

/// A partner or dealer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerSpec {
    /// Percent of each net charge owed to the partner.
    pub share_percent: Spanned<Amount>,
    /// Services the share applies to; all when absent.
    #[serde(default)]
    pub services: Option<Vec<Name>>,
}

/// Tax of one jurisdiction.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxSpec {
    /// Percent of net.
    pub rate_percent: Spanned<Amount>,
    /// Services not taxed.
    #[serde(default)]
    pub exempt_services: Vec<Name>,
}

/// Thresholds that emit actions.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdSpec {
    /// Notify when the main balance falls below this amount.
    #[serde(default)]
    pub low_balance: Option<Spanned<Amount>>,
    /// Notify when an allowance is used up.
    #[serde(default)]
    pub notify_exhausted: bool,
    /// Block when the main balance falls below minus the credit limit,
    /// unblock when a payment brings it back.
    #[serde(default)]
    pub block_over_credit_limit: bool,
    /// Block when what a closed period left owing is unpaid this many days
    /// after the period ended.
    #[serde(default)]
    pub unpaid_block_after_days: Option<u32>,
}

/// An exact decimal written as a string (`"0.09"`) or an integer (`60`).
/// TOML floats are refused: they are binary, not exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(pub Decimal);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Amount;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a decimal string such as \"0.09\" or an integer")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Amount, E> {
                Ok(Amount(Decimal::from(v)))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Amount, E> {
                Ok(Amount(Decimal::from(v)))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Amount, E> {
                Err(E::custom("write decimal amounts as strings, such as \"0.09\": TOML floats are not exact"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Amount, E> {
                Decimal::from_str(v.trim()).map(Amount).map_err(|_| E::custom(format!("{v:?} is not a decimal number")))
            }
        }
        d.deserialize_any(V)
    }
}
