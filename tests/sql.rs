//! `ratewire sql` and `ratewire serve-sql` over a ledger rated from two
//! golden cases: exact results, the same totals from DuckDB, the output
//! formats, the read-only rules, and psql and psycopg as clients.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ratewire_ledger::Table;
use rust_decimal::Decimal;
use serde_json::Value;

use super::{case, ratewire, text, venv};

/// How long `serve-sql` may take to start listening.
const SERVER_START_DEADLINE: Duration = Duration::from_secs(60);

/// The password of the tests' server.
const PASSWORD: &str = "correct horse";

/// A ledger in `<dir>/ledger` with the rated records of golden case 18
/// (partners; its catalog and accounts in `<dir>/a`) and the rejects of
/// case 36 (bad input; in `<dir>/b`), committed by two `ratewire rate` runs.
fn ledger() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (sub, name, input) in
        [("a", "18_partner_revenue_share", "partners.jsonl"), ("b", "36_bad_input_rejects", "bad.jsonl")]
    {
        let src = case(name);
        let sub = dir.path().join(sub);
        fs::create_dir(&sub).unwrap();
        for f in ["catalog.toml", "accounts.csv"] {
            fs::copy(src.join(f), sub.join(f)).unwrap();
        }
        fs::copy(src.join("events.jsonl"), sub.join(input)).unwrap();
        rate(&sub, input);
    }
    dir
}

/// `ratewire rate` of `input` in `dir` into `<dir>/../ledger`.
fn rate(dir: &Path, input: &str) {
    let args = ["rate", "--catalog", "catalog.toml", "--accounts", "accounts.csv", "--input", input];
    let out = ratewire(dir, &[&args[..], &["--output", "rated.jsonl", "--ledger", "../ledger"]].concat());
    assert!(out.status.success(), "{}", text(&out));
}

/// `ratewire sql --ledger ledger` with `args`, in `dir`.
fn sql(dir: &Path, args: &[&str]) -> Output {
    ratewire(dir, &[&["sql", "--ledger", "ledger"], args].concat())
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Every file under `dir` with its size: what a refused statement must not
/// change.
fn listing(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(listing(&path));
        } else {
            files.insert(path.clone(), fs::metadata(&path).unwrap().len());
        }
    }
    files
}

/// The venv's Python, with DuckDB and psycopg (`scripts/setup.sh`).
fn python() -> PathBuf {
    let venv = venv();
    let python = venv.join("bin/python");
    assert!(python.exists(), "no Python venv at {}: run `bash scripts/setup.sh`", venv.display());
    python
}

fn run_python(script: &str, args: &[&str]) -> String {
    let out = Command::new(python()).arg("-c").arg(script).args(args).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

const SERVICES: &str = "select service, currency, sum(gross) as gross, count(*) as records \
     from rated group by service, currency order by service";

const SERVICES_CSV: &str = "service,currency,gross,records\n\
     data,EUR,6.3700000000,4\n\
     sms,EUR,0.0900000000,1\n\
     voice,EUR,29.8200000000,6\n";

#[test]
fn golden_results_are_exact() {
    let dir = ledger();
    let out = sql(dir.path(), &["select count(*) as records, sum(gross) as gross from rated"]);
    assert_eq!(
        stdout(&out),
        "+---------+---------------+\n\
         | records | gross         |\n\
         +---------+---------------+\n\
         | 11      | 36.2800000000 |\n\
         +---------+---------------+\n\
         (1 row)\n"
    );
    // The same total as the JSON-lines outputs of the two runs.
    let gross: Decimal = ["a", "b"]
        .iter()
        .flat_map(|sub| {
            fs::read_to_string(dir.path().join(sub).join("rated.jsonl"))
                .unwrap()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .map(|line| {
            serde_json::from_str::<Value>(&line).unwrap()["gross"].as_str().unwrap().parse::<Decimal>().unwrap()
        })
        .sum();
    assert_eq!(gross, "36.28".parse::<Decimal>().unwrap());

    assert_eq!(stdout(&sql(dir.path(), &["--format", "csv", SERVICES])), SERVICES_CSV);

    let rejects = "select code, code_name, count(*) as rejects from rejects \
        where code >= 2000 group by code, code_name order by code limit 3";
    assert_eq!(
        stdout(&sql(dir.path(), &["--format", "csv", rejects])),
        "code,code_name,rejects\n2001,UNKNOWN_ACCOUNT,1\n2002,UNKNOWN_SERVICE,1\n2003,NEGATIVE_QUANTITY,1\n"
    );
    let total = stdout(&sql(dir.path(), &["--format", "csv", "select count(*) as n from rejects"]));
    let lines = fs::read_to_string(dir.path().join("b/rated.rejects.jsonl")).unwrap().lines().count();
    assert_eq!(total, format!("n\n{lines}\n"));

    // Partners, joined with the accounts reference data.
    let partners = "select r.partner, a.tax_region, sum(r.partner_share) as share, sum(r.net) as net \
        from rated r join accounts a using (account) where r.partner is not null group by 1, 2 order by 1";
    let out = sql(dir.path(), &["--accounts", "a/accounts.csv", "--format", "csv", partners]);
    assert_eq!(
        stdout(&out),
        "partner,tax_region,share,net\ndealer1,DE,0.6500000000,3.2500000000\nmvno,DE,0.1700000000,1.3500000000\n"
    );
}

#[test]
fn filters_on_partition_columns_keep_whole_files_and_are_not_applied_again() {
    let dir = ledger();
    let csv = |query: &str| stdout(&sql(dir.path(), &["--format", "csv", query]));
    let periods = csv("select period, sum(gross) as gross from rated group by period order by period");
    let periods: Vec<(String, String)> = periods
        .lines()
        .skip(1)
        .map(|line| line.split_once(',').map(|(p, g)| (p.to_string(), g.to_string())).unwrap())
        .collect();
    assert!(!periods.is_empty(), "the ledger has rated rows");
    for (period, gross) in &periods {
        let query = format!("select sum(gross) as gross from rated where period = '{period}'");
        assert_eq!(csv(&query), format!("gross\n{gross}\n"));
        let plan = csv(&format!("explain {query}"));
        assert!(!plan.contains("FilterExec"), "the files are the filter: {plan}");
    }
    // With a file column too, the rows are filtered as before.
    let (period, _) = &periods[0];
    let mixed = format!("select count(*) as n from rated where period = '{period}' and service = 'sms'");
    assert_eq!(csv(&mixed), "n\n1\n");
    assert!(csv(&format!("explain {mixed}")).contains("FilterExec"));
    // A subquery cannot be evaluated on a file's partition values: it is
    // applied to the rows.
    let (last, gross) = periods.last().unwrap();
    let latest = "select max(period) as period, sum(gross) as gross from rated \
        where period = (select max(period) from rated)";
    assert_eq!(csv(latest), format!("period,gross\n{last},{gross}\n"));
    // No file left: an empty scan.
    let none = "explain select sum(gross) from rated where period = '1999-01'";
    assert!(csv(none).contains("EmptyExec"), "{}", csv(none));
}

#[test]
fn totals_agree_with_duckdb() {
    let dir = ledger();
    let ours = stdout(&sql(dir.path(), &["--format", "csv", SERVICES]));
    let duckdb = run_python(
        "import sys, duckdb
rows = duckdb.execute('''select service, currency, sum(gross)::varchar, count(*)
    from read_parquet(? || '/table=rated/**/*.parquet', hive_partitioning = true)
    group by service, currency order by service''', [sys.argv[1]]).fetchall()
print('service,currency,gross,records')
for row in rows: print(','.join(str(v) for v in row))",
        &[dir.path().join("ledger").to_str().unwrap()],
    );
    assert_eq!(ours, duckdb);
    assert_eq!(ours, SERVICES_CSV);
}

#[test]
fn empty_tables_keep_their_columns() {
    let dir = ledger();
    // No fact was booked: the table is empty, with every column.
    let header = stdout(&sql(dir.path(), &["--format", "csv", "select * from facts"]));
    let mut expected: Vec<String> = Table::Facts.schema().fields().iter().map(|f| f.name().clone()).collect();
    expected.extend(["period".to_string(), "day".to_string()]);
    assert_eq!(header, format!("{}\n", expected.join(",")));
    assert_eq!(stdout(&sql(dir.path(), &["--format", "csv", "select count(*) as n from facts"])), "n\n0\n");
}

#[test]
fn output_formats() {
    let dir = ledger();
    let sms = "select event_id, account, gross, discounts, event_time, period, day from rated where service = 'sms'";
    assert_eq!(
        stdout(&sql(dir.path(), &["--format", "json", sms])),
        "{\"event_id\":\"ok3\",\"account\":\"A1\",\"gross\":\"0.0900000000\",\"discounts\":[],\
         \"event_time\":\"2026-09-09T12:00:00Z\",\"period\":\"2026-11\",\"day\":\"2026-09-09\"}\n"
    );
    let csv = dir.path().join("services.csv");
    let out = sql(dir.path(), &["--format", "csv", "--output", csv.to_str().unwrap(), SERVICES]);
    assert_eq!((stdout(&out), fs::read_to_string(&csv).unwrap()), (String::new(), SERVICES_CSV.to_string()));

    // Parquet, read back by DuckDB: the amounts are still exact decimals.
    let parquet = dir.path().join("services.parquet");
    stdout(&sql(dir.path(), &["--format", "parquet", "--output", parquet.to_str().unwrap(), SERVICES]));
    let read = run_python(
        "import sys, duckdb
rel = duckdb.execute('select service, gross, typeof(gross), records from read_parquet(?) order by service', [sys.argv[1]])
for row in rel.fetchall(): print(','.join(str(v) for v in row))",
        &[parquet.to_str().unwrap()],
    );
    assert_eq!(
        read,
        "data,6.3700000000,DECIMAL(38,10),4\nsms,0.0900000000,DECIMAL(38,10),1\nvoice,29.8200000000,DECIMAL(38,10),6\n"
    );

    let out = sql(dir.path(), &["--format", "parquet", SERVICES]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("the parquet format needs --output FILE"), "{}", text(&out));
    let out = sql(dir.path(), &["--format", "csv", "select 1; select 2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("2 statements, but the csv format writes one result"), "{}", text(&out));
    // A failed query leaves no output file behind.
    let failed = dir.path().join("failed.csv");
    let out = sql(dir.path(), &["--format", "csv", "--output", failed.to_str().unwrap(), "select nope from rated"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!failed.exists());
}

#[test]
fn sql_errors_exit_non_zero_with_datafusion_s_message() {
    let dir = ledger();
    let out = sql(dir.path(), &["select nope from rated"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("error: Schema error: No field named nope"),
        "{}",
        text(&out)
    );
    let out = sql(dir.path(), &["selec 1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("SQL error: ParserError"), "{}", text(&out));
}

#[test]
fn the_prompt_reads_statements_until_quit() {
    let dir = ledger();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ratewire"))
        .args(["sql", "--ledger", "ledger", "--format", "csv"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input =
        "select count(*) as n\n  from rated;\nselect nope;\nselect 'a;b' as s; -- done\n\\q\nselect 3 as never;\n";
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "n\n11\ns\na;b\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: Schema error: No field named nope"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "a statement failed");
}

#[test]
fn writes_and_file_reads_are_refused_and_change_nothing() {
    let dir = ledger();
    let before = listing(&dir.path().join("ledger"));
    for (statement, kind) in [
        ("insert into rated select * from rated", "INSERT INTO"),
        ("create table t as select * from rated", "CREATE TABLE"),
        ("copy rated to 'ledger/table=rated/copy.parquet'", "COPY"),
        ("create external table e stored as parquet location 'ledger/table=rated/'", "CREATE EXTERNAL TABLE"),
    ] {
        let out = sql(dir.path(), &[statement]);
        assert_eq!(out.status.code(), Some(2), "{statement}");
        assert!(text(&out).contains(&format!("refused: {kind} is not allowed")), "{statement}: {}", text(&out));
    }
    let out = sql(dir.path(), &["select * from read_parquet('/etc/passwd')"]);
    assert!(text(&out).contains("refused: table function read_parquet() is not allowed"), "{}", text(&out));
    assert_eq!(listing(&dir.path().join("ledger")), before);
}

#[test]
fn accounts_come_from_toml_too() {
    let dir = ledger();
    let toml = "[[accounts]]\nid = \"P1\"\nplan = \"mobile\"\ntime_zone = \"Europe/Berlin\"\npartner = \"dealer1\"\n\
        credit_limit = 25\nbalances = { main = \"10.50\" }\n";
    fs::write(dir.path().join("accounts.toml"), toml).unwrap();
    let query = "select account, plan, partner, credit_limit, balances from accounts";
    let out = sql(dir.path(), &["--accounts", "accounts.toml", "--format", "json", query]);
    assert_eq!(
        stdout(&out),
        "{\"account\":\"P1\",\"plan\":\"mobile\",\"partner\":\"dealer1\",\"credit_limit\":\"25.0000000000\",\
         \"balances\":[{\"name\":\"main\",\"amount\":\"10.5000000000\"}]}\n"
    );
}

/// A `ratewire serve-sql` on a free loopback port, stopped when dropped.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path) -> Self {
        let log = dir.join("serve-sql.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_ratewire"))
            .args(["serve-sql", "--ledger", "ledger", "--accounts", "a/accounts.csv"])
            .args(["--listen", "127.0.0.1:0", "--user", "finance"])
            .env("RATEWIRE_SQL_PASSWORD", PASSWORD)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        // It prints the address once it is listening.
        let stdout = child.stdout.take().unwrap();
        let (sent, received) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sent.send(line);
        });
        let line = received.recv_timeout(SERVER_START_DEADLINE).expect("serve-sql prints where it listens");
        let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line:?}"));
        let port = addr.rsplit(':').next().unwrap().parse().unwrap();
        let server = Self { child, port, log };
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), SERVER_START_DEADLINE).expect("the port accepts");
        server
    }

    /// `psql` as `finance` with `password`, unaligned and without headers.
    fn psql(&self, password: &str, commands: &[&str]) -> Output {
        let mut psql = Command::new("psql");
        psql.args([
            "-X",
            "-w",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            "finance",
            "-d",
            "ledger",
        ]);
        psql.args(["-p", &self.port.to_string()]).env("PGPASSWORD", password).env("PGCONNECT_TIMEOUT", "30");
        for command in commands {
            psql.args(["-c", command]);
        }
        psql.output().expect("psql runs: install postgresql-client (`bash scripts/setup.sh`)")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn psql_session_reads_and_is_refused_writes() {
    let dir = ledger();
    let server = Server::start(dir.path());
    let out = server.psql(PASSWORD, &[SERVICES]);
    assert_eq!(stdout(&out), "data|EUR|6.3700000000|4\nsms|EUR|0.0900000000|1\nvoice|EUR|29.8200000000|6\n");

    let out = server.psql("wrong", &["select 1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("Password authentication failed for user \"finance\""), "{}", text(&out));

    let before = listing(&dir.path().join("ledger"));
    for (statement, kind) in [
        ("insert into rated select * from rated", "INSERT INTO"),
        ("create table t (x int)", "CREATE TABLE"),
        ("copy rated to 'ledger/table=rated/x.csv'", "COPY"),
    ] {
        let out = server.psql(PASSWORD, &[statement]);
        assert_eq!(out.status.code(), Some(1), "{statement}: {}", text(&out));
        let expected = format!("ERROR:  refused: {kind} is not allowed; the ledger is read-only here");
        assert!(String::from_utf8_lossy(&out.stderr).contains(&expected), "{statement}: {}", text(&out));
    }
    assert_eq!(listing(&dir.path().join("ledger")), before);

    // Each statement sees the latest commit: a third run, booked while the
    // server runs, is counted by the next query.
    assert_eq!(stdout(&server.psql(PASSWORD, &["select count(*) from rated"])), "11\n");
    let again = dir.path().join("a");
    fs::copy(again.join("partners.jsonl"), again.join("partners-again.jsonl")).unwrap();
    rate(&again, "partners-again.jsonl");
    assert_eq!(stdout(&server.psql(PASSWORD, &["select count(*) from rated"])), "17\n");

    let log = fs::read_to_string(&server.log).unwrap();
    assert!(!log.contains(PASSWORD), "the password is never logged: {log}");
    assert!(log.contains("refused a login as \"finance\""), "{log}");
}

#[test]
fn psycopg_queries_with_parameters() {
    let dir = ledger();
    let server = Server::start(dir.path());
    let script = "import sys, decimal, psycopg
with psycopg.connect(host='127.0.0.1', port=int(sys.argv[1]), user='finance', password=sys.argv[2], dbname='ledger') as conn:
    for row in conn.execute(sys.argv[3]).fetchall():
        print('|'.join(str(v) for v in row))
    gross = conn.execute('select sum(gross) from rated where service = %s and gross > %s', ['voice', decimal.Decimal('0.5')]).fetchone()[0]
    print(type(gross).__name__, gross)
    try:
        conn.execute('insert into rated select * from rated')
    except psycopg.Error as e:
        print(e.sqlstate, e)";
    let out = run_python(script, &[&server.port.to_string(), PASSWORD, SERVICES]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..3], ["data|EUR|6.3700000000|4", "sms|EUR|0.0900000000|1", "voice|EUR|29.8200000000|6"]);
    assert!(lines[3].starts_with("Decimal "), "{out}");
    assert!(lines[4].starts_with("25006 refused: INSERT INTO is not allowed"), "{out}");

    // The same sum from the CLI.
    let voice = "select sum(gross) as g from rated where service = 'voice' and gross > 0.5";
    let ours = stdout(&sql(dir.path(), &["--format", "csv", voice]));
    assert_eq!(format!("g\n{}\n", lines[3].trim_start_matches("Decimal ")), ours);
}
