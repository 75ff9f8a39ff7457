//! Partner time: the seconds two members spent in the same voice channel.
//!
//! A session is one stay in one channel, so the time two members shared is the overlap of
//! their sessions in the same channel. When a session ends, its partner time is its overlap
//! with every other session in the channel: those still open (up to this end) and those that
//! ended while it was open ([`Departures`] keeps them until no open session needs them). Both
//! sides compute the same overlap, so partner time is symmetric. Rules: `docs/behaviour.md`.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::ids::{ChannelId, UserId};
use crate::period::{Day, split_local_days};
use crate::session::PartnerSecs;
use crate::time::Timestamp;

/// One member's stay in a channel, from `start` to `end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stay {
    pub user: UserId,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// The seconds the stay from `start` to `end` shared with each of `others`, per UTC day, in
/// day then user order. Stays of the same member add up; empty overlaps are left out.
#[must_use]
pub fn overlaps(
    start: Timestamp,
    end: Timestamp,
    others: impl IntoIterator<Item = Stay>,
) -> Vec<PartnerSecs> {
    let mut secs: BTreeMap<(Day, UserId), u64> = BTreeMap::new();
    for other in others {
        let from = start.max(other.start);
        let to = end.min(other.end);
        if from >= to {
            continue;
        }
        for (date, s) in split_local_days(from, to, Tz::UTC) {
            *secs.entry((Day::from_date(date), other.user)).or_default() += s;
        }
    }
    secs.into_iter()
        .map(|((day, user), secs)| PartnerSecs { day, user, secs })
        .collect()
}

/// Stays that ended in each channel while other sessions there were open: what those
/// sessions' partner time still needs when they end.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Departures {
    channels: BTreeMap<ChannelId, Vec<Stay>>,
}

impl Departures {
    /// Notes a stay that ended in `channel` (once: the same stay again changes nothing).
    /// Returns whether it is new.
    pub fn record(&mut self, channel: ChannelId, stay: Stay) -> bool {
        if stay.start >= stay.end {
            return false;
        }
        let stays = self.channels.entry(channel).or_default();
        if stays.contains(&stay) {
            return false;
        }
        stays.push(stay);
        true
    }

    /// The channels with kept stays.
    pub fn channels(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.channels.keys().copied()
    }

    /// The stays that ended in `channel` and are still kept.
    pub fn of(&self, channel: ChannelId) -> impl Iterator<Item = Stay> + '_ {
        self.channels.get(&channel).into_iter().flatten().copied()
    }

    /// Forgets the stays of `channel` no open session overlaps: those that ended by
    /// `oldest_open` (the start of the oldest session still open there), all of them when
    /// none is open.
    pub fn prune(&mut self, channel: ChannelId, oldest_open: Option<Timestamp>) {
        let Some(stays) = self.channels.get_mut(&channel) else {
            return;
        };
        match oldest_open {
            Some(oldest) => stays.retain(|s| s.end > oldest),
            None => stays.clear(),
        }
        if stays.is_empty() {
            self.channels.remove(&channel);
        }
    }

    /// Every kept stay with its channel (snapshots, the on-disk journal).
    pub fn iter(&self) -> impl Iterator<Item = (ChannelId, Stay)> + '_ {
        self.channels
            .iter()
            .flat_map(|(c, stays)| stays.iter().map(move |s| (*c, *s)))
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use twilight_model::id::Id;

    fn t(s: i64) -> Timestamp {
        Timestamp::new(1_795_000_000 + s).unwrap()
    }

    fn stay(user: u64, start: i64, end: i64) -> Stay {
        Stay {
            user: Id::new(user),
            start: t(start),
            end: t(end),
        }
    }

    fn total(p: &[PartnerSecs], user: u64) -> u64 {
        p.iter()
            .filter(|p| p.user == Id::new(user))
            .map(|p| p.secs)
            .sum()
    }

    #[test]
    fn overlap_is_the_shared_stretch_split_by_utc_day() {
        // 1_795_000_000 is 2026-11-18 11:06:40 UTC; a stay across midnight splits.
        let midnight = 12 * 3600 + 53 * 60 + 20;
        let p = overlaps(
            t(0),
            t(midnight + 600),
            [stay(2, 100, 200), stay(3, midnight - 300, midnight + 900)],
        );
        assert_eq!(total(&p, 2), 100);
        assert_eq!(total(&p, 3), 900);
        let three: Vec<u64> = p
            .iter()
            .filter(|p| p.user == Id::new(3))
            .map(|p| p.secs)
            .collect();
        assert_eq!(three, vec![300, 600]);
        assert!(overlaps(t(0), t(10), [stay(2, 10, 20)]).is_empty());
    }

    #[test]
    fn departures_are_kept_while_an_open_session_overlaps_them() {
        let mut d = Departures::default();
        let c = Id::new(9);
        assert!(d.record(c, stay(2, 0, 100)));
        assert!(d.record(c, stay(3, 50, 300)));
        assert!(!d.record(c, stay(3, 50, 300)));
        assert!(!d.record(c, stay(4, 5, 5)));
        assert_eq!(d.of(c).count(), 2);
        d.prune(c, Some(t(100)));
        assert_eq!(d.of(c).collect::<Vec<_>>(), vec![stay(3, 50, 300)]);
        d.prune(c, None);
        assert!(d.is_empty());
    }

    proptest! {
        /// Symmetric, and never more than either stay.
        #[test]
        fn overlap_is_symmetric_and_bounded(
            a in (0i64..200_000, 0i64..200_000),
            b in (0i64..200_000, 0i64..200_000),
        ) {
            let (a0, a1) = (a.0.min(a.1), a.0.max(a.1));
            let (b0, b1) = (b.0.min(b.1), b.0.max(b.1));
            let ab = total(&overlaps(t(a0), t(a1), [stay(2, b0, b1)]), 2);
            let ba = total(&overlaps(t(b0), t(b1), [stay(1, a0, a1)]), 1);
            prop_assert_eq!(ab, ba);
            prop_assert!(ab <= (a1 - a0) as u64 && ab <= (b1 - b0) as u64);
        }
    }
}
