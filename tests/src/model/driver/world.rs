//! What scenarios are made of: the ids of guilds, channels, members and bots, the timezones,
//! the instants a scenario starts at, and random voice flags.

use callstats_core::{ChannelId, GuildId, Timestamp, UserId};
use callstats_fake_gateway::VoiceFlags;
use chrono_tz::Tz;
use twilight_model::id::Id;

use crate::model::oracle::DiscordFlags;
use crate::model::rng::Rng;

pub(super) fn guild(n: u64) -> GuildId {
    Id::new((n << 22) | 7)
}

pub(super) fn chan(guild_n: u64, n: u64) -> ChannelId {
    Id::new(guild_n * 100 + n)
}

pub(super) fn human(n: u64) -> UserId {
    Id::new(50_000 + n)
}

pub(super) fn opted_out() -> UserId {
    Id::new(50_100)
}

pub(super) fn bot(n: u64) -> UserId {
    Id::new(50_200 + n)
}

pub(super) const VOICE_A: u64 = 1;
pub(super) const VOICE_B: u64 = 2;
pub(super) const STAGE: u64 = 3;
pub(super) const AFK: u64 = 4;
pub(super) const TEXT: u64 = 5;

pub(super) const ZONES: [Tz; 7] = [
    Tz::UTC,
    chrono_tz::Europe::Berlin,
    chrono_tz::America::New_York,
    chrono_tz::Asia::Kolkata,
    chrono_tz::Asia::Kathmandu,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Pacific::Chatham,
];

/// Instants near calendar edges: month and year ends, ISO week 53, daylight-saving changes.
pub(super) fn start_instant(rng: &mut Rng) -> Timestamp {
    let starts = [
        crate::time::at(2026, 11, 26, 10, 0, 0),
        crate::time::at(2026, 12, 31, 20, 30, 0),
        crate::time::at(2026, 3, 29, 0, 15, 0),
        crate::time::at(2026, 10, 25, 0, 0, 0),
        crate::time::at(2026, 11, 1, 4, 0, 0),
        crate::time::at(2026, 4, 30, 22, 0, 0),
        crate::time::at(2027, 1, 3, 21, 0, 0),
        crate::time::at(2026, 4, 5, 14, 0, 0),
    ];
    starts[rng.below(starts.len() as u64) as usize].plus(rng.below(7200))
}

pub(super) fn to_voice_flags(f: DiscordFlags) -> VoiceFlags {
    VoiceFlags {
        self_mute: f.self_mute,
        self_deaf: f.self_deaf,
        mute: f.mute,
        deaf: f.deaf,
        self_stream: f.self_stream,
        self_video: f.self_video,
        suppress: f.suppress,
    }
}

pub(super) fn random_flags(rng: &mut Rng) -> DiscordFlags {
    let mut f = DiscordFlags::default();
    if rng.chance(0.5) {
        return f;
    }
    flip(rng, &mut f);
    if rng.chance(0.3) {
        flip(rng, &mut f);
    }
    f
}

pub(super) fn flip(rng: &mut Rng, f: &mut DiscordFlags) {
    match rng.below(7) {
        0 => f.self_mute ^= true,
        1 => f.self_deaf ^= true,
        2 => f.mute ^= true,
        3 => f.deaf ^= true,
        4 => f.self_stream ^= true,
        5 => f.self_video ^= true,
        _ => f.suppress ^= true,
    }
}
