//! `/calltop`: one page of a guild's leaderboard, the invoker's own rank, and the buttons.

use crate::render::format::human_duration;
use callstats_core::board::Metric;
use callstats_core::period::PeriodKey;
use callstats_core::{RankingRule, UserId};
use chrono_tz::Tz;
use twilight_model::channel::message::Component;
use twilight_model::channel::message::component::{ActionRow, Button, ButtonStyle};

use super::{COUNTS, embed, footer, limits, name};
use crate::custom_id::{Action, MAX_PAGE, TopPage};
use crate::reply::Message;

/// Entries per page.
pub const PAGE_SIZE: u32 = 10;

/// One line of a board.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub user: UserId,
    pub secs: u64,
    /// The display name the tracker last saw (escaped when rendered); `None` shows a mention
    /// (which never pings: replies allow no mentions).
    pub name: Option<String>,
}

/// The invoker's own line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum You {
    Ranked {
        rank: u64,
        secs: u64,
    },
    /// On a board too long to rank everyone: below its last ranked place.
    Below {
        place: u64,
    },
    /// No time in this period yet.
    NotRanked,
    /// Opted out: hidden from every leaderboard.
    OptedOut,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopView {
    pub owner: UserId,
    pub period: PeriodKey,
    pub metric: Metric,
    pub rule: RankingRule,
    /// The guild's timezone: week and month boundaries.
    pub timezone: Tz,
    /// 1-based.
    pub page: u32,
    /// At least 1.
    pub pages: u32,
    /// This page's lines, highest first.
    pub entries: Vec<Line>,
    pub you: You,
    /// Calls in progress count up to this instant, before now: the tracker has not reported
    /// since.
    pub live_as_of: Option<callstats_core::Timestamp>,
}

/// The pages a leaderboard of `entries` entries has (at least one, at most [`MAX_PAGE`]).
#[must_use]
pub fn page_count(entries: u64) -> u32 {
    let pages = entries.div_ceil(u64::from(PAGE_SIZE)).max(1);
    u32::try_from(pages).unwrap_or(MAX_PAGE).min(MAX_PAGE)
}

#[must_use]
pub fn period_title(period: PeriodKey) -> String {
    match period {
        PeriodKey::All => "all time".into(),
        PeriodKey::Week(w) => format!("week {w}"),
        PeriodKey::Month(m) => format!("month {m}"),
    }
}

fn metric_text(metric: Metric, rule: RankingRule) -> String {
    match metric {
        Metric::Total => "by total time in calls".into(),
        Metric::Ranked => format!("by active time ({})", rule.describe()),
    }
}

#[must_use]
pub fn top(view: &TopView) -> Message {
    let mut e = embed();
    e.title = Some(format!("Voice leaderboard · {}", period_title(view.period)));
    let offset = u64::from(view.page.saturating_sub(1)) * u64::from(PAGE_SIZE);
    let mut lines: Vec<String> = view
        .entries
        .iter()
        .take(PAGE_SIZE as usize)
        .enumerate()
        .map(|(i, entry)| {
            let position = offset + i as u64 + 1;
            let medal = match position {
                1 => "🥇 ",
                2 => "🥈 ",
                3 => "🥉 ",
                _ => "",
            };
            let you = if entry.user == view.owner {
                " ← you"
            } else {
                ""
            };
            let who = entry
                .name
                .as_deref()
                .map_or_else(|| format!("<@{}>", entry.user), |n| name(n, 40));
            format!(
                "`#{position}` {medal}{who} · **{}**{you}",
                human_duration(entry.secs)
            )
        })
        .collect();
    if lines.is_empty() {
        lines.push(if view.page > 1 {
            "This page is empty now: the leaderboard got shorter.".into()
        } else {
            "Nobody has call time in this period yet.".into()
        });
    }
    lines.push(String::new());
    lines.push(match view.you {
        You::Ranked { rank, secs } => {
            format!("**Your rank:** #{rank} · {}", human_duration(secs))
        }
        You::Below { place } => format!("**Your rank:** below #{place}"),
        You::NotRanked => "**Your rank:** no call time in this period yet.".into(),
        You::OptedOut => "**Your rank:** you opted out, so you are not listed.".into(),
    });
    if let Some(at) = view.live_as_of {
        lines.push(format!(
            "Calls in progress are counted as of {}: the tracker has not reported since.",
            super::when(at, 't')
        ));
    }
    e.description = Some(lines.join("\n"));
    let boundaries = match view.period {
        PeriodKey::All => String::new(),
        PeriodKey::Week(_) => format!(" · weeks start Monday in {}", view.timezone.name()),
        PeriodKey::Month(_) => format!(" · months in {}", view.timezone.name()),
    };
    e.footer = footer(format!(
        "Page {} of {} · {}{boundaries} · calls in progress count · {COUNTS}",
        view.page,
        view.pages.max(view.page),
        metric_text(view.metric, view.rule),
    ));
    limits::fit(&mut e, limits::EMBEDS_TOTAL);

    let page = |page: u32| {
        Action::Top(TopPage {
            owner: view.owner,
            period: view.period,
            metric: view.metric,
            page,
        })
        .custom_id()
    };
    let previous = view.page.saturating_sub(1).max(1);
    let next = view.page.saturating_add(1).min(MAX_PAGE);
    let buttons = vec![
        button("◀ Previous", page(previous), view.page <= 1),
        button(
            "Next ▶",
            page(next),
            view.page >= view.pages || view.page >= MAX_PAGE,
        ),
    ];
    Message {
        embeds: vec![e],
        components: vec![Component::ActionRow(ActionRow {
            components: buttons,
            id: None,
        })],
        ..Message::default()
    }
}

#[must_use]
pub fn button(label: &str, custom_id: String, disabled: bool) -> Component {
    Component::Button(Button {
        custom_id: Some(custom_id),
        disabled,
        emoji: None,
        id: None,
        label: Some(label.to_owned()),
        sku_id: None,
        style: ButtonStyle::Secondary,
        url: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use twilight_model::id::Id;

    fn view(page: u32, pages: u32, n: u64) -> TopView {
        TopView {
            owner: Id::new(5),
            period: "W2026-W48".parse().unwrap(),
            metric: Metric::Ranked,
            rule: RankingRule::default(),
            timezone: chrono_tz::UTC,
            page,
            pages,
            entries: (0..n)
                .map(|i| Line {
                    user: Id::new(100 + i),
                    secs: 10_000 - i,
                    name: (i > 0).then(|| format!("member_{i}")),
                })
                .collect(),
            you: You::Ranked {
                rank: 14,
                secs: 3600,
            },
            live_as_of: None,
        }
    }

    fn ids(m: &Message) -> Vec<(String, bool)> {
        let Component::ActionRow(row) = &m.components[0] else {
            panic!()
        };
        row.components
            .iter()
            .map(|c| match c {
                Component::Button(b) => (b.custom_id.clone().unwrap(), b.disabled),
                _ => panic!(),
            })
            .collect()
    }

    #[test]
    fn pages_number_on_and_buttons_carry_the_period() {
        let m = top(&view(2, 3, 10));
        let d = m.embeds[0].description.clone().unwrap();
        assert!(d.starts_with("`#11` <@100> · **2 h 46 min**"), "{d}");
        assert!(d.contains("`#12` member\\_1 · **2 h 46 min**"), "{d}");
        assert!(d.ends_with("**Your rank:** #14 · 1 h 00 min"));
        assert_eq!(
            ids(&m),
            vec![
                ("top1:5:W2026-W48:r:1".into(), false),
                ("top1:5:W2026-W48:r:3".into(), false)
            ]
        );
        let first = top(&view(1, 1, 3));
        assert!(
            first.embeds[0]
                .description
                .clone()
                .unwrap()
                .contains("🥇 <@100>")
        );
        assert!(ids(&first)[0].1);
        assert!(ids(&first)[1].1);
        assert_eq!(page_count(0), 1);
        assert_eq!(page_count(10), 1);
        assert_eq!(page_count(11), 2);
        assert_eq!(page_count(u64::MAX), MAX_PAGE);
    }

    #[test]
    fn worst_case_fits() {
        let mut v = view(25, 25, 10);
        v.owner = Id::new(u64::MAX);
        v.period = "M9999-12".parse().unwrap();
        v.timezone = chrono_tz::America::Argentina::ComodRivadavia;
        for e in &mut v.entries {
            e.user = Id::new(u64::MAX);
            e.secs = 100 * 366 * 86_400;
            e.name = Some("𝕬".repeat(200));
        }
        v.live_as_of = Some(callstats_core::Timestamp::MAX);
        v.you = You::Ranked {
            rank: u64::MAX,
            secs: 100 * 366 * 86_400,
        };
        let m = top(&v);
        limits::check(&m).unwrap();
        let last = top(&view(MAX_PAGE, MAX_PAGE, 10));
        limits::check(&last).unwrap();
    }
}
