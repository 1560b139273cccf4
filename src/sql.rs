//! `ratewire sql` and `ratewire serve-sql`: SQL over the ledger, on the
//! command line and over the Postgres wire protocol (`docs/sql.md`).

use std::fs::File;
use std::io::{BufRead, BufWriter, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::builder::PossibleValuesParser;
use ratewire_analytics::{Engine, Format, STATEMENT_BYTES_MAX, ServeConfig, Source, parse, serve, write};

/// The environment variable holding `serve-sql`'s password.
pub const PASSWORD_ENV: &str = "RATEWIRE_SQL_PASSWORD";

/// `ratewire sql`.
#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    /// The SQL to run (statements separated by `;`). Without it, an
    /// interactive prompt reads statements ending in `;` from standard
    /// input; `\q` or end of input quits.
    query: Option<String>,
    /// The ledger directory.
    #[arg(long)]
    ledger: PathBuf,
    /// Accounts reference data (CSV or TOML), as the table `accounts`.
    #[arg(long)]
    accounts: Option<PathBuf>,
    /// Read the ledger as of this commit (a manifest's number) instead of
    /// the latest: a period's version before a rerate, say.
    #[arg(long)]
    as_of: Option<u64>,
    /// How to write results.
    #[arg(long, default_value = "table", value_parser = PossibleValuesParser::new(Format::ALL.map(Format::name)))]
    format: String,
    /// Write the result to this file instead of standard output (needed
    /// for parquet; only with a QUERY).
    #[arg(long)]
    output: Option<PathBuf>,
}

/// `ratewire serve-sql`.
#[derive(Debug, clap::Args)]
pub struct ServeSqlArgs {
    /// The ledger directory.
    #[arg(long)]
    ledger: PathBuf,
    /// Accounts reference data (CSV or TOML), as the table `accounts`.
    #[arg(long)]
    accounts: Option<PathBuf>,
    /// Where to listen; port 0 picks a free port (printed at start).
    #[arg(long, default_value = "127.0.0.1:5433")]
    listen: SocketAddr,
    /// The user name clients log in with; the password is taken from
    /// the environment variable RATEWIRE_SQL_PASSWORD.
    #[arg(long)]
    user: String,
}

/// Runs `ratewire sql`.
pub fn run(args: &SqlArgs) -> anyhow::Result<ExitCode> {
    let format: Format = args.format.parse().map_err(anyhow::Error::msg)?;
    if format == Format::Parquet && args.output.is_none() {
        bail!("the parquet format needs --output FILE");
    }
    let mut source = Source::open(&args.ledger, args.accounts.as_deref()).map_err(flat)?;
    if let Some(sequence) = args.as_of {
        source = source.as_of(sequence).map_err(flat)?;
    }
    let engine = Engine::new(source).map_err(flat)?;
    match &args.query {
        Some(sql) => {
            match &args.output {
                Some(path) => to_file(&engine, sql, format, path)?,
                None => run_sql(&engine, sql, format, &mut BufWriter::new(std::io::stdout()))?,
            }
            Ok(ExitCode::SUCCESS)
        }
        None if args.output.is_some() => bail!("--output needs a QUERY; the prompt writes to standard output"),
        None => prompt(&engine, format),
    }
}

/// Runs `sql` and writes every result to `out`. The formats other than
/// `table` take one statement, since their output holds one result.
fn run_sql(engine: &Engine, sql: &str, format: Format, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let statements = parse(sql).map_err(flat)?;
    if format != Format::Table && statements.len() > 1 {
        bail!(
            "{} statements, but the {} format writes one result; run them one at a time",
            statements.len(),
            format.name()
        );
    }
    for statement in &statements {
        let rows = engine.query(statement).map_err(flat)?;
        write(format, &rows.schema(), rows, out).map_err(flat)?;
    }
    Ok(())
}

/// Writes the result to `path`, removing the file again if it fails.
fn to_file(engine: &Engine, sql: &str, format: Format, path: &Path) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let result = run_sql(engine, sql, format, &mut BufWriter::new(file));
    if result.is_err() {
        // Best effort: the error that matters is the query's.
        let _ = std::fs::remove_file(path);
    }
    result
}

/// The interactive prompt: statements ending in `;`, each run on the
/// ledger's latest commit, errors printed and the prompt going on. Exits 1
/// if any statement failed.
fn prompt(engine: &Engine, format: Format) -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut out = BufWriter::new(std::io::stdout());
    let mut pending = String::new();
    let mut failed = false;
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            let marker = if blank(&pending) { "ratewire=> " } else { "ratewire-> " };
            write!(out, "{marker}")?;
            out.flush()?;
        }
        let Some(line) = lines.next().transpose()? else { break };
        if blank(&pending) && matches!(line.trim(), "\\q" | "quit" | "exit") {
            break;
        }
        pending.push_str(&line);
        pending.push('\n');
        if let Some(end) = complete_up_to(&pending) {
            let sql: String = pending.drain(..end).collect();
            failed |= !run_printing_errors(engine, &sql, format, &mut out);
        } else if pending.len() > STATEMENT_BYTES_MAX {
            eprintln!("error: a statement of more than {STATEMENT_BYTES_MAX} bytes; discarded");
            pending.clear();
            failed = true;
        }
    }
    if !blank(&pending) {
        // End of input after a last statement without its `;`.
        failed |= !run_printing_errors(engine, &pending, format, &mut out);
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn run_printing_errors(engine: &Engine, sql: &str, format: Format, out: &mut (dyn Write + Send)) -> bool {
    match run_sql(engine, sql, format, out) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("error: {}", crate::error_text::error_text(e.as_ref()));
            false
        }
    }
}

/// Whether `text` holds nothing but whitespace and `--` comments.
fn blank(text: &str) -> bool {
    text.lines().all(|line| line.split("--").next().unwrap_or_default().trim().is_empty())
}

/// The length of `text` up to and including its last `;` that ends a
/// statement: outside quotes, quoted identifiers and comments.
fn complete_up_to(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut end = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                // '' inside a string is a quote, read as two strings.
                i = bytes[i + 1..].iter().position(|b| *b == quote).map_or(bytes.len(), |p| i + 1 + p);
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = bytes[i..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |p| i + p);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..].find("*/").map_or(bytes.len(), |p| i + 2 + p + 1);
            }
            b';' => end = Some(i + 1),
            _ => {}
        }
        i += 1;
    }
    end
}

/// An analytics error as its message alone, which already names its
/// causes (main prints a chain of sources after it).
fn flat(error: ratewire_analytics::Error) -> anyhow::Error {
    anyhow::anyhow!("{error}")
}

/// Runs `ratewire serve-sql` until the process is stopped.
pub fn serve_sql(args: &ServeSqlArgs) -> anyhow::Result<ExitCode> {
    let password = std::env::var(PASSWORD_ENV).unwrap_or_default();
    if password.is_empty() {
        bail!("set the password in the environment variable {PASSWORD_ENV}");
    }
    let source = Source::open(&args.ledger, args.accounts.as_deref()).map_err(flat)?;
    let config = ServeConfig { listen: args.listen, user: args.user.clone(), password };
    let serving = serve(source, &config, |addr| {
        // The one line on standard output: scripts and tests read the port.
        println!("listening on {addr}");
        let _ = std::io::stdout().flush();
        log::info!("serving the ledger {} to user {} on {addr}", args.ledger.display(), args.user);
    });
    serving.map_err(flat)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_end_at_a_semicolon_outside_quotes_and_comments() {
        assert_eq!(complete_up_to("select 1"), None);
        assert_eq!(complete_up_to("select 1;"), Some(9));
        assert_eq!(complete_up_to("select 1; select 2;\n"), Some(19));
        assert_eq!(complete_up_to("select ';'"), None);
        assert_eq!(complete_up_to("select 'it''s;'"), None);
        assert_eq!(complete_up_to("select \"a;b\" from t"), None);
        assert_eq!(complete_up_to("select 1 -- no;\n"), None);
        assert_eq!(complete_up_to("select /* ; */ 1"), None);
        assert_eq!(complete_up_to("select /* ; */ 1;"), Some(17));
        assert_eq!(complete_up_to("select 'open;"), None);
    }

    #[test]
    fn comments_alone_are_blank() {
        assert!(blank(" -- done\n\n"));
        assert!(!blank("select 1 -- one\n"));
    }
}
