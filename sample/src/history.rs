//! A history of several months with churners, for the churn models.
//!
//! The operator and its accounts are those of [`World`]; the events span
//! `months` calendar months from `first`, in time order. Every account
//! uses its service (data for phone lines, reports for fleets, calls for
//! API customers), pays its bills or tops up, and now and then calls
//! support. Some accounts cancel. Most of those drift away first, over one
//! to two and a half months: their usage falls, payments stop or come late,
//! top-ups stop, they call support (often about cancelling), and some are
//! blocked before the `cancel`. A quarter leave without warning, and some
//! loyal accounts go through a quiet spell, so no signal is certain.
//!
//! The same seed and sizes give the same bytes; the one-month stream of
//! [`crate::events`] is not changed by this module.

use chrono::{DateTime, Days, NaiveDate, Utc};

use crate::rng::Rng;
use crate::world::{Month, PlanKind, Status, World};

/// The random stream of histories (after the world's own streams).
const STREAM: u64 = 5;

/// Months of one history at most.
pub const MONTHS_MAX: u32 = 24;

/// Accounts of one history at most (its events are held in memory).
pub const ACCOUNTS_MAX: usize = 200_000;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct HistoryConfig {
    /// The seed.
    pub seed: u64,
    /// Accounts.
    pub accounts: usize,
    /// The first month of events.
    pub first: Month,
    /// Months of events.
    pub months: u32,
    /// The chance that an account at risk cancels in a given month, in
    /// percent (low-risk accounts cancel a fifth as often).
    pub monthly_churn_percent: u32,
}

impl Default for HistoryConfig {
    /// 2,000 accounts over six months from June 2026, seed 7.
    fn default() -> Self {
        Self { seed: 7, accounts: 2_000, first: Month { year: 2026, month: 6 }, months: 6, monthly_churn_percent: 6 }
    }
}

/// A generated history.
#[derive(Debug, Clone)]
pub struct History {
    /// The operator.
    pub world: World,
    /// `events.jsonl`, one line each, in time order.
    pub events: Vec<String>,
    /// The accounts that cancel, with the UTC date of the cancel.
    pub cancelled: Vec<(String, NaiveDate)>,
}

/// One account's plan for the history.
struct Life {
    /// Usage events per 100 days at full activity.
    rate_per_100_days: u64,
    /// The day (from the start) it cancels, if it does.
    cancel_day: Option<u64>,
    /// Days of drifting away before the cancel (0: leaves without warning).
    drift_days: u64,
    /// A loyal account's quiet spell: (first day, days).
    quiet: Option<(u64, u64)>,
}

const DAY_MS: i64 = 86_400_000;

impl History {
    /// Generates the history (sizes clamped to [`ACCOUNTS_MAX`] and
    /// [`MONTHS_MAX`]).
    #[must_use]
    pub fn generate(config: &HistoryConfig) -> Self {
        let world = World::new(config.seed, config.accounts.min(ACCOUNTS_MAX), config.first);
        let months = config.months.clamp(1, MONTHS_MAX);
        let start = config.first.first_day();
        let mut end = config.first;
        for _ in 1..months {
            end = Month::parse(&end.next_first_day().format("%Y-%m").to_string()).unwrap_or(end);
        }
        let days = u64::try_from((end.next_first_day() - start).num_days()).unwrap_or(30);
        let start_ms = start.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().timestamp_millis();
        let mut rng = Rng::new(config.seed, STREAM);
        // (time, account, body): ids are given once sorted.
        let mut events: Vec<(i64, usize, String)> = Vec::new();
        let mut cancelled = Vec::new();
        for (index, account) in world.accounts.iter().enumerate() {
            let Some(plan) = account.plan else { continue };
            if account.status != Status::Active {
                continue;
            }
            let life = life(&mut rng, config, account.large, plan, account.segment, days);
            let at = |day: u64, rng: &mut Rng| -> i64 {
                // Between 07:00 and 21:00 UTC of the day.
                let day = i64::try_from(day).unwrap_or(0);
                start_ms + day * DAY_MS + 7 * 3_600_000 + i64::try_from(rng.below(14 * 3_600_000)).unwrap_or(0)
            };
            let last_day = life.cancel_day.unwrap_or(days);
            let drift_from = last_day.saturating_sub(life.drift_days);
            // Payments (postpaid) on a day of each month; top-ups (prepaid) every two to three weeks.
            let pay_day = 3 + rng.below(10);
            let mut next_topup = rng.below(14);
            for day in 0..last_day {
                let drifting = life.drift_days > 0 && day >= drift_from;
                let quiet = life.quiet.is_some_and(|(from, span)| (from..from + span).contains(&day));
                // Activity in percent: falls to a fifth over the drift.
                let activity = if drifting {
                    100 - 80 * (day - drift_from) / life.drift_days.max(1)
                } else if quiet {
                    45
                } else {
                    100
                };
                let expected = life.rate_per_100_days * activity / 100;
                let mut count = expected / 100;
                if rng.below(100) < expected % 100 {
                    count += 1;
                }
                for _ in 0..count {
                    let t = at(day, &mut rng);
                    events.push((t, index, usage(&mut rng, &account.id, plan)));
                }
                let day_of_month = (start + Days::new(day)).format("%d").to_string().parse::<u64>().unwrap_or(1);
                if plan.prepaid() {
                    if day >= next_topup {
                        next_topup = day + 14 + rng.below(8);
                        // Drifting accounts stop topping up; quiet ones top up less.
                        if !(drifting && rng.percent(85) || quiet && rng.percent(50)) {
                            let amount = rng.pick(&[10, 15, 20, 25, 30]);
                            let t = at(day, &mut rng);
                            events.push((t, index, format!(r#""kind":"topup","amount":"{amount}.00""#)));
                        }
                    }
                } else if day_of_month == pay_day {
                    // Drifting accounts mostly stop paying; a few others pay late now and then.
                    let skip = if drifting { rng.percent(75) } else { rng.percent(3) };
                    let late = if drifting || quiet { rng.below(20) } else { 0 };
                    if !skip && day + late < last_day {
                        let t = at(day + late, &mut rng);
                        let amount = format!("{}.{:02}", 15 + rng.below(120), rng.below(100));
                        events.push((t, index, format!(r#""kind":"payment","amount":"{amount}","currency":"EUR""#)));
                    }
                }
                let contact_per_mille = if drifting {
                    25
                } else if quiet {
                    8
                } else {
                    3
                };
                if rng.below(1000) < contact_per_mille {
                    let reason = if drifting && rng.percent(60) {
                        "cancellation intent"
                    } else {
                        *rng.pick(&["billing question", "coverage", "roaming", "cancellation intent"])
                    };
                    let channel = rng.pick(&["phone", "chat", "mail", "shop"]);
                    let t = at(day, &mut rng);
                    events.push((
                        t,
                        index,
                        format!(r#""kind":"support_contact","channel":"{channel}","reason":"{reason}""#),
                    ));
                }
                let block_per_mille = if drifting { 6 } else { 1 };
                // The unblock comes within six days, before any cancel.
                if !account.large && day + 6 < last_day && rng.below(1000) < block_per_mille {
                    let t = at(day, &mut rng);
                    events.push((t, index, r#""kind":"block","reason":"payment overdue""#.to_string()));
                    let t = t + DAY_MS * i64::try_from(1 + rng.below(5)).unwrap_or(1);
                    events.push((t, index, r#""kind":"unblock","reason":"paid""#.to_string()));
                }
            }
            if let Some(day) = life.cancel_day {
                let t = at(day, &mut rng);
                events.push((t, index, r#""kind":"subscription","action":"cancel""#.to_string()));
                let date = DateTime::from_timestamp_millis(t).map_or(start, |d: DateTime<Utc>| d.date_naive());
                cancelled.push((account.id.clone(), date));
            }
        }
        // Events of one account at one instant keep their order of making.
        events.sort_by_key(|(t, account, _)| (*t, *account));
        let lines = events
            .into_iter()
            .enumerate()
            .map(|(i, (t, account, body))| {
                let time = DateTime::from_timestamp_millis(t).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S%.3fZ");
                format!(
                    r#"{{"v":1,"id":"h{}-{:09}","account":"{}","time":"{time}",{body}}}"#,
                    config.seed,
                    i + 1,
                    world.accounts[account].id
                )
            })
            .collect();
        Self { world, events: lines, cancelled }
    }
}

/// Draws an account's life: how busy it is, whether and when it cancels.
fn life(rng: &mut Rng, config: &HistoryConfig, large: bool, plan: PlanKind, segment: &str, days: u64) -> Life {
    let rate_per_100_days = match plan {
        PlanKind::IotFleet | PlanKind::SaasApi => 150 + rng.below(250),
        _ => 40 + rng.below(160),
    };
    // Prepaid, new and consumer lines are at risk; loyal, business and
    // large accounts cancel a fifth as often.
    let at_risk = !large && (plan.prepaid() || segment == "new" || segment == "consumer");
    let monthly = u64::from(config.monthly_churn_percent) * if at_risk { 5 } else { 1 };
    let mut cancel_day = None;
    let months = days / 30;
    for month in 0..months {
        // Parts per 500: `monthly` is percent times five.
        if !large && rng.below(500) < monthly {
            // Not in the first month: every account has some history.
            let day = (month * 30 + rng.below(30)).max(30);
            if day < days {
                cancel_day = Some(day);
            }
            break;
        }
    }
    let drift_days = if cancel_day.is_some() && rng.percent(75) { 30 + rng.below(46) } else { 0 };
    let quiet = (cancel_day.is_none() && rng.percent(6)).then(|| (rng.below(days.max(1)), 20 + rng.below(40)));
    Life { rate_per_100_days, cancel_day, drift_days, quiet }
}

/// A usage event's body for an account of `plan`.
fn usage(rng: &mut Rng, account: &str, plan: PlanKind) -> String {
    match plan {
        PlanKind::IotFleet => {
            format!(
                r#""kind":"usage","service":"telematics","quantity":{},"device":"{account}-d000""#,
                rng.range(1, 12)
            )
        }
        PlanKind::SaasApi => format!(r#""kind":"usage","service":"api","quantity":{}"#, rng.range(1, 200)),
        _ => {
            format!(r#""kind":"usage","service":"data","quantity":{},"apn":"internet""#, rng.range(100_000, 50_000_000))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> HistoryConfig {
        HistoryConfig { accounts: 300, months: 4, ..HistoryConfig::default() }
    }

    #[test]
    fn same_seed_same_bytes_in_time_order() {
        let a = History::generate(&small());
        let b = History::generate(&small());
        assert_eq!(a.events, b.events);
        let c = History::generate(&HistoryConfig { seed: 8, ..small() });
        assert_ne!(a.events, c.events);
        let times: Vec<&str> = a.events.iter().map(|l| &l[l.find("\"time\":\"").unwrap_or(0)..][8..32]).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(a.events.len() > 5_000, "{}", a.events.len());
    }

    #[test]
    fn churners_cancel_once_and_go_quiet() {
        let h = History::generate(&small());
        assert!(h.cancelled.len() > 10 && h.cancelled.len() < 150, "{} cancelled", h.cancelled.len());
        for (account, _) in h.cancelled.iter().take(20) {
            let tag = format!("\"account\":\"{account}\"");
            let mine: Vec<&String> = h.events.iter().filter(|l| l.contains(&tag)).collect();
            let cancel = mine.iter().position(|l| l.contains("\"action\":\"cancel\""));
            assert!(cancel.is_some(), "{account} has no cancel");
            assert_eq!(cancel, Some(mine.len() - 1), "{account}: events after the cancel");
        }
    }
}
