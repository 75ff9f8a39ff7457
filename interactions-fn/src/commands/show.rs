//! `/callstats show [user] [period] [private]` and the "Call stats" context menu.
//!
//! Windows are the last 7 or 30 **UTC days, today included** (day items are UTC days), and
//! the session in progress counts live: its time inside the window adds to the window, its
//! whole length to all time. Heatmaps are all time, shown in the viewer's timezone: as text
//! and as an attached image (`attachment://heatmap.png`).

use twilight_model::application::interaction::application_command::CommandData;

use callstats_core::heatmap::Heatmap;
use callstats_core::period::Day;
use callstats_core::period::utc_offset_secs;
use callstats_core::session::DayTotals;
use callstats_core::{Aggregate, ClosedSession, Stats};

use super::{Options, target};
use crate::context::App;
use crate::error::{Failure, Internal, Notice};
use crate::interaction::{Ctx, Person};
use crate::render::heatmap_png::{self, HeatmapImage};
use crate::render::show::{Live, ShowView, Window};
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
    let range = match args.window {
        Window::All => None,
        Window::Days(n) => Some(Day::window(ctx.now, n)),
    };
    let (viewer, target_settings, all_time, days, open, config) = tokio::try_join!(
        store.user_settings(ctx.invoker.id),
        async {
            if own {
                Ok(None)
            } else {
                store.user_settings(target).await.map(Some)
            }
        },
        store.all_time(target, guild),
        async {
            match range {
                Some((first, last)) => store.days(target, guild, first, last).await,
                None => Ok(Vec::new()),
            }
        },
        store.open_session(target, guild),
        store.guild_config(guild),
    )?;
    if target_settings.is_some_and(|s| s.opted_out) {
        return Err(Notice::TargetOptedOut.into());
    }
    let live = open.map(|o| o.live(ctx.now, config.timezone));
    let timezone = viewer.timezone_or_utc();
    let offset = utc_offset_secs(timezone, ctx.now);
    let figures = figures(all_time.as_ref(), &days, live.as_ref(), range);
    let image = if figures.heatmap.total() > 0 {
        let bytes = heatmap_png::render(&HeatmapImage {
            title: "Call time by weekday and hour".to_owned(),
            subtitle: format!("All time · {}", timezone.name()),
            grid: figures.heatmap.localize_grid(offset),
        })
        .map_err(|e| Internal::Encode(e.to_string()))?;
        Some(File {
            name: heatmap_png::FILE_NAME.to_owned(),
            content_type: "image/png",
            description: Some(format!(
                "Call time by weekday and hour, all time, in {}",
                timezone.name()
            )),
            bytes,
        })
    } else {
        None
    };
    let view = ShowView {
        name: args.target.name.clone(),
        window: args.window,
        days: range,
        stats: figures.stats,
        live: live.as_ref().map(|l| Live {
            channel: l.channel,
            secs: l.duration(),
        }),
        heatmap: figures.heatmap.localize(offset),
        timezone,
        rule: config.rule,
        own_opted_out: own && viewer.opted_out,
        image: image.as_ref().map(|f| f.name.clone()),
    };
    let mut message = Message::embed(crate::render::show::show(&view)).with_ephemeral(args.private);
    message.files.extend(image);
    Ok(Reply::Message(message))
}

/// What the stats embed shows, before rendering.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    pub stats: Stats,
    /// All time, UTC buckets.
    pub heatmap: Heatmap,
}

/// The figures for all time (`range` is `None`) or a window of days, the live session
/// counted in: wholly for all time, by its days inside the window for a window.
#[must_use]
pub fn figures(
    all_time: Option<&Aggregate>,
    days: &[(Day, DayTotals)],
    live: Option<&ClosedSession>,
    range: Option<(Day, Day)>,
) -> Figures {
    let mut heatmap = all_time.map(|a| a.heatmap.clone()).unwrap_or_default();
    if let Some(live) = live {
        for (bucket, secs) in live.heatmap_buckets() {
            heatmap.add(bucket, secs);
        }
    }
    let mut stats = Stats::default();
    match range {
        None => {
            if let Some(a) = all_time {
                stats = a.stats;
            }
            if let Some(live) = live {
                stats.add_session(live);
            }
        }
        Some((first, last)) => {
            let inside = |d: &Day| first <= *d && *d <= last;
            for (_, totals) in days.iter().filter(|(d, _)| inside(d)) {
                stats.add_day(totals);
            }
            if let Some(live) = live {
                for (_, totals) in live.day_totals().iter().filter(|(d, _)| inside(d)) {
                    stats.add_day(totals);
                }
            }
        }
    }
    Figures { stats, heatmap }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callstats_core::{Flags, OpenSession, RankingRule, SessionId, Timestamp};
    use chrono_tz::Tz;
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
    fn live_session_counts_wholly_for_all_time_and_by_days_in_a_window() {
        // Noon of some day; the live session started at 23:00 the day before the window.
        let day = 86_400;
        let now = 20_418 * day + 12 * 3600;
        let mut agg = Aggregate::default();
        let old = closed(now - 20 * day, 600);
        agg.add_session(&old, RankingRule::default());
        let live = closed(now - 7 * day + 11 * 3600, (7 * day - 11 * 3600) as u64);
        let range = Day::window(ts(now), 7);
        let all = figures(Some(&agg), &[], Some(&live), None);
        assert_eq!(all.stats.total, 600 + live.duration());
        assert_eq!(all.stats.sessions, 2);
        assert_eq!(all.heatmap.total(), all.stats.total);
        let window = figures(Some(&agg), &[], Some(&live), Some(range));
        // The live session began on the day before the window: only its time inside counts,
        // and it did not start inside the window.
        assert_eq!(window.stats.total, (6 * day + 12 * 3600) as u64);
        assert_eq!(window.stats.sessions, 0);
    }
}
