//! The local client: builds an interaction as Discord would, signs it with the local key,
//! sends it to an endpoint, and prints the reply as a person would read it.
//!
//! `callstats-dev call "/callstats show user:123 period:7d"`: the command line is the
//! command's name, its subcommand, and `option:value` pairs, typed as in Discord. Option
//! types come from the command definitions `register-commands` uploads, so the interaction
//! carries what Discord would send (user options with their resolved user, booleans,
//! strings). `--press NEXT` then presses the reply's button whose label says "next" (any
//! button by a word of its label), as the same member.
//!
//! Building and printing are pure ([`build_command`], [`build_press`], [`describe`]); only
//! [`ask`] and [`save_files`] do I/O.

mod command;
mod describe;

use std::path::PathBuf;

use serde_json::Value;

use crate::answer::Reply;
use crate::send::{SendError, Signer};
use crate::sign::KeyError;

pub use command::{build_command, build_press};
pub use describe::{describe, save_files};

/// Who asks, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user: u64,
    pub guild: u64,
}

/// What went wrong on the client side: all of it is the person's to fix.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("{0} (is scripts/run-local running?)")]
    Unreachable(SendError),
    #[error("the endpoint answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("the endpoint's answer is not a Discord reply: {0}")]
    BadReply(String),
    #[error("cannot save {path}: {reason}")]
    Save { path: PathBuf, reason: String },
}

fn usage(message: impl Into<String>) -> ClientError {
    ClientError::Usage(message.into())
}

/// The name local members go by: their id, as nothing else is known about them.
fn local_name(id: u64) -> String {
    format!("member{id}")
}

/// Sends `interaction` to `url`, signed now; a refusal or an answer that is no reply is an
/// error.
pub async fn ask(signer: &Signer, url: &str, interaction: &Value) -> Result<Reply, ClientError> {
    let answer = signer.send(url, interaction).await.map_err(|e| match e {
        SendError::BadUrl { .. } => usage(e.to_string()),
        SendError::Unreachable { .. } => ClientError::Unreachable(e),
        SendError::NotJson(_) => ClientError::BadReply(e.to_string()),
    })?;
    if !(200..300).contains(&answer.status) {
        return Err(ClientError::Refused {
            status: answer.status,
            body: answer.text().chars().take(200).collect(),
        });
    }
    answer
        .reply()
        .map_err(|e| ClientError::BadReply(e.to_string()))
}
