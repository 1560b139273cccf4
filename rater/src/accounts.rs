//! Accounts reference data: who the customers are, read from CSV or TOML.
//!
//! Each account names its plan, currency, time zone, partner, status,
//! credit limit, segment, tax region and opening balances. Problems are
//! reported as `file:line:col: message`, like the catalog's.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use chrono::NaiveDate;
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::catalog::{Diagnostic, LoadError};
use crate::money::{AMOUNT_MAX, Currency};
use crate::tables::Tables;

/// Where an account stands in its life. The pipeline's checkpoint stores
/// the variant's index: add new ones at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Known, but no plan yet: waits for an `activate` event.
    Pending,
    /// In service.
    Active,
    /// Paused; usage is refused.
    Suspended,
    /// Ended; usage is refused.
    Cancelled,
}

/// One account's reference data.
#[derive(Debug, Clone)]
pub struct AccountRef {
    /// Account id (the Kafka key of its events).
    pub id: Arc<str>,
    /// The plan it is on, if any.
    pub plan: Option<String>,
    /// Its currency; the plan's when absent.
    pub currency: Option<Currency>,
    /// The time zone of its periods, bands and days.
    pub time_zone: Tz,
    /// The partner or dealer that brought it.
    pub partner: Option<String>,
    /// Status when the data was loaded.
    pub status: AccountStatus,
    /// How far below zero the main balance may go before blocking.
    pub credit_limit: Decimal,
    /// Segment, for discounts and reports.
    pub segment: Option<String>,
    /// Tax jurisdiction.
    pub tax_region: Option<String>,
    /// The local date its plan started; periods before it have no fee.
    pub activated: Option<NaiveDate>,
    /// Opening balances by name.
    pub balances: Vec<(String, Decimal)>,
    /// Line of the file it came from, for messages.
    pub line: usize,
}

/// All accounts, by id.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    /// Accounts in file order.
    pub list: Vec<AccountRef>,
    /// Index into `list` by id.
    pub by_id: HashMap<Arc<str>, usize, foldhash::fast::RandomState>,
    /// The file they came from, for messages.
    pub source: String,
}

/// One row as written (CSV columns or TOML keys).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    id: String,
    #[serde(default)]
    plan: Option<String>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    partner: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    credit_limit: Option<Text>,
    #[serde(default)]
    segment: Option<String>,
    #[serde(default)]
    tax_region: Option<String>,
    #[serde(default)]
    activated: Option<String>,
    /// CSV: `name=amount;name=amount`.
    #[serde(default)]
    balances: Option<BalancesField>,
}

/// Opening balances: `main=10.00;bonus=2` (CSV, or a TOML string) or a
/// TOML table `{ main = "10.00", bonus = 2 }`.
#[derive(Debug)]
enum BalancesField {
    Text(String),
    Table(std::collections::BTreeMap<String, Text>),
}

impl<'de> Deserialize<'de> for BalancesField {
    // By hand rather than `untagged`: an untagged enum buffers the value and
    // then reads a `Text` strictly as a string, refusing `bonus = 2`.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = BalancesField;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("balances as \"name=amount;...\" or a table of name = amount")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<BalancesField, E> {
                Ok(BalancesField::Text(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<BalancesField, A::Error> {
                let mut table = std::collections::BTreeMap::new();
                while let Some((name, amount)) = map.next_entry::<String, Text>()? {
                    table.insert(name, amount);
                }
                Ok(BalancesField::Table(table))
            }
        }
        d.deserialize_any(V)
    }
}

/// A value written as a string or, in TOML, as an integer (`50`); floats
/// are refused because they are not exact.
#[derive(Debug)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a decimal string such as \"12.50\" or an integer")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        // CSV hands a field over as its text only when asked for a string
        // (asked for anything, it reads `50.5` as a float); TOML ignores the
        // hint and gives integers as integers, and floats, refused, as floats.
        d.deserialize_str(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    accounts: Vec<toml::Spanned<Row>>,
}

impl Accounts {
    /// Reads accounts from a `.csv` or `.toml` file.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io { path: name.clone(), source })?;
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml")) {
            Self::parse_toml(&text, &name)
        } else {
            Self::parse_csv(&text, &name)
        }
    }

    /// Parses CSV with a header row.
    pub fn parse_csv(text: &str, name: &str) -> Result<Self, LoadError> {
        let mut rows = Vec::new();
        let mut problems = Vec::new();
        let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
        for record in reader.deserialize::<Row>() {
            match record {
                Ok(row) => rows.push((row, 0)),
                Err(e) => {
                    let line = e.position().map_or(1, |p| usize::try_from(p.line()).unwrap_or(1));
                    problems.push(Diagnostic { line, col: 1, message: csv_message(&e) });
                }
            }
        }
        // Lines of data rows, in order (the header is line 1).
        let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let lines: Vec<usize> = reader
            .records()
            .filter_map(Result::ok)
            .map(|r| r.position().map_or(1, |p| usize::try_from(p.line()).unwrap_or(1)))
            .collect();
        for (i, row) in rows.iter_mut().enumerate() {
            row.1 = lines.get(i).copied().unwrap_or(1);
        }
        Self::build(rows, problems, name)
    }

    /// Parses TOML: an array of `[[accounts]]` tables.
    pub fn parse_toml(text: &str, name: &str) -> Result<Self, LoadError> {
        let file: TomlFile = toml::from_str(text).map_err(|e| LoadError::Invalid {
            path: name.to_string(),
            diagnostics: vec![Diagnostic::at(
                text,
                e.span().map_or(0, |s| s.start),
                e.message().trim().replace('\n', " "),
            )],
        })?;
        let rows = file
            .accounts
            .into_iter()
            .map(|r| {
                let line = Diagnostic::at(text, r.span().start, String::new()).line;
                (r.into_inner(), line)
            })
            .collect();
        Self::build(rows, Vec::new(), name)
    }

    fn build(rows: Vec<(Row, usize)>, mut problems: Vec<Diagnostic>, name: &str) -> Result<Self, LoadError> {
        let mut accounts = Accounts { source: name.to_string(), ..Self::default() };
        for (row, line) in rows {
            let mut bad = |message: String| problems.push(Diagnostic { line, col: 1, message });
            match account(row, line) {
                Ok(a) => {
                    if accounts.by_id.contains_key(&a.id) {
                        bad(format!("account {} is listed twice", a.id));
                        continue;
                    }
                    accounts.by_id.insert(a.id.clone(), accounts.list.len());
                    accounts.list.push(a);
                }
                Err(message) => bad(message),
            }
        }
        if problems.is_empty() {
            Ok(accounts)
        } else {
            problems.sort_by_key(|d| d.line);
            Err(LoadError::Invalid { path: name.to_string(), diagnostics: problems })
        }
    }

    /// Checks every reference into the catalog: plans, partners, tax
    /// regions and balances must exist there.
    pub fn check(&self, tables: &Tables) -> Result<(), LoadError> {
        let mut problems = Vec::new();
        for a in &self.list {
            let mut bad = |message: String| problems.push(Diagnostic { line: a.line, col: 1, message });
            if let Some(plan) = &a.plan
                && !tables.plan_ids.contains_key(plan)
            {
                bad(format!("account {}: plan {plan:?} is not in catalog {}", a.id, tables.version));
            }
            if let Some(partner) = &a.partner
                && !tables.partner_ids.contains_key(partner)
            {
                bad(format!("account {}: partner {partner:?} is not in the catalog", a.id));
            }
            if let Some(region) = &a.tax_region
                && !tables.tax_ids.contains_key(region)
            {
                bad(format!("account {}: tax_region {region:?} has no tax in the catalog", a.id));
            }
            for (balance, _) in &a.balances {
                if !tables.balance_ids.contains_key(balance) {
                    bad(format!("account {}: balance {balance:?} is not in the catalog", a.id));
                }
            }
            if a.status == AccountStatus::Active && a.plan.is_none() {
                bad(format!("account {}: status active needs a plan", a.id));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(LoadError::Invalid { path: self.source.clone(), diagnostics: problems })
        }
    }

    /// The account with this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&AccountRef> {
        self.by_id.get(id).map(|&i| &self.list[i])
    }
}

fn csv_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => match err.field() {
            Some(i) => format!("column {}: {}", i + 1, err.kind()),
            None => err.to_string(),
        },
        _ => e.to_string(),
    }
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn account(row: Row, line: usize) -> Result<AccountRef, String> {
    let id = row.id.trim().to_string();
    if id.is_empty() {
        return Err("id: must not be empty".into());
    }
    let currency = match non_empty(row.currency) {
        None => None,
        Some(c) => Some(Currency::parse(&c).ok_or(format!("account {id}: currency {c:?} is not an ISO 4217 code"))?),
    };
    let time_zone = match non_empty(row.time_zone) {
        None => Tz::UTC,
        Some(z) => Tz::from_str(&z)
            .map_err(|_| format!("account {id}: time_zone {z:?} is not an IANA zone such as Europe/Berlin"))?,
    };
    let plan = non_empty(row.plan);
    let status = match non_empty(row.status).as_deref() {
        None if plan.is_some() => AccountStatus::Active,
        None => AccountStatus::Pending,
        Some("active") => AccountStatus::Active,
        Some("pending") => AccountStatus::Pending,
        Some("suspended") => AccountStatus::Suspended,
        Some("cancelled") => AccountStatus::Cancelled,
        Some(other) => {
            return Err(format!("account {id}: status {other:?} is not active, pending, suspended or cancelled"));
        }
    };
    let credit_limit = match non_empty(row.credit_limit.map(|t| t.0)) {
        None => Decimal::ZERO,
        Some(c) => Decimal::from_str(&c)
            .ok()
            .filter(|d| !d.is_sign_negative() && *d <= AMOUNT_MAX)
            .ok_or(format!("account {id}: credit_limit {c:?} is not a decimal from 0 to {AMOUNT_MAX}"))?,
    };
    let activated = match non_empty(row.activated) {
        None => None,
        Some(d) => Some(
            NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                .map_err(|_| format!("account {id}: activated {d:?} is not a date such as 2026-01-31"))?,
        ),
    };
    let pairs: Vec<(String, String)> = match row.balances {
        None => Vec::new(),
        Some(BalancesField::Table(t)) => t.into_iter().map(|(k, v)| (k, v.0)).collect(),
        Some(BalancesField::Text(t)) => t
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| {
                item.split_once('=')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .ok_or(format!("account {id}: balances entry {item:?} is not name=amount"))
            })
            .collect::<Result<_, _>>()?,
    };
    let mut balances = Vec::with_capacity(pairs.len());
    for (name, amount) in pairs {
        let value = Decimal::from_str(&amount)
            .ok()
            .filter(|d| d.abs() <= AMOUNT_MAX)
            .ok_or(format!("account {id}: balance {name}: {amount:?} is not a decimal of at most {AMOUNT_MAX}"))?;
        balances.push((name, value));
    }
    Ok(AccountRef {
        id: Arc::from(id.as_str()),
        plan,
        currency,
        time_zone,
        partner: non_empty(row.partner),
        status,
        credit_limit,
        segment: non_empty(row.segment),
        tax_region: non_empty(row.tax_region),
        activated,
        balances,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_credit_limits_are_read_exactly_from_csv_and_toml() {
        let csv = Accounts::parse_csv("id,plan,credit_limit\nA1,m,50.50\nA2,m,7\n", "a.csv").unwrap();
        let limits: Vec<String> = csv.list.iter().map(|a| a.credit_limit.to_string()).collect();
        assert_eq!(limits, ["50.50", "7"]);
        let toml = "[[accounts]]\nid = \"A1\"\nplan = \"m\"\ncredit_limit = \"50.50\"\n\n\
                    [[accounts]]\nid = \"A2\"\nplan = \"m\"\ncredit_limit = 7\n";
        let limits: Vec<String> =
            Accounts::parse_toml(toml, "a.toml").unwrap().list.iter().map(|a| a.credit_limit.to_string()).collect();
        assert_eq!(limits, ["50.50", "7"]);
        let float = "[[accounts]]\nid = \"A1\"\nplan = \"m\"\ncredit_limit = 50.5\n";
        assert!(Accounts::parse_toml(float, "a.toml").is_err(), "a TOML float is not exact");
    }

    #[test]
    fn reads_csv_with_lines() {
        let text =
            "id,plan,time_zone,credit_limit,balances\nA1,m,Europe/Berlin,50,main=10.00;bonus=2\nA2,m,Mars/Base,0,\n";
        let err = Accounts::parse_csv(text, "accounts.csv").unwrap_err().to_string();
        assert_eq!(
            err,
            "accounts.csv:3:1: account A2: time_zone \"Mars/Base\" is not an IANA zone such as Europe/Berlin"
        );
        let ok = Accounts::parse_csv("id,plan,balances\nA1,m,main=10.00;bonus=2\n", "a.csv").unwrap();
        let a = ok.get("A1").unwrap();
        assert_eq!(a.status, AccountStatus::Active);
        assert_eq!(a.balances.len(), 2);
        assert_eq!(a.line, 2);
    }

    #[test]
    fn reads_toml() {
        let text = "[[accounts]]\nid = \"A1\"\nplan = \"m\"\ncredit_limit = 50\nbalances = { main = \"5\", bonus = 2 }\n\n[[accounts]]\nid = \"A2\"\nstatus = \"sleeping\"\n";
        let err = Accounts::parse_toml(text, "a.toml").unwrap_err().to_string();
        assert!(err.starts_with("a.toml:7:1: account A2: status \"sleeping\""), "{err}");
    }
}
