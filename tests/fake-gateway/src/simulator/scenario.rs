//! The scenario: who does what in voice, and when, as a pure, seeded, endless stream of events.
//!
//! Every person is an agent with one pending wake-up in a time-ordered queue. On waking it
//! decides (with the seeded generator) what to do, changes the model, maybe emits an event and
//! schedules its next wake-up. Nothing here reads a clock or does I/O: time is simulated
//! milliseconds since the start, and the driver decides how fast it passes.

use super::{
    Config,
    rng::Rng,
    world::{AFK_TIMEOUT_SECS, ChannelRole, Role, World},
};
use crate::spec::{GuildSpec, UserSpec, VoiceFlags, VoiceMember};
use std::{
    cmp::Reverse,
    collections::{BinaryHeap, VecDeque},
    fmt::Write as _,
    time::Duration,
};
use twilight_model::id::{
    Id,
    marker::{ChannelMarker, GuildMarker, UserMarker},
};

const SECOND: u64 = 1_000;
const MINUTE: u64 = 60 * SECOND;

/// Band tables `(weight, low_ms, high_ms)`; see [`Rng::band`].
type Bands = [(u64, u64, u64)];

/// Length of a regular's call: mostly minutes, now and then a quick one or a long evening.
const SESSION: &Bands = &[
    (2, 30 * SECOND, 2 * MINUTE),
    (6, 2 * MINUTE, 12 * MINUTE),
    (4, 12 * MINUTE, 30 * MINUTE),
    (1, 30 * MINUTE, 90 * MINUTE),
];
/// Time between a regular's calls.
const AWAY: &Bands = &[
    (3, 20 * SECOND, 3 * MINUTE),
    (5, 3 * MINUTE, 15 * MINUTE),
    (2, 15 * MINUTE, 45 * MINUTE),
];
/// When a regular who is offline at the start first joins: some right away.
const FIRST_JOIN: &Bands = &[
    (3, 5 * SECOND, MINUTE),
    (4, MINUTE, 8 * MINUTE),
    (3, 8 * MINUTE, 30 * MINUTE),
];
/// Time between two decisions of someone in a call.
const TICK: &Bands = &[
    (4, 20 * SECOND, MINUTE),
    (5, MINUTE, 3 * MINUTE),
    (2, 3 * MINUTE, 6 * MINUTE),
];
/// How long someone stays in the AFK channel.
const AFK_STAY: &Bands = &[(1, MINUTE, 6 * MINUTE)];
/// How much longer someone stays who wanted to leave while too few people were in voice.
const STAY_ON: &Bands = &[(1, 2 * MINUTE, 8 * MINUTE)];
const LONER_SESSION: &Bands = &[(1, 15 * MINUTE, 45 * MINUTE)];
const LONER_AWAY: &Bands = &[(1, 2 * MINUTE, 10 * MINUTE)];
const LONER_TICK: &Bands = &[(1, MINUTE, 5 * MINUTE)];
const BOT_STAY: &Bands = &[(1, 2 * MINUTE, 10 * MINUTE)];
const BOT_AWAY: &Bands = &[(1, MINUTE, 6 * MINUTE)];
/// The focus room stays the loner's alone for the opening minutes.
const FOCUS_PRIVATE_UNTIL: u64 = 5 * MINUTE;
/// How long after a friend joined a hangout someone follows them there.
const FOLLOW: &Bands = &[(1, 20 * SECOND, 4 * MINUTE)];
/// Chance, in percent, that an offline friend follows someone who joins a hangout.
const FOLLOW_PERCENT: u64 = 55;

/// A change of flags without a change of channel.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Change {
    /// The user muted (true) or unmuted themself.
    SelfMute(bool),
    /// The user deafened themself (which also mutes, as in Discord's client) or undeafened
    /// (which restores the mute from before).
    SelfDeaf(bool),
    /// The user started or stopped streaming ("Go Live").
    Stream(bool),
    /// The user turned their camera on or off.
    Video(bool),
    /// A moderator muted or unmuted the user.
    ServerMute(bool),
    /// On the stage: moved to the audience (true) or invited to speak (false).
    Suppress(bool),
}

/// What happened, from the point of view of someone watching the guild.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// Connected to a channel while not in voice in this guild.
    Joined,
    /// Disconnected from `from`.
    Left {
        /// The channel they were in.
        from: Id<ChannelMarker>,
    },
    /// Moved from `from` to another channel that is not the AFK channel (the AFK channel may be
    /// `from`: see [`CameBack`](Self::CameBack)).
    Moved {
        /// The channel they were in.
        from: Id<ChannelMarker>,
    },
    /// Moved (by Discord, after inactivity) from `from` to the AFK channel.
    WentAfk {
        /// The channel they were in.
        from: Id<ChannelMarker>,
    },
    /// Moved out of the AFK channel into another channel.
    CameBack,
    /// Flags changed; still in the same channel.
    Changed(Change),
}

/// One voice state change, as the gateway will send it.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct Event {
    /// Simulated time since the start of the scenario.
    pub at: Duration,
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
    /// What happened.
    pub kind: EventKind,
}

/// Where someone is in voice.
#[derive(Clone, Copy, Debug)]
struct Presence {
    guild: usize,
    channel: usize,
    flags: VoiceFlags,
    /// When they entered the channel.
    since: u64,
    /// When the current plan (call, AFK stay, bot visit) is over.
    until: u64,
    /// `self_mute` from before deafening, restored on undeafen.
    muted_before_deaf: bool,
}

/// A scripted step of the opening minute.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Step {
    Join(usize),
    Leave,
    GoAfk,
    ComeBack(usize),
    Move(usize),
}

impl Step {
    /// Whether the step takes the person out of counted voice.
    const fn drops(self) -> bool {
        matches!(self, Self::Leave | Self::GoAfk)
    }
}

/// Leanings of a person, drawn once from the seed.
#[derive(Clone, Copy, Debug, Default)]
#[allow(clippy::struct_excessive_bools)] // independent yes/no traits
struct Habits {
    muter: bool,
    deafener: bool,
    streamer: bool,
    camera: bool,
    stage_fan: bool,
    /// Index into the guild's hangouts.
    favourite: usize,
}

#[derive(Clone, Debug, Default)]
struct Agent {
    presence: Option<Presence>,
    script: VecDeque<(u64, Step)>,
    habits: Habits,
    /// When the agent's one valid wake-up is due; earlier entries in the queue are stale.
    due: u64,
    /// A friend's call to join: guild and channel indexes.
    follow: Option<(usize, usize)>,
}

/// What a person in a call does on waking.
#[derive(Clone, Copy, Debug)]
enum Act {
    Change(Change),
    Move,
    Nothing,
}

/// A seeded, endless voice scenario over a [`World`]; iterate it for [`Event`]s in time order.
#[derive(Clone, Debug)]
pub struct Simulation {
    world: World,
    seed: u64,
    rng: Rng,
    /// Simulated milliseconds since the start.
    now: u64,
    /// Tie-breaker of wake-ups due at the same moment: first scheduled, first woken.
    seq: u64,
    agents: Vec<Agent>,
    /// Humans per channel, `[guild][channel]`, kept with every change of presence.
    humans: Vec<Vec<usize>>,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    out: VecDeque<Event>,
}

impl Simulation {
    /// A scenario at simulated time zero: the world of `config`, some people already in voice,
    /// and everyone's first move planned.
    #[must_use]
    pub fn new(config: &Config) -> Self {
        let world = World::new(config);
        let mut sim = Self {
            agents: vec![Agent::default(); world.people().len()],
            humans: world
                .guilds()
                .iter()
                .map(|g| vec![0; g.channels.len()])
                .collect(),
            world,
            seed: config.seed(),
            rng: Rng::new(config.seed()),
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            out: VecDeque::new(),
        };
        for person in 0..sim.agents.len() {
            let hangouts = sim.world.layouts[sim.world.memberships[person][0]]
                .hangouts
                .len();
            let rng = &mut sim.rng;
            sim.agents[person].habits = Habits {
                muter: rng.percent(40),
                deafener: rng.percent(15),
                streamer: rng.percent(20),
                camera: rng.percent(20),
                stage_fan: rng.percent(15),
                favourite: rng.below(hangouts as u64) as usize,
            };
        }
        for guild in 0..sim.world.guilds().len() {
            sim.open(guild, config.members() as usize);
        }
        sim
    }

    /// The guilds, channels and people.
    #[must_use]
    pub const fn world(&self) -> &World {
        &self.world
    }

    /// The seed the scenario was made from.
    #[must_use]
    pub const fn seed(&self) -> u64 {
        self.seed
    }

    /// Simulated time of the latest decision.
    #[must_use]
    pub const fn now(&self) -> Duration {
        Duration::from_millis(self.now)
    }

    /// Where a user is in voice now: guild, channel and flags.
    #[must_use]
    pub fn voice_state(
        &self,
        user: Id<UserMarker>,
    ) -> Option<(Id<GuildMarker>, Id<ChannelMarker>, VoiceFlags)> {
        let person = self.world.people().iter().position(|p| p.id == user)?;
        let presence = self.agents[person].presence?;
        let guild = self.world.guild_at(presence.guild);
        Some((
            guild.id,
            guild.channels[presence.channel].id,
            presence.flags,
        ))
    }

    /// The guilds as they are now, for [`FakeGateway::add_guild`](crate::FakeGateway::add_guild):
    /// channels, AFK channel, member count and who is in voice with which flags.
    #[must_use]
    pub fn guild_specs(&self) -> Vec<GuildSpec> {
        self.world
            .guilds()
            .iter()
            .enumerate()
            .map(|(g, guild)| {
                let mut spec = GuildSpec::new(guild.id, guild.name.clone())
                    .afk(guild.afk_channel, AFK_TIMEOUT_SECS)
                    .member_count((guild.members.len() + guild.bots.len() + 1) as u64);
                for (user, nick) in &guild.nicknames {
                    spec = spec.nickname(*user, nick.clone());
                }
                for channel in guild.channel_specs() {
                    spec = spec.channel(channel);
                }
                let layout = &self.world.layouts[g];
                for &person in layout.members.iter().chain(&layout.bots) {
                    let Some(presence) = self.agents[person].presence.filter(|p| p.guild == g)
                    else {
                        continue;
                    };
                    let who = self.world.person_at(person);
                    let member = VoiceMember::new(who.id, guild.channels[presence.channel].id)
                        .flags(presence.flags);
                    spec = spec.voice_member(if who.bot { member.bot() } else { member });
                }
                spec
            })
            .collect()
    }

    /// Every user's name and bot-ness, for [`FakeGateway::set_user`](crate::FakeGateway::set_user).
    #[must_use]
    pub fn user_specs(&self) -> Vec<(Id<UserMarker>, UserSpec)> {
        self.world
            .people()
            .iter()
            .map(|p| {
                (
                    p.id,
                    UserSpec {
                        global_name: p.global_name.clone(),
                        bot: p.bot,
                        ..UserSpec::new(p.name.clone())
                    },
                )
            })
            .collect()
    }

    /// One line for a person to read: `Study Hall: ada moved from Lounge to Gaming`.
    #[must_use]
    pub fn describe(&self, event: &Event) -> String {
        let guild = self.world.guild(event.guild);
        let channel_name = |id: Option<Id<ChannelMarker>>| -> String {
            match (guild, id) {
                (Some(g), Some(id)) => g
                    .channel(id)
                    .map_or_else(|| id.to_string(), |c| c.name.clone()),
                (None, Some(id)) => id.to_string(),
                (_, None) => "nowhere".to_owned(),
            }
        };
        let mut line = format!(
            "{}: {}{}",
            guild.map_or_else(|| event.guild.to_string(), |g| g.name.clone()),
            self.world
                .person(event.user)
                .map_or_else(|| event.user.to_string(), |p| p.name.clone()),
            if event.bot { " (bot)" } else { "" },
        );
        let here = channel_name(event.channel);
        let _ = match event.kind {
            EventKind::Joined => write!(line, " joined {here}"),
            EventKind::Left { from } => write!(line, " left {}", channel_name(Some(from))),
            EventKind::Moved { from } => {
                write!(line, " moved from {} to {here}", channel_name(Some(from)))
            }
            EventKind::WentAfk { from } => {
                write!(
                    line,
                    " went idle in {} and was moved to {here}",
                    channel_name(Some(from))
                )
            }
            EventKind::CameBack => write!(line, " came back from AFK to {here}"),
            EventKind::Changed(change) => {
                let what = match change {
                    Change::SelfMute(true) => "muted",
                    Change::SelfMute(false) => "unmuted",
                    Change::SelfDeaf(true) => "deafened",
                    Change::SelfDeaf(false) => "undeafened",
                    Change::Stream(true) => "started streaming",
                    Change::Stream(false) => "stopped streaming",
                    Change::Video(true) => "turned video on",
                    Change::Video(false) => "turned video off",
                    Change::ServerMute(true) => "was muted by a moderator",
                    Change::ServerMute(false) => "was unmuted by a moderator",
                    Change::Suppress(true) => "moved to the audience",
                    Change::Suppress(false) => "was invited to speak",
                };
                write!(line, " {what} in {here}")
            }
        };
        line
    }

    // ---- the opening ---------------------------------------------------------------------------

    /// Puts the guild's opening cast in place and plans everyone's first move.
    fn open(&mut self, guild: usize, own: usize) {
        let layout = self.world.layouts[guild].clone();
        let hangouts = &layout.hangouts;
        let members = &layout.members;
        let [quick_leaver, visitor, afk_regular, mover, loner] =
            [0, 1, 2, 3, 4].map(|i| members[i]);
        debug_assert_eq!(self.world.roles[loner], Role::Loner);

        let video = VoiceFlags {
            self_video: true,
            ..VoiceFlags::default()
        };
        let muted = VoiceFlags {
            self_mute: true,
            ..VoiceFlags::default()
        };
        self.place(
            quick_leaver,
            guild,
            hangouts[0],
            VoiceFlags::default(),
            u64::MAX,
        );
        self.place(afk_regular, guild, hangouts[1], video, u64::MAX);
        self.place(mover, guild, hangouts[2], muted, u64::MAX);
        let until = self.rng.band(LONER_SESSION);
        self.place(loner, guild, layout.focus, VoiceFlags::default(), until);

        let script = [
            (quick_leaver, (10, 22), Step::Leave),
            (visitor, (1, 5), Step::Join(hangouts[1])),
            (visitor, (14, 30), Step::Leave),
            (afk_regular, (18, 32), Step::GoAfk),
            (afk_regular, (45, 75), Step::ComeBack(hangouts[0])),
            (mover, (25, 38), Step::Move(hangouts[0])),
        ];
        for (person, (from_secs, to_secs), step) in script {
            let at = self.rng.between(from_secs * SECOND, to_secs * SECOND);
            self.agents[person].script.push_back((at, step));
        }

        // A few regulars already in calls, more than the floor needs.
        let floor = self.world.guild_at(guild).min_in_voice;
        let mut regulars: Vec<usize> = members[5..own].to_vec();
        let wanted = (floor + 1).max(own / 4).min(regulars.len());
        for placed in 0..wanted {
            let pick = placed + self.rng.below((regulars.len() - placed) as u64) as usize;
            regulars.swap(placed, pick);
            let person = regulars[placed];
            let channel = self.choose_channel(person, guild, None);
            let habits = self.agents[person].habits;
            let flags = VoiceFlags {
                self_mute: self.rng.percent(if habits.muter { 50 } else { 10 }),
                self_stream: habits.streamer && self.rng.percent(40),
                self_video: habits.camera && self.rng.percent(40),
                ..VoiceFlags::default()
            };
            let until = self.rng.band(SESSION);
            self.place(person, guild, channel, flags, until);
        }

        if let Some(&bot) = layout.bots.first() {
            let deaf = VoiceFlags {
                self_deaf: true,
                ..VoiceFlags::default()
            };
            let until = self.rng.between(3 * MINUTE, 8 * MINUTE);
            self.place(bot, guild, hangouts[0], deaf, until);
        }

        for &person in members[..own].iter().chain(&layout.bots) {
            let agent = &self.agents[person];
            let bot = self.world.roles[person] == Role::Bot;
            let at = match (agent.script.front(), agent.presence) {
                (Some(&(at, _)), _) => at,
                (None, Some(presence)) if bot => presence.until,
                (None, Some(presence)) => self.next_tick(person, presence.until),
                (None, None) if bot => self.rng.between(20 * SECOND, 4 * MINUTE),
                (None, None) => self.rng.band(FIRST_JOIN),
            };
            self.schedule(person, at);
        }
    }

    /// Sets where someone is at the start, without an event.
    fn place(&mut self, person: usize, g: usize, channel: usize, flags: VoiceFlags, until: u64) {
        let flags = self.settle(person, g, channel, flags);
        self.set_presence(
            person,
            Some(Presence {
                guild: g,
                channel,
                flags,
                since: self.now,
                until,
                muted_before_deaf: false,
            }),
        );
    }

    // ---- the clock -----------------------------------------------------------------------------

    /// Plans the person's next wake-up; one planned before becomes stale.
    fn schedule(&mut self, person: usize, at: u64) {
        self.seq += 1;
        let at = at.max(self.now);
        self.agents[person].due = at;
        self.queue.push(Reverse((at, self.seq, person)));
    }

    /// When someone in a call next makes up their mind: after a tick, and no later than the end
    /// of their plan.
    fn next_tick(&mut self, person: usize, until: u64) -> u64 {
        let tick = if self.world.roles[person] == Role::Loner {
            self.rng.band(LONER_TICK)
        } else {
            self.rng.band(TICK)
        };
        (self.now + tick).min(until).max(self.now + SECOND)
    }

    fn wake(&mut self, person: usize) {
        if let Some(&(at, step)) = self.agents[person].script.front()
            && at <= self.now
        {
            self.agents[person].script.pop_front();
            self.perform(person, step);
            if let Some(&(next, _)) = self.agents[person].script.front() {
                self.schedule(person, next);
            } else if self.agents[person].presence.is_some() {
                let until = self.now + self.rng.band(SESSION);
                self.set_until(person, until);
                let at = self.next_tick(person, until);
                self.schedule(person, at);
            } else {
                let at = self.now + self.rng.band(AWAY);
                self.schedule(person, at);
            }
            return;
        }
        match self.world.roles[person] {
            Role::Bot => self.wake_bot(person),
            Role::Loner => self.wake_loner(person),
            _ => self.wake_regular(person),
        }
    }

    fn perform(&mut self, person: usize, step: Step) {
        let presence = self.agents[person].presence;
        match (step, presence) {
            (Step::Join(channel), None) => {
                let g = self.world.memberships[person][0];
                self.join(person, g, channel, VoiceFlags::default(), u64::MAX);
            }
            (Step::Leave, Some(_)) => self.leave(person),
            (Step::GoAfk, Some(p)) if p.channel != self.world.layouts[p.guild].afk => {
                self.move_to(person, self.world.layouts[p.guild].afk);
            }
            (Step::ComeBack(channel) | Step::Move(channel), Some(p)) if p.channel != channel => {
                self.move_to(person, channel);
            }
            // A step that no longer fits is skipped rather than breaking the model.
            _ => {}
        }
    }

    fn set_until(&mut self, person: usize, until: u64) {
        if let Some(p) = self.agents[person].presence.as_mut() {
            p.until = until;
        }
    }

    // ---- decisions -----------------------------------------------------------------------------

    fn wake_regular(&mut self, person: usize) {
        let Some(presence) = self.agents[person].presence else {
            let (g, channel, followed) =
                if let Some((g, channel)) = self.agents[person].follow.take() {
                    (g, channel, true)
                } else {
                    let g = self.choose_guild(person);
                    (g, self.choose_channel(person, g, None), false)
                };
            let flags = VoiceFlags {
                self_mute: self.rng.percent(if self.agents[person].habits.muter {
                    50
                } else {
                    10
                }),
                ..VoiceFlags::default()
            };
            let until = self.now + self.rng.band(SESSION);
            self.join(person, g, channel, flags, until);
            if !followed {
                self.call_friends(person, g, channel);
            }
            let at = self.next_tick(person, until);
            self.schedule(person, at);
            return;
        };
        let afk = self.world.layouts[presence.guild].afk;
        if presence.channel == afk {
            if self.rng.percent(55) {
                let channel = self.choose_channel(person, presence.guild, Some(afk));
                self.move_to(person, channel);
                let until = self.now + self.rng.band(SESSION);
                self.set_until(person, until);
                let at = self.next_tick(person, until);
                self.schedule(person, at);
            } else {
                self.leave(person);
                let at = self.now + self.rng.band(AWAY);
                self.schedule(person, at);
            }
            return;
        }
        if self.now < presence.until {
            self.fidget(person);
            let at = self.next_tick(person, presence.until);
            self.schedule(person, at);
        } else if !self.can_drop(person) {
            let until = self.now + self.rng.band(STAY_ON);
            self.set_until(person, until);
            let at = self.next_tick(person, until);
            self.schedule(person, at);
        } else if self.now - presence.since >= u64::from(AFK_TIMEOUT_SECS) * SECOND
            && self.rng.percent(20)
        {
            // Discord moves people to the AFK channel only after the guild's AFK timeout.
            self.move_to(person, afk);
            let until = self.now + self.rng.band(AFK_STAY);
            self.set_until(person, until);
            self.schedule(person, until);
        } else {
            self.leave(person);
            let at = self.now + self.rng.band(AWAY);
            self.schedule(person, at);
        }
    }

    fn wake_loner(&mut self, person: usize) {
        let Some(presence) = self.agents[person].presence else {
            let g = self.world.memberships[person][0];
            let focus = self.world.layouts[g].focus;
            let until = self.now + self.rng.band(LONER_SESSION);
            self.join(person, g, focus, VoiceFlags::default(), until);
            let at = self.next_tick(person, until);
            self.schedule(person, at);
            return;
        };
        if self.now < presence.until {
            let f = presence.flags;
            let acts = [
                (10, Act::Change(Change::SelfMute(!f.self_mute))),
                (3, Act::Change(Change::Video(!f.self_video))),
                (2, Act::Change(Change::Stream(!f.self_stream))),
                (60, Act::Nothing),
            ];
            self.act(person, &acts);
            let at = self.next_tick(person, presence.until);
            self.schedule(person, at);
        } else if self.can_drop(person) {
            self.leave(person);
            let at = self.now + self.rng.band(LONER_AWAY);
            self.schedule(person, at);
        } else {
            let until = self.now + self.rng.band(STAY_ON);
            self.set_until(person, until);
            let at = self.next_tick(person, until);
            self.schedule(person, at);
        }
    }

    fn wake_bot(&mut self, person: usize) {
        if self.agents[person].presence.is_some() {
            self.leave(person);
            let at = self.now + self.rng.band(BOT_AWAY);
            self.schedule(person, at);
            return;
        }
        let g = self.world.memberships[person][0];
        let layout = &self.world.layouts[g];
        let loner_in_focus = layout
            .members
            .get(4)
            .and_then(|&l| self.agents[l].presence)
            .is_some_and(|p| p.guild == g && p.channel == layout.focus);
        let candidates: Vec<usize> = layout
            .hangouts
            .iter()
            .copied()
            .chain([layout.focus])
            .collect();
        let weights: Vec<u64> = candidates
            .iter()
            .map(|&c| {
                let social = 1 + 6 * self.humans_in(g, c).min(6) as u64;
                if c == layout.focus {
                    if loner_in_focus { social + 8 } else { 0 }
                } else {
                    social
                }
            })
            .collect();
        let channel = self
            .rng
            .weighted(&weights)
            .map_or(candidates[0], |i| candidates[i]);
        let deaf = VoiceFlags {
            self_deaf: true,
            ..VoiceFlags::default()
        };
        let until = self.now + self.rng.band(BOT_STAY);
        self.join(person, g, channel, deaf, until);
        self.schedule(person, until);
    }

    /// Something small in a call: mute, deafen, stream, camera, a move, or nothing.
    fn fidget(&mut self, person: usize) {
        let Some(p) = self.agents[person].presence else {
            return;
        };
        let habits = self.agents[person].habits;
        let in_stage = self.world.guild_at(p.guild).channels[p.channel].role == ChannelRole::Stage;
        let f = p.flags;
        let mut acts: Vec<(u64, Act)> = Vec::with_capacity(8);
        if f.self_deaf {
            acts.push((20, Act::Change(Change::SelfDeaf(false))));
        } else {
            let mute = if habits.muter { 30 } else { 15 };
            acts.push((mute, Act::Change(Change::SelfMute(!f.self_mute))));
            acts.push((
                if habits.deafener { 8 } else { 1 },
                Act::Change(Change::SelfDeaf(true)),
            ));
        }
        if in_stage {
            acts.push((6, Act::Change(Change::Suppress(!f.suppress))));
        } else {
            let stream = match (f.self_stream, habits.streamer) {
                (true, _) => 15,
                (false, true) => 10,
                (false, false) => 1,
            };
            acts.push((stream, Act::Change(Change::Stream(!f.self_stream))));
            let video = match (f.self_video, habits.camera) {
                (true, _) => 12,
                (false, true) => 8,
                (false, false) => 1,
            };
            acts.push((video, Act::Change(Change::Video(!f.self_video))));
        }
        acts.push((
            if f.mute { 10 } else { 1 },
            Act::Change(Change::ServerMute(!f.mute)),
        ));
        acts.push((7, Act::Move));
        acts.push((30, Act::Nothing));
        self.act(person, &acts);
    }

    fn act(&mut self, person: usize, acts: &[(u64, Act)]) {
        let weights: Vec<u64> = acts.iter().map(|a| a.0).collect();
        match self.rng.weighted(&weights).map(|i| acts[i].1) {
            Some(Act::Change(change)) => self.change(person, change),
            Some(Act::Move) => {
                if let Some(p) = self.agents[person].presence {
                    let channel = self.choose_channel(person, p.guild, Some(p.channel));
                    self.move_to(person, channel);
                }
            }
            Some(Act::Nothing) | None => {}
        }
    }

    /// Someone joined a hangout: each of their friends in that guild who is offline and free
    /// (no script left) may follow a little later, for a call of their own length.
    fn call_friends(&mut self, person: usize, g: usize, channel: usize) {
        let layout = &self.world.layouts[g];
        if !layout.hangouts.contains(&channel) {
            return;
        }
        let friends: Vec<usize> = layout
            .friends
            .iter()
            .filter(|group| group.contains(&person))
            .flatten()
            .copied()
            .filter(|&f| f != person)
            .collect();
        for friend in friends {
            let agent = &self.agents[friend];
            if agent.presence.is_some()
                || !agent.script.is_empty()
                || agent.follow.is_some()
                || self.world.roles[friend] == Role::Loner
            {
                continue;
            }
            if self.rng.percent(FOLLOW_PERCENT) {
                self.agents[friend].follow = Some((g, channel));
                let at = self.now + self.rng.band(FOLLOW);
                self.schedule(friend, at);
            }
        }
    }

    /// The guild a human joins a call in: mostly their home guild.
    fn choose_guild(&mut self, person: usize) -> usize {
        let guilds = &self.world.memberships[person];
        let home = guilds.first().copied().unwrap_or_default();
        let others = guilds.len().saturating_sub(1) as u64;
        if others == 0 || self.rng.percent(75) {
            return home;
        }
        let pick = 1 + self.rng.below(others) as usize;
        self.world.memberships[person][pick]
    }

    /// A channel for a human to join or move to: where people are, their favourite hangout, the
    /// stage now and then, the focus room rarely; never the AFK channel or `except`.
    fn choose_channel(&mut self, person: usize, g: usize, except: Option<usize>) -> usize {
        let layout = &self.world.layouts[g];
        let habits = self.agents[person].habits;
        let mut candidates: Vec<(usize, u64)> = layout
            .hangouts
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let favourite = if i == habits.favourite { 4 } else { 0 };
                (c, 2 + favourite + 3 * self.humans_in(g, c).min(6) as u64)
            })
            .collect();
        let fan = if habits.stage_fan { 5 } else { 0 };
        candidates.push((
            layout.stage,
            1 + fan + 2 * self.humans_in(g, layout.stage).min(4) as u64,
        ));
        if self.now >= FOCUS_PRIVATE_UNTIL {
            candidates.push((layout.focus, 1));
        }
        if layout.staff.contains(&person) {
            candidates.push((layout.private, 3));
        }
        let fallback = layout.hangouts[0];
        let weights: Vec<u64> = candidates
            .iter()
            .map(|&(c, w)| if Some(c) == except { 0 } else { w })
            .collect();
        self.rng
            .weighted(&weights)
            .map_or(fallback, |i| candidates[i].0)
    }

    /// Humans (not bots) in a channel of a guild.
    fn humans_in(&self, g: usize, channel: usize) -> usize {
        self.humans[g][channel]
    }

    /// The one way a channel changes: keeps the per-channel counts of humans right.
    fn set_presence(&mut self, person: usize, presence: Option<Presence>) {
        if !self.world.person_at(person).bot {
            if let Some(old) = self.agents[person].presence {
                self.humans[old.guild][old.channel] -= 1;
            }
            if let Some(new) = presence {
                self.humans[new.guild][new.channel] += 1;
            }
        }
        self.agents[person].presence = presence;
    }

    /// Whether someone in a call may leave it (or go AFK) without the guild dropping below its
    /// floor. People about to leave by script do not count towards the floor, so the script
    /// can never break it either.
    fn can_drop(&self, person: usize) -> bool {
        let Some(presence) = self.agents[person].presence else {
            return true;
        };
        let g = presence.guild;
        let layout = &self.world.layouts[g];
        let staying = layout
            .members
            .iter()
            .filter(|&&m| {
                let agent = &self.agents[m];
                agent
                    .presence
                    .is_some_and(|p| p.guild == g && p.channel != layout.afk)
                    && !agent.script.iter().any(|&(_, s)| s.drops())
            })
            .count();
        staying > self.world.guild_at(g).min_in_voice
    }

    // ---- changes -------------------------------------------------------------------------------

    /// Flags as they are once someone is in `channel`: stream and camera stop on the stage and
    /// in the AFK channel, the stage suppresses all but its first speaker, and the AFK channel
    /// suppresses everyone.
    fn settle(&self, person: usize, g: usize, channel: usize, mut flags: VoiceFlags) -> VoiceFlags {
        let layout = &self.world.layouts[g];
        if channel == layout.stage {
            flags.self_stream = false;
            flags.self_video = false;
            let speaker = layout.members.iter().any(|&other| {
                other != person
                    && self.agents[other]
                        .presence
                        .is_some_and(|p| p.guild == g && p.channel == channel && !p.flags.suppress)
            });
            flags.suppress = speaker;
        } else if channel == layout.afk {
            flags.self_stream = false;
            flags.self_video = false;
            flags.suppress = true;
        } else {
            flags.suppress = false;
        }
        flags
    }

    fn emit(&mut self, person: usize, g: usize, kind: EventKind) {
        let who = self.world.person_at(person);
        let guild = self.world.guild_at(g);
        let (channel, flags) = match self.agents[person].presence {
            Some(p) => (Some(guild.channels[p.channel].id), p.flags),
            None => (None, VoiceFlags::default()),
        };
        self.out.push_back(Event {
            at: Duration::from_millis(self.now),
            guild: guild.id,
            user: who.id,
            bot: who.bot,
            channel,
            flags,
            kind,
        });
    }

    fn join(&mut self, person: usize, g: usize, channel: usize, flags: VoiceFlags, until: u64) {
        if self.agents[person].presence.is_some() {
            return;
        }
        let flags = self.settle(person, g, channel, flags);
        self.set_presence(
            person,
            Some(Presence {
                guild: g,
                channel,
                flags,
                since: self.now,
                until,
                muted_before_deaf: false,
            }),
        );
        self.emit(person, g, EventKind::Joined);
    }

    fn leave(&mut self, person: usize) {
        let Some(p) = self.agents[person].presence else {
            return;
        };
        self.set_presence(person, None);
        let from = self.world.guild_at(p.guild).channels[p.channel].id;
        self.emit(person, p.guild, EventKind::Left { from });
    }

    /// Moves someone in a call to `channel` of the same guild. Stream and camera stop, as they
    /// do in Discord when you switch channels; mute and deafen stay.
    fn move_to(&mut self, person: usize, channel: usize) {
        let Some(p) = self.agents[person].presence else {
            return;
        };
        if p.channel == channel {
            return;
        }
        let layout = &self.world.layouts[p.guild];
        let from = self.world.guild_at(p.guild).channels[p.channel].id;
        let kind = if channel == layout.afk {
            EventKind::WentAfk { from }
        } else if p.channel == layout.afk {
            EventKind::CameBack
        } else {
            EventKind::Moved { from }
        };
        let flags = VoiceFlags {
            self_stream: false,
            self_video: false,
            ..p.flags
        };
        let flags = self.settle(person, p.guild, channel, flags);
        self.set_presence(
            person,
            Some(Presence {
                channel,
                flags,
                since: self.now,
                ..p
            }),
        );
        self.emit(person, p.guild, kind);
    }

    fn change(&mut self, person: usize, change: Change) {
        let Some(mut p) = self.agents[person].presence else {
            return;
        };
        let f = &mut p.flags;
        match change {
            Change::SelfMute(on) => f.self_mute = on,
            Change::SelfDeaf(true) => {
                p.muted_before_deaf = f.self_mute;
                f.self_deaf = true;
                f.self_mute = true;
            }
            Change::SelfDeaf(false) => {
                f.self_deaf = false;
                f.self_mute = p.muted_before_deaf;
            }
            Change::Stream(on) => f.self_stream = on,
            Change::Video(on) => f.self_video = on,
            Change::ServerMute(on) => f.mute = on,
            Change::Suppress(on) => f.suppress = on,
        }
        self.agents[person].presence = Some(p);
        self.emit(person, p.guild, EventKind::Changed(change));
    }

    /// Simulated time of the next wake-up: when [`step`](Self::step) has something to do.
    /// `None` only for a world without people.
    #[must_use]
    pub fn next_due(&self) -> Option<Duration> {
        self.out.front().map(|e| e.at).or_else(|| {
            self.queue
                .peek()
                .map(|Reverse((at, _, _))| Duration::from_millis(*at))
        })
    }

    /// Lets the next wake-up happen (advancing the clock to [`next_due`](Self::next_due)) and
    /// returns the event it caused, if any: someone may also decide to do nothing.
    ///
    /// Nothing about the future is decided before its time, so a driver that steps only when
    /// an event is due keeps the scenario and the gateway in the same state.
    pub fn step(&mut self) -> Option<Event> {
        if let Some(event) = self.out.pop_front() {
            return Some(event);
        }
        let Reverse((at, _, person)) = self.queue.pop()?;
        self.now = at;
        if self.agents[person].due == at {
            self.wake(person);
        }
        self.out.pop_front()
    }
}

impl Iterator for Simulation {
    type Item = Event;

    /// The next event. The scenario never ends: this is `None` only for a world without people.
    fn next(&mut self) -> Option<Event> {
        loop {
            self.next_due()?;
            if let Some(event) = self.step() {
                return Some(event);
            }
        }
    }
}
