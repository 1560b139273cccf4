//! The event ids the ledger holds, read back from its `rated` files: the
//! durable index a restarted pipeline checks resent events against.
//!
//! Only `rated` is read: an event that was rejected may be sent again
//! corrected, and is then rated.

use std::fs::File;
use std::path::Path;

use arrow_array::{Array, StringArray};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::bounds::READ_BACK_BATCH_ROWS;
use crate::commit::Ledger;
use crate::error::{Error, io};
use crate::manifest::in_ledger;
use crate::schema::Table;
use crate::snapshot::Snapshot;

impl Ledger {
    /// Calls `each` with the event id of every committed `rated` row, file
    /// by file (an event that booked several records comes several times).
    ///
    /// # Errors
    /// I/O and Parquet errors of the files read.
    pub fn for_each_event_id(&self, mut each: impl FnMut(&str)) -> Result<(), Error> {
        for file in self.committed_files().iter().filter(|f| f.table == Table::Rated) {
            let path = in_ledger(self.dir(), &file.path);
            let opened = File::open(&path).map_err(io(&path))?;
            event_ids(opened, &path, &mut each)?;
        }
        Ok(())
    }
}

impl Snapshot {
    /// As [`Ledger::for_each_event_id`], for the snapshot's files wherever
    /// they are now (in place or in the trash).
    ///
    /// # Errors
    /// As [`Snapshot::open_file`], and Parquet errors.
    pub fn for_each_event_id(&self, mut each: impl FnMut(&str)) -> Result<(), Error> {
        for file in self.files().iter().filter(|f| f.table == Table::Rated) {
            let (path, opened) = self.open_file(file)?;
            event_ids(opened, &path, &mut each)?;
        }
        Ok(())
    }
}

/// Calls `each` with the `event_id` of every row of the `rated` file `opened`.
fn event_ids(opened: File, path: &Path, each: &mut dyn FnMut(&str)) -> Result<(), Error> {
    let parquet = |source| Error::Parquet { path: path.to_path_buf(), source };
    let builder = ParquetRecordBatchReaderBuilder::try_new(opened).map_err(parquet)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), ["event_id"]);
    let reader = builder.with_projection(mask).with_batch_size(READ_BACK_BATCH_ROWS).build().map_err(parquet)?;
    for batch in reader {
        let batch = batch.map_err(|e| parquet(e.into()))?;
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| Error::Schema { path: path.to_path_buf(), table: Table::Rated })?;
        for id in ids.iter().flatten() {
            each(id);
        }
    }
    Ok(())
}
