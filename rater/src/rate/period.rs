//! Period boundaries: opening a period (allowance grants, recurring fees,
//! fresh counters), closing one (expiry, rollover, what is left owing), and
//! prorated fees on plan changes.
//!
//! Periods advance lazily: the first event of an account that falls in a
//! later period closes the open one and opens the next, catching up over
//! months in which the account had no events.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use smol_str::format_smolstr;

use super::account::AccountState;
use super::facts;
use super::settle::{Charge, settle};
use crate::accounts::AccountStatus;
use crate::money::Currency;
use crate::name::Name;
use crate::record::{Action, ActionKind, ActionReason, Applied, Draw, Draws, EventId, Output, Rated, RecordKind};
use crate::tables::{PlanVersion, Proration, Tables};
use crate::time::{Period, days_left_in_month, local_midnight_utc};

/// The most periods one event catches up on; an account silent for longer
/// opens the event's period directly, without fees for the gap.
pub const PERIODS_CATCH_UP_MAX: usize = 24;

/// Brings the account's open period up to the one containing `date`, and
/// past `closed`, the latest period closed in the ledger.
/// A late event (an earlier period) changes nothing: it is booked in the
/// open period.
///
/// Records this generates for a closed period (the expiry that closes it,
/// the grants and fees of a closed period caught up on) are booked in the
/// open period and name theirs in [`Rated::original_period`]; so are the
/// facts, which have no such column. An account first seen in a closed
/// period opens the one after it directly: nothing is generated for closed
/// periods it was never open in.
pub(crate) fn advance(
    tables: &Tables,
    state: &mut AccountState,
    date: NaiveDate,
    closed: Option<Period>,
    out: &mut Output,
) {
    let target = closed.map_or(Period::of_date(date), |c| Period::of_date(date).max(c.next()));
    let (rated_from, facts_from) = (out.rated.len(), out.facts.len());
    let Some(mut open) = state.period else {
        state.period = Some(target);
        let time = local_midnight_utc(state.tz, target.first_day());
        start(tables, state, target, target.first_day(), &format!("{}/{target}", state.id), time, out);
        return;
    };
    let mut steps = 0;
    while open < target {
        close(tables, state, open, out);
        open = if steps < PERIODS_CATCH_UP_MAX { open.next() } else { target };
        steps += 1;
        state.period = Some(open);
        let time = local_midnight_utc(state.tz, open.first_day());
        start(tables, state, open, open.first_day(), &format!("{}/{open}", state.id), time, out);
    }
    let Some(closed) = closed else { return };
    for rec in out.rated[rated_from..].iter_mut().filter(|r| r.period <= closed) {
        rec.original_period = Some(rec.period);
        rec.period = open;
    }
    for fact in out.facts[facts_from..].iter_mut().filter(|f| f.period <= closed) {
        fact.period = open;
    }
    assert!(open > closed, "an account's open period is never a closed one");
}

/// Opens `period` for an account: fresh counters, and for an active plan
/// its grants and its recurring fees from `from` (prorated when later than
/// the first day). Generated records get ids under `id_prefix` and `time`.
pub(crate) fn start(
    tables: &Tables,
    state: &mut AccountState,
    period: Period,
    from: NaiveDate,
    id_prefix: &str,
    time: DateTime<Utc>,
    out: &mut Output,
) {
    state.counters.clear();
    state.fixed_used.clear();
    state.devices_period.clear();
    if !matches!(state.status, AccountStatus::Active | AccountStatus::Suspended) {
        return;
    }
    let from = state.plan_since.map_or(from, |since| since.max(from));
    if Period::of_date(from) != period {
        return;
    }
    let Some(version) = plan_version(tables, state, from) else { return };
    for &(balance, amount) in &version.grants {
        let remaining = state.add(tables, balance, amount);
        let name = tables.balances[balance as usize].name;
        let mut rec = generated(
            tables,
            state,
            format_smolstr!("{id_prefix}/grant/{name}"),
            RecordKind::Grant,
            name,
            time,
            period,
        );
        rec.quantity = amount;
        rec.tariff = Some(version.tariff_id);
        rec.draws.push(Draw { balance: name, amount: -amount, remaining });
        out.rated.push(rec);
    }
    fees(tables, state, version, period, from, Sign::Charge, id_prefix, time, out);
}

/// Closes `period`: expiring balances lose what does not roll over, and a
/// negative main balance becomes an amount owed with a due date.
fn close(tables: &Tables, state: &mut AccountState, period: Period, out: &mut Output) {
    let time = local_midnight_utc(state.tz, period.next().first_day());
    for at in 0..state.balances.len() {
        let crate::rate::account::Balance { id, amount, .. } = state.balances[at];
        let def = &tables.balances[id as usize];
        if !def.expires || amount <= Decimal::ZERO {
            continue;
        }
        let keep = def.rollover_max.map_or(Decimal::ZERO, |max| max.min(amount));
        let expired = amount - keep;
        if expired.is_zero() {
            continue;
        }
        let remaining = state.add_at(at, -expired);
        let mut rec = generated(
            tables,
            state,
            format_smolstr!("{}/{period}/expiry/{}", state.id, def.name),
            RecordKind::Expiry,
            def.name,
            time,
            period,
        );
        rec.quantity = expired;
        rec.draws.push(Draw { balance: def.name, amount: expired, remaining });
        out.rated.push(rec);
    }
    if let Some(days) = tables.thresholds.unpaid_block_after_days {
        if state.main() < Decimal::ZERO {
            // Debt carried from an earlier period keeps its earlier due date.
            if state.owed.is_zero() {
                state.owed_due = period.next().first_day().checked_add_days(chrono::Days::new(u64::from(days)));
            }
            state.owed = -state.main();
        } else {
            state.owed = Decimal::ZERO;
            state.owed_due = None;
            if state.blocked == Some(ActionReason::Unpaid) {
                state.blocked = None;
                let action = Action {
                    account: state.id.clone(),
                    kind: ActionKind::Unblock,
                    reason: ActionReason::Paid,
                    event_id: format_smolstr!("{}/{period}/close", state.id),
                    time,
                    balance: Some(tables.balances[0].name),
                    amount: state.main(),
                };
                // Booked with the period it opens, in which its time lies.
                facts::act(&mut out.side(), action, period.next(), currency(tables, state), tables.version);
            }
        }
    }
}

/// Whether a prorated fee is charged or credited back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sign {
    /// Charge from `from` to the end of the month.
    Charge,
    /// Credit from `from` to the end of the month.
    Credit,
}

/// Books `version`'s recurring fees for the days from `from` to the end of
/// `period` (the whole fee from the first day or without proration).
#[allow(clippy::too_many_arguments)]
pub(crate) fn fees(
    tables: &Tables,
    state: &mut AccountState,
    version: &PlanVersion,
    period: Period,
    from: NaiveDate,
    sign: Sign,
    id_prefix: &str,
    time: DateTime<Utc>,
    out: &mut Output,
) {
    let days_total = Decimal::from(period.days());
    let days = Decimal::from(days_left_in_month(from));
    for fee in &version.recurring {
        let whole = fee.proration == Proration::None || days == days_total;
        let amount = if whole { fee.amount } else { fee.rounding.round_event(fee.amount * days / days_total) };
        if amount.is_zero() && !whole {
            continue;
        }
        let amount = match sign {
            Sign::Charge => amount,
            Sign::Credit => -amount,
        };
        let suffix = if sign == Sign::Credit { "credit" } else { "fee" };
        let mut rec = generated(
            tables,
            state,
            format_smolstr!("{id_prefix}/{suffix}/{}", fee.id),
            RecordKind::Recurring,
            fee.id,
            time,
            period,
        );
        rec.quantity = days;
        rec.rated_quantity = if whole { days_total } else { days };
        rec.tariff = Some(version.tariff_id);
        let charge = Charge { amount, service: None, zone: None, rounding: fee.rounding, date: from };
        settle(tables, state, &charge, &mut rec, &mut out.side());
        out.rated.push(rec);
    }
}

/// The version of the account's plan in force on `date`.
pub(crate) fn plan_version<'t>(tables: &'t Tables, state: &AccountState, date: NaiveDate) -> Option<&'t PlanVersion> {
    tables.plans.get(state.plan? as usize)?.version_at(date)
}

/// The currency of an account's records.
pub(crate) fn currency(tables: &Tables, state: &AccountState) -> Currency {
    state
        .currency
        .or_else(|| state.plan.and_then(|p| tables.plans.get(p as usize)).map(|p| p.currency))
        .unwrap_or(tables.currency)
}

/// An empty record for an account, with every amount zero.
pub(crate) fn generated(
    tables: &Tables,
    state: &AccountState,
    event_id: EventId,
    kind: RecordKind,
    service: Name,
    time: DateTime<Utc>,
    period: Period,
) -> Rated {
    Rated {
        event_id,
        kind,
        account: state.id.clone(),
        service,
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
        currency: currency(tables, state),
        tariff: None,
        discounts: Applied::new(),
        partner: None,
        partner_share: Decimal::ZERO,
        catalog_version: tables.version,
        draws: Draws::new(),
    }
}
