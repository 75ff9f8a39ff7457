//! Calendar periods: UTC days for windows, and ISO weeks and calendar months in a guild's
//! timezone for leaderboards.
//!
//! A stretch of time is split into [`PeriodCell`]s: maximal pieces inside which the UTC day,
//! the local ISO week and the local month all stay the same. Every per-period figure is a sum
//! over cells, so a session across midnight, a week end, a month end or a DST change lands in
//! each period with exactly the seconds it spent there.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// A calendar day in UTC. Windows ("last 7 days") are made of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Day(NaiveDate);

impl Day {
    #[must_use]
    pub const fn from_date(date: NaiveDate) -> Self {
        Self(date)
    }

    #[must_use]
    pub fn of(at: Timestamp) -> Self {
        Self(at.to_utc().date_naive())
    }

    #[must_use]
    pub const fn date(self) -> NaiveDate {
        self.0
    }

    /// 00:00:00 UTC of this day.
    #[must_use]
    pub fn start(self) -> Timestamp {
        Timestamp::from_datetime(self.0.and_time(NaiveTime::MIN).and_utc())
    }

    /// The day `n` days before this one (clamped at the first representable day).
    #[must_use]
    pub fn minus_days(self, n: u64) -> Self {
        Self(
            self.0
                .checked_sub_days(Days::new(n))
                .unwrap_or(NaiveDate::MIN),
        )
    }

    /// The first day of the next calendar month.
    #[must_use]
    pub fn first_of_next_month(self) -> Self {
        let (y, m) = (self.0.year(), self.0.month());
        let next = if m == 12 {
            NaiveDate::from_ymd_opt(y + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(y, m + 1, 1)
        };
        Self(next.unwrap_or(NaiveDate::MAX))
    }

    /// The first and last day of a window of `days` UTC days ending with the day of `now`.
    #[must_use]
    pub fn window(now: Timestamp, days: u64) -> (Self, Self) {
        let last = Self::of(now);
        (last.minus_days(days.saturating_sub(1)), last)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl FromStr for Day {
    type Err = PeriodParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 10 {
            return Err(PeriodParseError(s.to_owned()));
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Self)
            .map_err(|_| PeriodParseError(s.to_owned()))
    }
}

/// An ISO 8601 week ("2026-W48"), Monday to Sunday in some timezone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WeekKey {
    year: i32,
    week: u32,
}

impl WeekKey {
    /// An ISO week, when it exists.
    #[must_use]
    pub fn new(year: i32, week: u32) -> Option<Self> {
        NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).map(|_| Self { year, week })
    }

    #[must_use]
    pub fn of(at: Timestamp, tz: Tz) -> Self {
        let iso = at.to_utc().with_timezone(&tz).date_naive().iso_week();
        Self {
            year: iso.year(),
            week: iso.week(),
        }
    }

    #[must_use]
    pub const fn year(self) -> i32 {
        self.year
    }

    #[must_use]
    pub const fn week(self) -> u32 {
        self.week
    }
}

impl fmt::Display for WeekKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-W{:02}", self.year, self.week)
    }
}

impl FromStr for WeekKey {
    type Err = PeriodParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PeriodParseError(s.to_owned());
        let (year, week) = s.split_once("-W").ok_or_else(err)?;
        if year.len() != 4 || week.len() != 2 {
            return Err(err());
        }
        let year: i32 = year.parse().map_err(|_| err())?;
        let week: u32 = week.parse().map_err(|_| err())?;
        NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).ok_or_else(err)?;
        Ok(Self { year, week })
    }
}

/// A calendar month ("2026-11") in some timezone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MonthKey {
    year: i32,
    month: u32,
}

impl MonthKey {
    /// A month, when `month` is 1 to 12 and the year is one chrono can represent.
    #[must_use]
    pub fn new(year: i32, month: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(year, month, 1).map(|_| Self { year, month })
    }

    #[must_use]
    pub fn of(at: Timestamp, tz: Tz) -> Self {
        let date = at.to_utc().with_timezone(&tz).date_naive();
        Self {
            year: date.year(),
            month: date.month(),
        }
    }

    #[must_use]
    pub const fn year(self) -> i32 {
        self.year
    }

    #[must_use]
    pub const fn month(self) -> u32 {
        self.month
    }
}

impl fmt::Display for MonthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for MonthKey {
    type Err = PeriodParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PeriodParseError(s.to_owned());
        let (year, month) = s.split_once('-').ok_or_else(err)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(err());
        }
        let year: i32 = year.parse().map_err(|_| err())?;
        let month: u32 = month.parse().map_err(|_| err())?;
        NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(err)?;
        Ok(Self { year, month })
    }
}

macro_rules! string_serde {
    ($($t:ty),*) => {$(
        impl TryFrom<String> for $t {
            type Error = PeriodParseError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                value.parse()
            }
        }
        impl From<$t> for String {
            fn from(value: $t) -> Self {
                value.to_string()
            }
        }
    )*};
}
string_serde!(Day, WeekKey, MonthKey);

/// A period key that is not of the form its type expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed period key {0:?}")]
pub struct PeriodParseError(pub String);

/// What a leaderboard ranks over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeriodKind {
    Week,
    Month,
    All,
}

/// One leaderboard's period: all time, or a given week or month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeriodKey {
    All,
    Week(WeekKey),
    Month(MonthKey),
}

impl PeriodKey {
    /// The period of `kind` that contains `now` in `tz`.
    #[must_use]
    pub fn current(kind: PeriodKind, now: Timestamp, tz: Tz) -> Self {
        match kind {
            PeriodKind::All => Self::All,
            PeriodKind::Week => Self::Week(WeekKey::of(now, tz)),
            PeriodKind::Month => Self::Month(MonthKey::of(now, tz)),
        }
    }

    #[must_use]
    pub const fn kind(self) -> PeriodKind {
        match self {
            Self::All => PeriodKind::All,
            Self::Week(_) => PeriodKind::Week,
            Self::Month(_) => PeriodKind::Month,
        }
    }
}

impl fmt::Display for PeriodKey {
    /// `all`, `W2026-W48` or `M2026-11`: compact enough for keys and `custom_id`s.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::Week(w) => write!(f, "W{w}"),
            Self::Month(m) => write!(f, "M{m}"),
        }
    }
}

impl FromStr for PeriodKey {
    type Err = PeriodParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "all" {
            return Ok(Self::All);
        }
        match s.split_at_checked(1) {
            Some(("W", rest)) => rest.parse().map(Self::Week),
            Some(("M", rest)) => rest.parse().map(Self::Month),
            _ => Err(PeriodParseError(s.to_owned())),
        }
    }
}

/// The periods one second belongs to: its UTC day and half hour of that day, and its ISO week
/// and month in a timezone. Half hours make every local day cut exact: a local midnight falls
/// on a UTC half hour in every timezone whose offset is a whole number of half hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PeriodCell {
    #[serde(rename = "d")]
    pub day: Day,
    /// Half hour of the UTC day, `0..48`.
    #[serde(rename = "h")]
    pub half_hour: u8,
    #[serde(rename = "w")]
    pub week: WeekKey,
    #[serde(rename = "m")]
    pub month: MonthKey,
}

/// Half hours in a day.
pub const HALF_HOURS: u8 = 48;

impl PeriodCell {
    #[must_use]
    pub fn of(at: Timestamp, tz: Tz) -> Self {
        Self {
            day: Day::of(at),
            half_hour: (at.unix().rem_euclid(86_400) / 1800) as u8,
            week: WeekKey::of(at, tz),
            month: MonthKey::of(at, tz),
        }
    }

    /// The first instant of the cell's UTC half hour.
    #[must_use]
    pub fn slot_start(&self) -> Timestamp {
        self.day.start().plus(u64::from(self.half_hour) * 1800)
    }
}

/// Splits `[from, to)` into cells, in time order, with the seconds spent in each. Empty when
/// `to <= from`. The seconds always sum to `from.secs_until(to)`. A cell ends at every UTC half
/// hour and at every local week and month boundary.
#[must_use]
pub fn split_cells(from: Timestamp, to: Timestamp, tz: Tz) -> Vec<(PeriodCell, u64)> {
    let mut cells = Vec::new();
    let mut at = from;
    while at < to {
        let next = next_boundary(at, tz).min(to);
        cells.push((PeriodCell::of(at, tz), at.secs_until(next)));
        at = next;
    }
    cells
}

/// The first instant after `at` where the UTC half hour, the local week or the local month
/// changes.
fn next_boundary(at: Timestamp, tz: Tz) -> Timestamp {
    let half_hour = Timestamp::new((at.unix().div_euclid(1800) + 1) * 1800);
    let local = at.to_utc().with_timezone(&tz).date_naive();
    let next_monday = local.checked_add_days(Days::new(u64::from(
        7 - local.weekday().num_days_from_monday(),
    )));
    let next_month = if local.month() == 12 {
        NaiveDate::from_ymd_opt(local.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(local.year(), local.month() + 1, 1)
    };
    [
        half_hour,
        next_monday.and_then(|d| local_day_start(d, tz)),
        next_month.and_then(|d| local_day_start(d, tz)),
    ]
    .into_iter()
    .flatten()
    .filter(|&b| b > at)
    .min()
    .unwrap_or(Timestamp::MAX)
}

/// The calendar date of `at` in `tz`.
#[must_use]
pub fn local_date(at: Timestamp, tz: Tz) -> NaiveDate {
    at.to_utc().with_timezone(&tz).date_naive()
}

/// The first instant of local day `date` in `tz` (where a DST change skips midnight, the
/// first local time that exists).
#[must_use]
pub fn local_midnight(date: NaiveDate, tz: Tz) -> Option<Timestamp> {
    local_day_start(date, tz)
}

/// Splits `[from, to)` by calendar day in `tz`, in order, with the seconds in each. The seconds
/// always sum to `from.secs_until(to)`.
#[must_use]
pub fn split_local_days(from: Timestamp, to: Timestamp, tz: Tz) -> Vec<(NaiveDate, u64)> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let date = local_date(at, tz);
        let next = date
            .succ_opt()
            .and_then(|d| local_day_start(d, tz))
            .filter(|n| *n > at)
            .unwrap_or(Timestamp::MAX)
            .min(to);
        out.push((date, at.secs_until(next)));
        at = next;
    }
    out
}

/// The first instant of `date` in `tz`. Where a DST change skips midnight, the day starts at
/// the first local time that exists.
fn local_day_start(date: NaiveDate, tz: Tz) -> Option<Timestamp> {
    let mut local = NaiveDateTime::new(date, NaiveTime::MIN);
    // DST gaps are at most a few hours; step in quarter hours until the local time exists.
    for _ in 0..24 {
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                return Some(Timestamp::from_datetime(t.to_utc()));
            }
            LocalResult::None => local += chrono::Duration::minutes(15),
        }
    }
    None
}

/// Whether `tz` changes its offset within the year from `at` (daylight saving time).
#[must_use]
pub fn observes_dst(tz: Tz, at: Timestamp) -> bool {
    let half_year = 182 * 86_400;
    utc_offset_secs(tz, at) != utc_offset_secs(tz, at.plus(half_year))
}

/// Seconds east of UTC of `tz` at `at` (daylight saving time included).
#[must_use]
pub fn utc_offset_secs(tz: Tz, at: Timestamp) -> i32 {
    use chrono::Offset as _;
    tz.offset_from_utc_datetime(&at.to_utc().naive_utc())
        .fix()
        .local_minus_utc()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn ts(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Timestamp {
        Timestamp::from_datetime(Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap())
    }

    /// Day, week and month of each run of cells, with its seconds (half hours merged).
    fn keys(cells: &[(PeriodCell, u64)]) -> Vec<(String, String, String, u64)> {
        let mut out: Vec<(String, String, String, u64)> = Vec::new();
        for (c, s) in cells {
            let key = (c.day.to_string(), c.week.to_string(), c.month.to_string());
            match out.last_mut() {
                Some(last) if (&last.0, &last.1, &last.2) == (&key.0, &key.1, &key.2) => {
                    last.3 += s;
                }
                _ => out.push((key.0, key.1, key.2, *s)),
            }
        }
        out
    }

    #[test]
    fn cells_end_at_every_utc_half_hour() {
        let cells = split_cells(
            ts(2026, 11, 26, 10, 10, 0),
            ts(2026, 11, 26, 11, 5, 0),
            Tz::UTC,
        );
        let pieces: Vec<(u8, u64)> = cells.iter().map(|(c, s)| (c.half_hour, *s)).collect();
        assert_eq!(pieces, vec![(20, 1200), (21, 1800), (22, 300)]);
        assert_eq!(cells[1].0.slot_start(), ts(2026, 11, 26, 10, 30, 0));
    }

    #[test]
    fn keys_round_trip() {
        for s in ["2026-11-26", "2020-02-29"] {
            assert_eq!(s.parse::<Day>().unwrap().to_string(), s);
        }
        for s in ["2026-W48", "2020-W53"] {
            assert_eq!(s.parse::<WeekKey>().unwrap().to_string(), s);
        }
        assert_eq!(
            "2026-11".parse::<MonthKey>().unwrap().to_string(),
            "2026-11"
        );
        for bad in [
            "2026-13",
            "2026-1",
            "26-11",
            "2026-W54",
            "2021-W53",
            "2026-02-30",
            "x",
        ] {
            assert!(bad.parse::<MonthKey>().is_err() || bad.parse::<WeekKey>().is_err());
        }
        assert!("2021-W53".parse::<WeekKey>().is_err());
        assert!("2026-02-30".parse::<Day>().is_err());
        for s in ["all", "W2026-W48", "M2026-11"] {
            assert_eq!(s.parse::<PeriodKey>().unwrap().to_string(), s);
        }
        assert!("X2026".parse::<PeriodKey>().is_err());
        assert!("".parse::<PeriodKey>().is_err());
    }

    #[test]
    fn session_inside_one_day_is_one_cell() {
        let cells = split_cells(
            ts(2026, 11, 26, 10, 0, 0),
            ts(2026, 11, 26, 11, 30, 5),
            Tz::UTC,
        );
        assert_eq!(
            keys(&cells),
            vec![(
                "2026-11-26".into(),
                "2026-W48".into(),
                "2026-11".into(),
                5405
            )]
        );
    }

    #[test]
    fn across_midnight_splits_days() {
        let cells = split_cells(
            ts(2026, 11, 25, 23, 50, 0),
            ts(2026, 11, 26, 0, 20, 0),
            Tz::UTC,
        );
        assert_eq!(
            keys(&cells),
            vec![
                (
                    "2026-11-25".into(),
                    "2026-W48".into(),
                    "2026-11".into(),
                    600
                ),
                (
                    "2026-11-26".into(),
                    "2026-W48".into(),
                    "2026-11".into(),
                    1200
                ),
            ]
        );
    }

    #[test]
    fn across_week_month_and_year_end() {
        // Thursday 2026-12-31 23:00 to Friday 2027-01-01 01:00: ISO week 2026-W53 throughout.
        let cells = split_cells(ts(2026, 12, 31, 23, 0, 0), ts(2027, 1, 1, 1, 0, 0), Tz::UTC);
        assert_eq!(
            keys(&cells),
            vec![
                (
                    "2026-12-31".into(),
                    "2026-W53".into(),
                    "2026-12".into(),
                    3600
                ),
                (
                    "2027-01-01".into(),
                    "2026-W53".into(),
                    "2027-01".into(),
                    3600
                ),
            ]
        );
        // Sunday 2026-11-29 23:30 to Monday 00:30 changes the week.
        let cells = split_cells(
            ts(2026, 11, 29, 23, 30, 0),
            ts(2026, 11, 30, 0, 30, 0),
            Tz::UTC,
        );
        assert_eq!(cells[0].0.week.to_string(), "2026-W48");
        assert_eq!(cells[1].0.week.to_string(), "2026-W49");
    }

    #[test]
    fn local_boundaries_differ_from_utc_days() {
        // Europe/Berlin is UTC+1 in November: its week starts Sunday 23:00 UTC.
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let cells = split_cells(
            ts(2026, 11, 29, 22, 30, 0),
            ts(2026, 11, 30, 0, 30, 0),
            berlin,
        );
        assert_eq!(
            keys(&cells),
            vec![
                (
                    "2026-11-29".into(),
                    "2026-W48".into(),
                    "2026-11".into(),
                    1800
                ),
                (
                    "2026-11-29".into(),
                    "2026-W49".into(),
                    "2026-11".into(),
                    3600
                ),
                (
                    "2026-11-30".into(),
                    "2026-W49".into(),
                    "2026-11".into(),
                    1800
                ),
            ]
        );
    }

    #[test]
    fn half_hour_offset_zone() {
        // Asia/Kolkata is UTC+5:30: December starts 2026-11-30 18:30 UTC.
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        let cells = split_cells(
            ts(2026, 11, 30, 18, 0, 0),
            ts(2026, 11, 30, 19, 0, 0),
            kolkata,
        );
        assert_eq!(
            keys(&cells),
            vec![
                (
                    "2026-11-30".into(),
                    "2026-W49".into(),
                    "2026-11".into(),
                    1800
                ),
                (
                    "2026-11-30".into(),
                    "2026-W49".into(),
                    "2026-12".into(),
                    1800
                ),
            ]
        );
    }

    #[test]
    fn dst_change_keeps_every_second() {
        // Europe/Berlin leaves DST on Sunday 2026-10-25 at 03:00 local (01:00 UTC): the local
        // day is 25 hours long. A session from Saturday 22:00 UTC to Monday 01:00 UTC crosses it.
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let from = ts(2026, 10, 24, 22, 0, 0);
        let to = ts(2026, 10, 26, 1, 0, 0);
        let cells = split_cells(from, to, berlin);
        assert_eq!(cells.iter().map(|c| c.1).sum::<u64>(), from.secs_until(to));
        // The local week ends at Monday 00:00 CET = Sunday 23:00 UTC.
        let week_change = cells
            .iter()
            .position(|(c, _)| c.week.to_string() == "2026-W44")
            .unwrap();
        let secs_before: u64 = cells[..week_change].iter().map(|c| c.1).sum();
        assert_eq!(from.plus(secs_before), ts(2026, 10, 25, 23, 0, 0));
        // In spring, 2026-03-29 02:00 local does not exist; the week boundary is unaffected.
        let cells = split_cells(ts(2026, 3, 28, 12, 0, 0), ts(2026, 3, 30, 12, 0, 0), berlin);
        assert_eq!(cells.iter().map(|c| c.1).sum::<u64>(), 48 * 3600);
    }

    #[test]
    fn zero_length_has_no_cells_and_multi_day_has_many() {
        let t = ts(2026, 11, 26, 10, 0, 0);
        assert!(split_cells(t, t, Tz::UTC).is_empty());
        let cells = split_cells(t, t.plus(3 * 86_400), Tz::UTC);
        assert_eq!(cells.len(), 3 * 48);
        assert_eq!(cells.iter().map(|c| c.1).sum::<u64>(), 3 * 86_400);
    }

    #[test]
    fn local_days_split_at_local_midnight_across_dst() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // Saturday 2026-10-24 21:00 UTC (23:00 CEST) to Monday 00:30 UTC (01:30 CET):
        // Sunday is 25 hours long.
        let days = split_local_days(
            ts(2026, 10, 24, 21, 0, 0),
            ts(2026, 10, 26, 0, 30, 0),
            berlin,
        );
        let secs: Vec<u64> = days.iter().map(|d| d.1).collect();
        assert_eq!(secs, vec![3600, 25 * 3600, 5400]);
        assert_eq!(days[1].0.to_string(), "2026-10-25");
        assert_eq!(
            local_date(ts(2026, 11, 26, 20, 0, 0), "Asia/Tokyo".parse().unwrap()).to_string(),
            "2026-11-27"
        );
    }

    #[test]
    fn window_days() {
        let (first, last) = Day::window(ts(2026, 11, 26, 10, 0, 0), 7);
        assert_eq!(
            (first.to_string(), last.to_string()),
            ("2026-11-20".into(), "2026-11-26".into())
        );
    }

    #[test]
    fn current_periods() {
        let now = ts(2026, 11, 26, 10, 0, 0);
        assert_eq!(
            PeriodKey::current(PeriodKind::Week, now, Tz::UTC).to_string(),
            "W2026-W48"
        );
        assert_eq!(
            PeriodKey::current(PeriodKind::Month, now, Tz::UTC).to_string(),
            "M2026-11"
        );
        // 2026-11-30 20:00 UTC is already December in Kolkata.
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        let late = ts(2026, 11, 30, 20, 0, 0);
        assert_eq!(
            PeriodKey::current(PeriodKind::Month, late, kolkata).to_string(),
            "M2026-12"
        );
    }

    #[test]
    fn offsets_follow_the_zone_and_season() {
        let winter = Timestamp::new(1_795_000_000).unwrap(); // 2026-11-18
        assert_eq!(utc_offset_secs(chrono_tz::Asia::Kolkata, winter), 19_800);
        assert_eq!(utc_offset_secs(chrono_tz::Europe::Berlin, winter), 3600);
        assert_eq!(
            utc_offset_secs(
                chrono_tz::Europe::Berlin,
                Timestamp::new(1_784_000_000).unwrap()
            ),
            7200
        );
        assert_eq!(utc_offset_secs(Tz::UTC, winter), 0);
    }
}
