//! A server's figures: over a window of local days from its members' day records (what the
//! `guild-days` index holds of each member's day), over all time from their all-time records,
//! with the calls in progress added. Members who opted out are not in the records at all.
//! Rules: `docs/behaviour.md`.

use std::collections::{BTreeMap, BTreeSet};

use chrono_tz::Tz;

use crate::ids::{ChannelId, UserId};
use crate::member::SlotSecs;
use crate::period::{Day, split_cells};
use crate::time::Timestamp;
use crate::window::{LocalWindow, WindowFigures};

/// A call in progress, up to when it counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveStay {
    pub user: UserId,
    pub channel: ChannelId,
    pub start: Timestamp,
    pub until: Timestamp,
    /// Active seconds of the whole call so far.
    pub active: u64,
}

impl LiveStay {
    #[must_use]
    pub const fn secs(&self) -> u64 {
        self.start.secs_until(self.until)
    }
}

/// One member's share of a server over some days.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerFigures {
    /// Totals, sessions, hours, days and channels (partners stay empty).
    pub figures: WindowFigures,
    /// Members with call time in the window.
    pub members: BTreeSet<UserId>,
}

/// The server's figures of `window` from its members' day records (every UTC day of
/// [`LocalWindow::utc_days`]) and the calls in progress. A call in progress counts its
/// seconds exactly; its active seconds (known for the whole call only) are shared out over
/// its half hours in proportion to their seconds.
#[must_use]
pub fn server_window<'a>(
    window: &LocalWindow,
    days: impl IntoIterator<Item = (UserId, Day, &'a [SlotSecs])>,
    live: &[LiveStay],
) -> ServerFigures {
    let mut f = WindowFigures::empty(window);
    let mut members = BTreeSet::new();
    for (user, day, slots) in days {
        let before = f.stats.total;
        f.add_day(window, day, slots);
        if f.stats.total > before {
            members.insert(user);
        }
    }
    for stay in live {
        let before = f.stats.total;
        add_live(&mut f, window, stay);
        if f.stats.total > before {
            members.insert(stay.user);
        }
    }
    ServerFigures {
        figures: f,
        members,
    }
}

fn add_live(f: &mut WindowFigures, window: &LocalWindow, stay: &LiveStay) {
    let total = stay.secs();
    let cells = split_cells(stay.start, stay.until, Tz::UTC);
    let mut active_left = stay.active.min(total);
    let last = cells.len().saturating_sub(1);
    for (i, (cell, secs)) in cells.into_iter().enumerate() {
        let active = if i == last {
            active_left
        } else {
            let share = u64::try_from(
                u128::from(stay.active.min(total)) * u128::from(secs) / u128::from(total.max(1)),
            )
            .unwrap_or(0)
            .min(active_left);
            active_left -= share;
            share
        };
        f.add_slot(
            window,
            cell.slot_start(),
            stay.channel,
            secs,
            active,
            u64::from(i == 0),
        );
    }
}

/// A member's all-time figures as the `guild-members` index holds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberAllTime {
    pub user: UserId,
    pub total: u64,
    pub active: u64,
    pub sessions: u64,
    pub channels: BTreeMap<ChannelId, u64>,
}

/// The server's all-time totals, channels and members, with the calls in progress.
#[must_use]
pub fn server_all_time(members: &[MemberAllTime], live: &[LiveStay]) -> ServerFigures {
    let mut f = WindowFigures::default();
    let mut called = BTreeSet::new();
    for m in members {
        f.stats.total += m.total;
        f.stats.active += m.active;
        f.stats.sessions += m.sessions;
        for (channel, secs) in &m.channels {
            *f.channels.entry(*channel).or_default() += secs;
        }
        if m.total > 0 {
            called.insert(m.user);
        }
    }
    for stay in live {
        f.stats.total += stay.secs();
        f.stats.active += stay.active.min(stay.secs());
        f.stats.sessions += 1;
        *f.channels.entry(stay.channel).or_default() += stay.secs();
        if stay.secs() > 0 {
            called.insert(stay.user);
        }
    }
    ServerFigures {
        figures: f,
        members: called,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};
    use twilight_model::id::Id;

    fn ts(d: u32, h: u32, m: u32) -> Timestamp {
        Timestamp::from_datetime(Utc.with_ymd_and_hms(2026, 11, d, h, m, 0).unwrap())
    }

    fn slot(half_hour: u8, channel: u64, total: u64) -> SlotSecs {
        SlotSecs {
            half_hour,
            channel: Id::new(channel),
            total,
            active: total / 2,
            starts: 1,
        }
    }

    #[test]
    fn members_days_and_live_calls_add_up_in_the_servers_days() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let window = LocalWindow {
            first: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
            last: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
            tz: berlin,
        };
        let d19 = Day::of(ts(19, 0, 0));
        let d25 = Day::of(ts(25, 0, 0));
        let inside = [slot(46, 1, 1800)]; // 19 Nov 23:00 UTC = 20 Nov 00:00 in Berlin: inside
        let outside = [slot(45, 1, 1800)]; // 19 Nov 22:30 UTC = 23:30 in Berlin: outside
        let later = [slot(20, 2, 600), slot(21, 3, 1200)];
        let days = vec![
            (Id::new(1), d19, &inside[..]),
            (Id::new(2), d19, &outside[..]),
            (Id::new(3), d25, &later[..]),
        ];
        let live = [LiveStay {
            user: Id::new(4),
            channel: Id::new(2),
            start: ts(26, 10, 0),
            until: ts(26, 11, 30),
            active: 3000,
        }];
        let server = server_window(&window, days, &live);
        let f = &server.figures;
        assert_eq!(f.stats.total, 1800 + 600 + 1200 + 5400);
        assert_eq!(f.stats.active, 900 + 300 + 600 + 3000);
        assert_eq!(f.stats.sessions, 1 + 2 + 1);
        assert_eq!(
            server.members.iter().map(|u| u.get()).collect::<Vec<_>>(),
            vec![1, 3, 4]
        );
        assert_eq!(f.channels[&Id::new(2)], 600 + 5400);
        assert_eq!(
            f.daily[&NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()],
            1800
        );
        assert_eq!(
            f.daily[&NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()],
            5400
        );
        // 10:00 UTC is 11:00 in Berlin, on a Thursday.
        assert_eq!(f.grid[3][11], 3600);
    }

    #[test]
    fn all_time_adds_every_member_and_the_calls_in_progress() {
        let members = [
            MemberAllTime {
                user: Id::new(1),
                total: 100,
                active: 50,
                sessions: 2,
                channels: BTreeMap::from([(Id::new(7), 100)]),
            },
            MemberAllTime {
                user: Id::new(2),
                total: 0,
                active: 0,
                sessions: 0,
                channels: BTreeMap::new(),
            },
        ];
        let live = [LiveStay {
            user: Id::new(3),
            channel: Id::new(7),
            start: ts(26, 10, 0),
            until: ts(26, 10, 1),
            active: 99,
        }];
        let s = server_all_time(&members, &live);
        assert_eq!(
            (
                s.figures.stats.total,
                s.figures.stats.active,
                s.figures.stats.sessions
            ),
            (160, 110, 3)
        );
        assert_eq!(s.members.len(), 2);
        assert_eq!(s.figures.channels[&Id::new(7)], 160);
    }
}
