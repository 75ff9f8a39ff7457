//! What one member's figures in one server become when a session ends: the all-time record
//! and the UTC day records it touched. The store reads them, calls [`apply_end`], and writes
//! them back in one transaction; nothing here knows how they are stored.
//!
//! - The all-time record holds the totals, breakdown, heatmap and channels of every session,
//!   this week's and this month's figures in the server's timezone (what the leaderboards
//!   rank), the streak of days with at least [`STREAK_SECS`] in the member's timezone, and the
//!   last [`RECENT_DAYS`] local days for the activity chart.
//! - A day record holds what fell in one UTC day: totals, per half hour and channel the total,
//!   active and starting seconds (so any timezone's local days, hours and windows can be cut
//!   exactly), the partners of the day, and the sessions that ended that day.
//!
//! Rules: `docs/behaviour.md`.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use chrono_tz::Tz;

use crate::aggregate::Stats;
use crate::breakdown::{Breakdown, RankingRule};
use crate::heatmap::Heatmap;
use crate::ids::{ChannelId, UserId};
use crate::period::{Day, MonthKey, PeriodKey, WeekKey, local_date, split_local_days};
use crate::session::{ClosedSession, SessionRecord};
use crate::time::Timestamp;

/// Seconds of calls a local day needs to count for a streak.
pub const STREAK_SECS: u64 = 600;
/// Local days the all-time record keeps for the chart (a 30-day chart and a margin for the
/// timezone).
pub const RECENT_DAYS: u64 = 32;

/// One period's figures, for the leaderboards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeriodFigures<K> {
    pub key: K,
    pub total: u64,
    pub active: u64,
    pub ranked: u64,
}

/// Consecutive local days with at least [`STREAK_SECS`] of calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Streak {
    /// The latest local day with any call time, and its seconds so far.
    pub last_day: Option<NaiveDate>,
    pub last_day_secs: u64,
    /// The latest local day that reached [`STREAK_SECS`].
    pub last_counted: Option<NaiveDate>,
    /// Days in the run that ends at `last_counted`.
    pub run: u32,
    pub best: u32,
}

impl Streak {
    /// Adds `secs` of call time on local day `date` (days come in order: sessions of one member
    /// in one server never overlap and end in order).
    pub fn add(&mut self, date: NaiveDate, secs: u64) {
        match self.last_day {
            Some(last) if last == date => self.last_day_secs += secs,
            // A day before the latest one: only after a change of timezone. Left alone.
            Some(last) if date < last => return,
            _ => {
                self.last_day = Some(date);
                self.last_day_secs = secs;
            }
        }
        if self.last_day_secs >= STREAK_SECS && self.last_counted != Some(date) {
            let follows = self
                .last_counted
                .and_then(|d| d.checked_add_days(Days::new(1)))
                == Some(date);
            self.run = if follows { self.run + 1 } else { 1 };
            self.last_counted = Some(date);
            self.best = self.best.max(self.run);
        }
    }

    /// The current and best run with `live_today` more seconds on `today` (a call in
    /// progress, not yet counted).
    #[must_use]
    pub fn with_live(&self, today: NaiveDate, live_today: u64) -> (u32, u32) {
        let mut s = *self;
        if live_today > 0 {
            s.add(today, live_today);
        }
        (s.current(today), s.best)
    }

    /// The run still going on `today` (it may end yesterday: today is not over).
    #[must_use]
    pub fn current(&self, today: NaiveDate) -> u32 {
        match self.last_counted {
            Some(d) if d == today || d.checked_add_days(Days::new(1)) == Some(today) => self.run,
            _ => 0,
        }
    }
}

/// Total and active seconds of one local day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DaySecs {
    pub total: u64,
    pub active: u64,
}

/// Everything of one member in one server over all time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllTime {
    pub stats: Stats,
    pub breakdown: Breakdown,
    /// Seconds that count for the ranking, under the rule in force when each session ended.
    pub ranked: u64,
    pub heatmap: Heatmap,
    /// This week's and this month's figures in the server's timezone (the latest seen).
    pub week: Option<PeriodFigures<WeekKey>>,
    pub month: Option<PeriodFigures<MonthKey>>,
    pub streak: Streak,
    /// The last [`RECENT_DAYS`] local days with call time, in the member's timezone.
    pub recent: BTreeMap<NaiveDate, DaySecs>,
    pub channels: BTreeMap<ChannelId, u64>,
}

/// The seconds of one session piece in one UTC half hour and channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotSecs {
    pub half_hour: u8,
    pub channel: ChannelId,
    pub total: u64,
    pub active: u64,
    /// Sessions that started in this half hour.
    pub starts: u64,
}

/// Everything of one member in one server on one UTC day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DayRecord {
    pub total: u64,
    pub active: u64,
    pub deafened: u64,
    pub alone: u64,
    /// Sessions that started this day, and the longest of them.
    pub sessions: u64,
    pub longest: u64,
    /// End of the last session that ended this day.
    pub last_active: Option<Timestamp>,
    /// In half-hour and channel order.
    pub slots: Vec<SlotSecs>,
    pub partners: BTreeMap<UserId, u64>,
    /// Sessions that ended this day, in the order they ended.
    pub ended: Vec<SessionRecord>,
}

impl DayRecord {
    fn slot_mut(&mut self, half_hour: u8, channel: ChannelId) -> &mut SlotSecs {
        let index = match self
            .slots
            .binary_search_by_key(&(half_hour, channel), |s| (s.half_hour, s.channel))
        {
            Ok(i) => i,
            Err(i) => {
                self.slots.insert(
                    i,
                    SlotSecs {
                        half_hour,
                        channel,
                        total: 0,
                        active: 0,
                        starts: 0,
                    },
                );
                i
            }
        };
        &mut self.slots[index]
    }
}

/// A member's absolute figures on the three leaderboards, as the all-time record holds them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemberTotals {
    pub week: Option<PeriodFigures<WeekKey>>,
    pub month: Option<PeriodFigures<MonthKey>>,
    pub all_total: u64,
    pub all_ranked: u64,
}

impl AllTime {
    #[must_use]
    pub fn totals(&self) -> MemberTotals {
        MemberTotals {
            week: self.week,
            month: self.month,
            all_total: self.stats.total,
            all_ranked: self.ranked,
        }
    }
}

/// The day records an end must read and write: every UTC day the session touched (the day of
/// its start always, even for a session of no seconds). The last of them keeps the session's
/// record: the day of its last second.
#[must_use]
pub fn days_touched(session: &ClosedSession) -> Vec<Day> {
    let mut days: Vec<Day> = session.cells.iter().map(|c| c.cell.day).collect();
    days.push(Day::of(session.start()));
    days.sort_unstable();
    days.dedup();
    days
}

/// The UTC day of a session's last second (of its start when it lasted no second).
#[must_use]
pub fn end_day(session: &ClosedSession) -> Day {
    session
        .cells
        .last()
        .map_or_else(|| Day::of(session.start()), |c| c.cell.day)
}

/// Adds `session` to a member's all-time record and to the day records of `days` (which must
/// hold a record, default when new, for every day of [`days_touched`] to be counted; days
/// missing from it are left out: the store leaves out day records no window can show any
/// more). `rule` and `guild_tz` are the server's when the session ended; `member_tz` is the
/// member's (streaks and the chart's local days).
pub fn apply_end(
    all: &mut AllTime,
    days: &mut BTreeMap<Day, DayRecord>,
    session: &ClosedSession,
    rule: RankingRule,
    guild_tz: Tz,
    member_tz: Tz,
) {
    let duration = session.duration();
    let class = session.class_secs();
    all.stats.add_session(session);
    all.breakdown.merge(&session.breakdown);
    all.ranked += class.ranked(rule);
    for (bucket, secs) in session.heatmap_buckets() {
        all.heatmap.add(bucket, secs);
    }
    *all.channels.entry(session.channel).or_default() += duration;
    for (period, t) in session.period_totals(rule, guild_tz) {
        match period {
            PeriodKey::Week(key) => add_period(&mut all.week, key, t.total, t.active, t.ranked),
            PeriodKey::Month(key) => {
                add_period(&mut all.month, key, t.total, t.active, t.ranked);
            }
            PeriodKey::All => {}
        }
    }
    add_recent(all, session, member_tz);
    for (date, secs) in split_local_days(session.start(), session.end, member_tz) {
        all.streak.add(date, secs);
    }

    let start_day = Day::of(session.start());
    let end_day = end_day(session);
    let first_cell = session.cells.first().map(|c| c.cell);
    for c in &session.cells {
        let Some(day) = days.get_mut(&c.cell.day) else {
            continue;
        };
        day.total += c.secs.total();
        day.active += c.secs.active();
        day.deafened += c.secs.deafened_total();
        day.alone += c.secs.alone_total();
        let slot = day.slot_mut(c.cell.half_hour, session.channel);
        slot.total += c.secs.total();
        slot.active += c.secs.active();
        if Some(c.cell) == first_cell {
            slot.starts += 1;
        }
    }
    if let Some(day) = days.get_mut(&start_day) {
        day.sessions += 1;
        day.longest = day.longest.max(duration);
        if first_cell.is_none() {
            // A session of no seconds still started somewhere.
            let half_hour = (session.start().unix().rem_euclid(86_400) / 1800) as u8;
            day.slot_mut(half_hour, session.channel).starts += 1;
        }
    }
    for p in &session.partners {
        if let Some(day) = days.get_mut(&p.day) {
            *day.partners.entry(p.user).or_default() += p.secs;
        }
    }
    if let Some(day) = days.get_mut(&end_day) {
        day.last_active = Some(day.last_active.map_or(session.end, |l| l.max(session.end)));
        day.ended.push(session.record());
    }
}

fn add_period<K: Copy + Ord>(
    current: &mut Option<PeriodFigures<K>>,
    key: K,
    total: u64,
    active: u64,
    ranked: u64,
) {
    match current {
        Some(f) if f.key == key => {
            f.total += total;
            f.active += active;
            f.ranked += ranked;
        }
        // A past period: its board is no longer shown.
        Some(f) if f.key > key => {}
        _ => {
            *current = Some(PeriodFigures {
                key,
                total,
                active,
                ranked,
            });
        }
    }
}

fn add_recent(all: &mut AllTime, session: &ClosedSession, tz: Tz) {
    // Active seconds per local day: each half-hour cell falls in the local day of its middle
    // (exact for every timezone whose offset is a whole number of half hours).
    let mut active: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    for c in &session.cells {
        let middle = c.cell.slot_start().plus(900);
        *active.entry(local_date(middle, tz)).or_default() += c.secs.active();
    }
    for (date, secs) in split_local_days(session.start(), session.end, tz) {
        let day = all.recent.entry(date).or_default();
        day.total += secs;
        day.active += active.remove(&date).unwrap_or(0);
    }
    if let Some(latest) = all.recent.keys().next_back().copied() {
        let oldest = latest
            .checked_sub_days(Days::new(RECENT_DAYS - 1))
            .unwrap_or(NaiveDate::MIN);
        all.recent.retain(|d, _| *d >= oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breakdown::Flags;
    use crate::session::{OpenSession, PartnerSecs, SessionId};
    use chrono::{TimeZone, Utc};
    use twilight_model::id::Id;

    fn ts(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Timestamp {
        Timestamp::from_datetime(Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap())
    }

    fn session(
        start: Timestamp,
        end: Timestamp,
        deafened_from: Option<Timestamp>,
    ) -> ClosedSession {
        let mut s = OpenSession::new(
            SessionId::new(start, 1),
            Id::new(1),
            Id::new(2),
            Id::new(3),
            Flags::NONE,
        );
        if let Some(at) = deafened_from {
            s.set_flags(at, Flags::DEAFENED, Tz::UTC);
        }
        s.close(end, Tz::UTC, false)
    }

    fn end(all: &mut AllTime, days: &mut BTreeMap<Day, DayRecord>, s: &ClosedSession, tz: Tz) {
        for d in days_touched(s) {
            days.entry(d).or_default();
        }
        apply_end(all, days, s, RankingRule::default(), Tz::UTC, tz);
    }

    #[test]
    fn a_session_lands_in_its_days_slots_and_totals() {
        let s = session(
            ts(2026, 11, 25, 23, 10),
            ts(2026, 11, 26, 0, 40),
            Some(ts(2026, 11, 26, 0, 10)),
        );
        let mut all = AllTime::default();
        let mut days = BTreeMap::new();
        end(&mut all, &mut days, &s, Tz::UTC);
        assert_eq!(all.stats.total, 5400);
        assert_eq!(all.ranked, 3600);
        assert_eq!(all.channels[&Id::new(3)], 5400);
        assert_eq!(all.heatmap.total(), 5400);
        let first = &days[&Day::of(ts(2026, 11, 25, 0, 0))];
        assert_eq!(
            (first.total, first.active, first.sessions, first.longest),
            (3000, 3000, 1, 5400)
        );
        assert_eq!(
            first.slots.iter().map(|s| s.half_hour).collect::<Vec<_>>(),
            vec![46, 47]
        );
        assert_eq!(first.slots[0].starts, 1);
        assert!(first.ended.is_empty());
        let second = &days[&Day::of(ts(2026, 11, 26, 0, 0))];
        assert_eq!(days.len(), 2);
        assert_eq!(
            (second.total, second.active, second.deafened),
            (2400, 600, 1800)
        );
        assert_eq!(second.ended.len(), 1);
        assert_eq!(second.last_active, Some(s.end));
        let week = all.week.unwrap();
        assert_eq!(
            (week.key.to_string(), week.total, week.ranked),
            ("2026-W48".into(), 5400, 3600)
        );
    }

    #[test]
    fn partners_land_in_their_days() {
        let mut s = session(ts(2026, 11, 26, 10, 0), ts(2026, 11, 26, 11, 0), None);
        s.partners = vec![PartnerSecs {
            day: Day::of(s.end),
            user: Id::new(9),
            secs: 600,
            since: s.start(),
        }];
        let mut all = AllTime::default();
        let mut days = BTreeMap::new();
        end(&mut all, &mut days, &s, Tz::UTC);
        assert_eq!(days[&Day::of(s.end)].partners[&Id::new(9)], 600);
    }

    #[test]
    fn periods_replace_older_ones_and_ignore_past_ones() {
        let mut all = AllTime::default();
        let mut days = BTreeMap::new();
        let s1 = session(ts(2026, 11, 24, 10, 0), ts(2026, 11, 24, 11, 0), None);
        end(&mut all, &mut days, &s1, Tz::UTC);
        let s2 = session(ts(2026, 12, 1, 10, 0), ts(2026, 12, 1, 10, 30), None);
        end(&mut all, &mut days, &s2, Tz::UTC);
        assert_eq!(all.week.unwrap().total, 1800);
        assert_eq!(all.month.unwrap().key.to_string(), "2026-12");
        assert_eq!(all.stats.total, 5400);
    }

    #[test]
    fn streaks_count_local_days_with_ten_minutes() {
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        let mut all = AllTime::default();
        let mut days = BTreeMap::new();
        // 2026-11-26 20:00 UTC is 27 Nov 05:00 in Tokyo; three local days in a row, then a gap.
        for (d, mins) in [(26, 15), (27, 20), (28, 5), (28, 6), (30, 30)] {
            let start = ts(2026, 11, d, 20, 0);
            let s = session(start, start.plus(mins * 60), None);
            end(&mut all, &mut days, &s, tokyo);
        }
        assert_eq!(all.streak.best, 3);
        assert_eq!(all.streak.run, 1);
        let dec1 = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(all.streak.current(dec1), 1);
        assert_eq!(
            all.streak
                .current(NaiveDate::from_ymd_opt(2026, 12, 3).unwrap()),
            0
        );
        assert_eq!(all.recent.len(), 4);
        assert_eq!(
            all.recent[&NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()].total,
            660
        );
    }

    #[test]
    fn recent_days_keep_the_last_32() {
        let mut all = AllTime::default();
        let mut days = BTreeMap::new();
        for d in 0..40u64 {
            let start = ts(2026, 10, 1, 12, 0).plus(d * 86_400);
            end(
                &mut all,
                &mut days,
                &session(start, start.plus(60), None),
                Tz::UTC,
            );
        }
        assert_eq!(all.recent.len(), RECENT_DAYS as usize);
        assert_eq!(all.stats.sessions, 40);
    }
}
