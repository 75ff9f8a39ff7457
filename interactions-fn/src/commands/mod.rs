//! The commands: their definitions (what `register-commands` uploads) and, one module each,
//! a parse step into validated arguments and a run step that reads the store and renders.
//! Which interaction reaches which command is [`crate::dispatch`]'s table; the helpers here
//! (options by name, the member a command is about) serve every command.

pub mod config;
pub mod definitions;
pub mod history;
pub mod partners;
pub mod privacy;
pub mod server;
pub mod show;
pub mod timezone;
pub mod top;

use twilight_model::application::interaction::application_command::{
    CommandData, CommandDataOption, CommandOptionValue,
};

use callstats_core::UserId;

use crate::error::Notice;
use crate::interaction::{Ctx, Person};

pub use definitions::{CALLCONFIG, CALLSTATS, CALLTOP, USER_MENU, definitions};

/// The subcommand and its options.
pub fn subcommand(options: &[CommandDataOption]) -> Result<(&str, &[CommandDataOption]), Notice> {
    match options {
        [
            CommandDataOption {
                name,
                value: CommandOptionValue::SubCommand(options),
            },
        ] => Ok((name.as_str(), options.as_slice())),
        _ => Err(Notice::UnknownCommand),
    }
}

/// A command's options, read by name. A value of the wrong type means the registered command
/// and this code disagree: answered as an unknown command.
#[derive(Clone, Copy, Debug)]
pub struct Options<'a>(pub &'a [CommandDataOption]);

impl<'a> Options<'a> {
    fn get(&self, name: &str) -> Option<&'a CommandOptionValue> {
        self.0.iter().find(|o| o.name == name).map(|o| &o.value)
    }

    pub fn string(&self, name: &str) -> Result<Option<&'a str>, Notice> {
        match self.get(name) {
            None => Ok(None),
            Some(CommandOptionValue::String(s) | CommandOptionValue::Focused(s, _)) => {
                Ok(Some(s.as_str()))
            }
            Some(_) => Err(Notice::UnknownCommand),
        }
    }

    pub fn boolean(&self, name: &str) -> Result<Option<bool>, Notice> {
        match self.get(name) {
            None => Ok(None),
            Some(CommandOptionValue::Boolean(b)) => Ok(Some(*b)),
            Some(_) => Err(Notice::UnknownCommand),
        }
    }

    pub fn user(&self, name: &str) -> Result<Option<UserId>, Notice> {
        match self.get(name) {
            None => Ok(None),
            Some(CommandOptionValue::User(id)) => Ok(Some(*id)),
            Some(_) => Err(Notice::UnknownCommand),
        }
    }
}

/// The member a command is about: `id` resolved from the command's data, or the invoker.
#[must_use]
pub fn target(ctx: &Ctx, data: &CommandData, id: Option<UserId>) -> Person {
    let Some(id) = id.filter(|id| *id != ctx.invoker.id) else {
        return ctx.invoker.clone();
    };
    let resolved = data.resolved.as_ref();
    let nick = resolved
        .and_then(|r| r.members.get(&id))
        .and_then(|m| m.nick.as_deref());
    match resolved.and_then(|r| r.users.get(&id)) {
        Some(user) => Person::from_user(user, nick),
        None => Person {
            id,
            name: nick.map_or_else(|| "a member".to_owned(), str::to_owned),
            bot: false,
        },
    }
}
