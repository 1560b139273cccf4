//! The ledger's tables and their Arrow schemas; `docs/ledger.md` describes
//! every column.
//!
//! Amounts and quantities are `Decimal128(38, 10)`: ten decimals is the
//! rater's [`LEDGER_SCALE`], so an amount the tariff leaves unrounded is kept
//! as the rater computed it. Times are UTC microseconds, the finest unit
//! Spark reads. The partition keys (`period`, `day`) are in the directory
//! names only, never in the files, as Hive-style readers expect.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use ratewire_rater::money::LEDGER_SCALE;

/// Decimal digits of every amount and quantity column.
pub const DECIMAL_PRECISION: u8 = 38;

/// Decimal places of every amount and quantity column.
pub const DECIMAL_SCALE: i8 = 10;

const _: () = assert!(DECIMAL_SCALE as u32 == LEDGER_SCALE, "the ledger keeps the rater's scale");

/// The time zone of every timestamp column.
pub const TIME_ZONE: &str = "UTC";

/// The columns every table is sorted by within a file, in order.
pub const SORT_COLUMNS: [&str; 2] = ["account", "event_time"];

/// A table of the ledger: one directory `table=<name>` of Parquet files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    /// One row per rated record ([`ratewire_rater::Rated`]).
    Rated,
    /// One row per balance draw of a rated record.
    Draws,
    /// One row per rejected event.
    Rejects,
    /// One row per lifecycle fact ([`ratewire_rater::Fact`]): payments,
    /// top-ups, adjustments, subscription steps, support contacts, blocks,
    /// unblocks and the rater's threshold actions.
    Facts,
}

impl Table {
    /// Every table, in the order commits write them.
    pub const ALL: [Table; 4] = [Table::Rated, Table::Draws, Table::Rejects, Table::Facts];

    /// The name, as in `table=<name>` and in manifests.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Rated => "rated",
            Self::Draws => "draws",
            Self::Rejects => "rejects",
            Self::Facts => "facts",
        }
    }

    /// The table of a name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The Arrow schema of the table's files.
    #[must_use]
    pub fn schema(self) -> SchemaRef {
        let fields = match self {
            Self::Rated => vec![
                utf8("event_id", false),
                utf8("account", false),
                time("event_time", false),
                utf8("kind", false),
                utf8("service", false),
                utf8("zone", true),
                decimal("quantity"),
                decimal("rated_quantity"),
                decimal("allowance_quantity"),
                decimal("charge"),
                decimal("discount"),
                decimal("net"),
                decimal("tax"),
                decimal("gross"),
                utf8("currency", false),
                utf8("partner", true),
                decimal("partner_share"),
                utf8("tariff", true),
                Field::new("discounts", DataType::List(Arc::new(list_item())), false),
                utf8("catalog_version", false),
                // Added after the first release: files written before lack it.
                utf8("original_period", true),
                // Added with rerating, which prices usage again from them.
                utf8("destination", true),
                utf8("device", true),
            ],
            Self::Draws => vec![
                utf8("event_id", false),
                utf8("account", false),
                time("event_time", false),
                Field::new("draw_index", DataType::Int32, false),
                utf8("balance", false),
                decimal("amount"),
                decimal("remaining"),
            ],
            Self::Rejects => vec![
                utf8("account", true),
                time("event_time", true),
                Field::new("code", DataType::Int32, false),
                utf8("code_name", false),
                utf8("field", true),
                utf8("message", false),
                utf8("event_id", true),
                Field::new("payload", DataType::Binary, false),
                utf8("catalog_version", false),
                utf8("source", false),
                Field::new("source_partition", DataType::Int32, false),
                Field::new("source_offset", DataType::Int64, false),
                time("booked_at", false),
            ],
            Self::Facts => vec![
                utf8("event_id", false),
                utf8("account", false),
                time("event_time", false),
                utf8("kind", false),
                utf8("source", false),
                decimal("amount"),
                utf8("currency", false),
                utf8("action", true),
                utf8("plan", true),
                utf8("previous_plan", true),
                utf8("channel", true),
                utf8("reason", true),
                Field::new("owed", decimal_type(), true),
                time("owed_due_at", true),
                utf8("catalog_version", false),
            ],
        };
        Arc::new(Schema::new(fields))
    }

    /// Trailing columns added to the table after its first release, all
    /// nullable: a file written before lacks them, and ratewire reads it as
    /// if they were null.
    #[must_use]
    pub fn added_columns(self) -> usize {
        match self {
            Self::Rated => 3,
            Self::Draws | Self::Rejects | Self::Facts => 0,
        }
    }

    /// Whether a file with `fields` holds this table: its columns are the
    /// table's, or the table's without some of [`Table::added_columns`].
    #[must_use]
    pub fn reads(self, fields: &arrow_schema::Fields) -> bool {
        let schema = self.schema();
        let all = schema.fields();
        let oldest = all.len() - self.added_columns();
        (oldest..=all.len()).contains(&fields.len()) && fields.iter().zip(all.iter()).all(|(a, b)| a == b)
    }

    /// A batch read from a file written before the table's added columns,
    /// with those columns as nulls (a batch with them all is returned as is).
    ///
    /// # Errors
    /// If the batch's columns are not the table's ([`Table::reads`]).
    pub fn upgrade(self, batch: RecordBatch) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let schema = self.schema();
        if batch.num_columns() == schema.fields().len() {
            return Ok(batch);
        }
        let rows = batch.num_rows();
        let mut columns = batch.columns().to_vec();
        for field in &schema.fields()[columns.len().min(schema.fields().len())..] {
            columns.push(arrow_array::new_null_array(field.data_type(), rows));
        }
        RecordBatch::try_new(schema, columns)
    }

    /// The money columns whose sums manifests record and commits check.
    #[must_use]
    pub fn total_columns(self) -> &'static [&'static str] {
        match self {
            Self::Rated => &["gross", "net", "tax"],
            Self::Draws => &["amount"],
            Self::Rejects => &[],
            Self::Facts => &["amount"],
        }
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The type of every amount and quantity column.
#[must_use]
pub fn decimal_type() -> DataType {
    DataType::Decimal128(DECIMAL_PRECISION, DECIMAL_SCALE)
}

/// The type of every timestamp column.
#[must_use]
pub fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(TIME_ZONE.into()))
}

/// The item field of the `discounts` list.
pub(crate) fn list_item() -> Field {
    Field::new("item", DataType::Utf8, false)
}

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn time(name: &str, nullable: bool) -> Field {
    Field::new(name, time_type(), nullable)
}

fn decimal(name: &str) -> Field {
    Field::new(name, decimal_type(), false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_round_trip_and_columns_are_unique() {
        for table in Table::ALL {
            assert_eq!(Table::from_name(table.name()), Some(table));
            let schema = table.schema();
            let names: HashSet<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            assert_eq!(names.len(), schema.fields().len(), "{table}: duplicate column");
            for partition_key in ["table", "period", "day"] {
                assert!(!names.contains(partition_key), "{table}: {partition_key} is a partition key, not a column");
            }
        }
    }

    #[test]
    fn sort_and_total_columns_exist_with_their_types() {
        for table in Table::ALL {
            let schema = table.schema();
            // The sort columns come first among the leaves, so that their
            // field index is also their Parquet column index.
            for (i, name) in SORT_COLUMNS.iter().enumerate() {
                let (index, _) = schema.column_with_name(name).unwrap_or_else(|| panic!("{table}.{name}"));
                assert!(index <= i + 1, "{table}.{name} at {index}");
            }
            for name in table.total_columns() {
                let field = schema.field_with_name(name).unwrap_or_else(|_| panic!("{table}.{name}"));
                assert_eq!(field.data_type(), &decimal_type());
            }
        }
    }

    #[test]
    fn files_without_the_added_columns_still_read_with_nulls() {
        let full = Table::Rated.schema();
        let old = arrow_schema::Fields::from(full.fields()[..full.fields().len() - 1].to_vec());
        assert!(Table::Rated.reads(full.fields()) && Table::Rated.reads(&old));
        let first_release = arrow_schema::Fields::from(full.fields()[..full.fields().len() - 3].to_vec());
        assert!(Table::Rated.reads(&first_release));
        let fewer = arrow_schema::Fields::from(full.fields()[..full.fields().len() - 4].to_vec());
        assert!(!Table::Rated.reads(&fewer));
        assert!(!Table::Draws.reads(&old));
        let batch = RecordBatch::new_empty(Arc::new(Schema::new(old)));
        let upgraded = Table::Rated.upgrade(batch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(upgraded.schema(), full);
    }

    #[test]
    fn every_column_is_documented() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/ledger.md")).unwrap_or_default();
        for table in Table::ALL {
            let heading = format!("### `{}`", table.name());
            let section = doc.split(&heading).nth(1).unwrap_or_else(|| panic!("docs/ledger.md has no {heading}"));
            let section = section.split("\n### ").next().unwrap_or_default();
            for field in table.schema().fields() {
                let row = format!("| `{}` ", field.name());
                assert!(section.contains(&row), "docs/ledger.md: {heading} does not document `{}`", field.name());
            }
        }
    }
}
