//! The two sides of a copy, a ledger directory ([`crate::local`]) and a
//! remote ([`crate::remote`]), behind one set of operations, so that push
//! and pull are the same algorithm ([`crate::copy`]) run either way.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use futures::stream::BoxStream;
use ratewire_ledger::{MANIFEST_DIR, TRASH_DIR};

use crate::error::Error;

/// A file's contents as a stream of chunks.
pub(crate) type Chunks = BoxStream<'static, Result<Bytes, Error>>;

/// What a side's `_manifest/` holds.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// Sequence of each manifest, and its size.
    pub manifests: BTreeMap<u64, u64>,
    /// Path of each checkpoint relative to the ledger
    /// (`_manifest/<sequence>.checkpoint`), and its size.
    pub checkpoints: BTreeMap<String, u64>,
}

impl Listing {
    /// Takes in one entry of `_manifest/`; other names (the lock file,
    /// temporary files) are left out.
    pub fn add(&mut self, name: &str, size: u64) {
        if let Some(sequence) = sequence_of(name, ".json") {
            self.manifests.insert(sequence, size);
        } else if sequence_of(name, ".checkpoint").is_some() {
            self.checkpoints.insert(format!("{MANIFEST_DIR}/{name}"), size);
        }
    }

    /// The latest commit (0 for none).
    pub fn latest(&self) -> u64 {
        self.manifests.last_key_value().map_or(0, |(s, _)| *s)
    }

    /// The first commit missing below the latest, if any.
    pub fn gap(&self) -> Option<u64> {
        (1..).zip(self.manifests.keys()).find(|(expected, found)| expected != *found).map(|(expected, _)| expected)
    }
}

/// The sequence of a `<20 digits><extension>` name.
pub(crate) fn sequence_of(name: &str, extension: &str) -> Option<u64> {
    let digits = name.strip_suffix(extension)?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok()).flatten()
}

/// Where the trash of commit `sequence` keeps `relative`.
pub(crate) fn in_trash(sequence: u64, relative: &str) -> String {
    format!("{TRASH_DIR}/{sequence:020}/{relative}")
}

/// The operations a copy needs of each side. Paths are relative to the
/// ledger, `/`-separated, and checked ([`crate::copy`]) before they get
/// here.
pub(crate) trait Side {
    /// The ledger directory or remote URL, for messages.
    fn location(&self) -> String;

    /// The manifests and checkpoints in `_manifest/`.
    async fn listing(&self) -> Result<Listing, Error>;

    /// A small file (a manifest) read whole, if it is there and at most
    /// `max` bytes; `Err(size)` if it is larger.
    async fn read(&self, relative: &str, max: u64) -> Result<Option<Result<Vec<u8>, u64>>, Error>;

    /// The size of a file, if it is there.
    async fn size(&self, relative: &str) -> Result<Option<u64>, Error>;

    /// A file's size and contents, if it is there.
    async fn open(&self, relative: &str) -> Result<Option<(u64, Chunks)>, Error>;

    /// The commits that have a directory in the trash, ascending.
    async fn trash(&self) -> Result<BTreeSet<u64>, Error>;

    /// Writes `relative` from `chunks`, `size` bytes in all: the name shows
    /// the whole file or nothing.
    async fn write(&self, relative: &str, size: u64, chunks: Chunks) -> Result<(), Error>;

    /// Makes what was written so far durable before a manifest names it.
    async fn sync(&self) -> Result<(), Error>;

    /// Puts manifest `sequence` in place, the commit point; refuses to
    /// replace a different one.
    async fn publish(&self, sequence: u64, manifest: &[u8]) -> Result<(), Error>;

    /// Moves `relative`, if it is in place, to the trash of commit
    /// `sequence`; whether it was in place.
    async fn move_to_trash(&self, sequence: u64, relative: &str) -> Result<bool, Error>;

    /// Deletes the trash of commit `sequence`.
    async fn delete_trash(&self, sequence: u64) -> Result<(), Error>;

    /// Deletes a file if it is there (a checkpoint no commit needs).
    async fn delete(&self, relative: &str) -> Result<(), Error>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_keep_manifests_and_checkpoints_and_find_gaps() {
        let mut listing = Listing::default();
        for name in ["00000000000000000001.json", "00000000000000000002.json", "LOCK", ".00000000000000000003.json.tmp"]
        {
            listing.add(name, 10);
        }
        listing.add("00000000000000000002.checkpoint", 5);
        assert_eq!(listing.latest(), 2);
        assert_eq!(listing.gap(), None);
        assert_eq!(listing.checkpoints.keys().collect::<Vec<_>>(), ["_manifest/00000000000000000002.checkpoint"]);
        listing.add("00000000000000000004.json", 10);
        assert_eq!(listing.gap(), Some(3));
        assert_eq!(in_trash(7, "table=rated/a.parquet"), "_trash/00000000000000000007/table=rated/a.parquet");
    }
}
