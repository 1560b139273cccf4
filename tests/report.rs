//! `ratewire report` and the report views on a small hand-made ledger:
//! golden invoices, revenue, receivables and reconciliation (worked out by
//! hand below), a tampered ledger, DuckDB's totals, and the views through
//! `serve-sql`.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use rust_decimal::Decimal;
use serde_json::Value;

use super::{ratewire, text};

/// Voice at 0.10 a minute, billed by the second; 19% tax; a 15% partner
/// share. `line` rounds on the invoice line, `evt` per event (both to two
/// places, half up).
const CATALOG: &str = r#"version = "report-1"
currency = "EUR"

[services.voice]
unit = "second"

[partners.reseller]
share_percent = "15"

[taxes.DE]
rate_percent = "19"

[plans.line]
rounding = { decimals = 2, mode = "half_up", at = "invoice_line" }
[[plans.line.versions]]
effective_from = 2026-01-01
[[plans.line.versions.rates]]
service = "voice"
model = "per_unit"
price = "0.10"
rate_unit = 60
increments = [60, 1]

[plans.evt]
rounding = { decimals = 2, mode = "half_up", at = "event" }
[[plans.evt.versions]]
effective_from = 2026-01-01
[[plans.evt.versions.rates]]
service = "voice"
model = "per_unit"
price = "0.10"
rate_unit = 60
increments = [60, 1]
"#;

const ACCOUNTS: &str = "id,plan,time_zone,partner,tax_region\n\
    L1,line,Europe/Berlin,reseller,DE\n\
    L2,evt,Europe/Berlin,reseller,DE\n";

/// Nine lines: eight events rated, one rejected (an unknown account).
///
/// L1 (`line`): 125 s + 61 s + 63 s in October. Each event keeps ten places:
/// charges 0.2083333333 + 0.1016666667 + 0.1050000000 = 0.4150000000; taxes
/// 0.0395833333 + 0.0193166667 + 0.0199500000 = 0.0788500000; gross
/// 0.4938500000. The invoice line rounds the sums: net 0.42, tax 0.08, total
/// 0.50 (rounding +0.00615). L1 pays 0.30 on 10 November.
///
/// L2 (`evt`): the same calls, each rounded: 0.21 + 0.10 + 0.11 = 0.42 net,
/// taxes 0.04 + 0.02 + 0.02 = 0.08, gross 0.50, already whole cents. In
/// November, 60 s: 0.10 net, 0.02 tax (0.019), 0.12 gross.
const EVENTS: &str = r#"{"v":1,"id":"a1","kind":"usage","account":"L1","time":"2026-10-10T08:00:00Z","service":"voice","quantity":125}
{"v":1,"id":"a2","kind":"usage","account":"L1","time":"2026-10-10T09:00:00Z","service":"voice","quantity":61}
{"v":1,"id":"a3","kind":"usage","account":"L1","time":"2026-10-10T10:00:00Z","service":"voice","quantity":63}
{"v":1,"id":"b1","kind":"usage","account":"L2","time":"2026-10-10T08:00:00Z","service":"voice","quantity":125}
{"v":1,"id":"b2","kind":"usage","account":"L2","time":"2026-10-10T09:00:00Z","service":"voice","quantity":61}
{"v":1,"id":"b3","kind":"usage","account":"L2","time":"2026-10-10T10:00:00Z","service":"voice","quantity":63}
{"v":1,"id":"p1","kind":"payment","account":"L1","time":"2026-11-10T12:00:00Z","amount":"0.30"}
{"v":1,"id":"b4","kind":"usage","account":"L2","time":"2026-11-20T12:00:00Z","service":"voice","quantity":60}
{"v":1,"id":"x1","kind":"usage","account":"NOPE","time":"2026-11-20T13:00:00Z","service":"voice","quantity":60}
"#;

/// The hand-made ledger in `<dir>/ledger`, its inputs in `<dir>`.
fn ledger() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("catalog.toml"), CATALOG).unwrap();
    fs::write(dir.path().join("accounts.csv"), ACCOUNTS).unwrap();
    fs::write(dir.path().join("events.jsonl"), EVENTS).unwrap();
    let args = ["rate", "--catalog", "catalog.toml", "--accounts", "accounts.csv", "--input", "events.jsonl"];
    let out = ratewire(dir.path(), &[&args[..], &["--output", "rated.jsonl", "--ledger", "ledger"]].concat());
    assert!(out.status.success(), "{}", text(&out));
    dir
}

/// `ratewire report <args> --ledger ledger`, in `dir`.
fn report(dir: &Path, args: &[&str]) -> Output {
    ratewire(dir, &[&["report"], args, &["--ledger", "ledger"]].concat())
}

/// The venv's Python (DuckDB, `scripts/setup.sh`) running `script`.
fn run_python(script: &str, args: &[&str]) -> String {
    let venv = super::venv();
    let out = Command::new(venv.join("bin/python")).arg("-c").arg(script).args(args).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    String::from_utf8(out.stdout.clone()).unwrap()
}

const INVOICES_CSV: &str = "account,period,currency,lines,records,charge,discount,net,tax,gross,\
    total_net,total_tax,total,rounding\n\
    L1,2026-10,EUR,1,3,0.4150000000,0.0000000000,0.4150000000,0.0788500000,0.4938500000,0.42,0.08,0.50,0.0061500000\n\
    L2,2026-10,EUR,1,3,0.4200000000,0.0000000000,0.4200000000,0.0800000000,0.5000000000,0.42,0.08,0.50,0.0000000000\n\
    L2,2026-11,EUR,1,1,0.1000000000,0.0000000000,0.1000000000,0.0200000000,0.1200000000,0.10,0.02,0.12,0.0000000000\n";

#[test]
fn invoices_are_exact_and_lines_round_to_the_cent() {
    let dir = ledger();
    assert_eq!(stdout(&report(dir.path(), &["invoices", "--format", "csv"])), INVOICES_CSV);

    let lines = stdout(&report(dir.path(), &["invoices", "--lines", "--period", "2026-10", "--format", "csv"]));
    assert_eq!(
        lines,
        "account,period,currency,kind,service,plan,records,quantity,rated_quantity,allowance_quantity,charge,\
         discount,net,tax,gross,line_net,line_tax,line_total\n\
         L1,2026-10,EUR,usage,voice,line,3,249.0000000000,249.0000000000,0.0000000000,0.4150000000,0.0000000000,\
         0.4150000000,0.0788500000,0.4938500000,0.42,0.08,0.50\n\
         L2,2026-10,EUR,usage,voice,evt,3,249.0000000000,249.0000000000,0.0000000000,0.4200000000,0.0000000000,\
         0.4200000000,0.0800000000,0.5000000000,0.42,0.08,0.50\n"
    );

    // The same rows from `ratewire sql` on the view.
    let sql = ratewire(
        dir.path(),
        &["sql", "--ledger", "ledger", "--format", "csv", "select * from invoices order by account, period"],
    );
    assert_eq!(stdout(&sql), INVOICES_CSV);

    // A period that is not YYYY-MM is refused before any SQL is built.
    let out = report(dir.path(), &["invoices", "--period", "2026-10' or '1'='1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn html_invoices_one_per_account_and_escaped() {
    let dir = ledger();
    let out = report(dir.path(), &["invoices", "--period", "2026-10", "--html", "html", "--format", "csv"]);
    stdout(&out);
    let mut files: Vec<String> =
        fs::read_dir(dir.path().join("html")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    assert_eq!(files, ["L1_2026-10_EUR.html", "L2_2026-10_EUR.html"]);
    let html = fs::read_to_string(dir.path().join("html/L1_2026-10_EUR.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("Account <strong>L1</strong>"), "{html}");
    assert!(html.contains("<td class=\"n\">249</td>"), "{html}");
    assert!(html.contains("Total due (EUR)</td><td class=\"n\">0.50</td>"), "{html}");
    assert!(!html.contains("<script"), "{html}");
}

#[test]
fn revenue_by_product_partner_and_region() {
    let dir = ledger();
    let out = report(dir.path(), &["revenue", "--accounts", "accounts.csv", "--format", "csv"]);
    // Partner shares: L1 keeps ten places (15% of each charge), L2 rounds
    // each (0.03 + 0.02 + 0.02; 0.015 -> 0.02 in November).
    assert_eq!(
        stdout(&out),
        "period,day,service,plan,partner,region,currency,records,charge,discount,net,tax,gross,partner_share\n\
         2026-10,2026-10-10,voice,evt,reseller,DE,EUR,3,0.4200000000,0.0000000000,0.4200000000,0.0800000000,\
         0.5000000000,0.0700000000\n\
         2026-10,2026-10-10,voice,line,reseller,DE,EUR,3,0.4150000000,0.0000000000,0.4150000000,0.0788500000,\
         0.4938500000,0.0622500000\n\
         2026-11,2026-11-20,voice,evt,reseller,DE,EUR,1,0.1000000000,0.0000000000,0.1000000000,0.0200000000,\
         0.1200000000,0.0200000000\n"
    );
    // Without the accounts file the region is empty.
    let out = report(dir.path(), &["revenue", "--period", "2026-11", "--format", "csv"]);
    assert!(stdout(&out).ends_with(
        "2026-11,2026-11-20,voice,evt,reseller,,EUR,1,0.1000000000,0.0000000000,\
        0.1000000000,0.0200000000,0.1200000000,0.0200000000\n"
    ));
}

#[test]
fn receivables_age_what_payments_left_open() {
    let dir = ledger();
    // As of 15 December: October's invoices fell due on 1 November (44
    // days late), November's on 1 December (14 days). L1's 0.30 paid 0.30
    // of its 0.50; L2 paid nothing.
    let out = report(dir.path(), &["receivables", "--as-of", "2026-12-15", "--format", "csv"]);
    assert_eq!(
        stdout(&out),
        "account,currency,as_of,charges,payments,balance,age_current,age_1_30,age_31_60,age_61_90,age_over_90\n\
         L1,EUR,2026-12-15,0.5000000000,0.3000000000,0.2000000000,0.0000000000,0.0000000000,0.2000000000,\
         0.0000000000,0.0000000000\n\
         L2,EUR,2026-12-15,0.6200000000,0.0000000000,0.6200000000,0.0000000000,0.1200000000,0.5000000000,\
         0.0000000000,0.0000000000\n"
    );
    // The view is as of the last day with data, 20 November: October is 19
    // days late, November not yet due.
    let sql = "select account, as_of, age_current, age_1_30 from receivables order by account";
    let out = ratewire(dir.path(), &["sql", "--ledger", "ledger", "--format", "csv", sql]);
    assert_eq!(
        stdout(&out),
        "account,as_of,age_current,age_1_30\n\
         L1,2026-11-20,0.0000000000,0.2000000000\n\
         L2,2026-11-20,0.1200000000,0.5000000000\n"
    );
}

#[test]
fn reconcile_passes_on_a_good_ledger() {
    let dir = ledger();
    let out = report(dir.path(), &["reconcile"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // 1 event check, 9 ledger totals (rows of 4 tables, 5 sums), 1 gross
    // check, 3 invoices.
    assert!(text(&out).contains("reconcile: 14 checks, 0 failed"), "{}", text(&out));
}

#[test]
fn reconcile_lists_every_mismatch_of_a_tampered_ledger() {
    let dir = ledger();
    // Two more lines consumed than were booked, and one euro more gross in
    // the manifest than in its file (kept consistent, so the ledger opens).
    // The files hold 0.49385 + 0.50 + 0.12 of invoices less the 0.30 paid.
    let path = dir.path().join("ledger/_manifest/00000000000000000001.json");
    let mut manifest: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let to = manifest["offsets"][0]["to"].as_i64().unwrap();
    manifest["offsets"][0]["to"] = Value::from(to + 2);
    let add_one = |value: &mut Value| {
        let gross: Decimal = value.as_str().unwrap().parse().unwrap();
        *value = Value::String(format!("{:.10}", gross + Decimal::ONE));
    };
    add_one(&mut manifest["totals"]["rated"]["gross"]);
    add_one(&mut manifest["ledger_totals"]["rated"]["gross"]);
    let files = manifest["files"].as_array_mut().unwrap();
    let rated = files.iter_mut().find(|f| f["table"] == "rated").unwrap();
    add_one(&mut rated["totals"]["gross"]);
    fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();

    let out = report(dir.path(), &["reconcile", "--format", "csv"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("reconcile: 14 checks, 3 failed"), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "check_name,subject,expected,actual,difference,tolerance\n\
         events consumed = rated + rejected,all sources,11.0000000000,9.0000000000,-2.0000000000,0.0000000000\n\
         ledger totals = files,rated.gross,1.8138500000,0.8138500000,-1.0000000000,0.0000000000\n\
         ledger gross = invoiced + not invoiced,rated.gross,1.8138500000,0.8138500000,-1.0000000000,0.0000000000\n"
    );
}

#[test]
fn invoice_totals_agree_with_duckdb() {
    let dir = ledger();
    let ours = stdout(&report(dir.path(), &["invoices", "--format", "csv"]));
    let ours: Vec<String> = ours
        .lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            format!("{},{},{},{},{}", cells[0], cells[1], cells[2], cells[9], cells[12])
        })
        .collect();
    // DuckDB reads the same files with its own Parquet reader and rounds
    // each line with its own round().
    let script = "import sys, duckdb
rows = duckdb.execute('''
    with lines as (
        select account, period, currency, sum(gross) as gross, round(sum(net), 2) + round(sum(tax), 2) as total
        from read_parquet(? || '/table=rated/**/*.parquet', hive_partitioning = true)
        where kind in ('usage', 'recurring', 'adjustment')
        group by account, period, currency, kind, service, coalesce(split_part(tariff, '@', 1), ''))
    select account, period, currency, sum(gross)::varchar, sum(total)::decimal(38, 2)::varchar
    from lines group by all order by all''', [sys.argv[1]]).fetchall()
for row in rows: print(','.join(str(v) for v in row))";
    let duckdb = run_python(script, &[dir.path().join("ledger").to_str().unwrap()]);
    assert_eq!(ours.join("\n") + "\n", duckdb);
}

#[test]
fn the_views_are_visible_through_serve_sql() {
    let dir = ledger();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ratewire"))
        .args(["serve-sql", "--ledger", "ledger", "--listen", "127.0.0.1:0", "--user", "finance"])
        .env("RATEWIRE_SQL_PASSWORD", "pw")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let port = line.trim().rsplit(':').next().unwrap().to_string();
    let out = Command::new("psql")
        .args(["-X", "-w", "-A", "-t", "-h", "127.0.0.1", "-U", "finance", "-d", "ledger", "-p", &port])
        .args(["-c", "select account, total from invoices where period = '2026-10' order by account"])
        .env("PGPASSWORD", "pw")
        .env("PGCONNECT_TIMEOUT", "30")
        .output()
        .expect("psql runs");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(stdout(&out), "L1|0.50\nL2|0.50\n");
}
