//! `ratewire`: the appliance's command line.
//!
//! Wiring only: reading files, calling the domain crates, printing. The
//! business logic lives in `ratewire-rater`.

mod batch;
mod check;

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
    /// Check catalog files.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Rate(args) => batch::run(&args),
        Command::Catalog { command: CatalogCommand::Check { file, accounts } } => {
            check::run(&file, accounts.as_deref())
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
