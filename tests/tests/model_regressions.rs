//! Defects the model-based test found, each pinned by a focused test of the real
//! sidecar program against the fake gateway and the local DynamoDB server.

use std::collections::BTreeMap;

use callstats_core::{ChannelId, GuildId, Timestamp, UserId};
use callstats_fake_gateway::{ChannelSpec, GuildSpec, ShardId, VoiceFlags};
use callstats_tests::dynamo::{assert_nothing_stored, sessions};
use callstats_tests::proxy::FaultProxy;
use callstats_tests::scene::{ProcessScene, process_scene};
use callstats_tests::sidecar::{Options, Sidecar, sample_of};
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

/// A member's partner time over every day, by partner (test member number).
async fn partners(s: &ProcessScene, u: u64) -> BTreeMap<u64, u64> {
    let mut out = BTreeMap::new();
    for (_, day) in s
        .store
        .all_days(user(u), guild())
        .await
        .expect("read the days")
    {
        for (partner, secs) in day.record.partners {
            *out.entry(partner.get() - 60_000).or_default() += secs;
        }
    }
    out
}

/// Ada and Bob in the lounge from `t0`, the program behind a proxy in front of the store,
/// Dan opted out; the store goes away, and Dan comes into the lounge at 100 s and leaves at
/// 200 s while it is away.
async fn an_opted_out_visit_while_the_store_is_away() -> (FaultProxy, ProcessScene, Sidecar) {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let proxy = FaultProxy::in_front_of_dynamodb().await;
    let options = Options {
        store_endpoint: Some(proxy.url()),
        ..Options::default()
    };
    let spec =
        GuildSpec::new(guild(), "regressions").channel(ChannelSpec::voice(chan(1), "lounge"));
    let s = process_scene(vec![spec], t0, options).await;
    s.store
        .set_opted_out(user(9), true, Timestamp::EPOCH)
        .await
        .expect("opt Dan out");
    let sidecar = s.start().await;
    sidecar.join(&s.fake, guild(), user(1), chan(1)).await;
    sidecar.join(&s.fake, guild(), user(2), chan(1)).await;
    sidecar.wait_idle().await;
    proxy.refuse();
    s.clock.set(t0.plus(100));
    sidecar.join(&s.fake, guild(), user(9), chan(1)).await;
    s.clock.set(t0.plus(200));
    sidecar
        .voice(&s.fake, guild(), user(9), None, VoiceFlags::default())
        .await;
    (proxy, s, sidecar)
}

/// The store refused an opted-out member's start only after the program had seen that
/// session end (the store was away): the stay stayed among those kept for the others' partner
/// time, and members who stayed counted the opted-out member as a partner when their sessions
/// ended, long after the store had answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_refused_after_its_session_ended_is_no_ones_partner() {
    let (proxy, s, sidecar) = an_opted_out_visit_while_the_store_is_away().await;
    let t0 = s.clock.now().minus(200);
    proxy.pass();
    sidecar.wait_idle().await;
    s.clock.set(t0.plus(300));
    sidecar.leave(&s.fake, guild(), user(1)).await;
    s.clock.set(t0.plus(400));
    sidecar.leave(&s.fake, guild(), user(2)).await;
    sidecar.wait_idle().await;
    assert_eq!(partners(&s, 1).await, BTreeMap::from([(2, 300)]));
    assert_eq!(partners(&s, 2).await, BTreeMap::from([(1, 300)]));
    assert_nothing_stored(&s.store, user(9)).await;
    sidecar.stop().await;
}

/// Known defect, found by the model test: a session that ends before the store has answered
/// an opted-out member's start (the store slow or away) counts that member as a partner. The
/// tracker decides partner time when a session ends and only learns the store's answer later;
/// the writer, which applies the start before the end, would have to drop such partners.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known defect: partner time of a session that ends before the store answers an opted-out member's start names them"]
async fn a_session_that_ends_before_the_store_refuses_a_start_names_no_opted_out_partner() {
    let (proxy, s, sidecar) = an_opted_out_visit_while_the_store_is_away().await;
    let t0 = s.clock.now().minus(200);
    s.clock.set(t0.plus(300));
    sidecar.leave(&s.fake, guild(), user(1)).await;
    proxy.pass();
    s.clock.set(t0.plus(400));
    sidecar.leave(&s.fake, guild(), user(2)).await;
    sidecar.wait_idle().await;
    assert_eq!(partners(&s, 1).await, BTreeMap::from([(2, 300)]));
    assert_eq!(partners(&s, 2).await, BTreeMap::from([(1, 300)]));
    sidecar.stop().await;
}
