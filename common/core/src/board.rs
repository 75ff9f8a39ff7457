//! The leaderboards of one server: this week, this month and all time, each by total and by
//! ranked seconds, kept as members' absolute figures (never increments), so merging the same
//! figures twice changes nothing.
//!
//! Each of the six boards keeps its top [`BOARD_SIZE`] members and a floor: every member whose
//! figure is above the floor is on the board (a member leaves only when below the top of every
//! board, and the floors rise to what they held). Ranks down to the last member above the floor
//! are exact; below it a rank is only known to be lower ("below 1,000th"). A small server never
//! reaches the limit, and its floors stay zero: its boards are complete.
//!
//! Members removed by a privacy action are remembered with the instant (`gone`): figures read
//! before that instant are not merged back.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use chrono_tz::Tz;

use crate::ids::UserId;
use crate::member::{MemberTotals, PeriodFigures};
use crate::period::{MonthKey, PeriodKind, WeekKey};
use crate::time::Timestamp;

/// Members each board keeps.
pub const BOARD_SIZE: usize = 1000;
/// How long a privacy action is remembered: longer than any write can stay in flight.
const GONE_SECS: u64 = 7 * 86_400;
/// Local days of peaks kept: a 30-day window and today.
const PEAK_DAYS: u64 = 31;

/// What a leaderboard sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// All time in calls.
    Total,
    /// The server's ranking rule (active time by default).
    Ranked,
}

/// One of the six boards: a period and a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Column {
    pub period: PeriodKind,
    pub metric: Metric,
}

impl Column {
    /// The six boards, in storage order.
    pub const ALL: [Self; 6] = [
        Self::new(PeriodKind::Week, Metric::Total),
        Self::new(PeriodKind::Week, Metric::Ranked),
        Self::new(PeriodKind::Month, Metric::Total),
        Self::new(PeriodKind::Month, Metric::Ranked),
        Self::new(PeriodKind::All, Metric::Total),
        Self::new(PeriodKind::All, Metric::Ranked),
    ];

    #[must_use]
    pub const fn new(period: PeriodKind, metric: Metric) -> Self {
        Self { period, metric }
    }

    /// Index in [`Column::ALL`] and in an entry's figures.
    #[must_use]
    pub const fn index(self) -> usize {
        let p = match self.period {
            PeriodKind::Week => 0,
            PeriodKind::Month => 1,
            PeriodKind::All => 2,
        };
        p * 2
            + match self.metric {
                Metric::Total => 0,
                Metric::Ranked => 1,
            }
    }
}

/// A member's six figures, in [`Column::ALL`] order.
pub type Figures = [u64; 6];

/// The peak number of members in voice at once on one local day, and when it was first reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peak {
    pub members: u32,
    pub at: Timestamp,
}

/// The leaderboards of one server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Board {
    /// The week and month the week and month figures are for (the server's timezone).
    pub week: Option<WeekKey>,
    pub month: Option<MonthKey>,
    pub entries: BTreeMap<UserId, Figures>,
    pub floors: Figures,
    pub gone: BTreeMap<UserId, Timestamp>,
    /// Per local day of the server's timezone.
    pub peaks: BTreeMap<NaiveDate, Peak>,
}

/// A call in progress, counted on top of the board: seconds so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Live {
    pub total: u64,
    pub ranked: u64,
}

/// One line of a board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    pub user: UserId,
    pub secs: u64,
}

/// A board in order, calls in progress counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Standings {
    /// Members above the floor, best first (ties by id): their ranks are exact.
    pub lines: Vec<Standing>,
    /// Whether the board holds every member with time in the period (the floor is zero).
    pub complete: bool,
}

impl Standings {
    /// The 1-based rank of `user`, if known exactly.
    #[must_use]
    pub fn rank_of(&self, user: UserId) -> Option<usize> {
        self.lines
            .iter()
            .position(|l| l.user == user)
            .map(|i| i + 1)
    }
}

impl Board {
    /// Moves the week and month to those of `now` in `tz`: a new period starts empty.
    pub fn roll(&mut self, now: Timestamp, tz: Tz) {
        self.roll_week(WeekKey::of(now, tz));
        self.roll_month(MonthKey::of(now, tz));
    }

    fn roll_week(&mut self, week: WeekKey) {
        if self.week.is_none_or(|w| w < week) {
            self.week = Some(week);
            self.reset(PeriodKind::Week);
        }
    }

    fn roll_month(&mut self, month: MonthKey) {
        if self.month.is_none_or(|m| m < month) {
            self.month = Some(month);
            self.reset(PeriodKind::Month);
        }
    }

    fn reset(&mut self, period: PeriodKind) {
        for metric in [Metric::Total, Metric::Ranked] {
            let i = Column::new(period, metric).index();
            self.floors[i] = 0;
            for figures in self.entries.values_mut() {
                figures[i] = 0;
            }
        }
        self.entries.retain(|_, f| f.iter().any(|v| *v > 0));
    }

    /// Puts a member's absolute figures (read at `as_of`) on the boards, unless a privacy
    /// action removed the member after `as_of`.
    pub fn merge(&mut self, user: UserId, totals: &MemberTotals, as_of: Timestamp) {
        if self.gone.get(&user).is_some_and(|at| *at > as_of) {
            return;
        }
        if let Some(w) = totals.week {
            self.roll_week(w.key);
        }
        if let Some(m) = totals.month {
            self.roll_month(m.key);
        }
        let week = current(totals.week, self.week);
        let month = current(totals.month, self.month);
        let figures = [
            week.0,
            week.1,
            month.0,
            month.1,
            totals.all_total,
            totals.all_ranked,
        ];
        if figures.iter().all(|v| *v == 0) {
            self.entries.remove(&user);
        } else {
            self.entries.insert(user, figures);
        }
        self.trim(BOARD_SIZE);
    }

    /// Removes a member from every board (opt-out, deletion) and remembers when.
    pub fn remove(&mut self, user: UserId, at: Timestamp) {
        self.entries.remove(&user);
        self.gone.insert(user, at);
    }

    /// A member back on the boards after opting in: the removal is forgotten for figures read
    /// from now on.
    pub fn restore(&mut self, user: UserId, totals: &MemberTotals, at: Timestamp) {
        self.gone.remove(&user);
        self.merge(user, totals, at);
    }

    /// Keeps members in the top `keep` of at least one board; raises the floors to what the
    /// others held.
    pub fn trim(&mut self, keep: usize) {
        if self.entries.len() <= keep {
            return;
        }
        let mut kept = std::collections::BTreeSet::new();
        for column in Column::ALL {
            let i = column.index();
            let mut by: Vec<(u64, UserId)> = self
                .entries
                .iter()
                .filter(|(_, f)| f[i] > self.floors[i])
                .map(|(u, f)| (f[i], *u))
                .collect();
            by.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            kept.extend(by.iter().take(keep).map(|(_, u)| *u));
        }
        let evicted: Vec<UserId> = self
            .entries
            .keys()
            .filter(|u| !kept.contains(u))
            .copied()
            .collect();
        for user in evicted {
            if let Some(figures) = self.entries.remove(&user) {
                for (floor, value) in self.floors.iter_mut().zip(figures) {
                    *floor = (*floor).max(value);
                }
            }
        }
    }

    /// Notes `members` in voice at once at `at` (the server's local day in `tz`).
    pub fn record_peak(&mut self, members: u32, at: Timestamp, tz: Tz) {
        let date = crate::period::local_date(at, tz);
        let peak = self.peaks.entry(date).or_insert(Peak { members: 0, at });
        if members > peak.members {
            *peak = Peak { members, at };
        }
    }

    /// Forgets privacy actions older than any write in flight, and peaks older than a month.
    pub fn prune(&mut self, now: Timestamp, tz: Tz) {
        let horizon = now.minus(GONE_SECS);
        self.gone.retain(|_, at| *at >= horizon);
        let today = crate::period::local_date(now, tz);
        let oldest = today
            .checked_sub_days(Days::new(PEAK_DAYS - 1))
            .unwrap_or(NaiveDate::MIN);
        self.peaks.retain(|d, _| *d >= oldest);
    }

    /// The board of `column` with calls in progress added: each member's figure plus their live
    /// seconds. Members in a call who are not on the board count with their live seconds (when
    /// the board is complete, that is exactly their figure for a new period or a newcomer).
    #[must_use]
    pub fn standings(&self, column: Column, live: &BTreeMap<UserId, Live>) -> Standings {
        let i = column.index();
        let live_of = |user: &UserId| {
            live.get(user).map_or(0, |l| match column.metric {
                Metric::Total => l.total,
                Metric::Ranked => l.ranked,
            })
        };
        let mut lines: BTreeMap<UserId, u64> = self
            .entries
            .iter()
            .filter(|(_, f)| f[i] > self.floors[i])
            .map(|(u, f)| (*u, f[i] + live_of(u)))
            .collect();
        for user in live.keys() {
            if !self.entries.contains_key(user) || self.entries[user][i] <= self.floors[i] {
                let secs = live_of(user) + self.entries.get(user).map_or(0, |f| f[i]);
                if secs > self.floors[i] {
                    lines.insert(*user, secs);
                }
            }
        }
        let mut lines: Vec<Standing> = lines
            .into_iter()
            .filter(|(_, secs)| *secs > 0)
            .map(|(user, secs)| Standing { user, secs })
            .collect();
        lines.sort_by(|a, b| b.secs.cmp(&a.secs).then(a.user.cmp(&b.user)));
        Standings {
            lines,
            complete: self.floors[i] == 0,
        }
    }
}

/// A member's (total, ranked) for the board's current period: zero when their latest figures
/// are for an earlier period.
fn current<K: PartialEq + Copy>(figures: Option<PeriodFigures<K>>, board: Option<K>) -> (u64, u64) {
    match figures {
        Some(f) if Some(f.key) == board => (f.total, f.ranked),
        _ => (0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use twilight_model::id::Id;

    fn totals(week: u64, all: u64) -> MemberTotals {
        MemberTotals {
            week: Some(PeriodFigures {
                key: "2026-W48".parse().unwrap(),
                total: week,
                active: week,
                ranked: week / 2,
            }),
            month: None,
            all_total: all,
            all_ranked: all / 2,
        }
    }

    const AT: Timestamp = Timestamp::EPOCH;

    #[test]
    fn merging_the_same_figures_twice_changes_nothing() {
        let mut board = Board::default();
        board.merge(Id::new(1), &totals(100, 1000), AT);
        let once = board.clone();
        board.merge(Id::new(1), &totals(100, 1000), AT);
        assert_eq!(board, once);
        let s = board.standings(
            Column::new(PeriodKind::All, Metric::Total),
            &BTreeMap::new(),
        );
        assert_eq!(
            s.lines,
            vec![Standing {
                user: Id::new(1),
                secs: 1000
            }]
        );
        assert!(s.complete);
    }

    #[test]
    fn live_calls_count_on_top() {
        let mut board = Board::default();
        board.merge(Id::new(1), &totals(100, 1000), AT);
        board.merge(Id::new(2), &totals(200, 900), AT);
        let live = BTreeMap::from([
            (
                Id::new(2),
                Live {
                    total: 150,
                    ranked: 0,
                },
            ),
            (
                Id::new(3),
                Live {
                    total: 50,
                    ranked: 50,
                },
            ),
        ]);
        let s = board.standings(Column::new(PeriodKind::All, Metric::Total), &live);
        let order: Vec<(u64, u64)> = s.lines.iter().map(|l| (l.user.get(), l.secs)).collect();
        assert_eq!(order, vec![(2, 1050), (1, 1000), (3, 50)]);
        assert_eq!(s.rank_of(Id::new(3)), Some(3));
    }

    #[test]
    fn a_removed_member_is_not_merged_back_with_older_figures() {
        let mut board = Board::default();
        board.merge(Id::new(1), &totals(100, 1000), AT);
        board.remove(Id::new(1), Timestamp::new(50).unwrap());
        board.merge(Id::new(1), &totals(100, 1000), Timestamp::new(40).unwrap());
        assert!(board.entries.is_empty());
        board.merge(Id::new(1), &totals(10, 10), Timestamp::new(60).unwrap());
        assert_eq!(board.entries[&Id::new(1)][4], 10);
    }

    #[test]
    fn a_new_week_starts_empty() {
        let mut board = Board::default();
        board.merge(Id::new(1), &totals(100, 1000), AT);
        let mut next = totals(0, 1000);
        next.week = None;
        board.roll_week("2026-W49".parse().unwrap());
        board.merge(Id::new(1), &next, AT);
        assert_eq!(board.entries[&Id::new(1)][0], 0);
        assert_eq!(board.entries[&Id::new(1)][4], 1000);
    }

    proptest! {
        /// Whatever order figures arrive in, every member above a board's floor is on it with
        /// the latest figure, and no more than BOARD_SIZE members are kept per board.
        #[test]
        fn members_above_the_floor_are_always_there(
            updates in proptest::collection::vec((1u64..40, 0u64..1000), 1..200),
            keep in 1usize..8,
        ) {
            let mut board = Board::default();
            let mut truth: BTreeMap<u64, u64> = BTreeMap::new();
            for (user, grow) in updates {
                let all = truth.get(&user).copied().unwrap_or(0) + grow;
                truth.insert(user, all);
                let t = MemberTotals { week: None, month: None, all_total: all, all_ranked: all };
                if !board.gone.contains_key(&Id::new(user)) {
                    board.merge(Id::new(user), &t, AT);
                }
                board.trim(keep);
            }
            let i = Column::new(PeriodKind::All, Metric::Total).index();
            for (user, all) in &truth {
                if *all > board.floors[i] {
                    prop_assert_eq!(board.entries.get(&Id::new(*user)).map(|f| f[i]), Some(*all));
                }
            }
            let above = board.entries.values().filter(|f| f[i] > board.floors[i]).count();
            prop_assert!(above <= keep);
        }
    }
}
