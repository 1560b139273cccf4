//! `ratewire report`: the finance reports over the ledger, as tables, CSV,
//! JSON lines, Parquet and HTML invoices (`docs/reports.md`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use clap::builder::PossibleValuesParser;
use ratewire_analytics::{Engine, Format, InvoiceHtml, Source, checked_period, parse, receivables_sql, write};

/// `ratewire report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    report: Report,
}

#[derive(Debug, clap::Subcommand)]
enum Report {
    /// Invoices per account and period (or their lines with --lines), and
    /// readable HTML invoices with --html.
    Invoices {
        #[command(flatten)]
        common: Common,
        /// One row per invoice line (service, plan) instead of per invoice.
        #[arg(long)]
        lines: bool,
        /// Also write one HTML invoice per account into this directory
        /// (created if missing).
        #[arg(long)]
        html: Option<PathBuf>,
    },
    /// Revenue by period, day, service, plan, partner, region and currency.
    Revenue {
        #[command(flatten)]
        common: Common,
    },
    /// Charges against payments per account, open amounts by age.
    Receivables {
        #[command(flatten)]
        common: Common,
        /// The date the ages are counted to (YYYY-MM-DD); the last day with
        /// data by default.
        #[arg(long)]
        as_of: Option<NaiveDate>,
    },
    /// Checks that events, ledger totals and invoices agree; lists every
    /// mismatch and exits 1 if there is one.
    Reconcile {
        #[command(flatten)]
        common: Common,
    },
}

/// What every report takes.
#[derive(Debug, clap::Args)]
struct Common {
    /// The ledger directory.
    #[arg(long)]
    ledger: PathBuf,
    /// Accounts reference data (CSV or TOML), for the region of `revenue`.
    #[arg(long)]
    accounts: Option<PathBuf>,
    /// Only this billing period (YYYY-MM).
    #[arg(long, value_parser = period)]
    period: Option<String>,
    /// How to write the report.
    #[arg(long, default_value = "table", value_parser = PossibleValuesParser::new(Format::ALL.map(Format::name)))]
    format: String,
    /// Write the report to this file instead of standard output (needed for
    /// parquet).
    #[arg(long)]
    output: Option<PathBuf>,
}

fn period(text: &str) -> Result<String, String> {
    checked_period(text).map(str::to_string).map_err(|e| e.to_string())
}

/// Runs `ratewire report`.
pub fn run(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    match &args.report {
        Report::Invoices { common, lines, html } => {
            let view = if *lines { "invoice_lines" } else { "invoices" };
            let order =
                if *lines { "account, period, currency, kind, service, plan" } else { "account, period, currency" };
            let engine = common.engine()?;
            let sql = format!("select * from {view}{} order by {order}", common.period_filter("where"));
            common.report(&engine, &sql)?;
            if let Some(dir) = html {
                write_html(&engine, dir, common.period.as_deref())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Report::Revenue { common } => {
            let sql = format!(
                "select * from revenue{} order by period, day, service, plan, partner, region, currency",
                common.period_filter("where")
            );
            common.report(&common.engine()?, &sql)?;
            Ok(ExitCode::SUCCESS)
        }
        Report::Receivables { common, as_of } => {
            if common.period.is_some() {
                bail!("receivables cover every period up to --as-of; --period does not apply");
            }
            let sql = format!("{} order by account, currency", receivables_sql(*as_of));
            common.report(&common.engine()?, &sql)?;
            Ok(ExitCode::SUCCESS)
        }
        Report::Reconcile { common } => reconcile(common),
    }
}

impl Common {
    fn engine(&self) -> anyhow::Result<Engine> {
        let source = Source::open(&self.ledger, self.accounts.as_deref()).map_err(flat)?;
        Engine::new(source).map_err(flat)
    }

    fn format(&self) -> anyhow::Result<Format> {
        let format: Format = self.format.parse().map_err(anyhow::Error::msg)?;
        if format == Format::Parquet && self.output.is_none() {
            bail!("the parquet format needs --output FILE");
        }
        Ok(format)
    }

    /// ` <keyword> period = '...'`, or nothing without --period.
    fn period_filter(&self, keyword: &str) -> String {
        // Checked as YYYY-MM when parsed: nothing to quote.
        self.period.as_ref().map(|p| format!(" {keyword} period = '{p}'")).unwrap_or_default()
    }

    /// Runs `sql` and writes its result where and how asked.
    fn report(&self, engine: &Engine, sql: &str) -> anyhow::Result<()> {
        let format = self.format()?;
        match &self.output {
            Some(path) => {
                let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
                let result = query_into(engine, sql, format, &mut BufWriter::new(file));
                if result.is_err() {
                    // Best effort: the error that matters is the query's.
                    let _ = std::fs::remove_file(path);
                }
                result
            }
            None => query_into(engine, sql, format, &mut BufWriter::new(std::io::stdout())),
        }
    }
}

fn query_into(engine: &Engine, sql: &str, format: Format, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let statements = parse(sql).map_err(flat)?;
    for statement in &statements {
        let rows = engine.query(statement).map_err(flat)?;
        write(format, &rows.schema(), rows, out).map_err(flat)?;
    }
    out.flush()?;
    Ok(())
}

/// Writes one HTML invoice per account, period and currency into `dir`.
fn write_html(engine: &Engine, dir: &Path, period: Option<&str>) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let sql = InvoiceHtml::query(period).map_err(flat)?;
    let mut html = InvoiceHtml::new(dir);
    for statement in &parse(&sql).map_err(flat)? {
        for batch in engine.query(statement).map_err(flat)? {
            html.push(&batch.map_err(flat)?).map_err(flat)?;
        }
    }
    let written = html.finish().map_err(flat)?;
    eprintln!("{} HTML invoices -> {}", written.len(), dir.display());
    Ok(())
}

/// `ratewire report reconcile`: the counts first; the mismatches, if any,
/// listed in the chosen format; exit 1 when there is one.
fn reconcile(common: &Common) -> anyhow::Result<ExitCode> {
    if common.period.is_some() {
        bail!("reconcile checks the whole ledger; --period does not apply");
    }
    let engine = common.engine()?;
    let counts = "select cast(count(*) as varchar) || ' checks, ' || cast(count(*) filter (where not ok) as varchar) \
        || ' failed' as summary, count(*) filter (where not ok) as failed from reconcile";
    let mut summary = Vec::new();
    query_into(&engine, counts, Format::Csv, &mut summary)?;
    let summary = String::from_utf8_lossy(&summary);
    // `summary,failed` then one row: `N checks, M failed,M`.
    let row = summary.lines().nth(1).unwrap_or_default();
    let (text, failed) = row.rsplit_once(',').unwrap_or((row, "0"));
    eprintln!("reconcile: {}", text.trim_matches('"'));
    if failed.trim() == "0" {
        return Ok(ExitCode::SUCCESS);
    }
    let mismatches = "select check_name, subject, expected, actual, difference, tolerance \
        from reconcile where not ok order by check_order, subject";
    common.report(&engine, mismatches)?;
    Ok(ExitCode::FAILURE)
}

/// An analytics error as its message alone.
fn flat(error: ratewire_analytics::Error) -> anyhow::Error {
    anyhow::anyhow!("{error}")
}
