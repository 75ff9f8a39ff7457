//! Errors of the fake gateway's control API. Misbehaving clients never cause one: they are
//! recorded and their connection is closed.

use std::{io, time::Duration};
use twilight_model::{
    gateway::ShardId,
    id::{
        Id,
        marker::{ChannelMarker, GuildMarker},
    },
};

/// Why a control call or a wait failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Binding the listener failed (address in use, not local, no permission).
    #[error("binding the fake gateway's listener failed")]
    Bind(#[source] io::Error),
    /// A wait gave up before its condition held.
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: &'static str,
        /// How long the wait lasted.
        waited: Duration,
    },
    /// No guild with this id was added (or it was deleted).
    #[error("unknown guild {0}")]
    UnknownGuild(Id<GuildMarker>),
    /// A guild with this id already exists.
    #[error("guild {0} already exists")]
    GuildExists(Id<GuildMarker>),
    /// The channel is not a voice or stage channel of the guild.
    #[error("channel {channel} is not a voice or stage channel of guild {guild}")]
    NotVoiceChannel {
        /// The guild.
        guild: Id<GuildMarker>,
        /// The channel asked for.
        channel: Id<ChannelMarker>,
    },
    /// The guild has no channel with this id.
    #[error("guild {guild} has no channel {channel}")]
    UnknownChannel {
        /// The guild.
        guild: Id<GuildMarker>,
        /// The channel asked for.
        channel: Id<ChannelMarker>,
    },
    /// A channel's kind (text, voice, stage) cannot change.
    #[error("channel {channel} of guild {guild} cannot change its kind")]
    ChannelKind {
        /// The guild.
        guild: Id<GuildMarker>,
        /// The channel.
        channel: Id<ChannelMarker>,
    },
    /// The guild's AFK channel cannot be deleted.
    #[error("channel {channel} is the AFK channel of guild {guild}")]
    AfkChannel {
        /// The guild.
        guild: Id<GuildMarker>,
        /// The channel.
        channel: Id<ChannelMarker>,
    },
    /// No resumable session's shard covers this guild.
    #[error("no session serves guild {0}")]
    NoOwner(Id<GuildMarker>),
    /// No resumable session was identified for this shard.
    #[error("no session for shard {0}")]
    NoSession(ShardId),
    /// The shard's session has no open connection to act on.
    #[error("the session of shard {0} has no open connection")]
    NotConnected(ShardId),
    /// The code cannot be sent in a close frame (reserved or out of range).
    #[error("close code {0} cannot be sent")]
    InvalidCloseCode(u16),
    /// Dispatch event names are upper-case ASCII letters, digits and underscores.
    #[error("invalid dispatch event name {0:?}")]
    InvalidEventName(String),
    /// The fake gateway was shut down.
    #[error("the fake gateway was shut down")]
    Shutdown,
}
