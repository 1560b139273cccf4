//! The synchronous face of the SQL engine, for a command line: an async
//! runtime with a worker thread per core that DataFusion runs its
//! partitions on, driven by blocking calls.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use tokio::runtime::Runtime;

use crate::error::Error;
use crate::guard::Statement;
use crate::source::{Source, execute, plan};

/// Runs statements against a [`Source`], each on the ledger's latest commit.
#[derive(Debug)]
pub struct Engine {
    runtime: Runtime,
    source: Source,
}

impl Engine {
    /// An engine over `source`.
    ///
    /// # Errors
    /// [`Error::Runtime`] if the async runtime cannot start.
    pub fn new(source: Source) -> Result<Self, Error> {
        Ok(Self { runtime: runtime()?, source })
    }

    /// Starts a statement on the ledger's latest commit; its rows come as
    /// they are computed.
    ///
    /// # Errors
    /// [`Error::Ledger`] and [`Error::Sql`].
    pub fn query(&self, statement: &Statement) -> Result<Rows<'_>, Error> {
        let (context, _) = self.source.context()?;
        let stream = self.runtime.block_on(async {
            let plan = plan(&context, statement).await?;
            execute(&context, plan, None).await
        })?;
        Ok(Rows { runtime: &self.runtime, stream })
    }
}

/// The runtime queries run on: one worker thread per core, so that the
/// partitions of a plan (`target_partitions`, one per core) run at once
/// rather than taking turns on one thread.
///
/// # Errors
/// [`Error::Runtime`] if it cannot start.
pub(crate) fn runtime() -> Result<Runtime, Error> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .thread_name("ratewire-sql")
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

/// The rows of a running statement, batch by batch.
pub struct Rows<'a> {
    runtime: &'a Runtime,
    stream: SendableRecordBatchStream,
}

impl std::fmt::Debug for Rows<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows").field("schema", &self.stream.schema()).finish_non_exhaustive()
    }
}

impl Rows<'_> {
    /// The result's columns.
    #[must_use]
    pub fn schema(&self) -> SchemaRef {
        self.stream.schema()
    }
}

impl Iterator for Rows<'_> {
    type Item = Result<RecordBatch, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.runtime.block_on(self.stream.next()).map(|batch| batch.map_err(Error::from))
    }
}
