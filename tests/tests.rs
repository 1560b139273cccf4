//! End-to-end tests of the `ratewire` binary, one module per topic.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

mod batch;
mod catalog_check;
mod ledger;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the binary with `args` in `dir`.
pub fn ratewire(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ratewire")).args(args).current_dir(dir).output().expect("the binary runs")
}

/// A golden case folder of the rater crate.
pub fn case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rater/tests/cases").join(name)
}

/// Text of stdout and stderr together, for messages.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}
