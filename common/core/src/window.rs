//! Figures over the viewer's calendar days: which UTC day records a window of local days
//! needs, and what they add up to, cut exactly at local midnights (daylight-saving changes
//! included) from the records' UTC half hours.
//!
//! A half hour lies wholly inside one local day in every timezone whose offset is a whole
//! number of half hours; for the few zones offset by 15 or 45 minutes (Asia/Kathmandu), a half
//! hour is placed in the local day of its middle.

use std::collections::BTreeMap;

use chrono::{Datelike, Days, NaiveDate, Timelike};
use chrono_tz::Tz;

use crate::aggregate::Stats;
use crate::ids::{ChannelId, UserId};
use crate::member::DayRecord;
use crate::member::SlotSecs;
use crate::period::{Day, local_date};
use crate::session::ClosedSession;
use crate::time::Timestamp;

/// A window of local calendar days, today included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalWindow {
    pub first: NaiveDate,
    pub last: NaiveDate,
    pub tz: Tz,
}

impl LocalWindow {
    /// The last `days` local days of `tz` ending with today.
    #[must_use]
    pub fn last_days(now: Timestamp, days: u64, tz: Tz) -> Self {
        let last = local_date(now, tz);
        let first = last
            .checked_sub_days(Days::new(days.saturating_sub(1)))
            .unwrap_or(NaiveDate::MIN);
        Self { first, last, tz }
    }

    /// The same number of days just before this window.
    #[must_use]
    pub fn previous(&self) -> Self {
        let len = (self.last - self.first).num_days() + 1;
        let last = self.first.pred_opt().unwrap_or(NaiveDate::MIN);
        let first = last
            .checked_sub_days(Days::new(u64::try_from(len - 1).unwrap_or(0)))
            .unwrap_or(NaiveDate::MIN);
        Self {
            first,
            last,
            tz: self.tz,
        }
    }

    #[must_use]
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.first <= date && date <= self.last
    }

    /// The UTC days whose records can hold time of this window (a local day overlaps at most
    /// two UTC days).
    #[must_use]
    pub fn utc_days(&self) -> (Day, Day) {
        (
            Day::from_date(self.first.pred_opt().unwrap_or(self.first)),
            Day::from_date(self.last.succ_opt().unwrap_or(self.last)),
        )
    }

    /// The local days of the window, in order.
    #[must_use]
    pub fn dates(&self) -> Vec<NaiveDate> {
        self.first
            .iter_days()
            .take_while(|d| *d <= self.last)
            .collect()
    }
}

/// What a window of days adds up to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WindowFigures {
    pub stats: Stats,
    /// Seconds per local weekday (0 = Monday) and hour.
    pub grid: [[u64; 24]; 7],
    /// Total seconds per local day of the window, every day present (zero when none).
    pub daily: BTreeMap<NaiveDate, u64>,
    pub channels: BTreeMap<ChannelId, u64>,
    pub partners: BTreeMap<UserId, u64>,
}

impl WindowFigures {
    /// Nothing yet: every day of `window` at zero.
    #[must_use]
    pub fn empty(window: &LocalWindow) -> Self {
        Self {
            daily: window.dates().into_iter().map(|d| (d, 0)).collect(),
            ..Self::default()
        }
    }

    /// Adds the half hours of one UTC day (those outside the window add nothing).
    pub fn add_day(&mut self, window: &LocalWindow, day: Day, slots: &[SlotSecs]) {
        for slot in slots {
            let start = day.start().plus(u64::from(slot.half_hour) * 1800);
            self.add_slot(
                window,
                start,
                slot.channel,
                slot.total,
                slot.active,
                slot.starts,
            );
        }
    }

    /// Adds the seconds of one UTC half hour (nothing when it lies outside the window).
    pub fn add_slot(
        &mut self,
        window: &LocalWindow,
        slot_start: Timestamp,
        channel: ChannelId,
        total: u64,
        active: u64,
        starts: u64,
    ) {
        let local = slot_start.plus(900).to_utc().with_timezone(&window.tz);
        if !window.contains(local.date_naive()) {
            return;
        }
        self.stats.total += total;
        self.stats.active += active;
        self.stats.sessions += starts;
        if let Some(d) = self.daily.get_mut(&local.date_naive()) {
            *d += total;
        }
        *self.channels.entry(channel).or_default() += total;
        let weekday = local.weekday().num_days_from_monday() as usize;
        // A local half hour lies in one local hour (for :00 and :30 offsets).
        let start_local = slot_start.to_utc().with_timezone(&window.tz);
        self.grid[weekday][start_local.hour() as usize] += total;
    }
}

/// The figures of `window` from a member's day records (those of [`LocalWindow::utc_days`]
/// and every later day: sessions that started inside the window may end after it) and the
/// session in progress, counted up to when it was read.
#[must_use]
pub fn window_figures(
    window: &LocalWindow,
    days: &[(Day, DayRecord)],
    live: Option<&ClosedSession>,
) -> WindowFigures {
    let mut f = WindowFigures::empty(window);
    for (day, record) in days {
        f.add_day(window, *day, &record.slots);
        for s in &record.ended {
            if window.contains(local_date(s.start(), window.tz)) {
                f.stats.longest = f.stats.longest.max(s.duration());
            }
            if window.contains(local_date(s.end, window.tz)) {
                f.stats.last_active = f.stats.last_active.max(Some(s.end));
            }
        }
        // Partners are kept per UTC day: a day counts when its middle is in the window.
        let noon = day.start().plus(43_200);
        if window.contains(local_date(noon, window.tz)) {
            for (user, secs) in &record.partners {
                *f.partners.entry(*user).or_default() += secs;
            }
        }
    }
    if let Some(live) = live {
        add_live(&mut f, window, live);
    }
    f
}

fn add_live(f: &mut WindowFigures, window: &LocalWindow, live: &ClosedSession) {
    let first = live.cells.first().map(|c| c.cell);
    for c in &live.cells {
        f.add_slot(
            window,
            c.cell.slot_start(),
            live.channel,
            c.secs.total(),
            c.secs.active(),
            u64::from(Some(c.cell) == first),
        );
    }
    if window.contains(local_date(live.start(), window.tz)) {
        f.stats.longest = f.stats.longest.max(live.duration());
    }
    if window.contains(local_date(live.end, window.tz)) {
        f.stats.last_active = f.stats.last_active.max(Some(live.end));
    }
    for p in &live.partners {
        *f.partners.entry(p.user).or_default() += p.secs;
    }
}

/// The change of `now` on `before`, as a whole percentage; `None` when there was nothing
/// before.
#[must_use]
pub fn change_percent(now: u64, before: u64) -> Option<i64> {
    if before == 0 {
        return None;
    }
    let diff = i128::from(now) - i128::from(before);
    Some((diff * 100 / i128::from(before)) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breakdown::{Flags, RankingRule};
    use crate::member::{AllTime, apply_end, days_touched};
    use crate::session::{OpenSession, SessionId};
    use chrono::{TimeZone, Utc};
    use twilight_model::id::Id;

    fn ts(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Timestamp {
        Timestamp::from_datetime(Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap())
    }

    fn records(sessions: &[(Timestamp, u64)]) -> Vec<(Day, DayRecord)> {
        let mut all = AllTime::default();
        let mut days = BTreeMap::new();
        for (i, (start, secs)) in sessions.iter().enumerate() {
            let s = OpenSession::new(
                SessionId::new(*start, i as u32),
                Id::new(1),
                Id::new(2),
                Id::new(3),
                Flags::NONE,
            )
            .close(start.plus(*secs), Tz::UTC, false);
            for d in days_touched(&s) {
                days.entry(d).or_default();
            }
            apply_end(
                &mut all,
                &mut days,
                &s,
                RankingRule::default(),
                Tz::UTC,
                Tz::UTC,
            );
        }
        days.into_iter().collect()
    }

    #[test]
    fn local_days_are_cut_at_local_midnight() {
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        // 14:30-15:30 UTC on 26 Nov is 23:30-00:30 in Tokyo: half on the 26th, half on the 27th.
        let days = records(&[(ts(2026, 11, 26, 14, 30), 3600)]);
        let now = ts(2026, 11, 27, 3, 0); // 12:00 on the 27th in Tokyo
        let today = LocalWindow::last_days(now, 1, tokyo);
        let f = window_figures(&today, &days, None);
        assert_eq!(f.stats.total, 1800);
        assert_eq!(f.stats.sessions, 0, "it started the day before");
        let two = LocalWindow::last_days(now, 2, tokyo);
        let f = window_figures(&two, &days, None);
        assert_eq!(
            (f.stats.total, f.stats.sessions, f.stats.longest),
            (3600, 1, 3600)
        );
        assert_eq!(
            f.daily.values().copied().collect::<Vec<_>>(),
            vec![1800, 1800]
        );
        // Thursday 23:00 and Friday 00:00 in Tokyo.
        assert_eq!(f.grid[3][23], 1800);
        assert_eq!(f.grid[4][0], 1800);
    }

    #[test]
    fn daylight_saving_changes_move_hours_exactly() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 18:00 UTC is 20:00 in summer (CEST) and 19:00 in winter (CET).
        let days = records(&[
            (ts(2026, 10, 24, 18, 0), 1800),
            (ts(2026, 10, 26, 18, 0), 1800),
        ]);
        let week = LocalWindow::last_days(ts(2026, 10, 27, 12, 0), 7, berlin);
        let f = window_figures(&week, &days, None);
        assert_eq!(f.grid[5][20], 1800, "Saturday 20:00 CEST");
        assert_eq!(f.grid[0][19], 1800, "Monday 19:00 CET");
    }

    #[test]
    fn windows_and_their_previous() {
        let w = LocalWindow::last_days(ts(2026, 11, 30, 12, 0), 7, Tz::UTC);
        assert_eq!(
            (w.first.to_string(), w.last.to_string()),
            ("2026-11-24".into(), "2026-11-30".into())
        );
        let p = w.previous();
        assert_eq!(
            (p.first.to_string(), p.last.to_string()),
            ("2026-11-17".into(), "2026-11-23".into())
        );
        assert_eq!(change_percent(112, 100), Some(12));
        assert_eq!(change_percent(50, 100), Some(-50));
        assert_eq!(change_percent(5, 0), None);
    }
}
