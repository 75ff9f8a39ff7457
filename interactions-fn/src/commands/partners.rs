//! `/callstats partners [period]`: your top partners in this server, only for your eyes.
//!
//! Partner time is kept per member and UTC day (the day items): the last 7 or 30 days count
//! the UTC days whose middle falls in your last 7 or 30 local days; all time reads every day.
//! Members who opted out appear in no list (their past partner time is kept for when they opt
//! back in); members who deleted their data were removed from every list.

use std::collections::BTreeMap;

use callstats_core::UserId;
use callstats_core::member::DayRecord;
use callstats_core::period::Day;
use callstats_core::window::{LocalWindow, window_figures};

use super::Options;
use crate::context::App;
use crate::error::{Failure, Notice};
use crate::interaction::Ctx;
use crate::render::partners::{MAX_PARTNERS, Partner, PartnersView, partners};
use crate::reply::{Message, Reply};

/// Candidates checked for an opt-out: more than shown, so the list stays full when some are
/// left out.
const CANDIDATES: usize = 3 * MAX_PARTNERS;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Days(u64),
    All,
}

pub fn parse(options: &Options<'_>) -> Result<Period, Notice> {
    match options.string("period")? {
        None | Some("30d") => Ok(Period::Days(30)),
        Some("7d") => Ok(Period::Days(7)),
        Some("all") => Ok(Period::All),
        Some(_) => Err(Notice::UnknownCommand),
    }
}

pub async fn run(app: &App, ctx: &Ctx, period: Period) -> Result<Reply, Failure> {
    let guild = ctx.guild()?;
    let user = ctx.invoker.id;
    let store = app.store();
    let tz = store.user_settings(user).await?.timezone_or_utc();
    let (window, label) = match period {
        Period::Days(n) => (
            Some(LocalWindow::last_days(ctx.now, n, tz)),
            format!("the last {n} days"),
        ),
        Period::All => (None, "all time".to_owned()),
    };
    let items = match window {
        Some(w) => {
            let (first, last) = w.utc_days();
            store.days(user, guild, first, last).await?
        }
        None => store.all_days(user, guild).await?,
    };
    let records: Vec<(Day, DayRecord)> = items.into_iter().map(|(d, i)| (d, i.record)).collect();
    let (with, total) = if let Some(w) = window {
        let f = window_figures(&w, &records, None);
        (f.partners, f.stats.total)
    } else {
        let mut with: BTreeMap<UserId, u64> = BTreeMap::new();
        for (_, r) in &records {
            for (p, secs) in &r.partners {
                *with.entry(*p).or_default() += secs;
            }
        }
        (with, records.iter().map(|(_, r)| r.total).sum())
    };
    let mut ranked: Vec<(UserId, u64)> = with.into_iter().filter(|(_, s)| *s > 0).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(CANDIDATES);
    let candidates: Vec<UserId> = ranked.iter().map(|(u, _)| *u).collect();
    let opted_out = store.opted_out(&candidates).await?;
    ranked.retain(|(u, _)| !opted_out.contains(u));
    ranked.truncate(MAX_PARTNERS);
    let shown: Vec<UserId> = ranked.iter().map(|(u, _)| *u).collect();
    let names = store.names(guild, &shown).await?;
    let view = PartnersView {
        period: label,
        partners: ranked
            .into_iter()
            .map(|(user, secs)| Partner {
                user,
                name: names.get(&user).cloned(),
                secs,
            })
            .collect(),
        total,
        timezone: tz,
    };
    Ok(Reply::Message(Message::embed(partners(&view)).ephemeral()))
}
