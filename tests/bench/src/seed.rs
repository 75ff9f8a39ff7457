//! Realistic voice histories, stored through the store's own writes as the sidecar makes them:
//! a start, then an end, per session, each member's sessions in order, and the server's
//! leaderboard flushed behind the ends (coalesced per server, at the writer's interval), so a
//! seeded table holds exactly what real sessions leave: nothing is laid out by hand.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use callstats_core::period::{Day, local_date};
use callstats_core::session::PartnerSecs;
use callstats_core::{
    ChannelId, ClosedSession, Flags, GuildConfig, GuildId, OpenSession, SessionId, Timestamp,
    UserId,
};
use callstats_fake_gateway::simulator::Rng;
use callstats_store::{BoardUpdate, EndOutcome, StartOutcome, Store};
use futures_util::StreamExt as _;
use twilight_model::id::Id;

/// One session as the sidecar would write it: the open session at its start, and its end.
#[derive(Clone, Debug)]
pub struct Planned {
    pub open: OpenSession,
    pub closed: ClosedSession,
}

/// The voice channels of a benchmark guild.
#[must_use]
pub fn channels(guild: GuildId) -> [ChannelId; 3] {
    [
        Id::new(guild.get() + 11),
        Id::new(guild.get() + 12),
        Id::new(guild.get() + 13),
    ]
}

/// Seconds of `from..to` in each UTC day.
#[must_use]
pub fn utc_days(from: Timestamp, to: Timestamp) -> Vec<(Day, u64)> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let next = Day::of(at).start().plus(86_400).min(to);
        out.push((Day::of(at), at.secs_until(next)));
        at = next;
    }
    out
}

/// Partner time for a session of `from..to`: each of `partners` shares a stretch of it (the
/// sidecar will compute these overlaps; the store keeps them per UTC day).
#[must_use]
pub fn partner_secs(
    rng: &mut Rng,
    from: Timestamp,
    to: Timestamp,
    partners: &[UserId],
) -> Vec<PartnerSecs> {
    let len = from.secs_until(to);
    let mut out = Vec::new();
    for user in partners {
        let begin = from.plus(rng.between(0, len / 2));
        let end = begin.plus(rng.between(60, len)).min(to);
        for (day, secs) in utc_days(begin, end) {
            out.push(PartnerSecs {
                day,
                user: *user,
                secs,
            });
        }
    }
    out
}

/// `count` sessions of `user` in `guild`, one after the other, the last one ending before
/// `until`: 5 minutes to 3 hours each, 1 to 8 hours apart (so 10,000 sessions span about
/// three years), with mutes, deafens, streams and time alone on the way, in one of three
/// channels, each shared with up to three of `others` for a while (partner time).
#[must_use]
pub fn history(
    user: UserId,
    guild: GuildId,
    count: usize,
    until: Timestamp,
    seed: u64,
    config: &GuildConfig,
    others: &[UserId],
) -> Vec<Planned> {
    let mut rng = Rng::new(seed ^ user.get());
    // First draw the lengths, then lay them out backwards from `until`.
    let shapes: Vec<(u64, u64)> = (0..count)
        .map(|_| (rng.between(300, 3 * 3600), rng.between(3600, 8 * 3600)))
        .collect();
    let span: u64 = shapes.iter().map(|(len, gap)| len + gap).sum();
    let mut at = until.minus(span);
    let channels = channels(guild);
    let others: Vec<UserId> = others.iter().copied().filter(|o| *o != user).collect();
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
        let mut closed = session.close(end, config.timezone, false);
        if !others.is_empty() {
            let company: Vec<UserId> = (0..rng.between(0, 3))
                .map(|_| others[rng.below(others.len() as u64) as usize])
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            closed.partners = partner_secs(&mut rng, start, end, &company);
        }
        sessions.push(Planned { open, closed });
        at = end;
    }
    sessions
}

/// How long the sidecar's writer lets a server's figures wait for more before it flushes
/// them (`gateway-sidecar/src/writer.rs`: 2 s, plus 10 ms per member on the board, at most a
/// minute).
#[must_use]
pub fn flush_interval(board_members: usize) -> Duration {
    (Duration::from_secs(2) + Duration::from_millis(board_members as u64 * 10))
        .min(Duration::from_mins(1))
}

/// The peaks of members in voice at once that `sessions` make, per server: each time a
/// server's count reaches a new high for the (server's local) day, as the sidecar notes it.
fn peaks_of(sessions: &[Planned], config: GuildConfig) -> BTreeMap<GuildId, Vec<(u32, Timestamp)>> {
    let mut events: Vec<(Timestamp, bool, GuildId)> = Vec::new();
    for s in sessions {
        events.push((s.open.start(), true, s.open.guild));
        events.push((s.closed.end, false, s.open.guild));
    }
    // Leaves before joins at the same instant.
    events.sort_by_key(|(at, join, guild)| (*at, *join, *guild));
    let mut now_in: BTreeMap<GuildId, u32> = BTreeMap::new();
    let mut best: BTreeMap<GuildId, (chrono::NaiveDate, u32)> = BTreeMap::new();
    let mut out: BTreeMap<GuildId, Vec<(u32, Timestamp)>> = BTreeMap::new();
    for (at, join, guild) in events {
        let count = now_in.entry(guild).or_default();
        if !join {
            *count = count.saturating_sub(1);
            continue;
        }
        *count += 1;
        let date = local_date(at, config.timezone);
        let day_best = best.entry(guild).or_insert((date, 0));
        if day_best.0 != date {
            *day_best = (date, 0);
        }
        if *count > day_best.1 {
            day_best.1 = *count;
            out.entry(guild).or_default().push((*count, at));
        }
    }
    out
}

/// What seeding did, for the benchmarks' notes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Seeded {
    pub sessions: usize,
    pub flushes: usize,
    pub took: Duration,
}

/// Stores `sessions` through the store's own writes, as the sidecar's writer applies them: a
/// start (`start_session`), then an end (`end_session`), each member's sessions in order,
/// `concurrency` members at a time; each end's new figures go to the server's board in a
/// `flush_board` behind the ends, coalesced per server at the writer's interval (the first
/// flush of a server also records shard 0 as the one serving it, as reconciliation does, and
/// the day peaks of members in voice). Every write must be applied.
#[allow(clippy::too_many_lines)] // the writes and the flushes behind them, side by side
pub async fn real(
    store: &Store,
    sessions: &[Planned],
    config: &GuildConfig,
    concurrency: usize,
) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let mut by_user: BTreeMap<UserId, Vec<&Planned>> = BTreeMap::new();
    for s in sessions {
        by_user.entry(s.open.user).or_default().push(s);
    }
    let pending: Mutex<BTreeMap<GuildId, Vec<BoardUpdate>>> = Mutex::new(BTreeMap::new());
    let done = std::sync::atomic::AtomicBool::new(false);
    let writes = async {
        let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(by_user.into_values())
            .map(|list| {
                let pending = &pending;
                async move {
                    for s in list {
                        let outcome = store
                            .start_session(&s.open, config.rule)
                            .await
                            .context("start")?;
                        ensure!(outcome == StartOutcome::Started, "start: {outcome:?}");
                        let EndOutcome::Ended(totals) =
                            store.end_session(&s.closed, config).await.context("end")?
                        else {
                            anyhow::bail!(
                                "seeding, end of session {} of {} in {}: the store found it not open",
                                s.closed.id,
                                s.closed.user,
                                s.closed.guild
                            );
                        };
                        let update = BoardUpdate {
                            user: s.closed.user,
                            totals,
                            as_of: wall_now(),
                        };
                        pending
                            .lock()
                            .map_err(|_| anyhow::anyhow!("poisoned"))?
                            .entry(s.closed.guild)
                            .or_default()
                            .push(update);
                    }
                    Ok(())
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        results.into_iter().collect::<anyhow::Result<()>>()
    };
    let board_flushes = async {
        let mut peaks = peaks_of(sessions, *config);
        let mut next_due: BTreeMap<GuildId, Instant> = BTreeMap::new();
        let mut flushed = 0usize;
        loop {
            let finished = done.load(std::sync::atomic::Ordering::SeqCst);
            let now = Instant::now();
            let due: Vec<(GuildId, Vec<BoardUpdate>)> = {
                let mut p = pending.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                let guilds: Vec<GuildId> = p
                    .keys()
                    .filter(|g| finished || next_due.get(*g).is_none_or(|t| *t <= now))
                    .copied()
                    .collect();
                guilds
                    .into_iter()
                    .filter_map(|g| p.remove(&g).map(|u| (g, u)))
                    .collect()
            };
            for (guild, updates) in due {
                let guild_peaks = peaks.remove(&guild);
                let first = guild_peaks.is_some();
                let members = store
                    .flush_board(
                        guild,
                        &updates,
                        guild_peaks.as_deref().unwrap_or_default(),
                        first.then_some(0),
                        wall_now(),
                    )
                    .await
                    .context("flush leaderboard")?;
                flushed += 1;
                next_due.insert(guild, Instant::now() + flush_interval(members));
            }
            if finished
                && pending
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .is_empty()
            {
                return Ok::<usize, anyhow::Error>(flushed);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (written, flushed) = futures_util::future::join(writes, board_flushes).await;
    written?;
    Ok(Seeded {
        sessions: sessions.len(),
        flushes: flushed?,
        took: started.elapsed(),
    })
}

/// Now, whole seconds (what the sidecar stamps board figures with).
#[must_use]
pub fn wall_now() -> Timestamp {
    Timestamp::from_datetime(chrono::Utc::now())
}
