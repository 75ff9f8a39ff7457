//! `/callstats server [period] [private]`: the server's call activity.
//!
//! Periods are the server's days (its timezone from `/callconfig`): the last 7 or 30 days,
//! this week (from Monday), this month, or all time. Figures are read back through the
//! store's two server indexes over the members' own items (`docs/storage.md`), so members who
//! opted out count nowhere. Calls in progress count up to now (or the tracker's last report),
//! as on `/calltop`. A big server's period is read in the background: the reply is deferred
//! and then replaced.

use std::collections::BTreeSet;

use chrono::{Datelike, Days, NaiveDate};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use callstats_core::board::Peak;
use callstats_core::period::local_date;
use callstats_core::server::{LiveStay, ServerFigures, server_all_time, server_window};
use callstats_core::window::{LocalWindow, WindowFigures, change_percent};
use callstats_core::{ChannelId, GuildId, Timestamp};
use callstats_store::GuildItem;

use super::Options;
use super::show::{CHART_DAYS, grid_views, with_images};
use crate::answer::Answer;
use crate::background::{Job, Ticket};
use crate::context::App;
use crate::error::{Failure, Internal, Notice};
use crate::figures::{self, LiveUntil};
use crate::interaction::Ctx;
use crate::render::chart_png::{self, ChartImage};
use crate::render::heatmap_png::{self, HeatmapImage};
use crate::render::server::{ServerView, TOP_CHANNELS, server};
use crate::reply::{File, Message, Reply};

/// Member-days answered while Discord waits (an estimate from the board's size and the days
/// read); beyond, the reply is deferred and the work finishes in the background.
pub const INLINE_MEMBER_DAYS: usize = 20_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Days(u64),
    Week,
    Month,
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerArgs {
    pub period: Period,
    pub private: bool,
}

pub fn parse(options: &Options<'_>) -> Result<ServerArgs, Notice> {
    let period = match options.string("period")? {
        None | Some("7d") => Period::Days(7),
        Some("30d") => Period::Days(30),
        Some("week") => Period::Week,
        Some("month") => Period::Month,
        Some("all") => Period::All,
        Some(_) => return Err(Notice::UnknownCommand),
    };
    Ok(ServerArgs {
        period,
        private: options.boolean("private")?.unwrap_or(false),
    })
}

/// The local days a period covers in `tz` at `now` (for all time: the chart's last days).
#[must_use]
pub fn window(period: Period, now: Timestamp, tz: Tz) -> LocalWindow {
    let today = local_date(now, tz);
    let first = match period {
        Period::Days(n) => return LocalWindow::last_days(now, n, tz),
        Period::All => return LocalWindow::last_days(now, CHART_DAYS, tz),
        Period::Week => today
            .checked_sub_days(Days::new(u64::from(today.weekday().num_days_from_monday())))
            .unwrap_or(today),
        Period::Month => today.with_day(1).unwrap_or(today),
    };
    LocalWindow {
        first,
        last: today,
        tz,
    }
}

pub async fn run(app: &App, ctx: &Ctx, args: ServerArgs) -> Result<Answer, Failure> {
    let guild = ctx.guild()?;
    let item = app.store().guild(guild).await?;
    let window = window(args.period, ctx.now, item.config.timezone);
    let days = 2 * window.dates().len();
    let big = item.board.floors.iter().any(|f| *f > 0)
        || item.board.entries.len().saturating_mul(days) > INLINE_MEMBER_DAYS;
    if big {
        return Ok(Answer::Later {
            ticket: Ticket {
                job: Job::Server { guild, args },
                application: ctx.application,
                token: ctx.token.clone(),
            },
            ack: Reply::Deferred {
                ephemeral: args.private,
            },
        });
    }
    let message = Box::pin(view(app, guild, item, args, ctx.now)).await?;
    Ok(Reply::Message(message.with_ephemeral(args.private)).into())
}

/// The background job of a big server.
pub async fn job(app: &App, guild: GuildId, args: ServerArgs) -> Result<Message, Failure> {
    let item = app.job_store().guild(guild).await?;
    Box::pin(view(app, guild, item, args, app.now())).await
}

async fn view(
    app: &App,
    guild: GuildId,
    item: GuildItem,
    args: ServerArgs,
    now: Timestamp,
) -> Result<Message, Failure> {
    let store = app.job_store();
    let tz = item.config.timezone;
    let window = window(args.period, now, tz);
    let previous = window.previous();
    let read_from = match args.period {
        Period::All => window.utc_days().0,
        _ => previous.utc_days().0,
    };
    let ((calls, until), days, public, members) = tokio::try_join!(
        figures::live_calls(app, guild, &item, now),
        async {
            Ok::<_, Failure>(
                store
                    .guild_days(guild, read_from, window.utc_days().1)
                    .await?,
            )
        },
        async { Ok::<_, Failure>(store.public_channels(guild).await?) },
        async {
            Ok::<_, Failure>(match args.period {
                Period::All => Some(store.guild_members(guild).await?),
                _ => None,
            })
        },
    )?;
    let live = live_stays(&calls, until);
    let slots = || days.iter().map(|d| (d.user, d.day, d.slots.as_slice()));
    let current = server_window(&window, slots(), &live);
    let (figures, change) = if let Some(members) = members {
        (server_all_time(&members, &live), None)
    } else {
        let before = server_window(&previous, slots(), &[]);
        let change = change_percent(current.figures.stats.total, before.figures.stats.total);
        (
            current.clone(),
            Some((change, previous_label(window.dates().len()))),
        )
    };
    let files = images(&current.figures, args.period, tz)?;
    let (channels, other_channels) = top_channels(&figures, &public);
    let view = ServerView {
        period: period_label(args.period),
        dates: (args.period != Period::All).then_some((window.first, window.last)),
        stats: figures.figures.stats,
        members: figures.members.len(),
        peak: peak(&item, &window, args.period),
        channels,
        other_channels,
        change,
        heatmap: grid_views(&current.figures.grid),
        heatmap_note: (args.period == Period::All).then(|| format!("last {CHART_DAYS} days")),
        timezone: tz,
        image: files
            .iter()
            .find(|f| f.name == heatmap_png::FILE_NAME)
            .map(|f| f.name.clone()),
        live_as_of: until.behind.then_some(until.at),
    };
    Ok(with_images(server(&view), files))
}

/// Calls in progress as stays up to `until`.
fn live_stays(calls: &[callstats_store::LiveCall], until: LiveUntil) -> Vec<LiveStay> {
    calls
        .iter()
        .map(|c| LiveStay {
            user: c.user,
            channel: c.channel,
            start: c.session.start().min(until.at),
            until: until.at,
            active: c.at(until.at).1,
        })
        .collect()
}

/// The busiest channels everyone can view, and the seconds of all the others.
fn top_channels(figures: &ServerFigures, public: &[ChannelId]) -> (Vec<(ChannelId, u64)>, u64) {
    let public: BTreeSet<ChannelId> = public.iter().copied().collect();
    let mut shown: Vec<(ChannelId, u64)> = figures
        .figures
        .channels
        .iter()
        .filter(|(c, secs)| public.contains(c) && **secs > 0)
        .map(|(c, secs)| (*c, *secs))
        .collect();
    shown.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    shown.truncate(TOP_CHANNELS);
    let listed: u64 = shown.iter().map(|(_, s)| s).sum();
    (shown, figures.figures.stats.total.saturating_sub(listed))
}

/// The most members in voice at once on the period's days (all time: the days kept).
fn peak(item: &GuildItem, window: &LocalWindow, period: Period) -> Option<(Peak, Option<String>)> {
    let in_period = |d: &NaiveDate| period == Period::All || window.contains(*d);
    let best = item
        .board
        .peaks
        .iter()
        .filter(|(d, _)| in_period(d))
        .map(|(_, p)| *p)
        .max_by(|a, b| a.members.cmp(&b.members).then(b.at.cmp(&a.at)))?;
    let covers = (period == Period::All).then(|| "the last 31 days".to_owned());
    Some((best, covers))
}

fn period_label(period: Period) -> String {
    match period {
        Period::Days(n) => format!("the last {n} days"),
        Period::Week => "this week".into(),
        Period::Month => "this month".into(),
        Period::All => "all time".into(),
    }
}

/// The period before one of `days` days (this week so far: as many days before it).
fn previous_label(days: usize) -> String {
    if days == 1 {
        "the previous day".into()
    } else {
        format!("the previous {days} days")
    }
}

/// The heatmap and the activity chart of the period's days, each when there is anything to
/// draw.
fn images(f: &WindowFigures, period: Period, tz: Tz) -> Result<Vec<File>, Failure> {
    let encode =
        |e: crate::render::image::ImageError| Failure::from(Internal::Encode(e.to_string()));
    let over = match period {
        Period::All => format!("Last {CHART_DAYS} days"),
        other => {
            let mut label = period_label(other);
            if let Some(first) = label.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            label
        }
    };
    let mut files = Vec::new();
    if f.grid.iter().flatten().any(|s| *s > 0) {
        files.push(File {
            name: heatmap_png::FILE_NAME.to_owned(),
            content_type: "image/png",
            description: Some(format!(
                "The server's call time by weekday and hour, in {}",
                tz.name()
            )),
            bytes: heatmap_png::render(&HeatmapImage {
                title: "Server call time by weekday and hour".to_owned(),
                subtitle: format!("{over} · {}", tz.name()),
                grid: f.grid,
            })
            .map_err(encode)?,
        });
    }
    if f.daily.values().any(|s| *s > 0) {
        files.push(File {
            name: chart_png::FILE_NAME.to_owned(),
            content_type: "image/png",
            description: Some(format!("The server's call time per day, in {}", tz.name())),
            bytes: chart_png::render(&ChartImage {
                title: "Server call time per day".to_owned(),
                subtitle: format!("{over} · {}", tz.name()),
                days: f
                    .daily
                    .iter()
                    .map(|(d, s)| (d.format("%-d %b").to_string(), *s))
                    .collect(),
            })
            .map_err(encode)?,
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::from_datetime(s.parse::<chrono::DateTime<chrono::Utc>>().unwrap())
    }

    #[test]
    fn periods_are_the_servers_days() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // Thursday 26 November 2026, 23:30 UTC: already Friday the 27th in Berlin.
        let now = ts("2026-11-26T23:30:00Z");
        let d = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        let w = window(Period::Week, now, berlin);
        assert_eq!((w.first, w.last), (d(11, 23), d(11, 27)));
        assert_eq!(w.previous().first, d(11, 18));
        let m = window(Period::Month, now, berlin);
        assert_eq!((m.first, m.last), (d(11, 1), d(11, 27)));
        let seven = window(Period::Days(7), now, berlin);
        assert_eq!((seven.first, seven.last), (d(11, 21), d(11, 27)));
        assert_eq!(window(Period::All, now, berlin).dates().len(), 30);
    }
}
