//! The ledger directory and its commit protocol.
//!
//! A commit, in order ([`Step`] names the point after each):
//! 1. writes each data file under a temporary name, fsyncs it and reads it
//!    back, checking its rows and totals against the records' (the files
//!    of a [`Ledger::commit`] on several threads, one file each at a time);
//! 2. renames each into place;
//! 3. fsyncs the directories that gained entries;
//! 4. writes the checkpoint (temporary name, fsync, rename, fsync of
//!    `_manifest`);
//! 5. writes the manifest under a temporary name and fsyncs it;
//! 6. renames the manifest into place, the commit point, and fsyncs
//!    `_manifest`;
//! 7. removes the previous commit's checkpoint, which no recovery reads
//!    any more (so `_manifest` holds one checkpoint, not one per commit).
//!
//! One process at a time may have a ledger open: [`Ledger::open`] takes an
//! exclusive `flock(2)` on `_manifest/LOCK`, which the operating system
//! releases when the process ends, however it ends.
//!
//! Opening a ledger recovers from a crash at any point: temporary files,
//! data files that no manifest lists and checkpoints other than the
//! latest's are removed, so what is left is exactly the last commit whose
//! manifest was renamed into place; if that commit is a compaction, the
//! files it removed are moved to the trash if they are not there yet
//! (`crate::compact`). Readers should list files through the manifests
//! ([`Ledger::committed_files`], [`crate::Snapshot`]); a plain directory
//! listing can show a crashed commit's files until the next open removes
//! them.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, File};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SubsecRound, Utc};
use ratewire_rater::{Fact, Rated};

use ratewire_rater::time::Period;

use crate::batch::RejectedEvent;
use crate::bounds::{CHECKPOINT_BYTES_MAX, COMMIT_FILES_MAX, COMMIT_WRITE_THREADS_MAX};
use crate::close::{ClosedPeriod, check_close, note_close, refuse_closed};
use crate::durable::{create_dirs, is_temp, read_bounded, rename, sync_dir, temp_name, write_synced};
use crate::error::{Error, io};
use crate::manifest::{
    CheckpointFile, CommitKind, DataFile, MANIFEST_DIR, Manifest, SourceRange, advance, checkpoint_name, in_ledger,
    manifest_name, manifest_of, sequence_of,
};
use crate::schema::Table;
use crate::totals::Totals;
use crate::trash::finish_trash;
use crate::writer::{Partition, Rows, Writer, WriterConfig, plan, read_back};

/// What one commit books.
#[derive(Debug, Clone, Copy)]
pub struct Commit<'a> {
    /// Rated records, in parts booked as one (a pipeline's rate workers
    /// each hand over theirs, uncopied); their draws go to the `draws`
    /// table.
    pub rated: &'a [Vec<Rated>],
    /// Rejected events.
    pub rejected: &'a [RejectedEvent],
    /// Lifecycle facts (the `facts` table).
    pub facts: &'a [Fact],
    /// The source offsets the records and rejects come from.
    pub offsets: &'a [SourceRange],
    /// The caller's state as of these offsets, returned by the next open.
    pub checkpoint: &'a [u8],
    /// When the rows are booked, usually the wall clock: the `booked_at` of
    /// rejects and the partition they are filed under. Kept to the
    /// microsecond, like every time in the ledger.
    pub booked_at: DateTime<Utc>,
}

/// The point a commit has reached, passed to the hook of
/// [`Ledger::commit_with`], [`Ledger::compact_with`] or
/// [`Ledger::rerate_with`] after each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Data file `index` is written under its temporary name, fsynced and
    /// read back.
    FileWritten(usize),
    /// Data file `index` is renamed into place.
    FileRenamed(usize),
    /// The directories of the data files are fsynced.
    DirectoriesSynced,
    /// The checkpoint is in place.
    CheckpointWritten,
    /// The manifest is written under its temporary name and fsynced.
    ManifestWritten,
    /// The manifest is renamed into place: the commit is made (`_manifest`
    /// is fsynced next).
    ManifestRenamed,
    /// Compactions and rerates only: removed file `index` is moved to the
    /// trash.
    FileTrashed(usize),
    /// Compactions and rerates only: the directories the trash moves
    /// touched are fsynced.
    TrashSynced,
    /// Compactions only: trash older than the grace period is deleted.
    TrashPurged,
}

/// What [`Ledger::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The last commit's sequence (0 for a new ledger).
    pub sequence: u64,
    /// For every source partition, the span of offsets committed; resume
    /// each at its `to`.
    pub offsets: Vec<SourceRange>,
    /// The last commit's checkpoint (empty for a new ledger).
    pub checkpoint: Vec<u8>,
    /// Debris removed: files of commits that did not finish.
    pub removed: Vec<PathBuf>,
    /// Files the last commit, a compaction, removed from the ledger and that
    /// were still in place: moved to the trash now.
    pub trashed: Vec<PathBuf>,
    /// The latest period closed ([`Ledger::closed_through`]): rows for it
    /// and every earlier period are booked in an open one.
    pub closed_through: Option<Period>,
}

/// The lock file, in `_manifest`.
pub const LOCK_FILE: &str = "LOCK";

/// A ledger directory, open for commits by this handle alone.
#[derive(Debug)]
pub struct Ledger {
    pub(crate) dir: PathBuf,
    /// Holds the exclusive lock while the handle lives.
    _lock: File,
    pub(crate) writer: Writer,
    /// Threads [`Ledger::commit`] writes data files on: the cores, at most
    /// [`COMMIT_WRITE_THREADS_MAX`], found once at open.
    write_threads: usize,
    pub(crate) sequence: u64,
    pub(crate) files: Vec<DataFile>,
    pub(crate) totals: BTreeMap<Table, Totals>,
    pub(crate) positions: Vec<SourceRange>,
    /// The latest manifest's checkpoint (`None` before the first commit).
    pub(crate) checkpoint: Option<CheckpointFile>,
    /// The periods closed, in order.
    pub(crate) closed: Vec<ClosedPeriod>,
    /// Set while a commit runs and left set if it fails part-way.
    pub(crate) broken: bool,
}

impl Ledger {
    /// Opens (creating if needed) the ledger in `dir` with the default
    /// writer settings, and recovers it.
    ///
    /// # Errors
    /// I/O errors, and [`Error::Manifest`] or [`Error::MissingFile`] when the
    /// directory holds a ledger that is not consistent.
    pub fn open(dir: impl AsRef<Path>) -> Result<(Self, Recovery), Error> {
        Self::open_with(dir, &WriterConfig::default())
    }

    /// [`Ledger::open`] with writer settings.
    ///
    /// # Errors
    /// As [`Ledger::open`], and [`Error::Config`] for settings out of range.
    pub fn open_with(dir: impl AsRef<Path>, config: &WriterConfig) -> Result<(Self, Recovery), Error> {
        let writer = config.build()?;
        let dir = dir.as_ref().to_path_buf();
        let manifests = dir.join(MANIFEST_DIR);
        let mut dirty = BTreeSet::new();
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty() && !dir.exists()) {
            dirty.insert(parent.to_path_buf());
        }
        fs::create_dir_all(&manifests).map_err(io(&manifests))?;
        dirty.insert(dir.clone());
        for d in &dirty {
            sync_dir(d)?;
        }
        let lock = lock(&manifests.join(LOCK_FILE))?;

        let mut removed = Vec::new();
        let sequences = list_manifests(&manifests)?;
        let mut ledger = Self {
            dir,
            _lock: lock,
            writer,
            write_threads: std::thread::available_parallelism()
                .map_or(1, std::num::NonZero::get)
                .clamp(1, COMMIT_WRITE_THREADS_MAX),
            sequence: 0,
            files: Vec::new(),
            totals: by_table(&[]),
            positions: Vec::new(),
            checkpoint: None,
            closed: Vec::new(),
            broken: false,
        };
        let mut latest = None;
        for sequence in sequences {
            let path = manifests.join(manifest_name(sequence));
            if sequence != ledger.sequence + 1 {
                let reason = format!("commit {} is missing", ledger.sequence + 1);
                return Err(Error::Manifest { path, reason });
            }
            let manifest = Manifest::read(&path, sequence)?;
            ledger.apply(&path, &manifest)?;
            latest = Some(manifest);
        }
        // Only the latest commit can have left removed files in place: a
        // compaction or rerate moves them before its handle commits again, and a
        // handle whose moves failed refuses to commit until reopened.
        let trashed = match &latest {
            Some(m) if !m.removed.is_empty() => finish_trash(&ledger.dir, m.sequence, &m.removed)?,
            _ => Vec::new(),
        };
        ledger.check_files()?;
        ledger.remove_debris(ledger.checkpoint.as_ref(), &mut removed)?;
        let checkpoint = match &ledger.checkpoint {
            Some(c) => read_checkpoint(&ledger.dir, ledger.sequence, c)?,
            None => Vec::new(),
        };
        let recovery = Recovery {
            sequence: ledger.sequence,
            offsets: ledger.positions.clone(),
            checkpoint,
            removed,
            trashed,
            closed_through: ledger.closed_through(),
        };
        Ok((ledger, recovery))
    }

    /// The ledger directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last commit's sequence (0 before the first).
    #[must_use]
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Every committed data file, oldest commit first; paths are relative to
    /// [`Ledger::dir`]. Only files listed here are part of the ledger.
    #[must_use]
    pub fn committed_files(&self) -> &[DataFile] {
        &self.files
    }

    /// Totals of every committed file, per table.
    #[must_use]
    pub fn totals(&self) -> &BTreeMap<Table, Totals> {
        &self.totals
    }

    /// For every source partition, the span of offsets committed.
    #[must_use]
    pub fn offsets(&self) -> &[SourceRange] {
        &self.positions
    }

    /// Reads every committed file back and checks its rows and totals
    /// against its manifest entry; returns the ledger's totals.
    ///
    /// # Errors
    /// I/O and Parquet errors, and [`Error::Manifest`] naming the file whose
    /// contents disagree with the manifest.
    pub fn verify(&self) -> Result<BTreeMap<Table, Totals>, Error> {
        for file in &self.files {
            let path = in_ledger(&self.dir, &file.path);
            let read = read_back(&path, file.table)?;
            if read != file.totals {
                let reason = format!("{} holds {read:?}, its manifest says {:?}", file.path, file.totals);
                return Err(Error::Manifest { path, reason });
            }
        }
        Ok(by_table(&self.files))
    }

    /// Commits the rows of `commit` atomically.
    ///
    /// # Errors
    /// Before anything is written: [`Error::ReversedRange`],
    /// [`Error::OffsetsOverlap`] (the offsets were committed already),
    /// [`Error::PeriodClosed`] (a row would be booked in a closed period),
    /// [`Error::TooManySourcePartitions`], [`Error::TooManyFiles`],
    /// [`Error::CheckpointTooLarge`]. Part-way: I/O and Parquet errors, after
    /// which the handle refuses commits ([`Error::NeedsRecovery`]) until
    /// the ledger is opened again.
    ///
    /// # Panics
    /// If a value does not fit its column, or a file read back disagrees
    /// with the records written: both are bugs, never input errors.
    pub fn commit(&mut self, commit: &Commit<'_>) -> Result<Manifest, Error> {
        self.commit_on(commit, &mut |_| ControlFlow::Continue(()), self.write_threads)
    }

    /// [`Ledger::commit`], calling `hook` after each [`Step`]; the commit
    /// stops with [`Error::Aborted`] where the hook breaks, leaving the
    /// directory as a crash there would (for crash tests).
    /// The data files are written one after the other, so that the hook
    /// sees the steps in order.
    ///
    /// # Errors
    /// As [`Ledger::commit`], and [`Error::Aborted`].
    pub fn commit_with(
        &mut self,
        commit: &Commit<'_>,
        hook: &mut dyn FnMut(Step) -> ControlFlow<()>,
    ) -> Result<Manifest, Error> {
        self.commit_on(commit, hook, 1)
    }

    /// A commit whose data files are written on up to `threads` threads.
    fn commit_on(
        &mut self,
        commit: &Commit<'_>,
        hook: &mut dyn FnMut(Step) -> ControlFlow<()>,
        threads: usize,
    ) -> Result<Manifest, Error> {
        if self.broken {
            return Err(Error::NeedsRecovery);
        }
        let positions = advance(&self.positions, commit.offsets)?;
        if let Some(closed) = self.closed_through() {
            refuse_closed(commit.rated, commit.facts, closed)?;
        }
        let size = commit.checkpoint.len() as u64;
        if size > CHECKPOINT_BYTES_MAX {
            return Err(Error::CheckpointTooLarge { size, max: CHECKPOINT_BYTES_MAX });
        }
        let booked_at = commit.booked_at.trunc_subsecs(6);
        let files = plan(commit.rated, commit.rejected, commit.facts, booked_at);
        if files.len() > COMMIT_FILES_MAX {
            return Err(Error::TooManyFiles { count: files.len(), max: COMMIT_FILES_MAX });
        }

        self.broken = true;
        let sequence = self.sequence + 1;
        let files = if threads > 1 && files.len() > 1 {
            self.write_files_parallel(sequence, files, threads, hook)?
        } else {
            self.write_files(sequence, files.into_iter().map(Ok), hook)?
        };
        let manifests = self.dir.join(MANIFEST_DIR);
        let checkpoint_path = manifests.join(checkpoint_name(sequence));
        write_synced(&temp_name(&checkpoint_path), commit.checkpoint)?;
        rename(&temp_name(&checkpoint_path), &checkpoint_path)?;
        sync_dir(&manifests)?;
        stop(hook, Step::CheckpointWritten)?;

        let totals = by_table(&files);
        let mut ledger_totals = self.totals.clone();
        for (table, totals) in &totals {
            ledger_totals.entry(*table).or_insert_with(|| Totals::zero(*table)).add(totals);
        }
        let manifest = Manifest {
            format: CommitKind::Ingest.format(),
            sequence,
            booked_at,
            kind: CommitKind::Ingest,
            files,
            removed: Vec::new(),
            totals,
            ledger_totals,
            offsets: commit.offsets.to_vec(),
            positions,
            checkpoint: CheckpointFile { path: format!("{MANIFEST_DIR}/{}", checkpoint_name(sequence)), bytes: size },
            close: None,
            rerate: None,
        };
        let previous = self.checkpoint.take();
        self.publish(&manifest, hook)?;
        self.broken = false;
        if let Some(previous) = previous.filter(|p| p.path != manifest.checkpoint.path) {
            // Best effort: the commit stands either way, and a checkpoint
            // left behind is removed as debris when the ledger is next opened.
            let _ = fs::remove_file(in_ledger(&self.dir, &previous.path));
        }
        Ok(manifest)
    }

    /// Steps 5 and 6 of a commit: writes the manifest under a temporary
    /// name, renames it into place (the commit point), fsyncs `_manifest`
    /// and takes the manifest in.
    pub(crate) fn publish(
        &mut self,
        manifest: &Manifest,
        hook: &mut dyn FnMut(Step) -> ControlFlow<()>,
    ) -> Result<(), Error> {
        let manifests = self.dir.join(MANIFEST_DIR);
        let path = manifests.join(manifest_name(manifest.sequence));
        write_synced(&temp_name(&path), &manifest.to_json())?;
        stop(hook, Step::ManifestWritten)?;
        if path.exists() {
            return Err(Error::Conflict { path });
        }
        rename(&temp_name(&path), &path)?;
        stop(hook, Step::ManifestRenamed)?;
        sync_dir(&manifests)?;
        self.apply(&path, manifest)
    }

    /// Steps 1 to 3 of a commit: writes, checks and renames the data files,
    /// then fsyncs their directories. `files` yields each file's rows in
    /// turn, so that a compaction holds one merged file in memory at a time.
    pub(crate) fn write_files<'r>(
        &self,
        sequence: u64,
        files: impl ExactSizeIterator<Item = Result<(Partition, Rows<'r>), Error>>,
        hook: &mut dyn FnMut(Step) -> ControlFlow<()>,
    ) -> Result<Vec<DataFile>, Error> {
        let mut written = Vec::with_capacity(files.len());
        let mut dirty = BTreeSet::new();
        for (index, file) in files.enumerate() {
            let (partition, rows) = file?;
            create_dirs(&self.dir, &partition.dir(), &mut dirty)?;
            written.push(self.write_file(sequence, index, partition, &rows)?);
            stop(hook, Step::FileWritten(index))?;
        }
        self.rename_files(written, dirty, hook)
    }

    /// Step 1 of a commit on up to `threads` threads, each taking the next
    /// file not yet taken; then steps 2 and 3 as [`Ledger::write_files`].
    /// The hook sees [`Step::FileWritten`] for every file once all are
    /// written and checked.
    fn write_files_parallel(
        &self,
        sequence: u64,
        files: Vec<(Partition, Rows<'_>)>,
        threads: usize,
        hook: &mut dyn FnMut(Step) -> ControlFlow<()>,
    ) -> Result<Vec<DataFile>, Error> {
        let mut dirty = BTreeSet::new();
        for (partition, _) in &files {
            create_dirs(&self.dir, &partition.dir(), &mut dirty)?;
        }
        // A failed check on a helper thread fails the commit as it would
        // have on this one.
        let results = crate::parallel::each(files.iter().collect(), threads, |index, (partition, rows)| {
            self.write_file(sequence, index, *partition, rows)
        });
        let mut written = Vec::with_capacity(results.len());
        for (index, result) in results.into_iter().enumerate() {
            written.push(result?);
            stop(hook, Step::FileWritten(index))?;
        }
        self.rename_files(written, dirty, hook)
    }

    /// Step 1 for one file: writes it under a temporary name and reads it
    /// back, checking its rows and totals. Returns the temporary and final
    /// paths and the file's manifest entry.
    fn write_file(
        &self,
        sequence: u64,
        index: usize,
        partition: Partition,
        rows: &Rows<'_>,
    ) -> Result<(PathBuf, PathBuf, DataFile), Error> {
        let name = format!("{sequence:020}-{index:04}.parquet");
        let path = self.dir.join(partition.dir()).join(&name);
        let temp = temp_name(&path);
        let (totals, bytes) = self.writer.write(&temp, rows, self.write_threads)?;
        let read = read_back(&temp, partition.table)?;
        assert_eq!(read, totals, "{}: the file read back disagrees with the records", temp.display());
        let relative = format!("table={}/period={}/day={}/{name}", partition.table, partition.period, partition.day);
        Ok((temp, path, DataFile { path: relative, table: partition.table, bytes, totals }))
    }

    /// Steps 2 and 3 of a commit: renames the written files into place and
    /// fsyncs the directories that gained entries.
    fn rename_files(
        &self,
        written: Vec<(PathBuf, PathBuf, DataFile)>,
        mut dirty: BTreeSet<PathBuf>,
        hook: &mut dyn FnMut(Step) -> ControlFlow<()>,
    ) -> Result<Vec<DataFile>, Error> {
        for (index, (temp, path, _)) in written.iter().enumerate() {
            rename(temp, path)?;
            if let Some(parent) = path.parent() {
                dirty.insert(parent.to_path_buf());
            }
            stop(hook, Step::FileRenamed(index))?;
        }
        for dir in &dirty {
            sync_dir(dir)?;
        }
        stop(hook, Step::DirectoriesSynced)?;
        Ok(written.into_iter().map(|(_, _, file)| file).collect())
    }

    /// Takes in a manifest read or just written: its files, totals,
    /// positions and checkpoint (see [`replay`]).
    fn apply(&mut self, path: &Path, manifest: &Manifest) -> Result<(), Error> {
        replay(&mut self.files, &mut self.totals, path, manifest)?;
        note_close(&mut self.closed, path, manifest)?;
        self.sequence = manifest.sequence;
        self.positions.clone_from(&manifest.positions);
        self.checkpoint = Some(manifest.checkpoint.clone());
        Ok(())
    }

    /// Checks that every committed file is there with its listed size.
    fn check_files(&self) -> Result<(), Error> {
        for file in &self.files {
            let manifest = manifest_of(&self.dir, &file.path);
            match fs::metadata(in_ledger(&self.dir, &file.path)) {
                Ok(m) if m.len() == file.bytes => {}
                Ok(m) => {
                    let reason = format!("{} is {} bytes, not the {} listed", file.path, m.len(), file.bytes);
                    return Err(Error::Manifest { path: manifest, reason });
                }
                Err(_) => return Err(Error::MissingFile { manifest, file: file.path.clone() }),
            }
        }
        Ok(())
    }

    /// Removes what no commit owns: temporary files, data files no manifest
    /// lists, checkpoints other than the latest's, and directories left
    /// empty. Files that do not look like the ledger's are left alone.
    fn remove_debris(&self, checkpoint: Option<&CheckpointFile>, removed: &mut Vec<PathBuf>) -> Result<(), Error> {
        let manifests = self.dir.join(MANIFEST_DIR);
        for (name, path) in entries(&manifests)? {
            let stale_checkpoint = sequence_of(&name, "checkpoint").is_some()
                && checkpoint.is_none_or(|c| c.path != format!("{MANIFEST_DIR}/{name}"));
            if is_temp(&name) || stale_checkpoint {
                fs::remove_file(&path).map_err(io(&path))?;
                removed.push(path);
            }
        }
        let listed: HashSet<PathBuf> = self.files.iter().map(|f| in_ledger(&self.dir, &f.path)).collect();
        // table=*/period=*/day=*/file: three levels of directories.
        for (table, table_dir) in entries(&self.dir)? {
            if !table.starts_with("table=") || !table_dir.is_dir() {
                continue;
            }
            for (period, period_dir) in entries(&table_dir)? {
                if !period.starts_with("period=") || !period_dir.is_dir() {
                    continue;
                }
                for (day, day_dir) in entries(&period_dir)? {
                    if !day.starts_with("day=") || !day_dir.is_dir() {
                        continue;
                    }
                    for (name, path) in entries(&day_dir)? {
                        if is_temp(&name) || (is_data_file(&name) && !listed.contains(&path)) {
                            fs::remove_file(&path).map_err(io(&path))?;
                            removed.push(path);
                        }
                    }
                    remove_if_empty(&day_dir)?;
                }
                remove_if_empty(&period_dir)?;
            }
        }
        Ok(())
    }
}

/// Reads the checkpoint `checkpoint` of manifest `sequence` of the ledger in `dir`.
pub(crate) fn read_checkpoint(dir: &Path, sequence: u64, checkpoint: &CheckpointFile) -> Result<Vec<u8>, Error> {
    let path = in_ledger(dir, &checkpoint.path);
    let manifest = dir.join(MANIFEST_DIR).join(manifest_name(sequence));
    if !path.is_file() {
        return Err(Error::MissingFile { manifest, file: checkpoint.path.clone() });
    }
    let bytes = read_bounded(&path, CHECKPOINT_BYTES_MAX)?
        .map_err(|size| Error::CheckpointTooLarge { size, max: CHECKPOINT_BYTES_MAX })?;
    if bytes.len() as u64 != checkpoint.bytes {
        let reason = format!("{} is {} bytes, not the {} listed", checkpoint.path, bytes.len(), checkpoint.bytes);
        return Err(Error::Manifest { path: manifest, reason });
    }
    Ok(bytes)
}

/// Takes in a manifest: removes the files it removed from `files` and
/// `totals`, adds those it added, and checks that the totals add up to its
/// `ledger_totals` and that a compaction keeps them as they were. Does not
/// look at the directory: a file an older manifest added may have moved to
/// the trash since.
pub(crate) fn replay(
    files: &mut Vec<DataFile>,
    totals: &mut BTreeMap<Table, Totals>,
    path: &Path,
    manifest: &Manifest,
) -> Result<(), Error> {
    let invalid = |reason: String| Error::Manifest { path: path.to_path_buf(), reason };
    let removed: HashSet<&str> = manifest.removed.iter().map(String::as_str).collect();
    let (gone, kept): (Vec<DataFile>, Vec<DataFile>) = if removed.is_empty() {
        (Vec::new(), std::mem::take(files))
    } else {
        std::mem::take(files).into_iter().partition(|f| removed.contains(f.path.as_str()))
    };
    *files = kept;
    if gone.len() != removed.len() {
        let listed: HashSet<&str> = gone.iter().map(|f| f.path.as_str()).collect();
        let missing: Vec<&&str> = removed.iter().filter(|p| !listed.contains(**p)).collect();
        return Err(invalid(format!("removes {missing:?}, which are not committed")));
    }
    if manifest.kind == CommitKind::Compaction && by_table(&gone) != by_table(&manifest.files) {
        return Err(invalid("a compaction whose files' totals differ from those it removed".into()));
    }
    let mut sum = totals.clone();
    for file in &gone {
        let table = sum.entry(file.table).or_insert_with(|| Totals::zero(file.table));
        subtract(table, &file.totals)
            .ok_or_else(|| invalid(format!("removing {} takes a total below 0", file.path)))?;
    }
    for file in &manifest.files {
        sum.entry(file.table).or_insert_with(|| Totals::zero(file.table)).add(&file.totals);
    }
    files.extend(manifest.files.iter().cloned());
    // A manifest written before a table existed (`facts`) lists no totals for it.
    let mut listed = manifest.ledger_totals.clone();
    for table in Table::ALL {
        listed.entry(table).or_insert_with(|| Totals::zero(table));
    }
    if sum != listed {
        let reason = format!("ledger totals {:?} disagree with its files' {sum:?}", manifest.ledger_totals);
        return Err(invalid(reason));
    }
    *totals = sum;
    check_close(files, path, manifest)
}

/// Takes `other` off `totals`; `None` if a row count would go below zero.
pub(crate) fn subtract(totals: &mut Totals, other: &Totals) -> Option<()> {
    totals.rows = totals.rows.checked_sub(other.rows)?;
    for (name, value) in &other.sums {
        let sum = totals.sums.entry(name.clone()).or_default();
        *sum = sum.checked_sub(*value)?;
    }
    Some(())
}

/// Takes the exclusive lock on `path`, creating it if needed.
fn lock(path: &Path) -> Result<File, Error> {
    use rustix::fs::{FlockOperation, flock};
    let file = fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(io(path))?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(Error::Locked { path: path.to_path_buf() }),
        Err(e) => Err(Error::Io { path: path.to_path_buf(), source: e.into() }),
    }
}

/// Totals per table of `files` (every table present, zero if need be).
pub(crate) fn by_table(files: &[DataFile]) -> BTreeMap<Table, Totals> {
    let mut totals: BTreeMap<Table, Totals> = Table::ALL.into_iter().map(|t| (t, Totals::zero(t))).collect();
    for file in files {
        totals.entry(file.table).or_insert_with(|| Totals::zero(file.table)).add(&file.totals);
    }
    totals
}

/// Stops the commit if the hook says so.
pub(crate) fn stop(hook: &mut dyn FnMut(Step) -> ControlFlow<()>, step: Step) -> Result<(), Error> {
    match hook(step) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(Error::Aborted(step)),
    }
}

/// The sequences of the manifests in `dir`, ascending.
pub(crate) fn list_manifests(dir: &Path) -> Result<Vec<u64>, Error> {
    let mut sequences: Vec<u64> = entries(dir)?.iter().filter_map(|(name, _)| sequence_of(name, "json")).collect();
    sequences.sort_unstable();
    Ok(sequences)
}

/// The entries of a directory, as (name, path), sorted by name.
pub(crate) fn entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, Error> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        entries.push((entry.file_name().to_string_lossy().into_owned(), entry.path()));
    }
    entries.sort();
    Ok(entries)
}

/// Whether a name is a data file's: `<20 digits>-<4 digits>.parquet`.
fn is_data_file(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".parquet") else { return false };
    let Some((sequence, index)) = stem.split_once('-') else { return false };
    sequence.len() == 20 && index.len() == 4 && (sequence.bytes().chain(index.bytes())).all(|b| b.is_ascii_digit())
}

fn remove_if_empty(dir: &Path) -> Result<(), Error> {
    if fs::read_dir(dir).map_err(io(dir))?.next().is_none() {
        fs::remove_dir(dir).map_err(io(dir))?;
    }
    Ok(())
}
