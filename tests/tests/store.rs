//! The store against the local DynamoDB server: every operation, its conditions and its
//! exact figures (`docs/storage.md`).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use callstats_core::board::{Column, Metric};
use callstats_core::member::MemberTotals;
use callstats_core::period::{Day, PeriodKey, PeriodKind};
use callstats_core::session::PartnerSecs;
use callstats_core::{
    ClosedSession, Flags, GuildConfig, OpenSession, RankingRule, SessionId, Timestamp,
};
use callstats_store::{
    BoardUpdate, EndOutcome, ResumeState, StartOutcome, Store, StoreError, TableStatusReport,
    UpdateOutcome,
};
use callstats_tests::dynamo::{all_time, board, fresh_store, period_totals};
use callstats_tests::time::at;
use chrono_tz::Tz;
use twilight_model::id::Id;

const GUILD: u64 = 500;
const CHANNEL: u64 = 600;

fn open(user: u64, start: Timestamp, nonce: u32) -> OpenSession {
    open_in(user, GUILD, start, nonce)
}

fn open_in(user: u64, guild: u64, start: Timestamp, nonce: u32) -> OpenSession {
    OpenSession::new(
        SessionId::new(start, nonce),
        Id::new(user),
        Id::new(guild),
        Id::new(CHANNEL),
        Flags::NONE,
    )
}

/// Starts, then ends after `secs`, with the default config; returns the session and the
/// member's new leaderboard figures.
async fn session(store: &Store, user: u64, start: Timestamp, secs: u64) -> ClosedSession {
    session_with(store, user, start, secs, &GuildConfig::default())
        .await
        .0
}

/// Starts, then ends after `secs`, in a server configured with `config`.
async fn session_with(
    store: &Store,
    user: u64,
    start: Timestamp,
    secs: u64,
    config: &GuildConfig,
) -> (ClosedSession, MemberTotals) {
    let s = open(user, start, 1);
    assert_eq!(
        store.start_session(&s, config.rule).await.unwrap(),
        StartOutcome::Started
    );
    let closed = s.close(start.plus(secs), config.timezone, false);
    let totals = ended(store.end_session(&closed, config).await.unwrap());
    (closed, totals)
}

fn ended(outcome: EndOutcome) -> MemberTotals {
    match outcome {
        EndOutcome::Ended(totals) => totals,
        EndOutcome::AlreadyEnded => panic!("the session was not open"),
    }
}

/// Ends `closed` with the default config.
async fn end_session(store: &Store, closed: &ClosedSession) -> EndOutcome {
    store
        .end_session(closed, &GuildConfig::default())
        .await
        .unwrap()
}

/// The sort keys of a partition, as stored.
async fn partition(store: &Store, pk: &str) -> Vec<String> {
    let out = store
        .client()
        .query()
        .table_name(store.table().as_str())
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
        .send()
        .await
        .unwrap();
    out.items()
        .iter()
        .map(|i| i["sk"].as_s().unwrap().clone())
        .collect()
}

async fn user_items(store: &Store, user: u64) -> Vec<String> {
    partition(store, &format!("U#{user}")).await
}

fn all_column() -> Column {
    Column::new(PeriodKind::All, Metric::Total)
}

#[tokio::test]
async fn create_table_is_idempotent_and_detects_mismatch() {
    let store = fresh_store().await;
    assert_eq!(
        store.create_table().await.unwrap(),
        TableStatusReport::AlreadyMatches
    );
    store.check_schema_version().await.unwrap();

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
async fn a_table_of_another_schema_version_is_refused() {
    let store = fresh_store().await;
    store
        .client()
        .put_item()
        .table_name(store.table().as_str())
        .item("pk", AttributeValue::S("META".into()))
        .item("sk", AttributeValue::S("SCHEMA".into()))
        .item("v", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    let err = store.check_schema_version().await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains('1'), "{err}");
}

#[tokio::test]
async fn lifecycle_with_flags_gives_exact_figures() {
    let store = fresh_store().await;
    let rule = RankingRule::default();
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let mut s = open(1, t0, 7);
    assert_eq!(
        store.start_session(&s, rule).await.unwrap(),
        StartOutcome::Started
    );
    assert_eq!(
        store.start_session(&s, rule).await.unwrap(),
        StartOutcome::AlreadyStarted
    );
    // One item: the member state holds the session.
    assert_eq!(user_items(&store, 1).await, vec!["USER".to_owned()]);

    s.set_flags(t0.plus(600), Flags::MUTED, Tz::UTC);
    assert_eq!(
        store.update_session(&s, rule).await.unwrap(),
        UpdateOutcome::Updated
    );
    // A replay of the same change is harmless.
    assert_eq!(
        store.update_session(&s, rule).await.unwrap(),
        UpdateOutcome::Updated
    );
    s.set_flags(t0.plus(900), Flags::DEAFENED, Tz::UTC);
    assert_eq!(
        store.update_session(&s, rule).await.unwrap(),
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
    // The index's live summary: 900 active seconds, no longer growing while deafened.
    let live = store.live_calls(Id::new(GUILD)).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].at(t0.plus(1200)).1, 900);

    let closed = s.clone().close(t0.plus(1500), Tz::UTC, false);
    let totals = ended(end_session(&store, &closed).await);
    assert_eq!((totals.all_total, totals.all_ranked), (1500, 900));
    let week = totals.week.unwrap();
    assert_eq!(
        (week.key.to_string().as_str(), week.total, week.ranked),
        ("2026-W48", 1500, 900)
    );
    // After the end, older writes are stale and a second end changes nothing.
    assert_eq!(
        store.update_session(&s, rule).await.unwrap(),
        UpdateOutcome::Stale
    );
    assert_eq!(end_session(&store, &closed).await, EndOutcome::AlreadyEnded);
    assert_eq!(
        store.start_session(&s, rule).await.unwrap(),
        StartOutcome::AlreadyEnded
    );
    assert!(
        store
            .open_session(Id::new(1), Id::new(GUILD))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.live_calls(Id::new(GUILD)).await.unwrap().is_empty());
    assert_eq!(
        user_items(&store, 1).await,
        vec![
            format!("A#{GUILD}"),
            format!("D#{GUILD}#2026-11-26"),
            "USER".to_owned()
        ]
    );

    assert_lifecycle_figures(&store, &closed, totals).await;
}

/// What `lifecycle_with_flags_gives_exact_figures` recorded: 25 minutes from 10:00, muted from
/// 10:10, deafened from 10:15.
async fn assert_lifecycle_figures(store: &Store, closed: &ClosedSession, totals: MemberTotals) {
    let t0 = closed.start();
    let all = all_time(store, Id::new(1), Id::new(GUILD)).await;
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
    assert_eq!(all.channels[&Id::new(CHANNEL)], 1500);
    assert_eq!(all.totals(), totals);

    let history = store
        .recent_sessions(Id::new(1), Id::new(GUILD), 10)
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id, closed.id);
    assert_eq!(history[0].duration(), 1500);
    assert!(!history[0].estimated);
    assert_eq!(history[0].breakdown, closed.breakdown);

    let week = period_totals(
        store,
        Id::new(1),
        Id::new(GUILD),
        PeriodKey::current(PeriodKind::Week, t0, Tz::UTC),
    )
    .await;
    assert_eq!(
        (
            week.total,
            week.active,
            week.ranked,
            week.sessions,
            week.listed
        ),
        (1500, 900, Some(900), 1, true)
    );
}

#[tokio::test]
async fn ending_a_session_that_is_not_open_writes_nothing() {
    let store = fresh_store().await;
    let rule = RankingRule::default();
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let closed = open(2, t0, 1).close(t0.plus(60), Tz::UTC, false);
    assert_eq!(end_session(&store, &closed).await, EndOutcome::AlreadyEnded);
    assert!(user_items(&store, 2).await.is_empty());

    // Another session open: ending a different id leaves it and writes nothing.
    let other = open(2, t0, 2);
    store.start_session(&other, rule).await.unwrap();
    assert_eq!(end_session(&store, &closed).await, EndOutcome::AlreadyEnded);
    assert_eq!(user_items(&store, 2).await, vec!["USER".to_owned()]);
    assert_eq!(
        store
            .open_session(Id::new(2), Id::new(GUILD))
            .await
            .unwrap(),
        Some(other.clone())
    );
    assert_eq!(
        store
            .start_session(&open(2, t0.plus(5), 3), rule)
            .await
            .unwrap(),
        StartOutcome::Conflict(Box::new(other))
    );
}

#[tokio::test]
async fn sessions_in_two_servers_at_once_keep_their_own_items() {
    let store = fresh_store().await;
    let rule = RankingRule::default();
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let first = open_in(3, GUILD, t0, 1);
    let second = open_in(3, 501, t0.plus(60), 2);
    store.start_session(&first, rule).await.unwrap();
    assert_eq!(
        store.start_session(&second, rule).await.unwrap(),
        StartOutcome::Started
    );
    assert_eq!(
        store.start_session(&second, rule).await.unwrap(),
        StartOutcome::AlreadyStarted
    );
    assert_eq!(
        user_items(&store, 3).await,
        vec!["O#501".to_owned(), "USER".to_owned()]
    );
    let mut both = store.open_sessions_of_user(Id::new(3)).await.unwrap();
    both.sort_by_key(|s| s.guild);
    assert_eq!(both, vec![first.clone(), second.clone()]);

    // Reconciling each server sees its own session, strongly consistent, with the server item.
    store
        .set_opted_out(Id::new(4), true, t0.minus(10))
        .await
        .unwrap();
    let here = store
        .reconcile_view(Id::new(501), &[Id::new(3), Id::new(4)])
        .await
        .unwrap();
    assert_eq!(here.open, vec![second.clone()]);
    assert_eq!(here.opted_out, vec![Id::new(4)]);
    let there = store
        .reconcile_view(Id::new(GUILD), &[Id::new(3)])
        .await
        .unwrap();
    assert_eq!(there.open, vec![first.clone()]);
    assert!(there.opted_out.is_empty());

    // The primary ends first; the secondary still ends from its own item.
    ended(end_session(&store, &first.close(t0.plus(600), Tz::UTC, false)).await);
    let cfg = GuildConfig::default();
    let totals = ended(
        store
            .end_session(&second.close(t0.plus(660), Tz::UTC, false), &cfg)
            .await
            .unwrap(),
    );
    assert_eq!(totals.all_total, 600);
    assert!(
        store
            .open_sessions_of_user(Id::new(3))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        all_time(&store, Id::new(3), Id::new(501)).await.stats.total,
        600
    );
    assert_eq!(
        all_time(&store, Id::new(3), Id::new(GUILD))
            .await
            .stats
            .total,
        600
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
    let (d0, d1) = (&days[0].1.record, &days[1].1.record);
    assert_eq!(days[0].0.to_string(), "2026-11-29");
    // The start day counts the session and its length; the day of its last second keeps it.
    assert_eq!(
        (
            d0.total,
            d0.sessions,
            d0.longest,
            d0.last_active,
            d0.ended.len()
        ),
        (1800, 1, 4500, None, 0)
    );
    assert_eq!(days[1].0.to_string(), "2026-11-30");
    assert_eq!(
        (d1.total, d1.sessions, d1.longest, d1.ended.len()),
        (2700, 0, 0, 1)
    );
    assert_eq!(d1.last_active, Some(t0.plus(4500)));
    assert_eq!(d0.slots.iter().map(|s| s.starts).sum::<u64>(), 1);

    let get = |user: u64, p: &str| {
        let store = store.clone();
        let p: PeriodKey = p.parse().unwrap();
        async move { period_totals(&store, Id::new(user), Id::new(GUILD), p).await }
    };
    let w48 = get(3, "W2026-W48").await;
    assert_eq!((w48.total, w48.sessions), (1800, 1));
    // The all-time record keeps only the latest week's ranked figures for the board.
    assert_eq!(w48.ranked, None);
    let w49 = get(3, "W2026-W49").await;
    assert_eq!((w49.total, w49.sessions, w49.ranked), (2700, 0, Some(2700)));
    let nov = get(3, "M2026-11").await;
    assert_eq!((nov.total, nov.sessions, nov.ranked), (4500, 1, Some(4500)));

    // The same in Asia/Kolkata: the local month ends 2026-11-30 18:30 UTC.
    let kolkata = GuildConfig {
        rule: RankingRule::default(),
        timezone: "Asia/Kolkata".parse().unwrap(),
    };
    store
        .set_guild_config(Id::new(GUILD), &kolkata)
        .await
        .unwrap();
    let t1 = at(2026, 11, 30, 18, 0, 0);
    let (_, totals) = session_with(&store, 4, t1, 3600, &kolkata).await;
    let (nov, dec) = (get(4, "M2026-11").await, get(4, "M2026-12").await);
    assert_eq!(
        (nov.total, nov.sessions, dec.total, dec.sessions),
        (1800, 1, 1800, 0)
    );
    // The board ranks the server's current local month: December's half.
    let month = totals.month.unwrap();
    assert_eq!(
        (month.key.to_string().as_str(), month.total),
        ("2026-12", 1800)
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
    let d = &days[0].1.record;
    assert_eq!((d.longest, d.sessions, d.ended.len()), (300, 3, 3));
    assert_eq!(all.stats.last_active, Some(t0.plus(2200)));
}

#[tokio::test]
async fn opted_out_member_cannot_start() {
    let store = fresh_store().await;
    let rule = RankingRule::default();
    let t0 = at(2026, 11, 26, 10, 0, 0);
    store
        .set_opted_out(Id::new(6), true, t0.minus(60))
        .await
        .unwrap();
    assert_eq!(
        store.start_session(&open(6, t0, 1), rule).await.unwrap(),
        StartOutcome::OptedOut
    );
    assert_eq!(user_items(&store, 6).await, vec!["USER".to_owned()]);
    store
        .set_opted_out(Id::new(6), false, t0.minus(30))
        .await
        .unwrap();
    assert_eq!(
        store.start_session(&open(6, t0, 1), rule).await.unwrap(),
        StartOutcome::Started
    );
    // A call that began before the last privacy change is refused: its start is an old
    // replay.
    let before = open_in(6, 501, t0.minus(120), 2);
    assert_eq!(
        store.start_session(&before, rule).await.unwrap(),
        StartOutcome::AlreadyEnded
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
    store
        .set_opted_out(user, true, at(2026, 11, 26, 0, 0, 0))
        .await
        .unwrap();
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
    // The server item holds the configuration and the board together: a flush keeps it.
    store
        .flush_board(guild, &[], &[], Some(0), at(2026, 11, 26, 0, 0, 0))
        .await
        .unwrap();
    assert_eq!(store.guild_config(guild).await.unwrap(), config);
    assert_eq!(store.guild(guild).await.unwrap().shard, Some(0));
}

#[tokio::test]
async fn names_and_public_channels_round_trip() {
    let store = fresh_store().await;
    let guild = Id::new(GUILD);
    let t0 = at(2026, 11, 26, 10, 0, 0);
    assert!(store.set_name(guild, Id::new(1), "Ada", t0).await.unwrap());
    assert!(
        store
            .set_name(guild, Id::new(2), "Grace", t0)
            .await
            .unwrap()
    );
    assert!(
        store
            .set_name(guild, Id::new(2), "Grace H.", t0)
            .await
            .unwrap()
    );
    let names = store
        .names(guild, &[Id::new(1), Id::new(2), Id::new(3)])
        .await
        .unwrap();
    assert_eq!(
        names,
        BTreeMap::from([(Id::new(1), "Ada".into()), (Id::new(2), "Grace H.".into())])
    );
    // A deletion removes the name; a tracker that has not heard of it yet cannot name the
    // member again from a call begun before it, but can from one begun after.
    store
        .remove_name(guild, Id::new(1), t0.plus(60))
        .await
        .unwrap();
    assert_eq!(store.names(guild, &[Id::new(1)]).await.unwrap().len(), 0);
    assert!(!store.set_name(guild, Id::new(1), "Ada", t0).await.unwrap());
    assert_eq!(store.names(guild, &[Id::new(1)]).await.unwrap().len(), 0);
    assert!(
        store
            .set_name(guild, Id::new(1), "Ada", t0.plus(60))
            .await
            .unwrap()
    );
    assert_eq!(store.names(guild, &[Id::new(1)]).await.unwrap().len(), 1);

    assert!(store.public_channels(guild).await.unwrap().is_empty());
    store
        .set_public_channels(guild, &[Id::new(10), Id::new(11)])
        .await
        .unwrap();
    assert_eq!(
        store.public_channels(guild).await.unwrap(),
        vec![Id::new(10), Id::new(11)]
    );
}

#[tokio::test]
async fn heartbeat_and_resume_state() {
    let store = fresh_store().await;
    assert_eq!(store.last_heartbeat(0).await.unwrap(), None);
    let t0 = at(2026, 11, 26, 10, 0, 0);
    store.heartbeat(0, t0, 30).await.unwrap();
    store.heartbeat(0, t0.plus(30), 30).await.unwrap();
    assert_eq!(store.last_heartbeat(0).await.unwrap(), Some(t0.plus(30)));
    assert_eq!(store.shard_alive(0).await.unwrap(), Some((t0.plus(30), 30)));
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
async fn the_board_ranks_members_and_leaves_out_those_who_leave() {
    let store = fresh_store().await;
    let guild = Id::new(GUILD);
    let t0 = at(2026, 11, 26, 10, 0, 0);
    // 25 members with 100..=2500 seconds; member 100+i has (i+1)*100.
    let mut updates = Vec::new();
    for i in 0..25u64 {
        let (closed, totals) =
            session_with(&store, 100 + i, t0, (i + 1) * 100, &GuildConfig::default()).await;
        updates.push(BoardUpdate {
            user: closed.user,
            totals,
            as_of: closed.end,
        });
    }
    let now = t0.plus(3000);
    assert_eq!(
        store
            .flush_board(guild, &updates, &[(25, t0.plus(100))], None, now)
            .await
            .unwrap(),
        25
    );
    // A replayed flush changes nothing.
    store
        .flush_board(guild, &updates, &[], None, now)
        .await
        .unwrap();
    let week = board(&store, guild, Column::new(PeriodKind::Week, Metric::Total)).await;
    assert_eq!(week.len(), 25);
    assert_eq!(week[0], (Id::new(124), 2500));
    assert_eq!(week[24], (Id::new(100), 100));
    assert_eq!(
        board(&store, guild, all_column())
            .await
            .iter()
            .map(|l| l.1)
            .sum::<u64>(),
        (1..=25).map(|i| i * 100).sum::<u64>()
    );
    let server = store.guild(guild).await.unwrap();
    assert_eq!(server.board.peaks.values().next().unwrap().members, 25);

    // Leaving the boards removes every figure at once; coming back restores them.
    store.leave_board(guild, Id::new(124), now).await.unwrap();
    let all = board(&store, guild, all_column()).await;
    assert_eq!(all.len(), 24);
    assert!(all.iter().all(|(u, _)| *u != Id::new(124)));
    // A late flush of the member who left does not put them back.
    store
        .flush_board(guild, &updates[24..], &[], None, now)
        .await
        .unwrap();
    assert_eq!(board(&store, guild, all_column()).await.len(), 24);
    store
        .rejoin_board(guild, Id::new(124), &updates[24].totals, now.plus(10))
        .await
        .unwrap();
    assert_eq!(
        board(&store, guild, all_column()).await[0],
        (Id::new(124), 2500)
    );
}

#[tokio::test]
async fn concurrent_ends_and_flushes_in_one_server_all_count() {
    let store = fresh_store().await;
    let guild = Id::new(GUILD);
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let mut tasks = tokio::task::JoinSet::new();
    for user in 200..240u64 {
        let store = store.clone();
        tasks.spawn(async move {
            let (closed, totals) =
                session_with(&store, user, t0, user, &GuildConfig::default()).await;
            BoardUpdate {
                user: closed.user,
                totals,
                as_of: closed.end,
            }
        });
    }
    let mut updates = Vec::new();
    while let Some(r) = tasks.join_next().await {
        updates.push(r.unwrap());
    }
    // Eight writers of the server item at once (sidecar tasks, privacy actions, settings):
    // every write is versioned, so none is lost.
    let mut flushes = tokio::task::JoinSet::new();
    for chunk in updates.chunks(5) {
        let (store, chunk) = (store.clone(), chunk.to_vec());
        flushes.spawn(async move {
            store
                .flush_board(Id::new(GUILD), &chunk, &[], None, t0.plus(1000))
                .await
                .unwrap()
        });
    }
    while let Some(r) = flushes.join_next().await {
        r.unwrap();
    }
    let entries = board(&store, guild, all_column()).await;
    assert_eq!(entries.len(), 40);
    assert_eq!(
        entries.iter().map(|e| e.1).sum::<u64>(),
        (200..240).sum::<u64>()
    );
    let members = store.guild_members(guild).await.unwrap();
    assert_eq!(members.len(), 40);
}

#[tokio::test]
async fn opting_out_hides_every_server_figure_and_opting_in_shows_them_again() {
    let store = fresh_store().await;
    let guild = Id::new(GUILD);
    let t0 = at(2026, 11, 26, 10, 0, 0);
    session(&store, 20, t0, 600).await;
    session(&store, 21, t0, 300).await;
    let day = Day::of(t0);
    assert_eq!(store.guild_members(guild).await.unwrap().len(), 2);
    assert_eq!(store.guild_days(guild, day, day).await.unwrap().len(), 2);

    let off = t0.plus(1000);
    store.set_opted_out(Id::new(20), true, off).await.unwrap();
    assert_eq!(store.set_listed(Id::new(20), false, off).await.unwrap(), 2);
    let members = store.guild_members(guild).await.unwrap();
    assert_eq!(
        members.iter().map(|m| m.user).collect::<Vec<_>>(),
        vec![Id::new(21)]
    );
    let days = store.guild_days(guild, day, day).await.unwrap();
    assert_eq!(
        days.iter().map(|d| d.user).collect::<Vec<_>>(),
        vec![Id::new(21)]
    );
    // The member's own figures stay theirs.
    let own = period_totals(&store, Id::new(20), guild, "W2026-W48".parse().unwrap()).await;
    assert_eq!((own.total, own.listed), (600, false));
    assert_eq!(store.member_totals(Id::new(20), guild).await.unwrap(), None);

    let on = off.plus(1000);
    store.set_opted_out(Id::new(20), false, on).await.unwrap();
    assert_eq!(store.set_listed(Id::new(20), true, on).await.unwrap(), 2);
    assert_eq!(store.guild_members(guild).await.unwrap().len(), 2);
    assert_eq!(store.guild_days(guild, day, day).await.unwrap().len(), 2);
    assert_eq!(
        board(&store, guild, all_column()).await,
        vec![(Id::new(20), 600)]
    );
}

#[tokio::test]
async fn export_and_delete_everything_of_one_member_and_their_partner_entries() {
    let store = fresh_store().await;
    let rule = RankingRule::default();
    let t0 = at(2026, 11, 25, 23, 0, 0);
    // Members 8 and 9 were in a call together for 100 seconds.
    let partnered = |user: u64, partner: u64, nonce: u32| {
        let mut s = open(user, t0, nonce).close(t0.plus(7200), Tz::UTC, false);
        s.partners = vec![PartnerSecs {
            day: Day::of(t0),
            user: Id::new(partner),
            secs: 100,
            since: t0,
        }];
        s
    };
    for (user, partner) in [(8, 9), (9, 8)] {
        store.start_session(&open(user, t0, 1), rule).await.unwrap();
        ended(end_session(&store, &partnered(user, partner, 1)).await);
    }
    session(&store, 8, t0.plus(10_000), 60).await;
    // A second server and an open session.
    let other = OpenSession::new(
        SessionId::new(t0, 9),
        Id::new(8),
        Id::new(501),
        Id::new(CHANNEL),
        Flags::MUTED,
    );
    store.start_session(&other, rule).await.unwrap();
    store
        .set_user_timezone(Id::new(8), Some(chrono_tz::Europe::Berlin))
        .await
        .unwrap();
    store
        .set_name(Id::new(GUILD), Id::new(8), "Eight", t0)
        .await
        .unwrap();

    let export = store.export_user(Id::new(8)).await.unwrap();
    assert_eq!(export.settings.timezone, Some(chrono_tz::Europe::Berlin));
    let g = &export.guilds[&Id::new(GUILD)];
    assert_eq!(g.all_time.as_ref().unwrap().stats.total, 7260);
    assert_eq!(g.days.len(), 2);
    assert_eq!(g.days.iter().map(|(_, d)| d.ended.len()).sum::<usize>(), 2);
    assert_eq!(g.days[0].1.partners[&Id::new(9)], 100);
    assert_eq!(export.guilds[&Id::new(501)].open, Some(other));

    let deleted_at = t0.plus(20_000);
    store
        .set_opted_out(Id::new(8), true, deleted_at)
        .await
        .unwrap();
    let (report, sweep) = store.delete_user(Id::new(8), deleted_at).await.unwrap();
    assert_eq!(
        (
            report.sessions,
            report.open_sessions,
            report.all_time,
            report.days,
            report.partner_entries,
            report.servers
        ),
        (2, 1, 1, 2, 1, 2)
    );
    assert!(report.settings);
    // A second sweep finds nothing left.
    assert_eq!(store.sweep_partners(&sweep).await.unwrap(), 0);
    // Only the opt-out flag survives, without the timezone.
    assert_eq!(user_items(&store, 8).await, vec!["USER".to_owned()]);
    let settings = store.user_settings(Id::new(8)).await.unwrap();
    assert_eq!((settings.opted_out, settings.timezone), (true, None));
    assert!(
        board(&store, Id::new(GUILD), all_column())
            .await
            .iter()
            .all(|e| e.0 != Id::new(8))
    );
    assert!(
        store
            .names(Id::new(GUILD), &[Id::new(8)])
            .await
            .unwrap()
            .is_empty()
    );
    // The partner keeps their own figures, without member 8 among their partners.
    let nine = store.all_days(Id::new(9), Id::new(GUILD)).await.unwrap();
    assert!(nine.iter().all(|(_, d)| d.record.partners.is_empty()));
    assert_eq!(
        all_time(&store, Id::new(9), Id::new(GUILD))
            .await
            .stats
            .total,
        7200
    );

    // Without an opt-out, only the instant of the deletion is left.
    session(&store, 10, t0, 5).await;
    store.delete_user(Id::new(10), deleted_at).await.unwrap();
    assert_eq!(user_items(&store, 10).await, vec!["USER".to_owned()]);
    assert!(!store.user_settings(Id::new(10)).await.unwrap().opted_out);
    // A replayed start of a call begun before the deletion is refused.
    assert_eq!(
        store.start_session(&open(10, t0, 1), rule).await.unwrap(),
        StartOutcome::AlreadyEnded
    );
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
    // An all-time item without its totals.
    put(
        &format!("A#{GUILD}"),
        vec![("a", AttributeValue::N("5".into()))],
    )
    .await
    .unwrap();
    assert!(matches!(
        store.member_view(Id::new(11), Id::new(GUILD)).await,
        Err(StoreError::Malformed { .. })
    ));
    // A negative number where seconds belong.
    put(
        &format!("D#{GUILD}#2026-11-26"),
        vec![
            ("t", AttributeValue::N("-5".into())),
            ("a", AttributeValue::N("0".into())),
        ],
    )
    .await
    .unwrap();
    let day = Day::of(at(2026, 11, 26, 0, 0, 0));
    assert!(matches!(
        store.days(Id::new(11), Id::new(GUILD), day, day).await,
        Err(StoreError::Malformed { .. })
    ));
    // A member state with an unknown timezone.
    put("USER", vec![("tz", AttributeValue::S("Mars/Base".into()))])
        .await
        .unwrap();
    assert!(matches!(
        store.user_settings(Id::new(11)).await,
        Err(StoreError::Malformed { .. })
    ));
    // An open session whose flags have unknown bits.
    let t0 = at(2026, 11, 26, 10, 0, 0);
    store
        .start_session(&open(12, t0, 1), RankingRule::default())
        .await
        .unwrap();
    store
        .client()
        .update_item()
        .table_name(store.table().as_str())
        .key("pk", AttributeValue::S("U#12".into()))
        .key("sk", AttributeValue::S("USER".into()))
        .update_expression("SET o.fl = :x")
        .expression_attribute_values(":x", AttributeValue::N("255".into()))
        .send()
        .await
        .unwrap();
    assert!(matches!(
        store.open_session(Id::new(12), Id::new(GUILD)).await,
        Err(StoreError::Malformed { .. })
    ));
    assert!(store.export_user(Id::new(11)).await.is_err());
    assert!(store.export_user(Id::new(12)).await.is_err());
    // A binary attribute cut short.
    put(
        &format!("D#{GUILD}#2026-11-27"),
        vec![("hb", AttributeValue::B(vec![1, 2, 3].into()))],
    )
    .await
    .unwrap();
    assert!(store.all_days(Id::new(11), Id::new(GUILD)).await.is_err());
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
        .start_session(&open(1, at(2026, 1, 1, 0, 0, 0), 1), RankingRule::default())
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
}

#[tokio::test]
async fn a_session_of_a_hundred_days_ends_with_exact_totals() {
    let store = fresh_store().await;
    let t0 = at(2026, 1, 1, 12, 0, 0);
    let secs = 100 * 86_400 + 3600;
    let (_, totals) = session_with(&store, 12, t0, secs, &GuildConfig::default()).await;
    let all = all_time(&store, Id::new(12), Id::new(GUILD)).await;
    assert_eq!(
        (all.stats.total, all.stats.sessions, all.stats.longest),
        (secs, 1, secs)
    );
    assert_eq!(all.heatmap.total(), secs);
    // The last 32 days are kept for windows; older day records are left out.
    let end = t0.plus(secs);
    let days = store.all_days(Id::new(12), Id::new(GUILD)).await.unwrap();
    assert_eq!(days.len(), 32);
    assert_eq!(days.last().unwrap().0, Day::of(end));
    let april = (10 * 86_400) + 13 * 3600;
    let month = period_totals(
        &store,
        Id::new(12),
        Id::new(GUILD),
        PeriodKey::Month("2026-04".parse().unwrap()),
    )
    .await;
    assert_eq!((month.total, month.ranked), (april, Some(april)));
    assert_eq!(totals.month.unwrap().total, april);
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

/// A deletion racing everything the sidecar may do at the same time (end the member's call,
/// replay a journaled start and end, end a partner's call naming them, reconcile), in random
/// orders, many times: afterwards nothing of the member is left but the instant of the
/// deletion, in their partition or in anyone's partner list.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delete_racing_the_sidecar_leaves_nothing_behind() {
    let store = fresh_store().await;
    // The deletion goes through a slower connection: its steps spread out, and the sidecar's
    // writes land between them.
    let proxy = callstats_tests::proxy::FaultProxy::in_front_of_dynamodb().await;
    proxy.latency(std::time::Duration::from_millis(30));
    let slow = Store::connect_with_endpoint(
        store.table().clone(),
        callstats_store::Timeouts::default(),
        &proxy.url(),
    )
    .await;
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let mut seed = 0x2545_f491_u64;
    let mut jitter = move || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        std::time::Duration::from_millis((seed >> 33) % 200)
    };
    for round in 0..25u64 {
        let (d, x) = (700 + round * 10, 701 + round * 10);
        let race = seed_race(&store, d, x, t0).await;
        let mut tasks = tokio::task::JoinSet::new();
        let (slow, wait) = (slow.clone(), jitter());
        let deletion = tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            slow.delete_user(Id::new(d), t0.plus(600)).await.unwrap().1
        });
        for closed in [race.d_end, race.x_end, race.old_end] {
            let (store, wait) = (store.clone(), jitter());
            tasks.spawn(async move {
                tokio::time::sleep(wait).await;
                let config = GuildConfig::default();
                store.end_session(&closed, &config).await.unwrap();
            });
        }
        let (replay, wait, again) = (store.clone(), jitter(), race.open);
        tasks.spawn(async move {
            tokio::time::sleep(wait).await;
            let rule = RankingRule::default();
            replay.start_session(&again, rule).await.unwrap();
        });
        let (reconcile, wait) = (store.clone(), jitter());
        tasks.spawn(async move {
            tokio::time::sleep(wait).await;
            let users = [Id::new(d), Id::new(x)];
            reconcile
                .reconcile_view(Id::new(GUILD), &users)
                .await
                .unwrap();
        });
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        // The deletion's second sweep, once everything in flight has landed.
        store
            .sweep_partners(&deletion.await.unwrap())
            .await
            .unwrap();
        assert_nothing_left(&store, d, x, round).await;
    }
}

/// What a round of the deletion race writes.
struct Race {
    open: OpenSession,
    d_end: ClosedSession,
    x_end: ClosedSession,
    old_end: ClosedSession,
}

/// Two members with an earlier call together (recorded on both sides) and a call together
/// now: the member's open session, its end, the partner's end, and a replay of the earlier
/// end.
async fn seed_race(store: &Store, d: u64, x: u64, t0: Timestamp) -> Race {
    let rule = RankingRule::default();
    let with = |partner: u64, secs: u64, start: Timestamp| {
        vec![PartnerSecs {
            day: Day::of(start),
            user: Id::new(partner),
            secs,
            since: start,
        }]
    };
    let earlier = t0.minus(7200);
    for (me, other) in [(d, x), (x, d)] {
        let s = open(me, earlier, 1);
        store.start_session(&s, rule).await.unwrap();
        let mut closed = s.close(earlier.plus(600), Tz::UTC, false);
        closed.partners = with(other, 600, earlier);
        ended(end_session(store, &closed).await);
    }
    let mut old_end = open(d, earlier, 1).close(earlier.plus(600), Tz::UTC, false);
    old_end.partners = with(x, 600, earlier);
    let (sd, sx) = (open(d, t0, 2), open(x, t0, 2));
    store.start_session(&sd, rule).await.unwrap();
    store.start_session(&sx, rule).await.unwrap();
    let mut d_end = sd.clone().close(t0.plus(500), Tz::UTC, false);
    d_end.partners = with(x, 500, t0);
    let mut x_end = sx.close(t0.plus(550), Tz::UTC, false);
    x_end.partners = with(d, 500, t0);
    Race {
        open: sd,
        d_end,
        x_end,
        old_end,
    }
}

/// Only the deletion's instant is left of `d`, and `x` names them nowhere while keeping their
/// own figures whole.
async fn assert_nothing_left(store: &Store, d: u64, x: u64, round: u64) {
    assert_eq!(
        user_items(store, d).await,
        vec!["USER".to_owned()],
        "round {round}"
    );
    let state = store.member_state(Id::new(d)).await.unwrap();
    assert!(
        state.primary.is_none() && state.deleted_at.is_some(),
        "round {round}"
    );
    for (day, item) in store.all_days(Id::new(x), Id::new(GUILD)).await.unwrap() {
        assert!(
            !item.record.partners.contains_key(&Id::new(d)),
            "round {round}: {x} still lists {d} on {day}"
        );
    }
    let total = all_time(store, Id::new(x), Id::new(GUILD))
        .await
        .stats
        .total;
    assert_eq!(total, 1150, "round {round}");
}

/// After a deletion, the calls still in progress end: the member's own is not recorded, and
/// a partner's call that ends later does not name them (their time together before the
/// deletion is theirs too).
#[tokio::test]
async fn calls_that_end_after_a_deletion_leave_no_trace_of_the_member() {
    let store = fresh_store().await;
    let rule = RankingRule::default();
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let (d, x) = (900, 901);
    let (sd, sx) = (open(d, t0, 1), open(x, t0, 1));
    store.start_session(&sd, rule).await.unwrap();
    store.start_session(&sx, rule).await.unwrap();
    let (_, sweep) = store.delete_user(Id::new(d), t0.plus(600)).await.unwrap();
    // The deletion found the call in progress and will search its days again.
    assert_eq!(sweep.scans.len(), 1);
    // An hour later both leave; each side names the other for the hour.
    let partner = |who: u64| {
        vec![PartnerSecs {
            day: Day::of(t0),
            user: Id::new(who),
            secs: 3600,
            since: t0,
        }]
    };
    let mut d_end = sd.close(t0.plus(3600), Tz::UTC, false);
    d_end.partners = partner(x);
    let mut x_end = sx.close(t0.plus(3600), Tz::UTC, false);
    x_end.partners = partner(d);
    assert_eq!(end_session(&store, &d_end).await, EndOutcome::AlreadyEnded);
    let totals = ended(end_session(&store, &x_end).await);
    assert_eq!(totals.all_total, 3600);
    assert_eq!(user_items(&store, d).await, vec!["USER".to_owned()]);
    let days = store.all_days(Id::new(x), Id::new(GUILD)).await.unwrap();
    assert_eq!(days.len(), 1);
    assert!(days[0].1.record.partners.is_empty());
    // A call that begins after the deletion is recorded again, partners and all.
    let again = open(d, t0.plus(4000), 2);
    assert_eq!(
        store.start_session(&again, rule).await.unwrap(),
        StartOutcome::Started
    );
    ended(end_session(&store, &again.close(t0.plus(4100), Tz::UTC, false)).await);
    assert_eq!(
        all_time(&store, Id::new(d), Id::new(GUILD))
            .await
            .stats
            .total,
        100
    );
}

#[tokio::test]
async fn time_with_a_stay_a_privacy_action_cut_is_not_recorded() {
    let store = fresh_store().await;
    let rule = RankingRule::default();
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let (d, x, y, z) = (910, 911, 912, 913);
    // y opted out and back in before the call; x opts out in the middle of it (the store
    // ends x's stay then, while a tracker that has not heard yet still counts x in the
    // channel); z is opted out all along (a tracker restarted without knowing).
    store
        .set_opted_out(Id::new(y), true, t0.minus(7200))
        .await
        .unwrap();
    store
        .set_opted_out(Id::new(y), false, t0.minus(3600))
        .await
        .unwrap();
    store
        .set_opted_out(Id::new(z), true, t0.minus(60))
        .await
        .unwrap();
    let sd = open(d, t0, 1);
    store.start_session(&sd, rule).await.unwrap();
    store
        .set_opted_out(Id::new(x), true, t0.plus(600))
        .await
        .unwrap();
    let with = |who: u64, since: Timestamp| PartnerSecs {
        day: Day::of(t0),
        user: Id::new(who),
        secs: 1800,
        since,
    };
    let mut d_end = sd.close(t0.plus(3600), Tz::UTC, false);
    d_end.partners = vec![
        with(x, t0),
        with(y, t0.plus(60)),
        with(z, t0),
        // x's later stay, after the opt-out: also x's, also left out while x is opted out.
        with(x, t0.plus(900)),
    ];
    ended(end_session(&store, &d_end).await);
    let days = store.all_days(Id::new(d), Id::new(GUILD)).await.unwrap();
    assert_eq!(
        days[0].1.record.partners,
        [(Id::new(y), 1800)].into_iter().collect()
    );
    // After x opts back in, a stay x begins later counts; one begun before does not.
    store
        .set_opted_out(Id::new(x), false, t0.plus(4000))
        .await
        .unwrap();
    let again = open(d, t0.plus(5000), 2);
    store.start_session(&again, rule).await.unwrap();
    let mut again_end = again.close(t0.plus(8000), Tz::UTC, false);
    again_end.partners = vec![with(x, t0.plus(900)), with(x, t0.plus(4100))];
    ended(end_session(&store, &again_end).await);
    let days = store.all_days(Id::new(d), Id::new(GUILD)).await.unwrap();
    assert_eq!(
        days[0].1.record.partners,
        [(Id::new(x), 1800), (Id::new(y), 1800)]
            .into_iter()
            .collect()
    );
}

/// A call the store ended without its partners (an opt-out's end of a call in progress)
/// leaves time with the member in a partner's day that the member's own days do not name:
/// their deletion still finds it, through the member's own days in the `guild-days` index.
#[tokio::test]
async fn a_deletion_finds_partner_time_the_members_own_days_do_not_name() {
    let store = fresh_store().await;
    let rule = RankingRule::default();
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let (d, x) = (920, 921);
    let (sd, sx) = (open(d, t0, 1), open(x, t0, 1));
    store.start_session(&sd, rule).await.unwrap();
    store.start_session(&sx, rule).await.unwrap();
    // x leaves after 20 minutes, naming d; d stays.
    let mut x_end = sx.close(t0.plus(1200), Tz::UTC, false);
    x_end.partners = vec![PartnerSecs {
        day: Day::of(t0),
        user: Id::new(d),
        secs: 1200,
        since: t0,
    }];
    ended(end_session(&store, &x_end).await);
    // d opts out: the store ends d's call as the endpoint does, without partners.
    store
        .set_opted_out(Id::new(d), true, t0.plus(1800))
        .await
        .unwrap();
    ended(end_session(&store, &sd.close(t0.plus(1800), Tz::UTC, false)).await);
    let days = store.all_days(Id::new(d), Id::new(GUILD)).await.unwrap();
    assert!(days[0].1.record.partners.is_empty());
    // Back in, then gone: nothing of d may remain in x's days.
    store
        .set_opted_out(Id::new(d), false, t0.plus(2400))
        .await
        .unwrap();
    let (report, _) = store.delete_user(Id::new(d), t0.plus(3000)).await.unwrap();
    assert_eq!(report.partner_entries, 1);
    for (day, item) in store.all_days(Id::new(x), Id::new(GUILD)).await.unwrap() {
        assert!(
            !item.record.partners.contains_key(&Id::new(d)),
            "{x} still lists {d} on {day}"
        );
    }
}
