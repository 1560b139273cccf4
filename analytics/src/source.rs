//! What SQL reads: a ledger directory and, optionally, the accounts file;
//! and the DataFusion session each statement runs in.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::MemTable;
use datafusion::common::ParamValues;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use ratewire_ledger::{MANIFEST_DIR, Snapshot, Table};
use ratewire_rater::Accounts;

use crate::accounts::{accounts_batch, accounts_schema};
use crate::bounds::{BATCH_ROWS, QUERY_MEMORY_BYTES_MAX};
use crate::churn::{RISK_TABLE, RiskTable};
use crate::error::Error;
use crate::guard::{Statement, read_only_options};
use crate::ledger_table::LedgerTable;

/// The name of the accounts table.
pub const ACCOUNTS_TABLE: &str = "accounts";

/// A ledger and its reference data, ready to be queried. Each
/// [`Source::context`] sees the ledger's latest commit at that moment (or
/// the version [`Source::as_of`] chose); the accounts are read once, by
/// [`Source::open`].
#[derive(Clone)]
pub struct Source {
    ledger: PathBuf,
    /// The commit to read as of; `None`: the latest.
    as_of: Option<u64>,
    accounts: Option<RecordBatch>,
    runtime: Arc<RuntimeEnv>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").field("ledger", &self.ledger).field("accounts", &self.accounts.is_some()).finish()
    }
}

impl Source {
    /// The ledger in `ledger` (its manifests are read now, to fail early),
    /// and the accounts file (CSV or TOML) if given. `ledger` may also be
    /// the shared root of several instances (`members/<instance>` ledgers):
    /// their ledgers are then read together, as one.
    ///
    /// # Errors
    /// [`Error::Io`] for a ledger directory that is not there,
    /// [`Error::NotALedger`], [`Error::Ledger`], [`Error::Accounts`] and [`Error::AccountAmount`].
    pub fn open(ledger: &Path, accounts: Option<&Path>) -> Result<Self, Error> {
        // Absolute, because DataFusion's file store addresses files by
        // absolute path.
        let ledger = ledger.canonicalize().map_err(|source| Error::Io { path: ledger.to_path_buf(), source })?;
        snapshots(&ledger, None)?;
        let accounts = accounts.map(|path| accounts_batch(&Accounts::load(path)?)).transpose()?;
        // One memory pool for every query of the process, so that the bound
        // holds however many run at once.
        let runtime = RuntimeEnvBuilder::new().with_memory_limit(QUERY_MEMORY_BYTES_MAX, 1.0).build_arc()?;
        Ok(Self { ledger, as_of: None, accounts, runtime })
    }

    /// The same source, reading the ledger as of commit `sequence`: an
    /// earlier version, such as a period's before a rerate replaced it
    /// (the files it removed stay readable in the trash).
    ///
    /// # Errors
    /// [`Error::AsOfShared`] for the shared root of several ledgers, and
    /// [`Error::Ledger`] for a commit the ledger does not have.
    pub fn as_of(mut self, sequence: u64) -> Result<Self, Error> {
        snapshots(&self.ledger, Some(sequence))?;
        self.as_of = Some(sequence);
        Ok(self)
    }

    /// The ledger directory, absolute.
    #[must_use]
    pub fn ledger(&self) -> &Path {
        &self.ledger
    }

    /// A session over the ledger's latest commit: the tables `rated`,
    /// `draws`, `rejects` and `facts`, `accounts` (empty without an
    /// accounts file), `churn_risk` (empty until `churn score` wrote the
    /// ledger's risk list), the manifest tables and the report views.
    /// Returns the commit's number with it.
    ///
    /// # Errors
    /// [`Error::Ledger`], and [`Error::Sql`] for a committed file whose
    /// path has no partition.
    pub fn context(&self) -> Result<(SessionContext, u64), Error> {
        let snapshots = snapshots(&self.ledger, self.as_of)?;
        let mut config = SessionConfig::new().with_information_schema(true).with_batch_size(BATCH_ROWS);
        // `1.19` is a decimal, not a float: `gross * 1.19` stays exact.
        config.options_mut().sql_parser.parse_float_as_decimal = true;
        let context = SessionContext::new_with_config_rt(config, Arc::clone(&self.runtime));
        for table in Table::ALL {
            context.register_table(table.name(), Arc::new(LedgerTable::new(&snapshots, table)?))?;
        }
        // Without an accounts file the table is there, empty, so that the
        // report views that join it still plan.
        let accounts = self.accounts.clone().unwrap_or_else(|| RecordBatch::new_empty(accounts_schema()));
        let table = MemTable::try_new(accounts.schema(), vec![vec![accounts]])?;
        context.register_table(ACCOUNTS_TABLE, Arc::new(table))?;
        context.register_table(RISK_TABLE, Arc::new(RiskTable::new(&self.ledger)))?;
        crate::report::register(&context, &snapshots)?;
        Ok((context, snapshots.iter().map(|s| s.sequence()).sum()))
    }
}

/// The latest snapshot (or that as of commit `as_of`) of the ledger in
/// `dir`, or the latest of each member's ledger when `dir` is a shared root.
fn snapshots(dir: &Path, as_of: Option<u64>) -> Result<Vec<Arc<Snapshot>>, Error> {
    if dir.join(MANIFEST_DIR).is_dir() {
        let snapshot = match as_of {
            Some(sequence) => Snapshot::at(dir, sequence)?,
            None => Snapshot::open(dir)?,
        };
        return Ok(vec![Arc::new(snapshot)]);
    }
    let members = ratewire_ledger::members(dir)?;
    if members.is_empty() {
        return Err(Error::NotALedger { path: dir.to_path_buf() });
    }
    if as_of.is_some() {
        return Err(Error::AsOfShared { path: dir.to_path_buf() });
    }
    members.iter().map(|(_, member)| Ok(Arc::new(Snapshot::open(member)?))).collect()
}

/// Plans a statement that passed the read-only rules, and checks the plan
/// against them again.
///
/// # Errors
/// [`Error::Sql`].
pub async fn plan(context: &SessionContext, statement: &Statement) -> Result<LogicalPlan, Error> {
    let plan = context.state().statement_to_plan(statement.0.clone()).await?;
    read_only_options().verify_plan(&plan)?;
    Ok(plan)
}

/// Runs a plan, with the values of its `$n` parameters if it has any.
///
/// # Errors
/// [`Error::Sql`].
pub async fn execute(
    context: &SessionContext,
    plan: LogicalPlan,
    parameters: Option<ParamValues>,
) -> Result<SendableRecordBatchStream, Error> {
    let plan = match parameters {
        Some(values) => plan.replace_params_with_values(&values)?,
        None => plan,
    };
    let frame = context.execute_logical_plan(plan).await?;
    Ok(frame.execute_stream().await?)
}
