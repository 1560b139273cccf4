//! Fast local clocks: a time zone's UTC offsets as a sorted table of the
//! instants at which they change, found through an index of the table by
//! periods of about 24 days.
//!
//! Rating reads an account's local clock for every event (periods, bands,
//! device days). The zone database answers in a few hundred instructions;
//! this table answers in a few dozen. Each zone's table is built once per
//! process, on first use, and shared.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock, PoisonError};

use chrono::{DateTime, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use crate::time::{DAY_SECONDS, LocalInstant};

/// First instant the table covers: 1990-01-01T00:00:00Z.
const TABLE_FROM_S: i64 = 631_152_000;
/// End of the table: 2100-01-01T00:00:00Z. Instants outside it are read
/// from the zone database.
const TABLE_TO_S: i64 = 4_102_444_800;
/// The index of the table has one entry per 2^21 seconds (about 24 days):
/// a zone changes offset at most a few times in that long.
const BUCKET_SHIFT: u32 = 21;
/// Days from 0001-01-01 (day 1 of the common era) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// One zone's offsets over [`TABLE_FROM_S`, `TABLE_TO_S`).
#[derive(Debug)]
pub struct ZoneClock {
    tz: Tz,
    /// UTC seconds at which the offset changes, ascending.
    changes: Vec<i64>,
    /// `offsets[i]` is in force before `changes[i]` (and after
    /// `changes[i - 1]`); one more offset than changes.
    offsets: Vec<i32>,
    /// For each period of 2^[`BUCKET_SHIFT`] seconds from [`TABLE_FROM_S`],
    /// how many changes come at or before its start: where the search for
    /// an instant in it begins.
    first_change: Vec<u32>,
}

impl ZoneClock {
    /// The shared clock of `tz`, built on first use.
    pub fn of(tz: Tz) -> Arc<ZoneClock> {
        static CLOCKS: OnceLock<Mutex<HashMap<Tz, Arc<ZoneClock>>>> = OnceLock::new();
        let clocks = CLOCKS.get_or_init(|| Mutex::new(HashMap::new()));
        let mut clocks = clocks.lock().unwrap_or_else(PoisonError::into_inner);
        clocks.entry(tz).or_insert_with(|| Arc::new(Self::build(tz))).clone()
    }

    /// Scans the zone a day at a time and pins each change to the second.
    /// Zones change offset at most a few times a year, never twice a day.
    fn build(tz: Tz) -> Self {
        let db = |t: i64| database_offset(tz, t);
        let mut changes = Vec::new();
        let mut offsets = vec![db(TABLE_FROM_S)];
        let mut t = TABLE_FROM_S;
        let mut current = offsets[0];
        while t < TABLE_TO_S {
            let next = t + i64::from(DAY_SECONDS);
            let there = db(next);
            if there != current {
                // Invariant: db(lo) == current, db(hi) != current.
                let (mut lo, mut hi) = (t, next);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if db(mid) == current { lo = mid } else { hi = mid }
                }
                changes.push(hi);
                offsets.push(there);
                current = there;
            }
            t = next;
        }
        let buckets = ((TABLE_TO_S - TABLE_FROM_S) >> BUCKET_SHIFT) + 1;
        let first_change = (0..buckets)
            .map(|b| {
                let start = TABLE_FROM_S + (b << BUCKET_SHIFT);
                u32::try_from(changes.partition_point(|c| *c <= start)).unwrap_or(u32::MAX)
            })
            .collect();
        Self { tz, changes, offsets, first_change }
    }

    /// The zone.
    #[must_use]
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The UTC offset in force at `t` (UTC seconds), in seconds.
    #[must_use]
    pub fn offset_at(&self, t: i64) -> i32 {
        self.offset_and_next_change(t).0
    }

    /// The first offset change after `t`, if the table knows one.
    #[must_use]
    pub fn next_change_after(&self, t: i64) -> Option<i64> {
        self.offset_and_next_change(t).1
    }

    /// Reads `utc` on this clock.
    #[must_use]
    pub fn local(&self, utc: DateTime<Utc>) -> LocalInstant {
        self.local_and_next_change(utc.timestamp()).0
    }

    /// Reads `t` (UTC seconds) on this clock, with the first offset change
    /// after it: one search of the table for both.
    #[must_use]
    pub fn local_and_next_change(&self, t: i64) -> (LocalInstant, Option<i64>) {
        let (offset_seconds, next_change) = self.offset_and_next_change(t);
        let local = t + i64::from(offset_seconds);
        let days = local.div_euclid(i64::from(DAY_SECONDS));
        let second_of_day = u32::try_from(local.rem_euclid(i64::from(DAY_SECONDS))).unwrap_or(0);
        (LocalInstant { date: date_of(days), second_of_day, offset_seconds }, next_change)
    }

    /// The offset in force at `t` and the first change after it.
    fn offset_and_next_change(&self, t: i64) -> (i32, Option<i64>) {
        if !(TABLE_FROM_S..TABLE_TO_S).contains(&t) {
            let next_change = self.changes.get(self.changes.partition_point(|c| *c <= t)).copied();
            return (database_offset(self.tz, t), next_change);
        }
        // The changes at or before `t`: those before its period's start,
        // then the few inside the period up to `t`.
        let bucket = usize::try_from((t - TABLE_FROM_S) >> BUCKET_SHIFT).unwrap_or(0);
        let mut i = self.first_change.get(bucket).map_or(0, |&i| i as usize);
        while self.changes.get(i).is_some_and(|c| *c <= t) {
            i += 1;
        }
        (self.offsets[i], self.changes.get(i).copied())
    }
}

/// The date `days` after 1970-01-01: from a table over the clocks' span
/// (one load, where the calendar arithmetic takes some 70 instructions),
/// computed outside it.
fn date_of(days: i64) -> NaiveDate {
    const FIRST_DAY: i64 = TABLE_FROM_S / DAY_SECONDS as i64;
    static DATES: LazyLock<Vec<NaiveDate>> =
        LazyLock::new(|| (FIRST_DAY..=TABLE_TO_S / i64::from(DAY_SECONDS)).map(compute_date_of).collect());
    usize::try_from(days - FIRST_DAY).ok().and_then(|i| DATES.get(i).copied()).unwrap_or_else(|| compute_date_of(days))
}

fn compute_date_of(days: i64) -> NaiveDate {
    i32::try_from(days)
        .ok()
        .and_then(|d| d.checked_add(UNIX_EPOCH_DAYS_FROM_CE))
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .unwrap_or(NaiveDate::MIN)
}

fn database_offset(tz: Tz, t: i64) -> i32 {
    let utc = DateTime::from_timestamp(t, 0).unwrap_or_default().naive_utc();
    tz.offset_from_utc_datetime(&utc).fix().local_minus_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_zone_database() {
        for tz in
            [chrono_tz::Europe::Berlin, chrono_tz::America::New_York, chrono_tz::Australia::Lord_Howe, chrono_tz::UTC]
        {
            let clock = ZoneClock::of(tz);
            // Every 37 minutes over three years, and around each change.
            let mut t = 1_767_225_600; // 2026-01-01
            while t < 1_767_225_600 + 3 * 365 * 86_400 {
                let utc = DateTime::from_timestamp(t, 0).unwrap();
                assert_eq!(clock.local(utc), LocalInstant::at(tz, utc), "{tz} at {utc}");
                t += 37 * 60;
            }
            for &c in &clock.changes {
                for t in [c - 1, c, c + 1] {
                    let utc = DateTime::from_timestamp(t, 0).unwrap();
                    assert_eq!(clock.local(utc), LocalInstant::at(tz, utc), "{tz} at {utc}");
                }
            }
        }
    }

    #[test]
    fn dates_from_the_table_and_beyond_it() {
        for days in [-800_000, -1, 0, 7304, 7305, 20_000, 47_482, 47_483, 47_484, 2_000_000] {
            assert_eq!(date_of(days), compute_date_of(days), "day {days}");
            let expected = DateTime::from_timestamp(days * 86_400, 0).map_or(NaiveDate::MIN, |t| t.date_naive());
            assert_eq!(date_of(days), expected, "day {days}");
        }
    }

    #[test]
    fn knows_the_changes() {
        let berlin = ZoneClock::of(chrono_tz::Europe::Berlin);
        // 2026-03-29T01:00:00Z: CET to CEST.
        assert_eq!(berlin.next_change_after(1_774_700_000), Some(1_774_746_000));
        assert_eq!(berlin.offset_at(1_774_746_000 - 1), 3600);
        assert_eq!(berlin.offset_at(1_774_746_000), 7200);
        assert!(ZoneClock::of(chrono_tz::UTC).changes.is_empty());
    }
}
