//! DynamoDB's error answers, as the fault proxy gives them (`callstats_tests::proxy`): the
//! store sees each as the error it is (throttling, an internal error, a transaction cancelled
//! for throttling or a conflict: all retryable), and the sidecar program retries them and
//! loses nothing (`docs/reliability.md`).

use std::time::Duration;

use callstats_core::{
    Flags, GuildConfig, GuildId, OpenSession, RankingRule, SessionId, Timestamp, UserId,
};
use callstats_fake_gateway::{ChannelSpec, GuildSpec, VoiceMember};
use callstats_store::{EndOutcome, StartOutcome, Store, Timeouts};
use callstats_tests::dynamo::{all_time, fresh_store, sessions};
use callstats_tests::proxy::{ErrorPlan, FaultProxy, Injected, Mode};
use callstats_tests::scene::process_scene;
use callstats_tests::sidecar::Options;
use callstats_tests::time::at;
use twilight_model::id::Id;

fn open(user: u64, start: Timestamp) -> OpenSession {
    OpenSession::new(
        SessionId::new(start, 1),
        Id::new(user),
        Id::new(500),
        Id::new(600),
        Flags::NONE,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_injected_error_is_retryable_and_writes_nothing() {
    let store = fresh_store().await;
    let proxy = FaultProxy::in_front_of_dynamodb().await;
    let through =
        Store::connect_with_endpoint(store.table().clone(), Timeouts::default(), &proxy.url())
            .await;
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let expected = [
        (
            Injected::Throughput,
            "ProvisionedThroughputExceededException",
        ),
        (Injected::Throttling, "ThrottlingException"),
        (Injected::Internal, "InternalServerError"),
        (Injected::Cancelled, "ThrottlingError"),
    ];
    for (n, (kind, code)) in expected.into_iter().enumerate() {
        let session = open(100 + n as u64, t0);
        assert_eq!(
            store
                .start_session(&session, RankingRule::default())
                .await
                .unwrap(),
            StartOutcome::Started
        );
        let (user, guild) = (session.user, session.guild);
        let closed = session.close(t0.plus(600), chrono_tz::Tz::UTC, false);
        let config = GuildConfig::default();
        proxy.set(Mode::Errors(ErrorPlan {
            per_mille: 1000,
            delay: Duration::ZERO,
            kind: Some(kind),
        }));
        // A transaction (TransactWriteItems), an update (UpdateItem) and a read (GetItem).
        let err = through
            .end_session(&closed, &config)
            .await
            .expect_err("every request is answered with an error");
        assert!(err.is_retryable(), "{kind:?}: {err}");
        let text = err.to_string();
        let seen = text.contains(code)
            || (kind == Injected::Cancelled && text.contains("TransactionConflict"));
        assert!(seen, "{kind:?}: {text}");
        // Nothing reached the table; once the store answers, the same writes go through.
        assert!(sessions(&store, user, guild).await.is_empty());
        if kind != Injected::Cancelled {
            let other = open(200 + n as u64, t0);
            let err = through
                .start_session(&other, RankingRule::default())
                .await
                .expect_err("every request is answered with an error");
            assert!(err.is_retryable(), "{kind:?} on an update: {err}");
            let err = through
                .last_heartbeat(0)
                .await
                .expect_err("every request is answered with an error");
            assert!(err.is_retryable(), "{kind:?} on a read: {err}");
            assert!(sessions(&store, other.user, other.guild).await.is_empty());
        }
        proxy.pass();
        assert!(matches!(
            through.end_session(&closed, &config).await.unwrap(),
            EndOutcome::Ended(_)
        ));
        assert_eq!(sessions(&store, user, guild).await.len(), 1);
    }
    let injected = proxy.injected();
    assert!(injected.iter().all(|n| *n > 0), "{injected:?}");
}

fn guild() -> GuildId {
    Id::new((5 << 22) | 9)
}

fn user(n: u64) -> UserId {
    Id::new(41_000 + n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_program_retries_error_answers_and_loses_nothing() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let proxy = FaultProxy::in_front_of_dynamodb().await;
    let lounge = Id::new(901);
    let spec = GuildSpec::new(guild(), "errors")
        .channel(ChannelSpec::voice(lounge, "lounge"))
        .voice_member(VoiceMember::new(user(1), lounge))
        .voice_member(VoiceMember::new(user(2), lounge));
    let options = Options {
        store_endpoint: Some(proxy.url()),
        ..Options::default()
    };
    let s = process_scene(vec![spec], t0, options).await;
    let sidecar = s.start().await;
    sidecar.wait_idle().await;
    // Half the requests answered with an error, every one a little late.
    proxy.errors(500, Duration::from_millis(5));
    for n in 3..=8 {
        s.clock.set(t0.plus(60 * n));
        sidecar.join(&s.fake, guild(), user(n), lounge).await;
    }
    for n in 1..=8 {
        s.clock.set(t0.plus(600 + 60 * n));
        sidecar.leave(&s.fake, guild(), user(n)).await;
    }
    sidecar.wait_idle().await;
    let injected = proxy.injected();
    assert!(injected.iter().sum::<u64>() >= 10, "{injected:?}");
    proxy.pass();
    for n in 1..=8u64 {
        let recorded = sessions(&s.store, user(n), guild()).await;
        let start = if n <= 2 { 0 } else { 60 * n };
        let end = 600 + 60 * n;
        assert_eq!(recorded.len(), 1, "member {n}: {recorded:?}");
        assert_eq!(
            recorded[0].start().unix() - t0.unix(),
            start as i64,
            "member {n}"
        );
        assert_eq!(recorded[0].duration(), end - start, "member {n}");
        let all = all_time(&s.store, user(n), guild()).await;
        assert_eq!(all.stats.total, end - start, "member {n}");
    }
    assert_eq!(
        sidecar.metric("callstats_writes_failed_total").await,
        Some(0.0)
    );
    assert!(sidecar.metric("callstats_writes_retried_total").await > Some(0.0));
    let dead = s.dir.path().join("dead-letters.jsonl");
    let dead = std::fs::read_to_string(dead).unwrap_or_default();
    assert!(dead.trim().is_empty(), "dead letters: {dead}");
    sidecar.stop().await;
}
