//! Restarts, crashes, duplicates, guild outages and shards lose nothing. The sidecar
//! runs as the real program (its clock a file the test sets) against the fake gateway and
//! the local DynamoDB server.

use std::time::Duration;

use callstats_core::{ChannelId, GuildId, Timestamp, UserId};
use callstats_fake_gateway::{ChannelSpec, GuildSpec, ShardId, VoiceMember};
use callstats_sidecar::ShardPlan;
use callstats_tests::dynamo::{all_time, sessions};
use callstats_tests::scene::{ProcessScene, flags, process_scene, voice_state_json};
use callstats_tests::sidecar::{Options, ProcessClock, Sidecar, StateDir, spawn_process};
use callstats_tests::time::at;
use twilight_model::id::Id;

fn guild(n: u64) -> GuildId {
    Id::new((n << 22) | 5)
}

fn user(n: u64) -> UserId {
    Id::new(30_000 + n)
}

fn chan(n: u64) -> ChannelId {
    Id::new(800 + n)
}

fn spec(n: u64) -> GuildSpec {
    GuildSpec::new(guild(n), format!("guild {n}"))
        .channel(ChannelSpec::voice(chan(1), "lounge"))
        .channel(ChannelSpec::voice(chan(2), "games"))
}

/// The program started at `t0` on guild 1, and members 1 and 2 joining its lounge then.
async fn two_in_the_lounge(t0: Timestamp) -> (ProcessScene, Sidecar) {
    let s = process_scene(vec![spec(1)], t0, Options::default()).await;
    let sidecar = s.start().await;
    sidecar.join(&s.fake, guild(1), user(1), chan(1)).await;
    sidecar.join(&s.fake, guild(1), user(2), chan(1)).await;
    (s, sidecar)
}

/// (start offset from `t0`, duration, estimated) of each session, oldest first.
async fn spans(
    store: &callstats_store::Store,
    u: UserId,
    g: GuildId,
    t0: Timestamp,
) -> Vec<(i64, u64, bool)> {
    sessions(store, u, g)
        .await
        .iter()
        .map(|r| (r.start().unix() - t0.unix(), r.duration(), r.estimated))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_call_then_restart_resumes_and_splits_nothing() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let (s, sidecar) = two_in_the_lounge(t0).await;
    let g = guild(1);
    s.clock.set(t0.plus(100));
    sidecar
        .voice(&s.fake, g, user(1), Some(chan(1)), flags(&["self_mute"]))
        .await;

    // A deploy: SIGTERM, then a new process within 30 s.
    let exit = sidecar.stop_within(Duration::from_secs(10)).await;
    assert_eq!(exit.status.code(), Some(0), "{exit:?}");
    assert!(
        exit.stdout
            .iter()
            .any(|l| l.contains("gateway session saved for the next start")),
        "{:?}",
        exit.stdout
    );
    assert_eq!(s.fake.last_close_code(), Some(4000));
    assert!(
        exit.stdout.iter().all(|l| !l.contains(&s.options.token)),
        "the token is never logged"
    );
    // Meanwhile user 2 leaves and user 3 joins: the gateway keeps these for the resume.
    s.clock.set(t0.plus(130));
    s.fake.voice_update(g, user(2), None, flags(&[])).unwrap();
    s.fake
        .voice_update(g, user(3), Some(chan(2)), flags(&[]))
        .unwrap();
    s.clock.set(t0.plus(150));
    let identifies = s.fake.counters().ready;
    let sidecar = s.start().await;
    s.fake.wait_for_resumes(1).await.unwrap();
    assert_eq!(
        s.fake.counters().ready,
        identifies,
        "resumed, not identified"
    );
    assert!(s.fake.counters().replayed >= 2);
    s.clock.set(t0.plus(200));
    sidecar.leave(&s.fake, g, user(1)).await;
    sidecar.leave(&s.fake, g, user(3)).await;
    sidecar.wait_idle().await;

    // Replayed events count from when the new process received them.
    assert_eq!(spans(&s.store, user(1), g, t0).await, [(0, 200, false)]);
    assert_eq!(spans(&s.store, user(2), g, t0).await, [(0, 150, false)]);
    assert_eq!(spans(&s.store, user(3), g, t0).await, [(150, 50, false)]);
    let one = &sessions(&s.store, user(1), g).await[0];
    // Muted from 100 until the end; alone from 150 (user 2's leave, replayed) on.
    assert_eq!((one.breakdown.muted, one.breakdown.alone), (100, 50));
    let all = all_time(&s.store, user(1), g).await;
    assert_eq!((all.stats.total, all.stats.sessions), (200, 1));
    sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_call_reconciles_from_the_last_heartbeat() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    // User 1 will leave while nothing runs, user 2 stays.
    let (s, sidecar) = two_in_the_lounge(t0).await;
    let g = guild(1);
    s.clock.set(t0.plus(10));
    s.wait_heartbeat(0, t0.plus(10)).await;

    let exit = sidecar.kill().await;
    assert!(!exit.status.success());
    // While nothing runs: user 1 leaves, user 3 joins.
    s.fake.voice_update(g, user(1), None, flags(&[])).unwrap();
    s.fake
        .voice_update(g, user(3), Some(chan(1)), flags(&[]))
        .unwrap();
    s.clock.set(t0.plus(40));
    let sidecar = s.start().await;
    sidecar.wait_idle().await;
    s.clock.set(t0.plus(100));
    sidecar.leave(&s.fake, g, user(2)).await;
    sidecar.leave(&s.fake, g, user(3)).await;
    sidecar.wait_idle().await;

    // The leaver ends at the last heartbeat, estimated; the stayer keeps one session; the
    // joiner starts when the sidecar saw it again.
    assert_eq!(spans(&s.store, user(1), g, t0).await, [(0, 10, true)]);
    assert_eq!(spans(&s.store, user(2), g, t0).await, [(0, 100, false)]);
    assert_eq!(spans(&s.store, user(3), g, t0).await, [(40, 60, false)]);
    sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_a_long_gap_splits_the_stayers_session() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let options = Options {
        max_gap_secs: 60,
        ..Options::default()
    };
    let s = process_scene(vec![spec(1)], t0, options).await;
    let sidecar = s.start().await;
    let g = guild(1);
    sidecar.join(&s.fake, g, user(1), chan(1)).await;
    s.clock.set(t0.plus(20));
    s.wait_heartbeat(0, t0.plus(20)).await;
    sidecar.kill().await;
    s.clock.set(t0.plus(81));
    let sidecar = s.start().await;
    s.clock.set(t0.plus(100));
    sidecar.leave(&s.fake, g, user(1)).await;
    sidecar.wait_idle().await;
    assert_eq!(
        spans(&s.store, user(1), g, t0).await,
        [(0, 20, true), (81, 19, false)]
    );
    sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_voice_state_updates_twice_change_nothing() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let s = process_scene(vec![spec(1)], t0, Options::default()).await;
    let sidecar = s.start().await;
    let g = guild(1);
    let shard = ShardId::new(0, 1);
    let twice = |u: u64, channel: Option<ChannelId>, set: &[&str]| {
        let data = voice_state_json(g, user(u), channel, flags(set));
        let first = s
            .fake
            .dispatch_raw(shard, "VOICE_STATE_UPDATE", &data)
            .unwrap();
        let second = s
            .fake
            .dispatch_raw(shard, "VOICE_STATE_UPDATE", &data)
            .unwrap();
        (first, second)
    };
    let (_, d) = twice(1, Some(chan(1)), &[]);
    sidecar.wait_delivered(g, &d).await;
    let (_, d) = twice(2, Some(chan(1)), &[]);
    sidecar.wait_delivered(g, &d).await;
    s.clock.set(t0.plus(60));
    let (_, d) = twice(1, Some(chan(1)), &["self_deaf"]);
    sidecar.wait_delivered(g, &d).await;
    s.clock.set(t0.plus(100));
    let (_, d) = twice(2, None, &[]);
    sidecar.wait_delivered(g, &d).await;
    s.clock.set(t0.plus(130));
    let (_, d) = twice(1, None, &[]);
    sidecar.wait_delivered(g, &d).await;
    sidecar.wait_idle().await;

    assert_eq!(spans(&s.store, user(1), g, t0).await, [(0, 130, false)]);
    assert_eq!(spans(&s.store, user(2), g, t0).await, [(0, 100, false)]);
    let one = all_time(&s.store, user(1), g).await;
    assert_eq!(
        (one.stats.total, one.stats.active, one.stats.sessions),
        (130, 60, 1)
    );
    assert_eq!((one.breakdown.deafened, one.breakdown.alone), (70, 30));
    let two = all_time(&s.store, user(2), g).await;
    assert_eq!(
        (two.stats.total, two.stats.active, two.stats.sessions),
        (100, 100, 1)
    );
    sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guild_outage_reconciles_on_return_and_removal_ends_sessions() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let a = spec(1)
        .voice_member(VoiceMember::new(user(1), chan(1)))
        .voice_member(VoiceMember::new(user(2), chan(1)));
    let b = spec(2).voice_member(VoiceMember::new(user(3), chan(1)));
    let s = process_scene(vec![a, b], t0, Options::default()).await;
    let sidecar = s.start().await;
    let (ga, gb) = (guild(1), guild(2));

    s.clock.set(t0.plus(100));
    let d = s.fake.guild_delete(ga, true).unwrap();
    sidecar.wait_delivered(ga, &d).await;
    // During the outage (not dispatched): user 1 leaves, user 4 joins, user 2 stays.
    s.fake.voice_update(ga, user(1), None, flags(&[])).unwrap();
    s.fake
        .voice_update(ga, user(4), Some(chan(2)), flags(&[]))
        .unwrap();
    s.clock.set(t0.plus(250));
    let d = s.fake.guild_create_again(ga).unwrap();
    sidecar.wait_delivered(ga, &d).await;

    s.clock.set(t0.plus(300));
    let d = s.fake.guild_delete(gb, false).unwrap();
    sidecar.wait_delivered(gb, &d).await;

    s.clock.set(t0.plus(400));
    sidecar.leave(&s.fake, ga, user(2)).await;
    sidecar.leave(&s.fake, ga, user(4)).await;
    sidecar.wait_idle().await;

    assert_eq!(spans(&s.store, user(1), ga, t0).await, [(0, 100, true)]);
    assert_eq!(spans(&s.store, user(2), ga, t0).await, [(0, 400, false)]);
    assert_eq!(spans(&s.store, user(4), ga, t0).await, [(250, 150, false)]);
    assert_eq!(spans(&s.store, user(3), gb, t0).await, [(0, 300, false)]);
    assert!(s.store.open_sessions_of_guild(gb).await.unwrap().is_empty());
    sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_split_over_two_processes_with_identify_concurrency() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    // Guild n lives on shard n of 8.
    let guilds: Vec<GuildSpec> = (0..8).map(spec).collect();
    let low = Options {
        shards: ShardPlan::Range {
            first: 0,
            last: 3,
            total: 8,
        },
        identify_concurrency: 2,
        ..Options::default()
    };
    let s = process_scene(guilds, t0, low).await;
    let first = s.start().await;
    // A second process with its own state directory runs shards 4 to 7.
    let high_dir = StateDir::new();
    let high_clock = ProcessClock::new(high_dir.path(), t0);
    let high = Options {
        shards: ShardPlan::Range {
            first: 4,
            last: 7,
            total: 8,
        },
        identify_concurrency: 2,
        ..Options::default()
    };
    let second = spawn_process(
        s.store.table().as_str(),
        &s.fake.url(),
        &high_clock,
        high_dir.path(),
        &high,
        &[],
    )
    .await;
    second.wait_settled().await;

    // Each process identified its own four shards, two at a time, five seconds apart.
    let identifies: Vec<(u64, std::time::Instant)> = s
        .fake
        .records()
        .iter()
        .filter(|r| r.op() == Some(2))
        .map(|r| {
            let shard = r.json().unwrap()["d"]["shard"].as_array().unwrap().clone();
            assert_eq!(shard[1], 8);
            (shard[0].as_u64().unwrap(), r.at)
        })
        .collect();
    let mut numbers: Vec<u64> = identifies.iter().map(|(n, _)| *n).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..8).collect::<Vec<_>>());
    let low_times: Vec<std::time::Instant> = identifies
        .iter()
        .filter(|(n, _)| *n < 4)
        .map(|(_, at)| *at)
        .collect();
    let (earliest, latest) = (
        low_times.iter().min().unwrap(),
        low_times.iter().max().unwrap(),
    );
    assert!(
        latest.duration_since(*earliest) >= Duration::from_millis(4500),
        "four shards with concurrency 2 take two identify windows"
    );

    for n in 0..8 {
        let sidecar = if n < 4 { &first } else { &second };
        sidecar.join(&s.fake, guild(n), user(n), chan(1)).await;
    }
    s.clock.set(t0.plus(60));
    high_clock.set(t0.plus(60));
    for n in 0..8 {
        let sidecar = if n < 4 { &first } else { &second };
        sidecar.leave(&s.fake, guild(n), user(n)).await;
    }
    first.wait_idle().await;
    second.wait_idle().await;
    for n in 0..8 {
        assert_eq!(
            spans(&s.store, user(n), guild(n), t0).await,
            [(0, 60, false)],
            "guild {n}"
        );
    }
    for shard in 0..8 {
        s.wait_heartbeat_where(shard, "at all", |beat| beat.is_some())
            .await;
    }
    let (a, b) = tokio::join!(first.stop(), second.stop());
    assert_eq!((a.status.code(), b.status.code()), (Some(0), Some(0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidated_gateway_session_reconciles_from_when_it_was_lost() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let (s, sidecar) = two_in_the_lounge(t0).await;
    let g = guild(1);
    s.clock.set(t0.plus(100));
    // The gateway drops the session and cannot be reached for a while.
    s.fake.set_accepting(false);
    s.fake
        .invalidate_session(ShardId::new(0, 1), false)
        .unwrap();
    sidecar.wait_shard_disconnected(0).await;
    s.fake.voice_update(g, user(1), None, flags(&[])).unwrap();
    s.fake
        .voice_update(g, user(3), Some(chan(1)), flags(&[]))
        .unwrap();
    s.clock.set(t0.plus(110));
    s.fake.set_accepting(true);
    s.fake.wait_for_identifies(2).await.unwrap();
    sidecar.wait_settled().await;
    s.clock.set(t0.plus(200));
    sidecar.leave(&s.fake, g, user(2)).await;
    sidecar.leave(&s.fake, g, user(3)).await;
    sidecar.wait_idle().await;

    assert_eq!(spans(&s.store, user(1), g, t0).await, [(0, 100, true)]);
    assert_eq!(spans(&s.store, user(2), g, t0).await, [(0, 200, false)]);
    assert_eq!(spans(&s.store, user(3), g, t0).await, [(110, 90, false)]);
    sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_request_resumes_and_replays() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let (s, sidecar) = two_in_the_lounge(t0).await;
    let g = guild(1);
    s.clock.set(t0.plus(100));
    s.fake.set_accepting(false);
    s.fake.reconnect(ShardId::new(0, 1)).unwrap();
    sidecar.wait_shard_disconnected(0).await;
    s.fake.voice_update(g, user(1), None, flags(&[])).unwrap();
    s.clock.set(t0.plus(110));
    s.fake.set_accepting(true);
    s.fake.wait_for_resumes(1).await.unwrap();
    sidecar.wait_settled().await;
    s.clock.set(t0.plus(200));
    sidecar.leave(&s.fake, g, user(2)).await;
    sidecar.wait_idle().await;

    // Replayed, so observed: the leave counts from when it arrived, not estimated.
    assert_eq!(spans(&s.store, user(1), g, t0).await, [(0, 110, false)]);
    assert_eq!(spans(&s.store, user(2), g, t0).await, [(0, 200, false)]);
    assert_eq!(s.fake.counters().ready, 1);
    sidecar.stop().await;
}
