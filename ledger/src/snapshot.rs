//! Read-only views of a ledger as of one commit, for readers running beside
//! the process that writes it.
//!
//! A [`Snapshot`] reads the manifests without taking the writer's lock: a
//! manifest is renamed into place whole, so a reader sees a commit
//! entirely or not at all. The files it lists stay readable after a later
//! compaction removes them: they move to `_trash/<compaction>/<path>`, where
//! [`Snapshot::open_file`] finds them, until the trash's grace period ends
//! (and a file already open stays readable even after that).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use ratewire_rater::time::Period;

use crate::bounds::READ_BACK_BATCH_ROWS;
use crate::close::{ClosedPeriod, closed_through, note_close};
use crate::commit::{by_table, list_manifests, read_checkpoint, replay};
use crate::error::{Error, io};
use crate::manifest::{
    CheckpointFile, DataFile, MANIFEST_DIR, Manifest, SourceRange, in_ledger, manifest_name, manifest_of,
};
use crate::schema::Table;
use crate::totals::Totals;
use crate::trash::open_in_trash;

/// The committed files of a ledger as of one commit.
#[derive(Debug, Clone)]
pub struct Snapshot {
    dir: PathBuf,
    sequence: u64,
    files: Vec<DataFile>,
    totals: BTreeMap<Table, Totals>,
    /// The checkpoint of commit `sequence` (`None` before the first).
    checkpoint: Option<CheckpointFile>,
    /// The source offsets committed as of `sequence`, per partition.
    positions: Vec<SourceRange>,
    /// The periods closed as of `sequence`, in order.
    closed: Vec<ClosedPeriod>,
}

impl Snapshot {
    /// The ledger in `dir` as of its latest commit.
    ///
    /// # Errors
    /// I/O errors, and [`Error::Manifest`] for a manifest that is not valid
    /// or missing.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, Error> {
        Self::read(dir.as_ref(), None)
    }

    /// The ledger in `dir` as of commit `sequence` (0: before the first).
    ///
    /// # Errors
    /// As [`Snapshot::open`], and [`Error::NoSuchCommit`].
    pub fn at(dir: impl AsRef<Path>, sequence: u64) -> Result<Self, Error> {
        Self::read(dir.as_ref(), Some(sequence))
    }

    fn read(dir: &Path, sequence: Option<u64>) -> Result<Self, Error> {
        let manifests = dir.join(MANIFEST_DIR);
        let sequences = list_manifests(&manifests)?;
        let latest = sequences.last().copied().unwrap_or(0);
        let target = sequence.unwrap_or(latest);
        if target > latest {
            return Err(Error::NoSuchCommit { sequence: target, latest });
        }
        let mut snapshot = Self {
            dir: dir.to_path_buf(),
            sequence: 0,
            files: Vec::new(),
            totals: by_table(&[]),
            checkpoint: None,
            positions: Vec::new(),
            closed: Vec::new(),
        };
        for sequence in sequences.into_iter().take_while(|s| *s <= target) {
            let path = manifests.join(manifest_name(sequence));
            if sequence != snapshot.sequence + 1 {
                let reason = format!("commit {} is missing", snapshot.sequence + 1);
                return Err(Error::Manifest { path, reason });
            }
            let manifest = Manifest::read(&path, sequence)?;
            replay(&mut snapshot.files, &mut snapshot.totals, &path, &manifest)?;
            note_close(&mut snapshot.closed, &path, &manifest)?;
            snapshot.sequence = sequence;
            snapshot.checkpoint = Some(manifest.checkpoint);
            snapshot.positions = manifest.positions;
        }
        Ok(snapshot)
    }

    /// The ledger directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The commit this snapshot is as of.
    #[must_use]
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// The committed files as of [`Snapshot::sequence`], oldest commit
    /// first; paths are relative to [`Snapshot::dir`]. Open them with
    /// [`Snapshot::open_file`], which also finds those moved to the trash.
    #[must_use]
    pub fn files(&self) -> &[DataFile] {
        &self.files
    }

    /// The ledger's totals per table as of [`Snapshot::sequence`].
    #[must_use]
    pub fn totals(&self) -> &BTreeMap<Table, Totals> {
        &self.totals
    }

    /// Every period closed as of [`Snapshot::sequence`], oldest first.
    #[must_use]
    pub fn closed_periods(&self) -> &[ClosedPeriod] {
        &self.closed
    }

    /// The latest period closed as of [`Snapshot::sequence`].
    #[must_use]
    pub fn closed_through(&self) -> Option<Period> {
        closed_through(&self.closed)
    }

    /// Every source partition's committed span as of [`Snapshot::sequence`].
    #[must_use]
    pub fn positions(&self) -> &[SourceRange] {
        &self.positions
    }

    /// The checkpoint committed with [`Snapshot::sequence`] (empty before
    /// the first commit).
    ///
    /// # Errors
    /// I/O errors, and [`Error::MissingFile`] when a later commit of a
    /// running writer has removed it already: a newer snapshot has the
    /// newer checkpoint.
    pub fn checkpoint(&self) -> Result<Vec<u8>, Error> {
        match &self.checkpoint {
            Some(c) => read_checkpoint(&self.dir, self.sequence, c),
            None => Ok(Vec::new()),
        }
    }

    /// Opens one of the snapshot's files where it is now: in place, or in
    /// the trash if a later compaction removed it. Returns the path opened
    /// and the open file, which stays readable whatever happens to the path.
    ///
    /// # Errors
    /// I/O errors, and [`Error::Gone`] when the file has left the trash.
    pub fn open_file(&self, file: &DataFile) -> Result<(PathBuf, File), Error> {
        // A move to the trash is one rename: the file is always at one of
        // the two places, and only leaves the trash after its grace period.
        let path = in_ledger(&self.dir, &file.path);
        match File::open(&path) {
            Ok(opened) => return Ok((path, opened)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
        open_in_trash(&self.dir, &file.path)?
            .ok_or_else(|| Error::Gone { file: file.path.clone(), sequence: self.sequence })
    }

    /// Reads every file of the snapshot, wherever it is now, and checks its
    /// rows and totals against its manifest entry; returns the totals per
    /// table.
    ///
    /// # Errors
    /// As [`Snapshot::open_file`], Parquet errors, [`Error::Schema`], and
    /// [`Error::Manifest`] naming a file that disagrees with its manifest.
    pub fn verify(&self) -> Result<BTreeMap<Table, Totals>, Error> {
        let mut totals = by_table(&[]);
        for file in &self.files {
            let (path, opened) = self.open_file(file)?;
            let read = read_file(opened, &path, file.table, &mut |_| {})?;
            check_totals(&self.dir, file, &read)?;
            totals.entry(file.table).or_insert_with(|| Totals::zero(file.table)).add(&read);
        }
        Ok(totals)
    }
}

/// Reads a data file of `table`, passing each record batch to `each` (with
/// every column of the table, [`Table::upgrade`]), and returns its totals.
pub(crate) fn read_file(
    file: File,
    path: &Path,
    table: Table,
    each: &mut dyn FnMut(RecordBatch),
) -> Result<Totals, Error> {
    let parquet = |source| Error::Parquet { path: path.to_path_buf(), source };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet)?;
    if !table.reads(builder.schema().fields()) {
        return Err(Error::Schema { path: path.to_path_buf(), table });
    }
    let reader = builder.with_batch_size(READ_BACK_BATCH_ROWS).build().map_err(parquet)?;
    let mut totals = Totals::zero(table);
    for batch in reader {
        let batch = batch.map_err(|e| parquet(e.into()))?;
        totals.add(&Totals::of_batch(table, &batch));
        // A file written before a column was added reads with it as nulls.
        each(table.upgrade(batch)?);
    }
    Ok(totals)
}

/// Checks totals read from a file against its manifest entry.
pub(crate) fn check_totals(dir: &Path, file: &DataFile, read: &Totals) -> Result<(), Error> {
    if *read == file.totals {
        return Ok(());
    }
    let reason = format!("{} holds {read:?}, its manifest says {:?}", file.path, file.totals);
    Err(Error::Manifest { path: manifest_of(dir, &file.path), reason })
}
