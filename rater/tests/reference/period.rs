//! Periods: calendar months on the account's clock, opened lazily by the
//! first event in them. Opening grants allowances; closing expires what
//! does not roll over.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use ratewire_rater::time::Period;
use ratewire_rater::{Draw, Name, Rated, RecordKind};
use rust_decimal::Decimal;

use super::tariff::{self, text};
use super::{Rater, State, Status};

impl Rater<'_> {
    /// Brings the open period up to the one holding `date`: closes each
    /// period left behind and opens each one entered.
    pub(super) fn advance(&self, state: &mut State, date: NaiveDate) -> Vec<Rated> {
        let target = Period::new(date.year(), date.month());
        let mut out = Vec::new();
        let Some(mut open) = state.period else {
            state.period = Some(target);
            self.open(state, target, &mut out);
            return out;
        };
        while open < target {
            self.close(state, open, &mut out);
            open = open.next();
            state.period = Some(open);
            self.open(state, open, &mut out);
        }
        out
    }

    /// Opens a period: fresh counters; grants of the plan version in force
    /// on its first day, for active and suspended accounts.
    fn open(&self, state: &mut State, period: Period, out: &mut Vec<Rated>) {
        state.counters.clear();
        if !matches!(state.account.status, Status::Active | Status::Suspended) {
            return;
        }
        let Some(plan_name) = state.account.plan.clone() else { return };
        let Some(plan) = tariff::plan(self.cat, &plan_name) else { return };
        let Some(version) = tariff::version_at(plan, period.first_day()) else { return };
        let time = local_midnight(state.account.tz, period.first_day());
        for g in &version.grants {
            let name = text(&g.balance);
            let amount = tariff::amount(&g.amount);
            let remaining = state.add(name, amount);
            let id = format!("{}/{period}/grant/{name}", state.account.id);
            let mut rec = self.record(state, id, RecordKind::Grant, name, time, period);
            rec.quantity = amount;
            rec.tariff = Some(Name::from(tariff::tariff_id(&plan_name, version)));
            rec.draws.push(Draw { balance: Name::from(name), amount: -amount, remaining });
            out.push(rec);
        }
    }

    /// Closes a period: expiring balances lose what does not roll over, in
    /// draw order (priority, then name).
    fn close(&self, state: &mut State, period: Period, out: &mut Vec<Rated>) {
        let time = local_midnight(state.account.tz, period.next().first_day());
        let mut balances = state.balances.clone();
        balances.sort_by_cached_key(|(name, _)| {
            (tariff::balance(self.cat, name).map_or(u32::MAX, |d| d.priority), name.clone())
        });
        for (name, amount) in balances {
            let def = tariff::balance(self.cat, &name).expect("known balance");
            if !def.expires || amount <= Decimal::ZERO {
                continue;
            }
            let keep = def.rollover_max.map_or(Decimal::ZERO, |max| max.min(amount));
            let expired = amount - keep;
            if expired.is_zero() {
                continue;
            }
            let remaining = state.add(&name, -expired);
            let id = format!("{}/{period}/expiry/{name}", state.account.id);
            let mut rec = self.record(state, id, RecordKind::Expiry, &name, time, period);
            rec.quantity = expired;
            rec.draws.push(Draw { balance: Name::from(name.as_str()), amount: expired, remaining });
            out.push(rec);
        }
    }
}

/// When a local date begins in `tz`.
fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    (0..3)
        .find_map(|h| tz.from_local_datetime(&date.and_hms_opt(h, 0, 0).expect("valid time")).earliest())
        .expect("a local midnight")
        .with_timezone(&Utc)
}
