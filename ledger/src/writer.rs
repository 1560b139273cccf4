//! Parquet files: how a commit's rows are split into Hive-style partitions,
//! sorted, written and read back.
//!
//! A data file lives at `table=<name>/period=YYYY-MM/day=YYYY-MM-DD/`. For
//! `rated`, `draws` and `facts`, `period` is the billing period the row is
//! booked in (a month on the account's local clock) and `day` the UTC date
//! of its event time: the two can disagree near midnight, which is expected. For
//! `rejects`, which may have no readable time, both come from the UTC time
//! the reject was booked. Within a file, rows are sorted by account, then
//! event time.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use chrono::{DateTime, NaiveDate, Utc};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::{ArrowColumnWriter, ArrowLeafColumn, compute_leaves};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use ratewire_rater::time::Period;
use ratewire_rater::{Fact, Rated};
use serde::Deserialize;

use crate::batch::{RejectedEvent, draws_batch, facts_batch, rated_batch, rejects_batch};
use crate::bounds::{
    PARALLEL_COLUMNS_ROWS_MIN, READ_BACK_BATCH_ROWS, ROW_GROUP_ROWS_DEFAULT, ROW_GROUP_ROWS_MAX, ZSTD_LEVEL_DEFAULT,
};
use crate::error::{Error, io};
use crate::schema::{SORT_COLUMNS, Table, decimal_type};
use crate::totals::Totals;

/// How data files are written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WriterConfig {
    /// Rows per Parquet row group, 1 to 1,048,576. Default 131,072
    /// ([`ROW_GROUP_ROWS_DEFAULT`]).
    pub row_group_rows: usize,
    /// ZSTD compression level, 1 (fastest) to 22 (smallest). Default 1
    /// ([`ZSTD_LEVEL_DEFAULT`]).
    pub zstd_level: i32,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self { row_group_rows: ROW_GROUP_ROWS_DEFAULT, zstd_level: ZSTD_LEVEL_DEFAULT }
    }
}

impl WriterConfig {
    /// Checks the values and builds the writer.
    ///
    /// # Errors
    /// [`Error::Config`] naming the value out of range.
    pub fn build(&self) -> Result<Writer, Error> {
        if !(1..=ROW_GROUP_ROWS_MAX).contains(&self.row_group_rows) {
            let reason = "must be 1 to 1048576";
            return Err(Error::Config { field: "row_group_rows", value: self.row_group_rows.to_string(), reason });
        }
        let level = ZstdLevel::try_new(self.zstd_level).map_err(|_| Error::Config {
            field: "zstd_level",
            value: self.zstd_level.to_string(),
            reason: "must be 1 to 22",
        })?;
        Ok(Writer { config: self.clone(), level })
    }
}

/// Writes data files as configured.
#[derive(Debug, Clone)]
pub struct Writer {
    config: WriterConfig,
    level: ZstdLevel,
}

/// Where a data file goes: its table and Hive-style partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Partition {
    /// The table.
    pub table: Table,
    /// The billing period (`period=YYYY-MM`).
    pub period: Period,
    /// The day (`day=YYYY-MM-DD`).
    pub day: NaiveDate,
}

impl Partition {
    /// The directory, relative to the ledger's: `table=t/period=p/day=d`.
    #[must_use]
    pub fn dir(&self) -> PathBuf {
        PathBuf::from(format!("table={}", self.table))
            .join(format!("period={}", self.period))
            .join(format!("day={}", self.day))
    }
}

/// The rows of one data file, sorted.
#[derive(Debug)]
pub(crate) enum Rows<'a> {
    /// Rated records, for a `rated` file.
    Rated(Vec<&'a Rated>),
    /// Rated records, for a `draws` file of their draws.
    Draws(Vec<&'a Rated>),
    /// Rejects booked at one time.
    Rejects(Vec<&'a RejectedEvent>, DateTime<Utc>),
    /// Lifecycle facts, for a `facts` file.
    Facts(Vec<&'a Fact>),
    /// Rows of committed files merged by a compaction, sorted, with the sum
    /// of those files' totals.
    Merged(Table, RecordBatch, Totals),
}

impl Rows<'_> {
    /// The table the rows go to.
    pub(crate) fn table(&self) -> Table {
        match self {
            Self::Rated(_) => Table::Rated,
            Self::Draws(_) => Table::Draws,
            Self::Rejects(..) => Table::Rejects,
            Self::Facts(_) => Table::Facts,
            Self::Merged(table, ..) => *table,
        }
    }
}

/// Splits a commit's rows into files, one per table and partition, each
/// sorted by account then event time (stable, so ties keep their order).
pub(crate) fn plan<'a>(
    rated: &'a [Vec<Rated>],
    rejected: &'a [RejectedEvent],
    facts: &'a [Fact],
    booked_at: DateTime<Utc>,
) -> Vec<(Partition, Rows<'a>)> {
    let mut by_partition: BTreeMap<(Period, NaiveDate), Vec<&Rated>> = BTreeMap::new();
    for r in rated.iter().flatten() {
        by_partition.entry((r.period, r.event_time.date_naive())).or_default().push(r);
    }
    let mut files = Vec::with_capacity(by_partition.len() * 2 + 1);
    for ((period, day), mut records) in by_partition {
        sort_by_account_and_time(&mut records, |r| (&*r.account, r.event_time));
        if records.iter().any(|r| !r.draws.is_empty()) {
            files.push((Partition { table: Table::Draws, period, day }, Rows::Draws(records.clone())));
        }
        files.push((Partition { table: Table::Rated, period, day }, Rows::Rated(records)));
    }
    if !rejected.is_empty() {
        let mut rejects: Vec<&RejectedEvent> = rejected.iter().collect();
        rejects.sort_by(|a, b| (&a.rejected.account, a.event_time).cmp(&(&b.rejected.account, b.event_time)));
        let day = booked_at.date_naive();
        let partition = Partition { table: Table::Rejects, period: Period::of_date(day), day };
        files.push((partition, Rows::Rejects(rejects, booked_at)));
    }
    let mut facts_by_partition: BTreeMap<(Period, NaiveDate), Vec<&Fact>> = BTreeMap::new();
    for f in facts {
        facts_by_partition.entry((f.period, f.event_time.date_naive())).or_default().push(f);
    }
    for ((period, day), mut facts) in facts_by_partition {
        sort_by_account_and_time(&mut facts, |f| (&*f.account, f.event_time));
        files.push((Partition { table: Table::Facts, period, day }, Rows::Facts(facts)));
    }
    files.sort_by_key(|(partition, _)| *partition);
    files
}

/// Sorts `rows` by account, then event time, ties kept in their order, on
/// keys built once: the account's first eight bytes read as a number settle
/// most comparisons without following a pointer to the row or the string.
/// The row's index ends each key, so the keys are distinct and an unstable
/// sort gives the stable order.
fn sort_by_account_and_time<'a, T>(rows: &mut [&'a T], key: impl Fn(&'a T) -> (&'a str, DateTime<Utc>)) {
    let mut keys: Vec<(u64, &str, DateTime<Utc>, usize)> = rows
        .iter()
        .enumerate()
        .map(|(index, row)| {
            let (account, time) = key(row);
            (leading_bytes(account), account, time, index)
        })
        .collect();
    keys.sort_unstable();
    let sorted: Vec<&'a T> = keys.iter().map(|&(.., index)| rows[index]).collect();
    rows.copy_from_slice(&sorted);
}

/// The first eight bytes of `s`, zero-padded, as a big-endian number: when
/// two of these differ they order as the strings do, and when they are
/// equal the strings decide.
fn leading_bytes(s: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let n = s.len().min(8);
    bytes[..n].copy_from_slice(&s.as_bytes()[..n]);
    u64::from_be_bytes(bytes)
}

impl Writer {
    /// Converts `rows` into a record batch, checks its totals against the
    /// records', writes it to `path` (ZSTD, page statistics and page index,
    /// sort order recorded) and fsyncs it, encoding the columns of a large
    /// file on up to `threads` threads. Returns the totals and the file's
    /// size in bytes.
    pub(crate) fn write(&self, path: &Path, rows: &Rows<'_>, threads: usize) -> Result<(Totals, u64), Error> {
        let table = rows.table();
        let batch = match rows {
            Rows::Rated(records) => rated_batch(records)?,
            Rows::Draws(records) => draws_batch(records)?,
            Rows::Rejects(rejects, booked_at) => rejects_batch(rejects, *booked_at)?,
            Rows::Facts(facts) => facts_batch(facts)?,
            Rows::Merged(_, batch, _) => batch.clone(),
        };
        let totals = Totals::of_batch(table, &batch);
        assert_eq!(totals, expected_totals(rows), "{table}: the record batch disagrees with the records");

        let file = File::create(path).map_err(io(path))?;
        let parquet = |source| Error::Parquet { path: path.to_path_buf(), source };
        let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(self.properties(table))).map_err(parquet)?;
        let file = if threads > 1 && batch.num_rows() >= PARALLEL_COLUMNS_ROWS_MIN {
            self.write_columns_parallel(writer, &batch, threads).map_err(parquet)?
        } else {
            writer.write(&batch).map_err(parquet)?;
            writer.into_inner().map_err(parquet)?
        };
        file.sync_all().map_err(io(path))?;
        let bytes = file.metadata().map_err(io(path))?.len();
        Ok((totals, bytes))
    }

    /// Writes `batch` through `writer`'s file as [`ArrowWriter::write`]
    /// would, in row groups of `row_group_rows`, the same bytes, but with
    /// each row group's columns encoded and compressed on up to `threads`
    /// threads.
    fn write_columns_parallel(
        &self,
        writer: ArrowWriter<File>,
        batch: &RecordBatch,
        threads: usize,
    ) -> parquet::errors::Result<File> {
        let (mut file, factory) = writer.into_serialized_writer()?;
        let schema = batch.schema();
        let mut offset = 0;
        while offset < batch.num_rows() {
            let part = batch.slice(offset, self.config.row_group_rows.min(batch.num_rows() - offset));
            let mut leaves = Vec::new();
            for (field, column) in schema.fields().iter().zip(part.columns()) {
                leaves.extend(compute_leaves(field, column)?);
            }
            let writers = factory.create_column_writers(file.flushed_row_groups().len())?;
            assert_eq!(writers.len(), leaves.len(), "a column writer for every leaf column");
            // Columns differ in cost by an order of magnitude (unique ids
            // against flags): each thread takes the next one not yet taken.
            let columns: Vec<(ArrowColumnWriter, ArrowLeafColumn)> = writers.into_iter().zip(leaves).collect();
            let chunks = crate::parallel::each(columns, threads, |_, (mut writer, leaf)| {
                writer.write(&leaf)?;
                writer.close()
            });
            let mut row_group = file.next_row_group()?;
            for chunk in chunks {
                chunk?.append_to_row_group(&mut row_group)?;
            }
            row_group.close()?;
            offset += part.num_rows();
        }
        file.into_inner()
    }

    fn properties(&self, table: Table) -> WriterProperties {
        let schema = table.schema();
        let sorting = SORT_COLUMNS
            .iter()
            .filter_map(|name| schema.index_of(name).ok())
            .filter_map(|i| i32::try_from(i).ok())
            .map(|column_idx| SortingColumn { column_idx, descending: false, nulls_first: true })
            .collect();
        let mut builder = WriterProperties::builder()
            .set_compression(Compression::ZSTD(self.level))
            // Page statistics also write the column index; with the offset
            // index (always on) that is Parquet's page index.
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_row_count(Some(self.config.row_group_rows))
            .set_sorting_columns(Some(sorting))
            // Event ids are unique: a dictionary would only hash each one
            // until it overflowed and fell back to plain encoding.
            .set_column_dictionary_enabled(ColumnPath::from("event_id"), false);
        // Amounts and quantities carry no statistics: rows are sorted by
        // account and time, so every row group and page spans about the
        // whole range of amounts and would be skipped by no filter, and
        // Parquet compares 16-byte decimals byte-wise for min and max, a
        // seventh of a file's encoding.
        for field in schema.fields().iter().filter(|f| *f.data_type() == decimal_type()) {
            builder =
                builder.set_column_statistics_enabled(ColumnPath::from(field.name().as_str()), EnabledStatistics::None);
        }
        builder.build()
    }
}

/// Reads a data file back: checks its schema and returns its totals. Only
/// the money columns the totals sum are decoded (the first column for a
/// table without any), which is what the check compares: the rows counted
/// are those of the data pages read, not the footer's count.
///
/// # Panics
/// If the file's schema is not the table's (or an older one of the table,
/// [`Table::reads`]).
pub(crate) fn read_back(path: &Path, table: Table) -> Result<Totals, Error> {
    let parquet = |source| Error::Parquet { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(io(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet)?;
    assert!(table.reads(builder.schema().fields()), "{}: not a {table} file", path.display());
    let mut roots: Vec<usize> =
        table.total_columns().iter().filter_map(|name| builder.schema().index_of(name).ok()).collect();
    if roots.is_empty() {
        roots.push(0);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder.with_projection(mask).with_batch_size(READ_BACK_BATCH_ROWS).build().map_err(parquet)?;
    let mut totals = Totals::zero(table);
    for batch in reader {
        let batch = batch.map_err(|e| parquet(e.into()))?;
        totals.add(&Totals::of_batch(table, &batch));
    }
    Ok(totals)
}

/// The totals of `rows`, computed from the rater's decimals rather than
/// from Arrow (for merged rows, the sum of the input files' totals): the
/// first of the paired checks around a write.
fn expected_totals(rows: &Rows<'_>) -> Totals {
    let mut totals = Totals::zero(rows.table());
    let units = crate::totals::to_units;
    // Summed apart and set once each: a lookup by column name per value
    // cost more than the sums.
    let sums = match rows {
        Rows::Draws(records) => {
            totals.rows = records.iter().map(|r| r.draws.len() as u64).sum();
            vec![("amount", records.iter().flat_map(|r| &r.draws).map(|d| units(d.amount)).sum())]
        }
        Rows::Rated(records) => {
            let (mut gross, mut net, mut tax) = (0, 0, 0);
            for (i, r) in records.iter().enumerate() {
                crate::batch::prefetch_ahead(records, i);
                gross += units(r.gross);
                net += units(r.net);
                tax += units(r.tax);
            }
            totals.rows = records.len() as u64;
            vec![("gross", gross), ("net", net), ("tax", tax)]
        }
        Rows::Rejects(rejects, _) => {
            totals.rows = rejects.len() as u64;
            Vec::new()
        }
        Rows::Facts(facts) => {
            totals.rows = facts.len() as u64;
            vec![("amount", facts.iter().map(|f| units(f.amount)).sum())]
        }
        Rows::Merged(_, _, inputs) => return inputs.clone(),
    };
    for (name, sum) in sums {
        if let Some(total) = totals.sums.get_mut(name) {
            *total = sum;
        }
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fact, rated, rejected, time};
    use parquet::arrow::arrow_reader::ArrowReaderOptions;
    use parquet::file::metadata::PageIndexPolicy;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use ratewire_rater::Name;

    fn accounts_and_times(rows: &Rows<'_>) -> Vec<(String, String)> {
        match rows {
            Rows::Rated(records) | Rows::Draws(records) => {
                records.iter().map(|r| (r.account.to_string(), r.event_time.to_rfc3339())).collect()
            }
            Rows::Rejects(rejects, _) => {
                rejects.iter().map(|r| (format!("{:?}", r.rejected.account), String::new())).collect()
            }
            Rows::Facts(facts) => facts.iter().map(|f| (f.account.to_string(), f.event_time.to_rfc3339())).collect(),
            Rows::Merged(..) => Vec::new(),
        }
    }

    #[test]
    fn rows_are_split_by_period_and_utc_day_and_sorted_by_account_then_time() {
        let nov = Period::new(2026, 11);
        let dec = Period::new(2026, 12);
        let mut no_draws = rated("e5", "A1", "2026-11-04T09:00:00Z", nov, "0");
        no_draws.draws.clear();
        let records = [
            rated("e1", "B2", "2026-11-03T10:00:00Z", nov, "1"),
            rated("e2", "A1", "2026-11-03T12:00:00Z", nov, "1"),
            rated("e3", "A1", "2026-11-03T08:00:00Z", nov, "1"),
            // 00:30 in Berlin on 1 December: December's period, November's UTC day.
            rated("e4", "A1", "2026-11-30T23:30:00Z", dec, "1"),
            no_draws,
        ];
        let rejects = [rejected(9, Some("Z9")), rejected(8, None)];
        let booked = time("2026-12-02T07:00:00Z");
        let mut late = fact("p2", "A1", "2026-11-30T23:30:00Z", "3");
        late.period = dec;
        let facts =
            [fact("p1", "B2", "2026-11-03T10:00:00Z", "1"), fact("p0", "A1", "2026-11-03T11:00:00Z", "2"), late];
        let records = [records.to_vec()];
        let files = plan(&records, &rejects, &facts, booked);
        let dirs: Vec<String> = files.iter().map(|(p, _)| p.dir().to_string_lossy().replace('\\', "/")).collect();
        assert_eq!(
            dirs,
            [
                "table=rated/period=2026-11/day=2026-11-03",
                "table=rated/period=2026-11/day=2026-11-04",
                "table=rated/period=2026-12/day=2026-11-30",
                "table=draws/period=2026-11/day=2026-11-03",
                "table=draws/period=2026-12/day=2026-11-30",
                "table=rejects/period=2026-12/day=2026-12-02",
                "table=facts/period=2026-11/day=2026-11-03",
                "table=facts/period=2026-12/day=2026-11-30",
            ]
        );
        let first = accounts_and_times(&files[0].1);
        assert_eq!(first.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(), ["A1", "A1", "B2"]);
        assert!(first[0].1 < first[1].1, "{first:?}");
        // A missing account sorts first.
        assert_eq!(accounts_and_times(&files[5].1)[0].0, "None");
        let facts = accounts_and_times(&files[6].1);
        assert_eq!(facts.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(), ["A1", "B2"]);
    }

    #[test]
    fn columns_encoded_on_several_threads_give_the_same_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let nov = Period::new(2026, 11);
        // Enough rows for the threads, over several row groups, the last one
        // short; nulls, a list column and amounts that vary.
        let records: Vec<Rated> = (0..PARALLEL_COLUMNS_ROWS_MIN + 2_500)
            .map(|i| {
                let net = format!("{}.{:04}", i % 97, i % 10_000);
                let mut r = rated(&format!("e{i}"), &format!("A{:05}", i % 4_000), "2026-11-03T10:00:00Z", nov, &net);
                if i % 3 == 0 {
                    r.destination = Some(format!("49301{i}").into());
                    r.zone = Some(Name::new("national"));
                }
                if i % 5 == 0 {
                    r.discounts.push(Name::new("loyalty"));
                }
                r
            })
            .collect();
        let writer =
            WriterConfig { row_group_rows: 6_000, ..WriterConfig::default() }.build().unwrap_or_else(|e| panic!("{e}"));
        let files = plan(std::slice::from_ref(&records), &[], &[], time("2026-11-03T12:00:00Z"));
        let (_, rows) = files.iter().find(|(p, _)| p.table == Table::Rated).unwrap_or_else(|| panic!());
        let write = |threads: usize| {
            let path = dir.path().join(format!("{threads}.parquet"));
            let (totals, bytes) = writer.write(&path, rows, threads).unwrap_or_else(|e| panic!("{e}"));
            (totals, bytes, std::fs::read(&path).unwrap_or_else(|e| panic!("{e}")))
        };
        let one = write(1);
        assert_eq!(one.0.rows, records.len() as u64);
        for threads in [2, 3] {
            let several = write(threads);
            assert_eq!((&several.0, several.1), (&one.0, one.1), "{threads} threads");
            assert!(several.2 == one.2, "{threads} threads: the file's bytes differ");
        }
        let reader =
            SerializedFileReader::new(File::open(dir.path().join("2.parquet")).unwrap_or_else(|e| panic!("{e}")))
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reader.metadata().num_row_groups(), 4, "18,884 rows in row groups of 6,000");
    }

    #[test]
    fn the_keyed_sort_orders_as_a_stable_sort_by_account_then_time() {
        // Accounts that share their first eight bytes, end inside them, or
        // hold zero bytes, where the numeric prefix alone could mislead.
        let accounts = ["A", "A\0", "A\0B", "", "ABCDEFGH", "ABCDEFGH\0", "ABCDEFGHI", "ABCDEFGG", "Z", "é", "AB"];
        let times = [time("2026-11-03T10:00:00Z"), time("2026-11-03T09:00:00Z")];
        let rows: Vec<(String, DateTime<Utc>, usize)> =
            (0..200).map(|i| (accounts[(i * 7) % accounts.len()].to_string(), times[(i / 3) % 2], i)).collect();
        let mut expected: Vec<&(String, DateTime<Utc>, usize)> = rows.iter().collect();
        expected.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        let mut sorted: Vec<&(String, DateTime<Utc>, usize)> = rows.iter().collect();
        sort_by_account_and_time(&mut sorted, |r| (r.0.as_str(), r.1));
        assert_eq!(sorted, expected);
        assert!(leading_bytes("A") < leading_bytes("AB") && leading_bytes("ABCDEFGH") == leading_bytes("ABCDEFGHI"));
    }

    #[test]
    fn files_are_zstd_with_statistics_but_on_amounts_page_index_sort_order_and_row_groups_as_configured() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let nov = Period::new(2026, 11);
        let records: Vec<Rated> = (0..10)
            .map(|i| rated(&format!("e{i}"), &format!("A{}", i % 3), "2026-11-03T10:00:00Z", nov, "1.5"))
            .collect();
        let writer =
            WriterConfig { row_group_rows: 4, ..WriterConfig::default() }.build().unwrap_or_else(|e| panic!("{e}"));
        let files = plan(std::slice::from_ref(&records), &[], &[], time("2026-11-03T12:00:00Z"));
        let (_, rows) = files.iter().find(|(p, _)| p.table == Table::Rated).unwrap_or_else(|| panic!());
        let path = dir.path().join("f.parquet");
        let (totals, bytes) = writer.write(&path, rows, 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(totals.rows, 10);
        assert_eq!(totals.sums["net"], 150_000_000_000);
        assert_eq!(bytes, std::fs::metadata(&path).map(|m| m.len()).unwrap_or_default());
        assert_eq!(read_back(&path, Table::Rated).ok(), Some(totals));

        let file = File::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
        let builder =
            ParquetRecordBatchReaderBuilder::try_new_with_options(file, options).unwrap_or_else(|e| panic!("{e}"));
        let meta = builder.metadata();
        let schema = Table::Rated.schema();
        assert_eq!(meta.num_row_groups(), 3, "10 rows in row groups of 4");
        for group in meta.row_groups() {
            assert_eq!(group.sorting_columns().map(Vec::len), Some(2));
            for column in group.columns() {
                assert!(matches!(column.compression(), Compression::ZSTD(_)), "{:?}", column.column_path());
                // Amounts and quantities alone go without statistics.
                let path = column.column_path().parts();
                let amount = schema.field_with_name(&path[0]).is_ok_and(|f| *f.data_type() == decimal_type());
                assert_eq!(column.statistics().is_none(), amount, "{:?}", column.column_path());
                // Unique event ids are stored plain; the account, repeated, in a dictionary.
                let dictionary = column.dictionary_page_offset().is_some();
                match column.column_path().string().as_str() {
                    "event_id" => assert!(!dictionary, "event_id has a dictionary"),
                    "account" => assert!(dictionary, "account has no dictionary"),
                    _ => {}
                }
            }
        }
        assert!(meta.column_index().is_some(), "column index");
        assert!(meta.offset_index().is_some(), "offset index");
        let reader = SerializedFileReader::new(File::open(&path).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(reader.map(|r| r.metadata().file_metadata().num_rows()).ok(), Some(10));
    }

    #[test]
    fn settings_out_of_range_are_refused() {
        for config in [
            WriterConfig { row_group_rows: 0, ..WriterConfig::default() },
            WriterConfig { row_group_rows: ROW_GROUP_ROWS_MAX + 1, ..WriterConfig::default() },
            WriterConfig { zstd_level: 23, ..WriterConfig::default() },
        ] {
            assert!(matches!(config.build(), Err(Error::Config { .. })), "{config:?}");
        }
        let parsed: Result<WriterConfig, _> = serde_json::from_str(r#"{"row_group_rows": 10, "colour": 1}"#);
        assert!(parsed.is_err(), "unknown fields are refused");
    }
}
