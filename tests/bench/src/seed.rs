//! Realistic voice histories, and two ways to put them in a table: through the store's own
//! session writes (exact, one start and one end transaction each), or directly as the items
//! those writes would leave (fast, for 10,000 sessions). [`check_direct_matches_real`] shows
//! the two give the same items, so the fast way seeds what real sessions would give.

use std::collections::BTreeMap;

use anyhow::{Context, bail, ensure};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use callstats_core::period::{Day, PeriodKey};
use callstats_core::session::{DayTotals, PeriodTotals};
use callstats_core::{
    Aggregate, ChannelId, ClosedSession, Flags, GuildConfig, GuildId, OpenSession, SessionId,
    Timestamp, UserId,
};
use callstats_fake_gateway::simulator::Rng;
use callstats_store::Store;
use futures_util::StreamExt as _;
use twilight_model::id::Id;

/// One session as the sidecar would write it: the open item at its start, and its end.
#[derive(Clone, Debug)]
pub struct Planned {
    pub open: OpenSession,
    pub closed: ClosedSession,
}

/// `count` sessions of `user` in `guild`, one after the other, the last one ending before
/// `until`: 5 minutes to 3 hours each, 1 to 8 hours apart (so 10,000 sessions span about
/// three years), with mutes, deafens, streams and time alone on the way.
#[must_use]
pub fn history(
    user: UserId,
    guild: GuildId,
    count: usize,
    until: Timestamp,
    seed: u64,
    config: &GuildConfig,
) -> Vec<Planned> {
    let mut rng = Rng::new(seed ^ user.get());
    // First draw the lengths, then lay them out backwards from `until`.
    let shapes: Vec<(u64, u64)> = (0..count)
        .map(|_| (rng.between(300, 3 * 3600), rng.between(3600, 8 * 3600)))
        .collect();
    let span: u64 = shapes.iter().map(|(len, gap)| len + gap).sum();
    let mut at = until.minus(span);
    let channels: [ChannelId; 3] = [
        Id::new(guild.get() + 11),
        Id::new(guild.get() + 12),
        Id::new(guild.get() + 13),
    ];
    let mut sessions = Vec::with_capacity(count);
    for (n, (len, gap)) in shapes.into_iter().enumerate() {
        at = at.plus(gap);
        let start = at;
        let mut flags = if rng.percent(30) {
            Flags::MUTED
        } else {
            Flags::NONE
        };
        if rng.percent(10) {
            flags = flags.with(Flags::ALONE, true);
        }
        let channel = channels[(rng.next_u64() % 3) as usize];
        let open = OpenSession::new(
            SessionId::new(start, (n as u32).wrapping_mul(2_654_435_761)),
            user,
            guild,
            channel,
            flags,
        );
        let mut session = open.clone();
        let changes = rng.between(0, 3);
        let mut t = start;
        for _ in 0..changes {
            t = t.plus(rng.between(0, len / 4));
            if t >= start.plus(len) {
                break;
            }
            let flag = match rng.between(0, 4) {
                0 => Flags::MUTED,
                1 => Flags::DEAFENED,
                2 => Flags::STREAMING,
                3 => Flags::VIDEO,
                _ => Flags::ALONE,
            };
            flags = flags.with(flag, !flags.contains(flag));
            session.set_flags(t, flags, config.timezone);
        }
        let end = start.plus(len);
        sessions.push(Planned {
            open,
            closed: session.close(end, config.timezone, false),
        });
        at = end;
    }
    sessions
}

/// Stores `sessions` through the store's own writes (start, then end), `concurrency` users
/// at a time (each user's sessions in order).
pub async fn real(
    store: &Store,
    sessions: &[Planned],
    config: &GuildConfig,
    concurrency: usize,
) -> anyhow::Result<()> {
    let mut by_user: BTreeMap<UserId, Vec<&Planned>> = BTreeMap::new();
    for s in sessions {
        by_user.entry(s.open.user).or_default().push(s);
    }
    let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(by_user.into_values())
        .map(|list| async move {
            for s in list {
                store.start_session(&s.open).await.context("start")?;
                store
                    .end_session(&s.closed, config, true)
                    .await
                    .context("end")?;
            }
            Ok(())
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}

fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

type Item = std::collections::HashMap<String, AttributeValue>;

fn keyed(user: UserId, sk: String) -> Item {
    Item::from([
        ("pk".to_owned(), s(format!("U#{user}"))),
        ("sk".to_owned(), s(sk)),
    ])
}

/// The items the store's end-of-session writes leave for `sessions` (all of one guild and
/// configuration), laid out as `docs/storage.md` describes.
#[must_use]
pub fn items_of(sessions: &[ClosedSession], config: &GuildConfig) -> Vec<Item> {
    let mut items = Vec::new();
    let mut all: BTreeMap<(UserId, GuildId), Aggregate> = BTreeMap::new();
    let mut days: BTreeMap<(UserId, GuildId, Day), DayTotals> = BTreeMap::new();
    let mut periods: BTreeMap<(UserId, GuildId, String), (PeriodKey, PeriodTotals)> =
        BTreeMap::new();
    for c in sessions {
        let mut record = keyed(c.user, format!("S#{}#{}", c.guild, c.id));
        record.insert("ch".into(), s(c.channel.to_string()));
        record.insert("end".into(), n(c.end.unix()));
        record.insert("est".into(), AttributeValue::Bool(c.estimated));
        for (attr, v) in breakdown_attrs(&c.breakdown) {
            record.insert(attr.into(), n(v));
        }
        record.insert("ac".into(), n(c.breakdown.active));
        items.push(record);
        all.entry((c.user, c.guild))
            .or_default()
            .add_session(c, config.rule);
        for (day, t) in c.day_totals() {
            let d = days.entry((c.user, c.guild, day)).or_default();
            d.total += t.total;
            d.active += t.active;
            d.deafened += t.deafened;
            d.alone += t.alone;
            d.sessions += t.sessions;
            d.longest = d.longest.max(t.longest);
            d.last_active = d.last_active.max(t.last_active);
        }
        for (period, t) in c.period_totals(config.rule, config.timezone) {
            let (_, p) = periods
                .entry((c.user, c.guild, period.to_string()))
                .or_insert((period, PeriodTotals::default()));
            p.total += t.total;
            p.active += t.active;
            p.ranked += t.ranked;
            p.sessions += t.sessions;
        }
    }
    for ((user, guild), a) in all {
        let mut item = keyed(user, format!("A#{guild}"));
        item.insert("total".into(), n(a.stats.total));
        item.insert("active".into(), n(a.stats.active));
        item.insert("ranked".into(), n(a.ranked));
        item.insert("sessions".into(), n(a.stats.sessions));
        item.insert("longest".into(), n(a.stats.longest));
        item.insert(
            "last".into(),
            n(a.stats.last_active.map_or(0, Timestamp::unix)),
        );
        for (attr, v) in breakdown_attrs(&a.breakdown) {
            item.insert(attr.into(), n(v));
        }
        // The store keeps the heatmap as one `bucket:seconds` string with a version (hm, hv).
        let heatmap: Vec<String> = a
            .heatmap
            .buckets()
            .iter()
            .enumerate()
            .filter(|(_, secs)| **secs > 0)
            .map(|(bucket, secs)| format!("{bucket}:{secs}"))
            .collect();
        item.insert("hm".into(), s(heatmap.join(",")));
        item.insert("hv".into(), n(1));
        item.insert("lb".into(), s(format!("{guild}#all")));
        items.push(item);
    }
    for ((user, guild, day), d) in days {
        let mut item = keyed(user, format!("D#{guild}#{day}"));
        item.insert("total".into(), n(d.total));
        item.insert("active".into(), n(d.active));
        item.insert("de".into(), n(d.deafened));
        item.insert("al".into(), n(d.alone));
        item.insert("sessions".into(), n(d.sessions));
        item.insert("longest".into(), n(d.longest));
        item.insert("last".into(), n(d.last_active.map_or(0, Timestamp::unix)));
        items.push(item);
    }
    for ((user, guild, _), (period, p)) in periods {
        let sk = match period {
            PeriodKey::Week(w) => format!("W#{guild}#{w}"),
            PeriodKey::Month(m) => format!("M#{guild}#{m}"),
            PeriodKey::All => continue,
        };
        let mut item = keyed(user, sk);
        item.insert("total".into(), n(p.total));
        item.insert("active".into(), n(p.active));
        item.insert("ranked".into(), n(p.ranked));
        item.insert("sessions".into(), n(p.sessions));
        item.insert("lb".into(), s(format!("{guild}#{period}")));
        items.push(item);
    }
    items
}

fn breakdown_attrs(b: &callstats_core::Breakdown) -> [(&'static str, u64); 5] {
    [
        ("mu", b.muted),
        ("de", b.deafened),
        ("st", b.streaming),
        ("vi", b.video),
        ("al", b.alone),
    ]
}

/// Writes `items` with batch writes of 25, retrying what the server leaves unprocessed.
pub async fn put_items(client: &Client, table: &str, items: Vec<Item>) -> anyhow::Result<()> {
    let requests: Vec<WriteRequest> = items
        .into_iter()
        .map(|item| {
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map(|put| WriteRequest::builder().put_request(put).build())
        })
        .collect::<Result<_, _>>()?;
    for chunk in requests.chunks(25) {
        let mut pending = chunk.to_vec();
        for attempt in 0..10u32 {
            let out = client
                .batch_write_item()
                .request_items(table, pending.clone())
                .send()
                .await
                .context("batch write")?;
            pending = out
                .unprocessed_items
                .and_then(|mut m| m.remove(table))
                .unwrap_or_default();
            if pending.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50 << attempt.min(5))).await;
        }
        if !pending.is_empty() {
            bail!("batch write left {} items unprocessed", pending.len());
        }
    }
    Ok(())
}

/// Stores `sessions` directly as the items their ends would leave.
pub async fn direct(
    store: &Store,
    sessions: &[Planned],
    config: &GuildConfig,
) -> anyhow::Result<()> {
    let closed: Vec<ClosedSession> = sessions.iter().map(|p| p.closed.clone()).collect();
    put_items(
        store.client(),
        store.table().as_str(),
        items_of(&closed, config),
    )
    .await
}

/// Seeds the same history for two users, one through the store's writes and one directly,
/// and checks that every item of the two partitions is the same (but for the user id).
pub async fn check_direct_matches_real(store: &Store, count: usize) -> anyhow::Result<()> {
    let config = GuildConfig::default();
    let guild: GuildId = Id::new(900_000_000_000_000_000);
    let until = Timestamp::new(1_790_000_000).context("a time")?;
    let (a, b): (UserId, UserId) = (
        Id::new(900_000_000_000_000_001),
        Id::new(900_000_000_000_000_002),
    );
    let plan_a = history(a, guild, count, until, 7, &config);
    // The same sessions for `b`.
    let plan_b: Vec<Planned> = plan_a
        .iter()
        .map(|p| {
            let mut q = p.clone();
            q.open.user = b;
            q.closed.user = b;
            q
        })
        .collect();
    real(store, &plan_a, &config, 1).await?;
    direct(store, &plan_b, &config).await?;
    let ea = store.export_user(a).await?;
    let eb = store.export_user(b).await?;
    let ga = ea
        .guilds
        .get(&guild)
        .context("real sessions stored nothing")?;
    let gb = eb
        .guilds
        .get(&guild)
        .context("direct seeding stored nothing")?;
    ensure!(ga.all_time == gb.all_time, "all-time items differ");
    ensure!(ga.days == gb.days, "day items differ");
    ensure!(ga.weeks == gb.weeks, "week items differ");
    ensure!(ga.months == gb.months, "month items differ");
    ensure!(
        ga.sessions.len() == gb.sessions.len(),
        "session counts differ"
    );
    for (x, y) in ga.sessions.iter().zip(&gb.sessions) {
        ensure!(
            (x.id, x.guild, x.channel, x.end, x.estimated, x.breakdown)
                == (y.id, y.guild, y.channel, y.end, y.estimated, y.breakdown),
            "session records differ"
        );
    }
    // Leaderboard membership too: both users rank on the all-time board with the same time.
    let board = store
        .leaderboard(guild, PeriodKey::All, callstats_store::Metric::Total, 0, 10)
        .await?;
    ensure!(
        board.len() == 2 && board[0].secs == board[1].secs,
        "leaderboard entries differ"
    );
    Ok(())
}
