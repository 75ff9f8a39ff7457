//! `/callstats history [user]`: the most recent sessions in this server, newest first, with
//! the session in progress on top. Always ephemeral: a list of someone's calls is for the
//! asker only, and the channels only for the member themself.

use twilight_model::application::interaction::application_command::CommandData;

use super::{Options, target};
use crate::context::App;
use crate::error::{Failure, Notice};
use crate::figures;
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
    let (view, sessions) = tokio::try_join!(
        store.member_view(target, guild),
        store.recent_sessions(target, guild, MAX_SESSIONS),
    )?;
    if !own && view.state.settings.opted_out {
        return Err(Notice::TargetOptedOut.into());
    }
    let until = match &view.open {
        Some(_) => figures::live_until(app, &view.guild, ctx.now).await?,
        None => figures::LiveUntil {
            at: ctx.now,
            behind: false,
        },
    };
    let live = view.open.map(|o| {
        // Only start and length are shown, which no timezone changes.
        let l = o.live(until.at, chrono_tz::Tz::UTC);
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
        channels_shown: own,
        live_as_of: until.behind.then_some(until.at),
    };
    Ok(Reply::Message(Message::embed(history(&view)).ephemeral()))
}
