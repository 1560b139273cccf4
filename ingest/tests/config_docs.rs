//! Keeps `docs/config.md` and `deploy/examples/ratewire.toml` true to the
//! code:
//!
//! - the deploy example loads, and sets every field;
//! - in `docs/config.md`, every ` ```toml ` block loads; a ` ```toml bad `
//!   block is refused, with exactly the messages of the ` ```text ` block
//!   after it (for a file named `ratewire.toml`); a ` ```text ` block of
//!   `env` lines is exactly what reading with that variable set gives;
//! - each section's field table lists every field once, with the default
//!   the code has and, for a field with a range, the range the check
//!   enforces;
//! - the table of environment overrides lists every variable.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use ratewire_ingest::config::{self, Config};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Reads as `ratewire.toml` in the working directory, with `vars` as the
/// whole environment.
fn load(text: &str, vars: &[(&str, &str)]) -> Result<Config, config::ConfigError> {
    let vars: BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::from_str_with_env(text, Path::new("ratewire.toml"), |var| vars.get(var).cloned())
}

/// A fenced block of a Markdown file.
#[derive(Debug)]
struct Block {
    info: String,
    text: String,
    line: usize,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(info)) => {
                open = Some(Block { info: info.trim().to_string(), text: String::new(), line: i + 1 })
            }
            (Some(_), Some(rest)) if rest.trim().is_empty() => out.extend(open.take()),
            (Some(block), _) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "unclosed fenced block");
    out
}

/// The default configuration as TOML tables by section.
fn defaults() -> BTreeMap<String, toml::Table> {
    let root = toml::Table::try_from(Config::default()).unwrap();
    root.into_iter()
        .map(|(section, value)| match value {
            toml::Value::Table(t) => (section, t),
            other => panic!("{section} is {other}"),
        })
        .collect()
}

#[test]
fn the_deploy_example_loads_and_sets_every_field() {
    let text = read("deploy/examples/ratewire.toml");
    let config = Config::from_str_with_env(&text, &root().join("deploy/examples/ratewire.toml"), |_| None)
        .unwrap_or_else(|e| panic!("deploy/examples/ratewire.toml is refused:\n{e}"));
    assert!(config.catalog.catalog.is_file(), "{}", config.catalog.catalog.display());
    assert!(config.catalog.accounts.is_file(), "{}", config.catalog.accounts.display());
    let file: toml::Table = toml::from_str(&text).unwrap();
    for (section, fields) in defaults() {
        for field in fields.keys() {
            let set = file.get(&section).and_then(|s| s.get(field)).is_some();
            assert!(set, "deploy/examples/ratewire.toml does not show {section}.{field}");
        }
    }
}

#[test]
fn the_examples_of_the_doc_are_true() {
    let text = read("docs/config.md");
    let list = blocks(&text);
    let (mut good, mut bad, mut env) = (0, 0, 0);
    for (i, block) in list.iter().enumerate() {
        let at = format!("docs/config.md:{}", block.line);
        match block.info.as_str() {
            "toml" => {
                if let Err(e) = load(&block.text, &[]) {
                    panic!("{at}: the example is refused:\n{e}");
                }
                good += 1;
            }
            "toml bad" => {
                let Err(e) = load(&block.text, &[]) else { panic!("{at}: an example marked bad is accepted") };
                let next = list.get(i + 1).filter(|b| b.info == "text");
                let next = next.unwrap_or_else(|| panic!("{at}: a bad example is followed by its messages"));
                assert_eq!(e.to_string(), next.text.trim_end(), "{at}");
                bad += 1;
            }
            "text" if block.text.starts_with("env ") => {
                for line in block.text.lines() {
                    // env VAR: field: "value" is ...
                    let (var, rest) = line["env ".len()..].split_once(": ").unwrap();
                    let value = rest.split('"').nth(1).unwrap();
                    let e = load("", &[(var, value)]).unwrap_err();
                    assert_eq!(e.to_string(), line, "{at}");
                    env += 1;
                }
            }
            _ => {}
        }
    }
    assert!(good >= 2 && bad >= 1 && env >= 1, "{good} good, {bad} bad, {env} env examples");
}

/// The rows of the Markdown table after `heading`: cells without their
/// backquotes.
fn table_after(text: &str, heading: &str) -> Vec<Vec<String>> {
    let start = text.find(&format!("\n{heading}\n")).unwrap_or_else(|| panic!("no heading {heading}"));
    text[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| l.trim_matches('|').split(" | ").map(|c| c.trim().trim_matches('`').to_string()).collect())
        .collect()
}

#[test]
fn the_field_tables_have_every_field_with_its_default_and_range() {
    let text = read("docs/config.md");
    for (section, fields) in defaults() {
        let rows = table_after(&text, &format!("### `[{section}]`"));
        let documented: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        let mut expected: Vec<&str> = fields.keys().map(String::as_str).collect();
        expected.sort_unstable();
        let mut sorted = documented.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, expected, "the fields of [{section}] in docs/config.md");
        for row in &rows {
            let [field, _type, default, range, _meaning] = &row[..] else { panic!("{row:?}") };
            let value = &fields[field];
            let code_default = if value.is_table() { "none".to_string() } else { value.to_string() };
            assert_eq!(default, &code_default, "the default of {section}.{field}");
            if range == "—" {
                continue;
            }
            // The range is what the check enforces: its ends pass, one past
            // them does not, and the message states the same range.
            let (low, high) = range.split_once(" to ").unwrap();
            let (low, high): (i64, i64) = (low.parse().unwrap(), high.parse().unwrap());
            let var = format!("RATEWIRE_{}_{}", section.to_uppercase(), field.to_uppercase());
            let message = format!("{section}.{field}: {} is out of range ({low} to {high})", high + 1);
            let e = load("", &[(&var, &(high + 1).to_string())]).unwrap_err().to_string();
            assert!(e.contains(&message), "{var}={}: {e}", high + 1);
            if low > 0 {
                let e = load("", &[(&var, &(low - 1).to_string())]).unwrap_err().to_string();
                assert!(e.contains("is out of range"), "{var}={}: {e}", low - 1);
            }
            for end in [low.to_string(), high.to_string()] {
                let mut vars = vec![(var.as_str(), end.as_str())];
                // The two row bounds constrain each other: the other one is
                // set to let this one through.
                match var.as_str() {
                    "RATEWIRE_LEDGER_ROW_GROUP_ROWS" => vars.push(("RATEWIRE_LEDGER_COMMIT_ROWS_MAX", "16777216")),
                    "RATEWIRE_LEDGER_COMMIT_ROWS_MAX" => vars.push(("RATEWIRE_LEDGER_ROW_GROUP_ROWS", "1")),
                    _ => {}
                }
                if let Err(e) = load("", &vars) {
                    panic!("{var}={end} is refused: {e}");
                }
            }
        }
    }
}

#[test]
fn the_env_table_lists_every_variable() {
    let text = read("docs/config.md");
    let rows = table_after(&text, "## Environment overrides");
    let documented: Vec<(String, String)> = rows.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    let mut expected: Vec<(String, String)> = config::env_overrides().into_iter().map(|o| (o.var, o.field)).collect();
    let mut sorted = documented;
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected);
}
