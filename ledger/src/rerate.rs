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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::ops::ControlFlow;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int32Type, TimestampMicrosecondType};
use arrow_array::{Array, BooleanArray, RecordBatch};
use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use ratewire_rater::event::{Money, SubscriptionAction, Usage};
use ratewire_rater::time::Period;
use ratewire_rater::{Accounts, Body, Event, Fact, Output, Rated, Rater, RaterConfig, Tables};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::batch::{draws_batch, facts_batch, kind_name, rated_batch};
use crate::close::PERIOD_TABLES;
use crate::commit::{Ledger, Step, by_table, subtract};
use crate::compact::{partition_of, sorted};
use crate::error::{Error, io};
use crate::manifest::{CommitKind, DataFile, Manifest, in_ledger};
use crate::schema::{DECIMAL_SCALE, Table};
use crate::snapshot::{check_totals, read_file};
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

/// A booked event to rate again, with how it sorts among its account's
/// events of a period.
struct Replay {
    event: Event,
    rank: u8,
}

/// Rows read from the period's files and those before.
#[derive(Default)]
struct Read {
    /// Events by booked period, then account.
    events: BTreeMap<Period, BTreeMap<String, Vec<Replay>>>,
    /// The period's rows of accounts not rerated, per partition.
    kept: BTreeMap<(Table, NaiveDate), Vec<RecordBatch>>,
    /// The period's `rated` rows of rerated accounts, per account.
    before: BTreeMap<String, (String, Amounts)>,
    /// The same by event id and kind, for counting changed records.
    before_records: HashMap<(String, String), RecordKey>,
    /// Lifecycle `rated` rows, by event id: the period booked and kind.
    /// Each is rated again from its fact.
    lifecycle: BTreeMap<String, (Period, String)>,
    /// Balances other than `main` that records drew on first, by event id:
    /// where a top-up or adjustment went.
    balances: HashMap<String, String>,
    /// Facts of booked events, by event id.
    facts: HashMap<String, FactRow>,
}

/// What tells a record's two versions apart.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RecordKey {
    account: String,
    rated_quantity: Decimal,
    allowance_quantity: Decimal,
    net: Decimal,
    gross: Decimal,
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

    /// Reads the period's files: the rows of the accounts to rerate (whose
    /// ids it returns) as events and amounts, the others' rows as they are.
    fn read_rerated(
        &self,
        files: &[DataFile],
        options: &RerateOptions,
        read: &mut Read,
    ) -> Result<BTreeSet<String>, Error> {
        // The accounts to rerate: those with `rated` rows, less those not asked for.
        let mut scope = BTreeSet::new();
        for file in files.iter().filter(|f| f.table == Table::Rated) {
            self.each_batch(file, &mut |batch| {
                let accounts = batch.column_by_name("account").map(|c| c.as_string::<i32>());
                for account in accounts.into_iter().flat_map(|a| a.iter().flatten()) {
                    if options.only.as_ref().is_none_or(|only| only.contains(account)) && !scope.contains(account) {
                        scope.insert(account.to_string());
                    }
                }
                Ok(())
            })?;
        }
        for file in files {
            let Some(partition) = partition_of(file) else { continue };
            let mut kept = Vec::new();
            self.each_batch(file, &mut |batch| {
                let accounts = batch.column_by_name("account").map(|c| c.as_string::<i32>());
                let mask: BooleanArray = accounts
                    .into_iter()
                    .flat_map(|a| a.iter())
                    .map(|a| Some(!a.is_some_and(|a| scope.contains(a))))
                    .collect();
                let others = arrow_select::filter::filter_record_batch(&batch, &mask)?;
                if others.num_rows() > 0 {
                    kept.push(others);
                }
                collect(file, &batch, partition.period, true, &scope, read)
            })?;
            if !kept.is_empty() {
                read.kept.entry((file.table, partition.day)).or_default().extend(kept);
            }
        }
        Ok(scope)
    }

    /// Reads an earlier period's file for the events of the accounts in `scope`.
    fn read_events(&self, file: &DataFile, scope: &BTreeSet<String>, read: &mut Read) -> Result<(), Error> {
        let Some(partition) = partition_of(file) else { return Ok(()) };
        self.each_batch(file, &mut |batch| collect(file, &batch, partition.period, false, scope, read))
    }

    /// Reads one committed file, checking it against its manifest entry.
    fn each_batch(&self, file: &DataFile, each: &mut dyn FnMut(RecordBatch) -> Result<(), Error>) -> Result<(), Error> {
        let path = in_ledger(&self.dir, &file.path);
        let opened = File::open(&path).map_err(io(&path))?;
        let mut result = Ok(());
        let read = read_file(opened, &path, file.table, &mut |batch| {
            if result.is_ok() {
                result = each(batch);
            }
        })?;
        result?;
        check_totals(&self.dir, file, &read)
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

/// Takes in one batch of a file of `period` (the period rerated when
/// `target`): the rows of the accounts in `scope`.
fn collect(
    file: &DataFile,
    batch: &RecordBatch,
    period: Period,
    target: bool,
    scope: &BTreeSet<String>,
    read: &mut Read,
) -> Result<(), Error> {
    let columns = Columns { batch, file };
    let accounts = columns.strings("account")?;
    let ids = columns.strings("event_id")?;
    let times = columns.times("event_time")?;
    let rows = (0..batch.num_rows()).filter(|row| scope.contains(accounts.value(*row)));
    match file.table {
        Table::Rated => {
            let (kinds, services, zones) =
                (columns.strings("kind")?, columns.strings("service")?, columns.strings("zone")?);
            let (destinations, devices) = (columns.strings("destination")?, columns.strings("device")?);
            let currencies = columns.strings("currency")?;
            let (quantity, rated_quantity) = (columns.decimals("quantity")?, columns.decimals("rated_quantity")?);
            let allowance = columns.decimals("allowance_quantity")?;
            let (net, tax, gross) = (columns.decimals("net")?, columns.decimals("tax")?, columns.decimals("gross")?);
            for row in rows {
                let (account, id, kind) = (accounts.value(row), ids.value(row), kinds.value(row));
                if target {
                    let (_, amounts) = read
                        .before
                        .entry(account.to_string())
                        .or_insert_with(|| (currencies.value(row).to_string(), Amounts::default()));
                    let key = RecordKey {
                        account: account.to_string(),
                        rated_quantity: decimal(rated_quantity, row),
                        allowance_quantity: decimal(allowance, row),
                        net: decimal(net, row),
                        gross: decimal(gross, row),
                    };
                    amounts.add(key.allowance_quantity, key.net, decimal(tax, row), key.gross);
                    read.before_records.insert((id.to_string(), kind.to_string()), key);
                }
                match kind {
                    "usage" => {
                        let destination = text(destinations, row);
                        if let (Some(zone), None) = (text(zones, row), destination) {
                            return Err(Error::CannotRerate {
                                period,
                                reason: format!(
                                    "{}: usage {id} was priced for zone {zone}, but the file keeps no destination \
                                     (written before rerating existed)",
                                    file.path
                                ),
                            });
                        }
                        let usage = Usage {
                            service: services.value(row).to_string(),
                            quantity: decimal(quantity, row),
                            unit: None,
                            destination: destination.map(str::to_string),
                            device: text(devices, row).map(str::to_string),
                            apn: None,
                        };
                        let event = Event {
                            id: id.to_string(),
                            account: account.to_string(),
                            time: time(times, row),
                            body: Body::Usage(usage),
                        };
                        read.events
                            .entry(period)
                            .or_default()
                            .entry(account.to_string())
                            .or_default()
                            .push(Replay { event, rank: 1 });
                    }
                    // Generated by the rater at period boundaries and plan
                    // changes: rating again generates them again.
                    "recurring" | "grant" | "expiry" => {}
                    _ => {
                        read.lifecycle.insert(id.to_string(), (period, kind.to_string()));
                    }
                }
            }
        }
        Table::Facts => {
            let (kinds, sources, amounts) =
                (columns.strings("kind")?, columns.strings("source")?, columns.decimals("amount")?);
            let (actions, plans) = (columns.strings("action")?, columns.strings("plan")?);
            let (channels, reasons) = (columns.strings("channel")?, columns.strings("reason")?);
            for row in rows.filter(|row| sources.value(*row) == "event") {
                let fact = FactRow {
                    account: accounts.value(row).to_string(),
                    time: time(times, row),
                    kind: kinds.value(row).to_string(),
                    amount: decimal(amounts, row),
                    action: text(actions, row).map(str::to_string),
                    plan: text(plans, row).map(str::to_string),
                    channel: text(channels, row).map(str::to_string),
                    reason: text(reasons, row).map(str::to_string),
                };
                read.facts.insert(ids.value(row).to_string(), fact);
            }
        }
        Table::Draws => {
            let (indexes, balances) = (columns.ints("draw_index")?, columns.strings("balance")?);
            for row in rows.filter(|row| indexes.value(*row) == 0 && balances.value(*row) != MAIN) {
                read.balances.insert(ids.value(row).to_string(), balances.value(row).to_string());
            }
        }
        Table::Rejects => {}
    }
    Ok(())
}

/// The main money balance's name, where money goes unless an event names
/// another.
const MAIN: &str = "main";

/// A fact of a booked lifecycle event.
struct FactRow {
    account: String,
    time: DateTime<Utc>,
    kind: String,
    amount: Decimal,
    action: Option<String>,
    plan: Option<String>,
    channel: Option<String>,
    reason: Option<String>,
}

/// Turns the lifecycle rows read back into events, each from its fact;
/// returns how many events the period `target` booked.
fn rebuild(target: Period, read: &mut Read) -> Result<u64, Error> {
    let cannot = |reason: String| Error::CannotRerate { period: target, reason };
    for (id, (period, kind)) in std::mem::take(&mut read.lifecycle) {
        let fact = read
            .facts
            .remove(&id)
            .ok_or_else(|| cannot(format!("the {kind} event {id} (booked in {period}) has no row in facts")))?;
        let money =
            |fact: &FactRow| Money { amount: fact.amount, currency: None, balance: read.balances.get(&id).cloned() };
        let (body, rank) = match fact.kind.as_str() {
            "payment" => (Body::Payment(Money { balance: None, ..money(&fact) }), 0),
            "topup" => (Body::TopUp(money(&fact)), 0),
            "adjustment" => (Body::Adjustment { money: money(&fact), reason: fact.reason.clone() }, 0),
            "subscription" => {
                let action = fact.action.as_deref().and_then(SubscriptionAction::parse).ok_or_else(|| {
                    cannot(format!("the subscription event {id} has no valid action in facts: {:?}", fact.action))
                })?;
                let plan = match action {
                    SubscriptionAction::Activate | SubscriptionAction::ChangePlan => fact.plan.clone(),
                    _ => None,
                };
                let rank = match action {
                    SubscriptionAction::Activate | SubscriptionAction::ChangePlan | SubscriptionAction::Resume => 0,
                    SubscriptionAction::Suspend | SubscriptionAction::Cancel => 2,
                };
                (Body::Subscription { action, plan }, rank)
            }
            "support_contact" => {
                (Body::SupportContact { channel: fact.channel.clone(), reason: fact.reason.clone() }, 2)
            }
            "block" => (Body::Block { reason: fact.reason.clone() }, 2),
            "unblock" => (Body::Unblock { reason: fact.reason.clone() }, 0),
            other => return Err(cannot(format!("the event {id} has a fact of kind {other}, not {kind}"))),
        };
        let event = Event { id, account: fact.account.clone(), time: fact.time, body };
        read.events.entry(period).or_default().entry(fact.account).or_default().push(Replay { event, rank });
    }
    let events = read.events.get(&target).map_or(0, |accounts| accounts.values().map(Vec::len).sum::<usize>());
    Ok(events as u64)
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
        match unmatched.remove(&(r.event_id.clone(), kind_name(r.kind).to_string())) {
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

/// Typed columns of a batch read from `file` (whose schema `read_file`
/// checked).
struct Columns<'a> {
    batch: &'a RecordBatch,
    file: &'a DataFile,
}

impl<'a> Columns<'a> {
    fn column(&self, name: &str) -> Result<&'a dyn Array, Error> {
        self.batch.column_by_name(name).map(AsRef::as_ref).ok_or_else(|| self.missing(name))
    }

    fn missing(&self, name: &str) -> Error {
        Error::Manifest {
            path: self.file.path.clone().into(),
            reason: format!("a {} file without the column {name}", self.file.table),
        }
    }

    fn strings(&self, name: &str) -> Result<&'a arrow_array::StringArray, Error> {
        self.column(name)?.as_string_opt::<i32>().ok_or_else(|| self.missing(name))
    }

    fn times(&self, name: &str) -> Result<&'a arrow_array::TimestampMicrosecondArray, Error> {
        self.column(name)?.as_primitive_opt::<TimestampMicrosecondType>().ok_or_else(|| self.missing(name))
    }

    fn decimals(&self, name: &str) -> Result<&'a arrow_array::Decimal128Array, Error> {
        self.column(name)?.as_primitive_opt::<Decimal128Type>().ok_or_else(|| self.missing(name))
    }

    fn ints(&self, name: &str) -> Result<&'a arrow_array::Int32Array, Error> {
        self.column(name)?.as_primitive_opt::<Int32Type>().ok_or_else(|| self.missing(name))
    }
}

fn text(column: &arrow_array::StringArray, row: usize) -> Option<&str> {
    column.is_valid(row).then(|| column.value(row))
}

fn decimal(column: &arrow_array::Decimal128Array, row: usize) -> Decimal {
    Decimal::from_i128_with_scale(column.value(row), DECIMAL_SCALE.unsigned_abs().into())
}

fn time(column: &arrow_array::TimestampMicrosecondArray, row: usize) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(column.value(row)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::Commit;
    use crate::manifest::SourceRange;
    use crate::snapshot::Snapshot;
    use crate::testing::time;
    use ratewire_rater::{catalog, decode};

    fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
        result.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Voice at `price` a minute, billed per started minute, with 300 s
    /// included each month.
    fn tables(version: &str, price: &str) -> Arc<Tables> {
        let text = format!(
            r#"
            version = "{version}"
            currency = "EUR"
            [services.voice]
            unit = "second"
            [balances.voice_s]
            unit = "second"
            priority = 10
            [[plans.basic.versions]]
            effective_from = 2026-01-01
            [[plans.basic.versions.grants]]
            balance = "voice_s"
            amount = 300
            [[plans.basic.versions.rates]]
            service = "voice"
            model = "per_unit"
            price = "{price}"
            rate_unit = 60
            increments = [60, 60]
            "#
        );
        Arc::new(ok(catalog::parse(&text, "catalog.toml")))
    }

    fn accounts() -> Arc<Accounts> {
        Arc::new(ok(Accounts::parse_csv("id,plan,time_zone\nA1,basic,UTC\nA2,basic,UTC\n", "accounts.csv")))
    }

    fn usage(id: &str, account: &str, at: &str, seconds: u32) -> Event {
        let line = format!(
            r#"{{"v":1,"id":"{id}","kind":"usage","account":"{account}","time":"{at}","service":"voice","quantity":{seconds},"destination":"4930123"}}"#
        );
        ok(decode(line.as_bytes()).map_err(|r| r.to_string()))
    }

    fn payment(id: &str, account: &str, at: &str, amount: &str) -> Event {
        let line = format!(
            r#"{{"v":1,"id":"{id}","kind":"payment","account":"{account}","time":"{at}","amount":"{amount}"}}"#
        );
        ok(decode(line.as_bytes()).map_err(|r| r.to_string()))
    }

    /// Rates `events` in the order given (arrival order) with the 0.10
    /// catalog, in one commit per event.
    fn ledger_of(dir: &std::path::Path, events: &[Event]) -> Ledger {
        let (mut ledger, _) = ok(Ledger::open(dir));
        let mut rater = Rater::new(tables("v1", "0.10"), accounts(), RaterConfig::default());
        for (offset, event) in (1..).zip(events) {
            let mut out = Output::default();
            rater.rate(event, event.time, &mut out);
            assert!(out.rejected.is_empty(), "{:?}", out.rejected);
            let offsets = [SourceRange { source: "events".into(), partition: 0, from: offset, to: offset + 1 }];
            let commit = Commit {
                rated: &out.rated,
                rejected: &[],
                facts: &out.facts,
                offsets: &offsets,
                checkpoint: b"state",
                booked_at: event.time,
            };
            ok(ledger.commit(&commit));
        }
        ledger
    }

    fn arrivals() -> Vec<Event> {
        vec![
            // A1's later call arrives first and takes the allowance.
            usage("e2", "A1", "2026-10-10T10:00:00Z", 240),
            usage("e1", "A1", "2026-10-05T10:00:00Z", 180),
            usage("e3", "A1", "2026-10-20T10:00:00Z", 60),
            payment("p1", "A1", "2026-10-25T10:00:00Z", "0.30"),
            usage("e4", "A2", "2026-10-12T10:00:00Z", 420),
        ]
    }

    fn options(price: &str, only: Option<&[&str]>) -> RerateOptions {
        RerateOptions {
            period: ok(Period::parse("2026-10").ok_or("period")),
            tables: tables("v2", price),
            accounts: accounts(),
            only: only.map(|o| o.iter().map(|a| (*a).to_string()).collect()),
            now: time("2026-11-02T00:00:00Z"),
        }
    }

    /// `rated` rows of a snapshot: event id -> (allowance, net, catalog version).
    fn usage_rows(snapshot: &Snapshot) -> BTreeMap<String, (Decimal, Decimal, String)> {
        let mut rows = BTreeMap::new();
        for file in snapshot.files().iter().filter(|f| f.table == Table::Rated) {
            let (path, opened) = ok(snapshot.open_file(file));
            ok(read_file(opened, &path, Table::Rated, &mut |batch| {
                let c = Columns { batch: &batch, file };
                let (ids, kinds, versions) =
                    (ok(c.strings("event_id")), ok(c.strings("kind")), ok(c.strings("catalog_version")));
                let (allowance, net) = (ok(c.decimals("allowance_quantity")), ok(c.decimals("net")));
                for row in (0..batch.num_rows()).filter(|r| kinds.value(*r) == "usage") {
                    let value = (decimal(allowance, row), decimal(net, row), versions.value(row).to_string());
                    rows.insert(ids.value(row).to_string(), value);
                }
            }));
        }
        rows
    }

    fn row(allowance: i64, net: &str, version: &str) -> (Decimal, Decimal, String) {
        (Decimal::from(allowance), ok(net.parse::<Decimal>()), version.to_string())
    }

    #[test]
    fn rerating_reorders_by_event_time_and_prices_again_keeping_the_old_version() {
        let dir = ok(tempfile::tempdir());
        let mut ledger = ledger_of(dir.path(), &arrivals());
        let before = ok(Snapshot::open(dir.path()));
        // As booked, in arrival order: e2 (240 s) took 240 s of the 300,
        // e1 (180 s) the last 60 s and paid 2 minutes at 0.10, e3 paid 0.10.
        // A2's 420 s: 300 s included, 2 minutes at 0.10.
        let booked = usage_rows(&before);
        assert_eq!(booked["e2"], row(240, "0", "v1"));
        assert_eq!(booked["e1"], row(60, "0.20", "v1"));
        assert_eq!(booked["e3"], row(0, "0.10", "v1"));
        assert_eq!(booked["e4"], row(300, "0.20", "v1"));

        let report = ok(ledger.rerate(&options("0.08", None)));
        // In event-time order at 0.08: e1 takes 180 s, e2 the remaining
        // 120 s and pays 2 minutes (0.16), e3 pays 0.08. A1: 0.30 -> 0.24.
        // A2 pays its 2 minutes at 0.08: 0.20 -> 0.16.
        let after = ok(Snapshot::open(dir.path()));
        let rerated = usage_rows(&after);
        assert_eq!(rerated["e1"], row(180, "0", "v2"));
        assert_eq!(rerated["e2"], row(120, "0.16", "v2"));
        assert_eq!(rerated["e3"], row(0, "0.08", "v2"));
        assert_eq!(rerated["e4"], row(300, "0.16", "v2"));
        assert_eq!(report.sequence, before.sequence() + 1);
        assert_eq!((report.record.accounts, report.record.events), (2, 5));
        // Its payment of 0.30 is booked again as it was (net -0.30), so
        // A1's net goes from 0.30 - 0.30 = 0 to 0.24 - 0.30 = -0.06.
        let a1 = &report.accounts[0];
        assert_eq!((a1.account.as_str(), a1.before.net, a1.after.net), ("A1", Decimal::ZERO, ok("-0.06".parse())));
        assert_eq!((a1.before.rows, a1.after.rows), (5, 5), "a grant, three calls and a payment");
        assert_eq!(a1.records_changed, 3, "e1, e2, e3 changed; the payment and the grant did not");
        assert_eq!(report.accounts[1].records_changed, 1);

        // The version before stays readable, from the trash, and both
        // versions check against their manifests.
        assert_eq!(usage_rows(&ok(Snapshot::at(dir.path(), before.sequence()))), booked);
        ok(ok(Snapshot::at(dir.path(), before.sequence())).verify());
        assert_eq!(&ok(after.verify()), after.totals());
        // Offsets, positions and the checkpoint are those before.
        assert_eq!(after.positions(), before.positions());
        drop(ledger);
        let (ledger, recovery) = ok(Ledger::open(dir.path()));
        assert_eq!(recovery.checkpoint, b"state");
        assert_eq!(ledger.sequence(), report.sequence);
    }

    #[test]
    fn rerating_some_accounts_leaves_the_others_rows_as_they_were() {
        let dir = ok(tempfile::tempdir());
        let mut ledger = ledger_of(dir.path(), &arrivals());
        let booked = usage_rows(&ok(Snapshot::open(dir.path())));
        let report = ok(ledger.rerate(&options("0.08", Some(&["A2"]))));
        assert_eq!(report.accounts.len(), 1);
        let rerated = usage_rows(&ok(Snapshot::open(dir.path())));
        for id in ["e1", "e2", "e3"] {
            assert_eq!(rerated[id], booked[id], "{id} is A1's, not rerated");
        }
        assert_eq!(rerated["e4"], row(300, "0.16", "v2"));
    }

    #[test]
    fn a_rerate_that_cannot_book_every_event_again_writes_nothing() {
        let dir = ok(tempfile::tempdir());
        let mut ledger = ledger_of(dir.path(), &arrivals());
        let sequence = ledger.sequence();
        // A catalog without voice rates rejects the calls.
        let mut no_voice = options("0.08", None);
        no_voice.tables = Arc::new(ok(catalog::parse(
            "version = \"v3\"\ncurrency = \"EUR\"\n[services.sms]\nunit = \"message\"\n[[plans.basic.versions]]\neffective_from = 2026-01-01\n",
            "catalog.toml",
        )));
        let refused = ledger.rerate(&no_voice);
        assert!(matches!(&refused, Err(Error::RerateRejected { count: 4, .. })), "{refused:?}");
        // October is not over on the 20th; November holds no rows.
        let mut early = options("0.08", None);
        early.now = time("2026-10-20T00:00:00Z");
        assert!(matches!(ledger.rerate(&early), Err(Error::RerateNotOver { .. })));
        let mut empty = options("0.08", None);
        empty.period = ok(Period::parse("2026-09").ok_or("period"));
        assert!(matches!(ledger.rerate(&empty), Err(Error::NothingToRerate { .. })));
        assert!(matches!(
            ledger.rerate(&options("0.08", Some(&["A9"]))),
            Err(Error::NothingToRerate { limited: true, .. })
        ));
        assert_eq!(ledger.sequence(), sequence, "nothing was committed");
        // A closed period's rows are final.
        ok(ledger.close_period(&crate::CloseOptions { period: early.period, now: time("2026-11-02T00:00:00Z") }));
        assert!(matches!(ledger.rerate(&options("0.08", None)), Err(Error::RerateClosed { .. })));
    }

    #[test]
    fn a_crash_at_any_step_leaves_one_version_or_the_other() {
        let steps = [
            Step::FileWritten(0),
            Step::FileRenamed(0),
            Step::DirectoriesSynced,
            Step::ManifestWritten,
            Step::ManifestRenamed,
            Step::FileTrashed(0),
            Step::TrashSynced,
        ];
        for stop_at in steps {
            let dir = ok(tempfile::tempdir());
            let mut ledger = ledger_of(dir.path(), &arrivals());
            let booked = usage_rows(&ok(Snapshot::open(dir.path())));
            let result = ledger.rerate_with(&options("0.08", None), &mut |step| {
                if step == stop_at { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
            });
            assert!(matches!(result, Err(Error::Aborted(_))), "{stop_at:?}: {result:?}");
            drop(ledger);
            let (ledger, _) = ok(Ledger::open(dir.path()));
            let rows = usage_rows(&ok(Snapshot::open(dir.path())));
            let committed = matches!(stop_at, Step::ManifestRenamed | Step::FileTrashed(_) | Step::TrashSynced);
            if committed {
                assert_eq!(rows["e2"], row(120, "0.16", "v2"), "{stop_at:?}");
            } else {
                assert_eq!(rows, booked, "{stop_at:?}");
            }
            assert_eq!(&ok(ledger.verify()), ledger.totals(), "{stop_at:?}");
        }
    }
}
