//! `/callstats server`: a server's call activity over a period, one embed of figures and two
//! text heatmaps (and, from the command, the heatmap and activity chart as images).

use std::fmt::Write as _;

use chrono::NaiveDate;
use chrono_tz::Tz;
use twilight_model::channel::message::Embed;
use twilight_model::channel::message::embed::EmbedField;

use callstats_core::board::Peak;
use callstats_core::heatmap::LocalHeatmap;
use callstats_core::{ChannelId, Stats};

use super::format::{human_duration, percent};
use super::heatmap_text;
use super::{COUNTS, embed, field, footer, limits, when};

/// Channels listed at most (the rest, and channels not everyone can view, are summed).
pub const TOP_CHANNELS: usize = 5;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerView {
    /// "the last 7 days", "this week", "all time"...
    pub period: String,
    /// The local days covered (none for all time).
    pub dates: Option<(NaiveDate, NaiveDate)>,
    pub stats: Stats,
    pub members: usize,
    /// The most members in voice at once and when, with what it covers ("the last 31 days"
    /// for all time).
    pub peak: Option<(Peak, Option<String>)>,
    /// Channels everyone can view, most time first, at most [`TOP_CHANNELS`].
    pub channels: Vec<(ChannelId, u64)>,
    /// Seconds in every other channel.
    pub other_channels: u64,
    /// The change against the previous period of the same length, and what that period was;
    /// `None` for all time.
    pub change: Option<(Option<i64>, String)>,
    /// The busiest hours and weekdays (for all time: the last 30 days).
    pub heatmap: LocalHeatmap,
    pub heatmap_note: Option<String>,
    pub timezone: Tz,
    /// File name of an attached heatmap image.
    pub image: Option<String>,
    /// Calls in progress count up to this instant: the tracker has not reported since.
    pub live_as_of: Option<callstats_core::Timestamp>,
}

#[must_use]
pub fn server(view: &ServerView) -> Embed {
    let mut e = embed();
    e.title = Some(format!("Voice activity in this server · {}", view.period));
    let mut description = match view.dates {
        Some((first, last)) => {
            format!("From {first} to {last} (days in {}).", view.timezone.name())
        }
        None => "Everything recorded in this server.".to_owned(),
    };
    if let Some(at) = view.live_as_of {
        let _ = write!(
            description,
            "\nCalls in progress are counted as of {}: the tracker has not reported since.",
            when(at, 't')
        );
    }
    let s = &view.stats;
    if s.total == 0 {
        description.push_str("\nNo call time here in this period.");
        e.description = Some(description);
        e.footer = footer(footer_text(view));
        limits::fit(&mut e, limits::EMBEDS_TOTAL);
        return e;
    }
    e.description = Some(description);
    let mut fields = figures(view);
    if !view.channels.is_empty() || view.other_channels > 0 {
        fields.push(channels(view));
    }
    let suffix = view
        .heatmap_note
        .as_ref()
        .map_or_else(String::new, |n| format!(", {n}"));
    fields.extend(heatmap_text::fields(
        &view.heatmap,
        &format!("{}{suffix}", view.timezone.name()),
    ));
    super::finish(e, fields, view.image.as_ref(), footer_text(view))
}

fn figures(view: &ServerView) -> Vec<EmbedField> {
    let s = &view.stats;
    let mut fields = super::time_fields(s);
    fields.extend([
        field("Members who called", view.members.to_string(), true),
        field("Average call", human_duration(s.average()), true),
    ]);
    if let Some((peak, covers)) = &view.peak {
        let covers = covers
            .as_ref()
            .map_or_else(String::new, |c| format!(" ({c})"));
        fields.push(field(
            format!("Most in voice at once{covers}"),
            format!(
                "{} member{} · {}",
                peak.members,
                if peak.members == 1 { "" } else { "s" },
                when(peak.at, 'f')
            ),
            true,
        ));
    }
    if let Some((change, previous)) = &view.change {
        fields.push(field(
            "Change",
            match change {
                Some(p) if *p >= 0 => format!("+{p} % on {previous}"),
                Some(p) => format!("{p} % on {previous}"),
                None => format!("no call time in {previous}"),
            },
            true,
        ));
    }
    fields
}

fn channels(view: &ServerView) -> EmbedField {
    let total = view.stats.total;
    let mut lines = super::channel_lines(&view.channels, total);
    if view.other_channels > 0 {
        lines.push(format!(
            "other channels · {} ({} %)",
            human_duration(view.other_channels),
            percent(view.other_channels, total)
        ));
    }
    field("Top channels", lines.join("\n"), false)
}

fn footer_text(view: &ServerView) -> String {
    format!(
        "{COUNTS} · bots and members who opted out never count · days and times in {} (the \
         server's timezone, /callconfig)",
        view.timezone.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use callstats_core::Timestamp;
    use twilight_model::id::Id;

    fn view() -> ServerView {
        ServerView {
            period: "the last 7 days".into(),
            dates: Some((
                NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
                NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
            )),
            stats: Stats {
                total: 7200,
                active: 3600,
                sessions: 4,
                longest: 0,
                last_active: None,
            },
            members: 3,
            peak: Some((
                Peak {
                    members: 3,
                    at: Timestamp::new(1_795_000_000).unwrap(),
                },
                None,
            )),
            channels: vec![(Id::new(10), 5400)],
            other_channels: 1800,
            change: Some((Some(-25), "the previous 7 days".into())),
            heatmap: LocalHeatmap::default(),
            heatmap_note: None,
            timezone: chrono_tz::Europe::Berlin,
            image: Some("heatmap.png".into()),
            live_as_of: None,
        }
    }

    fn value<'a>(e: &'a Embed, name: &str) -> &'a str {
        &e.fields.iter().find(|f| f.name == name).unwrap().value
    }

    #[test]
    fn every_figure_has_its_field() {
        let e = server(&view());
        assert_eq!(value(&e, "Total time"), "2 h 00 min");
        assert_eq!(value(&e, "Active time"), "1 h 00 min (50 %)");
        assert_eq!(value(&e, "Members who called"), "3");
        assert_eq!(value(&e, "Average call"), "30 min 00 s");
        assert_eq!(value(&e, "Change"), "-25 % on the previous 7 days");
        assert_eq!(
            value(&e, "Top channels"),
            "<#10> · 1 h 30 min (75 %)\nother channels · 30 min 00 s (25 %)"
        );
        assert!(value(&e, "Most in voice at once").starts_with("3 members · <t:1795000000:f>"));
        assert_eq!(e.image.unwrap().url, "attachment://heatmap.png");
    }

    #[test]
    fn an_empty_period_says_so() {
        let mut v = view();
        v.stats = Stats::default();
        let e = server(&v);
        assert!(e.fields.is_empty());
        assert!(
            e.description
                .unwrap()
                .ends_with("No call time here in this period.")
        );
    }
}
