//! `/calltop [period] [metric]` and its Previous / Next buttons.
//!
//! Defaults: this week, by active time (the guild's ranking metric; `/callconfig` decides
//! which time it leaves out). Weeks and months follow the guild's timezone. Calls in progress
//! count up to now (as `/callstats show` counts them, so the two agree), members are named as
//! the tracker last saw them. The buttons carry the period; once it is over they turn to the
//! current one.

use callstats_core::UserId;
use callstats_core::board::{Column, Metric, Standing};
use callstats_core::period::{PeriodKey, PeriodKind};
use callstats_store::GuildItem;

use super::Options;
use crate::context::App;
use crate::custom_id::TopPage;
use crate::error::{Failure, Notice};
use crate::figures;
use crate::interaction::Ctx;
use crate::render::top::{Line, PAGE_SIZE, TopView, You, page_count, top};
use crate::reply::Reply;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopArgs {
    pub kind: PeriodKind,
    pub metric: Metric,
}

pub fn parse(options: &Options<'_>) -> Result<TopArgs, Notice> {
    let kind = match options.string("period")? {
        None | Some("week") => PeriodKind::Week,
        Some("month") => PeriodKind::Month,
        Some("all") => PeriodKind::All,
        Some(_) => return Err(Notice::UnknownCommand),
    };
    let metric = match options.string("metric")? {
        None | Some("active") => Metric::Ranked,
        Some("total") => Metric::Total,
        Some(_) => return Err(Notice::UnknownCommand),
    };
    Ok(TopArgs { kind, metric })
}

/// The first page, as a new public message.
pub async fn run(app: &App, ctx: &Ctx, args: TopArgs) -> Result<Reply, Failure> {
    let guild = ctx.guild()?;
    let server = app.store().guild(guild).await?;
    let page = TopPage {
        owner: ctx.invoker.id,
        period: PeriodKey::current(args.kind, ctx.now, server.config.timezone),
        metric: args.metric,
        page: 1,
    };
    let view = Box::pin(view(app, ctx, page, server)).await?;
    Ok(Reply::Message(top(&view)))
}

/// Another page, replacing the message the button is on.
pub async fn turn(app: &App, ctx: &Ctx, page: TopPage) -> Result<Reply, Failure> {
    let guild = ctx.guild()?;
    let server = app.store().guild(guild).await?;
    let view = Box::pin(view(app, ctx, page, server)).await?;
    Ok(Reply::Update(top(&view)))
}

async fn view(app: &App, ctx: &Ctx, page: TopPage, server: GuildItem) -> Result<TopView, Failure> {
    let guild = ctx.guild()?;
    let store = app.store();
    let ((calls, until), settings) =
        tokio::try_join!(figures::live_calls(app, guild, &server, ctx.now), async {
            store
                .user_settings(ctx.invoker.id)
                .await
                .map_err(Failure::from)
        },)?;
    let mut board = server.board.clone();
    // A new week or month starts empty, even before the tracker's next flush.
    board.roll(ctx.now, server.config.timezone);
    // The period the buttons carry is kept when it is still the current one.
    let period = match (
        page.period,
        PeriodKey::current(page.period.kind(), ctx.now, server.config.timezone),
    ) {
        (p, current) if p == current => p,
        (_, current) => current,
    };
    let column = Column::new(period.kind(), page.metric);
    let standings = figures::standings(&board, column, &figures::live_map(&calls, until.at));
    let offset = (page.page.saturating_sub(1) * PAGE_SIZE) as usize;
    let shown: Vec<Standing> = standings
        .lines
        .iter()
        .skip(offset)
        .take(PAGE_SIZE as usize)
        .copied()
        .collect();
    let users: Vec<UserId> = shown.iter().map(|s| s.user).collect();
    let names = store.names(guild, &users).await?;
    let you = if settings.opted_out {
        You::OptedOut
    } else if let Some(rank) = standings.rank_of(ctx.invoker.id) {
        You::Ranked {
            rank: rank as u64,
            secs: standings.lines[rank - 1].secs,
        }
    } else if standings.complete {
        You::NotRanked
    } else {
        You::Below {
            place: standings.lines.len() as u64,
        }
    };
    Ok(TopView {
        owner: page.owner,
        period,
        metric: page.metric,
        rule: server.config.rule,
        timezone: server.config.timezone,
        page: page.page,
        pages: page_count(standings.lines.len() as u64),
        entries: shown
            .into_iter()
            .map(|s| Line {
                user: s.user,
                secs: s.secs,
                name: names.get(&s.user).cloned(),
            })
            .collect(),
        you,
        live_as_of: until.behind.then_some(until.at),
    })
}
