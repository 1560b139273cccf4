//! What a rater holds per active account, against the target of at most
//! 1 KiB each (one million accounts under 1 GiB).
//!
//! ```text
//! cargo build --release -p ratewire-bench --example state_memory
//! MIMALLOC_PURGE_DELAY=0 target/release/examples/state_memory 1000000 4000000
//! ```
//!
//! Arguments: the number of accounts (default 1,000,000) and of usage
//! events (default four per account), seed 7. The events are decoded and
//! rated a batch at a time, the records dropped after each batch, as the
//! pipeline's ledger stage does. The figures are the growth of the
//! process's resident memory while rating, which is the accounts' state
//! (and the rater's index of it), and the checkpoint entries a rate worker
//! keeps for them: each account serialized as the checkpoint stores it.
//! `MIMALLOC_PURGE_DELAY=0` returns the memory freed while generating the
//! sample at once; without it the rater reuses those pages and the growth
//! reads too small.

use std::sync::Arc;
use std::time::Instant;

use ratewire_rater::{Accounts, Output, Rater, RaterConfig, catalog, decode};
use ratewire_sample::{Config, Dataset};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Events decoded and rated between two clearings of the records.
const BATCH_EVENTS: usize = 4096;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let accounts: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1_000_000);
    let events: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(4 * accounts);
    let started = Instant::now();
    let data = Dataset::generate(&Config { accounts, events, ..Config::default() });
    let tables = Arc::new(catalog::parse(&data.catalog, "catalog.toml").map_err(|e| anyhow::anyhow!("{e}"))?);
    let reference = Arc::new(Accounts::parse_csv(&data.accounts, "accounts.csv").map_err(|e| anyhow::anyhow!("{e}"))?);
    let now = data.world.month.next_first_day().and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    println!("generated {accounts} accounts and {} events in {:.1?}", data.events.len(), started.elapsed());

    let mut rater = Rater::new(tables, reference, RaterConfig::default());
    let mut out = Output::default();
    let before = resident_bytes()?;
    let (mut rated, mut rejected) = (0_usize, 0_usize);
    for batch in data.events.chunks(BATCH_EVENTS) {
        out.clear();
        for line in batch {
            match decode(line.as_bytes()) {
                Ok(event) => rater.rate(&event, now, &mut out),
                Err(reject) => rater.reject_payload(reject, &mut out),
            }
        }
        rated += out.rated.len();
        rejected += out.rejected.len();
    }
    drop(out);
    let state = resident_bytes()?.saturating_sub(before);
    let active = rater.states().len();

    // A rate worker's checkpoint entries: each account serialized apart.
    let before = resident_bytes()?;
    let mut entries: Vec<Vec<u8>> = Vec::with_capacity(active);
    rater.for_each_changed(|_, account| {
        entries.push(postcard::to_extend(&account, Vec::new())?);
        Ok::<(), postcard::Error>(())
    })?;
    let encoded: usize = entries.iter().map(Vec::len).sum();
    let kept = resident_bytes()?.saturating_sub(before);

    let per = |bytes: usize| bytes / active.max(1);
    println!("rated {rated} records, {rejected} rejects; {active} accounts with state");
    println!("state: {} MiB resident, {} bytes per active account", state >> 20, per(state));
    println!(
        "checkpoint entries: {} MiB encoded ({} bytes per account), {} MiB resident",
        encoded >> 20,
        per(encoded),
        kept >> 20
    );
    println!("together: {} bytes per active account (target: at most 1,024)", per(state + kept));
    Ok(())
}

/// The process's resident set, from `/proc/self/status`.
fn resident_bytes() -> anyhow::Result<usize> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).ok_or_else(|| anyhow::anyhow!("no VmRSS"))?;
    let kib: usize = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse()?;
    Ok(kib * 1024)
}
