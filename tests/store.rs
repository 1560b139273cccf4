//! `ratewire ledger push` and `pull` against a real S3-compatible server
//! (moto's, from the venv of `scripts/setup.sh`): a ledger rated in two
//! runs and compacted is pushed commit by commit, the bucket holds its
//! files (and the compaction's trash), a second push copies nothing, and a
//! pull into a fresh directory answers SQL as the original does.

use std::collections::BTreeMap;
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ratewire_ledger::{LOCK_FILE, MANIFEST_DIR, Snapshot, TRASH_DIR};

use super::{ratewire, text, venv};

/// How long moto's server may take to start listening.
const SERVER_START_DEADLINE: Duration = Duration::from_secs(60);

const BUCKET: &str = "ratewire";

const CATALOG: &str = r#"
version = "store-1"
currency = "EUR"

[services.sms]
unit = "message"

[[plans.basic.versions]]
effective_from = 2026-01-01

[[plans.basic.versions.rates]]
service = "sms"
model = "per_unit"
price = "0.10"
"#;

fn usage(id: &str, account: &str, time: &str, quantity: u32) -> String {
    format!(
        "{{\"v\":1,\"id\":\"{id}\",\"kind\":\"usage\",\"account\":\"{account}\",\"time\":\"{time}\",\"service\":\"sms\",\"quantity\":{quantity}}}\n"
    )
}

/// The venv's directory of programs (`scripts/setup.sh`).
fn venv_bin() -> PathBuf {
    let bin = venv().join("bin");
    assert!(bin.join("moto_server").exists(), "no moto_server in {}: run `bash scripts/setup.sh`", bin.display());
    bin
}

/// moto's S3 server on a free loopback port, killed when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(venv_bin().join("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let moto = Self { child, endpoint: format!("http://127.0.0.1:{port}") };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < SERVER_START_DEADLINE, "moto_server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// The environment `ratewire` and boto3 find the server with.
    fn env(&self) -> [(&'static str, &str); 6] {
        [
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", &self.endpoint),
            ("AWS_ALLOW_HTTP", "true"),
        ]
    }

    /// Runs a Python snippet with boto3 (a client independent of
    /// ratewire's) against the server; returns its output.
    fn boto3(&self, script: &str) -> String {
        let prelude = "import boto3\ns3 = boto3.client('s3')\n";
        let out = Command::new(venv_bin().join("python"))
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .envs(self.env())
            .output();
        let out = out.unwrap();
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Every object under `prefix/`, by key relative to it, with its size.
    fn objects(&self, prefix: &str) -> BTreeMap<String, u64> {
        let script = format!(
            "for page in s3.get_paginator('list_objects_v2').paginate(Bucket='{BUCKET}', Prefix='{prefix}/'):\n\
             \x20   for o in page.get('Contents', []):\n\
             \x20       print(o['Key'], o['Size'])\n"
        );
        self.boto3(&script)
            .lines()
            .map(|line| {
                let (key, size) = line.rsplit_once(' ').unwrap();
                (key.strip_prefix(&format!("{prefix}/")).unwrap().to_string(), size.parse().unwrap())
            })
            .collect()
    }

    /// `ratewire` with `args` in `dir`, with the server's environment.
    fn ratewire(&self, dir: &Path, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_ratewire")).args(args).current_dir(dir).envs(self.env()).output();
        out.expect("the binary runs")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every file of a ledger directory but the lock, with its size.
fn files(dir: &Path) -> BTreeMap<String, u64> {
    fn walk(root: &Path, dir: &Path, found: &mut BTreeMap<String, u64>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, found);
            } else {
                let relative = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                if relative != format!("{MANIFEST_DIR}/{LOCK_FILE}") {
                    found.insert(relative, fs::metadata(&path).unwrap().len());
                }
            }
        }
    }
    let mut found = BTreeMap::new();
    walk(dir, dir, &mut found);
    found
}

/// `ratewire rate` of `input` in `dir` into the ledger `<dir>/<ledger>`.
fn rate(dir: &Path, input: &str, ledger: &str) {
    let args = ["rate", "--catalog", "catalog.toml", "--accounts", "accounts.csv", "--ledger", ledger];
    let out = ratewire(dir, &[&args[..], &["--input", input, "--output", &format!("{input}.rated")]].concat());
    assert!(out.status.success(), "{}", text(&out));
}

fn success(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The value printed on the line `<name> <value>` of a push or pull.
fn count(printed: &str, name: &str) -> u64 {
    let line = printed.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).unwrap_or_else(|| panic!("{printed}"));
    line.parse().unwrap_or_else(|_| panic!("{printed}"))
}

const QUERIES: [&str; 3] = [
    "select account, count(*) as records, sum(gross) as gross from rated group by account order by account",
    "select count(*) as rejects from rejects",
    "select count(*) as draws from draws",
];

#[test]
fn a_ledger_pushed_to_s3_and_pulled_back_answers_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::write(dir.join("catalog.toml"), CATALOG).unwrap();
    fs::write(dir.join("accounts.csv"), "id,plan,time_zone\nA1,basic,UTC\nA2,basic,UTC\n").unwrap();
    let first = [
        usage("e1", "A1", "2026-11-03T10:00:00Z", 3),
        usage("e2", "A2", "2026-11-03T11:00:00Z", 5),
        "{\"v\":1,\"id\":\"broken\n".to_string(),
    ];
    fs::write(dir.join("first.jsonl"), first.concat()).unwrap();
    let second = [usage("e3", "A1", "2026-11-03T12:00:00Z", 2), "not json\n".to_string()];
    fs::write(dir.join("second.jsonl"), second.concat()).unwrap();
    let ledger = dir.join("ledger");
    rate(dir, "first.jsonl", "ledger");

    let moto = Moto::start();
    moto.boto3(&format!("s3.create_bucket(Bucket='{BUCKET}')"));
    let url = format!("s3://{BUCKET}/ledger");
    let push = || moto.ratewire(dir, &["ledger", "push", "--ledger", "ledger", "--to", &url]);

    let printed = success(&push());
    assert_eq!(count(&printed, "commits"), 1, "{printed}");
    assert!(count(&printed, "files") >= 2, "{printed}");
    assert_eq!(count(&printed, "checkpoints"), 1, "{printed}");
    assert_eq!(moto.objects("ledger"), files(&ledger));

    // A second run books the same day's partitions again; a compaction
    // merges them, moving the first run's files to the trash.
    rate(dir, "second.jsonl", "ledger");
    let out = ratewire(dir, &["compact", "--ledger", "ledger"]);
    assert!(out.status.success(), "{}", text(&out));
    let sequence = Snapshot::open(&ledger).unwrap().sequence();
    assert_eq!(sequence, 3);
    let printed = success(&push());
    assert_eq!(count(&printed, "commits"), 2, "{printed}");
    assert!(printed.contains("files moved to the trash"), "{printed}");
    let objects = moto.objects("ledger");
    assert_eq!(objects, files(&ledger));
    assert!(objects.keys().any(|k| k.starts_with(&format!("{TRASH_DIR}/"))), "{objects:?}");
    assert!(objects.contains_key(&format!("{MANIFEST_DIR}/{sequence:020}.json")), "{objects:?}");

    let printed = success(&push());
    assert!(printed.contains("nothing to copy"), "{printed}");
    assert_eq!((count(&printed, "commits"), count(&printed, "files"), count(&printed, "bytes")), (0, 0, 0));

    let pulled = moto.ratewire(dir, &["ledger", "pull", "--from", &url, "--ledger", "pulled"]);
    let printed = success(&pulled);
    assert_eq!(count(&printed, "commits"), 3, "{printed}");
    assert_eq!(files(&dir.join("pulled")), files(&ledger));
    for (path, _) in files(&ledger) {
        assert_eq!(fs::read(dir.join("pulled").join(&path)).unwrap(), fs::read(ledger.join(&path)).unwrap(), "{path}");
    }

    for query in QUERIES {
        let original = success(&ratewire(dir, &["sql", "--ledger", "ledger", "--format", "csv", query]));
        let copy = success(&ratewire(dir, &["sql", "--ledger", "pulled", "--format", "csv", query]));
        assert_eq!(copy, original, "{query}");
    }
    let original = success(&ratewire(dir, &["sql", "--ledger", "ledger", "--format", "csv", QUERIES[0]]));
    assert_eq!(original.lines().count(), 3, "two accounts: {original}");

    // Another ledger is refused either way.
    rate(dir, "second.jsonl", "other");
    for args in [["push", "--ledger", "other", "--to", &url], ["pull", "--from", &url, "--ledger", "other"]] {
        let out = moto.ratewire(dir, &[&["ledger"], &args[..]].concat());
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains("refusing to mix two ledgers"), "{}", text(&out));
    }
    assert_eq!(moto.objects("ledger"), files(&ledger));
}
