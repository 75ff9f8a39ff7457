//! A private deployment's servers (`CALLSTATS_GUILDS`): what the shard loop lets through.
//!
//! Events of other servers are dropped before the tracker sees them, so nothing of theirs is
//! ever written. READY keeps only the served servers in its list: the shard waits for their
//! `GUILD_CREATE`s alone, and a server dropped from the list is treated like one the bot left
//! (its calls in progress end): at the next identify, or at start when the saved state is
//! resumed ([`forget_others`]).

use callstats_core::{GuildId, Timestamp};
use callstats_runtime::GuildAllowList;
use twilight_gateway::Event;

use crate::tracker::{SessionWrite, Tracker};

/// `event` as the tracker may see it, or `None` when it belongs to a server not served.
#[must_use]
pub fn admit(guilds: &GuildAllowList, event: Event) -> Option<Event> {
    if !guilds.is_restricted() {
        return Some(event);
    }
    match event {
        Event::Ready(mut ready) => {
            ready.guilds.retain(|g| guilds.allows(g.id));
            Some(Event::Ready(ready))
        }
        other => match guild_of(&other) {
            Some(guild) if !guilds.allows(guild) => None,
            _ => Some(other),
        },
    }
}

/// Ends what a restored tracker holds of servers not served: the allow-list may have changed
/// since its state was saved, and a resumed gateway session brings no READY to drop them.
pub fn forget_others(
    guilds: &GuildAllowList,
    tracker: &mut Tracker,
    now: Timestamp,
) -> Vec<SessionWrite> {
    let others: Vec<GuildId> = tracker.guilds().filter(|g| !guilds.allows(*g)).collect();
    others
        .into_iter()
        .flat_map(|guild| tracker.guild_removed(guild, now))
        .collect()
}

/// The server an event is about, for every event the sidecar reads (`gateway::WANTED`).
fn guild_of(event: &Event) -> Option<GuildId> {
    match event {
        Event::GuildCreate(created) => Some(created.id()),
        Event::GuildDelete(deleted) => Some(deleted.id),
        Event::GuildUpdate(update) => Some(update.id),
        Event::VoiceStateUpdate(update) => update.0.guild_id,
        Event::ChannelCreate(channel) => channel.0.guild_id,
        Event::ChannelUpdate(channel) => channel.0.guild_id,
        Event::ChannelDelete(channel) => channel.0.guild_id,
        Event::RoleUpdate(update) => Some(update.guild_id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twilight_model::gateway::payload::incoming::{GuildDelete, VoiceStateUpdate};
    use twilight_model::id::Id;

    fn delete(guild: u64) -> Event {
        Event::GuildDelete(GuildDelete {
            id: Id::new(guild),
            unavailable: Some(true),
        })
    }

    fn voice(guild: Option<u64>) -> Event {
        let state: twilight_model::voice::VoiceState = serde_json::from_value(serde_json::json!({
            "guild_id": guild.map(|g| g.to_string()),
            "channel_id": null, "user_id": "9", "session_id": "s",
            "deaf": false, "mute": false, "self_deaf": false, "self_mute": false,
            "self_video": false, "suppress": false, "request_to_speak_timestamp": null
        }))
        .expect("a voice state");
        Event::VoiceStateUpdate(Box::new(VoiceStateUpdate(state)))
    }

    fn channel_delete(guild: u64) -> Event {
        let channel: twilight_model::channel::Channel = serde_json::from_value(serde_json::json!({
            "id": "77", "type": 2, "guild_id": guild.to_string(), "name": "lounge",
            "position": 0, "permission_overwrites": []
        }))
        .expect("a channel");
        Event::ChannelDelete(Box::new(
            twilight_model::gateway::payload::incoming::ChannelDelete(channel),
        ))
    }

    #[test]
    fn only_served_servers_pass() {
        let only = GuildAllowList::only([Id::new(1)]);
        assert!(admit(&only, delete(1)).is_some());
        assert!(admit(&only, delete(2)).is_none());
        assert!(admit(&only, voice(Some(1))).is_some());
        assert!(admit(&only, voice(Some(2))).is_none());
        assert!(admit(&only, voice(None)).is_some());
        assert!(admit(&only, Event::Resumed).is_some());
        assert!(admit(&only, channel_delete(1)).is_some());
        assert!(admit(&only, channel_delete(2)).is_none());
        let everyone = GuildAllowList::everyone();
        assert!(admit(&everyone, delete(2)).is_some());
    }
}
