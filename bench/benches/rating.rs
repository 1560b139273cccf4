//! Rating throughput on a realistic catalog (about 200 zones, over 5,000
//! prefixes, seven plans, overrides for the large accounts) and 100,000
//! accounts, with usage events across every service.
//!
//! - `rating/rate_core`: pre-decoded events rated as a batch;
//! - `rating/decode_and_rate`: JSON bytes decoded a batch of 4,096 at a
//!   time, then rated, as a rate worker of the pipeline does;
//! - `rating/decode_only`: JSON bytes decoded, for comparison.
//!
//! The rater keeps state (balances, period counters, devices seen), so one
//! warm rater rates the same batch again and again, with a clock just after
//! the month so that every event stays in the accepted window. Each
//! iteration also drops the previous iteration's records (`Output::clear`),
//! as a pipeline that writes them out would.
//!
//! Sizes: `RATEWIRE_BENCH_ACCOUNTS` (default 100,000) and
//! `RATEWIRE_BENCH_EVENTS` (default 100,000); the seed is 7.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use ratewire_rater::{Accounts, Event, Output, Rater, RaterConfig, catalog, decode};
use ratewire_sample::{Config, Dataset};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Events a rate worker decodes before rating them: the pipeline's
/// `batch_messages_max` default.
const BATCH_EVENTS: usize = 4096;

fn size(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

struct Setup {
    lines: Vec<Vec<u8>>,
    events: Vec<Event>,
    tables: Arc<ratewire_rater::Tables>,
    accounts: Arc<Accounts>,
    now: DateTime<Utc>,
}

fn setup() -> Setup {
    let config = Config {
        accounts: size("RATEWIRE_BENCH_ACCOUNTS", 100_000),
        events: size("RATEWIRE_BENCH_EVENTS", 100_000),
        ..Config::default()
    };
    let started = Instant::now();
    let data = Dataset::generate(&config);
    let generated = started.elapsed();
    let started = Instant::now();
    let tables =
        catalog::parse(&data.catalog, "catalog.toml").unwrap_or_else(|e| panic!("generated catalog refused: {e}"));
    let compiled = started.elapsed();
    let accounts = Accounts::parse_csv(&data.accounts, "accounts.csv")
        .unwrap_or_else(|e| panic!("generated accounts refused: {e}"));
    accounts.check(&tables).unwrap_or_else(|e| panic!("generated accounts do not fit the catalog: {e}"));
    let lines: Vec<Vec<u8>> = data.events.iter().map(|l| l.clone().into_bytes()).collect();
    let events: Vec<Event> =
        lines.iter().map(|l| decode(l).unwrap_or_else(|r| panic!("generated event refused: {r}"))).collect();
    let now = data.world.month.next_first_day().and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    eprintln!(
        "setup: {} zones, {} prefixes, catalog {} KiB compiled in {compiled:.1?}; {} accounts; {} events ({} bytes each on average); generated in {generated:.1?}",
        tables.zones.len(),
        data.world.prefix_count(),
        data.catalog.len() / 1024,
        accounts.list.len(),
        events.len(),
        bytes / events.len().max(1),
    );
    Setup { lines, events, tables: Arc::new(tables), accounts: Arc::new(accounts), now }
}

/// A rater that has rated the batch twice: every account it touches has its
/// state, its period open and its allowances drawn.
fn warm_rater(s: &Setup) -> (Rater, Output) {
    let mut rater = Rater::new(s.tables.clone(), s.accounts.clone(), RaterConfig::default());
    let mut out = Output::default();
    for pass in 0..2 {
        out.clear();
        let started = Instant::now();
        rater.rate_batch(&s.events, s.now, &mut out);
        if pass == 1 {
            let zoned = out.rated.iter().filter(|r| r.zone.is_some()).count();
            eprintln!(
                "warm pass: {} records, {} rejected, {} actions, {} zoned, {} accounts with state, {} events/s",
                out.rated.len(),
                out.rejected.len(),
                out.actions.len(),
                zoned,
                rater.states().len(),
                s.events.len() as u128 * 1_000_000_000 / started.elapsed().as_nanos().max(1),
            );
        }
    }
    assert!(out.rejected.is_empty(), "the warm pass rejected events: {:?}", out.rejected.first());
    (rater, out)
}

fn rating(c: &mut Criterion) {
    let s = setup();
    let mut group = c.benchmark_group("rating");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.throughput(Throughput::Elements(s.events.len() as u64));

    // Warmed on first use, so that a filtered run warms only what it measures.
    let mut core: Option<(Rater, Output)> = None;
    group.bench_function("rate_core", |b| {
        let (rater, out) = core.get_or_insert_with(|| warm_rater(&s));
        b.iter(|| {
            out.clear();
            rater.rate_batch(&s.events, s.now, out);
            black_box(out.rated.len())
        });
    });
    drop(core);

    let mut full: Option<(Rater, Output)> = None;
    group.bench_function("decode_and_rate", |b| {
        let (rater, out) = full.get_or_insert_with(|| warm_rater(&s));
        let mut events = Vec::with_capacity(BATCH_EVENTS);
        b.iter(|| {
            out.clear();
            // A batch decoded, then rated, as a rate worker does.
            for batch in s.lines.chunks(BATCH_EVENTS) {
                events.clear();
                for line in batch {
                    match decode(line) {
                        Ok(event) => events.push(event),
                        Err(reject) => rater.reject_payload(reject, out),
                    }
                }
                rater.rate_batch(&events, s.now, out);
            }
            black_box(out.rated.len())
        });
    });
    drop(full);

    group.bench_function("decode_only", |b| {
        b.iter(|| {
            for line in &s.lines {
                let _ = black_box(decode(line));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, rating);
criterion_main!(benches);
