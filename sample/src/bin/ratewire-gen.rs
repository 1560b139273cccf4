//! `ratewire-gen`: writes a realistic catalog, accounts and events into a
//! directory, for demos and load tests.
//!
//! ```text
//! ratewire-gen --out demo --accounts 1000 --events 100000 --bad-percent 1 --duplicate-percent 1
//! ```

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Parser;
use ratewire_sample::{History, HistoryConfig, Mix, Month, World, accounts, catalog, events, parse_percent};

/// Writes catalog.toml, accounts.csv and events.jsonl for a generated
/// operator: about 200 destination zones with over 5,000 prefixes, seven
/// plans, and usage in time order within one month. The same seed and sizes
/// give the same files.
#[derive(Debug, Parser)]
#[command(name = "ratewire-gen", version, about)]
struct Args {
    /// Directory to write into (created if missing; files are replaced).
    #[arg(long)]
    out: PathBuf,
    /// Number of accounts.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=50_000_000))]
    accounts: u32,
    /// Number of event lines.
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The month the events fall in (YYYY-MM).
    #[arg(long, default_value = "2026-11", value_parser = Month::parse)]
    month: Month,
    /// Percent of lines that are lifecycle and money events (top-ups,
    /// payments, adjustments, support contacts, plan changes, suspensions,
    /// blocks, cancellations, activations).
    #[arg(long, default_value = "0", value_parser = parse_percent, value_name = "PERCENT")]
    lifecycle_percent: u32,
    /// Percent of lines that are malformed or invalid (broken JSON, wrong
    /// version, negative or fractional quantity, unknown account, ...).
    #[arg(long, default_value = "0", value_parser = parse_percent, value_name = "PERCENT")]
    bad_percent: u32,
    /// Percent of lines that resend an earlier event (same id).
    #[arg(long, default_value = "0", value_parser = parse_percent, value_name = "PERCENT")]
    duplicate_percent: u32,
    /// Instead of one month of usage, a history of this many months from
    /// --month with churners (for the churn models); --events and the
    /// percentages are then not used.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=24))]
    history_months: u32,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mix = Mix { lifecycle: args.lifecycle_percent, bad: args.bad_percent, duplicate: args.duplicate_percent };
    if u64::from(mix.lifecycle) + u64::from(mix.bad) + u64::from(mix.duplicate) > 1_000_000 {
        bail!("--lifecycle-percent, --bad-percent and --duplicate-percent add up to more than 100");
    }
    let count = usize::try_from(args.events).context("--events is too large for this machine")?;
    fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;

    let world = World::new(args.seed, args.accounts as usize, args.month);
    let catalog_path = args.out.join("catalog.toml");
    fs::write(&catalog_path, catalog::render(&world)).with_context(|| format!("writing {}", catalog_path.display()))?;
    let accounts_path = args.out.join("accounts.csv");
    fs::write(&accounts_path, accounts::render(&world))
        .with_context(|| format!("writing {}", accounts_path.display()))?;
    let events_path = args.out.join("events.jsonl");
    if args.history_months > 0 {
        let config = HistoryConfig {
            seed: args.seed,
            accounts: args.accounts as usize,
            first: args.month,
            months: args.history_months,
            ..HistoryConfig::default()
        };
        let history = History::generate(&config);
        let mut text = history.events.join("\n");
        text.push('\n');
        fs::write(&events_path, text).with_context(|| format!("writing {}", events_path.display()))?;
        println!(
            "{}: {} lines over {} months from {}, {} accounts cancel",
            events_path.display(),
            history.events.len(),
            args.history_months,
            args.month,
            history.cancelled.len()
        );
        return Ok(());
    }
    let file = File::create(&events_path).with_context(|| format!("writing {}", events_path.display()))?;
    let stats = events::write(&world, count, mix, BufWriter::with_capacity(1 << 20, file))
        .with_context(|| format!("writing {}", events_path.display()))?;

    println!(
        "{}: {} zones, {} prefixes, {} large accounts with overrides",
        catalog_path.display(),
        world.zones.len(),
        world.prefix_count(),
        world.large.len()
    );
    println!("{}: {} accounts", accounts_path.display(), world.accounts.len());
    println!(
        "{}: {} lines in {} ({} usage, {} lifecycle and money, {} malformed or invalid, {} resent)",
        events_path.display(),
        stats.lines(),
        world.month,
        stats.usage,
        stats.lifecycle,
        stats.bad,
        stats.duplicate
    );
    Ok(())
}
