//! Channels, the `@everyone` role and nicknames changing while clients are connected, and the
//! `CHANNEL_CREATE`, `CHANNEL_UPDATE`, `CHANNEL_DELETE` and `GUILD_ROLE_UPDATE` dispatches that
//! follow.

use super::{Delivery, State};
use crate::{error::Error, payload, spec::ChannelSpec};
use twilight_model::id::{
    Id,
    marker::{ChannelMarker, GuildMarker, UserMarker},
};

/// `GUILDS`: channel and role events come with it.
const INTENT_GUILDS: u64 = 1;

impl State {
    /// Creates the channel (`CHANNEL_CREATE`) or replaces the one with its id
    /// (`CHANNEL_UPDATE`), as a moderator editing its name or permissions would. A channel's
    /// kind cannot change, as on Discord.
    pub(crate) fn put_channel(
        &mut self,
        guild_id: Id<GuildMarker>,
        spec: ChannelSpec,
    ) -> Result<Delivery, Error> {
        let guild = self
            .guilds
            .get_mut(&guild_id)
            .ok_or(Error::UnknownGuild(guild_id))?;
        let existing = guild.channels.iter().position(|c| c.id == spec.id);
        let position = existing.unwrap_or(guild.channels.len());
        let data = payload::channel_event(guild_id, &spec, position);
        let event = match existing {
            Some(i) if guild.channels[i].kind != spec.kind => {
                return Err(Error::ChannelKind {
                    guild: guild_id,
                    channel: spec.id,
                });
            }
            Some(i) => {
                guild.channels[i] = spec;
                "CHANNEL_UPDATE"
            }
            None => {
                guild.channels.push(spec);
                "CHANNEL_CREATE"
            }
        };
        if !guild.available {
            return Ok(Delivery::NotDispatched);
        }
        Ok(self.dispatch_guild(guild_id, event, Some(INTENT_GUILDS), |_, _| data))
    }

    /// Deletes a channel (`CHANNEL_DELETE`). Whoever is in it is disconnected first, each with
    /// a `VOICE_STATE_UPDATE`, as on Discord. The AFK channel cannot be deleted here.
    pub(crate) fn delete_channel(
        &mut self,
        guild_id: Id<GuildMarker>,
        channel: Id<ChannelMarker>,
    ) -> Result<Delivery, Error> {
        let guild = self
            .guilds
            .get(&guild_id)
            .ok_or(Error::UnknownGuild(guild_id))?;
        let unknown = Error::UnknownChannel {
            guild: guild_id,
            channel,
        };
        let position = guild
            .channels
            .iter()
            .position(|c| c.id == channel)
            .ok_or(unknown)?;
        if guild.afk_channel == Some(channel) {
            return Err(Error::AfkChannel {
                guild: guild_id,
                channel,
            });
        }
        let inside: Vec<Id<UserMarker>> = guild
            .voice
            .iter()
            .filter(|(_, v)| v.channel == channel)
            .map(|(u, _)| *u)
            .collect();
        for user in inside {
            self.voice_update(guild_id, user, None, crate::VoiceFlags::default())?;
        }
        let Some(guild) = self.guilds.get_mut(&guild_id) else {
            return Err(Error::UnknownGuild(guild_id));
        };
        let spec = guild.channels.remove(position);
        if !guild.available {
            return Ok(Delivery::NotDispatched);
        }
        Ok(
            self.dispatch_guild(guild_id, "CHANNEL_DELETE", Some(INTENT_GUILDS), |_, _| {
                payload::channel_event(guild_id, &spec, position)
            }),
        )
    }

    /// Sets the `@everyone` role's permission bits (`GUILD_ROLE_UPDATE`).
    pub(crate) fn set_everyone_permissions(
        &mut self,
        guild_id: Id<GuildMarker>,
        permissions: u64,
    ) -> Result<Delivery, Error> {
        let guild = self
            .guilds
            .get_mut(&guild_id)
            .ok_or(Error::UnknownGuild(guild_id))?;
        guild.everyone_permissions = permissions;
        if !guild.available {
            return Ok(Delivery::NotDispatched);
        }
        Ok(self.dispatch_guild(
            guild_id,
            "GUILD_ROLE_UPDATE",
            Some(INTENT_GUILDS),
            |_, _| payload::everyone_role_update(guild_id, permissions),
        ))
    }

    /// Sets or clears a member's nickname in a guild. Nothing is dispatched (Discord sends
    /// `GUILD_MEMBER_UPDATE` only with the privileged `GUILD_MEMBERS` intent); the member's
    /// next `VOICE_STATE_UPDATE` and the next `GUILD_CREATE` carry it.
    pub(crate) fn set_nickname(
        &mut self,
        guild_id: Id<GuildMarker>,
        user: Id<UserMarker>,
        nick: Option<String>,
    ) -> Result<(), Error> {
        let guild = self
            .guilds
            .get_mut(&guild_id)
            .ok_or(Error::UnknownGuild(guild_id))?;
        match nick {
            Some(nick) => guild.nicknames.insert(user, nick),
            None => guild.nicknames.remove(&user),
        };
        Ok(())
    }
}
