//! Realistic sample data for ratewire: an operator drawn from a seed, for
//! demos, load tests, benchmarks and training data.
//!
//! [`Dataset::generate`] produces three files that agree with each other:
//!
//! - a catalog ([`catalog::render`]): about 200 destination zones with over
//!   5,000 number prefixes (national landlines, mobiles and special numbers,
//!   and a fixed and a mobile zone for each of 96 countries), voice with
//!   60/1 increments and peak, off-peak and weekend bands, SMS packages,
//!   data in graduated tiers, a telematics fee per device and day, an API
//!   product in volume tiers, seven plans with allowance grants, a bonus
//!   money balance, discounts and a promotion with a validity window,
//!   overrides for the large accounts, partners and taxes;
//! - accounts reference data as CSV ([`accounts::render`]): plans, time
//!   zones, partners, tax regions, credit limits and opening balances;
//! - usage events as JSON lines in the native envelope ([`events`]), in
//!   time order within one month, optionally mixed with lifecycle and money
//!   events, malformed lines and resent events.
//!
//! For the churn models, [`History::generate`] gives several months of
//! events in which some accounts drift away and cancel.
//!
//! The same seed and sizes give the same bytes. The catalog and accounts
//! depend only on the seed and the account count, not on the event count.
//!
//! For streaming, [`Dataset::records`] and [`events::keyed`] give each event
//! as a Kafka record, keyed by its account, and [`Month::before`] picks last
//! month, whose events the rater accepts today.
//!
//! ```
//! use ratewire_sample::{Config, Dataset};
//!
//! let data = Dataset::generate(&Config { accounts: 50, events: 200, ..Config::default() });
//! assert_eq!(data.events.len(), 200);
//! assert!(data.catalog.contains("[plans.mobile_m]"));
//! assert!(data.accounts.starts_with("id,plan,"));
//! let (key, payload) = data.records().next().expect("200 events");
//! assert!(key.starts_with('A') && payload.starts_with(br#"{"v":1,"#));
//! ```

pub mod accounts;
pub mod catalog;
pub mod events;
pub mod history;
pub mod rng;
pub mod world;

use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

pub use events::{Mix, Stats};
pub use history::{History, HistoryConfig};
pub use world::{Month, World};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// The seed.
    pub seed: u64,
    /// Number of accounts.
    pub accounts: usize,
    /// Number of event lines.
    pub events: usize,
    /// The month the events fall in.
    pub month: Month,
    /// What is mixed into the usage.
    pub mix: Mix,
}

impl Default for Config {
    /// 100,000 accounts and 100,000 usage events in November 2026, seed 7.
    fn default() -> Self {
        Self { seed: 7, accounts: 100_000, events: 100_000, month: Month::default(), mix: Mix::default() }
    }
}

/// A generated catalog, accounts file and event stream.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The operator they were drawn from.
    pub world: World,
    /// `catalog.toml`.
    pub catalog: String,
    /// `accounts.csv`.
    pub accounts: String,
    /// `events.jsonl`, one line each, without newlines.
    pub events: Vec<String>,
    /// The Kafka key of each line of `events`, at the same index: the
    /// account it is for (see [`events::Keyed`]).
    pub keys: Vec<String>,
    /// What the events hold.
    pub stats: Stats,
}

impl Dataset {
    /// Generates everything in memory.
    #[must_use]
    pub fn generate(config: &Config) -> Self {
        let world = World::new(config.seed, config.accounts, config.month);
        let catalog = catalog::render(&world);
        let accounts = accounts::render(&world);
        let mut records = events::Generator::new(&world, config.events, config.mix);
        let (keys, events) = std::iter::from_fn(|| records.next_keyed()).map(|(k, l)| (k.into_owned(), l)).unzip();
        let stats = records.stats();
        Self { world, catalog, accounts, events, keys, stats }
    }

    /// The events as Kafka records, in order: `(key, payload)`, the key the
    /// account id (so that an account's events stay on one partition) and
    /// the payload the JSON line without its newline.
    pub fn records(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.keys.iter().zip(&self.events).map(|(k, l)| (k.as_str(), l.as_bytes()))
    }
}

/// Parses a percentage such as `1`, `0.5` or `2.25` into parts per million.
pub fn parse_percent(text: &str) -> Result<u32, String> {
    let bad = || format!("{text:?} is not a percentage from 0 to 100, such as 1 or 0.5");
    let value = Decimal::from_str(text.trim()).map_err(|_| bad())?;
    if value.is_sign_negative() && !value.is_zero() || value > Decimal::ONE_HUNDRED {
        return Err(bad());
    }
    (value * Decimal::from(10_000)).round().to_u32().ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use chrono::{DateTime, Utc};
    use ratewire_rater::{Accounts, Body, Output, Rater, RaterConfig, catalog as rater_catalog, decode};

    use super::*;

    fn small(mix: Mix) -> Dataset {
        Dataset::generate(&Config { seed: 11, accounts: 2_000, events: 6_000, mix, ..Config::default() })
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    #[test]
    fn percentages() {
        assert_eq!(parse_percent("1"), Ok(10_000));
        assert_eq!(parse_percent("0.5"), Ok(5_000));
        assert_eq!(parse_percent("100"), Ok(1_000_000));
        assert!(parse_percent("-1").is_err());
        assert!(parse_percent("101").is_err());
        assert!(parse_percent("x").is_err());
    }

    #[test]
    fn same_seed_same_bytes() {
        let a = small(Mix::default());
        let b = small(Mix::default());
        assert_eq!(a.catalog, b.catalog);
        assert_eq!(a.accounts, b.accounts);
        assert_eq!(a.events, b.events);
        let c = Dataset::generate(&Config { seed: 12, accounts: 2_000, events: 6_000, ..Config::default() });
        assert_ne!(a.events, c.events);
        // More events leave the catalog and the accounts as they were.
        let d = Dataset::generate(&Config { seed: 11, accounts: 2_000, events: 10, ..Config::default() });
        assert_eq!((a.catalog, a.accounts), (d.catalog, d.accounts));
    }

    #[test]
    fn usage_rates_cleanly_in_time_order() {
        let data = small(Mix::default());
        let tables = rater_catalog::parse(&data.catalog, "catalog.toml").unwrap_or_else(|e| panic!("{e}"));
        assert!(tables.zones.len() >= 190);
        let accounts = Accounts::parse_csv(&data.accounts, "accounts.csv").unwrap_or_else(|e| panic!("{e}"));
        accounts.check(&tables).unwrap_or_else(|e| panic!("{e}"));
        let mut rater = Rater::new(Arc::new(tables), Arc::new(accounts), RaterConfig::default());
        let mut out = Output::default();
        let mut last = None;
        let mut services = BTreeMap::new();
        let mut zoned = 0;
        for line in &data.events {
            let event = decode(line.as_bytes()).unwrap_or_else(|r| panic!("{line}: {r}"));
            assert!(last.is_none_or(|t| t <= event.time), "out of order: {line}");
            last = Some(event.time);
            let Body::Usage(u) = &event.body else { panic!("not usage: {line}") };
            *services.entry(u.service.clone()).or_insert(0) += 1;
            let before = out.rated.len();
            rater.rate(&event, now(), &mut out);
            if out.rated[before..].last().is_some_and(|r| r.zone.is_some()) {
                zoned += 1;
            }
        }
        assert!(out.rejected.is_empty(), "rejected: {:?}", &out.rejected[..out.rejected.len().min(3)]);
        assert_eq!(services.len(), 5, "{services:?}");
        assert!(zoned > data.events.len() / 5, "{zoned} events matched a zone");
        let discounted = out.rated.iter().filter(|r| !r.discounts.is_empty()).count();
        let overridden =
            out.rated.iter().filter(|r| r.tariff.as_deref().is_some_and(|t| t.starts_with("override:"))).count();
        let drawn = out.rated.iter().filter(|r| r.allowance_quantity > Decimal::ZERO).count();
        assert!(discounted > 0 && overridden > 0 && drawn > 0, "{discounted} {overridden} {drawn}");
    }

    #[test]
    fn records_are_keyed_by_the_account_in_the_line() {
        let mix = Mix { lifecycle: 50_000, bad: 50_000, duplicate: 50_000 };
        let data = small(mix);
        assert_eq!(data.keys.len(), data.events.len());
        let world = World::new(11, 2_000, Month::default());
        let mut streamed = events::keyed(&world, 6_000, mix);
        let mut unknown = 0;
        let mut nameless = 0;
        for (i, (key, payload)) in data.records().enumerate() {
            // The streaming API and the dataset agree, byte for byte.
            assert_eq!(
                streamed.next().as_ref().map(|(k, p)| (k.as_str(), p.as_slice())),
                Some((key, payload)),
                "line {i}"
            );
            assert_eq!(payload, data.events[i].as_bytes());
            let named = serde_json::from_slice::<serde_json::Value>(payload)
                .ok()
                .and_then(|v| v.get("account").and_then(|a| a.as_str()).map(String::from));
            match named {
                Some(account) => assert_eq!(key, account, "line {i}: {}", data.events[i]),
                None => {
                    nameless += 1;
                    assert!(data.world.accounts.iter().any(|a| a.id == key), "line {i} keyed {key}");
                }
            }
            unknown += usize::from(key.starts_with('X'));
        }
        assert!(streamed.next().is_none());
        assert_eq!(streamed.stats(), data.stats);
        // Lines sent for unknown accounts and lines naming none are both in the mix.
        assert!(unknown > 0 && nameless > 0, "{unknown} unknown, {nameless} nameless");
    }

    #[test]
    fn last_month_rates_cleanly_today() {
        // The widest spans (two 31-day months, now at the last instant of the
        // second) and the narrowest (now at the first instant of a month).
        for now in ["2026-08-31T23:59:59Z", "2027-01-31T23:59:59Z", "2027-03-01T00:00:00Z"] {
            let now = DateTime::parse_from_rfc3339(now).map(|t| t.with_timezone(&Utc)).unwrap_or_default();
            let month = Month::before(now).unwrap_or_else(|e| panic!("{e}"));
            let data = Dataset::generate(&Config { seed: 3, accounts: 500, events: 2_000, month, mix: Mix::default() });
            let tables = rater_catalog::parse(&data.catalog, "catalog.toml").unwrap_or_else(|e| panic!("{e}"));
            let accounts = Accounts::parse_csv(&data.accounts, "accounts.csv").unwrap_or_else(|e| panic!("{e}"));
            let mut rater = Rater::new(Arc::new(tables), Arc::new(accounts), RaterConfig::default());
            let mut out = Output::default();
            for line in &data.events {
                let event = decode(line.as_bytes()).unwrap_or_else(|r| panic!("{line}: {r}"));
                rater.rate(&event, now, &mut out);
            }
            assert!(out.rejected.is_empty(), "{month} at {now}: {:?}", out.rejected.first());
            assert!(out.rated.len() >= 2_000, "{month} at {now}: {} records", out.rated.len());
        }
    }

    #[test]
    fn mixes_lifecycle_bad_lines_and_resends() {
        let mix = Mix { lifecycle: 50_000, bad: 20_000, duplicate: 20_000 };
        let data = small(mix);
        let s = data.stats;
        assert_eq!(s.lines(), 6_000);
        assert!(s.lifecycle > 150 && s.bad > 50 && s.duplicate > 50, "{s:?}");
        let tables = rater_catalog::parse(&data.catalog, "catalog.toml").unwrap_or_else(|e| panic!("{e}"));
        let accounts = Accounts::parse_csv(&data.accounts, "accounts.csv").unwrap_or_else(|e| panic!("{e}"));
        let mut rater = Rater::new(Arc::new(tables), Arc::new(accounts), RaterConfig::default());
        let mut out = Output::default();
        let mut decode_rejects = 0;
        let mut kinds = BTreeMap::new();
        let mut ids = std::collections::HashSet::new();
        let mut resent = 0;
        for line in &data.events {
            match decode(line.as_bytes()) {
                Err(_) => decode_rejects += 1,
                Ok(event) => {
                    *kinds.entry(event.body.kind()).or_insert(0) += 1;
                    if !ids.insert(event.id.clone()) {
                        resent += 1;
                        continue;
                    }
                    rater.rate(&event, now(), &mut out);
                }
            }
        }
        assert!(decode_rejects > 0 && decode_rejects < s.bad, "{decode_rejects} of {}", s.bad);
        assert!(resent >= s.duplicate / 2, "{resent} resent of {}", s.duplicate);
        for kind in ["usage", "payment", "topup", "adjustment", "support_contact", "subscription"] {
            assert!(kinds.contains_key(kind), "no {kind}: {kinds:?}");
        }
        // Rating rejects: the bad lines that decode, and usage of accounts
        // suspended or cancelled by the stream itself; not much else.
        let rejected = out.rejected.len() as u64;
        assert!(rejected > 0 && rejected < s.bad + s.lifecycle, "{rejected} rejected: {s:?}");
    }
}
