//! Defects the model-based test found, each pinned by a focused test of the real
//! sidecar program against the fake gateway and the local DynamoDB server.

use callstats_core::{ChannelId, GuildId, UserId};
use callstats_fake_gateway::{ChannelSpec, GuildSpec, ShardId, VoiceFlags};
use callstats_tests::dynamo::sessions;
use callstats_tests::scene::process_scene;
use callstats_tests::sidecar::{Options, sample_of};
use callstats_tests::time::at;
use twilight_model::id::Id;

fn guild() -> GuildId {
    Id::new((1 << 22) | 3)
}

fn user(n: u64) -> UserId {
    Id::new(60_000 + n)
}

fn chan(n: u64) -> ChannelId {
    Id::new(700 + n)
}

/// twilight forgets the `resume_gateway_url` after a failed connect attempt while the session
/// stays resumable; a deploy after such a reconnect must still save and resume the session,
/// not close it and reconcile from the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_after_a_failed_reconnect_attempt_still_resumes() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let spec = GuildSpec::new(guild(), "regressions")
        .channel(ChannelSpec::voice(chan(1), "lounge"))
        .channel(ChannelSpec::voice(chan(2), "games"));
    let s = process_scene(vec![spec], t0, Options::default()).await;
    let sidecar = s.start().await;
    let none = VoiceFlags::default();
    sidecar
        .voice(&s.fake, guild(), user(1), Some(chan(1)), none)
        .await;
    sidecar
        .voice(&s.fake, guild(), user(2), Some(chan(1)), none)
        .await;

    // The gateway drops the connection and refuses the first attempt to come back.
    s.clock.set(t0.plus(60));
    s.fake.set_accepting(false);
    s.fake.drop_connection(ShardId::new(0, 1)).unwrap();
    sidecar
        .wait_metrics("a failed connect attempt", |text| {
            sample_of(text, "callstats_gateway_errors_total").is_some_and(|n| n >= 1.0)
        })
        .await;
    s.fake.set_accepting(true);
    s.fake.wait_for_resumes(1).await.unwrap();
    sidecar.wait_settled().await;

    // A deploy.
    s.clock.set(t0.plus(100));
    let exit = sidecar.stop().await;
    assert_eq!(exit.status.code(), Some(0), "{exit:?}");
    assert!(
        exit.stdout
            .iter()
            .any(|l| l.contains("gateway session saved for the next start")),
        "the session is saved: {:?}",
        exit.stdout
    );
    // While it is down, user 2 leaves; the resumed session replays it.
    s.clock.set(t0.plus(130));
    s.fake.voice_update(guild(), user(2), None, none).unwrap();
    let identifies = s.fake.counters().ready;
    let sidecar = s.start().await;
    s.fake.wait_for_resumes(2).await.unwrap();
    assert_eq!(
        s.fake.counters().ready,
        identifies,
        "resumed, not identified"
    );
    s.clock.set(t0.plus(200));
    sidecar.voice(&s.fake, guild(), user(1), None, none).await;
    sidecar.wait_idle().await;

    let spans = |records: Vec<callstats_core::session::SessionRecord>| -> Vec<(i64, u64, bool)> {
        records
            .iter()
            .map(|r| (r.start().unix() - t0.unix(), r.duration(), r.estimated))
            .collect()
    };
    assert_eq!(
        spans(sessions(&s.store, user(1), guild()).await),
        [(0, 200, false)]
    );
    assert_eq!(
        spans(sessions(&s.store, user(2), guild()).await),
        [(0, 130, false)]
    );
    sidecar.stop().await;
}
