//! Compaction: merging the small files of a partition into one, atomically,
//! without disturbing readers.
//!
//! Streaming commits write a file per partition every second or so. A
//! compaction reads the committed files of each partition that has at least
//! [`CompactOptions::min_files`] of them, merges their rows (sorted by
//! account, then event time, as a commit sorts them; rows that tie keep
//! their order, so the draws of a record stay in `draw_index` order) into
//! one file, or several when they hold more than
//! [`CompactOptions::file_rows_max`] rows, and books the result in a
//! compaction commit:
//!
//! 1. to 3. the merged files are written as a commit writes its files
//!    ([`Step::FileWritten`], [`Step::FileRenamed`],
//!    [`Step::DirectoriesSynced`]); each merged file's totals must equal the
//!    sum of its inputs' before the write and again when read back;
//! 4. the manifest (kind `compaction`, the files added, the paths removed,
//!    the previous commit's positions and checkpoint, the ledger totals
//!    unchanged) is written and renamed into place, the commit point
//!    ([`Step::ManifestWritten`], [`Step::ManifestRenamed`]);
//! 5. each removed file is renamed to `_trash/<sequence>/<its path>`
//!    ([`Step::FileTrashed`]) and the directories are fsynced
//!    ([`Step::TrashSynced`]): a plain directory listing never shows the old
//!    and the merged rows together for longer than this step, while a reader
//!    that listed its files before the commit finds them in the trash
//!    ([`crate::Snapshot`]);
//! 6. trash older than [`CompactOptions::trash_grace_minutes`] is deleted
//!    ([`Step::TrashPurged`]).
//!
//! A crash before step 4 leaves the old files committed (the next open
//! removes the merged ones); after it, the merged ones, and the next open
//! finishes step 5 ([`crate::trash`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::ops::{ControlFlow, Range};
use std::path::PathBuf;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, RecordBatch};
use arrow_select::interleave::interleave_record_batch;
use chrono::{DateTime, NaiveDate, SubsecRound, TimeDelta, Utc};
use ratewire_rater::time::Period;

use crate::bounds::{COMMIT_FILES_MAX, COMPACT_COMMIT_INPUTS_MAX, COMPACT_FILE_ROWS_MAX, TRASH_GRACE_MINUTES_DEFAULT};
use crate::commit::{Ledger, Step, by_table, stop};
use crate::error::{Error, io};
use crate::manifest::{CommitKind, DataFile, Manifest, in_ledger, manifest_of};
use crate::schema::Table;
use crate::snapshot::{check_totals, read_file};
use crate::totals::Totals;
use crate::trash::{move_to_trash, purge_trash};
use crate::writer::{Partition, Rows};

/// What [`Ledger::compact`] merges, and how long it keeps the trash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactOptions {
    /// Only this table's partitions (all tables when `None`).
    pub table: Option<Table>,
    /// Only partitions of this period (all when `None`).
    pub period: Option<Period>,
    /// Partitions with fewer committed files are left alone; at least 2.
    /// Default 2.
    pub min_files: usize,
    /// Rows merged into one file, 1 to [`COMPACT_FILE_ROWS_MAX`] (the
    /// default).
    pub file_rows_max: u64,
    /// Minutes a removed file stays in the trash, counted from its
    /// compaction's `booked_at`. Default 60.
    pub trash_grace_minutes: u64,
    /// The compaction's clock: its manifest's `booked_at`, and what the age
    /// of the trash is measured against. Usually the wall clock.
    pub now: DateTime<Utc>,
}

impl Default for CompactOptions {
    fn default() -> Self {
        Self {
            table: None,
            period: None,
            min_files: 2,
            file_rows_max: COMPACT_FILE_ROWS_MAX,
            trash_grace_minutes: TRASH_GRACE_MINUTES_DEFAULT,
            now: Utc::now(),
        }
    }
}

impl CompactOptions {
    /// Checks the values; returns the grace period.
    fn check(&self) -> Result<TimeDelta, Error> {
        if self.min_files < 2 {
            let value = self.min_files.to_string();
            return Err(Error::Config { field: "min_files", value, reason: "must be at least 2" });
        }
        if !(1..=COMPACT_FILE_ROWS_MAX).contains(&self.file_rows_max) {
            let value = self.file_rows_max.to_string();
            return Err(Error::Config { field: "file_rows_max", value, reason: "must be 1 to 1048576" });
        }
        i64::try_from(self.trash_grace_minutes).ok().and_then(TimeDelta::try_minutes).ok_or_else(|| Error::Config {
            field: "trash_grace_minutes",
            value: self.trash_grace_minutes.to_string(),
            reason: "is too large",
        })
    }
}

/// What a compaction will do to one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionPlan {
    /// The partition.
    pub partition: Partition,
    /// Its committed files before the compaction.
    pub files: usize,
    /// The groups of files merged, each into one file (two files or more
    /// each, oldest commit first).
    pub merges: Vec<Vec<DataFile>>,
}

/// What a compaction did to one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReport {
    /// The partition.
    pub partition: Partition,
    /// Its committed files before.
    pub files_before: usize,
    /// Its committed files after.
    pub files_after: usize,
    /// Rows merged.
    pub rows: u64,
    /// Bytes of the files merged.
    pub bytes_before: u64,
    /// Bytes of the files they were merged into.
    pub bytes_after: u64,
}

/// What [`Ledger::compact`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// The compaction commits made; empty when there was nothing to merge.
    pub sequences: Vec<u64>,
    /// The partitions merged, in table, period and day order.
    pub partitions: Vec<PartitionReport>,
    /// Trash directories deleted, their grace period over.
    pub trash_purged: Vec<PathBuf>,
}

impl Ledger {
    /// What [`Ledger::compact`] would merge with `options`.
    ///
    /// # Errors
    /// [`Error::Config`] for options out of range, [`Error::Manifest`] for a
    /// committed file whose path is not a partition's.
    pub fn compaction_plan(&self, options: &CompactOptions) -> Result<Vec<PartitionPlan>, Error> {
        options.check()?;
        let mut by_partition: BTreeMap<Partition, Vec<&DataFile>> = BTreeMap::new();
        for file in &self.files {
            let partition = partition_of(file).ok_or_else(|| Error::Manifest {
                path: manifest_of(&self.dir, &file.path),
                reason: format!("{} is not a {} partition's data file", file.path, file.table),
            })?;
            if options.table.is_none_or(|t| t == partition.table)
                && options.period.is_none_or(|p| p == partition.period)
            {
                by_partition.entry(partition).or_default().push(file);
            }
        }
        let mut plans = Vec::new();
        for (partition, files) in by_partition.into_iter().filter(|(_, files)| files.len() >= options.min_files) {
            let merges: Vec<Vec<DataFile>> = groups(&files, options.file_rows_max)
                .into_iter()
                .filter(|group| group.len() >= 2)
                .map(|group| group.into_iter().cloned().collect())
                .collect();
            if !merges.is_empty() {
                plans.push(PartitionPlan { partition, files: files.len(), merges });
            }
        }
        Ok(plans)
    }

    /// Merges the small files of every partition as `options` say, in one
    /// compaction commit (or several for very many files), then deletes
    /// trash older than the grace period.
    ///
    /// # Errors
    /// As [`Ledger::compaction_plan`]; I/O and Parquet errors, and
    /// [`Error::Manifest`] or [`Error::Schema`] for an input file that
    /// disagrees with its manifest, after which the handle refuses commits
    /// ([`Error::NeedsRecovery`]) until the ledger is opened again.
    ///
    /// # Panics
    /// If a merged file's totals differ from its inputs', before the write
    /// or on read-back: a bug, never an input error.
    pub fn compact(&mut self, options: &CompactOptions) -> Result<CompactionReport, Error> {
        self.compact_with(options, &mut |_| ControlFlow::Continue(()))
    }

    /// [`Ledger::compact`], calling `hook` after each [`Step`]; it stops
    /// with [`Error::Aborted`] where the hook breaks, leaving the directory
    /// as a crash there would (for crash tests and progress bars).
    ///
    /// # Errors
    /// As [`Ledger::compact`], and [`Error::Aborted`].
    pub fn compact_with(
        &mut self,
        options: &CompactOptions,
        hook: &mut dyn FnMut(Step) -> ControlFlow<()>,
    ) -> Result<CompactionReport, Error> {
        if self.broken {
            return Err(Error::NeedsRecovery);
        }
        let grace = options.check()?;
        let plans = self.compaction_plan(options)?;
        let merges: Vec<(Partition, &[DataFile])> =
            plans.iter().flat_map(|p| p.merges.iter().map(|m| (p.partition, m.as_slice()))).collect();
        let booked_at = options.now.trunc_subsecs(6);
        let mut report = CompactionReport::default();
        let mut outputs = Vec::with_capacity(merges.len());
        for range in commits(&merges) {
            let (sequence, files) = self.compact_commit(&merges[range], booked_at, hook)?;
            report.sequences.push(sequence);
            outputs.extend(files);
        }
        report.partitions = reports(&plans, &outputs);
        report.trash_purged = purge_trash(&self.dir, booked_at, grace)?;
        stop(hook, Step::TrashPurged)?;
        Ok(report)
    }

    /// One compaction commit of `merges`; returns its sequence and the files
    /// it wrote, one per merge, in order.
    fn compact_commit(
        &mut self,
        merges: &[(Partition, &[DataFile])],
        booked_at: DateTime<Utc>,
        hook: &mut dyn FnMut(Step) -> ControlFlow<()>,
    ) -> Result<(u64, Vec<DataFile>), Error> {
        // Files are committed, so a manifest, and its checkpoint, exists.
        let checkpoint = self.checkpoint.clone().ok_or(Error::NeedsRecovery)?;
        self.broken = true;
        let sequence = self.sequence + 1;
        let rows = merges.iter().map(|(partition, inputs)| Ok((*partition, self.merge(partition.table, inputs)?)));
        let files = self.write_files(sequence, rows, hook)?;
        let manifest = Manifest {
            format: CommitKind::Compaction.format(),
            sequence,
            booked_at,
            kind: CommitKind::Compaction,
            totals: by_table(&files),
            files,
            removed: merges.iter().flat_map(|(_, inputs)| inputs.iter().map(|f| f.path.clone())).collect(),
            ledger_totals: self.totals.clone(),
            offsets: Vec::new(),
            positions: self.positions.clone(),
            checkpoint,
            close: None,
            rerate: None,
        };
        self.publish(&manifest, hook)?;
        move_to_trash(&self.dir, sequence, &manifest.removed, hook)?;
        self.broken = false;
        Ok((sequence, manifest.files))
    }

    /// Reads `inputs`, checking each against its manifest entry, and merges
    /// their rows sorted by account, then event time.
    fn merge(&self, table: Table, inputs: &[DataFile]) -> Result<Rows<'static>, Error> {
        let mut batches = Vec::new();
        let mut totals = Totals::zero(table);
        for input in inputs {
            let path = in_ledger(&self.dir, &input.path);
            let file = File::open(&path).map_err(io(&path))?;
            let read = read_file(file, &path, table, &mut |batch| batches.push(batch))?;
            check_totals(&self.dir, input, &read)?;
            totals.add(&read);
        }
        let merged = sorted(table, &batches)?;
        Ok(Rows::Merged(table, merged, totals))
    }
}

/// The rows of `batches` in one batch sorted by account, then event time (a
/// missing value first), ties in the order given.
pub(crate) fn sorted(table: Table, batches: &[RecordBatch]) -> Result<RecordBatch, Error> {
    if batches.is_empty() {
        return Ok(RecordBatch::new_empty(table.schema()));
    }
    let mut keys: Vec<(Option<&str>, Option<i64>, usize, usize)> = Vec::new();
    for (index, batch) in batches.iter().enumerate() {
        let accounts = batch.column_by_name("account").and_then(|c| c.as_string_opt::<i32>());
        let times = batch.column_by_name("event_time").and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>());
        let (Some(accounts), Some(times)) = (accounts, times) else {
            // `read_file` checked the schema; this is unreachable.
            return Err(Error::Arrow(arrow_schema::ArrowError::SchemaError(format!("{table}: no sort columns"))));
        };
        for row in 0..batch.num_rows() {
            let account = accounts.is_valid(row).then(|| accounts.value(row));
            let time = times.is_valid(row).then(|| times.value(row));
            keys.push((account, time, index, row));
        }
    }
    // The batch and row indexes make every key distinct and keep ties in
    // file, then row, order.
    keys.sort_unstable();
    let indices: Vec<(usize, usize)> = keys.iter().map(|(_, _, batch, row)| (*batch, *row)).collect();
    let batches: Vec<&RecordBatch> = batches.iter().collect();
    Ok(interleave_record_batch(&batches, &indices)?)
}

/// The partition of a committed file, from its path.
pub(crate) fn partition_of(file: &DataFile) -> Option<Partition> {
    let mut parts = file.path.split('/');
    let table = Table::from_name(parts.next()?.strip_prefix("table=")?)?;
    let period = Period::parse(parts.next()?.strip_prefix("period=")?)?;
    let day = NaiveDate::parse_from_str(parts.next()?.strip_prefix("day=")?, "%Y-%m-%d").ok()?;
    (table == file.table && parts.count() == 1).then_some(Partition { table, period, day })
}

/// Consecutive files grouped so that a group holds at most `rows_max`
/// rows, unless it is a single larger file.
fn groups<'a>(files: &[&'a DataFile], rows_max: u64) -> Vec<Vec<&'a DataFile>> {
    let mut groups: Vec<Vec<&DataFile>> = Vec::new();
    let mut rows = 0;
    for file in files {
        match groups.last_mut() {
            Some(group) if rows + file.totals.rows <= rows_max => {
                group.push(file);
                rows += file.totals.rows;
            }
            _ => {
                groups.push(vec![file]);
                rows = file.totals.rows;
            }
        }
    }
    groups
}

/// `merges` cut into commits of at most [`COMMIT_FILES_MAX`] files written
/// and [`COMPACT_COMMIT_INPUTS_MAX`] removed (a merge is never split).
fn commits(merges: &[(Partition, &[DataFile])]) -> Vec<Range<usize>> {
    let mut commits: Vec<Range<usize>> = Vec::new();
    let mut inputs = 0;
    for (index, (_, files)) in merges.iter().enumerate() {
        match commits.last_mut() {
            Some(range) if range.len() < COMMIT_FILES_MAX && inputs + files.len() <= COMPACT_COMMIT_INPUTS_MAX => {
                range.end = index + 1;
                inputs += files.len();
            }
            _ => {
                commits.push(index..index + 1);
                inputs = files.len();
            }
        }
    }
    commits
}

/// The report per partition: `outputs` holds one file per merge of
/// `plans`, in order.
fn reports(plans: &[PartitionPlan], outputs: &[DataFile]) -> Vec<PartitionReport> {
    let mut outputs = outputs.iter();
    let mut reports = Vec::with_capacity(plans.len());
    for plan in plans {
        let inputs = plan.merges.iter().flatten();
        let merged = plan.merges.len();
        reports.push(PartitionReport {
            partition: plan.partition,
            files_before: plan.files,
            files_after: plan.files - inputs.clone().count() + merged,
            rows: inputs.clone().map(|f| f.totals.rows).sum(),
            bytes_before: inputs.map(|f| f.bytes).sum(),
            bytes_after: outputs.by_ref().take(merged).map(|f| f.bytes).sum(),
        });
    }
    reports
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::fs;
    use std::path::Path;

    use crate::commit::{Commit, entries};
    use crate::manifest::SourceRange;
    use crate::manifest::{MANIFEST_DIR, manifest_name};
    use crate::snapshot::Snapshot;
    use crate::testing::{dec, rated, rejected, time};
    use crate::trash::TRASH_DIR;
    use ratewire_rater::{Draw, Draws, Rated};

    const COMMITS: usize = 4;

    fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
        result.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Commit `i`'s records: every commit touches 2026-11-03, with a tie on
    /// account and time across commits and a record of three draws; the
    /// first alone touches 2026-11-04.
    fn records(i: usize) -> Vec<Rated> {
        let nov = Period::new(2026, 11);
        let mut split = rated(&format!("s-{i}"), "A1", &format!("2026-11-03T0{i}:00:00Z"), nov, "3");
        split.draws = Draws::from_vec(
            (0..3).map(|k| Draw { balance: format!("b{k}").into(), amount: dec("1"), remaining: dec("0") }).collect(),
        );
        let mut records = vec![
            rated(&format!("tie-{i}"), "A0", "2026-11-03T12:00:00Z", nov, "1"),
            rated(&format!("b-{i}"), "B1", &format!("2026-11-03T0{i}:30:00Z"), nov, "0.5"),
            rated(&format!("a-{i}"), "A1", &format!("2026-11-03T1{i}:15:00Z"), nov, "2.25"),
            split,
        ];
        if i == 0 {
            records.push(rated("lonely", "A1", "2026-11-04T09:00:00Z", nov, "1"));
        }
        records
    }

    fn commit_batch(ledger: &mut Ledger, i: usize) {
        let rated = records(i);
        let offset = i64::try_from(i).unwrap_or_default() * 10;
        let rejects = [rejected(offset + 1, Some("Z9")), rejected(offset + 2, None)];
        let offsets = [SourceRange { source: "events.jsonl".into(), partition: 0, from: offset + 1, to: offset + 10 }];
        let checkpoint = format!("state {i}");
        let commit = Commit {
            rated: std::slice::from_ref(&rated),
            rejected: &rejects,
            facts: &[],
            offsets: &offsets,
            checkpoint: checkpoint.as_bytes(),
            booked_at: time("2026-11-03T13:00:00Z"),
        };
        ok(ledger.commit(&commit));
    }

    /// A ledger of [`COMMITS`] commits: 14 files, 12 of them in three
    /// partitions of four.
    fn filled(dir: &Path) -> Ledger {
        let (mut ledger, _) = ok(Ledger::open(dir));
        for i in 0..COMMITS {
            commit_batch(&mut ledger, i);
        }
        assert_eq!(ledger.committed_files().len(), 14);
        ledger
    }

    fn options(now: &str) -> CompactOptions {
        CompactOptions { now: time(now), ..CompactOptions::default() }
    }

    fn paths(files: &[DataFile]) -> BTreeSet<String> {
        files.iter().map(|f| f.path.clone()).collect()
    }

    /// The `.parquet` files a directory glob over `table=*` finds.
    fn on_disk(dir: &Path) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut pending = vec![dir.to_path_buf()];
        for _ in 0..10_000 {
            let Some(current) = pending.pop() else { break };
            for (name, path) in ok(entries(&current)) {
                if path.is_dir() && (current != dir || name.starts_with("table=")) {
                    pending.push(path);
                } else if name.ends_with(".parquet") {
                    let relative = ok(path.strip_prefix(dir)).to_string_lossy().replace('\\', "/");
                    found.insert(relative);
                }
            }
        }
        found
    }

    fn batches(dir: &Path, file: &DataFile) -> Vec<RecordBatch> {
        let path = in_ledger(dir, &file.path);
        let mut batches = Vec::new();
        ok(read_file(ok(File::open(&path)), &path, file.table, &mut |b| batches.push(b)));
        batches
    }

    fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
        let values = batches.iter().filter_map(|b| b.column_by_name(column)).filter_map(|c| c.as_string_opt::<i32>());
        values.flat_map(|c| c.iter().map(|v| v.unwrap_or_default().to_string()).collect::<Vec<_>>()).collect()
    }

    #[test]
    fn a_merge_keeps_rows_totals_and_sort_order() {
        let dir = ok(tempfile::tempdir());
        let mut ledger = filled(dir.path());
        let totals = ledger.totals().clone();
        let before = paths(ledger.committed_files());

        let report = ok(ledger.compact(&options("2026-11-03T14:00:00Z")));
        assert_eq!(report.sequences, [5]);
        let merged: Vec<(String, usize, usize, u64)> = report
            .partitions
            .iter()
            .map(|p| (p.partition.dir().to_string_lossy().into_owned(), p.files_before, p.files_after, p.rows))
            .collect();
        assert_eq!(
            merged,
            [
                ("table=rated/period=2026-11/day=2026-11-03".into(), 4, 1, 16),
                ("table=draws/period=2026-11/day=2026-11-03".into(), 4, 1, 24),
                ("table=rejects/period=2026-11/day=2026-11-03".into(), 4, 1, 8),
            ]
        );
        assert!(report.partitions.iter().all(|p| p.bytes_after > 0 && p.bytes_before > p.bytes_after));
        assert_eq!(ledger.committed_files().len(), 5, "two single-file partitions are left alone");
        assert_eq!(ledger.totals(), &totals);
        assert_eq!(ok(ledger.verify()), totals);
        assert_eq!(on_disk(dir.path()), paths(ledger.committed_files()), "a directory glob sees one copy");
        let trash = dir.path().join(TRASH_DIR).join(format!("{:020}", 5));
        let removed: BTreeSet<String> = before.difference(&paths(ledger.committed_files())).cloned().collect();
        assert_eq!(removed.len(), 12);
        assert!(removed.iter().all(|p| in_ledger(&trash, p).is_file()), "removed files wait in the trash");

        // Rows come sorted by account, then time; ties keep commit order.
        let mut expected: Vec<Rated> =
            (0..COMMITS).flat_map(records).filter(|r| r.event_time.date_naive().to_string() == "2026-11-03").collect();
        expected.sort_by(|a, b| (&a.account, a.event_time).cmp(&(&b.account, b.event_time)));
        let file = |table| ledger.committed_files().iter().find(|f| f.table == table && f.path.contains("-11-03/"));
        let rated_file = file(Table::Rated).unwrap_or_else(|| panic!("no merged rated file"));
        let ids: Vec<String> = expected.iter().map(|r| r.event_id.to_string()).collect();
        assert_eq!(strings(&batches(dir.path(), rated_file), "event_id"), ids);
        assert!(ids.windows(4).any(|w| w == ["tie-0", "tie-1", "tie-2", "tie-3"]), "{ids:?}");
        // The draws of a record stay together and in draw_index order.
        let draws = batches(dir.path(), file(Table::Draws).unwrap_or_else(|| panic!("no merged draws file")));
        let indexes = draws
            .iter()
            .filter_map(|b| b.column_by_name("draw_index"))
            .filter_map(|c| c.as_primitive_opt::<arrow_array::types::Int32Type>())
            .flat_map(|c| c.values().to_vec());
        let found: Vec<(String, i32)> = strings(&draws, "event_id").into_iter().zip(indexes).collect();
        let expected_draws: Vec<(String, i32)> = expected
            .iter()
            .flat_map(|r| (0..r.draws.len()).map(|k| (r.event_id.to_string(), i32::try_from(k).unwrap_or_default())))
            .collect();
        assert_eq!(found, expected_draws);

        // The commit carries positions and checkpoint over unchanged.
        drop(ledger);
        let (ledger, recovery) = ok(Ledger::open(dir.path()));
        assert_eq!(recovery.checkpoint, b"state 3");
        assert_eq!(recovery.offsets[0].to, 40);
        assert!(recovery.trashed.is_empty(), "{recovery:?}");
        assert_eq!(ok(ledger.verify()), totals);
    }

    #[test]
    fn a_compacted_partition_is_left_alone_until_new_files_arrive() {
        let dir = ok(tempfile::tempdir());
        let mut ledger = filled(dir.path());
        ok(ledger.compact(&options("2026-11-03T14:00:00Z")));
        let files = paths(ledger.committed_files());

        let again = ok(ledger.compact(&options("2026-11-03T14:01:00Z")));
        assert_eq!(again, CompactionReport::default());
        assert_eq!((ledger.sequence(), paths(ledger.committed_files())), (5, files));

        commit_batch(&mut ledger, COMMITS);
        let totals = ledger.totals().clone();
        let report = ok(ledger.compact(&options("2026-11-03T14:02:00Z")));
        assert_eq!(report.sequences, [7]);
        assert!(report.partitions.iter().all(|p| (p.files_before, p.files_after) == (2, 1)), "{report:?}");
        assert_eq!(ledger.committed_files().len(), 5);
        assert_eq!(ok(ledger.verify()), totals);
    }

    #[test]
    fn filters_and_the_row_bound_choose_what_is_merged() {
        let dir = ok(tempfile::tempdir());
        let mut ledger = filled(dir.path());
        let only = |table, file_rows_max| CompactOptions {
            table: Some(table),
            file_rows_max,
            ..options("2026-11-03T14:00:00Z")
        };
        // Four rated files of four rows, at most nine rows a file: two merges.
        let report = ok(ledger.compact(&only(Table::Rated, 9)));
        assert_eq!(report.partitions.len(), 1);
        assert_eq!((report.partitions[0].files_before, report.partitions[0].files_after), (4, 2));
        assert_eq!(ledger.committed_files().len(), 12);
        assert_eq!(ok(ledger.compact(&only(Table::Rated, 9))).sequences, [0u64; 0], "8 + 8 rows exceed 9");

        let other_period = CompactOptions { period: Some(Period::new(2026, 12)), ..options("2026-11-03T14:00:00Z") };
        assert!(ok(ledger.compaction_plan(&other_period)).is_empty());
        let plan = ok(ledger.compaction_plan(&CompactOptions { min_files: 5, ..options("2026-11-03T14:00:00Z") }));
        assert!(plan.is_empty(), "{plan:?}");

        for bad in [
            CompactOptions { min_files: 1, ..CompactOptions::default() },
            CompactOptions { file_rows_max: 0, ..CompactOptions::default() },
            CompactOptions { file_rows_max: COMPACT_FILE_ROWS_MAX + 1, ..CompactOptions::default() },
            CompactOptions { trash_grace_minutes: u64::MAX, ..CompactOptions::default() },
        ] {
            assert!(matches!(ledger.compact(&bad), Err(Error::Config { .. })), "{bad:?}");
        }
    }

    /// Every step of the compaction of a [`filled`] ledger, in order.
    fn steps() -> Vec<Step> {
        let dir = ok(tempfile::tempdir());
        let mut ledger = filled(dir.path());
        let mut steps = Vec::new();
        let mut record = |step| {
            steps.push(step);
            ControlFlow::Continue(())
        };
        ok(ledger.compact_with(&options("2026-11-03T14:00:00Z"), &mut record));
        steps
    }

    #[test]
    fn a_crash_at_any_step_leaves_the_old_or_the_merged_files_and_readers_unaffected() {
        let steps = steps();
        assert_eq!(steps.len(), 3 + 3 + 1 + 2 + 12 + 2, "{steps:?}");
        assert_eq!(steps.last(), Some(&Step::TrashPurged));
        let commit_point = steps.iter().position(|s| *s == Step::ManifestRenamed).unwrap_or_default();
        for (at, crash) in steps.iter().copied().enumerate() {
            let dir = ok(tempfile::tempdir());
            let (totals, old) = {
                let mut ledger = filled(dir.path());
                let old = paths(ledger.committed_files());
                let stop = |step| if step == crash { ControlFlow::Break(()) } else { ControlFlow::Continue(()) };
                let result = ledger.compact_with(&options("2026-11-03T14:00:00Z"), &mut { stop });
                assert!(matches!(result, Err(Error::Aborted(step)) if step == crash), "{crash:?}: {result:?}");
                if crash != Step::TrashPurged {
                    assert!(matches!(ledger.compact(&options("2026-11-03T14:00:00Z")), Err(Error::NeedsRecovery)));
                }
                (ledger.totals().clone(), old)
            }; // The process "dies".
            let reader = ok(Snapshot::at(dir.path(), 4));
            assert_eq!(ok(reader.verify()), totals, "after {crash:?}, before recovery");

            let (mut ledger, recovery) = ok(Ledger::open(dir.path()));
            assert_eq!(ok(ledger.verify()), totals, "after {crash:?}");
            let committed = paths(ledger.committed_files());
            assert_eq!(on_disk(dir.path()), committed, "after {crash:?}: a directory glob sees one copy");
            if at >= commit_point {
                assert_eq!((ledger.sequence(), committed.len()), (5, 5), "after {crash:?}");
                let moved_before = steps[..=at].iter().filter(|s| matches!(s, Step::FileTrashed(_))).count();
                assert_eq!(recovery.trashed.len(), 12 - moved_before, "after {crash:?}");
            } else {
                assert_eq!((ledger.sequence(), &committed), (4, &old), "after {crash:?}");
            }
            assert_eq!(ok(reader.verify()), totals, "after {crash:?} and recovery");
            assert_eq!(ok(Snapshot::open(dir.path())).files(), ledger.committed_files());

            // Compacting again finishes the job once.
            ok(ledger.compact(&options("2026-11-03T14:00:00Z")));
            assert_eq!(ledger.committed_files().len(), 5, "after {crash:?}");
            assert_eq!(ok(ledger.verify()), totals, "after {crash:?}");
        }
    }

    #[test]
    fn trash_is_deleted_once_its_grace_period_is_over() {
        let dir = ok(tempfile::tempdir());
        let mut ledger = filled(dir.path());
        let reader = ok(Snapshot::open(dir.path()));
        let totals = ledger.totals().clone();
        ok(ledger.compact(&options("2026-11-03T14:00:00Z")));
        commit_batch(&mut ledger, COMMITS);
        let report = ok(ledger.compact(&options("2026-11-03T14:30:00Z")));
        assert_eq!((report.sequences.as_slice(), report.trash_purged.len()), (&[7][..], 0));
        assert_eq!(ok(reader.verify()), totals, "within the grace period");

        let report = ok(ledger.compact(&options("2026-11-03T15:00:00Z")));
        assert_eq!(report.trash_purged, [dir.path().join(TRASH_DIR).join(format!("{:020}", 5))]);
        assert!(matches!(reader.verify(), Err(Error::Gone { sequence: 4, .. })));
        assert_eq!(ok(ok(Snapshot::at(dir.path(), 6)).verify()), ok(ledger.verify()), "commit 7's trash stays");

        let now = CompactOptions { trash_grace_minutes: 0, ..options("2026-11-03T15:00:00Z") };
        assert_eq!(ok(ledger.compact(&now)).trash_purged.len(), 1);
        assert!(!dir.path().join(TRASH_DIR).join(format!("{:020}", 7)).exists());
    }

    #[test]
    fn manifests_without_kind_or_removed_still_read() {
        let dir = ok(tempfile::tempdir());
        drop(filled(dir.path()));
        let path = dir.path().join(MANIFEST_DIR).join(manifest_name(1));
        let mut json: serde_json::Value = ok(serde_json::from_slice(&ok(fs::read(&path))));
        let object = json.as_object_mut().unwrap_or_else(|| panic!("not an object"));
        assert_eq!(object.remove("kind"), Some("ingest".into()));
        assert_eq!(object.remove("removed"), Some(serde_json::json!([])));
        assert_eq!(object["format"], 1);
        ok(fs::write(&path, ok(serde_json::to_vec(&json))));
        let manifest = ok(Manifest::read(&path, 1));
        assert_eq!((manifest.kind, manifest.removed.len()), (CommitKind::Ingest, 0));
        let (ledger, _) = ok(Ledger::open(dir.path()));
        assert_eq!(ledger.committed_files().len(), 14);
    }
}
