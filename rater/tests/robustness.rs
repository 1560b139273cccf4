//! Robustness of input: the event decoder and the catalog loader survive
//! arbitrary bytes. Neither ever panics; every payload decodes or becomes a
//! reject with a stable code and a message naming its field or the
//! payload, and every catalog compiles or is refused with diagnostics at a
//! line and column of the text.
//!
//! Inputs, for the decoder: arbitrary bytes; JSON-like noise; valid
//! envelopes (the examples of `docs/events.md`, native and CloudEvents)
//! truncated at every byte, with bytes flipped and with invalid UTF-8
//! inserted; deep nesting; huge and odd numbers; oversized payloads. For
//! the catalog: arbitrary bytes (through a file, as `ratewire run` reads
//! it) and the real catalogs of `tests/cases/` and `deploy/examples/`,
//! mutated line by line and token by token.
//!
//! The case counts keep the whole file to a few seconds;
//! `PROPTEST_CASES=100000` runs a longer hunt. Rating at the bounds the
//! decoder and the catalog admit is `extremes.rs`'s subject.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::sample::{Index, select};
use ratewire_rater::event::EVENT_BYTES_MAX;
use ratewire_rater::{LoadError, Reject, RejectCode, catalog, decode, decode_bounded};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `cases` cases, or `PROPTEST_CASES` when set.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------
// The decoder
// ---------------------------------------------------------------------

/// The codes the decoder gives: problems of form, and a quantity or amount
/// that is negative or beyond `money::QUANTITY_MAX` (the content checks
/// that need no reference data).
const DECODER_CODES: [RejectCode; 8] = [
    RejectCode::MalformedJson,
    RejectCode::Oversized,
    RejectCode::MissingField,
    RejectCode::InvalidField,
    RejectCode::UnsupportedVersion,
    RejectCode::UnknownKind,
    RejectCode::NegativeQuantity,
    RejectCode::QuantityTooLarge,
];

/// What a reject must be: one of the decoder's codes, a message naming
/// its field (`quantity: ...`) or, for the whole payload, the payload.
fn well_formed(reject: &Reject, payload: &[u8]) -> Result<(), String> {
    let shown = || format!("{reject:?} for {:?}", String::from_utf8_lossy(payload));
    if !DECODER_CODES.contains(&reject.code) {
        return Err(format!("not a decoder code: {}", shown()));
    }
    let named = match reject.field {
        Some(field) => reject.message.starts_with(&format!("{field}: ")) && reject.message.len() > field.len() + 2,
        None => reject.message.starts_with("payload "),
    };
    if !named {
        return Err(format!("the message does not name its field or the payload: {}", shown()));
    }
    if (reject.code == RejectCode::Oversized) != (payload.len() > EVENT_BYTES_MAX) {
        return Err(format!("OVERSIZED exactly when over {EVENT_BYTES_MAX} bytes: {}", shown()));
    }
    Ok(())
}

/// Decodes `payload` (a panic fails the test) and judges the outcome.
fn judge(payload: &[u8]) -> Result<(), TestCaseError> {
    if let Err(reject) = decode(payload) {
        well_formed(&reject, payload).map_err(TestCaseError::fail)?;
    }
    Ok(())
}

/// The examples of `docs/events.md` (each a complete, valid event), plus
/// compact envelopes of every kind, which take the fast scanner's path.
static ENVELOPES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let docs = fs::read_to_string(root().join("docs/events.md")).expect("docs/events.md");
    let mut out: Vec<String> = docs
        .split("```json\n")
        .skip(1)
        .filter_map(|block| block.split_once("\n```").map(|(json, _)| json.to_string()))
        .collect();
    let head = r#""v":1,"id":"e-1","account":"ACC-1","time":"2026-11-03T10:15:00.25+01:00""#;
    for tail in [
        r#""kind":"usage","service":"voice","quantity":125,"unit":"second","destination":"+4930123","device":"d","apn":"a""#,
        r#""kind":"usage","service":"data","quantity":"0.75""#,
        r#""kind":"subscription","action":"change_plan","plan":"mobile_l""#,
        r#""kind":"payment","amount":"58.30","currency":"EUR""#,
        r#""kind":"topup","amount":5,"balance":"bonus""#,
        r#""kind":"adjustment","amount":"-12.00","reason":"SIM""#,
        r#""kind":"support_contact","channel":"phone","reason":"bill""#,
        r#""kind":"block","reason":"fraud""#,
        r#""kind":"unblock""#,
    ] {
        out.push(format!("{{{head},{tail}}}"));
    }
    for envelope in &out {
        assert!(decode(envelope.as_bytes()).is_ok(), "a sample does not decode: {envelope}");
    }
    assert!(out.len() > 20 && out.iter().any(|e| e.contains("specversion")), "the samples of docs/events.md");
    out
});

fn envelope() -> impl Strategy<Value = String> {
    select(ENVELOPES.clone())
}

/// Byte sequences that are not UTF-8: a stray continuation byte, a lead
/// byte without its continuation, overlong forms, a surrogate, a code
/// point past U+10FFFF, bytes that never occur.
const NOT_UTF8: [&[u8]; 9] = [
    b"\x80",
    b"\xc3",
    b"\xe2\x82",
    b"\xc0\x80",
    b"\xe0\x80\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xff",
    b"\xfe\xff",
];

/// Noise that looks like JSON: its punctuation, literals, digits, escapes.
fn json_noise() -> impl Strategy<Value = String> {
    let token = select(vec![
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "\"",
        "\\",
        "\\u",
        "\\ud800",
        "0",
        "-",
        "1",
        "9",
        ".",
        "e",
        "E",
        "+",
        "true",
        "false",
        "null",
        " ",
        "\n",
        "\"v\"",
        "\"data\"",
        "\"quantity\"",
        "\"specversion\"",
        "1.0",
        "a",
        "é",
    ]);
    prop::collection::vec(token, 0..80).prop_map(|tokens| tokens.concat())
}

/// A CloudEvent with each attribute drawn from valid and invalid values.
fn cloud_event() -> impl Strategy<Value = String> {
    let value = |choices: Vec<&'static str>| select(choices);
    (
        value(vec![r#""1.0""#, r#""0.3""#, "1.0", "null", r#""""#]),
        value(vec![r#""ce-1""#, r#""""#, "7", "null", r#""\u0000""#]),
        value(vec![
            r#""ratewire.usage""#,
            r#""ratewire.topup""#,
            r#""ratewire.subscription""#,
            r#""ratewire.""#,
            r#""com.example.usage""#,
            "[]",
        ]),
        value(vec![r#","subject":"ACC-1""#, "", r#","subject":null"#, r#","subject":{"a":1}"#]),
        value(vec![r#""2026-11-03T10:15:00Z""#, r#""2026-02-30T10:15:00Z""#, r#""""#, "0"]),
        value(vec![
            r#"{"service":"voice","quantity":61}"#,
            r#"{"account":"ACC-2","amount":"10.00","currency":"EUR"}"#,
            r#"{"action":"activate","plan":"p"}"#,
            r#"{"quantity":-1,"service":"s"}"#,
            r#"{"data":{"data":{}}}"#,
            "[1]",
            "\"text\"",
            "null",
            "{}",
        ]),
    )
        .prop_map(|(specversion, id, ce_type, subject, time, data)| {
            format!(
                r#"{{"specversion":{specversion},"id":{id},"source":"/s","type":{ce_type}{subject},"time":{time},"data":{data}}}"#
            )
        })
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        judge(&bytes)?;
        // The same after an opening brace, which gets past the first check.
        judge(&[b"{".as_slice(), &bytes].concat())?;
    }

    #[test]
    fn json_like_noise(noise in json_noise()) {
        judge(noise.as_bytes())?;
        judge(format!("{{{noise}}}").as_bytes())?;
    }

    #[test]
    fn bytes_flipped(json in envelope(), flips in prop::collection::vec((any::<Index>(), 1..=255_u8), 1..4)) {
        let mut bytes = json.into_bytes();
        for (at, mask) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= mask;
        }
        judge(&bytes)?;
    }

    #[test]
    fn invalid_utf8_inserted(json in envelope(), at in any::<Index>(), bad in select(NOT_UTF8.to_vec()),
                             replace in any::<bool>()) {
        let mut bytes = json.into_bytes();
        let i = at.index(bytes.len());
        let end = if replace { (i + bad.len()).min(bytes.len()) } else { i };
        bytes.splice(i..end, bad.iter().copied());
        judge(&bytes)?;
        // Where serde keeps the string, the reject says it is not UTF-8.
        if let Err(reject) = decode(&bytes)
            && reject.code == RejectCode::MalformedJson && std::str::from_utf8(&bytes).is_err() {
                prop_assert!(reject.message.contains("not UTF-8"), "{}", reject.message);
            }
    }

    #[test]
    fn cloud_events(json in cloud_event()) {
        judge(json.as_bytes())?;
    }

    #[test]
    fn odd_field_values(json in envelope(), field in select(vec![
        "v", "id", "kind", "account", "time", "service", "quantity", "unit", "destination", "amount", "currency",
        "action", "plan", "reason", "specversion", "type", "subject", "data",
    ]), value in odd_value()) {
        // The field set (or set again, which is malformed) at the top level.
        let with = json.trim_end().strip_suffix('}').map(|head| format!("{head},\"{field}\":{value}}}"));
        if let Some(with) = with {
            judge(with.as_bytes())?;
        }
        judge(format!("{{\"{field}\":{value}}}").as_bytes())?;
    }

    #[test]
    fn bounded_decoding_cuts_exactly_at_its_bound(json in envelope(), bound in 0_usize..400) {
        let bytes = json.as_bytes();
        let outcome = decode_bounded(bytes, bound);
        if bytes.len() > bound {
            let reject = outcome.expect_err("over the bound");
            prop_assert_eq!((reject.code, reject.field), (RejectCode::Oversized, None));
            prop_assert!(reject.message.starts_with("payload "), "{}", reject.message);
        } else {
            prop_assert_eq!(outcome, decode(bytes));
        }
    }
}

/// JSON values at the edges of what the fields accept.
fn odd_value() -> impl Strategy<Value = String> {
    let fixed = select(vec![
        "0".to_string(),
        "-0".into(),
        "1e400".into(),
        "-1e400".into(),
        "1e-400".into(),
        "18446744073709551615".into(),
        "18446744073709551616".into(),
        "-9223372036854775808".into(),
        "-9223372036854775809".into(),
        "9".repeat(400),
        format!("\"{}\"", "9".repeat(400)),
        format!("\"0.{}1\"", "0".repeat(400)),
        format!("\"{}.{}\"", "9".repeat(28), "9".repeat(10)),
        "\"79228162514264337593543950335\"".into(),
        "\"-79228162514264337593543950336\"".into(),
        "\"1e5\"".into(),
        "\"NaN\"".into(),
        "\" -0.00 \"".into(),
        "\"+1\"".into(),
        "\"\"".into(),
        "\"\\u0000\"".into(),
        "\"\\ud800\"".into(),
        "\"\\uDBFF\\uDFFF\"".into(),
        format!("\"{}\"", "x".repeat(2000)),
        format!("\"+{}\"", "1".repeat(33)),
        "\"9999-12-31T23:59:59.999999-23:59\"".into(),
        "\"0000-01-01T00:00:00+23:59\"".into(),
        "\"+275760-09-13T00:00:00Z\"".into(),
        "\"2026-11-03T10:15:60Z\"".into(),
        "{}".into(),
        "[]".into(),
        "null".into(),
        "true".into(),
    ]);
    let decimals = ("-?[0-9]{0,40}(\\.[0-9]{0,40})?([eE][+-]?[0-9]{0,5})?", any::<bool>())
        .prop_map(|(n, quoted)| if quoted { format!("\"{n}\"") } else { n });
    prop_oneof![3 => fixed, 1 => decimals]
}

#[test]
fn every_envelope_truncated_at_every_byte() {
    for json in ENVELOPES.iter() {
        let bytes = json.as_bytes();
        for end in 0..bytes.len() {
            let cut = &bytes[..end];
            match decode(cut) {
                Ok(_) => assert!(cut.trim_ascii_end().ends_with(b"}"), "a truncated envelope decodes: {json}"),
                Err(reject) => well_formed(&reject, cut).unwrap(),
            }
        }
    }
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let head = r#""v":1,"id":"e","kind":"block","account":"A","time":"2026-11-03T10:15:00Z""#;
    for depth in [10, 127, 128, 129, 1000, 20_000] {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            let deep = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            for payload in [
                format!("{{{head},\"x\":{deep}}}"),
                format!("{{{head},\"reason\":{deep}}}"),
                format!(
                    r#"{{"specversion":"1.0","id":"c","type":"ratewire.block","time":"2026-11-03T10:15:00Z","data":{deep}}}"#
                ),
                deep.clone(),
            ] {
                judge(payload.as_bytes()).unwrap();
            }
        }
        // Nested `data` objects, each read as an envelope.
        let data = format!("{}{{}}{}", "{\"data\":".repeat(depth), "}".repeat(depth));
        judge(data.as_bytes()).unwrap();
    }
}

#[test]
fn oversized_payloads_are_rejected_unread() {
    let json = &ENVELOPES[0];
    for size in [EVENT_BYTES_MAX, EVENT_BYTES_MAX + 1, 4 * EVENT_BYTES_MAX] {
        // Valid JSON padded with spaces to `size` bytes.
        let padded = format!("{json}{}", " ".repeat(size - json.len()));
        match decode(padded.as_bytes()) {
            Ok(_) => assert!(size <= EVENT_BYTES_MAX),
            Err(reject) => {
                assert_eq!(reject.code, RejectCode::Oversized, "{size}");
                assert_eq!(
                    reject.message,
                    format!("payload is {size} bytes, more than the {EVENT_BYTES_MAX} accepted")
                );
                assert!(size > EVENT_BYTES_MAX);
            }
        }
    }
    // Garbage of any size is judged by its size first.
    assert_eq!(decode(&vec![0xff; EVENT_BYTES_MAX + 1]).unwrap_err().code, RejectCode::Oversized);
    // A larger bound reads a large valid event.
    let reason = "r".repeat(1000);
    let big = format!(
        r#"{{"v":1,"id":"e","kind":"block","account":"A","time":"2026-11-03T10:15:00Z","x":"{}","reason":"{reason}"}}"#,
        "x".repeat(2 * EVENT_BYTES_MAX)
    );
    assert_eq!(decode(big.as_bytes()).unwrap_err().code, RejectCode::Oversized);
    assert!(decode_bounded(big.as_bytes(), 4 * EVENT_BYTES_MAX).is_ok());
}

// ---------------------------------------------------------------------
// The catalog
// ---------------------------------------------------------------------

/// The real catalogs: every golden case's and the deploy example.
static CATALOGS: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
    let mut paths: Vec<PathBuf> = fs::read_dir(root().join("rater/tests/cases"))
        .expect("tests/cases")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("catalog.toml"))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths.push(root().join("deploy/examples/catalog.toml"));
    let out: Vec<_> = paths
        .iter()
        .map(|p| (p.display().to_string(), fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))))
        .collect();
    assert!(out.len() > 30, "the golden cases' catalogs");
    out
});

/// Compiles `text` (a panic fails the test): it compiles, or it is refused
/// with diagnostics at positions of the text.
fn judge_catalog(text: &str) -> Result<(), TestCaseError> {
    match catalog::parse(text, "catalog.toml") {
        Ok(_) => Ok(()),
        Err(e) => positioned(&e, text).map_err(TestCaseError::fail),
    }
}

fn positioned(e: &LoadError, text: &str) -> Result<(), String> {
    let LoadError::Invalid { diagnostics, .. } = e else { return Err(format!("not a refusal with diagnostics: {e}")) };
    if diagnostics.is_empty() {
        return Err("refused without a diagnostic".into());
    }
    let lines = text.split('\n').count();
    for d in diagnostics {
        let line_chars = text.split('\n').nth(d.line - 1).map_or(0, |l| l.chars().count());
        if d.line == 0 || d.line > lines || d.col == 0 || d.col > line_chars + 1 || d.message.trim().is_empty() {
            return Err(format!("a diagnostic outside the text: {}:{}: {:?}", d.line, d.col, d.message));
        }
    }
    Ok(())
}

/// Values to put where a catalog has a value: edge numbers, strings, dates,
/// wrong types.
const VALUES: [&str; 40] = [
    "0",
    "-1",
    "1",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999999999999",
    "1e400",
    "0.5",
    "nan",
    "inf",
    "\"0\"",
    "\"-0.01\"",
    "\"1e5\"",
    "\"0.00000000000000000000000000001\"",
    "\"79228162514264337593543950335\"",
    "\"99999999999999999999999999999.9\"",
    "\"\"",
    "\" \"",
    "\"\\u0000\"",
    "\"x\"",
    "\"voice\"",
    "\"00:00-24:00\"",
    "\"24:00-00:00\"",
    "\"23:59-00:01\"",
    "\"25:61-26:00\"",
    "\"weekdays\"",
    "\"Mars/Olympus\"",
    "0001-01-01",
    "9999-12-31",
    "2026-01-01T10:00:00Z",
    "10:00:00",
    "true",
    "[]",
    "[0, 0]",
    "[1, 0]",
    "[{ up_to = 0, price = \"1\" }]",
    "[{ price = \"-1\" }, { up_to = 1, price = \"1\" }]",
    "{}",
    "{ a = 1 }",
];

/// One change to a catalog's text.
#[derive(Debug, Clone)]
enum Mutation {
    /// A line removed.
    Remove(Index),
    /// A line written twice.
    Repeat(Index),
    /// Two lines swapped.
    Swap(Index, Index),
    /// The value after `=` on a line replaced.
    Value(Index, &'static str),
    /// A run of digits replaced.
    Digits(Index, &'static str),
    /// A quoted string replaced.
    String(Index, &'static str),
    /// The text cut (at a character boundary).
    Truncate(Index),
    /// A byte replaced by an ASCII one.
    Byte(Index, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let value = select(VALUES.to_vec());
    let digits = select(vec!["0", "00", "1", "60", "99999999999999999999", "4294967296", "65536", "1_000"]);
    let string = select(vec!["", "0", "-1", "x", "voice", "main", "EUR", "EURO", "2026-13-01", "00:00-24:00", "é"]);
    prop_oneof![
        1 => any::<Index>().prop_map(Mutation::Remove),
        1 => any::<Index>().prop_map(Mutation::Repeat),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        4 => (any::<Index>(), value).prop_map(|(i, v)| Mutation::Value(i, v)),
        3 => (any::<Index>(), digits).prop_map(|(i, d)| Mutation::Digits(i, d)),
        2 => (any::<Index>(), string).prop_map(|(i, s)| Mutation::String(i, s)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), select(b"[]{}=\"#,.-\n x0".to_vec())).prop_map(|(i, b)| Mutation::Byte(i, b)),
    ]
}

/// The byte ranges of the runs of `text` that `matches` picks.
fn runs(text: &str, starts: impl Fn(u8) -> bool, continues: impl Fn(u8) -> bool) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if starts(b[i]) {
            let start = i;
            i += 1;
            while i < b.len() && continues(b[i]) {
                i += 1;
            }
            out.push((start, i));
        } else {
            i += 1;
        }
    }
    out
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        return text.to_string();
    }
    let replace_run =
        |ranges: Vec<(usize, usize)>, at: &Index, with: &str| match ranges.get(at.index(ranges.len().max(1))) {
            Some(&(start, end)) => format!("{}{with}{}", &text[..start], &text[end..]),
            None => text.to_string(),
        };
    match m {
        Mutation::Remove(i) => {
            lines.remove(i.index(lines.len()));
        }
        Mutation::Repeat(i) => {
            let at = i.index(lines.len());
            lines.insert(at, lines[at].clone());
        }
        Mutation::Swap(a, b) => {
            let (a, b) = (a.index(lines.len()), b.index(lines.len()));
            lines.swap(a, b);
        }
        Mutation::Value(i, value) => {
            let with_value: Vec<usize> = (0..lines.len()).filter(|&n| lines[n].contains('=')).collect();
            if let Some(&n) = with_value.get(i.index(with_value.len().max(1))) {
                let key = lines[n].split_once('=').map_or("", |(k, _)| k).to_string();
                lines[n] = format!("{key}= {value}");
            }
        }
        Mutation::Digits(i, digits) => {
            return replace_run(runs(text, |b| b.is_ascii_digit(), |b| b.is_ascii_digit()), i, digits);
        }
        Mutation::String(i, s) => {
            // The inside of a "..." without escapes.
            let quoted = runs(text, |b| b == b'"', |b| b != b'"' && b != b'\n' && b != b'\\');
            let inside: Vec<_> = quoted.into_iter().map(|(start, end)| (start + 1, end)).collect();
            return replace_run(inside, i, s);
        }
        Mutation::Truncate(i) => {
            let mut end = i.index(text.len() + 1);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            return text[..end].to_string();
        }
        Mutation::Byte(i, byte) => {
            let mut bytes = text.as_bytes().to_vec();
            let at = i.index(bytes.len());
            // Only ASCII bytes are replaced, so the text stays UTF-8.
            if bytes[at].is_ascii() {
                bytes[at] = *byte;
            }
            return String::from_utf8(bytes).unwrap_or_else(|_| text.to_string());
        }
    }
    lines.join("\n") + "\n"
}

fn real_catalog() -> impl Strategy<Value = (String, String)> {
    select(CATALOGS.clone())
}

proptest! {
    #![proptest_config(config(400))]

    #[test]
    fn mutated_catalogs(catalog in real_catalog(), mutations in prop::collection::vec(mutation(), 1..4)) {
        let (path, text) = catalog;
        let mut mutated = text;
        for m in &mutations {
            mutated = apply(&mutated, m);
        }
        judge_catalog(&mutated).map_err(|e| TestCaseError::fail(format!("{path} after {mutations:?}: {e}")))?;
    }

    #[test]
    fn catalog_noise(noise in "[a-z_\\[\\]{}=\"., 0-9\\n#-]{0,300}") {
        judge_catalog(&noise)?;
    }
}

proptest! {
    #![proptest_config(config(200))]

    /// Arbitrary bytes through a file: a catalog that is not UTF-8 is
    /// refused at the position of its first bad byte.
    #[test]
    fn arbitrary_catalog_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200), prefix in real_catalog()) {
        let path = std::env::temp_dir().join(format!("ratewire-robustness-{}.toml", std::process::id()));
        for content in [bytes.clone(), [prefix.1.as_bytes(), &bytes].concat()] {
            fs::write(&path, &content).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let loaded = catalog::load(&path);
            let text = String::from_utf8_lossy(&content);
            if let Err(e) = &loaded {
                positioned(e, &text).map_err(TestCaseError::fail)?;
                if let Err(bad) = std::str::from_utf8(&content) {
                    let before = String::from_utf8_lossy(&content[..bad.valid_up_to()]);
                    let line = before.matches('\n').count() + 1;
                    prop_assert!(e.to_string().contains(&format!(":{line}:")), "{e}");
                    prop_assert!(e.to_string().ends_with("the file is not UTF-8"), "{e}");
                }
            }
        }
        let _ = fs::remove_file(&path);
    }
}

#[test]
fn every_real_catalog_truncated_at_many_lines() {
    for (path, text) in CATALOGS.iter() {
        let lines: Vec<&str> = text.lines().collect();
        // Every line of the small ones; about 60 cuts of the large one.
        for end in (0..lines.len()).step_by(lines.len().div_ceil(60)) {
            let cut = lines[..end].join("\n");
            judge_catalog(&cut).unwrap_or_else(|e| panic!("{path} cut after line {end}: {e}"));
        }
    }
}
