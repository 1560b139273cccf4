//! A slow, obviously-correct reference rater, for property tests of the
//! fast one.
//!
//! It interprets the parsed catalog model ([`CatalogFile`]) directly: no
//! compiled tables, no prefix trie (the longest matching prefix is found by
//! scanning every zone), time bands by walking the event minute by minute,
//! increments, tiers and packages by walking them, balances as a plain list
//! of `(name, amount)` in the order they were first credited. It shares no
//! code with the fast rater's rating: only the public event, record, money
//! and period types.
//!
//! # Subset
//!
//! - Events: `usage` and `topup` (to `main` or another money balance).
//! - Accounts: plan, time zone, status, tax region and opening balances; no
//!   partner, segment, currency override, credit limit or activation date.
//! - Catalog: services with `quantity_max`; zones; schedules with bands and
//!   an optional holiday calendar; unit and money balances (priority,
//!   services, zones, expiry, rollover); plans with versions, grants and
//!   rates `per_unit` (flat or banded), `graduated`, `volume` and
//!   `package`, with rate unit, increments, connect fee, minimum and
//!   maximum; rounding at catalog, plan and rate level; percentage
//!   discounts limited by services and a validity window; taxes. No
//!   recurring fees, overrides, partners, fixed discounts, thresholds,
//!   `percentage` or `per_device` rates: [`Reference::new`] refuses them.
//!
//! # Rules it follows
//!
//! Where the engine's documented behaviour makes a choice, the reference
//! makes the same one:
//! - checks in order: time window (62 days back, 300 s ahead), account,
//!   service, unit, `quantity_max`, account status, plan version on the
//!   event's local date, rate; a rejected event changes nothing;
//! - a period is a calendar month on the account's clock; the first event
//!   of an account opens its period; an event in a later period closes the
//!   open one (expiring balances lose what does not roll over) and opens
//!   each following one, granting the allowances of the plan version in
//!   force on its first day (for active and suspended accounts);
//! - allowances pay for the start of an event; the billing increment they
//!   straddle is covered whole;
//! - an event's zone is its rate's zone, or, when the any-destination rate
//!   prices it, the zone of the destination's longest prefix (zone-limited
//!   balances pay for it);
//! - the period's cumulative quantity (for tiers and packages) counts what
//!   allowances did not cover, per rate (service and the rate's zone);
//! - connect fee and minimum only for an event with something chargeable;
//!   the maximum always; then the event's rounding;
//! - discounts in catalog order, each on what the previous ones left, each
//!   rounded as the event is; tax on net, rounded the same way;
//! - money balances other than `main` pay first, by priority then name;
//!   `main` pays the rest and may go negative;
//! - a band holds for each instant as read on the account's local clock
//!   (so across a daylight-saving change the band follows the jumped
//!   clock); an event's seconds count from its start, whole seconds;
//! - per unit, each band's units are priced and the sum divided by the rate
//!   unit; with increment rounding each increment is priced, whole, at the
//!   band where it starts, and rounded on its own;
//! - generated records: grants `<account>/<period>/grant/<balance>` at the
//!   period's local midnight; expiries `<account>/<period>/expiry/<balance>`
//!   at the next period's, in the order the balances were first credited.
//!
//! Rejects are compared by code and field, not by message.

pub mod arith;
pub mod charge;
mod period;
pub mod tariff;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use ratewire_rater::catalog::model::{CatalogFile, ModelName};
use ratewire_rater::event::{Body, Event, Money, Usage};
use ratewire_rater::money::Currency;
use ratewire_rater::reject::RejectCode;
use ratewire_rater::time::Period;
use ratewire_rater::{AccountId, Draw, EventId, Name, Rated, RecordKind};
use rust_decimal::Decimal;

use self::arith::{Policy, round_event};
use self::tariff::{Balance, text};

/// An account's lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// No plan yet.
    Pending,
    /// In service.
    Active,
    /// Paused.
    Suspended,
    /// Ended.
    Cancelled,
}

/// An account as the reference knows it.
#[derive(Debug, Clone)]
pub struct RefAccount {
    /// Id.
    pub id: String,
    /// Plan name.
    pub plan: Option<String>,
    /// Time zone.
    pub tz: Tz,
    /// Status.
    pub status: Status,
    /// Tax jurisdiction.
    pub tax_region: Option<String>,
    /// Opening balances.
    pub balances: Vec<(String, Decimal)>,
}

/// Why the reference refused an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefReject {
    /// Reject code.
    pub code: RejectCode,
    /// Field at fault.
    pub field: &'static str,
}

fn reject(code: RejectCode, field: &'static str) -> RefReject {
    RefReject { code, field }
}

/// What the reference keeps per account.
#[derive(Debug, Clone)]
struct State {
    account: RefAccount,
    period: Option<Period>,
    /// Balances in the order first credited; `main` first.
    balances: Vec<(String, Decimal)>,
    /// Chargeable quantity this period per (service, zone).
    counters: Vec<(String, Option<String>, Decimal)>,
}

impl State {
    fn balance(&self, name: &str) -> Decimal {
        self.balances.iter().find(|(n, _)| n == name).map_or(Decimal::ZERO, |(_, a)| *a)
    }

    /// Adds `delta` to a balance; returns the new amount.
    fn add(&mut self, name: &str, delta: Decimal) -> Decimal {
        match self.balances.iter_mut().find(|(n, _)| n == name) {
            Some((_, a)) => {
                *a += delta;
                *a
            }
            None => {
                self.balances.push((name.to_string(), delta));
                delta
            }
        }
    }

    fn counter(&self, service: &str, zone: &Option<String>) -> Decimal {
        self.counters.iter().find(|(s, z, _)| s == service && z == zone).map_or(Decimal::ZERO, |(_, _, v)| *v)
    }

    fn count(&mut self, service: &str, zone: &Option<String>, delta: Decimal) {
        match self.counters.iter_mut().find(|(s, z, _)| s == service && z == zone) {
            Some((_, _, v)) => *v += delta,
            None => self.counters.push((service.to_string(), zone.clone(), delta)),
        }
    }
}

/// The reference rater.
#[derive(Debug)]
pub struct Reference {
    cat: CatalogFile,
    version: Name,
    currency: Currency,
    accounts: Vec<RefAccount>,
    states: Vec<State>,
}

impl Reference {
    /// A reference over catalog text and accounts. Panics on catalog
    /// features outside the subset.
    pub fn new(catalog: &str, accounts: Vec<RefAccount>) -> Self {
        let cat: CatalogFile = toml::from_str(catalog).expect("the catalog parses");
        assert!(cat.overrides.is_empty() && cat.partners.is_empty(), "overrides and partners are outside the subset");
        let t = &cat.thresholds;
        assert!(
            t.low_balance.is_none()
                && !t.notify_exhausted
                && !t.block_over_credit_limit
                && t.unpaid_block_after_days.is_none()
        );
        for d in &cat.discounts {
            assert!(
                d.amount.is_none() && d.plans.is_none() && d.segments.is_none() && d.accounts.is_none() && !d.recurring
            );
        }
        for plan in cat.plans.values() {
            for v in &plan.versions {
                assert!(v.recurring.is_empty(), "recurring fees are outside the subset");
                for r in &v.rates {
                    assert!(!matches!(*r.model.get_ref(), ModelName::Percentage | ModelName::PerDevice));
                }
            }
        }
        Self {
            version: Name::from(cat.version.get_ref().trim()),
            currency: Currency::parse(text(&cat.currency)).expect("currency"),
            cat,
            accounts,
            states: Vec::new(),
        }
    }

    /// An account's balances now, if the reference has seen it.
    pub fn balances(&self, account: &str) -> Option<&[(String, Decimal)]> {
        self.states.iter().find(|s| s.account.id == account).map(|s| s.balances.as_slice())
    }

    /// The rounding of the rate that priced a usage record.
    pub fn rounding_of(&self, rec: &Rated) -> Policy {
        let tariff = rec.tariff.as_deref().expect("usage records name their tariff");
        let (plan_name, _) = tariff.split_once('@').expect("plan@date");
        let plan = tariff::plan(&self.cat, plan_name).expect("plan");
        let version = plan.versions.iter().find(|v| tariff::tariff_id(plan_name, v) == tariff).expect("version");
        // The record's zone is its rate's, or the destination's when an
        // any-destination rate priced it.
        let rate = tariff::rate_for(version, &rec.service, rec.zone.as_deref())
            .or_else(|| tariff::rate_for(version, &rec.service, None))
            .expect("rate");
        tariff::rounding(&self.cat, plan, rate)
    }

    /// Rates one event: the records it books (generated ones first), or why
    /// it is refused.
    pub fn rate(&mut self, event: &Event, now: DateTime<Utc>) -> Result<Vec<Rated>, RefReject> {
        let age = (now - event.time).num_seconds();
        if age > 62 * 86_400 || -age > 300 {
            return Err(reject(RejectCode::TimeOutOfWindow, "time"));
        }
        let i = match self.states.iter().position(|s| s.account.id == event.account) {
            Some(i) => i,
            None => {
                let account = self.accounts.iter().find(|a| a.id == event.account);
                let account = account.ok_or(reject(RejectCode::UnknownAccount, "account"))?.clone();
                let mut state = State {
                    balances: vec![("main".to_string(), Decimal::ZERO)],
                    account,
                    period: None,
                    counters: Vec::new(),
                };
                for (name, amount) in state.account.balances.clone() {
                    if tariff::balance(&self.cat, &name).is_some() {
                        state.add(&name, amount);
                    }
                }
                self.states.push(state);
                self.states.len() - 1
            }
        };
        let r = Rater { cat: &self.cat, version: self.version, currency: self.currency, event };
        let state = &mut self.states[i];
        match &event.body {
            Body::Usage(u) => r.usage(state, u),
            Body::TopUp(m) => r.topup(state, m),
            other => panic!("{} events are outside the reference's subset", other.kind()),
        }
    }
}

/// One event being rated.
struct Rater<'a> {
    cat: &'a CatalogFile,
    version: Name,
    currency: Currency,
    event: &'a Event,
}

impl Rater<'_> {
    fn local_date(&self, state: &State) -> NaiveDate {
        self.event.time.with_timezone(&state.account.tz).date_naive()
    }

    /// An empty record of the account.
    fn record(
        &self,
        state: &State,
        id: impl Into<EventId>,
        kind: RecordKind,
        service: &str,
        time: DateTime<Utc>,
        period: Period,
    ) -> Rated {
        Rated {
            event_id: id.into(),
            kind,
            account: AccountId::from(state.account.id.as_str()),
            service: Name::from(service),
            zone: None,
            destination: None,
            device: None,
            event_time: time,
            period,
            original_period: None,
            quantity: Decimal::ZERO,
            rated_quantity: Decimal::ZERO,
            allowance_quantity: Decimal::ZERO,
            charge: Decimal::ZERO,
            discount: Decimal::ZERO,
            net: Decimal::ZERO,
            tax: Decimal::ZERO,
            gross: Decimal::ZERO,
            currency: self.currency,
            tariff: None,
            discounts: Default::default(),
            partner: None,
            partner_share: Decimal::ZERO,
            catalog_version: self.version,
            draws: Default::default(),
        }
    }

    fn usage(&self, state: &mut State, usage: &Usage) -> Result<Vec<Rated>, RefReject> {
        let cat = self.cat;
        let service = usage.service.as_str();
        let unit = tariff::service_unit(cat, service).ok_or(reject(RejectCode::UnknownService, "service"))?;
        if usage.unit.as_deref().is_some_and(|u| u != unit) {
            return Err(reject(RejectCode::UnitMismatch, "unit"));
        }
        if tariff::quantity_max(cat, service).is_some_and(|m| usage.quantity > m) {
            return Err(reject(RejectCode::QuantityTooLarge, "quantity"));
        }
        match state.account.status {
            Status::Active => {}
            Status::Pending => return Err(reject(RejectCode::NoPlan, "account")),
            Status::Suspended => return Err(reject(RejectCode::AccountSuspended, "account")),
            Status::Cancelled => return Err(reject(RejectCode::AccountClosed, "account")),
        }
        let date = self.local_date(state);
        let plan_name = state.account.plan.clone().ok_or(reject(RejectCode::NoPlan, "account"))?;
        let plan = tariff::plan(cat, &plan_name).ok_or(reject(RejectCode::NoPlan, "account"))?;
        let version = tariff::version_at(plan, date).ok_or(reject(RejectCode::NoPlan, "account"))?;
        let (rate, rate_zone) =
            tariff::find_rate(cat, version, service, usage.destination.as_deref()).ok_or_else(|| {
                reject(RejectCode::NoRate, if usage.destination.is_some() { "destination" } else { "service" })
            })?;
        // The event's zone: its rate's, or when an any-destination rate
        // prices it, the zone of the destination's longest prefix.
        let zone = rate_zone.clone().or_else(|| tariff::zones_of(cat, usage.destination.as_deref()).into_iter().next());

        // Booked from here on.
        let mut out = self.advance(state, date);
        let policy = tariff::rounding(cat, plan, rate);
        let increments = tariff::increments(rate);
        let rated = arith::rated_quantity(usage.quantity, increments);
        let period = state.period.expect("advance opened a period");
        let mut rec = self.record(state, self.event.id.clone(), RecordKind::Usage, service, self.event.time, period);
        rec.zone = zone.as_deref().map(Name::new);
        rec.destination.clone_from(&usage.destination);
        rec.device.clone_from(&usage.device);
        rec.quantity = usage.quantity;
        rec.rated_quantity = rated;
        rec.tariff = Some(Name::from(tariff::tariff_id(&plan_name, version)));

        // Allowances, by priority then name, pay for the start of the event.
        let mut drawn = Decimal::ZERO;
        if rated > Decimal::ZERO {
            let mut usable: Vec<Balance> = state
                .balances
                .iter()
                .filter(|(_, amount)| *amount > Decimal::ZERO)
                .filter_map(|(name, _)| tariff::balance(cat, name))
                .filter(|b| b.unit.as_deref() == Some(unit) && b.covers(service, zone.as_deref()))
                .collect();
            usable.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
            for b in usable {
                if drawn == rated {
                    break;
                }
                let take = state.balance(&b.name).min(rated - drawn);
                let remaining = state.add(&b.name, -take);
                rec.draws.push(Draw { balance: Name::from(b.name.as_str()), amount: take, remaining });
                drawn += take;
            }
        }
        let covered = arith::rated_quantity(drawn, increments).min(rated);
        rec.allowance_quantity = covered;
        let chargeable = rated - covered;
        let before = state.counter(service, &rate_zone);
        let usage_charge = charge::usage_charge(&charge::Usage {
            cat,
            rate,
            policy,
            tz: state.account.tz,
            start: self.event.time,
            is_duration: unit == "second",
            from: covered,
            to: rated,
            before,
        });
        state.count(service, &rate_zone, chargeable);
        let mut amount = usage_charge;
        if chargeable > Decimal::ZERO {
            amount += rate.connect_fee.as_ref().map_or(Decimal::ZERO, tariff::amount);
            if let Some(min) = rate.minimum.as_ref().map(tariff::amount) {
                amount = amount.max(min);
            }
        }
        if let Some(max) = rate.maximum.as_ref().map(tariff::amount) {
            amount = amount.min(max);
        }
        let amount = round_event(policy, amount);
        self.settle(state, &mut rec, amount, service, zone.as_deref(), policy, date);
        out.push(rec);
        Ok(out)
    }

    /// Discounts, tax and money draws of a usage charge.
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &self,
        state: &mut State,
        rec: &mut Rated,
        charge: Decimal,
        service: &str,
        zone: Option<&str>,
        policy: Policy,
        date: NaiveDate,
    ) {
        rec.charge = charge;
        let mut left = charge;
        for d in &self.cat.discounts {
            let applies = d.services.as_ref().is_none_or(|l| l.iter().any(|s| text(s) == service))
                && d.valid_from.as_ref().is_none_or(|f| date >= tariff::date(f.get_ref()))
                && d.valid_to.as_ref().is_none_or(|t| date < tariff::date(t.get_ref()));
            if !applies || left <= Decimal::ZERO {
                continue;
            }
            let percent = tariff::amount(d.percent.as_ref().expect("percentage discounts only"));
            let off = round_event(policy, arith::percent(left, percent));
            if off > Decimal::ZERO {
                left -= off;
                rec.discounts.push(Name::from(text(&d.id)));
            }
        }
        rec.discount = charge - left;
        rec.net = left;
        if let Some(region) = &state.account.tax_region {
            let (_, tax) = self.cat.taxes.iter().find(|(n, _)| text(n) == region).expect("tax region");
            if !tax.exempt_services.iter().any(|s| text(s) == service) {
                rec.tax = round_event(policy, arith::percent(rec.net, tariff::amount(&tax.rate_percent)));
            }
        }
        rec.gross = rec.net + rec.tax;

        let mut left = rec.gross;
        if left > Decimal::ZERO {
            let mut payers: Vec<Balance> = state
                .balances
                .iter()
                .filter(|(name, amount)| name != "main" && *amount > Decimal::ZERO)
                .filter_map(|(name, _)| tariff::balance(self.cat, name))
                .filter(|b| b.unit.is_none() && b.covers(service, zone))
                .collect();
            payers.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
            for b in payers {
                if left.is_zero() {
                    break;
                }
                let take = state.balance(&b.name).min(left);
                let remaining = state.add(&b.name, -take);
                rec.draws.push(Draw { balance: Name::from(b.name.as_str()), amount: take, remaining });
                left -= take;
            }
        }
        if !left.is_zero() {
            let remaining = state.add("main", -left);
            rec.draws.push(Draw { balance: Name::from("main"), amount: left, remaining });
        }
    }

    fn topup(&self, state: &mut State, money: &Money) -> Result<Vec<Rated>, RefReject> {
        let name = money.balance.clone().unwrap_or_else(|| "main".to_string());
        let is_money = tariff::balance(self.cat, &name).is_some_and(|b| b.unit.is_none());
        if !is_money {
            return Err(reject(RejectCode::UnknownBalance, "balance"));
        }
        assert!(money.currency.is_none(), "top-ups in the account's currency only");
        let mut out = self.advance(state, self.local_date(state));
        let period = state.period.expect("advance opened a period");
        let mut rec = self.record(state, self.event.id.clone(), RecordKind::Topup, "topup", self.event.time, period);
        rec.quantity = money.amount;
        rec.charge = -money.amount;
        rec.net = -money.amount;
        rec.gross = -money.amount;
        let remaining = state.add(&name, money.amount);
        rec.draws.push(Draw { balance: Name::from(name.as_str()), amount: -money.amount, remaining });
        out.push(rec);
        Ok(out)
    }
}
