//! RFC 3339 event times, read straight when they have the layout senders
//! use (`2026-11-03T10:15:00Z`, `2026-11-03T10:15:00.123Z`,
//! `2026-11-03T11:15:00+01:00`) and through chrono otherwise, which also
//! words the errors. Whatever the fast path accepts, chrono accepts with the
//! same instant; the tests below hold it to that.

use chrono::{DateTime, FixedOffset, NaiveDate, ParseError, Utc};

/// The instant `text` names, in UTC.
pub(super) fn parse(text: &str) -> Result<DateTime<Utc>, ParseError> {
    match common(text.as_bytes()) {
        Some(t) => Ok(t),
        None => DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)),
    }
}

/// `YYYY-MM-DDTHH:MM:SS`, then `.` and 1 to 9 digits or nothing, then `Z` or
/// `+HH:MM` / `-HH:MM` with an offset below a day; `None` for anything else
/// (including leap seconds, lower-case letters and out-of-range fields).
fn common(b: &[u8]) -> Option<DateTime<Utc>> {
    let (fixed, mut rest) = b.split_first_chunk::<19>()?;
    let [y1, y2, y3, y4, b'-', mo1, mo2, b'-', d1, d2, b'T', h1, h2, b':', mi1, mi2, b':', s1, s2] = *fixed else {
        return None;
    };
    let year = i32::from(pair(y1, y2)?) * 100 + i32::from(pair(y3, y4)?);
    let (month, day) = (pair(mo1, mo2)?, pair(d1, d2)?);
    let (hour, minute, second) = (pair(h1, h2)?, pair(mi1, mi2)?, pair(s1, s2)?);
    let mut nanos = 0_u32;
    if let [b'.', tail @ ..] = rest {
        let digits = tail.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        for &d in &tail[..digits] {
            nanos = nanos * 10 + u32::from(d - b'0');
        }
        nanos *= 10_u32.pow(9 - digits as u32);
        rest = &tail[digits..];
    }
    let offset_seconds = match *rest {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (pair(h1, h2)?, pair(m1, m2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let seconds = i32::from(h) * 3600 + i32::from(m) * 60;
            if sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let local = NaiveDate::from_ymd_opt(year, u32::from(month), u32::from(day))?.and_hms_nano_opt(
        u32::from(hour),
        u32::from(minute),
        u32::from(second),
        nanos,
    )?;
    Some(local.checked_sub_offset(FixedOffset::east_opt(offset_seconds)?)?.and_utc())
}

/// Two ASCII digits as a number.
fn pair(tens: u8, ones: u8) -> Option<u8> {
    (tens.is_ascii_digit() && ones.is_ascii_digit()).then(|| (tens - b'0') * 10 + (ones - b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chrono(text: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
    }

    #[test]
    fn reads_the_common_layouts() {
        for text in [
            "2026-11-03T10:15:00Z",
            "2026-11-03T10:15:00.123Z",
            "2026-11-03T10:15:00.000000001Z",
            "2026-11-03T11:15:00+01:00",
            "2026-11-03T05:15:00-05:00",
            "2026-11-03T00:15:00+13:45",
            "2024-02-29T23:59:59-23:59",
            "0000-01-01T00:00:00+23:59",
            "9999-12-31T23:59:59.999999999-23:59",
        ] {
            assert!(common(text.as_bytes()).is_some(), "{text}");
            assert_eq!(common(text.as_bytes()), chrono(text), "{text}");
        }
    }

    #[test]
    fn leaves_the_rest_to_chrono() {
        for text in [
            "2026-11-03t10:15:00Z",
            "2026-11-03 10:15:00Z",
            "2026-11-03T10:15:00z",
            "2026-11-03T10:15:60Z",
            "2026-11-03T10:15:00.1234567891Z",
            "2026-11-03T10:15:00.Z",
            "2026-11-03T10:15:00+0100",
            "2026-11-03T10:15:00\u{2212}01:00",
            "2026-11-03T10:15:00+24:00",
            "2026-11-03T10:15:00+01:60",
            "2026-11-03T24:00:00Z",
            "2025-02-29T10:00:00Z",
            "2026-13-01T10:00:00Z",
            "2026-11-03T10:15:00",
            "2026-11-03T10:15:00Z ",
            "yesterday",
        ] {
            assert!(common(text.as_bytes()).is_none(), "{text}");
            assert_eq!(parse(text).ok(), chrono(text), "{text}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Near-miss times: each part drawn from valid and invalid values.
        #[test]
        fn agrees_with_chrono(
            year in prop::sample::select(vec!["2026", "2024", "1900", "2000", "0000", "9999", "20x6", "226"]),
            month in prop::sample::select(vec!["01", "02", "11", "12", "00", "13", "1"]),
            day in prop::sample::select(vec!["01", "28", "29", "30", "31", "00", "32"]),
            sep in prop::sample::select(vec!["T", "t", " ", "_"]),
            hour in prop::sample::select(vec!["00", "09", "23", "24", "99"]),
            minute in prop::sample::select(vec!["00", "59", "60"]),
            second in prop::sample::select(vec!["00", "59", "60", "61"]),
            fraction in prop::sample::select(vec!["", ".", ".1", ".123", ".123456789", ".1234567891", ".12a"]),
            offset in prop::sample::select(vec![
                "Z", "z", "+00:00", "-00:00", "+01:00", "-05:30", "+23:59", "-23:59", "+24:00",
                "+01:60", "+0100", "+01", "\u{2212}01:00", "", "Z ", "+01:00x",
            ]),
        ) {
            let text = format!("{year}-{month}-{day}{sep}{hour}:{minute}:{second}{fraction}{offset}");
            let expected = DateTime::parse_from_rfc3339(&text).map(|t| t.with_timezone(&Utc));
            prop_assert_eq!(parse(&text), expected);
        }

        #[test]
        fn agrees_with_chrono_on_any_instant(seconds in -62_167_219_200_i64..253_402_300_800, nanos in 0_u32..1_000_000_000,
                                             offset_minutes in -1439_i32..1440, digits in 0_usize..10) {
            let Some(utc) = DateTime::from_timestamp(seconds, nanos) else { return Ok(()) };
            let Some(tz) = FixedOffset::east_opt(offset_minutes * 60) else { return Ok(()) };
            let layout = match digits {
                0 => "%Y-%m-%dT%H:%M:%S%:z",
                3 => "%Y-%m-%dT%H:%M:%S%.3f%:z",
                6 => "%Y-%m-%dT%H:%M:%S%.6f%:z",
                _ => "%Y-%m-%dT%H:%M:%S%.9f%:z",
            };
            let text = utc.with_timezone(&tz).format(layout).to_string();
            prop_assert_eq!(parse(&text), Ok(chrono(&text).unwrap()));
            // Years before 0 or after 9999 are not written with four digits.
            prop_assert!(common(text.as_bytes()).is_some() || !text.starts_with(|c: char| c.is_ascii_digit()), "{}", text);
        }
    }
}
