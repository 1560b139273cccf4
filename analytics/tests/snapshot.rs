//! SQL reads exactly the committed files of one snapshot: not a file on
//! disk that no manifest lists, and still the files a compaction moved to
//! the trash after the snapshot was taken.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::path::Path;
use std::sync::Arc;

use ratewire_analytics::{Engine, Format, Source, parse, plan, write};
use ratewire_ledger::{Commit, CompactOptions, Ledger, SourceRange};
use ratewire_rater::{Accounts, Output, Rater, RaterConfig, catalog, decode};

/// Commits two SMS events of account A1 on the same day, one per commit:
/// two files in one partition of `rated`.
fn two_commits(dir: &Path) -> Ledger {
    let tables = catalog::parse(
        r#"
        version = "sql-1"
        currency = "EUR"
        [services.sms]
        unit = "message"
        [[plans.basic.versions]]
        effective_from = 2026-01-01
        [[plans.basic.versions.rates]]
        service = "sms"
        model = "per_unit"
        price = "0.09"
        "#,
        "catalog.toml",
    )
    .unwrap();
    let accounts = Accounts::parse_csv("id,plan\nA1,basic\n", "accounts.csv").unwrap();
    let mut rater = Rater::new(Arc::new(tables), Arc::new(accounts), RaterConfig::default());
    let (mut ledger, _) = Ledger::open(dir).unwrap();
    for (n, quantity) in [(1, 2), (2, 3)] {
        let event = decode(
            format!(
                r#"{{"v":1,"id":"e{n}","kind":"usage","account":"A1","time":"2026-11-03T1{n}:00:00Z","service":"sms","quantity":{quantity}}}"#
            )
            .as_bytes(),
        )
        .unwrap();
        let mut out = Output::default();
        rater.rate(&event, event.time, &mut out);
        let offsets = [SourceRange { source: "events.jsonl".into(), partition: 0, from: n, to: n + 1 }];
        let commit = Commit {
            rated: std::slice::from_ref(&out.rated),
            rejected: &[],
            facts: &out.facts,
            offsets: &offsets,
            checkpoint: b"",
            booked_at: chrono::Utc::now(),
        };
        ledger.commit(&commit).unwrap();
    }
    ledger
}

fn csv(engine: &Engine, sql: &str) -> String {
    let statements = parse(sql).unwrap();
    let rows = engine.query(&statements[0]).unwrap();
    let mut out = Vec::new();
    write(Format::Csv, &rows.schema(), rows, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

const TOTALS: &str = "select count(*) as n, sum(gross) as gross, min(period) as period, min(day) as day from rated";
const EXPECTED: &str = "n,gross,period,day\n2,0.4500000000,2026-11,2026-11-03\n";

#[test]
fn files_no_manifest_lists_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = two_commits(dir.path());
    let file = &ledger.committed_files()[0];
    // A copy under a name no manifest lists (what a crashed commit leaves
    // until the next open removes it).
    let stray = Path::new(&file.path).with_file_name("00000000000000000099-0000.parquet");
    std::fs::copy(dir.path().join(&file.path), dir.path().join(stray)).unwrap();
    let engine = Engine::new(Source::open(dir.path(), None).unwrap()).unwrap();
    assert_eq!(csv(&engine, TOTALS), EXPECTED);
}

#[test]
fn a_snapshot_reads_the_files_a_later_compaction_moved_to_the_trash() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = two_commits(dir.path());
    let source = Source::open(dir.path(), None).unwrap();
    let (before, sequence) = source.context().unwrap();
    assert_eq!(sequence, 2);

    let report = ledger.compact(&CompactOptions::default()).unwrap();
    assert!(!report.partitions.is_empty(), "the two files were merged: {report:?}");
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let statement = &parse(TOTALS).unwrap()[0];
    let rows = runtime.block_on(async {
        let plan = plan(&before, statement).await.unwrap();
        before.execute_logical_plan(plan).await.unwrap().collect().await.unwrap()
    });
    let mut out = Vec::new();
    write(Format::Csv, &rows[0].schema(), rows.into_iter().map(Ok), &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), EXPECTED);

    // A new snapshot reads the merged file.
    let engine = Engine::new(source).unwrap();
    assert_eq!(csv(&engine, TOTALS), EXPECTED);
    assert_eq!(csv(&engine, "select count(*) as files from (select distinct event_id from rated)"), "files\n2\n");
}

#[test]
fn decimal_literals_keep_money_exact() {
    let dir = tempfile::tempdir().unwrap();
    drop(two_commits(dir.path()));
    let engine = Engine::new(Source::open(dir.path(), None).unwrap()).unwrap();
    let sql = "select sum(gross * 1.19) as with_vat, arrow_typeof(sum(gross * 1.19)) as type, \
        sum(gross) / 3 as third from rated";
    assert_eq!(csv(&engine, sql), "with_vat,type,third\n0.535500000000,\"Decimal128(38, 12)\",0.15000000000000\n");
}
