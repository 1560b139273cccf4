//! The rating function: events in, rated records, rejects and actions out.
//!
//! [`Rater`] owns the state of the accounts it rates (shard by account to
//! rate in parallel) and reads one [`Tables`] snapshot per batch.

mod account;
mod charge;
mod checkpoint;
mod facts;
mod period;
mod settle;

use std::hash::BuildHasher;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

pub use account::AccountState;
pub use charge::to_increments;
pub use checkpoint::{
    AccountCheckpoint, AccountView, Checkpoint, CounterCheckpoint, RestoreError, format2 as checkpoint_format2,
};
pub use period::PERIODS_CATCH_UP_MAX;

use self::charge::Window;
use self::period::{Sign, advance, fees, generated, plan_version};
use self::settle::{Charge, check_main, settle};
use crate::accounts::{AccountStatus, Accounts};
use crate::event::{Body, Event, Money, SubscriptionAction, Usage};
use crate::money;
use crate::name::Name;
use crate::record::{Action, ActionKind, ActionReason, Draw, Fact, Output, Rated, RecordKind, Rejected, Side};
use crate::reject::{Reject, RejectCode};
use crate::tables::{MAIN_BALANCE, MATCHES_MAX, Model, PlanId, Tables, ZoneId, in_window};
use crate::time::{LocalInstant, Period, local_midnight_utc};

/// How many events ahead [`Rater::rate_batch`] loads an account's state.
pub const PREFETCH_EVENTS: usize = 4;

const _: () = assert!(PREFETCH_EVENTS > 0, "a prefetch looks at least one event ahead");

/// Limits the rater applies to every event.
#[derive(Debug, Clone, Copy)]
pub struct RaterConfig {
    /// Events older than this, against the batch's clock, are rejected.
    pub event_age_max_days: u32,
    /// Events further in the future than this are rejected.
    pub event_future_max_seconds: u32,
    /// The latest billing period closed in the ledger: it and every earlier
    /// one take no more rows. An event of a closed period is booked in the
    /// account's open period, at the earliest the one after this, with
    /// [`Rated::original_period`] naming its own. `None`: nothing is closed.
    pub closed_through: Option<Period>,
}

impl Default for RaterConfig {
    fn default() -> Self {
        Self { event_age_max_days: 62, event_future_max_seconds: 300, closed_through: None }
    }
}

/// Rates events against one catalog snapshot and the accounts' state.
#[derive(Debug)]
pub struct Rater {
    tables: Arc<Tables>,
    accounts: Arc<Accounts>,
    config: RaterConfig,
    states: Vec<AccountState>,
    /// By slot: whether the state may have changed since the last
    /// [`Rater::checkpoint_changed`].
    changed: Vec<bool>,
    /// Slot by account id. The table holds slots alone, four bytes each,
    /// so that the index of a hundred thousand accounts stays within a
    /// core's cache; a lookup compares the id with the one in the state
    /// the slot points to, which rating reads next anyway.
    index: hashbrown::HashTable<u32>,
    /// Hashes account ids for `index`.
    index_hasher: foldhash::fast::RandomState,
    devices: foldhash::fast::FixedState,
}

impl Rater {
    /// A rater with no account state yet.
    #[must_use]
    pub fn new(tables: Arc<Tables>, accounts: Arc<Accounts>, config: RaterConfig) -> Self {
        Self {
            tables,
            accounts,
            config,
            states: Vec::new(),
            changed: Vec::new(),
            index: hashbrown::HashTable::new(),
            index_hasher: foldhash::fast::RandomState::default(),
            devices: foldhash::fast::FixedState::with_seed(0x7261_7465_7769_7265),
        }
    }

    /// The tables in use.
    #[must_use]
    pub fn tables(&self) -> &Arc<Tables> {
        &self.tables
    }

    /// Switches to new tables; every account's state is carried over by name.
    pub fn set_tables(&mut self, tables: Arc<Tables>) {
        if Arc::ptr_eq(&tables, &self.tables) {
            return;
        }
        for state in &mut self.states {
            state.remap(&self.tables, &tables);
        }
        self.changed.fill(true);
        self.tables = tables;
    }

    /// Switches to new reference data; known accounts keep their state.
    pub fn set_accounts(&mut self, accounts: Arc<Accounts>) {
        for state in &mut self.states {
            if let Some(a) = accounts.get(&state.id) {
                state.refresh(a, &self.tables);
            }
        }
        self.changed.fill(true);
        self.accounts = accounts;
    }

    /// Sets the latest period closed in the ledger
    /// ([`RaterConfig::closed_through`]) for the events rated from now on.
    pub fn set_closed_through(&mut self, closed: Option<Period>) {
        self.config.closed_through = closed;
    }

    /// Brings an account's open period up to `period`, as its first event
    /// there would: the open period closes (expiry, rollover, what is left
    /// owing) and the next ones open (grants, recurring fees), pushing the
    /// records that generates. Nothing happens if `period` is open already
    /// or earlier. Rerating opens each period so before rating its events,
    /// whatever their order.
    ///
    /// # Errors
    /// A reject if the account is not in the reference data.
    pub fn open_period(&mut self, account: &str, period: Period, out: &mut Output) -> Result<(), Reject> {
        let slot = self.slot(account)?;
        advance(&self.tables, &mut self.states[slot], period.first_day(), self.config.closed_through, out);
        Ok(())
    }

    /// The state of an account the rater has seen.
    #[must_use]
    pub fn state(&self, account: &str) -> Option<&AccountState> {
        self.find(account).map(|i| &self.states[i])
    }

    /// Every account state, in first-seen order.
    #[must_use]
    pub fn states(&self) -> &[AccountState] {
        &self.states
    }

    /// Rates a batch in order, loading each account's state a few events
    /// ahead.
    pub fn rate_batch(&mut self, events: &[Event], now: DateTime<Utc>, out: &mut Output) {
        for (i, event) in events.iter().enumerate() {
            if let Some(ahead) = events.get(i + PREFETCH_EVENTS) {
                self.prefetch(&ahead.account);
            }
            self.rate(event, now, out);
        }
    }

    /// Starts loading the state of `account` into the cache, for one of its
    /// events to be rated soon: the state is a few hundred bytes at a
    /// random place, and rating otherwise waits for it. A hint only; an
    /// account not seen yet is skipped.
    pub fn prefetch(&self, account: &str) {
        let hash = self.index_hasher.hash_one(account);
        // The first slot of a matching hash tag, without reading the state
        // to compare ids: that read is what the hint is for. A wrong slot
        // (rare) only loads the wrong state.
        if let Some(state) = self.index.find(hash, |_| true).and_then(|&s| self.states.get(s as usize)) {
            state.prefetch();
        }
    }

    /// Rates one event: pushes its records (and any records generated by a
    /// period change) or a reject, and any actions.
    pub fn rate(&mut self, event: &Event, now: DateTime<Utc>, out: &mut Output) {
        if let Err(reject) = self.try_rate(event, now, out) {
            self.reject_event(reject, event, out);
        }
    }

    /// Books a reject of an event that decoded but is refused before
    /// rating (a resent id, say), naming its id and account.
    pub fn reject_event(&self, reject: Reject, event: &Event, out: &mut Output) {
        out.rejected.push(Rejected {
            event_id: Some(event.id.clone()),
            account: Some(event.account.clone()),
            reject,
            catalog_version: self.tables.version,
        });
    }

    /// Books a reject for a payload that did not decode.
    pub fn reject_payload(&self, reject: Reject, out: &mut Output) {
        out.rejected.push(Rejected { event_id: None, account: None, reject, catalog_version: self.tables.version });
    }

    fn try_rate(&mut self, event: &Event, now: DateTime<Utc>, out: &mut Output) -> Result<(), Reject> {
        let event_s = event.time.timestamp();
        let age_s = now.timestamp() - event_s;
        if age_s > i64::from(self.config.event_age_max_days) * 86_400
            || -age_s > i64::from(self.config.event_future_max_seconds)
        {
            return Err(Reject::field(
                RejectCode::TimeOutOfWindow,
                "time",
                format!(
                    "time: {} is outside the accepted window ({} days back, {} s ahead of {})",
                    event.time.to_rfc3339(),
                    self.config.event_age_max_days,
                    self.config.event_future_max_seconds,
                    now.to_rfc3339()
                ),
            ));
        }
        let slot = self.slot(&event.account)?;
        let tables = &*self.tables;
        let state = &mut self.states[slot];
        state.touch();
        let local = state.clock.local_and_next_change(event_s).0;
        let closed = self.config.closed_through;
        let ctx = Ctx { tables, event, local, devices: &self.devices, closed };
        match &event.body {
            Body::Usage(usage) => ctx.usage(state, usage, out),
            Body::Subscription { action, plan } => ctx.subscription(state, *action, plan.as_deref(), out),
            Body::Payment(money) => ctx.money(state, money, RecordKind::Payment, out),
            Body::TopUp(money) => ctx.money(state, money, RecordKind::Topup, out),
            Body::Adjustment { money, .. } => ctx.money(state, money, RecordKind::Adjustment, out),
            Body::SupportContact { .. } => ctx.fact(state, RecordKind::SupportContact, out),
            Body::Block { .. } => ctx.fact(state, RecordKind::Block, out),
            Body::Unblock { .. } => ctx.fact(state, RecordKind::Unblock, out),
        }
    }

    /// The state slot of an account, created from reference data on first
    /// sight, and marked as changed: the caller is about to rate with it.
    fn slot(&mut self, account: &str) -> Result<usize, Reject> {
        if let Some(i) = self.find(account) {
            self.changed[i] = true;
            return Ok(i);
        }
        let Some(reference) = self.accounts.get(account) else {
            return Err(Reject::field(
                RejectCode::UnknownAccount,
                "account",
                format!("account: {account:?} is not in the accounts reference data"),
            ));
        };
        let i = self.states.len();
        let slot = u32::try_from(i).unwrap_or(u32::MAX);
        self.states.push(AccountState::new(reference, &self.tables));
        self.changed.push(true);
        let Self { index, index_hasher, states, .. } = self;
        let hash = index_hasher.hash_one(account);
        index.insert_unique(hash, slot, |&s| index_hasher.hash_one(states[s as usize].id.as_str()));
        Ok(i)
    }

    fn find(&self, account: &str) -> Option<usize> {
        let hash = self.index_hasher.hash_one(account);
        self.index.find(hash, |&s| self.states[s as usize].id == account).map(|&s| s as usize)
    }
}

/// What rating one event reads.
struct Ctx<'a> {
    tables: &'a Tables,
    event: &'a Event,
    local: LocalInstant,
    devices: &'a foldhash::fast::FixedState,
    /// The latest period closed in the ledger ([`RaterConfig::closed_through`]).
    closed: Option<Period>,
}

impl Ctx<'_> {
    /// The period the event is booked in: the account's open one.
    fn period(&self, state: &AccountState) -> Period {
        state.period.unwrap_or_else(|| self.local.period())
    }

    fn record(&self, state: &AccountState, kind: RecordKind, service: Name) -> Rated {
        let period = self.period(state);
        Rated {
            original_period: self.late(),
            ..generated(self.tables, state, self.event.id.clone(), kind, service, self.event.time, period)
        }
    }

    /// The event's own period when the ledger has closed it: the event is
    /// late, and its records name that period.
    fn late(&self) -> Option<Period> {
        let closed = self.closed?;
        let own = self.local.period();
        (own <= closed).then_some(own)
    }

    /// Brings the account's open period up to the event's, and past the
    /// closed ones.
    fn advance(&self, state: &mut AccountState, out: &mut Output) {
        advance(self.tables, state, self.local.date, self.closed, out);
    }

    /// The event's fact, booked in the open period.
    fn event_fact(&self, state: &AccountState) -> Option<Fact> {
        facts::of_event(self.tables, state, self.event, self.period(state))
    }

    fn usage(&self, state: &mut AccountState, usage: &Usage, out: &mut Output) -> Result<(), Reject> {
        let tables = self.tables;
        let Some(&service_id) = tables.service_ids.get(usage.service.as_str()) else {
            return Err(Reject::field(
                RejectCode::UnknownService,
                "service",
                format!("service: {:?} is not in catalog {}", usage.service, tables.version),
            ));
        };
        let service = &tables.services[service_id as usize];
        if let Some(unit) = usage.unit.as_deref().filter(|u| *u != service.unit) {
            return Err(Reject::field(
                RejectCode::UnitMismatch,
                "unit",
                format!("unit: {unit:?} does not match service {}, measured in {}", service.name, service.unit),
            ));
        }
        if let Some(max) = service.quantity_max.filter(|m| money::cmp(usage.quantity, *m).is_gt()) {
            return Err(Reject::field(
                RejectCode::QuantityTooLarge,
                "quantity",
                format!("quantity: {} is more than service {} accepts ({max})", usage.quantity, service.name),
            ));
        }
        match state.status {
            AccountStatus::Active => {}
            AccountStatus::Pending => return Err(no_plan(state, "has not been activated")),
            AccountStatus::Suspended => {
                return Err(Reject::field(
                    RejectCode::AccountSuspended,
                    "account",
                    format!("account: {} is suspended", state.id),
                ));
            }
            AccountStatus::Cancelled => {
                return Err(Reject::field(
                    RejectCode::AccountClosed,
                    "account",
                    format!("account: {} is cancelled", state.id),
                ));
            }
        }
        let date = self.local.date;
        let Some(version) = plan_version(tables, state, date) else {
            return Err(no_plan(state, &format!("has no plan version in force on {date}")));
        };
        let mut candidates = [0 as ZoneId; MATCHES_MAX];
        let n = usage.destination.as_deref().map_or(0, |d| tables.prefixes.matches(d, &mut candidates));
        let zones = &candidates[..n];
        let found = state
            .overrides_idx
            .map(|i| &tables.overrides[i as usize])
            .and_then(|list| {
                list.iter()
                    .filter(|o| in_window(date, o.valid_from, o.valid_to))
                    .find_map(|o| o.rates.find(service_id, zones).map(|(r, z)| (r, z, &o.tariff_id)))
            })
            .or_else(|| version.rates.find(service_id, zones).map(|(r, z)| (r, z, &version.tariff_id)));
        let Some((rate, zone, tariff)) = found else {
            let field = if usage.destination.is_some() { "destination" } else { "service" };
            return Err(Reject::field(
                RejectCode::NoRate,
                field,
                format!(
                    "{field}: plan {} has no rate for {}{}",
                    version.tariff_id,
                    service.name,
                    usage.destination.as_deref().map(|d| format!(" to destination {d}")).unwrap_or_default()
                ),
            ));
        };
        let device_hash = match (&rate.model, usage.device.as_deref()) {
            (Model::PerDevice { .. }, None) => {
                return Err(Reject::field(
                    RejectCode::MissingField,
                    "device",
                    format!("device: service {} is charged per device", service.name),
                ));
            }
            // Keyed by the rate's service and zone too: each per-device rate
            // charges a device on its own, whatever other rates saw it. By
            // name, so that checkpoints outlive catalog reloads.
            (Model::PerDevice { .. }, Some(d)) => {
                Some(self.devices.hash_one((&*service.name, zone.map(|z| &*tables.zones[z as usize]), d)))
            }
            _ => None,
        };
        // The record names the destination's zone even when a catch-all rate
        // priced it, so that zone-limited balances and reports see it.
        let zone = zone.or_else(|| zones.first().copied());

        // Everything that can reject has been checked: from here on the
        // event is booked and state changes.
        let tariff = *tariff;
        self.advance(state, out);
        self.check_unpaid(state, out);
        let rated_quantity = match rate.model {
            Model::Percentage(_) | Model::PerDevice { .. } => usage.quantity,
            _ => to_increments(usage.quantity, rate.increments),
        };
        let (rec, mut side) = out.push_rated(self.record(state, RecordKind::Usage, service.name));
        rec.zone = zone.map(|z| tables.zones[z as usize]);
        rec.destination.clone_from(&usage.destination);
        rec.device.clone_from(&usage.device);
        rec.quantity = usage.quantity;
        rec.rated_quantity = rated_quantity;
        rec.tariff = Some(tariff);

        // Allowances first, drawn by priority, covering the start of the event.
        let mut covered = Decimal::ZERO;
        if charge::takes_allowances(&rate.model) && money::is_positive(rated_quantity) {
            covered = self.draw_allowances(state, service_id, zone, rated_quantity, rec, &mut side);
            // The straddled increment is covered whole (nothing covered
            // stays nothing).
            if !covered.is_zero() {
                covered = money::min(to_increments(covered, rate.increments), rated_quantity);
            }
        }
        rec.allowance_quantity = covered;
        let window = Window { from: covered, to: rated_quantity };
        let chargeable = money::sub(rated_quantity, covered);
        let before = state.counter(rate.counter);
        let usage_charge = match &rate.model {
            Model::Flat(price) => charge::per_unit(rate, &window, *price),
            Model::Banded { schedule, prices } => charge::banded(
                rate,
                &window,
                &tables.schedules[*schedule as usize],
                prices,
                &state.clock,
                self.event.time,
                service.is_duration,
            ),
            Model::Graduated(tiers) => charge::graduated(tiers, before, chargeable, rate.rate_unit),
            Model::Volume(tiers) => charge::volume(tiers, before, chargeable, rate.rate_unit),
            Model::Package { size, price } => charge::package(*size, *price, before, chargeable),
            Model::Percentage(p) => money::percent_of(usage.quantity, *p),
            Model::PerDevice { per, price } => {
                let hash = device_hash.unwrap_or_default();
                let fresh = match per {
                    crate::tables::DevicePeriod::Day => {
                        if state.device_day != Some(date) {
                            state.device_day = Some(date);
                            state.devices_today.clear();
                        }
                        state.devices_today.insert(hash)
                    }
                    crate::tables::DevicePeriod::Month => state.devices_period.insert(hash),
                };
                if fresh { *price } else { Decimal::ZERO }
            }
        };
        state.count(rate.counter, chargeable);
        let charged = money::is_positive(chargeable) && !matches!(rate.model, Model::PerDevice { .. });
        let mut amount = usage_charge;
        if charged {
            amount = money::add(amount, rate.connect_fee);
            if let Some(min) = rate.minimum {
                amount = money::max(amount, min);
            }
        }
        if let Some(max) = rate.maximum {
            amount = money::min(amount, max);
        }
        let amount = rate.rounding.round_event(amount);
        assert!(!amount.is_sign_negative() || amount.is_zero(), "a usage charge is never negative");
        let charge = Charge { amount, service: Some(service_id), zone, rounding: rate.rounding, date };
        settle(tables, state, &charge, rec, &mut side);
        assert!(money::cmp(money::add(rec.net, rec.tax), rec.gross).is_eq(), "gross = net + tax: {rec:?}");
        assert!(money::cmp(money::sub(rec.charge, rec.discount), rec.net).is_eq(), "net = charge - discount: {rec:?}");
        assert!(rec.original_period.is_none_or(|p| p < rec.period), "a late record is booked after its period");
        Ok(())
    }

    /// Draws up to `quantity` from unit balances that cover the service and
    /// zone, by priority; returns how much they covered.
    fn draw_allowances(
        &self,
        state: &mut AccountState,
        service: u32,
        zone: Option<ZoneId>,
        quantity: Decimal,
        rec: &mut Rated,
        out: &mut Side<'_>,
    ) -> Decimal {
        let tables = self.tables;
        let unit = tables.services[service as usize].unit_id;
        let mut covered = Decimal::ZERO;
        // Balances are kept in draw order; no list is built per event.
        for at in 0..state.balances.len() {
            let b = state.balances[at];
            if b.amount.is_sign_negative() || b.amount.is_zero() {
                continue;
            }
            let def = &tables.balances[b.id as usize];
            if def.unit_id != Some(unit) || !def.covers(service, zone) {
                continue;
            }
            let take = money::min(b.amount, money::sub(quantity, covered));
            let remaining = state.add_at(at, -take);
            let name = def.name;
            rec.draws.push(Draw { balance: name, amount: take, remaining });
            covered = money::add(covered, take);
            if remaining.is_zero() && tables.thresholds.notify_exhausted {
                let action = Action {
                    account: state.id.clone(),
                    kind: ActionKind::Notify,
                    reason: ActionReason::AllowanceExhausted,
                    event_id: self.event.id.clone(),
                    time: self.event.time,
                    balance: Some(name),
                    amount: remaining,
                };
                facts::act(out, action, rec.period, rec.currency, tables.version);
            }
            if money::cmp(covered, quantity).is_eq() {
                break;
            }
        }
        assert!(money::cmp(covered, quantity).is_le(), "allowances never cover more than the rated quantity");
        covered
    }

    fn subscription(
        &self,
        state: &mut AccountState,
        action: SubscriptionAction,
        plan: Option<&str>,
        out: &mut Output,
    ) -> Result<(), Reject> {
        let tables = self.tables;
        let new_plan = match plan {
            None => None,
            Some(p) => Some(*tables.plan_ids.get(p).ok_or_else(|| {
                Reject::field(
                    RejectCode::UnknownPlan,
                    "plan",
                    format!("plan: {p:?} is not in catalog {}", tables.version),
                )
            })?),
        };
        let invalid = |state: &AccountState| {
            Reject::field(
                RejectCode::InvalidTransition,
                "action",
                format!(
                    "action: {} does not apply to account {} in status {:?}",
                    action.name(),
                    state.id,
                    state.status
                ),
            )
        };
        let allowed = match action {
            SubscriptionAction::Activate => matches!(state.status, AccountStatus::Pending | AccountStatus::Cancelled),
            SubscriptionAction::ChangePlan => matches!(state.status, AccountStatus::Active | AccountStatus::Suspended),
            SubscriptionAction::Suspend => state.status == AccountStatus::Active,
            SubscriptionAction::Resume => state.status == AccountStatus::Suspended,
            SubscriptionAction::Cancel => matches!(state.status, AccountStatus::Active | AccountStatus::Suspended),
        };
        if !allowed {
            return Err(invalid(state));
        }
        let date = self.local.date;
        if let (Some(p), SubscriptionAction::Activate | SubscriptionAction::ChangePlan) = (new_plan, action)
            && tables.plans[p as usize].version_at(date).is_none()
        {
            return Err(Reject::field(
                RejectCode::NoPlan,
                "plan",
                format!("plan: {} has no version in force on {date}", tables.plans[p as usize].id),
            ));
        }
        self.advance(state, out);
        let period = self.period(state);
        let prefix = self.event.id.clone();
        let mut rec = self.record(state, RecordKind::Subscription, step_service(action));
        let plan_name = |plan: Option<PlanId>| plan.map(|p| tables.plans[p as usize].id);
        let mut fact = self.event_fact(state);
        if let Some(f) = &mut fact {
            f.previous_plan = plan_name(state.plan);
        }
        match action {
            SubscriptionAction::Activate => {
                state.status = AccountStatus::Active;
                state.plan = new_plan;
                state.resolve(tables);
                state.plan_since = Some(date);
                rec.tariff = new_plan.map(|p| tables.plans[p as usize].id);
                out.rated.push(rec);
                out.facts.extend(fact.map(|f| Fact { plan: plan_name(state.plan), ..f }));
                period::start(tables, state, period, date, &prefix, self.event.time, out);
                return Ok(());
            }
            SubscriptionAction::ChangePlan => {
                if let Some(old) = plan_version(tables, state, date) {
                    fees(tables, state, old, period, date, Sign::Credit, &prefix, self.event.time, out);
                }
                state.plan = new_plan;
                state.resolve(tables);
                state.plan_since = Some(date);
                if let Some(new) = plan_version(tables, state, date) {
                    fees(tables, state, new, period, date, Sign::Charge, &prefix, self.event.time, out);
                }
            }
            SubscriptionAction::Suspend => state.status = AccountStatus::Suspended,
            SubscriptionAction::Resume => state.status = AccountStatus::Active,
            SubscriptionAction::Cancel => {
                // The cancellation day is paid; the days after it are credited.
                if let (Some(mut old), Some(next_day)) = (plan_version(tables, state, date).cloned(), date.succ_opt()) {
                    // A fee without proration is due whole whatever the days: nothing to credit.
                    old.recurring.retain(|fee| fee.proration != crate::tables::Proration::None);
                    if Period::of_date(next_day) == period {
                        fees(tables, state, &old, period, next_day, Sign::Credit, &prefix, self.event.time, out);
                    }
                }
                state.status = AccountStatus::Cancelled;
            }
        }
        rec.tariff = state.plan.map(|p| tables.plans[p as usize].id);
        out.rated.push(rec);
        out.facts.extend(fact.map(|f| Fact { plan: plan_name(state.plan), ..f }));
        Ok(())
    }

    fn money(&self, state: &mut AccountState, money: &Money, kind: RecordKind, out: &mut Output) -> Result<(), Reject> {
        let tables = self.tables;
        let currency = period::currency(tables, state);
        if let Some(c) = money.currency.filter(|c| *c != currency) {
            return Err(Reject::field(
                RejectCode::CurrencyMismatch,
                "currency",
                format!("currency: {c} is not the account's currency {currency}"),
            ));
        }
        let balance = match money.balance.as_deref() {
            None => MAIN_BALANCE,
            Some(name) => match tables.balance_ids.get(name) {
                Some(&id) if tables.balances[id as usize].unit.is_none() => id,
                _ => {
                    return Err(Reject::field(
                        RejectCode::UnknownBalance,
                        "balance",
                        format!("balance: {name:?} is not a money balance in catalog {}", tables.version),
                    ));
                }
            },
        };
        if kind == RecordKind::Payment && balance != MAIN_BALANCE {
            return Err(Reject::field(RejectCode::InvalidField, "balance", "balance: payments always go to main"));
        }
        self.advance(state, out);
        let mut rec = self.record(state, kind, kind_service(kind));
        let mut fact = self.event_fact(state);
        if let Some(f) = fact.as_mut().filter(|_| kind == RecordKind::Payment) {
            // What a late payment is judged by, before this one pays it off.
            f.owed = Some(state.owed);
            f.owed_due_at =
                state.owed_due.filter(|_| state.owed > Decimal::ZERO).map(|d| local_midnight_utc(state.tz, d));
        }
        rec.quantity = money.amount;
        // Money received is booked as a negative gross: it reduces what the
        // account owes.
        rec.charge = -money.amount;
        rec.net = -money.amount;
        rec.gross = -money.amount;
        let remaining = state.add(tables, balance, money.amount);
        rec.draws.push(Draw { balance: tables.balances[balance as usize].name, amount: -money.amount, remaining });
        // Any credit to main (payment, top-up, credit adjustment) pays off
        // what a closed period left owing.
        if balance == MAIN_BALANCE && money.amount > Decimal::ZERO && state.owed > Decimal::ZERO {
            state.owed -= money.amount;
            if state.owed <= Decimal::ZERO {
                state.owed = Decimal::ZERO;
                state.owed_due = None;
                if state.blocked == Some(ActionReason::Unpaid) {
                    state.blocked = None;
                    self.act(state, ActionKind::Unblock, ActionReason::Paid, out);
                }
            }
        }
        check_main(tables, state, &self.event.id, self.event.time, rec.period, &mut out.side());
        out.rated.push(rec);
        out.facts.extend(fact);
        Ok(())
    }

    fn fact(&self, state: &mut AccountState, kind: RecordKind, out: &mut Output) -> Result<(), Reject> {
        self.advance(state, out);
        self.check_unpaid(state, out);
        let rec = self.record(state, kind, kind_service(kind));
        out.rated.push(rec);
        out.facts.extend(self.event_fact(state));
        Ok(())
    }

    fn check_unpaid(&self, state: &mut AccountState, out: &mut Output) {
        if let Some(due) = state.owed_due
            && self.local.date >= due
            && state.owed > Decimal::ZERO
            && state.blocked.is_none()
        {
            state.blocked = Some(ActionReason::Unpaid);
            self.act(state, ActionKind::Block, ActionReason::Unpaid, out);
        }
    }

    /// Pushes an action on the main balance, and its fact.
    fn act(&self, state: &AccountState, kind: ActionKind, reason: ActionReason, out: &mut Output) {
        let action = Action {
            account: state.id.clone(),
            kind,
            reason,
            event_id: self.event.id.clone(),
            time: self.event.time,
            balance: Some(self.tables.balances[0].name),
            amount: state.main(),
        };
        let currency = period::currency(self.tables, state);
        facts::act(&mut out.side(), action, self.period(state), currency, self.tables.version);
    }
}

fn no_plan(state: &AccountState, why: &str) -> Reject {
    Reject::field(RejectCode::NoPlan, "account", format!("account: {} {why}", state.id))
}

fn kind_service(kind: RecordKind) -> Name {
    static NAMES: LazyLock<[Name; 7]> =
        LazyLock::new(|| ["", "payment", "topup", "adjustment", "support_contact", "block", "unblock"].map(Name::new));
    NAMES[match kind {
        RecordKind::Payment => 1,
        RecordKind::Topup => 2,
        RecordKind::Adjustment => 3,
        RecordKind::SupportContact => 4,
        RecordKind::Block => 5,
        RecordKind::Unblock => 6,
        _ => 0,
    }]
}

/// The service name of a subscription step's record: the step's name.
fn step_service(action: SubscriptionAction) -> Name {
    static NAMES: LazyLock<[Name; 5]> = LazyLock::new(|| {
        [
            SubscriptionAction::Activate,
            SubscriptionAction::ChangePlan,
            SubscriptionAction::Suspend,
            SubscriptionAction::Resume,
            SubscriptionAction::Cancel,
        ]
        .map(|a| Name::new(a.name()))
    });
    NAMES[action as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_service_names_follow_the_kinds() {
        let steps = [
            SubscriptionAction::Activate,
            SubscriptionAction::ChangePlan,
            SubscriptionAction::Suspend,
            SubscriptionAction::Resume,
            SubscriptionAction::Cancel,
        ];
        for step in steps {
            assert_eq!(step_service(step), step.name());
        }
        let kinds = [
            (RecordKind::Payment, "payment"),
            (RecordKind::Topup, "topup"),
            (RecordKind::Adjustment, "adjustment"),
            (RecordKind::SupportContact, "support_contact"),
            (RecordKind::Block, "block"),
            (RecordKind::Unblock, "unblock"),
            (RecordKind::Usage, ""),
        ];
        for (kind, name) in kinds {
            assert_eq!(kind_service(kind), name);
        }
    }
}
