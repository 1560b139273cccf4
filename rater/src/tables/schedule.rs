//! Time-band schedules: which band applies at a local instant, and how an
//! event's duration splits at band boundaries.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::clock::ZoneClock;
use crate::time::{DAY_SECONDS, LocalInstant};

/// Index of a band within its schedule.
pub type BandId = u16;

/// Day types: Monday .. Sunday are 0..=6, a holiday is 7.
pub const DAY_TYPES: usize = 8;
/// The day type of holidays.
pub const HOLIDAY: usize = 7;

/// The most band segments one event is split into; the rest of a longer
/// event stays in its last band. A day has few bands, so only events lasting
/// weeks reach it, and `quantity_max` keeps those out.
pub const SEGMENTS_MAX: usize = 256;

/// A compiled schedule: for each day type, the bands that tile the day.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Schedule name.
    pub name: String,
    /// Band names, indexed by [`BandId`].
    pub bands: Vec<String>,
    /// For each day type, `(start second, band)` sorted by start; the first
    /// starts at 0 and each runs until the next (the last until midnight).
    pub(crate) days: [Vec<(u32, BandId)>; DAY_TYPES],
    /// Local dates that use the holiday day type, sorted (a calendar holds
    /// a few dozen; a binary search reads no hash).
    pub(crate) holidays: Vec<NaiveDate>,
}

impl Schedule {
    /// The band at a local instant and the seconds until it ends (at the
    /// next band start or midnight).
    #[must_use]
    pub fn band_at(&self, local: &LocalInstant) -> (BandId, u32) {
        let day_type = if self.holidays.binary_search(&local.date).is_ok() {
            HOLIDAY
        } else {
            local.date.weekday().num_days_from_monday() as usize
        };
        let day = &self.days[day_type];
        let i = day.partition_point(|(start, _)| *start <= local.second_of_day).saturating_sub(1);
        let end = day.get(i + 1).map_or(DAY_SECONDS, |(start, _)| *start);
        (day[i].1, end - local.second_of_day)
    }

    /// Calls `f(band, from, to)` for each part of `[0, duration)` seconds
    /// after `start`, in time order, split where the band changes on the
    /// account's local clock. A zero duration yields one empty segment.
    pub fn split(
        &self,
        clock: &ZoneClock,
        start: DateTime<Utc>,
        duration: Decimal,
        mut f: impl FnMut(BandId, Decimal, Decimal),
    ) {
        // The loop runs on whole seconds: a segment boundary is a whole
        // number of seconds after the start, and `offset_s >= duration`
        // holds exactly when `offset_s >= ceil(duration)`.
        let end_s = i64::try_from(duration.ceil()).unwrap_or(i64::MAX);
        let start_s = start.timestamp();
        let mut offset_s: i64 = 0;
        // The band being accumulated and the offset it began at; adjacent
        // pieces of one band (Saturday into Sunday) are merged.
        let mut current: Option<(BandId, i64)> = None;
        for _ in 0..SEGMENTS_MAX {
            let at_s = start_s + offset_s;
            let (local, next_change_s) = clock.local_and_next_change(at_s);
            let (band, left_s) = self.band_at(&local);
            match current {
                Some((open, _)) if open == band => {}
                Some((open, from_s)) => {
                    f(open, Decimal::from(from_s), Decimal::from(offset_s));
                    current = Some((band, offset_s));
                }
                None => current = Some((band, offset_s)),
            }
            // Local seconds are elapsed seconds until the UTC offset
            // changes; at a change the band is read again.
            let step = i64::from(left_s);
            offset_s += next_change_s.map_or(step, |c| step.min(c - at_s));
            if offset_s >= end_s {
                break;
            }
        }
        // Bounded: past SEGMENTS_MAX the rest stays in the last band.
        if let Some((open, from_s)) = current {
            f(open, Decimal::from(from_s), duration);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Schedule {
        // peak 08-20 on weekdays, offpeak otherwise on weekdays, weekend all day.
        let weekday = vec![(0, 1), (8 * 3600, 0), (20 * 3600, 1)];
        let weekend = vec![(0, 2)];
        Schedule {
            name: "s".into(),
            bands: vec!["peak".into(), "offpeak".into(), "weekend".into()],
            days: [
                weekday.clone(),
                weekday.clone(),
                weekday.clone(),
                weekday.clone(),
                weekday,
                weekend.clone(),
                weekend.clone(),
                weekend,
            ],
            holidays: vec![NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()],
        }
    }

    fn segments(start: &str, seconds: i64) -> Vec<(BandId, i64, i64)> {
        let start = DateTime::parse_from_rfc3339(start).unwrap().with_timezone(&Utc);
        let mut out = Vec::new();
        schedule().split(&ZoneClock::of(chrono_tz::UTC), start, Decimal::from(seconds), |b, f, t| {
            out.push((b, i64::try_from(f).unwrap(), i64::try_from(t).unwrap()));
        });
        out
    }

    #[test]
    fn splits_at_band_boundaries() {
        // Wed 19:59:00 for 120 s: 60 s peak, 60 s offpeak.
        assert_eq!(segments("2026-11-04T19:59:00Z", 120), vec![(0, 0, 60), (1, 60, 120)]);
        // Inside one band.
        assert_eq!(segments("2026-11-04T10:00:00Z", 30), vec![(0, 0, 30)]);
        // Fri 23:59:30 into Saturday.
        assert_eq!(segments("2026-11-06T23:59:30Z", 60), vec![(1, 0, 30), (2, 30, 60)]);
        // Christmas Thursday is a holiday: weekend band all day.
        assert_eq!(segments("2026-12-25T10:00:00Z", 60), vec![(2, 0, 60)]);
        // Zero duration: one empty segment in the band at the start.
        assert_eq!(segments("2026-11-04T10:00:00Z", 0), vec![(0, 0, 0)]);
    }

    #[test]
    fn a_fraction_of_a_second_past_a_boundary_is_its_own_segment() {
        let split = |seconds: &str| {
            let start = DateTime::parse_from_rfc3339("2026-11-04T19:59:00.250Z").unwrap().with_timezone(&Utc);
            let mut out = Vec::new();
            schedule().split(&ZoneClock::of(chrono_tz::UTC), start, seconds.parse().unwrap(), |b, f, t| {
                out.push((b, f.to_string(), t.to_string()));
            });
            out
        };
        let seg = |b: BandId, f: &str, t: &str| (b, f.to_string(), t.to_string());
        // Boundaries fall on whole seconds of the start's second.
        assert_eq!(split("60"), vec![seg(0, "0", "60")]);
        assert_eq!(split("60.5"), vec![seg(0, "0", "60"), seg(1, "60", "60.5")]);
        assert_eq!(split("59.9"), vec![seg(0, "0", "59.9")]);
    }

    #[test]
    fn splits_by_elapsed_time_across_daylight_saving_changes() {
        // night 00:00-02:30, day 02:30-24:00, every day; Berlin clocks.
        let both = vec![(0, 0), (2 * 3600 + 1800, 1)];
        let s = Schedule {
            name: "n".into(),
            bands: vec!["night".into(), "day".into()],
            days: std::array::from_fn(|_| both.clone()),
            holidays: Vec::new(),
        };
        let split = |start: &str, seconds: i64| {
            let start = DateTime::parse_from_rfc3339(start).unwrap().with_timezone(&Utc);
            let mut out = Vec::new();
            s.split(&ZoneClock::of(chrono_tz::Europe::Berlin), start, Decimal::from(seconds), |b, f, t| {
                out.push((b, i64::try_from(f).unwrap(), i64::try_from(t).unwrap()));
            });
            out
        };
        // 01:59:59 CET, then the clock jumps to 03:00 CEST: one second of night.
        assert_eq!(split("2026-03-29T00:59:59Z", 2), vec![(0, 0, 1), (1, 1, 2)]);
        // 02:59:59 CEST, then back to 02:00 CET: night again until 02:30 CET.
        assert_eq!(split("2026-10-25T00:59:59Z", 3600), vec![(1, 0, 1), (0, 1, 1801), (1, 1801, 3600)]);
    }
}
