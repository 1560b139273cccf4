//! A ledger table as a DataFusion table: exactly the files its
//! [`Snapshot`]s list (one per ledger: several for the members of a shared
//! root; never a file on disk that no manifest lists), with
//! the Hive partition columns `period` and `day`, which are in the files'
//! paths only, added from those paths.
//!
//! The files are resolved when a query is planned, so that one moved to
//! the trash by a compaction since the snapshot was taken is read from
//! there ([`Snapshot::open_file`]).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Date32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{DFSchema, DataFusionError, ScalarValue, project_schema};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::listing::helpers::expr_applicable_for_cols;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::object_store::path::Path as StorePath;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use ratewire_ledger::{DataFile, Snapshot, Table};

/// The partition columns, in path order, as Hive-style readers name them.
pub const PARTITION_COLUMNS: [&str; 2] = ["period", "day"];

/// The columns of a ledger table as SQL sees them: the file's columns, then
/// `period` (`YYYY-MM`, Utf8) and `day` (Date32), as DuckDB's
/// `hive_partitioning` types them.
#[must_use]
pub fn table_schema(table: Table) -> SchemaRef {
    // Strings read as views: Parquet's dictionary pages decode into views
    // without copying each value, and the short ones (ids, kinds, services,
    // currencies) are held inline, so grouping compares them without
    // following a pointer.
    let view = |field: &FieldRef| match field.data_type() {
        DataType::Utf8 => Arc::new(field.as_ref().clone().with_data_type(DataType::Utf8View)),
        _ => Arc::clone(field),
    };
    let mut fields: Vec<FieldRef> = table.schema().fields().iter().map(view).collect();
    fields.extend(partition_fields());
    Arc::new(Schema::new(fields))
}

fn partition_fields() -> Vec<FieldRef> {
    vec![Arc::new(Field::new("period", DataType::Utf8, false)), Arc::new(Field::new("day", DataType::Date32, false))]
}

/// One committed file and its partition values.
#[derive(Debug)]
struct LedgerFile {
    /// The index of its snapshot.
    snapshot: usize,
    file: DataFile,
    period: String,
    day: i32,
}

/// One table of one or more snapshots.
#[derive(Debug)]
pub(crate) struct LedgerTable {
    snapshots: Vec<Arc<Snapshot>>,
    schema: SchemaRef,
    files: Vec<LedgerFile>,
}

impl LedgerTable {
    /// The files of `table` in `snapshots`, whose directories must be absolute.
    ///
    /// # Errors
    /// [`DataFusionError::Plan`] for a committed path that is not
    /// `table=<name>/period=YYYY-MM/day=YYYY-MM-DD/<file>`.
    pub(crate) fn new(snapshots: &[Arc<Snapshot>], table: Table) -> Result<Self, DataFusionError> {
        let mut files = Vec::new();
        for (index, snapshot) in snapshots.iter().enumerate() {
            for file in snapshot.files().iter().filter(|f| f.table == table) {
                let (period, day) = partition_of(&file.path).ok_or_else(|| {
                    DataFusionError::Plan(format!("ledger file {} is not in a period=/day= partition", file.path))
                })?;
                let day = match ScalarValue::try_from_string(day.to_string(), &DataType::Date32)? {
                    ScalarValue::Date32(Some(day)) => day,
                    _ => return Err(DataFusionError::Plan(format!("ledger file {}: bad day", file.path))),
                };
                files.push(LedgerFile { snapshot: index, file: file.clone(), period: period.to_string(), day });
            }
        }
        Ok(Self { snapshots: snapshots.to_vec(), schema: table_schema(table), files })
    }

    /// Indexes of the files whose partition values pass every filter that
    /// [`on_partitions_only`] accepts. Those filters are exact (DataFusion
    /// does not apply them again to the rows), so one that cannot be
    /// evaluated here is an error rather than a filter ignored.
    fn prune(&self, state: &dyn Session, filters: &[Expr]) -> Result<Vec<usize>, DataFusionError> {
        let mut keep = vec![true; self.files.len()];
        let applicable: Vec<&Expr> = filters.iter().filter(|f| on_partitions_only(f)).collect();
        if !applicable.is_empty() && !self.files.is_empty() {
            let schema = Arc::new(Schema::new(partition_fields()));
            let columns: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from_iter_values(self.files.iter().map(|f| f.period.as_str()))),
                Arc::new(Date32Array::from_iter_values(self.files.iter().map(|f| f.day))),
            ];
            let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
            let df_schema = DFSchema::try_from(schema)?;
            for filter in applicable {
                let expr = state.create_physical_expr(filter.clone(), &df_schema)?;
                let value = expr.evaluate(&batch)?.into_array(batch.num_rows())?;
                let mask = value.as_any().downcast_ref::<BooleanArray>().ok_or_else(|| {
                    DataFusionError::Plan(format!("the filter {filter} on partition columns is not a boolean"))
                })?;
                for (i, kept) in keep.iter_mut().enumerate() {
                    *kept &= mask.is_valid(i) && mask.value(i);
                }
            }
        }
        Ok(keep.iter().enumerate().filter(|(_, k)| **k).map(|(i, _)| i).collect())
    }

    /// The file where it is now, as DataFusion reads it.
    fn partitioned_file(&self, file: &LedgerFile) -> Result<PartitionedFile, DataFusionError> {
        let snapshot = &self.snapshots[file.snapshot];
        let (path, _) = snapshot.open_file(&file.file).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let location = StorePath::from_absolute_path(&path).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let mut partitioned = PartitionedFile::new(String::new(), file.file.bytes)
            .with_partition_values(vec![ScalarValue::from(file.period.as_str()), ScalarValue::Date32(Some(file.day))]);
        partitioned.object_meta.location = location;
        Ok(partitioned)
    }
}

/// Whether `filter` reads only the partition columns and can be evaluated
/// on their values alone: no subquery, outer reference or variable, and no
/// function whose result may change between calls.
fn on_partitions_only(filter: &Expr) -> bool {
    let needs_more = filter
        .exists(|e| {
            Ok(matches!(
                e,
                Expr::Exists(_)
                    | Expr::InSubquery(_)
                    | Expr::ScalarSubquery(_)
                    | Expr::SetComparison(_)
                    | Expr::OuterReferenceColumn(..)
                    | Expr::ScalarVariable(..)
                    | Expr::Placeholder(_)
            ))
        })
        .unwrap_or(true);
    !needs_more && expr_applicable_for_cols(&PARTITION_COLUMNS, filter)
}

/// `period` and `day` of `table=<name>/period=<p>/day=<d>/<file>`.
fn partition_of(path: &str) -> Option<(&str, &str)> {
    let mut parts = path.split('/');
    let (_table, period, day) = (parts.next()?, parts.next()?, parts.next()?);
    Some((period.strip_prefix("period=")?, day.strip_prefix("day=")?))
}

#[async_trait]
impl TableProvider for LedgerTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>, DataFusionError> {
        // A filter on the partition columns alone is exact: a file's rows
        // all have its partition values, so keeping the file is keeping
        // every row. Left to DataFusion, `period = '2026-10'` would also
        // mark `period` constant, and an aggregate grouping by it would
        // run in its slower partially sorted mode. Any other filter is
        // inexact: the scan prunes row groups and pages with it, and
        // DataFusion still applies it to the rows.
        Ok(filters
            .iter()
            .map(|f| {
                if on_partitions_only(f) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>, DataFusionError> {
        let kept = self.prune(state, filters)?;
        if kept.is_empty() {
            return Ok(Arc::new(EmptyExec::new(project_schema(&self.schema, projection)?)));
        }
        let group_count = state.config().target_partitions().clamp(1, kept.len());
        let mut groups = vec![Vec::new(); group_count];
        for (n, index) in kept.into_iter().enumerate() {
            groups[n % group_count].push(self.partitioned_file(&self.files[index])?);
        }
        let file_fields = self.schema.fields().len() - PARTITION_COLUMNS.len();
        let file_schema = Arc::new(Schema::new(self.schema.fields()[..file_fields].to_vec()));
        let source =
            ParquetSource::new(TableSchema::builder(file_schema).with_table_partition_cols(partition_fields()).build());
        let config = FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
            .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        let format = ParquetFormat::default().with_options(state.default_table_options().parquet);
        format.create_physical_plan(state, config).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_come_from_the_path() {
        assert_eq!(
            partition_of("table=rated/period=2026-11/day=2026-11-03/00000000000000000001-0000.parquet"),
            Some(("2026-11", "2026-11-03"))
        );
        assert_eq!(partition_of("table=rated/x.parquet"), None);
        assert_eq!(partition_of("table=rated/day=2026-11-03/period=2026-11/x.parquet"), None);
    }

    #[test]
    fn only_filters_on_partition_values_alone_are_exact() {
        use datafusion::logical_expr::{col, lit, placeholder};
        let period = || col("period").eq(lit("2026-10"));
        assert!(on_partitions_only(&period()));
        assert!(on_partitions_only(&period().or(col("day").gt_eq(lit("2026-10-03")))));
        assert!(!on_partitions_only(&period().and(col("kind").eq(lit("usage")))), "a file column");
        assert!(!on_partitions_only(&col("period").eq(placeholder("$1"))), "a parameter");
        let random = datafusion::functions::math::expr_fn::random();
        assert!(!on_partitions_only(&col("day").lt(random)), "a volatile function");
    }

    #[test]
    fn every_table_has_the_partition_columns_last() {
        for table in Table::ALL {
            let schema = table_schema(table);
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            assert_eq!(&names[names.len() - 2..], &PARTITION_COLUMNS[..], "{table}");
            assert_eq!(names.len(), table.schema().fields().len() + 2);
        }
    }
}
