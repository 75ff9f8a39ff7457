//! Guilds, users and who is in voice where, and the `GUILD_CREATE`, `GUILD_DELETE` and
//! `VOICE_STATE_UPDATE` dispatches their changes make.

use super::{Delivery, Guild, State, Voice};
use crate::{
    error::Error,
    payload::{self, GuildView, UserView, VoiceView},
    spec::{GuildSpec, UserSpec, VoiceFlags},
};
use std::collections::BTreeMap;
use twilight_model::id::{
    Id,
    marker::{ChannelMarker, GuildMarker, UserMarker},
};

/// `GUILD_VOICE_STATES`: without it Discord sends no `VOICE_STATE_UPDATE`.
const INTENT_GUILD_VOICE_STATES: u64 = 1 << 7;

/// Owner of guilds whose spec names none.
const DEFAULT_OWNER: u64 = 80_351_110_224_678_912;

impl State {
    /// A user as members of `guild` show them (with their nickname there).
    pub(super) fn user_view(&self, guild: Id<GuildMarker>, id: Id<UserMarker>) -> UserView<'_> {
        let nick = self
            .guilds
            .get(&guild)
            .and_then(|g| g.nicknames.get(&id))
            .map(String::as_str);
        self.users.get(&id).map_or(
            UserView {
                id,
                name: "unknown",
                global_name: None,
                nick,
                bot: false,
            },
            |user| UserView {
                id,
                name: &user.name,
                global_name: user.global_name.as_deref(),
                nick,
                bot: user.bot,
            },
        )
    }

    fn ensure_user(&mut self, id: Id<UserMarker>, bot: bool) {
        self.users
            .entry(id)
            .and_modify(|u| u.bot = bot)
            .or_insert_with(|| UserSpec {
                bot,
                ..UserSpec::new(format!("user{id}"))
            });
    }

    pub(crate) fn set_user(&mut self, id: Id<UserMarker>, user: UserSpec) {
        self.users.insert(id, user);
    }

    pub(crate) fn set_user_bot(&mut self, id: Id<UserMarker>, bot: bool) {
        self.ensure_user(id, bot);
    }

    pub(super) fn guild_create_data(&self, id: Id<GuildMarker>, large_threshold: u64) -> String {
        let Some(guild) = self.guilds.get(&id) else {
            return payload::unavailable_guild(id);
        };
        if !guild.available {
            return payload::unavailable_guild(id);
        }
        let voice: Vec<VoiceView<'_>> = guild
            .voice
            .iter()
            .map(|(&user, voice)| VoiceView {
                user: self.user_view(id, user),
                channel: Some(voice.channel),
                flags: voice.flags,
                session_id: &voice.session_id,
            })
            .collect();
        let member_count = guild.member_count.unwrap_or(voice.len() as u64 + 1).max(1);
        let view = GuildView {
            id,
            name: &guild.name,
            owner: guild.owner,
            afk_channel: guild.afk_channel,
            afk_timeout: guild.afk_timeout,
            channels: &guild.channels,
            everyone_permissions: guild.everyone_permissions,
            member_count,
            voice,
        };
        let bot = UserView {
            id: self.options.bot.user_id,
            name: &self.options.bot.name,
            global_name: None,
            nick: None,
            bot: true,
        };
        payload::guild_create(&view, bot, large_threshold)
    }

    pub(crate) fn add_guild(&mut self, spec: GuildSpec) -> Result<Delivery, Error> {
        if self.guilds.contains_key(&spec.id) {
            return Err(Error::GuildExists(spec.id));
        }
        for member in &spec.voice {
            let is_voice = spec
                .channels
                .iter()
                .any(|c| c.id == member.channel && c.kind.is_voice());
            if !is_voice {
                return Err(Error::NotVoiceChannel {
                    guild: spec.id,
                    channel: member.channel,
                });
            }
        }
        let mut voice = BTreeMap::new();
        for member in spec.voice {
            self.ensure_user(member.user, member.bot);
            let session_id = self.random_id();
            voice.insert(
                member.user,
                Voice {
                    channel: member.channel,
                    flags: member.flags,
                    session_id,
                },
            );
        }
        let id = spec.id;
        self.guilds.insert(
            id,
            Guild {
                name: spec.name,
                owner: spec.owner.unwrap_or(Id::new(DEFAULT_OWNER)),
                afk_channel: spec.afk_channel,
                afk_timeout: spec.afk_timeout,
                channels: spec.channels,
                everyone_permissions: spec.everyone_permissions,
                nicknames: spec.nicknames,
                member_count: spec.member_count,
                voice,
                available: true,
            },
        );
        Ok(self.dispatch_guild_create(id))
    }

    pub(crate) fn guild_delete(
        &mut self,
        id: Id<GuildMarker>,
        unavailable: bool,
    ) -> Result<Delivery, Error> {
        let guild = self.guilds.get_mut(&id).ok_or(Error::UnknownGuild(id))?;
        if unavailable {
            if !guild.available {
                return Ok(Delivery::Unchanged);
            }
            guild.available = false;
        }
        let data = payload::guild_delete(id, unavailable);
        let delivery = self.dispatch_guild(id, "GUILD_DELETE", None, |_, _| data);
        if !unavailable {
            self.guilds.remove(&id);
        }
        Ok(delivery)
    }

    pub(crate) fn guild_create_again(&mut self, id: Id<GuildMarker>) -> Result<Delivery, Error> {
        let guild = self.guilds.get_mut(&id).ok_or(Error::UnknownGuild(id))?;
        guild.available = true;
        Ok(self.dispatch_guild_create(id))
    }

    /// The guild as it is now, to the session owning it.
    fn dispatch_guild_create(&mut self, id: Id<GuildMarker>) -> Delivery {
        self.dispatch_guild(id, "GUILD_CREATE", None, |state, threshold| {
            state.guild_create_data(id, threshold)
        })
    }

    pub(crate) fn voice_update(
        &mut self,
        guild_id: Id<GuildMarker>,
        user: Id<UserMarker>,
        channel: Option<Id<ChannelMarker>>,
        flags: VoiceFlags,
    ) -> Result<Delivery, Error> {
        let guild = self
            .guilds
            .get(&guild_id)
            .ok_or(Error::UnknownGuild(guild_id))?;
        if let Some(channel) = channel
            && !guild
                .channels
                .iter()
                .any(|c| c.id == channel && c.kind.is_voice())
        {
            return Err(Error::NotVoiceChannel {
                guild: guild_id,
                channel,
            });
        }
        let available = guild.available;
        let previous = guild.voice.get(&user).map(|v| v.session_id.clone());
        let session_id = match (channel, previous) {
            (None, None) => return Ok(Delivery::Unchanged),
            (_, Some(previous)) => previous,
            (Some(_), None) => self.random_id(),
        };
        if !self.users.contains_key(&user) {
            self.ensure_user(user, false);
        }
        let Some(guild) = self.guilds.get_mut(&guild_id) else {
            return Err(Error::UnknownGuild(guild_id));
        };
        match channel {
            Some(channel) => {
                guild.voice.insert(
                    user,
                    Voice {
                        channel,
                        flags,
                        session_id: session_id.clone(),
                    },
                );
            }
            None => {
                guild.voice.remove(&user);
            }
        }
        if !available {
            return Ok(Delivery::NotDispatched);
        }
        Ok(self.dispatch_guild(
            guild_id,
            "VOICE_STATE_UPDATE",
            Some(INTENT_GUILD_VOICE_STATES),
            |state, _| {
                let view = VoiceView {
                    user: state.user_view(guild_id, user),
                    channel,
                    flags,
                    session_id: &session_id,
                };
                payload::voice_state_update(guild_id, &view)
            },
        ))
    }

    /// The voice channel and flags of a user, as the model has them now.
    pub(crate) fn voice_of(
        &self,
        guild: Id<GuildMarker>,
        user: Id<UserMarker>,
    ) -> Option<(Id<ChannelMarker>, VoiceFlags)> {
        let voice = self.guilds.get(&guild)?.voice.get(&user)?;
        Some((voice.channel, voice.flags))
    }
}
