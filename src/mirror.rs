//! The ledger's mirror as part of `ratewire run` (`ledger.mirror_url`; see
//! `docs/object-store.md`): a thread pushes the ledger directory to the
//! remote at start, then every `ledger.mirror_interval_ms`, beside the
//! writer (a push takes no lock), and once more after the pipeline has
//! drained and made its last commit.
//!
//! The pipeline never waits for the mirror: a push runs on the mirror's
//! thread, one at a time, and a failed one is logged and counted, and the
//! next tries again. Only the process's exit waits for the final push, at
//! most [`FINAL_PUSH_TIMEOUT_MS`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};
use ratewire_ingest::Metrics;
use ratewire_ingest::config::Config;
use ratewire_store::{Remote, Report};

/// Longest the process waits, after the pipeline's last commit, for the
/// final push (and for a push under way to end first): well within the
/// grace periods of `docs/operations.md` (60 s in compose, 120 s in the
/// StatefulSet), with time left for draining.
pub const FINAL_PUSH_TIMEOUT_MS: u64 = 30_000;

/// The binary's check of `ledger.mirror_url`, added to the configuration's
/// own ([`ratewire_ingest::config::ExtraCheck`]): a URL that
/// [`Remote::parse`] refuses is refused with the configuration, at the place
/// that set it.
pub fn check_config(config: &Config) -> Vec<(&'static str, String)> {
    let url = &config.ledger.mirror_url;
    if url.is_empty() {
        return Vec::new();
    }
    match Remote::parse(url) {
        Ok(_) => Vec::new(),
        Err(ratewire_store::Error::Url { reason, .. }) => {
            vec![("ledger.mirror_url", format!("ledger.mirror_url: {url:?} is not a mirror URL: {reason}"))]
        }
        Err(e) => vec![("ledger.mirror_url", format!("ledger.mirror_url: {e}"))],
    }
}

/// The remote that `dir`, the ledger directory of this instance under the
/// ledger root `root`, is pushed to: the one at `url` when the instance owns
/// the root alone, else the same relative path under it
/// (`members/<instance>`), so that the remote mirrors the root's layout.
///
/// # Errors
/// As [`Remote::parse`].
pub fn remote_for(url: &str, root: &Path, dir: &Path) -> Result<Remote, ratewire_store::Error> {
    let relative = dir.strip_prefix(root).unwrap_or(Path::new(""));
    let mut url = url.to_string();
    for part in relative.components() {
        url = format!("{}/{}", url.trim_end_matches('/'), part.as_os_str().to_string_lossy());
    }
    Remote::parse(&url)
}

/// The mirror's thread, pushing until [`Mirror::finish`].
#[derive(Debug)]
pub struct Mirror {
    url: String,
    /// Asks the thread for its final push (one message, never queued more).
    finish: SyncSender<()>,
    /// The final push's result.
    done: Receiver<Result<Report, ratewire_store::Error>>,
    thread: JoinHandle<()>,
}

impl Mirror {
    /// Starts pushing the ledger directory `dir` to `remote`: now, then
    /// every `interval`.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn start(dir: PathBuf, remote: Remote, interval: Duration, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        let (finish, finish_asked) = mpsc::sync_channel(1);
        let (done_tx, done) = mpsc::sync_channel(1);
        let url = remote.to_string();
        let interval = interval.max(Duration::from_millis(1));
        let thread = std::thread::Builder::new().name("mirror".into()).spawn(move || {
            let mut next = Instant::now();
            loop {
                match finish_asked.recv_timeout(next.saturating_duration_since(Instant::now())) {
                    Err(RecvTimeoutError::Timeout) => {
                        if let Err(e) = push(&dir, &remote, &metrics) {
                            let every = interval.as_millis();
                            warn!(
                                "mirror {remote}: push failed: {e}; trying again at the next tick (every {every} ms)"
                            );
                        }
                        next = next_tick(next, interval, Instant::now());
                    }
                    // Asked, or the `Mirror` dropped (the run failed): one last push.
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                        let _ = done_tx.send(push(&dir, &remote, &metrics));
                        return;
                    }
                }
            }
        })?;
        Ok(Self { url, finish, done, thread })
    }

    /// The final push, once the pipeline has made its last commit: waits
    /// for it (after a push under way, if any) at most `timeout`, and logs
    /// how it went. A push cut short by the process's exit leaves the
    /// mirror as of its latest manifest; the next push goes on from there.
    pub fn finish(self, timeout: Duration) {
        let url = &self.url;
        let _ = self.finish.try_send(());
        match self.done.recv_timeout(timeout) {
            Ok(result) => {
                match result {
                    Ok(report) => info!("mirror {url}: final push done, the mirror is at commit {}", report.after),
                    Err(e) => error!(
                        "mirror {url}: the final push failed: {e}; the mirror may lack the latest commits until \
                         the next push (the next start, or `ratewire ledger push`)"
                    ),
                }
                let _ = self.thread.join();
            }
            Err(RecvTimeoutError::Timeout) => error!(
                "mirror {url}: the final push did not finish within {} ms; exiting without it: the mirror may \
                 lack the latest commits until the next push (the next start, or `ratewire ledger push`)",
                timeout.as_millis()
            ),
            Err(RecvTimeoutError::Disconnected) => {
                error!("mirror {url}: the mirror's thread stopped before the final push");
            }
        }
    }
}

/// One push, timed, counted and logged when it copied something.
fn push(dir: &Path, remote: &Remote, metrics: &Metrics) -> Result<Report, ratewire_store::Error> {
    let started = Instant::now();
    let result = ratewire_store::push(dir, remote);
    let took = started.elapsed();
    match &result {
        Ok(report) => {
            metrics.mirror_pushed(report.after, took);
            let (after, bytes, ms) = (report.after, report.bytes, took.as_millis());
            match report.commits {
                0 => debug!("mirror {remote}: at commit {after} already ({ms} ms)"),
                1 => info!("mirror {remote}: commit {after} pushed ({bytes} bytes) in {ms} ms"),
                _ => {
                    info!("mirror {remote}: commits {}..={after} pushed ({bytes} bytes) in {ms} ms", report.before + 1)
                }
            }
        }
        Err(_) => metrics.mirror_push_failed(took),
    }
    result
}

/// When the push after one scheduled at `previous` starts: an interval
/// later, or, if the push ran past that, at the first tick after `now`.
/// Ticks a slow push overran are skipped, never queued.
fn next_tick(previous: Instant, interval: Duration, now: Instant) -> Instant {
    let mut next = previous + interval;
    while next <= now {
        next += interval;
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    use ratewire_ledger::{Commit, Ledger, MANIFEST_DIR, manifest_name};

    fn commit(ledger: &mut Ledger, state: &[u8]) {
        let commit = Commit {
            rated: &[],
            rejected: &[],
            facts: &[],
            offsets: &[],
            checkpoint: state,
            booked_at: chrono::Utc::now(),
        };
        ledger.commit(&commit).unwrap();
    }

    /// Whether the remote directory `remote` has commit `sequence`.
    fn has_commit(remote: &Path, sequence: u64) -> bool {
        remote.join(MANIFEST_DIR).join(manifest_name(sequence)).is_file()
    }

    fn value(metrics: &Metrics, series: &str) -> f64 {
        let text = metrics.render().unwrap();
        let line = text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ').map(str::to_string));
        line.and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no {series} in\n{text}"))
    }

    fn until(what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !f() {
            assert!(Instant::now() < deadline, "{what}: not within 20 s");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A ledger with one commit in `tmp/ledger`, and a remote `tmp/bucket`.
    fn ledger_and_remote(tmp: &Path) -> (Ledger, PathBuf, Remote, PathBuf) {
        let (dir, bucket) = (tmp.join("ledger"), tmp.join("bucket"));
        let (mut ledger, _) = Ledger::open(&dir).unwrap();
        commit(&mut ledger, b"one");
        let remote = Remote::parse(&format!("file://{}", bucket.display())).unwrap();
        (ledger, dir, remote, bucket)
    }

    #[test]
    fn pushes_at_start_and_on_a_schedule() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut ledger, dir, remote, bucket) = ledger_and_remote(tmp.path());
        let metrics = Arc::new(Metrics::new().unwrap());
        let mirror = Mirror::start(dir, remote, Duration::from_millis(20), metrics.clone()).unwrap();
        until("the first push", || has_commit(&bucket, 1));
        commit(&mut ledger, b"two");
        until("a later push", || has_commit(&bucket, 2));
        commit(&mut ledger, b"three");
        until("another", || has_commit(&bucket, 3));
        mirror.finish(Duration::from_secs(20));
        assert!(value(&metrics, "ratewire_ledger_mirror_pushes_total{result=\"ok\"}") >= 3.0);
        assert_eq!(value(&metrics, "ratewire_ledger_mirror_pushes_total{result=\"error\"}"), 0.0);
        assert_eq!(value(&metrics, "ratewire_ledger_mirror_commit"), 3.0);
    }

    #[test]
    fn the_final_push_brings_the_last_commit() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut ledger, dir, remote, bucket) = ledger_and_remote(tmp.path());
        let metrics = Arc::new(Metrics::new().unwrap());
        let mirror = Mirror::start(dir, remote, Duration::from_secs(3600), metrics.clone()).unwrap();
        until("the push at start", || has_commit(&bucket, 1));
        // Committed long before the next tick: only the final push has it.
        commit(&mut ledger, b"two");
        mirror.finish(Duration::from_secs(20));
        assert!(has_commit(&bucket, 2));
        assert_eq!(value(&metrics, "ratewire_ledger_mirror_pushes_total{result=\"ok\"}"), 2.0);
        assert_eq!(value(&metrics, "ratewire_ledger_mirror_commit"), 2.0);
        assert!(value(&metrics, "ratewire_ledger_mirror_last_push_timestamp_seconds") > 1.7e9);
    }

    #[test]
    fn the_end_waits_for_the_final_push_at_most_its_timeout() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut ledger, dir, remote, bucket) = ledger_and_remote(tmp.path());
        let metrics = Arc::new(Metrics::new().unwrap());
        let mirror = Mirror::start(dir, remote, Duration::from_secs(3600), metrics).unwrap();
        until("the push at start", || has_commit(&bucket, 1));
        commit(&mut ledger, b"two");
        let started = Instant::now();
        mirror.finish(Duration::ZERO);
        assert!(started.elapsed() < Duration::from_secs(1));
        // Left to itself, the push goes on until the process exits.
        until("the final push, unwaited for", || has_commit(&bucket, 2));
    }

    #[test]
    fn failed_pushes_are_counted_and_the_end_does_not_wait_for_them() {
        let tmp = tempfile::tempdir().unwrap();
        let bucket = tmp.path().join("bucket");
        let remote = Remote::parse(&format!("file://{}", bucket.display())).unwrap();
        // The remote holds another ledger's commit 1: every push refuses it.
        let other = tmp.path().join("other");
        let (mut ledger, _) = Ledger::open(&other).unwrap();
        commit(&mut ledger, b"another ledger");
        ratewire_store::push(&other, &remote).unwrap();
        let dir = tmp.path().join("ledger");
        let (mut ledger, _) = Ledger::open(&dir).unwrap();
        commit(&mut ledger, b"this one");

        let metrics = Arc::new(Metrics::new().unwrap());
        let mirror = Mirror::start(dir, remote, Duration::from_millis(20), metrics.clone()).unwrap();
        until("two failed pushes", || value(&metrics, "ratewire_ledger_mirror_pushes_total{result=\"error\"}") >= 2.0);
        let started = Instant::now();
        mirror.finish(Duration::from_secs(20));
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(value(&metrics, "ratewire_ledger_mirror_pushes_total{result=\"ok\"}"), 0.0);
        assert_eq!(value(&metrics, "ratewire_ledger_mirror_commit"), 0.0);
        assert!(value(&metrics, "ratewire_ledger_mirror_push_duration_seconds_count") >= 3.0);
    }

    #[test]
    fn ticks_a_slow_push_overran_are_skipped() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        assert_eq!(next_tick(start, second, start), start + second);
        assert_eq!(next_tick(start, second, start + Duration::from_millis(999)), start + second);
        assert_eq!(next_tick(start, second, start + second), start + 2 * second);
        assert_eq!(next_tick(start, second, start + Duration::from_millis(3500)), start + 4 * second);
    }

    #[test]
    fn an_instance_pushes_to_its_members_path_under_the_url() {
        let root = Path::new("/var/lib/ratewire/ledger");
        let alone = remote_for("s3://billing/prod", root, root).unwrap();
        assert_eq!(alone.url(), "s3://billing/prod");
        let member = ratewire_ledger::member_dir(root, "ratewire-1");
        let remote = remote_for("s3://billing/prod/", root, &member).unwrap();
        assert_eq!(remote.url(), "s3://billing/prod/members/ratewire-1");
        assert_eq!(remote.key("_manifest/x").as_ref(), "prod/members/ratewire-1/_manifest/x");
        let remote = remote_for("file:///srv/mirror", root, &member).unwrap();
        assert_eq!(remote.url(), "file:///srv/mirror/members/ratewire-1");
    }

    #[test]
    fn a_url_the_store_refuses_is_a_problem_of_the_config() {
        let with = |url: &str| {
            let mut config = Config::default();
            config.ledger.mirror_url = url.into();
            check_config(&config)
        };
        assert!(with("").is_empty());
        assert!(with("file:///srv/mirror").is_empty());
        assert!(with("s3://billing/prod").is_empty());
        assert_eq!(
            with("ftp://host/x"),
            [(
                "ledger.mirror_url",
                "ledger.mirror_url: \"ftp://host/x\" is not a mirror URL: expected s3://bucket/prefix or \
                 file:///absolute/path"
                    .to_string()
            )]
        );
        assert_eq!(
            with("file://relative")[0].1,
            "ledger.mirror_url: \"file://relative\" is not a mirror URL: expected file:///absolute/path"
        );
        assert!(with("s3:///prefix")[0].1.contains("no bucket"));
        assert!(!with("s3://billing/a/../b").is_empty());
    }
}
