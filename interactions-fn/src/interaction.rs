//! From a verified body to typed, validated input: the interaction's kind, who sent it,
//! from where, and the data of its command or button.
//!
//! The `type` is read first, on its own: twilight-model's `Interaction` requires fields a
//! PING may lack, and a PING must be answered whatever else it carries.

use std::fmt;

use serde::Deserialize;
use twilight_model::application::interaction::application_command::CommandData;
use twilight_model::application::interaction::message_component::MessageComponentInteractionData;
use twilight_model::application::interaction::{Interaction, InteractionData, InteractionType};
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::InteractionMarker;
use twilight_model::user::User;

use callstats_core::ids::ApplicationId;
use callstats_core::{GuildId, Timestamp, UserId};

use crate::error::Notice;

/// An interaction token: lets whoever holds it edit the reply for 15 minutes, so it is never
/// logged or printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    #[must_use]
    pub fn new(token: String) -> Self {
        Self(token)
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// A member or user as a reply names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub id: UserId,
    /// Server nickname, else display name, else username.
    pub name: String,
    pub bot: bool,
}

impl Person {
    #[must_use]
    pub fn from_user(user: &User, nick: Option<&str>) -> Self {
        let name = nick
            .or(user.global_name.as_deref())
            .unwrap_or(&user.name)
            .to_owned();
        Self {
            id: user.id,
            name,
            bot: user.bot,
        }
    }
}

/// Who sent an interaction, from where, and when it arrived.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub id: Id<InteractionMarker>,
    pub application: ApplicationId,
    pub token: Token,
    pub guild: Option<GuildId>,
    pub invoker: Person,
    /// The invoker's permissions in the channel (guild interactions only).
    pub permissions: Option<Permissions>,
    /// When the request was verified (the server's clock).
    pub now: Timestamp,
    /// The largest attachment a reply may carry here, in bytes.
    pub attachment_limit: u64,
}

/// Discord's attachment limit when an interaction does not say (10 MiB).
pub const DEFAULT_ATTACHMENT_LIMIT: u64 = 10 * 1024 * 1024;

impl Ctx {
    /// The guild, for commands that only make sense in one (all of ours).
    pub fn guild(&self) -> Result<GuildId, Notice> {
        self.guild.ok_or(Notice::GuildOnly)
    }
}

/// What an interaction asks for.
#[derive(Debug)]
pub enum Incoming {
    Command(Ctx, Box<CommandData>),
    Autocomplete(Ctx, Box<CommandData>),
    Component(Ctx, Box<MessageComponentInteractionData>),
    /// Modals and anything newer: answered with a polite notice.
    Other(Ctx),
}

impl Incoming {
    #[must_use]
    pub fn ctx(&self) -> &Ctx {
        match self {
            Self::Command(c, _)
            | Self::Autocomplete(c, _)
            | Self::Component(c, _)
            | Self::Other(c) => c,
        }
    }
}

/// A verified body that is not an interaction this endpoint can read (answered with 400).
#[derive(Debug, thiserror::Error)]
pub enum Malformed {
    #[error("body is not an interaction: {0}")]
    Json(#[from] serde_json::Error),
    #[error("interaction names no user")]
    NoUser,
}

/// The interaction type, read without requiring anything else.
pub fn peek_type(body: &[u8]) -> Result<u8, Malformed> {
    #[derive(Deserialize)]
    struct Peek {
        #[serde(rename = "type")]
        kind: u8,
    }
    Ok(serde_json::from_slice::<Peek>(body)?.kind)
}

/// Parses a non-PING interaction.
pub fn parse(body: &[u8], now: Timestamp) -> Result<Incoming, Malformed> {
    let interaction: Interaction = serde_json::from_slice(body)?;
    let member = interaction.member.as_ref();
    let invoker = member
        .and_then(|m| {
            m.user
                .as_ref()
                .map(|u| Person::from_user(u, m.nick.as_deref()))
        })
        .or_else(|| {
            interaction
                .user
                .as_ref()
                .map(|u| Person::from_user(u, None))
        })
        .ok_or(Malformed::NoUser)?;
    let ctx = Ctx {
        id: interaction.id,
        application: interaction.application_id,
        token: Token::new(interaction.token),
        guild: interaction.guild_id,
        invoker,
        permissions: member.and_then(|m| m.permissions),
        now,
        attachment_limit: match interaction.attachment_size_limit {
            0 => DEFAULT_ATTACHMENT_LIMIT,
            limit => limit,
        },
    };
    Ok(match (interaction.kind, interaction.data) {
        (InteractionType::ApplicationCommand, Some(InteractionData::ApplicationCommand(data))) => {
            Incoming::Command(ctx, data)
        }
        (
            InteractionType::ApplicationCommandAutocomplete,
            Some(InteractionData::ApplicationCommand(data)),
        ) => Incoming::Autocomplete(ctx, data),
        (InteractionType::MessageComponent, Some(InteractionData::MessageComponent(data))) => {
            Incoming::Component(ctx, data)
        }
        _ => Incoming::Other(ctx),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_never_printed() {
        let t = Token::new("secret".into());
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
        assert_eq!(t.expose(), "secret");
    }

    #[test]
    fn peeks_the_type_of_anything() {
        assert_eq!(peek_type(br#"{"type":1}"#).unwrap(), 1);
        assert_eq!(peek_type(br#"{"type":2,"whatever":[1]}"#).unwrap(), 2);
        assert!(peek_type(b"not json").is_err());
        assert!(peek_type(br#"{"type":"1"}"#).is_err());
    }
}
