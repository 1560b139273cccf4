//! From a charge to a booked amount: discounts, partner share, tax, money
//! draws and thresholds. Shared by usage and recurring fees.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::account::AccountState;
use super::facts;
use super::period::currency;
use crate::money::{self, Rounding};
use crate::record::{Action, ActionKind, ActionReason, Applied, Draw, EventId, Rated, Side};
use crate::tables::{DiscountOff, MAIN_BALANCE, ServiceId, Tables, ZoneId, in_window};
use crate::time::Period;

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
pub(crate) fn settle(tables: &Tables, state: &mut AccountState, charge: &Charge, rec: &mut Rated, out: &mut Side<'_>) {
    rec.charge = charge.amount;
    let (discount, applied) = discounts(tables, state, charge);
    rec.discount = discount;
    rec.discounts = applied;
    rec.net = money::sub(charge.amount, discount);
    assert!(
        money::cmp(discount.abs(), charge.amount.abs()).is_le()
            && (discount.is_zero() || discount.is_sign_negative() == charge.amount.is_sign_negative()),
        "discount within the charge, of its sign"
    );

    if let Some(partner) = state.partner_idx.map(|p| &tables.partners[p as usize]) {
        // A partner limited to some services shares their usage only; one
        // with no list shares recurring fees too.
        let shares = match (charge.service, &partner.services) {
            (_, None) => true,
            (Some(s), Some(list)) => list.contains(&s),
            (None, Some(_)) => false,
        };
        if shares {
            rec.partner = Some(partner.id);
            rec.partner_share = charge.rounding.round_event(money::mul(rec.net, partner.share_factor));
        }
    }
    if let Some(tax) = state.tax_idx.map(|t| &tables.taxes[t as usize])
        && charge.service.is_none_or(|s| !tax.exempt.contains(&s))
    {
        rec.tax = charge.rounding.round_event(money::mul(rec.net, tax.rate_factor));
    }
    rec.gross = money::add(rec.net, rec.tax);
    if !rec.gross.is_zero() {
        draw_money(tables, state, rec.gross, charge.service, charge.zone, rec);
        check_main(tables, state, &rec.event_id, rec.event_time, rec.period, out);
    }
}

/// Discounts in catalog order, each on what the previous left. A credit (a
/// negative fee, when a plan is changed or cancelled) takes the percentage
/// discounts that the fee would, as a negative discount, so that it gives
/// back what was paid for the days credited and no more; fixed budgets are
/// not refilled by credits.
fn discounts(tables: &Tables, state: &mut AccountState, charge: &Charge) -> (Decimal, Applied) {
    let mut left = charge.amount;
    let mut applied = Applied::new();
    if left.is_zero() {
        return (Decimal::ZERO, applied);
    }
    let credit = left.is_sign_negative() && !left.is_zero();
    // Only the discounts resolved for the account (plan, segment, account
    // filters) are looked at; service and dates are checked here.
    for i in 0..state.discounts.len() {
        let key = state.discounts[i];
        let d = &tables.discounts[key as usize];
        let matches = match charge.service {
            Some(s) => d.services.as_ref().is_none_or(|list| list.contains(&s)),
            None => d.recurring,
        } && in_window(charge.date, d.valid_from, d.valid_to);
        if !matches || left.is_zero() {
            continue;
        }
        let off = match d.off {
            DiscountOff::Percent(factor) => charge.rounding.round_event(money::mul(left, factor)),
            DiscountOff::FixedPerPeriod(_) if credit => Decimal::ZERO,
            DiscountOff::FixedPerPeriod(budget) => {
                let used = state.fixed_used.iter().find(|(k, _)| *k == key).map_or(Decimal::ZERO, |(_, u)| *u);
                let off = (budget - used).min(left).max(Decimal::ZERO);
                match state.fixed_used.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, u)) => *u += off,
                    None => state.fixed_used.push((key, off)),
                }
                off
            }
        };
        if !off.is_zero() {
            left = money::sub(left, off);
            applied.push(d.id);
        }
    }
    (money::sub(charge.amount, left), applied)
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
    if gross.is_sign_positive() {
        // Balances are kept in draw order; no list is built per event.
        for at in 0..state.balances.len() {
            let b = state.balances[at];
            let def = &tables.balances[b.id as usize];
            let pays = def.unit_id.is_none()
                && b.amount.is_sign_positive()
                && !b.amount.is_zero()
                && match service {
                    Some(s) => def.covers(s, zone),
                    None => def.services.is_none(),
                };
            if !pays {
                continue;
            }
            let take = money::min(b.amount, left);
            let remaining = state.add_at(at, -take);
            rec.draws.push(Draw { balance: def.name, amount: take, remaining });
            left = money::sub(left, take);
            drawn = money::add(drawn, take);
            if left.is_zero() {
                break;
            }
        }
    }
    if !left.is_zero() {
        state.main = money::sub(state.main, left);
        rec.draws.push(Draw {
            balance: tables.balances[MAIN_BALANCE as usize].name,
            amount: left,
            remaining: state.main,
        });
        drawn = money::add(drawn, left);
    }
    assert!(money::cmp(drawn, gross).is_eq(), "money draws add up to the gross amount: {drawn} != {gross}");
}

/// Emits low-balance and credit-limit actions (and their facts, booked in
/// `period`) after the main balance moved.
pub(crate) fn check_main(
    tables: &Tables,
    state: &mut AccountState,
    event_id: &EventId,
    time: DateTime<Utc>,
    period: Period,
    out: &mut Side<'_>,
) {
    let main = state.main();
    let currency = currency(tables, state);
    let mut act = |kind, reason| {
        let action = Action {
            account: state.id.clone(),
            kind,
            reason,
            event_id: event_id.clone(),
            time,
            balance: Some(tables.balances[0].name),
            amount: main,
        };
        facts::act(out, action, period, currency, tables.version);
    };
    if let Some(low) = tables.thresholds.low_balance {
        // Notify once per crossing: only when this event took it below.
        let below = money::cmp(main, low).is_lt();
        if below && !state.low_notified {
            act(ActionKind::Notify, ActionReason::LowBalance);
        }
        state.low_notified = below;
    }
    if tables.thresholds.block_over_credit_limit {
        let over = money::cmp(main, -state.credit_limit).is_lt();
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::{Accounts, Output, Rater, RaterConfig, catalog, decode};

    #[test]
    fn credits_take_percentage_discounts_too() {
        let tables = catalog::parse(
            r#"
            version = "t"
            currency = "EUR"
            [services.voice]
            unit = "second"
            [[discounts]]
            id = "half"
            percent = 50
            recurring = true
            [[plans.p.versions]]
            effective_from = 2026-01-01
            [[plans.p.versions.recurring]]
            id = "base"
            amount = "10.00"
            "#,
            "catalog.toml",
        )
        .unwrap();
        let accounts = Accounts::parse_csv("id,plan,activated\nA1,p,2026-01-01\n", "accounts.csv").unwrap();
        let mut rater = Rater::new(Arc::new(tables), Arc::new(accounts), RaterConfig::default());
        let cancel = decode(
            br#"{"v":1,"id":"c","kind":"subscription","account":"A1","time":"2026-11-15T12:00:00Z","action":"cancel"}"#,
        )
        .unwrap();
        let mut out = Output::default();
        rater.rate(&cancel, cancel.time, &mut out);
        // The month's fee 10.00 less half is 5.00; the credit for 15 of 30
        // days, -5.00, less half is -2.50: half of what was paid comes back.
        let amounts: Vec<String> = out.rated.iter().map(|r| format!("{} {} {}", r.charge, r.discount, r.net)).collect();
        assert_eq!(amounts, ["10.00 5.00 5.00", "-5.00 -2.50 -2.50", "0 0 0"]);
        assert_eq!(rater.state("A1").unwrap().main().to_string(), "-2.50");
    }
}
