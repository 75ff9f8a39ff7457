//! `/callstats history [user]`: the most recent sessions in this server, newest first, with
//! the session in progress on top. Always ephemeral: a list of someone's calls is for the
//! asker only.

use twilight_model::application::interaction::application_command::CommandData;

use super::{Options, target};
use crate::context::App;
use crate::error::{Failure, Notice};
use crate::interaction::{Ctx, Person};
use crate::render::history::{HistoryView, LiveSession, MAX_SESSIONS, history};
use crate::reply::{Message, Reply};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryArgs {
    pub target: Person,
}

pub fn parse(ctx: &Ctx, data: &CommandData, options: &Options<'_>) -> Result<HistoryArgs, Notice> {
    Ok(HistoryArgs {
        target: target(ctx, data, options.user("user")?),
    })
}

pub async fn run(app: &App, ctx: &Ctx, args: HistoryArgs) -> Result<Reply, Failure> {
    let guild = ctx.guild()?;
    if args.target.bot {
        return Err(Notice::BotTarget.into());
    }
    let store = app.store();
    let target = args.target.id;
    let own = target == ctx.invoker.id;
    let limit = i32::try_from(MAX_SESSIONS).unwrap_or(i32::MAX);
    let (settings, sessions, open) = tokio::try_join!(
        async {
            if own {
                Ok(None)
            } else {
                store.user_settings(target).await.map(Some)
            }
        },
        store.recent_sessions(target, guild, limit),
        store.open_session(target, guild),
    )?;
    if settings.is_some_and(|s| s.opted_out) {
        return Err(Notice::TargetOptedOut.into());
    }
    let live = open.map(|o| {
        // Only start and length are shown, which no timezone changes.
        let l = o.live(ctx.now, chrono_tz::Tz::UTC);
        LiveSession {
            start: l.start(),
            secs: l.duration(),
            channel: l.channel,
        }
    });
    let view = HistoryView {
        name: args.target.name,
        live,
        sessions,
    };
    Ok(Reply::Message(Message::embed(history(&view)).ephemeral()))
}
