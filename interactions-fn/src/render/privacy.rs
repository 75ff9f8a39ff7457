//! Replies of the privacy commands: opt-out and opt-in, the delete confirmation and report,
//! the export.

use callstats_core::{Timestamp, UserId};
use callstats_store::DeleteReport;
use twilight_model::channel::message::Component;
use twilight_model::channel::message::Embed;
use twilight_model::channel::message::component::{ActionRow, Button, ButtonStyle};

use super::{embed, field, footer, limits, notice};
use crate::custom_id::Action;
use crate::reply::Message;

/// `1 session`, `2 sessions`.
fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[must_use]
pub fn opted_out(ended: usize) -> Embed {
    let ended = match ended {
        0 => String::new(),
        1 => "Your call in progress was ended now and recorded without you on any leaderboard.\n"
            .into(),
        n => format!(
            "Your {n} calls in progress were ended now and recorded without you on any leaderboard.\n"
        ),
    };
    notice(
        "You opted out",
        &format!(
            "{ended}Nothing new is recorded for you in any server, you are off every \
             leaderboard, and others cannot look you up.\nWhat was recorded before stays \
             until you remove it with `/callstats delete`. `/callstats optin` resumes tracking."
        ),
    )
}

#[must_use]
pub fn opted_in() -> Embed {
    notice(
        "Tracking resumed",
        "Your calls are recorded again from the next time you join a voice channel, and your \
         past time is back on the leaderboards.",
    )
}

/// The question, with Delete / Cancel buttons only `owner` can press.
#[must_use]
pub fn delete_confirmation(owner: UserId) -> Message {
    let mut e = notice(
        "Delete all your call data?",
        "This permanently deletes everything recorded about you in **every server**: sessions, \
         totals, daily, weekly and monthly figures, leaderboard entries, calls in progress and \
         your settings. It cannot be undone.\nTracking continues afterwards unless you also \
         opt out with `/callstats optout` (an opt-out is kept so that it stays in force).",
    );
    limits::fit(&mut e, limits::EMBEDS_TOTAL);
    let button = |label: &str, confirm: bool, style: ButtonStyle| {
        Component::Button(Button {
            custom_id: Some(Action::Delete { owner, confirm }.custom_id()),
            disabled: false,
            emoji: None,
            id: None,
            label: Some(label.to_owned()),
            sku_id: None,
            style,
            url: None,
        })
    };
    Message {
        embeds: vec![e],
        components: vec![Component::ActionRow(ActionRow {
            components: vec![
                button("Delete everything", true, ButtonStyle::Danger),
                button("Cancel", false, ButtonStyle::Secondary),
            ],
            id: None,
        })],
        ..Message::default()
    }
}

/// What a deletion removed (buttons gone).
#[must_use]
pub fn deleted(report: &DeleteReport, opted_out: bool) -> Message {
    let mut e = embed();
    e.title = Some("Your call data was deleted".into());
    let mut text = if report.items() == 0 {
        "There was nothing to delete.".to_owned()
    } else {
        format!(
            "Removed {} from every server.",
            counted(report.items(), "stored record", "stored records")
        )
    };
    text.push_str(if opted_out {
        "\nYou stay opted out: nothing new is recorded. `/callstats optin` resumes tracking."
    } else {
        "\nTracking continues with your next call. To stop it, use `/callstats optout`."
    });
    e.description = Some(text);
    e.fields = vec![
        field("Sessions", report.sessions.to_string(), true),
        field("Calls in progress", report.open_sessions.to_string(), true),
        field("Server totals", report.all_time.to_string(), true),
        field("Daily figures", report.days.to_string(), true),
        field(
            "Entries in others' partner lists",
            report.partner_entries.to_string(),
            true,
        ),
        field(
            "Settings",
            if report.settings { "removed" } else { "none" },
            true,
        ),
    ];
    e.footer = footer(format!(
        "Leaderboard entries and names went too, in {}.",
        counted(report.servers, "server", "servers")
    ));
    limits::fit(&mut e, limits::EMBEDS_TOTAL);
    Message {
        embeds: vec![e],
        components: Vec::new(),
        ..Message::default()
    }
}

#[must_use]
pub fn delete_cancelled() -> Message {
    Message {
        embeds: vec![notice("Nothing was deleted", "Your data is as it was.")],
        components: Vec::new(),
        ..Message::default()
    }
}

/// How an export's file is packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packing {
    Plain,
    Gzip,
    /// Compressed, in this many parts.
    Parts(usize),
}

#[must_use]
pub fn exported(sessions: usize, guilds: usize, packing: Packing) -> Embed {
    let packed = match packing {
        Packing::Plain => String::new(),
        Packing::Gzip => " It is compressed with gzip to fit Discord's attachment limit.".into(),
        Packing::Parts(n) => format!(
            " It is compressed with gzip and cut into {n} parts to fit Discord's attachment \
             limit: join them in order (`cat file.gz.* > file.gz`), then decompress."
        ),
    };
    notice(
        "Your call data",
        &format!(
            "Everything recorded about you: {} in {}, with totals, days, half hours, channels, \
             partners and settings, as JSON (format: `callstats-export` version {}, described \
             in the project's docs/export-format.md).{packed}",
            counted(sessions, "session", "sessions"),
            counted(guilds, "server", "servers"),
            super::export::VERSION,
        ),
    )
}

#[must_use]
pub fn export_too_large(sessions: usize) -> Embed {
    notice(
        "Your call data is too large to attach",
        &format!(
            "Your {} do not fit in Discord's attachments even compressed. Ask this bot's \
             operator for your data; nothing was changed.",
            counted(sessions, "session", "sessions"),
        ),
    )
}

#[must_use]
pub fn export_cooldown(next: Timestamp) -> Embed {
    notice(
        "You exported your data a moment ago",
        &format!(
            "An export reads everything recorded about you, so one every 15 minutes is allowed. \
             You can export again {}.",
            super::when(next, 'R')
        ),
    )
}

#[must_use]
pub fn delete_cooldown(at: Timestamp, next: Timestamp) -> Message {
    Message {
        embeds: vec![notice(
            "You deleted your data a moment ago",
            &format!(
                "Your data was deleted {}; nothing was recorded of the calls before. You can \
                 delete again {}.",
                super::when(at, 'R'),
                super::when(next, 'R')
            ),
        )],
        ..Message::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twilight_model::id::Id;

    #[test]
    fn every_reply_fits() {
        let replies = vec![
            Message::embed(opted_out(3)),
            Message::embed(opted_in()),
            delete_confirmation(Id::new(u64::MAX)),
            deleted(
                &DeleteReport {
                    sessions: usize::MAX / 8,
                    open_sessions: 3,
                    all_time: 9,
                    days: 1000,
                    partner_entries: 300,
                    servers: usize::MAX,
                    settings: true,
                },
                true,
            ),
            delete_cancelled(),
            Message::embed(exported(usize::MAX, 1000, Packing::Parts(10))),
        ];
        for m in replies {
            limits::check(&m).unwrap();
        }
    }
}
