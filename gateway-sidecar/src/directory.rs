//! The server directory: what the sidecar learns about a server besides voice, for the boards
//! and the server view: each member's display name as last seen in voice, and the voice and
//! stage channels everyone in the server can view.
//!
//! Pure, like the tracker: events in, [`DirectoryWrite`]s out, with the instant as an argument;
//! the shard loop hands the writes to a task of their own so it never waits for the store. The
//! rules are `docs/behaviour.md`, "Names and public channels".
//!
//! # Names
//!
//! A member's name is their guild nickname, else their global name, else their username
//! ([`display_name`]), from the members a `GUILD_CREATE` lists for its voice states and the
//! `member` of each `VOICE_STATE_UPDATE`. A name is written when it differs from what this
//! process last wrote for the member, and only once the store is known to record the member's
//! time: the tracker accounts a session of theirs that the store did not refuse, and no start
//! of theirs is still on its way to the store (an opted-out member's start is refused there,
//! so their name waits for an outcome that never comes). Bots are never named. A name seen
//! before it may be written is kept and written when the member's start is recorded.
//!
//! # Public channels
//!
//! A voice or stage channel everyone can view is one a member with no role but `@everyone`
//! can view ([`everyone_can_view`]). The list is computed from a `GUILD_CREATE` (channels and
//! the `@everyone` role) and kept up to date with channel events and updates of the
//! `@everyone` role; it is written whenever it changes. Events for a server whose
//! `GUILD_CREATE` this process has not seen are ignored (its `@everyone` permissions are
//! unknown).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use callstats_core::{ChannelId, GuildId, SessionId, Timestamp, UserId};
use twilight_model::guild::Permissions;

/// A write the directory asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectoryWrite {
    /// The member's display name in the server.
    Name {
        guild: GuildId,
        user: UserId,
        name: String,
    },
    /// The server's voice and stage channels everyone can view, in id order.
    PublicChannels {
        guild: GuildId,
        channels: Vec<ChannelId>,
    },
}

/// What a channel's permission overwrite for `@everyone` allows and denies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overwrite {
    pub allow: Permissions,
    pub deny: Permissions,
}

/// A server channel as far as the directory cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelView {
    pub id: ChannelId,
    /// A voice or stage channel (members can be in it).
    pub voice: bool,
    /// Its permission overwrite for `@everyone`, if it has one.
    pub everyone: Option<Overwrite>,
}

/// A member as a `GUILD_CREATE` or a voice state shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenMember {
    pub user: UserId,
    pub bot: bool,
    /// Their display name ([`display_name`]).
    pub name: String,
}

/// The name a server shows for a member: the guild nickname, else the global name, else the
/// username (an empty one counts as absent).
#[must_use]
pub fn display_name(nick: Option<&str>, global_name: Option<&str>, username: &str) -> String {
    [nick, global_name]
        .into_iter()
        .flatten()
        .find(|n| !n.is_empty())
        .unwrap_or(username)
        .to_owned()
}

/// Whether a member with no role but `@everyone` can view a channel, by Discord's order of
/// permissions: the `@everyone` role's permissions (everything with ADMINISTRATOR, which
/// overwrites do not touch), then the channel's overwrite for `@everyone`: its denies removed,
/// then its allows added.
#[must_use]
pub fn everyone_can_view(everyone: Permissions, overwrite: Option<Overwrite>) -> bool {
    if everyone.contains(Permissions::ADMINISTRATOR) {
        return true;
    }
    let permissions = overwrite.map_or(everyone, |o| everyone.difference(o.deny).union(o.allow));
    permissions.contains(Permissions::VIEW_CHANNEL)
}

/// A member's name: the latest seen, and when this process wrote it (if it did).
#[derive(Clone, Debug)]
struct Name {
    latest: String,
    written_at: Option<Timestamp>,
}

#[derive(Clone, Debug, Default)]
struct GuildDirectory {
    /// Permissions of the `@everyone` role; unknown until a `GUILD_CREATE`.
    everyone: Option<Permissions>,
    /// Voice and stage channels with their `@everyone` overwrite.
    channels: BTreeMap<ChannelId, Option<Overwrite>>,
    /// The list this process last wrote.
    written_channels: Option<Vec<ChannelId>>,
    names: HashMap<UserId, Name>,
    /// Starts handed to the writer whose outcome has not come back.
    starting: HashMap<UserId, SessionId>,
}

impl GuildDirectory {
    /// The list of public channels when it differs from the one last written.
    fn channels_write(&mut self, guild: GuildId) -> Option<DirectoryWrite> {
        let everyone = self.everyone?;
        let public: Vec<ChannelId> = self
            .channels
            .iter()
            .filter(|(_, overwrite)| everyone_can_view(everyone, **overwrite))
            .map(|(id, _)| *id)
            .collect();
        if self.written_channels.as_ref() == Some(&public) {
            return None;
        }
        self.written_channels = Some(public.clone());
        Some(DirectoryWrite::PublicChannels {
            guild,
            channels: public,
        })
    }

    /// `user`'s name when it is waiting and may be written now.
    fn name_write(
        &mut self,
        guild: GuildId,
        user: UserId,
        recorded: bool,
        at: Timestamp,
    ) -> Option<DirectoryWrite> {
        if !recorded || self.starting.contains_key(&user) {
            return None;
        }
        let name = self.names.get_mut(&user)?;
        if name.written_at.is_some() {
            return None;
        }
        name.written_at = Some(at);
        Some(DirectoryWrite::Name {
            guild,
            user,
            name: name.latest.clone(),
        })
    }

    /// Notes `member`'s name (a bot's is not kept).
    fn note(&mut self, member: SeenMember) {
        if member.bot {
            return;
        }
        match self.names.get_mut(&member.user) {
            Some(name) if name.latest == member.name => {}
            Some(name) => {
                name.latest = member.name;
                name.written_at = None;
            }
            None => {
                self.names.insert(
                    member.user,
                    Name {
                        latest: member.name,
                        written_at: None,
                    },
                );
            }
        }
    }
}

/// Names and public channels of one shard's servers.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    guilds: HashMap<GuildId, GuildDirectory>,
}

impl Directory {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A `GUILD_CREATE` received at `at`: the `@everyone` role's permissions (`None` when the
    /// payload has no such role), the server's channels, and the members in voice.
    /// `recorded` tells whether the store records a member's time (the tracker's view).
    pub fn guild_create(
        &mut self,
        guild: GuildId,
        everyone: Option<Permissions>,
        channels: impl IntoIterator<Item = ChannelView>,
        members: impl IntoIterator<Item = SeenMember>,
        recorded: impl Fn(UserId) -> bool,
        at: Timestamp,
    ) -> Vec<DirectoryWrite> {
        let state = self.guilds.entry(guild).or_default();
        state.everyone = everyone;
        state.channels = channels
            .into_iter()
            .filter(|c| c.voice)
            .map(|c| (c.id, c.everyone))
            .collect();
        let mut out: Vec<DirectoryWrite> = state.channels_write(guild).into_iter().collect();
        for member in members {
            state.note(member);
        }
        out.extend(self.recheck(guild, recorded, at));
        out
    }

    /// Every name of `guild` that waits and may be written now (after the guild is reconciled
    /// with the store, which tells who opted out).
    pub fn recheck(
        &mut self,
        guild: GuildId,
        recorded: impl Fn(UserId) -> bool,
        at: Timestamp,
    ) -> Vec<DirectoryWrite> {
        let Some(state) = self.guilds.get_mut(&guild) else {
            return Vec::new();
        };
        let waiting: BTreeSet<UserId> = state
            .names
            .iter()
            .filter(|(_, n)| n.written_at.is_none())
            .map(|(u, _)| *u)
            .collect();
        waiting
            .into_iter()
            .filter_map(|user| state.name_write(guild, user, recorded(user), at))
            .collect()
    }

    /// A member seen in a voice state at `at`; `recorded` as in [`Self::guild_create`].
    pub fn seen(
        &mut self,
        guild: GuildId,
        member: SeenMember,
        recorded: bool,
        at: Timestamp,
    ) -> Option<DirectoryWrite> {
        let user = member.user;
        let state = self.guilds.entry(guild).or_default();
        state.note(member);
        state.name_write(guild, user, recorded, at)
    }

    /// A start of `user`'s session was handed to the writer: their name waits for its outcome.
    pub fn started(&mut self, guild: GuildId, user: UserId, session: SessionId) {
        self.guilds
            .entry(guild)
            .or_default()
            .starting
            .insert(user, session);
    }

    /// The session ended before its start's outcome came back (or with it in flight).
    pub fn ended(&mut self, guild: GuildId, user: UserId, session: SessionId) {
        if let Some(state) = self.guilds.get_mut(&guild)
            && state.starting.get(&user) == Some(&session)
        {
            state.starting.remove(&user);
        }
    }

    /// What the store did with a start: `recorded`, or refused. `is_recorded` is the tracker's
    /// view after it took the outcome in.
    pub fn start_outcome(
        &mut self,
        guild: GuildId,
        user: UserId,
        session: SessionId,
        is_recorded: bool,
        at: Timestamp,
    ) -> Option<DirectoryWrite> {
        let state = self.guilds.get_mut(&guild)?;
        if state.starting.get(&user) == Some(&session) {
            state.starting.remove(&user);
        }
        state.name_write(guild, user, is_recorded, at)
    }

    /// Privacy actions of `guild`'s members with when (a deletion removes their names): a name
    /// written before is written again when the member is next seen and recorded.
    pub fn privacy_actions(&mut self, guild: GuildId, actions: &[(UserId, Timestamp)]) {
        let Some(state) = self.guilds.get_mut(&guild) else {
            return;
        };
        for (user, at) in actions {
            if let Some(name) = state.names.get_mut(user)
                && name.written_at.is_some_and(|written| written <= *at)
            {
                name.written_at = None;
            }
        }
    }

    /// A channel created or updated. Ignored for a server this process has not seen.
    pub fn channel_changed(
        &mut self,
        guild: GuildId,
        channel: ChannelView,
    ) -> Option<DirectoryWrite> {
        let state = self.guilds.get_mut(&guild)?;
        if channel.voice {
            state.channels.insert(channel.id, channel.everyone);
        } else {
            state.channels.remove(&channel.id);
        }
        state.channels_write(guild)
    }

    /// A channel deleted.
    pub fn channel_deleted(
        &mut self,
        guild: GuildId,
        channel: ChannelId,
    ) -> Option<DirectoryWrite> {
        let state = self.guilds.get_mut(&guild)?;
        state.channels.remove(&channel);
        state.channels_write(guild)
    }

    /// The `@everyone` role's permissions changed.
    pub fn everyone_changed(
        &mut self,
        guild: GuildId,
        permissions: Permissions,
    ) -> Option<DirectoryWrite> {
        let state = self.guilds.get_mut(&guild)?;
        state.everyone = Some(permissions);
        state.channels_write(guild)
    }

    /// The bot left `guild`: forget it.
    pub fn remove_guild(&mut self, guild: GuildId) {
        self.guilds.remove(&guild);
    }

    /// Keeps only the servers `keep` accepts (those READY still lists).
    pub fn retain_guilds(&mut self, keep: impl Fn(GuildId) -> bool) {
        self.guilds.retain(|guild, _| keep(*guild));
    }
}

#[cfg(test)]
mod tests;
