//! Rendering: plain functions from data to Discord messages, no I/O, no clock. Every
//! renderer ends with [`crate::limits::fit`], so its output stays inside Discord's limits whatever
//! the data (tested with worst cases beside each renderer). The images (`heatmap_png`,
//! `chart_png`) share their drawing in `image`.

pub mod chart_png;
pub mod export;
pub mod format;
pub mod heatmap_png;
pub mod heatmap_text;
pub mod history;
pub mod image;
pub mod partners;
pub mod privacy;
pub mod server;
pub mod settings;
pub mod show;
pub mod top;

use callstats_core::Timestamp;

use crate::limits;
use twilight_model::channel::message::Embed;
use twilight_model::channel::message::embed::{EmbedField, EmbedFooter};

/// Embed colours: one for stats, one for notices.
pub const COLOR_STATS: u32 = 0x0058_65f2;
pub const COLOR_NOTICE: u32 = 0x00fe_e75c;

/// An attachment shown as an embed's image.
#[must_use]
pub fn attachment_image(file: &str) -> twilight_model::channel::message::embed::EmbedImage {
    twilight_model::channel::message::embed::EmbedImage {
        height: None,
        proxy_url: None,
        url: format!("attachment://{file}"),
        width: None,
        content_type: None,
        placeholder: None,
        placeholder_version: None,
        flags: None,
    }
}

/// A second embed that only shows an attached image, under the first.
#[must_use]
pub fn image_embed(file: &str) -> Embed {
    let mut e = embed();
    e.image = Some(attachment_image(file));
    e
}

/// An empty rich embed.
#[must_use]
pub fn embed() -> Embed {
    Embed {
        author: None,
        color: Some(COLOR_STATS),
        description: None,
        fields: Vec::new(),
        flags: None,
        footer: None,
        image: None,
        kind: "rich".into(),
        provider: None,
        thumbnail: None,
        timestamp: None,
        title: None,
        url: None,
        video: None,
    }
}

/// A short embed for notices and confirmations.
#[must_use]
pub fn notice(title: &str, text: &str) -> Embed {
    let mut e = embed();
    e.color = Some(COLOR_NOTICE);
    e.title = Some(title.to_owned());
    e.description = Some(text.to_owned());
    limits::fit(&mut e, limits::EMBEDS_TOTAL);
    e
}

/// Total time, active time with its share, and sessions: the first fields of a stats embed.
#[must_use]
pub fn time_fields(s: &callstats_core::Stats) -> Vec<EmbedField> {
    use format::{human_duration, percent};
    vec![
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
    ]
}

/// One line per channel: its mention, time and share of `total`.
#[must_use]
pub fn channel_lines(channels: &[(callstats_core::ChannelId, u64)], total: u64) -> Vec<String> {
    use format::{human_duration, percent};
    channels
        .iter()
        .map(|(c, secs)| {
            format!(
                "<#{c}> · {} ({} %)",
                human_duration(*secs),
                percent(*secs, total)
            )
        })
        .collect()
}

/// Finishes an embed: its fields, the image attached as `image`, the footer, all within
/// Discord's limits.
#[must_use]
pub fn finish(
    mut e: twilight_model::channel::message::Embed,
    fields: Vec<EmbedField>,
    image: Option<&String>,
    footer_text: String,
) -> twilight_model::channel::message::Embed {
    e.fields = fields;
    if let Some(file) = image {
        e.image = Some(attachment_image(file));
    }
    e.footer = footer(footer_text);
    limits::fit(&mut e, limits::EMBEDS_TOTAL);
    e
}

#[must_use]
pub fn field(name: impl Into<String>, value: impl Into<String>, inline: bool) -> EmbedField {
    EmbedField {
        inline,
        name: name.into(),
        value: value.into(),
    }
}

#[must_use]
pub fn footer(text: impl Into<String>) -> Option<EmbedFooter> {
    Some(EmbedFooter {
        icon_url: None,
        proxy_icon_url: None,
        text: text.into(),
    })
}

/// A Discord timestamp: every viewer sees it in their own clock's timezone and language.
/// Styles: `f` date and time, `t` time, `R` relative.
#[must_use]
pub fn when(at: Timestamp, style: char) -> String {
    format!("<t:{}:{style}>", at.unix())
}

/// Text from users (names) made inert: markdown, mentions and links do nothing.
#[must_use]
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '#' | '[' | ']' | '(' | ')' | '<' | '-'
            | ':' | '@' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Text to show inside an inline code span.
#[must_use]
pub fn escape_code(text: &str) -> String {
    text.replace('`', "'").replace(['\n', '\r'], " ")
}

/// A user's name as a title shows it: escaped, clipped to `max` characters.
#[must_use]
pub fn name(text: &str, max: usize) -> String {
    let clipped = limits::clip(text.trim(), max);
    let escaped = escape_markdown(&clipped);
    if escaped.is_empty() {
        "a member".into()
    } else {
        escaped
    }
}

/// What every stats footer says about what counts.
pub const COUNTS: &str = "AFK channel excluded · active = neither deafened nor alone";

#[cfg(test)]
mod tests {
    use super::*;

    /// Render times and sizes of the images, for BENCHMARKS.md: `cargo test --release -p
    /// callstats-interactions --lib render::tests::image_times -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn image_times() {
        use std::time::{Duration, Instant};
        const RUNS: usize = 50;
        fn measure(name: &str, render: impl Fn() -> Vec<u8>) {
            let size = render().len();
            let mut times: Vec<Duration> = (0..RUNS)
                .map(|_| {
                    let start = Instant::now();
                    std::hint::black_box(render());
                    start.elapsed()
                })
                .collect();
            times.sort();
            println!(
                "{name}: min {:.2} ms, median {:.2} ms over {RUNS} renders; {size} bytes",
                times[0].as_secs_f64() * 1e3,
                times[RUNS / 2].as_secs_f64() * 1e3,
            );
        }
        // A busy member: time in most hours, every day.
        let heatmap = heatmap_png::HeatmapImage {
            title: "Call time by weekday and hour".into(),
            subtitle: "All time · Europe/Berlin".into(),
            grid: std::array::from_fn(|d| {
                std::array::from_fn(|h| ((d * 24 + h) as u64 * 7919) % 3600)
            }),
        };
        measure("heatmap", || heatmap_png::render(&heatmap).unwrap());
        for n in [7, 30, 365] {
            let chart = chart_png::ChartImage {
                title: "Call time per day".into(),
                subtitle: format!("Last {n} days · Europe/Berlin"),
                days: (0..n)
                    .map(|i| (format!("{} Nov", i % 30 + 1), (i * 7919) % 20_000))
                    .collect(),
            };
            measure(&format!("chart, {n} days"), || {
                chart_png::render(&chart).unwrap()
            });
        }
    }

    #[test]
    fn names_are_inert() {
        assert_eq!(
            escape_markdown("**bold** @everyone"),
            "\\*\\*bold\\*\\* \\@everyone"
        );
        assert_eq!(escape_markdown("<@123>"), "\\<\\@123\\>");
        assert_eq!(escape_markdown("a\nb"), "a b");
        assert_eq!(name("   ", 10), "a member");
        assert_eq!(when(Timestamp::new(5).unwrap(), 'R'), "<t:5:R>");
    }
}
