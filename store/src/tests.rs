//! Push and pull of small ledgers made through the ledger's own API, to a
//! `file://` remote in a temporary directory and to an in-memory store.

use std::collections::BTreeMap;
use std::fs;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use object_store::memory::InMemory;
use ratewire_ledger::{
    Commit, CompactOptions, LOCK_FILE, Ledger, MANIFEST_DIR, RejectedEvent, Snapshot, SourceRange, TRASH_DIR,
};
use ratewire_rater::{Reject, RejectCode, Rejected};

use crate::{Error, PUT_SINGLE_BYTES_MAX, Remote, Report, Step, pull, pull_with, push, push_with};

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|e| panic!("{e}"))
}

fn time(text: &str) -> DateTime<Utc> {
    ok(DateTime::parse_from_rfc3339(text)).with_timezone(&Utc)
}

const BOOKED_AT: &str = "2026-11-03T13:00:00Z";

fn rejected(offset: i64) -> RejectedEvent {
    RejectedEvent {
        rejected: Rejected {
            event_id: None,
            account: Some(format!("A{offset}").into()),
            reject: Reject::payload(RejectCode::MalformedJson, "payload: not JSON"),
            catalog_version: ratewire_rater::Name::new("test-1"),
        },
        event_time: None,
        payload: format!("{{not json {offset}").into_bytes(),
        source: ratewire_rater::Name::new("events.jsonl"),
        partition: 0,
        offset,
    }
}

/// Ingest commit `i`: two rejects, booked in one partition, and a
/// checkpoint of `checkpoint_bytes` bytes.
fn ingest(ledger: &mut Ledger, i: i64, checkpoint_bytes: usize) {
    let offset = i * 10;
    let rejects = [rejected(offset + 1), rejected(offset + 2)];
    let offsets = [SourceRange { source: "events.jsonl".into(), partition: 0, from: offset + 1, to: offset + 3 }];
    let mut checkpoint = format!("state {i};").into_bytes();
    let mut x = 0x9e37_79b9_u32.wrapping_add(u32::try_from(i).unwrap_or_default());
    while checkpoint.len() < checkpoint_bytes {
        // Incompressible bytes, as a real checkpoint's would mostly be.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        checkpoint.extend_from_slice(&x.to_le_bytes());
    }
    let commit = Commit {
        rated: &[],
        rejected: &rejects,
        facts: &[],
        offsets: &offsets,
        checkpoint: &checkpoint,
        booked_at: time(BOOKED_AT),
    };
    ok(ledger.commit(&commit));
}

fn compact(ledger: &mut Ledger) {
    let report = ok(ledger.compact(&CompactOptions { now: time(BOOKED_AT), ..CompactOptions::default() }));
    assert_eq!(report.sequences.len(), 1);
}

/// A ledger of five commits: three ingests into one partition, a
/// compaction merging their files (commit 4, its inputs in the trash) and
/// an ingest whose checkpoint is large enough for a multipart upload.
fn five_commits(dir: &Path) {
    let (mut ledger, _) = ok(Ledger::open(dir));
    for i in 1..=3 {
        ingest(&mut ledger, i, 16);
    }
    compact(&mut ledger);
    ingest(&mut ledger, 5, usize::try_from(PUT_SINGLE_BYTES_MAX).unwrap_or_default() + 4096);
    assert_eq!(ledger.sequence(), 5);
}

fn file_remote(dir: &Path) -> Remote {
    ok(Remote::parse(&format!("file://{}", dir.display())))
}

/// Every file under `dir` but the lock, by path relative to it.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, found: &mut BTreeMap<String, Vec<u8>>) {
        for entry in ok(fs::read_dir(dir)) {
            let path = ok(entry).path();
            if path.is_dir() {
                walk(root, &path, found);
            } else {
                let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
                if relative != format!("{MANIFEST_DIR}/{LOCK_FILE}") {
                    found.insert(relative, ok(fs::read(&path)));
                }
            }
        }
    }
    let mut found = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut found);
    }
    found
}

fn names(files: &BTreeMap<String, Vec<u8>>) -> Vec<&str> {
    files.keys().map(String::as_str).collect()
}

/// Checks that the ledger in `copy` reads as `original` did at the copy's
/// latest commit.
fn reads_as(copy: &Path, original: &Path) -> u64 {
    let snapshot = ok(Snapshot::open(copy));
    let expected = ok(Snapshot::at(original, snapshot.sequence()));
    assert_eq!(ok(snapshot.verify()), ok(expected.verify()));
    assert_eq!(snapshot.totals(), expected.totals());
    assert_eq!(snapshot.positions(), expected.positions());
    snapshot.sequence()
}

#[test]
fn a_second_push_copies_nothing_and_a_pull_gives_the_same_bytes() {
    let tmp = ok(tempfile::tempdir());
    let (dir, bucket, copy) = (tmp.path().join("ledger"), tmp.path().join("bucket"), tmp.path().join("copy"));
    five_commits(&dir);
    let remote = file_remote(&bucket);

    let report = ok(push(&dir, &remote));
    assert_eq!((report.before, report.after, report.commits), (0, 5, 5));
    // The compaction's three inputs (into its trash), its output and the
    // last commit's file; the last checkpoint alone (the ledger keeps one).
    assert_eq!((report.files, report.files_skipped, report.checkpoints), (5, 0, 1));
    assert!(!report.checkpoint_missing);
    assert!(report.bytes > PUT_SINGLE_BYTES_MAX);
    let original = files(&dir);
    assert_eq!(names(&files(&bucket)), names(&original));
    assert_eq!(files(&bucket), original);
    assert!(original.keys().any(|p| p.starts_with(TRASH_DIR)), "{:?}", names(&original));

    let again = ok(push(&dir, &remote));
    assert_eq!(again, Report { before: 5, after: 5, ..Report::default() });

    let report = ok(pull(&remote, &copy));
    assert_eq!((report.before, report.after, report.commits, report.files), (0, 5, 5, 5));
    assert_eq!(files(&copy), original);
    assert_eq!(reads_as(&copy, &dir), 5);
    assert_eq!(ok(pull(&remote, &copy)), Report { before: 5, after: 5, ..Report::default() });

    // The copy is a ledger a writer can take up.
    let (ledger, recovery) = ok(Ledger::open(&copy));
    assert_eq!(recovery.sequence, 5);
    assert_eq!(recovery.checkpoint, ok(Snapshot::open(&dir).and_then(|s| s.checkpoint())));
    assert!(recovery.removed.is_empty() && recovery.trashed.is_empty(), "{recovery:?}");
    drop(ledger);
}

#[test]
fn an_interrupted_push_leaves_a_readable_remote_and_the_next_one_finishes() {
    let tmp = ok(tempfile::tempdir());
    let dir = tmp.path().join("ledger");
    five_commits(&dir);
    let original = files(&dir);
    for stop_at in 0.. {
        let round = tmp.path().join(format!("round-{stop_at}"));
        let (bucket, copy) = (round.join("bucket"), round.join("copy"));
        let remote = file_remote(&bucket);
        let mut steps = 0;
        let mut hook = |_: Step| {
            steps += 1;
            if steps > stop_at { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        };
        let stopped = match push_with(&dir, &remote, &mut hook) {
            Err(Error::Aborted(step)) => step,
            Ok(_) => break,
            Err(e) => panic!("{e}"),
        };

        // What the remote holds reads as the ledger did at its latest commit.
        let partial = ok(pull(&remote, &copy));
        let sequence = reads_as(&copy, &dir);
        assert_eq!(partial.after, sequence, "stopped after {stopped:?}");

        let resumed = ok(push(&dir, &remote));
        assert_eq!((resumed.before, resumed.after), (sequence, 5), "stopped after {stopped:?}");
        assert_eq!(resumed.commits, 5 - sequence);
        assert_eq!(files(&bucket), original, "stopped after {stopped:?}");

        // The pull goes on from where it was, too.
        let rest = ok(pull(&remote, &copy));
        assert_eq!((rest.before, rest.after), (sequence, 5));
        assert_eq!(files(&copy), original, "stopped after {stopped:?}");
        assert!(!rest.checkpoint_missing);
    }
}

#[test]
fn an_interrupted_pull_leaves_a_readable_copy_and_the_next_one_finishes() {
    let tmp = ok(tempfile::tempdir());
    let (dir, bucket) = (tmp.path().join("ledger"), tmp.path().join("bucket"));
    five_commits(&dir);
    let remote = file_remote(&bucket);
    ok(push(&dir, &remote));
    for stop_at in 0.. {
        let copy = tmp.path().join(format!("copy-{stop_at}"));
        let mut steps = 0;
        let mut hook = |_: Step| {
            steps += 1;
            if steps > stop_at { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        };
        let stopped = match pull_with(&remote, &copy, &mut hook) {
            Err(Error::Aborted(step)) => step,
            Ok(_) => break,
            Err(e) => panic!("{e}"),
        };
        let sequence = reads_as(&copy, &dir);
        let rest = ok(pull(&remote, &copy));
        assert_eq!((rest.before, rest.after), (sequence, 5), "stopped after {stopped:?}");
        assert_eq!(files(&copy), files(&dir), "stopped after {stopped:?}");
    }
}

#[test]
fn files_gone_from_the_trash_are_skipped_and_their_commits_published_together() {
    let tmp = ok(tempfile::tempdir());
    let (dir, bucket, copy) = (tmp.path().join("ledger"), tmp.path().join("bucket"), tmp.path().join("copy"));
    five_commits(&dir);
    // As if the trash's grace period were over and a compaction deleted it.
    ok(fs::remove_dir_all(dir.join(TRASH_DIR)));
    let remote = file_remote(&bucket);

    let mut published = Vec::new();
    let mut hook = |step| {
        if let Step::Manifest(sequence) = step {
            published.push(sequence);
        }
        ControlFlow::Continue(())
    };
    let report = ok(push_with(&dir, &remote, &mut hook));
    assert_eq!((report.files, report.files_skipped, report.commits), (2, 3, 5));
    assert_eq!(published, [1, 2, 3, 4, 5]);
    assert_eq!(files(&bucket), files(&dir));

    ok(pull(&remote, &copy));
    assert_eq!(files(&copy), files(&dir));
    assert_eq!(reads_as(&copy, &dir), 5);
}

#[test]
fn a_later_compaction_moves_the_remote_files_to_its_trash_and_its_purge_follows() {
    let tmp = ok(tempfile::tempdir());
    let (dir, copy) = (tmp.path().join("ledger"), tmp.path().join("copy"));
    let remote = ok(Remote::new("memory://test", Arc::new(InMemory::new()), "some/prefix"));
    let (mut ledger, _) = ok(Ledger::open(&dir));
    for i in 1..=3 {
        ingest(&mut ledger, i, 16);
    }
    assert_eq!(ok(push(&dir, &remote)).commits, 3);
    ok(pull(&remote, &copy));

    compact(&mut ledger);
    ingest(&mut ledger, 5, 16);
    let report = ok(push(&dir, &remote));
    assert_eq!((report.before, report.commits, report.files, report.trashed), (3, 2, 2, 3));
    let report = ok(pull(&remote, &copy));
    assert_eq!((report.before, report.commits, report.files, report.trashed), (3, 2, 2, 3));
    assert_eq!(files(&copy), files(&dir));
    assert_eq!(reads_as(&copy, &dir), 5);

    // The writer deletes the compaction's trash; the remote, then the copy,
    // follow.
    ok(fs::remove_dir_all(dir.join(TRASH_DIR)));
    let report = ok(push(&dir, &remote));
    assert_eq!((report.commits, report.trash_purged), (0, 1));
    let report = ok(pull(&remote, &copy));
    assert_eq!((report.commits, report.trash_purged), (0, 1));
    assert_eq!(files(&copy), files(&dir));
    drop(ledger);
}

#[test]
fn a_pull_refuses_another_ledger_and_a_directory_a_writer_has_open() {
    let tmp = ok(tempfile::tempdir());
    let (dir, bucket) = (tmp.path().join("ledger"), tmp.path().join("bucket"));
    five_commits(&dir);
    let remote = file_remote(&bucket);
    ok(push(&dir, &remote));

    // Another ledger: the same first commit but for its checkpoint.
    let other = tmp.path().join("other");
    let (mut ledger, _) = ok(Ledger::open(&other));
    ingest(&mut ledger, 1, 64);
    assert!(matches!(pull(&remote, &other), Err(Error::Locked { .. })));
    drop(ledger);
    assert!(matches!(pull(&remote, &other), Err(Error::Diverged { sequence: 1, .. })));
    // The remote has commits this ledger lacks.
    let refused = push(&other, &remote);
    assert!(matches!(refused, Err(Error::Diverged { sequence: 2, .. })), "{refused:?}");

    // A copy ahead of the remote: a commit the remote lacks.
    let ahead = tmp.path().join("ahead");
    ok(pull(&remote, &ahead));
    let (mut ledger, _) = ok(Ledger::open(&ahead));
    ingest(&mut ledger, 6, 16);
    drop(ledger);
    assert!(matches!(pull(&remote, &ahead), Err(Error::Diverged { sequence: 6, .. })));

    assert!(matches!(push(tmp.path().join("nothing"), &remote), Err(Error::NotALedger { .. })));
}

#[test]
fn urls_are_s3_or_absolute_file_paths() {
    for url in ["s3:/bucket", "s3://", "file://relative/path", "gs://bucket/x", "/plain/path"] {
        assert!(matches!(Remote::parse(url), Err(Error::Url { .. })), "{url}");
    }
    let remote = ok(Remote::parse("file:///srv/mirror/ledger/"));
    assert_eq!(remote.key("_manifest/x.json").as_ref(), "srv/mirror/ledger/_manifest/x.json");
    let remote = ok(Remote::parse("s3://bucket/a/b"));
    assert_eq!(remote.key("table=rated/f.parquet").as_ref(), "a/b/table=rated/f.parquet");
    assert_eq!(ok(Remote::parse("s3://bucket")).key("x").as_ref(), "x");
}
