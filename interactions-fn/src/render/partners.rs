//! `/callstats partners`: the members you spent most call time with, in this server.

use twilight_model::channel::message::Embed;

use callstats_core::UserId;

use super::format::{human_duration, percent};
use super::{COUNTS, embed, footer, limits, name};

/// Partners listed at most.
pub const MAX_PARTNERS: usize = 10;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partner {
    pub user: UserId,
    /// The display name the tracker last saw; `None` shows a mention (never a ping).
    pub name: Option<String>,
    pub secs: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnersView {
    /// "the last 7 days", "all time"...
    pub period: String,
    /// Most time first, at most [`MAX_PARTNERS`].
    pub partners: Vec<Partner>,
    /// Your call time in the same days: the base of each share.
    pub total: u64,
    /// The days are cut in this timezone's calendar.
    pub timezone: chrono_tz::Tz,
}

#[must_use]
pub fn partners(view: &PartnersView) -> Embed {
    let mut e = embed();
    e.title = Some(format!("Your call partners · {}", view.period));
    e.description = Some(if view.partners.is_empty() {
        "Nobody shared a call with you here in these days (calls in progress count once they \
         end)."
            .to_owned()
    } else {
        view.partners
            .iter()
            .take(MAX_PARTNERS)
            .enumerate()
            .map(|(i, p)| {
                let who = p.name.as_deref().map_or_else(
                    || format!("<@{}>", p.user),
                    |n| format!("**{}**", name(n, 40)),
                );
                format!(
                    "`{}.` {who} · {} · {} % of your call time",
                    i + 1,
                    human_duration(p.secs),
                    percent(p.secs, view.total)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    e.footer = footer(format!(
        "Time in the same channel, calls that ended · only you see this · {COUNTS} · days in {}",
        view.timezone.name()
    ));
    limits::fit(&mut e, limits::EMBEDS_TOTAL);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use twilight_model::id::Id;

    #[test]
    fn lines_name_partners_without_pinging_and_fit() {
        let view = PartnersView {
            period: "the last 30 days".into(),
            partners: (1..=12)
                .map(|i| Partner {
                    user: Id::new(i),
                    name: (i != 2).then(|| format!("*member* {i}")),
                    secs: 3600 * (13 - i),
                })
                .collect(),
            total: 36_000,
            timezone: chrono_tz::Europe::Berlin,
        };
        let e = partners(&view);
        let text = e.description.unwrap();
        assert_eq!(text.lines().count(), MAX_PARTNERS);
        assert!(
            text.starts_with("`1.` **\\*member\\* 1** · 12 h 00 min · 120 % of your call time")
        );
        assert!(text.contains("`2.` <@2> · 11 h 00 min"));
        assert!(e.footer.unwrap().text.ends_with("days in Europe/Berlin"));
    }
}
