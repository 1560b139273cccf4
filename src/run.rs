//! `ratewire run --config ratewire.toml`: the streaming pipeline, Kafka to
//! the ledger, until SIGTERM (or SIGINT), which drains, commits and exits.
//!
//! SIGHUP, a change of the catalog or accounts file when `watch` is on, or
//! `POST /admin/reload` reloads the reference data, all through [`reload`]:
//! the new files are checked first, and a refused pair leaves the running
//! one in force.
//!
//! The HTTP endpoint (`http.listen`, see `crate::http`) runs beside the
//! pipeline on its own thread and stops with it. With `ledger.mirror_url`
//! set, so does the mirror (`crate::mirror`), which pushes the ledger to
//! object storage and, once the pipeline has stopped, pushes its last
//! commits before the process exits.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use log::{error, info, warn};
use ratewire_ingest::config::{Config, ConfigError};
use ratewire_ingest::{
    Handoff, KafkaOptions, KafkaSideOutput, KafkaSource, Metrics, Options, Pipeline, ReadyCheck, ReferenceHandle,
    Summary, Until,
};
use ratewire_ledger::{Ledger, WriterConfig};
use ratewire_rater::Name;
use ratewire_rater::dedup::EventIds;

/// How often the reload thread looks at the signal flag and the files.
const RELOAD_CHECK_INTERVAL_MS: u64 = 1000;

/// Arguments of `ratewire run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The config file (TOML); see `docs/config.md`.
    #[arg(long)]
    config: PathBuf,
    /// Exit once every message available at the time has been committed
    /// (for backfills and tests) instead of running until SIGTERM.
    #[arg(long)]
    until_caught_up: bool,
}

/// Reads the configuration of `ratewire run` from `path`, with the
/// environment's overrides and the binary's checks (`ledger.mirror_url`).
///
/// # Errors
/// The configuration is refused, with every problem.
pub fn load_config(path: &Path) -> Result<Config, ConfigError> {
    Config::load_with(path, &crate::mirror::check_config)
}

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let config = match load_config(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone()).context("installing the signal handlers")?;
    }
    let until = if args.until_caught_up { Until::CaughtUp } else { Until::Stopped };
    let summary = serve(&config, until, &stop)?;
    print_summary(&summary, &config);
    Ok(ExitCode::SUCCESS)
}

/// Runs the pipeline of `config` until `until`.
pub fn serve(config: &Config, until: Until, stop: &Arc<AtomicBool>) -> anyhow::Result<Summary> {
    let reference = ReferenceHandle::open(&config.catalog.catalog, &config.catalog.accounts)
        .context("loading the catalog and accounts")?;
    let reference = Arc::new(reference);
    let metrics = Arc::new(Metrics::new()?);
    metrics.watch_catalog(reference.clone());
    let writer = WriterConfig { row_group_rows: config.ledger.row_group_rows, zstd_level: config.ledger.zstd_level };
    let root = &config.ledger.dir;
    let instance = &config.ledger.instance;
    let member_dir = (!instance.is_empty()).then(|| Handoff::member_dir(root, instance));
    let dir = member_dir.as_ref().unwrap_or(root);
    let (ledger, recovery) =
        Ledger::open_with(dir, &writer).with_context(|| format!("opening the ledger {}", dir.display()))?;
    for removed in &recovery.removed {
        warn!("removed {} (a commit that did not finish)", removed.display());
    }
    let mut ids = EventIds::default();
    ledger.for_each_event_id(|id| ids.insert(id)).context("reading the event ids in the ledger")?;
    info!(
        "ledger {}: commit {}, {} event ids, resuming {} partitions",
        dir.display(),
        recovery.sequence,
        ids.len(),
        recovery.offsets.len()
    );

    let kafka = kafka_options(config);
    let mut source = if member_dir.is_some() {
        KafkaSource::handing_over(&kafka, &recovery.offsets, metrics.clone())?
    } else {
        KafkaSource::new(&kafka, &recovery.offsets, metrics.clone())?
    };
    let side = KafkaSideOutput::new(&kafka)?;
    let p = &config.pipeline;
    let options = Options {
        rate_workers: p.rate_workers,
        batch_messages_max: p.batch_messages_max,
        queue_batches_max: p.queue_batches_max,
        commit_interval_ms: config.ledger.commit_interval_ms,
        commit_rows_max: config.ledger.commit_rows_max as u64,
        message_bytes_max: p.message_bytes_max,
        rater: p.rater(),
    };
    let mut pipeline = Pipeline::new(ledger, recovery.checkpoint, ids, Box::new(side), reference.clone(), options)
        .with_metrics(metrics.clone());
    if member_dir.is_some() {
        info!(
            "instance {instance} of the shared ledger {}: partitions move in and out with their state",
            root.display()
        );
        let wait = Duration::from_millis(config.ledger.handoff_wait_ms);
        pipeline = pipeline.with_handoff(Handoff::new(root, instance, wait));
    }

    let token = crate::http::Token::from_env(&config.http.reload_token_env);
    if let crate::http::Token::Disabled { var } = &token {
        info!("POST /admin/reload is disabled: ${var} is not set");
    }
    let endpoint = crate::http::Endpoint {
        metrics: &metrics,
        reference: &reference,
        ready: ReadyCheck { lag_max_messages: config.http.ready_lag_max_messages, ledger_dir: dir.clone() },
        token,
    };

    let pipeline_done = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone()).context("installing SIGHUP")?;
    let mirror = match config.ledger.mirror_url.as_str() {
        "" => None,
        url => {
            let remote = crate::mirror::remote_for(url, root, dir)?;
            let interval = config.ledger.mirror_interval();
            info!("mirror: pushing {} to {remote} every {} ms", dir.display(), interval.as_millis());
            let mirror = crate::mirror::Mirror::start(dir.clone(), remote, interval, metrics.clone());
            Some(mirror.context("starting the mirror's thread")?)
        }
    };
    let result = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| watch(&reference, &metrics, &hup, config.catalog.watch, &pipeline_done));
        let http = scope.spawn(|| crate::http::run(config.http.listen, &endpoint, &pipeline_done));
        let result = pipeline.run(&mut source, until, stop, &mut |c| {
            if c.consumed > 0 {
                info!(
                    "commit {}: {} consumed, {} rated, {} rejected, {} actions",
                    c.sequence, c.consumed, c.rated, c.rejected, c.actions
                );
            }
        });
        pipeline_done.store(true, Ordering::Relaxed);
        let _ = watcher.join();
        let _ = http.join();
        result.map_err(anyhow::Error::from)
    });
    // After the last commit, whether the run ended well or not: the
    // mirror gets what the ledger has.
    if let Some(mirror) = mirror {
        mirror.finish(Duration::from_millis(crate::mirror::FINAL_PUSH_TIMEOUT_MS));
    }
    result
}

/// Reloads the reference data on SIGHUP or a file change, until `done`.
fn watch(reference: &ReferenceHandle, metrics: &Metrics, hup: &AtomicBool, files: bool, done: &AtomicBool) {
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(RELOAD_CHECK_INTERVAL_MS));
        if hup.swap(false, Ordering::Relaxed) {
            let _ = reload(reference, metrics, "SIGHUP");
        } else if files && reference.changed() {
            let _ = reload(reference, metrics, "a file change");
        }
    }
}

/// Reloads the catalog and accounts because of `cause`, logs and counts
/// the outcome: the one path of SIGHUP, file changes and `POST /admin/reload`.
///
/// # Errors
/// The reload was refused; the running pair stays in force.
pub fn reload(reference: &ReferenceHandle, metrics: &Metrics, cause: &str) -> Result<Name, ratewire_ingest::Error> {
    let result = reference.reload();
    metrics.catalog_reloaded(result.is_ok());
    match &result {
        Ok(version) => info!("reloaded the catalog and accounts ({cause}): catalog version {version} in force"),
        Err(e) => error!("reload ({cause}) refused, the running catalog stays in force: {e}"),
    }
    result
}

fn kafka_options(config: &Config) -> KafkaOptions {
    let k = &config.kafka;
    KafkaOptions {
        brokers: k.brokers.clone(),
        group_id: k.group_id.clone(),
        topics: k.topics.clone(),
        dead_letter_topic: k.dead_letter_topic.clone(),
        actions_topic: k.actions_topic.clone(),
        fetch_max_bytes: u64::from(k.fetch_max_bytes),
        fetch_wait_max_ms: k.fetch_wait_max_ms,
        properties: k.properties.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
    }
}

pub fn print_summary(s: &Summary, config: &Config) {
    println!("events consumed  {:>10}", s.consumed);
    println!("events rejected  {:>10}", s.rejected);
    println!("records rated    {:>10}", s.rated);
    println!("actions          {:>10}", s.actions);
    for (code, n) in &s.rejected_by_code {
        println!("  {:<28}{n:>8}", format!("{} {}", code.number(), code.name()));
    }
    println!("gross by service:");
    for ((service, currency), gross) in s.gross_by_service.iter().filter(|(_, g)| !g.is_zero()) {
        println!("  {service:<28}{gross:>14} {currency}");
    }
    let dir = &config.ledger.dir;
    let dir =
        if config.ledger.instance.is_empty() { dir.clone() } else { Handoff::member_dir(dir, &config.ledger.instance) };
    println!("ledger commits   {:>10}  -> {}", s.commits, dir.display());
    for p in &s.positions {
        println!("  {}[{}] committed up to offset {}", p.source, p.partition, p.to);
    }
}
