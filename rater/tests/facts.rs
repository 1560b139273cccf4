//! Lifecycle facts, over the golden cases' catalogs and events: one fact per
//! lifecycle event booked and one per threshold action, each carrying what
//! its rated record or action does not (plans, channel, reason, what was
//! owed when a payment came in).

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ratewire_rater::{
    Accounts, Checkpoint, Event, Fact, FactKind, FactSource, Output, Rater, RaterConfig, RecordKind, Tables, catalog,
    decode,
};
use rust_decimal::Decimal;

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut dirs: Vec<PathBuf> = fs::read_dir(root).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    dirs
}

/// A golden case, ready to rate.
struct Case {
    tables: Arc<Tables>,
    accounts: Arc<Accounts>,
    events: Vec<Event>,
    now: DateTime<Utc>,
}

/// A case's tables, accounts, events (its own, then `extra`) and clock;
/// `None` for a case whose catalog is refused.
fn load(name: &str, extra: &[&str]) -> Option<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases").join(name);
    let tables = catalog::load(&dir.join("catalog.toml")).ok()?;
    let accounts_file = if dir.join("accounts.toml").exists() { "accounts.toml" } else { "accounts.csv" };
    let accounts = Accounts::load(&dir.join(accounts_file)).unwrap();
    let text = fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let lines = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("//"));
    let events: Vec<Event> = lines.chain(extra.iter().copied()).filter_map(|l| decode(l.as_bytes()).ok()).collect();
    let expected: toml::Table = toml::from_str(&fs::read_to_string(dir.join("expected.toml")).unwrap()).unwrap();
    let now = match expected.get("now") {
        Some(v) => {
            let text = v.as_str().map(String::from).or_else(|| v.as_datetime().map(ToString::to_string)).unwrap();
            DateTime::parse_from_rfc3339(&text.replace(' ', "T")).unwrap().with_timezone(&Utc)
        }
        None => events.iter().map(|e| e.time).max().unwrap(),
    };
    Some(Case { tables: Arc::new(tables), accounts: Arc::new(accounts), events, now })
}

fn rate(name: &str, extra: &[&str]) -> Output {
    let case = load(name, extra).unwrap();
    let mut rater = Rater::new(case.tables, case.accounts, RaterConfig::default());
    let mut out = Output::default();
    rater.rate_batch(&case.events, case.now, &mut out);
    out
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn fact<'a>(out: &'a Output, event_id: &str, source: FactSource) -> &'a Fact {
    let mut found = out.facts.iter().filter(|f| f.event_id == event_id && f.source == source);
    let fact = found.next().unwrap_or_else(|| panic!("no {source:?} fact for {event_id}: {:#?}", out.facts));
    assert!(found.next().is_none(), "two {source:?} facts for {event_id}");
    fact
}

fn is_lifecycle(kind: RecordKind) -> bool {
    use RecordKind::*;
    matches!(kind, Payment | Topup | Adjustment | Subscription | SupportContact | Block | Unblock)
}

#[test]
fn every_lifecycle_record_and_every_action_has_its_fact() {
    let mut with_facts = 0;
    for dir in cases() {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if load(&name, &[]).is_none() {
            continue;
        }
        let out = rate(&name, &[]);
        let (events, rater): (Vec<&Fact>, Vec<&Fact>) = out.facts.iter().partition(|f| f.source == FactSource::Event);

        // Event facts: the lifecycle records, in order, with their kind,
        // time, period, currency and catalog version.
        let records: Vec<_> = out.rated.iter().filter(|r| is_lifecycle(r.kind)).collect();
        assert_eq!(events.len(), records.len(), "{name}");
        for (f, r) in events.iter().zip(&records) {
            let kind = serde_json::to_value(r.kind).unwrap();
            assert_eq!((&f.event_id, f.kind.name()), (&r.event_id, kind.as_str().unwrap()), "{name}");
            assert_eq!((f.event_time, f.period, f.currency), (r.event_time, r.period, r.currency), "{name}");
            assert_eq!((&f.account, &f.catalog_version), (&r.account, &r.catalog_version), "{name}");
            // Money received is the negative of what the record books.
            assert_eq!(f.amount, -r.gross, "{name} {}", f.event_id);
        }

        // Rater facts: the actions, in order.
        assert_eq!(rater.len(), out.actions.len(), "{name}");
        for (f, a) in rater.iter().zip(&out.actions) {
            let kind = serde_json::to_value(a.kind).unwrap();
            assert_eq!((&f.event_id, &f.account, f.event_time), (&a.event_id, &a.account, a.time), "{name}");
            assert_eq!(f.kind.name(), kind.as_str().unwrap(), "{name}");
            assert_eq!(f.reason.as_deref(), Some(a.reason.name()), "{name}");
            assert_eq!((f.amount, f.action, &f.plan, f.owed), (Decimal::ZERO, None, &None, None), "{name}");
        }
        for f in &out.facts {
            let payment = f.kind == FactKind::Payment;
            assert_eq!(f.owed.is_some(), payment, "{name} {}: owed on payments only", f.event_id);
            assert!(f.owed_due_at.is_none() || f.owed.is_some_and(|o| o > Decimal::ZERO), "{name}");
            assert_eq!(f.action.is_some(), f.kind == FactKind::Subscription, "{name}");
            assert!(f.channel.is_none() || f.kind == FactKind::SupportContact, "{name}");
        }
        with_facts += usize::from(!out.facts.is_empty());
    }
    assert!(with_facts >= 8, "only {with_facts} cases have facts");
}

#[test]
fn subscription_steps_carry_the_plans_before_and_after() {
    let out = rate("29_activation_change_plan", &[]);
    let steps: Vec<_> = out
        .facts
        .iter()
        .map(|f| (f.event_id.as_str(), f.action.map(|a| a.name()), f.previous_plan.as_deref(), f.plan.as_deref()))
        .collect();
    assert_eq!(
        steps,
        [
            ("e1", Some("activate"), None, Some("small")),
            ("e3", Some("change_plan"), Some("small"), Some("large")),
            ("e6", Some("activate"), None, Some("small")),
        ]
    );
    // Booked on the account's clock: 00:30 in Berlin on 1 December.
    assert_eq!(fact(&out, "e6", FactSource::Event).period.to_string(), "2026-12");

    let out = rate("30_cancel_credit_reactivate", &[]);
    let steps: Vec<_> = out
        .facts
        .iter()
        .filter(|f| f.kind == FactKind::Subscription)
        .map(|f| (f.event_id.as_str(), f.action.map(|a| a.name()), f.previous_plan.as_deref(), f.plan.as_deref()))
        .collect();
    // e7 cancels a cancelled account: rejected, so no fact. A cancelled
    // account keeps its plan; reactivating names the plan it comes back on.
    assert_eq!(
        steps,
        [
            ("e2", Some("cancel"), Some("small"), Some("small")),
            ("e6", Some("cancel"), Some("small"), Some("small")),
            ("e5", Some("activate"), Some("small"), Some("small")),
            ("e8", Some("cancel"), Some("small"), Some("small")),
        ]
    );
}

#[test]
fn payments_carry_what_was_owed_and_when_it_fell_due() {
    let out = rate("34_unpaid_block", &[]);
    // November left 20.50 owing, due on 15 December in Berlin: 23:00 UTC
    // on the 14th.
    let due = time("2026-12-14T23:00:00Z");
    let owed = |id: &str| {
        let f = fact(&out, id, FactSource::Event);
        (f.amount, f.owed, f.owed_due_at, f.owed_due_at.is_some_and(|d| f.event_time >= d))
    };
    assert_eq!(owed("e5"), (dec("10.00"), Some(dec("20.50")), Some(due), true), "late");
    assert_eq!(owed("e6"), (dec("10.50"), Some(dec("10.50")), Some(due), true), "late, and pays it off");
    assert_eq!(owed("e8"), (dec("20.50"), Some(dec("20.50")), Some(due), false), "on time");

    let contact = fact(&out, "e2", FactSource::Event);
    assert_eq!(contact.kind, FactKind::SupportContact);
    assert_eq!((contact.channel.as_deref(), contact.reason.as_deref()), (Some("phone"), Some("invoice question")));

    let block = fact(&out, "e4", FactSource::Rater);
    assert_eq!((block.kind, block.reason.as_deref()), (FactKind::Block, Some("unpaid")));
    assert_eq!(block.period.to_string(), "2026-12");
    let unblock = fact(&out, "e6", FactSource::Rater);
    assert_eq!((unblock.kind, unblock.reason.as_deref()), (FactKind::Unblock, Some("paid")));

    // Without an unpaid threshold the rater tracks no debt: nothing owed.
    let out = rate("30_cancel_credit_reactivate", &[]);
    let payment = fact(&out, "e4", FactSource::Event);
    assert_eq!((payment.owed, payment.owed_due_at), (Some(Decimal::ZERO), None));
}

#[test]
fn money_facts_keep_the_amount_as_sent_and_rejected_events_have_none() {
    let out = rate("35_payments_topups_adjustments", &[]);
    let money: Vec<_> =
        out.facts.iter().map(|f| (f.event_id.as_str(), f.kind, f.amount.to_string(), f.reason.as_deref())).collect();
    assert_eq!(
        money,
        [
            ("e1", FactKind::Payment, "20.00".into(), None),
            ("e2", FactKind::Topup, "5.00".into(), None),
            ("e3", FactKind::Adjustment, "2.50".into(), Some("goodwill")),
            ("e4", FactKind::Adjustment, "-1".into(), Some("handset insurance")),
            ("e10", FactKind::Topup, "1.50".into(), None),
        ]
    );
    assert!(out.facts.iter().all(|f| f.currency.as_str() == "EUR" && f.period.to_string() == "2026-11"));
}

#[test]
fn blocks_and_unblocks_sent_as_events_are_facts_of_the_event() {
    let extra = [
        r#"{"v":1,"id":"b1","kind":"block","account":"A2","time":"2026-12-16T11:00:00Z","reason":"fraud check"}"#,
        r#"{"v":1,"id":"u1","kind":"unblock","account":"A2","time":"2026-12-16T12:00:00Z"}"#,
        r#"{"v":1,"id":"s1","kind":"support_contact","account":"A2","time":"2026-12-16T13:00:00Z"}"#,
    ];
    let out = rate("34_unpaid_block", &extra);
    let facts: Vec<_> = ["b1", "u1", "s1"]
        .iter()
        .map(|id| fact(&out, id, FactSource::Event))
        .map(|f| (f.kind, f.reason.as_deref(), f.channel.as_deref(), f.amount))
        .collect();
    assert_eq!(
        facts,
        [
            (FactKind::Block, Some("fraud check"), None, Decimal::ZERO),
            (FactKind::Unblock, None, None, Decimal::ZERO),
            (FactKind::SupportContact, None, None, Decimal::ZERO),
        ]
    );
}

#[test]
fn facts_are_the_same_across_a_checkpoint() {
    for name in ["29_activation_change_plan", "30_cancel_credit_reactivate", "33_credit_limit_block", "34_unpaid_block"]
    {
        let Case { tables, accounts, events, now } = load(name, &[]).unwrap();
        let config = RaterConfig::default();
        let mut whole = Output::default();
        Rater::new(tables.clone(), accounts.clone(), config).rate_batch(&events, now, &mut whole);
        for split in 0..=events.len() {
            let mut first = Rater::new(tables.clone(), accounts.clone(), config);
            let mut out = Output::default();
            first.rate_batch(&events[..split], now, &mut out);
            let saved: Checkpoint = serde_json::from_str(&serde_json::to_string(&first.checkpoint()).unwrap()).unwrap();
            let mut second = Rater::new(tables.clone(), accounts.clone(), config);
            second.restore(&saved).unwrap();
            second.rate_batch(&events[split..], now, &mut out);
            assert_eq!(out.facts, whole.facts, "{name}: split at {split}");
        }
    }
}

#[test]
fn names_are_the_json_names_and_clear_empties_the_facts() {
    for kind in FactKind::ALL {
        assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
    }
    for source in [FactSource::Event, FactSource::Rater] {
        assert_eq!(serde_json::to_value(source).unwrap(), source.name());
    }
    let mut out = rate("34_unpaid_block", &[]);
    let payment = serde_json::to_value(fact(&out, "e5", FactSource::Event)).unwrap();
    assert_eq!(payment["kind"], "payment");
    assert_eq!(payment["owed"], "20.50");
    assert_eq!(payment["action"], serde_json::Value::Null);
    out.clear();
    assert!(out.facts.is_empty());
}
