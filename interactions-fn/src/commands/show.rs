//! `/callstats show [user] [period] [private]` and the "Call stats" context menu.
//!
//! Windows are the last 7 or 30 of the viewer's calendar days (their timezone, else the
//! member's), today included, cut exactly at their local midnights; the heatmaps and the chart
//! cover the same stretch (all time: with today's offset); streaks are the member's days. The call in progress counts live, up to the sidecar's last heartbeat: its
//! time inside the window adds to the window, its whole length to all time. Which channels the
//! member is or was in is shown to the member only.

use twilight_model::application::interaction::application_command::CommandData;

use std::collections::BTreeMap;

use chrono_tz::Tz;

use callstats_core::board::{Column, Metric};
use callstats_core::heatmap::LocalHeatmap;
use callstats_core::member::{AllTime, DayRecord};
use callstats_core::period::{Day, PeriodKind, local_date, split_local_days, utc_offset_secs};
use callstats_core::window::{LocalWindow, window_figures};
use callstats_core::{ChannelId, ClosedSession, Stats, Timestamp};

use super::{Options, target};
use crate::context::App;
use crate::error::{Failure, Internal, Notice};
use crate::figures;
use crate::interaction::{Ctx, Person};
use crate::render::chart_png::{self, ChartImage};
use crate::render::heatmap_png::{self, HeatmapImage};
use crate::render::show::{Live, Rank, ShowView, Window};
use crate::reply::{File, Message, Reply};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShowArgs {
    pub target: Person,
    pub window: Window,
    pub private: bool,
}

pub fn parse(ctx: &Ctx, data: &CommandData, options: &Options<'_>) -> Result<ShowArgs, Notice> {
    let window = match options.string("period")? {
        None | Some("all") => Window::All,
        Some("7d") => Window::Days(7),
        Some("30d") => Window::Days(30),
        Some(_) => return Err(Notice::UnknownCommand),
    };
    Ok(ShowArgs {
        target: target(ctx, data, options.user("user")?),
        window,
        private: options.boolean("private")?.unwrap_or(false),
    })
}

/// The context menu: all time, only for the invoker's eyes.
pub fn parse_menu(ctx: &Ctx, data: &CommandData) -> Result<ShowArgs, Notice> {
    let id = data.target_id.ok_or(Notice::UnknownCommand)?.cast();
    Ok(ShowArgs {
        target: target(ctx, data, Some(id)),
        window: Window::All,
        private: true,
    })
}

pub async fn run(app: &App, ctx: &Ctx, args: ShowArgs) -> Result<Reply, Failure> {
    let guild = ctx.guild()?;
    if args.target.bot {
        return Err(Notice::BotTarget.into());
    }
    let store = app.store();
    let target = args.target.id;
    let own = target == ctx.invoker.id;
    // Windows, heatmaps and charts are cut in the viewer's own days; a member's timezone is
    // theirs alone and never shown to others (`docs/behaviour.md`).
    let (view, viewer) = tokio::try_join!(store.member_view(target, guild), async {
        if own {
            Ok(None)
        } else {
            store.user_settings(ctx.invoker.id).await.map(Some)
        }
    })?;
    if !own && view.state.settings.opted_out {
        return Err(Notice::TargetOptedOut.into());
    }
    let config = view.guild.config;
    let member_tz = view.state.settings.timezone_or_utc();
    let tz = viewer.map_or(member_tz, |v| v.timezone_or_utc());
    let window = match args.window {
        Window::All => None,
        Window::Days(n) => Some(LocalWindow::last_days(ctx.now, n, tz)),
    };
    // The all-time chart comes from the record's last days, kept in the member's days; another
    // viewer's days are cut from the day records instead.
    let chart_window = (window.is_none() && tz != member_tz)
        .then(|| LocalWindow::last_days(ctx.now, CHART_DAYS, tz));
    let ((calls, until), days) = tokio::try_join!(
        figures::live_calls(app, guild, &view.guild, ctx.now),
        days_for(app, target, guild, window.or(chart_window), ctx.now),
    )?;
    let live = view
        .open
        .as_ref()
        .map(|o| o.live(until.at, config.timezone));
    let all = view.all_time.as_ref().map(|a| &a.all);
    let records: Vec<(Day, DayRecord)> = days.into_iter().map(|(d, i)| (d, i.record)).collect();
    let figures = member_figures(
        window,
        chart_window,
        all,
        live.as_ref(),
        &records,
        tz,
        ctx.now,
    );
    let streak = all.map_or((0, 0), |a| streak(a, live.as_ref(), member_tz, ctx.now));
    let mut breakdown = all.map(|a| a.breakdown).unwrap_or_default();
    if let Some(l) = &live {
        breakdown.merge(&l.breakdown);
    }
    let rank = if view.state.settings.opted_out {
        None
    } else {
        month_rank(
            &view.guild.board,
            &figures::live_map(&calls, until.at),
            target,
        )
    };
    let files = images(&figures, args.window, tz)?;
    let mut channels: Vec<(ChannelId, u64)> = figures.channels.into_iter().collect();
    channels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let view = ShowView {
        name: args.target.name.clone(),
        window: args.window,
        dates: window.map(|w| (w.first, w.last)),
        stats: figures.stats,
        live: live.as_ref().map(|l| Live {
            channel: own.then_some(l.channel),
            secs: l.duration(),
        }),
        live_as_of: until.behind.then_some(until.at),
        heatmap: grid_views(&figures.grid),
        breakdown,
        streak,
        rank,
        top_channels: if own {
            channels.into_iter().take(3).collect()
        } else {
            Vec::new()
        },
        channels_hidden: !own,
        timezone: tz,
        dst: callstats_core::period::observes_dst(tz, ctx.now),
        rule: config.rule,
        own_opted_out: own && view.state.settings.opted_out,
        image: files
            .iter()
            .find(|f| f.name == heatmap_png::FILE_NAME)
            .map(|f| f.name.clone()),
    };
    let message = with_images(crate::render::show::show(&view), files);
    Ok(Reply::Message(message.with_ephemeral(args.private)))
}

/// A stats embed with its images: the heatmap in the embed (it names it), the activity chart
/// in a second embed under it.
#[must_use]
pub fn with_images(embed: twilight_model::channel::message::Embed, files: Vec<File>) -> Message {
    let mut message = Message::embed(embed);
    if files.iter().any(|f| f.name == chart_png::FILE_NAME) {
        message
            .embeds
            .push(crate::render::image_embed(chart_png::FILE_NAME));
    }
    message.files = files;
    message
}

/// The day records a window needs (none for all time).
async fn days_for(
    app: &App,
    user: callstats_core::UserId,
    guild: callstats_core::GuildId,
    window: Option<LocalWindow>,
    now: Timestamp,
) -> Result<Vec<(Day, callstats_store::DayItem)>, Failure> {
    let Some(w) = window else {
        return Ok(Vec::new());
    };
    let (first, _) = w.utc_days();
    Ok(app
        .store()
        .days(user, guild, first, Day::of(now.plus(86_400)))
        .await?)
}

/// The figures of the window (all time when `None`); `chart` is the all-time chart's window
/// when it must be cut from the day records.
fn member_figures(
    window: Option<LocalWindow>,
    chart: Option<LocalWindow>,
    all: Option<&AllTime>,
    live: Option<&ClosedSession>,
    records: &[(Day, DayRecord)],
    tz: Tz,
    now: Timestamp,
) -> Figures {
    match window {
        None => {
            let mut f = all_time_figures(all, live, tz, now);
            if let Some(w) = chart {
                f.daily = window_figures(&w, records, live)
                    .daily
                    .into_iter()
                    .collect();
            }
            f
        }
        Some(w) => {
            let f = window_figures(&w, records, live);
            Figures {
                stats: f.stats,
                grid: f.grid,
                daily: f.daily.into_iter().collect(),
                channels: f.channels,
            }
        }
    }
}

/// The member's streak and best streak, counted in their own days, with the call in progress.
fn streak(
    all: &AllTime,
    live: Option<&ClosedSession>,
    member_tz: Tz,
    now: Timestamp,
) -> (u32, u32) {
    let today = local_date(now, member_tz);
    let live_today: u64 = live.map_or(0, |l| {
        split_local_days(l.start(), l.end, member_tz)
            .into_iter()
            .filter(|(d, _)| *d == today)
            .map(|(_, s)| s)
            .sum()
    });
    all.streak.with_live(today, live_today)
}

/// The member's place on this month's ranked board, calls in progress included.
fn month_rank(
    board: &callstats_core::board::Board,
    live: &BTreeMap<callstats_core::UserId, callstats_core::board::Live>,
    user: callstats_core::UserId,
) -> Option<Rank> {
    let standings = figures::standings(board, Column::new(PeriodKind::Month, Metric::Ranked), live);
    standings.rank_of(user).map(|rank| Rank {
        rank,
        of: standings.lines.len(),
        complete: standings.complete,
    })
}

/// The heatmap and the activity chart as images, each when there is anything to draw.
fn images(figures: &Figures, window: Window, tz: Tz) -> Result<Vec<File>, Failure> {
    let encode =
        |e: crate::render::image::ImageError| Failure::from(Internal::Encode(e.to_string()));
    let mut files = Vec::new();
    if figures.grid.iter().flatten().any(|s| *s > 0) {
        let over = match window {
            Window::All => "All time".to_owned(),
            Window::Days(n) => format!("Last {n} days"),
        };
        let bytes = heatmap_png::render(&HeatmapImage {
            title: "Call time by weekday and hour".to_owned(),
            subtitle: format!("{over} · {}", tz.name()),
            grid: figures.grid,
        })
        .map_err(encode)?;
        files.push(File {
            name: heatmap_png::FILE_NAME.to_owned(),
            content_type: "image/png",
            description: Some(format!("Call time by weekday and hour, in {}", tz.name())),
            bytes,
        });
    }
    if figures.daily.iter().any(|(_, s)| *s > 0) {
        let bytes = chart_png::render(&ChartImage {
            title: "Call time per day".to_owned(),
            subtitle: format!("Last {} days · {}", figures.daily.len(), tz.name()),
            days: figures
                .daily
                .iter()
                .map(|(d, s)| (d.format("%-d %b").to_string(), *s))
                .collect(),
        })
        .map_err(encode)?;
        files.push(File {
            name: chart_png::FILE_NAME.to_owned(),
            content_type: "image/png",
            description: Some(format!("Call time per day, in {}", tz.name())),
            bytes,
        });
    }
    Ok(files)
}

/// Days of the activity chart.
pub const CHART_DAYS: u64 = 30;

/// What the stats embed shows, before rendering.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    pub stats: Stats,
    /// Seconds per local weekday and hour.
    pub grid: [[u64; 24]; 7],
    /// Seconds per local day, oldest first (the chart).
    pub daily: Vec<(chrono::NaiveDate, u64)>,
    pub channels: BTreeMap<ChannelId, u64>,
}

/// All-time figures: the all-time record and the call in progress, wholly; the heatmap with
/// today's offset of `tz` for every bucket (`docs/behaviour.md`: all-time heatmaps and
/// daylight-saving time), the chart from the record's last local days.
#[must_use]
pub fn all_time_figures(
    all: Option<&AllTime>,
    live: Option<&ClosedSession>,
    tz: Tz,
    now: Timestamp,
) -> Figures {
    let mut heatmap = all.map(|a| a.heatmap.clone()).unwrap_or_default();
    let mut stats = all.map(|a| a.stats).unwrap_or_default();
    let mut channels = all.map(|a| a.channels.clone()).unwrap_or_default();
    let mut daily: BTreeMap<chrono::NaiveDate, u64> = all
        .map(|a| a.recent.iter().map(|(d, s)| (*d, s.total)).collect())
        .unwrap_or_default();
    if let Some(live) = live {
        for (bucket, secs) in live.heatmap_buckets() {
            heatmap.add(bucket, secs);
        }
        stats.add_session(live);
        *channels.entry(live.channel).or_default() += live.duration();
        for (d, secs) in split_local_days(live.start(), live.end, tz) {
            *daily.entry(d).or_default() += secs;
        }
    }
    let chart = LocalWindow::last_days(now, CHART_DAYS, tz);
    Figures {
        stats,
        grid: heatmap.localize_grid(utc_offset_secs(tz, now)),
        daily: chart
            .dates()
            .into_iter()
            .map(|d| (d, daily.get(&d).copied().unwrap_or(0)))
            .collect(),
        channels,
    }
}

/// The hour-of-day and day-of-week views of a weekday × hour grid.
#[must_use]
pub fn grid_views(grid: &[[u64; 24]; 7]) -> LocalHeatmap {
    let mut local = LocalHeatmap::default();
    for (day, hours) in grid.iter().enumerate() {
        for (hour, secs) in hours.iter().enumerate() {
            local.hours[hour] += secs;
            local.days[day] += secs;
        }
    }
    local
}

#[cfg(test)]
mod tests {
    use super::*;
    use callstats_core::{Flags, OpenSession, RankingRule, SessionId};
    use twilight_model::id::Id;

    fn ts(s: i64) -> Timestamp {
        Timestamp::new(s).unwrap()
    }

    fn closed(start: i64, secs: u64) -> ClosedSession {
        OpenSession::new(
            SessionId::new(ts(start), 1),
            Id::new(1),
            Id::new(2),
            Id::new(3),
            Flags::NONE,
        )
        .close(ts(start).plus(secs), Tz::UTC, false)
    }

    #[test]
    fn the_call_in_progress_counts_wholly_for_all_time() {
        let day = 86_400;
        let now = 20_418 * day + 12 * 3600;
        let mut all = AllTime::default();
        all.stats.add_session(&closed(now - 20 * day, 600));
        all.heatmap.add(0, 600);
        let live = closed(now - 7 * day + 11 * 3600, (7 * day - 11 * 3600) as u64);
        let f = all_time_figures(Some(&all), Some(&live), Tz::UTC, ts(now));
        assert_eq!(f.stats.total, 600 + live.duration());
        assert_eq!(f.stats.sessions, 2);
        assert_eq!(f.grid.iter().flatten().sum::<u64>(), f.stats.total);
        assert_eq!(f.daily.len(), 30);
        assert_eq!(f.daily.last().unwrap().1, 12 * 3600);
        let _ = RankingRule::default();
    }
}
