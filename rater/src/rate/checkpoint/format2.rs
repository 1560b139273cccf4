//! Checkpoint entries as binary checkpoints of format 2 wrote them: the
//! fields of [`super::AccountCheckpoint`] in the same order, with amounts
//! and dates as text. Read only, to resume a ledger an earlier build wrote.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::accounts::AccountStatus;
use crate::record::ActionReason;

/// [`super::Checkpoint`] as format 2 wrote it.
#[derive(Debug, Deserialize)]
pub struct Checkpoint {
    catalog_version: String,
    accounts: Vec<AccountCheckpoint>,
}

#[derive(Debug, Deserialize)]
struct AccountCheckpoint {
    id: String,
    status: AccountStatus,
    plan: Option<String>,
    plan_since: Option<NaiveDate>,
    period: Option<String>,
    main: Decimal,
    balances: Vec<(String, Decimal)>,
    counters: Vec<CounterCheckpoint>,
    fixed_used: Vec<(String, Decimal)>,
    device_day: Option<NaiveDate>,
    devices_today: Vec<u64>,
    devices_period: Vec<u64>,
    owed: Decimal,
    owed_due: Option<NaiveDate>,
    blocked: Option<ActionReason>,
    low_notified: bool,
}

#[derive(Debug, Deserialize)]
struct CounterCheckpoint {
    service: String,
    zone: Option<String>,
    used: Decimal,
}

impl From<Checkpoint> for super::Checkpoint {
    fn from(c: Checkpoint) -> Self {
        Self { catalog_version: c.catalog_version, accounts: c.accounts.into_iter().map(Into::into).collect() }
    }
}

impl From<AccountCheckpoint> for super::AccountCheckpoint {
    fn from(a: AccountCheckpoint) -> Self {
        Self {
            id: a.id,
            status: a.status,
            plan: a.plan,
            plan_since: a.plan_since,
            period: a.period,
            main: a.main,
            balances: a.balances,
            counters: a
                .counters
                .into_iter()
                .map(|c| super::CounterCheckpoint { service: c.service, zone: c.zone, used: c.used })
                .collect(),
            fixed_used: a.fixed_used,
            device_day: a.device_day,
            devices_today: a.devices_today,
            devices_period: a.devices_period,
            owed: a.owed,
            owed_due: a.owed_due,
            blocked: a.blocked,
            low_notified: a.low_notified,
        }
    }
}
