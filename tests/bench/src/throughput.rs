//! 2. Sidecar throughput: `VOICE_STATE_UPDATE`s from the fake gateway to committed writes
//!    (the sidecar's `/metrics` counts a write once the store accepted it), 1,000 members
//!    joining and then leaving, next to the same store writes (a start, then an end, per
//!    member) from a plain loop with the writer's concurrency, against the same server.
//!
//! Every member joins a voice channel of their own, so the sidecar writes exactly one start
//! (alone from the first second) and one end per member, as the loop does: no flag updates
//! on either side. Sessions last ten minutes of the sidecar's clock (a clock file) on both
//! sides; the leaves count until each guild's leaderboard is flushed with the new figures
//! (the sidecar flushes behind the ends; the loop flushes each guild once after them). The
//! joins raise each guild's peak of members in voice, which the sidecar's writer flushes
//! behind the starts: the loop flushes each guild's peak once after its starts, the least
//! the writer could send.
//! Rounds alternate which side goes first.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use anyhow::{Context, bail, ensure};
use callstats_core::{
    ChannelId, Flags, GuildConfig, GuildId, OpenSession, SessionId, Timestamp, UserId,
};
use callstats_fake_gateway::{ChannelSpec, FakeGateway, GuildSpec, VoiceFlags};
use callstats_store::Store;
use callstats_store::{BoardUpdate, EndOutcome, StartOutcome, Timeouts};
use futures_util::StreamExt as _;
use twilight_model::id::Id;

use callstats_devkit::prometheus::{sample_of, samples_of};

use crate::harness::{Bench, ClockFile, SidecarProc, TempDir};
use crate::report::{Outcome, Row, Verdict};
use crate::stats::{median, ratio};

/// The writer's default concurrency (`WriterOptions::default().concurrency`).
pub const WRITER_CONCURRENCY: usize = 16;
/// Leaderboard flushes the writer makes at once (`FLUSHES_AT_ONCE` in the writer).
const FLUSHES_AT_ONCE: usize = 4;
const SESSION_SECS: u64 = 600;

fn guild_id(g: u64) -> GuildId {
    Id::new(((g + 1) << 22) | 2)
}

fn channel_id(g: u64, n: u64) -> ChannelId {
    Id::new(2_000_000_000_000_000 + g * 1_000_000 + 10 + n)
}

fn user_id(g: u64, round: u64, n: u64) -> UserId {
    Id::new(2_000_000_000_000_000 + g * 1_000_000 + 100_000 + round * 1_000 + n)
}

/// Guilds with a voice channel per member of a round.
fn guilds(count: u64, per_guild: u64) -> Vec<GuildSpec> {
    (0..count)
        .map(|g| {
            let mut spec = GuildSpec::new(guild_id(g), format!("bench {g}"))
                .channel(ChannelSpec::text(channel_id(g, 999), "general"));
            for n in 0..per_guild {
                spec = spec.channel(ChannelSpec::voice(channel_id(g, n), format!("room {n}")));
            }
            spec
        })
        .collect()
}

/// Seconds a side took to start and then end every member's session.
#[derive(Clone, Copy, Debug)]
struct Phase {
    joins: Duration,
    leaves: Duration,
}

impl Phase {
    fn sessions_per_sec(&self, members: u64) -> f64 {
        members as f64 / (self.joins + self.leaves).as_secs_f64()
    }
}

async fn counters(sidecar: &SidecarProc) -> anyhow::Result<(f64, f64, f64, f64)> {
    let text = sidecar.metrics().await?;
    let get = |s: &str| sample_of(&text, s).unwrap_or(0.0);
    Ok((
        get("callstats_writes_applied_total{kind=\"start\"}"),
        get("callstats_writes_applied_total{kind=\"end\"}"),
        get("callstats_writes_applied_total{kind=\"update\"}"),
        get("callstats_writes_failed_total"),
    ))
}

async fn sidecar_round(
    fake: &FakeGateway,
    sidecar: &mut SidecarProc,
    clock: &ClockFile,
    round: u64,
    guild_count: u64,
    per_guild: u64,
) -> anyhow::Result<Phase> {
    let members = guild_count * per_guild;
    let (started0, ended0, updated0, failed0) = counters(sidecar).await?;
    let poll = Duration::from_millis(5);
    let limit = Duration::from_mins(10);
    let t0 = Instant::now();
    for g in 0..guild_count {
        for n in 0..per_guild {
            fake.voice_update(
                guild_id(g),
                user_id(g, round, n),
                Some(channel_id(g, n)),
                VoiceFlags::default(),
            )?;
        }
    }
    let t1 = sidecar
        .wait_metrics("every start committed", poll, limit, |text| {
            sample_of(text, "callstats_writes_applied_total{kind=\"start\"}").unwrap_or(0.0)
                >= started0 + members as f64
                && sample_of(text, "callstats_spool_depth") == Some(0.0)
        })
        .await?;
    clock.advance(SESSION_SECS as i64)?;
    let t2 = Instant::now();
    for g in 0..guild_count {
        for n in 0..per_guild {
            fake.voice_update(
                guild_id(g),
                user_id(g, round, n),
                None,
                VoiceFlags::default(),
            )?;
        }
    }
    let t3 = sidecar
        .wait_metrics("every end committed", poll, limit, |text| {
            sample_of(text, "callstats_writes_applied_total{kind=\"end\"}").unwrap_or(0.0)
                >= ended0 + members as f64
                && sample_of(text, "callstats_spool_depth") == Some(0.0)
        })
        .await?;
    let (_, _, updated, failed) = counters(sidecar).await?;
    ensure!(
        (updated - updated0).abs() < 0.5,
        "the sidecar wrote flag updates: the sides would differ"
    );
    ensure!((failed - failed0).abs() < 0.5, "the sidecar failed writes");
    Ok(Phase {
        joins: t1 - t0,
        leaves: t3 - t2,
    })
}

async fn loop_round(
    store: &Store,
    clock: &ClockFile,
    round: u64,
    guild_count: u64,
    per_guild: u64,
) -> anyhow::Result<Phase> {
    let config = GuildConfig::default();
    let start = Timestamp::new(clock.now()).context("clock")?;
    let sessions: Vec<OpenSession> = (0..guild_count)
        .flat_map(|g| (0..per_guild).map(move |n| (g, n)))
        .map(|(g, n)| {
            OpenSession::new(
                SessionId::new(start, (round * 100_000 + g * 100 + n) as u32),
                user_id(g, round + 500, n),
                guild_id(g),
                channel_id(g, n),
                Flags::ALONE,
            )
        })
        .collect();
    let t0 = Instant::now();
    let starts: Vec<_> = futures_util::stream::iter(&sessions)
        .map(|s| store.start_session(s, config.rule))
        .buffer_unordered(WRITER_CONCURRENCY)
        .collect()
        .await;
    // The day's peak of members in voice, as the writer flushes it behind the starts: one
    // flush per guild with the count its last start reached, a few guilds at once.
    let peaks = [(u32::try_from(per_guild).unwrap_or(u32::MAX), start)];
    let peaks_flushed: Vec<_> = futures_util::stream::iter(0..guild_count)
        .map(|g| store.flush_board(guild_id(g), &[], &peaks, None, start))
        .buffer_unordered(FLUSHES_AT_ONCE)
        .collect()
        .await;
    let joins = t0.elapsed();
    for s in starts {
        ensure!(s? == StartOutcome::Started, "a start was not applied");
    }
    for f in peaks_flushed {
        f?;
    }
    clock.advance(SESSION_SECS as i64)?;
    let end = start.plus(SESSION_SECS);
    let closed: Vec<_> = sessions
        .into_iter()
        .map(|s| s.close(end, config.timezone, false))
        .collect();
    let t2 = Instant::now();
    let ends: Vec<_> = futures_util::stream::iter(&closed)
        .map(|c| async move { (c, store.end_session(c, &config).await) })
        .buffer_unordered(WRITER_CONCURRENCY)
        .collect()
        .await;
    // The boards, as the writer flushes them behind the ends: one flush per guild with its
    // members' new figures, a few guilds at once.
    let mut boards: BTreeMap<GuildId, Vec<BoardUpdate>> = BTreeMap::new();
    for (c, e) in ends {
        let EndOutcome::Ended(totals) = e? else {
            bail!("an end was not applied");
        };
        boards.entry(c.guild).or_default().push(BoardUpdate {
            user: c.user,
            totals,
            as_of: end,
        });
    }
    let flushed: Vec<_> = futures_util::stream::iter(&boards)
        .map(|(guild, updates)| store.flush_board(*guild, updates, &[], None, end))
        .buffer_unordered(FLUSHES_AT_ONCE)
        .collect()
        .await;
    let leaves = t2.elapsed();
    for f in flushed {
        f?;
    }
    Ok(Phase { joins, leaves })
}

#[allow(clippy::too_many_lines)] // one benchmark: its rounds, then its report
pub async fn run(bench: &Bench) -> anyhow::Result<Outcome> {
    let store = bench.fresh_store("throughput").await?;
    let (guild_count, per_guild) = (bench.size(50u64, 5), 20u64);
    let members = guild_count * per_guild;
    let rounds = bench.size(3u64, 1);
    let fake = FakeGateway::builder()
        .heartbeat_interval(Duration::from_secs(5))
        .start()
        .await?;
    for spec in guilds(guild_count, per_guild) {
        fake.add_guild(spec)?;
    }
    let dir = TempDir::new("throughput")?;
    let state = dir.0.join("state");
    std::fs::create_dir_all(&state)?;
    let clock = ClockFile::new(&dir.0, chrono::Utc::now().timestamp())?;
    let mut sidecar = SidecarProc::spawn(
        bench,
        store.table().as_str(),
        &fake.url(),
        &state,
        &clock.path,
    )
    .await?;
    sidecar
        .wait_metrics(
            "the shard to settle",
            Duration::from_millis(20),
            Duration::from_mins(5),
            |text| {
                let settled = samples_of(text, "callstats_shard_settled");
                !settled.is_empty() && settled.iter().all(|v| *v > 0.5)
            },
        )
        .await?;
    let loop_store = Store::connect(store.table().clone(), Timeouts::default()).await;
    let mut side: Vec<Phase> = Vec::new();
    let mut plain: Vec<Phase> = Vec::new();
    for round in 0..rounds {
        if round % 2 == 0 {
            side.push(
                sidecar_round(&fake, &mut sidecar, &clock, round, guild_count, per_guild).await?,
            );
            plain.push(loop_round(&loop_store, &clock, round, guild_count, per_guild).await?);
        } else {
            plain.push(loop_round(&loop_store, &clock, round, guild_count, per_guild).await?);
            side.push(
                sidecar_round(&fake, &mut sidecar, &clock, round, guild_count, per_guild).await?,
            );
        }
    }
    // The sidecar's sessions are in the table, ten minutes each.
    let check = store
        .recent_sessions(user_id(0, 0, 0), guild_id(0), 5)
        .await?;
    ensure!(
        check.len() == 1 && check[0].duration() == SESSION_SECS,
        "the sidecar's session is not in the table as expected: {check:?}"
    );
    sidecar.proc.terminate(Duration::from_secs(15)).await;
    fake.shutdown().await;

    let rate = |phases: &[Phase], f: fn(&Phase) -> Duration| {
        median(
            &phases
                .iter()
                .map(|p| members as f64 / f(p).as_secs_f64())
                .collect::<Vec<_>>(),
        )
    };
    let side_sessions = median(
        &side
            .iter()
            .map(|p| p.sessions_per_sec(members))
            .collect::<Vec<_>>(),
    );
    let plain_sessions = median(
        &plain
            .iter()
            .map(|p| p.sessions_per_sec(members))
            .collect::<Vec<_>>(),
    );
    let r = ratio(side_sessions, plain_sessions);
    let mut rows = vec![
        Row::new(
            format!("sessions per second, {members} members (join, then leave)"),
            format!("{side_sessions:.0}/s through the sidecar"),
        )
        .baseline(
            format!(
                "{plain_sessions:.0}/s (same writes, plain loop, concurrency {WRITER_CONCURRENCY})"
            ),
            format!("{r:.2}×"),
        )
        .target("≥ 0.8×", Verdict::of(r >= 0.8)),
    ];
    let (sj, pj) = (rate(&side, |p| p.joins), rate(&plain, |p| p.joins));
    let (sl, pl) = (rate(&side, |p| p.leaves), rate(&plain, |p| p.leaves));
    rows.push(
        Row::new("starts per second (joins)", format!("{sj:.0}/s"))
            .baseline(format!("{pj:.0}/s"), format!("{:.2}×", ratio(sj, pj))),
    );
    rows.push(
        Row::new("ends per second (leaves)", format!("{sl:.0}/s"))
            .baseline(format!("{pl:.0}/s"), format!("{:.2}×", ratio(sl, pl))),
    );
    let mut detail = String::new();
    let _ = writeln!(
        detail,
        "{members} members in {guild_count} guilds, {rounds} rounds per side, each member's session 10 minutes of the \
         sidecar's clock. The sidecar side counts from the first `VOICE_STATE_UPDATE` the fake gateway sends to \
         the moment `/metrics` shows every write committed (polled every 5 ms).\n"
    );
    detail.push_str(
        "| round | sidecar: joins / leaves (s) | plain loop: joins / leaves (s) |\n|---|---|---|\n",
    );
    for (i, (s, p)) in side.iter().zip(&plain).enumerate() {
        let _ = writeln!(
            detail,
            "| {} | {:.2} / {:.2} | {:.2} / {:.2} |",
            i + 1,
            s.joins.as_secs_f64(),
            s.leaves.as_secs_f64(),
            p.joins.as_secs_f64(),
            p.leaves.as_secs_f64()
        );
    }
    Ok(Outcome {
        name: "throughput",
        rows,
        detail,
    })
}
