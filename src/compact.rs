//! `ratewire compact`: merge the small files of a ledger's partitions.
//!
//! Takes the ledger's lock (so not while `ratewire rate` writes to it),
//! merges every partition with at least `--min-files` committed files into
//! one file (or a few, for very large partitions) in a compaction commit,
//! moves the old files to `_trash/` and deletes trash older than
//! `--trash-grace-minutes`. Prints what it merged.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};
use ratewire_ledger::{
    CompactOptions, CompactionReport, Ledger, PartitionReport, Step, TRASH_DIR, TRASH_GRACE_MINUTES_DEFAULT, Table,
};
use ratewire_rater::time::Period;

/// Output files from which a progress bar is shown: below that, the run
/// takes no time worth watching.
const PROGRESS_FILES_MIN: u64 = 16;

/// Arguments of `ratewire compact`.
#[derive(Debug, clap::Args)]
pub struct CompactArgs {
    /// The ledger directory.
    #[arg(long)]
    ledger: PathBuf,
    /// Only this table's partitions: rated, draws, rejects, ...
    #[arg(long, value_parser = parse_table)]
    table: Option<Table>,
    /// Only this billing period's partitions (YYYY-MM).
    #[arg(long, value_parser = parse_period)]
    period: Option<Period>,
    /// Merge partitions with at least this many files (2 or more).
    #[arg(long, default_value_t = 2)]
    min_files: usize,
    /// Keep the files merged away in `_trash/` this long, for readers that
    /// listed them before; older trash is deleted.
    #[arg(long, default_value_t = TRASH_GRACE_MINUTES_DEFAULT)]
    trash_grace_minutes: u64,
}

pub fn run(args: &CompactArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.ledger;
    if !dir.join(ratewire_ledger::MANIFEST_DIR).is_dir() {
        anyhow::bail!("{} is not a ledger (it has no {}/)", dir.display(), ratewire_ledger::MANIFEST_DIR);
    }
    let (mut ledger, _) = Ledger::open(dir).with_context(|| format!("opening the ledger {}", dir.display()))?;
    let options = CompactOptions {
        table: args.table,
        period: args.period,
        min_files: args.min_files,
        trash_grace_minutes: args.trash_grace_minutes,
        now: Utc::now(),
        ..CompactOptions::default()
    };
    let plan = ledger.compaction_plan(&options)?;
    let outputs: u64 = plan.iter().map(|p| p.merges.len() as u64).sum();
    let progress = if outputs >= PROGRESS_FILES_MIN { ProgressBar::new(outputs) } else { ProgressBar::hidden() };
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files merged, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut hook = |step| {
        if matches!(step, Step::FileWritten(_)) {
            progress.inc(1);
        }
        ControlFlow::Continue(())
    };
    let report =
        ledger.compact_with(&options, &mut hook).with_context(|| format!("compacting the ledger {}", dir.display()))?;
    progress.finish_and_clear();
    print_report(&ledger, &report, &options);
    Ok(ExitCode::SUCCESS)
}

fn print_report(ledger: &Ledger, report: &CompactionReport, options: &CompactOptions) {
    let dir = ledger.dir().display();
    match (report.sequences.first(), report.sequences.last()) {
        (Some(first), Some(last)) => {
            let commits = if first == last { format!("commit {first}") } else { format!("commits {first}..={last}") };
            println!("compacted {} partitions of {dir} in {commits}", report.partitions.len());
        }
        _ => println!("nothing to compact in {dir}: no partition has {} files or more to merge", options.min_files),
    }
    for p in &report.partitions {
        println!(
            "  {:<48} files {:>6} -> {:<4} rows {:>10}  bytes {:>12} -> {}",
            p.partition.dir().display(),
            p.files_before,
            p.files_after,
            p.rows,
            p.bytes_before,
            p.bytes_after
        );
    }
    if !report.partitions.is_empty() {
        let sum = |field: fn(&PartitionReport) -> u64| report.partitions.iter().map(field).sum::<u64>();
        println!(
            "total: files {} -> {}, rows {}, bytes {} -> {}",
            sum(|p| p.files_before as u64),
            sum(|p| p.files_after as u64),
            sum(|p| p.rows),
            sum(|p| p.bytes_before),
            sum(|p| p.bytes_after)
        );
        println!("merged-away files are kept in {dir}/{TRASH_DIR}/ for {} minutes", options.trash_grace_minutes);
    }
    for purged in &report.trash_purged {
        println!("trash deleted: {}", purged.display());
    }
}

fn parse_table(text: &str) -> Result<Table, String> {
    Table::from_name(text).ok_or_else(|| {
        let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
        format!("not a table; one of {}", names.join(", "))
    })
}

fn parse_period(text: &str) -> Result<Period, String> {
    Period::parse(text).ok_or_else(|| "not a period; expected YYYY-MM".to_string())
}
