//! `ratewire close`: close a billing period of a ledger.
//!
//! Takes the ledger's lock (so not while `ratewire run` or `ratewire rate`
//! writes to it), books a close commit recording the period's totals, and
//! prints them. From then on, events of the period are booked in an open
//! one as late adjustments naming it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use ratewire_ledger::{CloseOptions, ClosedPeriod, Error, Ledger, Totals, format_units};
use ratewire_rater::time::Period;

/// Arguments of `ratewire close`.
#[derive(Debug, clap::Args)]
pub struct CloseArgs {
    /// The ledger directory.
    #[arg(long)]
    ledger: PathBuf,
    /// The billing period to close (YYYY-MM). Earlier periods holding rows
    /// must be closed already.
    #[arg(long, value_parser = parse_period)]
    period: Period,
    /// The close's clock (RFC 3339), by default the wall clock: the period
    /// must have ended by then.
    #[arg(long)]
    now: Option<DateTime<Utc>>,
}

pub fn run(args: &CloseArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.ledger;
    if !dir.join(ratewire_ledger::MANIFEST_DIR).is_dir() {
        anyhow::bail!("{} is not a ledger (it has no {}/)", dir.display(), ratewire_ledger::MANIFEST_DIR);
    }
    let (mut ledger, _) = match Ledger::open(dir) {
        Ok(opened) => opened,
        Err(e @ Error::Locked { .. }) => {
            eprintln!("{e}: stop `ratewire run` (or wait for `ratewire rate`) on this ledger, then close");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e).with_context(|| format!("opening the ledger {}", dir.display())),
    };
    let options = CloseOptions { period: args.period, now: args.now.unwrap_or_else(Utc::now) };
    match ledger.close_period(&options) {
        Ok(closed) => {
            print_close(&ledger, &closed);
            Ok(ExitCode::SUCCESS)
        }
        Err(
            e @ (Error::AlreadyClosed { .. }
            | Error::PeriodAfterRows { .. }
            | Error::PeriodNotOver { .. }
            | Error::EarlierPeriodOpen { .. }),
        ) => {
            eprintln!("{}: {e}", dir.display());
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e).with_context(|| format!("closing {} of the ledger {}", args.period, dir.display())),
    }
}

fn print_close(ledger: &Ledger, closed: &ClosedPeriod) {
    let close = &closed.close;
    println!("closed {} of {} in commit {}", close.period, ledger.dir().display(), closed.sequence);
    for (table, totals) in &close.totals {
        println!("  {:<8} {}", table.name(), describe(totals));
    }
    println!("  rated by currency:");
    for (currency, totals) in &close.currencies {
        println!("    {currency:<6} {}", describe(totals));
    }
    for (currency, totals) in &close.late {
        println!("  of which late (earlier periods) {currency:<6} {}", describe(totals));
    }
    println!("events of {} and earlier are now booked in an open period, naming theirs", close.period);
}

/// `rows 3  gross 1.2300000000  net ...`.
fn describe(totals: &Totals) -> String {
    let sums: Vec<String> =
        totals.sums.iter().map(|(name, units)| format!("{name} {}", format_units(*units))).collect();
    format!("rows {:>10}  {}", totals.rows, sums.join("  "))
}

fn parse_period(text: &str) -> Result<Period, String> {
    Period::parse(text).ok_or_else(|| "not a period; expected YYYY-MM".to_string())
}
