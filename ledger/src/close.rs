//! Period close: a commit that records a billing period as closed, with the
//! totals of its rows, after which the ledger takes no more rows for it.
//!
//! [`Ledger::close_period`] checks the request, reads the period's files
//! (checking each against its manifest entry, and summing `rated` per
//! currency), then books a commit of kind `close`: a manifest that adds and
//! removes no file, carries the previous commit's positions, checkpoint and
//! ledger totals over unchanged, and records the period and its totals
//! ([`PeriodClose`]). It is written and renamed into place like any manifest
//! ([`Step::ManifestWritten`], [`Step::ManifestRenamed`]), so readers and
//! recovery see the close entirely or not at all.
//!
//! Periods close in order: closing one also closes every earlier period
//! without rows, so the closed periods are always those up to
//! [`Ledger::closed_through`]. A commit that would book a `rated`, `draws` or
//! `facts` row in a closed period is refused ([`Error::PeriodClosed`]): the
//! rater books a late event in the open period instead, naming the closed
//! one in the `original_period` column.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::ops::ControlFlow;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::Decimal128Type;
use arrow_array::{Array, RecordBatch};
use chrono::{DateTime, SubsecRound, Utc};
use ratewire_rater::time::Period;
use ratewire_rater::{Fact, Rated};
use serde::{Deserialize, Serialize};

use crate::commit::{Ledger, Step, by_table};
use crate::compact::partition_of;
use crate::error::{Error, io};
use crate::manifest::{CommitKind, DataFile, Manifest, in_ledger};
use crate::schema::Table;
use crate::snapshot::{check_totals, read_file};
use crate::totals::Totals;

/// The tables whose rows belong to a billing period, which a close totals
/// and freezes. `rejects` is filed by the month a reject was booked, not by
/// billing period, and is left out.
pub const PERIOD_TABLES: [Table; 3] = [Table::Rated, Table::Draws, Table::Facts];

/// What a close commit records ([`Manifest::close`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodClose {
    /// The period closed (`YYYY-MM`).
    #[serde(with = "period_text")]
    pub period: Period,
    /// Rows and money sums of the period's files, per table of
    /// [`PERIOD_TABLES`], as of the close.
    pub totals: BTreeMap<Table, Totals>,
    /// The period's `rated` rows per currency: rows and sums of `gross`,
    /// `net` and `tax`. They add up to `totals.rated`.
    pub currencies: BTreeMap<String, Totals>,
    /// Of those, the late rows (booked in this period, naming an earlier
    /// closed one in `original_period`), per currency.
    pub late: BTreeMap<String, Totals>,
}

/// A closed period, as the ledger's manifests record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedPeriod {
    /// The close commit.
    pub sequence: u64,
    /// When it was closed.
    pub booked_at: DateTime<Utc>,
    /// The period and its totals.
    pub close: PeriodClose,
}

/// What [`Ledger::close_period`] closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseOptions {
    /// The period to close.
    pub period: Period,
    /// The close's clock: its manifest's `booked_at`, and what "the period
    /// has ended" is judged by. Usually the wall clock.
    pub now: DateTime<Utc>,
}

impl Ledger {
    /// Every period closed, oldest first.
    #[must_use]
    pub fn closed_periods(&self) -> &[ClosedPeriod] {
        &self.closed
    }

    /// The latest period closed: it and every earlier one are closed.
    #[must_use]
    pub fn closed_through(&self) -> Option<Period> {
        closed_through(&self.closed)
    }

    /// The billing periods some committed `rated`, `draws` or `facts` file
    /// belongs to.
    #[must_use]
    pub fn periods_with_rows(&self) -> BTreeSet<Period> {
        self.files
            .iter()
            .filter(|f| PERIOD_TABLES.contains(&f.table) && f.totals.rows > 0)
            .filter_map(|f| partition_of(f).map(|p| p.period))
            .collect()
    }

    /// Closes `options.period` in a commit of its own.
    ///
    /// # Errors
    /// Before anything is written: [`Error::AlreadyClosed`],
    /// [`Error::PeriodAfterRows`], [`Error::PeriodNotOver`],
    /// [`Error::EarlierPeriodOpen`]; I/O and Parquet errors, and
    /// [`Error::Manifest`] for a file of the period that disagrees with its
    /// manifest. Part-way: I/O errors, after which the handle refuses
    /// commits ([`Error::NeedsRecovery`]) until the ledger is opened again.
    pub fn close_period(&mut self, options: &CloseOptions) -> Result<ClosedPeriod, Error> {
        self.close_period_with(options, &mut |_| ControlFlow::Continue(()))
    }

    /// [`Ledger::close_period`], calling `hook` after each [`Step`]; it
    /// stops with [`Error::Aborted`] where the hook breaks, leaving the
    /// directory as a crash there would (for crash tests).
    ///
    /// # Errors
    /// As [`Ledger::close_period`], and [`Error::Aborted`].
    pub fn close_period_with(
        &mut self,
        options: &CloseOptions,
        hook: &mut dyn FnMut(Step) -> ControlFlow<()>,
    ) -> Result<ClosedPeriod, Error> {
        if self.broken {
            return Err(Error::NeedsRecovery);
        }
        let period = options.period;
        self.check_close(period, options.now)?;
        let close = self.read_period(period)?;
        // A period with rows has files, so a manifest and its checkpoint exist.
        let checkpoint = self.checkpoint.clone().ok_or(Error::NeedsRecovery)?;
        let sequence = self.sequence + 1;
        let booked_at = options.now.trunc_subsecs(6);
        let manifest = Manifest {
            format: CommitKind::Close.format(),
            sequence,
            booked_at,
            kind: CommitKind::Close,
            files: Vec::new(),
            removed: Vec::new(),
            totals: by_table(&[]),
            ledger_totals: self.totals.clone(),
            offsets: Vec::new(),
            positions: self.positions.clone(),
            checkpoint,
            close: Some(close.clone()),
            rerate: None,
        };
        self.broken = true;
        self.publish(&manifest, hook)?;
        self.broken = false;
        Ok(ClosedPeriod { sequence, booked_at, close })
    }

    /// Refuses a close of `period` at `now` that cannot be made.
    fn check_close(&self, period: Period, now: DateTime<Utc>) -> Result<(), Error> {
        let closed = self.closed_through();
        if let Some(closed_through) = closed.filter(|c| period <= *c) {
            let sequence = self.closed.iter().find(|c| c.close.period >= period).map_or(0, |c| c.sequence);
            return Err(Error::AlreadyClosed { period, closed_through, sequence });
        }
        let with_rows = self.periods_with_rows();
        let last = with_rows.last().copied();
        if last.is_none_or(|last| period > last) {
            return Err(Error::PeriodAfterRows { period, last });
        }
        if Period::of_date(now.date_naive()) <= period {
            return Err(Error::PeriodNotOver { period, now });
        }
        if let Some(open) = with_rows.into_iter().find(|p| closed.is_none_or(|c| *p > c) && *p < period) {
            return Err(Error::EarlierPeriodOpen { period, open });
        }
        Ok(())
    }

    /// Reads the files of `period`, checking each against its manifest
    /// entry, and returns its totals.
    fn read_period(&self, period: Period) -> Result<PeriodClose, Error> {
        let mut close = PeriodClose {
            period,
            totals: period_totals(&self.files, period),
            currencies: BTreeMap::new(),
            late: BTreeMap::new(),
        };
        let files = self
            .files
            .iter()
            .filter(|f| PERIOD_TABLES.contains(&f.table) && partition_of(f).is_some_and(|p| p.period == period));
        let mut read_totals: BTreeMap<Table, Totals> = PERIOD_TABLES.map(|t| (t, Totals::zero(t))).into();
        for file in files {
            let path = in_ledger(&self.dir, &file.path);
            let opened = File::open(&path).map_err(io(&path))?;
            let mut sums = Ok(());
            let mut each = |batch: RecordBatch| {
                if file.table == Table::Rated && sums.is_ok() {
                    sums = by_currency(&path, &batch, &mut close.currencies, &mut close.late);
                }
            };
            let read = read_file(opened, &path, file.table, &mut each)?;
            sums?;
            check_totals(&self.dir, file, &read)?;
            read_totals.entry(file.table).or_insert_with(|| Totals::zero(file.table)).add(&read);
        }
        assert_eq!(read_totals, close.totals, "period {period}: the files read disagree with their manifests");
        let mut rated = Totals::zero(Table::Rated);
        for totals in close.currencies.values() {
            rated.add(totals);
        }
        assert_eq!(Some(&rated), close.totals.get(&Table::Rated), "period {period}: currencies add up to the total");
        Ok(close)
    }
}

/// The latest period of `closed`, which are in ascending order.
pub(crate) fn closed_through(closed: &[ClosedPeriod]) -> Option<Period> {
    closed.last().map(|c| c.close.period)
}

/// Totals of the files of `period`, per table of [`PERIOD_TABLES`].
fn period_totals(files: &[DataFile], period: Period) -> BTreeMap<Table, Totals> {
    let mut totals: BTreeMap<Table, Totals> = PERIOD_TABLES.map(|t| (t, Totals::zero(t))).into();
    for file in files.iter().filter(|f| partition_of(f).is_some_and(|p| p.period == period)) {
        if let Some(sum) = totals.get_mut(&file.table) {
            sum.add(&file.totals);
        }
    }
    totals
}

/// Adds a `rated` batch's rows to the totals per currency, and its late
/// rows to `late`. Sums a batch per currency first, so that a row costs no
/// allocation.
fn by_currency(
    path: &Path,
    batch: &RecordBatch,
    currencies: &mut BTreeMap<String, Totals>,
    late: &mut BTreeMap<String, Totals>,
) -> Result<(), Error> {
    let schema_error = || Error::Schema { path: path.to_path_buf(), table: Table::Rated };
    let currency = batch.column_by_name("currency").and_then(|c| c.as_string_opt::<i32>()).ok_or_else(schema_error)?;
    let original = batch.column_by_name("original_period").and_then(|c| c.as_string_opt::<i32>());
    let original = original.ok_or_else(schema_error)?;
    let names = Table::Rated.total_columns();
    let mut money = Vec::with_capacity(names.len());
    for name in names {
        let column = batch.column_by_name(name).and_then(|c| c.as_primitive_opt::<Decimal128Type>());
        money.push(column.ok_or_else(schema_error)?);
    }
    // (currency, late) -> rows and a sum per money column, for this batch.
    let mut sums: BTreeMap<(&str, bool), (u64, Vec<i128>)> = BTreeMap::new();
    for row in 0..batch.num_rows() {
        let (rows, values) =
            sums.entry((currency.value(row), original.is_valid(row))).or_insert_with(|| (0, vec![0; names.len()]));
        *rows += 1;
        for (sum, column) in values.iter_mut().zip(&money) {
            // Totals::add checks the 38 digits; this guards the 128 bits.
            let Some(added) = sum.checked_add(column.value(row)) else {
                panic!("{}: a money total of the period overflows 128 bits", path.display());
            };
            *sum = added;
        }
    }
    for ((code, is_late), (rows, values)) in sums {
        let mut totals = Totals::zero(Table::Rated);
        totals.rows = rows;
        for (name, value) in names.iter().zip(values) {
            totals.sums.insert((*name).to_string(), value);
        }
        currencies.entry(code.to_string()).or_insert_with(|| Totals::zero(Table::Rated)).add(&totals);
        if is_late {
            late.entry(code.to_string()).or_insert_with(|| Totals::zero(Table::Rated)).add(&totals);
        }
    }
    Ok(())
}

/// Refuses a commit that would book a row in a period up to `closed`.
pub(crate) fn refuse_closed(rated: &[Vec<Rated>], facts: &[Fact], closed: Period) -> Result<(), Error> {
    let rows = rated
        .iter()
        .flatten()
        .map(|r| (Table::Rated, &r.event_id, r.period))
        .chain(facts.iter().map(|f| (Table::Facts, &f.event_id, f.period)));
    for (table, event_id, period) in rows {
        if period <= closed {
            return Err(Error::PeriodClosed { table, event_id: event_id.to_string(), period, closed_through: closed });
        }
    }
    Ok(())
}

/// Checks a manifest's close against the committed `files` as of it (after
/// it is replayed): a close adds and removes nothing and records its
/// period's totals; other commits record no close.
pub(crate) fn check_close(files: &[DataFile], path: &Path, manifest: &Manifest) -> Result<(), Error> {
    let invalid = |reason: String| Error::Manifest { path: path.to_path_buf(), reason };
    match (manifest.kind, &manifest.close) {
        (CommitKind::Close, Some(close)) => {
            if !manifest.files.is_empty() || !manifest.removed.is_empty() {
                return Err(invalid("a close that adds or removes files".into()));
            }
            let found = period_totals(files, close.period);
            if found != close.totals {
                let reason =
                    format!("closes {} with totals {:?}; its files hold {found:?}", close.period, close.totals);
                return Err(invalid(reason));
            }
            Ok(())
        }
        (CommitKind::Close, None) => Err(invalid("a close that names no period".into())),
        (_, Some(_)) => Err(invalid(format!("a {:?} commit that closes a period", manifest.kind))),
        (_, None) => Ok(()),
    }
}

/// Takes in a manifest's close, if any: closes come in period order.
pub(crate) fn note_close(closed: &mut Vec<ClosedPeriod>, path: &Path, manifest: &Manifest) -> Result<(), Error> {
    let Some(close) = &manifest.close else { return Ok(()) };
    if let Some(last) = closed_through(closed).filter(|last| close.period <= *last) {
        let reason = format!("closes {} after {last} was closed", close.period);
        return Err(Error::Manifest { path: path.to_path_buf(), reason });
    }
    closed.push(ClosedPeriod { sequence: manifest.sequence, booked_at: manifest.booked_at, close: close.clone() });
    Ok(())
}

/// Serde for a period as `YYYY-MM`.
pub(crate) mod period_text {
    use ratewire_rater::time::Period;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(crate) fn serialize<S: Serializer>(period: &Period, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(period)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Period, D::Error> {
        let text = String::deserialize(d)?;
        Period::parse(&text).ok_or_else(|| D::Error::custom(format!("{text:?} is not a period (YYYY-MM)")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::Commit;
    use crate::manifest::{MANIFEST_DIR, SourceRange, manifest_name};
    use crate::snapshot::Snapshot;
    use crate::testing::{fact, rated, time};
    use ratewire_rater::money::Currency;

    fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
        result.unwrap_or_else(|e| panic!("{e}"))
    }

    const OCT: (i32, u32) = (2026, 10);
    const NOV: (i32, u32) = (2026, 11);
    const DEC: (i32, u32) = (2026, 12);

    fn p((year, month): (i32, u32)) -> Period {
        Period::new(year, month)
    }

    fn commit(ledger: &mut Ledger, at: i64, rated: &[Rated], facts: &[Fact]) -> Result<Manifest, Error> {
        let offsets = [SourceRange { source: "events.jsonl".into(), partition: 0, from: at, to: at + 1 }];
        let checkpoint = format!("state {at}");
        let commit = Commit {
            rated: &[rated.to_vec()],
            rejected: &[],
            facts,
            offsets: &offsets,
            checkpoint: checkpoint.as_bytes(),
            booked_at: time("2026-12-01T09:00:00Z"),
        };
        ledger.commit(&commit)
    }

    /// A ledger with November rows in two currencies and a fact, and a
    /// December row.
    fn filled(dir: &Path) -> Ledger {
        let (mut ledger, _) = ok(Ledger::open(dir));
        let mut usd = rated("n3", "B1", "2026-11-20T10:00:00Z", p(NOV), "4");
        usd.currency = Currency::parse("USD").unwrap_or_else(|| panic!("USD"));
        let november = [
            rated("n1", "A1", "2026-11-03T10:00:00Z", p(NOV), "1.5"),
            rated("n2", "A1", "2026-11-04T10:00:00Z", p(NOV), "2.25"),
            usd,
        ];
        ok(commit(&mut ledger, 1, &november, &[fact("p1", "A1", "2026-11-05T10:00:00Z", "10")]));
        ok(commit(&mut ledger, 2, &[rated("d1", "A1", "2026-12-01T10:00:00Z", p(DEC), "1")], &[]));
        ledger
    }

    fn options(period: (i32, u32), now: &str) -> CloseOptions {
        CloseOptions { period: p(period), now: time(now) }
    }

    fn units(text: &str) -> i128 {
        crate::totals::parse_units(text).unwrap_or_else(|| panic!("{text}"))
    }

    #[test]
    fn a_close_records_the_period_totals_and_recovery_and_snapshots_see_it() {
        let dir = ok(tempfile::tempdir());
        let mut ledger = filled(dir.path());
        let totals = ledger.totals().clone();
        let closed = ok(ledger.close_period(&options(NOV, "2026-12-05T08:00:00Z")));
        assert_eq!((closed.sequence, ledger.sequence()), (3, 3));
        assert_eq!(ledger.totals(), &totals, "a close changes no total");
        assert_eq!(ledger.closed_through(), Some(p(NOV)));
        let close = &closed.close;
        assert_eq!(close.totals[&Table::Rated].rows, 3);
        assert_eq!(close.totals[&Table::Facts].rows, 1);
        assert_eq!(close.totals[&Table::Draws].rows, 3);
        assert_eq!(close.currencies["EUR"].rows, 2);
        assert_eq!(close.currencies["EUR"].sums["net"], units("3.75"));
        assert_eq!(close.currencies["USD"].sums["gross"], units("4.76"));
        assert!(close.late.is_empty());

        let path = dir.path().join(MANIFEST_DIR).join(manifest_name(3));
        let json: serde_json::Value = ok(serde_json::from_slice(&ok(std::fs::read(&path))));
        assert_eq!((json["format"].as_u64(), json["kind"].as_str()), (Some(3), Some("close")));
        assert_eq!(json["close"]["period"], "2026-11");
        assert_eq!(json["close"]["currencies"]["EUR"]["net"], "3.7500000000");
        let ingest: serde_json::Value =
            ok(serde_json::from_slice(&ok(std::fs::read(dir.path().join(MANIFEST_DIR).join(manifest_name(2))))));
        assert!(ingest.get("close").is_none(), "other manifests are unchanged: {ingest}");

        drop(ledger);
        let (ledger, recovery) = ok(Ledger::open(dir.path()));
        assert_eq!(recovery.closed_through, Some(p(NOV)));
        assert_eq!(recovery.checkpoint, b"state 2", "the checkpoint is carried over");
        assert_eq!(recovery.offsets[0].to, 3);
        assert_eq!(ledger.closed_periods(), std::slice::from_ref(&closed));
        assert_eq!(ok(Snapshot::open(dir.path())).closed_periods(), [closed]);
        assert_eq!(ok(Snapshot::at(dir.path(), 2)).closed_through(), None);
        assert_eq!(ok(ledger.verify()), totals);
    }

    #[test]
    fn closes_that_cannot_be_made_are_refused_and_write_nothing() {
        let dir = ok(tempfile::tempdir());
        let (mut empty, _) = ok(Ledger::open(dir.path()));
        let refused = empty.close_period(&options(NOV, "2026-12-05T08:00:00Z"));
        assert!(matches!(refused, Err(Error::PeriodAfterRows { last: None, .. })), "{refused:?}");
        drop(empty);

        let mut ledger = filled(dir.path());
        ok(commit(&mut ledger, 3, &[rated("o1", "A1", "2026-10-30T10:00:00Z", p(OCT), "1")], &[]));
        let refused = ledger.close_period(&options(NOV, "2026-12-05T08:00:00Z"));
        assert!(matches!(refused, Err(Error::EarlierPeriodOpen { open, .. }) if open == p(OCT)), "{refused:?}");
        let refused = ledger.close_period(&options((2027, 1), "2027-02-05T08:00:00Z"));
        assert!(
            matches!(refused, Err(Error::PeriodAfterRows { last: Some(last), .. }) if last == p(DEC)),
            "{refused:?}"
        );
        let refused = ledger.close_period(&options(DEC, "2026-12-31T23:00:00Z"));
        assert!(matches!(refused, Err(Error::PeriodNotOver { .. })), "{refused:?}");
        assert_eq!(ledger.sequence(), 3, "nothing was written");

        ok(ledger.close_period(&options(OCT, "2026-12-05T08:00:00Z")));
        ok(ledger.close_period(&options(NOV, "2026-12-05T08:00:00Z")));
        for period in [OCT, NOV, (2026, 1)] {
            let again = ledger.close_period(&options(period, "2026-12-05T09:00:00Z"));
            let message = again.as_ref().map_err(ToString::to_string).err().unwrap_or_default();
            assert!(
                matches!(again, Err(Error::AlreadyClosed { closed_through, .. }) if closed_through == p(NOV)),
                "{period:?}: {message}"
            );
            assert!(message.contains("closed already"), "{message}");
        }
        assert_eq!(ledger.sequence(), 5);
        assert_eq!(ledger.closed_periods().iter().map(|c| c.close.period).collect::<Vec<_>>(), [p(OCT), p(NOV)]);
    }

    #[test]
    fn rows_for_a_closed_period_are_refused_and_late_rows_are_totalled() {
        let dir = ok(tempfile::tempdir());
        let mut ledger = filled(dir.path());
        ok(ledger.close_period(&options(NOV, "2026-12-05T08:00:00Z")));
        let refused = commit(&mut ledger, 3, &[rated("n9", "A1", "2026-11-29T10:00:00Z", p(NOV), "1")], &[]);
        assert!(
            matches!(refused, Err(Error::PeriodClosed { table: Table::Rated, period, .. }) if period == p(NOV)),
            "{refused:?}"
        );
        let refused = commit(&mut ledger, 3, &[], &[fact("p9", "A1", "2026-11-29T10:00:00Z", "1")]);
        assert!(matches!(refused, Err(Error::PeriodClosed { table: Table::Facts, .. })), "{refused:?}");
        assert_eq!(ledger.sequence(), 3);

        let mut late = rated("n9", "A1", "2026-11-29T10:00:00Z", p(DEC), "1");
        late.original_period = Some(p(NOV));
        ok(commit(&mut ledger, 3, &[late], &[]));
        let closed = ok(ledger.close_period(&options(DEC, "2027-01-02T08:00:00Z")));
        assert_eq!(closed.close.currencies["EUR"].rows, 2);
        assert_eq!(closed.close.late["EUR"].rows, 1);
        assert_eq!(closed.close.late["EUR"].sums["net"], units("1"));
    }

    #[test]
    fn a_crash_at_any_step_of_a_close_leaves_the_period_closed_or_open() {
        let steps = {
            let dir = ok(tempfile::tempdir());
            let mut ledger = filled(dir.path());
            let mut steps = Vec::new();
            let mut record = |step| {
                steps.push(step);
                ControlFlow::Continue(())
            };
            ok(ledger.close_period_with(&options(NOV, "2026-12-05T08:00:00Z"), &mut record));
            steps
        };
        assert_eq!(steps, [Step::ManifestWritten, Step::ManifestRenamed]);
        for crash in steps {
            let dir = ok(tempfile::tempdir());
            let totals = {
                let mut ledger = filled(dir.path());
                let stop = |step| if step == crash { ControlFlow::Break(()) } else { ControlFlow::Continue(()) };
                let result = ledger.close_period_with(&options(NOV, "2026-12-05T08:00:00Z"), &mut { stop });
                assert!(matches!(result, Err(Error::Aborted(step)) if step == crash), "{crash:?}: {result:?}");
                let again = ledger.close_period(&options(NOV, "2026-12-05T08:00:00Z"));
                assert!(matches!(again, Err(Error::NeedsRecovery)), "{crash:?}: {again:?}");
                ledger.totals().clone()
            }; // The process "dies".
            let (mut ledger, recovery) = ok(Ledger::open(dir.path()));
            assert_eq!(ok(ledger.verify()), totals, "after {crash:?}");
            if crash == Step::ManifestRenamed {
                assert_eq!((recovery.sequence, recovery.closed_through), (3, Some(p(NOV))), "after {crash:?}");
                let again = ledger.close_period(&options(NOV, "2026-12-05T08:00:00Z"));
                assert!(matches!(again, Err(Error::AlreadyClosed { sequence: 3, .. })), "{again:?}");
            } else {
                assert_eq!((recovery.sequence, recovery.closed_through), (2, None), "after {crash:?}");
                assert!(recovery.removed.iter().any(|p| p.to_string_lossy().ends_with(".json.tmp")), "{recovery:?}");
                ok(ledger.close_period(&options(NOV, "2026-12-05T08:00:00Z")));
            }
            assert_eq!(ledger.closed_through(), Some(p(NOV)));
        }
    }

    #[test]
    fn a_manifest_whose_close_disagrees_with_its_files_is_refused() {
        let dir = ok(tempfile::tempdir());
        let mut ledger = filled(dir.path());
        ok(ledger.close_period(&options(NOV, "2026-12-05T08:00:00Z")));
        drop(ledger);
        let path = dir.path().join(MANIFEST_DIR).join(manifest_name(3));
        let mut json: serde_json::Value = ok(serde_json::from_slice(&ok(std::fs::read(&path))));
        json["close"]["totals"]["rated"]["rows"] = 4.into();
        ok(std::fs::write(&path, json.to_string()));
        let refused = Ledger::open(dir.path());
        assert!(matches!(refused, Err(Error::Manifest { .. })), "{refused:?}");
        assert!(matches!(Snapshot::open(dir.path()), Err(Error::Manifest { .. })));
    }

    #[test]
    fn files_written_before_original_period_still_verify_compact_and_close() {
        let dir = ok(tempfile::tempdir());
        let mut ledger = filled(dir.path());
        ok(commit(&mut ledger, 3, &[rated("n4", "A1", "2026-11-03T11:00:00Z", p(NOV), "1")], &[]));
        let totals = ledger.totals().clone();
        drop(ledger);
        // Rewrite commit 1's November `rated` file as an older build wrote
        // it, without the column, and its manifest entry's size to match.
        let manifest_path = dir.path().join(MANIFEST_DIR).join(manifest_name(1));
        let mut manifest: serde_json::Value = ok(serde_json::from_slice(&ok(std::fs::read(&manifest_path))));
        let files = manifest["files"].as_array_mut().unwrap_or_else(|| panic!("no files"));
        let entry = files
            .iter_mut()
            .find(|f| f["table"] == "rated" && f["path"].as_str().is_some_and(|p| p.contains("day=2026-11-03")));
        let entry = entry.unwrap_or_else(|| panic!("no rated file"));
        let path = in_ledger(dir.path(), entry["path"].as_str().unwrap_or_default());
        let mut batches = Vec::new();
        ok(read_file(ok(File::open(&path)), &path, Table::Rated, &mut |b| batches.push(b)));
        let columns: Vec<usize> = (0..Table::Rated.schema().fields().len() - 1).collect();
        let old: Vec<RecordBatch> = batches.iter().map(|b| ok(b.project(&columns))).collect();
        let mut writer = ok(parquet::arrow::ArrowWriter::try_new(ok(File::create(&path)), old[0].schema(), None));
        for batch in &old {
            ok(writer.write(batch));
        }
        ok(writer.close());
        entry["bytes"] = ok(std::fs::metadata(&path)).len().into();
        ok(std::fs::write(&manifest_path, manifest.to_string()));

        let (mut ledger, _) = ok(Ledger::open(dir.path()));
        assert_eq!(ok(ledger.verify()), totals);
        assert_eq!(ok(ok(Snapshot::open(dir.path())).verify()), totals);
        let merge = crate::compact::CompactOptions { now: time("2026-12-05T07:00:00Z"), ..Default::default() };
        assert_eq!(ok(ledger.compact(&merge)).partitions.len(), 2, "rated and draws of 2026-11-03");
        assert_eq!(ok(ledger.verify()), totals);
        let closed = ok(ledger.close_period(&options(NOV, "2026-12-05T08:00:00Z")));
        assert_eq!(closed.close.totals[&Table::Rated].rows, 4);
        assert!(closed.close.late.is_empty());
    }
}
