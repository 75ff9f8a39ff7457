//! The commands: their definitions (what `register-commands` uploads) and, one module each,
//! a parse step into validated arguments and a run step that reads the store and renders.

pub mod config;
pub mod definitions;
pub mod history;
pub mod privacy;
pub mod show;
pub mod timezone;
pub mod top;

use twilight_model::application::command::CommandType;
use twilight_model::application::interaction::application_command::{
    CommandData, CommandDataOption, CommandOptionValue,
};
use twilight_model::application::interaction::message_component::MessageComponentInteractionData;

use callstats_core::UserId;

use crate::custom_id::Action;
use crate::error::{Failure, Notice};
use crate::handler::App;
use crate::interaction::{Ctx, Person};
use crate::reply::Reply;

pub use definitions::{CALLCONFIG, CALLSTATS, CALLTOP, USER_MENU, definitions};

/// Runs a slash or context-menu command.
pub async fn command(app: &App, ctx: &Ctx, data: &CommandData) -> Result<Reply, Failure> {
    match (data.kind, data.name.as_str()) {
        (CommandType::ChatInput, CALLSTATS) => {
            let (sub, options) = subcommand(&data.options)?;
            let options = Options(options);
            match sub {
                "show" => Box::pin(show::run(app, ctx, show::parse(ctx, data, &options)?)).await,
                "history" => {
                    Box::pin(history::run(app, ctx, history::parse(ctx, data, &options)?)).await
                }
                "timezone" => {
                    let zone = options.string("zone")?.ok_or(Notice::UnknownCommand)?;
                    Box::pin(timezone::set(app, ctx, zone)).await
                }
                "optout" => Box::pin(privacy::optout(app, ctx)).await,
                "optin" => Box::pin(privacy::optin(app, ctx)).await,
                "export" => Box::pin(privacy::export(app, ctx)).await,
                "delete" => Ok(privacy::delete(ctx)),
                _ => Err(Notice::UnknownCommand.into()),
            }
        }
        (CommandType::ChatInput, CALLTOP) => {
            Box::pin(top::run(app, ctx, top::parse(&Options(&data.options))?)).await
        }
        (CommandType::ChatInput, CALLCONFIG) => {
            Box::pin(config::run(
                app,
                ctx,
                config::parse(&Options(&data.options))?,
            ))
            .await
        }
        (CommandType::User, USER_MENU) => {
            Box::pin(show::run(app, ctx, show::parse_menu(ctx, data)?)).await
        }
        _ => Err(Notice::UnknownCommand.into()),
    }
}

/// Runs a button press.
pub async fn component(
    app: &App,
    ctx: &Ctx,
    data: &MessageComponentInteractionData,
) -> Result<Reply, Failure> {
    let action = Action::parse(&data.custom_id).ok_or(Notice::StaleButton)?;
    if action.owner() != ctx.invoker.id {
        return Err(Notice::NotYourButton.into());
    }
    match action {
        Action::Top(page) => Box::pin(top::turn(app, ctx, page)).await,
        Action::Delete { confirm, .. } => {
            Box::pin(privacy::delete_answered(app, ctx, confirm)).await
        }
    }
}

/// Answers an autocomplete request: timezone names for `/callstats timezone` and
/// `/callconfig`, nothing for anything else.
#[allow(clippy::unused_async)] // one signature for every interaction kind
pub async fn autocomplete(_app: &App, ctx: &Ctx, data: &CommandData) -> Result<Reply, Failure> {
    let options = match (data.name.as_str(), data.options.as_slice()) {
        (
            CALLSTATS,
            [
                CommandDataOption {
                    value: CommandOptionValue::SubCommand(options),
                    ..
                },
            ],
        ) => options.as_slice(),
        (CALLCONFIG, options) => options,
        _ => &[],
    };
    let typed = options.iter().find_map(|o| match &o.value {
        CommandOptionValue::Focused(typed, _) if o.name == "zone" || o.name == "timezone" => {
            Some(typed.as_str())
        }
        _ => None,
    });
    Ok(Reply::Choices(
        typed.map_or_else(Vec::new, |t| timezone::choices(t, ctx.now)),
    ))
}

/// The subcommand and its options.
fn subcommand(options: &[CommandDataOption]) -> Result<(&str, &[CommandDataOption]), Notice> {
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

impl Options<'_> {
    fn get(&self, name: &str) -> Option<&CommandOptionValue> {
        self.0.iter().find(|o| o.name == name).map(|o| &o.value)
    }

    pub fn string(&self, name: &str) -> Result<Option<&str>, Notice> {
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
