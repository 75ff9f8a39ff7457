//! `/callstats history`: the most recent sessions, newest first.

use crate::render::format::human_duration;
use callstats_core::session::SessionRecord;
use callstats_core::{ChannelId, Timestamp};
use twilight_model::channel::message::Embed;

use super::{COUNTS, embed, footer, limits, name, when};

/// Sessions listed at most (newest first).
pub const MAX_SESSIONS: usize = 15;

/// The session in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveSession {
    pub start: Timestamp,
    pub secs: u64,
    pub channel: ChannelId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryView {
    pub name: String,
    pub live: Option<LiveSession>,
    /// Newest first.
    pub sessions: Vec<SessionRecord>,
    /// The member looks at themself: channels are shown.
    pub channels_shown: bool,
    /// The call in progress counts up to this instant: the tracker has not reported since.
    pub live_as_of: Option<Timestamp>,
}

/// One line per session: start, end, duration, and the channel when `channel` is true; `≈`
/// marks an estimated end.
#[must_use]
pub fn line(record: &SessionRecord, channel: bool) -> String {
    let end_style = if record.duration() < 86_400 { 't' } else { 'f' };
    format!(
        "{} → {}{} · **{}**{}",
        when(record.start(), 'f'),
        if record.estimated { "≈ " } else { "" },
        when(record.end, end_style),
        human_duration(record.duration()),
        channel_part(record.channel, channel),
    )
}

fn channel_part(channel: ChannelId, shown: bool) -> String {
    if shown {
        format!(" · <#{channel}>")
    } else {
        String::new()
    }
}

#[must_use]
pub fn history(view: &HistoryView) -> Embed {
    let mut e = embed();
    e.title = Some(format!("Recent calls · {}", name(&view.name, 100)));
    let mut lines = Vec::new();
    if let Some(live) = view.live {
        let until = view.live_as_of.map_or_else(
            || "now".to_owned(),
            |at| format!("{} (last report)", when(at, 't')),
        );
        lines.push(format!(
            "🔴 {} → {until} · **{}**{} · in a call now",
            when(live.start, 'f'),
            human_duration(live.secs),
            channel_part(live.channel, view.channels_shown),
        ));
    }
    lines.extend(
        view.sessions
            .iter()
            .take(MAX_SESSIONS)
            .map(|r| line(r, view.channels_shown)),
    );
    e.description = Some(if lines.is_empty() {
        "No calls recorded in this server yet.".into()
    } else {
        // Whole lines only: drop the oldest until the list fits.
        let mut text = lines.join("\n");
        while limits::len(&text) > limits::DESCRIPTION && lines.len() > 1 {
            lines.pop();
            text = lines.join("\n");
        }
        text
    });
    e.footer = footer(format!(
        "Newest first, times in your own clock · ≈ end estimated after an outage · {COUNTS}"
    ));
    limits::fit(&mut e, limits::EMBEDS_TOTAL);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::Message;
    use callstats_core::{Breakdown, SessionId};
    use twilight_model::id::Id;

    fn record(start: i64, secs: u64, estimated: bool) -> SessionRecord {
        let start = Timestamp::new(start).unwrap();
        SessionRecord {
            id: SessionId::new(start, 1),
            user: Id::new(1),
            guild: Id::new(2),
            channel: Id::new(3),
            end: start.plus(secs),
            estimated,
            breakdown: Breakdown::default(),
        }
    }

    #[test]
    fn lines_show_start_end_duration_channel() {
        assert_eq!(
            line(&record(1_795_000_000, 3900, false), true),
            "<t:1795000000:f> → <t:1795003900:t> · **1 h 05 min** · <#3>"
        );
        assert_eq!(
            line(&record(1_795_000_000, 90_000, true), true),
            "<t:1795000000:f> → ≈ <t:1795090000:f> · **25 h 00 min** · <#3>"
        );
        assert_eq!(
            line(&record(1_795_000_000, 3900, false), false),
            "<t:1795000000:f> → <t:1795003900:t> · **1 h 05 min**"
        );
    }

    #[test]
    fn worst_case_fits() {
        let view = HistoryView {
            name: "ﷺ".repeat(32),
            live: Some(LiveSession {
                start: Timestamp::MAX,
                secs: u64::from(u32::MAX),
                channel: Id::new(u64::MAX),
            }),
            sessions: (0..100)
                .map(|i| {
                    let mut r = record(Timestamp::MAX.unix() - 200_000 - i, 100_000, true);
                    r.channel = Id::new(u64::MAX);
                    r
                })
                .collect(),
            channels_shown: true,
            live_as_of: Some(Timestamp::MAX),
        };
        let e = history(&view);
        assert_eq!(e.description.as_ref().unwrap().lines().count(), 16);
        limits::check(&Message::embed(e)).unwrap();
    }
}
