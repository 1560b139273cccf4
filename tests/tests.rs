//! End-to-end tests of the `ratewire` binary, one module per topic.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

mod batch;
mod catalog_check;
mod churn;
mod churn_report;
mod close;
mod compact;
mod config_check;
mod demo;
mod kafka;
mod ledger;
mod mirror;
mod ops;
mod report;
mod rerate;
mod scaleout;
mod sql;
mod store;
mod streaming;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the binary with `args` in `dir`.
pub fn ratewire(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ratewire")).args(args).current_dir(dir).output().expect("the binary runs")
}

/// `ratewire rate` on `catalog.toml`, `accounts.csv` and `events.jsonl` in
/// `dir`, writing `rated.jsonl` beside them, with `extra` arguments.
pub fn rate_files(dir: &Path, extra: &[&str]) -> Output {
    let args = ["rate", "--catalog", "catalog.toml", "--accounts", "accounts.csv", "--input", "events.jsonl"];
    ratewire(dir, &[&args[..], &["--output", "rated.jsonl"], extra].concat())
}

/// A golden case folder of the rater crate.
pub fn case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rater/tests/cases").join(name)
}

/// Text of stdout and stderr together, for messages.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The project's Python venv, with the independent readers and clients the
/// tests check against (`scripts/setup.sh`): `RATEWIRE_VENV`, by default
/// `~/.cache/ratewire/venv`.
pub fn venv() -> PathBuf {
    std::env::var_os("RATEWIRE_VENV").map_or_else(
        || Path::new(&std::env::var_os("HOME").expect("HOME is set")).join(".cache/ratewire/venv"),
        PathBuf::from,
    )
}

/// The venv's Python for `checks`, or `None`, saying that they are skipped,
/// when there is no venv.
pub fn venv_python(checks: &str) -> Option<PathBuf> {
    let venv = venv();
    let python = venv.join("bin/python");
    if python.exists() {
        Some(python)
    } else {
        eprintln!("SKIPPED {checks}: no Python venv at {}; run scripts/setup.sh", venv.display());
        None
    }
}
