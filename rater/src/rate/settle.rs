//! From a charge to a booked amount: discounts, partner share, tax, money
//! draws and thresholds. Shared by usage and recurring fees.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::account::AccountState;
use crate::money::{Rounding, percent_of};
use crate::record::{Action, ActionKind, ActionReason, Draw, Output, Rated};
use crate::tables::{BalanceId, DiscountOff, MAIN_BALANCE, ServiceId, Tables, ZoneId, in_window};

/// What is being settled.
pub(crate) struct Charge {
    /// The charge before discounts, already rounded as the rate says.
    pub amount: Decimal,
    /// The service, `None` for recurring fees.
    pub service: Option<ServiceId>,
    /// The zone, for balances restricted to zones.
    pub zone: Option<ZoneId>,
    /// The rate's rounding.
    pub rounding: Rounding,
    /// Local date, for validity windows.
    pub date: NaiveDate,
}

/// Fills the money columns of `rec` from `charge` and draws the gross from
/// the account's money balances.
pub(crate) fn settle(tables: &Tables, state: &mut AccountState, charge: &Charge, rec: &mut Rated, out: &mut Output) {
    rec.charge = charge.amount;
    let (discount, applied) = discounts(tables, state, charge);
    rec.discount = discount;
    rec.discounts = applied;
    rec.net = charge.amount - discount;
    assert!(discount >= Decimal::ZERO && discount <= charge.amount.max(Decimal::ZERO), "discount within the charge");

    if let Some(partner) = state.partner.as_deref().and_then(|p| tables.partners.get(p)) {
        if charge.service.is_none_or(|s| partner.services.as_ref().is_none_or(|list| list.contains(&s))) {
            rec.partner = Some(partner.id.clone());
            rec.partner_share = charge.rounding.round_event(percent_of(rec.net, partner.share_percent));
        }
    }
    if let Some(tax) = state.tax_region.as_deref().and_then(|r| tables.taxes.get(r)) {
        if charge.service.is_none_or(|s| !tax.exempt.contains(&s)) {
            rec.tax = charge.rounding.round_event(percent_of(rec.net, tax.rate_percent));
        }
    }
    rec.gross = rec.net + rec.tax;
    draw_money(tables, state, rec.gross, charge.service, charge.zone, rec);
    check_main(tables, state, &rec.event_id, rec.event_time, out);
}

/// Discounts in catalog order, each on what the previous left.
fn discounts(tables: &Tables, state: &mut AccountState, charge: &Charge) -> (Decimal, Vec<Arc<str>>) {
    let mut left = charge.amount;
    let mut applied = Vec::new();
    if left <= Decimal::ZERO {
        return (Decimal::ZERO, applied);
    }
    for (i, d) in tables.discounts.iter().enumerate() {
        let matches = match charge.service {
            Some(s) => d.services.as_ref().is_none_or(|list| list.contains(&s)),
            None => d.recurring,
        } && d.plans.as_ref().is_none_or(|p| state.plan.is_some_and(|plan| p.contains(&plan)))
            && d.segments.as_ref().is_none_or(|s| state.segment.as_ref().is_some_and(|seg| s.contains(seg)))
            && d.accounts.as_ref().is_none_or(|a| a.iter().any(|id| **id == *state.id))
            && in_window(charge.date, d.valid_from, d.valid_to);
        if !matches || left.is_zero() {
            continue;
        }
        let off = match d.off {
            DiscountOff::Percent(p) => charge.rounding.round_event(percent_of(left, p)),
            DiscountOff::FixedPerPeriod(budget) => {
                let key = u32::try_from(i).unwrap_or(u32::MAX);
                let used = state.fixed_used.iter().find(|(k, _)| *k == key).map_or(Decimal::ZERO, |(_, u)| *u);
                let off = (budget - used).min(left).max(Decimal::ZERO);
                match state.fixed_used.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, u)) => *u += off,
                    None => state.fixed_used.push((key, off)),
                }
                off
            }
        };
        if off > Decimal::ZERO {
            left -= off;
            applied.push(d.id.clone());
        }
    }
    (charge.amount - left, applied)
}

/// Draws `gross` from money balances that cover the service, by priority,
/// the rest from `main` (which may go negative). A negative gross (a
/// credit) goes to `main`.
fn draw_money(
    tables: &Tables,
    state: &mut AccountState,
    gross: Decimal,
    service: Option<ServiceId>,
    zone: Option<ZoneId>,
    rec: &mut Rated,
) {
    if gross.is_zero() {
        return;
    }
    let mut left = gross;
    let mut drawn = Decimal::ZERO;
    if gross > Decimal::ZERO {
        for (id, amount) in money_balances(tables, state, service, zone) {
            let take = amount.min(left);
            let remaining = state.add(id, -take);
            rec.draws.push(Draw { balance: tables.balances[id as usize].name.clone(), amount: take, remaining });
            left -= take;
            drawn += take;
            if left.is_zero() {
                break;
            }
        }
    }
    if !left.is_zero() {
        let remaining = state.add(MAIN_BALANCE, -left);
        rec.draws.push(Draw { balance: tables.balances[0].name.clone(), amount: left, remaining });
        drawn += left;
    }
    assert_eq!(drawn, gross, "money draws add up to the gross amount");
}

/// Non-main money balances with something left that may pay, by priority.
fn money_balances(
    tables: &Tables,
    state: &AccountState,
    service: Option<ServiceId>,
    zone: Option<ZoneId>,
) -> Vec<(BalanceId, Decimal)> {
    let mut list: Vec<(BalanceId, Decimal)> = state
        .balances
        .iter()
        .filter(|(id, amount)| {
            let def = &tables.balances[*id as usize];
            *id != MAIN_BALANCE
                && def.unit.is_none()
                && *amount > Decimal::ZERO
                && service.is_none_or(|s| def.covers(s, zone))
                && (service.is_some() || def.services.is_none())
        })
        .copied()
        .collect();
    list.sort_by_key(|(id, _)| (tables.balances[*id as usize].priority, *id));
    list
}

/// Emits low-balance and credit-limit actions after the main balance moved.
pub(crate) fn check_main(tables: &Tables, state: &mut AccountState, event_id: &str, time: DateTime<Utc>, out: &mut Output) {
    let main = state.main();
    let mut act = |kind, reason| {
        out.actions.push(Action {
            account: state.id.clone(),
            kind,
            reason,
            event_id: event_id.to_string(),
            time,
            balance: Some(tables.balances[0].name.clone()),
            amount: main,
        });
    };
    if let Some(low) = tables.thresholds.low_balance {
        // Notify once per crossing: only when this event took it below.
        let before = state.low_notified;
        if main < low && !before {
            act(ActionKind::Notify, ActionReason::LowBalance);
        }
        state.low_notified = main < low;
    }
    if tables.thresholds.block_over_credit_limit {
        let over = main < -state.credit_limit;
        match state.blocked {
            None if over => {
                act(ActionKind::Block, ActionReason::CreditLimit);
                state.blocked = Some(ActionReason::CreditLimit);
            }
            Some(ActionReason::CreditLimit) if !over => {
                act(ActionKind::Unblock, ActionReason::BackWithinLimit);
                state.blocked = None;
            }
            _ => {}
        }
    }
}
