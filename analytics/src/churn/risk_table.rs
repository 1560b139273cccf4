//! The risk list as the SQL table `churn_risk`.
//!
//! `ratewire churn score --ledger DIR` writes the list to the ledger's
//! well-known place, `DIR/analytics/churn_risk.parquet`; every session over
//! that ledger has the table, and a query that scans it reads the file as
//! it is then. Without the file the table is empty, with the same columns,
//! so that saved queries and BI tools keep working before the first score.
//! The file belongs to no commit: the ledger's own readers and writers
//! leave it alone.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, project_schema};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::Expr;
use datafusion::object_store::path::Path as StorePath;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;

use super::features;
use super::score::risk_list_schema;
use crate::error::Error;

/// The name of the risk list's table.
pub const RISK_TABLE: &str = "churn_risk";

/// The directory of a ledger (or of a shared root) that holds its risk list.
pub const RISK_LIST_DIR: &str = "analytics";

/// The risk list's Parquet file, which SQL reads.
pub const RISK_LIST_PARQUET: &str = "churn_risk.parquet";

/// The same list as CSV, for spreadsheets.
pub const RISK_LIST_CSV: &str = "churn_risk.csv";

/// Where `churn score` writes the risk list of the ledger in `ledger`.
#[must_use]
pub fn risk_list_dir(ledger: &Path) -> PathBuf {
    ledger.join(RISK_LIST_DIR)
}

/// The columns of the `churn_risk` table: those of a risk list scored from
/// the ledger's features.
#[must_use]
pub fn risk_table_schema() -> SchemaRef {
    risk_list_schema(&features::risk_keys())
}

/// The `churn_risk` table of one ledger directory.
#[derive(Debug)]
pub(crate) struct RiskTable {
    /// The Parquet file, absolute.
    path: PathBuf,
    schema: SchemaRef,
}

impl RiskTable {
    /// The table of the ledger in `ledger`, an absolute directory.
    pub(crate) fn new(ledger: &Path) -> Self {
        Self { path: risk_list_dir(ledger).join(RISK_LIST_PARQUET), schema: risk_table_schema() }
    }
}

#[async_trait]
impl TableProvider for RiskTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>, DataFusionError> {
        // Looked up at each scan: a list scored since the session began is
        // seen, and no list is no rows rather than an error.
        let bytes = match std::fs::metadata(&self.path) {
            Ok(metadata) => metadata.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Arc::new(EmptyExec::new(project_schema(&self.schema, projection)?)));
            }
            Err(source) => {
                return Err(DataFusionError::External(Box::new(Error::Io { path: self.path.clone(), source })));
            }
        };
        let location = StorePath::from_absolute_path(&self.path).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let mut file = PartitionedFile::new(String::new(), bytes);
        file.object_meta.location = location;
        let source = ParquetSource::new(TableSchema::from(Arc::clone(&self.schema)));
        let config = FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
            .with_file_groups(vec![FileGroup::new(vec![file])])
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        let format = ParquetFormat::default().with_options(state.default_table_options().parquet);
        format.create_physical_plan(state, config).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array, RecordBatch, StringArray, UInt64Array};
    use datafusion::arrow::datatypes::Int64Type;

    use super::*;
    use crate::{Engine, Format, Source, parse, write};

    fn rows(engine: &Engine, sql: &str) -> Vec<RecordBatch> {
        let statements = parse(sql).unwrap();
        engine.query(&statements[0]).unwrap().collect::<Result<Vec<_>, _>>().unwrap()
    }

    #[test]
    fn empty_until_a_list_is_written_then_read() {
        let dir = tempfile::tempdir().unwrap();
        drop(ratewire_ledger::Ledger::open(dir.path()).unwrap());
        let engine = Engine::new(Source::open(dir.path(), None).unwrap()).unwrap();
        let count = |engine: &Engine| {
            let batches = rows(engine, "select count(*) as n from churn_risk");
            batches[0].column(0).as_primitive::<Int64Type>().value(0)
        };
        assert_eq!(count(&engine), 0);
        let described = rows(&engine, "describe churn_risk");
        assert_eq!(described.iter().map(RecordBatch::num_rows).sum::<usize>(), risk_table_schema().fields().len());

        let keys = features::risk_keys();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for key in &keys {
            let value = if *key == "account" { "A1" } else { "x" };
            columns.push(Arc::new(StringArray::from(vec![value])));
        }
        columns.push(Arc::new(UInt64Array::from(vec![1])));
        columns.push(Arc::new(Float64Array::from(vec![0.75])));
        columns.push(Arc::new(StringArray::from(vec!["high"])));
        for reason in ["late_payments_90d = 2 (+0.80)", "topups_90d = 0 (+0.30)", "segment=new (+0.10)"] {
            columns.push(Arc::new(StringArray::from(vec![reason])));
        }
        let list = RecordBatch::try_new(risk_table_schema(), columns).unwrap();
        std::fs::create_dir(risk_list_dir(dir.path())).unwrap();
        let mut out = std::fs::File::create(risk_list_dir(dir.path()).join(RISK_LIST_PARQUET)).unwrap();
        write(Format::Parquet, &list.schema(), std::iter::once(Ok(list.clone())), &mut out).unwrap();

        // The same engine: each statement looks for the file again.
        assert_eq!(count(&engine), 1);
        let found = rows(&engine, "select account, score, band, reason_1 from churn_risk where band = 'high'");
        assert_eq!(found[0].column(0).as_string::<i32>().value(0), "A1");
        assert_eq!(found[0].column(3).as_string::<i32>().value(0), "late_payments_90d = 2 (+0.80)");
    }

    #[test]
    fn every_column_is_documented() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/sql.md")).unwrap();
        let section = doc.split("## The churn risk list").nth(1).unwrap_or_default();
        for field in risk_table_schema().fields() {
            let name = field.name();
            let documented = section.contains(&format!("`{name}`")) || name.starts_with("reason_");
            assert!(documented, "docs/sql.md does not document churn_risk.{name}");
        }
        assert!(section.contains("`reason_1` .. `reason_3`"));
    }
}
