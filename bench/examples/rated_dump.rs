//! Rates a generated sample and prints everything rating produced, one
//! item per line: each record, reject, action and fact, then each account's
//! state. A change meant to leave results alone (a faster path for the same
//! arithmetic, say) is checked by running this at both commits and
//! comparing the outputs byte for byte, e.g.
//!
//! ```text
//! cargo run --release -p ratewire-bench --example rated_dump > after.txt
//! git stash; cargo run --release -p ratewire-bench --example rated_dump > before.txt; git stash pop
//! cmp before.txt after.txt
//! ```
//!
//! Amounts print as `Decimal`'s `Debug`, which shows their scale, so a
//! change of scale shows too. Arguments: the number of accounts (default
//! 20,000) and of events (default 300,000); seed 7, every event kind.

use std::sync::Arc;

use ratewire_rater::{Accounts, Output, Rater, RaterConfig, catalog, decode};
use ratewire_sample::{Config, Dataset};

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.replace('_', "").parse::<usize>());
    let accounts = args.next().and_then(Result::ok).unwrap_or(20_000);
    let events = args.next().and_then(Result::ok).unwrap_or(300_000);
    let data = Dataset::generate(&Config { accounts, events, seed: 7, ..Config::default() });
    let tables = catalog::parse(&data.catalog, "catalog.toml").unwrap_or_else(|e| panic!("{e}"));
    let accounts = Accounts::parse_csv(&data.accounts, "accounts.csv").unwrap_or_else(|e| panic!("{e}"));
    let now = data.world.month.next_first_day().and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let mut rater = Rater::new(Arc::new(tables), Arc::new(accounts), RaterConfig::default());
    let mut out = Output::default();
    for line in &data.events {
        match decode(line.as_bytes()) {
            Ok(event) => rater.rate(&event, now, &mut out),
            Err(reject) => rater.reject_payload(reject, &mut out),
        }
    }
    out.rated.iter().for_each(|r| println!("{r:?}"));
    out.rejected.iter().for_each(|r| println!("{r:?}"));
    out.actions.iter().for_each(|a| println!("{a:?}"));
    out.facts.iter().for_each(|f| println!("{f:?}"));
    // The state's fields that rating computes; the device sets are left
    // out, as their order changes from run to run.
    for s in rater.states() {
        println!(
            "{} {:?} {:?} {:?} main {:?} balances {:?} counters {:?} fixed {:?} devices {} {} owed {:?} {:?} {:?} {}",
            s.id,
            s.status,
            s.plan,
            s.period,
            s.main,
            s.balances,
            s.counters,
            s.fixed_used,
            s.devices_today.len(),
            s.devices_period.len(),
            s.owed,
            s.owed_due,
            s.blocked,
            s.low_notified,
        );
    }
}
