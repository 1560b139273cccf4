//! The generated operator: its destinations, plans, regions and customers.
//!
//! Everything the catalog, the accounts file and the event stream need is
//! drawn here once, from the seed, so that the three files agree: every
//! destination an event dials is in a zone, every account's plan and
//! partner are in the catalog, and every large account has its override.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::rng::Rng;

/// The operator's home country code: national numbers start with it.
pub const HOME_CC: &str = "49";

/// A calendar month, the span of generated events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    /// Calendar year.
    pub year: i32,
    /// Month, 1 to 12.
    pub month: u32,
}

impl Default for Month {
    fn default() -> Self {
        Self { year: 2026, month: 11 }
    }
}

/// The years a month may fall in: the catalog's plan versions and
/// overrides start in 2026.
const YEARS: std::ops::RangeInclusive<i32> = 2026..=2099;

impl Month {
    /// Parses `YYYY-MM` (years 2026 to 2099: the catalog's plan versions
    /// start in 2026).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not a month such as 2026-11 (2026-01 to 2099-12)");
        let (y, m) = text.split_once('-').ok_or_else(bad)?;
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        if y.len() != 4 || m.len() != 2 || !YEARS.contains(&year) || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Self { year, month })
    }

    /// The calendar month before the one `now` falls in, in UTC: a demo run
    /// today generates last month's events. Those lie between 14 hours and
    /// 62 days before `now` (two months hold at most 62 days, and events keep
    /// 14 hours from either end of theirs), so the rater's default window
    /// (at most 62 days old, none in the future) accepts them all.
    pub fn before(now: DateTime<Utc>) -> Result<Self, String> {
        let (year, month) = if now.month() == 1 { (now.year() - 1, 12) } else { (now.year(), now.month() - 1) };
        if !YEARS.contains(&year) {
            return Err(format!("the month before {now} is {year:04}-{month:02}, outside 2026-01 to 2099-12"));
        }
        Ok(Self { year, month })
    }

    /// The first day.
    #[must_use]
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or_default()
    }

    /// The first day of the next month.
    #[must_use]
    pub fn next_first_day(self) -> NaiveDate {
        let (y, m) = if self.month == 12 { (self.year + 1, 1) } else { (self.year, self.month + 1) };
        NaiveDate::from_ymd_opt(y, m, 1).unwrap_or_default()
    }

    /// Number of days.
    #[must_use]
    pub fn days(self) -> u32 {
        u32::try_from((self.next_first_day() - self.first_day()).num_days()).unwrap_or(30)
    }

    /// A day of the month (1-based, clamped to the month).
    #[must_use]
    pub fn day(self, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, day.clamp(1, self.days())).unwrap_or_default()
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A country callers dial abroad.
#[derive(Debug, Clone, Copy)]
pub struct Country {
    /// E.164 country code.
    pub cc: &'static str,
    /// ISO 3166 code, lower case; zone names use it.
    pub iso: &'static str,
    /// Price tier, 1 (EU, regulated) to 5 (most expensive).
    pub tier: u8,
    /// Whether calls there count as intra-EU.
    pub eu: bool,
    /// A large numbering plan (more area codes and mobile ranges).
    pub big: bool,
}

const fn c(cc: &'static str, iso: &'static str, tier: u8, big: bool) -> Country {
    Country { cc, iso, tier, eu: tier == 1, big }
}

/// The countries with zones: 96 country codes, each a fixed and a mobile
/// zone, beside the 8 national zones.
pub const COUNTRIES: &[Country] = &[
    // European Union (without the home country).
    c("43", "at", 1, false),
    c("32", "be", 1, false),
    c("359", "bg", 1, false),
    c("385", "hr", 1, false),
    c("357", "cy", 1, false),
    c("420", "cz", 1, false),
    c("45", "dk", 1, false),
    c("372", "ee", 1, false),
    c("358", "fi", 1, false),
    c("33", "fr", 1, true),
    c("30", "gr", 1, false),
    c("36", "hu", 1, false),
    c("353", "ie", 1, false),
    c("39", "it", 1, true),
    c("371", "lv", 1, false),
    c("370", "lt", 1, false),
    c("352", "lu", 1, false),
    c("356", "mt", 1, false),
    c("31", "nl", 1, false),
    c("48", "pl", 1, true),
    c("351", "pt", 1, false),
    c("40", "ro", 1, false),
    c("421", "sk", 1, false),
    c("386", "si", 1, false),
    c("34", "es", 1, true),
    c("46", "se", 1, false),
    // Rest of Europe.
    c("47", "no", 2, false),
    c("354", "is", 2, false),
    c("423", "li", 2, false),
    c("41", "ch", 2, false),
    c("44", "gb", 2, true),
    c("355", "al", 3, false),
    c("373", "md", 3, false),
    c("374", "am", 3, false),
    c("375", "by", 3, false),
    c("376", "ad", 2, false),
    c("377", "mc", 2, false),
    c("380", "ua", 3, true),
    c("381", "rs", 3, false),
    c("382", "me", 3, false),
    c("387", "ba", 3, false),
    c("389", "mk", 3, false),
    c("90", "tr", 2, true),
    c("7", "ru", 3, true),
    // Americas.
    c("1", "us", 2, true),
    c("52", "mx", 3, true),
    c("55", "br", 3, true),
    c("54", "ar", 3, false),
    c("56", "cl", 3, false),
    c("57", "co", 3, false),
    c("51", "pe", 3, false),
    // Asia and Oceania.
    c("86", "cn", 3, true),
    c("81", "jp", 2, true),
    c("82", "kr", 2, false),
    c("91", "in", 3, true),
    c("92", "pk", 4, false),
    c("94", "lk", 4, false),
    c("98", "ir", 4, false),
    c("84", "vn", 3, false),
    c("66", "th", 3, false),
    c("65", "sg", 2, false),
    c("60", "my", 3, false),
    c("62", "id", 3, true),
    c("63", "ph", 3, false),
    c("852", "hk", 2, false),
    c("855", "kh", 4, false),
    c("880", "bd", 4, false),
    c("886", "tw", 2, false),
    c("61", "au", 2, false),
    c("64", "nz", 2, false),
    // Middle East and Central Asia.
    c("961", "lb", 4, false),
    c("962", "jo", 4, false),
    c("964", "iq", 4, false),
    c("965", "kw", 4, false),
    c("966", "sa", 4, false),
    c("971", "ae", 4, false),
    c("972", "il", 3, false),
    c("973", "bh", 4, false),
    c("974", "qa", 4, false),
    c("976", "mn", 5, false),
    c("977", "np", 5, false),
    c("994", "az", 4, false),
    c("995", "ge", 4, false),
    c("998", "uz", 5, false),
    // Africa.
    c("20", "eg", 4, false),
    c("27", "za", 4, false),
    c("212", "ma", 4, false),
    c("213", "dz", 4, false),
    c("216", "tn", 4, false),
    c("221", "sn", 5, false),
    c("233", "gh", 5, false),
    c("234", "ng", 5, true),
    c("254", "ke", 5, false),
    c("255", "tz", 5, false),
    c("256", "ug", 5, false),
    c("263", "zw", 5, false),
];

/// What a zone is, which decides its prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneKind {
    /// National landlines (area codes).
    NatFixed,
    /// Mobiles on the operator's own network.
    NatMobileOnNet,
    /// Mobiles on other networks.
    NatMobileOffNet,
    /// Freephone (0800).
    Freephone,
    /// Premium rate (0900, 0137).
    Premium,
    /// Shared cost (0180).
    SharedCost,
    /// Personal numbers (0700).
    Personal,
    /// Directory enquiries (118xx).
    Directory,
    /// A country's landlines.
    IntlFixed,
    /// A country's mobiles.
    IntlMobile,
}

impl ZoneKind {
    /// Whether the zone is a national mobile range.
    #[must_use]
    pub fn is_national_mobile(self) -> bool {
        matches!(self, Self::NatMobileOnNet | Self::NatMobileOffNet)
    }
}

/// A destination zone and its number prefixes.
#[derive(Debug, Clone)]
pub struct Zone {
    /// Zone name in the catalog.
    pub name: String,
    /// What it is.
    pub kind: ZoneKind,
    /// Index in [`COUNTRIES`], for international zones.
    pub country: Option<usize>,
    /// Prefixes, digits in international form (`4930`).
    pub prefixes: Vec<String>,
    /// Digits of a full number, country code included.
    pub number_digits: usize,
}

/// The plans of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PlanKind {
    /// Prepaid, pay as you go.
    Prepaid,
    /// Postpaid, small bundle.
    MobileS,
    /// Postpaid, medium bundle.
    MobileM,
    /// Postpaid, large bundle with EU minutes.
    MobileL,
    /// Business lines.
    Business,
    /// Telematics fleets: a fee per device and day.
    IotFleet,
    /// An API product billed by volume tiers.
    SaasApi,
}

impl PlanKind {
    /// Every plan.
    pub const ALL: [PlanKind; 7] =
        [Self::Prepaid, Self::MobileS, Self::MobileM, Self::MobileL, Self::Business, Self::IotFleet, Self::SaasApi];

    /// Plan id in the catalog.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Prepaid => "prepaid",
            Self::MobileS => "mobile_s",
            Self::MobileM => "mobile_m",
            Self::MobileL => "mobile_l",
            Self::Business => "business",
            Self::IotFleet => "iot_fleet",
            Self::SaasApi => "saas_api",
        }
    }

    /// Whether the customer pays in advance (top-ups, not payments).
    #[must_use]
    pub fn prepaid(self) -> bool {
        self == Self::Prepaid
    }

    /// Whether the plan has voice, SMS and data (a phone line).
    #[must_use]
    pub fn mobile(self) -> bool {
        matches!(self, Self::Prepaid | Self::MobileS | Self::MobileM | Self::MobileL | Self::Business)
    }
}

/// Where customers live: time zone and tax jurisdiction.
#[derive(Debug, Clone, Copy)]
pub struct Region {
    /// IANA time zone.
    pub time_zone: &'static str,
    /// Tax jurisdiction in the catalog.
    pub tax: &'static str,
    /// Share of customers, in percent.
    pub weight: u32,
}

/// The customers' regions.
pub const REGIONS: &[Region] = &[
    Region { time_zone: "Europe/Berlin", tax: "DE", weight: 55 },
    Region { time_zone: "Europe/Vienna", tax: "AT", weight: 8 },
    Region { time_zone: "Europe/Paris", tax: "FR", weight: 8 },
    Region { time_zone: "Europe/Amsterdam", tax: "NL", weight: 6 },
    Region { time_zone: "Europe/Madrid", tax: "ES", weight: 6 },
    Region { time_zone: "Europe/Rome", tax: "IT", weight: 6 },
    Region { time_zone: "Europe/Warsaw", tax: "PL", weight: 4 },
    Region { time_zone: "Europe/London", tax: "GB", weight: 3 },
    Region { time_zone: "America/New_York", tax: "US_NY", weight: 2 },
    Region { time_zone: "Asia/Singapore", tax: "SG", weight: 2 },
];

/// An account's status in the reference data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// In service.
    Active,
    /// Waiting for an `activate` event; no plan yet.
    Pending,
    /// Paused.
    Suspended,
}

/// One customer.
#[derive(Debug, Clone)]
pub struct Account {
    /// Account id.
    pub id: String,
    /// Plan; `None` while pending.
    pub plan: Option<PlanKind>,
    /// Index in [`REGIONS`].
    pub region: usize,
    /// Partner or dealer that brought it.
    pub partner: Option<&'static str>,
    /// Segment, for discounts.
    pub segment: &'static str,
    /// Status in the reference data.
    pub status: Status,
    /// Credit limit in whole euros.
    pub credit_limit: u32,
    /// Local date the plan started.
    pub activated: Option<NaiveDate>,
    /// Opening balances, `name=amount;...`.
    pub balances: String,
    /// Telematics devices (fleets only).
    pub devices: u32,
    /// One of the large accounts with an override.
    pub large: bool,
}

/// Everything generated from one seed.
#[derive(Debug, Clone)]
pub struct World {
    /// The seed.
    pub seed: u64,
    /// The month events fall in.
    pub month: Month,
    /// Destination zones: 8 national ones, then a fixed and a mobile zone
    /// per country.
    pub zones: Vec<Zone>,
    /// Customers, account `A0000001` first.
    pub accounts: Vec<Account>,
    /// Indices of the large accounts (those with overrides).
    pub large: Vec<usize>,
}

/// Random streams of one seed.
pub(crate) mod stream {
    pub const ZONES: u64 = 1;
    pub const ACCOUNTS: u64 = 2;
    pub const CATALOG: u64 = 3;
    pub const EVENTS: u64 = 4;
}

impl World {
    /// Draws the operator and `accounts` customers from `seed`.
    #[must_use]
    pub fn new(seed: u64, accounts: usize, month: Month) -> Self {
        let zones = zones(&mut Rng::new(seed, stream::ZONES));
        let large_count = (accounts / 100).clamp(1, 100).min(accounts);
        let large: Vec<usize> = (0..large_count).map(|k| k * accounts / large_count).collect();
        let mut rng = Rng::new(seed, stream::ACCOUNTS);
        let mut is_large = vec![false; accounts];
        for &i in &large {
            is_large[i] = true;
        }
        let accounts = (0..accounts).map(|i| account(&mut rng, i, is_large[i], month)).collect();
        Self { seed, month, zones, accounts, large }
    }

    /// Account id of an index.
    #[must_use]
    pub fn account_id(index: usize) -> String {
        format!("A{:07}", index + 1)
    }

    /// Total prefixes over all zones.
    #[must_use]
    pub fn prefix_count(&self) -> usize {
        self.zones.iter().map(|z| z.prefixes.len()).sum()
    }

    /// Zones of a kind.
    pub fn zones_of(&self, kind: ZoneKind) -> impl Iterator<Item = (usize, &Zone)> {
        self.zones.iter().enumerate().filter(move |(_, z)| z.kind == kind)
    }
}

fn zones(rng: &mut Rng) -> Vec<Zone> {
    let mut zones = national_zones(rng);
    for (i, country) in COUNTRIES.iter().enumerate() {
        let extra = if country.big { 2 } else { 1 };
        let digits = (country.cc.len() + 9 + usize::from(country.big)).min(15);
        // Landlines: area codes starting 2-5; mobiles: ranges starting 6-9.
        let fixed_n = extra * 15 + rng.index(40);
        let mobile_n = extra * 6 + rng.index(20);
        let mut used = BTreeSet::new();
        let fixed = prefixes(rng, country.cc, b'2'..=b'5', 1..=3, fixed_n, &mut used);
        let mobile = prefixes(rng, country.cc, b'6'..=b'9', 1..=2, mobile_n, &mut used);
        for (kind, list, suffix) in [(ZoneKind::IntlFixed, fixed, "fixed"), (ZoneKind::IntlMobile, mobile, "mobile")] {
            zones.push(Zone {
                name: format!("intl_{}_{suffix}", country.iso),
                kind,
                country: Some(i),
                prefixes: list,
                number_digits: digits,
            });
        }
    }
    zones
}

/// `n` distinct prefixes: `cc`, a first digit from `first`, then a number of
/// further digits from `more`.
fn prefixes(
    rng: &mut Rng,
    cc: &str,
    first: std::ops::RangeInclusive<u8>,
    more: std::ops::RangeInclusive<usize>,
    n: usize,
    used: &mut BTreeSet<String>,
) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    let mut tries = 0;
    while out.len() < n && tries < n * 20 {
        tries += 1;
        let mut p = String::from(cc);
        p.push(char::from(
            *first.start() + u8::try_from(rng.below(u64::from(first.end() - first.start()) + 1)).unwrap_or(0),
        ));
        let extra = *more.start() + rng.index(more.end() - more.start() + 1);
        rng.digits(&mut p, extra);
        if used.insert(p.clone()) {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn national_zones(rng: &mut Rng) -> Vec<Zone> {
    let nat = |list: &[&str]| list.iter().map(|p| format!("{HOME_CC}{p}")).collect::<Vec<_>>();
    // Area codes: the big cities' two-digit ones, then three to four digits
    // starting 2-9 (not 70, 80, 90: personal, freephone, premium).
    let mut used = BTreeSet::new();
    let mut fixed = nat(&["30", "40", "69", "89"]);
    for p in &fixed {
        used.insert(p.clone());
    }
    while fixed.len() < 900 {
        let first = 2 + rng.below(8);
        let second = if first >= 7 { 1 + rng.below(9) } else { rng.below(10) };
        let mut p = format!("{HOME_CC}{first}{second}");
        let more = 1 + rng.index(2);
        rng.digits(&mut p, more);
        if used.insert(p.clone()) {
            fixed.push(p);
        }
    }
    fixed.sort();
    let mut on_net = nat(&["160", "170", "171", "175"]);
    on_net.extend((1511..=1517).map(|r| format!("{HOME_CC}{r}")));
    let mut off_net = nat(&["155", "157", "159", "162", "163", "172", "173", "174", "176", "177", "178", "179"]);
    off_net.extend((1520..=1529).map(|r| format!("{HOME_CC}{r}")));
    off_net.extend((1570..=1579).map(|r| format!("{HOME_CC}{r}")));
    let zone = |name: &str, kind, prefixes: Vec<String>, number_digits| Zone {
        name: name.to_string(),
        kind,
        country: None,
        prefixes,
        number_digits,
    };
    vec![
        zone("nat_fixed", ZoneKind::NatFixed, fixed, 12),
        zone("nat_mobile_onnet", ZoneKind::NatMobileOnNet, on_net, 13),
        zone("nat_mobile_offnet", ZoneKind::NatMobileOffNet, off_net, 13),
        zone("nat_freephone", ZoneKind::Freephone, nat(&["800"]), 12),
        zone("nat_premium", ZoneKind::Premium, nat(&["900", "137"]), 12),
        zone("nat_shared_cost", ZoneKind::SharedCost, nat(&["180"]), 12),
        zone("nat_personal", ZoneKind::Personal, nat(&["700"]), 13),
        zone("nat_directory", ZoneKind::Directory, nat(&["11833", "11880", "11886"]), 7),
    ]
}

fn account(rng: &mut Rng, index: usize, large: bool, month: Month) -> Account {
    let region = rng.weighted(&REGIONS.iter().enumerate().map(|(i, r)| (r.weight, i)).collect::<Vec<_>>());
    let plan = if large {
        PlanKind::Business
    } else {
        rng.weighted(&[
            (25, PlanKind::Prepaid),
            (20, PlanKind::MobileS),
            (20, PlanKind::MobileM),
            (10, PlanKind::MobileL),
            (7, PlanKind::Business),
            (12, PlanKind::IotFleet),
            (6, PlanKind::SaasApi),
        ])
    };
    let status = match rng.below(1000) {
        _ if large => Status::Active,
        0..5 => Status::Pending,
        5..7 => Status::Suspended,
        _ => Status::Active,
    };
    let new = !large && rng.percent(4);
    let segment = match plan {
        _ if large => "enterprise",
        PlanKind::Business => "smb",
        PlanKind::IotFleet => "iot",
        PlanKind::SaasApi => "saas",
        _ if new => "new",
        _ if rng.percent(20) => "loyal",
        _ => "consumer",
    };
    let partner = match plan {
        PlanKind::IotFleet if rng.percent(50) => Some("iot_reseller"),
        PlanKind::SaasApi if rng.percent(30) => Some("saas_marketplace"),
        PlanKind::Prepaid | PlanKind::MobileS | PlanKind::MobileM | PlanKind::MobileL if rng.percent(35) => {
            Some(*rng.pick(&["dealer_north", "dealer_south", "mvno_blue"]))
        }
        _ => None,
    };
    let credit_limit = match plan {
        PlanKind::Prepaid => 0,
        PlanKind::Business if large => 5000,
        PlanKind::Business => *rng.pick(&[500, 1000, 2500]),
        PlanKind::IotFleet => 500,
        PlanKind::SaasApi => 2000,
        _ => *rng.pick(&[50, 100, 250]),
    };
    let activated = if new {
        // New this month: its first fee is prorated.
        Some(month.day(2 + u32::try_from(rng.below(20)).unwrap_or(0)))
    } else {
        let start = NaiveDate::from_ymd_opt(2019, 1, 1).unwrap_or_default();
        let span = (month.first_day() - start).num_days().max(1);
        start.checked_add_days(chrono::Days::new(rng.below(span.unsigned_abs())))
    };
    let mut balances = Vec::new();
    if plan.prepaid() {
        balances.push(format!("main={}.{:02}", 5 + rng.below(46), rng.below(100)));
    }
    if plan.mobile() && rng.percent(12) {
        balances.push(format!("bonus={}.00", rng.pick(&[2, 5, 10, 20])));
    }
    let devices = if plan == PlanKind::IotFleet { 5 + u32::try_from(rng.below(196)).unwrap_or(0) } else { 0 };
    let pending = status == Status::Pending;
    Account {
        id: World::account_id(index),
        plan: (!pending).then_some(plan),
        region,
        partner,
        segment,
        status,
        credit_limit,
        activated: if pending { None } else { activated },
        balances: balances.join(";"),
        devices,
        large,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_200_zones_and_over_5000_prefixes() {
        let w = World::new(7, 1000, Month::default());
        assert!((195..=210).contains(&w.zones.len()), "{} zones", w.zones.len());
        assert!(w.prefix_count() >= 5000, "{} prefixes", w.prefix_count());
        let mut all = BTreeSet::new();
        for z in &w.zones {
            for p in &z.prefixes {
                assert!(all.insert(p.clone()), "prefix {p} twice");
                assert!(z.kind == ZoneKind::Directory || p.len() + 3 <= z.number_digits, "{p} too long for {}", z.name);
            }
        }
        assert_eq!(w.large.len(), 10);
    }

    #[test]
    fn months_parse() {
        assert_eq!(Month::parse("2026-11").map(|m| m.days()), Ok(30));
        assert_eq!(Month::parse("2028-02").map(|m| m.days()), Ok(29));
        assert!(Month::parse("2026-13").is_err());
        assert!(Month::parse("1999-01").is_err());
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn the_month_before_an_instant() {
        let before = |text| Month::before(utc(text)).map(|m| m.to_string());
        assert_eq!(before("2026-12-15T10:00:00Z"), Ok("2026-11".into()));
        assert_eq!(before("2026-12-01T00:00:00Z"), Ok("2026-11".into()));
        assert_eq!(before("2026-11-30T23:59:59.999Z"), Ok("2026-10".into()));
        // The instant counts in UTC, whatever offset it was written with.
        assert_eq!(before("2026-12-01T00:30:00+01:00"), Ok("2026-10".into()));
        assert_eq!(before("2027-01-10T08:00:00Z"), Ok("2026-12".into()));
        assert_eq!(before("2100-01-01T00:00:00Z"), Ok("2099-12".into()));
        assert!(before("2026-01-31T12:00:00Z").is_err());
        assert!(before("2100-02-01T00:00:00Z").is_err());
    }
}
