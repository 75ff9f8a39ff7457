//! `/calltop [period] [metric]` and its Previous / Next buttons.
//!
//! Defaults: this week, by active time (the guild's ranking metric; `/callconfig` decides
//! which time it leaves out). Weeks and months follow the guild's timezone. The period key is
//! fixed when the command runs and travels in the buttons, so paging stays on that period.

use callstats_core::GuildConfig;
use callstats_core::period::{PeriodKey, PeriodKind};
use callstats_store::Metric;

use super::Options;
use crate::context::App;
use crate::custom_id::TopPage;
use crate::error::{Failure, Notice};
use crate::interaction::Ctx;
use crate::render::top::{PAGE_SIZE, TopView, You, page_count, top};
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
    let config = app.store().guild_config(guild).await?;
    let page = TopPage {
        owner: ctx.invoker.id,
        period: PeriodKey::current(args.kind, ctx.now, config.timezone),
        metric: args.metric,
        page: 1,
    };
    let view = Box::pin(view(app, ctx, page, config)).await?;
    Ok(Reply::Message(top(&view)))
}

/// Another page, replacing the message the button is on.
pub async fn turn(app: &App, ctx: &Ctx, page: TopPage) -> Result<Reply, Failure> {
    let guild = ctx.guild()?;
    let config = app.store().guild_config(guild).await?;
    let view = Box::pin(view(app, ctx, page, config)).await?;
    Ok(Reply::Update(top(&view)))
}

async fn view(
    app: &App,
    ctx: &Ctx,
    page: TopPage,
    config: GuildConfig,
) -> Result<TopView, Failure> {
    let guild = ctx.guild()?;
    let store = app.store();
    let offset = (page.page.saturating_sub(1) * PAGE_SIZE) as usize;
    let (count, entries, mine, settings) = tokio::try_join!(
        store.count_above(guild, page.period, page.metric, 0, true),
        store.leaderboard(guild, page.period, page.metric, offset, PAGE_SIZE as usize),
        store.period_totals(ctx.invoker.id, guild, page.period),
        store.user_settings(ctx.invoker.id),
    )?;
    let you = match mine {
        _ if settings.opted_out => You::OptedOut,
        Some((totals, true)) => {
            let secs = match page.metric {
                Metric::Total => totals.total,
                Metric::Ranked => totals.ranked,
            };
            let above = store
                .count_above(guild, page.period, page.metric, secs, false)
                .await?;
            You::Ranked {
                rank: above + 1,
                secs,
            }
        }
        _ => You::NotRanked,
    };
    Ok(TopView {
        owner: page.owner,
        period: page.period,
        metric: page.metric,
        rule: config.rule,
        timezone: config.timezone,
        page: page.page,
        pages: page_count(count),
        entries,
        you,
    })
}
