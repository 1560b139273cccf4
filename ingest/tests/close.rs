//! The pipeline over a ledger with a closed period: restarted after the
//! close, it restores its accounts' state (still in the closed month) and
//! books late events of that month in the next one, never in the closed
//! one, which the ledger would refuse.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ratewire_ingest::{Error, Message, Options, Pipeline, ReferenceHandle, SideOutput, Source, Until};
use ratewire_ledger::{CloseOptions, Ledger, RejectedEvent, SourceRange, Table, Totals};
use ratewire_rater::dedup::EventIds;
use ratewire_rater::time::Period;
use ratewire_rater::{Action, RaterConfig};

const TOPIC: &str = "events";

fn reference() -> Arc<ReferenceHandle> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples");
    Arc::new(ReferenceHandle::open(&dir.join("catalog.toml"), &dir.join("accounts.csv")).unwrap())
}

/// Replays `messages` from the start; the pipeline skips what it committed.
struct Replay {
    messages: Vec<Message>,
    cursor: usize,
}

impl Source for Replay {
    fn poll(&mut self, _timeout: Duration, into: &mut Message) -> Result<bool, Error> {
        let Some(message) = self.messages.get(self.cursor) else { return Ok(false) };
        into.clone_from(message);
        self.cursor += 1;
        Ok(true)
    }

    fn committed(&mut self, _positions: &[SourceRange]) -> Result<(), Error> {
        Ok(())
    }

    fn caught_up(&mut self) -> Result<bool, Error> {
        Ok(self.cursor == self.messages.len())
    }
}

struct Discard;

impl SideOutput for Discard {
    fn dead_letter(&mut self, _: &RejectedEvent) -> Result<(), Error> {
        Ok(())
    }
    fn action(&mut self, _: &Action) -> Result<(), Error> {
        Ok(())
    }
    fn flush(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

fn sms(offset: i64, account: &str, time: &str) -> Message {
    let payload = format!(
        r#"{{"v":1,"id":"m{offset}","kind":"usage","account":"{account}","time":"{time}","service":"sms","quantity":1,"destination":"+3361000{offset:03}"}}"#
    );
    Message { topic: TOPIC.into(), partition: 0, offset, payload: payload.into_bytes() }
}

fn run(dir: &Path, messages: &[Message]) {
    let (ledger, recovery) = Ledger::open(dir).unwrap();
    let mut ids = EventIds::default();
    ledger.for_each_event_id(|id| ids.insert(id)).unwrap();
    let options = Options {
        rate_workers: 2,
        batch_messages_max: 4,
        queue_batches_max: 2,
        commit_interval_ms: 1000,
        commit_rows_max: 5,
        message_bytes_max: 65_536,
        rater: RaterConfig { event_age_max_days: 36_500, ..RaterConfig::default() },
    };
    let pipeline = Pipeline::new(ledger, recovery.checkpoint, ids, Box::new(Discard), reference(), options);
    let mut source = Replay { messages: messages.to_vec(), cursor: 0 };
    let summary = pipeline.run(&mut source, Until::CaughtUp, &AtomicBool::new(false), &mut |_| {}).unwrap();
    assert_eq!(summary.rejected, 0, "{summary:?}");
}

/// Totals of the `rated` files of `period`.
fn rated_in(ledger: &Ledger, period: &str) -> Totals {
    let mut totals = Totals::zero(Table::Rated);
    let files = ledger.committed_files().iter().filter(|f| f.table == Table::Rated);
    for file in files.filter(|f| f.path.contains(&format!("/period={period}/"))) {
        totals.add(&file.totals);
    }
    totals
}

#[test]
fn a_restarted_pipeline_books_late_events_of_a_closed_month_in_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = ["ACC-1001", "ACC-1003"];
    let mut messages: Vec<Message> =
        (0..8).map(|i| sms(i, accounts[(i % 2) as usize], "2026-11-10T10:00:00Z")).collect();
    messages.push(sms(8, "ACC-1001", "2026-12-02T10:00:00Z"));
    run(dir.path(), &messages);

    let (mut ledger, _) = Ledger::open(dir.path()).unwrap();
    let now: DateTime<Utc> = "2026-12-05T08:00:00Z".parse().unwrap();
    let closed = ledger.close_period(&CloseOptions { period: Period::new(2026, 11), now }).unwrap();
    let november = rated_in(&ledger, "2026-11");
    assert_eq!(closed.close.totals[&Table::Rated], november);
    let december = rated_in(&ledger, "2026-12");
    drop(ledger);

    // Late November events of both accounts: ACC-1003 is still in November
    // in the restored state; ACC-1001 has moved on to December.
    messages.extend([sms(9, "ACC-1003", "2026-11-29T10:00:00Z"), sms(10, "ACC-1001", "2026-11-30T10:00:00Z")]);
    run(dir.path(), &messages);

    let (ledger, recovery) = Ledger::open(dir.path()).unwrap();
    assert_eq!(recovery.closed_through, Some(Period::new(2026, 11)));
    assert_eq!(rated_in(&ledger, "2026-11"), november, "nothing was added to the closed month");
    let after = rated_in(&ledger, "2026-12");
    // The two events, and ACC-1003's November expiries and December
    // grants and fees, all booked in December.
    assert!(after.rows >= december.rows + 2, "{december:?} -> {after:?}");
    ledger.verify().unwrap();
}
