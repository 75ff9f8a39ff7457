//! What a test tells the fake about a guild before or while clients are connected.

use std::collections::BTreeMap;
use twilight_model::id::{
    Id,
    marker::{ChannelMarker, GuildMarker, RoleMarker, UserMarker},
};

/// `VIEW_CHANNEL`, the permission bit that decides who sees a channel.
pub const VIEW_CHANNEL: u64 = 1 << 10;

/// Permissions of the `@everyone` role of a new Discord server (viewing channels, connecting,
/// speaking, sending messages and the like).
pub const DEFAULT_EVERYONE_PERMISSIONS: u64 = 2_248_473_465_835_073;

/// Whom a channel's permission overwrite is for.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum OverwriteTarget {
    /// The `@everyone` role (on the wire: a role overwrite whose id is the guild's).
    Everyone,
    /// Another role.
    Role(Id<RoleMarker>),
    /// One member.
    Member(Id<UserMarker>),
}

/// A channel's permission overwrite: permission bits allowed and denied for its target.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub struct Overwrite {
    /// Whom it is for.
    pub target: OverwriteTarget,
    /// Permission bits allowed.
    pub allow: u64,
    /// Permission bits denied.
    pub deny: u64,
}

/// Kind of a guild channel, limited to the ones a voice tracker cares about.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum ChannelKind {
    /// A text channel (Discord channel type 0); users cannot be in it.
    Text,
    /// A voice channel (type 2).
    Voice,
    /// A stage channel (type 13).
    Stage,
}

impl ChannelKind {
    /// Discord's numeric channel type.
    #[must_use]
    pub const fn wire_type(self) -> u8 {
        match self {
            Self::Text => 0,
            Self::Voice => 2,
            Self::Stage => 13,
        }
    }

    /// Whether users can be connected to a channel of this kind.
    #[must_use]
    pub const fn is_voice(self) -> bool {
        matches!(self, Self::Voice | Self::Stage)
    }
}

/// A channel of a guild.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ChannelSpec {
    /// Channel id.
    pub id: Id<ChannelMarker>,
    /// Display name.
    pub name: String,
    /// Text, voice or stage.
    pub kind: ChannelKind,
    /// Permission overwrites, in the order Discord lists them.
    pub overwrites: Vec<Overwrite>,
}

impl ChannelSpec {
    fn new(id: Id<ChannelMarker>, name: impl Into<String>, kind: ChannelKind) -> Self {
        Self {
            id,
            name: name.into(),
            kind,
            overwrites: Vec::new(),
        }
    }

    /// A voice channel.
    pub fn voice(id: Id<ChannelMarker>, name: impl Into<String>) -> Self {
        Self::new(id, name, ChannelKind::Voice)
    }

    /// A stage channel.
    pub fn stage(id: Id<ChannelMarker>, name: impl Into<String>) -> Self {
        Self::new(id, name, ChannelKind::Stage)
    }

    /// A text channel.
    pub fn text(id: Id<ChannelMarker>, name: impl Into<String>) -> Self {
        Self::new(id, name, ChannelKind::Text)
    }

    /// Adds a permission overwrite.
    #[must_use]
    pub fn overwrite(mut self, overwrite: Overwrite) -> Self {
        self.overwrites.push(overwrite);
        self
    }

    /// Makes the channel private as Discord's "private channel" switch does: `@everyone` is
    /// denied `VIEW_CHANNEL`, and `role` (say, moderators) is allowed it.
    #[must_use]
    pub fn private(self, role: Id<RoleMarker>) -> Self {
        self.overwrite(Overwrite {
            target: OverwriteTarget::Everyone,
            allow: 0,
            deny: VIEW_CHANNEL,
        })
        .overwrite(Overwrite {
            target: OverwriteTarget::Role(role),
            allow: VIEW_CHANNEL,
            deny: 0,
        })
    }

    /// Whether a member with no role but `@everyone` (whose permissions are `everyone`) can
    /// view the channel: the `@everyone` overwrite's denies, then its allows, applied to them.
    #[must_use]
    pub fn everyone_can_view(&self, everyone: u64) -> bool {
        const ADMINISTRATOR: u64 = 1 << 3;
        if everyone & ADMINISTRATOR != 0 {
            return true;
        }
        let permissions = self
            .overwrites
            .iter()
            .filter(|o| o.target == OverwriteTarget::Everyone)
            .fold(everyone, |p, o| (p & !o.deny) | o.allow);
        permissions & VIEW_CHANNEL != 0
    }
}

/// The mute, deafen, stream and video flags of a voice state, named as Discord names them.
///
/// `mute`, `deaf` and `suppress` are set by the server (moderators, stage audience); the `self_`
/// ones by the user.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
#[allow(clippy::struct_excessive_bools)] // one bool per Discord field keeps the mapping obvious
pub struct VoiceFlags {
    /// The user muted themself.
    pub self_mute: bool,
    /// The user deafened themself.
    pub self_deaf: bool,
    /// A moderator muted the user.
    pub mute: bool,
    /// A moderator deafened the user.
    pub deaf: bool,
    /// The user is streaming ("Go Live").
    pub self_stream: bool,
    /// The user's camera is on.
    pub self_video: bool,
    /// The user may not speak (stage audience, or no permission).
    pub suppress: bool,
}

/// A user connected to a voice channel when the guild is added.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct VoiceMember {
    /// The user.
    pub user: Id<UserMarker>,
    /// The voice or stage channel they are in.
    pub channel: Id<ChannelMarker>,
    /// Their voice flags.
    pub flags: VoiceFlags,
    /// Whether the user is a bot account (sent as `member.user.bot`).
    pub bot: bool,
}

impl VoiceMember {
    /// A human user in `channel` with no flags set.
    #[must_use]
    pub const fn new(user: Id<UserMarker>, channel: Id<ChannelMarker>) -> Self {
        Self {
            user,
            channel,
            flags: VoiceFlags {
                self_mute: false,
                self_deaf: false,
                mute: false,
                deaf: false,
                self_stream: false,
                self_video: false,
                suppress: false,
            },
            bot: false,
        }
    }

    /// Marks the user as a bot account.
    #[must_use]
    pub const fn bot(mut self) -> Self {
        self.bot = true;
        self
    }

    /// Sets the voice flags.
    #[must_use]
    pub const fn flags(mut self, flags: VoiceFlags) -> Self {
        self.flags = flags;
        self
    }
}

/// A guild as the fake serves it: identity, channels and who is in voice.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct GuildSpec {
    /// Guild id; decides the shard: `(id >> 22) % shard_count`.
    pub id: Id<GuildMarker>,
    /// Guild name.
    pub name: String,
    /// The AFK channel, if the guild has one (must be one of `channels`).
    pub afk_channel: Option<Id<ChannelMarker>>,
    /// Seconds of inactivity before Discord moves a user to the AFK channel.
    pub afk_timeout: u16,
    /// Channels of the guild.
    pub channels: Vec<ChannelSpec>,
    /// Users in voice when the guild is added.
    pub voice: Vec<VoiceMember>,
    /// `member_count` to announce; by default the number of users in voice plus the bot.
    pub member_count: Option<u64>,
    /// Owner of the guild; by default a fixed user that is never in voice.
    pub owner: Option<Id<UserMarker>>,
    /// Permission bits of the `@everyone` role ([`DEFAULT_EVERYONE_PERMISSIONS`] by default).
    pub everyone_permissions: u64,
    /// Members' nicknames in this guild.
    pub nicknames: BTreeMap<Id<UserMarker>, String>,
}

impl GuildSpec {
    /// A guild with no channels, nobody in voice and a 300 s AFK timeout.
    pub fn new(id: Id<GuildMarker>, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
            afk_channel: None,
            afk_timeout: 300,
            channels: Vec::new(),
            voice: Vec::new(),
            member_count: None,
            owner: None,
            everyone_permissions: DEFAULT_EVERYONE_PERMISSIONS,
            nicknames: BTreeMap::new(),
        }
    }

    /// Sets the permission bits of the `@everyone` role.
    #[must_use]
    pub const fn everyone_permissions(mut self, permissions: u64) -> Self {
        self.everyone_permissions = permissions;
        self
    }

    /// Gives a member a nickname in this guild.
    #[must_use]
    pub fn nickname(mut self, user: Id<UserMarker>, nick: impl Into<String>) -> Self {
        self.nicknames.insert(user, nick.into());
        self
    }

    /// Adds a channel.
    #[must_use]
    pub fn channel(mut self, channel: ChannelSpec) -> Self {
        self.channels.push(channel);
        self
    }

    /// Sets the AFK channel and timeout in seconds.
    #[must_use]
    pub const fn afk(mut self, channel: Id<ChannelMarker>, timeout_secs: u16) -> Self {
        self.afk_channel = Some(channel);
        self.afk_timeout = timeout_secs;
        self
    }

    /// Adds a user who is in voice when the guild is added.
    #[must_use]
    pub fn voice_member(mut self, member: VoiceMember) -> Self {
        self.voice.push(member);
        self
    }

    /// Sets the announced member count.
    #[must_use]
    pub const fn member_count(mut self, count: u64) -> Self {
        self.member_count = Some(count);
        self
    }

    /// A generated guild for load tests: a text channel, `voice_channels` voice channels
    /// (the last one also the AFK channel) and `in_voice` users spread over them, every tenth
    /// one a bot.
    ///
    /// Ids are derived from `index` so that guilds spread evenly over shards and users of
    /// different guilds never collide: guild `index` gets id `(index + 1) << 22 | 1`, its
    /// channels and users ids above `10^15 + index * 10^6`.
    #[must_use]
    pub fn synthetic(index: u64, voice_channels: u64, in_voice: u64) -> Self {
        let base = 1_000_000_000_000_000 + index * 1_000_000;
        let guild = Id::new(((index + 1) << 22) | 1);
        let channel = |n: u64| Id::new(base + 1 + n);
        let mut spec = Self::new(guild, format!("guild {index}"))
            .channel(ChannelSpec::text(channel(0), "general"));
        let voice_channels = voice_channels.max(1);
        for n in 1..=voice_channels {
            spec = spec.channel(ChannelSpec::voice(channel(n), format!("voice {n}")));
        }
        spec = spec.afk(channel(voice_channels), 300);
        for n in 0..in_voice {
            let member =
                VoiceMember::new(Id::new(base + 1_000 + n), channel(1 + n % voice_channels));
            spec = spec.voice_member(if n % 10 == 9 { member.bot() } else { member });
        }
        spec
    }
}

/// Names and bot-ness of a user; users are global, like on Discord.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct UserSpec {
    /// Username.
    pub name: String,
    /// Global display name, if the user set one.
    pub global_name: Option<String>,
    /// Whether the account is a bot.
    pub bot: bool,
}

impl UserSpec {
    /// A human with this username and no global name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            global_name: None,
            bot: false,
        }
    }

    /// Sets the global display name.
    #[must_use]
    pub fn global_name(mut self, name: impl Into<String>) -> Self {
        self.global_name = Some(name.into());
        self
    }

    /// Marks the account as a bot.
    #[must_use]
    pub const fn bot(mut self) -> Self {
        self.bot = true;
        self
    }
}
