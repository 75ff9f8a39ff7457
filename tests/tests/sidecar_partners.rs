//! Partner time through the sidecar program: the seconds two members spent in the same
//! channel, in each member's day items, exact across a graceful restart and a crash; an
//! opted-out member is no one's partner, and deleting a member takes them out of the others'
//! lists. The sidecar runs as the real program (its clock a file the test sets) against the
//! fake gateway and the local DynamoDB server.

use std::collections::BTreeMap;

use callstats_core::{ChannelId, GuildId, Timestamp, UserId};
use callstats_fake_gateway::{ChannelSpec, GuildSpec, VoiceMember};
use callstats_tests::dynamo::{all_time, assert_nothing_stored, sessions};
use callstats_tests::interactions::{Endpoint, Interaction};
use callstats_tests::scene::{ProcessScene, flags, process_scene};
use callstats_tests::sidecar::{Options, Sidecar};
use callstats_tests::time::at;
use chrono::NaiveDate;
use twilight_model::id::Id;

fn guild() -> GuildId {
    Id::new((5 << 22) | 9)
}

fn user(n: u64) -> UserId {
    Id::new(80_000 + n)
}

fn chan(n: u64) -> ChannelId {
    Id::new(950 + n)
}

const LOUNGE: u64 = 1;
const GAMES: u64 = 2;
const AFK: u64 = 9;

const ADA: u64 = 1;
const BOB: u64 = 2;
const CY: u64 = 3;
/// Opted out before anything starts.
const DAN: u64 = 4;

fn spec() -> GuildSpec {
    GuildSpec::new(guild(), "partners")
        .channel(ChannelSpec::voice(chan(LOUNGE), "lounge"))
        .channel(ChannelSpec::voice(chan(GAMES), "games"))
        .channel(ChannelSpec::voice(chan(AFK), "afk"))
        .afk(chan(AFK), 300)
}

/// 23:30 UTC: the evening crosses midnight 1,800 s in.
fn t0() -> Timestamp {
    at(2026, 11, 26, 23, 30, 0)
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).expect("a date")
}

/// A member's partner time as their day items hold it: per UTC day, per partner (by test
/// member number), days without partners left out.
async fn partners(s: &ProcessScene, u: u64) -> BTreeMap<NaiveDate, BTreeMap<u64, u64>> {
    s.store
        .all_days(user(u), guild())
        .await
        .expect("read the days")
        .into_iter()
        .filter(|(_, d)| !d.record.partners.is_empty())
        .map(|(day, d)| {
            let by_member = d
                .record
                .partners
                .iter()
                .map(|(p, secs)| (p.get() - 80_000, *secs))
                .collect();
            (day.date(), by_member)
        })
        .collect()
}

/// (start offset from `t0`, duration, channel number, estimated) of each session, oldest first.
async fn spans(s: &ProcessScene, u: u64) -> Vec<(i64, u64, u64, bool)> {
    sessions(&s.store, user(u), guild())
        .await
        .iter()
        .map(|r| {
            (
                r.start().unix() - t0().unix(),
                r.duration(),
                r.channel.get() - 950,
                r.estimated,
            )
        })
        .collect()
}

/// What happens to the program in the middle of the evening.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Middle {
    Nothing,
    /// A deploy: SIGTERM at 1,950 s, the next process at 2,000 s resumes the gateway session.
    Sigterm,
    /// SIGKILL at 1,950 s just after a heartbeat; the next process at 2,000 s identifies afresh
    /// and reconciles against the store (every member still where they were).
    Sigkill,
}

/// Moves the program's clock to `offset` seconds after `t0`.
fn at_offset(s: &ProcessScene, offset: u64) {
    s.clock.set(t0().plus(offset));
}

/// The evening of Ada, Bob and Cy, from 23:30 UTC (offsets in seconds):
///
/// | offset | what |
/// |---|---|
/// | 0 | Ada joins the lounge |
/// | 60 | Bob joins the lounge |
/// | 300 | Cy joins games (alone there) |
/// | 600 | Bob mutes himself |
/// | 900 | Cy moves to the lounge |
/// | 1,200 | Bob unmutes |
/// | 1,500 | Ada moves to the AFK channel |
/// | 1,800 | midnight UTC |
/// | 1,950 | `middle` |
/// | 2,100 | Ada comes back from AFK, into games |
/// | 2,300 | Cy leaves |
/// | 2,400 | Bob moves to games |
/// | 3,300 | Bob leaves |
/// | 3,600 | Ada leaves |
///
/// Returns the program, still running, with every write in the store.
async fn evening(middle: Middle) -> (ProcessScene, Sidecar) {
    let s = process_scene(vec![spec()], t0(), Options::default()).await;
    let g = guild();
    let mut sidecar = s.start().await;
    sidecar.join(&s.fake, g, user(ADA), chan(LOUNGE)).await;
    at_offset(&s, 60);
    sidecar.join(&s.fake, g, user(BOB), chan(LOUNGE)).await;
    at_offset(&s, 300);
    sidecar.join(&s.fake, g, user(CY), chan(GAMES)).await;
    at_offset(&s, 600);
    let muted = flags(&["self_mute"]);
    sidecar
        .voice(&s.fake, g, user(BOB), Some(chan(LOUNGE)), muted)
        .await;
    at_offset(&s, 900);
    sidecar.join(&s.fake, g, user(CY), chan(LOUNGE)).await;
    at_offset(&s, 1200);
    sidecar.join(&s.fake, g, user(BOB), chan(LOUNGE)).await;
    at_offset(&s, 1500);
    sidecar.join(&s.fake, g, user(ADA), chan(AFK)).await;
    at_offset(&s, 1950);
    sidecar = interrupt(&s, sidecar, middle).await;
    at_offset(&s, 2100);
    sidecar.join(&s.fake, g, user(ADA), chan(GAMES)).await;
    at_offset(&s, 2300);
    sidecar.leave(&s.fake, g, user(CY)).await;
    at_offset(&s, 2400);
    sidecar.join(&s.fake, g, user(BOB), chan(GAMES)).await;
    at_offset(&s, 3300);
    sidecar.leave(&s.fake, g, user(BOB)).await;
    at_offset(&s, 3600);
    sidecar.leave(&s.fake, g, user(ADA)).await;
    sidecar.wait_idle().await;
    (s, sidecar)
}

/// `middle` at 1,950 s; the program runs again at 2,000 s.
async fn interrupt(s: &ProcessScene, sidecar: Sidecar, middle: Middle) -> Sidecar {
    match middle {
        Middle::Nothing => sidecar,
        Middle::Sigterm => {
            sidecar.wait_idle().await;
            let exit = sidecar.stop().await;
            assert_eq!(exit.status.code(), Some(0), "{exit:?}");
            assert!(
                exit.stdout
                    .iter()
                    .any(|l| l.contains("gateway session saved for the next start")),
                "{:?}",
                exit.stdout
            );
            at_offset(s, 2000);
            let (identifies, resumes) = (s.fake.counters().ready, s.fake.counters().resumed);
            let sidecar = s.start().await;
            s.fake.wait_for_resumes(resumes + 1).await.unwrap();
            assert_eq!(
                s.fake.counters().ready,
                identifies,
                "resumed, not identified"
            );
            sidecar
        }
        Middle::Sigkill => {
            // Every write in the spool, the heartbeat at the crash: nothing about the crash
            // depends on timing.
            sidecar.wait_idle().await;
            s.wait_heartbeat(0, t0().plus(1950)).await;
            let exit = sidecar.kill().await;
            assert!(!exit.status.success());
            at_offset(s, 2000);
            let identifies = s.fake.counters().ready;
            let sidecar = s.start().await;
            assert!(s.fake.counters().ready > identifies, "identified afresh");
            sidecar.wait_idle().await;
            sidecar
        }
    }
}

/// Everything the evening must leave in the store, whatever happened in the middle.
async fn assert_the_evening(s: &ProcessScene) {
    let (nov26, nov27) = (day(26), day(27));
    // Ada and Bob: the lounge from 60 to 1,500, games from 2,400 to 3,300. Ada and Cy: the
    // lounge from 900 to 1,500 (Cy's stay in games ended before Ada came there). Bob and Cy:
    // the lounge from 900 to 2,300, across midnight. Mutes change nothing; the AFK channel is
    // no one's company.
    assert_eq!(
        partners(s, ADA).await,
        BTreeMap::from([
            (nov26, BTreeMap::from([(BOB, 1440), (CY, 600)])),
            (nov27, BTreeMap::from([(BOB, 900)])),
        ])
    );
    assert_eq!(
        partners(s, BOB).await,
        BTreeMap::from([
            (nov26, BTreeMap::from([(ADA, 1440), (CY, 900)])),
            (nov27, BTreeMap::from([(ADA, 900), (CY, 500)])),
        ])
    );
    assert_eq!(
        partners(s, CY).await,
        BTreeMap::from([
            (nov26, BTreeMap::from([(ADA, 600), (BOB, 900)])),
            (nov27, BTreeMap::from([(BOB, 500)])),
        ])
    );
    // One session per stay in a channel, none estimated, none split by the middle.
    assert_eq!(
        spans(s, ADA).await,
        [(0, 1500, LOUNGE, false), (2100, 1500, GAMES, false)]
    );
    assert_eq!(
        spans(s, BOB).await,
        [(60, 2340, LOUNGE, false), (2400, 900, GAMES, false)]
    );
    assert_eq!(
        spans(s, CY).await,
        [(300, 600, GAMES, false), (900, 1400, LOUNGE, false)]
    );
    assert_eq!(
        sessions(&s.store, user(BOB), guild()).await[0]
            .breakdown
            .muted,
        600
    );
    // Channels and sessions in the all-time items; streaks of days with 10 minutes (UTC):
    // Cy's 500 s after midnight do not extend his.
    let channels =
        |lounge: u64, games: u64| BTreeMap::from([(chan(LOUNGE), lounge), (chan(GAMES), games)]);
    for (u, lounge, games, run, last_counted) in [
        (ADA, 1500, 1500, 2, nov27),
        (BOB, 2340, 900, 2, nov27),
        (CY, 1400, 600, 1, nov26),
    ] {
        let all = all_time(&s.store, user(u), guild()).await;
        assert_eq!(all.channels, channels(lounge, games), "channels of {u}");
        assert_eq!(all.stats.sessions, 2, "sessions of {u}");
        assert_eq!(
            (all.streak.run, all.streak.best, all.streak.last_counted),
            (run, run, Some(last_counted)),
            "streak of {u}"
        );
    }
    // What Bob sees the next day: his partners, his channels and his streak in the embeds.
    let endpoint = Endpoint::with_store(s.store.clone(), at(2026, 11, 27, 12, 0, 0));
    let ask = |sub: &str, options: serde_json::Value| {
        Interaction::callstats(sub, options)
            .by(user(BOB).get(), "Bob")
            .in_guild(guild().get())
    };
    let partners = endpoint
        .send(&ask(
            "partners",
            serde_json::json!([{"name": "period", "type": 3, "value": "all"}]),
        ))
        .await
        .description();
    assert!(
        partners.contains(&format!(
            "`1.` **user{}** · 39 min 00 s · 72 % of your call time",
            user(ADA)
        )) && partners.contains(&format!(
            "`2.` **user{}** · 23 min 20 s · 43 % of your call time",
            user(CY)
        )),
        "{partners}"
    );
    let show = endpoint.send(&ask("show", serde_json::json!([]))).await;
    assert_eq!(show.field("Streak"), "2 days (best 2 days)");
    let top = show.field("Top channels (only you see these)");
    assert!(
        top.contains(&format!("<#{}> · 39 min 00 s (72 %)", chan(LOUNGE)))
            && top.contains(&format!("<#{}> · 15 min 00 s (27 %)", chan(GAMES))),
        "{top}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evening_of_three_gives_exact_partner_time_channels_and_sessions() {
    let (s, sidecar) = evening(Middle::Nothing).await;
    assert_the_evening(&s).await;
    sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evening_across_a_sigterm_restart_is_the_same() {
    let (s, sidecar) = evening(Middle::Sigterm).await;
    assert_the_evening(&s).await;
    sidecar.stop().await;
}

/// Ada's stay in the lounge ended before the crash while Bob and Cy stayed: only the
/// departures journal on disk still knows it when their sessions end after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evening_across_a_sigkill_crash_is_the_same() {
    let (s, sidecar) = evening(Middle::Sigkill).await;
    assert!(
        std::fs::read_to_string(s.dir.path().join("departures-0.log"))
            .is_ok_and(|log| log.contains(&user(ADA).to_string())),
        "Ada's stay in the lounge is journaled"
    );
    assert_the_evening(&s).await;
    sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opted_out_member_is_no_ones_partner_and_has_none() {
    // Dan opted out long ago and is in the lounge when the program starts (the store reports
    // him at reconciliation); Ada and Bob join him. He leaves, comes back (the store refuses
    // the start) and leaves again while they stay.
    let spec = spec().voice_member(VoiceMember::new(user(DAN), chan(LOUNGE)));
    let s = process_scene(vec![spec], t0(), Options::default()).await;
    s.store
        .set_opted_out(user(DAN), true, Timestamp::EPOCH)
        .await
        .expect("opt Dan out");
    let g = guild();
    let sidecar = s.start().await;
    sidecar.join(&s.fake, g, user(ADA), chan(LOUNGE)).await;
    at_offset(&s, 100);
    sidecar.join(&s.fake, g, user(BOB), chan(LOUNGE)).await;
    at_offset(&s, 200);
    sidecar.leave(&s.fake, g, user(DAN)).await;
    at_offset(&s, 300);
    sidecar.join(&s.fake, g, user(DAN), chan(LOUNGE)).await;
    // The store has answered Dan's start (refused) before he leaves.
    sidecar.wait_idle().await;
    at_offset(&s, 500);
    sidecar.leave(&s.fake, g, user(DAN)).await;
    at_offset(&s, 700);
    sidecar.leave(&s.fake, g, user(ADA)).await;
    at_offset(&s, 800);
    sidecar.leave(&s.fake, g, user(BOB)).await;
    sidecar.wait_idle().await;

    let nov26 = day(26);
    assert_eq!(
        partners(&s, ADA).await,
        BTreeMap::from([(nov26, BTreeMap::from([(BOB, 600)]))])
    );
    assert_eq!(
        partners(&s, BOB).await,
        BTreeMap::from([(nov26, BTreeMap::from([(ADA, 600)]))])
    );
    // Dan kept Ada company (not alone), but nothing of his is stored.
    let ada = &sessions(&s.store, user(ADA), g).await[0];
    assert_eq!(ada.breakdown.alone, 0);
    assert_nothing_stored(&s.store, user(DAN)).await;
    sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_member_takes_them_out_of_the_others_lists() {
    let (s, sidecar) = evening(Middle::Nothing).await;
    sidecar.stop().await;
    let (report, sweep) = s
        .store
        .delete_user(user(BOB), t0().plus(4000))
        .await
        .expect("delete Bob");
    // Bob was in Ada's days on both sides of midnight, and in Cy's.
    assert_eq!(report.partner_entries, 4);
    let (nov26, nov27) = (day(26), day(27));
    assert_eq!(
        partners(&s, ADA).await,
        BTreeMap::from([(nov26, BTreeMap::from([(CY, 600)]))])
    );
    assert_eq!(
        partners(&s, CY).await,
        BTreeMap::from([(nov26, BTreeMap::from([(ADA, 600)]))])
    );
    assert_nothing_stored(&s.store, user(BOB)).await;
    // The sweep again (as the endpoint runs it a minute later) finds nothing left.
    assert_eq!(s.store.sweep_partners(&sweep).await.expect("sweep"), 0);
    // The others' own figures stay: Ada still has both days.
    let days: Vec<NaiveDate> = s
        .store
        .all_days(user(ADA), guild())
        .await
        .expect("read the days")
        .into_iter()
        .map(|(d, _)| d.date())
        .collect();
    assert_eq!(days, [nov26, nov27]);
}
