//! Store outages lose nothing. A fault-injecting proxy sits between the sidecar
//! program and the local DynamoDB server (which keeps its data throughout) and refuses, then
//! stalls, connections while members join, move and leave.
//!
//! One test holds the store away for the full 60 seconds the issue names; the one with a
//! restart in the middle uses a shorter outage (what it checks, the spool and the local resume
//! state, does not depend on the outage's length) to keep the suite's wall time sane.

use std::time::Duration;

use callstats_core::{ChannelId, GuildId, Timestamp, UserId};
use callstats_fake_gateway::{ChannelSpec, GuildSpec, VoiceMember};
use callstats_sidecar::WriterOptions;
use callstats_store::Store;
use callstats_tests::dynamo::{all_time, sessions};
use callstats_tests::proxy::FaultProxy;
use callstats_tests::scene::{ProcessScene, flags, process_scene, scene_with};
use callstats_tests::sidecar::{Options, Sidecar, sample_of};
use callstats_tests::time::at;
use tokio::time::Instant;
use twilight_model::id::Id;

fn guild() -> GuildId {
    Id::new((3 << 22) | 9)
}

fn user(n: u64) -> UserId {
    Id::new(40_000 + n)
}

fn chan(n: u64) -> ChannelId {
    Id::new(900 + n)
}

fn spec() -> GuildSpec {
    GuildSpec::new(guild(), "outages")
        .channel(ChannelSpec::voice(chan(1), "lounge"))
        .channel(ChannelSpec::voice(chan(2), "games"))
        .voice_member(VoiceMember::new(user(1), chan(1)))
        .voice_member(VoiceMember::new(user(2), chan(1)))
}

/// (start offset, duration, alone, active, muted) of each session, oldest first.
async fn figures(store: &Store, u: UserId, t0: Timestamp) -> Vec<(i64, u64, u64, u64, u64)> {
    sessions(store, u, guild())
        .await
        .iter()
        .map(|r| {
            (
                r.start().unix() - t0.unix(),
                r.duration(),
                r.breakdown.alone,
                r.breakdown.active,
                r.breakdown.muted,
            )
        })
        .collect()
}

/// The program behind a fault proxy in front of the store, started at `t0`, with every write
/// of its start (members 1 and 2 in the lounge) in the store.
async fn behind_a_proxy(t0: Timestamp) -> (FaultProxy, ProcessScene, Sidecar) {
    let proxy = FaultProxy::in_front_of_dynamodb().await;
    let options = Options {
        store_endpoint: Some(proxy.url()),
        ..Options::default()
    };
    let s = process_scene(vec![spec()], t0, options).await;
    let sidecar = s.start().await;
    sidecar.wait_idle().await;
    (proxy, s, sidecar)
}

/// Waits until `/healthz` answers `status`; the body of that answer.
async fn wait_health(sidecar: &Sidecar, status: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (got, body) = sidecar.get("/healthz").await;
        if got == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/healthz did not answer {status}: {got} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_unreachable_for_a_minute_loses_nothing() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let (proxy, s, sidecar) = behind_a_proxy(t0).await;
    let (status, body) = sidecar.get("/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));

    // The store goes away: first refusing connections, from 30 s on hanging them, for 60 s.
    let outage = Instant::now();
    proxy.refuse();
    s.clock.set(t0.plus(60));
    sidecar.join(&s.fake, guild(), user(3), chan(2)).await;
    sidecar.join(&s.fake, guild(), user(1), chan(2)).await;
    let body = wait_health(&sidecar, 503).await;
    assert!(body.starts_with("not ready: store"), "{body}");
    sidecar
        .wait_metrics("the writes to wait in the spool", |text| {
            sample_of(text, "callstats_spool_depth") >= Some(3.0)
        })
        .await;

    tokio::time::sleep_until(outage + Duration::from_secs(20)).await;
    s.clock.set(t0.plus(120));
    sidecar.leave(&s.fake, guild(), user(2)).await;
    sidecar
        .voice(
            &s.fake,
            guild(),
            user(3),
            Some(chan(2)),
            flags(&["self_mute"]),
        )
        .await;

    tokio::time::sleep_until(outage + Duration::from_secs(30)).await;
    proxy.stall();
    s.clock.set(t0.plus(180));
    sidecar.leave(&s.fake, guild(), user(1)).await;
    sidecar.join(&s.fake, guild(), user(4), chan(1)).await;
    let metrics = sidecar.metrics_text().await;
    let depth = sample_of(&metrics, "callstats_spool_depth").unwrap();
    assert!(depth >= 7.0, "{metrics}");
    assert!(sample_of(&metrics, "callstats_spool_oldest_age_seconds") >= Some(25.0));
    assert!(sample_of(&metrics, "callstats_writes_retried_total") > Some(0.0));
    let (status, _) = sidecar.get("/healthz").await;
    assert_eq!(status, 503);
    // The gateway side never noticed.
    assert_eq!(
        sidecar
            .metric("callstats_shard_connected{shard=\"0\"}")
            .await,
        Some(1.0)
    );

    tokio::time::sleep_until(outage + Duration::from_mins(1)).await;
    proxy.pass();
    s.clock.set(t0.plus(240));
    sidecar.leave(&s.fake, guild(), user(3)).await;
    sidecar.leave(&s.fake, guild(), user(4)).await;
    sidecar.wait_idle().await;

    assert_eq!(
        figures(&s.store, user(1), t0).await,
        [(0, 60, 0, 60, 0), (60, 120, 0, 120, 0)]
    );
    assert_eq!(figures(&s.store, user(2), t0).await, [(0, 120, 60, 60, 0)]);
    assert_eq!(
        figures(&s.store, user(3), t0).await,
        [(60, 180, 60, 120, 120)]
    );
    assert_eq!(figures(&s.store, user(4), t0).await, [(180, 60, 60, 0, 0)]);
    for (u, total) in [(1, 180), (2, 120), (3, 180), (4, 60)] {
        let all = all_time(&s.store, user(u), guild()).await;
        assert_eq!(all.stats.total, total, "user {u}");
        assert_eq!(all.heatmap.total(), total, "user {u}");
    }
    assert_eq!(
        sidecar.metric("callstats_writes_failed_total").await,
        Some(0.0)
    );
    wait_health(&sidecar, 200).await;
    sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_during_a_store_outage_replays_the_spool() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let (proxy, s, sidecar) = behind_a_proxy(t0).await;

    proxy.refuse();
    s.clock.set(t0.plus(30));
    sidecar.join(&s.fake, guild(), user(1), chan(2)).await;
    sidecar
        .wait_metrics("the writes to wait in the spool", |text| {
            sample_of(text, "callstats_spool_depth") >= Some(3.0)
        })
        .await;
    // A deploy while the store is away: the writes stay in the spool, the gateway session is
    // saved in the state directory, and the program still ends promptly.
    let exit = sidecar.stop_within(Duration::from_secs(10)).await;
    assert_eq!(exit.status.code(), Some(0), "{exit:?}");
    assert!(
        exit.stdout
            .iter()
            .any(|l| l.contains("gateway session saved") && l.contains("state directory")),
        "{:?}",
        exit.stdout
    );

    s.clock.set(t0.plus(50));
    s.fake
        .voice_update(guild(), user(2), None, flags(&[]))
        .unwrap();
    s.fake
        .voice_update(guild(), user(3), Some(chan(2)), flags(&[]))
        .unwrap();
    s.clock.set(t0.plus(60));
    let sidecar = s.start().await;
    s.fake.wait_for_resumes(1).await.unwrap();
    sidecar
        .wait_metrics("the writes to wait in the spool", |text| {
            sample_of(text, "callstats_spool_depth") >= Some(3.0)
        })
        .await;
    s.clock.set(t0.plus(90));
    sidecar.leave(&s.fake, guild(), user(1)).await;
    sidecar.leave(&s.fake, guild(), user(3)).await;
    proxy.pass();
    sidecar.wait_idle().await;

    assert_eq!(
        figures(&s.store, user(1), t0).await,
        [(0, 30, 0, 30, 0), (30, 60, 30, 30, 0)]
    );
    assert_eq!(figures(&s.store, user(2), t0).await, [(0, 60, 30, 30, 0)]);
    assert_eq!(figures(&s.store, user(3), t0).await, [(60, 30, 0, 30, 0)]);
    assert_eq!(
        sidecar.metric("callstats_writes_failed_total").await,
        Some(0.0)
    );
    sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_a_store_outage_applies_the_spool_before_reconciling() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let (proxy, s, sidecar) = behind_a_proxy(t0).await;
    s.wait_heartbeat(0, t0).await;

    proxy.refuse();
    s.clock.set(t0.plus(30));
    sidecar.join(&s.fake, guild(), user(1), chan(2)).await;
    sidecar
        .wait_metrics("the writes to wait in the spool", |text| {
            sample_of(text, "callstats_spool_depth") >= Some(3.0)
        })
        .await;
    sidecar.kill().await;
    proxy.pass();

    // The journal says user 1 moved at 30; the store does not know yet. Reconciling first
    // would end the first session at the last heartbeat instead.
    s.clock.set(t0.plus(60));
    let sidecar = s.start().await;
    s.clock.set(t0.plus(90));
    sidecar.leave(&s.fake, guild(), user(1)).await;
    sidecar.leave(&s.fake, guild(), user(2)).await;
    sidecar.wait_idle().await;

    assert_eq!(
        figures(&s.store, user(1), t0).await,
        [(0, 30, 0, 30, 0), (30, 60, 60, 0, 0)]
    );
    assert_eq!(figures(&s.store, user(2), t0).await, [(0, 90, 60, 30, 0)]);
    sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_beyond_the_memory_bound_wait_on_disk_in_order() {
    let proxy = FaultProxy::in_front_of_dynamodb().await;
    let options = Options {
        store_endpoint: Some(proxy.url()),
        writer: WriterOptions {
            memory_bound: 4,
            ..Options::default().writer
        },
        ..Options::default()
    };
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let s = scene_with(vec![spec()], t0, &options).await;
    s.sidecar.wait_idle().await;
    proxy.refuse();
    s.clock.set(t0.plus(10));
    for n in 10..20 {
        s.join(guild(), user(n), chan(2)).await;
    }
    s.clock.set(t0.plus(70));
    for n in 10..20 {
        s.leave(guild(), user(n)).await;
    }
    s.sidecar
        .wait_metrics("writes spilled to disk", |text| {
            sample_of(text, "callstats_spool_spilled") > Some(0.0)
        })
        .await;
    proxy.pass();
    s.sidecar.wait_idle().await;
    for n in 10..20 {
        assert_eq!(
            figures(&s.store, user(n), t0).await,
            [(10, 60, 0, 60, 0)],
            "user {n}"
        );
    }
    s.sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_while_the_store_is_away_reconciles_once_it_returns() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let (proxy, s, sidecar) = behind_a_proxy(t0).await;
    s.wait_heartbeat(0, t0).await;

    proxy.refuse();
    s.clock.set(t0.plus(30));
    sidecar.join(&s.fake, guild(), user(1), chan(2)).await;
    sidecar.kill().await;
    s.fake
        .voice_update(guild(), user(2), None, flags(&[]))
        .unwrap();

    // A fresh start with the store still away: the guild waits for it, events queue.
    s.clock.set(t0.plus(60));
    let sidecar = s.spawn(&[]).await;
    sidecar.wait_shard_connected(0).await;
    assert_eq!(
        sidecar.metric("callstats_shard_settled{shard=\"0\"}").await,
        Some(0.0)
    );
    s.clock.set(t0.plus(70));
    sidecar.join(&s.fake, guild(), user(3), chan(1)).await;
    s.clock.set(t0.plus(80));
    proxy.pass();
    sidecar.wait_settled().await;
    s.clock.set(t0.plus(100));
    sidecar.leave(&s.fake, guild(), user(1)).await;
    sidecar.leave(&s.fake, guild(), user(3)).await;
    sidecar.wait_idle().await;

    // User 1's move from the spool is applied first, so the session in the second channel
    // goes on; user 2 left unseen and ends where the sidecar last accounted them (after the
    // last heartbeat); user 3 starts when the event arrived, not when the store came back.
    assert_eq!(
        figures(&s.store, user(1), t0).await,
        [(0, 30, 0, 30, 0), (30, 70, 70, 0, 0)]
    );
    let two = sessions(&s.store, user(2), guild()).await;
    assert_eq!(
        (two.len(), two[0].duration(), two[0].estimated),
        (1, 30, true)
    );
    assert_eq!(figures(&s.store, user(3), t0).await, [(70, 30, 30, 0, 0)]);
    sidecar.stop().await;
}
