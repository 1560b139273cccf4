//! Per-account rating state: plan, status, balances and period counters.
//!
//! Ids in here (plans, balances, rate counters, partner, tax, overrides,
//! discounts) index the tables the state was last rated against;
//! [`AccountState::remap`] moves them to new tables after a catalog reload,
//! by name. What can be worked out once per account (its partner, tax,
//! overrides and the discounts that may apply to it) is resolved here, not
//! per event.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::NaiveDate;
use chrono_tz::Tz;
use rust_decimal::Decimal;
use smallvec::SmallVec;

use crate::accounts::{AccountRef, AccountStatus};
use crate::clock::ZoneClock;
use crate::money::{self, Currency};
use crate::name::Name;
use crate::record::AccountId;
use crate::tables::{BalanceId, MAIN_BALANCE, PlanId, Tables};
use crate::time::Period;

/// One balance other than `main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    /// Which balance.
    pub id: BalanceId,
    /// Its draw priority (lower first), copied from the catalog.
    pub priority: u32,
    /// Amount, in its unit.
    pub amount: Decimal,
}

/// Everything the rater keeps about one account between events. The lists
/// rating reads for every event are kept inline for their usual sizes, so
/// that one account's state is a few adjacent cache lines rather than a
/// pointer chase per list.
#[derive(Debug, Clone)]
pub struct AccountState {
    /// Account id.
    pub id: AccountId,
    /// Time zone of its clock.
    pub tz: Tz,
    /// Currency override from reference data.
    pub currency: Option<Currency>,
    /// Partner id.
    pub partner: Option<Name>,
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
    /// The main money balance (may be negative down to the credit limit).
    pub main: Decimal,
    /// Other balances, sorted by (priority, id): the order they are drawn.
    pub balances: SmallVec<[Balance; 4]>,
    /// Chargeable quantity used this period, by rate counter key.
    pub counters: SmallVec<[(u32, Decimal); 4]>,
    /// Amount used this period of each fixed discount, by discount index.
    pub fixed_used: SmallVec<[(u32, Decimal); 2]>,
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
    /// Resolved against the current tables: index of the partner.
    pub(crate) partner_idx: Option<u32>,
    /// Resolved: index of the tax.
    pub(crate) tax_idx: Option<u32>,
    /// Resolved: index of the account's override list.
    pub(crate) overrides_idx: Option<u32>,
    /// Resolved: discounts whose plan, segment and account filters admit
    /// this account on its current plan, in catalog order.
    pub(crate) discounts: SmallVec<[u32; 4]>,
    /// The account's local clock (its time zone's offset table).
    pub clock: Arc<ZoneClock>,
}

impl AccountState {
    /// Fresh state from reference data, with opening balances.
    #[must_use]
    pub fn new(account: &AccountRef, tables: &Tables) -> Self {
        let mut state = Self {
            id: AccountId::new(&account.id),
            tz: account.time_zone,
            currency: account.currency,
            partner: account.partner.as_deref().map(Name::new),
            segment: account.segment.clone(),
            tax_region: account.tax_region.clone(),
            credit_limit: account.credit_limit,
            status: account.status,
            plan: account.plan.as_ref().and_then(|p| tables.plan_ids.get(p).copied()),
            plan_since: account.activated,
            period: None,
            main: Decimal::ZERO,
            balances: SmallVec::new(),
            counters: SmallVec::new(),
            fixed_used: SmallVec::new(),
            devices_today: HashSet::new(),
            device_day: None,
            devices_period: HashSet::new(),
            owed: Decimal::ZERO,
            owed_due: None,
            blocked: None,
            low_notified: false,
            partner_idx: None,
            tax_idx: None,
            overrides_idx: None,
            discounts: SmallVec::new(),
            clock: ZoneClock::of(account.time_zone),
        };
        for (name, amount) in &account.balances {
            if let Some(&id) = tables.balance_ids.get(name) {
                state.add(tables, id, *amount);
            }
        }
        state.resolve(tables);
        state
    }

    /// Takes reference data that may have changed on reload: zone, partner,
    /// segment, tax region, credit limit. Plan, status and balances are the
    /// rater's own once an account has been seen.
    pub fn refresh(&mut self, account: &AccountRef, tables: &Tables) {
        self.tz = account.time_zone;
        self.currency = account.currency;
        self.partner = account.partner.as_deref().map(Name::new);
        self.segment.clone_from(&account.segment);
        self.tax_region.clone_from(&account.tax_region);
        self.credit_limit = account.credit_limit;
        if self.clock.tz() != account.time_zone {
            self.clock = ZoneClock::of(account.time_zone);
        }
        self.resolve(tables);
    }

    /// Works out, against `tables`, what does not change from event to
    /// event; called again when the plan, the tables or the reference change.
    pub(crate) fn resolve(&mut self, tables: &Tables) {
        self.partner_idx = self.partner.as_deref().and_then(|p| tables.partner_ids.get(p).copied());
        self.tax_idx = self.tax_region.as_deref().and_then(|r| tables.tax_ids.get(r).copied());
        self.overrides_idx = tables.override_ids.get(&*self.id).copied();
        self.discounts.clear();
        for (i, d) in tables.discounts.iter().enumerate() {
            let admits = d.plans.as_ref().is_none_or(|p| self.plan.is_some_and(|plan| p.contains(&plan)))
                && d.segments.as_ref().is_none_or(|s| self.segment.as_ref().is_some_and(|seg| s.contains(seg)))
                && d.accounts.as_ref().is_none_or(|a| a.iter().any(|id| **id == *self.id));
            if admits {
                self.discounts.push(u32::try_from(i).unwrap_or(u32::MAX));
            }
        }
    }

    /// The main money balance.
    #[must_use]
    pub fn main(&self) -> Decimal {
        self.main
    }

    /// The amount of a balance (zero if never credited).
    #[must_use]
    pub fn balance(&self, id: BalanceId) -> Decimal {
        if id == MAIN_BALANCE {
            return self.main;
        }
        self.balances.iter().find(|b| b.id == id).map_or(Decimal::ZERO, |b| b.amount)
    }

    /// Adds `delta` to a balance and returns its new amount.
    pub fn add(&mut self, tables: &Tables, id: BalanceId, delta: Decimal) -> Decimal {
        if id == MAIN_BALANCE {
            self.main = money::add(self.main, delta);
            return self.main;
        }
        if let Some(b) = self.balances.iter_mut().find(|b| b.id == id) {
            b.amount += delta;
            return b.amount;
        }
        let priority = tables.balances[id as usize].priority;
        let at = self.balances.partition_point(|b| (b.priority, b.id) < (priority, id));
        self.balances.insert(at, Balance { id, priority, amount: delta });
        delta
    }

    /// Adds to the balance at position `at` of `balances` (as iterated in
    /// draw order) and returns its new amount.
    #[inline]
    pub(crate) fn add_at(&mut self, at: usize, delta: Decimal) -> Decimal {
        let b = &mut self.balances[at];
        b.amount = money::add(b.amount, delta);
        b.amount
    }

    /// The period counter for a rate.
    #[must_use]
    pub fn counter(&self, key: u32) -> Decimal {
        self.counters.iter().find(|(k, _)| *k == key).map_or(Decimal::ZERO, |(_, v)| *v)
    }

    /// Adds to a period counter.
    #[inline]
    pub fn count(&mut self, key: u32, delta: Decimal) {
        match self.counters.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = money::add(*v, delta),
            None => self.counters.push((key, delta)),
        }
    }

    /// Loads a field from each part of the state that rating reads, all at
    /// once: the state is several cache lines, read at random per event,
    /// and loads the processor sees together wait for memory together
    /// rather than one after another as rating reaches each field.
    #[inline]
    pub(crate) fn touch(&self) {
        std::hint::black_box((
            self.main,
            self.balances.len(),
            self.counters.len(),
            self.fixed_used.len(),
            self.discounts.len(),
            self.period,
            self.plan,
            self.status,
            self.owed_due,
            self.credit_limit,
            self.partner_idx,
            self.tax_idx,
            self.overrides_idx,
            self.currency,
        ));
    }

    /// Asks the processor to start loading the state's cache lines, a field
    /// in each part that rating reads, without waiting for them: a hint, for
    /// an event of this account rated a little later. Unlike
    /// [`touch`](Self::touch), nothing waits for the loads.
    #[inline]
    pub(crate) fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        {
            use safe_arch::prefetch_t0;
            prefetch_t0(&self.main);
            prefetch_t0(&self.balances);
            prefetch_t0(&self.counters);
            prefetch_t0(&self.fixed_used);
            prefetch_t0(&self.discounts);
            prefetch_t0(&self.period);
            prefetch_t0(&self.plan);
            prefetch_t0(&self.status);
            prefetch_t0(&self.id);
            prefetch_t0(&self.credit_limit);
            prefetch_t0(&self.partner_idx);
            prefetch_t0(&self.clock);
        }
    }

    /// Moves every id to `new` tables, by name through `old`. Balances,
    /// counters and fixed discounts whose names are gone from the new
    /// catalog are dropped.
    pub fn remap(&mut self, old: &Tables, new: &Tables) {
        self.plan = self.plan.and_then(|p| new.plan_ids.get(&*old.plans[p as usize].id).copied());
        let balances = std::mem::take(&mut self.balances);
        for b in balances {
            if let Some(&id) = new.balance_ids.get(&*old.balances[b.id as usize].name) {
                self.add(new, id, b.amount);
            }
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
        self.resolve(new);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_stays_compact() {
        // The product promises at most 1 KiB per active account; the inline
        // part must leave room for the id, the zone clock share and devices.
        let size = size_of::<AccountState>();
        assert!(size <= 640, "AccountState is {size} bytes");
    }
}
