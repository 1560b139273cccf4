//! `ratewire churn`: churn features from the ledger, training, scoring and
//! the model report (`docs/churn.md`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use ratewire_analytics::churn::{self, ModelFile, Split, Table, features};
use ratewire_analytics::{Engine, Format, Source, write};

/// `ratewire churn`.
#[derive(Debug, clap::Subcommand)]
pub enum ChurnCommand {
    /// Build the churn feature table from a ledger and write it (CSV or
    /// Parquet, by the file's extension).
    Features(FeaturesArgs),
    /// Train the logistic regression and the tree, keep the better by
    /// validation ROC AUC, print its test figures and save it.
    Train(TrainArgs),
    /// Score accounts with a model: the ranked risk list as Parquet and CSV
    /// (by default in the ledger's analytics/, where SQL reads it as the
    /// table churn_risk).
    Score(ScoreArgs),
    /// Write a model's report: an HTML page with its curves and weights.
    Report(ReportArgs),
}

/// The ledger and the as-of dates features are built for.
#[derive(Debug, clap::Args)]
pub struct LedgerArgs {
    /// The ledger directory.
    #[arg(long)]
    ledger: Option<PathBuf>,
    /// Accounts reference data (CSV or TOML); needed with --ledger.
    #[arg(long)]
    accounts: Option<PathBuf>,
    /// The first as-of date (YYYY-MM-DD).
    #[arg(long)]
    from: Option<NaiveDate>,
    /// The last as-of date (YYYY-MM-DD); the first by default.
    #[arg(long)]
    to: Option<NaiveDate>,
    /// Days between as-of dates; at least the horizon, for the time split.
    #[arg(long, default_value_t = 30)]
    step_days: u32,
    /// A cancel within this many days after an as-of date is churn.
    #[arg(long, default_value_t = 30)]
    horizon_days: u32,
}

/// `ratewire churn features`.
#[derive(Debug, clap::Args)]
pub struct FeaturesArgs {
    #[command(flatten)]
    ledger: LedgerArgs,
    /// The feature table to write (.csv or .parquet).
    #[arg(long)]
    output: PathBuf,
}

/// `ratewire churn train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// A feature table (.csv or .parquet) to train on instead of the
    /// ledger's features, with a stratified holdout.
    #[arg(long, conflicts_with = "ledger")]
    features: Option<PathBuf>,
    /// The label column of --features (1/0, true/false or yes/no).
    #[arg(long, requires = "features")]
    label: Option<String>,
    #[command(flatten)]
    ledger: LedgerArgs,
    /// Where to save the model (JSON).
    #[arg(long)]
    model: PathBuf,
    /// The seed of the stratified split.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Also write which part each row went to (train, validation, test),
    /// one line per row after a header, for comparisons.
    #[arg(long)]
    split_out: Option<PathBuf>,
}

/// `ratewire churn score`.
#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// A feature table to score instead of the ledger's accounts.
    #[arg(long, conflicts_with = "ledger")]
    features: Option<PathBuf>,
    /// The ledger directory.
    #[arg(long)]
    ledger: Option<PathBuf>,
    /// Accounts reference data (CSV or TOML); needed with --ledger.
    #[arg(long)]
    accounts: Option<PathBuf>,
    /// The as-of date to score at (YYYY-MM-DD); needed with --ledger.
    #[arg(long)]
    as_of: Option<NaiveDate>,
    /// The directory to write churn_risk.parquet and churn_risk.csv into.
    /// With --ledger, by default the ledger's analytics/ directory, where
    /// `ratewire sql` reads the list as the table churn_risk.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Rows of the list to print.
    #[arg(long, default_value_t = 10)]
    top: usize,
}

/// `ratewire churn report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// The HTML page to write.
    #[arg(long)]
    output: PathBuf,
    /// The page's title.
    #[arg(long, default_value = "Churn model")]
    title: String,
}

/// Runs a `ratewire churn` command.
pub fn run(command: &ChurnCommand) -> anyhow::Result<ExitCode> {
    match command {
        ChurnCommand::Features(args) => {
            let table = ledger_features(&args.ledger)?;
            write_table(&table, &args.output)?;
            println!("{}: {} rows, {} columns", args.output.display(), table.rows(), table.columns.len());
        }
        ChurnCommand::Train(args) => train(args)?,
        ChurnCommand::Score(args) => score(args)?,
        ChurnCommand::Report(args) => {
            let file = ModelFile::load(&args.model)?;
            std::fs::write(&args.output, churn::report::render(&file, &args.title))
                .with_context(|| format!("writing {}", args.output.display()))?;
            println!("{}", args.output.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The feature table of the ledger's accounts at the as-of dates.
fn ledger_features(args: &LedgerArgs) -> anyhow::Result<Table> {
    let (Some(ledger), Some(accounts)) = (&args.ledger, &args.accounts) else {
        bail!("give --ledger DIR and --accounts FILE (or --features FILE)");
    };
    let Some(from) = args.from else { bail!("give the first as-of date with --from YYYY-MM-DD") };
    let dates = features::dates(from, args.to.unwrap_or(from), args.step_days)?;
    let engine = Engine::new(Source::open(ledger, Some(accounts)).map_err(flat)?).map_err(flat)?;
    Ok(features::build(&engine, &dates, args.horizon_days)?)
}

fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let (table, label, keep_out, split) = match &args.features {
        Some(path) => {
            let Some(label) = args.label.clone() else { bail!("give the label column with --label COLUMN") };
            let table = Table::read(path)?;
            let labels = churn::labels(&table, &label)?;
            let split = Split::stratified(&labels, &label, args.seed)?;
            (table, label, Vec::new(), split)
        }
        None => {
            let table = ledger_features(&args.ledger)?;
            let split = features::time_split(&table, args.ledger.horizon_days)?;
            (table, features::LABEL.to_string(), features::KEYS.to_vec(), split)
        }
    };
    let file = churn::train(&table, &label, &keep_out, &split)?;
    file.save(&args.model)?;
    if let Some(path) = &args.split_out {
        let mut text = String::from("row,part\n");
        for (row, part) in split.parts(table.rows()).iter().enumerate() {
            text.push_str(&format!("{row},{part}\n"));
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let t = &file.test;
    println!("roc_auc {:.4}", t.roc_auc);
    println!("precision_at_5pct {:.4}", t.precision_at_5pct);
    println!("precision_at_10pct {:.4}", t.precision_at_10pct);
    println!("base_rate {:.4}", t.base_rate);
    println!("brier {:.4}", t.brier);
    println!("test_rows {} churners {}", t.rows, t.positives);
    println!("model {}", file.model.kind().name());
    for (kind, auc) in &file.validation_roc_auc {
        println!("validation_roc_auc_{kind} {auc:.4}");
    }
    for (kind, auc) in &file.test_roc_auc {
        println!("test_roc_auc_{kind} {auc:.4}");
    }
    println!("split {}", file.split);
    for ignored in &file.schema.ignored {
        println!("ignored {} ({})", ignored.column, ignored.reason);
    }
    println!("saved {}", args.model.display());
    Ok(())
}

fn score(args: &ScoreArgs) -> anyhow::Result<()> {
    let output = match (&args.output, &args.ledger) {
        (Some(dir), _) => dir.clone(),
        (None, Some(ledger)) => churn::risk_list_dir(ledger),
        (None, None) => bail!("give the directory for the risk list with --output DIR"),
    };
    let file = ModelFile::load(&args.model)?;
    let (table, keys): (Table, Vec<&str>) = match &args.features {
        Some(path) => {
            let table = Table::read(path)?;
            let keys = file.schema.ignored.iter().map(|i| i.column.as_str()).collect();
            (table, keys)
        }
        None => {
            let Some(as_of) = args.as_of else { bail!("give the as-of date with --as-of YYYY-MM-DD") };
            let ledger = LedgerArgs {
                ledger: args.ledger.clone(),
                accounts: args.accounts.clone(),
                from: Some(as_of),
                to: Some(as_of),
                step_days: 1,
                horizon_days: 0,
            };
            (ledger_features(&ledger)?, features::risk_keys())
        }
    };
    let list = churn::score(&file, &table, &keys)?;
    std::fs::create_dir_all(&output).with_context(|| format!("creating {}", output.display()))?;
    for (format, name) in [(Format::Parquet, churn::RISK_LIST_PARQUET), (Format::Csv, churn::RISK_LIST_CSV)] {
        replace_file(&output.join(name), |out| {
            write(format, &list.schema(), std::iter::once(Ok(list.clone())), out).map_err(flat)?;
            Ok(())
        })?;
    }
    let top = list.slice(0, args.top.min(list.num_rows()));
    write(Format::Table, &top.schema(), std::iter::once(Ok(top.clone())), &mut std::io::stdout()).map_err(flat)?;
    let in_sql = match &args.ledger {
        Some(ledger) if output == churn::risk_list_dir(ledger) => format!(" (the table {})", churn::RISK_TABLE),
        _ => String::new(),
    };
    println!("{} accounts scored; the list is in {}{in_sql}", list.num_rows(), output.display());
    Ok(())
}

/// Writes `path` whole or not at all: to a file beside it, renamed over
/// it once complete, so that a reader (a `churn_risk` query) sees the old
/// list or the new one.
fn replace_file(path: &Path, fill: impl FnOnce(&mut (dyn Write + Send)) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    let result = File::create(&temp).with_context(|| format!("creating {}", temp.display())).and_then(|file| {
        let mut out = BufWriter::new(file);
        fill(&mut out)?;
        let file =
            out.into_inner().map_err(|e| e.into_error()).with_context(|| format!("writing {}", temp.display()))?;
        file.sync_all().with_context(|| format!("writing {}", temp.display()))?;
        std::fs::rename(&temp, path).with_context(|| format!("renaming {} to {}", temp.display(), path.display()))
    });
    if result.is_err() {
        // Best effort: the error that matters is the write's.
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Writes a table as CSV or Parquet, by the path's extension.
fn write_table(table: &Table, path: &Path) -> anyhow::Result<()> {
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => Format::Csv,
        Some("parquet") => Format::Parquet,
        _ => bail!("{}: write the features to a .csv or .parquet file", path.display()),
    };
    let batch = table.to_batch()?;
    let out = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    write(format, &batch.schema(), std::iter::once(Ok(batch.clone())), &mut BufWriter::new(out)).map_err(flat)?;
    Ok(())
}

/// An analytics error as its message alone.
fn flat(error: ratewire_analytics::Error) -> anyhow::Error {
    anyhow::anyhow!("{error}")
}
