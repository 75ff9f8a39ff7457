//! The edges: a slow store never stalls the gateway, configuration errors end the
//! program clearly, an unreachable gateway is retried with backoff, and a refused token ends
//! the sidecar without spinning.

use std::time::Duration;

use callstats_core::{ChannelId, GuildId, UserId};
use callstats_fake_gateway::{Activity, ChannelSpec, FakeGateway, GuildSpec, VoiceFlags};
use callstats_sidecar::{ManualClock, RunError};
use callstats_tests::dynamo::{fresh_store, sessions, unique_table_name};
use callstats_tests::proxy::FaultProxy;
use callstats_tests::scene::{fake_gateway, scene_with};
use callstats_tests::sidecar::{
    Options, ProcessClock, StateDir, WAIT, run_program, spawn_in_process, spawn_process,
};
use callstats_tests::time::at;
use twilight_model::id::Id;

fn guild() -> GuildId {
    Id::new((7 << 22) | 3)
}

fn user(n: u64) -> UserId {
    Id::new(20_000 + n)
}

fn lounge() -> ChannelId {
    Id::new(700)
}

fn spec() -> GuildSpec {
    GuildSpec::new(guild(), "edge cases").channel(ChannelSpec::voice(lounge(), "lounge"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_store_never_stalls_the_gateway() {
    let proxy = FaultProxy::in_front_of_dynamodb().await;
    let options = Options {
        store_endpoint: Some(proxy.url()),
        ..Options::default()
    };
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let s = scene_with(vec![spec()], t0, &options).await;
    // Every store call now takes over a second.
    proxy.latency(Duration::from_millis(1200));
    for n in 0..6 {
        s.sidecar
            .voice(
                &s.fake,
                guild(),
                user(n),
                Some(lounge()),
                VoiceFlags::default(),
            )
            .await;
    }
    let beats = s.fake.counters().heartbeats;
    // While the writes crawl, the shard keeps heartbeating (every 500 ms) and handling events.
    s.clock.advance(90);
    for n in 0..3 {
        s.sidecar
            .voice(&s.fake, guild(), user(n), None, VoiceFlags::default())
            .await;
    }
    s.fake
        .wait_counters(|c| c.heartbeats >= beats + 4, WAIT)
        .await
        .expect("heartbeats go on while the store is slow");
    assert!(
        s.sidecar.metric("callstats_spool_depth").await > Some(0.0),
        "writes were still waiting for the slow store"
    );
    assert_eq!(s.fake.counters().disconnections, 0);
    proxy.pass();
    s.clock.advance(30);
    for n in 3..6 {
        s.sidecar
            .voice(&s.fake, guild(), user(n), None, VoiceFlags::default())
            .await;
    }
    s.sidecar.wait_idle().await;
    for n in 0..6 {
        let got = sessions(&s.store, user(n), guild()).await;
        let expect = if n < 3 { 90 } else { 120 };
        assert_eq!(got.len(), 1, "user {n}");
        assert_eq!(
            (got[0].start(), got[0].duration()),
            (t0, expect),
            "user {n}"
        );
    }
    s.sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_invalid_configuration_ends_the_program_with_one_clear_line() {
    let table = unique_table_name("cfg");
    // A port another program holds (node_exporter's 9100 often is).
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let taken = holder.local_addr().expect("its address").to_string();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("CALLSTATS_TABLE", table.as_str())],
            "DISCORD_TOKEN is not set",
        ),
        (vec![("DISCORD_TOKEN", "abc")], "CALLSTATS_TABLE is not set"),
        (
            vec![
                ("DISCORD_TOKEN", "abc"),
                ("CALLSTATS_TABLE", "no spaces allowed"),
            ],
            "CALLSTATS_TABLE is invalid",
        ),
        (
            vec![
                ("DISCORD_TOKEN", "abc"),
                ("CALLSTATS_TABLE", table.as_str()),
                ("CALLSTATS_SHARDS", "4-2/8"),
            ],
            "CALLSTATS_SHARDS",
        ),
        (
            vec![
                ("DISCORD_TOKEN", "abc"),
                ("CALLSTATS_TABLE", table.as_str()),
                ("CALLSTATS_LOG_FORMAT", "xml"),
            ],
            "CALLSTATS_LOG_FORMAT",
        ),
        (
            vec![
                ("DISCORD_TOKEN", "abc"),
                ("CALLSTATS_TABLE", table.as_str()),
                ("CALLSTATS_TASK", "1/2"),
            ],
            "CALLSTATS_SHARDS must be the bot's shard count",
        ),
        (
            vec![
                ("DISCORD_TOKEN", "abc"),
                ("CALLSTATS_TABLE", table.as_str()),
                ("CALLSTATS_GUILDS", "my server"),
            ],
            "CALLSTATS_GUILDS is invalid",
        ),
        (
            vec![
                ("DISCORD_TOKEN", "abc"),
                ("CALLSTATS_TABLE", table.as_str()),
                ("CALLSTATS_HTTP_LISTEN", taken.as_str()),
            ],
            "is already in use by another program",
        ),
    ];
    for (vars, expected) in cases {
        let exit = run_program(&vars, &[]).await;
        assert_eq!(exit.status.code(), Some(2), "{vars:?}: {exit:?}");
        assert_eq!(exit.stderr.len(), 1, "{vars:?}: {exit:?}");
        assert!(
            exit.stderr[0].starts_with("callstats-sidecar: configuration error: ")
                && exit.stderr[0].contains(expected),
            "{vars:?}: {:?}",
            exit.stderr
        );
        assert!(!exit.stderr[0].contains("abc"), "the token is never shown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_table_creates_then_finds_the_table() {
    let table = unique_table_name("create");
    let vars = [("CALLSTATS_TABLE", table.as_str())];
    let exit = run_program(&vars, &["create-table"]).await;
    assert_eq!(exit.status.code(), Some(0), "{exit:?}");
    let created = format!("created table {table}");
    assert!(exit.stdout.contains(&created), "{exit:?}");
    let exit = run_program(&vars, &["create-table"]).await;
    assert_eq!(exit.status.code(), Some(0), "{exit:?}");
    assert!(
        exit.stdout.iter().any(|l| l.contains("already exists")),
        "{exit:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_gateway_is_retried_with_backoff() {
    let store = fresh_store().await;
    let fake = fake_gateway(vec![spec()]).await;
    fake.set_accepting(false);
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let clock = ManualClock::new(t0);
    let dir = StateDir::new();
    let sidecar =
        spawn_in_process(&store, &fake.url(), &clock, dir.path(), &Options::default()).await;
    // twilight waits 1 s after the first failed attempt, 2 s after the second, then 4, 8, ...:
    // the third attempt comes at least 3 s after the first, never in a tight loop.
    fake.wait_counters(|c| c.refused >= 1, WAIT).await.unwrap();
    let first = std::time::Instant::now();
    fake.wait_counters(|c| c.refused >= 3, WAIT).await.unwrap();
    let spread = first.elapsed();
    assert!(
        spread >= Duration::from_millis(2500),
        "three attempts within {spread:?}"
    );
    let (status, body) = sidecar.get("/healthz").await;
    assert_eq!(status, 503);
    assert!(body.contains("shard 0 not connected"), "{body}");
    assert!(sidecar.metric("callstats_gateway_errors_total").await >= Some(2.0));

    fake.set_accepting(true);
    sidecar.wait_settled().await;
    sidecar
        .voice(
            &fake,
            guild(),
            user(1),
            Some(lounge()),
            VoiceFlags::default(),
        )
        .await;
    clock.advance(42);
    sidecar
        .voice(&fake, guild(), user(1), None, VoiceFlags::default())
        .await;
    sidecar.wait_idle().await;
    let got = sessions(&store, user(1), guild()).await;
    assert_eq!((got.len(), got[0].duration()), (1, 42));
    let (status, body) = sidecar.get("/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    sidecar.stop().await;
}

async fn strict_gateway() -> FakeGateway {
    let fake = FakeGateway::builder()
        .heartbeat_interval(Duration::from_millis(500))
        .accept_tokens(["the-right-token"])
        .start()
        .await
        .unwrap();
    fake.add_guild(spec()).unwrap();
    fake
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_ends_the_sidecar_without_spinning() {
    let store = fresh_store().await;
    let fake = strict_gateway().await;
    let clock = ManualClock::new(at(2026, 11, 26, 10, 0, 0));
    let dir = StateDir::new();
    let options = Options {
        token: "a-wrong-token".to_owned(),
        ..Options::default()
    };
    let mut sidecar = spawn_in_process(&store, &fake.url(), &clock, dir.path(), &options).await;
    let err = sidecar.result(WAIT).await.unwrap_err();
    let RunError::Gateway(fatal) = &err else {
        panic!("expected a fatal gateway close, got {err}");
    };
    assert_eq!(fatal.code, "4004");
    assert!(err.to_string().contains("authentication failed"), "{err}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fake.counters().identifies, 1, "no second attempt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_program_exits_clearly_when_the_token_is_refused() {
    let store = fresh_store().await;
    let fake = strict_gateway().await;
    let dir = StateDir::new();
    let clock = ProcessClock::new(dir.path(), at(2026, 11, 26, 10, 0, 0));
    let options = Options {
        token: "a-wrong-token".to_owned(),
        ..Options::default()
    };
    let mut sidecar = spawn_process(
        store.table().as_str(),
        &fake.url(),
        &clock,
        dir.path(),
        &options,
        &[],
    )
    .await;
    let exit = sidecar.wait_exit(WAIT).await;
    assert_eq!(exit.status.code(), Some(1), "{exit:?}");
    assert_eq!(exit.stderr.len(), 1, "{exit:?}");
    assert!(
        exit.stderr[0].contains("4004") && exit.stderr[0].contains("DISCORD_TOKEN"),
        "{exit:?}"
    );
    assert_eq!(fake.counters().identifies, 1);
    // The token appears in no log line.
    assert!(
        exit.stdout
            .iter()
            .chain(&exit.stderr)
            .all(|l| !l.contains("a-wrong-token"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_ends_the_program_with_one_clear_line() {
    let fake = fake_gateway(vec![spec()]).await;
    let dir = StateDir::new();
    let clock = ProcessClock::new(dir.path(), at(2026, 11, 26, 10, 0, 0));
    let table = unique_table_name("missing");
    let mut sidecar = spawn_process(
        table.as_str(),
        &fake.url(),
        &clock,
        dir.path(),
        &Options::default(),
        &[],
    )
    .await;
    let exit = sidecar.wait_exit(WAIT).await;
    assert_eq!(exit.status.code(), Some(1), "{exit:?}");
    assert_eq!(exit.stderr.len(), 1, "{exit:?}");
    assert!(
        exit.stderr[0].starts_with(&format!("callstats-sidecar: cannot use table {table}: ")),
        "{exit:?}"
    );
    assert_eq!(
        fake.counters().connections,
        0,
        "never connected to the gateway"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sidecar_asks_for_two_intents_and_zstd_stream() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let s = scene_with(vec![spec()], t0, &Options::default()).await;
    let records = s.fake.records();
    let connected = records
        .iter()
        .find_map(|r| match &r.activity {
            Activity::Connected {
                query, compressed, ..
            } => Some((query.clone(), *compressed)),
            _ => None,
        })
        .unwrap();
    assert!(connected.1, "frames are zstd-stream compressed");
    assert!(connected.0.contains("v=10"), "{}", connected.0);
    assert!(
        connected.0.contains("compress=zstd-stream"),
        "{}",
        connected.0
    );
    let identify = records.iter().find(|r| r.op() == Some(2)).unwrap();
    let d = &identify.json().unwrap()["d"];
    // GUILDS (1 << 0) | GUILD_VOICE_STATES (1 << 7): no privileged intent.
    assert_eq!(d["intents"], 129);
    assert_eq!(d["shard"], serde_json::json!([0, 1]));
    s.sidecar.stop().await;
}
