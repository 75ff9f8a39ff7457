//! Everything a command can fail with, and the one place that turns a failure into a reply.
//!
//! Two kinds: a [`Notice`] is something the user should know (a stale button, a member who
//! opted out) and is told politely; an [`Internal`] failure (the store, Discord's REST API)
//! gets an apology, with the details only in the logs. Neither is ever an HTTP 500: Discord
//! would show "interaction failed" and the user would learn nothing.

use std::time::Duration;

use callstats_store::StoreError;
use twilight_model::channel::message::Embed;

use crate::render;
use crate::reply::{Message, Reply};

/// Something the user did or asked for that cannot be done as asked. Told politely, only to
/// them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Notice {
    /// A command this endpoint does not know (removed, or registered by an older version).
    #[error("unknown command")]
    UnknownCommand,
    /// A button whose `custom_id` does not parse: from an older version, or tampered with.
    #[error("stale or unknown button")]
    StaleButton,
    /// A button pressed by someone other than the member who ran the command.
    #[error("button belongs to someone else")]
    NotYourButton,
    /// A command used outside a server.
    #[error("used outside a server")]
    GuildOnly,
    /// A lookup of a member who opted out, by someone else.
    #[error("target opted out")]
    TargetOptedOut,
    /// A lookup of a bot: bots are never tracked.
    #[error("target is a bot")]
    BotTarget,
    /// An interaction type this endpoint does not handle (modals).
    #[error("unsupported interaction")]
    Unsupported,
    /// A timezone name that is not an IANA zone; `suggestions` are close matches.
    #[error("unknown timezone")]
    UnknownTimezone {
        input: String,
        suggestions: Vec<String>,
    },
    /// A change that needs the Manage Server permission.
    #[error("needs manage server")]
    NeedsManageServer,
    /// A server a private deployment does not serve (`CALLSTATS_GUILDS`).
    #[error("server not served")]
    NotServed,
}

/// A failure on our side. Logged with its details; the user gets an apology.
#[derive(Debug, thiserror::Error)]
pub enum Internal {
    /// DynamoDB failed or returned something malformed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A call to Discord's REST API failed.
    #[error("discord rest call failed: {0}")]
    Rest(String),
    /// A reply or a file could not be encoded.
    #[error("encoding failed: {0}")]
    Encode(String),
    /// The reply was not ready in time.
    #[error("no reply within {0:?}")]
    Deadline(Duration),
    /// Background work could not be started or did not finish.
    #[error("background work failed: {0}")]
    Background(String),
}

/// Why a command produced no regular reply.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Notice(#[from] Notice),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for Failure {
    fn from(value: StoreError) -> Self {
        Self::Internal(Internal::Store(value))
    }
}

pub const APOLOGY: &str = "Sorry, something went wrong on our side. Please try again in a moment.";

impl Failure {
    /// The reply for this failure: always a new ephemeral message, so a failed button press
    /// leaves the message it was on as it was.
    #[must_use]
    pub fn into_reply(self) -> Reply {
        Reply::Message(self.into_message())
    }

    /// The message for this failure. Internal details are logged here and nowhere else.
    #[must_use]
    pub fn into_message(self) -> Message {
        match self {
            Self::Notice(notice) => {
                tracing::info!(notice = %notice, "answered with a notice");
                Message::embed(notice_embed(&notice)).ephemeral()
            }
            Self::Internal(err) => {
                tracing::error!(cause = %err, retryable = is_retryable(&err), "command failed");
                Message::embed(render::notice("Something went wrong", APOLOGY)).ephemeral()
            }
        }
    }
}

fn is_retryable(err: &Internal) -> bool {
    match err {
        Internal::Store(e) => e.is_retryable(),
        Internal::Rest(_) | Internal::Deadline(_) | Internal::Background(_) => true,
        Internal::Encode(_) => false,
    }
}

/// The text a user sees for a notice.
#[must_use]
pub fn notice_embed(notice: &Notice) -> Embed {
    let (title, text): (&str, String) = match notice {
        Notice::UnknownCommand => (
            "Unknown command",
            "I don't know that command. The command list may be out of date; it refreshes \
             within a few minutes."
                .into(),
        ),
        Notice::StaleButton => (
            "This button has expired",
            "Run the command again for fresh results.".into(),
        ),
        Notice::NotYourButton => (
            "Not your buttons",
            "Only the member who ran this command can use its buttons. Run the command \
             yourself to get your own."
                .into(),
        ),
        Notice::GuildOnly => (
            "Servers only",
            "Call statistics are kept per server: use this command in a server.".into(),
        ),
        Notice::TargetOptedOut => (
            "Not available",
            "That member has opted out of call statistics.".into(),
        ),
        Notice::BotTarget => ("Not tracked", "Bots are never tracked.".into()),
        Notice::Unsupported => (
            "Not supported",
            "This kind of interaction is not supported.".into(),
        ),
        Notice::UnknownTimezone { input, suggestions } => {
            let mut text = format!(
                "`{}` is not a timezone I know. Use an IANA name such as `Europe/Berlin`, \
                 `America/New_York` or `Asia/Kolkata`; the command suggests names as you type.",
                render::escape_code(&crate::limits::clip(input, 100))
            );
            if !suggestions.is_empty() {
                text.push_str("\nDid you mean: ");
                text.push_str(
                    &suggestions
                        .iter()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                text.push('?');
            }
            ("Unknown timezone", text)
        }
        Notice::NeedsManageServer => (
            "Manage Server needed",
            "Changing these settings needs the Manage Server permission.".into(),
        ),
        Notice::NotServed => (
            "Not available here",
            "This bot keeps call statistics for a private set of servers, and this server is \
             not one of them: nothing is tracked here."
                .into(),
        ),
    };
    render::notice(title, &text)
}
