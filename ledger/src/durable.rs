//! The file-system steps commits are made of: temporary names, fsync of
//! files and directories, renames.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, io};

/// The temporary name of `path`: hidden (a leading `.`, which Hive-style
/// readers skip) and ending in `.tmp` (not `.parquet`, so globs skip it).
pub(crate) fn temp_name(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Whether a file name is a temporary name.
pub(crate) fn is_temp(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Writes `bytes` to `path` and fsyncs the file.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut file = File::create(path).map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

/// Renames `from` to `to` (in the same directory, so atomically).
pub(crate) fn rename(from: &Path, to: &Path) -> Result<(), Error> {
    fs::rename(from, to).map_err(io(from))
}

/// Fsyncs a directory, making the entries created, renamed or removed in it
/// durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Creates `root/relative` and any missing parent below `root`, adding to
/// `dirty` every directory that gained an entry (and so must be fsynced).
pub(crate) fn create_dirs(root: &Path, relative: &Path, dirty: &mut BTreeSet<PathBuf>) -> Result<(), Error> {
    let mut dir = root.to_path_buf();
    for component in relative.components() {
        let parent = dir.clone();
        dir.push(component);
        if !dir.is_dir() {
            fs::create_dir(&dir).map_err(io(&dir))?;
            dirty.insert(parent);
        }
    }
    Ok(())
}

/// Reads a file of at most `max` bytes.
pub(crate) fn read_bounded(path: &Path, max: u64) -> Result<Result<Vec<u8>, u64>, Error> {
    let size = fs::metadata(path).map_err(io(path))?.len();
    if size > max {
        return Ok(Err(size));
    }
    fs::read(path).map(Ok).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_hidden_and_not_parquet() {
        let temp = temp_name(Path::new("a/b/00000000000000000001-0000.parquet"));
        assert_eq!(temp, Path::new("a/b/.00000000000000000001-0000.parquet.tmp"));
        assert!(is_temp(".00000000000000000001-0000.parquet.tmp"));
        assert!(!is_temp("00000000000000000001-0000.parquet"));
    }

    #[test]
    fn created_directories_mark_their_parents_dirty() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut dirty = BTreeSet::new();
        create_dirs(root.path(), Path::new("x/y"), &mut dirty).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(dirty.into_iter().collect::<Vec<_>>(), [root.path().to_path_buf(), root.path().join("x")]);
        let mut again = BTreeSet::new();
        create_dirs(root.path(), Path::new("x/y"), &mut again).unwrap_or_else(|e| panic!("{e}"));
        assert!(again.is_empty());
    }
}
