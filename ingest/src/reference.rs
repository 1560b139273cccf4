//! The catalog and accounts in force, swapped atomically on reload.
//!
//! A reload reads and checks both files first; if either is refused, the
//! running pair stays in force and the reason is returned. Rate workers load
//! the pair once per batch, so a batch is rated against one version.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use ratewire_rater::{Accounts, Name, Tables, catalog};

use crate::error::Error;

/// A catalog and the accounts checked against it.
#[derive(Debug)]
pub struct Reference {
    /// The compiled catalog.
    pub tables: Arc<Tables>,
    /// The accounts reference data.
    pub accounts: Arc<Accounts>,
}

impl Reference {
    /// Loads and checks the catalog and the accounts.
    ///
    /// # Errors
    /// [`Error::Reference`] with every problem found, `file:line:col: message`.
    pub fn load(catalog_path: &Path, accounts_path: &Path) -> Result<Self, Error> {
        let tables = catalog::load(catalog_path).map_err(|e| Error::Reference(e.to_string()))?;
        let accounts = Accounts::load(accounts_path).map_err(|e| Error::Reference(e.to_string()))?;
        accounts.check(&tables).map_err(|e| Error::Reference(e.to_string()))?;
        Ok(Self { tables: Arc::new(tables), accounts: Arc::new(accounts) })
    }
}

/// The files the reference data comes from, and the pair in force.
#[derive(Debug)]
pub struct ReferenceHandle {
    catalog_path: PathBuf,
    accounts_path: PathBuf,
    current: ArcSwap<Reference>,
    /// Modification times of the files in force, to notice a change.
    modified: ArcSwap<(Option<SystemTime>, Option<SystemTime>)>,
    /// Held by a reload: reloads asked for at once (SIGHUP, a file change,
    /// `POST /admin/reload`) run one after the other, so that an older
    /// read never replaces a newer one.
    reloading: Mutex<()>,
}

impl ReferenceHandle {
    /// Loads the files; the pipeline cannot start without a valid pair.
    ///
    /// # Errors
    /// As [`Reference::load`].
    pub fn open(catalog_path: &Path, accounts_path: &Path) -> Result<Self, Error> {
        let modified = (mtime(catalog_path), mtime(accounts_path));
        let reference = Reference::load(catalog_path, accounts_path)?;
        Ok(Self {
            catalog_path: catalog_path.to_path_buf(),
            accounts_path: accounts_path.to_path_buf(),
            current: ArcSwap::from_pointee(reference),
            modified: ArcSwap::from_pointee(modified),
            reloading: Mutex::new(()),
        })
    }

    /// The pair in force now.
    #[must_use]
    pub fn load(&self) -> Arc<Reference> {
        self.current.load_full()
    }

    /// Reads the files again and puts them in force if they pass their
    /// checks; returns the catalog version now in force.
    ///
    /// # Errors
    /// [`Error::Reference`]: the files were refused and the running pair
    /// stays in force.
    pub fn reload(&self) -> Result<Name, Error> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(PoisonError::into_inner);
        // Noted whatever the outcome: a refused file is not read again
        // until it changes once more.
        self.modified.store(Arc::new((mtime(&self.catalog_path), mtime(&self.accounts_path))));
        let reference = Reference::load(&self.catalog_path, &self.accounts_path)?;
        let version = reference.tables.version;
        self.current.store(Arc::new(reference));
        Ok(version)
    }

    /// Whether a file changed since it was last read.
    #[must_use]
    pub fn changed(&self) -> bool {
        let now = (mtime(&self.catalog_path), mtime(&self.accounts_path));
        now != **self.modified.load()
    }
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checked_reload_replaces_and_a_refused_one_keeps_the_running_pair() {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples");
        let dir = tempfile::tempdir().unwrap();
        let (catalog, accounts) = (dir.path().join("catalog.toml"), dir.path().join("accounts.csv"));
        let text = std::fs::read_to_string(examples.join("catalog.toml")).unwrap();
        std::fs::write(&catalog, &text).unwrap();
        std::fs::copy(examples.join("accounts.csv"), &accounts).unwrap();
        let handle = ReferenceHandle::open(&catalog, &accounts).unwrap();
        assert_eq!(&*handle.load().tables.version, "2026-11-a");
        assert!(!handle.changed());

        // Modification times can be coarse: make the change visible.
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        let touch = |path: &Path| std::fs::File::options().write(true).open(path).unwrap().set_modified(later).unwrap();
        std::fs::write(&catalog, text.replace("version = \"2026-11-a\"", "version = \"2026-11-b\"")).unwrap();
        touch(&catalog);
        assert!(handle.changed());
        assert_eq!(&*handle.reload().unwrap(), "2026-11-b");
        assert_eq!(&*handle.load().tables.version, "2026-11-b");
        assert!(!handle.changed());

        std::fs::write(&catalog, "version = \"2026-11-c\"\n[services.voice]\nunit = \"parsec\"\n").unwrap();
        let refused = handle.reload().unwrap_err().to_string();
        assert!(refused.contains("catalog.toml:"), "{refused}");
        assert_eq!(&*handle.load().tables.version, "2026-11-b", "the running catalog stays in force");
        assert!(!handle.changed(), "a refused file is not read again until it changes");
    }
}
