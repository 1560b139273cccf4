//! `ratewire ledger push` and `ratewire ledger pull`: a ledger mirrored to
//! object storage, S3 or an S3-compatible server, or a directory
//! (`docs/object-store.md`). Prints what was copied.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ratewire_store::{Remote, Report};

/// `ratewire ledger ...`.
#[derive(Debug, clap::Subcommand)]
pub enum LedgerCommand {
    /// Copy the commits a remote lacks from a ledger directory, each
    /// commit's files before its manifest. Runs beside the writer.
    Push {
        /// The ledger directory.
        #[arg(long)]
        ledger: PathBuf,
        /// The remote: s3://bucket/prefix (configured by the AWS_*
        /// environment variables) or file:///absolute/path.
        #[arg(long)]
        to: String,
    },
    /// Copy the commits a ledger directory lacks from a remote (creating
    /// the directory if need be), for restoring a ledger or reading it
    /// elsewhere; refuses a directory that holds another ledger.
    Pull {
        /// The remote: s3://bucket/prefix or file:///absolute/path.
        #[arg(long)]
        from: String,
        /// The ledger directory.
        #[arg(long)]
        ledger: PathBuf,
    },
}

/// Runs `ratewire ledger ...`.
pub fn run(command: &LedgerCommand) -> anyhow::Result<ExitCode> {
    match command {
        LedgerCommand::Push { ledger, to } => {
            let remote = Remote::parse(to)?;
            let report = ratewire_store::push(ledger, &remote)
                .with_context(|| format!("pushing {} to {remote}", ledger.display()))?;
            print_report(&report, &format!("pushed {} to {remote}", ledger.display()));
        }
        LedgerCommand::Pull { from, ledger } => {
            let remote = Remote::parse(from)?;
            let report = ratewire_store::pull(&remote, ledger)
                .with_context(|| format!("pulling {remote} into {}", ledger.display()))?;
            print_report(&report, &format!("pulled {remote} into {}", ledger.display()));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(report: &Report, what: &str) {
    if report.commits == 0 {
        println!("{what}: nothing to copy, both are at commit {}", report.after);
    } else if report.commits == 1 {
        println!("{what}: commit {}", report.after);
    } else {
        println!("{what}: commits {}..={}", report.before + 1, report.after);
    }
    println!("commits {}", report.commits);
    println!("files {}", report.files);
    println!("checkpoints {}", report.checkpoints);
    println!("bytes {}", report.bytes);
    if report.files_present > 0 {
        println!("files already there {}", report.files_present);
    }
    if report.files_skipped > 0 {
        println!("files skipped (removed by a later commit, gone from the trash) {}", report.files_skipped);
    }
    if report.trashed > 0 {
        println!("files moved to the trash {}", report.trashed);
    }
    if report.trash_purged > 0 {
        println!("trash directories deleted {}", report.trash_purged);
    }
    if report.checkpoint_missing {
        println!(
            "warning: commit {} has no checkpoint at the destination (the source no longer had it): readers can use \
             it, a writer can resume from it after the next complete push",
            report.after
        );
    }
}
