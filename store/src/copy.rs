//! Push and pull: the commits the destination lacks, copied from the
//! source in sequence order, each commit's files before its manifest.
//!
//! One round of a copy:
//! 1. lists both sides' `_manifest/` and checks that the destination's
//!    commits are the source's first ones (same sizes, and the latest the
//!    same bytes), then finishes moving the files the destination's latest
//!    commit removed to its trash, if a copy stopped before that;
//! 2. reads the manifests to copy once, noting which commit removes which
//!    file (a compaction, or a rerate);
//! 3. for each commit in order: copies its data files (those already at the
//!    destination with the listed size are kept) and its checkpoint if the
//!    source still has it, then puts its manifest in place, the commit
//!    point, and moves the files it removed to the destination's trash.
//!    A file that a later commit of the same copy removes (a compaction's
//!    input, a rerated period's) goes straight to that commit's trash,
//!    where readers of the commits before it find it as they do in the
//!    ledger; if the source has deleted it already (a compaction's trash
//!    after its grace period), it is not copied, and the manifests from the
//!    one that added it to the one that removed it are put in place
//!    together, after the latter's files, so that the destination lacks a
//!    file its latest manifest lists only while those few small manifests
//!    are put;
//! 4. deletes the destination's checkpoints but its latest commit's, and its
//!    trash directories that the source no longer has (the writer deletes a
//!    compaction's trash after its grace period, and a copy follows).
//!
//! A copy that stops anywhere leaves the destination a ledger as of its
//! latest manifest; the next copy goes on from there. The source may
//! change meanwhile (a writer commits, compacts, replaces its checkpoint):
//! a round that finds a file moved away or its checkpoint replaced lists
//! the source again and goes on, at most [`COPY_ROUNDS_MAX`] rounds.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::Path;

use ratewire_ledger::{MANIFEST_BYTES_MAX, MANIFEST_DIR, Manifest, manifest_name};

use crate::bounds::COPY_ROUNDS_MAX;
use crate::error::Error;
use crate::local::Local;
use crate::remote::Remote;
use crate::side::{Listing, Side, in_trash};

/// The point a copy has reached, passed to the hook of [`push_with`] or
/// [`pull_with`] after each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A data file of commit `sequence` is at the destination (copied now
    /// or found there).
    File(u64),
    /// The checkpoint of commit `sequence` is copied.
    Checkpoint(u64),
    /// Manifest `sequence` is in place at the destination: the commit is
    /// there.
    Manifest(u64),
}

/// What a push or a pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The destination's latest commit before (0: none).
    pub before: u64,
    /// The destination's latest commit after: the source's latest.
    pub after: u64,
    /// Commits copied (manifests put in place).
    pub commits: u64,
    /// Data files copied.
    pub files: u64,
    /// Checkpoints copied.
    pub checkpoints: u64,
    /// Bytes copied: data files, checkpoints and manifests.
    pub bytes: u64,
    /// Data files found at the destination already, with their size (an
    /// interrupted copy's).
    pub files_present: u64,
    /// Data files not copied: a later commit of the same copy removed them
    /// and the source had deleted them from its trash already.
    pub files_skipped: u64,
    /// Files moved to the destination's trash, removed by a commit copied.
    pub trashed: u64,
    /// Trash directories deleted at the destination, following the source.
    pub trash_purged: u64,
    /// The destination's latest commit has no checkpoint there: the source
    /// no longer had it (a push of a ledger whose writer committed again
    /// meanwhile, or a pull of a remote whose push was interrupted). Readers
    /// can use the destination as it is; a writer resuming from it needs
    /// the checkpoint, which the next complete copy brings.
    pub checkpoint_missing: bool,
}

/// Pushes the ledger in `dir` to `remote`: every commit the remote lacks.
/// Runs beside the ledger's writer (it takes no lock).
///
/// # Errors
/// [`Error::NotALedger`], [`Error::Diverged`] when the remote holds another
/// ledger's commits, [`Error::MissingFile`] and [`Error::Size`] for a
/// ledger that is not consistent, I/O and object store errors.
pub fn push(dir: impl AsRef<Path>, remote: &Remote) -> Result<Report, Error> {
    push_with(dir, remote, &mut |_| ControlFlow::Continue(()))
}

/// [`push`], calling `hook` after each [`Step`]; the push stops with
/// [`Error::Aborted`] where the hook breaks (for tests of interruptions).
///
/// # Errors
/// As [`push`], and [`Error::Aborted`].
pub fn push_with(
    dir: impl AsRef<Path>,
    remote: &Remote,
    hook: &mut dyn FnMut(Step) -> ControlFlow<()>,
) -> Result<Report, Error> {
    let source = Local::source(dir.as_ref())?;
    block_on(copy(&source, remote, hook))
}

/// Pulls `remote` into the ledger directory `dir` (created if need be):
/// every commit the directory lacks. Holds the ledger's lock meanwhile.
///
/// # Errors
/// [`Error::Locked`] while a writer has the directory open,
/// [`Error::Diverged`] when the directory holds commits the remote does not
/// have, [`Error::MissingFile`] and [`Error::Size`] for a remote that is not
/// consistent, I/O and object store errors.
pub fn pull(remote: &Remote, dir: impl AsRef<Path>) -> Result<Report, Error> {
    pull_with(remote, dir, &mut |_| ControlFlow::Continue(()))
}

/// [`pull`], calling `hook` after each [`Step`]; the pull stops with
/// [`Error::Aborted`] where the hook breaks.
///
/// # Errors
/// As [`pull`], and [`Error::Aborted`].
pub fn pull_with(
    remote: &Remote,
    dir: impl AsRef<Path>,
    hook: &mut dyn FnMut(Step) -> ControlFlow<()>,
) -> Result<Report, Error> {
    let destination = Local::destination(dir.as_ref())?;
    block_on(copy(remote, &destination, hook))
}

/// Runs a copy on a single-thread runtime of its own: the object store is
/// async, the rest of the binary is threads.
fn block_on<T>(future: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Runtime)?;
    runtime.block_on(future)
}

/// How a round ended.
enum Round {
    /// The destination has the source's latest commit, as listed.
    Done,
    /// The source changed under the round: list it again.
    Again,
}

async fn copy<S: Side, D: Side>(
    source: &S,
    destination: &D,
    hook: &mut dyn FnMut(Step) -> ControlFlow<()>,
) -> Result<Report, Error> {
    let mut report = Report::default();
    for round in 0..COPY_ROUNDS_MAX {
        match copy_round(source, destination, hook, &mut report, round == 0).await? {
            Round::Done => return Ok(report),
            Round::Again => {}
        }
    }
    Err(Error::Unsettled { location: source.location(), rounds: COPY_ROUNDS_MAX })
}

async fn copy_round<S: Side, D: Side>(
    source: &S,
    destination: &D,
    hook: &mut dyn FnMut(Step) -> ControlFlow<()>,
    report: &mut Report,
    first: bool,
) -> Result<Round, Error> {
    let listed = source.listing().await?;
    let there = destination.listing().await?;
    for (side, listing) in [(source.location(), &listed), (destination.location(), &there)] {
        if let Some(sequence) = listing.gap() {
            return Err(Error::Gap { location: side, sequence });
        }
    }
    let (from, to) = (there.latest(), listed.latest());
    if first {
        report.before = from;
    }
    report.after = from;
    let mut latest = check_prefix(source, destination, &listed, &there).await?;
    if let Some(manifest) = &latest {
        // A copy that stopped right after putting this manifest in place.
        trash_removed(destination, manifest, report).await?;
    }

    // Which commit of this copy removes which file.
    let mut removers: HashMap<String, u64> = HashMap::new();
    for sequence in from + 1..=to {
        let (_, manifest) = read_manifest(source, sequence).await?;
        removers.extend(manifest.removed.into_iter().map(|path| (path, sequence)));
    }

    let mut hold = 0;
    let mut unpublished = from + 1;
    for sequence in from + 1..=to {
        let (_, manifest) = read_manifest(source, sequence).await?;
        for file in &manifest.files {
            let remover = removers.get(&file.path).copied();
            let target = remover.map_or_else(|| file.path.clone(), |remover| in_trash(remover, &file.path));
            match copy_file(source, destination, &file.path, &target, file.bytes).await? {
                Copied::Now => {
                    report.files += 1;
                    report.bytes += file.bytes;
                }
                Copied::Before => report.files_present += 1,
                // Gone from the source's trash too (its grace period is
                // over): the commits up to its remover are put in place
                // together.
                Copied::Missing => match remover {
                    Some(remover) => {
                        hold = hold.max(remover);
                        report.files_skipped += 1;
                        continue;
                    }
                    None if source.listing().await?.latest() > to => return Ok(Round::Again),
                    None => {
                        let (location, file) = (source.location(), file.path.clone());
                        return Err(Error::MissingFile { location, sequence, file });
                    }
                },
            }
            stop(hook, Step::File(sequence))?;
        }
        let checkpoint = &manifest.checkpoint;
        if listed.checkpoints.contains_key(&checkpoint.path) {
            let (path, bytes) = (checkpoint.path.as_str(), checkpoint.bytes);
            // Missing now: the writer replaced it since the listing; the
            // end of the round sees to it.
            if let Copied::Now = copy_file(source, destination, path, path, bytes).await? {
                report.checkpoints += 1;
                report.bytes += bytes;
                stop(hook, Step::Checkpoint(sequence))?;
            }
        }
        if sequence >= hold {
            destination.sync().await?;
            for held in unpublished..=sequence {
                let (bytes, manifest) = read_manifest(source, held).await?;
                destination.publish(held, &bytes).await?;
                report.commits += 1;
                report.bytes += bytes.len() as u64;
                report.after = held;
                stop(hook, Step::Manifest(held))?;
                trash_removed(destination, &manifest, report).await?;
                latest = Some(manifest);
            }
            unpublished = sequence + 1;
        }
    }
    debug_assert!(unpublished > to, "a file is only removed by a later commit of the copy");

    let Some(latest) = latest else { return Ok(Round::Done) };
    let mut checkpoints = destination.listing().await?.checkpoints;
    let wanted = &latest.checkpoint;
    if !checkpoints.contains_key(&wanted.path) && listed.checkpoints.contains_key(&wanted.path) {
        // Only if the destination lost it: a commit's checkpoint is copied
        // before its manifest.
        if let Copied::Now = copy_file(source, destination, &wanted.path, &wanted.path, wanted.bytes).await? {
            report.checkpoints += 1;
            report.bytes += wanted.bytes;
            checkpoints.insert(wanted.path.clone(), wanted.bytes);
        }
    }
    if checkpoints.contains_key(&latest.checkpoint.path) {
        report.checkpoint_missing = false;
        for path in checkpoints.keys().filter(|p| **p != latest.checkpoint.path) {
            destination.delete(path).await?;
        }
    } else if source.listing().await?.latest() > to {
        return Ok(Round::Again);
    } else {
        report.checkpoint_missing = true;
    }
    let kept = source.trash().await?;
    for sequence in destination.trash().await?.difference(&kept).filter(|s| **s <= latest.sequence) {
        destination.delete_trash(*sequence).await?;
        report.trash_purged += 1;
    }
    destination.sync().await?;
    Ok(Round::Done)
}

/// Checks that the destination's commits are the source's first ones;
/// returns the destination's latest manifest.
async fn check_prefix<S: Side, D: Side>(
    source: &S,
    destination: &D,
    listed: &Listing,
    there: &Listing,
) -> Result<Option<Manifest>, Error> {
    let diverged = |sequence, reason: String| Error::Diverged { location: destination.location(), sequence, reason };
    for (&sequence, &size) in &there.manifests {
        match listed.manifests.get(&sequence) {
            None => return Err(diverged(sequence, format!("is not in {}", source.location()))),
            Some(&listed) if listed != size => {
                return Err(diverged(sequence, format!("is {size} bytes, {listed} in {}", source.location())));
            }
            Some(_) => {}
        }
    }
    let latest = there.latest();
    if latest == 0 {
        return Ok(None);
    }
    let (bytes, manifest) = read_manifest(destination, latest).await?;
    if read_manifest(source, latest).await?.0 != bytes {
        return Err(diverged(latest, format!("differs from the one in {}", source.location())));
    }
    Ok(Some(manifest))
}

/// Moves the files `manifest` removed to the destination's trash, those
/// still in place.
async fn trash_removed<D: Side>(destination: &D, manifest: &Manifest, report: &mut Report) -> Result<(), Error> {
    let mut moved = false;
    for path in &manifest.removed {
        if destination.move_to_trash(manifest.sequence, path).await? {
            report.trashed += 1;
            moved = true;
        }
    }
    if moved {
        destination.sync().await?;
    }
    Ok(())
}

/// What [`copy_file`] did.
enum Copied {
    /// Copied now.
    Now,
    /// The destination had it already.
    Before,
    /// The source has it neither in place nor in its trash.
    Missing,
}

/// Copies the source's `path`, `bytes` long, to the destination's `target`
/// unless the destination has it with that size already. The source's file
/// is looked for in place, then in its trash (newest first), where a
/// compaction or rerate may have moved it.
async fn copy_file<S: Side, D: Side>(
    source: &S,
    destination: &D,
    path: &str,
    target: &str,
    bytes: u64,
) -> Result<Copied, Error> {
    if destination.size(target).await? == Some(bytes) {
        return Ok(Copied::Before);
    }
    let mut opened = source.open(path).await?;
    if opened.is_none() {
        for sequence in source.trash().await?.into_iter().rev() {
            opened = source.open(&in_trash(sequence, path)).await?;
            if opened.is_some() {
                break;
            }
        }
    }
    let Some((size, chunks)) = opened else { return Ok(Copied::Missing) };
    if size != bytes {
        let location = source.location();
        return Err(Error::Size { location, file: path.to_string(), expected: bytes, actual: size });
    }
    destination.write(target, bytes, chunks).await?;
    Ok(Copied::Now)
}

/// Reads and parses manifest `sequence` of a side, checking that the paths
/// it names stay inside the ledger.
async fn read_manifest<S: Side>(side: &S, sequence: u64) -> Result<(Vec<u8>, Manifest), Error> {
    let relative = format!("{MANIFEST_DIR}/{}", manifest_name(sequence));
    let invalid = |reason: String| Error::Manifest { location: format!("{}/{relative}", side.location()), reason };
    let bytes = match side.read(&relative, MANIFEST_BYTES_MAX).await? {
        None => return Err(invalid("is missing".into())),
        Some(Err(size)) => return Err(invalid(format!("{size} bytes, more than the {MANIFEST_BYTES_MAX} allowed"))),
        Some(Ok(bytes)) => bytes,
    };
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    if manifest.sequence != sequence {
        return Err(invalid(format!("says it is commit {}", manifest.sequence)));
    }
    let paths = manifest.files.iter().map(|f| f.path.as_str()).chain(manifest.removed.iter().map(String::as_str));
    for path in paths.chain([manifest.checkpoint.path.as_str()]) {
        if !is_inside(path) {
            return Err(invalid(format!("names {path:?}, which is not a path inside the ledger")));
        }
    }
    Ok((bytes, manifest))
}

/// Whether a manifest's path is relative and stays inside the ledger.
fn is_inside(path: &str) -> bool {
    !path.is_empty() && !path.contains('\\') && path.split('/').all(|part| !matches!(part, "" | "." | ".."))
}

/// Stops the copy if the hook says so.
fn stop(hook: &mut dyn FnMut(Step) -> ControlFlow<()>, step: Step) -> Result<(), Error> {
    match hook(step) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(Error::Aborted(step)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_paths_stay_inside_the_ledger() {
        assert!(is_inside("table=rated/period=2026-11/day=2026-11-03/00000000000000000001-0000.parquet"));
        assert!(is_inside("_manifest/00000000000000000001.checkpoint"));
        for path in ["", "/etc/passwd", "a/../../b", "a//b", "./a", "a\\b", "a/"] {
            assert!(!is_inside(path), "{path}");
        }
    }
}
