//! The fast scanner against serde: on random and mutated envelopes, whenever
//! the scanner reads a payload it must read exactly what serde reads, and
//! decoding must give the same event or reject either way.

use proptest::prelude::*;

use super::raw::Raw;
use super::{Reject, check, decode, scan};

/// Decoding through serde alone, as before the scanner existed.
fn decode_with_serde(payload: &[u8]) -> Result<super::Event, Reject> {
    let raw: Raw<'_> = serde_json::from_slice(payload)
        .map_err(|e| super::malformed(payload, format!("payload is not a JSON object: {e}")))?;
    check::event(&raw)
}

/// Debug output keeps what `==` forgets: a decimal's scale (`1.50` vs `1.5`).
fn same_outcome(payload: &[u8]) -> Result<(), TestCaseError> {
    let fast = format!("{:?}", decode(payload));
    let reference = if payload.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        format!("{:?}", decode_with_serde(payload))
    } else {
        fast.clone()
    };
    prop_assert_eq!(fast, reference, "payload {:?}", String::from_utf8_lossy(payload));
    Ok(())
}

/// Whenever the scanner reads `json`, serde reads the same.
fn scanner_agrees(json: &str) -> Result<(), TestCaseError> {
    let mut raw = Raw::default();
    if scan::scan(json, &mut raw).is_some() {
        match serde_json::from_str::<Raw<'_>>(json) {
            Ok(reference) => prop_assert_eq!(raw, reference, "payload {:?}", json),
            Err(e) => prop_assert!(false, "scanner read {:?}, serde refused it: {}", json, e),
        }
    }
    Ok(())
}

#[rustfmt::skip]
const KNOWN_KEYS: [&str; 20] = [
    "v", "id", "kind", "account", "time", "service", "quantity", "unit", "destination", "device", "apn", "action",
    "plan", "amount", "currency", "balance", "reason", "channel", "type", "subject",
];

/// Distinct known keys in a random order, and now and then an odd one.
#[rustfmt::skip]
fn keys() -> impl Strategy<Value = Vec<String>> {
    let odd = prop::sample::select(vec![
        "\"data\"", "\"specversion\"", "\"source\"", "\"x\"", "\"\"", "\"k\u{e9}y\"", "\"V\"", "\"vv\"",
        "\"\\u0076\"", "\"i\\u0064\"", "\"id \"", "\"kind\u{0}\"", "\"destinations\"", "\"quantity\\\"\"",
        "\"account_id\"", "'v'", "v", "\"apn",
    ]);
    (prop::sample::subsequence(KNOWN_KEYS.to_vec(), 0..10).prop_shuffle(), prop::collection::vec(odd, 0..2))
        .prop_map(|(known, odd)| {
            let mut keys: Vec<String> = known.iter().map(|k| format!("\"{k}\"")).collect();
            keys.extend(odd.iter().map(|k| (*k).to_owned()));
            keys
        })
        .prop_shuffle()
}

fn string_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9+._-]{0,12}".prop_map(|s| format!("\"{s}\"")),
        2 => prop::sample::select(vec![
            "usage", "subscription", "payment", "topup", "adjustment", "support_contact", "block", "unblock",
            "ratewire.usage", "activate", "change_plan", "cancel", "EUR", "eur", "1.0", "0.75", " 1.5 ", "10.50",
            "-12.00", "-0", "1_000", "1e3", "+4930123", "+", "12ab", "2026-11-03T10:15:00Z",
            "2026-11-03T10:15:00.123+01:00", "2026-11-03 10:15:00Z", "yesterday", "", "caf\u{e9}", "\u{1f600}",
            "a\u{7f}b", "a\u{85}b", "a\u{9f}", "a\u{a0}",
        ]).prop_map(|s| format!("\"{s}\"")),
        1 => "[a-z\u{e9}\u{85}\u{7f} ]{100,140}".prop_map(|s| format!("\"{s}\"")),
    ]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        (0_u64..1000).prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        prop::sample::select(vec!["0", "1", "-1", "true", "false", "null"]).prop_map(str::to_owned),
    ]
}

/// Values the scanner must leave to serde, or must get exactly right.
#[rustfmt::skip]
fn tricky_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "\"a\\nb\"", "\"a\\\"b\"", "\"\\u0041\"", "\"\\ud83d\\ude00\"", "\"\\ud800\"", "\"\\udc00\"",
            "\"a\\/b\"", "\"\\x\"", "\"a\tb\"", "\"a\nb\"", "\"a\u{0}b\"", "\"unterminated", "\"\\\"",
        ]),
        prop::sample::select(vec![
            "-0", "01", "00", "-01", "1.5", "1.", ".5", "-", "2.0", "1e5", "1E+2", "1e-2", "1e400", "-1e400",
            "18446744073709551615", "18446744073709551616", "-9223372036854775808", "-9223372036854775809",
            "-18446744073709551615", "-18446744073709551616", "99999999999999999999999", "tru", "nul", "falsey",
            "nulll", "{}", "[]", "{\"a\":1}", "[1,\"x\",{}]", "{\"v\":1,\"v\":2}", "[[[[[[[[[[]]]]]]]]]]",
            "{\"a\":[1,{\"b\":null}]}", "{", "[", "}", "x", "'a'", "\"a\":1", "",
        ]),
    ]
    .prop_map(str::to_owned)
}

fn odd_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(format!("{}1{}", "[".repeat(130), "]".repeat(130))),
        Just(format!("1{}", "0".repeat(400))),
        Just(format!("{{{}}}", (0..20).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(","))),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![20 => string_value(), 10 => number(), 3 => tricky_value(), 1 => odd_value()]
}

fn whitespace() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        120 => Just(""),
        24 => prop::sample::select(vec![" ", "\n", "\t", "\r\n", "  \n\t"]),
        1 => prop::sample::select(vec!["\u{c}", "\u{a0}", "\u{b}", "\u{0}"]),
    ]
}

/// A JSON object, or something close to one, built from random entries.
fn envelope() -> impl Strategy<Value = String> {
    let spacing = (whitespace(), whitespace(), whitespace(), whitespace());
    (
        keys(),
        prop::collection::vec((value(), spacing), 10),
        whitespace(),
        whitespace(),
        prop_oneof![20 => Just(","), 1 => prop::sample::select(vec![", ", ";", ",,", ""])],
        prop::option::weighted(0.1, any::<prop::sample::Index>()),
        prop_oneof![20 => Just(""), 1 => prop::sample::select(vec![" ", "\n", ",", "}", "x", "\u{0}"])],
    )
        .prop_map(|(keys, values, open, close, separator, repeat, trailer)| {
            let mut fields: Vec<String> =
                keys.iter().zip(&values).map(|(k, (v, (a, b, c, d)))| format!("{a}{k}{b}:{c}{v}{d}")).collect();
            if let Some(repeat) = repeat.filter(|_| !fields.is_empty()) {
                let again = fields[repeat.index(fields.len())].clone();
                fields.push(again);
            }
            format!("{open}{{{}}}{close}{trailer}", fields.join(separator))
        })
}

/// The fields of a valid native envelope in a random order, some mistyped.
fn native_envelope() -> impl Strategy<Value = String> {
    let kind = prop::sample::select(vec![
        r#""kind":"usage","service":"voice","quantity":125,"unit":"second","destination":"+4930123456""#,
        r#""kind":"usage","service":"data","quantity":"0.75","apn":"internet.example","device":"TRK-1""#,
        r#""kind":"subscription","action":"change_plan","plan":"mobile_l""#,
        r#""kind":"adjustment","amount":"-12.00","currency":"EUR","reason":"Replacement SIM card""#,
        r#""kind":"topup","amount":5,"balance":"bonus""#,
        r#""kind":"support_contact","channel":"phone","reason":"""#,
        r#""kind":"block""#,
    ]);
    let time = prop::sample::select(vec![
        "2026-11-03T10:15:00Z",
        "2026-11-03T10:15:00.250Z",
        "2026-11-03T11:15:00+01:00",
        "2026-11-02T23:15:00-11:00",
        "2026-02-29T10:15:00Z",
        "2026-11-03T10:15:60Z",
    ]);
    (
        kind,
        time,
        "[A-Za-z0-9-]{0,20}",
        "[A-Z0-9-]{1,12}",
        any::<prop::sample::Index>(),
        prop_oneof![number(), tricky_value()],
    )
        .prop_map(|(kind, time, id, account, at, odd)| {
            let mut fields: Vec<String> = vec![
                "\"v\":1".into(),
                format!("\"id\":\"{id}\""),
                format!("\"account\":\"{account}\""),
                format!("\"time\":\"{time}\""),
            ];
            fields.extend(kind.split(',').filter(|f| !f.is_empty()).map(str::to_owned));
            // One field (any, by position) gets an odd value instead.
            let i = at.index(fields.len() + 2);
            if let Some(field) = fields.get_mut(i) {
                let name = field.split(':').next().unwrap_or("\"v\"").to_owned();
                *field = format!("{name}:{odd}");
            }
            format!("{{{}}}", fields.join(","))
        })
}

/// Byte-level damage: a byte replaced, inserted or removed, or a cut.
fn damaged(json: String, at: prop::sample::Index, how: u8, byte: u8) -> Vec<u8> {
    let mut bytes = json.into_bytes();
    if bytes.is_empty() {
        return bytes;
    }
    let i = at.index(bytes.len());
    match how % 4 {
        0 => bytes[i] = byte,
        1 => bytes.insert(i, byte),
        2 => {
            bytes.remove(i);
        }
        _ => bytes.truncate(i),
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn scanner_reads_what_serde_reads(json in envelope()) {
        scanner_agrees(&json)?;
        same_outcome(json.as_bytes())?;
    }

    #[test]
    fn scanner_reads_native_envelopes_as_serde_does(json in native_envelope()) {
        scanner_agrees(&json)?;
        same_outcome(json.as_bytes())?;
    }

    #[test]
    fn damaged_envelopes_decode_alike(json in native_envelope(), at in any::<prop::sample::Index>(),
                                       how in any::<u8>(), byte in prop::sample::select(vec![
                                           b'"', b'\\', b'{', b'}', b':', b',', b' ', b'\n', b'\x0c', 0, 0x1f, 0x7f,
                                           0x80, 0xc2, 0xff, b'-', b'0', b'.', b'e', b'Z', b'a'])) {
        let bytes = damaged(json, at, how, byte);
        if let Ok(json) = std::str::from_utf8(&bytes) {
            scanner_agrees(json)?;
        }
        same_outcome(&bytes)?;
    }
}

#[test]
fn scanner_takes_the_common_envelopes() {
    for json in [
        r#"{"v":1,"id":"e7-000000001","kind":"usage","account":"A-1","time":"2026-11-03T10:15:00Z","service":"voice","quantity":125,"unit":"second","destination":"+4930123456"}"#,
        r#"{"v":1,"id":"e","kind":"usage","account":"A","time":"2026-11-03T10:15:00.250Z","service":"data","quantity":"0.75","apn":"internet.example"}"#,
        r#"{"v":1,"id":"p","kind":"payment","account":"A","time":"2026-11-03T11:15:00+01:00","amount":"58.30","currency":"EUR","x-trace":[1,2]}"#,
        "{ \"v\": 1,\n  \"id\": \"crm-1\",\n  \"kind\": \"block\",\n  \"account\": \"A\",\n  \"time\": \"2026-11-03T10:15:00Z\"\n}\n",
        r#"{"v":1,"v2":null,"id":"e","kind":"block","account":"A","time":"2026-11-03T10:15:00Z","reason":"caf\u00e9"}"#,
    ] {
        let mut raw = Raw::default();
        let read = scan::scan(json, &mut raw).is_some();
        // The third carries a nested value and the last an escape: serde reads them.
        assert_eq!(read, !json.contains("x-trace") && !json.contains('\\'), "{json}");
        assert!(decode(json.as_bytes()).is_ok(), "{json}");
    }
}

#[test]
fn repeated_fields_are_malformed_either_way() {
    for json in [
        r#"{"v":1,"v":1,"id":"e","kind":"block","account":"A","time":"2026-11-03T10:15:00Z"}"#,
        r#"{"v":null,"v":1,"id":"e","kind":"block","account":"A","time":"2026-11-03T10:15:00Z"}"#,
    ] {
        let mut raw = Raw::default();
        assert!(scan::scan(json, &mut raw).is_none());
        assert_eq!(decode(json.as_bytes()).unwrap_err().code, super::RejectCode::MalformedJson);
    }
    // An unknown field may repeat.
    let json = r#"{"x":1,"x":2,"v":1,"id":"e","kind":"block","account":"A","time":"2026-11-03T10:15:00Z"}"#;
    assert!(decode(json.as_bytes()).is_ok());
}

#[test]
fn invalid_utf8_is_judged_as_before() {
    // serde_json checks the strings it keeps, not those it skips.
    let skipped =
        b"{\"v\":1,\"id\":\"e\",\"kind\":\"block\",\"account\":\"A\",\"time\":\"2026-11-03T10:15:00Z\",\"x\":\"\xff\"}";
    assert!(decode(skipped).is_ok());
    let kept = b"{\"v\":1,\"id\":\"e\xff\",\"kind\":\"block\",\"account\":\"A\",\"time\":\"2026-11-03T10:15:00Z\"}";
    let reject = decode(kept).unwrap_err();
    assert_eq!(reject.code, super::RejectCode::MalformedJson);
    assert!(reject.message.contains("not UTF-8"), "{}", reject.message);
}
