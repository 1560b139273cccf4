//! `ratewire catalog check`.

use std::path::Path;
use std::process::ExitCode;

use ratewire_rater::{Accounts, catalog};

/// Checks a catalog (and accounts); prints every problem, exits 1 on any.
pub fn run(file: &Path, accounts: Option<&Path>) -> anyhow::Result<ExitCode> {
    let tables = match catalog::load(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    println!(
        "{}: catalog {} is valid: {} services, {} zones, {} plans, {} discounts, {} overrides",
        file.display(),
        tables.version,
        tables.services.len(),
        tables.zones.len(),
        tables.plans.len(),
        tables.discounts.len(),
        tables.overrides.iter().map(Vec::len).sum::<usize>(),
    );
    if let Some(path) = accounts {
        let checked = Accounts::load(path).and_then(|a| a.check(&tables).map(|()| a));
        match checked {
            Ok(a) => {
                println!("{}: {} accounts are valid against catalog {}", path.display(), a.list.len(), tables.version)
            }
            Err(e) => {
                eprintln!("{e}");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
