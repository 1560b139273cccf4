//! Finance reports as SQL views, registered in every session: invoice lines
//! and invoices, revenue, receivables with ageing, and the reconciliation
//! checks (`docs/reports.md`). Each view's SQL is a file beside this one.
//!
//! Two small tables feed the reconciliation from the manifests:
//! `ledger_offsets`, the source offsets every commit covers, and
//! `ledger_totals`, the ledger's totals per table as the manifests record
//! them.

mod html;

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{ArrayRef, Decimal128Array, Int32Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::MemTable;
use datafusion::datasource::ViewTable;
use datafusion::prelude::SessionContext;
use ratewire_ledger::{DECIMAL_PRECISION, DECIMAL_SCALE, MANIFEST_BYTES_MAX, Manifest, Snapshot, Table, manifest_name};

use crate::error::Error;

pub use html::{HTML_INVOICE_QUERY, INVOICE_LINES_MAX, InvoiceHtml, checked_period};

/// The name of the table of the source offsets each commit covers.
pub const LEDGER_OFFSETS_TABLE: &str = "ledger_offsets";

/// The name of the table of the ledger's totals as the manifests record them.
pub const LEDGER_TOTALS_TABLE: &str = "ledger_totals";

const INVOICE_LINES: &str = include_str!("report/invoice_lines.sql");
const INVOICES: &str = include_str!("report/invoices.sql");
const REVENUE: &str = include_str!("report/revenue.sql");
const RECEIVABLES: &str = include_str!("report/receivables.sql");
const RECONCILE: &str = include_str!("report/reconcile.sql");

/// The placeholder of the as-of query in `receivables.sql`.
const AS_OF_PLACEHOLDER: &str = "{as_of}";

/// The `receivables` view's as-of date: the last day with a rated record or
/// a fact.
const AS_OF_LAST_DAY: &str =
    "select max(day) as as_of from (select day from rated union all select day from facts) as days";

/// The report views, in the order they are registered: a view reads only
/// tables and the views before it.
pub const REPORT_VIEWS: [&str; 5] = ["invoice_lines", "invoices", "revenue", "receivables", "reconcile"];

/// The SQL of a report view, by name; `None` for a name that is not one.
#[must_use]
pub fn view_sql(name: &str) -> Option<Cow<'static, str>> {
    Some(match name {
        "invoice_lines" => Cow::Borrowed(INVOICE_LINES),
        "invoices" => Cow::Borrowed(INVOICES),
        "revenue" => Cow::Borrowed(REVENUE),
        "receivables" => Cow::Owned(receivables_sql(None)),
        "reconcile" => Cow::Borrowed(RECONCILE),
        _ => return None,
    })
}

/// The `receivables` query as of `as_of`, or, without one, as of the last
/// day with data (the view's).
#[must_use]
pub fn receivables_sql(as_of: Option<NaiveDate>) -> String {
    let query = match as_of {
        // A NaiveDate prints as YYYY-MM-DD: nothing to quote.
        Some(date) => Cow::Owned(format!("select date '{date}' as as_of")),
        None => Cow::Borrowed(AS_OF_LAST_DAY),
    };
    RECEIVABLES.replace(AS_OF_PLACEHOLDER, &query)
}

/// Registers the manifest tables and the report views in `context`, whose
/// ledger tables are those of `snapshots` (one, or a shared root's members).
///
/// # Errors
/// [`Error::Ledger`] for a manifest that cannot be read, and [`Error::Sql`]
/// if a view does not plan.
pub(crate) fn register(context: &SessionContext, snapshots: &[Arc<Snapshot>]) -> Result<(), Error> {
    let offsets = offsets_batch(snapshots)?;
    context
        .register_table(LEDGER_OFFSETS_TABLE, Arc::new(MemTable::try_new(offsets.schema(), vec![vec![offsets]])?))?;
    let totals = totals_batch(snapshots)?;
    context.register_table(LEDGER_TOTALS_TABLE, Arc::new(MemTable::try_new(totals.schema(), vec![vec![totals]])?))?;
    for name in REPORT_VIEWS {
        let Some(sql) = view_sql(name) else { continue };
        // Planning reads only the session's own in-memory catalog, so the
        // future completes without waiting on anything.
        let plan = futures_executor::block_on(context.state().create_logical_plan(&sql))?;
        context.register_table(name, Arc::new(ViewTable::new(plan, Some(sql.into_owned()))))?;
    }
    Ok(())
}

/// Every source range of every commit up to the snapshot's, read from the
/// manifests: `sequence`, `source`, `source_partition`, `from_offset`,
/// `to_offset` (the offset after the last).
fn offsets_batch(snapshots: &[Arc<Snapshot>]) -> Result<RecordBatch, Error> {
    let (mut members, mut sequences, mut sources, mut partitions, mut froms, mut tos) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for snapshot in snapshots {
        offsets_of(snapshot, &mut members, &mut sequences, &mut sources, &mut partitions, &mut froms, &mut tos)?;
    }
    let schema = Schema::new(vec![
        Field::new("member", DataType::Utf8, false),
        Field::new("sequence", DataType::Int64, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("source_partition", DataType::Int32, false),
        Field::new("from_offset", DataType::Int64, false),
        Field::new("to_offset", DataType::Int64, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(members)),
        Arc::new(Int64Array::from(sequences)),
        Arc::new(StringArray::from(sources)),
        Arc::new(Int32Array::from(partitions)),
        Arc::new(Int64Array::from(froms)),
        Arc::new(Int64Array::from(tos)),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

/// The source ranges of one ledger's commits, appended to the columns.
#[allow(clippy::too_many_arguments)] // One output column each.
fn offsets_of(
    snapshot: &Snapshot,
    members: &mut Vec<String>,
    sequences: &mut Vec<i64>,
    sources: &mut Vec<String>,
    partitions: &mut Vec<i32>,
    froms: &mut Vec<i64>,
    tos: &mut Vec<i64>,
) -> Result<(), Error> {
    let dir = snapshot.dir().join(ratewire_ledger::MANIFEST_DIR);
    // A shared root's member is named by its directory; a lone ledger has none.
    let member = match snapshot.dir().parent().and_then(Path::file_name) {
        Some(parent) if parent == ratewire_ledger::MEMBERS_DIR => {
            snapshot.dir().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        }
        _ => String::new(),
    };
    for sequence in 1..=snapshot.sequence() {
        let path = dir.join(manifest_name(sequence));
        let bytes = std::fs::metadata(&path).map_err(|source| Error::Io { path: path.clone(), source })?.len();
        if bytes > MANIFEST_BYTES_MAX {
            let reason = format!("{bytes} bytes, more than {MANIFEST_BYTES_MAX}");
            return Err(ratewire_ledger::Error::Manifest { path, reason }.into());
        }
        let text = std::fs::read(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        let manifest: Manifest = serde_json::from_slice(&text)
            .map_err(|e| ratewire_ledger::Error::Manifest { path: path.clone(), reason: e.to_string() })?;
        for range in manifest.offsets {
            members.push(member.clone());
            sequences.push(i64::try_from(sequence).unwrap_or(i64::MAX));
            sources.push(range.source);
            partitions.push(range.partition);
            froms.push(range.from);
            tos.push(range.to);
        }
    }
    Ok(())
}

/// The ledger's totals as the manifests record them: `table_name`,
/// `measure` (`rows`, or the summed column) and `value`.
fn totals_batch(snapshots: &[Arc<Snapshot>]) -> Result<RecordBatch, Error> {
    let (mut tables, mut measures, mut values) = (Vec::new(), Vec::new(), Vec::new());
    let scale = 10_i128.pow(DECIMAL_SCALE.unsigned_abs().into());
    for table in Table::ALL {
        let totals = || snapshots.iter().filter_map(|s| s.totals().get(&table));
        let rows: u64 = totals().map(|t| t.rows).sum();
        tables.push(table.name());
        measures.push("rows".to_string());
        values.push(i128::from(rows).checked_mul(scale).unwrap_or(i128::MAX));
        for column in table.total_columns() {
            tables.push(table.name());
            measures.push((*column).to_string());
            let sum = totals().filter_map(|t| t.sums.get(*column)).try_fold(0_i128, |a, b| a.checked_add(*b));
            values.push(sum.unwrap_or(i128::MAX));
        }
    }
    let schema = Schema::new(vec![
        Field::new("table_name", DataType::Utf8, false),
        Field::new("measure", DataType::Utf8, false),
        Field::new("value", ratewire_ledger::decimal_type(), false),
    ]);
    let values = Decimal128Array::from(values).with_precision_and_scale(DECIMAL_PRECISION, DECIMAL_SCALE)?;
    let columns: Vec<ArrayRef> =
        vec![Arc::new(StringArray::from(tables)), Arc::new(StringArray::from(measures)), Arc::new(values)];
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_view_has_its_sql() {
        for name in REPORT_VIEWS {
            let sql = view_sql(name).unwrap_or_default();
            assert!(sql.contains("select"), "{name}");
            assert!(!sql.contains(AS_OF_PLACEHOLDER), "{name}");
        }
        assert!(view_sql("rated").is_none());
    }

    #[test]
    fn receivables_take_an_as_of_date() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 30);
        let sql = receivables_sql(date);
        assert!(sql.contains("select date '2026-11-30' as as_of"), "{sql}");
        assert!(receivables_sql(None).contains(AS_OF_LAST_DAY));
    }
}
