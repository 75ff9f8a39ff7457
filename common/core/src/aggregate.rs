//! Totals over many sessions: what `/callstats show` displays.

use crate::breakdown::{Breakdown, RankingRule};
use crate::heatmap::Heatmap;
use crate::session::{ClosedSession, DayTotals};
use crate::time::Timestamp;

/// The headline figures, for all time or for a window of days.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub total: u64,
    pub active: u64,
    pub sessions: u64,
    pub longest: u64,
    pub last_active: Option<Timestamp>,
}

impl Stats {
    /// Whole seconds per session, rounded down; zero without sessions.
    #[must_use]
    pub const fn average(&self) -> u64 {
        match self.total.checked_div(self.sessions) {
            Some(average) => average,
            None => 0,
        }
    }

    pub fn merge(&mut self, other: &Self) {
        self.total += other.total;
        self.active += other.active;
        self.sessions += other.sessions;
        self.longest = self.longest.max(other.longest);
        self.last_active = self.last_active.max(other.last_active);
    }

    /// Adds one day item's figures (a window is the merge of its days).
    pub fn add_day(&mut self, day: &DayTotals) {
        self.merge(&Self {
            total: day.total,
            active: day.active,
            sessions: day.sessions,
            longest: day.longest,
            last_active: day.last_active,
        });
    }

    /// Adds a whole session.
    pub fn add_session(&mut self, session: &ClosedSession) {
        self.merge(&Self {
            total: session.duration(),
            active: session.breakdown.active,
            sessions: 1,
            longest: session.duration(),
            last_active: Some(session.end),
        });
    }
}

/// All-time figures of one user in one guild: the stats, the breakdown, the ranked time and
/// the heatmap.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Aggregate {
    pub stats: Stats,
    pub breakdown: Breakdown,
    /// Seconds that count for the guild's ranking, under the rule in force when each session
    /// ended.
    pub ranked: u64,
    pub heatmap: Heatmap,
}

impl Aggregate {
    pub fn add_session(&mut self, session: &ClosedSession, rule: RankingRule) {
        self.stats.add_session(session);
        self.breakdown.merge(&session.breakdown);
        self.ranked += session.class_secs().ranked(rule);
        for (bucket, secs) in session.heatmap_buckets() {
            self.heatmap.add(bucket, secs);
        }
    }

    pub fn merge(&mut self, other: &Self) {
        self.stats.merge(&other.stats);
        self.breakdown.merge(&other.breakdown);
        self.ranked += other.ranked;
        self.heatmap.merge(&other.heatmap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breakdown::Flags;
    use crate::session::{OpenSession, SessionId};
    use chrono_tz::Tz;
    use proptest::prelude::*;
    use twilight_model::id::Id;

    fn session(start: i64, segments: &[(u64, u8)], nonce: u32) -> ClosedSession {
        let t0 = Timestamp::new(start).unwrap();
        let mut s = OpenSession::new(
            SessionId::new(t0, nonce),
            Id::new(1),
            Id::new(2),
            Id::new(3),
            Flags::NONE,
        );
        let mut at = t0;
        for &(len, bits) in segments {
            s.set_flags(at, Flags::from_bits(bits & 0b1_1111).unwrap(), Tz::UTC);
            at = at.plus(len);
        }
        s.close(at, Tz::UTC, false)
    }

    #[test]
    fn stats_of_sessions() {
        let mut agg = Aggregate::default();
        agg.add_session(
            &session(1_795_000_000, &[(600, 0), (300, 2)], 1),
            RankingRule::default(),
        );
        agg.add_session(
            &session(1_795_010_000, &[(1200, 16)], 2),
            RankingRule::default(),
        );
        assert_eq!(agg.stats.total, 2100);
        assert_eq!(agg.stats.active, 600);
        assert_eq!(agg.stats.sessions, 2);
        assert_eq!(agg.stats.longest, 1200);
        assert_eq!(agg.stats.average(), 1050);
        assert_eq!(agg.stats.last_active, Timestamp::new(1_795_011_200));
        assert_eq!(agg.ranked, 600);
        assert_eq!(agg.breakdown.deafened, 300);
        assert_eq!(agg.breakdown.alone, 1200);
        assert_eq!(agg.heatmap.total(), 2100);
        assert_eq!(Stats::default().average(), 0);
    }

    #[test]
    fn window_of_days_equals_sessions_inside_it() {
        let sessions = [
            session(1_795_000_000, &[(4000, 0)], 1),
            session(1_795_090_000, &[(100, 1)], 2),
        ];
        let mut by_days = Stats::default();
        let mut by_sessions = Stats::default();
        for s in &sessions {
            for (_, d) in s.day_totals() {
                by_days.add_day(&d);
            }
            by_sessions.add_session(s);
        }
        assert_eq!(by_days, by_sessions);
    }

    fn arb_session() -> impl Strategy<Value = ClosedSession> {
        (
            1_600_000_000i64..1_900_000_000,
            proptest::collection::vec((0u64..20_000, 0u8..32), 0..6),
            any::<u32>(),
        )
            .prop_map(|(start, segs, nonce)| session(start, &segs, nonce))
    }

    proptest! {
        #[test]
        fn aggregate_is_order_independent(
            sessions in proptest::collection::vec(arb_session(), 0..12),
            seed in any::<u64>(),
        ) {
            let rule = RankingRule { exclude_deafened: seed % 2 == 0, exclude_alone: seed % 3 == 0 };
            let mut forward = Aggregate::default();
            for s in &sessions {
                forward.add_session(s, rule);
            }
            // Any other order: a rotation and a reversal, folded in two halves then merged.
            let mut shuffled = sessions.clone();
            if !shuffled.is_empty() {
                let k = (seed as usize) % shuffled.len();
                shuffled.rotate_left(k);
            }
            shuffled.reverse();
            let (left, right) = shuffled.split_at(shuffled.len() / 2);
            let mut a = Aggregate::default();
            for s in left {
                a.add_session(s, rule);
            }
            let mut b = Aggregate::default();
            for s in right {
                b.add_session(s, rule);
            }
            a.merge(&b);
            prop_assert_eq!(&a, &forward);
            prop_assert_eq!(forward.stats.total, sessions.iter().map(ClosedSession::duration).sum::<u64>());
            prop_assert_eq!(forward.heatmap.total(), forward.stats.total);
        }

        #[test]
        fn contributions_add_up_to_the_session(s in arb_session()) {
            let days = s.day_totals();
            prop_assert_eq!(days.iter().map(|d| d.1.total).sum::<u64>(), s.duration());
            prop_assert_eq!(days.iter().map(|d| d.1.active).sum::<u64>(), s.breakdown.active);
            prop_assert_eq!(days.iter().map(|d| d.1.sessions).sum::<u64>(), 1);
            let periods = s.period_totals(RankingRule::default(), Tz::UTC);
            let weeks: u64 = periods.iter().filter(|p| matches!(p.0, crate::period::PeriodKey::Week(_))).map(|p| p.1.total).sum();
            prop_assert_eq!(weeks, s.duration());
            prop_assert_eq!(s.breakdown.active, s.class_secs().active());
        }
    }
}
