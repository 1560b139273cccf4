//! The event stream of a generated operator: JSON lines in the native
//! envelope (`"v":1`), in time order within one month.
//!
//! Usage follows each account's plan (phone lines call, text and browse;
//! fleets report per device; API customers make calls), with a skewed
//! activity (a few accounts are very busy, most are quiet) and a daily
//! rhythm. On request the stream mixes in lifecycle and money events
//! (top-ups, payments, adjustments, support contacts, plan changes,
//! suspensions, blocks, cancellations, activations of pending accounts),
//! malformed or invalid lines of every kind the decoder and the rater
//! reject, and resent events (the same id again).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt::Display;
use std::io::{self, Write};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::rng::{MILLION, Rng};
use crate::world::{COUNTRIES, PlanKind, REGIONS, Status, World, Zone, ZoneKind, stream};

/// What the stream mixes in besides usage, each in parts per million of
/// the lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mix {
    /// Lifecycle and money events.
    pub lifecycle: u32,
    /// Malformed or invalid lines.
    pub bad: u32,
    /// Resent events (an earlier line again, same id).
    pub duplicate: u32,
}

/// What a stream held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Usage events.
    pub usage: u64,
    /// Lifecycle and money events.
    pub lifecycle: u64,
    /// Malformed or invalid lines.
    pub bad: u64,
    /// Resent events.
    pub duplicate: u64,
}

impl Stats {
    /// All lines.
    #[must_use]
    pub fn lines(&self) -> u64 {
        self.usage + self.lifecycle + self.bad + self.duplicate
    }
}

/// Writes `count` lines to `out`, each ending in a newline.
pub fn write<W: Write>(world: &World, count: usize, mix: Mix, mut out: W) -> io::Result<Stats> {
    let mut g = Generator::new(world, count, mix);
    for line in g.by_ref() {
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(g.stats())
}

/// `count` lines, in memory.
#[must_use]
pub fn lines(world: &World, count: usize, mix: Mix) -> (Vec<String>, Stats) {
    let mut g = Generator::new(world, count, mix);
    let lines = g.by_ref().collect();
    (lines, g.stats())
}

/// `count` lines as Kafka records, produced one at a time: the same lines as
/// [`lines`] and [`write()`], each with its key.
#[must_use]
pub fn keyed(world: &World, count: usize, mix: Mix) -> Keyed<'_> {
    Keyed(Generator::new(world, count, mix))
}

/// The lines of a stream as `(key, payload)` records for Kafka.
///
/// The payload is the JSON line without its newline. The key is the id of
/// the account the event was made for, so that a keyed producer puts an
/// account's events on one partition, in order. It is the line's `account`
/// whenever the line has one: a line sent for an unknown account is keyed by
/// that unknown id, a resent line by its original's key, and a line too
/// broken to name an account (cut short, not JSON) by the account it was
/// drawn for.
#[derive(Debug)]
pub struct Keyed<'w>(Generator<'w>);

impl Keyed<'_> {
    /// What has been produced so far.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.0.stats()
    }
}

impl Iterator for Keyed<'_> {
    type Item = (String, Vec<u8>);

    fn next(&mut self) -> Option<Self::Item> {
        let (key, line) = self.0.next_keyed()?;
        Some((key.into_owned(), line.into_bytes()))
    }
}

const ACTIVE: u8 = 0;
const PENDING: u8 = 1;
const SUSPENDED: u8 = 2;
const CANCELLED: u8 = 3;

/// Lines kept for resending.
const RECENT_MAX: usize = 4096;

/// Produces the lines of a stream, in order.
#[derive(Debug)]
pub struct Generator<'w> {
    world: &'w World,
    mix: Mix,
    rng: Rng,
    /// Event times, milliseconds since the epoch, sorted.
    times: Vec<i64>,
    next: usize,
    /// The latest instant written so far.
    last_written: i64,
    seq: u64,
    status: Vec<u8>,
    plans: Vec<Option<PlanKind>>,
    tz: Vec<Tz>,
    /// Multiplier that spreads the skewed draw over the account range.
    spread: u64,
    pending: Vec<usize>,
    to_resume: VecDeque<usize>,
    to_unblock: VecDeque<usize>,
    /// Recent lines with their keys.
    recent: VecDeque<(Cow<'w, str>, String)>,
    intl_fixed: Vec<(u32, usize)>,
    intl_mobile: Vec<(u32, usize)>,
    by_kind: Vec<(ZoneKind, usize)>,
    stats: Stats,
}

impl<'w> Generator<'w> {
    /// A stream of `count` lines.
    #[must_use]
    pub fn new(world: &'w World, count: usize, mix: Mix) -> Self {
        let mut rng = Rng::new(world.seed, stream::EVENTS);
        // Without accounts there is nobody to make events.
        let count = if world.accounts.is_empty() { 0 } else { count };
        let times = times(&mut rng, world, count);
        let n = world.accounts.len().max(1) as u64;
        let mut spread = 2_654_435_761u64 % n;
        while gcd(spread, n) != 1 {
            spread += 1;
        }
        let status = world
            .accounts
            .iter()
            .map(|a| match a.status {
                Status::Active => ACTIVE,
                Status::Pending => PENDING,
                Status::Suspended => SUSPENDED,
            })
            .collect::<Vec<_>>();
        let pending = (0..status.len()).rev().filter(|&i| status[i] == PENDING).collect();
        let popularity = |c: usize| -> u32 {
            let country = &COUNTRIES[c];
            let base = match country.tier {
                1 => 30,
                2 => 15,
                3 => 6,
                4 => 3,
                _ => 2,
            };
            if country.big { base * 2 } else { base }
        };
        let intl = |kind, share: u32| {
            world.zones_of(kind).filter_map(|(i, z)| z.country.map(|c| (popularity(c) * share, i))).collect::<Vec<_>>()
        };
        Self {
            world,
            mix,
            times,
            next: 0,
            last_written: i64::MIN,
            seq: 0,
            plans: world.accounts.iter().map(|a| a.plan).collect(),
            status,
            tz: REGIONS.iter().map(|r| r.time_zone.parse().unwrap_or(Tz::UTC)).collect(),
            spread,
            pending,
            to_resume: VecDeque::new(),
            to_unblock: VecDeque::new(),
            recent: VecDeque::with_capacity(RECENT_MAX),
            intl_fixed: intl(ZoneKind::IntlFixed, 4),
            intl_mobile: intl(ZoneKind::IntlMobile, 6),
            by_kind: world.zones.iter().enumerate().map(|(i, z)| (z.kind, i)).collect(),
            rng,
            stats: Stats::default(),
        }
    }

    /// What has been produced so far.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.stats
    }

    fn id(&mut self) -> String {
        self.seq += 1;
        format!("e{}-{:09}", self.world.seed, self.seq)
    }

    /// The event time as a sender writes it: UTC, UTC with milliseconds,
    /// or the account's local time with its offset. A time written to the
    /// second that would fall before one already written keeps its
    /// milliseconds, so the stream stays in order.
    fn time(&mut self, ms: i64, account: usize) -> String {
        let utc: DateTime<Utc> = DateTime::from_timestamp_millis(ms).unwrap_or_default();
        let choice = self.rng.below(100);
        let whole_seconds = ms - ms.rem_euclid(1000);
        if (60..85).contains(&choice) || whole_seconds < self.last_written {
            self.last_written = ms;
            utc.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
        } else if choice < 60 {
            self.last_written = whole_seconds;
            utc.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        } else {
            self.last_written = whole_seconds;
            let tz = self.tz[self.world.accounts[account].region];
            utc.with_timezone(&tz).format("%Y-%m-%dT%H:%M:%S%:z").to_string()
        }
    }

    fn header(&mut self, kind: &str, account: usize, ms: i64) -> Fields {
        let mut f = Fields(Vec::with_capacity(12));
        f.num("v", 1);
        let id = self.id();
        f.str("id", id);
        f.str("kind", kind);
        f.str("account", &self.world.accounts[account].id);
        let time = self.time(ms, account);
        f.str("time", time);
        f
    }

    /// An active account, busy ones more often.
    fn active_account(&mut self) -> usize {
        let n = self.world.accounts.len();
        for _ in 0..16 {
            let i = if !self.world.large.is_empty() && self.rng.percent(10) {
                *self.rng.pick(&self.world.large)
            } else {
                usize::try_from(self.rng.skewed(n) as u64 * self.spread % n.max(1) as u64).unwrap_or(0)
            };
            if self.status[i] == ACTIVE {
                return i;
            }
        }
        self.world.large.first().copied().unwrap_or(0)
    }

    fn zone(&mut self, kind: ZoneKind) -> usize {
        let list: Vec<usize> = self.by_kind.iter().filter(|(k, _)| *k == kind).map(|(_, i)| *i).collect();
        *self.rng.pick(&list)
    }

    fn number(&mut self, zone: usize) -> String {
        let z: &Zone = &self.world.zones[zone];
        let mut s = String::with_capacity(17);
        if self.rng.percent(80) {
            s.push('+');
        }
        let prefix = self.rng.pick(&z.prefixes);
        s.push_str(prefix);
        let more = z.number_digits.saturating_sub(prefix.len());
        self.rng.digits(&mut s, more);
        s
    }

    fn destination(&mut self, business: bool) -> String {
        let abroad = if business { 250 } else { 155 };
        let dest = self.rng.weighted(&[
            (300, Dest::National(ZoneKind::NatMobileOffNet)),
            (200, Dest::National(ZoneKind::NatMobileOnNet)),
            (300, Dest::National(ZoneKind::NatFixed)),
            (20, Dest::National(ZoneKind::Freephone)),
            (5, Dest::National(ZoneKind::Premium)),
            (10, Dest::National(ZoneKind::SharedCost)),
            (3, Dest::National(ZoneKind::Personal)),
            (2, Dest::National(ZoneKind::Directory)),
            (abroad, Dest::Abroad),
            (5, Dest::NoZone),
        ]);
        match dest {
            Dest::National(kind) => {
                let zone = self.zone(kind);
                self.number(zone)
            }
            Dest::Abroad => {
                let zone = if self.rng.percent(40) {
                    self.rng.weighted(&self.intl_fixed)
                } else {
                    self.rng.weighted(&self.intl_mobile)
                };
                self.number(zone)
            }
            Dest::NoZone => {
                // Satellite phones and international networks: in no zone.
                let mut s = String::from(*self.rng.pick(&["+8816", "+8823"]));
                self.rng.digits(&mut s, 8);
                s
            }
        }
    }

    fn sms_destination(&mut self, abroad: bool) -> String {
        let zone = if abroad {
            self.rng.weighted(&self.intl_mobile)
        } else if self.rng.percent(60) {
            self.zone(ZoneKind::NatMobileOffNet)
        } else {
            self.zone(ZoneKind::NatMobileOnNet)
        };
        self.number(zone)
    }

    /// A usage event and the index of its account.
    fn usage_fields(&mut self, ms: i64) -> (Fields, usize) {
        let account = self.active_account();
        let plan = self.plans[account].unwrap_or(PlanKind::MobileS);
        let service = match plan {
            PlanKind::IotFleet => self.rng.weighted(&[(70, "telematics"), (25, "data"), (5, "sms")]),
            PlanKind::SaasApi => "api",
            _ => self.rng.weighted(&[(40, "voice"), (15, "sms"), (45, "data")]),
        };
        let mut f = self.header("usage", account, ms);
        f.str("service", service);
        match service {
            "voice" => {
                let (lo, hi) = self.rng.weighted(&[
                    (1, (0, 0)),
                    (40, (1, 59)),
                    (35, (60, 179)),
                    (17, (180, 599)),
                    (6, (600, 1799)),
                    (1, (1800, 5400)),
                ]);
                let secs = self.rng.range(lo, hi);
                if self.rng.percent(5) && secs > 0 {
                    // Mediation that measures tenths of a second.
                    f.str("quantity", format!("{}.{}", secs - 1, 1 + self.rng.below(9)));
                } else {
                    f.num("quantity", secs);
                }
                if self.rng.percent(50) {
                    f.str("unit", "second");
                }
                let destination = self.destination(plan == PlanKind::Business);
                f.str("destination", destination);
            }
            "sms" => {
                let parts = self.rng.weighted(&[(85, 1), (10, 2), (5, 3)]);
                f.num("quantity", parts);
                let abroad = plan != PlanKind::IotFleet && self.rng.percent(15);
                let destination = self.sms_destination(abroad);
                f.str("destination", destination);
            }
            "data" => {
                let (lo, hi) = if plan == PlanKind::IotFleet {
                    self.rng.weighted(&[(80, (200, 20_000)), (20, (20_000, 2_000_000))])
                } else {
                    self.rng.weighted(&[
                        (30, (1_000, 100_000)),
                        (40, (100_000, 5_000_000)),
                        (25, (5_000_000, 100_000_000)),
                        (5, (100_000_000, 1_000_000_000)),
                    ])
                };
                f.num("quantity", self.rng.range(lo, hi));
                if self.rng.percent(30) {
                    f.str("unit", "byte");
                }
                f.str("apn", if plan == PlanKind::IotFleet { "iot.fleet" } else { "internet" });
            }
            "telematics" => {
                f.num("quantity", self.rng.range(1, 12));
                if self.rng.percent(50) {
                    f.str("unit", "report");
                }
                let devices = u64::from(self.world.accounts[account].devices.max(1));
                let device = format!("{}-d{:03}", self.world.accounts[account].id, self.rng.below(devices));
                f.str("device", device);
            }
            _ => {
                let (lo, hi) = self.rng.weighted(&[(90, (1, 200)), (10, (1_000, 5_000))]);
                f.num("quantity", self.rng.range(lo, hi));
                if self.rng.percent(30) {
                    f.str("unit", "call");
                }
            }
        }
        (f, account)
    }

    /// A lifecycle or money event and the index of its account.
    fn lifecycle(&mut self, ms: i64) -> Option<(usize, String)> {
        if !self.to_resume.is_empty() && self.rng.percent(50) {
            let a = self.to_resume.pop_front()?;
            self.status[a] = ACTIVE;
            let mut f = self.header("subscription", a, ms);
            f.str("action", "resume");
            return Some((a, f.json()));
        }
        if !self.to_unblock.is_empty() && self.rng.percent(50) {
            let a = self.to_unblock.pop_front()?;
            let mut f = self.header("unblock", a, ms);
            f.str("reason", "fraud check passed");
            return Some((a, f.json()));
        }
        if !self.pending.is_empty() && self.rng.percent(20) {
            let a = self.pending.pop()?;
            let plan = *self.rng.pick(&[PlanKind::Prepaid, PlanKind::MobileS, PlanKind::MobileM]);
            self.status[a] = ACTIVE;
            self.plans[a] = Some(plan);
            let mut f = self.header("subscription", a, ms);
            f.str("action", "activate");
            f.str("plan", plan.name());
            return Some((a, f.json()));
        }
        let a = self.active_account();
        let plan = self.plans[a]?;
        let large = self.world.accounts[a].large;
        let what = self.rng.weighted(&[(60, 0), (8, 1), (15, 2), (6, 3), (3, 4), (2, 5), (1, 6)]);
        let f = match what {
            0 if plan.prepaid() => {
                let mut f = self.header("topup", a, ms);
                f.str("amount", format!("{}.00", self.rng.pick(&[5, 10, 15, 20, 25, 30, 50])));
                if self.rng.percent(50) {
                    f.str("currency", "EUR");
                }
                if self.rng.percent(10) {
                    f.str("balance", "bonus");
                }
                f
            }
            0 => {
                let mut f = self.header("payment", a, ms);
                f.str("amount", format!("{}.{:02}", 10 + self.rng.below(240), self.rng.below(100)));
                f.str("currency", "EUR");
                f
            }
            1 => {
                let mut f = self.header("adjustment", a, ms);
                if self.rng.percent(70) {
                    f.str("amount", "5.00");
                    f.str("reason", "goodwill credit after network outage");
                } else {
                    f.str("amount", "-2.50");
                    f.str("reason", "paper invoice fee");
                }
                f
            }
            3 if matches!(plan, PlanKind::MobileS | PlanKind::MobileM | PlanKind::MobileL) => {
                let others: Vec<PlanKind> = [PlanKind::MobileS, PlanKind::MobileM, PlanKind::MobileL]
                    .into_iter()
                    .filter(|p| *p != plan)
                    .collect();
                let to = *self.rng.pick(&others);
                self.plans[a] = Some(to);
                let mut f = self.header("subscription", a, ms);
                f.str("action", "change_plan");
                f.str("plan", to.name());
                f
            }
            4 if !large => {
                self.status[a] = SUSPENDED;
                self.to_resume.push_back(a);
                let mut f = self.header("subscription", a, ms);
                f.str("action", "suspend");
                f
            }
            5 if !large => {
                self.to_unblock.push_back(a);
                let mut f = self.header("block", a, ms);
                f.str("reason", "fraud check");
                f
            }
            6 if !large => {
                self.status[a] = CANCELLED;
                let mut f = self.header("subscription", a, ms);
                f.str("action", "cancel");
                f
            }
            _ => {
                let mut f = self.header("support_contact", a, ms);
                f.str("channel", *self.rng.pick(&["phone", "chat", "mail", "shop"]));
                f.str("reason", *self.rng.pick(&["billing question", "coverage", "roaming", "cancellation intent"]));
                f
            }
        };
        Some((a, f.json()))
    }

    /// A line the decoder or the rater rejects, and its key: the account it
    /// names, or was drawn for when it names none.
    fn bad(&mut self, ms: i64) -> (Cow<'w, str>, String) {
        let (mut f, account) = self.usage_fields(ms);
        let mut key = self.key(account);
        match self.rng.below(15) {
            0 => {
                let json = f.json();
                let cut = 10 + self.rng.index(json.len().saturating_sub(12).max(1));
                return (key, json[..cut.min(json.len())].to_string());
            }
            1 => f.set("v", "2".into()),
            2 => f.set("quantity", format!("-{}", 1 + self.rng.below(300))),
            3 => f.set("quantity", "1.5".into()),
            4 => {
                let unknown = format!("X{:07}", self.rng.below(10_000_000));
                f.set("account", format!("\"{unknown}\""));
                key = Cow::Owned(unknown);
            }
            5 => f.set("service", "\"fax\"".into()),
            6 => f.set("destination", "\"+49 30 1234567\"".into()),
            7 => f.remove("quantity"),
            8 => f.set("time", "\"03/11/2026 10:15\"".into()),
            9 => f.set("unit", "\"minute\"".into()),
            10 => return (key, "<html><body>504 Gateway Timeout</body></html>".into()),
            11 => f.set("quantity", "99999999999".into()),
            12 => return (key, "[\"usage\",1]".into()),
            13 => f.set("kind", "\"teleport\"".into()),
            _ => {
                f.set("kind", "\"subscription\"".into());
                for field in ["service", "quantity", "unit", "destination", "device", "apn"] {
                    f.remove(field);
                }
                f.set("action", "\"change_plan\"".into());
                f.set("plan", "\"gold_unlimited\"".into());
            }
        }
        (key, f.json())
    }

    /// The Kafka key of an account's events: its id.
    fn key(&self, account: usize) -> Cow<'w, str> {
        let world: &'w World = self.world;
        Cow::Borrowed(&world.accounts[account].id)
    }

    fn remember(&mut self, keyed: &(Cow<'w, str>, String)) {
        if self.mix.duplicate == 0 {
            return;
        }
        if self.recent.len() == RECENT_MAX {
            self.recent.pop_front();
        }
        self.recent.push_back(keyed.clone());
    }

    /// The next line and its key (see [`Keyed`]).
    pub(crate) fn next_keyed(&mut self) -> Option<(Cow<'w, str>, String)> {
        let ms = *self.times.get(self.next)?;
        self.next += 1;
        let roll = self.rng.below(u64::from(MILLION));
        let dup = u64::from(self.mix.duplicate);
        let bad = dup + u64::from(self.mix.bad);
        let lifecycle = bad + u64::from(self.mix.lifecycle);
        if roll < dup && !self.recent.is_empty() {
            self.stats.duplicate += 1;
            let i = self.rng.index(self.recent.len());
            return self.recent.get(i).cloned();
        }
        if roll >= dup && roll < bad {
            self.stats.bad += 1;
            return Some(self.bad(ms));
        }
        if roll >= bad
            && roll < lifecycle
            && let Some((account, line)) = self.lifecycle(ms)
        {
            self.stats.lifecycle += 1;
            let keyed = (self.key(account), line);
            self.remember(&keyed);
            return Some(keyed);
        }
        let (f, account) = self.usage_fields(ms);
        let keyed = (self.key(account), f.json());
        self.stats.usage += 1;
        self.remember(&keyed);
        Some(keyed)
    }
}

impl Iterator for Generator<'_> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        self.next_keyed().map(|(_, line)| line)
    }
}

/// Sorted event times within the month, with a daily rhythm; a margin of
/// 14 hours at both ends keeps every time zone's local date in the month.
fn times(rng: &mut Rng, world: &World, count: usize) -> Vec<i64> {
    const HOUR_MS: i64 = 3_600_000;
    const HOURLY: [(u32, i64); 24] = [
        (1, 0),
        (1, 1),
        (1, 2),
        (1, 3),
        (1, 4),
        (2, 5),
        (4, 6),
        (7, 7),
        (9, 8),
        (10, 9),
        (10, 10),
        (10, 11),
        (9, 12),
        (9, 13),
        (10, 14),
        (10, 15),
        (10, 16),
        (10, 17),
        (9, 18),
        (8, 19),
        (7, 20),
        (5, 21),
        (3, 22),
        (2, 23),
    ];
    let month = world.month;
    let start = month.first_day().and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().timestamp_millis();
    let (from, to) = (start + 14 * HOUR_MS, start + i64::from(month.days()) * 24 * HOUR_MS - 14 * HOUR_MS);
    let days = u64::from(month.days());
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let day = i64::try_from(rng.below(days)).unwrap_or(0);
        let hour = rng.weighted(&HOURLY);
        let ms = i64::try_from(rng.below(3_600_000)).unwrap_or(0);
        let t = start + (day * 24 + hour) * HOUR_MS + ms;
        if (from..to).contains(&t) {
            out.push(t);
        }
    }
    out.sort_unstable();
    out
}

/// Where a call goes.
#[derive(Debug, Clone, Copy)]
enum Dest {
    National(ZoneKind),
    Abroad,
    NoZone,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A JSON object's fields in order, each value already encoded.
#[derive(Debug)]
struct Fields(Vec<(&'static str, String)>);

impl Fields {
    /// A string value (generated text: no character needs escaping).
    fn str(&mut self, key: &'static str, value: impl Display) {
        self.0.push((key, format!("\"{value}\"")));
    }

    fn num(&mut self, key: &'static str, value: impl Display) {
        self.0.push((key, value.to_string()));
    }

    fn set(&mut self, key: &'static str, raw: String) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = raw,
            None => self.0.push((key, raw)),
        }
    }

    fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| *k != key);
    }

    fn json(&self) -> String {
        let mut s = String::with_capacity(224);
        s.push('{');
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push('"');
            s.push_str(k);
            s.push_str("\":");
            s.push_str(v);
        }
        s.push('}');
        s
    }
}
