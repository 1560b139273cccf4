//! `ratewire demo`: the whole loop on one machine. Starts a local broker
//! (unless one is given), creates the topics, generates a realistic operator
//! (catalog, accounts, last month's events with lifecycle, malformed and
//! resent ones), produces the events keyed by account, runs the pipeline
//! until it has caught up, prints a summary and shuts down. Then the churn
//! models: a six-month history with churners is rated into a ledger of its
//! own, a model is trained on it and the top ten of the risk list printed.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Days, Months, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use ratewire_ingest::Until;
use ratewire_sample::{Dataset, History, HistoryConfig, Mix, Month};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

/// How long the started broker may take to listen.
const BROKER_START_TIMEOUT_MS: u64 = 20_000;
/// How long producing may wait for deliveries at the end.
const PRODUCE_FLUSH_TIMEOUT_MS: u64 = 120_000;
/// The churn part's history: months, ending last month, and accounts.
const CHURN_HISTORY_MONTHS: u32 = 6;
const CHURN_HISTORY_ACCOUNTS: usize = 1_000;
/// A cancel within this many days of an as-of date is churn; as-of dates
/// are this far apart too.
const CHURN_HORIZON_DAYS: u64 = 30;

/// Arguments of `ratewire demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the generated files, the config and the ledger go.
    #[arg(long, default_value = "demo-output")]
    dir: PathBuf,
    /// Events to generate.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Accounts to generate.
    #[arg(long, default_value_t = 10_000)]
    accounts: usize,
    /// Partitions of the events topic.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// A running broker to use (`host:port`); by default a local tansu is
    /// started for the demo and stopped after it.
    #[arg(long)]
    brokers: Option<String>,
    /// The tansu binary (default: `$RATEWIRE_TANSU`, or where
    /// `scripts/broker.sh install` puts it).
    #[arg(long)]
    tansu: Option<PathBuf>,
    /// Leave out the churn part (history, model, risk list).
    #[arg(long)]
    no_churn: bool,
}

pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    let dir = args.dir.canonicalize()?;
    let (_broker, brokers) = match &args.brokers {
        Some(b) => (None, b.clone()),
        None => {
            let broker = LocalBroker::start(&tansu_path(args.tansu.as_deref())?, &dir.join("broker"))?;
            let brokers = broker.address.clone();
            (Some(broker), brokers)
        }
    };
    println!("== broker {brokers}");

    let now = Utc::now();
    let month = Month::before(now).map_err(anyhow::Error::msg)?;
    println!("== generating {} events for {} accounts, in {month}", args.events, args.accounts);
    let percent = |p: u32| p * 10_000;
    let mix = Mix { lifecycle: percent(2), bad: percent(1), duplicate: percent(1) };
    let sample = ratewire_sample::Config { seed: 7, accounts: args.accounts, events: args.events, month, mix };
    let data = Dataset::generate(&sample);
    std::fs::write(dir.join("catalog.toml"), &data.catalog)?;
    std::fs::write(dir.join("accounts.csv"), &data.accounts)?;

    let run_id = now.format("%Y%m%d%H%M%S").to_string();
    let topic = format!("ratewire-demo-{run_id}");
    let config_path = dir.join("ratewire.toml");
    std::fs::write(&config_path, config_text(&brokers, &topic, &run_id))?;
    let config = crate::run::load_config(&config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    create_topics(
        &brokers,
        &[(&topic, args.partitions), (&config.kafka.dead_letter_topic, 1), (&config.kafka.actions_topic, 1)],
    )?;

    println!("== producing to {topic} ({} partitions), keyed by account", args.partitions);
    produce(&brokers, &topic, &data)?;

    println!("== rating: ratewire run --config {} --until-caught-up", config_path.display());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let summary = crate::run::serve(&config, Until::CaughtUp, &stop)?;
    let seconds = started.elapsed().as_secs_f64();
    crate::run::print_summary(&summary, &config);
    #[allow(clippy::cast_precision_loss, clippy::float_arithmetic)] // a rate for display
    let per_second = summary.consumed as f64 / seconds.max(0.001);
    println!("took {seconds:.1} s ({per_second:.0} events/s, including the consumer group's start)");
    println!("\nquery the ledger, e.g. with DuckDB:");
    println!(
        "  SELECT service, count(*), sum(gross) FROM read_parquet('{}/table=rated/**/*.parquet', hive_partitioning=true) GROUP BY 1;",
        config.ledger.dir.display()
    );
    if !args.no_churn {
        churn_top_ten(&dir.join("churn"), &run_id, now)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The churn models on a history of [`CHURN_HISTORY_MONTHS`] months ending
/// last month: rated with `ratewire rate` into `dir/ledger-RUN_ID`, a model
/// trained with `ratewire churn train` on as-of dates a horizon apart, and
/// the accounts scored at the end of last month with `ratewire churn
/// score`, which prints the top ten and leaves the list where `ratewire
/// sql` reads it as `churn_risk`. Each step is the command a user would
/// run, started from this binary.
fn churn_top_ten(dir: &Path, run_id: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
    let last = Month::before(now).map_err(anyhow::Error::msg)?;
    let Some(first) = months_before(last, CHURN_HISTORY_MONTHS - 1) else {
        println!("\n(no churn part: its history would start before the catalog's 2026)");
        return Ok(());
    };
    let config = HistoryConfig {
        accounts: CHURN_HISTORY_ACCOUNTS,
        first,
        months: CHURN_HISTORY_MONTHS,
        ..HistoryConfig::default()
    };
    let history = History::generate(&config);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("catalog.toml"), ratewire_sample::catalog::render(&history.world))?;
    std::fs::write(dir.join("accounts.csv"), ratewire_sample::accounts::render(&history.world))?;
    let mut events = history.events.join("\n");
    events.push('\n');
    std::fs::write(dir.join("events.jsonl"), events)?;
    println!(
        "\n== churn risk: {} months of history ({first} to {last}) for {} accounts, {} events, {} cancels",
        CHURN_HISTORY_MONTHS,
        CHURN_HISTORY_ACCOUNTS,
        history.events.len(),
        history.cancelled.len()
    );

    let exe = std::env::current_exe().context("finding the ratewire binary")?;
    let ratewire = |args: &[&str]| -> anyhow::Result<String> {
        println!("ratewire {}", args.join(" "));
        let out = Command::new(&exe)
            .args(args)
            .current_dir(dir)
            .env("RATEWIRE_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running ratewire {}", args[0]))?;
        if !out.status.success() {
            bail!(
                "ratewire {} failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    // A ledger of its own each run, as the main part has: a ledger refuses
    // to book the same input twice, and the history is generated anew.
    let ledger_dir = format!("ledger-{run_id}");
    let age_days = (now.date_naive() - first.first_day()).num_days() + 1;
    ratewire(&[
        "rate",
        "--catalog",
        "catalog.toml",
        "--accounts",
        "accounts.csv",
        "--input",
        "events.jsonl",
        "--output",
        "rated.jsonl",
        "--event-age-max-days",
        &age_days.to_string(),
        "--ledger",
        &ledger_dir,
    ])?;
    // As-of dates from two months in (a look-back to build features on)
    // until a horizon before the end, where the last labels are known.
    let from = first.first_day().checked_add_months(Months::new(2)).context("the first as-of date")?;
    let to = last.next_first_day() - Days::new(CHURN_HORIZON_DAYS + 1);
    let end = last.next_first_day() - Days::new(1);
    let (from, to, end, horizon) = (from.to_string(), to.to_string(), end.to_string(), CHURN_HORIZON_DAYS.to_string());
    let ledger = ["--ledger", &ledger_dir, "--accounts", "accounts.csv"];
    let dates = ["--from", &from, "--to", &to, "--step-days", &horizon, "--horizon-days", &horizon];
    let trained = ratewire(&[&["churn", "train"][..], &ledger, &dates, &["--model", "model.json"]].concat())?;
    let figure = |name: &str| trained.lines().find_map(|l| l.strip_prefix(name)).unwrap_or(" ?").trim().to_string();
    println!(
        "model {}: test ROC AUC {}, precision in the top 10% {} (base rate {})",
        figure("model "),
        figure("roc_auc "),
        figure("precision_at_10pct "),
        figure("base_rate ")
    );
    let scored = ratewire(&[&["churn", "score", "--model", "model.json"][..], &ledger, &["--as-of", &end]].concat())?;
    print!("{scored}");
    Ok(())
}

/// The month `n` months before `month`, if the sample catalog covers it.
fn months_before(month: Month, n: u32) -> Option<Month> {
    let index = i64::from(month.year) * 12 + i64::from(month.month) - 1 - i64::from(n);
    let text = format!("{:04}-{:02}", index.div_euclid(12), index.rem_euclid(12) + 1);
    Month::parse(&text).ok()
}

/// The config the demo runs with, written beside the data so that it can
/// be run again by hand.
fn config_text(brokers: &str, topic: &str, run_id: &str) -> String {
    format!(
        r#"# Written by `ratewire demo`; run again with `ratewire run --config ratewire.toml`.
[kafka]
brokers = "{brokers}"
group_id = "ratewire-demo-{run_id}"
topics = ["{topic}"]
dead_letter_topic = "{topic}-dead-letter"
actions_topic = "{topic}-actions"

[catalog]
catalog = "catalog.toml"
accounts = "accounts.csv"

[ledger]
dir = "ledger-{run_id}"

[http]
# A free port, so that the demo never collides with a running instance;
# the address is logged at start.
listen = "127.0.0.1:0"
"#
    )
}

fn create_topics(brokers: &str, topics: &[(&str, i32)]) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create().context("creating the admin client")?;
    let new: Vec<NewTopic<'_>> =
        topics.iter().map(|(name, p)| NewTopic::new(name, *p, TopicReplication::Fixed(1))).collect();
    let results =
        futures_executor::block_on(admin.create_topics(&new, &AdminOptions::new())).context("creating the topics")?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("creating topic {name}: {code}"),
        }
    }
    Ok(())
}

fn produce(brokers: &str, topic: &str, data: &Dataset) -> anyhow::Result<()> {
    let producer: ThreadedProducer<_> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .create()
        .context("creating the producer")?;
    let progress = ProgressBar::new(data.events.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec}").unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    for (key, payload) in data.records() {
        let mut record = BaseRecord::to(topic).key(key).payload(payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err((e, _)) => bail!("producing to {topic}: {e}"),
            }
        }
        progress.inc(1);
    }
    producer.flush(Duration::from_millis(PRODUCE_FLUSH_TIMEOUT_MS)).context("delivering the events")?;
    progress.finish_and_clear();
    Ok(())
}

fn tansu_path(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match (given, std::env::var_os("RATEWIRE_TANSU"), std::env::var_os("HOME")) {
        (Some(p), _, _) => p.to_path_buf(),
        (None, Some(p), _) => PathBuf::from(p),
        (None, None, Some(home)) => Path::new(&home).join(".cache/ratewire/tansu-0.6.0/bin/tansu"),
        (None, None, None) => bail!("no broker given and HOME is not set to find tansu; pass --brokers or --tansu"),
    };
    if !path.exists() {
        bail!("tansu is not at {}: run `bash scripts/broker.sh install`, or pass --brokers", path.display());
    }
    Ok(path)
}

/// A tansu broker on a free loopback port, stopped when dropped.
struct LocalBroker {
    child: Child,
    address: String,
}

impl LocalBroker {
    fn start(tansu: &Path, dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let url = format!("tcp://127.0.0.1:{port}");
        // In memory: the demo's broker lives as long as the demo, and
        // tansu serves fetches from memory several times faster than from
        // SQLite (about 40,000 against 4,000 events/s end to end here).
        let storage = "memory://tansu/";
        let log = std::fs::File::create(dir.join("tansu.log"))?;
        let child = Command::new(tansu)
            .args(["broker", "--cluster-id", "ratewire-demo", "--listener-url", &url])
            .args(["--advertised-listener-url", &url, "--storage-engine", storage])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", tansu.display()))?;
        let broker = Self { child, address: format!("127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_millis(BROKER_START_TIMEOUT_MS);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!(
                    "tansu did not listen within {BROKER_START_TIMEOUT_MS} ms; see {}",
                    dir.join("tansu.log").display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(broker)
    }
}

impl Drop for LocalBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
