//! The catalog in force: an immutable [`Tables`] snapshot swapped atomically.
//!
//! Readers load the current snapshot once per batch, so a batch is rated
//! against one catalog version; a reload that fails its checks never
//! replaces the running catalog.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::tables::Tables;

/// Shared handle to the catalog in force.
#[derive(Debug)]
pub struct CatalogHandle {
    current: ArcSwap<Tables>,
}

impl CatalogHandle {
    /// A handle serving `tables`.
    #[must_use]
    pub fn new(tables: Tables) -> Self {
        Self { current: ArcSwap::from_pointee(tables) }
    }

    /// The snapshot in force now.
    #[must_use]
    pub fn load(&self) -> Arc<Tables> {
        self.current.load_full()
    }

    /// Puts `tables` in force; returns the snapshot it replaced.
    pub fn swap(&self, tables: Tables) -> Arc<Tables> {
        self.current.swap(Arc::new(tables))
    }
}
