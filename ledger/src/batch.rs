//! The rater's records as Arrow record batches of the ledger's tables.
//!
//! Conversion never rounds: every amount and quantity goes through
//! [`to_units`], which asserts that it fits `Decimal128(38, 10)` exactly, and
//! every time through [`to_micros`], which asserts whole microseconds.
//! The rater's decoder refuses, at the input boundary, any event whose
//! values would not fit, so these assertions guard against bugs only.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, Decimal128Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use chrono::{DateTime, SubsecRound, Utc};
use ratewire_rater::{Fact, Name, Rated, RecordKind, Rejected};

use crate::Error;
use crate::schema::{DECIMAL_PRECISION, DECIMAL_SCALE, TIME_ZONE, Table, list_item};
use crate::totals::to_units;

/// A reject as the ledger books it: the rater's [`Rejected`] with the
/// payload and where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedEvent {
    /// Code, message, event id and account as far as known.
    pub rejected: Rejected,
    /// The event time, when the payload decoded that far. Booked to the
    /// microsecond, truncated if need be: the payload has it as sent.
    pub event_time: Option<DateTime<Utc>>,
    /// The payload exactly as received (it may not be UTF-8).
    pub payload: Vec<u8>,
    /// Where it was read: a topic, or a file name.
    pub source: Name,
    /// The source's partition (0 for a file).
    pub partition: i32,
    /// Its offset in the partition (the line number, from 1, for a file).
    pub offset: i64,
}

/// The name a record kind has in the ledger (and in the rater's JSON).
#[must_use]
pub fn kind_name(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Usage => "usage",
        RecordKind::Recurring => "recurring",
        RecordKind::Payment => "payment",
        RecordKind::Topup => "topup",
        RecordKind::Adjustment => "adjustment",
        RecordKind::Subscription => "subscription",
        RecordKind::SupportContact => "support_contact",
        RecordKind::Block => "block",
        RecordKind::Unblock => "unblock",
        RecordKind::Grant => "grant",
        RecordKind::Expiry => "expiry",
    }
}

/// A time as microseconds since the epoch.
///
/// # Panics
/// If the time has a fraction of a microsecond, which the ledger would lose.
#[must_use]
pub fn to_micros(time: DateTime<Utc>) -> i64 {
    assert!(
        time.timestamp_subsec_nanos().is_multiple_of(1000),
        "{time} has a fraction of a microsecond: the ledger would lose it"
    );
    time.timestamp_micros()
}

/// How many rows ahead a pass over records starts loading them.
const PREFETCH_ROWS: usize = 4;

/// Starts loading the record [`PREFETCH_ROWS`] after `i`: records are
/// visited sorted by account, so each one sits at a random place in the
/// rater's chunks, and a pass that waits for each in turn spends most of
/// its time waiting.
#[inline]
pub(crate) fn prefetch_ahead(records: &[&Rated], i: usize) {
    if let Some(ahead) = records.get(i + PREFETCH_ROWS) {
        ahead.prefetch();
    }
}

/// The `rated` rows of `records`, in the given order.
///
/// # Errors
/// Only if the columns disagree with the schema (a bug).
///
/// # Panics
/// If a value does not fit its column (see [`to_units`], [`to_micros`]).
pub fn rated_batch(records: &[&Rated]) -> Result<RecordBatch, Error> {
    let n = records.len();
    let mut event_id = StringBuilder::with_capacity(n, n * 16);
    let mut account = StringBuilder::with_capacity(n, n * 8);
    let mut event_time = times(n);
    let mut kind = StringBuilder::with_capacity(n, n * 8);
    let mut service = StringBuilder::with_capacity(n, n * 8);
    let mut zone = StringBuilder::with_capacity(n, n * 8);
    let mut money: [Decimal128Builder; 9] = std::array::from_fn(|_| Decimal128Builder::with_capacity(n));
    let mut currency = StringBuilder::with_capacity(n, n * 3);
    let mut partner = StringBuilder::with_capacity(n, 0);
    let mut tariff = StringBuilder::with_capacity(n, n * 16);
    let mut discounts = ListBuilder::new(StringBuilder::new()).with_field(list_item());
    let mut catalog_version = StringBuilder::with_capacity(n, n * 8);
    let mut original_period = StringBuilder::with_capacity(n, 0);
    let mut destination = StringBuilder::with_capacity(n, n * 12);
    let mut device = StringBuilder::with_capacity(n, 0);
    for (i, r) in records.iter().enumerate() {
        prefetch_ahead(records, i);
        assert!(
            r.original_period.is_none_or(|p| p < r.period),
            "{}: a late record is booked in a period after its own",
            r.event_id
        );
        event_id.append_value(&r.event_id);
        account.append_value(&r.account);
        event_time.append_value(to_micros(r.event_time));
        kind.append_value(kind_name(r.kind));
        service.append_value(r.service);
        zone.append_option(r.zone.as_deref());
        // The decimal columns in schema order.
        let values = [
            r.quantity,
            r.rated_quantity,
            r.allowance_quantity,
            r.charge,
            r.discount,
            r.net,
            r.tax,
            r.gross,
            r.partner_share,
        ];
        for (builder, value) in money.iter_mut().zip(values) {
            builder.append_value(to_units(value));
        }
        currency.append_value(r.currency.as_str());
        partner.append_option(r.partner.as_deref());
        tariff.append_option(r.tariff.as_deref());
        for d in &r.discounts {
            discounts.values().append_value(d);
        }
        discounts.append(true);
        catalog_version.append_value(r.catalog_version);
        original_period.append_option(r.original_period.map(|p| p.to_string()));
        destination.append_option(r.destination.as_deref());
        device.append_option(r.device.as_deref());
    }
    let [quantity, rated_quantity, allowance_quantity, charge, discount, net, tax, gross, partner_share] =
        money.map(|mut b| decimals(&mut b));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(event_id.finish()),
        Arc::new(account.finish()),
        Arc::new(event_time.finish()),
        Arc::new(kind.finish()),
        Arc::new(service.finish()),
        Arc::new(zone.finish()),
        quantity?,
        rated_quantity?,
        allowance_quantity?,
        charge?,
        discount?,
        net?,
        tax?,
        gross?,
        Arc::new(currency.finish()),
        Arc::new(partner.finish()),
        partner_share?,
        Arc::new(tariff.finish()),
        Arc::new(discounts.finish()),
        Arc::new(catalog_version.finish()),
        Arc::new(original_period.finish()),
        Arc::new(destination.finish()),
        Arc::new(device.finish()),
    ];
    Ok(RecordBatch::try_new(Table::Rated.schema(), columns)?)
}

/// The `draws` rows of `records`: each record's draws in order.
///
/// # Errors
/// Only if the columns disagree with the schema (a bug).
///
/// # Panics
/// If a value does not fit its column (see [`to_units`], [`to_micros`]).
pub fn draws_batch(records: &[&Rated]) -> Result<RecordBatch, Error> {
    let n: usize = records.iter().map(|r| r.draws.len()).sum();
    let mut event_id = StringBuilder::with_capacity(n, n * 16);
    let mut account = StringBuilder::with_capacity(n, n * 8);
    let mut event_time = times(n);
    let mut draw_index = Int32Builder::with_capacity(n);
    let mut balance = StringBuilder::with_capacity(n, n * 8);
    let mut amount = Decimal128Builder::with_capacity(n);
    let mut remaining = Decimal128Builder::with_capacity(n);
    for (at, r) in records.iter().enumerate() {
        prefetch_ahead(records, at);
        for (i, draw) in r.draws.iter().enumerate() {
            event_id.append_value(&r.event_id);
            account.append_value(&r.account);
            event_time.append_value(to_micros(r.event_time));
            // A record has a handful of draws: one per balance at most.
            draw_index.append_value(i32::try_from(i).unwrap_or(i32::MAX));
            balance.append_value(draw.balance);
            amount.append_value(to_units(draw.amount));
            remaining.append_value(to_units(draw.remaining));
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(event_id.finish()),
        Arc::new(account.finish()),
        Arc::new(event_time.finish()),
        Arc::new(draw_index.finish()),
        Arc::new(balance.finish()),
        decimals(&mut amount)?,
        decimals(&mut remaining)?,
    ];
    Ok(RecordBatch::try_new(Table::Draws.schema(), columns)?)
}

/// The `rejects` rows of `rejects`, in the given order, each booked at
/// `booked_at`.
///
/// # Errors
/// Only if the columns disagree with the schema (a bug).
///
/// # Panics
/// If a time has a fraction of a microsecond (see [`to_micros`]).
pub fn rejects_batch(rejects: &[&RejectedEvent], booked_at: DateTime<Utc>) -> Result<RecordBatch, Error> {
    let n = rejects.len();
    let mut account = StringBuilder::with_capacity(n, n * 8);
    let mut event_time = times(n);
    let mut code = Int32Builder::with_capacity(n);
    let mut code_name = StringBuilder::with_capacity(n, n * 16);
    let mut field = StringBuilder::with_capacity(n, n * 8);
    let mut message = StringBuilder::with_capacity(n, n * 64);
    let mut event_id = StringBuilder::with_capacity(n, n * 16);
    let mut payload = BinaryBuilder::with_capacity(n, rejects.iter().map(|r| r.payload.len()).sum());
    let mut catalog_version = StringBuilder::with_capacity(n, n * 8);
    let mut source = StringBuilder::with_capacity(n, n * 16);
    let mut source_partition = Int32Builder::with_capacity(n);
    let mut source_offset = Int64Builder::with_capacity(n);
    let mut booked = times(n);
    let booked_micros = to_micros(booked_at);
    for r in rejects {
        let rejected = &r.rejected;
        account.append_option(rejected.account.as_deref());
        event_time.append_option(r.event_time.map(|t| to_micros(t.trunc_subsecs(6))));
        code.append_value(i32::from(rejected.reject.code.number()));
        code_name.append_value(rejected.reject.code.name());
        field.append_option(rejected.reject.field);
        message.append_value(&rejected.reject.message);
        event_id.append_option(rejected.event_id.as_deref());
        payload.append_value(&r.payload);
        catalog_version.append_value(rejected.catalog_version);
        source.append_value(r.source);
        source_partition.append_value(r.partition);
        source_offset.append_value(r.offset);
        booked.append_value(booked_micros);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(account.finish()),
        Arc::new(event_time.finish()),
        Arc::new(code.finish()),
        Arc::new(code_name.finish()),
        Arc::new(field.finish()),
        Arc::new(message.finish()),
        Arc::new(event_id.finish()),
        Arc::new(payload.finish()),
        Arc::new(catalog_version.finish()),
        Arc::new(source.finish()),
        Arc::new(source_partition.finish()),
        Arc::new(source_offset.finish()),
        Arc::new(booked.finish()),
    ];
    Ok(RecordBatch::try_new(Table::Rejects.schema(), columns)?)
}

/// The `facts` rows of `facts`, in the given order.
///
/// # Errors
/// Only if the columns disagree with the schema (a bug).
///
/// # Panics
/// If a value does not fit its column (see [`to_units`], [`to_micros`]).
pub fn facts_batch(facts: &[&Fact]) -> Result<RecordBatch, Error> {
    let n = facts.len();
    let mut event_id = StringBuilder::with_capacity(n, n * 16);
    let mut account = StringBuilder::with_capacity(n, n * 8);
    let mut event_time = times(n);
    let mut kind = StringBuilder::with_capacity(n, n * 8);
    let mut source = StringBuilder::with_capacity(n, n * 5);
    let mut amount = Decimal128Builder::with_capacity(n);
    let mut currency = StringBuilder::with_capacity(n, n * 3);
    let mut action = StringBuilder::with_capacity(n, 0);
    let mut plan = StringBuilder::with_capacity(n, 0);
    let mut previous_plan = StringBuilder::with_capacity(n, 0);
    let mut channel = StringBuilder::with_capacity(n, 0);
    let mut reason = StringBuilder::with_capacity(n, n * 8);
    let mut owed = Decimal128Builder::with_capacity(n);
    let mut owed_due_at = times(n);
    let mut catalog_version = StringBuilder::with_capacity(n, n * 8);
    for f in facts {
        event_id.append_value(&f.event_id);
        account.append_value(&f.account);
        event_time.append_value(to_micros(f.event_time));
        kind.append_value(f.kind.name());
        source.append_value(f.source.name());
        amount.append_value(to_units(f.amount));
        currency.append_value(f.currency.as_str());
        action.append_option(f.action.map(|a| a.name()));
        plan.append_option(f.plan.as_deref());
        previous_plan.append_option(f.previous_plan.as_deref());
        channel.append_option(f.channel.as_deref());
        reason.append_option(f.reason.as_deref());
        owed.append_option(f.owed.map(to_units));
        owed_due_at.append_option(f.owed_due_at.map(to_micros));
        catalog_version.append_value(f.catalog_version);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(event_id.finish()),
        Arc::new(account.finish()),
        Arc::new(event_time.finish()),
        Arc::new(kind.finish()),
        Arc::new(source.finish()),
        decimals(&mut amount)?,
        Arc::new(currency.finish()),
        Arc::new(action.finish()),
        Arc::new(plan.finish()),
        Arc::new(previous_plan.finish()),
        Arc::new(channel.finish()),
        Arc::new(reason.finish()),
        decimals(&mut owed)?,
        Arc::new(owed_due_at.finish()),
        Arc::new(catalog_version.finish()),
    ];
    Ok(RecordBatch::try_new(Table::Facts.schema(), columns)?)
}

fn times(n: usize) -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::with_capacity(n).with_timezone(TIME_ZONE)
}

fn decimals(builder: &mut Decimal128Builder) -> Result<ArrayRef, Error> {
    Ok(Arc::new(builder.finish().with_precision_and_scale(DECIMAL_PRECISION, DECIMAL_SCALE)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{dec, fact, rated, rejected, time};
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Decimal128Type, Int32Type, TimestampMicrosecondType};
    use ratewire_rater::time::Period;

    #[test]
    fn rated_rows_keep_every_value_exactly() {
        let mut r = rated("e1", "A1", "2026-11-03T10:00:00.123456Z", Period::new(2026, 11), "0.1234567891");
        r.zone = Some("eu".into());
        r.discounts = vec!["welcome".into(), "loyal".into()].into();
        r.partner = Some("p1".into());
        r.partner_share = dec("-0.0000000001");
        let plain = rated("e2", "A2", "2026-11-03T11:00:00Z", Period::new(2026, 11), "2");
        let batch = rated_batch(&[&r, &plain]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(batch.schema(), Table::Rated.schema());
        assert_eq!(batch.num_rows(), 2);

        let net = batch.column_by_name("net").map(|c| c.as_primitive::<Decimal128Type>().clone());
        let net = net.unwrap_or_else(|| panic!("net"));
        assert_eq!(net.value_as_string(0), "0.1234567891");
        assert_eq!(net.value_as_string(1), "2.0000000000");
        let share = batch.column_by_name("partner_share").map(|c| c.as_primitive::<Decimal128Type>().value(0));
        assert_eq!(share, Some(-1));
        let at = batch.column_by_name("event_time").map(|c| c.as_primitive::<TimestampMicrosecondType>().value(0));
        assert_eq!(at, Some(time("2026-11-03T10:00:00.123456Z").timestamp_micros()));

        let zone = batch.column_by_name("zone").map(|c| c.as_string::<i32>().clone()).unwrap_or_else(|| panic!());
        assert_eq!((zone.value(0), zone.is_null(1)), ("eu", true));
        let discounts =
            batch.column_by_name("discounts").map(|c| c.as_list::<i32>().clone()).unwrap_or_else(|| panic!());
        let first = discounts.value(0);
        let first: Vec<&str> = first.as_string::<i32>().iter().flatten().collect();
        assert_eq!(first, ["welcome", "loyal"]);
        assert_eq!(discounts.value(1).len(), 0);
        let kind = batch.column_by_name("kind").map(|c| c.as_string::<i32>().value(0).to_string());
        assert_eq!(kind.as_deref(), Some("usage"));
    }

    #[test]
    fn draws_follow_their_records_in_order() {
        let mut r = rated("e1", "A1", "2026-11-03T10:00:00Z", Period::new(2026, 11), "1");
        r.draws.insert(0, ratewire_rater::Draw { balance: "minutes".into(), amount: dec("60"), remaining: dec("0") });
        let none = {
            let mut n = rated("e2", "A1", "2026-11-03T11:00:00Z", Period::new(2026, 11), "0");
            n.draws.clear();
            n
        };
        let batch = draws_batch(&[&r, &none]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(batch.num_rows(), 2);
        let index = batch.column_by_name("draw_index").map(|c| c.as_primitive::<Int32Type>().values().to_vec());
        assert_eq!(index, Some(vec![0, 1]));
        let balance = batch.column_by_name("balance").map(|c| c.as_string::<i32>().value(0).to_string());
        assert_eq!(balance.as_deref(), Some("minutes"));
    }

    #[test]
    fn rejects_keep_the_payload_bytes_and_unknown_fields_as_null() {
        let mut known = rejected(7, Some("A1"));
        // Rejected perhaps for this very time: booked to the microsecond.
        known.event_time = Some(time("2026-11-03T10:00:00.0000019Z"));
        let unknown = rejected(8, None);
        let booked = time("2026-11-04T00:00:00Z");
        let batch = rejects_batch(&[&known, &unknown], booked).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(batch.schema(), Table::Rejects.schema());
        let payload = batch.column_by_name("payload").map(|c| c.as_binary::<i32>().value(1).to_vec());
        assert_eq!(payload.as_deref(), Some(&b"\xff{not json"[..]));
        let account = batch.column_by_name("account").map(|c| c.is_null(1));
        assert_eq!(account, Some(true));
        let code = batch.column_by_name("code").map(|c| c.as_primitive::<Int32Type>().value(0));
        assert_eq!(code, Some(1001));
        let at = batch.column_by_name("event_time").map(|c| c.as_primitive::<TimestampMicrosecondType>().value(0));
        assert_eq!(at, Some(time("2026-11-03T10:00:00.000001Z").timestamp_micros()));
    }

    #[test]
    fn facts_keep_every_value_and_leave_what_does_not_apply_null() {
        let mut payment = fact("p1", "A1", "2026-12-16T10:00:00.000001Z", "10.0000000001");
        payment.owed = Some(dec("20.50"));
        payment.owed_due_at = Some(time("2026-12-14T23:00:00Z"));
        let mut cancel = fact("c1", "A1", "2026-12-17T10:00:00Z", "0");
        cancel.kind = ratewire_rater::FactKind::Subscription;
        cancel.action = Some(ratewire_rater::event::SubscriptionAction::Cancel);
        cancel.plan = Some("small".into());
        cancel.previous_plan = Some("small".into());
        cancel.owed = None;
        let batch = facts_batch(&[&payment, &cancel]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(batch.schema(), Table::Facts.schema());
        let column = |name: &str| batch.column_by_name(name).cloned().unwrap_or_else(|| panic!("{name}"));
        let amount = column("amount");
        let amount = amount.as_primitive::<Decimal128Type>();
        assert_eq!(
            (amount.value_as_string(0), amount.value_as_string(1)),
            ("10.0000000001".into(), "0.0000000000".into())
        );
        let owed = column("owed");
        let owed = owed.as_primitive::<Decimal128Type>();
        assert_eq!((owed.value_as_string(0), owed.is_null(1)), ("20.5000000000".into(), true));
        let due = column("owed_due_at");
        let due = due.as_primitive::<TimestampMicrosecondType>();
        assert_eq!((due.value(0), due.is_null(1)), (time("2026-12-14T23:00:00Z").timestamp_micros(), true));
        let at = column("event_time");
        let micros = time("2026-12-16T10:00:00.000001Z").timestamp_micros();
        assert_eq!(at.as_primitive::<TimestampMicrosecondType>().value(0), micros);
        let text = |name: &str, row: usize| {
            let c = column(name);
            let c = c.as_string::<i32>();
            (!c.is_null(row)).then(|| c.value(row).to_string())
        };
        assert_eq!(text("kind", 0).as_deref(), Some("payment"));
        assert_eq!(text("kind", 1).as_deref(), Some("subscription"));
        assert_eq!(text("source", 1).as_deref(), Some("event"));
        assert_eq!((text("action", 0), text("action", 1).as_deref()), (None, Some("cancel")));
        assert_eq!((text("plan", 1), text("previous_plan", 1)), (Some("small".into()), Some("small".into())));
        assert_eq!((text("channel", 0), text("reason", 0)), (None, None));
    }

    #[test]
    #[should_panic(expected = "more than 10 decimals")]
    fn a_fact_amount_the_ledger_would_round_is_refused() {
        let f = fact("p1", "A1", "2026-12-16T10:00:00Z", "0.00000000001");
        let _ = facts_batch(&[&f]);
    }

    #[test]
    fn kind_names_are_the_raters() {
        use RecordKind::*;
        for kind in
            [Usage, Recurring, Payment, Topup, Adjustment, Subscription, SupportContact, Block, Unblock, Grant, Expiry]
        {
            assert_eq!(serde_json::to_value(kind).ok(), Some(serde_json::Value::from(kind_name(kind))));
        }
    }

    #[test]
    #[should_panic(expected = "fraction of a microsecond")]
    fn a_nanosecond_is_refused() {
        let _ = to_micros(time("2026-11-03T10:00:00.000000001Z"));
    }

    #[test]
    #[should_panic(expected = "more than 10 decimals")]
    fn an_amount_the_ledger_would_round_is_refused() {
        let r = rated("e1", "A1", "2026-11-03T10:00:00Z", Period::new(2026, 11), "0.00000000001");
        let _ = rated_batch(&[&r]);
    }
}
