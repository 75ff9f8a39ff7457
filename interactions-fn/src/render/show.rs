//! `/callstats show` and the "Call stats" context menu: one embed of figures and two text
//! heatmaps (and, from the command, a heatmap image attached to it).

use std::fmt::Write as _;

use crate::render::format::human_duration;
use crate::render::heatmap_text;
use callstats_core::heatmap::LocalHeatmap;
use callstats_core::{Breakdown, ChannelId, RankingRule, Stats, Timestamp};
use chrono::NaiveDate;
use chrono_tz::Tz;
use twilight_model::channel::message::Embed;
use twilight_model::channel::message::embed::EmbedField;

use super::{COUNTS, embed, field, footer, limits, name, when};

/// Which stretch of time the figures cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    All,
    /// The last `n` of the member's calendar days, today included.
    Days(u64),
}

/// The session in progress, counted up to now (or to the sidecar's last heartbeat).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Live {
    /// The channel, only when the member looks at themself.
    pub channel: Option<ChannelId>,
    /// Seconds so far, the whole session (not only the part inside a window).
    pub secs: u64,
}

/// The member's place on this month's board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rank {
    pub rank: usize,
    /// Members on the board above its floor.
    pub of: usize,
    /// The board holds every member with time this month.
    pub complete: bool,
}

/// Everything the stats embed shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShowView {
    /// The member's display name, as Discord gave it (escaped here).
    pub name: String,
    pub window: Window,
    /// First and last local day of a window.
    pub dates: Option<(NaiveDate, NaiveDate)>,
    /// Figures for the window, the live session included.
    pub stats: Stats,
    pub live: Option<Live>,
    /// Live figures stop here: the sidecar has not been heard from since.
    pub live_as_of: Option<Timestamp>,
    /// Hours of the day and days of the week over the window, in `timezone`.
    pub heatmap: LocalHeatmap,
    /// Where the time went, all time, the live session included.
    pub breakdown: Breakdown,
    /// Current and best run of days with at least ten minutes.
    pub streak: (u32, u32),
    pub rank: Option<Rank>,
    /// Up to three channels with their seconds (only for the member themself).
    pub top_channels: Vec<(ChannelId, u64)>,
    /// Someone else looks: channels are not shown.
    pub channels_hidden: bool,
    /// The viewer's timezone: days and heatmaps are cut in it.
    pub timezone: Tz,
    /// The timezone observes daylight saving time (all-time hours are approximate).
    pub dst: bool,
    /// The guild's ranking rule, for the footer.
    pub rule: RankingRule,
    /// The viewer opted out and looks at their own figures.
    pub own_opted_out: bool,
    /// File name of an attached heatmap image, shown in the embed.
    pub image: Option<String>,
}

/// The stats embed.
#[must_use]
pub fn show(view: &ShowView) -> Embed {
    let mut e = embed();
    e.title = Some(format!("Call stats · {}", name(&view.name, 100)));
    let mut description = description(view);
    let s = &view.stats;
    if s.sessions == 0 && s.total == 0 && view.live.is_none() {
        description.push_str("\nNo calls recorded here yet.");
        e.description = Some(description);
        e.footer = footer(footer_text(view));
        limits::fit(&mut e, limits::EMBEDS_TOTAL);
        return e;
    }
    e.description = Some(description);
    let mut fields = stat_fields(view);
    fields.push(field(
        "Where the time went (all time)",
        breakdown_text(&view.breakdown),
        false,
    ));
    if !view.top_channels.is_empty() {
        fields.push(top_channels(&view.top_channels, s.total));
    }
    fields.extend(heatmap_text::fields(&view.heatmap, view.timezone.name()));
    super::finish(e, fields, view.image.as_ref(), footer_text(view))
}

/// What the figures cover, and notes about them.
fn description(view: &ShowView) -> String {
    let mut description = match (view.window, view.dates) {
        (Window::All, _) => "All time in this server.".to_owned(),
        (Window::Days(n), Some((first, last))) => {
            format!(
                "Last {n} days in this server: {first} to {last} (days in {}).",
                view.timezone.name()
            )
        }
        (Window::Days(n), None) => format!("Last {n} days in this server."),
    };
    if view.own_opted_out {
        description.push_str(
            "\nYou opted out: nothing new is recorded and others cannot look you up. \
             `/callstats optin` resumes tracking.",
        );
    }
    if let Some(at) = view.live_as_of {
        let _ = write!(
            description,
            "\nThe call in progress is counted as of {}: the tracker has not reported since.",
            when(at, 't')
        );
    }
    description
}

/// Totals, sessions, streak and rank.
fn stat_fields(view: &ShowView) -> Vec<EmbedField> {
    let s = &view.stats;
    let mut fields = super::time_fields(s);
    fields.extend([
        field("Average session", human_duration(s.average()), true),
        field("Longest session", human_duration(s.longest), true),
        field("Last active", last_active(s, view.live), true),
        field("Streak", streak_text(view.streak), true),
    ]);
    if let Some(rank) = view.rank {
        let of = if rank.complete {
            rank.of.to_string()
        } else {
            format!("{}+", rank.of)
        };
        fields.push(field("This month", format!("#{} of {of}", rank.rank), true));
    }
    fields
}

/// The member's top channels (only they see these).
fn top_channels(channels: &[(ChannelId, u64)], total: u64) -> EmbedField {
    let lines = super::channel_lines(channels, total);
    field("Top channels (only you see these)", lines.join("\n"), false)
}

/// "in a call now, 35 min 00 s", with the channel for the member themself, a relative time,
/// or "never".
#[must_use]
pub fn last_active(stats: &Stats, live: Option<Live>) -> String {
    match (live, stats.last_active) {
        (
            Some(Live {
                channel: Some(c),
                secs,
            }),
            _,
        ) => {
            format!("in a call now, {} (<#{c}>)", human_duration(secs))
        }
        (
            Some(Live {
                channel: None,
                secs,
            }),
            _,
        ) => {
            format!("in a call now, {}", human_duration(secs))
        }
        (None, Some(at)) => when(at, 'R'),
        (None, None) => "never".into(),
    }
}

fn streak_text((current, best): (u32, u32)) -> String {
    let days = |n: u32| {
        if n == 1 {
            "1 day".to_owned()
        } else {
            format!("{n} days")
        }
    };
    format!("{} (best {})", days(current), days(best))
}

/// "active 9 h 00 min · muted 2 h 00 min · deafened …": every state of the breakdown.
#[must_use]
pub fn breakdown_text(b: &Breakdown) -> String {
    [
        ("active", b.active),
        ("muted", b.muted),
        ("deafened", b.deafened),
        ("alone", b.alone),
        ("streaming", b.streaming),
        ("video", b.video),
    ]
    .iter()
    .map(|(label, secs)| format!("{label} {}", human_duration(*secs)))
    .collect::<Vec<_>>()
    .join(" · ")
}

fn footer_text(view: &ShowView) -> String {
    let dst = if view.window == Window::All && view.dst {
        " · all-time hours at today's UTC offset (an hour off for calls in the other \
         daylight-saving season)"
    } else {
        ""
    };
    format!(
        "{COUNTS} · ranking {} · days and times in {}{dst}",
        view.rule.describe(),
        view.timezone.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::Message;
    use twilight_model::id::Id;

    fn view() -> ShowView {
        let mut heatmap = LocalHeatmap::default();
        heatmap.hours[20] = 7200;
        heatmap.days[4] = 7200;
        ShowView {
            name: "Ada".into(),
            window: Window::All,
            dates: None,
            stats: Stats {
                total: 7200,
                active: 5400,
                sessions: 3,
                longest: 3600,
                last_active: Timestamp::new(1_795_000_000),
            },
            live: None,
            live_as_of: None,
            heatmap,
            breakdown: Breakdown {
                active: 5400,
                muted: 600,
                ..Breakdown::default()
            },
            streak: (2, 5),
            rank: Some(Rank {
                rank: 3,
                of: 41,
                complete: true,
            }),
            top_channels: vec![(Id::new(9), 3600)],
            channels_hidden: false,
            timezone: chrono_tz::Europe::Berlin,
            dst: true,
            rule: RankingRule::default(),
            own_opted_out: false,
            image: None,
        }
    }

    fn get(e: &Embed, n: &str) -> String {
        e.fields
            .iter()
            .find(|f| f.name == n)
            .map(|f| f.value.clone())
            .unwrap()
    }

    #[test]
    fn shows_every_figure() {
        let e = show(&view());
        assert_eq!(get(&e, "Total time"), "2 h 00 min");
        assert_eq!(get(&e, "Active time"), "1 h 30 min (75 %)");
        assert_eq!(get(&e, "Sessions"), "3");
        assert_eq!(get(&e, "Average session"), "40 min 00 s");
        assert_eq!(get(&e, "Longest session"), "1 h 00 min");
        assert_eq!(get(&e, "Last active"), "<t:1795000000:R>");
        assert_eq!(get(&e, "Streak"), "2 days (best 5 days)");
        assert_eq!(get(&e, "This month"), "#3 of 41");
        assert!(
            get(&e, "Where the time went (all time)")
                .starts_with("active 1 h 30 min · muted 10 min 00 s")
        );
        assert_eq!(
            get(&e, "Top channels (only you see these)"),
            "<#9> · 1 h 00 min (50 %)"
        );
        assert!(get(&e, "Hours of the day (Europe/Berlin)").starts_with("```\n"));
        assert!(e.footer.unwrap().text.ends_with(
            "days and times in Europe/Berlin · all-time hours at today's UTC offset (an hour \
             off for calls in the other daylight-saving season)"
        ));
    }

    #[test]
    fn live_session_and_empty_states() {
        let mut v = view();
        v.live = Some(Live {
            channel: Some(Id::new(9)),
            secs: 35 * 60,
        });
        assert_eq!(
            last_active(&v.stats, v.live),
            "in a call now, 35 min 00 s (<#9>)"
        );
        v.live = Some(Live {
            channel: None,
            secs: 35 * 60,
        });
        assert_eq!(last_active(&v.stats, v.live), "in a call now, 35 min 00 s");
        v.live_as_of = Timestamp::new(1_795_000_000);
        assert!(
            show(&v)
                .description
                .unwrap()
                .contains("as of <t:1795000000:t>")
        );
        v.stats = Stats::default();
        v.live = None;
        let e = show(&v);
        assert!(e.fields.is_empty());
        assert!(e.description.unwrap().contains("No calls recorded"));
    }

    #[test]
    fn worst_case_fits() {
        let mut v = view();
        v.name = "𝕬".repeat(40);
        v.window = Window::Days(30);
        v.dates = Some((NaiveDate::MIN, NaiveDate::MAX));
        // A century in calls: far beyond any real figure, still exact arithmetic.
        let century = 100 * 366 * 86_400;
        v.stats.total = century;
        v.stats.active = century;
        v.stats.sessions = u64::from(u32::MAX);
        v.stats.longest = century;
        v.heatmap.hours = [century / 24; 24];
        v.heatmap.days = [century / 7; 7];
        v.breakdown = Breakdown {
            muted: century,
            deafened: century,
            streaming: century,
            video: century,
            alone: century,
            active: century,
        };
        v.streak = (u32::MAX, u32::MAX);
        v.top_channels = vec![(Id::new(u64::MAX), century); 3];
        v.timezone = chrono_tz::America::Argentina::ComodRivadavia;
        v.own_opted_out = true;
        v.live_as_of = Some(Timestamp::MAX);
        v.image = Some("heatmap.png".into());
        v.live = Some(Live {
            channel: Some(Id::new(u64::MAX)),
            secs: century,
        });
        let m = Message::embed(show(&v));
        limits::check(&m).unwrap();
    }
}
