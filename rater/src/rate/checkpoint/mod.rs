//! Checkpoints: every account's rating state, by name, to store beside a
//! ledger commit and restore after a restart.
//!
//! Names rather than table indices, so that a checkpoint outlives a catalog
//! reload: a balance, plan, counter or discount whose name the catalog no
//! longer has is dropped on restore, as on a reload. Amounts and dates are
//! text in a human-readable format and compact in a binary one
//! ([`compact`]); [`format2`] reads the binary entries of earlier builds,
//! which wrote them as text.

mod compact;
pub mod format2;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use smallvec::SmallVec;
use thiserror::Error;

use self::compact::{Amount, Day};
use super::Rater;
use super::account::AccountState;
use crate::accounts::AccountStatus;
use crate::record::ActionReason;
use crate::tables::Tables;
use crate::time::Period;

/// The state of every account a rater has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The catalog version the state was last rated against.
    pub catalog_version: String,
    /// One entry per account, in first-seen order.
    pub accounts: Vec<AccountCheckpoint>,
}

/// One account's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountCheckpoint {
    /// Account id.
    pub id: String,
    /// Lifecycle status.
    pub status: AccountStatus,
    /// Plan id.
    pub plan: Option<String>,
    /// Local date the plan started.
    #[serde(with = "compact::day")]
    pub plan_since: Option<NaiveDate>,
    /// The open period, `YYYY-MM`.
    pub period: Option<String>,
    /// The main money balance.
    #[serde(with = "compact::amount")]
    pub main: Decimal,
    /// Other balances by name, in draw order.
    #[serde(with = "compact::named_amounts")]
    pub balances: Vec<(String, Decimal)>,
    /// Period counters by service and zone.
    pub counters: Vec<CounterCheckpoint>,
    /// Fixed discounts used this period, by discount id.
    #[serde(with = "compact::named_amounts")]
    pub fixed_used: Vec<(String, Decimal)>,
    /// The local day of `devices_today`.
    #[serde(with = "compact::day")]
    pub device_day: Option<NaiveDate>,
    /// Devices seen that day (hashes), sorted.
    pub devices_today: Vec<u64>,
    /// Devices seen this period (hashes), sorted.
    pub devices_period: Vec<u64>,
    /// Unpaid amount a closed period left.
    #[serde(with = "compact::amount")]
    pub owed: Decimal,
    /// When it blocks.
    #[serde(with = "compact::day")]
    pub owed_due: Option<NaiveDate>,
    /// Why the rater blocked the account.
    pub blocked: Option<ActionReason>,
    /// Whether the low-balance notice was sent.
    pub low_notified: bool,
}

/// A period counter by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterCheckpoint {
    /// Service name.
    pub service: String,
    /// Zone name, for zone rates.
    pub zone: Option<String>,
    /// Chargeable quantity used this period.
    #[serde(with = "compact::amount")]
    pub used: Decimal,
}

/// Why a checkpoint could not be restored.
#[derive(Debug, Error)]
pub enum RestoreError {
    /// An account of the checkpoint is not in the accounts reference data.
    #[error("checkpoint account {0:?} is not in the accounts reference data")]
    UnknownAccount(String),
    /// A period is not `YYYY-MM`.
    #[error("checkpoint account {account:?}: period {period:?} is not YYYY-MM")]
    BadPeriod {
        /// The account.
        account: String,
        /// The text found.
        period: String,
    },
    /// The rater has state already; restore into a fresh one.
    #[error("the rater has already rated events; restore into a fresh rater")]
    NotFresh,
}

impl Rater {
    /// Every account's state, by name.
    #[must_use]
    pub fn checkpoint(&self) -> Checkpoint {
        let tables = &*self.tables;
        Checkpoint {
            catalog_version: tables.version.to_string(),
            accounts: self.states.iter().map(|s| save(tables, s)).collect(),
        }
    }

    /// The checkpoint entries of the accounts whose state may have changed
    /// since the last call (every account at the first), each with its
    /// position in [`Checkpoint::accounts`]. Put over the entries of the
    /// earlier calls, they make [`Rater::checkpoint`]'s accounts, without
    /// saving every account each time.
    pub fn checkpoint_changed(&mut self) -> Vec<(usize, AccountCheckpoint)> {
        let mut entries = Vec::new();
        let saved: Result<(), std::convert::Infallible> = self.for_each_changed(|slot, account| {
            entries.push((slot, account.to_checkpoint()));
            Ok(())
        });
        let Ok(()) = saved;
        entries
    }

    /// Calls `f` with each account whose state may have changed since the
    /// last call (every account at the first), as [`checkpoint_changed`]
    /// returns them, but borrowed: an [`AccountView`] serializes as the
    /// [`AccountCheckpoint`] would, without copying the account's names.
    ///
    /// [`checkpoint_changed`]: Rater::checkpoint_changed
    ///
    /// # Errors
    /// The first error of `f`; the accounts after it stay marked changed.
    pub fn for_each_changed<E>(&mut self, mut f: impl FnMut(usize, AccountView<'_>) -> Result<(), E>) -> Result<(), E> {
        let tables = &*self.tables;
        for (slot, changed) in self.changed.iter_mut().enumerate() {
            if *changed {
                f(slot, AccountView { tables, state: &self.states[slot] })?;
                *changed = false;
            }
        }
        Ok(())
    }

    /// Restores the state of a checkpoint into a fresh rater.
    pub fn restore(&mut self, checkpoint: &Checkpoint) -> Result<(), RestoreError> {
        if !self.states.is_empty() {
            return Err(RestoreError::NotFresh);
        }
        for saved in &checkpoint.accounts {
            let slot = self.slot(&saved.id).map_err(|_| RestoreError::UnknownAccount(saved.id.clone()))?;
            let tables = &*self.tables;
            load(tables, &mut self.states[slot], saved)?;
        }
        Ok(())
    }
}

fn save(tables: &Tables, s: &AccountState) -> AccountCheckpoint {
    let view = AccountView { tables, state: s };
    AccountCheckpoint {
        id: s.id.to_string(),
        status: s.status,
        plan: view.plan().map(str::to_string),
        plan_since: s.plan_since,
        period: s.period.map(|p| p.to_string()),
        main: s.main,
        balances: view.balances().map(|(name, amount)| (name.to_string(), amount)).collect(),
        counters: view
            .counters()
            .map(|c| CounterCheckpoint {
                service: c.service.to_string(),
                zone: c.zone.map(str::to_string),
                used: c.used,
            })
            .collect(),
        fixed_used: view.fixed_used().map(|(id, used)| (id.to_string(), used)).collect(),
        device_day: s.device_day,
        devices_today: sorted(&s.devices_today).to_vec(),
        devices_period: sorted(&s.devices_period).to_vec(),
        owed: s.owed,
        owed_due: s.owed_due,
        blocked: s.blocked,
        low_notified: s.low_notified,
    }
}

/// One account's checkpoint entry, borrowed from the rater's state: it
/// serializes field for field as the [`AccountCheckpoint`] that
/// [`Rater::checkpoint`] makes of it, so either may be read back as an
/// `AccountCheckpoint`.
#[derive(Clone, Copy)]
pub struct AccountView<'a> {
    tables: &'a Tables,
    state: &'a AccountState,
}

impl std::fmt::Debug for AccountView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountView").field("id", &self.state.id).finish_non_exhaustive()
    }
}

impl<'a> AccountView<'a> {
    /// Plan id.
    fn plan(&self) -> Option<&'a str> {
        self.state.plan.map(|p| &*self.tables.plans[p as usize].id)
    }

    /// Other balances by name, in draw order.
    fn balances(&self) -> impl ExactSizeIterator<Item = (&'a str, Decimal)> + use<'a> {
        let tables = self.tables;
        self.state.balances.iter().map(move |b| (&*tables.balances[b.id as usize].name, b.amount))
    }

    /// Period counters by service and zone name.
    fn counters(&self) -> impl ExactSizeIterator<Item = CounterView<'a>> + use<'a> {
        let tables = self.tables;
        let stride = u32::try_from(tables.zones.len()).unwrap_or(u32::MAX) + 1;
        self.state.counters.iter().map(move |(key, used)| CounterView {
            service: &tables.services[(key / stride) as usize].name,
            zone: (key % stride).checked_sub(1).map(|z| &*tables.zones[z as usize]),
            used: *used,
        })
    }

    /// Fixed discounts used this period, by discount id.
    fn fixed_used(&self) -> impl ExactSizeIterator<Item = (&'a str, Decimal)> + use<'a> {
        let tables = self.tables;
        self.state.fixed_used.iter().map(move |(i, used)| (&*tables.discounts[*i as usize].id, *used))
    }

    /// Whether the low-balance notice was sent.
    #[must_use]
    pub fn low_notified(&self) -> bool {
        self.state.low_notified
    }

    /// Why the rater blocked the account.
    #[must_use]
    pub fn blocked(&self) -> Option<ActionReason> {
        self.state.blocked
    }

    /// The owned entry, as [`Rater::checkpoint`] holds it.
    #[must_use]
    pub fn to_checkpoint(&self) -> AccountCheckpoint {
        save(self.tables, self.state)
    }
}

impl Serialize for AccountView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let s = self.state;
        // The fields of `AccountCheckpoint`, in its order and with its names.
        let mut out = serializer.serialize_struct("AccountCheckpoint", 16)?;
        out.serialize_field("id", s.id.as_str())?;
        out.serialize_field("status", &s.status)?;
        out.serialize_field("plan", &self.plan())?;
        out.serialize_field("plan_since", &s.plan_since.map(Day))?;
        out.serialize_field("period", &s.period.map(PeriodText))?;
        out.serialize_field("main", &Amount(s.main))?;
        out.serialize_field("balances", &Balances(self))?;
        out.serialize_field("counters", &Counters(self))?;
        out.serialize_field("fixed_used", &FixedUsed(self))?;
        out.serialize_field("device_day", &s.device_day.map(Day))?;
        out.serialize_field("devices_today", &sorted(&s.devices_today))?;
        out.serialize_field("devices_period", &sorted(&s.devices_period))?;
        out.serialize_field("owed", &Amount(s.owed))?;
        out.serialize_field("owed_due", &s.owed_due.map(Day))?;
        out.serialize_field("blocked", &s.blocked)?;
        out.serialize_field("low_notified", &s.low_notified)?;
        out.end()
    }
}

/// A period serialized as its text, `YYYY-MM`, as `AccountCheckpoint.period`.
struct PeriodText(Period);

impl Serialize for PeriodText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

struct Balances<'a>(&'a AccountView<'a>);

impl Serialize for Balances<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.balances().map(|(name, amount)| (name, Amount(amount))))
    }
}

/// `AccountCheckpoint.counters`: each a `CounterCheckpoint`.
struct Counters<'a>(&'a AccountView<'a>);

#[derive(Serialize)]
#[serde(rename = "CounterCheckpoint")]
struct CounterView<'a> {
    service: &'a str,
    zone: Option<&'a str>,
    #[serde(with = "compact::amount")]
    used: Decimal,
}

impl Serialize for Counters<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.counters())
    }
}

struct FixedUsed<'a>(&'a AccountView<'a>);

impl Serialize for FixedUsed<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.fixed_used().map(|(id, used)| (id, Amount(used))))
    }
}

/// A set of device hashes as the checkpoint keeps it: sorted.
fn sorted(devices: &std::collections::HashSet<u64>) -> SmallVec<[u64; 8]> {
    let mut sorted: SmallVec<[u64; 8]> = devices.iter().copied().collect();
    sorted.sort_unstable();
    sorted
}

fn load(tables: &Tables, s: &mut AccountState, saved: &AccountCheckpoint) -> Result<(), RestoreError> {
    let stride = u32::try_from(tables.zones.len()).unwrap_or(u32::MAX) + 1;
    s.status = saved.status;
    s.plan = saved.plan.as_ref().and_then(|p| tables.plan_ids.get(p).copied());
    s.plan_since = saved.plan_since;
    s.period = match &saved.period {
        None => None,
        Some(text) => Some(
            Period::parse(text)
                .ok_or_else(|| RestoreError::BadPeriod { account: saved.id.clone(), period: text.clone() })?,
        ),
    };
    s.main = saved.main;
    s.balances.clear();
    for (name, amount) in &saved.balances {
        if let Some(&id) = tables.balance_ids.get(name) {
            s.add(tables, id, *amount);
        }
    }
    s.counters.clear();
    for c in &saved.counters {
        let Some(&service) = tables.service_ids.get(&c.service) else { continue };
        let zone = match &c.zone {
            None => 0,
            Some(name) => match tables.zones.iter().position(|z| **z == **name) {
                Some(i) => u32::try_from(i).unwrap_or(0) + 1,
                None => continue,
            },
        };
        s.count(service * stride + zone, c.used);
    }
    s.fixed_used.clear();
    for (id, used) in &saved.fixed_used {
        if let Some(i) = tables.discounts.iter().position(|d| *d.id == **id) {
            s.fixed_used.push((u32::try_from(i).unwrap_or(u32::MAX), *used));
        }
    }
    s.device_day = saved.device_day;
    s.devices_today = saved.devices_today.iter().copied().collect();
    s.devices_period = saved.devices_period.iter().copied().collect();
    s.owed = saved.owed;
    s.owed_due = saved.owed_due;
    s.blocked = saved.blocked;
    s.low_notified = saved.low_notified;
    s.resolve(tables);
    Ok(())
}
