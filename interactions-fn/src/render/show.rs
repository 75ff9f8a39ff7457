//! `/callstats show` and the "Call stats" context menu: one embed of figures and two text
//! heatmaps (and, from the command, a heatmap image attached to it).

use crate::render::format::{human_duration, percent};
use crate::render::heatmap_text;
use callstats_core::heatmap::LocalHeatmap;
use callstats_core::period::Day;
use callstats_core::{ChannelId, RankingRule, Stats};
use chrono_tz::Tz;
use twilight_model::channel::message::Embed;
use twilight_model::channel::message::embed::EmbedImage;

use super::{COUNTS, embed, field, footer, limits, name, when};

/// Which stretch of time the figures cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    All,
    /// The last `n` UTC days, today included.
    Days(u64),
}

/// The session in progress, counted up to now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Live {
    pub channel: ChannelId,
    /// Seconds so far, the whole session (not only the part inside a window).
    pub secs: u64,
}

/// Everything the stats embed shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShowView {
    /// The member's display name, as Discord gave it (escaped here).
    pub name: String,
    pub window: Window,
    /// First and last UTC day of a window.
    pub days: Option<(Day, Day)>,
    /// Figures for the window, the live session included.
    pub stats: Stats,
    pub live: Option<Live>,
    /// All-time heatmap in `timezone`, the live session included.
    pub heatmap: LocalHeatmap,
    /// The viewer's timezone: heatmaps are shown in it.
    pub timezone: Tz,
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
    let mut description = match (view.window, view.days) {
        (Window::All, _) => "All time in this server.".to_owned(),
        (Window::Days(n), Some((first, last))) => {
            format!("Last {n} days in this server: {first} to {last} (UTC days, today included).")
        }
        (Window::Days(n), None) => format!("Last {n} days in this server."),
    };
    if view.own_opted_out {
        description.push_str(
            "\nYou opted out: nothing new is recorded and others cannot look you up. \
             `/callstats optin` resumes tracking.",
        );
    }
    let s = &view.stats;
    if s.sessions == 0 && s.total == 0 && view.live.is_none() {
        description.push_str("\nNo calls recorded here yet.");
        e.description = Some(description);
        e.footer = footer(footer_text(view));
        limits::fit(&mut e, limits::EMBEDS_TOTAL);
        return e;
    }
    if view.window != Window::All {
        description.push_str(" Heatmaps cover all time.");
    }
    e.description = Some(description);
    e.fields = vec![
        field("Total time", human_duration(s.total), true),
        field(
            "Active time",
            format!(
                "{} ({} %)",
                human_duration(s.active),
                percent(s.active, s.total)
            ),
            true,
        ),
        field("Sessions", s.sessions.to_string(), true),
        field("Average session", human_duration(s.average()), true),
        field("Longest session", human_duration(s.longest), true),
        field("Last active", last_active(s, view.live), true),
        field(
            format!("Hours of the day ({})", view.timezone.name()),
            format!("```\n{}\n```", heatmap_text::hours(&view.heatmap)),
            false,
        ),
        field(
            format!("Days of the week ({})", view.timezone.name()),
            format!("```\n{}\n```", heatmap_text::days(&view.heatmap)),
            false,
        ),
    ];
    if let Some(file) = &view.image {
        e.image = Some(EmbedImage {
            height: None,
            proxy_url: None,
            url: format!("attachment://{file}"),
            width: None,
            content_type: None,
            placeholder: None,
            placeholder_version: None,
            flags: None,
        });
    }
    e.footer = footer(footer_text(view));
    limits::fit(&mut e, limits::EMBEDS_TOTAL);
    e
}

/// "in a call now, 35 min 00 s", a relative time, or "never".
#[must_use]
pub fn last_active(stats: &Stats, live: Option<Live>) -> String {
    match (live, stats.last_active) {
        (Some(live), _) => format!(
            "in a call now, {} (<#{}>)",
            human_duration(live.secs),
            live.channel
        ),
        (None, Some(at)) => when(at, 'R'),
        (None, None) => "never".into(),
    }
}

fn footer_text(view: &ShowView) -> String {
    format!(
        "{COUNTS} · ranking {} · times in {}",
        view.rule.describe(),
        view.timezone.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::Message;
    use callstats_core::Timestamp;
    use twilight_model::id::Id;

    fn view() -> ShowView {
        let mut heatmap = LocalHeatmap::default();
        heatmap.hours[20] = 7200;
        heatmap.days[4] = 7200;
        ShowView {
            name: "Ada".into(),
            window: Window::All,
            days: None,
            stats: Stats {
                total: 7200,
                active: 5400,
                sessions: 3,
                longest: 3600,
                last_active: Timestamp::new(1_795_000_000),
            },
            live: None,
            heatmap,
            timezone: chrono_tz::Europe::Berlin,
            rule: RankingRule::default(),
            own_opted_out: false,
            image: None,
        }
    }

    #[test]
    fn shows_every_figure() {
        let e = show(&view());
        let get = |n: &str| {
            e.fields
                .iter()
                .find(|f| f.name == n)
                .map(|f| f.value.clone())
                .unwrap()
        };
        assert_eq!(get("Total time"), "2 h 00 min");
        assert_eq!(get("Active time"), "1 h 30 min (75 %)");
        assert_eq!(get("Sessions"), "3");
        assert_eq!(get("Average session"), "40 min 00 s");
        assert_eq!(get("Longest session"), "1 h 00 min");
        assert_eq!(get("Last active"), "<t:1795000000:R>");
        assert!(get("Hours of the day (Europe/Berlin)").starts_with("```\n"));
        assert!(e.footer.unwrap().text.ends_with("times in Europe/Berlin"));
    }

    #[test]
    fn live_session_and_empty_states() {
        let mut v = view();
        v.live = Some(Live {
            channel: Id::new(9),
            secs: 35 * 60,
        });
        assert_eq!(
            last_active(&v.stats, v.live),
            "in a call now, 35 min 00 s (<#9>)"
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
        v.days = Some((Day::of(Timestamp::EPOCH), Day::of(Timestamp::MAX)));
        // A century in calls: far beyond any real figure, still exact arithmetic.
        let century = 100 * 366 * 86_400;
        v.stats.total = century;
        v.stats.active = century;
        v.stats.sessions = u64::from(u32::MAX);
        v.stats.longest = century;
        v.heatmap.hours = [century / 24; 24];
        v.heatmap.days = [century / 7; 7];
        v.timezone = chrono_tz::America::Argentina::ComodRivadavia;
        v.own_opted_out = true;
        v.image = Some("heatmap.png".into());
        v.live = Some(Live {
            channel: Id::new(u64::MAX),
            secs: century,
        });
        let m = Message::embed(show(&v));
        limits::check(&m).unwrap();
    }
}
