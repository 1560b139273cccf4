//! A shared ledger root: several writers (the instances of one consumer
//! group), each with a ledger of its own under `members/<name>`, which
//! readers take together as one ledger.

use std::path::{Path, PathBuf};

use crate::error::{Error, io};
use crate::manifest::MANIFEST_DIR;

/// The directory of the members' ledgers under a shared root.
pub const MEMBERS_DIR: &str = "members";

/// The ledger directory of member `name` under the shared root `root`.
#[must_use]
pub fn member_dir(root: &Path, name: &str) -> PathBuf {
    root.join(MEMBERS_DIR).join(name)
}

/// The members of the shared root `root`, by name: each one's name and
/// ledger directory. None when `root` has no `members` directory.
///
/// # Errors
/// I/O errors listing the directory.
pub fn members(root: &Path) -> Result<Vec<(String, PathBuf)>, Error> {
    let dir = root.join(MEMBERS_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(&dir))?;
        let path = entry.path();
        // A member's directory holds a ledger once its writer opened it.
        if path.join(MANIFEST_DIR).is_dir()
            && let Ok(name) = entry.file_name().into_string()
        {
            out.push((name, path));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_the_ledgers_under_members() {
        let root = tempfile::tempdir().unwrap();
        assert!(members(root.path()).unwrap().is_empty());
        for name in ["b", "a"] {
            drop(crate::Ledger::open(member_dir(root.path(), name)).unwrap());
        }
        std::fs::create_dir_all(root.path().join(MEMBERS_DIR).join("not-a-ledger")).unwrap();
        let names: Vec<String> = members(root.path()).unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "b"]);
    }
}
