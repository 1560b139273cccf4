//! A fast reader for the common payload: one flat JSON object whose values
//! are strings without escapes, integers that fit 64 bits, booleans or
//! `null`, each known field at most once and no `data` field (the native
//! envelope as senders write it).
//!
//! It fills the same [`Raw`] as the serde path, and gives up (returns
//! `None`) on anything else: escapes, nested values, fractions and
//! exponents, very large integers, repeated fields, syntax errors. The
//! caller then runs the serde path on the same text, which decides, so the
//! scanner never has to word an error or follow JSON into its corners. The
//! differential tests in `differential` hold it to giving exactly what serde
//! gives whenever it does not give up.

use std::borrow::Cow;

use super::raw::{Field, Raw};

/// Reads `json` (a whole payload) into `raw`, which must be empty. `None`
/// when serde must read it; `raw` is then left partly filled, to be dropped.
#[inline]
pub(super) fn scan<'a>(json: &'a str, raw: &mut Raw<'a>) -> Option<()> {
    let b = json.as_bytes();
    let mut i = skip_whitespace(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_whitespace(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return end(b, i + 1);
    }
    // One bit per known field already read, to leave repeats to serde.
    let mut seen = 0_u32;
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let (key, after_colon) = key(b, i + 1)?;
        i = skip_whitespace(b, after_colon);
        let mut ignored = Field::Absent;
        let field = match key {
            Some(key) => {
                let bit = 1 << key as u32;
                if seen & bit != 0 {
                    return None;
                }
                seen |= bit;
                slot(raw, key)?
            }
            None => &mut ignored,
        };
        i = value(json, i, field)?;
        // Compact JSON: `,"` straight after the value.
        match b.get(i..i + 2) {
            Some(b",\"") => i += 1,
            _ => {
                i = skip_whitespace(b, i);
                match b.get(i) {
                    Some(b',') => i = skip_whitespace(b, i + 1),
                    Some(b'}') => return end(b, i + 1),
                    _ => return None,
                }
            }
        }
    }
}

/// Only whitespace may follow the object.
fn end(b: &[u8], i: usize) -> Option<()> {
    (skip_whitespace(b, i) == b.len()).then_some(())
}

// The helpers below are `#[inline(always)]`: with `scan` they make one hot
// loop, which the compiler otherwise splits into calls (about 5% more
// instructions per event).

/// The index of the first byte from `i` on that is not JSON whitespace
/// (space, tab, line feed, carriage return; not form feed or anything else).
#[inline(always)]
fn skip_whitespace(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// The key starting at `i` (just past its opening quote) and the index past
/// the colon after it; `None` for an unknown key. A known key directly
/// followed by its closing quote and the colon is compared in place when 16
/// bytes are left; otherwise the key is read as a string.
#[inline(always)]
fn key(b: &[u8], i: usize) -> Option<(Option<Key>, usize)> {
    let rest = b.get(i..)?;
    if let Some(head) = rest.first_chunk::<16>() {
        let head = u128::from_le_bytes(*head);
        if let Some(p) = PREFIXES.iter().find(|p| head & p.mask == p.pattern) {
            return Some((Some(p.key), i + p.len + 2));
        }
    }
    let len = string_len(rest)?;
    let key = KEYS.iter().find(|(_, name)| name.len() == len && rest.starts_with(name)).map(|&(k, _)| k);
    let colon = skip_whitespace(b, i + len + 1);
    (b.get(colon) == Some(&b':')).then_some((key, colon + 1))
}

/// Reads the value starting at `i` into `field`; the index past it.
#[inline(always)]
fn value<'a>(json: &'a str, i: usize, field: &mut Field<'a>) -> Option<usize> {
    let b = json.as_bytes();
    let (value, end) = match *b.get(i)? {
        b'"' => {
            let start = i + 1;
            let len = string_len(b.get(start..)?)?;
            // Both ends are next to an ASCII quote, so on character boundaries.
            (Field::Str(Cow::Borrowed(json.get(start..)?.get(..len)?)), start + len + 1)
        }
        b'-' => {
            let (n, end) = digits(b, i + 1)?;
            // serde_json reads -0 and integers below i64::MIN as floats.
            if n == 0 || n > i64::MIN.unsigned_abs() {
                return None;
            }
            (Field::Signed(0_i64.checked_sub_unsigned(n)?), end)
        }
        b'0'..=b'9' => {
            let (n, end) = digits(b, i)?;
            (Field::Unsigned(n), end)
        }
        b't' => (Field::Bool, literal(b, i, b"true")?),
        b'f' => (Field::Bool, literal(b, i, b"false")?),
        b'n' => (Field::Absent, literal(b, i, b"null")?),
        _ => return None,
    };
    *field = value;
    Some(end)
}

/// An unsigned integer as JSON writes one, at `i`: no leading zero, no
/// fraction or exponent after it, and small enough for a `u64`. The value
/// and the index past it.
#[inline(always)]
fn digits(b: &[u8], i: usize) -> Option<(u64, usize)> {
    let mut n = 0_u64;
    let mut end = i;
    while let Some(&d @ b'0'..=b'9') = b.get(end) {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        end += 1;
    }
    let leading_zero = b.get(i) == Some(&b'0') && end > i + 1;
    if end == i || leading_zero || matches!(b.get(end), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    Some((n, end))
}

/// The index past `word` if it is at `i`.
fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    b.get(i..)?.starts_with(word).then_some(i + word.len())
}

/// The fields of [`Raw`] by key; `Data` only to give up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    V,
    Id,
    Kind,
    Account,
    Time,
    Service,
    Quantity,
    Unit,
    Destination,
    Device,
    Apn,
    Action,
    Plan,
    Amount,
    Currency,
    Balance,
    Reason,
    Channel,
    Specversion,
    Type,
    Subject,
    Data,
}

/// The keys of [`Raw`], common ones first: the order they are tried in.
const KEYS: [(Key, &[u8]); 22] = [
    (Key::V, b"v"),
    (Key::Id, b"id"),
    (Key::Kind, b"kind"),
    (Key::Account, b"account"),
    (Key::Time, b"time"),
    (Key::Service, b"service"),
    (Key::Quantity, b"quantity"),
    (Key::Unit, b"unit"),
    (Key::Destination, b"destination"),
    (Key::Device, b"device"),
    (Key::Apn, b"apn"),
    (Key::Action, b"action"),
    (Key::Plan, b"plan"),
    (Key::Amount, b"amount"),
    (Key::Currency, b"currency"),
    (Key::Balance, b"balance"),
    (Key::Reason, b"reason"),
    (Key::Channel, b"channel"),
    (Key::Specversion, b"specversion"),
    (Key::Type, b"type"),
    (Key::Subject, b"subject"),
    (Key::Data, b"data"),
];

/// A key, its closing quote and a colon as a `u128` prefix:
/// `head & mask == pattern` when 16 bytes starting with them read as `head`.
#[derive(Debug, Clone, Copy)]
struct Prefix {
    key: Key,
    pattern: u128,
    mask: u128,
    /// Bytes of the key, without the quote.
    len: usize,
}

const PREFIXES: [Prefix; 22] = {
    let mut out = [Prefix { key: Key::V, pattern: 0, mask: 0, len: 0 }; 22];
    let mut k = 0;
    while k < KEYS.len() {
        let (key, name) = KEYS[k];
        let mut pattern = ((b':' as u128) << (8 * (name.len() + 1))) | ((b'"' as u128) << (8 * name.len()));
        let mut i = 0;
        while i < name.len() {
            pattern |= (name[i] as u128) << (8 * i);
            i += 1;
        }
        out[k] = Prefix { key, pattern, mask: (1 << (8 * (name.len() + 2))) - 1, len: name.len() };
        k += 1;
    }
    out
};

/// The field a key names, `None` for an unknown key. `Data` gives up.
#[inline(always)]
fn slot<'r, 'a>(raw: &'r mut Raw<'a>, key: Key) -> Option<&'r mut Field<'a>> {
    Some(match key {
        Key::V => &mut raw.v,
        Key::Id => &mut raw.id,
        Key::Kind => &mut raw.kind,
        Key::Account => &mut raw.account,
        Key::Time => &mut raw.time,
        Key::Service => &mut raw.service,
        Key::Quantity => &mut raw.quantity,
        Key::Unit => &mut raw.unit,
        Key::Destination => &mut raw.destination,
        Key::Device => &mut raw.device,
        Key::Apn => &mut raw.apn,
        Key::Action => &mut raw.action,
        Key::Plan => &mut raw.plan,
        Key::Amount => &mut raw.amount,
        Key::Currency => &mut raw.currency,
        Key::Balance => &mut raw.balance,
        Key::Reason => &mut raw.reason,
        Key::Channel => &mut raw.channel,
        Key::Specversion => &mut raw.specversion,
        Key::Type => &mut raw.ce_type,
        Key::Subject => &mut raw.subject,
        Key::Data => return None,
    })
}

/// Where the first quote, backslash or control character of `rest` is, if
/// it is a quote: the length of a string without escapes. Eight bytes at a
/// time: in each lane of a `u64`, `(x - k) & !x & 0x80` has the top bit set
/// when the byte `x` is below `k`, and the lowest lane so marked is exact
/// (lanes above a marked one may be marked wrongly, by the borrow, but no
/// lane below it).
#[inline(always)]
fn string_len(rest: &[u8]) -> Option<usize> {
    const LANES: u64 = u64::MAX / 255;
    const TOP: u64 = LANES << 7;
    let below = |x: u64, k: u8| x.wrapping_sub(LANES * u64::from(k)) & !x;
    let mut chunks = rest.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().ok()?);
        let marked =
            (below(x ^ (LANES * u64::from(b'"')), 1) | below(x ^ (LANES * u64::from(b'\\')), 1) | below(x, 0x20)) & TOP;
        if marked != 0 {
            let at = offset + (marked.trailing_zeros() / 8) as usize;
            return (rest[at] == b'"').then_some(at);
        }
        offset += 8;
    }
    let at = offset + chunks.remainder().iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    (rest[at] == b'"').then_some(at)
}
