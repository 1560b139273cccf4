//! Reading a ledger's rows back into the events they booked, for
//! rerating: usage from `rated`, lifecycle events from `facts` with the
//! balance of their first draw from `draws`; the period's rows of accounts
//! not rerated are kept as they are.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int32Type, TimestampMicrosecondType};
use arrow_array::{Array, BooleanArray, RecordBatch};
use chrono::{DateTime, NaiveDate, Utc};
use ratewire_rater::event::{Money, SubscriptionAction, Usage};
use ratewire_rater::time::Period;
use ratewire_rater::{Body, Event};
use rust_decimal::Decimal;

use super::{Amounts, RerateOptions};
use crate::commit::Ledger;
use crate::compact::partition_of;
use crate::error::{Error, io};
use crate::manifest::{DataFile, in_ledger};
use crate::schema::{DECIMAL_SCALE, Table};
use crate::snapshot::{check_totals, read_file};

/// A booked event to rate again, with how it sorts among its account's
/// events of a period.
pub(super) struct Replay {
    pub(super) event: Event,
    pub(super) rank: u8,
}

/// Rows read from the period's files and those before.
#[derive(Default)]
pub(super) struct Read {
    /// Events by booked period, then account.
    pub(super) events: BTreeMap<Period, BTreeMap<String, Vec<Replay>>>,
    /// The period's rows of accounts not rerated, per partition.
    pub(super) kept: BTreeMap<(Table, NaiveDate), Vec<RecordBatch>>,
    /// The period's `rated` rows of rerated accounts, per account.
    pub(super) before: BTreeMap<String, (String, Amounts)>,
    /// The same by event id and kind, for counting changed records.
    pub(super) before_records: HashMap<(String, String), RecordKey>,
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
pub(super) struct RecordKey {
    pub(super) account: String,
    pub(super) rated_quantity: Decimal,
    pub(super) allowance_quantity: Decimal,
    pub(super) net: Decimal,
    pub(super) gross: Decimal,
}

impl Ledger {
    /// Reads the period's files: the rows of the accounts to rerate (whose
    /// ids it returns) as events and amounts, the others' rows as they are.
    pub(super) fn read_rerated(
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
    pub(super) fn read_events(&self, file: &DataFile, scope: &BTreeSet<String>, read: &mut Read) -> Result<(), Error> {
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
                            service: services.value(row).into(),
                            quantity: decimal(quantity, row),
                            unit: None,
                            destination: destination.map(Into::into),
                            device: text(devices, row).map(Into::into),
                            apn: None,
                        };
                        let event = Event {
                            id: id.into(),
                            account: account.into(),
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
pub(super) fn rebuild(target: Period, read: &mut Read) -> Result<u64, Error> {
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
        let event = Event { id: id.into(), account: fact.account.as_str().into(), time: fact.time, body };
        read.events.entry(period).or_default().entry(fact.account).or_default().push(Replay { event, rank });
    }
    let events = read.events.get(&target).map_or(0, |accounts| accounts.values().map(Vec::len).sum::<usize>());
    Ok(events as u64)
}

/// Typed columns of a batch read from `file` (whose schema `read_file`
/// checked).
pub(super) struct Columns<'a> {
    pub(super) batch: &'a RecordBatch,
    pub(super) file: &'a DataFile,
}

impl<'a> Columns<'a> {
    pub(super) fn column(&self, name: &str) -> Result<&'a dyn Array, Error> {
        self.batch.column_by_name(name).map(AsRef::as_ref).ok_or_else(|| self.missing(name))
    }

    fn missing(&self, name: &str) -> Error {
        Error::Manifest {
            path: self.file.path.clone().into(),
            reason: format!("a {} file without the column {name}", self.file.table),
        }
    }

    pub(super) fn strings(&self, name: &str) -> Result<&'a arrow_array::StringArray, Error> {
        self.column(name)?.as_string_opt::<i32>().ok_or_else(|| self.missing(name))
    }

    pub(super) fn times(&self, name: &str) -> Result<&'a arrow_array::TimestampMicrosecondArray, Error> {
        self.column(name)?.as_primitive_opt::<TimestampMicrosecondType>().ok_or_else(|| self.missing(name))
    }

    pub(super) fn decimals(&self, name: &str) -> Result<&'a arrow_array::Decimal128Array, Error> {
        self.column(name)?.as_primitive_opt::<Decimal128Type>().ok_or_else(|| self.missing(name))
    }

    pub(super) fn ints(&self, name: &str) -> Result<&'a arrow_array::Int32Array, Error> {
        self.column(name)?.as_primitive_opt::<Int32Type>().ok_or_else(|| self.missing(name))
    }
}

fn text(column: &arrow_array::StringArray, row: usize) -> Option<&str> {
    column.is_valid(row).then(|| column.value(row))
}

pub(super) fn decimal(column: &arrow_array::Decimal128Array, row: usize) -> Decimal {
    Decimal::from_i128_with_scale(column.value(row), DECIMAL_SCALE.unsigned_abs().into())
}

fn time(column: &arrow_array::TimestampMicrosecondArray, row: usize) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(column.value(row)).unwrap_or_default()
}
