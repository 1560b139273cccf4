//! One measured pass over the benchmark data, for profilers: the work to
//! look at sits in `measured_rate` and `measured_decode`, which are never
//! inlined, so a profiler can count them alone, for example
//!
//! ```text
//! cargo build --release -p ratewire-bench --example profile_pass
//! valgrind --tool=callgrind --toggle-collect='profile_pass::measured_rate' \
//!     target/release/examples/profile_pass rate 100000 1
//! ```
//!
//! Arguments: `rate` or `decode`, the number of accounts (default 100,000)
//! and the number of measured passes (default 1). Events: 100,000 usage
//! events, seed 7, as in the criterion benches. Before the measured rating
//! passes the rater rates the batch twice, so that they see warm state.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use ratewire_rater::{Accounts, Event, Output, Rater, RaterConfig, catalog, decode};
use ratewire_sample::{Config, Dataset};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[inline(never)]
fn measured_rate(rater: &mut Rater, events: &[Event], now: DateTime<Utc>, out: &mut Output) {
    out.clear();
    rater.rate_batch(events, now, out);
}

#[inline(never)]
fn measured_decode(lines: &[Vec<u8>]) -> usize {
    lines.iter().filter(|line| black_box(decode(line)).is_ok()).count()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "rate".into());
    let accounts = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let passes: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let data = Dataset::generate(&Config { accounts, ..Config::default() });
    let lines: Vec<Vec<u8>> = data.events.iter().map(|l| l.clone().into_bytes()).collect();
    let n = lines.len().max(1) as u128;
    if mode == "decode" {
        for _ in 0..passes {
            let started = Instant::now();
            let ok = measured_decode(&lines);
            println!("decoded {ok} events, {} ns per event", started.elapsed().as_nanos() / n);
        }
        return;
    }
    let tables = catalog::parse(&data.catalog, "catalog.toml").unwrap_or_else(|e| panic!("{e}"));
    let accounts = Accounts::parse_csv(&data.accounts, "accounts.csv").unwrap_or_else(|e| panic!("{e}"));
    let events: Vec<Event> = lines.iter().map(|l| decode(l).unwrap_or_else(|r| panic!("{r}"))).collect();
    let now = data.world.month.next_first_day().and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let mut rater = Rater::new(Arc::new(tables), Arc::new(accounts), RaterConfig::default());
    let mut out = Output::default();
    for _ in 0..2 {
        warm(&mut rater, &events, now, &mut out);
    }
    for _ in 0..passes {
        let started = Instant::now();
        measured_rate(&mut rater, &events, now, &mut out);
        println!("rated {} events, {} ns per event", events.len(), started.elapsed().as_nanos() / n);
    }
}

/// The warm-up passes, kept apart from the measured ones: event by event,
/// so that the compiler cannot fold this function into `measured_rate` and
/// a profiler counting that one counts the warm-up too.
#[inline(never)]
fn warm(rater: &mut Rater, events: &[Event], now: DateTime<Utc>, out: &mut Output) {
    out.clear();
    for event in events {
        rater.rate(event, now, out);
    }
}
