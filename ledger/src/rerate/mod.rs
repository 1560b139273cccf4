//! Rerating: a billing period priced again with a corrected catalog and
//! booked as a new version of the period.
//!
//! [`Ledger::rerate`] reads the ledger's rows up to the period, turns the
//! events they booked back into [`Event`]s (usage from `rated`, with the
//! destination and device it keeps; lifecycle events from `facts`, with the
//! balance of a top-up or adjustment from `draws`) and rates them again
//! with a fresh [`Rater`], starting from the accounts' reference data:
//! period by period in the order they were booked, and within a period
//! each account's events in event-time order, so that balances are
//! recomputed as the events happened, whatever order they arrived in.
//! Earlier periods are replayed only for what they carry into the period
//! (money balances, rollover, what is owed); their rows are left alone.
//!
//! The new version is one commit of kind `rerate`: the period's `rated`,
//! `draws` and `facts` files are removed, to the trash, which keeps them
//! for good (the version before stays readable with
//! [`crate::Snapshot::at`]), and new files are added holding the rerated
//! accounts' new rows beside the other accounts' rows unchanged. Offsets,
//! positions and the checkpoint stay as they were; the ledger totals change
//! by the difference, which the [`RerateReport`] gives per account.
//!
//! A rerate is refused before anything is written when the period is
//! closed or not over, has no rows, holds rows that cannot be turned back
//! into their events, or when the new catalog would reject an event the
//! ledger booked: every event booked in the period is booked again.

mod read;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;

use arrow_array::RecordBatch;
use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use ratewire_rater::time::Period;
use ratewire_rater::{Accounts, Fact, Output, Rated, Rater, RaterConfig, Tables};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use self::read::{Read, RecordKey, Replay, rebuild};
use crate::batch::{draws_batch, facts_batch, kind_name, rated_batch};
use crate::close::PERIOD_TABLES;
use crate::commit::{Ledger, Step, by_table, subtract};
use crate::compact::{partition_of, sorted};
use crate::error::Error;
use crate::manifest::{CommitKind, DataFile, Manifest};
use crate::schema::Table;
use crate::totals::{Totals, to_units};
use crate::trash::move_to_trash;
use crate::writer::{Partition, Rows};

/// What [`Ledger::rerate`] rerates, and with what.
#[derive(Debug, Clone)]
pub struct RerateOptions {
    /// The period to rerate: over, and not closed.
    pub period: Period,
    /// The corrected catalog.
    pub tables: Arc<Tables>,
    /// The accounts' reference data, where replaying starts from.
    pub accounts: Arc<Accounts>,
    /// Only these accounts; `None`: every account with rows in the period.
    pub only: Option<BTreeSet<String>>,
    /// The rerate's clock: its manifest's `booked_at`, and what "the period
    /// is over" is judged by.
    pub now: DateTime<Utc>,
}

/// What a rerate commit records ([`Manifest::rerate`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RerateRecord {
    /// The period rerated (`YYYY-MM`).
    #[serde(with = "crate::close::period_text")]
    pub period: Period,
    /// The version of the catalog it was rerated with.
    pub catalog_version: String,
    /// The accounts it was limited to, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<Vec<String>>,
    /// How many accounts were rerated.
    pub accounts: u64,
    /// How many booked events of the period were rated again.
    pub events: u64,
}

/// An account's rows in the period, summed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Amounts {
    /// `rated` rows.
    pub rows: u64,
    /// Sum of `allowance_quantity` (units of several services added up: a
    /// checksum of where allowances went).
    pub allowance_quantity: Decimal,
    /// Sum of `net`.
    pub net: Decimal,
    /// Sum of `tax`.
    pub tax: Decimal,
    /// Sum of `gross`.
    pub gross: Decimal,
}

impl Amounts {
    fn add(&mut self, allowance: Decimal, net: Decimal, tax: Decimal, gross: Decimal) {
        self.rows += 1;
        self.allowance_quantity += allowance;
        self.net += net;
        self.tax += tax;
        self.gross += gross;
    }
}

/// One account's difference between the period's two versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountDifference {
    /// The account.
    pub account: String,
    /// Its currency.
    pub currency: String,
    /// The version before.
    pub before: Amounts,
    /// The rerated version.
    pub after: Amounts,
    /// Records whose rated quantity, allowance or amounts changed, or that
    /// only one version has (matched by event id and kind).
    pub records_changed: u64,
}

impl AccountDifference {
    /// Whether anything changed.
    #[must_use]
    pub fn changed(&self) -> bool {
        self.records_changed > 0 || self.before != self.after
    }
}

/// What [`Ledger::rerate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RerateReport {
    /// The rerate commit; the version before is `sequence - 1`.
    pub sequence: u64,
    /// What it recorded.
    pub record: RerateRecord,
    /// Per account rerated, by account id.
    pub accounts: Vec<AccountDifference>,
    /// Events of earlier periods the new catalog rejects: replaying skips
    /// them, so the balances they carried in differ.
    pub earlier_rejected: u64,
    /// Later periods holding rows of rerated accounts: the balances they
    /// carried in are the previous version's; rerate them next, in order.
    pub later_periods: Vec<Period>,
}

impl Ledger {
    /// Rerates `options.period` in a commit of its own.
    ///
    /// # Errors
    /// Before anything is written: [`Error::RerateClosed`],
    /// [`Error::RerateNotOver`], [`Error::NothingToRerate`],
    /// [`Error::CannotRerate`], [`Error::RerateRejected`]; I/O and Parquet
    /// errors, and [`Error::Manifest`] for a file that disagrees with its
    /// manifest. Part-way: I/O errors, after which the handle refuses
    /// commits ([`Error::NeedsRecovery`]) until the ledger is opened again.
    ///
    /// # Panics
    /// If the new files' rows and totals do not add up to the old ones'
    /// less the rerated accounts' before plus their after: a bug.
    pub fn rerate(&mut self, options: &RerateOptions) -> Result<RerateReport, Error> {
        self.rerate_with(options, &mut |_| ControlFlow::Continue(()))
    }

    /// [`Ledger::rerate`], calling `hook` after each [`Step`]; it stops with
    /// [`Error::Aborted`] where the hook breaks, leaving the directory as a
    /// crash there would (for crash tests).
    ///
    /// # Errors
    /// As [`Ledger::rerate`], and [`Error::Aborted`].
    ///
    /// # Panics
    /// As [`Ledger::rerate`].
    pub fn rerate_with(
        &mut self,
        options: &RerateOptions,
        hook: &mut dyn FnMut(Step) -> ControlFlow<()>,
    ) -> Result<RerateReport, Error> {
        if self.broken {
            return Err(Error::NeedsRecovery);
        }
        let period = options.period;
        if let Some(closed_through) = self.closed_through().filter(|c| period <= *c) {
            return Err(Error::RerateClosed { period, closed_through });
        }
        if Period::of_date(options.now.date_naive()) <= period {
            return Err(Error::RerateNotOver { period, now: options.now });
        }
        let (period_files, earlier_files): (Vec<DataFile>, Vec<DataFile>) = self
            .files
            .iter()
            .filter(|f| PERIOD_TABLES.contains(&f.table))
            .filter(|f| partition_of(f).is_some_and(|p| p.period <= period))
            .cloned()
            .partition(|f| partition_of(f).is_some_and(|p| p.period == period));

        let mut read = Read::default();
        let scope = self.read_rerated(&period_files, options, &mut read)?;
        if scope.is_empty() {
            return Err(Error::NothingToRerate { period, limited: options.only.is_some() });
        }
        for file in &earlier_files {
            self.read_events(file, &scope, &mut read)?;
        }
        let events = rebuild(period, &mut read)?;

        let (out, earlier_rejected) = replay(options, self.closed_through(), &scope, read.events)?;
        let accounts = differences(&scope, &read.before, &read.before_records, &out);
        let record = RerateRecord {
            period,
            catalog_version: options.tables.version.to_string(),
            only: options.only.as_ref().map(|only| only.iter().cloned().collect()),
            accounts: scope.len() as u64,
            events,
        };
        let later_periods: Vec<Period> = self
            .files
            .iter()
            .filter(|f| f.table == Table::Rated && f.totals.rows > 0)
            .filter_map(partition_of)
            .map(|p| p.period)
            .filter(|p| *p > period)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let before = rated_totals(read.before.values().map(|(_, amounts)| amounts));
        let after = rated_totals(accounts.iter().map(|a| &a.after));
        let change = (before, after);
        let sequence =
            self.rerate_commit(period, &period_files, read.kept, &out, &change, &record, options.now, hook)?;
        Ok(RerateReport { sequence, record, accounts, earlier_rejected, later_periods })
    }

    /// The rerate commit: removes `old` and adds the period's new files.
    #[allow(clippy::too_many_arguments)]
    fn rerate_commit(
        &mut self,
        period: Period,
        old: &[DataFile],
        mut parts: BTreeMap<(Table, NaiveDate), Vec<RecordBatch>>,
        out: &Output,
        (before, after): &(Totals, Totals),
        record: &RerateRecord,
        now: DateTime<Utc>,
        hook: &mut dyn FnMut(Step) -> ControlFlow<()>,
    ) -> Result<u64, Error> {
        let mut rated_by_day: BTreeMap<NaiveDate, Vec<&Rated>> = BTreeMap::new();
        for r in &out.rated {
            rated_by_day.entry(r.event_time.date_naive()).or_default().push(r);
        }
        for (day, records) in &rated_by_day {
            parts.entry((Table::Rated, *day)).or_default().push(rated_batch(records)?);
            if records.iter().any(|r| !r.draws.is_empty()) {
                parts.entry((Table::Draws, *day)).or_default().push(draws_batch(records)?);
            }
        }
        let mut facts_by_day: BTreeMap<NaiveDate, Vec<&Fact>> = BTreeMap::new();
        for f in &out.facts {
            facts_by_day.entry(f.event_time.date_naive()).or_default().push(f);
        }
        for (day, facts) in &facts_by_day {
            parts.entry((Table::Facts, *day)).or_default().push(facts_batch(facts)?);
        }
        let added = sum_parts(&parts);
        let mut rows = Vec::with_capacity(parts.len());
        for ((table, day), batches) in parts {
            let merged = sorted(table, &batches)?;
            let totals = Totals::of_batch(table, &merged);
            rows.push(Ok((Partition { table, period, day }, Rows::Merged(table, merged, totals))));
        }
        // Conservation: the period's new `rated` rows and money are the old
        // ones less the rerated accounts' before, plus their after.
        let mut expected = by_table(old).remove(&Table::Rated).unwrap_or_else(|| Totals::zero(Table::Rated));
        let taken = subtract(&mut expected, before);
        assert!(taken.is_some(), "{period}: the rerated accounts' rows are within the period's");
        expected.add(after);
        let written = added.get(&Table::Rated).cloned().unwrap_or_else(|| Totals::zero(Table::Rated));
        assert_eq!(written, expected, "{period}: rated rows and money = before - rerated accounts' before + after");

        let checkpoint = self.checkpoint.clone().ok_or(Error::NeedsRecovery)?;
        self.broken = true;
        let sequence = self.sequence + 1;
        let files = self.write_files(sequence, rows.into_iter(), hook)?;
        let mut ledger_totals = self.totals.clone();
        for file in old {
            let totals = ledger_totals.entry(file.table).or_insert_with(|| Totals::zero(file.table));
            let taken = subtract(totals, &file.totals);
            assert!(taken.is_some(), "{}: a committed file is within the ledger's totals", file.path);
        }
        for file in &files {
            ledger_totals.entry(file.table).or_insert_with(|| Totals::zero(file.table)).add(&file.totals);
        }
        let manifest = Manifest {
            format: CommitKind::Rerate.format(),
            sequence,
            booked_at: now.trunc_subsecs(6),
            kind: CommitKind::Rerate,
            totals: by_table(&files),
            files,
            removed: old.iter().map(|f| f.path.clone()).collect(),
            ledger_totals,
            offsets: Vec::new(),
            positions: self.positions.clone(),
            checkpoint,
            close: None,
            rerate: Some(record.clone()),
        };
        self.publish(&manifest, hook)?;
        move_to_trash(&self.dir, sequence, &manifest.removed, hook)?;
        self.broken = false;
        Ok(sequence)
    }
}

/// Rates the events again, period by period; returns the records of the
/// period `options.period` and how many events of earlier ones the new
/// catalog rejects.
fn replay(
    options: &RerateOptions,
    closed_through: Option<Period>,
    scope: &BTreeSet<String>,
    mut events: BTreeMap<Period, BTreeMap<String, Vec<Replay>>>,
) -> Result<(Output, u64), Error> {
    let target = options.period;
    // Every account rerated opens the period, even without events of its
    // own there (its grants and fees).
    let in_target = events.entry(target).or_default();
    for account in scope {
        in_target.entry(account.clone()).or_default();
    }
    // Booked events are replayed whatever their age.
    let config = RaterConfig { event_age_max_days: u32::MAX, event_future_max_seconds: u32::MAX, closed_through: None };
    let mut rater = Rater::new(options.tables.clone(), options.accounts.clone(), config);
    let mut out = Output::default();
    let mut earlier_rejected = 0;
    let mut refused = Vec::new();
    for (period, accounts) in events {
        let is_target = period == target;
        // Earlier periods book late events as they were booked: in the
        // account's open period. The period rerated books them as the
        // ledger does now, naming the closed period they belong to.
        rater.set_closed_through(if is_target { closed_through } else { None });
        out.clear();
        for (account, mut replays) in accounts {
            replays.sort_by(|a, b| (a.event.time, a.rank, &a.event.id).cmp(&(b.event.time, b.rank, &b.event.id)));
            if let Err(reject) = rater.open_period(&account, period, &mut out) {
                if is_target {
                    refused.push(format!("account {account}: {reject}"));
                } else {
                    earlier_rejected += replays.len() as u64;
                }
                continue;
            }
            for replay in &replays {
                rater.rate(&replay.event, replay.event.time, &mut out);
            }
        }
        if !is_target {
            earlier_rejected += out.rejected.len() as u64;
        }
    }
    for rejected in &out.rejected {
        let id = rejected.event_id.as_deref().unwrap_or("?");
        let account = rejected.account.as_deref().unwrap_or("?");
        refused.push(format!("event {id} of account {account}: {}", rejected.reject));
    }
    if let Some(first) = refused.first() {
        return Err(Error::RerateRejected { period: target, count: refused.len(), first: first.clone() });
    }
    // Records for earlier periods (a catch-up over months without rows of
    // the account) stay in those periods' version; none is later.
    assert!(out.rated.iter().all(|r| r.period <= target), "rerating {target} books nothing after it");
    out.rated.retain(|r| r.period == target);
    out.facts.retain(|f| f.period == target);
    out.actions.clear();
    Ok((out, earlier_rejected))
}

/// Each rerated account's two versions compared.
fn differences(
    scope: &BTreeSet<String>,
    before: &BTreeMap<String, (String, Amounts)>,
    before_records: &HashMap<(String, String), RecordKey>,
    out: &Output,
) -> Vec<AccountDifference> {
    let mut accounts: BTreeMap<&str, AccountDifference> = scope
        .iter()
        .map(|account| {
            let (currency, amounts) = before.get(account).cloned().unwrap_or_default();
            let difference = AccountDifference {
                account: account.clone(),
                currency,
                before: amounts,
                after: Amounts::default(),
                records_changed: 0,
            };
            (account.as_str(), difference)
        })
        .collect();
    let mut unmatched: HashMap<&(String, String), &RecordKey> = before_records.iter().collect();
    for r in &out.rated {
        let Some(difference) = accounts.get_mut(&*r.account) else { continue };
        difference.currency = r.currency.as_str().to_string();
        difference.after.add(r.allowance_quantity, r.net, r.tax, r.gross);
        let key = RecordKey {
            account: r.account.to_string(),
            rated_quantity: r.rated_quantity,
            allowance_quantity: r.allowance_quantity,
            net: r.net,
            gross: r.gross,
        };
        match unmatched.remove(&(r.event_id.to_string(), kind_name(r.kind).to_string())) {
            Some(old) if *old == key => {}
            _ => difference.records_changed += 1,
        }
    }
    for (_, old) in unmatched {
        if let Some(difference) = accounts.get_mut(old.account.as_str()) {
            difference.records_changed += 1;
        }
    }
    accounts.into_values().collect()
}

/// The `rated` totals of amounts, in the ledger's units.
fn rated_totals<'a>(amounts: impl IntoIterator<Item = &'a Amounts>) -> Totals {
    let mut totals = Totals::zero(Table::Rated);
    for a in amounts {
        let mut one = Totals::zero(Table::Rated);
        one.rows = a.rows;
        for (name, value) in [("gross", a.gross), ("net", a.net), ("tax", a.tax)] {
            one.sums.insert(name.to_string(), to_units(value));
        }
        totals.add(&one);
    }
    totals
}

/// The totals of record batches grouped by partition, per table.
fn sum_parts(parts: &BTreeMap<(Table, NaiveDate), Vec<RecordBatch>>) -> BTreeMap<Table, Totals> {
    let mut totals = BTreeMap::new();
    for ((table, _), batches) in parts {
        for batch in batches {
            totals.entry(*table).or_insert_with(|| Totals::zero(*table)).add(&Totals::of_batch(*table, batch));
        }
    }
    totals
}
