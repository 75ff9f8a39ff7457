//! From twilight's models to the tracker's inputs: a voice state's flags, a `GUILD_CREATE`'s
//! seed, a `VOICE_STATE_UPDATE`'s change, and which close codes are final.

use std::collections::BTreeSet;

use callstats_core::{Flags, UserId};
use twilight_model::guild::Guild;
use twilight_model::voice::VoiceState;

use crate::tracker::{GuildSeed, VoiceChange, VoiceMember};

/// A member's own flags from a voice state: muted = self-muted, server-muted or suppressed
/// (stage audience); deafened = self- or server-deafened.
#[must_use]
pub fn flags_of(state: &VoiceState) -> Flags {
    Flags::NONE
        .with(
            Flags::MUTED,
            state.self_mute || state.mute || state.suppress,
        )
        .with(Flags::DEAFENED, state.self_deaf || state.deaf)
        .with(Flags::STREAMING, state.self_stream)
        .with(Flags::VIDEO, state.self_video)
}

/// What the tracker needs from a `GUILD_CREATE`. Voice states in it carry no member, so
/// bot-ness comes from the guild's member list (Discord includes the members in voice); a
/// member missing from it counts as human.
#[must_use]
pub fn seed_of(guild: &Guild) -> GuildSeed {
    let bots: BTreeSet<UserId> = guild
        .members
        .iter()
        .filter(|m| m.user.bot)
        .map(|m| m.user.id)
        .collect();
    GuildSeed {
        guild: guild.id,
        afk: guild.afk_channel_id,
        voice: guild
            .voice_states
            .iter()
            .filter_map(|state| {
                let bot = bots.contains(&state.user_id)
                    || state.member.as_ref().is_some_and(|m| m.user.bot);
                state.channel_id.map(|channel| VoiceMember {
                    user: state.user_id,
                    channel,
                    bot,
                    flags: flags_of(state),
                })
            })
            .collect(),
    }
}

/// What the tracker needs from a `VOICE_STATE_UPDATE`; `None` without a guild (a call outside
/// any guild, which is never tracked).
#[must_use]
pub fn change_of(state: &VoiceState) -> Option<VoiceChange> {
    Some(VoiceChange {
        guild: state.guild_id?,
        user: state.user_id,
        channel: state.channel_id,
        bot: state.member.as_ref().is_some_and(|m| m.user.bot),
        flags: flags_of(state),
    })
}

pub(super) fn fatal_reason(code: Option<u16>) -> &'static str {
    match code {
        Some(4004) => "authentication failed; check DISCORD_TOKEN",
        Some(4010) => "invalid shard; check CALLSTATS_SHARDS",
        Some(4011) => "sharding required; leave CALLSTATS_SHARDS unset or raise it",
        Some(4012) => "invalid API version",
        Some(4013) => "invalid intents",
        Some(4014) => "disallowed intents",
        _ => "the gateway ended the connection for good",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twilight_model::id::Id;

    const GUILD_CREATE: &str = include_str!("../../tests/fixtures/guild_create.json");
    const VOICE_STATE_UPDATE: &str = include_str!("../../tests/fixtures/voice_state_update.json");

    #[test]
    fn flags_follow_discord_fields() {
        type Set = fn(&mut VoiceState);
        let state: VoiceState = serde_json::from_str(VOICE_STATE_UPDATE).unwrap();
        assert_eq!(flags_of(&state), Flags::NONE);
        let set: [(Set, Flags); 7] = [
            (|s| s.self_mute = true, Flags::MUTED),
            (|s| s.mute = true, Flags::MUTED),
            (|s| s.suppress = true, Flags::MUTED),
            (|s| s.self_deaf = true, Flags::DEAFENED),
            (|s| s.deaf = true, Flags::DEAFENED),
            (|s| s.self_stream = true, Flags::STREAMING),
            (|s| s.self_video = true, Flags::VIDEO),
        ];
        for (change, flag) in set {
            let mut s = state.clone();
            change(&mut s);
            assert_eq!(flags_of(&s), flag);
        }
    }

    #[test]
    fn voice_state_update_becomes_a_change() {
        let state: VoiceState = serde_json::from_str(VOICE_STATE_UPDATE).unwrap();
        let change = change_of(&state).unwrap();
        assert_eq!(change.guild, Id::new(41_771_983_423_143_937));
        assert_eq!(change.user, Id::new(80_351_110_224_678_912));
        assert_eq!(change.channel, Some(Id::new(127_121_515_262_115_840)));
        assert!(!change.bot);
        let mut left = state.clone();
        left.channel_id = None;
        assert_eq!(change_of(&left).unwrap().channel, None);
        left.guild_id = None;
        assert!(change_of(&left).is_none());
    }

    #[test]
    fn guild_create_becomes_a_seed_with_bots_known() {
        let guild: Guild = serde_json::from_str(GUILD_CREATE).unwrap();
        let seed = seed_of(&guild);
        assert_eq!(seed.guild, Id::new(41_771_983_423_143_937));
        assert_eq!(seed.afk, Some(Id::new(155_101_607_195_836_416)));
        let voice: Vec<(u64, u64, bool, Flags)> = seed
            .voice
            .iter()
            .map(|m| (m.user.get(), m.channel.get(), m.bot, m.flags))
            .collect();
        assert_eq!(
            voice,
            [
                (
                    80_351_110_224_678_912,
                    127_121_515_262_115_840,
                    false,
                    Flags::MUTED
                ),
                (
                    155_149_108_183_695_360,
                    127_121_515_262_115_840,
                    true,
                    Flags::NONE
                ),
            ]
        );
    }
}
