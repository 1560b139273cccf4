//! Keeps the documentation true: every example in `docs/` and
//! `deploy/examples/` is loaded, decoded or rated here.
//!
//! - `deploy/examples/catalog.toml` and `accounts.csv` load and check;
//! - in `docs/catalog.md`, every fenced block is read by its info string:
//!   - ` ```toml `: a complete catalog, which must compile;
//!   - ` ```toml bad `: a catalog that must be refused; when the next block
//!     is ` ```text `, it is exactly the refusal's messages (for a file
//!     named `catalog.toml`);
//!   - ` ```toml accounts ` and ` ```csv `: accounts, which must parse and
//!     check against the deploy example catalog;
//!   - ` ```text ` starting `catalog.toml: catalog`: the output of
//!     `ratewire catalog check` for the deploy example;
//! - the worked examples of `docs/catalog.md` are rated and their amounts
//!   compared with the ones the prose gives (see [`worked_examples`]);
//! - in `docs/events.md`, every ` ```json ` block decodes (and the events
//!   rate without reject against the deploy example, in file order), a
//!   ` ```json reject-record ` block has the fields of a reject record, and
//!   the reject code table lists every code with its number and name.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ratewire_rater::{Accounts, Output, Rater, RaterConfig, RejectCode, Tables, catalog, decode};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fenced block of a Markdown file.
#[derive(Debug)]
struct Block {
    /// The info string after the opening fence (`toml`, `toml bad`, ...).
    info: String,
    /// The text between the fences.
    text: String,
    /// 1-based line of the opening fence.
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
    assert!(open.is_none(), "unclosed fenced block at line {}", open.map_or(0, |b| b.line));
    out
}

fn deploy_catalog() -> Tables {
    catalog::load(&root().join("deploy/examples/catalog.toml"))
        .unwrap_or_else(|e| panic!("deploy example catalog:\n{e}"))
}

fn deploy_accounts(tables: &Tables) -> Accounts {
    let accounts = Accounts::load(&root().join("deploy/examples/accounts.csv"))
        .unwrap_or_else(|e| panic!("deploy example accounts:\n{e}"));
    accounts.check(tables).unwrap_or_else(|e| panic!("deploy example accounts against the catalog:\n{e}"));
    accounts
}

#[test]
fn deploy_example_loads_and_checks() {
    let tables = deploy_catalog();
    let accounts = deploy_accounts(&tables);
    assert_eq!(&*tables.version, "2026-11-a");
    assert!(accounts.list.len() >= 10, "about ten example accounts");
    // Every plan of the example is used by some account or by an event in
    // docs/events.md.
    let events = read("docs/events.md");
    for plan in tables.plan_ids.keys() {
        let used = accounts.list.iter().any(|a| a.plan.as_deref() == Some(plan.as_str()))
            || events.contains(&format!("\"plan\": \"{plan}\""));
        assert!(used, "plan {plan} of the example is used by no account and no documented event");
    }
}

#[test]
fn catalog_md_blocks() {
    let text = read("docs/catalog.md");
    let list = blocks(&text);
    let tables = deploy_catalog();
    let accounts = deploy_accounts(&tables);
    let (mut good, mut bad, mut checked_output) = (0, 0, 0);
    for (i, block) in list.iter().enumerate() {
        let at = format!("docs/catalog.md:{}", block.line);
        match block.info.as_str() {
            "toml" => {
                if let Err(e) = catalog::parse(&block.text, "catalog.toml") {
                    panic!("{at}: the example catalog is refused:\n{e}");
                }
                good += 1;
            }
            "toml bad" => {
                let Err(e) = catalog::parse(&block.text, "catalog.toml") else {
                    panic!("{at}: a catalog marked bad is accepted");
                };
                if let Some(next) = list.get(i + 1).filter(|b| b.info == "text") {
                    assert_eq!(
                        e.to_string(),
                        next.text.trim_end(),
                        "{at}: the documented messages differ from the real ones"
                    );
                    checked_output += 1;
                }
                bad += 1;
            }
            "toml accounts" => {
                let a = Accounts::parse_toml(&block.text, "accounts.toml").unwrap_or_else(|e| panic!("{at}:\n{e}"));
                a.check(&tables).unwrap_or_else(|e| panic!("{at}: against the deploy example:\n{e}"));
            }
            "csv" => {
                let a = Accounts::parse_csv(&block.text, "accounts.csv").unwrap_or_else(|e| panic!("{at}:\n{e}"));
                a.check(&tables).unwrap_or_else(|e| panic!("{at}: against the deploy example:\n{e}"));
            }
            "text" if block.text.starts_with("catalog.toml: catalog") => {
                let overrides: usize = tables.overrides.iter().map(Vec::len).sum();
                let expected = format!(
                    "catalog.toml: catalog {} is valid: {} services, {} zones, {} plans, {} discounts, {} overrides\n\
                     accounts.csv: {} accounts are valid against catalog {}\n",
                    tables.version,
                    tables.services.len(),
                    tables.zones.len(),
                    tables.plans.len(),
                    tables.discounts.len(),
                    overrides,
                    accounts.list.len(),
                    tables.version,
                );
                assert_eq!(block.text, expected, "{at}: the summary does not match the deploy example");
            }
            "text" | "" => {}
            other => panic!("{at}: unknown block kind {other:?}"),
        }
    }
    assert!(good >= 11, "{good} example catalogs");
    assert!(bad >= 1 && checked_output >= 1, "a refused catalog with its messages");
}

#[test]
fn events_md_blocks() {
    let text = read("docs/events.md");
    let mut events = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    for block in blocks(&text) {
        let at = format!("docs/events.md:{}", block.line);
        match block.info.as_str() {
            "json" => {
                let event = decode(block.text.as_bytes()).unwrap_or_else(|r| panic!("{at}: {r}"));
                kinds.insert(event.body.kind());
                events.push((at, event));
            }
            "json reject-record" => {
                let v: Value = serde_json::from_str(&block.text).unwrap_or_else(|e| panic!("{at}: {e}"));
                let keys: Vec<&str> = v.as_object().expect("an object").keys().map(String::as_str).collect();
                let mut want = ["event_id", "account", "code", "code_name", "field", "message", "catalog_version"];
                want.sort_unstable();
                let mut keys = keys;
                keys.sort_unstable();
                assert_eq!(keys, want, "{at}: the fields of a reject record");
                let code = RejectCode::ALL
                    .iter()
                    .find(|c| Some(u64::from(c.number())) == v["code"].as_u64())
                    .expect("a known code");
                assert_eq!(v["code_name"], code.name(), "{at}");
            }
            "" => {}
            other => panic!("{at}: unknown block kind {other:?}"),
        }
    }
    for kind in ["usage", "subscription", "payment", "topup", "adjustment", "support_contact", "block", "unblock"] {
        assert!(kinds.contains(kind), "docs/events.md has no example of kind {kind}");
    }

    // The documented events rate against the deploy example, in file order.
    let tables = Arc::new(deploy_catalog());
    let accounts = Arc::new(deploy_accounts(&tables));
    let mut rater = Rater::new(tables, accounts, RaterConfig::default());
    let mut clock = None;
    let mut out = Output::default();
    for (at, event) in &events {
        let now = match clock {
            Some(c) if c > event.time => c,
            _ => event.time,
        };
        clock = Some(now);
        rater.rate(event, now, &mut out);
        if let Some(r) = out.rejected.first() {
            panic!("{at}: rejected against the deploy example: {}", r.reject);
        }
    }

    // The reject code table: every code, in order, with its name.
    let rows: Vec<(u16, String)> = text
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let number = cells.get(1)?.parse::<u16>().ok()?;
            Some((number, cells.get(2)?.trim_matches('`').to_string()))
        })
        .collect();
    let all: Vec<(u16, String)> = RejectCode::ALL.iter().map(|c| (c.number(), c.name().to_string())).collect();
    assert_eq!(rows, all, "the reject code table of docs/events.md");
}

/// Rates `events` (JSON lines) for the accounts `csv` against the catalog
/// of `docs/catalog.md` whose version is `version`; returns the rated
/// records, rejects and actions as JSON.
fn rate_example(version: &str, csv: &str, events: &[&str]) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let text = read("docs/catalog.md");
    let block = blocks(&text)
        .into_iter()
        .find(|b| b.info == "toml" && b.text.contains(&format!("version = \"{version}\"")))
        .unwrap_or_else(|| panic!("no example catalog {version} in docs/catalog.md"));
    rate_with(&block.text, csv, events)
}

fn rate_with(catalog_text: &str, csv: &str, events: &[&str]) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let tables = catalog::parse(catalog_text, "catalog.toml").unwrap_or_else(|e| panic!("{e}"));
    let accounts = Accounts::parse_csv(csv, "accounts.csv").unwrap_or_else(|e| panic!("{e}"));
    accounts.check(&tables).unwrap_or_else(|e| panic!("{e}"));
    let mut rater = Rater::new(Arc::new(tables), Arc::new(accounts), RaterConfig::default());
    let mut out = Output::default();
    let mut clock = None;
    for line in events {
        let event = decode(line.as_bytes()).unwrap_or_else(|r| panic!("{line}: {r}"));
        let now = match clock {
            Some(c) if c > event.time => c,
            _ => event.time,
        };
        clock = Some(now);
        rater.rate(&event, now, &mut out);
    }
    let json = |v: Result<Value, serde_json::Error>| v.expect("serializable");
    (
        out.rated.iter().map(|r| json(serde_json::to_value(r))).collect(),
        out.rejected.iter().map(|r| json(serde_json::to_value(r))).collect(),
        out.actions.iter().map(|r| json(serde_json::to_value(r))).collect(),
    )
}

/// A decimal as text without trailing zeros, so that "0.240" equals "0.24".
fn number(v: &Value) -> String {
    let s = v.as_str().map_or_else(|| v.to_string(), str::to_string);
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// The record with this event id.
fn record<'a>(rated: &'a [Value], id: &str) -> &'a Value {
    rated.iter().find(|r| r["event_id"] == id).unwrap_or_else(|| {
        panic!(
            "no record {id}; records: {}",
            rated.iter().map(|r| r["event_id"].to_string()).collect::<Vec<_>>().join(", ")
        )
    })
}

/// Checks `field = value` pairs of the record with this event id.
fn expect(rated: &[Value], id: &str, pairs: &[(&str, &str)]) {
    let r = record(rated, id);
    for (field, want) in pairs {
        assert_eq!(number(&r[*field]), number(&Value::String((*want).to_string())), "record {id}, field {field}: {r}");
    }
}

fn ev(id: &str, account: &str, time: &str, body: &str) -> String {
    format!(r#"{{"v":1,"id":"{id}","account":"{account}","time":"{time}",{body}}}"#)
}

fn usage(id: &str, account: &str, time: &str, service: &str, quantity: &str, extra: &str) -> String {
    ev(id, account, time, &format!(r#""kind":"usage","service":"{service}","quantity":"{quantity}"{extra}"#))
}

/// The amounts given in the prose of the worked examples.
#[test]
fn worked_examples() {
    // 1. Voice.
    let e = [
        usage("c1", "A1", "2026-11-04T19:59:00+01:00", "voice", "125", r#","destination":"+4930123456""#),
        usage("c2", "A1", "2026-11-07T11:00:00+01:00", "voice", "30", r#","destination":"+4915112345678""#),
        usage("c3", "A1", "2026-11-10T09:00:00+01:00", "voice", "61", r#","destination":"+442079460000""#),
        usage("c4", "A1", "2026-12-25T10:00:00+01:00", "voice", "200", r#","destination":"+4989123456""#),
        usage("c5", "A1", "2026-12-28T10:00:00+01:00", "voice", "60", r#","destination":"+12125550100""#),
    ];
    let e: Vec<&str> = e.iter().map(String::as_str).collect();
    let (rated, rejected, _) = rate_example("example-voice", "id,plan,time_zone\nA1,talk,Europe/Berlin\n", &e);
    expect(&rated, "c1", &[("zone", "de_fixed"), ("rated_quantity", "125"), ("charge", "0.24")]);
    expect(&rated, "c2", &[("zone", "de_mobile"), ("rated_quantity", "60"), ("charge", "0.34")]);
    expect(&rated, "c3", &[("zone", "europe"), ("rated_quantity", "120"), ("charge", "1.08")]);
    expect(&rated, "c4", &[("charge", "0.18")]);
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["code_name"], "NO_RATE");

    // 2. Data, graduated; and the same sessions with volume tiers.
    let e = [
        usage("d1", "A1", "2026-11-03T10:00:00Z", "data", "4199500123", ""),
        usage("d2", "A1", "2026-11-05T10:00:00Z", "data", "3000000000", ""),
        usage("d3", "A1", "2026-11-06T10:00:00Z", "data", "15000000000", ""),
        usage("d4", "A1", "2026-12-01T10:00:00Z", "data", "1000000000", ""),
    ];
    let e: Vec<&str> = e.iter().map(String::as_str).collect();
    let csv = "id,plan\nA1,data_flex\n";
    let (rated, rejected, _) = rate_example("example-data", csv, &e);
    assert!(rejected.is_empty());
    expect(&rated, "d1", &[("rated_quantity", "4200000000"), ("charge", "8.40")]);
    expect(&rated, "d2", &[("charge", "3.80")]);
    expect(&rated, "d3", &[("charge", "13.90")]);
    expect(&rated, "d4", &[("charge", "2.00")]);
    let text = read("docs/catalog.md");
    let data = blocks(&text).into_iter().find(|b| b.text.contains("version = \"example-data\"")).expect("example-data");
    let (rated, _, _) = rate_with(&data.text.replace("model = \"graduated\"", "model = \"volume\""), csv, &e);
    expect(&rated, "d1", &[("charge", "8.40")]);
    expect(&rated, "d2", &[("charge", "3.00")]);
    expect(&rated, "d3", &[("charge", "7.50")]);

    // 3. SMS packages.
    let e = [
        usage("s1", "A1", "2026-11-03T10:00:00Z", "sms", "1", ""),
        usage("s2", "A1", "2026-11-03T11:00:00Z", "sms", "99", ""),
        usage("s3", "A1", "2026-11-03T12:00:00Z", "sms", "150", ""),
        usage("s4", "A1", "2026-12-01T12:00:00Z", "sms", "1", ""),
    ];
    let e: Vec<&str> = e.iter().map(String::as_str).collect();
    let (rated, _, _) = rate_example("example-sms", "id,plan\nA1,sms_pack\n", &e);
    expect(&rated, "s1", &[("charge", "5.00")]);
    expect(&rated, "s2", &[("charge", "0")]);
    expect(&rated, "s3", &[("charge", "10.00")]);
    expect(&rated, "s4", &[("charge", "5.00")]);

    // 4. Telematics.
    let e = [
        usage("t1", "FLEET-7", "2026-11-03T07:00:00+01:00", "telemetry", "1", r#","device":"TRK-1001""#),
        usage("t2", "FLEET-7", "2026-11-03T07:05:00+01:00", "telemetry", "1", r#","device":"TRK-1002""#),
        usage("t3", "FLEET-7", "2026-11-03T19:00:00+01:00", "telemetry", "12", r#","device":"TRK-1001""#),
        usage("t4", "FLEET-7", "2026-11-03T23:30:00Z", "telemetry", "1", r#","device":"TRK-1001""#),
    ];
    let e: Vec<&str> = e.iter().map(String::as_str).collect();
    let (rated, _, _) = rate_example("example-iot", "id,plan,time_zone\nFLEET-7,fleet,Europe/Madrid\n", &e);
    expect(&rated, "t1", &[("charge", "0.03")]);
    expect(&rated, "t2", &[("charge", "0.03")]);
    expect(&rated, "t3", &[("charge", "0")]);
    expect(&rated, "t4", &[("charge", "0.03")]);

    // 5. A prorated monthly subscription.
    let e = [
        ev("a1", "H1", "2026-11-16T10:00:00+01:00", r#""kind":"subscription","action":"activate","plan":"home""#),
        usage("s1", "H1", "2026-12-02T10:00:00+01:00", "sms", "1", ""),
        ev("x1", "H1", "2026-12-10T10:00:00+01:00", r#""kind":"subscription","action":"cancel""#),
        usage("s2", "H1", "2027-01-05T10:00:00+01:00", "sms", "1", ""),
    ];
    let e: Vec<&str> = e.iter().map(String::as_str).collect();
    let (rated, rejected, _) = rate_example("example-subscription", "id,time_zone\nH1,Europe/Berlin\n", &e);
    expect(&rated, "a1/fee/home_monthly", &[("quantity", "15"), ("charge", "15.00")]);
    expect(&rated, "a1/fee/router_rental", &[("charge", "3.00")]);
    expect(&rated, "H1/2026-12/fee/home_monthly", &[("charge", "29.99")]);
    expect(&rated, "H1/2026-12/fee/router_rental", &[("charge", "3.00")]);
    expect(&rated, "s1", &[("charge", "0.09")]);
    expect(&rated, "x1/credit/home_monthly", &[("quantity", "21"), ("charge", "-20.32")]);
    assert!(
        rated.iter().all(|r| r["event_id"] != "x1/credit/router_rental"),
        "a fee without proration is not credited"
    );
    assert!(
        rated.iter().all(|r| !r["event_id"].as_str().unwrap_or("").starts_with("H1/2027-01/fee")),
        "no fees after cancellation"
    );
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["code_name"], "ACCOUNT_CLOSED");

    // 6. A bundle.
    let e = [
        usage("v1", "B1", "2026-11-03T09:00:00Z", "voice", "5970", r#","destination":"+442079460000""#),
        usage("v2", "B1", "2026-11-03T12:00:00Z", "voice", "125", r#","destination":"+442079460000""#),
        usage("v3", "B1", "2026-11-03T13:00:00Z", "voice", "30", r#","destination":"+33142685300""#),
        usage("g1", "B1", "2026-11-04T13:00:00Z", "data", "6500000000", ""),
        usage("g2", "B1", "2026-12-01T13:00:00Z", "data", "13000000000", ""),
    ];
    let e: Vec<&str> = e.iter().map(String::as_str).collect();
    let (rated, _, actions) = rate_example("example-bundle", "id,plan,time_zone\nB1,bundle_20,Europe/London\n", &e);
    expect(&rated, "B1/2026-11/grant/minutes", &[("quantity", "6000")]);
    expect(&rated, "B1/2026-11/fee/bundle_20_monthly", &[("charge", "20.00")]);
    expect(&rated, "v1", &[("allowance_quantity", "5970"), ("charge", "0")]);
    expect(&rated, "v2", &[("allowance_quantity", "60"), ("charge", "0.12")]);
    assert_eq!(number(&record(&rated, "v2")["draws"][0]["amount"]), "30");
    expect(&rated, "v3", &[("allowance_quantity", "0"), ("charge", "0.60")]);
    expect(&rated, "g1", &[("allowance_quantity", "6500000000"), ("charge", "0")]);
    expect(&rated, "B1/2026-11/expiry/data_allowance", &[("quantity", "1500000000")]);
    expect(&rated, "g2", &[("allowance_quantity", "12000000000"), ("charge", "3.00")]);
    assert_eq!(actions[0]["reason"], "allowance_exhausted");
    assert_eq!(actions[0]["event_id"], "v2");

    // 7. Promotions.
    let e = [
        usage("n1", "P1", "2026-11-20T10:00:00Z", "data", "1500000000", ""),
        usage("n2", "P1", "2026-12-20T10:00:00Z", "data", "1500000000", ""),
        usage("n3", "P2", "2026-12-20T10:00:00Z", "data", "1500000000", ""),
        usage("n4", "P1", "2027-03-01T10:00:00Z", "data", "1500000000", ""),
    ];
    let e: Vec<&str> = e.iter().map(String::as_str).collect();
    let (rated, _, _) = rate_example("example-promo", "id,plan,segment\nP1,mobile_s,new_customer\nP2,mobile_s,\n", &e);
    expect(&rated, "P1/2026-11/fee/mobile_s_monthly", &[("discount", "5.00"), ("net", "10.00")]);
    expect(&rated, "n1", &[("net", "3.00")]);
    expect(&rated, "P1/2026-12/fee/mobile_s_monthly", &[("net", "10.00")]);
    expect(&rated, "n2", &[("net", "1.50")]);
    expect(&rated, "P2/2026-12/fee/mobile_s_monthly", &[("net", "15.00")]);
    expect(&rated, "n3", &[("net", "1.50")]);
    expect(&rated, "P1/2027-01/fee/mobile_s_monthly", &[("net", "15.00")]);
    expect(&rated, "P1/2027-02/fee/mobile_s_monthly", &[("net", "15.00")]);
    expect(&rated, "P1/2027-03/fee/mobile_s_monthly", &[("net", "15.00")]);
    expect(&rated, "n4", &[("net", "3.00")]);

    // 8. An override.
    let e = [
        usage("o1", "ACME-001", "2026-11-20T10:00:00Z", "voice", "90", r#","destination":"+12125550100""#),
        usage("o2", "SME-002", "2026-11-20T10:00:00Z", "voice", "90", r#","destination":"+12125550100""#),
        usage("o3", "ACME-001", "2026-11-20T10:00:00Z", "voice", "90", r#","destination":"+4930123456""#),
    ];
    let e: Vec<&str> = e.iter().map(String::as_str).collect();
    let (rated, _, _) = rate_example("example-override", "id,plan\nACME-001,business\nSME-002,business\n", &e);
    expect(&rated, "o1", &[("charge", "0.38"), ("tariff", "override:ACME-001")]);
    expect(&rated, "o2", &[("rated_quantity", "120"), ("charge", "1.60")]);
    expect(&rated, "o3", &[("charge", "0.15"), ("tariff", "business@2026-01-01")]);

    // 9. Partner share.
    let e = [
        usage("p1", "T1", "2026-11-20T10:00:00Z", "data", "1000000000", ""),
        usage("p2", "T1", "2026-11-20T11:00:00Z", "voice", "300", ""),
    ];
    let e: Vec<&str> = e.iter().map(String::as_str).collect();
    let (rated, _, _) = rate_example("example-partner", "id,plan,partner,segment\nT1,prepaid,dealer_nord,loyal\n", &e);
    expect(
        &rated,
        "p1",
        &[("charge", "10.00"), ("discount", "1.00"), ("net", "9.00"), ("partner_share", "1.13"), ("gross", "9.00")],
    );
    expect(&rated, "p2", &[("charge", "1.00"), ("discount", "0.10"), ("net", "0.90"), ("partner_share", "0")]);

    // 10. Tax.
    let e = [
        usage("x1", "T1", "2026-11-20T10:00:00Z", "data", "1000000000", ""),
        usage("x2", "T2", "2026-11-20T10:00:00Z", "data", "1234567890", ""),
        usage("x3", "T1", "2026-11-20T10:00:00Z", "donation", "5.00", ""),
    ];
    let e: Vec<&str> = e.iter().map(String::as_str).collect();
    let (rated, _, _) = rate_example("example-tax", "id,plan,tax_region\nT1,prepaid,DE\nT2,prepaid,FR\n", &e);
    expect(&rated, "x1", &[("net", "10.00"), ("tax", "1.90"), ("gross", "11.90")]);
    expect(&rated, "x2", &[("net", "12.35"), ("tax", "2.47"), ("gross", "14.82")]);
    expect(&rated, "x3", &[("net", "5.00"), ("tax", "0"), ("gross", "5.00")]);

    // 11. Prepaid thresholds.
    let e = [
        usage("c1", "PRE1", "2026-11-03T10:00:00Z", "voice", "200", ""),
        usage("c2", "PRE1", "2026-11-03T11:00:00Z", "voice", "600", ""),
        usage("c3", "PRE1", "2026-11-03T12:00:00Z", "voice", "300", ""),
        ev("t1", "PRE1", "2026-11-03T13:00:00Z", r#""kind":"topup","amount":"10.00","currency":"EUR""#),
    ];
    let e: Vec<&str> = e.iter().map(String::as_str).collect();
    let csv = "id,plan,credit_limit,balances\nPRE1,prepaid,0,main=3.00;bonus=0.50\n";
    let (rated, _, actions) = rate_example("example-prepaid", csv, &e);
    let draws = |id: &str| -> Vec<(String, String, String)> {
        record(&rated, id)["draws"]
            .as_array()
            .expect("draws")
            .iter()
            .map(|d| (d["balance"].as_str().unwrap_or("").to_string(), number(&d["amount"]), number(&d["remaining"])))
            .collect()
    };
    let d = |b: &str, a: &str, r: &str| (b.to_string(), a.to_string(), r.to_string());
    assert_eq!(draws("c1"), vec![d("bonus", "0.5", "0"), d("main", "0.3", "2.7")]);
    assert_eq!(draws("c2"), vec![d("main", "2", "0.7")]);
    assert_eq!(draws("c3"), vec![d("main", "1", "-0.3")]);
    assert_eq!(draws("t1"), vec![d("main", "-10", "9.7")]);
    let reasons: Vec<(&str, &str, &str)> = actions
        .iter()
        .map(|a| {
            (a["kind"].as_str().unwrap_or(""), a["reason"].as_str().unwrap_or(""), a["event_id"].as_str().unwrap_or(""))
        })
        .collect();
    assert_eq!(
        reasons,
        vec![("notify", "low_balance", "c2"), ("block", "credit_limit", "c3"), ("unblock", "back_within_limit", "t1")]
    );
}

/// The zone example in the reference: fallbacks to shorter prefixes.
#[test]
fn zone_fallbacks() {
    let e = [
        usage("z1", "A1", "2026-11-03T10:00:00Z", "voice", "60", r#","destination":"+4915112345678""#),
        usage("z2", "A1", "2026-11-03T10:00:00Z", "voice", "60", r#","destination":"+33142685300""#),
    ];
    let e: Vec<&str> = e.iter().map(String::as_str).collect();
    let (rated, _, _) = rate_example("zones-1", "id,plan\nA1,talk\n", &e);
    expect(&rated, "z1", &[("zone", "de_fixed"), ("charge", "0.10")]);
    expect(&rated, "z2", &[("zone", "world"), ("charge", "1.50")]);
}
