//! Writes a synthetic ledger for the month-end invoice benchmark
//! (`bench/invoices.sh`): ROWS rated records of one month (October 2026)
//! through the ledger's own writer and commits, spread evenly over its 31
//! days, for ACCOUNTS accounts on four plans, with voice, SMS and data usage
//! and one recurring fee per account.
//!
//! ```text
//! cargo run --release -p ratewire-bench --example invoice_ledger -- DIR [ROWS] [ACCOUNTS]
//! ```
//!
//! Defaults: 100,000,000 rows, 100,000 accounts. Seeded: the same arguments
//! write the same rows. DIR must not hold a ledger yet.
//!
//! Also the ledger's write benchmark (`bench/ledger_write.sh`): the time in
//! `Ledger::commit` alone (Parquet encoding, fsync, rename, manifest), apart
//! from generating the records, is printed as rows/s and MB/s of files.

use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{NaiveDate, TimeZone, Utc};
use ratewire_ledger::{Commit, Ledger, SourceRange};
use ratewire_rater::money::Currency;
use ratewire_rater::time::Period;
use ratewire_rater::{AccountId, Applied, Draws, Name, Rated, RecordKind};
use rust_decimal::Decimal;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Rows per commit: each commit writes one file per day it touches, so a
/// day's rows land in files of at most this many (the size a compaction
/// merges to).
const COMMIT_ROWS_MAX: u64 = 1 << 20;

/// Rows of the benchmark by default.
const ROWS_DEFAULT: u64 = 100_000_000;

/// Accounts by default.
const ACCOUNTS_DEFAULT: u64 = 100_000;

/// The month the rows are booked in.
const YEAR: i32 = 2026;
const MONTH: u32 = 10;
const DAYS: u32 = 31;

/// Plans as `plan@version`, and their partners (none for some).
const TARIFFS: [&str; 4] = ["basic@2026-01-01", "plus@2026-01-01", "max@2026-06-01", "data@2026-01-01"];
const PARTNERS: [Option<&str>; 4] = [None, Some("dealer1"), Some("mvno"), None];

/// Tax rate, in percent.
const TAX_PERCENT: i64 = 19;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().context("usage: invoice_ledger DIR [ROWS] [ACCOUNTS]")?;
    let rows: u64 = args.next().map_or(Ok(ROWS_DEFAULT), |a| a.parse()).context("ROWS")?;
    let accounts: u64 = args.next().map_or(Ok(ACCOUNTS_DEFAULT), |a| a.parse()).context("ACCOUNTS")?;
    if accounts == 0 || rows < accounts {
        bail!("need at least one account and as many rows as accounts");
    }
    let started = Instant::now();
    let (mut ledger, recovery) = Ledger::open(&dir).with_context(|| format!("opening {dir}"))?;
    if recovery.sequence != 0 {
        bail!("{dir} already holds a ledger");
    }
    let names: Vec<AccountId> = (0..accounts).map(|a| AccountId::from(format!("A{a:07}"))).collect();
    let catalog_version = Name::new("bench-1");
    let services: [Name; 4] = ["voice", "sms", "data", "fee"].map(Name::new);
    let tariffs: Vec<Name> = TARIFFS.iter().map(|t| Name::new(t)).collect();
    let partners: Vec<Option<Name>> = PARTNERS.iter().map(|p| p.map(Name::new)).collect();
    let currency = Currency::parse("EUR").context("currency")?;
    let period = Period::new(YEAR, MONTH);
    let mut rng = fastrand::Rng::with_seed(7);

    // The first `accounts` rows are the recurring fees, on day 1.
    let mut written = 0u64;
    let mut offset = 1i64;
    let (mut commit_time, mut commit_bytes) = (std::time::Duration::ZERO, 0u64);
    let per_day = rows / u64::from(DAYS);
    for day in 1..=DAYS {
        let date = NaiveDate::from_ymd_opt(YEAR, MONTH, day).context("date")?;
        let midnight = Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).context("midnight")?);
        let mut day_rows = if day == DAYS { rows - written } else { per_day };
        while day_rows > 0 {
            let chunk = day_rows.min(COMMIT_ROWS_MAX);
            let mut records = Vec::with_capacity(usize::try_from(chunk)?);
            for _ in 0..chunk {
                let n = written;
                written += 1;
                let fee = n < accounts;
                let account = if fee { n } else { rng.u64(0..accounts) };
                let plan = usize::try_from(account % 4)?;
                let time = midnight + chrono::Duration::microseconds(rng.i64(0..86_400_000_000));
                let (kind, service, quantity, charge) = if fee {
                    (RecordKind::Recurring, 3, Decimal::from(31), Decimal::new(999 + 1_000 * plan as i64, 2))
                } else {
                    match rng.u8(0..10) {
                        // Voice, by the second at 0.10 a minute, ten places kept.
                        0..=5 => {
                            let seconds = rng.i64(1..3_600);
                            (RecordKind::Usage, 0, Decimal::from(seconds), Decimal::new(seconds * 16_666_667, 10))
                        }
                        6..=7 => (RecordKind::Usage, 1, Decimal::ONE, Decimal::new(9, 2)),
                        // Data, by the kilobyte at 0.0001 each.
                        _ => {
                            let kib = rng.i64(1..100_000);
                            (RecordKind::Usage, 2, Decimal::from(kib), Decimal::new(kib, 4))
                        }
                    }
                };
                let discount = if plan == 2 { (charge / Decimal::TEN).round_dp(10) } else { Decimal::ZERO };
                let net = charge - discount;
                let tax = (net * Decimal::new(TAX_PERCENT, 2)).round_dp(10);
                let partner = partners[plan];
                let partner_share =
                    if partner.is_some() { (net * Decimal::new(15, 2)).round_dp(10) } else { Decimal::ZERO };
                records.push(Rated {
                    event_id: format!("e{n}").into(),
                    kind,
                    account: names[usize::try_from(account)?].clone(),
                    service: services[service],
                    zone: None,
                    destination: None,
                    device: None,
                    event_time: time,
                    period,
                    original_period: None,
                    quantity,
                    rated_quantity: quantity,
                    allowance_quantity: Decimal::ZERO,
                    charge,
                    discount,
                    net,
                    tax,
                    gross: net + tax,
                    currency,
                    tariff: Some(tariffs[plan]),
                    discounts: Applied::new(),
                    partner,
                    partner_share,
                    catalog_version,
                    draws: Draws::new(),
                });
            }
            let to = offset + i64::try_from(chunk)?;
            let offsets = [SourceRange { source: "bench".into(), partition: 0, from: offset, to }];
            let commit = Commit {
                rated: std::slice::from_ref(&records),
                rejected: &[],
                facts: &[],
                offsets: &offsets,
                checkpoint: b"",
                booked_at: Utc::now(),
            };
            let commit_started = Instant::now();
            let manifest = ledger.commit(&commit).context("committing")?;
            commit_time += commit_started.elapsed();
            commit_bytes += manifest.files.iter().map(|f| f.bytes).sum::<u64>();
            offset = to;
            day_rows -= chunk;
        }
        eprintln!("day {day}: {written} rows, {:.0?}", started.elapsed());
    }
    println!("{written} rows, {accounts} accounts, {} commits in {dir}", ledger.sequence());
    let seconds = commit_time.as_secs_f64();
    #[allow(clippy::cast_precision_loss, clippy::float_arithmetic)] // rates for display
    let (rows_per_second, mb_per_second) = (written as f64 / seconds, commit_bytes as f64 / 1e6 / seconds);
    println!(
        "ledger commits: {written} rows, {commit_bytes} bytes of Parquet in {seconds:.2} s: \
         {rows_per_second:.0} rows/s, {mb_per_second:.1} MB/s"
    );
    Ok(())
}
