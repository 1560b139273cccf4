//! Churn features by SQL over the ledger and the accounts, per account and
//! as-of date, with the label: did the account cancel within the horizon
//! after that date? `docs/churn.md` describes every column.
//!
//! Every feature reads rows strictly before the as-of instant (midnight
//! UTC of the as-of date); only the label reads after it. The accounts
//! are those with a plan activated on or before the date and no cancel
//! before it.

use chrono::NaiveDate;

use super::bounds::AS_OF_DATES_MAX;
use super::error::ChurnError;
use super::table::Table;
use super::train::Split;
use crate::engine::Engine;
use crate::guard::parse;

/// The label column of the feature table.
pub const LABEL: &str = "churned";

/// The columns that identify a row (kept out of the features).
pub const KEYS: [&str; 2] = ["account", "as_of"];

/// Columns copied into the risk list, for filtering by segment or partner.
pub const CONTEXT: [&str; 3] = ["plan", "segment", "partner"];

/// The columns a risk list scored from these features starts with: the
/// keys, then the context.
#[must_use]
pub fn risk_keys() -> Vec<&'static str> {
    KEYS.iter().chain(&CONTEXT).copied().collect()
}

/// The feature query for one as-of date and horizon.
#[must_use]
pub fn sql(as_of: NaiveDate, horizon_days: u32) -> String {
    let t = format!("timestamp '{as_of}T00:00:00Z'");
    let d30 = format!("{t} - interval '30 days'");
    let d90 = format!("{t} - interval '90 days'");
    let end = format!("{t} + interval '{horizon_days} days'");
    format!(
        r#"with usage as (
    select account,
        count(*) filter (where event_time >= {d30}) as usage_events_30d,
        count(*) as usage_events_90d,
        coalesce(sum(gross) filter (where event_time >= {d30}), 0) as spend_30d,
        coalesce(sum(gross), 0) as spend_90d
    from rated
    where kind in ('usage', 'recurring') and event_time >= {d90} and event_time < {t}
    group by account
), life as (
    select account,
        max(event_time) filter (where kind in ('payment', 'topup') and source = 'event') as last_payment,
        count(*) filter (where kind = 'payment' and event_time >= {d90} and owed_due_at is not null
            and event_time >= owed_due_at) as late_payments_90d,
        count(*) filter (where kind = 'topup' and event_time >= {d90}) as topups_90d,
        count(*) filter (where kind = 'support_contact' and event_time >= {d30}) as support_contacts_30d,
        count(*) filter (where kind = 'support_contact' and event_time >= {d90}) as support_contacts_90d,
        count(*) filter (where kind = 'support_contact' and event_time >= {d90}
            and reason = 'cancellation intent') as cancel_intents_90d,
        count(*) filter (where kind = 'block' and event_time >= {d90}) as blocks_90d,
        count(*) filter (where source = 'rater' and event_time >= {d90}
            and reason in ('low_balance', 'allowance_exhausted', 'credit_limit')) as balance_exhaustions_90d,
        count(*) filter (where kind = 'subscription' and action = 'change_plan' and event_time >= {d90})
            as price_changes_90d,
        count(*) filter (where kind = 'subscription' and action = 'cancel') as cancels_before
    from facts
    where event_time < {t}
    group by account
), label as (
    select distinct account from facts
    where kind = 'subscription' and action = 'cancel' and event_time >= {t} and event_time < {end}
)
select a.account,
    date '{as_of}' as as_of,
    a.plan, a.segment, a.partner,
    (date_part('epoch', {t}) - date_part('epoch', cast(a.activated as timestamp))) / 86400 as tenure_days,
    coalesce(u.usage_events_30d, 0) as usage_events_30d,
    coalesce(u.usage_events_90d, 0) as usage_events_90d,
    coalesce(u.spend_30d, 0) as spend_30d,
    coalesce(u.spend_90d, 0) as spend_90d,
    cast(coalesce(u.usage_events_30d, 0) as double) * cast(3 as double)
        / greatest(cast(coalesce(u.usage_events_90d, 0) as double), cast(1 as double)) as usage_trend,
    cast(coalesce(u.spend_30d, 0) as double) * cast(3 as double)
        / greatest(cast(abs(coalesce(u.spend_90d, 0)) as double), cast(1 as double)) as spend_trend,
    (date_part('epoch', {t}) - date_part('epoch', l.last_payment)) / 86400 as days_since_payment,
    coalesce(l.late_payments_90d, 0) as late_payments_90d,
    coalesce(l.topups_90d, 0) as topups_90d,
    coalesce(l.support_contacts_30d, 0) as support_contacts_30d,
    coalesce(l.support_contacts_90d, 0) as support_contacts_90d,
    coalesce(l.cancel_intents_90d, 0) as cancel_intents_90d,
    coalesce(l.blocks_90d, 0) as blocks_90d,
    coalesce(l.balance_exhaustions_90d, 0) as balance_exhaustions_90d,
    coalesce(l.price_changes_90d, 0) as price_changes_90d,
    case when c.account is null then 0 else 1 end as {LABEL}
from accounts a
left join usage u on u.account = a.account
left join life l on l.account = a.account
left join label c on c.account = a.account
where a.activated <= date '{as_of}' and coalesce(l.cancels_before, 0) = 0
order by a.account"#
    )
}

/// The feature table of every as-of date, rows in date then account order.
/// For scoring, pass a horizon of 0: the label is then always 0.
///
/// # Errors
/// [`ChurnError::Invalid`] for no dates or too many,
/// [`ChurnError::Sql`] (an engine without the `accounts` table among
/// them) and those of [`Table::from_batches`].
pub fn build(engine: &Engine, as_of: &[NaiveDate], horizon_days: u32) -> Result<Table, ChurnError> {
    if as_of.is_empty() || as_of.len() > AS_OF_DATES_MAX {
        return Err(ChurnError::Invalid(format!("give from 1 to {AS_OF_DATES_MAX} as-of dates")));
    }
    let mut batches = Vec::new();
    let mut schema = None;
    for date in as_of {
        let statements = parse(&sql(*date, horizon_days))?;
        for statement in &statements {
            let rows = engine.query(statement)?;
            schema.get_or_insert_with(|| rows.schema());
            for batch in rows {
                batches.push(batch?);
            }
        }
    }
    let schema = schema.ok_or_else(|| ChurnError::Invalid("the feature query returned nothing".to_string()))?;
    Table::from_batches(&schema, &batches, "churn features")
}

/// As-of dates from `first` to `last`, every `step_days`.
///
/// # Errors
/// [`ChurnError::Invalid`] for a step of 0, `last` before `first`, or more
/// than [`AS_OF_DATES_MAX`] dates.
pub fn dates(first: NaiveDate, last: NaiveDate, step_days: u32) -> Result<Vec<NaiveDate>, ChurnError> {
    if step_days == 0 || last < first {
        return Err(ChurnError::Invalid(format!("no as-of dates from {first} to {last} every {step_days} days")));
    }
    let mut out = Vec::new();
    let mut at = first;
    while at <= last {
        if out.len() == AS_OF_DATES_MAX {
            return Err(ChurnError::Invalid(format!("more than {AS_OF_DATES_MAX} as-of dates")));
        }
        out.push(at);
        at = at + chrono::Days::new(u64::from(step_days));
    }
    Ok(out)
}

/// The time split of a feature table: the last as-of date tests, the one
/// before validates, the earlier ones train. Dates must be at least the
/// horizon apart, so that no training label reads past the first
/// validation date, and no validation label past the test date.
///
/// # Errors
/// [`ChurnError::Invalid`] for fewer than three as-of dates, or dates
/// closer than the horizon.
pub fn time_split(table: &Table, horizon_days: u32) -> Result<Split, ChurnError> {
    let column = table.column("as_of")?;
    let dates: Vec<String> = column.cells.iter().map(|c| c.category().unwrap_or_default()).collect();
    let mut distinct: Vec<&String> = dates.iter().collect();
    distinct.sort();
    distinct.dedup();
    if distinct.len() < 3 {
        return Err(ChurnError::Invalid(format!(
            "a time split needs at least three as-of dates (train, validation, test); the table has {}",
            distinct.len()
        )));
    }
    let parsed: Vec<NaiveDate> = distinct
        .iter()
        .map(|d| d.parse::<NaiveDate>().map_err(|e| ChurnError::Invalid(format!("as_of {d:?}: {e}"))))
        .collect::<Result<_, _>>()?;
    for pair in parsed.windows(2) {
        if (pair[1] - pair[0]).num_days() < i64::from(horizon_days) {
            return Err(ChurnError::Invalid(format!(
                "the as-of dates {} and {} are closer than the horizon of {horizon_days} days: \
                 the earlier one's labels would read the later one's future",
                pair[0], pair[1]
            )));
        }
    }
    let (test_date, validation_date) = (distinct[distinct.len() - 1], distinct[distinct.len() - 2]);
    let mut split = Split {
        train: Vec::new(),
        validation: Vec::new(),
        test: Vec::new(),
        method: format!("by time: train before {validation_date}, validate on {validation_date}, test on {test_date}"),
    };
    for (row, date) in dates.iter().enumerate() {
        if date == test_date {
            split.test.push(row);
        } else if date == validation_date {
            split.validation.push(row);
        } else {
            split.train.push(row);
        }
    }
    Ok(split)
}
