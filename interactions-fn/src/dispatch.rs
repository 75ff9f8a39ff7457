//! Where every interaction goes: one table for slash and context-menu commands, buttons,
//! autocomplete and background jobs. Commands depend on [`crate::context`]; this table depends
//! on the commands; the HTTP handler and the Lambda front end depend on this table.

use std::pin::Pin;

use tracing::Instrument;
use twilight_model::application::command::CommandType;
use twilight_model::application::interaction::application_command::{
    CommandData, CommandDataOption, CommandOptionValue,
};
use twilight_model::application::interaction::message_component::MessageComponentInteractionData;

use crate::answer::Answer;
use crate::background::{Job, Ticket};
use crate::commands::{
    CALLCONFIG, CALLSTATS, CALLTOP, Options, USER_MENU, config, history, partners, privacy, server,
    show, subcommand, timezone, top,
};
use crate::context::App;
use crate::custom_id::Action;
use crate::error::{Failure, Notice};
use crate::interaction::{Ctx, Incoming};
use crate::reply::{Message, Reply};
use crate::rest;

/// A command's work, boxed: commands hold large futures (store calls), and the table stays
/// one line per route.
type Work<'a> = Pin<Box<dyn Future<Output = Result<Answer, Failure>> + Send + 'a>>;

fn now<'a>(work: impl Future<Output = Result<Reply, Failure>> + Send + 'a) -> Work<'a> {
    Box::pin(async move { work.await.map(Answer::Now) })
}

fn maybe_later<'a>(work: impl Future<Output = Result<Answer, Failure>> + Send + 'a) -> Work<'a> {
    Box::pin(work)
}

/// The reply to a parsed interaction; work that finishes later is handed to the background.
pub async fn interaction(app: &App, incoming: &Incoming) -> Result<Reply, Failure> {
    // A private deployment (CALLSTATS_GUILDS) answers other servers with a notice only.
    if let Some(guild) = incoming.ctx().guild
        && !app.guilds().allows(guild)
    {
        return match incoming {
            Incoming::Autocomplete(..) => Ok(Reply::Choices(Vec::new())),
            _ => Err(Notice::NotServed.into()),
        };
    }
    let answer = match incoming {
        Incoming::Command(ctx, data) => {
            tracing::info!(command = %data.name, "command");
            command(app, ctx, data)?.await?
        }
        Incoming::Autocomplete(ctx, data) => Answer::Now(autocomplete(ctx, data)),
        Incoming::Component(ctx, data) => {
            tracing::info!("button");
            component(app, ctx, data)?.await?
        }
        Incoming::Other(_) => return Err(Failure::Notice(Notice::Unsupported)),
    };
    match answer {
        Answer::Now(reply) => Ok(reply),
        Answer::Later { ticket, ack } => {
            defer(app, ticket).await?;
            Ok(ack)
        }
        Answer::NowThen { reply, then } => {
            if let Err(err) = defer(app, then).await {
                // The answer stands; what follows it is best effort and logged.
                tracing::error!(cause = %err, "follow-up work not started");
            }
            Ok(reply)
        }
    }
}

/// Slash and context-menu commands.
fn command<'a>(app: &'a App, ctx: &'a Ctx, data: &'a CommandData) -> Result<Work<'a>, Failure> {
    Ok(match (data.kind, data.name.as_str()) {
        (CommandType::ChatInput, CALLSTATS) => {
            let (sub, options) = subcommand(&data.options)?;
            let options = Options(options);
            match sub {
                "show" => now(show::run(app, ctx, show::parse(ctx, data, &options)?)),
                "history" => now(history::run(app, ctx, history::parse(ctx, data, &options)?)),
                "partners" => now(partners::run(app, ctx, partners::parse(&options)?)),
                "server" => maybe_later(server::run(app, ctx, server::parse(&options)?)),
                "timezone" => {
                    let zone = options.string("zone")?.ok_or(Notice::UnknownCommand)?;
                    now(timezone::set(app, ctx, zone))
                }
                "optout" => maybe_later(privacy::optout(app, ctx)),
                "optin" => maybe_later(privacy::optin(app, ctx)),
                "export" => maybe_later(privacy::export(app, ctx)),
                "delete" => now(async { Ok(privacy::delete(ctx)) }),
                _ => return Err(Notice::UnknownCommand.into()),
            }
        }
        (CommandType::ChatInput, CALLTOP) => {
            now(top::run(app, ctx, top::parse(&Options(&data.options))?))
        }
        (CommandType::ChatInput, CALLCONFIG) => now(config::run(
            app,
            ctx,
            config::parse(&Options(&data.options))?,
        )),
        (CommandType::User, USER_MENU) => now(show::run(app, ctx, show::parse_menu(ctx, data)?)),
        _ => return Err(Notice::UnknownCommand.into()),
    })
}

/// Buttons. Only the member who asked may press them.
fn component<'a>(
    app: &'a App,
    ctx: &'a Ctx,
    data: &'a MessageComponentInteractionData,
) -> Result<Work<'a>, Failure> {
    let action = Action::parse(&data.custom_id).ok_or(Notice::StaleButton)?;
    if action.owner() != ctx.invoker.id {
        return Err(Notice::NotYourButton.into());
    }
    Ok(match action {
        Action::Top(page) => now(top::turn(app, ctx, page)),
        Action::Delete { confirm, .. } => maybe_later(privacy::delete_answered(app, ctx, confirm)),
    })
}

/// Autocomplete: timezone names for `/callstats timezone` and `/callconfig`, nothing for
/// anything else.
fn autocomplete(ctx: &Ctx, data: &CommandData) -> Reply {
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
    Reply::Choices(typed.map_or_else(Vec::new, |t| timezone::choices(t, ctx.now)))
}

/// What a background job comes to: the message that replaces the original response (none
/// for work that edits nothing), and work to start after it.
struct Done {
    message: Option<Message>,
    then: Option<Ticket>,
}

impl Done {
    fn message(message: Message) -> Self {
        Self {
            message: Some(message),
            then: None,
        }
    }
}

/// Background jobs.
async fn job(app: &App, ticket: &Ticket) -> Result<Done, Failure> {
    match &ticket.job {
        Job::Delete { user } => {
            let (message, then) = Box::pin(privacy::delete_job(app, *user, ticket)).await?;
            Ok(Done {
                message: Some(message),
                then: Some(then),
            })
        }
        Job::Export { user, limit } => Box::pin(privacy::export_job(app, *user, *limit))
            .await
            .map(Done::message),
        Job::Server { guild, args } => Box::pin(server::job(app, *guild, *args))
            .await
            .map(Done::message),
        Job::Privacy {
            user,
            opted_out,
            at,
        } => Box::pin(privacy::finish_privacy(
            app.job_store(),
            *user,
            *opted_out,
            *at,
        ))
        .await
        .map(Done::message),
        Job::Sweep { sweep, not_before } => {
            Box::pin(privacy::sweep_again(app, sweep, *not_before)).await?;
            Ok(Done {
                message: None,
                then: None,
            })
        }
    }
}

/// Hands `ticket` to the background; the caller answers "deferred".
/// Boxed with its `Send` bound spelled out: a job may start another (a deletion's second
/// sweep), and the compiler cannot see through that cycle by itself.
fn defer(
    app: &App,
    ticket: Ticket,
) -> Pin<Box<dyn Future<Output = Result<(), Failure>> + Send + '_>> {
    Box::pin(async move {
        tracing::info!(job = ticket.job.name(), "deferring");
        let worker = app.clone();
        let job = ticket.clone();
        let work: Pin<Box<dyn Future<Output = ()> + Send>> =
            Box::pin(async move { run_job(&worker, job).await });
        app.background().start(&ticket, work).await?;
        Ok(())
    })
}

/// Runs a job and puts its result (or an apology) in place of the original response, then
/// starts the work that follows it.
pub async fn run_job(app: &App, ticket: Ticket) {
    let started = std::time::Instant::now();
    let span = tracing::info_span!("job", job = ticket.job.name());
    async {
        let done = job(app, &ticket).await.unwrap_or_else(|failure| Done {
            message: Some(failure.into_message()),
            then: None,
        });
        if let Some(message) = done.message {
            edit(app, &ticket, &message, started).await;
        }
        if let Some(then) = done.then
            && let Err(err) = defer(app, then).await
        {
            tracing::error!(cause = %err, "follow-up work not started");
        }
    }
    .instrument(span)
    .await;
}

async fn edit(app: &App, ticket: &Ticket, message: &Message, started: std::time::Instant) {
    match rest::edit_original(app.rest(), ticket.application, &ticket.token, message).await {
        Ok(()) => tracing::info!(
            elapsed_ms = started.elapsed().as_millis(),
            "job done, response edited"
        ),
        Err(err) => {
            tracing::error!(cause = %err, "job done, but the response edit failed");
            // A file Discord refused (too large, say): still tell the user.
            if !message.files.is_empty() {
                let apology = Failure::Internal(err).into_message();
                let _ =
                    rest::edit_original(app.rest(), ticket.application, &ticket.token, &apology)
                        .await;
            }
        }
    }
}
