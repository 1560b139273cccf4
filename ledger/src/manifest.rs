//! Manifests: `_manifest/<sequence>.json`, one per commit, numbered from 1
//! with 20 digits. A manifest lists the data files its commit added and
//! those it removed (a compaction's inputs); the committed files are those
//! added by the manifests up to the latest, less those removed. It also
//! carries what resuming needs, for the whole ledger, so that only the
//! latest is read for that: the offsets covered so far, the totals so far
//! and the checkpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::bounds::{MANIFEST_BYTES_MAX, SOURCE_PARTITIONS_MAX};
use crate::close::PeriodClose;
use crate::durable::read_bounded;
use crate::error::Error;
use crate::rerate::RerateRecord;
use crate::schema::Table;
use crate::totals::Totals;

/// The directory of manifests and checkpoints, in the ledger directory.
pub const MANIFEST_DIR: &str = "_manifest";

/// The newest manifest format, which this build reads along with the older
/// ones. Format 2 added [`Manifest::kind`] and [`Manifest::removed`], format
/// 3 [`Manifest::close`], format 4 [`Manifest::rerate`]; ingest commits are
/// still written as format 1, which older builds read, compactions as format
/// 2, closes as format 3 and rerates as format 4, which older builds refuse
/// rather than misread ([`CommitKind::format`]): a build that did not know
/// closes would book rows in closed periods, one that did not know rerates
/// would check a rerate's totals as a compaction's.
pub const MANIFEST_FORMAT: u32 = 4;

/// What a commit did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitKind {
    /// Booked new rows, and the source offsets they came from.
    #[default]
    Ingest,
    /// Merged committed files into fewer, without changing any row: the
    /// offsets, positions, checkpoint and ledger totals stay as they were.
    Compaction,
    /// Closed a billing period ([`Manifest::close`]): no file is added or
    /// removed, and the offsets, positions, checkpoint and ledger totals stay
    /// as they were.
    Close,
    /// Replaced a billing period's rows with those of rerating it
    /// ([`Manifest::rerate`]): the period's files are removed (kept in the
    /// trash for good, so the version before stays readable) and the new
    /// ones added; the offsets, positions and checkpoint stay as they were,
    /// the ledger totals change by the difference.
    Rerate,
}

impl CommitKind {
    /// The manifest format a commit of this kind is written in.
    #[must_use]
    pub fn format(self) -> u32 {
        match self {
            Self::Ingest => 1,
            Self::Compaction => 2,
            Self::Close => 3,
            Self::Rerate => 4,
        }
    }
}

/// A range of offsets of one source partition: `from` is the first offset
/// covered, `to` the one after the last (where reading resumes).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourceRange {
    /// A topic, or an input file's name.
    pub source: String,
    /// The partition (0 for a file).
    pub partition: i32,
    /// First offset covered.
    pub from: i64,
    /// The offset after the last one covered.
    pub to: i64,
}

/// A data file of a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// Path relative to the ledger directory, `/`-separated.
    pub path: String,
    /// Its table.
    pub table: Table,
    /// Size in bytes.
    pub bytes: u64,
    /// Rows and money sums.
    pub totals: Totals,
}

/// The checkpoint written with a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointFile {
    /// Path relative to the ledger directory.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// One commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The manifest format: [`CommitKind::format`] of its kind, at most
    /// [`MANIFEST_FORMAT`].
    pub format: u32,
    /// The commit's number, as in the file name.
    pub sequence: u64,
    /// When the commit's rows were booked (the caller's clock).
    pub booked_at: DateTime<Utc>,
    /// What the commit did (`ingest` when absent, as in format 1).
    #[serde(default)]
    pub kind: CommitKind,
    /// The data files this commit added.
    pub files: Vec<DataFile>,
    /// Paths of the data files this commit removed from the ledger, relative
    /// like [`DataFile::path`] (a compaction's inputs; empty for an ingest).
    /// A removed file is moved to `_trash/<sequence>/<path>`.
    #[serde(default)]
    pub removed: Vec<String>,
    /// Totals of this commit's files, per table.
    pub totals: BTreeMap<Table, Totals>,
    /// Totals of every committed file so far, this commit's included.
    pub ledger_totals: BTreeMap<Table, Totals>,
    /// The offsets this commit covers, as the caller gave them.
    pub offsets: Vec<SourceRange>,
    /// For every source partition seen so far, the span of offsets
    /// committed: from the first commit's `from` to the latest `to`.
    pub positions: Vec<SourceRange>,
    /// The caller's checkpoint, written beside the manifest.
    pub checkpoint: CheckpointFile,
    /// For a close, the period closed and its totals (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<PeriodClose>,
    /// For a rerate, what was rerated and with which catalog (absent
    /// otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerate: Option<RerateRecord>,
}

/// The file name of manifest `sequence`.
#[must_use]
pub fn manifest_name(sequence: u64) -> String {
    format!("{sequence:020}.json")
}

/// The file name of checkpoint `sequence`.
#[must_use]
pub fn checkpoint_name(sequence: u64) -> String {
    format!("{sequence:020}.checkpoint")
}

/// The sequence of a manifest (`.json`) or checkpoint (`.checkpoint`) name.
pub(crate) fn sequence_of(name: &str, extension: &str) -> Option<u64> {
    let digits = name.strip_suffix(extension)?.strip_suffix('.')?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok()).flatten()
}

impl Manifest {
    /// Reads and checks the manifest at `path`, expected to be `sequence`.
    pub(crate) fn read(path: &Path, sequence: u64) -> Result<Self, Error> {
        let invalid = |reason: String| Error::Manifest { path: path.to_path_buf(), reason };
        let bytes = read_bounded(path, MANIFEST_BYTES_MAX)?
            .map_err(|size| invalid(format!("{size} bytes, more than the {MANIFEST_BYTES_MAX} allowed")))?;
        let manifest: Self = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        if !(1..=MANIFEST_FORMAT).contains(&manifest.format) {
            return Err(invalid(format!(
                "format {}; this build reads formats 1 to {MANIFEST_FORMAT}",
                manifest.format
            )));
        }
        if manifest.format < manifest.kind.format() {
            return Err(invalid(format!("a {:?} commit in format {}", manifest.kind, manifest.format)));
        }
        if manifest.sequence != sequence {
            return Err(invalid(format!("says it is commit {}", manifest.sequence)));
        }
        Ok(manifest)
    }

    /// The manifest as pretty JSON, ending in a newline.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).unwrap_or_default();
        json.push(b'\n');
        json
    }
}

/// `positions` advanced by a commit's `offsets`, which must each start at
/// or after where their partition's committed span ends.
pub(crate) fn advance(positions: &[SourceRange], offsets: &[SourceRange]) -> Result<Vec<SourceRange>, Error> {
    let mut spans: BTreeMap<(&str, i32), (i64, i64)> =
        positions.iter().map(|p| ((p.source.as_str(), p.partition), (p.from, p.to))).collect();
    let mut sorted: Vec<&SourceRange> = offsets.iter().collect();
    sorted.sort();
    for range in sorted {
        let SourceRange { source, partition, from, to } = range;
        if from > to {
            return Err(Error::ReversedRange {
                source_name: source.clone(),
                partition: *partition,
                from: *from,
                to: *to,
            });
        }
        match spans.get_mut(&(source.as_str(), *partition)) {
            Some((_, committed_to)) if from < committed_to => {
                return Err(Error::OffsetsOverlap {
                    source_name: source.clone(),
                    partition: *partition,
                    from: *from,
                    to: *to,
                    committed_to: *committed_to,
                });
            }
            Some((_, committed_to)) => *committed_to = *to,
            None => {
                spans.insert((source.as_str(), *partition), (*from, *to));
            }
        }
    }
    if spans.len() > SOURCE_PARTITIONS_MAX {
        return Err(Error::TooManySourcePartitions { count: spans.len(), max: SOURCE_PARTITIONS_MAX });
    }
    Ok(spans
        .into_iter()
        .map(|((source, partition), (from, to))| SourceRange { source: source.to_string(), partition, from, to })
        .collect())
}

/// The manifest that added a data file: the sequence its name starts with
/// (`<sequence>-<index>.parquet`), for error messages.
pub(crate) fn manifest_of(dir: &Path, file: &str) -> PathBuf {
    let name = file.rsplit('/').next().unwrap_or(file);
    let sequence = name.split_once('-').and_then(|(s, _)| s.parse::<u64>().ok());
    let manifests = dir.join(MANIFEST_DIR);
    match sequence {
        Some(sequence) => manifests.join(manifest_name(sequence)),
        None => manifests,
    }
}

/// The path of a manifest-relative name inside the ledger directory.
pub(crate) fn in_ledger(dir: &Path, relative: &str) -> PathBuf {
    relative.split('/').fold(dir.to_path_buf(), |path, part| path.join(part))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(source: &str, partition: i32, from: i64, to: i64) -> SourceRange {
        SourceRange { source: source.into(), partition, from, to }
    }

    #[test]
    fn positions_advance_contiguously_or_with_gaps_but_never_back() {
        let first = advance(&[], &[range("t", 0, 1, 10), range("t", 1, 5, 6)]).unwrap_or_default();
        assert_eq!(first, [range("t", 0, 1, 10), range("t", 1, 5, 6)]);
        let second = advance(&first, &[range("t", 0, 10, 20), range("u", 0, 0, 3)]).unwrap_or_default();
        assert_eq!(second, [range("t", 0, 1, 20), range("t", 1, 5, 6), range("u", 0, 0, 3)]);
        // A gap is allowed (a source may skip offsets); going back is not.
        assert!(advance(&second, &[range("t", 0, 25, 30)]).is_ok());
        assert!(matches!(
            advance(&second, &[range("t", 0, 19, 30)]),
            Err(Error::OffsetsOverlap { committed_to: 20, from: 19, .. })
        ));
        // Two ranges of one commit may not overlap each other either.
        assert!(matches!(advance(&[], &[range("t", 0, 1, 5), range("t", 0, 4, 8)]), Err(Error::OffsetsOverlap { .. })));
        assert!(matches!(advance(&[], &[range("t", 0, 5, 4)]), Err(Error::ReversedRange { .. })));
    }

    #[test]
    fn names_carry_twenty_digits() {
        assert_eq!(manifest_name(42), "00000000000000000042.json");
        assert_eq!(sequence_of("00000000000000000042.json", "json"), Some(42));
        assert_eq!(sequence_of("00000000000000000042.checkpoint", "checkpoint"), Some(42));
        assert_eq!(sequence_of("42.json", "json"), None);
        assert_eq!(sequence_of(".00000000000000000042.json.tmp", "json"), None);
    }
}
