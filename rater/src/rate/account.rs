//! Per-account rating state: plan, status, balances and period counters.
//!
//! Ids in here (plans, balances, rate counters) index the tables the state
//! was last rated against; [`AccountState::remap`] moves them to new tables
//! after a catalog reload, by name.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::NaiveDate;
use chrono_tz::Tz;
use rust_decimal::Decimal;

use crate::accounts::{AccountRef, AccountStatus};
use crate::money::Currency;
use crate::tables::{BalanceId, MAIN_BALANCE, PlanId, Tables};
use crate::time::Period;

/// Everything the rater keeps about one account between events.
#[derive(Debug, Clone)]
pub struct AccountState {
    /// Account id.
    pub id: Arc<str>,
    /// Time zone of its clock.
    pub tz: Tz,
    /// Currency override from reference data.
    pub currency: Option<Currency>,
    /// Partner id.
    pub partner: Option<Arc<str>>,
    /// Segment.
    pub segment: Option<String>,
    /// Tax region.
    pub tax_region: Option<String>,
    /// Credit limit for the main balance.
    pub credit_limit: Decimal,
    /// Lifecycle status.
    pub status: AccountStatus,
    /// The plan it is on.
    pub plan: Option<PlanId>,
    /// Local date the plan started (fees before it are not charged).
    pub plan_since: Option<NaiveDate>,
    /// The open period, once the account has been seen.
    pub period: Option<Period>,
    /// Balances by id, with amount; `main` is always first.
    pub balances: Vec<(BalanceId, Decimal)>,
    /// Chargeable quantity used this period, by rate counter key.
    pub counters: Vec<(u32, Decimal)>,
    /// Amount used this period of each fixed discount, by discount index.
    pub fixed_used: Vec<(u32, Decimal)>,
    /// Devices seen on `device_day`.
    pub devices_today: HashSet<u64>,
    /// The local day `devices_today` is for.
    pub device_day: Option<NaiveDate>,
    /// Devices seen this period.
    pub devices_period: HashSet<u64>,
    /// What a closed period left owing, still unpaid.
    pub owed: Decimal,
    /// Local date from which an unpaid `owed` blocks.
    pub owed_due: Option<NaiveDate>,
    /// Why the rater blocked the account, if it did.
    pub blocked: Option<crate::record::ActionReason>,
    /// Whether the main balance is below the low-balance threshold (and the
    /// customer was told).
    pub low_notified: bool,
}

impl AccountState {
    /// Fresh state from reference data, with opening balances.
    #[must_use]
    pub fn new(account: &AccountRef, tables: &Tables) -> Self {
        let mut balances = vec![(MAIN_BALANCE, Decimal::ZERO)];
        for (name, amount) in &account.balances {
            if let Some(&id) = tables.balance_ids.get(name) {
                add_to(&mut balances, id, *amount);
            }
        }
        Self {
            id: account.id.clone(),
            tz: account.time_zone,
            currency: account.currency,
            partner: account.partner.as_deref().map(Arc::from),
            segment: account.segment.clone(),
            tax_region: account.tax_region.clone(),
            credit_limit: account.credit_limit,
            status: account.status,
            plan: account.plan.as_ref().and_then(|p| tables.plan_ids.get(p).copied()),
            plan_since: account.activated,
            period: None,
            balances,
            counters: Vec::new(),
            fixed_used: Vec::new(),
            devices_today: HashSet::new(),
            device_day: None,
            devices_period: HashSet::new(),
            owed: Decimal::ZERO,
            owed_due: None,
            blocked: None,
            low_notified: false,
        }
    }

    /// Takes reference data that may have changed on reload: zone, partner,
    /// segment, tax region, credit limit. Plan, status and balances are the
    /// rater's own once an account has been seen.
    pub fn refresh(&mut self, account: &AccountRef) {
        self.tz = account.time_zone;
        self.currency = account.currency;
        self.partner = account.partner.as_deref().map(Arc::from);
        self.segment.clone_from(&account.segment);
        self.tax_region.clone_from(&account.tax_region);
        self.credit_limit = account.credit_limit;
    }

    /// The main money balance.
    #[must_use]
    pub fn main(&self) -> Decimal {
        self.balances[0].1
    }

    /// The amount of a balance (zero if never credited).
    #[must_use]
    pub fn balance(&self, id: BalanceId) -> Decimal {
        self.balances.iter().find(|(b, _)| *b == id).map_or(Decimal::ZERO, |(_, a)| *a)
    }

    /// Adds `delta` to a balance and returns its new amount.
    pub fn add(&mut self, id: BalanceId, delta: Decimal) -> Decimal {
        add_to(&mut self.balances, id, delta)
    }

    /// The period counter for a rate.
    #[must_use]
    pub fn counter(&self, key: u32) -> Decimal {
        self.counters.iter().find(|(k, _)| *k == key).map_or(Decimal::ZERO, |(_, v)| *v)
    }

    /// Adds to a period counter.
    pub fn count(&mut self, key: u32, delta: Decimal) {
        match self.counters.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v += delta,
            None => self.counters.push((key, delta)),
        }
    }

    /// Moves every id to `new` tables, by name through `old`. Balances,
    /// counters and fixed discounts whose names are gone from the new
    /// catalog are dropped.
    pub fn remap(&mut self, old: &Tables, new: &Tables) {
        self.plan = self.plan.and_then(|p| new.plan_ids.get(&*old.plans[p as usize].id).copied());
        self.balances.retain_mut(|(id, _)| match new.balance_ids.get(&*old.balances[*id as usize].name) {
            Some(&n) => {
                *id = n;
                true
            }
            None => false,
        });
        if self.balances.first().is_none_or(|(id, _)| *id != MAIN_BALANCE) {
            self.balances.insert(0, (MAIN_BALANCE, Decimal::ZERO));
        }
        // Counter keys encode (service, zone); map both by name.
        let old_stride = u32::try_from(old.zones.len()).unwrap_or(u32::MAX) + 1;
        let new_stride = u32::try_from(new.zones.len()).unwrap_or(u32::MAX) + 1;
        self.counters.retain_mut(|(key, _)| {
            let service = &old.services[(*key / old_stride) as usize].name;
            let zone = (*key % old_stride).checked_sub(1).map(|z| &old.zones[z as usize]);
            let Some(&s) = new.service_ids.get(&**service) else { return false };
            let z = match zone {
                None => 0,
                Some(name) => match new.zones.iter().position(|n| n == name) {
                    Some(i) => u32::try_from(i).unwrap_or(0) + 1,
                    None => return false,
                },
            };
            *key = s * new_stride + z;
            true
        });
        self.fixed_used.retain_mut(|(i, _)| {
            let id = &old.discounts[*i as usize].id;
            match new.discounts.iter().position(|d| d.id == *id) {
                Some(n) => {
                    *i = u32::try_from(n).unwrap_or(u32::MAX);
                    true
                }
                None => false,
            }
        });
    }
}

fn add_to(balances: &mut Vec<(BalanceId, Decimal)>, id: BalanceId, delta: Decimal) -> Decimal {
    match balances.iter_mut().find(|(b, _)| *b == id) {
        Some((_, amount)) => {
            *amount += delta;
            *amount
        }
        None => {
            balances.push((id, delta));
            delta
        }
    }
}
