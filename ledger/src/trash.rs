//! The trash: where a compaction or a rerate moves the files it removed
//! from the ledger, `_trash/<sequence>/<path>`, so that readers that listed
//! them before still find them: a compaction's until a later compaction
//! deletes them after the grace period, a rerate's for good (the version
//! of the period before the rerate stays readable).
//!
//! A move is one rename (within the ledger directory, so atomic): a file is
//! always either in place or in the trash, never both nor neither, until
//! its trash is deleted.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::ErrorKind;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};

use crate::commit::{Step, entries, stop};
use crate::durable::{create_dirs, sync_dir};
use crate::error::{Error, io};
use crate::manifest::{CommitKind, MANIFEST_DIR, Manifest, in_ledger, manifest_name};

/// The directory removed files are moved to, in the ledger directory:
/// `_trash/<compaction sequence>/<path>`. Hive-style readers skip it (a
/// leading `_`, and outside every `table=` directory).
pub const TRASH_DIR: &str = "_trash";

/// Moves each of `removed` that is still in place to
/// `_trash/<sequence>/<path>`, then fsyncs the directories touched; returns
/// where the files went.
pub(crate) fn move_to_trash(
    dir: &Path,
    sequence: u64,
    removed: &[String],
    hook: &mut dyn FnMut(Step) -> ControlFlow<()>,
) -> Result<Vec<PathBuf>, Error> {
    let trash = dir.join(TRASH_DIR).join(format!("{sequence:020}"));
    let mut moved = Vec::new();
    let mut dirty = BTreeSet::new();
    for (index, relative) in removed.iter().enumerate() {
        let from = in_ledger(dir, relative);
        if from.is_file() {
            let to = in_ledger(&trash, relative);
            let (Some(source), Some(target)) = (from.parent(), to.parent()) else { continue };
            create_dirs(dir, target.strip_prefix(dir).unwrap_or(target), &mut dirty)?;
            fs::rename(&from, &to).map_err(io(&from))?;
            dirty.extend([source.to_path_buf(), target.to_path_buf()]);
            moved.push(to);
        }
        stop(hook, Step::FileTrashed(index))?;
    }
    for d in &dirty {
        sync_dir(d)?;
    }
    stop(hook, Step::TrashSynced)?;
    Ok(moved)
}

/// Finishes moving the files compaction `sequence` removed to the trash,
/// after a crash (called when the ledger is opened).
pub(crate) fn finish_trash(dir: &Path, sequence: u64, removed: &[String]) -> Result<Vec<PathBuf>, Error> {
    move_to_trash(dir, sequence, removed, &mut |_| ControlFlow::Continue(()))
}

/// Deletes the trash of compactions booked at least `grace` before `now`.
/// The trash of a rerate is kept: it holds the version of the period before
/// it, which stays readable ([`crate::Snapshot::at`]).
pub(crate) fn purge_trash(dir: &Path, now: DateTime<Utc>, grace: TimeDelta) -> Result<Vec<PathBuf>, Error> {
    let trash = dir.join(TRASH_DIR);
    if !trash.is_dir() {
        return Ok(Vec::new());
    }
    let mut purged = Vec::new();
    for (name, path) in entries(&trash)? {
        let Some(sequence) = (name.len() == 20).then(|| name.parse::<u64>().ok()).flatten() else { continue };
        let manifest = dir.join(MANIFEST_DIR).join(manifest_name(sequence));
        // Trash of a commit this ledger does not have is not ours to delete.
        if !manifest.is_file() {
            continue;
        }
        let manifest = Manifest::read(&manifest, sequence)?;
        if manifest.kind == CommitKind::Compaction && now - manifest.booked_at >= grace {
            fs::remove_dir_all(&path).map_err(io(&path))?;
            purged.push(path);
        }
    }
    if !purged.is_empty() {
        sync_dir(&trash)?;
    }
    Ok(purged)
}

/// Opens `relative` in the trash of any compaction, newest first; `None`
/// if no trash holds it.
pub(crate) fn open_in_trash(dir: &Path, relative: &str) -> Result<Option<(PathBuf, File)>, Error> {
    let trash = dir.join(TRASH_DIR);
    let compactions = if trash.is_dir() { entries(&trash)? } else { Vec::new() };
    for (_, compaction) in compactions.iter().rev() {
        let path = in_ledger(compaction, relative);
        match File::open(&path) {
            Ok(opened) => return Ok(Some((path, opened))),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
    }
    Ok(None)
}
