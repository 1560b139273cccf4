//! Every golden case of the rater, booked in a ledger: whatever the rater
//! produces fits the ledger's columns and reads back to the same totals.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::path::Path;
use std::sync::Arc;

use chrono::Utc;
use ratewire_ledger::{Commit, Ledger, RejectedEvent, SourceRange, Table, to_units};
use ratewire_rater::{Accounts, Output, Rater, RaterConfig, catalog, decode};

#[test]
fn every_golden_case_books_and_reads_back() {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rater/tests/cases");
    let mut booked = 0;
    for entry in std::fs::read_dir(&cases).unwrap() {
        let case = entry.unwrap().path();
        let (Ok(tables), Ok(accounts)) =
            (catalog::load(&case.join("catalog.toml")), Accounts::load(&case.join("accounts.csv")))
        else {
            continue; // The catalog-error cases rate nothing.
        };
        let mut rater = Rater::new(Arc::new(tables), Arc::new(accounts), RaterConfig::default());
        let text = std::fs::read_to_string(case.join("events.jsonl")).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let now = lines.iter().filter_map(|l| decode(l.as_bytes()).ok()).map(|e| e.time).max().unwrap_or_else(Utc::now);
        let mut out = Output::default();
        let mut rejected = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let before = out.rejected.len();
            match decode(line.as_bytes()) {
                Ok(event) => rater.rate(&event, now, &mut out),
                Err(reject) => rater.reject_payload(reject, &mut out),
            }
            for r in &out.rejected[before..] {
                rejected.push(RejectedEvent {
                    rejected: r.clone(),
                    event_time: None,
                    payload: line.as_bytes().to_vec(),
                    source: ratewire_rater::Name::new("events.jsonl"),
                    partition: 0,
                    offset: i as i64 + 1,
                });
            }
        }

        let dir = tempfile::tempdir().unwrap();
        let (mut ledger, _) = Ledger::open(dir.path()).unwrap();
        let offsets =
            [SourceRange { source: "events.jsonl".into(), partition: 0, from: 1, to: lines.len() as i64 + 1 }];
        let commit = Commit {
            rated: std::slice::from_ref(&out.rated),
            rejected: &rejected,
            facts: &out.facts,
            offsets: &offsets,
            checkpoint: &[],
            booked_at: now,
        };
        ledger.commit(&commit).unwrap();
        let totals = ledger.verify().unwrap();
        let rated = &totals[&Table::Rated];
        assert_eq!(rated.rows, out.rated.len() as u64, "{}", case.display());
        assert_eq!(
            rated.sums["gross"],
            out.rated.iter().map(|r| to_units(r.gross)).sum::<i128>(),
            "{}",
            case.display()
        );
        let draws: usize = out.rated.iter().map(|r| r.draws.len()).sum();
        assert_eq!(totals[&Table::Draws].rows, draws as u64, "{}", case.display());
        assert_eq!(totals[&Table::Rejects].rows, rejected.len() as u64, "{}", case.display());
        let facts = &totals[&Table::Facts];
        assert_eq!(facts.rows, out.facts.len() as u64, "{}", case.display());
        let amount: i128 = out.facts.iter().map(|f| to_units(f.amount)).sum();
        assert_eq!(facts.sums["amount"], amount, "{}", case.display());
        booked += 1;
    }
    assert!(booked >= 30, "only {booked} cases found in {}", cases.display());
}
