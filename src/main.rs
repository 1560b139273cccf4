//! `ratewire`: the appliance's command line.
//!
//! Wiring only: reading files, calling the domain crates, printing. The
//! business logic lives in `ratewire-rater`.

mod batch;
mod check;
mod churn;
mod close;
mod compact;
mod config_check;
mod demo;
mod error_text;
mod http;
mod mirror;
mod report;
mod rerate;
mod run;
mod sql;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A streaming rating appliance: exact decimal rating of usage events
/// against in-memory tariff tables.
#[derive(Debug, Parser)]
#[command(name = "ratewire", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Rate a file of JSON-lines events in batch.
    Rate(batch::RateArgs),
    /// Run the streaming pipeline: Kafka in, rated records to the ledger,
    /// rejects to the dead-letter topic, until SIGTERM.
    Run(run::RunArgs),
    /// The whole loop on one machine: a local broker, generated events,
    /// the pipeline until caught up, a summary.
    Demo(demo::DemoArgs),
    /// Check catalog files.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Merge the small files of a ledger's partitions into one each.
    Compact(compact::CompactArgs),
    /// Close a billing period of a ledger, recording its totals; later
    /// events of it are booked in an open period as adjustments.
    Close(close::CloseArgs),
    /// Rate a billing period of a ledger again with a corrected catalog,
    /// balances recomputed in event-time order, as a new version of the
    /// period; writes the per-account difference report.
    Rerate(rerate::RerateArgs),
    /// Run SQL over the ledger (and the accounts): one query, or a prompt.
    Sql(sql::SqlArgs),
    /// Serve the ledger read-only over the Postgres wire protocol (psql,
    /// BI tools), with password authentication.
    ServeSql(sql::ServeSqlArgs),
    /// Finance reports over the ledger: invoices, revenue, receivables,
    /// reconciliation.
    Report(report::ReportArgs),
    /// Churn risk: features from the ledger, models, the ranked risk list
    /// and the model report.
    Churn {
        #[command(subcommand)]
        command: churn::ChurnCommand,
    },
    /// Mirror a ledger to object storage (S3, an S3-compatible server, a
    /// directory) and back: push, pull.
    Ledger {
        #[command(subcommand)]
        command: store::LedgerCommand,
    },
    /// Check the configuration of `ratewire run`.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
enum CatalogCommand {
    /// Check a catalog (and optionally accounts against it); every problem
    /// is printed as file:line:col: message.
    Check {
        /// The catalog file (TOML).
        file: PathBuf,
        /// Accounts reference data (CSV or TOML) to check against the catalog.
        #[arg(long)]
        accounts: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check a configuration file (with the environment's overrides) and the
    /// catalog and accounts it names; print the effective configuration, or
    /// every problem as file:line:col: message.
    Check {
        /// The configuration file (TOML).
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().filter_or("RATEWIRE_LOG", "info")).init();
    let result = match cli.command {
        Command::Rate(args) => batch::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Compact(args) => compact::run(&args),
        Command::Close(args) => close::run(&args),
        Command::Rerate(args) => rerate::run(&args),
        Command::Sql(args) => sql::run(&args),
        Command::ServeSql(args) => sql::serve_sql(&args),
        Command::Report(args) => report::run(&args),
        Command::Churn { command } => churn::run(&command),
        Command::Ledger { command } => store::run(&command),
        Command::Catalog { command: CatalogCommand::Check { file, accounts } } => {
            check::run(&file, accounts.as_deref())
        }
        Command::Config { command: ConfigCommand::Check { file } } => config_check::run(&file),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_text::error_text(e.as_ref()));
            ExitCode::from(2)
        }
    }
}
