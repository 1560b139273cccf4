//! `ratewire rate`: rate a file of JSON-lines events in batch.
//!
//! Rated records go to `--output`, rejects (with the original line, code and
//! message) to `<output>.rejects.jsonl` and threshold actions to
//! `<output>.actions.jsonl` beside it. With `--ledger DIR`, the rated
//! records, their draws, the rejects and the lifecycle facts of each batch
//! of lines are also committed to the Parquet ledger in `DIR`, with the
//! batch's line range.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use ratewire_ingest::Reference;
use ratewire_ledger::{Commit, Ledger, RejectedEvent, SourceRange, WriterConfig};
use ratewire_rater::dedup::{EventIds, duplicate};
use ratewire_rater::{Name, Output, Rater, RaterConfig, Rejected, decode};
use rust_decimal::Decimal;

/// Lines decoded and rated together, and committed together to the ledger;
/// bounds memory whatever the file size.
const BATCH_LINES: usize = 4096;

/// Arguments of `ratewire rate`.
#[derive(Debug, clap::Args)]
pub struct RateArgs {
    /// The catalog (TOML).
    #[arg(long)]
    catalog: PathBuf,
    /// Accounts reference data (CSV or TOML).
    #[arg(long)]
    accounts: PathBuf,
    /// Events, one JSON envelope per line.
    #[arg(long)]
    input: PathBuf,
    /// Rated records, one JSON object per line.
    #[arg(long)]
    output: PathBuf,
    /// The clock events are checked against (RFC 3339). By default the
    /// latest event time read so far, so historical files rate as they were.
    #[arg(long)]
    now: Option<DateTime<Utc>>,
    /// Oldest accepted event, in days before the clock.
    #[arg(long, default_value_t = RaterConfig::default().event_age_max_days)]
    event_age_max_days: u32,
    /// Also commit rated records, draws and rejects to the Parquet ledger in
    /// this directory (created if needed), one commit per batch of lines.
    #[arg(long)]
    ledger: Option<PathBuf>,
    /// Rows per Parquet row group in the ledger's files.
    #[arg(long, default_value_t = WriterConfig::default().row_group_rows)]
    ledger_row_group_rows: usize,
}

/// Counts for the summary.
#[derive(Default)]
struct Summary {
    lines: u64,
    generated: u64,
    /// Records booked in an open period for a closed one.
    late: u64,
    rejected: BTreeMap<String, u64>,
    actions: u64,
    gross_by_service: BTreeMap<(String, String), Decimal>,
}

pub fn run(args: &RateArgs) -> anyhow::Result<ExitCode> {
    let Reference { tables, accounts } = match Reference::load(&args.catalog, &args.accounts) {
        Ok(reference) => reference,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let input = File::open(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    // Opened before the outputs are created, so that a refused run leaves
    // them as they were.
    let mut ledger = match &args.ledger {
        Some(dir) => Some(LedgerSink::open(dir, &args.input, args.ledger_row_group_rows)?),
        None => None,
    };
    // Events of a closed period are booked in an open one; no close can
    // happen while the ledger is open here.
    let closed_through = ledger.as_ref().and_then(|sink| sink.ledger.closed_through());
    let config = RaterConfig { event_age_max_days: args.event_age_max_days, closed_through, ..RaterConfig::default() };
    let mut rater = Rater::new(tables, accounts, config);
    let size = input.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = BufReader::new(input);
    let mut rated_out = writer(&args.output)?;
    let rejects_path = beside(&args.output, "rejects");
    let actions_path = beside(&args.output, "actions");
    let mut rejects_out = writer(&rejects_path)?;
    let mut actions_out = writer(&actions_path)?;

    let progress = ProgressBar::new(size);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut summary = Summary::default();
    let mut ids = EventIds::default();
    let mut clock = args.now;
    let mut line_number = 0u64;
    let mut out = Output::default();
    let mut lines: Vec<Vec<u8>> = Vec::with_capacity(BATCH_LINES);
    loop {
        lines.clear();
        let mut bytes = 0u64;
        for _ in 0..BATCH_LINES {
            // Bytes, not text: a non-UTF-8 line is rejected by the decoder.
            let mut raw = Vec::new();
            let n = reader.read_until(b'\n', &mut raw)?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
            lines.push(raw);
        }
        if lines.is_empty() {
            break;
        }
        let first_line = line_number + 1;
        for line in &lines {
            line_number += 1;
            let text = line.trim_ascii_end();
            if text.is_empty() {
                continue;
            }
            summary.lines += 1;
            let before = out.rejected.len();
            let rated_before = out.rated.len();
            let decoded = decode(text);
            match &decoded {
                Err(reject) => rater.reject_payload(reject.clone(), &mut out),
                Ok(event) if ids.contains(&event.id) => {
                    rater.reject_event(duplicate(&event.id), event, &mut out);
                }
                Ok(event) => {
                    let now = match args.now {
                        Some(now) => now,
                        None => *clock.insert(clock.map_or(event.time, |c| c.max(event.time))),
                    };
                    rater.rate(event, now, &mut out);
                    if out.rejected.len() == before {
                        ids.insert(&event.id);
                    }
                }
            }
            for r in &out.rejected[before..] {
                *summary.rejected.entry(format!("{} {}", r.reject.code.number(), r.reject.code.name())).or_default() +=
                    1;
                let mut value = serde_json::to_value(r)?;
                value["line"] = serde_json::json!(line_number);
                value["payload"] = serde_json::Value::String(String::from_utf8_lossy(text).into_owned());
                writeln!(rejects_out, "{value}")?;
                if let Some(sink) = &mut ledger {
                    let event_time = decoded.as_ref().ok().map(|e| e.time);
                    sink.reject(r, event_time, text, line_number);
                }
            }
            for rec in &out.rated[rated_before..] {
                *summary.gross_by_service.entry((rec.service.to_string(), rec.currency.to_string())).or_default() +=
                    rec.gross;
                serde_json::to_writer(&mut rated_out, rec)?;
                rated_out.write_all(b"\n")?;
            }
            summary.generated += (out.rated.len() - rated_before) as u64;
            summary.late += out.rated[rated_before..].iter().filter(|r| r.original_period.is_some()).count() as u64;
        }
        for a in &out.actions {
            serde_json::to_writer(&mut actions_out, a)?;
            actions_out.write_all(b"\n")?;
        }
        summary.actions += out.actions.len() as u64;
        if let Some(sink) = &mut ledger {
            sink.commit(&out, first_line, line_number + 1)?;
        }
        out.clear();
        progress.inc(bytes);
    }
    progress.finish_and_clear();
    rated_out.flush()?;
    rejects_out.flush()?;
    actions_out.flush()?;
    print_summary(&summary, args, &rejects_path, &actions_path);
    if let Some(sink) = &ledger {
        let (dir, first, last) = (sink.ledger.dir().display(), sink.first_commit, sink.ledger.sequence());
        if last >= first {
            println!("ledger        -> {dir} (commits {first}..={last})");
        } else {
            println!("ledger        -> {dir} (nothing to commit)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The ledger a run commits to, and the rejects of the batch being rated.
struct LedgerSink {
    ledger: Ledger,
    /// The input file's name: the source of the offsets (line numbers).
    source: Name,
    rejects: Vec<RejectedEvent>,
    first_commit: u64,
}

impl LedgerSink {
    fn open(dir: &Path, input: &Path, row_group_rows: usize) -> anyhow::Result<Self> {
        let config = WriterConfig { row_group_rows, ..WriterConfig::default() };
        let (ledger, recovery) =
            Ledger::open_with(dir, &config).with_context(|| format!("opening the ledger {}", dir.display()))?;
        let source = input.file_name().map_or_else(|| Name::new("input"), |n| Name::new(&n.to_string_lossy()));
        if let Some(done) = recovery.offsets.iter().find(|o| *o.source == *source) {
            // Balances are not checkpointed yet, so a run cannot resume in
            // the middle of a file; rating it again would book it twice.
            anyhow::bail!(
                "the ledger {} already holds lines {} to {} of {source}; rate it into a new ledger",
                dir.display(),
                done.from,
                done.to - 1
            );
        }
        let first_commit = ledger.sequence() + 1;
        Ok(Self { ledger, source, rejects: Vec::new(), first_commit })
    }

    fn reject(&mut self, rejected: &Rejected, event_time: Option<DateTime<Utc>>, payload: &[u8], line: u64) {
        self.rejects.push(RejectedEvent {
            rejected: rejected.clone(),
            event_time,
            payload: payload.to_vec(),
            source: self.source,
            partition: 0,
            offset: i64::try_from(line).unwrap_or(i64::MAX),
        });
    }

    /// Commits the batch of lines `from..to` (line numbers, from 1).
    fn commit(&mut self, out: &Output, from: u64, to: u64) -> anyhow::Result<()> {
        let range = SourceRange {
            source: self.source.to_string(),
            partition: 0,
            from: i64::try_from(from)?,
            to: i64::try_from(to)?,
        };
        let commit = Commit {
            rated: std::slice::from_ref(&out.rated),
            rejected: &self.rejects,
            facts: &out.facts,
            offsets: &[range],
            checkpoint: &[],
            booked_at: Utc::now(),
        };
        let dir = self.ledger.dir().to_path_buf();
        self.ledger.commit(&commit).with_context(|| format!("committing to the ledger {}", dir.display()))?;
        self.rejects.clear();
        Ok(())
    }
}

fn print_summary(s: &Summary, args: &RateArgs, rejects: &Path, actions: &Path) {
    let rejected: u64 = s.rejected.values().sum();
    println!("events read      {:>10}", s.lines);
    println!("events rated     {:>10}", s.lines - rejected);
    println!("events rejected  {rejected:>10}");
    for (code, n) in &s.rejected {
        println!("  {code:<28}{n:>8}");
    }
    println!("records written  {:>10}  (usage, fees, grants, payments, ...)", s.generated);
    if s.late > 0 {
        println!("late records     {:>10}  (for closed periods, booked in open ones)", s.late);
    }
    println!("actions          {:>10}", s.actions);
    println!("gross by service:");
    for ((service, currency), gross) in &s.gross_by_service {
        println!("  {service:<28}{gross:>14} {currency}");
    }
    println!("rated records -> {}", args.output.display());
    println!("rejects       -> {}", rejects.display());
    println!("actions       -> {}", actions.display());
}

fn writer(path: &Path) -> anyhow::Result<BufWriter<File>> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(BufWriter::new(file))
}

/// `rated.jsonl` -> `rated.<what>.jsonl`.
fn beside(output: &Path, what: &str) -> PathBuf {
    let stem = output.file_stem().map_or_else(|| "rated".into(), |s| s.to_string_lossy().to_string());
    output.with_file_name(format!("{stem}.{what}.jsonl"))
}
