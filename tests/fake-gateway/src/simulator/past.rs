//! A past for the local stack: weeks of calls before the live traffic, replayed on a fast
//! clock so that the first look at a fresh local stack shows full heatmaps, a chart with
//! visible days, partners and a server view with several channels.
//!
//! Pure and seeded like the scenario: [`past`] lists the voice changes of `days` days that
//! end at a given instant, at absolute Unix seconds. Calls happen in gatherings: a group of
//! friends (and a few others) meets in a channel, mostly in the evening (UTC), more at
//! weekends; each stays for a call of their own length, so they overlap and leave at
//! different times. The first member of the first guild (the one the local client asks as)
//! comes to most of that guild's gatherings, the staff meet in their private room now and
//! then, the stage has a speaker and an audience, the loner sits in the focus room, and a bot
//! keeps some gatherings company. Nobody is in two places at once, and everyone has left
//! before the past ends. Only the first [`PAST_GUILDS`] guilds get a past, so that replaying it
//! stays short with any number of guilds.

use super::{
    rng::Rng,
    world::{GuildLayout, Role, World},
};
use crate::spec::VoiceFlags;
use std::collections::HashMap;
use twilight_model::id::{
    Id,
    marker::{ChannelMarker, GuildMarker, UserMarker},
};

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: i64 = 86_400;

/// Guilds that get a past: the first ones.
pub const PAST_GUILDS: usize = 3;
/// Longest past, in days.
pub const MAX_PAST_DAYS: u32 = 90;

/// Band tables `(weight, low, high)` in seconds; see [`Rng::band`].
type Bands = [(u64, u64, u64)];

/// Hour of the day (UTC) a gathering starts at on weekdays: mostly evenings.
const WEEKDAY_HOURS: &Bands = &[(8, 18, 23), (2, 12, 18), (1, 7, 12), (1, 23, 26)];
/// At weekends the afternoons fill up too.
const WEEKEND_HOURS: &Bands = &[(6, 18, 23), (5, 11, 18), (1, 8, 11), (2, 23, 26)];
/// How long one member stays in a gathering.
const STAY: &Bands = &[
    (3, 15 * MINUTE, 45 * MINUTE),
    (5, 45 * MINUTE, 2 * HOUR),
    (2, 2 * HOUR, 3 * HOUR + 20 * MINUTE),
];
/// When the others arrive after the first one.
const ARRIVAL: &Bands = &[(1, MINUTE, 25 * MINUTE)];
/// Time between two calls of the same member, at least.
const GAP: i64 = 60;
/// Everyone has left this long before the past ends.
const MARGIN: i64 = 120;

/// One voice change of the past.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct PastEvent {
    /// Unix seconds.
    pub at: i64,
    /// The guild.
    pub guild: Id<GuildMarker>,
    /// The user.
    pub user: Id<UserMarker>,
    /// Whether the user is a bot account.
    pub bot: bool,
    /// The channel the user is in afterwards, `None` when they left.
    pub channel: Option<Id<ChannelMarker>>,
    /// The user's voice flags afterwards.
    pub flags: VoiceFlags,
}

/// Where a gathering meets.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Place {
    Hangout(usize),
    Staff,
    Stage,
    Focus,
}

/// The voice changes of the `days` days before `until` (Unix seconds), in time order.
#[must_use]
pub fn past(world: &World, seed: u64, until: i64, days: u32) -> Vec<PastEvent> {
    let days = days.min(MAX_PAST_DAYS);
    let mut maker = Maker {
        world,
        rng: Rng::new(seed ^ 0x7061_7374),
        busy: HashMap::new(),
        events: Vec::new(),
        until,
    };
    let from = until - i64::from(days) * DAY;
    let first_midnight = from.div_euclid(DAY) * DAY;
    for g in 0..world.guilds().len().min(PAST_GUILDS) {
        let mut midnight = first_midnight;
        while midnight < until {
            // 1970-01-01 was a Thursday: day 2 and 3 of the week from it are Saturday, Sunday.
            let weekend = matches!(midnight.div_euclid(DAY).rem_euclid(7), 2 | 3);
            let gatherings = match (g, weekend) {
                (0, false) => 2 + u64::from(maker.rng.percent(50)),
                (0, true) => 3 + u64::from(maker.rng.percent(50)),
                (_, _) => 1 + u64::from(maker.rng.percent(30)),
            };
            for _ in 0..gatherings {
                let hours = if weekend {
                    WEEKEND_HOURS
                } else {
                    WEEKDAY_HOURS
                };
                let hour = maker.rng.band(hours);
                let start = midnight + (hour * HOUR + maker.rng.below(HOUR)) as i64;
                if start >= from {
                    maker.gathering(g, start);
                }
            }
            midnight += DAY;
        }
    }
    let mut events = maker.events;
    events.sort_by_key(|e| e.at);
    events
}

struct Maker<'w> {
    world: &'w World,
    rng: Rng,
    /// Each person's calls so far: (join, leave).
    busy: HashMap<usize, Vec<(i64, i64)>>,
    events: Vec<PastEvent>,
    until: i64,
}

impl<'w> Maker<'w> {
    fn layout(&self, g: usize) -> &'w GuildLayout {
        &self.world.layouts[g]
    }

    /// One gathering of guild `g` starting at `start`.
    fn gathering(&mut self, g: usize, start: i64) {
        let layout = self.layout(g);
        let place = self.place(g);
        let people = self.cast(g, place);
        let channel = match place {
            Place::Hangout(h) => layout.hangouts[h],
            Place::Staff => layout.private,
            Place::Stage => layout.stage,
            Place::Focus => layout.focus,
        };
        let mut first = true;
        for person in people {
            let join = if first {
                start
            } else {
                start + self.rng.band(ARRIVAL) as i64
            };
            let leave = join + self.rng.band(STAY) as i64;
            // The stage's first speaker speaks, the others listen (suppressed).
            let suppress = place == Place::Stage && !first;
            if self.call(g, person, channel, join, leave, suppress) {
                first = false;
            }
        }
        if matches!(place, Place::Hangout(_)) && self.rng.percent(20) {
            let bots = &layout.bots;
            if let Some(&bot) = bots.get(self.rng.below(bots.len() as u64) as usize) {
                let join = start + 2 * MINUTE as i64;
                let leave = join + self.rng.between(5 * MINUTE, 20 * MINUTE) as i64;
                self.call(g, bot, channel, join, leave, false);
            }
        }
    }

    fn place(&mut self, g: usize) -> Place {
        let hangouts = self.layout(g).hangouts.len() as u64;
        // The first hangouts are the busiest.
        let mut weights: Vec<u64> = (0..hangouts).map(|h| 4 + 2 * (hangouts - h)).collect();
        weights.extend([3, 2, 1]);
        match self.rng.weighted(&weights) {
            Some(i) if (i as u64) < hangouts => Place::Hangout(i),
            Some(i) if i as u64 == hangouts => Place::Staff,
            Some(i) if i as u64 == hangouts + 1 => Place::Stage,
            Some(_) => Place::Focus,
            None => Place::Hangout(0),
        }
    }

    /// Who comes: the staff to their room, the loner to the focus room, otherwise a group of
    /// friends and maybe someone else; the first member of the first guild comes to most.
    fn cast(&mut self, g: usize, place: Place) -> Vec<usize> {
        let layout = self.layout(g);
        let own: Vec<usize> = layout
            .members
            .iter()
            .copied()
            .filter(|&p| self.world.memberships[p][0] == g)
            .collect();
        let mut people = match place {
            Place::Staff => layout.staff.clone(),
            Place::Focus => own
                .iter()
                .copied()
                .filter(|&p| self.world.roles[p] == Role::Loner)
                .collect(),
            Place::Hangout(_) | Place::Stage => {
                let groups = &layout.friends;
                let pick = if g == 0 && self.rng.percent(45) {
                    0
                } else {
                    self.rng.below(groups.len() as u64) as usize
                };
                let mut people = groups[pick].clone();
                if self.rng.percent(50) {
                    let other = own[self.rng.below(own.len() as u64) as usize];
                    people.push(other);
                }
                if g == 0 && self.rng.percent(55) {
                    people.push(own[0]);
                }
                people
            }
        };
        let mut seen = Vec::with_capacity(people.len());
        people.retain(|p| {
            let fresh = !seen.contains(p);
            seen.push(*p);
            fresh
        });
        // Who arrives first varies.
        let turn = self.rng.below(people.len().max(1) as u64) as usize;
        people.rotate_left(turn);
        people
    }

    /// `person` in `channel` of guild `g` from `join` to `leave`, unless they are elsewhere
    /// then or it would not end before the past does. Maybe with a mute on the way.
    fn call(
        &mut self,
        g: usize,
        person: usize,
        channel: usize,
        join: i64,
        leave: i64,
        suppress: bool,
    ) -> bool {
        if leave > self.until - MARGIN {
            return false;
        }
        let calls = self.busy.entry(person).or_default();
        if calls
            .iter()
            .any(|&(s, e)| join < e + GAP && s < leave + GAP)
        {
            return false;
        }
        calls.push((join, leave));
        let who = self.world.person_at(person);
        let guild = self.world.guild_at(g);
        let (user, bot, guild_id) = (who.id, who.bot, guild.id);
        let channel_id = guild.channels[channel].id;
        let mut flags = VoiceFlags {
            self_deaf: bot,
            suppress,
            ..VoiceFlags::default()
        };
        let mut push = |at: i64, channel: Option<Id<ChannelMarker>>, flags: VoiceFlags| {
            self.events.push(PastEvent {
                at,
                guild: guild_id,
                user,
                bot,
                channel,
                flags,
            });
        };
        push(join, Some(channel_id), flags);
        let stay = (leave - join) as u64;
        if !bot && self.rng.percent(35) {
            let muted = join + self.rng.between(stay / 5, stay / 2) as i64;
            let unmuted = muted + self.rng.between(MINUTE, 10 * MINUTE) as i64;
            if unmuted < leave - 30 {
                flags.self_mute = true;
                push(muted, Some(channel_id), flags);
                flags.self_mute = false;
                push(unmuted, Some(channel_id), flags);
            }
        }
        push(leave, None, VoiceFlags::default());
        true
    }
}
