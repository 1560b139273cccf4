//! `ratewire rate`: rate a file of JSON-lines events in batch.
//!
//! Rated records go to `--output`, rejects (with the original line, code and
//! message) to `<output>.rejects.jsonl` and threshold actions to
//! `<output>.actions.jsonl` beside it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use ratewire_rater::dedup::{EventIds, duplicate};
use ratewire_rater::{Accounts, Output, Rater, RaterConfig, catalog, decode};
use rust_decimal::Decimal;

/// Lines decoded and rated together; bounds memory whatever the file size.
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
}

/// Counts for the summary.
#[derive(Default)]
struct Summary {
    lines: u64,
    generated: u64,
    rejected: BTreeMap<String, u64>,
    actions: u64,
    gross_by_service: BTreeMap<(String, String), Decimal>,
}

pub fn run(args: &RateArgs) -> anyhow::Result<ExitCode> {
    let tables = match catalog::load(&args.catalog) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let accounts = match Accounts::load(&args.accounts).and_then(|a| a.check(&tables).map(|()| a)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let config = RaterConfig { event_age_max_days: args.event_age_max_days, ..RaterConfig::default() };
    let mut rater = Rater::new(Arc::new(tables), Arc::new(accounts), config);

    let input = File::open(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
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
        for line in &lines {
            line_number += 1;
            let text = line.trim_ascii_end();
            if text.is_empty() {
                continue;
            }
            summary.lines += 1;
            let before = out.rejected.len();
            let rated_before = out.rated.len();
            match decode(text) {
                Err(reject) => rater.reject_payload(reject, &mut out),
                Ok(event) if ids.contains(&event.id) => {
                    rater.reject_payload(duplicate(&event.id), &mut out);
                    if let Some(r) = out.rejected.last_mut() {
                        r.event_id = Some(event.id.clone());
                        r.account = Some(event.account.clone());
                    }
                }
                Ok(event) => {
                    let now = match args.now {
                        Some(now) => now,
                        None => *clock.insert(clock.map_or(event.time, |c| c.max(event.time))),
                    };
                    rater.rate(&event, now, &mut out);
                    if out.rejected.len() == before {
                        ids.insert(&event.id);
                    }
                }
            }
            for r in &out.rejected[before..] {
                *summary.rejected.entry(format!("{} {}", r.reject.code.number(), r.reject.code.name())).or_default() += 1;
                let mut value = serde_json::to_value(r)?;
                value["line"] = serde_json::json!(line_number);
                value["payload"] = serde_json::Value::String(String::from_utf8_lossy(text).into_owned());
                writeln!(rejects_out, "{value}")?;
            }
            for rec in &out.rated[rated_before..] {
                *summary.gross_by_service.entry((rec.service.to_string(), rec.currency.to_string())).or_default() += rec.gross;
                serde_json::to_writer(&mut rated_out, rec)?;
                rated_out.write_all(b"\n")?;
            }
            summary.generated += (out.rated.len() - rated_before) as u64;
        }
        for a in &out.actions {
            serde_json::to_writer(&mut actions_out, a)?;
            actions_out.write_all(b"\n")?;
        }
        summary.actions += out.actions.len() as u64;
        out.clear();
        progress.inc(bytes);
    }
    progress.finish_and_clear();
    rated_out.flush()?;
    rejects_out.flush()?;
    actions_out.flush()?;
    print_summary(&summary, args, &rejects_path, &actions_path);
    Ok(ExitCode::SUCCESS)
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
