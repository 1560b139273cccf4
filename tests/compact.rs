//! `ratewire compact`: a ledger of many small commits merged into one file
//! per partition, with its totals, its independent readers and a reader
//! that listed its files before the compaction all unaffected.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;

use ratewire_ledger::{Ledger, Snapshot, TRASH_DIR, Table, Totals, format_units};
use rust_decimal::Decimal;
use serde_json::Value;

use super::{case, rate_files, ratewire, text, venv_python};

/// Lines of input: five commits of 4,096 lines (the last one short).
const LINES: usize = 4 * 4096 + 100;

/// A ledger rated from [`LINES`] events spread over five days, so that
/// every commit writes a file to every day's partitions; one line in 1,000
/// and the last are malformed, so that every commit books rejects. Row
/// groups of 100 rows.
fn many_commits(dir: &Path) -> PathBuf {
    let src = case("01_voice_per_minute");
    for f in ["catalog.toml", "accounts.csv"] {
        fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let events: String = (0..LINES)
        .map(|i| {
            if i % 1000 == 999 || i == LINES - 1 {
                return format!("{{\"v\":1,\"id\":\"bad{i}\n");
            }
            let (day, second) = (1 + i % 5, (i / 5) * 20);
            let time = format!("2026-11-{day:02}T{:02}:{:02}:{:02}Z", second / 3600, second / 60 % 60, second % 60);
            format!(
                "{{\"v\":1,\"id\":\"e{i}\",\"kind\":\"usage\",\"account\":\"A1\",\"time\":\"{time}\",\"service\":\"voice\",\"quantity\":{}}}\n",
                30 + i % 90
            )
        })
        .collect();
    fs::write(dir.join("events.jsonl"), events).unwrap();
    let out = rate_files(dir, &["--ledger", "ledger", "--ledger-row-group-rows", "100"]);
    assert!(out.status.success(), "{}", text(&out));
    dir.join("ledger")
}

/// The `.parquet` files a directory glob over `table=*/**` finds.
fn globbed(ledger: &Path) -> usize {
    fn walk(dir: &Path, depth: usize) -> usize {
        let mut found = 0;
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && depth < 3 {
                found += walk(&path, depth + 1);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                found += 1;
            }
        }
        found
    }
    fs::read_dir(ledger)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("table=")))
        .map(|p| walk(&p, 1))
        .sum()
}

/// DuckDB over a plain directory glob, as a reader that ignores the
/// manifests sees the ledger: rows and gross of `rated`, rows of `draws`.
const GLOB_QUERY: &str = r"
import sys, duckdb
glob = lambda t: f'{sys.argv[1]}/table={t}/**/*.parquet'
rated = duckdb.execute('select count(*), sum(gross)::varchar from read_parquet(?, hive_partitioning = true)', [glob('rated')]).fetchone()
draws = duckdb.execute('select count(*) from read_parquet(?, hive_partitioning = true)', [glob('draws')]).fetchone()
print(rated[0], rated[1], draws[0])
";

/// Checks the ledger with the independent readers: through its manifests
/// (`check_ledger.py`) and through a directory glob.
fn check_independently(ledger: &Path, totals: &BTreeMap<Table, Totals>) {
    let Some(python) = venv_python("the DuckDB/pyarrow checks") else { return };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_ledger.py");
    let out = Command::new(&python).arg(script).arg(ledger).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["tables"]["rated"]["rows"], totals[&Table::Rated].rows);

    let out = Command::new(&python).arg("-c").arg(GLOB_QUERY).arg(ledger).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let found = String::from_utf8(out.stdout).unwrap();
    let found: Vec<&str> = found.split_whitespace().collect();
    let gross: Decimal = format_units(totals[&Table::Rated].sums["gross"]).parse().unwrap();
    assert_eq!(found[0].parse::<u64>().unwrap(), totals[&Table::Rated].rows, "a glob sees each rated row once");
    assert_eq!(found[1].parse::<Decimal>().unwrap(), gross);
    assert_eq!(found[2].parse::<u64>().unwrap(), totals[&Table::Draws].rows, "a glob sees each draw once");
}

#[test]
fn compact_merges_small_files_and_a_reader_of_the_old_ones_is_unaffected() {
    let dir = tempfile::tempdir().unwrap();
    let ledger_dir = many_commits(dir.path());
    let (ledger, recovery) = Ledger::open(&ledger_dir).unwrap();
    assert_eq!(recovery.sequence, 5);
    let totals = ledger.verify().unwrap();
    let files_before = ledger.committed_files().len();
    assert_eq!(files_before, 5 * (5 + 5 + 1), "five commits, each to five days of rated and draws, and rejects");
    drop(ledger);

    // A reader lists its files before the compaction, opens one, and reads
    // them all after it.
    let (listed, compacted) = (mpsc::channel(), mpsc::channel::<()>());
    let reader_dir = ledger_dir.clone();
    let reader = std::thread::spawn(move || {
        let snapshot = Snapshot::open(&reader_dir).unwrap();
        let (_, mut held) = snapshot.open_file(&snapshot.files()[0]).unwrap();
        listed.0.send(snapshot.files().len()).unwrap();
        compacted.1.recv().unwrap();
        let mut bytes = Vec::new();
        held.read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes.len() as u64, snapshot.files()[0].bytes, "an open file stays readable");
        snapshot.verify().unwrap()
    });
    assert_eq!(listed.1.recv().unwrap(), files_before);

    let out = ratewire(dir.path(), &["compact", "--ledger", "ledger"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("compacted 11 partitions of ledger in commit 6"), "{stdout}");
    assert!(stdout.contains("table=rated/period=2026-11/day=2026-11-01"), "{stdout}");
    assert!(stdout.contains(&format!("total: files {files_before} -> 11, rows ")), "{stdout}");
    compacted.0.send(()).unwrap();
    assert_eq!(reader.join().unwrap(), totals, "the reader's snapshot reads as before");

    let (ledger, recovery) = Ledger::open(&ledger_dir).unwrap();
    assert_eq!((recovery.sequence, recovery.trashed.len()), (6, 0));
    assert_eq!(ledger.committed_files().len(), 11, "one file per partition");
    assert_eq!(ledger.verify().unwrap(), totals);
    assert_eq!(globbed(&ledger_dir), 11, "a directory glob finds the merged files only");
    let trash = ledger_dir.join(TRASH_DIR).join(format!("{:020}", 6));
    assert_eq!(globbed(&trash), files_before, "every file merged away waits in the trash");
    drop(ledger);
    check_independently(&ledger_dir, &totals);

    let again = ratewire(dir.path(), &["compact", "--ledger", "ledger", "--trash-grace-minutes", "0"]);
    assert!(again.status.success(), "{}", text(&again));
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("nothing to compact in ledger"), "{stdout}");
    assert!(stdout.contains(&format!("trash deleted: ledger/{TRASH_DIR}/{:020}", 6)), "{stdout}");
    assert_eq!(Ledger::open(&ledger_dir).unwrap().0.verify().unwrap(), totals);
}

#[test]
fn compact_takes_a_table_a_period_and_refuses_what_is_not_a_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let out = ratewire(dir.path(), &["compact", "--ledger", "missing"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("missing is not a ledger"), "{}", text(&out));

    let out = ratewire(dir.path(), &["compact", "--ledger", "missing", "--table", "calls"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not a table; one of rated, draws"), "{}", text(&out));
    let out = ratewire(dir.path(), &["compact", "--ledger", "missing", "--period", "2026-13"]);
    assert!(text(&out).contains("expected YYYY-MM"), "{}", text(&out));

    fs::create_dir_all(dir.path().join("ledger/_manifest")).unwrap();
    let out = ratewire(dir.path(), &["compact", "--ledger", "ledger", "--min-files", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("min_files = 1: must be at least 2"), "{}", text(&out));
    let args = ["compact", "--ledger", "ledger", "--table", "draws", "--period", "2026-11", "--min-files", "3"];
    let out = ratewire(dir.path(), &args);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("nothing to compact"), "{}", text(&out));
}
