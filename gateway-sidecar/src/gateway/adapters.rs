//! From twilight's models to the tracker's and the directory's inputs: a voice state's flags,
//! a `GUILD_CREATE`'s seed, a `VOICE_STATE_UPDATE`'s change, members' names, channels and the
//! `@everyone` role, and which close codes are final.

use std::collections::BTreeSet;

use callstats_core::{Flags, GuildId, UserId};
use twilight_model::channel::permission_overwrite::PermissionOverwriteType;
use twilight_model::channel::{Channel, ChannelType};
use twilight_model::guild::{Guild, Member, Permissions};
use twilight_model::voice::VoiceState;

use crate::directory::{ChannelView, Overwrite, SeenMember, display_name};
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

/// A member's display name and bot-ness.
#[must_use]
pub fn seen_member(member: &Member) -> SeenMember {
    SeenMember {
        user: member.user.id,
        bot: member.user.bot,
        name: display_name(
            member.nick.as_deref(),
            member.user.global_name.as_deref(),
            &member.user.name,
        ),
    }
}

/// The members a `GUILD_CREATE` lists for its voice states (Discord includes them).
#[must_use]
pub fn voice_members_of(guild: &Guild) -> Vec<SeenMember> {
    let in_voice: BTreeSet<UserId> = guild
        .voice_states
        .iter()
        .filter(|s| s.channel_id.is_some())
        .map(|s| s.user_id)
        .collect();
    guild
        .members
        .iter()
        .filter(|m| in_voice.contains(&m.user.id))
        .map(seen_member)
        .collect()
}

/// The permissions of a server's `@everyone` role (the role whose id is the server's), if the
/// payload lists it.
#[must_use]
pub fn everyone_of(guild: &Guild) -> Option<Permissions> {
    guild
        .roles
        .iter()
        .find(|r| r.id.get() == guild.id.get())
        .map(|r| r.permissions)
}

/// A channel of `guild` for the directory: whether members can be in it, and its permission
/// overwrite for `@everyone` (a role overwrite whose id is the server's).
#[must_use]
pub fn channel_view(channel: &Channel, guild: GuildId) -> ChannelView {
    let everyone = channel
        .permission_overwrites
        .iter()
        .flatten()
        .find(|o| o.kind == PermissionOverwriteType::Role && o.id.get() == guild.get())
        .map(|o| Overwrite {
            allow: o.allow,
            deny: o.deny,
        });
    ChannelView {
        id: channel.id,
        voice: matches!(
            channel.kind,
            ChannelType::GuildVoice | ChannelType::GuildStageVoice
        ),
        everyone,
    }
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

    #[test]
    fn guild_create_gives_names_of_members_in_voice_and_channels_everyone_views() {
        let mut json: serde_json::Value = serde_json::from_str(GUILD_CREATE).unwrap();
        // The AFK channel made private as Discord sends it; a text channel; a nickname.
        json["channels"][1]["permission_overwrites"] = serde_json::json!([
            { "id": "41771983423143937", "type": 0, "allow": "0", "deny": "1024" },
            { "id": "80351110224678912", "type": 1, "allow": "1024", "deny": "0" }
        ]);
        json["channels"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "id": "41771983444115456", "type": 0, "name": "general", "position": 2,
                "parent_id": null, "permission_overwrites": [], "flags": 0, "nsfw": false,
                "topic": null, "last_message_id": null, "rate_limit_per_user": 0
            }));
        let guild: Guild = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(
            everyone_of(&guild),
            Some(Permissions::from_bits_truncate(2_248_473_465_835_073))
        );
        let views: Vec<ChannelView> = guild
            .channels
            .iter()
            .map(|c| channel_view(c, guild.id))
            .collect();
        let deny = Some(Overwrite {
            allow: Permissions::empty(),
            deny: Permissions::VIEW_CHANNEL,
        });
        assert_eq!(
            views,
            [
                ChannelView {
                    id: Id::new(127_121_515_262_115_840),
                    voice: true,
                    everyone: None
                },
                ChannelView {
                    id: Id::new(155_101_607_195_836_416),
                    voice: true,
                    everyone: deny
                },
                ChannelView {
                    id: Id::new(41_771_983_444_115_456),
                    voice: false,
                    everyone: None
                },
            ]
        );
        let names: Vec<(u64, bool, String)> = voice_members_of(&guild)
            .into_iter()
            .map(|m| (m.user.get(), m.bot, m.name))
            .collect();
        assert_eq!(
            names,
            [
                (80_351_110_224_678_912, false, "Nelly".to_owned()),
                (155_149_108_183_695_360, true, "Dyno".to_owned()),
            ]
        );
        json["members"][0]["nick"] = "Nel".into();
        json["roles"][0]["id"] = "1".into();
        let guild: Guild = serde_json::from_value(json).unwrap();
        assert_eq!(voice_members_of(&guild)[0].name, "Nel");
        assert_eq!(everyone_of(&guild), None);
    }

    #[test]
    fn voice_state_update_member_gives_the_display_name() {
        let state: VoiceState = serde_json::from_str(VOICE_STATE_UPDATE).unwrap();
        let member = seen_member(state.member.as_ref().unwrap());
        assert_eq!(
            (member.user.get(), member.bot, member.name.as_str()),
            (80_351_110_224_678_912, false, "Nelly")
        );
    }
}
