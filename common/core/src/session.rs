//! Sessions: one user's continuous stay in one voice channel of one guild.
//!
//! An open session accounts its time segment by segment: whenever the member's [`Flags`]
//! change, the segment since the last change is added to the session's breakdown and to its
//! period cells, under the flags it had. Closing accounts the last segment. Everything a
//! closed session adds to the aggregates is derived here, so the store only writes it.

use std::fmt;
use std::str::FromStr;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::breakdown::{Breakdown, ClassSecs, Flags, RankingRule};
use crate::heatmap::split_buckets;
use crate::ids::{ChannelId, GuildId, UserId};
use crate::period::{Day, MonthKey, PeriodCell, PeriodKey, WeekKey, split_cells};
use crate::time::Timestamp;

/// Names a session: its start and a nonce chosen by the sidecar, so that two sessions that
/// start in the same second (a leave and a rejoin) never share a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId {
    start: Timestamp,
    nonce: u32,
}

impl SessionId {
    #[must_use]
    pub const fn new(start: Timestamp, nonce: u32) -> Self {
        Self { start, nonce }
    }

    #[must_use]
    pub const fn start(self) -> Timestamp {
        self.start
    }

    #[must_use]
    pub const fn nonce(self) -> u32 {
        self.nonce
    }
}

impl fmt::Display for SessionId {
    /// `001795000000-0000002a`: sorts by start as a string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:012}-{:08x}", self.start.unix(), self.nonce)
    }
}

impl FromStr for SessionId {
    type Err = SessionIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || SessionIdError(s.to_owned());
        let (start, nonce) = s.split_once('-').ok_or_else(err)?;
        if start.len() != 12 || nonce.len() != 8 {
            return Err(err());
        }
        let start = start
            .parse::<i64>()
            .ok()
            .and_then(Timestamp::new)
            .ok_or_else(err)?;
        let nonce = u32::from_str_radix(nonce, 16).map_err(|_| err())?;
        Ok(Self { start, nonce })
    }
}

impl TryFrom<String> for SessionId {
    type Error = SessionIdError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<SessionId> for String {
    fn from(value: SessionId) -> Self {
        value.to_string()
    }
}

/// A session id that is not `<12 digits>-<8 hex digits>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed session id {0:?}")]
pub struct SessionIdError(pub String);

/// Seconds of one session in one [`PeriodCell`], by class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellSecs {
    #[serde(flatten)]
    pub cell: PeriodCell,
    #[serde(flatten)]
    pub secs: ClassSecs,
}

/// A session in progress, as far as it has been accounted. Serialisable so that a program can
/// journal the writes it still has to apply and snapshot what it is accounting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenSession {
    pub id: SessionId,
    pub user: UserId,
    pub guild: GuildId,
    pub channel: ChannelId,
    /// Start of the current segment: everything before it is in `breakdown` and `cells`.
    pub seg_start: Timestamp,
    /// Flags since `seg_start`.
    pub flags: Flags,
    /// Since when the member has been deafened or not and alone or not as now: the active
    /// and ranked seconds grow (or not) at a steady rate since then (see
    /// [`OpenSession::summary`]).
    pub run_start: Timestamp,
    pub breakdown: Breakdown,
    pub cells: Vec<CellSecs>,
}

/// Where an open session's active and ranked seconds stand, in a form that changes only when
/// they start or stop growing (deafen, alone), not on every flag change: what a reader needs to
/// count a call in progress up to any instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveSummary {
    /// The instant `active` and `ranked` were accounted up to.
    pub since: Timestamp,
    pub active: u64,
    pub ranked: u64,
    /// Whether the active seconds grow after `since`.
    pub active_grows: bool,
    /// Whether the ranked seconds grow after `since`.
    pub ranked_grows: bool,
}

impl LiveSummary {
    /// Active and ranked seconds up to `at` (never before `since`).
    #[must_use]
    pub fn at(&self, at: Timestamp) -> (u64, u64) {
        let more = self.since.secs_until(at);
        (
            self.active + if self.active_grows { more } else { 0 },
            self.ranked + if self.ranked_grows { more } else { 0 },
        )
    }
}

/// Whether two flag sets put time in the same class (deafened or not, alone or not).
fn same_class(a: Flags, b: Flags) -> bool {
    a.contains(Flags::DEAFENED) == b.contains(Flags::DEAFENED)
        && a.contains(Flags::ALONE) == b.contains(Flags::ALONE)
}

impl OpenSession {
    #[must_use]
    pub fn new(
        id: SessionId,
        user: UserId,
        guild: GuildId,
        channel: ChannelId,
        flags: Flags,
    ) -> Self {
        Self {
            id,
            user,
            guild,
            channel,
            seg_start: id.start(),
            flags,
            run_start: id.start(),
            breakdown: Breakdown::default(),
            cells: Vec::new(),
        }
    }

    /// The active and ranked seconds under `rule`, as of the last change of class.
    #[must_use]
    pub fn summary(&self, rule: RankingRule) -> LiveSummary {
        let mut class = ClassSecs::default();
        for c in &self.cells {
            class.merge(&c.secs);
        }
        // Everything between the run's start and the segment's start was in the current class.
        let mut run = ClassSecs::default();
        run.add(self.flags, self.run_start.secs_until(self.seg_start));
        let since = ClassSecs {
            plain: class.plain.saturating_sub(run.plain),
            deafened: class.deafened.saturating_sub(run.deafened),
            alone: class.alone.saturating_sub(run.alone),
            both: class.both.saturating_sub(run.both),
        };
        let mut probe = ClassSecs::default();
        probe.add(self.flags, 1);
        LiveSummary {
            since: self.run_start,
            active: since.active(),
            ranked: since.ranked(rule),
            active_grows: probe.active() == 1,
            ranked_grows: probe.ranked(rule) == 1,
        }
    }

    #[must_use]
    pub const fn start(&self) -> Timestamp {
        self.id.start()
    }

    /// Accounts the segment up to `at` and continues with `flags`. An `at` before the current
    /// segment's start (a clock step back) is taken as the segment's start: time never counts
    /// negative.
    pub fn set_flags(&mut self, at: Timestamp, flags: Flags, tz: Tz) {
        self.account_until(at, tz);
        if !same_class(self.flags, flags) {
            self.run_start = self.seg_start;
        }
        self.flags = flags;
    }

    /// Ends the session at `at` (never before the last accounted instant).
    #[must_use]
    pub fn close(mut self, at: Timestamp, tz: Tz, estimated: bool) -> ClosedSession {
        self.account_until(at, tz);
        ClosedSession {
            id: self.id,
            user: self.user,
            guild: self.guild,
            channel: self.channel,
            end: self.seg_start,
            estimated,
            breakdown: self.breakdown,
            cells: self.cells,
            partners: Vec::new(),
        }
    }

    /// What the session would look like if it ended at `now`: for live figures.
    #[must_use]
    pub fn live(&self, now: Timestamp, tz: Tz) -> ClosedSession {
        self.clone().close(now, tz, false)
    }

    fn account_until(&mut self, at: Timestamp, tz: Tz) {
        let until = at.max(self.seg_start);
        let secs = self.seg_start.secs_until(until);
        self.breakdown.add(self.flags, secs);
        for (cell, s) in split_cells(self.seg_start, until, tz) {
            let mut class = ClassSecs::default();
            class.add(self.flags, s);
            match self.cells.iter_mut().find(|c| c.cell == cell) {
                Some(existing) => existing.secs.merge(&class),
                None => self.cells.push(CellSecs { cell, secs: class }),
            }
        }
        self.seg_start = until;
    }
}

/// A finished session and everything it contributes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedSession {
    pub id: SessionId,
    pub user: UserId,
    pub guild: GuildId,
    pub channel: ChannelId,
    pub end: Timestamp,
    /// The end was not observed but inferred (at the last heartbeat after a crash or outage).
    pub estimated: bool,
    pub breakdown: Breakdown,
    pub cells: Vec<CellSecs>,
    /// Seconds spent in the same channel as each other tracked member, per UTC day. Filled by
    /// the sidecar, which sees the other members; symmetric (the other member's session holds
    /// the same seconds with this member).
    #[serde(default)]
    pub partners: Vec<PartnerSecs>,
}

/// Seconds one session spent with one other member on one UTC day, during one stay of
/// theirs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerSecs {
    pub day: Day,
    pub user: UserId,
    pub secs: u64,
    /// When that stay of the other member began: a member who deletes their data takes
    /// with them the partner time of every stay begun before the deletion.
    pub since: Timestamp,
}

/// A closed session as history and the export show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user: UserId,
    pub guild: GuildId,
    pub channel: ChannelId,
    pub end: Timestamp,
    pub estimated: bool,
    pub breakdown: Breakdown,
}

impl SessionRecord {
    #[must_use]
    pub const fn start(&self) -> Timestamp {
        self.id.start()
    }

    #[must_use]
    pub const fn duration(&self) -> u64 {
        self.id.start().secs_until(self.end)
    }
}

impl ClosedSession {
    /// The record history keeps.
    #[must_use]
    pub fn record(&self) -> SessionRecord {
        SessionRecord {
            id: self.id,
            user: self.user,
            guild: self.guild,
            channel: self.channel,
            end: self.end,
            estimated: self.estimated,
            breakdown: self.breakdown,
        }
    }
}

/// What a session adds to one UTC day item.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DayTotals {
    pub total: u64,
    pub active: u64,
    pub deafened: u64,
    pub alone: u64,
    /// Sessions that started this day.
    pub sessions: u64,
    /// Longest session that started this day, whole duration.
    pub longest: u64,
    /// End of the last session that ended this day.
    pub last_active: Option<Timestamp>,
}

/// What a session adds to one week or month leaderboard item.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeriodTotals {
    pub total: u64,
    pub active: u64,
    pub ranked: u64,
    /// Sessions that started in this period.
    pub sessions: u64,
}

impl ClosedSession {
    #[must_use]
    pub const fn start(&self) -> Timestamp {
        self.id.start()
    }

    #[must_use]
    pub const fn duration(&self) -> u64 {
        self.id.start().secs_until(self.end)
    }

    /// All of the session's seconds by class.
    #[must_use]
    pub fn class_secs(&self) -> ClassSecs {
        let mut all = ClassSecs::default();
        for c in &self.cells {
            all.merge(&c.secs);
        }
        all
    }

    /// `(bucket, seconds)` for the UTC half-hour heatmap.
    #[must_use]
    pub fn heatmap_buckets(&self) -> Vec<(usize, u64)> {
        split_buckets(self.start(), self.end)
    }

    /// Contributions to day items, in day order. The start day always appears (a zero-length
    /// session still counts as a session).
    #[must_use]
    pub fn day_totals(&self) -> Vec<(Day, DayTotals)> {
        let mut days: Vec<(Day, DayTotals)> = Vec::new();
        let start_day = Day::of(self.start());
        days.push((start_day, DayTotals::default()));
        for c in &self.cells {
            let entry = entry_mut(&mut days, c.cell.day);
            entry.total += c.secs.total();
            entry.active += c.secs.active();
            entry.deafened += c.secs.deafened_total();
            entry.alone += c.secs.alone_total();
        }
        days.sort_by_key(|(d, _)| *d);
        if let Some((_, first)) = days.iter_mut().find(|(d, _)| *d == start_day) {
            first.sessions = 1;
            first.longest = self.duration();
        }
        let end_day = self.cells.last().map_or(start_day, |c| c.cell.day);
        if let Some((_, last)) = days.iter_mut().find(|(d, _)| *d == end_day) {
            last.last_active = Some(self.end);
        }
        days
    }

    /// Contributions to week and month items (in `tz`, the guild's timezone when the session
    /// was accounted), ranked under `rule`. The periods of the start always appear.
    #[must_use]
    pub fn period_totals(&self, rule: RankingRule, tz: Tz) -> Vec<(PeriodKey, PeriodTotals)> {
        let mut periods: Vec<(PeriodKey, PeriodTotals)> = Vec::new();
        let start_week = PeriodKey::Week(WeekKey::of(self.start(), tz));
        let start_month = PeriodKey::Month(MonthKey::of(self.start(), tz));
        let mut add = |key: PeriodKey, secs: Option<&ClassSecs>, sessions: u64| {
            let entry = entry_mut(&mut periods, key);
            if let Some(s) = secs {
                entry.total += s.total();
                entry.active += s.active();
                entry.ranked += s.ranked(rule);
            }
            entry.sessions += sessions;
        };
        add(start_week, None, 1);
        add(start_month, None, 1);
        for c in &self.cells {
            add(PeriodKey::Week(c.cell.week), Some(&c.secs), 0);
            add(PeriodKey::Month(c.cell.month), Some(&c.secs), 0);
        }
        periods
    }
}

/// The value for `key` in a small association list, inserted as default when missing.
fn entry_mut<K: PartialEq, V: Default>(list: &mut Vec<(K, V)>, key: K) -> &mut V {
    let index = if let Some(i) = list.iter().position(|(k, _)| *k == key) {
        i
    } else {
        list.push((key, V::default()));
        list.len() - 1
    };
    &mut list[index].1
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use twilight_model::id::Id;

    fn ts(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Timestamp {
        Timestamp::from_datetime(Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap())
    }

    fn open(at: Timestamp, flags: Flags) -> OpenSession {
        OpenSession::new(
            SessionId::new(at, 7),
            Id::new(1),
            Id::new(2),
            Id::new(3),
            flags,
        )
    }

    #[test]
    fn session_id_round_trips_and_sorts_by_start() {
        let a = SessionId::new(Timestamp::new(1_795_000_000).unwrap(), 0x2a);
        assert_eq!(a.to_string(), "001795000000-0000002a");
        assert_eq!(a.to_string().parse::<SessionId>().unwrap(), a);
        let b = SessionId::new(Timestamp::new(1_795_000_001).unwrap(), 0);
        assert!(a.to_string() < b.to_string());
        for bad in [
            "",
            "1-2",
            "001795000000-zzzzzzzz",
            "-01795000000-0000002a",
            "001795000000_0000002a",
        ] {
            assert!(bad.parse::<SessionId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn sessions_round_trip_through_json() {
        let t0 = ts(2026, 11, 25, 23, 0, 0);
        let mut s = open(t0, Flags::MUTED);
        s.set_flags(t0.plus(4000), Flags::DEAFENED, Tz::UTC);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<OpenSession>(&json).unwrap(), s);
        let c = s.close(t0.plus(5000), Tz::UTC, true);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<ClosedSession>(&json).unwrap(), c);
    }

    #[test]
    fn segments_build_the_breakdown() {
        let t0 = ts(2026, 11, 26, 10, 0, 0);
        let mut s = open(t0, Flags::NONE);
        s.set_flags(t0.plus(600), Flags::MUTED, Tz::UTC);
        s.set_flags(
            t0.plus(900),
            Flags::MUTED.with(Flags::DEAFENED, true),
            Tz::UTC,
        );
        s.set_flags(t0.plus(1000), Flags::ALONE, Tz::UTC);
        let c = s.close(t0.plus(1200), Tz::UTC, false);
        assert_eq!(c.duration(), 1200);
        assert_eq!(
            c.breakdown,
            Breakdown {
                muted: 400,
                deafened: 100,
                streaming: 0,
                video: 0,
                alone: 200,
                active: 900
            }
        );
        let class = c.class_secs();
        assert_eq!(
            (class.plain, class.deafened, class.alone, class.both),
            (900, 100, 200, 0)
        );
    }

    #[test]
    fn the_live_summary_moves_only_when_active_or_ranked_time_starts_or_stops_growing() {
        let t0 = ts(2026, 11, 26, 10, 0, 0);
        let rule = RankingRule::default();
        let mut s = open(t0, Flags::NONE);
        s.set_flags(t0.plus(100), Flags::MUTED, Tz::UTC);
        let muted = s.summary(rule);
        assert_eq!(
            (muted.since, muted.active, muted.active_grows),
            (t0, 0, true)
        );
        assert_eq!(muted.at(t0.plus(300)), (300, 300));
        s.set_flags(t0.plus(400), Flags::DEAFENED, Tz::UTC);
        let deaf = s.summary(rule);
        assert_eq!(deaf.since, t0.plus(400));
        assert_eq!((deaf.active, deaf.ranked), (400, 400));
        assert!(!deaf.active_grows && !deaf.ranked_grows);
        s.set_flags(
            t0.plus(450),
            Flags::DEAFENED.with(Flags::STREAMING, true),
            Tz::UTC,
        );
        assert_eq!(s.summary(rule), deaf);
        assert_eq!(deaf.at(t0.plus(900)), (400, 400));
        let counts_deaf = RankingRule {
            exclude_deafened: false,
            exclude_alone: true,
        };
        assert!(s.summary(counts_deaf).ranked_grows);
    }

    #[test]
    fn clock_step_back_never_counts_negative() {
        let t0 = ts(2026, 11, 26, 10, 0, 0);
        let mut s = open(t0, Flags::NONE);
        s.set_flags(t0.plus(100), Flags::MUTED, Tz::UTC);
        s.set_flags(t0.plus(50), Flags::NONE, Tz::UTC);
        let c = s.close(t0.minus(10), Tz::UTC, false);
        assert_eq!(c.end, t0.plus(100));
        assert_eq!(c.duration(), 100);
        assert_eq!(c.breakdown.muted, 0);
    }

    #[test]
    fn zero_length_session_counts_once() {
        let t0 = ts(2026, 11, 26, 10, 0, 0);
        let c = open(t0, Flags::NONE).close(t0, Tz::UTC, false);
        assert_eq!(c.duration(), 0);
        assert!(c.heatmap_buckets().is_empty());
        let days = c.day_totals();
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].1.sessions, 1);
        assert_eq!(days[0].1.last_active, Some(t0));
        let periods = c.period_totals(RankingRule::default(), Tz::UTC);
        assert_eq!(periods.len(), 2);
        assert!(periods.iter().all(|(_, p)| p.sessions == 1 && p.total == 0));
    }

    #[test]
    fn across_midnight_lands_in_two_days() {
        let t0 = ts(2026, 11, 25, 23, 0, 0);
        let mut s = open(t0, Flags::NONE);
        s.set_flags(ts(2026, 11, 25, 23, 30, 0), Flags::DEAFENED, Tz::UTC);
        let c = s.close(ts(2026, 11, 26, 0, 45, 0), Tz::UTC, false);
        let days = c.day_totals();
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].0.to_string(), "2026-11-25");
        assert_eq!(
            days[0].1,
            DayTotals {
                total: 3600,
                active: 1800,
                deafened: 1800,
                alone: 0,
                sessions: 1,
                longest: 6300,
                last_active: None
            }
        );
        assert_eq!(
            days[1].1,
            DayTotals {
                total: 2700,
                active: 0,
                deafened: 2700,
                alone: 0,
                sessions: 0,
                longest: 0,
                last_active: Some(c.end)
            }
        );
    }

    #[test]
    fn across_month_end_in_guild_timezone() {
        // 2026-11-30 18:00 to 19:00 UTC: December starts at 18:30 UTC in Asia/Kolkata.
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        let c = open(ts(2026, 11, 30, 18, 0, 0), Flags::NONE).close(
            ts(2026, 11, 30, 19, 0, 0),
            kolkata,
            false,
        );
        let periods = c.period_totals(RankingRule::default(), kolkata);
        let get = |k: &str| {
            periods
                .iter()
                .find(|(p, _)| p.to_string() == k)
                .map(|(_, t)| *t)
                .unwrap()
        };
        assert_eq!(
            get("M2026-11"),
            PeriodTotals {
                total: 1800,
                active: 1800,
                ranked: 1800,
                sessions: 1
            }
        );
        assert_eq!(
            get("M2026-12"),
            PeriodTotals {
                total: 1800,
                active: 1800,
                ranked: 1800,
                sessions: 0
            }
        );
        assert_eq!(
            get("W2026-W49"),
            PeriodTotals {
                total: 3600,
                active: 3600,
                ranked: 3600,
                sessions: 1
            }
        );
    }

    #[test]
    fn multi_day_session() {
        let t0 = ts(2026, 11, 26, 12, 0, 0);
        let c = open(t0, Flags::ALONE).close(t0.plus(3 * 86_400), Tz::UTC, true);
        let days = c.day_totals();
        assert_eq!(days.len(), 4);
        assert_eq!(days.iter().map(|d| d.1.total).sum::<u64>(), 3 * 86_400);
        assert_eq!(days.iter().map(|d| d.1.alone).sum::<u64>(), 3 * 86_400);
        assert_eq!(days.iter().map(|d| d.1.active).sum::<u64>(), 0);
        assert_eq!(
            c.heatmap_buckets().iter().map(|b| b.1).sum::<u64>(),
            3 * 86_400
        );
        let periods = c.period_totals(
            RankingRule {
                exclude_deafened: true,
                exclude_alone: false,
            },
            Tz::UTC,
        );
        // Thursday to Sunday: one week, one month, ranked counts alone time under this rule.
        assert_eq!(periods.len(), 2);
        assert!(
            periods
                .iter()
                .all(|(_, p)| p.ranked == 3 * 86_400 && p.active == 0)
        );
    }
}
