//! `ratewire rerate`: price a billing period of a ledger again with a
//! corrected catalog, as a new version of the period, and write the
//! per-account difference report.
//!
//! Takes the ledger's lock (so not while `ratewire run` or `ratewire rate`
//! writes to it). The version before stays readable:
//! `ratewire sql --as-of <commit - 1>`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use ratewire_ingest::Reference;
use ratewire_ledger::{AccountDifference, Error, Ledger, RerateOptions, RerateReport, Step};
use ratewire_rater::time::Period;
use rust_decimal::Decimal;

/// Arguments of `ratewire rerate`.
#[derive(Debug, clap::Args)]
pub struct RerateArgs {
    /// The ledger directory.
    #[arg(long)]
    ledger: PathBuf,
    /// The billing period to rerate (YYYY-MM): over, and not closed.
    #[arg(long, value_parser = parse_period)]
    period: Period,
    /// The corrected catalog (TOML).
    #[arg(long)]
    catalog: PathBuf,
    /// Accounts reference data (CSV or TOML): the plans, time zones and
    /// opening balances replaying starts from.
    #[arg(long)]
    accounts: PathBuf,
    /// Rerate only these accounts (repeat the option, or separate ids with
    /// commas); by default every account with rows in the period.
    #[arg(long = "account", value_delimiter = ',')]
    only: Vec<String>,
    /// Where to write the per-account difference report (CSV).
    #[arg(long)]
    report: Option<PathBuf>,
    /// The rerate's clock (RFC 3339), by default the wall clock: the period
    /// must have ended by then.
    #[arg(long)]
    now: Option<DateTime<Utc>>,
}

pub fn run(args: &RerateArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.ledger;
    if !dir.join(ratewire_ledger::MANIFEST_DIR).is_dir() {
        anyhow::bail!("{} is not a ledger (it has no {}/)", dir.display(), ratewire_ledger::MANIFEST_DIR);
    }
    let Reference { tables, accounts } = match Reference::load(&args.catalog, &args.accounts) {
        Ok(reference) => reference,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let (mut ledger, _) = match Ledger::open(dir) {
        Ok(opened) => opened,
        Err(e @ Error::Locked { .. }) => {
            eprintln!("{e}: stop `ratewire run` (or wait for `ratewire rate`) on this ledger, then rerate");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e).with_context(|| format!("opening the ledger {}", dir.display())),
    };
    let options = RerateOptions {
        period: args.period,
        tables,
        accounts,
        only: (!args.only.is_empty()).then(|| args.only.iter().cloned().collect::<BTreeSet<_>>()),
        now: args.now.unwrap_or_else(Utc::now),
    };
    let progress = ProgressBar::new_spinner().with_message(format!("rerating {}: reading and rating", args.period));
    progress.enable_steady_tick(Duration::from_millis(120));
    let mut written = 0;
    let result = ledger.rerate_with(&options, &mut |step| {
        if let Step::FileWritten(_) = step {
            written += 1;
            progress.set_message(format!("rerating {}: {written} files written", args.period));
        }
        std::ops::ControlFlow::Continue(())
    });
    progress.finish_and_clear();
    let report = match result {
        Ok(report) => report,
        Err(
            e @ (Error::RerateClosed { .. }
            | Error::RerateNotOver { .. }
            | Error::NothingToRerate { .. }
            | Error::CannotRerate { .. }
            | Error::RerateRejected { .. }),
        ) => {
            eprintln!("{}: {e}", dir.display());
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e).with_context(|| format!("rerating {} of the ledger {}", args.period, dir.display())),
    };
    let path = args.report.clone().unwrap_or_else(|| PathBuf::from(format!("rerate-{}.csv", args.period)));
    write_report(&path, &report.accounts).with_context(|| format!("writing {}", path.display()))?;
    print_summary(&ledger, &report, &path);
    Ok(ExitCode::SUCCESS)
}

/// The per-account report: both versions' sums and their differences.
fn write_report(path: &std::path::Path, accounts: &[AccountDifference]) -> std::io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    writeln!(
        out,
        "account,currency,rows_before,rows_after,records_changed,allowance_before,allowance_after,\
         net_before,net_after,net_difference,tax_before,tax_after,tax_difference,\
         gross_before,gross_after,gross_difference"
    )?;
    for a in accounts {
        let (b, n) = (&a.before, &a.after);
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&a.account),
            a.currency,
            b.rows,
            n.rows,
            a.records_changed,
            plain(b.allowance_quantity),
            plain(n.allowance_quantity),
            plain(b.net),
            plain(n.net),
            plain(n.net - b.net),
            plain(b.tax),
            plain(n.tax),
            plain(n.tax - b.tax),
            plain(b.gross),
            plain(n.gross),
            plain(n.gross - b.gross),
        )?;
    }
    out.flush()
}

fn print_summary(ledger: &Ledger, report: &RerateReport, path: &std::path::Path) {
    let record = &report.record;
    println!(
        "rerated {} of {} with catalog {} in commit {} (the version before: --as-of {})",
        record.period,
        ledger.dir().display(),
        record.catalog_version,
        report.sequence,
        report.sequence - 1
    );
    let changed = report.accounts.iter().filter(|a| a.changed()).count();
    println!("  accounts {}  events {}  accounts changed {changed}", record.accounts, record.events);
    let mut by_currency: BTreeMap<&str, (Decimal, Decimal)> = BTreeMap::new();
    for a in &report.accounts {
        let sums = by_currency.entry(a.currency.as_str()).or_default();
        sums.0 += a.before.gross;
        sums.1 += a.after.gross;
    }
    for (currency, (before, after)) in by_currency {
        println!(
            "  gross {currency}  before {}  after {}  difference {}",
            plain(before),
            plain(after),
            plain(after - before)
        );
    }
    if report.earlier_rejected > 0 {
        println!(
            "  note: the new catalog rejects {} event(s) of earlier periods; the balances they carried in differ",
            report.earlier_rejected
        );
    }
    if !report.later_periods.is_empty() {
        let later: Vec<String> = report.later_periods.iter().map(ToString::to_string).collect();
        println!(
            "  note: {} hold rows of these accounts, rated with the balances the previous version carried in; rerate them next, in order",
            later.join(", ")
        );
    }
    println!("  per-account differences: {}", path.display());
}

/// A decimal without trailing zeros (`0.3000000000` is `0.3`).
fn plain(value: Decimal) -> String {
    value.normalize().to_string()
}

/// A CSV field, quoted if it needs to be.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

fn parse_period(text: &str) -> Result<Period, String> {
    Period::parse(text).ok_or_else(|| "not a period; expected YYYY-MM".to_string())
}
