//! A checkpoint taken in the middle of a stream and restored into a fresh
//! rater (as after a restart) changes nothing: for every golden case and
//! every split point, rating the first part, checkpointing through JSON,
//! restoring and rating the rest gives exactly the records, rejects and
//! actions of one uninterrupted run.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use chrono::{DateTime, Utc};
use ratewire_rater::{
    AccountCheckpoint, Accounts, Checkpoint, Event, Output, Rater, RaterConfig, Tables, catalog, decode,
};

struct Case {
    tables: Arc<Tables>,
    accounts: Arc<Accounts>,
    events: Vec<Event>,
    now: DateTime<Utc>,
}

fn load(dir: &Path) -> Result<Option<Case>> {
    let Ok(tables) = catalog::load(&dir.join("catalog.toml")) else { return Ok(None) };
    let accounts_file = if dir.join("accounts.toml").exists() { "accounts.toml" } else { "accounts.csv" };
    let accounts = Accounts::load(&dir.join(accounts_file))?;
    let text = fs::read_to_string(dir.join("events.jsonl"))?;
    let events: Vec<Event> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .filter_map(|l| decode(l.as_bytes()).ok())
        .collect();
    let expected: toml::Table = toml::from_str(&fs::read_to_string(dir.join("expected.toml"))?)?;
    let now = match expected.get("now") {
        Some(v) => {
            let text =
                v.as_str().map(String::from).or_else(|| v.as_datetime().map(ToString::to_string)).context("now")?;
            DateTime::parse_from_rfc3339(&text.replace(' ', "T"))?.with_timezone(&Utc)
        }
        None => events.iter().map(|e| e.time).max().unwrap_or_default(),
    };
    Ok(Some(Case { tables: Arc::new(tables), accounts: Arc::new(accounts), events, now }))
}

/// Every golden case with a catalog that loads, in directory order.
fn cases() -> Result<Vec<(PathBuf, Case)>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut dirs: Vec<_> = fs::read_dir(&root)?.filter_map(Result::ok).map(|e| e.path()).collect();
    dirs.sort();
    let mut cases = Vec::new();
    for dir in dirs {
        if let Some(case) = load(&dir)? {
            cases.push((dir, case));
        }
    }
    Ok(cases)
}

fn rate(rater: &mut Rater, events: &[Event], now: DateTime<Utc>, out: &mut Output) {
    for e in events {
        rater.rate(e, now, out);
    }
}

fn json(out: &Output) -> String {
    format!(
        "{}\n{}\n{}",
        serde_json::to_string(&out.rated).unwrap(),
        serde_json::to_string(&out.rejected).unwrap(),
        serde_json::to_string(&out.actions).unwrap()
    )
}

#[test]
fn restoring_a_checkpoint_is_invisible() -> Result<()> {
    let mut splits = 0;
    for (dir, case) in cases()? {
        let config = RaterConfig::default();
        let mut whole = Output::default();
        let mut once = Rater::new(case.tables.clone(), case.accounts.clone(), config);
        rate(&mut once, &case.events, case.now, &mut whole);
        for split in 0..=case.events.len() {
            let mut first = Rater::new(case.tables.clone(), case.accounts.clone(), config);
            let mut out = Output::default();
            rate(&mut first, &case.events[..split], case.now, &mut out);
            let saved: Checkpoint = serde_json::from_str(&serde_json::to_string(&first.checkpoint())?)?;
            let mut second = Rater::new(case.tables.clone(), case.accounts.clone(), config);
            second.restore(&saved)?;
            rate(&mut second, &case.events[split..], case.now, &mut out);
            ensure!(json(&out) == json(&whole), "{}: split at event {split} changed the output", dir.display());
            ensure!(
                second.checkpoint() == once.checkpoint(),
                "{}: split at event {split} changed the state",
                dir.display()
            );
            splits += 1;
        }
    }
    ensure!(splits > 100, "only {splits} splits ran");
    Ok(())
}

#[test]
fn a_checkpoint_restores_only_into_a_fresh_rater() {
    let tables = Arc::new(
        catalog::parse("version = \"v\"\ncurrency = \"EUR\"\n[services.sms]\nunit = \"message\"\n[plans]\n", "c.toml")
            .unwrap(),
    );
    let accounts = Arc::new(Accounts::parse_csv("id\nA1\n", "a.csv").unwrap());
    let mut rater = Rater::new(tables.clone(), accounts.clone(), RaterConfig::default());
    let mut out = Output::default();
    let e =
        decode(br#"{"v":1,"id":"s","kind":"support_contact","account":"A1","time":"2026-11-03T10:00:00Z"}"#).unwrap();
    rater.rate(&e, e.time, &mut out);
    let saved = rater.checkpoint();
    assert!(rater.restore(&saved).is_err());
    let mut unknown = saved.clone();
    unknown.accounts[0].id = "NOPE".into();
    let mut fresh = Rater::new(tables, accounts, RaterConfig::default());
    assert!(fresh.restore(&unknown).unwrap_err().to_string().contains("NOPE"));
}

#[test]
fn changed_entries_keep_the_checkpoint_up_to_date() -> Result<()> {
    let mut steps = 0;
    for (dir, case) in cases()? {
        let mut rater = Rater::new(case.tables.clone(), case.accounts.clone(), RaterConfig::default());
        let mut out = Output::default();
        let mut kept = Vec::new();
        // After every event: only its account's entry is handed over (none
        // once it has been), and the kept entries are the whole checkpoint.
        for event in &case.events {
            rater.rate(event, case.now, &mut out);
            let mut changed = Vec::new();
            rater.for_each_changed(|slot, view| {
                // The borrowed entry serializes as the owned one.
                let entry = view.to_checkpoint();
                ensure!(
                    serde_json::to_string(&view)? == serde_json::to_string(&entry)?,
                    "{}: {} serializes otherwise borrowed",
                    dir.display(),
                    entry.id
                );
                // In a binary format too (amounts and dates compact), and
                // the bytes read back as the entry.
                let (mut a, mut b) = (vec![0_u8; 1 << 16], vec![0_u8; 1 << 16]);
                let borrowed = postcard::to_slice(&view, &mut a)?;
                ensure!(
                    *borrowed == *postcard::to_slice(&entry, &mut b)?,
                    "{}: {} encodes otherwise borrowed",
                    dir.display(),
                    entry.id
                );
                ensure!(
                    postcard::from_bytes::<AccountCheckpoint>(borrowed)? == entry,
                    "{}: {} does not read back",
                    dir.display(),
                    entry.id
                );
                changed.push((slot, entry));
                Ok(())
            })?;
            ensure!(changed.len() <= 1, "{}: one event changed {} accounts", dir.display(), changed.len());
            for (slot, entry) in changed {
                ensure!(entry.id == event.account, "{}: {} changed for {}", dir.display(), entry.id, event.id);
                if slot == kept.len() {
                    kept.push(entry);
                } else {
                    kept[slot] = entry;
                }
            }
            ensure!(rater.checkpoint_changed().is_empty(), "{}: the marks were not cleared", dir.display());
            ensure!(kept == rater.checkpoint().accounts, "{}: after {} the entries disagree", dir.display(), event.id);
            steps += 1;
        }
        // A restored rater hands over every account first.
        let mut restored = Rater::new(case.tables.clone(), case.accounts.clone(), RaterConfig::default());
        restored.restore(&rater.checkpoint())?;
        let all: Vec<_> = restored.checkpoint_changed().into_iter().map(|(_, entry)| entry).collect();
        ensure!(all == kept, "{}: a restored rater handed over other entries", dir.display());
    }
    ensure!(steps > 100, "only {steps} events ran");
    Ok(())
}
