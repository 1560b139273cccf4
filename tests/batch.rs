//! `ratewire rate` on files.

use std::fs;

use serde_json::Value;

use super::{case, rate_files, text};

fn lines(path: &std::path::Path) -> Vec<Value> {
    fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn rates_a_file_and_books_rejects_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let src = case("01_voice_per_minute");
    for f in ["catalog.toml", "accounts.csv"] {
        fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let mut events = fs::read(src.join("events.jsonl")).unwrap();
    // A resend of e1, a non-UTF-8 line, a truncated line and an unknown account.
    events.extend_from_slice(
        b"{\"v\":1,\"id\":\"e1\",\"kind\":\"usage\",\"account\":\"A1\",\"time\":\"2026-11-03T10:00:00Z\",\"service\":\"voice\",\"quantity\":125}\n",
    );
    events.extend_from_slice(b"\xff\xfe\n{\"v\":1,\"id\":\"e9\",\"kind\":\"us\n");
    events.extend_from_slice(
        b"{\"v\":1,\"id\":\"e10\",\"kind\":\"usage\",\"account\":\"NOPE\",\"time\":\"2026-11-03T10:00:00Z\",\"service\":\"voice\",\"quantity\":1}\n",
    );
    // Rejected for an unknown service, then sent again corrected: the
    // correction is rated, not taken for a duplicate.
    events.extend_from_slice(
        b"{\"v\":1,\"id\":\"e11\",\"kind\":\"usage\",\"account\":\"A1\",\"time\":\"2026-11-03T10:00:00Z\",\"service\":\"vioce\",\"quantity\":60}\n\n",
    );
    events.extend_from_slice(
        b"{\"v\":1,\"id\":\"e11\",\"kind\":\"usage\",\"account\":\"A1\",\"time\":\"2026-11-03T10:00:00Z\",\"service\":\"voice\",\"quantity\":60}\n",
    );
    fs::write(dir.path().join("events.jsonl"), events).unwrap();

    let out = rate_files(dir.path(), &[]);
    assert!(out.status.success(), "{}", text(&out));

    let rated = lines(&dir.path().join("rated.jsonl"));
    let ids: Vec<&str> = rated.iter().map(|r| r["event_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["e1", "e2", "e3", "e11"]);
    assert_eq!(rated[0]["gross"], "0.30");

    let rejects = lines(&dir.path().join("rated.rejects.jsonl"));
    let codes: Vec<(u64, &str)> =
        rejects.iter().map(|r| (r["code"].as_u64().unwrap(), r["code_name"].as_str().unwrap())).collect();
    assert_eq!(
        codes,
        [
            (2011, "DUPLICATE_EVENT"),
            (1001, "MALFORMED_JSON"),
            (1001, "MALFORMED_JSON"),
            (2001, "UNKNOWN_ACCOUNT"),
            (2002, "UNKNOWN_SERVICE")
        ]
    );
    // Physical line numbers of the input, blank lines included.
    let line_numbers: Vec<u64> = rejects.iter().map(|r| r["line"].as_u64().unwrap()).collect();
    assert_eq!(line_numbers, [4, 5, 6, 7, 8]);
    assert_eq!(rejects[0]["field"], "id");
    assert!(rejects[1]["message"].as_str().unwrap().contains("not UTF-8"));
    assert_eq!(rejects[3]["field"], "account");
    assert!(rejects[3]["payload"].as_str().unwrap().contains("NOPE"), "the original payload is kept");

    // Conservation: every line is either rated or rejected.
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("events read               9"), "{summary}");
    assert!(summary.contains("events rated              4"), "{summary}");
    assert!(summary.contains("events rejected           5"), "{summary}");
}

#[test]
fn a_bad_catalog_is_refused_before_rating() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("catalog.toml"), "version = \"x\"\ncurrency = \"EUR\"\n[services]\n[plans]\nextra = 1\n")
        .unwrap();
    fs::write(dir.path().join("accounts.csv"), "id\nA1\n").unwrap();
    fs::write(dir.path().join("events.jsonl"), "").unwrap();
    let out = rate_files(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("catalog.toml:5:9:"), "{}", text(&out));
    assert!(!dir.path().join("rated.jsonl").exists(), "nothing is written for a refused catalog");
}
