//! Billing time: periods (calendar months in the account's time zone) and
//! the local clock that time bands, device days and periods are read from.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// Seconds in a day, the span of a time-band schedule.
pub const DAY_SECONDS: u32 = 86_400;

/// A billing period: one calendar month in the account's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    /// Months since year 0: `year * 12 + (month - 1)`; orders periods.
    index: i32,
}

impl Period {
    /// The period of a year and month (1-12).
    #[must_use]
    pub fn new(year: i32, month: u32) -> Self {
        debug_assert!((1..=12).contains(&month));
        Self { index: year * 12 + month.cast_signed() - 1 }
    }

    /// The period a local date falls in.
    #[must_use]
    pub fn of_date(date: NaiveDate) -> Self {
        Self::new(date.year(), date.month())
    }

    /// Parses `YYYY-MM`.
    pub fn parse(text: &str) -> Option<Self> {
        let (year, month) = text.split_once('-')?;
        if year.len() != 4 || month.len() != 2 {
            return None;
        }
        let year: i32 = year.parse().ok()?;
        let month: u32 = month.parse().ok()?;
        (1..=12).contains(&month).then(|| Self::new(year, month))
    }

    /// The calendar year.
    #[must_use]
    pub fn year(self) -> i32 {
        self.index.div_euclid(12)
    }

    /// The calendar month, 1-12.
    #[must_use]
    pub fn month(self) -> u32 {
        self.index.rem_euclid(12).cast_unsigned() + 1
    }

    /// The first local day of the period.
    #[must_use]
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year(), self.month(), 1).unwrap_or(NaiveDate::MIN)
    }

    /// The period after this one.
    #[must_use]
    pub fn next(self) -> Self {
        Self { index: self.index + 1 }
    }

    /// Number of days in the month.
    #[must_use]
    pub fn days(self) -> u32 {
        let first = self.first_day();
        let next = self.next().first_day();
        u32::try_from((next - first).num_days()).unwrap_or(31)
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year(), self.month())
    }
}

impl Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An instant read on an account's local clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalInstant {
    /// The local calendar date.
    pub date: NaiveDate,
    /// Seconds since local midnight, `0..DAY_SECONDS`.
    pub second_of_day: u32,
    /// The offset from UTC in seconds (local = UTC + offset).
    pub offset_seconds: i32,
}

impl LocalInstant {
    /// Reads `utc` on the clock of `tz`.
    #[must_use]
    pub fn at(tz: Tz, utc: DateTime<Utc>) -> Self {
        let offset = tz.offset_from_utc_datetime(&utc.naive_utc()).fix().local_minus_utc();
        let local: NaiveDateTime = utc.naive_utc() + chrono::Duration::seconds(i64::from(offset));
        Self { date: local.date(), second_of_day: local.num_seconds_from_midnight(), offset_seconds: offset }
    }

    /// The billing period of this instant.
    #[must_use]
    pub fn period(&self) -> Period {
        Period::of_date(self.date)
    }
}

/// Days from `date` to the end of its month, counting `date` itself.
#[must_use]
pub fn days_left_in_month(date: NaiveDate) -> u32 {
    Period::of_date(date).days() - date.day0()
}

/// The UTC instant at which a local date begins in `tz` (the first valid
/// local time on or after midnight, for zones that skip midnight).
#[must_use]
pub fn local_midnight_utc(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    for hour_shift in 0..3 {
        let local = midnight + chrono::Duration::hours(hour_shift);
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    Utc.from_utc_datetime(&midnight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_print_and_order() {
        let p = Period::parse("2026-12").unwrap();
        assert_eq!(p.to_string(), "2026-12");
        assert_eq!(p.next().to_string(), "2027-01");
        assert!(p < p.next());
        assert_eq!(Period::parse("2028-02").unwrap().days(), 29);
        assert_eq!(Period::parse("2026-02").unwrap().days(), 28);
        assert!(Period::parse("2026-13").is_none());
        assert!(Period::parse("26-01").is_none());
    }

    #[test]
    fn local_clock_uses_the_zone() {
        let utc = DateTime::parse_from_rfc3339("2026-10-31T23:30:00Z").unwrap().with_timezone(&Utc);
        let berlin = LocalInstant::at(chrono_tz::Europe::Berlin, utc);
        assert_eq!(berlin.date, NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
        assert_eq!(berlin.second_of_day, 30 * 60);
        assert_eq!(berlin.period().to_string(), "2026-11");
        assert_eq!(LocalInstant::at(chrono_tz::UTC, utc).period().to_string(), "2026-10");
    }

    #[test]
    fn days_left_counts_today() {
        assert_eq!(days_left_in_month(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()), 30);
        assert_eq!(days_left_in_month(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()), 1);
    }
}
