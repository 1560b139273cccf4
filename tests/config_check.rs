//! `ratewire config check`.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use super::text;

/// `ratewire config check FILE` in `dir`, with no `RATEWIRE_` variable of
/// the test's own environment and `vars` added.
fn check(dir: &Path, file: &str, vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ratewire"));
    command.args(["config", "check", file]).current_dir(dir);
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("RATEWIRE_") {
            command.env_remove(var);
        }
    }
    command.envs(vars.iter().copied()).output().expect("the binary runs")
}

/// A directory with the deploy example's catalog and accounts and `config`
/// as `ratewire.toml`.
fn with_reference(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples");
    for file in ["catalog.toml", "accounts.csv"] {
        fs::copy(examples.join(file), dir.path().join(file)).unwrap();
    }
    fs::write(dir.path().join("ratewire.toml"), config).unwrap();
    dir
}

#[test]
fn the_deploy_example_passes_and_prints_the_effective_config() {
    let out = check(Path::new(env!("CARGO_MANIFEST_DIR")), "deploy/examples/ratewire.toml", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "deploy/examples/ratewire.toml: ok");
    assert_eq!(lines[1], "deploy/examples/catalog.toml: catalog 2026-11-a is valid");
    assert!(lines[2].starts_with("deploy/examples/accounts.csv: ") && lines[2].ends_with(" accounts are valid"));
    for line in ["[kafka]", "brokers = \"127.0.0.1:9092\"", "dir = \"deploy/examples/ledger\"", "rate_workers = 2"] {
        assert!(lines.contains(&line), "{line} not in\n{stdout}");
    }
}

#[test]
fn a_config_with_only_brokers_passes() {
    let dir = with_reference("[kafka]\nbrokers = \"kafka-0:9092\"\n");
    let out = check(dir.path(), "ratewire.toml", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("brokers = \"kafka-0:9092\"\n"), "{}", text(&out));
}

#[test]
fn env_overrides_are_applied_and_named() {
    let dir = with_reference("[pipeline]\nrate_workers = 3\n");
    let out = check(dir.path(), "ratewire.toml", &[("RATEWIRE_PIPELINE_RATE_WORKERS", "6")]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("# pipeline.rate_workers is set by RATEWIRE_PIPELINE_RATE_WORKERS\n"), "{stdout}");
    assert!(stdout.contains("rate_workers = 6\n"), "{stdout}");
}

#[test]
fn every_problem_is_reported_and_the_check_fails() {
    let dir = with_reference(
        "[kafka]\ntopics = [\"in\", \"ratewire-actions\"]\n[ledger]\ncommit_interval_ms = 0\n[pipline]\nrate_workers = 2\n",
    );
    let out = check(dir.path(), "ratewire.toml", &[("RATEWIRE_PIPELINE_QUEUE_BATCHES_MAX", "2000")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    assert_eq!(
        lines[0],
        "ratewire.toml:2:10: kafka.actions_topic: \"ratewire-actions\" is also an input topic; \
         its messages would be read back as events"
    );
    assert_eq!(lines[1], "ratewire.toml:4:22: ledger.commit_interval_ms: 0 is out of range (10 to 600000)");
    assert!(lines[2].starts_with("ratewire.toml:5:2: unknown field `pipline`"), "{stderr}");
    assert_eq!(
        lines[3],
        "env RATEWIRE_PIPELINE_QUEUE_BATCHES_MAX: pipeline.queue_batches_max: 2000 is out of range (1 to 1024)"
    );
}

#[test]
fn a_bad_catalog_fails_the_check() {
    let dir = with_reference("[catalog]\ncatalog = \"tariffs.toml\"\n");
    let out = check(dir.path(), "ratewire.toml", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("tariffs.toml: "), "{}", text(&out));
    let good = fs::read_to_string(dir.path().join("catalog.toml")).unwrap();
    fs::write(dir.path().join("tariffs.toml"), good.replacen("currency = \"EUR\"", "currency = \"EURO\"", 1)).unwrap();
    let out = check(dir.path(), "ratewire.toml", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().find(|l| l.contains("currency \"EURO\"")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.starts_with("tariffs.toml:"), "{stderr}");
}

#[test]
fn secrets_are_never_printed() {
    let dir = with_reference("[kafka.properties]\n\"sasl.username\" = \"svc\"\n\"sasl.password\" = \"hunter2\"\n");
    let out = check(dir.path(), "ratewire.toml", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let all = text(&out);
    assert!(!all.contains("hunter2"), "{all}");
    assert!(all.contains("\"sasl.password\" = \"********\""), "{all}");
    assert!(all.contains("\"sasl.username\" = \"svc\""), "{all}");
}

#[test]
fn a_missing_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = check(dir.path(), "nowhere.toml", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("nowhere.toml: "), "{}", text(&out));
}

#[test]
fn a_mirror_url_the_store_refuses_is_reported_at_its_line() {
    let dir = with_reference("[ledger]\nmirror_url = \"ftp://backup/ledger\"\nmirror_interval_ms = 500\n");
    let out = check(dir.path(), "ratewire.toml", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "ratewire.toml:2:14: ledger.mirror_url: \"ftp://backup/ledger\" is not a mirror URL: expected \
             s3://bucket/prefix or file:///absolute/path",
            "ratewire.toml:3:22: ledger.mirror_interval_ms: 500 is out of range (1000 to 3600000)",
        ]
    );
    let out = check(dir.path(), "ratewire.toml", &[("RATEWIRE_LEDGER_MIRROR_URL", "file://relative/path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.lines().any(|l| l
            == "env RATEWIRE_LEDGER_MIRROR_URL: ledger.mirror_url: \"file://relative/path\" is not a mirror URL: \
                expected file:///absolute/path"),
        "{stderr}"
    );

    let dir = with_reference("[ledger]\nmirror_url = \"s3://billing-ledger/prod\"\n");
    let out = check(dir.path(), "ratewire.toml", &[("AWS_REGION", "eu-west-1")]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("mirror_url = \"s3://billing-ledger/prod\"\n"), "{stdout}");
    assert!(stdout.contains("mirror_interval_ms = 10000\n"), "{stdout}");
}
