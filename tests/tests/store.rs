//! The store against the local DynamoDB server: every operation, its conditions and its
//! exact aggregates.

use aws_sdk_dynamodb::types::AttributeValue;
use callstats_core::period::{Day, PeriodKey};
use callstats_core::{
    ClosedSession, Flags, GuildConfig, OpenSession, RankingRule, SessionId, Timestamp,
};
use callstats_store::Store;
use callstats_store::{
    EndOutcome, Metric, ResumeState, StartOutcome, StoreError, TableStatusReport, UpdateOutcome,
};
use callstats_tests::dynamo::{all_time, fresh_store, period_totals};
use callstats_tests::time::at;
use chrono_tz::Tz;
use twilight_model::id::Id;

const GUILD: u64 = 500;
const CHANNEL: u64 = 600;

fn open(user: u64, start: Timestamp, nonce: u32) -> OpenSession {
    OpenSession::new(
        SessionId::new(start, nonce),
        Id::new(user),
        Id::new(GUILD),
        Id::new(CHANNEL),
        Flags::NONE,
    )
}

/// Starts, then ends after `secs`, with the default config.
async fn session(store: &Store, user: u64, start: Timestamp, secs: u64) -> ClosedSession {
    session_with(store, user, start, secs, &GuildConfig::default()).await
}

/// Starts, then ends after `secs`, in a guild configured with `config`.
async fn session_with(
    store: &Store,
    user: u64,
    start: Timestamp,
    secs: u64,
    config: &GuildConfig,
) -> ClosedSession {
    let s = open(user, start, 1);
    assert_eq!(
        store.start_session(&s).await.unwrap(),
        StartOutcome::Started
    );
    let closed = s.close(start.plus(secs), config.timezone, false);
    assert_eq!(
        store.end_session(&closed, config, true).await.unwrap(),
        EndOutcome::Ended
    );
    closed
}

/// Ends `closed` with the default config, on the leaderboards.
async fn end_session(store: &Store, closed: &ClosedSession) -> EndOutcome {
    store
        .end_session(closed, &GuildConfig::default(), true)
        .await
        .unwrap()
}

async fn partition(store: &Store, user: u64) -> Vec<String> {
    let out = store
        .client()
        .query()
        .table_name(store.table().as_str())
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("U#{user}")))
        .send()
        .await
        .unwrap();
    out.items()
        .iter()
        .map(|i| i["sk"].as_s().unwrap().clone())
        .collect()
}

#[tokio::test]
async fn create_table_is_idempotent_and_detects_mismatch() {
    let store = fresh_store().await;
    assert_eq!(
        store.create_table().await.unwrap(),
        TableStatusReport::AlreadyMatches
    );

    // A table with the same name but other keys is refused, not silently used.
    let other = Store::new(
        store.client().clone(),
        callstats_tests::dynamo::unique_table_name("other"),
    );
    other
        .client()
        .create_table()
        .table_name(other.table().as_str())
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(matches!(
        other.create_table().await,
        Err(StoreError::SchemaMismatch { .. })
    ));
    store.ping().await.unwrap();
}

#[tokio::test]
async fn lifecycle_with_flags_gives_exact_aggregates() {
    let store = fresh_store().await;
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let mut s = open(1, t0, 7);
    assert_eq!(
        store.start_session(&s).await.unwrap(),
        StartOutcome::Started
    );
    assert_eq!(
        store.start_session(&s).await.unwrap(),
        StartOutcome::AlreadyStarted
    );

    s.set_flags(t0.plus(600), Flags::MUTED, Tz::UTC);
    assert_eq!(
        store.update_session(&s).await.unwrap(),
        UpdateOutcome::Updated
    );
    // A replay of the same change is harmless.
    assert_eq!(
        store.update_session(&s).await.unwrap(),
        UpdateOutcome::Updated
    );
    s.set_flags(t0.plus(900), Flags::DEAFENED, Tz::UTC);
    assert_eq!(
        store.update_session(&s).await.unwrap(),
        UpdateOutcome::Updated
    );
    assert_eq!(
        store
            .open_session(Id::new(1), Id::new(GUILD))
            .await
            .unwrap(),
        Some(s.clone())
    );
    let refs = store.open_sessions_of_guild(Id::new(GUILD)).await.unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!((refs[0].user, refs[0].id), (Id::new(1), s.id));

    let closed = s.clone().close(t0.plus(1500), Tz::UTC, false);
    assert_eq!(end_session(&store, &closed).await, EndOutcome::Ended);
    // After the end, older writes are stale and a second end changes nothing.
    assert_eq!(
        store.update_session(&s).await.unwrap(),
        UpdateOutcome::Stale
    );
    assert_eq!(end_session(&store, &closed).await, EndOutcome::AlreadyEnded);
    assert!(
        store
            .open_session(Id::new(1), Id::new(GUILD))
            .await
            .unwrap()
            .is_none()
    );

    let all = all_time(&store, Id::new(1), Id::new(GUILD)).await;
    assert_eq!(all.stats.total, 1500);
    assert_eq!(all.stats.active, 900);
    assert_eq!(all.stats.sessions, 1);
    assert_eq!(all.stats.longest, 1500);
    assert_eq!(all.stats.last_active, Some(t0.plus(1500)));
    assert_eq!(all.breakdown.muted, 300);
    assert_eq!(all.breakdown.deafened, 600);
    assert_eq!(all.ranked, 900);
    assert_eq!(all.heatmap.total(), 1500);
    // 10:00-10:25 UTC on a Thursday.
    assert_eq!(all.heatmap.get(3 * 48 + 20), 1500);

    let history = store
        .recent_sessions(Id::new(1), Id::new(GUILD), 10)
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id, s.id);
    assert_eq!(history[0].duration(), 1500);
    assert!(!history[0].estimated);
    assert_eq!(history[0].breakdown, closed.breakdown);

    let week = period_totals(
        &store,
        Id::new(1),
        Id::new(GUILD),
        PeriodKey::current(callstats_core::period::PeriodKind::Week, t0, Tz::UTC),
    )
    .await;
    assert_eq!(
        (week.0.total, week.0.ranked, week.0.sessions, week.1),
        (1500, 900, 1, true)
    );
}

#[tokio::test]
async fn ending_a_session_that_is_not_open_writes_nothing() {
    let store = fresh_store().await;
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let closed = open(2, t0, 1).close(t0.plus(60), Tz::UTC, false);
    assert_eq!(end_session(&store, &closed).await, EndOutcome::AlreadyEnded);
    assert!(partition(&store, 2).await.is_empty());

    // Another session open: ending a different id leaves it and writes nothing.
    let other = open(2, t0, 2);
    store.start_session(&other).await.unwrap();
    assert_eq!(end_session(&store, &closed).await, EndOutcome::AlreadyEnded);
    assert_eq!(partition(&store, 2).await, vec![format!("O#{GUILD}")]);
    assert_eq!(
        store.start_session(&open(2, t0.plus(5), 3)).await.unwrap(),
        StartOutcome::Conflict(Box::new(other))
    );
}

#[tokio::test]
async fn across_midnight_lands_in_two_days_and_the_right_periods() {
    let store = fresh_store().await;
    // Sunday 2026-11-29 23:30 to Monday 00:45 UTC: two days, two ISO weeks, one month.
    let t0 = at(2026, 11, 29, 23, 30, 0);
    session(&store, 3, t0, 4500).await;
    let days = store
        .days(
            Id::new(3),
            Id::new(GUILD),
            Day::of(t0).minus_days(1),
            Day::of(t0.plus(86_400)),
        )
        .await
        .unwrap();
    assert_eq!(days.len(), 2);
    assert_eq!(days[0].0.to_string(), "2026-11-29");
    assert_eq!(
        (
            days[0].1.total,
            days[0].1.sessions,
            days[0].1.longest,
            days[0].1.last_active
        ),
        (1800, 1, 4500, None)
    );
    assert_eq!(days[1].0.to_string(), "2026-11-30");
    assert_eq!(
        (days[1].1.total, days[1].1.sessions, days[1].1.longest),
        (2700, 0, 0)
    );
    assert_eq!(days[1].1.last_active, Some(t0.plus(4500)));

    let get = |user: u64, p: &str| {
        let store = store.clone();
        let p: PeriodKey = p.parse().unwrap();
        async move {
            period_totals(&store, Id::new(user), Id::new(GUILD), p)
                .await
                .0
        }
    };
    assert_eq!(
        (
            get(3, "W2026-W48").await.total,
            get(3, "W2026-W48").await.sessions
        ),
        (1800, 1)
    );
    assert_eq!(
        (
            get(3, "W2026-W49").await.total,
            get(3, "W2026-W49").await.sessions
        ),
        (2700, 0)
    );
    assert_eq!(
        (
            get(3, "M2026-11").await.total,
            get(3, "M2026-11").await.sessions
        ),
        (4500, 1)
    );

    // The same in Asia/Kolkata: the local month ends 2026-11-30 18:30 UTC.
    let kolkata = GuildConfig {
        rule: RankingRule::default(),
        timezone: "Asia/Kolkata".parse().unwrap(),
    };
    let t1 = at(2026, 11, 30, 18, 0, 0);
    session_with(&store, 4, t1, 3600, &kolkata).await;
    let (nov, dec) = (get(4, "M2026-11").await, get(4, "M2026-12").await);
    assert_eq!(
        (nov.total, nov.sessions, dec.total, dec.sessions),
        (1800, 1, 1800, 0)
    );
}

#[tokio::test]
async fn longest_is_the_maximum_in_any_order() {
    let store = fresh_store().await;
    let t0 = at(2026, 11, 26, 8, 0, 0);
    for (i, secs) in [100u64, 300, 200].into_iter().enumerate() {
        session(&store, 5, t0.plus(i as u64 * 1000), secs).await;
    }
    let all = all_time(&store, Id::new(5), Id::new(GUILD)).await;
    assert_eq!(
        (all.stats.total, all.stats.sessions, all.stats.longest),
        (600, 3, 300)
    );
    let days = store
        .days(Id::new(5), Id::new(GUILD), Day::of(t0), Day::of(t0))
        .await
        .unwrap();
    assert_eq!((days[0].1.longest, days[0].1.sessions), (300, 3));
    assert_eq!(all.stats.last_active, Some(t0.plus(2200)));
}

#[tokio::test]
async fn opted_out_user_cannot_start() {
    let store = fresh_store().await;
    store.set_opted_out(Id::new(6), true).await.unwrap();
    let t0 = at(2026, 11, 26, 10, 0, 0);
    assert_eq!(
        store.start_session(&open(6, t0, 1)).await.unwrap(),
        StartOutcome::OptedOut
    );
    assert_eq!(partition(&store, 6).await, vec!["SETTINGS".to_owned()]);
    store.set_opted_out(Id::new(6), false).await.unwrap();
    assert_eq!(
        store.start_session(&open(6, t0, 1)).await.unwrap(),
        StartOutcome::Started
    );
}

#[tokio::test]
async fn settings_and_guild_config_round_trip() {
    let store = fresh_store().await;
    let user = Id::new(7);
    assert_eq!(
        store.user_settings(user).await.unwrap(),
        callstats_core::UserSettings::default()
    );
    store
        .set_user_timezone(user, Some(chrono_tz::Asia::Kolkata))
        .await
        .unwrap();
    store.set_opted_out(user, true).await.unwrap();
    let settings = store.user_settings(user).await.unwrap();
    assert_eq!(
        (settings.opted_out, settings.timezone),
        (true, Some(chrono_tz::Asia::Kolkata))
    );
    store.set_user_timezone(user, None).await.unwrap();
    assert_eq!(store.user_settings(user).await.unwrap().timezone, None);

    let guild = Id::new(GUILD);
    assert_eq!(
        store.guild_config(guild).await.unwrap(),
        GuildConfig::default()
    );
    let config = GuildConfig {
        rule: RankingRule {
            exclude_deafened: false,
            exclude_alone: true,
        },
        timezone: chrono_tz::Europe::Berlin,
    };
    store.set_guild_config(guild, &config).await.unwrap();
    assert_eq!(store.guild_config(guild).await.unwrap(), config);
}

#[tokio::test]
async fn heartbeat_and_resume_state() {
    let store = fresh_store().await;
    assert_eq!(store.last_heartbeat(0).await.unwrap(), None);
    let t0 = at(2026, 11, 26, 10, 0, 0);
    store.heartbeat(0, t0).await.unwrap();
    store.heartbeat(0, t0.plus(30)).await.unwrap();
    assert_eq!(store.last_heartbeat(0).await.unwrap(), Some(t0.plus(30)));
    assert_eq!(store.last_heartbeat(1).await.unwrap(), None);

    // A snapshot bigger than one item is cut into chunks and read back whole, once.
    let snapshot: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
    let state = ResumeState {
        session_id: "abc".into(),
        sequence: 42,
        resume_url: "wss://gateway.example/".into(),
        saved_at: t0,
        snapshot,
    };
    store.save_resume(3, &state).await.unwrap();
    assert_eq!(store.take_resume(3).await.unwrap(), Some(state));
    assert_eq!(store.take_resume(3).await.unwrap(), None);
}

#[tokio::test]
async fn leaderboard_pages_ranks_and_visibility() {
    let store = fresh_store().await;
    let t0 = at(2026, 11, 26, 10, 0, 0);
    // 25 users with 100..=2500 seconds; user 100+i has (i+1)*100.
    for i in 0..25u64 {
        session(&store, 100 + i, t0, (i + 1) * 100).await;
    }
    let guild = Id::new(GUILD);
    let week: PeriodKey = "W2026-W48".parse().unwrap();
    let page0 = store
        .leaderboard(guild, week, Metric::Total, 0, 10)
        .await
        .unwrap();
    assert_eq!(page0.len(), 10);
    assert_eq!((page0[0].user, page0[0].secs), (Id::new(124), 2500));
    let page2 = store
        .leaderboard(guild, week, Metric::Total, 20, 10)
        .await
        .unwrap();
    assert_eq!(page2.len(), 5);
    assert_eq!((page2[4].user, page2[4].secs), (Id::new(100), 100));
    assert_eq!(
        store
            .count_above(guild, week, Metric::Total, 1000, false)
            .await
            .unwrap(),
        15
    );
    assert_eq!(
        store
            .count_above(guild, week, Metric::Ranked, 0, true)
            .await
            .unwrap(),
        25
    );
    assert_eq!(
        store
            .leaderboard(guild, PeriodKey::All, Metric::Ranked, 0, 1)
            .await
            .unwrap()[0]
            .secs,
        2500
    );

    // Leaving the leaderboards removes every entry at once; coming back restores them.
    assert_eq!(
        store
            .set_leaderboard_visibility(Id::new(124), false)
            .await
            .unwrap(),
        3
    );
    let top = store
        .leaderboard(guild, week, Metric::Total, 0, 1)
        .await
        .unwrap();
    assert_eq!(top[0].user, Id::new(123));
    let all = store
        .leaderboard(guild, PeriodKey::All, Metric::Total, 0, 100)
        .await
        .unwrap();
    assert!(all.iter().all(|e| e.user != Id::new(124)));
    assert_eq!(all.len(), 24);
    store
        .set_leaderboard_visibility(Id::new(124), true)
        .await
        .unwrap();
    assert_eq!(
        store
            .leaderboard(guild, week, Metric::Total, 0, 1)
            .await
            .unwrap()[0]
            .user,
        Id::new(124)
    );
}

#[tokio::test]
async fn concurrent_ends_in_one_guild_all_count() {
    let store = fresh_store().await;
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let mut tasks = tokio::task::JoinSet::new();
    for user in 200..240u64 {
        let store = store.clone();
        tasks.spawn(async move { session(&store, user, t0, user).await });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let entries = store
        .leaderboard(Id::new(GUILD), PeriodKey::All, Metric::Total, 0, 100)
        .await
        .unwrap();
    assert_eq!(entries.len(), 40);
    assert_eq!(
        entries.iter().map(|e| e.secs).sum::<u64>(),
        (200..240).sum::<u64>()
    );
}

#[tokio::test]
async fn export_and_delete_everything_of_one_user() {
    let store = fresh_store().await;
    let t0 = at(2026, 11, 25, 23, 0, 0);
    session(&store, 8, t0, 7200).await;
    session(&store, 8, t0.plus(10_000), 60).await;
    // A second guild and an open session.
    let other = OpenSession::new(
        SessionId::new(t0, 9),
        Id::new(8),
        Id::new(501),
        Id::new(CHANNEL),
        Flags::MUTED,
    );
    store.start_session(&other).await.unwrap();
    store
        .set_user_timezone(Id::new(8), Some(chrono_tz::Europe::Berlin))
        .await
        .unwrap();
    session(&store, 9, t0, 100).await;

    let export = store.export_user(Id::new(8)).await.unwrap();
    assert_eq!(export.settings.timezone, Some(chrono_tz::Europe::Berlin));
    let g = &export.guilds[&Id::new(GUILD)];
    assert_eq!(g.sessions.len(), 2);
    assert_eq!(g.all_time.as_ref().unwrap().stats.total, 7260);
    assert_eq!(g.days.len(), 2);
    assert_eq!(g.weeks.len(), 1);
    assert_eq!(g.months.len(), 1);
    assert_eq!(export.guilds[&Id::new(501)].open, Some(other));

    store.set_opted_out(Id::new(8), true).await.unwrap();
    let report = store.delete_user(Id::new(8)).await.unwrap();
    assert_eq!(
        (
            report.sessions,
            report.open_sessions,
            report.all_time,
            report.days,
            report.weeks_and_months
        ),
        (2, 1, 1, 2, 2)
    );
    assert!(report.settings);
    // Only the opt-out flag survives, without the timezone.
    assert_eq!(partition(&store, 8).await, vec!["SETTINGS".to_owned()]);
    let settings = store.user_settings(Id::new(8)).await.unwrap();
    assert_eq!((settings.opted_out, settings.timezone), (true, None));
    assert!(
        store
            .leaderboard(Id::new(GUILD), PeriodKey::All, Metric::Total, 0, 10)
            .await
            .unwrap()
            .iter()
            .all(|e| e.user != Id::new(8))
    );
    // Other users are untouched.
    assert_eq!(
        all_time(&store, Id::new(9), Id::new(GUILD))
            .await
            .stats
            .total,
        100
    );

    // Without an opt-out, nothing at all is left.
    session(&store, 10, t0, 5).await;
    store.delete_user(Id::new(10)).await.unwrap();
    assert!(partition(&store, 10).await.is_empty());
}

#[tokio::test]
async fn malformed_items_are_errors_not_zeros() {
    let store = fresh_store().await;
    let put = |sk: &str, attrs: Vec<(&str, AttributeValue)>| {
        let mut req = store
            .client()
            .put_item()
            .table_name(store.table().as_str())
            .item("pk", AttributeValue::S("U#11".into()))
            .item("sk", AttributeValue::S(sk.into()));
        for (k, v) in attrs {
            req = req.item(k, v);
        }
        req.send()
    };
    // An all-time item without `total`.
    put(
        &format!("A#{GUILD}"),
        vec![("active", AttributeValue::N("5".into()))],
    )
    .await
    .unwrap();
    assert!(matches!(
        store.all_time(Id::new(11), Id::new(GUILD)).await,
        Err(StoreError::Malformed { .. })
    ));
    // A negative number where seconds belong.
    put(
        &format!("D#{GUILD}#2026-11-26"),
        vec![
            ("total", AttributeValue::N("-5".into())),
            ("active", AttributeValue::N("0".into())),
        ],
    )
    .await
    .unwrap();
    let day = Day::of(at(2026, 11, 26, 0, 0, 0));
    assert!(matches!(
        store.days(Id::new(11), Id::new(GUILD), day, day).await,
        Err(StoreError::Malformed { .. })
    ));
    // A settings item with an unknown timezone.
    put(
        "SETTINGS",
        vec![("tz", AttributeValue::S("Mars/Base".into()))],
    )
    .await
    .unwrap();
    assert!(matches!(
        store.user_settings(Id::new(11)).await,
        Err(StoreError::Malformed { .. })
    ));
    // An open session whose flags have unknown bits.
    put(
        &format!("O#{GUILD}"),
        vec![
            ("ch", AttributeValue::S("1".into())),
            ("sid", AttributeValue::S("001795000000-00000001".into())),
            ("seg", AttributeValue::N("1795000000".into())),
            ("flags", AttributeValue::N("255".into())),
        ],
    )
    .await
    .unwrap();
    assert!(matches!(
        store.open_session(Id::new(11), Id::new(GUILD)).await,
        Err(StoreError::Malformed { .. })
    ));
    assert!(store.export_user(Id::new(11)).await.is_err());
}

#[tokio::test]
async fn unreachable_store_is_retryable() {
    // Nothing listens on port 9 of the loopback: the connection is refused.
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "a", "b", None, None, "test",
        ))
        .endpoint_url("http://127.0.0.1:9")
        .build();
    let store = Store::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        "nowhere".parse().unwrap(),
    );
    let err = store.ping().await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let err = store
        .start_session(&open(1, at(2026, 1, 1, 0, 0, 0), 1))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
}

#[tokio::test]
async fn a_session_of_a_hundred_days_ends_with_exact_totals() {
    let store = fresh_store().await;
    let t0 = at(2026, 1, 1, 12, 0, 0);
    let secs = 100 * 86_400 + 3600;
    session(&store, 12, t0, secs).await;
    let all = all_time(&store, Id::new(12), Id::new(GUILD)).await;
    assert_eq!(
        (all.stats.total, all.stats.sessions, all.stats.longest),
        (secs, 1, secs)
    );
    assert_eq!(all.heatmap.total(), secs);
    // The last 32 days are kept for windows; older day items are left out.
    let end = t0.plus(secs);
    let days = store
        .days(Id::new(12), Id::new(GUILD), Day::of(t0), Day::of(end))
        .await
        .unwrap();
    assert_eq!(days.len(), 32);
    assert_eq!(days.last().unwrap().0, Day::of(end));
    let month = period_totals(
        &store,
        Id::new(12),
        Id::new(GUILD),
        PeriodKey::Month("2026-04".parse().unwrap()),
    )
    .await;
    assert_eq!(month.0.total, (10 * 86_400) + 12 * 3600 + 3600);
}

#[tokio::test]
async fn a_server_error_without_a_dynamodb_code_is_retryable() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Something in front of the table answers 500 with an HTML page (a crashed server, a proxy).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 65_536];
            let _ = socket.read(&mut buf).await;
            let body = "<html><title>500 Internal Server Error</title></html>";
            let response = format!(
                "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "a", "b", None, None, "test",
        ))
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .endpoint_url(format!("http://{addr}"))
        .build();
    let store = Store::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        "broken".parse().unwrap(),
    );
    let err = store.ping().await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
}
