//! 3. Sidecar memory and reconcile time: the release sidecar identifies to a fake gateway
//!    serving 2,500 guilds with 50,000 members in voice (20 per guild, plus 2 bots), on an
//!    empty table, so every member needs a session started. Memory is `VmRSS` and `VmHWM`
//!    from `/proc`, sampled every 100 ms, with `VmRSS` split into the heap and stacks
//!    (`RssAnon`) and the program's pages mapped from its file (`RssFile`).
//!
//! Milestones: every `GUILD_CREATE` handled (the sidecar's own work, the store not involved);
//! every write handed to the writer (each guild reconciled: its open sessions and
//! configuration read from the store); every session start committed. CPU seconds of the
//! sidecar and of the local server over the burst tell whose work the wall time was. A plain
//! loop then sends one guild's worth of the same requests for a sample of fresh guilds
//! against the full table: what the server alone needs for them.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context;
use callstats_core::{
    ChannelId, Flags, GuildId, OpenSession, RankingRule, SessionId, Timestamp, UserId,
};
use callstats_fake_gateway::{ChannelSpec, FakeGateway, GuildSpec, VoiceMember};
use callstats_store::Store;
use callstats_store::Timeouts;
use futures_util::StreamExt as _;
use twilight_model::id::Id;

use callstats_devkit::prometheus::{sample_of, samples_of};

use crate::harness::{Bench, ClockFile, SidecarProc, TempDir};
use crate::machine::{Memory, cpu_secs, memory_of};
use crate::report::{Outcome, Row, Verdict};
use crate::throughput::WRITER_CONCURRENCY;

const HUMANS: u64 = 20;
const BOTS: u64 = 2;
const CHANNELS: u64 = 4;

fn guild_id(g: u64) -> GuildId {
    Id::new(((g + 1) << 22) | 3)
}

fn channel_id(g: u64, n: u64) -> ChannelId {
    Id::new(3_000_000_000_000_000 + g * 1_000 + n)
}

fn user_id(g: u64, n: u64) -> UserId {
    Id::new(3_100_000_000_000_000 + g * 1_000 + n)
}

/// A guild: a text channel, four voice channels, an empty AFK channel, 20 members and two
/// bots in voice.
fn guild(g: u64) -> GuildSpec {
    let mut spec = GuildSpec::new(guild_id(g), format!("load {g}"))
        .channel(ChannelSpec::text(channel_id(g, 0), "general"))
        .channel(ChannelSpec::voice(channel_id(g, 9), "afk"))
        .afk(channel_id(g, 9), 300);
    for c in 1..=CHANNELS {
        spec = spec.channel(ChannelSpec::voice(channel_id(g, c), format!("voice {c}")));
    }
    for n in 0..HUMANS + BOTS {
        let member = VoiceMember::new(user_id(g, n), channel_id(g, 1 + n % CHANNELS));
        spec = spec.voice_member(if n >= HUMANS { member.bot() } else { member });
    }
    spec
}

#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    at: Duration,
    memory: Memory,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[allow(clippy::too_many_lines)] // one timeline
pub async fn run(bench: &Bench) -> anyhow::Result<Outcome> {
    let store = bench.fresh_store("memory").await?;
    let guild_count = bench.size(2_500u64, 50);
    let members = guild_count * HUMANS;
    let fake = FakeGateway::builder()
        .heartbeat_interval(Duration::from_secs(20))
        .start()
        .await?;
    for g in 0..guild_count {
        fake.add_guild(guild(g))?;
    }
    let dir = TempDir::new("memory")?;
    let state = dir.0.join("state");
    std::fs::create_dir_all(&state)?;
    let clock = ClockFile::new(&dir.0, chrono::Utc::now().timestamp())?;
    let server_pid = bench.server_pid();
    let server_cpu0 = server_pid.and_then(cpu_secs).unwrap_or(0.0);
    let t0 = Instant::now();
    let sidecar = SidecarProc::spawn(
        bench,
        store.table().as_str(),
        &fake.url(),
        &state,
        &clock.path,
    )
    .await?;
    let pid = sidecar.proc.pid;
    let start_rss = memory_of(pid).map_or(0, |m| m.rss_kib);
    let mut samples: Vec<Sample> = Vec::new();
    let (mut guilds_at, mut handed_at, mut committed_at) = (None, None, None);
    let deadline = t0 + bench.size(Duration::from_mins(40), Duration::from_mins(3));
    let mut last_text = String::new();
    while committed_at.is_none() {
        if let Some(m) = memory_of(pid) {
            samples.push(Sample {
                at: t0.elapsed(),
                memory: m,
            });
        }
        let text = sidecar.metrics().await?;
        let get = |s: &str| sample_of(&text, s).unwrap_or(0.0);
        let seq = samples_of(&text, "callstats_gateway_sequence")
            .first()
            .copied()
            .unwrap_or(0.0);
        if guilds_at.is_none() && seq >= (guild_count + 1) as f64 {
            guilds_at = Some(t0.elapsed());
        }
        if handed_at.is_none() && get("callstats_writes_handed_total") >= members as f64 {
            handed_at = Some(t0.elapsed());
        }
        if get("callstats_writes_applied_total{kind=\"start\"}") >= members as f64
            && get("callstats_spool_depth") == 0.0
        {
            committed_at = Some(t0.elapsed());
        }
        last_text = text;
        anyhow::ensure!(
            Instant::now() < deadline,
            "the burst did not finish in time; metrics:\n{last_text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sidecar_cpu = cpu_secs(pid).unwrap_or(0.0);
    let server_cpu = server_pid
        .and_then(cpu_secs)
        .map_or(0.0, |c| c - server_cpu0);
    let burst = committed_at.unwrap_or_default();
    // Settled, then a few seconds idle: what it keeps.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = memory_of(pid).unwrap_or_default();
    let text = sidecar.metrics().await.unwrap_or(last_text);
    let get = |s: &str| sample_of(&text, s).unwrap_or(0.0);
    let open_sessions: f64 = samples_of(&text, "callstats_open_sessions").iter().sum();
    let retried = get("callstats_writes_retried_total");
    let failed = get("callstats_writes_failed_total");
    sidecar.proc.terminate(Duration::from_secs(15)).await;
    fake.shutdown().await;

    // The server alone: the same requests for a sample of fresh guilds (what reconciling and
    // starting them asks of the store), against the table as the burst left it.
    let sample_guilds = bench.size(40u64, 5);
    let plain = Store::connect(store.table().clone(), Timeouts::default()).await;
    let now = Timestamp::new(clock.now()).context("clock")?;
    let server_cpu1 = server_pid.and_then(cpu_secs).unwrap_or(0.0);
    let started = Instant::now();
    // One guild at a time, as reconciliation reads it: the open-by-guild query, then one
    // strongly consistent batch of the members' states and secondary items with the server
    // item (gateway/store_tasks.rs).
    for i in 0..sample_guilds {
        let g = 1_000_000 + i;
        let refs = plain.open_sessions_of_guild(guild_id(g)).await?;
        let users: Vec<UserId> = refs
            .iter()
            .map(|r| r.user)
            .chain((0..HUMANS).map(|n| user_id(g, n)))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        plain.reconcile_view(guild_id(g), &users).await?;
    }
    let reads_time = started.elapsed();
    let started = Instant::now();
    let sessions: Vec<OpenSession> = (0..sample_guilds)
        .flat_map(|i| (0..HUMANS).map(move |n| (1_000_000 + i, n)))
        .map(|(g, n)| {
            OpenSession::new(
                SessionId::new(now, (g * 100 + n) as u32),
                user_id(g, n),
                guild_id(g),
                channel_id(g, 1),
                Flags::NONE,
            )
        })
        .collect();
    futures_util::stream::iter(&sessions)
        .map(|s| plain.start_session(s, RankingRule::default()))
        .buffer_unordered(WRITER_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let starts_time = started.elapsed();
    let sample_server_cpu = server_pid
        .and_then(cpu_secs)
        .map_or(0.0, |c| c - server_cpu1);
    let scale = guild_count as f64 / sample_guilds as f64;
    let server_alone = (reads_time + starts_time).as_secs_f64() * scale;

    let peak = samples
        .iter()
        .map(|s| s.memory.hwm_kib)
        .max()
        .unwrap_or(0)
        .max(after.hwm_kib);
    // The split of the largest sample: how much of the peak is the heap, how much the program.
    let largest = samples.iter().max_by_key(|s| s.memory.rss_kib);
    let split = largest.map_or_else(String::new, |s| {
        format!(
            "; at its largest sample, heap and stacks (RssAnon) {:.1} MiB, program code and data mapped from files (RssFile) {:.1} MiB",
            mib(s.memory.anon_kib),
            mib(s.memory.file_kib)
        )
    });
    let rows = vec![
        Row::new(
            format!("peak memory (VmHWM), {guild_count} guilds, {members} members in voice"),
            format!(
                "{:.1} MiB (after: VmRSS {:.1} MiB{split})",
                mib(peak),
                mib(after.rss_kib)
            ),
        )
        .target("≤ 64 MiB", Verdict::of(mib(peak) <= 64.0)),
        Row::new(
            "reconcile the burst: start to every session committed",
            format!("{:.1} s", burst.as_secs_f64()),
        )
        .baseline(
            format!(
                "local server busy {server_cpu:.1} s of it ({:.0} % of its one core); sidecar CPU {sidecar_cpu:.1} s",
                100.0 * server_cpu / burst.as_secs_f64().max(1e-9)
            ),
            "",
        )
        .target("≤ 60 s", Verdict::of(burst.as_secs_f64() <= 60.0)),
        Row::new(
            "the sidecar's own share of the burst",
            format!(
                "every GUILD_CREATE handled after {:.1} s; every write decided after {:.1} s (the store reads bound it)",
                guilds_at.unwrap_or_default().as_secs_f64(),
                handed_at.unwrap_or_default().as_secs_f64()
            ),
        ),
    ];
    let mut detail = String::new();
    let _ = writeln!(
        detail,
        "{guild_count} guilds × ({HUMANS} members + {BOTS} bots in voice) = {members} sessions to start on an empty table; \
         one shard; the fake gateway runs in the benchmark's process. Sidecar start: VmRSS {:.1} MiB.\n",
        mib(start_rss)
    );
    detail.push_str("| milestone | after (s) |\n|---|---|\n");
    let ms = |d: Option<Duration>| {
        d.map_or_else(|| "—".to_owned(), |d| format!("{:.1}", d.as_secs_f64()))
    };
    let _ = writeln!(
        detail,
        "| every GUILD_CREATE handled (the sidecar's own work) | {} |",
        ms(guilds_at)
    );
    let _ = writeln!(
        detail,
        "| every write handed to the writer (every guild's store reads done) | {} |",
        ms(handed_at)
    );
    let _ = writeln!(
        detail,
        "| every session start committed | {} |",
        ms(committed_at)
    );
    let _ = writeln!(
        detail,
        "\nCPU over the burst: sidecar {sidecar_cpu:.1} s, local server {server_cpu:.1} s (the server is single-threaded: \
         {:.0}% of one core over the burst). Open sessions tracked at the end: {open_sessions:.0}; writes retried {retried:.0}, \
         failed {failed:.0}.\n",
        100.0 * server_cpu / burst.as_secs_f64().max(1e-9)
    );
    let _ = writeln!(
        detail,
        "The server alone, after the burst (plain loop, {sample_guilds} fresh guilds, one at a time with 16 reads at once, \
         then their starts 16 at once): reads (the open-by-guild query, then one batch read of the {HUMANS} members' states and secondary items with the server item) {:.2} s, \
         starts {:.2} s, server CPU {:.1} s. Each of those index queries, coming after writes, has this server go over the whole table \
         ({members} items by then), so × {scale:.1} = ≈ {server_alone:.0} s overstates what the burst, whose queries ran \
         while the table filled, asked of it; the starts alone scale to ≈ {:.0} s.\n",
        reads_time.as_secs_f64(),
        starts_time.as_secs_f64(),
        sample_server_cpu,
        starts_time.as_secs_f64() * scale
    );
    detail.push_str(
        "| t (s) | VmRSS (MiB) | VmHWM (MiB) | RssAnon (MiB) | RssFile (MiB) |\n|---|---|---|---|---|\n",
    );
    let step = (samples.len() / 12).max(1);
    for s in samples.iter().step_by(step) {
        let _ = writeln!(
            detail,
            "| {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            s.at.as_secs_f64(),
            mib(s.memory.rss_kib),
            mib(s.memory.hwm_kib),
            mib(s.memory.anon_kib),
            mib(s.memory.file_kib)
        );
    }
    let _ = writeln!(
        detail,
        "| {:.1} (idle) | {:.1} | {:.1} | {:.1} | {:.1} |",
        burst.as_secs_f64() + 3.0,
        mib(after.rss_kib),
        mib(after.hwm_kib),
        mib(after.anon_kib),
        mib(after.file_kib)
    );
    Ok(Outcome {
        name: "memory",
        rows,
        detail,
    })
}
