//! The sidecar's writer against the local DynamoDB server: replays change nothing, a session
//! left open from before is ended so a new one can start, and a write the store refuses for
//! good is kept in the dead-letter file without holding anything else up.

use std::time::Duration;

use callstats_core::{
    ClosedSession, Flags, GuildConfig, GuildId, OpenSession, SessionId, Timestamp, UserId,
};
use callstats_fake_gateway::{ChannelSpec, GuildSpec, VoiceFlags};
use callstats_sidecar::Backoff;
use callstats_sidecar::writer::{Outcome, apply};
use callstats_sidecar::{Metrics, SessionWrite};
use callstats_store::Store;
use callstats_tests::dynamo::{all_time, fresh_store, plant_unreadable_open_session, sessions};
use callstats_tests::scene::scene;
use callstats_tests::time::at;
use chrono_tz::Tz;
use twilight_model::id::Id;

const BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(20),
    max: Duration::from_millis(200),
};

fn guild() -> GuildId {
    Id::new((11 << 22) | 1)
}

fn user(n: u64) -> UserId {
    Id::new(50_000 + n)
}

fn open(u: u64, start: Timestamp, nonce: u32) -> OpenSession {
    OpenSession::new(
        SessionId::new(start, nonce),
        user(u),
        guild(),
        Id::new(77),
        Flags::NONE,
    )
}

async fn run(store: &Store, metrics: &Metrics, write: SessionWrite) -> Outcome {
    apply(store, &write, BACKOFF, metrics).await.unwrap()
}

fn start(session: &OpenSession) -> SessionWrite {
    SessionWrite::Start {
        session: session.clone(),
        config: GuildConfig::default(),
    }
}

fn end(session: &ClosedSession) -> SessionWrite {
    SessionWrite::End {
        session: session.clone(),
        config: GuildConfig::default(),
    }
}

#[tokio::test]
async fn replayed_writes_change_nothing() {
    let store = fresh_store().await;
    let metrics = Metrics::default();
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let mut s = open(1, t0, 1);
    assert_eq!(run(&store, &metrics, start(&s)).await, Outcome::Applied);
    s.set_flags(t0.plus(60), Flags::MUTED, Tz::UTC);
    let update = SessionWrite::Update {
        session: s.clone(),
        config: GuildConfig::default(),
    };
    assert_eq!(
        run(&store, &metrics, update.clone()).await,
        Outcome::Applied
    );
    let closed = s.clone().close(t0.plus(100), Tz::UTC, false);
    let Outcome::Ended(Some(totals)) = run(&store, &metrics, end(&closed)).await else {
        panic!("the end did not end the session");
    };
    assert_eq!(totals.all_total, 100);

    // The whole journal again, as after a crash that lost the acknowledgements.
    for write in [start(&open(1, t0, 1)), update] {
        assert_eq!(run(&store, &metrics, write).await, Outcome::AlreadyApplied);
    }
    // A replayed end changes nothing and gives the board the stored figures again.
    assert_eq!(
        run(&store, &metrics, end(&closed)).await,
        Outcome::Ended(Some(totals))
    );
    assert!(
        store
            .open_session(user(1), guild())
            .await
            .unwrap()
            .is_none()
    );
    let all = all_time(&store, user(1), guild()).await;
    assert_eq!(
        (all.stats.total, all.stats.sessions, all.breakdown.muted),
        (100, 1, 40)
    );
}

#[tokio::test]
async fn a_start_ends_a_session_left_open_from_before() {
    let store = fresh_store().await;
    let metrics = Metrics::default();
    let t0 = at(2026, 11, 26, 10, 0, 0);
    // Left open by an earlier run, accounted up to t0 + 300.
    let mut stale = open(2, t0, 1);
    assert_eq!(run(&store, &metrics, start(&stale)).await, Outcome::Applied);
    stale.set_flags(t0.plus(300), Flags::MUTED, Tz::UTC);
    run(
        &store,
        &metrics,
        SessionWrite::Update {
            session: stale,
            config: GuildConfig::default(),
        },
    )
    .await;

    let fresh = open(2, t0.plus(1000), 2);
    // The start ends the stale session first; the board gets the figures after that end.
    let Outcome::Replaced(Some(totals)) = run(&store, &metrics, start(&fresh)).await else {
        panic!("the start did not replace the stale session");
    };
    assert_eq!(totals.all_total, 300);
    let got = sessions(&store, user(2), guild()).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].start(), got[0].end, got[0].estimated),
        (t0, t0.plus(300), true)
    );
    let now_open = store.open_session(user(2), guild()).await.unwrap().unwrap();
    assert_eq!(now_open.id, fresh.id);
    assert_eq!(
        metrics
            .conflicts_resolved
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );

    // An older start never ends the newer session.
    let older = open(2, t0.plus(500), 3);
    assert_eq!(
        run(&store, &metrics, start(&older)).await,
        Outcome::Superseded
    );
    let still = store.open_session(user(2), guild()).await.unwrap().unwrap();
    assert_eq!(still.id, fresh.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_refused_for_good_is_dead_lettered_and_holds_nothing_up() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let lounge = Id::new(78);
    let spec =
        GuildSpec::new(guild(), "dead letters").channel(ChannelSpec::voice(lounge, "lounge"));
    let s = scene(vec![spec], t0).await;
    // The store holds something for user 3 that this program never writes.
    plant_unreadable_open_session(&s.store, user(3), guild()).await;
    s.sidecar
        .voice(
            &s.fake,
            guild(),
            user(3),
            Some(lounge),
            VoiceFlags::default(),
        )
        .await;
    s.sidecar
        .voice(
            &s.fake,
            guild(),
            user(4),
            Some(lounge),
            VoiceFlags::default(),
        )
        .await;
    s.clock.advance(60);
    s.sidecar
        .voice(&s.fake, guild(), user(4), None, VoiceFlags::default())
        .await;
    s.sidecar.wait_idle().await;

    assert_eq!(
        s.sidecar.metric("callstats_writes_failed_total").await,
        Some(1.0)
    );
    let dead = std::fs::read_to_string(s.dir.path().join("dead-letters.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = dead
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["entry"]["w"]["op"], "start");
    assert_eq!(
        lines[0]["entry"]["w"]["session"]["user"],
        user(3).to_string()
    );
    assert!(
        lines[0]["error"].as_str().unwrap().contains("malformed"),
        "{dead}"
    );
    // Everyone else is tracked as usual.
    let four = sessions(&s.store, user(4), guild()).await;
    assert_eq!((four.len(), four[0].duration()), (1, 60));
    s.sidecar.stop().await;
}

/// User + system CPU seconds of this process so far (`/proc/self/stat`, clock ticks of 10 ms).
fn process_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields[11].parse().unwrap();
    let stime: f64 = fields[12].parse().unwrap();
    (utime + stime) / 100.0
}

/// With every board-flush slot taken by a slow store, the writer waits for a flush to end
/// instead of waking for the boards already due over and over: it once spun on a core for as
/// long as the flushes took (a 2,500-guild burst spent minutes of CPU that way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_waiting_for_slow_board_flushes_does_not_spin() {
    use std::sync::Arc;

    use callstats_sidecar::spool::Spool;
    use callstats_sidecar::{ManualClock, WriterOptions, writer};
    use callstats_tests::proxy::FaultProxy;
    use callstats_tests::sidecar::StateDir;

    let store = fresh_store().await;
    let proxy = FaultProxy::in_front_of_dynamodb().await;
    // Each flush is a read and a write of the server item: about a second each here.
    proxy.latency(Duration::from_millis(450));
    let slow = Store::connect_with_endpoint(
        store.table().clone(),
        callstats_store::Timeouts::default(),
        &proxy.url(),
    )
    .await;
    let dir = StateDir::new();
    let opened = Spool::open(dir.path(), 100).unwrap();
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let started = writer::start(
        slow,
        opened,
        WriterOptions::default(),
        Arc::new(Metrics::default()),
        Arc::new(ManualClock::new(t0)),
    );
    // Twelve servers' peaks: all due after the flush interval (2 s), four flushes at a time,
    // so for about three seconds every slot is taken while boards are due.
    for g in 1..=12u64 {
        started.writer.peak(Id::new((g << 22) | 1), 3, t0);
    }
    let before = process_cpu_secs();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let used = process_cpu_secs() - before;
    assert!(
        used < 1.0,
        "the process used {used:.2} s of CPU while the writer waited for its flushes"
    );
    assert_eq!(started.writer.flush(Duration::from_secs(20)).await, 0);
    started.writer.stop().await;
}
