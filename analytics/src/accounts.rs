//! The `accounts` table: the accounts reference file (CSV or TOML), read by
//! the rater's own loader so that SQL sees the accounts exactly as rating
//! did.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, ListArray, RecordBatch, StringArray, StructArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use ratewire_ledger::{DECIMAL_PRECISION, DECIMAL_SCALE, decimal_type};
use ratewire_rater::{AccountStatus, Accounts};
use rust_decimal::Decimal;

use crate::error::Error;

/// The columns of the `accounts` table.
#[must_use]
pub fn accounts_schema() -> SchemaRef {
    let utf8 = |name, nullable| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        utf8("account", false),
        utf8("plan", true),
        utf8("currency", true),
        utf8("time_zone", false),
        utf8("partner", true),
        utf8("status", false),
        Field::new("credit_limit", decimal_type(), false),
        utf8("segment", true),
        utf8("tax_region", true),
        Field::new("activated", DataType::Date32, true),
        Field::new("balances", DataType::List(Arc::new(balance_item())), false),
    ]))
}

/// An opening balance: `{name, amount}`.
fn balance_fields() -> Fields {
    Fields::from(vec![Field::new("name", DataType::Utf8, false), Field::new("amount", decimal_type(), false)])
}

fn balance_item() -> Field {
    Field::new("item", DataType::Struct(balance_fields()), false)
}

/// The accounts as one record batch of [`accounts_schema`].
///
/// # Errors
/// [`Error::AccountAmount`] for an amount the ledger's decimal type cannot
/// hold exactly.
pub fn accounts_batch(accounts: &Accounts) -> Result<RecordBatch, Error> {
    let list = &accounts.list;
    let text =
        |f: &dyn Fn(usize) -> Option<String>| -> ArrayRef { Arc::new((0..list.len()).map(f).collect::<StringArray>()) };
    let amount = |account: &str, value: Decimal| {
        units(value).ok_or_else(|| Error::AccountAmount { account: account.to_string(), value: value.to_string() })
    };
    let credit_limits = list.iter().map(|a| amount(&a.id, a.credit_limit)).collect::<Result<Vec<i128>, Error>>()?;
    let epoch = chrono::DateTime::UNIX_EPOCH.date_naive();
    let activated: Date32Array = list
        .iter()
        .map(|a| a.activated.and_then(|d| i32::try_from(d.signed_duration_since(epoch).num_days()).ok()))
        .collect();

    let mut names = Vec::new();
    let mut amounts = Vec::new();
    let mut lengths = Vec::with_capacity(list.len());
    for account in list {
        lengths.push(account.balances.len());
        for (name, value) in &account.balances {
            names.push(name.clone());
            amounts.push(amount(&account.id, *value)?);
        }
    }
    let items = StructArray::try_new(
        balance_fields(),
        vec![Arc::new(StringArray::from(names)), Arc::new(decimal_array(amounts)?)],
        None,
    )?;
    let balances =
        ListArray::try_new(Arc::new(balance_item()), OffsetBuffer::from_lengths(lengths), Arc::new(items), None)?;

    let columns: Vec<ArrayRef> = vec![
        text(&|i| Some(list[i].id.to_string())),
        text(&|i| list[i].plan.clone()),
        text(&|i| list[i].currency.map(|c| c.as_str().to_string())),
        text(&|i| Some(list[i].time_zone.name().to_string())),
        text(&|i| list[i].partner.clone()),
        text(&|i| Some(status_name(list[i].status).to_string())),
        Arc::new(decimal_array(credit_limits)?),
        text(&|i| list[i].segment.clone()),
        text(&|i| list[i].tax_region.clone()),
        Arc::new(activated),
        Arc::new(balances),
    ];
    Ok(RecordBatch::try_new(accounts_schema(), columns)?)
}

fn decimal_array(units: Vec<i128>) -> Result<Decimal128Array, Error> {
    Ok(Decimal128Array::from(units).with_precision_and_scale(DECIMAL_PRECISION, DECIMAL_SCALE)?)
}

/// The status as the accounts file spells it.
fn status_name(status: AccountStatus) -> &'static str {
    match status {
        AccountStatus::Pending => "pending",
        AccountStatus::Active => "active",
        AccountStatus::Suspended => "suspended",
        AccountStatus::Cancelled => "cancelled",
    }
}

/// A decimal as `Decimal128(38, 10)` units, if it has at most ten decimals
/// (trailing zeros aside): the table never rounds.
fn units(value: Decimal) -> Option<i128> {
    let value = value.normalize();
    let places = u32::from(DECIMAL_SCALE.unsigned_abs()).checked_sub(value.scale())?;
    value
        .mantissa()
        .checked_mul(10_i128.pow(places))
        .filter(|u| u.unsigned_abs() < 10_u128.pow(DECIMAL_PRECISION.into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use datafusion::arrow::array::Array;

    #[test]
    fn csv_and_toml_give_the_same_rows() {
        let csv = Accounts::parse_csv(
            "id,plan,currency,credit_limit,activated,balances\nA1,basic,EUR,50,2026-11-01,main=10;data=2.25\nA2,,,,,\n",
            "accounts.csv",
        )
        .unwrap();
        let toml = Accounts::parse_toml(
            r#"
            [[accounts]]
            id = "A1"
            plan = "basic"
            currency = "EUR"
            credit_limit = 50
            activated = "2026-11-01"
            balances = { main = "10", data = "2.25" }
            [[accounts]]
            id = "A2"
            "#,
            "accounts.toml",
        )
        .unwrap();
        let (csv, toml) = (accounts_batch(&csv).unwrap(), accounts_batch(&toml).unwrap());
        assert_eq!(csv.num_rows(), 2);
        assert_eq!(csv.column(0), toml.column(0));
        assert_eq!(csv.column(6), toml.column(6));
        assert_eq!(csv.column(9), toml.column(9));
        let limits = csv.column(6).as_any().downcast_ref::<Decimal128Array>().unwrap();
        assert_eq!(limits.value_as_string(0), "50.0000000000");
        let activated = csv.column(9).as_any().downcast_ref::<Date32Array>().unwrap();
        assert_eq!(activated.value_as_date(0).unwrap().to_string(), "2026-11-01");
        assert!(activated.is_null(1));
        let balances = csv.column(10).as_any().downcast_ref::<ListArray>().unwrap();
        assert_eq!((balances.value_length(0), balances.value_length(1)), (2, 0));
    }

    #[test]
    fn every_column_is_documented() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/sql.md")).unwrap();
        for field in accounts_schema().fields() {
            assert!(
                doc.contains(&format!("| `{}` |", field.name())),
                "docs/sql.md does not document accounts.{}",
                field.name()
            );
        }
    }

    #[test]
    fn amounts_are_never_rounded() {
        assert_eq!(units("1.5".parse().unwrap()), Some(15_000_000_000));
        assert_eq!(units("-0.0000000001".parse().unwrap()), Some(-1));
        assert_eq!(units("2.000000000000".parse().unwrap()), Some(20_000_000_000));
        assert_eq!(units("0.00000000001".parse().unwrap()), None);
    }
}
