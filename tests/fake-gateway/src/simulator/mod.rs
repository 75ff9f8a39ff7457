//! The local gateway simulator: realistic voice traffic for a few guilds, played on the fake.
//!
//! It lets the whole product run locally with no Discord account: the sidecar connects to a
//! [`FakeGateway`](crate::FakeGateway) (`CALLSTATS_GATEWAY_URL=ws://127.0.0.1:PORT`) and sees
//! people come and go as on a real server. The binary `callstats-gateway-sim` wraps it.
//!
//! # What it plays
//!
//! Each guild has a text channel, three to six voice hangouts (`Lounge`, `Gaming`, `Music`,
//! ...), a `Focus Room`, a stage channel (`Town Hall`), an `AFK` channel (the guild's AFK
//! channel, 300 s timeout) and a `Staff Room` only its three staff members can view
//! (`@everyone` is denied `VIEW_CHANNEL` there, a moderator role allowed it). Two members in
//! three have a global display name, one in four a nickname in the guild. Members, dozens per
//! guild, do what people do:
//!
//! - **join and leave**: calls mostly last minutes (half a minute to an hour and a half), with
//!   minutes to most of an hour between them; people pick channels where others already are,
//!   or their favourite; the staff now and then their room;
//! - **call with friends**: members belong to small groups of friends; when one joins a
//!   hangout, each friend who is free may follow within a few minutes and stays for a call of
//!   their own length, so friends overlap and leave at different times (partner time);
//! - **move** between channels (stream and camera stop on a move, mute and deafen stay);
//! - **mute and unmute, deafen and undeafen** (deafening mutes; undeafening restores the mute
//!   from before), **stream** and turn **video** on, get **muted by a moderator** now and then;
//! - **the stage**: the first one there speaks, later ones are the suppressed audience and are
//!   sometimes invited to speak;
//! - **go AFK** (moved to the AFK channel, suppressed) and come back a few minutes later, or
//!   leave from there;
//! - **bots** (`jukebox`, `scribe`, ...; flagged `bot`, self-deafened) join the channel with the
//!   most people or keep the loner company, and leave after a few minutes: never to be counted;
//! - **someone alone**: one member per guild sits in the focus room for half an hour at a time;
//!   nobody else goes there in the first five minutes and rarely afterwards (a bot may join:
//!   they still count as alone);
//! - **people in several guilds**: two members of the first guild are members of every guild,
//!   and are in voice in at most one of them at a time.
//!
//! Some people are **already in voice** when the first client connects, so its first
//! `GUILD_CREATE` carries voice states (a bot among them). An **opening act** makes sure stats
//! appear fast: in every guild, within the first 40 simulated seconds, one member who was in
//! voice at the start leaves, one who joined in the first seconds leaves, one goes AFK (and
//! comes back within a minute and a quarter) and one moves to another channel: at least four
//! calls of 9 to 38 seconds end per guild. Afterwards there are **always people in voice**: a
//! member who wants to leave stays on while the guild would drop below
//! [`SimGuild::min_in_voice`] humans outside the AFK channel.
//!
//! The model is consistent: a person is in at most one channel across all guilds, nobody
//! leaves who is not in voice, and every change is a real change of channel or flags.
//!
//! # Determinism
//!
//! [`World`] (ids, names, channels) depends only on the numbers of guilds and members, so ids
//! stay the same from run to run and stats in a kept local table add up. The seed decides the
//! behaviour: the same seed and sizes give the same events at the same simulated times, on
//! every platform (the generator is written out in this crate and decides with integers only).
//! Simulated time starts when [`play`] starts; the binary starts it when the first client
//! identifies, so the opening act plays to the sidecar however late it connects.
//!
//! # Layout
//!
//! `world` holds who and where, `scenario` the pure event stream ([`Simulation`], an endless
//! [`Iterator`] of [`Event`]s), `driver` the only I/O ([`install`], [`wait_for_client`],
//! [`play`]), `rng` the seeded generator, and `clock` the simulated wall clock a sidecar can
//! read from a file ([`SimulatedClock`]) so that at high speed it still records realistic
//! durations.

mod clock;
mod driver;
mod past;
mod rng;
mod scenario;
mod world;

pub use self::{
    clock::SimulatedClock,
    driver::{arrive, install, install_without_voice, play, replay_past, wait_for_client},
    past::{MAX_PAST_DAYS, PAST_GUILDS, PastEvent, past},
    rng::Rng,
    scenario::{Change, Event, EventKind, Simulation},
    world::{ChannelRole, Person, SimChannel, SimGuild, World},
};
use std::{fmt, str::FromStr, time::Duration};

/// A simulation setting out of range.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The number of guilds is outside [`Config::MIN_GUILDS`]..=[`Config::MAX_GUILDS`].
    #[error("the number of guilds must be from {min} to {max}, not {got}", min = Config::MIN_GUILDS, max = Config::MAX_GUILDS)]
    Guilds {
        /// The number asked for.
        got: u32,
    },
    /// The number of members is outside [`Config::MIN_MEMBERS`]..=[`Config::MAX_MEMBERS`].
    #[error("the number of members per guild must be from {min} to {max}, not {got}", min = Config::MIN_MEMBERS, max = Config::MAX_MEMBERS)]
    Members {
        /// The number asked for.
        got: u32,
    },
    /// The speed is not a number from [`Speed::MIN`] to [`Speed::MAX`].
    #[error("the speed must be a number from {min} to {max}, not {got:?}", min = Speed::MIN, max = Speed::MAX)]
    Speed {
        /// What was given.
        got: String,
    },
}

/// Size and seed of a simulation.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Config {
    seed: u64,
    guilds: u32,
    members: u32,
}

impl Config {
    /// Guilds unless told otherwise.
    pub const DEFAULT_GUILDS: u32 = 3;
    /// Members per guild unless told otherwise.
    pub const DEFAULT_MEMBERS: u32 = 24;
    /// Fewest guilds.
    pub const MIN_GUILDS: u32 = 1;
    /// Most guilds.
    pub const MAX_GUILDS: u32 = 1_000;
    /// Fewest members per guild: the opening act, the loner and a floor of regulars.
    pub const MIN_MEMBERS: u32 = 8;
    /// Most members per guild.
    pub const MAX_MEMBERS: u32 = 1_000;

    /// `guilds` guilds with `members` human members of their own each (plus bots, and plus two
    /// members shared with the first guild), behaving as `seed` decides.
    pub const fn new(seed: u64, guilds: u32, members: u32) -> Result<Self, ConfigError> {
        if guilds < Self::MIN_GUILDS || guilds > Self::MAX_GUILDS {
            return Err(ConfigError::Guilds { got: guilds });
        }
        if members < Self::MIN_MEMBERS || members > Self::MAX_MEMBERS {
            return Err(ConfigError::Members { got: members });
        }
        Ok(Self {
            seed,
            guilds,
            members,
        })
    }

    /// The seed.
    #[must_use]
    pub const fn seed(&self) -> u64 {
        self.seed
    }

    /// Number of guilds.
    #[must_use]
    pub const fn guilds(&self) -> u32 {
        self.guilds
    }

    /// Human members of its own per guild.
    #[must_use]
    pub const fn members(&self) -> u32 {
        self.members
    }
}

/// How many simulated seconds pass per real second: 1 is real time, 60 plays an hour in a
/// minute. Durations the sidecar records shrink by the same factor.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Speed(f64);

impl Speed {
    /// Real time.
    pub const REAL_TIME: Self = Self(1.0);
    /// Slowest speed.
    pub const MIN: f64 = 0.01;
    /// Fastest speed.
    pub const MAX: f64 = 10_000.0;

    /// A speed factor from [`MIN`](Self::MIN) to [`MAX`](Self::MAX).
    pub fn new(factor: f64) -> Result<Self, ConfigError> {
        if (Self::MIN..=Self::MAX).contains(&factor) {
            Ok(Self(factor))
        } else {
            Err(ConfigError::Speed {
                got: factor.to_string(),
            })
        }
    }

    /// The factor.
    #[must_use]
    pub const fn factor(self) -> f64 {
        self.0
    }

    /// Real time that `simulated` takes at this speed.
    #[must_use]
    pub fn real(self, simulated: Duration) -> Duration {
        Duration::try_from_secs_f64(simulated.as_secs_f64() / self.0).unwrap_or(Duration::MAX)
    }
}

impl Default for Speed {
    fn default() -> Self {
        Self::REAL_TIME
    }
}

impl fmt::Display for Speed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Speed {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let factor: f64 = s
            .trim()
            .parse()
            .map_err(|_| ConfigError::Speed { got: s.to_owned() })?;
        Self::new(factor).map_err(|_| ConfigError::Speed { got: s.to_owned() })
    }
}

#[cfg(test)]
mod tests;
