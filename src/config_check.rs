//! `ratewire config check`.

use std::path::Path;
use std::process::ExitCode;

use ratewire_ingest::config;
use ratewire_rater::{Accounts, catalog};

/// Checks a configuration file as `ratewire run` would read it (with the
/// environment's overrides), and the catalog and accounts it names. Prints
/// `FILE: ok` and the effective configuration, or every problem and exits 1.
pub fn run(file: &Path) -> anyhow::Result<ExitCode> {
    let config = match crate::run::load_config(file) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    // `ratewire run` refuses to start without a valid catalog and accounts.
    let reference = catalog::load(&config.catalog.catalog).and_then(|tables| {
        let accounts = Accounts::load(&config.catalog.accounts)?;
        accounts.check(&tables)?;
        Ok((tables, accounts))
    });
    let (tables, accounts) = match reference {
        Ok(reference) => reference,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    println!("{}: ok", file.display());
    println!("{}: catalog {} is valid", config.catalog.catalog.display(), tables.version);
    println!("{}: {} accounts are valid", config.catalog.accounts.display(), accounts.list.len());
    println!();
    println!("# The effective configuration: defaults filled in, environment applied, paths resolved.");
    for o in config::env_overrides() {
        if std::env::var_os(&o.var).is_some() {
            println!("# {} is set by {}", o.field, o.var);
        }
    }
    print!("{config}");
    Ok(ExitCode::SUCCESS)
}
